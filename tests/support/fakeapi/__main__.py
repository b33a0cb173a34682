"""Serve the fake API until Ctrl-C, for manual use. From tests/ (where ``support`` lives):

    python -m support.fakeapi --port 8765 --synthetic 1000

or from the repository root: ``PYTHONPATH=tests python -m support.fakeapi ...``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .registry import FakeRegistry
from .server import serve
from .synthetic import load_fixtures, synthesize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m support.fakeapi",
        description="Serve a fake ClinicalTrials.gov API v2 on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="directory of NCT*.json records to serve (default: tests/fixtures)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also serve N synthetic studies derived from the fixtures")
    args = parser.parse_args(argv)

    registry = FakeRegistry()
    for record in load_fixtures(args.fixtures):
        registry.add(record)
    for record in synthesize(args.synthetic, args.fixtures):
        registry.add(record)
    with serve(registry, args.port) as server:
        print(f"fake ClinicalTrials.gov API: {server.url} ({len(registry)} studies); Ctrl-C stops",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
