"""Category, severity, rule, summary and milestone of each structural change.

Severity is review priority and is decided by small, named rules that weigh
WHAT changed, BY HOW MUCH and WHEN in the trial's life (the FROM version's
``overallStatus``, reduced to a stage):

    pre         NOT_YET_RECRUITING, WITHDRAWN
    recruiting  RECRUITING, ENROLLING_BY_INVITATION (and UNKNOWN / missing / other)
    late        ACTIVE_NOT_RECRUITING, SUSPENDED
    done        COMPLETED, TERMINATED

Every Change carries ``rule``: the id of the rule that set its severity.  The rule ids
are listed in ``RULES`` (id -> one-line description).

Thresholds (and why):
  * date slip of primary completion / completion: major when >= 11 months late in the
    trial (late/done) or >= 23 months while pre/recruiting ("about a year" / "about two
    years"); month-precise dates are compared at month precision.
  * enrollment: to zero is critical; a reduction of >= 30 % once recruiting has started
    is major (a third fewer participants than planned materially changes power and
    usually signals recruitment failure or truncation); a pre-recruitment reduction is
    minor (nobody is enrolled yet, the plan is being finalised).
  * arm/intervention descriptions: a change in the numbers (doses, schedules, durations)
    is a dose/regimen change (major); otherwise wording (minor).
  * eligibility criteria once recruiting: a change to numbers or to more than a few
    words (> 3 % of the text's words, or > 10 words) shifts the population (major);
    smaller edits are wording (minor).  Before recruitment: minor.
  * outcome measure wording: token Jaccard >= 0.75 after dropping stop words and unit
    words (percentage/number/rate...) and the same numbers = same measure (wording);
    otherwise the measure is redefined.
  * results reconciliation: outcome edits in the version where results are first
    posted (hasResults false->true, or resultsFirstPostDateStruct appears) get
    ``context="results_reconciliation"`` and are lowered (primary timeFrame / secondary
    redefinition -> minor, wording -> admin), unless the primary measure itself is
    redefined, added or removed.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Callable

from regsync.diff import Change, RawChange, norm_text, token_similarity

# --------------------------------------------------------------------------- rules

RULES: dict[str, str] = {
    # status
    "status.progression": "routine forward status progression (milestone)",
    "status.stopped.with_reason": "moved to TERMINATED/SUSPENDED/WITHDRAWN with a real whyStopped",
    "status.stopped.no_reason": "moved to TERMINATED/SUSPENDED/WITHDRAWN without a real whyStopped",
    "status.resumed": "resumed from SUSPENDED",
    "status.reopened": "recruitment reopened (backwards, e.g. ACTIVE_NOT_RECRUITING -> RECRUITING)",
    "status.reopened_after_end": "a COMPLETED/TERMINATED/WITHDRAWN trial changed to an open status",
    "status.unknown": "registry marked status UNKNOWN (not verified for 2 years)",
    "status.other": "other status change (expanded access, lastKnownStatus)",
    "status.why_stopped": "whyStopped added or edited",
    "status.why_stopped.removed": "whyStopped removed while the trial stays stopped",
    "status.expanded_access": "expanded access info changed",
    # dates
    "dates.became_actual": "a date became ACTUAL (milestone reached)",
    "dates.actual_corrected": "an ACTUAL date's value corrected",
    "dates.actual_reverted": "an ACTUAL date went back to ESTIMATED",
    "dates.slip.late_large": "(primary) completion slipped >= ~1 year late in the trial",
    "dates.slip.early_very_large": "(primary) completion slipped >= ~2 years before/while recruiting",
    "dates.slip.moderate": "(primary) completion moved later, below the major thresholds",
    "dates.earlier": "(primary) completion estimate moved earlier",
    "dates.start.moved": "start date estimate moved",
    "dates.added": "a date struct added",
    "dates.removed": "a date struct removed",
    # enrollment
    "enrollment.zero": "enrollment cut to zero",
    "enrollment.reduction.large": "enrollment reduced >= 30% once recruiting",
    "enrollment.reduction.pre_recruitment": "enrollment reduced before recruitment",
    "enrollment.change.small": "small enrollment change (< 30% down, or any increase)",
    "enrollment.finalized": "enrollment became ACTUAL",
    "enrollment.added": "enrollment first given",
    "enrollment.removed": "enrollment removed",
    # arms / interventions
    "arms.added": "arm added",
    "arms.removed": "arm removed",
    "arms.renamed": "arm relabelled (content unchanged)",
    "arms.type_changed": "arm type changed (e.g. comparator kind)",
    "arms.interventions_changed": "interventions given in an arm changed",
    "arms.dose_changed": "arm description changed in its numbers (dose/schedule)",
    "arms.wording": "arm description wording",
    "interventions.added": "intervention added",
    "interventions.removed": "intervention removed",
    "interventions.renamed": "intervention renamed (content unchanged)",
    "interventions.dose_changed": "intervention description changed in its numbers (dose/schedule)",
    "interventions.wording": "intervention description wording",
    "interventions.arm_assignment": "arms an intervention is given in changed",
    "interventions.other_names": "intervention other names changed",
    # outcomes
    "outcome.primary.added": "primary outcome added",
    "outcome.primary.removed": "primary outcome removed",
    "outcome.primary.redefined": "primary outcome measure substantively changed",
    "outcome.primary.timeframe_changed": "primary outcome time frame changed",
    "outcome.primary.timeframe_added": "primary outcome time frame given where there was none",
    "outcome.primary.demoted": "primary outcome moved to secondary/other",
    "outcome.primary.promoted": "secondary/other outcome moved to primary",
    "outcome.moved": "outcome moved between secondary and other",
    "outcome.removed_after_completion": "an outcome removed after completion/termination",
    "outcome.secondary.removed": "secondary/other outcome removed while the trial is running",
    "outcome.secondary.removed_pre_recruitment": "secondary/other outcome removed before recruitment",
    "outcome.secondary.added": "secondary/other outcome added before completion",
    "outcome.secondary.added_after_completion": "secondary/other outcome added after completion",
    "outcome.secondary.redefined": "secondary/other outcome measure substantively changed once running",
    "outcome.secondary.redefined_pre_recruitment": "secondary/other outcome measure changed before recruitment",
    "outcome.wording": "outcome wording that does not change what is measured",
    "outcome.timeframe_changed": "secondary/other outcome time frame changed",
    "outcome.description": "outcome description changed",
    "outcome.reconciliation": "outcome edit made with the first results posting (lowered)",
    "outcome.bookkeeping": "registry review annotations on outcomes",
    # eligibility
    "eligibility.population_shift": "eligibility changed in a way that shifts the population once recruiting",
    "eligibility.wording": "minor eligibility wording",
    "eligibility.pre_recruitment": "eligibility changed before recruitment",
    # design
    "design.phase_changed": "phase changed",
    "design.allocation_changed": "allocation changed",
    "design.masking_changed": "masking changed",
    "design.model_changed": "intervention/observational model or study type changed once running",
    "design.model_changed_pre_recruitment": "design model changed before recruitment",
    "design.other": "other design fields (who is masked, purpose, design text)",
    # results
    "results.first_posted": "results first posted (milestone)",
    "results.withdrawn": "hasResults true -> false",
    "results.removed_after_completion": "a results module removed after completion",
    "results.removed": "a results module removed",
    "results.sae_removed": "serious adverse event rows removed from posted results",
    "results.added": "a results module added",
    "results.updated": "posted results updated",
    "results.certificate_of_delay": "certificate of delay filed (results deadline extended)",
    "results.bookkeeping": "results submission/QC dates",
    # other modules
    "documents.added": "study document added",
    "documents.removed": "study document removed",
    "documents.changed": "study document replaced or relabelled",
    "sponsor.changed": "lead sponsor or collaborators changed",
    "sponsor.responsible_party": "responsible party details",
    "oversight.changed": "oversight (DMC, FDA regulation) changed",
    "conditions.changed": "conditions changed",
    "conditions.keywords": "keywords changed (search terms)",
    "description.changed": "brief summary / detailed description changed",
    "identification.title": "title or acronym changed",
    "identification.ids": "identifiers / organisation bookkeeping",
    "contacts.churn": "central contacts / officials changed",
    "locations.site_added": "site added",
    "locations.site_removed": "site removed",
    "locations.site_details": "a site's details (status, contacts, geo, address, name spelling)",
    "references.changed": "reference added/removed/changed",
    "references.derived": "registry-added DERIVED reference",
    "ipd.changed": "IPD sharing statement changed",
    "admin.bookkeeping": "registry bookkeeping (submit/post/verified dates, misc)",
    "admin.derived": "derivedSection (computed by the registry)",
    "text.whitespace": "whitespace-only text edit",
    "text.formatting": "formatting-only edit (case, punctuation, markup)",
}

# --------------------------------------------------------------------------- context

STAGES = {
    "NOT_YET_RECRUITING": "pre", "WITHDRAWN": "pre",
    "RECRUITING": "recruiting", "ENROLLING_BY_INVITATION": "recruiting",
    "ACTIVE_NOT_RECRUITING": "late", "SUSPENDED": "late",
    "COMPLETED": "done", "TERMINATED": "done",
}
STOPPED = {"TERMINATED", "SUSPENDED", "WITHDRAWN"}
PROGRESSION = ["NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED"]
_PROG_RANK = {s: i for i, s in enumerate(PROGRESSION)}
_PROG_RANK["ENROLLING_BY_INVITATION"] = 1

PLACEHOLDER_REASONS = {
    "", "na", "n a", "n/a", "none", "other", "unknown", "tbd", "see above", "see below",
    "not applicable", "no reason", "not provided", "various", "other reasons", "misc",
}


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


class Ctx:
    def __init__(self, old: dict, new: dict) -> None:
        self.old, self.new = old, new
        self.from_status = _get(old, "protocolSection", "statusModule", "overallStatus")
        self.to_status = _get(new, "protocolSection", "statusModule", "overallStatus")
        self.stage = STAGES.get(self.from_status or "", "recruiting")
        self.why_stopped = _get(new, "protocolSection", "statusModule", "whyStopped")
        old_posted = bool(old.get("hasResults")) or _get(
            old, "protocolSection", "statusModule", "resultsFirstPostDateStruct") is not None
        self.results_first = (not old.get("hasResults") and bool(new.get("hasResults"))) or (
            _get(old, "protocolSection", "statusModule", "resultsFirstPostDateStruct") is None
            and _get(new, "protocolSection", "statusModule", "resultsFirstPostDateStruct") is not None)
        self.old_posted = old_posted
        self.results_post_date = _get(new, "protocolSection", "statusModule",
                                      "resultsFirstPostDateStruct", "date")


def real_reason(s: Any) -> bool:
    """A whyStopped that explains something: not empty, not a placeholder, >= 2 words."""
    if not isinstance(s, str):
        return False
    n = norm_text(s)
    if n in PLACEHOLDER_REASONS:
        return False
    return len(n.split()) >= 2


# --------------------------------------------------------------------------- text helpers

def trunc(v: Any, n: int = 100) -> str:
    if v is None:
        return "(none)"
    s = v if isinstance(v, str) else str(v)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def text_edit_kind(old: Any, new: Any) -> str | None:
    """'whitespace' | 'formatting' | None (substantive) for a str -> str change."""
    if not isinstance(old, str) or not isinstance(new, str):
        return None
    if old.split() == new.split():
        return "whitespace"
    if norm_text(old) == norm_text(new):
        return "formatting"
    return None


_NUM = re.compile(r"\d+(?:[.,]\d+)?")


def numbers(s: Any) -> list[str]:
    if not isinstance(s, str):
        return []
    return sorted(_NUM.findall(s.replace("\u00d7", "x")))


_UNIT_WORDS = frozenset({"percentage", "percent", "number", "proportion", "rate", "count",
                         "participants", "patients", "subjects"})


def same_measure(a: Any, b: Any) -> bool:
    """Outcome wording that does not change what is measured."""
    if norm_text(a) == norm_text(b):
        return True
    if numbers(a) != numbers(b):
        return False
    return token_similarity(a, b, _UNIT_WORDS) >= 0.75


def words_changed(a: str, b: str) -> int:
    import difflib

    aw, bw = a.split(), b.split()
    sm = difflib.SequenceMatcher(None, aw, bw, autojunk=False)
    n = 0
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            n += max(i2 - i1, j2 - j1)
    return n


# --------------------------------------------------------------------------- dates

_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def parse_date(s: Any) -> tuple[int, int | None, int | None] | None:
    if not isinstance(s, str):
        return None
    m = _DATE.match(s.strip())
    if not m:
        return None
    y, mo, d = m.groups()
    return int(y), int(mo) if mo else None, int(d) if d else None


def date_delta(a: Any, b: Any) -> tuple[int | None, int | None]:
    """(delta_days, delta_months) from a to b, positive = later.

    delta_days when both are day-precise; otherwise delta_months compared at the coarser
    precision (a year-only date counts as years*12 months).
    """
    pa, pb = parse_date(a), parse_date(b)
    if not pa or not pb:
        return None, None
    if pa[2] is not None and pb[2] is not None:
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


# --------------------------------------------------------------------------- categories

_SM = "protocolSection.statusModule."
_STATUS_FIELDS = {"overallStatus", "whyStopped", "lastKnownStatus", "expandedAccessInfo"}
_DATE_FIELDS = {"startDateStruct": "Start date",
                "primaryCompletionDateStruct": "Primary completion date",
                "completionDateStruct": "Completion date"}
_RESULTS_STATUS = {"resultsFirstSubmitDate", "resultsFirstSubmitQcDate",
                   "resultsFirstPostDateStruct", "dispFirstSubmitDate",
                   "dispFirstSubmitQcDate", "dispFirstPostDateStruct"}
_MODULE_CATEGORY = {
    "identificationModule": "identification",
    "sponsorCollaboratorsModule": "sponsor",
    "oversightModule": "oversight",
    "descriptionModule": "description",
    "conditionsModule": "conditions",
    "eligibilityModule": "eligibility",
    "outcomesModule": "outcomes",
    "referencesModule": "references",
    "ipdSharingStatementModule": "ipd",
}


def category_of(pattern: str, raw: RawChange | None = None) -> str:
    parts = pattern.split(".")
    top = parts[0]
    if top in ("hasResults", "resultsSection"):
        return "results"
    if top == "documentSection":
        return "documents"
    if top != "protocolSection" or len(parts) < 2:
        return "admin"
    mod = parts[1]
    fld = parts[2] if len(parts) > 2 else ""
    if mod == "statusModule":
        if fld in _STATUS_FIELDS:
            return "status"
        if fld in _DATE_FIELDS:
            return "dates"
        if fld in _RESULTS_STATUS:
            return "results"
        return "admin"
    if mod == "designModule":
        return "enrollment" if fld == "enrollmentInfo" else "design"
    if mod == "armsInterventionsModule":
        return "arms" if fld.startswith("armGroups") else "interventions"
    if mod == "contactsLocationsModule":
        return "locations" if fld.startswith("locations") else "contacts"
    if mod == "referencesModule" and raw is not None:
        item = raw.item_new if raw.item_new is not None else raw.item_old
        if isinstance(item, dict) and item.get("type") == "DERIVED":
            return "admin"
    if mod == "miscInfoModule":
        return "admin"
    return _MODULE_CATEGORY.get(mod, "admin")


# --------------------------------------------------------------------------- results type

class R:
    """Mutable result of a rule: severity, rule id, summary and extras."""

    __slots__ = ("severity", "rule", "summary", "milestone", "context", "delta_days",
                 "delta_months")

    def __init__(self, severity, rule, summary, milestone=False, context=None,
                 delta_days=None, delta_months=None):
        self.severity, self.rule, self.summary = severity, rule, summary
        self.milestone, self.context = milestone, context
        self.delta_days, self.delta_months = delta_days, delta_months


_LABELS = {
    "briefSummary": "Brief summary", "detailedDescription": "Detailed description",
    "briefTitle": "Brief title", "officialTitle": "Official title", "acronym": "Acronym",
    "eligibilityCriteria": "Eligibility criteria", "whyStopped": "Why stopped",
    "timeFrame": "time frame", "description": "description", "measure": "measure",
    "minimumAge": "Minimum age", "maximumAge": "Maximum age", "sex": "Sex",
    "healthyVolunteers": "Healthy volunteers", "stdAges": "Age groups",
}


def field_label(pattern: str) -> str:
    last = pattern.rsplit(".", 1)[-1].replace("[]", "")
    if last in _LABELS:
        return _LABELS[last]
    s = re.sub(r"(?<!^)([A-Z])", r" \1", last).lower()
    return s[:1].upper() + s[1:]


def _fmt_val(v: Any) -> str:
    if isinstance(v, (dict, list)):
        import orjson

        return trunc(orjson.dumps(v).decode(), 60)
    return trunc(v, 60)


def generic_summary(raw: RawChange, label: str | None = None) -> str:
    label = label or field_label(raw.pattern)
    if raw.kind == "added":
        return f"{label} added: {_fmt_val(raw.new)}"
    if raw.kind == "removed":
        return f"{label} removed: {_fmt_val(raw.old)}"
    return f"{label}: {_fmt_val(raw.old)} -> {_fmt_val(raw.new)}"


def _set_member(raw: RawChange) -> Any:
    return raw.new if raw.kind == "added" else raw.old


# --------------------------------------------------------------------------- rule sets

def r_status(raw: RawChange, ctx: Ctx) -> R:
    fld = raw.pattern.split(".")[2]
    if fld == "overallStatus":
        o, n = raw.old, raw.new
        s = f"Overall status: {o} -> {n}"
        if n in STOPPED:
            if real_reason(ctx.why_stopped):
                return R("major", "status.stopped.with_reason",
                         f"{s} (why stopped: {trunc(ctx.why_stopped, 60)})")
            return R("critical", "status.stopped.no_reason", f"{s} (no reason given)")
        if o in ("COMPLETED", "TERMINATED", "WITHDRAWN") and n in ("RECRUITING", "NOT_YET_RECRUITING",
                                                                    "ENROLLING_BY_INVITATION",
                                                                    "ACTIVE_NOT_RECRUITING"):
            return R("major", "status.reopened_after_end", s)
        if o == "SUSPENDED":
            return R("minor", "status.resumed", s, milestone=True)
        if n == "UNKNOWN":
            return R("minor", "status.unknown", s)
        if o in _PROG_RANK and n in _PROG_RANK:
            if _PROG_RANK[n] > _PROG_RANK[o]:
                return R("minor", "status.progression", s, milestone=True)
            return R("minor", "status.reopened", s)
        return R("minor", "status.other", s)
    if fld == "whyStopped":
        if raw.kind == "removed" and ctx.to_status in STOPPED:
            return R("major", "status.why_stopped.removed", f"Why stopped removed: {trunc(raw.old)}")
        if raw.kind == "added":
            return R("minor", "status.why_stopped", f"Why stopped: {trunc(raw.new)}")
        return R("minor", "status.why_stopped", generic_summary(raw, "Why stopped"))
    if fld == "expandedAccessInfo":
        ov = raw.old.get("hasExpandedAccess") if isinstance(raw.old, dict) else None
        nv = raw.new.get("hasExpandedAccess") if isinstance(raw.new, dict) else None
        if bool(ov) == bool(nv):
            return R("admin", "status.expanded_access", generic_summary(raw, "Expanded access info"))
        return R("minor", "status.expanded_access", f"Expanded access: {bool(ov)} -> {bool(nv)}")
    return R("minor", "status.other", generic_summary(raw))


def r_dates(raw: RawChange, ctx: Ctx) -> R:
    fld = raw.pattern.split(".")[2]
    label = _DATE_FIELDS.get(fld, field_label(raw.pattern))
    o = raw.old if isinstance(raw.old, dict) else {}
    n = raw.new if isinstance(raw.new, dict) else {}
    od, nd = o.get("date"), n.get("date")
    ot, nt = o.get("type"), n.get("type")
    if raw.kind == "added":
        actual = nt == "ACTUAL"
        return R("minor", "dates.became_actual" if actual else "dates.added",
                 f"{label} added: {nd} ({nt or 'no type'})", milestone=actual)
    if raw.kind == "removed":
        return R("minor", "dates.removed", f"{label} removed (was {od} {ot or ''})".replace(" )", ")"))
    dd, dm = date_delta(od, nd)
    months = approx_months(dd, dm)
    if dd is not None:
        dtxt = f"{dd:+d} days"
    elif dm is not None:
        dtxt = f"{dm:+d} months"
    else:
        dtxt = ""
    if ot == nt or (ot is None and nt is None):
        ttxt = nt or "no type"
    else:
        ttxt = f"{ot or 'no type'} -> {nt or 'no type'}"
    vals = f"{od} -> {nd}" if od != nd else f"{nd}"
    extra = ", ".join(x for x in (ttxt, dtxt if od != nd else "") if x)
    summary = f"{label}: {vals} ({extra})"
    kw = dict(delta_days=dd if od != nd else None, delta_months=dm if od != nd else None)
    if nt == "ACTUAL" and ot != "ACTUAL":
        return R("minor", "dates.became_actual", summary, milestone=True, **kw)
    if ot == "ACTUAL" and nt == "ACTUAL":
        return R("minor", "dates.actual_corrected", summary, **kw)
    if ot == "ACTUAL" and nt != "ACTUAL":
        return R("minor", "dates.actual_reverted", summary, **kw)
    if fld == "startDateStruct":
        return R("minor", "dates.start.moved", summary, **kw)
    if months is None:
        return R("minor", "dates.slip.moderate", summary, **kw)
    if months < 0:
        return R("minor", "dates.earlier", summary, **kw)
    if ctx.stage in ("late", "done") and months >= 11:
        return R("major", "dates.slip.late_large", summary, **kw)
    if months >= 23:
        return R("major", "dates.slip.early_very_large", summary, **kw)
    return R("minor", "dates.slip.moderate", summary, **kw)


def r_enrollment(raw: RawChange, ctx: Ctx) -> R:
    o = raw.old if isinstance(raw.old, dict) else {}
    n = raw.new if isinstance(raw.new, dict) else {}
    oc, nc = o.get("count"), n.get("count")
    ot, nt = o.get("type"), n.get("type")
    ttxt = (nt or "no type") if ot == nt else f"{ot or 'no type'} -> {nt or 'no type'}"
    if raw.kind == "added" or not o:
        return R("minor", "enrollment.added", f"Enrollment: {nc} ({ttxt})")
    if raw.kind == "removed" or not n:
        return R("minor", "enrollment.removed", f"Enrollment removed (was {oc} {ot or ''})".replace(" )", ")"))
    pct = None
    if isinstance(oc, (int, float)) and isinstance(nc, (int, float)) and oc:
        pct = (nc - oc) / oc * 100
    ptxt = f", {pct:+.0f}%" if pct is not None and oc != nc else ""
    summary = f"Enrollment: {oc} -> {nc} ({ttxt}{ptxt})" if oc != nc else f"Enrollment: {nc} ({ttxt})"
    if nc == 0 and oc:
        return R("critical", "enrollment.zero", summary)
    if pct is not None and pct <= -30:
        if ctx.stage == "pre":
            return R("minor", "enrollment.reduction.pre_recruitment", summary)
        return R("major", "enrollment.reduction.large", summary)
    if oc == nc and nt == "ACTUAL" and ot != "ACTUAL":
        return R("minor", "enrollment.finalized", summary)
    return R("minor", "enrollment.change.small", summary)


def _item_key(raw: RawChange, key: str) -> str:
    """A key field of the item a field change belongs to (from the item, else the path)."""
    for it in (raw.item_new, raw.item_old):
        if isinstance(it, dict) and it.get(key):
            return str(it[key])
    m = re.search(r"\[(?:[^\]\\]|\\.)*?" + key + r"=((?:[^,\]\\#]|\\.)*)", raw.path)
    return m.group(1).replace("\\", "") if m else "?"


def _item_label_arm(it: Any) -> str:
    if isinstance(it, dict):
        t = it.get("type")
        return f"{it.get('label')}" + (f" ({t})" if t else "")
    return str(it)


def _item_label_int(it: Any) -> str:
    if isinstance(it, dict):
        return f"{it.get('name')} ({it.get('type')})"
    return str(it)


def _text_rule(raw: RawChange, major_rule: str, minor_rule: str, label: str) -> R:
    if numbers(raw.old) != numbers(raw.new) and raw.kind == "changed":
        return R("major", major_rule, f"{label} changed (numbers: {trunc(raw.old, 45)} -> {trunc(raw.new, 45)})")
    return R("minor", minor_rule, generic_summary(raw, label))


def r_arms(raw: RawChange, ctx: Ctx) -> R:
    sub = raw.pattern.split("armGroups[]", 1)[1]
    if sub == "":
        if raw.kind == "added":
            return R("major", "arms.added", f"Arm added: {_item_label_arm(raw.new)}")
        if raw.kind == "removed":
            return R("major", "arms.removed", f"Arm removed: {_item_label_arm(raw.old)}")
        if raw.kind == "renamed":
            return R("minor", "arms.renamed", f"Arm renamed: {raw.old} -> {raw.new}")
    arm = _item_key(raw, "label")
    if sub == ".type":
        if raw.kind != "changed":
            return R("minor", "arms.wording", generic_summary(raw, f"Arm {arm} type"))
        return R("major", "arms.type_changed", f"Arm {arm} type: {raw.old} -> {raw.new}")
    if sub.startswith(".interventionNames"):
        verb = "added to" if raw.kind == "added" else "removed from"
        return R("major", "arms.interventions_changed",
                 f"Intervention {trunc(_set_member(raw), 60)} {verb} arm {arm}")
    if sub == ".description":
        r = _text_rule(raw, "arms.dose_changed", "arms.wording", f"Arm {arm} description")
        return r
    return R("minor", "arms.wording", generic_summary(raw, f"Arm {arm} {field_label(raw.pattern).lower()}"))


def r_interventions(raw: RawChange, ctx: Ctx) -> R:
    if "interventions[]" not in raw.pattern:
        return R("minor", "interventions.wording", generic_summary(raw))
    sub = raw.pattern.split("interventions[]", 1)[1]
    if sub == "":
        if raw.kind == "added":
            return R("major", "interventions.added", f"Intervention added: {_item_label_int(raw.new)}")
        if raw.kind == "removed":
            return R("major", "interventions.removed", f"Intervention removed: {_item_label_int(raw.old)}")
        if raw.kind == "renamed":
            o, n = raw.old, raw.new
            return R("minor", "interventions.renamed",
                     f"Intervention renamed: {o.get('type')}: {o.get('name')} -> {n.get('type')}: {n.get('name')}")
    name = _item_key(raw, "name")
    if sub.startswith(".armGroupLabels"):
        verb = "now given in arm" if raw.kind == "added" else "no longer given in arm"
        return R("major", "interventions.arm_assignment", f"Intervention {name} {verb} {trunc(_set_member(raw), 60)}")
    if sub.startswith(".otherNames"):
        return R("minor", "interventions.other_names", generic_summary(raw, f"Intervention {name} other name"))
    if sub == ".description":
        return _text_rule(raw, "interventions.dose_changed", "interventions.wording",
                          f"Intervention {name} description")
    return R("minor", "interventions.wording", generic_summary(raw, f"Intervention {name} {field_label(raw.pattern).lower()}"))


_LIST_WORD = {"primaryOutcomes": "primary", "secondaryOutcomes": "secondary", "otherOutcomes": "other"}


def r_outcomes(raw: RawChange, ctx: Ctx) -> R:
    parts = raw.pattern.split(".")
    lst = parts[2].replace("[]", "") if len(parts) > 2 else ""
    which = _LIST_WORD.get(lst)
    if which is None:
        return R("admin", "outcome.bookkeeping", generic_summary(raw))
    Which = which.capitalize()
    sub = raw.pattern.split(f"{lst}[]", 1)[1] if f"{lst}[]" in raw.pattern else ""
    primary = which == "primary"
    recon = ctx.results_first
    stage = ctx.stage

    def lowered(r: R, sev: str) -> R:
        if recon:
            r.severity = sev
            r.rule = "outcome.reconciliation"
            r.context = "results_reconciliation"
        return r

    if raw.kind == "moved":
        to = _LIST_WORD.get(raw.info.get("to_list"), "?")
        m = trunc(raw.old.get("measure") if isinstance(raw.old, dict) else raw.old)
        if primary:
            return R("major", "outcome.primary.demoted", f"Primary outcome demoted to {to}: {m}")
        if to == "primary":
            return R("major", "outcome.primary.promoted", f"{Which} outcome promoted to primary: {m}")
        return R("minor", "outcome.moved", f"{Which} outcome moved to {to}: {m}")

    if sub == "":
        item = raw.new if raw.kind == "added" else raw.old
        m = trunc(item.get("measure") if isinstance(item, dict) else item)
        if raw.kind == "added":
            if primary:
                return R("critical", "outcome.primary.added", f"Primary outcome added: {m}")
            if stage == "done":
                return lowered(R("major", "outcome.secondary.added_after_completion",
                                 f"{Which} outcome added after completion: {m}"), "minor")
            return R("minor", "outcome.secondary.added", f"{Which} outcome added: {m}")
        if raw.kind == "removed":
            if primary:
                return R("critical", "outcome.primary.removed", f"Primary outcome removed: {m}")
            if stage == "done":
                return R("critical", "outcome.removed_after_completion", f"{Which} outcome removed after completion: {m}")
            if stage == "pre":
                return R("minor", "outcome.secondary.removed_pre_recruitment", f"{Which} outcome removed: {m}")
            return lowered(R("major", "outcome.secondary.removed", f"{Which} outcome removed: {m}"), "minor")
        if raw.kind == "renamed":
            s = f"{Which} outcome measure: {trunc(raw.old, 60)} -> {trunc(raw.new, 60)}"
            fmt = text_edit_kind(raw.old, raw.new)
            if fmt:
                return lowered(R("admin", f"text.{fmt}", s), "admin")
            if same_measure(raw.old, raw.new):
                return lowered(R("minor", "outcome.wording", s), "admin")
            if primary:
                return R("critical", "outcome.primary.redefined", s)
            if stage == "pre":
                return R("minor", "outcome.secondary.redefined_pre_recruitment", s)
            return lowered(R("major", "outcome.secondary.redefined", s), "minor")
    fld = sub.lstrip(".")
    m = None
    it = raw.item_new if isinstance(raw.item_new, dict) else raw.item_old
    if isinstance(it, dict) and it.get("measure"):
        m = trunc(it.get("measure"), 50)
    label = f"{Which} outcome {field_label(raw.pattern).lower()}" + (f" ({m})" if m else "")
    s = generic_summary(raw, label)
    fmt = text_edit_kind(raw.old, raw.new)
    if fmt:
        return lowered(R("admin", f"text.{fmt}", s), "admin")
    if fld == "timeFrame":
        if primary:
            if raw.kind == "added":
                return lowered(R("major", "outcome.primary.timeframe_added", s), "minor")
            if raw.kind == "changed" and same_measure(raw.old, raw.new):
                return lowered(R("minor", "outcome.wording", s), "admin")
            return lowered(R("critical", "outcome.primary.timeframe_changed", s), "minor")
        if raw.kind == "changed" and same_measure(raw.old, raw.new):
            return lowered(R("minor", "outcome.wording", s), "admin")
        return lowered(R("minor", "outcome.timeframe_changed", s), "admin")
    if fld == "description":
        return lowered(R("minor", "outcome.description", s), "admin")
    return R("admin", "outcome.bookkeeping", s)


def r_eligibility(raw: RawChange, ctx: Ctx) -> R:
    fld = raw.pattern.split(".")[2].replace("[]", "") if raw.pattern.count(".") >= 2 else ""
    label = _LABELS.get(fld, field_label(raw.pattern))
    if fld == "eligibilityCriteria":
        s = f"Eligibility criteria changed ({trunc(raw.old, 40)} -> {trunc(raw.new, 40)})"
        if ctx.stage == "pre":
            return R("minor", "eligibility.pre_recruitment", s)
        if isinstance(raw.old, str) and isinstance(raw.new, str):
            n = words_changed(raw.old, raw.new)
            total = max(len(raw.old.split()), 1)
            if numbers(raw.old) == numbers(raw.new) and n <= 10 and n / total <= 0.03:
                return R("minor", "eligibility.wording", s + f" ({n} words)")
        return R("major", "eligibility.population_shift", s)
    if fld in ("sex", "minimumAge", "maximumAge", "healthyVolunteers", "stdAges", "genderBased"):
        s = generic_summary(raw, label) if fld != "stdAges" else (
            f"Age group {'added' if raw.kind == 'added' else 'removed'}: {_set_member(raw)}")
        if ctx.stage == "pre":
            return R("minor", "eligibility.pre_recruitment", s)
        return R("major", "eligibility.population_shift", s)
    return R("minor", "eligibility.wording", generic_summary(raw, label))


def r_design(raw: RawChange, ctx: Ctx) -> R:
    p = raw.pattern
    last = p.rsplit(".", 1)[-1]
    if last == "phases":
        o = "/".join(raw.old) if isinstance(raw.old, list) else "(none)"
        n = "/".join(raw.new) if isinstance(raw.new, list) else "(none)"
        if raw.kind == "added":
            return R("minor", "design.other", f"Phase given: {n}")
        return R("major", "design.phase_changed", f"Phase: {o} -> {n}")
    if last == "allocation":
        if raw.kind == "added" and ctx.stage == "done":
            return R("minor", "design.other", generic_summary(raw, "Allocation"))
        return R("major", "design.allocation_changed", generic_summary(raw, "Allocation"))
    if last == "masking":
        return R("major", "design.masking_changed", generic_summary(raw, "Masking"))
    if last in ("interventionModel", "studyType", "observationalModel"):
        if ctx.stage == "pre" or raw.kind == "added":
            return R("minor", "design.model_changed_pre_recruitment", generic_summary(raw))
        return R("major", "design.model_changed", generic_summary(raw))
    if last == "whoMasked[]":
        return R("minor", "design.other", f"Masked party {'added' if raw.kind == 'added' else 'removed'}: {_set_member(raw)}")
    return R("minor", "design.other", generic_summary(raw))


def _results_module_summary(raw: RawChange) -> str:
    mod = raw.pattern.split(".")[1] if "." in raw.pattern else raw.pattern
    return f"Results {mod} {raw.kind}"


def r_results(raw: RawChange, ctx: Ctx) -> R:
    p = raw.pattern
    if p == "hasResults":
        if bool(raw.new) == bool(raw.old):
            return R("admin", "results.bookkeeping", generic_summary(raw, "Has results"))
        if raw.new and not raw.old:
            d = ctx.results_post_date
            return R("minor", "results.first_posted",
                     f"Results first posted {d}" if d else "Results first posted", milestone=True)
        return R("major", "results.withdrawn", f"Results withdrawn (hasResults {raw.old} -> {raw.new})")
    if p.startswith("resultsSection"):
        s = _results_module_summary(raw)
        if raw.kind == "removed":
            if ctx.stage == "done" or (ctx.from_status in ("COMPLETED", "TERMINATED")):
                return R("critical", "results.removed_after_completion", s)
            return R("major", "results.removed", s)
        if raw.kind == "added":
            return R("minor", "results.added", s)
        if p == "resultsSection.adverseEventsModule":
            o = raw.old.get("seriousEvents") if isinstance(raw.old, dict) else None
            n = raw.new.get("seriousEvents") if isinstance(raw.new, dict) else None
            if isinstance(o, list) and len(o) > (len(n) if isinstance(n, list) else 0):
                return R("major", "results.sae_removed",
                         f"Serious adverse event rows removed from results: {len(o)} -> {len(n or [])}")
        return R("minor", "results.updated", s.replace(" changed", " updated"))
    fld = p.split(".")[-1]
    if fld == "resultsFirstPostDateStruct":
        if raw.kind == "added":
            d = raw.new.get("date") if isinstance(raw.new, dict) else raw.new
            hr_flip = not ctx.old.get("hasResults") and ctx.new.get("hasResults")
            if hr_flip:
                return R("admin", "results.bookkeeping", f"Results first post date: {d}")
            return R("minor", "results.first_posted", f"Results first posted {d}", milestone=True)
        return R("admin", "results.bookkeeping", generic_summary(raw, "Results first post date"))
    if fld.startswith("disp"):
        if raw.kind == "added":
            return R("minor", "results.certificate_of_delay",
                     generic_summary(raw, "Certificate of delay " + field_label(p).lower()))
        return R("admin", "results.bookkeeping", generic_summary(raw))
    return R("admin", "results.bookkeeping", generic_summary(raw))


def r_documents(raw: RawChange, ctx: Ctx) -> R:
    it = raw.item_new if isinstance(raw.item_new, dict) else raw.item_old
    name = (it or {}).get("label") or (it or {}).get("filename") if isinstance(it, dict) else None
    if raw.pattern.endswith("largeDocs[]"):
        if raw.kind == "added":
            return R("minor", "documents.added", f"Document added: {name} ({raw.new.get('filename')})")
        if raw.kind == "removed":
            return R("minor", "documents.removed", f"Document removed: {name} ({raw.old.get('filename')})")
    return R("minor", "documents.changed", generic_summary(raw, f"Document {name} {field_label(raw.pattern).lower()}"))


def r_sponsor(raw: RawChange, ctx: Ctx) -> R:
    if ".responsibleParty" in raw.pattern:
        return R("admin", "sponsor.responsible_party", generic_summary(raw, "Responsible party " + field_label(raw.pattern).lower()))
    if raw.pattern.endswith("collaborators[]"):
        item = raw.new if raw.kind == "added" else raw.old
        nm = item.get("name") if isinstance(item, dict) else item
        if raw.kind == "renamed":
            return R("minor", "sponsor.changed", f"Collaborator renamed: {raw.old} -> {raw.new}")
        return R("minor", "sponsor.changed", f"Collaborator {raw.kind}: {nm}")
    if ".leadSponsor" in raw.pattern:
        return R("minor", "sponsor.changed", generic_summary(raw, "Lead sponsor " + field_label(raw.pattern).lower()))
    return R("minor", "sponsor.changed", generic_summary(raw))


def r_locations(raw: RawChange, ctx: Ctx) -> R:
    if raw.pattern.endswith("locations[]"):
        def site(it):
            if not isinstance(it, dict):
                return str(it)
            return ", ".join(str(it.get(k)) for k in ("facility", "city", "country") if it.get(k))
        if raw.kind == "added":
            return R("minor", "locations.site_added", f"Site added: {trunc(site(raw.new))}")
        if raw.kind == "removed":
            return R("minor", "locations.site_removed", f"Site removed: {trunc(site(raw.old))}")
        if raw.kind == "renamed":
            return R("admin", "locations.site_details",
                     f"Site renamed: {trunc(site(raw.item_old), 60)} -> {trunc(site(raw.item_new), 60)}")
    it = raw.item_new if isinstance(raw.item_new, dict) else raw.item_old
    fac = it.get("facility") if isinstance(it, dict) else "?"
    if ".contacts" in raw.pattern:
        return R("admin", "locations.site_details", f"Site {trunc(fac, 60)}: contact {raw.kind}")
    return R("admin", "locations.site_details", generic_summary(raw, f"Site {trunc(fac, 60)} {field_label(raw.pattern).lower()}"))


def r_contacts(raw: RawChange, ctx: Ctx) -> R:
    lst = raw.pattern.split(".")[2].replace("[]", "")
    word = {"centralContacts": "Central contact", "overallOfficials": "Overall official"}.get(lst, field_label(lst))
    item = raw.new if raw.kind == "added" else raw.old
    nm = item.get("name") if isinstance(item, dict) else None
    if raw.pattern.endswith("[]") and raw.kind in ("added", "removed"):
        return R("admin", "contacts.churn", f"{word} {raw.kind}: {nm}")
    return R("admin", "contacts.churn", generic_summary(raw, word + " " + field_label(raw.pattern).lower()))


def r_references(raw: RawChange, ctx: Ctx, category: str) -> R:
    it = raw.item_new if isinstance(raw.item_new, dict) else raw.item_old
    cit = trunc(it.get("citation") if isinstance(it, dict) else raw.new or raw.old, 80)
    pm = f"PMID {it.get('pmid')}: " if isinstance(it, dict) and it.get("pmid") else ""
    if raw.pattern.endswith("references[]") and raw.kind in ("added", "removed"):
        s = f"Reference {raw.kind}: {pm}{cit}"
    else:
        s = generic_summary(raw, f"Reference {field_label(raw.pattern).lower()}")
    if category == "admin":
        return R("admin", "references.derived", s)
    return R("minor", "references.changed", s)


def r_conditions(raw: RawChange, ctx: Ctx) -> R:
    lst = raw.pattern.split(".")[2].replace("[]", "")
    if raw.pattern.endswith("[]"):
        s = f"{field_label(lst)[:-1] if lst.endswith('s') else field_label(lst)} {raw.kind}: {trunc(_set_member(raw))}"
    else:
        s = generic_summary(raw)
    if lst == "keywords":
        return R("admin", "conditions.keywords", s)
    return R("minor", "conditions.changed", s)


def r_identification(raw: RawChange, ctx: Ctx) -> R:
    fld = raw.pattern.split(".")[2]
    if fld in ("briefTitle", "officialTitle", "acronym"):
        return R("minor", "identification.title", generic_summary(raw, _LABELS.get(fld)))
    return R("admin", "identification.ids", generic_summary(raw))


def r_simple(rule: str, severity: str = "minor") -> Callable[[RawChange, Ctx], R]:
    def f(raw: RawChange, ctx: Ctx) -> R:
        return R(severity, rule, generic_summary(raw))
    return f


def r_admin(raw: RawChange, ctx: Ctx) -> R:
    if raw.pattern.startswith("derivedSection"):
        return R("admin", "admin.derived", f"Derived data {raw.pattern.split('.')[-1]} {raw.kind}")
    if raw.pattern.startswith("annotationSection"):
        return R("admin", "admin.bookkeeping", f"Annotation section {raw.kind}")
    return R("admin", "admin.bookkeeping", generic_summary(raw))


HANDLERS: dict[str, Callable[[RawChange, Ctx], R]] = {
    "status": r_status,
    "dates": r_dates,
    "enrollment": r_enrollment,
    "arms": r_arms,
    "interventions": r_interventions,
    "outcomes": r_outcomes,
    "eligibility": r_eligibility,
    "design": r_design,
    "results": r_results,
    "documents": r_documents,
    "sponsor": r_sponsor,
    "oversight": r_simple("oversight.changed"),
    "conditions": r_conditions,
    "description": r_simple("description.changed"),
    "identification": r_identification,
    "contacts": r_contacts,
    "locations": r_locations,
    "ipd": r_simple("ipd.changed"),
    "admin": r_admin,
}

# categories whose str->str edits that are whitespace/formatting-only become admin here;
# outcomes handle it themselves (to tag results reconciliation)
_TEXT_GENERIC_SKIP = {"outcomes", "dates", "enrollment"}


def classify_one(raw: RawChange, ctx: Ctx) -> Change:
    cat = category_of(raw.pattern, raw)
    r: R | None = None
    if cat == "references" or (cat == "admin" and raw.pattern.startswith("protocolSection.referencesModule")):
        r = r_references(raw, ctx, cat)
    elif raw.kind == "changed" and cat not in _TEXT_GENERIC_SKIP:
        fmt = text_edit_kind(raw.old, raw.new)
        if fmt:
            s = f"{field_label(raw.pattern)}: {fmt}-only edit"
            r = R("admin", f"text.{fmt}", s)
    if r is None:
        r = HANDLERS[cat](raw, ctx)
    return Change(category=cat, severity=r.severity, kind=raw.kind, path=raw.path,
                  old=raw.old, new=raw.new, summary=r.summary, rule=r.rule,
                  milestone=r.milestone, context=r.context, delta_days=r.delta_days,
                  delta_months=r.delta_months)


def classify(raws: list[RawChange], old: dict, new: dict) -> list[Change]:
    ctx = Ctx(old, new)
    return [classify_one(r, ctx) for r in raws]
