"""Issue 23 item 5: `regsync export --parquet DIR` writes the store as Parquet files that
pandas, R's arrow and DuckDB read; read back here with pyarrow, row by row and type by type."""

from __future__ import annotations

import copy
import datetime as dt
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.fakeapi import history_markup
from support.records import load
from support.timeline import NCT, OTHER, store_history

import regsync.export
from regsync.export import export_parquet
from regsync.store import Store

FILES = ("studies", "versions", "changes", "obligations")
UTC = dt.UTC


def _read(directory, name: str) -> pa.Table:
    return pq.read_table(directory / f"{name}.parquet")


def _fetched_at(db_path) -> dict[tuple[str, str], dt.datetime]:
    """(NCT ID, version label) -> when regsync stored it, as the store says."""
    with Store.open_read(db_path) as store:
        out = {}
        for nct_id in store.study_ids():
            for row in store.history(nct_id):
                out[(nct_id, row["label"])] = dt.datetime.strptime(
                    row["fetched_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return out


@pytest.fixture
def synced(run):
    """NCT07240987 synced four times (support.timeline), NCT00763412 once: its start and
    completion dates are month-precise ("2006-11")."""
    store_history(run)
    return run


def test_export_writes_four_files_and_says_what_it_wrote(synced, tmp_path):
    out = tmp_path / "out"
    result = synced("export", "--parquet", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"{out}: 2 studies, 5 versions, 10 changes, 5 obligations\n"
    # Written under a temporary name and renamed: nothing else is left in the directory.
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in FILES)


def test_the_types_are_dates_timestamps_and_lists(synced, tmp_path):
    synced("export", "--parquet", str(tmp_path))
    when = pa.timestamp("us", tz="UTC")
    studies = _read(tmp_path, "studies").schema
    for column in ("start_date", "primary_completion_date", "completion_date",
                   "last_update_submit_date", "last_update_post_date"):
        assert studies.field(column).type == pa.date32()
        assert studies.field(f"{column}_text").type == pa.string()
    assert studies.field("first_seen").type == when
    assert studies.field("removed_at").type == when
    assert studies.field("phases").type == pa.list_(pa.string())
    assert studies.field("enrollment").type == pa.int64()
    assert studies.field("registry_version").type == pa.int32()
    versions = _read(tmp_path, "versions").schema
    assert versions.field("fetched_at").type == when
    assert versions.field("submitted").type == pa.date32()
    assert versions.field("posted").type == pa.date32()
    assert versions.field("sources").type == pa.list_(pa.string())
    changes = _read(tmp_path, "changes").schema
    assert changes.field("detected_at").type == when
    assert changes.field("submitted").type == pa.date32()
    assert changes.field("milestone").type == pa.bool_()
    obligations = _read(tmp_path, "obligations").schema
    for column in ("due_date", "overdue_after", "as_of"):
        assert obligations.field(column).type == pa.date32()


def test_studies_hold_the_current_summary_and_month_precise_dates_survive(synced, tmp_path, db_path):
    synced("export", "--parquet", str(tmp_path))
    rows = _read(tmp_path, "studies").to_pylist()
    with Store.open_read(db_path) as store:
        first_seen = {n: store.study(n)["first_seen"] for n in (NCT, OTHER)}
    assert [r["nct_id"] for r in rows] == [OTHER, NCT]
    other, study = rows
    assert other == {
        "nct_id": OTHER,
        "brief_title": "Pilot and Feasibility Study for the Treatment of Pre-diabetes in Patients With Cystic Fibrosis",
        "overall_status": "COMPLETED",
        "phases": ["NA"],
        "lead_sponsor": "Arbelaez, Ana Maria",
        "lead_sponsor_class": "INDIV",
        "enrollment": 31,
        "enrollment_type": "ACTUAL",
        # Month-precise: no date32, the registry's text beside it.
        "start_date": None, "start_date_text": "2006-11", "start_date_type": None,
        "primary_completion_date": None, "primary_completion_date_text": "2013-01",
        "primary_completion_date_type": "ACTUAL",
        "completion_date": None, "completion_date_text": "2013-01", "completion_date_type": "ACTUAL",
        "last_update_submit_date": dt.date(2017, 5, 3), "last_update_submit_date_text": "2017-05-03",
        "last_update_post_date": dt.date(2017, 6, 5), "last_update_post_date_text": "2017-06-05",
        "current_version": "1",
        "registry_version": None,
        "first_seen": dt.datetime.strptime(first_seen[OTHER], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        "removed_at": None,
    }
    assert {k: study[k] for k in (
        "overall_status", "phases", "enrollment", "enrollment_type", "start_date", "start_date_text",
        "start_date_type", "primary_completion_date", "completion_date", "completion_date_type",
        "last_update_post_date", "current_version", "lead_sponsor_class",
    )} == {
        "overall_status": "ACTIVE_NOT_RECRUITING", "phases": ["PHASE1", "PHASE2"], "enrollment": 32,
        "enrollment_type": "ESTIMATED", "start_date": dt.date(2026, 1, 20), "start_date_text": "2026-01-20",
        "start_date_type": "ACTUAL", "primary_completion_date": dt.date(2027, 12, 31),
        "completion_date": dt.date(2029, 6, 30), "completion_date_type": "ESTIMATED",
        "last_update_post_date": dt.date(2026, 9, 1), "current_version": "4", "lead_sponsor_class": "OTHER",
    }


def test_versions_hold_every_versions_summary_in_chain_order(synced, tmp_path, db_path):
    synced("export", "--parquet", str(tmp_path))
    rows = _read(tmp_path, "versions").to_pylist()
    fetched = _fetched_at(db_path)
    assert [(r["nct_id"], r["version"], r["chain_pos"], r["registry_version"], r["sources"]) for r in rows] == [
        (OTHER, "1", 1, None, ["api"]),
        (NCT, "1", 1, None, ["api"]), (NCT, "2", 2, None, ["api"]),
        (NCT, "3", 3, None, ["api"]), (NCT, "4", 4, None, ["api"]),
    ]
    assert [r["fetched_at"] for r in rows] == [fetched[(r["nct_id"], r["version"])] for r in rows]
    assert [(r["overall_status"], r["posted"], r["start_date"], r["start_date_type"],
             r["primary_completion_date"], r["completion_date"]) for r in rows[1:]] == [
        ("NOT_YET_RECRUITING", dt.date(2025, 12, 24), dt.date(2026, 1, 1), "ESTIMATED",
         dt.date(2027, 6, 30), dt.date(2027, 8, 31)),
        ("RECRUITING", dt.date(2026, 2, 1), dt.date(2026, 1, 20), "ACTUAL",
         dt.date(2027, 6, 30), dt.date(2027, 8, 31)),
        ("RECRUITING", dt.date(2026, 6, 1), dt.date(2026, 1, 20), "ACTUAL",
         dt.date(2027, 12, 31), dt.date(2027, 8, 31)),
        ("ACTIVE_NOT_RECRUITING", dt.date(2026, 9, 1), dt.date(2026, 1, 20), "ACTUAL",
         dt.date(2027, 12, 31), dt.date(2029, 6, 30)),
    ]
    assert rows[0]["start_date_text"] == "2006-11" and rows[0]["start_date"] is None
    assert {(r["submitted"], r["submitted_text"]) for r in rows[1:]} == {(dt.date(2025, 12, 18), "2025-12-18")}


def test_changes_are_every_stored_change_with_its_three_dates(synced, tmp_path, db_path):
    synced("export", "--parquet", str(tmp_path))
    rows = _read(tmp_path, "changes").to_pylist()
    fetched = _fetched_at(db_path)
    flagged = [r for r in rows if r["severity"] != "admin"]
    assert [(r["from_version"], r["to_version"], r["category"], r["severity"], r["rule"], r["path"],
             r["milestone"], r["delta_days"]) for r in flagged] == [
        ("1", "2", "status", "minor", "status.progression", "protocolSection.statusModule.overallStatus", True, None),
        ("1", "2", "dates", "minor", "dates.became_actual", "protocolSection.statusModule.startDateStruct", True, 19),
        ("2", "3", "dates", "minor", "dates.slip.moderate",
         "protocolSection.statusModule.primaryCompletionDateStruct", False, 184),
        ("3", "4", "eligibility", "major", "eligibility.population_shift",
         "protocolSection.eligibilityModule.eligibilityCriteria", False, None),
        ("3", "4", "status", "minor", "status.progression", "protocolSection.statusModule.overallStatus", True, None),
        ("3", "4", "dates", "minor", "dates.slip.moderate",
         "protocolSection.statusModule.completionDateStruct", False, 669),
        ("3", "4", "outcomes", "minor", "outcome.primary.detail",
         "protocolSection.outcomesModule.primaryOutcomes[measure=Change in estimated glomerular filtration rate (eGFR)]",
         False, None),
    ]
    start = flagged[1]
    assert (start["old"], start["new"]) == ('{"date":"2026-01-01","type":"ESTIMATED"}',
                                            '{"date":"2026-01-20","type":"ACTUAL"}')
    assert start["summary"] == "Start date: 2026-01-01 -> 2026-01-20 (ESTIMATED -> ACTUAL, +19 days)"
    assert (start["submitted"], start["posted"], start["posted_text"]) == (
        dt.date(2025, 12, 18), dt.date(2026, 2, 1), "2026-02-01")
    # detected_at as stored, to the microsecond; no registry number before a backfill.
    with Store.open_read(db_path) as store:
        detected = sorted(c.detected_at for c in store.query_changes())
    assert sorted(r["detected_at"] for r in rows) == [
        dt.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) for d in detected]
    assert all(r["detected_at"] >= fetched[(NCT, "2")] for r in rows)
    assert {r["registry_version"] for r in rows} == {None}
    assert len(rows) == 10


def test_obligations_hold_every_versions_row(synced, tmp_path, db_path):
    synced("export", "--parquet", str(tmp_path))
    rows = _read(tmp_path, "obligations").to_pylist()
    with Store.open_read(db_path) as store:
        stored = {(n, v): row for n in (NCT, OTHER) for v, row in store.obligation_rows(n).items()}
    assert [(r["nct_id"], r["version"]) for r in rows] == [(OTHER, "1"), (NCT, "1"), (NCT, "2"), (NCT, "3"), (NCT, "4")]
    for r, key in zip(rows, sorted(stored, key=lambda k: (k[0], k[1])), strict=True):
        _, _, applicability, reason, due, after, state, days, as_of, _ = stored[key]
        assert (r["applicability"], r["reason"], r["state"], r["days"]) == (applicability, reason, state, days)
        assert r["due_date"] == (dt.date.fromisoformat(due) if due else None)
        assert r["overdue_after"] == (dt.date.fromisoformat(after) if after else None)
        assert r["as_of"] == dt.date.fromisoformat(as_of)


def test_small_batches_write_the_same_tables(synced, tmp_path, db_path):
    """Streaming: rows go out in record batches; a batch of 2 rows gives the same files."""
    synced("export", "--parquet", str(tmp_path / "whole"))
    with Store.open_read(db_path) as store:
        done = export_parquet(store, tmp_path / "batched", batch_rows=2)
    assert (done.studies, done.versions, done.changes, done.obligations) == (2, 5, 10, 5)
    for name in FILES:
        assert _read(tmp_path / "batched", name).equals(_read(tmp_path / "whole", name))
    assert pq.ParquetFile(tmp_path / "batched" / "changes.parquet").metadata.num_rows == 10


BACKFILL_DATES = ("2025-11-20", "2025-12-10", "2025-12-24")


@pytest.fixture
def backfilled(fake, run):
    """NCT07240987 synced once, then backfilled from the fake's history of three versions:
    its own snapshot is registry version 3."""
    registry, server = fake
    first = load(NCT)
    second = copy.deepcopy(first)
    second["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    third = copy.deepcopy(second)
    third["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 40
    versions = [first, second, third]
    for record, day, posted in zip(versions, BACKFILL_DATES, ("2025-11-23", "2025-12-13", "2025-12-27"),
                                   strict=True):
        status = record["protocolSection"]["statusModule"]
        status["lastUpdateSubmitDate"] = day
        status["lastUpdatePostDateStruct"] = {"date": posted, "type": "ACTUAL"}
    registry.add(third)
    for day, record in zip(BACKFILL_DATES, versions, strict=True):
        registry.add_history(NCT, day, history_markup(record))
    registry.screen_clients = True
    assert run("sync", NCT, api_url=server.url).exit_code == 0
    result = run("backfill", NCT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    return run


def test_a_backfilled_study_is_named_and_dated_as_the_registry_numbers_it(backfilled, tmp_path):
    assert backfilled("export", "--parquet", str(tmp_path)).exit_code == 0
    versions = _read(tmp_path, "versions").to_pylist()
    assert [(r["version"], r["registry_version"], r["chain_pos"], r["submitted"], r["posted"], r["sources"],
             r["overall_status"], r["enrollment"]) for r in versions] == [
        ("1", 1, 1, dt.date(2025, 11, 20), dt.date(2025, 11, 23), ["registry-history"], "NOT_YET_RECRUITING", 32),
        ("2", 2, 2, dt.date(2025, 12, 10), dt.date(2025, 12, 13), ["registry-history"], "RECRUITING", 32),
        ("3", 3, 3, dt.date(2025, 12, 24), dt.date(2025, 12, 27), ["api", "registry-history"], "RECRUITING", 40),
    ]
    changes = _read(tmp_path, "changes").to_pylist()
    assert [(r["from_version"], r["to_version"], r["registry_version"], r["category"], r["submitted"])
            for r in changes if r["severity"] != "admin"] == [
        ("1", "2", 2, "status", dt.date(2025, 12, 10)),
        ("2", "3", 3, "enrollment", dt.date(2025, 12, 24)),
    ]
    (study,) = _read(tmp_path, "studies").to_pylist()
    assert (study["current_version"], study["registry_version"]) == ("3", 3)
    assert [r["version"] for r in _read(tmp_path, "obligations").to_pylist()] == ["1", "2", "3"]


def test_an_empty_database_gives_four_empty_files_with_their_columns(run, tmp_path):
    assert run("watch", "add", NCT).exit_code == 0  # creates the database, stores no study
    result = run("export", "--parquet", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"{tmp_path / 'out'}: 0 studies, 0 versions, 0 changes, 0 obligations\n"
    for name in FILES:
        table = _read(tmp_path / "out", name)
        assert table.num_rows == 0
        assert table.schema.field("nct_id").type == pa.string()
    assert _read(tmp_path / "out", "versions").schema.field("fetched_at").type == pa.timestamp("us", tz="UTC")


def test_an_output_path_that_is_a_file_is_refused_in_one_line(synced, tmp_path):
    target = tmp_path / "out.parquet"
    target.write_text("not a directory")
    result = synced("export", "--parquet", str(target))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: --parquet {target}: exists and is not a directory\n"
    assert target.read_text() == "not a directory"


def test_a_missing_database_is_one_line(run, tmp_path):
    result = run("export", "--parquet", str(tmp_path / "out"))
    assert result.exit_code == 4
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_without_pyarrow_export_says_so_in_one_line(synced, tmp_path, monkeypatch):
    # None in sys.modules makes `import pyarrow` raise ImportError, as when it is not installed.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = synced("export", "--parquet", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: export --parquet needs pyarrow: pip install 'regsync[parquet]' (or pip install pyarrow)\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_failed_export_leaves_the_files_before_it_whole(synced, tmp_path, monkeypatch):
    out = tmp_path / "out"
    synced("export", "--parquet", str(out))
    before = {name: _read(out, name) for name in FILES}
    calls = []

    def failing(record):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real(record)

    real = regsync.export._summary
    monkeypatch.setattr(regsync.export, "_summary", failing)
    result = synced("export", "--parquet", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot write {out / 'versions.parquet'}: No space left on device\n"
    # studies.parquet was replaced whole; versions.parquet and the others are as they were,
    # and no temporary file is left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in FILES)
    for name in FILES:
        assert _read(out, name).equals(before[name])
