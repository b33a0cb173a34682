"""A fast, local fake of the ClinicalTrials.gov REST API v2, for tests and benchmarks.

Test infrastructure: it lives in tests/support and never ships in the regsync wheel.

It serves on 127.0.0.1 only, from an in-memory registry, with the behaviour regsync depends
on (as documented for the real API): text/plain errors, 301 for alias IDs, paging with opaque
``nextPageToken``, ``countTotal`` on the first page only, ``fields`` projection that keeps
the nested module layout, and ``/version``. Faults (429/5xx, HTML maintenance pages,
truncated or empty bodies, connection resets, answers held until the test releases them, the
wrong record) can be queued per endpoint to test the client's failure paths.

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
    registry.fail(target, *faults)              # target: NCT ID, "studies", "version" or "download"
    registry.hold(target, times=1) -> Hold      # the next requests wait for hold.release()
    registry.clear_faults()
    registry.release_holds()                    # every hold; the server does it on close
    registry.requests: list[RequestLog]         # method, path, query, status, time, target
    registry.count(target=None, status=None) -> int
    registry.requests_for(target) -> list[RequestLog]
    registry.reset_log()
    registry.body(nct_id) -> bytes              # what GET /studies/{nctId} answers
    registry.download_zip() -> bytes            # what GET /studies/download?format=json.zip answers
    len(registry), nct_id in registry, registry.ids()

    Fault.status(code, body=None, retry_after=None, content_type="text/plain")
    Fault.html_200() / Fault.truncated() / Fault.empty() / Fault.reset() / Fault.cut()
    Fault.hold(hold) / Fault.wrong_record(nct_id)

    hold = registry.hold("NCT07240987")         # or Hold(), queued with Fault.hold(hold)
    hold.wait_arrived(n=1)                      # blocks until n requests are held
    hold.arrived -> int; hold.released -> bool
    hold.release()                              # held requests get their normal answer

    with serve(registry, port=0) as server:     # a daemon thread; server.url is the base URL
        requests.get(f"{server.url}/studies/NCT07240987")   # "http://127.0.0.1:PORT/api/v2"

    synthesize(n, fixtures_dir=None, seed=0, *, include_large=False) -> Iterator[dict]
    mutate(record, post_date) -> dict
    load_fixtures(fixtures_dir=None) -> list[dict]

Command line, for manual use (serves until Ctrl-C)::

    python -m support.fakeapi --port 8765 [--fixtures DIR] [--synthetic N]    # from tests/
        [--data-timestamp TS] [--after N] [--next-data-timestamp TS]
        [--edit NCT:PATH=VALUE] [--remove NCT] [--alias OLD=NEW] [--fault TARGET:KIND[xN]]

    The scripted changes (a next release: edits, removals, aliases, faults, a new
    dataTimestamp) take effect once --after N requests have been answered; see --help.

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
- ``GET /studies/download?format=json.zip``: the bulk download, a zip of one
  ``NCTnnnnnnnn.json`` per study (``registry.download_zip()``; fault target "download").
- Anything else: 404 text/plain.

Fault semantics: each request to a target pops the next queued fault; with the queue empty,
the answer is normal. ``truncated`` cuts the normal answer's body in half (status 200,
application/json); ``wrong_record`` answers another study's record (on ``"studies"``, a page
holding only that record); ``cut`` sends the headers (the full Content-Length) and half the body, then closes;
``reset`` closes the connection with a TCP RST and no answer
(logged with status 0); ``hold`` answers normally once the test releases it (a held
request is logged when answered; ``hold.arrived`` counts it on arrival). Holds replace
sleeps: a test says when the server answers, so no test depends on how fast the machine is.

Layout: ``faults`` (Fault, Hold, RequestLog), ``registry`` (FakeRegistry), ``projection``
(the ``fields`` parameter), ``server`` (the HTTP handler, FakeServer, serve), ``synthetic``
(load_fixtures, synthesize, mutate), ``__main__`` (the command line).
"""

from .faults import Fault, Hold, RequestLog
from .projection import project
from .registry import FakeRegistry
from .server import API_PREFIX, API_VERSION, FakeServer, serve
from .synthetic import history_markup, load_fixtures, mutate, synthesize

__all__ = [
    "API_PREFIX", "API_VERSION", "Fault", "FakeRegistry", "FakeServer", "Hold", "RequestLog",
    "history_markup", "load_fixtures", "mutate", "project", "serve", "synthesize",
]
