"""The same content in other markup: text normalised for equality and cross-source diffs.

The API v2 (``markupFormat=markdown``) sends text fields as CommonMark; the registry's
history endpoints send HTML, double-escaped (a ``/`` as ``&#x2F;``, sometimes ``&amp;#x2F;``),
and no ``derivedSection``. Compared as stored, every text field of every registry version
would differ from the own snapshot of the same version. Payloads are stored as they came;
only hashing for equality and diffing across sources see this normal form.
"""

from __future__ import annotations

import bisect
import html
import re
from typing import Any

from regsync.store import content_hash

# Every pattern here is linear on any input (a registry field can hold 20,000 newlines or a
# megabyte): an unbounded repeat never scans past the character that starts the next attempt,
# so no text is scanned again by later attempts (tests/test_normalize_bounds.py checks it).
_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|div|h[1-6]|tr|td|th|table|blockquote|pre)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark backslash escapes of punctuation
# Link text and target exclude brackets: a run of '[' (or of '[x](') with no close would
# otherwise be scanned to its end from each of them.
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()\s\[\]]*\)")
# A line's leading blanks, not newlines: '^\s*' scanned every following empty line again from
# each line start (quadratic on a field of newlines).
_LINE_MARK = re.compile(r"^[^\S\n]*(?:[*+-]|\d{1,3}[.)]|#{1,6})\s+", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_WORD_OR_STAR = re.compile(r"[\w*]")
_BLANK = re.compile(r"\s")
_MARKS = re.compile(r"[*_]")
# Longest first, as the alternatives of the emphasis pattern were tried.
_DELIMITERS = ("**", "__", "*", "_")


def normalize_text(text: str) -> str:
    """Tags and markdown syntax reduced to text, entities unescaped twice, whitespace collapsed."""
    if "<" in text:
        text = _BLOCK_TAG.sub("\n", text)
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(html.unescape(text))
    text = text.replace("\u00a0", " ")
    text = _ESCAPE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _LINE_MARK.sub("", text)
    text = strip_emphasis(text)
    return _SPACE.sub(" ", text).strip()


def strip_emphasis(text: str) -> str:
    r"""Emphasis markers removed where they cannot be part of a word (NOT_YET_RECRUITING keeps
    its underscores): what ``re.sub(r"(?<![\w*])(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])",
    r"\2", text)`` does, in linear time. That pattern's lazy ``.+?`` scanned to the end of the
    line from every unclosed marker (quadratic on a long line of '*'); here each marker looks
    up its nearest valid closer in a sorted list instead."""
    if "*" not in text and "_" not in text:
        return text
    n = len(text)

    def word_or_star(i: int) -> bool:
        return 0 <= i < n and _WORD_OR_STAR.match(text, i) is not None

    def blank(i: int) -> bool:
        return _BLANK.match(text, i) is not None

    marks = [m.start() for m in _MARKS.finditer(text)]
    # A closer: the delimiter after a non-blank character and not before a word character or '*'.
    closers: dict[str, list[int]] = {d: [] for d in _DELIMITERS}
    for j in marks:
        if j == 0 or blank(j - 1):
            continue
        for d in _DELIMITERS:
            if text.startswith(d, j) and not word_or_star(j + len(d)):
                closers[d].append(j)
    newlines = [m.start() for m in re.finditer("\n", text)]
    out: list[str] = []
    last = 0
    for i in marks:
        if i < last or word_or_star(i - 1):
            continue
        for d in _DELIMITERS:
            start = i + len(d)
            if not text.startswith(d, i) or start >= n or blank(start):
                continue
            candidates = closers[d]
            k = bisect.bisect_left(candidates, start + 1)  # at least one character emphasised
            if k == len(candidates):
                continue
            j = candidates[k]
            line = bisect.bisect_left(newlines, start)
            if line < len(newlines) and newlines[line] < j:  # emphasis never spans lines
                continue
            out += [text[last:i], text[start:j]]
            last = j + len(d)
            break
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def normalize_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record without derivedSection, every string normalised (see normalize_text)."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return normalize_text(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return {k: walk(v) for k, v in record.items() if k != "derivedSection"}


def normalized_hash(record: dict[str, Any]) -> str:
    return content_hash(normalize_record(record))
