"""Diff benchmarks, target < 0.25 s each.

1. Sites: NCT02513394 (1.5 MB, 437 sites) vs a copy with its sites shuffled and one removed.
   Must report exactly one change.
2. Long text (issue 11 item 7): a 32,000-character ``detailedDescription`` (the registry's
   limit) built from the fixtures' real descriptions, with 8 words edited at spread positions.
   Times ``word_diff`` and the whole text rendering path (``diff_records`` then
   ``render.diff_text``), and, once each for comparison, the old single-SequenceMatcher word
   diff (``tests/support/word_diff_oracle.py``), which must give the same text.

Usage: python bench/diff_bench.py [repeats] [--no-old]
"""
from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
# The old word diff, for comparison, is kept once, with the tests (tests/support).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import regsync.render as render  # noqa: E402
from regsync.classify import diff_records  # noqa: E402
from regsync.text import word_diff  # noqa: E402
from support.longtext import long_text_pair  # noqa: E402
from support.word_diff_oracle import old_word_diff  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
FIXTURE = os.path.join(FIXTURES, "NCT02513394.json")
TEXT_FIXTURE = os.path.join(FIXTURES, "NCT00763412.json")
TEXT_SIZE = 32_000
EDITS = 8


def _median(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], result


def bench_sites(repeats: int) -> bool:
    with open(FIXTURE, encoding="utf-8") as f:
        old = json.load(f)
    new = copy.deepcopy(old)
    locs = new["protocolSection"]["contactsLocationsModule"]["locations"]
    rng = random.Random(42)
    rng.shuffle(locs)
    removed = locs.pop(rng.randrange(len(locs)))
    n_sites = len(old["protocolSection"]["contactsLocationsModule"]["locations"])

    changes = diff_records(old, new)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        changes = diff_records(old, new)
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"record: NCT02513394, {os.path.getsize(FIXTURE) / 1e6:.1f} MB, {n_sites} sites; "
          f"shuffled + removed {removed.get('facility')!r}")
    print(f"changes: {len(changes)}")
    for c in changes:
        print(f"  {c.severity} {c.category} {c.kind} {c.rule}: {c.summary}")
    print(f"seconds per diff: median {times[len(times) // 2]:.4f}, "
          f"min {times[0]:.4f}, max {times[-1]:.4f} over {repeats} runs")
    return len(changes) == 1 and times[len(times) // 2] < 0.25


def bench_long_text(repeats: int, with_old: bool) -> bool:
    old_text, new_text = long_text_pair(TEXT_SIZE, EDITS)
    with open(TEXT_FIXTURE, encoding="utf-8") as f:
        old = json.load(f)
    new = copy.deepcopy(old)
    old["protocolSection"]["descriptionModule"]["detailedDescription"] = old_text
    new["protocolSection"]["descriptionModule"]["detailedDescription"] = new_text

    def render_path() -> str:
        return render.diff_text("NCT00763412", 1, 2, diff_records(old, new), show_admin=True)

    t_word, out = _median(lambda: word_diff(old_text, new_text), repeats)
    t_render, text = _median(render_path, repeats)
    print(f"\nlong text: detailedDescription of {len(old_text):,} characters, "
          f"{len(old_text.split()):,} words, {EDITS} words edited at spread positions")
    print(f"  new word_diff:        median {t_word:.4f} s over {repeats} runs")
    print(f"  new render path:      median {t_render:.4f} s over {repeats} runs "
          "(diff_records + render.diff_text)")
    ok = out.count("{+edited") == EDITS and t_word < 0.25 and t_render < 0.25
    if with_old:
        t = time.perf_counter()
        old_out = old_word_diff(old_text, new_text)
        t_old_word = time.perf_counter() - t
        saved = render.word_diff
        render.word_diff = old_word_diff
        try:
            t = time.perf_counter()
            old_render = render_path()
            t_old_render = time.perf_counter() - t
        finally:
            render.word_diff = saved
        print(f"  OLD word_diff:        {t_old_word:.4f} s (one run; the old single-SequenceMatcher algorithm)")
        print(f"  OLD render path:      {t_old_render:.4f} s (one run, with the old word_diff)")
        print(f"  speed-up: word_diff {t_old_word / t_word:.0f}x, render path {t_old_render / t_render:.0f}x; "
              f"same output as the old algorithm: {old_out == out and old_render == text}")
        ok = ok and old_out == out and old_render == text
    return ok


def main(argv: list[str]) -> int:
    with_old = "--no-old" not in argv
    args = [a for a in argv if a != "--no-old"]
    repeats = int(args[0]) if args else 20
    ok = bench_sites(repeats)
    ok = bench_long_text(repeats, with_old) and ok
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
