"""The one reader of registry dates, for every module that reads one (obligations, the
classifier's date deltas, the report's chart).

The registry writes ``2027-06-30``, ``2027-06`` or ``2027``; hand-edited and older records
also carry ``2027-6-3`` or a time (``2027-06-30T00:00:00``). Each module once had its own
reader, so the obligations and the diff disagreed about the same record. Here every form
reads to the same parts, and whether a date is plausible is decided once: a typo such as
``1800-01-01`` or ``9999-12-31`` is said to be implausible instead of being computed with
("overdue 82,520 days", date arithmetic overflowing near year 9999).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

# Registry dates of a clinical trial: none is older than this (ClinicalTrials.gov began in
# 2000; the oldest trials registered retrospectively started in the 1950s-60s) ...
EARLIEST_YEAR = 1950
# ... and none lies more than this many years after the record's own submission (a trial
# planned to run a century is a typo: 3026 for 2026).
HORIZON_YEARS = 100
# When a record gives no submission date to measure from.
_DEFAULT_REFERENCE_YEAR = 2050

# Year, then month and day of one or two digits, then an optional time (ignored: registry
# dates are days) with an optional zone.
_DATE = re.compile(
    r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)

DateParts = tuple[int, int | None, int | None]


@dataclass(frozen=True)
class RegistryDate:
    """A registry date: its text, its parts, and the day it is read as. Month-only dates
    are the month's last day and year-only dates the year's when ``last`` (a deadline:
    TrialsTracker does the same), else the first day (a point to draw)."""

    text: str
    parts: DateParts
    day: date

    @property
    def precise(self) -> bool:
        return self.parts[2] is not None

    def words(self) -> str:
        return self.day.isoformat() if self.precise else f"{self.text} (taken as {self.day.isoformat()})"


def parse(value: Any) -> DateParts | None:
    """``2027-06-30``, ``2027-6-3``, ``2027-06-30T00:00:00``, ``2027-06`` or ``2027`` as
    (year, month, day); None when not a real date (month 13, 30 February, text)."""
    if not isinstance(value, str):
        return None
    m = _DATE.fullmatch(value.strip())
    if not m:
        return None
    year = int(m[1])
    month = int(m[2]) if m[2] else None
    day = int(m[3]) if m[3] else None
    try:  # month 00 or 13, 30 February, year 0000: not dates
        date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError:
        return None
    return year, month, day


def read(value: Any, *, last: bool = True) -> RegistryDate | None:
    """``value`` as a ``RegistryDate`` (see there for imprecise dates); None when not a date."""
    return _read(value, last) if isinstance(value, str) else None


@lru_cache(maxsize=4096)
def _read(value: str, last: bool) -> RegistryDate | None:
    # Cached: a sync reads dates of every new record for its obligation, and records
    # share their days (a RegistryDate is immutable, so one can be handed to every caller).
    parts = parse(value)
    if parts is None:
        return None
    year, month, day = parts
    if day is not None:
        assert month is not None
        as_day = date(year, month, day)
    elif month is not None:
        as_day = date(year, month, calendar.monthrange(year, month)[1] if last else 1)
    else:
        as_day = date(year, 12, 31) if last else date(year, 1, 1)
    return RegistryDate(value.strip(), parts, as_day)


def day_of(value: Any, *, last: bool = True) -> date | None:
    found = read(value, last=last)
    return found.day if found else None


def plausible(year: int, reference: date | None = None) -> bool:
    """Whether a trial date in ``year`` is believable for a record submitted on
    ``reference`` (its own submission date; None: not known)."""
    ceiling = (reference.year if reference else _DEFAULT_REFERENCE_YEAR) + HORIZON_YEARS
    return EARLIEST_YEAR <= year <= ceiling


def implausible_words(found: RegistryDate, reference: date | None = None) -> str:
    """Why ``found`` is not believed, in words."""
    if found.parts[0] < EARLIEST_YEAR:
        return f"{found.text} is implausible (before {EARLIEST_YEAR})"
    ceiling = (reference.year if reference else _DEFAULT_REFERENCE_YEAR) + HORIZON_YEARS
    after = f"the record's submission ({reference.isoformat()})" if reference else str(_DEFAULT_REFERENCE_YEAR)
    return f"{found.text} is implausible (more than {HORIZON_YEARS} years after {after}; after {ceiling})"
