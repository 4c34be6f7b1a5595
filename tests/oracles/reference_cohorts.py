"""The cohort criteria as first written: each criterion computed on its own for one cohort.

The yardstick that ``analytics.cohorts.select_patients`` (criteria computed once per set of
events, a cohort a boolean selection over them) must equal
(tests/test_cohorts.py::test_selection_from_criteria_equals_the_criteria_one_by_one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.cohorts import Cohort, patient_attributes, window_events
from analytics.injections import injection_sessions
from analytics.narcotics import narcotic_courses
from analytics.pathways import pathway_steps
from analytics.schema import TECHNIQUES, isin_ids


def _patients_with(events: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.Index:
    return pd.Index(events.loc[mask, "patient_id"].unique())


def reference_select_patients(
    events: pd.DataFrame,
    cohort: Cohort,
    *,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    attributes: pd.DataFrame | None = None,
) -> pd.Index:
    """Patient ids of the cohort, sorted (see the module docstring for each criterion).

    ``attributes`` is :func:`patient_attributes` of ``events`` when the caller
    has it already (it is computed otherwise).
    """
    window = window_events(events, cohort)
    if window.empty:
        return pd.Index([], dtype="string", name="patient_id")
    attrs = patient_attributes(events) if attributes is None else attributes
    in_window = pd.Index(window["patient_id"].unique())
    attrs = attrs.loc[isin_ids(attrs.index, in_window)]
    keep = pd.Series(True, index=attrs.index)

    if cohort.sexes:
        keep &= attrs["sex"].isin(cohort.sexes).fillna(False)
    if cohort.age_bands:
        keep &= attrs["age_band"].isin(cohort.age_bands).fillna(False)
    if cohort.providers:
        keep &= attrs["provider_id"].isin(cohort.providers).fillna(False)
    if cohort.sites:
        keep &= attrs["site"].isin(cohort.sites).fillna(False)
    if cohort.diagnosis.strip():
        needle = cohort.diagnosis.strip().lower()
        diag = window["diagnosis"].str.lower()
        hit = diag.str.startswith(needle) | diag.str.contains(needle, regex=False)
        keep &= isin_ids(keep.index, _patients_with(window, hit.fillna(False)))
    for technique in cohort.tried:
        keep &= isin_ids(keep.index, _patients_with(window, window["technique"] == technique))
    for technique in cohort.never_tried:
        keep &= ~isin_ids(keep.index, _patients_with(window, window["technique"] == technique))
    if cohort.pathway_starts_with:
        steps = pathway_steps(window, mode="first", techniques=TECHNIQUES, extract=extract)
        first = steps.loc[steps["step"] == 1]
        padded = "+" + first["label"].astype("string") + "+"
        has_it = padded.str.contains(f"+{cohort.pathway_starts_with}+", regex=False)
        starts = first.loc[has_it.fillna(False).to_numpy(dtype=bool), "patient_id"]
        keep &= isin_ids(keep.index, starts)
    if cohort.surgery_before_injection is not None:
        first_inj = (
            window.loc[window["technique"] == "injection"].groupby("patient_id")["event_date"].min()
        )
        first_surg = (
            window.loc[window["technique"] == "surgery"].groupby("patient_id")["event_date"].min()
        )
        before = first_surg.reindex(first_inj.index) < first_inj
        wanted = before if cohort.surgery_before_injection else ~before
        keep &= isin_ids(keep.index, wanted.index[wanted.to_numpy()])
    if cohort.long_term_narcotic is not None:
        courses = narcotic_courses(window, course_gap_days=course_gap_days, extract=extract)
        long_term = pd.Index(courses.loc[courses["long_term"], "patient_id"].unique())
        if cohort.long_term_narcotic:
            keep &= isin_ids(keep.index, long_term)
        else:
            on_narcotics = pd.Index(courses["patient_id"].unique())
            keep &= isin_ids(keep.index, on_narcotics) & ~isin_ids(keep.index, long_term)
    if cohort.min_sessions is not None or cohort.max_sessions is not None:
        sessions = injection_sessions(window).groupby("patient_id").size()
        counts = sessions.reindex(keep.index, fill_value=0)
        if cohort.min_sessions is not None:
            keep &= counts >= cohort.min_sessions
        if cohort.max_sessions is not None:
            keep &= counts <= cohort.max_sessions
    ids = keep.index[keep.to_numpy(dtype=bool)]
    return pd.Index(ids, dtype="string", name="patient_id").sort_values()


