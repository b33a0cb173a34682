"""Shared fixtures: tmp_path databases, mocked HTTP, the in-process CLI, the fake API.

Helpers shared by several test files live in tests/support (importable as ``support``);
no test imports another test module or this file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import responses

from regsync.cli import Clocks
from support.cli import Cli
from support.fakeapi import FakeRegistry, FakeServer, load_fixtures, serve
from support.records import DATA_TS


@pytest.fixture(autouse=True)
def _no_real_waiting(monkeypatch) -> list[float]:
    """Where in-process CLI runs record their sleeps (back-off, Retry-After, pacing, --wait)
    instead of sleeping: the ``run`` fixture hands the CLI ``Clocks(sleep=slept.append)``.
    Tests that build an ApiClient or a WriteLock pass ``sleep=``/``clock=`` themselves; runs
    of the real script get ``REGSYNC_DELAY=0``."""
    slept: list[float] = []
    monkeypatch.setenv("REGSYNC_DELAY", "0")
    # The nightly fill-in reads the registry's history endpoints with curl, which `responses`
    # cannot mock: off unless a test turns it on (tests/test_timeline_*.py do, against the fake).
    monkeypatch.setenv("REGSYNC_FILL_IN", "0")
    for var in ("REGSYNC_DB", "REGSYNC_API_URL", "REGSYNC_WAIT", "REGSYNC_LOG_FILE"):
        monkeypatch.delenv(var, raising=False)
    return slept


@pytest.fixture
def slept(_no_real_waiting) -> list[float]:
    """The seconds an in-process sync would have slept (back-off, Retry-After), in order."""
    return _no_real_waiting


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "regsync.db"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Every HTTP exchange is mocked; an unexpected request fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def run(db_path, slept) -> Cli:
    """The CLI in-process on ``db_path``: ``run("sync", api_url=server.url)``."""
    return Cli(db_path, Clocks(sleep=slept.append))


FakeApi = Callable[..., tuple[FakeRegistry, FakeServer]]


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """Start a fake API: ``fake_api(records=None)`` -> (registry, server), serving every
    fixture record unless given others; each is stopped (its holds released) after the test."""
    with contextlib.ExitStack() as stack:

        def start(records: Iterable[dict] | None = None) -> tuple[FakeRegistry, FakeServer]:
            registry = FakeRegistry(data_timestamp=DATA_TS)
            for record in load_fixtures() if records is None else records:
                registry.add(record)
            return registry, stack.enter_context(serve(registry))

        yield start


@pytest.fixture
def fake(fake_api) -> tuple[FakeRegistry, FakeServer]:
    """The fake API serving every fixture record: (registry, server)."""
    return fake_api()
