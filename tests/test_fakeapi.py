"""The local fake of the ClinicalTrials.gov API v2 behaves like the real one where regsync
depends on it, and its scripted faults look like the failures they stand for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import orjson
import pytest
import requests

from support.fakeapi import Fault, FakeRegistry, load_fixtures, mutate, serve, synthesize
from support.procs import HANG_GUARD, wait_for
from support.records import FIXTURES, load

TESTS = Path(__file__).resolve().parent
SMALL_IDS = ["NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568", "NCT07240987"]


@pytest.fixture
def registry() -> FakeRegistry:
    reg = FakeRegistry()
    for nct_id in SMALL_IDS:
        reg.add(load(nct_id))
    return reg


@pytest.fixture
def server(registry):
    with serve(registry) as running:
        yield running


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def list_page(http, server, **params) -> dict:
    response = http.get(f"{server.url}/studies", params=params, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def all_pages(http, server, **params) -> list[dict]:
    pages = [list_page(http, server, **params)]
    while "nextPageToken" in pages[-1]:
        pages.append(list_page(http, server, **params, pageToken=pages[-1]["nextPageToken"]))
    return pages


def ids_of(page: dict) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


# --- one study ---------------------------------------------------------------------------------


def test_single_study_is_the_stored_record(server, http):
    response = http.get(f"{server.url}/studies/NCT07240987", params={"markupFormat": "markdown",
                                                                    "format": "json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.json() == load("NCT07240987")


@pytest.mark.parametrize("spelling", ["nct7240987", "NcT07240987", "NCT007240987"])
def test_single_study_id_is_case_insensitive_and_normalised(server, http, spelling):
    response = http.get(f"{server.url}/studies/{spelling}")
    assert response.status_code == 200
    assert response.json()["protocolSection"]["identificationModule"]["nctId"] == "NCT07240987"


def test_unknown_study_is_404_text(server, http):
    response = http.get(f"{server.url}/studies/NCT99999999")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "NCT number NCT99999999 not found"


@pytest.mark.parametrize("bad", ["ABC123", "NCT0", "NCT123456789", "NCT12x"])
def test_malformed_id_is_400_text(server, http, bad):
    response = http.get(f"{server.url}/studies/{bad}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Parameter `nctId` has incorrect format"


def test_alias_redirects_to_the_canonical_study_keeping_the_query(registry, server, http):
    registry.alias("NCT00000123", "NCT07240987")
    raw = http.get(f"{server.url}/studies/nct123?fields=NCTId", allow_redirects=False)
    assert raw.status_code == 301
    assert raw.headers["Location"] == "/api/v2/studies/NCT07240987?fields=NCTId"

    followed = http.get(f"{server.url}/studies/NCT00000123")
    assert [r.status_code for r in followed.history] == [301]
    assert followed.url == f"{server.url}/studies/NCT07240987"
    assert followed.json()["protocolSection"]["identificationModule"]["nctId"] == "NCT07240987"


def test_single_study_fields_projection(server, http):
    response = http.get(f"{server.url}/studies/NCT07240987", params={"fields": "NCTId|OverallStatus"})
    assert response.json() == {"protocolSection": {
        "identificationModule": {"nctId": "NCT07240987"},
        "statusModule": {"overallStatus": "NOT_YET_RECRUITING"},
    }}


def test_add_replaces_remove_forgets_get_copies(registry, server, http):
    record = registry.get("NCT07240987")
    record["protocolSection"]["identificationModule"]["briefTitle"] = "Changed"
    assert registry.get("NCT07240987") != record  # get returned a copy
    registry.add(record)
    assert http.get(f"{server.url}/studies/NCT07240987").json() == record

    registry.remove("nct7240987")
    assert http.get(f"{server.url}/studies/NCT07240987").status_code == 404
    assert "NCT07240987" not in registry and len(registry) == 4
    with pytest.raises(KeyError):
        registry.remove("NCT07240987")


def test_version_serves_the_settable_data_timestamp(registry, server, http):
    assert http.get(f"{server.url}/version").json() == {
        "apiVersion": "2.0.5", "dataTimestamp": "2026-09-04T09:00:06"}
    registry.data_timestamp = "2026-09-05T09:00:11"
    assert http.get(f"{server.url}/version").json()["dataTimestamp"] == "2026-09-05T09:00:11"


def test_other_paths_are_404_text(server, http):
    for path in ("/api/v2/stats/size", "/studies/NCT07240987", "/api/v2/studies/NCT07240987/x"):
        response = http.get(f"http://127.0.0.1:{server.port}{path}")
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/plain")


def test_connections_are_kept_alive(server):
    conn = HTTPConnection("127.0.0.1", server.port, timeout=5)
    sockets = []
    for path in ("/api/v2/version", "/api/v2/studies/NCT99999999", "/api/v2/studies?pageSize=2"):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.getheader("Connection") != "close"
        sockets.append(conn.sock)
    assert sockets[0] is not None and sockets == [sockets[0]] * 3  # one socket, reused
    conn.close()


# --- the list endpoint -------------------------------------------------------------------------


def test_paging_visits_every_study_once_in_id_order(server, http):
    pages = all_pages(http, server, pageSize=2, fields="NCTId")
    assert [ids_of(p) for p in pages] == [SMALL_IDS[0:2], SMALL_IDS[2:4], SMALL_IDS[4:]]
    assert "nextPageToken" not in pages[-1]


def test_page_size_defaults_to_10_and_is_cut_to_1000(registry, server, http):
    for record in synthesize(1200):
        registry.add(record)
    assert len(list_page(http, server, fields="NCTId")["studies"]) == 10
    assert len(list_page(http, server, fields="NCTId", pageSize=0)["studies"]) == 10
    pages = all_pages(http, server, fields="NCTId", pageSize=5000)
    assert [len(p["studies"]) for p in pages] == [1000, 205]


def test_count_total_only_on_the_first_page(server, http):
    first = list_page(http, server, pageSize=2, countTotal="true", fields="NCTId")
    assert first["totalCount"] == 5
    assert list(first) == ["studies", "totalCount", "nextPageToken"]  # the real API's order
    second = list_page(http, server, pageSize=2, countTotal="true", fields="NCTId",
                       pageToken=first["nextPageToken"])
    assert "totalCount" not in second
    assert "totalCount" not in list_page(http, server, pageSize=2, fields="NCTId")


def test_paging_is_stable_when_studies_are_added_between_pages(registry, server, http):
    first = list_page(http, server, pageSize=2, fields="NCTId")
    record = load("NCT07240987")
    record["protocolSection"]["identificationModule"]["nctId"] = "NCT00000001"
    registry.add(record)  # sorts before the cursor: must not shift the next page
    second = list_page(http, server, pageSize=2, fields="NCTId", pageToken=first["nextPageToken"])
    assert ids_of(second) == SMALL_IDS[2:4]


def test_bad_page_token_is_400(server, http):
    response = http.get(f"{server.url}/studies", params={"pageToken": "garbage!"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")


def test_full_records_when_fields_is_absent(server, http):
    page = list_page(http, server, pageSize=1)
    assert page["studies"] == [load("NCT00763412")]


def test_filter_ids_comma_or_pipe_with_aliases(registry, server, http):
    registry.alias("NCT00000042", "NCT06171568")
    page = list_page(http, server, **{"filter.ids": "NCT07240987,nct42|NCT99999999",
                                    "fields": "NCTId"})
    assert ids_of(page) == ["NCT06171568", "NCT07240987"]
    response = http.get(f"{server.url}/studies", params={"filter.ids": "NCT07240987,oops"})
    assert response.status_code == 400


@pytest.mark.parametrize(("expr", "expected"), [
    # lastUpdatePostDate: NCT00763412 2017-06-05, NCT00973089 2015-08-19,
    # NCT06131398 2026-08-11, NCT06171568 2023-12-14, NCT07240987 2025-12-24
    ("AREA[LastUpdatePostDate]RANGE[2023-12-14,MAX]", ["NCT06131398", "NCT06171568", "NCT07240987"]),
    ("AREA[LastUpdatePostDate]RANGE[MIN,2017-06-05]", ["NCT00763412", "NCT00973089"]),
    ("AREA[LastUpdatePostDate]RANGE[2016-01-01, 2025-12]", ["NCT00763412", "NCT06171568",
                                                            "NCT07240987"]),
    ("AREA[LastUpdatePostDate]RANGE[12/14/2023,MAX] AND AREA[LastUpdatePostDate]RANGE[MIN,2026]",
     ["NCT06131398", "NCT06171568", "NCT07240987"]),
    ("AREA[LastUpdatePostDate]RANGE[2026-09-01,MAX]", []),
])
def test_filter_advanced_last_update_range(server, http, expr, expected):
    page = list_page(http, server, **{"filter.advanced": expr, "fields": "NCTId", "countTotal": "true"})
    assert ids_of(page) == expected
    assert page["totalCount"] == len(expected)


def test_filter_advanced_paging_skips_non_matching(server, http):
    expr = "AREA[LastUpdatePostDate]RANGE[2017-01-01,MAX]"
    pages = all_pages(http, server, pageSize=2, fields="NCTId", **{"filter.advanced": expr})
    assert [ids_of(p) for p in pages] == [["NCT00763412", "NCT06131398"],
                                          ["NCT06171568", "NCT07240987"]]


def test_unsupported_filters_are_refused_not_ignored(server, http):
    for params in ({"filter.advanced": "AREA[StartDate]2022"}, {"query.cond": "cancer"},
                   {"filter.overallStatus": "RECRUITING"}):
        response = http.get(f"{server.url}/studies", params=params)
        assert response.status_code == 400, params


def test_fields_projection_keeps_the_nested_layout(server, http):
    page = list_page(http, server, pageSize=1,
                     fields="NCTId,LastUpdatePostDate,OverallStatus,BriefTitle")
    assert page["studies"] == [{"protocolSection": {
        "identificationModule": {
            "nctId": "NCT00763412",
            "briefTitle": "Pilot and Feasibility Study for the Treatment of Pre-diabetes in "
                          "Patients With Cystic Fibrosis",
        },
        "statusModule": {"overallStatus": "COMPLETED",
                         "lastUpdatePostDateStruct": {"date": "2017-06-05"}},
    }}]


def test_fields_pieces_in_lists_modules_and_paths(server, http):
    page = list_page(http, server, pageSize=1, **{"filter.ids": "NCT00763412"},
                     fields="InterventionName,ConditionsModule,protocolSection.designModule.phases,"
                            "HasResults,StartDate")
    expected = load("NCT00763412")
    protocol = expected["protocolSection"]
    assert page["studies"] == [{
        "protocolSection": {
            "statusModule": {"startDateStruct": {"date": protocol["statusModule"]["startDateStruct"]["date"]}},
            "conditionsModule": protocol["conditionsModule"],
            "designModule": {"phases": protocol["designModule"]["phases"]},
            "armsInterventionsModule": {"interventions": [
                {"name": i["name"]} for i in protocol["armsInterventionsModule"]["interventions"]]},
        },
        "hasResults": True,
    }]


def test_query_term_answers_only_what_was_set(registry, server, http):
    registry.set_query("phelan mcdermid", ["NCT07240987", "NCT00973089"])
    page = list_page(http, server, **{"query.term": "phelan mcdermid", "fields": "NCTId"})
    assert ids_of(page) == ["NCT00973089", "NCT07240987"]
    assert list_page(http, server, **{"query.term": "anything else"})["studies"] == []
    both = list_page(http, server, **{"query.term": "phelan mcdermid", "filter.ids": "NCT07240987",
                                    "fields": "NCTId"})
    assert ids_of(both) == ["NCT07240987"]


# --- faults ------------------------------------------------------------------------------------


def test_status_faults_then_normal_answers(registry, server, http):
    registry.fail("nct7240987", Fault.status(429, retry_after="7"), Fault.status(503, body="down"))
    first = http.get(f"{server.url}/studies/NCT07240987")
    assert (first.status_code, first.headers["Retry-After"], first.text) == (
        429, "7", "429 Too Many Requests")
    assert first.headers["Content-Type"] == "text/plain"
    second = http.get(f"{server.url}/studies/NCT07240987")
    assert (second.status_code, second.text, "Retry-After" in second.headers) == (503, "down", False)
    assert http.get(f"{server.url}/studies/NCT07240987").status_code == 200
    assert http.get(f"{server.url}/studies/NCT06171568").status_code == 200  # other targets unaffected


def test_faults_on_the_list_and_version_targets(registry, server, http):
    registry.fail("studies", Fault.status(502))
    registry.fail("version", Fault.status(504))
    assert http.get(f"{server.url}/studies").status_code == 502
    assert http.get(f"{server.url}/version").status_code == 504
    assert http.get(f"{server.url}/studies").status_code == 200
    assert http.get(f"{server.url}/version").status_code == 200


def test_html_maintenance_page_with_200(registry, server, http):
    registry.fail("NCT07240987", Fault.html_200())
    response = http.get(f"{server.url}/studies/NCT07240987")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "maintenance" in response.text


def test_truncated_and_empty_bodies(registry, server, http):
    full = http.get(f"{server.url}/studies/NCT07240987").content
    registry.fail("NCT07240987", Fault.truncated(), Fault.empty())
    truncated = http.get(f"{server.url}/studies/NCT07240987")
    assert truncated.status_code == 200
    assert truncated.headers["Content-Type"] == "application/json"
    assert truncated.content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.content)
    empty = http.get(f"{server.url}/studies/NCT07240987")
    assert (empty.status_code, empty.content) == (200, b"")


def test_truncated_list_page(registry, server, http):
    registry.fail("studies", Fault.truncated())
    response = http.get(f"{server.url}/studies", params={"pageSize": 3})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_reset_raises_connection_error_and_the_next_request_works(registry, server, http):
    registry.fail("NCT07240987", Fault.reset())
    with pytest.raises(requests.ConnectionError):
        http.get(f"{server.url}/studies/NCT07240987", timeout=5)
    assert http.get(f"{server.url}/studies/NCT07240987", timeout=5).status_code == 200
    assert [r.status for r in registry.requests] == [0, 200]


def test_a_held_request_triggers_a_read_timeout_and_the_next_is_answered(registry, server, http):
    hold = registry.hold("version")
    with pytest.raises(requests.ReadTimeout):
        http.get(f"{server.url}/version", timeout=(HANG_GUARD, 0.2))
    assert (hold.arrived, hold.released) == (1, False)  # never answered: still held
    assert http.get(f"{server.url}/version", timeout=HANG_GUARD).status_code == 200
    assert [r.status for r in registry.requests] == [200]  # a held request is logged when answered
    hold.release()
    wait_for(lambda: registry.count("version") == 2, what="the released request")


def test_a_held_request_gets_the_normal_answer_once_released(registry, server, http):
    hold = registry.hold("NCT07240987", times=2)
    answers: list[requests.Response] = []
    client = threading.Thread(target=lambda: answers.append(
        requests.get(f"{server.url}/studies/NCT07240987", timeout=HANG_GUARD)))
    client.start()
    hold.wait_arrived()
    assert answers == [] and registry.requests == []  # held: no answer yet
    hold.release()
    client.join(HANG_GUARD)
    assert [(a.status_code, a.json()) for a in answers] == [(200, load("NCT07240987"))]
    # Released for good: the second request it was queued for is not held.
    assert http.get(f"{server.url}/studies/NCT07240987", timeout=HANG_GUARD).status_code == 200
    assert hold.arrived == 2 and registry.count("NCT07240987") == 2


def test_stopping_the_server_releases_its_holds(registry):
    hold = registry.hold("version")
    outcomes: list[object] = []

    def ask(url: str) -> None:
        try:
            outcomes.append(requests.get(f"{url}/version", timeout=HANG_GUARD).status_code)
        except requests.RequestException:  # the server hung up first: just as good
            outcomes.append("hung up")

    with serve(registry) as running:
        client = threading.Thread(target=ask, args=(running.url,))
        client.start()
        hold.wait_arrived()
    assert hold.released
    client.join(HANG_GUARD)
    assert len(outcomes) == 1 and outcomes[0] in (200, "hung up")  # not left hanging


def test_a_request_held_across_reset_log_is_not_logged_after_it(registry, server):
    # A request held while its client is killed is answered only once the test releases it;
    # if that lands after reset_log, it must not show up as a request of the next run.
    hold = registry.hold("version")
    answers: list[int] = []
    client = threading.Thread(
        target=lambda: answers.append(requests.get(f"{server.url}/version", timeout=HANG_GUARD).status_code))
    client.start()
    hold.wait_arrived()
    registry.reset_log()
    hold.release()
    client.join(HANG_GUARD)
    assert answers == [200]  # the log is written before the answer is sent
    assert registry.requests_for() == []
    requests.get(f"{server.url}/version", timeout=HANG_GUARD)
    assert [r.target for r in registry.requests_for()] == ["version"]


def test_wrong_record(registry, server, http):
    registry.fail("NCT07240987", Fault.wrong_record("NCT00973089"))
    registry.fail("studies", Fault.wrong_record("NCT00973089"))
    assert http.get(f"{server.url}/studies/NCT07240987").json() == load("NCT00973089")
    page = list_page(http, server, **{"filter.ids": "NCT07240987"})
    assert page == {"studies": [load("NCT00973089")]}


def test_faults_for_a_study_not_yet_stored_and_clear_faults(registry, server, http):
    registry.fail("NCT01234567", Fault.status(500))
    assert http.get(f"{server.url}/studies/NCT01234567").status_code == 500
    assert http.get(f"{server.url}/studies/NCT01234567").status_code == 404
    registry.fail("version", Fault.status(500))
    registry.clear_faults()
    assert http.get(f"{server.url}/version").status_code == 200
    with pytest.raises(Exception):
        registry.fail("not-a-target", Fault.empty())


# --- the request log ---------------------------------------------------------------------------


def test_request_log_and_counts(registry, server, http):
    registry.fail("version", Fault.status(503))
    before = time.time()
    http.get(f"{server.url}/version")
    after = time.time()
    http.get(f"{server.url}/version")
    http.get(f"{server.url}/studies/nct7240987", params={"fields": "NCTId"})
    http.get(f"{server.url}/studies", params={"filter.ids": "NCT07240987|NCT00973089"})
    http.get(f"{server.url}/nowhere")

    first = registry.requests[0]
    assert (first.method, first.path, first.query, first.status, first.target) == (
        "GET", "/api/v2/version", {}, 503, "version")
    assert before <= first.time <= after  # time.time() on receipt
    study = registry.requests[2]
    assert (study.path, study.query, study.target) == (
        "/api/v2/studies/nct7240987", {"fields": ["NCTId"]}, "NCT07240987")
    assert registry.requests[3].query == {"filter.ids": ["NCT07240987|NCT00973089"]}

    assert registry.count() == 5
    assert registry.count("version") == 2
    assert registry.count("version", status=200) == 1
    assert registry.count("NCT07240987") == 1
    assert registry.count("studies") == 1
    assert [r.status for r in registry.requests_for(status=404)] == [404]
    registry.reset_log()
    assert registry.requests == [] and registry.count() == 0


# --- synthetic data ----------------------------------------------------------------------------


def test_synthesize_is_deterministic_with_distinct_ids():
    records = list(synthesize(300))
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    assert len(set(ids)) == 300 and ids[:2] == ["NCT10000000", "NCT10000001"]
    assert records == list(synthesize(300))
    assert records[:50] == list(synthesize(50))  # a prefix of a longer run
    assert records != list(synthesize(300, seed=1))
    assert list(synthesize(3, fixtures_dir=FIXTURES)) == records[:3]

    titles = {r["protocolSection"]["identificationModule"]["briefTitle"] for r in records}
    dates = {r["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] for r in records}
    assert len(titles) == 300 and len(dates) > 200
    average = sum(len(orjson.dumps(r)) for r in records) / len(records)
    assert 10_000 <= average <= 40_000


def test_mutate_edits_a_copy_and_sets_the_post_date():
    original = load("NCT07240987")
    before = orjson.dumps(original)
    edited = mutate(original, "2026-09-05")
    assert orjson.dumps(original) == before
    status = edited["protocolSection"]["statusModule"]
    assert status["lastUpdatePostDateStruct"] == {"date": "2026-09-05", "type": "ACTUAL"}
    assert status["lastUpdateSubmitDate"] == "2026-09-04"
    count = original["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
    assert edited["protocolSection"]["designModule"]["enrollmentInfo"]["count"] == count + 1

    del original["protocolSection"]["designModule"]["enrollmentInfo"]
    moved = mutate(original, "2026-09-05")["protocolSection"]["statusModule"]
    assert moved["primaryCompletionDateStruct"]["date"] != (
        original["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"])


def test_load_fixtures_reads_every_record():
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in load_fixtures()]
    assert ids == sorted(SMALL_IDS + ["NCT02513394"])


def test_2000_full_records_come_in_two_pages_of_cached_bytes(http):
    # How fast it serves them is measured by bench/fakeapi_bench.py, not asserted here.
    registry = FakeRegistry()
    for record in synthesize(2000):
        registry.add(record)
    with serve(registry) as running:
        pages = all_pages(http, running, pageSize=1000)
    assert [len(page["studies"]) for page in pages] == [1000, 1000]
    assert [i for page in pages for i in ids_of(page)] == registry.ids()
    assert pages[1]["studies"][-1] == registry.get("NCT10001999")


@pytest.mark.parametrize("how", ["from tests/", "PYTHONPATH=tests"])
def test_command_line_serves_until_stopped(how):
    # As README's "Development" says: `python -m support.fakeapi` from tests/, or from
    # anywhere with tests/ on PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if how == "PYTHONPATH=tests":
        cwd, env["PYTHONPATH"] = TESTS.parent, str(TESTS)
    else:
        cwd = TESTS
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.fakeapi", "--port", "0", "--synthetic", "3"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v2")
        assert "(9 studies)" in line  # 6 fixtures + 3 synthetic
        assert requests.get(f"{url}/studies/NCT10000002", timeout=HANG_GUARD).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=HANG_GUARD)
