"""HTTP client for the ClinicalTrials.gov REST API v2.

Every failure is mapped to a domain error (``regsync.errors``) with a sentence a user can act
on. No click here: the CLI renders what this module raises.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import gc
import io
import logging
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import quote, urlencode, urljoin

import orjson
import requests
import requests.adapters
import requests.structures
import urllib3.connection
import urllib3.connectionpool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import ReadTimeoutError

from regsync import DEFAULT_API_URL, __version__
from regsync.bodies import PageSpans
from regsync.errors import ApiUnavailable, ApiUnreachable, BadResponse, ClientRefused, FetchError, InvalidNctId, NotTheApi, StudyNotFound
from regsync.ids import normalize_nct_id
from regsync.urls import origin, redact_url, split_credentials

if TYPE_CHECKING:
    from regsync.store import Fetched

log = logging.getLogger(__name__)

USER_AGENT = f"regsync/{__version__} (+https://github.com/regsync/regsync; registry change monitor)"

# Text fields come back as CommonMark by default; pinning the format means a server-side
# default change can never make every text field "change" at once.
MARKUP_FORMAT = "markdown"

# Status codes worth retrying: the registry sheds load with 429 at peak hours and its
# front end answers 502/503/504 during deployments; 500 is usually transient there too.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Many servers and proxies cap the request line at 8 KiB; stay well below it.
MAX_URL_LENGTH = 7000
MAX_PAGE_SIZE = 1000

# The most an answer may decode to. A record is a few hundred KB at most (the registry caps
# its text fields), so 16 MB leaves room; a page of 1,000 full records is about 8 MB, so
# 512 MB only stops what no registry page can be (a gzip bomb, an endless chunked body).
MAX_RECORD_BYTES = 16 * 2**20
MAX_PAGE_BYTES = 512 * 2**20

# The registry holds about 600,000 studies: more pages than this of up to 1,000 each cannot
# be one listing, however it is paged.
MAX_PAGES = 1000

# The registry redirects an alias once; a chain longer than this is a loop.
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# One read of the body at most this size: each read returns what has arrived, so the
# request's deadline and the size cap are checked as the answer comes in.
READ_CHUNK = 2**20


@dataclass
class ClientConfig:
    api_url: str = DEFAULT_API_URL
    timeout: float = 30.0  # seconds, per request (connect and read)
    attempts: int = 5  # tries per request, the first included
    max_wait: float = 120.0  # total seconds of back-off per request before giving up
    delay: float = 1.0  # minimum seconds between requests (robots.txt asks Crawl-delay: 1)
    retry_after_cap: float = 60.0  # never sleep longer than this for one Retry-After
    # Most bytes an answer may decode to; None: MAX_RECORD_BYTES / MAX_PAGE_BYTES, as they
    # are when the request is sent.
    max_record_bytes: int | None = None
    max_page_bytes: int | None = None
    # "requests" (Python's TLS) or "curl" (libcurl via curl_cffi, a browser's TLS handshake:
    # the registry's history endpoints answer Python's with HTTP 403).
    transport: str = "requests"


TRANSPORTS = ("requests", "curl")

# The registry's website endpoints (version history): at most 2 requests/s, serial. A peer
# crawled 126,760 trials at this pace with no refusal; 2 in flight drew 429s.
HISTORY_DELAY = 0.5
# The longest real history indexes hold a few hundred versions; at 2 requests/s an index of
# 150,000 would hold the writer lock for a day. Beyond this, the study's index is refused.
MAX_HISTORY_VERSIONS = 5000
# Registry records are about 8 levels deep; a history payload nested far deeper is not a
# record, and the recursive walks over records (normalisation, hashing) must not meet it.
MAX_RECORD_DEPTH = 64


@dataclass(frozen=True)
class FetchedStudy:
    """A study record as the API returned it, with how it was asked for."""

    nct_id: str  # canonical, from the record itself
    requested_id: str
    record: dict[str, Any]
    source: str  # the URL that answered (after redirects)
    given_raw: bytes | None = None  # the exact bytes the registry sent, when at hand
    # Else the page they are cut from, and the record's place in it (see ``raw``).
    page: PageSpans | None = field(default=None, repr=False, compare=False)
    index: int = field(default=0, repr=False, compare=False)

    @property
    def raw(self) -> bytes | None:
        """The exact bytes the registry sent for the record, when known: a record of a list
        page has them cut from the page only when asked (only new versions are stored)."""
        if self.page is not None:
            return self.page.span(self.index)
        return self.given_raw


@dataclass(frozen=True)
class _Answer:
    """What a GET came back with, its body read in full."""

    status: int
    url: str  # after redirects
    headers: Mapping[str, str]
    body: bytes
    redirects: tuple[str, ...] = ()  # the Location of each redirect followed
    # A page's reading, begun by a PageReader as soon as the body arrived (a prefetch's).
    read: Callable[[], ReadPage] | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Page:
    studies: list[Any]  # the parsed records (or, when ``prepared``, ReadStudy items)
    next_page_token: str | None
    url: str  # the URL that answered
    total: int | None = None  # the registry's totalCount (asked with countTotal=true), if it said
    body: bytes = b""  # the answer as sent: each record's exact bytes are cut from it
    prepared: bool = False  # ``studies`` are a PageReader's ReadStudy items, not parsed records


class ReadPage(NamedTuple):
    """A ``GET /studies`` answer read: its records and how the listing goes on."""

    studies: list[Any]  # the records as parsed; or ReadStudy items (a PageReader's)
    token: Any  # nextPageToken as sent (None when absent)
    total: Any  # totalCount as sent
    prepared: bool = False  # the studies are ReadStudy items, not parsed records


class ReadStudy(Protocol):
    """A record of a page a PageReader read elsewhere (regsync.prepared): what matching it
    to the ID asked for needs, and the record as the store takes it."""

    @property
    def nct_id(self) -> str | None: ...  # canonical; None: the record has no usable nctId

    @property
    def aliases(self) -> list[str]: ...

    def fetched(self, requested_id: str, source: str) -> Fetched: ...


class PageReader(Protocol):
    """Reads pages of ``filter.ids`` answers somewhere else than the caller's thread (a
    process beside it): ``start`` begins reading a body and gives back how to wait for the
    result, which raises what ``read_page`` raises."""

    def start(self, body: bytes, content_type: str, what: str) -> Callable[[], ReadPage]: ...


@dataclass
class BatchPage:
    """One page of the answer to a ``filter.ids`` batch (see ``iter_study_batches``)."""

    batch: tuple[str, ...]  # the IDs the batch asked for
    studies: list[Fetched]  # the records on this page, each matched to the ID asked for
    url: str  # the URL that answered
    last: bool  # the batch's last page: ``missing`` is then known
    missing: tuple[str, ...] = ()  # on the last page: IDs of the batch no page answered for
    error: FetchError | None = None  # the batch failed here (after retries); no studies


class ApiClient:
    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config or ClientConfig()
        # Credentials in the URL (a mirror behind basic auth) are sent as such and kept out
        # of every URL built from the base: none printed, logged or stored carries them.
        self.base, credentials = split_credentials(self.config.api_url.rstrip("/"))
        if self.config.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.config.transport!r}; one of {', '.join(TRANSPORTS)}")
        self._curl: _CurlTransport | None = None
        if self.config.transport == "curl":
            self._curl = _CurlTransport(credentials)
        if session is None:
            session = requests.Session()
            # Every read of the socket (status line and headers included, not only the body)
            # then waits no longer than what is left of the request's deadline.
            for prefix in ("http://", "https://"):
                session.mount(prefix, _DeadlineAdapter())
        self.session = session
        if credentials is not None:
            self.session.auth = credentials
        # Only encodings the client decodes itself (under the size cap): requests would also
        # offer br or zstd when their packages happen to be installed.
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        )
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        self.requests = 0  # HTTP requests sent, retries included (a run reports it)
        # One request at a time, also with a prefetch in flight: pacing, retries and the
        # request count stay exactly as without it.
        self._http_lock = threading.Lock()
        self._prefetched: list[tuple[str, _Background]] = []  # in the order they are sent

    # -- public API -------------------------------------------------------------------------

    def get_study(self, nct_id: str) -> FetchedStudy:
        """``GET /studies/{nctId}``; follows a 301 alias to the canonical record."""
        requested = normalize_nct_id(nct_id)
        url = f"{self.base}/studies/{requested}?" + urlencode(
            {"format": "json", "markupFormat": MARKUP_FORMAT}
        )
        response = self._get(url, what=requested, limit=self._record_limit())
        if response.status == 404:
            raise StudyNotFound(requested)
        self._raise_for_status(response, requested)
        record = _parse_json(response, requested)
        if not isinstance(record, dict):
            raise BadResponse(f"{requested}: the registry answered with JSON that is not a study")
        actual = record_nct_id(record)
        if actual is None:
            raise BadResponse(f"{requested}: the registry's answer has no nctId; nothing stored")
        # A 301 means the requested ID is an alias (an old, merged number): the record then
        # carries the canonical ID, which must be the one the redirect pointed at.
        redirected_to = _redirect_target(response)
        if actual != requested and actual != redirected_to and requested not in record_aliases(
            record
        ):
            raise BadResponse(
                f"{requested}: the registry returned the record of {actual} instead; nothing stored"
            )
        return FetchedStudy(actual, requested, record, response.url, response.body)

    def get_version(self) -> dict[str, Any]:
        """``GET /version``: ``{"apiVersion": ..., "dataTimestamp": ...}``.

        An answer that cannot come from the API (404, not JSON, no ``dataTimestamp``) raises
        NotTheApi: with a wrong URL every study would answer 404 and be taken for removed.
        A ``dataTimestamp`` that is not a string is returned as None (unknown): the run
        goes on, it only cannot skip work or go incremental on it.
        """
        response = self._get(f"{self.base}/version", what="/version", limit=self._record_limit())
        if response.status == 404:
            raise self._not_the_api("GET /version answered HTTP 404")
        if response.status == 403 and self.session.auth is None:
            # No credentials to blame: the registry screens clients (by their TLS handshake).
            raise refused("GET /version", self.config.transport)
        if response.status in (401, 403):
            # Every study would fail the same way: one line, not one per study.
            raise NotTheApi(
                f"{self.base} refused the request (GET /version answered HTTP {response.status}); "
                "check the credentials in --api-url; nothing stored"
            )
        self._raise_for_status(response, "/version")
        try:
            data = _parse_json(response, "/version")
        except BadResponse as exc:
            raise self._not_the_api(str(exc).removeprefix("/version: ").removesuffix("; nothing stored")) from None
        if not isinstance(data, dict) or "dataTimestamp" not in data:
            raise self._not_the_api("its /version answer has no dataTimestamp")
        stamp = data["dataTimestamp"]
        if stamp is not None and not isinstance(stamp, str):
            log.warning("/version: dataTimestamp is a %s, not a string; treated as unknown", type(stamp).__name__)
            data = {**data, "dataTimestamp": None}
        return data

    def _not_the_api(self, why: str) -> NotTheApi:
        return NotTheApi(
            f"{self.base} is not the ClinicalTrials.gov API v2 ({why}); check --api-url "
            "(it normally ends in /api/v2); nothing stored"
        )

    def _record_limit(self) -> int:
        return self.config.max_record_bytes or MAX_RECORD_BYTES

    def _page_limit(self) -> int:
        return self.config.max_page_bytes or MAX_PAGE_BYTES

    def iter_pages(
        self, params: dict[str, str], *, page_size: int = MAX_PAGE_SIZE, max_pages: int = MAX_PAGES,
        reader: PageReader | None = None,
    ) -> Iterator[Page]:
        """``GET /studies`` following ``nextPageToken``; one page at a time (streaming), each
        read by ``reader`` (else here: its ``studies`` are the parsed records).

        A listing that would not end (a ``nextPageToken`` sent twice, more than ``max_pages``
        pages) is a BadResponse, raised before the page that shows it is handed over; a 404
        means the URL is not the API's (NotTheApi).
        """
        token: str | None = None
        tokens: set[str] = set()
        pages = 0
        what = "/studies"
        while True:
            url = self._studies_url(params, page_size, token)
            response = self._take_prefetched(url) or self._get(url, what=what, limit=self._page_limit())
            if response.status == 404:
                raise self._not_the_api("GET /studies answered HTTP 404")
            self._raise_for_status(response, what)
            page = _read(response, what, reader)
            pages += 1
            token = page.token or None
            if token is not None and not isinstance(token, str):
                raise BadResponse(f"{what}: the registry's nextPageToken is not a string; stopped")
            if token in tokens:
                raise BadResponse(
                    f"{what}: the registry sent the same nextPageToken again (page {pages}); "
                    "stopped, the listing would never end"
                )
            if token and pages >= max_pages:
                raise BadResponse(
                    f"{what}: the registry's listing goes on past {max_pages} pages; stopped, "
                    "the listing would never end"
                )
            if token:
                tokens.add(token)
            # Handed over without a reference left in this frame: the consumer's is the only
            # one, so the page is freed as soon as it lets go, before the next is downloaded
            # (one page in memory, not two).
            total = page.total
            box = [Page(
                page.studies, token, response.url,
                total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None,
                response.body, page.prepared,
            )]
            del response, page
            yield box.pop()
            if not token:
                return

    def iter_study_batches(
        self, nct_ids: Sequence[str], *, reader: PageReader | None = None, ahead: int = 1
    ) -> Iterator[BatchPage]:
        """The full records of ``nct_ids``, by ``GET /studies?filter.ids=...&pageSize=1000``.

        The IDs go in batches whose URL stays under MAX_URL_LENGTH (``id_batches``), each
        answer followed page by page, so memory does not grow with the list: one page in
        the caller's hands, and the next ``ahead`` batches' first pages downloading in the
        background meanwhile (one request at a time, in order; the socket wait releases the
        GIL), each handed to ``reader`` as it arrives when one is given (it reads and
        prepares them in other processes while the caller stores this one). While a page is
        in the caller's hands, the cyclic garbage collector is paused: a page is about a
        million objects without cycles, and collections traversing it measured as a third of
        an unchanged re-sync; it resumes between pages.

        ``filter.ids`` also matches aliases: a record the batch did not ask for by its own ID
        is matched through its ``nctIdAliases``. What no page answered for (an alias the
        record does not list, a study the registry does not have) is in the batch's last
        page's ``missing``, and a batch that failed after retries yields a page with its
        ``error`` and every unanswered ID missing: ask ``get_study`` for those, which tells a
        404 from an alias.
        """
        batches = list(id_batches(nct_ids, self.base))
        queued = 0  # batches whose first page was asked for ahead
        try:
            for index, batch in enumerate(batches):
                wanted = set(batch)
                seen: set[str] = set()
                # Up to 1,000 IDs at pageSize 1,000: one page, and never more pages than IDs.
                pages = self.iter_pages({"filter.ids": ",".join(batch)}, max_pages=len(batch) + 1, reader=reader)
                while True:
                    with _gc_paused():
                        try:
                            page = next(pages, None)
                        except FetchError as exc:
                            missing = tuple(i for i in batch if i not in seen)
                            yield BatchPage(tuple(batch), [], "", last=True, missing=missing, error=exc)
                            break
                        if page is None:
                            break
                        queued = max(queued, index + 1)
                        while queued < min(len(batches), index + 1 + max(ahead, 1)):
                            self._prefetch({"filter.ids": ",".join(batches[queued])}, reader=reader)
                            queued += 1
                        studies = _matched(page, wanted)
                        seen.update(f.requested_id for f in studies)
                        last = page.next_page_token is None
                        missing = tuple(i for i in batch if i not in seen) if last else ()
                        box = [BatchPage(tuple(batch), studies, page.url, last=last, missing=missing)]
                        del page, studies  # the caller's reference is the only one
                        yield box.pop()
        finally:
            self._drop_prefetched()

    def _prefetch(
        self, params: dict[str, str], *, page_size: int = MAX_PAGE_SIZE, reader: PageReader | None = None
    ) -> None:
        """Start downloading the first page of ``iter_pages(params)`` in the background,
        after those already queued (requests are still sent one at a time, in order), and
        hand it to ``reader`` as it arrives. The next ``iter_pages`` call with the same
        parameters takes it instead of asking again."""
        url = self._studies_url(params, page_size)
        limit = self._page_limit()
        before = self._prefetched[-1][1] if self._prefetched else None

        def fetch() -> _Answer:
            if before is not None:
                before.wait()
            answer = self._get(url, what="/studies", limit=limit)
            if reader is not None and answer.status == 200:
                answer = replace(answer, read=reader.start(
                    answer.body, answer.headers.get("Content-Type", ""), "/studies"))
            return answer

        self._prefetched.append((url, _Background(fetch)))

    def _studies_url(self, params: dict[str, str], page_size: int, token: str | None = None) -> str:
        """The one way a ``GET /studies`` URL is built, so a prefetch matches its page."""
        query = {"format": "json", "markupFormat": MARKUP_FORMAT, **params}
        query["pageSize"] = str(min(page_size, MAX_PAGE_SIZE))
        if token:
            query["pageToken"] = token
        return f"{self.base}/studies?" + _encode(query)

    def _take_prefetched(self, url: str) -> _Answer | None:
        """The prefetched answer for ``url`` (its error re-raised here), or None: the URL
        is then asked for after the prefetches queued before it."""
        for at, (wanted, job) in enumerate(self._prefetched):
            if wanted == url:
                del self._prefetched[at]
                return job.result()
        return None

    def _drop_prefetched(self) -> None:
        """Forget the prefetches nobody took (their threads end on their own; the HTTP lock
        keeps any later request after theirs)."""
        self._prefetched.clear()

    # -- transport ---------------------------------------------------------------------------

    def _pace(self) -> None:
        if self._last_request is not None and self.config.delay > 0:
            wait = self.config.delay - (self._clock() - self._last_request)
            if wait > 0:
                log.debug("pacing: %.3f s before the next request (--delay %g)", wait, self.config.delay)
                self._sleep(wait)

    def _get(self, url: str, *, what: str, limit: int) -> _Answer:
        with self._http_lock:
            return self._get_unlocked(url, what=what, limit=limit)

    def _get_unlocked(self, url: str, *, what: str, limit: int) -> _Answer:
        """GET with bounded retries: attempts and total back-off are both capped.

        Only attempts that reached a server count as requests: a refused connection or an
        unresolvable name sent nothing. When no attempt reached one, ApiUnreachable says so.
        """
        cfg = self.config
        host = origin(url)[1] or "the registry"
        waited = 0.0
        last_problem = "no answer"
        reached = False
        for attempt in range(1, max(cfg.attempts, 1) + 1):
            self._pace()
            started = self._clock()
            self._last_request = started
            log.debug("sending GET %s (attempt %d of %d, timeout %g s)", url, attempt, cfg.attempts, cfg.timeout)
            try:
                answer = self._exchange(url, what=what, limit=limit, deadline=started + cfg.timeout)
            except (requests.Timeout, ReadTimeoutError, _Overdue, _CurlTimeout) as exc:
                connected = _reached_server(exc)
                last_problem = f"no answer within {cfg.timeout:g} s (timeout)" if connected else (
                    f"connection failed to {host} (no answer within {cfg.timeout:g} s)"
                )
                self.requests += connected
                retry_after = None
            except (requests.ConnectionError, Urllib3Error, _CurlConnection) as exc:  # reset, cut mid-body
                connected = _reached_server(exc)
                last_problem = f"connection failed to {host} ({_short(exc)})"
                self.requests += connected
                retry_after = None
            except (requests.RequestException, _CurlFailed) as exc:  # invalid URL...
                raise ApiUnavailable(f"{what}: request failed: {_short(exc)}") from exc
            else:
                connected = True
                self.requests += 1
                status = answer.status
                # INFO: `-v` promises requests, retries and timings.
                log.info(
                    "GET %s -> %s (%d bytes, %.3f s)",
                    url,
                    status,
                    len(answer.body),
                    self._clock() - started,
                )
                if status not in RETRY_STATUSES:
                    return answer
                last_problem = f"HTTP {status}" + (
                    " (rate limited)" if status == 429 else " (server error)"
                )
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            reached = reached or connected
            if attempt >= cfg.attempts:
                break
            pause = backoff(attempt, retry_after, cap=cfg.retry_after_cap)
            if waited + pause > cfg.max_wait:
                log.warning("%s: %s; giving up (retry budget of %g s spent)", what, last_problem, cfg.max_wait)
                break
            log.info("%s: %s; retry %d in %.1f s", what, last_problem, attempt, pause)
            waited += pause
            self._sleep(pause)
        message = f"{what}: {last_problem} after {attempt} attempt{'s' * (attempt > 1)}"
        raise ApiUnavailable(message) if reached else ApiUnreachable(message)

    def _exchange(self, url: str, *, what: str, limit: int, deadline: float) -> _Answer:
        """One attempt: the GET, the redirects it may follow, the body in full.

        Redirects are followed only while they stay on the API's scheme and host (the
        registry's alias redirects do): anything else is a BadResponse naming the target.
        The body is read as it arrives, so the whole exchange ends by ``deadline`` (on the
        client's clock; requests' timeout still bounds the connect and each read) and never
        decodes to more than ``limit`` bytes.
        """
        _deadline.at, _deadline.clock = deadline, self._clock
        try:
            return self._exchange_until_deadline(url, what=what, limit=limit, deadline=deadline)
        finally:
            _deadline.at = None

    def _exchange_until_deadline(self, url: str, *, what: str, limit: int, deadline: float) -> _Answer:
        hops: list[str] = []
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise _Overdue
            if self._curl is not None:
                answer = self._curl.get(
                    current, timeout=min(self.config.timeout, remaining), what=what, limit=limit,
                    deadline=deadline, clock=self._clock,
                )
                location = answer.headers.get("Location")
                if answer.status in REDIRECT_STATUSES and location:
                    target = urljoin(current, location)
                    self._check_redirect(target, what)
                    hops.append(location)
                    current = target
                    continue
                return _Answer(answer.status, redact_url(answer.url), answer.headers, answer.body, tuple(hops))
            response = self.session.get(
                current, timeout=min(self.config.timeout, remaining), allow_redirects=False, stream=True
            )
            done = False
            try:
                location = response.headers.get("Location")
                if response.status_code in REDIRECT_STATUSES and location:
                    target = urljoin(current, location)
                    self._check_redirect(target, what)
                    # Read (a few bytes at most) so the connection can be reused.
                    _read_body(response, what=what, limit=64 * 2**10, deadline=deadline, clock=self._clock)
                    done = True
                    hops.append(location)
                    current = target
                    continue
                body = _read_body(response, what=what, limit=limit, deadline=deadline, clock=self._clock)
                done = True
                return _Answer(
                    response.status_code, redact_url(response.url), response.headers, body, tuple(hops)
                )
            finally:
                if not done:  # the rest of the answer is not wanted: hang up
                    response.close()
        raise BadResponse(f"{what}: more than {MAX_REDIRECTS} redirects in a row; nothing stored")

    def _check_redirect(self, target: str, what: str) -> None:
        scheme, host = origin(target)
        want_scheme, want_host = origin(self.base)
        if host != want_host:
            raise BadResponse(
                f"{what}: the registry redirected to another host ({host or redact_url(target)}); "
                "not followed, nothing stored"
            )
        if scheme != want_scheme:
            raise BadResponse(
                f"{what}: the registry redirected from {want_scheme} to {scheme} ({host}); "
                "not followed, nothing stored"
            )

    @staticmethod
    def _raise_for_status(response: _Answer, what: str) -> None:
        if response.status == 200:
            return
        text = response.text.strip()
        body = text.splitlines()[0][:200] if text else ""
        detail = f": {body}" if body else ""
        if response.status == 400:
            raise BadResponse(f"{what}: the registry rejected the request (HTTP 400{detail})")
        raise ApiUnavailable(f"{what}: unexpected HTTP {response.status}{detail}")


# The deadline of the request this thread is sending (the prefetch thread has its own), read
# by the sockets of _DeadlineAdapter's connections.
_deadline = threading.local()


def _time_left() -> float | None:
    at = getattr(_deadline, "at", None)
    return None if at is None else at - _deadline.clock()


def post_status(
    url: str, body: bytes, *, headers: Mapping[str, str], timeout: float, clock: Callable[[], float] = time.monotonic
) -> int:
    """POST ``body`` and return the answer's status, all of it (connect, status line, headers)
    within ``timeout`` seconds: the deadline sockets the registry's answers are read with, so
    a receiver trickling its headers cannot hold a sync. The body is never read (the status is
    all a webhook's answer says): a trickled or 2 GB body costs nothing, the connection is
    closed. Redirects are not followed. Errors are requests' (OSErrors)."""
    deadline = clock() + timeout
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    _deadline.at, _deadline.clock = deadline, clock
    try:
        response = session.post(url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False,
                                stream=True)
        response.close()
        return response.status_code
    finally:
        _deadline.at = None
        session.close()


class _DeadlineSocket:
    """A connected socket whose reads never wait past the current request's deadline.

    http.client reads the status line and headers with readline, which loops over reads
    that each get the full read timeout: a server sending one byte at a time would hold
    it for ever. Each read here waits at most the smaller of that timeout and the time
    left, and none starts once the deadline has passed.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._timeout = sock.gettimeout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode != "rb":
            return getattr(self._sock, "makefile")(mode, *args, **kwargs)  # noqa: B009 - its overloads
        return io.BufferedReader(_DeadlineReader(self))

    def recv_into(self, buffer: Any) -> int:
        left = _time_left()
        if left is not None:
            if left <= 0:
                raise socket.timeout("the request's deadline has passed")
            self._sock.settimeout(left if self._timeout is None else min(left, self._timeout))
        try:
            return self._sock.recv_into(buffer)
        finally:
            if left is not None:
                self._sock.settimeout(self._timeout)


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)  # type: ignore[assignment]


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)  # type: ignore[assignment]


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _Overdue(Exception):
    """The answer did not arrive in full by the request's deadline (a timeout)."""


class _CurlError(Exception):
    """A libcurl failure in the words the requests transport uses (``connection refused``),
    not curl_cffi's ``Failed to perform, curl: (7) ...``; ``reached``: a server was reached
    (the request counts as sent)."""

    def __init__(self, reason: str, reached: bool):
        super().__init__(reason)
        self.reached = reached

    @classmethod
    def of(cls, exc: Exception) -> _CurlError:
        code = int(getattr(exc, "code", 0) or 0)
        text = str(exc)
        reason, reached = _CURL_REASONS.get(code, ("", True))
        for marker in _MARKERS:
            if marker.lower() in text.lower():
                reason = marker.lower()
        if code == 28 and "connect" in text.lower():
            reached = False  # the connect phase timed out: nothing was sent
        if not reason:
            # Whatever libcurl said, without curl_cffi's prefix and the link to its error list.
            reason = text.removeprefix("Failed to perform, ").split(". See https://curl.se", 1)[0]
            reason = reason.split(") ", 1)[1] if reason.startswith("curl: (") and ") " in reason else reason
            reason = f"{reason} (curl error {code})" if code else reason
        return cls(redact_url(reason), reached)


class _CurlTimeout(_CurlError):
    """libcurl gave up waiting (connect, a read, or the whole transfer)."""


class _CurlConnection(_CurlError):
    """libcurl could not connect, or the connection broke mid-answer."""


# libcurl's error codes (https://curl.se/libcurl/c/libcurl-errors.html) in the words the
# requests transport's errors use, and whether a server was reached.
_CURL_REASONS: dict[int, tuple[str, bool]] = {
    5: ("proxy name not known", False),
    6: ("name or service not known", False),
    7: ("connection refused", False),
    28: ("timed out", True),
    35: ("TLS handshake failed", True),
    52: ("empty answer", True),
    55: ("connection reset", True),
    56: ("connection reset", True),
    60: ("TLS certificate not trusted", True),
}


class _CurlFailed(_CurlError):
    """libcurl refused the request itself (a malformed URL...): retrying cannot help."""


class _CurlTransport:
    """GETs through libcurl (curl_cffi) with a browser's TLS handshake.

    The registry's website endpoints screen clients by their TLS fingerprint: Python's
    ``ssl`` gets HTTP 403 where curl gets 200 (measured 2026-08-30, see README). Only the
    exchange differs: pacing, retries, Retry-After, the deadline, the size cap and the
    redirect check are ApiClient's, as for requests. libcurl's own timeout is the whole
    transfer's, so it bounds what the deadline bounds for requests.
    """

    def __init__(self, credentials: tuple[str, str] | None):
        self._auth = credentials
        self._module: Any = None
        self._session: Any = None

    def _open(self) -> Any:
        # Imported at the first request, not here: a run on the default transport, or a sync
        # whose fill-in has nothing to ask (a first sync), never loads libcurl (about 0.1 s).
        if self._session is None:
            from curl_cffi import requests as curl_requests

            self._module = curl_requests
            self._session = curl_requests.Session(impersonate="chrome")
        return self._session

    def get(
        self, url: str, *, timeout: float, what: str, limit: int, deadline: float, clock: Callable[[], float]
    ) -> _Answer:
        session = self._open()
        errors = self._module.exceptions
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        try:
            response = session.get(
                url, headers=headers, auth=self._auth, timeout=timeout, allow_redirects=False,
                stream=True, accept_encoding="gzip, deflate",
            )
        except errors.Timeout as exc:
            raise _CurlTimeout.of(exc) from exc
        except (errors.ConnectionError, errors.DNSError, errors.SSLError) as exc:
            raise _CurlConnection.of(exc) from exc
        except errors.RequestException as exc:
            raise _CurlFailed.of(exc) from exc
        try:
            parts: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content():
                    size += len(chunk)
                    if size > limit:
                        raise BadResponse(f"{what}: the registry's answer exceeds {_size(limit)}; nothing stored")
                    if clock() > deadline:
                        raise _Overdue
                    parts.append(chunk)
            except errors.Timeout as exc:
                raise _CurlTimeout.of(exc) from exc
            except errors.RequestException as exc:  # cut mid-body, a broken encoding
                error = _CurlConnection.of(exc)
                error.reached = True  # the answer had begun
                raise error from exc
            # Retry-After and Location must read as with requests: a plain, case-insensitive map.
            got = requests.structures.CaseInsensitiveDict(
                {k: v for k, v in response.headers.items() if v is not None}
            )
            return _Answer(response.status_code, str(response.url), got, b"".join(parts))
        finally:
            response.close()


def _read_body(
    response: requests.Response, *, what: str, limit: int, deadline: float, clock: Callable[[], float]
) -> bytes:
    """The body, decoded (gzip, deflate), read as it arrives: _Overdue once ``deadline`` has
    passed, BadResponse once it decodes to more than ``limit`` bytes.

    Decoded here rather than by urllib3 so each read comes back to this loop: a decoder
    that yields nothing for a while (a gzip header trickled byte by byte) cannot hold it.
    """
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    decoder: Any = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = _Deflate()
    elif encoding not in ("", "identity"):
        raise BadResponse(f"{what}: the registry's answer uses an unknown Content-Encoding ({encoding[:40]}); nothing stored")
    parts: list[bytes] = []
    size = 0

    def add(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > limit:
            raise BadResponse(f"{what}: the registry's answer exceeds {_size(limit)}; nothing stored")
        parts.append(data)

    raw = response.raw
    while True:
        if clock() > deadline:
            raise _Overdue
        data = raw.read1(READ_CHUNK, decode_content=False)
        if not data:
            break
        if decoder is None:
            add(data)
            continue
        try:
            # At most one byte past the cap per call: the excess is never held in memory.
            add(decoder.decompress(data, limit - size + 1))
            while decoder.unconsumed_tail:
                add(decoder.decompress(decoder.unconsumed_tail, limit - size + 1))
            if decoder.eof and decoder.unused_data:  # a second gzip member follows
                rest = decoder.unused_data
                decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                add(decoder.decompress(rest, limit - size + 1))
        except zlib.error:
            raise BadResponse(f"{what}: the registry's {encoding} answer cannot be decompressed; nothing stored") from None
    return b"".join(parts)


class _Deflate:
    """``Content-Encoding: deflate``: zlib-wrapped as the RFC says, or raw as some servers
    send it."""

    def __init__(self) -> None:
        self._obj = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._obj.decompress(data, max_length)
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._obj.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._obj.unconsumed_tail

    @property
    def eof(self) -> bool:
        return False  # one stream; whatever follows it is ignored

    @property
    def unused_data(self) -> bytes:
        return b""


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n:,} bytes"


class _Background:
    """A request run in a daemon thread (an interrupted run never waits for it)."""

    def __init__(self, fn: Callable[[], _Answer]):
        self._done = threading.Event()
        self._value: _Answer | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(fn,), name="regsync-prefetch", daemon=True).start()

    def _run(self, fn: Callable[[], _Answer]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
        finally:
            self._done.set()

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> _Answer | None:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


# -- helpers (pure; tested directly) ---------------------------------------------------------


def refused(what: str, transport: str) -> ClientRefused:
    """The registry's 403 to a client it screens out (by its TLS fingerprint, not by who asks)."""
    hint = (
        "its website endpoints screen Python's TLS handshake; --transport curl (REGSYNC_TRANSPORT=curl) uses a browser's"
        if transport == "requests"
        else "it refuses even a browser's TLS handshake now; try again later"
    )
    return ClientRefused(f"the registry refused this client (HTTP 403) on {what}: {hint}; nothing stored")


def record_nct_id(record: dict[str, Any]) -> str | None:
    try:
        return normalize_nct_id(record["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError, InvalidNctId):
        return None


def _matched(page: Page, wanted: set[str]) -> list[Fetched]:
    """The records of a ``filter.ids`` page, each with the ID it was asked for."""
    if page.prepared:
        found: list[Fetched | None] = [_match_read(item, wanted, page.url) for item in page.studies]
    else:
        spans = PageSpans(page.body, page.studies)
        found = [_match(record, wanted, page.url, spans, i) for i, record in enumerate(page.studies)]
    return [f for f in found if f is not None]


def _match(
    record: dict[str, Any], wanted: set[str], url: str, page: PageSpans | None = None, index: int = 0
) -> FetchedStudy | None:
    """A record of a ``filter.ids`` answer, with the ID it was asked for (its own, or one of
    the old numbers it lists as aliases); None for a record nobody asked for."""
    try:
        given = record["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        given = None
    if isinstance(given, str) and given in wanted:  # canonical, as asked: no need to normalise
        return FetchedStudy(given, given, record, url, None, page, index)
    nct_id = record_nct_id(record)
    requested = _requested_id(nct_id, wanted, lambda: record_aliases(record))
    if nct_id is None or requested is None:
        return None
    return FetchedStudy(nct_id, requested, record, url, None, page, index)


def _match_read(item: ReadStudy, wanted: set[str], url: str) -> Fetched | None:
    """``_match`` for a record a PageReader read."""
    requested = _requested_id(item.nct_id, wanted, lambda: item.aliases)
    return None if requested is None else item.fetched(requested, url)


def _requested_id(nct_id: str | None, wanted: set[str], aliases: Callable[[], list[str]]) -> str | None:
    """The ID a batch asked for a record by: its own ``nct_id``, or one of its ``aliases``;
    None, said in the log, for a record without an ID or one nobody asked for."""
    if nct_id is None:
        log.warning("a batch answer contained a record without an nctId; ignored")
        return None
    if nct_id in wanted:
        return nct_id
    requested = next((a for a in aliases() if a in wanted), None)
    if requested is None:
        log.warning("batch answer contained %s, which was not asked for; ignored", nct_id)
    return requested


def record_aliases(record: dict[str, Any]) -> list[str]:
    try:
        aliases = record["protocolSection"]["identificationModule"].get("nctIdAliases") or []
    except (KeyError, TypeError, AttributeError):
        return []
    return [a.upper() for a in aliases if isinstance(a, str)]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds, whether given as delta-seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff(attempt: int, retry_after: float | None, *, cap: float, base: float = 1.0) -> float:
    """Exponential back-off with full jitter; a server's Retry-After wins (capped)."""
    if retry_after is not None:
        return min(retry_after, cap)
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def id_batches(nct_ids: Iterable[str], base: str, max_url: int = MAX_URL_LENGTH) -> Iterator[list[str]]:
    """Split IDs into batches whose ``filter.ids`` URL stays under ``max_url`` characters."""
    # Base, path, fixed params and a page token of up to ~100 characters.
    budget = max_url - len(base) - 250
    batch: list[str] = []
    used = 0
    for nct_id in nct_ids:
        cost = len(nct_id) + 1
        if batch and (used + cost > budget or len(batch) >= MAX_PAGE_SIZE):
            yield batch
            batch, used = [], 0
        batch.append(nct_id)
        used += cost
    if batch:
        yield batch


def _encode(params: dict[str, str]) -> str:
    # Commas, brackets and colons stay literal: the API reads them as such, and an encoded
    # comma (%2C) would triple the length of every ID separator in a filter.ids batch.
    return urlencode(params, safe=",[]:", quote_via=quote)


def _redirect_target(response: _Answer) -> str | None:
    for location in response.redirects:
        tail = location.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        try:
            return normalize_nct_id(tail)
        except InvalidNctId:
            continue
    return None


def _parse_json(response: _Answer, what: str) -> Any:
    return parse_body(response.body, response.headers.get("Content-Type", ""), what)


def parse_body(body: bytes, content_type: str, what: str) -> Any:
    """The JSON of an answer (parsed with the collector paused), or a BadResponse saying
    what came instead."""
    if not body.strip():
        raise BadResponse(f"{what}: the registry sent an empty answer; nothing stored")
    try:
        return _loads_without_gc(body)
    except orjson.JSONDecodeError:
        if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
            raise BadResponse(
                f"{what}: the registry sent an HTML page instead of JSON (maintenance?); nothing stored"
            ) from None
        raise BadResponse(
            f"{what}: the registry's answer is not valid JSON (truncated? {len(body)} bytes); nothing stored"
        ) from None


def read_page(body: bytes, content_type: str, what: str) -> ReadPage:
    """A ``GET /studies`` answer read, or a BadResponse when it is not a page of studies."""
    data = parse_body(body, content_type, what)
    if not isinstance(data, dict) or not isinstance(data.get("studies", []), list):
        raise BadResponse(f"{what}: the registry's answer is not a page of studies")
    return ReadPage(data.get("studies", []), data.get("nextPageToken"), data.get("totalCount"))


def _read(response: _Answer, what: str, reader: PageReader | None) -> ReadPage:
    """The page ``response`` answered, read by ``reader`` (already begun for a prefetched
    answer), else here."""
    if response.read is not None:
        return response.read()
    content_type = response.headers.get("Content-Type", "")
    if reader is not None:
        return reader.start(response.body, content_type, what)()
    return read_page(response.body, content_type, what)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored as it was on the way out).

    A page of 1000 studies is about a million container objects; allocated while the
    collector runs, they trigger collection after collection that traverse the page being
    built (and the previous one, and everything imported), which measured as half of the
    parse time. Parsed JSON holds no reference cycles, so nothing is lost by pausing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _loads_without_gc(body: bytes) -> Any:
    with _gc_paused():
        return orjson.loads(body)


# The causes of a failed connection, as the requests transport's errors word them.
_MARKERS = (
    "Connection reset", "Connection refused", "Name or service not known",
    "Temporary failure in name resolution", "No route to host", "Network is unreachable", "timed out",
)


def _short(exc: Exception) -> str:
    if isinstance(exc, _CurlError):
        return str(exc)  # already in these words
    text = str(exc)
    for marker in _MARKERS:
        if marker in text:
            return marker.lower()
    return redact_url(type(exc).__name__ + (": " + text if text else ""))[:160]


def _reached_server(exc: Exception) -> bool:
    """Whether a failed attempt got as far as a server: a refused or unresolvable connection,
    or a connect timeout, sent nothing."""
    if isinstance(exc, _CurlError):
        return exc.reached
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return not isinstance(reason, NewConnectionError)


# -- the registry's own version history (website endpoints, not part of API v2) -------------


@dataclass(frozen=True)
class HistoryEntry:
    """One version in the registry's history index (``version`` is the registry's, 0-based)."""

    version: int
    date: str | None  # when the sponsor submitted it
    status: str | None  # its overallStatus
    module_labels: tuple[str, ...]


def _history_entry(change: Any, what: str) -> HistoryEntry:
    """One entry of a history index, or BadResponse (one line: the study's error) for an
    entry no registry sends: version numbers are 0-based integers that SQLite can hold,
    dates are calendar dates (they become --as-of and --since answers)."""
    version = change.get("version") if isinstance(change, dict) else None
    if version is None or isinstance(version, bool):
        raise BadResponse(f"{what}: the registry's history index has an entry without a version number")
    if not isinstance(version, int) or not 0 <= version < MAX_HISTORY_VERSIONS:
        shown = repr(version) if isinstance(version, int | float | str) else f"a {type(version).__name__}"
        raise BadResponse(f"{what}: the registry's history index has a version number {shown[:40]}, "
                          f"not one of 0-{MAX_HISTORY_VERSIONS - 1}; nothing stored for this study")
    date = change.get("date")
    if date is not None and not _is_date(date):
        shown = repr(date)[:40] if isinstance(date, str) else f"a {type(date).__name__}"
        raise BadResponse(f"{what}: the registry's history index dates version {version} {shown}, "
                          "not a date; nothing stored for this study")
    labels = change.get("moduleLabels")
    return HistoryEntry(
        version,
        date,
        change.get("status") if isinstance(change.get("status"), str) else None,
        tuple(str(label) for label in labels if isinstance(label, str)) if isinstance(labels, list) else (),
    )


def _is_date(value: Any) -> bool:
    """YYYY-MM-DD (a time may follow), a real calendar day, after the registry opened."""
    if not isinstance(value, str) or len(value) < 10 or len(value) > 40:
        return False
    try:
        day = datetime.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return day.year >= 1999


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` levels (iterative: a hostile
    depth must not meet Python's recursion limit here either)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


class HistoryClient:
    """``GET {site}/api/int/studies/{NCT}?history=true`` and ``.../history/{v}``.

    These are the registry's website endpoints (undocumented, may change): they refuse
    Python's TLS handshake with 403, so the default transport is curl; and they are paced to
    at most 2 requests/s, serial (a peer saw 429s with 2 in flight). Retries, Retry-After,
    timeouts and the size cap are ApiClient's.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        config = config or ClientConfig(transport="curl")
        paced = ClientConfig(**{**config.__dict__, "delay": max(config.delay, HISTORY_DELAY)})
        self.api = ApiClient(paced, sleep=sleep, clock=clock)
        scheme, host = origin(self.api.base)
        self.site = f"{scheme}://{host}"

    @property
    def requests(self) -> int:
        return self.api.requests

    def get_history_index(self, nct_id: str) -> list[HistoryEntry]:
        nct_id = normalize_nct_id(nct_id)
        what = f"{nct_id} history"
        data = self._json(f"{self.site}/api/int/studies/{nct_id}?history=true", what)
        history = data.get("history") if isinstance(data, dict) else None
        changes = history.get("changes") if isinstance(history, dict) else None
        if not isinstance(changes, list):
            # Some studies have no history index at all.
            return []
        if len(changes) > MAX_HISTORY_VERSIONS:
            raise BadResponse(
                f"{what}: the registry's history index lists {len(changes):,} versions, more than "
                f"{MAX_HISTORY_VERSIONS:,}; refused, nothing stored for this study"
            )
        entries = []
        seen: set[int] = set()
        for change in changes:
            entry = _history_entry(change, what)
            if entry.version in seen:
                raise BadResponse(f"{what}: the registry's history index lists version {entry.version} twice; "
                                  "nothing stored for this study")
            seen.add(entry.version)
            entries.append(entry)
        return sorted(entries, key=lambda e: e.version)

    def get_history_version(self, nct_id: str, version: int) -> dict[str, Any]:
        nct_id = normalize_nct_id(nct_id)
        what = f"{nct_id} history version {version}"
        data = self._json(f"{self.site}/api/int/studies/{nct_id}/history/{version}", what)
        study = data.get("study") if isinstance(data, dict) else None
        if not isinstance(study, dict) or record_nct_id(study) != nct_id:
            raise BadResponse(f"{what}: the registry's answer is not that study's record; nothing stored")
        if _deeper_than(study, MAX_RECORD_DEPTH):
            raise BadResponse(f"{what}: the registry's record is nested deeper than {MAX_RECORD_DEPTH} levels; "
                              "nothing stored")
        return study

    def _json(self, url: str, what: str) -> Any:
        response = self.api._get(url, what=what, limit=self.api._record_limit())
        if response.status == 403:
            raise refused(what, self.api.config.transport)
        if response.status == 404:
            raise StudyNotFound(what.split()[0])
        self.api._raise_for_status(response, what)
        return _parse_json(response, what)
