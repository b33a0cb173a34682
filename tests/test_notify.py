"""Notifications after a sync (issue 14 item 2): a webhook (Slack-compatible or regsync's JSON)
and e-mail, each with its own threshold and mode, delivered to receivers on 127.0.0.1; a failed
delivery is one stderr line and exit 5, and the sync is stored all the same."""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest

from support.procs import run_regsync
from support.receivers import http_receiver, smtp_server
from support.records import edit, load

NCT = "NCT07240987"
OTHER = "NCT06171568"
TITLE = "Mesenchymal Stem Cells for Chronic Kidney Diseases"
OTHER_TITLE = "Lariboisière Cognitive Assessment: Evaluation of the 1-year Outcomes"
TOKEN = "s3cr3t-t0ken"
PASSWORD = "pa55-w0rd-xyz"
SLIP = "Primary completion date: 2027-06-30 -> 2029-12-31 (ESTIMATED, +915 days)"
WITHDRAWN = "Overall status: NOT_YET_RECRUITING -> WITHDRAWN (no reason given)"
RECRUITING = "Overall status: NOT_YET_RECRUITING -> RECRUITING"
STARTED = "Start date: 2026-01-01 -> 2026-01-20 (ESTIMATED -> ACTUAL, +19 days)"


@pytest.fixture(autouse=True)
def _no_notification_settings(monkeypatch):
    for var in ("REGSYNC_WEBHOOK_URL", "REGSYNC_SMTP_PASSWORD", "REGSYNC_MAIL_TO", "REGSYNC_WEBHOOK_FORMAT",
                "REGSYNC_WEBHOOK_SEVERITY", "REGSYNC_WEBHOOK_MODE", "REGSYNC_MAIL_FROM", "REGSYNC_MAIL_SEVERITY",
                "REGSYNC_MAIL_MODE", "REGSYNC_SMTP_HOST", "REGSYNC_SMTP_PORT", "REGSYNC_SMTP_USER",
                "REGSYNC_SMTP_STARTTLS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def registry(fake_api, run):
    """Both studies stored once (v1, nothing to tell); the registry then holds their edits:
    NCT07240987 recruiting, started (minor milestones) and its primary completion 915 days
    later (major); NCT06171568 withdrawn without a reason (critical)."""
    registry, server = fake_api([load(NCT), load(OTHER)])
    first = run("sync", NCT, OTHER, api_url=server.url)
    assert first.exit_code == 0, first.stderr
    registry.add(edit(load(NCT), "2026-02-01", overallStatus="RECRUITING",
                      startDateStruct={"date": "2026-01-20", "type": "ACTUAL"},
                      primaryCompletionDateStruct={"date": "2029-12-31", "type": "ESTIMATED"}))
    registry.add(edit(load(OTHER), "2026-03-01", overallStatus="WITHDRAWN"))
    registry.url = server.url
    return registry


def _sync(run, registry, *args):
    return run("sync", "--force", NCT, OTHER, *args, api_url=registry.url)  # the fake's dataTimestamp stays put


def _versions(db_path):
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT nct_id, version FROM versions ORDER BY nct_id, version").fetchall()


CHANGED_LINES = [
    f"{OTHER} changed v1 -> v2 [critical]: status",
    f"{NCT} changed v1 -> v2 [major]: dates (milestone: start date ACTUAL), status (milestone: RECRUITING)",
]


def _section(nct_id, title, headline, *changes):
    lines = [f"*<https://clinicaltrials.gov/study/{nct_id}|{nct_id}>* {title}", headline.replace(">", "&gt;")]
    lines += [f"• *{sev}* {cat}: {text.replace('>', '&gt;')}" for sev, cat, text in changes]
    lines.append(f"<https://clinicaltrials.gov/study/{nct_id}?tab=history|version history>")
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- webhook -------------------------------------------------------------------------------------


def test_slack_digest_one_message_per_run(run, registry, monkeypatch, db_path):
    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = _sync(run, registry)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == CHANGED_LINES
    assert [p.path for p in hook.posts] == [f"/services/T000/B000/{TOKEN}"]
    assert hook.posts[0].headers["Content-Type"] == "application/json"
    # Default threshold major: the study's minor milestones are left out.
    assert json.loads(hook.posts[0].body) == {
        "text": "regsync: 2 studies changed (most severe: critical)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "regsync: 2 studies changed (most severe: critical)"}},
            _section(OTHER, OTHER_TITLE, "v1 -> v2 [critical]: status", ("critical", "status", WITHDRAWN)),
            _section(NCT, TITLE, "v1 -> v2 [major]: dates", ("major", "dates", SLIP)),
        ],
    }


def test_json_webhook_one_message_per_study_at_its_own_threshold(run, registry, monkeypatch):
    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = _sync(run, registry, "--webhook-format", "json", "--webhook-mode", "study",
                       "--webhook-severity", "minor")
    assert result.exit_code == 0, result.stderr
    bodies = [json.loads(p.body) for p in hook.posts]
    assert [b["summary"] for b in bodies] == [
        f"regsync: {OTHER} ({OTHER_TITLE}) v1 -> v2 [critical]: status",
        f"regsync: {NCT} ({TITLE}) v1 -> v2 [major]: dates (milestone: start date ACTUAL), status (milestone: RECRUITING)",
    ]
    first, second = bodies
    assert (first["source"], first["severity"], isinstance(first["run_id"], int)) == ("regsync", "minor", True)
    [study] = second["studies"]
    assert {k: study[k] for k in ("nct_id", "title", "from_version", "to_version", "max_severity", "url", "history_url")} == {
        "nct_id": NCT, "title": TITLE, "from_version": 1, "to_version": 2, "max_severity": "major",
        "url": f"https://clinicaltrials.gov/study/{NCT}",
        "history_url": f"https://clinicaltrials.gov/study/{NCT}?tab=history",
    }
    assert [(c["severity"], c["summary"]) for c in study["changes"]] == [
        ("major", SLIP), ("minor", RECRUITING), ("minor", STARTED),
    ]


def test_a_critical_threshold_leaves_the_major_study_out(run, registry, monkeypatch):
    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("REGSYNC_WEBHOOK_SEVERITY", "critical")
        assert _sync(run, registry).exit_code == 0
    assert [json.loads(p.body)["text"] for p in hook.posts] == [
        f"{OTHER} ({OTHER_TITLE}) v1 -> v2 [critical]: status",
    ]


def test_nothing_found_nothing_sent(run, registry, monkeypatch):
    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        assert _sync(run, registry, "--no-notify").exit_code == 0  # stored, not told
        unchanged = _sync(run, registry)
    assert unchanged.exit_code == 0
    assert unchanged.stdout == f"{OTHER} unchanged (v2)\n{NCT} unchanged (v2)\n"
    assert hook.posts == []


def test_webhook_500_is_exit_5_and_the_sync_is_stored(run, registry, monkeypatch, db_path):
    with http_receiver(status=500) as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = _sync(run, registry)
        port = hook.url.split(":")[2].split("/")[0]
    assert result.exit_code == 5
    assert result.stdout.splitlines() == CHANGED_LINES
    assert result.stderr.splitlines()[-1] == (
        f"error: webhook http://127.0.0.1:{port}/…: notification not delivered: HTTP 500"
    )
    assert TOKEN not in result.stdout + result.stderr
    assert _versions(db_path) == [(OTHER, 1), (OTHER, 2), (NCT, 1), (NCT, 2)]


def test_webhook_connection_refused_per_study(run, registry, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("REGSYNC_WEBHOOK_URL", f"http://127.0.0.1:{port}/hooks/{TOKEN}")
    result = _sync(run, registry, "--webhook-mode", "study")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: webhook http://127.0.0.1:{port}/…: notification not delivered: connection refused (2 of 2 messages)"
    )
    assert TOKEN not in result.stderr


# -- e-mail --------------------------------------------------------------------------------------


def _mail_args(port, *extra):
    return ("--mail-to", "trials@example.org", "--mail-to", "qa@example.org", "--mail-from", "regsync@example.org",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(port), *extra)


def test_mail_digest(run, registry):
    with smtp_server() as (mailbox, port):
        result = _sync(run, registry, *_mail_args(port, "--mail-severity", "minor"))
    assert result.exit_code == 0, result.stderr
    [received] = mailbox.messages
    assert (received.mail_from, received.rcpt_tos) == ("regsync@example.org", ["trials@example.org", "qa@example.org"])
    message = received.message
    assert message["Subject"] == "regsync: 2 studies changed (most severe: critical)"
    assert (message["From"], message["To"]) == ("regsync@example.org", "trials@example.org, qa@example.org")
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")
    assert message.get_content().splitlines() == [
        f"{OTHER}: {OTHER_TITLE}",
        "v1 -> v2 [critical]: status",
        "",
        f"critical status        {WITHDRAWN}",
        "",
        f"Study: https://clinicaltrials.gov/study/{OTHER}",
        f"History: https://clinicaltrials.gov/study/{OTHER}?tab=history",
        "",
        "",
        f"{NCT}: {TITLE}",
        "v1 -> v2 [major]: dates (milestone: start date ACTUAL), status (milestone: RECRUITING)",
        "",
        f"major    dates         {SLIP}",
        f"minor    status        {RECRUITING} [milestone]",
        f"minor    dates         {STARTED} [milestone]",
        "",
        f"Study: https://clinicaltrials.gov/study/{NCT}",
        f"History: https://clinicaltrials.gov/study/{NCT}?tab=history",
    ]


def test_mail_per_study_with_its_own_threshold_beside_the_webhook(run, registry, monkeypatch):
    with smtp_server() as (mailbox, port), http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = _sync(run, registry, *_mail_args(port, "--mail-mode", "study", "--mail-severity", "critical"),
                       "--webhook-severity", "major")
    assert result.exit_code == 0, result.stderr
    assert [m.message["Subject"] for m in mailbox.messages] == [
        f"regsync: {OTHER} ({OTHER_TITLE}) v1 -> v2 [critical]: status",
    ]
    assert len(hook.posts) == 1 and len(json.loads(hook.posts[0].body)["blocks"]) == 3


def test_smtp_login_with_the_password_from_the_environment(run, registry, monkeypatch):
    monkeypatch.setenv("REGSYNC_SMTP_PASSWORD", PASSWORD)
    with smtp_server(users={"regsync": PASSWORD}) as (mailbox, port):
        result = _sync(run, registry, *_mail_args(port, "--smtp-user", "regsync"))
    assert result.exit_code == 0, result.stderr
    assert mailbox.logins == ["regsync"] and len(mailbox.messages) == 1


def test_smtp_authentication_failure_is_exit_5(run, registry, monkeypatch, db_path):
    monkeypatch.setenv("REGSYNC_SMTP_PASSWORD", PASSWORD)
    with smtp_server(users={"regsync": "another"}) as (mailbox, port):
        result = _sync(run, registry, *_mail_args(port, "--smtp-user", "regsync"))
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: mail via 127.0.0.1:{port}: notification not delivered: "
        "authentication failed (535 5.7.8 Authentication credentials invalid)"
    )
    assert PASSWORD not in result.stdout + result.stderr
    assert mailbox.messages == []
    assert _versions(db_path) == [(OTHER, 1), (OTHER, 2), (NCT, 1), (NCT, 2)]


def test_smtp_connection_refused_and_no_starttls(run, registry):
    port = _closed_port()
    result = _sync(run, registry, *_mail_args(port))
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: mail via 127.0.0.1:{port}: notification not delivered: connection refused"
    )
    with smtp_server() as (mailbox, port):
        registry.add(edit(load(OTHER), "2026-04-01", overallStatus="WITHDRAWN", whyStopped="Funding"))
        result = _sync(run, registry, *_mail_args(port, "--smtp-starttls", "--mail-severity", "minor"))
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        f"error: mail via 127.0.0.1:{port}: notification not delivered: the server does not offer STARTTLS"
    )
    assert mailbox.messages == []


# -- configuration, precedence, secrets ---------------------------------------------------------------


@pytest.mark.parametrize("env, args, message", [
    ({"REGSYNC_SMTP_PASSWORD": PASSWORD}, ("--mail-to", "a@example.org", "--smtp-host", "mail.example.org",
                                           "--smtp-user", "u"),
     "error: the SMTP password is only sent over STARTTLS (--smtp-starttls) or to this machine, not to mail.example.org"),
    ({}, ("--mail-to", "a@example.org", "--smtp-user", "u"), "error: an SMTP user needs REGSYNC_SMTP_PASSWORD"),
    ({"REGSYNC_WEBHOOK_URL": f"hooks.example.org/{TOKEN}"}, (), "error: REGSYNC_WEBHOOK_URL is not an http(s) URL"),
])
def test_a_configuration_that_cannot_work_is_refused_before_the_sync(run, registry, monkeypatch, db_path,
                                                                     env, args, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registry.reset_log()
    result = _sync(run, registry, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")
    assert registry.count() == 0
    assert _versions(db_path) == [(OTHER, 1), (NCT, 1)]


def test_a_failed_sync_exits_1_and_still_tells_what_it_stored(run, registry, monkeypatch):
    with http_receiver(status=500) as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        result = run("sync", "--force", NCT, OTHER, "NCT99999999", api_url=registry.url)
    assert result.exit_code == 1
    assert len(hook.posts) == 1
    lines = result.stderr.splitlines()
    assert "error: NCT99999999 not found in the registry (HTTP 404)" in lines
    assert lines[-1].endswith(": notification not delivered: HTTP 500")


def test_secrets_never_reach_output_or_logs(registry, tmp_path, db_path):
    """The real script with -vv and a log file: neither the webhook's token nor the SMTP
    password shows anywhere, in failure or success."""
    log = tmp_path / "sync.log"
    with http_receiver(status=500) as hook, smtp_server(users={"regsync": "another"}) as (_, port):
        done = run_regsync(
            db_path, registry.url, "-vv", "--log-file", str(log), "sync", "--force", NCT, OTHER, *_mail_args(port, "--smtp-user", "regsync"),
            REGSYNC_WEBHOOK_URL=hook.url, REGSYNC_SMTP_PASSWORD=PASSWORD,
        )
    assert done.returncode == 5, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": notification not delivered: ")[1] for e in errors] == [
        "HTTP 500", "authentication failed (535 5.7.8 Authentication credentials invalid)",
    ]
    everything = done.stdout + done.stderr + log.read_text()
    assert "notification not delivered" in log.read_text()
    assert TOKEN not in everything and PASSWORD not in everything
    with http_receiver() as hook:
        ok = run_regsync(db_path, registry.url, "-vv", "--log-file", str(log), "sync", "--force", NCT,
                         REGSYNC_WEBHOOK_URL=hook.url)
    assert ok.returncode == 0
    assert TOKEN not in ok.stdout + ok.stderr + log.read_text()


def test_exit_code_5_is_documented():
    from pathlib import Path

    from regsync.errors import NotificationFailed

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert NotificationFailed.exit_code == 5
    assert "| 5 | the sync is stored, but a notification could not be delivered" in readme
