"""Records read and prepared beside the writer: a sync's pages, a seed's members.

What a record costs once it has arrived is mostly not storing it: it is parsing it, its
content hash, its results obligation and compressing it. A sync of many studies hands each
page's body, as it arrives, to ``PageReaders``: forked processes that parse it and work out,
for each record, its ID and aliases, its exact bytes (``bodies.PageSpans``), its hash and
all ``Store.save_page`` derives from it (``store.prepare``: summary and clear columns, the
obligation, the record compressed whole), while the writer stores the page before. The
writer then receives a few values and a compressed frame per record (``PreparedRecord``)
and parses a record only when something asks for it (a changed study's diff, two copies of
one study in an answer). Handing over bytes and a few values is much cheaper than handing
over parsed records, and parsing is most of a record's cost.

The readers never touch the database, log, or print. A reader that dies (killed, out of
memory) costs nothing but speed: its pages are read in the writer instead. Where fork does
not exist, pages are read in the writer as before.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from typing import Any

import orjson

from regsync import judge
from regsync.bodies import Codec, PageSpans
from regsync.client import ReadPage, read_page, record_aliases, record_nct_id
from regsync.errors import BadResponse, FetchError
from regsync.store import Prepared, content_hash, prepare, summary_fields, utcnow

log = logging.getLogger(__name__)

# Readers of a sync's pages: two, as a seed's, because reading is the larger half of the
# work and each page waits for only one of them.
READERS = 2


class PreparedRecord:
    """A record as ``Store.save_page`` takes it, with its bytes, hash and prepared values
    already known; the record itself is parsed only if something asks for it, and its bytes
    are decompressed from the prepared frame (``unpack``) only if something asks for them.
    ``record`` may be given (a record whose exact bytes could not be told)."""

    __slots__ = ("nct_id", "requested_id", "source", "digest", "prepared", "_raw", "_unpack", "_record")

    def __init__(self, nct_id: str, source: str, raw: bytes | None, digest: str | None,
                 prepared: Prepared | None, unpack: Callable[[bytes], bytes],
                 *, requested_id: str | None = None, record: dict[str, Any] | None = None):
        self.nct_id = nct_id
        self.requested_id = requested_id or nct_id
        self.source, self.digest, self.prepared = source, digest, prepared
        self._raw, self._unpack = raw, unpack
        self._record = record

    @property
    def raw(self) -> bytes | None:
        if self._raw is None and self.prepared is not None and self.prepared.keyframe is not None:
            self._raw = self._unpack(self.prepared.keyframe[1])
        return self._raw

    @property
    def record(self) -> dict[str, Any]:
        if self._record is None:
            raw = self.raw
            assert raw is not None, "a prepared record has its bytes or its record"
            self._record = orjson.loads(raw)
        return self._record

    @property
    def posted(self) -> str | None:
        """lastUpdatePostDateStruct.date, when it is text and not empty."""
        if self.prepared is not None:
            return self.prepared.summary[2] or None
        return summary_fields(self.record)[2] or None


class _Read:
    """A record of a page read by a reader process, before it is matched to the ID asked
    for (``client.ReadStudy``)."""

    __slots__ = ("nct_id", "aliases", "_item", "_unpack")

    def __init__(self, item: tuple[Any, ...], unpack: Callable[[bytes], bytes]):
        self.nct_id: str | None = item[0]
        self.aliases: list[str] = item[1]
        self._item, self._unpack = item, unpack

    def fetched(self, requested_id: str, source: str) -> PreparedRecord:
        nct_id, _, raw, digest, prepared, record = self._item
        return PreparedRecord(nct_id, source, raw, digest, prepared, self._unpack,
                              requested_id=requested_id, record=record)


# -- in the reader process --------------------------------------------------------------------

# (nct_id or None, aliases, raw or None, digest or None, prepared or None, record or None):
# raw is None when prepared holds the record compressed (a quarter of the bytes to hand
# over); record is given only when its exact bytes could not be told.
_Item = tuple[str | None, list[str], bytes | None, str | None, Prepared | None, Any]


def prepare_page(body: bytes, content_type: str, what: str, when: str, codec: Codec | None) -> tuple[Any, ...]:
    """A page's body read and each record prepared: ("ok", nextPageToken, totalCount,
    items), or ("bad", message) for an answer that is not a page of studies."""
    try:
        page = read_page(body, content_type, what)
    except FetchError as exc:
        return ("bad", str(exc))
    spans = PageSpans(body, page.studies)
    items: list[_Item] = []
    for index, record in enumerate(page.studies):
        nct_id = record_nct_id(record) if isinstance(record, dict) else None
        if nct_id is None:
            items.append((None, [], None, None, None, None))
            continue
        raw = spans.span(index)
        try:
            digest: str | None = content_hash(record)
        except (TypeError, ValueError, RecursionError):
            digest = None  # save_page says what is wrong with it
        try:
            prepared: Prepared | None = prepare(record, when, judge.obligation_columns, raw, codec)
        except Exception:  # noqa: BLE001 - save_page works it out from the record, and says what is wrong
            prepared = None
        kept = None if prepared is not None and prepared.keyframe is not None else raw
        items.append((nct_id, record_aliases(record), kept, digest, prepared, record if raw is None else None))
    return ("ok", page.token, page.total, items)


def _serve(inbox: Connection, outbox: Connection, known: tuple[int, bytes] | None) -> None:
    """The reader process: for each (header, body) received, the page prepared sent back
    after the header's number (8 bytes), until the writer's end closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    gc.disable()  # pages are trees (no cycles): freed as they go, never scanned
    codec = Codec(lambda _: None)
    if known is not None:
        codec.use_dict(*known)
    while True:
        try:
            seq, told, content_type, what = pickle.loads(inbox.recv_bytes())
            body = inbox.recv_bytes()
        except (EOFError, OSError):
            return
        if told is not None:
            codec.use_dict(*told)
        try:
            answer = prepare_page(body, content_type, what, utcnow(), codec)
        except BaseException as exc:  # noqa: BLE001 - the writer reads this page itself
            answer = ("failed", f"{type(exc).__name__}: {exc}")
        del body
        try:
            outbox.send_bytes(seq.to_bytes(8, "big") + pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        del answer


def keep_only(*conns: Connection) -> None:
    """In a reader just forked (a sync's or a seed's): close every descriptor but ``conns``
    and the standard three. A reader holds nothing of the writer's (the database, its lock,
    the HTTP connection, the other readers' pipes): a reader still finishing its work cannot
    keep the lock held after its writer was killed, nor a pipe open."""
    keep = sorted(c.fileno() for c in conns)
    start = 3
    for fd in keep:
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)


# -- in the writer ----------------------------------------------------------------------------


class _Reader:
    """One reader process, and the thread in the writer that receives what it sends (so a
    reader never waits to hand a page over, whatever the writer is doing)."""

    def __init__(self, pid: int, send: Connection, receive: Connection):
        self.pid, self._send, self._receive = pid, send, receive
        self.told: int = 0  # the dictionary this reader compresses with
        self._answers: dict[int, bytes] = {}  # by page number, the number's 8 bytes first
        self._ended = False
        self._changed = threading.Condition()
        self._receiving = threading.Thread(target=self._receive_all, name="regsync-page-reader", daemon=True)
        self._receiving.start()

    def _receive_all(self) -> None:
        while True:
            try:
                message = self._receive.recv_bytes()
            except (EOFError, OSError):
                break
            seq = int.from_bytes(message[:8], "big")
            with self._changed:
                self._answers[seq] = message
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def send(self, seq: int, told: tuple[int, bytes] | None, content_type: str, what: str, body: bytes) -> bool:
        try:
            self._send.send_bytes(pickle.dumps((seq, told, content_type, what)))
            self._send.send_bytes(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False
        return True

    def answer(self, seq: int) -> Any | None:
        """The reader's answer for page ``seq``; None when the reader ended without one."""
        with self._changed:
            while seq not in self._answers and not self._ended:
                self._changed.wait()
            message = self._answers.pop(seq, None)
        return None if message is None else pickle.loads(memoryview(message)[8:])

    def end(self) -> None:
        """Kill the reader and reap it; its receiving thread then meets the end of the pipe
        and stops (closing a descriptor a thread still reads could hand its number to
        another file)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        self._receiving.join()
        self._receive.close()

    def close_sending(self) -> None:
        self._send.close()


class PageReaders:
    """A ``client.PageReader``: pages read and prepared in ``READERS`` forked processes,
    each page by the next in turn, its records' bytes decompressed on demand with
    ``codec`` (the store's), whose dictionary the readers compress with (``tell`` them of a
    new one). Close it (or use it as a context manager) to end the processes."""

    def __init__(self, codec: Codec, readers: int = READERS):
        self._codec = codec
        self._readers: list[_Reader] = []
        self._lock = threading.Lock()  # pages are handed over from the prefetch thread too
        self._seq = 0
        if not hasattr(os, "fork"):
            return
        known = (codec.dict_id, codec.dict_data) if codec.dict_data is not None else None
        for _ in range(max(readers, 0)):
            inbox, to_reader = Pipe(duplex=False)  # (receiving end, sending end)
            receive, outbox = Pipe(duplex=False)
            pid = os.fork()
            if pid == 0:  # a reader: never returns
                try:
                    keep_only(inbox, outbox)
                    _serve(inbox, outbox, known)
                finally:
                    os._exit(0)
            inbox.close()
            outbox.close()
            reader = _Reader(pid, to_reader, receive)
            reader.told = codec.dict_id
            self._readers.append(reader)

    def __enter__(self) -> PageReaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, body: bytes, content_type: str, what: str) -> Callable[[], ReadPage]:
        if not self._readers:
            return lambda: read_page(body, content_type, what)
        with self._lock:
            self._seq += 1
            seq = self._seq
            reader = self._readers[seq % len(self._readers)]
            codec = self._codec
            told = None
            if codec.dict_data is not None and codec.dict_id != reader.told:
                told = (codec.dict_id, codec.dict_data)
                reader.told = codec.dict_id
            sent = reader.send(seq, told, content_type, what, body)

        def result() -> ReadPage:
            answer = reader.answer(seq) if sent else None
            if answer is None or answer[0] == "failed":
                if answer is not None:
                    log.debug("a page reader failed (%s); the page is read here", answer[1])
                return read_page(body, content_type, what)
            if answer[0] == "bad":
                raise BadResponse(answer[1])
            _, token, total, items = answer
            unpack = self._codec.unpack
            return ReadPage([_Read(item, unpack) for item in items], token, total, prepared=True)

        return result

    def close(self) -> None:
        for reader in self._readers:
            reader.end()
        with self._lock:  # a page being handed over (from the prefetch thread) fails first
            for reader in self._readers:
                reader.close_sending()
            self._readers = []
