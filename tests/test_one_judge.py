"""Issue 19 item 9: one judge between the client and the store. `regsync.diff_records(a, b)`
is the answer everywhere (the stored changes, `regsync diff --json`), and `regsync.run_sync`
does everything `regsync sync` does (overdue notes, the fill-in of missed versions,
notifications built from the final changes)."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from support.history import StaticHistory
from support.receivers import http_receiver
from support.records import fixture_names, load

import regsync
from regsync import notify, timeline
from regsync.client import FetchedStudy
from regsync.errors import StudyNotFound
from regsync.store import Store


class Api:
    """An API client serving one record per study, whatever is asked."""

    def __init__(self, records: dict[str, dict]):
        self.records = records
        self.requests = 0

    def get_version(self) -> dict:
        self.requests += 1
        return {"dataTimestamp": f"2026-12-0{self.requests % 9}T09:00:00"}

    def get_study(self, nct_id: str) -> FetchedStudy:
        self.requests += 1
        if nct_id not in self.records:
            raise StudyNotFound(f"{nct_id}: HTTP 404")
        return FetchedStudy(nct_id, nct_id, copy.deepcopy(self.records[nct_id]), f"https://registry.test/{nct_id}")


def edited(record: dict, kind: str) -> dict:
    new = copy.deepcopy(record)
    status = new["protocolSection"]["statusModule"]
    status["lastUpdateSubmitDate"] = "2027-09-01"
    if kind == "deadline":  # an edit that moves the results deadline, nothing else
        status["primaryCompletionDateStruct"] = {"date": "2027-06-30", "type": "ESTIMATED"}
    else:
        status["overallStatus"] = "SUSPENDED"
        design = new["protocolSection"].setdefault("designModule", {})
        design.setdefault("enrollmentInfo", {})["count"] = 7
        outcomes = new["protocolSection"].setdefault("outcomesModule", {}).setdefault("primaryOutcomes", [{}])
        outcomes[0]["timeFrame"] = "Day 1 to day 30"
    return new


PAIRS = [(name, kind) for name in fixture_names() for kind in ("edit", "deadline")]


@pytest.mark.parametrize("name, kind", PAIRS)
def test_diff_records_is_what_is_stored_and_what_diff_json_says(name, kind, db_path, run):
    old = load(name)
    old["protocolSection"]["designModule"] = {**old["protocolSection"].get("designModule", {}), "phases": ["PHASE2"]}
    new = edited(old, kind)
    nct = old["protocolSection"]["identificationModule"]["nctId"]
    api = Api({nct: old})
    with Store.open_write(db_path) as store:
        regsync.run_sync(store, api, [nct], force=True)
        api.records[nct] = new
        report = regsync.run_sync(store, api, [nct], force=True)
        assert report.counts["changed"] == 1
    judged = [c.to_dict() for c in regsync.diff_records(old, new)]
    assert judged  # every pair here changes something
    stored = json.loads(run("changes", "--nct", nct, "--severity", "admin", "--json").stdout)
    keys = set().union(*(c.keys() for c in judged))
    # The same changes (changes lists them newest and most severe first, diff in its order).
    assert sorted(json.dumps({k: c[k] for k in keys if k in c}, sort_keys=True) for c in stored) == sorted(
        json.dumps(c, sort_keys=True) for c in judged)
    diffed = json.loads(run("diff", nct, "--json").stdout)
    assert diffed["changes"] == judged
    if kind == "deadline" and name == "NCT06131398":
        # The library and the stored changes agree on the deadline edit: one change of its
        # own (obligations) beside the date's.
        assert sorted(c["category"] for c in judged if c["severity"] != "admin") == ["dates", "obligations"]


def test_run_sync_does_what_regsync_sync_does(db_path, monkeypatch):
    """Overdue notes, notifications from the final changes, the history not announced."""
    nct = "NCT06131398"
    record = load(nct)
    record["protocolSection"]["designModule"]["phases"] = ["PHASE2"]  # an ACT: results due 2027-07-22
    api = Api({nct: record})
    with http_receiver() as receiver:
        settings = notify.Settings(notify.Webhook(receiver.url, style="json", digest=False))
        with Store.open_write(db_path) as store:
            first = regsync.run_sync(store, api, [nct], force=True, notify=settings, today=date(2027, 9, 3))
            # The trial's results became overdue (grace ended 2027-08-21): said once.
            assert [(o.nct_id, o.due_date) for o in first.overdue] == [(nct, "2027-07-22")]
            assert receiver.posts == []  # a new study is no change to announce
            again = regsync.run_sync(store, api, [nct], force=True, notify=settings, today=date(2027, 9, 4))
            assert again.overdue == ()
            api.records[nct] = edited(record, "deadline")
            changed = regsync.run_sync(store, api, [nct], force=True, notify=settings, today=date(2027, 9, 5))
            assert changed.counts["changed"] == 1 and changed.notify_failures == ()
    (post,) = receiver.posts
    sent = json.loads(post.body)
    text = json.dumps(sent)
    assert "obligations" in text and "2028-06-30" in text  # the results due date it moved


def _dated(record: dict, day: str, **status: object) -> dict:
    new = copy.deepcopy(record)
    sm = new["protocolSection"]["statusModule"]
    sm.update(status, lastUpdateSubmitDate=day, lastUpdatePostDateStruct={"date": day, "type": "ACTUAL"})
    return new


def test_run_sync_fills_in_missed_versions_before_it_notifies(db_path):
    """Issue 19 items 3, 6 and 9: the sponsor edited twice between two syncs. run_sync fills in
    the version it missed, then tells and notifies the sync's own version with its final
    changes (against the missed version, not the stale direct diff); the filled-in version
    is history, never announced on its own."""
    nct = "NCT07240987"
    first = _dated(load(nct), "2025-12-18")
    missed = _dated(first, "2026-01-10", overallStatus="RECRUITING")
    latest = _dated(missed, "2026-02-10", overallStatus="ACTIVE_NOT_RECRUITING")
    api = Api({nct: first})
    told = []
    with http_receiver() as receiver:
        settings = notify.Settings(notify.Webhook(receiver.url, style="json", digest=False, severity="minor"))
        with Store.open_write(db_path) as store:
            regsync.run_sync(store, api, [nct], force=True)
            api.records[nct] = latest
            history = StaticHistory([("2025-12-18", first), ("2026-01-10", missed), ("2026-02-10", latest)])
            report = regsync.run_sync(store, api, [nct], force=True, history=history, notify=settings,
                                      on_outcome=told.append)
            assert report.history is not None and not report.history.failed
            # One index request and the missed version; the sync's own snapshots are numbered by date.
            assert history.requests == 2
            chain = [(e.label, e.sources) for e in timeline.entries(store, nct)]
    assert chain == [("1", ("api",)), ("2", ("registry-history",)), ("3", ("api",))]
    (outcome,) = told
    assert (outcome.previous_version, outcome.version, outcome.filled_in) == ("2", "3", 1)
    assert [c.summary for c in outcome.changes if c.flagged] == [
        "Overall status: RECRUITING -> ACTIVE_NOT_RECRUITING"]
    (post,) = receiver.posts
    text = json.dumps(json.loads(post.body))
    assert "RECRUITING -> ACTIVE_NOT_RECRUITING" in text and "NOT_YET_RECRUITING -> RECRUITING" not in text
