"""Category / severity / rule / summary per category, each from a real fixture + scripted edit."""
from __future__ import annotations

import pytest

from regsync.classify import diff_records
from support.diffhelpers import AI, CL, OM, SM, one, only, pair, ps


def check(c, category, severity, kind, rule, path=None, summary=None, milestone=False, **extra):
    got = (c.category, c.severity, c.kind, c.rule, c.milestone)
    assert got == (category, severity, kind, rule, milestone), c.to_dict()
    if path is not None:
        assert c.path == path
    if summary is not None:
        assert c.summary == summary
    for k, v in extra.items():
        assert getattr(c, k) == v, (k, c.to_dict())


# --------------------------------------------------------------------------- status

def test_status_progression_is_minor_milestone():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["overallStatus"] = "RECRUITING"
    check(one(diff_records(old, new)), "status", "minor", "changed", "status.progression",
          path=f"{SM}.overallStatus", summary="Overall status: NOT_YET_RECRUITING -> RECRUITING",
          milestone=True)


def test_terminated_without_reason_is_critical():
    old, new = pair("NCT02513394")
    ps(new, "statusModule")["overallStatus"] = "TERMINATED"
    check(one(diff_records(old, new)), "status", "critical", "changed", "status.stopped.no_reason",
          summary="Overall status: ACTIVE_NOT_RECRUITING -> TERMINATED (no reason given)")


def test_placeholder_reason_counts_as_no_reason():
    old, new = pair("NCT07240987")
    ps(new, "statusModule").update(overallStatus="WITHDRAWN", whyStopped="N/A")
    ch = diff_records(old, new)
    check(only(ch, path=f"{SM}.overallStatus")[0], "status", "critical", "changed", "status.stopped.no_reason")


def test_suspended_with_reason_is_major():
    old, new = pair("NCT07240987")
    ps(new, "statusModule").update(overallStatus="SUSPENDED", whyStopped="Sponsor acquired; program on hold")
    ch = diff_records(old, new)
    assert [c.rule for c in ch] == ["status.stopped.with_reason", "status.why_stopped"]
    check(ch[0], "status", "major", "changed", "status.stopped.with_reason",
          summary="Overall status: NOT_YET_RECRUITING -> SUSPENDED (why stopped: Sponsor acquired; program on hold)")
    check(ch[1], "status", "minor", "added", "status.why_stopped", path=f"{SM}.whyStopped")


def test_why_stopped_whitespace_edit_is_admin():
    old, new = pair("NCT00973089")
    ws = ps(old, "statusModule")["whyStopped"]
    ps(new, "statusModule")["whyStopped"] = "  " + ws.replace(" ", "  ") + "\n"
    c = one(diff_records(old, new))
    assert (c.category, c.severity, c.rule) == ("status", "admin", "text.whitespace")


# --------------------------------------------------------------------------- dates

def test_small_estimated_slip_is_minor_with_delta_days():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["primaryCompletionDateStruct"]["date"] = "2027-12-31"
    check(one(diff_records(old, new)), "dates", "minor", "changed", "dates.slip.moderate",
          path=f"{SM}.primaryCompletionDateStruct",
          summary="Primary completion date: 2027-06-30 -> 2027-12-31 (ESTIMATED, +184 days)",
          delta_days=184, delta_months=None)


def test_two_year_slip_before_recruitment_is_major():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["completionDateStruct"]["date"] = "2029-09-30"
    check(one(diff_records(old, new)), "dates", "major", "changed", "dates.slip.early_very_large",
          delta_days=761)


def test_one_year_slip_late_in_trial_is_major_month_precision():
    old, new = pair("NCT02513394")  # ACTIVE_NOT_RECRUITING, completion 2025-09 ESTIMATED
    ps(new, "statusModule")["completionDateStruct"]["date"] = "2026-09"
    check(one(diff_records(old, new)), "dates", "major", "changed", "dates.slip.late_large",
          summary="Completion date: 2025-09 -> 2026-09 (ESTIMATED, +12 months)",
          delta_months=12, delta_days=None)


def test_same_slip_while_recruiting_is_minor():
    old, new = pair("NCT02513394")
    ps(old, "statusModule")["overallStatus"] = "RECRUITING"
    ps(new, "statusModule").update(overallStatus="RECRUITING")
    ps(new, "statusModule")["completionDateStruct"]["date"] = "2026-09"
    check(one(diff_records(old, new)), "dates", "minor", "changed", "dates.slip.moderate", delta_months=12)


def test_mixed_precision_compares_months():
    old, new = pair("NCT02513394")
    ps(new, "statusModule")["completionDateStruct"] = {"date": "2025-07-15", "type": "ACTUAL"}
    check(one(diff_records(old, new)), "dates", "minor", "changed", "dates.became_actual",
          summary="Completion date: 2025-09 -> 2025-07-15 (ESTIMATED -> ACTUAL, -2 months)",
          milestone=True, delta_months=-2, delta_days=None)


def test_date_becoming_actual_without_value_change_is_milestone():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["startDateStruct"]["type"] = "ACTUAL"
    check(one(diff_records(old, new)), "dates", "minor", "changed", "dates.became_actual",
          summary="Start date: 2026-01-01 (ESTIMATED -> ACTUAL)", milestone=True,
          delta_days=None, delta_months=None)


def test_actual_date_correction():
    old, new = pair("NCT06131398")
    ps(new, "statusModule")["primaryCompletionDateStruct"]["date"] = "2026-07-02"
    check(one(diff_records(old, new)), "dates", "minor", "changed", "dates.actual_corrected",
          summary="Primary completion date: 2026-07-22 -> 2026-07-02 (ACTUAL, -20 days)", delta_days=-20)


def test_year_only_date_gives_months():
    old, new = pair("NCT00973089")
    sd = ps(old, "statusModule")["startDateStruct"]
    ps(new, "statusModule")["startDateStruct"] = {"date": str(int(sd["date"][:4]) + 1)}
    c = one(diff_records(old, new))
    assert c.rule == "dates.start.moved" and c.delta_days is None and c.delta_months is not None


# --------------------------------------------------------------------------- enrollment

def test_small_enrollment_increase():
    old, new = pair("NCT07240987")
    ps(new, "designModule")["enrollmentInfo"]["count"] = 40
    check(one(diff_records(old, new)), "enrollment", "minor", "changed", "enrollment.change.small",
          path="protocolSection.designModule.enrollmentInfo",
          summary="Enrollment: 32 -> 40 (ESTIMATED, +25%)")


def test_enrollment_to_zero_is_critical():
    old, new = pair("NCT07240987")
    ps(new, "designModule")["enrollmentInfo"] = {"count": 0, "type": "ACTUAL"}
    check(one(diff_records(old, new)), "enrollment", "critical", "changed", "enrollment.zero",
          summary="Enrollment: 32 -> 0 (ESTIMATED -> ACTUAL, -100%)")


def test_large_reduction_once_recruiting_is_major_but_minor_before():
    old, new = pair("NCT02513394")
    ps(new, "designModule")["enrollmentInfo"]["count"] = 3000
    check(one(diff_records(old, new)), "enrollment", "major", "changed", "enrollment.reduction.large")
    old, new = pair("NCT07240987")
    ps(new, "designModule")["enrollmentInfo"]["count"] = 16
    check(one(diff_records(old, new)), "enrollment", "minor", "changed",
          "enrollment.reduction.pre_recruitment")


# --------------------------------------------------------------------------- arms / interventions

def test_arm_removed_is_major():
    old, new = pair("NCT07240987")
    ps(new, "armsInterventionsModule")["armGroups"].pop(3)
    check(one(diff_records(old, new)), "arms", "major", "removed", "arms.removed",
          path=f"{AI}.armGroups[label=non-HN]", summary="Arm removed: non-HN (PLACEBO_COMPARATOR)")


def test_arm_type_change_is_major():
    old, new = pair("NCT07240987")
    ps(new, "armsInterventionsModule")["armGroups"][2]["type"] = "SHAM_COMPARATOR"
    check(one(diff_records(old, new)), "arms", "major", "changed", "arms.type_changed",
          path=f"{AI}.armGroups[label=non-DKD].type",
          summary="Arm non-DKD type: PLACEBO_COMPARATOR -> SHAM_COMPARATOR")


def test_arm_description_wording_is_minor():
    old, new = pair("NCT07240987")
    arm = ps(new, "armsInterventionsModule")["armGroups"][0]
    arm["description"] = arm["description"].replace("will receive", "receives")
    check(one(diff_records(old, new)), "arms", "minor", "changed", "arms.wording")


def test_intervention_added_and_dose_change():
    old, new = pair("NCT07240987")
    ai = ps(new, "armsInterventionsModule")
    ai["interventions"].append({"type": "DRUG", "name": "Losartan", "armGroupLabels": ["DKD"]})
    ai["interventions"][1]["description"] = ai["interventions"][1]["description"].replace("1.0", "2.0")
    ch = diff_records(old, new)
    check(only(ch, kind="added")[0], "interventions", "major", "added", "interventions.added",
          path=f"{AI}.interventions[type=DRUG,name=Losartan]", summary="Intervention added: Losartan (DRUG)")
    check(only(ch, kind="changed")[0], "interventions", "major", "changed", "interventions.dose_changed",
          path=f"{AI}.interventions[type=DRUG,name=MSCs].description")


def test_intervention_arm_assignment_change_is_major():
    old, new = pair("NCT07240987")
    ps(new, "armsInterventionsModule")["interventions"][1]["armGroupLabels"].append("non-HN")
    check(one(diff_records(old, new)), "interventions", "major", "added", "interventions.arm_assignment",
          path=f"{AI}.interventions[type=DRUG,name=MSCs].armGroupLabels[non-HN]",
          summary="Intervention MSCs now given in arm non-HN")


# --------------------------------------------------------------------------- outcomes

EGFR = "Change in estimated glomerular filtration rate (eGFR)"


def test_primary_outcome_removed_and_added_are_critical():
    old, new = pair("NCT07240987")
    om = ps(new, "outcomesModule")
    om["primaryOutcomes"] = [{"measure": "Time to dialysis", "timeFrame": "24 months"}]
    ch = diff_records(old, new)
    assert sorted(c.rule for c in ch) == ["outcome.primary.added", "outcome.primary.removed"]
    check(only(ch, kind="removed")[0], "outcomes", "critical", "removed", "outcome.primary.removed",
          path=f"{OM}.primaryOutcomes[measure={EGFR}]", summary=f"Primary outcome removed: {EGFR}")
    check(only(ch, kind="added")[0], "outcomes", "critical", "added", "outcome.primary.added",
          summary="Primary outcome added: Time to dialysis")


def test_primary_outcome_widened_vs_reworded():
    old, new = pair("NCT07240987")
    ps(new, "outcomesModule")["primaryOutcomes"][0]["measure"] = "Change in eGFR slope and proteinuria"
    check(one(diff_records(old, new)), "outcomes", "critical", "renamed", "outcome.primary.endpoint_added",
          path=f"{OM}.primaryOutcomes[measure={EGFR}]")
    old, new = pair("NCT07240987")
    ps(new, "outcomesModule")["primaryOutcomes"][0]["measure"] = "Change in the estimated glomerular filtration rate (eGFR)"
    check(one(diff_records(old, new)), "outcomes", "admin", "renamed", "outcome.wording",
          summary=f"Primary outcome measure: {EGFR} -> Change in the estimated glomerular filtration rate (eGFR)")


def test_primary_timeframe_change_is_major_and_names_the_time_points():
    old, new = pair("NCT07240987")
    ps(new, "outcomesModule")["primaryOutcomes"][0]["timeFrame"] = "Baseline to 6 months"
    c = one(diff_records(old, new))
    check(c, "outcomes", "major", "changed", "outcome.primary.timeframe_changed",
          path=f"{OM}.primaryOutcomes[measure={EGFR}].timeFrame",
          summary="Primary outcome time point changed (time point 1 year -> 6 months): Primary outcome time frame "
                  "(Change in estimated glomerular filtration rate (e…): Baseline to 12 months -> Baseline to 6 months")
    assert c.to_dict()["element"] == "timepoint"


def test_secondary_outcome_added_is_minor_removed_after_completion_is_critical():
    old, new = pair("NCT07240987")
    ps(new, "outcomesModule")["secondaryOutcomes"].append({"measure": "Blood pressure", "timeFrame": "12 months"})
    check(one(diff_records(old, new)), "outcomes", "minor", "added", "outcome.secondary.added",
          summary="Secondary outcome added: Blood pressure")
    old, new = pair("NCT00763412")  # COMPLETED
    gone = ps(new, "outcomesModule")["secondaryOutcomes"].pop(0)
    check(one(diff_records(old, new)), "outcomes", "critical", "removed", "outcome.removed_after_completion",
          summary=f"Secondary outcome removed after completion: {gone['measure']}"[:200])


def test_secondary_removed_while_active_is_major():
    old, new = pair("NCT02513394")
    ps(new, "outcomesModule")["secondaryOutcomes"].pop()
    check(one(diff_records(old, new)), "outcomes", "major", "removed", "outcome.secondary.removed")


def test_outcome_edits_with_first_results_posting_are_reconciliation():
    old, new = pair("NCT07240987")
    new["hasResults"] = True
    ps(new, "statusModule")["resultsFirstPostDateStruct"] = {"date": "2028-12-22", "type": "ACTUAL"}
    po = ps(new, "outcomesModule")["primaryOutcomes"][0]
    po["timeFrame"] = "Baseline, month 12 (data cut-off 2028-06-30)"
    po["description"] = "eGFR calculated with the CKD-EPI 2021 equation."
    ch = diff_records(old, new)
    first = only(ch, rule="results.first_posted")
    check(one(first), "results", "minor", "changed", "results.first_posted",
          summary="Results first posted 2028-12-22", milestone=True, path="hasResults")
    oc = only(ch, category="outcomes")
    # the same time point (month 12) reworded with the results, and a detail added to the
    # description: one edit of one entry, judged once
    assert {(c.path.rsplit(".", 1)[-1], c.severity, c.rule, c.context) for c in oc} == {
        ("timeFrame", "admin", "outcome.wording", None),
        ("description", "minor", "outcome.primary.detail", None)}
    # an endpoint added to the primary measure is not excused by the results posting
    po["measure"] = "Change in estimated glomerular filtration rate (eGFR) slope and albuminuria"
    c = one(only(diff_records(old, new), kind="renamed"))
    assert (c.severity, c.rule, c.context) == ("critical", "outcome.primary.endpoint_added", None)


# --------------------------------------------------------------------------- eligibility

def test_eligibility_change_once_running_shifts_population():
    old, new = pair("NCT02513394")
    em = ps(new, "eligibilityModule")
    em["eligibilityCriteria"] = em["eligibilityCriteria"].replace("Age \u226518 years", "Age \u226521 years")
    check(one(diff_records(old, new)), "eligibility", "major", "changed", "eligibility.population_shift",
          path="protocolSection.eligibilityModule.eligibilityCriteria")


def test_eligibility_small_wording_once_running_is_minor_and_pre_recruitment_minor():
    old, new = pair("NCT02513394")
    em = ps(new, "eligibilityModule")
    em["eligibilityCriteria"] = em["eligibilityCriteria"].replace("Signed informed consent", "Written informed consent")
    check(one(diff_records(old, new)), "eligibility", "minor", "changed", "eligibility.wording")
    old, new = pair("NCT07240987")
    ps(new, "eligibilityModule")["minimumAge"] = "40 Years"
    check(one(diff_records(old, new)), "eligibility", "minor", "changed", "eligibility.pre_recruitment",
          summary="Minimum age: 18 Years -> 40 Years")


def test_eligibility_age_change_while_recruiting_is_major():
    old, new = pair("NCT02513394")
    ps(new, "eligibilityModule")["minimumAge"] = "40 Years"
    check(one(diff_records(old, new)), "eligibility", "major", "changed", "eligibility.population_shift")


def test_eligibility_whitespace_is_admin():
    old, new = pair("NCT02513394")
    em = ps(new, "eligibilityModule")
    em["eligibilityCriteria"] = em["eligibilityCriteria"].replace("\n", "\n\n")
    check(one(diff_records(old, new)), "eligibility", "admin", "changed", "text.whitespace")


# --------------------------------------------------------------------------- design

def test_design_phase_allocation_masking_are_major_text_minor():
    old, new = pair("NCT07240987")
    dm = ps(new, "designModule")
    dm["phases"] = ["PHASE2"]
    dm["designInfo"]["allocation"] = "RANDOMIZED"
    dm["designInfo"]["maskingInfo"]["masking"] = "TRIPLE"
    dm["designInfo"]["interventionModelDescription"] = "Four parallel groups."
    ch = diff_records(old, new)
    rules = {c.rule: c for c in ch}
    check(rules["design.phase_changed"], "design", "major", "changed", "design.phase_changed",
          path="protocolSection.designModule.phases", summary="Phase: PHASE1/PHASE2 -> PHASE2")
    check(rules["design.allocation_changed"], "design", "major", "changed", "design.allocation_changed",
          summary="Allocation: NON_RANDOMIZED -> RANDOMIZED")
    check(rules["design.masking_changed"], "design", "major", "changed", "design.masking_changed")
    check(rules["design.other"], "design", "minor", "added", "design.other",
          path="protocolSection.designModule.designInfo.interventionModelDescription")


# --------------------------------------------------------------------------- results / documents

def test_results_withdrawn_after_completion():
    old, new = pair("NCT00763412")
    new["hasResults"] = False
    del new["resultsSection"]["adverseEventsModule"]
    ch = diff_records(old, new)
    check(only(ch, path="hasResults")[0], "results", "major", "changed", "results.withdrawn")
    check(only(ch, path="resultsSection.adverseEventsModule")[0], "results", "critical", "removed",
          "results.removed_after_completion")


def test_certificate_of_delay():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["dispFirstSubmitDate"] = "2028-05-01"
    check(one(diff_records(old, new)), "results", "minor", "added", "results.certificate_of_delay")


def test_document_added():
    old, new = pair("NCT07240987")
    new["documentSection"]["largeDocumentModule"]["largeDocs"].append(
        {"typeAbbrev": "ICF", "hasProtocol": False, "hasSap": False, "hasIcf": True,
         "label": "Informed Consent Form", "date": "2025-12-01", "filename": "ICF_002.pdf", "size": 1000})
    check(one(diff_records(old, new)), "documents", "minor", "added", "documents.added",
          path="documentSection.largeDocumentModule.largeDocs[filename=ICF_002.pdf]",
          summary="Document added: Informed Consent Form (ICF_002.pdf)")


# --------------------------------------------------------------------------- other modules

def test_sponsor_collaborator_and_lead():
    old, new = pair("NCT00763412")
    sc = ps(new, "sponsorCollaboratorsModule")
    sc["collaborators"].pop(1)
    sc["leadSponsor"]["name"] = "New Sponsor Inc"
    ch = diff_records(old, new)
    check(only(ch, kind="removed")[0], "sponsor", "minor", "removed", "sponsor.changed",
          path="protocolSection.sponsorCollaboratorsModule.collaborators[name=National Institutes of Health (NIH)]",
          summary="Collaborator removed: National Institutes of Health (NIH)")
    check(only(ch, kind="changed")[0], "sponsor", "minor", "changed", "sponsor.changed")


def test_oversight_change_is_minor():
    old, new = pair("NCT07240987")
    ps(new, "oversightModule")["oversightHasDmc"] = False
    check(one(diff_records(old, new)), "oversight", "minor", "changed", "oversight.changed",
          summary="Oversight has dmc: True -> False")


def test_condition_minor_keyword_admin():
    old, new = pair("NCT00763412")
    cm = ps(new, "conditionsModule")
    cm["conditions"].append("Cystic Fibrosis")
    cm["keywords"].remove("nutrition")
    ch = diff_records(old, new)
    check(only(ch, kind="added")[0], "conditions", "minor", "added", "conditions.changed",
          summary="Condition added: Cystic Fibrosis")
    check(only(ch, kind="removed")[0], "conditions", "admin", "removed", "conditions.keywords",
          path="protocolSection.conditionsModule.keywords[nutrition]")


def test_description_minor_and_whitespace_admin():
    old, new = pair("NCT07240987")
    dm = ps(new, "descriptionModule")
    dm["briefSummary"] = dm["briefSummary"] + " Participants are followed for 12 months."
    check(one(diff_records(old, new)), "description", "minor", "changed", "description.changed")
    old, new = pair("NCT07240987")
    ps(new, "descriptionModule")["briefSummary"] += "\n"
    check(one(diff_records(old, new)), "description", "admin", "changed", "text.whitespace")


def test_identification_title_minor_secondary_id_admin():
    old, new = pair("NCT07240987")
    im = ps(new, "identificationModule")
    im["briefTitle"] = "Allogeneic Mesenchymal Stem Cells for Chronic Kidney Disease"
    im["secondaryIdInfos"] = [{"id": "2025-001", "type": "OTHER"}]
    ch = diff_records(old, new)
    check(only(ch, category="identification", kind="changed")[0], "identification", "minor", "changed",
          "identification.title")
    check(only(ch, kind="added")[0], "identification", "admin", "added", "identification.ids",
          path="protocolSection.identificationModule.secondaryIdInfos[id=2025-001]")


def test_contact_churn_is_admin():
    old, new = pair("NCT07240987")
    ps(new, "contactsLocationsModule")["centralContacts"][0]["phone"] = "+86 29 0000 0000"
    check(one(diff_records(old, new)), "contacts", "admin", "changed", "contacts.churn",
          path=f"{CL}.centralContacts[name=Li Jipeng].phone")


def test_site_added_minor_site_details_admin():
    old, new = pair("NCT07240987")
    locs = ps(new, "contactsLocationsModule")["locations"]
    locs[0]["status"] = "RECRUITING"
    locs.append({"facility": "Xijing Hospital", "city": "Xi'an", "country": "China"})
    ch = diff_records(old, new)
    check(only(ch, kind="added", category="locations")[0], "locations", "minor", "added",
          "locations.site_added", summary="Site added: Xijing Hospital, Xi'an, China")
    c = only(ch, path=f"{CL}.locations[facility=The First Affiliated Hospital of Air Force Medical University,"
                      "city=Xi'an,country=China].status")[0]
    check(c, "locations", "admin", "added", "locations.site_details")


def test_reference_added_minor_derived_admin():
    old, new = pair("NCT02513394")
    refs = ps(new, "referencesModule")["references"]
    refs.append({"pmid": "99999999", "type": "RESULT", "citation": "Doe J. PALLAS results. 2030."})
    refs.pop(0)  # a DERIVED one
    ch = diff_records(old, new)
    check(only(ch, kind="added")[0], "references", "minor", "added", "references.changed",
          path="protocolSection.referencesModule.references[pmid=99999999]",
          summary="Reference added: PMID 99999999: Doe J. PALLAS results. 2030.")
    check(only(ch, kind="removed")[0], "admin", "admin", "removed", "references.derived",
          path="protocolSection.referencesModule.references[pmid=34995105]")


def test_ipd_change_is_minor():
    old, new = pair("NCT07240987")
    ps(new, "ipdSharingStatementModule")["ipdSharing"] = "YES"
    check(one(diff_records(old, new)), "ipd", "minor", "changed", "ipd.changed",
          summary="Ipd sharing: UNDECIDED -> YES")


def test_bookkeeping_and_derived_are_admin():
    old, new = pair("NCT07240987")
    sm = ps(new, "statusModule")
    sm["lastUpdateSubmitDate"] = "2026-01-05"
    sm["lastUpdatePostDateStruct"] = {"date": "2026-01-07", "type": "ACTUAL"}
    sm["statusVerifiedDate"] = "2026-01"
    new["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-01-08"
    ch = diff_records(old, new)
    assert len(ch) == 4
    assert {(c.category, c.severity) for c in ch} == {("admin", "admin")}
    assert {c.rule for c in ch} == {"admin.bookkeeping", "admin.derived"}
    assert only(ch, rule="admin.derived")[0].path == "derivedSection.miscInfoModule"


def test_has_results_missing_to_false_is_admin():
    old, new = pair("NCT07240987")
    del old["hasResults"]
    check(one(diff_records(old, new)), "results", "admin", "added", "results.bookkeeping")


# --------------------------------------------------------------------------- a module lost (issue 11 item 2)

STATUS_FIELDS = ("11 fields gone (statusVerifiedDate, overallStatus, expandedAccessInfo, startDateStruct, "
                 "primaryCompletionDateStruct, …)")


@pytest.mark.parametrize("value, shown", [(None, "is now null"), ([], "is now an empty list"),
                                          ("n/a", "is now text"), (7, "is now a number")])
def test_a_status_module_that_stops_being_an_object_is_a_major_status_change(value, shown):
    old, new = pair("NCT07240987")
    new["protocolSection"]["statusModule"] = value
    ch = diff_records(old, new)
    check(ch[0], "status", "major", "changed", "module.lost", path=SM,
          summary=f"Status module {shown}: {STATUS_FIELDS}")
    # ... and what was lost is told field by field, in its own category.
    assert only(ch, path=f"{SM}.overallStatus")[0].kind == "removed"
    assert {c.category for c in only(ch, kind="removed")} >= {"status", "dates"}
    assert only(ch, path=f"{SM}.primaryCompletionDateStruct")[0].rule == "dates.removed"


def test_a_status_module_that_disappears_is_a_major_status_change():
    old, new = pair("NCT07240987")
    del new["protocolSection"]["statusModule"]
    c = diff_records(old, new)[0]
    check(c, "status", "major", "removed", "module.lost", path=SM, summary=f"Status module removed: {STATUS_FIELDS}")


@pytest.mark.parametrize("module, category", [
    ("armsInterventionsModule", "arms"), ("outcomesModule", "outcomes"),
    ("eligibilityModule", "eligibility"), ("designModule", "design"),
])
def test_the_key_modules_lost_are_major_in_their_category(module, category):
    old, new = pair("NCT07240987")
    new["protocolSection"][module] = []
    c = only(diff_records(old, new), rule="module.lost")
    assert [(x.category, x.severity, x.path) for x in c] == [(category, "major", f"protocolSection.{module}")]


@pytest.mark.parametrize("module, category", [
    ("sponsorCollaboratorsModule", "sponsor"), ("contactsLocationsModule", "contacts"),
    ("conditionsModule", "conditions"), ("ipdSharingStatementModule", "ipd"),
])
def test_other_modules_lost_are_flagged_minor_in_their_category(module, category):
    old, new = pair("NCT07240987")
    new["protocolSection"][module] = None
    c = one(only(diff_records(old, new), rule="module.lost.other"))
    assert (c.category, c.severity, c.path) == (category, "minor", f"protocolSection.{module}")


def test_a_module_that_becomes_an_object_again_is_flagged():
    old, new = pair("NCT07240987")
    old["protocolSection"]["eligibilityModule"] = None
    ch = diff_records(old, new)
    check(only(ch, rule="module.restored")[0], "eligibility", "minor", "changed", "module.restored",
          path="protocolSection.eligibilityModule", summary="Eligibility module is an object again (was null): 5 fields")
    assert only(ch, path="protocolSection.eligibilityModule.eligibilityCriteria")[0].kind == "added"


def test_a_module_first_given_is_not_a_module_change():
    old, new = pair("NCT07240987")
    del old["protocolSection"]["oversightModule"]
    assert not [c for c in diff_records(old, new) if c.rule.startswith("module.")]


# --------------------------------------------------------------------------- summaries that say something (issue 10 item 16)


def test_an_eligibility_edit_past_the_start_shows_the_changed_words():
    old, new = pair("NCT07240987")
    em = ps(new, "eligibilityModule")
    em["eligibilityCriteria"] = em["eligibilityCriteria"].replace("Agreement to participate", "Agreement to take part")
    c = one(diff_records(old, new))
    assert c.summary == ("Eligibility criteria changed (Inclusion Criteria: * Agreement to [-participate-] "
                         "{+take part+} in the trial and …)")


def test_a_long_text_edited_at_its_end_shows_the_edit_not_two_equal_starts():
    old, new = pair("NCT07240987")
    dm = ps(new, "descriptionModule")
    dm["briefSummary"] = dm["briefSummary"].rstrip(".") + " and safety."
    c = one(diff_records(old, new))
    # not "Brief summary: X… -> X…"
    assert c.summary == "Brief summary: … (eGFR) as the primary [-endpoint.-] {+endpoint and safety.+}"


def test_admin_date_structs_read_as_dates_never_as_json():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["studyFirstPostDateStruct"] = {"date": "2026-01-05", "type": "ACTUAL"}
    c = one(diff_records(old, new))
    assert c.rule == "admin.bookkeeping"
    assert c.summary == "Study first post date: 2025-11-20 (ACTUAL) -> 2026-01-05 (ACTUAL)"


def test_no_summary_is_raw_json():
    old, new = pair("NCT06131398")
    sm = ps(new, "statusModule")
    sm["lastUpdatePostDateStruct"] = {"date": "2026-09-05", "type": "ACTUAL"}
    sm["studyFirstPostDateStruct"] = {"date": "2023-11-15"}
    ps(new, "sponsorCollaboratorsModule")["responsibleParty"] = {"type": "PRINCIPAL_INVESTIGATOR", "investigatorFullName": "A B"}
    ps(new, "contactsLocationsModule")["locations"][0]["geoPoint"] = {"lat": 1.5, "lon": 2.5}
    ps(new, "statusModule")["expandedAccessInfo"] = {"hasExpandedAccess": False, "nctId": "NCT00000001"}
    summaries = [c.summary for c in diff_records(old, new)]
    assert len(summaries) >= 5
    assert not [s for s in summaries if '{"' in s or "{'" in s or '["' in s], summaries


# --------------------------------------------------------------------------- a primary outcome rewritten (issue 10 item 16)


def _primary(rec: dict, **fields: str) -> None:
    """The first primary outcome replaced by one with just ``fields`` (no description: an
    outcome with everything but its measure unchanged is paired as a rename already)."""
    ps(rec, "outcomesModule")["primaryOutcomes"][0] = fields


def test_a_reworded_primary_outcome_is_one_renamed_change_not_removed_and_added():
    old, new = pair("NCT07240987")
    # The measure's words rearranged, part of the time frame moved into it: the same outcome,
    # the same time point (issue 15: a rewording, not a change)
    _primary(new, measure="eGFR change from baseline", timeFrame="12 months",
             description="eGFR calculated with the CKD-EPI equation.")
    ch = only(diff_records(old, new), category="outcomes")
    assert [(c.kind, c.rule, c.severity) for c in ch] == [
        ("renamed", "outcome.wording", "admin"), ("changed", "outcome.wording", "admin"),
    ]
    assert ch[0].summary == f"Primary outcome measure: {EGFR} -> eGFR change from baseline"
    assert ch[0].path == f"{OM}.primaryOutcomes[measure={EGFR}]"
    assert ch[1].path == f"{OM}.primaryOutcomes[measure=eGFR change from baseline].timeFrame"


def test_a_primary_measure_shortened_to_its_core_is_paired_with_unit_words_ignored():
    old, new = pair("NCT07240987")
    _primary(old, measure="Percentage of Participants Achieving ACR20 Response at Week 12", timeFrame="Week 12")
    _primary(new, measure="ACR20 response rate", timeFrame="At week 12")
    ch = only(diff_records(old, new), category="outcomes")
    assert sorted((c.kind, c.rule, c.severity) for c in ch) == [
        ("changed", "outcome.wording", "admin"), ("renamed", "outcome.wording", "admin"),
    ]


@pytest.mark.parametrize("measure, time_frame", [
    ("Change in urine albumin-to-creatinine ratio (UACR)", "Baseline to 12 months"),  # another measure
    ("Time to dialysis", "Baseline to 12 months"),
])
def test_outcome_switching_stays_removed_and_added(measure, time_frame):
    old, new = pair("NCT07240987")
    _primary(new, measure=measure, timeFrame=time_frame)
    ch = only(diff_records(old, new), category="outcomes")
    # UACR is a secondary outcome of this trial: made primary, it is promoted, not new
    added = "outcome.primary.promoted" if "UACR" in measure else "outcome.primary.added"
    assert sorted(c.rule for c in ch) == sorted([added, "outcome.primary.removed"])
    assert {c.severity for c in ch} == {"critical"}


def test_overall_survival_to_progression_free_survival_is_a_switch():
    old, new = pair("NCT07240987")
    _primary(old, measure="Overall survival", timeFrame="Up to 5 years",
             description="Time from randomisation to death from any cause")
    _primary(new, measure="Progression-free survival", timeFrame="Up to 5 years",
             description="Time from randomisation to disease progression or death")
    ch = only(diff_records(old, new), category="outcomes")
    assert sorted(c.rule for c in ch) == ["outcome.primary.added", "outcome.primary.removed"]


def test_two_rewritten_primaries_pair_each_with_its_own():
    old, new = pair("NCT07240987")
    primaries = ps(old, "outcomesModule")["primaryOutcomes"]
    primaries.append({"measure": "Percentage of participants with serious adverse events", "timeFrame": "Up to 12 months"})
    ps(new, "outcomesModule")["primaryOutcomes"] = [
        {"measure": "Serious adverse events (participants)", "timeFrame": "Up to 12 months"},
        {"measure": "eGFR change from baseline", "timeFrame": "12 months", "description": primaries[0]["description"]},
    ]
    renamed = only(diff_records(old, new), kind="renamed")
    assert sorted((c.old, c.new) for c in renamed) == [
        (EGFR, "eGFR change from baseline"),
        ("Percentage of participants with serious adverse events", "Serious adverse events (participants)"),
    ]
