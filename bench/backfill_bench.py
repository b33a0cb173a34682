"""Backfill of N studies x V registry versions against the local fake, at the polite pace.

The pace (2 requests/s on the history endpoints) runs on a simulated clock: the client's
sleeps advance it instead of waiting, so the run takes machine time only, and the simulated
duration is what the same run would take against the registry (plus its answer times: a
peer measured 0.8 s mean per history answer, 29 KB).

    .venv/bin/python bench/backfill_bench.py [--studies 1000] [--versions 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from regsync.history import backfill  # noqa: E402
from regsync.client import HISTORY_DELAY, ApiClient, ClientConfig, HistoryClient  # noqa: E402
from regsync.store import Store  # noqa: E402
from regsync.sync import run_sync  # noqa: E402
from support.fakeapi import FakeRegistry, history_markup, mutate, serve, synthesize  # noqa: E402


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=7)
    args = parser.parse_args()
    registry = FakeRegistry("2026-11-20T09:00:06")
    ids = []
    for record in synthesize(args.studies):
        nct_id = record["protocolSection"]["identificationModule"]["nctId"]
        chain = [record]
        for n in range(1, args.versions):
            chain.append(mutate(chain[-1], f"2025-{n:02d}-15"))
        for n, version in enumerate(chain):
            registry.add_history(nct_id, f"2025-{n + 1:02d}-01", history_markup(version))
        registry.add(chain[-1])
        ids.append(nct_id)
    with tempfile.TemporaryDirectory() as tmp, serve(registry) as server:
        db = Path(tmp) / "bench.db"
        with Store.open_write(db) as store:
            store.watch_add(ids)
            run_sync(store, ApiClient(ClientConfig(api_url=server.url, delay=0)), ids)
        clock = SimulatedClock()
        history = HistoryClient(ClientConfig(api_url=server.url, transport="curl", delay=HISTORY_DELAY),
                                sleep=clock.sleep, clock=clock)
        api = ApiClient(ClientConfig(api_url=server.url, delay=0))
        registry.reset_log()
        started = time.perf_counter()
        with Store.open_write(db) as store:
            report = backfill(store, history, api, ids)
        wall = time.perf_counter() - started
        history_requests = registry.count("history")
        stored = sum(len(s.stored) for s in report.studies)
        linked = sum(len(s.linked) for s in report.studies)
        again_clock = SimulatedClock()
        again = HistoryClient(ClientConfig(api_url=server.url, transport="curl"), sleep=again_clock.sleep,
                              clock=again_clock)
        with Store.open_write(db) as store:
            second = backfill(store, again, api, ids)
    print(f"{args.studies} studies x {args.versions} versions: {report.requests} requests "
          f"({history_requests} to the history endpoints), {stored} versions stored, {linked} linked, "
          f"failed={report.failed}")
    print(f"simulated duration at {1 / HISTORY_DELAY:g} requests/s: {clock.now:.0f} s ({clock.now / 3600:.2f} h); "
          f"machine time {wall:.1f} s")
    print(f"second run (idempotent): {second.requests} requests, simulated {again_clock.now:.0f} s")


if __name__ == "__main__":
    main()
