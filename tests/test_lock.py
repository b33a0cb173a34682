"""Overlapping runs (issue 5, item 1): two writers never both write; readers keep reading.

The lock is a flock() on `<db>.lock`; these tests hold it either from the test process
(`WriteLock(db).acquire()`) or with a real `regsync sync` subprocess kept in flight by the
fake API (a held request: no answer until the test releases it), and run real `regsync`
subprocesses against it. Nothing here depends on how fast the machine is: each test waits
for the state it needs (a held request arrived, a writer has the lock file open) instead of
hoping a sleep was long enough, and `--wait` itself is checked with an injected clock.
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from regsync.errors import LockBusy
from regsync.lock import WriteLock
from support.clocks import FakeClock
from support.procs import HANG_GUARD, has_open, popen_regsync, run_regsync, wait_for
from support.records import edit, load
from support.results import DEFAULT, db_versions


def busy_line(db, pid: int, waited: str = "") -> str:
    return (
        f"error: another regsync (pid {pid}) is writing to {db}{waited}; "
        "try again later or pass --wait SECONDS"
    )


def lock_file(db) -> str:
    return f"{db}.lock"


def finish(proc) -> tuple[str, str]:
    """A background regsync's output once it ends (killed if it outlives the hang guard)."""
    try:
        return proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_second_writer_exits_3_with_one_line_and_writes_nothing(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    lock = WriteLock(db)
    lock.acquire()
    try:
        result = run_regsync(db, server.url, "sync")
    finally:
        lock.release()
    assert result.returncode == 3
    assert result.stdout == ""
    # --wait defaults to 0: refused at once (no "after waiting" in the line).
    assert result.stderr.splitlines() == [busy_line(db, os.getpid())]
    assert registry.requests == []  # not even /version
    assert not db.exists()  # nothing created either
    # Other writing commands take the same lock (reclassify and watch remove need a
    # database to work on: without one they exit 4 before reaching the lock).
    run_regsync(db, server.url, "watch", "add", DEFAULT)
    lock.acquire()
    try:
        for args in (("watch", "add", DEFAULT), ("watch", "remove", DEFAULT), ("reclassify",)):
            other = run_regsync(db, server.url, *args)
            assert (other.returncode, other.stdout) == (3, ""), args
            assert other.stderr.splitlines() == [busy_line(db, os.getpid())], args
    finally:
        lock.release()


def test_wait_polls_for_that_long_then_gives_up(tmp_path):
    db = tmp_path / "r.db"
    clock = FakeClock()
    with WriteLock(db):
        waiter = WriteLock(db, clock=clock, sleep=clock.sleep)
        with pytest.raises(LockBusy) as busy:
            waiter.acquire(wait=1.0, poll=0.25)
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]  # polled until the deadline, no longer
    assert str(busy.value) == busy_line(db, os.getpid(), " after waiting 1 s").removeprefix("error: ")
    assert not waiter.held


def test_lock_released_during_the_wait_is_taken_at_the_next_poll(tmp_path):
    db = tmp_path / "r.db"
    holder = WriteLock(db)
    holder.acquire()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 2:
            holder.release()  # the other writer finishes meanwhile

    waiter = WriteLock(db, clock=clock, sleep=sleep)
    waiter.acquire(wait=10.0, poll=0.25)
    try:
        assert waiter.held and clock.slept == [0.25, 0.25]
    finally:
        waiter.release()


def test_the_wait_option_and_variable_reach_the_lock(fake, tmp_path):
    _, server = fake
    db = tmp_path / "r.db"
    with WriteLock(db):
        option = run_regsync(db, server.url, "sync", "--wait", "1")
        variable = run_regsync(db, server.url, "sync", REGSYNC_WAIT="0.5")
    assert option.returncode == variable.returncode == 3
    assert option.stderr.splitlines() == [busy_line(db, os.getpid(), " after waiting 1 s")]
    assert variable.stderr.splitlines() == [busy_line(db, os.getpid(), " after waiting 0.5 s")]


def test_a_waiting_writer_proceeds_once_the_lock_is_released(fake, tmp_path):
    _, server = fake
    db = tmp_path / "r.db"
    lock = WriteLock(db)
    lock.acquire()
    proc = popen_regsync(db, server.url, "sync", "--wait", str(int(HANG_GUARD)))
    try:
        # It has opened the lock file while the test holds the lock: it is waiting for it.
        wait_for(lambda: has_open(proc.pid, lock_file(db)), what="the writer to reach the lock")
        assert proc.poll() is None
    finally:
        lock.release()
        out, err = finish(proc)
    assert proc.returncode == 0, err
    assert out == f"{DEFAULT} new (v1)\n"
    assert db_versions(db) == [1]


def test_readers_work_while_a_sync_holds_the_lock_and_no_duplicate_versions(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    assert run_regsync(db, server.url, "sync").returncode == 0
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    registry.data_timestamp = "2026-09-05T09:00:00"

    # A real sync, kept in flight by the registry: it holds the lock, mid-run, until the
    # test lets the registry answer. Everything below happens while it is held there.
    hold = registry.hold(DEFAULT)
    writer = popen_regsync(db, server.url, "sync", "--timeout", str(int(HANG_GUARD)))
    try:
        hold.wait_arrived()
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT outcome FROM runs ORDER BY id DESC").fetchone()[0] == "running"
        reads = {
            "history": run_regsync(db, None, "history", DEFAULT, "--json"),
            "show": run_regsync(db, None, "show", DEFAULT),
            "diff": run_regsync(db, None, "diff", DEFAULT, "--from", "1", "--to", "1", "--json"),
            "changes": run_regsync(db, None, "changes", "--json"),
            "status": run_regsync(db, None, "status", "--json"),
            "watch list": run_regsync(db, None, "watch", "list", "--json"),
        }
        # A second writer meanwhile: refused, even with a short wait.
        second = run_regsync(db, server.url, "sync", "--force", "--wait", "0.3")
        # Still held: every read above finished without waiting for the writer.
        assert writer.poll() is None and not hold.released
    finally:
        hold.release()
        out, err = finish(writer)

    for name, result in reads.items():
        assert (result.returncode, result.stderr) == (0, ""), name
    assert [r["version"] for r in json.loads(reads["history"].stdout)] == [1]
    assert json.loads(reads["show"].stdout) == load(DEFAULT)
    assert json.loads(reads["diff"].stdout)["changes"] == []
    assert json.loads(reads["changes"].stdout) == []
    status = json.loads(reads["status"].stdout)
    assert status["runs"][0]["outcome"] == "running"
    assert status["versions"] == 1

    assert second.returncode == 3
    assert second.stderr.splitlines()[0].startswith("error: another regsync (pid ")
    assert writer.returncode == 0, err
    assert out == f"{DEFAULT} changed v1 -> v2 [minor]: status (milestone: RECRUITING)\n"
    assert db_versions(db) == [1, 2]


def test_two_writers_started_together_never_store_a_version_twice(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    ids = [DEFAULT, "NCT00763412", "NCT06171568"]
    # The first writer to take the lock is held at its batch request until all three are
    # at the lock: the other two are then really waiting for it, not merely started.
    hold = registry.hold("studies")
    guard = str(int(HANG_GUARD))
    procs = [popen_regsync(db, server.url, "sync", *ids, "--force", "--wait", guard, "--timeout", guard)
             for _ in range(3)]
    try:
        hold.wait_arrived()
        wait_for(lambda: all(has_open(p.pid, lock_file(db)) for p in procs),
                 what="all three writers at the lock")
        assert hold.arrived == 1  # only the lock holder got as far as asking the registry
    finally:
        hold.release()
        outputs = [finish(p) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]
    assert [r[0] for r in results] == [0, 0, 0], results
    # Exactly one run stored each study; the others found it unchanged.
    new_lines = sorted(line for _, out, _ in results for line in out.splitlines() if " new " in line)
    assert new_lines == sorted(f"{i} new (v1)" for i in ids)
    for nct_id in ids:
        assert db_versions(db, nct_id) == [1]
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT outcome, started_at, ended_at FROM runs ORDER BY id").fetchall()
    assert [r[0] for r in runs] == ["ok", "ok", "ok"]
    # Serialised: each run started after the previous one ended.
    for earlier, later in zip(runs, runs[1:]):
        assert later[1] >= earlier[2]


def test_the_lock_is_released_by_the_kernel_when_the_holder_dies(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    hold = registry.hold(DEFAULT)
    holder = popen_regsync(db, server.url, "sync", "--timeout", str(int(HANG_GUARD)))
    try:
        hold.wait_arrived()  # the holder has the lock and is mid-run
        assert run_regsync(db, server.url, "sync").returncode == 3
    finally:
        holder.kill()
        holder.wait()
        hold.release()  # its answer goes to a closed connection
    result = run_regsync(db, server.url, "sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
