"""End to end through a real socket: the installed `regsync` console script, run as a
subprocess, against the local fake API (tests/support/fakeapi) on 127.0.0.1.

The real transport (requests over TCP), the entry point, stdout/stderr and the exit codes
are exercised here, not mocks. The subprocess helpers live in support.procs and the `fake`
fixture in conftest; the other subprocess test files (test_faults, test_lock, ...) share them.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from support.procs import HANG_GUARD, regsync_argv, regsync_env, run_regsync
from support.records import DATA_TS, edit, load
from support.results import DEFAULT, db_versions, summary


def test_the_console_script_is_the_installed_one():
    argv = regsync_argv()
    assert argv[0].endswith("regsync"), argv  # not the `python -m` fallback
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0
    assert result.stdout.startswith("regsync, version ")


def test_a_night_of_syncing_through_a_real_socket(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "trials.db"

    # 1. First sync of the default study.
    first = run_regsync(db, server.url, "sync")
    assert (first.returncode, first.stdout) == (0, f"{DEFAULT} new (v1)\n")
    assert first.stderr == summary(1, new=1, mode="full", requests=2) + "\n"
    assert [(r.path, r.status) for r in registry.requests] == [
        ("/api/v2/version", 200), (f"/api/v2/studies/{DEFAULT}", 200)
    ]
    request = registry.requests[1]
    assert request.query == {"format": ["json"], "markupFormat": ["markdown"]}

    # 2. Several studies in one run go through the batch endpoint (one request for all).
    registry.reset_log()
    ids = [DEFAULT, "NCT00763412", "NCT06171568"]
    multi = run_regsync(db, server.url, "sync", *ids)
    assert multi.returncode == 0, multi.stderr
    assert multi.stdout.splitlines() == [
        "NCT00763412 new (v1)", "NCT06171568 new (v1)", f"{DEFAULT} unchanged (v1)"
    ]
    assert multi.stderr == summary(3, new=2, unchanged=1, requests=2) + "\n"
    studies = registry.requests_for("studies")
    assert len(studies) == 1 and registry.count() == 2
    assert studies[0].query["filter.ids"] == [",".join(ids)]

    # 3. The registry publishes an edit (and a new data release): v2 with its changes.
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    registry.data_timestamp = "2026-09-05T09:00:00"
    changed = run_regsync(db, server.url, "sync")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == f"{DEFAULT} changed v1 -> v2 [minor]: status (milestone: RECRUITING)\n"
    assert db_versions(db) == [1, 2]

    # 4. A study the registry does not have: one line on stderr, exit 1, nothing stored.
    missing = run_regsync(db, server.url, "sync", "NCT99999999")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.splitlines() == [
        "error: NCT99999999 not found in the registry (HTTP 404)",
        summary(1, failed=1, requests=2),
    ]
    assert db_versions(db, "NCT99999999") == []

    # 5. An alias answers 301; the study is stored (here: confirmed) under its canonical ID.
    registry.alias("NCT00000102", DEFAULT)
    registry.reset_log()
    alias = run_regsync(db, server.url, "sync", "nct102")
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == f"NCT00000102 -> {DEFAULT} (alias) unchanged (v2)\n"
    assert [(r.path, r.status) for r in registry.requests] == [
        ("/api/v2/version", 200), ("/api/v2/studies/NCT00000102", 301), (f"/api/v2/studies/{DEFAULT}", 200)
    ]
    alias_json = run_regsync(db, server.url, "sync", "NCT00000102", "--json", "--force")
    assert json.loads(alias_json.stdout) == {
        "nct_id": DEFAULT, "requested_id": "NCT00000102", "status": "unchanged", "version": 2,
        "previous_version": None, "error": None,
    }
    assert alias_json.stderr == ""
    assert db_versions(db) == [1, 2]

    # 6. Reading it back: history, show, diff --json (read commands need no API).
    history = run_regsync(db, None, "history", DEFAULT, "--json")
    assert history.returncode == 0 and history.stderr == ""
    rows = json.loads(history.stdout)
    assert [(r["version"], r["overall_status"], r["last_update_post_date"]) for r in rows] == [
        (1, "NOT_YET_RECRUITING", "2025-12-24"), (2, "RECRUITING", "2026-02-01")
    ]
    assert [r["data_timestamp"] for r in rows] == [DATA_TS, "2026-09-05T09:00:00"]
    text = run_regsync(db, None, "history", DEFAULT)
    assert text.stdout.splitlines()[0] == f"{DEFAULT}: 2 versions"

    shown = run_regsync(db, None, "show", DEFAULT, "--version", "1")
    assert shown.returncode == 0 and json.loads(shown.stdout) == load(DEFAULT)
    latest = run_regsync(db, None, "show", DEFAULT)
    assert json.loads(latest.stdout) == registry.get(DEFAULT)

    diff = run_regsync(db, None, "diff", DEFAULT, "--json")
    assert diff.returncode == 0 and diff.stderr == ""
    body = json.loads(diff.stdout)
    assert (body["nct_id"], body["from_version"], body["to_version"]) == (DEFAULT, 1, 2)
    status_change = [c for c in body["changes"] if c["path"] == "protocolSection.statusModule.overallStatus"]
    assert len(status_change) == 1
    assert (status_change[0]["old"], status_change[0]["new"], status_change[0]["milestone"]) == (
        "NOT_YET_RECRUITING", "RECRUITING", True
    )


def test_exit_code_2_for_an_invalid_id_sends_nothing(fake, tmp_path):
    registry, server = fake
    result = run_regsync(tmp_path / "x.db", server.url, "sync", "NCT-1")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid NCT ID 'NCT-1': expected NCT followed by up to 8 digits (e.g. NCT07240987)"
    ]
    assert registry.requests == []
    assert not (tmp_path / "x.db").exists()


def test_python_dash_m_regsync_works_too(fake, tmp_path):
    _, server = fake
    result = subprocess.run(
        [sys.executable, "-m", "regsync", "--db", str(tmp_path / "m.db"), "--api-url", server.url, "sync"],
        capture_output=True, text=True, env=regsync_env(), timeout=HANG_GUARD,
    )
    assert (result.returncode, result.stdout) == (0, f"{DEFAULT} new (v1)\n")


def test_nothing_to_do_makes_one_request_and_force_overrides(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    assert run_regsync(db, server.url, "watch", "add", DEFAULT, "NCT00763412").returncode == 0
    assert run_regsync(db, server.url, "sync").returncode == 0
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT * FROM studies ORDER BY nct_id").fetchall()

    registry.reset_log()
    idle = run_regsync(db, server.url, "sync")
    assert idle.returncode == 0
    assert idle.stderr == (
        f"nothing to do: the registry's data has not changed since the last run (dataTimestamp {DATA_TS}); "
        "--force syncs anyway\n"
    )
    assert idle.stdout == ""
    assert [(r.path, r.status) for r in registry.requests] == [("/api/v2/version", 200)]
    quiet = run_regsync(db, server.url, "sync", "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    as_json = run_regsync(db, server.url, "sync", "--json")
    assert json.loads(as_json.stdout) == {"status": "nothing-to-do", "data_timestamp": DATA_TS}
    assert registry.count() == 3 and registry.count("version") == 3
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM studies ORDER BY nct_id").fetchall() == before  # stored nothing
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 2
        assert [r[0] for r in conn.execute("SELECT outcome FROM runs ORDER BY id")] == [
            "ok", "nothing-to-do", "nothing-to-do", "nothing-to-do"
        ]

    # --force syncs anyway.
    registry.reset_log()
    forced = run_regsync(db, server.url, "sync", "--force")
    assert forced.returncode == 0
    assert forced.stdout.splitlines() == ["NCT00763412 unchanged (v1)", f"{DEFAULT} unchanged (v1)"]
    assert registry.count() == 2 and registry.count("studies") == 1

    # A moved dataTimestamp means work again. A run of explicit IDs is not a complete run:
    # after one that saw a newer dataTimestamp, a plain sync still does the work.
    registry.data_timestamp = "2026-09-05T09:00:00"
    registry.reset_log()
    moved = run_regsync(db, server.url, "sync")
    assert moved.returncode == 0
    assert moved.stdout.splitlines() == ["NCT00763412 unchanged (v1)", f"{DEFAULT} unchanged (v1)"]
    assert registry.count("studies") == 1
    assert run_regsync(db, server.url, "sync", DEFAULT).returncode == 0
    registry.data_timestamp = "2026-09-06T09:00:00"
    assert run_regsync(db, server.url, "sync", DEFAULT).returncode == 0
    registry.reset_log()
    after_ids = run_regsync(db, server.url, "sync")
    assert not after_ids.stderr.startswith("nothing to do")
    assert registry.count("studies") == 1
