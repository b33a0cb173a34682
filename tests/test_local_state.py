"""Bad local state (issue 5, item 6) and schema migrations (issue 3, item 4).

Every bad state is one line on stderr, exit 4, and the file left untouched:
- the database's directory is missing;
- the database is read-only. Tests may run as root, where chmod 0444 does not stop writes
  (and os.access says writable): as root the file is made immutable with `chattr +i`, which
  stops root too; where chattr is not permitted (some containers, tmpfs) that test skips;
- a file that is not SQLite (byte for byte untouched, no -wal/-shm/.lock created next to it);
- a database written by a newer regsync schema.
Read commands on a missing database say so and create nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlite_utils

from regsync.store import Store, build_migrations
from support.cli import Cli
from support.records import edit, load

DEFAULT = "NCT07240987"
READ_COMMANDS = [
    ("history", DEFAULT), ("show", DEFAULT), ("diff", DEFAULT), ("changes",), ("status",),
    ("watch", "list"),
]
WRITE_COMMANDS = [("sync",), ("sync", DEFAULT, "NCT00763412"), ("watch", "add", DEFAULT), ("reclassify",)]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def snapshot(path: Path) -> tuple[bytes, int, float]:
    stat = path.stat()
    return path.read_bytes(), stat.st_mode, stat.st_mtime_ns


def wal_free(db: Path) -> None:
    """Checkpoint and leave WAL mode: the whole database is then in one file to compare."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


@contextmanager
def read_only(path: Path):
    """Make ``path`` really read-only, for root too (see the module docstring)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield "chmod"
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if not chattr or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root and chattr +i is not permitted here: cannot make a file read-only")
    try:
        yield "chattr +i"
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


# -- missing directory, missing database ----------------------------------------------------


@pytest.mark.parametrize("args", READ_COMMANDS + WRITE_COMMANDS, ids=" ".join)
def test_missing_directory_is_one_line_exit_4_and_creates_nothing(fake, tmp_path, args):
    _, server = fake
    db = tmp_path / "gone" / "r.db"
    result = Cli(db)(*args, api_url=server.url)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == f"error: database directory does not exist: {tmp_path / 'gone'}\n"
    assert listing(tmp_path) == []
    assert fake[0].requests == []


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_read_commands_on_a_missing_database_say_so_and_create_nothing(run, db_path, args):
    result = run(*args)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == f"error: no database at {db_path} (run `regsync sync` first, or pass --db)\n"
    assert listing(db_path.parent) == []


# -- a file that is not SQLite --------------------------------------------------------------


@pytest.mark.parametrize("args", READ_COMMANDS + WRITE_COMMANDS, ids=" ".join)
def test_a_file_that_is_not_sqlite_is_left_untouched(fake, run, db_path, args):
    registry, server = fake
    db_path.write_bytes(b"nct_id,title\nNCT07240987,My spreadsheet, not a database\n" * 50)
    before = snapshot(db_path)
    result = run(*args, api_url=server.url)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == f"error: {db_path} is not a SQLite database; refusing to touch it\n"
    assert snapshot(db_path) == before
    assert listing(db_path.parent) == ["regsync.db"]  # no -wal, -shm or .lock beside it
    assert registry.requests == []


# -- a database written by a newer regsync --------------------------------------------------


@pytest.mark.parametrize("args", READ_COMMANDS + WRITE_COMMANDS, ids=" ".join)
def test_a_newer_schema_is_refused_and_left_untouched(fake, run, db_path, args):
    registry, server = fake
    assert run("sync", api_url=server.url).exit_code == 0
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('regsync', '0099_from_the_future', '2030-01-01 00:00:00+00:00')"
        )
    conn.close()
    wal_free(db_path)
    before = snapshot(db_path)
    registry.reset_log()
    result = run(*args, api_url=server.url)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == (
        f"error: database {db_path} was written by a newer regsync (schema 0099_from_the_future); "
        "upgrade regsync to use it\n"
    )
    assert snapshot(db_path) == before
    assert not Path(f"{db_path}-wal").exists()
    assert registry.requests == []


# -- read-only --------------------------------------------------------------------------


@pytest.mark.parametrize("args", WRITE_COMMANDS, ids=" ".join)
def test_a_read_only_database_refuses_writes_and_still_reads(fake, run, db_path, args):
    registry, server = fake
    assert run("sync", api_url=server.url).exit_code == 0
    wal_free(db_path)
    before = snapshot(db_path)
    registry.reset_log()
    with read_only(db_path):
        result = run(*args, api_url=server.url)
        assert result.exit_code == 4
        assert result.stdout == ""
        assert result.stderr == f"error: database {db_path} is read-only\n"
        assert registry.requests == []
        # Reading still works.
        history = run("history", DEFAULT, "--json")
        assert history.exit_code == 0, history.stderr
        assert [r["version"] for r in json.loads(history.stdout)] == [1]
        assert json.loads(run("show", DEFAULT).stdout) == load(DEFAULT)
    assert snapshot(db_path)[0] == before[0]


def test_a_read_only_directory_refuses_writes(fake, run, db_path):
    registry, server = fake
    assert run("sync", api_url=server.url).exit_code == 0
    wal_free(db_path)
    before = db_path.read_bytes()
    with read_only(db_path.parent):
        result = run("sync", "--force", api_url=server.url)
        assert result.exit_code == 4
        assert result.stderr == f"error: cannot write in {db_path.parent} (read-only directory)\n"
        assert run("history", DEFAULT).exit_code == 0
    assert db_path.read_bytes() == before


# -- migrations ---------------------------------------------------------------------------


def _schema(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


def test_migrations_are_idempotent(db_path):
    Store.open_write(db_path).close()
    schema = _schema(db_path)
    conn = sqlite3.connect(db_path)
    applied = conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()
    conn.close()
    assert applied == [(m.stem,) for m in sorted((Path(__file__).parent.parent / "db" / "migrations").glob("*.sql"))]
    for _ in range(2):
        Store.open_write(db_path).close()
        Store.open_read(db_path).close()
    assert _schema(db_path) == schema
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall() == applied
    conn.close()


def test_upgrading_a_database_made_by_an_older_schema(fake, run, db_path):
    registry, server = fake
    db = sqlite_utils.Database(db_path)
    build_migrations().apply(db, stop_before="0002_changes")
    tables = set(db.table_names())
    assert "versions" in tables and "changes" not in tables and "events" not in tables
    record = load(DEFAULT)
    from regsync.store import content_hash

    digest = content_hash(record)
    db.execute(
        "INSERT INTO studies (nct_id, brief_title, overall_status, last_update_post_date, current_version, "
        "content_hash, first_seen, last_checked, last_changed) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
        [DEFAULT, "old title", "NOT_YET_RECRUITING", "2025-12-24", digest,
         "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"],
    )
    db.execute(
        "INSERT INTO versions (nct_id, version, fetched_at, content_hash, data_timestamp, source, record) "
        "VALUES (?, 1, ?, ?, ?, ?, ?)",
        [DEFAULT, "2026-01-01T00:00:00.000000Z", digest, "2026-01-01T00:00:00", "old", json.dumps(record)],
    )
    db.execute("INSERT INTO watchlist (nct_id, added_at) VALUES (?, ?)", [DEFAULT, "2026-01-01T00:00:00Z"])
    db.conn.commit()
    db.close()

    store = Store.open_write(db_path)
    try:
        tables = set(store.db.table_names())
        assert {"studies", "versions", "runs", "watchlist", "changes", "watch_queries", "events"} <= tables
        assert "removed_at" in store.db["studies"].columns_dict
        assert "query_id" in store.db["watchlist"].columns_dict
        assert [m.name for m in build_migrations().pending(store.db)] == []
        assert store.record(DEFAULT, 1) == record
        assert store.study(DEFAULT)["brief_title"] == "old title"
        assert store.watch_ids() == [DEFAULT]
    finally:
        store.close()
    # And the upgraded database works end to end: an edit becomes v2 with its changes.
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    result = run("sync", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} changed v1 -> v2 [minor]: status (milestone: RECRUITING)\n"
    assert [r["version"] for r in json.loads(run("history", DEFAULT, "--json").stdout)] == [1, 2]
    assert json.loads(run("diff", DEFAULT, "--json").stdout)["changes"]
