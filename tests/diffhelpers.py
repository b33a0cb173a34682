"""Helpers for the diff/classify tests: load real fixture records and edit copies."""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

AI = "protocolSection.armsInterventionsModule"
OM = "protocolSection.outcomesModule"
SM = "protocolSection.statusModule"
CL = "protocolSection.contactsLocationsModule"


@functools.lru_cache(maxsize=None)
def _load(nct: str) -> str:
    return (FIXTURES / f"{nct}.json").read_text(encoding="utf-8")


def load(nct: str) -> dict:
    """A fresh (mutable) copy of a real fixture record."""
    return json.loads(_load(nct))


def pair(nct: str) -> tuple[dict, dict]:
    """(old, new): the fixture and a deep copy to edit."""
    old = load(nct)
    return old, copy.deepcopy(old)


def ps(rec: dict, module: str) -> dict:
    return rec["protocolSection"][module]


def only(changes, **match):
    """The changes whose attributes equal ``match``."""
    return [c for c in changes if all(getattr(c, k) == v for k, v in match.items())]


def one(changes):
    assert len(changes) == 1, [c.to_dict() for c in changes]
    return changes[0]


def non_admin(changes):
    return [c for c in changes if c.severity != "admin"]
