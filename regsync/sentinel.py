"""The registry changed, not the sponsors: structural changes shared by many studies at once.

The registry reshapes its records now and then (a field dropped or renamed across the
registry, a type changed) without the records' update dates moving. Judged study by study,
such a change would flag every study it touches. This module tells it apart, from the
changes alone (pure functions, no store):

- ``signatures(changes)``: the structural content of one judged pair of versions, each
  change's part in it, and whether a change is *only* structural. A structural change is a
  field that disappeared, appeared, was renamed (a field gone at ``a`` and one at sibling
  ``b`` with the same value, in one pair) or changed type (text to list, ...), at a path
  with item selectors reduced to ``[]``. A value edit is never structural, nor is a list
  item added or removed (sites, conditions: the sponsor's).
- ``detect(pairs, fetched)``: the signatures seen in at least
  ``THRESHOLDS.registry_change_share`` of the ``fetched`` studies of a batch (a run, a seed)
  of at least ``THRESHOLDS.registry_change_studies``, counting only pairs whose update dates
  did not move: the registry's changes do not move them, a sponsor's do (a year of results
  postings in a fifth of a portfolio is the sponsors', never hidden as the registry's).
- ``relabel(changes, registry)``: the pair's changes with every change that is nothing but
  such registry signatures relabelled: category ``registry``, admin severity, rule
  ``registry.structure``, no milestone. A change that also edits a value keeps its label.

The judge (regsync.judge) applies ``relabel`` to every pair that straddles a recorded
registry change, so ``reclassify`` keeps the label.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from regsync.model import Category, Change, Kind
from regsync.rules import THRESHOLDS, Thresholds, registry_rule

RULE = "registry.structure"

# The registry's own dates of an edit: when they move, the sponsor edited the record.
_UPDATE_DATES = frozenset({
    "protocolSection.statusModule.lastUpdateSubmitDate",
    "protocolSection.statusModule.lastUpdatePostDateStruct",
})

_SELECTOR = re.compile(r"\[(?:[^\]\\]|\\.)*\]")


class Shape(StrEnum):
    """How a field's structure changed."""

    DISAPPEARED = "disappeared"
    APPEARED = "appeared"
    RENAMED = "renamed"
    RETYPED = "retyped"


@dataclass(frozen=True, order=True)
class Signature:
    """One structural change, the same in every study it touches: ``path`` with item
    selectors reduced to ``[]`` (for a rename, the old name's), ``detail`` the new name of a
    rename or the types of a retyping (``string -> list``)."""

    path: str
    shape: Shape
    detail: str = ""

    def text(self) -> str:
        """``protocolSection.X (renamed to Y)``: what the registry did, in one phrase."""
        what = {
            Shape.DISAPPEARED: "dropped",
            Shape.APPEARED: "added",
            Shape.RENAMED: f"renamed to {self.detail}",
            Shape.RETYPED: self.detail,
        }[self.shape]
        return f"{self.path} ({what})"


@dataclass(frozen=True)
class Finding:
    """A signature a batch showed in enough of its studies to be the registry's."""

    signature: Signature
    studies: int
    fetched: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Finding:
        """A finding as the store records it (``Store.registry_changes``)."""
        return cls(Signature(row["path"], Shape(row["shape"]), row["detail"]), int(row["studies"]), int(row["fetched"]))

    def line(self) -> str:
        noun = "study" if self.studies == 1 else "studies"
        return (
            f"the registry changed {self.signature.text()} in {self.studies:,} {noun}; "
            "recorded as a registry change, not flagged per study"
        )


def generic_path(path: str) -> str:
    """``a.items[key=1].b`` -> ``a.items[].b``."""
    return _SELECTOR.sub("[]", path)


def _type_name(value: Any) -> str | None:
    """The JSON type of a value; None for null (null to a value is an edit, not a type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


@dataclass
class _Atom:
    path: str  # the concrete path
    shape: Shape
    value: Any = None  # what disappeared or appeared (to pair renames)
    detail: str = ""
    renamed: str = ""  # set on both halves of a rename: the signature is the rename's

    @property
    def parent(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


def _is_field(path: str) -> bool:
    """A named field, not an item of a list (``conditions[Diabetes]``, ``locations[...]``)."""
    return not path.endswith("]")


def _atoms(change: Change) -> tuple[list[_Atom], bool]:
    """The structural atoms of one change and whether that is all it is."""
    if change.category is Category.REGISTRY or not _is_field(change.path):
        return [], False
    if change.kind is Kind.REMOVED:
        return [_Atom(change.path, Shape.DISAPPEARED, change.old)], True
    if change.kind is Kind.ADDED:
        return [_Atom(change.path, Shape.APPEARED, change.new)], True
    if change.kind is not Kind.CHANGED:
        return [], False  # an item renamed or moved: the sponsor's
    found: list[_Atom] = []
    pure = _walk(change.old, change.new, change.path, found)
    return found, pure


def _walk(old: Any, new: Any, path: str, found: list[_Atom]) -> bool:
    """Collect the structural atoms between two values; False if a value edit remains."""
    if old == new:
        return True
    a, b = _type_name(old), _type_name(new)
    if a is not None and b is not None and a != b:
        found.append(_Atom(path, Shape.RETYPED, detail=f"{a} -> {b}"))
        return True
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        pure = True
        for key in (*old, *(k for k in new if k not in old)):
            sub = f"{path}.{key}"
            if key not in new:
                found.append(_Atom(sub, Shape.DISAPPEARED, old[key]))
            elif key not in old:
                found.append(_Atom(sub, Shape.APPEARED, new[key]))
            else:
                pure = _walk(old[key], new[key], sub, found) and pure
        return pure
    return False


@dataclass(frozen=True)
class PairSignatures:
    """The structural content of one judged pair: each change's signatures (empty: none)
    and whether the change is nothing else."""

    per_change: tuple[frozenset[Signature], ...]
    pure: tuple[bool, ...]

    @property
    def all(self) -> frozenset[Signature]:
        return frozenset().union(*self.per_change) if self.per_change else frozenset()


def signatures(changes: Sequence[Change]) -> PairSignatures:
    """The signatures of one pair's changes; a field gone and a sibling field come with the
    same value, in this pair, are one rename."""
    per: list[tuple[list[_Atom], bool]] = [_atoms(c) for c in changes]
    gone = [a for atoms, _ in per for a in atoms if a.shape is Shape.DISAPPEARED]
    come = [a for atoms, _ in per for a in atoms if a.shape is Shape.APPEARED]
    for old in gone:
        for new in come:
            if not new.renamed and new.parent == old.parent and new.value == old.value:
                old.renamed = new.renamed = f"{generic_path(old.path)}\0{new.name}"
                break
    sigs: list[frozenset[Signature]] = []
    for atoms, _ in per:
        sigs.append(frozenset(_signature(a) for a in atoms))
    return PairSignatures(tuple(sigs), tuple(pure for _, pure in per))


def _signature(atom: _Atom) -> Signature:
    if atom.renamed:
        path, new_name = atom.renamed.split("\0")
        return Signature(path, Shape.RENAMED, new_name)
    return Signature(generic_path(atom.path), atom.shape, atom.detail)


def dates_moved(changes: Iterable[Change]) -> bool:
    """The record's update dates moved between the two versions: the sponsor edited it."""
    return any(c.kind is Kind.CHANGED and c.path in _UPDATE_DATES for c in changes)


def studies_by_signature(pairs: Iterable[tuple[str, Sequence[Change]]]) -> dict[Signature, int]:
    """How many studies show each signature in a pair whose update dates did not move
    (``pairs``: (NCT ID, the pair's changes), a study may have several pairs, any order)."""
    seen: dict[Signature, set[str]] = {}
    for nct_id, changes in pairs:
        if dates_moved(changes):
            continue
        for sig in signatures(changes).all:
            seen.setdefault(sig, set()).add(nct_id)
    return {sig: len(ids) for sig, ids in seen.items()}


def is_registry_wide(studies: int, fetched: int, thresholds: Thresholds = THRESHOLDS) -> bool:
    """At least the share of at least the fewest studies (boundaries included; the share is
    compared with a tolerance, so 12 of 60 is 20%)."""
    return fetched >= thresholds.registry_change_studies and (
        studies >= thresholds.registry_change_share * fetched - 1e-9
    )


def detect(
    pairs: Iterable[tuple[str, Sequence[Change]]], fetched: int, thresholds: Thresholds = THRESHOLDS
) -> list[Finding]:
    """The signatures a batch of ``fetched`` studies (new, changed and unchanged alike) shows
    registry-wide, in ``pairs`` (the pairs it judged), most studies first."""
    if fetched < thresholds.registry_change_studies:
        return []
    counted = studies_by_signature(pairs)
    found = [Finding(sig, n, fetched) for sig, n in counted.items() if is_registry_wide(n, fetched, thresholds)]
    return sorted(found, key=lambda f: (-f.studies, f.signature))


def relabel(changes: Sequence[Change], registry: Collection[Signature]) -> list[Change]:
    """``changes`` (one pair's) with each change that is only structural, and only by
    signatures in ``registry``, recorded as the registry's; the others as they were."""
    return relabel_pair(changes, registry)[0]


def relabel_pair(changes: Sequence[Change], registry: Collection[Signature]) -> tuple[list[Change], set[Signature]]:
    """``relabel``, and the signatures it relabelled changes for."""
    if not registry or not changes:
        return list(changes), set()
    found = signatures(changes)
    fired = registry_rule(RULE)
    out: list[Change] = []
    applied: set[Signature] = set()
    for change, sigs, pure in zip(changes, found.per_change, found.pure):
        if pure and sigs and all(s in registry for s in sigs):
            what = "; ".join(s.text() for s in sorted(sigs))
            change = replace(
                change, category=Category.REGISTRY, severity=fired.severity, rule=fired.id,
                milestone=fired.milestone, context=None, delta_days=None, delta_months=None,
                summary=f"Registry-side change: {what}",
            )
            applied |= sigs
        out.append(change)
    return out, applied
