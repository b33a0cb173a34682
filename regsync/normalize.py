"""The same content in other markup: text normalised for equality and cross-source diffs.

The API v2 (``markupFormat=markdown``) sends text fields as CommonMark; the registry's
history endpoints send HTML, double-escaped (a ``/`` as ``&#x2F;``, sometimes ``&amp;#x2F;``),
and no ``derivedSection``. Compared as stored, every text field of every registry version
would differ from the own snapshot of the same version. Payloads are stored as they came;
only hashing for equality and diffing across sources see this normal form.
"""

from __future__ import annotations

import html
import re
from typing import Any

from regsync.store import content_hash

_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|div|h[1-6]|tr|td|th|table|blockquote|pre)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark backslash escapes of punctuation
# Emphasis only where it cannot be part of a word: NOT_YET_RECRUITING keeps its underscores.
_EMPHASIS = re.compile(r"(?<![\w*])(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_LINK = re.compile(r"\[([^\]]*)\]\([^)\s]*\)")
_LINE_MARK = re.compile(r"^\s*(?:[*+-]|\d{1,3}[.)]|#{1,6})\s+", re.MULTILINE)
_SPACE = re.compile(r"\s+")


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
    text = _EMPHASIS.sub(r"\2", text)
    return _SPACE.sub(" ", text).strip()


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
