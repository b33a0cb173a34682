"""The vocabulary every other module speaks: severities, categories, kinds, the ``Change``
value, the statuses of a study in a sync and the outcomes of a run, and ``summarize``.

Nothing here imports another regsync module, so the diff, the rules, the store, the sync and
the renderers can all depend on it without cycles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


def dig(node: Any, *keys: str) -> Any:
    """``node[k1][k2]...``, or None as soon as a level is missing or not an object: records
    come from the registry and may hold any type anywhere."""
    for key in keys:
        if type(node) is not dict and not isinstance(node, Mapping):  # dict first: the ABC check is slow
            return None
        node = node.get(key)
    return node


class Severity(StrEnum):
    """Review priority, most severe first. A ``str``, so it compares, stores and serialises
    as its value (``Severity.MAJOR == "major"``)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for critical, 3 for admin: sorts most severe first."""
        return _SEVERITY_RANK[self]

    def at_least(self, minimum: Severity | str) -> bool:
        """True when this is ``minimum`` or more severe (critical > major > minor > admin)."""
        return self.rank <= Severity(minimum).rank

    @classmethod
    def max(cls, severities: Iterable[Severity | str]) -> Severity | None:
        """The most severe of ``severities``; None for none."""
        ranked = [cls(s) for s in severities]
        return min(ranked, key=lambda s: s.rank) if ranked else None

    @classmethod
    def at_or_above(cls, minimum: Severity | str) -> list[Severity]:
        """Every severity that is ``minimum`` or more severe, most severe first."""
        return [s for s in cls if s.at_least(minimum)]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Category(StrEnum):
    """What part of the record a change touches; the order is the display order."""

    STATUS = "status"
    DATES = "dates"
    ENROLLMENT = "enrollment"
    ARMS = "arms"
    INTERVENTIONS = "interventions"
    OUTCOMES = "outcomes"
    ELIGIBILITY = "eligibility"
    DESIGN = "design"
    RESULTS = "results"
    OBLIGATIONS = "obligations"  # derived: the results due date, applicability, state
    DOCUMENTS = "documents"
    SPONSOR = "sponsor"
    OVERSIGHT = "oversight"
    CONDITIONS = "conditions"
    DESCRIPTION = "description"
    IDENTIFICATION = "identification"
    CONTACTS = "contacts"
    LOCATIONS = "locations"
    REFERENCES = "references"
    IPD = "ipd"
    REGISTRY = "registry"  # a structural change the registry made across studies (regsync.sentinel)
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _CATEGORY_RANK[self]


_CATEGORY_RANK = {c: i for i, c in enumerate(Category)}


class Kind(StrEnum):
    """The shape of a change (see regsync.diff for each one's old/new)."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    RENAMED = "renamed"
    MOVED = "moved"


class StudyStatus(StrEnum):
    """What a sync did with one study (the ``status`` of a sync line)."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    ERROR = "error"


class RunOutcome(StrEnum):
    """How a run ended, as the ledger (``runs.outcome``) records it."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    INCOMPLETE = "incomplete"  # a listing stopped short of the registry's totalCount
    FAILED = "failed"
    NOTHING_TO_DO = "nothing-to-do"
    INTERRUPTED = "interrupted"


class ObligationState(StrEnum):
    """Where a trial stands on its results duty (``regsync.obligations`` judges it); the
    values are what ``obligations --state`` takes. Here, not in that module, so the CLI can
    offer them without importing the rules."""

    NOT_YET_DUE = "not-yet-due"
    DUE = "due"  # past the due date, inside the 30-day grace
    OVERDUE = "overdue"
    REPORTED = "reported"  # results posted, submitted on or before the due date
    REPORTED_LATE = "reported-late"
    SUBMITTED = "submitted"  # submitted, not yet posted: the registry's quality control
    NOT_APPLICABLE = "not-applicable"


class OverallStatus(StrEnum):
    """The registry's ``protocolSection.statusModule.overallStatus`` values."""

    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"
    UNKNOWN = "UNKNOWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"


RESULTS_RECONCILIATION = "results_reconciliation"  # Change.context of a lowered outcome edit


@dataclass(frozen=True)
class Change:
    """One classified change between two versions of a record.

    ``rule`` is the id of the rule that fired (see regsync.rules); ``context`` is
    ``"results_reconciliation"`` when the severity was lowered because the edit came with the
    first results posting (the rule id is kept). Dates carry ``delta_days`` (both
    day-precise) or ``delta_months``; positive means later.
    """

    category: Category
    severity: Severity
    kind: Kind
    path: str
    old: Any
    new: Any
    summary: str
    rule: str
    milestone: bool = False
    context: str | None = None
    delta_days: int | None = None
    delta_months: int | None = None

    @property
    def flagged(self) -> bool:
        """What a person should see: anything but registry bookkeeping, and every milestone."""
        return self.severity is not Severity.ADMIN or self.milestone

    @property
    def element(self) -> str | None:
        """For an outcome change, the element that changed (``timepoint``, ``metric``, ...)."""
        from regsync.rules import RULES  # rules builds on this module

        found = RULES.get(self.rule)
        return found.element if found is not None else None

    def sort_key(self) -> tuple[int, int, str, str]:
        """Most severe first, then category order, then path."""
        return (self.severity.rank, self.category.rank, self.path, self.kind.value)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (``--json`` of diff, changes and sync)."""
        out: dict[str, Any] = {
            "category": self.category.value,
            "severity": self.severity.value,
            "kind": self.kind.value,
            "path": self.path,
            "old": self.old,
            "new": self.new,
            "summary": self.summary,
            "rule": self.rule,
            "milestone": self.milestone,
        }
        for key in ("context", "delta_days", "delta_months", "element"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.category is Category.OBLIGATIONS:  # old/new are the obligation before/after
            out["obligation"] = {"before": self.old, "after": self.new}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """The inverse of ``to_dict`` (also reads a stored ``changes`` row, decoded)."""
        return cls(
            category=Category(data["category"]),
            severity=Severity(data["severity"]),
            kind=Kind(data["kind"]),
            path=data["path"],
            old=data.get("old"),
            new=data.get("new"),
            summary=data["summary"],
            rule=data["rule"],
            milestone=bool(data.get("milestone")),
            context=data.get("context"),
            delta_days=data.get("delta_days"),
            delta_months=data.get("delta_months"),
        )


def sort_changes(changes: Iterable[Change]) -> list[Change]:
    return sorted(changes, key=Change.sort_key)


def milestone_label(change: Change) -> str:
    """A milestone in a few words: ``RECRUITING``, ``start date ACTUAL``, ``results posted``."""
    new = change.new
    if isinstance(new, str) and len(new) <= 40 and change.path.endswith("overallStatus"):
        return new
    if change.path.endswith("DateStruct") and isinstance(new, dict) and new.get("type") == "ACTUAL":
        return change.summary.split(":")[0].lower() + " ACTUAL"  # "start date ACTUAL"
    if change.category is Category.RESULTS:
        return "results posted"
    return change.summary if len(change.summary) <= 60 else change.summary[:57] + "..."


@dataclass(frozen=True)
class CategorySummary:
    category: Category
    milestones: tuple[str, ...]


@dataclass(frozen=True)
class ChangeSummary:
    """What a set of changes amounts to; the one source for a sync line's text and JSON."""

    flagged: tuple[Change, ...]
    categories: tuple[CategorySummary, ...]  # flagged categories, most severe first
    max_severity: Severity | None  # of the flagged changes; None when there are none
    admin_count: int
    total: int
    registry_count: int = 0  # structural changes the registry made across studies (regsync.sentinel)

    @property
    def protocol_change(self) -> bool:
        """False when every change is registry bookkeeping."""
        return bool(self.flagged)

    @property
    def registry_only(self) -> bool:
        """Every change is the registry's structural change, none the sponsor's: said once
        for the run, so a cron line (``sync --quiet``) leaves the study out."""
        return self.total > 0 and self.registry_count == self.total

    @property
    def milestones(self) -> list[str]:
        return [label for c in self.categories for label in c.milestones]

    def headline(self) -> str:
        """``status (milestone: RECRUITING), dates`` for a changed study."""
        if not self.total:
            return "reordered only (no content change)"
        if self.registry_only:
            return "registry-side change only (not the sponsor's)"
        if not self.categories:
            return "no protocol change"
        return ", ".join(
            f"{c.category} (milestone: {', '.join(c.milestones)})" if c.milestones else str(c.category)
            for c in self.categories
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": [c.category.value for c in self.categories],
            "milestones": self.milestones,
            "max_severity": self.max_severity.value if self.max_severity else None,
            "protocol_change": self.protocol_change,
            "changes": [c.to_dict() for c in self.flagged],
        }


def summarize(changes: Iterable[Change]) -> ChangeSummary:
    """Group the flagged changes by category, most severe first, with their milestones."""
    every = list(changes)
    flagged = tuple(sort_changes(c for c in every if c.flagged))
    groups: dict[Category, list[str]] = {}
    for change in flagged:
        labels = groups.setdefault(change.category, [])
        if change.milestone:
            labels.append(milestone_label(change))
    return ChangeSummary(
        flagged=flagged,
        categories=tuple(CategorySummary(cat, tuple(labels)) for cat, labels in groups.items()),
        max_severity=Severity.max(c.severity for c in flagged),
        admin_count=sum(1 for c in every if not c.flagged),
        total=len(every),
        registry_count=sum(1 for c in every if c.category is Category.REGISTRY),
    )


@dataclass(frozen=True)
class StoredChange:
    """A change as the store keeps it: which study, which pair of versions (local ids, and
    the labels the chain gives them), and its three dates: ``submitted`` (the newer
    version's lastUpdateSubmitDate), ``posted`` (its lastUpdatePostDate: when the public
    could see it) and ``detected_at`` (when regsync learned of it)."""

    nct_id: str
    from_version: int
    to_version: int
    detected_at: str
    change: Change
    submitted: str | None = None
    posted: str | None = None
    from_label: str | None = None
    to_label: str | None = None
    registry_version: int | None = None  # of the newer version, 1-based as on the registry's website
    from_registry_version: int | None = None  # of the older one, 1-based

    @property
    def registry_date(self) -> str | None:  # the name before issue 19
        return self.submitted

    @property
    def pair(self) -> tuple[str, str]:
        """The pair as every output names it."""
        return (self.from_label or str(self.from_version), self.to_label or str(self.to_version))

    def to_dict(self) -> dict[str, Any]:
        """A change's JSON: ``nct_id``, ``from_version`` and ``to_version`` (as the chain
        names them: the registry's number once known, 1-based; ``"3a"`` for a variant), the
        change, and ``submitted``, ``posted``, ``detected_at``, ``registry_version``."""
        a, b = self.pair
        return {
            "nct_id": self.nct_id,
            "from_version": label_value(a),
            "to_version": label_value(b),
            **self.change.to_dict(),
            "submitted": self.submitted,
            "posted": self.posted,
            "detected_at": self.detected_at,
            "registry_version": self.registry_version,
        }


def label_value(label: str | int | None) -> str | int | None:
    """A version's name as JSON: a number, or a string for a variant (``"3a"``)."""
    return int(label) if isinstance(label, str) and label.isdigit() else label
