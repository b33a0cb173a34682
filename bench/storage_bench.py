"""Benchmark: how many bytes a stored version costs, and how fast its readers are.

    python bench/storage_bench.py                          # 2,000 studies, 3 later versions each
    python bench/storage_bench.py --before /tmp/before     # also time the release before, from
                                                           # a checkout of it (git worktree add)

Sizes (issue 23 item 2: the first version of a study at most 40% of its raw JSON, each later
version that edits a few fields at most 2.5 KB, indexes included): N synthetic registry-like
studies (tests/support/fakeapi synthesize(), with the real fixtures' 1.5 MB record about once
per thousand), stored as a sync stores them (``Store.save_page`` with the registry's bytes,
the results obligation, each new version judged by ``regsync.judge``), then K rounds of
one realistic edit each (``mutate``). The database file after VACUUM (page_count x
page_size), minus that of the empty database, divided by the versions added: everything
counted (rows, indexes, the judged changes and obligations, the trained dictionary). The
versions alone (dbstat: the table and its indexes) are given too.

Speed (reading a study's history or a diff stays within 10% of before): the same database
before conversion (records as TEXT, as the release before stored them; with ``--before``,
read by that release's own code) and after (converted in place by this regsync's first
writing open), timing ``regsync history``, ``regsync diff --from first`` and
``regsync show --version 1`` on the study with the most versions, each as a fresh process,
alternately, the median of ``--runs`` (wall time). Ratios after / before.

Last run (2 CPUs, Python 3.11, ``python bench/storage_bench.py --runs 7 --before /tmp/before``,
/tmp/before an export of commit 1b2cef0): 2,000 studies of 14.5 KB raw JSON on average;
first version 4,309 bytes (28.9%); later version 1,982 bytes (versions table and indexes
alone 1,167 bytes a version); history 1.04x, diff 1.01x, show 1.02x the release before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def build(db: Path, studies: int, later: int) -> None:
    """Store ``studies`` first versions and ``later`` rounds of edits, as a sync does (run
    under whichever regsync is first on sys.path: this one, or the release before)."""
    import orjson
    from support.fakeapi import mutate, synthesize

    from regsync import judge
    from regsync.client import FetchedStudy
    from regsync.store import Store

    records = list(synthesize(studies, include_large=True))

    def page(batch: list[dict]) -> list[FetchedStudy]:
        out = []
        for r in batch:
            nct_id = r["protocolSection"]["identificationModule"]["nctId"]
            try:
                out.append(FetchedStudy(nct_id, nct_id, r, "https://clinicaltrials.gov/api/v2/studies", orjson.dumps(r)))
            except TypeError:  # the release before: no raw bytes
                out.append(FetchedStudy(nct_id, nct_id, r, "https://clinicaltrials.gov/api/v2/studies"))
        return out

    with Store.open_write(db) as store:
        for start in range(0, len(records), 500):
            store.save_page(page(records[start:start + 500]), obligation=judge.obligation_columns)
        judge.settle_pending(store)
        sizes = {"first": _size(db)}
        for n in range(later):
            records = [mutate(r, f"2027-{n + 1:02d}-15") for r in records]
            for start in range(0, len(records), 500):
                store.save_page(page(records[start:start + 500]), obligation=judge.obligation_columns)
            judge.settle_pending(store)
    print(orjson.dumps(sizes).decode())


def _size(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        conn.execute("VACUUM")
        return int(conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def _versions_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'versions' "
                                             "AND type IN ('table', 'index')")]
        return int(conn.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({','.join('?' * len(names))})",
                                names).fetchone()[0])
    finally:
        conn.close()


def _open_write(db: Path, code: Path) -> None:
    subprocess.run([sys.executable, "-c", f"from regsync.store import Store; Store.open_write({str(db)!r}).close()"],
                   check=True, env={**os.environ, "PYTHONPATH": str(code)})


def _run(python_path: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    start = time.perf_counter()
    # cwd: not this checkout, whose regsync `-m` would find before PYTHONPATH's.
    done = subprocess.run([sys.executable, "-m", "regsync", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"regsync {' '.join(args)} failed: {done.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--later", type=int, default=3, help="rounds of one edit per study")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", type=Path, help="a checkout of the release before (its regsync reads the old DB)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.studies, args.later)
        return

    import orjson
    from support.fakeapi import synthesize

    raw = sum(len(orjson.dumps(r)) for r in synthesize(args.studies, include_large=True))
    work = Path(tempfile.mkdtemp(prefix="storage-bench-"))
    try:
        here = ROOT
        empty = work / "empty.db"
        _open_write(empty, here)
        base = _size(empty)

        # Sizes: this regsync.
        new = work / "new.db"
        first_only = work / "first.db"
        out = subprocess.run([sys.executable, __file__, "--build", str(first_only), "--studies", str(args.studies),
                              "--later", "0"], check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(here)})
        first = orjson.loads(out.stdout)["first"] - base
        subprocess.run([sys.executable, __file__, "--build", str(new), "--studies", str(args.studies),
                        "--later", str(args.later)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(here)})
        total = _size(new) - base
        later = (total - first) / (args.studies * args.later)
        print(f"{args.studies:,} studies, {raw / args.studies / 1024:.1f} KB of raw JSON each on average")
        print(f"first version: {first / args.studies:,.0f} bytes per study, {first / raw:.1%} of its raw JSON (target 40%)")
        print(f"later version (one edit): {later:,.0f} bytes each, everything counted (target 2.5 KB)")
        vb = _versions_bytes(new)
        print(f"versions table and its indexes alone: {vb / (args.studies * (args.later + 1)):,.0f} bytes per version")

        # Speed: the same data before and after conversion.
        before_code = args.before or here
        old = work / "old.db"
        subprocess.run([sys.executable, __file__, "--build", str(old), "--studies", str(min(args.studies, 300)), "--later", str(args.later)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(before_code)})
        if not args.before:  # this regsync's rows back to text: the form the release before stored
            _to_text(old)
        converted = work / "converted.db"
        shutil.copy(old, converted)
        _open_write(converted, here)  # a writer's open converts
        conn = sqlite3.connect(converted)
        assert conn.execute("SELECT COUNT(*) FROM versions WHERE body IS NULL").fetchone()[0] == 0
        nct_id = conn.execute("SELECT nct_id FROM versions GROUP BY nct_id ORDER BY COUNT(*) DESC, nct_id LIMIT 1").fetchone()[0]
        conn.close()
        commands = {
            "history": ["history", nct_id],
            "diff": ["diff", nct_id, "--from", "first"],
            "show": ["show", nct_id, "--version", "1"],
        }
        print(f"\nreads of {nct_id}, median of {args.runs} runs each (fresh process, wall time):")
        print("| command | before | after | ratio |")
        print("|---|---|---|---|")
        for name, argv in commands.items():
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.runs):
                times["before"].append(_run(before_code, "--db", str(old), *argv))
                times["after"].append(_run(here, "--db", str(converted), *argv))
            b, a = statistics.median(times["before"]), statistics.median(times["after"])
            print(f"| {name} | {b * 1000:.0f} ms | {a * 1000:.0f} ms | {a / b:.2f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _to_text(db: Path) -> None:
    """Every version of ``db`` as the release before stored it: the record as TEXT."""
    sys.path.insert(0, str(ROOT))
    from regsync.store import Store

    with Store.open_read(db) as store:
        texts = [(store.record_bytes(n, v).decode(), n, v)
                 for n, v in store.conn.execute("SELECT nct_id, version FROM versions").fetchall()]
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany("UPDATE versions SET record = ?, body = NULL, body_base = NULL WHERE nct_id = ? AND version = ?",
                         texts)
    conn.close()


if __name__ == "__main__":
    main()
