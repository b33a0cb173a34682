"""Synthetic studies derived from the real fixtures, and realistic edits of them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import orjson

from support.records import fixture_names, load

# Small and medium real records; the 1.5 MB NCT02513394 would dominate any average.
SYNTHETIC_BASES = ("NCT07240987", "NCT00763412", "NCT00973089", "NCT06131398", "NCT06171568")
LARGE_BASE = "NCT02513394"


def load_fixtures(fixtures_dir: Path | str | None = None) -> list[dict]:
    """Every real study record (NCT*.json) in a fixtures directory (default tests/fixtures),
    in file name order."""
    return [load(name, fixtures_dir) for name in fixture_names(fixtures_dir)]


_TITLE_PREFIXES = ("", "", "Pilot: ", "Extension: ", "Long-term Follow-up: ", "Substudy: ")
_FIRST_UPDATE = date(2008, 1, 1)
_LAST_UPDATE = date(2026, 9, 3)


def synthesize(
    n: int,
    fixtures_dir: Path | str | None = None,
    seed: int = 0,
    *,
    include_large: bool = False,
) -> Iterator[dict]:
    """``n`` synthetic studies derived from the real fixtures, deterministic for a seed.

    IDs are NCT10000000, NCT10000001, ... (the same for every seed). Each record is a copy
    of one of the small/medium fixtures (~6-36 KB compact) with its own ID, org study ID,
    brief title, enrollment count and lastUpdatePostDate (between its first posting, or
    2008-01-01, and 2026-09-03).
    ``include_large`` also draws the 1.5 MB NCT02513394, about once per thousand records.
    """
    if not 0 <= n <= 9_999_999:
        raise ValueError("n must be between 0 and 9,999,999")

    def base(nct_id: str) -> tuple[bytes, date]:
        record = load(nct_id, fixtures_dir)
        first = record["protocolSection"]["statusModule"].get("studyFirstPostDateStruct", {})
        try:
            first_posted = max(date.fromisoformat(first.get("date", "")), _FIRST_UPDATE)
        except ValueError:
            first_posted = _FIRST_UPDATE
        return orjson.dumps(record), first_posted

    bases = [base(b) for b in SYNTHETIC_BASES]
    large = base(LARGE_BASE) if include_large else None
    rng = random.Random(seed)
    for i in range(n):
        # A fixed number of draws per record: synthesize(10) is a prefix of synthesize(20).
        pick, large_draw, when, prefix, enrol = (
            rng.randrange(len(bases)), rng.random(), rng.random(),
            rng.randrange(len(_TITLE_PREFIXES)), rng.randrange(-5, 6),
        )
        body, first_posted = large if large and large_draw < 0.001 else bases[pick]
        record = orjson.loads(body)
        protocol = record["protocolSection"]
        ident = protocol["identificationModule"]
        nct_id = f"NCT1{i:07d}"
        ident["nctId"] = nct_id
        ident.pop("nctIdAliases", None)
        ident["orgStudyIdInfo"] = {**ident.get("orgStudyIdInfo", {}), "id": f"SYN-{seed}-{i}"}
        ident["briefTitle"] = f"{_TITLE_PREFIXES[prefix]}{ident.get('briefTitle', 'Study')} (#{i})"
        status = protocol.setdefault("statusModule", {})
        posted = first_posted + timedelta(days=int(when * (_LAST_UPDATE - first_posted).days))
        status["lastUpdatePostDateStruct"] = {"date": posted.isoformat(), "type": "ACTUAL"}
        status["lastUpdateSubmitDate"] = (posted - timedelta(days=i % 4)).isoformat()
        enrollment = protocol.get("designModule", {}).get("enrollmentInfo")
        if enrollment and "count" in enrollment:
            enrollment["count"] = max(0, enrollment["count"] + enrol)
        yield record


def mutate(record: dict, post_date: str) -> dict:
    """A new record with one realistic edit and lastUpdatePostDate set to ``post_date``.

    The edit: enrollment count +1; without an enrollment count, the primary completion (or
    completion) date moves by a month; without either, the brief title changes. The record
    passed in is left untouched.
    """
    new = orjson.loads(orjson.dumps(record))
    protocol = new["protocolSection"]
    status = protocol.setdefault("statusModule", {})
    enrollment = protocol.get("designModule", {}).get("enrollmentInfo")
    completion = status.get("primaryCompletionDateStruct") or status.get("completionDateStruct")
    if enrollment is not None and isinstance(enrollment.get("count"), int):
        enrollment["count"] += 1
    elif completion and completion.get("date"):
        completion["date"] = _next_month(completion["date"])
    else:
        ident = protocol["identificationModule"]
        ident["briefTitle"] = ident.get("briefTitle", "Study") + " (revised)"
    status["lastUpdatePostDateStruct"] = {"date": post_date, "type": "ACTUAL"}
    try:
        status["lastUpdateSubmitDate"] = (date.fromisoformat(post_date) - timedelta(days=1)).isoformat()
    except ValueError:
        status["lastUpdateSubmitDate"] = post_date
    return new


def _next_month(value: str) -> str:
    """"2026-01-31" -> "2026-02-28", "2026-12" -> "2027-01", "2026" -> "2027"."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return str(parts[0] + 1)
    year, month0 = divmod(parts[0] * 12 + parts[1], 12)  # month0: next month, 0-based
    month = month0 + 1
    if len(parts) == 2:
        return f"{year:04d}-{month:02d}"
    following = date(year + month // 12, month % 12 + 1, 1)
    day = min(parts[2], (following - timedelta(days=1)).day)
    return f"{year:04d}-{month:02d}-{day:02d}"


def history_markup(record: dict) -> dict:
    """``record`` as the registry's history endpoint serves it: no derivedSection, and every
    multi-line or marked-up text as HTML, double-escaped the way the website sends it (a
    ``/`` as ``&#x2F;``, ``>`` as ``&gt;``): the same content in other markup."""
    import html
    import re

    def to_html(text: str) -> str:
        out = []
        for line in text.split("\n"):
            line = re.sub(r"\\(.)", r"\1", line)  # markdown escapes
            line = re.sub(r"\*\*(.+?)\*\*", lambda m: "\x00b\x01" + m.group(1) + "\x00/b\x01", line)
            bullet = re.match(r"^\s*[*-]\s+(.*)$", line)
            body = html.escape(bullet.group(1) if bullet else line, quote=False).replace("/", "&#x2F;")
            body = body.replace("\x00", "<").replace("\x01", ">").replace("<&#x2F;b>", "</b>")
            if body.strip():
                out.append(f"<li>{body}</li>" if bullet else f"<p>{body}</p>")
        return "".join(out)

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and ("\n" in value or "**" in value or "\\" in value):
            return to_html(value)
        return value

    return {k: walk(v) for k, v in record.items() if k != "derivedSection"}
