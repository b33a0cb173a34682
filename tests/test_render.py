"""The sync line a cron mail carries says how much a change matters, and agrees with --json."""

from __future__ import annotations

from regsync import render
from regsync.classify import diff_records
from regsync.model import StudyStatus
from regsync.sync import StudyOutcome
from support.diffhelpers import pair, ps


def changed(changes):
    return StudyOutcome("NCT07240987", StudyStatus.CHANGED, 3, 2, changes=changes)


def test_changed_line_carries_the_most_severe_flagged_change():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["overallStatus"] = "RECRUITING"
    ps(new, "outcomesModule")["primaryOutcomes"][0]["measure"] = "Serum creatinine at 12 months"
    outcome = changed(diff_records(old, new))
    assert render.sync_line(outcome) == (
        "NCT07240987 changed v2 -> v3 [critical]: outcomes, status (milestone: RECRUITING)"
    )
    line = outcome.to_dict()
    assert (line["max_severity"], line["categories"]) == ("critical", ["outcomes", "status"])


def test_bookkeeping_only_line_has_no_severity():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["lastUpdatePostDateStruct"] = {"date": "2026-02-01", "type": "ACTUAL"}
    outcome = changed(diff_records(old, new))
    assert render.sync_line(outcome) == "NCT07240987 changed v2 -> v3: no protocol change"
    assert outcome.to_dict()["max_severity"] is None


def test_no_color_drops_colour_even_at_a_terminal(monkeypatch):
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["overallStatus"] = "RECRUITING"
    changes = diff_records(old, new)
    assert "\x1b[" in render.diff_text("NCT07240987", 1, 2, changes)
    monkeypatch.setenv("NO_COLOR", "1")
    text = render.diff_text("NCT07240987", 1, 2, changes)
    assert "\x1b[" not in text
    assert text.splitlines()[:4] == [
        "NCT07240987 v1 -> v2", "", "status",
        "  minor    Overall status: NOT_YET_RECRUITING -> RECRUITING  [milestone]",
    ]
