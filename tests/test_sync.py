"""`regsync sync`: what is stored, what is printed, and how each failure is reported."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests
import responses
from responses import matchers

from support.mocks import API, DATA_TS, mock_study, mock_version, study_url
from support.records import edit, load

DEFAULT = "NCT07240987"


def versions(db_path, nct_id=DEFAULT) -> list[int]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM versions WHERE nct_id = ? ORDER BY version", [nct_id])]


def study_calls(api, nct_id=DEFAULT) -> int:
    return sum(1 for c in api.calls if f"/studies/{nct_id}" in c.request.url)


def test_first_sync_stores_the_default_study_as_v1(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    result = run("sync")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert versions(db_path) == [1]
    history = json.loads(run("history", DEFAULT, "--json").stdout)
    assert history[0]["version"] == 1
    assert history[0]["overall_status"] == "NOT_YET_RECRUITING"
    assert history[0]["last_update_post_date"] == "2025-12-24"
    assert history[0]["data_timestamp"] == DATA_TS
    assert len(history[0]["content_hash"]) == 64
    assert history[0]["fetched_at"].endswith("Z")
    # The stored record is the record as the API returned it.
    assert json.loads(run("show", DEFAULT, "--version", "1").stdout) == load(DEFAULT)


def test_request_asks_for_markdown_sends_a_user_agent(api, run):
    mock_version(api)
    api.get(
        study_url(DEFAULT), json=load(DEFAULT),
        match=[matchers.query_param_matcher({"format": "json", "markupFormat": "markdown"})],
    )
    assert run("sync").exit_code == 0
    request = [c for c in api.calls if "/studies/" in c.request.url][0].request
    assert request.headers["User-Agent"].startswith("regsync/")


def test_unchanged_resync_stores_nothing(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    run("sync")
    result = run("sync", "--force")
    assert result.exit_code == 0
    assert result.stdout == f"{DEFAULT} unchanged (v1)\n"
    assert versions(db_path) == [1]


def test_changed_resync_stores_v2_and_names_the_categories(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    mock_study(api, edit(load(DEFAULT), overallStatus="RECRUITING"))
    run("sync")
    result = run("sync", "--force")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{DEFAULT} changed v1 -> v2 [minor]: status (milestone: RECRUITING)")
    assert versions(db_path) == [1, 2]


def test_version_holder_only_change_stores_nothing(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    tomorrow = load(DEFAULT)
    tomorrow["derivedSection"]["miscInfoModule"]["versionHolder"] = "2099-01-01"
    mock_study(api, tomorrow)
    run("sync")
    result = run("sync", "--force")
    assert result.stdout == f"{DEFAULT} unchanged (v1)\n"
    assert versions(db_path) == [1]


def test_key_order_alone_is_not_a_new_version(api, run, db_path):
    record = load(DEFAULT)
    reordered = json.loads(json.dumps(record, sort_keys=True))
    mock_version(api)
    api.get(study_url(DEFAULT), body=json.dumps(record))
    api.get(study_url(DEFAULT), body=json.dumps(reordered))
    run("sync")
    assert run("sync", "--force").stdout == f"{DEFAULT} unchanged (v1)\n"


def test_not_found_is_one_line_and_exit_1(api, run, db_path):
    mock_version(api)
    api.get(study_url("NCT99999999"), status=404, body="NCT number NCT99999999 not found",
            content_type="text/plain")
    result = run("sync", "NCT99999999")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "error: NCT99999999 not found in the registry (HTTP 404)"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
        assert conn.execute("SELECT error FROM run_errors").fetchall() == [
            ("NCT99999999 not found in the registry (HTTP 404)",)
        ]


def test_alias_is_followed_and_stored_under_the_canonical_id(api, run, db_path):
    mock_version(api)
    api.get(study_url("NCT00000102"), status=301, headers={"Location": study_url(DEFAULT) + "?format=json"})
    mock_study(api, load(DEFAULT))
    result = run("sync", "nct102")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"NCT00000102 -> {DEFAULT} (alias) new (v1)\n"
    assert versions(db_path) == [1]
    api.get(study_url("NCT00000102"), status=301, headers={"Location": study_url(DEFAULT)})
    line = json.loads(run("sync", "NCT00000102", "--json", "--force").stdout)
    assert line["nct_id"] == DEFAULT
    assert line["requested_id"] == "NCT00000102"
    assert line["status"] == "unchanged"


def test_record_for_another_study_is_an_error_and_stores_nothing(api, run, db_path):
    mock_version(api)
    api.get(study_url(DEFAULT), json=load("NCT00763412"))
    result = run("sync")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: {DEFAULT}: the registry returned the record of NCT00763412 instead; nothing stored"
    )
    assert versions(db_path) == [] and versions(db_path, "NCT00763412") == []


def test_429_then_200_honours_retry_after(api, run, db_path, slept):
    mock_version(api)
    api.get(study_url(DEFAULT), status=429, headers={"Retry-After": "7"}, body="slow down")
    mock_study(api, load(DEFAULT))
    result = run("sync")
    assert result.exit_code == 0, result.output
    assert 7.0 in slept
    assert study_calls(api) == 2
    assert versions(db_path) == [1]


def test_retry_after_as_http_date_is_honoured_and_capped(api, run, slept):
    mock_version(api)
    api.get(study_url(DEFAULT), status=429, headers={"Retry-After": "Fri, 31 Dec 2099 23:59:59 GMT"})
    mock_study(api, load(DEFAULT))
    assert run("sync").exit_code == 0
    assert max(slept) == 60.0  # a far-future date is capped, never a hang


def test_503_twice_then_200(api, run, db_path, slept):
    mock_version(api)
    api.get(study_url(DEFAULT), status=503, body="Service Unavailable")
    api.get(study_url(DEFAULT), status=503, body="Service Unavailable")
    mock_study(api, load(DEFAULT))
    result = run("sync")
    assert result.exit_code == 0
    assert study_calls(api) == 3
    assert len([s for s in slept if s > 0]) == 2
    assert versions(db_path) == [1]


def test_persistent_5xx_exits_1_and_keeps_earlier_versions(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    assert run("sync").exit_code == 0
    api.get(study_url(DEFAULT), status=502, body="Bad Gateway")
    # Only the 502 answers from now on.
    api.replace(responses.GET, study_url(DEFAULT), status=502, body="Bad Gateway")
    result = run("sync", "--force", "--retries", "2")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {DEFAULT}: HTTP 502 (server error) after 3 attempts")
    assert versions(db_path) == [1]
    assert json.loads(run("show", DEFAULT).stdout) == load(DEFAULT)


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        ('{"protocolSection": {"identificationModule": {"nctId": "NCT07240', "application/json",
         "'s answer is not valid JSON (truncated? 64 bytes); nothing stored"),
        ("", "application/json", " sent an empty answer; nothing stored"),
        ("<html><body>Down for maintenance</body></html>", "text/html",
         " sent an HTML page instead of JSON (maintenance?); nothing stored"),
        ('["not", "a", "study"]', "application/json", " answered with JSON that is not a study"),
    ],
    ids=["truncated", "empty", "html", "not-an-object"],
)
def test_malformed_answers_store_nothing(api, run, db_path, body, content_type, message):
    mock_version(api)
    api.get(study_url(DEFAULT), body=body, content_type=content_type)
    result = run("sync")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {DEFAULT}: the registry{message}"
    assert versions(db_path) == []


def test_timeouts_are_retried_then_reported(api, run, db_path):
    mock_version(api)
    api.get(study_url(DEFAULT), body=requests.exceptions.ReadTimeout("read timed out"))
    result = run("sync", "--retries", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {DEFAULT}: no answer within 30 s (timeout) after 2 attempts",
        "1 study: 0 new, 0 changed, 0 unchanged, 1 failed (full, 3 requests)",
    ]


def test_connection_reset_is_retried(api, run, db_path):
    mock_version(api)
    api.get(study_url(DEFAULT), body=requests.exceptions.ConnectionError("Connection reset by peer"))
    mock_study(api, load(DEFAULT))
    assert run("sync").exit_code == 0
    assert versions(db_path) == [1]


@pytest.mark.parametrize("bad", ["NCT123456789", "07240987", "NCT-07240987", "NCT0", "abc", ""])
def test_invalid_ids_are_usage_errors_and_send_nothing(api, run, db_path, bad):
    result = run("sync", bad) if bad else run("sync", " ")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid NCT ID")
    assert len(api.calls) == 0
    assert not db_path.exists()


def test_ids_are_normalised(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    assert run("sync", "nct7240987").stdout == f"{DEFAULT} new (v1)\n"


def test_multi_study_run_with_one_failure_stores_the_others(api, run, db_path):
    mock_version(api)
    ids = [DEFAULT, "NCT00763412", "NCT99999999"]
    api.get(
        f"{API}/studies",
        json={"studies": [load("NCT00763412"), load(DEFAULT)]},
        match=[matchers.query_param_matcher({"filter.ids": ",".join(ids), "pageSize": "1000",
                                              "format": "json", "markupFormat": "markdown"})],
    )
    api.get(study_url("NCT99999999"), status=404, body="NCT number NCT99999999 not found")
    result = run("sync", *ids)
    assert result.exit_code == 1
    assert sorted(result.stdout.splitlines()) == ["NCT00763412 new (v1)", f"{DEFAULT} new (v1)"]
    assert result.stderr.splitlines()[0] == "error: NCT99999999 not found in the registry (HTTP 404)"
    assert versions(db_path) == [1] and versions(db_path, "NCT00763412") == [1]


def test_json_lines_and_quiet(api, run):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    first = json.loads(run("sync", "--json").stdout)
    assert first == {"nct_id": DEFAULT, "requested_id": DEFAULT, "status": "new", "version": 1,
                     "previous_version": None, "error": None, "submitted": "2025-12-18", "posted": "2025-12-24"}
    assert run("sync", "--force", "--quiet").stdout == ""
    assert run("sync", "--force", "--quiet", "--json").stdout == ""


def test_syncing_an_id_does_not_watch_it(api, run):
    mock_version(api)
    mock_study(api, load("NCT00763412"))
    run("sync", "NCT00763412")
    assert json.loads(run("watch", "list", "--json").stdout)["studies"] == []


def test_nothing_to_do_when_data_timestamp_has_not_moved(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    run("sync")
    before = len(api.calls)
    result = run("sync")
    assert result.exit_code == 0
    assert len(api.calls) == before + 1  # only /version
    assert result.stderr.startswith("nothing to do: the registry's data has not changed")
    assert run("sync", "--quiet").stdout == ""
    assert "unchanged" in run("sync", "--force").stdout


def test_newly_watched_studies_sync_even_when_data_has_not_moved(api, run, db_path):
    mock_version(api)
    mock_study(api, load(DEFAULT))
    run("sync")
    run("watch", "add", "NCT00763412")
    mock_study(api, load("NCT00763412"))
    result = run("sync")
    # The watchlist replaces the default study once it has entries.
    assert result.stdout == "NCT00763412 new (v1)\n"
    assert run("sync").stderr.startswith("nothing to do")


def test_a_failed_what_changed_query_fails_the_run_in_one_line(api, run, db_path):
    """With a large watchlist the run asks the registry what changed; if that fails after
    retries, the run is recorded as failed and says why, exit 1."""
    import sqlite3 as _sqlite3

    from regsync.store import Store

    ids = [f"NCT{10000000 + i:08d}" for i in range(25)]
    with Store.open_write(db_path) as store:
        store.watch_add(ids)
        for nct_id in ids:
            record = load(DEFAULT)
            record["protocolSection"]["identificationModule"]["nctId"] = nct_id
            store.save(record, nct_id=nct_id, source="test")
        run_id = store.begin_run("sync", "full")
        store.finish_run(run_id, "ok", complete=True, data_timestamp="2026-09-01T09:00:00")
    mock_version(api)
    api.get(f"{API}/studies", status=503, body="Service Unavailable")
    result = run("sync", "--retries", "1")
    assert result.exit_code == 1
    assert result.stderr == "error: /studies: HTTP 503 (server error) after 2 attempts\n"
    with _sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT outcome, errors FROM runs ORDER BY id DESC LIMIT 1").fetchone() == ("failed", 1)
