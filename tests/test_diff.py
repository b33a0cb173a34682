"""Structural diff guarantees: keyed matching, paths, kinds, renames, moves, API shape."""
from __future__ import annotations

import random

import pytest

from regsync.classify import diff_records
from regsync.model import Category, Change, Kind, Severity, summarize
from regsync.text import word_diff
from support.diffhelpers import AI, CL, OM, SM, load, one, pair, ps

ALL = ["NCT07240987", "NCT00763412", "NCT00973089", "NCT02513394", "NCT06131398", "NCT06171568"]


@pytest.mark.parametrize("nct", ALL)
def test_identical_records_have_no_changes(nct):
    old, new = pair(nct)
    assert diff_records(old, new) == []


def test_vocabularies():
    assert [s.value for s in Severity] == ["critical", "major", "minor", "admin"]
    assert [k.value for k in Kind] == ["added", "removed", "changed", "renamed", "moved"]
    categories = list(Category)
    assert categories[0] == "status" and categories[-1] == "admin" and len(categories) == 22  # + obligations (issue 13), registry (issue 23)


# --------------------------------------------------------------------------- keyed lists

def test_arm_inserted_before_four_existing_is_one_added_arm():
    old, new = pair("NCT07240987")
    arms = ps(new, "armsInterventionsModule")["armGroups"]
    assert len(arms) == 4
    arms.insert(0, {"label": "CKD-other", "type": "EXPERIMENTAL",
                    "description": "Allogeneic MSCs 1.0x10^6 cells/kg.", "interventionNames": ["Drug: MSCs"]})
    c = one(diff_records(old, new))
    assert (c.category, c.severity, c.kind, c.rule) == ("arms", "major", "added", "arms.added")
    assert c.path == f"{AI}.armGroups[label=CKD-other]"
    assert c.summary == "Arm added: CKD-other (EXPERIMENTAL)"
    assert c.old is None and c.new["label"] == "CKD-other"
    assert c.milestone is False


def test_437_sites_shuffled_and_one_removed_is_one_change():
    old, new = pair("NCT02513394")
    locs = ps(new, "contactsLocationsModule")["locations"]
    assert len(locs) == 437
    random.Random(7).shuffle(locs)
    gone = locs.pop(100)
    c = one(diff_records(old, new))
    assert (c.category, c.severity, c.kind, c.rule) == ("locations", "minor", "removed",
                                                        "locations.site_removed")
    assert c.path == (f"{CL}.locations[facility={gone['facility']},city={gone['city']},"
                      f"country={gone['country']}]")
    assert c.summary == f"Site removed: {gone['facility']}, {gone['city']}, {gone['country']}"
    assert c.old == gone and c.new is None


def test_arm_relabel_is_one_rename_and_label_references_follow():
    old, new = pair("NCT07240987")
    ai = ps(new, "armsInterventionsModule")
    ai["armGroups"][1]["label"] = "High dose"
    ai["interventions"][1]["armGroupLabels"] = ["DKD", "High dose"]
    c = one(diff_records(old, new))
    assert (c.category, c.severity, c.kind, c.rule) == ("arms", "minor", "renamed", "arms.renamed")
    assert c.path == f"{AI}.armGroups[label=HN]"
    assert (c.old, c.new) == ("HN", "High dose")
    assert c.summary == "Arm renamed: HN -> High dose"


def test_intervention_rename_carries_arm_intervention_names():
    old, new = pair("NCT07240987")
    ai = ps(new, "armsInterventionsModule")
    ai["interventions"][1]["name"] = "Allogeneic MSCs"
    for arm in ai["armGroups"]:
        arm["interventionNames"] = ["Drug: Allogeneic MSCs" if n == "Drug: MSCs" else n
                                    for n in arm["interventionNames"]]
    c = one(diff_records(old, new))
    assert (c.category, c.kind, c.rule, c.severity) == ("interventions", "renamed",
                                                        "interventions.renamed", "minor")
    assert c.path == f"{AI}.interventions[type=DRUG,name=MSCs]"
    assert c.new == {"type": "DRUG", "name": "Allogeneic MSCs"}
    assert c.summary == "Intervention renamed: DRUG: MSCs -> DRUG: Allogeneic MSCs"


def test_reorder_only_is_no_change():
    old, new = pair("NCT07240987")
    ai = ps(new, "armsInterventionsModule")
    ai["armGroups"].reverse()
    ai["interventions"].reverse()
    for it in ai["interventions"]:
        it["armGroupLabels"].reverse()
    ps(new, "outcomesModule")["secondaryOutcomes"].reverse()
    ps(new, "conditionsModule")["conditions"].reverse()
    ps(new, "designModule")["phases"].reverse()
    ps(new, "eligibilityModule")["stdAges"].reverse()
    new["documentSection"]["largeDocumentModule"]["largeDocs"].reverse()
    assert diff_records(old, new) == []


def test_changed_field_inside_keyed_item_is_addressed_by_key():
    old, new = pair("NCT07240987")
    ps(new, "armsInterventionsModule")["armGroups"][1]["description"] += " Infused over 2 hours."
    c = one(diff_records(old, new))
    assert c.kind == "changed"
    assert c.path == f"{AI}.armGroups[label=HN].description"
    # numbers changed (a duration was added): a regimen change
    assert (c.category, c.severity, c.rule) == ("arms", "major", "arms.dose_changed")


def test_set_members_are_addressed_by_value():
    old, new = pair("NCT07240987")
    ps(new, "conditionsModule")["conditions"].append("Diabetes")
    c = one(diff_records(old, new))
    assert c.path == "protocolSection.conditionsModule.conditions[Diabetes]"
    assert (c.kind, c.old, c.new) == ("added", None, "Diabetes")


def test_key_values_are_escaped_in_paths():
    old, new = pair("NCT07240987")
    ps(new, "contactsLocationsModule")["locations"].append(
        {"facility": "Renal Unit, Ward 3", "city": "Xi'an", "country": "China"})
    c = one(diff_records(old, new))
    assert c.path == f"{CL}.locations[facility=Renal Unit\\, Ward 3,city=Xi'an,country=China]"


def test_duplicate_keys_are_numbered_and_reorder_is_no_change():
    old, new = pair("NCT07240987")
    cl = ps(old, "contactsLocationsModule")
    cl["centralContacts"] = [{"name": "REDACTED", "role": "CONTACT", "phone": "1"},
                             {"name": "REDACTED", "role": "CONTACT", "phone": "2"}]
    new = load("NCT07240987")
    ps(new, "contactsLocationsModule")["centralContacts"] = list(reversed(cl["centralContacts"]))
    assert diff_records(old, new) == []
    ps(new, "contactsLocationsModule")["centralContacts"].append({"name": "REDACTED", "role": "CONTACT"})
    c = one(diff_records(old, new))
    assert c.path == f"{CL}.centralContacts[name=REDACTED#3]"
    assert (c.kind, c.category, c.severity) == ("added", "contacts", "admin")


def test_added_item_is_one_change_not_one_per_field():
    old, new = pair("NCT07240987")
    ps(new, "outcomesModule")["secondaryOutcomes"].append(
        {"measure": "Change in cystatin C", "description": "Serum cystatin C.", "timeFrame": "Baseline to 12 months"})
    c = one(diff_records(old, new))
    assert (c.kind, c.path) == ("added", f"{OM}.secondaryOutcomes[measure=Change in cystatin C]")


def test_date_struct_value_and_type_is_one_change():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["startDateStruct"] = {"date": "2026-01-15", "type": "ACTUAL"}
    c = one(diff_records(old, new))
    assert c.path == f"{SM}.startDateStruct"
    assert c.old == {"date": "2026-01-01", "type": "ESTIMATED"}
    assert c.new == {"date": "2026-01-15", "type": "ACTUAL"}


def test_outcome_moved_between_lists():
    old, new = pair("NCT07240987")
    om = ps(new, "outcomesModule")
    om["secondaryOutcomes"].append(om["primaryOutcomes"].pop(0))
    c = one(diff_records(old, new))
    assert c.kind == "moved"
    assert c.path == f"{OM}.primaryOutcomes[measure=Change in estimated glomerular filtration rate (eGFR)]"
    assert (c.category, c.severity, c.rule) == ("outcomes", "critical", "outcome.primary.demoted")
    assert c.summary == ("Primary outcome demoted to secondary: "
                         "Change in estimated glomerular filtration rate (eGFR)")


def test_removed_module_field_is_removed_kind():
    old, new = pair("NCT00763412")
    del ps(new, "ipdSharingStatementModule")["description"]
    c = one(diff_records(old, new))
    assert (c.kind, c.category, c.path) == ("removed", "ipd",
                                           "protocolSection.ipdSharingStatementModule.description")


# --------------------------------------------------------------------------- API shape

def test_sorted_most_severe_first_then_category_then_path():
    old, new = pair("NCT07240987")
    sm = ps(new, "statusModule")
    sm["lastUpdateSubmitDate"] = "2026-01-05"                                  # admin
    sm["overallStatus"] = "RECRUITING"                                         # minor status
    ps(new, "outcomesModule")["primaryOutcomes"][0]["measure"] = "Serum creatinine"  # critical
    ps(new, "conditionsModule")["conditions"].append("Anaemia")                # minor conditions
    ps(new, "designModule")["phases"] = ["PHASE2"]                             # major design
    ch = diff_records(old, new)
    assert [(c.severity, c.category) for c in ch] == [
        ("critical", "outcomes"), ("major", "design"), ("minor", "status"),
        ("minor", "conditions"), ("admin", "admin")]


def test_to_dict_omits_empty_optionals():
    c = Change(Category.STATUS, Severity.MINOR, Kind.CHANGED, "p", "A", "B", "s", "r")
    assert c.to_dict() == {"category": "status", "severity": "minor", "kind": "changed", "path": "p",
                           "old": "A", "new": "B", "summary": "s", "rule": "r", "milestone": False}
    c2 = Change(Category.DATES, Severity.MINOR, Kind.CHANGED, "p", 1, 2, "s", "r", True,
                "results_reconciliation", 3, None)
    d = c2.to_dict()
    assert d["context"] == "results_reconciliation" and d["delta_days"] == 3
    assert "delta_months" not in d and d["milestone"] is True
    assert Change.from_dict(d) == c2 and Change.from_dict(c.to_dict()) == c


def test_severity_is_an_ordered_type():
    assert Severity.CRITICAL.at_least("major")
    assert Severity.MAJOR.at_least(Severity.MAJOR)
    assert not Severity.MINOR.at_least("major")
    assert Severity.ADMIN.at_least("admin")
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert Severity.max(["minor", "critical", "admin"]) is Severity.CRITICAL
    assert Severity.max([]) is None
    assert Severity.at_or_above("minor") == [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR]
    assert Severity.MAJOR == "major"
    with pytest.raises(ValueError):
        Severity.MINOR.at_least("high")


def test_summary_is_one_source_for_headline_and_json():
    old, new = pair("NCT07240987")
    sm = ps(new, "statusModule")
    sm["overallStatus"] = "RECRUITING"                                  # minor milestone only
    sm["lastUpdatePostDateStruct"] = {"date": "2026-02-01", "type": "ACTUAL"}  # admin
    summary = summarize(diff_records(old, new))
    assert summary.headline() == "status (milestone: RECRUITING)"
    assert summary.to_dict()["categories"] == ["status"]
    assert summary.to_dict()["milestones"] == ["RECRUITING"]
    assert summary.max_severity is Severity.MINOR and summary.protocol_change
    assert summary.admin_count == 1 and len(summary.to_dict()["changes"]) == 1


def test_admin_only_summary_is_no_protocol_change():
    old, new = pair("NCT07240987")
    ps(new, "statusModule")["lastUpdatePostDateStruct"] = {"date": "2026-02-01", "type": "ACTUAL"}
    summary = summarize(diff_records(old, new))
    assert summary.headline() == "no protocol change"
    assert summary.to_dict() == {"categories": [], "milestones": [], "max_severity": None,
                                 "protocol_change": False, "changes": []}
    assert summarize([]).headline() == "reordered only (no content change)"


def test_full_strings_kept_in_old_new_but_summary_truncated():
    old, new = pair("NCT02513394")
    ps(new, "descriptionModule")["briefSummary"] = "Rewritten. " + ps(old, "descriptionModule")["briefSummary"]
    c = one(diff_records(old, new))
    assert c.new == ps(new, "descriptionModule")["briefSummary"] and len(c.new) > 300
    assert len(c.summary) < 200


# --------------------------------------------------------------------------- text diff

def test_render_text_diff_word_level():
    assert word_diff("Age 18 to 65 years", "Age 21 to 65 years") == "Age [-18-] {+21+} to 65 years"
    assert word_diff("same", "same") == "same"
    assert word_diff("a  b", "a b") == "a b"


def test_render_text_diff_elides_long_unchanged_text():
    words = " ".join(f"w{i}" for i in range(200))
    out = word_diff(words + " end", words + " stop")
    assert out.endswith("[-end-] {+stop+}")
    assert "…" in out and len(out) < 200
