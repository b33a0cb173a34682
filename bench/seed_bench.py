"""Benchmark: `regsync seed` against the floor of merely reading the bulk file.

    python bench/seed_bench.py                      # N = 50,000 and 200,000
    python bench/seed_bench.py --studies 20000      # other sizes
    python bench/seed_bench.py --studies 20000 --profile   # also a cProfile of the writer

For each N, one run:

- builds a zip of N synthetic registry-like studies (tests/support/fakeapi/synthetic.py,
  made diverse here: each record's texts and lists get words, numbers and entries of its own,
  so no two records share their long fields) as the registry builds its bulk file: one
  deflated NCTnnnnnnnn.json per study;
- floor: reads the same zip member by member with Python's zipfile and parses every member
  with orjson.loads (the garbage collector paused, as regsync's reader pauses it), in the
  benchmark process: inflate and parse, nothing else. Best of two;
- regsync: `regsync --db DB seed ZIP --quiet` as a fresh child process (a new database),
  wall time including interpreter start-up, peak RSS of the seed (its own from os.wait4, and
  with its two reader processes, from /proc sampling);
- per-study cost at the largest N against the smallest.

Prints a Markdown table. Targets (issue 23 item 6): seed at most 1.5x the floor, per-study
cost flat (at most 1.1x from 50,000 to 200,000), peak RSS at most 300 MB.

Last runs (2 CPUs shared with other work, load average about 2; Python 3.11), four in a row:

| studies | zip | floor | seed | seed / floor | us per study | peak RSS seed | seed + readers |
|---|---|---|---|---|---|---|---|
| 50,000 | 241 MB | 5.48 s | 6.79 s | 1.24x | 136 | 92 MB | 198 MB |
| 200,000 | 963 MB | 24.08 s | 26.81 s | 1.11x | 134 | 163 MB | 194 MB |
| 50,000 | 241 MB | 5.45 s | 7.11 s | 1.30x | 142 | 92 MB | 197 MB |
| 200,000 | 963 MB | 22.23 s | 32.14 s | 1.45x | 161 | 163 MB | 194 MB |
| 50,000 | 241 MB | 5.64 s | 12.97 s | 2.30x | 259 | 92 MB | 197 MB |
| 200,000 | 963 MB | 24.11 s | 57.02 s | 2.37x | 285 | 163 MB | 194 MB |
| 50,000 | 241 MB | 5.78 s | 7.52 s | 1.30x | 150 | 92 MB | 197 MB |
| 200,000 | 963 MB | 25.28 s | 33.25 s | 1.32x | 166 | 163 MB | 194 MB |

seed / floor 1.11x-1.45x in three runs (met); per-study cost 0.99x, 1.13x, 1.10x, 1.10x; RSS
(met). The third run had other work taking about a core (load average 3.3 at its end): the
floor, one process, hardly notices, the seed's three processes get one core between them
and it is 2.3x. The same machine and load, before the
readers prepared and compressed the records (one reader, the writer parsing each record
again, computing its columns and obligation and compressing it): 12.20 s (2.13x) and 49.02 s
(1.73x). Where the time goes now: the two readers are the slower side (the writer waits on
them about 40% of its time); per 16 KB record they inflate (20 us with zlib-ng), parse (60),
hash (35), work out the columns and obligation (50) and compress (25); the writer inserts
(40) and trains the dictionary once (0.6 s). The three processes share two cores: what
counts is the total, about 250 us of CPU per record against the floor's 120.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fakeapi.synthetic import synthesize  # noqa: E402

WORDS = ("randomized", "placebo", "cohort", "dose", "renal", "hepatic", "adverse", "baseline", "week",
         "oncology", "infusion", "biomarker", "quality", "survival", "tolerability", "pediatric")


def diverse(record: dict, rng: random.Random) -> dict:
    """The record with texts of its own: no two records of a zip share their long fields."""
    protocol = record["protocolSection"]
    desc = protocol.setdefault("descriptionModule", {})
    words = " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(rng.randrange(20, 200)))
    desc["briefSummary"] = desc.get("briefSummary", "") + " " + words
    if rng.random() < 0.6:
        desc["detailedDescription"] = desc.get("detailedDescription", "") + "\n\n" + words[::-1]
    conditions = protocol.setdefault("conditionsModule", {})
    conditions["keywords"] = [rng.choice(WORDS) + str(rng.randrange(100)) for _ in range(rng.randrange(1, 12))]
    elig = protocol.setdefault("eligibilityModule", {})
    elig["eligibilityCriteria"] = elig.get("eligibilityCriteria", "") + f"\n* Age {rng.randrange(18, 90)} or less"
    return record


def build_zip(path: Path, n: int) -> None:
    rng = random.Random(n)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in synthesize(n):
            nct_id = record["protocolSection"]["identificationModule"]["nctId"]
            archive.writestr(f"{nct_id}.json", orjson.dumps(diverse(record, rng)))


def floor(path: Path) -> float:
    gc.disable()
    try:
        started = time.perf_counter()
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                orjson.loads(archive.read(info))
        return time.perf_counter() - started
    finally:
        gc.enable()


def _tree_rss(pid: int) -> int:
    """RSS (bytes) of ``pid`` and its children (the seed and its reader)."""
    total = 0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class TreePeak:
    """The peak RSS (bytes) of process ``pid`` and its children, sampled from /proc every
    ``every`` seconds in a thread until ``stop``."""

    def __init__(self, pid: int, every: float):
        self.peak = 0
        self._done = threading.Event()

        def sample() -> None:
            while not self._done.is_set():
                self.peak = max(self.peak, _tree_rss(pid))
                time.sleep(every)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def seed(path: Path, db: Path, profile: Path | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS of the seed process from wait4, peak RSS of seed + reader sampled)."""
    argv = [str(Path(sys.executable).parent / "regsync"), "--db", str(db), "seed", str(path), "--quiet"]
    if profile is not None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "regsync", *argv[1:]]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree = TreePeak(proc.pid, every=0.05)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    peak = tree.stop()
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if status != 0:
        raise SystemExit(f"seed failed ({status}): {err.decode()}")
    print("   ", out.decode().strip(), file=sys.stderr)
    return elapsed, usage.ru_maxrss * 1024, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="Build and keep the zips here (reused when present).")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="seed-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for n in args.studies:
            archive = work / f"registry-{n}.zip"
            if not archive.exists():
                print(f"building {archive} ...", file=sys.stderr)
                build_zip(archive, n)
            size = archive.stat().st_size
            floors = [floor(archive) for _ in range(2)]
            db = work / f"seed-{n}.db"
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            profile = work / f"seed-{n}.prof" if args.profile else None
            elapsed, rss, tree = seed(archive, db, profile)
            rows.append((n, size, min(floors), elapsed, rss, tree))
            print(f"  N={n:,}: floor {min(floors):.2f} s, seed {elapsed:.2f} s", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("| studies | zip | floor (zipfile + orjson) | seed | seed / floor | us per study | peak RSS seed | peak RSS seed + readers |")
    print("|---|---|---|---|---|---|---|---|")
    for n, size, fl, el, rss, tree in rows:
        print(f"| {n:,} | {size / 2**20:,.0f} MB | {fl:.2f} s | {el:.2f} s | {el / fl:.2f}x | "
              f"{el / n * 1e6:.0f} | {rss / 2**20:.0f} MB | {tree / 2**20:.0f} MB |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"\nper-study cost at {last[0]:,} vs {first[0]:,}: {(last[3] / last[0]) / (first[3] / first[0]):.2f}x "
              f"(floor: {(last[2] / last[0]) / (first[2] / first[0]):.2f}x)")


if __name__ == "__main__":
    main()
