"""A registry-sized long text and an edited copy: the case the word diff must stay fast and
exact on (tests/test_word_diff.py checks it, bench/diff_bench.py times it)."""

from __future__ import annotations

import json
import re

from support.records import FIXTURES


def long_text_pair(size: int = 32_000, edits: int = 8) -> tuple[str, str]:
    """A ``size``-character text of the fixtures' real description paragraphs (each numbered,
    so the repeats are not verbatim), and a copy with ``edits`` words replaced at spread
    positions."""
    paras: list[str] = []
    for path in sorted(FIXTURES.glob("NCT*.json")):
        dm = json.loads(path.read_text(encoding="utf-8"))["protocolSection"].get("descriptionModule", {})
        for field in ("detailedDescription", "briefSummary"):
            paras += [p for p in dm.get(field, "").split("\n\n") if len(p) > 80]
    out: list[str] = []
    while sum(map(len, out)) + 2 * len(out) < size:
        out.append(f"Part {len(out) + 1}. {paras[len(out) % len(paras)]}")
    text = "\n\n".join(out)[:size]
    text = text[: text.rfind(" ")]
    toks = re.findall(r"\S+|\s+", text)
    words = [i for i, t in enumerate(toks) if not t.isspace()]
    for k in range(edits):
        toks[words[len(words) * (2 * k + 1) // (2 * edits)]] = f"edited{k}"
    return text, "".join(toks)
