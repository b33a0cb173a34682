"""Obligations stored per version, recomputed by reclassify, edits that move a deadline as
changes, the cron line of a trial becoming overdue, `regsync obligations` and the status
line (issue 13 items 1-3). Driven through the CLI against the local fake API; the day the
obligations are judged on is handed in (``Clocks(today=...)``), never read from the clock."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from support.cli import Cli
from support.records import load

from regsync.cli import Clocks
from regsync.store import Store

AMG = "NCT06131398"
PALLAS = "NCT02513394"


def sm(record: dict) -> dict:
    return record["protocolSection"]["statusModule"]


def amg_act() -> dict:
    """NCT06131398 as a phase 2 trial: an FDA-regulated drug ACT, actual primary completion
    2026-07-22, results due 2027-07-22, overdue after 2027-08-21."""
    record = load(AMG)
    record["protocolSection"]["designModule"]["phases"] = ["PHASE2"]
    return record


def slipped(record: dict) -> dict:
    """The next version: submitted 2027-09-01, primary completion moved to 2027-06-30."""
    new = copy.deepcopy(record)
    sm(new)["primaryCompletionDateStruct"] = {"date": "2027-06-30", "type": "ESTIMATED"}
    sm(new)["lastUpdateSubmitDate"] = "2027-09-01"
    sm(new)["lastUpdatePostDateStruct"] = {"date": "2027-09-02", "type": "ACTUAL"}
    return new


def sm_edit(record: dict, submitted: str, **status: object) -> dict:
    new = copy.deepcopy(record)
    sm(new).update(status, lastUpdateSubmitDate=submitted)
    new["protocolSection"]["identificationModule"]["briefTitle"] += " (v3)"
    return new


@pytest.fixture
def on(db_path, slept):
    """``on(date)``: the CLI on ``db_path`` with obligations judged on that day."""
    def cli(day: date) -> Cli:
        return Cli(db_path, Clocks(sleep=slept.append, today=lambda: day))
    return cli


def stored(db_path, nct_id: str) -> list[tuple]:
    store = Store.open_read(db_path)
    try:
        return [
            (r[0], r[1], r[2], r[3], r[4] == r[5][:10])
            for r in store.conn.execute(
                "SELECT o.version, o.applicability, o.due_date, o.overdue_after, o.as_of, v.fetched_at "
                "FROM obligations o JOIN versions v USING (nct_id, version) WHERE o.nct_id = ? ORDER BY o.version",
                [nct_id],
            )
        ]
    finally:
        store.close()


def test_every_stored_version_has_its_obligation_judged_on_its_fetch_day(fake_api, on, db_path):
    registry, server = fake_api([amg_act()])
    run = on(date(2026, 12, 1))
    assert run("sync", AMG, api_url=server.url).exit_code == 0
    registry.add(slipped(amg_act()))
    registry.data_timestamp = "2027-09-03T09:00:00"
    assert run("sync", AMG, api_url=server.url).exit_code == 0
    assert stored(db_path, AMG) == [
        (1, "ACT", "2027-07-22", "2027-08-21", True),
        (2, "ACT", "2028-06-30", "2028-07-30", True),
    ]


def test_reclassify_recomputes_every_versions_obligation(fake_api, on, db_path):
    _registry, server = fake_api([amg_act()])
    run = on(date(2026, 12, 1))
    assert run("sync", AMG, api_url=server.url).exit_code == 0
    with Store.open_write(db_path) as store:  # as if written by an older rule
        store.conn.execute("UPDATE obligations SET applicability = 'pACT', due_date = '2000-01-01'")
        store.conn.execute("DELETE FROM changes")
    assert run("reclassify").exit_code == 0
    assert stored(db_path, AMG) == [(1, "ACT", "2027-07-22", "2027-08-21", True)]


def test_a_database_from_before_obligations_gets_them_on_upgrade(fake_api, on, db_path):
    _registry, server = fake_api([amg_act(), load(PALLAS)])
    assert on(date(2026, 12, 1))("sync", AMG, PALLAS, api_url=server.url).exit_code == 0
    with Store.open_write(db_path) as store:  # back to the schema before 0007
        store.conn.execute("DROP TABLE obligations")
        store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_obligations'")
    with pytest.raises(Exception, match="older"):
        Store.open_read(db_path).close()
    assert on(date(2026, 12, 1))("watch", "list").exit_code == 4  # a reader does not
    assert on(date(2026, 12, 1))("watch", "add", AMG).exit_code == 0  # a writer upgrades it, data too
    assert stored(db_path, AMG) == [(1, "ACT", "2027-07-22", "2027-08-21", True)]
    assert stored(db_path, PALLAS) == [(1, "pACT", "2021-11-30", "2021-12-30", True)]


def test_a_primary_completion_slip_that_clears_overdue_is_a_critical_change(fake_api, on):
    registry, server = fake_api([amg_act()])
    run = on(date(2027, 9, 3))
    assert run("sync", AMG, api_url=server.url).exit_code == 0
    registry.add(slipped(amg_act()))
    registry.data_timestamp = "2027-09-03T09:00:00"
    result = run("sync", AMG, api_url=server.url)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith(f"{AMG} changed v1 -> v2 [critical]")
    [change] = json.loads(run("changes", "--category", "obligations", "--json").stdout)
    assert (change["severity"], change["rule"], change["to_version"]) == ("critical", "obligations.overdue_cleared", 2)
    assert change["summary"] == (
        "Results obligation: results due date 2027-07-22 -> 2028-06-30 (+344 days); "
        "on 2027-09-01: overdue 41 days -> not yet due"
    )
    assert (change["obligation"]["before"]["state"], change["obligation"]["after"]["state"]) == ("overdue", "not-yet-due")
    # `regsync diff` shows it too, and so does a pair never classified together
    assert "Results obligation: results due date 2027-07-22 -> 2028-06-30" in run("diff", AMG).stdout
    registry.add(sm_edit(slipped(amg_act()), "2027-09-02", overallStatus="COMPLETED"))
    registry.data_timestamp = "2027-09-04T09:00:00"
    assert run("sync", AMG, api_url=server.url).exit_code == 0
    assert "Results obligation: results due date 2027-07-22 -> 2028-06-30" in run(
        "diff", AMG, "--from", "1", "--to", "3").stdout
    listing = run("obligations").stdout.splitlines()[:4]  # v3 moved nothing: v2 is still the edit
    assert listing == [
        "results obligations on 2027-09-03",
        "nct_id       applicability  due         state        deadline moved",
        "-----------  -------------  ----------  -----------  --------------",
        "NCT06131398  ACT            2028-06-30  not yet due  v2 2027-09-01",
    ]


def test_a_trial_becoming_overdue_gets_one_cron_line(fake_api, on):
    _registry, server = fake_api([amg_act()])
    assert "overdue" not in on(date(2027, 8, 21))("sync", AMG, "--quiet", api_url=server.url).stdout  # last day of grace
    result = on(date(2027, 8, 22))("sync", AMG, "--quiet", api_url=server.url)
    assert result.exit_code == 0
    assert result.stdout == (
        f"{AMG} results overdue 31 days: due 2027-07-22 (primary completion date 2026-07-22 + 1 year), "
        "the 30-day grace ended 2027-08-21\n"
    )
    assert on(date(2027, 8, 23))("sync", AMG, "--quiet", api_url=server.url).stdout == ""  # said once


def test_the_overdue_line_in_json(fake_api, on):
    _registry, server = fake_api([amg_act()])
    result = on(date(2027, 9, 1))("sync", AMG, "--json", api_url=server.url)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"nct_id": AMG, "status": "overdue", "due_date": "2027-07-22",
                         "overdue_after": "2027-08-21", "days": 41,
                         "basis": "primary completion date 2026-07-22 + 1 year"}


def test_obligations_over_the_fixtures(fake, on):
    _registry, server = fake
    run = on(date(2026, 12, 1))
    ids = ["NCT00763412", "NCT00973089", PALLAS, AMG, "NCT06171568", "NCT07240987"]
    assert run("sync", *ids, api_url=server.url).exit_code == 0
    result = run("obligations")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [
        "results obligations on 2026-12-01",
        "nct_id       applicability   due         state                  deadline moved",
        "-----------  --------------  ----------  ---------------------  --------------",
        "NCT02513394  pACT            2021-11-30  reported late 63 days",
        "NCT00763412  not applicable              not applicable",
        "NCT00973089  not applicable              not applicable",
        "NCT06131398  not applicable              not applicable",
        "NCT06171568  not applicable              not applicable",
        "NCT07240987  not applicable              not applicable",
        "",
        "record updates that appear due (42 CFR 11.64):",
        "NCT02513394  statusVerifiedDate 2023-04 is more than 12 months old (42 CFR 11.64(a)(1)(i))",
        "NCT02513394  completion date 2025-09 (taken as 2025-09-30) has passed but overallStatus is still ACTIVE_NOT_RECRUITING",
    ]
    assert run("obligations", "--state", "reported-late", "--state", "overdue").stdout.splitlines()[3:4] == [
        "NCT02513394  pACT           2021-11-30  reported late 63 days",
    ]
    [pallas] = json.loads(run("obligations", "--nct", PALLAS, "--json").stdout)["studies"]
    assert {k: pallas[k] for k in ("nct_id", "version", "applicability", "state", "days", "due_date",
                                    "overdue_after", "results_submitted", "results_posted", "deadline_moved")} == {
        "nct_id": PALLAS, "version": 1, "applicability": "pACT", "state": "reported-late", "days": 63,
        "due_date": "2021-11-30", "overdue_after": "2021-12-30", "results_submitted": "2022-02-01",
        "results_posted": "2022-04-13", "deadline_moved": None,
    }
    assert [d["id"] for d in pallas["duties"]] == ["verification-stale", "completion-passed"]
    status = run("status").stdout.splitlines()
    assert status[-1] == (
        "obligations on 2026-12-01: 0 overdue, 0 due (in grace), 0 submitted (QC), 1 reported late, "
        "0 reported on time, 0 not yet due, 5 not applicable"
    )
    counts = json.loads(run("status", "--json").stdout)["obligations"]
    assert counts == {"as_of": "2026-12-01", "overdue": 0, "due": 0, "submitted": 0, "reported-late": 1,
                      "reported": 0, "not-yet-due": 0, "not-applicable": 5}


def test_obligations_with_a_bad_state_is_a_usage_error(fake, on):
    result = on(date(2026, 12, 1))("obligations", "--state", "late")
    assert result.exit_code == 2
    assert "'late' is not one of" in result.stderr


def test_obligations_of_an_empty_selection(fake, on):
    _registry, server = fake
    run = on(date(2026, 12, 1))
    assert run("sync", PALLAS, api_url=server.url).exit_code == 0
    assert run("obligations", "--state", "overdue").stdout == "no stored study matches\n"
