"""Property tests: identity, reorder-invariance of keyed/set lists, determinism."""
from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regsync.classify import diff_records
from regsync.model import Category, Kind, Severity
from support.records import load

SMALL = ["NCT07240987", "NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568"]
RECORDS = {n: load(n) for n in SMALL + ["NCT02513394"]}

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# every list regsync matches by key or as a set
KEYED_LISTS = [
    ("armsInterventionsModule", "armGroups"), ("armsInterventionsModule", "interventions"),
    ("outcomesModule", "primaryOutcomes"), ("outcomesModule", "secondaryOutcomes"),
    ("outcomesModule", "otherOutcomes"), ("contactsLocationsModule", "locations"),
    ("contactsLocationsModule", "centralContacts"), ("contactsLocationsModule", "overallOfficials"),
    ("sponsorCollaboratorsModule", "collaborators"), ("referencesModule", "references"),
    ("identificationModule", "secondaryIdInfos"), ("conditionsModule", "conditions"),
    ("conditionsModule", "keywords"), ("designModule", "phases"), ("eligibilityModule", "stdAges"),
]
NESTED = {"armGroups": "interventionNames", "interventions": "armGroupLabels", "locations": "contacts"}


def reorder(rec: dict, rnd) -> dict:
    out = copy.deepcopy(rec)
    ps = out["protocolSection"]
    for mod, name in KEYED_LISTS:
        lst = ps.get(mod, {}).get(name)
        if isinstance(lst, list):
            rnd.shuffle(lst)
            sub = NESTED.get(name)
            for item in lst:
                if sub and isinstance(item, dict) and isinstance(item.get(sub), list):
                    rnd.shuffle(item[sub])
    docs = out.get("documentSection", {}).get("largeDocumentModule", {}).get("largeDocs")
    if isinstance(docs, list):
        rnd.shuffle(docs)
    return out


@given(st.sampled_from(SMALL + ["NCT02513394"]))
@SETTINGS
def test_diff_with_itself_is_empty(nct):
    assert diff_records(RECORDS[nct], load(nct)) == []


@given(st.sampled_from(SMALL), st.randoms(use_true_random=False))
@SETTINGS
def test_reordering_keyed_and_set_lists_is_no_change(nct, rnd):
    a = RECORDS[nct]
    assert diff_records(a, reorder(a, rnd)) == []


def _edit(rec: dict, op: str, n: int) -> None:
    ps = rec["protocolSection"]
    if op == "status":
        ps["statusModule"]["overallStatus"] = ["RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED",
                                               "TERMINATED", "SUSPENDED"][n % 5]
    elif op == "pcd":
        ps["statusModule"]["primaryCompletionDateStruct"] = {"date": f"{2020 + n % 9}-0{1 + n % 9}",
                                                             "type": "ESTIMATED"}
    elif op == "enrollment":
        ps["designModule"]["enrollmentInfo"] = {"count": n * 7 % 500, "type": "ACTUAL"}
    elif op == "drop_arm" and ps.get("armsInterventionsModule", {}).get("armGroups"):
        arms = ps["armsInterventionsModule"]["armGroups"]
        arms.pop(n % len(arms))
    elif op == "relabel_outcome" and ps.get("outcomesModule", {}).get("primaryOutcomes"):
        po = ps["outcomesModule"]["primaryOutcomes"]
        po[n % len(po)]["measure"] += f" (v{n})"
    elif op == "criteria":
        em = ps["eligibilityModule"]
        em["eligibilityCriteria"] = em.get("eligibilityCriteria", "") + f"\n* Age >= {n}"
    elif op == "whitespace":
        dm = ps["descriptionModule"]
        dm["briefSummary"] = "  " + dm["briefSummary"].replace(" ", "  ") + "\n"
    elif op == "site" and ps.get("contactsLocationsModule", {}).get("locations"):
        ps["contactsLocationsModule"]["locations"].append({"facility": f"Site {n}", "city": "X", "country": "Y"})
    elif op == "results":
        rec["hasResults"] = not rec.get("hasResults")


EDITS = st.lists(st.tuples(st.sampled_from(["status", "pcd", "enrollment", "drop_arm", "relabel_outcome",
                                            "criteria", "whitespace", "site", "results"]),
                           st.integers(0, 1000)), min_size=1, max_size=4)


@given(st.sampled_from(SMALL), EDITS, st.randoms(use_true_random=False))
@SETTINGS
def test_classification_is_deterministic_and_well_formed(nct, edits, rnd):
    a = RECORDS[nct]
    b = copy.deepcopy(a)
    for op, n in edits:
        _edit(b, op, n)
    first = diff_records(a, b)
    # same input -> same output, also with reordered keyed lists and a re-parsed copy
    assert diff_records(a, b) == first
    assert diff_records(json.loads(json.dumps(a)), json.loads(json.dumps(b))) == first
    # (old/new of a changed item may list its members in the reordered order)
    def shape(ch):
        return [(c.category, c.severity, c.kind, c.path, c.rule, c.milestone, c.context) for c in ch]
    assert shape(diff_records(reorder(a, rnd), b)) == shape(first)
    for c in first:
        assert isinstance(c.severity, Severity) and isinstance(c.category, Category) and isinstance(c.kind, Kind)
        assert c.rule and c.summary and "\n" not in c.summary
        json.dumps(c.to_dict())
    ranks = [(c.severity.rank, c.category.rank, c.path) for c in first]
    assert ranks == sorted(ranks)


@given(st.sampled_from(SMALL), st.integers(1, 4))
@SETTINGS
def test_whitespace_only_text_edits_are_admin(nct, k):
    a = RECORDS[nct]
    b = copy.deepcopy(a)
    ps = b["protocolSection"]
    for mod, fld in (("descriptionModule", "briefSummary"), ("eligibilityModule", "eligibilityCriteria"),
                     ("descriptionModule", "detailedDescription")):
        v = ps.get(mod, {}).get(fld)
        if isinstance(v, str):
            ps[mod][fld] = v.replace(" ", " " * (k + 1), 3) + "\n" * k
    ch = diff_records(a, b)
    assert ch and all(c.severity == "admin" and c.rule == "text.whitespace" for c in ch)
