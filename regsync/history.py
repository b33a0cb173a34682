"""The registry's own history of a study: backfill, the fill-in of missed versions, linking
and silent edits, in one place.

Both ``backfill`` (the command) and the nightly fill-in (a sync that found a study changed)
complete a study's chain from the registry's version index: every registry version regsync
does not hold is read and either *is* an own snapshot (equal after normalisation: that
snapshot takes the registry's number and date, one entry with both sources) or becomes a
version of its own. Each is stored in its own transaction with the study's chain settled
(regsync.judge), so a kill keeps what was stored and the next run continues.

The fill-in spares requests where it can: a registry version submitted on the day of an own
snapshot, alone on that day in both the index and regsync's store, is taken to be that
snapshot without reading it (``in_history`` 0). ``backfill`` reads those too, and where the
registry's text differs, the snapshot was a silent edit: it gives the number back, becomes a
variant of that version (``3a``) and is recorded once as a 'silent-edit' event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from regsync.client import ApiClient, HistoryClient, HistoryEntry
from regsync.errors import ApiUnavailable, BadResponse, ClientRefused, FetchError, StudyNotFound
from regsync.judge import obligation_columns, settle
from regsync.model import RunOutcome, Severity
from regsync.normalize import normalized_hash
from regsync.store import Store
from regsync.text import plural


@dataclass
class StudyHistory:
    """What completing one study's history did."""

    nct_id: str
    versions: int = 0  # in the registry's index
    stored: list[int] = field(default_factory=list)  # registry versions stored as new rows (0-based)
    linked: list[tuple[int, int]] = field(default_factory=list)  # (registry version, own local version)
    claimed: list[int] = field(default_factory=list)  # numbered by date, not read (fill-in)
    silent_edits: list[str] = field(default_factory=list)  # found here
    renumbered: str | None = None  # said once: the study's versions took the registry's numbers
    error: str | None = None

    @property
    def gained(self) -> bool:
        return bool(self.stored or self.linked)

    def line(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        if not self.versions:
            return f"{self.nct_id} has no version history in the registry"
        if not self.stored and not self.linked:
            return f"{self.nct_id} up to date ({plural(self.versions, 'registry version')})"
        parts = []
        if self.stored:
            n = len(self.stored)
            parts.append(f"{plural(n, 'registry version')} stored ({_span([v + 1 for v in self.stored])})")
        parts += [f"own v{own} is registry version {reg + 1}" for reg, own in self.linked]
        return f"{self.nct_id} backfilled: " + ", ".join(parts) + f" of {self.versions}"


@dataclass
class HistoryReport:
    run_id: int
    studies: list[StudyHistory]
    requests: int
    stopped: str | None = None  # why it stopped early (403, 429 exhausted)
    resumed_from: int | None = None  # the stopped backfill run this one continues
    skipped: int = 0  # studies that run had finished, not read again

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
    on_study: Callable[[StudyHistory], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> HistoryReport:
    """Store each study's past versions from the registry's history, every one of them
    read (claimed ones confirmed); a study with no stored version is synced first (its own
    snapshot). Serial, each version in its own transaction: a killed backfill keeps what it
    stored, the next one reads only what is missing. A 403 or a 429 the retries could not
    outlast stops it (one line: every other request would meet the same); the next backfill
    over the same studies resumes where it stopped."""
    run_id = store.begin_run("backfill", mode="ids")
    # A backfill over the same studies after a stopped or killed one continues it: the
    # studies that run finished are not read again (each index costs a request, so a cron
    # job shorter than "every index" would otherwise never reach new work).
    resumed_from, finished = store.begin_backfill(run_id, nct_ids)
    todo = [nct_id for nct_id in nct_ids if nct_id not in finished]
    report = _run(store, history, todo, run_id=run_id, api=api, verify=True, on_study=on_study,
                  on_progress=on_progress, own_run=True)
    report.resumed_from, report.skipped = resumed_from, len(nct_ids) - len(todo)
    return report


def fill_in(
    store: Store,
    history: HistoryClient,
    nct_ids: Sequence[str],
    *,
    run_id: int,
    on_study: Callable[[StudyHistory], None] | None = None,
) -> HistoryReport:
    """After a sync (run ``run_id``): the registry versions regsync never saw of the studies
    owed a fill-in (``Store.history_due``), each cleared once complete. A refusal stops the
    fill-in and leaves the rest owed to a later sync."""
    return _run(store, history, nct_ids, run_id=run_id, api=None, verify=False, on_study=on_study,
                on_progress=None, own_run=False)


def _run(
    store: Store,
    history: HistoryClient,
    nct_ids: Sequence[str],
    *,
    run_id: int,
    api: ApiClient | None,
    verify: bool,
    on_study: Callable[[StudyHistory], None] | None,
    on_progress: Callable[[int, int], None] | None,
    own_run: bool,
) -> HistoryReport:
    before = history.requests + (api.requests if api is not None else 0)
    report = HistoryReport(run_id, [], 0)
    outcome = RunOutcome.INTERRUPTED
    try:
        for index, nct_id in enumerate(nct_ids):
            result = StudyHistory(nct_id)
            try:
                if api is not None and store.current_version(nct_id) is None:
                    _sync_first(store, api, result, run_id)
                complete(store, history, result, run_id=run_id, verify=verify)
                store.clear_history_due(result.nct_id)
                if own_run:
                    store.backfill_study_done(run_id, nct_id)
            except (ClientRefused, ApiUnavailable) as exc:
                done = sum(len(s.stored) + len(s.linked) for s in report.studies) + len(result.stored) + len(result.linked)
                report.stopped = (
                    f"{'backfill' if own_run else 'fill-in'} stopped at {nct_id}: {exc}; "
                    f"{plural(done, 'registry version')} stored before it are kept, own snapshots untouched; "
                    + ("run it again to continue" if own_run else "the next sync continues")
                )
                store.record_error(run_id, nct_id, report.stopped)
                report.studies.append(result)
                break
            except (StudyNotFound, BadResponse, FetchError) as exc:
                result.error = str(exc)
                store.record_error(run_id, nct_id, result.error)
                if own_run:
                    store.backfill_study_done(run_id, nct_id, failed=True)
            report.studies.append(result)
            if on_study is not None:
                on_study(result)
            if on_progress is not None:
                on_progress(index + 1, len(nct_ids))
        outcome = RunOutcome.FAILED if report.failed else RunOutcome.OK
    finally:
        report.requests = history.requests + (api.requests if api is not None else 0) - before
        if own_run:
            # Studies whose history gained a version, the others, and the versions stored: a
            # backfill is counted in versions (status shows them), not as changed studies.
            counts = {"changed": sum(1 for s in report.studies if s.gained and not s.error),
                      "unchanged": sum(1 for s in report.studies if not (s.gained or s.error)),
                      "error": sum(1 for s in report.studies if s.error) + (1 if report.stopped else 0)}
            store.finish_run(run_id, outcome, counts=counts, requests=report.requests,
                             versions_stored=sum(len(s.stored) for s in report.studies))
    return report


def _sync_first(store: Store, api: ApiClient, result: StudyHistory, run_id: int) -> None:
    fetched = api.get_study(result.nct_id)
    result.nct_id = fetched.nct_id
    with store.transaction():
        saved = store.save(fetched.record, nct_id=fetched.nct_id, source=fetched.source,
                           requested_id=fetched.requested_id, run_id=run_id, obligation=obligation_columns)
        if saved.error:
            raise BadResponse(f"{fetched.nct_id}: {saved.error}")
        settle(store, fetched.nct_id)


def complete(store: Store, history: HistoryClient, result: StudyHistory, *, run_id: int, verify: bool) -> None:
    """Complete one study's chain from the registry's history (see the module docstring)."""
    nct_id = result.nct_id
    first_rows = store.chain_rows(nct_id)
    labels_before = {int(r["version"]): r.get("label") for r in first_rows}
    numbered_before = any(
        r["registry_version"] is not None and r.get("label") == str(int(r["registry_version"]) + 1) for r in first_rows
    )
    index = history.get_history_index(nct_id)
    result.versions = len(index)
    if not index:
        return
    _fill_norm_hashes(store, nct_id)
    rows = store.chain_rows(nct_id)
    held = {int(r["registry_version"]): r for r in rows if r["registry_version"] is not None}
    if not verify:
        _claim_by_date(store, nct_id, index, rows, held, result)
        rows = store.chain_rows(nct_id)
        held = {int(r["registry_version"]): r for r in rows if r["registry_version"] is not None}
    wanted = [e for e in index if e.version not in held or (verify and not held[e.version]["in_history"])]
    for entry in wanted:
        record = history.get_history_version(nct_id, entry.version)
        digest = normalized_hash(record)
        with store.transaction():
            rows = store.chain_rows(nct_id)
            _place(store, nct_id, entry, record, digest, rows, result, run_id)
            settle(store, nct_id)
    with store.transaction():
        settled = settle(store, nct_id)
        result.silent_edits = _flag_silent_edits(store, nct_id, run_id)
    if not numbered_before:
        moved = [f"v{old} is now v{settled.labels[v]}" for v, old in labels_before.items()
                 if old is not None and settled.labels.get(v) not in (None, old)]
        if moved and any(r["registry_version"] is not None for r in store.chain_rows(nct_id)):
            result.renumbered = (
                f"{nct_id} is now numbered as the registry numbers its versions: " + ", ".join(moved)
            )


def _fill_norm_hashes(store: Store, nct_id: str) -> None:
    """norm_hash of the study's versions stored without one (sync does not normalise: a
    study that never meets its history never pays for it)."""
    missing = [int(r["version"]) for r in store.chain_rows(nct_id) if r["norm_hash"] is None]
    if missing:
        with store.transaction():
            store.set_norm_hashes(nct_id, {v: normalized_hash(store.record(nct_id, v)) for v in missing})


def _own(row: dict[str, Any]) -> bool:
    return row["source"] != "registry-history"


def _claim_by_date(
    store: Store, nct_id: str, index: list[HistoryEntry], rows: list[dict[str, Any]],
    held: dict[int, dict[str, Any]], result: StudyHistory,
) -> None:
    """Number unread registry versions by date where that cannot be mistaken: the only index
    entry of its day and the only unnumbered own snapshot of that day."""
    per_day: dict[str, list[HistoryEntry]] = {}
    for entry in index:
        if entry.date:
            per_day.setdefault(entry.date[:10], []).append(entry)
    mine: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["registry_version"] is None and _own(row) and row["submitted"]:
            mine.setdefault(str(row["submitted"])[:10], []).append(row)
    with store.transaction():
        for entry in index:
            if entry.version in held or not entry.date:
                continue
            day = entry.date[:10]
            if len(per_day.get(day, [])) == 1 and len(mine.get(day, [])) == 1:
                row = mine[day][0]
                store.set_registry(nct_id, int(row["version"]), registry_version=entry.version,
                                   registry_date=entry.date, module_labels=entry.module_labels, in_history=False)
                result.claimed.append(entry.version)


def _place(
    store: Store, nct_id: str, entry: HistoryEntry, record: dict[str, Any], digest: str,
    rows: list[dict[str, Any]], result: StudyHistory, run_id: int,
) -> None:
    claimed = next((r for r in rows if r["registry_version"] == entry.version), None)
    if claimed is not None:
        if claimed["norm_hash"] == digest:
            store.set_registry(nct_id, int(claimed["version"]), registry_version=entry.version,
                               registry_date=entry.date, module_labels=entry.module_labels, in_history=True)
            return
        # The snapshot numbered by its date is not that version: a silent edit of it.
        store.set_registry(nct_id, int(claimed["version"]), registry_version=None)
        rows = [r for r in rows if r is not claimed] + [{**claimed, "registry_version": None}]
    candidates = [r for r in rows if r["registry_version"] is None and _own(r) and r["norm_hash"] == digest]
    same_day = [r for r in candidates if entry.date and str(r["submitted"] or "")[:10] == entry.date[:10]]
    match = (same_day or candidates)[0] if candidates else None
    if match is not None:
        store.set_registry(nct_id, int(match["version"]), registry_version=entry.version,
                           registry_date=entry.date, module_labels=entry.module_labels, in_history=True)
        result.linked.append((entry.version, int(match["version"])))
        return
    store.insert_history_version(
        nct_id, record, registry_version=entry.version, registry_date=entry.date,
        module_labels=entry.module_labels, norm_hash=digest, run_id=run_id, obligation=obligation_columns,
    )
    result.stored.append(entry.version)


def _flag_silent_edits(store: Store, nct_id: str, run_id: int | None) -> list[str]:
    """Own snapshots that differ from the registry version of their lastUpdateSubmitDate
    while the registry's history holds no other version of that date that equals them:
    content changed without a new version. Each is recorded once as a 'silent-edit' event;
    the details of those new here are returned. Their changes are the chain's (the snapshot
    is a variant right after the version it should equal)."""
    rows = store.chain_rows(nct_id)
    read = [r for r in rows if r["registry_version"] is not None and r["in_history"]]
    found: list[str] = []
    for row in rows:
        if row["registry_version"] is not None or not _own(row) or not row["submitted"]:
            continue
        same_day = [r for r in read if r["registry_date"] and r["registry_date"][:10] == str(row["submitted"])[:10]]
        if not same_day or any(r["norm_hash"] == row["norm_hash"] for r in same_day):
            continue
        claimed = max(same_day, key=lambda r: int(r["registry_version"]))
        changes = [c for _, c, _ in store.judgement(nct_id, int(row["version"]))]
        categories = sorted({str(c.category) for c in changes if c.severity != Severity.ADMIN})
        detail = (
            f"the record fetched {str(row['fetched_at'])[:10]} differs from registry version "
            f"{int(claimed['registry_version']) + 1} (submitted {row['submitted']}) "
            f"with no new version in the registry's history"
            + (f": {', '.join(categories)}" if categories else ": registry bookkeeping only")
        )
        if store.add_event(nct_id, "silent-edit", detail, run_id):
            found.append(detail)
    return found
