"""One patient's treatment timeline as swimlane segments (for the Patient timeline page)."""

from __future__ import annotations

import pandas as pd

from analytics.intervals import event_intervals, to_dates
from analytics.narcotics import narcotic_courses
from analytics.pathways import pathway_steps, technique_eras
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUE_LABELS, TECHNIQUES

_COLUMNS = ["lane", "start", "end", "label", "technique"]
STEPS_LANE = "Pathway steps (eras mode)"
COURSES_LANE = "Narcotic courses"


def _days(n: pd.Series) -> pd.Series:
    """``"1 day"``, ``"15 days"``."""
    text = n.astype("int64").astype("string")
    return text + pd.Series(["day" if v == 1 else "days" for v in n.astype("int64")],
                            index=n.index, dtype="string").radd(" ")


def _step_text(label: pd.Series) -> pd.Series:
    """``muscle_relaxant+narcotic`` -> ``Muscle relaxant + Narcotic``."""
    names = {t: TECHNIQUE_LABELS[t] for t in TECHNIQUES}
    return label.astype("string").str.split("+").map(
        lambda parts: " + ".join(names.get(p, p) for p in parts)).astype("string")
_COURSE_END_NOTES = {"gap": "", "extract": " (ongoing)", "death": " (ended at death)"}


def _mme_note(courses: pd.DataFrame) -> pd.Series:
    """", 45 MME/day" (", ~45 MME/day (estimated)" when estimated); empty without MME."""
    value = courses["avg_mme_per_day"].round(0).astype("Int64").astype("string")
    estimated = courses["mme_estimated"].astype(bool)
    note = (", " + estimated.map({True: "~", False: ""}).astype("string") + value
            + " MME/day" + estimated.map({True: " (estimated)", False: ""}).astype("string"))
    return note.fillna("")


def patient_timeline(
    events: pd.DataFrame,
    patient_id: str,
    *,
    era_gap_days: int = 30,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    combination_window_days: int = 30,
    min_era_days: int = 0,
    min_post_combination_days: int = 0,
    pathway_filter: str = "changes",
) -> pd.DataFrame:
    """Swimlane segments of one patient, columns ``lane``, ``start``, ``end`` (exclusive),
    ``label``, ``technique``.

    Lanes, top to bottom: one lane of covered days per technique ("Narcotic events", …);
    one lane of eras per technique ("Narcotic eras", ``era_gap_days``), so eras of
    different techniques that overlap are all visible; the pathway steps of mode "eras"
    (:func:`analytics.pathways.pathway_steps` with the era and combination parameters and
    no step limit: a combination shows as one segment, ``technique`` its label such as
    ``muscle_relaxant+narcotic``); then "Narcotic courses" (``course_gap_days``; labelled
    with duration, fills, how the course ended and its average MME/day).  A physician sees
    the raw events and how each definition grouped them.
    """
    mine = events.loc[events["patient_id"] == patient_id]
    if mine.empty:
        return pd.DataFrame(columns=_COLUMNS)
    covered = event_intervals(mine, extract)
    technique = covered["technique"].astype("string")
    label = covered["detail"].fillna(technique.map(TECHNIQUE_LABELS))
    fills = pd.DataFrame({
        "lane": technique.map(TECHNIQUE_LABELS) + " events",
        "start": to_dates(covered["start_day"].to_numpy()),
        "end": to_dates(covered["end_day"].to_numpy()),
        "label": label.astype("string"),
        "technique": technique,
    })
    eras = technique_eras(mine, era_gap_days=era_gap_days, extract=extract)
    era_technique = eras["technique"].astype("string")
    era_rows = pd.DataFrame({
        "lane": era_technique.map(TECHNIQUE_LABELS) + " eras",
        "start": eras["start"], "end": eras["end"],
        "label": era_technique.map(TECHNIQUE_LABELS) + " era, " + _days(eras["duration_days"]),
        "technique": era_technique,
    })
    steps = pathway_steps(mine, mode="eras", techniques=DEFAULT_PATHWAY_TECHNIQUES,
                          era_gap_days=era_gap_days,
                          combination_window_days=combination_window_days,
                          # no limit: pieces lie between era boundaries, < 2 per event
                          max_steps=2 * len(mine) + 1, extract=extract,
                          min_era_days=min_era_days,
                          min_post_combination_days=min_post_combination_days,
                          pathway_filter=pathway_filter)
    days = (steps["end"] - steps["start"]).dt.days
    step_rows = pd.DataFrame({
        "lane": STEPS_LANE,
        "start": steps["start"], "end": steps["end"],
        "label": "Step " + steps["step"].astype("string") + ": " + _step_text(steps["label"])
        + ", " + _days(days),
        "technique": steps["label"].astype("string"),
    })
    courses = narcotic_courses(mine, course_gap_days=course_gap_days, extract=extract)
    course_rows = pd.DataFrame({
        "lane": COURSES_LANE,
        "start": courses["start"], "end": courses["end"],
        "label": "Course " + courses["course"].astype("string") + ": "
        + courses["duration_days"].astype("string") + " days, "
        + courses["fills"].astype("string") + " fills"
        + courses["ended_by"].map(_COURSE_END_NOTES).astype("string")
        + _mme_note(courses),
        "technique": "narcotic",
    })
    parts = [(rank, part) for rank, part in enumerate((fills, era_rows, step_rows,
                                                       course_rows)) if len(part)]
    out = pd.concat([part.assign(_group=rank) for rank, part in parts], ignore_index=True)
    # lanes in order: events, then eras (techniques in canonical order), steps, courses
    order = {t: i for i, t in enumerate(TECHNIQUES)}
    out["_technique"] = out["technique"].map(order).fillna(len(order)).where(
        out["_group"] < 2, 0)
    out["start"] = out["start"].astype("datetime64[s]")
    out["end"] = out["end"].astype("datetime64[s]")
    out = out.sort_values(["_group", "_technique", "start"], kind="stable")
    return out[_COLUMNS].reset_index(drop=True)
