"""Issue 12 items 2 and 7: the curl transport (same retries, Retry-After, pacing and caps as
requests), the 403 line, and the history client against the fake's history endpoints."""

from __future__ import annotations

import copy

import pytest
from support.clocks import FakeClock
from support.fakeapi import Fault, history_markup
from support.records import load

from regsync.client import ApiClient, ClientConfig, HistoryClient, HistoryEntry
from regsync.errors import ApiUnavailable, BadResponse, ClientRefused


def _curl(url: str, **config) -> tuple[ApiClient, FakeClock]:
    clock = FakeClock(ndigits=6)
    return ApiClient(ClientConfig(api_url=url, transport="curl", **config), sleep=clock.sleep, clock=clock), clock


def test_curl_transport_fetches_follows_aliases_and_paces(fake):
    registry, server = fake
    registry.alias("NCT00000102", "NCT07240987")
    client, clock = _curl(server.url, delay=1.0)
    assert client.get_version()["dataTimestamp"] == registry.data_timestamp
    assert client.get_study("NCT07240987").nct_id == "NCT07240987"
    alias = client.get_study("NCT00000102")
    assert (alias.nct_id, alias.requested_id) == ("NCT07240987", "NCT00000102")
    # Pacing is the client's: --delay 1 between every request, no wall clock involved.
    assert clock.slept == [1.0, 1.0]
    assert client.requests == 3


def test_curl_transport_retries_like_requests(fake):
    registry, server = fake
    registry.fail("NCT07240987", Fault.status(429, retry_after="7"), Fault.reset(), Fault.status(503))
    client, clock = _curl(server.url, delay=0)
    assert client.get_study("NCT07240987").nct_id == "NCT07240987"
    assert clock.slept[0] == 7.0  # Retry-After honoured
    assert len(clock.slept) == 3 and client.requests == 4
    assert [r.status for r in registry.requests_for("NCT07240987")] == [429, 0, 503, 200]


def test_curl_transport_gives_up_and_caps(fake):
    registry, server = fake
    registry.fail("NCT07240987", *[Fault.status(429, retry_after="1")] * 3)
    client, _ = _curl(server.url, delay=0, attempts=3)
    with pytest.raises(ApiUnavailable, match=r"^NCT07240987: HTTP 429 \(rate limited\) after 3 attempts$"):
        client.get_study("NCT07240987")
    registry.fail("NCT07240987", Fault.truncated())
    with pytest.raises(BadResponse, match="not valid JSON"):
        client.get_study("NCT07240987")
    small, _ = _curl(server.url, delay=0, max_record_bytes=1000)
    with pytest.raises(BadResponse, match="exceeds 1,000 bytes; nothing stored"):
        small.get_study("NCT07240987")


def test_sync_with_the_curl_transport(fake, run, monkeypatch):
    _, server = fake
    result = run("sync", "NCT07240987", "--transport", "curl", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "NCT07240987 new (v1)\n"
    monkeypatch.setenv("REGSYNC_TRANSPORT", "curl")
    result = run("sync", "NCT07240987", "--force", api_url=server.url)
    assert result.stdout == "NCT07240987 unchanged (v1)\n"
    monkeypatch.setenv("REGSYNC_TRANSPORT", "urllib")
    result = run("sync", api_url=server.url)
    assert result.exit_code == 2
    assert "'urllib' is not one of 'requests', 'curl'" in result.stderr


def test_a_403_is_one_line_saying_what_it_means(fake, run):
    registry, server = fake
    registry.fail("version", Fault.status(403, body="<html>Access Denied</html>", content_type="text/html"))
    result = run("sync", api_url=server.url)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the registry refused this client (HTTP 403) on GET /version: its website endpoints "
        "screen Python's TLS handshake; --transport curl (REGSYNC_TRANSPORT=curl) uses a browser's; "
        "nothing stored\n"
    )
    assert result.stdout == ""


# -- the history client ----------------------------------------------------------------------


def _versions() -> list[dict]:
    first = load("NCT07240987")
    second = copy.deepcopy(first)
    second["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    third = copy.deepcopy(second)
    third["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 40
    return [first, second, third]


def _with_history(registry) -> list[dict]:
    versions = _versions()
    for date, record in zip(("2025-11-20", "2025-12-10", "2025-12-24"), versions, strict=True):
        registry.add_history("NCT07240987", date, history_markup(record))
    return versions


def _history(url: str, **config) -> tuple[HistoryClient, FakeClock]:
    clock = FakeClock(ndigits=6)
    config.setdefault("transport", "curl")
    return HistoryClient(ClientConfig(api_url=url, **config), sleep=clock.sleep, clock=clock), clock


def test_history_index_and_versions_at_two_requests_a_second(fake):
    registry, server = fake
    versions = _with_history(registry)
    registry.screen_clients = True
    client, clock = _history(server.url, delay=0)
    index = client.get_history_index("NCT07240987")
    assert index == [
        HistoryEntry(0, "2025-11-20", "NOT_YET_RECRUITING", ()),
        HistoryEntry(1, "2025-12-10", "RECRUITING", ("statusModule",)),
        HistoryEntry(2, "2025-12-24", "RECRUITING", ("designModule",)),
    ]
    got = [client.get_history_version("NCT07240987", e.version) for e in index]
    assert [g["protocolSection"]["statusModule"]["overallStatus"] for g in got] == [
        "NOT_YET_RECRUITING", "RECRUITING", "RECRUITING"]
    assert "derivedSection" not in got[0] and "derivedSection" in versions[0]
    # --delay 0 does not make these endpoints faster than 2 requests/s.
    assert clock.slept == [0.5, 0.5, 0.5]
    assert [r.path for r in registry.requests_for("history")] == [
        "/api/int/studies/NCT07240987",
        "/api/int/studies/NCT07240987/history/0",
        "/api/int/studies/NCT07240987/history/1",
        "/api/int/studies/NCT07240987/history/2",
    ]
    assert registry.requests_for("history")[0].query == {"history": ["true"]}


def test_history_refused_to_python_tls_served_to_curl(fake):
    registry, server = fake
    _with_history(registry)
    registry.screen_clients = True
    plain, _ = _history(server.url, transport="requests")
    with pytest.raises(ClientRefused) as refused:
        plain.get_history_index("NCT07240987")
    assert str(refused.value) == (
        "the registry refused this client (HTTP 403) on NCT07240987 history: its website endpoints "
        "screen Python's TLS handshake; --transport curl (REGSYNC_TRANSPORT=curl) uses a browser's; "
        "nothing stored"
    )
    curl, _ = _history(server.url)
    assert len(curl.get_history_index("NCT07240987")) == 3


def test_history_429_waits_as_told_then_gives_up(fake):
    registry, server = fake
    _with_history(registry)
    registry.fail("history", Fault.status(429, retry_after="5"))
    client, clock = _history(server.url, delay=0)
    assert client.get_history_version("NCT07240987", 1)["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    assert clock.slept == [5.0]
    registry.fail("history", *[Fault.status(429, retry_after="5")] * 5)
    with pytest.raises(ApiUnavailable, match=r"HTTP 429 \(rate limited\) after 5 attempts"):
        client.get_history_version("NCT07240987", 1)


def test_a_study_without_history_has_an_empty_index(fake):
    _, server = fake
    client, _ = _history(server.url)
    assert client.get_history_index("NCT00763412") == []
