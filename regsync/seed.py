"""Seeding the store from the registry's bulk download (``regsync seed``, issue 23).

The download is a zip of one JSON file per study, each the record ``/studies/{nctId}``
answers. ``run_seed`` stores it in one streaming pass, through the sync's own write path: a
batch of records is one ``Store.save_page`` (new, changed or unchanged by the content hash,
as a sync decides), its changed studies placed in their chains and judged (``sync.place``),
and the seed's progress (the archive's identity and the members done) advanced, all in one
transaction. So a seed killed at any point continues at the first member it had not
committed; seeding the same archive again stores nothing; a newer archive stores exactly the
studies whose content changed, with their changes, as a full sync would.

Three processes: two readers (forked) stream the archive (regsync.bulkzip), each its own
batches in turn, and inflate, parse, check and hash each member and work out all
``Store.save_page`` derives from a record (``store.prepare``: the summary and clear columns,
the results obligation); they hand the writer each record's bytes, hash and those values,
and the writer only compresses and inserts them (it never parses a record: handing over
bytes and a few values is much cheaper than handing over parsed records, and parsing is
most of a member's cost). Two readers because reading is the larger half of the work. Each
reader is at most one batch ahead (the pipe to it holds one), so memory stays bounded
whatever the archive's size.

A member that is not a study record (a directory, a name that is not NCTnnnnnnnn.json, JSON
that does not parse, not an object, no nctId or another study's) costs only itself: it is
told as one line (``on_skip``), recorded in the ledger and counted. The library never prints.
"""

from __future__ import annotations

import gc
import os
import pickle
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Pipe
from typing import TYPE_CHECKING, Any

import orjson

from regsync import bulkzip, judge, sentinel
from regsync.client import MAX_RECORD_BYTES, record_nct_id
from regsync.errors import BadArchive, RegsyncError
from regsync.model import RunOutcome, StudyStatus
from regsync.prepared import PreparedRecord, keep_only
from regsync.store import Prepared, SaveResult, Store, content_hash, prepare, utcnow
from regsync.sync import StudyOutcome, outcome_of, place

if TYPE_CHECKING:
    from regsync.bodies import Codec

# A batch: one transaction, one hand-over from the reader. Large enough that a commit's
# fixed cost vanishes, small enough that a batch of parsed records stays in tens of MB.
BATCH_MEMBERS = 500
BATCH_BYTES = 32 * 2**20  # of members' sizes as the zip's directory gives them
READERS = 2

_MEMBER_NAME = re.compile(r"(?:.*/)?(NCT\d{8})\.json")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Archive:
    """A bulk download to seed from: the file, the name the summary gives it, where its
    versions say they came from, and the registry data's date (a dataTimestamp)."""

    path: str
    name: str
    source: str
    data_timestamp: str | None


@dataclass(frozen=True)
class Skipped:
    """A member that is not a study record."""

    index: int
    name: str
    why: str

    def line(self) -> str:
        return f"member {self.name!r} skipped: {self.why}"


def _no_counts() -> dict[str, int]:
    return {"new": 0, "changed": 0, "unchanged": 0, "skipped": 0, "error": 0, "older": 0}


@dataclass(frozen=True)
class SeedReport:
    """How a seed went. ``counts`` are the whole seed's (this run and the runs it continues):
    new, changed, unchanged, skipped (members), error (records the store refused), older
    (records posted before the version already stored: an older file never rolls a study back)."""

    run_id: int
    outcome: RunOutcome
    archive: Archive
    members: int
    counts: dict[str, int] = field(default_factory=_no_counts)
    resumed_at: int = 0  # members an earlier, interrupted run had stored
    seeded_before: int | None = None  # the run that seeded this very archive completely, if any
    # Structural changes the registry made across the file's records (regsync.sentinel)
    registry_changes: list[sentinel.Finding] = field(default_factory=list)

    @property
    def studies(self) -> int:
        return sum(self.counts[k] for k in ("new", "changed", "unchanged"))

    def summary(self) -> str:
        """The one line a seed ends with."""
        a = self.archive
        dated = f" ({a.data_timestamp[:10]})" if a.data_timestamp else ""
        if self.seeded_before is not None:
            return (f"nothing to do: {a.name}{dated} was seeded completely by run {self.seeded_before}; "
                    "`regsync sync` keeps the studies current")
        c = self.counts
        line = (f"seeded {_count(self.studies, 'study', 'studies')} from {a.name}{dated}: {c['new']:,} new, "
                f"{c['changed']:,} changed, {c['unchanged']:,} unchanged, "
                f"{_count(c['skipped'], 'member', 'members')} skipped")
        if c["older"]:
            line += f", {c['older']:,} older than the version stored (kept as stored)"
        if c["error"]:
            line += f", {_count(c['error'], 'record', 'records')} not stored"
        if self.resumed_at:
            line += f" (continued after member {self.resumed_at:,} of {self.members:,})"
        return line


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


OnSkip = Callable[[Skipped], None]
OnProgress = Callable[[int, int], None]  # (members done, members in the archive)
OnOutcome = Callable[[StudyOutcome], None]


def _dated(archive: Archive, survey: bulkzip.Survey) -> Archive:
    """The archive with the registry data's date, when it was not given (``--download``
    gives the API's dataTimestamp): its newest member's time (the registry writes the members
    when it builds the file), else the file's own modification time."""
    if archive.data_timestamp is not None:
        return archive
    when = survey.newest or datetime.fromtimestamp(os.stat(archive.path).st_mtime, UTC)
    return replace(archive, data_timestamp=when.strftime("%Y-%m-%dT%H:%M:%S"))


# -- the reader -----------------------------------------------------------------------------

# What the reader hands over per member: (index, name, raw bytes, content hash, nct_id, why
# skipped, prepared). hash and nct_id are None for a skipped member, why is None for a
# record; prepared is None for a record save_page must look at itself (store.prepare raised).
# raw is None when prepared holds the record compressed (a quarter of the bytes to hand over).
_Item = tuple[int, str, bytes | None, str | None, str | None, str | None, Prepared | None]


def _skipped(index: int, name: str, why: str) -> _Item:
    return (index, name, None, None, None, why, None)


def _prepare(f: Any, member: bulkzip.Member, when: str, codec: Codec | None) -> _Item:
    index, name = member.number, member.name
    if member.is_dir:
        return _skipped(index, name, "a directory, not a study record")
    match = _MEMBER_NAME.fullmatch(name)
    if match is None:
        return _skipped(index, name, "not a study record's name (NCTnnnnnnnn.json)")
    try:
        raw = bulkzip.read(f, member, limit=MAX_RECORD_BYTES)
    except bulkzip.BadMember as exc:
        return _skipped(index, name, str(exc))
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _skipped(index, name, f"not JSON ({exc})")
    if not isinstance(record, dict):
        return _skipped(index, name, "JSON that is not a study record (not an object)")
    nct_id = record_nct_id(record)
    if nct_id is None:
        return _skipped(index, name, "a record without protocolSection.identificationModule.nctId")
    if nct_id != match.group(1):
        return _skipped(index, name, f"it holds the record of {nct_id}")
    try:
        digest = content_hash(record)
    except (TypeError, ValueError, RecursionError) as exc:
        return _skipped(index, name, f"a record that cannot be hashed ({type(exc).__name__})")
    try:
        prepared: Prepared | None = prepare(record, when, judge.obligation_columns, raw, codec)
    except Exception:  # noqa: BLE001 - save_page works it out from the record, and says what is wrong
        prepared = None
    if prepared is not None and prepared.keyframe is not None:
        return (index, name, None, digest, nct_id, None, prepared)
    return (index, name, raw, digest, nct_id, None, prepared)


def _batches(
    path: str, start: int, part: int = 0, parts: int = 1, codec: Callable[[], Codec | None] = lambda: None
) -> Iterator[list[_Item]]:
    """The archive's members from ``start`` on, prepared, a batch at a time: of the batches,
    those numbered ``part`` modulo ``parts`` (the batches are cut alike in every reader).
    Records are compressed whole with ``codec()`` as a batch begins (none: not compressed)."""
    with open(path, "rb") as f, open(path, "rb") as data:
        batch: list[bulkzip.Member] = []
        size = number = 0
        for member in bulkzip.members(f, bulkzip.directory(f)):
            if member.number < start:
                continue
            batch.append(member)
            size += member.size
            if len(batch) >= BATCH_MEMBERS or size >= BATCH_BYTES:
                if number % parts == part:
                    when, packer = utcnow(), codec()
                    yield [_prepare(data, m, when, packer) for m in batch]
                batch, size, number = [], 0, number + 1
        if batch and number % parts == part:
            when, packer = utcnow(), codec()
            yield [_prepare(data, m, when, packer) for m in batch]


def _reader(
    path: str, start: int, part: int, parts: int, conn: Connection, told: Connection, known: tuple[int, bytes] | None
) -> None:
    """The reader process: batches down the pipe, then an empty message; a failure as
    ("error", message). The writer's end closing (the writer killed) ends it. Records are
    compressed with the store's dictionary: ``known`` when it starts, then any the writer
    tells of on ``told`` once the store has trained one."""
    from regsync.bodies import Codec

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    gc.disable()  # records are trees (no cycles): freed as they go, never scanned
    codec = Codec(lambda _: None)
    if known is not None:
        codec.use_dict(*known)

    def current() -> Codec:
        while told.poll():
            codec.use_dict(*pickle.loads(told.recv_bytes()))
        return codec

    try:
        for batch in _batches(path, start, part, parts, current):
            conn.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        conn.send_bytes(b"")
    except (BrokenPipeError, ConnectionResetError):
        pass
    except BaseException as exc:  # noqa: BLE001 - told to the writer, which says it as one line
        try:
            conn.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
        except OSError:
            pass


class _ReaderProcess:
    """``_batches`` in ``READERS`` forked processes, batches taken from each in turn (where
    fork exists; else in this one), compressed with ``store``'s dictionary (``tell`` the
    readers of a new one)."""

    def __init__(self, path: str, start: int, store: Store):
        self._readers: list[tuple[int, Connection, Connection]] = []
        self._local: Iterator[list[_Item]] | None = None
        self._told = store.codec.dict_id
        if not hasattr(os, "fork"):
            self._local = _batches(path, start, codec=lambda: store.codec)
            return
        known = (store.codec.dict_id, store.codec.dict_data) if store.codec.dict_data is not None else None
        for part in range(READERS):
            receive, send = Pipe(duplex=False)
            told, tell = Pipe(duplex=False)
            pid = os.fork()
            if pid == 0:  # a reader: never returns
                try:
                    keep_only(send, told)
                    _reader(path, start, part, READERS, send, told, known)
                finally:
                    os._exit(0)
            send.close()
            told.close()
            self._readers.append((pid, receive, tell))

    def tell(self, codec: Codec) -> None:
        """The store's dictionary, to the readers when it is a new one. From a thread: a
        reader reads it only as it begins a batch, and may be waiting to hand one over."""
        if codec.dict_id == self._told or codec.dict_data is None:
            return
        self._told = codec.dict_id
        message = pickle.dumps((codec.dict_id, codec.dict_data))
        for _, _, tell in self._readers:
            threading.Thread(target=_send_quietly, args=(tell, message), daemon=True).start()

    def __iter__(self) -> Iterator[list[_Item]]:
        if self._local is not None:
            yield from self._local
            return
        turn = 0
        while True:
            try:
                message = self._readers[turn % len(self._readers)][1].recv_bytes()
            except EOFError:
                raise BadArchive("the reader of the archive stopped unexpectedly; nothing more stored") from None
            if not message:
                return
            batch = pickle.loads(message)
            if isinstance(batch, tuple):
                raise BadArchive(f"the archive could not be read ({batch[1]}); what was stored is kept")
            yield batch
            turn += 1

    def close(self) -> None:
        for pid, conn, tell in self._readers:
            conn.close()
            tell.close()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        self._readers = []


def _send_quietly(conn: Connection, message: bytes) -> None:
    try:
        conn.send_bytes(message)
    except OSError:  # the reader has ended
        pass


# -- the writer -----------------------------------------------------------------------------


def run_seed(
    store: Store,
    archive: Archive,
    *,
    on_skip: OnSkip | None = None,
    on_outcome: OnOutcome | None = None,
    on_progress: OnProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SeedReport:
    """Seed ``store`` (open for writing) from ``archive``; return the report.

    BadArchive, before anything is stored, when the file is not a complete zip. A run is
    recorded in the ledger ("seed"); when every member is read it is complete with the
    archive's date as its dataTimestamp, so the next ``regsync sync`` goes incremental from
    that date. ``on_outcome`` hears of each changed study once its batch is committed (a
    first seed has none: new studies are only counted), ``on_skip`` of each member skipped.
    """
    try:
        survey = bulkzip.survey(archive.path)
    except bulkzip.BadZip as exc:
        raise BadArchive(f"{archive.name} is not a complete zip file ({exc}); nothing stored") from None
    except OSError as exc:
        raise BadArchive(f"{archive.name} cannot be read ({exc.strerror or exc}); nothing stored") from None
    archive, zip_id, count = _dated(archive, survey), survey.identity, survey.count
    started = clock()
    run_id = store.begin_run("seed", "seed")
    judge.settle_pending(store)
    progress = store.seed_progress(zip_id)
    if progress is not None and progress["finished_run"] is not None:
        report = SeedReport(run_id, RunOutcome.NOTHING_TO_DO, archive, count, _counts(progress),
                            seeded_before=int(progress["finished_run"]))
        store.finish_run(run_id, RunOutcome.NOTHING_TO_DO, mode="seed", duration=clock() - started)
        return report
    store.seed_begin(zip_id, archive.name, archive.data_timestamp, count, run_id)
    progress = store.seed_progress(zip_id)
    assert progress is not None
    resumed_at = int(progress["done"])
    done = resumed_at
    this_run = _no_counts()
    reader = _ReaderProcess(archive.path, resumed_at, store)

    def unpack(frame: bytes) -> bytes:
        return store.codec.unpack(frame)

    # Changed studies are told once the whole file is stored and judged: a structural change
    # the registry made across its records (regsync.sentinel) is found over all of them first.
    held: list[SaveResult] = []
    gc_was = gc.isenabled()
    gc.disable()  # a batch is hundreds of parsed records: collections would scan them all, for nothing
    try:
        if on_progress:
            on_progress(done, count)
        for batch in reader:
            counts = _no_counts()
            told: list[SaveResult] = []
            records: list[PreparedRecord] = []
            skipped: list[Skipped] = []
            for index, name, raw, digest, nct_id, why, prepared in batch:
                if why is not None or digest is None or nct_id is None:
                    skipped.append(Skipped(index, name, why or "unreadable"))
                    continue
                records.append(PreparedRecord(nct_id, archive.source, raw, digest, prepared, unpack))
            done = batch[-1][0] + 1
            records, counts["older"] = _not_older(store, records)
            with store.transaction():  # the batch, its judgement and the seed's progress
                results = store.save_page(records, data_timestamp=archive.data_timestamp, run_id=run_id,
                                          obligation=judge.obligation_columns)
                for result in results:
                    if result.status is StudyStatus.CHANGED:
                        place(store, result, run_id)
                        told.append(result)
                    elif result.status is StudyStatus.ERROR:
                        store.record_error(run_id, result.nct_id, f"{result.nct_id}: {result.error}")
                        told.append(result)
                    counts[result.status.value] += 1
                for skip in skipped:
                    store.record_error(run_id, None, skip.line())
                counts["skipped"] = len(skipped)
                store.seed_advance(zip_id, done, counts,
                                   finished_run=run_id if done >= count else None)
            del records, results
            reader.tell(store.codec)
            for key, value in counts.items():
                this_run[key] += value
            for skip in skipped:
                if on_skip:
                    on_skip(skip)
            for result in told:
                if result.status is StudyStatus.CHANGED:
                    held.append(result)
                elif on_outcome:
                    on_outcome(StudyOutcome(result.nct_id, result.status, result.version, error=result.error))
            if on_progress:
                on_progress(done, count)
        with store.transaction():  # (an archive of no members has no batch to say so)
            store.seed_advance(zip_id, count, _no_counts(), finished_run=run_id)
    except RegsyncError as exc:
        reader.close()
        store.record_error(run_id, None, str(exc))
        store.finish_run(run_id, RunOutcome.FAILED, mode="seed", counts=this_run, duration=clock() - started)
        raise
    except BaseException:
        reader.close()
        store.finish_run(run_id, RunOutcome.INTERRUPTED, mode="seed", counts=this_run,
                         duration=clock() - started)
        raise
    finally:
        if gc_was:
            gc.enable()
    reader.close()
    fetched = this_run["new"] + this_run["changed"] + this_run["unchanged"]
    found = judge.registry_sentinel(store, run_id, [r.nct_id for r in held], fetched)
    for result in held:
        if on_outcome:
            on_outcome(outcome_of(store, result))
    final = store.seed_progress(zip_id)
    assert final is not None
    # A record the store refused is a study not stored: partial, as a sync's failed study. A
    # member that is no study record names nothing a run could retry (see README "Seeding").
    outcome = RunOutcome.PARTIAL if this_run["error"] else RunOutcome.OK
    store.finish_run(run_id, outcome, mode="seed", complete=outcome is RunOutcome.OK,
                     data_timestamp=archive.data_timestamp, counts=this_run, duration=clock() - started)
    return SeedReport(run_id, outcome, archive, count, _counts(final), resumed_at=resumed_at,
                      registry_changes=found)


def _not_older(store: Store, records: list[PreparedRecord]) -> tuple[list[PreparedRecord], int]:
    """``records`` without those posted before the version stored of their study, and how many
    those were: a file older than what a sync (or a newer file) stored must not make an older
    record the study's current version. Dates are ISO (YYYY-MM-DD), compared as text."""
    stored = store.posted_dates([r.nct_id for r in records])
    if not stored:
        return records, 0
    kept = []
    for r in records:
        posted = r.posted
        if posted is not None and r.nct_id in stored and posted < stored[r.nct_id]:
            continue
        kept.append(r)
    return kept, len(records) - len(kept)


def _counts(progress: dict[str, Any]) -> dict[str, int]:
    return {"new": int(progress["new_studies"]), "changed": int(progress["changed"]),
            "unchanged": int(progress["unchanged"]), "skipped": int(progress["skipped"]),
            "error": int(progress["errors"]), "older": int(progress["older"])}
