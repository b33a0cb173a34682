"""The markup normaliser on hostile fields (issue 20 item 3): each input of the issue, its
time per call and per megabyte. Linear means the 2x input takes about 2x the time; the
quadratic patterns this replaced took 7-18 s for 20,000 newlines and hours for a megabyte.

Usage: python bench/normalize_bench.py
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from regsync.normalize import normalize_text  # noqa: E402

INPUTS = {
    "20,000 newlines": lambda k: "a" + "\n" * (20_000 * k) + "b",
    "list items": lambda k: "- item\n" * (20_000 * k),
    "blank lines with spaces": lambda k: " \n" * (20_000 * k),
    "1 MB of '*a '": lambda k: "*a " * (350_000 * k),
    "1 MB of '_'": lambda k: "_" * (1_000_000 * k),
    "1 MB of '['": lambda k: "[" * (1_000_000 * k),
    "1 MB of '[a](b'": lambda k: "[a](b" * (200_000 * k),
    "1 MB of '<p'": lambda k: "<p" * (500_000 * k),
}


def main() -> None:
    for name, make in INPUTS.items():
        times = []
        for k in (1, 2):
            text = make(k)
            start = time.perf_counter()
            normalize_text(text)
            times.append(time.perf_counter() - start)
        print(f"{name:28} x1 {times[0]:7.3f} s   x2 {times[1]:7.3f} s   ratio {times[1] / max(times[0], 1e-9):4.1f}")


if __name__ == "__main__":
    main()
