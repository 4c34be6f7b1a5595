"""One patient's treatment timeline as swimlane segments (for the Patient timeline page)."""

from __future__ import annotations

import pandas as pd

from analytics.intervals import event_intervals, to_dates
from analytics.narcotics import narcotic_courses
from analytics.pathways import technique_eras
from analytics.schema import TECHNIQUE_LABELS

_COLUMNS = ["lane", "start", "end", "label", "technique"]
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
) -> pd.DataFrame:
    """Swimlane segments of one patient, columns ``lane``, ``start``, ``end`` (exclusive),
    ``label``, ``technique``.

    Lanes, top to bottom: one lane of covered days per technique ("Narcotic
    fills", …), then "Technique eras" (``era_gap_days``) and "Narcotic courses"
    (``course_gap_days``; labelled with duration, fills, how the course ended and its
    average MME/day), so a physician sees the raw events and how the definitions
    grouped them.
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
    era_rows = pd.DataFrame({
        "lane": "Technique eras",
        "start": eras["start"], "end": eras["end"],
        "label": eras["technique"].astype("string").map(TECHNIQUE_LABELS) + " era, "
        + eras["duration_days"].astype("string") + " days",
        "technique": eras["technique"].astype("string"),
    })
    courses = narcotic_courses(mine, course_gap_days=course_gap_days, extract=extract)
    course_rows = pd.DataFrame({
        "lane": "Narcotic courses",
        "start": courses["start"], "end": courses["end"],
        "label": "Course " + courses["course"].astype("string") + ": "
        + courses["duration_days"].astype("string") + " days, "
        + courses["fills"].astype("string") + " fills"
        + courses["ended_by"].map(_COURSE_END_NOTES).astype("string")
        + _mme_note(courses),
        "technique": "narcotic",
    })
    out = pd.concat([fills, era_rows, course_rows], ignore_index=True)
    out["start"] = out["start"].astype("datetime64[s]")
    out["end"] = out["end"].astype("datetime64[s]")
    return out[_COLUMNS]
