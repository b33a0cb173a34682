"""Benchmark: what the registry-change sentinel costs a sync in which every study changed.

    python bench/sentinel_bench.py --studies 10000
    python bench/sentinel_bench.py --studies 10000 --in-process

One run, for N synthetic studies served by the fake API in its own process:

- a first sync of the N (``sync --quiet`` of a watchlist of N, a fresh child process);
- then the registry edits every record, the records' update dates unmoved, in one of two ways,
  each re-synced with ``sync --full --quiet`` from a copy of the same first-synced database
  (best of two, fresh child processes; the fill-in from the registry's history off):
  - ``edit``: a value edit of every record (each brief title gets a suffix): every study is
    judged, the sentinel reads every pair and finds nothing registry-wide;
  - ``rename``: the registry renames ``designModule.studyType`` to ``kind`` in every record:
    the same judging, and the sentinel finds the rename and relabels 2N changes.

The ratio rename / edit is the sentinel's relabelling on top of a run that changes as many
studies; the ``edit`` run already includes its detection pass. Whole runs are noisy on a
shared machine, so ``--in-process`` measures the sentinel alone instead: the N studies stored
and judged through the store API (no HTTP), then every one renamed, stored and judged
(``judge.settle``), then ``judge.registry_sentinel`` over them, each timed. Prints Markdown.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from sync_bench import Server, regsync  # noqa: E402

DATA_TS_0 = "2026-09-04T09:00:06"
DATA_TS_1 = "2026-09-05T09:00:06"


def _server_main(n: int, conn) -> None:
    from support.fakeapi import FakeRegistry, serve, synthesize

    base = list(synthesize(n))
    registry = FakeRegistry(data_timestamp=DATA_TS_0)
    for record in base:
        registry.add(record)
    with serve(registry) as server:
        conn.send((server.url, registry.ids()))
        while True:
            cmd, *_ = conn.recv()
            if cmd == "stop":
                conn.send("bye")
                return
            for record in base:
                new = copy.deepcopy(record)
                protocol = new["protocolSection"]
                if cmd == "rename":
                    protocol["designModule"]["kind"] = protocol["designModule"].pop("studyType")
                else:
                    protocol["identificationModule"]["briefTitle"] += " (revised)"
                registry.add(new)
            registry.data_timestamp = DATA_TS_1
            conn.send(None)


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(src, dst)


def _registry_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT path, shape, detail, studies, fetched FROM registry_changes").fetchall()


def in_process(n: int) -> None:
    import time

    from regsync import judge
    from regsync.client import FetchedStudy
    from regsync.store import Store
    from support.fakeapi import synthesize

    records = list(synthesize(n))

    def page(chunk: list[dict], rename: bool) -> list[FetchedStudy]:
        out = []
        for record in chunk:
            if rename:
                record = copy.deepcopy(record)
                design = record["protocolSection"]["designModule"]
                design["kind"] = design.pop("studyType")
            nct_id = record["protocolSection"]["identificationModule"]["nctId"]
            out.append(FetchedStudy(nct_id, nct_id, record, "http://127.0.0.1/bench"))
        return out

    work = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    try:
        with Store.open_write(str(work / "bench.db")) as store:
            first = store.begin_run("sync")
            for i in range(0, n, 1000):
                with store.transaction():
                    store.save_page(page(records[i:i + 1000], False), run_id=first, obligation=judge.obligation_columns)
            judge.settle_pending(store)
            store.finish_run(first, "ok")
            run = store.begin_run("sync")
            started = time.perf_counter()
            for i in range(0, n, 1000):
                with store.transaction():
                    for result in store.save_page(page(records[i:i + 1000], True), run_id=run,
                                                  obligation=judge.obligation_columns):
                        judge.settle(store, result.nct_id)
            judged = time.perf_counter() - started
            ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
            started = time.perf_counter()
            found = judge.registry_sentinel(store, run, ids, n)
            sentinel = time.perf_counter() - started
        print("| studies | store + judge, every study renamed | registry_sentinel | share |")
        print("| --- | --- | --- | --- |")
        print(f"| {n:,} | {judged:.2f} s | {sentinel:.2f} s ({sentinel / n * 1e6:.0f} us a study) | {sentinel / judged:.1%} |")
        print(f"\nfound: {[f.line() for f in found]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--in-process", action="store_true", help="time the sentinel alone, through the store API")
    args = parser.parse_args(argv)
    n = args.studies
    if args.in_process:
        in_process(n)
        return
    # The fill-in of missed versions reads the registry's history, one request per changed
    # study at its polite pace: not what is measured here.
    os.environ["REGSYNC_FILL_IN"] = "0"
    work = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    server = Server(n, _server_main)
    try:
        base = work / "base.db"
        watch = regsync_cmd(base, server.url, "watch", "add", *server.ids)
        assert watch == 0, "watch add failed"
        first, rss, code, err = regsync(base, server.url)
        assert code == 0, err
        results = {}
        for kind in ("edit", "rename"):
            server.call(kind)
            best = float("inf")
            for attempt in range(2):
                db = work / f"{kind}-{attempt}.db"
                _copy(base, db)
                secs, rss, code, err = regsync(db, server.url, "--full")
                assert code == 0, err
                best = min(best, secs)
                found = _registry_rows(db)
            results[kind] = (best, found)
        print("| studies | first sync | every study edited (--full) | every study renamed (--full) | rename / edit |")
        print("| --- | --- | --- | --- | --- |")
        edit_s, rename_s = results["edit"][0], results["rename"][0]
        print(f"| {n:,} | {first:.2f} s | {edit_s:.2f} s | {rename_s:.2f} s | {rename_s / edit_s:.2f}x |")
        print(f"\nrecorded by the rename run: {results['rename'][1]}; by the edit run: {results['edit'][1]}")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def regsync_cmd(db: Path, url: str, *args: str) -> int:
    env = dict(os.environ, REGSYNC_DELAY="0")
    env.pop("REGSYNC_DB", None)
    return subprocess.run([sys.executable, "-m", "regsync", "--db", str(db), "--api-url", url, *args],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    main()
