"""A trial's timeline as a page: a static, self-contained HTML site from a regsync database.

``write_report(store, nct_ids, out_dir)`` writes ``index.html`` (every study: status, last
change, most severe flagged change) and ``<NCT>.html`` per study: an inline SVG timeline of
start / primary completion / completion dates across stored versions (estimated dashed,
actual solid) over bands coloured by overallStatus, the same data as a table, the primary
outcomes over time, and each version's flagged changes with the word-level diff of long texts.

No script, no stylesheet or font from elsewhere: the pages work from ``file://`` and read the
same without JavaScript. Numbers link to the study's page on the registry.

The pages are Jinja2 templates (``regsync/templates``) with autoescaping on: every string in
them comes from the registry or from a sponsor, and none may become markup.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from regsync import dates
from regsync.errors import RegsyncError
from regsync.feed import publish_mode
from regsync.model import Change, Severity, summarize
from regsync.model import dig as _get
from regsync.text import text_diff
from regsync.urls import history_url, study_url

if TYPE_CHECKING:
    import jinja2

    from regsync.store import Store


# The three dates drawn, in the order a trial reaches them: (statusModule key, label).
DATE_FIELDS = (
    ("startDateStruct", "Start"),
    ("primaryCompletionDateStruct", "Primary completion"),
    ("completionDateStruct", "Completion"),
)

# A text longer than this (or spanning lines) gets a word diff under its change, as in
# `regsync diff`.
LONG_TEXT = 80

# The chart's geometry, in SVG user units (it scales to the page width).
WIDTH = 880
LEFT = 150  # version labels
RIGHT = 20
TOP = 34  # year labels
LANE = 30


class ReportError(RegsyncError):
    """The report could not be written (its directory, a file in the way)."""


registry_url = study_url  # the names the templates know them by

# -- what a page shows ----------------------------------------------------------------------




@dataclass(frozen=True)
class DatePoint:
    key: str  # startDateStruct, ...
    label: str  # Start, ...
    value: str  # as the registry gives it: 2027-06-30 or 2027-06
    type: str | None  # ACTUAL | ESTIMATED | None (older records give none)
    day: date  # where it is drawn: a month-precise date at the month's first day

    @property
    def estimated(self) -> bool:
        return self.type == "ESTIMATED"

    @property
    def plausible(self) -> bool:
        """A trial date the chart can draw: a typo such as 1800-01-01 or 9999-12-31 would
        stretch the axis over centuries (or past the calendar's end); the table still shows it."""
        return dates.plausible(self.day.year)


@dataclass(frozen=True)
class DiffPart:
    kind: str  # same | del | ins
    text: str


@dataclass(frozen=True)
class ChangeView:
    change: Change
    diff: list[DiffPart] | None  # word diff of a long text

    @property
    def severity(self) -> str:
        return self.change.severity.value


@dataclass
class VersionView:
    version: str  # as the chain names it: the registry's number once known ('3', '3a'), else regsync's
    fetched_at: str
    last_update_post_date: str | None
    overall_status: str | None
    dates: list[DatePoint | None]  # one per DATE_FIELDS
    enrollment: Any
    enrollment_type: str | None
    primary_outcomes: list[tuple[str, str]]  # (measure, timeFrame)
    changes: list[ChangeView] = field(default_factory=list)  # flagged, from the version before
    admin_changes: int = 0
    detected_at: str | None = None
    outcomes_changed: bool = True  # the primary outcomes differ from the version before
    submitted: str | None = None  # lastUpdateSubmitDate (the registry's date where its history gives one)
    # The registry's compare view of this version against the one before it, once both
    # carry registry numbers; else the study's history tab.
    compare_url: str | None = None
    # The registry's view of this very version once its registry number is known (a variant
    # regsync saw between two registry versions has none); else the study's history tab.
    url: str | None = None


@dataclass
class StudyView:
    nct_id: str
    title: str | None
    overall_status: str | None
    removed_at: str | None
    last_changed: str | None
    versions: list[VersionView]
    # The results obligation (FDAAA 801, an estimate) its current version gives, in words,
    # and the day it was judged on (the day that version was fetched); None: not computed.
    obligation: str | None = None
    obligation_as_of: str | None = None

    @property
    def url(self) -> str:
        return registry_url(self.nct_id)

    @property
    def history_url(self) -> str:
        return history_url(self.nct_id)

    @property
    def page(self) -> str:
        return f"{self.nct_id}.html"

    @property
    def max_severity(self) -> str | None:
        worst = Severity.max(c.change.severity for v in self.versions for c in v.changes)
        return worst.value if worst else None

    @property
    def last_headline(self) -> str:
        """What the latest version changed, in a sync line's words."""
        if not self.versions:
            return "not synced yet"
        last = self.versions[-1]
        if len(self.versions) == 1:
            return "first version"
        return summarize(c.change for c in last.changes).headline() if last.changes else "no protocol change"


def parse_day(value: Any) -> date | None:
    """``2027-06-30`` (or ``2027-6-30``, ``2027-06-30T00:00:00``) -> that day; ``2027-06`` ->
    2027-06-01; ``2027`` -> 2027-01-01: the library's one reader (``regsync.dates``), the
    imprecise dates drawn at their start."""
    return dates.day_of(value, last=False)


def _dates(record: dict[str, Any]) -> list[DatePoint | None]:
    status = _get(record, "protocolSection", "statusModule") or {}
    out: list[DatePoint | None] = []
    for key, label in DATE_FIELDS:
        struct = status.get(key) if isinstance(status, dict) else None
        value = _get(struct, "date")
        day = parse_day(value)
        out.append(DatePoint(key, label, value, _get(struct, "type"), day) if day else None)
    return out


def _primary_outcomes(record: dict[str, Any]) -> list[tuple[str, str]]:
    found = _get(record, "protocolSection", "outcomesModule", "primaryOutcomes") or []
    return [(str(o.get("measure") or ""), str(o.get("timeFrame") or "")) for o in found if isinstance(o, dict)]


def diff_parts(old: str, new: str) -> list[DiffPart]:
    """``regsync.text.word_diff`` as parts to mark up: its ``[-deleted-]`` and ``{+inserted+}``
    (the notation of ``git diff --word-diff=plain``) become del and ins.

    The notation trims the space between a marker and the word beside it (``(eGFR){+and
    change+}``); on a page, where the brackets are gone, that space is put back."""
    parts: list[DiffPart] = []
    pos = 0
    text = text_diff(old, new)
    for m in re.finditer(r"\[-(.*?)-\]|\{\+(.*?)\+\}", text, re.DOTALL):
        if m.start() > pos:
            parts.append(DiffPart("same", text[pos:m.start()]))
        parts.append(DiffPart("del", m[1]) if m[1] is not None else DiffPart("ins", m[2]))
        pos = m.end()
    if pos < len(text):
        parts.append(DiffPart("same", text[pos:]))
    spaced: list[DiffPart] = []
    for part in parts:
        if spaced and spaced[-1].text and part.text and _glued(spaced[-1].text[-1], part.text[0]):
            spaced.append(DiffPart("same", " "))
        spaced.append(part)
    return spaced


def _glued(before: str, after: str) -> bool:
    """Two words that touch only because a marker's space was trimmed."""
    return not (before.isspace() or after.isspace() or after in ".,;:!?)]" or before in "([")


def _change_view(change: Change) -> ChangeView:
    old, new = change.old, change.new
    long_text = isinstance(old, str) and isinstance(new, str) and (
        len(old) > LONG_TEXT or len(new) > LONG_TEXT or "\n" in old + new
    )
    return ChangeView(change, diff_parts(old, new) if long_text else None)


def build_study(store: Store, nct_id: str) -> StudyView:
    """Everything a study's page shows (UnknownStudy when it is not stored), its versions in
    the chain's (the registry's) order, named and dated as every output names them."""
    from regsync import timeline

    study = store.study(nct_id)
    entries = timeline.entries(store, nct_id)
    views: list[VersionView] = []
    detected: dict[int, str] = {}
    for stored in store.changes_to(nct_id, [e.version for e in entries]):
        detected[stored.to_version] = min(stored.detected_at, detected.get(stored.to_version, stored.detected_at))
    for index, entry in enumerate(entries):
        record = store.record(nct_id, entry.version)
        enrollment = _get(record, "protocolSection", "designModule", "enrollmentInfo") or {}
        view = VersionView(
            version=entry.label,
            fetched_at=entry.fetched_at,
            last_update_post_date=entry.posted,
            overall_status=entry.row.get("overall_status"),
            dates=_dates(record),
            enrollment=enrollment.get("count") if isinstance(enrollment, dict) else None,
            enrollment_type=enrollment.get("type") if isinstance(enrollment, dict) else None,
            primary_outcomes=_primary_outcomes(record),
            submitted=entry.submitted,
        )
        if entry.registry_version is not None and entry.label == str(entry.registry_version):
            view.url = history_url(nct_id, entry.registry_version)
        if index:
            # The one judge's answer, stored for every neighbour pair of the chain.
            changes = timeline.changes(store, nct_id, entries[index - 1], entry, entries)
            summary = summarize(changes)
            view.changes = [_change_view(c) for c in summary.flagged]
            view.admin_changes = summary.admin_count
            view.detected_at = detected.get(entry.version, entry.fetched_at)
            view.outcomes_changed = view.primary_outcomes != views[-1].primary_outcomes
            before = entries[index - 1]
            if before.registry_version is not None and entry.registry_version is not None:
                view.compare_url = history_url(nct_id, before.registry_version, entry.registry_version)
        views.append(view)
    obligations = store.current_obligations([nct_id])
    judged = obligations[0] if obligations else None
    return StudyView(
        nct_id=nct_id,
        title=study["brief_title"],
        overall_status=study["overall_status"],
        removed_at=study.get("removed_at"),
        last_changed=study["last_changed"],
        versions=views,
        obligation=judged["detail"].get("state_words") if judged else None,
        obligation_as_of=judged["as_of"] if judged else None,
    )


# -- the chart -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    point: DatePoint

    @property
    def shape(self) -> str:
        return {"startDateStruct": "start", "primaryCompletionDateStruct": "primary"}.get(self.point.key, "completion")

    @property
    def css(self) -> str:
        return "estimated" if self.point.estimated else "actual"


@dataclass(frozen=True)
class Segment:
    x1: float
    x2: float
    y: float
    estimated: bool  # the date it leads to is an estimate

    @property
    def css(self) -> str:
        return "estimated" if self.estimated else "actual"


@dataclass(frozen=True)
class Lane:
    version: VersionView
    y: float  # top of the band
    marks: list[Mark]
    segments: list[Segment]

    @property
    def mid(self) -> float:
        return self.y + LANE / 2

    @property
    def status_css(self) -> str:
        return status_css(self.version.overall_status)

    @property
    def description(self) -> str:
        v = self.version
        parts = [f"v{v.version}", v.overall_status or "status not given"]
        for point in v.dates:
            if point:
                parts.append(f"{point.label.lower()} {point.value} ({(point.type or 'type not given').lower()})")
        return "; ".join(parts)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lanes: list[Lane]
    ticks: list[Tick]
    statuses: list[str]  # the overallStatus values drawn, for the legend
    axis_y: float

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT


# Band colours by overallStatus: light, so the date marks on them stay readable.
STATUS_FILL = {
    "NOT_YET_RECRUITING": "#e4ecf7",
    "RECRUITING": "#d9f0df",
    "ENROLLING_BY_INVITATION": "#e3f2e0",
    "ACTIVE_NOT_RECRUITING": "#fdf0cf",
    "SUSPENDED": "#fbe0d8",
    "TERMINATED": "#f6cfcf",
    "COMPLETED": "#e2e2e2",
    "WITHDRAWN": "#eed9ee",
}
OTHER_FILL = "#f3f3f3"


def status_fill(status: str | None) -> str:
    return STATUS_FILL.get(status or "", OTHER_FILL)


def status_css(status: str | None) -> str:
    return "status-" + re.sub(r"[^a-z0-9]+", "-", (status or "unknown").lower()).strip("-")


DATE_ORDER = {key: n for n, (key, _label) in enumerate(DATE_FIELDS)}
# Marks closer than this (in chart units) would hide one another: the square of an equal
# completion date covered the primary completion's diamond.
CLOSE = 10.0
SPREAD = 10.0  # how far apart, up and down, marks of the same place are drawn


def _spread(marks: list[Mark]) -> list[Mark]:
    """Marks that would cover one another moved apart vertically, in field order (start on
    top), each keeping its x: the date it says stays exact, and every mark stays visible."""
    groups: list[list[Mark]] = []
    for mark in sorted(marks, key=lambda m: (m.x, DATE_ORDER[m.point.key])):
        if groups and mark.x - groups[-1][0].x < CLOSE:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    placed: dict[str, Mark] = {}
    for group in groups:
        group.sort(key=lambda m: DATE_ORDER[m.point.key])
        top = -SPREAD * (len(group) - 1) / 2
        for i, mark in enumerate(group):
            placed[mark.point.key] = Mark(mark.x, mark.y + top + i * SPREAD, mark.point)
    return [placed[m.point.key] for m in marks]


def build_chart(study: StudyView) -> Chart:
    days = [p.day for v in study.versions for p in v.dates if p and p.plausible]
    first = min(days) if days else date(2000, 1, 1)
    last = max(days) if days else date(2001, 1, 1)
    lo = date(first.year, 1, 1)
    hi = date(last.year + 1, 1, 1)
    span = max((hi - lo).days, 1)
    plot = WIDTH - LEFT - RIGHT

    def x(day: date) -> float:
        return round(LEFT + plot * (day - lo).days / span, 1)

    years = hi.year - lo.year
    step = next((s for s in (1, 2, 5, 10, 20, 50) if years / s <= 12), 100)
    ticks = [Tick(x(date(y, 1, 1)), str(y)) for y in range(lo.year, hi.year + 1) if (y - lo.year) % step == 0]

    lanes = []
    for n, version in enumerate(study.versions):
        y = TOP + n * LANE
        mid = y + LANE / 2
        marks = _spread([Mark(x(p.day), mid, p) for p in version.dates if p and p.plausible])
        # The line runs through the dates in the order of the calendar, not of the fields: a
        # completion date before the primary completion date would otherwise be reached by a
        # line drawn back over the first one, two dashes on top of each other reading as solid.
        in_time = sorted(marks, key=lambda m: (m.point.day, DATE_ORDER[m.point.key]))
        segments = [
            Segment(a.x, b.x, mid, b.point.estimated) for a, b in itertools.pairwise(in_time) if b.x > a.x
        ]
        lanes.append(Lane(version, y, marks, segments))
    statuses = list(dict.fromkeys(v.overall_status or "UNKNOWN" for v in study.versions))
    axis_y = TOP + len(lanes) * LANE
    return Chart(WIDTH, int(axis_y + 8), lanes, ticks, statuses, axis_y)


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """When and from which database the pages were written: a page read weeks later, or
    copied to a shared drive, says how old it is and where to look for newer."""

    at: datetime
    database: str

    @property
    def words(self) -> str:
        return f"Generated on {self.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC from database {self.database}"


@dataclass(frozen=True)
class Page:
    nct_id: str
    path: str
    versions: int


@dataclass(frozen=True)
class Report:
    """What ``write_report`` wrote."""

    index: str
    pages: list[Page]
    not_synced: list[str]  # watched, never stored: listed in the index, no page


def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("regsync", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the tests, not a reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(registry_url=registry_url, history_url=history_url, status_css=status_css,
                       status_fill=status_fill)
    env.filters["day"] = lambda value: (value or "")[:10]
    env.filters["nobreak"] = _nobreak_dates
    return env


_ISO_DAY = re.compile(r"\d{4}-\d{2}(?:-\d{2})?")


def _nobreak_dates(value: Any) -> Any:
    """Text with each date kept on one line: a browser breaks at hyphens, and a narrow
    column showed ``2026-12-`` over ``07``. Escaped first: the text is the registry's."""
    from markupsafe import Markup, escape

    text = str(escape("" if value is None else value))
    return Markup(_ISO_DAY.sub(lambda m: f'<span class="nowrap">{m[0]}</span>', text))


def report_ids(store: Store, nct_ids: Sequence[str] | None) -> list[str]:
    """The studies to report: those given, else the watchlist, else every stored study."""
    if nct_ids:
        return list(nct_ids)
    return store.watch_ids() or sorted(store.checked_order())


def render_study(study: StudyView, env: jinja2.Environment | None = None,
                 generated: Generated | None = None) -> str:
    env = env or _environment()
    return env.get_template("study.html").render(study=study, chart=build_chart(study), generated=generated)


def render_index(studies: Iterable[StudyView], not_synced: Iterable[str] = (),
                 env: jinja2.Environment | None = None, generated: Generated | None = None) -> str:
    env = env or _environment()
    return env.get_template("index.html").render(studies=list(studies), not_synced=list(not_synced),
                                                 generated=generated)


def write_report(store: Store, nct_ids: Sequence[str] | None, out_dir: str | os.PathLike[str],
                 *, generated_at: datetime | None = None) -> Report:
    """Write the site into ``out_dir`` (created if missing). Every study named is checked
    before anything is written (UnknownStudy); each file is replaced whole, so a browser
    never shows half a page. Each page says it was generated at ``generated_at`` (default:
    now) from the store's database."""
    out = os.fspath(out_dir)
    generated = Generated(generated_at or datetime.now(UTC), store.path)
    ids = report_ids(store, nct_ids)
    known = set(store.checked_order())
    if nct_ids:
        for nct_id in ids:
            if nct_id not in known:
                store.study(nct_id)  # raises UnknownStudy
    studies = [build_study(store, nct_id) for nct_id in ids if nct_id in known]
    not_synced = [nct_id for nct_id in ids if nct_id not in known]
    env = _environment()
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report into {out}: {exc.strerror}") from None
    pages = []
    for study in studies:
        path = os.path.join(out, study.page)
        _write(path, render_study(study, env, generated))
        pages.append(Page(study.nct_id, path, len(study.versions)))
    index = os.path.join(out, "index.html")
    _write(index, render_index(studies, not_synced, env, generated))
    return Report(index, pages, not_synced)


def _write(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".regsync-", suffix=".html", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, publish_mode())  # 0644 under umask 022, 0600 under 077
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror}") from None
