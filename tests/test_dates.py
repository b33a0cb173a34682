"""Dates and times a person reads and types (issue 10 item 18): `history` marks its times as
UTC, `changes --since` takes the forms people type (relative ones counted from an injected
clock, never today's date), and an impossible NCT ID says why it is refused."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime

import pytest
from support.cli import Cli
from support.mocks import mock_study, mock_version
from support.records import edit, load

from regsync.cli import Clocks

DEFAULT = "NCT07240987"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
V2_DETECTED = "2026-11-20T10:00:00.000000Z"
V3_DETECTED = "2026-11-30T20:00:00.000000Z"


@pytest.fixture
def cli(db_path, slept) -> Cli:
    return Cli(db_path, Clocks(sleep=slept.append, now=lambda: NOW))


@pytest.fixture
def three_versions(api, cli, db_path):
    """Three versions of NCT07240987; the changes into v2 and v3 detected at known times."""
    v1 = load(DEFAULT)
    v2 = edit(v1, "2026-02-01", overallStatus="RECRUITING")
    v3 = edit(v2, "2026-06-01", primaryCompletionDateStruct={"date": "2027-12-31", "type": "ESTIMATED"})
    mock_version(api)
    for record in (v1, v2, v3):
        mock_study(api, record)
    for _ in range(3):
        assert cli("sync", "--force").exit_code == 0
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE changes SET detected_at = ? WHERE to_version = 2", [V2_DETECTED])
        conn.execute("UPDATE changes SET detected_at = ? WHERE to_version = 3", [V3_DETECTED])
    return v1, v2, v3


def test_history_times_say_they_are_utc(three_versions, cli):
    out = cli("history", DEFAULT).stdout.splitlines()
    assert out[1].split() == ["version", "submitted", "posted", "stored", "source", "status", "hash"]
    for line in out[3:]:
        assert re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  ", line), line
    rows = json.loads(cli("history", DEFAULT, "--json").stdout)
    for row in rows:  # JSON stays ISO 8601 with its Z
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["fetched_at"]), row


@pytest.mark.parametrize(
    "since, versions",
    [
        ("2026-11-30", [3]),
        ("2026-11", [3, 2]),
        ("2026-12", []),
        ("2026", [3, 2]),
        ("2027", []),
        ("7d", [3]),
        ("2w", [3, 2]),
        ("12h", [3]),
        ("6h", []),
        ("today", []),
        ("Yesterday", [3]),
        ("2026-11-30T19:59:59Z", [3]),
        ("2026-11-30T21:00:00+01:00", [3]),  # 20:00 UTC: on or after, so included
        ("2026-11-30T21:00:01+01:00", []),
        ("2026-11-30 20:00", [3]),  # no zone: UTC, like every time regsync shows
        ("2026-11-20T10:00:00.000001Z", [3]),
    ],
)
def test_since_takes_dates_months_years_spans_words_and_datetimes(three_versions, cli, since, versions):
    result = cli("changes", "--since", since, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted({r["to_version"] for r in rows}, reverse=True) == versions


@pytest.mark.parametrize("since", ["lastweek", "7", "d", "-7d", "2026-11-30T25:00", ""])
def test_since_anything_else_is_one_clear_error(three_versions, cli, since):
    result = cli("changes", "--since", since)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: Invalid value for '--since': {since!r} is not a date or time; use YYYY-MM-DD, "
        "YYYY-MM, YYYY, an ISO datetime, 12h, 7d, 2w, today or yesterday (see: regsync changes --help)\n"
    )


@pytest.mark.parametrize("value", ["NCT00000000", "nct0", "NCT000000000"])
def test_the_all_zero_nct_id_is_refused_for_what_it_is(run, value):
    result = run("history", value)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: invalid NCT ID {value!r}: NCT00000000 does not exist (the registry numbers "
        "studies from NCT00000001); 8 digits are fine, e.g. NCT07240987\n"
    )


def test_too_many_digits_says_how_many(run):
    result = run("history", "NCT123456789")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: invalid NCT ID 'NCT123456789': 9 digits after NCT; at most 8 (e.g. NCT07240987)\n"
    )


@pytest.mark.parametrize("since, problem", [
    ("2026-13", "month 13 is not 1-12"),
    ("2026-02-30", "February 2026 has no day 30"),
    ("2026-00-10", "month 00 is not 1-12"),
])
def test_since_a_mistyped_date_says_which_part_is_wrong(three_versions, cli, since, problem):
    result = cli("changes", "--since", since)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '--since': {since!r} is not a date: {problem}; use YYYY-MM-DD, "
        "YYYY-MM, YYYY, an ISO datetime, 12h, 7d, 2w, today or yesterday (see: regsync changes --help)\n"
    )
