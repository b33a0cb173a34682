"""Datasette-ready (issue 14 item 4): the views of db/migrations/0008_views.sql and the
shipped metadata, served by Datasette itself through its own test client (no server, no
port). Datasette is in the `test` extra, so this never skips in CI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
from datasette.app import Datasette
from support.timeline import NCT, OTHER, store_history

from regsync import datasette as regsync_datasette


@pytest.fixture
def history_db(run, db_path):
    store_history(run)
    return db_path


def _serve(db_path, metadata: dict, paths: list[str]) -> list[tuple[int, Any]]:
    """GET each path from a Datasette on ``db_path``; (status, JSON or text) per path."""

    async def go() -> list[tuple[int, Any]]:
        ds = Datasette(files=[str(db_path)], metadata=metadata)
        await ds.invoke_startup()
        out = []
        for path in paths:
            response = await ds.client.get(path)
            is_json = response.headers.get("content-type", "").startswith("application/json")
            out.append((response.status_code, response.json() if is_json else response.text))
        return out

    return asyncio.run(go())


def _metadata(run) -> dict:
    result = run("datasette-metadata")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_views_exist_after_migration(history_db):
    with sqlite3.connect(history_db) as conn:
        views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert set(regsync_datasette.VIEWS) <= views  # a later issue may add its own


def test_datasette_serves_every_view(history_db, run):
    metadata = _metadata(run)
    paths = [f"/regsync/{view}.json?_shape=array&_size=max" for view in regsync_datasette.VIEWS]
    (s1, flagged), (s2, timeline), (s3, slips), (s4, outcomes), (s5, obligations) = _serve(history_db, metadata, paths)
    assert (s1, s2, s3, s4, s5) == (200, 200, 200, 200, 200)
    # NCT07240987 (phase 1/2, no FDA-regulated product) and NCT00763412 (completed in 2011)
    assert sorted((r["nct_id"], r["version"], r["applicability"], r["state"]) for r in obligations) == [
        (OTHER, 1, "not applicable", "not-applicable"), (NCT, 4, "not applicable", "not-applicable"),
    ]

    assert sorted((r["from_version"], r["to_version"], r["category"], r["severity"]) for r in flagged) == [
        (1, 2, "dates", "minor"), (1, 2, "status", "minor"),
        (2, 3, "dates", "minor"),
        (3, 4, "dates", "minor"), (3, 4, "eligibility", "major"), (3, 4, "outcomes", "minor"),
        (3, 4, "status", "minor"),
    ]
    assert {r["registry_url"] for r in flagged} == {f"https://clinicaltrials.gov/study/{NCT}"}
    assert {r["severity_rank"] for r in flagged if r["severity"] == "major"} == {1}

    ours = sorted((r for r in timeline if r["nct_id"] == NCT), key=lambda r: r["version"])
    assert [(r["version"], r["overall_status"], r["start_date"], r["start_date_type"],
             r["primary_completion_date"], r["completion_date"]) for r in ours] == [
        (1, "NOT_YET_RECRUITING", "2026-01-01", "ESTIMATED", "2027-06-30", "2027-08-31"),
        (2, "RECRUITING", "2026-01-20", "ACTUAL", "2027-06-30", "2027-08-31"),
        (3, "RECRUITING", "2026-01-20", "ACTUAL", "2027-12-31", "2027-08-31"),
        (4, "ACTIVE_NOT_RECRUITING", "2026-01-20", "ACTUAL", "2027-12-31", "2029-06-30"),
    ]
    assert [r["version"] for r in timeline if r["nct_id"] == OTHER] == [1]
    # Dates and enrollment come from columns kept in the clear (records are compressed).
    assert (ours[0]["enrollment"], ours[0]["enrollment_type"]) == (32, "ESTIMATED")
    assert all(isinstance(r["enrollment"], int) and r["enrollment_type"] for r in timeline)

    assert sorted((r["to_version"], r["date_field"], r["old_date"], r["new_date"], r["new_type"], r["delta_days"])
                  for r in slips) == [
        (2, "startDate", "2026-01-01", "2026-01-20", "ACTUAL", 19),
        (3, "primaryCompletionDate", "2027-06-30", "2027-12-31", "ESTIMATED", 184),
        (4, "completionDate", "2027-08-31", "2029-06-30", "ESTIMATED", 669),
    ]

    assert [(r["to_version"], r["outcome_type"], r["kind"], r["rule"]) for r in outcomes] == [
        (4, "primary", "renamed", "outcome.primary.detail"),
    ]


def test_datasette_runs_every_canned_query(history_db, run):
    metadata = _metadata(run)
    queries = metadata["databases"]["regsync"]["queries"]
    paths = {
        "major_changes": "/regsync/major_changes.json?_shape=array&since=2000-01-01",
        "study_changes": f"/regsync/study_changes.json?_shape=array&nct_id={NCT}",
        "long_slips": "/regsync/long_slips.json?_shape=array&days=365",
        "primary_outcome_switches": "/regsync/primary_outcome_switches.json?_shape=array",
        "results_due": "/regsync/results_due.json?_shape=array",
    }
    assert set(paths) == set(queries)  # a new canned query needs a line here
    answers = dict(zip(paths, _serve(history_db, metadata, list(paths.values()))))
    assert all(status == 200 for status, _ in answers.values()), answers

    assert [(r["severity"], r["category"]) for r in answers["major_changes"][1]] == [("major", "eligibility")]
    assert [(r["from_version"], r["to_version"]) for r in answers["study_changes"][1]] == [
        (1, 2), (1, 2), (2, 3), (3, 4), (3, 4), (3, 4), (3, 4),
    ]
    assert [(r["date_field"], r["delta_days"]) for r in answers["long_slips"][1]] == [("completionDate", 669)]
    assert [(r["kind"], r["to_version"]) for r in answers["primary_outcome_switches"][1]] == [("renamed", 4)]
    assert answers["results_due"][1] == []  # neither study owes results


def test_the_obligations_view_lists_a_trial_that_reported_late(db_path, fake, run):
    """NCT02513394 (a probable ACT, primary completion 2020-11-30) posted results due on
    2021-11-30 on 2022-02-01: the view and the canned query say so, with the registry link."""
    _registry, server = fake
    assert run("sync", "NCT02513394", api_url=server.url).exit_code == 0
    metadata = _metadata(run)
    (status, rows), (status_q, due) = _serve(db_path, metadata, [
        "/regsync/obligations_current.json?_shape=array", "/regsync/results_due.json?_shape=array"])
    assert (status, status_q) == (200, 200)
    [row] = rows
    assert {k: row[k] for k in ("nct_id", "version", "applicability", "due_date", "overdue_after", "state", "days")} == {
        "nct_id": "NCT02513394", "version": 1, "applicability": "pACT", "due_date": "2021-11-30",
        "overdue_after": "2021-12-30", "state": "reported-late", "days": 63,
    }
    assert [(r["nct_id"], r["state"], r["registry_url"]) for r in due] == [
        ("NCT02513394", "reported-late", "https://clinicaltrials.gov/study/NCT02513394")]


def test_datasette_shows_the_titles_and_descriptions(history_db, run):
    metadata = _metadata(run)
    [(status, page)] = _serve(history_db, metadata, ["/regsync/date_slips"])
    assert status == 200
    assert "<h1" in page and "Date slips" in page
    assert "positive is later" in page


def test_metadata_names_the_database_after_its_file(tmp_path, run):
    """Datasette looks metadata up by the file's stem: trials.db is database `trials`."""
    from support.cli import Cli

    trials = Cli(tmp_path / "trials.db", run.clocks)
    store_history(trials)
    result = trials("datasette-metadata")
    assert result.exit_code == 0, result.output
    metadata = json.loads(result.stdout)
    assert list(metadata["databases"]) == ["trials"]
    [(status, rows)] = _serve(tmp_path / "trials.db", metadata, ["/trials/long_slips.json?_shape=array&days=1"])
    assert status == 200 and len(rows) == 2


def test_metadata_needs_the_views(tmp_path, run):
    """A database older than the views is refused (exit 4), as every read command does, and
    left untouched: Datasette would otherwise offer canned queries that fail."""
    import sqlite_utils
    from support.cli import Cli

    from regsync.store import build_migrations

    old = tmp_path / "old.db"
    db = sqlite_utils.Database(old)
    build_migrations().apply(db, stop_before="0008_views")
    db.close()
    before = old.read_bytes()
    result = Cli(old, run.clocks)("datasette-metadata")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: database {old} was written by an older regsync (schema ")
    assert "run a writing command such as `regsync sync` to upgrade it" in result.stderr
    assert old.read_bytes() == before


def test_the_metadata_ships_in_the_package():
    data = regsync_datasette.shipped_metadata()
    tables = data["databases"]["regsync"]["tables"]
    for view in regsync_datasette.VIEWS:
        assert tables[view]["title"] and tables[view]["description"]


def test_metadata_refuses_a_database_whose_view_was_dropped(history_db, run):
    with sqlite3.connect(history_db) as conn:
        conn.execute("DROP VIEW date_slips")
    result = run("datasette-metadata")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (
        f"error: database {history_db} has no view date_slips (schema 0008_views made it; it was dropped since)\n"
    )


def test_the_shipped_metadata_offers_no_arbitrary_sql(history_db, run):
    """Issue 20 item 4: the views and canned queries are served; SQL typed by a visitor is not
    (a database may hold what a publisher did not mean to publish)."""
    metadata = _metadata(run)
    db = history_db.stem
    (arbitrary, _), (canned, _) = _serve(history_db, metadata, [
        f"/{db}.json?sql=select+record+from+versions", f"/{db}/flagged_changes.json",
    ])
    assert arbitrary == 403 and canned == 200


def test_the_registry_changes_table_is_described(history_db, run):
    """The sentinel's table (issue 23 item 4) says what it holds, in Datasette too."""
    metadata = _metadata(run)
    [(status, page)] = _serve(history_db, metadata, ["/regsync/registry_changes"])
    assert status == 200
    assert "Registry-side changes" in page
    assert "category registry at admin severity" in page
