"""Issue 21, item 4: one primary entry rewritten in place is one outcome (at most major);
fragments never become endpoints; endpoints in comma and parenthesis lists count; another
instrument or a new time point is a new primary; per-analysis copies are minor.  Invented text."""
from __future__ import annotations

import pytest

from regsync.classify import diff_records
from regsync.model import Category
from regsync.outcomes import endpoint_shift, rewritten_in_place


def O(measure: str, tf: str | None = None, desc: str | None = None) -> dict:
    out = {"measure": measure}
    if tf is not None:
        out["timeFrame"] = tf
    if desc is not None:
        out["description"] = desc
    return out


def rec(primary: list[dict]) -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "outcomesModule": {"primaryOutcomes": primary},
    }}


def top(old: list[dict], new: list[dict]) -> tuple[str, str]:
    changes = [c for c in diff_records(rec(old), rec(new)) if c.category is Category.OUTCOMES]
    return changes[0].rule, changes[0].severity.value


def test_an_entry_rewritten_in_place_naming_its_outcome_is_at_most_major():
    assert top([O("Time to hospital discharge", "Up to 30 days")],
               [O("Length of hospital stay in days", "Up to 30 days")]) == ("outcome.primary.measurement_changed", "major")


@pytest.mark.parametrize("old, new", [
    ("Wound infection", "Length of hospital stay"),
    ("Progression-free survival", "Overall survival"),  # shares only a head every outcome has
])
def test_an_entry_replaced_by_another_outcome_stays_critical(old, new):
    assert top([O(old, "30 days")], [O(new, "30 days")]) == ("outcome.primary.redefined", "critical")


def test_core_words_not_context_words_make_a_rewrite():
    assert rewritten_in_place(O("Time to hospital discharge"), O("Length of hospital stay"))
    assert not rewritten_in_place(O("Incidence of dose-limiting toxicities"), O("Maximum tolerated dose"))


@pytest.mark.parametrize("old, new", [
    ("Change in body weight versus placebo", "Change in body weight"),
    ("Mortality through day 90", "All-cause mortality"),
    ("Treatment success, defined as no need for rescue therapy", "Treatment success"),
    ("Sleep quality, measured with a diary", "Sleep quality"),
    ("Response rate (ITT population)", "Response rate"),
], ids=["comparison", "time-qualifier", "defined-as", "measured-with", "analysis-set"])
def test_fragments_never_become_endpoints(old, new):
    assert endpoint_shift([O(old)], [O(new)]).none
    assert endpoint_shift([O(new)], [O(old)]).none


def test_a_fragment_moved_to_the_description_is_not_omitted():
    shift = endpoint_shift([O("Sleep quality and diary completion")],
                           [O("Sleep quality", "Week 4", "Recorded with diary completion each morning")])
    assert shift.none


@pytest.mark.parametrize("old, new", [
    ("Amputation, reintervention or wound dehiscence", "Amputation or wound dehiscence"),
    ("Composite of major adverse events (death, stroke, myocardial infarction)",
     "Composite of major adverse events (death, stroke)"),
], ids=["comma-list", "parenthesis-list"])
def test_endpoints_in_comma_and_parenthesis_lists_count(old, new):
    assert top([O(old, "12 months")], [O(new, "12 months")]) == ("outcome.primary.endpoint_omitted", "critical")


def test_an_entry_naming_another_instrument_is_a_new_primary():
    a = O("Physical function subscale score of the Kessler Mobility Questionnaire", "Week 24")
    b = O("Physical function subscale score of the Oakridge Daily Living Questionnaire", "Week 24")
    assert top([a], [a, b]) == ("outcome.primary.added", "critical")


def test_an_entry_repeated_at_a_new_time_point_is_a_new_primary():
    assert top([O("Change in HbA1c", "Week 26")],
               [O("Change in HbA1c", "Week 26"), O("Change in HbA1c", "Week 52")]) == ("outcome.primary.added", "critical")


@pytest.mark.parametrize("new", [
    [O("Objective response rate (interim analysis)", "2 years"), O("Objective response rate (final analysis)", "2 years")],
    [O("Objective response rate - Cohort 1", "2 years"), O("Objective response rate - Cohort 2", "2 years")],
], ids=["interim-final", "by-stratum"])
def test_per_analysis_copies_are_minor(new):
    assert top([O("Objective response rate", "2 years")], new) == ("outcome.primary.detail", "minor")


def test_a_split_into_distinct_endpoints_is_still_restructuring():
    assert top([O("Change in systolic and diastolic blood pressure", "12 weeks")],
               [O("Change in systolic blood pressure", "12 weeks"), O("Change in diastolic blood pressure", "12 weeks")]
               ) == ("outcome.primary.restructured", "admin")
