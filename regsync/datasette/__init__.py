"""Datasette metadata for a regsync database: titles, descriptions, facets and canned queries
for the views of ``db/migrations/0008_views.sql`` and ``0010_obligations_view.sql``.

The metadata ships as ``metadata.json`` beside this file, written for a database named
``regsync`` (a ``regsync.db``). Datasette names a database after its file's stem and looks
its metadata up by that name, so ``metadata_for`` re-keys it for any other file name.
Datasette itself is not imported: it is an optional extra (``pip install "regsync[datasette]"``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import PurePath
from typing import Any

SHIPPED_NAME = "regsync"  # the database name metadata.json is written for

VIEWS = ("flagged_changes", "study_timeline", "date_slips", "outcome_changes", "obligations_current")


def shipped_metadata() -> dict[str, Any]:
    """metadata.json as shipped, for a database named ``regsync``."""
    text = resources.files(__package__).joinpath("metadata.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def database_name(db_path: str | os.PathLike[str]) -> str:
    """The name Datasette gives the database in ``db_path`` (``Database.suggest_name``: the
    path's stem, ``trials.db`` -> ``trials``)."""
    return PurePath(os.fspath(db_path)).stem


def metadata_for(db_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata for ``datasette DB_PATH --metadata FILE``."""
    data = shipped_metadata()
    data["databases"] = {database_name(db_path): data["databases"][SHIPPED_NAME]}
    return data


def missing_views(found: set[str]) -> list[str]:
    """The views of ``VIEWS`` missing from ``found``, a database's views (dropped by hand, say)."""
    return [view for view in VIEWS if view not in found]
