"""Plain-text word-level diff for display of long text fields (no colour).

``render_text_diff(old, new)`` marks deletions as ``[-words-]`` and insertions as
``{+words+}`` (the notation of ``git diff --word-diff=plain``), keeps line breaks,
and elides long unchanged stretches with `` … `` keeping a few words of context.
"""
from __future__ import annotations

import difflib
import re

_TOKEN = re.compile(r"\n|[^\S\n]+|[^\s]+")
CONTEXT_WORDS = 8


def _tokens(s: str) -> list[str]:
    return _TOKEN.findall(s or "")


def render_text_diff(old: str, new: str, context: int = CONTEXT_WORDS) -> str:
    old = old or ""
    new = new or ""
    if old == new:
        return old
    a, b = _tokens(old), _tokens(new)
    # compare words, ignoring differences in the amount of whitespace
    ka = [" " if t.isspace() and t != "\n" else t for t in a]
    kb = [" " if t.isspace() and t != "\n" else t for t in b]
    sm = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    out: list[str] = []
    ops = sm.get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            seg = b[j1:j2]
            words = [t for t in seg if not t.isspace()]
            keep_head = n > 0
            keep_tail = n < len(ops) - 1
            limit = context * (int(keep_head) + int(keep_tail))
            if len(words) > limit + 3:
                head = _take_words(seg, context) if keep_head else []
                tail = _take_words(seg[::-1], context)[::-1] if keep_tail else []
                out.append("".join(head) + (" … " if head or tail else "…") + "".join(tail).lstrip())
            else:
                out.append("".join(seg))
            continue
        if tag in ("delete", "replace"):
            d = "".join(a[i1:i2]).strip(" \t")
            if d:
                out.append(f"[-{d}-]")
        if tag in ("insert", "replace"):
            ins = "".join(b[j1:j2]).strip(" \t")
            if ins:
                if tag == "replace" and out and out[-1].endswith("-]"):
                    pass
                out.append(f"{{+{ins}+}}")
    text = "".join(out)
    text = re.sub(r"(-\]|\+\})(\[-|\{\+)", r"\1 \2", text)
    return text


def _take_words(seg: list[str], n: int) -> list[str]:
    out, count = [], 0
    for t in seg:
        if not t.isspace():
            count += 1
            if count > n:
                break
        out.append(t)
    return out
