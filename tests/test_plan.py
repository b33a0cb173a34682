"""What a sync asks the registry, decided without HTTP or a database: ``plan_sync``.

Each test states the request, what the store holds and the registry's dataTimestamp, and
asserts the plan: its mode, and the exact studies fetched once the registry has said which
ones were updated.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from regsync.sync import (
    INCREMENTAL_MIN_STUDIES,
    LastRun,
    Plan,
    SyncMode,
    SyncRequest,
    SyncState,
    WatchQuery,
    plan_sync,
)

TS0 = "2026-09-04T09:00:06"
TS1 = "2026-09-05T09:00:06"
LAST = LastRun(started_at="2026-09-04T10:00:00.000000Z", data_timestamp=TS0)
DEFAULT = ("NCT07240987",)


def ids(n: int, start: int = 0) -> tuple[str, ...]:
    return tuple(f"NCT{10000000 + i:08d}" for i in range(start, start + n))


def stored(watched: tuple[str, ...]) -> SyncState:
    """Every watched study stored, verified in ID order (the first least recently)."""
    return SyncState(watched=watched, checked_order=watched, last_run=LAST)


# -- explicit IDs ------------------------------------------------------------------------------


def test_explicit_ids_are_fetched_whatever_the_store_and_registry_say():
    request = SyncRequest(ids=("NCT00000002", "NCT00000001", "NCT00000002"))
    plan = plan_sync(request, stored(ids(50)), TS0)  # same dataTimestamp: still fetched
    assert plan == Plan(SyncMode.IDS, ids=("NCT00000002", "NCT00000001"))
    assert plan.fetch_list() == ["NCT00000002", "NCT00000001"]  # order kept, no duplicate


def test_explicit_ids_ignore_the_default_and_the_query_watches():
    state = SyncState(queries=(WatchQuery(1, "cancer", "2026-01-01T00:00:00.000000Z"),))
    plan = plan_sync(SyncRequest(ids=("NCT00000001",), default_ids=DEFAULT), state, None)
    assert (plan.mode, plan.queries, plan.fetch_list()) == (SyncMode.IDS, (), ["NCT00000001"])


# -- the default study -------------------------------------------------------------------------


def test_nothing_watched_syncs_the_default_ids_as_if_watched():
    plan = plan_sync(SyncRequest(default_ids=DEFAULT), SyncState(), TS0)
    assert plan.mode is SyncMode.FULL
    assert plan.fetch_list() == ["NCT07240987"]


def test_the_default_is_left_out_once_anything_is_watched():
    watched = ("NCT00763412",)
    assert plan_sync(SyncRequest(default_ids=DEFAULT), SyncState(watched=watched), TS0).fetch_list() == list(watched)
    query_only = SyncState(queries=(WatchQuery(1, "kidney", "2026-09-01T00:00:00.000000Z"),))
    plan = plan_sync(SyncRequest(default_ids=DEFAULT), query_only, TS0)
    assert plan.mode is SyncMode.FULL
    assert plan.fetch_list() == []
    assert plan.fetch_list(newcomers=["NCT00000009", "NCT00000003"]) == ["NCT00000003", "NCT00000009"]


def test_the_stored_default_with_an_unmoved_data_timestamp_is_nothing_to_do():
    state = SyncState(checked_order=DEFAULT, last_run=LAST)
    assert plan_sync(SyncRequest(default_ids=DEFAULT), state, TS0).mode is SyncMode.NOTHING_TO_DO


def test_without_default_ids_an_empty_watchlist_fetches_nothing():
    plan = plan_sync(SyncRequest(), SyncState(), TS0)
    assert (plan.mode, plan.fetch_list()) == (SyncMode.FULL, [])


# -- nothing to do -------------------------------------------------------------------------------


def test_unmoved_data_timestamp_is_nothing_to_do():
    plan = plan_sync(SyncRequest(), stored(ids(50)), TS0)
    assert plan == Plan(SyncMode.NOTHING_TO_DO)
    assert plan.fetch_list(updated=ids(3), newcomers=ids(1, 90)) == []


@pytest.mark.parametrize(
    "request_, state, data_timestamp, why",
    [
        (SyncRequest(force=True), stored(ids(50)), TS0, "--force"),
        (SyncRequest(full=True), stored(ids(50)), TS0, "--full implies --force"),
        (SyncRequest(), stored(ids(50)), TS1, "the registry's data moved"),
        (SyncRequest(), stored(ids(50)), None, "the registry did not say (GET /version failed)"),
        (SyncRequest(), SyncState(watched=ids(50), checked_order=ids(49), last_run=LAST), TS0,
         "a watched study was never stored"),
        (SyncRequest(), SyncState(watched=ids(50), checked_order=ids(50), last_run=None), TS0,
         "no complete run yet"),
        (SyncRequest(), SyncState(watched=ids(50), checked_order=ids(50), last_run=LAST,
                                  queries=(WatchQuery(1, "kidney", "2026-09-04T11:00:00.000000Z"),)), TS0,
         "a query watch was added since the last complete run"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_something_to_do(request_, state, data_timestamp, why):
    assert plan_sync(request_, state, data_timestamp).mode is not SyncMode.NOTHING_TO_DO, why


def test_a_query_watch_older_than_the_last_run_does_not_make_work():
    state = SyncState(
        watched=ids(50), checked_order=ids(50), last_run=LAST,
        queries=(WatchQuery(1, "kidney", "2026-09-01T00:00:00.000000Z"),),
    )
    assert plan_sync(SyncRequest(), state, TS0).mode is SyncMode.NOTHING_TO_DO


# -- full or incremental ---------------------------------------------------------------------------


def test_a_small_watchlist_is_always_fetched_in_full():
    watched = ids(INCREMENTAL_MIN_STUDIES)
    plan = plan_sync(SyncRequest(), stored(watched), TS1)
    assert plan.mode is SyncMode.FULL
    assert plan.fetch_list(updated=watched[:1]) == list(watched)


def test_no_complete_run_or_no_usable_date_means_full():
    watched = ids(100)
    for last in (None, LastRun(LAST.started_at, None), LastRun(LAST.started_at, "garbage")):
        state = SyncState(watched=watched, checked_order=watched, last_run=last)
        assert plan_sync(SyncRequest(), state, TS1).mode is SyncMode.FULL


def test_full_fetches_every_watched_study_and_the_query_newcomers():
    watched = ids(100)
    plan = plan_sync(SyncRequest(full=True), stored(watched), TS0)
    assert (plan.mode, plan.since) == (SyncMode.FULL, None)
    assert plan.fetch_list(newcomers=["NCT00000001"]) == ["NCT00000001", *watched]


def test_incremental_asks_since_the_last_runs_data_date_minus_one_day():
    watched = ids(INCREMENTAL_MIN_STUDIES + 1)
    plan = plan_sync(SyncRequest(recheck_share=0), stored(watched), TS1)
    assert plan.mode is SyncMode.INCREMENTAL
    assert plan.since == "2026-09-03"  # TS0's date minus one day
    assert plan.fetch_list() == []  # nothing updated, nothing new, no re-check


def test_incremental_fetches_updated_watched_never_stored_newcomers_and_a_rolling_recheck():
    watched = ids(200)
    never_stored = watched[150:152]
    checked = tuple(n for n in watched if n not in never_stored)
    checked_order = checked[::-1] + ids(5, 500)  # unwatched stored studies are never re-checked
    state = SyncState(watched=watched, checked_order=checked_order, last_run=LAST)
    plan = plan_sync(SyncRequest(recheck_share=0.05), state, TS1)
    assert plan.recheck == math.ceil(200 * 0.05) == 10
    updated = [watched[5], watched[77], "NCT99999999"]  # registry-wide: one not watched
    fetched = plan.fetch_list(updated=updated, newcomers=["NCT00000001"])
    least_recent = [n for n in checked_order if n in set(watched)]
    expected = {watched[5], watched[77], *never_stored, "NCT00000001", *least_recent[:10]}
    assert fetched == sorted(expected)
    assert len(fetched) == 3 + 2 + 10  # the re-check comes on top of what is fetched anyway


def test_the_recheck_skips_what_is_fetched_anyway():
    watched = ids(40)
    plan = plan_sync(SyncRequest(recheck_share=0.1), stored(watched), TS1)
    # The 4 least recently verified are watched[0:4]; two of them were updated anyway.
    fetched = plan.fetch_list(updated=[watched[0], watched[1]])
    assert fetched == sorted(watched[:6])


def test_every_study_is_rechecked_within_one_over_share_runs():
    """Simulate runs: each verifies its plan's studies, which then become the most recent."""
    watched = ids(60)
    order = list(watched)
    verified: set[str] = set()
    share = 0.3
    for _ in range(math.ceil(1 / share)):
        state = SyncState(watched=watched, checked_order=tuple(order), last_run=LAST)
        fetched = plan_sync(SyncRequest(recheck_share=share), state, TS1).fetch_list()
        assert len(fetched) == math.ceil(60 * share)
        verified.update(fetched)
        order = [n for n in order if n not in fetched] + fetched
    assert verified == set(watched)


def test_the_plan_carries_the_query_watches_to_expand_first():
    queries = (WatchQuery(1, "kidney", "2026-01-01T00:00:00.000000Z"),)
    state = SyncState(watched=ids(30), checked_order=ids(30), queries=queries, last_run=LAST)
    assert plan_sync(SyncRequest(), state, TS1).queries == queries
    assert plan_sync(SyncRequest(full=True), state, TS1).queries == queries
    assert plan_sync(SyncRequest(), state, TS0).queries == ()  # nothing to do: nothing asked


# -- explicit IDs with nothing to do (issue 10 item 14) -----------------------------------------


def test_explicit_ids_all_verified_under_this_data_timestamp_are_nothing_to_do():
    state = SyncState(checked_data={"NCT00000001": TS0, "NCT00000002": TS1})
    plan = plan_sync(SyncRequest(ids=("NCT00000001", "NCT00000002")), state, TS0)
    assert plan == Plan(SyncMode.NOTHING_TO_DO, ids=("NCT00000001", "NCT00000002"))
    assert plan.fetch_list() == []


@pytest.mark.parametrize(
    "request_, checked_data, data_timestamp, why",
    [
        (SyncRequest(ids=("NCT00000001",), force=True), {"NCT00000001": TS0}, TS0, "--force"),
        (SyncRequest(ids=("NCT00000001",), full=True), {"NCT00000001": TS0}, TS0, "--full"),
        (SyncRequest(ids=("NCT00000001", "NCT00000002")), {"NCT00000001": TS0}, TS0, "one never stored"),
        (SyncRequest(ids=("NCT00000001",)), {"NCT00000001": None}, TS0, "stored, its run's data unknown"),
        (SyncRequest(ids=("NCT00000001",)), {"NCT00000001": TS0}, TS1, "the registry's data moved"),
        (SyncRequest(ids=("NCT00000001",)), {"NCT00000001": TS0}, None, "GET /version failed"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v or v in ("--force", "--full") else "",
)
def test_explicit_ids_are_fetched(request_, checked_data, data_timestamp, why):
    plan = plan_sync(request_, SyncState(checked_data=checked_data), data_timestamp)
    assert plan.mode is SyncMode.IDS, why
    assert plan.fetch_list() == list(request_.ids)


# -- removed studies (issue 10 item 2) -------------------------------------------------------------


def test_a_removed_study_rests_until_its_weekly_check_or_full():
    watched = ids(5)
    state = SyncState(watched=watched, checked_order=watched, last_run=LAST,
                      resting=frozenset(watched[1:2]), removed_due=frozenset(watched[3:4]))
    assert plan_sync(SyncRequest(), state, TS1).fetch_list() == [n for n in watched if n != watched[1]]
    assert plan_sync(SyncRequest(full=True), state, TS1).fetch_list() == list(watched)
    assert plan_sync(SyncRequest(ids=watched[1:2]), state, TS1).fetch_list() == [watched[1]]


def test_incremental_fetches_removed_studies_due_and_rechecks_resting_ones_in_turn():
    watched = ids(40)
    state = SyncState(watched=watched, checked_order=watched, last_run=LAST,
                      resting=frozenset(watched[:1]), removed_due=frozenset(watched[30:31]))
    plan = plan_sync(SyncRequest(recheck_share=0.05), state, TS1)
    assert plan.mode is SyncMode.INCREMENTAL
    # The rolling re-check (2 of 40) takes the least recently verified, resting or not.
    assert plan.fetch_list() == [watched[0], watched[1], watched[30]]


def test_removed_split_is_weekly_and_distrusts_a_check_dated_in_the_future():
    from datetime import UTC, datetime

    from regsync.sync import _removed_split

    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    removed = {
        "NCT00000001": ("2026-11-30T03:00:00.000000Z", "2026-11-30T03:00:00.000000Z"),  # 2 days
        "NCT00000002": ("2026-11-01T03:00:00.000000Z", "2026-11-25T03:00:00.000000Z"),  # 7 days
        "NCT00000003": ("2026-11-01T03:00:00.000000Z", "2046-11-25T03:00:00.000000Z"),  # future
    }
    assert _removed_split(removed, now) == (frozenset({"NCT00000001"}), frozenset({"NCT00000002", "NCT00000003"}))


# -- the clock going back (issue 11 item 10) -------------------------------------------------------


def test_a_query_watch_added_after_the_last_run_counts_by_sequence_not_by_its_timestamp():
    last = LastRun(started_at="2026-09-04T10:00:00.000000Z", data_timestamp=TS0, id=7)
    behind = WatchQuery(1, "kidney", "2020-01-01T00:00:00.000000Z", added_after_run=7)  # clock set back
    older = WatchQuery(2, "cancer", "2030-01-01T00:00:00.000000Z", added_after_run=6)  # clock was ahead
    state = SyncState(watched=ids(30), checked_order=ids(30), last_run=last)
    assert plan_sync(SyncRequest(), replace(state, queries=(behind,)), TS0).mode is not SyncMode.NOTHING_TO_DO
    assert plan_sync(SyncRequest(), replace(state, queries=(older,)), TS0).mode is SyncMode.NOTHING_TO_DO
