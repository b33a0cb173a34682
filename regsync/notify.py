"""Telling people what a sync found: a webhook (Slack-compatible or plain JSON) and e-mail.

After a sync is stored, ``findings(store, run_id)`` reads the study versions it stored with
their classified changes; ``deliver`` sends each channel the versions with a change at or
above the channel's threshold, as one message per run (digest) or one per study version.

Secrets (the webhook URL, which for Slack carries its token, and the SMTP password) are
configuration values like any other here, but they never appear in a message this module
returns or logs: a webhook is named by its scheme and host only (``redact``). The CLI reads
them from the environment only, never from the command line.

A failed delivery never touches what was stored: the sync committed before anything is sent.
Each channel that could not deliver gives one line (``deliver``'s return value).
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

import orjson

from regsync.feed import VersionChanges, group_changes
from regsync.model import Severity, sort_changes
from regsync.store import Store

log = logging.getLogger(__name__)

WEBHOOK_STYLES = ("slack", "json")
DEFAULT_SEVERITY = Severity.MAJOR
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
    timeout: float = 10.0

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
    timeout: float = 30.0

    @property
    def name(self) -> str:
        return f"mail via {self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    webhook: Webhook | None = None
    mail: Mail | None = None

    @property
    def enabled(self) -> bool:
        return self.webhook is not None or self.mail is not None


class ConfigError(ValueError):
    """Notifications are configured in a way that cannot work (the CLI: a usage error)."""


def check(settings: Settings) -> None:
    """Refuse, before any sync, a configuration that could only fail or leak."""
    hook = settings.webhook
    if hook is not None:
        parts = urlsplit(hook.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("REGSYNC_WEBHOOK_URL is not an http(s) URL")
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
    """The study versions stored by run ``run_id`` with their changes (all severities)."""
    return group_changes(store.changes_of_run(run_id), store)


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


# -- delivery ------------------------------------------------------------------------------------

Post = Callable[[str, bytes, float], int]  # (url, JSON body, timeout) -> HTTP status


def _post(url: str, body: bytes, timeout: float) -> int:
    import requests

    from regsync.client import USER_AGENT

    response = requests.post(
        url, data=body, timeout=timeout, allow_redirects=False,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    return response.status_code


def _http_failure(exc: Exception, timeout: float) -> str:
    """Why a POST failed, without the URL that requests puts in every message."""
    import requests

    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "Name or service not known" in text or "getaddrinfo" in text or "Errno -2" in text:
            return "unknown host"
        return "could not connect"
    return type(exc).__name__


def send_webhook(found: Sequence[VersionChanges], hook: Webhook, *, run_id: int, post: Post = _post) -> str | None:
    """Send; None when every message went through, else the one line saying why not."""
    batches = _batches(at_or_above(found, hook.severity), hook.digest)
    failed: list[str] = []
    for batch in batches:
        payload = (
            slack_payload(batch) if hook.style == "slack"
            else json_payload(batch, run_id=run_id, severity=hook.severity)
        )
        try:
            status = post(hook.url, orjson.dumps(payload), hook.timeout)
        except OSError as exc:  # requests' errors are OSErrors (timeouts, refusals, resets)
            failed.append(_http_failure(exc, hook.timeout))
            continue
        if not 200 <= status < 300:
            failed.append(f"HTTP {status}")
    if batches and not failed:
        log.info("%s: %d message(s) delivered", hook.name, len(batches))
    return _failure_line(hook.name, failed, len(batches))


def send_mail(
    found: Sequence[VersionChanges], mail: Mail, *, smtp: Callable[..., smtplib.SMTP] = smtplib.SMTP
) -> str | None:
    """Send over one SMTP connection; None when every message went through."""
    batches = _batches(at_or_above(found, mail.severity), mail.digest)
    if not batches:
        return None
    failed: list[str] = []
    try:
        with smtp(mail.host, mail.port, timeout=mail.timeout) as conn:
            conn.ehlo()
            if mail.starttls:
                if not conn.has_extn("starttls"):
                    return _failure_line(mail.name, ["the server does not offer STARTTLS"], len(batches), all_failed=True)
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if mail.user:
                conn.login(mail.user, mail.password or "")
            for batch in batches:
                try:
                    refused = conn.send_message(mail_message(batch, mail))
                except smtplib.SMTPRecipientsRefused as exc:
                    failed.append(f"recipients refused: {', '.join(sorted(exc.recipients))}")
                    continue
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    failed.append(_smtp_reply("refused", exc.smtp_code, exc.smtp_error))
                    continue
                if refused:
                    failed.append(f"recipients refused: {', '.join(sorted(refused))}")
    except smtplib.SMTPAuthenticationError as exc:
        return _failure_line(mail.name, [_smtp_reply("authentication failed", exc.smtp_code, exc.smtp_error)],
                             len(batches), all_failed=True)
    except smtplib.SMTPNotSupportedError as exc:
        return _failure_line(mail.name, [f"not supported by the server: {exc}"], len(batches), all_failed=True)
    except ssl.SSLError as exc:
        return _failure_line(mail.name, [f"TLS failed: {exc.reason or exc}"], len(batches), all_failed=True)
    except ConnectionRefusedError:
        return _failure_line(mail.name, ["connection refused"], len(batches), all_failed=True)
    except TimeoutError:
        return _failure_line(mail.name, [f"no answer within {mail.timeout:g} s"], len(batches), all_failed=True)
    except socket.gaierror:
        return _failure_line(mail.name, ["unknown host"], len(batches), all_failed=True)
    except (smtplib.SMTPException, OSError) as exc:
        return _failure_line(mail.name, [type(exc).__name__ + (f": {exc}" if str(exc) else "")],
                             len(batches), all_failed=True)
    if not failed:
        log.info("%s: %d message(s) sent to %s", mail.name, len(batches), ", ".join(mail.to))
    return _failure_line(mail.name, failed, len(batches))


def _smtp_reply(what: str, code: int, text: bytes | str) -> str:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{what} ({code} {' '.join(reply.split())})"


def _failure_line(name: str, failed: list[str], total: int, *, all_failed: bool = False) -> str | None:
    if not failed:
        return None
    count = total if all_failed else len(failed)
    of = f" ({count} of {total} messages)" if total > 1 else ""
    return f"{name}: notification not delivered: {failed[0]}{of}"


def deliver(
    found: Sequence[VersionChanges],
    settings: Settings,
    *,
    run_id: int,
    post: Post = _post,
    smtp: Callable[..., smtplib.SMTP] = smtplib.SMTP,
) -> list[str]:
    """Send every configured channel what passes its threshold; one line per channel that
    could not deliver (each channel is tried whatever the other did)."""
    failures = []
    if settings.webhook is not None:
        failure = send_webhook(found, settings.webhook, run_id=run_id, post=post)
        if failure:
            failures.append(failure)
    if settings.mail is not None:
        failure = send_mail(found, settings.mail, smtp=smtp)
        if failure:
            failures.append(failure)
    for failure in failures:
        log.warning("%s", failure)
    return failures
