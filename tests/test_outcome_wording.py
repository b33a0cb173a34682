"""Issue 21, items 1-3: an outcome entry judged as a whole; wording that is not content; time
frames restated (wording), filled in, or changed in shape (timing).  Invented text."""
from __future__ import annotations

import pytest

from regsync.outcomes import WORDING, clean, compare, norm_timeframe


def O(measure: str, tf: str | None = None, desc: str | None = None) -> dict:
    out = {"measure": measure}
    if tf is not None:
        out["timeFrame"] = tf
    if desc is not None:
        out["description"] = desc
    return out


# --------------------------------------------------------------------------- 1. the entry as a whole


@pytest.mark.parametrize("old, new", [
    (O("Left atrial volume by 3D echocardiography at 6 months"),
     O("Left atrial volume", "6 months", "measured by 3D echocardiography")),
    (O("Grip strength", "Week 10", "Grip strength with a hand dynamometer"),
     O("Grip strength with a hand dynamometer", "Week 10")),
    (O("Bone density of the hip at 2 years", "", "by DXA scan"),
     O("Bone density of the hip by DXA scan", "2 years")),
], ids=["measure-split-into-three-fields", "description-moved-into-measure", "all-three-shuffled"])
def test_text_moved_between_the_three_fields_is_wording(old, new):
    assert compare(old, new) == WORDING


@pytest.mark.parametrize("old, new, element", [
    (O("Pain (VAS)", "12 weeks"), O("Pain (NRS)", "12 weeks"), "measurement"),
    (O("Depression score", "12 weeks"), O("Anxiety score", "12 weeks"), "measurement"),
    (O("Pain score", "12 weeks"), O("Pain score on the Brief Pain Inventory", "12 weeks"), "detail"),
], ids=["another-instrument", "another-domain-same-head", "instrument-named"])
def test_a_bare_instrument_head_or_a_typo_never_hides_content(old, new, element):
    assert compare(old, new).element == element


def test_a_description_that_adds_detail_stays_minor():
    verdict = compare(O("Clinical remission", "Week 12"),
                      O("Clinical remission", "Week 12", "Remission: a partial Mayo score of 2 or less"))
    assert (verdict.level, verdict.element) == ("minor", "detail")


# --------------------------------------------------------------------------- 2. wording, not content


@pytest.mark.parametrize("old, new", [
    (O("Incidence of wound infection", "30 days"), O("Number of Participants With Wound Infection", "30 days")),
    (O("Incidence of wound infection", "30 days"), O("Proportion of subjects with a wound infection", "30 days")),
    (O("Reduction in HbA1c", "Baseline to week 26"), O("Change from baseline in HbA1c", "Week 26")),
    (O("The primary endpoint of this trial is overall survival", "5 years"), O("Overall survival", "5 years")),
    (O("To evaluate the change in body weight compared with placebo", "Week 52"), O("Change in body weight", "Week 52")),
    (O("Change in LDL cholesterol", "Week 12"), O("Change in LDL cholesterol - Drug A vs Placebo", "Week 12")),
    (O("Objective response rate", "2 years"), O("Objective Response Rate (ITT Population)", "2 years")),
    (O("Change in hs-CRP", "Week 12"), O("Change in high-sensitivity C-reactive protein (hs-CRP)", "Week 12")),
    (O("1. Overall survival", "5 years"), O("Overall survival", "5 years")),
    (O("Change in HbA1c (n = 120)", "Week 26"), O("Change in HbA1c", "Week 26")),
    (O("Change in HbA1c with ABX-204 10 mg", "Week 26"), O("Change in HbA1c", "Week 26")),
    (O("Pain intensity on the NRS", "Week 12"), O("Pain intensity on the 0-10 NRS", "Week 12")),
    (O("Fatigue score at Visit 3", "Week 8"), O("Fatigue score", "Week 8 (Visit 3)")),
    (O("Mortality through day 90", "90 days"), O("All-cause mortality", "Day 90")),
    (O("Change in body weight versus placebo", "Week 52"), O("Change in body weight", "Week 52")),
    (O("Improvement in pain (NRS)", "baseline, week 4"),
     O("Change From Baseline in NRS Pain Score at Week 4", "baseline, week 4")),
    (O("Quality of life Impact Scroe", "12 weeks"), O("Quality of life Impact Score", "12 weeks")),
    (O("Pain score", "12 weeks", "measured with the Brief Pain Inventory (BPI)"),
     O("Brief Pain Inventory (BPI) pain score", "12 weeks", "BPI pain score")),
], ids=["incidence-is-number-of-participants", "incidence-is-proportion", "reduction-is-change-from-baseline",
        "primary-endpoint-stem", "objective-stem-and-comparison", "arms-appended", "population-appended",
        "instrument-abbreviation", "list-number", "n-equals", "product-code-and-dose", "scale-range", "visit-number",
        "all-cause", "versus-placebo", "improvement-is-change-from-baseline-score", "transposed-letters",
        "instrument-moved-from-description"])
def test_wording_not_content(old, new):
    assert compare(old, new) == WORDING


@pytest.mark.parametrize("text, cleaned", [
    ("2) Time to relapse", "Time to relapse"),
    ("The main objective is to assess the rate of falls", "rate of falls"),
    ("Sleep quality - Group B versus Group C", "Sleep quality"),
    ("Sleep quality (Per-Protocol Set)", "Sleep quality"),
    ("Itch on a 0-10 numeric rating scale", "Itch on a numeric rating scale"),
    ("Mood (HADS, 14-item)", "Mood (HADS, )"),
    ("Quality of life (SF-36)", "Quality of life (SF-36)"),  # an instrument's number stays
])
def test_clean_takes_out_what_names_no_element(text, cleaned):
    assert " ".join(clean(text).split()) == cleaned


# --------------------------------------------------------------------------- 3. time frames


@pytest.mark.parametrize("old, new", [
    (O("Change in pain score", "16 weeks"), O("Change in pain score", "Baseline to week 16")),
    (O("Pain score at 6 weeks", ""), O("Pain score at 6 weeks", "Week 6")),
    (O("Walking distance", "6"), O("Walking distance", "6 months")),
    (O("Plasma drug concentration", "Day 1"), O("Plasma drug concentration", "Day 1 (pre-dose and 2 hours post-dose)")),
    (O("Itch score", "Weeks 4, 8 and 12"), O("Itch score", "4, 8 and 12 weeks")),
], ids=["baseline-anchor", "repeats-the-measure", "unit-added", "within-visit-schedule", "list-reordered"])
def test_a_time_frame_restated_is_wording(old, new):
    assert compare(old, new) == WORDING


@pytest.mark.parametrize("old, new", [
    (O("Wound infection", ""), O("Wound infection", "30 days after surgery")),
    (O("Wound infection", "None"), O("Wound infection", "30 days after surgery")),
    (O("Wound infection", "Select one"), O("Wound infection", "30 days after surgery")),
    (O("Wound infection", "x"), O("Wound infection", "30 days after surgery")),
    (O("Quality of life"), O("Quality of life", "12 months")),
    (O("Itch score", "Weeks 4, 8 and 12"), O("Itch score", "Week 12")),
    (O("Pain relief", "Hour 6"), O("Pain relief", "Within 6 hours")),
    (O("Progression-free survival", "Up to 24 months"),
     O("Progression-free survival", "Until 180 progression events have occurred")),
], ids=["filled-in", "placeholder-none", "placeholder-select-one", "placeholder-letter", "no-time-frame-field",
        "time-point-dropped", "point-to-window", "event-driven-end"])
def test_timing_changed_is_major(old, new):
    verdict = compare(old, new)
    assert (verdict.level, verdict.element) == ("change", "timepoint")


def test_a_time_frame_dropped_is_detail():
    verdict = compare(O("Wound infection", "30 days"), O("Wound infection"))
    assert (verdict.level, verdict.element) == ("minor", "detail")


@pytest.mark.parametrize("tf", ["", "None", "select one", "N/A", "x", " - ", None])
def test_placeholder_time_frames_are_empty(tf):
    assert norm_timeframe(tf) == ""
