"""Issue 20 item 8: registry text is text. Control characters (ESC, OSC sequences, NUL) in
registry strings reach no output raw: terminal lines of sync, changes, diff and history, the
Atom and JSON feeds, and e-mail all show them escaped (regsync.text.printable)."""

from __future__ import annotations

import json
import re

import feedparser
import responses
from support.mocks import mock_study, mock_version
from support.records import edit, load

from regsync import notify
from regsync.feed import VersionChanges
from regsync.model import Category, Change, Kind, Severity
from regsync.text import printable

NCT = "NCT07240987"
EVIL = "\x1b]0;owned\x07\x1b[2J\x00\x9b"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_printable_escapes_controls_and_keeps_text():
    assert printable("plain text\twith tab\nand newline, ünïcode") == "plain text\twith tab\nand newline, ünïcode"
    assert printable(EVIL) == "\\x1b]0;owned\\x07\\x1b[2J\\x00\\x9b"


def _sync_evil(run):
    v1 = load(NCT)
    v1["protocolSection"]["identificationModule"]["briefTitle"] = "Title " + EVIL
    v2 = edit(v1, "2026-02-01", overallStatus="RECRUITING" + EVIL, whyStopped="why " + EVIL)
    v2["protocolSection"]["descriptionModule"]["briefSummary"] = "A summary " + EVIL + " " + "long " * 30
    outputs = []
    for record in (v1, v2):
        with responses.RequestsMock() as api:
            mock_version(api)
            mock_study(api, record)
            result = run("sync", "--force", NCT)
            assert result.exit_code == 0, result.stderr
            outputs.append(result.stdout + result.stderr)
    return outputs


def test_terminal_outputs_show_control_characters_escaped(run):
    outputs = _sync_evil(run)
    assert not any(RAW.search(output) for output in outputs)
    for args in (["changes"], ["diff", NCT], ["diff", NCT, "--all"], ["history", NCT]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert not RAW.search(result.stdout), (args, result.stdout)
    assert "\\x1b]0;owned" in run("diff", NCT).stdout


def test_feeds_are_valid_with_control_characters(run):
    _sync_evil(run)
    atom = run("feed")
    assert atom.exit_code == 0, atom.stderr
    parsed = feedparser.parse(atom.stdout_bytes)
    assert not parsed.bozo and parsed.entries
    assert not RAW.search(atom.stdout)
    feed = run("feed", "--format", "json")
    assert feed.exit_code == 0
    items = json.loads(feed.stdout)["items"]
    assert items and not RAW.search(json.dumps(items, ensure_ascii=False))


def test_mail_shows_control_characters_escaped():
    change = Change(path="protocolSection.statusModule.overallStatus", kind=Kind.CHANGED, old="A", new="B" + EVIL,
                    summary="Overall status: A -> B" + EVIL, severity=Severity.MAJOR, category=Category.STATUS,
                    rule="status.changed")
    entry = VersionChanges(NCT, "Title " + EVIL, 1, 2, "2026-02-01T00:00:00.000000Z", "0" * 64, (change,))
    mail = notify.Mail(sender="regsync@example.org", to=("a@example.org",), host="localhost")
    message = notify.mail_message([entry], mail)
    assert not RAW.search(str(message["Subject"])) and not RAW.search(message.get_content())
    assert "\\x1b]0;owned" in message.get_content()
