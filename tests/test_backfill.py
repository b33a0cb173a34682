"""Issue 12 items 1, 3 and 7: `regsync backfill` from the registry's own history (the fake's
history endpoints), one timeline without duplicates, markup never a change, 403 and 429,
and resumption after SIGKILL."""

from __future__ import annotations

import copy
import json
import re
import signal
import sqlite3

import pytest
from support.fakeapi import Fault, history_markup
from support.procs import popen_regsync, run_regsync
from support.records import FIXTURES, load

from regsync.normalize import normalize_record, normalize_text, normalized_hash
from regsync.store import Store

NCT = "NCT07240987"
DATES = ("2025-11-20", "2025-12-10", "2025-12-24")


def _versions() -> list[dict]:
    """Three versions, each submitted on its date of DATES and posted three days later."""
    first = load(NCT)
    second = copy.deepcopy(first)
    second["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    third = copy.deepcopy(second)
    third["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 40
    for record, day, posted in zip((first, second, third), DATES, ("2025-11-23", "2025-12-13", "2025-12-27"),
                                   strict=True):
        status = record["protocolSection"]["statusModule"]
        status["lastUpdateSubmitDate"] = day
        status["lastUpdatePostDateStruct"] = {"date": posted, "type": "ACTUAL"}
    return [first, second, third]


@pytest.fixture
def history(fake):
    """The fake serving NCT07240987 as its third version, with a history of three, HTML-marked
    up as the website sends it; only a browser's TLS (curl) is served."""
    registry, server = fake
    versions = _versions()
    registry.add(versions[-1])
    for day, record in zip(DATES, versions, strict=True):
        registry.add_history(NCT, day, history_markup(record))
    registry.screen_clients = True
    return registry, server


def today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


def _rows(db_path) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT version, registry_version, registry_date, source = 'registry-history', module_labels "
            "FROM versions ORDER BY version"
        ).fetchall()
    finally:
        conn.close()


def _changes(db_path) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT from_version, to_version, category, summary FROM changes WHERE severity != 'admin' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_backfill_stores_the_past_and_links_the_own_snapshot(history, run, db_path):
    registry, server = history
    assert run("sync", NCT, api_url=server.url).stdout == f"{NCT} new (v1)\n"
    registry.reset_log()
    result = run("backfill", NCT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    # Renumbering is said once; versions are named 1-based as on the registry's website.
    assert result.stdout == (
        f"{NCT} is now numbered as the registry numbers its versions: v1 is now v3\n"
        f"{NCT} backfilled: 2 registry versions stored (1-2), own v1 is registry version 3 of 3\n"
    )
    assert result.stderr == "backfill: 1 study, 2 registry versions stored, 1 linked to own snapshots (4 requests)\n"
    assert [r.path for r in registry.requests] == [
        f"/api/int/studies/{NCT}", f"/api/int/studies/{NCT}/history/0",
        f"/api/int/studies/{NCT}/history/1", f"/api/int/studies/{NCT}/history/2",
    ]
    # The own snapshot IS registry version 2 (0-based): no second copy of it.
    assert _rows(db_path) == [
        (1, 2, "2025-12-24", 0, '["designModule","statusModule"]'),
        (2, 0, "2025-11-20", 1, "[]"),
        (3, 1, "2025-12-10", 1, '["statusModule"]'),
    ]
    # Successive versions of the chain classified like any others, and the HTML markup is no change.
    assert _changes(db_path) == [
        (2, 3, "status", "Overall status: NOT_YET_RECRUITING -> RECRUITING"),
        (3, 1, "enrollment", "Enrollment: 32 -> 40 (ESTIMATED, +25%)"),
    ]
    with Store.open_read(db_path) as store:  # every payload kept exactly as it came
        assert store.record(NCT, 2) == history_markup(_versions()[0])
        assert store.record(NCT, 1) == _versions()[2]
    lines = run("history", NCT).stdout.splitlines()
    assert lines[:3] == [
        f"{NCT}: 3 versions (numbered as on the registry's website)",
        "version  submitted   posted      stored                   source       status              hash",
        "-------  ----------  ----------  -----------------------  -----------  ------------------  ------------",
    ]
    assert [line.split()[:3] + line.split()[6:8] for line in lines[3:]] == [
        ["1", "2025-11-20", "2025-11-23", "history", "NOT_YET_RECRUITING"],
        ["2", "2025-12-10", "2025-12-13", "history", "RECRUITING"],
        ["3", "2025-12-24", "2025-12-27", "api+history", "RECRUITING"],
    ]
    diffed = json.loads(run("diff", NCT, "--json").stdout)
    assert (diffed["from_version"], diffed["to_version"]) == (2, 3)  # the one before it in the chain
    first = run("diff", NCT, "--to", "1")
    assert first.stdout == f"{NCT} v1 is the first version; nothing before it to compare\n"
    whole = json.loads(run("diff", NCT, "--from", "1", "--to", "3", "--json").stdout)
    assert sorted(c["category"] for c in whole["changes"] if c["severity"] != "admin") == ["enrollment", "status"]


def test_a_second_backfill_fetches_only_what_it_lacks(history, run, db_path):
    registry, server = history
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    registry.reset_log()
    again = run("backfill", api_url=server.url)  # the watchlist is empty: the default study
    assert again.stdout == f"{NCT} up to date (3 registry versions)\n"
    assert again.stderr == "backfill: 1 study, 0 registry versions stored, 0 linked to own snapshots (1 request)\n"
    assert registry.count("history") == 1
    fourth = copy.deepcopy(_versions()[-1])
    fourth["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    registry.add_history(NCT, "2026-01-15", history_markup(fourth))
    registry.reset_log()
    quiet = run("backfill", "-q", api_url=server.url)
    assert (quiet.stdout, quiet.stderr) == (f"{NCT} backfilled: 1 registry version stored (4) of 4\n", "")
    assert [r.path for r in registry.requests] == [f"/api/int/studies/{NCT}", f"/api/int/studies/{NCT}/history/3"]
    assert _changes(db_path)[-1] == (1, 4, "status", "Overall status: RECRUITING -> ACTIVE_NOT_RECRUITING")
    nothing = run("backfill", "--quiet", api_url=server.url)
    assert (nothing.exit_code, nothing.stdout, nothing.stderr) == (0, "", "")


def test_backfill_of_a_study_never_synced_syncs_it_first(history, run, db_path):
    registry, server = history
    result = run("backfill", NCT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"{NCT} is now numbered as the registry numbers its versions: v1 is now v3\n"
        f"{NCT} backfilled: 2 registry versions stored (1-2), own v1 is registry version 3 of 3\n"
    )
    assert registry.requests[0].path == f"/api/v2/studies/{NCT}"
    # A later sync of the same content is unchanged: its hash is the own snapshot's.
    assert run("sync", NCT, "--force", api_url=server.url).stdout == f"{NCT} unchanged (v3)\n"
    registry.add(dict(_versions()[-1], hasResults=True))
    # Not in the registry's history yet (no fill-in here): named after version 3.
    assert run("sync", NCT, "--force", api_url=server.url).stdout.startswith(f"{NCT} changed v3 -> v3a")


def test_a_403_stops_the_backfill_in_one_line_and_keeps_own_snapshots(history, run, db_path):
    registry, server = history
    run("sync", NCT, api_url=server.url)
    before = _rows(db_path)
    registry.fail("history", Fault.status(403, body="<html>Access Denied</html>", content_type="text/html"))
    result = run("backfill", NCT, api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: backfill stopped at {NCT}: the registry refused this client (HTTP 403) on {NCT} history: "
        "it refuses even a browser's TLS handshake now; try again later; nothing stored; "
        "0 registry versions stored before it are kept, own snapshots untouched; run it again to continue\n"
        "backfill: 1 study, 0 registry versions stored, 0 linked to own snapshots (1 request)\n"
    )
    assert _rows(db_path) == before
    assert run("status", "--json").exit_code == 0


def _kill_at_history_request(registry, answered: int, db, url: str, *args: str, **env: str) -> None:
    """Run ``regsync *args`` until the history request after the first ``answered`` arrives
    (held unanswered), then SIGKILL it there."""
    hold = registry.hold("history", times=0)
    _after(registry, answered, Fault.hold(hold))
    proc = popen_regsync(db, url, *args, **env)
    try:
        hold.wait_arrived()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        hold.release()


def _after(registry, answered: int, *faults) -> None:
    """The history requests after the first ``answered`` meet ``faults``, one each, in order
    (the fake's queue pops one per request from the first)."""
    queue = list(faults)
    seen = {"n": 0}
    original = registry._next_fault

    def scripted(target):
        if target == "history":
            seen["n"] += 1
            if seen["n"] > answered and queue:
                return queue.pop(0)
        return original(target)

    registry._next_fault = scripted


def test_a_429_that_outlasts_the_retries_keeps_what_was_stored(history, run, db_path, slept):
    registry, server = history
    run("sync", NCT, api_url=server.url)
    registry.fail("history", Fault.status(429, retry_after="3"))
    assert run("backfill", NCT, "--retries", "1", api_url=server.url).exit_code == 0
    assert 3.0 in slept  # Retry-After waited for, then served
    fresh = copy.deepcopy(_versions()[-1])
    fresh["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    registry.add_history(NCT, "2026-02-01", history_markup(fresh))
    registry.add_history(NCT, "2026-03-01", history_markup(dict(fresh, hasResults=True)))
    # The index and version 3 come through; version 4 meets 429 on both tries (--retries 1).
    _after(registry, 2, Fault.status(429, retry_after="1"), Fault.status(429, retry_after="1"))
    result = run("backfill", NCT, "--retries", "1", api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"error: backfill stopped at {NCT}: {NCT} history version 4: HTTP 429 (rate limited) after 2 attempts; "
        "1 registry version stored before it are kept, own snapshots untouched; run it again to continue"
    )
    assert [r[1] for r in _rows(db_path)] == [2, 0, 1, 3]
    resumed = run("backfill", NCT, api_url=server.url)
    assert resumed.stdout == f"{NCT} backfilled: 1 registry version stored (5) of 5\n"


def test_markup_is_never_a_change():
    # The real history payload's way of writing ">/=18" against the API's markdown.
    assert normalize_text("Male or female adult &gt;&#x2F;=18 years") == "Male or female adult >/=18 years"
    assert normalize_text("Male or female adult \\>/=18 years") == "Male or female adult >/=18 years"
    assert normalize_text("a &amp;#x2F; b") == "a / b"  # escaped twice
    assert normalize_text("<p>Inclusion Criteria:</p><ol><li>Consent.</li><li>Age</li></ol>") == (
        "Inclusion Criteria: Consent. Age"
    )
    assert normalize_text("Inclusion Criteria:\n\n* Consent.\n* Age") == "Inclusion Criteria: Consent. Age"
    assert normalize_text("**Bold** and [a link](https://example.org)") == "Bold and a link"
    assert normalize_text("NOT_YET_RECRUITING") == "NOT_YET_RECRUITING"
    for name in ("NCT07240987", "NCT00763412", "NCT02513394"):
        record = load(name)
        assert normalized_hash(history_markup(record)) == normalized_hash(record), name
    real = json.loads((FIXTURES / "history_NCT04280705_v0.json").read_text())["study"]
    criteria = normalize_record(real)["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert re.search(r"</?[a-zA-Z][^<>]*>", criteria) is None  # no tag left
    assert "&" not in criteria and ">/=18 years" in criteria and "SpO2 </= 94%" in criteria


def test_a_killed_backfill_keeps_what_it_stored_and_continues(fake, tmp_path):
    registry, server = fake
    record = load(NCT)
    registry.add(record)
    for n in range(8):
        version = copy.deepcopy(record)
        version["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 10 + n
        registry.add_history(NCT, f"2025-0{n + 1}-01", history_markup(version))
    db = tmp_path / "kill.db"
    assert run_regsync(db, server.url, "sync", NCT).returncode == 0
    # The 6th history request (version 4) is held: versions 0-3 are stored by then.
    _kill_at_history_request(registry, 5, db, server.url, "backfill", NCT)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = [r[0] for r in conn.execute(
            "SELECT registry_version FROM versions WHERE source = 'registry-history' ORDER BY registry_version")]
    finally:
        conn.close()
    assert stored == [0, 1, 2, 3]
    registry.reset_log()
    done = run_regsync(db, server.url, "backfill", NCT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{NCT} backfilled: 4 registry versions stored (5-8) of 8\n"
    assert [r.path.rsplit("/", 1)[-1] for r in registry.requests_for("history")] == [NCT, "4", "5", "6", "7"]
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute("SELECT command, outcome FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()
    assert runs[-2:] == [("backfill", "interrupted"), ("backfill", "ok")]


def test_sync_and_watch_add_with_backfill(history, run, db_path):
    registry, server = history
    synced = run("sync", NCT, "--backfill", api_url=server.url)
    assert synced.exit_code == 0, synced.stderr
    assert synced.stdout == (
        f"{NCT} new (v1)\n"
        f"{NCT} is now numbered as the registry numbers its versions: v1 is now v3\n"
        f"{NCT} backfilled: 2 registry versions stored (1-2), own v1 is registry version 3 of 3\n"
    )
    assert synced.stderr.splitlines() == [
        "1 study: 1 new, 0 changed, 0 unchanged, 0 failed (ids, 2 requests)",
        "backfill: 1 study, 2 registry versions stored, 1 linked to own snapshots (4 requests)",
    ]
    quiet = run("sync", NCT, "--force", "--backfill", "-q", api_url=server.url)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    registry.fail("history", Fault.status(403))
    refused = run("sync", NCT, "--force", "--backfill", "-q", api_url=server.url)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.startswith(f"error: backfill stopped at {NCT}: the registry refused this client (HTTP 403)")
    other = load("NCT06171568")
    registry.add_history("NCT06171568", "2024-05-01", history_markup(other))
    added = run("watch", "add", "NCT06171568", "--backfill", api_url=server.url)
    assert added.exit_code == 0, added.stderr
    assert added.stdout == (
        "NCT06171568 added\n"
        "NCT06171568 backfilled: own v1 is registry version 1 of 1\n"
    )


def test_diff_from_first_latest_or_a_date(history, run):
    registry, server = history
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    original = run("diff", NCT, "--from", "first")
    assert original.exit_code == 0, original.stderr
    lines = original.stdout.splitlines()
    assert lines[0] == f"{NCT} v1 -> v3  (submitted 2025-12-24, posted 2025-12-27)"  # as registered against now
    assert "  minor    Overall status: NOT_YET_RECRUITING -> RECRUITING  [milestone]" in lines
    assert "  minor    Enrollment: 32 -> 40 (ESTIMATED, +25%)" in lines
    # What the public registry showed on 2025-12-15: version 2 (posted 2025-12-13).
    dated = json.loads(run("diff", NCT, "--from", "2025-12-15", "--to", "latest", "--json").stdout)
    assert (dated["from_version"], dated["to_version"]) == (2, 3)
    # Submitted on 2025-12-10 but posted on 2025-12-13: not shown on 2025-12-12.
    shown = json.loads(run("diff", NCT, "--from", "2025-12-12", "--to", "2025-12-13", "--json").stdout)
    assert (shown["from_version"], shown["to_version"]) == (1, 2)
    assert [c["category"] for c in dated["changes"] if c["severity"] != "admin"] == ["enrollment"]
    early = run("diff", NCT, "--from", "2025-01-01")
    assert early.exit_code == 2
    assert early.stderr == (f"error: --from 2025-01-01: {NCT} has no version the registry showed by then "
                            "(the first: 2025-11-23)\n")
    backwards = run("diff", NCT, "--from", "latest", "--to", "first")
    assert (backwards.exit_code, backwards.stderr) == (2, "error: --from 3 is after --to 1 in the registry's order\n")


def test_a_silent_edit_is_flagged(fake, run, db_path, monkeypatch):
    """The sponsor's record changes with no new version in the registry's history: the own
    snapshot claims (lastUpdateSubmitDate) to be registry version 2 but differs from it. It
    is a variant of that version (2a), never a registry number of its own."""
    monkeypatch.setenv("REGSYNC_FILL_IN", "1")
    registry, server = fake
    first, second = _versions()[:2]
    submitted = second["protocolSection"]["statusModule"]["lastUpdateSubmitDate"]  # 2025-12-10
    registry.add(second)
    registry.add_history(NCT, "2025-11-20", history_markup(first))
    registry.add_history(NCT, submitted, history_markup(second))
    run("sync", NCT, api_url=server.url)
    assert run("backfill", NCT, api_url=server.url).stdout == (
        f"{NCT} is now numbered as the registry numbers its versions: v1 is now v2\n"
        f"{NCT} backfilled: 1 registry version stored (1), own v1 is registry version 2 of 2\n"
    )
    edited = copy.deepcopy(second)
    edited["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 45
    registry.add(edited)  # same lastUpdateSubmitDate, no new history version
    detail = re.compile(rf"the record fetched \d{{4}}-\d\d-\d\d differs from registry version 2 \(submitted {submitted}\) "
                        "with no new version in the registry's history: enrollment")
    # The sync reads the index of a study that changed, and finds no new version.
    synced = run("sync", NCT, "--force", "-q", api_url=server.url)
    assert (synced.exit_code, synced.stderr) == (0, "")
    changed, edit = synced.stdout.splitlines()
    assert changed == f"{NCT} changed v2 -> v2a [minor]: enrollment"
    assert edit.startswith(f"{NCT} silent edit: ") and detail.fullmatch(edit.split("silent edit: ", 1)[1])
    again = run("backfill", NCT, "-q", api_url=server.url)  # reported once
    assert (again.stdout, again.stderr) == ("", "")
    assert [line.split()[0] for line in run("history", NCT).stdout.splitlines()[3:]] == ["1", "2", "2a"]
    listed = run("changes").stdout.splitlines()
    assert detail.search(listed[-1]) and f"  {NCT} silent edit: " in listed[-1]
    status = run("status")
    assert "silent edits: 1 (newest " in status.stdout
    (found,) = [e["detail"] for e in json.loads(run("status", "--json").stdout)["silent_edits"]]
    assert detail.fullmatch(found)


def test_versions_missed_between_two_syncs_are_filled_in(history, run, db_path, monkeypatch):
    monkeypatch.setenv("REGSYNC_FILL_IN", "1")
    registry, server = history
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    # The sponsor submits twice between two polls: registry versions 4 and 5 (1-based).
    third = _versions()[-1]
    fourth = copy.deepcopy(third)
    fourth["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    fifth = copy.deepcopy(fourth)
    fifth["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 44
    fifth["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-01-20"
    registry.add_history(NCT, "2026-01-10", history_markup(fourth))
    registry.add_history(NCT, "2026-01-20", history_markup(fifth))
    registry.add(fifth)
    registry.reset_log()
    result = run("sync", NCT, "--force", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    # The line names the chain as it stands after the fill-in: the missed version 4 is filled in.
    assert result.stdout.splitlines() == [
        f"{NCT} changed v4 -> v5 [minor]: enrollment (1 missed registry version filled in)",
    ]
    # One index request; version 5 is numbered by its date (the sync's own snapshot), only the
    # missed version 4 is read.
    assert [r.path for r in registry.requests if "/api/int/" in r.path] == [
        f"/api/int/studies/{NCT}", f"/api/int/studies/{NCT}/history/3"]
    assert _rows(db_path)[3:] == [(4, 4, "2026-01-20", 0, '["designModule","statusModule"]'), (5, 3, "2026-01-10", 1, '["statusModule"]')]
    # The chain goes through the missed version; no direct 3 -> 5 diff is left.
    assert _changes(db_path)[2:] == [
        (1, 5, "status", "Overall status: RECRUITING -> ACTIVE_NOT_RECRUITING"),
        (5, 4, "enrollment", "Enrollment: 40 -> 44 (ESTIMATED, +10%)"),
    ]
    # Every change carries its three dates; --submitted-since filters by the registry's date,
    # --since by when regsync detected it.
    listed = json.loads(run("changes", "--json").stdout)
    assert {(c["to_version"], c["submitted"]) for c in listed} == {
        (5, "2026-01-20"), (4, "2026-01-10"), (2, "2025-12-10"), (3, "2025-12-24")}
    assert all(c["detected_at"] and "posted" in c for c in listed)
    recent = run("changes", "--submitted-since", "2026-01-15").stdout.splitlines()
    assert len(recent) == 1 and recent[0].startswith(f"2026-01-20  {NCT} v4->v5 ")
    assert recent[0].endswith("Enrollment: 40 -> 44 (ESTIMATED, +10%) (detected " + listed[0]["detected_at"][:10] + ")")
    assert len(run("changes", "--since", "today").stdout.splitlines()) == len(listed)  # detected today
    # A fill-in that the registry refuses is a warning: the sync itself succeeded, the direct
    # diff stands, and the next sync fills it in.
    sixth = dict(fifth, hasResults=True)
    registry.add_history(NCT, "2026-02-01", history_markup(sixth))
    seventh = copy.deepcopy(sixth)
    seventh["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    seventh["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-02-10"
    registry.add_history(NCT, "2026-02-10", history_markup(seventh))
    registry.add(seventh)
    registry.fail("history", Fault.status(403))
    refused = run("sync", NCT, "--force", api_url=server.url)
    assert refused.exit_code == 0
    assert refused.stderr.splitlines()[0].startswith(
        f"warning: missed versions not filled in: fill-in stopped at {NCT}: the registry refused this client (HTTP 403)")
    assert refused.stdout.startswith(f"{NCT} changed v5 -> v5a ")
    filled = run("sync", NCT, "--force", api_url=server.url)  # unchanged, but the fill-in is owed
    assert filled.exit_code == 0, filled.stderr
    assert [line.split()[0] for line in run("history", NCT).stdout.splitlines()[3:]] == [
        "1", "2", "3", "4", "5", "6", "7"]


def test_outcomes_tells_the_primary_outcomes_story(fake, run):
    registry, server = fake
    first, second = _versions()[:2]
    switched = copy.deepcopy(second)
    switched["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]["timeFrame"] = "Baseline to 6 months"
    registry.add(switched)
    for day, record in zip(("2025-11-20", "2025-12-10", "2026-03-02"), (first, second, switched), strict=True):
        registry.add_history(NCT, day, history_markup(record))
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    result = run("outcomes", NCT)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{NCT} primary outcomes as first registered (v1, submitted 2025-11-20):",
        "  1. Change in estimated glomerular filtration rate (eGFR) [Baseline to 12 months]",
        "1 change to them:",
        f"  2026-03-02  v2 -> v3 (detected {today()}): after the start date (2026-01-01); "
        "before primary completion (2027-06-30); no results submitted",
        "    - Change in estimated glomerular filtration rate (eGFR) [Baseline to 12 months]",
        "    + Change in estimated glomerular filtration rate (eGFR) [Baseline to 6 months]",
        f"    https://clinicaltrials.gov/study/{NCT}?tab=history&a=2&b=3",
    ]
    told = json.loads(run("outcomes", NCT, "--json").stdout)
    assert told["registered"] is True and told["first"]["registry_version"] == 1
    assert [(c["from_version"], c["to_version"], c["submitted"], c["start"], c["primary_completion"], c["results"])
            for c in told["changes"]] == [(2, 3, "2026-03-02", "after", "before", "unknown")]
    assert all(isinstance(c["detected_at"], str) and "posted" in c for c in told["changes"])


def test_every_backfilled_version_has_its_obligation_row(history, run, db_path):
    _, server = history
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    conn = sqlite3.connect(db_path)
    try:
        missing = conn.execute(
            "SELECT v.version FROM versions v LEFT JOIN obligations o ON o.nct_id = v.nct_id AND o.version = v.version "
            "WHERE o.nct_id IS NULL"
        ).fetchall()
    finally:
        conn.close()
    assert missing == []


def test_the_feed_links_the_registrys_compare_view_after_a_backfill(history, run):
    _, server = history
    run("sync", NCT, api_url=server.url)
    run("backfill", NCT, api_url=server.url)
    items = json.loads(run("feed", "--format", "json").stdout)["items"]
    links = {item["_regsync"]["to_version"]: item["external_url"] for item in items}
    assert links == {
        2: f"https://clinicaltrials.gov/study/{NCT}?tab=history&a=1&b=2",
        3: f"https://clinicaltrials.gov/study/{NCT}?tab=history&a=2&b=3",
    }
    # History is not news: a version read from the registry's history is published on its
    # posting date (a reader files it in the past) and updated when regsync detected it; the
    # own snapshot (version 3) is news of the day it was stored. Newest news first.
    dates = {item["_regsync"]["to_version"]: (item["date_published"], item["date_modified"]) for item in items}
    assert dates[2][0] == "2025-12-13T00:00:00Z" and dates[2][1].startswith(today())
    assert dates[3][0].startswith(today()) and dates[3][0] == dates[3][1]
    assert [item["_regsync"]["to_version"] for item in items] == [3, 2]
    assert {(i["_regsync"]["submitted"], i["_regsync"]["posted"]) for i in items} == {
        ("2025-12-10", "2025-12-13"), ("2025-12-24", "2025-12-27")}


def test_as_of_knows_what_the_registry_history_knew(history, run, db_path):
    """Issue 19 item 7: a backfilled version counts from the day the public registry posted
    it, not from its submission nor from the day regsync fetched it."""
    _registry, server = history
    assert run("sync", NCT, api_url=server.url).exit_code == 0
    assert run("backfill", NCT, api_url=server.url).exit_code == 0
    known = json.loads(run("history", NCT, "--as-of", "2025-12-13", "--json").stdout)
    assert [(r["version"], r["registry_version"]) for r in known] == [(1, 1), (2, 2)]
    # Submitted on 2025-12-10, posted on 2025-12-13: not yet public on 2025-12-12.
    assert [r["version"] for r in json.loads(run("history", NCT, "--as-of", "2025-12-12", "--json").stdout)] == [1]
    assert json.loads(run("history", NCT, "--as-of", "2025-11-22", "--json").stdout) == []
    # show --as-of gives the version in effect then: registry version 1 (RECRUITING, 32)
    shown = json.loads(run("show", NCT, "--as-of", "2025-12-23").stdout)
    assert shown["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    assert shown["protocolSection"]["designModule"]["enrollmentInfo"]["count"] == 32


def test_a_fill_in_cut_short_by_a_kill_is_finished_by_the_next_sync(fake, tmp_path):
    """Issue 19 item 3: the study is owed its fill-in in the same transaction as the changed
    version; a SIGKILL in the middle of the fill-in leaves it owed, and the next sync (which
    finds nothing changed) finishes it."""
    registry, server = fake
    record = load(NCT)
    registry.add(record)
    db = tmp_path / "kill.db"
    assert run_regsync(db, server.url, "sync", NCT, REGSYNC_FILL_IN="1").returncode == 0
    registry.add_history(NCT, "2025-12-18", history_markup(record))  # the registration
    versions = []
    for n in range(6):
        version = copy.deepcopy(record)
        version["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 10 + n
        version["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = f"2026-0{n + 1}-01"
        versions.append(version)
        registry.add_history(NCT, f"2026-0{n + 1}-01", history_markup(version))
    registry.add(versions[-1])
    # Own v1 and the new snapshot are numbered by their dates; the index and registry versions
    # 2 and 3 are read, the request for version 4 is held, then the sync is killed.
    _kill_at_history_request(registry, 3, db, server.url, "sync", NCT, "--force", REGSYNC_FILL_IN="1")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT history_due IS NOT NULL FROM studies").fetchall() == [(1,)]
    finally:
        conn.close()
    registry.reset_log()
    done = run_regsync(db, server.url, "sync", NCT, "--force", REGSYNC_FILL_IN="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{NCT} unchanged (v7)\n"  # now named as the registry numbers it
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT history_due FROM studies").fetchall() == [(None,)]
        chain = conn.execute("SELECT label, registry_version FROM versions ORDER BY chain_pos").fetchall()
        pairs = conn.execute("SELECT DISTINCT p.label, v.label FROM changes c JOIN versions v "
                             "ON v.nct_id = c.nct_id AND v.version = c.to_version JOIN versions p "
                             "ON p.nct_id = c.nct_id AND p.version = c.from_version ORDER BY v.chain_pos").fetchall()
    finally:
        conn.close()
    assert chain == [(str(n + 1), n) for n in range(7)]
    assert pairs == [(str(n), str(n + 1)) for n in range(1, 7)]
