"""Results and update obligations (regsync.obligations) on real fixture records.

Each scenario starts from a real record in tests/fixtures and makes the edit it names in
code, so the shape is the registry's and the change under test is visible here. ``today`` is
always given: nothing here depends on the day the suite runs.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest
from support.records import load

from regsync.model import Category, Severity
from regsync.obligations import (
    Applicability,
    State,
    obligation,
    obligation_changes,
    parse_registry_date,
)

ACT, PACT, NA = Applicability.ACT, Applicability.PACT, Applicability.NOT_APPLICABLE


def sm(record: dict) -> dict:
    return record["protocolSection"]["statusModule"]


def amg_act() -> dict:
    """NCT06131398 (COMPLETED, FDA-regulated drug, started 2024-03-07, actual primary
    completion 2026-07-22, no results) as a phase 2 trial: an ACT whose results are due
    2027-07-22."""
    record = load("NCT06131398")
    record["protocolSection"]["designModule"]["phases"] = ["PHASE2"]
    return record


def ckd_act() -> dict:
    """NCT07240987 (NOT_YET_RECRUITING phase 1/2, estimated primary completion 2027-06-30)
    declared an FDA-regulated drug: an ACT due 2028-06-30."""
    record = load("NCT07240987")
    record["protocolSection"]["oversightModule"]["isFdaRegulatedDrug"] = True
    return record


# -- applicability ----------------------------------------------------------------------------


def test_an_fda_regulated_phase_2_trial_started_after_2017_01_18_is_an_act():
    o = obligation(amg_act(), date(2026, 12, 1))
    assert o.applicability is ACT
    assert o.reason == "interventional, FDA-regulated drug, phase PHASE2, started 2024-03-07, on or after 2017-01-18"


def test_phase_1_2_counts_as_tracker_phase_1_phase_2():
    o = obligation(ckd_act(), date(2026, 12, 1))
    assert (o.applicability, o.reason) == (
        ACT, "interventional, FDA-regulated drug, phase PHASE1/PHASE2, started 2026-01-01, on or after 2017-01-18")


def test_an_older_us_drug_trial_completing_after_2017_01_18_is_a_probable_act():
    o = obligation(load("NCT02513394"), date(2026, 12, 1))
    assert o.applicability is PACT
    assert o.reason == (
        "started 2015-08 (taken as 2015-08-31), before 2017-01-18; primary completion 2020-11 "
        "(taken as 2020-11-30), on or after it; drug intervention; a US site; "
        "FDA regulation not stated in the record"
    )


@pytest.mark.parametrize(("nct", "edit", "reason"), [
    ("NCT06171568", None, "studyType OBSERVATIONAL: only interventional studies are applicable clinical trials"),
    ("NCT00973089", None, "overallStatus WITHDRAWN: the trial enrolled no one"),
    ("NCT06131398", None, "phase PHASE1: phase 1 and early phase 1 trials are excluded"),
    ("NCT07240987", None, "not an FDA-regulated drug or device (oversightModule isFdaRegulatedDrug/isFdaRegulatedDevice not true)"),
    ("NCT00763412", None, "started 2006-11 (taken as 2006-11-30), primary completion 2013-01 (taken as 2013-01-31): both before 2017-01-18"),
    ("NCT06131398", lambda r: r["protocolSection"]["designModule"].update(phases=["EARLY_PHASE1"]),
     "phase EARLY_PHASE1: phase 1 and early phase 1 trials are excluded"),
    ("NCT06131398", lambda r: r["protocolSection"]["designModule"].pop("phases"),
     "no phase given (TrialsTracker counts only phase 1/2 to 4 and NA)"),
    ("NCT06131398", lambda r: r["protocolSection"]["designModule"].update(
        phases=["NA"], designInfo={**r["protocolSection"]["designModule"]["designInfo"], "primaryPurpose": "DEVICE_FEASIBILITY"}),
     "primaryPurpose DEVICE_FEASIBILITY: small device feasibility studies are excluded"),
    ("NCT02513394", lambda r: r["protocolSection"]["contactsLocationsModule"].update(
        locations=[loc for loc in r["protocolSection"]["contactsLocationsModule"]["locations"] if loc.get("country") != "United States"]),
     "started before 2017-01-18 with no site in the United States"),
    ("NCT02513394", lambda r: r["protocolSection"]["oversightModule"].update(isFdaRegulatedDrug=False, isFdaRegulatedDevice=False),
     "started before 2017-01-18; oversightModule says not FDA-regulated"),
    ("NCT02513394", lambda r: r["protocolSection"]["armsInterventionsModule"].update(
        interventions=[{**i, "type": "BEHAVIORAL"} for i in r["protocolSection"]["armsInterventionsModule"]["interventions"]]),
     "started before 2017-01-18 with no drug, device or biological intervention"),
    ("NCT06131398", lambda r: (r["protocolSection"]["designModule"].update(phases=["PHASE3"]), sm(r).pop("startDateStruct")),
     "no start date: applicability cannot be estimated"),
])
def test_not_applicable_says_why(nct, edit, reason):
    record = load(nct)
    if edit:
        edit(record)
    o = obligation(record, date(2026, 12, 1))
    assert (o.applicability, o.state, o.reason, o.due_date, o.duties) == (NA, State.NOT_APPLICABLE, reason, None, ())
    assert o.state_words() == "not applicable"


def test_a_pact_with_a_month_only_start_in_january_2017_is_an_act_like_the_tracker():
    # "2017-01" is taken as 2017-01-31, on or after 2017-01-18 (TrialsTracker does the same).
    record = amg_act()
    sm(record)["startDateStruct"] = {"date": "2017-01", "type": "ACTUAL"}
    o = obligation(record, date(2026, 12, 1))
    assert o.applicability is ACT
    assert o.reason.endswith("started 2017-01 (taken as 2017-01-31), on or after 2017-01-18")


# -- due date and state --------------------------------------------------------------------


@pytest.mark.parametrize(("today", "state", "days", "words"), [
    (date(2026, 12, 1), State.NOT_YET_DUE, None, "not yet due"),
    (date(2027, 7, 21), State.NOT_YET_DUE, None, "not yet due"),
    (date(2027, 7, 22), State.DUE, None, "due (grace until 2027-08-21)"),
    (date(2027, 8, 21), State.DUE, None, "due (grace until 2027-08-21)"),
    (date(2027, 8, 22), State.OVERDUE, 31, "overdue 31 days"),
    (date(2028, 7, 22), State.OVERDUE, 366, "overdue 366 days"),
])
def test_results_are_due_a_year_after_primary_completion_and_overdue_after_30_days_grace(today, state, days, words):
    o = obligation(amg_act(), today)
    assert (o.due_date, o.overdue_after) == (date(2027, 7, 22), date(2027, 8, 21))
    assert o.basis == "primary completion date 2026-07-22 + 1 year"
    assert (o.state, o.days, o.state_words()) == (state, days, words)


def test_month_only_primary_completion_is_the_months_last_day_and_said_so():
    record = ckd_act()
    sm(record)["primaryCompletionDateStruct"] = {"date": "2027-06", "type": "ESTIMATED"}
    o = obligation(record, date(2026, 12, 1))
    assert o.due_date == date(2028, 6, 30)
    assert o.basis == "primary completion date 2027-06 (taken as 2027-06-30) + 1 year"
    assert o.notes == ("primary completion date 2027-06 is month-only: taken as 2027-06-30, the month's last day",)


def test_a_year_only_primary_completion_is_the_years_last_day():
    record = ckd_act()
    sm(record)["primaryCompletionDateStruct"] = {"date": "2027", "type": "ESTIMATED"}
    o = obligation(record, date(2026, 12, 1))
    assert o.due_date == date(2028, 12, 31)
    assert o.notes == ("primary completion date 2027 is year-only: taken as 2027-12-31, the year's last day",)


def test_without_a_primary_completion_date_the_completion_date_is_used():
    record = ckd_act()
    del sm(record)["primaryCompletionDateStruct"]
    o = obligation(record, date(2026, 12, 1))
    assert o.due_date == date(2028, 8, 31)
    assert o.basis == "completion date 2027-08-31 + 1 year"
    assert o.notes == ("no primary completion date: the completion date is used",)


def test_no_completion_dates_at_all_means_no_due_date():
    record = ckd_act()
    del sm(record)["primaryCompletionDateStruct"], sm(record)["completionDateStruct"]
    o = obligation(record, date(2030, 1, 1))
    assert (o.state, o.due_date, o.notes) == (
        State.NOT_YET_DUE, None, ("no primary completion or completion date: no due date",))


def test_a_certificate_of_delay_moves_the_due_date_to_three_years_after_primary_completion():
    record = amg_act()
    sm(record)["dispFirstSubmitDate"] = "2027-05-03"
    o = obligation(record, date(2027, 12, 1))  # overdue without the certificate
    assert (o.due_date, o.overdue_after, o.certificate) == (date(2029, 7, 22), date(2029, 8, 21), date(2027, 5, 3))
    assert (o.state, o.basis) == (State.NOT_YET_DUE, "primary completion date 2026-07-22 + 3 years (certificate of delay)")
    assert o.notes == ("certificate of delay submitted 2027-05-03",)
    # days overdue count from the extended due date (TrialsTracker counts from PCD + 365 days)
    assert obligation(record, date(2029, 8, 22)).state_words() == "overdue 31 days"


def test_a_certificate_submitted_after_the_results_were_due_does_not_count():
    record = amg_act()
    sm(record)["dispFirstSubmitDate"] = "2027-08-02"
    o = obligation(record, date(2027, 12, 1))
    assert (o.due_date, o.certificate, o.state_words()) == (date(2027, 7, 22), None, "overdue 132 days")
    assert o.notes == ("certificate of delay submitted 2027-08-02, after the results were due (2027-07-22): not counted",)


def test_results_submitted_but_not_posted_are_in_quality_control():
    record = amg_act()
    sm(record)["resultsFirstSubmitDate"] = "2027-08-01"  # and no resultsFirstPostDateStruct
    o = obligation(record, date(2027, 12, 1))
    assert (o.state, o.days, o.results_submitted, o.results_posted) == (State.SUBMITTED, 10, date(2027, 8, 1), None)
    assert o.state_words() == "submitted, not yet posted (QC), 10 days late"
    sm(record)["resultsFirstSubmitDate"] = "2027-07-01"
    assert obligation(record, date(2027, 12, 1)).state_words() == "submitted, not yet posted (QC)"


def test_results_posted_and_submitted_by_the_due_date_are_reported_on_time():
    record = amg_act()
    sm(record)["resultsFirstSubmitDate"] = "2027-07-22"
    sm(record)["resultsFirstPostDateStruct"] = {"date": "2027-08-30", "type": "ACTUAL"}
    o = obligation(record, date(2027, 12, 1))
    assert (o.state, o.days, o.state_words()) == (State.REPORTED, None, "reported on time")
    # judged before the posting, the same record was still in quality control
    assert obligation(record, date(2027, 8, 1)).state is State.SUBMITTED


def test_a_real_record_reported_late():
    # NCT02513394: primary completion 2020-11 (2020-11-30), results submitted 2022-02-01.
    o = obligation(load("NCT02513394"), date(2026, 12, 1))
    assert (o.due_date, o.state, o.days) == (date(2021, 11, 30), State.REPORTED_LATE, 63)
    assert o.state_words() == "reported late 63 days"
    assert (o.results_submitted, o.results_posted) == (date(2022, 2, 1), date(2022, 4, 13))


def test_a_submission_in_the_grace_period_is_reported_late():
    # TrialsTracker counts lateness from the due date; the grace only delays "overdue".
    record = amg_act()
    sm(record)["resultsFirstSubmitDate"] = "2027-08-05"
    sm(record)["resultsFirstPostDateStruct"] = {"date": "2027-09-10", "type": "ACTUAL"}
    assert obligation(record, date(2027, 12, 1)).state_words() == "reported late 14 days"


def test_29_february_plus_one_year_is_28_february():
    record = amg_act()
    sm(record)["primaryCompletionDateStruct"] = {"date": "2028-02-29", "type": "ACTUAL"}
    assert obligation(record, date(2026, 12, 1)).due_date == date(2029, 2, 28)


@pytest.mark.parametrize(("text", "day", "precise"), [
    ("2027-06-30", date(2027, 6, 30), True), ("2028-02", date(2028, 2, 29), False),
    ("2027", date(2027, 12, 31), False),
])
def test_registry_dates(text, day, precise):
    parsed = parse_registry_date(text)
    assert parsed is not None and (parsed.day, parsed.precise) == (day, precise)


@pytest.mark.parametrize("bad", ["2027-13", "2027-06-00", "soon", "", None, 2027])
def test_unreadable_dates_are_no_dates(bad):
    assert parse_registry_date(bad) is None


# -- update duties -------------------------------------------------------------------------


def test_a_real_active_record_owes_a_verification_and_a_status_update():
    o = obligation(load("NCT02513394"), date(2026, 12, 1))
    assert [(d.id, d.text) for d in o.duties] == [
        ("verification-stale", "statusVerifiedDate 2023-04 is more than 12 months old (42 CFR 11.64(a)(1)(i))"),
        ("completion-passed", "completion date 2025-09 (taken as 2025-09-30) has passed but overallStatus is still ACTIVE_NOT_RECRUITING"),
    ]


def test_still_recruiting_more_than_30_days_after_an_actual_primary_completion():
    record = amg_act()
    sm(record)["overallStatus"] = "RECRUITING"
    sm(record)["completionDateStruct"] = {"date": "2027-12-31", "type": "ESTIMATED"}
    assert obligation(record, date(2026, 8, 21)).duties == ()  # 30 days: still in time
    o = obligation(record, date(2026, 8, 22))
    assert [(d.id, d.text) for d in o.duties] == [(
        "status-not-updated",
        ("overallStatus still RECRUITING 31 days after the actual primary completion date 2026-07-22 "
         "(update due within 30 days)"),
    )]


def test_an_estimated_primary_completion_date_left_in_the_past():
    record = ckd_act()
    sm(record)["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    sm(record)["statusVerifiedDate"] = "2027-05"
    o = obligation(record, date(2027, 8, 15))
    assert [(d.id, d.text) for d in o.duties] == [(
        "pcd-not-updated",
        "primary completion date 2027-06-30 passed 46 days ago and is still ESTIMATED (update due within 30 days)",
    )]


def test_completion_dates_in_the_past_on_an_ongoing_status():
    record = ckd_act()
    sm(record)["overallStatus"] = "RECRUITING"
    sm(record)["primaryCompletionDateStruct"]["type"] = "ACTUAL"
    sm(record)["statusVerifiedDate"] = "2027-09"
    o = obligation(record, date(2027, 9, 15))
    assert [d.id for d in o.duties] == ["status-not-updated", "completion-passed"]
    assert o.duties[1].text == "completion date 2027-08-31 has passed but overallStatus is still RECRUITING"


def test_a_verification_within_12_months_is_no_duty():
    record = ckd_act()  # statusVerifiedDate 2025-12, taken as 2025-12-31
    assert obligation(record, date(2026, 12, 31)).duties == ()
    assert [d.id for d in obligation(record, date(2027, 1, 1)).duties] == ["verification-stale"]


def test_a_completed_trial_with_results_owes_no_verification():
    record = amg_act()
    sm(record)["statusVerifiedDate"] = "2025-01"
    sm(record)["resultsFirstSubmitDate"] = "2027-07-01"
    assert obligation(record, date(2027, 12, 1)).duties == ()


# -- edits that move a deadline ------------------------------------------------------------


def next_version(record: dict, submitted: str) -> dict:
    new = copy.deepcopy(record)
    sm(new)["lastUpdateSubmitDate"] = submitted
    sm(new)["lastUpdatePostDateStruct"] = {"date": submitted, "type": "ACTUAL"}
    return new


def test_a_primary_completion_slip_that_makes_an_overdue_trial_not_yet_due_is_critical():
    old = amg_act()
    new = next_version(old, "2027-09-01")
    sm(new)["primaryCompletionDateStruct"] = {"date": "2027-06-30", "type": "ESTIMATED"}
    [change] = obligation_changes(old, new)
    assert (change.category, change.severity, change.rule) == (
        Category.OBLIGATIONS, Severity.CRITICAL, "obligations.overdue_cleared")
    assert change.summary == (
        "Results obligation: results due date 2027-07-22 -> 2028-06-30 (+344 days); "
        "on 2027-09-01: overdue 41 days -> not yet due"
    )
    assert change.delta_days == 344
    obligation_json = change.to_dict()["obligation"]
    assert obligation_json["before"] == {
        "as_of": "2027-09-01", "applicability": "ACT", "due_date": "2027-07-22", "state": "overdue", "days": 41,
        "state_words": "overdue 41 days", "reason": obligation(old, date(2027, 9, 1)).reason,
    }
    assert (obligation_json["after"]["due_date"], obligation_json["after"]["state"]) == ("2028-06-30", "not-yet-due")


def test_a_phase_change_to_phase_1_that_removes_an_overdue_trial_is_critical():
    old = amg_act()
    new = next_version(old, "2027-10-01")
    new["protocolSection"]["designModule"]["phases"] = ["PHASE1"]
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule) == (Severity.CRITICAL, "obligations.overdue_cleared")
    assert change.summary == (
        "Results obligation: applicability ACT -> not applicable (phase PHASE1: phase 1 and early "
        "phase 1 trials are excluded); results due date 2027-07-22 -> none; "
        "on 2027-10-01: overdue 71 days -> not applicable"
    )


def test_a_phase_change_to_phase_1_before_anything_is_due_is_major():
    old = amg_act()
    new = next_version(old, "2026-09-01")
    new["protocolSection"]["designModule"]["phases"] = ["PHASE1"]
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule) == (Severity.MAJOR, "obligations.applicability")


def test_a_completion_moved_before_2017_01_18_takes_a_pact_out_and_is_flagged():
    # TrialsTracker issue #190: the trial silently left the tracker.
    old = load("NCT02513394")
    new = next_version(old, "2023-07-01")
    sm(new)["primaryCompletionDateStruct"] = {"date": "2016-12", "type": "ACTUAL"}
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule) == (Severity.MAJOR, "obligations.applicability")
    assert change.summary.startswith("Results obligation: applicability pACT -> not applicable (started 2015-08")


def test_an_earlier_primary_completion_moves_the_due_date_and_is_major():
    old = ckd_act()
    new = next_version(old, "2026-03-02")
    sm(new)["primaryCompletionDateStruct"] = {"date": "2027-03-31", "type": "ESTIMATED"}
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule, change.delta_days) == (Severity.MAJOR, "obligations.due_moved", -91)
    assert change.summary == "Results obligation: results due date 2028-06-30 -> 2028-03-31 (-91 days)"


def test_a_certificate_of_delay_is_a_state_and_due_date_change():
    old = amg_act()
    new = next_version(old, "2027-05-03")
    sm(new)["dispFirstSubmitDate"] = "2027-05-03"
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule) == (Severity.MAJOR, "obligations.due_moved")
    assert change.summary == "Results obligation: results due date 2027-07-22 -> 2029-07-22 (+731 days)"


def test_results_submitted_is_a_state_change():
    old = amg_act()
    new = next_version(old, "2027-09-01")
    sm(new)["resultsFirstSubmitDate"] = "2027-09-01"
    [change] = obligation_changes(old, new)
    assert (change.severity, change.rule) == (Severity.MAJOR, "obligations.state")
    assert change.summary == (
        "Results obligation: on 2027-09-01: overdue 41 days -> submitted, not yet posted (QC), 41 days late")


def test_an_edit_that_moves_no_deadline_is_no_obligation_change():
    old = amg_act()
    new = next_version(old, "2027-09-01")
    new["protocolSection"]["identificationModule"]["briefTitle"] = "Another title"
    assert obligation_changes(old, new) == []
