"""Telling people what a sync found: a webhook (Slack-compatible or plain JSON) and e-mail.

After a sync is stored, ``findings(store, run_id)`` reads the study versions it stored with
their classified changes; ``record`` puts in the outbox, for each channel, the versions with a
change at or above the channel's threshold, as one message per run (digest) or one per study
version; ``deliver_pending`` sends what the outbox holds that is due (retries backed off,
given up after MAX_ATTEMPTS), each exchange bounded by its timeout and all of them by the
run's budget.

Secrets (the webhook URL, which for Slack carries its token, and the SMTP password) are
configuration values like any other here, but they never appear in a message this module
returns or logs: a webhook is named by its scheme and host only (``redact``). The CLI reads
them from the environment only, never from the command line.

A failed delivery never touches what was stored: the sync committed before anything is sent.
Each channel that could not deliver gives one line (``deliver_pending``'s return value).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import orjson

from regsync.feed import VersionChanges, group_changes
from regsync.model import Category, Severity, sort_changes
from regsync.store import TIME_FORMAT, Store

log = logging.getLogger(__name__)

WEBHOOK_STYLES = ("slack", "json")
DEFAULT_SEVERITY = Severity.MAJOR
DEFAULT_TIMEOUT = 10.0  # one webhook POST (connect to the last header), or one whole SMTP conversation
DEFAULT_BUDGET = 60.0  # all the deliveries of one run together
# Slack's limits: 50 blocks a message, 3,000 characters in a section's text.
SLACK_MAX_STUDIES = 45
SLACK_SECTION_CHARS = 3000


@dataclass(frozen=True)
class Webhook:
    """POST the findings as JSON to ``url`` (a secret: never shown, see ``redact``)."""

    url: str = field(repr=False)
    style: str = "slack"  # slack: {"text", "blocks"}; json: regsync's own shape
    severity: Severity = DEFAULT_SEVERITY
    digest: bool = True  # one message per run; False: one per study version
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        return f"webhook {redact(self.url)}"


@dataclass(frozen=True)
class Mail:
    """Send the findings by SMTP to ``to``."""

    to: tuple[str, ...]
    sender: str
    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    severity: Severity = DEFAULT_SEVERITY
    digest: bool = True
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        return f"mail via {self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    webhook: Webhook | None = None
    mail: Mail | None = None
    budget: float = DEFAULT_BUDGET  # seconds for all the deliveries of one run

    @property
    def enabled(self) -> bool:
        return self.webhook is not None or self.mail is not None


class ConfigError(ValueError):
    """Notifications are configured in a way that cannot work (the CLI: a usage error)."""


def check(settings: Settings) -> None:
    """Refuse, before any sync, a configuration that could only fail or leak."""
    hook = settings.webhook
    if hook is not None:
        try:
            parts = urlsplit(hook.url)
            parts.port  # noqa: B018 - raises for a port out of range or not a number
        except ValueError:
            # "http://[::1/x", port 99999: said here, before the sync, not as a traceback
            # after it (the URL is a secret: never quoted).
            raise ConfigError("REGSYNC_WEBHOOK_URL is not a valid URL (its host or port)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("REGSYNC_WEBHOOK_URL is not an http(s) URL")
    if not settings.budget > 0:
        raise ConfigError("the notification budget must be more than 0 seconds")
        if hook.style not in WEBHOOK_STYLES:
            raise ConfigError(f"unknown webhook format {hook.style!r}; one of: {', '.join(WEBHOOK_STYLES)}")
    mail = settings.mail
    if mail is not None:
        if not mail.to:
            raise ConfigError("no recipient for mail notifications")
        if mail.user and not mail.password:
            raise ConfigError("an SMTP user needs REGSYNC_SMTP_PASSWORD")
        if mail.password and not mail.user:
            raise ConfigError("REGSYNC_SMTP_PASSWORD is set but no SMTP user")
        if mail.password and not mail.starttls and not _is_local(mail.host):
            # Never a password in clear text over the network.
            raise ConfigError(
                f"the SMTP password is only sent over STARTTLS (--smtp-starttls) or to this machine, not to {mail.host}"
            )


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(url: str) -> str:
    """A webhook URL without what may be its secret: ``https://hooks.slack.com/…``."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


# -- what a run found ----------------------------------------------------------------------------


def findings(store: Store, run_id: int) -> list[VersionChanges]:
    """The study versions stored by run ``run_id`` with their changes (all severities), but
    never the registry's own structural changes (regsync.sentinel: said once, not per study)."""
    return group_changes((c for c in store.changes_of_run(run_id) if c.change.category is not Category.REGISTRY), store)


def at_or_above(found: Sequence[VersionChanges], severity: Severity | str) -> list[VersionChanges]:
    """Each version with only its changes of ``severity`` or higher; versions left without
    any are dropped. Most severe first, then by study."""
    wanted = set(Severity.at_or_above(severity))
    kept = []
    for entry in found:
        changes = tuple(sort_changes(c for c in entry.changes if c.severity in wanted))
        if changes:
            kept.append(VersionChanges(
                entry.nct_id, entry.title, entry.from_version, entry.to_version, entry.detected_at,
                entry.content_hash, changes, entry.registry_versions,
            ))
    return sorted(kept, key=lambda e: (e.max_severity.rank, e.nct_id, e.to_version))


# -- messages ----------------------------------------------------------------------------------


def _count(found: Sequence[VersionChanges]) -> str:
    studies = len({e.nct_id for e in found})
    worst = Severity.max(e.max_severity for e in found)
    noun = "study" if studies == 1 else "studies"
    return f"{studies} {noun} changed (most severe: {worst})"


def digest_subject(found: Sequence[VersionChanges]) -> str:
    return f"regsync: {_count(found)}"


def study_subject(entry: VersionChanges) -> str:
    return f"regsync: {entry.entry_title()}"


def _mrkdwn(text: str) -> str:
    # Slack's escaping: only these three characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_section(entry: VersionChanges) -> dict[str, Any]:
    lines = [
        f"*<{entry.url}|{entry.nct_id}>* {_mrkdwn(entry.title or '')}".rstrip(),
        _mrkdwn(entry.headline()),
    ]
    lines += [
        f"• *{c.severity}* {c.category}: {_mrkdwn(c.summary)}{' _(milestone)_' if c.milestone else ''}"
        for c in entry.changes
    ]
    lines.append(f"<{entry.history_url}|version history>")
    text = "\n".join(lines)
    if len(text) > SLACK_SECTION_CHARS:
        text = text[: SLACK_SECTION_CHARS - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_payload(found: Sequence[VersionChanges]) -> dict[str, Any]:
    """Slack's incoming-webhook JSON: ``text`` (the notification line) and ``blocks``."""
    if len(found) == 1:
        entry = found[0]
        return {"text": entry.entry_title(), "blocks": [_slack_section(entry)]}
    shown = found[:SLACK_MAX_STUDIES]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": digest_subject(found)}},
    ]
    blocks += [_slack_section(entry) for entry in shown]
    if len(found) > len(shown):
        rest = len(found) - len(shown)
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"and {rest} more: `regsync changes`"},
        ]})
    return {"text": digest_subject(found), "blocks": blocks}


def json_payload(found: Sequence[VersionChanges], *, run_id: int, severity: Severity | str) -> dict[str, Any]:
    """regsync's own shape: each study version as the feed's ``_regsync`` item."""
    return {
        "source": "regsync",
        "run_id": run_id,
        "severity": str(severity),
        "summary": digest_subject(found) if len(found) != 1 else study_subject(found[0]),
        "studies": [entry.to_dict() for entry in found],
    }


def mail_body(found: Sequence[VersionChanges]) -> str:
    parts = [entry.text() for entry in found]
    return "\n\n\n".join(parts) + "\n"


def mail_message(found: Sequence[VersionChanges], mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = study_subject(found[0]) if len(found) == 1 else digest_subject(found)
    msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=mail.sender.rpartition("@")[2] or None)
    msg.set_content(mail_body(found))
    return msg


def _batches(found: Sequence[VersionChanges], digest: bool) -> list[list[VersionChanges]]:
    if not found:
        return []
    return [list(found)] if digest else [[entry] for entry in found]


# -- the outbox: what is to be sent, recorded before anything is sent (issue 20 item 5) -----------

WEBHOOK, MAIL = "webhook", "mail"
MAX_ATTEMPTS = 5  # then the message is given up, and `regsync status` says so
FIRST_BACKOFF = timedelta(minutes=15)  # doubling after each failed attempt: 15, 30, 60, 120 min


def compose(found: Sequence[VersionChanges], settings: Settings, *, run_id: int) -> list[tuple[str, str]]:
    """The messages ``found`` makes for each configured channel: (channel, payload as JSON).
    Everything a later run needs to send them is in the payload, except the secrets (the
    webhook URL, the SMTP password), which stay in the environment."""
    messages: list[tuple[str, str]] = []
    hook = settings.webhook
    if hook is not None:
        for batch in _batches(at_or_above(found, hook.severity), hook.digest):
            body = (slack_payload(batch) if hook.style == "slack"
                    else json_payload(batch, run_id=run_id, severity=hook.severity))
            messages.append((WEBHOOK, orjson.dumps({"body": body}).decode()))
    mail = settings.mail
    if mail is not None:
        for batch in _batches(at_or_above(found, mail.severity), mail.digest):
            message = mail_message(batch, mail)
            messages.append((MAIL, orjson.dumps({
                "subject": message["Subject"], "from": message["From"], "to": list(mail.to),
                "message_id": message["Message-ID"], "body": mail_body(batch),
            }).decode()))
    return messages


def _stored_mail(payload: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = payload["subject"]
    msg["From"] = payload["from"]
    msg["To"] = ", ".join(payload["to"])
    msg["Date"] = formatdate(usegmt=True)
    # Made when the message was recorded: a retry is the same message to the receiver.
    msg["Message-ID"] = payload["message_id"]
    msg.set_content(payload["body"])
    return msg


# -- delivery ------------------------------------------------------------------------------------

Post = Callable[[str, bytes, float], int]  # (url, JSON body, seconds for the whole exchange) -> HTTP status


def _post(url: str, body: bytes, timeout: float) -> int:
    from regsync.client import USER_AGENT, post_status

    return post_status(url, body, timeout=timeout,
                       headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})


def _http_failure(exc: Exception, timeout: float) -> str:
    """Why a POST failed, without the URL that requests puts in every message."""
    import requests

    if isinstance(exc, requests.Timeout | TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "Name or service not known" in text or "getaddrinfo" in text or "Errno -2" in text:
            return "unknown host"
        if "timed out" in text or "deadline" in text:
            return f"no answer within {timeout:g} s"
        return "could not connect"
    return type(exc).__name__


class _Budget:
    """One run's time for all its deliveries (a silent receiver must not cost its timeout
    per message: 1,000 studies in study mode were 2.8 hours)."""

    def __init__(self, seconds: float, clock: Callable[[], float]):
        self.seconds, self.clock = seconds, clock
        self.ends = clock() + seconds

    def left(self, timeout: float) -> tuple[float, float]:
        """The time one exchange may take (its own timeout, at most what is left of the
        budget), and the configured value that set it (what a failure line names)."""
        left = self.ends - self.clock()
        return (timeout, timeout) if timeout <= left else (left, self.seconds)

    @property
    def spent(self) -> str:
        return f"the run's delivery time ({self.seconds:g} s) is spent; left for the next sync"


def _webhook_attempts(rows: Sequence[dict[str, Any]], hook: Webhook, budget: _Budget, post: Post) -> dict[int, str | None]:
    """Each message's failure (None: delivered); a message the budget left untried is absent."""
    results: dict[int, str | None] = {}
    for row in rows:
        timeout, named = budget.left(hook.timeout)
        if timeout <= 0:
            break
        body = orjson.dumps(orjson.loads(row["payload"])["body"])
        try:
            status = post(hook.url, body, timeout)
        except OSError as exc:  # requests' errors are OSErrors (timeouts, refusals, resets)
            results[row["id"]] = _http_failure(exc, named)
            continue
        results[row["id"]] = None if 200 <= status < 300 else f"HTTP {status}"
    return results


class _Watchdog(threading.Thread):
    """Hangs up an SMTP conversation at its deadline: smtplib's timeout bounds each read, and
    a server trickling its greeting (or any reply) a byte at a time never lets one time out."""

    def __init__(self, conn: smtplib.SMTP, seconds: float):
        super().__init__(daemon=True)
        self.conn, self.seconds = conn, seconds
        self.stop = threading.Event()
        self.fired = False

    def run(self) -> None:
        if self.stop.wait(self.seconds):
            return
        self.fired = True
        while not self.stop.is_set():
            # Checked again until the conversation ends: the socket may not exist yet.
            sock = getattr(self.conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.stop.wait(0.05)


def _mail_attempts(
    rows: Sequence[dict[str, Any]], mail: Mail, budget: _Budget, smtp: Callable[..., smtplib.SMTP]
) -> dict[int, str | None]:
    """Over one SMTP connection whose whole conversation ends by the mail timeout (at most
    what is left of the run's budget); a connection that fails fails every message."""
    timeout, named = budget.left(mail.timeout)
    if timeout <= 0 or not rows:
        return {}
    results: dict[int, str | None] = {}

    def all_failed(why: str) -> dict[int, str | None]:
        return {**{row["id"]: why for row in rows}, **{k: v for k, v in results.items() if v is None}}

    conn = smtp(timeout=timeout)  # no host: connecting (and the greeting) under the watchdog
    watchdog = _Watchdog(conn, timeout)
    watchdog.start()
    try:
        conn.connect(mail.host, mail.port)
        conn.ehlo()
        if mail.starttls:
            if not conn.has_extn("starttls"):
                return all_failed("the server does not offer STARTTLS")
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
        if mail.user:
            conn.login(mail.user, mail.password or "")
        for row in rows:
            try:
                refused = conn.send_message(_stored_mail(orjson.loads(row["payload"])))
            except smtplib.SMTPRecipientsRefused as exc:
                results[row["id"]] = f"recipients refused: {', '.join(sorted(exc.recipients))}"
                continue
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                results[row["id"]] = _smtp_reply("refused", exc.smtp_code, exc.smtp_error)
                continue
            results[row["id"]] = f"recipients refused: {', '.join(sorted(refused))}" if refused else None
        with contextlib.suppress(smtplib.SMTPException, OSError):
            conn.quit()
    except smtplib.SMTPAuthenticationError as exc:
        return all_failed(_smtp_reply("authentication failed", exc.smtp_code, exc.smtp_error))
    except smtplib.SMTPNotSupportedError as exc:
        return all_failed(f"not supported by the server: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        if watchdog.fired or isinstance(exc, TimeoutError):
            return all_failed(f"no answer within {named:g} s")
        if isinstance(exc, ssl.SSLError):
            return all_failed(f"TLS failed: {exc.reason or exc}")
        if isinstance(exc, ConnectionRefusedError):
            return all_failed("connection refused")
        if isinstance(exc, socket.gaierror):
            return all_failed("unknown host")
        return all_failed(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
    finally:
        watchdog.stop.set()
        with contextlib.suppress(OSError):
            conn.close()
    return results


def retry_after(attempts: int, now: datetime) -> datetime | None:
    """When a message that failed its ``attempts``-th time may be tried again; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + FIRST_BACKOFF * 2 ** (attempts - 1)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def deliver_pending(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
    post: Post = _post,
    smtp: Callable[..., smtplib.SMTP] = smtplib.SMTP,
) -> list[str]:
    """Send what the outbox holds that is due at ``now`` (older runs' first), for each channel
    configured now; mark each message sent, or record the failed attempt with its back-off
    (given up after MAX_ATTEMPTS). One line per channel that could not deliver.

    A message is marked sent after the receiver took it: a kill in between sends it again
    (at least once); a message marked sent is never sent again."""
    due = store.outbox_due(_stamp(now))
    spent = _Budget(settings.budget, clock)
    failures: list[str] = []
    channels: list[tuple[str, Webhook | Mail | None]] = [(WEBHOOK, settings.webhook), (MAIL, settings.mail)]
    for channel, target in channels:
        rows = [row for row in due if row["channel"] == channel]
        if target is None or not rows:
            continue  # a channel not configured on this run: its messages wait
        results = (
            _webhook_attempts(rows, target, spent, post) if isinstance(target, Webhook)
            else _mail_attempts(rows, target, spent, smtp)
        )
        failed: list[str] = []
        for row in rows:
            if row["id"] not in results:
                continue
            why = results[row["id"]]
            if why is None:
                store.outbox_sent(row["id"], _stamp(now))
                continue
            failed.append(why)
            again = retry_after(row["attempts"] + 1, now)
            store.outbox_failed(row["id"], why, _stamp(now), None if again is None else _stamp(again))
        untried = len(rows) - len(results)
        if untried:
            failed.append(spent.spent)
        if not failed:
            log.info("%s: %d message(s) delivered", target.name, len(rows))
        line = _failure_line(target.name, failed, len(rows))
        if line:
            failures.append(line)
    for failure in failures:
        log.warning("%s", failure)
    return failures


def record(store: Store, found: Sequence[VersionChanges], settings: Settings, *, run_id: int, now: datetime) -> None:
    """Put the messages ``found`` makes in the outbox (in the caller's transaction)."""
    messages = compose(found, settings, run_id=run_id)
    if messages:
        store.outbox_add(messages, run_id, _stamp(now))


def _smtp_reply(what: str, code: int, text: bytes | str) -> str:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{what} ({code} {' '.join(reply.split())})"


def _failure_line(name: str, failed: list[str], total: int, *, all_failed: bool = False) -> str | None:
    if not failed:
        return None
    count = total if all_failed else len(failed)
    of = f" ({count} of {total} messages)" if total > 1 else ""
    return f"{name}: notification not delivered: {failed[0]}{of}"
