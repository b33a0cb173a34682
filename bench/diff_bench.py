"""Diff benchmark: NCT02513394 (1.5 MB, 437 sites) vs a copy with its sites shuffled
and one removed.  Must report exactly one change; target < 0.25 s per diff.

Usage: python bench/diff_bench.py [repeats]
"""
from __future__ import annotations

import copy
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from regsync.diff import diff_records  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "NCT02513394.json")


def main(argv: list[str]) -> int:
    repeats = int(argv[0]) if argv else 20
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
    ok = len(changes) == 1 and times[len(times) // 2] < 0.25
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
