"""Issue 19 item 2: one timeline, whatever order regsync learned it in.

A fake registry holds a random history of NCT07240987 (1-6 versions built from the fixture,
each with a later submit date and random edits); at time t it has versions 0..t. The API
serves the latest one as it is (markdown, with a derivedSection), the history endpoints every
one of them as HTML (double-escaped, no derivedSection). Random interleavings of sync (with
or without the fill-in), backfill and reclassify must end in the same chain and the same
changes as a fresh database that only synced and backfilled at the end; reclassify with
unchanged rules is a fixed point; the markup of a source never makes a change.
"""

from __future__ import annotations

import copy
import html
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.records import load

from regsync import judge, timeline
from regsync.client import FetchedStudy, HistoryEntry
from regsync.errors import StudyNotFound
from regsync.history import backfill
from regsync.judge import diff_records
from regsync.normalize import normalized_hash
from regsync.store import Store
from regsync.sync import run_sync

NCT = "NCT07240987"
TODAY = date(2026, 9, 4)

SETTINGS = settings(
    # REGSYNC_PROPERTY_EXAMPLES=500 for a longer hunt.
    max_examples=int(os.environ.get("REGSYNC_PROPERTY_EXAMPLES", "40")), deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the fake registry ---------------------------------------------------------------------------

STATUSES = ["NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION",
            "SUSPENDED", "COMPLETED", "TERMINATED"]
COMPLETION_DATES = ["2027-06-30", "2027-09-30", "2027-12-31", "2028-03", "2026-11-15"]
# As the API's markdown sends them: backslash escapes, bold, bullets, slashes, ampersands.
OUTCOME_TEXTS = [
    "Change in estimated glomerular filtration rate (eGFR)",
    "Change in eGFR/creatinine ratio",
    "Proportion of participants with eGFR \\>/=60 mL/min/1.73 m2",
    "Time to **first** dialysis & death",
    "Change in eGFR (per-protocol population)",
]
SUMMARY_TEXTS = [
    "This study will evaluate umbilical cord derived MSCs in CKD stage 3/4.",
    "This study evaluates MSCs in chronic kidney disease.\n\n* Stage 3 or 4\n* Adults \\>/=18 years",
    "A **randomised** study of MSCs & renal function (eGFR/UACR).",
    "This study will evaluate the effect of MSCs on renal function.",
]

EDITS = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("enrollment"), st.integers(10, 200)),
    st.tuples(st.just("completion"), st.tuples(st.sampled_from(COMPLETION_DATES),
                                               st.sampled_from(["ESTIMATED", "ACTUAL"]))),
    st.tuples(st.just("outcome"), st.sampled_from(OUTCOME_TEXTS)),
    st.tuples(st.just("summary"), st.sampled_from(SUMMARY_TEXTS)),
)


def _apply(record: dict, edit: tuple[str, Any]) -> None:
    protocol = record["protocolSection"]
    kind, value = edit
    if kind == "status":
        protocol["statusModule"]["overallStatus"] = value
    elif kind == "enrollment":
        protocol["designModule"]["enrollmentInfo"]["count"] = value
    elif kind == "completion":
        day, kind_ = value
        protocol["statusModule"]["primaryCompletionDateStruct"] = {"date": day, "type": kind_}
    elif kind == "outcome":
        protocol["outcomesModule"]["primaryOutcomes"][0]["measure"] = value
    elif kind == "summary":
        protocol["descriptionModule"]["briefSummary"] = value
    else:  # pragma: no cover
        raise AssertionError(kind)


def _to_html(text: str, double: bool) -> str:
    """Markdown text as the registry's history endpoint writes it: each line a <p> (a bullet
    an <li>), bold as <b>, HTML-escaped with '/' as '&#x2F;' (escaped twice when ``double``)."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r"\\(.)", r"\1", line)  # markdown backslash escapes
        bullet = re.match(r"^\s*[*-]\s+(.*)$", line)
        body = bullet.group(1) if bullet else line
        parts = re.split(r"\*\*(.+?)\*\*", body)  # odd parts were bold
        rendered = []
        for i, part in enumerate(parts):
            escaped = html.escape(part, quote=False).replace("/", "&#x2F;")
            if double:
                escaped = escaped.replace("&", "&amp;")
            rendered.append(f"<b>{escaped}</b>" if i % 2 else escaped)
        body = "".join(rendered)
        if body.strip():
            out.append(f"<li>{body}</li>" if bullet else f"<p>{body}</p>")
    return "".join(out)


def history_form(record: dict, double: bool = False) -> dict:
    """A version as the registry's history serves it: no derivedSection, every free text
    (a string with a space or a line break) as HTML."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and re.search(r"\s|\*\*|\\", value):
            return _to_html(value, double)
        return value

    return {k: walk(v) for k, v in record.items() if k != "derivedSection"}


@dataclass
class Registry:
    """A study's registry history; at time ``now`` it has versions 0..now."""

    api: list[dict]  # each version as the API serves it (markdown, derivedSection)
    double: bool = False  # the history escapes twice (&amp;#x2F;)
    now: int = 0
    steps: list = field(default_factory=list)  # how it was made (make_registry's argument)

    def __repr__(self) -> str:  # what hypothesis prints of a failing example
        return f"make_registry({self.steps!r}, double={self.double})"

    @property
    def size(self) -> int:
        return len(self.api)

    def submitted(self, version: int) -> str:
        return self.api[version]["protocolSection"]["statusModule"]["lastUpdateSubmitDate"]

    def history(self, version: int) -> dict:
        return history_form(self.api[version], self.double)


@dataclass
class FakeApi:
    registry: Registry
    requests: int = 0

    def get_version(self) -> dict:
        self.requests += 1
        return {"dataTimestamp": f"2026-09-04T09:00:{self.registry.now:02d}"}

    def get_study(self, nct_id: str) -> FetchedStudy:
        self.requests += 1
        if nct_id != NCT:
            raise StudyNotFound(f"{nct_id}: HTTP 404")
        return FetchedStudy(NCT, nct_id, copy.deepcopy(self.registry.api[self.registry.now]),
                            f"https://clinicaltrials.gov/api/v2/studies/{NCT}")


@dataclass
class FakeHistory:
    registry: Registry
    requests: int = 0
    read: list[int] = field(default_factory=list)  # the versions read, in order

    def get_history_index(self, nct_id: str) -> list[HistoryEntry]:
        self.requests += 1
        if nct_id != NCT:
            raise StudyNotFound(f"{nct_id}: HTTP 404")
        reg = self.registry
        return [
            HistoryEntry(v, reg.submitted(v), reg.api[v]["protocolSection"]["statusModule"]["overallStatus"],
                         ("Study Status",) if v else ())
            for v in range(reg.now + 1)
        ]

    def get_history_version(self, nct_id: str, version: int) -> dict:
        self.requests += 1
        assert nct_id == NCT and 0 <= version <= self.registry.now, (nct_id, version)
        self.read.append(version)
        return self.registry.history(version)


def make_registry(steps: list[tuple[int, int, list[tuple[str, Any]]]], double: bool = False) -> Registry:
    """Versions from the fixture: each step is (days after the previous submit date, days
    from submit to post, edits); the first step's edits make version 1 (version 0 is the
    fixture with its own dates)."""
    base = load(NCT)
    versions = [base]
    submit = date.fromisoformat(base["protocolSection"]["statusModule"]["lastUpdateSubmitDate"])
    for gap, lag, edits in steps:
        new = copy.deepcopy(versions[-1])
        for edit in edits:
            _apply(new, edit)
        submit += timedelta(days=gap)
        status = new["protocolSection"]["statusModule"]
        status["lastUpdateSubmitDate"] = submit.isoformat()
        status["lastUpdatePostDateStruct"] = {"date": (submit + timedelta(days=lag)).isoformat(), "type": "ACTUAL"}
        new["derivedSection"]["miscInfoModule"]["versionHolder"] = (submit + timedelta(days=lag + 1)).isoformat()
        versions.append(new)
    return Registry(versions, double, steps=steps)


STEPS = st.lists(
    st.tuples(st.integers(1, 30), st.integers(1, 3), st.lists(EDITS, max_size=3)),
    max_size=5,
)


@st.composite
def registries(draw) -> Registry:
    return make_registry(draw(STEPS), draw(st.booleans()))


OPS = ["sync", "sync+fill", "backfill", "reclassify"]


@st.composite
def interleavings(draw, size: int, kinds: list[str] = OPS) -> list[tuple[str, int]]:
    """Operations with nondecreasing times in 0..size-1."""
    ops = draw(st.lists(st.tuples(st.sampled_from(kinds), st.integers(0, 2)), min_size=1, max_size=6))
    out, t = [], 0
    for kind, step in ops:
        t = min(size - 1, t + step)
        out.append((kind, t))
    return out


# -- running and reading ---------------------------------------------------------------------------


class Db:
    """One database, its API and history clients over one registry."""

    def __init__(self, path: Path, registry: Registry):
        self.registry = registry
        self.api = FakeApi(registry)
        self.hist = FakeHistory(registry)
        self.store = Store.open_write(path)

    def close(self) -> None:
        self.store.close()

    def do(self, kind: str, t: int) -> None:
        self.registry.now = t
        if kind == "sync":
            run_sync(self.store, self.api, [NCT], force=True, today=TODAY)
        elif kind == "sync+fill":
            run_sync(self.store, self.api, [NCT], force=True, history=self.hist, today=TODAY)
        elif kind == "backfill":
            report = backfill(self.store, self.hist, self.api, [NCT])
            assert not report.failed, report
        elif kind == "reclassify":
            judge.reclassify(self.store)
        else:  # pragma: no cover
            raise AssertionError(kind)

    def chain(self) -> list[tuple[str, int | None, str]]:
        """[(label, registry version (1-based), normalised hash of the stored record)]."""
        out = []
        for e in self.entries():
            digest = normalized_hash(self.store.record(NCT, e.version))
            stored = e.row.get("norm_hash")
            assert stored in (None, digest), f"v{e.label}: norm_hash {stored} is not its record's {digest}"
            out.append((e.label, e.registry_version, digest))
        return out

    def entries(self) -> list[timeline.Entry]:
        if not self.store.conn.execute("SELECT 1 FROM studies WHERE nct_id = ?", [NCT]).fetchone():
            return []  # nothing stored yet (only reclassify ran)
        return timeline.entries(self.store, NCT)

    def labels(self) -> dict[int, str]:
        return {e.version: e.label for e in self.entries()}

    def changes(self) -> list[tuple]:
        """Sorted (from label, to label, category, severity, kind, path, rule)."""
        names = self.labels()
        rows = self.store.conn.execute(
            "SELECT from_version, to_version, category, severity, kind, path, rule FROM changes WHERE nct_id = ?",
            [NCT],
        ).fetchall()
        return sorted((names.get(f, f"?{f}"), names.get(t, f"?{t}"), *rest) for f, t, *rest in rows)

    def judgements(self) -> list[tuple]:
        """Every column of every change but its id and detection date, by label: stricter
        than ``changes`` (old and new values, summaries, deltas)."""
        names = self.labels()
        rows = self.store.conn.execute(
            "SELECT from_version, to_version, category, severity, kind, path, old, new, summary, rule, "
            "milestone, context, delta_days, delta_months FROM changes WHERE nct_id = ?", [NCT],
        ).fetchall()
        return sorted((names.get(f, f"?{f}"), names.get(t, f"?{t}"), *rest) for f, t, *rest in rows)

    def registry_columns(self) -> list[tuple]:
        """What each version knows of the registry, by label."""
        names = self.labels()
        rows = self.store.conn.execute(
            "SELECT version, registry_version, registry_date, submitted, last_update_post_date, "
            "overall_status, module_labels, norm_hash, chain_pos FROM versions WHERE nct_id = ?", [NCT],
        ).fetchall()
        return sorted((names[v], *rest) for v, *rest in rows)

    def rows(self) -> dict[str, list[tuple]]:
        """Every row of versions, changes and obligations, every column."""
        return {
            table: self.store.conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("versions", "changes", "obligations")
        }


def _run(path: Path, registry: Registry, ops: list[tuple[str, int]]) -> tuple[list, list, Db]:
    db = Db(path, registry)
    for kind, t in ops:
        db.do(kind, t)
    return db.chain(), db.changes(), db


def reference(tmp: Path, registry: Registry) -> Db:
    """A fresh database that synced at the last time and backfilled then (open: close it)."""
    last = registry.size - 1
    return _run(tmp, registry, [("sync", last), ("backfill", last)])[2]


def assert_same(db: Db, ref: Db) -> None:
    assert db.chain() == ref.chain()
    assert db.changes() == ref.changes()
    assert db.judgements() == ref.judgements()
    assert db.registry_columns() == ref.registry_columns()


def expected_chain(registry: Registry) -> list[tuple[str, int, str]]:
    return [(str(v + 1), v + 1, normalized_hash(registry.api[v])) for v in range(registry.size)]


def _key(change) -> tuple:
    return (str(change.category), str(change.severity), str(change.kind), change.path, change.rule)


def expected_changes(registry: Registry) -> list[tuple]:
    """The one judge on each registry pair (API form)."""
    out = []
    for v in range(1, registry.size):
        out += [(str(v), str(v + 1), *_key(c)) for c in diff_records(registry.api[v - 1], registry.api[v])]
    return sorted(out)


_n = 0


def _fresh(tmp_path: Path) -> Path:
    """A new database path for every database of every example (hypothesis reuses tmp_path)."""
    global _n
    _n += 1
    return tmp_path / f"db{_n}.sqlite"


# -- properties --------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), registry=registries())
def test_a_late_backfill_gives_the_chain_a_fresh_database_gets(tmp_path, data, registry):
    """Any interleaving of sync (with and without the fill-in), backfill and reclassify,
    then a sync and a backfill at the last time: the chain and changes of a fresh database
    that only did those two."""
    ops = data.draw(interleavings(registry.size))
    last = registry.size - 1
    db = _run(_fresh(tmp_path), registry, [*ops, ("sync", last), ("backfill", last)])[2]
    ref = reference(_fresh(tmp_path), registry)
    try:
        assert ref.chain() == expected_chain(registry)
        assert_same(db, ref)
    finally:
        db.close()
        ref.close()


@SETTINGS
@given(data=st.data(), registry=registries().filter(lambda r: r.size >= 2))
def test_syncs_with_the_fill_in_alone_reach_the_same_chain(tmp_path, data, registry):
    """Syncs with the fill-in at random times, the last one seeing a change (a later version
    than the sync before it): the fill-in reads the past, so no backfill is needed."""
    last = registry.size - 1
    times = sorted(data.draw(st.lists(st.integers(0, last - 1), min_size=1, max_size=4)))
    ops = [("sync+fill", t) for t in [*times, last]]
    db = _run(_fresh(tmp_path), registry, ops)[2]
    ref = reference(_fresh(tmp_path), registry)
    try:
        assert_same(db, ref)
    finally:
        db.close()
        ref.close()


@SETTINGS
@given(data=st.data(), registry=registries())
def test_reclassify_with_unchanged_rules_is_a_fixed_point(tmp_path, data, registry):
    """After any interleaving, reclassify changes no row of versions, changes or
    obligations (every column, detected_at included), run once or twice."""
    ops = data.draw(interleavings(registry.size))
    db = Db(_fresh(tmp_path), registry)
    try:
        for kind, t in ops:
            db.do(kind, t)
        before = db.rows()
        judge.reclassify(db.store)
        assert db.rows() == before
        judge.reclassify(db.store)
        assert db.rows() == before
    finally:
        db.close()


@SETTINGS
@given(data=st.data(), registry=registries())
def test_the_source_never_makes_a_change(tmp_path, data, registry):
    """No stored change lies between two versions of equal normalised content, and each
    pair's stored changes are the judge's on the API forms (markup makes none)."""
    ops = data.draw(interleavings(registry.size))
    last = registry.size - 1
    for run_ops in (ops, [*ops, ("sync", last), ("backfill", last)], [("sync", last), ("backfill", last)]):
        db = Db(_fresh(tmp_path), registry)
        try:
            for kind, t in run_ops:
                db.do(kind, t)
            digests = {e.version: normalized_hash(db.store.record(NCT, e.version))
                       for e in db.entries()}
            for f, t in db.store.conn.execute("SELECT DISTINCT from_version, to_version FROM changes").fetchall():
                assert digests[f] != digests[t], f"changes from v{f} to v{t}, equal after normalisation"
        finally:
            db.close()
    # The reference: every registry pair judged on its content alone.
    db = Db(_fresh(tmp_path), registry)
    try:
        db.do("sync", last)
        db.do("backfill", last)
        assert db.changes() == expected_changes(registry)
        pairs = {(f, t) for f, t, *_ in db.changes()}
        differing = {(str(v), str(v + 1)) for v in range(1, registry.size)
                     if diff_records(registry.api[v - 1], registry.api[v])}
        assert pairs == differing
        for v in range(registry.size):
            assert diff_records(registry.api[v], registry.history(v)) == []
            assert diff_records(registry.history(v), registry.api[v]) == []
    finally:
        db.close()


# -- examples --------------------------------------------------------------------------------------


def _five() -> Registry:
    return make_registry([
        (20, 2, [("status", "RECRUITING")]),
        (30, 1, [("enrollment", 48), ("summary", SUMMARY_TEXTS[1])]),
        (15, 3, [("completion", ("2027-12-31", "ESTIMATED")), ("outcome", OUTCOME_TEXTS[2])]),
        (40, 2, [("status", "ACTIVE_NOT_RECRUITING"), ("outcome", OUTCOME_TEXTS[3])]),
    ], double=True)


def test_backfill_then_sync_equals_syncs_with_gaps_then_backfill(tmp_path):
    registry = _five()
    a, a_changes, db_a = _run(tmp_path / "a.db", registry, [("backfill", 2), ("sync", 4)])
    db_a.do("backfill", 4)
    a, a_changes = db_a.chain(), db_a.changes()
    db_a.close()
    b, b_changes, db_b = _run(tmp_path / "b.db", registry,
                              [("sync", 0), ("sync", 2), ("sync", 4), ("backfill", 4)])
    db_b.close()
    assert [label for label, _, _ in a] == ["1", "2", "3", "4", "5"]
    assert a == b == expected_chain(registry)
    assert a_changes == b_changes == expected_changes(registry)


def test_a_sync_that_sees_a_change_fills_in_the_gap_reading_only_what_it_lacks(tmp_path):
    registry = _five()
    chain, changes, db = _run(tmp_path / "a.db", registry, [("sync+fill", 0), ("sync+fill", 4)])
    # The index once; versions 1 and 5 are own snapshots submitted alone on their days.
    assert db.hist.read == [1, 2, 3]
    assert db.hist.requests == 4
    db.close()
    assert chain == expected_chain(registry)
    assert changes == expected_changes(registry)


def test_the_history_form_is_no_change_from_the_api_form():
    registry = _five()
    for v in range(registry.size):
        api, hist = registry.api[v], registry.history(v)
        assert api != hist
        assert diff_records(api, hist) == []
        assert normalized_hash(api) == normalized_hash(hist)
    single = make_registry([(3, 1, [("summary", SUMMARY_TEXTS[2])])], double=False)
    assert diff_records(single.api[1], single.history(1)) == []
