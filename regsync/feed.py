"""Feeds of flagged changes: Atom (RFC 4287) and JSON Feed 1.1, one entry per study version.

The registry's own RSS says *that* a study changed; an entry here says *what* changed and how
much it matters: its title is the study and its headline, its content the change summaries
with their severities, and it links to the study's page and its history tab on the registry.

An entry's id is a tag URI (RFC 4151) made of the NCT ID, the stored version number and that
version's content hash, so it is the same in every run (a feed reader never shows an entry
twice) and a different stored record can never reuse it. Reclassifying keeps the ids and the
detection dates.

Atom is written by feedgenerator (Django's feed writer as a standalone package, kept by the
Pelican project: namespaces, escaping, RFC 3339 dates and the required elements); JSON Feed is
plain JSON. feedgen was the other candidate: its 1.0.0 writes an entry's links with no rel,
type or title (its issue #135, open since 2024), so the study page and the history tab would
both be "alternate" links, which RFC 4287 forbids.
"""

from __future__ import annotations

import dataclasses
import html
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from regsync.errors import UsageError
from regsync.model import Category, Change, ChangeSummary, Severity, StoredChange, label_value, sort_changes, summarize
from regsync.store import Store
from regsync.text import printable, trunc
from regsync.urls import REGISTRY, history_url, study_url

PROJECT = "https://github.com/regsync/regsync"
# The tagging entity of every id: regsync's own name space (RFC 4151 tag: URIs), fixed so that
# ids never change. The year is when it was minted, not when a feed is written.
TAG = "tag:regsync.github.io,2026:"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
DEFAULT_LIMIT = 100
FORMATS = ("atom", "json")



def _printable_value(value: Any, depth: int = 0) -> Any:
    """A change's old or new value with its strings printable; past a record's usual depth
    left as it is (JSON escapes C0 characters itself)."""
    if isinstance(value, str):
        return printable(value)
    if depth > 16:
        return value
    if isinstance(value, dict):
        return {k: _printable_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_value(v, depth + 1) for v in value]
    return value


@dataclass(frozen=True)
class VersionChanges:
    """The flagged changes of one version of a study, against the one before it in its chain."""

    nct_id: str
    title: str | None  # the study's brief title
    from_version: int  # local row ids (stable: the entry's id is built from them and the content)
    to_version: int
    detected_at: str  # when regsync learned of the version (UTC, as stored)
    content_hash: str  # of the version's record
    changes: tuple[Change, ...]  # most severe first
    # The registry's version numbers of the pair (1-based, as its compare view takes them), when known.
    registry_versions: tuple[int, int] | None = None
    from_label: str | None = None  # the pair as every output names it (regsync.chain)
    to_label: str | None = None
    submitted: str | None = None  # the newer version's lastUpdateSubmitDate
    posted: str | None = None  # its lastUpdatePostDate: when the public could see it
    history: bool = False  # read from the registry's history (backfill, fill-in): not news

    def __post_init__(self) -> None:
        # Every output of an entry (Atom, JSON Feed, e-mail, webhooks) starts from here:
        # registry text is made printable once (regsync.text.printable).
        if self.title is not None:
            object.__setattr__(self, "title", printable(self.title))
        object.__setattr__(self, "changes", tuple(
            dataclasses.replace(c, summary=printable(c.summary), old=_printable_value(c.old), new=_printable_value(c.new),
                                context=None if c.context is None else printable(c.context))
            for c in self.changes))

    @property
    def summary(self) -> ChangeSummary:
        return summarize(self.changes)

    @property
    def max_severity(self) -> Severity:
        found = Severity.max(c.severity for c in self.changes)
        assert found is not None  # a VersionChanges always has changes
        return found

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(str(c.category) for c in self.changes))

    @property
    def entry_id(self) -> str:
        return f"{TAG}{self.nct_id}/v{self.to_version}/{self.content_hash[:16]}"

    @property
    def url(self) -> str:
        return study_url(self.nct_id)

    @property
    def history_url(self) -> str:
        a, b = self.registry_versions or (None, None)
        return history_url(self.nct_id, a, b)

    def headline(self) -> str:
        """``v2 [minor]: status (milestone: RECRUITING), dates``"""
        summary = self.summary
        text = summary.headline() if summary.categories else ", ".join(self.categories)
        return f"v{self.from_label or self.from_version} -> v{self.to_label or self.to_version} [{self.max_severity}]: {text}"

    def entry_title(self) -> str:
        title = f" ({trunc(self.title, 80)})" if self.title else ""
        return f"{self.nct_id}{title} {self.headline()}"

    def change_lines(self) -> list[str]:
        return [_change_line(c) for c in self.changes]

    def text(self) -> str:
        """The entry as plain text: who, then one line per change, then the links."""
        lines = [f"{self.nct_id}: {self.title or '(no title)'}", self.headline(), ""]
        lines += self.change_lines()
        lines += ["", f"Study: {self.url}", f"History: {self.history_url}"]
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        items = "".join(
            f"<li><strong>{e(str(c.severity))}</strong> {e(str(c.category))}: {e(c.summary)}"
            f"{' <em>(milestone)</em>' if c.milestone else ''}</li>"
            for c in self.changes
        )
        return (
            f'<p><a href="{e(self.url)}">{e(self.nct_id)}</a>: {e(self.title or "(no title)")}</p>'
            f"<p>Version {e(self.to_label or str(self.to_version))} ({e(self.dates())}) against version "
            f"{e(self.from_label or str(self.from_version))}: most severe change "
            f"<strong>{e(str(self.max_severity))}</strong>.</p>"
            f"<ul>{items}</ul>"
            f'<p><a href="{e(self.history_url)}">Compare the versions on ClinicalTrials.gov</a></p>'
        )

    def dates(self) -> str:
        """``submitted 2025-12-10, posted 2025-12-13, detected 2026-12-07``"""
        parts = [f"submitted {self.submitted}" if self.submitted else "",
                 f"posted {self.posted}" if self.posted else "", f"detected {self.detected_at[:10]}"]
        return ", ".join(p for p in parts if p)

    def published(self) -> str:
        """When the version became news: its posting date when it was read from the registry's
        history (a reader files it in the past), else when regsync detected it."""
        if self.history and self.posted:
            return self.posted + "T00:00:00Z"
        return self.detected_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "from_version": label_value(self.from_label or self.from_version),
            "to_version": label_value(self.to_label or self.to_version),
            "registry_version": self.registry_versions[1] if self.registry_versions else None,
            "submitted": self.submitted,
            "posted": self.posted,
            "detected_at": self.detected_at,
            "max_severity": str(self.max_severity),
            "categories": self.categories,
            "url": self.url,
            "history_url": self.history_url,
            "changes": [c.to_dict() for c in self.changes],
        }


def _change_line(change: Change) -> str:
    tag = " [milestone]" if change.milestone else ""
    return f"{change.severity:<8} {change.category:<13} {change.summary}{tag}"


def group_changes(rows: Iterable[StoredChange], store: Store) -> list[VersionChanges]:
    """Stored changes grouped by study version, in the order first met; titles, content
    hashes and sources read from ``store`` once per study."""
    groups: dict[tuple[str, int, int], list[StoredChange]] = {}
    for row in rows:
        groups.setdefault((row.nct_id, row.from_version, row.to_version), []).append(row)
    titles: dict[str, str | None] = {}
    versions: dict[str, dict[int, dict[str, Any]]] = {}
    out = []
    for (nct_id, from_v, to_v), members in groups.items():
        if nct_id not in titles:
            titles[nct_id] = store.study(nct_id)["brief_title"]
            versions[nct_id] = {r["version"]: r for r in store.history(nct_id)}
        stored = versions[nct_id].get(to_v, {})
        first = members[0]
        pair = (first.from_registry_version, first.registry_version)
        out.append(VersionChanges(
            nct_id, titles[nct_id], from_v, to_v, min(m.detected_at for m in members),
            str(stored.get("content_hash") or ""), tuple(sort_changes(m.change for m in members)),
            pair if None not in pair else None,  # type: ignore[arg-type]
            first.from_label, first.to_label, first.submitted, first.posted,
            stored.get("source") == "registry-history",
        ))
    return out


def collect(
    store: Store,
    *,
    severity: Severity | str = Severity.MINOR,
    nct_ids: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> list[VersionChanges]:
    """The study versions with changes of ``severity`` or higher (in ``categories``, of
    ``nct_ids``, when given), newest first, at most ``limit``."""
    rows = store.query_changes(
        nct_ids=nct_ids or None, categories=categories or None,
        severities=[s.value for s in Severity.at_or_above(severity)],
    )
    # The registry's structural changes (regsync.sentinel) are not news of any study.
    entries = group_changes((r for r in rows if r.change.category is not Category.REGISTRY), store)
    # Newest news first: a version read from the registry's history counts from when it was
    # posted, so a backfill of 2018's versions never pushes this week's edits out of the feed.
    entries.sort(key=lambda e: (e.nct_id, -e.to_version))
    entries.sort(key=lambda e: _when(e.published()), reverse=True)
    return entries[:limit] if limit else entries


# -- formats -----------------------------------------------------------------------------------


def _when(stamp: str) -> datetime:
    """A stored UTC time (``2026-11-25T02:10:04.123456Z``) as an aware datetime, to the second."""
    return datetime.fromisoformat(stamp).astimezone(UTC).replace(microsecond=0)


def _feed_id(severity: str, nct_ids: Sequence[str], categories: Sequence[str]) -> str:
    """One id per selection: a reader subscribed to two filtered feeds keeps them apart."""
    parts = [f"severity={severity}"]
    parts += [f"nct={n}" for n in sorted(nct_ids)]
    parts += [f"category={c}" for c in sorted(categories)]
    return f"{TAG}feed?{'&'.join(parts)}"


def _feed_title(severity: str, nct_ids: Sequence[str], categories: Sequence[str]) -> str:
    title = f"regsync: {severity} and more severe changes" if severity != "critical" else "regsync: critical changes"
    if categories:
        title += f" in {', '.join(categories)}"
    if nct_ids:
        title += f" of {', '.join(nct_ids)}"
    return title


def _updated(entries: Sequence[VersionChanges]) -> datetime:
    # The newest entry, so the same data gives the same feed; now for an empty one.
    return max((_when(e.detected_at) for e in entries), default=datetime.now(UTC).replace(microsecond=0))


def _atom_class() -> Any:
    from feedgenerator import Atom1Feed  # type: ignore[import-untyped]

    class RegsyncAtom(Atom1Feed):  # type: ignore[misc]
        """Atom1Feed gives an entry one link (alternate); the history tab is a related one."""

        def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
            super().add_item_elements(handler, item)
            related = item.get("related")
            if related:
                handler.addQuickElement(
                    "link", "", {"rel": "related", "href": related, "type": "text/html",
                                 "title": "version history on ClinicalTrials.gov"},
                )

    return RegsyncAtom


def atom(
    entries: Sequence[VersionChanges],
    *,
    severity: str = "minor",
    nct_ids: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> bytes:
    """A valid Atom 1.0 document (RFC 4287), entries newest first. An entry's categories are
    its most severe change's severity (``severity:major``) and the categories it touches."""
    feed = _atom_class()(
        title=_feed_title(severity, nct_ids, categories),
        link=REGISTRY,
        description="What changed in ClinicalTrials.gov study records, and how much it matters",
        language="en",
        author_name="regsync",
        author_link=PROJECT,
        feed_guid=_feed_id(severity, nct_ids, categories),
    )
    for entry in entries:
        when = _when(entry.detected_at)
        feed.add_item(
            title=entry.entry_title(),
            link=entry.url,
            description=html.escape(entry.headline()),  # <summary type="html">
            content=entry.html(),
            unique_id=entry.entry_id,
            pubdate=_when(entry.published()),  # history is filed in the past, news today
            updateddate=when,
            categories=[f"severity:{entry.max_severity}", *entry.categories],
            related=entry.history_url,
        )
    if not entries:  # <updated> is required: with no entry, when the feed was written
        feed.latest_post_date = lambda: _updated(entries)
    data: str = feed.writeString("utf-8")
    return data.encode("utf-8") + b"\n"


def json_feed(
    entries: Sequence[VersionChanges],
    *,
    severity: str = "minor",
    nct_ids: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> dict[str, Any]:
    """A JSON Feed 1.1 document; each item's ``_regsync`` carries the changes as ``changes
    --json`` gives them."""
    return {
        "version": JSON_FEED_VERSION,
        "title": _feed_title(severity, nct_ids, categories),
        "home_page_url": REGISTRY,
        "description": "What changed in ClinicalTrials.gov study records, and how much it matters",
        "authors": [{"name": "regsync", "url": PROJECT}],
        "language": "en",
        "_regsync": {"id": _feed_id(severity, nct_ids, categories), "about": PROJECT},
        "items": [
            {
                "id": entry.entry_id,
                "url": entry.url,
                "external_url": entry.history_url,
                "title": entry.entry_title(),
                "summary": entry.headline(),
                "content_html": entry.html(),
                "content_text": entry.text(),
                "date_published": _when(entry.published()).isoformat().replace("+00:00", "Z"),
                "date_modified": _when(entry.detected_at).isoformat().replace("+00:00", "Z"),
                "tags": [f"severity:{entry.max_severity}", *entry.categories],
                "_regsync": entry.to_dict(),
            }
            for entry in entries
        ],
    }


def render(
    entries: Sequence[VersionChanges],
    fmt: str = "atom",
    *,
    severity: str = "minor",
    nct_ids: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> bytes:
    """The feed document in ``fmt`` (``atom`` or ``json``), as bytes (UTF-8)."""
    if fmt == "atom":
        return atom(entries, severity=severity, nct_ids=nct_ids, categories=categories)
    if fmt == "json":
        doc = json_feed(entries, severity=severity, nct_ids=nct_ids, categories=categories)
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    raise ValueError(f"unknown feed format {fmt!r}; one of: {', '.join(FORMATS)}")


def check_output(path: str) -> None:
    """Refuse (UsageError) an output path that is not a regular file or a new path.

    The feed replaces its file in one step (a rename over it), which would replace a device,
    FIFO or symbolic link itself: run as root from cron, ``--output /dev/full`` or
    ``/dev/stdout`` would swap the system's device node for a feed file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return  # a new file
    except OSError as exc:
        raise UsageError(f"cannot write the feed to {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return
    kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a directory" if stat.S_ISDIR(mode)
            else "not a regular file")
    raise UsageError(f"refusing to write the feed to {path}: it is {kind}; "
                     "give a regular file or a new path (- for stdout)")


def publish_mode() -> int:
    """The mode a file written plainly would get (0666 less the umask): mkstemp makes files
    private (0600), and a published page or feed must honour ``umask 077`` as well as 022."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` (a regular file or a new path, see check_output) in one step: a web
    server or reader never sees half a feed."""
    check_output(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".regsync-feed-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, publish_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
