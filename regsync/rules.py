"""The severity rules as data: one row per rule, and every threshold the rules use.

The rule code in :mod:`regsync.classify` decides *which* rule fires and writes the summary;
the severity, whether it is a milestone, and the severity it takes when the edit comes with
the first results posting all come from this table. An id that is not here fails loudly
(``UnknownRule``), so a misspelt id cannot slip through as an unclassified change.

``python -m regsync.rules`` prints the README's rule table (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from regsync.model import Category, OverallStatus, Severity

C, S = Category, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    category: Category | None  # None: applies in any category (formatting-only text edits)
    severity: Severity
    description: str
    milestone: bool = False
    # The severity when the edit is made in the version that first posts results (outcome
    # titles are routinely rewritten to match the results tables then); None: not lowered.
    reconciled: Severity | None = None
    # For outcome rules: the element of the outcome that changed, as raters name it.
    element: str | None = None


class UnknownRule(LookupError):
    """Rule code named a rule the table does not have: a bug in regsync, never in the data."""


_TABLE: tuple[Rule, ...] = (
    # status
    Rule("status.progression", C.STATUS, S.MINOR, "routine forward status progression", milestone=True),
    Rule("status.stopped.with_reason", C.STATUS, S.MAJOR, "moved to TERMINATED/SUSPENDED/WITHDRAWN with a real whyStopped"),
    Rule("status.stopped.no_reason", C.STATUS, S.CRITICAL, "moved to TERMINATED/SUSPENDED/WITHDRAWN without a real whyStopped"),
    Rule("status.resumed", C.STATUS, S.MINOR, "resumed from SUSPENDED", milestone=True),
    Rule("status.reopened", C.STATUS, S.MINOR, "recruitment reopened (backwards, e.g. ACTIVE_NOT_RECRUITING -> RECRUITING)"),
    Rule("status.reopened_after_end", C.STATUS, S.MAJOR, "a COMPLETED/TERMINATED/WITHDRAWN trial changed to an open status"),
    Rule("status.unknown", C.STATUS, S.MINOR, "registry marked status UNKNOWN (not verified for 2 years)"),
    Rule("status.other", C.STATUS, S.MINOR, "other status change (lastKnownStatus, statuses outside the progression)"),
    Rule("status.why_stopped", C.STATUS, S.MINOR, "whyStopped added or edited"),
    Rule("status.why_stopped.removed", C.STATUS, S.MAJOR, "whyStopped removed while the trial stays stopped"),
    Rule("status.expanded_access", C.STATUS, S.MINOR, "expanded access became available or stopped being"),
    Rule("status.expanded_access.details", C.STATUS, S.ADMIN, "expanded access details (NCT number, status) changed"),
    # dates
    Rule("dates.became_actual", C.DATES, S.MINOR, "a date became ACTUAL (milestone reached)", milestone=True),
    Rule("dates.actual_corrected", C.DATES, S.MINOR, "an ACTUAL date's value corrected"),
    Rule("dates.actual_reverted", C.DATES, S.MINOR, "an ACTUAL date went back to ESTIMATED"),
    Rule("dates.slip.late_large", C.DATES, S.MAJOR, "(primary) completion slipped by the late-slip threshold or more, late in the trial"),
    Rule("dates.slip.early_very_large", C.DATES, S.MAJOR, "(primary) completion slipped by the early-slip threshold or more, before or while recruiting"),
    Rule("dates.slip.moderate", C.DATES, S.MINOR, "(primary) completion moved later, below the major thresholds"),
    Rule("dates.earlier", C.DATES, S.MINOR, "(primary) completion estimate moved earlier"),
    Rule("dates.start.moved", C.DATES, S.MINOR, "start date estimate moved"),
    Rule("dates.added", C.DATES, S.MINOR, "an ESTIMATED date given where there was none"),
    Rule("dates.removed", C.DATES, S.MINOR, "a date removed"),
    Rule("dates.unreadable", C.DATES, S.MINOR, "a date that cannot be read as a date (slip not measured)"),
    # enrollment
    Rule("enrollment.zero", C.ENROLLMENT, S.CRITICAL, "enrollment cut to zero"),
    Rule("enrollment.reduction.large", C.ENROLLMENT, S.MAJOR, "enrollment reduced by the enrollment-cut threshold or more once recruiting"),
    Rule("enrollment.reduction.pre_recruitment", C.ENROLLMENT, S.MINOR, "enrollment reduced by the threshold or more before recruitment"),
    Rule("enrollment.change.small", C.ENROLLMENT, S.MINOR, "smaller enrollment reduction, or any increase"),
    Rule("enrollment.finalized", C.ENROLLMENT, S.MINOR, "enrollment became ACTUAL with the same count"),
    Rule("enrollment.added", C.ENROLLMENT, S.MINOR, "enrollment first given"),
    Rule("enrollment.removed", C.ENROLLMENT, S.MINOR, "enrollment removed"),
    # arms
    Rule("arms.added", C.ARMS, S.MAJOR, "arm added"),
    Rule("arms.removed", C.ARMS, S.MAJOR, "arm removed"),
    Rule("arms.renamed", C.ARMS, S.MINOR, "arm relabelled (content unchanged)"),
    Rule("arms.type_changed", C.ARMS, S.MAJOR, "arm type changed (e.g. comparator kind)"),
    Rule("arms.interventions_changed", C.ARMS, S.MAJOR, "interventions given in an arm changed"),
    Rule("arms.dose_changed", C.ARMS, S.MAJOR, "arm description changed in its numbers (dose, schedule)"),
    Rule("arms.wording", C.ARMS, S.MINOR, "arm description wording"),
    # interventions
    Rule("interventions.added", C.INTERVENTIONS, S.MAJOR, "intervention added"),
    Rule("interventions.removed", C.INTERVENTIONS, S.MAJOR, "intervention removed"),
    Rule("interventions.renamed", C.INTERVENTIONS, S.MINOR, "intervention renamed (content unchanged)"),
    Rule("interventions.dose_changed", C.INTERVENTIONS, S.MAJOR, "intervention description changed in its numbers (dose, schedule)"),
    Rule("interventions.wording", C.INTERVENTIONS, S.MINOR, "intervention description wording"),
    Rule("interventions.arm_assignment", C.INTERVENTIONS, S.MAJOR, "arms an intervention is given in changed"),
    Rule("interventions.other_names", C.INTERVENTIONS, S.MINOR, "intervention other names changed"),
    # outcomes
    # outcomes: primary outcomes judged element by element (regsync.outcomes); the element
    # is what outcome-switching raters name (Holst et al. 2023, COMPare)
    Rule("outcome.primary.added", C.OUTCOMES, S.CRITICAL, "primary outcome added (a new endpoint)", element="new"),
    Rule("outcome.primary.removed", C.OUTCOMES, S.CRITICAL, "primary outcome omitted", element="omitted"),
    Rule("outcome.primary.endpoint_added", C.OUTCOMES, S.CRITICAL, "an endpoint added inside a primary outcome's measure (A becomes A and B)", element="new"),
    Rule("outcome.primary.endpoint_omitted", C.OUTCOMES, S.CRITICAL, "an endpoint dropped from a primary outcome's measure (A and B becomes A)", element="omitted"),
    Rule("outcome.primary.redefined", C.OUTCOMES, S.CRITICAL, "primary outcome measure replaced by a different one", element="domain"),
    Rule("outcome.primary.demoted", C.OUTCOMES, S.CRITICAL, "primary outcome moved to secondary/other", element="switched"),
    Rule("outcome.primary.promoted", C.OUTCOMES, S.CRITICAL, "secondary/other outcome moved to primary", element="switched"),
    Rule("outcome.primary.measurement_changed", C.OUTCOMES, S.MAJOR, "primary outcome measured differently (instrument, scale, analysis)", element="measurement"),
    Rule("outcome.primary.metric_changed", C.OUTCOMES, S.MAJOR, "primary outcome metric changed (change from baseline, proportion, time to event, slope)", element="metric"),
    Rule("outcome.primary.aggregation_changed", C.OUTCOMES, S.MAJOR, "primary outcome aggregation changed (mean, median, ...)", element="aggregation"),
    Rule("outcome.primary.timeframe_changed", C.OUTCOMES, S.MAJOR, "primary outcome time point changed (also when results are posted)", element="timepoint"),
    Rule("outcome.primary.detail", C.OUTCOMES, S.MINOR, "primary outcome detail added or omitted (a time point given, a definition, a qualifier)", element="detail"),
    Rule("outcome.primary.restructured", C.OUTCOMES, S.ADMIN, "primary outcomes split or merged, naming the same endpoints", element="wording"),
    Rule("outcome.moved", C.OUTCOMES, S.MINOR, "outcome moved between secondary and other"),
    Rule("outcome.removed_after_completion", C.OUTCOMES, S.CRITICAL, "a secondary/other outcome removed after completion/termination"),
    Rule("outcome.secondary.removed", C.OUTCOMES, S.MAJOR, "secondary/other outcome removed while the trial is running", reconciled=S.MINOR),
    Rule("outcome.secondary.removed_pre_recruitment", C.OUTCOMES, S.MINOR, "secondary/other outcome removed before recruitment"),
    Rule("outcome.secondary.added", C.OUTCOMES, S.MINOR, "secondary/other outcome added before completion"),
    Rule("outcome.secondary.added_after_completion", C.OUTCOMES, S.MAJOR, "secondary/other outcome added after completion", reconciled=S.MINOR),
    Rule("outcome.secondary.redefined", C.OUTCOMES, S.MAJOR, "secondary/other outcome measure substantively changed once running", reconciled=S.MINOR),
    Rule("outcome.secondary.redefined_pre_recruitment", C.OUTCOMES, S.MINOR, "secondary/other outcome measure changed before recruitment"),
    Rule("outcome.wording", C.OUTCOMES, S.ADMIN, "outcome wording (spelling, numbers as words, units, word order, details moved between fields)", element="wording"),
    Rule("outcome.timeframe_changed", C.OUTCOMES, S.MINOR, "secondary/other outcome time frame changed", reconciled=S.ADMIN),
    Rule("outcome.description", C.OUTCOMES, S.MINOR, "outcome description changed", reconciled=S.ADMIN),
    Rule("outcome.bookkeeping", C.OUTCOMES, S.ADMIN, "registry review annotations on outcomes"),
    # eligibility
    Rule("eligibility.population_shift", C.ELIGIBILITY, S.MAJOR, "eligibility changed in a way that shifts the population once recruiting"),
    Rule("eligibility.wording", C.ELIGIBILITY, S.MINOR, "minor eligibility wording (within the wording thresholds)"),
    Rule("eligibility.pre_recruitment", C.ELIGIBILITY, S.MINOR, "eligibility changed before recruitment"),
    # design
    Rule("design.phase_changed", C.DESIGN, S.MAJOR, "phase changed"),
    Rule("design.allocation_changed", C.DESIGN, S.MAJOR, "allocation changed"),
    Rule("design.masking_changed", C.DESIGN, S.MAJOR, "masking changed"),
    Rule("design.model_changed", C.DESIGN, S.MAJOR, "intervention/observational model or study type changed once running"),
    Rule("design.model_changed_pre_recruitment", C.DESIGN, S.MINOR, "design model first given, or changed before recruitment"),
    Rule("design.other", C.DESIGN, S.MINOR, "other design fields (phase first given, who is masked, purpose, design text)"),
    # results
    Rule("results.first_posted", C.RESULTS, S.MINOR, "results first posted", milestone=True),
    Rule("results.withdrawn", C.RESULTS, S.MAJOR, "hasResults true -> false"),
    Rule("results.removed_after_completion", C.RESULTS, S.CRITICAL, "a results module removed after completion"),
    Rule("results.removed", C.RESULTS, S.MAJOR, "a results module removed"),
    Rule("results.sae_removed", C.RESULTS, S.MAJOR, "serious adverse event rows removed from posted results"),
    Rule("results.added", C.RESULTS, S.MINOR, "a results module added"),
    Rule("results.updated", C.RESULTS, S.MINOR, "posted results updated"),
    Rule("results.certificate_of_delay", C.RESULTS, S.MINOR, "certificate of delay filed (results deadline extended)"),
    Rule("results.bookkeeping", C.RESULTS, S.ADMIN, "results submission/QC dates"),
    # the other modules
    Rule("documents.added", C.DOCUMENTS, S.MINOR, "study document added"),
    Rule("documents.removed", C.DOCUMENTS, S.MINOR, "study document removed"),
    Rule("documents.changed", C.DOCUMENTS, S.MINOR, "study document replaced or relabelled"),
    Rule("sponsor.changed", C.SPONSOR, S.MINOR, "lead sponsor or collaborators changed"),
    Rule("sponsor.responsible_party", C.SPONSOR, S.ADMIN, "responsible party details"),
    Rule("oversight.changed", C.OVERSIGHT, S.MINOR, "oversight (DMC, FDA regulation) changed"),
    Rule("conditions.changed", C.CONDITIONS, S.MINOR, "conditions changed"),
    Rule("conditions.keywords", C.CONDITIONS, S.ADMIN, "keywords changed (search terms)"),
    Rule("description.changed", C.DESCRIPTION, S.MINOR, "brief summary / detailed description changed"),
    Rule("identification.title", C.IDENTIFICATION, S.MINOR, "title or acronym changed"),
    Rule("identification.ids", C.IDENTIFICATION, S.ADMIN, "identifiers / organisation bookkeeping"),
    Rule("contacts.churn", C.CONTACTS, S.ADMIN, "central contacts / officials changed"),
    Rule("locations.site_added", C.LOCATIONS, S.MINOR, "site added"),
    Rule("locations.site_removed", C.LOCATIONS, S.MINOR, "site removed"),
    Rule("locations.site_details", C.LOCATIONS, S.ADMIN, "a site's details (status, contacts, geo, address, name spelling)"),
    Rule("references.changed", C.REFERENCES, S.MINOR, "reference added/removed/changed"),
    Rule("references.derived", C.ADMIN, S.ADMIN, "registry-added DERIVED reference"),
    Rule("ipd.changed", C.IPD, S.MINOR, "IPD sharing statement changed"),
    Rule("admin.bookkeeping", C.ADMIN, S.ADMIN, "registry bookkeeping (submit/post/verified dates, misc)"),
    Rule("admin.derived", C.ADMIN, S.ADMIN, "derivedSection (computed by the registry)"),
    # a protocol module as a whole (its category: the module's)
    Rule("module.lost", None, S.MAJOR, "statusModule, designModule, armsInterventionsModule, outcomesModule or eligibilityModule disappeared or is no longer an object (null, [], text): its fields are gone"),
    Rule("module.lost.other", None, S.MINOR, "another protocol module disappeared or is no longer an object"),
    Rule("module.restored", None, S.MINOR, "a protocol module that was not an object (null, [], text) is one again"),
    # any category
    Rule("text.whitespace", None, S.ADMIN, "whitespace-only text edit", reconciled=S.ADMIN),
    Rule("text.formatting", None, S.ADMIN, "formatting-only edit (case, punctuation, markup)", reconciled=S.ADMIN),
    # shown as a change of its category, minor so it is seen; a warning is logged (a bug to fix)
    Rule("change.unjudged", None, S.MINOR, "a change the rule code failed on (registry text it did not foresee): a generic change of its category, with a logged warning"),
)

RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _TABLE})
assert len(RULES) == len(_TABLE), "duplicate rule id"


# Rules of regsync.obligations (not of the record diff in regsync.classify): an edit that
# moves a results deadline is at least major, whatever field it touched.
_OBLIGATION_TABLE: tuple[Rule, ...] = (
    Rule("obligations.overdue_cleared", C.OBLIGATIONS, S.CRITICAL, "an edit, not a results submission, took an overdue trial out of overdue (a later primary completion, a phase, a date before 2017-01-18)"),
    Rule("obligations.applicability", C.OBLIGATIONS, S.MAJOR, "an edit changed applicability (ACT / pACT / not applicable)"),
    Rule("obligations.due_moved", C.OBLIGATIONS, S.MAJOR, "an edit moved the results due date"),
    Rule("obligations.state", C.OBLIGATIONS, S.MAJOR, "an edit changed the results state (e.g. submitted, posted, a certificate of delay)"),
)
OBLIGATION_RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _OBLIGATION_TABLE})

# The rule of regsync.sentinel (not of the record diff): a change that is nothing but a
# structural change the registry made across a large share of a run's studies.
_REGISTRY_TABLE: tuple[Rule, ...] = (
    Rule("registry.structure", C.REGISTRY, S.ADMIN, "a field the registry dropped, added, renamed or retyped across a large share of the studies one run fetched, their update dates unmoved (the registry_change thresholds): not the sponsor's edit, said once for the run"),
)
REGISTRY_RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _REGISTRY_TABLE})


def obligation_rule(rule_id: str) -> Rule:
    try:
        return OBLIGATION_RULES[rule_id]
    except KeyError:
        raise UnknownRule(f"no rule {rule_id!r} in regsync.rules") from None


def registry_rule(rule_id: str) -> Rule:
    try:
        return REGISTRY_RULES[rule_id]
    except KeyError:
        raise UnknownRule(f"no rule {rule_id!r} in regsync.rules") from None


def rule(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise UnknownRule(f"no rule {rule_id!r} in regsync.rules") from None


# -- thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Every cut-off the rules and the matcher use, with why (in the README, generated)."""

    date_slip_late_months: float = 11
    """(primary) completion slip that is major late in the trial (active, completed): about a year."""
    date_slip_early_months: float = 23
    """(primary) completion slip that is major before or while recruiting: about two years."""
    enrollment_cut: float = 0.30
    """Share of planned enrollment lost that is major once recruiting: it changes the power."""
    eligibility_wording_words: int = 10
    """Most words an eligibility edit may change (with the same numbers) and stay wording."""
    eligibility_wording_share: float = 0.03
    """Most share of the criteria's words an edit may change and stay wording."""
    same_measure_similarity: float = 0.75
    """Token similarity of two outcome phrasings (same numbers) that makes them one measure."""
    why_stopped_words: int = 2
    """Fewest words of a whyStopped that explains something (not a placeholder)."""
    rename_similarity: float = 0.5
    """Key similarity above which an outcome or arm removed and one added are one, renamed."""
    rename_containment: float = 0.8
    """Or: share of the shorter key's words found in the longer one."""
    outcome_rewrite_containment: float = 0.8
    """A primary outcome removed and one added are one, rewritten (reported redefined or
    reworded, not removed + added), when this share of one measure's words (at least two,
    unit words such as "percentage of participants" ignored) is in the other's measure or
    time frame."""
    registry_change_studies: int = 50
    """Fewest studies a run must fetch before a structural change they share is taken for the
    registry's (fewer cannot tell a registry-wide change from a coincidence)."""
    registry_change_share: float = 0.20
    """Share of the studies a run fetched that must show the same structural change (a field
    dropped, added, renamed or retyped at one path, their update dates unmoved) for it to be
    recorded as the registry's change, not flagged per study."""


THRESHOLDS = Thresholds()

# A trial's stage, from the FROM version's overallStatus: when in its life a change is made
# decides how much it matters (an eligibility edit before recruitment is a plan being
# finalised; once people are enrolled it changes who the results describe).
STAGES: Mapping[str, str] = MappingProxyType({
    OverallStatus.NOT_YET_RECRUITING: "pre",
    OverallStatus.WITHDRAWN: "pre",
    OverallStatus.RECRUITING: "recruiting",
    OverallStatus.ENROLLING_BY_INVITATION: "recruiting",
    OverallStatus.ACTIVE_NOT_RECRUITING: "late",
    OverallStatus.SUSPENDED: "late",
    OverallStatus.COMPLETED: "done",
    OverallStatus.TERMINATED: "done",
})
DEFAULT_STAGE = "recruiting"  # UNKNOWN, missing, expanded-access statuses


def markdown() -> str:
    """The README's rule and threshold tables."""
    lines = [
        "| rule | category | severity | with first results | milestone | element | what |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in (*_TABLE, *_OBLIGATION_TABLE, *_REGISTRY_TABLE):
        lines.append(
            f"| `{r.id}` | {r.category or 'any'} | {r.severity} | {r.reconciled or ''} "
            f"| {'yes' if r.milestone else ''} | {r.element or ''} | {r.description} |"
        )
    lines += ["", "| threshold | value | why |", "| --- | --- | --- |"]
    docs = _field_docs()
    for f in fields(Thresholds):
        lines.append(f"| `{f.name}` | {getattr(THRESHOLDS, f.name):g} | {docs.get(f.name, '')} |")
    return "\n".join(lines)


def _field_docs() -> dict[str, str]:
    """The docstring under each Thresholds field (read from the source: one place for why)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Thresholds))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs


if __name__ == "__main__":
    print(markdown())
