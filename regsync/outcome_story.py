"""``regsync outcomes NCT``: the primary outcomes as first registered, then every change to
them, dated and placed against the study's milestones (the quantity outcome-switching
studies report: COMPare, Holst et al.)."""

from __future__ import annotations

from typing import Any

from regsync import timeline
from regsync.model import label_value
from regsync.normalize import normalize_record
from regsync.store import Store, _get
from regsync.urls import history_url



def _primary(record: dict[str, Any]) -> list[dict[str, str]]:
    items = _get(record, "protocolSection", "outcomesModule", "primaryOutcomes")
    if not isinstance(items, list):
        return []
    return [
        {"measure": str(i.get("measure") or ""), "timeFrame": str(i.get("timeFrame") or "")}
        for i in items if isinstance(i, dict)
    ]


def _place(day: str | None, milestone: str | None) -> str:
    """``before``, ``after`` or ``unknown``: where an edit submitted on ``day`` falls against a
    milestone date. Month-only dates ("2026-03") compare as their first day: a same-month
    edit counts as after."""
    if not day or not milestone:
        return "unknown"
    return "before" if day < milestone else "after"


def story(store: Store, nct_id: str) -> dict[str, Any]:
    """The story as data (``outcomes --json``): the first version and each change to the
    primary outcomes with its three dates, the versions as the chain names them, and where it
    falls against start, primary completion and results submission."""
    entries = timeline.entries(store, nct_id)
    records = {e.version: normalize_record(store.record(nct_id, e.version)) for e in entries}
    first = entries[0]
    latest = records[entries[-1].version]
    status = _get(latest, "protocolSection", "statusModule") or {}
    start = _get(status, "startDateStruct", "date")
    completion = _get(status, "primaryCompletionDateStruct", "date")
    results = _get(status, "resultsFirstSubmitDate")
    changes = []
    for older, newer in zip(entries, entries[1:], strict=False):
        before = _primary(records[older.version])
        after = _primary(records[newer.version])
        if before == after:
            continue
        # Placed by the newer record's own lastUpdateSubmitDate, never by when regsync saw it.
        day = newer.submitted
        a, b = older.registry_version, newer.registry_version
        changes.append({
            "submitted": newer.submitted,
            "posted": newer.posted,
            "detected_at": newer.fetched_at,
            "from_version": label_value(older.label),
            "to_version": label_value(newer.label),
            "removed": [o for o in before if o not in after],
            "added": [o for o in after if o not in before],
            "start": _place(day, start),
            "primary_completion": _place(day, completion),
            "results": _place(day, results) if results else "unknown",
            "compare_url": None if a is None or b is None else history_url(nct_id, a, b),
        })
    return {
        "nct_id": nct_id,
        # Registered: the registry's first version is stored (a backfill or a fill-in read it).
        "registered": first.registry_version == 1,
        "first": {
            "version": label_value(first.label), "registry_version": first.registry_version,
            "submitted": first.submitted, "posted": first.posted, "detected_at": first.fetched_at,
            "primary_outcomes": _primary(records[first.version]),
        },
        "start_date": start, "primary_completion_date": completion, "results_first_submit_date": results,
        "changes": changes,
    }


_WORDS = {
    "start": ("the start date", "start_date"),
    "primary_completion": ("primary completion", "primary_completion_date"),
    "results": ("results submission", "results_first_submit_date"),
}


def story_text(s: dict[str, Any]) -> str:
    first = s["first"]
    if s["registered"]:
        head = f"{s['nct_id']} primary outcomes as first registered (v{first['version']}, submitted {first['submitted']}):"
    else:
        head = (f"{s['nct_id']} primary outcomes in the first version regsync stored (v{first['version']}, "
                f"submitted {first['submitted'] or 'date unknown'}; `regsync backfill {s['nct_id']}` reads the "
                "registration and every version since):")
    lines = [head]
    for n, o in enumerate(first["primary_outcomes"], 1):
        lines.append(f"  {n}. {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
    if not first["primary_outcomes"]:
        lines.append("  (none)")
    if not s["changes"]:
        lines.append("no change to them since")
        return "\n".join(lines)
    n = len(s["changes"])
    lines.append(f"{n} change{'s' * (n != 1)} to them:")
    for c in s["changes"]:
        places = []
        for key, (words, date_key) in _WORDS.items():
            if c[key] != "unknown":
                places.append(f"{c[key]} {words} ({s[date_key]})")
        if not s["results_first_submit_date"]:
            places.append("no results submitted")
        when = "; ".join(places)
        lines.append(f"  {c['submitted'] or '(no date)'}  v{c['from_version']} -> v{c['to_version']}"
                     f" (detected {c['detected_at'][:10]}): {when}")
        for o in c["removed"]:
            lines.append(f"    - {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
        for o in c["added"]:
            lines.append(f"    + {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
        if c["compare_url"]:
            lines.append(f"    {c['compare_url']}")
    return "\n".join(lines)
