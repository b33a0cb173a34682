"""The store as a library (no HTTP): the write protocol of ``open_read``/``open_write``, one
transaction per page in ``save_page``, the one "unchanged" decision, changes handed out as
``Change``/``StoredChange`` objects, and every ``sqlite3.Error`` of every command becoming
one line and exit 4.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import click
import pytest

from regsync.cli import cli
from regsync.errors import LockBusy, StoreError
from regsync.model import Category, Change, Kind, Severity, StoredChange, StudyStatus
from regsync import judge
from regsync.store import Store, build_migrations, content_hash, migration_names

LATEST = migration_names()[-1]  # the schema this regsync writes


def record(nct_id: str, *, title: str = "A study", status: str = "RECRUITING", holder: str = "2026-09-04") -> dict:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": title},
            "statusModule": {"overallStatus": status, "lastUpdatePostDateStruct": {"date": "2026-09-01"}},
        },
        "derivedSection": {"miscInfoModule": {"versionHolder": holder}},
        "hasResults": False,
    }


class Fetched:
    def __init__(self, rec: dict, requested_id: str | None = None, source: str = "https://registry.test/x"):
        self.record = rec
        self.nct_id = rec["protocolSection"]["identificationModule"]["nctId"]
        self.requested_id = requested_id or self.nct_id
        self.source = source


TITLE_CHANGE = Change(
    Category.IDENTIFICATION, Severity.MINOR, Kind.CHANGED,
    "protocolSection.identificationModule.briefTitle", "A study", "Renamed", "Brief title: renamed", "test.rule",
)


def title_diff(old: dict, new: dict) -> list[Change]:
    return [TITLE_CHANGE] if old != new else []


def save_judged(store: Store, page: list, differ=title_diff, **kwargs) -> list:
    """What a sync does with a page: the store stores it, the judge places and judges each
    changed study in the same transaction; each result with the changes judged."""
    with store.transaction():
        results = store.save_page(page, **kwargs)
        for r in results:
            if r.status is StudyStatus.CHANGED:
                judge.settle(store, r.nct_id, differ=differ)
    return [
        r if r.status is not StudyStatus.CHANGED
        else type(r)(**{**r.__dict__, "changes": store.stored_changes(r.nct_id, r.previous_version, r.version) or []})
        for r in results
    ]


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- opening --------------------------------------------------------------------------------------


def test_open_write_creates_migrates_and_holds_the_lock_until_close(db_path):
    store = Store.open_write(db_path)
    assert store.writable
    assert [m.name for m in build_migrations().pending(store.db)] == []
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(LockBusy, match=r"another regsync \(pid \d+\) is writing to .* after waiting 2 s"):
        Store.open_write(db_path, wait=2, clock=lambda: now[0], sleep=sleep)
    assert sum(slept) == pytest.approx(2.0)  # waited on the injected clock, not for real
    store.close()
    with Store.open_write(db_path) as again:  # released by close()
        assert again.writable


def test_open_read_takes_no_lock_and_cannot_write(db_path):
    Store.open_write(db_path).close()
    with Store.open_write(db_path) as writer, Store.open_read(db_path) as reader:
        writer.watch_add(["NCT00000001"])
        assert not reader.writable
        assert reader.watch_ids() == ["NCT00000001"]
        with pytest.raises(StoreError, match="readonly"):
            reader.watch_add(["NCT00000002"])


def test_open_read_of_a_missing_database_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match=r"no database at .*run `regsync sync` first"):
        Store.open_read(tmp_path / "none.db")
    assert listing(tmp_path) == []


def test_open_write_checks_before_creating_anything_beside_the_file(tmp_path):
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("a spreadsheet, not a database\n")
    with pytest.raises(StoreError, match="is not a SQLite database"):
        Store.open_write(not_sqlite)
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    with pytest.raises(StoreError, match="is a directory, not a database"):
        Store.open_write(directory)
    with pytest.raises(StoreError, match="database directory does not exist"):
        Store.open_write(tmp_path / "missing" / "r.db")
    assert listing(tmp_path) == ["a-directory.db", "notes.db"]  # no .lock, -wal or -shm


def test_another_applications_database_is_refused_for_writing_too(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    for open_ in (Store.open_read, Store.open_write):
        with pytest.raises(StoreError, match="is not a regsync database; refusing to touch it"):
            open_(db_path)
    assert rows(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'") == [("invoices",)]
    # Not even a lock file beside it (issue 22 item 9).
    assert listing(db_path.parent) == [db_path.name]


def older_database(db_path: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    build_migrations().apply(db, stop_before="0002_changes")
    db.close()


def test_a_read_never_migrates_an_older_schema_it_says_to_run_a_writing_command(db_path):
    older_database(db_path)
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as raised:
        Store.open_read(db_path)
    assert str(raised.value) == (
        f"database {db_path} was written by an older regsync (schema 0001_core, this regsync "
        f"needs {LATEST}); run a writing command such as `regsync sync` to upgrade it"
    )
    assert db_path.read_bytes() == before
    assert not Path(f"{db_path}.lock").exists()
    # A writer upgrades it, under the lock; then reading works.
    with Store.open_write(db_path) as store:
        assert [m.name for m in build_migrations().pending(store.db)] == []
    with Store.open_read(db_path) as store:
        assert store.counts()["changes"] == 0


def test_a_read_command_on_an_older_schema_is_one_line_exit_4_and_touches_nothing(run, db_path):
    older_database(db_path)
    before = db_path.read_bytes()
    result = run("status")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == (
        f"error: database {db_path} was written by an older regsync (schema 0001_core, this regsync "
        f"needs {LATEST}); run a writing command such as `regsync sync` to upgrade it\n"
    )
    assert db_path.read_bytes() == before
    assert run("watch", "add", "NCT07240987").exit_code == 0  # a writer upgrades it
    assert run("status").exit_code == 0


# -- save_page ------------------------------------------------------------------------------------


def test_save_page_decides_new_changed_and_unchanged_in_one_place(db_path):
    with Store.open_write(db_path) as store:
        first = save_judged(store, [Fetched(record("NCT00000001")), Fetched(record("NCT00000002"))], differ=title_diff)
        assert [(r.nct_id, r.status, r.version) for r in first] == [
            ("NCT00000001", StudyStatus.NEW, 1), ("NCT00000002", StudyStatus.NEW, 1),
        ]
        page = [
            Fetched(record("NCT00000001", holder="2026-09-05")),  # registry bookkeeping only
            Fetched(record("NCT00000002", title="Renamed")),
            Fetched(record("NCT00000003")),
        ]
        second = save_judged(store, page, data_timestamp="2026-09-05T09:00:06", run_id=7, differ=title_diff)
        assert [(r.status, r.version, r.previous_version, r.changes) for r in second] == [
            (StudyStatus.UNCHANGED, 1, None, []),
            (StudyStatus.CHANGED, 2, 1, [TITLE_CHANGE]),
            (StudyStatus.NEW, 1, None, []),
        ]
    assert rows(db_path, "SELECT nct_id, version, data_timestamp, run_id, source_id FROM versions ORDER BY nct_id, version") == [
        ("NCT00000001", 1, None, None, 1),
        ("NCT00000002", 1, None, None, 1),
        ("NCT00000002", 2, "2026-09-05T09:00:06", 7, 1),
        ("NCT00000003", 1, "2026-09-05T09:00:06", 7, 1),
    ]
    assert rows(db_path, "SELECT id, url FROM sources") == [(1, "https://registry.test/x")]  # stored once
    assert rows(db_path, "SELECT nct_id, brief_title, current_version, content_hash FROM studies ORDER BY nct_id") == [
        ("NCT00000001", "A study", 1, content_hash(record("NCT00000001"))),
        ("NCT00000002", "Renamed", 2, content_hash(record("NCT00000002", title="Renamed"))),
        ("NCT00000003", "A study", 1, content_hash(record("NCT00000003"))),
    ]
    # The stored record is the one given, derivedSection included, compressed (not text).
    assert rows(db_path, "SELECT typeof(body), record FROM versions WHERE nct_id = 'NCT00000001'") == [("blob", "")]
    with Store.open_read(db_path) as store:
        assert store.record("NCT00000001")["derivedSection"]["miscInfoModule"]["versionHolder"] == "2026-09-04"


def test_an_unchanged_study_moves_last_checked_and_is_no_longer_removed(db_path):
    with Store.open_write(db_path) as store:
        save_judged(store, [Fetched(record("NCT00000001"))])
        store.mark_removed("NCT00000001", None)
        (before,) = rows(db_path, "SELECT last_checked FROM studies")
        (result,) = store.save_page([Fetched(record("NCT00000001"))])
        assert result.status is StudyStatus.UNCHANGED
    ((last_checked, removed_at),) = rows(db_path, "SELECT last_checked, removed_at FROM studies")
    assert last_checked > before[0] and removed_at is None


def test_the_same_study_twice_in_a_page_is_two_successive_versions(db_path):
    with Store.open_write(db_path) as store:
        results = save_judged(
            store, [Fetched(record("NCT00000001")), Fetched(record("NCT00000001", title="Renamed"))]
        )
        assert [(r.status, r.version) for r in results] == [(StudyStatus.NEW, 1), (StudyStatus.CHANGED, 2)]
        assert store.stored_changes("NCT00000001", 1, 2) == [TITLE_CHANGE]


def test_a_page_is_one_transaction_alias_bookkeeping_included(db_path):
    with Store.open_write(db_path) as store:
        store.watch_add(["NCT00000001", "NCT00000102"])
        store.save_page([Fetched(record("NCT00000001"))])

    def broken(old: dict, new: dict) -> list[Change]:
        # The database failing mid-page (disk full) is not one study's problem.
        raise sqlite3.OperationalError("database or disk is full")

    page = [
        Fetched(record("NCT00000005"), requested_id="NCT00000102"),  # an alias: new, event, watchlist
        Fetched(record("NCT00000001", title="Renamed")),  # changed: diff raises
    ]
    before = {t: rows(db_path, f"SELECT * FROM {t}") for t in ("studies", "versions", "changes", "events", "watchlist")}
    with Store.open_write(db_path) as store:
        with pytest.raises(StoreError, match="disk is full"):
            save_judged(store, page, differ=broken)
    assert {t: rows(db_path, f"SELECT * FROM {t}") for t in before} == before  # nothing of the page

    with Store.open_write(db_path) as store:
        results = save_judged(store, page, differ=title_diff)
        assert [(r.nct_id, r.requested_id, r.status) for r in results] == [
            ("NCT00000005", "NCT00000102", StudyStatus.NEW), ("NCT00000001", "NCT00000001", StudyStatus.CHANGED),
        ]
        assert store.watch_ids() == ["NCT00000001", "NCT00000005"]
        save_judged(store, [Fetched(record("NCT00000005"), requested_id="NCT00000102")])  # again: unchanged
    assert rows(db_path, "SELECT nct_id, kind, detail FROM events") == [
        ("NCT00000005", "alias", "NCT00000102 is an alias of NCT00000005"),  # recorded once
    ]
    assert rows(db_path, "SELECT requested_id FROM versions WHERE nct_id = 'NCT00000005'") == [("NCT00000102",)]


def test_a_record_the_classifier_trips_on_costs_only_its_changes(db_path):
    """Issue 11 item 1, issue 19: a judge that raises costs the version its changes, never
    the version: it is stored unjudged (judged_prev NULL) for the next run to judge; the
    page's other records are stored and judged, alias bookkeeping too."""
    with Store.open_write(db_path) as store:
        store.watch_add(["NCT00000001", "NCT00000102"])
        store.save_page([Fetched(record("NCT00000001")), Fetched(record("NCT00000002"))])

    def broken(old: dict, new: dict) -> list[Change]:
        if old["protocolSection"]["identificationModule"]["nctId"] == "NCT00000001":
            raise TypeError("unhashable type: 'dict'")
        return title_diff(old, new)

    page = [
        Fetched(record("NCT00000001", title="Renamed")),  # diff raises
        Fetched(record("NCT00000005"), requested_id="NCT00000102"),  # an alias: new, event, watchlist
        Fetched(record("NCT00000002", title="Renamed")),
    ]
    with Store.open_write(db_path) as store:
        results = save_judged(store, page, differ=broken)
        assert [(r.nct_id, r.status, r.version) for r in results] == [
            ("NCT00000001", StudyStatus.CHANGED, 2),
            ("NCT00000005", StudyStatus.NEW, 1),
            ("NCT00000002", StudyStatus.CHANGED, 2),
        ]
        assert store.unsettled_studies() == ["NCT00000001"]
        assert store.watch_ids() == ["NCT00000001", "NCT00000005"]
    assert rows(db_path, "SELECT nct_id, version, judged_prev FROM versions ORDER BY nct_id, version") == [
        ("NCT00000001", 1, 0), ("NCT00000001", 2, None), ("NCT00000002", 1, 0), ("NCT00000002", 2, 1),
        ("NCT00000005", 1, 0),
    ]
    with Store.open_write(db_path) as store:  # the next run (a judge that works) judges it
        judge.settle_pending(store)
        assert store.unsettled_studies() == []
        assert store.stored_changes("NCT00000001", 1, 2) is not None
    assert rows(db_path, "SELECT nct_id, kind FROM events") == [("NCT00000005", "alias")]


def test_a_value_sqlite_refuses_costs_only_its_record(db_path):
    """A value SQLite cannot bind (here an integer past 64 bits in a change) fails its own
    record, not the page: the page's rows are written study by study after all."""
    def huge(old: dict, new: dict) -> list[Change]:
        changes = title_diff(old, new)
        if new["protocolSection"]["identificationModule"]["nctId"] == "NCT00000002":
            changes = [Change(**{**TITLE_CHANGE.to_dict(), "delta_days": 2**70})]
        return changes

    with Store.open_write(db_path) as store:
        save_judged(store, [Fetched(record(f"NCT0000000{n}")) for n in (1, 2, 3)])
        results = save_judged(
            store, [Fetched(record(f"NCT0000000{n}", title="Renamed")) for n in (1, 2, 3)], differ=huge
        )
        assert [(r.status, r.version) for r in results] == [
            (StudyStatus.CHANGED, 2), (StudyStatus.CHANGED, 2), (StudyStatus.CHANGED, 2),
        ]
        assert store.unsettled_studies() == ["NCT00000002"]  # stored, its changes not
    assert rows(db_path, "SELECT nct_id, max(version), count(*) FROM versions GROUP BY nct_id") == [
        ("NCT00000001", 2, 2), ("NCT00000002", 2, 2), ("NCT00000003", 2, 2),
    ]
    assert rows(db_path, "SELECT nct_id, to_version FROM changes ORDER BY nct_id") == [
        ("NCT00000001", 2), ("NCT00000003", 2),
    ]


def test_malformed_summary_columns_and_deep_records_are_stored(db_path):
    """An object as overallStatus or briefTitle (SQLite cannot bind it) leaves its column
    empty; nesting past orjson's 254 levels and integers past 64 bits are still hashed and
    stored, and read back as they were."""
    deep: object = "bottom"
    for _ in range(400):
        deep = [deep]
    odd = record("NCT00000001")
    odd["protocolSection"]["statusModule"]["overallStatus"] = {"value": "RECRUITING"}
    odd["protocolSection"]["identificationModule"]["briefTitle"] = ["A", "study"]
    odd["protocolSection"]["deep"] = deep
    odd["protocolSection"]["count"] = 2**70
    with Store.open_write(db_path) as store:
        (result,) = store.save_page([Fetched(odd)])
        assert (result.status, result.version) == (StudyStatus.NEW, 1)
        assert store.record("NCT00000001")["protocolSection"]["deep"] == deep
        assert content_hash(odd) == result_hash(db_path)
    assert rows(db_path, "SELECT brief_title, overall_status FROM studies") == [(None, None)]


def result_hash(db: Path) -> str:
    return rows(db, "SELECT content_hash FROM studies")[0][0]


def test_a_version_is_judged_by_the_one_judge_in_its_transaction(db_path):
    """The store judges nothing; the judge (regsync.judge.diff_records) does, in the page's
    transaction: a version never lacks its changes."""
    with Store.open_write(db_path) as store:
        save_judged(store, [Fetched(record("NCT00000001"))], differ=judge.diff_records)
        (result,) = save_judged(store, [Fetched(record("NCT00000001", status="COMPLETED"))], differ=judge.diff_records)
        assert result.status is StudyStatus.CHANGED
        assert result.changes and all(isinstance(c, Change) for c in result.changes)
        assert store.stored_changes("NCT00000001", 1, 2) == result.changes
    assert rows(db_path, "SELECT COUNT(*) FROM changes") == [(len(result.changes),)]


# -- changes come out as objects ----------------------------------------------------------------


def test_stored_and_queried_changes_are_change_objects(db_path):
    with Store.open_write(db_path) as store:
        store.save_page([Fetched(record("NCT00000001"))])
        save_judged(store, [Fetched(record("NCT00000001", title="Renamed"))], differ=title_diff)
    with Store.open_read(db_path) as store:
        assert store.stored_changes("NCT00000001", 1, 2) == [TITLE_CHANGE]
        assert store.stored_changes("NCT00000001", 2, 3) is None  # never computed
        (found,) = store.query_changes(severities=[Severity.MINOR])
        assert isinstance(found, StoredChange)
        assert (found.nct_id, found.from_version, found.to_version, found.change) == (
            "NCT00000001", 1, 2, TITLE_CHANGE,
        )
        assert found.detected_at.endswith("Z")
        assert store.query_changes(categories=["status"]) == []


# -- sqlite3 errors after open: one line, exit 4, for every command ---------------------------


def _deny_everything(store: Store) -> Store:
    # Any statement from now on fails the way a damaged or unreadable database would.
    store.conn.set_authorizer(lambda *args: sqlite3.SQLITE_DENY)
    return store


COMMANDS = [
    ("sync",), ("sync", "NCT07240987", "NCT00763412"), ("watch", "add", "NCT07240987"),
    ("watch", "remove", "NCT07240987"), ("watch", "list"), ("history", "NCT07240987"),
    ("show", "NCT07240987"), ("diff", "NCT07240987"), ("changes",), ("reclassify",), ("status",),
    ("feed",),
    ("datasette-metadata",), ("report", "--html", "/nonexistent/site"),
    ("obligations",), ("backfill", "NCT07240987"), ("outcomes", "NCT07240987"),
    ("export", "--parquet", "/nonexistent/out"),
    ("seed", "--quiet", __file__),  # any existing file: the store is opened before it is read
]


def test_every_command_is_listed_here():
    def names(group: click.Group, prefix: str = "") -> set[str]:
        found = set()
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found |= names(command, f"{prefix}{name} ")
            else:
                found.add(prefix + name)
        return found

    listed = {" ".join(itertools.takewhile(lambda a: not a.startswith(("NCT", "-")), args)) for args in COMMANDS}
    assert names(cli) == listed


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_sqlite_error_after_open_is_one_line_and_exit_4(run, db_path, monkeypatch, api, args):
    Store.open_write(db_path).close()
    open_read, open_write = Store.open_read, Store.open_write
    monkeypatch.setattr(Store, "open_read", classmethod(lambda cls, *a, **k: _deny_everything(open_read(*a, **k))))
    monkeypatch.setattr(Store, "open_write", classmethod(lambda cls, *a, **k: _deny_everything(open_write(*a, **k))))
    result = run(*args)
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == f"error: database {db_path} cannot be used: not authorized\n"
    assert len(api.calls) == 0
    with Store.open_write(db_path):  # the lock was released on the way out
        pass


def test_a_command_added_later_goes_through_the_same_handler(run):
    @cli.command("eleventh")
    def eleventh() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    try:
        result = run("eleventh")
    finally:
        del cli.commands["eleventh"]
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr.endswith("cannot be used: disk I/O error\n")


def test_history_names_each_versions_source_url_stored_once(db_path):
    batch = "https://registry.test/api/v2/studies?format=json&filter.ids=NCT00000001,NCT00000002&pageSize=1000"
    with Store.open_write(db_path) as store:
        save_judged(store, [Fetched(record("NCT00000001"), source=batch), Fetched(record("NCT00000002"), source=batch)])
        save_judged(store, [Fetched(record("NCT00000001", title="Renamed"), source=batch)], differ=title_diff)
        # A version stored before sources existed (schema 0003) kept its URL in the row.
        store.conn.execute(
            "UPDATE versions SET source = 'https://registry.test/old', source_id = NULL "
            "WHERE nct_id = 'NCT00000002'"
        )
    with Store.open_read(db_path) as store:
        assert [v["source"] for v in store.history("NCT00000001")] == [batch, batch]
        assert [v["source"] for v in store.history("NCT00000002")] == ["https://registry.test/old"]
    assert rows(db_path, "SELECT COUNT(*) FROM sources") == [(1,)]
