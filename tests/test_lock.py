"""Overlapping runs (issue 5, item 1): two writers never both write; readers keep reading.

The lock is a flock() on `<db>.lock`; these tests hold it either from the test process
(`WriteLock(db).acquire()`) or with a real, slow `regsync sync` subprocess (the fake API
delays its answer), and run real `regsync` subprocesses against it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

import pytest

from conftest import edit, load
from regsync.fakeapi import Fault
from regsync.lock import WriteLock
from test_e2e import db_versions, fake, popen_regsync, run_regsync  # noqa: F401 (fixture)

DEFAULT = "NCT07240987"


def busy_line(db, pid: int, waited: str = "") -> str:
    return (
        f"error: another regsync (pid {pid}) is writing to {db}{waited}; "
        "try again later or pass --wait SECONDS"
    )


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_second_writer_exits_3_with_one_line_and_writes_nothing(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    lock = WriteLock(db)
    lock.acquire()
    try:
        started = time.monotonic()
        result = run_regsync(db, server.url, "sync")
        elapsed = time.monotonic() - started
    finally:
        lock.release()
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [busy_line(db, os.getpid())]
    assert elapsed < 2  # --wait defaults to 0: no waiting
    assert registry.requests == []  # not even /version
    assert not db.exists()  # nothing created either
    # Other writing commands take the same lock.
    lock.acquire()
    try:
        for args in (("watch", "add", DEFAULT), ("watch", "remove", DEFAULT), ("reclassify",)):
            other = run_regsync(db, server.url, *args)
            assert (other.returncode, other.stdout) == (3, ""), args
            assert other.stderr.splitlines() == [busy_line(db, os.getpid())], args
    finally:
        lock.release()


def test_wait_waits_about_that_long_then_exits_3(fake, tmp_path):
    _, server = fake
    db = tmp_path / "r.db"
    with WriteLock(db):
        started = time.monotonic()
        result = run_regsync(db, server.url, "sync", "--wait", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert result.stderr.splitlines() == [busy_line(db, os.getpid(), " after waiting 1 s")]
    assert 1.0 <= elapsed < 3.0
    # The environment variable works the same way.
    with WriteLock(db):
        started = time.monotonic()
        result = run_regsync(db, server.url, "sync", REGSYNC_WAIT="0.5")
        elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert result.stderr.splitlines() == [busy_line(db, os.getpid(), " after waiting 0.5 s")]
    assert 0.5 <= elapsed < 2.5


def test_lock_released_during_the_wait_then_it_proceeds(fake, tmp_path):
    _, server = fake
    db = tmp_path / "r.db"
    lock = WriteLock(db)
    lock.acquire()
    proc = popen_regsync(db, server.url, "sync", "--wait", "10")
    try:
        time.sleep(0.8)
        assert proc.poll() is None  # still waiting
        lock.release()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == f"{DEFAULT} new (v1)\n"
    assert db_versions(db) == [1]


def test_readers_work_while_a_sync_holds_the_lock_and_no_duplicate_versions(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    assert run_regsync(db, server.url, "sync").returncode == 0
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    registry.data_timestamp = "2026-09-05T09:00:00"

    # A real sync, slowed down by the registry: it holds the lock while it waits.
    registry.fail(DEFAULT, Fault.delay(3.0))
    slow = popen_regsync(db, server.url, "sync", "--timeout", "10")
    try:
        wait_for(lambda: registry.count("version") == 2)  # it holds the lock by now
        with sqlite3.connect(db) as conn:
            wait_for(lambda: conn.execute("SELECT outcome FROM runs ORDER BY id DESC").fetchone()[0] == "running")
        started = time.monotonic()
        reads = {
            "history": run_regsync(db, None, "history", DEFAULT, "--json"),
            "show": run_regsync(db, None, "show", DEFAULT),
            "diff": run_regsync(db, None, "diff", DEFAULT, "--from", "1", "--to", "1", "--json"),
            "changes": run_regsync(db, None, "changes", "--json"),
            "status": run_regsync(db, None, "status", "--json"),
            "watch list": run_regsync(db, None, "watch", "list", "--json"),
        }
        reading = time.monotonic() - started
        # A second writer meanwhile: refused, even with a short wait.
        second = run_regsync(db, server.url, "sync", "--force", "--wait", "0.3")
        assert slow.poll() is None, "the slow sync should still be running"
        out, err = slow.communicate(timeout=30)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()

    for name, result in reads.items():
        assert (result.returncode, result.stderr) == (0, ""), name
    assert reading < 2.5  # nobody waited for the writer
    assert [r["version"] for r in json.loads(reads["history"].stdout)] == [1]
    assert json.loads(reads["show"].stdout) == load(DEFAULT)
    assert json.loads(reads["diff"].stdout)["changes"] == []
    assert json.loads(reads["changes"].stdout) == []
    status = json.loads(reads["status"].stdout)
    assert status["runs"][0]["outcome"] == "running"
    assert status["versions"] == 1

    assert second.returncode == 3
    assert second.stderr.splitlines()[0].startswith("error: another regsync (pid ")
    assert slow.returncode == 0, err
    assert out == f"{DEFAULT} changed v1 -> v2: status (milestone: RECRUITING)\n"
    assert db_versions(db) == [1, 2]


def test_two_writers_started_together_never_store_a_version_twice(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "r.db"
    ids = [DEFAULT, "NCT00763412", "NCT06171568"]
    registry.fail("studies", Fault.delay(0.5))
    procs = [popen_regsync(db, server.url, "sync", *ids, "--wait", "20", "--timeout", "10") for _ in range(3)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append((proc.returncode, out, err))
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
    registry.fail(DEFAULT, Fault.delay(5.0))
    holder = popen_regsync(db, server.url, "sync", "--timeout", "10")
    try:
        wait_for(lambda: registry.count("version") == 1)
        time.sleep(0.2)
        assert run_regsync(db, server.url, "sync").returncode == 3
    finally:
        holder.kill()
        holder.wait()
    registry.clear_faults()
    result = run_regsync(db, server.url, "sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
