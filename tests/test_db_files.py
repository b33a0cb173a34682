"""What `--db` may point at, and what the disk may do to it (issue 10 items 5-7, issue 11
items 8, 9, 11-13).

- Paths regsync refuses (a directory, an empty path, a device, a FIFO, a hard-linked file for
  writing) are one line, exit 4 (2 for an empty `--db`), and nothing is created beside them.
- `reclassify` and `watch remove` need an existing database, like the read commands.
- Read commands read a database in a read-only place. Tests run as root, where chmod does not
  stop writes: the read-only directory is made with `chattr +i` (which stops root too; the
  test skips where it is not permitted) and, separately, with a real read-only bind mount in
  a private mount namespace (`unshare -m`; skips where that is not permitted).
- A kill while a database is first created leaves one the next run completes: the half-made
  states are built exactly, and a real SIGKILL loop runs a few rounds.
- A full disk (SQLITE_FULL from SQLite itself via `PRAGMA max_page_count`, an injected one at
  COMMIT, ENOSPC on the lock file) is one line, exit 4, the run recorded failed, data intact.
- The writer lock belongs to the file, not to the path string: symlinks and relative paths
  meet the same lock; SQLite's own write lock is taken up front (BEGIN IMMEDIATE) and a
  collision with it is exit 3.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import Cli
from support.procs import (
    HANG_GUARD,
    popen_regsync,
    regsync_argv,
    regsync_env,
    run_regsync,
)
from support.records import edit, fixture_names, load
from support.results import DEFAULT, db_versions

import regsync.lock
import regsync.store
from regsync.lock import WriteLock
from regsync.store import Store, build_migrations

READ_COMMANDS = [
    ("history", DEFAULT), ("show", DEFAULT), ("diff", DEFAULT), ("changes",), ("status",),
    ("watch", "list"),
]
WRITE_COMMANDS = [("sync",), ("watch", "add", DEFAULT), ("watch", "remove", DEFAULT), ("reclassify",)]
ALL_COMMANDS = READ_COMMANDS + WRITE_COMMANDS


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def wal_free(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def last_run(db: Path) -> tuple[str, str, list[str]]:
    conn = sqlite3.connect(db)
    try:
        run_id, command, outcome = conn.execute(
            "SELECT id, command, outcome FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        errors = [r[0] for r in conn.execute("SELECT error FROM run_errors WHERE run_id = ?", [run_id])]
    finally:
        conn.close()
    return command, outcome, errors


# -- issue 10 item 5: a directory, an empty path, a device ------------------------------------


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=" ".join)
def test_a_directory_as_db_is_one_line_exit_4_and_nothing_is_created(fake, tmp_path, args):
    registry, server = fake
    folder = tmp_path / "trials.db"
    folder.mkdir()
    result = Cli(folder)(*args, api_url=server.url)
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == f"error: {folder} is a directory, not a database file\n"
    assert listing(tmp_path) == ["trials.db"] and listing(folder) == []
    assert registry.requests == []


@pytest.mark.parametrize("args", [("status",), ("sync",), ("watch", "add", DEFAULT)], ids=" ".join)
def test_an_empty_db_path_is_a_usage_error(fake, tmp_path, monkeypatch, args):
    registry, server = fake
    monkeypatch.chdir(tmp_path)
    result = Cli("")(*args, api_url=server.url)  # type: ignore[arg-type]  # `--db ""`
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "error: Invalid value for '--db': the database path is empty (see: regsync --help)\n"
    assert listing(tmp_path) == []
    assert registry.requests == []


def test_the_library_refuses_an_empty_path_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for open_ in (Store.open_read, Store.open_write):
        with pytest.raises(regsync.StoreError, match="the database path is empty"):
            open_("")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("args", ALL_COMMANDS, ids=" ".join)
def test_a_device_as_db_is_refused_and_nothing_is_created_beside_it(fake, args):
    registry, server = fake
    leftovers = ["/dev/null.lock", "/dev/null-journal", "/dev/null-wal", "/dev/null-shm"]
    assert not any(os.path.exists(p) for p in leftovers)
    result = Cli(Path("/dev/null"))(*args, api_url=server.url)
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == "error: /dev/null is a character device, not a database file\n"
    assert not any(os.path.exists(p) for p in leftovers)
    assert registry.requests == []


# -- issue 11 item 8: a FIFO never blocks --------------------------------------------------------


@pytest.mark.parametrize("args", [("status",), ("history", DEFAULT), ("sync",), ("reclassify",)], ids=" ".join)
def test_a_fifo_as_db_is_refused_without_opening_it(fake, tmp_path, args):
    registry, server = fake
    fifo = tmp_path / "trials.db"
    os.mkfifo(fifo)
    # A real process: were the FIFO opened, it would block until the hang guard kills the test.
    result = run_regsync(fifo, server.url, *args)
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr == f"error: {fifo} is a named pipe (FIFO), not a database file\n"
    assert listing(tmp_path) == ["trials.db"]
    assert registry.requests == []


# -- issue 10 item 6: commands with nothing to work on --------------------------------------------


@pytest.mark.parametrize("args", [("reclassify",), ("watch", "remove", DEFAULT), ("watch", "remove", "--query", "x")],
                         ids=" ".join)
def test_reclassify_and_watch_remove_need_a_database_and_create_none(run, db_path, args):
    result = run(*args)
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == f"error: no database at {db_path} (run `regsync sync` first, or pass --db)\n"
    assert listing(db_path.parent) == []


def test_sync_and_watch_add_still_create_the_database(fake, tmp_path):
    _, server = fake
    assert Cli(tmp_path / "a.db")("watch", "add", DEFAULT, api_url=server.url).exit_code == 0
    assert Cli(tmp_path / "b.db")("sync", api_url=server.url).exit_code == 0
    assert {"a.db", "b.db"} <= set(listing(tmp_path))


# -- issue 10 item 7: read-only copies -----------------------------------------------------------


def immutable(path: Path):
    """``chattr +i``: not even root may create a file in ``path`` (a directory) or write it."""
    chattr = shutil.which("chattr")
    if not chattr or subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not permitted here: cannot make a read-only directory as root")

    def undo() -> None:
        subprocess.run([chattr, "-i", str(path)], check=True)

    return undo


def synced_copy(fake, directory: Path) -> Path:
    """A database with two versions of the default study, checkpointed, no -wal or -shm."""
    registry, server = fake
    directory.mkdir()
    db = directory / "trials.db"
    run = Cli(db)
    assert run("sync", api_url=server.url).exit_code == 0
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    assert run("sync", "--force", api_url=server.url).exit_code == 0
    Path(f"{db}.lock").unlink()  # a copy as archived: the database file alone
    return db


def expected_reads(db: Path) -> dict[tuple[str, ...], str]:
    """What each read command prints on a writable copy (the reference); then the copy is
    the database file alone again (readers leave an empty -wal and -shm behind)."""
    run = Cli(db)
    out = {}
    for args in READ_COMMANDS:
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        out[args] = result.stdout
    for suffix in ("-wal", "-shm"):
        leftover = Path(f"{db}{suffix}")
        if leftover.exists():
            assert suffix == "-shm" or leftover.stat().st_size == 0
            leftover.unlink()
    return out


def test_read_commands_work_on_a_database_in_a_read_only_directory(fake, tmp_path):
    db = synced_copy(fake, tmp_path / "archive")
    wal_free(db)  # an archived copy: one file (journal_mode stays DELETE)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")  # ...or left in WAL mode, as a writer leaves it
    conn.close()
    reference = expected_reads(db)
    assert listing(db.parent) == ["trials.db"]
    undo = immutable(db.parent)
    try:
        run = Cli(db)
        for args, stdout in reference.items():
            result = run(*args)
            assert (result.exit_code, result.stderr) == (0, ""), args
            assert result.stdout == stdout, args
        # Writers still say plainly that they cannot.
        refused = run("watch", "add", "NCT00763412")
        assert (refused.exit_code, refused.stderr) == (4, f"error: cannot write in {db.parent} (read-only directory)\n")
    finally:
        undo()
    assert listing(db.parent) == ["trials.db"]


def test_a_read_only_copy_with_unmerged_wal_is_refused_plainly(fake, tmp_path):
    db = synced_copy(fake, tmp_path / "archive")
    # A copy taken while a writer had not merged its WAL: -wal has committed data, no -shm.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("UPDATE studies SET brief_title = 'only in the WAL'")
    keep = tmp_path / "copy"
    keep.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{db}{suffix}", keep / f"trials.db{suffix}")
    conn.close()
    copy = keep / "trials.db"
    assert listing(keep) == ["trials.db", "trials.db-wal"]
    undo = immutable(keep)
    try:
        result = Cli(copy)("status")
    finally:
        undo()
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (
        f"error: cannot read database {copy}: its write-ahead log {copy}-wal holds changes not yet "
        f"in the database file, and {keep} is read-only; open it once where it can be written\n"
    )
    assert listing(keep) == ["trials.db", "trials.db-wal"]


def in_read_only_mount(directory: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` in a private mount namespace where ``directory`` is bind-mounted read-only."""
    script = 'mount --make-rprivate / && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(directory), *argv],
        capture_output=True, text=True, env=regsync_env(), timeout=HANG_GUARD, check=False,
    )


def test_read_commands_work_on_a_read_only_bind_mount(fake, tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("no unshare here: cannot make a private read-only bind mount")
    db = synced_copy(fake, tmp_path / "archive")
    reference = expected_reads(db)
    check = in_read_only_mount(db.parent, ["touch", str(db.parent / "probe")])
    if check.returncode == 0 or "Read-only file system" not in check.stderr:
        pytest.skip(f"could not make a read-only bind mount: {check.stderr.strip()}")
    for args, stdout in reference.items():
        result = in_read_only_mount(db.parent, [*regsync_argv(), "--db", str(db), *args])
        assert (result.returncode, result.stderr) == (0, ""), args
        assert result.stdout == stdout, args
    refused = in_read_only_mount(db.parent, [*regsync_argv(), "--db", str(db), "watch", "add", "NCT00763412"])
    assert (refused.returncode, refused.stderr) == (4, f"error: database {db} is read-only\n")
    assert listing(db.parent) == ["trials.db"]


# -- issue 11 item 9: a kill while the database is first created ------------------------------


def empty_file(db: Path) -> None:
    db.write_bytes(b"")


def wal_header_only(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def migrations_table_only(db: Path) -> None:
    import sqlite_utils

    wal_header_only(db)
    sqlite_utils.Database(db)["_sqlite_migrations"].create(
        {"id": int, "migration_set": str, "name": str, "applied_at": str}, pk="id")


def migrations_table_and_index(db: Path) -> None:
    import sqlite_utils

    migrations_table_only(db)
    sqlite_utils.Database(db)["_sqlite_migrations"].create_index(["migration_set", "name"], unique=True)


def first_migration_only(db: Path) -> None:
    import sqlite_utils

    build_migrations().apply(sqlite_utils.Database(db), stop_before="0002_changes")


HALF_MADE = [empty_file, wal_header_only, migrations_table_only, migrations_table_and_index, first_migration_only]


@pytest.mark.parametrize("state", HALF_MADE, ids=lambda f: f.__name__)
def test_the_next_run_completes_a_half_made_database(fake, db_path, state):
    _, server = fake
    state(db_path)
    run = Cli(db_path)
    result = run("sync", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert json.loads(run("history", DEFAULT, "--json").stdout)[0]["version"] == 1
    with Store.open_write(db_path) as store:
        assert build_migrations().pending(store.db) == []


@pytest.mark.parametrize("state", HALF_MADE[:4], ids=lambda f: f.__name__)
def test_a_read_command_on_a_half_made_database_says_what_to_run(run, db_path, state):
    state(db_path)
    result = run("status")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (
        f"error: database {db_path} holds no regsync data yet (empty, or its creation was "
        "interrupted); run a writing command such as `regsync sync` to create it\n"
    )


KILL_IN_MIGRATION = """
import os, sys
import regsync.store as store
real = store.build_migrations
def dying(directory=None):
    migrations = real(directory)
    for m in migrations._migrations:
        if m.name == sys.argv[2]:
            fn = m.fn
            def die(db, fn=fn):
                fn(db)
                os._exit(9)  # SIGKILL-like: no cleanup, no rollback by Python
            m.fn = die
    return migrations
store.build_migrations = dying
store.Store.open_write(sys.argv[1]).close()
"""


@pytest.mark.parametrize("migration", ["0001_core", "0003_portfolio", "0004_sources"])
def test_a_process_dying_inside_the_migrations_leaves_no_half_schema(fake, db_path, migration):
    _, server = fake
    died = subprocess.run([sys.executable, "-c", KILL_IN_MIGRATION, str(db_path), migration],
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert died.returncode == 9, died.stderr
    conn = sqlite3.connect(db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    assert tables == []  # the whole schema is one transaction: nothing of it, not half
    result = run_regsync(db_path, server.url, "sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"


def test_sigkill_during_the_first_open_never_wedges_the_database(tmp_path):
    rounds = random.Random(11)
    for i in range(8):
        db = tmp_path / f"r{i}.db"
        proc = popen_regsync(db, None, "watch", "add", DEFAULT)
        # Somewhere in start-up, creation or after: wherever it lands, the next run completes.
        try:
            proc.wait(timeout=rounds.uniform(0.05, 0.6))
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=HANG_GUARD)
        again = run_regsync(db, None, "watch", "add", DEFAULT)
        assert again.returncode == 0, (i, again.stderr)
        listed = run_regsync(db, None, "watch", "list", "--json")
        assert [r["nct_id"] for r in json.loads(listed.stdout)["studies"]] == [DEFAULT], i


# -- issue 11 item 11: a full disk -----------------------------------------------------------


def limit_growth(monkeypatch) -> None:
    """Every regsync connection may not grow the database: SQLite itself answers
    SQLITE_FULL ("database or disk is full") where the disk would have run out."""
    real = regsync.store._connect

    def connect(path: str, *args, **kwargs) -> sqlite3.Connection:
        conn = real(path, *args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(regsync.store, "_connect", connect)


def test_a_full_disk_during_a_sync_is_one_line_exit_4_recorded_failed_and_recovered(fake, db_path, monkeypatch):
    registry, server = fake
    ids = fixture_names()
    run = Cli(db_path)
    assert run("sync", *ids, api_url=server.url).exit_code == 0
    for nct_id in ids:
        registry.add(edit(load(nct_id), overallStatus="RECRUITING", whyStopped="x" * 5000))
    with monkeypatch.context() as patched:
        limit_growth(patched)
        result = run("sync", "--force", *ids, api_url=server.url)
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot write to database {db_path}: database or disk is full; "
        "what was stored before is intact (free some space and run again)"
    )
    assert "Traceback" not in result.stderr
    command, outcome, errors = last_run(db_path)
    assert (command, outcome) == ("sync", "failed")
    assert errors == [(f"cannot write to database {db_path}: database or disk is full; "
                       "what was stored before is intact (free some space and run again)")]
    for nct_id in ids:
        assert db_versions(db_path, nct_id) == [1]
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    # The next run, with room again, stores everything.
    again = run("sync", "--force", *ids, api_url=server.url)
    assert again.exit_code == 0, again.stderr
    for nct_id in ids:
        assert db_versions(db_path, nct_id) == [1, 2]


class FullAtCommit(sqlite3.Connection):
    """A connection whose COMMITs fail as on a full disk (the WAL cannot grow)."""

    def execute(self, sql, *args):  # type: ignore[override]
        if sql == "COMMIT" and os.environ.get("FULL_AT_COMMIT"):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_a_full_disk_at_commit_is_one_line_exit_4(fake, db_path, monkeypatch):
    registry, server = fake
    run = Cli(db_path)
    assert run("sync", api_url=server.url).exit_code == 0
    registry.add(edit(load(DEFAULT), overallStatus="RECRUITING"))
    real = regsync.store._connect
    monkeypatch.setattr(regsync.store, "_connect", lambda path, **kw: real(path, factory=FullAtCommit, **kw))
    monkeypatch.setenv("FULL_AT_COMMIT", "1")
    result = run("watch", "add", "NCT00763412")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (
        f"error: cannot write to database {db_path}: database or disk is full; "
        "what was stored before is intact (free some space and run again)\n"
    )
    monkeypatch.delenv("FULL_AT_COMMIT")
    assert run("watch", "list", "--json").exit_code == 0
    assert [r["nct_id"] for r in json.loads(run("watch", "list", "--json").stdout)["studies"]] == []
    assert db_versions(db_path) == [1]


def test_no_space_for_the_lock_file_is_one_line_exit_4_and_releases_it(fake, db_path, monkeypatch):
    registry, server = fake

    def write(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(regsync.lock.os, "write", write)
        result = Cli(db_path)("sync", api_url=server.url)
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == f"error: cannot write lock file {db_path}.lock: No space left on device\n"
    assert registry.requests == []
    with WriteLock(db_path):  # not left held
        pass


# -- issue 11 item 12: one lock per file ---------------------------------------------------------


def busy_line(db, pid: int) -> str:
    return (f"error: another regsync (pid {pid}) is writing to {db}; "
            "try again later or pass --wait SECONDS\n")


def test_a_symlink_to_the_database_meets_the_same_lock(fake, tmp_path):
    registry, server = fake
    real = tmp_path / "srv" / "trials.db"
    real.parent.mkdir()
    link = tmp_path / "mine.db"
    link.symlink_to(real)
    assert Cli(real)("sync", api_url=server.url).exit_code == 0
    registry.reset_log()
    with WriteLock(real):
        result = Cli(link)("sync", "--force", api_url=server.url)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", busy_line(link, os.getpid()))
    assert registry.requests == []
    with WriteLock(link):  # and the other way round
        result = Cli(real)("watch", "add", "NCT00763412")
    assert (result.exit_code, result.stderr) == (3, busy_line(real, os.getpid()))
    assert listing(tmp_path) == ["mine.db", "srv"]  # the lock lives beside the real file


def test_a_relative_and_an_absolute_path_meet_the_same_lock(fake, tmp_path, monkeypatch):
    _, server = fake
    monkeypatch.chdir(tmp_path)
    with WriteLock(tmp_path / "trials.db"):
        result = Cli(Path("./trials.db"))("sync", api_url=server.url)
    assert (result.exit_code, result.stderr) == (3, busy_line("trials.db", os.getpid()))


def test_a_real_writer_and_one_through_a_symlink_never_write_at_once(fake, tmp_path):
    registry, server = fake
    db = tmp_path / "trials.db"
    link = tmp_path / "link.db"
    link.symlink_to(db)
    hold = registry.hold(DEFAULT)
    writer = popen_regsync(db, server.url, "sync", "--timeout", str(int(HANG_GUARD)))
    try:
        hold.wait_arrived()
        second = run_regsync(link, server.url, "sync")
    finally:
        hold.release()
        _, err = writer.communicate(timeout=HANG_GUARD)
    assert second.returncode == 3
    assert second.stderr == busy_line(link, writer.pid)
    assert writer.returncode == 0, err
    assert db_versions(db) == [1]


def test_a_hard_linked_database_is_refused_for_writing_but_read(fake, tmp_path):
    _, server = fake
    db = tmp_path / "trials.db"
    assert Cli(db)("sync", api_url=server.url).exit_code == 0
    other = tmp_path / "other.db"
    os.link(db, other)
    for path in (db, other):
        result = Cli(path)("sync", "--force", api_url=server.url)
        assert (result.exit_code, result.stdout) == (4, "")
        assert result.stderr == (
            f"error: database {path} has 2 hard links, and SQLite keeps its journal per name "
            "(writing through two names can corrupt it): keep one name, or use a symlink\n"
        )
    assert Cli(other)("history", DEFAULT).exit_code == 0
    assert not os.path.exists(f"{other}.lock")


def test_a_foreign_write_transaction_is_exit_3_not_a_traceback(fake, db_path, monkeypatch):
    _, server = fake
    run = Cli(db_path)
    assert run("sync", api_url=server.url).exit_code == 0
    monkeypatch.setattr(regsync.store, "BUSY_TIMEOUT", 0.0)  # no real waiting in a test
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. the sqlite3 shell, mid-edit
    try:
        result = run("watch", "add", "NCT00763412")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        f"error: another program is writing to {db_path} (SQLite: database is locked); "
        "try again later or pass --wait SECONDS\n"
    )
    assert run("watch", "add", "NCT00763412").exit_code == 0


def test_write_transactions_take_the_write_lock_up_front(db_path):
    with Store.open_write(db_path) as store:
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        store.watch_add(["NCT00763412"])
        store.conn.set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"


# -- issue 11 item 13: readers never migrate --------------------------------------------------


def test_parallel_readers_on_an_older_schema_write_nothing(tmp_path):
    import sqlite_utils

    db = tmp_path / "trials.db"
    old = sqlite_utils.Database(db)
    build_migrations().apply(old, stop_before="0003_portfolio")
    old.close()
    wal_free(db)
    before = db.read_bytes()
    readers = [popen_regsync(db, None, *args) for args in READ_COMMANDS for _ in range(2)]
    results = [(p.communicate(timeout=HANG_GUARD), p.returncode) for p in readers]
    latest = regsync.store.migration_names()[-1]
    for (out, err), code in results:
        assert (code, out) == (4, "")
        assert err == (
            f"error: database {db} was written by an older regsync (schema 0002_changes, this regsync "
            f"needs {latest}); run a writing command such as `regsync sync` to upgrade it\n"
        )
    assert db.read_bytes() == before
    assert listing(tmp_path) == ["trials.db"]


FULL_DISK_SCRIPT = r'''
set -u
regsync="$1"; db_src="$2"; url="$3"; out="$4"; shift 4
mnt="$out/mnt"
mkdir -p "$mnt"
mount --make-rprivate / && mount -t tmpfs -o size=16m tmpfs "$mnt" || exit 99
cp "$db_src" "$mnt/trials.db"
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
truncate -s -96K "$mnt/filler"  # room to open the database, none for new versions
"$regsync" --db "$mnt/trials.db" --api-url "$url" sync --force "$@" >"$out/full.out" 2>"$out/full.err"
echo $? >"$out/full.rc"
rm "$mnt/filler"
"$regsync" --db "$mnt/trials.db" status --json >"$out/status.json" 2>&1
"$regsync" --db "$mnt/trials.db" --api-url "$url" sync --force "$@" >"$out/again.out" 2>"$out/again.err"
echo $? >"$out/again.rc"
'''


def test_a_real_full_disk_tmpfs(fake, tmp_path):
    """The same as above on a real full file system: a small tmpfs in a private mount
    namespace (skips where that is not permitted)."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare here: cannot mount a private tmpfs")
    registry, server = fake
    ids = fixture_names()
    src = tmp_path / "src" / "trials.db"
    src.parent.mkdir()
    assert Cli(src)("sync", *ids, api_url=server.url).exit_code == 0
    wal_free(src)
    for nct_id in ids:
        registry.add(edit(load(nct_id), overallStatus="RECRUITING", whyStopped="x" * 5000))
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", FULL_DISK_SCRIPT, "sh", regsync_argv()[0], str(src), server.url, str(out), *ids],
        capture_output=True, text=True, env=regsync_env(), timeout=HANG_GUARD * 3, check=False,
    )
    if done.returncode == 99 or not (out / "full.rc").exists():
        pytest.skip(f"could not mount a private tmpfs: {done.stderr.strip()}")
    full_err = (out / "full.err").read_text()
    assert (out / "full.rc").read_text().strip() == "4", full_err
    assert "Traceback" not in full_err
    errors = [line for line in full_err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: cannot write to database {out}/mnt/trials.db: database or disk is full; "
        "what was stored before is intact (free some space and run again)"
    ], full_err
    status = json.loads((out / "status.json").read_text())
    assert status["runs"][0]["outcome"] == "failed"
    assert status["versions"] == len(ids)  # nothing half-stored
    assert (out / "again.rc").read_text().strip() == "0", (out / "again.err").read_text()
    again = sorted((out / "again.out").read_text().splitlines())
    assert [line.split(" [")[0] for line in again] == sorted(f"{nct_id} changed v1 -> v2" for nct_id in ids)
