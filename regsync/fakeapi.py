"""A fast, local fake of the ClinicalTrials.gov REST API v2, for tests and benchmarks.

It serves on 127.0.0.1 only, from an in-memory registry, with the behaviour regsync depends
on (as documented for the real API): text/plain errors, 301 for alias IDs, paging with opaque
``nextPageToken``, ``countTotal`` on the first page only, ``fields`` projection that keeps
the nested module layout, and ``/version``. Faults (429/5xx, HTML maintenance pages,
truncated or empty bodies, connection resets, slow answers, the wrong record) can be queued
per endpoint to test the client's failure paths.

Each study is serialised once, when it is added; pages are built by joining the cached
bytes, so the fake is never the bottleneck of a benchmark (tens of thousands of full
records per second on one core).

Interface::

    registry = FakeRegistry(data_timestamp="2026-09-04T09:00:06")
    registry.add(record) -> str                 # nctId; replaces an existing study
    registry.remove(nct_id)                     # KeyError if unknown
    registry.alias(old_id, canonical_id)        # /studies/{old} -> 301; filter.ids old matches
    registry.get(nct_id) -> dict                # a deep copy; KeyError if unknown
    registry.set_query(expr, nct_ids)           # what query.term=expr matches (else nothing)
    registry.data_timestamp = "..."             # served by /version
    registry.fail(target, *faults)              # target: NCT ID, "studies" or "version"
    registry.clear_faults()
    registry.requests: list[RequestLog]         # method, path, query, status, time, target
    registry.count(target=None, status=None) -> int
    registry.requests_for(target) -> list[RequestLog]
    registry.reset_log()
    len(registry), nct_id in registry, registry.ids()

    Fault.status(code, body=None, retry_after=None, content_type="text/plain")
    Fault.html_200() / Fault.truncated() / Fault.empty() / Fault.reset()
    Fault.delay(seconds) / Fault.wrong_record(nct_id)

    with serve(registry, port=0) as server:     # a daemon thread; server.url is the base URL
        requests.get(f"{server.url}/studies/NCT07240987")   # "http://127.0.0.1:PORT/api/v2"

    synthesize(n, fixtures_dir=None, seed=0, *, include_large=False) -> Iterator[dict]
    mutate(record, post_date) -> dict
    load_fixtures(fixtures_dir=None) -> list[dict]

Command line, for manual use (serves until Ctrl-C)::

    python -m regsync.fakeapi --port 8765 [--fixtures DIR] [--synthetic N]

Endpoints (under /api/v2):

- ``GET /version``: ``{"apiVersion": "2.0.5", "dataTimestamp": registry.data_timestamp}``.
- ``GET /studies/{nctId}``: the study (``fields`` projects it); 400/404 as text/plain; an
  alias answers 301 to the canonical study, keeping the query string.
- ``GET /studies``: ``filter.ids`` (comma or pipe separated, aliases match their canonical
  study), ``filter.advanced`` (``AREA[LastUpdatePostDate]RANGE[lo,hi]`` with dates, ``MIN``
  or ``MAX``, several terms joined by ``AND``), ``query.term`` (only expressions set with
  ``set_query``), ``fields``, ``pageSize`` (default 10, above 1000 cut to 1000),
  ``pageToken``, ``countTotal``. ``sort``, ``format`` and ``markupFormat`` are ignored.
  Results come in NCT ID order. Other ``query.*``/``filter.*`` parameters and filter
  expressions the fake does not understand answer 400, so a test cannot pass by accident.
- Anything else: 404 text/plain.

Fault semantics: each request to a target pops the next queued fault; with the queue empty,
the answer is normal. ``truncated`` cuts the normal answer's body in half (status 200,
application/json); ``wrong_record`` answers another study's record (on ``"studies"``, a page
holding only that record); ``reset`` closes the connection with a TCP RST and no answer
(logged with status 0); ``delay`` sleeps, then answers normally.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import collections
import functools
import random
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from regsync.ids import is_nct_id, normalize_nct_id

API_PREFIX = "/api/v2"
API_VERSION = "2.0.5"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

DEFAULT_FIXTURES_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# Small and medium real records; the 1.5 MB NCT02513394 would dominate any average.
SYNTHETIC_BASES = ("NCT07240987", "NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568")
LARGE_BASE = "NCT02513394"

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"

_MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>ClinicalTrials.gov - Scheduled "
    b"Maintenance</title></head>\n<body><h1>ClinicalTrials.gov is undergoing scheduled "
    b"maintenance</h1>\n<p>We apologize for the inconvenience. Please try again later.</p>"
    b"</body></html>\n"
)


# --- faults and the request log ------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build with the classmethods."""

    kind: str
    code: int = 200
    body: bytes = b""
    retry_after: str | None = None
    content_type: str = _TEXT
    seconds: float = 0.0
    nct_id: str | None = None

    @classmethod
    def status(
        cls,
        code: int,
        body: str | None = None,
        retry_after: str | None = None,
        content_type: str = "text/plain",
    ) -> Fault:
        """An error status (429, 500, 502, 503, 504...); body defaults to "503 Service Unavailable"."""
        if body is None:
            body = f"{code} {_reason(code)}"
        return cls("status", code=code, body=body.encode(), retry_after=retry_after,
                   content_type=content_type)

    @classmethod
    def html_200(cls) -> Fault:
        """A maintenance page served as 200 text/html, as some gateways do."""
        return cls("html_200", body=_MAINTENANCE_PAGE, content_type=_HTML)

    @classmethod
    def truncated(cls) -> Fault:
        """200 application/json with the normal body cut in half."""
        return cls("truncated")

    @classmethod
    def empty(cls) -> Fault:
        """200 application/json with an empty body."""
        return cls("empty")

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection (TCP RST) without answering."""
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep, then answer normally: triggers client read timeouts."""
        return cls("delay", seconds=float(seconds))

    @classmethod
    def wrong_record(cls, nct_id: str) -> Fault:
        """200 with another study's record (which must be in the registry when served)."""
        return cls("wrong_record", nct_id=normalize_nct_id(nct_id))


@dataclass(frozen=True)
class RequestLog:
    """One request as received. ``status`` is 0 for a reset connection; ``time`` is
    ``time.time()`` on receipt; ``target`` is what ``fail`` takes (an NCT ID, "studies",
    "version") or None for other paths."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    time: float
    target: str | None = None


# --- the registry --------------------------------------------------------------------------


def _stored(obj: object) -> bytes:
    """``orjson.dumps`` for bytes kept in memory. orjson's result sits in a larger allocation
    than its length; an exact-size copy halves the memory of a 50,000-study registry
    (1.5 GB -> 0.8 GB)."""
    return memoryview(orjson.dumps(obj)).tobytes()


class _Entry:
    """A stored study: its bytes (serialised once) and what the list filters need."""

    __slots__ = ("nct_id", "body", "head", "post_date", "projections")

    def __init__(self, record: dict):
        protocol = record["protocolSection"]
        status = protocol.get("statusModule", {})
        self.nct_id = normalize_nct_id(protocol["identificationModule"]["nctId"])
        self.body = _stored(record)
        # The modules that listings project (NCTId, LastUpdatePostDate, OverallStatus...),
        # kept apart so that a first projection need not parse the whole record.
        self.head = _stored(
            {"protocolSection": {m: protocol[m] for m in _HEAD_MODULES if m in protocol}}
        )
        self.post_date: str | None = status.get("lastUpdatePostDateStruct", {}).get("date")
        self.projections: dict[tuple[str, ...], bytes] = {}

    def projected(self, fields: tuple[str, ...]) -> bytes:
        # Cached per field set: a sync lists the same projection over and over.
        cached = self.projections.get(fields)
        if cached is None:
            source = self.head if _head_suffices(fields) else self.body
            cached = _stored(project(orjson.loads(source), fields) or {})
            self.projections[fields] = cached
        return cached


class FakeRegistry:
    """In-memory registry. Thread-safe. Each study is serialised once (bytes cached) so
    serving is cheap."""

    def __init__(self, data_timestamp: str = "2026-09-04T09:00:06"):
        self.data_timestamp = data_timestamp
        self.requests: list[RequestLog] = []
        self._lock = threading.RLock()
        self._studies: dict[str, _Entry] = {}
        self._order: list[str] | None = []  # sorted NCT IDs; None when it must be rebuilt
        self._aliases: dict[str, str] = {}
        self._queries: dict[str, tuple[str, ...]] = {}
        self._faults: dict[str, collections.deque[Fault]] = {}

    # studies

    def add(self, record: dict) -> str:
        """Store (or replace) a study under protocolSection.identificationModule.nctId."""
        entry = _Entry(record)
        nct_id = entry.nct_id
        with self._lock:
            if nct_id not in self._studies and self._order is not None:
                if not self._order or self._order[-1] < nct_id:
                    self._order.append(nct_id)  # the common case: synthetic IDs ascend
                else:
                    self._order = None
            self._studies[nct_id] = entry
        return nct_id

    def remove(self, nct_id: str) -> None:
        nct_id = normalize_nct_id(nct_id)
        with self._lock:
            del self._studies[nct_id]
            self._order = None

    def get(self, nct_id: str) -> dict:
        """A deep copy of the stored record."""
        return orjson.loads(self._studies[normalize_nct_id(nct_id)].body)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sorted_ids())

    def __len__(self) -> int:
        return len(self._studies)

    def __contains__(self, nct_id: object) -> bool:
        return isinstance(nct_id, str) and is_nct_id(nct_id) and (
            normalize_nct_id(nct_id) in self._studies
        )

    def alias(self, old_id: str, canonical_id: str) -> None:
        """GET /studies/{old} answers 301 to the canonical study; filter.ids old matches it."""
        with self._lock:
            self._aliases[normalize_nct_id(old_id)] = normalize_nct_id(canonical_id)

    def set_query(self, expr: str, nct_ids: Iterable[str]) -> None:
        """What ``query.term=expr`` matches; expressions never set match nothing."""
        with self._lock:
            self._queries[expr.strip()] = tuple(normalize_nct_id(i) for i in nct_ids)

    # faults

    def fail(self, target: str, *faults: Fault) -> None:
        """Queue faults for a target: an NCT ID (/studies/{id}), "studies" or "version"."""
        target = _fault_target(target)
        with self._lock:
            self._faults.setdefault(target, collections.deque()).extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self, target: str | None) -> Fault | None:
        if target is None or not self._faults:
            return None
        with self._lock:
            queue = self._faults.get(target)
            return queue.popleft() if queue else None

    # request log

    def count(self, target: str | None = None, status: int | None = None) -> int:
        """How many requests hit ``target`` (all when None), optionally with ``status``."""
        return len(self.requests_for(target, status))

    def requests_for(self, target: str | None = None, status: int | None = None) -> list[RequestLog]:
        target = None if target is None else _fault_target(target)
        with self._lock:
            return [
                r for r in self.requests
                if (target is None or r.target == target) and (status is None or r.status == status)
            ]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _log(self, entry: RequestLog) -> None:
        with self._lock:
            self.requests.append(entry)

    # queries used by the server

    def _sorted_ids(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self._studies)
        return self._order

    def _page(
        self,
        ids: set[str] | None,
        ranges: list[tuple[str | None, str | None]],
        after: str | None,
        size: int,
        count_total: bool,
    ) -> tuple[list[_Entry], bool, int | None]:
        """One page in NCT ID order after ``after``: (entries, more follow, total or None)."""

        def wanted(entry: _Entry) -> bool:
            return all(_in_range(entry.post_date, lo, hi) for lo, hi in ranges)

        with self._lock:
            studies = self._studies
            if ids is None:
                candidates = self._sorted_ids()
            else:
                candidates = sorted(i for i in {self._aliases.get(i, i) for i in ids} if i in studies)
            start = bisect.bisect_right(candidates, after) if after else 0
            page: list[_Entry] = []
            more = False
            for nct_id in candidates[start:]:
                entry = studies[nct_id]
                if ranges and not wanted(entry):
                    continue
                if len(page) == size:
                    more = True
                    break
                page.append(entry)
            total = None
            if count_total:
                total = sum(1 for i in candidates if wanted(studies[i])) if ranges else len(candidates)
        return page, more, total


def _fault_target(target: str) -> str:
    if target in ("studies", "version"):
        return target
    return normalize_nct_id(target)


def _in_range(value: str | None, lo: str | None, hi: str | None) -> bool:
    if value is None:
        return False
    if lo is not None and value < lo:
        return False
    # An upper bound of lower precision ("2026-01") includes the whole month.
    return hi is None or value[: len(hi)] <= hi


# --- fields projection ---------------------------------------------------------------------

# Piece names (https://clinicaltrials.gov/data-api/about-api/study-data-structure) whose path
# cannot be guessed from the key names. Date pieces keep only the date, as the real API does
# (fields=StartDate gives startDateStruct: {date}). Other names (module and section names,
# plain leaf keys such as OfficialTitle) are matched against the record's keys, ignoring case;
# dotted field paths (protocolSection.statusModule) are taken as they are.
_PS = "protocolSection."
_PIECES = {
    "nctid": _PS + "identificationModule.nctId",
    "nctidalias": _PS + "identificationModule.nctIdAliases",
    "orgstudyid": _PS + "identificationModule.orgStudyIdInfo.id",
    "brieftitle": _PS + "identificationModule.briefTitle",
    "officialtitle": _PS + "identificationModule.officialTitle",
    "acronym": _PS + "identificationModule.acronym",
    "overallstatus": _PS + "statusModule.overallStatus",
    "whystopped": _PS + "statusModule.whyStopped",
    "statusverifieddate": _PS + "statusModule.statusVerifiedDate",
    "lastupdatesubmitdate": _PS + "statusModule.lastUpdateSubmitDate",
    "lastupdatepostdate": _PS + "statusModule.lastUpdatePostDateStruct.date",
    "lastupdatepostdatetype": _PS + "statusModule.lastUpdatePostDateStruct.type",
    "studyfirstpostdate": _PS + "statusModule.studyFirstPostDateStruct.date",
    "resultsfirstpostdate": _PS + "statusModule.resultsFirstPostDateStruct.date",
    "startdate": _PS + "statusModule.startDateStruct.date",
    "primarycompletiondate": _PS + "statusModule.primaryCompletionDateStruct.date",
    "completiondate": _PS + "statusModule.completionDateStruct.date",
    "leadsponsorname": _PS + "sponsorCollaboratorsModule.leadSponsor.name",
    "briefsummary": _PS + "descriptionModule.briefSummary",
    "condition": _PS + "conditionsModule.conditions",
    "keyword": _PS + "conditionsModule.keywords",
    "studytype": _PS + "designModule.studyType",
    "phase": _PS + "designModule.phases",
    "enrollmentcount": _PS + "designModule.enrollmentInfo.count",
    "enrollmenttype": _PS + "designModule.enrollmentInfo.type",
    "interventionname": _PS + "armsInterventionsModule.interventions.name",
    "minimumage": _PS + "eligibilityModule.minimumAge",
    "maximumage": _PS + "eligibilityModule.maximumAge",
    "hasresults": "hasResults",
}


_HEAD_MODULES = ("identificationModule", "statusModule")


@functools.cache
def _head_suffices(fields: tuple[str, ...]) -> bool:
    """Whether every field is a piece inside the modules an _Entry keeps in ``head``."""
    prefixes = tuple(f"{_PS}{m}." for m in _HEAD_MODULES)
    return all(_PIECES.get(name.lower(), "").startswith(prefixes) for name in fields)


def project(record: dict, fields: Iterable[str]) -> dict | None:
    """The record reduced to ``fields`` (piece names or dotted paths), nested layout kept."""
    trie: dict = {}
    for name in fields:
        path = _PIECES.get(name.lower())
        if path is not None or "." in name:
            _trie_add(trie, (path or name).split("."))
        else:
            for found in _find_keys(record, name.lower(), ()):
                _trie_add(trie, found)
    return _project(record, trie) if trie else None


def _trie_add(trie: dict, path: list[str] | tuple[str, ...]) -> None:
    node = trie
    for i, key in enumerate(path):
        if node.get(key) is True:
            return  # an ancestor is already included whole
        if i == len(path) - 1:
            node[key] = True
        else:
            node = node.setdefault(key, {})


def _find_keys(node: object, name: str, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    # Paths never index into lists: a list applies the rest of the path to each element.
    if isinstance(node, list):
        seen: set[tuple[str, ...]] = set()
        for item in node:
            for found in _find_keys(item, name, path):
                if found not in seen:
                    seen.add(found)
                    yield found
    elif isinstance(node, dict):
        for key, value in node.items():
            low = key.lower()
            if low == name:
                yield (*path, key)
            elif low == name + "struct":  # date pieces: StartDate -> startDateStruct.date
                yield (*path, key, "date")
            else:
                yield from _find_keys(value, name, (*path, key))


def _project(node: object, trie: dict | bool) -> object | None:
    if trie is True:
        return node
    if isinstance(node, list):
        items = [p for p in (_project(item, trie) for item in node) if p is not None]
        return items or None
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():  # the record's own key order
            sub = trie.get(key)
            if sub is not None:
                projected = _project(value, sub)
                if projected is not None:
                    out[key] = projected
        return out or None
    return None


# --- the HTTP server -----------------------------------------------------------------------

_ADVANCED_TERM = re.compile(
    r"^\(?\s*AREA\[\s*LastUpdatePostDate\s*\]\s*RANGE\[\s*([^,\]]*?)\s*,\s*([^\]]*?)\s*\]\s*\)?$",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class _BadRequest(Exception):
    """Answered as 400 text/plain with this message."""


def _range_bound(text: str, open_word: str) -> str | None:
    if text.upper() == open_word:
        return None
    if _ISO_DATE.match(text):
        return text
    us = _US_DATE.match(text)
    if us:
        month, day, year = us.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    raise _BadRequest(f"Parameter `filter.advanced`: unsupported date {text!r} (fake API)")


def _parse_advanced(expr: str) -> list[tuple[str | None, str | None]]:
    ranges = []
    for term in re.split(r"\s+AND\s+", expr.strip()):
        match = _ADVANCED_TERM.match(term.strip())
        if not match:
            raise _BadRequest(
                "Parameter `filter.advanced`: the fake API understands only "
                "AREA[LastUpdatePostDate]RANGE[lo,hi] terms joined by AND"
            )
        ranges.append((_range_bound(match.group(1), "MIN"), _range_bound(match.group(2), "MAX")))
    return ranges


def _split_list(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in re.split(r"[,|]", value) if v.strip()]


def _fields_param(query: dict[str, list[str]]) -> tuple[str, ...] | None:
    if "fields" not in query:
        return None
    names = _split_list(query["fields"])
    if not names:
        raise _BadRequest("Parameter `fields` must be non-empty")
    return tuple(sorted(set(names)))


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(b"fake:" + after.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith("fake:") or not is_nct_id(raw[5:]):
        raise _BadRequest("Parameter `pageToken` has incorrect format")
    return raw[5:]


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a requests.Session reuses its connection
    server_version = "regsync-fakeapi"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK would add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request log on the registry replaces the per-request stderr line

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:  # noqa: N802
        received = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # keep the connection usable
        registry = self.server.registry
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        endpoint, target = _route(path)
        fault = registry._next_fault(target)

        if fault is not None and fault.kind == "reset":
            registry._log(RequestLog("GET", path, query, 0, received, target))
            # Linger 0 makes close() send RST instead of FIN: a connection reset mid-request.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)

        answer = self._fault_answer(fault, target) if fault is not None else None
        if answer is None:
            try:
                answer = self._answer(endpoint, target, path, parts.query, query)
            except _BadRequest as exc:
                answer = _Answer(400, str(exc).encode(), _TEXT)
            if fault is not None and fault.kind == "truncated":
                answer = _Answer(200, answer.body[: len(answer.body) // 2])
        registry._log(RequestLog("GET", path, query, answer.status, received, target))
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def _fault_answer(self, fault: Fault, target: str | None) -> _Answer | None:
        if fault.kind in ("status", "html_200"):
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            return _Answer(fault.code, fault.body, fault.content_type, headers)
        if fault.kind == "empty":
            return _Answer(200, b"")
        if fault.kind == "wrong_record":
            body = self.server.registry._studies[fault.nct_id].body
            if target == "studies":
                body = b'{"studies":[' + body + b"]}"
            return _Answer(200, body)
        return None  # delay and truncated change the normal answer

    def _answer(self, endpoint: str, target: str | None, path: str, raw_query: str,
                query: dict[str, list[str]]) -> _Answer:
        registry = self.server.registry
        if endpoint == "version":
            return _Answer(200, orjson.dumps(
                {"apiVersion": API_VERSION, "dataTimestamp": registry.data_timestamp}))
        if endpoint == "studies":
            return self._list(query)
        if endpoint != "study":
            return _Answer(404, f"Not found: {path}".encode(), _TEXT)
        if target is None:
            return _Answer(400, b"Parameter `nctId` has incorrect format", _TEXT)
        canonical = registry._aliases.get(target)
        if canonical is not None:
            location = f"{API_PREFIX}/studies/{canonical}"
            if raw_query:
                location += "?" + raw_query
            return _Answer(301, b"", _TEXT, [("Location", location)])
        entry = registry._studies.get(target)
        if entry is None:
            return _Answer(404, f"NCT number {target} not found".encode(), _TEXT)
        fields = _fields_param(query)
        return _Answer(200, entry.body if fields is None else entry.projected(fields))

    def _list(self, query: dict[str, list[str]]) -> _Answer:
        registry = self.server.registry
        for name in query:
            if name.startswith(("query.", "filter.", "postFilter.")) and name not in (
                "query.term", "filter.ids", "filter.advanced"
            ):
                raise _BadRequest(f"Parameter `{name}` is not supported by the fake API")

        ids: set[str] | None = None
        if "filter.ids" in query:
            raw = _split_list(query["filter.ids"])
            if not all(is_nct_id(i) for i in raw):
                raise _BadRequest("Parameter `filter.ids` has incorrect format")
            ids = {normalize_nct_id(i) for i in raw}
        if "query.term" in query:
            matched: set[str] = set()
            for expr in query["query.term"]:
                matched.update(registry._queries.get(expr.strip(), ()))
            ids = matched if ids is None else ids & matched
        ranges = [r for expr in query.get("filter.advanced", []) for r in _parse_advanced(expr)]

        size_text = query.get("pageSize", ["0"])[-1].strip() or "0"
        if not size_text.isdigit():
            raise _BadRequest("Parameter `pageSize` has incorrect format")
        size = min(int(size_text), MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        token = query.get("pageToken", [""])[-1]
        after = _decode_token(token) if token else None
        count_total = not token and query.get("countTotal", ["false"])[-1].lower() == "true"
        fields = _fields_param(query)

        page, more, total = registry._page(ids, ranges, after, size, count_total)
        parts = [e.body for e in page] if fields is None else [e.projected(fields) for e in page]
        # Built from cached bytes: full records are never re-serialised per request.
        chunks = [b'{"studies":[', b",".join(parts), b"]"]
        if total is not None:
            chunks.append(b',"totalCount":%d' % total)
        if more:
            chunks.append(b',"nextPageToken":"' + _encode_token(page[-1].nct_id).encode() + b'"')
        chunks.append(b"}")
        return _Answer(200, b"".join(chunks))


def _route(path: str) -> tuple[str, str | None]:
    """(endpoint, fault target): "version", "studies", "study" with the normalised NCT ID
    (None when malformed), or "" with None for any other path."""
    if path == API_PREFIX + "/version":
        return "version", "version"
    if path == API_PREFIX + "/studies":
        return "studies", "studies"
    prefix = API_PREFIX + "/studies/"
    if path.startswith(prefix) and path.count("/") == 4:
        nct_id = path[len(prefix):]
        return "study", normalize_nct_id(nct_id) if is_nct_id(nct_id) else None
    return "", None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, registry: FakeRegistry, port: int):
        self.registry = registry
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # clients time out and hang up on purpose in fault tests
        super().handle_error(request, client_address)


class FakeServer:
    """A running fake API; a context manager. ``url`` is the API base URL."""

    def __init__(self, registry: FakeRegistry, port: int = 0):
        self.registry = registry
        self._httpd = _Server(registry, port)
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{API_PREFIX}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fakeapi:{self.port}", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and hang up on open keep-alive connections."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(registry: FakeRegistry, port: int = 0) -> FakeServer:
    """Start serving ``registry`` on 127.0.0.1:port (0: a free port) in a daemon thread."""
    return FakeServer(registry, port)


# --- synthetic data ------------------------------------------------------------------------


def load_fixtures(fixtures_dir: Path | str | None = None) -> list[dict]:
    """The real study records (NCT*.json) in a fixtures directory, in file name order."""
    directory = Path(fixtures_dir) if fixtures_dir is not None else DEFAULT_FIXTURES_DIR
    return [orjson.loads(p.read_bytes()) for p in sorted(directory.glob("NCT*.json"))]


_TITLE_PREFIXES = ("", "", "Pilot: ", "Extension: ", "Long-term Follow-up: ", "Substudy: ")
_FIRST_UPDATE = date(2008, 1, 1)
_LAST_UPDATE = date(2026, 9, 3)


def synthesize(
    n: int,
    fixtures_dir: Path | str | None = None,
    seed: int = 0,
    *,
    include_large: bool = False,
) -> Iterator[dict]:
    """``n`` synthetic studies derived from the real fixtures, deterministic for a seed.

    IDs are NCT10000000, NCT10000001, ... (the same for every seed). Each record is a copy
    of one of the small/medium fixtures (~6-36 KB compact) with its own ID, org study ID,
    brief title, enrollment count and lastUpdatePostDate (between its first posting, or
    2008-01-01, and 2026-09-03).
    ``include_large`` also draws the 1.5 MB NCT02513394, about once per thousand records.
    """
    if not 0 <= n <= 9_999_999:
        raise ValueError("n must be between 0 and 9,999,999")
    directory = Path(fixtures_dir) if fixtures_dir is not None else DEFAULT_FIXTURES_DIR

    def base(nct_id: str) -> tuple[bytes, date]:
        record = orjson.loads((directory / f"{nct_id}.json").read_bytes())
        first = record["protocolSection"]["statusModule"].get("studyFirstPostDateStruct", {})
        try:
            first_posted = max(date.fromisoformat(first.get("date", "")), _FIRST_UPDATE)
        except ValueError:
            first_posted = _FIRST_UPDATE
        return orjson.dumps(record), first_posted

    bases = [base(b) for b in SYNTHETIC_BASES]
    large = base(LARGE_BASE) if include_large else None
    rng = random.Random(seed)
    for i in range(n):
        # A fixed number of draws per record: synthesize(10) is a prefix of synthesize(20).
        pick, large_draw, when, prefix, enrol = (
            rng.randrange(len(bases)), rng.random(), rng.random(),
            rng.randrange(len(_TITLE_PREFIXES)), rng.randrange(-5, 6),
        )
        body, first_posted = large if large and large_draw < 0.001 else bases[pick]
        record = orjson.loads(body)
        protocol = record["protocolSection"]
        ident = protocol["identificationModule"]
        nct_id = f"NCT1{i:07d}"
        ident["nctId"] = nct_id
        ident.pop("nctIdAliases", None)
        ident["orgStudyIdInfo"] = {**ident.get("orgStudyIdInfo", {}), "id": f"SYN-{seed}-{i}"}
        ident["briefTitle"] = f"{_TITLE_PREFIXES[prefix]}{ident.get('briefTitle', 'Study')} (#{i})"
        status = protocol.setdefault("statusModule", {})
        posted = first_posted + timedelta(days=int(when * (_LAST_UPDATE - first_posted).days))
        status["lastUpdatePostDateStruct"] = {"date": posted.isoformat(), "type": "ACTUAL"}
        status["lastUpdateSubmitDate"] = (posted - timedelta(days=i % 4)).isoformat()
        enrollment = protocol.get("designModule", {}).get("enrollmentInfo")
        if enrollment and "count" in enrollment:
            enrollment["count"] = max(0, enrollment["count"] + enrol)
        yield record


def mutate(record: dict, post_date: str) -> dict:
    """A new record with one realistic edit and lastUpdatePostDate set to ``post_date``.

    The edit: enrollment count +1; without an enrollment count, the primary completion (or
    completion) date moves by a month; without either, the brief title changes. The record
    passed in is left untouched.
    """
    new = orjson.loads(orjson.dumps(record))
    protocol = new["protocolSection"]
    status = protocol.setdefault("statusModule", {})
    enrollment = protocol.get("designModule", {}).get("enrollmentInfo")
    completion = status.get("primaryCompletionDateStruct") or status.get("completionDateStruct")
    if enrollment is not None and isinstance(enrollment.get("count"), int):
        enrollment["count"] += 1
    elif completion and completion.get("date"):
        completion["date"] = _next_month(completion["date"])
    else:
        ident = protocol["identificationModule"]
        ident["briefTitle"] = ident.get("briefTitle", "Study") + " (revised)"
    status["lastUpdatePostDateStruct"] = {"date": post_date, "type": "ACTUAL"}
    try:
        status["lastUpdateSubmitDate"] = (date.fromisoformat(post_date) - timedelta(days=1)).isoformat()
    except ValueError:
        status["lastUpdateSubmitDate"] = post_date
    return new


def _next_month(value: str) -> str:
    """"2026-01-31" -> "2026-02-28", "2026-12" -> "2027-01", "2026" -> "2027"."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return str(parts[0] + 1)
    year, month0 = divmod(parts[0] * 12 + parts[1], 12)  # month0: next month, 0-based
    month = month0 + 1
    if len(parts) == 2:
        return f"{year:04d}-{month:02d}"
    following = date(year + month // 12, month % 12 + 1, 1)
    day = min(parts[2], (following - timedelta(days=1)).day)
    return f"{year:04d}-{month:02d}-{day:02d}"


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m regsync.fakeapi",
        description="Serve a fake ClinicalTrials.gov API v2 on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="directory of NCT*.json records to serve (default: tests/fixtures)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also serve N synthetic studies derived from the fixtures")
    args = parser.parse_args(argv)

    registry = FakeRegistry()
    for record in load_fixtures(args.fixtures):
        registry.add(record)
    for record in synthesize(args.synthetic, args.fixtures):
        registry.add(record)
    with serve(registry, args.port) as server:
        print(f"fake ClinicalTrials.gov API: {server.url} ({len(registry)} studies); Ctrl-C stops",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
