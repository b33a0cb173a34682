"""The word diff as it was before issue 11 item 7: one SequenceMatcher over every token,
spaces included; quadratic in the text's length. The reference the new ``word_diff`` is
checked against (tests/test_word_diff.py) and timed against (bench/diff_bench.py)."""

from __future__ import annotations

import difflib
import re

from regsync.text import _TOKEN, CONTEXT_WORDS, _elide


def old_word_diff(old: str, new: str, context: int = CONTEXT_WORDS) -> str:
    old, new = old or "", new or ""
    if old == new:
        return old
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    ka = [" " if t.isspace() and t != "\n" else t for t in a]
    kb = [" " if t.isspace() and t != "\n" else t for t in b]
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
