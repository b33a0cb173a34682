"""One bad record costs only itself (issue 11 item 1), fuzzed.

Real fixture records have a value at a random path replaced by random JSON of another type
(None, lists, objects, huge integers, floats, deep nesting, odd strings); the mutated record
goes through the store's per-study path (hash, diff, classify, store) beside an ordinary edit
of another study, in both directions (good -> bad, then bad -> good). The store must never
raise, the other study must be stored, and a malformed value must be reported as a change,
never as a failure of the record, up to nesting the JSON writers cannot reach.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regsync.client import FetchedStudy
from regsync.model import StudyStatus
from regsync.store import Store
from support.records import edit, fixture_names, load, nct_id_of

NAMES = fixture_names()
# The study edited normally beside the mutated one: it must be stored whatever the other does.
BYSTANDER = "NCT07240987"
# Nesting up to this deep is hashed, compared and stored; deeper (the registry's parser
# accepts 1024) the record may fail, alone.
WRITABLE_DEPTH = 600


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[Any, ...]]:
    """Every path into a record, lists cut to their first two items (a thousand sites are
    not a thousand different cases)."""
    if depth > 7:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key), depth + 1)
    elif isinstance(value, list):
        for index, child in enumerate(value[:2]):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index), depth + 1)


PATHS = {name: sorted(_paths(load(name)), key=repr) for name in NAMES}


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from([
        "", " ", "\n", "2027-02-30", "2027-13", "0000", "NOT_A_STATUS", "<b>bold</b>", "\u0000",
        "a" * 5000, "[-x-] {+y+}", "label=x,y]#2",
    ])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
odd_values = json_values | st.integers(min_value=250, max_value=WRITABLE_DEPTH).map(_nested)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, dict, list[tuple[tuple[Any, ...], Any]]]:
    name = draw(st.sampled_from(NAMES))
    record = load(name)
    done = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS[name]))
        value = draw(odd_values)
        if _set(record, path, value):  # an earlier mutation may have replaced the path
            done.append((path, value))
    return name, record, done


def _holds(node: Any, step: Any) -> bool:
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and step < len(node)


def _set(record: dict, path: tuple[Any, ...], value: Any) -> bool:
    node: Any = record
    for step in path[:-1]:
        if not _holds(node, step):
            return False
        node = node[step]
    if not _holds(node, path[-1]):
        return False
    node[path[-1]] = value
    return True


def _fetched(record: dict, nct_id: str) -> FetchedStudy:
    return FetchedStudy(nct_id, nct_id, record, "https://registry.test/api/v2/studies")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Store]:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "regsync.db"
    with Store.open_write(path) as opened:
        opened.save_page([_fetched(load(name), name) for name in NAMES])
        yield opened


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(mutations())
def test_a_mutated_record_never_stops_the_others_and_is_reported_as_a_change(store, mutation):
    name, record, done = mutation
    bystander = edit(load(BYSTANDER), overallStatus="RECRUITING")
    conn = store.conn
    conn.execute("BEGIN")  # every example starts from the stored fixtures: rolled back below
    try:
        if name == BYSTANDER:
            page = [_fetched(record, name)]
        else:
            page = [_fetched(record, name), _fetched(bystander, BYSTANDER)]
        results = store.save_page(page)
        assert [r.nct_id for r in results] == [f.nct_id for f in page]
        bad = results[0]
        assert bad.status is not StudyStatus.ERROR, (done, bad.error)
        for change in bad.changes:
            assert "\n" not in change.summary and change.summary
        if name != BYSTANDER:
            assert (results[1].status, results[1].version) == (StudyStatus.CHANGED, 2)
        # And back: the malformed version is the one compared from.
        (back,) = store.save_page([_fetched(load(name), name)])
        assert back.status is not StudyStatus.ERROR, (done, back.error)
        assert back.status is (StudyStatus.UNCHANGED if bad.status is StudyStatus.UNCHANGED else StudyStatus.CHANGED)
    finally:
        conn.execute("ROLLBACK")


def test_the_fixtures_are_what_the_fuzzer_starts_from(store):
    """A sanity check of the set-up: every fixture stored once, unchanged when seen again."""
    conn = store.conn
    conn.execute("BEGIN")
    try:
        results = store.save_page([_fetched(load(name), name) for name in NAMES])
        assert {r.status for r in results} == {StudyStatus.UNCHANGED}
        assert [nct_id_of(load(name)) for name in NAMES] == NAMES
    finally:
        conn.execute("ROLLBACK")
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM versions").fetchone() == (len(NAMES),)
