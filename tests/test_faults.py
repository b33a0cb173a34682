"""Faults from the API (issue 5, item 3), against the local fake API over a real socket.

The CLI runs in-process (CliRunner) so back-off sleeps are recorded rather than slept
(conftest's `_no_real_waiting`); read timeouts are real. `test_retries_stay_bounded_*` run
the installed script as a subprocess, with real sleeps, and assert the wall time.

Fault matrix. "Transient" = the fault once, then a normal answer, for `sync NCT07240987`:
exit 0, stdout "NCT07240987 new (v1)". "Persistent" = the fault on every attempt, for
`sync NCT00763412 NCT07240987 NCT06171568 --retries 2` after all three were stored as v1
and then edited in the registry: the batch request (`/studies?filter.ids=`) fails the same
way, the three are fetched one by one, NCT07240987 fails; exit 1; stdout
"NCT00763412 changed v1 -> v2: ..." and "NCT06171568 changed v1 -> v2: ..."; stderr the
error line below, then "3 studies: 0 new, 2 changed, 0 unchanged, 1 failed (ids, N requests)";
NCT07240987 stays at v1, byte for byte, with no change rows and one run_errors row.

| fault                          | transient                  | persistent: the stderr line (after "error: NCT07240987: ")      |
|--------------------------------|----------------------------|------------------------------------------------------------------|
| 429 Retry-After: 3             | retried after 3.0 s        | HTTP 429 (rate limited) after 3 attempts                         |
| 429 Retry-After: <HTTP date>   | retried after ~30 s (date) | HTTP 429 (rate limited) after 3 attempts                         |
| 500 / 502 / 503 / 504          | retried (back-off, jitter) | HTTP 50x (server error) after 3 attempts                         |
| connection reset (TCP RST)     | retried                    | connection failed (connection reset) after 3 attempts            |
| read timeout (delay > timeout) | retried                    | no answer within 0.3 s (timeout) after 3 attempts                |
| HTML page, status 200          | not retried                | the registry sent an HTML page instead of JSON (maintenance?); nothing stored |
| truncated JSON                 | not retried                | the registry's answer is not valid JSON (truncated? N bytes); nothing stored  |
| empty body                     | not retried                | the registry sent an empty answer; nothing stored                |
| record of another study        | not retried                | the registry returned the record of NCT00763412 instead; nothing stored      |
| all of it down (503 everywhere)| -                          | 2 fail, the 3rd: "not attempted: the registry is unavailable (3 failures in a row)" |

Bounded: every retry loop stops at --retries attempts or --max-wait seconds of back-off,
whichever comes first; a far-future Retry-After is capped at 60 s and never waited beyond
--max-wait; after 3 failed requests in a row the rest of the run is not attempted.
"""

from __future__ import annotations

import email.utils
import json
import sqlite3
import time

import pytest

from conftest import edit, load
from regsync.fakeapi import Fault
from test_e2e import db_versions, fake, fake_api, run_regsync, summary  # noqa: F401 (fixture)

DEFAULT = "NCT07240987"
OTHERS = ("NCT00763412", "NCT06171568")
IDS = (OTHERS[0], DEFAULT, OTHERS[1])
FAST = ("--retries", "2", "--max-wait", "10", "--timeout", "0.3")


def study_requests(registry, nct_id=DEFAULT) -> int:
    return registry.count(nct_id)


# -- transient faults: retried, then stored ----------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.status(500), Fault.status(502), Fault.status(503), Fault.status(504), Fault.reset()],
    ids=["500", "502", "503", "504", "reset"],
)
def test_transient_fault_is_retried_then_stored(fake, run, db_path, slept, fault):
    registry, server = fake
    registry.fail(DEFAULT, fault)
    result = run("sync", *FAST, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert result.stderr == summary(1, new=1, mode="full", requests=3) + "\n"
    assert study_requests(registry) == 2
    # One back-off: exponential with jitter, the first between 0.5 and 1 s.
    assert len(slept) == 1 and 0.5 <= slept[0] <= 1.0
    assert db_versions(db_path) == [1]


def test_429_retry_after_seconds_is_honoured(fake, run, db_path, slept):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(429, "Too Many Requests", retry_after="3"))
    result = run("sync", *FAST, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert slept == [3.0]
    assert study_requests(registry) == 2
    assert db_versions(db_path) == [1]


def test_429_retry_after_http_date_is_honoured(fake, run, db_path, slept):
    registry, server = fake
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    registry.fail(DEFAULT, Fault.status(429, "Too Many Requests", retry_after=when))
    result = run("sync", "--retries", "2", "--max-wait", "40", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert len(slept) == 1 and 28.0 <= slept[0] <= 30.0
    assert db_versions(db_path) == [1]


def test_read_timeout_is_retried_then_stored(fake, run, db_path, slept):
    registry, server = fake
    registry.fail(DEFAULT, Fault.delay(1.0))
    started = time.monotonic()
    result = run("sync", *FAST, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert len(slept) == 1
    assert time.monotonic() - started < 1.0  # the slow answer was not waited for
    assert db_versions(db_path) == [1]


# -- persistent faults: the study skipped, the others synced, exit 1 ------------------------

PERSISTENT = {
    "429-seconds": ([Fault.status(429, "Too Many Requests", retry_after="1")] * 3, None,
                    "HTTP 429 (rate limited) after 3 attempts"),
    "429-http-date": ("date", None, "HTTP 429 (rate limited) after 3 attempts"),
    "500": ([Fault.status(500)] * 3, None, "HTTP 500 (server error) after 3 attempts"),
    "502": ([Fault.status(502)] * 3, None, "HTTP 502 (server error) after 3 attempts"),
    "503": ([Fault.status(503)] * 3, None, "HTTP 503 (server error) after 3 attempts"),
    "504": ([Fault.status(504)] * 3, None, "HTTP 504 (server error) after 3 attempts"),
    "reset": ([Fault.reset()] * 3, None, "connection failed (connection reset) after 3 attempts"),
    "read-timeout": ([Fault.delay(0.8)] * 3, None, "no answer within 0.3 s (timeout) after 3 attempts"),
    "html-200": ([Fault.html_200()], None,
                 "the registry sent an HTML page instead of JSON (maintenance?); nothing stored"),
    "truncated": ([Fault.truncated()], None, "the registry's answer is not valid JSON (truncated? {half} bytes); nothing stored"),
    "empty": ([Fault.empty()], None, "the registry sent an empty answer; nothing stored"),
    "wrong-record": ([Fault.wrong_record(OTHERS[0])], [Fault.wrong_record("NCT00973089")],
                     f"the registry returned the record of {OTHERS[0]} instead; nothing stored"),
}


def _store_all_then_edit(registry, run, url):
    first = run("sync", *IDS, api_url=url)
    assert first.exit_code == 0, first.stderr
    for nct_id in IDS:
        registry.add(edit(registry.get(nct_id), post_date="2026-09-01"))
    registry.data_timestamp = "2026-09-05T09:00:00"


@pytest.mark.parametrize("name", list(PERSISTENT))
def test_persistent_fault_skips_the_study_and_syncs_the_others(fake, run, db_path, slept, name):
    registry, server = fake
    _store_all_then_edit(registry, run, server.url)
    with sqlite3.connect(db_path) as conn:
        before = conn.execute("SELECT * FROM versions WHERE nct_id = ?", [DEFAULT]).fetchall()
        study_before = conn.execute("SELECT * FROM studies WHERE nct_id = ?", [DEFAULT]).fetchone()
    faults, batch_faults, message = PERSISTENT[name]
    if faults == "date":
        when = email.utils.formatdate(time.time() + 2, usegmt=True)
        faults = [Fault.status(429, "Too Many Requests", retry_after=when)] * 3
    half = len(registry._studies[DEFAULT].body) // 2
    registry.fail("studies", *(batch_faults or faults))
    registry.fail(DEFAULT, *faults)
    registry.reset_log()

    started = time.monotonic()
    result = run("sync", *IDS, *FAST, api_url=server.url)
    elapsed = time.monotonic() - started

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{OTHERS[0]} changed v1 -> v2", f"{OTHERS[1]} changed v1 -> v2"]
    attempts = 3 if len(faults) == 3 else 1
    assert result.stderr.splitlines() == [
        f"error: {DEFAULT}: " + message.format(half=half),
        summary(3, changed=2, failed=1, requests=1 + attempts + 2 + attempts),
    ]
    # Only the batch and the one study were retried; nothing else was asked for. (The fake
    # logs a delayed request when it answers, after the client gave up: wait for it.)
    deadline = time.monotonic() + 3
    while registry.count() < 1 + attempts + 2 + attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert registry.count("studies") == attempts and registry.count(DEFAULT) == attempts
    assert registry.count(OTHERS[0]) == registry.count(OTHERS[1]) == 1
    # Back-off stays within --max-wait per request (recorded, not slept); timeouts are real.
    assert sum(slept) <= 2 * 10
    assert elapsed < 5

    # Nothing half-written: the failed study is exactly as before, the others moved on.
    assert db_versions(db_path) == [1]
    assert db_versions(db_path, OTHERS[0]) == db_versions(db_path, OTHERS[1]) == [1, 2]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT * FROM versions WHERE nct_id = ?", [DEFAULT]).fetchall() == before
        assert conn.execute("SELECT * FROM studies WHERE nct_id = ?", [DEFAULT]).fetchone()[:6] == study_before[:6]
        assert conn.execute("SELECT COUNT(*) FROM changes WHERE nct_id = ?", [DEFAULT]).fetchone()[0] == 0
        run_row = conn.execute(
            "SELECT outcome, studies_checked, changed, errors FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        assert run_row == ("partial", 2, 2, 1)
        assert conn.execute("SELECT nct_id, error FROM run_errors").fetchall() == [
            (DEFAULT, f"{DEFAULT}: " + message.format(half=half))
        ]
    assert json.loads(run("show", DEFAULT).stdout) == load(DEFAULT)


def test_registry_down_everywhere_stops_after_three_failures(fake, run, db_path, slept):
    registry, server = fake
    for target in ("version", "studies", *IDS):
        registry.fail(target, *[Fault.status(503)] * 3)
    result = run("sync", *IDS, *FAST, api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {OTHERS[0]}: HTTP 503 (server error) after 3 attempts",
        f"error: {DEFAULT}: HTTP 503 (server error) after 3 attempts",
        f"error: {OTHERS[1]}: not attempted: the registry is unavailable (3 failures in a row)",
        summary(3, failed=3, requests=12),
    ]
    assert registry.count(OTHERS[1]) == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0


# -- bounded in real time (subprocess, real sleeps) -----------------------------------------


def test_retries_stay_bounded_in_wall_time_with_many_retries(tmp_path):
    with fake_api() as (registry, server):
        registry.fail(DEFAULT, *[Fault.status(503)] * 100)
        started = time.monotonic()
        result = run_regsync(tmp_path / "r.db", server.url, "sync", DEFAULT, "--retries", "50", "--max-wait", "1.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    line = result.stderr.splitlines()[0]
    assert line.startswith(f"error: {DEFAULT}: HTTP 503 (server error) after ") and line.endswith(" attempts")
    assert 2 <= registry.count(DEFAULT) <= 3  # 1.5 s of back-off buys one or two retries, not 50
    assert elapsed < 4


def test_far_future_retry_after_is_not_waited_for(tmp_path):
    with fake_api() as (registry, server):
        when = "Fri, 31 Dec 2099 23:59:59 GMT"
        registry.fail(DEFAULT, *[Fault.status(429, "Too Many Requests", retry_after=when)] * 5)
        started = time.monotonic()
        result = run_regsync(tmp_path / "r.db", server.url, "sync", DEFAULT, "--max-wait", "5")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {DEFAULT}: HTTP 429 (rate limited) after 1 attempt",
        summary(1, failed=1, requests=2),
    ]
    assert elapsed < 2
