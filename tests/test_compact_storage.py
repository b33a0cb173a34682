"""Issue 23 item 2: versions are stored compactly (zstd frames, deltas against an older row of
the same study), `show` prints the exact bytes the registry sent, and a database written
before converts in place, kill-safe and resumable."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import orjson
from support.fakeapi import mutate, synthesize
from support.mocks import API, mock_version, study_url
from support.procs import popen_regsync, run_regsync, wait_for
from support.records import load

from regsync import bodies
from regsync.client import FetchedStudy
from regsync.store import Store

DEFAULT = "NCT07240987"
OTHER = "NCT00763412"
OLD = Path(__file__).parent / "fixtures" / "old_release.sql"


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fetched(record: dict, raw: bytes | None = None) -> FetchedStudy:
    nct_id = record["protocolSection"]["identificationModule"]["nctId"]
    return FetchedStudy(nct_id, nct_id, record, "https://registry.test/x", raw)


# -- the registry's exact bytes ---------------------------------------------------------------

# What orjson would write otherwise: escaped non-ASCII and slashes, an exponent, spaces
# after separators, a key order of the registry's own.
ODD = (b'{"protocolSection": {"identificationModule": {"nctId": "NCT07240987", '
       b'"briefTitle": "Caf\\u00e9 \\/ \\"quoted\\" \xc3\xa9t\xc3\xa9 [x] {y}"}, '
       b'"statusModule": {"overallStatus": "RECRUITING", "ratio": 1.5E2}}, "hasResults": false}')


def test_record_spans_are_the_bytes_of_each_record_of_a_page():
    plain = orjson.dumps(load(OTHER))
    page = b'{"totalCount":3, "studies" : [' + plain + b' ,\n ' + ODD + b',' + plain + b'],"nextPageToken":"x"}'
    records = orjson.loads(page)["studies"]
    assert bodies.record_spans(page, records) == [plain, ODD, plain]
    # A page whose bytes do not hold the records given: none is made up.
    assert bodies.record_spans(b'{"studies":[{"a":1}]}', [{"a": 2}]) == [None]
    assert bodies.record_spans(b'{"studies":[]}', []) == []


def test_a_page_cuts_each_records_bytes_as_record_spans_finds_them():
    """The cut a sync makes only for the records it stores: the same bytes as reading the
    whole page, for compact pages, pages another escaping, pretty-printed ones, and records
    that hold an object beginning with the records' own first key."""
    plain = orjson.dumps(load(OTHER))
    odd = ODD.replace(b": ", b":").replace(b", ", b",")  # compact, but escaped otherwise
    nested = orjson.dumps({"protocolSection": {"x": [{"a": 1}, {"protocolSection": 2}]}, "hasResults": False})
    derived_first = orjson.dumps({"derivedSection": {"a": 1}, **orjson.loads(plain)})
    pages = [
        b'{"studies":[' + plain + b"," + odd + b"," + plain + b'],"nextPageToken":"x"}',
        b'{"studies":[' + plain + b"," + plain + b"," + odd + b']}',
        b'{"totalCount":3, "studies" : [' + plain + b' ,\n ' + ODD + b"," + plain + b"]}",
        b'{"studies":[' + nested + b"," + plain + b"]}",
        b'{"studies":[' + plain + b"," + nested + b"]}",
        b'{"studies":[' + derived_first + b"," + plain + b"," + derived_first + b"," + odd + b"]}",
    ]
    for page in pages:
        records = orjson.loads(page)["studies"]
        expected = bodies.record_spans(page, records)
        assert None not in expected
        for order in (list(range(len(records))), list(reversed(range(len(records))))):
            spans = bodies.PageSpans(page, records)
            assert [spans.span(i) for i in order] == [expected[i] for i in order]
    # Bytes that do not hold the records given: none is made up.
    assert bodies.PageSpans(b'{"studies":[{"a":1},{"a":3}]}', [{"a": 2}, {"a": 3}]).span(0) is None
    assert bodies.PageSpans(b'{"studies":[{"a":1},{"a":3}]}', [{"a": 1}, {"a": 2}]).span(1) is None


def test_show_prints_the_bytes_the_registry_sent_for_one_study(api, run):
    mock_version(api)
    api.get(study_url(DEFAULT), body=ODD)  # /studies/{id}: the body is the record
    assert run("sync").exit_code == 0
    shown = run("show", DEFAULT)
    assert shown.exit_code == 0 and shown.stdout_bytes == ODD


def test_show_prints_the_bytes_of_each_record_of_a_page(api, run):
    mock_version(api)
    other = orjson.dumps(load(OTHER), option=orjson.OPT_INDENT_2)  # not compact: found by scanning
    api.get(f"{API}/studies", body=b'{"studies":[' + other + b",\n" + ODD + b"]}")
    assert run("watch", "add", OTHER, DEFAULT).exit_code == 0
    assert run("sync").exit_code == 0
    assert run("show", OTHER).stdout_bytes == other
    assert run("show", DEFAULT).stdout_bytes == ODD
    # What is read from the bytes is what was parsed: the diff and history work as ever.
    assert run("history", DEFAULT).exit_code == 0


# -- compact: deltas, keyframes, the dictionary ------------------------------------------------


def test_later_versions_are_deltas_of_bounded_depth_and_read_back_exactly(db_path):
    (record,) = synthesize(1)
    written: list[bytes] = []
    with Store.open_write(db_path) as store:
        for n in range(40):
            raw = orjson.dumps(record)
            written.append(raw)
            store.save_page([fetched(record, raw)])
            record = mutate(record, f"2027-{1 + n // 28:02d}-{1 + n % 28:02d}")
    chain = dict(rows(db_path, "SELECT version, body_base FROM versions"))
    depth = {}
    for version in sorted(chain):
        base = chain[version]
        assert base is None or base < version  # always an older row: no cycle
        depth[version] = 0 if base is None else depth[base] + 1
    assert max(depth.values()) == bodies.KEYFRAME_EVERY - 1
    assert [v for v, d in depth.items() if d == 0] == [1, 17, 33]
    sizes = dict(rows(db_path, "SELECT version, length(body) FROM versions"))
    assert all(sizes[v] < 300 for v in sizes if chain[v] is not None)
    with Store.open_read(db_path) as store:
        assert [store.record_bytes("NCT10000000", v) for v in range(1, 41)] == written
        assert store.record("NCT10000000", 40) == orjson.loads(written[-1])


def test_adopting_a_version_keeps_every_other_version_readable(db_path):
    """adopt replaces one row's bytes and deletes another: the rows stored as deltas against
    either are stored whole first."""
    v1 = load(DEFAULT)
    v2 = mutate(v1, "2026-02-01")
    v3 = mutate(v2, "2026-03-01")
    v4 = mutate(v3, "2026-04-01")
    with Store.open_write(db_path) as store:
        for record in (v1, v2, v3):
            store.save_page([fetched(record)])
        with store.transaction():
            store.insert_history_version(DEFAULT, v4, registry_version=3, registry_date="2026-04-01",
                                         module_labels=[], norm_hash="x", run_id=None)
        assert dict(rows(db_path, "SELECT version, body_base FROM versions")) == {1: None, 2: 1, 3: 2, 4: 3}
        with store.transaction():
            store.adopt(DEFAULT, 3, into=2)
    with Store.open_read(db_path) as store:
        assert [store.record(DEFAULT, v) for v in (1, 2, 4)] == [v1, v3, v4]
    assert dict(rows(db_path, "SELECT version, body_base FROM versions")) == {1: None, 2: None, 4: None}


def test_a_dictionary_is_trained_on_the_stores_own_records(db_path, monkeypatch):
    monkeypatch.setattr(bodies, "DICT_SAMPLES", 40)
    records = list(synthesize(60))
    with Store.open_write(db_path) as store:
        store.save_page([fetched(r) for r in records[:30]])
        assert rows(db_path, "SELECT COUNT(*) FROM body_dicts") == [(0,)]  # too few yet: plain
        store.save_page([fetched(r) for r in records[30:]])
        ((dict_id, samples),) = rows(db_path, "SELECT id, samples FROM body_dicts")
        assert samples == 40
        store.save_page([fetched(mutate(records[0], "2027-01-01"))])
    frames = rows(db_path, "SELECT nct_id, version, body FROM versions WHERE body_base IS NULL ORDER BY nct_id")
    import zstandard

    ids = [zstandard.get_frame_parameters(body).dict_id for _, _, body in frames]
    assert ids == [0] * 60  # the first 60 were stored before the dictionary
    with Store.open_read(db_path) as store:  # a new reader finds the dictionary in the database
        assert [store.record(n, v) for n, v, _ in frames] == records
        assert store.record(records[0]["protocolSection"]["identificationModule"]["nctId"], 2) == mutate(
            records[0], "2027-01-01")


# -- the views --------------------------------------------------------------------------------


def test_the_timeline_view_reads_the_columns_kept_in_the_clear(db_path):
    record = load(DEFAULT)
    record["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 42, "type": "ESTIMATED"}
    with Store.open_write(db_path) as store:
        store.save_page([fetched(record)])
    status = record["protocolSection"]["statusModule"]
    assert rows(db_path, "SELECT start_date, start_date_type, primary_completion_date, completion_date_type, "
                         "enrollment, enrollment_type FROM study_timeline") == [
        (status["startDateStruct"]["date"], status["startDateStruct"]["type"],
         status["primaryCompletionDateStruct"]["date"], status["completionDateStruct"]["type"], 42, "ESTIMATED"),
    ]


# -- converting a database written before -----------------------------------------------------


def old_database(path: Path, copies: int = 0) -> None:
    """The older release's database (tests/fixtures/old_release.sql), with ``copies`` more
    copies of each of its studies under other NCT IDs (records as text, as it stored them)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(OLD.read_text())
        if copies:
            columns = [r[1] for r in conn.execute("PRAGMA table_info(versions)")]
            study_columns = [r[1] for r in conn.execute("PRAGMA table_info(studies)")]
            conn.execute(f"CREATE TEMP TABLE n AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                         f"WHERE i < {copies}) SELECT i FROM n")
            new_id = "'NCT9' || printf('%07d', n.i * 10 + (s.rowid % 10))"
            conn.execute(
                f"INSERT INTO studies ({', '.join(study_columns)}) SELECT "
                + ", ".join(new_id if c == "nct_id" else f"s.{c}" for c in study_columns)
                + " FROM studies s, n")
            conn.execute(
                f"INSERT INTO versions ({', '.join(columns)}) SELECT "
                + ", ".join(new_id if c == "nct_id" else f"v.{c}" for c in columns)
                + " FROM versions v JOIN studies s ON s.nct_id = v.nct_id, n")
        conn.commit()
    finally:
        conn.close()


def texts(path: Path) -> dict[tuple[str, int], bytes]:
    return {(n, v): r.encode() for n, v, r in rows(path, "SELECT nct_id, version, record FROM versions")}


def timeline_of_text(path: Path) -> list[tuple]:
    """What the study_timeline view showed from the records before (json_extract)."""
    paths = [f"$.protocolSection.statusModule.{p}" for p in (
        "startDateStruct.date", "startDateStruct.type", "primaryCompletionDateStruct.date",
        "primaryCompletionDateStruct.type", "completionDateStruct.date", "completionDateStruct.type")]
    paths += ["$.protocolSection.designModule.enrollmentInfo.count", "$.protocolSection.designModule.enrollmentInfo.type"]
    return rows(path, "SELECT nct_id, fetched_at, " + ", ".join(f"json_extract(record, '{p}')" for p in paths)
                + " FROM versions ORDER BY 1, 2")


def test_an_older_database_converts_in_place_byte_for_byte(tmp_path):
    db = tmp_path / "old.db"
    old_database(db)
    before, timeline = texts(db), timeline_of_text(db)
    with Store.open_write(db) as store:
        assert rows(db, "SELECT COUNT(*) FROM versions WHERE body IS NULL OR record != ''") == [(0,)]
        assert {key: store.record_bytes(*key) for key in before} == before
    assert rows(db, "SELECT nct_id, fetched_at, start_date, start_date_type, primary_completion_date, "
                    "primary_completion_date_type, completion_date, completion_date_type, enrollment, enrollment_type "
                    "FROM study_timeline ORDER BY 1, 2") == timeline


def test_a_conversion_killed_half_way_is_finished_by_the_next_open(tmp_path):
    db = tmp_path / "old.db"
    old_database(db, copies=200)  # 1,608 versions: 9 batches
    before = texts(db)
    total = len(before)

    def converted() -> int:
        try:
            return int(rows(db, "SELECT COUNT(*) FROM versions WHERE body IS NOT NULL")[0][0])
        except sqlite3.OperationalError:  # the migrations are still under way
            return 0

    proc = popen_regsync(db, None, "watch", "add", DEFAULT)
    try:
        wait_for(lambda: converted() > 0 or proc.poll() is not None, what="the conversion to start")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = converted()
    assert 0 < done < total, "killed too late to test a resume"
    assert done % 200 == 0  # whole batches only
    # Readers read both forms meanwhile.
    with Store.open_read(db) as store:
        assert {key: store.record_bytes(*key) for key in before} == before
    finished = run_regsync(db, None, "watch", "add", DEFAULT)
    assert finished.returncode == 0, finished.stderr
    assert converted() == total
    with Store.open_read(db) as store:
        assert {key: store.record_bytes(*key) for key in before} == before
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
