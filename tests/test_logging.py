"""Logging (issue 5, item 7): `-v` logs requests, retries and timings to stderr;
`--log-file PATH` (env REGSYNC_LOG_FILE) appends them with timestamps; without either,
the output is exactly the documented lines. Real subprocesses against the fake API."""

from __future__ import annotations

import re

import pytest

from support.fakeapi import Fault
from support.procs import run_regsync
from support.results import summary

DEFAULT = "NCT07240987"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def request_line(url: str, status: int) -> str:
    return STAMP + rf" INFO regsync\.client: GET {re.escape(url)} -> {status} \(\d+ bytes, \d+\.\d{{3}} s\)"


RETRY = STAMP + r" INFO regsync\.client: NCT07240987: HTTP 503 \(server error\); retry 1 in \d\.\d s"


def _expected_log(url: str) -> list[str]:
    study = f"{url}/studies/{DEFAULT}?format=json&markupFormat=markdown"
    return [request_line(f"{url}/version", 200), request_line(study, 503), RETRY, request_line(study, 200)]


def test_default_output_is_only_the_documented_lines(fake, tmp_path):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(503))  # a retry happens, silently
    result = run_regsync(tmp_path / "r.db", server.url, "sync")
    assert result.returncode == 0
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert result.stderr == summary(1, new=1, mode="full", requests=3) + "\n"
    # --quiet (cron): nothing at all when nothing happened.
    quiet = run_regsync(tmp_path / "r.db", server.url, "sync", "--quiet", "--force")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    # --json: JSON Lines on stdout, nothing on stderr.
    as_json = run_regsync(tmp_path / "r.db", server.url, "sync", "--json", "--force")
    assert as_json.stderr == "" and as_json.stdout.count("\n") == 1


def test_verbose_logs_requests_retries_and_timings_to_stderr(fake, tmp_path):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(503))
    result = run_regsync(tmp_path / "r.db", server.url, "-v", "sync")
    assert result.returncode == 0
    assert result.stdout == f"{DEFAULT} new (v1)\n"  # stdout is not touched by logging
    lines = result.stderr.splitlines()
    assert len(lines) == 5, lines
    for pattern, line in zip(_expected_log(server.url), lines):
        assert re.fullmatch(pattern, line), (pattern, line)
    assert lines[-1] == summary(1, new=1, mode="full", requests=3)


def test_verbose_logs_giving_up(fake, tmp_path):
    registry, server = fake
    registry.fail(DEFAULT, *[Fault.status(503)] * 5)
    result = run_regsync(tmp_path / "r.db", server.url, "-v", "sync", "--max-wait", "0")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        STAMP + r" WARNING regsync\.client: NCT07240987: HTTP 503 \(server error\); "
        r"giving up \(retry budget of 0 s spent\)",
        lines[2],
    ), lines
    assert lines[3:] == [
        f"error: {DEFAULT}: HTTP 503 (server error) after 1 attempt",
        summary(1, failed=1, mode="full", requests=2),
    ]


@pytest.mark.parametrize("how", ["option", "env"])
def test_log_file_gets_timestamps_requests_retries_timings_and_stderr_stays_quiet(fake, tmp_path, how):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(503))
    log = tmp_path / "logs" / "regsync.log"
    log.parent.mkdir()
    if how == "option":
        result = run_regsync(tmp_path / "r.db", server.url, "--log-file", str(log), "sync")
    else:
        result = run_regsync(tmp_path / "r.db", server.url, "sync", REGSYNC_LOG_FILE=str(log))
    assert result.returncode == 0
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert result.stderr == summary(1, new=1, mode="full", requests=3) + "\n"
    lines = log.read_text().splitlines()
    assert len(lines) == 4, lines
    for pattern, line in zip(_expected_log(server.url), lines):
        assert re.fullmatch(pattern, line), (pattern, line)
    # Appended, not overwritten, by the next run.
    run_regsync(tmp_path / "r.db", server.url, "--log-file", str(log), "sync", "--force")
    assert len(log.read_text().splitlines()) == 6


def test_unwritable_log_file_is_a_usage_error(tmp_path):
    result = run_regsync(tmp_path / "r.db", None, "--log-file", str(tmp_path / "no" / "x.log"), "status")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: Invalid value for --log-file: cannot write {tmp_path / 'no' / 'x.log'}: "
        "No such file or directory (see: regsync --help)\n"
    )
    assert "Traceback" not in result.stderr
