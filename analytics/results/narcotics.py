"""The Narcotic courses result: course lengths, Kaplan–Meier, long-term and high-dose shares,
MME bands, patients on a narcotic per month, overlap with muscle relaxants, physicians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import narcotics
from analytics.narcotics import STATUSES_WITH_MME
from analytics.results.distributions import (
    Survival,
    add_survival,
    histogram,
    histogram_columns,
    survival,
)
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.table import Kind, Table, count, derived, label, patients
from analytics.survival import KaplanMeier

ALL_PHYSICIANS = "All physicians"
HIGH_DOSE_MME = narcotics.HIGH_DOSE_MME


@dataclass(frozen=True)
class NarcoticsResult:
    """The protected Narcotic courses view of a cohort.

    ``kpis`` (one row): patients, courses, long-term / high-dose / ongoing courses
    (with the shares of the first two), courses ended by death, courses without an MME,
    courses whose average uses an *estimated* MME (a fill without a days supply: its
    order's length), fills (dispenses) without an MME and with an estimated one.
    ``durations``: 7-day bins of course length (adding up to the courses).
    ``course_km``: Kaplan–Meier of course duration.  ``mme_bands``: courses per
    average MME/day band (with the courses without MME, adding up to the courses), and
    of them those whose average is estimated.
    ``active_by_month``: patients with a covered day per month.  ``overlap`` (one
    row): patients with any narcotic + muscle-relaxant overlap day and those
    flagged (≥ 30 days); ``overlap_days``: 7-day bins of the overlap (adding up to
    the first).  ``by_physician``: one row per attributed physician and "All
    physicians".
    """

    kpis: Table
    durations: Table
    course_km: Survival
    mme_bands: Table
    active_by_month: Table
    overlap: Table
    overlap_days: Table
    by_physician: Table


@dataclass(frozen=True)
class NarcoticsCounts:
    """The Narcotic courses view's aggregates before protection (no threshold)."""

    kpis: pd.DataFrame
    durations: pd.DataFrame
    course_km: KaplanMeier
    mme_bands: pd.DataFrame
    active_by_month: pd.DataFrame
    overlap: pd.DataFrame
    overlap_days: pd.DataFrame
    by_physician: pd.DataFrame

    def protect(self, min_cell: int) -> NarcoticsResult:
        layout = Layout(min_cell)
        layout.add("kpis", "Narcotic courses", (
            patients("patients", "Patients on narcotics"),
            count("courses", "Courses"),
            count("long_term", "Long-term courses", shown=False),
            derived("pct_long_term", "Long-term (≥ 90 days)", ["long_term", "courses"],
                    unit="%"),
            count("high_dose", "High-dose courses", shown=False),
            derived("pct_high_dose", "High dose (≥ 90 MME/day)", ["high_dose", "courses"],
                    unit="%"),
            count("ongoing", "Ongoing at extract date"),
            count("ended_by_death", "Ended by death"),
            count("courses_without_mme", "Courses without MME"),
            count("courses_mme_estimated", "Courses with an estimated MME"),
            count("fills_without_mme", "Fills without MME"),
            count("fills_mme_estimated", "Fills with an estimated MME"),
        ), self.kpis)
        kpi = {name: layout.cell("kpis", 0, name) for name in
               ("patients", "courses", "long_term", "high_dose", "ongoing", "ended_by_death",
                "courses_without_mme", "courses_mme_estimated")}
        for part in ("long_term", "high_dose", "ongoing", "ended_by_death",
                     "courses_without_mme", "courses_mme_estimated"):
            layout.part_of(kpi[part], kpi["courses"])

        layout.add("durations", "Course length",
                   histogram_columns(count("courses", "Courses")), self.durations)
        layout.column_total("durations", "courses", kpi["courses"])
        add_survival(layout, "course_km", self.course_km, Kind.COUNT)
        if self.course_km.n:
            layout.same(layout.cell("course_km_summary", 0, "n"), kpi["courses"])

        layout.add("mme_bands", "Average daily dose of each course (MME/day)", (
            label("band", "MME/day band"), count("courses", "Courses"),
            count("estimated", "Of which MME estimated")), self.mme_bands)
        layout.sums(layout.cells("mme_bands", "courses") + [kpi["courses_without_mme"]],
                    kpi["courses"])
        layout.column_total("mme_bands", "estimated", kpi["courses_mme_estimated"])
        for r in range(len(self.mme_bands)):
            layout.part_of(layout.cell("mme_bands", r, "estimated"),
                           layout.cell("mme_bands", r, "courses"))
        layout.add("active_by_month", "Patients on a narcotic, per month", (
            label("month", "Month"), patients("patients", "Patients with a covered day")),
            self.active_by_month)

        layout.add("overlap", "Narcotic + muscle relaxant overlap", (
            patients("overlapping", "Patients with any overlap day"),
            patients("flagged", "Flagged (≥ 30 overlap days)")), self.overlap)
        layout.part_of(layout.cell("overlap", 0, "flagged"),
                       layout.cell("overlap", 0, "overlapping"))
        layout.add("overlap_days", "Days covered by both a narcotic and a muscle relaxant",
                   histogram_columns(patients("patients", "Patients")), self.overlap_days)
        layout.column_total("overlap_days", "patients", layout.cell("overlap", 0, "overlapping"))

        _add_physicians(layout, self.by_physician, kpi)
        tables = layout.protect()
        return NarcoticsResult(
            kpis=tables["kpis"], durations=tables["durations"],
            course_km=survival(tables, "course_km"), mme_bands=tables["mme_bands"],
            active_by_month=tables["active_by_month"], overlap=tables["overlap"],
            overlap_days=tables["overlap_days"], by_physician=tables["by_physician"])


PHYSICIAN_COLUMNS = (
    label("provider_id", "Physician"), patients("patients", "Patients"),
    count("courses", "Courses"), count("long_term", "Long-term"),
    derived("pct_long_term", "% long-term", ["long_term", "courses"]),
    derived("median_days", "Median days", ["courses"]),
    count("courses_with_mme", "Courses with MME", shown=False),
    derived("median_mme", "Median MME/day", ["courses_with_mme"]),
)


def _add_physicians(layout: Layout, by: pd.DataFrame, kpi: dict[str, int]) -> None:
    layout.add("by_physician", "Courses by physician", PHYSICIAN_COLUMNS, by)
    if by.empty:
        return
    last = len(by) - 1
    for column in ("patients", "courses", "long_term", "courses_with_mme"):
        layout.column_total("by_physician", column, layout.cell("by_physician", last, column),
                            range(last))
    for r in range(len(by)):
        layout.part_of(layout.cell("by_physician", r, "long_term"),
                       layout.cell("by_physician", r, "courses"))
        layout.part_of(layout.cell("by_physician", r, "courses_with_mme"),
                       layout.cell("by_physician", r, "courses"))
    for column in ("patients", "courses", "long_term"):
        layout.same(layout.cell("by_physician", last, column), kpi[column])


def courses_by_physician(m: CohortMeasures) -> pd.DataFrame:
    """Courses per attributed physician and a last row "All physicians": ``provider_id``,
    ``patients``, ``courses``, ``long_term``, ``pct_long_term``, ``median_days``,
    ``courses_with_mme``, ``median_mme`` (median average MME/day of the courses with one)."""
    courses = m.courses
    frame = courses.assign(provider_id=m.physician_of(courses["patient_id"]).to_numpy())
    everyone = frame.assign(provider_id=ALL_PHYSICIANS)
    out = pd.concat([frame, everyone], ignore_index=True).groupby("provider_id", sort=False).agg(
        patients=("patient_id", "nunique"), courses=("course", "size"),
        long_term=("long_term", "sum"), median_days=("duration_days", "median"),
        courses_with_mme=("avg_mme_per_day", "count"),
        median_mme=("avg_mme_per_day", "median"),
    ).reset_index()
    out["pct_long_term"] = (100 * out["long_term"] / out["courses"]).round(1)
    last = out["provider_id"] == ALL_PHYSICIANS
    out = pd.concat([out.loc[~last].sort_values("provider_id"), out.loc[last]],
                    ignore_index=True)
    out = out.astype({"provider_id": "string", "patients": "int64", "courses": "int64",
                      "long_term": "int64", "courses_with_mme": "int64",
                      "median_days": "float64", "median_mme": "float64"})
    return out[[c.name for c in PHYSICIAN_COLUMNS]]


def narcotics_counts(m: CohortMeasures) -> NarcoticsCounts:
    """The Narcotic courses aggregates of a cohort."""
    courses = m.courses
    fills = m.fills
    n = len(courses)
    kpis = pd.DataFrame({
        "patients": [int(courses["patient_id"].nunique())],
        "courses": [n],
        "long_term": [int(courses["long_term"].sum())],
        "pct_long_term": [100.0 * courses["long_term"].sum() / n if n else np.nan],
        "high_dose": [int((courses["avg_mme_per_day"] >= HIGH_DOSE_MME).sum())],
        "pct_high_dose": [100.0 * (courses["avg_mme_per_day"] >= HIGH_DOSE_MME).sum() / n
                          if n else np.nan],
        "ongoing": [int(courses["ongoing"].sum())],
        "ended_by_death": [int((courses["ended_by"] == "death").sum())],
        "courses_without_mme": [int(courses["avg_mme_per_day"].isna().sum())],
        "courses_mme_estimated": [int(courses["mme_estimated"].sum())],
        # fills = dispenses (a row standing for k dispenses counts k)
        "fills_without_mme": [int(fills.loc[~fills["mme_status"].isin(STATUSES_WITH_MME),
                                            "fills"].sum())],
        "fills_mme_estimated": [int(fills.loc[fills["mme_status"] == "estimated",
                                              "fills"].sum())],
    })
    by_band = courses.groupby("mme_band", observed=False)
    bands = pd.DataFrame({"band": by_band.size().index.astype("string"),
                          "courses": by_band.size().to_numpy(dtype="int64"),
                          "estimated": by_band["mme_estimated"].sum().to_numpy(dtype="int64")})
    overlap = m.overlap
    overlapping = overlap.loc[overlap["overlap_days"] > 0] if len(overlap) else overlap
    flagged = int(overlap["flagged"].sum()) if len(overlap) else 0
    return NarcoticsCounts(
        kpis=kpis,
        durations=histogram(courses["duration_days"], bin_width=7, max_value=364,
                            count_name="courses"),
        course_km=narcotics.course_survival(courses),
        mme_bands=bands,
        active_by_month=m.active_by_month,
        overlap=pd.DataFrame({"overlapping": [len(overlapping)], "flagged": [flagged]}),
        overlap_days=histogram(overlapping["overlap_days"], bin_width=7, max_value=182,
                               count_name="patients"),
        by_physician=courses_by_physician(m) if n else pd.DataFrame(
            columns=[c.name for c in PHYSICIAN_COLUMNS]),
    )


def build_narcotics(m: CohortMeasures, min_cell: int = 11) -> NarcoticsResult:
    """The protected Narcotic courses view of a cohort."""
    return narcotics_counts(m).protect(min_cell)
