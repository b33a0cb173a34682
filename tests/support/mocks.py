"""Mocked HTTP with ``responses``: the registry's URLs and canned answers."""

from __future__ import annotations

from typing import Any

import responses

from support.records import DATA_TS

__all__ = ["API", "DATA_TS", "mock_study", "mock_version", "study_url"]

API = "https://registry.test/api/v2"


def study_url(nct_id: str) -> str:
    return f"{API}/studies/{nct_id}"


def mock_version(api: responses.RequestsMock, ts: str = DATA_TS, **kwargs: Any) -> None:
    api.get(f"{API}/version", json={"apiVersion": "2.0.5", "dataTimestamp": ts}, **kwargs)


def mock_study(api: responses.RequestsMock, record: dict, **kwargs: Any) -> None:
    nct_id = record["protocolSection"]["identificationModule"]["nctId"]
    api.get(study_url(nct_id), json=record, **kwargs)
