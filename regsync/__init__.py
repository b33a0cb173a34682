"""regsync: a versioned local history of ClinicalTrials.gov records, and what changed.

The library is the product; the ``regsync`` command is a thin shell over it::

    import regsync

    with regsync.Store.open_write("trials.db") as store:      # the writer lock, migrations
        report = regsync.run_sync(store, regsync.ApiClient(), ["NCT07240987"])
    with regsync.Store.open_read("trials.db") as store:       # no lock, never writes
        for row in store.query_changes(severities=["critical", "major"]):
            print(row.nct_id, row.change.summary)

Names are imported on first use, so ``import regsync`` (and a read command) does not pay
for the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Here rather than in regsync.client so the CLI can show it without importing the HTTP stack.
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"

# public name -> the module that defines it
_EXPORTS = {
    "Store": "regsync.store",
    "SaveResult": "regsync.store",
    "content_hash": "regsync.store",
    "ApiClient": "regsync.client",
    "ClientConfig": "regsync.client",
    "FetchedStudy": "regsync.client",
    "run_sync": "regsync.sync",
    "plan_sync": "regsync.sync",
    "SyncRequest": "regsync.sync",
    "SyncState": "regsync.sync",
    "SyncMode": "regsync.sync",
    "Plan": "regsync.sync",
    "RunReport": "regsync.sync",
    "StudyOutcome": "regsync.sync",
    "diff_records": "regsync.judge",
    "Change": "regsync.model",
    "StoredChange": "regsync.model",
    "ChangeSummary": "regsync.model",
    "summarize": "regsync.model",
    "Severity": "regsync.model",
    "Category": "regsync.model",
    "Kind": "regsync.model",
    "StudyStatus": "regsync.model",
    "RunOutcome": "regsync.model",
    "RULES": "regsync.rules",
    "obligation": "regsync.obligations",
    "Obligation": "regsync.obligations",
    "THRESHOLDS": "regsync.rules",
    "normalize_nct_id": "regsync.ids",
    "RegsyncError": "regsync.errors",
    "UsageError": "regsync.errors",
    "InvalidNctId": "regsync.errors",
    "UnknownStudy": "regsync.errors",
    "UnknownVersion": "regsync.errors",
    "FetchError": "regsync.errors",
    "StudyNotFound": "regsync.errors",
    "ApiUnavailable": "regsync.errors",
    "BadResponse": "regsync.errors",
    "StoreError": "regsync.errors",
    "LockBusy": "regsync.errors",
}

__all__ = ["__version__", "DEFAULT_API_URL", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'regsync' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from regsync.judge import diff_records
    from regsync.client import ApiClient, ClientConfig, FetchedStudy
    from regsync.errors import (
        ApiUnavailable,
        BadResponse,
        FetchError,
        InvalidNctId,
        LockBusy,
        RegsyncError,
        StoreError,
        StudyNotFound,
        UnknownStudy,
        UnknownVersion,
        UsageError,
    )
    from regsync.ids import normalize_nct_id
    from regsync.model import (
        Category,
        Change,
        ChangeSummary,
        Kind,
        RunOutcome,
        Severity,
        StoredChange,
        StudyStatus,
        summarize,
    )
    from regsync.obligations import Obligation, obligation
    from regsync.rules import RULES, THRESHOLDS
    from regsync.store import SaveResult, Store, content_hash
    from regsync.sync import (
        Plan,
        RunReport,
        StudyOutcome,
        SyncMode,
        SyncRequest,
        SyncState,
        plan_sync,
        run_sync,
    )
