"""The command line: parse, call the library, render. No SQL and no HTTP here."""

from __future__ import annotations

import errno
import functools
import os
import re
import shlex
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import click
import orjson

from regsync import DEFAULT_API_URL, __version__, params, render
from regsync.model import Category, Severity, label_value
from regsync.errors import InvalidNctId, RegsyncError, StoreError, Terminated, UnknownVersion, UsageError
from regsync.ids import normalize_nct_id
from regsync.text import plural, trunc
from regsync.store import Store, utcnow
from regsync.urls import check_api_url, redact_url

# What `regsync sync` syncs when no IDs are given and nothing is watched.
DEFAULT_NCT_ID = "NCT07240987"


@dataclass(frozen=True)
class Clocks:
    """How the commands wait and tell time: back-off, pacing and --wait. Tests hand in their
    own (``CliRunner().invoke(cli, args, obj=Clocks(sleep=slept.append))``), so no test sleeps
    for real or patches a module."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = params.utc_now  # what `--since 7d` and `yesterday` count from
    # The day results obligations are judged on: UTC, like every time regsync stores.
    today: Callable[[], date] = lambda: datetime.now(UTC).date()


class Context:
    def __init__(self, db_path: str, api_url: str | click.BadParameter, clocks: Clocks):
        self.db_path = db_path
        self._api_url = api_url
        self.clocks = clocks

    @property
    def api_url(self) -> str:
        """The registry's URL; a malformed one from the environment is the usage error here,
        when a command first asks for it (see _api_url_option)."""
        if isinstance(self._api_url, click.BadParameter):
            raise self._api_url
        return self._api_url


def _dumps(value) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:  # a stored record nested past orjson's 254 levels (see store._dumps)
        import json

        return json.dumps(value, indent=2, ensure_ascii=False)


def _line(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def nct_ids_argument(values: tuple[str, ...]) -> list[str]:
    ids = []
    for value in values:
        if not value.strip():
            raise InvalidNctId(value)
        for part in value.replace(",", " ").split():
            ids.append(normalize_nct_id(part))
    return list(dict.fromkeys(ids))


# logging's levels, without importing it (a read command never does).
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40


def _telling() -> bool:
    """Whether -v or --log-file is listening (not only the NullHandler that silences a
    writer's warnings): the story of a run is only composed for someone to read."""
    logging = sys.modules.get("logging")
    if logging is None:
        return False
    # The logger dict, not getLogger(): this is asked once per study of a sync.
    root = logging.Logger.manager.loggerDict.get("regsync")
    return isinstance(root, logging.Logger) and any(
        not isinstance(h, logging.NullHandler) for h in root.handlers
    )


def _log(level: int, message: str, *args: object) -> None:
    """A line of the run's story for -v and --log-file; nothing when neither is set up."""
    if _telling():
        sys.modules["logging"].getLogger("regsync.cli").log(level, message, *args)


def _asked(ctx: click.Context) -> str:
    """The command line as regsync understood it, defaults included, so a log says what each
    run was asked to do (credentials in --api-url are redacted by the log's formatter)."""
    chain = []
    while ctx is not None:
        chain.append(ctx)
        ctx = ctx.parent  # type: ignore[assignment]
    words: list[str] = []
    for level in reversed(chain):
        words.append(level.info_name or "")
        for param in level.command.params:
            value = level.params.get(param.name or "")
            if isinstance(param, click.Argument):
                words += [shlex.quote(v) for v in (value or ())]
                continue
            if not isinstance(param, click.Option) or value is None or isinstance(value, click.BadParameter):
                continue  # (a malformed REGSYNC_API_URL that this command never uses)
            if param.name in _NOTIFY_PARAMS and level.get_parameter_source(param.name) is click.core.ParameterSource.DEFAULT:
                continue  # notification settings nobody set are noise in the story of a run
            opt = max(param.opts, key=len)
            if param.count:
                words += ["-" + "v" * value] if value else []
            elif param.is_flag:
                words += [opt] if value else []
            else:
                for item in value if param.multiple else [value]:
                    words += [opt, f"{item:g}" if isinstance(item, float) else shlex.quote(str(item))]
    return " ".join(words)


def _setup_logging(verbose: int, log_file: str | None, *, from_env: bool = False) -> None:
    """Logs to stderr (-v INFO, -vv DEBUG) and/or a file (DEBUG). Imported here, not at the
    top: a read command without -v never loads logging. ``from_env``: the file came from
    REGSYNC_LOG_FILE, and the error says so (nobody typed it on this command line)."""
    from regsync.logsetup import LogFileError, configure

    try:
        configure(verbose, log_file)
    except LogFileError as exc:
        where = " (from REGSYNC_LOG_FILE)" if from_env else ""
        raise click.BadParameter(f"{exc}{where}", param_hint="--log-file") from None


class _DbPath(click.ParamType):
    """Any path but an empty one: what the path is (a directory, a FIFO, a device) is the
    store's to check, as one line and exit 4, before anything is opened or created."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not str(value).strip():
            self.fail("the database path is empty", param, ctx)
        return str(value)


DB_PATH = _DbPath()


def _api_url_option(ctx: click.Context, param: click.Parameter, value: str) -> str | click.BadParameter:
    """The checked URL. Typed on the command line, a malformed one is a usage error at once.
    From REGSYNC_API_URL it is the error only of a command that asks the registry (it names
    the variable): `status`, `history` and the other readers make no request, and a stale
    variable in a shell must not stop them."""
    try:
        return check_api_url(value)
    except ValueError as exc:
        message = f"{redact_url(value)!r}: {exc}"
        if param.name and ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT:
            return click.BadParameter(f"{message} (from REGSYNC_API_URL)", ctx=ctx, param=param)
        raise click.BadParameter(message) from None


class RegsyncGroup(click.Group):
    """Every error as one line on stderr (`error: ...`) with its documented exit code, for
    every command: click's usage errors (2) here in ``main``, the library's in ``invoke``."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RegsyncError as exc:
            _log(ERROR, "error: %s", exc)
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except sqlite3.Error as exc:
            # Raised after the database was opened (disk I/O error, database locked past the
            # busy timeout, a page found malformed): a store error like any other.
            message = f"error: database {getattr(ctx.obj, 'db_path', '')} cannot be used: {exc}"
            _log(ERROR, "%s", message)
            click.echo(message, err=True)
            sys.exit(StoreError.exit_code)
        except Terminated:
            click.echo("error: terminated (SIGTERM)", err=True)
            sys.exit(Terminated.exit_code)
        except KeyboardInterrupt:
            _log(ERROR, "error: interrupted")
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
        except click.NoSuchOption as exc:
            misplaced = _misplaced_global(exc, _given_args(args, kwargs))
            if misplaced is None:
                hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
                click.echo(f"error: {exc.format_message()}{hint}", err=True)
            else:
                root = exc.ctx.find_root().info_name if exc.ctx else "regsync"
                click.echo(f"error: {misplaced} (see: {root} --help)", err=True)
            sys.exit(exc.exit_code)
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


# The group's own options: given after a command, click knows them only as "No such option",
# which sends a new user looking in the command's help where they are not listed.
_GLOBAL_OPTIONS = {"--db": True, "--api-url": True, "--log-file": True, "-v": False, "--verbose": False}


def _given_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    given = args[0] if args else kwargs.get("args")
    return list(sys.argv[1:] if given is None else given)


def _misplaced_global(exc: click.NoSuchOption, argv: list[str]) -> str | None:
    """``--db goes before the command: regsync --db x.db history ...`` when the unknown
    option is one of the group's, else None (a misspelling keeps click's own message)."""
    name = exc.option_name
    if name not in _GLOBAL_OPTIONS or exc.ctx is None or exc.ctx.parent is None:
        return None
    takes_value = _GLOBAL_OPTIONS[name]
    shown = name
    for i, token in enumerate(argv):
        if takes_value and token.startswith(name + "="):
            shown = f"{name} {shlex.quote(token.split('=', 1)[1])}"
            break
        if token == name or (name == "-v" and re.fullmatch(r"-v+", token)):
            shown = token
            if takes_value and i + 1 < len(argv):
                shown += " " + shlex.quote(argv[i + 1])
            break
    path = exc.ctx.command_path.split(" ")
    return f"{name} goes before the command: {path[0]} {shown} {' '.join(path[1:])} ..."


@click.group(cls=RegsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regsync")
@click.option(
    "--db", "db_path", default="regsync.db", envvar="REGSYNC_DB", show_default=True,
    type=DB_PATH, help="SQLite database file [env: REGSYNC_DB].",
)
@click.option(
    "--api-url", default=DEFAULT_API_URL, envvar="REGSYNC_API_URL", show_default=True,
    callback=_api_url_option,
    help="ClinicalTrials.gov API v2 base URL [env: REGSYNC_API_URL].",
)
@click.option("-v", "--verbose", count=True,
              help="Log what was asked, requests, retries, outcomes and the summary to stderr "
                   "(-vv: debug, also each request as sent and the pacing).")
@click.option("--log-file", metavar="PATH", envvar="REGSYNC_LOG_FILE",
              help="Append the debug log of each run to this file (a regular file, created 0600) "
                   "[env: REGSYNC_LOG_FILE].")
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
        from_env = ctx.get_parameter_source("log_file") is click.core.ParameterSource.ENVIRONMENT
        _setup_logging(verbose, log_file, from_env=from_env)
    if isinstance(api_url, click.BadParameter) and ctx.invoked_subcommand in ("sync", "backfill"):
        raise api_url  # before the database is created; `watch add --backfill` meets it on use
    ctx.obj = Context(db_path, api_url, ctx.obj if isinstance(ctx.obj, Clocks) else Clocks())


def resolve(store: Store, nct_id: str) -> str:
    """The ID the study is stored under (a known alias gives its canonical ID, said once on
    stderr so that stdout stays the data asked for)."""
    canonical = store.resolve_id(nct_id)
    if canonical != nct_id:
        click.echo(f"({nct_id} is now {canonical})", err=True)
    return canonical


def open_store(obj: Context) -> Store:
    """The database, for a read command (no lock, no migration)."""
    return Store.open_read(obj.db_path)


def open_for_writing(obj: Context, wait: float, *, create: bool = True) -> Store:
    """The database, for a writing command: checks, the writer lock (waiting up to ``wait``
    seconds), migrations. ``create=False``: a command with nothing to work on without a
    database (reclassify, watch remove) exits 4 rather than create an empty one."""
    if not _logging_configured():  # writers may warn: silently, unless -v or --log-file
        _setup_logging(0, None)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _telling():
        _log(INFO, "asked: %s", _asked(ctx))
    store = Store.open_write(
        obj.db_path, wait=wait, create=create, clock=obj.clocks.monotonic, sleep=obj.clocks.sleep
    )
    try:
        if store.data_steps_pending():
            # What an upgrade, a kill or a failing judge left undone: chains to settle,
            # versions to judge, obligations to give. Resumable: each study commits alone.
            from regsync.judge import settle_pending

            settle_pending(store)
    except BaseException:
        store.close()
        raise
    return store


def _logging_configured() -> bool:
    import logging

    return bool(logging.getLogger("regsync").handlers)


def wait_option(fn):
    return click.option(
        "--wait", type=params.SECONDS_OF_WAITING, default=0, envvar="REGSYNC_WAIT", show_default=True,
        help="Seconds to wait for another regsync writing to the same database [env: REGSYNC_WAIT].",
    )(fn)


def request_options(fn):
    """--timeout, --retries and --max-wait, spelt the same by every command that asks the
    registry (sync, backfill)."""
    fn = click.option("--max-wait", type=params.SECONDS_OF_WAITING, default=120.0, envvar="REGSYNC_MAX_WAIT",
                      show_default=True,
                      help="Most seconds of back-off per request before giving up [env: REGSYNC_MAX_WAIT].")(fn)
    fn = click.option("--retries", type=params.RETRIES, default=4, envvar="REGSYNC_RETRIES", show_default=True,
                      help="Retries per request after 429, 5xx, timeouts and resets [env: REGSYNC_RETRIES].")(fn)
    return click.option("--timeout", type=params.TIMEOUT, default=30.0, envvar="REGSYNC_TIMEOUT", show_default=True,
                        help="Seconds to wait for each HTTP response [env: REGSYNC_TIMEOUT].")(fn)


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


# -- notifications after a sync (issue 14) -------------------------------------------------

# Secrets come from the environment only: a command line shows in `ps`, shell history and cron
# mail. Slack's webhook URLs carry their token, so the URL is one.
WEBHOOK_URL_ENV = "REGSYNC_WEBHOOK_URL"
SMTP_PASSWORD_ENV = "REGSYNC_SMTP_PASSWORD"
_NOTIFY_KEY = "regsync.notify"
_SEVERITIES = [s.value for s in Severity]
_NOTIFY_OPTIONS = [
    click.option("--no-notify", is_flag=True, help="Send no notification for this run."),
    click.option("--webhook-format", type=click.Choice(["slack", "json"]), default="slack", show_default=True,
                 envvar="REGSYNC_WEBHOOK_FORMAT",
                 help="Slack-compatible {text, blocks} or regsync's JSON, POSTed to $REGSYNC_WEBHOOK_URL "
                      "[env: REGSYNC_WEBHOOK_FORMAT]."),
    click.option("--webhook-severity", type=click.Choice(_SEVERITIES), default="major", show_default=True,
                 envvar="REGSYNC_WEBHOOK_SEVERITY",
                 help="Changes of this severity or higher go to the webhook [env: REGSYNC_WEBHOOK_SEVERITY]."),
    click.option("--webhook-mode", type=click.Choice(["digest", "study"]), default="digest", show_default=True,
                 envvar="REGSYNC_WEBHOOK_MODE",
                 help="One message per run, or one per study version [env: REGSYNC_WEBHOOK_MODE]."),
    click.option("--mail-to", multiple=True, metavar="ADDRESS", envvar="REGSYNC_MAIL_TO", callback=params.mail_addresses,
                 help="Mail what the sync found to this address (repeatable) [env: REGSYNC_MAIL_TO, space-separated]."),
    click.option("--mail-from", metavar="ADDRESS", envvar="REGSYNC_MAIL_FROM", callback=params.mail_addresses,
                 help="Sender address [env: REGSYNC_MAIL_FROM].  [default: regsync@<this host's name>]"),
    click.option("--mail-severity", type=click.Choice(_SEVERITIES), default="major", show_default=True,
                 envvar="REGSYNC_MAIL_SEVERITY",
                 help="Changes of this severity or higher are mailed [env: REGSYNC_MAIL_SEVERITY]."),
    click.option("--mail-mode", type=click.Choice(["digest", "study"]), default="digest", show_default=True,
                 envvar="REGSYNC_MAIL_MODE", help="One mail per run, or one per study version [env: REGSYNC_MAIL_MODE]."),
    click.option("--smtp-host", default="localhost", show_default=True, envvar="REGSYNC_SMTP_HOST",
                 help="SMTP server [env: REGSYNC_SMTP_HOST]."),
    click.option("--smtp-port", type=click.IntRange(1, 65535), default=25, show_default=True, envvar="REGSYNC_SMTP_PORT",
                 help="SMTP port [env: REGSYNC_SMTP_PORT]."),
    click.option("--smtp-user", envvar="REGSYNC_SMTP_USER",
                 help="Log in as this user, with the password in $REGSYNC_SMTP_PASSWORD [env: REGSYNC_SMTP_USER]."),
    click.option("--smtp-starttls", is_flag=True, envvar="REGSYNC_SMTP_STARTTLS",
                 help="Upgrade the SMTP connection with STARTTLS (certificate verified) [env: REGSYNC_SMTP_STARTTLS]."),
    click.option("--notify-timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
                 envvar="REGSYNC_NOTIFY_TIMEOUT", metavar="SECONDS",
                 help="Most seconds for one webhook POST or one whole SMTP conversation "
                      "[env: REGSYNC_NOTIFY_TIMEOUT]."),
    click.option("--notify-budget", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
                 envvar="REGSYNC_NOTIFY_BUDGET", metavar="SECONDS",
                 help="Most seconds for all of a run's deliveries; what is left waits for the next sync "
                      "[env: REGSYNC_NOTIFY_BUDGET]."),
]
_NOTIFY_PARAMS = ("no_notify", "webhook_format", "webhook_severity", "webhook_mode", "mail_to", "mail_from",
                  "mail_severity", "mail_mode", "smtp_host", "smtp_port", "smtp_user", "smtp_starttls",
                  "notify_timeout", "notify_budget")


def notify_options(fn):
    """The notification options of a command, folded into one ``Settings`` (checked before
    the command runs: a configuration that cannot work is a usage error, exit 2) that
    ``_notify_after_sync`` reads from the click context."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(name) for name in _NOTIFY_PARAMS}
        click.get_current_context().meta[_NOTIFY_KEY] = _notify_settings(values)
        return fn(*args, **kwargs)

    for option in reversed(_NOTIFY_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _notify_settings(v: dict[str, Any]):
    url = os.environ.get(WEBHOOK_URL_ENV, "").strip()
    if v["no_notify"] or not (url or v["mail_to"]):
        return None  # nothing to send: smtplib and the rest are not even imported
    from regsync import notify

    webhook = notify.Webhook(
        url, style=v["webhook_format"], severity=Severity(v["webhook_severity"]), digest=v["webhook_mode"] == "digest",
        timeout=v["notify_timeout"],
    ) if url else None
    to = tuple(a for value in v["mail_to"] for a in value.replace(",", " ").split())
    mail = None
    if to:
        import socket

        mail = notify.Mail(
            to, v["mail_from"] or f"regsync@{socket.gethostname()}", host=v["smtp_host"], port=v["smtp_port"],
            user=v["smtp_user"] or None, password=os.environ.get(SMTP_PASSWORD_ENV) or None,
            starttls=v["smtp_starttls"], severity=Severity(v["mail_severity"]), digest=v["mail_mode"] == "digest",
            timeout=v["notify_timeout"],
        )
    settings = notify.Settings(webhook, mail, budget=v["notify_budget"])
    try:
        notify.check(settings)
    except notify.ConfigError as exc:
        raise UsageError(str(exc)) from None
    return settings


# -- sync ----------------------------------------------------------------------------------


@cli.command()
@click.argument("nct_ids", nargs=-1)
@json_option
@click.option("-q", "--quiet", is_flag=True, help="Print only new, changed, removed and failed studies.")
@click.option("--force", is_flag=True, help="Sync even if the registry's dataTimestamp has not moved.")
@click.option("--full", is_flag=True, help="Re-fetch every watched study, not only those updated (implies --force).")
@wait_option
@request_options
@click.option("--delay", type=params.DELAY, default=1.0, envvar="REGSYNC_DELAY", show_default=True,
              help="Least seconds between requests; the registry asks for 1 [env: REGSYNC_DELAY].")
@click.option("--recheck", type=params.SHARE, default=0.02, envvar="REGSYNC_RECHECK", show_default=True,
              help="Share of the watchlist re-verified on each incremental run [env: REGSYNC_RECHECK].")
@click.option("--transport", type=click.Choice(["requests", "curl"]), default="requests", envvar="REGSYNC_TRANSPORT",
              show_default=True, help="HTTP client: requests, or curl (libcurl with a browser's TLS handshake, "
              "for a registry that answers 403) [env: REGSYNC_TRANSPORT].")
@click.option("--backfill", "then_backfill", is_flag=True,
              help="Then store the synced studies' past versions from the registry's history (see backfill).")
@click.option("--fill-in/--no-fill-in", "fill_in", default=True, envvar="REGSYNC_FILL_IN", show_default=True,
              help="For each changed study, read the registry's version index and store the versions regsync "
                   "missed between two syncs [env: REGSYNC_FILL_IN=0 turns it off].")
@click.pass_obj
@notify_options
def sync(obj, nct_ids, as_json, quiet, force, full, wait, timeout, retries, max_wait, delay, recheck, transport,
         then_backfill, fill_in):
    """Fetch studies; store each version that changed.

    IDs come from the arguments, else the watchlist (and query watches), else NCT07240987.
    One line per study on stdout; each failure is one line on stderr. A changed study's
    versions that regsync missed since the last sync are filled in from the registry's
    history (one more request per changed study; --no-fill-in turns it off).

    Exit codes:

    \b
      0    every study synced, or nothing to do
      1    a study failed (the others are stored), or the run failed as a whole
      2    usage error (an option, an NCT ID, the notification settings)
      3    another regsync is writing to the database (see --wait)
      4    the database cannot be used
      5    stored, but a notification could not be delivered
      130  interrupted (Ctrl-C); what was stored is kept
      143  terminated (SIGTERM); the same as Ctrl-C

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
    config = ClientConfig(api_url=obj.api_url, timeout=timeout, attempts=retries + 1, max_wait=max_wait, delay=delay,
                          transport=transport)
    client = ApiClient(config, sleep=obj.clocks.sleep, clock=obj.clocks.monotonic)
    history = _history_client(obj, config) if fill_in else None
    settings = click.get_current_context().meta.get(_NOTIFY_KEY)
    with open_for_writing(obj, wait) as store:
        progress = _progress_bar(quiet or as_json)

        def told(outcome) -> None:
            _print_outcome(outcome, as_json=as_json, quiet=quiet, progress=progress)

        try:
            report = run_sync(
                store, client, ids, force=force, full=full, default_ids=[DEFAULT_NCT_ID],
                recheck_share=recheck, clock=obj.clocks.monotonic, history=history, notify=settings,
                today=obj.clocks.today(), now=obj.clocks.now,
                on_outcome=told, on_history=_history_teller(quiet=True, as_json=as_json, progress=progress, soft=True),
                on_progress=progress.update if progress else None,
            )
            for event in report.overdue:  # news for cron, under --quiet too
                sys.stdout.write((_line(event.to_dict()) if as_json else event.text()) + "\n")
        finally:
            sys.stdout.flush()
            if progress:
                progress.close()
    for finding in report.registry_changes:  # once per run, --quiet and --json too: news, not a study's
        click.echo(f"note: {finding.line()}", err=True)
    for line in report.shortfalls:  # a listing cut short: never a quiet success (exit 1)
        click.echo(f"error: {line}", err=True)
    if report.history is not None and report.history.stopped:
        click.echo("warning: missed versions not filled in: " + report.history.stopped, err=True)
    for query in report.queries:
        if not query.matched:  # a mistyped expression: said on every run, --quiet too
            click.echo(f"warning: query watch {query.expr!r} matched no studies; check the expression "
                       "(`regsync watch list` shows what each query matched)", err=True)
    since = "these studies were last checked" if ids else "the last run"
    nothing = (
        f"nothing to do: the registry's data has not changed since {since} "
        f"(dataTimestamp {report.data_timestamp}); --force syncs anyway"
    )
    c = report.counts
    counted = (
        f"{_plural(sum(c.values()), 'study', 'studies')}: {c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged"
        + (f", {c['removed']} removed" if c["removed"] else "")
        + f", {c['error']} failed ({report.mode}, {plural(report.requests, 'request')})"
    )
    if report.history is not None and report.history.requests:
        counted = counted[:-1] + f"; {_plural(report.history.requests, 'history request', 'history requests')})"
    done = report.outcome is RunOutcome.NOTHING_TO_DO
    _log(ERROR if report.failed else INFO, "run %s %s: %s", report.run_id, report.outcome, nothing if done else counted)
    if done and not quiet:
        if as_json:
            click.echo(_line({"status": "nothing-to-do", "data_timestamp": report.data_timestamp}))
        else:
            click.echo(nothing, err=True)  # a summary, like every other summary line; stdout is for data
    elif not quiet and not as_json:
        click.echo(counted, err=True)
    for failure in report.notify_failures:
        click.echo(f"error: {failure}", err=True)
    backfilled = None
    if then_backfill:
        with open_for_writing(obj, wait) as store:
            targets = ids or store.watch_ids() or [DEFAULT_NCT_ID]
            targets = list(dict.fromkeys(resolve(store, nct_id) for nct_id in targets))
            backfilled = _backfill(obj, store, targets, quiet=quiet or as_json, timeout=timeout, retries=retries,
                                   max_wait=max_wait, delay=delay, transport=transport, as_json=as_json)
    if report.failed or (backfilled is not None and backfilled.failed):
        sys.exit(1)
    if report.notify_failures:
        from regsync.errors import NotificationFailed

        sys.exit(NotificationFailed.exit_code)


def _history_client(obj: Context, config):
    """The registry's history endpoints: always curl (they refuse Python's TLS), always at
    most 2 requests/s."""
    from regsync.client import HISTORY_DELAY, ClientConfig, HistoryClient

    return HistoryClient(
        ClientConfig(**{**config.__dict__, "transport": "curl", "delay": max(config.delay, HISTORY_DELAY)}),
        sleep=obj.clocks.sleep, clock=obj.clocks.monotonic,
    )


def _history_teller(*, quiet: bool, as_json: bool, progress, soft: bool = False):
    """The lines of a backfill (or of a sync's fill-in: ``soft``, whose own lines are the
    sync's: only renumbering, silent edits and errors are said)."""

    def told(study) -> None:
        if study.error is not None:
            sys.stdout.flush()
            if progress:
                progress.clear()
            click.echo(("warning: " + study.error + "; the next sync tries again") if soft else study.line(), err=True)
            return
        if as_json:
            if study.stored or study.linked or study.silent_edits or study.renumbered:
                sys.stdout.write(_line({
                    "nct_id": study.nct_id, "status": "filled-in" if soft else "backfilled",
                    "stored": [v + 1 for v in study.stored],
                    "linked": [{"registry_version": r + 1, "own_version": v} for r, v in study.linked],
                    "silent_edits": study.silent_edits, "renumbered": study.renumbered,
                }) + "\n")
            return
        if progress:
            progress.clear()
        if study.renumbered:  # said once, when the study takes the registry's numbers
            sys.stdout.write(study.renumbered + "\n")
        if not soft and (not quiet or study.gained):
            sys.stdout.write(study.line() + "\n")
        for detail in study.silent_edits:  # news for cron, under --quiet too
            sys.stdout.write(f"{study.nct_id} silent edit: {detail}\n")

    return told


_plural = plural


def _print_outcome(outcome, *, as_json: bool, quiet: bool, progress) -> None:
    """One line per study. Data lines are written without a flush each (a first sync prints
    one per study, and click.echo's flush and terminal check per line were 5% of its time):
    stdout is line-buffered at a terminal anyway, and it is flushed before anything goes to
    stderr, so a cron mail keeps the order."""
    _log_outcome(outcome)
    back = outcome.is_back
    reported_before = outcome.status == "removed" and outcome.removed_since
    if quiet and (outcome.status == "unchanged" or reported_before) and not back:
        return  # a removal already reported stays quiet
    if quiet and outcome.status == "changed" and outcome.summary.registry_only:
        return  # the registry's own change: said once for the run (report.registry_changes)
    if progress:
        progress.clear()
    if as_json:
        sys.stdout.write(_line(outcome.to_dict()) + "\n")
    elif outcome.status != "error":
        if back:
            sys.stdout.write(render.back_line(outcome) + "\n")
        if not (quiet and outcome.status == "unchanged"):
            sys.stdout.write(render.sync_line(outcome) + "\n")
    if outcome.status == "error":
        sys.stdout.flush()
        click.echo(render.error_line(outcome), err=True)


def _log_outcome(outcome) -> None:
    if not _telling():
        return  # a sync of thousands of studies does not render each line twice for nothing
    if outcome.status == "error":
        _log(ERROR, "%s", render.error_line(outcome).removeprefix("error: "))
        return
    level = {"removed": WARNING, "unchanged": DEBUG}.get(outcome.status, INFO)
    _log(level, "%s", render.sync_line(outcome))
    if outcome.status == "changed":
        for change in outcome.summary.flagged:
            _log(DEBUG, "%s: %s %s: %s", outcome.nct_id, change.severity, change.category, change.summary)


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

    def members(self, done: int, total: int) -> None:
        """A seed's progress: members of the bulk file read."""
        self.shown = True
        click.echo(f"\r  {done:,}/{total:,} members ({done * 100 // max(total, 1)}%)\x1b[K", err=True, nl=False)

    def bytes(self, done: int, total: int | None) -> None:
        """A download's progress."""
        self.shown = True
        mb = f"{done / 2**20:,.0f}" + (f"/{total / 2**20:,.0f} MB ({done * 100 // max(total, 1)}%)" if total else " MB")
        click.echo(f"\r  downloading: {mb}\x1b[K", err=True, nl=False)

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


# -- seed ----------------------------------------------------------------------------------


@cli.command()
@click.argument("zip_path", metavar="[ZIP]", required=False,
                type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--download", is_flag=True, help="Download the registry's bulk file first (about 2.5 GB).")
@click.option("--keep", "keep", metavar="PATH", type=click.Path(dir_okay=False),
              help="With --download: keep the file at PATH (default: a temporary file beside the database, "
                   "removed afterwards).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@wait_option
@request_options
@click.pass_obj
def seed(obj, zip_path, download, keep, quiet, wait, timeout, retries, max_wait):
    """Store the whole registry from its bulk download.

    ZIP is the registry's bulk file (GET /studies/download?format=json.zip, one JSON file
    per study); --download fetches it. Each study is stored as a sync would store it: new,
    changed (with its changes judged) or unchanged. Killed, it continues where it stopped
    when run again; the same file again stores nothing. Changed studies get a line each on
    stdout, a member that is not a study record a warning on stderr; then one summary line.
    Afterwards `regsync watch add --all` keeps the whole registry current with `regsync sync`.

    Exit codes: 0 seeded (members that are not study records are warned about), 1 the file
    is not a complete zip, the download failed, or a record could not be stored, 2 usage
    error, 3 another regsync is writing, 4 the database cannot be used.

    Example:

    \b
        regsync seed ctg-studies.json.zip
        regsync seed --download --keep ctg-studies.json.zip
        regsync watch add --all && regsync sync --quiet   # then, every day
    """
    from regsync.seed import Archive, run_seed

    if bool(zip_path) == bool(download):
        raise UsageError("give the bulk file (ZIP) or --download, not both" if zip_path else
                         "give the bulk file (ZIP) or --download")
    if keep and not download:
        raise UsageError("--keep goes with --download")
    progress = _progress_bar(quiet)
    temporary = None
    try:
        if download:
            from regsync.client import ClientConfig
            from regsync.download import download as fetch

            config = ClientConfig(api_url=obj.api_url, timeout=timeout, attempts=retries + 1, max_wait=max_wait)
            if keep:
                target = keep
            else:
                import tempfile

                handle, temporary = tempfile.mkstemp(prefix=".regsync-download-", suffix=".zip",
                                                     dir=os.path.dirname(os.path.abspath(obj.db_path)))
                os.close(handle)
                target = temporary
            got = fetch(config, target, on_bytes=progress.bytes if progress else None)
            if progress:
                progress.clear()
            archive = Archive(target, os.path.basename(keep) if keep else "the bulk download", got.url,
                              got.data_timestamp)
        else:
            archive = Archive(zip_path, os.path.basename(zip_path), os.path.basename(zip_path), None)
        with open_for_writing(obj, wait) as store:

            def skipped(skip) -> None:
                sys.stdout.flush()
                if progress:
                    progress.clear()
                click.echo(f"warning: {skip.line()}", err=True)

            def told(outcome) -> None:
                _print_outcome(outcome, as_json=False, quiet=True, progress=progress)

            try:
                report = run_seed(store, archive, on_skip=skipped, on_outcome=told,
                                  on_progress=progress.members if progress else None, clock=obj.clocks.monotonic)
            finally:
                sys.stdout.flush()
                if progress:
                    progress.close()
    finally:
        if temporary is not None:
            try:
                os.remove(temporary)
            except FileNotFoundError:
                pass
    for finding in report.registry_changes:  # once per seed, as a sync says it
        click.echo(f"note: {finding.line()}", err=True)
    _log(INFO, "run %s %s: %s", report.run_id, report.outcome, report.summary())
    click.echo(report.summary())
    if report.outcome == "partial":  # a record the store refused: as a sync's failed study
        sys.exit(1)


# -- backfill ------------------------------------------------------------------------------


@cli.command()
@click.argument("nct_ids", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="Print only studies that gained versions, and failures.")
@wait_option
@request_options
@click.pass_obj
def backfill(obj, nct_ids, quiet, wait, timeout, retries, max_wait):
    """Store each study's past versions from the registry.

    IDs come from the arguments, else the watchlist, else NCT07240987. Only versions not
    yet stored are fetched, one at a time, at most 2 requests/s; each is committed as it is
    stored, so an interrupted backfill continues where it stopped.

    Example:

    \b
        regsync backfill NCT07240987
        regsync backfill --quiet        # the whole watchlist, for cron
    """
    ids = nct_ids_argument(nct_ids)
    with open_for_writing(obj, wait) as store:
        if not ids:
            ids = store.watch_ids() or [DEFAULT_NCT_ID]
        ids = list(dict.fromkeys(resolve(store, nct_id) for nct_id in ids))
        report = _backfill(obj, store, ids, quiet=quiet, timeout=timeout, retries=retries, max_wait=max_wait)
    if report.failed:
        sys.exit(1)


def _backfill(obj, store, ids, *, quiet, timeout=30.0, retries=4, max_wait=120.0, delay=1.0, transport="requests",
              as_json=False):
    """Run a backfill and print its lines (``as_json``: as JSON Lines, as sync --json prints)."""
    from regsync.client import ApiClient, ClientConfig
    from regsync.history import backfill as run_backfill

    config = ClientConfig(api_url=obj.api_url, timeout=timeout, attempts=retries + 1, max_wait=max_wait, delay=delay,
                          transport=transport)
    api = ApiClient(config, sleep=obj.clocks.sleep, clock=obj.clocks.monotonic)
    history = _history_client(obj, config)
    progress = _progress_bar(quiet)
    try:
        report = run_backfill(store, history, api, ids, on_study=_history_teller(quiet=quiet, as_json=as_json,
                                                                                 progress=progress),
                              on_progress=progress.update if progress else None)
    finally:
        sys.stdout.flush()
        if progress:
            progress.close()
    if report.stopped:
        click.echo("error: " + report.stopped, err=True)
    stored = sum(len(s.stored) for s in report.studies)
    linked = sum(len(s.linked) for s in report.studies)
    summary = (f"backfill: {_plural(len(report.studies), 'study', 'studies')}, {plural(stored, 'registry version')} stored, "
               f"{linked} linked to own snapshots ({_plural(report.requests, 'request', 'requests')})")
    if report.skipped:
        summary += (f"; continues stopped run {report.resumed_from}: "
                    f"{_plural(report.skipped, 'study', 'studies')} it finished not read again")
    _log(ERROR if report.failed else INFO, "run %s: %s", report.run_id, summary)
    if not quiet:
        click.echo(summary, err=True)
    return report


@cli.command()
@click.argument("nct_id")
@json_option
@click.pass_obj
def outcomes(obj, nct_id, as_json):
    """Primary outcomes: as first registered, then changes.

    Each change with its date (the registry's, where known), whether it came before or after
    the start date, primary completion and results submission, and the registry's compare
    page for the two versions. Run `regsync backfill NCT` first for the record's whole past.

    Example:

    \b
        regsync outcomes NCT07240987
        regsync outcomes NCT07240987 --json
    """
    from regsync.outcome_story import story, story_text

    nct_id = normalize_nct_id(nct_id)
    store = open_store(obj)
    nct_id = resolve(store, nct_id)
    told = story(store, nct_id)
    click.echo(_dumps(told) if as_json else story_text(told))


# -- watch ---------------------------------------------------------------------------------


@cli.group()
def watch():
    """Manage the watchlist a plain `regsync sync` syncs.

    Example:

    \b
        regsync watch add NCT00763412 NCT06171568
        regsync watch list
        regsync watch remove NCT06171568
    """


def _watch_targets(nct_ids: tuple[str, ...], queries: tuple[str, ...],
                   whole: bool = False) -> tuple[list[str], list[str]]:
    """Validate everything before the database is touched: all or nothing. ``whole``
    (--all) is the whole-registry watch, a query watch of its own (regsync.sync)."""
    ids = nct_ids_argument(nct_ids)
    exprs = [q.strip() for q in queries]
    if any(not e for e in exprs):
        raise UsageError("--query needs a non-empty expression")
    if not ids and not exprs and not whole:
        raise UsageError("give NCT IDs, --query EXPR or --all")
    if whole:
        from regsync.sync import WHOLE_REGISTRY

        exprs.append(WHOLE_REGISTRY)
    return ids, exprs


def _query_name(expr: str) -> str:
    return "the whole registry" if not expr else f"query {expr!r}"


@watch.command("add")
@click.argument("nct_ids", nargs=-1)
@click.option("--query", "queries", multiple=True, metavar="EXPR",
              help="An Essie expression; every sync tracks all studies it matches.")
@click.option("--all", "whole", is_flag=True,
              help="Watch the whole registry: every sync fetches every study the registry updated since the last "
                   "(after `regsync seed`).")
@click.option("--backfill", "then_backfill", is_flag=True,
              help="Then store these studies' past versions from the registry's history (see backfill).")
@wait_option
@click.pass_obj
def watch_add(obj, nct_ids, queries, whole, wait, then_backfill):
    """Watch studies by NCT ID, everything an Essie query matches, or the whole registry.

    Example:

    \b
        regsync watch add NCT00763412 NCT06171568
        regsync watch add --query 'AREA[Condition]"chronic kidney disease" AND AREA[InterventionName]mesenchymal'
        regsync watch add --all      # after `regsync seed`: each sync fetches what the registry updated
    """
    ids, exprs = _watch_targets(nct_ids, queries, whole)
    with open_for_writing(obj, wait) as store:
        ids = list(dict.fromkeys(resolve(store, nct_id) for nct_id in ids))
        added = store.watch_add(ids)
        for nct_id in ids:
            click.echo(f"{nct_id} {'added' if nct_id in added else 'already watched'}")
        for expr in exprs:
            _, new = store.query_add(expr)
            click.echo(f"{_query_name(expr)} {'added' if new else 'already watched'}")
        backfilled = _backfill(obj, store, ids, quiet=False) if then_backfill and ids else None
    if backfilled is not None and backfilled.failed:
        sys.exit(1)


@watch.command("remove")
@click.argument("nct_ids", nargs=-1)
@click.option("--query", "queries", multiple=True, metavar="EXPR", help="Stop following a query watch.")
@click.option("--all", "whole", is_flag=True, help="Stop watching the whole registry (studies stay stored).")
@wait_option
@click.pass_obj
def watch_remove(obj, nct_ids, queries, whole, wait):
    """Stop watching studies (their stored versions are kept).

    Example:

    \b
        regsync watch remove NCT06171568
        regsync watch remove --query 'AREA[Condition]"chronic kidney disease"'
    """
    ids, exprs = _watch_targets(nct_ids, queries, whole)
    with open_for_writing(obj, wait, create=False) as store:
        watched = set(store.watch_ids())
        # An alias still on the watchlist (never synced) goes as given; otherwise its study.
        ids = list(dict.fromkeys(n if n in watched else resolve(store, n) for n in ids))
        removed = store.watch_remove(ids)
        for nct_id in ids:
            click.echo(f"{nct_id} {'removed' if nct_id in removed else 'was not watched'}")
        for expr in exprs:
            found = store.query_remove(expr)
            click.echo(f"{_query_name(expr)} {'removed' if found else 'was not watched'}")


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
        if not q["expr"]:  # the whole-registry watch
            click.echo("whole registry: every study; each sync fetches what the registry updated since the last")
            continue
        click.echo(f"query: {q['expr']} ({_query_matches(q)})")
    if rows:
        view = [
            {"nct_id": r["nct_id"], "version": r["current_version"] or "-", "status": _watch_status(r),
             "title": trunc(r["brief_title"] or "", 60)}
            for r in rows
        ]
        click.echo(render.table(view, ["nct_id", "version", "status", "title"]))


def _query_matches(row: dict) -> str:
    if row["last_matched"] is None:
        return "not synced yet"
    return f"{_plural(row['last_matched'], 'study', 'studies')} on run {row['last_matched_run']}"


def _watch_status(row: dict) -> str:
    if row.get("removed_at"):
        return f"removed from the registry {row['removed_at'][:10]}"
    return row["overall_status"] or "(not synced yet)"


# -- reading -------------------------------------------------------------------------------


def as_of_option(fn):
    return click.option(
        "--as-of", "as_of", metavar="DATE",
        help="What the public registry showed then: a registry version counts from its posting date, "
             "an own snapshot from when it was fetched (YYYY-MM-DD, or any form --since takes: 2026-12, "
             "today, 7d; UTC).",
    )(fn)


def _parse_day(value: str | None, option: str) -> str | None:
    """A day option (--as-of): the forms of --since that name a day."""
    if value is None:
        return None
    try:
        if params.date_problem(value) is not None or re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
            return params.parse_day(value)  # says which part of a mistyped date is wrong
        # Every other form --since takes names a day too: 2026-12, today, yesterday, 7d.
        return params.parse_since(value, click.get_current_context().obj.clocks.now)[:10]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@cli.command()
@click.argument("nct_id")
@json_option
@as_of_option
@click.pass_obj
def history(obj, nct_id, as_json, as_of):
    """One row per version of a study, in the registry's order.

    Versions are named by the registry's numbers (1-based, as on its website) once regsync
    knows the study's registry history (after a backfill or a fill-in), else by regsync's
    own sequence; a silent edit is a variant of the version it should equal (3a).

    Example:

    \b
        regsync history NCT07240987
        regsync history NCT07240987 --as-of 2026-06-30   # what the registry showed then
    """
    from regsync import timeline

    nct_id = normalize_nct_id(nct_id)  # a bad ID is a usage error before the database is asked
    day = _parse_day(as_of, "--as-of")
    store = open_store(obj)
    nct_id = resolve(store, nct_id)
    entries = timeline.entries(store, nct_id)
    if day is not None:
        entries = timeline.as_of(entries, day)
    if as_json:
        click.echo(_dumps([e.to_dict() for e in entries]))
    elif day is None:
        click.echo(render.history_text(nct_id, entries, store.study(nct_id).get("removed_at"),
                                       timeline.numbering_note(entries)))
    else:
        click.echo(render.history_as_of_text(nct_id, entries, day))


@cli.command()
@click.argument("nct_id")
@click.option("--version", "version", type=params.VERSION_REF,
              help="Version: N (3a for a variant), first, latest or a date (default: the latest).")
@as_of_option
@click.pass_obj
def show(obj, nct_id, version, as_of):
    """Print the exact bytes the registry sent for a record.

    Records read from the registry's history, or stored before regsync kept the registry's
    bytes (schema 0016), are printed as the JSON regsync stored for them. A newline follows only on a
    terminal, so that the output of a pipe is the registry's bytes and nothing else.

    Example:

    \b
        regsync show NCT07240987 --version 1
        regsync show NCT07240987 --as-of 2026-06-30   # the version the registry showed then
    """
    from regsync import timeline

    nct_id = normalize_nct_id(nct_id)
    day = _parse_day(as_of, "--as-of")
    store = open_store(obj)
    nct_id = resolve(store, nct_id)
    entries = timeline.entries(store, nct_id)
    if day is not None:
        if version is not None:
            raise UsageError("--version and --as-of cannot be combined")
        known = timeline.as_of(entries, day)
        if not known:
            raise RegsyncError(f"{nct_id} had no version shown by the end of {day} (UTC)")
        entry = known[-1]
    else:
        entry = timeline.find(nct_id, entries, "latest" if version is None else version)
    sys.stdout.flush()
    sys.stdout.buffer.write(store.record_bytes(nct_id, entry.version))
    if sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


@cli.command()
@click.argument("nct_id")
@click.option("--from", "from_v", type=params.VERSION_REF,
              help="Older version: N (3a for a variant), first, latest or a date (default: the one before --to).")
@click.option("--to", "to_v", type=params.VERSION_REF,
              help="Newer version: N, first, latest or a date (default: the latest).")
@click.option("--all", "show_admin", is_flag=True, help="Also show registry bookkeeping (admin) changes.")
@json_option
@click.pass_obj
def diff(obj, nct_id, from_v, to_v, show_admin, as_json):
    """What changed between two versions.

    Grouped by category, most severe first. Versions are named as `regsync history` names
    them (the registry's numbers once known, so `--from 2 --to 3` is the registry's compare
    view ?tab=history&a=2&b=3).

    Example:

    \b
        regsync diff NCT07240987              # latest against the version before it
        regsync diff NCT07240987 --from 1 --to 3 --json
    """
    from regsync import timeline

    nct_id = normalize_nct_id(nct_id)  # a bad ID is a usage error before the database is asked
    store = open_store(obj)
    nct_id = resolve(store, nct_id)
    entries = timeline.entries(store, nct_id)
    newer = timeline.find(nct_id, entries, "latest" if to_v is None else to_v, "--to")
    if from_v is None and newer.position == 1:
        # Not an error: a script diffing every study meets first versions all the time.
        if as_json:
            click.echo(_dumps({"nct_id": nct_id, "from_version": None, "to_version": label_value(newer.label),
                               "changes": []}))
        else:
            only = " (the only one stored)" if len(entries) == 1 else ""
            click.echo(f"{nct_id} v{newer.label} is the first version{only}; nothing before it to compare")
        return
    older = entries[newer.position - 2] if from_v is None else timeline.find(nct_id, entries, from_v, "--from")
    if older.position > newer.position:
        raise UsageError(f"--from {older.label} is after --to {newer.label} in the registry's order")
    changes = timeline.changes(store, nct_id, older, newer, entries)
    if as_json:
        click.echo(_dumps({
            "nct_id": nct_id, "from_version": label_value(older.label), "to_version": label_value(newer.label),
            "submitted": newer.submitted, "posted": newer.posted, "detected_at": newer.fetched_at,
            "registry_version": newer.registry_version, "changes": [c.to_dict() for c in changes],
        }))
    elif older.version == newer.version:
        click.echo(f"{nct_id} v{older.label} -> v{newer.label}: the same version; no changes")
    else:
        dates = f"submitted {newer.submitted}" if newer.submitted else ""
        if newer.posted:
            dates += f", posted {newer.posted}"
        click.echo(render.diff_text(nct_id, older.label, newer.label, changes, show_admin=show_admin,
                                    dates=f"({dates})" if dates else ""))


def _parse_since(value: str | None, now: Callable[[], datetime], hint: str = "'--since'") -> str | None:
    if value is None:
        return None
    try:
        return params.parse_since(value, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


@cli.command()
@click.option("--since", metavar="WHEN",
              help="Only changes detected on or after WHEN (UTC): 2026-12-01, 2026-12, 2026, an ISO datetime, "
                   "12h, 7d, 2w, today, yesterday.")
@click.option("--submitted-since", "submitted_since", metavar="WHEN",
              help="Only changes the sponsor submitted on or after WHEN (the registry's lastUpdateSubmitDate; "
                   "same forms as --since).")
@click.option("--nct", "nct_ids", multiple=True, help="Only these studies (repeatable).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY", callback=params.categories,
              help="Only these categories (repeatable, or comma separated): status, dates, outcomes, ...")
@click.option("--severity", type=click.Choice([s.value for s in Severity]), default="minor", show_default=True,
              help="This severity or higher; `admin` includes registry bookkeeping.")
@click.option("--limit", type=params.LIMIT, help="At most this many changes.")
@json_option
@click.pass_obj
def changes(obj, since, submitted_since, nct_ids, categories, severity, limit, as_json):
    """Flagged changes of all tracked studies, newest first.

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
    store = open_store(obj)
    ids = [resolve(store, nct_id) for nct_id in ids]
    submitted = _parse_since(submitted_since, obj.clocks.now, "'--submitted-since'")
    rows = store.query_changes(
        since=_parse_since(since, obj.clocks.now), submitted_since=submitted[:10] if submitted else None,
        nct_ids=ids or None, categories=list(categories) or None, severities=wanted, limit=limit,
    )
    if as_json:
        click.echo(_dumps([r.to_dict() for r in rows]))
    else:
        click.echo(render.changes_text(rows))
        if not categories:
            # Silent edits (content changed with no new registry version) are events, not
            # changes between two versions: listed after them, with the same --nct/--since.
            start = _parse_since(since, obj.clocks.now)
            for edit in store.silent_edits():
                if (ids and edit["nct_id"] not in ids) or (start and edit["detected_at"] < start):
                    continue
                click.echo(f"{edit['detected_at'][:10]}  {edit['nct_id']} silent edit: {edit['detail']}")


@cli.command()
@wait_option
@click.pass_obj
def reclassify(obj, wait):
    """Judge the stored versions again (after a rules change).

    Each study's chain is put in the registry's order first. A change judged the same as
    before is left as it is (its detection date too); a change found anew is detected now.

    Example:

    \b
        regsync reclassify
        regsync reclassify --wait 600   # while the nightly sync may still be running
    """
    with open_for_writing(obj, wait, create=False) as store:
        run_id = store.begin_run("reclassify")
        started = obj.clocks.monotonic()
        try:
            from regsync.judge import reclassify as run_reclassify, settle_pending

            settle_pending(store)
            pairs, found = run_reclassify(store)
        except BaseException:
            store.finish_run(run_id, "interrupted", duration=obj.clocks.monotonic() - started)
            raise
        store.finish_run(run_id, "ok", duration=obj.clocks.monotonic() - started)
    _log(INFO, "reclassified: %d version pairs judged anew, %d changes", pairs, found)
    click.echo(f"reclassified: {_plural(pairs, 'version pair', 'version pairs')} judged anew "
               f"({_plural(found, 'change', 'changes')}); the others unchanged")


@cli.command()
@click.option("--runs", "limit", type=params.RUNS, default=10, show_default=True, help="How many recent runs.")
@json_option
@click.pass_obj
def status(obj, limit, as_json):
    """Recent runs, what is stored, and the database's size.

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
        stored = run["versions_stored"]  # a backfill's
        run["new_versions"] = stored if stored is not None else run["new_studies"] + run["changed"]
    from regsync.obligations import state_counts

    warnings = render.clock_warnings(runs, utcnow())
    today = obj.clocks.today()
    by_state = state_counts(store, today)
    silent = store.silent_edits()
    outbox = store.outbox_unsent()
    if as_json:
        click.echo(_dumps({"database": obj.db_path, "size_bytes": size, **counts, "last_complete_run": last,
                           "runs": runs, "clock_warnings": warnings, "silent_edits": silent,
                           "obligations": {"as_of": today.isoformat(), **{s.value: n for s, n in by_state.items()}},
                           "notifications": outbox}))
    else:
        click.echo(render.status_text(runs, counts, obj.db_path, size, last, warnings))
        click.echo(render.obligations_status_line(by_state, today))
        for line in render.outbox_lines(outbox):
            click.echo(line)
        if silent:
            newest = silent[0]
            click.echo(f"silent edits: {len(silent)} (newest {newest['detected_at'][:10]}: {newest['nct_id']} "
                       f"{newest['detail']}); regsync changes lists them")


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


# -- feeds (issue 14) ------------------------------------------------------------------------


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the feed to this file (a regular file or a new path, replaced in one step); "
                   "- for stdout.")
@click.option("--format", "fmt", type=click.Choice(["atom", "json"]), default="atom", show_default=True,
              help="Atom (RFC 4287) or JSON Feed 1.1.")
@click.option("--severity", type=click.Choice([s.value for s in Severity]), default="minor", show_default=True,
              help="Versions with a change of this severity or higher; entries list only those changes.")
@click.option("--nct", "nct_ids", multiple=True, help="Only these studies (repeatable).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY", callback=params.categories,
              help="Only these categories (repeatable, or comma separated): status, dates, outcomes, ...")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many entries, newest first.")
@click.pass_obj
def feed(obj, output, fmt, severity, nct_ids, categories, limit):
    """A feed of flagged changes, one entry per version.

    Atom or JSON Feed, newest entry first.

    Entry ids are the same in every run, so a feed reader never shows an entry twice.

    Example:

    \b
        regsync feed --output /var/www/trials.atom
        regsync feed --format json --severity major --category outcomes
    """
    from regsync import feed as feeds

    known = [c.value for c in Category]
    for category in categories:
        if category not in known:
            raise UsageError(f"unknown category {category!r}; one of: {', '.join(known)}")
    ids = nct_ids_argument(nct_ids)
    if output == "-":
        output = None
    if output is not None:
        feeds.check_output(output)  # before the work, not after it
    entries = feeds.collect(open_store(obj), severity=severity, nct_ids=ids, categories=list(categories), limit=limit)
    data = feeds.render(entries, fmt, severity=severity, nct_ids=ids, categories=list(categories))
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        feeds.write_atomically(output, data)
    except OSError as exc:
        raise RegsyncError(f"cannot write {output}: {exc.strerror or exc}") from None


# -- publishing (issue 14) -----------------------------------------------------------------


@cli.command("datasette-metadata")
@click.pass_obj
def datasette_metadata(obj):
    """Print Datasette metadata for the database.

    Titles, descriptions and canned queries for the views regsync ships.

    Example:

    \b
        regsync --db trials.db datasette-metadata > metadata.json
        datasette trials.db --metadata metadata.json
    """
    from regsync.datasette import metadata_for, missing_views

    # The canned queries read the views of schema 0008: an older database is refused (exit 4).
    with open_store(obj) as store:
        missing = missing_views(store.view_names())
    if missing:
        raise StoreError(f"database {obj.db_path} has no view {', '.join(missing)} "
                         "(schema 0008_views made it; it was dropped since)")
    click.echo(_dumps(metadata_for(obj.db_path)))


@cli.command()
@click.argument("nct_ids", nargs=-1)
@click.option("--html", "html_dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Write the pages into this directory (created if missing).")
@click.pass_obj
def report(obj, nct_ids, html_dir):
    """Write an HTML site: an index and a page per study.

    The index lists the studies, each study's page its timeline. IDs come from the
    arguments, else the watchlist, else every stored study. The pages need
    no server, no network and no JavaScript: open DIR/index.html.

    Example:

    \b
        regsync report --html site
        regsync report NCT07240987 --html site
    """
    from regsync.report import write_report

    ids = nct_ids_argument(nct_ids)
    with open_store(obj) as store:
        written = write_report(store, ids or None, html_dir, generated_at=obj.clocks.now())
    for page in written.pages:
        click.echo(f"{page.nct_id} {_plural(page.versions, 'version', 'versions')} -> {page.path}")
    for nct_id in written.not_synced:
        click.echo(f"{nct_id} not synced yet: listed in the index, no page")
    click.echo(f"{written.index}: {_plural(len(written.pages), 'study', 'studies')}", err=True)


@cli.command()
@click.option("--parquet", "parquet_dir", required=True, metavar="DIR",
              help="Write studies, versions, changes and obligations .parquet into this directory "
                   "(created if missing; files of the same names are replaced).")
@click.pass_obj
def export(obj, parquet_dir):
    """Write the store as Parquet files (pandas, R, DuckDB).

    studies.parquet (each study's current summary), versions.parquet (every
    version's summary: status, key dates with their types, enrollment, phases,
    sponsor, registry version and dates), changes.parquet (every stored change
    with its three dates) and obligations.parquet (every version's results
    obligation). Needs pyarrow: pip install 'regsync[parquet]'.

    Example:

    \b
        regsync export --parquet out
        python -c "import pandas; print(pandas.read_parquet('out/changes.parquet'))"
    """
    from regsync.export import export_parquet

    with open_store(obj) as store:
        done = export_parquet(store, parquet_dir)
    click.echo(
        f"{done.directory}: {_plural(done.studies, 'study', 'studies')}, "
        f"{_plural(done.versions, 'version', 'versions')}, {_plural(done.changes, 'change', 'changes')}, "
        f"{_plural(done.obligations, 'obligation', 'obligations')}",
        err=True,
    )


# -- obligations -----------------------------------------------------------------------------


def _state_choice() -> click.Choice:
    from regsync.model import ObligationState

    return click.Choice([s.value for s in ObligationState])


@cli.command()
@click.option("--nct", "nct_ids", multiple=True, help="Only these studies (repeatable).")
@click.option("--state", "states", multiple=True, type=_state_choice(),
              help="Only studies in this state (repeatable).")
@json_option
@click.pass_obj
def obligations(obj, nct_ids, states, as_json):
    """Results obligations (FDAAA 801) of tracked studies.

    Judged today. Applicability (ACT, probable ACT, not applicable) is estimated from registry fields the
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


class _GuardedOutput:
    """stdout that never raises into a command: a full disk (``> /dev/full``), a closed
    stdout (``>&-``) or a reader gone (``| head``) must not turn a finished sync into an
    interrupted one or a traceback. The first failure is kept and said once by ``main``;
    the rest of the output is dropped (fd 1 then points at /dev/null, so the interpreter's
    own flush at exit does not fail again)."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.error: OSError | None = None
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        self.errors = getattr(stream, "errors", None) or "strict"
        self.buffer = _GuardedBytes(self)

    def write(self, text: str) -> int:
        self._call(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:  # nothing written, nothing lost
            self._call(lambda: self._stream.flush())

    def isatty(self) -> bool:
        return self._stream is not None and self.error is None and self._stream.isatty()

    def fileno(self) -> int:
        return 1

    def _call(self, action: Callable[[], Any]) -> None:
        if self.error is not None:
            return
        if self._stream is None:
            self._fail(OSError(errno.EBADF, "stdout is closed"))
            return
        try:
            action()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = exc
        _stdout_to_devnull()


class _GuardedBytes:
    """``sys.stdout.buffer`` of a _GuardedOutput (the feed writes bytes)."""

    def __init__(self, text: _GuardedOutput):
        self._text = text

    def write(self, data: bytes) -> int:
        stream = self._text._stream
        self._text._call(lambda: stream.buffer.write(data))
        return len(data)

    def flush(self) -> None:
        self._text.flush()


def _stdout_to_devnull() -> None:
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    if fd != 1:
        os.dup2(fd, 1)
        os.close(fd)


def main() -> None:
    import signal

    # A service stop or `kill` is Ctrl-C: the run is recorded interrupted, exit 143.
    signal.signal(signal.SIGTERM, _on_sigterm)
    if sys.stdout is None:
        # A closed fd 1 would be given to the next file opened (the log, the lock file):
        # hold it with /dev/null so nothing meant for stdout can land in one of them.
        _stdout_to_devnull()
    out = _GuardedOutput(sys.stdout)
    sys.stdout = out  # type: ignore[assignment]
    code: int | str | None = 0
    try:
        cli(prog_name="regsync")
    except SystemExit as exc:
        code = exc.code
    out.flush()
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if out.error is not None and out.error.errno != errno.EPIPE:
        # A reader that stopped early (`regsync changes | head`) is no error; anything else
        # (a full disk, a closed stdout) lost output: one line, and never exit 0.
        why = out.error.strerror or str(out.error)
        _log(ERROR, "error: cannot write the output: %s", why)
        click.echo(f"error: cannot write the output: {why}", err=True)
        status = status or 1
    sys.exit(status)
