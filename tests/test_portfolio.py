"""Portfolios (issue 6): batched filter.ids fetches, query watches, incremental sync with a
rolling re-check, --full, removals, aliases in batches, streaming and progress.

Everything runs against regsync.fakeapi served on 127.0.0.1 (a real socket, no mocks), and
request counts are read from the fake's own request log.
"""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from click.testing import CliRunner

from regsync import cli as cli_module
from regsync.cli import Clocks, cli
from regsync.client import MAX_PAGE_SIZE, MAX_URL_LENGTH, ApiClient, ClientConfig, id_batches
from regsync.prepared import READERS
from regsync.store import Store
from regsync.sync import LIGHT_FIELDS, RunReport, StudyOutcome, run_sync
from support.fakeapi import FakeRegistry, mutate, serve, synthesize
from support.records import load

TS0 = "2026-09-04T09:00:06"
TS1 = "2026-09-05T09:00:06"
SINCE1 = "2026-09-03"  # the date of TS0 minus one day
NEW_POST = "2026-09-05"


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry(data_timestamp=TS0)


@pytest.fixture
def server(registry):
    with serve(registry) as running:
        yield running


@pytest.fixture
def regsync(db_path, server):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(
            cli, ["--db", str(db_path), "--api-url", server.url, *args], catch_exceptions=False,
            obj=Clocks(sleep=lambda seconds: None),
        )

    return invoke


def populate(registry: FakeRegistry, n: int) -> list[str]:
    return [registry.add(record) for record in synthesize(n)]


def watch(db_path, ids: list[str]) -> None:
    with Store.open_write(db_path) as store:
        store.watch_add(ids)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def list_requests(registry: FakeRegistry):
    return registry.requests_for("studies")


def batch_ids(request) -> list[str]:
    return request.query["filter.ids"][-1].split(",")


def date_queries(registry: FakeRegistry):
    return [r for r in list_requests(registry) if "filter.advanced" in r.query]


def library_sync(db_path, server, **kwargs) -> tuple[RunReport, list[StudyOutcome], list[str]]:
    """``run_sync`` from Python, with a client that records the exact URL of every request."""
    client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
    urls: list[str] = []
    client.session.hooks["response"].append(lambda r, *a, **k: urls.append(r.request.url))
    outcomes: list[StudyOutcome] = []
    with Store.open_write(db_path) as store:
        report = run_sync(store, client, on_outcome=outcomes.append, **kwargs)
    return report, outcomes, urls


def study_row(db_path, nct_id: str):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM studies WHERE nct_id = ?", [nct_id]).fetchone()


def events(db_path) -> list[tuple[str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT nct_id, kind FROM events ORDER BY id").fetchall()


def watched(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT nct_id FROM watchlist ORDER BY nct_id")]


def version_count(db_path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]


# -- batched fetch ------------------------------------------------------------------------------


def test_watchlist_is_fetched_in_filter_ids_batches_under_the_url_limit(registry, server, db_path):
    ids = populate(registry, 1500)
    watch(db_path, ids)
    report, outcomes, urls = library_sync(db_path, server)
    assert [o.status for o in outcomes] == ["new"] * 1500
    assert sorted(o.nct_id for o in outcomes) == ids

    batches = [r for r in list_requests(registry) if "filter.ids" in r.query]
    assert len(registry.requests) == 1 + len(batches)  # /version and the batches, nothing else
    assert registry.count("version") == 1
    assert len(batches) == len(list(id_batches(ids, server.url))) >= 3
    assert sorted(i for r in batches for i in batch_ids(r)) == ids  # each ID asked for once
    for request in batches:
        assert request.query["pageSize"] == [str(MAX_PAGE_SIZE)] == ["1000"]
        assert len(batch_ids(request)) <= MAX_PAGE_SIZE
    studies_urls = [u for u in urls if "/studies?" in u]
    assert len(studies_urls) == len(batches)
    assert all(len(u) < MAX_URL_LENGTH for u in studies_urls)
    assert max(len(u) for u in studies_urls) > MAX_URL_LENGTH * 0.8  # batches are filled up
    assert report.counts["new"] == 1500 and report.requests == len(registry.requests)
    assert (report.mode, report.outcome) == ("full", "ok")
    assert version_count(db_path) == 1500
    # Each version names the URL that answered for it: the batch that asked for it.
    with sqlite3.connect(db_path) as conn:
        sources = dict(conn.execute(
            "SELECT v.nct_id, s.url FROM versions v JOIN sources s ON s.id = v.source_id"))
        assert conn.execute("SELECT COUNT(*) FROM sources").fetchone() == (len(studies_urls),)  # each once
    assert set(sources.values()) == set(studies_urls)
    for url in studies_urls:
        asked = url.split("filter.ids=")[1].split("&")[0].split(",")
        assert {sources[i] for i in asked} == {url}


def test_id_batches_respect_any_limit_and_keep_order():
    ids = [f"NCT1{i:07d}" for i in range(3000)]
    base = "http://127.0.0.1:1/api/v2"
    for limit in (400, 2000, MAX_URL_LENGTH):
        batches = list(id_batches(ids, base, max_url=limit))
        assert [i for b in batches for i in b] == ids
        assert all(len(base) + 250 + len(",".join(b)) <= limit for b in batches)
        assert all(len(b) <= MAX_PAGE_SIZE for b in batches)


def test_pages_follow_next_page_token(registry, server):
    ids = populate(registry, 25)
    client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
    pages = list(client.iter_pages({"filter.ids": ",".join(ids)}, page_size=10))
    assert [len(p.studies) for p in pages] == [10, 10, 5]
    assert [p.next_page_token is not None for p in pages] == [True, True, False]
    got = [s["protocolSection"]["identificationModule"]["nctId"] for p in pages for s in p.studies]
    assert got == ids
    tokens = [r.query.get("pageToken") for r in registry.requests]
    assert tokens[0] is None and tokens[1] == [pages[0].next_page_token] and tokens[2] == [pages[1].next_page_token]


def test_ids_missing_from_a_batch_are_fetched_one_by_one(registry, server, regsync, db_path):
    """404 for an unknown study (an error), 301 for an alias the record does not list."""
    ids = populate(registry, 5)
    registry.alias("NCT00000102", ids[2])  # the record does not list it in nctIdAliases
    targets = [ids[0], ids[1], "NCT00000102", "NCT09999999"]
    result = regsync("sync", *targets)
    assert result.exit_code == 1
    assert sorted(lines(result.stdout)) == sorted([
        f"{ids[0]} new (v1)", f"{ids[1]} new (v1)", f"NCT00000102 -> {ids[2]} (alias) new (v1)",
    ])
    assert lines(result.stderr)[0] == "error: NCT09999999 not found in the registry (HTTP 404)"
    assert len(list_requests(registry)) == 1  # one batch for all four IDs
    singles = [(r.path.rsplit("/", 1)[-1], r.status) for r in registry.requests if r.target not in ("studies", "version")]
    assert sorted(singles) == [("NCT00000102", 301), ("NCT09999999", 404), (ids[2], 200)]
    assert study_row(db_path, ids[2])["current_version"] == 1
    assert study_row(db_path, "NCT00000102") is None


def test_alias_in_a_batch_is_stored_under_the_canonical_id_and_the_watchlist_follows(registry, server, regsync, db_path):
    ids = populate(registry, 4)
    record = registry.get(ids[3])
    record["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00000102"]
    registry.add(record)
    registry.alias("NCT00000102", ids[3])
    watch(db_path, ids[:3] + ["NCT00000102"])
    result = regsync("sync")
    assert result.exit_code == 0, result.output
    assert f"NCT00000102 -> {ids[3]} (alias) new (v1)" in lines(result.stdout)
    # Resolved from the batch answer itself: no request for the alias on its own.
    assert [r.target for r in registry.requests] == ["version", "studies"]
    assert watched(db_path) == ids
    assert (ids[3], "alias") in events(db_path)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT requested_id FROM versions WHERE nct_id = ?", [ids[3]]).fetchone() == ("NCT00000102",)
    line = json.loads(regsync("sync", "--force", "--json", "NCT00000102").stdout)
    assert (line["nct_id"], line["requested_id"], line["status"]) == (ids[3], "NCT00000102", "unchanged")


# -- query watches ------------------------------------------------------------------------------


EXPR = 'AREA[Condition]"chronic kidney disease" AND AREA[InterventionName]mesenchymal'


def test_query_watch_tracks_every_match_and_reports_newcomers_as_new(registry, server, regsync, db_path):
    ids = populate(registry, 40)
    registry.set_query(EXPR, ids[:3])
    assert regsync("watch", "add", "--query", EXPR).stdout == f"query {EXPR!r} added\n"
    first = regsync("sync")
    assert first.exit_code == 0, first.output
    assert sorted(lines(first.stdout)) == [f"{i} new (v1)" for i in ids[:3]]
    query_requests = [r for r in list_requests(registry) if "query.term" in r.query]
    assert len(query_requests) == 1
    assert query_requests[0].query["query.term"] == [EXPR]
    assert query_requests[0].query["fields"] == ["NCTId"]  # IDs only; records come by filter.ids

    registry.set_query(EXPR, ids[:5])
    registry.data_timestamp = TS1
    second = regsync("sync")
    assert second.exit_code == 0, second.output
    assert sorted(lines(second.stdout)) == sorted(
        [f"{i} unchanged (v1)" for i in ids[:3]] + [f"{i} new (v1)" for i in ids[3:5]]
    )
    assert watched(db_path) == ids[:5]
    listing = json.loads(regsync("watch", "list", "--json").stdout)
    assert [q["expr"] for q in listing["queries"]] == [EXPR]


def test_query_watch_with_more_than_a_page_of_matches_follows_the_pages(registry, server, regsync, db_path):
    ids = populate(registry, 2300)
    registry.set_query(EXPR, ids)
    regsync("watch", "add", "--query", EXPR)
    result = regsync("sync", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(lines(result.stdout)) == 2300
    query_requests = [r for r in list_requests(registry) if "query.term" in r.query]
    assert len(query_requests) == 3  # 1000 + 1000 + 300, following nextPageToken
    assert len(watched(db_path)) == 2300


# -- incremental sync ---------------------------------------------------------------------------


def first_sync(regsync, registry, db_path, n: int, watch_n: int | None = None) -> list[str]:
    ids = populate(registry, n)
    watch(db_path, ids[: watch_n or n])
    result = regsync("sync", "--quiet")
    assert result.exit_code == 0, result.output
    registry.reset_log()
    return ids


def change(registry: FakeRegistry, nct_id: str, post_date: str = NEW_POST) -> None:
    registry.add(mutate(registry.get(nct_id), post_date))


def test_incremental_sync_asks_what_changed_then_fetches_only_that(registry, server, regsync, db_path):
    ids = first_sync(regsync, registry, db_path, 300, watch_n=200)
    changed = [ids[5], ids[77], ids[150]]
    for nct_id in changed + [ids[250], ids[260]]:  # two changes outside the watchlist
        change(registry, nct_id)
    newcomer = ids[299]
    watch(db_path, [newcomer])  # never stored: fetched whatever the registry says
    registry.data_timestamp = TS1

    result = regsync("sync", "--recheck", "0.05")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert sorted(l.split()[0] for l in out if " changed " in l) == changed
    assert [l for l in out if " new " in l] == [f"{newcomer} new (v1)"]
    assert "(incremental," in result.stderr

    # /version, one light date query, one filter.ids batch: nothing else.
    assert [r.target for r in registry.requests] == ["version", "studies", "studies"]
    (query,) = date_queries(registry)
    assert query.query["filter.advanced"] == [f"AREA[LastUpdatePostDate]RANGE[{SINCE1},MAX]"]
    assert query.query["fields"] == [LIGHT_FIELDS]
    assert "filter.ids" not in query.query  # the watchlist is never sent to find out
    (batch,) = [r for r in list_requests(registry) if "filter.ids" in r.query]
    asked = set(batch_ids(batch))
    stored_before = 200
    recheck = math.ceil(201 * 0.05)
    assert set(changed) | {newcomer} <= asked
    assert len(asked) == len(changed) + 1 + recheck
    assert not asked & {ids[250], ids[260]}  # registry-wide changes outside the watchlist
    assert len(lines(result.stdout)) == len(asked)
    assert version_count(db_path) == stored_before + len(changed) + 1


def test_incremental_request_count_is_within_the_budget(registry, server, regsync, db_path):
    """1 (/version) + 1 per 1000 changed registry-wide + ceil(to_fetch / batch size)."""
    ids = first_sync(regsync, registry, db_path, 2600, watch_n=1300)
    registry_changed = ids[::2]  # 1300 changed registry-wide: two pages of the date query
    for nct_id in registry_changed:
        change(registry, nct_id)
    registry.data_timestamp = TS1
    result = regsync("sync", "--quiet", "--recheck", "0.02")
    assert result.exit_code == 0, result.output

    watched_changed = [i for i in registry_changed if i in set(ids[:1300])]
    recheck = math.ceil(1300 * 0.02)
    to_fetch = len(watched_changed) + recheck
    batch = len(next(id_batches(ids, server.url)))
    budget = 1 + math.ceil(len(registry_changed) / 1000) + math.ceil(to_fetch / batch)
    assert len(date_queries(registry)) == 2
    assert len(registry.requests) == budget
    fetched = [i for r in list_requests(registry) if "filter.ids" in r.query for i in batch_ids(r)]
    assert len(fetched) == len(set(fetched)) == to_fetch
    assert len([l for l in lines(result.stdout) if " changed " in l]) == len(watched_changed)


def test_nothing_to_do_when_the_data_timestamp_has_not_moved(registry, server, regsync, db_path):
    first_sync(regsync, registry, db_path, 30)
    result = regsync("sync")
    assert result.stderr.startswith("nothing to do")
    assert [r.target for r in registry.requests] == ["version"]


def test_rolling_recheck_verifies_every_study_within_ceil_one_over_share_runs(registry, server, regsync, db_path):
    ids = first_sync(regsync, registry, db_path, 60)
    share = 0.3
    # A silent edit: the content changes, LastUpdatePostDate does not.
    silent = registry.get(ids[41])
    silent["protocolSection"]["identificationModule"]["briefTitle"] += " (silently edited)"
    registry.add(silent)

    verified: set[str] = set()
    reported: list[str] = []
    for run in range(math.ceil(1 / share)):
        registry.reset_log()
        registry.data_timestamp = f"2026-09-{5 + run:02d}T09:00:06"
        result = regsync("sync", "--quiet", "--recheck", str(share))
        assert result.exit_code == 0, result.output
        assert len(date_queries(registry)) == 1
        asked = [i for r in list_requests(registry) if "filter.ids" in r.query for i in batch_ids(r)]
        assert len(asked) == math.ceil(60 * share)
        verified.update(asked)
        reported += lines(result.stdout)
    assert verified == set(ids)
    assert [l.split()[:2] for l in reported] == [[ids[41], "changed"]]
    history = json.loads(regsync("history", ids[41], "--json").stdout)
    assert [h["version"] for h in history] == [1, 2]
    assert history[0]["last_update_post_date"] == history[1]["last_update_post_date"]


def test_full_refetches_everything(registry, server, regsync, db_path):
    ids = first_sync(regsync, registry, db_path, 120)
    result = regsync("sync", "--full")  # implies --force: the dataTimestamp has not moved
    assert result.exit_code == 0, result.output
    assert sorted(lines(result.stdout)) == [f"{i} unchanged (v1)" for i in ids]
    assert not date_queries(registry)
    fetched = [i for r in list_requests(registry) if "filter.ids" in r.query for i in batch_ids(r)]
    assert sorted(fetched) == ids
    assert "(full," in result.stderr
    assert version_count(db_path) == 120


# -- removals -----------------------------------------------------------------------------------


def test_a_study_the_registry_no_longer_returns_is_a_removal_event_not_an_error(registry, server, regsync, db_path):
    ids = first_sync(regsync, registry, db_path, 5)
    record_before = json.loads(regsync("show", ids[2]).stdout)
    registry.remove(ids[2])
    result = regsync("sync", "--full")
    assert result.exit_code == 0, result.output
    assert f"{ids[2]} removed: no longer returned by the registry (HTTP 404); stored versions kept" in lines(result.stdout)
    assert "error" not in result.stderr.split("studies:")[0]
    assert "1 removed" in result.stderr
    assert events(db_path) == [(ids[2], "removed")]
    assert study_row(db_path, ids[2])["removed_at"] is not None
    assert json.loads(regsync("show", ids[2]).stdout) == record_before  # data kept
    assert ids[2] in watched(db_path)

    again = regsync("sync", "--full", "--json")
    line = [json.loads(l) for l in lines(again.stdout) if ids[2] in l][0]
    assert line["status"] == "removed" and line["version"] == 1
    assert events(db_path) == [(ids[2], "removed")]  # recorded once, not every run


# -- streaming and progress ---------------------------------------------------------------------


def test_pages_are_processed_as_they_arrive(registry, server, db_path):
    """Each page is stored as it arrives: while page j is stored, at most the next
    ``READERS`` batches (prefetches, read beside the writer) have been asked for, never the
    whole watchlist."""
    ids = populate(registry, 1800)
    watch(db_path, ids)
    seen: list[tuple[int, int | None, int]] = []
    library_sync(
        db_path, server,
        on_progress=lambda done, total: seen.append((done, total, len(list_requests(registry)))),
    )
    assert [d for d, _, _ in seen] == list(range(1, 1801))
    assert {t for _, t, _ in seen} == {1800}
    batches = list(id_batches(ids, server.url))
    assert len(batches) >= 4
    batch_of = [j for j, b in enumerate(batches) for _ in b]
    for (done, _, requested), j in zip(seen, batch_of):
        assert j + 1 <= requested <= j + 1 + READERS, (done, j, requested)
    assert len(list_requests(registry)) == len(batches)


def test_no_progress_counter_under_clirunner_quiet_or_json(registry, server, regsync, db_path, monkeypatch):
    first_sync(regsync, registry, db_path, 200)
    for args in ((), ("--quiet",), ("--json",)):
        result = regsync("sync", "--full", *args)
        assert "\r" not in result.stderr and "studies\x1b" not in result.stderr

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setattr(cli_module.sys, "stderr", Tty())
    assert cli_module._progress_bar(disabled=False) is not None
    assert cli_module._progress_bar(disabled=True) is None  # --quiet or --json


def test_fixture_records_sync_through_batches_and_stay_whole(registry, server, regsync, db_path):
    names = ["NCT07240987", "NCT00763412", "NCT00973089", "NCT06171568"]
    for name in names:
        registry.add(load(name))
    result = regsync("sync", *names)
    assert result.exit_code == 0, result.output
    assert [r.target for r in registry.requests] == ["version", "studies"]
    for name in names:
        assert json.loads(regsync("show", name).stdout) == load(name)
