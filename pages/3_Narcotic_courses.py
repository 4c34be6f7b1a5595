"""Narcotic courses: how long they ran, at what daily dose, with what overlap."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import figures
from ui import render
from ui.sidebar import open_page

view = open_page("Narcotic courses", "Narcotic courses")
min_cell = view.params.min_cell

courses = view.courses()
if courses.empty:
    st.info("No narcotic fills in this cohort.", icon="💊")
    st.stop()

n_patients = int(courses["patient_id"].nunique())
long_term = courses.loc[courses["long_term"]]
high_dose = courses.loc[courses["avg_mme_per_day"] >= 90]
ongoing = int(courses["ongoing"].sum())
m = st.columns(5)
m[0].metric("Patients on narcotics", render.count_text(n_patients, min_cell))
m[1].metric("Courses", f"{len(courses):,}",
            help=f"Fills joined when the next starts ≤ {view.params.course_gap_days} days after "
            "the course's current end; supplies do not stack.")
m[2].metric("Long-term (≥ 90 days)",
            render.pct_text(100 * len(long_term) / len(courses),
                            long_term["patient_id"].nunique(), min_cell),
            help="Share of courses lasting 90 days or more.")
m[3].metric("High dose (≥ 90 MME/day)",
            render.pct_text(100 * len(high_dose) / len(courses),
                            high_dose["patient_id"].nunique(), min_cell),
            help="Share of courses whose average MME/day (total MME ÷ duration) is 90 or more.")
m[4].metric("Ongoing at extract date", render.count_text(ongoing, min_cell),
            help="Courses whose last covered day is on or after the extract date (censored).")

left, right = st.columns(2)
with left:
    render.chart(figures.histogram_chart(
        courses["duration_days"], "Course length", "Duration (days)", "Courses", min_cell,
        bin_width=7, max_value=364, marker_at=90, marker_label="90 days: long-term",
        color=figures.TECHNIQUE_COLORS["narcotic"]), "durations")
with right:
    render.chart(figures.km_chart({"Narcotic courses": view.get("course_km")},
                                  "Course duration (Kaplan–Meier, ongoing courses censored)",
                                  "Days since course start", min_cell=min_cell), "course_km")

left, right = st.columns(2)
with left:
    bands = (courses["mme_band"].value_counts(sort=False).rename_axis("band")
             .reset_index(name="patients"))
    no_mme = int(courses["avg_mme_per_day"].isna().sum())
    render.chart(figures.bar_chart(bands, "band", "patients",
                                   "Average daily dose of each course (MME/day)", "MME/day band",
                                   "Courses", min_cell,
                                   color=figures.TECHNIQUE_COLORS["narcotic"]), "mme_bands")
    fills = view.get("fill_mme")
    without = int((fills["mme_status"] != "ok").sum()) if len(fills) else 0
    st.caption(f"{no_mme:,} courses and {without:,} fills have no MME (drug without a CDC factor "
               "or missing strength, quantity or days supply). Factors: CDC 2022.")
with right:
    active = view.get("active_by_month")
    render.chart(figures.count_line_chart(
        active, "month", "patients", "Patients on a narcotic, per month", "Month",
        "Patients with a covered day", min_cell, color=figures.TECHNIQUE_COLORS["narcotic"]),
        "active_by_month")

st.subheader("Narcotic + muscle relaxant overlap")
overlap = view.get("overlap")
flagged = overlap.loc[overlap["flagged"]] if len(overlap) else overlap
c1, c2 = st.columns([1, 2])
overlapping = overlap.loc[overlap["overlap_days"] > 0] if len(overlap) else overlap
c1.metric("Patients with any overlap day", render.count_text(len(overlapping), min_cell),
          help="Patients covered by a narcotic and a muscle relaxant on the same day.")
c1.metric("Flagged (≥ 30 overlap days)", render.count_text(len(flagged), min_cell))
with c2:
    render.chart(figures.histogram_chart(
        overlapping["overlap_days"] if len(overlapping) else pd.Series(dtype="float64"),
        "Days covered by both a narcotic and a muscle relaxant", "Overlap days", "Patients",
        min_cell, bin_width=7, max_value=182, marker_at=30, marker_label="30-day flag",
        color=figures.TECHNIQUE_COLORS["muscle_relaxant"]), "overlap")

st.subheader("Courses by physician")
attributes = view.attributes()
provider = attributes["provider_id"].reindex(courses["patient_id"]).fillna("(unknown)")
by = (courses.assign(provider_id=provider.to_numpy())
      .groupby("provider_id")
      .agg(patients=("patient_id", "nunique"), courses=("course", "size"),
           long_term=("long_term", "sum"), median_days=("duration_days", "median"),
           median_mme=("avg_mme_per_day", "median"))
      .reset_index())
by["pct_long_term"] = (100 * by["long_term"] / by["courses"]).round(1)
render.table(by, key="courses_by_physician", min_cell=min_cell, counts=["patients"],
             derived={"pct_long_term": "patients", "median_days": "patients",
                      "median_mme": "patients"},
             rename={"provider_id": "Physician", "patients": "Patients", "courses": "Courses",
                     "long_term": "Long-term", "median_days": "Median days",
                     "median_mme": "Median MME/day", "pct_long_term": "% long-term"},
             file_name="courses_by_physician.csv")
