"""Issue 23 item 4: "the registry changed, not the sponsors".

When one run sees the same structural change (a field dropped, added, renamed or retyped) at
one path in at least 20% of at least 50 studies it fetched, their update dates unmoved, it
says so once, records those changes as the registry's (category ``registry``, admin) and keeps
them out of the per-study cron lines, notifications, feeds, ``changes`` and the report's
highlights; the studies' own edits in the same run are judged as usual. Below the thresholds
every study is flagged as before. The pure detector (regsync.sentinel) is tested on its edges.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable

import pytest

from regsync.model import Category, Change, Kind, Severity
from regsync.rules import Thresholds
from regsync.sentinel import Shape, Signature, detect, is_registry_wide, relabel, signatures
from support.fakeapi import synthesize
from support.receivers import http_receiver
from support.records import edit

NEXT_DATA = "2026-10-02T09:00:00"
RENAME_LINE = (
    "note: the registry changed protocolSection.designModule.studyType (renamed to kind) in {n} studies; "
    "recorded as a registry change, not flagged per study\n"
)


def _renamed(record: dict) -> dict:
    """The registry renames designModule.studyType to kind; the record's dates stay."""
    new = copy.deepcopy(record)
    design = new["protocolSection"]["designModule"]
    design["kind"] = design.pop("studyType")
    return new


def _withdrawn(record: dict) -> dict:
    """The sponsor's own edit: withdrawn without a reason (critical), with a new post date."""
    return edit(record, "2026-10-01", overallStatus="WITHDRAWN")


def _stored(db_path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT nct_id, path, category, severity FROM changes ORDER BY nct_id, path"
        ).fetchall()


@pytest.fixture
def studies() -> list[dict]:
    return list(synthesize(60))


def _reshape(fake_api, run, records: list[dict], change: Callable[[dict], dict], *, count: int | None = None,
             own: dict[int, Callable[[dict], dict]] | None = None):
    """Sync ``records``; then the registry applies ``change`` to the first ``count`` (all)
    and the sponsors their ``own`` edits (by index); the data moves on."""
    registry, server = fake_api(records)
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    first = run("sync", *ids, api_url=server.url)
    assert first.exit_code == 0, first.stderr
    for i, record in enumerate(records):
        new = change(record) if count is None or i < count else record
        if own and i in own:
            new = own[i](new)
        registry.add(new)
    registry.data_timestamp = NEXT_DATA
    return server, ids


# -- a registry-wide rename --------------------------------------------------------------------


def test_a_registry_wide_rename_is_said_once_recorded_as_the_registry_s_and_the_sponsors_edits_still_told(
    fake_api, run, studies, db_path, monkeypatch
):
    withdrawn = {i: _withdrawn for i in (4, 6, 8)}  # not yet recruiting, then withdrawn
    assert {studies[i]["protocolSection"]["statusModule"]["overallStatus"] for i in withdrawn} == {"NOT_YET_RECRUITING"}
    server, ids = _reshape(fake_api, run, studies, _renamed, own=withdrawn)
    with http_receiver() as hook:
        monkeypatch.setenv("REGSYNC_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("REGSYNC_WEBHOOK_SEVERITY", "admin")  # even registry bookkeeping would go
        result = run("sync", "--quiet", *ids, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    # The cron lines: the sponsors' edits only; the registry's change said once, on stderr.
    assert result.stdout == "".join(
        f"{ids[i]} changed v1 -> v2 [critical]: status\n" for i in sorted(withdrawn)
    )
    assert result.stderr == RENAME_LINE.format(n=60)
    # Stored: every rename as the registry's (admin), the withdrawals as usual.
    rows = _stored(db_path)
    renames = [r for r in rows if r[1].startswith("protocolSection.designModule.")]
    assert len(renames) == 120  # studyType gone, kind come: 2 a study
    assert {(r[2], r[3]) for r in renames} == {("registry", "admin")}
    status = [r for r in rows if r[1] == "protocolSection.statusModule.overallStatus"]
    assert [(r[0], r[2], r[3]) for r in status] == [(ids[i], "status", "critical") for i in sorted(withdrawn)]
    # One notification, of the sponsors' edits only.
    [post] = hook.posts
    body = json.loads(post.body)
    assert body["text"] == "regsync: 3 studies changed (most severe: critical)"
    assert "studyType" not in post.body.decode() and "egistry" not in post.body.decode()
    # Recorded once for the run: `status` says it under the run.
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT run_id, path, shape, detail, studies, fetched FROM registry_changes").fetchall() == [
            (2, "protocolSection.designModule.studyType", "renamed", "kind", 60, 60),
        ]
    status_text = run("status").stdout
    assert ("  run 2: " + RENAME_LINE.format(n=60).removeprefix("note: ")) in status_text
    status_json = json.loads(run("status", "--json").stdout)
    assert [r["registry_changes"] for r in status_json["runs"]][:1] == [[{
        "run_id": 2, "path": "protocolSection.designModule.studyType", "shape": "renamed", "detail": "kind",
        "studies": 60, "fetched": 60, "detected_at": status_json["runs"][0]["registry_changes"][0]["detected_at"],
    }]]


def test_the_registry_s_change_stays_out_of_feeds_changes_and_the_report_but_diff_all_shows_it(
    fake_api, run, studies, tmp_path
):
    server, ids = _reshape(fake_api, run, studies, _renamed, own={4: _withdrawn})
    assert run("sync", *ids, api_url=server.url).exit_code == 0
    # The feed, at any severity: one entry, the withdrawal, without the rename.
    feed = json.loads(run("feed", "--format", "json", "--severity", "admin", "-o", "-").stdout)
    assert [item["title"].split()[0] for item in feed["items"]] == [ids[4]]
    assert "studyType" not in json.dumps(feed)
    # `changes` by default: the withdrawal only.
    listed = run("changes", "--json")
    assert {(c["nct_id"], c["category"]) for c in json.loads(listed.stdout)} == {(ids[4], "status")}
    # The report's highlights: no study shows the rename.
    out = tmp_path / "report"
    assert run("report", ids[0], ids[4], "--html", str(out)).exit_code == 0
    for page in ("index.html", f"{ids[0]}.html", f"{ids[4]}.html"):
        assert "Registry-side" not in (out / page).read_text()
    assert "WITHDRAWN" in (out / f"{ids[4]}.html").read_text()
    # `diff --all` shows what the registry did, as the registry's.
    shown = run("diff", "--all", ids[0]).stdout
    assert "Registry-side change: protocolSection.designModule.studyType (renamed to kind)" in shown


def test_without_quiet_a_study_the_registry_alone_changed_says_so(fake_api, run, studies):
    server, ids = _reshape(fake_api, run, studies, _renamed)
    result = run("sync", *ids, api_url=server.url)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines == [f"{n} changed v1 -> v2: registry-side change only (not the sponsor's)" for n in ids]
    assert result.stderr.startswith(RENAME_LINE.format(n=60))


def test_reclassify_keeps_the_registry_s_label(fake_api, run, studies, db_path):
    server, ids = _reshape(fake_api, run, studies, _renamed, own={4: _withdrawn})
    assert run("sync", *ids, api_url=server.url).exit_code == 0
    before = _stored(db_path)
    with sqlite3.connect(db_path) as conn:
        detected = conn.execute("SELECT id, detected_at FROM changes ORDER BY id").fetchall()
    assert run("reclassify").exit_code == 0
    assert _stored(db_path) == before
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT id, detected_at FROM changes ORDER BY id").fetchall() == detected


def test_a_later_run_that_meets_a_known_registry_change_records_it_quietly(fake_api, run, studies, db_path):
    """Studies a run did not fetch meet the rename later (an incremental run, a few at a
    time): the judge records it as the registry's, and nothing is said again."""
    server, ids = _reshape(fake_api, run, studies, _renamed)
    assert run("sync", *ids[:55], api_url=server.url).stderr.startswith(RENAME_LINE.format(n=55))
    late = run("sync", "--quiet", *ids[55:], api_url=server.url)
    assert (late.exit_code, late.stdout, late.stderr) == (0, "", "")
    rows = [r for r in _stored(db_path) if r[0] in ids[55:]]
    assert len(rows) == 10 and {(r[2], r[3]) for r in rows} == {("registry", "admin")}


# -- below the thresholds: per study, as before ---------------------------------------------------


@pytest.mark.parametrize("n, renamed", [(60, 5), (30, 30)], ids=["5-of-60", "30-fetched"])
def test_below_the_thresholds_every_study_is_flagged(fake_api, run, db_path, n, renamed):
    records = list(synthesize(n))
    server, ids = _reshape(fake_api, run, records, _renamed, count=renamed)
    result = run("sync", "--quiet", *ids, api_url=server.url)
    assert result.exit_code == 0
    assert "note:" not in result.stderr
    assert len(result.stdout.splitlines()) == renamed
    rows = [r for r in _stored(db_path) if r[1].startswith("protocolSection.designModule.")]
    assert len(rows) == 2 * renamed and "registry" not in {r[2] for r in rows}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM registry_changes").fetchone() == (0,)


# -- a type change and a field dropped ----------------------------------------------------------


def _retyped_and_dropped(record: dict) -> dict:
    new = copy.deepcopy(record)
    design = new["protocolSection"]["designModule"]
    design["studyType"] = [design["studyType"]]  # text -> list
    del new["protocolSection"]["descriptionModule"]["briefSummary"]
    return new


def test_a_type_change_and_a_field_dropped_across_studies(fake_api, run, studies, db_path):
    server, ids = _reshape(fake_api, run, studies, _retyped_and_dropped, own={4: _withdrawn})
    result = run("sync", "--quiet", *ids, api_url=server.url)
    assert result.exit_code == 0
    assert result.stdout == f"{ids[4]} changed v1 -> v2 [critical]: status\n"
    assert result.stderr.splitlines() == [
        "note: the registry changed protocolSection.descriptionModule.briefSummary (dropped) in 60 studies; "
        "recorded as a registry change, not flagged per study",
        "note: the registry changed protocolSection.designModule.studyType (string -> list) in 60 studies; "
        "recorded as a registry change, not flagged per study",
    ]
    rows = [r for r in _stored(db_path) if r[1] != "protocolSection.statusModule.overallStatus"]
    assert {r[1] for r in rows} >= {"protocolSection.designModule.studyType",
                                    "protocolSection.descriptionModule.briefSummary"}
    assert {(r[2], r[3]) for r in rows if r[1] in ("protocolSection.designModule.studyType",
                                                   "protocolSection.descriptionModule.briefSummary")} == {
        ("registry", "admin")}


# -- the pure detector ------------------------------------------------------------------------


def _change(path: str, kind: Kind, old=None, new=None, category=Category.DESIGN, severity=Severity.MAJOR) -> Change:
    return Change(category, severity, kind, path, old, new, "x", "design.other")


GONE = _change("protocolSection.designModule.studyType", Kind.REMOVED, old="INTERVENTIONAL")
COME = _change("protocolSection.designModule.kind", Kind.ADDED, new="INTERVENTIONAL")
RENAME = Signature("protocolSection.designModule.studyType", Shape.RENAMED, "kind")
MOVED_DATE = _change("protocolSection.statusModule.lastUpdatePostDateStruct", Kind.CHANGED,
                     {"date": "2026-01-01"}, {"date": "2026-02-01"}, Category.ADMIN, Severity.ADMIN)


def _pairs(renamed: int, *, moved: int = 0):
    return [(f"NCT{i:08d}", [GONE, COME, *([MOVED_DATE] if i < moved else [])]) for i in range(renamed)]


@pytest.mark.parametrize("studies, fetched, wide", [
    (10, 50, True),    # exactly 20% of exactly 50
    (9, 50, False),    # just under the share
    (49, 49, False),   # every study, but fewer than 50 fetched
    (12, 60, True),    # 20% where 0.2 * 60 is 12.000000000000002 in floating point
    (11, 60, False),
])
def test_the_thresholds_include_their_boundaries(studies, fetched, wide):
    assert is_registry_wide(studies, fetched) is wide
    assert bool(detect(_pairs(studies), fetched)) is wide


def test_the_thresholds_are_data():
    assert detect(_pairs(5), 10, Thresholds(registry_change_studies=10, registry_change_share=0.5)) != []
    assert detect(_pairs(4), 10, Thresholds(registry_change_studies=10, registry_change_share=0.5)) == []


def test_a_study_counts_once_and_pairs_whose_dates_moved_are_no_evidence():
    [found] = detect(_pairs(10) * 3, 50)  # a study with three such pairs counts once
    assert (found.signature, found.studies) == (RENAME, 10)
    assert detect(_pairs(12, moved=3), 50) == []  # 9 unmoved of 50: the sponsors', not the registry's


def test_signatures_of_a_pair():
    sigs = signatures([GONE, COME])
    assert sigs.per_change == (frozenset({RENAME}), frozenset({RENAME})) and sigs.pure == (True, True)
    # A different value, or a field of another parent: not a rename.
    other = _change("protocolSection.designModule.kind", Kind.ADDED, new="OBSERVATIONAL")
    assert signatures([GONE, other]).all == {
        Signature("protocolSection.designModule.studyType", Shape.DISAPPEARED),
        Signature("protocolSection.designModule.kind", Shape.APPEARED),
    }
    elsewhere = _change("protocolSection.statusModule.kind", Kind.ADDED, new="INTERVENTIONAL")
    assert Shape.RENAMED not in {s.shape for s in signatures([GONE, elsewhere]).all}
    # Selectors are reduced: the same field of every site is one signature.
    site = _change("protocolSection.contactsLocationsModule.locations[facility=A,city=B,country=C].geoPoint",
                   Kind.REMOVED, old={"lat": 1})
    assert signatures([site]).all == {
        Signature("protocolSection.contactsLocationsModule.locations[].geoPoint", Shape.DISAPPEARED)}
    # A list item added or removed is the sponsor's (sites, conditions), never structural.
    condition = _change("protocolSection.conditionsModule.conditions[Diabetes]", Kind.ADDED, new="Diabetes")
    assert signatures([condition]).all == frozenset()
    # A value edit is not structural, nor is null becoming a value.
    assert signatures([_change("protocolSection.designModule.studyType", Kind.CHANGED, "A", "B")]).all == frozenset()
    assert signatures([_change("protocolSection.designModule.studyType", Kind.CHANGED, None, "B")]).all == frozenset()
    retyped = _change("protocolSection.designModule.studyType", Kind.CHANGED, "A", ["A"])
    assert signatures([retyped]).all == {Signature("protocolSection.designModule.studyType", Shape.RETYPED, "string -> list")}
    # Inside a unit compared whole (a date struct): a key dropped, and whether a value moved too.
    dropped = _change("protocolSection.statusModule.startDateStruct", Kind.CHANGED,
                      {"date": "2020-01", "type": "ACTUAL"}, {"date": "2020-01"})
    both = _change("protocolSection.statusModule.startDateStruct", Kind.CHANGED,
                   {"date": "2020-01", "type": "ACTUAL"}, {"date": "2020-02"})
    assert signatures([dropped]).all == {Signature("protocolSection.statusModule.startDateStruct.type", Shape.DISAPPEARED)}
    assert signatures([dropped]).pure == (True,) and signatures([both]).pure == (False,)


def test_relabel_takes_only_changes_that_are_nothing_but_registry_changes():
    both = _change("protocolSection.statusModule.startDateStruct", Kind.CHANGED,
                   {"date": "2020-01", "type": "ACTUAL"}, {"date": "2020-02"})
    status = _change("protocolSection.statusModule.overallStatus", Kind.CHANGED, "RECRUITING", "WITHDRAWN",
                     Category.STATUS, Severity.CRITICAL)
    gone_type = Signature("protocolSection.statusModule.startDateStruct.type", Shape.DISAPPEARED)
    out = relabel([GONE, COME, both, status], {RENAME, gone_type})
    assert [(c.category, c.severity, c.rule) for c in out] == [
        (Category.REGISTRY, Severity.ADMIN, "registry.structure"),
        (Category.REGISTRY, Severity.ADMIN, "registry.structure"),
        (both.category, both.severity, both.rule),  # a value moved too: the sponsor's
        (Category.STATUS, Severity.CRITICAL, "design.other"),
    ]
    assert out[0].summary == "Registry-side change: protocolSection.designModule.studyType (renamed to kind)"
    assert (out[0].path, out[0].old, out[0].new) == (GONE.path, GONE.old, GONE.new)  # what changed is kept
    assert relabel([GONE, COME], set()) == [GONE, COME]
    assert relabel([GONE], {RENAME}) == [GONE]  # half a rename is a field dropped, not this signature


def _type_dropped_and_date_moved(record: dict) -> dict:
    new = copy.deepcopy(record)
    start = new["protocolSection"]["statusModule"]["startDateStruct"]
    start.pop("type", None)
    start["date"] = "2031-01"
    return new


def test_a_registry_wide_change_mixed_with_a_value_edit_in_every_study_is_judged_as_usual(
    fake_api, run, studies, db_path
):
    """Every start date loses its type (the registry's; 38 of the 60 have one: enough to be
    registry-wide) but each date moved too: no change is only the registry's, so nothing is
    recorded or said as the registry's."""
    assert sum("type" in s["protocolSection"]["statusModule"]["startDateStruct"] for s in studies) == 38
    server, ids = _reshape(fake_api, run, studies, _type_dropped_and_date_moved)
    result = run("sync", "--quiet", *ids, api_url=server.url)
    assert result.exit_code == 0
    assert "note:" not in result.stderr and len(result.stdout.splitlines()) == 60
    assert {r[2] for r in _stored(db_path) if r[1].endswith("startDateStruct")} == {"dates"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM registry_changes").fetchone() == (0,)
