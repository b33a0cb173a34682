"""Shared fixtures: real registry records, tmp_path databases, mocked HTTP, the CLI runner."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from regsync import client as client_module
from regsync.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
API = "https://registry.test/api/v2"
DATA_TS = "2026-09-04T09:00:06"

_cache: dict[str, dict] = {}


def load(name: str) -> dict:
    """A fresh deep copy of a real record from tests/fixtures (e.g. 'NCT07240987')."""
    if name not in _cache:
        _cache[name] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(_cache[name])


@pytest.fixture(autouse=True)
def _no_real_waiting(monkeypatch):
    """Back-off and pacing sleeps are recorded, not slept; tests never wait for real."""
    slept: list[float] = []
    monkeypatch.setattr(client_module, "_sleep", slept.append)
    monkeypatch.setenv("REGSYNC_DELAY", "0")
    for var in ("REGSYNC_DB", "REGSYNC_API_URL", "REGSYNC_WAIT", "REGSYNC_LOG_FILE"):
        monkeypatch.delenv(var, raising=False)
    return slept


@pytest.fixture
def slept(_no_real_waiting):
    return _no_real_waiting


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "regsync.db"


@pytest.fixture
def api():
    """Every HTTP exchange is mocked; an unexpected request fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def study_url(nct_id: str) -> str:
    return f"{API}/studies/{nct_id}"


def mock_version(api, ts: str = DATA_TS, **kwargs) -> None:
    api.get(f"{API}/version", json={"apiVersion": "2.0.5", "dataTimestamp": ts}, **kwargs)


def mock_study(api, record: dict, **kwargs) -> None:
    nct_id = record["protocolSection"]["identificationModule"]["nctId"]
    api.get(study_url(nct_id), json=record, **kwargs)


class Cli:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.runner = CliRunner()

    def __call__(self, *args: str, api_url: str = API, input: str | None = None):
        return self.runner.invoke(
            cli, ["--db", str(self.db_path), "--api-url", api_url, *args], input=input,
            catch_exceptions=False, prog_name="regsync",
        )


@pytest.fixture
def run(db_path) -> Cli:
    return Cli(db_path)


def edit(record: dict, post_date: str = "2026-02-01", **status) -> dict:
    """A next version of a record: status module fields changed and a new post date."""
    new = copy.deepcopy(record)
    sm = new["protocolSection"]["statusModule"]
    sm.update(status)
    sm["lastUpdatePostDateStruct"] = {"date": post_date, "type": "ACTUAL"}
    return new
