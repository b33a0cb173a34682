"""Kill safety (issue 5, item 2): SIGKILL a real `regsync sync` at many moments.

60 synthetic studies are watched and served by the local fake API. Each round edits some of
them in the registry (so the killed run writes new versions and their classified changes),
starts `regsync sync --full` as a subprocess and SIGKILLs it at a different moment:

- batch rounds: the 60 come in one `filter.ids` page; the kill lands a varying time after
  the fake served that page, while the studies are being written one transaction each;
- one-by-one rounds: the batch answer is an HTML page, so the 60 are fetched singly; the
  kill lands right after the fake served the k-th single study (k spread over 1..60).

After each kill the database must pass `PRAGMA integrity_check`, every version must hold a
complete record whose content hash matches, every change must point at stored versions,
every study's current version must exist; then the next plain `regsync sync` records the
killed run as interrupted, completes (exit 0) and the store matches the registry.

Rounds go on until 22 kills landed inside a run (a kill after the run recorded its end, on
its way out, is checked too but not counted); typically 22-24 rounds. There is no time
budget: a slower machine moves where the kills land, never whether the invariants hold, and
every wait is bounded only by a hang guard.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from datetime import date, timedelta

from regsync.store import Store, content_hash
from support.fakeapi import Fault, mutate, synthesize
from support.procs import HANG_GUARD, popen_regsync, run_regsync

N_STUDIES = 60
EDITS = 12  # studies edited in the registry before each killed run
MIN_IN_RUN = 22  # kill points that must land inside a run (before it recorded its end)
MAX_ROUNDS = 45


def check_database(db) -> dict[str, int]:
    """The kill-safety invariants; returns row counts."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        versions = conn.execute(
            "SELECT nct_id, version, content_hash FROM versions ORDER BY nct_id, version"
        ).fetchall()
        per_study: dict[str, list[int]] = {}
        with Store.open_read(db) as store:
            records = {(n, v): store.record_bytes(n, v) for n, v, _ in versions}
        for nct_id, version, digest in versions:
            parsed = json.loads(records[nct_id, version])  # complete JSON, not a fragment
            assert parsed["protocolSection"]["identificationModule"]["nctId"] == nct_id
            assert content_hash(parsed) == digest, (nct_id, version)
            per_study.setdefault(nct_id, []).append(version)
        for nct_id, numbers in per_study.items():
            assert numbers == list(range(1, len(numbers) + 1)), nct_id  # no gap, no duplicate
        dangling = conn.execute(
            """SELECT c.nct_id, c.from_version, c.to_version FROM changes c
               LEFT JOIN versions f ON f.nct_id = c.nct_id AND f.version = c.from_version
               LEFT JOIN versions t ON t.nct_id = c.nct_id AND t.version = c.to_version
               WHERE f.version IS NULL OR t.version IS NULL"""
        ).fetchall()
        assert dangling == []
        current = conn.execute(
            """SELECT s.nct_id, s.current_version, s.content_hash, v.content_hash FROM studies s
               LEFT JOIN versions v ON v.nct_id = s.nct_id AND v.version = s.current_version"""
        ).fetchall()
        for nct_id, version, study_hash, version_hash in current:
            assert version_hash is not None, (nct_id, version)
            assert study_hash == version_hash, nct_id
            assert per_study[nct_id][-1] == version, nct_id
        assert set(per_study) == {row[0] for row in current}
        # Every changed pair of versions has its classified changes (one transaction).
        pairs = conn.execute(
            "SELECT COUNT(*) FROM versions v WHERE v.version > 1 AND NOT EXISTS "
            "(SELECT 1 FROM changes c WHERE c.nct_id = v.nct_id AND c.to_version = v.version)"
        ).fetchone()[0]
        assert pairs == 0
        return {
            "versions": len(versions),
            "changes": conn.execute("SELECT COUNT(*) FROM changes").fetchone()[0],
            "running": conn.execute("SELECT COUNT(*) FROM runs WHERE outcome = 'running'").fetchone()[0],
        }
    finally:
        conn.close()


def store_matches_registry(db, registry) -> None:
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT nct_id, content_hash FROM studies"))
    finally:
        conn.close()
    assert stored == {nct_id: content_hash(registry.get(nct_id)) for nct_id in registry.ids()}


def wait_until(predicate, proc, timeout: float = HANG_GUARD) -> bool:
    """Poll (tightly: the kill should land soon after) until ``predicate()``; False if the
    sync ended first. The timeout is a hang guard only."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the sync never got there"
        time.sleep(0.001)
    return True


def test_sigkill_at_many_moments_never_corrupts_or_loses_anything(tmp_path, fake_api):
    rng = random.Random(5)
    db = tmp_path / "kill.db"
    records = list(synthesize(N_STUDIES))
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    figures = {"kill_points": 0, "in_run": 0, "with_writes": 0, "mid_writes": 0, "finished_first": 0,
               "after_finish": 0}

    registry, server = fake_api(records)
    assert run_regsync(db, server.url, "watch", "add", *ids).returncode == 0
    first = run_regsync(db, server.url, "sync")
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == N_STUDIES
    before = check_database(db)

    round_no = 0
    while figures["in_run"] < MIN_IN_RUN:
        assert round_no < MAX_ROUNDS, figures
        # Edit a handful of studies in a new data release: the run has versions to write.
        day = (date(2026, 10, 1) + timedelta(days=round_no)).isoformat()
        for nct_id in rng.sample(ids, EDITS):
            registry.add(mutate(registry.get(nct_id), day))
        registry.data_timestamp = f"{day}T09:00:00"
        registry.reset_log()

        one_by_one = round_no % 2 == 1
        if one_by_one:
            registry.fail("studies", Fault.html_200())
            k = 1 + (round_no // 2 * 7) % N_STUDIES  # 1, 8, 15, ... 57, 4, 11, ...
            singles = lambda k=k: sum(1 for r in registry.requests if r.target not in ("studies", "version")) >= k  # noqa: E731
            trigger, pause = singles, 0.0
        else:
            trigger = lambda: registry.count("studies") >= 1  # noqa: E731
            pause = (round_no // 2 % 15) * 0.002  # 0 .. 28 ms after the batch was served

        proc = popen_regsync(db, server.url, "sync", "--full")
        try:
            reached = wait_until(trigger, proc)
            if reached and pause:
                time.sleep(pause)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                figures["kill_points"] += 1
            else:
                figures["finished_first"] += 1
        finally:
            proc.communicate(timeout=HANG_GUARD)
        registry.clear_faults()

        after_kill = check_database(db)
        killed_in_run = proc.returncode == -signal.SIGKILL and after_kill["running"] == 1
        if killed_in_run:  # the killed run is on the ledger as running
            figures["in_run"] += 1
            if after_kill["versions"] > before["versions"]:
                figures["with_writes"] += 1
            if before["versions"] < after_kill["versions"] < before["versions"] + EDITS:
                figures["mid_writes"] += 1  # some of the round's new versions, not all
        elif proc.returncode == -signal.SIGKILL:
            figures["after_finish"] += 1  # killed on its way out: the run was recorded
        else:
            assert proc.returncode == 0

        # The next run says the killed one was interrupted, and carries on to the end.
        nxt = run_regsync(db, server.url, "sync")
        assert nxt.returncode == 0, nxt.stderr
        conn = sqlite3.connect(db)
        try:
            outcomes = [r[0] for r in conn.execute("SELECT outcome FROM runs ORDER BY id DESC LIMIT 2")]
        finally:
            conn.close()
        if killed_in_run:
            assert outcomes[1] == "interrupted"
        assert outcomes[0] in ("ok", "nothing-to-do")
        before = check_database(db)
        assert before["running"] == 0
        store_matches_registry(db, registry)
        round_no += 1

    print(f"\nkill test: {figures}, {before}")
    assert figures["in_run"] >= 20, figures
    assert figures["mid_writes"] >= 5, figures  # kills did land between study writes
