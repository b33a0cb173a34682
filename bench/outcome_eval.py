"""Outcome changes judged against a labelled set, the way outcome-switching raters judge them.

The set (bench/data/outcomes/cases.json, written by bench/data/outcomes/make_cases.py, which
states where its examples came from) pairs primary-outcome lists before and after one edit,
each labelled with the raters' level and the element that changed (Holst et al., PLOS
Medicine 2023; COMPare):

    major  - a primary outcome new, omitted, moved to/from secondary, or its measure replaced
    change - its measurement, metric, aggregation or time point changed
    minor  - detail added or omitted
    none   - wording only

regsync's level is the most severe outcome change it reports, mapped as issue 15 asks:
critical -> major, major -> change, minor -> minor, admin or nothing -> none.  Reported per
tier, as issue 21 states its targets: minor and above against any change (label not
"none"), major and above against a switch or a changed element (label major or change),
critical against a switch (label major); precision and recall for each, on all cases and on
the cases written for issue 21 (``h21-*``); exact 4-level agreement; and per element: how
often the level agrees and, where regsync names the element (``"element"`` in a change's
JSON; otherwise inferred from its rule), element precision and recall.  A case the
classifier crashes on is counted as "none" and listed.

Usage: python bench/outcome_eval.py [--details]
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from regsync.classify import diff_records  # noqa: E402
from regsync.model import Category  # noqa: E402

CASES = os.path.join(os.path.dirname(__file__), "data", "outcomes", "cases.json")
LEVEL = {"critical": "major", "major": "change", "minor": "minor", "admin": "none"}
LEVELS = ("major", "change", "minor", "none")
RANK = {"critical": 0, "major": 1, "minor": 2, "admin": 3}
# Where a change does not name its element, its rule does.
RULE_ELEMENT = (
    ("primary.added", "new"), ("primary.removed", "omitted"), ("demoted", "switched"),
    ("promoted", "switched"), ("redefined", "domain"), ("timeframe", "timepoint"),
    ("description", "detail"), ("wording", "wording"), ("formatting", "wording"),
)


def record(side: dict[str, list[dict[str, Any]]], stage: str, after: bool) -> dict[str, Any]:
    status: dict[str, Any] = {
        "overallStatus": "COMPLETED" if stage == "results" else "RECRUITING",
        "startDateStruct": {"date": "2024-01-15", "type": "ACTUAL"},
        "primaryCompletionDateStruct": {"date": "2026-06-30", "type": "ESTIMATED"},
    }
    rec: dict[str, Any] = {"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001"},
        "statusModule": status,
        "outcomesModule": {"primaryOutcomes": side["primary"]},
    }, "hasResults": False}
    if side["secondary"]:
        rec["protocolSection"]["outcomesModule"]["secondaryOutcomes"] = side["secondary"]
    if stage == "results" and after:
        rec["hasResults"] = True
        status["resultsFirstSubmitDate"] = "2026-11-02"
        status["resultsFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    return rec


def element_of(change: dict[str, Any]) -> str:
    if change.get("element"):
        return str(change["element"])
    for needle, element in RULE_ELEMENT:
        if needle in change["rule"]:
            return element
    return "other"


def judge(case: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
    before = record(case["before"], case["stage"], after=False)
    after = record(case["after"], case["stage"], after=True)
    changes = [c.to_dict() for c in diff_records(before, after) if c.category is Category.OUTCOMES]
    if not changes:
        return "none", None, []
    top = min(changes, key=lambda c: RANK[c["severity"]])
    level = LEVEL[top["severity"]]
    return level, (element_of(top) if level != "none" else None), changes


def ratio(num: int, den: int) -> str:
    return f"{num / den:.2f} ({num}/{den})" if den else "n/a"


def main(argv: list[str]) -> int:
    details = "--details" in argv
    cases = json.load(open(CASES))["cases"]
    rows = []
    crashed = []
    for c in cases:
        try:
            rows.append((c, *judge(c)))
        except Exception as e:  # a crash is a finding of this bench, not the end of it
            crashed.append(f"{c['id']} ({type(e).__name__}: {e})")
            rows.append((c, "none", None, []))

    def pr(pos_label, pos_ours, only=lambda c: True) -> tuple[str, str]:
        some = [(c, lvl) for c, lvl, _, _ in rows if only(c)]
        tp = sum(1 for c, lvl in some if pos_label(c) and pos_ours(lvl))
        fp = sum(1 for c, lvl in some if not pos_label(c) and pos_ours(lvl))
        fn = sum(1 for c, lvl in some if pos_label(c) and not pos_ours(lvl))
        return ratio(tp, tp + fp), ratio(tp, tp + fn)

    print(f"{'case':22} {'pattern':12} {'label':7} {'element':12} {'ours':7} {'element':10} rule")
    for c, lvl, el, changes in rows:
        mark = "" if lvl == c["label"] else "  *"
        top = min(changes, key=lambda x: RANK[x["severity"]])["rule"] if changes else "-"
        print(f"{c['id']:22} {c['pattern']:12} {c['label']:7} {c['element']:12} {lvl:7} {str(el or '-'):10} {top}{mark}")
        if details:
            for ch in changes:
                print(f"      {ch['severity']:8} {ch['rule']:38} {ch['summary'][:100]}")

    n = len(rows)
    tiers = (
        ("minor+ vs any change", ("major", "change", "minor")),
        ("major+ vs switch/element", ("major", "change")),
        ("critical vs switch", ("major",)),
    )
    print()
    print(f"n = {n} cases ({sum(1 for c in cases if c['id'].startswith('h21-'))} written for issue 21)")
    for name, levels in tiers:
        p_all, r_all = pr(lambda c, lv=levels: c["label"] in lv, lambda lvl, lv=levels: lvl in lv)
        p_21, r_21 = pr(lambda c, lv=levels: c["label"] in lv and c["id"].startswith("h21-"),
                        lambda lvl, lv=levels: lvl in lv, only=lambda c: c["id"].startswith("h21-"))
        print(f"{name:26} precision {p_all:16} recall {r_all:16} | h21 precision {p_21:14} recall {r_21}")
    exact = sum(1 for c, lvl, _, _ in rows if lvl == c["label"])
    print(f"4-level agreement  {ratio(exact, n)}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
    print()
    print(f"{'element':12} {'n':>3}  {'level agrees':14} {'element precision':18} {'element recall':14}")
    by_label: dict[str, list] = defaultdict(list)
    for row in rows:
        by_label[row[0]["element"]].append(row)
    named = Counter(el for _, _, el, _ in rows if el)
    for element in sorted(by_label):
        group = by_label[element]
        agree = sum(1 for c, lvl, _, _ in group if lvl == c["label"])
        hit = sum(1 for c, _, el, _ in group if el == element)
        tp_any = sum(1 for c, _, el, _ in rows if el == element and c["element"] == element)
        if element == "wording":  # wording is judged "no change": nothing to name
            print(f"{element:12} {len(group):>3}  {ratio(agree, len(group)):14}")
            continue
        print(f"{element:12} {len(group):>3}  {ratio(agree, len(group)):14} {ratio(tp_any, named[element]):18} {ratio(hit, len(group)):14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
