"""Issue 23 item 3: no silent caps. Every listing asks the registry's totalCount and checks
what it received against it: a listing that stops short (in 2025 a popular client silently
stopped after 1,000 of 3,454 records when page tokens grew) is an incomplete run with its own
outcome, one line and exit 1, never a quiet success."""

from __future__ import annotations

import sqlite3

from support.results import DEFAULT

QUERY = "kidney"
MATCHES = ["NCT00763412", "NCT00973089", "NCT02513394", "NCT06131398", "NCT06171568", DEFAULT]


def test_a_query_listing_cut_short_is_an_incomplete_run(fake, run, db_path):
    registry, server = fake
    registry.set_query(QUERY, MATCHES)
    registry.listing_cap = 4  # the registry stops after 4 while saying it holds 6
    assert run("watch", "add", "--query", QUERY).exit_code == 0
    result = run("sync", "--quiet", api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: received 4 of 6 studies for query {QUERY!r}: the registry's listing stopped short; "
        "the run is incomplete"
    ]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT outcome, complete FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (
            "incomplete", 0)
    # The four it did list are synced; the registry listing everything again is a clean run.
    registry.listing_cap = None
    again = run("sync", "--quiet", "--force", api_url=server.url)
    assert (again.exit_code, again.stderr) == (0, "")


def test_an_exactly_full_last_page_and_an_empty_one_after_it_are_the_end(fake, db_path):
    """pageSize 2 over 6 matches: three full pages, and the token after the last leads to an
    empty page; the listing is whole."""
    from regsync.client import ApiClient, ClientConfig
    from regsync.store import Store
    from regsync.sync import run_sync

    registry, server = fake
    registry.set_query(QUERY, MATCHES)
    registry.token_on_full_page = True
    with Store.open_write(str(db_path)) as store:
        store.query_add(QUERY)
        client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
        original = client.iter_pages

        def small_pages(params, **kwargs):
            return original(params, page_size=2 if "query.term" in params else kwargs.pop("page_size", 1000), **kwargs)

        client.iter_pages = small_pages  # type: ignore[method-assign]
        report = run_sync(store, client)
    assert report.shortfalls == () and report.outcome == "ok"
    assert report.counts["new"] == 6
    pages = [r for r in registry.requests if "query.term" in r.query]
    assert len(pages) == 4  # three full pages, then the empty one the last token leads to
