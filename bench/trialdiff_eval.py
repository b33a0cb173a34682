"""Run regsync's classifier over the TrialDiff calibration set and measure agreement.

Each pair in bench/data/trialdiff/ holds only the registry's JSON Patch (with the old
value of each changed path) and the FROM version's statusModule.  We rebuild minimal
before/after records: a skeleton with the FROM statusModule, the old values placed at
the patch paths (list indices translated back to the FROM version's positions), and
"after" = the patch applied to "before" with JSON Patch semantics.  List items the patch
only reaches into get a neutral placeholder field so they keep their identity.

The pair's severity is the max severity of its changes.  Agreement is computed on the
binary "ours in {critical, major}" vs "reviewer in {critical, high}", as percent and
Cohen's kappa, beside the reviewers' agreement with each other.

Usage: python bench/trialdiff_eval.py [--details] [--markdown]
"""
from __future__ import annotations

import copy
import glob
import json
import os
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from regsync.classify import diff_records  # noqa: E402
from regsync.model import Severity  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data", "trialdiff")
REV_LEVELS = ("critical", "high", "medium", "low")


def _missing(v):
    return isinstance(v, dict) and v.get("__missing__") is True and len(v) == 1


def _segs(pointer: str) -> list[str]:
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]


def _placeholder(i: int, scalar: bool):
    return f"_ctx{i}" if scalar else {"_ctx": i}


def _set(doc, segs, value, scalar_leaf):
    cur = doc
    for n, s in enumerate(segs):
        last = n == len(segs) - 1
        nxt = None if last else segs[n + 1]
        if isinstance(cur, list):
            i = int(s)
            while len(cur) <= i:
                cur.append(_placeholder(len(cur), scalar_leaf and last))
            if last:
                cur[i] = value
            else:
                if not isinstance(cur[i], (dict, list)):
                    cur[i] = [] if nxt.isdigit() else {"_ctx": i}
                cur = cur[i]
        else:
            if last:
                cur[s] = value
            else:
                if s not in cur or not isinstance(cur[s], (dict, list)):
                    cur[s] = [] if nxt.isdigit() else {}
                cur = cur[s]


def _ensure(doc, segs):
    cur = doc
    for n, s in enumerate(segs):
        nxt_is_index = n + 1 < len(segs) and segs[n + 1].isdigit()
        if isinstance(cur, list):
            i = int(s)
            while len(cur) <= i:
                cur.append({"_ctx": len(cur)})
            if not isinstance(cur[i], (dict, list)):
                return
            cur = cur[i]
        elif isinstance(cur, dict):
            if s not in cur:
                cur[s] = [] if nxt_is_index else {}
            cur = cur[s]
        else:
            return


def _apply(doc, op):
    segs = _segs(op["path"])
    new = op.get("new_value")
    cur = doc
    for n, s in enumerate(segs[:-1]):
        nxt_is_index = segs[n + 1].isdigit()
        if isinstance(cur, list):
            i = int(s)
            while len(cur) <= i:
                cur.append({"_ctx": len(cur)})
            cur = cur[i]
        else:
            cur = cur.setdefault(s, [] if nxt_is_index else {})
    last = segs[-1]
    kind = op["op"]
    if isinstance(cur, list):
        i = int(last) if last != "-" else len(cur)
        if kind == "add":
            cur.insert(min(i, len(cur)), new)
        elif kind == "remove":
            if i < len(cur):
                cur.pop(i)
        else:
            while len(cur) <= i:
                cur.append({"_ctx": len(cur)})
            cur[i] = new
    else:
        if kind == "remove":
            cur.pop(last, None)
        else:
            cur[last] = new


def reconstruct(pair: dict) -> tuple[dict, dict]:
    sm = copy.deepcopy(pair["from_status_module"]["status_module"])
    before: dict = {"protocolSection": {"statusModule": sm}}
    # translate list indices of each op back to FROM-version positions
    shifts: dict[str, list[tuple[int, int]]] = defaultdict(list)  # list pointer -> (index, +1/-1)
    placed = []
    for op in pair["patch"]:
        segs = _segs(op["path"])
        orig = list(segs)
        for n, s in enumerate(segs):
            if s.isdigit():
                lp = "/".join(segs[:n])
                i = int(s)
                j = i
                for (k, d) in shifts[lp]:
                    if d < 0 and k <= i:  # earlier removal at or before: item was further right
                        j += 1
                    elif d > 0 and k < i:  # earlier insertion before it
                        j -= 1
                orig[n] = str(j)
        if not _missing(op.get("old_value")):
            placed.append((orig, op["old_value"]))
        elif len(orig) > 1:
            placed.append((orig[:-1], None))  # make the containers exist on both sides
        if segs and segs[-1].isdigit():
            lp = "/".join(segs[:-1])
            if op["op"] == "remove":
                shifts[lp].append((int(segs[-1]), -1))
            elif op["op"] == "add":
                shifts[lp].append((int(segs[-1]), +1))
    for orig, val in placed:
        if val is None:
            _ensure(before, orig)
        else:
            _set(before, orig, copy.deepcopy(val), not isinstance(val, (dict, list)))
    after = copy.deepcopy(before)
    for op in pair["patch"]:
        try:
            _apply(after, op)
        except (IndexError, ValueError, AttributeError, TypeError):
            _set(after, _segs(op["path"]), op.get("new_value"), True)
    return before, after


def max_severity(changes) -> str:
    if not changes:
        return "admin"
    return min((c.severity for c in changes), key=lambda s: s.rank)


def kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def main(argv: list[str]) -> int:
    details = "--details" in argv
    rows = []
    for f in sorted(glob.glob(os.path.join(DATA, "*.json"))):
        pair = json.load(open(f))
        before, after = reconstruct(pair)
        ch = diff_records(before, after)
        ours = max_severity(ch)
        lab = pair["labels"]
        r1 = lab["reviewer_1"]["assigned_priority"]
        r2 = lab["reviewer_2"]["assigned_priority"]
        top = [c for c in ch if c.severity == ours]
        rows.append((os.path.basename(f), ours, r1, r2, pair["from_status_module"]["status_module"].get("overallStatus"), top, ch))

    print(f"{'pair':28} {'from':22} {'ours':8} {'r1':8} {'r2':8}  driving rule(s)")
    for name, ours, r1, r2, st, top, ch in rows:
        flag = "" if ((ours in ("critical", "major")) == (r1 in ("critical", "high")) == (r2 in ("critical", "high"))) else "  *"
        rules = ",".join(sorted({c.rule for c in top}))[:70]
        print(f"{name:28} {str(st):22} {ours:8} {r1:8} {r2:8}  {rules}{flag}")
        if details:
            for c in ch:
                if c.severity != "admin":
                    print(f"      {c.severity:8} {c.rule:40} {c.summary[:110]}")
    us = [r[1] in ("critical", "major") for r in rows]
    b1 = [r[2] in ("critical", "high") for r in rows]
    b2 = [r[3] in ("critical", "high") for r in rows]
    n = len(rows)

    def agree(a, b):
        return 100.0 * sum(x == y for x, y in zip(a, b)) / n

    print()
    print(f"binary agreement (critical/major vs critical/high), n={n}")
    print(f"  ours vs reviewer_1      : {agree(us, b1):5.1f}%  kappa {kappa(us, b1):.3f}")
    print(f"  ours vs reviewer_2      : {agree(us, b2):5.1f}%  kappa {kappa(us, b2):.3f}")
    print(f"  reviewer_1 vs reviewer_2: {agree(b1, b2):5.1f}%  kappa {kappa(b1, b2):.3f}")
    for ri, rname in ((2, "reviewer_1"), (3, "reviewer_2")):
        print()
        print(f"4-level confusion: ours (rows) x {rname} (columns)")
        cnt = Counter((r[1], r[ri]) for r in rows)
        print(f"  {'':9}" + "".join(f"{c:>9}" for c in REV_LEVELS))
        for s in Severity:
            print(f"  {s:9}" + "".join(f"{cnt.get((s, c), 0):>9}" for c in REV_LEVELS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
