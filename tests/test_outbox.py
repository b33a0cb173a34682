"""The notification outbox and bounded delivery (issue 20 items 5 and 6).

Item 5: a sync records what it is to send in the transaction that records how the run ended,
before any is sent; a kill after that commit, or a receiver that fails, leaves the message for
the next sync (every sync, a nothing-to-do one too), which delivers it once, with retries
backed off on the run's clock (recorded, never slept) and given up after five attempts, which
`status` says. A delivered message is never sent again.

Item 6: a webhook that trickles its headers, promises 2 GB, or says nothing, and an SMTP server
that trickles its greeting, cannot hold a sync: each exchange ends by its configured timeout,
all of a run's deliveries by one budget. Receivers hold until released (never sleep) and the
tests assert outcomes, not durations. A malformed REGSYNC_WEBHOOK_URL is a usage error first.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from regsync.cli import Clocks
from support.cli import Cli
from support.procs import HANG_GUARD, popen_regsync, run_regsync, wait_for
from support.receivers import held_server, http_receiver, smtp_server
from support.records import edit, load

NCT = "NCT07240987"
OTHER = "NCT06171568"
TOKEN = "s3cr3t-t0ken"


class WallClock:
    """The run's wall clock (``Clocks.now``): moves only when the test moves it."""

    def __init__(self) -> None:
        self.at = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _no_notification_settings(monkeypatch):
    for var in ("REGSYNC_WEBHOOK_URL", "REGSYNC_SMTP_PASSWORD", "REGSYNC_MAIL_TO", "REGSYNC_WEBHOOK_FORMAT",
                "REGSYNC_WEBHOOK_SEVERITY", "REGSYNC_WEBHOOK_MODE", "REGSYNC_MAIL_FROM", "REGSYNC_MAIL_SEVERITY",
                "REGSYNC_MAIL_MODE", "REGSYNC_SMTP_HOST", "REGSYNC_SMTP_PORT", "REGSYNC_SMTP_USER",
                "REGSYNC_SMTP_STARTTLS", "REGSYNC_NOTIFY_TIMEOUT", "REGSYNC_NOTIFY_BUDGET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def wall():
    return WallClock()


@pytest.fixture
def cli(db_path, wall):
    return Cli(db_path, Clocks(sleep=lambda seconds: None, now=wall, today=lambda: wall().date()))


@pytest.fixture
def registry(fake_api, cli):
    """Both studies stored (nothing to tell yet); the registry then holds an edit of each
    (NCT06171568 withdrawn: critical; NCT07240987's completion 915 days later: major)."""
    registry, server = fake_api([load(NCT), load(OTHER)])
    assert cli("sync", NCT, OTHER, api_url=server.url).exit_code == 0
    registry.add(edit(load(NCT), "2026-02-01", overallStatus="RECRUITING",
                      primaryCompletionDateStruct={"date": "2029-12-31", "type": "ESTIMATED"}))
    registry.add(edit(load(OTHER), "2026-03-01", overallStatus="WITHDRAWN"))
    registry.url = server.url
    return registry


def _sync(cli, registry, *args, force=True):
    return cli("sync", *(["--force"] if force else []), NCT, OTHER, *args, api_url=registry.url)


def _outbox(db_path):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]


def _versions(db_path):
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT nct_id, version FROM versions ORDER BY nct_id, version").fetchall()


# -- item 5: the outbox ----------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for a kill: nothing in regsync catches it."""


def test_an_interruption_after_the_outbox_commit_is_delivered_once_by_the_next_run(
    cli, registry, monkeypatch, db_path
):
    from regsync import notify

    def killed(*args, **kwargs):
        raise Killed

    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        with monkeypatch.context() as m:
            m.setattr(notify, "deliver_pending", killed)
            with pytest.raises(Killed):
                _sync(cli, registry)
        assert hook.posts == []
        [row] = _outbox(db_path)  # recorded with the run, before anything was sent
        assert (row["channel"], row["attempts"], row["sent_at"]) == ("webhook", 0, None)
        assert _versions(db_path) == [(OTHER, 1), (OTHER, 2), (NCT, 1), (NCT, 2)]
        # The next sync has nothing new to tell; it delivers what was pending.
        again = _sync(cli, registry, force=False)
        assert again.exit_code == 0, again.stderr
        assert len(hook.posts) == 1
        assert json.loads(hook.posts[0].body)["text"] == "regsync: 2 studies changed (most severe: critical)"
        third = _sync(cli, registry)
        assert third.exit_code == 0
        assert len(hook.posts) == 1  # delivered: never sent again
    [row] = _outbox(db_path)
    assert row["sent_at"] is not None and row["attempts"] == 1


def test_a_sigkill_during_delivery_leaves_the_message_for_the_next_run(registry, db_path, tmp_path):
    """The real script, killed while the receiver holds its POST (after the outbox commit)."""
    with held_server(b"", read_request=True) as silent:
        proc = popen_regsync(db_path, registry.url, "sync", "--force", NCT, OTHER, REGSYNC_WEBHOOK_URL=silent.url)
        try:
            wait_for(lambda: silent.connections >= 1, what="the webhook POST")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=HANG_GUARD)
    [row] = _outbox(db_path)
    assert (row["attempts"], row["sent_at"]) == (0, None)
    with http_receiver() as hook:
        done = run_regsync(db_path, registry.url, "sync", NCT, OTHER, REGSYNC_WEBHOOK_URL=hook.url)
        assert done.returncode == 0, done.stderr
        assert len(hook.posts) == 1
        done = run_regsync(db_path, registry.url, "sync", "--force", NCT, OTHER, REGSYNC_WEBHOOK_URL=hook.url)
        assert done.returncode == 0, done.stderr
        assert len(hook.posts) == 1


def test_http_500_then_success_on_the_next_run(cli, registry, monkeypatch, db_path, wall):
    with http_receiver(status=500) as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        failed = _sync(cli, registry)
        assert failed.exit_code == 5
        assert failed.stderr.splitlines()[-1].endswith(": notification not delivered: HTTP 500")
        [row] = _outbox(db_path)
        assert (row["attempts"], row["last_error"], row["sent_at"]) == (1, "HTTP 500", None)
        assert row["next_attempt_after"].startswith("2027-03-01T12:15:00")  # recorded, not slept
        soon = _sync(cli, registry, force=False)  # before the back-off: not tried
        assert soon.exit_code == 0 and len(hook.posts) == 1
        status = cli("status")
        assert "notifications pending: 1 (last error: HTTP 500); the next sync delivers them; " \
               "next attempt after 2027-03-01 12:15:00 UTC" in status.stdout.splitlines()
        hook.status = 200
        wall.at += timedelta(minutes=15)
        ok = _sync(cli, registry, force=False)
        assert ok.exit_code == 0, ok.stderr
        assert len(hook.posts) == 2 and hook.posts[0].body == hook.posts[1].body
        assert _sync(cli, registry).exit_code == 0
        assert len(hook.posts) == 2
    [row] = _outbox(db_path)
    assert row["attempts"] == 2 and row["sent_at"].startswith("2027-03-01T12:15:00")
    assert json.loads(cli("status", "--json").stdout)["notifications"] == {"pending": [], "failed": []}


def test_five_failures_and_status_says_it_failed(cli, registry, monkeypatch, db_path, wall):
    with http_receiver(status=500) as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        assert _sync(cli, registry).exit_code == 5
        for backoff in (15, 30, 60, 120):  # doubling from 15 minutes
            wall.at += timedelta(minutes=backoff)
            assert _sync(cli, registry, force=False).exit_code == 5
        assert len(hook.posts) == 5
        wall.at += timedelta(days=30)
        assert _sync(cli, registry, force=False).exit_code == 0  # given up: not tried again
        assert len(hook.posts) == 5
    [row] = _outbox(db_path)
    assert (row["attempts"], row["sent_at"]) == (5, None) and row["gave_up_at"]
    status = cli("status")
    assert status.exit_code == 0
    failed = [line for line in status.stdout.splitlines() if line.startswith("notification")]
    assert failed == ["notification failed: webhook message of run 2 given up after 5 attempts (HTTP 500)"]
    shown = json.loads(cli("status", "--json").stdout)["notifications"]
    assert shown["pending"] == [] and [(r["channel"], r["attempts"], r["last_error"]) for r in shown["failed"]] == [
        ("webhook", 5, "HTTP 500"),
    ]
    assert TOKEN not in status.stdout


def test_mail_and_webhook_each_their_own_rows(cli, registry, monkeypatch, db_path):
    with smtp_server() as (mailbox, port), http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = _sync(cli, registry, "--mail-to", "qa@example.org", "--smtp-host", "127.0.0.1", "--smtp-port",
                       str(port), "--mail-mode", "study")
        assert result.exit_code == 0, result.stderr
        assert _sync(cli, registry, "--mail-to", "qa@example.org", "--smtp-host", "127.0.0.1", "--smtp-port",
                     str(port)).exit_code == 0
    assert len(hook.posts) == 1 and len(mailbox.messages) == 2
    assert [(r["channel"], r["attempts"], bool(r["sent_at"])) for r in _outbox(db_path)] == [
        ("webhook", 1, True), ("mail", 1, True), ("mail", 1, True),
    ]


# -- item 6: bounded delivery ----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [
    b"HTTP/1.1 200 O",  # the status line, trickled: never finished
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: a",  # a header never finished
], ids=["status-line", "headers"])
def test_a_webhook_trickling_its_answer_cannot_hold_the_sync(cli, registry, monkeypatch, db_path, prefix):
    with held_server(prefix, read_request=True) as slow:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", slow.url)
        result = _sync(cli, registry, "--notify-timeout", "0.3")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: webhook http://127.0.0.1:{slow.port}/…: notification not delivered: no answer within 0.3 s"
    )
    assert _versions(db_path) == [(OTHER, 1), (OTHER, 2), (NCT, 1), (NCT, 2)]
    [row] = _outbox(db_path)
    assert (row["attempts"], row["sent_at"]) == (1, None)  # tried again later


def test_a_webhook_answering_2_gb_is_not_read(cli, registry, monkeypatch, db_path):
    """The status is all a webhook says: the body (2 GB promised, then held) is never read."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 2147483648\r\n\r\nxxxx"
    with held_server(head, read_request=True) as big:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", big.url)
        result = _sync(cli, registry, "--notify-timeout", "30")
    assert result.exit_code == 0, result.stderr
    [row] = _outbox(db_path)
    assert row["sent_at"] is not None


def test_an_smtp_server_trickling_its_greeting_cannot_hold_the_sync(cli, registry, db_path):
    # The server never finishes its greeting: the sync ends at the deadline whatever it is.
    # One second, not less: on a loaded machine a shorter one could run out before the
    # connection is even made, which says the same in other words.
    with held_server(b"220 slow.example", read_request=False) as slow:
        result = _sync(cli, registry, "--mail-to", "qa@example.org", "--smtp-host", "127.0.0.1",
                       "--smtp-port", str(slow.port), "--notify-timeout", "1")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: mail via 127.0.0.1:{slow.port}: notification not delivered: no answer within 1 s"
    )
    [row] = _outbox(db_path)
    assert (row["channel"], row["attempts"]) == ("mail", 1)


def test_one_budget_for_all_of_a_runs_deliveries(cli, registry, monkeypatch, db_path):
    """A silent receiver in study mode: the first message takes the whole budget, the second
    is not tried (no attempt counted) and waits for the next sync."""
    with held_server(b"", read_request=True) as silent:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", silent.url)
        result = _sync(cli, registry, "--webhook-mode", "study", "--notify-timeout", "600", "--notify-budget", "0.3")
        assert silent.connections == 1
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: webhook http://127.0.0.1:{silent.port}/…: notification not delivered: "
        "no answer within 0.3 s (2 of 2 messages)"
    )
    assert [r["attempts"] for r in _outbox(db_path)] == [1, 0]


@pytest.mark.parametrize("url", [
    "http://[::1/x",
    "http://127.0.0.1:99999/hooks/s3cr3t-t0ken",
])
def test_a_malformed_webhook_url_is_a_usage_error_before_the_sync(cli, registry, monkeypatch, db_path, url):
    monkeypatch.setenv("REGSYNC_WEBHOOK_URL", url)
    registry.reset_log()
    result = _sync(cli, registry)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: REGSYNC_WEBHOOK_URL is not a valid URL (its host or port)\n"
    assert registry.count() == 0
    assert _versions(db_path) == [(OTHER, 1), (NCT, 1)]
