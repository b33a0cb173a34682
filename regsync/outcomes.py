"""Outcome changes judged the way outcome-switching raters judge them.

Raters (Holst et al., PLOS Medicine 2023; COMPare) compare a primary outcome by its
elements: the domain (what is measured), the measurement (instrument, scale), the metric
(change from baseline, proportion, time to event, slope), the aggregation (mean, median)
and the time point.  Spelling, wording and details moved between fields are not changes.
So before anything is compared, both phrasings are brought to one canonical form: numbers
written as words, units and their abbreviations, British spellings, plurals, compounds
(``VO2 max``), synonyms for the people measured, word order, and abbreviations defined in
either version (``eGFR (estimated glomerular filtration rate)``).

Two entry points, both pure:

- :func:`compare` judges one outcome against its successor (same entry, edited): a
  :class:`Verdict` with the level (``none`` / ``minor`` / ``change`` / ``major``), the
  element that decided it and the reason in words;
- :func:`endpoint_shift` compares the *endpoints named* by a whole list of primary
  outcomes, so that one entry split in two, or a list merged into one, is restructuring,
  while an endpoint that appears or disappears inside a compound measure ("A and B"
  becomes "A") is a new or omitted primary outcome.

What this does not claim: it judges wording, not intent, and it knows no medicine beyond
a short list of instrument words; a reworded measure that a clinician would call a new
endpoint can still pass as wording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from regsync.text import norm_text, unmarkup

Level = Literal["none", "minor", "change", "major"]
Element = Literal["wording", "detail", "domain", "measurement", "metric", "aggregation", "timepoint"]

_LEVEL_RANK: dict[str, int] = {"none": 0, "minor": 1, "change": 2, "major": 3}


@dataclass(frozen=True)
class Verdict:
    level: Level
    element: Element
    reason: str

    def __ge__(self, other: Verdict) -> bool:
        return _LEVEL_RANK[self.level] >= _LEVEL_RANK[other.level]


WORDING = Verdict("none", "wording", "wording only")

# -- canonical words -------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "eighteen": 18, "twenty": 20, "twenty-four": 24,
    "thirty": 30, "forty": 40, "forty-eight": 48, "fifty": 50, "sixty": 60, "ninety": 90,
    "hundred": 100,
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b")
_UNITS = {
    "day": "day", "days": "day", "d": "day",
    "week": "week", "weeks": "week", "wk": "week", "wks": "week",
    "month": "month", "months": "month", "mo": "month", "mos": "month", "mths": "month",
    "year": "year", "years": "year", "yr": "year", "yrs": "year",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "second": "second", "seconds": "second", "sec": "second", "secs": "second", "s": "second",
}
_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25, "hour": 1 / 24}
_BRITISH = {
    "tumour": "tumor", "tumours": "tumors", "analogue": "analog", "haemoglobin": "hemoglobin",
    "oedema": "edema", "anaemia": "anemia", "behaviour": "behavior", "centre": "center",
    "programme": "program", "paediatric": "pediatric", "oestrogen": "estrogen",
    "haemorrhage": "hemorrhage", "foetal": "fetal", "fibre": "fiber", "litre": "liter",
    "colour": "color", "favourable": "favorable", "ageing": "aging", "dyspnoea": "dyspnea",
}
_SYNONYMS = {
    "subject": "participant", "patient": "participant", "people": "participant",
    "person": "participant", "individual": "participant", "volunteer": "participant",
    "percentage": "proportion", "percent": "proportion", "%": "proportion",
    "incidence": "proportion", "frequency": "proportion", "occurrence": "proportion",
    "assessed": "measured", "evaluated": "measured", "determined": "measured",
    "evaluation": "measured", "measurement": "measured",
    "experienced": "experience", "experiencing": "experience", "reporting": "report",
    "reported": "report", "therapy": "treatment", "discontinuation": "end", "completion": "end",
}
# Words that say nothing about what is measured.
_FILLER = frozenset({
    "of", "with", "in", "on", "the", "a", "an", "for", "to", "at", "by", "using", "as",
    "from", "per", "who", "is", "are", "be", "that", "which", "will", "was", "were", "been",
    "its", "their", "each", "this", "these", "via", "within", "after", "during", "over",
    "measured", "approximately", "about", "around", "average", "up", "until", "through",
    "throughout", "total", "study", "participant", "experience", "report", "achieving",
    "achieve", "having", "have", "has", "had", "defined", "baseline", "end", "visit",
    "period", "day", "week", "month", "year", "hour", "time", "frame", "point", "number",
    "and", "or", "any", "all", "least",
})
# How a measure is expressed (its metric), as cue phrases.
_METRIC_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("slope", re.compile(r"\b(slope|rate of change|annual rate|annualized rate|annualised rate)\b")),
    ("standardized", re.compile(r"\b(z score|z-score|sds|standard deviation score|t score)\b")),
    ("change", re.compile(r"\b(change|changes|reduction|increase|decrease|improvement|decline|difference|shift)\b")),
    ("time-to", re.compile(r"\b(time to|time from|duration of|time until)\b")),
    ("proportion", re.compile(r"\b(proportion|number of participant|responder|(response|progression|mortality|"
                              r"survival|recurrence|relapse|event|remission|cure|infection|complication|"
                              r"success|failure|readmission|hospitalization|death) rate)\b")),
)
_STRONG_METRICS = frozenset({"slope", "standardized"})
_METRIC_WORDS = frozenset({
    "slope", "z", "score", "sds", "change", "reduction", "increase", "decrease",
    "improvement", "decline", "difference", "shift", "proportion", "responder", "rate",
    "annual", "annualized", "annualised", "duration", "until",
})
_AGGREGATIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("geometric mean", re.compile(r"\bgeometric mean\b")),
    ("mean", re.compile(r"\b(mean|average)\b")),
    ("median", re.compile(r"\bmedian\b")),
    ("maximum", re.compile(r"\b(maximum|peak|highest|max)\b")),
    ("minimum", re.compile(r"\b(minimum|lowest|trough|min)\b")),
    ("cumulative", re.compile(r"\bcumulative\b")),
)
_AGGREGATION_WORDS = frozenset({"geometric", "mean", "median", "maximum", "peak", "highest",
                                "minimum", "lowest", "trough", "cumulative"})
# An instrument is named by an acronym or by words ending in one of these.
_INSTRUMENT_HEADS = frozenset({
    "scale", "questionnaire", "inventory", "index", "test", "criteria", "instrument",
    "equation", "score", "survey", "checklist", "profile", "tool", "battery", "assessment",
})
# Acronyms of instruments and scales (an acronym not listed names what is measured: eGFR,
# HbA1c, FEV1, BMI).
_INSTRUMENT_ACRONYMS = frozenset({
    "vas", "nrs", "vrs", "hamd", "hama", "hrsd", "madrs", "bdi", "phq", "phq9", "gad7", "cesd",
    "hads", "gds", "sf36", "sf12", "sf6d", "eq5d", "eq5d5l", "eq5d3l", "eqvas", "qlqc30", "fact",
    "recist", "irecist", "mrecist", "ctcae", "nihss", "mrs", "mmse", "moca", "adascog", "cdr",
    "edss", "updrs", "mdsupdrs", "das28", "acr20", "acr50", "acr70", "pasi", "easi", "scorad",
    "ipss", "iief", "kps", "ecog", "psqi", "isi", "ess", "sgrq", "acq", "kccq", "mlhfq", "cgi",
    "cgis", "cgii", "ymrs", "caps", "pcl5", "panss", "bprs", "womac", "koos", "hoos", "odi",
    "ndi", "dash", "qdash", "spadi", "lefs", "ikdc", "aofas", "fim", "bbs", "tug", "npi", "bpi",
    "ckdepi", "mdrd", "ctcae5", "iwg", "lugano", "rano", "imwg", "eln", "cheson", "nyha",
    "gcs", "apache", "sofa", "qsofa", "meld", "childpugh", "asas20", "asas40", "basdai",
})
# Text in a measure (or description) that names no element raters compare, removed before
# anything is judged (issue 21): each pattern with the wording it stands for.  Matched on the
# registry's text, case-insensitive unless the pattern says otherwise.
_NOT_CONTENT: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.I) for p in (
    # a list number: "1. Overall survival", "b) Pain"
    r"^\s*(?:\d{1,2}|[a-h])[.)]\s+",
    # objective and boilerplate stems: "The primary endpoint of this trial is ...", "To evaluate ..."
    r"^\s*(?:the\s+)?(?:primary|main|principal)\s+(?:efficacy\s+|safety\s+)?(?:end\s*-?\s*points?|outcomes?(?:\s+measures?)?"
    r"|objectives?|aims?)\s+(?:of\s+(?:this|the)\s+(?:trial|study)\s+)?(?:is|are|will\s+be)\s+(?:the\s+)?",
    r"^\s*(?:to\s+)?(?:evaluate|assess|determine|measure|compare|investigate|examine|demonstrate|estimate|describe)\s+(?:the\s+)?",
    # arms, strata or analysis sets appended to a title: "- Drug A vs Placebo", "- Cohort 1"
    r"\s+[-\u2013\u2014]\s+[^-\u2013\u2014()]*\b(?:vs\.?|versus|placebo|arms?|groups?|cohorts?|parts?|stages?|strat(?:um|a)"
    r"|populations?|sets?|analys[ie]s|itt|mitt|per[- ]protocol)\b[^-\u2013\u2014()]*$",
    # a comparison with the control arm: "compared with placebo", "vs. sham"
    r"\s*\b(?:compared\s+(?:with|to)|versus|vs\.?)\s+(?:the\s+)?(?:placebo|control|sham|comparator|vehicle|usual\s+care"
    r"|standard\s+(?:of\s+)?care)(?:\s+(?:group|arm)s?)?\b",
    # ... or in parentheses: "(ITT Population)", "(interim analysis)", "(Cohort 2)"
    r"\s*\((?:[^()]*\b(?:populations?|sets?|itt|mitt|per[- ]protocol|analys[ie]s|cohorts?|arms?|groups?|parts?|strat(?:um|a)"
    r"|subgroups?)\b[^()]*)\)",
    # numbers that are not measurement numbers: "n = 120", visit numbers, doses
    r"\(?\bn\s*=\s*\d+\)?",
    r"\(?\b(?:at\s+)?visits?\s*\d+\)?",
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|\u00b5g|ug|iu|units?)(?:\s*/\s*(?:kg|m2|day|d))?\b",
    # a scale's range or item count: "0-10 NRS", "(0-100)", "NRS 0-10", "17-item", "7-point"
    r"\(\s*[01]\s*(?:-|\u2013|to)\s*\d{1,3}\s*\)",
    r"\b[01]\s*(?:-|\u2013|to)\s*\d{1,3}(?=\s+(?:[a-z-]+\s+){0,2}(?:scale|nrs|vas|nprs|likert)\b)",
    r"(?:(?<=\bnrs)|(?<=\bvas)|(?<=\bscale))\s+[01]\s*(?:-|\u2013|to)\s*\d{1,3}\b",
    r"\b\d{1,3}[- ]?items?\b",
    r"\b\d{1,2}[- ]?points?\b(?=\s+(?:[a-z-]+\s+){0,2}scale\b)",
    # "all-cause mortality" is mortality; "death from any cause" is death
    r"\ball[- ]cause\b",
    r"\b(?:from|of|due\s+to)\s+any\s+cause\b",
)) + (
    # a product code (ABX-204; not an instrument: SF-36 has two digits), case-sensitive
    re.compile(r"\b[A-Z]{2,5}-?\d{3,}[A-Z]?\b"),
)
# A time frame that says nothing about timing: the registry's form placeholders.
_PLACEHOLDER_TIMEFRAMES = frozenset({
    "", "none", "select one", "n/a", "na", "n a", "tbd", "to be determined", "not applicable", "unknown",
    "not specified", "not available", "-", "see description", "see above", ".", "0",
})
# Within one visit ("pre-dose and 2 hours post-dose"): a schedule, not a time point.
_WITHIN_VISIT = (
    re.compile(r"\([^()]*\b(?:pre-?dose|post-?dose|dos(?:e|ing)|infusion|injection)\b[^()]*\)", re.I),
    re.compile(r"\b\d+(?:\.\d+)?\s*(?:hours?|hrs?|h|minutes?|mins?)\s+(?:post|after)-?\s*dos(?:e|ing)\b", re.I),
)
# How a time frame ends: at a fixed point, anywhere within a window, or when events occur.
_WINDOW = re.compile(r"\b(?:within|up\s+to|upto|through|throughout|until|till|over|during|by)\b", re.I)
_EVENT_DRIVEN = re.compile(
    r"\bevent[- ]driven\b|\b\d+\s+(?:\w+\s+){0,2}events?\b|\buntil\s+(?:\w+\s+){0,3}(?:progression|death|relapse|recurrence"
    r"|events?)\b|\bevents?\s+(?:have|has)\s+(?:occurred|accrued)", re.I)
# "Weeks 4, 8 and 12" / "4, 8 and 12 weeks": one time point per number.
_UNIT_THEN_LIST = re.compile(r"\b(days?|weeks?|months?|years?|hours?)\s+(\d+(?:\s*(?:,|and|&|or)\s*\d+)+)")
_LIST_THEN_UNIT = re.compile(r"\b(\d+(?:\s*(?:,|and|&|or)\s*\d+)+)\s+(days?|weeks?|months?|years?|hours?)\b")


def clean(text: Any) -> str:
    """``text`` without what names no outcome element (:data:`_NOT_CONTENT`)."""
    if not isinstance(text, str):
        return ""
    for pattern in _NOT_CONTENT:
        text = pattern.sub(" ", text)
    return text


def _expand_lists(text: str) -> str:
    """ "weeks 4, 8 and 12" -> "week 4, week 8 and week 12" (lower-cased text)."""
    def unit_first(m: re.Match[str]) -> str:
        unit = m.group(1).rstrip("s")
        return re.sub(r"\d+", lambda n: f"{unit} {n.group(0)}", m.group(2))

    def unit_last(m: re.Match[str]) -> str:
        return re.sub(r"\d+", lambda n: f"{n.group(0)} {m.group(2)}", m.group(1))

    return _LIST_THEN_UNIT.sub(unit_last, _UNIT_THEN_LIST.sub(unit_first, text))


_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|[<>=%\u2264\u2265]")
# Two capitals with at most digits between them, in one word: HAM-D, SF-36, eGFR, VO2max
# (not "Dose-Limiting").
_ACRONYM = re.compile(r"\b(?=[A-Za-z0-9-]*[A-Z]\d*[A-Z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")
_PAREN = re.compile(r"\(([^()]*)\)")
_QUANTITY = re.compile(
    r"(?P<every>\b(?:every|each|per|q)\s+)?"
    r"(?:(?P<n>\d+(?:\.\d+)?)\s*-?\s*(?P<u>days?|weeks?|wks?|months?|mos?|mths|years?|yrs?|hours?|hrs?|h)\b"
    r"|\b(?P<u2>day|week|month|year|hour)\s+(?P<n2>\d+(?:\.\d+)?))"
)
_PLAIN_NUMBER = re.compile(r"(?<![a-z0-9.])\d+(?:\.\d+)?(?![a-z0-9])")


def _lower(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    s = unmarkup(text).lower().replace("\u2013", "-").replace("\u2014", "-")
    s = _NUMBER_WORD.sub(lambda m: str(_NUMBER_WORDS[m.group(1)]), s)
    s = re.sub(r"(\d)\s*-\s*(?=[a-z])", r"\1 ", s)  # "6-minute" is "6 minute"
    return _expand_lists(s)


def _singular(word: str) -> str:
    if word in _INSTRUMENT_ACRONYMS:
        return word  # MADRS, not "MADR"
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ics")):
        return word[:-1]
    return word


def _canon(word: str) -> str:
    word = _BRITISH.get(word, word)
    word = re.sub(r"isation$", "ization", re.sub(r"is(ed|ing)$", r"iz\1", word)) if len(word) > 6 else word
    word = _UNITS.get(word, word) if not word.isdigit() else word
    word = _singular(word)
    return _SYNONYMS.get(word, word)


def _words(text: str) -> list[str]:
    return [_canon(w) for w in _TOKEN.findall(text)]


# -- abbreviations ---------------------------------------------------------------------------


def _initials_match(abbr: str, words: Sequence[str]) -> bool:
    """Whether ``abbr`` spells ``words`` by word prefixes, in order (HAM-D: HAMilton Depression)."""

    def go(i: int, j: int, started: bool) -> bool:
        if i == len(abbr):
            return started
        if j == len(words):
            return False
        w = words[j]
        for k in range(min(len(w), len(abbr) - i), 0, -1):
            if abbr[i:i + k] == w[:k] and go(i + k, j + 1, True):
                return True
        # stop-words and trailing words (rating scale) may be skipped, once started
        return started and go(i, j + 1, True) if w in _FILLER or started else False

    return go(0, 0, False)


def abbreviations(texts: Iterable[Any]) -> dict[str, str]:
    """Abbreviations defined in ``texts``: ``long form (ABBR)`` or ``ABBR (long form)``."""
    found: dict[str, str] = {}
    for text in texts:
        if not isinstance(text, str):
            continue
        raw = unmarkup(text)
        for m in _PAREN.finditer(raw):
            inside = m.group(1).strip()
            before = _lower(raw[: m.start()]).split()
            inner_words = _TOKEN.findall(_lower(inside))
            key = re.sub(r"[^a-z0-9]", "", inside.lower())
            if 1 <= len(key) <= 10 and " " not in inside.strip():
                key = key[:-1] if inside.endswith("s") and len(key) > 2 else key
                for k in range(1, min(len(before), len(key) + 3) + 1):
                    span = [w for w in _TOKEN.findall(" ".join(before[-k:]))]
                    if span and _initials_match(key, span):
                        found.setdefault(key, " ".join(span))
                        break
                else:
                    # "Glycated Hemoglobin (HbA1c)": an acronym in parentheses names the
                    # words before it even when it does not spell them (not an instrument's)
                    if sum(c.isupper() for c in inside) >= 2 and key not in _INSTRUMENT_ACRONYMS:
                        phrase: list[str] = []
                        for w in reversed(_TOKEN.findall(" ".join(before[-4:]))):
                            if w in _FILLER:
                                break
                            phrase.insert(0, w)
                        if phrase:
                            found.setdefault(key, " ".join(phrase))
            elif before and len(inner_words) >= 2:
                prev = re.sub(r"[^a-z0-9]", "", before[-1])
                if prev and prev not in inner_words and _initials_match(prev, inner_words):
                    found.setdefault(prev, " ".join(inner_words))
    return found


def _expand(text: str, abbrs: Mapping[str, str]) -> str:
    """``text`` (lowered) with each defined abbreviation replaced by its long form, once."""
    if not abbrs:
        return text

    def sub_paren(m: re.Match[str]) -> str:
        key = re.sub(r"[^a-z0-9]", "", m.group(1))
        key = key[:-1] if key not in abbrs and key.endswith("s") else key
        if key in abbrs:
            return " "  # "long form (ABBR)": the long form is already there
        inner = " ".join(_TOKEN.findall(m.group(1)))
        if inner in abbrs.values():
            return " "  # "ABBR (long form)": the abbreviation is expanded below
        return m.group(0)

    text = _PAREN.sub(sub_paren, text)

    def sub_word(m: re.Match[str]) -> str:
        word = m.group(0)
        key = re.sub(r"[^a-z0-9]", "", word)
        if key in abbrs:
            return abbrs[key]
        if key.endswith("s") and key[:-1] in abbrs:
            return abbrs[key[:-1]]
        return word

    return re.sub(r"[a-z0-9]+(?:-[a-z0-9]+)*", sub_word, text)


# -- the parts of one phrasing ---------------------------------------------------------------


@dataclass(frozen=True)
class Parts:
    """One outcome's text taken apart into the elements raters compare."""

    content: frozenset[str]          # what is measured (domain words)
    instruments: frozenset[str]      # acronyms and words naming a scale or instrument
    metrics: frozenset[str]          # change, proportion, time-to, slope, standardized
    aggregations: frozenset[str]     # mean, median, ...
    times: tuple[float, ...]         # time points, in days, sorted
    numbers: frozenset[str]          # other numbers (thresholds, items, durations of a test)
    squashed: str = field(default="")  # every word run together, to see "VO2 max" = "VO2max"
    framing: frozenset[str] = frozenset()  # the time frame's words besides its time points


def _times(text: str) -> tuple[list[float], str]:
    points: list[float] = []

    def take(m: re.Match[str]) -> str:
        unit = _UNITS.get(m.group("u") or m.group("u2") or "", "")
        n = float(m.group("n") or m.group("n2"))
        if not m.group("every") and unit in _DAYS:
            points.append(round(n * _DAYS[unit], 2))
        return " "

    rest = _QUANTITY.sub(take, text)
    return points, rest


def _acronyms(text: str, abbrs: Mapping[str, str]) -> set[str]:
    """Instrument acronyms in ``text`` (HAM-D, SF-36, RECIST 1.1), as one word each."""
    out = set()
    for m in _ACRONYM.finditer(unmarkup(text)):
        key = re.sub(r"[^a-z0-9]", "", m.group(0).lower())
        if key in _INSTRUMENT_ACRONYMS or key.rstrip("0123456789") in _INSTRUMENT_ACRONYMS:
            out.add(key)
    return out


def parts(text: str, abbrs: Mapping[str, str], *, times_from: str = "") -> Parts:
    """``text`` taken apart; ``times_from`` is text whose only contribution is time points."""
    acronyms = _acronyms(text, abbrs)
    low = _expand(_lower(text), abbrs)
    for acronym in acronyms:  # HAM-D, SF-36 are one word, not "ham" and "d"
        low = re.sub(r"\b" + r"[\s-]?".join(map(re.escape, acronym)) + r"\b", " " + acronym + " ", low)
    points, rest = _times(low)
    tf_points, tf_rest = _times(_expand(_lower(times_from), abbrs))
    canon = " ".join(_words(rest))
    metrics = {name for name, cue in _METRIC_CUES if cue.search(canon)}
    aggregations = {name for name, cue in _AGGREGATIONS if cue.search(canon)}
    if "geometric mean" in aggregations:
        aggregations.discard("mean")
    words = _words(rest)
    instruments: set[str] = set()
    for i, w in enumerate(words):
        if w in _INSTRUMENT_HEADS:
            # the instrument's name: up to three words before its head, back to a filler word
            # ("Berg Balance Scale"; "specificity of the index test" names only "index test")
            instruments.add(w)
            for x in reversed(words[max(0, i - 3): i]):
                if x in _FILLER:
                    break
                instruments.add(x)
    instruments |= {_canon(a) for a in acronyms}
    numbers = {w for w in words if _PLAIN_NUMBER.fullmatch(w)}
    instruments -= numbers
    content = {
        w for w in words
        if w not in _FILLER and w not in _METRIC_WORDS and w not in _AGGREGATION_WORDS
        and w not in instruments and w not in numbers and len(w) > 1
    }
    tf_words = {w for w in _words(tf_rest) if w not in _FILLER and not _PLAIN_NUMBER.fullmatch(w)}
    squashed = "".join(w for w in words if w not in _FILLER) + "|" + "".join(sorted(tf_words))
    return Parts(
        content=frozenset(content), framing=frozenset(tf_words), instruments=frozenset(instruments),
        metrics=frozenset(metrics), aggregations=frozenset(aggregations),
        times=tuple(sorted(set(points + tf_points))), numbers=frozenset(numbers),
        squashed=squashed,
    )


def _same_times(a: Sequence[float], b: Sequence[float]) -> bool:
    """Every time point of each side has one within 3% on the other (12 months = 52 weeks)."""

    def covered(xs: Sequence[float], ys: Sequence[float]) -> bool:
        return all(any(abs(x - y) <= 0.035 * max(x, y) + 0.5 for y in ys) for x in xs)

    return covered(a, b) and covered(b, a)


def _fmt_days(points: Sequence[float]) -> str:
    out = []
    for d in points:
        for unit, size in (("year", 365.25), ("month", 30.44), ("week", 7.0), ("day", 1.0)):
            n = d / size
            if d >= size and abs(n - round(n)) < 0.04:
                out.append(f"{round(n)} {unit}{'s' if round(n) != 1 else ''}")
                break
        else:
            out.append(f"{d:g} days")
    return ", ".join(out) or "none"


def _typo_equal(a: frozenset[str], b: frozenset[str]) -> bool:
    """The same words up to one-letter typos (``progresion``) and compounds (``vo2max``)."""
    only_a, only_b = sorted(a - b), sorted(b - a)
    if not only_a and not only_b:
        return True
    if len(only_a) != len(only_b):
        return False
    for x in only_a:
        if any(_transposed(x, y) for y in only_b):
            continue
        best = max((SequenceMatcher(None, x, y).ratio() for y in only_b), default=0.0)
        if best < 0.85 or min(len(x), *(len(y) for y in only_b)) < 5:
            return False
    return True


def _transposed(x: str, y: str) -> bool:
    """``scroe`` for ``score``: two neighbouring letters swapped, the commonest typo."""
    if len(x) != len(y) or len(x) < 4:
        return False
    diff = [i for i in range(len(x)) if x[i] != y[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]


def _named_alike(a: Parts, b: Parts) -> bool:
    """The same words up to typos and a bare instrument head: "Improvement in pain (NRS)" and
    "NRS Pain Score" name one thing, as do "Impact Scroe" and "Impact Score"."""
    left = (a.content | a.instruments) - _INSTRUMENT_HEADS
    right = (b.content | b.instruments) - _INSTRUMENT_HEADS
    only_left = {x for x in left - right if not any(_transposed(x, y) for y in right | b.instruments)}
    only_right = {y for y in right - left if not any(_transposed(y, x) for x in left | a.instruments)}
    return not only_left and not only_right or _typo_equal(frozenset(only_left), frozenset(only_right))


def _verdict_for(a: Parts, b: Parts, where: str) -> Verdict:
    """Element by element, most consequential first."""
    if a.squashed == b.squashed and a.times == b.times and a.numbers == b.numbers:
        return WORDING  # the same words, spaced or hyphenated differently (VO2 max, VO2max)
    if a.content | a.instruments | a.framing == b.content | b.instruments | b.framing and a.times == b.times \
            and a.numbers == b.numbers and a.metrics == b.metrics and a.aggregations == b.aggregations:
        return WORDING  # the same words, in another order
    if _named_alike(a, b) and a.framing == b.framing and _same_times(a.times, b.times) \
            and a.numbers == b.numbers and a.metrics == b.metrics and a.aggregations == b.aggregations:
        return WORDING
    content_equal = a.content == b.content or _typo_equal(a.content, b.content) or (
        a.squashed == b.squashed and a.squashed != ""
    )
    shared = a.content & b.content
    union = a.content | b.content
    if not content_equal:
        subset = a.content < b.content or b.content < a.content
        if not subset and union and len(shared) / len(union) < 0.34 and not (
            a.instruments != b.instruments and shared
        ):
            return Verdict("major", "domain", f"{where}: a different measure")
    if a.metrics != b.metrics:
        strong = (a.metrics ^ b.metrics) & _STRONG_METRICS
        if (a.metrics and b.metrics) or strong or (a.metrics and not b.metrics and "change" in a.metrics):
            return Verdict("change", "metric", f"{where}: metric {_names(a.metrics)} -> {_names(b.metrics)}")
    if a.aggregations != b.aggregations and a.aggregations and b.aggregations:
        return Verdict("change", "aggregation",
                       f"{where}: aggregation {_names(a.aggregations)} -> {_names(b.aggregations)}")
    if a.aggregations != b.aggregations and a.aggregations and not b.aggregations and b.metrics:
        return Verdict("change", "metric", f"{where}: metric {_names(a.aggregations)} -> {_names(b.metrics)}")
    if a.instruments and b.instruments and a.instruments != b.instruments and not (
        a.instruments < b.instruments or b.instruments < a.instruments
    ):
        return Verdict("change", "measurement",
                       f"{where}: instrument {_names(a.instruments - b.instruments)} -> {_names(b.instruments - a.instruments)}")
    if a.times != b.times and not _same_times(a.times, b.times):
        if a.times and b.times:
            return Verdict("change", "timepoint", f"time point {_fmt_days(a.times)} -> {_fmt_days(b.times)}")
        return Verdict("minor", "detail", f"time point {'given' if b.times else 'dropped'}: {_fmt_days(a.times or b.times)}")
    if a.numbers and b.numbers and a.numbers != b.numbers:
        return Verdict("change", "measurement",
                       f"{where}: numbers {', '.join(sorted(a.numbers))} -> {', '.join(sorted(b.numbers))}")
    if not content_equal and not (a.content < b.content or b.content < a.content):
        return Verdict("change", "measurement", f"{where}: what is measured reworded beyond wording")
    if not content_equal or a.instruments != b.instruments or a.numbers != b.numbers or a.metrics != b.metrics \
            or a.aggregations != b.aggregations:
        added = (b.content - a.content) | (b.instruments - a.instruments) | (b.numbers - a.numbers)
        return Verdict("minor", "detail", f"{where}: detail {'added' if added else 'dropped'}")
    if a.framing != b.framing and not _typo_equal(a.framing, b.framing) and not (
        # a time frame's words moved into or out of the measure are not new detail
        (a.framing - b.framing) <= b.content and (b.framing - a.framing) <= a.content
    ):
        return Verdict("minor", "detail", f"time frame: detail {'added' if b.framing - a.framing else 'dropped'}")
    return WORDING


def _names(xs: Iterable[str]) -> str:
    return " ".join(sorted(xs)) or "unstated"


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Verdict:
    """How much one outcome entry changed from ``old`` to ``new``, element by element.

    The entry is judged as a whole: measure, time frame and description together, so text
    moved from one field to another is wording, not detail added here and dropped there."""
    fields = ("measure", "timeFrame", "description")
    if all(norm_text(_s(old.get(k))) == norm_text(_s(new.get(k))) for k in fields):
        return WORDING  # case, punctuation, markup or spacing only: no word changed
    texts = [old.get(k) for k in fields] + [new.get(k) for k in fields]
    abbrs = abbreviations(texts)
    old, new = _entry(old, new), _entry(new, old)
    a = parts(old["measure"], abbrs, times_from=old["timeFrame"])
    b = parts(new["measure"], abbrs, times_from=new["timeFrame"])
    verdict = _verdict_for(a, b, "measure")
    if verdict.level in ("major", "change"):
        return verdict
    timing = _timing_verdict(old, new, abbrs)
    if timing is not None:
        return timing
    described = _description_verdict(old, new, abbrs)
    if described is not None and described >= verdict and described != WORDING:
        verdict = described
    if verdict.level == "minor" and _whole_entry(old, abbrs) == _whole_entry(new, abbrs):
        return WORDING  # what one field lost, another gained
    if verdict.level == "minor" and _verdict_for(_whole_parts(old, abbrs), _whole_parts(new, abbrs), "entry") == WORDING:
        return WORDING
    return verdict


def _entry(item: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, str]:
    """An entry's three fields with what names no element taken out (:func:`clean`), a
    placeholder time frame emptied and a bare number given the other version's unit."""
    tf = _s(item.get("timeFrame"))
    if norm_timeframe(tf) == "":
        tf = ""
    for pattern in _WITHIN_VISIT:
        tf = pattern.sub(" ", tf)
    bare = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", tf)
    if bare:
        # "6" -> "6 months": the unit the other version states for the same number
        unit = re.search(r"\b" + re.escape(bare.group(1)) + r"\s*-?\s*([a-z]+)", _lower(_s(other.get("timeFrame"))))
        if unit and unit.group(1) in _UNITS:
            tf = f"{bare.group(1)} {unit.group(1)}"
    return {"measure": clean(item.get("measure")), "timeFrame": clean(tf),
            "description": clean(item.get("description"))}


def norm_timeframe(tf: Any) -> str:
    """A time frame lower-cased and trimmed; "" for none or a placeholder ("None", "Select
    one", a lone letter)."""
    if not isinstance(tf, str):
        return ""
    low = " ".join(unmarkup(tf).lower().split()).strip(" .:;,")
    if low in _PLACEHOLDER_TIMEFRAMES or re.fullmatch(r"[a-z]", low) or not re.search(r"[a-z0-9]", low):
        return ""
    return low


def _whole_entry(item: Mapping[str, str], abbrs: Mapping[str, str]) -> tuple[frozenset[str], tuple[float, ...]]:
    p = _whole_parts(item, abbrs)
    return p.content | p.instruments | p.framing, p.times


def _whole_parts(item: Mapping[str, str], abbrs: Mapping[str, str]) -> Parts:
    return parts(f"{item['measure']} ; {item['description']}", abbrs, times_from=item["timeFrame"])


def _timing_verdict(old: Mapping[str, str], new: Mapping[str, str], abbrs: Mapping[str, str]) -> Verdict | None:
    """Timing changed with the same time points: given where the entry had none anywhere, a
    fixed point turned into a window (or back), or an event-driven end for a fixed one."""
    def times(item: Mapping[str, str]) -> tuple[float, ...]:
        return _whole_parts(item, abbrs).times

    ta, tb = times(old), times(new)
    had_timing = bool(ta) or bool(old["timeFrame"].strip())
    if not had_timing and (tb or new["timeFrame"].strip()):
        return Verdict("change", "timepoint", f"time frame given where there was none: {_fmt_days(tb) if tb else trunc_tf(new)}")
    fa, fb = old["timeFrame"], new["timeFrame"]
    if not fa.strip() or not fb.strip():
        return None
    ea, eb = bool(_EVENT_DRIVEN.search(fa)), bool(_EVENT_DRIVEN.search(fb))
    if ea != eb:
        return Verdict("change", "timepoint", f"follow-up {'ends with events' if eb else 'fixed'} instead of "
                                              f"{'ending with events' if ea else 'fixed'}")
    wa, wb = bool(_WINDOW.search(fa)), bool(_WINDOW.search(fb))
    if wa != wb and ta and tb and not ea:
        return Verdict("change", "timepoint", f"time point {'turned into a window' if wb else 'fixed from a window'}: "
                                              f"{_fmt_days(tb)}")
    return None


def trunc_tf(item: Mapping[str, str]) -> str:
    return " ".join(item["timeFrame"].split())[:60]


def _description_verdict(old: Mapping[str, Any], new: Mapping[str, Any], abbrs: Mapping[str, str]) -> Verdict | None:
    da, db = _s(old.get("description")), _s(new.get("description"))
    if _lower(da).split() == _lower(db).split():
        return None
    said = " ".join(_s(x.get(k)) for x in (old, new) for k in ("measure", "timeFrame"))
    known = parts(said, abbrs)
    pa, pb = parts(da, abbrs), parts(db, abbrs)
    extra_a, extra_b = pa.content - known.content, pb.content - known.content
    if not extra_a and not extra_b and pa.instruments <= known.instruments | pb.instruments \
            and pb.instruments <= known.instruments | pa.instruments and pa.numbers == pb.numbers:
        return WORDING  # the description restates the measure
    if not da.strip() or not db.strip():
        return Verdict("minor", "detail", f"description {'added' if db.strip() else 'removed'}")
    verdict = _verdict_for(pa, pb, "description")
    if verdict.element == "domain" or verdict.reason.endswith("beyond wording"):
        # A description that names another instrument changes the measurement; one merely
        # rewritten (results-table prose, more or less explanation) adds or drops detail.
        if pa.instruments and pb.instruments and not (pa.instruments & pb.instruments - _INSTRUMENT_HEADS):
            return Verdict("change", "measurement",
                           f"description: instrument {_names(pa.instruments - pb.instruments)} -> "
                           f"{_names(pb.instruments - pa.instruments)}")
        return Verdict("minor", "detail", "description rewritten")
    return verdict


def _s(x: Any) -> str:
    return x if isinstance(x, str) else ""


# -- the endpoints a list names --------------------------------------------------------------

_SPLIT = re.compile(r"\s+(?:and|or|&|as well as|versus|vs\.?)\s+|[;,]|\n+|(?:^|\s)(?:\d+[.)]|[*\u2022-])\s+")
# Clauses of a measure that qualify it and never name an endpoint of their own: a definition,
# how or when it is measured (cut from the clause word to the end of the measure).
_QUALIFYING_CLAUSE = re.compile(
    r"[,;:]?\s*\b(?:defined\s+as|(?:as\s+)?(?:measured|assessed|evaluated|determined|calculated|confirmed|graded)"
    r"\s+(?:by|with|using|per|according)|according\s+to|per\s+(?=[A-Z])|(?:up\s+)?to\s+(?:day|week|month|year)"
    r"|through|throughout|within|at\s+(?:day|week|month|year|baseline)|over\s+(?:the\s+)?(?:first\s+)?\d)\b.*$", re.I | re.S)


class Endpoint(frozenset[str]):
    """An endpoint's content words (compared as a set), with the phrase that named it."""

    phrase: str
    fragment: bool  # one of several pieces its measure was cut into

    def __new__(cls, words: Iterable[str], phrase: str, fragment: bool = False) -> Endpoint:
        self = super().__new__(cls, words)
        self.phrase = phrase
        self.fragment = fragment
        return self


def endpoints(items: Iterable[Mapping[str, Any]], abbrs: Mapping[str, str]) -> list[frozenset[str]]:
    """The endpoints a list of outcomes names: each measure split at its coordinations."""
    out: list[frozenset[str]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = _expand(_lower(_QUALIFYING_CLAUSE.sub(" ", clean(item.get("measure")))), abbrs)

        def paren(m: re.Match[str]) -> str:
            # a parenthesis qualifies (an abbreviation, an instrument) and names no endpoint,
            # unless it lists them: "major adverse events (death, stroke, infarction)"
            listed = [p for p in _SPLIT.split(m.group(1)) if p and p.strip()]
            return " ; " + " ; ".join(listed) if len(listed) >= 2 else " "

        text = _PAREN.sub(paren, text)
        pieces = [p for p in _SPLIT.split(text) if p and p.strip()]
        for piece in pieces:
            named = parts(piece, abbrs)
            # What an endpoint is, is its domain; a bare instrument (BMI) where there is none.
            content = named.content or (named.instruments - _INSTRUMENT_HEADS)
            if content:
                out.append(Endpoint(content, " ".join(piece.split()), len(pieces) > 1))
    return out


def _matches(a: frozenset[str], b: frozenset[str]) -> bool:
    if a <= b or b <= a:
        return True
    return len(a & b) / len(a | b) >= 0.5 or _typo_equal(a, b)


def same_endpoints(a: Sequence[frozenset[str]], b: Sequence[frozenset[str]]) -> bool:
    """Every endpoint of each side is named on the other."""
    return bool(a) and bool(b) and all(any(_matches(x, y) for y in b) for x in a) and all(
        any(_matches(y, x) for x in a) for y in b
    )


@dataclass(frozen=True)
class EndpointShift:
    """Primary endpoints that appeared or disappeared, whatever the entries were cut into."""

    new: tuple[frozenset[str], ...] = ()
    omitted: tuple[frozenset[str], ...] = ()
    promoted: tuple[frozenset[str], ...] = ()   # named before in a secondary/other outcome
    demoted: tuple[frozenset[str], ...] = ()    # named after in a secondary/other outcome
    abbrs: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def none(self) -> bool:
        return not (self.new or self.omitted or self.promoted or self.demoted)

    def names(self, items: Iterable[Mapping[str, Any]]) -> list[frozenset[str]]:
        """The endpoints ``items`` name, in the terms this shift was computed in."""
        return endpoints(items, self.abbrs)


def _all_texts(*lists: Iterable[Mapping[str, Any]]) -> list[Any]:
    return [it.get(k) for lst in lists for it in lst if isinstance(it, Mapping)
            for k in ("measure", "description")]


def endpoint_shift(
    old_primary: Sequence[Mapping[str, Any]], new_primary: Sequence[Mapping[str, Any]],
    old_others: Sequence[Mapping[str, Any]] = (), new_others: Sequence[Mapping[str, Any]] = (),
) -> EndpointShift:
    """Which primary endpoints are new, omitted, or moved to/from secondary."""
    abbrs = abbreviations(_all_texts(old_primary, new_primary, old_others, new_others))
    before, after = endpoints(old_primary, abbrs), endpoints(new_primary, abbrs)
    others_before, others_after = endpoints(old_others, abbrs), endpoints(new_others, abbrs)
    gone = [e for e in before if not any(_matches(e, x) for x in after)]
    # a fragment of a measure that now sits in a time frame or description is not omitted
    elsewhere = set().union(*(parts(_s(it.get("timeFrame")) + " ; " + _s(it.get("description")), abbrs).content
                              for it in new_primary if isinstance(it, Mapping)))
    gone = [e for e in gone if not (getattr(e, "fragment", False) and e <= elsewhere)]
    came = [e for e in after if not any(_matches(e, x) for x in before)]
    demoted = tuple(e for e in gone if any(_matches(e, x) for x in others_after))
    promoted = tuple(e for e in came if any(_matches(e, x) for x in others_before))
    return EndpointShift(
        new=tuple(e for e in came if e not in promoted),
        omitted=tuple(e for e in gone if e not in demoted),
        promoted=promoted, demoted=demoted, abbrs=abbrs,
    )


# Words a rewritten entry may keep without keeping its outcome: heads every outcome shares
# (survival, rate, score), the study's context (treatment, dose) and time.
_CONTEXT_WORDS = frozenset({
    "survival", "free", "rate", "response", "score", "level", "value", "event", "outcome", "efficacy",
    "safety", "dose", "treatment", "drug", "placebo", "study", "trial", "intervention", "group", "arm",
    "overall", "total", "clinical", "primary", "secondary", "length", "duration", "status", "day", "week",
    "month", "year", "hour", "time", "follow", "up", "post", "pre", "first", "any",
})


def core_words(item: Mapping[str, Any]) -> frozenset[str]:
    """What an entry's measure says is measured, without shared heads and context words."""
    entry = _entry(item, {})
    got = parts(entry["measure"], abbreviations([item.get("measure")]))
    return frozenset(got.content - _CONTEXT_WORDS)


def rewritten_in_place(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """``new`` still names ``old``'s core outcome words (hospital stay for hospital
    discharge; not overall survival for progression-free survival)."""
    return bool(core_words(old) & core_words(new))


def time_points(item: Mapping[str, Any]) -> tuple[float, ...]:
    """An entry's time points, in days, from its measure, time frame and description."""
    entry = _entry(item, {})
    return _whole_parts(entry, abbreviations([item.get(k) for k in ("measure", "timeFrame", "description")])).times


def covered_times(a: Sequence[float], b: Sequence[float]) -> bool:
    """Every time point of ``a`` has one within 3% in ``b``."""
    return all(any(abs(x - y) <= 0.035 * max(x, y) + 0.5 for y in b) for x in a)


def describe(endpoint: frozenset[str]) -> str:
    """The endpoint as its measure named it (``proteinuria``)."""
    return getattr(endpoint, "phrase", None) or " ".join(sorted(endpoint))
