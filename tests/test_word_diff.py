"""`regsync.text.word_diff` (issue 11, item 7): the same text as the old single-SequenceMatcher
diff, without its quadratic cost on long texts (a 32,000-character description took 70 s)."""
from __future__ import annotations

import difflib
import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import regsync.text as text_mod
from regsync.text import _TOKEN, word_diff
from support.longtext import long_text_pair
from support.word_diff_oracle import old_word_diff

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_texts() -> list[str]:
    """Every string longer than 80 characters in the fixture records (what diff_text renders)."""
    found: set[str] = set()

    def walk(v: object) -> None:
        if isinstance(v, str) and len(v) > 80:
            found.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for path in sorted(FIXTURES.glob("NCT*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(found)


def scripted_edit(text: str, rng: random.Random, edits: int) -> str:
    toks = re.findall(r"\S+|\s+", text)
    words = [i for i, t in enumerate(toks) if not t.isspace()]
    for _ in range(edits):
        i = rng.choice(words)
        op = rng.choice(["replace", "delete", "insert", "insert2", "newline", "respace"])
        if op == "replace":
            toks[i] = f"edit{rng.randint(0, 99)}"
        elif op == "delete":
            toks[i] = ""
        elif op == "insert":
            toks[i] += " added"
        elif op == "insert2":
            toks[i] = "two new " + toks[i]
        elif op == "newline":
            toks[i] += "\n"
        else:
            toks[i] += "   "
    return "".join(toks)


# --------------------------------------------------------------------------- exact outputs

WORDS = " ".join(f"w{i}" for i in range(40))


@pytest.mark.parametrize("old, new, expected", [
    ("Age 18 to 65 years", "Age 21 to 65 years", "Age [-18-] {+21+} to 65 years"),
    ("the cat sat", "the dog sat on", "the [-cat-] {+dog+} sat{+on+}"),
    # insertion and deletion: which side keeps the shared space is the old algorithm's
    ("a c", "a b c", "a {+b+}c"),
    ("a b c", "a c", "a [-b-]c"),
    ("a c rest rest", "a b c rest rest", "a{+b+} c rest rest"),
    ("one two three four", "one two five six three four", "one two {+five six+}three four"),
    ("x a b c", "a b c", "[-x-]a b c"),
    ("a b1 b2 c", "a x1 x2 c", "a [-b1-] {+x1+} [-b2-] {+x2+} c"),
    # line breaks are kept, inserted or deleted like words
    ("a\nb c", "a\nb d", "a\nb [-c-] {+d+}"),
    ("a b c", "a \n c", "a [-b-] {+\n+} c"),
    ("a\nb c", "a b c", "a[-\n-]b c"),
    # whitespace-only changes are no edit
    ("a  b", "a b", "a b"),
    ("one  two\tthree", "one two three", "one two three"),
    ("same", "same", "same"),
    ("", "new text", "{+new text+}"),
    ("old text", "", "[-old text-]"),
    # elision at the start, the end and in the middle, ``context`` words kept
    ("x " + WORDS, "y " + WORDS, "[-x-] {+y+} w0 w1 w2 w3 w4 w5 w6 w7  … "),
    (WORDS + " x", WORDS + " y", " … w32 w33 w34 w35 w36 w37 w38 w39 [-x-] {+y+}"),
    (WORDS + " x " + WORDS, WORDS + " y " + WORDS,
     " … w32 w33 w34 w35 w36 w37 w38 w39 [-x-] {+y+} w0 w1 w2 w3 w4 w5 w6 w7  … "),
])
def test_exact_output(old, new, expected):
    assert word_diff(old, new) == expected
    assert old_word_diff(old, new) == expected


def test_context_words_kept_either_side():
    assert word_diff(WORDS + " x " + WORDS, WORDS + " y " + WORDS, context=2) == " … w38 w39 [-x-] {+y+} w0 w1  … "


# --------------------------------------------------------------------------- equivalence

TEXTS = fixture_texts()


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_same_output_as_old_algorithm_on_fixture_texts(index):
    text = TEXTS[index]
    rng = random.Random(index)
    for trial in range(8):
        new = scripted_edit(text, rng, edits=1 + trial % 5)
        for context in (8, 1000):
            assert word_diff(text, new, context) == old_word_diff(text, new, context), (trial, new)


def test_same_output_as_old_algorithm_on_the_long_text():
    old, new = long_text_pair()
    assert len(old) > 31_000
    out = word_diff(old, new)
    assert out == old_word_diff(old, new)
    assert [m for m in re.findall(r"\{\+(.*?)\+\}", out)] == [f"edited{k}" for k in range(8)]


# --------------------------------------------------------------------------- bounded work

class CountingMatcher(difflib.SequenceMatcher):
    tokens = 0
    calls = 0

    def __init__(self, isjunk=None, a="", b="", autojunk=True):
        CountingMatcher.tokens += len(a) + len(b)
        CountingMatcher.calls += 1
        super().__init__(isjunk, a, b, autojunk)


@pytest.fixture
def counting(monkeypatch):
    CountingMatcher.tokens = CountingMatcher.calls = 0
    monkeypatch.setattr(difflib, "SequenceMatcher", CountingMatcher)
    return CountingMatcher


def test_long_text_hands_sequence_matcher_few_tokens(counting):
    old, new = long_text_pair()
    n_tokens = len(_TOKEN.findall(old))
    assert n_tokens > 9_000
    word_diff(old, new)
    # The old algorithm handed it every token of both texts (about 2 x 9,900) in one matcher
    # whose work grew with the square of that; now sentences (a few hundred) and the words and
    # tokens around the 8 edits.
    assert 0 < counting.tokens < 2_000, counting.tokens


@pytest.mark.parametrize("case", ["rewrite", "one_word_repeated", "no_punctuation"])
def test_worst_cases_stay_bounded(counting, case):
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(300)] + ["the"] * 30 + ["of"] * 20
    old_words = [rng.choice(vocab) for _ in range(5000)]
    if case == "rewrite":
        new_words = [rng.choice(vocab) for _ in range(5000)]
    elif case == "one_word_repeated":
        old_words = ["a"] * 5000
        new_words = ["a"] * 4990 + ["b"] * 10
    else:
        new_words = list(old_words)
        for k in range(8):
            new_words[len(new_words) * (2 * k + 1) // 16] = "EDIT"
    out = word_diff(" ".join(old_words), " ".join(new_words))
    assert "{+" in out
    # Each matcher is bounded by text_mod's limits: a word range up to _SMALL_WORDS with
    # autojunk off, or above it with autojunk on; token gaps within the budget.
    assert counting.tokens < 4 * 5000 + text_mod._GAP_BUDGET // 50, counting.tokens


# --------------------------------------------------------------------------- property

_words = st.lists(st.sampled_from(["a", "b", "c", "the", "of", "x1", "\n", "end."]), max_size=40)
_space = st.sampled_from([" ", "  ", "\t", " \n ", "\n"])


def _join(words: list[str], spaces: list[str]) -> str:
    return "".join(w + (spaces[i % len(spaces)] if spaces else " ") for i, w in enumerate(words))


def _apply(diff: str) -> list[str]:
    """``new``'s words from a diff without elision: drop deletions, keep insertions' words."""
    kept = re.sub(r"\[-.*?-\]", " ", diff, flags=re.S)
    kept = re.sub(r"\{\+(.*?)\+\}", r" \1 ", kept, flags=re.S)
    return kept.split()


@settings(max_examples=300, deadline=None)
@given(_words, _words, st.lists(_space, max_size=5), st.lists(_space, max_size=5))
def test_applying_the_diff_gives_the_new_words(a_words, b_words, a_spaces, b_spaces):
    old, new = _join(a_words, a_spaces), _join(b_words, b_spaces)
    assume(old.split() != new.split())  # a re-spacing alone is shown as its (elided) text
    out = word_diff(old, new, context=10_000)
    assert "…" not in out
    # (not always the old text: where two alignments are equally good, e.g. one of two equal
    # line breaks, stripping the common suffix first can pick the other one)
    assert _apply(out) == new.split()


def test_markdown_escapes_read_as_text():
    # The API's markdown escapes punctuation (issue 22 item 12): a word diff shows the text.
    old = "Inclusion Criteria:\n\n* UACR \\> 300 mg/g\n* eGFR \\< 60 \\*"
    new = "Inclusion Criteria:\n\n* UACR \\> 200 mg/g\n* eGFR \\< 60 \\*"
    assert text_mod.text_diff(old, new) == "Inclusion Criteria:\n\n* UACR > [-300-] {+200+} mg/g\n* eGFR < 60 *"
    assert "\\" not in text_mod.change_excerpt(old, new)
