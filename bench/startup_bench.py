"""Start-up cost of a read command: `regsync history NCT...` against `import click, sqlite3`.

Read commands run at a terminal many times a day, so they must not pay for what they do not
use (requests, urllib3, sqlite-utils' migrations, the classifier). The target is CPU time
within 2x of a Python that imports only click and sqlite3. CPU time (user + system of the
child, from getrusage) is used rather than wall time: it is what the command costs, and it
is far less disturbed by other load on a shared machine. Both commands are run alternately,
the median of each is reported, and the ratio is what counts.

regsync's modules are byte-compiled first, as installing it does (pip compiles a wheel's
modules; click's and the standard library's are compiled already). A checkout run with
PYTHONDONTWRITEBYTECODE=1 otherwise compiles every regsync module from source at each start:
about 45 ms of CPU, which put `regsync history` at 2.3-2.7x where it is 1.8x compiled, and
which no installed regsync pays.

    python bench/startup_bench.py [--runs 30]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import responses
from click.testing import CliRunner

from regsync.cli import cli

ROOT = Path(__file__).resolve().parent.parent
NCT = "NCT07240987"
API = "https://clinicaltrials.gov/api/v2"


def make_database(path: str) -> None:
    """One stored study, synced through the real CLI with the registry mocked."""
    record = json.loads((ROOT / "tests" / "fixtures" / f"{NCT}.json").read_text())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/version", json={"apiVersion": "2.0.5", "dataTimestamp": "2026-09-04T09:00:06"})
        mock.get(f"{API}/studies/{NCT}", json=record)
        result = CliRunner().invoke(cli, ["--db", path, "sync", NCT], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"could not build the benchmark database: {result.output}")


def cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "REGSYNC_DB": ""})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    regsync = str(Path(sys.executable).with_name("regsync"))
    compileall.compile_dir(str(ROOT / "regsync"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "regsync.db")
        make_database(db)
        commands = {
            "python -c 'import click, sqlite3'": [sys.executable, "-c", "import click, sqlite3"],
            f"regsync history {NCT}": [regsync, "--db", db, "history", NCT],
            "regsync --help": [regsync, "--help"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            cpu_seconds(argv)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(cpu_seconds(argv))
    base = statistics.median(times["python -c 'import click, sqlite3'"])
    print(f"CPU time, median of {args.runs} runs each (alternating):")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<40} {median * 1000:7.1f} ms  {median / base:5.2f}x")
    print("target: regsync history within 2.00x of the import-only baseline")


if __name__ == "__main__":
    main()
