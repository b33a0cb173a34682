"""Registry text never crashes the classifier (issue 21, item 5).

A text edit whose summary already holds the word-diff markup (``{+word+}``), or braces of
the registry's own, went through ``str.format`` and raised ``KeyError``: the version was not
stored and the study was stuck every night.  And whatever rule code fails on, the change is
still reported, as a generic change of its category, with a warning logged.
"""
from __future__ import annotations

import logging

import pytest

from regsync import classify
from regsync.classify import diff_records
from regsync.model import Category, Severity

LONG = ("A long description of the outcome measure that goes on about how the pain is measured "
        "with a scale at many visits, with more words here. ")


def rec(primary: list[dict], secondary: list[dict] | None = None) -> dict:
    om: dict = {"primaryOutcomes": primary}
    if secondary is not None:
        om["secondaryOutcomes"] = secondary
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "outcomesModule": om,
    }}


@pytest.mark.parametrize("old, new", [
    # the summary shows the changed words as "[-Scored-] {+scored+}": not a format field
    ([{"measure": "Pain", "timeFrame": "Week 12", "description": LONG + "Scored 0-10."}],
     [{"measure": "Pain", "timeFrame": "Week 12", "description": LONG + "scored 0-10."}]),
    ([{"measure": "Pain", "timeFrame": "Week 12", "description": LONG + "a b"}],
     [{"measure": "Pain", "timeFrame": "Week 12", "description": LONG + "A, b"}]),
    # the registry's own braces and percent signs
    ([{"measure": "Pain {score}", "timeFrame": "Week {0}"}], [{"measure": "pain {score}", "timeFrame": "week {0}"}]),
    ([{"measure": "Pain %s %(x)s", "timeFrame": "100%"}], [{"measure": "Pain %d %(x)s", "timeFrame": "100 %"}]),
], ids=["word-diff-markup", "word-diff-punctuation", "braces", "percent"])
def test_formatting_only_edits_with_format_fields_do_not_crash(old, new):
    changes = diff_records(rec(old), rec(new))
    assert changes
    assert all(c.category is Category.OUTCOMES for c in changes)


def test_secondary_outcome_with_braces_is_judged():
    old = rec([{"measure": "Pain"}], [{"measure": "Function {score}", "timeFrame": LONG + "Week {+4+}"}])
    new = rec([{"measure": "Pain"}], [{"measure": "Function {score}", "timeFrame": LONG + "week {+4+}"}])
    [change] = diff_records(old, new)
    assert change.rule == "text.formatting"
    assert "{+4+}" in change.summary


def test_rule_code_that_fails_gives_a_generic_change_of_its_category_and_a_warning(monkeypatch, caplog):
    def broken(raw, ctx):
        raise ValueError("a rule that did not foresee this text")

    monkeypatch.setitem(classify.HANDLERS, Category.OUTCOMES, broken)
    with caplog.at_level(logging.WARNING, logger="regsync.classify"):
        changes = diff_records(rec([{"measure": "Pain", "timeFrame": "Week 12"}]),
                               rec([{"measure": "Pain", "timeFrame": "Week 24"}]))
    [change] = changes
    assert change.rule == "change.unjudged"
    assert change.category is Category.OUTCOMES
    assert change.severity is Severity.MINOR
    assert change.summary == "Time frame: Week 12 -> Week 24"
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "could not judge" in warning.getMessage()
    assert warning.exc_info is not None
