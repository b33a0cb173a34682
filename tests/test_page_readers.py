"""Issue 23 item 6: a sync's pages read and prepared beside the writer (regsync.prepared).

Reading a page in a forked process must store exactly what reading it in the writer
stores, and a reader that dies or fails must cost nothing but speed. Below those checks,
the sync tests of batched fetching and of bad records run again with every page read
beside the writer (tests/test_page_readers_hostile.py does the same for hostile pages).
"""

from __future__ import annotations

import os
import signal
import sqlite3

import orjson
import pytest
import zstandard

from regsync import prepared as prepared_module
from regsync import sync as sync_module
from regsync.bodies import Codec, train
from regsync.client import ApiClient, ClientConfig, read_page
from regsync.errors import BadResponse
from regsync.store import Store, content_hash
from regsync.sync import run_sync
from support.fakeapi import FakeRegistry, mutate, serve, synthesize
from support.procs import HANG_GUARD, popen_regsync, run_regsync, wait_for

# Run again below, every page read by forked readers (the autouse fixture): what these
# modules' tests say of a sync holds whichever process reads its pages.
from test_bad_records import (  # noqa: F401
    test_a_record_that_cannot_be_stored_fails_alone_the_run_is_partial,
    test_malformed_values_are_changes_and_all_thirty_edits_are_stored,
    test_of_two_copies_updated_the_same_day_the_later_in_the_answer_is_kept,
    test_of_two_differing_copies_the_later_updated_is_kept_and_counted_once,
)
from test_portfolio import (  # noqa: F401
    regsync,
    registry,
    server,
    test_alias_in_a_batch_is_stored_under_the_canonical_id_and_the_watchlist_follows,
    test_fixture_records_sync_through_batches_and_stay_whole,
    test_full_refetches_everything,
    test_ids_missing_from_a_batch_are_fetched_one_by_one,
    test_pages_are_processed_as_they_arrive,
    test_watchlist_is_fetched_in_filter_ids_batches_under_the_url_limit,
)

TS0 = "2026-09-04T09:00:06"


@pytest.fixture(autouse=True)
def _every_page_read_beside_the_writer(monkeypatch):
    monkeypatch.setattr(sync_module, "PAGE_READERS_FROM", 2)


@pytest.fixture
def started(monkeypatch) -> list[int]:
    """How many pages were handed to readers (counted in the writer)."""
    counted: list[int] = []
    start = prepared_module.PageReaders.start

    def counting(self, body, content_type, what):
        counted.append(len(self._readers))
        return start(self, body, content_type, what)

    monkeypatch.setattr(prepared_module.PageReaders, "start", counting)
    return counted


def sync_all(db_path, url: str, **kwargs):
    client = ApiClient(ClientConfig(api_url=url, delay=0), sleep=lambda s: None)
    with Store.open_write(db_path) as store:
        return run_sync(store, client, **kwargs)


def stored(db_path) -> dict:
    """Every stored row that says what was stored, with each version's exact bytes instead
    of its frame (frames name a dictionary trained on a random sample)."""
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        skip = {"id", "fetched_at", "body", "first_seen", "last_checked", "last_changed", "detected_at",
                "added_at", "as_of"}

        def rows(table: str, order: str) -> list[dict]:
            return [{k: r[k] for k in r.keys() if k not in skip}
                    for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]

        out = {
            "studies": rows("studies", "nct_id"),
            "versions": rows("versions", "nct_id, version"),
            "changes": rows("changes", "nct_id, to_version, path, kind, id"),
            "obligations": rows("obligations", "nct_id, version"),
            "watchlist": rows("watchlist", "nct_id"),
        }
        dicts = [r[0] for r in conn.execute("SELECT DISTINCT body FROM versions WHERE body IS NOT NULL")]
    with Store.open_read(db_path) as store:
        out["bytes"] = {(v["nct_id"], v["version"]): store.record_bytes(v["nct_id"], v["version"])
                        for v in out["versions"]}
    # How many frames were made with the trained dictionary, whoever compressed them.
    out["with_dict"] = sum(1 for b in dicts if zstandard.get_frame_parameters(b).dict_id)
    return out


def test_pages_read_beside_the_writer_store_exactly_what_the_writer_stores(tmp_path, monkeypatch, started):
    registry = FakeRegistry(data_timestamp=TS0)
    ids = [registry.add(r) for r in synthesize(2300)]  # five batches: the dictionary is trained on the way
    with serve(registry) as server:
        for name, readers_from in (("inline", 10**9), ("readers", 2)):
            monkeypatch.setattr(sync_module, "PAGE_READERS_FROM", readers_from)
            db = tmp_path / f"{name}.db"
            with Store.open_write(db) as store:
                store.watch_add(ids)
            assert not sync_all(db, server.url).failed
        for nct_id in ids[::50]:
            registry.add(mutate(registry.get(nct_id), "2026-09-05"))
        for name, readers_from in (("inline", 10**9), ("readers", 2)):
            monkeypatch.setattr(sync_module, "PAGE_READERS_FROM", readers_from)
            assert not sync_all(tmp_path / f"{name}.db", server.url, full=True).failed
    inline, readers = stored(tmp_path / "inline.db"), stored(tmp_path / "readers.db")
    assert len(readers["versions"]) == 2300 + 46
    assert len(readers["changes"]) > 46
    assert readers["with_dict"] > 1000
    for key in inline:
        assert readers[key] == inline[key], key
    # Every page of the readers' database was read by two readers (ten pages: two syncs).
    assert started == [2] * 10


def _killed(*args):
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would


def _raising(*args):
    raise MemoryError("no room")


@pytest.mark.parametrize("broken", [_killed, _raising], ids=["reader-killed", "reader-raises"])
def test_a_reader_that_dies_or_fails_costs_only_speed(tmp_path, monkeypatch, broken):
    """Each reader dies at its first page, or fails on every page: the writer reads them."""
    registry = FakeRegistry(data_timestamp=TS0)
    ids = [registry.add(r) for r in synthesize(1200)]
    monkeypatch.setattr(prepared_module, "prepare_page", broken)
    db = tmp_path / "r.db"
    with Store.open_write(db) as store:
        store.watch_add(ids)
    with serve(registry) as server:
        report = sync_all(db, server.url)
    assert not report.failed
    with Store.open_read(db) as store:
        assert all(store.record_bytes(n) == registry.body(n) for n in ids)


# -- PageReaders itself --------------------------------------------------------------------


def body_of(records: list) -> bytes:
    return orjson.dumps({"studies": records, "nextPageToken": "t2", "totalCount": 7})


def test_a_page_read_by_a_reader_gives_ids_aliases_bytes_hash_and_prepared_values():
    records = list(synthesize(3))
    records[1]["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00000042"]
    body = body_of([*records, {"protocolSection": {}}, 5])
    codec = Codec(lambda _: None)
    dict_id, data = train([orjson.dumps(r) for r in synthesize(1200)])
    codec.use_dict(dict_id, data)
    with prepared_module.PageReaders(codec) as readers:
        page = readers.start(body, "application/json", "/studies")()
    assert page.prepared and page.token == "t2" and page.total == 7
    assert [s.nct_id for s in page.studies] == [
        r["protocolSection"]["identificationModule"]["nctId"] for r in records] + [None, None]
    assert page.studies[1].aliases == ["NCT00000042"]
    got = [s.fetched("NCT00000042" if i == 1 else s.nct_id, "u") for i, s in enumerate(page.studies[:3])]
    assert got[1].requested_id == "NCT00000042" and got[0].requested_id == got[0].nct_id
    for record, fetched in zip(records, got):
        assert fetched.raw == orjson.dumps(record)
        assert fetched.record == record
        assert fetched.digest == content_hash(record)
        # Compressed whole with the dictionary the readers were given.
        assert fetched.prepared.keyframe[0] == dict_id


def test_a_reader_is_told_of_a_dictionary_trained_after_it_started():
    codec = Codec(lambda _: None)
    body = body_of(list(synthesize(2)))
    with prepared_module.PageReaders(codec, readers=1) as readers:
        before = readers.start(body, "application/json", "/studies")()
        codec.use_dict(*train([orjson.dumps(r) for r in synthesize(1200)]))
        after = readers.start(body, "application/json", "/studies")()
    assert before.studies[0].fetched("x", "u").prepared.keyframe[0] == 0
    assert after.studies[0].fetched("x", "u").prepared.keyframe[0] == codec.dict_id != 0


@pytest.mark.parametrize("body, content_type", [
    (b"<html><body>Down for maintenance</body></html>", "text/html"),
    (b'{"studies": [{"protocolSection":', "application/json"),
    (b"", "application/json"),
    (b'{"studies": {"not": "a list"}}', "application/json"),
    (b"[1, 2]", "application/json"),
])
def test_a_body_that_is_not_a_page_is_the_same_error_read_anywhere(body, content_type):
    with pytest.raises(BadResponse) as here:
        read_page(body, content_type, "/studies")
    with prepared_module.PageReaders(Codec(lambda _: None)) as readers, pytest.raises(BadResponse) as there:
        readers.start(body, content_type, "/studies")()
    assert str(there.value) == str(here.value)


def test_readers_end_with_close_and_a_dead_one_is_read_around():
    codec = Codec(lambda _: None)
    body = body_of(list(synthesize(2)))
    readers = prepared_module.PageReaders(codec)
    pids = [r.pid for r in readers._readers]
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    pages = [readers.start(body, "application/json", "/studies")() for _ in range(4)]
    assert [p.token for p in pages] == ["t2"] * 4
    assert [p.prepared for p in pages].count(True) >= 2  # the live reader's
    readers.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_without_fork_pages_are_read_in_the_writer(monkeypatch):
    monkeypatch.delattr(os, "fork")
    body = body_of(list(synthesize(2)))
    with prepared_module.PageReaders(Codec(lambda _: None)) as readers:
        page = readers.start(body, "application/json", "/studies")()
    assert not page.prepared and page.studies == orjson.loads(body)["studies"]


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_a_killed_sync_leaves_no_reader_behind_and_the_next_one_stores_everything(tmp_path, fake_api):
    records = list(synthesize(1200))
    registry, server = fake_api(records)
    ids = registry.ids()
    db = tmp_path / "k.db"
    assert run_regsync(db, server.url, "watch", "add", *ids).returncode == 0
    hold = registry.hold("studies")
    proc = popen_regsync(db, server.url, "sync")
    try:
        hold.wait_arrived()
        readers = _children(proc.pid)
        assert len(readers) == prepared_module.READERS
        proc.kill()
    finally:
        proc.communicate(timeout=HANG_GUARD)
        hold.release()
    wait_for(lambda: all(_gone(pid) for pid in readers), what="the readers to end with their writer")
    nxt = run_regsync(db, server.url, "sync")
    assert nxt.returncode == 0, nxt.stderr
    with Store.open_read(db) as store:
        assert all(store.record_bytes(n) == registry.body(n) for n in ids)
