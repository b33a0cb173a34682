"""What a sync is expected to print, and what it left in the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DEFAULT = "NCT07240987"

SUMMARY = (
    "{n} {studies}: {new} new, {changed} changed, {unchanged} unchanged, {failed} failed "
    "({mode}, {requests} requests)"
)


def summary(n: int, new: int = 0, changed: int = 0, unchanged: int = 0, failed: int = 0,
            mode: str = "ids", requests: int = 0) -> str:
    """The summary line a sync prints on stderr."""
    return SUMMARY.format(
        n=n, studies="study" if n == 1 else "studies", new=new, changed=changed,
        unchanged=unchanged, failed=failed, mode=mode, requests=requests,
    )


def db_versions(db: Path, nct_id: str = DEFAULT) -> list[int]:
    """The version numbers stored for a study, in order."""
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(
            "SELECT version FROM versions WHERE nct_id = ? ORDER BY version", [nct_id])]
