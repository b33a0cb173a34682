"""``regsync outcomes NCT``: the primary outcomes as first registered, then every change to
them, dated and placed against the study's milestones (the quantity outcome-switching
studies report: COMPare, Holst et al.)."""

from __future__ import annotations

from typing import Any

from regsync.normalize import normalize_record
from regsync.store import Store, _get

COMPARE_URL = "https://clinicaltrials.gov/study/{nct}?tab=history&a={a}&b={b}"


def _primary(record: dict[str, Any]) -> list[dict[str, str]]:
    items = _get(record, "protocolSection", "outcomesModule", "primaryOutcomes")
    if not isinstance(items, list):
        return []
    return [
        {"measure": str(i.get("measure") or ""), "timeFrame": str(i.get("timeFrame") or "")}
        for i in items if isinstance(i, dict)
    ]


def _date(row: dict[str, Any]) -> str:
    return str(row.get("registry_date") or row["fetched_at"][:10])


def _when(day: str, milestone: str | None, before: str, after: str) -> str | None:
    if not milestone:
        return None
    # Month-only dates ("2026-03") compare as their first day: a same-month edit counts as after.
    return f"{before} ({milestone})" if day < milestone else f"{after} ({milestone})"


def story(store: Store, nct_id: str) -> dict[str, Any]:
    rows = store.history(nct_id)
    records = {r["version"]: store.record(nct_id, r["version"]) for r in rows}
    first = rows[0]
    latest = records[rows[-1]["version"]]
    status = _get(latest, "protocolSection", "statusModule") or {}
    start = _get(status, "startDateStruct", "date")
    completion = _get(status, "primaryCompletionDateStruct", "date")
    results = _get(status, "resultsFirstSubmitDate")
    changes = []
    for older, newer in zip(rows, rows[1:], strict=False):
        before = _primary(normalize_record(records[older["version"]]))
        after = _primary(normalize_record(records[newer["version"]]))
        if before == after:
            continue
        day = _date(newer)
        entry: dict[str, Any] = {
            "date": day,
            "from_version": older["version"],
            "to_version": newer["version"],
            "from_registry_version": older.get("registry_version"),
            "to_registry_version": newer.get("registry_version"),
            "removed": [o for o in before if o not in after],
            "added": [o for o in after if o not in before],
            "start": _when(day, start, "before the start date", "after the start date"),
            "primary_completion": _when(day, completion, "before primary completion", "after primary completion"),
            "results": _when(day, results, "before results submission", "after results submission")
            or "no results submitted",
        }
        a, b = older.get("registry_version"), newer.get("registry_version")
        entry["compare_url"] = None if a is None or b is None else COMPARE_URL.format(nct=nct_id, a=a + 1, b=b + 1)
        changes.append(entry)
    return {
        "nct_id": nct_id,
        "first": {
            "version": first["version"], "registry_version": first.get("registry_version"), "date": _date(first),
            "primary_outcomes": _primary(records[first["version"]]),
        },
        "start_date": start, "primary_completion_date": completion, "results_first_submit_date": results,
        "changes": changes,
    }


def story_text(s: dict[str, Any]) -> str:
    first = s["first"]
    reg = f", registry version {first['registry_version']}" if first["registry_version"] is not None else ""
    lines = [f"{s['nct_id']} primary outcomes as first registered (v{first['version']}{reg}, {first['date']}):"]
    for n, o in enumerate(first["primary_outcomes"], 1):
        lines.append(f"  {n}. {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
    if not first["primary_outcomes"]:
        lines.append("  (none)")
    if not s["changes"]:
        lines.append("no change to them since")
        return "\n".join(lines)
    lines.append(f"{len(s['changes'])} change{'s' * (len(s['changes']) != 1)} to them:")
    for c in s["changes"]:
        regs = ""
        if c["from_registry_version"] is not None and c["to_registry_version"] is not None:
            regs = f" (registry {c['from_registry_version']} -> {c['to_registry_version']})"
        when = "; ".join(x for x in (c["start"], c["primary_completion"], c["results"]) if x)
        lines.append(f"  {c['date']}  v{c['from_version']} -> v{c['to_version']}{regs}: {when}")
        for o in c["removed"]:
            lines.append(f"    - {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
        for o in c["added"]:
            lines.append(f"    + {o['measure']}" + (f" [{o['timeFrame']}]" if o["timeFrame"] else ""))
        if c["compare_url"]:
            lines.append(f"    {c['compare_url']}")
    return "\n".join(lines)
