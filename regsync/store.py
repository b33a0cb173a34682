"""SQLite storage: studies, their versions, classified changes, the run ledger, the watchlist.

The schema lives in ``db/migrations/*.sql`` and is applied with sqlite-utils ``Migrations``;
each file is one migration, applied once, in name order, inside a transaction.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlite_utils
from sqlite_utils.migrations import Migrations

from regsync.errors import StoreError, UnknownStudy, UnknownVersion

MIGRATION_SET = "regsync"


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # UTC, as stored in every *_at column


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


def content_hash(record: dict) -> str:
    """sha256 of the record's canonical JSON (sorted keys), minus registry-computed parts."""
    kept = {k: v for k, v in record.items() if k not in HASH_EXCLUDED_TOP_LEVEL}
    return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _get(record: dict, *keys: str):
    node = record
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def summary_fields(record: dict) -> dict:
    return {
        "brief_title": _get(record, "protocolSection", "identificationModule", "briefTitle"),
        "overall_status": _get(record, "protocolSection", "statusModule", "overallStatus"),
        "last_update_post_date": _get(
            record, "protocolSection", "statusModule", "lastUpdatePostDateStruct", "date"
        ),
    }


# -- migrations ------------------------------------------------------------------------------


def migrations_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "db" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise StoreError("regsync is installed without its schema (db/migrations not found)")


def _split_sql(script: str) -> list[str]:
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(l.strip().startswith("--") or not l.strip() for l in buf.splitlines()):
        statements.append(buf.strip())
    return statements


def build_migrations(directory: Path | None = None) -> Migrations:
    migrations = Migrations(MIGRATION_SET)
    for path in sorted((directory or migrations_dir()).glob("*.sql")):
        statements = _split_sql(path.read_text())

        def apply(db: sqlite_utils.Database, statements=statements) -> None:
            # executescript() would COMMIT: run statement by statement inside the transaction
            # that Migrations opens, so a failed migration leaves nothing half-applied.
            for statement in statements:
                db.execute(statement)

        migrations(name=path.stem)(apply)
    return migrations


# -- the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    nct_id: str
    status: str  # new | changed | unchanged
    version: int
    previous_version: int | None = None
    changes: list = field(default_factory=list)  # regsync.diff.Change for changed studies


DiffFn = Callable[[dict, dict], list]


class Store:
    def __init__(self, db: sqlite_utils.Database, path: str):
        self.db = db
        self.path = path

    # opening ----------------------------------------------------------------------------

    @staticmethod
    def check_file(path: str) -> None:
        """Refuse a file that is not SQLite before anything (a lock, a journal) is made for it."""
        _check_sqlite_header(path)

    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = False) -> Store:
        """Open (and migrate) the database; ``create`` for commands that write.

        Bad local state is a StoreError with one line, and the file is left untouched:
        a missing directory, a missing database for a read command, a read-only database
        for a write command, a file that is not SQLite, a schema newer than this regsync.
        """
        path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(path))
        exists = os.path.exists(path)
        if not os.path.isdir(parent):
            raise StoreError(f"database directory does not exist: {parent}")
        if not exists and not create:
            raise StoreError(f"no database at {path} (run `regsync sync` first, or pass --db)")
        if exists and os.path.isdir(path):
            raise StoreError(f"{path} is a directory, not a database")
        if create:
            if exists and not os.access(path, os.W_OK):
                raise StoreError(f"database {path} is read-only")
            if not os.access(parent, os.W_OK):
                raise StoreError(f"cannot write in {parent} (read-only directory)")
        if exists:
            _check_sqlite_header(path)
        try:
            conn = sqlite3.connect(path, timeout=30)
            db = sqlite_utils.Database(conn, execute_plugins=False)
            store = cls(db, path)
            store._prepare(writable=create)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use database {path}: {exc}") from None
        return store

    def _prepare(self, *, writable: bool) -> None:
        migrations = build_migrations()
        known = {m.name for m in migrations._migrations}
        applied = {m.name for m in migrations.applied(self.db)}
        unknown = sorted(applied - known)
        if unknown:
            raise StoreError(
                f"database {self.path} was written by a newer regsync (schema {unknown[-1]}); "
                "upgrade regsync to use it"
            )
        if not applied and (not writable or self.db.table_names()):
            # Never add regsync's tables to another application's database.
            raise StoreError(f"{self.path} is not a regsync database; refusing to touch it")
        if writable:
            # WAL: readers (history, diff, changes) are never blocked by a nightly sync.
            self.db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a killed process never corrupts or loses a committed transaction;
        # only an OS crash or power loss may drop the last commits (never corrupts either).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        if migrations.pending(self.db):
            migrations.apply(self.db)

    def close(self) -> None:
        self.db.close()

    # watchlist ----------------------------------------------------------------------------

    def watch_add(self, nct_ids: Iterable[str], query_id: int | None = None) -> list[str]:
        now = utcnow()
        added = []
        with self.db.atomic():
            for nct_id in nct_ids:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO watchlist (nct_id, added_at, query_id) VALUES (?, ?, ?)",
                    [nct_id, now, query_id],
                )
                if cur.rowcount:
                    added.append(nct_id)
        return added

    def watch_remove(self, nct_ids: Iterable[str]) -> list[str]:
        removed = []
        with self.db.atomic():
            for nct_id in nct_ids:
                if self.db.execute("DELETE FROM watchlist WHERE nct_id = ?", [nct_id]).rowcount:
                    removed.append(nct_id)
        return removed

    def watchlist(self) -> list[dict]:
        return list(
            self.db.query(
                """SELECT w.nct_id, w.added_at, q.expr AS query, s.current_version,
                          s.overall_status, s.brief_title, s.last_checked
                   FROM watchlist w
                   LEFT JOIN studies s ON s.nct_id = w.nct_id
                   LEFT JOIN watch_queries q ON q.id = w.query_id
                   ORDER BY w.nct_id"""
            )
        )

    def watch_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT nct_id FROM watchlist ORDER BY nct_id")]

    def unsynced_watches(self, since: str) -> bool:
        """Watched studies never stored, or query watches added since ``since``: work to do
        even when the registry's data has not moved."""
        return bool(
            self.db.execute(
                "SELECT 1 FROM watchlist w LEFT JOIN studies s ON s.nct_id = w.nct_id "
                "WHERE s.nct_id IS NULL LIMIT 1"
            ).fetchone()
            or self.db.execute(
                "SELECT 1 FROM watch_queries WHERE added_at >= ? LIMIT 1", [since]
            ).fetchone()
        )

    def replace_watch_id(self, old: str, new: str) -> None:
        """An alias was followed: watch the canonical ID from now on."""
        with self.db.atomic():
            self.db.execute(
                "INSERT OR IGNORE INTO watchlist (nct_id, added_at, query_id) "
                "SELECT ?, added_at, query_id FROM watchlist WHERE nct_id = ?",
                [new, old],
            )
            self.db.execute("DELETE FROM watchlist WHERE nct_id = ?", [old])

    # query watches ------------------------------------------------------------------------

    def query_add(self, expr: str) -> tuple[int, bool]:
        with self.db.atomic():
            row = self.db.execute("SELECT id FROM watch_queries WHERE expr = ?", [expr]).fetchone()
            if row:
                return row[0], False
            cur = self.db.execute(
                "INSERT INTO watch_queries (expr, added_at) VALUES (?, ?)", [expr, utcnow()]
            )
            return cur.lastrowid, True

    def query_remove(self, expr: str) -> bool:
        with self.db.atomic():
            row = self.db.execute("SELECT id FROM watch_queries WHERE expr = ?", [expr]).fetchone()
            if not row:
                return False
            # Studies the query brought in stay watched (and stored); they just lose the link.
            self.db.execute("UPDATE watchlist SET query_id = NULL WHERE query_id = ?", [row[0]])
            self.db.execute("DELETE FROM watch_queries WHERE id = ?", [row[0]])
            return True

    def queries(self) -> list[dict]:
        return list(self.db.query("SELECT id, expr, added_at FROM watch_queries ORDER BY id"))

    # runs -----------------------------------------------------------------------------------

    def begin_run(self, command: str, mode: str | None = None) -> int:
        """Start a run. Call with the write lock held: any run still marked 'running' then
        belongs to a process that died (killed, power loss), so it is recorded as interrupted."""
        now = utcnow()
        with self.db.atomic():
            self.db.execute(
                "UPDATE runs SET outcome = 'interrupted', ended_at = COALESCE(ended_at, ?) "
                "WHERE outcome = 'running'",
                [now],
            )
            cur = self.db.execute(
                "INSERT INTO runs (command, pid, started_at, outcome, mode) VALUES (?, ?, ?, 'running', ?)",
                [command, os.getpid(), now, mode],
            )
        return cur.lastrowid

    def finish_run(self, run_id: int, outcome: str, **fields) -> None:
        allowed = {
            "mode", "complete", "data_timestamp", "studies_checked", "new_studies", "changed",
            "unchanged", "errors", "requests",
        }
        extra = {k: v for k, v in fields.items() if k in allowed}
        sets = ", ".join(f"{k} = ?" for k in extra)
        with self.db.atomic():
            self.db.execute(
                f"UPDATE runs SET outcome = ?, ended_at = ?{', ' + sets if sets else ''} WHERE id = ?",
                [outcome, utcnow(), *extra.values(), run_id],
            )

    def record_error(self, run_id: int, nct_id: str | None, message: str) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO run_errors (run_id, nct_id, error) VALUES (?, ?, ?)",
                [run_id, nct_id, message],
            )

    def last_complete_run(self) -> dict | None:
        rows = list(
            self.db.query(
                "SELECT * FROM runs WHERE complete = 1 AND outcome IN ('ok', 'nothing-to-do') "
                "ORDER BY id DESC LIMIT 1"
            )
        )
        return rows[0] if rows else None

    def runs(self, limit: int = 10) -> list[dict]:
        runs = list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit]))
        for run in runs:
            run["error_messages"] = [
                dict(r)
                for r in self.db.query(
                    "SELECT nct_id, error FROM run_errors WHERE run_id = ? ORDER BY rowid", [run["id"]]
                )
            ]
        return runs

    def record_event(self, nct_id: str, kind: str, detail: str | None = None, run_id: int | None = None) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) VALUES (?, ?, ?, ?, ?)",
                [nct_id, kind, detail, utcnow(), run_id],
            )

    # studies and versions ---------------------------------------------------------------

    def current_version(self, nct_id: str) -> int | None:
        row = self.db.execute(
            "SELECT current_version FROM studies WHERE nct_id = ?", [nct_id]
        ).fetchone()
        return row[0] if row else None

    def current_states(self, nct_ids: list[str]) -> dict[str, tuple[str, int]]:
        """(content hash, current version) per stored study: one query per 500 IDs, so a
        page of unchanged studies costs no query per study."""
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(nct_ids), 500):
            chunk = nct_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for nct_id, digest, version in self.db.execute(
                f"SELECT nct_id, content_hash, current_version FROM studies WHERE nct_id IN ({marks})",
                chunk,
            ):
                found[nct_id] = (digest, version)
        return found

    def mark_checked(self, nct_ids: list[str], when: str | None = None) -> None:
        """The registry confirmed these studies unchanged: one transaction for the batch."""
        if not nct_ids:
            return
        when = when or utcnow()
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE studies SET last_checked = ?, removed_at = NULL WHERE nct_id = ?",
                [(when, n) for n in nct_ids],
            )

    def save(
        self,
        record: dict,
        *,
        nct_id: str,
        source: str,
        requested_id: str | None = None,
        data_timestamp: str | None = None,
        run_id: int | None = None,
        diff: DiffFn | None = None,
        known_hash: str | None = None,
    ) -> SaveResult:
        """Store ``record`` as a new version if its content changed; one transaction."""
        digest = known_hash or content_hash(record)
        now = utcnow()
        info = summary_fields(record)
        with self.db.atomic():
            row = self.db.execute(
                "SELECT current_version, content_hash FROM studies WHERE nct_id = ?", [nct_id]
            ).fetchone()
            if row and row[1] == digest:
                self.db.execute(
                    "UPDATE studies SET last_checked = ?, removed_at = NULL WHERE nct_id = ?",
                    [now, nct_id],
                )
                return SaveResult(nct_id, "unchanged", row[0])
            version = (row[0] + 1) if row else 1
            if row:
                self.db.execute(
                    """UPDATE studies SET brief_title = ?, overall_status = ?,
                           last_update_post_date = ?, current_version = ?, content_hash = ?,
                           last_checked = ?, last_changed = ?, removed_at = NULL
                       WHERE nct_id = ?""",
                    [info["brief_title"], info["overall_status"], info["last_update_post_date"],
                     version, digest, now, now, nct_id],
                )
            else:
                self.db.execute(
                    """INSERT INTO studies (nct_id, brief_title, overall_status,
                           last_update_post_date, current_version, content_hash,
                           first_seen, last_checked, last_changed)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [nct_id, info["brief_title"], info["overall_status"],
                     info["last_update_post_date"], version, digest, now, now, now],
                )
            self.db.execute(
                """INSERT INTO versions (nct_id, version, fetched_at, content_hash, data_timestamp,
                       source, requested_id, run_id, overall_status, last_update_post_date, record)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    nct_id, version, now, digest, data_timestamp, source,
                    requested_id if requested_id != nct_id else None, run_id,
                    info["overall_status"], info["last_update_post_date"],
                    orjson.dumps(record).decode(),
                ],
            )
            changes: list = []
            if row and diff is not None:
                previous = self.record(nct_id, row[0])
                changes = diff(previous, record)
                self._insert_changes(nct_id, row[0], version, changes, now)
        return SaveResult(nct_id, "changed" if row else "new", version, row[0] if row else None, changes)

    def _insert_changes(self, nct_id: str, from_v: int, to_v: int, changes: list, when: str) -> None:
        self.db.conn.executemany(
            """INSERT INTO changes (nct_id, from_version, to_version, category, severity, kind,
                   path, old, new, summary, rule, milestone, context, delta_days, delta_months,
                   detected_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    nct_id, from_v, to_v, c.category, c.severity, c.kind, c.path,
                    _json(c.old), _json(c.new), c.summary, c.rule, int(bool(c.milestone)),
                    c.context, c.delta_days, c.delta_months, when,
                )
                for c in changes
            ],
        )

    def study(self, nct_id: str) -> dict:
        rows = list(self.db.query("SELECT * FROM studies WHERE nct_id = ?", [nct_id]))
        if not rows:
            raise UnknownStudy(nct_id)
        return rows[0]

    def studies(self) -> Iterator[dict]:
        yield from self.db.query("SELECT * FROM studies ORDER BY nct_id")

    def history(self, nct_id: str) -> list[dict]:
        self.study(nct_id)
        return list(
            self.db.query(
                """SELECT version, fetched_at, content_hash, last_update_post_date, overall_status,
                          data_timestamp, source, requested_id
                   FROM versions WHERE nct_id = ? ORDER BY version""",
                [nct_id],
            )
        )

    def record(self, nct_id: str, version: int | None = None) -> dict:
        if version is None:
            version = self.study(nct_id)["current_version"]
        row = self.db.execute(
            "SELECT record FROM versions WHERE nct_id = ? AND version = ?", [nct_id, version]
        ).fetchone()
        if row is None:
            last = self.study(nct_id)["current_version"]
            raise UnknownVersion(f"{nct_id} has no version {version} (versions 1-{last} are stored)")
        return orjson.loads(row[0])

    def least_recently_checked(self, nct_ids: set[str], limit: int) -> list[str]:
        if limit <= 0:
            return []
        picked = []
        for (nct_id,) in self.db.execute("SELECT nct_id FROM studies ORDER BY last_checked, nct_id"):
            if nct_id in nct_ids:
                picked.append(nct_id)
                if len(picked) >= limit:
                    break
        return picked

    # changes ----------------------------------------------------------------------------

    def stored_changes(self, nct_id: str, from_v: int, to_v: int) -> list[dict] | None:
        """Classified changes stored for exactly this pair, or None if never computed."""
        rows = list(
            self.db.query(
                "SELECT * FROM changes WHERE nct_id = ? AND from_version = ? AND to_version = ? ORDER BY id",
                [nct_id, from_v, to_v],
            )
        )
        return [_change_row(r) for r in rows] if rows else None

    def query_changes(
        self,
        *,
        since: str | None = None,
        nct_ids: list[str] | None = None,
        categories: list[str] | None = None,
        severities: list[str] | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        where, params = [], []
        if since:
            where.append("detected_at >= ?")
            params.append(since)
        if nct_ids:
            where.append(f"nct_id IN ({','.join('?' * len(nct_ids))})")
            params.extend(nct_ids)
        if categories:
            where.append(f"category IN ({','.join('?' * len(categories))})")
            params.extend(categories)
        if severities:
            where.append(f"severity IN ({','.join('?' * len(severities))})")
            params.extend(severities)
        sql = "SELECT * FROM changes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY detected_at DESC, nct_id, to_version DESC, id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_change_row(r) for r in self.db.query(sql, params)]

    def reclassify(self, diff: DiffFn, progress: Callable[[str], None] | None = None) -> tuple[int, int]:
        """Recompute stored changes for every pair of successive versions; one transaction a study."""
        pairs = changes = 0
        ids = [r[0] for r in self.db.execute("SELECT nct_id FROM studies ORDER BY nct_id")]
        for nct_id in ids:
            versions = [
                r[0]
                for r in self.db.execute(
                    "SELECT version FROM versions WHERE nct_id = ? ORDER BY version", [nct_id]
                )
            ]
            with self.db.atomic():
                detected = {
                    (r[0], r[1]): r[2]
                    for r in self.db.execute(
                        "SELECT from_version, to_version, MIN(detected_at) FROM changes "
                        "WHERE nct_id = ? GROUP BY from_version, to_version",
                        [nct_id],
                    )
                }
                self.db.execute("DELETE FROM changes WHERE nct_id = ?", [nct_id])
                previous = None
                for version in versions:
                    record = self.record(nct_id, version)
                    if previous is not None:
                        found = diff(previous[1], record)
                        fetched = self.db.execute(
                            "SELECT fetched_at FROM versions WHERE nct_id = ? AND version = ?",
                            [nct_id, version],
                        ).fetchone()[0]
                        when = detected.get((previous[0], version), fetched)
                        self._insert_changes(nct_id, previous[0], version, found, when)
                        pairs += 1
                        changes += len(found)
                    previous = (version, record)
            if progress:
                progress(nct_id)
        return pairs, changes

    # status -----------------------------------------------------------------------------

    def counts(self) -> dict:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "studies": one("SELECT COUNT(*) FROM studies"),
            "watched": one("SELECT COUNT(*) FROM watchlist"),
            "queries": one("SELECT COUNT(*) FROM watch_queries"),
            "versions": one("SELECT COUNT(*) FROM versions"),
            "changes": one("SELECT COUNT(*) FROM changes"),
            "flagged_changes": one("SELECT COUNT(*) FROM changes WHERE severity != 'admin'"),
            "removed": one("SELECT COUNT(*) FROM studies WHERE removed_at IS NOT NULL"),
        }

    def mark_removed(self, nct_id: str, run_id: int | None) -> bool:
        """The registry no longer returns this study: keep its data, record the event once."""
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE studies SET removed_at = ? WHERE nct_id = ? AND removed_at IS NULL",
                [utcnow(), nct_id],
            )
            if cur.rowcount:
                self.db.execute(
                    "INSERT INTO events (nct_id, kind, detail, detected_at, run_id) VALUES (?, 'removed', ?, ?, ?)",
                    [nct_id, "the registry no longer returns this study", utcnow(), run_id],
                )
                return True
        return False


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _change_row(row: dict) -> dict:
    out = dict(row)
    out.pop("id", None)
    for key in ("old", "new"):
        out[key] = orjson.loads(out[key]) if out[key] is not None else None
    out["milestone"] = bool(out["milestone"])
    for key in ("context", "delta_days", "delta_months"):
        if out.get(key) is None:
            out.pop(key, None)
    return out


def _check_sqlite_header(path: str) -> None:
    try:
        with open(path, "rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read database {path}: {exc.strerror}") from None
    if header and header != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a SQLite database; refusing to touch it")
