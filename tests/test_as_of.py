"""Point in time (issue 14 item 5): `history --as-of` and `show --as-of` say what regsync knew by
the end of a day (UTC), and nothing stored later."""

from __future__ import annotations

import json
import sqlite3

import pytest

from regsync import content_hash
from support.mocks import mock_study, mock_version
from support.records import edit, load

NCT = "NCT07240987"

# When each version was stored: the second one a moment before midnight, the third at it.
FETCHED = ["2026-03-01T10:00:00.000000Z", "2026-04-15T23:59:59.500000Z", "2026-04-16T00:00:00.000000Z"]


@pytest.fixture
def versions(api, run, db_path):
    v1 = load(NCT)
    v2 = edit(v1, "2026-04-14", overallStatus="RECRUITING")
    v3 = edit(v2, "2026-04-15", primaryCompletionDateStruct={"date": "2027-12-31", "type": "ESTIMATED"})
    mock_version(api)
    for record in (v1, v2, v3):
        mock_study(api, record)
        assert run("sync", "--force").exit_code == 0
    with sqlite3.connect(db_path) as conn:
        for number, when in enumerate(FETCHED, 1):
            conn.execute("UPDATE versions SET fetched_at = ? WHERE nct_id = ? AND version = ?", [when, NCT, number])
    return v1, v2, v3


def test_history_as_of_lists_only_what_was_stored_by_the_end_of_that_day(versions, run):
    v1, v2, _ = versions
    result = run("history", NCT, "--as-of", "2026-04-15")
    assert result.exit_code == 0
    # Own snapshots count from when regsync fetched them (v2 was posted on 2026-04-14).
    assert result.stdout.splitlines() == [
        f"{NCT} as of 2026-04-15: 2 versions",
        "version  submitted   posted      stored                   source  status              hash",
        "-------  ----------  ----------  -----------------------  ------  ------------------  ------------",
        f"1        2025-12-18  2025-12-24  2026-03-01 10:00:00 UTC  api     NOT_YET_RECRUITING  {content_hash(v1)[:12]}",
        f"2        2025-12-18  2026-04-14  2026-04-15 23:59:59 UTC  api     RECRUITING          {content_hash(v2)[:12]}",
    ]
    rows = json.loads(run("history", NCT, "--as-of", "2026-04-16", "--json").stdout)
    assert [r["version"] for r in rows] == [1, 2, 3]


def test_history_as_of_before_the_first_version(versions, run):
    result = run("history", NCT, "--as-of", "2026-02-28")
    assert (result.exit_code, result.stdout) == (0, f"{NCT} as of 2026-02-28: no version shown yet\n")
    assert json.loads(run("history", NCT, "--as-of", "2026-02-28", "--json").stdout) == []


def test_show_as_of_prints_the_latest_version_known_then(versions, run):
    v1, v2, v3 = versions
    assert json.loads(run("show", NCT, "--as-of", "2026-04-14").stdout) == v1
    assert json.loads(run("show", NCT, "--as-of", "2026-04-15").stdout) == v2
    assert json.loads(run("show", NCT, "--as-of", "2026-04-16").stdout) == v3


def test_show_as_of_before_the_first_version_is_an_error(versions, run):
    result = run("show", NCT, "--as-of", "2026-02-28")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {NCT} had no version shown by the end of 2026-02-28 (UTC)\n"


def test_as_of_usage_errors(versions, run):
    result = run("show", NCT, "--as-of", "2026-04-15", "--version", "1")
    assert (result.exit_code, result.stderr) == (2, "error: --version and --as-of cannot be combined\n")
    result = run("history", NCT, "--as-of", "2026-13-01")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: Invalid value for --as-of: '2026-13-01' is not a date: month 13 is not 1-12; use YYYY-MM-DD "
        "(see: regsync history --help)\n"
    )
    result = run("history", "NCT00000001", "--as-of", "2026-04-15")
    assert (result.exit_code, result.stderr) == (
        1, "error: NCT00000001 is not in the database (run: regsync sync NCT00000001)\n")


def test_every_date_option_takes_the_forms_of_since(versions, run):
    """Issue 19 item 7: --as-of and the dates of --from/--to take what --since takes."""
    v1, v2, v3 = versions
    assert json.loads(run("show", NCT, "--as-of", "2026-03").stdout) == v1  # from the month's first day
    assert json.loads(run("show", NCT, "--as-of", "today").stdout) == v3
    assert [r["version"] for r in json.loads(run("history", NCT, "--as-of", "2026-04-15T12:00:00Z", "--json").stdout)] == [1, 2]
    diffed = json.loads(run("diff", NCT, "--from", "2026-03", "--to", "today", "--json").stdout)
    assert (diffed["from_version"], diffed["to_version"]) == (1, 3)
