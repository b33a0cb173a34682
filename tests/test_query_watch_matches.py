"""A query watch that matches nothing is said (issue 22 item 5): a warning on the run that
finds 0 (not an error exit), and `watch list` shows what each query matched on its last run,
so a mistyped expression does not silently watch nothing for ever."""

from __future__ import annotations

import json

from support.results import DEFAULT

WARNING = ("warning: query watch 'kidny' matched no studies; check the expression "
           "(`regsync watch list` shows what each query matched)")


def test_a_query_that_matches_nothing_is_a_warning_and_watch_list_shows_the_counts(fake, run):
    registry, server = fake
    registry.set_query("kidney", ["NCT00763412", DEFAULT])
    assert run("watch", "add", DEFAULT, "--query", "kidney", "--query", "kidny").exit_code == 0
    assert run("watch", "list").stdout.splitlines()[:2] == [
        "query: kidney (not synced yet)", "query: kidny (not synced yet)",
    ]

    result = run("sync", api_url=server.url)
    assert result.exit_code == 0
    assert WARNING in result.stderr.splitlines()
    assert "kidney" not in result.stderr  # a query that matched says nothing

    # The count is of every study the query matched, watched before or not.
    assert run("watch", "list").stdout.splitlines()[:2] == [
        "query: kidney (2 studies on run 1)", "query: kidny (0 studies on run 1)",
    ]
    queries = json.loads(run("watch", "list", "--json").stdout)["queries"]
    assert [(q["expr"], q["last_matched"], q["last_matched_run"]) for q in queries] == [
        ("kidney", 2, 1), ("kidny", 0, 1),
    ]

    # --quiet (cron) still says it: nothing else would.
    quiet = run("sync", "--quiet", "--full", api_url=server.url)
    assert quiet.exit_code == 0
    assert quiet.stderr.splitlines() == [WARNING]


def test_the_run_report_carries_each_query_s_count(fake, db_path):
    from regsync.client import ApiClient, ClientConfig
    from regsync.store import Store
    from regsync.sync import QueryMatch, run_sync

    registry, server = fake
    registry.set_query("kidney", ["NCT00763412"])
    with Store.open_write(str(db_path)) as store:
        store.query_add("kidney")
        store.query_add("kidny")
        client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
        report = run_sync(store, client)
    assert report.queries == (QueryMatch("kidney", 1, 1), QueryMatch("kidny", 0, 0))
