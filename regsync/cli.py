"""The command line: parse, call the library, render. No SQL and no HTTP here."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import click
import orjson

from regsync import DEFAULT_API_URL, __version__, render
from regsync.model import Category, Severity
from regsync.errors import InvalidNctId, RegsyncError, StoreError, UnknownVersion, UsageError
from regsync.ids import normalize_nct_id
from regsync.text import trunc
from regsync.store import Store

# What `regsync sync` syncs when no IDs are given and nothing is watched.
DEFAULT_NCT_ID = "NCT07240987"


@dataclass(frozen=True)
class Clocks:
    """How the commands wait and tell time: back-off, pacing and --wait. Tests hand in their
    own (``CliRunner().invoke(cli, args, obj=Clocks(sleep=slept.append))``), so no test sleeps
    for real or patches a module."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    # The day results obligations are judged on: UTC, like every time regsync stores.
    today: Callable[[], date] = lambda: datetime.now(UTC).date()


class Context:
    def __init__(self, db_path: str, api_url: str, clocks: Clocks):
        self.db_path = db_path
        self.api_url = api_url
        self.clocks = clocks


def _dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _line(value) -> str:
    return orjson.dumps(value).decode()


def nct_ids_argument(values: tuple[str, ...]) -> list[str]:
    ids = []
    for value in values:
        if not value.strip():
            raise InvalidNctId(value)
        for part in value.replace(",", " ").split():
            ids.append(normalize_nct_id(part))
    return list(dict.fromkeys(ids))


def _setup_logging(verbose: int, log_file: str | None) -> None:
    """Logs to stderr (-v) and/or a file. Without either, the library stays silent: its
    warnings go nowhere rather than to Python's last-resort handler. Imported here, not at
    the top: a read command without -v never loads logging."""
    import logging

    root = logging.getLogger("regsync")
    root.setLevel(logging.DEBUG)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        console.setFormatter(fmt)
        root.addHandler(console)
    if log_file:
        try:
            logfile = logging.FileHandler(log_file)
        except OSError as exc:
            raise click.BadParameter(f"cannot write {log_file}: {exc.strerror}", param_hint="--log-file") from None
        logfile.setLevel(logging.DEBUG)
        logfile.setFormatter(fmt)
        root.addHandler(logfile)
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    root.propagate = False


class RegsyncGroup(click.Group):
    """Every error as one line on stderr (`error: ...`) with its documented exit code, for
    every command: click's usage errors (2) here in ``main``, the library's in ``invoke``."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RegsyncError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sqlite3.Error as exc:
            # Raised after the database was opened (disk I/O error, database locked past the
            # busy timeout, a page found malformed): a store error like any other.
            click.echo(f"error: database {getattr(ctx.obj, 'db_path', '')} cannot be used: {exc}", err=True)
            sys.exit(StoreError.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:
            # A bare `regsync` (or `regsync watch`) asks for help: give it, not an error.
            click.echo(exc.ctx.get_help() if exc.ctx else self.get_help(click.Context(self)))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(0)


@click.group(cls=RegsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regsync")
@click.option(
    "--db", "db_path", default="regsync.db", envvar="REGSYNC_DB", show_default=True,
    type=click.Path(dir_okay=False), help="SQLite database file [env: REGSYNC_DB].",
)
@click.option(
    "--api-url", default=DEFAULT_API_URL, envvar="REGSYNC_API_URL", show_default=True,
    help="ClinicalTrials.gov API v2 base URL [env: REGSYNC_API_URL].",
)
@click.option("-v", "--verbose", count=True, help="Log requests, retries and timings to stderr (-vv: debug).")
@click.option("--log-file", type=click.Path(dir_okay=False), envvar="REGSYNC_LOG_FILE",
              help="Append a debug log with timestamps to this file [env: REGSYNC_LOG_FILE].")
@click.pass_context
def cli(ctx, db_path, api_url, verbose, log_file):
    """Keep a versioned local history of ClinicalTrials.gov records and flag what changed.

    Example:

    \b
        regsync sync                    # fetch NCT07240987 (the default) into ./regsync.db
        regsync watch add NCT00763412   # track more studies
        regsync changes --severity major
    """
    if verbose or log_file or "logging" in sys.modules:  # (re)configured, never stale
        _setup_logging(verbose, log_file)
    ctx.obj = Context(db_path, api_url, ctx.obj if isinstance(ctx.obj, Clocks) else Clocks())


def open_store(obj: Context) -> Store:
    """The database, for a read command (no lock, no migration)."""
    return Store.open_read(obj.db_path)


def open_for_writing(obj: Context, wait: float) -> Store:
    """The database, for a writing command: checks, the writer lock (waiting up to ``wait``
    seconds), migrations."""
    if not _logging_configured():  # writers may warn: silently, unless -v or --log-file
        _setup_logging(0, None)
    return Store.open_write(obj.db_path, wait=wait, clock=obj.clocks.monotonic, sleep=obj.clocks.sleep)


def _logging_configured() -> bool:
    import logging

    return bool(logging.getLogger("regsync").handlers)


def wait_option(fn):
    return click.option(
        "--wait", type=click.FloatRange(min=0), default=0, envvar="REGSYNC_WAIT", show_default=True,
        help="Seconds to wait for another regsync writing to the same database [env: REGSYNC_WAIT].",
    )(fn)


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


# -- sync ----------------------------------------------------------------------------------


@cli.command()
@click.argument("nct_ids", nargs=-1)
@json_option
@click.option("-q", "--quiet", is_flag=True, help="Print only new, changed, removed and failed studies.")
@click.option("--force", is_flag=True, help="Sync even if the registry's dataTimestamp has not moved.")
@click.option("--full", is_flag=True, help="Re-fetch every watched study, not only those updated (implies --force).")
@wait_option
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, envvar="REGSYNC_TIMEOUT", show_default=True,
              help="Seconds to wait for each HTTP response [env: REGSYNC_TIMEOUT].")
@click.option("--retries", type=click.IntRange(min=0), default=4, envvar="REGSYNC_RETRIES", show_default=True,
              help="Retries per request after 429, 5xx, timeouts and resets [env: REGSYNC_RETRIES].")
@click.option("--max-wait", type=click.FloatRange(min=0), default=120.0, envvar="REGSYNC_MAX_WAIT", show_default=True,
              help="Most seconds of back-off per request before giving up [env: REGSYNC_MAX_WAIT].")
@click.option("--delay", type=click.FloatRange(min=0), default=1.0, envvar="REGSYNC_DELAY", show_default=True,
              help="Least seconds between requests; the registry asks for 1 [env: REGSYNC_DELAY].")
@click.option("--recheck", type=click.FloatRange(0, 1), default=0.02, envvar="REGSYNC_RECHECK", show_default=True,
              help="Share of the watchlist re-verified on each incremental run [env: REGSYNC_RECHECK].")
@click.pass_obj
def sync(obj, nct_ids, as_json, quiet, force, full, wait, timeout, retries, max_wait, delay, recheck):
    """Fetch studies and store every version whose content changed.

    IDs come from the arguments, else the watchlist (and query watches), else NCT07240987.
    One line per study on stdout; each failure is one line on stderr. Exit 0 when every
    study synced, 1 when any failed (the others are stored), 2 on usage errors, 3 when
    another regsync is writing, 4 when the database cannot be used.

    Example:

    \b
        regsync sync
        regsync sync NCT07240987 NCT00763412 --json
        regsync --db /var/lib/regsync/trials.db sync --quiet   # for cron
    """
    from regsync.client import ApiClient, ClientConfig
    from regsync.model import RunOutcome
    from regsync.sync import run_sync

    ids = nct_ids_argument(nct_ids)
    config = ClientConfig(api_url=obj.api_url, timeout=timeout, attempts=retries + 1, max_wait=max_wait, delay=delay)
    client = ApiClient(config, sleep=obj.clocks.sleep, clock=obj.clocks.monotonic)
    with open_for_writing(obj, wait) as store:
        progress = _progress_bar(quiet or as_json)
        try:
            report = run_sync(
                store, client, ids, force=force, full=full, default_ids=[DEFAULT_NCT_ID],
                recheck_share=recheck,
                on_outcome=lambda outcome: _print_outcome(outcome, as_json=as_json, quiet=quiet, progress=progress),
                on_progress=progress.update if progress else None,
            )
            _print_overdue(store, obj.clocks.today(), report.run_id, as_json=as_json)
        finally:
            sys.stdout.flush()
            if progress:
                progress.close()
    if report.outcome is RunOutcome.NOTHING_TO_DO and not quiet:
        if as_json:
            click.echo(_line({"status": "nothing-to-do", "data_timestamp": report.data_timestamp}))
        else:
            click.echo(
                f"nothing to do: the registry's data has not changed since the last run "
                f"(dataTimestamp {report.data_timestamp}); --force syncs anyway",
                err=True,  # a summary, like every other summary line; stdout is for data
            )
    elif not quiet and not as_json:
        c = report.counts
        click.echo(
            f"{_plural(sum(c.values()), 'study', 'studies')}: {c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged"
            + (f", {c['removed']} removed" if c["removed"] else "")
            + f", {c['error']} failed ({report.mode}, {report.requests} requests)",
            err=True,
        )
    if report.failed:
        sys.exit(1)


def _print_overdue(store: Store, today: date, run_id: int, *, as_json: bool) -> None:
    """A study whose results became overdue is news for cron, under --quiet too: one line,
    once (even on a run with nothing to fetch: deadlines pass without the record changing)."""
    from regsync.obligations import note_overdue

    for event in note_overdue(store, today, run_id):
        sys.stdout.write((_line(event.to_dict()) if as_json else event.text()) + "\n")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _print_outcome(outcome, *, as_json: bool, quiet: bool, progress) -> None:
    """One line per study. Data lines are written without a flush each (a first sync prints
    one per study, and click.echo's flush and terminal check per line were 5% of its time):
    stdout is line-buffered at a terminal anyway, and it is flushed before anything goes to
    stderr, so a cron mail keeps the order."""
    if quiet and outcome.status == "unchanged":
        return
    if progress:
        progress.clear()
    if as_json:
        sys.stdout.write(_line(outcome.to_dict()) + "\n")
    elif outcome.status != "error":
        sys.stdout.write(render.sync_line(outcome) + "\n")
    if outcome.status == "error":
        sys.stdout.flush()
        click.echo(render.error_line(outcome), err=True)


class _ProgressLine:
    """A one-line progress counter on stderr, for people at a terminal during long runs."""

    def __init__(self):
        self.shown = False

    def update(self, done: int, total: int | None) -> None:
        if done < 50 and not self.shown:
            return
        self.shown = True
        text = f"  {done}/{total} studies" if total else f"  {done} studies"
        click.echo(f"\r{text}\x1b[K", err=True, nl=False)

    def clear(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", err=True, nl=False)

    def close(self) -> None:
        self.clear()


def _progress_bar(disabled: bool) -> _ProgressLine | None:
    # Never under --quiet or --json, and never for cron (stderr is not a terminal there).
    if disabled or not sys.stderr.isatty():
        return None
    return _ProgressLine()


# -- watch ---------------------------------------------------------------------------------


@cli.group()
def watch():
    """Manage the watchlist that a plain `regsync sync` syncs.

    Example:

    \b
        regsync watch add NCT00763412 NCT06171568
        regsync watch list
        regsync watch remove NCT06171568
    """


def _watch_targets(nct_ids: tuple[str, ...], queries: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Validate everything before the database is touched: all or nothing."""
    ids = nct_ids_argument(nct_ids)
    exprs = [q.strip() for q in queries]
    if any(not e for e in exprs):
        raise UsageError("--query needs a non-empty expression")
    if not ids and not exprs:
        raise UsageError("give NCT IDs or --query EXPR")
    return ids, exprs


@watch.command("add")
@click.argument("nct_ids", nargs=-1)
@click.option("--query", "queries", multiple=True, metavar="EXPR",
              help="An Essie expression; every sync tracks all studies it matches.")
@wait_option
@click.pass_obj
def watch_add(obj, nct_ids, queries, wait):
    """Watch studies by NCT ID, or everything an Essie query matches.

    Example:

    \b
        regsync watch add NCT00763412 NCT06171568
        regsync watch add --query 'AREA[Condition]"chronic kidney disease" AND AREA[InterventionName]mesenchymal'
    """
    ids, exprs = _watch_targets(nct_ids, queries)
    with open_for_writing(obj, wait) as store:
        added = store.watch_add(ids)
        for nct_id in ids:
            click.echo(f"{nct_id} {'added' if nct_id in added else 'already watched'}")
        for expr in exprs:
            _, new = store.query_add(expr)
            click.echo(f"query {expr!r} {'added' if new else 'already watched'}")


@watch.command("remove")
@click.argument("nct_ids", nargs=-1)
@click.option("--query", "queries", multiple=True, metavar="EXPR", help="Stop following a query watch.")
@wait_option
@click.pass_obj
def watch_remove(obj, nct_ids, queries, wait):
    """Stop watching studies (their stored versions are kept).

    Example:

    \b
        regsync watch remove NCT06171568
        regsync watch remove --query 'AREA[Condition]"chronic kidney disease"'
    """
    ids, exprs = _watch_targets(nct_ids, queries)
    with open_for_writing(obj, wait) as store:
        removed = store.watch_remove(ids)
        for nct_id in ids:
            click.echo(f"{nct_id} {'removed' if nct_id in removed else 'was not watched'}")
        for expr in exprs:
            found = store.query_remove(expr)
            click.echo(f"query {expr!r} {'removed' if found else 'was not watched'}")


@watch.command("list")
@json_option
@click.pass_obj
def watch_list(obj, as_json):
    """List watched studies and query watches.

    Example:

    \b
        regsync watch list
        regsync watch list --json
    """
    store = open_store(obj)
    rows, queries = store.watchlist(), store.queries()
    if as_json:
        click.echo(_dumps({"studies": rows, "queries": queries}))
        return
    if not rows and not queries:
        click.echo(f"the watchlist is empty: `regsync sync` syncs {DEFAULT_NCT_ID}")
        return
    for q in queries:
        click.echo(f"query: {q['expr']}")
    if rows:
        view = [
            {"nct_id": r["nct_id"], "version": r["current_version"] or "-", "status": r["overall_status"] or "(not synced yet)",
             "title": trunc(r["brief_title"] or "", 60)}
            for r in rows
        ]
        click.echo(render.table(view, ["nct_id", "version", "status", "title"]))


# -- reading -------------------------------------------------------------------------------


@cli.command()
@click.argument("nct_id")
@json_option
@click.pass_obj
def history(obj, nct_id, as_json):
    """One row per stored version of a study.

    Example:

    \b
        regsync history NCT07240987
    """
    nct_id = normalize_nct_id(nct_id)
    rows = open_store(obj).history(nct_id)
    if as_json:
        click.echo(_dumps(rows))
    else:
        click.echo(render.history_text(nct_id, rows))


@cli.command()
@click.argument("nct_id")
@click.option("--version", "version", type=int, help="Version number (default: the latest).")
@click.pass_obj
def show(obj, nct_id, version):
    """Print a stored record as JSON, as the API returned it.

    Example:

    \b
        regsync show NCT07240987 --version 1
    """
    nct_id = normalize_nct_id(nct_id)
    click.echo(_dumps(open_store(obj).record(nct_id, version)))


@cli.command()
@click.argument("nct_id")
@click.option("--from", "from_v", type=int, help="Older version (default: the one before --to).")
@click.option("--to", "to_v", type=int, help="Newer version (default: the latest).")
@click.option("--all", "show_admin", is_flag=True, help="Also show registry bookkeeping (admin) changes.")
@json_option
@click.pass_obj
def diff(obj, nct_id, from_v, to_v, show_admin, as_json):
    """What changed between two stored versions, grouped by category, most severe first.

    Example:

    \b
        regsync diff NCT07240987              # latest against the previous version
        regsync diff NCT07240987 --from 1 --to 3 --json
    """
    nct_id = normalize_nct_id(nct_id)
    store = open_store(obj)
    current = store.study(nct_id)["current_version"]
    to_v = current if to_v is None else to_v
    if not 1 <= to_v <= current:
        raise UnknownVersion(f"--to {to_v}: {nct_id} has versions 1-{current}")
    if from_v is None and to_v == 1:
        # Not an error: a script diffing every study meets first versions all the time.
        if as_json:
            click.echo(_dumps({"nct_id": nct_id, "from_version": None, "to_version": 1, "changes": []}))
        else:
            only = " (the only one stored)" if current == 1 else ""
            click.echo(f"{nct_id} v1 is the first version{only}; nothing before it to compare")
        return
    if from_v is None:
        from_v = to_v - 1
    elif not 1 <= from_v <= current:
        raise UnknownVersion(f"--from {from_v}: {nct_id} has versions 1-{current}")
    if from_v > to_v:
        raise UsageError(f"--from {from_v} is after --to {to_v}")
    changes = store.stored_changes(nct_id, from_v, to_v) if from_v != to_v else []
    if changes is None:
        # A pair never classified together (--from 1 --to 3): computed now, not stored.
        from regsync.store import classify_changes

        changes = classify_changes(store.record(nct_id, from_v), store.record(nct_id, to_v))
    if as_json:
        click.echo(_dumps({"nct_id": nct_id, "from_version": from_v, "to_version": to_v,
                           "changes": [c.to_dict() for c in changes]}))
    elif from_v == to_v:
        click.echo(f"{nct_id} v{from_v} -> v{to_v}: the same version; no changes")
    else:
        click.echo(render.diff_text(nct_id, from_v, to_v, changes, show_admin=show_admin))


def _parse_since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--since") from None


@cli.command()
@click.option("--since", help="Only changes detected on or after this date (YYYY-MM-DD).")
@click.option("--nct", "nct_ids", multiple=True, help="Only these studies (repeatable).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="Only these categories (repeatable): status, dates, outcomes, ...")
@click.option("--severity", type=click.Choice([s.value for s in Severity]), default="minor", show_default=True,
              help="This severity or higher; `admin` includes registry bookkeeping.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many changes.")
@json_option
@click.pass_obj
def changes(obj, since, nct_ids, categories, severity, limit, as_json):
    """Flagged changes across all tracked studies, newest first.

    Example:

    \b
        regsync changes --since 2026-01-01 --severity major
        regsync changes --category outcomes --json
    """
    known = [c.value for c in Category]
    for category in categories:
        if category not in known:
            raise UsageError(f"unknown category {category!r}; one of: {', '.join(known)}")
    ids = nct_ids_argument(nct_ids)
    wanted = [s.value for s in Severity.at_or_above(severity)]
    rows = open_store(obj).query_changes(
        since=_parse_since(since), nct_ids=ids or None, categories=list(categories) or None,
        severities=wanted, limit=limit,
    )
    if as_json:
        click.echo(_dumps([r.to_dict() for r in rows]))
    else:
        click.echo(render.changes_text(rows))


@cli.command()
@wait_option
@click.pass_obj
def reclassify(obj, wait):
    """Recompute every stored change from the stored snapshots (after the rules changed).

    Detection dates are kept.

    Example:

    \b
        regsync reclassify
        regsync reclassify --wait 600   # while the nightly sync may still be running
    """
    with open_for_writing(obj, wait) as store:
        run_id = store.begin_run("reclassify")
        try:
            pairs, found = store.reclassify()
        except BaseException:
            store.finish_run(run_id, "interrupted")
            raise
        store.finish_run(run_id, "ok")
    click.echo(f"reclassified {pairs} version pairs: {found} changes")


@cli.command()
@click.option("--runs", "limit", type=click.IntRange(min=1), default=10, show_default=True, help="How many recent runs.")
@json_option
@click.pass_obj
def status(obj, limit, as_json):
    """Recent runs, what is stored, and how big the database is.

    Example:

    \b
        regsync status
        regsync status --runs 30 --json
    """
    store = open_store(obj)
    runs, counts = store.runs(limit), store.counts()
    last = store.last_complete_run()
    size = sum(os.path.getsize(p) for p in (obj.db_path, obj.db_path + "-wal") if os.path.exists(p))
    for run in runs:
        run["duration_seconds"] = render.duration_seconds(run)
        run["new_versions"] = run["new_studies"] + run["changed"]
    from regsync.obligations import state_counts

    today = obj.clocks.today()
    by_state = state_counts(store, today)
    if as_json:
        click.echo(_dumps({"database": obj.db_path, "size_bytes": size, **counts, "last_complete_run": last, "runs": runs,
                           "obligations": {"as_of": today.isoformat(), **{s.value: n for s, n in by_state.items()}}}))
    else:
        click.echo(render.status_text(runs, counts, obj.db_path, size, last))
        click.echo(render.obligations_status_line(by_state, today))


# -- obligations -----------------------------------------------------------------------------


def _state_choice() -> click.Choice:
    from regsync.obligations import State

    return click.Choice([s.value for s in State])


@cli.command()
@click.option("--nct", "nct_ids", multiple=True, help="Only these studies (repeatable).")
@click.option("--state", "states", multiple=True, type=_state_choice(),
              help="Only studies in this state (repeatable).")
@json_option
@click.pass_obj
def obligations(obj, nct_ids, states, as_json):
    """Results obligations of the tracked studies under FDAAA 801, judged today.

    Applicability (ACT, probable ACT, not applicable) is estimated from registry fields the
    way the FDAAA TrialsTracker does; "overdue" is not a legal finding.

    Example:

    \b
        regsync obligations
        regsync obligations --state overdue --state due
        regsync obligations --nct NCT02513394 --json
    """
    from regsync.obligations import tracked

    ids = nct_ids_argument(nct_ids)
    today = obj.clocks.today()
    rows = tracked(open_store(obj), today, ids or None, list(states) or None)
    if as_json:
        click.echo(_dumps({"as_of": today.isoformat(), "studies": [r.to_dict() for r in rows]}))
    else:
        click.echo(render.obligations_text(rows, today))


def main() -> None:
    cli(prog_name="regsync")
