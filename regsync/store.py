"""SQLite storage: studies, their versions, classified changes, the run ledger, the watchlist.

The store owns the whole write protocol (``Store.open_write``): checks first (the directory
exists, the path is not a directory, the file is SQLite, it can be written), nothing created
next to the file before they pass; then the writer lock (``<db>.lock``); then the schema
migrations. ``Store.open_read`` takes no lock and never migrates: a database whose schema is
older than this regsync is refused with a StoreError asking for a writing command, which
upgrades it under the lock.

The schema lives in ``db/migrations/*.sql`` and is applied with sqlite-utils ``Migrations``;
each file is one migration, applied once, in name order, inside a transaction.

``save_page`` is the one place that decides whether a study is new, changed or unchanged;
a page of studies is one transaction, so a killed run loses at most the page in flight.
"""

from __future__ import annotations

import os
from functools import lru_cache
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import orjson

from regsync.errors import (
    LockBusy,
    RegsyncError,
    StoreError,
    UnknownStudy,
    UnknownVersion,
)
from regsync.lock import WriteLock
from regsync.model import Change, RunOutcome, StoredChange, StudyStatus
from regsync.model import dig as _get

if TYPE_CHECKING:  # sqlite-utils is imported by writers only: read commands start faster
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    from regsync.bodies import Codec  # zstandard is imported on the first record read or written


def _warn(message: str, *args: object) -> None:
    # logging is imported on the first warning (a writer's), not by every read command.
    import logging

    logging.getLogger(__name__).warning(message, *args)


MIGRATION_SET = "regsync"
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' MIGRATIONS_TABLE

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # UTC, as stored in every *_at column

_NCT_ID = re.compile(r"NCT\d{8}")

# How long a writer's statement waits for SQLite's own write lock (held by a program other
# than regsync: regsync's writers already queue on the writer lock) before it gives up with
# LockBusy; ``--wait`` lengthens it.
BUSY_TIMEOUT = 30.0

# ``IN (...)`` lists are cut to this many parameters (SQLite's limit is 32766 here, 999 in
# old builds).
_IN_CHUNK = 500


def utcnow() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


# -- content hashing ----------------------------------------------------------------------

# Parts of a record that change without the record changing. They are kept in the stored JSON
# but left out of the hash, so they never create a version on their own:
# - derivedSection: computed by the registry, not written by the sponsor. Its
#   miscInfoModule.versionHolder is the date of the data release and changes every day for
#   every study; its MeSH trees and model predictions are recomputed and re-formatted
#   (D000001943 -> D002283) across the whole registry at once. A real edit to the record
#   stores the new derivedSection along with it.
HASH_EXCLUDED_TOP_LEVEL = frozenset({"derivedSection"})


def _sha256(data: bytes) -> Any:
    # hashlib is imported when a record is first hashed (a write), not by read commands.
    import hashlib

    return hashlib.sha256(data)


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON (sorted keys), minus registry-computed parts."""
    kept = {k: v for k, v in record.items() if k not in HASH_EXCLUDED_TOP_LEVEL}
    return _sha256(_dumps(kept, sort_keys=True)).hexdigest()


def _dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """orjson's JSON, or the standard library's for what orjson refuses: nesting deeper than
    254 levels (the registry's parser accepts 1024) or an integer beyond 64 bits. Records
    orjson can write keep their hash; a record neither can write raises (its study fails)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        import json

        return json.dumps(
            value, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()


def summary_fields(record: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(brief title, overall status, last update post date): the columns kept beside a record.
    Only text is kept there: a malformed value (an object as overallStatus) stays in the
    record itself, and its column is empty."""
    status = _get(record, "protocolSection", "statusModule")
    values = (
        _get(record, "protocolSection", "identificationModule", "briefTitle"),
        _get(status, "overallStatus") if status is not None else None,
        _get(status, "lastUpdatePostDateStruct", "date") if status is not None else None,
    )
    title, overall, posted = (v if isinstance(v, str) else None for v in values)
    return title, overall, posted


def _process_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 checks without sending)."""
    if not pid:
        return True  # not known: believe the ledger
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return True
    return True


# -- migrations ------------------------------------------------------------------------------


def migrations_dir() -> str:
    """Where the schema is: inside the package in a wheel, ``db/migrations`` in a checkout.
    (os.path, not pathlib: every read command asks, and pathlib would be a tenth of its
    start-up.)"""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "_migrations"), os.path.join(os.path.dirname(here), "db", "migrations")):
        if os.path.isdir(candidate):
            return candidate
    raise StoreError("regsync is installed without its schema (db/migrations not found)")


def migration_names(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """The schema versions in ``directory`` (default: this regsync's), in order."""
    found = os.listdir(directory if directory is not None else migrations_dir())
    return sorted(name.removesuffix(".sql") for name in found if name.endswith(".sql"))


def _split_sql(script: str) -> list[str]:
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buf.splitlines()
    ):
        statements.append(buf.strip())
    return statements


def build_migrations(directory: str | os.PathLike[str] | None = None) -> Migrations:
    from sqlite_utils.migrations import Migrations

    folder = os.fspath(directory) if directory is not None else migrations_dir()
    migrations = Migrations(MIGRATION_SET)
    for name in migration_names(folder):
        with open(os.path.join(folder, f"{name}.sql"), encoding="utf-8") as f:
            statements = _split_sql(f.read())

        def apply(db: sqlite_utils.Database, statements: list[str] = statements, name: str = name) -> None:
            # executescript() would COMMIT: run statement by statement inside the transaction
            # that Migrations opens, so a failed migration leaves nothing half-applied.
            for statement in statements:
                db.execute(statement)
            step = _DATA_STEPS.get(name)
            if step is not None:  # in the same transaction: a kill leaves it undone or done
                step(db.conn)

        migrations(name=name)(apply)
    return migrations


def _scrub_credentials(conn: sqlite3.Connection) -> None:
    """Migration 0013's data step: every stored URL without the credentials older releases
    kept in it. Two URLs that differed only in their credentials become one source."""
    from regsync.urls import redact_url

    for source_id, url in conn.execute("SELECT id, url FROM sources WHERE url LIKE '%@%'").fetchall():
        clean = redact_url(url)
        if clean == url:
            continue
        same = conn.execute("SELECT id FROM sources WHERE url = ?", [clean]).fetchone()
        if same is None:
            conn.execute("UPDATE sources SET url = ? WHERE id = ?", [clean, source_id])
        else:
            conn.execute("UPDATE versions SET source_id = ? WHERE source_id = ?", [same[0], source_id])
            conn.execute("DELETE FROM sources WHERE id = ?", [source_id])
    for rowid, url in conn.execute("SELECT rowid, source FROM versions WHERE source LIKE '%@%'").fetchall():
        conn.execute("UPDATE versions SET source = ? WHERE rowid = ?", [redact_url(url), rowid])


_DATA_STEPS: dict[str, Callable[[sqlite3.Connection], None]] = {"0013_scrub_credentials": _scrub_credentials}


# -- values ------------------------------------------------------------------------------------


class Fetched(Protocol):
    """A record as fetched from the registry (``regsync.client.FetchedStudy`` is one). It may
    also carry ``raw`` (the registry's own bytes of the record, stored as they are instead of
    serialising it again), ``digest`` (its ``content_hash``, computed elsewhere) and
    ``prepared`` (a ``Prepared``, what ``prepare`` works out from it): regsync.seed hands in all three."""

    @property
    def nct_id(self) -> str: ...  # canonical, from the record itself

    @property
    def requested_id(self) -> str: ...  # the ID asked for (an alias when it differs)

    @property
    def record(self) -> dict[str, Any]: ...

    @property
    def source(self) -> str: ...  # the URL that answered


@dataclass(frozen=True)
class _Given:
    nct_id: str
    requested_id: str
    record: dict[str, Any]
    source: str


@dataclass(frozen=True)
class SaveResult:
    """What ``save_page`` did with one study."""

    nct_id: str
    requested_id: str
    status: StudyStatus  # new | changed | unchanged | error
    version: int | None  # error: the current version (None: not stored before)
    previous_version: int | None = None
    changes: list[Change] = field(default_factory=list)  # for changed studies
    removed_since: str | None = None  # it had been removed from the registry since then: it is back
    error: str | None = None  # error: why this record was not stored
    label: str | None = None  # unchanged: what every output calls ``version`` (regsync.chain)
    submitted: str | None = None  # new and changed: the record's lastUpdateSubmitDate
    posted: str | None = None  # and its lastUpdatePostDate


# A version's results obligation as the columns of ``obligations`` after (nct_id, version):
# applicability, reason, due_date, overdue_after, state, days, as_of, detail (JSON). Given by
# the caller (regsync.judge.obligation_columns): the store judges nothing.
ObligationFn = Callable[[Mapping[str, Any], str], tuple[Any, ...]]


def _no_obligation(record: Mapping[str, Any], when: str) -> tuple[Any, ...] | None:
    return None


@dataclass
class _Rows:
    """What one study of a page writes (prepared before anything is written)."""

    fetched: Fetched
    study: tuple[Any, ...] | None = None
    version: tuple[Any, ...] | None = None
    checked: tuple[str, int, str] | None = None  # unchanged: (last_checked, checked_run, nct_id)
    back: str | None = None  # removed from the registry since then, and now it is back
    obligation: tuple[Any, ...] | None = None  # a new version's results obligation


# What SQLite (or binding a Python value) raises for a value it cannot store: one study's
# problem. OperationalError (disk full, locked, I/O) is the database's and fails the page.
_VALUE_ERRORS = (sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError,
                 sqlite3.DataError, OverflowError, TypeError, ValueError)


class ValueRefused(Exception):
    """SQLite refused a value of what a block wrote (see ``Store.savepoint``)."""


def _not_stored(fetched: Fetched, current: int | None, stage: str, exc: BaseException) -> SaveResult:
    """The result of a record that could not be stored: one line naming the cause."""
    cause = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(cause) > 160:
        cause = cause[:159] + "…"
    return SaveResult(
        fetched.nct_id, fetched.requested_id, StudyStatus.ERROR, current,
        error=f"record not stored ({stage} failed: {cause}); stored versions kept",
    )


# -- the store -------------------------------------------------------------------------------


class Store:
    """A regsync database. Open it with ``Store.open_read`` or ``Store.open_write`` (also a
    context manager: ``with Store.open_write(path) as store: ...``)."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, lock: WriteLock | None = None):
        self.conn = conn
        self.path = path
        self._lock = lock
        self._db: sqlite_utils.Database | None = None
        self._checkpointer: _Checkpointer | None = None
        self._codec: Codec | None = None
        # Decoded records by (nct_id, version): (bytes, depth of its chain of deltas). Reading
        # a study's versions one after the other decodes each frame once.
        self._decoded: dict[tuple[str, int], tuple[bytes, int]] = {}
        self._trained_checked = False  # body_dicts holds a dictionary, or training failed

    @property
    def writable(self) -> bool:
        return self._lock is not None

    @property
    def db(self) -> sqlite_utils.Database:
        """The same connection as a ``sqlite_utils.Database``, for ad-hoc use."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._db

    # opening ----------------------------------------------------------------------------

    @classmethod
    def open_read(cls, path: str | os.PathLike[str]) -> Store:
        """Open for reading: no lock (WAL lets readers read while a sync writes), no
        migration, and the connection cannot write (``PRAGMA query_only``). A database in a
        read-only place (a read-only mount, an archived copy) is opened read-only.

        StoreError, the file untouched: a missing directory or database, a directory, a file
        that is not SQLite or not regsync's, a schema newer than this regsync, or an older one
        (a writing command, e.g. ``regsync sync``, upgrades it).
        """
        path = os.fspath(path)
        _check_path(path, write=False)
        conn = _connect_for_reading(path)
        try:
            _check_schema(conn, path, write=False)
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_write(
        cls,
        path: str | os.PathLike[str],
        *,
        wait: float = 0.0,
        create: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Store:
        """Open for writing, creating the database if it does not exist (unless ``create`` is
        false: then a missing database is a StoreError, and nothing is created).

        In this order: the checks of ``open_read`` plus that the file and its directory can be
        written and that the file has one name (no hard link), before anything (a lock, a
        journal) is created beside the file; then the writer lock of the real file (a symlink
        or another spelling of the path meets the same lock), waiting up to ``wait`` seconds
        (LockBusy, exit 3); then the migrations, all in one transaction, so a kill leaves
        the schema whole or absent. ``close()`` releases the lock.
        """
        path = os.fspath(path)
        _check_path(path, write=True, create=create)
        _refuse_foreign(path)
        lock = WriteLock(path, clock=clock, sleep=sleep)
        lock.acquire(wait)
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(path)
            conn.execute(f"PRAGMA busy_timeout = {int(max(BUSY_TIMEOUT, wait) * 1000)}")
            pending = _check_schema(conn, path, write=True)
            # WAL: readers (history, diff, changes) are never blocked by a nightly sync.
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a killed process never corrupts or loses a committed
            # transaction; only an OS crash or power loss may drop the last commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoints run beside this connection (see _Checkpointer), not in its commits.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA foreign_keys = ON")
            store = cls(conn, path, lock=lock)
            if pending:  # sqlite-utils is only imported to migrate
                # One transaction for them all (sqlite-utils nests each in a savepoint): a
                # kill while a new database is created leaves no table at all, never a
                # migrations table with nothing recorded in it.
                with store.transaction():
                    if pending == migration_names():
                        # Left by a creation killed half-way (empty, see _check_schema): made
                        # again whole, with its index.
                        conn.execute(f"DROP TABLE IF EXISTS {MIGRATIONS_TABLE}")
                    build_migrations().apply(store.db)
            store.convert_pending()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            lock.release()
            if isinstance(exc, sqlite3.Error):
                raise _store_error(path, exc) from None
            raise
        return store

    def close(self) -> None:
        """Close the database, then release the writer lock (if held)."""
        try:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            # The last connection to close checkpoints what is left and removes the WAL.
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested calls join the outer transaction."""
        if self.conn.in_transaction:
            yield
            return
        try:
            # IMMEDIATE: SQLite's write lock up front, waiting out the busy timeout. A
            # deferred BEGIN that reads first and writes later fails at once ("database is
            # locked") when another connection wrote in between.
            self.conn.execute("BEGIN IMMEDIATE" if self._lock is not None else "BEGIN")
            try:
                yield
            except BaseException:
                self._forget_bodies()
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # Disk full, I/O error, a lock held by another program: one line (exit 4, or 3
            # for the lock); the transaction is rolled back, what was stored before stays.
            self._forget_bodies()
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolls back itself when the connection closes
            raise _store_error(self.path, exc) from None
        if self._lock is not None:
            if self._checkpointer is None:
                self._checkpointer = _Checkpointer(self.path)
            self._checkpointer.poke()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: all or nothing of what the block writes. A value SQLite
        refuses (``ValueRefused``) undoes the block only; the database failing (disk full)
        goes on up and fails the transaction."""
        self.conn.execute("SAVEPOINT part")
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except _VALUE_ERRORS as exc:
            self._forget_bodies()
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise ValueRefused(" ".join(f"{type(exc).__name__}: {exc}".split())[:200]) from None
        except BaseException:
            self._forget_bodies()
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    def _forget_bodies(self) -> None:
        """What was decoded or trained may be rolled back with the rows: read it again."""
        self._decoded.clear()
        self._codec = None
        self._trained_checked = False

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    # watchlist ----------------------------------------------------------------------------

    def watch_add(self, nct_ids: Iterable[str], query_id: int | None = None) -> list[str]:
        now = utcnow()
        added = []
        with self.transaction():
            for nct_id in nct_ids:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO watchlist (nct_id, added_at, query_id) VALUES (?, ?, ?)",
                    [nct_id, now, query_id],
                )
                if cur.rowcount:
                    added.append(nct_id)
        return added

    def watch_remove(self, nct_ids: Iterable[str]) -> list[str]:
        removed = []
        with self.transaction():
            for nct_id in nct_ids:
                if self.conn.execute("DELETE FROM watchlist WHERE nct_id = ?", [nct_id]).rowcount:
                    removed.append(nct_id)
        return removed

    def watchlist(self) -> list[dict[str, Any]]:
        return list(
            self._rows(
                """SELECT w.nct_id, w.added_at, q.expr AS query, s.current_version,
                          s.overall_status, s.brief_title, s.last_checked, s.removed_at
                   FROM watchlist w
                   LEFT JOIN studies s ON s.nct_id = w.nct_id
                   LEFT JOIN watch_queries q ON q.id = w.query_id
                   ORDER BY w.nct_id"""
            )
        )

    def watch_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT nct_id FROM watchlist ORDER BY nct_id")]

    def checked_order(self) -> list[str]:
        """Every stored study, least recently verified by the registry first: by the run that
        verified it (a sequence), so a clock that was once far ahead cannot pin studies to the
        end of the order; last_checked only orders those verified before schema 0005."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT nct_id FROM studies ORDER BY COALESCE(checked_run, 0), last_checked, nct_id"
            )
        ]

    def removed_studies(self) -> dict[str, tuple[str, str]]:
        """(removed_at, last_checked) of every study the registry stopped returning."""
        return {
            r[0]: (r[1], r[2])
            for r in self.conn.execute(
                "SELECT nct_id, removed_at, last_checked FROM studies WHERE removed_at IS NOT NULL"
            )
        }

    def checked_data_timestamps(self, nct_ids: Iterable[str]) -> dict[str, str | None]:
        """For each given ID that is stored (directly or as a known alias): the registry's
        dataTimestamp seen by the run that last verified it (None when unknown)."""
        found: dict[str, str | None] = {}
        for given in nct_ids:
            row = self.conn.execute(
                "SELECT r.data_timestamp FROM studies s LEFT JOIN runs r ON r.id = s.checked_run "
                "WHERE s.nct_id = ?",
                [self.resolve_id(given)],
            ).fetchone()
            if row is not None:
                found[given] = row[0]
        return found

    # aliases --------------------------------------------------------------------------------

    def resolve_id(self, nct_id: str) -> str:
        """The ID a study is stored under: ``nct_id`` itself, or the canonical ID a known
        alias (an old, merged number) answered as."""
        if self.conn.execute("SELECT 1 FROM studies WHERE nct_id = ?", [nct_id]).fetchone():
            return nct_id
        row = self.conn.execute("SELECT nct_id FROM aliases WHERE alias = ?", [nct_id]).fetchone()
        return str(row[0]) if row else nct_id

    # query watches ------------------------------------------------------------------------

    def query_add(self, expr: str) -> tuple[int, bool]:
        """(id, whether it is new)."""
        with self.transaction():
            row = self.conn.execute("SELECT id FROM watch_queries WHERE expr = ?", [expr]).fetchone()
            if row:
                return int(row[0]), False
            cur = self.conn.execute(
                "INSERT INTO watch_queries (expr, added_at, added_after_run) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(id), 0) FROM runs))",
                [expr, utcnow()],
            )
            assert cur.lastrowid is not None
            return cur.lastrowid, True

    def query_remove(self, expr: str) -> bool:
        with self.transaction():
            row = self.conn.execute("SELECT id FROM watch_queries WHERE expr = ?", [expr]).fetchone()
            if not row:
                return False
            # Studies the query brought in stay watched (and stored); they just lose the link.
            self.conn.execute("UPDATE watchlist SET query_id = NULL WHERE query_id = ?", [row[0]])
            self.conn.execute("DELETE FROM watch_queries WHERE id = ?", [row[0]])
            return True

    def queries(self) -> list[dict[str, Any]]:
        return list(self._rows(
            "SELECT id, expr, added_at, added_after_run, last_matched, last_matched_run FROM watch_queries ORDER BY id"
        ))

    def query_matched(self, query_id: int, matched: int, run_id: int) -> None:
        """How many studies a query watch matched on run ``run_id`` (already watched ones too)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE watch_queries SET last_matched = ?, last_matched_run = ? WHERE id = ?",
                [matched, run_id, query_id],
            )

    # runs -----------------------------------------------------------------------------------

    def begin_run(self, command: str, mode: str | None = None) -> int:
        """Start a run. The write lock is held: any run still marked 'running' belongs to a
        process that died (killed, power loss), so it is recorded as interrupted."""
        now = utcnow()
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET outcome = ?, ended_at = COALESCE(ended_at, ?) WHERE outcome = ?",
                [RunOutcome.INTERRUPTED, now, RunOutcome.RUNNING],
            )
            cur = self.conn.execute(
                "INSERT INTO runs (command, pid, started_at, outcome, mode) VALUES (?, ?, ?, ?, ?)",
                [command, os.getpid(), now, RunOutcome.RUNNING, mode],
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome | str,
        *,
        mode: str | None = None,
        complete: bool = False,
        data_timestamp: str | None = None,
        counts: Mapping[str, int] | None = None,
        requests: int = 0,
        duration: float | None = None,
        versions_stored: int | None = None,
    ) -> None:
        """Record how a run ended. ``counts`` by study status (new, changed, unchanged,
        removed, error); ``complete``: every watched study was checked, so the next run may
        go incremental from this one's data timestamp. ``duration``: seconds, by a monotonic
        clock. ``versions_stored``: a backfill's count, registry versions stored."""
        c = dict(counts or {})
        checked = sum(c.get(s, 0) for s in ("new", "changed", "unchanged", "removed"))
        with self.transaction():
            self.conn.execute(
                """UPDATE runs SET outcome = ?, ended_at = ?, mode = COALESCE(?, mode),
                       complete = ?, data_timestamp = ?, studies_checked = ?, new_studies = ?,
                       changed = ?, unchanged = ?, errors = ?, requests = ?, duration_seconds = ?,
                       versions_stored = ?
                   WHERE id = ?""",
                [
                    RunOutcome(outcome), utcnow(), mode, int(complete), data_timestamp, checked,
                    c.get("new", 0), c.get("changed", 0), c.get("unchanged", 0), c.get("error", 0),
                    requests, None if duration is None else max(0.0, duration), versions_stored, run_id,
                ],
            )

    def record_error(self, run_id: int, nct_id: str | None, message: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO run_errors (run_id, nct_id, error) VALUES (?, ?, ?)",
                [run_id, nct_id, message],
            )

    # -- a seed's progress (issue 23 item 1; regsync.seed) ----------------------------------

    def seed_progress(self, zip_id: str) -> dict[str, Any] | None:
        """How far the seed of the archive ``zip_id`` got (None: never begun)."""
        rows = self._rows("SELECT * FROM seed_progress WHERE zip = ?", [zip_id])
        return rows[0] if rows else None

    def seed_begin(self, zip_id: str, name: str, data_timestamp: str | None, members: int, run_id: int) -> None:
        """Record the seed of an archive (kept as it is when begun before: it resumes)."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO seed_progress (zip, name, data_timestamp, members, first_run) "
                "VALUES (?, ?, ?, ?, ?)",
                [zip_id, name, data_timestamp, members, run_id],
            )

    def seed_advance(self, zip_id: str, done: int, counts: Mapping[str, int], *, finished_run: int | None = None) -> None:
        """Members up to ``done`` are stored; ``counts`` (new, changed, unchanged, skipped,
        errors) are added. In the transaction that stored them (the caller's)."""
        self.conn.execute(
            """UPDATE seed_progress SET done = ?, new_studies = new_studies + ?, changed = changed + ?,
                   unchanged = unchanged + ?, skipped = skipped + ?, errors = errors + ?,
                   older = older + ?, finished_run = COALESCE(?, finished_run)
               WHERE zip = ?""",
            [done, counts.get("new", 0), counts.get("changed", 0), counts.get("unchanged", 0),
             counts.get("skipped", 0), counts.get("error", 0), counts.get("older", 0), finished_run, zip_id],
        )

    def posted_dates(self, nct_ids: Sequence[str]) -> dict[str, str]:
        """The lastUpdatePostDate of each stored study of ``nct_ids`` that has one."""
        found: dict[str, str] = {}
        for start in range(0, len(nct_ids), 500):
            chunk = list(nct_ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(self.conn.execute(
                f"SELECT nct_id, last_update_post_date FROM studies WHERE nct_id IN ({marks}) "
                "AND last_update_post_date IS NOT NULL", chunk).fetchall())
        return found

    # -- a backfill's progress (issue 20 item 3) ------------------------------------------

    def begin_backfill(self, run_id: int, nct_ids: Sequence[str]) -> tuple[int | None, set[str]]:
        """Record the studies of backfill run ``run_id``. When the backfill before it was
        over the same studies and did not try them all (stopped by a 403 or 429, killed),
        the studies it finished are recorded as finished here too and returned with that
        run's id: this run skips them, so each run gets further than the one before. After a
        backfill that tried every study: (None, empty), every index is read again (that is
        how a backfill finds new versions)."""
        wanted = set(nct_ids)
        resumed: tuple[int | None, set[str]] = (None, set())
        with self.transaction():
            before = self.conn.execute(
                "SELECT id, outcome FROM runs WHERE command = 'backfill' AND id < ? ORDER BY id DESC LIMIT 1", [run_id]
            ).fetchone()
            if before is not None and before[1] != RunOutcome.OK:
                rows = self.conn.execute("SELECT nct_id, done FROM backfill_studies WHERE run_id = ?", [before[0]]).fetchall()
                if {r[0] for r in rows} == wanted and any(r[1] == 0 for r in rows):
                    resumed = (before[0], {r[0] for r in rows if r[1] == 1})
            # Only the last run's rows are ever read, and this run carries forward what it
            # needs of them: older runs' rows are dropped.
            self.conn.execute("DELETE FROM backfill_studies WHERE run_id < ?", [run_id])
            self.conn.executemany(
                "INSERT OR IGNORE INTO backfill_studies (run_id, nct_id, done) VALUES (?, ?, ?)",
                [(run_id, nct_id, int(nct_id in resumed[1])) for nct_id in nct_ids],
            )
        return resumed

    def backfill_study_done(self, run_id: int, nct_id: str, *, failed: bool = False) -> None:
        """``nct_id`` is finished in backfill run ``run_id`` (``failed``: tried, with a study
        error: a resumed run tries it again)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE backfill_studies SET done = ? WHERE run_id = ? AND nct_id = ?", [2 if failed else 1, run_id, nct_id]
            )

    def last_complete_run(self) -> dict[str, Any] | None:
        rows = list(
            self._rows(
                "SELECT * FROM runs WHERE complete = 1 AND outcome IN (?, ?) ORDER BY id DESC LIMIT 1",
                [RunOutcome.OK, RunOutcome.NOTHING_TO_DO],
            )
        )
        return rows[0] if rows else None

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of the ledger. A run still marked running whose process
        is gone (SIGKILL, power loss) reads as interrupted: no finally of its own recorded
        that; the next writer records it."""
        runs = list(self._rows("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit]))
        for run in runs:
            if run["outcome"] == RunOutcome.RUNNING and not _process_alive(run["pid"]):
                run["outcome"] = str(RunOutcome.INTERRUPTED)
            run["error_messages"] = [
                dict(r)
                for r in self._rows(
                    "SELECT nct_id, error FROM run_errors WHERE run_id = ? ORDER BY rowid", [run["id"]]
                )
            ]
            run["registry_changes"] = self.registry_changes(run["id"])  # regsync.sentinel's findings
        return runs

    # studies and versions ---------------------------------------------------------------

    def current_version(self, nct_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT current_version FROM studies WHERE nct_id = ?", [nct_id]
        ).fetchone()
        return int(row[0]) if row else None

    def save(
        self,
        record: dict[str, Any],
        *,
        nct_id: str,
        source: str,
        requested_id: str | None = None,
        data_timestamp: str | None = None,
        run_id: int | None = None,
        obligation: ObligationFn | None = None,
    ) -> SaveResult:
        """Store one record (see ``save_page``)."""
        given = _Given(nct_id, requested_id or nct_id, record, source)
        return self.save_page([given], data_timestamp=data_timestamp, run_id=run_id, obligation=obligation)[0]

    def save_page(
        self,
        studies: Sequence[Fetched],
        *,
        data_timestamp: str | None = None,
        run_id: int | None = None,
        obligation: ObligationFn | None = None,
    ) -> list[SaveResult]:
        """Store a page of fetched records in one transaction; one result per record, in order.

        A record whose content hash equals its study's current one is unchanged: only
        ``last_checked`` moves. Any other record becomes a new version of its study (v1 for
        a new study), not yet judged (``judged_prev`` NULL: regsync.judge places it in the
        chain and judges it against its neighbour), with the results obligation
        ``obligation`` gives. A record fetched through an
        alias also records the alias (once) and moves the watchlist to the canonical ID. A
        record that cannot be hashed or stored (a value of a type nobody expected) costs only
        itself: its result has status ``error`` and says why, nothing of it is stored, and
        the page's other records are. The page commits together or not at all (or with the
        caller's transaction); a failure of the database itself (disk full) stores nothing.
        """
        if not studies:
            return []
        now = utcnow()
        results: list[SaveResult] = []
        pending: list[_Rows | None] = []  # what each study writes; None: it failed
        with self.transaction():
            known = self._current_states([s.nct_id for s in studies])
            removed = self._removed_since([s.nct_id for s in studies])
            seq = run_id if run_id is not None else self._last_run_id()
            source_ids: dict[str, int] = {}  # one URL answers for a whole page
            fresh: set[tuple[str, int]] = set()  # versions this page stores
            for fetched in studies:
                nct_id = fetched.nct_id
                state = known.get(nct_id)
                back = removed.pop(nct_id, None)
                stage = "hashing it"
                pre: Prepared | None = getattr(fetched, "prepared", None)  # worked out by a seed's reader
                try:
                    # A seed hashes each record in its reader process (regsync.seed): given here.
                    digest = getattr(fetched, "digest", None) or content_hash(fetched.record)
                    if state is not None and state[0] == digest:
                        rows = _Rows(fetched, checked=(now, seq, nct_id), back=back)
                        result = SaveResult(
                            nct_id, fetched.requested_id, StudyStatus.UNCHANGED, state[1], removed_since=back,
                            label=state[2],
                        )
                    else:
                        stage = "storing it"
                        previous = state[1] if state else None
                        # max: the same study twice in one page (its rows are written at the end)
                        version = max(previous + 1, self._top_version(nct_id) + 1) if previous is not None else 1
                        title, status, posted = pre.summary if pre else summary_fields(fetched.record)
                        if fetched.source not in source_ids:
                            source_ids[fetched.source] = self._source_id(fetched.source)
                        # A delta against the study's current version, unless that one is
                        # itself new on this page (its row is not written yet).
                        base = previous if previous is not None and (nct_id, previous) not in fresh else None
                        body, body_base = _keyframe(pre, base, self.codec) or self._pack(
                            nct_id, _raw_bytes(fetched), base)
                        fresh.add((nct_id, version))
                        row = (
                            nct_id, version, now, digest, data_timestamp, source_ids[fetched.source],
                            fetched.requested_id if fetched.requested_id != nct_id else None, run_id,
                            status, posted, body, pre.submitted if pre else _submitted(fetched.record),
                            None if previous is not None else 0, body_base,
                            *(pre.clear if pre else _clear_columns(fetched.record)),
                        )
                        o = None if obligation is None else _obligation(obligation, fetched, pre, now)
                        rows = _Rows(
                            fetched,
                            study=(nct_id, title, status, posted, version, digest, now, now, now, seq),
                            version=row,
                            back=back,
                            obligation=(nct_id, version, *o) if o else None,
                        )
                        result = SaveResult(
                            nct_id, fetched.requested_id,
                            StudyStatus.CHANGED if previous else StudyStatus.NEW,
                            version, previous, removed_since=back, submitted=row[11], posted=posted,
                        )
                except sqlite3.OperationalError:
                    raise  # the database failed (disk full, I/O), not this record
                except Exception as exc:  # noqa: BLE001 - any fault of one record is that record's
                    results.append(_not_stored(fetched, state[1] if state else None, stage, exc))
                    pending.append(None)
                    continue
                if rows.study is not None:
                    known[nct_id] = (digest, version, None)
                results.append(result)
                pending.append(rows)
            self._write_rows(pending, results, run_id, now)
            if not self._trained_checked:
                # In the page's transaction (a sync's also holds the judgement): a rollback
                # takes the dictionary back with the frames made with it (_forget_bodies).
                self._train_dict()
        return results

    def _write_rows(
        self, pending: list[_Rows | None], results: list[SaveResult], run_id: int | None, now: str
    ) -> None:
        """Write a page's rows in one go; if SQLite refuses a value, write them study by
        study instead (a savepoint each) and turn the refused study's result into its error."""
        conn = self.conn
        conn.execute("SAVEPOINT save_page")
        try:
            self._insert_rows([r for r in pending if r is not None], run_id, now)
        except sqlite3.OperationalError:
            raise
        except _VALUE_ERRORS:
            conn.execute("ROLLBACK TO save_page")
        else:
            conn.execute("RELEASE save_page")
            return
        conn.execute("RELEASE save_page")
        for index, rows in enumerate(pending):
            if rows is None:
                continue
            conn.execute("SAVEPOINT save_study")
            try:
                self._insert_rows([rows], run_id, now)
            except sqlite3.OperationalError:
                raise
            except _VALUE_ERRORS as exc:
                conn.execute("ROLLBACK TO save_study")
                was = results[index]
                current = was.version if was.status is StudyStatus.UNCHANGED else was.previous_version
                results[index] = _not_stored(rows.fetched, current, "storing it", exc)
            conn.execute("RELEASE save_study")

    def _insert_rows(self, page: Sequence[_Rows], run_id: int | None, now: str) -> None:
        conn = self.conn
        # Parents first: versions refer to studies, changes to versions.
        conn.executemany(
            """INSERT INTO studies (nct_id, brief_title, overall_status, last_update_post_date,
                   current_version, content_hash, first_seen, last_checked, last_changed,
                   checked_run, current_label)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '1')
               ON CONFLICT (nct_id) DO UPDATE SET
                   brief_title = excluded.brief_title, overall_status = excluded.overall_status,
                   last_update_post_date = excluded.last_update_post_date,
                   current_version = excluded.current_version, content_hash = excluded.content_hash,
                   last_checked = excluded.last_checked, last_changed = excluded.last_changed,
                   checked_run = excluded.checked_run, removed_at = NULL""",
            [r.study for r in page if r.study is not None],
        )
        # The record goes in as its compressed bytes (regsync.bodies); ``record`` stays empty.
        conn.executemany(
            f"""INSERT INTO versions (nct_id, version, fetched_at, content_hash, data_timestamp,
                   source, source_id, requested_id, run_id, overall_status,
                   last_update_post_date, body, submitted, judged_prev, chain_pos, label,
                   body_base, {_CLEAR_NAMES}, record)
               VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?,
                       CASE WHEN ?13 = 0 THEN 1 END, CASE WHEN ?13 = 0 THEN '1' END,
                       ?, {_CLEAR_MARKS}, '')""",
            [r.version for r in page if r.version is not None],
        )
        conn.executemany(_INSERT_OBLIGATION, [r.obligation for r in page if r.obligation is not None])
        conn.executemany(
            "UPDATE studies SET last_checked = ?, checked_run = ?, removed_at = NULL WHERE nct_id = ?",
            [r.checked for r in page if r.checked is not None],
        )
        for r in page:
            nct_id = r.fetched.nct_id
            if r.study is not None:
                pre: Prepared | None = getattr(r.fetched, "prepared", None)
                self._listed_aliases(nct_id, pre.aliases if pre else _aliases(r.fetched.record), now)
            if r.back is not None:
                conn.execute(
                    "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) "
                    "VALUES (?, 'reappeared', ?, ?, ?)",
                    [nct_id, f"back in the registry (removed since {r.back[:10]})", now, run_id],
                )
            if r.fetched.requested_id != nct_id:
                self._follow_alias(r.fetched.requested_id, nct_id, run_id, now)

    def _source_id(self, url: str) -> int:
        """The id of ``url`` in ``sources``, added if new."""
        self.conn.execute("INSERT OR IGNORE INTO sources (url) VALUES (?)", [url])
        return int(self.conn.execute("SELECT id FROM sources WHERE url = ?", [url]).fetchone()[0])

    def _listed_aliases(self, nct_id: str, listed: Any, now: str) -> None:
        """The old numbers a record lists (identificationModule.nctIdAliases) resolve to it."""
        if not isinstance(listed, list):
            return
        self.conn.executemany(
            "INSERT OR IGNORE INTO aliases (alias, nct_id, detected_at) VALUES (?, ?, ?)",
            [(a, nct_id, now) for a in listed if isinstance(a, str) and _NCT_ID.fullmatch(a) and a != nct_id],
        )

    def _top_version(self, nct_id: str) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM versions WHERE nct_id = ?", [nct_id]).fetchone()
        return int(row[0] or 0)

    def _last_run_id(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])

    def _removed_since(self, nct_ids: Sequence[str]) -> dict[str, str]:
        """removed_at of the given studies the registry had stopped returning."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(nct_ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for nct_id, removed_at in self.conn.execute(
                f"SELECT nct_id, removed_at FROM studies WHERE removed_at IS NOT NULL AND nct_id IN ({marks})",
                chunk,
            ):
                found[nct_id] = removed_at
        return found

    def _current_states(self, nct_ids: Sequence[str]) -> dict[str, tuple[str, int, str | None]]:
        """(content hash, current version, its label) per stored study, one query per
        _IN_CHUNK IDs."""
        found: dict[str, tuple[str, int, str | None]] = {}
        unique = list(dict.fromkeys(nct_ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for nct_id, digest, version, label in self.conn.execute(
                f"SELECT nct_id, content_hash, current_version, current_label FROM studies WHERE nct_id IN ({marks})",
                chunk,
            ):
                found[nct_id] = (digest, version, label)
        return found

    def _follow_alias(self, alias: str, canonical: str, run_id: int | None, now: str) -> None:
        """An old, merged number answered for ``canonical``: say so once, watch the canonical ID."""
        detail = f"{alias} is an alias of {canonical}"
        if not self.conn.execute(
            "SELECT 1 FROM events WHERE nct_id = ? AND kind = 'alias' AND detail = ?", [canonical, detail]
        ).fetchone():
            self.conn.execute(
                "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) VALUES (?, 'alias', ?, ?, ?)",
                [canonical, detail, now, run_id],
            )
        self.conn.execute(
            "INSERT INTO aliases (alias, nct_id, detected_at) VALUES (?, ?, ?) "
            "ON CONFLICT (alias) DO UPDATE SET nct_id = excluded.nct_id "
            "WHERE aliases.nct_id != excluded.nct_id",
            [alias, canonical, now],
        )
        self.conn.execute(
            "INSERT OR IGNORE INTO watchlist (nct_id, added_at, query_id) "
            "SELECT ?, added_at, query_id FROM watchlist WHERE nct_id = ?",
            [canonical, alias],
        )
        self.conn.execute("DELETE FROM watchlist WHERE nct_id = ?", [alias])

    def mark_removed(self, nct_id: str, run_id: int | None) -> bool:
        """The registry no longer returns this study: keep its data, record the event once
        (True then; False when the removal was already known). Either way the study counts as
        checked now: a removed study is asked for again once a week (see regsync.sync)."""
        now = utcnow()
        with self.transaction():
            seq = run_id if run_id is not None else self._last_run_id()
            cur = self.conn.execute(
                "UPDATE studies SET removed_at = COALESCE(removed_at, ?), last_checked = ?, checked_run = ? "
                "WHERE nct_id = ? AND removed_at IS NULL",
                [now, now, seq, nct_id],
            )
            if not cur.rowcount:
                self.conn.execute(
                    "UPDATE studies SET last_checked = ?, checked_run = ? WHERE nct_id = ?", [now, seq, nct_id]
                )
                return False
            self.conn.execute(
                "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) VALUES (?, 'removed', ?, ?, ?)",
                [nct_id, "the registry no longer returns this study", now, run_id],
            )
        return True

    def view_names(self) -> set[str]:
        """The names of the database's views (what Datasette's metadata can point at)."""
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}

    def study(self, nct_id: str) -> dict[str, Any]:
        rows = list(self._rows("SELECT * FROM studies WHERE nct_id = ?", [nct_id]))
        if not rows:
            raise UnknownStudy(nct_id)
        return rows[0]

    def history(self, nct_id: str) -> list[dict[str, Any]]:
        """A study's versions without their records, in the order of its chain as last
        settled (regsync.timeline gives them in the chain's order whatever the state)."""
        self.study(nct_id)
        return list(
            self._rows(
                """SELECT v.version, v.fetched_at, v.content_hash, v.last_update_post_date,
                          v.last_update_post_date AS posted, v.submitted, v.judged_prev, v.chain_pos, v.label,
                          v.overall_status, v.data_timestamp, COALESCE(s.url, v.source) AS source,
                          v.requested_id, v.registry_version, v.registry_date, v.module_labels,
                          v.in_history, v.norm_hash
                   FROM versions v LEFT JOIN sources s ON s.id = v.source_id
                   WHERE v.nct_id = ?
                   ORDER BY v.chain_pos, v.version""",
                [nct_id],
            )
        )

    def record(self, nct_id: str, version: int | None = None) -> dict[str, Any]:
        """A stored record as the API returned it (default: the current version)."""
        record: dict[str, Any] = orjson.loads(self.record_bytes(nct_id, version))
        return record

    def record_bytes(self, nct_id: str, version: int | None = None) -> bytes:
        """A stored record's bytes, exactly as the registry sent them (default: the current
        version). Records stored from the registry's history, or before regsync kept the
        bytes, are the JSON regsync wrote for them."""
        if version is None:
            version = int(self.study(nct_id)["current_version"])
        found = self._raw(nct_id, version)
        if found is None:
            last = self.study(nct_id)["current_version"]
            raise UnknownVersion(f"{nct_id} has no version {version} (versions 1-{last} are stored)")
        return found[0]

    # record bodies (regsync.bodies) ------------------------------------------------------

    @property
    def codec(self) -> Codec:
        if self._codec is None:
            from regsync.bodies import Codec

            self._codec = Codec(self._dict_bytes)
            row = self.conn.execute("SELECT id, data FROM body_dicts ORDER BY rowid DESC LIMIT 1").fetchone()
            if row is not None:
                self._codec.use_dict(int(row[0]), bytes(row[1]))
        return self._codec

    def _dict_bytes(self, dict_id: int) -> bytes | None:
        row = self.conn.execute("SELECT data FROM body_dicts WHERE id = ?", [dict_id]).fetchone()
        return None if row is None else bytes(row[0])

    def _raw(self, nct_id: str, version: int, _depth: int = 0) -> tuple[bytes, int] | None:
        """(bytes, depth of its chain of deltas) of a stored version; None if not stored."""
        key = (nct_id, version)
        found = self._decoded.get(key)
        if found is not None:
            return found
        row = self.conn.execute(
            "SELECT body_base, body, CASE WHEN body IS NULL THEN record END FROM versions "
            "WHERE nct_id = ? AND version = ?", [nct_id, version],
        ).fetchone()
        if row is None:
            return None
        base, body, legacy = row
        if body is None:  # stored before 0016 and not converted yet: the text as written then
            found = (legacy.encode() if isinstance(legacy, str) else bytes(legacy), 0)
        elif base is None:
            found = (self.codec.unpack(body), 0)
        else:
            if _depth > 4 * _keyframe_every():
                raise StoreError(f"the stored record of {nct_id} version {version} refers to itself")
            under = self._raw(nct_id, int(base), _depth + 1)
            if under is None:
                raise StoreError(f"the stored record of {nct_id} version {version} lacks its base v{base}")
            found = (self.codec.unpack(body, under[0]), under[1] + 1)
        if len(self._decoded) >= 256:
            self._decoded.clear()
        self._decoded[key] = found
        return found

    def _pack(self, nct_id: str, data: bytes, base: int | None) -> tuple[bytes, int | None]:
        """(frame, base version or None) for a version of ``nct_id`` whose bytes are ``data``:
        a delta against stored version ``base`` while its chain is short enough."""
        under = self._raw(nct_id, base) if base is not None else None
        if under is None or under[1] + 1 >= _keyframe_every():
            return self.codec.pack(data)[0], None
        frame, delta = self.codec.pack(data, under[0])
        return frame, base if delta else None

    def convert_pending(self, batch: int = 200, progress: Callable[[int], None] | None = None) -> int:
        """Store compressed every version still kept as text (written before schema 0016),
        ``batch`` versions per transaction: a kill loses at most the batch in flight, and the
        next writer's open goes on from there. The bytes read back are the text stored
        before, exactly. Returns how many versions were converted."""
        done = 0
        while self.conn.execute("SELECT 1 FROM versions WHERE body IS NULL LIMIT 1").fetchone() is not None:
            with self.transaction():
                rows = self.conn.execute(
                    "SELECT nct_id, version FROM versions WHERE body IS NULL ORDER BY nct_id, version LIMIT ?",
                    [batch],
                ).fetchall()
                if not rows:
                    return done
                if done == 0:
                    self._train_dict()
                for nct_id, version in rows:
                    self._convert(nct_id, int(version))
            done += len(rows)
            if progress is not None:
                progress(done)
        return done

    def _convert(self, nct_id: str, version: int) -> None:
        found = self._raw(nct_id, version)
        assert found is not None
        before = self.conn.execute(
            "SELECT MAX(version) FROM versions WHERE nct_id = ? AND version < ?", [nct_id, version]
        ).fetchone()[0]
        body, base = self._pack(nct_id, found[0], before)
        # The clear columns as the views read them from the record until now (json_extract).
        extract = ", ".join(
            f"{name} = CASE WHEN json_valid(record) THEN json_extract(record, '$.{'.'.join(path)}') END"
            for name, path in _CLEAR
        )
        self.conn.execute(
            f"UPDATE versions SET {extract}, body_base = ?, body = ?, record = '' WHERE nct_id = ? AND version = ?",
            [base, body, nct_id, version],
        )

    def _train_dict(self) -> None:
        """Train the dictionary first versions are compressed with, from a sample of the
        store's own records, once the store holds enough of them (``bodies.DICT_SAMPLES``);
        until then records are compressed without one. In the caller's transaction."""
        from regsync import bodies

        if self._trained_checked:
            return
        if self.conn.execute("SELECT 1 FROM body_dicts LIMIT 1").fetchone() is not None:
            self._trained_checked = True
            return
        if int(self.conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]) < bodies.DICT_SAMPLES:
            return
        self._trained_checked = True
        # Spread over the studies (random), first versions as a rule (whole, not deltas).
        picked = self.conn.execute(
            "SELECT nct_id, version FROM versions WHERE body_base IS NULL ORDER BY random() LIMIT ?",
            [bodies.DICT_SAMPLES],
        ).fetchall()
        samples = [found[0] for n, v in picked if (found := self._raw(n, int(v))) is not None]
        try:
            dict_id, data = bodies.train(samples)
        except Exception as exc:  # noqa: BLE001 - records too few or too alike: none, as before
            _warn("no compression dictionary trained (%s); records are compressed without one", exc)
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO body_dicts (id, data, trained_at, samples) VALUES (?, ?, ?, ?)",
            [dict_id, data, utcnow(), len(samples)],
        )
        self.codec.use_dict(dict_id, data)

    def _rewrite_body(self, nct_id: str, version: int, data: bytes | None) -> None:
        """Before version ``version``'s bytes change (``data``) or the row goes (None): the
        versions stored as deltas against it are stored whole, so none loses its base."""
        for (dependent,) in self.conn.execute(
            "SELECT version FROM versions WHERE nct_id = ? AND body_base = ?", [nct_id, version]
        ).fetchall():
            found = self._raw(nct_id, int(dependent))
            assert found is not None
            self.conn.execute(
                "UPDATE versions SET body = ?, body_base = NULL WHERE nct_id = ? AND version = ?",
                [self.codec.pack(found[0])[0], nct_id, dependent],
            )
        if data is not None:
            self.conn.execute(
                "UPDATE versions SET body = ?, body_base = NULL, record = '' WHERE nct_id = ? AND version = ?",
                [self.codec.pack(data)[0], nct_id, version],
            )
        self._decoded.clear()

    # the chain (regsync.chain orders it, regsync.judge and regsync.history write it) -------

    def chain_rows(self, nct_id: str) -> list[dict[str, Any]]:
        """A study's versions without their records, for placing them in the chain: local
        ``version``, ``registry_version`` (0-based), ``registry_date``, ``submitted``,
        ``posted``, ``fetched_at``, ``judged_prev``, ``chain_pos``, ``label``, ``source``,
        ``in_history``, ``norm_hash``, ``content_hash``."""
        return self._rows(
            """SELECT version, registry_version, registry_date, submitted,
                      last_update_post_date AS posted, fetched_at, judged_prev, chain_pos, label,
                      source, in_history, norm_hash, content_hash, module_labels
               FROM versions WHERE nct_id = ? ORDER BY chain_pos, version""",  # versions_chain answers it alone
            [nct_id],
        )

    def mark_history_due(self, nct_ids: Iterable[str]) -> None:
        """These studies are owed a fill-in of the registry versions regsync never saw."""
        now = utcnow()
        self.conn.executemany(
            "UPDATE studies SET history_due = COALESCE(history_due, ?) WHERE nct_id = ?",
            [(now, n) for n in nct_ids],
        )

    def history_due(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT nct_id FROM studies WHERE history_due IS NOT NULL ORDER BY history_due, nct_id")]

    def clear_history_due(self, nct_id: str) -> None:
        self.conn.execute("UPDATE studies SET history_due = NULL WHERE nct_id = ?", [nct_id])

    def data_steps_pending(self) -> bool:
        """Whether a version waits to be placed in its chain, judged or given its obligation
        (regsync.judge.settle_pending does it): one indexed query each, for every writer."""
        # Counting reads the smallest index of each table, not the records.
        versions, obligations = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM versions), (SELECT COUNT(*) FROM obligations)").fetchone()
        return versions != obligations or bool(self.unsettled_studies(1))

    def unsettled_studies(self, limit: int = 500) -> list[str]:
        """Studies with a version not yet placed in the chain or not yet judged."""
        return [
            r[0] for r in self.conn.execute(
                "SELECT DISTINCT nct_id FROM versions WHERE judged_prev IS NULL OR chain_pos IS NULL "
                "ORDER BY nct_id LIMIT ?", [limit],
            )
        ]

    def write_chain(self, nct_id: str, places: Sequence[tuple[int, int, str]]) -> None:
        """(version, chain_pos, label) of each of a study's versions; the study's current
        version's label is kept beside it (a sync's unchanged line reads it from there)."""
        self.conn.executemany(
            "UPDATE versions SET chain_pos = ?, label = ? WHERE nct_id = ? AND version = ?",
            [(pos, label, nct_id, version) for version, pos, label in places],
        )
        self.set_current_label(nct_id, dict((v, label) for v, _, label in places))

    def set_current_label(self, nct_id: str, labels: Mapping[int, str]) -> None:
        current = self.current_version(nct_id)
        if current is not None and current in labels:
            self.conn.execute("UPDATE studies SET current_label = ? WHERE nct_id = ?", [labels[current], nct_id])

    def judgement(self, nct_id: str, version: int) -> list[tuple[int, Change, str]]:
        """The stored changes that lead to ``version``: (from_version, change, detected_at)."""
        return [
            (int(r["from_version"]), _read_change(r), str(r["detected_at"]))
            for r in self._rows(
                "SELECT * FROM changes WHERE nct_id = ? AND to_version = ? ORDER BY id", [nct_id, version]
            )
        ]

    def write_judgement(
        self, nct_id: str, version: int, previous: int, changes: Sequence[Change], now: str
    ) -> None:
        """``version`` judged against ``previous`` (0: the first of its chain, nothing to
        judge): its changes replace the ones stored before. A change equal to one stored
        for the same pair keeps when it was detected; any other is detected ``now``."""
        before: dict[tuple[Any, ...], list[str]] = {}
        for from_v, change, detected in self.judgement(nct_id, version):
            if from_v == previous:
                before.setdefault(_identity(change), []).append(detected)
        self.conn.execute("DELETE FROM changes WHERE nct_id = ? AND to_version = ?", [nct_id, version])
        rows = []
        for change in changes:
            kept = before.get(_identity(change))
            rows.append(_change_row(nct_id, previous, version, change, kept.pop(0) if kept else now))
        self.conn.executemany(_INSERT_CHANGE, rows)
        self.conn.execute(
            "UPDATE versions SET judged_prev = ? WHERE nct_id = ? AND version = ?", [previous, nct_id, version]
        )

    def unjudge(self, nct_id: str, version: int) -> None:
        """Mark a version as not judged (its judge failed): the next run judges it again."""
        self.conn.execute(
            "UPDATE versions SET judged_prev = NULL WHERE nct_id = ? AND version = ?", [nct_id, version]
        )

    def set_norm_hashes(self, nct_id: str, hashes: Mapping[int, str]) -> None:
        self.conn.executemany(
            "UPDATE versions SET norm_hash = ? WHERE nct_id = ? AND version = ?",
            [(digest, nct_id, version) for version, digest in hashes.items()],
        )

    def insert_history_version(
        self,
        nct_id: str,
        record: dict[str, Any],
        *,
        registry_version: int,
        registry_date: str | None,
        module_labels: Sequence[str],
        norm_hash: str,
        run_id: int | None,
        obligation: ObligationFn | None = None,
    ) -> int:
        """A version read from the registry's history, as a new row (source
        'registry-history'), not yet judged; its local version number."""
        now = utcnow()
        top = self._top_version(nct_id)
        version = top + 1
        _, status, posted = summary_fields(record)
        # A delta against the version stored last: a backfill stores the registry's versions
        # in its order, so that is most often the one before.
        body, base = self._pack(nct_id, _dumps(record), top or None)
        self.conn.execute(
            f"""INSERT INTO versions (nct_id, version, fetched_at, content_hash, data_timestamp,
                   source, source_id, requested_id, run_id, overall_status, last_update_post_date,
                   record, registry_version, registry_date, module_labels, norm_hash, submitted,
                   in_history, body_base, body, {_CLEAR_NAMES})
               VALUES (?, ?, ?, ?, NULL, 'registry-history', NULL, NULL, ?, ?, ?, '', ?, ?, ?, ?, ?, 1,
                       ?, ?, {_CLEAR_MARKS})""",
            [nct_id, version, now, content_hash(record), run_id, status, posted,
             registry_version, registry_date, _dumps(list(module_labels)).decode(), norm_hash,
             registry_date or _submitted(record), base, body, *_clear_columns(record)],
        )
        o = obligation(record, now) if obligation is not None else None
        if o:
            self.conn.execute(_INSERT_OBLIGATION, (nct_id, version, *o))
        return version

    def set_registry(
        self,
        nct_id: str,
        version: int,
        *,
        registry_version: int | None,
        registry_date: str | None = None,
        module_labels: Sequence[str] = (),
        in_history: bool = False,
    ) -> None:
        """Give a stored version the registry's number (or take it away: None)."""
        self.conn.execute(
            "UPDATE versions SET registry_version = ?, registry_date = ?, module_labels = ?, in_history = ? "
            "WHERE nct_id = ? AND version = ?",
            [registry_version, registry_date if registry_version is not None else None,
             _dumps(list(module_labels)).decode() if registry_version is not None else None,
             int(in_history), nct_id, version],
        )

    def add_event(self, nct_id: str, kind: str, detail: str, run_id: int | None) -> bool:
        """Record an event once (same study, kind and detail); False when it was recorded before."""
        if self.conn.execute(
            "SELECT 1 FROM events WHERE nct_id = ? AND kind = ? AND detail = ?", [nct_id, kind, detail]
        ).fetchone():
            return False
        self.conn.execute(
            "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) VALUES (?, ?, ?, ?, ?)",
            [nct_id, kind, detail, utcnow(), run_id],
        )
        return True

    def silent_edits(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT nct_id, detail, detected_at FROM events WHERE kind = 'silent-edit' ORDER BY detected_at DESC, id DESC"
        )

    def registry_versions(self, nct_id: str) -> dict[int, int]:
        """The registry versions stored for a study: registry version -> local version."""
        return {
            int(r): int(v)
            for r, v in self.conn.execute(
                "SELECT registry_version, version FROM versions WHERE nct_id = ? AND registry_version IS NOT NULL",
                [nct_id],
            )
        }

    # changes ----------------------------------------------------------------------------

    def stored_changes(self, nct_id: str, from_v: int, to_v: int) -> list[Change] | None:
        """Classified changes stored for exactly this pair, or None if never judged as one."""
        row = self.conn.execute(
            "SELECT judged_prev FROM versions WHERE nct_id = ? AND version = ?", [nct_id, to_v]
        ).fetchone()
        if row is None or row[0] != from_v:
            return None
        return [c for f, c, _ in self.judgement(nct_id, to_v) if f == from_v]

    # The registry's date of a version where its history gives one, else the record's own.
    _CHANGE_SQL = """SELECT c.*, COALESCE(v.registry_date, v.submitted) AS submitted, v.last_update_post_date AS posted,
                            v.label AS to_label, p.label AS from_label,
                            v.registry_version AS to_rv, p.registry_version AS from_rv
                     FROM changes c
                     JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
                     LEFT JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version"""

    @staticmethod
    def _stored_change(r: Mapping[str, Any]) -> StoredChange:
        return StoredChange(
            r["nct_id"], r["from_version"], r["to_version"], r["detected_at"], _read_change(r),
            r["submitted"], r["posted"], r["from_label"], r["to_label"],
            None if r["to_rv"] is None else int(r["to_rv"]) + 1,
            None if r["from_rv"] is None else int(r["from_rv"]) + 1,
        )

    def query_changes(
        self,
        *,
        since: str | None = None,
        submitted_since: str | None = None,
        nct_ids: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredChange]:
        """Stored changes, newest first (by the registry's date, then detection), filtered by
        when regsync detected them (``since``: a daily digest never misses one), by when the
        sponsor submitted them (``submitted_since``), study, category and severity (each
        list: any of)."""
        where: list[str] = []
        params: list[Any] = []
        if since:
            where.append("c.detected_at >= ?")
            params.append(since)
        if submitted_since:
            where.append("COALESCE(v.registry_date, v.submitted) >= ?")
            params.append(submitted_since)
        for column, values in (("c.nct_id", nct_ids), ("c.category", categories), ("c.severity", severities)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(str(v) for v in values)
        sql = self._CHANGE_SQL
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY COALESCE(v.registry_date, v.submitted, substr(c.detected_at, 1, 10)) DESC, c.detected_at DESC, c.nct_id, v.chain_pos DESC, c.id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._stored_change(r) for r in self._rows(sql, params)]

    def changes_to(self, nct_id: str, versions: Sequence[int]) -> list[StoredChange]:
        """The stored changes leading to these versions of a study, in chain order."""
        if not versions:
            return []
        marks = ",".join("?" * len(versions))
        return [
            self._stored_change(r)
            for r in self._rows(
                self._CHANGE_SQL + f" WHERE c.nct_id = ? AND c.to_version IN ({marks}) ORDER BY v.chain_pos, c.id",
                [nct_id, *versions],
            )
        ]

    # status -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        def one(sql: str) -> int:
            return int(self.conn.execute(sql).fetchone()[0])

        return {
            "studies": one("SELECT COUNT(*) FROM studies"),
            "watched": one("SELECT COUNT(*) FROM watchlist"),
            "queries": one("SELECT COUNT(*) FROM watch_queries"),
            "versions": one("SELECT COUNT(*) FROM versions"),
            "changes": one("SELECT COUNT(*) FROM changes"),
            "flagged_changes": one("SELECT COUNT(*) FROM changes WHERE severity != 'admin'"),
            "removed": one("SELECT COUNT(*) FROM studies WHERE removed_at IS NOT NULL"),
        }

    # the notification outbox (issue 20 item 5) ------------------------------------------

    def outbox_add(self, messages: Sequence[tuple[str, str]], run_id: int | None, now: str) -> None:
        """Record ``messages`` ((channel, payload as JSON)) to be sent; inside the caller's
        transaction when there is one (run_sync: the one that records how the run ended)."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO outbox (run_id, channel, payload, created) VALUES (?, ?, ?, ?)",
                [(run_id, channel, payload, now) for channel, payload in messages],
            )

    def outbox_due(self, now: str) -> list[dict[str, Any]]:
        """Messages neither sent nor given up whose back-off has passed at ``now``, oldest first."""
        return self._rows(
            "SELECT id, run_id, channel, payload, created, attempts FROM outbox "
            "WHERE sent_at IS NULL AND gave_up_at IS NULL "
            "AND (next_attempt_after IS NULL OR next_attempt_after <= ?) ORDER BY id",
            [now],
        )

    def outbox_sent(self, message_id: int, now: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, next_attempt_after = NULL "
                "WHERE id = ? AND sent_at IS NULL",
                [now, message_id],
            )

    def outbox_failed(self, message_id: int, error: str, now: str, retry_after: str | None) -> None:
        """One more failed attempt; ``retry_after`` None: give up (``status`` says so)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_after = ?, "
                "gave_up_at = CASE WHEN ? IS NULL THEN ? END WHERE id = ? AND sent_at IS NULL",
                [error, retry_after, retry_after, now, message_id],
            )

    def outbox_unsent(self) -> dict[str, list[dict[str, Any]]]:
        """What ``status`` shows: messages still to be sent (``pending``) and those given up
        (``failed``), oldest first; never the payload (it can be long)."""
        rows = self._rows(
            "SELECT id, run_id, channel, created, attempts, next_attempt_after, gave_up_at, last_error "
            "FROM outbox WHERE sent_at IS NULL ORDER BY id"
        )
        return {
            "pending": [r for r in rows if r["gave_up_at"] is None],
            "failed": [r for r in rows if r["gave_up_at"] is not None],
        }

    # point in time and a run's findings (issue 14) -------------------------------------

    def changes_of_run(self, run_id: int) -> list[StoredChange]:
        """The changes leading to the own snapshots a run stored (never to versions read from
        the registry's history: history is not news), by study and chain order."""
        return [
            self._stored_change(r)
            for r in self._rows(
                self._CHANGE_SQL + " WHERE v.run_id = ? AND v.source != 'registry-history' "
                "ORDER BY c.nct_id, v.chain_pos, c.id",
                [run_id],
            )
        ]

    def adopt(self, nct_id: str, version: int, into: int) -> None:
        """``version``, just stored from the API, is the registry-history version ``into``
        in other markup: its payload replaces that version's (one entry, both sources) and
        the row ``version`` goes (it was never judged, nothing refers to it). Both rows' bytes
        change: versions stored as deltas against either are stored whole first."""
        payload = self.record_bytes(nct_id, version)
        self._rewrite_body(nct_id, version, None)
        self._rewrite_body(nct_id, into, payload)
        self.conn.execute(
            f"""UPDATE versions SET (fetched_at, content_hash, data_timestamp, source, source_id, requested_id,
                   run_id, overall_status, last_update_post_date, in_history, {_CLEAR_NAMES}) =
                   (SELECT fetched_at, content_hash, data_timestamp, source, source_id, requested_id, run_id,
                           overall_status, last_update_post_date, 1, {_CLEAR_NAMES}
                    FROM versions WHERE nct_id = ?1 AND version = ?2)
               WHERE nct_id = ?1 AND version = ?3""",
            [nct_id, version, into],
        )
        self.conn.execute("DELETE FROM obligations WHERE nct_id = ? AND version = ?", [nct_id, version])
        self.conn.execute(
            "DELETE FROM changes WHERE nct_id = ?1 AND (to_version = ?2 OR from_version = ?2)", [nct_id, version]
        )
        self.conn.execute("DELETE FROM versions WHERE nct_id = ? AND version = ?", [nct_id, version])
        self.conn.execute("UPDATE studies SET current_version = ? WHERE nct_id = ?", [into, nct_id])

    # export (regsync.export): every row once, streamed ------------------------------------

    def _stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[dict[str, Any]]:
        """Rows fetched ``size`` at a time: an export of the whole registry never holds more
        than a batch of records in memory."""
        cursor = self.conn.cursor()  # its own cursor: the caller reads the chain in between
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(size):
            for row in rows:
                yield dict(zip(names, row))

    def export_studies(self) -> Iterator[dict[str, Any]]:
        """Each study (by NCT ID) with its current version's ``record`` (decoded)."""
        for row in self._stream(
            """SELECT s.nct_id, s.current_version, s.current_label, s.first_seen, s.removed_at
               FROM studies s ORDER BY s.nct_id"""
        ):
            row["record"] = self.record(row["nct_id"], row["current_version"])
            yield row

    def export_versions(self) -> Iterator[dict[str, Any]]:
        """Every stored version (by NCT ID, then the chain's order) with its ``record`` (decoded)."""
        for row in self._stream(
            "SELECT nct_id, version, overall_status FROM versions ORDER BY nct_id, chain_pos, version"
        ):
            row["record"] = self.record(row["nct_id"], row["version"])
            yield row

    def export_changes(self) -> Iterator[dict[str, Any]]:
        """Every stored change as its row (``old`` and ``new`` as the JSON text stored), with
        the newer version's dates, by NCT ID, the chain's order and then the order judged."""
        return self._stream(
            """SELECT c.nct_id, c.from_version, c.to_version, c.category, c.severity, c.kind, c.path,
                      c.rule, c.summary, c.milestone, c.delta_days, c.delta_months, c.old, c.new,
                      c.detected_at, COALESCE(v.registry_date, v.submitted) AS submitted,
                      v.last_update_post_date AS posted, v.label AS to_label, p.label AS from_label,
                      v.registry_version AS to_rv
               FROM changes c
               JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
               LEFT JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version
               ORDER BY c.nct_id, v.chain_pos, c.id"""
        )

    def export_obligations(self) -> Iterator[dict[str, Any]]:
        """Every stored version's obligation row (without its JSON detail), by NCT ID and the
        chain's order."""
        return self._stream(
            """SELECT o.nct_id, o.version, o.applicability, o.reason, o.due_date, o.overdue_after, o.state,
                      o.days, o.as_of
               FROM obligations o LEFT JOIN versions v ON v.nct_id = o.nct_id AND v.version = o.version
               ORDER BY o.nct_id, v.chain_pos, o.version"""
        )

    # obligations (regsync.obligations) --------------------------------------------------------

    def versions_without_obligation(self, limit: int = 500) -> list[tuple[str, int, str, dict[str, Any]]]:
        """(nct_id, version, fetched_at, record) of versions with no obligation row (stored
        before schema 0007, or by a judge that failed)."""
        return [
            (n, int(v), when, self.record(n, int(v)))
            for n, v, when in self.conn.execute(
                """SELECT v.nct_id, v.version, v.fetched_at FROM versions v
                   LEFT JOIN obligations o ON o.nct_id = v.nct_id AND o.version = v.version
                   WHERE o.nct_id IS NULL LIMIT ?""",
                [limit],
            ).fetchall()
        ]

    def obligation_rows(self, nct_id: str) -> dict[int, tuple[Any, ...]]:
        """version -> the study's stored obligation rows, as ``write_obligations`` takes them."""
        return {
            int(row[1]): tuple(row)
            for row in self.conn.execute(
                "SELECT nct_id, version, applicability, reason, due_date, overdue_after, state, days, as_of, detail "
                "FROM obligations WHERE nct_id = ?", [nct_id],
            )
        }

    def study_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT nct_id FROM studies ORDER BY nct_id")]

    def records_of(self, nct_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(version, fetched_at, record) of each stored version of a study."""
        return [
            (int(v), when, self.record(nct_id, int(v)))
            for v, when in self.conn.execute(
                "SELECT version, fetched_at FROM versions WHERE nct_id = ? ORDER BY version", [nct_id]
            ).fetchall()
        ]

    def write_obligations(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(nct_id, version, *columns) rows, each replacing the version's obligation."""
        self.conn.executemany(_INSERT_OBLIGATION.replace("INSERT", "INSERT OR REPLACE", 1), rows)

    def current_obligations(
        self, nct_ids: Sequence[str] | None = None, *, grace_ended_before: str | None = None
    ) -> list[dict[str, Any]]:
        """Per stored study (by NCT ID): its current version's stored obligation (``detail``
        decoded, judged on ``as_of``), with ``brief_title`` and ``removed_at``.
        ``grace_ended_before`` (YYYY-MM-DD): only applicable trials whose grace ended before
        that day, the only ones that can be overdue (a nightly check decodes no others)."""
        sql = """SELECT s.nct_id, s.brief_title, s.removed_at, s.current_version AS version,
                        o.as_of, o.detail
                 FROM studies s JOIN obligations o
                   ON o.nct_id = s.nct_id AND o.version = s.current_version"""
        where: list[str] = []
        params: list[Any] = []
        if nct_ids:
            where.append(f"s.nct_id IN ({','.join('?' * len(nct_ids))})")
            params += list(nct_ids)
        if grace_ended_before is not None:
            where.append("o.applicability != 'not applicable' AND (o.overdue_after IS NULL OR o.overdue_after < ?)")
            params.append(grace_ended_before)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._rows(sql + " ORDER BY s.nct_id", params)
        for row in rows:
            row["detail"] = orjson.loads(row["detail"])
        return rows

    def deadline_edits(self) -> dict[str, dict[str, Any]]:
        """Per study, the newest stored change that moved its results deadline (category
        obligations): ``to_version``, ``detected_at``, ``summary``, ``new`` (decoded)."""
        found: dict[str, dict[str, Any]] = {}
        for row in self._rows(
            "SELECT nct_id, to_version, detected_at, summary, new FROM changes "
            "WHERE category = 'obligations' ORDER BY nct_id, to_version"
        ):
            row["new"] = orjson.loads(row["new"]) if row["new"] else None
            found[row["nct_id"]] = row
        return found

    def record_overdue(self, nct_id: str, detail: str, run_id: int | None, noted_on: str | None = None) -> bool:
        """Note once that ``nct_id`` became overdue (``detail`` names the due date) on the
        day ``noted_on`` (YYYY-MM-DD, the day judged on); False when it was noted before.
        A note made on a later day than ``noted_on`` came from a clock that was ahead (a
        run with a wrong clock or ``today`` far out): it is noted again, on this day, so
        the notice is said when the trial really becomes overdue."""
        with self.transaction():
            earlier = self.conn.execute(
                "SELECT id, noted_on FROM events WHERE nct_id = ? AND kind = 'overdue' AND detail = ? "
                "ORDER BY id DESC LIMIT 1", [nct_id, detail],
            ).fetchone()
            if earlier is not None:
                if noted_on is None or earlier[1] is None or earlier[1] <= noted_on:
                    return False
                self.conn.execute(
                    "UPDATE events SET noted_on = ?, detected_at = ?, run_id = ? WHERE id = ?",
                    [noted_on, utcnow(), run_id, earlier[0]],
                )
                return True
            self.conn.execute(
                "INSERT INTO events (nct_id, kind, detail, detected_at, run_id, noted_on) VALUES (?, 'overdue', ?, ?, ?, ?)",
                [nct_id, detail, utcnow(), run_id, noted_on],
            )
        return True

    # registry-side changes (issue 23 item 4): regsync.sentinel decides, this stores ----------

    def registry_changes(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """The registry's structural changes recorded (by every run, or by ``run_id``), in
        the order found: run_id, path, shape, detail, studies, fetched, detected_at."""
        sql = "SELECT run_id, path, shape, detail, studies, fetched, detected_at FROM registry_changes"
        if run_id is None:
            return self._rows(sql + " ORDER BY id")
        return self._rows(sql + " WHERE run_id = ? ORDER BY id", [run_id])

    def record_registry_changes(self, run_id: int, rows: Sequence[tuple[str, str, str, int, int]]) -> None:
        """(path, shape, detail, studies, fetched) found registry-wide by run ``run_id``."""
        now = utcnow()
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO registry_changes (run_id, path, shape, detail, studies, fetched, detected_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *row, now) for row in rows],
            )

    def version_runs(self, nct_id: str) -> dict[int, int]:
        """The run that stored each of a study's versions (0: not known)."""
        return {
            int(v): int(r or 0)
            for v, r in self.conn.execute("SELECT version, run_id FROM versions WHERE nct_id = ?", [nct_id])
        }

    def run_pairs(
        self, run_id: int, nct_ids: Iterable[str], batch: int = 500
    ) -> Iterator[tuple[str, list[tuple[int, Change]]]]:
        """The judged pairs of these studies whose newer version run ``run_id`` stored and
        whose older one an earlier run did: (NCT ID, [(change id, change)]) per pair, a
        batch of studies at a time (through the changes' study index)."""
        ids = list(dict.fromkeys(nct_ids))
        for start in range(0, len(ids), batch):
            part = ids[start:start + batch]
            pairs: dict[tuple[str, int, int], list[tuple[int, Change]]] = {}
            for r in self._rows(
                f"""SELECT c.* FROM changes c
                    JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
                    JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version
                    WHERE c.nct_id IN ({','.join('?' * len(part))}) AND v.run_id = ? AND COALESCE(p.run_id, 0) < ?
                    ORDER BY c.nct_id, c.to_version, c.id""",
                [*part, run_id, run_id],
            ):
                pairs.setdefault((r["nct_id"], r["from_version"], r["to_version"]), []).append(
                    (int(r["id"]), _read_change(r))
                )
            for (nct_id, _, _), changes in pairs.items():
                yield nct_id, changes

    def relabel_changes(self, rows: Sequence[tuple[int, Change]]) -> None:
        """Stored changes (by id) take a new judgement of the same edit: category, severity,
        rule, summary, milestone and context; where and what changed stay."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE changes SET category = ?, severity = ?, rule = ?, summary = ?, milestone = ?, context = ?, "
                "delta_days = ?, delta_months = ? WHERE id = ?",
                [(str(c.category), str(c.severity), c.rule, c.summary, int(bool(c.milestone)), c.context,
                  c.delta_days, c.delta_months, change_id) for change_id, c in rows],
            )


class _Checkpointer:
    """Copies the WAL back into the database file from its own connection, in a daemon thread.

    With ``synchronous=NORMAL`` a WAL commit only appends to the WAL; the checkpoint is what
    waits for the disk (it syncs the WAL, copies its pages into the database file and syncs
    that). Run inside the writer's commits (SQLite's autocheckpoint) it was more than half of
    the time a first sync spent storing; here it overlaps the download and parse of the
    next page (SQLite releases the GIL while it works). PASSIVE: it never waits for, or
    blocks, the writer or a reader; whatever it could not copy is copied next time, or by the
    last connection to close. Durability and crash safety are SQLite's own either way.
    """

    def __init__(self, path: str):
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="regsync-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something was committed: checkpoint when the thread is free."""
        self._wanted.set()

    def close(self) -> None:
        """Finish the checkpoint under way (if any) and stop."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:  # the writer's connection checkpoints on close instead
            _warn("no background checkpoints for %s: %s", self._path, exc)
            return
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    _warn("background checkpoint of %s failed: %s", self._path, exc)
        finally:
            conn.close()


# -- rows ------------------------------------------------------------------------------------

_INSERT_CHANGE = """INSERT INTO changes (nct_id, from_version, to_version, category, severity,
        kind, path, old, new, summary, rule, milestone, context, delta_days, delta_months,
        detected_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


_INSERT_OBLIGATION = """INSERT INTO obligations (nct_id, version, applicability, reason, due_date,
        overdue_after, state, days, as_of, detail)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


# The columns of a version kept in the clear for Datasette's views (migration 0016): each
# (column, path in the record), with the value json_extract gave the views before.
_CLEAR = (
    ("start_date", ("protocolSection", "statusModule", "startDateStruct", "date")),
    ("start_date_type", ("protocolSection", "statusModule", "startDateStruct", "type")),
    ("primary_completion_date", ("protocolSection", "statusModule", "primaryCompletionDateStruct", "date")),
    ("primary_completion_date_type", ("protocolSection", "statusModule", "primaryCompletionDateStruct", "type")),
    ("completion_date", ("protocolSection", "statusModule", "completionDateStruct", "date")),
    ("completion_date_type", ("protocolSection", "statusModule", "completionDateStruct", "type")),
    ("enrollment", ("protocolSection", "designModule", "enrollmentInfo", "count")),
    ("enrollment_type", ("protocolSection", "designModule", "enrollmentInfo", "type")),
)
_CLEAR_NAMES = ", ".join(name for name, _ in _CLEAR)
_CLEAR_MARKS = ", ".join("?" for _ in _CLEAR)


def _sql_value(value: Any) -> Any:
    """A JSON value as SQLite's json_extract gives it: true/false as 1/0, an object or array
    as its JSON text, an integer past 64 bits as a real."""
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else float(value)
    return _dumps(value).decode()


# _CLEAR by the object holding each value, in _CLEAR's order: a date and its type are read
# from one struct, found once (every new version's row pays this).
_CLEAR_HOLDERS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (holder, tuple(path[-1] for _, path in _CLEAR if path[:-1] == holder))
    for holder in dict.fromkeys(path[:-1] for _, path in _CLEAR)
)


def _clear_columns(record: Mapping[str, Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for holder, keys in _CLEAR_HOLDERS:
        node = _get(record, *holder)
        for key in keys:
            out.append(_sql_value(_get(node, key)))
    return tuple(out)


class Prepared(NamedTuple):
    """What ``save_page`` derives from a record to store it as a new version, worked out
    ahead of it (by ``prepare``: a seed's reader processes do it beside the writer). A
    fetched record may carry one as ``prepared``; save_page then uses it instead of the record."""

    summary: tuple[str | None, str | None, str | None]  # summary_fields
    submitted: str | None
    clear: tuple[Any, ...]
    aliases: Any  # identificationModule.nctIdAliases as listed
    day: str  # the day the obligation was judged on (a stored time's first 10 characters)
    obligation: tuple[Any, ...] | None
    keyframe: tuple[int, bytes] | None = None  # (dictionary id, frame): the bytes compressed whole


def prepare(
    record: Mapping[str, Any], when: str, obligation: ObligationFn | None,
    raw: bytes | None = None, codec: Codec | None = None,
) -> Prepared:
    """``record`` prepared for ``save_page`` on ``when`` (a stored time), and its bytes ``raw``
    compressed whole by ``codec`` (a codec with the store's dictionary: the frame a new study's
    first version is stored as). Raises what save_page would raise for it: the caller then
    leaves the record to save_page, which says so."""
    return Prepared(
        summary_fields(record), _submitted(record), _clear_columns(record), _aliases(record), when[:10],
        None if obligation is None else obligation(record, when),
        None if raw is None or codec is None else (codec.dict_id, codec.pack(raw)[0]),
    )


def _keyframe(pre: Prepared | None, base: int | None, codec: Codec) -> tuple[bytes, None] | None:
    """The frame prepared, when it is the one ``Store._pack`` would make: a version stored
    whole (no base for a delta), with the dictionary the store compresses with now."""
    if pre is None or pre.keyframe is None or base is not None or pre.keyframe[0] != codec.dict_id:
        return None
    return pre.keyframe[1], None


def _obligation(fn: ObligationFn, fetched: Fetched, pre: Prepared | None, now: str) -> tuple[Any, ...] | None:
    """The obligation, as prepared when it was judged on the same day (a page stored across
    midnight judges again: the stored row is the one judged on the day it was fetched)."""
    if pre is not None and pre.obligation is not None and pre.day == now[:10]:
        return pre.obligation
    return fn(fetched.record, now)


def _aliases(record: Mapping[str, Any]) -> Any:
    return _get(record, "protocolSection", "identificationModule", "nctIdAliases")


def _raw_bytes(fetched: Fetched) -> bytes:
    """The bytes the registry sent for this record when the fetcher kept them (``raw``),
    else the record as regsync writes it (history payloads, records given by a caller)."""
    raw = getattr(fetched, "raw", None)
    return raw if isinstance(raw, bytes) else _dumps(fetched.record)


def _keyframe_every() -> int:
    from regsync.bodies import KEYFRAME_EVERY

    return KEYFRAME_EVERY


def _submitted(record: Mapping[str, Any]) -> str | None:
    value = _get(record, "protocolSection", "statusModule", "lastUpdateSubmitDate")
    return value if isinstance(value, str) else None


def _identity(change: Change) -> tuple[Any, ...]:
    """What makes two judgements of a pair the same change (all but when it was detected)."""
    return (str(change.category), str(change.severity), str(change.kind), change.path, _json(change.old),
            _json(change.new), change.summary, change.rule, bool(change.milestone), change.context,
            change.delta_days, change.delta_months)


def _json(value: Any) -> str | None:
    return None if value is None else _dumps(value).decode()


def _change_row(nct_id: str, from_v: int, to_v: int, c: Change, when: str) -> tuple[Any, ...]:
    return (
        nct_id, from_v, to_v, str(c.category), str(c.severity), str(c.kind), c.path,
        _json(c.old), _json(c.new), c.summary, c.rule, int(bool(c.milestone)), c.context,
        c.delta_days, c.delta_months, when,
    )


def _read_change(row: Mapping[str, Any]) -> Change:
    data = dict(row)
    for key in ("old", "new"):
        data[key] = orjson.loads(data[key]) if data[key] is not None else None
    return Change.from_dict(data)


# -- opening ------------------------------------------------------------------------------------


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)


def _not_a_file(path: str, mode: int) -> StoreError | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return StoreError(f"{path} is a directory, not a database file")
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return StoreError(f"{path} is {kind}, not a database file")


def _check_path(path: str, *, write: bool, create: bool = True) -> None:
    """Everything that can be told before a file is opened, so that a bad state leaves the
    file untouched and nothing (a lock, a journal) created beside it. Only a regular file
    (or, for a writer that may create it, nothing) is a database: a FIFO would block the
    open, a device would have SQLite make ``/dev/null-journal``."""
    if not path:
        raise StoreError("the database path is empty")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"database directory does not exist: {parent}")
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise StoreError(f"cannot use database {path}: {exc.strerror}") from None
    if st is None:
        if not write or not create:
            raise StoreError(f"no database at {path} (run `regsync sync` first, or pass --db)")
    else:
        refused = _not_a_file(path, st.st_mode)
        if refused is not None:
            raise refused
        _check_sqlite_header(path)
    if write:
        if st is not None and st.st_nlink > 1:
            # SQLite names the -wal and -shm after the path: two names are two journals.
            raise StoreError(
                f"database {path} has {st.st_nlink} hard links, and SQLite keeps its journal per "
                "name (writing through two names can corrupt it): keep one name, or use a symlink"
            )
        if st is not None and not os.access(path, os.W_OK):
            raise StoreError(f"database {path} is read-only")
        # The lock file, the -wal and the -shm are made beside the real file.
        if not os.access(os.path.dirname(os.path.realpath(path)), os.W_OK):
            raise StoreError(f"cannot write in {parent} (read-only directory)")


def _check_sqlite_header(path: str) -> None:
    try:
        # O_NONBLOCK: should the file have become a FIFO since it was checked, never block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise StoreError(f"cannot read database {path}: {exc.strerror}") from None
    try:
        refused = _not_a_file(path, os.fstat(fd).st_mode)
        if refused is not None:
            raise refused
        header = os.pread(fd, 16, 0)
    except OSError as exc:
        raise StoreError(f"cannot read database {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if header and header != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a SQLite database; refusing to touch it")


def _connect(path: str, **kwargs: Any) -> sqlite3.Connection:
    try:
        # isolation_level=None: transactions are explicit (Store.transaction), never implicit.
        return sqlite3.connect(path, timeout=30, isolation_level=None, **kwargs)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot use database {path}: {exc}") from None


def _file_uri(path: str, query: str) -> str:
    quoted = os.path.abspath(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{quoted}?{query}"


def _cannot_open(exc: sqlite3.Error) -> bool:
    """SQLite could not open (or create) the -wal/-shm it needs, as in a read-only place."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY"))


def _connect_for_reading(path: str) -> sqlite3.Connection:
    """A connection a read command can use, also where nothing can be written.

    Where the directory is writable, a plain connection (as writers use; it cleans up the
    -wal it opens). In a read-only place (a read-only mount, an archived copy) SQLite cannot
    create the -shm a WAL database needs: there the file is opened read-only, and when that
    fails too, as immutable (no -shm, no locks: nothing can write it there). Immutable would
    ignore a -wal that holds committed changes, so that case is refused, plainly."""
    real = os.path.realpath(path)
    directory = os.path.dirname(real)
    if os.access(directory, os.W_OK):
        return _connect(path)
    for query in ("mode=ro", "immutable=1"):
        if query == "immutable=1":
            try:
                wal_size = os.path.getsize(real + "-wal")
            except OSError:
                wal_size = 0
            if wal_size:
                raise StoreError(
                    f"cannot read database {path}: its write-ahead log {path}-wal holds changes "
                    f"not yet in the database file, and {os.path.dirname(os.path.abspath(path))} "
                    "is read-only; open it once where it can be written"
                )
        conn = _connect(_file_uri(real, query), uri=True)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens the WAL, if any
        except sqlite3.Error as exc:
            conn.close()
            if query == "mode=ro" and _cannot_open(exc):
                continue
            raise StoreError(f"cannot read database {path}: {exc}") from None
        return conn
    raise AssertionError("unreachable")


def _store_error(path: str, exc: sqlite3.Error) -> RegsyncError:
    """The one line for an SQLite error met while writing."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or str(exc) == "database is locked":
        return LockBusy(
            f"another program is writing to {path} (SQLite: {exc}); try again later or pass --wait SECONDS"
        )
    if name.startswith("SQLITE_FULL") or "database or disk is full" in str(exc):
        return StoreError(
            f"cannot write to database {path}: database or disk is full; what was stored before "
            "is intact (free some space and run again)"
        )
    return StoreError(f"database {path} cannot be used: {exc}")


def _refuse_foreign(path: str) -> None:
    """Refuse another program's SQLite file (or a file that is not SQLite) before the writer
    lock is taken: the lock file would otherwise be left beside a file regsync never writes.
    A read-only look without the lock; ``open_write`` checks again once it holds the lock,
    which is what decides (an empty or missing file is regsync's to create)."""
    try:
        if os.path.getsize(path) == 0:
            return
    except OSError:
        return  # missing: created under the lock
    try:
        conn = sqlite3.connect(_file_uri(path, "mode=ro"), uri=True, timeout=30, isolation_level=None)
    except sqlite3.Error:
        return  # left to the check under the lock, which words the error
    try:
        _check_schema(conn, path, write=True)
    finally:
        conn.close()


def _check_schema(conn: sqlite3.Connection, path: str, *, write: bool) -> list[str]:
    """Refuse a schema this regsync cannot use; return the migrations it lacks (all of them
    for a database with nothing in it yet: only a writer may go on with one)."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied: list[str] = []
        if MIGRATIONS_TABLE in tables:
            applied = [
                r[0]
                for r in conn.execute(
                    f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
                    [MIGRATION_SET],
                )
            ]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot use database {path}: {exc}") from None
    known = migration_names()
    unknown = sorted(set(applied) - set(known))
    if unknown:
        raise StoreError(
            f"database {path} was written by a newer regsync (schema {unknown[-1]}); "
            "upgrade regsync to use it"
        )
    if not applied:
        # Nothing but an empty migrations table: the creation of a regsync database that was
        # killed before its first migration committed (an older regsync made the table in a
        # transaction of its own). It holds nothing: a writer completes it.
        if not tables - {MIGRATIONS_TABLE} and not _any_row(conn, MIGRATIONS_TABLE, tables):
            if write:
                return known
            raise StoreError(
                f"database {path} holds no regsync data yet (empty, or its creation was "
                "interrupted); run a writing command such as `regsync sync` to create it"
            )
        # Never add regsync's tables to another application's database.
        raise StoreError(f"{path} is not a regsync database; refusing to touch it")
    pending = [name for name in known if name not in applied]
    if pending and not write:
        raise StoreError(
            f"database {path} was written by an older regsync (schema {applied[-1]}, "
            f"this regsync needs {known[-1]}); run a writing command such as `regsync sync` "
            "to upgrade it"
        )
    return pending


def _any_row(conn: sqlite3.Connection, table: str, tables: set[str]) -> bool:
    if table not in tables:
        return False
    try:
        return conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
    except sqlite3.DatabaseError:
        return True  # unreadable: not known to be empty
