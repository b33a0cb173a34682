"""Which rule each structural change falls under, and its one-line summary.

Rule code (the ``r_*`` functions, one per category) returns a :class:`Hit`: a rule id from
:data:`regsync.rules.RULES` and a summary. The severity, the milestone flag and the severity
when the edit comes with the first results posting come from that table, never from here;
every cut-off comes from :data:`regsync.rules.THRESHOLDS`.

Severity weighs WHAT changed, BY HOW MUCH and WHEN in the trial's life: the FROM version's
``overallStatus`` reduced to a stage (:data:`regsync.rules.STAGES`): ``pre``
(NOT_YET_RECRUITING, WITHDRAWN), ``recruiting`` (RECRUITING, ENROLLING_BY_INVITATION, and
anything else), ``late`` (ACTIVE_NOT_RECRUITING, SUSPENDED), ``done`` (COMPLETED,
TERMINATED).

Results reconciliation: outcome edits in the version where results are first posted
(hasResults false -> true, or resultsFirstPostDateStruct appears) take the rule's
``reconciled`` severity and ``context="results_reconciliation"``, keeping the rule id; rules
with no ``reconciled`` severity (a primary measure added, removed or redefined) are not
lowered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from regsync import dates, outcomes
from regsync.diff import RawChange, raw_diff
from regsync.model import RESULTS_RECONCILIATION, Category, Change, Kind, OverallStatus
from regsync.model import dig as _get
from regsync.rules import DEFAULT_STAGE, STAGES, THRESHOLDS, rule
from regsync.text import (
    UNIT_WORDS, TextEdit, change_excerpt, norm_text, numbers, text_edit_kind, token_similarity,
    words_changed,
)
from regsync.text import signed
from regsync.text import trunc as _trunc

log = logging.getLogger(__name__)

OS = OverallStatus
STOPPED = frozenset({OS.TERMINATED, OS.SUSPENDED, OS.WITHDRAWN})
ENDED = frozenset({OS.COMPLETED, OS.TERMINATED, OS.WITHDRAWN})
OPEN = frozenset({OS.RECRUITING, OS.NOT_YET_RECRUITING, OS.ENROLLING_BY_INVITATION, OS.ACTIVE_NOT_RECRUITING})
# The forward path of a trial; ENROLLING_BY_INVITATION ranks with RECRUITING.
_PROGRESS_RANK: dict[str, int] = {
    OS.NOT_YET_RECRUITING: 0, OS.RECRUITING: 1, OS.ENROLLING_BY_INVITATION: 1,
    OS.ACTIVE_NOT_RECRUITING: 2, OS.COMPLETED: 3,
}

# whyStopped texts that explain nothing (compared after norm_text).
PLACEHOLDER_REASONS = frozenset({
    "", "na", "n a", "n/a", "none", "other", "unknown", "tbd", "see above", "see below",
    "not applicable", "no reason", "not provided", "various", "other reasons", "misc",
})



@dataclass(frozen=True)
class Hit:
    """What rule code decides: which rule fired and how to say it in one line."""

    rule: str
    summary: str
    delta_days: int | None = None
    delta_months: int | None = None


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Classified changes from ``old`` to ``new``, most severe first, then category, path."""
    if old == new:
        return []
    old, new = old or {}, new or {}
    ctx = Ctx(old, new)
    return sorted((classify_one(raw, ctx) for raw in raw_diff(old, new)), key=Change.sort_key)


def classify_one(raw: RawChange, ctx: Ctx) -> Change:
    category = category_of(raw)
    hit: Hit | None = None
    if len(raw.parts) == 2 and raw.part(0) == "protocolSection":
        hit = r_module(raw, ctx)
    elif category is Category.REFERENCES or (category is Category.ADMIN and raw.part(1) == "referencesModule"):
        hit = r_references(raw, category)
    elif raw.kind is Kind.CHANGED and category not in _OWN_TEXT_EDITS:
        hit = _text_edit(raw, lambda edit: f"{field_label(raw.last)}: {edit}-only edit")
    if hit is None:
        hit = _judged(raw, ctx, category)
    fired = rule(hit.rule)
    severity, context = fired.severity, None
    if ctx.results_first and category is Category.OUTCOMES and fired.reconciled is not None:
        severity, context = fired.reconciled, RESULTS_RECONCILIATION
    return Change(
        category=category, severity=severity, kind=raw.kind, path=raw.path, old=raw.old,
        new=raw.new, summary=hit.summary, rule=fired.id, milestone=fired.milestone,
        context=context, delta_days=hit.delta_days, delta_months=hit.delta_months,
    )


def _judged(raw: RawChange, ctx: Ctx, category: Category) -> Hit:
    """The category's rule code on ``raw``; when it fails (registry text no rule foresaw), a
    generic change of the category and a warning, so one odd edit never stops a version
    from being judged (and stored) nor hides that something changed."""
    try:
        return HANDLERS[category](raw, ctx)
    except Exception:  # noqa: BLE001 - any failure of rule code on data is one bug to log
        log.warning("could not judge the %s change at %s; recorded as unjudged", category, raw.path,
                    exc_info=True)
        try:
            said = generic_summary(raw)
        except Exception:  # noqa: BLE001 - the summary is as much rule code as the rule
            said = f"{field_label(raw.last)} changed"
        return Hit("change.unjudged", said[:1].upper() + said[1:])


# -- context ---------------------------------------------------------------------------------


class Ctx:
    """What the rules need to know about the pair of records as a whole."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.from_status = _get(old, "protocolSection", "statusModule", "overallStatus")
        self.to_status = _get(new, "protocolSection", "statusModule", "overallStatus")
        self.stage = STAGES.get(self.from_status, DEFAULT_STAGE) if isinstance(self.from_status, str) else DEFAULT_STAGE
        self.why_stopped = _get(new, "protocolSection", "statusModule", "whyStopped")
        first_post = ("protocolSection", "statusModule", "resultsFirstPostDateStruct")
        self.has_results_flip = not old.get("hasResults") and bool(new.get("hasResults"))
        self.results_first = self.has_results_flip or (
            _get(old, *first_post) is None and _get(new, *first_post) is not None
        )
        self.results_post_date = _get(new, *first_post, "date")
        # Results are prepared before they are posted: an edit submitted once results were
        # submitted, and before they were first posted, is part of results preparation too.
        submitted = _get(new, "protocolSection", "statusModule", "resultsFirstSubmitDate")
        edited = _get(new, "protocolSection", "statusModule", "lastUpdateSubmitDate")
        if isinstance(submitted, str) and _get(old, *first_post) is None and (
            not isinstance(edited, str) or edited >= submitted
        ):
            self.results_first = True
        self._shift: outcomes.EndpointShift | None = None
        self._verdicts: dict[tuple[int, int], outcomes.Verdict] = {}
        self._rewrites: list[tuple[dict[str, Any], dict[str, Any]]] | None = None

    def _outcome_list(self, record: dict[str, Any], name: str) -> list[Any]:
        got = _get(record, "protocolSection", "outcomesModule", name)
        return got if isinstance(got, list) else []

    @property
    def endpoint_shift(self) -> outcomes.EndpointShift:
        """Primary endpoints new, omitted or moved, whatever the entries were cut into."""
        if self._shift is None:
            old, new = self.old, self.new
            self._shift = outcomes.endpoint_shift(
                self._outcome_list(old, "primaryOutcomes"), self._outcome_list(new, "primaryOutcomes"),
                self._outcome_list(old, "secondaryOutcomes") + self._outcome_list(old, "otherOutcomes"),
                self._outcome_list(new, "secondaryOutcomes") + self._outcome_list(new, "otherOutcomes"),
            )
        return self._shift

    @property
    def primary_restructured(self) -> bool:
        """Entries split or merged with every endpoint still named."""
        before = len(self._outcome_list(self.old, "primaryOutcomes"))
        return before != len(self._outcome_list(self.new, "primaryOutcomes")) and self.endpoint_shift.none

    def primary_rewrite(self, item: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(old, new) when ``item`` is a primary outcome removed (or added) whose endpoints
        are exactly those of one added (or removed) entry: the same outcome rewritten."""
        if self._rewrites is None:
            self._rewrites = []
            shift = self.endpoint_shift
            old_list = [x for x in self._outcome_list(self.old, "primaryOutcomes") if isinstance(x, dict)]
            new_list = [x for x in self._outcome_list(self.new, "primaryOutcomes") if isinstance(x, dict)]
            old_measures = {norm_text(x.get("measure")) for x in old_list}
            new_measures = {norm_text(x.get("measure")) for x in new_list}
            gone = [x for x in old_list if norm_text(x.get("measure")) not in new_measures]
            came = [x for x in new_list if norm_text(x.get("measure")) not in old_measures]
            if len(old_list) == len(new_list):
                for before in gone:
                    names = shift.names([before])
                    for after in came:
                        if outcomes.same_endpoints(names, shift.names([after])) and all(
                            after is not a for _, a in self._rewrites
                        ):
                            self._rewrites.append((before, after))
                            break
        for before, after in self._rewrites:
            if item == before or item == after:
                return before, after
        return None

    def outcome_verdict(self, old: dict[str, Any], new: dict[str, Any]) -> outcomes.Verdict:
        key = (id(old), id(new))
        if key not in self._verdicts:
            verdict = outcomes.compare(old, new)
            same_length = len(self._outcome_list(self.old, "primaryOutcomes")) == len(
                self._outcome_list(self.new, "primaryOutcomes"))
            if verdict.element == "domain" and same_length and outcomes.rewritten_in_place(old, new):
                # One entry rewritten in place, still naming its outcome: raters see a changed
                # measurement there, not one outcome omitted and another added.
                verdict = outcomes.Verdict("change", "measurement", f"{verdict.reason}, rewritten in place")
            self._verdicts[key] = verdict
        return self._verdicts[key]

    def primary_copy(self, item: Any) -> str | None:
        """For a primary outcome added that repeats another entry's endpoints: "new time"
        when it adds a time point the old list did not have for them (a new primary), else
        "analysis" (a copy per analysis or stratum: detail); None when it is no copy."""
        if not isinstance(item, dict):
            return None
        shift = self.endpoint_shift
        named = shift.names([item])
        if not named:
            return None
        new_list = [x for x in self._outcome_list(self.new, "primaryOutcomes") if isinstance(x, dict) and x is not item]
        # a copy names exactly the same endpoints (a split names some of them each)
        if not any(set(named) == set(shift.names([x])) for x in new_list):
            return None
        old_same = [x for x in self._outcome_list(self.old, "primaryOutcomes")
                    if isinstance(x, dict) and set(named) == set(shift.names([x]))]
        before = [t for x in old_same for t in outcomes.time_points(x)]
        if before and not outcomes.covered_times(outcomes.time_points(item), before):
            return "new time"
        return "analysis"


def real_reason(s: Any) -> bool:
    """A whyStopped that explains something: not empty, not a placeholder, enough words."""
    if not isinstance(s, str):
        return False
    n = norm_text(s)
    return n not in PLACEHOLDER_REASONS and len(n.split()) >= THRESHOLDS.why_stopped_words


def same_measure(a: Any, b: Any) -> bool:
    """Outcome wording that does not change what is measured."""
    if norm_text(a) == norm_text(b):
        return True
    if numbers(a) != numbers(b):
        return False
    return token_similarity(a, b, UNIT_WORDS) >= THRESHOLDS.same_measure_similarity


# -- dates -----------------------------------------------------------------------------------

DateParts = dates.DateParts


def parse_date(s: Any) -> DateParts | None:
    """(year, month, day) of a registry date, by the library's one reader (``regsync.dates``):
    ``2027-6-3`` and ``2027-06-03T00:00:00`` read as ``2027-06-03`` does, as in the
    obligations and the report; None when not a real date."""
    return dates.parse(s)


def date_delta(a: Any, b: Any) -> tuple[int | None, int | None]:
    """(delta_days, delta_months) from a to b, positive = later.

    delta_days when both are day-precise; otherwise delta_months compared at the coarser
    precision (a year-only date counts as years*12 months).
    """
    pa, pb = parse_date(a), parse_date(b)
    if not pa or not pb or not (dates.plausible(pa[0]) and dates.plausible(pb[0])):
        return None, None  # an implausible date (1800, 9999) is said, not measured
    if pa[1] is not None and pb[1] is not None and pa[2] is not None and pb[2] is not None:
        return (date(pb[0], pb[1], pb[2]) - date(pa[0], pa[1], pa[2])).days, None
    if pa[1] is None or pb[1] is None:
        return None, (pb[0] - pa[0]) * 12
    return None, (pb[0] - pa[0]) * 12 + (pb[1] - pa[1])


def approx_months(days: int | None, months: int | None) -> float | None:
    if months is not None:
        return float(months)
    if days is not None:
        return days / 30.44
    return None


# -- categories ------------------------------------------------------------------------------

_STATUS_FIELDS = {"overallStatus", "whyStopped", "lastKnownStatus", "expandedAccessInfo"}
_DATE_FIELDS = {"startDateStruct": "Start date",
                "primaryCompletionDateStruct": "Primary completion date",
                "completionDateStruct": "Completion date"}
_RESULTS_STATUS = {"resultsFirstSubmitDate", "resultsFirstSubmitQcDate",
                   "resultsFirstPostDateStruct", "dispFirstSubmitDate",
                   "dispFirstSubmitQcDate", "dispFirstPostDateStruct"}
_MODULE_CATEGORY = {
    "identificationModule": Category.IDENTIFICATION,
    "sponsorCollaboratorsModule": Category.SPONSOR,
    "oversightModule": Category.OVERSIGHT,
    "descriptionModule": Category.DESCRIPTION,
    "conditionsModule": Category.CONDITIONS,
    "eligibilityModule": Category.ELIGIBILITY,
    "outcomesModule": Category.OUTCOMES,
    "referencesModule": Category.REFERENCES,
    "ipdSharingStatementModule": Category.IPD,
}


# The category of a module as a whole (a module lost): where its most important fields go.
_WHOLE_MODULE_CATEGORY = {
    "statusModule": Category.STATUS,
    "designModule": Category.DESIGN,
    "armsInterventionsModule": Category.ARMS,
    "contactsLocationsModule": Category.CONTACTS,
}


def category_of(raw: RawChange) -> Category:
    top, mod, fld = raw.part(0), raw.part(1), raw.part(2)
    if top in ("hasResults", "resultsSection"):
        return Category.RESULTS
    if top == "documentSection":
        return Category.DOCUMENTS
    if top != "protocolSection" or not mod:
        return Category.ADMIN
    if not fld and mod in _WHOLE_MODULE_CATEGORY:
        return _WHOLE_MODULE_CATEGORY[mod]
    if mod == "statusModule":
        if fld in _STATUS_FIELDS:
            return Category.STATUS
        if fld in _DATE_FIELDS:
            return Category.DATES
        if fld in _RESULTS_STATUS:
            return Category.RESULTS
        return Category.ADMIN
    if mod == "designModule":
        return Category.ENROLLMENT if fld == "enrollmentInfo" else Category.DESIGN
    if mod == "armsInterventionsModule":
        return Category.ARMS if fld == "armGroups" else Category.INTERVENTIONS
    if mod == "contactsLocationsModule":
        return Category.LOCATIONS if fld == "locations" else Category.CONTACTS
    if mod == "referencesModule":
        item = raw.item_new if raw.item_new is not None else raw.item_old
        if isinstance(item, dict) and item.get("type") == "DERIVED":
            return Category.ADMIN
    return _MODULE_CATEGORY.get(mod, Category.ADMIN)


# -- summaries -------------------------------------------------------------------------------

_LABELS = {
    "briefSummary": "Brief summary", "detailedDescription": "Detailed description",
    "briefTitle": "Brief title", "officialTitle": "Official title", "acronym": "Acronym",
    "eligibilityCriteria": "Eligibility criteria", "whyStopped": "Why stopped",
    "timeFrame": "time frame", "description": "description", "measure": "measure",
    "minimumAge": "Minimum age", "maximumAge": "Maximum age", "sex": "Sex",
    "healthyVolunteers": "Healthy volunteers", "stdAges": "Age groups",
}


def field_label(name: str) -> str:
    """``lastUpdatePostDateStruct`` -> ``Last update post date`` (or its label)."""
    name = name.removesuffix("[]")
    if name in _LABELS:
        return _LABELS[name]
    if name.endswith("DateStruct"):  # shown as a date (see readable): "Study first post date"
        name = name.removesuffix("Struct")
    s = re.sub(r"(?<!^)([A-Z])", r" \1", name).lower()
    return s[:1].upper() + s[1:]


def _fmt_val(v: Any, n: int = 60) -> str:
    """A value as a person reads it, in at most ``n`` characters: never raw JSON."""
    return _trunc(readable(v, n * 2), n)


def trunc(v: Any, n: int = 100) -> str:
    """``text.trunc``, with an object or list (where text was expected) made readable."""
    return _fmt_val(v, n) if isinstance(v, (dict, list)) else _trunc(v, n)


def readable(v: Any, budget: int = 200, depth: int = 0) -> str:
    """``{"date": "2026-01-05", "type": "ACTUAL"}`` -> ``2026-01-05 (ACTUAL)``; other objects
    as ``field value, field value``, lists as ``a; b``; cut once ``budget`` characters are
    written (a malformed value can be arbitrarily large or deep)."""
    if isinstance(v, dict):
        if not v:
            return "(empty)"
        if depth > 3:
            return "…"
        day, kind = v.get("date"), v.get("type")
        if isinstance(day, str) and set(v) <= {"date", "type"}:
            return f"{day} ({kind})" if isinstance(kind, str) else day
        parts: list[str] = []
        used = 0
        for key, item in v.items():
            if used > budget:
                parts.append("…")
                break
            shown = readable(item, budget - used, depth + 1)
            if isinstance(item, (dict, list)) and item:
                shown = f"({shown})"
            parts.append(f"{field_label(str(key)).lower()} {shown}".strip())
            used += len(parts[-1]) + 2
        return ", ".join(parts)
    if isinstance(v, list):
        if not v:
            return "(empty)"
        if depth > 3:
            return "…"
        items: list[str] = []
        used = 0
        for item in v:
            if used > budget:
                items.append("…")
                break
            items.append(readable(item, budget - used, depth + 1))
            used += len(items[-1]) + 2
        return "; ".join(items)
    if v is None:
        return "(none)"
    return v if isinstance(v, str) else str(v)


def generic_summary(raw: RawChange, label: str | None = None) -> str:
    label = label or field_label(raw.last)
    if raw.kind is Kind.ADDED:
        return f"{label} added: {_fmt_val(raw.new)}"
    if raw.kind is Kind.REMOVED:
        return f"{label} removed: {_fmt_val(raw.old)}"
    return f"{label}: {_old_to_new(raw.old, raw.new, 60)}"


def _old_to_new(old: Any, new: Any, n: int) -> str:
    """``old -> new`` cut to ``n`` characters a side; when that would show the same text on
    both sides (a long text edited past its start), the changed words instead."""
    before, after = _fmt_val(old, n), _fmt_val(new, n)
    if before == after and isinstance(old, str) and isinstance(new, str):
        return change_excerpt(old, new, 2 * n)
    return f"{before} -> {after}"


def _set_member(raw: RawChange) -> Any:
    return raw.new if raw.kind is Kind.ADDED else raw.old


def _text_edit(raw: RawChange, summary: str | Callable[[TextEdit], str]) -> Hit | None:
    """A whitespace- or formatting-only edit of a text, or None; ``summary`` is the line, or
    writes it from the kind of edit.  Never ``str.format``: summaries carry registry text,
    whose braces (and the word diff's ``{+word+}``) would be read as format fields."""
    edit = text_edit_kind(raw.old, raw.new)
    if edit is None:
        return None
    said = summary(edit) if callable(summary) else summary
    return Hit("text.whitespace" if edit == "whitespace" else "text.formatting", said)


def _item_key(raw: RawChange, key: str) -> str:
    """A key field of the item a field change belongs to (from the item, else the path)."""
    for it in (raw.item_new, raw.item_old):
        if isinstance(it, dict) and it.get(key):
            return str(it[key])
    m = re.search(r"\[(?:[^\]\\]|\\.)*?" + key + r"=((?:[^,\]\\#]|\\.)*)", raw.path)
    return m.group(1).replace("\\", "") if m else "?"


def _item(raw: RawChange) -> Any:
    return raw.item_new if isinstance(raw.item_new, dict) else raw.item_old


# -- rule code, one function per category ----------------------------------------------------


def r_status(raw: RawChange, ctx: Ctx) -> Hit:
    fld = raw.part(2)
    if fld == "overallStatus":
        s = f"Overall status: {_fmt_val(raw.old)} -> {_fmt_val(raw.new)}"
        # Only strings are statuses: a malformed value is "other", never a crash.
        o = raw.old if isinstance(raw.old, str) else None
        n = raw.new if isinstance(raw.new, str) else None
        if n in STOPPED:
            if real_reason(ctx.why_stopped):
                return Hit("status.stopped.with_reason", f"{s} (why stopped: {trunc(ctx.why_stopped, 60)})")
            return Hit("status.stopped.no_reason", f"{s} (no reason given)")
        if o in ENDED and n in OPEN:
            return Hit("status.reopened_after_end", s)
        if o == OS.SUSPENDED:
            return Hit("status.resumed", s)
        if n == OS.UNKNOWN:
            return Hit("status.unknown", s)
        if o in _PROGRESS_RANK and n in _PROGRESS_RANK:
            if _PROGRESS_RANK[n] > _PROGRESS_RANK[o]:
                return Hit("status.progression", s)
            return Hit("status.reopened", s)
        return Hit("status.other", s)
    if fld == "whyStopped":
        if raw.kind is Kind.REMOVED and isinstance(ctx.to_status, str) and ctx.to_status in STOPPED:
            return Hit("status.why_stopped.removed", f"Why stopped removed: {trunc(raw.old)}")
        if raw.kind is Kind.ADDED:
            return Hit("status.why_stopped", f"Why stopped: {trunc(raw.new)}")
        return Hit("status.why_stopped", generic_summary(raw, "Why stopped"))
    if fld == "expandedAccessInfo":
        before = raw.old.get("hasExpandedAccess") if isinstance(raw.old, dict) else None
        after = raw.new.get("hasExpandedAccess") if isinstance(raw.new, dict) else None
        if bool(before) == bool(after):
            return Hit("status.expanded_access.details", generic_summary(raw, "Expanded access info"))
        return Hit("status.expanded_access", f"Expanded access: {bool(before)} -> {bool(after)}")
    return Hit("status.other", generic_summary(raw))


def r_dates(raw: RawChange, ctx: Ctx) -> Hit:
    fld = raw.part(2)
    label = _DATE_FIELDS.get(fld, field_label(fld))
    o = raw.old if isinstance(raw.old, dict) else {}
    n = raw.new if isinstance(raw.new, dict) else {}
    od, nd = o.get("date"), n.get("date")
    ot, nt = o.get("type"), n.get("type")
    if raw.kind is Kind.ADDED:
        return Hit("dates.became_actual" if nt == "ACTUAL" else "dates.added",
                   f"{label} added: {_fmt_val(nd)} ({nt or 'no type'})")
    if raw.kind is Kind.REMOVED:
        return Hit("dates.removed", f"{label} removed (was {_fmt_val(od)} {ot or ''})".replace(" )", ")"))
    dd, dm = date_delta(od, nd)
    moved = od != nd
    if dd is not None:
        dtxt = signed(dd, "day")
    elif dm is not None:
        dtxt = signed(dm, "month")
    else:
        dtxt = ""
    ttxt = (nt or "no type") if ot == nt else f"{ot or 'no type'} -> {nt or 'no type'}"
    vals = f"{_fmt_val(od)} -> {_fmt_val(nd)}" if moved else _fmt_val(nd)
    extra = ", ".join(x for x in (ttxt, dtxt if moved else "") if x)
    summary = f"{label}: {vals} ({extra})"
    if moved and any(v is not None and parse_date(v) is None for v in (od, nd)):
        # 2027-02-30, "soon": reported as what it is, the slip left unmeasured.
        return Hit("dates.unreadable", f"{summary}: not a valid date")
    odd = [v for v in (od, nd) if (p := parse_date(v)) is not None and not dates.plausible(p[0])]
    if moved and odd:
        # 1800-01-01, 3026-01-01: a typo, said as such; a slip of centuries is not measured.
        return Hit("dates.unreadable", f"{summary}: {', '.join(map(str, odd))} is not a plausible date")
    dd, dm = (dd, dm) if moved else (None, None)
    if nt == "ACTUAL" and ot != "ACTUAL":
        rule_id = "dates.became_actual"
    elif ot == "ACTUAL" and nt == "ACTUAL":
        rule_id = "dates.actual_corrected"
    elif ot == "ACTUAL":
        rule_id = "dates.actual_reverted"
    elif fld == "startDateStruct":
        rule_id = "dates.start.moved"
    else:
        rule_id = _slip_rule(approx_months(dd, dm), ctx.stage)
    return Hit(rule_id, summary, delta_days=dd, delta_months=dm)


def _slip_rule(months: float | None, stage: str) -> str:
    if months is None:
        return "dates.slip.moderate"
    if months < 0:
        return "dates.earlier"
    if stage in ("late", "done") and months >= THRESHOLDS.date_slip_late_months:
        return "dates.slip.late_large"
    if months >= THRESHOLDS.date_slip_early_months:
        return "dates.slip.early_very_large"
    return "dates.slip.moderate"


def r_enrollment(raw: RawChange, ctx: Ctx) -> Hit:
    o = raw.old if isinstance(raw.old, dict) else {}
    n = raw.new if isinstance(raw.new, dict) else {}
    oc, nc = o.get("count"), n.get("count")
    ot, nt = o.get("type"), n.get("type")
    ttxt = (nt or "no type") if ot == nt else f"{ot or 'no type'} -> {nt or 'no type'}"
    if raw.kind is Kind.ADDED or not o:
        return Hit("enrollment.added", f"Enrollment: {_fmt_val(nc)} ({ttxt})")
    if raw.kind is Kind.REMOVED or not n:
        return Hit("enrollment.removed", f"Enrollment removed (was {_fmt_val(oc)} {ot or ''})".replace(" )", ")"))
    share = None
    numeric = (int, float)
    if isinstance(oc, numeric) and isinstance(nc, numeric) and not isinstance(oc, bool) and oc:
        share = (nc - oc) / oc
    ptxt = f", {share * 100:+.0f}%" if share is not None and oc != nc else ""
    summary = (f"Enrollment: {_fmt_val(oc)} -> {_fmt_val(nc)} ({ttxt}{ptxt})" if oc != nc
               else f"Enrollment: {_fmt_val(nc)} ({ttxt})")
    if nc == 0 and oc:
        return Hit("enrollment.zero", summary)
    if share is not None and share <= -THRESHOLDS.enrollment_cut:
        if ctx.stage == "pre":
            return Hit("enrollment.reduction.pre_recruitment", summary)
        return Hit("enrollment.reduction.large", summary)
    if oc == nc and nt == "ACTUAL" and ot != "ACTUAL":
        return Hit("enrollment.finalized", summary)
    return Hit("enrollment.change.small", summary)


def _arm_label(it: Any) -> str:
    if isinstance(it, dict):
        t = it.get("type")
        return f"{it.get('label')}" + (f" ({t})" if t else "")
    return str(it)


def _intervention_label(it: Any) -> str:
    if isinstance(it, dict):
        return f"{it.get('name')} ({it.get('type')})"
    return str(it)


def _numbers_rule(raw: RawChange, dose_rule: str, wording_rule: str, label: str) -> Hit:
    """A description whose numbers changed is a dose or schedule change; else wording."""
    if raw.kind is Kind.CHANGED and numbers(raw.old) != numbers(raw.new):
        return Hit(dose_rule, f"{label} changed (numbers: {_old_to_new(raw.old, raw.new, 45)})")
    return Hit(wording_rule, generic_summary(raw, label))


def r_arms(raw: RawChange, ctx: Ctx) -> Hit:
    sub = raw.after("armGroups[]")
    if sub == ():
        if raw.kind is Kind.ADDED:
            return Hit("arms.added", f"Arm added: {_arm_label(raw.new)}")
        if raw.kind is Kind.REMOVED:
            return Hit("arms.removed", f"Arm removed: {_arm_label(raw.old)}")
        if raw.kind is Kind.RENAMED:
            return Hit("arms.renamed", f"Arm renamed: {trunc(raw.old, 60)} -> {trunc(raw.new, 60)}")
    arm = _item_key(raw, "label")
    fld = sub[0] if sub else ""
    if fld == "type":
        if raw.kind is not Kind.CHANGED:
            return Hit("arms.wording", generic_summary(raw, f"Arm {arm} type"))
        return Hit("arms.type_changed", f"Arm {arm} type: {_fmt_val(raw.old)} -> {_fmt_val(raw.new)}")
    if fld.startswith("interventionNames"):
        verb = "added to" if raw.kind is Kind.ADDED else "removed from"
        return Hit("arms.interventions_changed", f"Intervention {trunc(_set_member(raw), 60)} {verb} arm {arm}")
    if fld == "description":
        return _numbers_rule(raw, "arms.dose_changed", "arms.wording", f"Arm {arm} description")
    return Hit("arms.wording", generic_summary(raw, f"Arm {arm} {field_label(raw.last).lower()}"))


def r_interventions(raw: RawChange, ctx: Ctx) -> Hit:
    sub = raw.after("interventions[]")
    if sub is None:
        return Hit("interventions.wording", generic_summary(raw))
    if sub == ():
        if raw.kind is Kind.ADDED:
            return Hit("interventions.added", f"Intervention added: {_intervention_label(raw.new)}")
        if raw.kind is Kind.REMOVED:
            return Hit("interventions.removed", f"Intervention removed: {_intervention_label(raw.old)}")
        if raw.kind is Kind.RENAMED:
            o = raw.old if isinstance(raw.old, dict) else {}
            n = raw.new if isinstance(raw.new, dict) else {}
            return Hit("interventions.renamed",
                       f"Intervention renamed: {_fmt_val(o.get('type'))}: {_fmt_val(o.get('name'))} -> "
                       f"{_fmt_val(n.get('type'))}: {_fmt_val(n.get('name'))}")
    name = _item_key(raw, "name")
    fld = sub[0] if sub else ""
    if fld.startswith("armGroupLabels"):
        verb = "now given in arm" if raw.kind is Kind.ADDED else "no longer given in arm"
        return Hit("interventions.arm_assignment", f"Intervention {name} {verb} {trunc(_set_member(raw), 60)}")
    if fld.startswith("otherNames"):
        return Hit("interventions.other_names", generic_summary(raw, f"Intervention {name} other name"))
    if fld == "description":
        return _numbers_rule(raw, "interventions.dose_changed", "interventions.wording",
                             f"Intervention {name} description")
    return Hit("interventions.wording",
               generic_summary(raw, f"Intervention {name} {field_label(raw.last).lower()}"))


_LIST_WORD = {"primaryOutcomes": "primary", "secondaryOutcomes": "secondary", "otherOutcomes": "other"}


def r_outcomes(raw: RawChange, ctx: Ctx) -> Hit:
    which = _LIST_WORD.get(raw.part(2))
    if which is None:
        return Hit("outcome.bookkeeping", generic_summary(raw))
    Which = which.capitalize()
    sub = raw.parts[3:]
    primary = which == "primary"
    stage = ctx.stage

    if raw.kind is Kind.MOVED:
        to = _LIST_WORD.get(raw.info.get("to_list", ""), "?")
        m = trunc(raw.old.get("measure") if isinstance(raw.old, dict) else raw.old)
        if primary:
            return Hit("outcome.primary.demoted", f"Primary outcome demoted to {to}: {m}")
        if to == "primary":
            return Hit("outcome.primary.promoted", f"{Which} outcome promoted to primary: {m}")
        return Hit("outcome.moved", f"{Which} outcome moved to {to}: {m}")
    if primary:
        return _primary_outcome(raw, ctx)

    if sub == ():
        item = raw.new if raw.kind is Kind.ADDED else raw.old
        measure = trunc(item.get("measure") if isinstance(item, dict) else item)
        if raw.kind is Kind.ADDED:
            if stage == "done":
                return Hit("outcome.secondary.added_after_completion", f"{Which} outcome added after completion: {measure}")
            return Hit("outcome.secondary.added", f"{Which} outcome added: {measure}")
        if raw.kind is Kind.REMOVED:
            if stage == "done":
                return Hit("outcome.removed_after_completion", f"{Which} outcome removed after completion: {measure}")
            if stage == "pre":
                return Hit("outcome.secondary.removed_pre_recruitment", f"{Which} outcome removed: {measure}")
            return Hit("outcome.secondary.removed", f"{Which} outcome removed: {measure}")
        # renamed: the measure itself was edited
        s = f"{Which} outcome measure: {trunc(raw.old, 60)} -> {trunc(raw.new, 60)}"
        text = _text_edit(raw, s)
        if text:
            return text
        if same_measure(raw.old, raw.new) or _reworded(raw):
            return Hit("outcome.wording", s)
        if stage == "pre":
            return Hit("outcome.secondary.redefined_pre_recruitment", s)
        return Hit("outcome.secondary.redefined", s)
    fld = sub[0]
    it = _item(raw)
    shown = trunc(it.get("measure"), 50) if isinstance(it, dict) and it.get("measure") else None
    label = f"{Which} outcome {field_label(raw.last).lower()}" + (f" ({shown})" if shown else "")
    s = generic_summary(raw, label)
    text = _text_edit(raw, s)
    if text:
        return text
    if fld == "timeFrame":
        if (raw.kind is Kind.CHANGED and same_measure(raw.old, raw.new)) or _reworded(raw):
            return Hit("outcome.wording", s)
        return Hit("outcome.timeframe_changed", s)
    if fld == "description":
        return Hit("outcome.wording", s) if _reworded(raw) else Hit("outcome.description", s)
    return Hit("outcome.bookkeeping", s)


def _reworded(raw: RawChange) -> bool:
    """The whole outcome entry says the same thing after the edit (regsync.outcomes)."""
    old, new = raw.item_old, raw.item_new
    return isinstance(old, dict) and isinstance(new, dict) and outcomes.compare(old, new) == outcomes.WORDING


def _primary_rule(element: str) -> str:
    """The rule that states an element's verdict on a primary outcome."""
    if element == "domain":
        return "outcome.primary.redefined"
    if element == "measurement":
        return "outcome.primary.measurement_changed"
    if element == "metric":
        return "outcome.primary.metric_changed"
    if element == "aggregation":
        return "outcome.primary.aggregation_changed"
    if element == "timepoint":
        return "outcome.primary.timeframe_changed"
    if element == "detail":
        return "outcome.primary.detail"
    return "outcome.wording"


_ELEMENT_WORDS = {
    "domain": "measure replaced", "measurement": "measurement changed", "metric": "metric changed",
    "aggregation": "aggregation changed", "timepoint": "time point changed", "detail": "detail changed",
    "wording": "reworded",
}


def _primary_outcome(raw: RawChange, ctx: Ctx) -> Hit:
    """A primary outcome judged as raters judge it: by the endpoints the list names, then
    element by element (domain, measurement, metric, aggregation, time point)."""
    sub = raw.parts[3:]
    shift = ctx.endpoint_shift
    item = raw.new if raw.kind is Kind.ADDED else raw.old
    measure = trunc(item.get("measure") if isinstance(item, dict) else item)
    if sub == () and raw.kind in (Kind.ADDED, Kind.REMOVED):
        rewrite = ctx.primary_rewrite(raw.old if raw.kind is Kind.REMOVED else raw.new)
        if rewrite is not None:
            # the same outcome rewritten beyond recognition by the key matcher: one change
            before, after = rewrite
            if raw.kind is Kind.REMOVED:
                return Hit("outcome.wording", f"Primary outcome rewritten: {measure} (judged with its new wording)")
            verdict = ctx.outcome_verdict(before, after)
            shown = f"Primary outcome measure: {trunc(before.get('measure'), 60)} -> {trunc(after.get('measure'), 60)}"
            if verdict.element == "wording":
                return Hit("outcome.wording", f"Primary outcome rewritten: {shown}")
            return Hit(_primary_rule(verdict.element),
                       f"Primary outcome {_ELEMENT_WORDS[verdict.element]} ({verdict.reason}): {shown}")
    if sub == () and raw.kind is Kind.ADDED:
        copy = ctx.primary_copy(raw.new)
        if copy == "new time":
            return Hit("outcome.primary.added", f"Primary outcome added (repeated at a new time point): {measure}")
        if copy == "analysis":
            return Hit("outcome.primary.detail", f"Primary outcome detail changed (a copy for another analysis "
                                                 f"or stratum): {measure} added")
        named = shift.names([raw.new])
        if any(e in shift.new for e in named) or not named:
            return Hit("outcome.primary.added", f"Primary outcome added: {measure}")
        if any(e in shift.promoted for e in named):
            return Hit("outcome.primary.promoted", f"Secondary/other outcome made primary: {measure}")
        return Hit("outcome.primary.restructured", f"Primary outcomes restructured, same endpoints: {measure} added")
    if sub == () and raw.kind is Kind.REMOVED:
        named = shift.names([raw.old])
        if any(e in shift.omitted for e in named) or not named:
            return Hit("outcome.primary.removed", f"Primary outcome removed: {measure}")
        if any(e in shift.demoted for e in named):
            return Hit("outcome.primary.demoted", f"Primary outcome moved to secondary/other: {measure}")
        return Hit("outcome.primary.restructured", f"Primary outcomes restructured, same endpoints: {measure} removed")

    old, new = raw.item_old, raw.item_new
    if not isinstance(old, dict) or not isinstance(new, dict):
        return Hit("outcome.bookkeeping", generic_summary(raw, "Primary outcome"))
    fld = "measure" if sub == () else sub[0]
    if fld not in ("measure", "timeFrame", "description"):
        return Hit("outcome.bookkeeping", generic_summary(raw, f"Primary outcome {field_label(raw.last).lower()}"))
    shown = trunc(new.get("measure"), 60)
    if sub == ():
        summary = f"Primary outcome measure: {trunc(raw.old, 60)} -> {trunc(raw.new, 60)}"
    else:
        summary = generic_summary(raw, f"Primary outcome {field_label(raw.last).lower()} ({trunc(shown, 50)})")
    if sub == ():
        gone = [e for e in shift.names([old]) if e in shift.omitted or e in shift.demoted]
        came = [e for e in shift.names([new]) if e in shift.new or e in shift.promoted]
        if gone and not came:
            listed = ", ".join(map(outcomes.describe, gone))
            if all(e in shift.demoted for e in gone):
                return Hit("outcome.primary.demoted", f"Primary outcome narrowed: {listed} moved to secondary; {summary}")
            return Hit("outcome.primary.endpoint_omitted", f"Primary outcome narrowed: {listed} no longer named; {summary}")
        if came and not gone:
            return Hit("outcome.primary.endpoint_added",
                       f"Primary outcome widened: {', '.join(map(outcomes.describe, came))} added; {summary}")
    verdict = ctx.outcome_verdict(old, new)
    if _verdict_field(old, new, verdict) != fld:
        # One edit of one entry is one change: the other fields edited with it are part of it.
        return Hit("outcome.wording", f"{summary} (with the {_verdict_field(old, new, verdict)} edit)")
    if verdict.level in ("none", "minor") and ctx.primary_restructured:
        return Hit("outcome.primary.restructured", f"Primary outcomes restructured, same endpoints: {summary}")
    if verdict.element == "wording":
        text = _text_edit(raw, summary) if raw.kind is Kind.CHANGED else None
        return text or Hit("outcome.wording", summary)
    return Hit(_primary_rule(verdict.element), f"Primary outcome {_ELEMENT_WORDS[verdict.element]} ({verdict.reason}): {summary}")


def _verdict_field(old: dict[str, Any], new: dict[str, Any], verdict: outcomes.Verdict) -> str:
    """The field whose change carries an entry's verdict (the others are edited with it)."""
    edited = [f for f in ("measure", "timeFrame", "description") if old.get(f) != new.get(f)]
    if verdict.reason.startswith("description") and "description" in edited:
        return "description"
    if verdict.element == "timepoint" and "timeFrame" in edited:
        return "timeFrame"
    return edited[0] if edited else "measure"


_POPULATION_FIELDS = {"sex", "minimumAge", "maximumAge", "healthyVolunteers", "stdAges", "genderBased"}


def r_eligibility(raw: RawChange, ctx: Ctx) -> Hit:
    fld = raw.part(2)
    label = _LABELS.get(fld, field_label(raw.last))
    if fld == "eligibilityCriteria":
        if isinstance(raw.old, str) and isinstance(raw.new, str):
            s = f"Eligibility criteria changed ({change_excerpt(raw.old, raw.new, 100)})"
        else:
            s = f"Eligibility criteria changed ({trunc(raw.old, 40)} -> {trunc(raw.new, 40)})"
        if ctx.stage == "pre":
            return Hit("eligibility.pre_recruitment", s)
        if isinstance(raw.old, str) and isinstance(raw.new, str):
            n = words_changed(raw.old, raw.new)
            total = max(len(raw.old.split()), 1)
            if (numbers(raw.old) == numbers(raw.new) and n <= THRESHOLDS.eligibility_wording_words
                    and n / total <= THRESHOLDS.eligibility_wording_share):
                return Hit("eligibility.wording", s + f" ({n} words)")
        return Hit("eligibility.population_shift", s)
    if fld in _POPULATION_FIELDS:
        if fld == "stdAges" and raw.kind in (Kind.ADDED, Kind.REMOVED) and raw.parts[-1].endswith("[]"):
            s = f"Age group {raw.kind}: {_set_member(raw)}"
        else:
            s = generic_summary(raw, label)
        if ctx.stage == "pre":
            return Hit("eligibility.pre_recruitment", s)
        return Hit("eligibility.population_shift", s)
    return Hit("eligibility.wording", generic_summary(raw, label))


def r_design(raw: RawChange, ctx: Ctx) -> Hit:
    last = raw.parts[-1]
    if last == "phases":
        o = "/".join(map(str, raw.old)) if isinstance(raw.old, list) else "(none)"
        n = "/".join(map(str, raw.new)) if isinstance(raw.new, list) else "(none)"
        if raw.kind is Kind.ADDED:
            return Hit("design.other", f"Phase given: {n}")
        return Hit("design.phase_changed", f"Phase: {o} -> {n}")
    if last == "allocation":
        if raw.kind is Kind.ADDED and ctx.stage == "done":
            return Hit("design.other", generic_summary(raw, "Allocation"))
        return Hit("design.allocation_changed", generic_summary(raw, "Allocation"))
    if last == "masking":
        return Hit("design.masking_changed", generic_summary(raw, "Masking"))
    if last in ("interventionModel", "studyType", "observationalModel"):
        if ctx.stage == "pre" or raw.kind is Kind.ADDED:
            return Hit("design.model_changed_pre_recruitment", generic_summary(raw))
        return Hit("design.model_changed", generic_summary(raw))
    if last == "whoMasked[]":
        return Hit("design.other", f"Masked party {raw.kind}: {_set_member(raw)}")
    return Hit("design.other", generic_summary(raw))


def r_results(raw: RawChange, ctx: Ctx) -> Hit:
    top = raw.part(0)
    if top == "hasResults":
        if bool(raw.new) == bool(raw.old):
            return Hit("results.bookkeeping", generic_summary(raw, "Has results"))
        if raw.new and not raw.old:
            d = ctx.results_post_date
            return Hit("results.first_posted", f"Results first posted {d}" if d else "Results first posted")
        return Hit("results.withdrawn", f"Results withdrawn (hasResults {raw.old} -> {raw.new})")
    if top == "resultsSection":
        s = f"Results {raw.part(1) or top} {raw.kind}"
        if raw.kind is Kind.REMOVED:
            if ctx.stage == "done":
                return Hit("results.removed_after_completion", s)
            return Hit("results.removed", s)
        if raw.kind is Kind.ADDED:
            return Hit("results.added", s)
        if raw.part(1) == "adverseEventsModule":
            o = raw.old.get("seriousEvents") if isinstance(raw.old, dict) else None
            n = raw.new.get("seriousEvents") if isinstance(raw.new, dict) else None
            if isinstance(o, list) and len(o) > (len(n) if isinstance(n, list) else 0):
                return Hit("results.sae_removed",
                           f"Serious adverse event rows removed from results: {len(o)} -> {len(n) if isinstance(n, list) else 0}")
        return Hit("results.updated", s.replace(" changed", " updated"))
    fld = raw.last
    if fld == "resultsFirstPostDateStruct":
        if raw.kind is Kind.ADDED:
            d = raw.new.get("date") if isinstance(raw.new, dict) else raw.new
            if ctx.has_results_flip:
                # hasResults false -> true is the milestone; this date is its bookkeeping.
                return Hit("results.bookkeeping", f"Results first post date: {d}")
            return Hit("results.first_posted", f"Results first posted {d}")
        return Hit("results.bookkeeping", generic_summary(raw, "Results first post date"))
    if fld.startswith("disp") and raw.kind is Kind.ADDED:
        return Hit("results.certificate_of_delay",
                   generic_summary(raw, "Certificate of delay " + field_label(fld).lower()))
    return Hit("results.bookkeeping", generic_summary(raw))


def r_documents(raw: RawChange, ctx: Ctx) -> Hit:
    it = _item(raw)
    name = (it.get("label") or it.get("filename")) if isinstance(it, dict) else None
    if raw.parts[-1] == "largeDocs[]":
        if raw.kind is Kind.ADDED:
            return Hit("documents.added", f"Document added: {name} ({_get(raw.new, 'filename')})")
        if raw.kind is Kind.REMOVED:
            return Hit("documents.removed", f"Document removed: {name} ({_get(raw.old, 'filename')})")
    return Hit("documents.changed", generic_summary(raw, f"Document {name} {field_label(raw.last).lower()}"))


def r_sponsor(raw: RawChange, ctx: Ctx) -> Hit:
    fld = raw.part(2)
    sub = "" if raw.last == fld else " " + field_label(raw.last).lower()
    if fld == "responsibleParty":
        return Hit("sponsor.responsible_party", generic_summary(raw, "Responsible party" + sub))
    if raw.parts[-1] == "collaborators[]":
        if raw.kind is Kind.RENAMED:
            return Hit("sponsor.changed", f"Collaborator renamed: {raw.old} -> {raw.new}")
        item = _set_member(raw)
        name = item.get("name") if isinstance(item, dict) else item
        return Hit("sponsor.changed", f"Collaborator {raw.kind}: {name}")
    if fld == "leadSponsor":
        return Hit("sponsor.changed", generic_summary(raw, "Lead sponsor" + sub))
    return Hit("sponsor.changed", generic_summary(raw))


def _site(it: Any) -> str:
    if not isinstance(it, dict):
        return str(it)
    return ", ".join(str(it.get(k)) for k in ("facility", "city", "country") if it.get(k))


def r_locations(raw: RawChange, ctx: Ctx) -> Hit:
    if raw.parts[-1] == "locations[]":
        if raw.kind is Kind.ADDED:
            return Hit("locations.site_added", f"Site added: {trunc(_site(raw.new))}")
        if raw.kind is Kind.REMOVED:
            return Hit("locations.site_removed", f"Site removed: {trunc(_site(raw.old))}")
        if raw.kind is Kind.RENAMED:
            return Hit("locations.site_details",
                       f"Site renamed: {trunc(_site(raw.item_old), 60)} -> {trunc(_site(raw.item_new), 60)}")
    it = _item(raw)
    facility = it.get("facility") if isinstance(it, dict) else "?"
    if "contacts[]" in raw.parts:
        return Hit("locations.site_details", f"Site {trunc(facility, 60)}: contact {raw.kind}")
    return Hit("locations.site_details",
               generic_summary(raw, f"Site {trunc(facility, 60)} {field_label(raw.last).lower()}"))


def r_contacts(raw: RawChange, ctx: Ctx) -> Hit:
    lst = raw.part(2)
    word = {"centralContacts": "Central contact", "overallOfficials": "Overall official"}.get(lst, field_label(lst))
    if raw.parts[-1].endswith("[]") and raw.kind in (Kind.ADDED, Kind.REMOVED):
        item = _set_member(raw)
        name = item.get("name") if isinstance(item, dict) else None
        return Hit("contacts.churn", f"{word} {raw.kind}: {name}")
    return Hit("contacts.churn", generic_summary(raw, word + " " + field_label(raw.last).lower()))


def r_references(raw: RawChange, category: Category) -> Hit:
    it = _item(raw)
    citation = trunc(it.get("citation") if isinstance(it, dict) else raw.new or raw.old, 80)
    pmid = f"PMID {it.get('pmid')}: " if isinstance(it, dict) and it.get("pmid") else ""
    if raw.parts[-1] == "references[]" and raw.kind in (Kind.ADDED, Kind.REMOVED):
        s = f"Reference {raw.kind}: {pmid}{citation}"
    else:
        s = generic_summary(raw, f"Reference {field_label(raw.last).lower()}")
    return Hit("references.derived" if category is Category.ADMIN else "references.changed", s)


def r_conditions(raw: RawChange, ctx: Ctx) -> Hit:
    lst = raw.part(2)
    if raw.parts[-1].endswith("[]"):
        noun = field_label(lst)
        s = f"{noun[:-1] if lst.endswith('s') else noun} {raw.kind}: {trunc(_set_member(raw))}"
    else:
        s = generic_summary(raw)
    return Hit("conditions.keywords" if lst == "keywords" else "conditions.changed", s)


def r_identification(raw: RawChange, ctx: Ctx) -> Hit:
    fld = raw.part(2)
    if fld in ("briefTitle", "officialTitle", "acronym"):
        return Hit("identification.title", generic_summary(raw, _LABELS.get(fld)))
    return Hit("identification.ids", generic_summary(raw))


def r_oversight(raw: RawChange, ctx: Ctx) -> Hit:
    return Hit("oversight.changed", generic_summary(raw))


def r_description(raw: RawChange, ctx: Ctx) -> Hit:
    return Hit("description.changed", generic_summary(raw))


def r_ipd(raw: RawChange, ctx: Ctx) -> Hit:
    return Hit("ipd.changed", generic_summary(raw))


def r_admin(raw: RawChange, ctx: Ctx) -> Hit:
    top = raw.part(0)
    if top == "derivedSection":
        return Hit("admin.derived", f"Derived data {raw.last} {raw.kind}")
    if top == "annotationSection":
        return Hit("admin.bookkeeping", f"Annotation section {raw.kind}")
    return Hit("admin.bookkeeping", generic_summary(raw))


# Modules whose loss hides what matters most (the status and every date, the arms, the
# outcomes, who may enrol, the design): major. Any other module lost: minor, still flagged.
KEY_MODULES = frozenset({"statusModule", "designModule", "armsInterventionsModule",
                         "outcomesModule", "eligibilityModule"})


def _shape(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, list):
        return "a list" if v else "an empty list"
    if isinstance(v, dict):
        return "an object" if v else "an empty object"
    if isinstance(v, str):
        return "text"
    if isinstance(v, bool):
        return "true/false"
    return "a number"


def _field_names(module: Any) -> str:
    """``11 fields gone (overallStatus, startDateStruct, …)``: the names, cut at a name."""
    keys = [str(k) for k in module] if isinstance(module, dict) else []
    if not keys:
        return "no fields"
    shown: list[str] = []
    for key in keys:
        if sum(len(k) + 2 for k in shown) + len(key) > 110:
            shown.append("…")
            break
        shown.append(key)
    return f"{len(keys)} field{'' if len(keys) == 1 else 's'} gone ({', '.join(shown)})"


def r_module(raw: RawChange, ctx: Ctx) -> Hit:
    """A protocol module that disappeared, or is no longer (or again) an object."""
    mod = raw.part(1)
    label = field_label(mod)
    if isinstance(raw.new, dict):
        return Hit("module.restored", f"{label} is an object again (was {_shape(raw.old)}): "
                   f"{len(raw.new)} field{'' if len(raw.new) == 1 else 's'}")
    lost = "module.lost" if mod in KEY_MODULES else "module.lost.other"
    if raw.kind is Kind.REMOVED:
        return Hit(lost, f"{label} removed: {_field_names(raw.old)}")
    was = "" if isinstance(raw.old, dict) or raw.old is None and raw.kind is Kind.ADDED else f" (was {_shape(raw.old)})"
    return Hit(lost, f"{label} is now {_shape(raw.new)}{was}: {_field_names(raw.old)}")


def _references_elsewhere(raw: RawChange, ctx: Ctx) -> Hit:
    return r_references(raw, Category.REFERENCES)


HANDLERS: dict[Category, Callable[[RawChange, Ctx], Hit]] = {
    Category.STATUS: r_status,
    Category.DATES: r_dates,
    Category.ENROLLMENT: r_enrollment,
    Category.ARMS: r_arms,
    Category.INTERVENTIONS: r_interventions,
    Category.OUTCOMES: r_outcomes,
    Category.ELIGIBILITY: r_eligibility,
    Category.DESIGN: r_design,
    Category.RESULTS: r_results,
    Category.DOCUMENTS: r_documents,
    Category.SPONSOR: r_sponsor,
    Category.OVERSIGHT: r_oversight,
    Category.CONDITIONS: r_conditions,
    Category.DESCRIPTION: r_description,
    Category.IDENTIFICATION: r_identification,
    Category.CONTACTS: r_contacts,
    Category.LOCATIONS: r_locations,
    Category.REFERENCES: _references_elsewhere,
    Category.IPD: r_ipd,
    Category.ADMIN: r_admin,
}

# Categories whose rules judge formatting-only text edits themselves: outcomes (so a
# reconciliation edit is tagged), and dates/enrollment (their values are structs).
_OWN_TEXT_EDITS = {Category.OUTCOMES, Category.DATES, Category.ENROLLMENT}
