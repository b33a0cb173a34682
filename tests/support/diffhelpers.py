"""Helpers for the diff/classify tests: pairs of real records to edit, and picking
changes out of a diff."""
from __future__ import annotations

from collections.abc import Iterable

from regsync.model import Change
from support.records import load

__all__ = ["AI", "CL", "OM", "SM", "load", "non_admin", "one", "only", "pair", "ps"]

AI = "protocolSection.armsInterventionsModule"
OM = "protocolSection.outcomesModule"
SM = "protocolSection.statusModule"
CL = "protocolSection.contactsLocationsModule"


def pair(nct: str) -> tuple[dict, dict]:
    """(old, new): the fixture and a second copy of it to edit."""
    return load(nct), load(nct)


def ps(rec: dict, module: str) -> dict:
    return rec["protocolSection"][module]


def only(changes: Iterable[Change], **match: object) -> list[Change]:
    """The changes whose attributes equal ``match``."""
    return [c for c in changes if all(getattr(c, k) == v for k, v in match.items())]


def one(changes: list[Change]) -> Change:
    assert len(changes) == 1, [c.to_dict() for c in changes]
    return changes[0]


def non_admin(changes: Iterable[Change]) -> list[Change]:
    return [c for c in changes if c.severity != "admin"]
