"""Issue 19: a database made by an older regsync (versions numbered in the order regsync saw
them, the registry's history laid on top) gets one chain per study when upgraded: `reclassify`
repairs it (nothing invented, nothing lost), and any writing command settles it first."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from regsync import judge
from regsync.store import Store

OLD = Path(__file__).parent / "fixtures" / "old_release.sql"  # `sqlite3 old.db .dump` of it
NCT = "NCT07240987"


@pytest.fixture
def db_path(tmp_path) -> Path:
    """The ``run`` fixture's database: a copy of the older release's."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    try:
        conn.executescript(OLD.read_text())
    finally:
        conn.close()
    return path


@pytest.fixture
def old_db(db_path) -> Path:
    return db_path


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def stored_records(db: Path) -> list[tuple]:
    """Every version's (nct_id, version, content_hash, record bytes), read through the store."""
    with Store.open_read(db) as store:
        return [(n, v, h, store.record_bytes(n, v))
                for n, v, h in store.conn.execute("SELECT nct_id, version, content_hash FROM versions ORDER BY 1, 2")]


def test_reclassify_repairs_the_chains_of_an_older_database(old_db, run):
    versions_before = [(n, v, h, r.encode())
                       for n, v, h, r in rows(old_db, "SELECT nct_id, version, content_hash, record FROM versions ORDER BY 1, 2")]
    result = run("reclassify")
    assert result.exit_code == 0, result.stderr
    # Nothing stored is lost or rewritten: the same rows, the same payloads, byte for byte.
    assert stored_records(old_db) == versions_before
    history = json.loads(run("history", NCT, "--json").stdout)
    # One chain in the registry's order, named by the registry's numbers (1-based).
    assert [(h["version"], h["registry_version"]) for h in history] == [(n, n) for n in range(1, 8)]
    assert [h["submitted"] for h in history] == sorted(h["submitted"] for h in history)
    # Changes between neighbours of that chain only, each what the one judge says of them.
    pairs = rows(old_db, "SELECT DISTINCT p.label, v.label FROM changes c "
                         "JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version "
                         "JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version "
                         f"WHERE c.nct_id = '{NCT}' ORDER BY v.chain_pos")
    assert pairs == [(str(n), str(n + 1)) for n in range(1, 7)]
    with Store.open_read(old_db) as store:
        chain = [store.record(NCT, v) for (v,) in rows(
            old_db, f"SELECT version FROM versions WHERE nct_id = '{NCT}' ORDER BY chain_pos")]
        changes = json.loads(run("changes", "--nct", NCT, "--severity", "admin", "--json",
                                 ).stdout)
    for n in range(1, 7):
        judged = [c.to_dict() for c in judge.diff_records(chain[n - 1], chain[n])]
        stored = [{k: v for k, v in c.items() if k in judged[0]} for c in changes if c["to_version"] == n + 1]
        assert sorted(map(json.dumps, stored)) == sorted(map(json.dumps, judged)), n
    # No switch invented by diffing in regsync's own order (the registration against v3...).
    assert not [c for c in changes if c["severity"] == "critical"]
    # A fixed point: again, nothing is judged anew and no row changes.
    before = rows(old_db, "SELECT * FROM changes ORDER BY id")
    again = run("reclassify")
    assert again.stdout == "reclassified: 0 version pairs judged anew (0 changes); the others unchanged\n"
    assert rows(old_db, "SELECT * FROM changes ORDER BY id") == before


def test_any_writing_command_settles_an_older_database_first(old_db, run):
    assert run("history", NCT).exit_code == 4  # readers never upgrade
    assert run("watch", "add", "NCT06171568").exit_code == 0
    assert rows(old_db, "SELECT COUNT(*) FROM versions WHERE judged_prev IS NULL OR chain_pos IS NULL") == [(0,)]
    listed = run("history", NCT).stdout.splitlines()
    assert [line.split()[0] for line in listed[3:]] == [str(n) for n in range(1, 8)]
    # The study synced once, never backfilled, keeps regsync's own numbering.
    assert json.loads(run("history", "NCT00763412", "--json").stdout)[0]["version"] == 1


def test_the_upgrade_scrubs_credentials_older_releases_stored(old_db, run):
    """Issue 20 item 4: URLs stored with user:password by older releases lose them in the
    upgrade (history --json and Datasette served them), in the schema's own transaction."""
    with sqlite3.connect(old_db) as conn:
        conn.execute("UPDATE sources SET url = replace(url, 'http://', 'http://alice:s3cret@')")
        conn.execute("UPDATE versions SET source = 'https://bob:hunter2@registry.test/x' WHERE rowid = 1")
    assert run("watch", "add", "NCT06171568").exit_code == 0  # a writer upgrades it
    text = "\n".join(str(r) for r in rows(old_db, "SELECT url FROM sources") + rows(old_db, "SELECT source FROM versions"))
    assert "s3cret" not in text and "hunter2" not in text and "***@" in text
    shown = run("history", NCT, "--json").stdout
    assert "s3cret" not in shown


def test_an_upgrade_killed_half_way_is_finished_by_the_next_writer(old_db, run, monkeypatch):
    """Issue 20 item 4: the upgrade's data steps (chains to settle, versions to judge) commit a
    study at a time; interrupted after the first study, the next writer finishes them, and
    every version has its obligation."""
    from regsync import judge

    real = judge.settle
    calls = []

    def settle_then_die(store, nct_id, **kwargs):
        if calls:
            raise KeyboardInterrupt  # a kill between two studies' transactions
        calls.append(nct_id)
        return real(store, nct_id, **kwargs)

    monkeypatch.setattr(judge, "settle", settle_then_die)
    assert run("watch", "add", "NCT06171568").exit_code != 0
    assert len(rows(old_db, "SELECT DISTINCT nct_id FROM versions WHERE chain_pos IS NULL")) == 1
    monkeypatch.setattr(judge, "settle", real)
    assert run("watch", "add", "NCT06171568").exit_code == 0
    assert rows(old_db, "SELECT COUNT(*) FROM versions WHERE chain_pos IS NULL OR judged_prev IS NULL") == [(0,)]
    assert rows(old_db, "SELECT COUNT(*) FROM versions v LEFT JOIN obligations o "
                        "ON o.nct_id = v.nct_id AND o.version = v.version WHERE o.nct_id IS NULL") == [(0,)]
