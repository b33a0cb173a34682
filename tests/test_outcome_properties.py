"""Every outcome text rule takes any registry text (issue 21, item 5): braces, percent
signs, backslashes, word-diff markers, format fields, case-only and punctuation-only edits.
None of them may raise, and an edit of case or punctuation alone is never a change."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from regsync import outcomes
from regsync.classify import diff_records
from regsync.model import Severity

HOSTILE = st.sampled_from([
    "{", "}", "{}", "{0}", "{+word+}", "[-word-]", "{x!r}", "%", "%s", "%(x)s", "%d", "\\", "\\n", "\\1",
    "(", ")", "((", "-", ",", ";", "<b>", " vs ", " and ", "n = 3", "Week 4", "0-10", "ITT",
])
WORDS = st.sampled_from(["Pain", "score", "HbA1c", "change", "week", "12", "survival", "NRS", "(SF-36)", "of", "the"])
# Characters whose case swap is not a case edit (German sharp s becomes "SS", dotted and
# dotless i, long s) are left out: the registry's case-only edits do not spell words anew.
TEXT = st.lists(st.one_of(HOSTILE, WORDS, st.text(alphabet=st.characters(max_codepoint=0x17f, exclude_characters="\u00df\u0149\u017f\u0130\u0131"), max_size=6)), max_size=12).map(" ".join)
ENTRY = st.fixed_dictionaries({"measure": TEXT}, optional={"timeFrame": TEXT, "description": TEXT})


def rec(primary: list[dict]) -> dict:
    return {"protocolSection": {"statusModule": {"overallStatus": "RECRUITING"},
                                "outcomesModule": {"primaryOutcomes": primary, "secondaryOutcomes": primary[:1]}}}


@settings(max_examples=150, deadline=None)
@given(old=ENTRY, new=ENTRY)
def test_every_text_rule_takes_any_text(old, new):
    outcomes.compare(old, new)
    outcomes.endpoint_shift([old], [new], [new], [old])
    outcomes.rewritten_in_place(old, new)
    outcomes.time_points(new)
    outcomes.clean(new["measure"])
    outcomes.norm_timeframe(new.get("timeFrame"))
    outcomes.abbreviations(new.values())
    for change in diff_records(rec([old]), rec([new])):
        assert change.rule != "change.unjudged", change.summary


def _primary_only(entry: dict) -> dict:
    # one list: the same text in two lists is a move, which is the diff's business, not this
    return {"protocolSection": {"statusModule": {"overallStatus": "RECRUITING"},
                                "outcomesModule": {"primaryOutcomes": [entry]}}}


def _recase(text: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips + [False] * len(text)))


@settings(max_examples=150, deadline=None)
@given(entry=ENTRY, flips=st.lists(st.booleans(), max_size=60), punct=st.sampled_from([".", ",", ";", ":", "!"]))
def test_case_and_punctuation_only_edits_are_not_changes(entry, flips, punct):
    edited = {k: _recase(v, flips) + punct for k, v in entry.items()}
    changes = diff_records(_primary_only(entry), _primary_only(edited))
    assert all(c.severity is Severity.ADMIN for c in changes), [(c.rule, c.summary) for c in changes]
