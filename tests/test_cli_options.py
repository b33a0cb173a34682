"""Option values (issue 10 item 4, issue 11 item 14): non-finite and absurd numbers are usage
errors, one line naming the option (or its environment variable) and the allowed range, exit
2, before anything is opened or sent."""

from __future__ import annotations

import pytest
from support.mocks import mock_version

# (command, option, bad value, the allowed range as the error states it)
FLOATS = [
    (["sync"], "--timeout", "0.1 to 600"),
    (["sync"], "--max-wait", "0 to 86400"),
    (["sync"], "--delay", "0 to 60"),
    (["sync"], "--recheck", "0 to 1"),
    (["sync"], "--wait", "0 to 86400"),
    (["reclassify"], "--wait", "0 to 86400"),
    (["watch", "add", "NCT07240987"], "--wait", "0 to 86400"),
]
BAD_FLOATS = ["nan", "inf", "-inf", "1e400", "1e9", "NaN", "-1", "ten"]


def _bounded_message(option: str, value: str, allowed: str, kind: str = "a number") -> str:
    return f"error: Invalid value for '{option}': {value!r} is not {kind} from {allowed}"


@pytest.mark.parametrize("value", BAD_FLOATS)
@pytest.mark.parametrize("command, option, allowed", FLOATS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_non_finite_and_absurd_float_options_are_usage_errors(run, api, db_path, command, option, allowed, value):
    if value == "1e9" and option == "--recheck":
        value = "2"
    result = run(*command, option, value)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        _bounded_message(option, value, allowed) + f" (see: regsync {' '.join(command[:2 if command[0] == 'watch' else 1])} --help)"
    ]
    assert not db_path.exists()  # refused before the database is touched
    assert len(api.calls) == 0


ENV_FLOATS = [
    ("REGSYNC_TIMEOUT", "--timeout", "0.1 to 600"),
    ("REGSYNC_MAX_WAIT", "--max-wait", "0 to 86400"),
    ("REGSYNC_DELAY", "--delay", "0 to 60"),
    ("REGSYNC_RECHECK", "--recheck", "0 to 1"),
    ("REGSYNC_WAIT", "--wait", "0 to 86400"),
    ("REGSYNC_RETRIES", "--retries", "0 to 100"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "123456789012345678901"])
@pytest.mark.parametrize("var, option, allowed", ENV_FLOATS)
def test_the_same_through_the_environment_names_the_variable(run, api, db_path, monkeypatch, var, option, allowed, value):
    monkeypatch.setenv(var, value)
    result = run("sync")
    assert result.exit_code == 2, result.output
    kind = "an integer" if option == "--retries" else "a number"
    assert result.stderr.splitlines() == [
        _bounded_message(option, value, allowed, kind) + f" (from {var}) (see: regsync sync --help)"
    ]
    assert not db_path.exists()


INTS = [
    (["sync"], "--retries", "0 to 100"),
    (["changes"], "--limit", "1 to 1000000000"),
    (["status"], "--runs", "1 to 1000000"),
    # show --version and diff --from/--to take more than a number (3a, first, latest, a date):
    # tests/test_new_user.py and test_show_version_names_its_forms below
]


@pytest.mark.parametrize("value", ["12345678901234567890123", "-12345678901234567890123", "0", "1.5", "nan"])
@pytest.mark.parametrize("command, option, allowed", INTS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_huge_integers_are_usage_errors(run, db_path, command, option, allowed, value):
    if option == "--retries" and value == "0":
        value = "101"  # 0 retries is allowed
    result = run(*command, option, value)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        _bounded_message(option, value, allowed, "an integer") + f" (see: regsync {command[0]} --help)"
    ]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value, what", [
    ("12345678901234567890123", "is not a version: numbers run from 1 to 1000000000"),
    ("0", "is not a version: numbers run from 1 to 1000000000"),
    ("1.5", "is not a version"), ("nan", "is not a version"),
])
def test_show_version_names_its_forms(run, value, what):
    result = run("show", "NCT07240987", "--version", value)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '--version': '{value}' {what}; use N (a version number from 1; 3a for a "
        "variant), first, latest or a date (YYYY-MM-DD) (see: regsync show --help)\n"
    )


def test_values_inside_the_ranges_are_accepted(run, api):
    mock_version(api)
    result = run("sync", "--timeout", "600", "--max-wait", "86400", "--delay", "0", "--recheck", "1",
                 "--retries", "100", "--wait", "0", "--force", "NCT07240987")
    # The study itself is not mocked: a per-study failure, exit 1, not a usage error.
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: NCT07240987")
