"""Benchmark: how fast the fake API (tests/support/fakeapi) serves full records, so that it
is never the bottleneck of bench/sync_bench.py.

    python bench/fakeapi_bench.py                 # 2,000 synthetic studies, best of 3
    python bench/fakeapi_bench.py --studies 10000

Downloads every page (pageSize=1000) of N synthetic studies over one keep-alive session,
server in a thread of this process, and prints studies per second. Target: 2,000 studies
in under 2 s on a 2-core machine (it was a test's assertion; timing belongs here, where a
loaded machine makes a figure noisy instead of making the test suite red).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The fake API is test infrastructure (tests/support/fakeapi) and does not ship with regsync.
sys.path.insert(0, str(ROOT / "tests"))

from support.fakeapi import FakeRegistry, serve, synthesize  # noqa: E402

TARGET_SECONDS_PER_2000 = 2.0


def download_all(session: requests.Session, url: str) -> int:
    """Every page of ``GET /studies?pageSize=1000``; the number of studies received."""
    received, token = 0, None
    while True:
        params = {"pageSize": 1000, **({"pageToken": token} if token else {})}
        body = session.get(f"{url}/studies", params=params, timeout=60).content
        received += body.count(b'"nctId":"NCT1')
        end = body.rfind(b'"nextPageToken":"')
        token = body[end + 17: -2].decode() if end >= 0 else None
        if token is None:
            return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    registry = FakeRegistry()
    for record in synthesize(args.studies):
        registry.add(record)
    timings = []
    with serve(registry) as server, requests.Session() as session:
        for _ in range(args.runs):
            started = time.perf_counter()
            received = download_all(session, server.url)
            timings.append(time.perf_counter() - started)
            assert received == args.studies, received
    best = min(timings)
    budget = TARGET_SECONDS_PER_2000 * args.studies / 2000
    verdict = "met" if best < budget else "MISSED"
    print(f"fake API: {args.studies:,} full records in {best:.2f} s (best of {args.runs}), "
          f"{args.studies / best:,.0f} studies/s; target < {budget:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
