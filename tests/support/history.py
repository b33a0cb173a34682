"""A study's version history as the library's HistoryClient gives it, in process: for tests
that call regsync.history or run_sync(history=...) without the fake API's HTTP."""

from __future__ import annotations

from regsync.client import HistoryEntry
from support.fakeapi import history_markup


class StaticHistory:
    """``versions``: (the index's date, the record) per registry version, oldest first; each
    record is served in the history's HTML markup. ``requests`` counts the calls."""

    def __init__(self, versions: list[tuple[str, dict]]):
        self.versions = versions
        self.requests = 0

    def get_history_index(self, nct_id: str) -> list[HistoryEntry]:
        self.requests += 1
        return [HistoryEntry(n, day, None, ()) for n, (day, _) in enumerate(self.versions)]

    def get_history_version(self, nct_id: str, version: int) -> dict:
        self.requests += 1
        return history_markup(self.versions[version][1])
