"""Faults from the API (issue 5, item 3), against the local fake API over a real socket.

The CLI runs in-process (CliRunner) so back-off sleeps are recorded rather than slept
(conftest's `_no_real_waiting`), and bounds are asserted on what was recorded and what the
fake received, never on the wall clock. Read timeouts are real: the fake holds the request
(no answer until the test releases it, after the run), so the client's own timeout fires
however slow the machine is; only those tests pass a short --timeout.

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
| connection reset (TCP RST)     | retried                    | connection failed to HOST (connection reset) after 3 attempts    |
| read timeout (held answer)     | retried                    | no answer within 1 s (timeout) after 3 attempts                  |
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

from support.fakeapi import Fault
from support.procs import wait_for
from support.records import edit, load
from support.results import DEFAULT, db_versions, summary

OTHERS = ("NCT00763412", "NCT06171568")
IDS = (OTHERS[0], DEFAULT, OTHERS[1])
FAST = ("--retries", "2", "--max-wait", "10")
# For the read-timeout cases only: long enough for any normal answer from the local fake
# (milliseconds), short enough that waiting out held answers keeps the tests quick.
READ_TIMEOUT = ("--timeout", "1")


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
    sent = time.time()
    when = email.utils.formatdate(sent + 30, usegmt=True)  # in whole seconds
    registry.fail(DEFAULT, Fault.status(429, "Too Many Requests", retry_after=when))
    result = run("sync", "--retries", "2", "--max-wait", "40", api_url=server.url)
    read_by = time.time()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    # It slept until that date: 30 s after it was sent, less the time the client took to read
    # it (at most the whole run) and the date's rounding down to a second.
    assert len(slept) == 1 and 30 - (read_by - sent) - 1 <= slept[0] <= 30
    assert db_versions(db_path) == [1]


def test_read_timeout_is_retried_then_stored(fake, run, db_path, slept):
    registry, server = fake
    hold = registry.hold(DEFAULT)
    result = run("sync", *FAST, *READ_TIMEOUT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert len(slept) == 1
    # The run ended with the first answer still held: it gave up on it and asked again.
    assert hold.arrived == 1 and not hold.released
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
    "reset": ([Fault.reset()] * 3, None, "connection failed to {host} (connection reset) after 3 attempts"),
    "read-timeout": ("hold", None, "no answer within 1 s (timeout) after 3 attempts"),
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
    options, holds = FAST, []
    if faults == "date":
        when = email.utils.formatdate(time.time() + 2, usegmt=True)
        faults = [Fault.status(429, "Too Many Requests", retry_after=when)] * 3
    if faults == "hold":  # every attempt outlasts the client's timeout
        holds = [registry.hold("studies", times=3), registry.hold(DEFAULT, times=3)]
        options = (*FAST, *READ_TIMEOUT)
        attempts = 3
    else:
        registry.fail("studies", *(batch_faults or faults))
        registry.fail(DEFAULT, *faults)
        attempts = len(faults)  # 3 when retried, 1 when not
    half = len(registry.body(DEFAULT)) // 2
    registry.reset_log()

    result = run("sync", *IDS, *options, api_url=server.url)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{OTHERS[0]} changed v1 -> v2", f"{OTHERS[1]} changed v1 -> v2"]
    assert result.stderr.splitlines() == [
        f"error: {DEFAULT}: " + message.format(half=half, host=server.url.split("/")[2]),
        summary(3, changed=2, failed=1, requests=1 + attempts + 2 + attempts),
    ]
    # Only the batch and the one study were retried; nothing else was asked for. (The fake
    # logs a held request when it answers it, once released: wait for those.)
    for hold in holds:
        hold.wait_arrived(attempts)
        hold.release()
    wait_for(lambda: registry.count() == 1 + attempts + 2 + attempts, what="the held requests")
    assert registry.count("studies") == attempts and registry.count(DEFAULT) == attempts
    assert registry.count(OTHERS[0]) == registry.count(OTHERS[1]) == 1
    # Back-off stays within --max-wait per request (recorded, not slept).
    assert sum(slept) <= 2 * 10

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
            (DEFAULT, f"{DEFAULT}: " + message.format(half=half, host=server.url.split("/")[2]))
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
        # One line for every study the outage left unasked (issue 10 item 9), not one each.
        "error: 1 study not attempted: the registry is unreachable (3 requests in a row failed; "
        f"the last: {DEFAULT}: HTTP 503 (server error) after 3 attempts)",
        summary(3, failed=3, requests=12),
    ]
    assert registry.count(OTHERS[1]) == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0


# -- bounded: by --retries and --max-wait, whichever comes first ---------------------------


def test_retries_stop_when_the_back_off_budget_is_spent(fake, run, slept):
    registry, server = fake
    registry.fail(DEFAULT, *[Fault.status(503)] * 100)
    result = run("sync", DEFAULT, "--retries", "50", "--max-wait", "1.5", api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    attempts = registry.count(DEFAULT)
    assert result.stderr.splitlines()[0] == (
        f"error: {DEFAULT}: HTTP 503 (server error) after {attempts} attempts"
    )
    # 1.5 s of back-off (0.5-1 s, then 1-2 s: jitter decides) buys one or two retries, not 50.
    assert attempts in (2, 3) and len(slept) == attempts - 1
    assert sum(slept) <= 1.5


def test_far_future_retry_after_is_not_waited_for(fake, run, slept):
    registry, server = fake
    when = "Fri, 31 Dec 2099 23:59:59 GMT"
    registry.fail(DEFAULT, *[Fault.status(429, "Too Many Requests", retry_after=when)] * 5)
    result = run("sync", DEFAULT, "--max-wait", "5", api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {DEFAULT}: HTTP 429 (rate limited) after 1 attempt",
        summary(1, failed=1, requests=2),
    ]
    # Capped at 60 s, which is beyond --max-wait: given up at once, nothing slept.
    assert slept == []
    assert registry.count(DEFAULT) == 1
