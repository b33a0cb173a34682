"""`regsync feed` (issue 14 item 1): Atom and JSON Feed 1.1 of flagged changes, one entry per
study version, read back with an independent parser (feedparser)."""

from __future__ import annotations

import json
import os
import stat
import sqlite3
import xml.etree.ElementTree as ET

import feedparser
import pytest

from regsync.feed import history_url
from support.mocks import mock_study, mock_version
from support.records import edit, load

NCT = "NCT07240987"
OTHER = "NCT06171568"
TITLE = "Mesenchymal Stem Cells for Chronic Kidney Diseases"
OTHER_TITLE = "Lariboisière Cognitive Assessment: Evaluation of the 1-year Outcomes"
ATOM = "{http://www.w3.org/2005/Atom}"

# When each version's changes were detected: (study, version) -> stored time.
DETECTED = {
    (NCT, 2): "2026-02-02T03:00:00.100000Z",
    (OTHER, 2): "2026-03-02T03:00:00.200000Z",
    (NCT, 3): "2026-06-02T03:00:00.300000Z",
}


def _sync(api, run, *records):
    mock_version(api)
    for record in records:
        mock_study(api, record)
        nct_id = record["protocolSection"]["identificationModule"]["nctId"]
        assert run("sync", "--force", nct_id).exit_code == 0


def _date_changes(db_path):
    with sqlite3.connect(db_path) as conn:
        for (nct_id, version), when in DETECTED.items():
            conn.execute("UPDATE changes SET detected_at = ? WHERE nct_id = ? AND to_version = ?", [when, nct_id, version])


@pytest.fixture
def stored(api, run, db_path):
    """NCT07240987: recruiting (minor, two milestones), then a 915-day primary completion slip
    (major); NCT06171568: withdrawn without a reason (critical)."""
    v1 = load(NCT)
    v2 = edit(v1, "2026-02-01", overallStatus="RECRUITING", startDateStruct={"date": "2026-01-20", "type": "ACTUAL"})
    v3 = edit(v2, "2026-06-01", primaryCompletionDateStruct={"date": "2029-12-31", "type": "ESTIMATED"})
    o1 = load(OTHER)
    o2 = edit(o1, "2026-03-01", overallStatus="WITHDRAWN")
    _sync(api, run, v1, o1)
    _sync(api, run, v2, o2)
    _sync(api, run, v3)
    _date_changes(db_path)
    with sqlite3.connect(db_path) as conn:
        hashes = {(n, v): h for n, v, h in conn.execute("SELECT nct_id, version, content_hash FROM versions")}
    return hashes


def _feed(run, *args):
    result = run("feed", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout_bytes


def _ids(parsed):
    return [e.id for e in parsed.entries]


def test_atom_feed_entries_links_and_severities(stored, run):
    data = _feed(run)
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "regsync: minor and more severe changes"
    assert parsed.feed.id == "tag:regsync.github.io,2026:feed?severity=minor"
    assert parsed.feed.updated == "2026-06-02T03:00:00+00:00"  # the newest entry, not the clock
    assert _ids(parsed) == [
        f"tag:regsync.github.io,2026:{NCT}/v3/{stored[NCT, 3][:16]}",
        f"tag:regsync.github.io,2026:{OTHER}/v2/{stored[OTHER, 2][:16]}",
        f"tag:regsync.github.io,2026:{NCT}/v2/{stored[NCT, 2][:16]}",
    ]
    assert [e.title for e in parsed.entries] == [
        f"{NCT} ({TITLE}) v2 -> v3 [major]: dates",
        f"{OTHER} ({OTHER_TITLE}) v1 -> v2 [critical]: status",
        f"{NCT} ({TITLE}) v1 -> v2 [minor]: status (milestone: RECRUITING), dates (milestone: start date ACTUAL)",
    ]
    first = parsed.entries[0]
    assert first.link == f"https://clinicaltrials.gov/study/{NCT}"
    assert [(l.rel, l.href) for l in first.links] == [
        ("alternate", f"https://clinicaltrials.gov/study/{NCT}"),
        ("related", f"https://clinicaltrials.gov/study/{NCT}?tab=history"),
    ]
    assert first.published == first.updated == "2026-06-02T03:00:00+00:00"
    assert [t.term for t in first.tags] == ["severity:major", "dates"]
    assert [t.term for t in parsed.entries[2].tags] == ["severity:minor", "status", "dates"]
    content = first.content[0]
    assert content.type == "text/html"
    assert (
        "<li><strong>major</strong> dates: Primary completion date: 2027-06-30 -&gt; 2029-12-31 "
        "(ESTIMATED, +915 days)</li>"
    ) in content.value
    assert f'<a href="https://clinicaltrials.gov/study/{NCT}?tab=history">' in content.value
    minor = parsed.entries[2].content[0].value
    assert "<strong>minor</strong> status: Overall status: NOT_YET_RECRUITING -&gt; RECRUITING <em>(milestone)</em>" in minor
    assert "<strong>minor</strong> dates: Start date: 2026-01-01 -&gt; 2026-01-20 (ESTIMATED -&gt; ACTUAL, +19 days)" in minor


def test_atom_feed_has_what_rfc_4287_requires(stored, run):
    """feedparser is lenient: the elements RFC 4287 requires, checked on the XML itself."""
    root = ET.fromstring(_feed(run))
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{name}") is not None, name
    for entry in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated", "content"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        alternates = [l for l in entry.findall(f"{ATOM}link") if l.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1  # at most one alternate link per type


def test_entry_ids_are_stable_across_runs(stored, api, run, db_path):
    before = feedparser.parse(_feed(run))
    again = feedparser.parse(_feed(run))
    assert _ids(again) == _ids(before)
    assert [e.updated for e in again.entries] == [e.updated for e in before.entries]
    # A later sync adds an entry and leaves the others as they were; so does reclassifying.
    _sync(api, run, edit(load(OTHER), "2026-07-01", overallStatus="WITHDRAWN", whyStopped="Sponsor decision"))
    assert run("reclassify").exit_code == 0
    after = feedparser.parse(_feed(run))
    assert len(after.entries) == 4
    assert after.entries[0].id.startswith(f"tag:regsync.github.io,2026:{OTHER}/v3/")
    assert _ids(after)[1:] == _ids(before)
    assert [e.updated for e in after.entries[1:]] == [e.updated for e in before.entries]


def test_json_feed_required_fields(stored, run):
    data = _feed(run, "--format", "json")
    doc = json.loads(data)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "regsync: minor and more severe changes"
    assert isinstance(doc["items"], list) and len(doc["items"]) == 3
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["content_html"] and item["content_text"]
    item = doc["items"][0]
    assert item["url"] == f"https://clinicaltrials.gov/study/{NCT}"
    assert item["external_url"] == f"https://clinicaltrials.gov/study/{NCT}?tab=history"
    assert item["date_published"] == "2026-06-02T03:00:00Z"
    assert item["tags"] == ["severity:major", "dates"]
    assert item["content_text"].splitlines() == [
        f"{NCT}: {TITLE}",
        "v2 -> v3 [major]: dates",
        "",
        "major    dates         Primary completion date: 2027-06-30 -> 2029-12-31 (ESTIMATED, +915 days)",
        "",
        f"Study: https://clinicaltrials.gov/study/{NCT}",
        f"History: https://clinicaltrials.gov/study/{NCT}?tab=history",
    ]
    extension = item["_regsync"]
    assert (extension["nct_id"], extension["from_version"], extension["to_version"]) == (NCT, 2, 3)
    assert extension["max_severity"] == "major"
    assert [c["rule"] for c in extension["changes"]] == ["dates.slip.early_very_large"]
    # The same entries as the Atom feed. (feedparser 6 reads no JSON Feed; the fields the
    # JSON Feed 1.1 spec requires are checked above.)
    assert [i["id"] for i in doc["items"]] == _ids(feedparser.parse(_feed(run)))
    assert [i["title"] for i in doc["items"]] == [e.title for e in feedparser.parse(_feed(run)).entries]


def test_filters_pick_versions_and_changes(stored, run):
    major = feedparser.parse(_feed(run, "--severity", "major"))
    assert major.feed.title == "regsync: major and more severe changes"
    assert [e.title.split(" (")[0] for e in major.entries] == [NCT, OTHER]
    status = feedparser.parse(_feed(run, "--category", "status"))
    assert [e.title for e in status.entries] == [
        f"{OTHER} ({OTHER_TITLE}) v1 -> v2 [critical]: status",
        f"{NCT} ({TITLE}) v1 -> v2 [minor]: status (milestone: RECRUITING)",  # its dates change left out
    ]
    assert "Start date" not in status.entries[1].content[0].value
    one = json.loads(_feed(run, "--nct", "nct6171568", "--format", "json"))
    assert [i["url"] for i in one["items"]] == [f"https://clinicaltrials.gov/study/{OTHER}"]
    assert one["title"] == f"regsync: minor and more severe changes of {OTHER}"
    limited = feedparser.parse(_feed(run, "--limit", "1"))
    assert _ids(limited) == _ids(feedparser.parse(_feed(run)))[:1]
    result = run("feed", "--category", "nonsense")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown category 'nonsense'; one of: status, dates,")


def test_feed_to_a_file(stored, run, tmp_path):
    target = tmp_path / "trials.atom"
    result = run("feed", "--output", str(target))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert target.read_bytes() == _feed(run)
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # like a file written plainly, not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".regsync-feed-")] == []
    result = run("feed", "--output", str(tmp_path / "missing" / "trials.atom"))
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot write {tmp_path / 'missing' / 'trials.atom'}: No such file or directory\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_empty_feed_is_valid(api, run):
    _sync(api, run, load(NCT))
    parsed = feedparser.parse(_feed(run))
    assert not parsed.bozo and parsed.version == "atom10" and parsed.entries == []
    assert json.loads(_feed(run, "--format", "json"))["items"] == []


def test_history_link_with_the_registry_version_numbers():
    assert history_url(NCT) == f"https://clinicaltrials.gov/study/{NCT}?tab=history"
    assert history_url(NCT, 3, 4) == f"https://clinicaltrials.gov/study/{NCT}?tab=history&a=3&b=4"


def _device(path) -> bool:
    """A character device like /dev/full at ``path`` (needs root; else the test skips it)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except PermissionError:
        return False
    return True


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device"])
def test_feed_output_refuses_devices_fifos_and_symlinks(stored, run, tmp_path, kind):
    """Issue 20 item 7: the rename over the output would replace the device node, FIFO or
    link itself (as root from cron: /dev/full, /dev/stdout)."""
    target = tmp_path / "out"
    real = tmp_path / "real.atom"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        real.write_bytes(b"kept")
        target.symlink_to(real)
    elif not _device(target):
        pytest.skip("mknod needs root")
    before = os.lstat(target)
    result = run("feed", "--output", str(target))
    said = {"fifo": "a FIFO", "symlink": "a symbolic link", "device": "a device"}[kind]
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"error: refusing to write the feed to {target}: it is {said}; "
                             "give a regular file or a new path (- for stdout)\n")
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if kind == "symlink":
        assert real.read_bytes() == b"kept"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".regsync-feed-")] == []


def test_feed_output_dash_is_stdout(stored, run):
    result = run("feed", "--output", "-")
    assert result.exit_code == 0
    assert result.stdout_bytes == _feed(run)


def test_feed_and_report_keep_a_private_umask(stored, run, tmp_path):
    old = os.umask(0o077)
    try:
        assert run("feed", "--output", str(tmp_path / "trials.atom")).exit_code == 0
        assert run("report", "--html", str(tmp_path / "site")).exit_code == 0
    finally:
        os.umask(old)
    assert (tmp_path / "trials.atom").stat().st_mode & 0o777 == 0o600
    pages = list((tmp_path / "site").glob("*.html"))
    assert pages and {p.stat().st_mode & 0o777 for p in pages} == {0o600}
