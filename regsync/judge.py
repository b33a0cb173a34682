"""The one judge: what changed from one version to the next, and keeping a study's chain judged.

``diff_records(a, b)`` is the answer to "what changed from a to b?" everywhere: the stored
changes, ``regsync diff``, the report, the feed and ``reclassify`` all come from it. It
compares the two records after normalisation (regsync.normalize), so the markup of a source
(the API's markdown, the history's HTML) never makes a change, and adds the change of the
results obligation an edit makes (regsync.obligations).

``settle(store, nct_id)`` keeps a study's chain whole: it orders the study's versions
(regsync.chain), writes their places and labels, and judges every version whose neighbour
before it is not the one it was judged against. The changes are a function of the chain
alone, so the order in which regsync learned of its versions (sync, backfill, a fill-in,
reclassify) never shows in them. The store only stores what this module gives it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

import orjson

from regsync import chain, sentinel
from regsync.model import Change
from regsync.errors import RegsyncError
from regsync.store import Store, ValueRefused, utcnow

log = logging.getLogger(__name__)


def diff_records(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The classified changes from ``old`` to ``new`` (two versions of one study, in any
    markup the registry sends), an edit that moves a results deadline included, in the
    order ``Change.sort_key`` gives."""
    from regsync.classify import diff_records as classify
    from regsync.normalize import normalize_record
    from regsync.obligations import obligation_changes

    a, b = normalize_record(dict(old)), normalize_record(dict(new))
    return sorted(classify(a, b) + obligation_changes(a, b), key=Change.sort_key)


@lru_cache(maxsize=64)
def _day_of(text: str) -> date:
    """``YYYY-MM-DD`` as a date (a page shares one; strptime was a quarter of the row's cost)."""
    return date.fromisoformat(text)


def obligation_columns(record: Mapping[str, Any], when: str) -> tuple[Any, ...]:
    """A version's results obligation as the store keeps it, judged on the day it was
    fetched (``when``, a stored time), so reclassify recomputes the same row."""
    from regsync.obligations import obligation  # a module attribute after the first call

    o = obligation(record, _day_of(when[:10]))
    return (
        o.applicability.value, o.reason,
        o.due_date.isoformat() if o.due_date else None,
        o.overdue_after.isoformat() if o.overdue_after else None,
        o.state.value, o.days, o.as_of.isoformat(), orjson.dumps(o.to_dict()).decode(),
    )


@dataclass
class Settled:
    """What settling a study did."""

    nct_id: str
    judged: list[int] = field(default_factory=list)  # versions judged anew
    failed: list[tuple[int, str]] = field(default_factory=list)  # versions the judge could not judge
    renumbered: bool = False  # the study's versions took the registry's numbers here
    labels: dict[int, str] = field(default_factory=dict)  # version -> label, after


Differ = Callable[[Mapping[str, Any], Mapping[str, Any]], list[Change]]


def settle(
    store: Store, nct_id: str, *, rejudge: bool = False, now: str | None = None, differ: Differ | None = None
) -> Settled:
    """Order ``nct_id``'s chain, label it and judge what needs judging, in one transaction.

    ``rejudge``: judge every pair again (reclassify); a pair whose judgement did not change
    keeps its rows as they are, detection dates included. A pair the judge cannot judge
    (it raised) keeps no changes, is logged once and stays unjudged: the next run tries again.
    """
    now = now or utcnow()
    differ = differ or diff_records  # looked up now: one judge, replaceable in one place
    result = Settled(nct_id)
    with store.transaction():
        rows = store.chain_rows(nct_id)
        ordered = chain.order(rows)
        names = chain.labels(ordered)
        # Said once: the study had names (its own sequence), none of them the registry's.
        result.renumbered = (
            chain.numbered(ordered)
            and any(r.get("label") is not None for r in rows)
            and not any(
                r.get("registry_version") is not None and r.get("label") == str(int(r["registry_version"]) + 1)
                for r in rows
            )
        )
        places = [(int(r["version"]), pos + 1, name) for pos, (r, name) in enumerate(zip(ordered, names))]
        if any(r.get("chain_pos") != pos or r.get("label") != name for r, (_, pos, name) in zip(ordered, places)):
            store.write_chain(nct_id, places)
        else:  # a version adopted into another keeps its place; the study's current may move
            store.set_current_label(nct_id, {v: name for v, _, name in places})
        result.labels = {v: name for v, _, name in places}
        records: dict[int, dict[str, Any]] = {}
        registry = _RegistryChanges(store, nct_id)

        def record(version: int) -> dict[str, Any]:
            if version not in records:
                records[version] = store.record(nct_id, version)
            return records[version]

        for index, row in enumerate(ordered):
            version = int(row["version"])
            previous = int(ordered[index - 1]["version"]) if index else 0
            if row.get("judged_prev") == previous and not rejudge:
                continue
            try:
                changes = differ(record(previous), record(version)) if previous else []
                if changes and (known := registry.between(previous, version)):
                    changes = sentinel.relabel(changes, known)
                if rejudge and row.get("judged_prev") == previous and _same(store, nct_id, version, previous, changes):
                    continue
                with store.savepoint():
                    store.write_judgement(nct_id, version, previous, changes, now)
            except (RegsyncError, sqlite3.OperationalError):
                raise  # the database failed, not the judge
            except Exception as exc:  # noqa: BLE001 - a judge's bug costs the changes, never the version
                cause = str(exc) if isinstance(exc, ValueRefused) else " ".join(
                    f"{type(exc).__name__}: {exc}".split())[:200]
                log.warning("%s v%s could not be judged against v%s (%s); stored unjudged",
                            nct_id, names[index], names[index - 1] if index else "-", cause)
                store.unjudge(nct_id, version)
                result.failed.append((version, cause))
                continue
            result.judged.append(version)
    return result


class _RegistryChanges:
    """The registry's structural changes recorded (regsync.sentinel) that a pair of a
    study's versions straddles: found by a run after its older version was stored and no
    later than its newer one. Read once per settle, and only when a pair is judged."""

    def __init__(self, store: Store, nct_id: str):
        self.store, self.nct_id = store, nct_id
        self.known: list[tuple[sentinel.Signature, int]] | None = None
        self.runs: dict[int, int] | None = None

    def between(self, older: int, newer: int) -> frozenset[sentinel.Signature]:
        if self.known is None:
            self.known = [
                (sentinel.Finding.from_row(r).signature, int(r["run_id"])) for r in self.store.registry_changes()
            ]
        if not self.known:
            return frozenset()
        if self.runs is None:
            self.runs = self.store.version_runs(self.nct_id)
        a, b = self.runs.get(older, 0), self.runs.get(newer, 0)
        return frozenset(sig for sig, run in self.known if a < run <= b)


def registry_sentinel(store: Store, run_id: int, nct_ids: Iterable[str], fetched: int) -> list[sentinel.Finding]:
    """The whole-batch decision of regsync.sentinel over what run ``run_id`` judged (a sync,
    a seed: any batch of stored versions): the pairs of ``nct_ids`` it stored (their older
    version from before it), ``fetched`` the studies it fetched, new and unchanged ones
    included. Each structural change found registry-wide is recorded once for the run (the
    judge consults that record from then on: reclassify keeps it) and the run's changes
    that are nothing but such changes are relabelled as the registry's, in one transaction.
    Call it before anything reads the run's changes to tell them (lines, notifications)."""
    ids = list(dict.fromkeys(nct_ids))
    found = sentinel.detect(((n, [c for _, c in pair]) for n, pair in store.run_pairs(run_id, ids)), fetched)
    if not found:
        return found
    registry = {f.signature for f in found}
    updates: list[tuple[int, Change]] = []
    studies: dict[sentinel.Signature, set[str]] = {sig: set() for sig in registry}
    for nct_id, pair in store.run_pairs(run_id, ids):
        relabelled, applied = sentinel.relabel_pair([c for _, c in pair], registry)
        updates += [(change_id, new) for (change_id, old), new in zip(pair, relabelled) if new != old]
        for sig in applied:
            studies[sig].add(nct_id)
    # Said with the studies it was recorded for (a study the sponsor edited too included);
    # one whose every change also edited a value was recorded for none: nothing to say.
    found = [replace(f, studies=len(studies[f.signature])) for f in found if studies[f.signature]]
    if not found:
        return found
    with store.transaction():
        store.record_registry_changes(run_id, [
            (f.signature.path, str(f.signature.shape), f.signature.detail, f.studies, f.fetched) for f in found
        ])
        store.relabel_changes(updates)
    for finding in found:
        log.info("%s", finding.line())
    return found


def _same(store: Store, nct_id: str, version: int, previous: int, changes: list[Change]) -> bool:
    stored = store.judgement(nct_id, version)
    return all(f == previous for f, _, _ in stored) and [c.to_dict() for _, c, _ in stored] == [
        c.to_dict() for c in changes
    ]


def settle_pending(store: Store, progress: Callable[[str], None] | None = None) -> int:
    """Settle every study with a version not yet placed or judged (a kill between storing
    and judging, a judge that failed, an upgraded database), and give every version its
    results obligation; resumable, a study per transaction. Returns how many studies."""
    done = 0
    failed: set[str] = set()
    while True:
        batch = [n for n in store.unsettled_studies() if n not in failed]
        if not batch:
            break
        for nct_id in batch:
            if settle(store, nct_id).failed:
                failed.add(nct_id)  # it stays unjudged until the judge can judge it
            done += 1
            if progress:
                progress(nct_id)
    while store.data_steps_pending():  # counts from the indexes: no records read
        missing = store.versions_without_obligation()
        if not missing:
            break
        with store.transaction():
            store.write_obligations(
                [(n, v, *obligation_columns(record, when)) for n, v, when, record in missing]
            )
    return done


def reclassify(store: Store, progress: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Judge every stored pair again with today's rules, and every version's obligation: a
    pair whose judgement is unchanged keeps its rows (a fixed point: nothing is written, not
    even a detection date), a change found anew is detected now. One transaction a study.
    Returns (version pairs judged anew, changes they hold)."""
    pairs = found = 0
    now = utcnow()
    for nct_id in store.study_ids():
        with store.transaction():
            settled = settle(store, nct_id, rejudge=True, now=now)
            stored = store.obligation_rows(nct_id)
            store.write_obligations([
                row for row in (
                    (nct_id, v, *obligation_columns(record, when)) for v, when, record in store.records_of(nct_id)
                ) if stored.get(row[1]) != row
            ])
        pairs += len(settled.judged)
        found += sum(len(store.judgement(nct_id, v)) for v in settled.judged)
        if progress:
            progress(nct_id)
    return pairs, found
