"""Text: normalisation, similarity and the word-level diff shown for long fields.

Registry text arrives as markdown (v2 API with ``markupFormat=markdown``) or, in the
registry's own history, as HTML with entities; both are reduced to lower-case alphanumeric
tokens before anything is compared, so case, punctuation, markup and spacing never count
as a change of meaning.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Literal

_WORD = re.compile(r"[a-z0-9]+|[<>=%\u2264\u2265]")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

# Words that carry no meaning of their own when two phrasings of a measure are compared.
STOP_WORDS = frozenset({
    "of", "with", "in", "on", "the", "a", "an", "and", "for", "to", "at", "by", "using",
    "as", "from", "per", "or", "who", "is", "are", "be", "least", "any",
})


def unmarkup(s: str) -> str:
    """Drop HTML tags and decode entities (the registry's history pages carry both)."""
    import html

    return html.unescape(_TAG.sub(" ", s))


def norm_text(s: Any) -> str:
    """Lower-case alphanumeric tokens joined by spaces (case/punctuation/space-insensitive)."""
    if not isinstance(s, str):
        return "" if s is None else str(s)
    return " ".join(_WORD.findall(unmarkup(s).lower()))


def tokens(s: Any, ignore: Collection[str] = ()) -> set[str]:
    return set(norm_text(s).split()) - STOP_WORDS - set(ignore)


def token_similarity(a: Any, b: Any, ignore: Collection[str] = ()) -> float:
    """Jaccard similarity of the content words of ``a`` and ``b`` (1.0 when both have none)."""
    ta, tb = tokens(a, ignore), tokens(b, ignore)
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def containment(a: Any, b: Any) -> float:
    """Share of the smaller token set found in the larger one (0 if either has < 3 tokens)."""
    ta, tb = tokens(a), tokens(b)
    if len(ta) < 3 or len(tb) < 3:
        return 0.0
    return len(ta & tb) / min(len(ta), len(tb))


def numbers(s: Any) -> list[str]:
    """The numbers in a text, sorted: a dose, age or schedule that changed shows here."""
    if not isinstance(s, str):
        return []
    return sorted(_NUMBER.findall(s.replace("\u00d7", "x")))


def words_changed(a: str, b: str) -> int:
    """How many words were inserted, deleted or replaced from ``a`` to ``b``."""
    import difflib

    matcher = difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


TextEdit = Literal["whitespace", "formatting"]


def text_edit_kind(old: Any, new: Any) -> TextEdit | None:
    """'whitespace' or 'formatting' for a str -> str edit that changes no word; else None."""
    if not isinstance(old, str) or not isinstance(new, str):
        return None
    if old.split() == new.split():
        return "whitespace"
    if norm_text(old) == norm_text(new):
        return "formatting"
    return None


def trunc(v: Any, n: int = 100) -> str:
    """One line of at most ``n`` characters, whitespace collapsed; ``(none)`` for None."""
    if v is None:
        return "(none)"
    s = " ".join((v if isinstance(v, str) else str(v)).split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


# -- word diff -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\n|[^\S\n]+|[^\s]+")
CONTEXT_WORDS = 8


def word_diff(old: str, new: str, context: int = CONTEXT_WORDS) -> str:
    """A word-level diff in the notation of ``git diff --word-diff=plain``.

    Deletions are ``[-words-]``, insertions ``{+words+}``; line breaks are kept and long
    unchanged stretches are elided with `` … `` keeping ``context`` words either side.
    """
    old, new = old or "", new or ""
    if old == new:
        return old
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    # Words are compared with every run of spaces as one space: re-spacing is not an edit.
    ka = [" " if t.isspace() and t != "\n" else t for t in a]
    kb = [" " if t.isspace() and t != "\n" else t for t in b]
    import difflib  # only when a diff is shown or judged: read commands start without it

    ops = difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes()
    out: list[str] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            out.append(_elide(b[j1:j2], context, keep_head=n > 0, keep_tail=n < len(ops) - 1))
            continue
        if tag in ("delete", "replace"):
            deleted = "".join(a[i1:i2]).strip(" \t")
            if deleted:
                out.append(f"[-{deleted}-]")
        if tag in ("insert", "replace"):
            inserted = "".join(b[j1:j2]).strip(" \t")
            if inserted:
                out.append(f"{{+{inserted}+}}")
    return re.sub(r"(-\]|\+\})(\[-|\{\+)", r"\1 \2", "".join(out))


def _elide(seg: list[str], context: int, *, keep_head: bool, keep_tail: bool) -> str:
    words = [t for t in seg if not t.isspace()]
    if len(words) <= context * (keep_head + keep_tail) + 3:
        return "".join(seg)
    head = _take_words(seg, context) if keep_head else []
    tail = _take_words(seg[::-1], context)[::-1] if keep_tail else []
    return "".join(head) + (" … " if head or tail else "…") + "".join(tail).lstrip()


def _take_words(seg: list[str], n: int) -> list[str]:
    out: list[str] = []
    count = 0
    for t in seg:
        if not t.isspace():
            count += 1
            if count > n:
                break
        out.append(t)
    return out
