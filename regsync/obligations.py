"""Results and update obligations of one stored record, under FDAAA 801 / 42 CFR Part 11.

``obligation(record, today)`` is pure: the v2 JSON as stored and the day to judge it on in,
an ``Obligation`` out. It never reads the clock (callers pass ``today``), so a stored
version's obligation can be recomputed to the same answer, and the state of an old version
can be judged on the day an edit was made.

The rules follow the FDAAA TrialsTracker (ebmdatalab/clinicaltrials-act-tracker:
``view.sql`` for is-ACT / is-pACT and the due date, ``trial_computer.py`` for days late and
status), translated from the legacy XML fields to API v2. Where regsync differs it says so
next to the rule ("TrialsTracker: ..."). Applicability is an estimate from registry fields,
and "overdue" is not a legal finding: the registry does not publish the sponsor's own ACT
determination.

``obligation_changes(old, new)`` turns two successive versions into at most one
``Category.OBLIGATIONS`` change when the edit moved the results due date, the
applicability or the state (judged on the day the edit was submitted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from regsync import dates
from regsync.dates import RegistryDate
from regsync.model import Category, Change, Kind
from regsync.model import ObligationState as State
from regsync.model import dig as _get
from regsync.text import plural, signed

if TYPE_CHECKING:
    from regsync.store import Store

# 42 CFR 11.22(b): the final rule applies to trials that started on or after its effective
# date; older trials still running on it are the TrialsTracker's "probable ACTs".
EFFECTIVE_DATE = date(2017, 1, 18)
GRACE_DAYS = 30  # TrialsTracker's GRACE_PERIOD before a trial counts as overdue
UPDATE_DAYS = 30  # 42 CFR 11.64(a)(1)(ii): status and primary completion date updates
DELAY_YEARS = 3  # certificate of delay: PCD + 3 years at most (TrialsTracker, 42 CFR 11.44(b))


class Applicability(StrEnum):
    ACT = "ACT"
    PACT = "pACT"
    NOT_APPLICABLE = "not applicable"


STATE_ORDER = tuple(State)

# TrialsTracker's phase list: 'Phase 1/Phase 2', 'Phase 2', 'Phase 2/Phase 3', 'Phase 3',
# 'Phase 4', 'N/A'. A record naming any of these phases qualifies; PHASE1 and EARLY_PHASE1
# alone do not (42 CFR 11.10(a): phase 1 drug trials are not applicable clinical trials).
_QUALIFYING_PHASES = frozenset({"PHASE2", "PHASE3", "PHASE4", "NA"})
# TrialsTracker's pACT intervention types (the record's own drug/device regulation flags were
# not collected before 2017).
_PACT_INTERVENTIONS = frozenset({
    "DRUG", "DEVICE", "BIOLOGICAL", "GENETIC", "RADIATION", "COMBINATION_PRODUCT", "DIAGNOSTIC_TEST",
})
# The United States and its territories, as TrialsTracker matches them (plus the registry's
# own spelling of the Virgin Islands).
_US = frozenset({
    "United States", "American Samoa", "Guam", "Northern Mariana Islands", "Puerto Rico",
    "U.S. Virgin Islands", "Virgin Islands (U.S.)",
})
# TrialsTracker's "ongoing" statuses for its discrep_date_status check.
ONGOING = frozenset({
    "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION",
    "UNKNOWN", "AVAILABLE", "SUSPENDED",
})
# Statuses that say people are still being, or yet to be, enrolled: wrong once the primary
# completion date is ACTUAL. (ACTIVE_NOT_RECRUITING is the right status between the
# primary completion and the completion date, so it is not flagged here.)
_RECRUITING = frozenset({"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION"})


def parse_registry_date(value: Any) -> RegistryDate | None:
    """A registry date read as a deadline day (``regsync.dates``, the library's one reader):
    month-only dates are the month's last day, year-only dates the year's, and say so."""
    return dates.read(value, last=True)


def _add_years(day: date, years: int) -> date:
    # 42 CFR 11.44(a) says "1 year", not 365 days (TrialsTracker adds 365 days); 29 February
    # goes to 28 February, the earlier reading.
    year = day.year + years
    if not 1 <= year <= 9999:  # past the calendar's ends (a clock at 0001 or 9999): its end
        return date.min if year < 1 else date.max
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


@dataclass(frozen=True)
class Duty:
    """An update the record appears to owe (42 CFR 11.64), in words."""

    id: str  # status-not-updated | pcd-not-updated | verification-stale | completion-passed
    text: str


@dataclass(frozen=True)
class Obligation:
    applicability: Applicability
    reason: str  # why, in words
    state: State
    as_of: date
    due_date: date | None = None  # results due (the deadline day itself is still on time)
    overdue_after: date | None = None  # due date + 30 days' grace: overdue from the next day
    days: int | None = None  # days overdue (today - due date) or reported late
    basis: str | None = None  # how the due date was reached, in words
    notes: tuple[str, ...] = ()  # month-only dates, a certificate of delay, ...
    results_submitted: date | None = None
    results_posted: date | None = None
    certificate: date | None = None  # dispFirstSubmitDate, when it counts
    duties: tuple[Duty, ...] = ()

    @property
    def applicable(self) -> bool:
        return self.applicability is not Applicability.NOT_APPLICABLE

    def state_words(self) -> str:
        """``overdue 46 days``, ``reported late 63 days``, ``submitted, not yet posted (QC)``."""
        if self.state is State.OVERDUE:
            return f"overdue {plural(self.days or 0, 'day')}"
        if self.state is State.REPORTED_LATE:
            return f"reported late {plural(self.days or 0, 'day')}"
        if self.state is State.SUBMITTED:
            late = f", {plural(self.days, 'day')} late" if self.days else ""
            return f"submitted, not yet posted (QC){late}"
        if self.state is State.DUE:
            assert self.overdue_after is not None
            return f"due (grace until {self.overdue_after.isoformat()})"
        return {
            State.NOT_YET_DUE: "not yet due",
            State.REPORTED: "reported on time",
            State.NOT_APPLICABLE: "not applicable",
        }[self.state]

    def to_dict(self) -> dict[str, Any]:
        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "applicability": self.applicability.value,
            "reason": self.reason,
            "state": self.state.value,
            "state_words": self.state_words(),
            "as_of": self.as_of.isoformat(),
            "due_date": iso(self.due_date),
            "overdue_after": iso(self.overdue_after),
            "days": self.days,
            "basis": self.basis,
            "notes": list(self.notes),
            "results_submitted": iso(self.results_submitted),
            "results_posted": iso(self.results_posted),
            "certificate_of_delay": iso(self.certificate),
            "duties": [{"id": d.id, "text": d.text} for d in self.duties],
        }


def _items(node: Any) -> list[Any]:
    """A list field as a list: anything else (a malformed record) names nothing."""
    return node if isinstance(node, list) else []


def _date_of(status: Any, key: str) -> RegistryDate | None:
    """``statusModule.<key>``: a ``...DateStruct`` (``{date, type}``) or a plain date."""
    value = _get(status, key)
    return parse_registry_date(value.get("date") if isinstance(value, Mapping) else value)


def _reference(status: Any) -> date | None:
    """The record's own submission day, which its other dates are measured against."""
    for key in ("lastUpdateSubmitDate", "studyFirstSubmitDate"):
        found = _date_of(status, key)
        if found is not None and dates.plausible(found.parts[0]):
            return found.day
    return None


_LABELS = {
    "startDateStruct": "start date", "primaryCompletionDateStruct": "primary completion date",
    "completionDateStruct": "completion date", "resultsFirstSubmitDate": "results first submit date",
    "resultsFirstPostDateStruct": "results first post date", "dispFirstSubmitDate": "certificate of delay date",
    "statusVerifiedDate": "status verified date",
}


def _implausible(status: Any, *keys: str) -> list[str]:
    """The dates among ``keys`` that are not believable, in words: a typo such as 1800-01-01
    would otherwise be computed with ("overdue 82,520 days")."""
    reference = _reference(status)
    return [
        f"{_LABELS[key]} {dates.implausible_words(found, reference)}"
        for key in keys
        if (found := _date_of(status, key)) is not None and not dates.plausible(found.parts[0], reference)
    ]


def _plausible_date(status: Any, key: str) -> RegistryDate | None:
    """``_date_of``, with an implausible date taken as not given (for the update duties)."""
    return None if _implausible(status, key) else _date_of(status, key)


def _applicability(record: Mapping[str, Any]) -> tuple[Applicability, str]:
    protocol = _get(record, "protocolSection")
    design = _get(protocol, "designModule")
    status = _get(protocol, "statusModule")
    oversight = _get(protocol, "oversightModule")
    study_type = _get(design, "studyType")
    if study_type != "INTERVENTIONAL":
        return Applicability.NOT_APPLICABLE, f"studyType {study_type or 'not given'}: only interventional studies are applicable clinical trials"
    overall = _get(status, "overallStatus")
    if overall == "WITHDRAWN":
        return Applicability.NOT_APPLICABLE, "overallStatus WITHDRAWN: the trial enrolled no one"
    phases = [p for p in _items(_get(design, "phases")) if isinstance(p, str)]
    if not phases:
        return Applicability.NOT_APPLICABLE, "no phase given (TrialsTracker counts only phase 1/2 to 4 and NA)"
    if not _QUALIFYING_PHASES.intersection(phases):
        return Applicability.NOT_APPLICABLE, f"phase {'/'.join(phases)}: phase 1 and early phase 1 trials are excluded"
    if _get(design, "designInfo", "primaryPurpose") == "DEVICE_FEASIBILITY":
        return Applicability.NOT_APPLICABLE, "primaryPurpose DEVICE_FEASIBILITY: small device feasibility studies are excluded"
    odd = _implausible(status, "startDateStruct")
    if odd:
        return Applicability.NOT_APPLICABLE, f"{'; '.join(odd)}: applicability is not estimated from it"
    start = _date_of(status, "startDateStruct")
    if start is None:
        return Applicability.NOT_APPLICABLE, "no start date: applicability cannot be estimated"
    drug, device = _get(oversight, "isFdaRegulatedDrug"), _get(oversight, "isFdaRegulatedDevice")
    regulated = [name for name, flag in (("drug", drug), ("device", device)) if flag is True]
    phase = "/".join(phases)
    if start.day >= EFFECTIVE_DATE:
        if not regulated:
            return Applicability.NOT_APPLICABLE, (
                "not an FDA-regulated drug or device (oversightModule isFdaRegulatedDrug/"
                "isFdaRegulatedDevice not true)"
            )
        return Applicability.ACT, (
            f"interventional, FDA-regulated {' and '.join(regulated)}, phase {phase}, "
            f"started {start.words()}, on or after 2017-01-18"
        )
    # Started before the rule: a probable ACT if it was still running when the rule took
    # effect and looks like one (TrialsTracker's included_pact_flag).
    # Whether an older trial was still running in 2017 rests on its completion dates.
    odd = _implausible(status, "primaryCompletionDateStruct", "completionDateStruct")
    if odd:
        return Applicability.NOT_APPLICABLE, f"{'; '.join(odd)}: applicability is not estimated from it"
    completion, ended = _date_of(status, "primaryCompletionDateStruct"), "primary completion"
    if completion is None:
        completion, ended = _date_of(status, "completionDateStruct"), "completion"
    if completion is None or completion.day < EFFECTIVE_DATE:
        when = completion.words() if completion else "not given"
        return Applicability.NOT_APPLICABLE, (
            f"started {start.words()}, {ended} {when}: both before 2017-01-18"
        )
    types = {t for i in _items(_get(protocol, "armsInterventionsModule", "interventions"))
             if isinstance(t := _get(i, "type"), str)}
    kinds = sorted(str(t).lower().replace("_", " ") for t in types & _PACT_INTERVENTIONS)
    if not kinds:
        return Applicability.NOT_APPLICABLE, "started before 2017-01-18 with no drug, device or biological intervention"
    # any() stops at the first US site: a trial can list hundreds of sites
    if not any(
        isinstance(loc, dict) and isinstance(c := loc.get("country"), str) and c in _US
        for loc in _items(_get(protocol, "contactsLocationsModule", "locations"))
    ):
        return Applicability.NOT_APPLICABLE, "started before 2017-01-18 with no site in the United States"
    if not regulated and (drug is False or device is False) and drug is not True and device is not True:
        # TrialsTracker also reads a January 2017 snapshot of the registry's is_fda_regulated
        # flag, which the v2 record does not carry: an explicit false here is enough.
        return Applicability.NOT_APPLICABLE, "started before 2017-01-18; oversightModule says not FDA-regulated"
    fda = f"FDA-regulated {' and '.join(regulated)}" if regulated else "FDA regulation not stated in the record"
    return Applicability.PACT, (
        f"started {start.words()}, before 2017-01-18; {ended} {completion.words()}, on or after it; "
        f"{', '.join(kinds)} intervention; a US site; {fda}"
    )


def obligation(record: Mapping[str, Any], today: date) -> Obligation:
    """The results and update obligations of ``record`` as they stand on ``today``."""
    applicability, reason = _applicability(record)
    status = _get(record, "protocolSection", "statusModule")
    duties = _duties(status, today) if applicability is not Applicability.NOT_APPLICABLE else ()
    if applicability is Applicability.NOT_APPLICABLE:
        return Obligation(applicability, reason, State.NOT_APPLICABLE, today)
    odd = _implausible(status, "primaryCompletionDateStruct", "completionDateStruct", "resultsFirstSubmitDate",
                       "resultsFirstPostDateStruct", "dispFirstSubmitDate")
    if odd:
        # Said, not computed with: no due date, so never "overdue" from a typo.
        return Obligation(applicability, reason, State.NOT_YET_DUE, today,
                          notes=(*odd, "no due date is judged from an implausible date"), duties=duties)
    notes: list[str] = []
    pcd = _date_of(status, "primaryCompletionDateStruct")
    anchor, anchor_name = pcd, "primary completion date"
    if pcd is None:  # TrialsTracker's available_completion_date: PCD, else completion date
        anchor, anchor_name = _date_of(status, "completionDateStruct"), "completion date"
        if anchor is not None:
            notes.append("no primary completion date: the completion date is used")
    submitted = _date_of(status, "resultsFirstSubmitDate")
    posted = _date_of(status, "resultsFirstPostDateStruct")
    if submitted is None and posted is not None:  # old records: the posting is all there is
        submitted = posted
    if anchor is None:
        return Obligation(
            applicability, reason, State.NOT_YET_DUE, today, notes=("no primary completion or completion date: no due date",),
            duties=duties,
        )
    if not anchor.precise:
        unit = "month" if anchor.text.count("-") == 1 else "year"
        notes.append(f"{anchor_name} {anchor.text} is {unit}-only: taken as {anchor.day.isoformat()}, the {unit}'s last day")
    due = _add_years(anchor.day, 1)
    basis = f"{anchor_name} {anchor.words()} + 1 year"
    certificate = None
    cert = _date_of(status, "dispFirstSubmitDate")
    if cert is not None:
        if cert.day <= due:
            certificate = cert.day
            due = _add_years(anchor.day, DELAY_YEARS)
            basis = f"{anchor_name} {anchor.words()} + {DELAY_YEARS} years (certificate of delay)"
            notes.append(f"certificate of delay submitted {cert.words()}")
        else:
            # TrialsTracker flags such a certificate (late_cert) but still honours it; 42 CFR
            # 11.44(b) needs it before the results are due, so regsync does not.
            notes.append(
                f"certificate of delay submitted {cert.words()}, after the results were due "
                f"({due.isoformat()}): not counted"
            )
    grace = due + timedelta(days=GRACE_DAYS)

    results_submitted = submitted.day if submitted else None
    results_posted = posted.day if posted else None
    state, days = judge(due, results_submitted, results_posted, today)
    return Obligation(
        applicability, reason, state, today, due_date=due, overdue_after=grace, days=days,
        basis=basis, notes=tuple(notes), results_submitted=results_submitted,
        results_posted=results_posted, certificate=certificate, duties=duties,
    )


def judge(due: date, submitted: date | None, posted: date | None, today: date) -> tuple[State, int | None]:
    """The state of an applicable trial due on ``due``, and its days overdue or late."""
    # Days late count from the due date, as TrialsTracker's get_days_late does: a submission
    # on any later day is late; the grace only delays "overdue". (With a certificate of delay
    # TrialsTracker still counts from PCD + 365 days; regsync counts from the extended date.)
    if submitted is not None and submitted <= today:
        late = max((submitted - due).days, 0) or None
        if posted is None or posted > today:
            return State.SUBMITTED, late
        return (State.REPORTED_LATE if late else State.REPORTED), late
    if today < due:
        return State.NOT_YET_DUE, None
    if today <= due + timedelta(days=GRACE_DAYS):
        return State.DUE, None
    return State.OVERDUE, (today - due).days


def state_on(stored: Mapping[str, Any], today: date) -> tuple[State, int | None]:
    """The state on ``today`` of an obligation stored as ``Obligation.to_dict()`` (judged
    on another day): the same answer ``obligation(record, today)`` gives, without the record."""
    if stored.get("applicability") == Applicability.NOT_APPLICABLE.value:
        return State.NOT_APPLICABLE, None
    if not stored.get("due_date"):
        return State.NOT_YET_DUE, None

    def day(key: str) -> date | None:
        value = stored.get(key)
        return date.fromisoformat(value) if value else None

    due = day("due_date")
    assert due is not None
    return judge(due, day("results_submitted"), day("results_posted"), today)


def _duties(status: Any, today: date) -> tuple[Duty, ...]:
    found: list[Duty] = []
    overall = _get(status, "overallStatus")
    if not isinstance(overall, str):
        overall = None  # a malformed status names no state
    pcd_struct = _get(status, "primaryCompletionDateStruct")
    pcd = _plausible_date(status, "primaryCompletionDateStruct")
    pcd_type = pcd_struct.get("type") if isinstance(pcd_struct, Mapping) else None
    if pcd is not None and (today - pcd.day).days > UPDATE_DAYS:
        if pcd_type == "ACTUAL" and overall in _RECRUITING:
            found.append(Duty("status-not-updated", (
                f"overallStatus still {overall} {plural((today - pcd.day).days, 'day')} after the actual "
                f"primary completion date {pcd.words()} (update due within {UPDATE_DAYS} days)"
            )))
        elif pcd_type == "ESTIMATED" and overall in ONGOING:
            # The other half of the same duty: reaching the primary completion date is
            # itself to be reported within 30 days (42 CFR 11.64(a)(1)(ii)(I)).
            found.append(Duty("pcd-not-updated", (
                f"primary completion date {pcd.words()} passed {plural((today - pcd.day).days, 'day')} ago "
                f"and is still ESTIMATED (update due within {UPDATE_DAYS} days)"
            )))
    verified = _plausible_date(status, "statusVerifiedDate")
    results_in = _get(status, "resultsFirstSubmitDate") or _get(status, "resultsFirstPostDateStruct")
    if verified is not None and verified.day < _add_years(today, -1) and (overall in ONGOING or not results_in):
        found.append(Duty("verification-stale", (
            f"statusVerifiedDate {verified.text} is more than 12 months old (42 CFR 11.64(a)(1)(i))"
        )))
    completion = _plausible_date(status, "completionDateStruct")
    # TrialsTracker's discrep_date_status: both completion dates past, status still ongoing.
    if (
        completion is not None and completion.day < today and overall in ONGOING
        and (pcd is None or pcd.day < today)
    ):
        found.append(Duty("completion-passed", (
            f"completion date {completion.words()} has passed but overallStatus is still {overall}"
        )))
    return tuple(found)


# -- changes ---------------------------------------------------------------------------------


def edit_day(record: Mapping[str, Any]) -> date | None:
    """The day an edit was submitted (else posted): the day both versions are judged on, so
    the answer does not depend on when regsync happened to fetch them."""
    status = _get(record, "protocolSection", "statusModule")
    for key in ("lastUpdateSubmitDate", "lastUpdatePostDateStruct"):
        found = _date_of(status, key)
        if found is not None and dates.plausible(found.parts[0]):  # 9999-12-31 is no edit day
            return found.day
    return None


def _short(o: Obligation) -> dict[str, Any]:
    return {
        "as_of": o.as_of.isoformat(),
        "applicability": o.applicability.value,
        "due_date": o.due_date.isoformat() if o.due_date else None,
        "state": o.state.value,
        "days": o.days,
        "state_words": o.state_words(),
        "reason": o.reason,
    }


def obligation_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """One ``obligations`` change when the edit from ``old`` to ``new`` moved the results due
    date, or changed applicability or state, judged on the day ``new`` was submitted;
    none otherwise."""
    from regsync.rules import obligation_rule

    day = edit_day(new) or edit_day(old)
    if day is None:
        return []
    before, after = obligation(old, day), obligation(new, day)
    moved = before.due_date != after.due_date
    if not (moved or before.applicability != after.applicability or before.state != after.state):
        return []
    words: list[str] = []
    delta: int | None = None
    if before.applicability != after.applicability:
        words.append(f"applicability {before.applicability} -> {after.applicability} ({after.reason})")
    if moved:
        if before.due_date and after.due_date:
            delta = (after.due_date - before.due_date).days
            words.append(f"results due date {before.due_date} -> {after.due_date} ({signed(delta, 'day')})")
        else:
            words.append(f"results due date {before.due_date or 'none'} -> {after.due_date or 'none'}")
    if before.state != after.state:
        words.append(f"on {day.isoformat()}: {before.state_words()} -> {after.state_words()}")
    # An edit, not a submission, that takes a trial out of "overdue" is what TrialsTracker
    # cannot see (its issues #135, #141, #190).
    if before.state is State.OVERDUE and after.state in (State.NOT_YET_DUE, State.DUE, State.NOT_APPLICABLE):
        rule_id = "obligations.overdue_cleared"
    elif before.applicability != after.applicability:
        rule_id = "obligations.applicability"
    elif moved:
        rule_id = "obligations.due_moved"
    else:
        rule_id = "obligations.state"
    fired = obligation_rule(rule_id)
    return [Change(
        category=Category.OBLIGATIONS, severity=fired.severity, kind=Kind.CHANGED,
        path="obligations", old=_short(before), new=_short(after),
        summary="Results obligation: " + "; ".join(words), rule=fired.id,
        milestone=fired.milestone, delta_days=delta,
    )]


# -- over a store ----------------------------------------------------------------------------

# Most pressing first: what `regsync obligations` lists first.
DISPLAY_ORDER = (
    State.OVERDUE, State.DUE, State.SUBMITTED, State.REPORTED_LATE, State.REPORTED,
    State.NOT_YET_DUE, State.NOT_APPLICABLE,
)


@dataclass(frozen=True)
class Tracked:
    """A stored study's current obligation, and the last edit that moved its deadline."""

    nct_id: str
    title: str | None
    version: int
    obligation: Obligation
    moved_in: int | None = None  # version of the last edit that moved the deadline
    moved_on: str | None = None  # the day that edit was submitted (else detected)
    moved: str | None = None  # that change's summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "brief_title": self.title,
            "version": self.version,
            **self.obligation.to_dict(),
            "deadline_moved": (
                {"version": self.moved_in, "date": self.moved_on, "summary": self.moved}
                if self.moved_in is not None else None
            ),
        }


def tracked(
    store: Store, today: date, nct_ids: list[str] | None = None, states: list[str] | None = None
) -> list[Tracked]:
    """Every stored study's obligation on ``today`` (from its current record), most
    pressing first; ``nct_ids`` / ``states``: only these."""
    edits = store.deadline_edits()
    found: list[Tracked] = []
    for row in store.current_obligations(nct_ids):
        o = obligation(store.record(row["nct_id"], row["version"]), today)
        if states and o.state.value not in states:
            continue
        edit = edits.get(row["nct_id"])
        found.append(Tracked(
            row["nct_id"], row["brief_title"], row["version"], o,
            moved_in=edit["to_version"] if edit else None,
            moved_on=((edit["new"] or {}).get("as_of") or edit["detected_at"][:10]) if edit else None,
            moved=edit["summary"] if edit else None,
        ))
    found.sort(key=lambda t: (DISPLAY_ORDER.index(t.obligation.state), -(t.obligation.days or 0), t.nct_id))
    return found


def state_counts(store: Store, today: date) -> dict[State, int]:
    """How many stored studies are in each state on ``today`` (from the stored obligations,
    without reading the records)."""
    counts = dict.fromkeys(DISPLAY_ORDER, 0)
    for row in store.current_obligations():
        counts[state_on(row["detail"], today)[0]] += 1
    return counts


@dataclass(frozen=True)
class BecameOverdue:
    nct_id: str
    due_date: str
    overdue_after: str
    days: int
    basis: str | None

    def text(self) -> str:
        """One line for cron: the study, since when, and why then."""
        return (
            f"{self.nct_id} results overdue {plural(self.days, 'day')}: due {self.due_date} ({self.basis}), "
            f"the 30-day grace ended {self.overdue_after}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"nct_id": self.nct_id, "status": "overdue", "due_date": self.due_date,
                "overdue_after": self.overdue_after, "days": self.days, "basis": self.basis}


def note_overdue(store: Store, today: date, run_id: int | None = None) -> list[BecameOverdue]:
    """Studies overdue on ``today`` that were not noted as overdue for this due date
    before: each is recorded (an ``overdue`` event, with ``today``) and returned once, so a
    daily cron job says it on the day it happens (or on the first run after). A note made
    on a day later than ``today`` (one run with the clock far ahead) does not count: the
    notice is said again when the trial really becomes overdue."""
    found: list[BecameOverdue] = []
    for row in store.current_obligations(grace_ended_before=today.isoformat()):
        detail = row["detail"]
        state, days = state_on(detail, today)
        if state is not State.OVERDUE or days is None:
            continue
        if store.record_overdue(row["nct_id"], f"results due {detail['due_date']} are overdue", run_id,
                                noted_on=today.isoformat()):
            found.append(BecameOverdue(row["nct_id"], detail["due_date"], detail["overdue_after"], days, detail["basis"]))
    return found
