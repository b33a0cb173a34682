"""Serve the fake API until Ctrl-C, for manual use. From tests/ (where ``support`` lives):

    python -m support.fakeapi --port 8765 --synthetic 1000

or from the repository root: ``PYTHONPATH=tests python -m support.fakeapi ...``.

What a test scripts in Python can be scripted here from the shell: edits to records (the
sponsor's update of "the next night"), removals, aliases, a moving ``dataTimestamp`` and
faults, all taking effect once ``--after N`` requests have been answered (default: from the
start). So README's examples can be reproduced with shell commands only.
"""

from __future__ import annotations

import argparse
import copy
import errno
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import orjson

from regsync.ids import is_nct_id, normalize_nct_id
from regsync.text import plural

from .faults import Fault, Hold, RequestLog
from .registry import FakeRegistry
from .server import serve
from .synthetic import load_fixtures, synthesize

PROG = "python -m support.fakeapi"
DEFAULT_DATA_TIMESTAMP = "2026-09-04T09:00:06"
FAULT_KINDS = "a status code (503, 429/RETRY_AFTER_SECONDS), html, truncated, empty, reset, timeout, wrong=NCT..."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like regsync's own errors, rather than argparse's usage block.
        sys.stderr.write(f"error: {message} (see: {PROG} --help)\n")
        raise SystemExit(2)


def _count(text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 to 999999999)")
    return int(text)


def _port(text: str) -> int:
    if not re.fullmatch(r"\d{1,5}", text.strip()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: any free port)")
    return int(text)


def _nct(text: str) -> str:
    if not is_nct_id(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an NCT ID")
    return normalize_nct_id(text)


def _timestamp(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO timestamp (2026-11-21T09:00:06)") from None
    return text


@dataclass(frozen=True)
class Edit:
    nct_id: str
    path: tuple[str, ...]
    value: object

    @classmethod
    def parse(cls, text: str) -> Edit:
        """``NCT...:dotted.path=VALUE``; VALUE is JSON when it parses as JSON (``40``,
        ``null``, ``{"date": "2026-11-15", "type": "ACTUAL"}``), else a string."""
        target, colon, rest = text.partition(":")
        path, equals, raw = rest.partition("=")
        if not colon or not equals or not path.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is not NCT...:dotted.path=VALUE")
        try:
            value: object = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        return cls(_nct(target), tuple(path.strip().split(".")), value)

    def apply(self, record: dict) -> None:
        node: object = record
        for i, key in enumerate(self.path):
            last = i == len(self.path) - 1
            if isinstance(node, dict):
                if last:
                    node[key] = self.value
                    return
                node = node.setdefault(key, {})
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                if last:
                    node[int(key)] = self.value
                    return
                node = node[int(key)]
            else:
                where = ".".join(self.path[:i]) or "the record"
                raise ValueError(f"--edit {self.nct_id}:{'.'.join(self.path)}: {where} holds no {key!r}")


@dataclass(frozen=True)
class HistorySpec:
    """``NCT:DATE`` (a past version of the study dated DATE, the record as served) or
    ``NCT:DATE:PATH=VALUE`` (the same, with that field as it was then; repeat for more
    fields of one version). Each past version is the served record plus its own edits."""

    nct_id: str
    date: str
    edit: Edit | None

    @classmethod
    def parse(cls, text: str) -> HistorySpec:
        target, _, rest = text.partition(":")
        day, _, change = rest.partition(":")
        try:
            date.fromisoformat(day)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not NCT:YYYY-MM-DD or NCT:YYYY-MM-DD:dotted.path=VALUE") from None
        edit = Edit.parse(f"{target}:{change}") if change else None
        return cls(_nct(target), day, edit)


def history_from(registry: FakeRegistry, specs: list[HistorySpec], directory: Path | None) -> dict[str, int]:
    """Give studies a version history: the past versions ``specs`` and ``directory`` describe,
    oldest first, then the record as served, dated its lastUpdateSubmitDate (the registry's
    history ends with the current version). ``directory`` holds ``NCT.../YYYY-MM-DD.json``,
    each a whole record. -> versions per study."""
    past: dict[str, dict[str, dict]] = {}
    for spec in specs:
        versions = past.setdefault(spec.nct_id, {})
        record = versions.setdefault(spec.date, copy.deepcopy(registry.get(spec.nct_id)))
        if spec.edit is not None:
            spec.edit.apply(record)
    if directory is not None:
        for path in sorted(directory.glob("NCT*/*.json")):
            nct_id = _nct(path.parent.name)
            day = path.stem
            date.fromisoformat(day)  # ValueError: a file not named by its date
            past.setdefault(nct_id, {})[day] = orjson.loads(path.read_bytes())
    counts = {}
    for nct_id, versions in past.items():
        current = registry.get(nct_id)
        submitted = current["protocolSection"]["statusModule"].get("lastUpdateSubmitDate", "9999-12-31")
        for day in sorted(versions):
            registry.add_history(nct_id, day, versions[day])
        if submitted not in versions:
            registry.add_history(nct_id, submitted, current)
        counts[nct_id] = len(versions) + (submitted not in versions)
    return counts


@dataclass(frozen=True)
class FaultSpec:
    target: str
    make: Callable[[], Fault]
    times: int

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``TARGET:KIND[xN]``: TARGET an NCT ID, ``studies`` (the list) or ``version``
        (a leading / is fine); N how many requests in a row get it (default 1)."""
        target, colon, spec = text.partition(":")
        target = target.strip().lstrip("/")
        match = re.fullmatch(r"(.+?)(?:x(\d{1,6}))?", spec.strip())
        if not colon or not match:
            raise argparse.ArgumentTypeError(f"{text!r} is not TARGET:KIND[xN]")
        if target not in ("studies", "version"):
            target = _nct(target)
        kind, times = match.group(1), int(match.group(2) or 1)
        return cls(target, _fault_maker(kind, text), times)


def _fault_maker(kind: str, text: str) -> Callable[[], Fault]:
    status = re.fullmatch(r"([1-5]\d\d)(?:/(\d{1,5}))?", kind)
    if status:
        code, retry_after = int(status.group(1)), status.group(2)
        return lambda: Fault.status(code, retry_after=retry_after)
    simple = {"html": Fault.html_200, "truncated": Fault.truncated, "empty": Fault.empty, "reset": Fault.reset}
    if kind in simple:
        return simple[kind]
    if kind == "timeout":
        # Held until the server stops: the client's read timeout fires on its own clock.
        return lambda: Fault.hold(Hold())
    if kind.startswith("wrong="):
        other = _nct(kind.removeprefix("wrong="))
        return lambda: Fault.wrong_record(other)
    raise argparse.ArgumentTypeError(f"{text!r}: unknown fault {kind!r}; one of: {FAULT_KINDS}")


def _alias(text: str) -> tuple[str, str]:
    old, equals, new = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not OLD=CANONICAL")
    return _nct(old), _nct(new)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Serve a fake ClinicalTrials.gov API v2 on 127.0.0.1 until Ctrl-C.",
        epilog=(
            "Scripted changes (--edit, --remove, --alias, --fault, --next-data-timestamp) take effect "
            "once --after N requests have been answered: the registry's next release. Example, from tests/: "
            f"{PROG} --port 8765 --after 4 --edit "
            "NCT07240987:protocolSection.statusModule.overallStatus=RECRUITING --fault NCT00763412:503x2"
        ),
    )
    parser.add_argument("--port", type=_port, default=8765, help="port (0: any free port)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="directory of NCT*.json records to serve (default: tests/fixtures)")
    parser.add_argument("--synthetic", type=_count, default=0, metavar="N",
                        help="also serve N synthetic studies derived from the fixtures")
    parser.add_argument("--data-timestamp", type=_timestamp, default=DEFAULT_DATA_TIMESTAMP, metavar="TS",
                        help=f"the dataTimestamp /version serves (default {DEFAULT_DATA_TIMESTAMP})")
    parser.add_argument("--after", type=_count, default=0, metavar="N",
                        help="apply the scripted changes once N requests have been answered (default 0)")
    parser.add_argument("--edit", type=Edit.parse, action="append", default=[], metavar="NCT:PATH=VALUE",
                        help="set a field of a record (dotted path; VALUE as JSON, else a string); the "
                             "record's lastUpdatePostDate becomes the new release's date unless edited too")
    parser.add_argument("--remove", type=_nct, action="append", default=[], metavar="NCT",
                        help="the study is no longer served (404)")
    parser.add_argument("--alias", type=_alias, action="append", default=[], metavar="OLD=CANONICAL",
                        help="/studies/OLD answers 301 to CANONICAL")
    parser.add_argument("--fault", type=FaultSpec.parse, action="append", default=[], metavar="TARGET:KIND[xN]",
                        help=f"the next N requests to TARGET (an NCT ID, studies or version) fail: {FAULT_KINDS}")
    parser.add_argument("--history", type=HistorySpec.parse, action="append", default=[],
                        metavar="NCT:DATE[:PATH=VALUE]",
                        help="a past version of a study in its version history (for regsync backfill): the "
                             "record as served, dated DATE, with PATH set to VALUE (repeat for more fields); "
                             "the served record follows as the newest version")
    parser.add_argument("--history-dir", type=Path, default=None, metavar="DIR",
                        help="past versions as files DIR/NCT.../YYYY-MM-DD.json (whole records)")
    parser.add_argument("--next-data-timestamp", type=_timestamp, default=None, metavar="TS",
                        help="the dataTimestamp once the changes apply (default: a day after --data-timestamp "
                             "when anything is edited or removed)")
    return parser


class ScriptedRegistry(FakeRegistry):
    """A registry whose next release (edits, removals, aliases, faults, a new dataTimestamp)
    goes live once ``after`` requests have been answered."""

    def __init__(self, data_timestamp: str, after: int, release: Callable[[ScriptedRegistry], str] | None):
        super().__init__(data_timestamp=data_timestamp)
        self._after = after
        self._release: Callable[[ScriptedRegistry], str] | None = release

    def apply_if_due(self) -> None:
        if self._release is not None and len(self.requests) >= self._after:
            release, self._release = self._release, None
            note = release(self)
            print(f"fake API: {note}", file=sys.stderr, flush=True)

    def _log(self, entry: RequestLog, generation: int | None = None) -> None:
        # Called once the answer is built and before it is sent: the N-th request still gets
        # the old release, the next one the new.
        super()._log(entry, generation)
        with self._lock:
            self.apply_if_due()


def _release(args: argparse.Namespace) -> Callable[[ScriptedRegistry], str] | None:
    moved = bool(args.edit or args.remove)
    new_ts = args.next_data_timestamp
    if new_ts is None and moved:
        new_ts = (datetime.fromisoformat(args.data_timestamp) + timedelta(days=1)).isoformat()
    if not (moved or args.alias or args.fault or new_ts):
        return None  # nothing scripted

    def release(registry: ScriptedRegistry) -> str:
        if new_ts is not None:
            registry.data_timestamp = new_ts
        edited: dict[str, dict] = {}
        for edit in args.edit:
            record = edited.get(edit.nct_id) or registry.get(edit.nct_id)
            edit.apply(record)
            edited[edit.nct_id] = record
        for nct_id, record in edited.items():
            status = record["protocolSection"].setdefault("statusModule", {})
            touched = any(e.nct_id == nct_id and "lastUpdatePostDateStruct" in e.path for e in args.edit)
            if not touched and new_ts is not None:
                status["lastUpdatePostDateStruct"] = {"date": new_ts[:10], "type": "ACTUAL"}
            registry.add(record)
            if registry.history_index(nct_id) is not None:
                # The sponsor's update is a new version in the study's history too (by the day
                # it was submitted, if an edit says so, else the new release's day).
                registry.add_history(nct_id, status.get("lastUpdateSubmitDate") if any(
                    e.nct_id == nct_id and "lastUpdateSubmitDate" in e.path for e in args.edit
                ) else (new_ts or "")[:10], record)
        for nct_id in args.remove:
            registry.remove(nct_id)
        for old, new in args.alias:
            registry.alias(old, new)
        for spec in args.fault:
            registry.fail(spec.target, *[spec.make() for _ in range(spec.times)])
        return (f"after {plural(len(registry.requests), 'request')}: {plural(len(edited), 'study', 'studies')} edited, "
                f"{len(args.remove)} removed, {plural(len(args.alias), 'alias', 'aliases')}, "
                f"{plural(len(args.fault), 'fault')} queued; "
                f"dataTimestamp {registry.data_timestamp}")

    return release


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    registry = ScriptedRegistry(args.data_timestamp, args.after, _release(args))
    try:
        for record in load_fixtures(args.fixtures):
            registry.add(record)
        for record in synthesize(args.synthetic, args.fixtures):
            registry.add(record)
    except OSError as exc:
        _fail(f"cannot read the fixtures: {exc.strerror or exc} ({exc.filename or args.fixtures})")
    # Checked before serving, so a typo is an error now rather than a surprise mid-test.
    for nct_id in {e.nct_id for e in args.edit} | set(args.remove) | {new for _, new in args.alias}:
        if nct_id not in registry:
            _fail(f"{nct_id} is not served (use --fixtures or --synthetic)")
    for spec in args.fault:
        if spec.target not in ("studies", "version") and spec.target not in registry:
            _fail(f"--fault {spec.target}: not served (use --fixtures or --synthetic)")
    for spec in args.history:
        if spec.nct_id not in registry:
            _fail(f"--history {spec.nct_id}: not served (use --fixtures or --synthetic)")
    try:
        history = history_from(registry, args.history, args.history_dir)
    except ValueError as exc:  # an edit into nothing, a file not named YYYY-MM-DD.json, bad JSON
        _fail(f"--history: {exc}")
    except OSError as exc:
        _fail(f"--history-dir: {exc.strerror or exc} ({exc.filename})")
    except KeyError as exc:
        _fail(f"--history-dir: {exc.args[0]} is not served (use --fixtures or --synthetic)")
    try:
        trial = {e.nct_id: registry.get(e.nct_id) for e in args.edit}
        for edit in args.edit:
            edit.apply(trial[edit.nct_id])
    except ValueError as exc:
        _fail(str(exc))
    try:
        server = serve(registry, args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _fail(f"port {args.port} is in use; pick another, or --port 0 for any free port")
        _fail(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}")
    with server:
        with registry._lock:
            registry.apply_if_due()  # --after 0: the scripted release is live from the start
        print(f"fake ClinicalTrials.gov API: {server.url} ({len(registry)} studies); Ctrl-C stops",
              flush=True)
        for nct_id, n in history.items():
            print(f"fake API: {nct_id} has a history of {n} versions", file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
