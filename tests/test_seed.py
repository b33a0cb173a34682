"""`regsync seed` (issue 23 item 1): the registry's bulk download stored as versions, in one
streaming pass, resumable after a kill, idempotent; `seed --download`; the whole-registry
watch that keeps a seeded store current with the ordinary incremental sync."""

from __future__ import annotations

import os
import signal
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from regsync.store import Store
from support.fakeapi import Fault, load_fixtures, mutate, synthesize
from support.procs import popen_regsync, run_regsync, wait_for
from support.records import DATA_TS

WHEN = (2026, 9, 4, 9, 0, 6)  # the members' time: the registry data's date


def build_zip(path: Path, records: list[dict], extra: list[tuple[str, bytes]] = (), when: tuple = WHEN) -> Path:
    """A bulk download as the registry builds it: NCTnnnnnnnn.json per study (deflated)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            nct_id = record["protocolSection"]["identificationModule"]["nctId"]
            archive.writestr(zipfile.ZipInfo(f"{nct_id}.json", when), orjson.dumps(record),
                             compress_type=zipfile.ZIP_DEFLATED)
        for name, body in extra:
            archive.writestr(zipfile.ZipInfo(name, when), body, compress_type=zipfile.ZIP_DEFLATED)
    return path


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def versions(db: Path) -> list[tuple]:
    """What a seed stores, without the run and the time it was stored."""
    return rows(db, "SELECT v.nct_id, v.version, v.content_hash, v.data_timestamp, s.url, v.record, v.label, "
                    "v.chain_pos, v.judged_prev FROM versions v JOIN sources s ON s.id = v.source_id "
                    "ORDER BY v.nct_id, v.version")


def test_a_seed_stores_every_study_of_the_file_as_its_first_version(tmp_path, run, db_path):
    records = load_fixtures()
    archive = build_zip(tmp_path / "ctg-studies.json.zip", records)

    result = run("seed", str(archive))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "seeded 6 studies from ctg-studies.json.zip (2026-09-04): 6 new, 0 changed, 0 unchanged, "
        "0 members skipped\n"
    )
    stored = versions(db_path)
    assert [(r[0], r[1], r[3], r[4], r[6], r[7], r[8]) for r in stored] == [
        (r["protocolSection"]["identificationModule"]["nctId"], 1, "2026-09-04T09:00:06",
         "ctg-studies.json.zip", "1", 1, 0)
        for r in sorted(records, key=lambda r: r["protocolSection"]["identificationModule"]["nctId"])
    ]
    # The registry's bytes are what is stored, and the record reads back whole.
    with Store.open_read(db_path) as store:
        for record in records:
            nct_id = record["protocolSection"]["identificationModule"]["nctId"]
            assert store.record(nct_id, 1) == record
    assert rows(db_path, "SELECT COUNT(*) FROM obligations") == [(6,)]
    assert rows(db_path, "SELECT command, outcome, complete, data_timestamp, new_studies FROM runs") == [
        ("seed", "ok", 1, "2026-09-04T09:00:06", 6)
    ]


def test_seeding_the_same_file_again_stores_nothing(tmp_path, run, db_path):
    archive = build_zip(tmp_path / "ctg-studies.json.zip", load_fixtures())
    assert run("seed", str(archive)).exit_code == 0
    before = versions(db_path)
    copy = tmp_path / "copy.zip"
    copy.write_bytes(archive.read_bytes())  # a copy is the same archive

    for given in (archive, copy):
        result = run("seed", str(given))
        assert result.exit_code == 0
        assert result.stdout == (
            f"nothing to do: {given.name} (2026-09-04) was seeded completely by run 1; "
            "`regsync sync` keeps the studies current\n"
        )
    assert versions(db_path) == before
    assert rows(db_path, "SELECT outcome FROM runs ORDER BY id") == [("ok",), ("nothing-to-do",), ("nothing-to-do",)]


def test_a_newer_file_stores_exactly_the_studies_whose_content_changed_with_their_changes(tmp_path, run, db_path):
    records = load_fixtures()
    assert run("seed", str(build_zip(tmp_path / "old.zip", records))).exit_code == 0
    changed = {1: mutate(records[1], "2026-10-01"), 3: mutate(records[3], "2026-10-01")}
    newer = [changed.get(i, r) for i, r in enumerate(records)]
    # derivedSection moves every day for every study: never a version on its own.
    for record in newer:
        record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = "2026-10-02"

    result = run("seed", str(build_zip(tmp_path / "new.zip", newer, when=(2026, 10, 2, 9, 0, 0))))

    assert result.exit_code == 0, result.stderr
    ids = [newer[i]["protocolSection"]["identificationModule"]["nctId"] for i in (1, 3)]
    lines = result.stdout.splitlines()
    assert lines[-1] == (
        "seeded 6 studies from new.zip (2026-10-02): 0 new, 2 changed, 4 unchanged, 0 members skipped"
    )
    assert sorted(line.split()[0] for line in lines[:-1]) == sorted(ids)
    assert all(" changed v1 -> v2" in line for line in lines[:-1])
    assert rows(db_path, "SELECT nct_id, version, data_timestamp FROM versions WHERE version > 1 ORDER BY nct_id") == [
        (n, 2, "2026-10-02T09:00:00") for n in sorted(ids)
    ]
    # Judged like a sync judges them: the edit mutate() made is a stored change of v2.
    changes = rows(db_path, "SELECT DISTINCT nct_id FROM changes WHERE to_version = 2 AND from_version = 1")
    assert sorted(r[0] for r in changes) == sorted(ids)
    assert rows(db_path, "SELECT COUNT(*) FROM versions WHERE judged_prev IS NULL OR chain_pos IS NULL") == [(0,)]


def test_members_that_are_not_study_records_cost_only_themselves(tmp_path, run, db_path):
    records = load_fixtures()
    first = records[0]["protocolSection"]["identificationModule"]["nctId"]
    no_id = orjson.loads(orjson.dumps(records[0]))
    del no_id["protocolSection"]["identificationModule"]["nctId"]
    archive = build_zip(tmp_path / "ctg-studies.json.zip", records, extra=[
        ("NCT99999991.json", b'{"protocolSection": '),
        ("NCT99999992.json", b"[1, 2]"),
        ("NCT99999993.json", orjson.dumps(no_id)),
        ("NCT99999994.json", orjson.dumps(records[0])),
        ("README.txt", b"the registry's notes"),
        ("studies/", b""),
    ])

    result = run("seed", str(archive))

    assert result.exit_code == 0  # the registry's file is at fault, not a study regsync could retry
    assert result.stderr.splitlines() == [
        "warning: member 'NCT99999991.json' skipped: not JSON (unexpected end of data: line 1 column 21 (char 20))",
        "warning: member 'NCT99999992.json' skipped: JSON that is not a study record (not an object)",
        "warning: member 'NCT99999993.json' skipped: a record without protocolSection.identificationModule.nctId",
        f"warning: member 'NCT99999994.json' skipped: it holds the record of {first}",
        "warning: member 'README.txt' skipped: not a study record's name (NCTnnnnnnnn.json)",
        "warning: member 'studies/' skipped: a directory, not a study record",
    ]
    assert result.stdout == (
        "seeded 6 studies from ctg-studies.json.zip (2026-09-04): 6 new, 0 changed, 0 unchanged, "
        "6 members skipped\n"
    )
    assert rows(db_path, "SELECT COUNT(*) FROM studies") == [(6,)]
    assert len(rows(db_path, "SELECT error FROM run_errors")) == 6
    assert rows(db_path, "SELECT outcome, complete FROM runs") == [("ok", 1)]


def test_a_truncated_or_corrupt_zip_is_one_line_and_nothing_is_stored(tmp_path, run, db_path):
    whole = build_zip(tmp_path / "whole.zip", load_fixtures()).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    garbled = tmp_path / "garbled.zip"
    body = bytearray(whole)
    start = body.rfind(b"PK\x01\x02")  # the last member's directory entry
    body[start : start + 4] = b"XXXX"
    garbled.write_bytes(bytes(body))

    for path, why in ((cut, "no end of central directory: the file is truncated or not a zip"),
                      (garbled, "its central directory is broken at member 6")):
        result = run("seed", str(path))
        assert result.exit_code == 1
        assert result.stderr == f"error: {path.name} is not a complete zip file ({why}); nothing stored\n"
        assert result.stdout == ""
    assert rows(db_path, "SELECT COUNT(*) FROM versions") == [(0,)]


def test_a_killed_seed_continues_where_it_stopped_and_ends_as_an_uninterrupted_one(tmp_path):
    records = list(synthesize(3000))
    archive = build_zip(tmp_path / "ctg-studies.json.zip", records)
    whole = tmp_path / "whole.db"
    assert run_regsync(whole, None, "seed", str(archive)).returncode == 0

    db = tmp_path / "killed.db"
    proc = popen_regsync(db, None, "seed", str(archive))
    try:
        def done() -> int:
            try:
                got = rows(db, "SELECT done FROM seed_progress")
            except sqlite3.OperationalError:  # not created yet
                return 0
            return got[0][0] if got else 0

        wait_for(lambda: done() > 0 or proc.poll() is not None, what="the first batch")
        # Hold SQLite's write lock: the seed waits at its next batch, and is killed there.
        holder = sqlite3.connect(db, timeout=60, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        stopped_at = holder.execute("SELECT done FROM seed_progress").fetchone()[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        holder.execute("ROLLBACK")
        holder.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert 0 < stopped_at < 3000
    assert rows(db, "SELECT COUNT(*) FROM versions") == [(stopped_at,)]

    resumed = run_regsync(db, None, "seed", str(archive))

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == (
        "seeded 3,000 studies from ctg-studies.json.zip (2026-09-04): 3,000 new, 0 changed, 0 unchanged, "
        f"0 members skipped (continued after member {stopped_at:,} of 3,000)\n"
    )
    assert versions(db) == versions(whole)
    # The second run stored only what the first had not.
    assert rows(db, "SELECT command, outcome, new_studies FROM runs ORDER BY id") == [
        ("seed", "interrupted", 0), ("seed", "ok", 3000 - stopped_at)
    ]


def test_seed_download_streams_the_bulk_file_and_seeds_it(fake_api, tmp_path, run, db_path):
    records = list(synthesize(30))
    registry, server = fake_api(records)
    kept = tmp_path / "ctg-studies.json.zip"

    result = run("seed", "--download", "--keep", str(kept), api_url=server.url)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "seeded 30 studies from ctg-studies.json.zip (2026-09-04): 30 new, 0 changed, 0 unchanged, "
        "0 members skipped\n"
    )
    assert kept.read_bytes() == registry.download_zip()
    assert [r.path for r in registry.requests] == ["/api/v2/version", "/api/v2/studies/download"]
    assert rows(db_path, "SELECT DISTINCT s.url, v.data_timestamp FROM versions v JOIN sources s ON s.id = v.source_id") == [
        (f"{server.url}/studies/download?format=json.zip", DATA_TS)
    ]
    # Without --keep: a temporary file beside the database, removed afterwards.
    registry.data_timestamp = "2026-09-05T09:00:06"
    result = run("seed", "--download", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (  # a newer download: every study checked again, none changed
        "seeded 30 studies from the bulk download (2026-09-05): 0 new, 0 changed, 30 unchanged, 0 members skipped\n"
    )
    assert sorted(p.name for p in db_path.parent.iterdir() if "download" in p.name) == []


def test_an_interrupted_download_is_one_line_and_seeds_nothing(fake_api, tmp_path, run, db_path):
    registry, server = fake_api(list(synthesize(30)))
    kept = tmp_path / "ctg-studies.json.zip"
    for fault, message in (
        (Fault.cut(), "error: the download was interrupted after "),
        (Fault.truncated(), "error: the downloaded file is not a complete zip (no end of central directory: "
                            "the file is truncated or not a zip); nothing seeded"),
        (Fault.status(404, "Not found"), f"error: {server.url}/studies/download?format=json.zip: HTTP 404: "
                                         "Not found; nothing seeded"),
    ):
        registry.fail("download", fault)
        result = run("seed", "--download", "--keep", str(kept), "--retries", "0", api_url=server.url)
        assert result.exit_code == 1
        assert result.stderr.startswith(message), result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert result.stdout == ""
        assert sorted(p.name for p in tmp_path.iterdir() if "zip" in p.name) == []
    assert rows(db_path, "SELECT COUNT(*) FROM versions") == [(0,)] if db_path.exists() else True


def test_after_a_seed_the_whole_registry_watch_syncs_only_what_changed(fake_api, tmp_path, run, db_path):
    records = list(synthesize(40))
    registry, server = fake_api(records)
    archive = tmp_path / "ctg-studies.json.zip"
    archive.write_bytes(registry.download_zip())
    assert run("seed", str(archive)).exit_code == 0

    result = run("watch", "add", "--all")
    assert result.stdout == "the whole registry added\n"
    assert run("watch", "list").stdout == (
        "whole registry: every study; each sync fetches what the registry updated since the last\n"
    )
    # The next release: two studies edited, one new, none of the others touched.
    edited = [records[5], records[17]]
    for record in edited:
        registry.add(mutate(record, "2026-09-08"))
    newcomer = mutate(records[0], "2026-09-08")
    newcomer["protocolSection"]["identificationModule"]["nctId"] = "NCT20000000"
    registry.add(newcomer)
    registry.data_timestamp = "2026-09-09T09:00:06"
    since = "2026-09-03"  # the seed's date minus a day
    posted_since = sorted(
        r["protocolSection"]["identificationModule"]["nctId"] for r in records
        if r["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] >= since
    )
    registry.reset_log()

    result = run("sync", "--quiet", "--recheck", "0", api_url=server.url)

    assert result.exit_code == 0, result.stderr
    ids = sorted({r["protocolSection"]["identificationModule"]["nctId"] for r in edited} | {"NCT20000000"})
    assert sorted(line.split()[0] for line in result.stdout.splitlines()) == ids
    listed = [r for r in registry.requests if r.path == "/api/v2/studies" and "filter.advanced" in r.query]
    assert [r.query["filter.advanced"] for r in listed] == [[f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"]]
    fetched = [r for r in registry.requests if "filter.ids" in r.query]
    assert [sorted(r.query["filter.ids"][0].split(",")) for r in fetched] == [sorted(set(ids) | set(posted_since))]
    assert len(registry.requests) == 3  # /version, what was updated, the updated records


def test_an_older_file_never_rolls_a_study_back(tmp_path, run, db_path):
    records = load_fixtures()
    newer = [mutate(r, "2026-10-01") if i in (0, 2) else r for i, r in enumerate(records)]
    assert run("seed", str(build_zip(tmp_path / "new.zip", newer, when=(2026, 10, 2, 9, 0, 0)))).exit_code == 0
    before = versions(db_path)

    # The file of a month earlier: studies 0 and 2 as they were before their edit.
    result = run("seed", str(build_zip(tmp_path / "old.zip", records)))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "seeded 4 studies from old.zip (2026-09-04): 0 new, 0 changed, 4 unchanged, 0 members skipped, "
        "2 older than the version stored (kept as stored)\n"
    )
    assert versions(db_path) == before
    assert rows(db_path, "SELECT older FROM seed_progress ORDER BY first_run") == [(0,), (2,)]


def test_a_newer_file_with_a_registry_wide_rename_says_it_once_and_tells_only_the_sponsors_edits(
        tmp_path, run, db_path):
    import copy

    from support.records import edit

    records = list(synthesize(60))
    assert run("seed", str(build_zip(tmp_path / "old.zip", records))).exit_code == 0
    newer = []
    for i, record in enumerate(records):
        renamed = copy.deepcopy(record)
        design = renamed["protocolSection"]["designModule"]
        design["kind"] = design.pop("studyType")  # the registry's rename: no date moves
        newer.append(edit(renamed, "2026-10-01", overallStatus="WITHDRAWN") if i in (4, 7) else renamed)

    result = run("seed", str(build_zip(tmp_path / "new.zip", newer, when=(2026, 10, 2, 9, 0, 0))))

    assert result.exit_code == 0, result.stderr
    sponsors = sorted(newer[i]["protocolSection"]["identificationModule"]["nctId"] for i in (4, 7))
    lines = result.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[:-1]) == sponsors  # the renamed-only studies are quiet
    assert lines[-1] == "seeded 60 studies from new.zip (2026-10-02): 0 new, 60 changed, 0 unchanged, 0 members skipped"
    assert result.stderr.count("note: the registry changed protocolSection.designModule.studyType (renamed to kind) "
                               "in 60 studies; recorded as a registry change, not flagged per study\n") == 1
    assert rows(db_path, "SELECT DISTINCT category, severity FROM changes WHERE path LIKE '%studyType%' "
                         "OR path LIKE '%kind%'") == [("registry", "admin")]
    assert rows(db_path, "SELECT nct_id FROM changes WHERE category = 'status' ORDER BY nct_id") == [
        (n,) for n in sponsors]


def _without(db: Path, table: str, dropped: set[str], order: str) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [{k: row[k] for k in row.keys() if k not in dropped}
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]


def test_a_seed_stores_the_rows_the_ordinary_save_of_the_same_records_stores(tmp_path, run, db_path):
    """The seed's readers work out each record's columns and obligation ahead of the writer
    (store.prepare); what lands in the store is what storing the records one page at a time
    through Store.save_page, as a sync does, stores: versions (bytes, clear and summary
    columns), studies, obligations, aliases."""
    from regsync import judge
    from regsync.client import FetchedStudy

    records = load_fixtures() + list(synthesize(40, seed=7))
    aliased = records[-1]["protocolSection"]["identificationModule"]
    aliased["nctIdAliases"] = ["NCT00000017", "not an NCT ID", aliased["nctId"]]
    archive = build_zip(tmp_path / "ctg-studies.json.zip", records)
    assert run("seed", str(archive)).exit_code == 0

    slow = tmp_path / "slow.db"
    with Store.open_write(slow) as store:
        store.save_page(
            [FetchedStudy(r["protocolSection"]["identificationModule"]["nctId"],
                          r["protocolSection"]["identificationModule"]["nctId"], r, "ctg-studies.json.zip",
                          given_raw=orjson.dumps(r)) for r in records],
            data_timestamp="2026-09-04T09:00:06", obligation=judge.obligation_columns,
        )
    when = {"fetched_at", "run_id", "first_seen", "last_checked", "last_changed", "checked_run", "detected_at",
            "computed_at"}
    for table, order in (("versions", "nct_id, version"), ("studies", "nct_id"),
                         ("obligations", "nct_id, version"), ("aliases", "alias")):
        seeded, saved = _without(db_path, table, when, order), _without(slow, table, when, order)
        assert seeded == saved, table
        assert seeded, table
    assert _without(db_path, "aliases", when, "alias") == [{"alias": "NCT00000017", "nct_id": aliased["nctId"]}]


def test_a_prepared_obligation_judged_on_another_day_is_judged_again(db_path):
    """A record prepared before midnight and stored after: its obligation is the one judged
    on the day it is stored, as for any other record."""
    from regsync import judge
    from regsync.client import FetchedStudy
    from regsync.store import Prepared, prepare, utcnow

    record = load_fixtures()[0]
    nct_id = record["protocolSection"]["identificationModule"]["nctId"]
    prepared = prepare(record, "2001-01-01T00:00:00", judge.obligation_columns)

    @dataclass(frozen=True)
    class Seeded(FetchedStudy):
        prepared: Prepared | None = None

    fetched = Seeded(nct_id, nct_id, record, "file.zip", prepared=prepared)
    with Store.open_write(db_path) as store:
        store.save_page([fetched], obligation=judge.obligation_columns)
    (as_of,) = rows(db_path, "SELECT as_of FROM obligations")[0]
    assert as_of == utcnow()[:10] != prepared.day


def test_records_read_after_the_store_trains_its_dictionary_are_stored_as_its_own_frames(
    tmp_path, run, db_path, monkeypatch
):
    """The readers compress each record whole ahead of the writer, with the store's trained
    dictionary once the store has one (it is trained partway through a first seed): every
    version is stored as the frame the store itself would make of its bytes, with the
    dictionary the frame names (or none), and reads back as those bytes."""
    import zstandard

    from regsync import bodies, seed
    from regsync.bodies import Codec

    monkeypatch.setattr(bodies, "DICT_SAMPLES", 30)
    monkeypatch.setattr(bodies, "DICT_SIZE", 4096)
    monkeypatch.setattr(seed, "BATCH_MEMBERS", 10)
    records = list(synthesize(120, seed=3))
    archive = build_zip(tmp_path / "ctg-studies.json.zip", records)
    assert run("seed", str(archive)).exit_code == 0

    ((dict_id, data),) = rows(db_path, "SELECT id, data FROM body_dicts")
    trained = Codec(lambda _: None)
    trained.use_dict(dict_id, data)
    plain = Codec(lambda _: None)
    stored = rows(db_path, "SELECT nct_id, body, body_base FROM versions")
    assert len(stored) == 120
    used = []
    for nct_id, body, base in stored:
        raw = orjson.dumps(next(r for r in records if r["protocolSection"]["identificationModule"]["nctId"] == nct_id))
        named = zstandard.get_frame_parameters(body).dict_id
        used.append(named)
        assert base is None
        assert body == (trained if named == dict_id else plain).pack(raw)[0], nct_id
    assert used.count(dict_id) >= 60 and used.count(0) >= 30  # before the dictionary, and after
    with Store.open_read(db_path) as store:
        assert all(store.record(r["protocolSection"]["identificationModule"]["nctId"], 1) == r for r in records)


def test_a_member_whose_data_is_corrupt_costs_only_itself(tmp_path, run, db_path):
    """Data that does not inflate, or inflates to bytes that do not match the member's
    checksum: that member is skipped with one line, the others are stored."""
    records = load_fixtures()
    path = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for number, record in enumerate(records[:3]):
            nct_id = record["protocolSection"]["identificationModule"]["nctId"]
            archive.writestr(zipfile.ZipInfo(f"{nct_id}.json", WHEN), orjson.dumps(record),
                             compress_type=zipfile.ZIP_STORED if number == 1 else zipfile.ZIP_DEFLATED)
    body = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    data = [info.header_offset + 30 + len(info.filename) + len(info.extra) for info in infos]
    body[data[0]] = 0x07  # a final deflate block of the reserved type
    body[data[1] + 40] ^= 0x01  # one bit of the stored bytes
    path.write_bytes(bytes(body))

    result = run("seed", str(path))

    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: member '{infos[0].filename}' skipped: its data does not inflate "
        "(Error -3 while decompressing data: invalid block type)",
        f"warning: member '{infos[1].filename}' skipped: its data does not match its checksum (corrupt zip)",
    ]
    assert rows(db_path, "SELECT nct_id FROM studies") == [(infos[2].filename[:-5],)]
