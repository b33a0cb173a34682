"""What regsync does with answers no registry should send (issue 10 item 1, issue 11 items
1, 4, 5, 6, 15, 16), served by the hostile server of tests/support/hostile.py (or the fake
API at a wrong URL) on 127.0.0.1.

Where the issue saw the symptom through the command line, the installed console script
runs as a real process (support.procs); the rest runs in-process or against ApiClient.
No wall-clock budget anywhere: a trickle or an endless body ends because regsync stops it,
and a regsync that did not would hit the subprocess hang guard.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from support import hostile
from support.hostile import HostileServer
from support.procs import run_regsync
from support.records import DATA_TS, load
from support.results import DEFAULT, db_versions

import regsync.cli
import regsync.client
from regsync.client import ApiClient, ClientConfig
from regsync.errors import ApiUnavailable, BadResponse
from regsync.urls import check_api_url, redact_url, split_credentials

OTHERS = ("NCT00763412", "NCT06171568")
IDS = (OTHERS[0], DEFAULT, OTHERS[1])


@pytest.fixture
def server():
    with HostileServer([load(n) for n in IDS]) as s:
        yield s


def client(url: str, **config) -> ApiClient:
    return ApiClient(ClientConfig(api_url=url, delay=0, attempts=1, **config), sleep=lambda s: None)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# -- issue 10 item 1: a URL that is not the API records nothing ------------------------------


def _stored(db: Path) -> tuple[list[tuple], list[tuple]]:
    return (rows(db, "SELECT nct_id, version, content_hash FROM versions ORDER BY nct_id, version"),
            rows(db, "SELECT nct_id, kind FROM events ORDER BY id"))


def test_api_url_without_api_v2_is_one_run_error_and_nothing_is_recorded(fake, db_path):
    """`--api-url http://127.0.0.1:PORT` (no /api/v2): every path answers 404. It used to
    mark each watched study removed and exit 0."""
    _, srv = fake
    assert run_regsync(db_path, srv.url, "watch", "add", *IDS).returncode == 0
    assert run_regsync(db_path, srv.url, "sync", "--quiet").returncode == 0
    before = _stored(db_path)
    root = srv.url.removesuffix("/api/v2")

    done = run_regsync(db_path, root, "sync", "--force")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        (f"error: {root} is not the ClinicalTrials.gov API v2 (GET /version answered HTTP 404); "
         "check --api-url (it normally ends in /api/v2); nothing stored")
    ]
    assert _stored(db_path) == before  # no removal event, no version
    assert rows(db_path, "SELECT outcome FROM runs ORDER BY id DESC LIMIT 1") == [("failed",)]


@pytest.mark.parametrize(
    ("path", "behaviour", "why"),
    [
        ("/version", hostile.not_found(), "GET /version answered HTTP 404"),
        ("/version", hostile.html_page(),
         "the registry sent an HTML page instead of JSON (maintenance?)"),
        ("/version", hostile.json_answer({"status": "ok"}), "its /version answer has no dataTimestamp"),
        ("/studies", hostile.not_found(), "GET /studies answered HTTP 404"),
    ],
    ids=["version-404", "version-html", "version-other-json", "listing-404"],
)
def test_an_answer_that_is_not_the_api_fails_the_run_before_any_removal(server, run, db_path, path, behaviour, why):
    assert run("sync", *IDS, api_url=server.url).exit_code == 0
    before = _stored(db_path)
    server.on(path, behaviour)
    result = run("sync", *IDS, "--force", api_url=server.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        (f"error: {server.url} is not the ClinicalTrials.gov API v2 ({why}); "
         "check --api-url (it normally ends in /api/v2); nothing stored")
    ]
    assert _stored(db_path) == before
    # Nothing asked one by one: the 404s were never taken for removed studies.
    assert all(server.count(f"/studies/{n}") == 0 for n in IDS)


def test_a_404_for_one_study_from_the_real_api_is_still_a_removal(server, run, db_path):
    assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    del server.records[DEFAULT]
    result = run("sync", "--force", DEFAULT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{DEFAULT} removed: no longer returned by the registry (HTTP 404)")
    assert rows(db_path, "SELECT nct_id, kind FROM events") == [(DEFAULT, "removed")]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8766/api/v2 ", "a URL cannot contain spaces or other whitespace"),
        (" https://clinicaltrials.gov/api/v2", "a URL cannot contain spaces or other whitespace"),
        ("https://clinicaltrials.gov/api/v2?x=1", "the URL cannot have a query (?...): regsync adds its own parameters"),
        ("https://clinicaltrials.gov/api/v2#top", "the URL cannot have a fragment (#...)"),
        ("notaurl", "expected an http:// or https:// URL, e.g. https://clinicaltrials.gov/api/v2"),
        ("ftp://clinicaltrials.gov/api/v2", "expected an http:// or https:// URL, e.g. https://clinicaltrials.gov/api/v2"),
        ("https:///api/v2", "the URL has no host"),
        ("http://127.0.0.1:port/api/v2", "not a URL (Port could not be cast to integer value as 'port')"),
    ],
    ids=["trailing-space", "leading-space", "query", "fragment", "no-scheme", "ftp", "no-host", "bad-port"],
)
def test_a_malformed_api_url_is_a_usage_error(run, db_path, monkeypatch, url, why):
    for how in ("option", "env"):
        if how == "env":
            monkeypatch.setenv("REGSYNC_API_URL", url)
            result = run.runner.invoke(regsync.cli.cli, ["--db", str(db_path), "sync"], obj=run.clocks,
                                       prog_name="regsync")
        else:
            result = run("sync", api_url=url)
        assert result.exit_code == 2, how
        assert result.stdout == ""
        where = " (from REGSYNC_API_URL)" if how == "env" else ""
        assert result.stderr == f"error: Invalid value for '--api-url': {url!r}: {why}{where} (see: regsync --help)\n"
        assert not db_path.exists()  # refused before anything is created


def test_check_api_url_accepts_what_the_registry_and_mirrors_use():
    for url in ("https://clinicaltrials.gov/api/v2", "https://clinicaltrials.gov/api/v2/",
                "http://127.0.0.1:8766/api/v2", "https://user:p%40ss@mirror.example:8443/ctgov/api/v2"):
        assert check_api_url(url) == url


# -- issue 11 item 1: a dataTimestamp that is not a string ------------------------------------


@pytest.mark.parametrize("stamp", [[DATA_TS], {"date": DATA_TS}, 20260904, True],
                         ids=["list", "object", "number", "bool"])
def test_a_data_timestamp_that_is_not_a_string_is_unknown_and_the_sync_goes_on(run, db_path, tmp_path, stamp):
    log = tmp_path / "sync.log"
    with HostileServer([load(DEFAULT)], data_timestamp=stamp) as srv:
        result = run("--log-file", str(log), "sync", api_url=srv.url)
        again = run("sync", api_url=srv.url)  # no "nothing to do" on a timestamp never known
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"
    assert again.exit_code == 0 and again.stdout == f"{DEFAULT} unchanged (v1)\n"
    assert rows(db_path, "SELECT data_timestamp FROM runs") == [(None,), (None,)]
    assert rows(db_path, "SELECT data_timestamp FROM versions") == [(None,)]
    assert f"/version: dataTimestamp is a {type(stamp).__name__}, not a string; treated as unknown" in log.read_text()


# -- issue 11 item 4: a nextPageToken that repeats ---------------------------------------------


def test_a_repeating_token_in_a_batch_stops_after_two_pages(server, run, db_path):
    server.on("/studies", hostile.repeating_token())
    result = run("sync", *IDS, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    # The first page is stored once; the second, which repeats its token, is not taken.
    assert sorted(result.stdout.splitlines()) == sorted(f"{n} new (v1)" for n in IDS)
    assert server.count("/studies") == 2
    assert all(db_versions(db_path, n) == [1] for n in IDS)


def test_a_repeating_token_in_a_query_watch_is_that_watch_s_error(server, run, db_path):
    server.on("/studies", hostile.repeating_token(studies=[load(DEFAULT)]))
    assert run("watch", "add", "--query", "cancer", api_url=server.url).exit_code == 0
    result = run("sync", api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: query watch 'cancer': /studies: the registry sent the same nextPageToken again "
        "(page 2); stopped, the listing would never end"
    )
    assert server.count("/studies") == 2


def test_a_listing_that_never_repeats_stops_at_the_page_bound(server, monkeypatch):
    server.on("/studies", hostile.new_token_every_page())
    api = client(server.url)
    with pytest.raises(BadResponse) as caught:
        for _ in api.iter_pages({"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-01-01,MAX]"}, max_pages=5):
            pass
    assert str(caught.value) == (
        "/studies: the registry's listing goes on past 5 pages; stopped, the listing would never end"
    )
    assert server.count("/studies") == 5
    assert regsync.client.MAX_PAGES == 1000  # the default: more than the registry's ~600k studies


def test_a_repeating_token_in_the_incremental_listing_fails_the_run(server):
    server.on("/studies", hostile.repeating_token(studies=[load(DEFAULT)]))
    api = client(server.url)
    pages = api.iter_pages({"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-01-01,MAX]"})
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in next(pages).studies] == [DEFAULT]
    with pytest.raises(BadResponse, match="the same nextPageToken again"):
        next(pages)
    assert server.count("/studies") == 2


# -- issue 11 item 5: a trickle cannot hang a run ------------------------------------------------


def test_a_trickling_answer_ends_with_the_timeout_error(server, db_path):
    """One byte every 0.05 s, for ever: no read ever waits a second, so only a bound on the
    whole request stops it."""
    server.on(f"/studies/{DEFAULT}", hostile.trickle(0.05))
    done = run_regsync(db_path, server.url, "sync", DEFAULT, "--timeout", "1", "--retries", "0")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: {DEFAULT}: no answer within 1 s (timeout) after 1 attempt"
    assert db_versions(db_path) == []


def test_trickled_headers_end_with_the_timeout_error_too(server, db_path):
    server.on(f"/studies/{DEFAULT}", hostile.trickle_headers(0.05))
    done = run_regsync(db_path, server.url, "sync", DEFAULT, "--timeout", "1", "--retries", "0")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: {DEFAULT}: no answer within 1 s (timeout) after 1 attempt"
    assert db_versions(db_path) == []


def test_the_request_deadline_runs_on_the_client_s_clock(server):
    server.on(f"/studies/{DEFAULT}", hostile.trickle(0.01))
    now = [0.0]

    def clock() -> float:  # two seconds pass at every look: the deadline is crossed mid-body
        now[0] += 2.0
        return now[0]

    api = ApiClient(ClientConfig(api_url=server.url, delay=0, attempts=1, timeout=7), clock=clock)
    with pytest.raises(ApiUnavailable) as caught:
        api.get_study(DEFAULT)
    assert str(caught.value) == f"{DEFAULT}: no answer within 7 s (timeout) after 1 attempt"


# -- issue 11 item 6: answers bigger than any record or page ---------------------------------


def test_a_gzip_bomb_is_the_study_s_error_with_the_default_cap(server, db_path):
    server.on(f"/studies/{DEFAULT}", hostile.gzip_bomb(32 * 2**20))  # 32 KB -> 32 MB
    done = run_regsync(db_path, server.url, "sync", DEFAULT)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"error: {DEFAULT}: the registry's answer exceeds 16 MB; nothing stored"
    )
    assert db_versions(db_path) == []


def test_a_gzip_bomb_under_a_small_cap_and_a_normal_record_beside_it(server, run, db_path, monkeypatch):
    monkeypatch.setattr(regsync.client, "MAX_RECORD_BYTES", 2**20)
    server.on(f"/studies/{DEFAULT}", hostile.gzip_bomb(4 * 2**20))
    result = run("sync", DEFAULT, api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {DEFAULT}: the registry's answer exceeds 1 MB; nothing stored"
    # Under the cap, the same encoding is read as usual.
    server.on(f"/studies/{DEFAULT}", hostile.gzip_bomb(2**19))
    result = run("sync", DEFAULT, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{DEFAULT} new (v1)\n"


def test_an_endless_chunked_study_is_that_study_s_error(server, run, db_path, monkeypatch):
    monkeypatch.setattr(regsync.client, "MAX_RECORD_BYTES", 2**20)
    server.on(f"/studies/{DEFAULT}", hostile.endless_chunked())
    result = run("sync", DEFAULT, api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {DEFAULT}: the registry's answer exceeds 1 MB; nothing stored"
    assert db_versions(db_path) == []


def test_an_endless_chunked_page_fails_the_batch_and_the_studies_come_one_by_one(server, run, db_path, tmp_path, monkeypatch):
    monkeypatch.setattr(regsync.client, "MAX_PAGE_BYTES", 2**20)
    server.on("/studies", hostile.endless_chunked())
    log = tmp_path / "sync.log"
    result = run("--log-file", str(log), "sync", *IDS, api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"{n} new (v1)" for n in IDS)
    assert "batch of 3 failed (/studies: the registry's answer exceeds 1 MB; nothing stored)" in log.read_text()
    assert all(server.count(f"/studies/{n}") == 1 for n in IDS)


def test_the_size_cap_counts_decoded_bytes_not_what_came_over_the_wire(server):
    server.on(f"/studies/{DEFAULT}", hostile.gzip_bomb(300_000))
    with pytest.raises(BadResponse) as caught:
        client(server.url, max_record_bytes=100_000).get_study(DEFAULT)
    assert str(caught.value) == f"{DEFAULT}: the registry's answer exceeds 100,000 bytes; nothing stored"


# -- issue 11 item 15: redirects stay on the API's scheme and host --------------------------------


@pytest.mark.parametrize("foreign_host", ["localhost", "127.0.0.1"], ids=["other-host", "other-port"])
def test_a_redirect_to_another_host_is_not_followed(server, run, db_path, foreign_host):
    other = load(OTHERS[0])
    other["protocolSection"]["identificationModule"]["nctId"] = DEFAULT  # a forged record
    with HostileServer([other], host=foreign_host) as foreign:
        server.on(f"/studies/{DEFAULT}", hostile.redirect(f"{foreign.url}/studies/{DEFAULT}", 302))
        result = run("sync", DEFAULT, api_url=server.url)
        assert foreign.requests == []
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: {DEFAULT}: the registry redirected to another host ({foreign_host}:{foreign.port}); "
        "not followed, nothing stored"
    )
    assert db_versions(db_path) == []


def test_a_redirect_from_https_to_http_is_not_followed(run, db_path, api):
    base = "https://registry.test/api/v2"
    api.get(f"{base}/version", json={"apiVersion": "2.0.5", "dataTimestamp": DATA_TS})
    api.get(f"{base}/studies/{DEFAULT}", status=301,
            headers={"Location": f"http://registry.test/api/v2/studies/{DEFAULT}"})
    api.get(f"http://registry.test/api/v2/studies/{DEFAULT}", json=load(DEFAULT))
    result = run("sync", DEFAULT, api_url=base)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: {DEFAULT}: the registry redirected from https to http (registry.test); "
        "not followed, nothing stored"
    )
    assert [c.request.url.split("?")[0] for c in api.calls] == [f"{base}/version", f"{base}/studies/{DEFAULT}"]
    assert db_versions(db_path) == []


def test_a_redirect_loop_on_the_api_s_own_host_ends(server, run, db_path):
    server.on(f"/studies/{DEFAULT}", hostile.redirect(f"/api/v2/studies/{DEFAULT}", 307))
    result = run("sync", DEFAULT, api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {DEFAULT}: more than 10 redirects in a row; nothing stored"
    assert server.count(f"/studies/{DEFAULT}") == 11
    assert db_versions(db_path) == []


def test_the_registry_s_own_alias_redirect_is_still_followed(server, run, db_path):
    server.on("/studies/NCT00000102", hostile.redirect(f"/api/v2/studies/{DEFAULT}"))
    result = run("sync", "NCT00000102", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"NCT00000102 -> {DEFAULT} (alias) new (v1)\n"
    assert rows(db_path, "SELECT requested_id FROM versions") == [("NCT00000102",)]


# -- issue 11 item 16: credentials in --api-url ----------------------------------------------------


def test_credentials_are_sent_but_never_printed_logged_or_stored(db_path, tmp_path):
    log = tmp_path / "sync.log"
    with HostileServer([load(n) for n in IDS], auth=("ops", "s3cr3t")) as srv:
        srv.on("/studies/NCT00000102", hostile.redirect(f"/api/v2/studies/{DEFAULT}"))
        url = srv.url.replace("http://", "http://ops:s3cr3t@")
        first = run_regsync(db_path, url, "--log-file", str(log), "-vv", "sync", *OTHERS)
        alias = run_regsync(db_path, url, "--log-file", str(log), "-v", "sync", "NCT00000102")
        sent = set(srv.authorizations)
    assert first.returncode == 0, first.stderr
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == f"NCT00000102 -> {DEFAULT} (alias) new (v1)\n"
    assert sent == {"Basic b3BzOnMzY3IzdA=="}  # ops:s3cr3t, on every request, redirect included
    assert "GET " + srv.url in log.read_text()  # the log names the server...
    for text in (first.stdout, first.stderr, alias.stderr, log.read_text()):
        assert "s3cr3t" not in text  # ...never the password
    sources = rows(db_path, "SELECT url FROM sources") + rows(db_path, "SELECT source FROM versions")
    assert sources and not any("s3cr3t" in str(s) for s in sources)
    assert all(b"s3cr3t" not in p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_rejected_credentials_are_one_run_error(run, db_path):
    with HostileServer([load(n) for n in IDS], auth=("ops", "s3cr3t")) as srv:
        result = run("sync", *IDS, api_url=srv.url.replace("http://", "http://ops:wrong@"))
        assert set(srv.paths) == {"/version"}
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {srv.url} refused the request (GET /version answered HTTP 401); "
        "check the credentials in --api-url; nothing stored"
    ]


def test_credentials_are_not_in_error_lines(db_path):
    url = f"http://ops:s3cr3t@127.0.0.1:{hostile.free_port_refusing()}/api/v2"
    done = run_regsync(db_path, url, "sync", DEFAULT, "--retries", "0")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith("error: /version: connection failed to 127.0.0.1:")
    assert "s3cr3t" not in done.stderr and "ops" not in done.stderr


def test_redact_url_and_split_credentials():
    assert redact_url("GET http://ops:s3cr3t@h:1/api/v2/version -> 200") == "GET http://***@h:1/api/v2/version -> 200"
    assert redact_url("https://clinicaltrials.gov/api/v2") == "https://clinicaltrials.gov/api/v2"
    assert split_credentials("https://ops:p%40ss@h/api/v2") == ("https://h/api/v2", ("ops", "p@ss"))
    assert split_credentials("https://h/api/v2") == ("https://h/api/v2", None)


def test_the_log_file_is_created_private(run, tmp_path):
    log = tmp_path / "new.log"
    old_umask = os.umask(0o022)
    try:
        run("--log-file", str(log), "status")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600

