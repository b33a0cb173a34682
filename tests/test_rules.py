"""Every rule in regsync.rules.RULES is produced by a real record and a scripted edit.

Three checks that cannot be fooled by a misspelt rule id:

* the example table: one scenario per rule (a real fixture, the old record's stage, a small
  edit), run through ``diff_records``; the rule must come out with the severity written in
  the table, which must also be the severity the rule table gives it;
* coverage: the table's rule ids are exactly ``RULES`` (a new rule without an example fails);
* static: every rule id that ``regsync/classify.py`` can pass to ``Hit(...)`` is in
  ``RULES``, and every rule in ``RULES`` can be passed (no dead rows).

Plus the rule table's own consistency, impossible dates and malformed statuses.
"""
from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

import regsync.classify
from regsync import rules
from regsync.classify import diff_records
from regsync.model import RESULTS_RECONCILIATION, Category, Change, Severity
from regsync.rules import RULES, UnknownRule, rule

S, C = Severity, Category
FIXTURES = Path(__file__).parent / "fixtures"
RULE_ID = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


# --------------------------------------------------------------------------- records


@lru_cache(maxsize=None)
def _parsed(nct: str) -> dict:
    return json.loads((FIXTURES / f"{nct}.json").read_text(encoding="utf-8"))


def fixture(nct: str) -> dict:
    """A fresh, editable copy of the real record ``tests/fixtures/<nct>.json``."""
    return copy.deepcopy(_parsed(nct))


def ps(rec: dict, module: str) -> dict:
    """``rec["protocolSection"][module]``."""
    return rec["protocolSection"][module]


def item(items: list[dict], key: str, value: str) -> dict:
    """The dict in ``items`` whose ``key`` is ``value`` (a KeyError names what is missing)."""
    for it in items:
        if it.get(key) == value:
            return it
    raise KeyError(f"no item with {key}={value!r}")


def arms(rec: dict) -> list[dict]:
    return ps(rec, "armsInterventionsModule")["armGroups"]


def interventions(rec: dict) -> list[dict]:
    return ps(rec, "armsInterventionsModule")["interventions"]


def outcomes(rec: dict, which: str) -> list[dict]:
    """``which``: primary / secondary / other (created empty when the record has none)."""
    return ps(rec, "outcomesModule").setdefault(f"{which}Outcomes", [])


def outcome(rec: dict, which: str, measure: str) -> dict:
    return item(outcomes(rec, which), "measure", measure)


def pop_outcome(rec: dict, which: str, measure: str) -> dict:
    lst = outcomes(rec, which)
    return lst.pop(lst.index(outcome(rec, which, measure)))


def without_results(rec: dict) -> None:
    """The version just before results were first posted: no results, no results dates."""
    rec["hasResults"] = False
    rec.pop("resultsSection", None)
    for k in ("resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct"):
        ps(rec, "statusModule").pop(k, None)


# --------------------------------------------------------------------------- the table

Edit = Callable[[dict, dict], Any]  # edits (old, new) in place; a return value is ignored


@dataclass(frozen=True)
class Example:
    rule: str
    severity: Severity  # as written here; must equal the rule table's (or its reconciled)
    nct: str
    edit: Edit
    stage: str | None = None  # overallStatus of both versions (the OLD one sets the stage)
    summary: str | None = None
    results_first: bool = False  # old = the version before results were first posted
    category: Category | None = None  # for rules that apply in any category
    also: dict[str, Any] = field(default_factory=dict)  # further Change attributes

    @property
    def id(self) -> str:
        return self.rule + ("@first-results" if self.results_first else "")

    def records(self) -> tuple[dict, dict]:
        base = fixture(self.nct)
        if self.stage is not None:
            ps(base, "statusModule")["overallStatus"] = self.stage
        old, new = base, copy.deepcopy(base)
        if self.results_first:
            without_results(old)
        self.edit(old, new)
        return old, new


NYR, REC, ANR = "NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING"
AI = "protocolSection.armsInterventionsModule"
CKD = "NCT07240987"  # NOT_YET_RECRUITING phase 1/2, 4 arms, 2 documents
CF = "NCT00763412"  # COMPLETED, results posted
CARIES = "NCT00973089"  # WITHDRAWN with a whyStopped, one BACKGROUND reference
PALLAS = "NCT02513394"  # ACTIVE_NOT_RECRUITING, 1.5 MB, 341 SAE rows, month-precise dates
AMG = "NCT06131398"  # COMPLETED phase 1, 25 sites
TBI = "NCT06171568"  # NOT_YET_RECRUITING observational, collaborators

EGFR = "Change in estimated glomerular filtration rate (eGFR)"
EGFR_50 = "Change in estimated glomerular filtration rate (e…"  # trunc(EGFR, 50)
AE = "Incidence of adverse events"
AE_GRADE3 = "Incidence of grade 3 or higher adverse events"
HOSPITAL = "The First Affiliated Hospital of Air Force Medical University"


def status(rec: dict, **fields: Any) -> None:
    ps(rec, "statusModule").update(fields)


def date_of(rec: dict, struct: str, **fields: Any) -> None:
    ps(rec, "statusModule")[struct].update(fields)


def enrollment(rec: dict, **fields: Any) -> None:
    ps(rec, "designModule")["enrollmentInfo"].update(fields)


def reword(d: dict, key: str, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` in the text ``d[key]`` (which must contain it)."""
    assert old in d[key], (key, old)
    d[key] = d[key].replace(old, new)


def design_info(rec: dict, **fields: Any) -> None:
    ps(rec, "designModule")["designInfo"].update(fields)


def _rename_arm(old: dict, new: dict) -> None:
    item(arms(new), "label", "HN")["label"] = "HN cohort"
    labels = item(interventions(new), "name", "MSCs")["armGroupLabels"]
    labels[labels.index("HN")] = "HN cohort"  # a real rename rewrites the references too


def _rename_intervention(old: dict, new: dict) -> None:
    item(interventions(new), "name", "MSCs")["name"] = "UC-MSCs"
    for arm in arms(new):
        arm["interventionNames"] = ["Drug: UC-MSCs" if n == "Drug: MSCs" else n
                                    for n in arm["interventionNames"]]


def _demote_primary(old: dict, new: dict) -> None:
    outcomes(new, "secondary").append(pop_outcome(new, "primary", EGFR))


def _promote_secondary(old: dict, new: dict) -> None:
    outcomes(new, "primary").append(pop_outcome(new, "secondary", "Change in serum creatinine"))


def _swap_primary_analyte(old: dict, new: dict) -> None:
    outcome(old, "primary", EGFR)["measure"] = "Change from baseline in eGFR"
    outcome(new, "primary", EGFR)["measure"] = "Change from baseline in UACR"


def _mean_to_median(old: dict, new: dict) -> None:
    outcome(old, "primary", EGFR)["measure"] = "Mean change in eGFR"
    outcome(new, "primary", EGFR)["measure"] = "Median change in eGFR"


def _merge_primaries(old: dict, new: dict) -> None:
    outcomes(old, "primary").append({"measure": "Change in serum creatinine", "timeFrame": "Baseline to 12 months"})
    outcome(new, "primary", EGFR)["measure"] = EGFR + " and serum creatinine"


def _describe_glucose_tolerance(old: dict, new: dict) -> None:
    outcome(old, "secondary", "Glucose Tolerance")["description"] = "Glucose at 2 hours"
    outcome(new, "secondary", "Glucose Tolerance")["description"] = "Glucose and insulin at 2 hours"


def _move_to_other(old: dict, new: dict) -> None:
    outcomes(new, "other").append(pop_outcome(new, "secondary", AE))


def _tighten_exclusion(old: dict, new: dict) -> None:
    el = ps(new, "eligibilityModule")
    el["eligibilityCriteria"] += "\n* Prior treatment with any cell therapy"


def _reword_exclusion(old: dict, new: dict) -> None:
    reword(ps(new, "eligibilityModule"), "eligibilityCriteria", "Extremely severe", "Very severe")


def _drop_two_sae_rows(old: dict, new: dict) -> None:
    del new["resultsSection"]["adverseEventsModule"]["seriousEvents"][-2:]


def _add_document(old: dict, new: dict) -> None:
    new["documentSection"]["largeDocumentModule"]["largeDocs"].append({
        "typeAbbrev": "ICF", "hasProtocol": False, "hasSap": False, "hasIcf": True,
        "label": "Informed Consent Form", "date": "2025-12-01",
        "uploadDate": "2026-01-05T08:00", "filename": "ICF_002.pdf", "size": 120331})


def _remove_document(old: dict, new: dict) -> None:
    docs = new["documentSection"]["largeDocumentModule"]["largeDocs"]
    docs.remove(item(docs, "filename", "Prot_001.pdf"))


def _relabel_document(old: dict, new: dict) -> None:
    docs = new["documentSection"]["largeDocumentModule"]["largeDocs"]
    item(docs, "filename", "Prot_001.pdf")["label"] = "Study Protocol: English Translation Version 3"


def _add_reference(old: dict, new: dict, ref_type: str) -> None:
    ps(new, "referencesModule")["references"].append({
        "pmid": "12345678", "type": ref_type,
        "citation": "Maltz M, Garcia R. Partial caries removal in primary teeth. J Dent. 2012."})


def _add_site(old: dict, new: dict) -> None:
    ps(new, "contactsLocationsModule")["locations"].append({
        "facility": "Xijing Hospital", "city": "Xi'an", "state": "Shaanxi", "country": "China"})


def _remove_site(old: dict, new: dict) -> None:
    ps(new, "contactsLocationsModule")["locations"].pop(0)


EXAMPLES: list[Example] = [
    # -- status ---------------------------------------------------------------------------
    # the trial opens: a forward step, a milestone
    Example("status.progression", S.MINOR, CKD, lambda o, n: status(n, overallStatus=REC),
            summary="Overall status: NOT_YET_RECRUITING -> RECRUITING"),
    # withdrawn while recruiting, with the fixture's real whyStopped
    Example("status.stopped.with_reason", S.MAJOR, CARIES, lambda o, n: status(o, overallStatus=REC),
            summary="Overall status: RECRUITING -> WITHDRAWN (why stopped: recruiting or enrolling "
                    "participants has halted prematurely…)"),
    # terminated and nobody says why
    Example("status.stopped.no_reason", S.CRITICAL, CKD, lambda o, n: status(n, overallStatus="TERMINATED"),
            summary="Overall status: NOT_YET_RECRUITING -> TERMINATED (no reason given)"),
    # a suspended trial recruits again
    Example("status.resumed", S.MINOR, CKD, lambda o, n: status(n, overallStatus=REC), stage="SUSPENDED",
            summary="Overall status: SUSPENDED -> RECRUITING"),
    # recruitment closed, then reopened
    Example("status.reopened", S.MINOR, AMG, lambda o, n: status(n, overallStatus=REC), stage=ANR,
            summary="Overall status: ACTIVE_NOT_RECRUITING -> RECRUITING"),
    # a completed trial is open again
    Example("status.reopened_after_end", S.MAJOR, AMG, lambda o, n: status(n, overallStatus=REC),
            summary="Overall status: COMPLETED -> RECRUITING"),
    # the registry gave up verifying the record
    Example("status.unknown", S.MINOR, CKD, lambda o, n: status(n, overallStatus="UNKNOWN"), stage=REC,
            summary="Overall status: RECRUITING -> UNKNOWN"),
    # lastKnownStatus appears (the registry sets it next to UNKNOWN)
    Example("status.other", S.MINOR, CKD, lambda o, n: status(n, lastKnownStatus=REC),
            summary="Last known status added: RECRUITING"),
    # a reason is given for a stop
    Example("status.why_stopped", S.MINOR, CKD,
            lambda o, n: status(n, whyStopped="Funding withdrawn by the sponsor"),
            summary="Why stopped: Funding withdrawn by the sponsor"),
    # the withdrawn trial's reason disappears
    Example("status.why_stopped.removed", S.MAJOR, CARIES,
            lambda o, n: ps(n, "statusModule").pop("whyStopped"),
            summary="Why stopped removed: recruiting or enrolling participants has halted prematurely "
                    "and will not resume"),
    # expanded access becomes available
    Example("status.expanded_access", S.MINOR, CKD,
            lambda o, n: status(n, expandedAccessInfo={"hasExpandedAccess": True}),
            summary="Expanded access: False -> True"),
    # an expanded-access record number is added, availability unchanged
    Example("status.expanded_access.details", S.ADMIN, CKD,
            lambda o, n: status(n, expandedAccessInfo={"hasExpandedAccess": False, "nctId": "NCT07300001"})),
    # -- dates ----------------------------------------------------------------------------
    # the trial started: the start date becomes ACTUAL, same day
    Example("dates.became_actual", S.MINOR, CKD, lambda o, n: date_of(n, "startDateStruct", type="ACTUAL"),
            summary="Start date: 2026-01-01 (ESTIMATED -> ACTUAL)"),
    # a completed trial's ACTUAL completion date corrected by 3 days
    Example("dates.actual_corrected", S.MINOR, AMG,
            lambda o, n: date_of(n, "completionDateStruct", date="2026-07-25"),
            summary="Completion date: 2026-07-22 -> 2026-07-25 (ACTUAL, +3 days)", also={"delta_days": 3}),
    # an ACTUAL completion goes back to ESTIMATED
    Example("dates.actual_reverted", S.MINOR, AMG,
            lambda o, n: date_of(n, "completionDateStruct", type="ESTIMATED"),
            summary="Completion date: 2026-07-22 (ACTUAL -> ESTIMATED)"),
    # late in the trial, completion slips a year (month precision)
    Example("dates.slip.late_large", S.MAJOR, PALLAS,
            lambda o, n: date_of(n, "completionDateStruct", date="2026-09"),
            summary="Completion date: 2025-09 -> 2026-09 (ESTIMATED, +12 months)",
            also={"delta_months": 12, "delta_days": None}),
    # before recruitment, completion slips two years
    Example("dates.slip.early_very_large", S.MAJOR, CKD,
            lambda o, n: date_of(n, "completionDateStruct", date="2029-09-30"),
            summary="Completion date: 2027-08-31 -> 2029-09-30 (ESTIMATED, +761 days)", also={"delta_days": 761}),
    # primary completion slips six months
    Example("dates.slip.moderate", S.MINOR, CKD,
            lambda o, n: date_of(n, "primaryCompletionDateStruct", date="2027-12-31"),
            summary="Primary completion date: 2027-06-30 -> 2027-12-31 (ESTIMATED, +184 days)",
            also={"delta_days": 184}),
    # primary completion expected three months sooner
    Example("dates.earlier", S.MINOR, CKD,
            lambda o, n: date_of(n, "primaryCompletionDateStruct", date="2027-03-31"),
            summary="Primary completion date: 2027-06-30 -> 2027-03-31 (ESTIMATED, -91 days)",
            also={"delta_days": -91}),
    # the planned start moves two months
    Example("dates.start.moved", S.MINOR, CKD, lambda o, n: date_of(n, "startDateStruct", date="2026-03-01"),
            summary="Start date: 2026-01-01 -> 2026-03-01 (ESTIMATED, +59 days)"),
    # a completion estimate given where there was none
    Example("dates.added", S.MINOR, CKD, lambda o, n: ps(o, "statusModule").pop("completionDateStruct"),
            summary="Completion date added: 2027-08-31 (ESTIMATED)"),
    # the completion date disappears
    Example("dates.removed", S.MINOR, CKD, lambda o, n: ps(n, "statusModule").pop("completionDateStruct"),
            summary="Completion date removed (was 2027-08-31 ESTIMATED)"),
    # 30 February: reported, the slip left unmeasured
    Example("dates.unreadable", S.MINOR, CKD,
            lambda o, n: date_of(n, "primaryCompletionDateStruct", date="2027-02-30"),
            summary="Primary completion date: 2027-06-30 -> 2027-02-30 (ESTIMATED): not a valid date",
            also={"delta_days": None, "delta_months": None}),
    # -- enrollment -----------------------------------------------------------------------
    # planned enrollment cut to nothing
    Example("enrollment.zero", S.CRITICAL, CKD, lambda o, n: enrollment(n, count=0),
            summary="Enrollment: 32 -> 0 (ESTIMATED, -100%)"),
    # while recruiting, 32 -> 20 (-38%)
    Example("enrollment.reduction.large", S.MAJOR, CKD, lambda o, n: enrollment(n, count=20), stage=REC,
            summary="Enrollment: 32 -> 20 (ESTIMATED, -38%)"),
    # the same cut before recruitment is a plan being finalised
    Example("enrollment.reduction.pre_recruitment", S.MINOR, CKD, lambda o, n: enrollment(n, count=20),
            summary="Enrollment: 32 -> 20 (ESTIMATED, -38%)"),
    # an increase
    Example("enrollment.change.small", S.MINOR, CKD, lambda o, n: enrollment(n, count=40),
            summary="Enrollment: 32 -> 40 (ESTIMATED, +25%)"),
    # the count becomes ACTUAL unchanged
    Example("enrollment.finalized", S.MINOR, CKD, lambda o, n: enrollment(n, type="ACTUAL"),
            summary="Enrollment: 32 (ESTIMATED -> ACTUAL)"),
    # enrollment first given
    Example("enrollment.added", S.MINOR, CKD, lambda o, n: ps(o, "designModule").pop("enrollmentInfo"),
            summary="Enrollment: 32 (no type -> ESTIMATED)"),
    # enrollment disappears
    Example("enrollment.removed", S.MINOR, CKD, lambda o, n: ps(n, "designModule").pop("enrollmentInfo"),
            summary="Enrollment removed (was 32 ESTIMATED)"),
    # -- arms -----------------------------------------------------------------------------
    # a new dose arm
    Example("arms.added", S.MAJOR, CKD, lambda o, n: arms(n).append({
        "label": "DKD high dose", "type": "EXPERIMENTAL", "interventionNames": ["Drug: MSCs"],
        "description": "Allogeneic MSCs at 2.0x10^6 cells per kilogram."}),
        summary="Arm added: DKD high dose (EXPERIMENTAL)"),
    # an arm dropped
    Example("arms.removed", S.MAJOR, CKD, lambda o, n: arms(n).remove(item(arms(n), "label", "HN")),
            summary="Arm removed: HN (EXPERIMENTAL)"),
    # an arm relabelled, its references with it
    Example("arms.renamed", S.MINOR, CKD, _rename_arm, summary="Arm renamed: HN -> HN cohort"),
    # placebo control becomes a sham control
    Example("arms.type_changed", S.MAJOR, CKD,
            lambda o, n: item(arms(n), "label", "non-HN").update(type="SHAM_COMPARATOR"),
            summary="Arm non-HN type: PLACEBO_COMPARATOR -> SHAM_COMPARATOR"),
    # the HN arm now also gets saline
    Example("arms.interventions_changed", S.MAJOR, CKD,
            lambda o, n: item(arms(n), "label", "HN")["interventionNames"].append("Drug: 0.9% sodium chloride"),
            summary="Intervention Drug: 0.9% sodium chloride added to arm HN"),
    # the HN arm's reconstitution volume doubles
    Example("arms.dose_changed", S.MAJOR, CKD,
            lambda o, n: reword(item(arms(n), "label", "HN"), "description", "250 mL", "500 mL"),
            also={"path": f"{AI}.armGroups[label=HN].description"}),
    # the HN arm's description reworded, same numbers
    Example("arms.wording", S.MINOR, CKD,
            lambda o, n: reword(item(arms(n), "label", "HN"), "description", "experimental", "treatment")),
    # -- interventions --------------------------------------------------------------------
    # an immunosuppressant added
    Example("interventions.added", S.MAJOR, CKD, lambda o, n: interventions(n).append({
        "type": "DRUG", "name": "Tacrolimus", "description": "0.05 mg/kg twice daily", "armGroupLabels": ["DKD"]}),
        summary="Intervention added: Tacrolimus (DRUG)"),
    # the placebo dropped
    Example("interventions.removed", S.MAJOR, CKD,
            lambda o, n: interventions(n).remove(item(interventions(n), "name", "0.9% sodium chloride")),
            summary="Intervention removed: 0.9% sodium chloride (DRUG)"),
    # MSCs renamed, the arms' references with it
    Example("interventions.renamed", S.MINOR, CKD, _rename_intervention,
            summary="Intervention renamed: DRUG: MSCs -> DRUG: UC-MSCs"),
    # the MSC dose doubles
    Example("interventions.dose_changed", S.MAJOR, CKD,
            lambda o, n: reword(item(interventions(n), "name", "MSCs"), "description", "1.0×", "2.0×"),
            also={"path": f"{AI}.interventions[type=DRUG,name=MSCs].description"}),
    # the MSC description reworded, same numbers
    Example("interventions.wording", S.MINOR, CKD,
            lambda o, n: reword(item(interventions(n), "name", "MSCs"), "description", "allogeneic", "donor")),
    # saline no longer given in the non-HN arm
    Example("interventions.arm_assignment", S.MAJOR, CKD,
            lambda o, n: item(interventions(n), "name", "0.9% sodium chloride")["armGroupLabels"].remove("non-HN"),
            summary="Intervention 0.9% sodium chloride no longer given in arm non-HN"),
    # MSCs get another name
    Example("interventions.other_names", S.MINOR, CKD,
            lambda o, n: item(interventions(n), "name", "MSCs").update(otherNames=["hUC-MSC"]),
            summary="Intervention MSCs other name added: hUC-MSC"),
    # -- outcomes -------------------------------------------------------------------------
    # a second primary outcome appears
    Example("outcome.primary.added", S.CRITICAL, CKD,
            lambda o, n: outcomes(n, "primary").append({"measure": "Time to dialysis",
                                                        "timeFrame": "Up to 24 months"}),
            summary="Primary outcome added: Time to dialysis"),
    # the primary outcome disappears
    Example("outcome.primary.removed", S.CRITICAL, CKD, lambda o, n: pop_outcome(n, "primary", EGFR),
            summary=f"Primary outcome removed: {EGFR}"),
    # the primary measure now counts another analyte (a different measure)
    Example("outcome.primary.redefined", S.CRITICAL, CKD, _swap_primary_analyte,
            summary="Primary outcome measure replaced (measure: a different measure): Primary outcome measure: "
                    "Change from baseline in eGFR -> Change from baseline in UACR"),
    # a second endpoint named inside the primary measure
    Example("outcome.primary.endpoint_added", S.CRITICAL, CKD,
            lambda o, n: outcome(n, "primary", EGFR).update(measure=EGFR + " and proteinuria"),
            summary="Primary outcome widened: proteinuria added; Primary outcome measure: "
                    f"{EGFR} -> {EGFR} and p…"),
    # one of two endpoints dropped from the primary measure
    Example("outcome.primary.endpoint_omitted", S.CRITICAL, CKD,
            lambda o, n: outcome(o, "primary", EGFR).update(measure=EGFR + " and proteinuria"),
            summary="Primary outcome narrowed: proteinuria no longer named; Primary outcome measure: "
                    f"{EGFR} and p… -> {EGFR}"),
    # the equation behind the measure swapped
    Example("outcome.primary.measurement_changed", S.MAJOR, CKD,
            lambda o, n: outcome(n, "primary", EGFR).update(description="eGFR calculated with the MDRD equation."),
            summary="Primary outcome measurement changed (description: instrument ckdepi -> mdrd): Primary outcome "
                    f"description ({EGFR_50}): eGFR calculated with the CKD-EPI equation. -> eGFR calculated with "
                    "the MDRD equation."),
    # change from baseline becomes a slope
    Example("outcome.primary.metric_changed", S.MAJOR, CKD,
            lambda o, n: outcome(n, "primary", EGFR).update(measure="Annual rate of change in eGFR (eGFR slope)"),
            summary="Primary outcome metric changed (measure: metric change -> change slope): Primary outcome "
                    f"measure: {EGFR} -> Annual rate of change in eGFR (eGFR slope)"),
    # mean becomes median
    Example("outcome.primary.aggregation_changed", S.MAJOR, CKD, _mean_to_median,
            summary="Primary outcome aggregation changed (measure: aggregation mean -> median): Primary outcome "
                    "measure: Mean change in eGFR -> Median change in eGFR"),
    # the primary's time point doubles
    Example("outcome.primary.timeframe_changed", S.MAJOR, CKD,
            lambda o, n: outcome(n, "primary", EGFR).update(timeFrame="Baseline to 24 months"),
            summary="Primary outcome time point changed (time point 1 year -> 2 years): Primary outcome time frame "
                    f"({EGFR_50}): Baseline to 12 months -> Baseline to 24 months"),
    # a time frame dropped: detail, not a new time point (one given where there was none is
    # added timing, outcome.primary.timeframe_changed: issue 21)
    Example("outcome.primary.detail", S.MINOR, CKD,
            lambda o, n: outcome(n, "primary", EGFR).pop("timeFrame"),
            summary="Primary outcome detail changed (time point dropped: 1 year): Primary outcome time frame "
                    f"({EGFR_50}) removed: Baseline to 12 months"),
    # two primary entries merged into one naming both endpoints
    Example("outcome.primary.restructured", S.ADMIN, CKD, _merge_primaries,
            summary="Primary outcomes restructured, same endpoints: Change in serum creatinine removed"),
    # the primary outcome moves to secondary
    Example("outcome.primary.demoted", S.CRITICAL, CKD, _demote_primary,
            summary=f"Primary outcome demoted to secondary: {EGFR}"),
    # a secondary outcome becomes primary
    Example("outcome.primary.promoted", S.CRITICAL, CKD, _promote_secondary,
            summary="Secondary outcome promoted to primary: Change in serum creatinine"),
    # a secondary moves to "other"
    Example("outcome.moved", S.MINOR, CKD, _move_to_other, summary=f"Secondary outcome moved to other: {AE}"),
    # a completed trial drops a secondary outcome
    Example("outcome.removed_after_completion", S.CRITICAL, AMG,
            lambda o, n: pop_outcome(n, "secondary", "Overall Survival"),
            summary="Secondary outcome removed after completion: Overall Survival"),
    # a recruiting trial drops a secondary outcome
    Example("outcome.secondary.removed", S.MAJOR, CKD,
            lambda o, n: pop_outcome(n, "secondary", "Change in serum creatinine"),
            stage=REC, summary="Secondary outcome removed: Change in serum creatinine"),
    # the same before recruitment
    Example("outcome.secondary.removed_pre_recruitment", S.MINOR, CKD,
            lambda o, n: pop_outcome(n, "secondary", "Change in serum creatinine"),
            summary="Secondary outcome removed: Change in serum creatinine"),
    # a secondary outcome added while planning
    Example("outcome.secondary.added", S.MINOR, CKD,
            lambda o, n: outcomes(n, "secondary").append({"measure": "Change in cystatin C",
                                                          "timeFrame": "Baseline to 12 months"}),
            summary="Secondary outcome added: Change in cystatin C"),
    # a completed trial adds a secondary outcome
    Example("outcome.secondary.added_after_completion", S.MAJOR, AMG,
            lambda o, n: outcomes(n, "secondary").append({"measure": "Maximum serum concentration (Cmax) of AMG 355",
                                                          "timeFrame": "Up to 2 years"}),
            summary="Secondary outcome added after completion: Maximum serum concentration (Cmax) of AMG 355"),
    # while recruiting, "adverse events" narrowed to grade 3 or higher
    Example("outcome.secondary.redefined", S.MAJOR, CKD,
            lambda o, n: outcome(n, "secondary", AE).update(measure=AE_GRADE3), stage=REC,
            summary=f"Secondary outcome measure: {AE} -> {AE_GRADE3}"),
    # the same before recruitment
    Example("outcome.secondary.redefined_pre_recruitment", S.MINOR, CKD,
            lambda o, n: outcome(n, "secondary", AE).update(measure=AE_GRADE3),
            summary=f"Secondary outcome measure: {AE} -> {AE_GRADE3}"),
    # the measure reworded: who it is counted in is not what is measured
    Example("outcome.wording", S.ADMIN, CKD,
            lambda o, n: outcome(n, "secondary", AE).update(measure=AE + " in participants"), stage=REC,
            summary=f"Secondary outcome measure: {AE} -> {AE} in participants"),
    # a secondary's time frame halves
    Example("outcome.timeframe_changed", S.MINOR, CKD,
            lambda o, n: outcome(n, "secondary", AE).update(timeFrame="Up to 6 months"),
            summary=f"Secondary outcome time frame ({AE}): Up to 12 months -> Up to 6 months"),
    # the primary's description names the equation's version
    Example("outcome.description", S.MINOR, CKD,
            lambda o, n: outcome(n, "secondary", AE).update(description="Graded by CTCAE v5.0."),
            summary=f"Secondary outcome description ({AE}) added: Graded by CTCAE v5.0."),
    # an outcomes-module field that is not an outcome list
    Example("outcome.bookkeeping", S.ADMIN, CKD,
            lambda o, n: ps(n, "outcomesModule").update(reviewNote="Outcome measures reviewed"),
            summary="Review note added: Outcome measures reviewed"),
    # -- outcome edits in the version that first posts results (rule kept, severity lowered;
    # a primary outcome's time point, measure or measurement is never lowered)
    # a secondary with no results reported is dropped (trial active when they were posted)
    Example("outcome.secondary.removed", S.MINOR, CF,
            lambda o, n: outcomes(o, "secondary").append({"measure": "Quality of life (CFQ-R)", "timeFrame": "2 year"}),
            stage=ANR, results_first=True, summary="Secondary outcome removed: Quality of life (CFQ-R)"),
    # a secondary registered with its results, after completion
    Example("outcome.secondary.added_after_completion", S.MINOR, CF,
            lambda o, n: pop_outcome(o, "secondary", "C-Peptide"), results_first=True,
            summary="Secondary outcome added after completion: C-Peptide"),
    # a secondary measure rewritten as reported
    Example("outcome.secondary.redefined", S.MINOR, CF,
            lambda o, n: outcome(o, "secondary", "Wt Z Score").update(measure="Wt Z Score at 1 year"),
            results_first=True,
            summary="Secondary outcome measure: Wt Z Score at 1 year -> Wt Z Score"),
    # a secondary time frame rewritten as reported
    Example("outcome.timeframe_changed", S.ADMIN, CF,
            lambda o, n: outcome(o, "secondary", "Glucose Tolerance").update(timeFrame="1-year"),
            results_first=True,
            summary="Secondary outcome time frame (Glucose Tolerance): 1-year -> 2-year"),
    # a description rewritten as reported
    Example("outcome.description", S.ADMIN, CF, _describe_glucose_tolerance, results_first=True,
            summary="Secondary outcome description (Glucose Tolerance): Glucose at 2 hours -> "
                    "Glucose and insulin at 2 hours"),
    # a whitespace fix in an outcome, with the results
    Example("text.whitespace", S.ADMIN, CF,
            lambda o, n: outcome(o, "secondary", "FEV 1").update(description="%  of lung function "),
            results_first=True, category=C.OUTCOMES,
            also={"path": "protocolSection.outcomesModule.secondaryOutcomes[measure=FEV 1].description"}),
    # -- eligibility ----------------------------------------------------------------------
    # a criterion shifts who is enrolled once recruiting
    Example("eligibility.population_shift", S.MAJOR, CKD,
            lambda o, n: ps(n, "eligibilityModule").update(minimumAge="40 Years"), stage=REC,
            summary="Minimum age: 18 Years -> 40 Years"),
    # one word of 191 while recruiting
    Example("eligibility.wording", S.MINOR, CKD, _reword_exclusion, stage=REC),
    # an exclusion added before recruitment
    Example("eligibility.pre_recruitment", S.MINOR, CKD, _tighten_exclusion),
    # -- design ---------------------------------------------------------------------------
    # phase 1/2 becomes phase 2
    Example("design.phase_changed", S.MAJOR, CKD,
            lambda o, n: ps(n, "designModule").update(phases=["PHASE2"]),
            summary="Phase: PHASE1/PHASE2 -> PHASE2"),
    # now randomised
    Example("design.allocation_changed", S.MAJOR, CKD, lambda o, n: design_info(n, allocation="RANDOMIZED"),
            summary="Allocation: NON_RANDOMIZED -> RANDOMIZED"),
    # double becomes triple blind
    Example("design.masking_changed", S.MAJOR, CKD,
            lambda o, n: design_info(n, maskingInfo={"masking": "TRIPLE",
                                                     "whoMasked": ["PARTICIPANT", "CARE_PROVIDER"]}),
            summary="Masking: DOUBLE -> TRIPLE"),
    # parallel becomes crossover while recruiting
    Example("design.model_changed", S.MAJOR, CKD,
            lambda o, n: design_info(n, interventionModel="CROSSOVER"), stage=REC,
            summary="Intervention model: PARALLEL -> CROSSOVER"),
    # the same before recruitment
    Example("design.model_changed_pre_recruitment", S.MINOR, CKD,
            lambda o, n: design_info(n, interventionModel="CROSSOVER"),
            summary="Intervention model: PARALLEL -> CROSSOVER"),
    # the outcomes assessor is masked too
    Example("design.other", S.MINOR, CKD,
            lambda o, n: ps(n, "designModule")["designInfo"]["maskingInfo"]["whoMasked"].append(
                "OUTCOMES_ASSESSOR"),
            summary="Masked party added: OUTCOMES_ASSESSOR"),
    # -- results --------------------------------------------------------------------------
    # results posted: the milestone
    Example("results.first_posted", S.MINOR, CF, lambda o, n: without_results(o),
            summary="Results first posted 2017-06-05"),
    # hasResults goes back to false
    Example("results.withdrawn", S.MAJOR, CF, lambda o, n: n.update(hasResults=False),
            summary="Results withdrawn (hasResults True -> False)"),
    # a completed trial's results module disappears
    Example("results.removed_after_completion", S.CRITICAL, CF,
            lambda o, n: n["resultsSection"].pop("moreInfoModule"),
            summary="Results moreInfoModule removed"),
    # the same while the trial is active
    Example("results.removed", S.MAJOR, CF, lambda o, n: n["resultsSection"].pop("moreInfoModule"), stage=ANR,
            summary="Results moreInfoModule removed"),
    # two serious adverse event rows vanish from posted results
    Example("results.sae_removed", S.MAJOR, PALLAS, _drop_two_sae_rows,
            summary="Serious adverse event rows removed from results: 341 -> 339"),
    # a results module added later
    Example("results.added", S.MINOR, CF, lambda o, n: o["resultsSection"].pop("moreInfoModule"),
            summary="Results moreInfoModule added"),
    # a results module edited
    Example("results.updated", S.MINOR, CF,
            lambda o, n: n["resultsSection"]["moreInfoModule"]["limitationsAndCaveats"].update(
                description="The sample size was very small."),
            summary="Results moreInfoModule updated"),
    # a certificate of delay filed
    Example("results.certificate_of_delay", S.MINOR, CKD,
            lambda o, n: status(n, dispFirstSubmitDate="2028-05-01"),
            summary="Certificate of delay disp first submit date added: 2028-05-01"),
    # the results QC date corrected
    Example("results.bookkeeping", S.ADMIN, CF,
            lambda o, n: status(n, resultsFirstSubmitQcDate="2017-05-30")),
    # -- the other modules ----------------------------------------------------------------
    # a consent form uploaded
    Example("documents.added", S.MINOR, CKD, _add_document,
            summary="Document added: Informed Consent Form (ICF_002.pdf)"),
    # a protocol translation removed
    Example("documents.removed", S.MINOR, CKD, _remove_document,
            summary="Document removed: Study Protocol: English Translation Version2 (Prot_001.pdf)"),
    # a document relabelled
    Example("documents.changed", S.MINOR, CKD, _relabel_document),
    # a collaborator leaves
    Example("sponsor.changed", S.MINOR, TBI,
            lambda o, n: ps(n, "sponsorCollaboratorsModule")["collaborators"].pop(0),
            summary="Collaborator removed: SBT Human(s) Matter"),
    # the investigator's title
    Example("sponsor.responsible_party", S.ADMIN, CKD,
            lambda o, n: ps(n, "sponsorCollaboratorsModule")["responsibleParty"].update(investigatorTitle="Professor"),
            summary="Responsible party investigator title: Principal Investigator -> Professor"),
    # no data monitoring committee after all
    Example("oversight.changed", S.MINOR, CKD,
            lambda o, n: ps(n, "oversightModule").update(oversightHasDmc=False),
            summary="Oversight has dmc: True -> False"),
    # a condition added
    Example("conditions.changed", S.MINOR, CKD,
            lambda o, n: ps(n, "conditionsModule")["conditions"].append("Renal Insufficiency, Chronic"),
            summary="Condition added: Renal Insufficiency, Chronic"),
    # keywords given
    Example("conditions.keywords", S.ADMIN, CKD,
            lambda o, n: ps(n, "conditionsModule").update(keywords=["mesenchymal stem cells"]),
            summary="Keyword added: mesenchymal stem cells"),
    # the brief summary reworded
    Example("description.changed", S.MINOR, CKD,
            lambda o, n: reword(ps(n, "descriptionModule"), "briefSummary", "will evaluate", "evaluates")),
    # a new title
    Example("identification.title", S.MINOR, CKD,
            lambda o, n: ps(n, "identificationModule").update(briefTitle="Umbilical Cord MSCs for CKD Stage 3-4"),
            summary="Brief title: Mesenchymal Stem Cells for Chronic Kidney Diseases -> "
                    "Umbilical Cord MSCs for CKD Stage 3-4"),
    # the organisation's study id corrected
    Example("identification.ids", S.ADMIN, CKD,
            lambda o, n: ps(n, "identificationModule")["orgStudyIdInfo"].update(id="KY20242308"),
            summary="Id: KY20242307 -> KY20242308"),
    # a second central contact
    Example("contacts.churn", S.ADMIN, CKD,
            lambda o, n: ps(n, "contactsLocationsModule")["centralContacts"].append(
                {"name": "Wang Min", "role": "CONTACT"}),
            summary="Central contact added: Wang Min"),
    # a second site
    Example("locations.site_added", S.MINOR, CKD, _add_site, summary="Site added: Xijing Hospital, Xi'an, China"),
    # a site closes
    Example("locations.site_removed", S.MINOR, AMG, _remove_site,
            summary="Site removed: City of Hope National Medical Center, Duarte, United States"),
    # a site's zip code corrected
    Example("locations.site_details", S.ADMIN, CKD,
            lambda o, n: ps(n, "contactsLocationsModule")["locations"][0].update(zip="710033")),
    # a results publication cited
    Example("references.changed", S.MINOR, CARIES, lambda o, n: _add_reference(o, n, "RESULT"),
            summary="Reference added: PMID 12345678: Maltz M, Garcia R. Partial caries removal in primary teeth. "
                    "J Dent. 2012."),
    # the registry links a publication itself
    Example("references.derived", S.ADMIN, CARIES, lambda o, n: _add_reference(o, n, "DERIVED")),
    # IPD sharing decided
    Example("ipd.changed", S.MINOR, CKD,
            lambda o, n: ps(n, "ipdSharingStatementModule").update(ipdSharing="NO"),
            summary="Ipd sharing: UNDECIDED -> NO"),
    # a new update submitted
    Example("admin.bookkeeping", S.ADMIN, CKD, lambda o, n: status(n, lastUpdateSubmitDate="2026-01-15"),
            summary="Last update submit date: 2025-12-18 -> 2026-01-15"),
    # the registry recomputed its derived data
    Example("admin.derived", S.ADMIN, CKD,
            lambda o, n: n["derivedSection"]["miscInfoModule"].update(versionHolder="2026-01-09"),
            summary="Derived data miscInfoModule changed"),
    # -- any category ---------------------------------------------------------------------
    # the brief summary re-spaced
    Example("text.whitespace", S.ADMIN, CKD,
            lambda o, n: reword(ps(n, "descriptionModule"), "briefSummary", " of ", "  of\n"),
            category=C.DESCRIPTION, summary="Brief summary: whitespace-only edit"),
    # the title's case changed
    Example("text.formatting", S.ADMIN, CKD,
            lambda o, n: ps(n, "identificationModule").update(
                briefTitle="Mesenchymal stem cells for chronic kidney diseases."),
            category=C.IDENTIFICATION, summary="Brief title: formatting-only edit"),
    # -- a protocol module as a whole -----------------------------------------------------
    # the status module comes back as null: the status and every date are gone
    Example("module.lost", S.MAJOR, CKD, lambda o, n: n["protocolSection"].update(statusModule=None),
            category=C.STATUS),
    # the sponsor module disappears
    Example("module.lost.other", S.MINOR, CKD, lambda o, n: n["protocolSection"].pop("sponsorCollaboratorsModule"),
            category=C.SPONSOR, summary="Sponsor collaborators module removed: 2 fields gone "
                                        "(responsibleParty, leadSponsor)"),
    # an outcomes module that was an empty list is an object again
    Example("module.restored", S.MINOR, CKD, lambda o, n: o["protocolSection"].update(outcomesModule=[]),
            category=C.OUTCOMES, summary="Outcomes module is an object again (was an empty list): 2 fields"),
]


def _show(changes: list[Change]) -> list[tuple[str, str, str, str]]:
    return [(c.rule, c.severity, c.path, c.summary) for c in changes]


def produced(ex: Example) -> Change:
    """The change of ``ex.rule`` (with ``ex.summary``, if given) that ``ex`` produces."""
    changes = diff_records(*ex.records())
    fired = [c for c in changes if c.rule == ex.rule]
    assert fired, f"{ex.rule} not produced; got {_show(changes)}"
    if ex.summary is not None:
        fired = [c for c in fired if c.summary == ex.summary]
        assert fired, f"no {ex.rule} with summary {ex.summary!r}; got {_show(changes)}"
    return fired[0]


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("ex", EXAMPLES, ids=[ex.id for ex in EXAMPLES])
def test_example_produces_its_rule(ex: Example) -> None:
    c = produced(ex)
    row = RULES[ex.rule]
    assert c.severity == ex.severity
    if ex.results_first:
        assert row.reconciled == ex.severity
        assert c.context == RESULTS_RECONCILIATION
    else:
        assert row.severity == ex.severity
        assert c.context is None
    if row.category is not None:
        assert c.category == row.category
    if ex.category is not None:
        assert c.category == ex.category
    assert c.milestone == row.milestone
    for name, value in ex.also.items():
        assert getattr(c, name) == value, name


# Rules no record can produce while the rule code is right: their examples break the rule
# code on purpose, in the test file named.
NO_RECORD_EXAMPLE = {"change.unjudged": "tests/test_outcome_robustness.py"}


def test_every_rule_has_an_example_and_every_example_a_rule() -> None:
    assert {ex.rule for ex in EXAMPLES if not ex.results_first} == set(RULES) - set(NO_RECORD_EXAMPLE)
    assert {ex.rule for ex in EXAMPLES} == set(RULES) - set(NO_RECORD_EXAMPLE)


def test_every_reconciled_outcome_rule_has_a_first_results_example() -> None:
    reconciled = {r.id for r in RULES.values() if r.reconciled is not None and r.category is C.OUTCOMES}
    assert {ex.rule for ex in EXAMPLES if ex.results_first} >= reconciled


def test_example_ids_are_unique() -> None:
    ids = [ex.id for ex in EXAMPLES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- results reconciliation


def test_a_primary_measure_redefined_with_the_first_results_is_not_lowered() -> None:
    # outcome.primary.redefined has no reconciled severity: still critical, no context
    old, new = fixture(CF), fixture(CF)
    without_results(old)
    outcome(old, "primary", "BMI").update(measure="Change from baseline in BMI")
    outcome(new, "primary", "BMI").update(measure="Change from baseline in waist circumference")
    c = [c for c in diff_records(old, new) if c.rule == "outcome.primary.redefined"]
    assert [(x.severity, x.context) for x in c] == [(S.CRITICAL, None)]


def test_a_primary_time_point_changed_with_the_first_results_is_not_lowered() -> None:
    # 1 year -> 2 years is a different time point even as the results are posted (issue 15)
    old, new = fixture(CF), fixture(CF)
    without_results(old)
    outcome(old, "primary", "BMI").update(timeFrame="1 year")
    (c,) = [c for c in diff_records(old, new) if c.category is C.OUTCOMES]
    assert (c.rule, c.severity, c.context, c.element) == ("outcome.primary.timeframe_changed", S.MAJOR, None, "timepoint")
    assert c.summary == ("Primary outcome time point changed (time point 1 year -> 2 years): "
                         "Primary outcome time frame (BMI): 1 year -> 2 year/end of study")


def test_outcome_edit_once_results_are_already_posted_is_not_reconciled() -> None:
    old, new = fixture(CF), fixture(CF)
    outcome(old, "secondary", "Glucose Tolerance").update(timeFrame="1 year")
    (c,) = diff_records(old, new)
    assert (c.rule, c.severity, c.context) == ("outcome.timeframe_changed", S.MINOR, None)


def test_results_first_post_date_alone_marks_the_first_results_version() -> None:
    # hasResults already true in both versions; the results first post date appears
    old, new = fixture(CF), fixture(CF)
    ps(old, "statusModule").pop("resultsFirstPostDateStruct")
    outcome(old, "secondary", "Glucose Tolerance").update(timeFrame="1 year")
    changes = diff_records(old, new)
    by_rule = {c.rule: c for c in changes}
    assert set(by_rule) == {"results.first_posted", "outcome.timeframe_changed"}, _show(changes)
    assert by_rule["results.first_posted"].summary == "Results first posted 2017-06-05"
    lowered = by_rule["outcome.timeframe_changed"]
    assert (lowered.severity, lowered.context) == (S.ADMIN, RESULTS_RECONCILIATION)


def test_an_edit_between_results_submission_and_posting_is_results_preparation() -> None:
    # resultsFirstSubmitDate anchors the window: the version submitted after the results
    # were, before they are posted, is reconciled too (issue 15 item 4)
    old, new = fixture(CF), fixture(CF)
    for rec in (old, new):
        without_results(rec)
    status = ps(new, "statusModule")
    status["resultsFirstSubmitDate"] = "2016-07-11"
    status["lastUpdateSubmitDate"] = "2016-08-01"
    outcome(old, "secondary", "Glucose Tolerance").update(timeFrame="1 year")
    (c,) = [c for c in diff_records(old, new) if c.category is C.OUTCOMES]
    assert (c.rule, c.severity, c.context) == ("outcome.timeframe_changed", S.ADMIN, RESULTS_RECONCILIATION)


def test_reconciliation_only_touches_outcomes() -> None:
    # an enrollment cut in the first-results version keeps its severity
    old, new = fixture(CF), fixture(CF)
    without_results(old)
    ps(old, "statusModule")["overallStatus"] = new["protocolSection"]["statusModule"]["overallStatus"] = ANR
    enrollment(new, count=10)
    (c,) = [c for c in diff_records(old, new) if c.category == C.ENROLLMENT]
    assert (c.rule, c.severity, c.context) == ("enrollment.reduction.large", S.MAJOR, None)


# --------------------------------------------------------------------------- dates and statuses


@pytest.mark.parametrize("bad", [
    "2027-02-30", "2027-13", "2027-04-31", "soon",
    "2027-00-10", "2027-06-00", "2027-00",
])
def test_impossible_primary_completion_date_is_unreadable_not_a_slip(bad: str) -> None:
    old, new = fixture(CKD), fixture(CKD)
    date_of(new, "primaryCompletionDateStruct", date=bad)
    (c,) = diff_records(old, new)
    assert (c.rule, c.severity, c.category) == ("dates.unreadable", S.MINOR, C.DATES)
    assert (c.delta_days, c.delta_months) == (None, None)
    assert c.summary == f"Primary completion date: 2027-06-30 -> {bad} (ESTIMATED): not a valid date"


def test_impossible_date_corrected_to_a_real_one_is_unreadable_too() -> None:
    old, new = fixture(CKD), fixture(CKD)
    date_of(old, "primaryCompletionDateStruct", date="2027-02-30")
    date_of(new, "primaryCompletionDateStruct", date="2027-02-28")
    (c,) = diff_records(old, new)
    assert (c.rule, c.delta_days) == ("dates.unreadable", None)


@pytest.mark.parametrize("malformed", [{"value": "RECRUITING"}, ["RECRUITING"]], ids=["dict", "list"])
@pytest.mark.parametrize("side", ["old", "new"])
def test_malformed_overall_status_is_status_other_not_a_crash(malformed: Any, side: str) -> None:
    old, new = fixture(CKD), fixture(CKD)
    status(old if side == "old" else new, overallStatus=malformed)
    enrollment(new, count=20)  # the stage falls back to the default when the old status is not a string
    changes = diff_records(old, new)
    (c,) = [c for c in changes if c.category == C.STATUS]
    assert (c.rule, c.severity) == ("status.other", S.MINOR)
    assert c.summary.startswith("Overall status: ")
    (e,) = [c for c in changes if c.category == C.ENROLLMENT]
    expected = "enrollment.reduction.large" if side == "old" else "enrollment.reduction.pre_recruitment"
    assert e.rule == expected


def test_the_stage_comes_from_the_old_record() -> None:
    # recruiting -> not yet recruiting, with an eligibility edit: judged as recruiting
    old, new = fixture(CKD), fixture(CKD)
    status(old, overallStatus=REC)
    ps(new, "eligibilityModule").update(minimumAge="40 Years")
    rules_fired = {c.rule for c in diff_records(old, new)}
    assert "eligibility.population_shift" in rules_fired
    assert "eligibility.pre_recruitment" not in rules_fired


# --------------------------------------------------------------------------- static: classify.py


CLASSIFY_TREE = ast.parse(Path(regsync.classify.__file__).read_text(encoding="utf-8"))
FUNCTIONS = {f.name: f for f in CLASSIFY_TREE.body if isinstance(f, ast.FunctionDef)}
RULE_PREFIXES = {r.split(".")[0] for r in RULES}


def _rule_like_constants() -> set[str]:
    """Every string constant in classify.py that looks like a rule id of a known family."""
    return {
        n.value for n in ast.walk(CLASSIFY_TREE)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
        and RULE_ID.match(n.value) and n.value.split(".")[0] in RULE_PREFIXES
    }


def _calls_to(name: str) -> Iterator[tuple[ast.Call, ast.FunctionDef]]:
    for func in FUNCTIONS.values():
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                yield node, func


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    if index < len(call.args):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _rule_ids(expr: ast.expr, func: ast.FunctionDef, seen: frozenset[str] = frozenset()) -> set[str]:
    """Every string ``expr`` can evaluate to, following conditionals, local assignments,
    parameters (through the function's call sites) and calls of module functions (their
    returns); anything else fails, so no rule id can reach Hit() unchecked."""
    where = f"classify.py:{expr.lineno} {ast.unparse(expr)!r}"
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return _rule_ids(expr.body, func, seen) | _rule_ids(expr.orelse, func, seen)
    if isinstance(expr, ast.Name):
        assigned = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)]
        if assigned:
            return set().union(*(_rule_ids(v, func, seen) for v in assigned))
        params = [a.arg for a in func.args.posonlyargs + func.args.args]
        if expr.id in params and func.name not in seen:
            index = params.index(expr.id)
            args = [(_argument(call, index, expr.id), caller) for call, caller in _calls_to(func.name)]
            assert args and all(a is not None for a, _ in args), f"{where}: unresolved call sites"
            inner = seen | {func.name}
            return set().union(*(_rule_ids(a, caller, inner) for a, caller in args if a is not None))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in FUNCTIONS:
        callee = FUNCTIONS[expr.func.id]
        returns = [n.value for n in ast.walk(callee) if isinstance(n, ast.Return) and n.value is not None]
        assert returns, f"{where}: returns nothing"
        return set().union(*(_rule_ids(r, callee, seen) for r in returns))
    raise AssertionError(f"{where}: cannot tell which rule ids this can be")


def _hit_rule_ids() -> set[str]:
    hits = list(_calls_to("Hit"))
    every_hit = [n for n in ast.walk(CLASSIFY_TREE)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Hit"]
    assert len(hits) == len(every_hit), "a Hit(...) outside a module-level function"
    assert len(hits) > 50
    ids: set[str] = set()
    for call, func in hits:
        first = _argument(call, 0, "rule")
        assert first is not None, f"classify.py:{call.lineno}: Hit() without a rule"
        ids |= _rule_ids(first, func)
    return ids


def test_every_rule_id_classify_can_hit_is_in_the_table() -> None:
    assert _hit_rule_ids() - set(RULES) == set()


def test_every_rule_like_constant_in_classify_is_in_the_table() -> None:
    assert _rule_like_constants() - set(RULES) == set()


def test_no_dead_rows_every_rule_can_be_hit() -> None:
    assert set(RULES) - _rule_like_constants() == set()
    assert set(RULES) - _hit_rule_ids() == set()


def test_slip_rule_names_only_table_rules() -> None:
    returned = _rule_ids(ast.parse("_slip_rule(0, 'pre')", mode="eval").body, FUNCTIONS["_slip_rule"])
    assert returned == {"dates.earlier", "dates.slip.late_large", "dates.slip.early_very_large",
                        "dates.slip.moderate"}


def test_the_static_check_sees_a_misspelt_id() -> None:
    # the resolver itself: a misspelt id in a conditional is found, not skipped
    tree = ast.parse("def f(x):\n    return Hit('outcomes.wording' if x else 'outcome.wording', '')\n")
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    call = next(n for n in ast.walk(func) if isinstance(n, ast.Call))
    assert _rule_ids(call.args[0], func) - set(RULES) == {"outcomes.wording"}


# --------------------------------------------------------------------------- the table's consistency


def test_reconciled_severity_is_never_more_severe() -> None:
    for r in RULES.values():
        if r.reconciled is not None:
            assert r.reconciled.rank >= r.severity.rank, r.id


def test_only_outcome_and_text_rules_are_reconciled() -> None:
    for r in RULES.values():
        if r.reconciled is not None:
            assert r.category is C.OUTCOMES or r.id.startswith("text."), r.id


def test_milestones_are_never_admin() -> None:
    milestones = [r for r in RULES.values() if r.milestone]
    assert milestones
    assert all(r.severity is not S.ADMIN for r in milestones), [r.id for r in milestones]


def test_ids_are_unique_dotted_and_keyed_by_themselves() -> None:
    ids = [r.id for r in rules._TABLE]
    assert len(ids) == len(set(ids)) == len(RULES)
    for rule_id, r in RULES.items():
        assert rule_id == r.id
        assert RULE_ID.match(rule_id), rule_id
        assert isinstance(r.severity, Severity)
        assert r.category is None or isinstance(r.category, Category)
        assert r.description.strip()


def test_only_text_whole_module_and_unjudged_rules_apply_in_any_category() -> None:
    assert {r.id for r in RULES.values() if r.category is None} == {
        "text.whitespace", "text.formatting", "module.lost", "module.lost.other", "module.restored",
        "change.unjudged",
    }


def test_rule_looks_up_and_an_unknown_id_fails_loudly() -> None:
    assert rule("outcome.wording") is RULES["outcome.wording"]
    with pytest.raises(UnknownRule, match="nope"):
        rule("nope")
    assert issubclass(UnknownRule, LookupError)
