"""Reading a study's versions for people: the chain with its names and dates, version
references (``2``, ``3a``, ``first``, ``latest``, a date), what the public registry showed on
a day, and the changes between two versions (stored where the chain judged them).

Never writes and never imports the judge: a read command stays fast. The one exception is a
pair of versions that are not neighbours (``diff --from 1 --to 3``), which ``changes`` hands
to ``regsync.judge.diff_records`` (imported then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from regsync import chain
from regsync.errors import UnknownVersion
from regsync.model import Change, StoredChange, label_value
from regsync.store import Store


@dataclass(frozen=True)
class Entry:
    """One version of a study's chain, as outputs name and date it."""

    version: int  # the row's local id (stable; what changes refer to)
    label: str  # how every output names it: '5', '5a', or regsync's own '1', '2' before history
    position: int  # 1, 2, ... in the chain
    registry_version: int | None  # the registry's, 1-based as on its website
    submitted: str | None  # lastUpdateSubmitDate
    posted: str | None  # lastUpdatePostDate: when the public could see it
    fetched_at: str  # when regsync stored it (UTC)
    sources: tuple[str, ...]  # 'api', 'registry-history' or both
    row: dict[str, Any]  # the stored row (without the record)

    @property
    def variant(self) -> bool:
        """Not a registry version of its own in a numbered chain (a silent edit, or a snapshot
        the history has not confirmed)."""
        return not self.label.isdigit()

    def visible_from(self) -> str:
        """The first day this version counts for ``--as-of``: what the public registry showed
        (its posting date) or, for a snapshot of regsync's own, when regsync fetched it;
        whichever came first."""
        days = [self.fetched_at[:10]] if "api" in self.sources else []
        if self.posted and self.registry_version is not None:
            days.append(self.posted[:10])
        elif self.posted and not days:
            days.append(self.posted[:10])
        return min(days) if days else self.fetched_at[:10]

    def to_dict(self) -> dict[str, Any]:
        row = self.row
        return {
            "version": label_value(self.label),
            "registry_version": self.registry_version,
            "submitted": self.submitted,
            "posted": self.posted,
            "last_update_post_date": self.posted,
            "fetched_at": self.fetched_at,
            "sources": list(self.sources),
            "overall_status": row.get("overall_status"),
            "content_hash": row.get("content_hash"),
            "data_timestamp": row.get("data_timestamp"),
            "source": row.get("source"),
            "requested_id": row.get("requested_id"),
            "module_labels": row.get("module_labels"),
        }


def entries(store: Store, nct_id: str) -> list[Entry]:
    """The study's chain, oldest first (UnknownStudy when never stored)."""
    rows = store.history(nct_id)
    ordered = chain.order(rows)
    names = chain.labels(ordered)
    out = []
    for position, (row, name) in enumerate(zip(ordered, names), start=1):
        history = row.get("source") == "registry-history"
        sources = ("registry-history",) if history else (
            ("api", "registry-history") if row.get("in_history") else ("api",)
        )
        rv = row.get("registry_version")
        out.append(Entry(
            int(row["version"]), name, position, None if rv is None else int(rv) + 1,
            row.get("registry_date") or row.get("submitted"), row.get("posted"), str(row["fetched_at"]),
            sources, dict(row),
        ))
    return out


def numbering_note(chain_entries: Sequence[Entry]) -> str:
    """How the versions are numbered, in words."""
    if any(e.registry_version is not None for e in chain_entries):
        return "numbered as on the registry's website"
    return ""


def find(nct_id: str, chain_entries: Sequence[Entry], ref: int | str, option: str = "--version") -> Entry:
    """The entry a reference names: a label (``3``, ``3a``), ``first``, ``latest``, or a date
    (YYYY-MM-DD: the version the public registry showed that day, see ``as_of``)."""
    if not chain_entries:
        raise UnknownVersion(f"{nct_id} has no stored version")
    text = str(ref).strip().lower()
    if text == "first":
        return chain_entries[0]
    if text == "latest":
        return chain_entries[-1]
    if len(text) == 10 and text[4] == "-":
        known = as_of(chain_entries, text)
        if not known:
            raise UnknownVersion(
                f"{option} {text}: {nct_id} has no version the registry showed by then "
                f"(the first: {chain_entries[0].visible_from()})"
            )
        return known[-1]
    for entry in chain_entries:
        if entry.label == text:
            return entry
    if option == "--version":
        raise UnknownVersion(f"{nct_id} has no version {text} (versions {describe(chain_entries)} are stored)")
    raise UnknownVersion(f"{option} {text}: {nct_id} has versions {describe(chain_entries)}")


def describe(chain_entries: Sequence[Entry]) -> str:
    """``1-7`` or ``1-7, 3a``: the names a study's versions go by."""
    plain = [e.label for e in chain_entries if e.label.isdigit()]
    other = [e.label for e in chain_entries if not e.label.isdigit()]
    text = plain[0] if len(plain) == 1 else f"{plain[0]}-{plain[-1]}" if plain else ""
    return ", ".join([t for t in [text, *other] if t])


def as_of(chain_entries: Sequence[Entry], day: str) -> list[Entry]:
    """The versions the public registry had shown (or regsync had fetched) by the end of
    ``day`` (YYYY-MM-DD): a registry version from its posting date, an own snapshot from when
    it was fetched. For event studies that must not look ahead."""
    date.fromisoformat(day)  # ValueError for the caller's message
    return [e for e in chain_entries if e.visible_from() <= day]


def changes(store: Store, nct_id: str, older: Entry, newer: Entry,
            chain_entries: Sequence[Entry]) -> list[Change]:
    """The changes from ``older`` to ``newer``: stored when they are neighbours in the chain
    (the judge judged them), else judged now by the same judge (regsync.judge.diff_records)."""
    if older.version == newer.version:
        return []
    if newer.position == older.position + 1:
        stored = store.stored_changes(nct_id, older.version, newer.version)
        if stored is not None:
            return stored
    from regsync.judge import diff_records

    return diff_records(store.record(nct_id, older.version), store.record(nct_id, newer.version))


def steps(store: Store, nct_id: str, older: Entry, newer: Entry) -> list[StoredChange]:
    """The stored changes of every step of the chain after ``older`` up to ``newer``."""
    between = [e.version for e in entries(store, nct_id) if older.position < e.position <= newer.position]
    return store.changes_to(nct_id, between)
