"""Read commands start fast: they never import the HTTP stack, sqlite-utils or the classifier.

The start-up time itself is measured by bench/startup_bench.py (CPU time, as a ratio); this
test pins the cause, which does not depend on the machine's speed: what gets imported.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from regsync.cli import cli
from support.procs import regsync_env

FIXTURE = Path(__file__).parent / "fixtures" / "NCT07240987.json"
API = "https://registry.test/api/v2"
NCT = "NCT07240987"

# Heavy modules only a sync (or a write) needs.
NOT_FOR_READING = (
    "requests", "urllib3", "sqlite_utils", "regsync.client", "regsync.sync", "regsync.classify",
    "logging", "difflib", "hashlib",
    # Only `export --parquet` writes Parquet; pyarrow alone takes longer to import than a read.
    "pyarrow",
)

PROBE = """
import sys, runpy
sys.argv = ["regsync", *sys.argv[1:]]
try:
    runpy.run_module("regsync", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = [m for m in {heavy!r} if m in sys.modules]
print("LOADED", code, ",".join(loaded), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("startup") / "regsync.db"
    record = json.loads(FIXTURE.read_text())
    edited = copy.deepcopy(record)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    for version in (record, edited):
        with responses.RequestsMock() as mock:
            mock.get(f"{API}/version", json={"apiVersion": "2.0.5", "dataTimestamp": "2026-09-04T09:00:06"})
            mock.get(f"{API}/studies/{NCT}", json=version)
            result = CliRunner().invoke(cli, ["--db", str(db), "--api-url", API, "sync", NCT, "--force", "--delay", "0"])
        assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize(
    "args",
    [
        ["history", NCT],
        ["history", NCT, "--json"],
        ["show", NCT],
        ["diff", NCT],
        ["diff", NCT, "--json"],
        ["changes"],
        ["status"],
        ["watch", "list"],
        ["--help"],
        ["history", "--help"],
        ["export", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_read_commands_do_not_import_what_they_do_not_use(two_versions, args):
    probe = PROBE.format(heavy=NOT_FOR_READING)
    done = subprocess.run(
        [sys.executable, "-c", probe, "--db", str(two_versions), *args],
        capture_output=True, text=True, timeout=120,
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED")][-1]
    _, code, loaded = (line.split(" ", 2) + [""])[:3]
    assert code == "0", done.stderr
    assert loaded == "", f"{' '.join(args)} imported {loaded}"


def test_a_first_sync_with_the_fill_in_on_does_not_load_libcurl(fake, tmp_path):
    """The fill-in's transport (libcurl through curl_cffi, about 0.1 s to import) is loaded
    when the fill-in first asks the registry's history, and a first sync has nothing to ask:
    every study is new."""
    _, server = fake
    db = tmp_path / "regsync.db"
    probe = PROBE.format(heavy=("curl_cffi",))
    done = subprocess.run(
        [sys.executable, "-c", probe, "--db", str(db), "--api-url", server.url, "sync", NCT, "NCT00763412"],
        capture_output=True, text=True, timeout=120, env=regsync_env(REGSYNC_FILL_IN="1"),
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("LOADED")][-1]
    _, code, loaded = (line.split(" ", 2) + [""])[:3]
    assert code == "0", done.stderr
    assert loaded == "", "a first sync imported curl_cffi"
    assert done.stdout.count(" new") == 2, done.stdout
