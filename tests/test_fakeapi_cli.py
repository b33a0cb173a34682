"""The fake API's own command line (issue 10 item 20): it scripts a change, a removal, an alias
and faults from the shell, so README's session (first sync, watch add, the next night's
change, nothing to do) reproduces with shell commands only; bad values and a busy port are one
line each. Real processes: the module and the installed regsync."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakeapi import Fault
from support.fakeapi.__main__ import FaultSpec
from support.procs import HANG_GUARD, regsync_argv, regsync_env

TESTS = Path(__file__).resolve().parent
README = (TESTS.parent / "README.md").read_text()


def _fake(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "support.fakeapi", *args], cwd=TESTS, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture
def fake_cli() -> Iterator:
    """Start ``python -m support.fakeapi ARGS`` (port 0 unless given): -> (url, process)."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[str, subprocess.Popen[str]]:
        proc = _fake(*args) if "--port" in args else _fake("--port", "0", *args)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fake ClinicalTrials.gov API: "), (line, proc.stderr.read() if proc.poll() is not None else "")
        return line.split()[3], proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=HANG_GUARD)


def regsync(db: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*regsync_argv(), *args], capture_output=True, text=True, timeout=HANG_GUARD,
        env=regsync_env(REGSYNC_API_URL=url, REGSYNC_DB=str(db)),
    )


def _readme_fake_command() -> list[str]:
    block = re.search(r"```sh\ncd tests[^\n]*\n(python -m support\.fakeapi .*?)\nexport REGSYNC_API_URL=(\S+)",
                      README, re.DOTALL)
    assert block, "README: the fake API session block"
    command = block.group(1).replace("\\\n", " ").rstrip("& \n")
    argv = shlex.split(command)[3:]  # after `python -m support.fakeapi`
    assert block.group(2) == "http://127.0.0.1:8765/api/v2" and argv[:2] == ["--port", "8765"]
    return ["--port", "0", *argv[2:]]  # any free port: tests run side by side


def _transcript(section: str) -> list[tuple[str, str]]:
    """(command, what it prints) for each ``$ regsync ...`` in the first console block after
    ``section``."""
    start = README.index(section)
    body = README[README.index("```\n", start) + 4:]
    body = body[: body.index("```")]
    pairs = []
    for chunk in re.split(r"\n(?=\$ )", body.strip()):
        command, _, output = chunk.partition("\n")
        pairs.append((command.removeprefix("$ "), output.strip("\n")))
    return pairs


def test_readme_session_reproduces_with_shell_commands_only(fake_cli, tmp_path):
    url, proc = fake_cli(*_readme_fake_command())
    db = tmp_path / "try.db"
    session = _transcript("## Usage") + _transcript("The next night, after the sponsor's update:")
    session.append(next(p for p in _transcript("### `regsync diff NCT") if p[0] == "regsync diff NCT07240987"))
    assert [c for c, _ in session] == [
        "regsync sync", "regsync watch add NCT07240987 NCT00763412 NCT06171568", "regsync sync",
        "regsync sync", "regsync sync", "regsync diff NCT07240987",
    ]
    for command, shown in session:
        result = regsync(db, url, *shlex.split(command)[1:])
        # At a terminal stdout and stderr interleave; regsync flushes its data lines first.
        assert (result.stdout + result.stderr).strip("\n") == shown, command


def test_faults_removals_and_aliases_from_the_command_line(fake_cli, tmp_path):
    url, proc = fake_cli(
        "--after", "2", "--fault", "NCT07240987:503x2", "--remove", "NCT00763412",
        "--alias", "NCT00000102=NCT06171568", "--next-data-timestamp", "2026-09-05T09:00:00",
    )
    db = tmp_path / "r.db"
    first = regsync(db, url, "sync", "NCT07240987", "NCT00763412")  # version + one batch: 2 requests
    assert first.returncode == 0 and first.stdout == "NCT00763412 new (v1)\nNCT07240987 new (v1)\n"
    for _ in range(2):  # two 503s queued: each run gives up after its one attempt
        failed = regsync(db, url, "sync", "NCT07240987", "--retries", "0")
        assert failed.returncode == 1
        assert failed.stderr.splitlines()[0] == "error: NCT07240987: HTTP 503 (server error) after 1 attempt"
    assert regsync(db, url, "sync", "NCT07240987", "--retries", "0").stdout == "NCT07240987 unchanged (v1)\n"
    removed = regsync(db, url, "sync", "NCT00763412")
    assert removed.stdout.startswith("NCT00763412 removed: no longer returned by the registry (HTTP 404)")
    alias = regsync(db, url, "sync", "NCT00000102")
    assert alias.stdout == "NCT00000102 -> NCT06171568 (alias) new (v1)\n"
    proc.terminate()
    _, err = proc.communicate(timeout=HANG_GUARD)
    assert err.splitlines() == [
        "fake API: after 2 requests: 0 studies edited, 1 removed, 1 alias, 1 fault queued; "
        "dataTimestamp 2026-09-05T09:00:00"
    ]


@pytest.mark.parametrize(
    "spec, fault",
    [
        ("NCT07240987:503", Fault.status(503)),
        ("nct7240987:429/5x3", Fault.status(429, retry_after="5")),
        ("/version:html", Fault.html_200()),
        ("studies:truncated", Fault.truncated()),
        ("version:empty", Fault.empty()),
        ("studies:reset", Fault.reset()),
        ("NCT07240987:wrong=NCT00763412", Fault.wrong_record("NCT00763412")),
    ],
)
def test_fault_specs_are_the_python_faults(spec, fault):
    parsed = FaultSpec.parse(spec)
    assert parsed.make() == fault
    assert parsed.times == (3 if spec.endswith("x3") else 1)
    assert parsed.target in ("NCT07240987", "version", "studies")


def test_timeout_fault_holds_the_request():
    made = FaultSpec.parse("version:timeout").make()
    assert made.kind == "hold" and made.held_by is not None and not made.held_by.released
    with pytest.raises(argparse.ArgumentTypeError):
        FaultSpec.parse("version:teapot")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--synthetic", "-5"], "error: argument --synthetic: '-5' is not a count (0 to 999999999)"),
        (["--port", "99999"], "error: argument --port: '99999' is not a port (0 to 65535; 0: any free port)"),
        (["--after", "x"], "error: argument --after: 'x' is not a count (0 to 999999999)"),
        (["--fault", "NCT07240987:teapot"],
         "error: argument --fault: 'NCT07240987:teapot': unknown fault 'teapot'; one of: a status code "
         "(503, 429/RETRY_AFTER_SECONDS), html, truncated, empty, reset, timeout, wrong=NCT..."),
        (["--edit", "NCT07240987:overallStatus"],
         "error: argument --edit: 'NCT07240987:overallStatus' is not NCT...:dotted.path=VALUE"),
        (["--data-timestamp", "yesterday"],
         "error: argument --data-timestamp: 'yesterday' is not an ISO timestamp (2026-11-21T09:00:06)"),
    ],
)
def test_bad_values_are_one_line(args, message):
    proc = _fake(*args)
    out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 2 and out == ""
    assert err == message + " (see: python -m support.fakeapi --help)\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--edit", "NCT09999999:protocolSection.x=1"], "error: NCT09999999 is not served (use --fixtures or --synthetic)"),
        (["--edit", "NCT07240987:protocolSection.statusModule.overallStatus.x=1"],
         "error: --edit NCT07240987:protocolSection.statusModule.overallStatus.x: "
         "protocolSection.statusModule.overallStatus holds no 'x'"),
        (["--fixtures", "/nonexistent/dir"], None),
    ],
)
def test_edits_that_cannot_apply_are_refused_before_serving(args, message):
    proc = _fake("--port", "0", *args)
    out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    if message:
        assert err == message + "\n"


def test_a_busy_port_is_one_line(fake_cli):
    url, _ = fake_cli()
    port = url.split(":")[2].split("/")[0]
    proc = _fake("--port", port)
    out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 2 and out == ""
    assert err == f"error: port {port} is in use; pick another, or --port 0 for any free port\n"


# -- issue 22 item 13: a version history from the command line ------------------------------------


def test_the_readme_backfill_session_runs_with_shell_commands(fake_cli, tmp_path):
    block = re.search(r"```sh\ncd tests    # the fake's history[^\n]*\n(python -m support\.fakeapi .*?)\n"
                      r"export REGSYNC_API_URL=(\S+) REGSYNC_DB=\S+\n(.*?)```\n\nprints \(the last command\):\n\n"
                      r"```\n(.*?)```", README, re.DOTALL)
    assert block, "README: the backfill session against the fake"
    fake_args = shlex.split(block.group(1).replace("\\\n", " ").rstrip("& \n"))[3:]
    assert fake_args[:2] == ["--port", "8766"] and block.group(2) == "http://127.0.0.1:8766/api/v2"
    url, proc = fake_cli("--port", "0", *fake_args[2:])
    db = tmp_path / "regsync.db"
    commands = [shlex.split(line)[1:] for line in block.group(3).strip().splitlines()]
    results = [regsync(db, url, *command) for command in commands]
    assert [r.returncode for r in results] == [0] * len(commands), [r.stderr for r in results]
    assert (results[-1].stdout + results[-1].stderr).splitlines() == block.group(4).strip().splitlines()


def test_a_history_directory_serves_whole_records(fake_cli, tmp_path):
    import json

    record = json.loads((TESTS / "fixtures" / "NCT07240987.json").read_text())
    versions = tmp_path / "history" / "NCT07240987"
    versions.mkdir(parents=True)
    for day, count in (("2025-11-20", 20), ("2025-12-01", 22), ("2025-12-10", 24)):
        record["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = count
        (versions / f"{day}.json").write_text(json.dumps(record))
    url, proc = fake_cli("--history-dir", str(tmp_path / "history"))
    db = tmp_path / "regsync.db"
    assert regsync(db, url, "sync", "NCT07240987").returncode == 0
    result = regsync(db, url, "backfill", "NCT07240987")
    assert result.stdout == (
        "NCT07240987 is now numbered as the registry numbers its versions: v1 is now v4\n"
        "NCT07240987 backfilled: 3 registry versions stored (1-3), own v1 is registry version 4 of 4\n"
    )


@pytest.mark.parametrize("args, message", [
    (["--history", "NCT07240987:2025-13-01"], "is not NCT:YYYY-MM-DD or NCT:YYYY-MM-DD:dotted.path=VALUE"),
    (["--history", "NCT07240987:2025-11-20:protocolSection.conditionsModule.conditions.x=1"], "--history: --edit NCT07240987:"),
    (["--history", "NCT99999999:2025-11-20"], "--history NCT99999999: not served"),
])
def test_a_bad_history_is_one_line(args, message):
    proc = _fake("--port", "0", *args)
    out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
