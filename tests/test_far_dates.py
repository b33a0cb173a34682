"""Issue 20 item 9: dates that are not ordinary. One reader for the whole library
(regsync.dates), so the obligations, the classifier's date deltas and the report read
``2027-6-3`` and ``2027-06-30T00:00:00`` alike; implausible dates (1800-01-01, 3026-01-01,
9999-12-31) are said as such, never computed with; and one sync with the clock far ahead
does not leave the real overdue notice unsaid."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from support.cli import Cli
from support.records import load

from regsync import dates
from regsync.classify import date_delta, parse_date
from regsync.cli import Clocks
from regsync.judge import diff_records
from regsync.obligations import State, obligation, parse_registry_date
from regsync.report import parse_day

AMG = "NCT06131398"


def sm(record: dict) -> dict:
    return record["protocolSection"]["statusModule"]


def amg_act(pcd: str = "2026-07-22") -> dict:
    """NCT06131398 as a phase 2 FDA-regulated drug trial (an ACT), primary completion
    ``pcd`` (ACTUAL); with the real one, results due 2027-07-22, overdue after 2027-08-21."""
    record = load(AMG)
    record["protocolSection"]["designModule"]["phases"] = ["PHASE2"]
    sm(record)["primaryCompletionDateStruct"] = {"date": pcd, "type": "ACTUAL"}
    return record


@pytest.mark.parametrize(("text", "same_as"), [
    ("2027-6-3", "2027-06-03"), ("2027-06-30T00:00:00", "2027-06-30"), ("2027-06-30T00:00:00Z", "2027-06-30"),
    (" 2027-06-30 ", "2027-06-30"), ("2027-6", "2027-06"),
])
def test_every_reader_reads_the_odd_forms_as_the_ordinary_one(text, same_as):
    assert parse_date(text) == parse_date(same_as) is not None
    assert parse_registry_date(text).day == parse_registry_date(same_as).day  # type: ignore[union-attr]
    assert parse_day(text) == parse_day(same_as) is not None
    assert date_delta(text, same_as) in ((0, None), (None, 0))


def test_the_obligation_and_the_diff_agree_on_a_date_with_single_digits():
    old = amg_act("2026-07-22")
    new = copy.deepcopy(old)
    sm(new)["primaryCompletionDateStruct"] = {"date": "2026-8-3", "type": "ACTUAL"}
    assert obligation(new, date(2026, 12, 1)).due_date == date(2027, 8, 3)
    [moved] = [c for c in diff_records(old, new) if c.path.endswith("primaryCompletionDateStruct")]
    assert moved.delta_days == 12 and "+12 days" in moved.summary


@pytest.mark.parametrize("typo", ["1800-01-01", "3026-01-01", "9999-12-31", "1800"])
def test_an_implausible_primary_completion_date_is_said_and_never_overdue(typo):
    for today in (date(2026, 12, 1), date(9999, 12, 31), date(1, 1, 1)):
        o = obligation(amg_act(typo), today)
        assert o.state is State.NOT_YET_DUE and o.due_date is None and o.days is None
        assert any(f"primary completion date {typo} is implausible" in n for n in o.notes), o.notes
        json.dumps(o.to_dict())


def test_an_implausible_start_date_is_said_not_estimated_from():
    record = amg_act()
    sm(record)["startDateStruct"] = {"date": "1800-01-01", "type": "ACTUAL"}
    o = obligation(record, date(2026, 12, 1))
    assert "start date 1800-01-01 is implausible (before 1950)" in o.reason


def test_a_date_a_century_after_the_submission_is_implausible():
    submitted = date(2025, 12, 18)
    assert dates.plausible(2125, submitted) and not dates.plausible(2126, submitted)
    assert not dates.plausible(1949) and dates.plausible(1950)


def test_a_slip_to_an_implausible_date_is_said_not_measured():
    old = amg_act()
    for typo in ("1800-01-01", "3026-07-22", "9999-12-31"):
        new = copy.deepcopy(old)
        sm(new)["primaryCompletionDateStruct"] = {"date": typo, "type": "ACTUAL"}
        [moved] = [c for c in diff_records(old, new) if c.path.endswith("primaryCompletionDateStruct")]
        assert moved.delta_days is None and moved.delta_months is None
        assert f"{typo} is not a plausible date" in moved.summary


@pytest.fixture
def on(db_path, slept):
    def cli(day: date) -> Cli:
        return Cli(db_path, Clocks(sleep=slept.append, today=lambda: day))
    return cli


def test_a_stored_1800_typo_is_not_overdue_82520_days(fake_api, on):
    _registry, server = fake_api([amg_act("1800-01-01")])
    run = on(date(2026, 12, 1))
    result = run("sync", AMG, api_url=server.url)
    assert result.exit_code == 0 and "overdue" not in result.stdout
    [row] = json.loads(run("obligations", "--json").stdout)["studies"]
    assert (row["state"], row["due_date"], row["days"]) == ("not-yet-due", None, None)
    assert "primary completion date 1800-01-01 is implausible (before 1950)" in row["notes"][0]
    assert run("obligations", "--state", "overdue").stdout == "no stored study matches\n"


@pytest.mark.parametrize("typo", ["9999-12-31", "3026-01-01", "1800-01-01"])
def test_far_dates_and_the_last_day_raise_nowhere(fake_api, on, typo):
    _registry, server = fake_api([amg_act(typo)])
    assert on(date(2026, 12, 1))("sync", AMG, api_url=server.url).exit_code == 0
    far = on(date(9999, 12, 31))
    for args in (("obligations",), ("obligations", "--json"), ("status",), ("history", AMG, "--as-of", "9999-12-31"),
                 ("show", AMG, "--as-of", "9999-12-31"), ("changes", "--since", "9999-12-31")):
        result = far(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_one_sync_with_the_clock_a_year_ahead_does_not_silence_the_real_notice(fake_api, on):
    """Results due 2027-07-22, overdue after 2027-08-21. One run with the clock a year ahead
    says "overdue" (the clock is wrong: nothing can tell); the real day it becomes overdue
    is still said, once."""
    _registry, server = fake_api([amg_act()])
    assert "overdue" in on(date(2028, 8, 22))("sync", AMG, "--quiet", api_url=server.url).stdout
    assert on(date(2027, 8, 21))("sync", AMG, "--quiet", "--force", api_url=server.url).stdout == ""  # still in grace
    result = on(date(2027, 8, 22))("sync", AMG, "--quiet", "--force", api_url=server.url)
    assert result.stdout.startswith(f"{AMG} results overdue 31 days: due 2027-07-22"), result.output
    assert on(date(2027, 8, 23))("sync", AMG, "--quiet", "--force", api_url=server.url).stdout == ""  # said once
    assert on(date(2028, 9, 1))("sync", AMG, "--quiet", "--force", api_url=server.url).stdout == ""  # and not again
