"""The `status` ledger reads as what happened (issue 22 item 11): a run whose process is
gone shows as interrupted, not running; a backfill counts the versions it stored; run times
say UTC. (A nothing-to-do run's mode: tests/test_status.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.fakeapi import history_markup
from support.records import load

from regsync.store import Store

NCT = "NCT07240987"


def _runs(run) -> list[list[str]]:
    return [line.split() for line in run("status").stdout.splitlines() if line[:1].isdigit()]


def test_a_run_whose_process_was_killed_shows_as_interrupted(fake, run, db_path):
    registry, server = fake
    assert run("sync", NCT, api_url=server.url).exit_code == 0
    # A writer that starts a run and is SIGKILLed: nothing of its own records the end.
    code = (
        "import os, signal, sys\n"
        "from regsync.store import Store\n"
        "store = Store.open_write(sys.argv[1])\n"
        "store.begin_run('sync', 'full')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(db_path)], capture_output=True, timeout=60)
    assert killed.returncode == -9
    runs = json.loads(run("status", "--json").stdout)["runs"]
    assert [(r["id"], r["outcome"]) for r in runs] == [(2, "interrupted"), (1, "ok")]
    assert runs[0]["pid"] not in (None, os.getpid())  # the killed process's, stored by begin_run
    assert [r[5] for r in _runs(run)] == ["interrupted", "ok"]


def test_a_run_whose_process_is_alive_is_running(fake, run, db_path):
    registry, server = fake
    assert run("sync", NCT, api_url=server.url).exit_code == 0
    store = Store.open_write(db_path)
    try:
        store.begin_run("sync", "full")  # this process: alive
        runs = json.loads(run("status", "--json").stdout)["runs"]
    finally:
        store.close()
    assert [(r["outcome"], r["pid"]) for r in runs] == [("running", os.getpid()), ("ok", os.getpid())]


def test_a_backfill_counts_the_versions_it_stored(fake, run):
    registry, server = fake
    days = ["2025-11-20", "2025-12-10", "2025-12-24"]
    record = load(NCT)
    registry.add(record)
    for day in days:
        edited = json.loads(json.dumps(record))
        edited["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = day
        registry.add_history(NCT, day, history_markup(edited))
    registry.screen_clients = True
    assert run("backfill", NCT, api_url=server.url).exit_code == 0
    (backfill,) = json.loads(run("status", "--json").stdout)["runs"]
    assert (backfill["command"], backfill["new_studies"], backfill["versions_stored"],
            backfill["new_versions"]) == ("backfill", 0, 3, 3)
    (row,) = _runs(run)
    # run, started (date, time, UTC), duration, outcome, command, mode, checked, new, changed, versions, ...
    assert row[3] == "UTC"
    assert row[6:12] == ["backfill", "ids", "1", "-", "-", "3"]
