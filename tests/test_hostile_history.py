"""Issue 20 items 2 and 3: hostile history answers cost only their study (one line each, the
run goes on, in `backfill` and in the nightly fill-in), and an index beyond a few thousand
versions is refused for its study."""

from __future__ import annotations

import copy
import sqlite3

import orjson
import pytest
from support.fakeapi import history_markup
from support.records import load

from regsync.client import MAX_HISTORY_VERSIONS

NCT = "NCT07240987"  # a good history of two versions
HOSTILE = "NCT00973089"  # served a hostile index


def _entry(version, date="2025-11-20"):
    return {"version": version, "date": date, "status": "RECRUITING", "moduleLabels": []}


def _nested(depth: int) -> bytes:
    record = load(HOSTILE)
    record["protocolSection"]["descriptionModule"] = {"briefSummary": "@"}
    body = orjson.dumps({"studyVersion": 0, "study": record})
    # orjson refuses to write past 254 levels: splice the nesting in as text.
    return body.replace(b'"@"', b"[" * depth + b"1" + b"]" * depth)


HOSTILE_INDEXES = {
    "2**63": ([_entry(2**63)], {}, "version number 9223372036854775808"),
    "2**64": ([_entry(0), _entry(2**64 + 5)], {}, "version number 1.8446744073709552e+19"),
    "negative": ([_entry(-1)], {}, "version number -1"),
    "float": ([_entry(1.5)], {}, "version number 1.5"),
    "string": ([_entry("3")], {}, "version number '3'"),
    "nested number": ([{"version": [[[[0]]]], "date": "2025-11-20"}], {}, "version number a list"),
    "twice": ([_entry(0), _entry(0, "2025-11-21")], {}, "lists version 0 twice"),
    "empty date": ([_entry(0, "")], {}, "dates version 0 '', not a date"),
    "zero date": ([_entry(0, "0000-00-00")], {}, "dates version 0 '0000-00-00', not a date"),
    "not a date": ([_entry(0, "yesterday-ish")], {}, "not a date"),
    "numeric date": ([_entry(0, 20251120)], {}, "dates version 0 a int, not a date"),
    "nested 900 levels": ([_entry(0)], {0: _nested(900)}, "nested deeper than 64 levels"),
    "too many": ([_entry(v) for v in range(MAX_HISTORY_VERSIONS + 1)], {},
                 f"lists {MAX_HISTORY_VERSIONS + 1:,} versions, more than {MAX_HISTORY_VERSIONS:,}; refused"),
}


@pytest.fixture
def two_studies(fake):
    """NCT07240987 with a two-version history, NCT00973089 as it is, histories set per test."""
    registry, server = fake
    first = load(NCT)
    second = copy.deepcopy(first)
    second["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    second["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2025-12-10"
    first["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2025-11-20"
    registry.add(second)
    registry.add_history(NCT, "2025-11-20", history_markup(first))
    registry.add_history(NCT, "2025-12-10", history_markup(second))
    return registry, server


def _stored(db_path) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT nct_id, COUNT(*) FROM versions GROUP BY nct_id ORDER BY nct_id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("case", list(HOSTILE_INDEXES))
def test_a_hostile_history_index_costs_only_its_study_in_backfill(two_studies, run, db_path, case):
    registry, server = two_studies
    changes, versions, said = HOSTILE_INDEXES[case]
    registry.serve_history(HOSTILE, changes, versions)
    result = run("backfill", HOSTILE, NCT, api_url=server.url)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in (result.stdout + result.stderr).splitlines() if HOSTILE in line]
    assert len(errors) == 1, errors
    assert said in errors[0] and errors[0].startswith("error: ")
    # The run went on: the good study is backfilled; the hostile one keeps its own snapshot.
    assert f"{NCT} backfilled: " in result.stdout
    assert _stored(db_path) == [(HOSTILE, 1), (NCT, 2)]
    # The error is in the run ledger once.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM run_errors WHERE nct_id = ?", [HOSTILE]).fetchone() == (1,)
    finally:
        conn.close()


@pytest.mark.parametrize("case", ["2**63", "twice", "zero date", "nested 900 levels"])
def test_a_hostile_history_index_costs_only_its_study_in_the_fill_in(two_studies, run, db_path, monkeypatch, case):
    monkeypatch.setenv("REGSYNC_FILL_IN", "1")
    registry, server = two_studies
    assert run("sync", HOSTILE, NCT, api_url=server.url).exit_code == 0
    changes, versions, said = HOSTILE_INDEXES[case]
    registry.serve_history(HOSTILE, changes, versions)
    for nct_id, status in ((HOSTILE, "COMPLETED"), (NCT, "COMPLETED")):
        record = copy.deepcopy(registry.get(nct_id))
        record["protocolSection"]["statusModule"]["overallStatus"] = status
        record["protocolSection"]["statusModule"]["lastUpdateSubmitDate"] = "2026-01-20"
        registry.add(record)
        if nct_id == NCT:
            registry.add_history(NCT, "2026-01-20", history_markup(record))
    result = run("sync", HOSTILE, NCT, "--force", api_url=server.url)
    assert "Traceback" not in result.stderr + result.stdout
    # The sync itself stored both changes: the fill-in's trouble is one warning for its study.
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"{HOSTILE} changed v1 -> v2 [minor]: status",
        f"{NCT} changed v2 -> v3 [minor]: status (milestone: COMPLETED)",
    ]
    warnings = [line for line in result.stderr.splitlines() if HOSTILE in line]
    assert len(warnings) == 1 and said in warnings[0], result.stderr
    assert _stored(db_path) == [(HOSTILE, 2), (NCT, 3)]  # NCT07240987: its first version filled in
