"""Reading commands: history, show, diff, changes, watch, reclassify."""

from __future__ import annotations

import json
import re

import pytest
from responses import matchers

from support.mocks import API, mock_study, mock_version
from support.records import edit, load

DEFAULT = "NCT07240987"


@pytest.fixture
def three_versions(api, run):
    """NCT07240987 stored three times: as registered, recruiting, then a primary completion slip."""
    v1 = load(DEFAULT)
    v2 = edit(v1, "2026-02-01", overallStatus="RECRUITING",
              startDateStruct={"date": "2026-01-20", "type": "ACTUAL"})
    v3 = edit(v2, "2026-06-01", primaryCompletionDateStruct={"date": "2027-12-31", "type": "ESTIMATED"})
    mock_version(api)
    for record in (v1, v2, v3):
        mock_study(api, record)
    for _ in range(3):
        assert run("sync", "--force").exit_code == 0
    return v1, v2, v3


def test_history_text(three_versions, run):
    out = run("history", DEFAULT).stdout.splitlines()
    assert out[0] == f"{DEFAULT}: 3 versions"
    assert out[1].split() == ["version", "submitted", "posted", "stored", "source", "status", "hash"]
    assert out[3].split()[0] == "1" and "NOT_YET_RECRUITING" in out[3] and "2025-12-24" in out[3]
    assert out[4].split()[0] == "2" and "RECRUITING" in out[4] and "2026-02-01" in out[4]


def test_history_json_shape(three_versions, run):
    rows = json.loads(run("history", DEFAULT, "--json").stdout)
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert {"version", "fetched_at", "content_hash", "last_update_post_date", "overall_status"} <= set(rows[0])
    assert len({r["content_hash"] for r in rows}) == 3


def test_show_versions(three_versions, run):
    v1, _, v3 = three_versions
    assert json.loads(run("show", DEFAULT, "--version", "1").stdout) == v1
    assert json.loads(run("show", "nct7240987").stdout) == v3
    result = run("show", DEFAULT, "--version", "9")
    assert result.exit_code == 2
    assert result.stderr == f"error: {DEFAULT} has no version 9 (versions 1-3 are stored)\n"


def test_diff_defaults_to_latest_against_previous(three_versions, run):
    data = json.loads(run("diff", DEFAULT, "--json").stdout)
    assert (data["nct_id"], data["from_version"], data["to_version"]) == (DEFAULT, 2, 3)
    flagged = [c for c in data["changes"] if c["severity"] != "admin"]
    assert len(flagged) == 1
    change = flagged[0]
    assert change["category"] == "dates"
    assert change["path"] == "protocolSection.statusModule.primaryCompletionDateStruct"
    assert change["summary"] == "Primary completion date: 2027-06-30 -> 2027-12-31 (ESTIMATED, +184 days)"
    assert change["delta_days"] == 184
    assert {"category", "severity", "kind", "path", "old", "new", "summary", "rule", "milestone"} <= set(change)


def test_diff_any_two_versions_and_text_grouping(three_versions, run):
    result = run("diff", DEFAULT, "--from", "1", "--to", "3")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    # The newer version's registry dates first, when regsync stored it beside them.
    assert re.fullmatch(rf"{DEFAULT} v1 -> v3  \(submitted \d{{4}}-\d\d-\d\d, posted 2026-06-01\)",
                        lines[0]), lines[0]
    assert "status" in lines and "dates" in lines
    assert any("Overall status: NOT_YET_RECRUITING -> RECRUITING" in l and "[milestone]" in l for l in lines)
    assert lines[-1].startswith("+ ") and "registry bookkeeping" in lines[-1]
    assert "\x1b[" not in result.stdout  # no colour when not a terminal
    everything = run("diff", DEFAULT, "--from", "1", "--to", "3", "--all").stdout
    assert "admin" in everything and "registry bookkeeping" not in everything


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--from", "3", "--to", "2"], 2, "error: --from 3 is after --to 2 in the registry's order"),
        (["--to", "7"], 2, f"error: --to 7: {DEFAULT} has versions 1-3"),
        (["--from", "0", "--to", "2"], 2,
         "error: Invalid value for '--from': '0' is not a version: numbers run from 1 to 1000000000; use N (a version "
         "number from 1; 3a for a variant), first, latest or a date (YYYY-MM-DD) (see: regsync diff --help)"),
    ],
)
def test_diff_bad_versions(three_versions, run, args, code, message):
    result = run("diff", DEFAULT, *args)
    assert result.exit_code == code
    assert result.stderr == message + "\n"


def test_diff_unknown_study_and_single_version(api, run):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    run("sync")
    result = run("diff", "NCT00000001")
    assert result.exit_code == 1
    assert result.stderr == "error: NCT00000001 is not in the database (run: regsync sync NCT00000001)\n"
    result = run("diff", DEFAULT)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"{DEFAULT} v1 is the first version (the only one stored); nothing before it to compare\n"
    result = run("diff", DEFAULT, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"nct_id": DEFAULT, "from_version": None, "to_version": 1, "changes": []}
    result = run("diff", DEFAULT, "--from", "1", "--to", "1")
    assert (result.exit_code, result.stdout) == (0, f"{DEFAULT} v1 -> v1: the same version; no changes\n")
    assert json.loads(run("diff", DEFAULT, "--from", "1", "--to", "1", "--json").stdout)["changes"] == []


def test_changes_newest_first_and_filters(three_versions, run):
    rows = json.loads(run("changes", "--json").stdout)
    assert rows, "flagged changes expected"
    assert all(r["severity"] != "admin" for r in rows)
    assert [r["to_version"] for r in rows] == sorted((r["to_version"] for r in rows), reverse=True)
    assert {"nct_id", "from_version", "to_version", "detected_at", "summary", "rule"} <= set(rows[0])
    with_admin = json.loads(run("changes", "--severity", "admin", "--json").stdout)
    assert len(with_admin) > len(rows)
    dates = json.loads(run("changes", "--category", "dates", "--json").stdout)
    assert dates and {r["category"] for r in dates} == {"dates"}
    assert json.loads(run("changes", "--nct", "NCT00000001", "--json").stdout) == []
    assert json.loads(run("changes", "--since", "2999-01-01", "--json").stdout) == []
    text = run("changes").stdout
    assert "Primary completion date: 2027-06-30 -> 2027-12-31" in text


def test_categories_take_any_case_and_comma_lists(three_versions, run):
    every = {r["category"] for r in json.loads(run("changes", "--json").stdout)}
    assert {"dates", "status"} <= every
    dates = json.loads(run("changes", "--category", "dates", "--json").stdout)
    assert json.loads(run("changes", "--category", "Dates", "--json").stdout) == dates
    both = json.loads(run("changes", "--category", "DATES,status", "--json").stdout)
    assert {r["category"] for r in both} == {"dates", "status"}
    assert both == json.loads(run("changes", "--category", "dates", "--category", "status", "--json").stdout)


@pytest.mark.parametrize("command", ["changes", "feed"])
def test_an_unknown_category_lists_the_valid_ones(three_versions, run, command):
    result = run(command, "--category", "dates,Nonsense")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: unknown category 'Nonsense'; one of: status, dates, enrollment, arms, interventions, outcomes, "
        "eligibility, design, results, obligations, documents, sponsor, oversight, conditions, description, "
        f"identification, contacts, locations, references, ipd, registry, admin (see: regsync {command} --help)\n"
    )


def test_changes_bad_input(three_versions, run):
    assert run("changes", "--category", "nonsense").exit_code == 2
    result = run("changes", "--since", "someday")
    assert result.exit_code == 2 and "not a date" in result.stderr
    assert run("changes", "--severity", "huge").exit_code == 2


def test_reclassify_recomputes_the_same_changes(three_versions, run):
    before = json.loads(run("changes", "--severity", "admin", "--json").stdout)
    result = run("reclassify")
    assert result.exit_code == 0
    # Unchanged rules: a fixed point, nothing judged anew, every row (detection dates too) kept.
    assert result.stdout == "reclassified: 0 version pairs judged anew (0 changes); the others unchanged\n"
    after = json.loads(run("changes", "--severity", "admin", "--json").stdout)
    assert after == before


def test_watch_add_list_remove(run, db_path):
    assert run("watch", "add", "nct763412", "NCT06171568").stdout == "NCT00763412 added\nNCT06171568 added\n"
    assert run("watch", "add", "NCT00763412").stdout == "NCT00763412 already watched\n"
    listed = json.loads(run("watch", "list", "--json").stdout)
    assert [s["nct_id"] for s in listed["studies"]] == ["NCT00763412", "NCT06171568"]
    text = run("watch", "list").stdout
    assert "NCT00763412" in text and "(not synced yet)" in text
    assert run("watch", "remove", "NCT06171568", "NCT00000009").stdout == (
        "NCT06171568 removed\nNCT00000009 was not watched\n"
    )
    assert run("watch", "add", "--query", 'AREA[Condition]"kidney"').stdout == (
        "query 'AREA[Condition]\"kidney\"' added\n"
    )
    assert json.loads(run("watch", "list", "--json").stdout)["queries"][0]["expr"] == 'AREA[Condition]"kidney"'
    bad = run("watch", "add", "NCTXYZ")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: invalid NCT ID 'NCTXYZ'")
    assert run("watch", "add").exit_code == 2


def test_watchlist_drives_a_plain_sync(api, run):
    run("watch", "add", "NCT00763412", "NCT06171568")
    mock_version(api)
    api.get(f"{API}/studies", json={"studies": [load("NCT00763412"), load("NCT06171568")]},
            match=[matchers.query_param_matcher({"filter.ids": "NCT00763412,NCT06171568"}, strict_match=False)])
    result = run("sync")
    assert result.exit_code == 0
    assert result.stdout == "NCT00763412 new (v1)\nNCT06171568 new (v1)\n"


@pytest.mark.parametrize("command", [["history", DEFAULT], ["show", DEFAULT], ["diff", DEFAULT],
                                     ["changes"], ["status"], ["watch", "list"]])
def test_read_commands_on_a_missing_database_create_nothing(run, db_path, command):
    result = run(*command)
    assert result.exit_code == 4
    assert result.stderr == f"error: no database at {db_path} (run `regsync sync` first, or pass --db)\n"
    assert list(db_path.parent.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["sync", "--retries", "many"], "error: Invalid value for '--retries': 'many' is not an integer from 0 to 100 (see: regsync sync --help)"),
        (["frobnicate"], "error: No such command 'frobnicate'. (see: regsync --help)"),
        (["diff"], "error: Missing argument 'NCT_ID'. (see: regsync diff --help)"),
    ],
)
def test_bad_options_are_one_line_usage_errors(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.stdout == ""


def test_another_applications_database_is_left_alone(api, run, db_path):
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    before = db_path.read_bytes()
    result = run("watch", "add", DEFAULT)
    assert result.exit_code == 4
    assert result.stderr == f"error: {db_path} is not a regsync database; refusing to touch it\n"
    assert db_path.read_bytes() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]  # no .lock left beside it


def test_watch_list_cuts_long_titles_with_an_ellipsis(api, run):
    record = load(DEFAULT)
    record["protocolSection"]["identificationModule"]["briefTitle"] = "Umbilical cord " * 10
    mock_version(api)
    mock_study(api, record)
    run("watch", "add", DEFAULT)
    run("sync")
    row = run("watch", "list").stdout.splitlines()[-1]
    title = row.split("  ")[-1]
    assert title.endswith("…") and len(title) == 60
    assert title == ("Umbilical cord " * 10)[:59].rstrip() + "…"
