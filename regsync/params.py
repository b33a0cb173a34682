"""Option types for the command line: numbers within a stated range, and ``--since``.

Here rather than in cli.py so the rules for what a value may be live in one place (and are
testable without click's runner)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
from click.core import ParameterSource

from regsync.model import Category
from regsync.store import TIME_FORMAT


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Bounded(click.ParamType):
    """An int or a finite float in ``[low, high]``. Python's float() takes ``nan``, ``inf``
    and ``1e400`` (inf), and int() takes 23 digits that SQLite cannot bind: each would reach
    the library as a value nothing there is ready for (a request that never times out, a
    pacing sleep of decades, an OverflowError). The error names the range, and the
    environment variable when the value came from one."""

    def __init__(self, kind: type[int | float], low: float, high: float):
        self.kind = kind
        self.low = low
        self.high = high
        self.name = "integer" if kind is int else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind) and not isinstance(value, bool) and self._inside(value):
            return value  # a default
        text = str(value).strip()
        number: float | None
        try:
            number = self.kind(text)
        except (ValueError, OverflowError):
            number = None
        if number is None or not self._inside(number):
            self.fail(self._message(value, param, ctx), param, ctx)
        return number

    def _inside(self, number: float) -> bool:
        return math.isfinite(number) and self.low <= number <= self.high

    def _message(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        kind = "an integer" if self.kind is int else "a number"
        message = f"{value!r} is not {kind} from {_number(self.low)} to {_number(self.high)}"
        if ctx is not None and param is not None and param.name is not None:
            envvar = getattr(param, "envvar", None)
            if ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT and isinstance(envvar, str):
                message += f" (from {envvar})"
        return message

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"[{_number(self.low)}-{_number(self.high)}]"


# The ranges: wide enough for any real use, narrow enough that nothing downstream overflows
# or waits for ever. A day of waiting for the lock or back-off is already far past a cron slot.
SECONDS_OF_WAITING = Bounded(float, 0, 86400)
TIMEOUT = Bounded(float, 0.1, 600)
DELAY = Bounded(float, 0, 60)
RETRIES = Bounded(int, 0, 100)
SHARE = Bounded(float, 0, 1)
VERSION = Bounded(int, 1, 1_000_000_000)
LIMIT = Bounded(int, 1, 1_000_000_000)
RUNS = Bounded(int, 1, 1_000_000)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DATE_SHAPED = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")


def date_problem(text: str) -> str | None:
    """Which part of a date-shaped value is wrong (``month 13 is not 1-12``, ``February 2026
    has no day 30``, ``month and day take two digits``), so the error points at the typo instead of
    only listing the forms; None when the text does not look like a date at all."""
    m = _DATE_SHAPED.match(text.strip())
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2]), m[3]
    if not 1 <= month <= 12:
        return f"month {m[2]} is not 1-12"
    if day is not None:
        if int(day) < 1:
            return f"day {day} is not a day of the month"
        try:
            date(year, month, int(day))
        except ValueError:
            return f"{_MONTHS[month - 1]} {year} has no day {int(day)}"
    if len(m[2]) != 2 or (day is not None and len(day) != 2):
        return "month and day take two digits"
    return None


def parse_day(value: str) -> str:
    """A YYYY-MM-DD option value (``--as-of``), or ValueError saying what is wrong with it."""
    text = value.strip()
    problem = date_problem(text)
    if problem is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text).isoformat()
    raise ValueError(f"{value!r} is not a date: {problem}; use YYYY-MM-DD" if problem
                     else f"{value!r} is not a date (YYYY-MM-DD)")


VERSION_FORMS = "N (a version number from 1; 3a for a variant), first, latest or a date (YYYY-MM-DD)"
# The day options (--as-of, a date for --from/--to) take every form --since takes.


class VersionRef(click.ParamType):
    """``diff --from/--to``, ``show --version``: a version as ``history`` names it (``3``, or
    ``3a`` for a variant of version 3), ``first``, ``latest``, or a date (YYYY-MM-DD: the
    version the public registry showed that day). A value that is none of them names all the
    forms, and for a date the part that is wrong: a bad date would otherwise read as "not an
    integer", which is not what was meant."""

    name = "version"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and VERSION._inside(value):
            return value  # a default
        text = str(value).strip().lower()
        if text in ("first", "latest"):
            return text
        if re.fullmatch(r"\d+", text):
            number = int(text)
            if VERSION._inside(number):
                return number
            self.fail(f"{value!r} is not a version: numbers run from 1 to {_number(VERSION.high)}; "
                      f"use {VERSION_FORMS}", param, ctx)
        if re.fullmatch(r"\d{1,9}[a-z]{1,3}", text):
            return text  # a variant of a registry version (a silent edit): 3a
        problem = date_problem(text)
        if problem is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        if problem is None:
            try:  # every form --since takes names a day too: 2026-12, today, 7d, an ISO time
                return parse_since(text)[:10]
            except ValueError:
                pass
        what = f"a date: {problem}" if problem else "a version"
        self.fail(f"{value!r} is not {what}; use {VERSION_FORMS}", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "N|first|latest|DATE"


VERSION_REF = VersionRef()


# -- --since -------------------------------------------------------------------------------

SINCE_FORMATS = "YYYY-MM-DD, YYYY-MM, YYYY, an ISO datetime, 12h, 7d, 2w, today or yesterday"

_RELATIVE = re.compile(r"^(\d{1,6})\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_since(value: str, now: Callable[[], datetime] = utc_now) -> str:
    """The earliest detection time ``--since VALUE`` means, in the stored form (UTC): a date
    as ``YYYY-MM-DD`` (every stored time of that day compares after it), a moment as a full
    stored timestamp. Calendar words and relative spans count from ``now()``, in UTC like
    every stored time. ValueError with the accepted forms otherwise."""
    text = value.strip().lower()
    try:
        if text in ("today", "yesterday"):
            day = now().astimezone(UTC).date() - timedelta(days=text == "yesterday")
            return day.isoformat()
        relative = _RELATIVE.match(text)
        if relative:
            span = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
            return (now().astimezone(UTC) - span).strftime(TIME_FORMAT)
        month = _MONTH.match(text)
        if month:
            return date(int(month.group(1)), int(month.group(2)), 1).isoformat()
        if _YEAR.match(text):
            return date(int(text), 1, 1).isoformat()
        if len(text) == 10 and date_problem(text) is None:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # like every time regsync shows: UTC
        return moment.astimezone(UTC).strftime(TIME_FORMAT)
    except (ValueError, OverflowError):
        problem = date_problem(text)
        what = f"a date: {problem}" if problem else "a date or time"
        raise ValueError(f"{value!r} is not {what}; use {SINCE_FORMATS}") from None


# -- lists: --category, --mail-to ------------------------------------------------------------


def _from_env(ctx: click.Context, param: click.Parameter) -> str:
    envvar = getattr(param, "envvar", None)
    if param.name and isinstance(envvar, str) and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
        return f" (from {envvar})"
    return ""


def categories(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--category``: repeatable, and each value a comma or space separated list in any case
    (``Dates``, ``dates,status``), as NCT IDs are taken. An unknown one lists the valid ones."""
    known = [c.value for c in Category]
    found: list[str] = []
    for value in values:
        parts = value.replace(",", " ").split()
        if not parts:
            raise click.UsageError(f"--category needs a category; one of: {', '.join(known)}", ctx=ctx)
        for part in parts:
            if part.lower() not in known:
                raise click.UsageError(f"unknown category {part!r}; one of: {', '.join(known)}", ctx=ctx)
            found.append(part.lower())
    return tuple(dict.fromkeys(found))


_ADDRESS = re.compile(r"[^@\s,]+@[^@\s,]+")


def mail_addresses(ctx: click.Context, param: click.Parameter, values: Any) -> Any:
    """``--mail-to`` (repeatable, commas or spaces between addresses) and ``--mail-from``:
    each must read as name@host. Checked here, before the sync: a typo found only when the
    mail is sent would cost the night's notification."""
    if values is None:
        return values
    for value in values if isinstance(values, tuple) else (values,):
        parts = str(value).replace(",", " ").split()
        bad = [p for p in parts if not _ADDRESS.fullmatch(p)]
        if not parts or bad:
            shown = value if not parts or "@" not in value else bad[0]
            raise click.BadParameter(
                f"{shown!r} is not an e-mail address (name@host; separate several with commas){_from_env(ctx, param)}",
                ctx=ctx, param=param,
            )
    return values
