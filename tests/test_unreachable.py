"""A registry that cannot be reached (issue 22 items 6 and 7): the error names the host and
the cause in plain words, whichever transport; attempts that reached no server are not
counted as requests; and when /version reached no server, no study is tried one by one.

Against a dead 127.0.0.1 port (nothing listens); sleeps are recorded, never slept.
"""

from __future__ import annotations

import socket
import sqlite3

import pytest

from regsync.client import ApiClient, ClientConfig
from regsync.errors import ApiUnreachable
from support.results import DEFAULT

OTHERS = ("NCT00763412", "NCT06171568")


@pytest.fixture
def dead_url() -> str:
    """An API URL on a local port nothing listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v2"


def test_sync_on_a_dead_port_stops_after_version(run, db_path, slept, dead_url):
    result = run("sync", DEFAULT, *OTHERS, api_url=dead_url)
    host = dead_url.split("/")[2]
    assert result.exit_code == 1
    assert result.stdout == ""
    # One line, naming the host: not one line and one set of retries per study.
    assert result.stderr.splitlines() == [
        f"error: /version: connection failed to {host} (connection refused) after 5 attempts; nothing fetched"
    ]
    # The back-off of /version's 5 attempts only (REGSYNC_DELAY=0: no pacing).
    assert len(slept) == 4
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT outcome, errors, requests FROM runs").fetchone()
    # Nothing reached a server: no request was sent.
    assert row == ("failed", 1, 0)


@pytest.mark.parametrize("transport", ["requests", "curl"])
def test_refused_reads_the_same_on_both_transports(dead_url, transport):
    slept: list[float] = []
    client = ApiClient(ClientConfig(api_url=dead_url, transport=transport, delay=0), sleep=slept.append)
    with pytest.raises(ApiUnreachable) as caught:
        client.get_version()
    host = dead_url.split("/")[2]
    # Not "_CurlConnection: Failed to perform, curl: (7) ..." cut mid-word.
    assert str(caught.value) == f"/version: connection failed to {host} (connection refused) after 5 attempts"
    assert client.requests == 0
    assert len(slept) == 4


@pytest.mark.parametrize("transport", ["requests", "curl"])
def test_unresolvable_host_is_named(transport):
    client = ApiClient(
        ClientConfig(api_url="http://regsync-test.invalid/api/v2", transport=transport, delay=0, attempts=1),
        sleep=lambda seconds: None,
    )
    with pytest.raises(ApiUnreachable) as caught:
        client.get_study(DEFAULT)
    message = str(caught.value)
    assert message.startswith(f"{DEFAULT}: connection failed to regsync-test.invalid (")
    assert message.endswith(") after 1 attempt")
    assert "curl" not in message and "Error" not in message
    assert client.requests == 0


def test_answers_count_as_requests(fake, dead_url):
    """The other side: an attempt a server answered is a request, a 503 included."""
    registry, server = fake
    from support.fakeapi import Fault

    registry.fail("version", Fault.status(503))
    client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda seconds: None)
    client.get_version()
    assert client.requests == 2
