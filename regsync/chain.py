"""A study's versions as one chain, in the registry's order, and the name of each.

Pure: rows in (as ``Store.chain_rows`` gives them), the order and the labels out. The order
is the registry's: versions it numbered, by number; every other version (an own snapshot the
registry's history does not hold, or not yet) after the numbered versions submitted on or
before its ``lastUpdateSubmitDate``, then by when regsync first saw it. So the chain does not
depend on the order in which regsync learned of its versions.

Labels: once any version of the study carries a registry number, every output names it by
that number, 1-based as on the registry's website (``?tab=history&a=2&b=3``); a version
without one is named after the numbered version before it with a letter (``3a``: a silent
edit of version 3, or a snapshot the history has not confirmed yet). Before that, regsync's
own sequence: 1, 2, 3 in chain order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import ascii_lowercase
from typing import Any

Row = Mapping[str, Any]


def _day(row: Row) -> str:
    """The date a version belongs to: the registry's, else the record's own submission date,
    else the day regsync fetched it."""
    for key in ("registry_date", "submitted"):
        value = row.get(key)
        if isinstance(value, str) and value:
            return value[:10]
    return str(row.get("fetched_at") or "")[:10]


def order(rows: Sequence[Row]) -> list[Row]:
    """The rows in chain order (see the module's docstring)."""
    numbered = sorted((r for r in rows if r.get("registry_version") is not None),
                      key=lambda r: int(r["registry_version"]))
    others = sorted((r for r in rows if r.get("registry_version") is None),
                    key=lambda r: (_day(r), str(r.get("fetched_at") or ""), int(r["version"])))
    chain: list[Row] = []
    waiting = list(others)
    for row in numbered:
        day = _day(row)
        # Unnumbered versions submitted before this numbered one come first.
        while waiting and _day(waiting[0]) < day:
            chain.append(waiting.pop(0))
        chain.append(row)
    chain.extend(waiting)
    return chain


def labels(chain: Sequence[Row]) -> list[str]:
    """The name of each version of an ordered chain (see the module's docstring)."""
    if not any(r.get("registry_version") is not None for r in chain):
        return [str(i + 1) for i in range(len(chain))]
    names: list[str] = []
    base = "0"  # before the first numbered version (the registry never had it)
    suffix = 0
    for row in chain:
        if row.get("registry_version") is not None:
            base = str(int(row["registry_version"]) + 1)
            suffix = 0
            names.append(base)
        else:
            names.append(base + _letters(suffix))
            suffix += 1
    return names


def _letters(n: int) -> str:
    """a, b, ..., z, za, zb, ...: never ambiguous with a number."""
    return "z" * (n // 26) + ascii_lowercase[n % 26]


def numbered(chain: Sequence[Row]) -> bool:
    """Whether the registry's numbering names this chain (any version has its number)."""
    return any(r.get("registry_version") is not None for r in chain)
