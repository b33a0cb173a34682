"""Human-readable text for the CLI. Pure functions returning strings; colour via click.style
(click.echo drops it when the output is not a terminal)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import click

from regsync.diff import SEVERITIES as SEVERITY_ORDER
from regsync.store import TIME_FORMAT
from regsync.textdiff import render_text_diff

SEVERITY_COLOUR = {"critical": "red", "major": "yellow", "minor": "cyan", "admin": "bright_black"}


def _get(change, key, default=None):
    if isinstance(change, dict):
        return change.get(key, default)
    return getattr(change, key, default)


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def milestone_label(change) -> str:
    new = _get(change, "new")
    path = _get(change, "path", "")
    if isinstance(new, str) and len(new) <= 40 and path.endswith("overallStatus"):
        return new
    summary = _get(change, "summary", "")
    if path.endswith("DateStruct") and isinstance(new, dict) and new.get("type") == "ACTUAL":
        return summary.split(":")[0].lower() + " ACTUAL"  # "start date ACTUAL"
    if _get(change, "category") == "results":
        return "results posted"
    return summary if len(summary) <= 60 else summary[:57] + "..."


def change_headline(changes: Iterable) -> str:
    """`status (milestone: RECRUITING), dates` for a changed study; admin-only is said so."""
    changes = list(changes)
    if not changes:
        return "reordered only (no content change)"
    shown = [c for c in changes if _get(c, "severity") != "admin" or _get(c, "milestone")]
    if not shown:
        return "no protocol change"
    shown.sort(key=lambda c: severity_rank(_get(c, "severity")))
    parts: dict[str, list[str]] = {}
    for change in shown:
        labels = parts.setdefault(_get(change, "category"), [])
        if _get(change, "milestone"):
            labels.append(milestone_label(change))
    return ", ".join(
        f"{category} (milestone: {', '.join(labels)})" if labels else category
        for category, labels in parts.items()
    )


def sync_line(outcome) -> str:
    who = outcome.nct_id
    if outcome.is_alias:
        who = f"{outcome.requested_id} -> {outcome.nct_id} (alias)"
    if outcome.status == "new":
        return f"{who} new (v{outcome.version})"
    if outcome.status == "changed":
        return (
            f"{who} changed v{outcome.previous_version} -> v{outcome.version}: "
            f"{change_headline(outcome.changes)}"
        )
    if outcome.status == "unchanged":
        return f"{who} unchanged (v{outcome.version})"
    if outcome.status == "removed":
        return f"{who} removed: {outcome.error}"
    return error_line(outcome)


def error_line(outcome) -> str:
    message = outcome.error or "failed"
    if outcome.nct_id and outcome.nct_id != "-" and not message.startswith(outcome.nct_id):
        message = f"{outcome.nct_id}: {message}"
    return f"error: {message}"


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def history_text(nct_id: str, rows: list[dict]) -> str:
    view = [
        {
            "version": r["version"],
            "fetched_at": r["fetched_at"][:19].replace("T", " "),
            "status": r["overall_status"],
            "last_update_posted": r["last_update_post_date"],
            "hash": r["content_hash"][:12],
        }
        for r in rows
    ]
    return f"{nct_id}: {len(rows)} version{'s' * (len(rows) != 1)}\n" + table(
        view, ["version", "fetched_at", "status", "last_update_posted", "hash"]
    )


def _badge(severity: str) -> str:
    return click.style(f"{severity:<8}", fg=SEVERITY_COLOUR.get(severity), bold=severity == "critical")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def diff_text(nct_id: str, from_v: int, to_v: int, changes: list, *, show_admin: bool = False) -> str:
    head = click.style(f"{nct_id} v{from_v} -> v{to_v}", bold=True)
    admin = [c for c in changes if _get(c, "severity") == "admin" and not _get(c, "milestone")]
    shown = changes if show_admin else [c for c in changes if c not in admin]
    lines = [head]
    if not changes:
        lines.append("no changes (the versions differ only in order or in registry-computed fields)")
        return "\n".join(lines)
    if not shown:
        lines.append("no protocol change")
    groups: dict[str, list] = {}
    for change in sorted(shown, key=lambda c: severity_rank(_get(c, "severity"))):
        groups.setdefault(_get(change, "category"), []).append(change)
    for category, items in groups.items():
        lines.append("")
        lines.append(click.style(category, bold=True))
        for change in items:
            tag = "  [milestone]" if _get(change, "milestone") else ""
            ctx = f"  ({_get(change, 'context')})" if _get(change, "context") else ""
            lines.append(f"  {_badge(_get(change, 'severity'))} {_get(change, 'summary')}{tag}{ctx}")
            old, new = _get(change, "old"), _get(change, "new")
            if isinstance(old, str) and isinstance(new, str) and (len(old) > 80 or len(new) > 80 or "\n" in old + new):
                lines.append(_indent(text_diff(old, new), "           "))
    if admin and not show_admin:
        lines.append("")
        lines.append(
            click.style(
                f"+ {len(admin)} registry bookkeeping change{'s' * (len(admin) != 1)} (admin; --all shows them)",
                fg="bright_black",
            )
        )
    return "\n".join(lines)


def text_diff(old: str, new: str) -> str:
    return render_text_diff(old, new)


def changes_text(rows: list[dict]) -> str:
    if not rows:
        return "no flagged changes"
    lines = []
    for r in rows:
        when = (r.get("detected_at") or "")[:10]
        tag = " [milestone]" if r.get("milestone") else ""
        lines.append(
            f"{when}  {r['nct_id']} v{r['from_version']}->v{r['to_version']}  "
            f"{_badge(r['severity'])} {r['category']:<13} {r['summary']}{tag}"
        )
    return "\n".join(lines)


def status_text(runs: list[dict], counts: dict, db_path: str, size: int, last_complete: dict | None) -> str:
    lines = [
        f"database: {db_path} ({_size(size)})",
        f"studies: {counts['studies']} ({counts['watched']} watched, {counts['queries']} query watches, "
        f"{counts['removed']} removed from the registry)",
        f"versions: {counts['versions']}; changes: {counts['changes']} "
        f"({counts['flagged_changes']} flagged, the rest registry bookkeeping)",
    ]
    if last_complete:
        lines.append(
            f"last complete run: #{last_complete['id']} at {last_complete['started_at'][:19].replace('T', ' ')} "
            f"(registry data of {last_complete['data_timestamp'] or 'unknown'})"
        )
    if not runs:
        lines.append("no runs yet")
        return "\n".join(lines)
    lines.append("")
    view = [
        {
            "run": r["id"],
            "started": r["started_at"][:19].replace("T", " "),
            "duration": _duration(r),
            "outcome": r["outcome"],
            "mode": r["mode"] or "",
            "checked": r["studies_checked"],
            "new": r["new_studies"],
            "changed": r["changed"],
            "errors": r["errors"],
            "requests": r["requests"],
        }
        for r in runs
    ]
    lines.append(table(view, list(view[0])))
    for r in runs[:1]:
        for err in r["error_messages"]:
            lines.append(f"  run {r['id']} error: {err['error']}")
    return "\n".join(lines)


def duration_seconds(run: dict) -> float | None:
    """How long a run took; None while it runs, or when it was interrupted (its ended_at is
    when the next run found it dead, not when it died)."""
    if not run.get("ended_at") or run.get("outcome") in ("running", "interrupted"):
        return None
    try:
        ended = datetime.strptime(run["ended_at"], TIME_FORMAT)
        return (ended - datetime.strptime(run["started_at"], TIME_FORMAT)).total_seconds()
    except ValueError:
        return None


def _duration(run: dict) -> str:
    seconds = duration_seconds(run)
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
