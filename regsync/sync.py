"""One sync run: plan what to ask the registry (a pure function), then execute the plan.

``plan_sync`` decides from what is known before any study is fetched: the request (explicit
IDs or not, ``--force``, ``--full``), what the store holds (watchlist, query watches, stored
studies, the last complete run) and the registry's ``dataTimestamp``. ``run_sync`` executes
it: it asks the client for the records, has the store save them a page per transaction, tells
an observer about each new or unchanged study as soon as it is stored and about each changed
one once the run is judged as a whole (the fill-in, regsync.sentinel's registry-change check),
and returns the run's report. The library never prints.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from regsync import judge, timeline
from regsync.client import ApiClient, HistoryClient, Page, record_nct_id
from regsync.errors import ApiUnavailable, ApiUnreachable, FetchError, RegsyncError, StudyNotFound
from regsync.model import Change, ChangeSummary, RunOutcome, StudyStatus, label_value, summarize
from regsync.prepared import READERS, PageReaders
from regsync.store import TIME_FORMAT, Fetched, SaveResult, Store
from regsync.text import plural

if TYPE_CHECKING:
    from regsync.history import HistoryReport, StudyHistory
    from regsync.notify import Settings
    from regsync.obligations import BecameOverdue
    from regsync.sentinel import Finding

log = logging.getLogger(__name__)

# Share of the watchlist re-fetched on every incremental run even though the registry says it
# has not changed: catches silent edits, so every study is re-verified within 1/share runs.
DEFAULT_RECHECK_SHARE = 0.02

LIGHT_FIELDS = "NCTId,LastUpdatePostDate"

# Up to this many watched studies, fetching them all (one filter.ids request) is cheaper than
# asking the registry what changed first.
INCREMENTAL_MIN_STUDIES = 20

# After this many requests in a row fail even with retries, the registry is down: the rest of
# the run is reported as not attempted instead of spending the retry budget on every study.
OUTAGE_AFTER = 3

# From this many studies to fetch (two batches of filter.ids or more), their pages are read
# and prepared in processes beside the writer (regsync.prepared), which then only stores:
# fewer, and forking would cost more than it saves.
PAGE_READERS_FROM = 1000

# A study the registry stopped returning is reported once, then asked for again only this
# often (and by the rolling re-check of an incremental run) in case it comes back.
REMOVED_RECHECK = timedelta(days=7)


# -- the plan ------------------------------------------------------------------------------


class SyncMode(StrEnum):
    IDS = "ids"  # the IDs given, whatever the watchlist says
    FULL = "full"  # every watched study
    INCREMENTAL = "incremental"  # what the registry says changed, never-stored ones, a re-check
    NOTHING_TO_DO = "nothing-to-do"  # the registry's data has not moved: nothing is fetched


@dataclass(frozen=True)
class SyncRequest:
    """What was asked for. ``default_ids`` are synced as if watched when neither IDs nor any
    watch (study or query) is given: the CLI passes its default study."""

    ids: tuple[str, ...] = ()
    force: bool = False
    full: bool = False  # implies force
    default_ids: tuple[str, ...] = ()
    recheck_share: float = DEFAULT_RECHECK_SHARE

    @property
    def mode(self) -> SyncMode:
        """The mode asked for; the plan may still turn it into full or nothing-to-do."""
        if self.ids:
            return SyncMode.IDS
        return SyncMode.FULL if self.full else SyncMode.INCREMENTAL


@dataclass(frozen=True)
class LastRun:
    """The last complete run: its start and the registry data it saw."""

    started_at: str
    data_timestamp: str | None
    id: int | None = None  # the run's sequence number in the ledger


# The whole-registry watch (`regsync watch add --all`, issue 23) is the query watch with this
# expression: a user's --query is never empty, so it cannot be typed by mistake. It watches
# every study: an incremental run fetches every study the registry updated since the last
# complete run (new ones included), with no listing of its own; a full run lists the registry.
WHOLE_REGISTRY = ""


@dataclass(frozen=True)
class WatchQuery:
    id: int
    expr: str
    added_at: str
    added_after_run: int | None = None  # the newest run in the ledger when it was added

    @property
    def whole_registry(self) -> bool:
        return self.expr == WHOLE_REGISTRY

    def added_since(self, last: LastRun) -> bool:
        """Added after ``last`` started: by run sequence when known (a clock set back would
        make a new watch look older than the run), else by timestamp."""
        if self.added_after_run is not None and last.id is not None:
            return self.added_after_run >= last.id
        return self.added_at >= last.started_at


@dataclass(frozen=True)
class SyncState:
    """What the store holds, read once before planning."""

    watched: tuple[str, ...] = ()
    checked_order: tuple[str, ...] = ()  # every stored study, least recently verified first
    queries: tuple[WatchQuery, ...] = ()
    last_run: LastRun | None = None
    # Removed from the registry, reported, and not due for their weekly check: left out.
    resting: frozenset[str] = frozenset()
    # Removed from the registry and due for their weekly check.
    removed_due: frozenset[str] = frozenset()
    # Explicit IDs that are stored: the dataTimestamp of the run that last verified each.
    checked_data: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, store: Store, now: datetime | None = None) -> SyncState:
        last = store.last_complete_run()
        resting, due = _removed_split(store.removed_studies(), now or datetime.now(UTC))
        queries = tuple(WatchQuery(q["id"], q["expr"], q["added_at"], q["added_after_run"]) for q in store.queries())
        checked_order = tuple(store.checked_order())
        watched = tuple(store.watch_ids())
        if any(q.whole_registry for q in queries):  # every stored study is watched too
            watched = tuple(dict.fromkeys(watched + checked_order))
        return cls(
            watched=watched,
            checked_order=checked_order,
            queries=queries,
            last_run=LastRun(last["started_at"], last["data_timestamp"], last["id"]) if last else None,
            resting=resting,
            removed_due=due,
        )

    @classmethod
    def read_ids(cls, store: Store, ids: Sequence[str]) -> SyncState:
        """What planning needs for explicit IDs: when each was last verified."""
        return cls(checked_data=store.checked_data_timestamps(ids))


def _removed_split(
    removed: Mapping[str, tuple[str, str]], now: datetime
) -> tuple[frozenset[str], frozenset[str]]:
    """(resting, due) among removed studies: due once a week since the last check, or when
    that check is dated in the future (a clock that was ahead must not silence it for years)."""
    resting, due = set(), set()
    for nct_id, (_removed_at, last_checked) in removed.items():
        try:
            checked = datetime.strptime(last_checked, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            due.add(nct_id)
            continue
        if checked > now or now - checked >= REMOVED_RECHECK:
            due.add(nct_id)
        else:
            resting.add(nct_id)
    return frozenset(resting), frozenset(due)


@dataclass(frozen=True)
class Plan:
    """What a run asks the registry, in order: the query watches (studies that newly match
    join the watchlist and are fetched), then, for an incremental run, which studies were
    updated on or after ``since``; then the records of ``fetch_list(...)``."""

    mode: SyncMode
    ids: tuple[str, ...] = ()  # ids: these; full: every watched study
    queries: tuple[WatchQuery, ...] = ()
    since: str | None = None  # incremental: ask what changed on or after this date
    watched: frozenset[str] = frozenset()  # incremental: the updated ones among these count
    unstored: tuple[str, ...] = ()  # incremental: watched, never stored: always fetched
    recheck_order: tuple[str, ...] = ()  # incremental: stored and watched, least recently verified first
    recheck: int = 0  # incremental: how many of recheck_order are re-verified
    removed_due: tuple[str, ...] = ()  # incremental: removed studies due for their weekly check
    every_update: bool = False  # incremental: the whole registry is watched, every updated study counts

    def fetch_list(self, *, updated: Iterable[str] = (), newcomers: Iterable[str] = ()) -> list[str]:
        """The studies to fetch, given what the registry said was ``updated`` since
        ``since`` (incremental) and the ``newcomers`` the query watches brought in."""
        new = list(newcomers)
        if self.mode is SyncMode.NOTHING_TO_DO:
            return []
        if self.mode is SyncMode.IDS:
            return list(self.ids)
        if self.mode is SyncMode.FULL:
            return sorted(set(self.ids) | set(new))
        fetch = {n for n in updated if self.every_update or n in self.watched} | set(self.unstored) | set(new) | set(self.removed_due)
        picked = 0
        for nct_id in self.recheck_order:
            if picked >= self.recheck:
                break
            if nct_id not in fetch:
                fetch.add(nct_id)
                picked += 1
        return sorted(fetch)


def plan_sync(request: SyncRequest, state: SyncState, data_timestamp: str | None) -> Plan:
    """Decide what to ask the registry. Pure: no HTTP, no database.

    - IDs given: those (normalised and deduplicated by the caller), nothing else; nothing
      to do when not forced and every one is stored and was last verified under this
      ``dataTimestamp`` (or a later one).
    - Otherwise the watchlist, else ``default_ids`` when there is no watch at all.
    - Nothing to do (one request, the /version already made) when not forced, the last
      complete run saw the same ``dataTimestamp``, no watched study waits to be stored for
      the first time and no query watch was added since that run.
    - Incremental when there are more than INCREMENTAL_MIN_STUDIES watched studies, a last
      complete run with a usable data date and no ``--full``: ask what was updated since
      that date minus one day, plus never-stored studies and a rolling re-check of the
      ``recheck_share`` least recently verified. Otherwise full: every watched study.
    - A study removed from the registry (already reported) is left out unless due for its
      weekly check (``removed_due``), or ``--full``; the rolling re-check still includes it.
    """
    force = request.force or request.full
    if request.ids:
        ids = tuple(dict.fromkeys(request.ids))
        if (
            not force
            and data_timestamp is not None
            and all((seen := state.checked_data.get(n)) is not None and seen >= data_timestamp for n in ids)
        ):
            return Plan(SyncMode.NOTHING_TO_DO, ids=ids)
        return Plan(SyncMode.IDS, ids=ids)
    watched = state.watched
    if not watched and not state.queries:
        watched = tuple(request.default_ids)
    stored = set(state.checked_order)
    unstored = tuple(n for n in watched if n not in stored)
    last = state.last_run
    if (
        not force
        and last is not None
        and data_timestamp is not None
        and last.data_timestamp == data_timestamp
        and not unstored
        and not any(q.added_since(last) for q in state.queries)
    ):
        return Plan(SyncMode.NOTHING_TO_DO)
    since = _since(last.data_timestamp) if last and last.data_timestamp and not request.full else None
    if since is None or len(watched) <= INCREMENTAL_MIN_STUDIES:
        skip = frozenset() if request.full else state.resting
        return Plan(SyncMode.FULL, ids=tuple(n for n in watched if n not in skip), queries=state.queries)
    watched_set = frozenset(watched)
    share = request.recheck_share
    return Plan(
        SyncMode.INCREMENTAL,
        # The whole-registry watch needs no listing of its own here: the listing of what was
        # updated since the last run names every study it brings in.
        queries=tuple(q for q in state.queries if not q.whole_registry),
        every_update=any(q.whole_registry for q in state.queries),
        since=since,
        watched=watched_set,
        unstored=unstored,
        recheck_order=tuple(n for n in state.checked_order if n in watched_set),
        recheck=math.ceil(len(watched) * share) if share > 0 else 0,
        removed_due=tuple(n for n in watched if n in state.removed_due),
    )


def _since(data_timestamp: str) -> str | None:
    """The date of a dataTimestamp minus one day: studies posted on or after it may be new."""
    try:
        day = date.fromisoformat(data_timestamp[:10])
    except ValueError:
        return None
    return (day - timedelta(days=1)).isoformat()


# -- outcomes and the report ----------------------------------------------------------------


@dataclass(frozen=True)
class StudyOutcome:
    """What a run did with one study, told to ``on_outcome`` once it is stored."""

    nct_id: str  # canonical; "-" for a failure that concerns no study (a query watch)
    status: StudyStatus
    version: str | int | None = None  # as the chain names it ('5', '5a'; see regsync.chain)
    previous_version: str | int | None = None
    requested_id: str | None = None
    error: str | None = None
    changes: list[Change] = field(default_factory=list)
    # removed: when the removal was first seen, if an earlier run reported it (so this one
    # stays quiet); any other status: the study is back in the registry, removed since then.
    removed_since: str | None = None
    not_attempted: tuple[str, ...] = ()  # one error line for every study an outage skipped
    filled_in: int = 0  # registry versions regsync had missed, filled in before it (history, not news)
    submitted: str | None = None  # the new version's lastUpdateSubmitDate
    posted: str | None = None  # its lastUpdatePostDate

    @property
    def is_back(self) -> bool:
        return self.removed_since is not None and self.status is not StudyStatus.REMOVED

    @property
    def is_alias(self) -> bool:
        return bool(self.requested_id) and self.requested_id != self.nct_id

    @property
    def summary(self) -> ChangeSummary:
        return summarize(self.changes)

    def to_dict(self) -> dict[str, Any]:
        """One ``--json`` line of ``regsync sync``."""
        out: dict[str, Any] = {
            "nct_id": self.nct_id,
            "requested_id": self.requested_id or self.nct_id,
            "status": self.status.value,
            "version": label_value(self.version),
            "previous_version": label_value(self.previous_version),
            "error": self.error,
        }
        if self.status in (StudyStatus.NEW, StudyStatus.CHANGED):
            out["submitted"], out["posted"] = self.submitted, self.posted
        if self.filled_in:
            out["filled_in"] = self.filled_in
        if self.status is StudyStatus.CHANGED:
            out.update(self.summary.to_dict())
        if self.removed_since is not None:
            out["removed_since"] = self.removed_since
        if self.not_attempted:
            out["not_attempted"] = list(self.not_attempted)
        return out

    @classmethod
    def saved(cls, result: SaveResult) -> StudyOutcome:
        return cls(
            result.nct_id, result.status, result.version, result.previous_version,
            requested_id=result.requested_id, changes=result.changes, removed_since=result.removed_since,
            submitted=result.submitted, posted=result.posted,
        )


def _no_counts() -> dict[str, int]:
    return {s.value: 0 for s in StudyStatus}


@dataclass(frozen=True)
class RunReport:
    """How a run went; returned by ``run_sync`` and recorded in the ledger."""

    run_id: int
    mode: SyncMode
    outcome: RunOutcome
    data_timestamp: str | None = None
    counts: Mapping[str, int] = field(default_factory=_no_counts)  # by StudyStatus
    requests: int = 0
    overdue: tuple[BecameOverdue, ...] = ()  # trials whose results became overdue (said once)
    history: HistoryReport | None = None  # the fill-in of missed registry versions, if any
    notify_failures: tuple[str, ...] = ()  # one line per channel that could not deliver
    queries: tuple[QueryMatch, ...] = ()  # each query watch asked this run, in watch order
    # Listings that stopped short of the registry's totalCount: one line each
    # ("received 1,000 of 3,454 studies for query ..."); the run is incomplete.
    shortfalls: tuple[str, ...] = ()
    # Structural changes the registry made across a large share of the run's studies, each
    # said once ("the registry changed ... in 1,234 studies"), not flagged per study.
    registry_changes: tuple[Finding, ...] = ()

    @property
    def failed(self) -> bool:
        """A study or the run failed: exit 1."""
        return self.counts.get(StudyStatus.ERROR, 0) > 0 or self.outcome in (RunOutcome.FAILED, RunOutcome.INCOMPLETE)


@dataclass(frozen=True)
class QueryMatch:
    """What a query watch matched on this run: ``matched`` studies (watched before or not),
    ``added`` of them new to the watchlist. 0 matched is worth a warning: a mistyped
    expression would otherwise watch nothing, silently, for ever."""

    expr: str
    matched: int
    added: int


OnOutcome = Callable[[StudyOutcome], None]
OnProgress = Callable[[int, int | None], None]  # (studies done so far, total if known)


# -- execution ----------------------------------------------------------------------------------


def _post_date(record: dict[str, Any]) -> str:
    status = record.get("protocolSection", {}).get("statusModule") if isinstance(record.get("protocolSection"), dict) else None
    value = status.get("lastUpdatePostDateStruct") if isinstance(status, dict) else None
    day = value.get("date") if isinstance(value, dict) else None
    return day if isinstance(day, str) else ""


def _one_copy_each(studies: Sequence[Fetched]) -> Sequence[Fetched]:
    """One record per study of a page. An answer holding two copies of one study (paging
    over data that moved, a batch naming it twice) keeps the copy last updated (the
    registry's lastUpdatePostDate), the later in the answer on a tie; differing copies are
    logged. Otherwise each copy would be stored and counted as a study of its own."""
    kept: dict[str, int] = {}
    differing: dict[str, int] = {}
    for index, study in enumerate(studies):
        before = kept.get(study.nct_id)
        if before is None:
            kept[study.nct_id] = index
            continue
        if study.record != studies[before].record:
            differing[study.nct_id] = differing.get(study.nct_id, 1) + 1
        if _post_date(study.record) >= _post_date(studies[before].record):
            kept[study.nct_id] = index
    if len(kept) == len(studies):
        return studies
    for nct_id, copies in differing.items():
        log.warning(
            "%s: %d differing copies in one answer; kept the one last updated %s",
            nct_id, copies, _post_date(studies[kept[nct_id]].record) or "(no date)",
        )
    return [studies[i] for i in sorted(kept.values())]


def place(store: Store, result: SaveResult, run_id: int) -> None:
    """A changed study's new version in its chain: the registry-history version it equals
    takes its payload (one entry, both sources), else it is judged where it belongs. In the
    transaction that stored it (a sync's page, a seed's batch)."""
    assert result.version is not None
    rows = store.chain_rows(result.nct_id)
    history_rows = [r for r in rows if r["source"] == "registry-history"]
    if history_rows:
        from regsync.normalize import normalized_hash

        digest = normalized_hash(store.record(result.nct_id, result.version))
        same = [r for r in history_rows if r["norm_hash"] == digest]
        if same:
            store.adopt(result.nct_id, result.version, int(same[-1]["version"]))
            object.__setattr__(result, "version", int(same[-1]["version"]))
    settled = judge.settle(store, result.nct_id)
    for _, cause in settled.failed:
        # Judging never costs a stored version: it is kept unjudged and the next run (or
        # reclassify) judges it; the ledger says so once for this run.
        store.record_error(
            run_id, result.nct_id,
            f"{result.nct_id}: version stored, its changes not judged ({cause}); the next run judges it",
        )


def outcome_of(store: Store, result: SaveResult) -> StudyOutcome:
    """What to tell of a stored study, named and judged as its chain now stands."""
    outcome = StudyOutcome.saved(result)
    if result.status is StudyStatus.UNCHANGED:  # no query: the study row keeps the label
        return StudyOutcome(result.nct_id, result.status, result.label or result.version,
                            requested_id=result.requested_id, removed_since=result.removed_since)
    if result.status is not StudyStatus.CHANGED:
        return outcome  # new: v1, dated from the record (no query)
    chain = timeline.entries(store, result.nct_id)
    placed = {e.version: e for e in chain}
    entry = placed.get(result.version or 0)
    if entry is None:
        return outcome
    if result.status is StudyStatus.UNCHANGED:
        return StudyOutcome(result.nct_id, result.status, entry.label, requested_id=result.requested_id,
                            removed_since=result.removed_since)
    before = chain[entry.position - 2] if entry.position > 1 else None
    changes = [c.change for c in store.changes_to(result.nct_id, [entry.version])]
    was = placed.get(result.previous_version or 0)
    filled = (entry.position - was.position - 1) if was is not None and was.position < entry.position else 0
    return StudyOutcome(
        result.nct_id, result.status, entry.label, before.label if before else None,
        requested_id=result.requested_id, changes=changes, removed_since=result.removed_since,
        filled_in=max(filled, 0), submitted=entry.submitted, posted=entry.posted,
    )


def run_sync(
    store: Store,
    client: ApiClient,
    ids: Sequence[str] = (),
    *,
    force: bool = False,
    full: bool = False,
    default_ids: Sequence[str] = (),
    recheck_share: float = DEFAULT_RECHECK_SHARE,
    history: HistoryClient | None = None,
    notify: Settings | None = None,
    today: date | None = None,
    on_outcome: OnOutcome | None = None,
    on_progress: OnProgress | None = None,
    on_history: Callable[[StudyHistory], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    command: str = "sync",
    now: Callable[[], datetime] | None = None,
) -> RunReport:
    """Sync ``ids`` (normalised NCT IDs), else the watchlist and query watches, else
    ``default_ids``; return the report. ``store`` must be open for writing.

    ``on_outcome`` hears about each study once it is stored (a page commits before its
    studies are told; a changed study once the run is judged as a whole), ``on_progress``
    how many studies are done out of how many. A failure of the run as a whole (the
    registry would not say what changed) is recorded as failed and raised; an interruption
    (Ctrl-C, any unexpected error) is recorded as interrupted and raised. Either way, what was stored stays stored. ``clock`` (monotonic) times the
    run; ``command`` is what the ledger calls it (``regsync status`` shows it: "sync",
    "watch add --sync", ...).

    Everything ``regsync sync`` does: the records stored a page per transaction, each new
    version placed in its study's chain and judged in the same transaction; then, with
    ``history`` (a HistoryClient), the registry versions regsync missed of every changed
    study filled in (regsync.history; owed ones from an earlier run too), a refusal being
    one warning in ``report.history``; then the structural changes the registry made
    across a large share of the run's studies recorded as the registry's, once
    (``report.registry_changes``, regsync.sentinel); then the changed studies told with
    their final changes; then trials whose results became overdue on ``today`` (default:
    today, UTC) noted once (``report.overdue``); then, with ``notify``, the run's findings
    recorded in the outbox in the transaction that records how the run ended, and what the
    outbox holds that is due delivered, older runs' messages first (``report.notify_failures``). ``now``
    (UTC, default the system's) dates the outbox and its back-off: retries are recorded,
    never slept.
    """
    request = SyncRequest(
        ids=tuple(ids), force=force, full=full, default_ids=tuple(default_ids),
        recheck_share=recheck_share,
    )
    wall = now or (lambda: datetime.now(UTC))
    run = _Run(store, client, on_outcome, on_progress, clock)
    run.history_client, run.on_history = history, on_history
    if notify is not None and notify.enabled:
        settings = notify

        def announce(run_id: int) -> None:
            from regsync import notify as notifying

            found = notifying.findings(store, run_id)
            if found:
                notifying.record(store, found, settings, run_id=run_id, now=wall())

        run.announce = announce
    report = run.execute(request, command)
    from regsync.obligations import note_overdue

    overdue = tuple(note_overdue(store, today or wall().date(), report.run_id))
    failures: tuple[str, ...] = ()
    if notify is not None and notify.enabled:
        from regsync import notify as notifying

        # Every sync, a nothing-to-do one too: what an earlier run could not deliver (a
        # kill after its commit, a receiver down) goes first, then this run's.
        failures = tuple(notifying.deliver_pending(store, notify, now=wall(), clock=clock))
    return RunReport(report.run_id, report.mode, report.outcome, report.data_timestamp, report.counts,
                     report.requests, overdue, run.history_report, failures, tuple(run.query_matches),
                     tuple(run.shortfalls), tuple(run.registry_changes))


class _Run:
    """The state of one execution: counts, the outage streak, progress."""

    def __init__(
        self,
        store: Store,
        client: ApiClient,
        on_outcome: OnOutcome | None,
        on_progress: OnProgress | None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.clock = clock
        self.started = clock()
        self.not_attempted: list[str] = []
        self.last_failure = ""
        self.client = client
        self.history_client: HistoryClient | None = None
        self.on_history: Callable[[StudyHistory], None] | None = None
        self.history_report: HistoryReport | None = None
        self.held: list[SaveResult] = []  # changed studies, told once their chain is whole
        self.on_outcome = on_outcome
        self.on_progress = on_progress
        self.counts = _no_counts()
        self.run_id = 0
        self.data_timestamp: str | None = None
        self.done = 0
        self.total: int | None = None
        self.outage = 0
        self.requests_before = client.requests
        self.query_matches: list[QueryMatch] = []
        self.shortfalls: list[str] = []
        self.registry_changes: list[Finding] = []
        # Records the run's notifications in the outbox, in the transaction that records how
        # the run ended: a run recorded as ended has its messages recorded, none sent yet.
        self.announce: Callable[[int], None] | None = None

    def execute(self, request: SyncRequest, command: str = "sync") -> RunReport:
        mode = request.mode
        self.run_id = self.store.begin_run(command, mode.value)
        try:
            # What an earlier run stored but did not judge (a kill, a failing judge, an upgrade).
            judge.settle_pending(self.store)
            self.data_timestamp = self._data_timestamp()
            state = SyncState.read_ids(self.store, request.ids) if request.ids else SyncState.read(self.store)
            plan = plan_sync(request, state, self.data_timestamp)
            if plan.mode is SyncMode.NOTHING_TO_DO:
                # Neither incremental nor full: nothing was fetched (issue 22 item 11).
                return self._finish(RunOutcome.NOTHING_TO_DO, plan.mode, complete=mode is not SyncMode.IDS)
            mode = plan.mode
            newcomers = self._expand_queries(plan.queries)
            updated = (
                self._updated_since(plan.since, None if plan.every_update else plan.watched) if plan.since else set()
            )
            self._fetch(plan.fetch_list(updated=updated, newcomers=newcomers))
            self._fill_in()
            self._registry_sentinel()
            self._tell_held()
            self._not_attempted()
        except RegsyncError as exc:
            # The run as a whole could not go on (the registry would not say what changed):
            # recorded as failed, with the cause; the CLI reports it as one line.
            self.store.record_error(self.run_id, None, str(exc))
            self.counts[StudyStatus.ERROR] += 1
            self._finish(RunOutcome.FAILED, mode, announce=False)
            raise
        except BaseException:
            # Ctrl-C, or a failure nobody expected: the ledger says so; every stored page
            # stays whole (a page is one transaction).
            self._finish(RunOutcome.INTERRUPTED, mode, announce=False)
            raise
        if self.shortfalls:
            # A listing the registry cut short is never a quiet success: what it did not list
            # was not checked, so the next run may not go incremental from this one either.
            for line in self.shortfalls:
                self.store.record_error(self.run_id, None, line)
            return self._finish(RunOutcome.INCOMPLETE, mode)
        if not self.counts[StudyStatus.ERROR]:
            return self._finish(RunOutcome.OK, mode)
        # "partial" promises that the others are stored: with none synced, the run failed.
        synced = sum(self.counts[s] for s in StudyStatus if s is not StudyStatus.ERROR)
        return self._finish(RunOutcome.PARTIAL if synced else RunOutcome.FAILED, mode)

    def _finish(
        self, outcome: RunOutcome, mode: SyncMode, *, complete: bool | None = None, announce: bool = True
    ) -> RunReport:
        requests = self.client.requests - self.requests_before
        if complete is None:
            complete = outcome in (RunOutcome.OK, RunOutcome.NOTHING_TO_DO) and mode is not SyncMode.IDS
        with self.store.transaction():
            if announce and self.announce is not None:
                self.announce(self.run_id)
            self.store.finish_run(
                self.run_id, outcome, mode=mode.value, complete=complete,
                data_timestamp=self.data_timestamp, counts=self.counts, requests=requests,
                duration=self.clock() - self.started,
            )
        return RunReport(self.run_id, mode, outcome, self.data_timestamp, dict(self.counts), requests)

    # -- asking what to fetch ---------------------------------------------------------------

    def _data_timestamp(self) -> str | None:
        try:
            value = self.client.get_version().get("dataTimestamp")
        except ApiUnreachable as exc:
            # No attempt reached a server: every study would fail the same way, each after
            # its own retries (3 studies on a dead port took 44 s). The run stops here.
            raise ApiUnreachable(f"{exc}; nothing fetched") from exc
        except FetchError as exc:
            # Not fatal: without it the run just cannot skip work or go incremental next time.
            log.warning("could not read the API's dataTimestamp: %s", exc)
            return None
        if value is not None and not isinstance(value, str):
            # A list or object cannot say whether the data moved: treated as not given.
            log.warning("the API's dataTimestamp is not text (%s); ignored", type(value).__name__)
            return None
        return value

    def _expand_queries(self, queries: Sequence[WatchQuery]) -> list[str]:
        """Studies that newly match a query watch join the watchlist (and are fetched)."""
        if not queries:
            return []
        watched = set(self.store.watch_ids())
        newcomers: list[str] = []
        for query in queries:
            # Only IDs are asked for: query.* answers may carry <mark> highlighting in text
            # fields, so records themselves are always fetched by ID.
            found: list[str] = []
            matched: set[str] = set()
            params, what = (({"fields": "NCTId"}, "the whole registry") if query.whole_registry
                            else ({"query.term": query.expr, "fields": "NCTId"}, f"query {query.expr!r}"))
            try:
                for page in self._listing(params, what):
                    for study in page.studies:
                        nct_id = record_nct_id(study)
                        if nct_id:
                            matched.add(nct_id)
                        if nct_id and nct_id not in watched:
                            found.append(nct_id)
                            watched.add(nct_id)
            except FetchError as exc:
                self._error(None, f"query watch {query.expr!r}: {exc}")
                continue
            self.store.query_matched(query.id, len(matched), self.run_id)
            self.query_matches.append(QueryMatch(query.expr, len(matched), len(found)))
            if found:
                self.store.watch_add(found, query_id=query.id)
                newcomers += found
            log.info("query %r matched %s, %d new", query.expr, plural(len(matched), "study", "studies"), len(found))
        return newcomers

    def _listing(self, params: dict[str, str], what: str) -> Iterator[Page]:
        """``iter_pages`` with the registry's totalCount asked for and checked: a listing that
        ends with fewer distinct studies than the registry said it holds (a client reading
        page tokens wrong, a cap nobody announced) is a shortfall, never a quiet success. An
        empty page after an exactly full one is only the end."""
        total: int | None = None
        seen: set[str] = set()
        for page in self.client.iter_pages({**params, "countTotal": "true"}):
            if total is None:
                total = page.total
            seen.update(n for n in (record_nct_id(s) for s in page.studies) if n)
            yield page
        if total is not None and len(seen) < total:
            self.shortfalls.append(
                f"received {len(seen):,} of {total:,} studies for {what}: the registry's listing stopped short; "
                "the run is incomplete"
            )

    def _updated_since(self, since: str, watched: frozenset[str] | None) -> set[str]:
        """Which watched studies (``None``: the whole registry is watched, every study) the
        registry says were updated on or after ``since`` (light fields only; the watchlist
        itself is never sent). A failure here fails the run."""
        updated: set[str] = set()
        for page in self._listing(
            {"filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since},MAX]", "fields": LIGHT_FIELDS},
            f"the studies updated since {since}",
        ):
            for study in page.studies:
                nct_id = record_nct_id(study)
                if nct_id is not None and (watched is None or nct_id in watched):
                    updated.add(nct_id)
        if watched is None:
            log.info("incremental since %s: %d studies of the registry updated", since, len(updated))
        else:
            log.info("incremental since %s: %d of %d watched studies updated", since, len(updated), len(watched))
        return updated

    # -- fetching and storing ------------------------------------------------------------------

    def _fetch(self, nct_ids: list[str]) -> None:
        self.total = len(nct_ids)
        if len(nct_ids) == 1:
            # One study: GET /studies/{id} says 404 or alias directly.
            self._fetch_one(nct_ids[0])
            return
        if len(nct_ids) < PAGE_READERS_FROM:
            self._fetch_batches(nct_ids, None)
            return
        with PageReaders(self.store.codec) as readers:
            self._fetch_batches(nct_ids, readers)

    def _fetch_batches(self, nct_ids: list[str], readers: PageReaders | None) -> None:
        batches = self.client.iter_study_batches(nct_ids, reader=readers, ahead=READERS if readers else 1)
        for page in batches:
            if page.error is not None:
                if isinstance(page.error, ApiUnavailable):
                    self.outage += 1
                    self.last_failure = str(page.error)
                log.warning("batch of %d failed (%s); fetching the rest one by one", len(page.batch), page.error)
            elif page.studies:
                self.outage = 0
                self._store_page(page.studies)
            for nct_id in page.missing:
                self._fetch_one(nct_id)
            # Let go before the next page is parsed: one page in memory, not two.
            del page

    def _fetch_one(self, nct_id: str) -> None:
        if self.outage >= OUTAGE_AFTER:
            self.not_attempted.append(nct_id)  # told once, as one line, by _not_attempted
            return
        try:
            fetched = self.client.get_study(nct_id)
        except StudyNotFound as exc:
            self.outage = 0
            self._not_found(nct_id, exc)
            return
        except ApiUnavailable as exc:
            self.outage += 1
            self.last_failure = str(exc)
            self._error(nct_id, str(exc))
            return
        except FetchError as exc:
            self.outage = 0
            self._error(nct_id, str(exc))
            return
        self.outage = 0
        self._store_page([fetched])

    def _store_page(self, studies: Sequence[Fetched]) -> None:
        studies = _one_copy_each(studies)
        with self.store.transaction():  # the page, its place in the chains and its judgement
            results = self.store.save_page(
                studies, data_timestamp=self.data_timestamp, run_id=self.run_id,
                obligation=judge.obligation_columns,
            )
            changed = [r for r in results if r.status is StudyStatus.CHANGED]
            for result in changed:
                self._place(result)
            if self.history_client is not None:
                self.store.mark_history_due(r.nct_id for r in changed)
        for result in results:
            if result.status is StudyStatus.ERROR:
                # One record the store could not take (a malformed value): its error alone.
                self._error(result.nct_id, result.error or "record not stored")
            elif result.status is StudyStatus.CHANGED:
                # Told once the run is judged as a whole (the fill-in, the sentinel), with its
                # final changes.
                self.held.append(result)
            else:
                self._tell(self._outcome(result))

    def _place(self, result: SaveResult) -> None:
        place(self.store, result, self.run_id)

    def _outcome(self, result: SaveResult) -> StudyOutcome:
        return outcome_of(self.store, result)

    def _fill_in(self) -> None:
        """The registry versions regsync missed, for every study owed them."""
        if self.history_client is not None:
            due = self.store.history_due()
            if due:
                from regsync.history import fill_in

                self.history_report = fill_in(self.store, self.history_client, due, run_id=self.run_id)

    def _registry_sentinel(self) -> None:
        """Structural changes the registry made across the run's studies (regsync.sentinel):
        recorded once as the registry's, before any changed study is told or notified."""
        fetched = sum(self.counts[s] for s in (StudyStatus.NEW, StudyStatus.CHANGED, StudyStatus.UNCHANGED))
        self.registry_changes = judge.registry_sentinel(
            self.store, self.run_id, [r.nct_id for r in self.held], fetched + len(self.held)
        )

    def _tell_held(self) -> None:
        """The changed studies, with the changes of their chains as they now stand; then what
        the fill-in found."""
        held, self.held = self.held, []
        for result in held:
            self._tell(self._outcome(result))
        # What the fill-in found (renumbering, silent edits, a study's error) after the lines
        # of the studies it completed.
        if self.on_history is not None and self.history_report is not None:
            for study in self.history_report.studies:
                self.on_history(study)

    def _not_found(self, nct_id: str, exc: StudyNotFound) -> None:
        """A 404 for a study we hold is a removal (an event, data kept); otherwise an error."""
        version = self.store.current_version(nct_id)
        if version is None:
            self._error(nct_id, str(exc))
            return
        if self.store.mark_removed(nct_id, self.run_id):
            self._tell(StudyOutcome(
                nct_id, StudyStatus.REMOVED, version,
                error="no longer returned by the registry (HTTP 404); stored versions kept",
            ))
            return
        since = str(self.store.study(nct_id)["removed_at"])
        self._tell(StudyOutcome(
            nct_id, StudyStatus.REMOVED, version, removed_since=since,
            error="still not returned by the registry (HTTP 404); stored versions kept",
        ))

    def _not_attempted(self) -> None:
        """One error for every study an outage left unasked: one line, one ledger row."""
        skipped = self.not_attempted
        if not skipped:
            return
        n = len(skipped)
        message = (
            f"{plural(n, 'study', 'studies')} not attempted: the registry is unreachable "
            f"({plural(self.outage, 'request')} in a row failed; the last: {self.last_failure})"
        )
        self.store.record_error(self.run_id, None, message)
        self.counts[StudyStatus.ERROR] += n - 1  # _tell counts the one outcome
        self.done += n - 1
        self._tell(StudyOutcome("-", StudyStatus.ERROR, error=message, not_attempted=tuple(skipped)))

    def _error(self, nct_id: str | None, message: str) -> None:
        self.store.record_error(self.run_id, nct_id, message)
        version = self.store.current_version(nct_id) if nct_id else None
        self._tell(StudyOutcome(nct_id or "-", StudyStatus.ERROR, version, error=message))

    def _tell(self, outcome: StudyOutcome) -> None:
        self.counts[outcome.status] += 1
        self.done += 1
        if self.on_outcome:
            self.on_outcome(outcome)
        if self.on_progress:
            self.on_progress(self.done, self.total)
