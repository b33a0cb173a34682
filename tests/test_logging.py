"""Logging (issue 5, item 7): `-v` logs requests, retries and timings to stderr;
`--log-file PATH` (env REGSYNC_LOG_FILE) appends them with timestamps; without either,
the output is exactly the documented lines. Real subprocesses against the fake API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.fakeapi import Fault
from support.procs import run_regsync
from support.results import summary

DEFAULT = "NCT07240987"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


TIMING = re.compile(r"\(\d+ bytes, \d+\.\d{3} s\)")
RETRY_PAUSE = re.compile(r"retry (\d+) in \d\.\d s")


def story(text: str) -> list[str]:
    """Log lines without their timestamps (each checked to be there), sizes, timings and
    jittered pauses: what the log says, exactly."""
    lines = []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        clock, _, rest = rest.partition(" ")
        assert re.fullmatch(STAMP, f"{stamp} {clock}"), line
        rest = TIMING.sub("(N bytes, T s)", rest)
        lines.append(RETRY_PAUSE.sub(r"retry \1 in P s", rest))
    return lines


def asked(db, url: str, *middle: str, command: str = "sync", options: str = "") -> str:
    return (f"INFO regsync.cli: asked: regsync --db {db} --api-url {url} {' '.join(middle)} {command}".replace("  ", " ")
            + (f" {options}" if options else ""))


SYNC_DEFAULTS = "--wait 0 --timeout 30 --retries 4 --max-wait 120 --delay 0 --recheck 0.02 --transport requests"


def _expected_log(db, url: str, *middle: str) -> list[str]:
    study = f"{url}/studies/{DEFAULT}?format=json&markupFormat=markdown"
    return [
        asked(db, url, *middle, options=SYNC_DEFAULTS),
        f"INFO regsync.client: GET {url}/version -> 200 (N bytes, T s)",
        f"INFO regsync.client: GET {study} -> 503 (N bytes, T s)",
        "INFO regsync.client: NCT07240987: HTTP 503 (server error); retry 1 in P s",
        f"INFO regsync.client: GET {study} -> 200 (N bytes, T s)",
        "INFO regsync.cli: NCT07240987 new (v1)",
        "INFO regsync.cli: run 1 ok: " + summary(1, new=1, mode="full", requests=3),
    ]


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


def test_verbose_logs_requests_retries_timings_outcomes_and_the_summary_to_stderr(fake, tmp_path):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(503))
    db = tmp_path / "r.db"
    result = run_regsync(db, server.url, "-v", "sync")
    assert result.returncode == 0
    assert result.stdout == f"{DEFAULT} new (v1)\n"  # stdout is not touched by logging
    lines = result.stderr.splitlines()
    assert lines[-1] == summary(1, new=1, mode="full", requests=3)
    assert story("\n".join(lines[:-1])) == _expected_log(db, server.url, "-v")


def test_verbose_logs_giving_up(fake, tmp_path):
    registry, server = fake
    registry.fail(DEFAULT, *[Fault.status(503)] * 5)
    db = tmp_path / "r.db"
    result = run_regsync(db, server.url, "-v", "sync", "--max-wait", "0")
    assert result.returncode == 1
    logged = [line for line in result.stderr.splitlines() if re.match(STAMP, line)]
    printed = [line for line in result.stderr.splitlines() if not re.match(STAMP, line)]
    error = f"error: {DEFAULT}: HTTP 503 (server error) after 1 attempt"
    assert printed == [error, summary(1, failed=1, mode="full", requests=2)]
    study = f"{server.url}/studies/{DEFAULT}?format=json&markupFormat=markdown"
    assert story("\n".join(logged)) == [
        asked(db, server.url, "-v", options=SYNC_DEFAULTS.replace("--max-wait 120", "--max-wait 0")),
        f"INFO regsync.client: GET {server.url}/version -> 200 (N bytes, T s)",
        f"INFO regsync.client: GET {study} -> 503 (N bytes, T s)",
        "WARNING regsync.client: NCT07240987: HTTP 503 (server error); giving up (retry budget of 0 s spent)",
        f"ERROR regsync.cli: {error.removeprefix('error: ')}",
        "ERROR regsync.cli: run 1 failed: " + summary(1, failed=1, mode="full", requests=2),
    ]


def test_very_verbose_adds_the_requests_as_sent_and_the_pacing(run, api, slept):
    """-vv is DEBUG: each request as it is sent (attempt, timeout) and each pacing pause,
    which -v leaves out. In-process: the pacing sleep is recorded, not slept."""
    from support.mocks import API, mock_study, mock_version
    from support.records import load

    mock_version(api)
    mock_study(api, load(DEFAULT))
    very = run("-vv", "sync", "--delay", "1")
    assert very.exit_code == 0, very.output
    debug = [line for line in story(very.stderr.rsplit("\n", 2)[0]) if line.startswith("DEBUG")]
    assert [re.sub(r"\d\.\d{3} s before", "W s before", line) for line in debug] == [
        f"DEBUG regsync.client: sending GET {API}/version (attempt 1 of 5, timeout 30 s)",
        "DEBUG regsync.client: pacing: W s before the next request (--delay 1)",
        f"DEBUG regsync.client: sending GET {API}/studies/{DEFAULT}?format=json&markupFormat=markdown "
        "(attempt 1 of 5, timeout 30 s)",
    ]
    assert len(slept) == 1 and 0 < slept[0] <= 1
    verbose = run("-v", "sync", "--delay", "1", "--force")
    assert verbose.exit_code == 0
    assert "DEBUG" not in verbose.stderr and "INFO regsync.client: GET" in verbose.stderr


@pytest.mark.parametrize("how", ["option", "env"])
def test_log_file_gets_timestamps_requests_retries_timings_and_stderr_stays_quiet(fake, tmp_path, how):
    registry, server = fake
    registry.fail(DEFAULT, Fault.status(503))
    log = tmp_path / "logs" / "regsync.log"
    log.parent.mkdir()
    db = tmp_path / "r.db"
    if how == "option":
        result = run_regsync(db, server.url, "--log-file", str(log), "sync")
    else:
        result = run_regsync(db, server.url, "sync", REGSYNC_LOG_FILE=str(log))
    assert result.returncode == 0
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert result.stderr == summary(1, new=1, mode="full", requests=3) + "\n"
    study = f"{server.url}/studies/{DEFAULT}?format=json&markupFormat=markdown"
    expected = _expected_log(db, server.url, "--log-file", str(log))
    # The file is DEBUG: the requests as sent, too.
    expected[1:1] = [f"DEBUG regsync.client: sending GET {server.url}/version (attempt 1 of 5, timeout 30 s)"]
    expected[3:3] = [f"DEBUG regsync.client: sending GET {study} (attempt 1 of 5, timeout 30 s)"]
    expected[6:6] = [f"DEBUG regsync.client: sending GET {study} (attempt 2 of 5, timeout 30 s)"]
    assert story(log.read_text()) == expected
    assert log.stat().st_mode & 0o777 == 0o600  # it names the API and the studies asked for
    # Appended, not overwritten, by the next run.
    run_regsync(db, server.url, "--log-file", str(log), "sync", "--force")
    assert len(log.read_text().splitlines()) == len(expected) + 7


def test_unwritable_log_file_is_a_usage_error(tmp_path):
    result = run_regsync(tmp_path / "r.db", None, "--log-file", str(tmp_path / "no" / "x.log"), "status")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: Invalid value for --log-file: cannot write {tmp_path / 'no' / 'x.log'}: "
        "No such file or directory (see: regsync --help)\n"
    )
    assert "Traceback" not in result.stderr


def test_log_file_is_the_full_story_of_a_run(fake, tmp_path):
    """What was asked (credentials redacted), each study's outcome with its cause (aliases,
    changes and each flagged change, removals, errors, unchanged ones), and the summary."""
    from support.records import edit, load

    registry, server = fake
    changed, removed, failing, same = "NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568"
    registry.alias("NCT00000102", DEFAULT)
    db, log = tmp_path / "r.db", tmp_path / "sync.log"
    assert run_regsync(db, server.url, "watch", "add", changed, removed, failing, same, "NCT00000102").returncode == 0
    first = run_regsync(db, server.url, "--log-file", str(log), "sync")
    assert first.returncode == 0
    registry.add(edit(load(changed), "2026-10-01", overallStatus="TERMINATED", whyStopped="funding"))
    registry.remove(removed)
    registry.fail("studies", Fault.status(503))  # the batch fails: each study on its own
    registry.fail(failing, Fault.status(503))
    registry.data_timestamp = "2026-10-02T09:00:00"
    secret_url = server.url.replace("http://", "http://reader:s3cret@")
    second = run_regsync(db, secret_url, "--log-file", str(log), "sync", "--retries", "0", "--quiet")
    assert second.returncode == 1
    text = log.read_text()
    assert "s3cret" not in text
    told = [line for line in story(text) if " regsync.cli: " in line]
    defaults = SYNC_DEFAULTS.replace("--retries 4", "--retries 0")
    assert told == [
        asked(db, server.url, "--log-file", str(log), options=SYNC_DEFAULTS),
        f"INFO regsync.cli: {changed} new (v1)",
        f"INFO regsync.cli: {removed} new (v1)",
        f"INFO regsync.cli: {failing} new (v1)",
        f"INFO regsync.cli: {same} new (v1)",
        f"INFO regsync.cli: NCT00000102 -> {DEFAULT} (alias) new (v1)",
        "INFO regsync.cli: run 1 ok: " + summary(5, new=5, mode="full", requests=3),
        asked(db, server.url.replace("http://", "http://***@"), "--log-file", str(log),
              options="--quiet " + defaults),
        f"WARNING regsync.cli: {removed} removed: no longer returned by the registry (HTTP 404); stored versions kept",
        f"ERROR regsync.cli: {failing}: HTTP 503 (server error) after 1 attempt",
        f"DEBUG regsync.cli: {same} unchanged (v1)",
        f"DEBUG regsync.cli: {DEFAULT} unchanged (v1)",
        # A changed study is told once the run is judged as a whole (regsync.sentinel).
        f"INFO regsync.cli: {changed} changed v1 -> v2 [critical]: status",
        f"DEBUG regsync.cli: {changed}: critical status: Overall status: COMPLETED -> TERMINATED (no reason given)",
        f"DEBUG regsync.cli: {changed}: minor status: Why stopped: funding",
        "ERROR regsync.cli: run 2 partial: 5 studies: 0 new, 1 changed, 2 unchanged, 1 removed, 1 failed "
        "(full, 7 requests)",
    ]
    # The requests and their answers are there too, between the outcomes.
    assert f"INFO regsync.client: GET {server.url}/studies/{removed}" \
        f"?format=json&markupFormat=markdown -> 404 (N bytes, T s)" in story(text)


def test_an_error_that_ends_a_command_is_logged(tmp_path):
    log = tmp_path / "x.log"
    result = run_regsync(tmp_path / "r.db", "http://127.0.0.1:9/api/v2", "--log-file", str(log),
                         "sync", "NCT-1")
    assert result.returncode == 2
    assert story(log.read_text()) == [
        "ERROR regsync.cli: error: invalid NCT ID 'NCT-1': expected NCT followed by up to 8 digits "
        "(e.g. NCT07240987)"
    ]


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_log_file_that_is_not_a_regular_file_is_refused_before_it_is_opened(tmp_path, kind):
    # A FIFO with no reader would block the open for ever, even for `status`.
    import os

    path = tmp_path / "log"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/null")
    result = run_regsync(tmp_path / "r.db", None, "--log-file", str(path), "status")
    assert result.returncode == 2
    assert result.stdout == ""
    what = {"fifo": "a FIFO", "directory": "a directory", "device": "a character device"}[kind]
    assert result.stderr == (
        f"error: Invalid value for --log-file: {path} is {what}, not a regular file (see: regsync --help)\n"
    )


def test_a_full_disk_under_the_log_file_is_one_warning_line_and_the_run_goes_on(fake, tmp_path):
    """The log file cannot grow (RLIMIT_FSIZE at its size: writes fail with EFBIG, as ENOSPC
    would on a full disk; Python ignores SIGXFSZ): one warning line, not a traceback per
    record, and the sync itself completes and is stored."""
    import resource
    import subprocess

    from support.procs import HANG_GUARD, regsync_argv, regsync_env
    from support.results import db_versions

    _, server = fake
    log = tmp_path / "full.log"
    limit = 8 * 1024 * 1024  # far above what the database and its journal need
    with open(log, "wb") as f:
        f.truncate(limit)  # sparse: no real disk used

    def no_growth() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    db = tmp_path / "r.db"
    result = subprocess.run(
        [*regsync_argv(), "--db", str(db), "--api-url", server.url, "--log-file", str(log), "-v", "sync"],
        capture_output=True, text=True, env=regsync_env(), timeout=HANG_GUARD, preexec_fn=no_growth,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    warnings = [line for line in result.stderr.splitlines() if not re.match(STAMP, line)]
    assert warnings == [
        f"warning: cannot write to the log file {log} (File too large); logging there stopped",
        summary(1, new=1, mode="full", requests=2),
    ]
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    assert db_versions(db) == [1]


def test_what_was_asked_includes_ids_flags_and_repeated_options(run, api, tmp_path):
    from support.mocks import API

    log = tmp_path / "asked.log"
    result = run("--log-file", str(log), "watch", "add", "nct7240987", "--query", "AREA[Condition]asthma",
                 "--query", "lupus nephritis")
    assert result.exit_code == 0, result.output
    assert story(log.read_text()) == [
        f"INFO regsync.cli: asked: regsync --db {run.db_path} --api-url {API} --log-file {log} watch add "
        "nct7240987 --query 'AREA[Condition]asthma' --query 'lupus nephritis' --wait 0"
    ]
