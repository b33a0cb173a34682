"""The in-memory registry the fake serves: studies, aliases, query matches, queued faults
and the request log."""

from __future__ import annotations

import bisect
import collections
import copy
import threading
from collections.abc import Iterable
from typing import Any

import orjson

from regsync.ids import is_nct_id, normalize_nct_id

from .faults import Fault, Hold, RequestLog
from .projection import HEAD_MODULES, head_suffices, project


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
            {"protocolSection": {m: protocol[m] for m in HEAD_MODULES if m in protocol}}
        )
        self.post_date: str | None = status.get("lastUpdatePostDateStruct", {}).get("date")
        self.projections: dict[tuple[str, ...], bytes] = {}

    def projected(self, fields: tuple[str, ...]) -> bytes:
        # Cached per field set: a sync lists the same projection over and over.
        cached = self.projections.get(fields)
        if cached is None:
            source = self.head if head_suffices(fields) else self.body
            cached = _stored(project(orjson.loads(source), fields) or {})
            self.projections[fields] = cached
        return cached


class FakeRegistry:
    """In-memory registry. Thread-safe. Each study is serialised once (bytes cached) so
    serving is cheap."""

    def __init__(self, data_timestamp: str = "2026-09-04T09:00:06"):
        self.data_timestamp = data_timestamp
        self.requests: list[RequestLog] = []
        # Bumped by reset_log: a request that arrived before the reset (one held while its
        # client was killed, say) is not logged when it is finally answered after it.
        self._log_generation = 0
        self._lock = threading.RLock()
        self._studies: dict[str, _Entry] = {}
        self._order: list[str] | None = []  # sorted NCT IDs; None when it must be rebuilt
        self._aliases: dict[str, str] = {}
        self._queries: dict[str, tuple[str, ...]] = {}
        # A listing (query.term or filter.advanced, not filter.ids) that silently stops after
        # this many studies while totalCount stays true; None: lists everything.
        self.listing_cap: int | None = None
        # Like the registry: a page filled exactly to pageSize carries a nextPageToken even
        # when nothing follows (its page is empty).
        self.token_on_full_page = False
        self._faults: dict[str, collections.deque[Fault]] = {}
        self._holds: list[Hold] = []
        # The website's version history: per study, each version's record and index entry.
        self._history: dict[str, list[dict]] = {}
        # Hostile history answers (see serve_history): per study, the index entries served
        # as given and raw bodies per version number, bypassing what add_history keeps.
        self._hostile_index: dict[str, list[Any]] = {}
        self._hostile_versions: dict[tuple[str, int], bytes] = {}
        # Stand-in for the registry's TLS-fingerprint screen: a plain http fake cannot see a
        # handshake, so a client counts as a browser when it sends Chrome's sec-ch-ua header
        # (curl_cffi's impersonation does; Python's requests does not).
        self.screen_clients = False

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

    def body(self, nct_id: str) -> bytes:
        """The exact bytes ``GET /studies/{nctId}`` answers for the study."""
        return self._studies[normalize_nct_id(nct_id)].body

    def download_zip(self) -> bytes:
        """The bulk download (``GET /studies/download?format=json.zip``): one member per study,
        ``NCTnnnnnnnn.json`` holding what ``GET /studies/{nctId}`` answers, in NCT ID order,
        each dated by the registry's dataTimestamp."""
        import io
        import zipfile

        with self._lock:
            entries = [self._studies[n] for n in self._sorted_ids()]
            stamp = self.data_timestamp
        when = tuple(int(p) for p in (stamp[:4], stamp[5:7], stamp[8:10], stamp[11:13], stamp[14:16], stamp[17:19]))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in entries:
                archive.writestr(zipfile.ZipInfo(f"{entry.nct_id}.json", when), entry.body,
                                 compress_type=zipfile.ZIP_DEFLATED)
        return out.getvalue()

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
            self._holds.extend(f.held_by for f in faults if f.held_by is not None)

    def hold(self, target: str, times: int = 1) -> Hold:
        """Hold the next ``times`` requests to ``target`` unanswered until the returned
        ``Hold`` is released (see ``Hold``); faults queued before it come first."""
        hold = Hold()
        self.fail(target, *[Fault.hold(hold)] * times)
        return hold

    def clear_faults(self) -> None:
        """Forget the queued faults; requests already held stay held until released."""
        with self._lock:
            self._faults.clear()

    def release_holds(self) -> None:
        """Release every hold queued on this registry (the server does so when it stops)."""
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()

    # history (the website's /api/int endpoints)

    def add_history(self, nct_id: str, date: str, record: dict, module_labels: list[str] | None = None) -> int:
        """Append a version (0-based number returned) dated ``date``, served as given (give it
        HTML text with ``history_markup``); moduleLabels default to the modules that differ
        from the previous version's."""
        nct_id = normalize_nct_id(nct_id)
        with self._lock:
            versions = self._history.setdefault(nct_id, [])
            study = {k: v for k, v in record.items() if k != "derivedSection"}
            if module_labels is None:
                before = versions[-1]["study"]["protocolSection"] if versions else None
                now = study.get("protocolSection", {})
                module_labels = [] if before is None else sorted(
                    k for k in set(before) | set(now) if before.get(k) != now.get(k)
                )
            status = now_status(study)
            versions.append({"version": len(versions), "date": date, "status": status,
                             "moduleLabels": module_labels, "study": copy.deepcopy(study)})
            return len(versions) - 1

    def serve_history(self, nct_id: str, changes: list[Any], versions: dict[int, bytes] | None = None) -> None:
        """Serve ``changes`` as the study's history index exactly as given (numbers past 64
        bits, duplicates, dates that are not dates) and ``versions`` (number -> raw JSON body,
        e.g. a record nested 900 levels that orjson would not serialise) as its versions;
        other version numbers are answered from add_history's versions."""
        nct_id = normalize_nct_id(nct_id)
        with self._lock:
            self._hostile_index[nct_id] = list(changes)
            for number, body in (versions or {}).items():
                self._hostile_versions[(nct_id, number)] = body

    def hostile_version(self, nct_id: str, version: int) -> bytes | None:
        with self._lock:
            return self._hostile_versions.get((nct_id, version))

    def history_index(self, nct_id: str) -> list[Any] | None:
        with self._lock:
            if nct_id in self._hostile_index:
                return list(self._hostile_index[nct_id])
            versions = self._history.get(nct_id)
            if versions is None:
                return None
            return [{k: v[k] for k in ("version", "date", "status", "moduleLabels")} for v in versions]

    def history_version(self, nct_id: str, version: int) -> dict | None:
        with self._lock:
            versions = self._history.get(nct_id) or []
            return copy.deepcopy(versions[version]["study"]) if 0 <= version < len(versions) else None

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
            self._log_generation += 1

    def _log(self, entry: RequestLog, generation: int | None = None) -> None:
        with self._lock:
            if generation is None or generation == self._log_generation:
                self.requests.append(entry)

    # queries used by the server

    def _sorted_ids(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self._studies)
        return self._order

    def _listed_before(self, after: str, ids: set[str] | None, ranges: list[tuple[str | None, str | None]]) -> int:
        """How many studies a listing handed over up to and including ``after``."""
        with self._lock:
            candidates = self._sorted_ids() if ids is None else sorted(
                i for i in {self._aliases.get(i, i) for i in ids} if i in self._studies)
            return sum(
                1 for nct_id in candidates[: bisect.bisect_right(candidates, after)]
                if all(_in_range(self._studies[nct_id].post_date, lo, hi) for lo, hi in ranges)
            )

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


def now_status(study: dict) -> str | None:
    try:
        return study["protocolSection"]["statusModule"]["overallStatus"]
    except (KeyError, TypeError):
        return None


def _fault_target(target: str) -> str:
    if target in ("studies", "version", "history", "download"):
        return target
    return normalize_nct_id(target)


def _in_range(value: str | None, lo: str | None, hi: str | None) -> bool:
    if value is None:
        return False
    if lo is not None and value < lo:
        return False
    # An upper bound of lower precision ("2026-01") includes the whole month.
    return hi is None or value[: len(hi)] <= hi
