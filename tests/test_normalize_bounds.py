"""Issue 20 item 3: the markup normaliser is linear on any input. No wall clock here (the
timings are bench/normalize_bench.py's): the regular expressions are checked by their
structure, the emphasis scanner by counting its look-ups, and the hostile inputs of the issue
(20,000 newlines, a 1 MB field) are normalised to the right text."""

from __future__ import annotations

import random
import re
import re._compiler as sre_compile
import re._constants as sre
import re._parser as sre_parse

import pytest

from regsync import normalize
from regsync.normalize import normalize_record, normalize_text, strip_emphasis

# Where each pattern's next attempt can start (a line start is after a newline).
RESTARTS = {"_BLOCK_TAG": "<", "_TAG": "<", "_LINK": "[", "_LINE_MARK": "\n"}


def _repeats(items):
    """The unbounded repeats of a parsed pattern, each with whether anything follows it."""
    items = list(items)
    for index, (op, av) in enumerate(items):
        last = index == len(items) - 1
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            _, most, item = av
            if most == sre.MAXREPEAT:
                yield item, last
            yield from _repeats(item)
        elif op == sre.SUBPATTERN:
            yield from ((item, tail and last) for item, tail in _repeats(av[-1]))
        elif op == sre.BRANCH:
            for branch in av[1]:
                yield from ((item, False) for item, _ in _repeats(branch))


@pytest.mark.parametrize("name", sorted(RESTARTS))
def test_no_repeat_scans_past_where_the_next_attempt_starts(name):
    """A repeat that can still fail after it, and that can cross the character where the
    next attempt starts, rescans the text from every such character: quadratic. None does."""
    pattern = getattr(normalize, name)
    found = 0
    for item, last in _repeats(sre_parse.parse(pattern.pattern, pattern.flags)):
        found += 1
        if last:
            continue  # a final repeat only extends a match that has already succeeded
        assert not sre_compile.compile(item, pattern.flags).fullmatch(RESTARTS[name]), (name, item)
    assert found


OLD_EMPHASIS = re.compile(r"(?<![\w*])(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])")


def test_the_emphasis_scanner_does_what_the_old_pattern_did():
    rnd = random.Random(20)
    for _ in range(20000):
        text = "".join(rnd.choice("*_ a\n*_b") for _ in range(rnd.randint(0, 14)))
        assert strip_emphasis(text) == OLD_EMPHASIS.sub(r"\2", text), text
    assert strip_emphasis("NOT_YET_RECRUITING **bold** and _it_") == "NOT_YET_RECRUITING bold and it"


@pytest.mark.parametrize("text", ["*a " * 350_000, "_" * 1_000_000, "**x" * 300_000 + "\n" * 20_000])
def test_the_emphasis_scanner_looks_up_each_marker_a_bounded_number_of_times(monkeypatch, text):
    calls = []

    def counted(seq, x):
        calls.append(x)
        return bisect_left(seq, x)

    from bisect import bisect_left
    monkeypatch.setattr(normalize.bisect, "bisect_left", counted)
    strip_emphasis(text)
    markers = text.count("*") + text.count("_")
    assert len(calls) <= 8 * markers


def test_twenty_thousand_newlines_and_a_megabyte_field_normalise():
    assert normalize_text("a" + "\n" * 20_000 + "b") == "a b"
    assert normalize_text("- item\n" * 20_000) == " ".join(["item"] * 20_000)
    assert normalize_text(" \n" * 20_000 + "x") == "x"
    megabyte = "[" * 500_000 + "[a](b" * 100_000
    assert normalize_text(megabyte) == megabyte  # nothing in it is a link
    assert normalize_text("*" * 1_000_000) == "*" * 999_996  # the outer ** as emphasis, as before
    record = {"protocolSection": {"descriptionModule": {"detailedDescription": "<p" * 300_000 + "x" * 400_000}}}
    assert normalize_record(record)["protocolSection"]["descriptionModule"]["detailedDescription"].endswith("x" * 10)
