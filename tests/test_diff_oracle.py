"""deepdiff as an independent oracle for the keyed diff.

regsync's diff is hand-written for speed and for change-level granularity (see the
docstring of regsync/diff.py), so it is checked here against deepdiff, which knows nothing
of regsync's keys: a single leaf edit anywhere in a real record must be reported by both,
and where deepdiff (ignoring list order) sees nothing, regsync must report nothing.
"""

from __future__ import annotations

import copy

from deepdiff import DeepDiff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regsync.classify import diff_records
from support.records import load

RECORDS = {n: load(n) for n in ["NCT07240987", "NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568"]}


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, path + (i,))
    else:
        yield path, node


LEAVES = {
    nct: [(p, v) for p, v in _leaves(rec) if p and p[0] != "derivedSection"]
    for nct, rec in RECORDS.items()
}


def _set(record, path, value):
    node = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _edited(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    if isinstance(value, str):
        return value + " (amended)"
    return "amended"


@given(st.sampled_from(sorted(RECORDS)), st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_leaf_edit_deepdiff_sees_is_reported(nct, data):
    path, value = data.draw(st.sampled_from(LEAVES[nct]))
    old = RECORDS[nct]
    new = copy.deepcopy(old)
    _set(new, path, _edited(value))
    assert DeepDiff(old, new, ignore_order=True), path
    changes = diff_records(old, new)
    assert changes, f"an edit at {path} went unreported"


@given(st.sampled_from(sorted(RECORDS)), st.randoms(use_true_random=False))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_change_where_deepdiff_ignoring_order_sees_none(nct, rnd):
    old = RECORDS[nct]
    new = copy.deepcopy(old)
    locations = new["protocolSection"].get("contactsLocationsModule", {}).get("locations")
    if locations:
        rnd.shuffle(locations)
    conditions = new["protocolSection"]["conditionsModule"]["conditions"]
    rnd.shuffle(conditions)
    assert not DeepDiff(old, new, ignore_order=True)
    assert diff_records(old, new) == []
