"""``regsync export --parquet DIR``: the store as Parquet files for analysts (pandas, R's
arrow, DuckDB), one file per table:

- ``studies.parquet``: each study's current summary fields;
- ``versions.parquet``: every version's summary fields, named as the chain names it;
- ``changes.parquet``: every stored change with its three dates;
- ``obligations.parquet``: every version's results obligation.

Streamed: rows are read from the store a batch at a time and written as record batches
(``BATCH_ROWS``), so memory stays bounded whatever the size of the database. Each file is
written under a temporary name and renamed into place, so a reader never sees half a file.

Dates: a registry date is a full date (``2026-03-15``) or only a month (``2026-03``). Each
date column is Arrow ``date32`` where the text is a full date (else null), and keeps the
registry's text beside it in ``<column>_text`` (always, when the record has one), so
month-precise dates survive. regsync's own times (``fetched_at``, ``detected_at``,
``first_seen``, ``removed_at``) are ``timestamp[us, UTC]``.

pyarrow is an optional dependency (``pip install 'regsync[parquet]'``), imported only here,
inside ``export_parquet``: the read commands start without it.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from regsync import timeline
from regsync.errors import RegsyncError, UsageError
from regsync.model import dig
from regsync.store import Store

# Rows per record batch (and per Parquet row group's slice): a few thousand rows keep the
# decoded records of one batch small while Parquet's per-batch overhead stays negligible.
BATCH_ROWS = 5000

_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The registry's three key dates, by column prefix.
_KEY_DATES = (
    ("start_date", "startDateStruct"),
    ("primary_completion_date", "primaryCompletionDateStruct"),
    ("completion_date", "completionDateStruct"),
)


class ParquetUnavailable(RegsyncError):
    """pyarrow is not installed (an optional dependency)."""

    def __init__(self) -> None:
        super().__init__("export --parquet needs pyarrow: pip install 'regsync[parquet]' (or pip install pyarrow)")


@dataclass(frozen=True)
class Exported:
    """What one export wrote: the directory and the rows of each file."""

    directory: str
    studies: int
    versions: int
    changes: int
    obligations: int

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(os.path.join(self.directory, f"{name}.parquet") for name in _TABLES)


_TABLES = ("studies", "versions", "changes", "obligations")


# -- values -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Text only: records come from the registry and may hold any type anywhere."""
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _day(value: Any) -> date | None:
    """A full date (YYYY-MM-DD) as a date; a month-precise or malformed one as None (its text
    is kept beside it)."""
    text = _text(value)
    if text is None or not _FULL_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


def _timestamp(value: Any) -> datetime | None:
    """regsync's own UTC times (``2026-12-07T09:00:00.000000Z``) as aware datetimes."""
    text = _text(value)
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _dated(row: dict[str, Any], column: str, value: Any) -> None:
    row[column] = _day(value)
    row[f"{column}_text"] = _text(value)


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The summary fields of one record, shared by studies and versions."""
    protocol = dig(record, "protocolSection")
    status = dig(protocol, "statusModule")
    phases = dig(protocol, "designModule", "phases")
    row: dict[str, Any] = {
        "brief_title": _text(dig(protocol, "identificationModule", "briefTitle")),
        "overall_status": _text(dig(status, "overallStatus")),
        "phases": [p for p in phases if isinstance(p, str)] if isinstance(phases, list) else None,
        "lead_sponsor": _text(dig(protocol, "sponsorCollaboratorsModule", "leadSponsor", "name")),
        "lead_sponsor_class": _text(dig(protocol, "sponsorCollaboratorsModule", "leadSponsor", "class")),
        "enrollment": _int(dig(protocol, "designModule", "enrollmentInfo", "count")),
        "enrollment_type": _text(dig(protocol, "designModule", "enrollmentInfo", "type")),
    }
    for column, key in _KEY_DATES:
        _dated(row, column, dig(status, key, "date"))
        row[f"{column}_type"] = _text(dig(status, key, "type"))
    _dated(row, "last_update_submit_date", dig(status, "lastUpdateSubmitDate"))
    _dated(row, "last_update_post_date", dig(status, "lastUpdatePostDateStruct", "date"))
    return row


class _Chain:
    """The chain of the study being exported (rows come by NCT ID, so one study at a time is
    enough): local version -> its ``timeline.Entry``, named as every output names it."""

    def __init__(self, store: Store):
        self.store = store
        self.nct_id: str | None = None
        self.entries: dict[int, timeline.Entry] = {}

    def of(self, nct_id: str) -> dict[int, timeline.Entry]:
        if nct_id != self.nct_id:
            self.nct_id = nct_id
            self.entries = {e.version: e for e in timeline.entries(self.store, nct_id)}
        return self.entries


# -- rows -----------------------------------------------------------------------------------


def _study_rows(store: Store, chain: _Chain) -> Iterator[dict[str, Any]]:
    for stored in store.export_studies():
        entry = chain.of(stored["nct_id"]).get(int(stored["current_version"]))
        row = {"nct_id": stored["nct_id"], **_summary(stored["record"])}
        row["current_version"] = entry.label if entry else stored["current_label"]
        row["registry_version"] = entry.registry_version if entry else None
        row["first_seen"] = _timestamp(stored["first_seen"])
        row["removed_at"] = _timestamp(stored["removed_at"])
        yield row


def _version_rows(store: Store, chain: _Chain) -> Iterator[dict[str, Any]]:
    for stored in store.export_versions():
        entry = chain.of(stored["nct_id"])[int(stored["version"])]
        row: dict[str, Any] = {
            "nct_id": stored["nct_id"],
            "version": entry.label,
            "registry_version": entry.registry_version,
            "chain_pos": entry.position,
        }
        _dated(row, "submitted", entry.submitted)
        _dated(row, "posted", entry.posted)
        row["fetched_at"] = _timestamp(entry.fetched_at)
        summary = _summary(stored["record"])
        del summary["brief_title"]  # the study's, in studies.parquet
        row.update(summary)
        row["sources"] = list(entry.sources)
        yield row


def _change_rows(store: Store, chain: _Chain) -> Iterator[dict[str, Any]]:
    for stored in store.export_changes():
        entries = chain.of(stored["nct_id"])
        older, newer = entries.get(int(stored["from_version"])), entries.get(int(stored["to_version"]))
        row: dict[str, Any] = {
            "nct_id": stored["nct_id"],
            "from_version": older.label if older else stored["from_label"],
            "to_version": newer.label if newer else stored["to_label"],
        }
        for key in ("category", "severity", "kind", "path", "rule", "summary"):
            row[key] = stored[key]
        row["milestone"] = bool(stored["milestone"])
        row["delta_days"] = stored["delta_days"]
        row["delta_months"] = stored["delta_months"]
        row["old"] = stored["old"]
        row["new"] = stored["new"]
        _dated(row, "submitted", stored["submitted"])
        _dated(row, "posted", stored["posted"])
        row["detected_at"] = _timestamp(stored["detected_at"])
        to_rv = stored["to_rv"]
        row["registry_version"] = None if to_rv is None else int(to_rv) + 1  # 1-based, as on the website
        yield row


def _obligation_rows(store: Store, chain: _Chain) -> Iterator[dict[str, Any]]:
    for stored in store.export_obligations():
        entry = chain.of(stored["nct_id"]).get(int(stored["version"]))
        yield {
            "nct_id": stored["nct_id"],
            "version": entry.label if entry else str(stored["version"]),
            "applicability": stored["applicability"],
            "reason": stored["reason"],
            # regsync computes these (YYYY-MM-DD): full dates, no text kept beside.
            "due_date": _day(stored["due_date"]),
            "overdue_after": _day(stored["overdue_after"]),
            "state": stored["state"],
            "days": stored["days"],
            "as_of": _day(stored["as_of"]),
        }


# -- schemas --------------------------------------------------------------------------------


def _schemas(pa: Any) -> dict[str, Any]:
    text, day, count = pa.string(), pa.date32(), pa.int64()
    when = pa.timestamp("us", tz="UTC")

    def dated(name: str) -> list[tuple[str, Any]]:
        return [(name, day), (f"{name}_text", text)]

    summary = [
        ("overall_status", text), ("phases", pa.list_(text)),
        ("lead_sponsor", text), ("lead_sponsor_class", text),
        ("enrollment", count), ("enrollment_type", text),
    ]
    for column, _ in _KEY_DATES:
        summary += [*dated(column), (f"{column}_type", text)]
    summary += dated("last_update_submit_date") + dated("last_update_post_date")
    return {
        "studies": pa.schema([
            ("nct_id", text), ("brief_title", text), *summary,
            ("current_version", text), ("registry_version", pa.int32()),
            ("first_seen", when), ("removed_at", when),
        ]),
        "versions": pa.schema([
            ("nct_id", text), ("version", text), ("registry_version", pa.int32()), ("chain_pos", pa.int32()),
            *dated("submitted"), *dated("posted"), ("fetched_at", when), *summary, ("sources", pa.list_(text)),
        ]),
        "changes": pa.schema([
            ("nct_id", text), ("from_version", text), ("to_version", text),
            ("category", text), ("severity", text), ("kind", text), ("path", text), ("rule", text),
            ("summary", text), ("milestone", pa.bool_()), ("delta_days", count), ("delta_months", count),
            ("old", text), ("new", text), *dated("submitted"), *dated("posted"), ("detected_at", when),
            ("registry_version", pa.int32()),
        ]),
        "obligations": pa.schema([
            ("nct_id", text), ("version", text), ("applicability", text), ("reason", text),
            ("due_date", day), ("overdue_after", day), ("state", text), ("days", count), ("as_of", day),
        ]),
    }


# -- writing ----------------------------------------------------------------------------------


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(pa: Any, pq: Any, path: str, schema: Any, rows: Iterable[dict[str, Any]], size: int) -> int:
    """Write ``rows`` to ``path`` atomically (a temporary file in the same directory, renamed
    over it when complete); the number of rows."""
    batches = _batches(rows, size)
    # The first batch is read before anything is created: a database that cannot be read
    # leaves no directory and no file behind.
    first = next(batches, None)
    _make_directory(os.path.dirname(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    os.close(fd)
    written = 0
    try:
        with pq.ParquetWriter(temp, schema) as writer:
            for batch in itertools.chain([first] if first else [], batches):
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                written += len(batch)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    return written


def _make_directory(directory: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--parquet {directory}: cannot create the directory: {exc.strerror or exc}") from None


def _check_directory(directory: str) -> None:
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"--parquet {directory}: exists and is not a directory")


def export_parquet(store: Store, directory: str | os.PathLike[str], *, batch_rows: int = BATCH_ROWS) -> Exported:
    """Write ``studies``, ``versions``, ``changes`` and ``obligations`` ``.parquet`` into
    ``directory`` (created if missing; files of the same names are replaced)."""
    out = os.fspath(directory)
    _check_directory(out)
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; used through Any
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise ParquetUnavailable() from None
    schemas = _schemas(pa)
    producers: dict[str, Callable[[Store, _Chain], Iterator[dict[str, Any]]]] = {
        "studies": _study_rows, "versions": _version_rows,
        "changes": _change_rows, "obligations": _obligation_rows,
    }
    counts: dict[str, int] = {}
    for name in _TABLES:
        path = os.path.join(out, f"{name}.parquet")
        try:
            counts[name] = _write(pa, pq, path, schemas[name], producers[name](store, _Chain(store)), batch_rows)
        except OSError as exc:
            raise RegsyncError(f"cannot write {path}: {exc.strerror or exc}") from None
    return Exported(out, counts["studies"], counts["versions"], counts["changes"], counts["obligations"])
