"""The ``fields`` parameter: a record reduced to the named pieces, nested layout kept."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

# Piece names (https://clinicaltrials.gov/data-api/about-api/study-data-structure) whose path
# cannot be guessed from the key names. Date pieces keep only the date, as the real API does
# (fields=StartDate gives startDateStruct: {date}). Other names (module and section names,
# plain leaf keys such as OfficialTitle) are matched against the record's keys, ignoring case;
# dotted field paths (protocolSection.statusModule) are taken as they are.
_PS = "protocolSection."
_PIECES = {
    "nctid": _PS + "identificationModule.nctId",
    "nctidalias": _PS + "identificationModule.nctIdAliases",
    "orgstudyid": _PS + "identificationModule.orgStudyIdInfo.id",
    "brieftitle": _PS + "identificationModule.briefTitle",
    "officialtitle": _PS + "identificationModule.officialTitle",
    "acronym": _PS + "identificationModule.acronym",
    "overallstatus": _PS + "statusModule.overallStatus",
    "whystopped": _PS + "statusModule.whyStopped",
    "statusverifieddate": _PS + "statusModule.statusVerifiedDate",
    "lastupdatesubmitdate": _PS + "statusModule.lastUpdateSubmitDate",
    "lastupdatepostdate": _PS + "statusModule.lastUpdatePostDateStruct.date",
    "lastupdatepostdatetype": _PS + "statusModule.lastUpdatePostDateStruct.type",
    "studyfirstpostdate": _PS + "statusModule.studyFirstPostDateStruct.date",
    "resultsfirstpostdate": _PS + "statusModule.resultsFirstPostDateStruct.date",
    "startdate": _PS + "statusModule.startDateStruct.date",
    "primarycompletiondate": _PS + "statusModule.primaryCompletionDateStruct.date",
    "completiondate": _PS + "statusModule.completionDateStruct.date",
    "leadsponsorname": _PS + "sponsorCollaboratorsModule.leadSponsor.name",
    "briefsummary": _PS + "descriptionModule.briefSummary",
    "condition": _PS + "conditionsModule.conditions",
    "keyword": _PS + "conditionsModule.keywords",
    "studytype": _PS + "designModule.studyType",
    "phase": _PS + "designModule.phases",
    "enrollmentcount": _PS + "designModule.enrollmentInfo.count",
    "enrollmenttype": _PS + "designModule.enrollmentInfo.type",
    "interventionname": _PS + "armsInterventionsModule.interventions.name",
    "minimumage": _PS + "eligibilityModule.minimumAge",
    "maximumage": _PS + "eligibilityModule.maximumAge",
    "hasresults": "hasResults",
}


# The modules a stored study also keeps apart, parsed alone when they suffice.
HEAD_MODULES = ("identificationModule", "statusModule")


@functools.cache
def head_suffices(fields: tuple[str, ...]) -> bool:
    """Whether every field is a piece inside the modules an _Entry keeps in ``head``."""
    prefixes = tuple(f"{_PS}{m}." for m in HEAD_MODULES)
    return all(_PIECES.get(name.lower(), "").startswith(prefixes) for name in fields)


def project(record: dict, fields: Iterable[str]) -> dict | None:
    """The record reduced to ``fields`` (piece names or dotted paths), nested layout kept."""
    trie: dict = {}
    for name in fields:
        path = _PIECES.get(name.lower())
        if path is not None or "." in name:
            _trie_add(trie, (path or name).split("."))
        else:
            for found in _find_keys(record, name.lower(), ()):
                _trie_add(trie, found)
    projected = _project(record, trie) if trie else None
    assert projected is None or isinstance(projected, dict)  # a dict projects to a dict
    return projected


def _trie_add(trie: dict, path: list[str] | tuple[str, ...]) -> None:
    node = trie
    for i, key in enumerate(path):
        if node.get(key) is True:
            return  # an ancestor is already included whole
        if i == len(path) - 1:
            node[key] = True
        else:
            node = node.setdefault(key, {})


def _find_keys(node: object, name: str, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    # Paths never index into lists: a list applies the rest of the path to each element.
    if isinstance(node, list):
        seen: set[tuple[str, ...]] = set()
        for item in node:
            for found in _find_keys(item, name, path):
                if found not in seen:
                    seen.add(found)
                    yield found
    elif isinstance(node, dict):
        for key, value in node.items():
            low = key.lower()
            if low == name:
                yield (*path, key)
            elif low == name + "struct":  # date pieces: StartDate -> startDateStruct.date
                yield (*path, key, "date")
            else:
                yield from _find_keys(value, name, (*path, key))


def _project(node: object, trie: dict | bool) -> object | None:
    if not isinstance(trie, dict):  # True: the whole node
        return node
    if isinstance(node, list):
        items = [p for p in (_project(item, trie) for item in node) if p is not None]
        return items or None
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():  # the record's own key order
            sub = trie.get(key)
            if sub is not None:
                projected = _project(value, sub)
                if projected is not None:
                    out[key] = projected
        return out or None
    return None
