"""What runs do with studies over time (issue 10 items 2, 3, 8, 9, 13, 14; issue 11 item 10):
removals reported once, aliases resolved by every command, the ledger's outcomes, one line
for an outage, SIGTERM, explicit IDs with nothing to do, and a clock that is wrong.

Driven against the local fake API; the clock is moved by patching what the store stamps
rows with, never by waiting."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest
from support.cli import Cli
from support.fakeapi import Fault, synthesize
from support.procs import HANG_GUARD, popen_regsync, run_regsync
from support.records import edit, load
from support.results import DEFAULT, summary

from regsync import store as store_module
from regsync.cli import Clocks

OTHERS = ("NCT00763412", "NCT06171568")
IDS = (DEFAULT, *OTHERS)
TS1 = "2026-09-05T09:00:06"
TS2 = "2026-09-06T09:00:06"


def rows(db_path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


def asked_for(registry, nct_id: str) -> bool:
    """Whether the last runs asked the fake for this study, alone or in a filter.ids batch."""
    for r in registry.requests:
        if r.target == nct_id or nct_id in ",".join(r.query.get("filter.ids", [])).split(","):
            return True
    return False


def age_checks(db_path, nct_id: str, when: str = "2026-01-01T00:00:00.000000Z") -> None:
    """As if the study was last verified long ago (a week is enough for a removed study)."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE studies SET last_checked = ? WHERE nct_id = ?", [when, nct_id])


# -- issue 10 item 2: a removal is reported once ------------------------------------------------


def test_a_removal_is_reported_once_then_quiet_and_rechecked_weekly(fake, run, db_path):
    registry, server = fake
    gone = OTHERS[1]
    assert run("watch", "add", *IDS).exit_code == 0
    assert run("sync", "--quiet", api_url=server.url).exit_code == 0
    registry.remove(gone)
    registry.data_timestamp = TS1
    first = run("sync", "--quiet", api_url=server.url)
    assert (first.exit_code, first.stdout) == (
        0, f"{gone} removed: no longer returned by the registry (HTTP 404); stored versions kept\n"
    )

    # The next nights: not asked for, nothing printed.
    for ts in (TS2, "2026-09-07T09:00:06"):
        registry.data_timestamp = ts
        registry.reset_log()
        later = run("sync", "--quiet", api_url=server.url)
        assert (later.exit_code, later.stdout, later.stderr) == (0, "", "")
        assert not asked_for(registry, gone)
        assert asked_for(registry, DEFAULT)

    removed_at = rows(db_path, "SELECT removed_at FROM studies WHERE nct_id = ?", [gone])[0][0]
    day = removed_at[:10]
    listing = run("watch", "list").stdout.splitlines()
    assert f"removed from the registry {day}" in next(line for line in listing if line.startswith(gone))
    assert run("history", gone).stdout.splitlines()[0] == (
        f"{gone}: 1 version; removed from the registry since {day} (stored versions kept)"
    )

    # A week later it is asked for again: still gone, still quiet under --quiet.
    age_checks(db_path, gone)
    registry.data_timestamp = "2026-09-08T09:00:06"
    registry.reset_log()
    weekly = run("sync", "--quiet", api_url=server.url)
    assert (weekly.exit_code, weekly.stdout) == (0, "")
    assert asked_for(registry, gone)
    age_checks(db_path, gone)
    registry.data_timestamp = "2026-09-09T09:00:06"
    loud = run("sync", api_url=server.url)
    assert f"{gone} removed (since {day}): still not returned by the registry (HTTP 404); stored versions kept" in (
        loud.stdout.splitlines()
    )
    assert [k for (k,) in rows(db_path, "SELECT kind FROM events WHERE nct_id = ?", [gone])] == ["removed"]


def test_a_removed_study_that_comes_back_is_said_and_stored(fake, run, db_path):
    registry, server = fake
    back = OTHERS[0]
    record = registry.get(back)
    assert run("watch", "add", *IDS).exit_code == 0
    assert run("sync", api_url=server.url).exit_code == 0
    registry.remove(back)
    registry.data_timestamp = TS1
    assert "removed:" in run("sync", "--quiet", api_url=server.url).stdout
    day = rows(db_path, "SELECT removed_at FROM studies WHERE nct_id = ?", [back])[0][0][:10]

    registry.add(edit(record, overallStatus="RECRUITING"))
    age_checks(db_path, back)
    registry.data_timestamp = TS2
    result = run("sync", "--quiet", api_url=server.url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{back} is back in the registry (removed since {day})"
    assert lines[1].startswith(f"{back} changed v1 -> v2")
    assert len(lines) == 2
    assert rows(db_path, "SELECT removed_at, current_version FROM studies WHERE nct_id = ?", [back]) == [(None, 2)]
    assert [k for (k,) in rows(db_path, "SELECT kind FROM events WHERE nct_id = ? ORDER BY id", [back])] == [
        "removed", "reappeared"
    ]


def test_back_unchanged_is_said_under_quiet_and_in_json(fake, run, db_path):
    registry, server = fake
    record = registry.get(DEFAULT)
    assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    registry.remove(DEFAULT)
    registry.data_timestamp = TS1
    assert run("sync", DEFAULT, "--json", api_url=server.url).exit_code == 0
    day = rows(db_path, "SELECT removed_at FROM studies")[0][0][:10]
    registry.add(record)
    registry.data_timestamp = TS2
    quiet = run("sync", DEFAULT, "--quiet", api_url=server.url)
    assert quiet.stdout == f"{DEFAULT} is back in the registry (removed since {day})\n"
    registry.remove(DEFAULT)
    registry.data_timestamp = "2026-09-07T09:00:06"
    assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    registry.add(record)
    registry.data_timestamp = "2026-09-08T09:00:06"
    line = json.loads(run("sync", DEFAULT, "--json", api_url=server.url).stdout)
    assert (line["status"], line["removed_since"][:10]) == ("unchanged", day)


# -- issue 10 item 3: aliases resolved everywhere ----------------------------------------------


def test_an_alias_works_in_every_command_that_takes_an_id(fake, run, db_path):
    registry, server = fake
    registry.alias("NCT00000102", DEFAULT)
    assert run("watch", "add", "NCT00000102").exit_code == 0
    assert run("sync", api_url=server.url).stdout == f"NCT00000102 -> {DEFAULT} (alias) new (v1)\n"
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    registry.data_timestamp = TS1
    assert run("sync", "NCT00000102", api_url=server.url).exit_code == 0
    note = f"(NCT00000102 is now {DEFAULT})\n"

    history = run("history", "NCT00000102")
    assert (history.exit_code, history.stderr) == (0, note)
    assert history.stdout.splitlines()[0] == f"{DEFAULT}: 2 versions"
    show = run("show", "NCT00000102", "--version", "1")
    assert (show.exit_code, show.stderr, json.loads(show.stdout)) == (0, note, load(DEFAULT))
    diff = run("diff", "NCT00000102", "--json")
    assert (diff.exit_code, diff.stderr) == (0, note)
    assert json.loads(diff.stdout)["nct_id"] == DEFAULT
    changes = run("changes", "--nct", "NCT00000102", "--json")
    assert changes.exit_code == 0
    assert {c["nct_id"] for c in json.loads(changes.stdout)} == {DEFAULT}
    assert json.loads(changes.stdout)
    # The alias event is stored once, however often the old number is synced.
    for ts in (TS2, "2026-09-07T09:00:06"):
        registry.data_timestamp = ts
        assert run("sync", "NCT00000102", api_url=server.url).exit_code == 0
    assert rows(db_path, "SELECT COUNT(*) FROM events WHERE kind = 'alias'") == [(1,)]
    removed = run("watch", "remove", "NCT00000102")
    assert (removed.exit_code, removed.stdout, removed.stderr) == (0, f"{DEFAULT} removed\n", note)
    assert rows(db_path, "SELECT nct_id FROM watchlist") == []


def test_an_unknown_id_is_still_an_error_with_the_hint(run, fake):
    assert run("watch", "add", DEFAULT).exit_code == 0
    missing = run("history", "NCT00000102")
    assert missing.exit_code == 1
    assert missing.stderr == "error: NCT00000102 is not in the database (run: regsync sync NCT00000102)\n"
    # Doing what the hint says makes the old number work.
    registry, server = fake
    registry.alias("NCT00000102", DEFAULT)
    assert run("sync", "NCT00000102", api_url=server.url).exit_code == 0
    history = run("history", "NCT00000102")
    assert (history.exit_code, history.stderr) == (0, f"(NCT00000102 is now {DEFAULT})\n")


# -- issue 10 items 8 and 9: the ledger of a run the registry did not answer --------------------


def test_a_run_in_which_nothing_synced_is_failed_and_some_synced_is_partial(fake, run, db_path):
    registry, server = fake
    for target in ("studies", *IDS):
        registry.fail(target, Fault.status(503))
    assert run("sync", *IDS, "--retries", "0", api_url=server.url).exit_code == 1
    registry.clear_faults()
    assert run("sync", DEFAULT, "NCT99999999", "--force", api_url=server.url).exit_code == 1
    assert [o for (o,) in rows(db_path, "SELECT outcome FROM runs ORDER BY id")] == ["failed", "partial"]


def test_an_outage_is_one_line_in_sync_and_in_status(fake_api, run, db_path):
    records = list(synthesize(30))
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    registry, server = fake_api(records)
    assert run("watch", "add", *ids).exit_code == 0
    assert run("sync", api_url=server.url).exit_code == 0
    for target in ("studies", *ids):
        registry.fail(target, *[Fault.status(503)] * 2)
    result = run("sync", "--full", "--retries", "0", api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    cause = f"{ids[1]}: HTTP 503 (server error) after 1 attempt"
    assert result.stderr.splitlines() == [
        f"error: {ids[0]}: HTTP 503 (server error) after 1 attempt",
        f"error: {cause}",
        ("error: 28 studies not attempted: the registry is unreachable "
         f"(3 requests in a row failed; the last: {cause})"),
        summary(30, failed=30, mode="full", requests=4),
    ]
    status = run("status").stdout.splitlines()
    errors = [line for line in status if line.startswith("  run 2")]
    assert errors == [
        f"  run 2 error: {ids[0]}: HTTP 503 (server error) after 1 attempt",
        f"  run 2 error: {cause}",
        ("  run 2 error: 28 studies not attempted: the registry is unreachable "
         f"(3 requests in a row failed; the last: {cause})"),
    ]
    assert rows(db_path, "SELECT outcome, errors FROM runs WHERE id = 2") == [("failed", 30)]
    json_lines = [json.loads(line) for line in run(
        "sync", "--full", "--retries", "0", "--json", api_url=server.url).stdout.splitlines()]
    assert len(json_lines) == 3
    assert json_lines[-1]["nct_id"] == "-" and json_lines[-1]["status"] == "error"
    assert json_lines[-1]["not_attempted"] == ids[2:]


# -- issue 10 item 13: SIGTERM, and which command a run was ------------------------------------


def test_sigterm_is_recorded_interrupted_and_exits_143(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "t.db"
    assert run_regsync(db, server.url, "sync", DEFAULT).returncode == 0
    hold = registry.hold("studies")
    proc = popen_regsync(db, server.url, "sync", DEFAULT, "NCT00763412", "--force",
                         "--timeout", str(int(HANG_GUARD)))
    try:
        hold.wait_arrived()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == "error: terminated (SIGTERM)"
    assert "Traceback" not in err
    assert rows(db, "SELECT command, outcome FROM runs ORDER BY id") == [("sync", "ok"), ("sync", "interrupted")]
    assert rows(db, "SELECT COUNT(*) FROM versions") == [(1,)]
    status = run_regsync(db, None, "status").stdout.splitlines()
    header = next(line for line in status if line.startswith("run ")).split()
    assert header[:6] == ["run", "started", "duration", "outcome", "command", "mode"]
    assert [line.split()[5:7] for line in status if line[:1].isdigit()] == [
        ["interrupted", "sync"], ["ok", "sync"]
    ]


def test_status_names_the_command_of_each_run(fake, run):
    _, server = fake
    assert run("sync", api_url=server.url).exit_code == 0
    assert run("reclassify").exit_code == 0
    runs = json.loads(run("status", "--json").stdout)["runs"]
    assert [(r["command"], r["outcome"]) for r in runs] == [("reclassify", "ok"), ("sync", "ok")]
    text = [line.split() for line in run("status").stdout.splitlines() if line[:1].isdigit()]
    assert [r[6] for r in text] == ["reclassify", "sync"]


# -- issue 10 item 14: explicit IDs with nothing to do ------------------------------------------


def test_explicit_ids_checked_under_this_data_timestamp_are_nothing_to_do(fake, run):
    registry, server = fake
    assert run("sync", DEFAULT, "NCT00763412", api_url=server.url).exit_code == 0
    registry.reset_log()
    again = run("sync", "NCT00763412", DEFAULT, api_url=server.url)
    assert (again.exit_code, again.stdout) == (0, "")
    assert again.stderr == (
        "nothing to do: the registry's data has not changed since these studies were last checked "
        "(dataTimestamp 2026-09-04T09:00:06); --force syncs anyway\n"
    )
    assert [r.target for r in registry.requests] == ["version"]
    # An ID known only as an alias of a checked study counts as checked.
    registry.alias("NCT00000102", DEFAULT)
    assert run("sync", "NCT00000102", "--force", api_url=server.url).exit_code == 0
    registry.reset_log()
    assert run("sync", "NCT00000102", api_url=server.url).stderr.startswith("nothing to do")
    assert [r.target for r in registry.requests] == ["version"]
    # Any of these fetches: --force, an ID never stored, the registry's data moved.
    for args in (("--force", DEFAULT), (DEFAULT, "NCT06171568")):
        registry.reset_log()
        assert run("sync", *args, api_url=server.url).exit_code == 0
        assert len(registry.requests) > 1
    registry.data_timestamp = TS1
    registry.reset_log()
    moved = run("sync", DEFAULT, api_url=server.url)
    assert moved.stdout == f"{DEFAULT} unchanged (v1)\n"
    assert run("sync", DEFAULT, api_url=server.url).stderr.startswith("nothing to do")


# -- issue 11 item 10: the clock ------------------------------------------------------------------


def _clock_at(monkeypatch, stamp: str) -> None:
    """Every time the store writes is ``stamp``: a run under faketime."""
    monkeypatch.setattr(store_module, "utcnow", lambda: stamp)


def test_a_run_with_the_clock_far_ahead_does_not_break_the_rolling_recheck(fake_api, run, db_path, monkeypatch):
    records = list(synthesize(30))
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    registry, server = fake_api(records)
    assert run("watch", "add", *ids).exit_code == 0
    with monkeypatch.context() as m:
        _clock_at(m, "2046-12-02T03:00:00.000000Z")  # faketime +20y
        assert run("sync", api_url=server.url).exit_code == 0
    verified: set[str] = set()
    for night in range(10):
        registry.data_timestamp = f"2026-09-{5 + night:02d}T09:00:06"
        registry.reset_log()
        result = run("sync", "--quiet", "--recheck", "0.1", api_url=server.url)
        assert result.exit_code == 0, result.output
        asked = [i for r in registry.requests if "filter.ids" in r.query for i in r.query["filter.ids"][-1].split(",")]
        assert len(asked) == 3
        verified.update(asked)
    assert verified == set(ids)
    # status says the clock was wrong: a run in the future, the next one starting before it.
    warnings = json.loads(run("status", "--json", "--runs", "20").stdout)["clock_warnings"]
    assert any(w.startswith("run 2 started at 2026-") and "before run 1 (2046-12-02 03:00:00)" in w for w in warnings)
    assert "run 1 started at 2046-12-02 03:00:00, in the future: the clock was ahead" in warnings
    text = run("status", "--runs", "20").stdout.splitlines()
    assert "clock: run 1 started at 2046-12-02 03:00:00, in the future: the clock was ahead" in text


def test_a_query_watch_added_while_the_clock_is_behind_is_synced(fake, run, monkeypatch):
    registry, server = fake
    assert run("watch", "add", DEFAULT).exit_code == 0
    assert run("sync", api_url=server.url).exit_code == 0  # a complete run, dated now
    registry.set_query("kidney", ["NCT00763412"])
    with monkeypatch.context() as m:
        _clock_at(m, "2020-01-01T00:00:00.000000Z")  # the clock set back
        assert run("watch", "add", "--query", "kidney").exit_code == 0
    result = run("sync", api_url=server.url)
    assert result.exit_code == 0
    assert "NCT00763412 new (v1)" in result.stdout.splitlines()


def test_durations_come_from_the_monotonic_clock(fake, db_path, monkeypatch):
    _, server = fake
    ticks = iter(range(0, 10_000, 5))
    clock = lambda: float(next(ticks))
    run = Cli(db_path, Clocks(sleep=lambda s: None, monotonic=clock))
    stamps = iter(["2026-11-25T02:00:00.000000Z"] + ["2026-11-25T01:00:00.000000Z"] * 50)
    with monkeypatch.context() as m:
        m.setattr(store_module, "utcnow", lambda: next(stamps))  # the clock goes back mid-run
        assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    (r,) = json.loads(run("status", "--json").stdout)["runs"]
    assert r["ended_at"] < r["started_at"]
    assert r["duration_seconds"] is not None and r["duration_seconds"] > 0
    assert r["duration_seconds"] % 5 == 0  # whole ticks of the injected clock
    assert "-" not in run("status").stdout.splitlines()[-1].split()[4]


@pytest.mark.parametrize("outcome", ["ok", "nothing-to-do"])
def test_negative_wall_clock_durations_are_not_shown(outcome):
    from regsync.render import duration_seconds

    run = {"started_at": "2026-11-25T02:00:00.000000Z", "ended_at": "2026-11-25T01:00:00.000000Z",
           "outcome": outcome, "duration_seconds": None}
    assert duration_seconds(run) is None


def test_a_library_run_records_the_command_it_is_given(fake, db_path):
    from regsync.client import ApiClient, ClientConfig
    from regsync.store import Store
    from regsync.sync import run_sync

    _, server = fake
    client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
    with Store.open_write(db_path) as store:
        run_sync(store, client, [DEFAULT], command="watch add --sync")
        run_sync(store, client, [DEFAULT], force=True)
    assert rows(db_path, "SELECT command FROM runs ORDER BY id") == [("watch add --sync",), ("sync",)]


def test_aliases_a_record_lists_resolve_without_a_redirect(fake_api, run):
    record = load(DEFAULT)
    record["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00000102", {"odd": 1}]
    _, server = fake_api([record])
    assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    added = run("watch", "add", "NCT00000102")
    assert (added.stdout, added.stderr) == (f"{DEFAULT} added\n", f"(NCT00000102 is now {DEFAULT})\n")
    assert run("history", "NCT00000102").exit_code == 0


def test_the_0005_migration_fills_aliases_from_what_was_stored_before(db_path):
    import sqlite_utils

    from regsync.store import Store, build_migrations, content_hash

    db = sqlite_utils.Database(db_path)
    build_migrations().apply(db, stop_before="0005_run_command")
    record = load(DEFAULT)
    record["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00000077"]
    when = "2026-01-01T00:00:00.000000Z"
    db.execute(
        "INSERT INTO studies (nct_id, current_version, content_hash, first_seen, last_checked, last_changed) "
        "VALUES (?, 1, ?, ?, ?, ?)", [DEFAULT, content_hash(record), when, when, when],
    )
    db.execute(
        "INSERT INTO versions (nct_id, version, fetched_at, content_hash, source, requested_id, record) "
        "VALUES (?, 1, ?, ?, 'x', 'NCT00000055', ?)", [DEFAULT, when, content_hash(record), json.dumps(record)],
    )
    db.execute(
        "INSERT INTO events (nct_id, kind, detail, detected_at) VALUES (?, 'alias', ?, ?)",
        [DEFAULT, f"NCT00000102 is an alias of {DEFAULT}", when],
    )
    db.conn.commit()
    db.close()
    with Store.open_write(db_path) as store:
        assert [store.resolve_id(n) for n in ("NCT00000102", "NCT00000055", "NCT00000077", "NCT00000001")] == [
            DEFAULT, DEFAULT, DEFAULT, "NCT00000001"
        ]


def test_status_lists_at_most_ten_errors_of_the_latest_run():
    from regsync.render import status_text

    run = {"id": 9, "started_at": "2026-11-25T02:00:00.000000Z", "ended_at": "2026-11-25T02:00:01.000000Z",
           "duration_seconds": 1.0, "outcome": "partial", "command": "sync", "mode": "ids",
           "studies_checked": 1, "new_studies": 0, "changed": 0, "errors": 12, "requests": 13,
           "error_messages": [{"nct_id": f"NCT{i:08d}", "error": f"NCT{i:08d}: HTTP 500"} for i in range(12)]}
    counts = {"studies": 1, "watched": 0, "queries": 0, "versions": 1, "changes": 0, "flagged_changes": 0,
              "removed": 0}
    lines = status_text([run], counts, "r.db", 1, None).splitlines()
    assert [line for line in lines if line.startswith("  run 9")] == [
        *(f"  run 9 error: NCT{i:08d}: HTTP 500" for i in range(10)),
        "  run 9: 2 more errors (status --json lists them)",
    ]
