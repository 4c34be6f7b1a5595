"""Narcotic courses: how long they ran, at what daily dose, with what overlap."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from ui import render
from ui.sidebar import open_page

view = open_page("Narcotic courses", "Narcotic courses")
result = view.narcotics()
if result.durations.empty:
    st.info("No narcotic fills in this cohort.", icon="💊")
    st.stop()

kpis = result.kpis
m = st.columns(6)
render.metric(m[0], kpis, "patients")
render.metric(m[1], kpis, "courses",
              help=f"Fills joined when the next starts ≤ "
              f"{view.params.definitions.course_gap_days} days after the course's current end; "
              "supplies do not stack.")
render.metric(m[2], kpis, "pct_long_term", help="Share of courses lasting 90 days or more.")
render.metric(m[3], kpis, "pct_high_dose",
              help="Share of courses whose average MME/day (total MME ÷ duration) is 90 or "
              "more.")
render.metric(m[4], kpis, "ongoing",
              help="Courses whose last covered day is on or after the extract date (censored).")
render.metric(m[5], kpis, "ended_by_death",
              help="Courses whose last covered day is the patient's death date (censored: "
              "the death date closed the open orders).")

left, right = st.columns(2)
with left:
    render.chart(figures.durations_chart(result.durations), "durations")
with right:
    render.chart(figures.course_km_chart(result.course_km), "course_km")

left, right = st.columns(2)
with left:
    render.chart(figures.mme_bands_chart(result.mme_bands), "mme_bands")
    st.caption(f"Courses without MME: {kpis.text(0, 'courses_without_mme')}; fills without "
               f"MME: {kpis.text(0, 'fills_without_mme')} (drug without a CDC factor, such as "
               "buprenorphine, or missing strength or quantity). Factors: CDC 2022, and the CDC "
               "opioid analytic file for ingredients outside it.")
    estimated = kpis.hidden("courses_mme_estimated")[0] or (
        kpis.values["courses_mme_estimated"].iloc[0] > 0)
    if estimated:
        st.caption(f"MME estimated: {kpis.text(0, 'courses_mme_estimated')} courses average "
                   f"at least one estimated MME ({kpis.text(0, 'fills_mme_estimated')} fills "
                   "without a days supply: their days are the order's covered days). The "
                   "\"Of which MME estimated\" column marks them in each band.")
        render.table(result.mme_bands, key="mme_bands", file_name="mme_bands.csv")
with right:
    render.chart(figures.active_by_month_chart(result.active_by_month), "active_by_month")

st.subheader("Narcotic + muscle relaxant overlap")
c1, c2 = st.columns([1, 2])
render.metric(c1, result.overlap, "overlapping",
              help="Patients covered by a narcotic and a muscle relaxant on the same day.")
render.metric(c1, result.overlap, "flagged")
with c2:
    render.chart(figures.overlap_chart(result.overlap_days), "overlap")

st.subheader("Courses by physician")
render.table(result.by_physician, key="courses_by_physician",
             file_name="courses_by_physician.csv")
