"""The HTTP side of the fake: routing, query parsing, paging, faults, and the server thread."""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from regsync.ids import is_nct_id as _regsync_is_nct_id

# The registry's own pattern (OpenAPI spec), which takes any number of leading zeros
# (NCT007240987); regsync itself refuses more than 8 digits (regsync.ids).
_REGISTRY_ID = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")


def is_nct_id(value: str) -> bool:
    return _REGISTRY_ID.match(value) is not None


def normalize_nct_id(value: str) -> str:
    match = _REGISTRY_ID.match(value)
    assert match is not None
    return f"NCT{int(match.group(1)):08d}"

from .faults import JSON, TEXT, Fault, RequestLog
from .registry import FakeRegistry

API_PREFIX = "/api/v2"
INT_PREFIX = "/api/int"  # the website's own endpoints (version history)
API_VERSION = "2.0.5"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

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
    if not raw.startswith("fake:") or not _regsync_is_nct_id(raw[5:]):
        raise _BadRequest("Parameter `pageToken` has incorrect format")
    return raw[5:]


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = JSON
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
        generation = registry._log_generation
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        endpoint, target = _route(path)
        fault = registry._next_fault(target)

        if fault is not None and fault.kind == "reset":
            registry._log(RequestLog("GET", path, query, 0, received, target), generation)
            # Linger 0 makes close() send RST instead of FIN: a connection reset mid-request.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.held_by is not None:
            fault.held_by.block()

        answer = self._fault_answer(fault, target) if fault is not None else None
        if answer is None and endpoint.startswith("history") and registry.screen_clients and not self.headers.get("sec-ch-ua"):
            answer = _Answer(403, b"<html><body>Access Denied</body></html>", "text/html")
        if answer is None:
            try:
                answer = self._answer(endpoint, target, path, parts.query, query)
            except _BadRequest as exc:
                answer = _Answer(400, str(exc).encode(), TEXT)
            if fault is not None and fault.kind == "truncated":
                answer = _Answer(200, answer.body[: len(answer.body) // 2])
        registry._log(RequestLog("GET", path, query, answer.status, received, target), generation)
        if fault is not None and fault.kind == "cut":
            # The full Content-Length promised, half the body sent, then the connection closed.
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
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
        if fault.kind == "wrong_record" and fault.nct_id is not None:
            body = self.server.registry.body(fault.nct_id)
            if target == "studies":
                body = b'{"studies":[' + body + b"]}"
            return _Answer(200, body)
        return None  # hold and truncated change the normal answer

    def _answer(self, endpoint: str, target: str | None, path: str, raw_query: str,
                query: dict[str, list[str]]) -> _Answer:
        registry = self.server.registry
        if endpoint == "version":
            return _Answer(200, orjson.dumps(
                {"apiVersion": API_VERSION, "dataTimestamp": registry.data_timestamp}))
        if endpoint == "studies":
            return self._list(query)
        if endpoint == "download":
            if query.get("format", [""])[-1] != "json.zip":
                raise _BadRequest("Parameter `format` must be json.zip (fake API)")
            return _Answer(200, registry.download_zip(), "application/zip")
        if endpoint == "history-index":
            return self._history_index(path, query)
        if endpoint == "history-version":
            nct_id, _, number = path[len(INT_PREFIX) + len("/studies/"):].partition("/history/")
            hostile = registry.hostile_version(nct_id, int(number))
            if hostile is not None:
                return _Answer(200, hostile)
            study = registry.history_version(nct_id, int(number))
            if study is None:
                return _Answer(404, b'{"message":"Not found"}')
            return _Answer(200, orjson.dumps({"studyVersion": int(number), "study": study}))
        if endpoint != "study":
            return _Answer(404, f"Not found: {path}".encode(), TEXT)
        if target is None:
            return _Answer(400, b"Parameter `nctId` has incorrect format", TEXT)
        canonical = registry._aliases.get(target)
        if canonical is not None:
            location = f"{API_PREFIX}/studies/{canonical}"
            if raw_query:
                location += "?" + raw_query
            return _Answer(301, b"", TEXT, [("Location", location)])
        entry = registry._studies.get(target)
        if entry is None:
            return _Answer(404, f"NCT number {target} not found".encode(), TEXT)
        fields = _fields_param(query)
        return _Answer(200, entry.body if fields is None else entry.projected(fields))

    def _history_index(self, path: str, query: dict[str, list[str]]) -> _Answer:
        registry = self.server.registry
        nct_id = path[len(INT_PREFIX) + len("/studies/"):]
        entry = registry._studies.get(nct_id)
        index = registry.history_index(nct_id)
        if entry is None and index is None:
            return _Answer(404, b'{"message":"Not found"}')
        body: dict[str, Any] = {"study": orjson.loads(entry.body) if entry is not None else None}
        if query.get("history", [""])[-1] == "true":
            body["history"] = {"changes": index or [], "lastUpdateVersions": {}, "outcomesUpdateCount": 0}
        try:
            return _Answer(200, orjson.dumps(body))
        except TypeError:  # a hostile index (serve_history) with a number past 64 bits
            return _Answer(200, json.dumps(body).encode())

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
        if registry.token_on_full_page and len(page) == size:
            more = True  # as the registry does: a full last page still carries a token
        if registry.listing_cap is not None and "filter.ids" not in query:
            # A listing that stops after listing_cap studies without saying so (as a client
            # reading a page token wrong once did), while totalCount tells the truth.
            listed = 0 if after is None else registry._listed_before(after, ids, ranges)
            page = page[: max(0, registry.listing_cap - listed)]
            more = more and listed + len(page) < registry.listing_cap
        parts = [e.body for e in page] if fields is None else [e.projected(fields) for e in page]
        # Built from cached bytes: full records are never re-serialised per request.
        chunks = [b'{"studies":[', b",".join(parts), b"]"]
        if total is not None:
            chunks.append(b',"totalCount":%d' % total)
        if more:
            chunks.append(b',"nextPageToken":"' + _encode_token(page[-1].nct_id).encode() + b'"')
        chunks.append(b"}")
        return _Answer(200, b"".join(chunks))


_HISTORY_VERSION = re.compile(r"^/api/int/studies/(NCT\d{8})/history/(\d{1,25})$")
_HISTORY_INDEX = re.compile(r"^/api/int/studies/(NCT\d{8})$")


def _route(path: str) -> tuple[str, str | None]:
    """(endpoint, fault target): "version", "studies", "study" with the normalised NCT ID
    (None when malformed), "history-index" / "history-version" (target "history"), or ""
    with None for any other path."""
    if _HISTORY_VERSION.match(path):
        return "history-version", "history"
    if _HISTORY_INDEX.match(path):
        return "history-index", "history"
    if path == API_PREFIX + "/version":
        return "version", "version"
    if path == API_PREFIX + "/studies":
        return "studies", "studies"
    if path == API_PREFIX + "/studies/download":
        return "download", "download"
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

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket],
                     client_address: Any) -> None:
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
        """Stop serving, let held requests go and hang up on open keep-alive connections."""
        self.registry.release_holds()
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
