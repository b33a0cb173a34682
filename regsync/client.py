"""HTTP client for the ClinicalTrials.gov REST API v2.

Every failure is mapped to a domain error (``regsync.errors``) with a sentence a user can act
on. No click here: the CLI renders what this module raises.
"""

from __future__ import annotations

import contextlib
import email.utils
import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import requests

from regsync import DEFAULT_API_URL, __version__
from regsync.errors import ApiUnavailable, BadResponse, FetchError, InvalidNctId, StudyNotFound
from regsync.ids import normalize_nct_id

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


@dataclass
class ClientConfig:
    api_url: str = DEFAULT_API_URL
    timeout: float = 30.0  # seconds, per request (connect and read)
    attempts: int = 5  # tries per request, the first included
    max_wait: float = 120.0  # total seconds of back-off per request before giving up
    delay: float = 1.0  # minimum seconds between requests (robots.txt asks Crawl-delay: 1)
    retry_after_cap: float = 60.0  # never sleep longer than this for one Retry-After


@dataclass(frozen=True)
class FetchedStudy:
    """A study record as the API returned it, with how it was asked for."""

    nct_id: str  # canonical, from the record itself
    requested_id: str
    record: dict[str, Any]
    source: str  # the URL that answered (after redirects)


@dataclass(frozen=True)
class _Answer:
    """What a GET came back with, its body read in full."""

    status: int
    url: str  # after redirects
    headers: Mapping[str, str]
    body: bytes
    redirects: tuple[str, ...] = ()  # the Location of each redirect followed

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Page:
    studies: list[dict[str, Any]]
    next_page_token: str | None
    url: str  # the URL that answered


@dataclass
class BatchPage:
    """One page of the answer to a ``filter.ids`` batch (see ``iter_study_batches``)."""

    batch: tuple[str, ...]  # the IDs the batch asked for
    studies: list[FetchedStudy]  # the records on this page, each matched to the ID asked for
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
        self.base = self.config.api_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        self.requests = 0  # HTTP requests sent, retries included (a run reports it)
        # One request at a time, also with a prefetch in flight: pacing, retries and the
        # request count stay exactly as without it.
        self._http_lock = threading.Lock()
        self._prefetched: tuple[str, _Background] | None = None

    # -- public API -------------------------------------------------------------------------

    def get_study(self, nct_id: str) -> FetchedStudy:
        """``GET /studies/{nctId}``; follows a 301 alias to the canonical record."""
        requested = normalize_nct_id(nct_id)
        url = f"{self.base}/studies/{requested}?" + urlencode(
            {"format": "json", "markupFormat": MARKUP_FORMAT}
        )
        response = self._get(url, what=requested)
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
        return FetchedStudy(actual, requested, record, response.url)

    def get_version(self) -> dict[str, Any]:
        """``GET /version``: ``{"apiVersion": ..., "dataTimestamp": ...}``."""
        response = self._get(f"{self.base}/version", what="/version")
        self._raise_for_status(response, "/version")
        data = _parse_json(response, "/version")
        if not isinstance(data, dict) or "dataTimestamp" not in data:
            raise BadResponse("/version: the registry's answer has no dataTimestamp")
        return data

    def iter_pages(self, params: dict[str, str], *, page_size: int = MAX_PAGE_SIZE) -> Iterator[Page]:
        """``GET /studies`` following ``nextPageToken``; one page at a time (streaming)."""
        token: str | None = None
        what = "/studies"
        while True:
            url = self._studies_url(params, page_size, token)
            response = self._take_prefetched(url) or self._get(url, what=what)
            self._raise_for_status(response, what)
            data = _parse_json(response, what)
            if not isinstance(data, dict) or not isinstance(data.get("studies", []), list):
                raise BadResponse(f"{what}: the registry's answer is not a page of studies")
            token = data.get("nextPageToken") or None
            # Handed over without a reference left in this frame: the consumer's is the only
            # one, so the page is freed as soon as it lets go, before the next is downloaded
            # (one page in memory, not two).
            box = [Page(data.get("studies", []), token, response.url)]
            del response, data
            yield box.pop()
            if not token:
                return

    def iter_study_batches(self, nct_ids: Sequence[str]) -> Iterator[BatchPage]:
        """The full records of ``nct_ids``, by ``GET /studies?filter.ids=...&pageSize=1000``.

        The IDs go in batches whose URL stays under MAX_URL_LENGTH (``id_batches``), each
        answer followed page by page, so memory does not grow with the list: one page in
        memory, and at most the next batch's first page downloading in the background while
        the caller stores this one (the socket wait releases the GIL). While a page is in the
        caller's hands, the cyclic garbage collector is paused: a page is about a million
        objects without cycles, and collections traversing it measured as a third of an
        unchanged re-sync; it resumes between pages.

        ``filter.ids`` also matches aliases: a record the batch did not ask for by its own ID
        is matched through its ``nctIdAliases``. What no page answered for (an alias the
        record does not list, a study the registry does not have) is in the batch's last
        page's ``missing``, and a batch that failed after retries yields a page with its
        ``error`` and every unanswered ID missing: ask ``get_study`` for those, which tells a
        404 from an alias.
        """
        batches = list(id_batches(nct_ids, self.base))
        for index, batch in enumerate(batches):
            ahead = batches[index + 1] if index + 1 < len(batches) else None
            wanted = set(batch)
            seen: set[str] = set()
            pages = self.iter_pages({"filter.ids": ",".join(batch)})
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
                    if ahead is not None:
                        self._prefetch({"filter.ids": ",".join(ahead)})
                        ahead = None
                    found = [_match(record, wanted, page.url) for record in page.studies]
                    studies = [f for f in found if f is not None]
                    seen.update(f.requested_id for f in studies)
                    last = page.next_page_token is None
                    missing = tuple(i for i in batch if i not in seen) if last else ()
                    box = [BatchPage(tuple(batch), studies, page.url, last=last, missing=missing)]
                    del page, found, studies  # the caller's reference is the only one
                    yield box.pop()

    def _prefetch(self, params: dict[str, str], *, page_size: int = MAX_PAGE_SIZE) -> None:
        """Start downloading the first page of ``iter_pages(params)`` in the background.

        The next ``iter_pages`` call with the same parameters takes it instead of asking
        again. At most one prefetch exists; requests are still sent one at a time.
        """
        url = self._studies_url(params, page_size)
        self._take_prefetched(None)
        self._prefetched = (url, _Background(lambda: self._get(url, what="/studies")))

    def _studies_url(self, params: dict[str, str], page_size: int, token: str | None = None) -> str:
        """The one way a ``GET /studies`` URL is built, so a prefetch matches its page."""
        query = {"format": "json", "markupFormat": MARKUP_FORMAT, **params}
        query["pageSize"] = str(min(page_size, MAX_PAGE_SIZE))
        if token:
            query["pageToken"] = token
        return f"{self.base}/studies?" + _encode(query)

    def _take_prefetched(self, url: str | None) -> _Answer | None:
        """The prefetched answer for ``url`` (its error re-raised here), or None; a prefetch
        for another URL is waited for and dropped."""
        if self._prefetched is None:
            return None
        wanted, job = self._prefetched
        self._prefetched = None
        if wanted == url:
            return job.result()
        job.wait()
        return None

    # -- transport ---------------------------------------------------------------------------

    def _pace(self) -> None:
        if self._last_request is not None and self.config.delay > 0:
            wait = self.config.delay - (self._clock() - self._last_request)
            if wait > 0:
                log.debug("pacing: %.3f s before the next request (--delay %g)", wait, self.config.delay)
                self._sleep(wait)

    def _get(self, url: str, *, what: str) -> _Answer:
        with self._http_lock:
            return self._get_unlocked(url, what=what)

    def _get_unlocked(self, url: str, *, what: str) -> _Answer:
        """GET with bounded retries: attempts and total back-off are both capped."""
        cfg = self.config
        waited = 0.0
        last_problem = "no answer"
        for attempt in range(1, max(cfg.attempts, 1) + 1):
            self._pace()
            started = self._clock()
            self._last_request = started
            self.requests += 1
            log.debug("sending GET %s (attempt %d of %d, timeout %g s)", url, attempt, cfg.attempts, cfg.timeout)
            try:
                response = self.session.get(url, timeout=cfg.timeout, allow_redirects=True, stream=True)
                # The body in one read, not in requests' default 10 KiB chunks: each chunk
                # goes through several layers of Python holding the GIL, so a page of 8 MB
                # read that way in the prefetch thread waited for the main thread's parse
                # and hashing at every chunk (measured: a first sync 10-15% slower).
                answer = _Answer(
                    response.status_code, response.url, response.headers,
                    b"".join(response.iter_content(chunk_size=None)),
                    tuple(hop.headers.get("Location", "") for hop in response.history),
                )
            except requests.Timeout:
                last_problem = f"no answer within {cfg.timeout:g} s (timeout)"
                retry_after = None
            except requests.ConnectionError as exc:
                last_problem = f"connection failed ({_short(exc)})"
                retry_after = None
            except requests.RequestException as exc:  # invalid URL, too many redirects...
                raise ApiUnavailable(f"{what}: request failed: {_short(exc)}") from exc
            else:
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
            if attempt >= cfg.attempts:
                break
            pause = backoff(attempt, retry_after, cap=cfg.retry_after_cap)
            if waited + pause > cfg.max_wait:
                log.warning("%s: %s; giving up (retry budget of %g s spent)", what, last_problem, cfg.max_wait)
                break
            log.info("%s: %s; retry %d in %.1f s", what, last_problem, attempt, pause)
            waited += pause
            self._sleep(pause)
        raise ApiUnavailable(f"{what}: {last_problem} after {attempt} attempt{'s' * (attempt > 1)}")

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


def record_nct_id(record: dict[str, Any]) -> str | None:
    try:
        return normalize_nct_id(record["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError, InvalidNctId):
        return None


def _match(record: dict[str, Any], wanted: set[str], url: str) -> FetchedStudy | None:
    """A record of a ``filter.ids`` answer, with the ID it was asked for (its own, or one of
    the old numbers it lists as aliases); None for a record nobody asked for."""
    try:
        given = record["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        given = None
    if isinstance(given, str) and given in wanted:  # canonical, as asked: no need to normalise
        return FetchedStudy(given, given, record, url)
    nct_id = record_nct_id(record)
    if nct_id is None:
        log.warning("a batch answer contained a record without an nctId; ignored")
        return None
    if nct_id in wanted:
        return FetchedStudy(nct_id, nct_id, record, url)
    requested = next((a for a in record_aliases(record) if a in wanted), None)
    if requested is None:
        log.warning("batch answer contained %s, which was not asked for; ignored", nct_id)
        return None
    return FetchedStudy(nct_id, requested, record, url)


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
    body = response.body
    if not body.strip():
        raise BadResponse(f"{what}: the registry sent an empty answer; nothing stored")
    ctype = response.headers.get("Content-Type", "")
    try:
        return _loads_without_gc(body)
    except orjson.JSONDecodeError:
        if "html" in ctype.lower() or body.lstrip()[:1] == b"<":
            raise BadResponse(
                f"{what}: the registry sent an HTML page instead of JSON (maintenance?); nothing stored"
            ) from None
        raise BadResponse(
            f"{what}: the registry's answer is not valid JSON (truncated? {len(body)} bytes); nothing stored"
        ) from None


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


def _short(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection reset", "Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return (type(exc).__name__ + (": " + text if text else ""))[:160]
