"""What a new user trips on (issue 22): options in the wrong place, values whose error does
not say what is accepted, wording. Each message is asserted whole: it is the product."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from regsync.cli import Clocks, cli


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), prog_name="regsync", obj=Clocks(sleep=lambda s: None), env=env)


# -- item 4: global options after the command ------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["sync", "-v"], "-v goes before the command: regsync -v sync ..."),
    (["sync", "-vv"], "-v goes before the command: regsync -vv sync ..."),
    (["status", "--verbose"], "--verbose goes before the command: regsync --verbose status ..."),
    (["history", "NCT07240987", "--db", "x.db"], "--db goes before the command: regsync --db x.db history ..."),
    (["history", "NCT07240987", "--db=x y.db"], "--db goes before the command: regsync --db 'x y.db' history ..."),
    (["watch", "list", "--api-url", "http://127.0.0.1:1"],
     "--api-url goes before the command: regsync --api-url http://127.0.0.1:1 watch list ..."),
    (["sync", "--log-file", "run.log"], "--log-file goes before the command: regsync --log-file run.log sync ..."),
])
def test_a_global_option_after_the_command_says_where_it_goes(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message} (see: regsync --help)\n"
    assert list(tmp_path.iterdir()) == []  # refused before anything is opened


def test_a_misspelt_option_keeps_clicks_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("status", "--dbb", "x.db")
    assert result.exit_code == 2
    assert result.stderr == "error: No such option '--dbb'. (see: regsync status --help)\n"


# -- item 8: what --from and --to take, and which part of a date is wrong ---------------------

FORMS = "use N (a version number from 1; 3a for a variant), first, latest or a date (YYYY-MM-DD)"


@pytest.mark.parametrize("option", ["--from", "--to"])
@pytest.mark.parametrize("value, says", [
    ("2026-13-01", "is not a date: month 13 is not 1-12"),
    ("2026-02-30", "is not a date: February 2026 has no day 30"),
    ("2026-2-03", "is not a date: month and day take two digits"),
    ("0", "is not a version: numbers run from 1 to 1000000000"),
    ("12345678901234567890123", "is not a version: numbers run from 1 to 1000000000"),
    ("-1", "is not a version"),
    ("1.5", "is not a version"),
    ("nan", "is not a version"),
    ("newest", "is not a version"),
])
def test_diff_versions_name_every_form_and_the_wrong_part(tmp_path, monkeypatch, option, value, says):
    monkeypatch.chdir(tmp_path)
    result = invoke("diff", "NCT07240987", option, value)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '{option}': {value!r} {says}; {FORMS} (see: regsync diff --help)\n"
    )


@pytest.mark.parametrize("value, expected", [("3", 3), (" latest ", "latest"), ("FIRST", "first"),
                                             ("2026-02-28", "2026-02-28")])
def test_diff_versions_accept_every_form(value, expected):
    from regsync.params import VERSION_REF

    assert VERSION_REF.convert(value, None, None) == expected


# -- item 9: validation left over ------------------------------------------------------------


@pytest.mark.parametrize("env, args", [
    ({}, ["--mail-to", "not an address"]),
    ({}, ["--mail-to", "trials@example.org, qa"]),
    ({"REGSYNC_MAIL_TO": "trials@example.org qa"}, []),
    ({}, ["--mail-to", "trials@example.org", "--mail-from", "regsync"]),
])
def test_a_mail_address_that_is_none_is_a_usage_error(tmp_path, monkeypatch, env, args):
    monkeypatch.chdir(tmp_path)
    result = invoke("sync", *args, env=env)
    assert (result.exit_code, result.stdout) == (2, "")
    option = "--mail-from" if "--mail-from" in args else "--mail-to"
    shown = "not an address" if "not an address" in args else "regsync" if option == "--mail-from" else "qa"
    where = " (from REGSYNC_MAIL_TO)" if env else ""
    assert result.stderr == (
        f"error: Invalid value for '{option}': {shown!r} is not an e-mail address "
        f"(name@host; separate several with commas){where} (see: regsync sync --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_bad_api_url_in_the_environment_names_the_variable_and_stops_only_what_asks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"REGSYNC_API_URL": "foo"}
    message = ("error: Invalid value for '--api-url': 'foo': expected an http:// or https:// URL, e.g. "
               "https://clinicaltrials.gov/api/v2 (from REGSYNC_API_URL) (see: regsync --help)\n")
    for command in (["sync"], ["backfill"]):
        result = invoke(*command, env=env)
        assert (result.exit_code, result.stderr) == (2, message)
        assert list(tmp_path.iterdir()) == []  # refused before the database is created
    # status, history and the other readers make no request: the variable is not theirs to judge.
    result = invoke("status", env=env)
    assert (result.exit_code, result.stderr) == (4, "error: no database at regsync.db (run `regsync sync` first, or pass --db)\n")
    # Typed on the command line, it is wrong whatever the command.
    result = invoke("--api-url", "foo", "status")
    assert result.exit_code == 2 and "(from" not in result.stderr


def test_a_bad_log_file_in_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("status", env={"REGSYNC_LOG_FILE": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for --log-file: {tmp_path} is a directory, not a regular file "
        "(from REGSYNC_LOG_FILE) (see: regsync --help)\n"
    )
