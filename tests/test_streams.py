"""Issue 20 item 10: standard streams and IDs. Output to a full or closed stdout is one line
and a non-zero exit, never a traceback, and a finished sync is recorded as finished; an NCT
ID with more than 8 digits is a usage error even when the extra digits are zeros; a new
database on a full disk is exit 4 with one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest
from support.procs import _argv, regsync_env, run_regsync

NCT = "NCT07240987"
FULL = "/dev/full"


def _run(db, url, *args, stdout: str):
    """regsync with stdout to /dev/full ("full") or closed ("closed"), stderr captured."""
    argv = _argv(db, url, args)
    if stdout == "closed":
        argv = ["bash", "-c", 'exec "$@" >&-', "regsync", *argv]
        return subprocess.run(argv, stderr=subprocess.PIPE, text=True, env=regsync_env(), timeout=60)
    with open(FULL, "w") as full:
        return subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, env=regsync_env(), timeout=60)


def _outcomes(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT command, outcome FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()


needs_dev_full = pytest.mark.skipif(not os.path.exists(FULL), reason="no /dev/full here")


@pytest.mark.parametrize("stdout", [pytest.param("full", marks=needs_dev_full), "closed"])
def test_a_sync_to_a_full_or_closed_stdout_is_one_line_and_recorded_finished(fake, tmp_path, stdout):
    _, server = fake
    db = tmp_path / "regsync.db"
    result = _run(db, server.url, "sync", NCT, stdout=stdout)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    why = "No space left on device" if stdout == "full" else "stdout is closed"
    assert lines[-1] == f"error: cannot write the output: {why}", result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 2  # the summary line, then the error
    assert _outcomes(db) == [("sync", "ok")]
    # What was stored is there: the output was lost, not the work.
    assert run_regsync(db, None, "history", NCT).returncode == 0


@pytest.mark.parametrize("stdout", [pytest.param("full", marks=needs_dev_full), "closed"])
@pytest.mark.parametrize("args", [("history", NCT), ("feed",), ("changes", "--json")])
def test_read_commands_to_a_full_or_closed_stdout_are_one_line(fake, tmp_path, stdout, args):
    _, server = fake
    db = tmp_path / "regsync.db"
    assert run_regsync(db, server.url, "sync", NCT).returncode == 0
    result = _run(db, None, *args, stdout=stdout)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot write the output: ")


def test_a_quiet_sync_with_stdout_closed_is_fine(fake, tmp_path):
    _, server = fake
    db = tmp_path / "regsync.db"
    assert run_regsync(db, server.url, "sync", NCT).returncode == 0
    # Nothing to say (unchanged, --quiet): a closed stdout is no loss.
    result = _run(db, server.url, "sync", "--quiet", "--force", NCT, stdout="closed")
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("value", ["NCT072409870", "NCT0724098700", "nct000007240987"])
def test_more_than_eight_digits_is_a_usage_error_even_with_zeros(run, value):
    result = run("watch", "add", value)
    assert result.exit_code == 2
    digits = len(value) - 3
    assert result.stderr == f"error: invalid NCT ID {value!r}: {digits} digits after NCT; at most 8 (e.g. NCT07240987)\n"
    assert run("watch", "list").stdout.count("NCT") == 0


@pytest.mark.parametrize("limit", [0, 1, 4096, 65536])
def test_a_new_database_on_a_full_disk_is_exit_4_in_one_line(tmp_path, limit):
    """The disk fills at each step of creating a database (lock file, header, migrations),
    stood in for by a file-size limit (write fails with EFBIG instead of ENOSPC)."""
    import resource
    import signal

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    db = tmp_path / "new.db"
    result = subprocess.run(_argv(db, None, ("watch", "add", NCT)), capture_output=True, text=True,
                            env=regsync_env(), timeout=60, preexec_fn=full_disk)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
