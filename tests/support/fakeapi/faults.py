"""Scripted misbehaviour (Fault), requests held until the test lets them go (Hold), and the
log of what the fake received (RequestLog)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus

from regsync.ids import normalize_nct_id

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"

MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>ClinicalTrials.gov - Scheduled "
    b"Maintenance</title></head>\n<body><h1>ClinicalTrials.gov is undergoing scheduled "
    b"maintenance</h1>\n<p>We apologize for the inconvenience. Please try again later.</p>"
    b"</body></html>\n"
)

# How long a test waits for a request to arrive before it fails instead of hanging. A guard
# against a hang, never a performance budget: a loaded machine only makes waits longer.
HANG_GUARD = 60.0


class Hold:
    """Requests that get no answer until the test calls ``release()``.

    A held request blocks its server thread, so the client sees a server that is slow for as
    long as the test wants (a client read timeout fires on its own clock). Once released,
    every held request, and any later one that reaches this hold, is answered normally.
    Made by ``FakeRegistry.hold(target)`` or queued with ``Fault.hold(hold)``; a stopped
    server releases its registry's holds, so a failing test cannot leave a thread blocked.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._arrived = 0
        self._released = False

    @property
    def arrived(self) -> int:
        """How many requests have reached this hold so far."""
        with self._cond:
            return self._arrived

    @property
    def released(self) -> bool:
        with self._cond:
            return self._released

    def wait_arrived(self, n: int = 1, timeout: float = HANG_GUARD) -> None:
        """Block until ``n`` requests are being held (or were); AssertionError after
        ``timeout`` seconds, which only guards against a hang."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._arrived >= n, timeout):
                raise AssertionError(f"{self._arrived} of {n} held requests arrived in {timeout:g} s")

    def release(self) -> None:
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def block(self) -> None:
        """Called by the server for a request that drew this hold."""
        with self._cond:
            self._arrived += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._released)


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build with the classmethods."""

    kind: str
    code: int = 200
    body: bytes = b""
    retry_after: str | None = None
    content_type: str = TEXT
    nct_id: str | None = None
    held_by: Hold | None = None

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
            body = f"{code} {reason(code)}"
        return cls("status", code=code, body=body.encode(), retry_after=retry_after,
                   content_type=content_type)

    @classmethod
    def html_200(cls) -> Fault:
        """A maintenance page served as 200 text/html, as some gateways do."""
        return cls("html_200", body=MAINTENANCE_PAGE, content_type=HTML)

    @classmethod
    def truncated(cls) -> Fault:
        """200 application/json with the normal body cut in half."""
        return cls("truncated")

    @classmethod
    def cut(cls) -> Fault:
        """The normal answer's headers (its full Content-Length), half its body, then the
        connection closed: a download interrupted mid-way."""
        return cls("cut")

    @classmethod
    def empty(cls) -> Fault:
        """200 application/json with an empty body."""
        return cls("empty")

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection (TCP RST) without answering."""
        return cls("reset")

    @classmethod
    def hold(cls, hold: Hold) -> Fault:
        """No answer until ``hold.release()``, then the normal one: a slow server (client
        read timeouts), or a run the test keeps in flight for as long as it needs."""
        return cls("hold", held_by=hold)

    @classmethod
    def wrong_record(cls, nct_id: str) -> Fault:
        """200 with another study's record (which must be in the registry when served)."""
        return cls("wrong_record", nct_id=normalize_nct_id(nct_id))


@dataclass(frozen=True)
class RequestLog:
    """One request, logged once answered. ``status`` is 0 for a reset connection; ``time``
    is ``time.time()`` on receipt; ``target`` is what ``fail`` takes (an NCT ID, "studies",
    "version") or None for other paths."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    time: float
    target: str | None = None


def reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"
