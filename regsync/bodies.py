"""The bytes of stored records: compressed, and cut exactly from what the registry sent.

A version's record is kept as the exact bytes the registry sent for it (``regsync show``
prints them back), compressed with zstd (level 3: cheap enough for a first sync of the
whole registry). Three kinds of frame, told apart by the frame itself and by the row:

- a plain frame (no dictionary): records stored before the store had a dictionary;
- a frame with a dictionary trained on the store's own records (its id is in the frame's
  header; the dictionary is kept in the database): a study's first version, and every
  ``KEYFRAME_EVERY``-th of a chain;
- a delta: compressed with an earlier stored version of the same study as its dictionary
  (zstd's raw-content dictionary): a later version that edits a few fields costs little more
  than the edit. The row names its base by row identity (``body_base``, a local version
  number of the same study), never by position in the chain, which a backfill reorders.

Reading a delta decodes its base first: the depth of a chain of deltas is bounded by
``KEYFRAME_EVERY``, so reading one version decodes at most that many frames.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import zstandard

LEVEL = 3
# A delta's base is at most this many deltas deep; the next version is a keyframe instead.
KEYFRAME_EVERY = 16
# The trained dictionary: its size, and how many of the store's records it is trained on.
DICT_SIZE = 112_640
DICT_SAMPLES = 1_000


class Codec:
    """Compresses and decompresses record bodies; one per store (not thread-safe: a store's
    connection is used by one thread). ``load_dict(id)`` gives a trained dictionary's bytes
    from the database when a frame names one this codec has not seen."""

    def __init__(self, load_dict: Callable[[int], bytes | None]):
        self._load_dict = load_dict
        self._plain = zstandard.ZstdCompressor(level=LEVEL)
        self._trained: zstandard.ZstdCompressor | None = None
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        # The trained dictionary in use (0, None: none), for another codec to compress alike.
        self.dict_id: int = 0
        self.dict_data: bytes | None = None

    def use_dict(self, dict_id: int, data: bytes) -> None:
        """Compress self-contained frames with this trained dictionary from now on."""
        trained = zstandard.ZstdCompressionDict(data)
        self._trained = zstandard.ZstdCompressor(level=LEVEL, dict_data=trained)
        self._decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=trained)
        self.dict_id, self.dict_data = dict_id, data

    def pack(self, data: bytes, base: bytes | None = None) -> tuple[bytes, bool]:
        """(frame, whether it is a delta against ``base``): the delta when ``base`` is given
        and the delta is the smaller (a version that rewrites most of the record is stored
        whole, and ends the chain)."""
        whole = (self._trained or self._plain).compress(data)
        if base is None:
            return whole, False
        raw = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        delta = zstandard.ZstdCompressor(level=LEVEL, dict_data=raw, write_dict_id=False).compress(data)
        return (delta, True) if len(delta) < len(whole) else (whole, False)

    def unpack(self, frame: bytes, base: bytes | None = None) -> bytes:
        if base is not None:
            raw = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            return zstandard.ZstdDecompressor(dict_data=raw).decompress(frame)
        dict_id = zstandard.get_frame_parameters(frame).dict_id
        decompressor = self._decompressors.get(dict_id)
        if decompressor is None:
            data = self._load_dict(dict_id)
            if data is None:
                raise ValueError(f"a stored record needs compression dictionary {dict_id}, which is missing")
            decompressor = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(data))
            self._decompressors[dict_id] = decompressor
        return decompressor.decompress(frame)


# The training's segment and d-mer sizes, fixed: searching them (zstd's default) took a
# third of a second of a first sync inside one page's transaction, and chose these on
# registry-like records, whose frames they make no larger than 1% (bench/storage_bench.py).
DICT_SEGMENT = 2_000
DICT_DMER = 8


def train(samples: Sequence[bytes]) -> tuple[int, bytes]:
    """(id, bytes) of a dictionary trained on ``samples`` (records of the store)."""
    trained = zstandard.train_dictionary(DICT_SIZE, list(samples), k=DICT_SEGMENT, d=DICT_DMER, level=LEVEL)
    return trained.dict_id(), trained.as_bytes()


# -- exact bytes of each record of a page ------------------------------------------------------

# A JSON string (escapes included) or a bracket: what matters for finding where a value ends.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SPACE = b" \t\r\n"


def _value_end(body: bytes, start: int) -> int:
    """Where the object or array starting at ``start`` ends (one past its last byte)."""
    depth = 0
    for match in _TOKEN.finditer(body, start):
        token = match.group()
        if token[0] in b"[{":
            depth += 1
        elif token[0] in b"]}":
            depth -= 1
            if depth == 0:
                return match.end()
    raise ValueError("unterminated JSON value")


def _skip(body: bytes, at: int, also: bytes = b"") -> int:
    while at < len(body) and body[at] in _SPACE + also:
        at += 1
    return at


def _array_start(body: bytes, key: bytes) -> int:
    """Where the first item of the array ``key`` of the JSON object ``body`` begins (its
    first byte after the bracket and any space); -1 when the array is not found."""
    at = body.find(key + b":")
    if at < 0:
        at = body.find(key)
        if at < 0:
            return -1
        at = _skip(body, at + len(key))
    else:
        at += len(key)
    at = _skip(body, at, b":")
    if at >= len(body) or body[at] != ord("["):
        return -1
    return _skip(body, at + 1)


def record_spans(body: bytes, records: Sequence[Any], key: bytes = b'"studies"') -> list[bytes | None]:
    """The exact bytes the registry sent for each of ``records``, the parsed items of the
    array ``key`` of the JSON object ``body``; None for one whose bytes cannot be told (it is
    stored as regsync writes it). The registry writes compact JSON, as orjson does: each
    record is first looked for as orjson's own bytes at the running offset, and only where
    they differ (another escaping, another number format) is the span found by scanning."""
    out: list[bytes | None] = [None] * len(records)
    if not records:
        return out
    at = _array_start(body, key)
    if at < 0:
        return out
    for index, record in enumerate(records):
        at = _skip(body, at, b"," if index else b"")
        try:
            dumped = orjson.dumps(record)
        except TypeError:
            dumped = b""
        if dumped and body.startswith(dumped, at):
            out[index] = dumped
            at += len(dumped)
            continue
        if at >= len(body) or body[at] != ord("{"):
            return out  # lost: the rest are stored as regsync writes them
        try:
            end = _value_end(body, at)
            span = body[at:end]
            same = orjson.loads(span) == record
        except (ValueError, RecursionError):  # orjson's JSONDecodeError is a ValueError
            return out
        if same:
            out[index] = span
        at = end
    return out


# How many different first keys the records of a page may have and still be cut quickly.
_FIRST_KEYS = 4


class PageSpans:
    """The exact bytes of each record of one page, cut out when first asked for: a re-sync
    asks only for the records that changed, and serialising every record of every page to
    find where each begins (``record_spans``) was a third of an unchanged ``--full``.

    The registry writes the records of a page compactly, each beginning with the same key:
    every ``,{"<that key>":`` of the body then begins a record, and when there are exactly as
    many as records (less the first) the cut between two of them is known without reading
    what lies between.
    A span is only ever given when its bytes are the record (orjson's bytes, or bytes that
    parse to it); otherwise, and for pages written another way, the whole page's spans are
    found as ``record_spans`` finds them."""

    def __init__(self, body: bytes, records: Sequence[Any], key: bytes = b'"studies"'):
        self._body = body
        self._records = records
        self._key = key
        self._starts: list[int] | None = None
        self._spans: list[bytes | None] | None = None

    def span(self, index: int) -> bytes | None:
        if self._starts is None and self._spans is None:
            self._starts = self._cuts()
            if self._starts is None:
                self._spans = record_spans(self._body, self._records, self._key)
        if self._spans is not None:
            return self._spans[index]
        assert self._starts is not None
        found = self._cut(index, self._starts)
        if found is None:  # the cut was not the record: the careful way, once for the page
            self._spans = record_spans(self._body, self._records, self._key)
            return self._spans[index]
        return found

    def _cuts(self) -> list[int] | None:
        """Where each record begins, when the page is written compactly; else None."""
        records = self._records
        if not records or not all(type(r) is dict and r for r in records):
            return None
        # The first keys of the records (the registry's are all protocolSection; a few kinds).
        firsts = dict.fromkeys(next(iter(r)) for r in records)
        if len(firsts) > _FIRST_KEYS:
            return None
        body = self._body
        at = _array_start(body, self._key)
        if at < 0:
            return None
        starts = [at]
        for first in firsts:
            marker = b",{" + orjson.dumps(first) + b":"
            found = body.find(marker, at)
            while found >= 0:
                starts.append(found + 1)
                if len(starts) > len(records):
                    return None  # a record holds an object beginning so too: not told this way
                found = body.find(marker, found + len(marker))
        starts.sort()
        return starts if len(starts) == len(records) else None

    def _cut(self, index: int, starts: list[int]) -> bytes | None:
        body, record = self._body, self._records[index]
        start = starts[index]
        try:
            dumped = orjson.dumps(record)
        except TypeError:
            dumped = b""
        if index + 1 < len(starts):
            span = body[start:starts[index + 1] - 1]
            if span == dumped:
                return span
        elif dumped and body.startswith(dumped, start):
            return dumped
        else:
            try:
                span = body[start:_value_end(body, start)]
            except (ValueError, RecursionError):
                return None
        try:
            return span if orjson.loads(span) == record else None
        except (ValueError, RecursionError):  # orjson's JSONDecodeError is a ValueError
            return None
