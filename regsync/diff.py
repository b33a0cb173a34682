"""Keyed structural diff of two ClinicalTrials.gov API v2 study records.

``raw_diff(old, new)`` walks both records together and returns *raw* changes (where and
what, with the path already split into parts); :func:`regsync.classify.diff_records` hands
them to the rules, which decide the category, severity, rule, summary and milestone flag of
each one.  Pure functions: no I/O, no database, no CLI.

Why a hand-written keyed matcher rather than deepdiff
-----------------------------------------------------
deepdiff can match list items by identity (``iterable_compare_func`` or
``group_by``), but (1) its generic tree walk and per-pair compare callback took
1.3 s on the 1.5 MB NCT02513394 with its 437 sites shuffled (``DeepDiff(old, new,
iterable_compare_func=...)``, measured on the 2-core dev machine), against a budget
of 0.25 s, (2) it reports at its own granularity (one entry per leaf, with
index paths), so an added arm would still have to be re-assembled into one change,
and (3) renames (same content, new key), moves between outcome lists and the
rewriting of cross-references (``armGroupLabels``) need a second pass over its
output anyway.  Matching by key with dicts is O(n); matched items are first
compared with ``==`` (C speed) and only walked when they differ, so the 437-site
benchmark diffs in about 2.5 ms (bench/diff_bench.py).

Path grammar (stable; this is what ``Change.path`` contains)
------------------------------------------------------------
::

    path     := segment ( "." segment )*
    segment  := name selector?
    name     := a JSON object key, as in the API (e.g. protocolSection, armGroups)
    selector := "[" key "=" value ( "," key "=" value )* occ? "]"   keyed list item
              | "[" value "]"                                       member of a set-like list
    occ      := "#" n            only when several items share the same key in one
                                 version: n = 2, 3, ... in document order
    value    := the item's key value; "\\", ",", "=", "]" and "#" are backslash-escaped

Examples::

    protocolSection.statusModule.overallStatus
    protocolSection.statusModule.primaryCompletionDateStruct     (date structs are one unit)
    protocolSection.designModule.enrollmentInfo                  (count+type are one unit)
    protocolSection.designModule.phases                          (phases: one unit, set-compared)
    protocolSection.armsInterventionsModule.armGroups[label=HN]
    protocolSection.armsInterventionsModule.armGroups[label=HN].description
    protocolSection.armsInterventionsModule.interventions[type=DRUG,name=Aspirin]
    protocolSection.outcomesModule.primaryOutcomes[measure=Change in eGFR].timeFrame
    protocolSection.contactsLocationsModule.locations[facility=X,city=Y,country=Z]
    protocolSection.contactsLocationsModule.locations[facility=X,city=Y,country=Z].status
    protocolSection.conditionsModule.conditions[Diabetes]
    protocolSection.referencesModule.references[pmid=12345]      (else [citation=...])
    documentSection.largeDocumentModule.largeDocs[filename=Prot_000.pdf]
    resultsSection.adverseEventsModule                           (results: one unit per module)
    derivedSection.conditionBrowseModule                         (derived: one unit per module)
    hasResults

Keys: armGroups by label; interventions by type+name; outcomes by measure (within
primaryOutcomes / secondaryOutcomes / otherOutcomes); locations by facility+city+country;
collaborators, overallOfficials, centralContacts and location contacts by name;
references by pmid, else citation; largeDocs by filename; secondaryIdInfos by id;
seeAlsoLinks and availIpds by url.  Lists of scalars (conditions, keywords, stdAges,
armGroupLabels, interventionNames, ...) are compared as (multi)sets.  Lists of objects
with no declared key are one unit (reported whole when they differ).

Kinds: ``added`` / ``removed`` (a whole item or field: one change), ``changed`` (a
field's value), ``renamed`` (an item whose key changed: path is the OLD key, old/new
are the key values; its other changed fields follow as separate changes addressed by
the NEW key), ``moved`` (an outcome that moved between primary/secondary/other: path is
the OLD location, old/new are the whole item).  Where an arm or intervention is renamed,
references to the old name elsewhere (``interventions[].armGroupLabels``,
``armGroups[].interventionNames``) are rewritten before comparing, so they are part of
the rename and not separate changes.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from regsync.model import Kind
from regsync.rules import THRESHOLDS
from regsync.text import UNIT_WORDS, containment, norm_text, token_similarity, tokens


class _Missing:
    """A field absent from one side (distinct from a field whose value is null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class RawChange:
    """A structural difference, before classification.

    ``parts`` is the path with item selectors reduced to ``[]``, split on dots (e.g.
    ``("protocolSection", "armsInterventionsModule", "armGroups[]", "description")``): the
    rules dispatch on it without re-parsing strings. ``item_old`` / ``item_new`` carry the
    enclosing keyed item (for summaries), ``info`` anything else the rules need (the list
    names of a move).
    """

    path: str
    parts: tuple[str, ...]
    kind: Kind
    old: Any
    new: Any
    item_old: Any = None
    item_new: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        return ".".join(self.parts)

    def part(self, index: int) -> str:
        """The ``index``-th name of the path without its ``[]``; "" when the path is shorter."""
        return self.parts[index].removesuffix("[]") if len(self.parts) > index else ""

    @property
    def last(self) -> str:
        return self.parts[-1].removesuffix("[]")

    def after(self, segment: str) -> tuple[str, ...] | None:
        """The names below ``segment`` (e.g. ``armGroups[]``): () for the item itself, None when
        the path does not go through it."""
        try:
            return self.parts[self.parts.index(segment) + 1 :]
        except ValueError:
            return None


# --------------------------------------------------------------------------- key specs

_AI = "protocolSection.armsInterventionsModule"
_OM = "protocolSection.outcomesModule"
_CL = "protocolSection.contactsLocationsModule"
OUTCOME_LISTS = ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes")

KEYED: dict[str, tuple[str, ...]] = {
    f"{_AI}.armGroups": ("label",),
    f"{_AI}.interventions": ("type", "name"),
    f"{_OM}.primaryOutcomes": ("measure",),
    f"{_OM}.secondaryOutcomes": ("measure",),
    f"{_OM}.otherOutcomes": ("measure",),
    f"{_CL}.locations": ("facility", "city", "country"),
    f"{_CL}.locations[].contacts": ("name",),
    f"{_CL}.centralContacts": ("name",),
    f"{_CL}.overallOfficials": ("name",),
    "protocolSection.sponsorCollaboratorsModule.collaborators": ("name",),
    "protocolSection.referencesModule.references": ("pmid|citation",),
    "protocolSection.referencesModule.seeAlsoLinks": ("url",),
    "protocolSection.referencesModule.availIpds": ("url",),
    "protocolSection.identificationModule.secondaryIdInfos": ("id",),
    "documentSection.largeDocumentModule.largeDocs": ("filename",),
}

# lists whose items may be paired across a key change by text similarity of the key
FUZZY_KEYS = {f"{_OM}.{n}" for n in OUTCOME_LISTS} | {f"{_AI}.armGroups"}

# compared (and reported) as one unit
ATOM_PATTERNS = {
    f"{_CL}.locations[].geoPoint",
    "protocolSection.designModule.enrollmentInfo",
    "protocolSection.designModule.phases",
    "protocolSection.statusModule.expandedAccessInfo",
    "annotationSection",
}
ATOM_PREFIX_DEPTH = {"resultsSection": 2, "derivedSection": 2}  # one unit per module
# Records are at most about 8 levels deep; anything nested deeper (malformed) is one unit,
# so the walk never recurses as deep as the data.
MAX_DEPTH = 12


def _is_atom(pattern: str, depth: int) -> bool:
    if pattern in ATOM_PATTERNS:
        return True
    top = pattern.split(".", 1)[0]
    if top in ATOM_PREFIX_DEPTH and depth >= ATOM_PREFIX_DEPTH[top]:
        return True
    if pattern.startswith("protocolSection.statusModule.") and pattern.endswith("DateStruct"):
        return True
    return False


# --------------------------------------------------------------------------- helpers

_ESC = re.compile(r"([\\,=\]#])")


def _esc(v: Any) -> str:
    if v is None or v is MISSING:
        v = ""
    return _ESC.sub(r"\\\1", str(v))


def _canon(v: Any) -> bytes:
    try:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # nesting past 254 levels, an integer past 64 bits: rare, slower
        import json

        return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _key_value(v: Any) -> Any:
    """A key field as a dict key: text stripped; an object or list (malformed) as its JSON."""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (dict, list)):
        return _canon(v).decode()
    return v


def _key_fields(spec: tuple[str, ...], item: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(item, dict):
        return (("value", _key_value(item)),)
    if spec == ("pmid|citation",):
        if item.get("pmid"):
            return (("pmid", str(_key_value(item["pmid"]))),)
        citation = item.get("citation") or ""
        return (("citation", citation.strip() if isinstance(citation, str) else _key_value(citation)),)
    return tuple((k, _key_value(item.get(k))) for k in spec)


def _raw_key(item: Any, key: tuple[str, Any]) -> Any:
    """A key field as the record has it when it is an object or list (malformed), so the
    change carries the value itself, not the text it was matched by."""
    name, value = key
    raw = item.get(name) if isinstance(item, dict) else item
    return raw if isinstance(raw, (dict, list)) else value


def _selector(key: tuple[tuple[str, Any], ...], occ: int) -> str:
    s = ",".join(f"{k}={_esc(v)}" for k, v in key)
    if occ > 1:
        s += f"#{occ}"
    return f"[{s}]"


def _partial_key_equal(okey, nkey) -> bool:
    """Key fields present on both sides are equal up to formatting, and the first one is."""
    seen = False
    for (k, ov), (_, nv) in zip(okey, nkey):
        if ov in (None, "") or nv in (None, ""):
            if not seen:
                return False
            continue
        if norm_text(ov) != norm_text(nv):
            return False
        seen = True
    return seen


def _content_wo_key(item: Any, spec: tuple[str, ...]) -> bytes:
    if not isinstance(item, dict):
        return _canon(item)
    drop = {"pmid", "citation"} if spec == ("pmid|citation",) else set(spec)
    return _canon({k: v for k, v in item.items() if k not in drop})


# --------------------------------------------------------------------------- matching


@dataclass
class _Match:
    pairs: list  # (old_item, new_item, old_sel, new_sel)
    removed: list  # (old_item, sel)
    added: list  # (new_item, sel)


def _index(items: list, spec) -> tuple[dict, list]:
    groups: dict = {}
    order = []
    for it in items:
        k = _key_fields(spec, it)
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(it)
    return groups, order


def _match_keyed(old_items: list, new_items: list, spec) -> _Match:
    og, oorder = _index(old_items, spec)
    ng, norder = _index(new_items, spec)
    m = _Match([], [], [])
    for k in norder:
        ns = ng[k]
        os_ = og.get(k, [])
        if len(ns) == 1 and len(os_) == 1:
            sel = _selector(k, 1)
            m.pairs.append((os_[0], ns[0], sel, sel))
            continue
        # duplicates under one key: pair identical items first, then by order
        o_left = list(range(len(os_)))
        n_left = list(range(len(ns)))
        pairs = []
        ocanon = {i: _canon(os_[i]) for i in o_left}
        for j in list(n_left):
            cj = _canon(ns[j])
            for i in o_left:
                if ocanon[i] == cj:
                    pairs.append((i, j))
                    o_left.remove(i)
                    n_left.remove(j)
                    break
        for i, j in zip(list(o_left), list(n_left)):
            pairs.append((i, j))
            o_left.remove(i)
            n_left.remove(j)
        for i, j in pairs:
            m.pairs.append((os_[i], ns[j], _selector(k, i + 1), _selector(k, j + 1)))
        for i in o_left:
            m.removed.append((os_[i], _selector(k, i + 1)))
        for j in n_left:
            m.added.append((ns[j], _selector(k, j + 1)))
    for k in oorder:
        if k not in ng:
            for i, it in enumerate(og[k]):
                m.removed.append((it, _selector(k, i + 1)))
    return m


def _pair_renames(m: _Match, spec, fuzzy: bool) -> list:
    """Pair unmatched removed/added items that are the same item under a new key.

    Same item = identical content apart from the key, or the same key up to case,
    punctuation and spacing; for fuzzy lists (outcome measures, arm labels) also a key
    text similarity of at least ``THRESHOLDS.rename_similarity`` (token Jaccard, or the
    containment cut-off; best pairs first).
    Returns (old_item, new_item, old_sel, new_sel) and removes them from m.
    """
    if not m.removed or not m.added:
        return []
    cands = []
    added = []
    for ni, _ in m.added:
        nkey = _key_fields(spec, ni)
        added.append((nkey, norm_text(" ".join(str(v) for _, v in nkey)), _content_wo_key(ni, spec)))
    for ri, (oi, osel) in enumerate(m.removed):
        okey = _key_fields(spec, oi)
        ocont = _content_wo_key(oi, spec)
        okn = norm_text(" ".join(str(v) for _, v in okey))
        for ai, (nkey, nkn, ncont) in enumerate(added):
            if okn == nkn:
                score = 3.0
            elif len(okey) > 1 and _partial_key_equal(okey, nkey):
                score = 2.5
            elif ocont == ncont and ocont not in (b"{}",):
                score = 2.0
            elif fuzzy:
                contained = containment(okn, nkn)
                sim = max(
                    token_similarity(okn, nkn),
                    0.9 * contained if contained >= THRESHOLDS.rename_containment else 0.0,
                )
                if sim < THRESHOLDS.rename_similarity:
                    continue
                score = 1.0 + sim * 0.99
            else:
                continue
            cands.append((-score, ri, ai))
    return _take_best_pairs(m, cands)


def _take_best_pairs(m: _Match, cands: list[tuple[float, int, int]]) -> list:
    """Greedy pairing: best (lowest ``-score``) first, each removed and added item used once;
    returns (old_item, new_item, old_sel, new_sel) and removes the pairs from ``m``."""
    cands.sort()
    used_r: set[int] = set()
    used_a: set[int] = set()
    out = []
    for _, ri, ai in cands:
        if ri in used_r or ai in used_a:
            continue
        used_r.add(ri)
        used_a.add(ai)
        out.append((m.removed[ri][0], m.added[ai][0], m.removed[ri][1], m.added[ai][1]))
    m.removed = [x for i, x in enumerate(m.removed) if i not in used_r]
    m.added = [x for i, x in enumerate(m.added) if i not in used_a]
    return out


def _rewrite_score(old: Any, new: Any) -> float:
    """How plainly ``new`` is ``old`` rewritten: the largest share of one measure's words
    (unit words ignored, at least two) found in the other's measure and time frame."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return 0.0
    mo, mn = tokens(old.get("measure"), UNIT_WORDS), tokens(new.get("measure"), UNIT_WORDS)
    if len(mo) < 2 or len(mn) < 2:
        return 0.0
    fo, fn = mo | tokens(old.get("timeFrame")), mn | tokens(new.get("timeFrame"))
    return max(len(mo & fn) / len(mo), len(mn & fo) / len(mn))


def _pair_rewrites(m: _Match) -> list:
    """Pair primary outcomes left removed and added that are the same outcome rewritten
    (``THRESHOLDS.outcome_rewrite_containment``), best pairs first; removes them from m. An
    outcome switched for a different one keeps being removed + added."""
    if not m.removed or not m.added:
        return []
    cands = []
    for ri, (oi, _) in enumerate(m.removed):
        for ai, (ni, _) in enumerate(m.added):
            score = _rewrite_score(oi, ni)
            if score >= THRESHOLDS.outcome_rewrite_containment:
                cands.append((-score, ri, ai))
    return _take_best_pairs(m, cands)


# --------------------------------------------------------------------------- walker


class _Differ:
    def __init__(self) -> None:
        self.out: list[RawChange] = []

    def emit(self, path, pattern, kind, old, new, item_old=None, item_new=None, **info):
        self.out.append(RawChange(path, tuple(pattern.split(".")), Kind(kind),
                                  None if old is MISSING else old,
                                  None if new is MISSING else new, item_old, item_new, info))

    # generic value walk -------------------------------------------------------------
    def walk(self, old, new, path, pattern, depth, item_old=None, item_new=None):
        if old is MISSING and new is MISSING:
            return
        if old is not MISSING and new is not MISSING and old == new:
            return
        if _is_atom(pattern, depth) or depth > MAX_DEPTH:
            self._leaf(old, new, path, pattern, item_old, item_new)
            return
        if isinstance(old, dict) or isinstance(new, dict):
            if (old is MISSING or new is MISSING) and depth > 2:
                # a whole object appeared/disappeared below module level: one change
                self._leaf(old, new, path, pattern, item_old, item_new)
                return
            if (old is not MISSING and not isinstance(old, dict)) or (
                    new is not MISSING and not isinstance(new, dict)):
                self._leaf(old, new, path, pattern, item_old, item_new)
                return
            od = old if isinstance(old, dict) else {}
            nd = new if isinstance(new, dict) else {}
            keys = list(od.keys()) + [k for k in nd.keys() if k not in od]
            for k in keys:
                ov = od.get(k, MISSING)
                nv = nd.get(k, MISSING)
                if ov is not MISSING and nv is not MISSING and ov == nv:
                    continue
                p = f"{path}.{k}" if path else k
                pt = f"{pattern}.{k}" if pattern else k
                self.walk(ov, nv, p, pt, depth + 1, item_old, item_new)
            return
        if isinstance(old, list) or isinstance(new, list):
            if (old is not MISSING and not isinstance(old, list)) or (
                    new is not MISSING and not isinstance(new, list)):
                self._leaf(old, new, path, pattern, item_old, item_new)
                return
            ol = old if isinstance(old, list) else []
            nl = new if isinstance(new, list) else []
            self._list(ol, nl, path, pattern, depth, item_old, item_new)
            return
        self._leaf(old, new, path, pattern, item_old, item_new)

    def _leaf(self, old, new, path, pattern, item_old, item_new):
        if old is MISSING:
            kind = "added"
        elif new is MISSING:
            kind = "removed"
        else:
            kind = "changed"
        self.emit(path, pattern, kind, old, new, item_old, item_new)

    def _list(self, ol, nl, path, pattern, depth, item_old, item_new):
        spec = KEYED.get(pattern)
        if spec is None:
            if all(not isinstance(x, (dict, list)) for x in ol + nl):
                self._set_list(ol, nl, path, pattern, item_old, item_new)
            else:
                self._leaf(ol if ol else MISSING, nl if nl else MISSING, path, pattern,
                           item_old, item_new)
            return
        if pattern == f"{_AI}.armGroups" or pattern == f"{_AI}.interventions":
            # handled by _arms_interventions
            raise AssertionError("arms/interventions are diffed together")
        m = _match_keyed(ol, nl, spec)
        renames = _pair_renames(m, spec, pattern in FUZZY_KEYS)
        self._emit_match(m, renames, path, pattern, spec, depth)

    def _emit_match(self, m: _Match, renames, path, pattern, spec, depth, subst=None):
        ip = pattern + "[]"
        for oi, ni, osel, nsel in m.pairs:
            if subst:
                oi = subst(oi)
            if oi != ni:
                self.walk(oi, ni, path + nsel, ip, depth + 1, oi, ni)
        for oi, ni, osel, nsel in renames:
            okey = _key_fields(spec, oi)
            nkey = _key_fields(spec, ni)
            if len(okey) == 1:
                ov, nv = _raw_key(oi, okey[0]), _raw_key(ni, nkey[0])
            else:
                ov = {k: _raw_key(oi, (k, v)) for k, v in okey}
                nv = {k: _raw_key(ni, (k, v)) for k, v in nkey}
            self.emit(path + osel, ip, "renamed", ov, nv, oi, ni)
            if subst:
                oi = subst(oi)
            # compare the rest of the item under its new key
            keyset = {k for k, _ in nkey} | {k for k, _ in okey}
            o_rest = {k: v for k, v in oi.items() if k not in keyset} if isinstance(oi, dict) else oi
            n_rest = {k: v for k, v in ni.items() if k not in keyset} if isinstance(ni, dict) else ni
            if o_rest != n_rest:
                self.walk(o_rest, n_rest, path + nsel, ip, depth + 1, oi, ni)
        for oi, sel in m.removed:
            self.emit(path + sel, ip, "removed", oi, None, oi, None)
        for ni, sel in m.added:
            self.emit(path + sel, ip, "added", None, ni, None, ni)

    def _set_list(self, ol, nl, path, pattern, item_old, item_new):
        oc, nc = Counter(map(_hashable, ol)), Counter(map(_hashable, nl))
        if oc == nc:
            return  # reorder only
        ip = pattern + "[]"
        seen = set()
        for v in list(ol) + list(nl):
            h = _hashable(v)
            if h in seen:
                continue
            seen.add(h)
            d = nc.get(h, 0) - oc.get(h, 0)
            if d > 0:
                self.emit(f"{path}[{_esc(v)}]", ip, "added", None, v, item_old, item_new)
            elif d < 0:
                self.emit(f"{path}[{_esc(v)}]", ip, "removed", v, None, item_old, item_new)

    # arms + interventions, with cross-reference rewriting ----------------------------
    def arms_interventions(self, om, nm):
        om = om if isinstance(om, dict) else {}
        nm = nm if isinstance(nm, dict) else {}
        base = _AI
        apat, ipat = f"{_AI}.armGroups", f"{_AI}.interventions"
        aspec, ispec = KEYED[apat], KEYED[ipat]
        oa, na = _as_list(om.get("armGroups")), _as_list(nm.get("armGroups"))
        oi, ni = _as_list(om.get("interventions")), _as_list(nm.get("interventions"))

        def arm_renames(int_map):
            m = _match_keyed(oa, na, aspec)
            if int_map:
                sub = lambda it: _subst_list(it, "interventionNames", int_map)  # noqa: E731
                m.removed = [(sub(x), s) for x, s in m.removed]
            r = _pair_renames(m, aspec, True)
            return m, r

        am, ar = arm_renames(None)
        arm_map = _label_map(ar)
        im = _match_keyed(oi, ni, ispec)
        if arm_map:
            im.removed = [(_subst_list(x, "armGroupLabels", arm_map), s) for x, s in im.removed]
        ir = _pair_renames(im, ispec, False)
        int_map = {}
        for o, n, _, _ in ir:
            if isinstance(o, dict) and isinstance(n, dict):
                int_map[_iref(o)] = _iref(n)
        if int_map:
            am, ar = arm_renames(int_map)
            arm_map = _label_map(ar)

        def sub_arm(it):
            return _subst_list(it, "interventionNames", int_map) if int_map else it

        def sub_int(it):
            return _subst_list(it, "armGroupLabels", arm_map) if arm_map else it

        if oa != na:
            self._emit_match(am, ar, f"{base}.armGroups", apat, aspec, 3, sub_arm)
        if oi != ni:
            self._emit_match(im, ir, f"{base}.interventions", ipat, ispec, 3, sub_int)
        # the rest of the module
        for k in list(om.keys()) + [k for k in nm.keys() if k not in om]:
            if k in ("armGroups", "interventions"):
                continue
            self.walk(om.get(k, MISSING), nm.get(k, MISSING), f"{base}.{k}", f"{base}.{k}", 3)

    # outcomes: keyed per list + moves between lists ----------------------------------
    def outcomes(self, om, nm):
        om = om if isinstance(om, dict) else {}
        nm = nm if isinstance(nm, dict) else {}
        spec = ("measure",)
        matches = {}
        for name in OUTCOME_LISTS:
            ol, nl = _as_list(om.get(name)), _as_list(nm.get(name))
            if ol == nl:
                matches[name] = None
                continue
            matches[name] = _match_keyed(ol, nl, spec)
        # moves: removed from one list, added to another with the same measure
        moves = []
        for a in OUTCOME_LISTS:
            for b in OUTCOME_LISTS:
                ma, mb = matches[a], matches[b]
                if a == b or ma is None or mb is None:
                    continue
                for ri, (oi, osel) in list(enumerate(ma.removed))[::-1]:
                    key = norm_text(oi.get("measure") if isinstance(oi, dict) else oi)
                    for ai, (ni, nsel) in enumerate(mb.added):
                        nkey = norm_text(ni.get("measure") if isinstance(ni, dict) else ni)
                        if key == nkey:
                            moves.append((a, b, oi, ni, osel, nsel))
                            del ma.removed[ri]
                            del mb.added[ai]
                            break
        for a, b, oi, ni, osel, nsel in moves:
            self.emit(f"{_OM}.{a}{osel}", f"{_OM}.{a}[]", "moved", oi, ni, oi, ni,
                      from_list=a, to_list=b, new_path=f"{_OM}.{b}{nsel}")
            if isinstance(oi, dict) and isinstance(ni, dict):
                o_rest = {k: v for k, v in oi.items() if k != "measure"}
                n_rest = {k: v for k, v in ni.items() if k != "measure"}
                if o_rest != n_rest:
                    self.walk(o_rest, n_rest, f"{_OM}.{b}{nsel}", f"{_OM}.{b}[]", 4, oi, ni)
        for name in OUTCOME_LISTS:
            m = matches[name]
            if m is None:
                continue
            renames = _pair_renames(m, spec, True)
            if name == "primaryOutcomes":
                renames += _pair_rewrites(m)
            self._emit_match(m, renames, f"{_OM}.{name}", f"{_OM}.{name}", spec, 3)
        for k in list(om.keys()) + [k for k in nm.keys() if k not in om]:
            if k in OUTCOME_LISTS:
                continue
            self.walk(om.get(k, MISSING), nm.get(k, MISSING), f"{_OM}.{k}", f"{_OM}.{k}", 3)

    # the record: protocolSection has its own walk (arms, outcomes and phases) -------
    def record(self, old: dict, new: dict):
        keys = list(old.keys()) + [k for k in new.keys() if k not in old]
        for k in keys:
            ov, nv = old.get(k, MISSING), new.get(k, MISSING)
            if ov is not MISSING and nv is not MISSING and ov == nv:
                continue
            if k == "protocolSection":
                self.protocol(ov if isinstance(ov, dict) else {}, nv if isinstance(nv, dict) else {})
            else:
                self.walk(ov, nv, k, k, 1)

    def protocol(self, op: dict, np_: dict):
        keys = list(op.keys()) + [k for k in np_.keys() if k not in op]
        for k in keys:
            ov, nv = op.get(k, MISSING), np_.get(k, MISSING)
            if ov is not MISSING and nv is not MISSING and ov == nv:
                continue
            path = f"protocolSection.{k}"
            if isinstance(ov, dict) != isinstance(nv, dict) and not (ov is MISSING and isinstance(nv, dict)):
                # A module gone, or no longer (or again) an object: one change for the module
                # (the rules flag it in its category), then its fields as removed or added.
                self._leaf(ov, nv, path, path, None, None)
                ov = ov if isinstance(ov, dict) else {}
                nv = nv if isinstance(nv, dict) else {}
            if k == "armsInterventionsModule":
                self.arms_interventions(_d(ov), _d(nv))
            elif k == "outcomesModule":
                self.outcomes(_d(ov), _d(nv))
            elif k == "designModule":
                od, nd = _d(ov), _d(nv)
                op_, npp = od.get("phases", MISSING), nd.get("phases", MISSING)
                if _phase_set(op_) != _phase_set(npp):
                    self._leaf(op_, npp, f"{path}.phases", f"{path}.phases", None, None)
                od = {x: y for x, y in od.items() if x != "phases"}
                nd = {x: y for x, y in nd.items() if x != "phases"}
                self.walk(od, nd, path, path, 2)
            else:
                self.walk(ov, nv, path, path, 2)


def _d(v):
    return v if isinstance(v, dict) else {}


def _as_list(v):
    return v if isinstance(v, list) else []


def _phase_set(v):
    return frozenset(map(_hashable, v)) if isinstance(v, list) else frozenset()


def _label_map(renames) -> dict[str, Any]:
    """Old arm label -> new, for the renamed arms whose labels are text."""
    return {o["label"]: n.get("label") for o, n, _, _ in renames
            if isinstance(o, dict) and isinstance(n, dict) and isinstance(o.get("label"), str)}


def _hashable(v):
    return v if isinstance(v, (str, int, float, bool, type(None))) else _canon(v)


_ITYPE = {
    "DRUG": "Drug", "DEVICE": "Device", "BIOLOGICAL": "Biological", "PROCEDURE": "Procedure",
    "RADIATION": "Radiation", "BEHAVIORAL": "Behavioral", "GENETIC": "Genetic",
    "DIETARY_SUPPLEMENT": "Dietary Supplement", "COMBINATION_PRODUCT": "Combination Product",
    "DIAGNOSTIC_TEST": "Diagnostic Test", "OTHER": "Other",
}


def _iref(it: dict) -> str:
    t = it.get("type") or ""
    t = t if isinstance(t, str) else str(t)
    return f"{_ITYPE.get(t, t.replace('_', ' ').title())}: {it.get('name')}"


def _subst_list(item, field_name, mapping):
    if not isinstance(item, dict) or not isinstance(item.get(field_name), list):
        return item
    lst = item[field_name]
    if not any(isinstance(x, str) and x in mapping for x in lst):
        return item
    out = dict(item)
    out[field_name] = [mapping.get(x, x) if isinstance(x, str) else x for x in lst]
    return out


def raw_diff(old: dict, new: dict) -> list[RawChange]:
    """Structural differences between two records (unclassified)."""
    d = _Differ()
    d.record(old or {}, new or {})
    return d.out
