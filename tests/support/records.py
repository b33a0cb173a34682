"""Real registry records from tests/fixtures, and edited copies of them.

``load`` is the one way any test, the fake API and its synthetic studies read a fixture.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import orjson

# Relative to this file, so it holds in any checkout (and from any working directory).
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The registry data release the tests start from (the ``dataTimestamp`` of ``GET /version``).
DATA_TS = "2026-09-04T09:00:06"


def load(name: str, fixtures_dir: Path | str | None = None) -> dict:
    """A fresh, mutable copy of a real record: ``<fixtures_dir>/<name>.json``, by default
    tests/fixtures (e.g. ``load("NCT07240987")``)."""
    directory = FIXTURES if fixtures_dir is None else Path(fixtures_dir)
    # Parsing the cached bytes again is both the deep copy and cheaper than deepcopy.
    return orjson.loads(_read(directory.resolve() / f"{name}.json"))


def fixture_names(fixtures_dir: Path | str | None = None) -> list[str]:
    """The NCT IDs with a record in the fixtures directory, in file name order."""
    directory = FIXTURES if fixtures_dir is None else Path(fixtures_dir)
    return [path.stem for path in sorted(directory.glob("NCT*.json"))]


@functools.cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def nct_id_of(record: dict) -> str:
    return record["protocolSection"]["identificationModule"]["nctId"]


def edit(record: dict, post_date: str = "2026-02-01", **status: object) -> dict:
    """A next version of a record: status module fields changed and a new post date."""
    new = copy.deepcopy(record)
    sm = new["protocolSection"]["statusModule"]
    sm.update(status)
    sm["lastUpdatePostDateStruct"] = {"date": post_date, "type": "ACTUAL"}
    return new
