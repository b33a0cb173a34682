"""`regsync status [--json]` (issue 5, item 5): the last runs (start, duration, outcome,
studies checked, new versions, errors), counts of studies, versions and changes, the size
of the database. Driven against the local fake API."""

from __future__ import annotations

import json
import os
import re

from regsync.store import Store
from support.records import edit, load

DEFAULT = "NCT07240987"
RUN_KEYS = {
    "id", "command", "pid", "started_at", "ended_at", "duration_seconds", "outcome", "mode",
    "complete", "data_timestamp", "studies_checked", "new_studies", "changed", "unchanged",
    "new_versions", "errors", "requests", "error_messages", "versions_stored", "registry_changes",
}


def _history(fake, run):
    """Four runs: 2 new + a 404 (partial), a full run, nothing to do, an edit (changed)."""
    registry, server = fake
    assert run("sync", DEFAULT, "NCT00763412", "NCT99999999", api_url=server.url).exit_code == 1
    assert run("watch", "add", DEFAULT, api_url=server.url).exit_code == 0
    assert run("sync", api_url=server.url).exit_code == 0  # the first complete run
    assert run("sync", api_url=server.url).stderr.startswith("nothing to do")
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    registry.data_timestamp = "2026-09-05T09:00:00"
    assert run("sync", api_url=server.url).exit_code == 0


def test_status_json_shape(fake, run, db_path):
    _history(fake, run)
    result = run("status", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    status = json.loads(result.stdout)
    assert set(status) == {
        "database", "size_bytes", "studies", "watched", "queries", "versions", "changes",
        "flagged_changes", "removed", "last_complete_run", "runs", "clock_warnings", "obligations",
        "silent_edits", "notifications",
    }
    assert status["clock_warnings"] == []
    assert status["database"] == str(db_path)
    assert status["size_bytes"] == sum(
        os.path.getsize(p) for p in (db_path, f"{db_path}-wal") if os.path.exists(p)
    ) > 0
    assert {k: status[k] for k in ("studies", "watched", "queries", "versions", "changes", "flagged_changes",
                                   "removed")} == {
        "studies": 2, "watched": 1, "queries": 0, "versions": 3, "changes": 2, "flagged_changes": 1, "removed": 0,
    }
    runs = status["runs"]
    assert [set(r) for r in runs] == [RUN_KEYS] * 4  # `watch add` is not a run
    # Newest first: what a person reading it in the morning wants.
    assert [(r["id"], r["outcome"], r["mode"], r["studies_checked"], r["new_studies"], r["changed"],
             r["new_versions"], r["errors"], r["requests"]) for r in runs] == [
        (4, "ok", "full", 1, 0, 1, 1, 0, 2),
        # Nothing fetched: neither incremental nor full (a watchlist this small is never
        # incremental; issue 22 item 11).
        (3, "nothing-to-do", "nothing-to-do", 0, 0, 0, 0, 0, 1),
        (2, "ok", "full", 1, 0, 0, 0, 0, 2),
        (1, "partial", "ids", 2, 2, 0, 2, 1, 3),
    ]
    for r in runs:
        assert r["started_at"].endswith("Z") and r["ended_at"] >= r["started_at"]
        assert isinstance(r["duration_seconds"], float) and 0 <= r["duration_seconds"] < 30
    assert [r["error_messages"] for r in runs] == [[], [], [], [
        {"nct_id": "NCT99999999", "error": "NCT99999999 not found in the registry (HTTP 404)"}
    ]]
    assert status["last_complete_run"]["id"] == 4
    assert status["last_complete_run"]["data_timestamp"] == "2026-09-05T09:00:00"
    assert len(json.loads(run("status", "--json", "--runs", "2").stdout)["runs"]) == 2


def test_status_text(fake, run, db_path):
    _history(fake, run)
    result = run("status")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"database: {re.escape(str(db_path))} \(\d+\.\d KB\)", lines[0])
    assert lines[1:3] == [
        "studies: 2 (1 watched, 0 query watches, 0 removed from the registry)",
        "versions: 3; changes: 2 (1 flagged, the rest registry bookkeeping)",
    ]
    assert re.fullmatch(
        r"last complete run: #4 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(registry data of 2026-09-05T09:00:00\)",
        lines[3],
    )
    assert lines[4] == ""
    assert lines[5].split() == [
        "run", "started", "duration", "outcome", "command", "mode", "checked", "new", "changed", "versions",
        "errors", "requests",
    ]
    rows = [line.split() for line in lines[7:11]]
    # (date, time and UTC are three words)
    assert [r[3] for r in rows] == ["UTC"] * 4
    assert [[r[0], *r[5:]] for r in rows] == [
        ["4", "ok", "sync", "full", "1", "0", "1", "1", "0", "2"],
        ["3", "nothing-to-do", "sync", "-", "0", "0", "0", "0", "0", "1"],
        ["2", "ok", "sync", "full", "1", "0", "0", "0", "0", "2"],
        ["1", "partial", "sync", "ids", "2", "2", "0", "2", "1", "3"],
    ]
    assert all(re.fullmatch(r"\d+\.\ds", r[4]) for r in rows)
    assert len(lines) == 12 and re.fullmatch(  # the results obligations, judged today (issue 13)
        r"obligations on \d{4}-\d\d-\d\d: 0 overdue, 0 due \(in grace\), 0 submitted \(QC\), 0 reported late, "
        r"0 reported on time, 0 not yet due, 2 not applicable", lines[11])


def test_status_shows_an_interrupted_run_and_its_errors(fake, run, db_path):
    registry, server = fake
    assert run("sync", api_url=server.url).exit_code == 0
    store = Store.open_write(db_path)
    store.begin_run("sync", "full")  # a run that died without a word (SIGKILL, power loss)
    store.close()
    assert run("sync", "NCT99999999", api_url=server.url).exit_code == 1
    status = json.loads(run("status", "--json").stdout)
    assert [(r["outcome"], r["duration_seconds"]) for r in status["runs"]][1:] == [
        ("interrupted", None), ("ok", status["runs"][2]["duration_seconds"])
    ]
    text = run("status").stdout.splitlines()
    interrupted = [line for line in text if " interrupted " in line]
    assert len(interrupted) == 1 and interrupted[0].split()[4] == "-"  # duration unknown
    assert text[-2] == "  run 3 error: NCT99999999 not found in the registry (HTTP 404)"


def test_status_before_any_run_and_without_a_database(fake, run, db_path):
    missing = run("status")
    assert missing.exit_code == 4
    assert missing.stdout == ""
    assert missing.stderr == f"error: no database at {db_path} (run `regsync sync` first, or pass --db)\n"
    assert not db_path.exists()
    assert run("watch", "add", DEFAULT).exit_code == 0
    empty = run("status")
    assert empty.exit_code == 0
    assert empty.stdout.splitlines()[1:-1] == [
        "studies: 0 (1 watched, 0 query watches, 0 removed from the registry)",
        "versions: 0; changes: 0 (0 flagged, the rest registry bookkeeping)",
        "no runs yet",
    ]
    assert empty.stdout.splitlines()[-1].endswith(": 0 overdue, 0 due (in grace), 0 submitted (QC), "
                                                  "0 reported late, 0 reported on time, 0 not yet due, 0 not applicable")
    assert json.loads(run("status", "--json").stdout)["runs"] == []
