"""A small hostile registry on 127.0.0.1 (port 0): scripted answers no real registry should
send, for the tests of what regsync does with them (tests/test_hostile.py).

Unscripted, it answers like a minimal API v2: ``/version``; ``/studies/{nctId}`` with the
records it was given (404 otherwise); ``/studies?filter.ids=...`` with those records on one
page; any other ``/studies`` listing with no studies. ``server.on(path, behaviour)`` makes
every request for ``path`` (relative to /api/v2, without the query: "/version",
"/studies", "/studies/NCT07240987") get ``behaviour`` instead. Behaviours are the functions
below (``repeating_token()``, ``trickle()``, ``gzip_bomb(...)``...).

Answers that never end (``trickle``, ``endless_chunked``) stop when the client hangs up or
the server is closed, so a failing test cannot leave a thread writing.
"""

from __future__ import annotations

import base64
import functools
import socket
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from support.fakeapi.faults import MAINTENANCE_PAGE
from support.records import DATA_TS, nct_id_of

API_PREFIX = "/api/v2"

Behaviour = Callable[["_Handler"], None]


class HostileServer:
    """A running hostile registry; a context manager. ``url`` is its API base URL."""

    def __init__(self, records: Iterable[dict] = (), *, data_timestamp: Any = DATA_TS,
                 host: str = "127.0.0.1", auth: tuple[str, str] | None = None):
        self.records = {nct_id_of(r): orjson.dumps(r) for r in records}
        self.data_timestamp = data_timestamp
        self.scripts: dict[str, Behaviour] = {}
        self.requests: list[str] = []  # each request's path and query, as received
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.paths: Counter[str] = Counter()  # requests by path (relative to /api/v2)
        # Basic auth every request must carry (401 otherwise), as a mirror behind it would.
        self.auth = auth
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(self)
        self.port: int = self._httpd.server_address[1]
        self.root = f"http://{host}:{self.port}"
        self.url = self.root + API_PREFIX
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"hostile:{self.port}", daemon=True,
        )
        self._thread.start()

    def on(self, path: str, behaviour: Behaviour) -> HostileServer:
        self.scripts[path] = behaviour
        return self

    def count(self, path: str) -> int:
        with self._lock:
            return self.paths[path]

    def _log(self, raw_path: str, authorization: str | None, path: str) -> None:
        with self._lock:
            self.requests.append(raw_path)
            self.authorizations.append(authorization)
            self.paths[path] += 1

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hostile: HostileServer):
        self.hostile = hostile
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client hung up on a trickle or an endless body: the point
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def hostile(self) -> HostileServer:
        return self.server.hostile

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path[len(API_PREFIX):] if parts.path.startswith(API_PREFIX + "/") else parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.hostile._log(self.path, self.headers.get("Authorization"), path)
        if self.hostile.auth is not None:
            user, password = self.hostile.auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_bytes(401, b"Unauthorized", "text/plain", [("WWW-Authenticate", 'Basic realm="mirror"')])
                return
        behaviour = self.hostile.scripts.get(path)
        if behaviour is not None:
            behaviour(self)
        elif not parts.path.startswith(API_PREFIX + "/"):
            self.send_bytes(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html")
        else:
            self._normal(path)

    def _normal(self, path: str) -> None:
        records = self.hostile.records
        if path == "/version":
            self.send_json({"apiVersion": "2.0.5", "dataTimestamp": self.hostile.data_timestamp})
        elif path == "/studies":
            ids = [i for v in self.query.get("filter.ids", []) for i in v.split(",") if i]
            body = b'{"studies":[' + b",".join(records[i] for i in ids if i in records) + b"]}"
            self.send_bytes(200, body)
        elif path.startswith("/studies/") and path[len("/studies/"):] in records:
            self.send_bytes(200, records[path[len("/studies/"):]])
        else:
            self.send_bytes(404, f"NCT number {path.rsplit('/', 1)[-1]} not found".encode(), "text/plain")

    # -- building blocks for behaviours ------------------------------------------------------

    def send_bytes(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, value: Any, status: int = 200) -> None:
        self.send_bytes(status, orjson.dumps(value))

    def page(self, studies: list[bytes], token: str | None) -> None:
        body = b'{"studies":[' + b",".join(studies) + b"]"
        if token is not None:
            body += b',"nextPageToken":' + orjson.dumps(token)
        self.send_bytes(200, body + b"}")

    def asked_ids(self) -> list[str]:
        return [i for v in self.query.get("filter.ids", []) for i in v.split(",") if i]


# -- behaviours ------------------------------------------------------------------------------


def json_answer(value: Any, status: int = 200) -> Behaviour:
    return lambda h: h.send_json(value, status)


def text_answer(status: int, body: bytes, content_type: str = "text/plain") -> Behaviour:
    return lambda h: h.send_bytes(status, body, content_type)


def html_page() -> Behaviour:
    """200 text/html: a web page (a maintenance page, a site's front page)."""
    return text_answer(200, MAINTENANCE_PAGE, "text/html; charset=utf-8")


def not_found() -> Behaviour:
    return text_answer(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html")


def repeating_token(token: str = "same-token", studies: Iterable[dict] | None = None) -> Behaviour:
    """A page of ``studies`` (by default the records asked for by ``filter.ids``, or none)
    whose ``nextPageToken`` is always ``token``: a listing that never ends."""
    fixed = None if studies is None else [orjson.dumps(s) for s in studies]

    def answer(h: _Handler) -> None:
        records = h.hostile.records
        found = fixed if fixed is not None else [records[i] for i in h.asked_ids() if i in records]
        h.page(found, token)

    return answer


def new_token_every_page() -> Behaviour:
    """An empty page whose ``nextPageToken`` is new every time: a listing that never ends
    without ever repeating itself."""
    counter = iter(range(10**9))
    lock = threading.Lock()

    def answer(h: _Handler) -> None:
        with lock:
            n = next(counter)
        h.page([], f"token-{n}")

    return answer


def trickle(interval: float = 0.05, byte: bytes = b" ") -> Behaviour:
    """200 announcing a gigabyte, then one byte every ``interval`` seconds, for ever (until
    the client hangs up or the server closes): no single read ever times out."""

    def answer(h: _Handler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(10**9))
        h.end_headers()
        h.wfile.flush()
        while not h.hostile.stopping.wait(interval):
            h.wfile.write(byte)
            h.wfile.flush()

    return answer


def trickle_headers(interval: float = 0.05) -> Behaviour:
    """A status line, then a header one byte every ``interval`` seconds, for ever: the
    answer never even starts."""

    def answer(h: _Handler) -> None:
        h.close_connection = True
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        h.wfile.flush()
        while not h.hostile.stopping.wait(interval):
            h.wfile.write(b"a")
            h.wfile.flush()

    return answer


@functools.cache
def _bomb(decoded_size: int, tail: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * 2**20
    parts = [compressor.compress(block) for _ in range(decoded_size // len(block))]
    parts += [compressor.compress(block[: decoded_size % len(block)] + tail), compressor.flush()]
    return b"".join(parts)


def gzip_bomb(decoded_size: int, record: dict | None = None) -> Behaviour:
    """200 ``Content-Encoding: gzip``: a small body that decodes to ``decoded_size`` bytes of
    spaces (valid JSON padding) followed by ``record`` (by default the one asked for): read
    without a cap, it is stored as a success after taking all that memory."""

    def answer(h: _Handler) -> None:
        nct_id = h.path.split("?")[0].rsplit("/", 1)[-1]
        tail = orjson.dumps(record) if record is not None else h.hostile.records.get(nct_id, b"{}")
        h.close_connection = True
        h.send_bytes(200, _bomb(decoded_size, tail), headers=[("Content-Encoding", "gzip")])

    return answer


def endless_chunked(chunk_size: int = 64 * 2**10, total: int | None = None) -> Behaviour:
    """200 ``Transfer-Encoding: chunked``: chunks of spaces for ever (or ``total`` bytes of
    them, then a page with the records asked for), until the client hangs up."""

    def answer(h: _Handler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b" " * chunk_size
        sent = 0
        while not h.hostile.stopping.is_set() and (total is None or sent < total):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        records = h.hostile.records
        body = b'{"studies":[' + b",".join(records[i] for i in h.asked_ids() if i in records) + b"]}"
        h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    return answer


def redirect(location: str, status: int = 301) -> Behaviour:
    """A redirect to ``location`` (absolute, or relative to this server), the query kept."""

    def answer(h: _Handler) -> None:
        query = h.path.partition("?")[2]
        target = location + ("?" + query if query and "?" not in location else "")
        h.send_bytes(status, b"", "text/plain", [("Location", target)])

    return answer


def free_port_refusing() -> int:
    """A port on 127.0.0.1 nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
