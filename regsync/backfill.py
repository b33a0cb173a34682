"""``regsync backfill``: a study's past from the registry's own version history.

Serial, version by version, each committed as it is stored: a killed backfill keeps what
it stored, and the next one fetches only the versions still missing (idempotent). A study
with no stored version is synced first (its own snapshot), so the history has a present to
link to. A 403 or a 429 the retries could not outlast stops the whole backfill (one line,
every other request would meet the same): own snapshots are never touched by it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from regsync.client import ApiClient, HistoryClient
from regsync.errors import (
    ApiUnavailable,
    BadResponse,
    ClientRefused,
    FetchError,
    StudyNotFound,
)
from regsync.model import RunOutcome
from regsync.store import Store


@dataclass
class StudyBackfill:
    nct_id: str
    versions: int = 0  # in the registry's index
    stored: list[int] = field(default_factory=list)  # registry versions stored as new rows
    linked: list[tuple[int, int]] = field(default_factory=list)  # (registry version, own local version)
    silent_edits: list[str] = field(default_factory=list)  # found by this backfill
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        if not self.versions:
            return f"{self.nct_id} has no version history in the registry"
        if not self.stored and not self.linked:
            return f"{self.nct_id} up to date ({self.versions} registry versions)"
        parts = []
        if self.stored:
            parts.append(f"{len(self.stored)} registry version{'s' * (len(self.stored) != 1)} stored ({_span(self.stored)})")
        parts += [f"own v{own} is registry version {reg}" for reg, own in self.linked]
        return f"{self.nct_id} backfilled: " + ", ".join(parts) + f" of {self.versions}"


@dataclass
class BackfillReport:
    run_id: int
    studies: list[StudyBackfill]
    requests: int
    stopped: str | None = None  # why the backfill stopped early (403, 429 exhausted)

    @property
    def failed(self) -> bool:
        return self.stopped is not None or any(s.error for s in self.studies)


def _span(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


def backfill(
    store: Store,
    history: HistoryClient,
    api: ApiClient,
    nct_ids: Sequence[str],
    *,
    on_study: Callable[[StudyBackfill], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    run_id = store.begin_run("backfill", mode="ids")
    report = BackfillReport(run_id, [], 0)
    outcome = RunOutcome.INTERRUPTED
    try:
        for index, nct_id in enumerate(nct_ids):
            result = StudyBackfill(nct_id)
            try:
                _one(store, history, api, result, run_id)
            except (ClientRefused, ApiUnavailable) as exc:
                done = sum(len(s.stored) + len(s.linked) for s in report.studies) + len(result.stored) + len(result.linked)
                report.stopped = (
                    f"backfill stopped at {nct_id}: {exc}; {done} registry version{'s' * (done != 1)} stored "
                    "before it are kept, own snapshots untouched; run it again to continue"
                )
                store.record_error(run_id, nct_id, report.stopped)
                report.studies.append(result)
                break
            except (StudyNotFound, BadResponse, FetchError) as exc:
                result.error = str(exc)
                store.record_error(run_id, nct_id, result.error)
            report.studies.append(result)
            if on_study is not None:
                on_study(result)
            if on_progress is not None:
                on_progress(index + 1, len(nct_ids))
        outcome = RunOutcome.FAILED if report.failed else RunOutcome.OK
    finally:
        report.requests = history.requests + api.requests
        counts = {"changed": sum(1 for s in report.studies if s.stored or s.linked),
                  "unchanged": sum(1 for s in report.studies if not (s.stored or s.linked or s.error)),
                  "error": sum(1 for s in report.studies if s.error) + (1 if report.stopped else 0)}
        store.finish_run(run_id, outcome, counts=counts, requests=report.requests)
    return report


def _one(store: Store, history: HistoryClient, api: ApiClient, result: StudyBackfill, run_id: int) -> None:
    nct_id = result.nct_id
    if store.current_version(nct_id) is None:
        fetched = api.get_study(nct_id)
        nct_id = result.nct_id = fetched.nct_id
        saved = store.save(fetched.record, nct_id=fetched.nct_id, source=fetched.source,
                           requested_id=fetched.requested_id, run_id=run_id)
        if saved.error:
            raise BadResponse(f"{nct_id}: {saved.error}")
    index = history.get_history_index(nct_id)
    result.versions = len(index)
    have = store.registry_versions(nct_id)
    for entry in index:
        if entry.version in have:
            continue
        record = history.get_history_version(nct_id, entry.version)
        kind, local, _ = store.store_registry_version(
            nct_id, registry_version=entry.version, registry_date=entry.date,
            module_labels=entry.module_labels, record=record, run_id=run_id,
        )
        if kind == "linked":
            result.linked.append((entry.version, local))
        else:
            result.stored.append(entry.version)
    result.silent_edits = store.flag_silent_edits(nct_id, run_id)
