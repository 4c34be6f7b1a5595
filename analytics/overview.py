"""Clinic-level measures for the Overview page, the physician table and cohort comparison.

All counts here are raw; pages and exports pass them through
:mod:`analytics.privacy` before showing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.cohorts import patient_attributes
from analytics.injections import injection_sessions, limit_windows
from analytics.intervals import extract_date as compute_extract_date
from analytics.narcotics import narcotic_courses
from analytics.pathways import step_therapy_concordance
from analytics.schema import isin_ids


@dataclass(frozen=True)
class Measures:
    """Key measures of one set of events (a cohort, a period or a physician's patients).

    ``patients``: distinct patients.  ``narcotic_patients`` / ``pct_narcotic``:
    patients with a narcotic event.  ``courses`` / ``long_term_courses`` /
    ``pct_long_term``: narcotic courses and those ≥ 90 days.
    ``median_course_days``: over all courses.  ``sessions``: injection sessions;
    ``patient_years``: sum over patients of (last − first event date + 1) / 365.25;
    ``sessions_per_patient_year`` = sessions / patient_years of the patients
    with a session.  ``injection_patients`` / ``over_limit_patients`` /
    ``pct_over_limit``: patients with a session / over a payer limit.
    ``concordant`` / ``pct_concordant``: step-therapy concordant patients.
    """

    patients: int
    narcotic_patients: int
    pct_narcotic: float | None
    courses: int
    long_term_courses: int
    pct_long_term: float | None
    median_course_days: float | None
    injection_patients: int
    sessions: int
    sessions_per_patient_year: float | None
    over_limit_patients: int
    pct_over_limit: float | None
    concordant: int
    pct_concordant: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def measures(
    events: pd.DataFrame, *, course_gap_days: int = 30, extract: pd.Timestamp | None = None
) -> Measures:
    """Compute :class:`Measures` for ``events`` (see its docstring for each definition)."""
    extract = compute_extract_date(events, extract)
    patients = int(events["patient_id"].nunique())
    narcotic_patients = int(events.loc[events["technique"] == "narcotic", "patient_id"].nunique())
    courses = narcotic_courses(events, course_gap_days=course_gap_days, extract=extract)
    long_term = int(courses["long_term"].sum()) if len(courses) else 0
    median_course = float(courses["duration_days"].median()) if len(courses) else None
    sessions = injection_sessions(events)
    injection_patients = int(sessions["patient_id"].nunique())
    if injection_patients:
        inj_events = events.loc[isin_ids(events["patient_id"], sessions["patient_id"].unique())]
        span = inj_events.groupby("patient_id")["event_date"].agg(["min", "max"])
        years = float(((span["max"] - span["min"]).dt.days + 1).sum() / 365.25)
        per_year = round(len(sessions) / years, 2) if years > 0 else None
    else:
        per_year = None
    over = limit_windows(events)
    over_patients = int(over["patient_id"].nunique()) if len(over) else 0
    concordance = step_therapy_concordance(events)
    concordant = int(concordance["concordant"].sum()) if len(concordance) else 0
    return Measures(
        patients=patients,
        narcotic_patients=narcotic_patients,
        pct_narcotic=_pct(narcotic_patients, patients),
        courses=int(len(courses)),
        long_term_courses=long_term,
        pct_long_term=_pct(long_term, len(courses)),
        median_course_days=median_course,
        injection_patients=injection_patients,
        sessions=int(len(sessions)),
        sessions_per_patient_year=per_year,
        over_limit_patients=over_patients,
        pct_over_limit=_pct(over_patients, injection_patients),
        concordant=concordant,
        pct_concordant=_pct(concordant, patients),
    )


def period_bounds(extract: pd.Timestamp, period_days: int) -> tuple[pd.Timestamp, ...]:
    """(previous_start, current_start, current_end): two adjacent periods ending at ``extract``.

    The current period is ``[extract − period_days + 1, extract]``, the previous
    one the ``period_days`` before it.
    """
    current_end = pd.Timestamp(extract).normalize()
    current_start = current_end - pd.Timedelta(days=period_days - 1)
    previous_start = current_start - pd.Timedelta(days=period_days)
    return previous_start, current_start, current_end


def period_measures(
    events: pd.DataFrame,
    *,
    period_days: int = 365,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
) -> tuple[Measures, Measures]:
    """Measures of the current and the previous period of ``period_days`` ending at the extract.

    Each period's measures use only the events dated inside it; the extract
    date of the previous period is its last day.
    """
    extract = compute_extract_date(events, extract)
    if extract is None:
        empty = measures(events)
        return empty, empty
    previous_start, current_start, current_end = period_bounds(extract, period_days)
    dates = events["event_date"]
    current = events.loc[(dates >= current_start) & (dates <= current_end)]
    previous = events.loc[(dates >= previous_start) & (dates < current_start)]
    previous_extract = current_start - pd.Timedelta(days=1)
    return (
        measures(current, course_gap_days=course_gap_days, extract=current_end),
        measures(previous, course_gap_days=course_gap_days, extract=previous_extract),
    )


def new_patients_by_month(events: pd.DataFrame) -> pd.DataFrame:
    """Patients by the month of their first event: columns ``month`` (first day), ``patients``."""
    if events.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[s]"), "patients": []})
    first = events.groupby("patient_id")["event_date"].min()
    month = first.dt.to_period("M").dt.to_timestamp().astype("datetime64[s]")
    out = month.value_counts().sort_index().rename_axis("month").reset_index(name="patients")
    return out


def monthly_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events and distinct patients per month and technique.

    Columns ``month`` (first day of the month), ``technique``, ``events``, ``patients``.
    """
    cols = ["month", "technique", "events", "patients"]
    if events.empty:
        return pd.DataFrame(columns=cols)
    month = events["event_date"].dt.to_period("M").dt.to_timestamp().astype("datetime64[s]")
    frame = pd.DataFrame(
        {"month": month, "technique": events["technique"], "patient_id": events["patient_id"]}
    )
    out = (
        frame.groupby(["month", "technique"], observed=True)
        .agg(events=("patient_id", "size"), patients=("patient_id", "nunique"))
        .reset_index()
    )
    out["technique"] = out["technique"].astype("string")
    return out[cols]


def physician_table(
    events: pd.DataFrame,
    *,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    attributes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per attributed physician (the provider on most of a patient's events).

    ``attributes``: :func:`analytics.cohorts.patient_attributes` when the caller
    has it (e.g. of the whole dataset, so attribution does not change with the
    cohort); computed from ``events`` otherwise.

    Columns: ``provider_id``, ``patients``, ``narcotic_patients``,
    ``pct_narcotic``, ``long_term_courses``, ``pct_long_term`` (of courses),
    ``median_course_days``, ``injection_patients``, ``sessions``,
    ``over_limit_patients``, ``concordant``, ``pct_concordant``.
    """
    cols = ["provider_id", "patients", "narcotic_patients", "pct_narcotic", "long_term_courses",
            "pct_long_term", "median_course_days", "injection_patients", "sessions",
            "over_limit_patients", "concordant", "pct_concordant"]
    attrs = patient_attributes(events) if attributes is None else attributes
    attrs = attrs.loc[isin_ids(attrs.index, events["patient_id"].unique())]
    if attrs.empty or attrs["provider_id"].isna().all():
        return pd.DataFrame(columns=cols)
    extract = compute_extract_date(events, extract)
    provider = attrs["provider_id"].fillna("(unknown)")
    out = provider.value_counts().rename("patients").to_frame()
    narcotic = events.loc[events["technique"] == "narcotic", "patient_id"].unique()
    out["narcotic_patients"] = provider[isin_ids(provider.index, narcotic)].value_counts()
    courses = narcotic_courses(events, course_gap_days=course_gap_days, extract=extract)
    courses = courses.assign(provider_id=provider.reindex(courses["patient_id"]).to_numpy())
    by_course = courses.groupby("provider_id").agg(
        courses=("long_term", "size"),
        long_term_courses=("long_term", "sum"),
        median_course_days=("duration_days", "median"),
    )
    out = out.join(by_course)
    sessions = injection_sessions(events)
    sessions = sessions.assign(provider_id=provider.reindex(sessions["patient_id"]).to_numpy())
    out["injection_patients"] = sessions.groupby("provider_id")["patient_id"].nunique()
    out["sessions"] = sessions.groupby("provider_id").size()
    over = limit_windows(events)
    over_ids = over["patient_id"].unique() if len(over) else []
    out["over_limit_patients"] = provider[isin_ids(provider.index, over_ids)].value_counts()
    concordance = step_therapy_concordance(events).set_index("patient_id")["concordant"]
    concordant_ids = concordance.index[concordance.to_numpy(dtype=bool)]
    out["concordant"] = provider[isin_ids(provider.index, concordant_ids)].value_counts()
    count_cols = ["narcotic_patients", "long_term_courses", "injection_patients", "sessions",
                  "over_limit_patients", "concordant", "courses"]
    out[count_cols] = out[count_cols].fillna(0).astype("int64")
    out["pct_narcotic"] = (100 * out["narcotic_patients"] / out["patients"]).round(1)
    out["pct_long_term"] = (
        100 * out["long_term_courses"] / out["courses"].replace(0, np.nan)
    ).round(1)
    out["pct_concordant"] = (100 * out["concordant"] / out["patients"]).round(1)
    out = out.rename_axis("provider_id").reset_index().sort_values("provider_id")
    return out[cols].reset_index(drop=True)
