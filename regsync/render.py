"""Human-readable text for the CLI. Pure functions returning strings; colour via click.style
(click.echo drops it when the output is not a terminal)."""

from __future__ import annotations

import os
from datetime import datetime
from collections.abc import Sequence
from typing import Any

import click

from regsync.model import Change, Severity, StoredChange, summarize
from regsync.store import TIME_FORMAT
from regsync.text import plural, printable, text_diff

SEVERITY_COLOUR = {
    Severity.CRITICAL: "red", Severity.MAJOR: "yellow", Severity.MINOR: "cyan", Severity.ADMIN: "bright_black",
}

# A text longer than this (or spanning lines) is shown as a word diff under its change.
LONG_TEXT = 80


def sync_line(outcome: Any) -> str:
    who = outcome.nct_id
    if outcome.is_alias:
        who = f"{outcome.requested_id} -> {outcome.nct_id} (alias)"
    if outcome.status == "new":
        return f"{who} new (v{outcome.version})"
    if outcome.status == "changed":
        # The most severe flagged change in brackets: a cron mail says how much it matters.
        summary = summarize(outcome.changes)
        badge = f" [{summary.max_severity}]" if summary.max_severity else ""
        filled = getattr(outcome, "filled_in", 0)
        note = f" ({filled} missed registry version{'s' * (filled != 1)} filled in)" if filled else ""
        return printable(f"{who} changed v{outcome.previous_version} -> v{outcome.version}{badge}: {summary.headline()}{note}")
    if outcome.status == "unchanged":
        return f"{who} unchanged (v{outcome.version})"
    if outcome.status == "removed":
        if outcome.removed_since:
            return printable(f"{who} removed (since {outcome.removed_since[:10]}): {outcome.error}")
        return printable(f"{who} removed: {outcome.error}")
    return error_line(outcome)


def back_line(outcome: Any) -> str:
    """Said before the sync line of a study the registry returns again after a removal."""
    return f"{outcome.nct_id} is back in the registry (removed since {outcome.removed_since[:10]})"


def error_line(outcome: Any) -> str:
    message = outcome.error or "failed"
    if outcome.nct_id and outcome.nct_id != "-" and not message.startswith(outcome.nct_id):
        message = f"{outcome.nct_id}: {message}"
    return printable(f"error: {message}")


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[("" if r.get(c) is None else printable(str(r.get(c)))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def utc_time(stamp: str) -> str:
    """A stored time (ISO 8601, UTC, with Z) as people read it, saying it is UTC: a cron box
    and the person reading its output rarely share a time zone."""
    return stamp[:19].replace("T", " ") + " UTC"


def history_text(nct_id: str, entries: Sequence[Any], removed_at: str | None = None, note: str = "") -> str:
    """One row per version of the study's chain (regsync.timeline.Entry), in the registry's
    order: its name, the registry's dates (submitted, posted), when regsync stored it, and
    where it came from."""
    view = [
        {
            "version": e.label,
            "submitted": e.submitted or "",
            "posted": e.posted or "",
            "stored": utc_time(e.fetched_at),
            "source": "+".join("history" if s == "registry-history" else s for s in e.sources),
            "status": e.row.get("overall_status") or "",
            "hash": str(e.row.get("content_hash") or "")[:12],
        }
        for e in entries
    ]
    removed = f"; removed from the registry since {removed_at[:10]} (stored versions kept)" if removed_at else ""
    n = len(entries)
    head = f"{nct_id}: {n} version{'s' * (n != 1)}{removed}" + (f" ({note})" if note else "")
    return head + "\n" + table(view, ["version", "submitted", "posted", "stored", "source", "status", "hash"])


def _style(text: str, **styles: Any) -> str:
    """click.style, unless NO_COLOR is set (https://no-color.org): click.echo already drops
    colour when the output is not a terminal; NO_COLOR drops it at a terminal too."""
    if os.environ.get("NO_COLOR"):
        return text
    return click.style(text, **styles)


def _badge(severity: Severity) -> str:
    return _style(f"{severity:<8}", fg=SEVERITY_COLOUR.get(severity), bold=severity is Severity.CRITICAL)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def history_as_of_text(nct_id: str, entries: Sequence[Any], as_of: str) -> str:
    """``history --as-of``: the versions the public registry showed (or regsync had fetched)
    by the end of ``as_of``, and not a word about later ones (a point-in-time view must not
    look ahead)."""
    if not entries:
        return f"{nct_id} as of {as_of}: no version shown yet"
    _, _, rest = history_text(nct_id, entries).partition("\n")
    return f"{nct_id} as of {as_of}: {len(entries)} version{'s' * (len(entries) != 1)}\n{rest}"


def diff_text(nct_id: str, from_v: int | str, to_v: int | str, changes: list[Change], *, show_admin: bool = False,
              dates: str = "") -> str:
    """Changes grouped by category, most severe first; bookkeeping counted unless shown."""
    lines = [_style(f"{nct_id} v{from_v} -> v{to_v}", bold=True) + (f"  {dates}" if dates else "")]
    if not changes:
        lines.append("no changes (the versions differ only in order or in registry-computed fields)")
        return "\n".join(lines)
    summary = summarize(changes)
    shown = sorted(changes, key=Change.sort_key) if show_admin else list(summary.flagged)
    if not summary.flagged:
        lines.append("no protocol change")
    groups: dict[str, list[Change]] = {}
    for change in shown:  # most severe first: sort_key order
        groups.setdefault(change.category, []).append(change)
    for category, items in groups.items():
        lines += ["", _style(category, bold=True)]
        for change in items:
            tag = "  [milestone]" if change.milestone else ""
            ctx = f"  ({printable(change.context)})" if change.context else ""
            lines.append(f"  {_badge(change.severity)} {printable(change.summary)}{tag}{ctx}")
            old, new = change.old, change.new
            if isinstance(old, str) and isinstance(new, str) and (
                len(old) > LONG_TEXT or len(new) > LONG_TEXT or "\n" in old + new
            ):
                lines.append(_indent(printable(text_diff(old, new)), "           "))
    if summary.admin_count and not show_admin:
        n = summary.admin_count
        lines += ["", _style(
            f"+ {n} registry bookkeeping change{'s' * (n != 1)} (admin; --all shows them)", fg="bright_black"
        )]
    return "\n".join(lines)


def changes_text(rows: list[StoredChange]) -> str:
    if not rows:
        return "no flagged changes"
    lines = []
    for r in rows:
        c = r.change
        tag = " [milestone]" if c.milestone else ""
        a, b = r.pair
        # The registry's date first (when the sponsor submitted it), detection beside it.
        when = r.submitted or r.detected_at[:10]
        lines.append(
            f"{when}  {r.nct_id} v{a}->v{b}  "
            f"{_badge(c.severity)} {c.category:<13} {printable(c.summary)}{tag} (detected {r.detected_at[:10]})"
        )
    return "\n".join(lines)


# The errors of the latest run that status lists; --json has them all.
STATUS_ERRORS = 10


def status_text(
    runs: list[dict], counts: dict, db_path: str, size: int, last_complete: dict | None,
    clock_warnings: list[str] | None = None,
) -> str:
    lines = [
        f"database: {db_path} ({_size(size)})",
        f"studies: {counts['studies']} ({counts['watched']} watched, {plural(counts['queries'], 'query watch', 'query watches')}, "
        f"{counts['removed']} removed from the registry)",
        f"versions: {counts['versions']}; changes: {counts['changes']} "
        f"({counts['flagged_changes']} flagged, the rest registry bookkeeping)",
    ]
    if last_complete:
        lines.append(
            f"last complete run: #{last_complete['id']} at {last_complete['started_at'][:19].replace('T', ' ')} UTC "
            f"(registry data of {last_complete['data_timestamp'] or 'unknown'})"
        )
    if not runs:
        lines.append("no runs yet")
        return "\n".join(lines)
    lines.append("")
    view = [
        {
            "run": r["id"],
            "started": r["started_at"][:19].replace("T", " ") + " UTC",
            "duration": _duration(r),
            "outcome": r["outcome"],
            "command": r.get("command") or "",
            # A run with nothing to do fetched nothing: neither incremental nor full.
            "mode": "-" if r["mode"] == "nothing-to-do" else r["mode"] or "",
            "checked": r["studies_checked"],
            # A backfill stores registry versions of studies it was given: none is new or
            # changed in the sync's sense, its count is the versions column.
            "new": "-" if backfill else r["new_studies"],
            "changed": "-" if backfill else r["changed"],
            "versions": r["versions_stored"] if backfill else r["new_studies"] + r["changed"],
            "errors": r["errors"],
            "requests": r["requests"],
        }
        for r in runs
        for backfill in [r.get("versions_stored") is not None]
    ]
    lines.append(table(view, list(view[0])))
    for r in runs[:1]:
        errors = r["error_messages"]
        for err in errors[:STATUS_ERRORS]:
            lines.append(f"  run {r['id']} error: {err['error']}")
        if len(errors) > STATUS_ERRORS:
            lines.append(f"  run {r['id']}: {len(errors) - STATUS_ERRORS} more errors (status --json lists them)")
    for r in runs:  # rare, and each one explains many versions: said for every run shown
        for row in r.get("registry_changes") or ():
            from regsync.sentinel import Finding

            lines.append(f"  run {r['id']}: {Finding.from_row(row).line()}")
    for warning in clock_warnings or ():
        lines.append(f"clock: {warning}")
    return "\n".join(lines)


def outbox_lines(outbox: dict[str, list[dict]]) -> list[str]:
    """The notifications not delivered: one line for those still to be tried, one line for
    each message given up (a failed message is never retried: it is said here)."""
    lines = []
    pending = outbox.get("pending", [])
    if pending:
        waiting = [r["next_attempt_after"] for r in pending if r["next_attempt_after"]]
        retry = f"; next attempt after {min(waiting)[:19].replace('T', ' ')} UTC" if waiting else ""
        errors = [r["last_error"] for r in pending if r["last_error"]]
        last = f" (last error: {errors[-1]})" if errors else ""
        lines.append(f"notifications pending: {len(pending)}{last}; the next sync delivers them{retry}")
    for r in outbox.get("failed", []):
        lines.append(
            f"notification failed: {r['channel']} message of run {r['run_id']} given up after "
            f"{plural(r['attempts'], 'attempt')} ({r['last_error']})"
        )
    return lines


# A run dated later than now by more than this says the clock was (or is) wrong.
CLOCK_SLACK_SECONDS = 300.0


def clock_warnings(runs: list[dict], now: str) -> list[str]:
    """What in the ledger (newest run first) says the local clock was wrong: a run that
    started before the one before it, or a start in the future."""
    warnings = []
    try:
        now_t = datetime.strptime(now, TIME_FORMAT)
    except ValueError:
        return []
    for newer, older in zip(runs, runs[1:]):
        if newer["started_at"] < older["started_at"]:
            warnings.append(
                f"run {newer['id']} started at {_when(newer)}, before run {older['id']} ({_when(older)}): "
                "the clock went back"
            )
    for r in runs:
        try:
            started = datetime.strptime(r["started_at"], TIME_FORMAT)
        except ValueError:
            continue
        if (started - now_t).total_seconds() > CLOCK_SLACK_SECONDS:
            warnings.append(f"run {r['id']} started at {_when(r)}, in the future: the clock was ahead")
    return warnings


def _when(run: dict) -> str:
    return str(run["started_at"])[:19].replace("T", " ")


def duration_seconds(run: dict) -> float | None:
    """How long a run took: as measured by a monotonic clock (schema 0005 on). Otherwise
    from its timestamps: None while it runs, when it was interrupted (its ended_at is when
    the next run found it dead, not when it died), or when the clock went back meanwhile."""
    if run.get("duration_seconds") is not None:
        return float(run["duration_seconds"])
    if not run.get("ended_at") or run.get("outcome") in ("running", "interrupted"):
        return None
    try:
        ended = datetime.strptime(run["ended_at"], TIME_FORMAT)
        seconds = (ended - datetime.strptime(run["started_at"], TIME_FORMAT)).total_seconds()
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _duration(run: dict) -> str:
    seconds = duration_seconds(run)
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


# -- obligations -----------------------------------------------------------------------------


def obligations_text(rows: list[Any], today: Any) -> str:
    """``regsync obligations``: one row a study (``regsync.obligations.Tracked``)."""
    if not rows:
        return "no stored study matches"
    view = [
        {
            "nct_id": r.nct_id,
            "applicability": str(r.obligation.applicability),
            "due": r.obligation.due_date.isoformat() if r.obligation.due_date else "",
            "state": r.obligation.state_words(),
            "deadline moved": f"v{r.moved_in} {r.moved_on}" if r.moved_in is not None else "",
        }
        for r in rows
    ]
    text = f"results obligations on {today.isoformat()}\n" + table(view, list(view[0]))
    # The updates a record appears to owe are what compliance staff act on, so the table
    # a person reads carries them too, not only --json: one line each, under the table.
    duties = [(r.nct_id, d.text) for r in rows for d in r.obligation.duties]
    if duties:
        text += "\n\nrecord updates that appear due (42 CFR 11.64):\n" + "\n".join(
            f"{nct_id}  {duty}" for nct_id, duty in duties
        )
    return text


def obligations_status_line(counts: dict[Any, int], today: Any) -> str:
    """``regsync status``: studies per results state, judged today."""
    words = {
        "overdue": "overdue", "due": "due (in grace)", "submitted": "submitted (QC)",
        "reported-late": "reported late", "reported": "reported on time", "not-yet-due": "not yet due",
        "not-applicable": "not applicable",
    }
    return f"obligations on {today.isoformat()}: " + ", ".join(
        f"{n} {words[str(state)]}" for state, n in counts.items()
    )
