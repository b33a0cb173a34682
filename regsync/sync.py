"""One sync run: decide what to ask the registry, fetch it, store what changed.

The run is a generator of per-study outcomes so the CLI can print each line as it happens;
the library never prints. Every study is written in its own transaction, so a run killed at
any moment leaves every stored version whole, and the ledger says the run was interrupted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from regsync import DEFAULT_NCT_ID
from regsync.client import (
    ApiClient,
    FetchedStudy,
    gc_paused,
    id_batches,
    record_aliases,
    record_nct_id,
)
from regsync.model import Severity, summarize
from regsync.errors import ApiUnavailable, FetchError, RegsyncError, StudyNotFound
from regsync.store import SaveResult, Store, content_hash

log = logging.getLogger(__name__)

# Share of the watchlist re-fetched on every incremental run even though the registry says it
# has not changed: catches silent edits, so every study is re-verified within 1/share runs.
DEFAULT_RECHECK_SHARE = 0.02

LIGHT_FIELDS = "NCTId,LastUpdatePostDate"

# Below this many watched studies, fetching them all (one filter.ids request) is cheaper than
# asking the registry what changed first.
INCREMENTAL_MIN_STUDIES = 20

# After this many requests in a row fail even with retries, the registry is down: the rest of
# the run is reported as not attempted instead of spending the retry budget on every study.
OUTAGE_AFTER = 3


@dataclass
class StudyOutcome:
    nct_id: str
    status: str  # new | changed | unchanged | removed | error
    version: int | None = None
    previous_version: int | None = None
    requested_id: str | None = None
    error: str | None = None
    changes: list = field(default_factory=list)

    @property
    def is_alias(self) -> bool:
        return bool(self.requested_id) and self.requested_id != self.nct_id

    @property
    def flagged(self) -> list:
        """Changes a person should see: everything but registry bookkeeping."""
        return [c for c in self.changes if c.severity != "admin"]

    def categories(self) -> list[str]:
        seen: list[str] = []
        for change in self.flagged:
            if not change.milestone and change.category not in seen:
                seen.append(change.category)
        return seen

    def milestones(self) -> list:
        return [c for c in self.changes if c.milestone]

    def to_dict(self) -> dict:
        out = {
            "nct_id": self.nct_id,
            "requested_id": self.requested_id or self.nct_id,
            "status": self.status,
            "version": self.version,
            "previous_version": self.previous_version,
            "error": self.error,
        }
        if self.status == "changed":
            # One summary feeds both this JSON and the text headline, so they agree.
            out.update(summarize(self.changes).to_dict())
        return out


@dataclass
class RunReport:
    run_id: int | None = None
    mode: str = "ids"
    data_timestamp: str | None = None
    nothing_to_do: bool = False
    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0, "removed": 0, "error": 0}
    )
    requests: int = 0
    outcome: str = "running"

    @property
    def failed(self) -> bool:
        return self.counts["error"] > 0


Progress = Callable[[int, int | None], None]  # (studies done so far, total if known)


class Syncer:
    def __init__(
        self,
        store: Store,
        client: ApiClient,
        *,
        diff: Callable[[dict, dict], list] | None = None,
        progress: Progress | None = None,
        recheck_share: float = DEFAULT_RECHECK_SHARE,
    ):
        self.store = store
        self.client = client
        self.diff = diff if diff is not None else _default_diff()
        self.progress = progress
        self.recheck_share = recheck_share
        self.report = RunReport()
        self._done = 0
        self._total: int | None = None
        self._outage = 0

    # -- the run ------------------------------------------------------------------------

    def run(
        self, nct_ids: list[str] | None = None, *, force: bool = False, full: bool = False
    ) -> Iterator[StudyOutcome]:
        """Sync the given IDs, else the watchlist (and query watches), else the default study."""
        report = self.report
        explicit = bool(nct_ids)
        report.mode = "ids" if explicit else ("full" if full else "incremental")
        report.run_id = self.store.begin_run("sync", report.mode)
        try:
            yield from self._run(nct_ids or [], explicit=explicit, force=force or full, full=full)
        except RegsyncError as exc:
            # The run as a whole could not go on (the registry would not say what changed):
            # recorded as failed, with the cause, and the CLI reports it as one line.
            self.store.record_error(report.run_id, None, str(exc))
            report.counts["error"] += 1
            self._finish("failed")
            raise
        except BaseException:
            # KeyboardInterrupt, or a failure nobody expected: the ledger says so, the
            # stored versions stay as they were (each study is its own transaction).
            self._finish("interrupted")
            raise
        outcome = "nothing-to-do" if report.nothing_to_do else ("partial" if report.failed else "ok")
        self._finish(outcome)

    def _finish(self, outcome: str) -> None:
        report = self.report
        report.outcome = outcome
        report.requests = self.client.stats.requests
        c = report.counts
        self.store.finish_run(
            report.run_id,
            outcome,
            mode=report.mode,
            complete=int(outcome in ("ok", "nothing-to-do") and report.mode != "ids"),
            data_timestamp=report.data_timestamp,
            studies_checked=c["new"] + c["changed"] + c["unchanged"] + c["removed"],
            new_studies=c["new"],
            changed=c["changed"],
            unchanged=c["unchanged"],
            errors=c["error"],
            requests=report.requests,
        )

    def _run(self, nct_ids: list[str], *, explicit: bool, force: bool, full: bool) -> Iterator[StudyOutcome]:
        report = self.report
        last = self.store.last_complete_run()
        report.data_timestamp = self._data_timestamp()
        if explicit:
            targets = list(dict.fromkeys(nct_ids))
            if len(targets) == 1:
                yield from self._fetch_one(targets[0])
            else:
                yield from self._fetch_batches(targets, total=len(targets))
            return

        # The registry's data is refreshed about once a day: if its dataTimestamp has not
        # moved since the last complete run, nothing can have changed.
        if (
            not force
            and last is not None
            and report.data_timestamp is not None
            and last["data_timestamp"] == report.data_timestamp
            and not self.store.unsynced_watches(since=last["started_at"])
        ):
            report.nothing_to_do = True
            return

        yield from self._expand_queries()
        watched = self.store.watch_ids() or ([] if self.store.queries() else [DEFAULT_NCT_ID])
        if not watched:
            return
        stored = set(self.store.current_states(watched))
        since = _since(last["data_timestamp"]) if (last and last["data_timestamp"] and not full) else None
        if since is None or len(watched) <= INCREMENTAL_MIN_STUDIES:
            report.mode = "full"
            fetch = watched
        else:
            fetch = self._incremental_targets(watched, stored, since)
        if len(watched) == 1 and fetch:
            yield from self._fetch_one(fetch[0])
        else:
            yield from self._fetch_batches(fetch, total=len(fetch))

    def _data_timestamp(self) -> str | None:
        try:
            return self.client.get_version().get("dataTimestamp")
        except FetchError as exc:
            # Not fatal: without it the run just cannot skip work or go incremental next time.
            log.warning("could not read the API's dataTimestamp: %s", exc)
            return None

    def _expand_queries(self) -> Iterator[StudyOutcome]:
        """Studies that newly match a query watch join the watchlist (and sync as new)."""
        watched = set(self.store.watch_ids())
        for query in self.store.queries():
            # Only IDs are asked for: query.* answers may carry <mark> highlighting in text
            # fields, so records themselves are always fetched by ID.
            found: list[str] = []
            try:
                for page in self.client.iter_pages({"query.term": query["expr"], "fields": "NCTId"}):
                    for study in page.studies:
                        nct_id = record_nct_id(study)
                        if nct_id and nct_id not in watched:
                            found.append(nct_id)
                            watched.add(nct_id)
            except FetchError as exc:
                yield self._error(None, f"query watch {query['expr']!r}: {exc}")
                continue
            if found:
                self.store.watch_add(found, query_id=query["id"])
                log.info("query %r matched %d new studies", query["expr"], len(found))

    def _incremental_targets(self, watched: list[str], stored: set[str], since: str) -> list[str]:
        """Ask the registry which studies changed since ``since`` (light fields), intersect
        with the watchlist locally, add never-stored studies and a rolling re-check."""
        watched_set = set(watched)
        changed: set[str] = set()
        for page in self.client.iter_pages(
            {"filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since},MAX]", "fields": LIGHT_FIELDS}
        ):
            for study in page.studies:
                nct_id = record_nct_id(study)
                if nct_id in watched_set:
                    changed.add(nct_id)
        fetch = changed | (watched_set - stored)
        share = math.ceil(len(watched) * self.recheck_share) if self.recheck_share > 0 else 0
        fetch.update(self.store.least_recently_checked(watched_set - fetch, share))
        log.info(
            "incremental since %s: %d changed, %d new, %d re-checked, of %d watched",
            since, len(changed), len(watched_set - stored), len(fetch) - len(changed) - len(watched_set - stored), len(watched),
        )
        return sorted(fetch)

    # -- fetching -----------------------------------------------------------------------

    def _fetch_one(self, nct_id: str) -> Iterator[StudyOutcome]:
        if self._outage >= OUTAGE_AFTER:
            yield self._error(nct_id, f"not attempted: the registry is unavailable ({self._outage} failures in a row)")
            return
        try:
            fetched = self.client.get_study(nct_id)
        except StudyNotFound as exc:
            self._outage = 0
            yield self._not_found(nct_id, exc)
            return
        except ApiUnavailable as exc:
            self._outage += 1
            yield self._error(nct_id, str(exc))
            return
        except FetchError as exc:
            self._outage = 0
            yield self._error(nct_id, str(exc))
            return
        self._outage = 0
        yield self._save(fetched)

    def _fetch_batches(self, nct_ids: list[str], *, total: int) -> Iterator[StudyOutcome]:
        """``filter.ids`` batches, streamed one page at a time; what a batch answer lacks
        (an alias, a 404) or what a failed batch left is fetched one by one."""
        self._total = total
        batches = list(id_batches(nct_ids, self.client.base))
        for index, batch in enumerate(batches):
            seen: set[str] = set()
            try:
                pages = self.client.iter_pages({"filter.ids": ",".join(batch)})
                ahead = batches[index + 1] if index + 1 < len(batches) else None
                while True:
                    # A page (~a million objects) is parsed, saved and freed with the cyclic
                    # collector paused, so no collection ever traverses it: measured as a
                    # third of an unchanged re-sync. Cycles made meanwhile, if any, are
                    # collected when it resumes, between pages.
                    with gc_paused():
                        page = next(pages, None)
                        if page is None:
                            break
                        if ahead is not None:
                            # The next batch downloads while this page is stored: one
                            # request in flight, at most one page ahead.
                            self.client.prefetch_pages({"filter.ids": ",".join(ahead)})
                            ahead = None
                        yield from self._save_page(batch, page.studies, seen)
                        page = None
            except ApiUnavailable as exc:
                self._outage += 1
                log.warning("batch of %d failed (%s); fetching the rest one by one", len(batch), exc)
            except FetchError as exc:
                log.warning("batch of %d failed (%s); fetching the rest one by one", len(batch), exc)
            for nct_id in batch:
                if nct_id not in seen:
                    yield from self._fetch_one(nct_id)

    def _save_page(self, batch: list[str], studies: list[dict], seen: set[str]) -> Iterator[StudyOutcome]:
        self._outage = 0
        wanted = set(batch)
        prepared = []
        for record in studies:
            nct_id = record_nct_id(record)
            if nct_id is None:
                continue
            if nct_id in wanted:
                requested = nct_id
            else:
                # filter.ids also matches aliases: the record lists which old number it merged.
                requested = next((a for a in record_aliases(record) if a in wanted), None)
                if requested is None:
                    log.warning("batch answer contained %s, which was not asked for; ignored", nct_id)
                    continue
            seen.add(requested)
            prepared.append((nct_id, requested, record, content_hash(record)))
        known = self.store.current_states([p[0] for p in prepared])
        unchanged = {p[0] for p in prepared if known.get(p[0], ("",))[0] == p[3]}
        self.store.mark_checked(list(unchanged))
        for nct_id, requested, record, digest in prepared:
            if nct_id in unchanged:
                outcome = StudyOutcome(nct_id, "unchanged", known[nct_id][1], requested_id=requested)
                self._count(outcome)
                yield outcome
                continue
            fetched = FetchedStudy(nct_id, requested, record, f"{self.client.base}/studies?filter.ids")
            yield self._save(fetched, digest)

    # -- outcomes -----------------------------------------------------------------------

    def _save(self, fetched: FetchedStudy, digest: str | None = None) -> StudyOutcome:
        result: SaveResult = self.store.save(
            fetched.record,
            nct_id=fetched.nct_id,
            source=fetched.source,
            requested_id=fetched.requested_id,
            data_timestamp=self.report.data_timestamp,
            run_id=self.report.run_id,
            diff=self.diff,
            known_hash=digest,
        )
        if fetched.is_alias:
            self.store.record_event(
                fetched.nct_id, "alias", f"{fetched.requested_id} is an alias of {fetched.nct_id}",
                self.report.run_id,
            )
            self.store.replace_watch_id(fetched.requested_id, fetched.nct_id)
        outcome = StudyOutcome(
            fetched.nct_id, result.status, result.version, result.previous_version,
            requested_id=fetched.requested_id, changes=result.changes,
        )
        self._count(outcome)
        return outcome

    def _not_found(self, nct_id: str, exc: Exception) -> StudyOutcome:
        """A 404 for a study we hold is a removal (an event, data kept); otherwise an error."""
        version = self.store.current_version(nct_id)
        if version is not None:
            self.store.mark_removed(nct_id, self.report.run_id)
            outcome = StudyOutcome(
                nct_id, "removed", version,
                error="no longer returned by the registry (HTTP 404); stored versions kept",
            )
            self._count(outcome)
            return outcome
        return self._error(nct_id, str(exc))

    def _error(self, nct_id: str | None, message: str) -> StudyOutcome:
        self.store.record_error(self.report.run_id, nct_id, message)
        outcome = StudyOutcome(nct_id or "-", "error", self.store.current_version(nct_id) if nct_id else None, error=message)
        self._count(outcome)
        return outcome

    def _count(self, outcome: StudyOutcome) -> None:
        self.report.counts[outcome.status] += 1
        self._done += 1
        if self.progress:
            self.progress(self._done, self._total)


def _since(data_timestamp: str) -> str | None:
    """The date of a dataTimestamp minus one day: studies posted on or after it may be new."""
    try:
        day = date.fromisoformat(data_timestamp[:10])
    except ValueError:
        return None
    return (day - timedelta(days=1)).isoformat()


def _max_severity(severities: Iterable[str]) -> str | None:
    return Severity.max(severities)


def _default_diff():
    from regsync.classify import diff_records

    return diff_records
