"""PainPath — Overview page (the app's entry point).

Run with ``make run`` (or ``streamlit run dashboard.py``).  Every other page is
a file in ``pages/`` (Streamlit's built-in pages mode; no ``st.navigation``).
"""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.overview import period_bounds
from ui import render
from ui.report import build_report
from ui.sidebar import open_page

view = open_page("Overview", "PainPath · Overview")
min_cell = view.params.min_cell

head, button = st.columns([3, 1])
head.caption(f"Cohort: {view.cohort.describe()} · extract date "
             f"{view.extract().date().isoformat()} · counts below {min_cell} shown as <{min_cell}")
button.download_button(
    "HTML report", data=lambda: build_report(view), file_name="painpath_report.html",
    mime="text/html", key="report", icon=":material/summarize:", on_click="ignore",
    help="One self-contained HTML file with every page's charts and tables for this cohort.")

period_label = st.segmented_control(
    "Compare the last", ["90 days", "180 days", "365 days"], default="365 days",
    key="period", persist_state="session", bind="query-params",
    help="KPIs of the period ending at the extract date, with the change against the period "
    "before it.")
period_days = int((period_label or "365 days").split()[0])
current, previous = view.get("period_measures", period_days)
prev_start, cur_start, cur_end = period_bounds(view.extract(), period_days)
st.caption(f"Current period {cur_start.date()} – {cur_end.date()}, compared with the "
           f"{period_days} days before ({prev_start.date()} onwards).")


def _delta(now, before, suffix: str = "", digits: int = 1, counts: tuple[int, int] = ()):
    """Change against the previous period; hidden when the value of either period is
    suppressed (``counts``: the patient counts behind the two percents)."""
    if now is None or before is None:
        return None
    if any(render.count_text(n, min_cell).startswith("<") for n in counts):
        return None
    return f"{now - before:+.{digits}f}{suffix}"


def _count_delta(now: int, before: int):
    """Change in a patient count; hidden when either count is suppressed."""
    if render.count_text(now, min_cell).startswith("<"):
        return None
    if render.count_text(before, min_cell).startswith("<"):
        return None
    return f"{now - before:+,d}"


row1 = st.columns(4)
row1[0].metric("Patients", render.count_text(current.patients, min_cell),
               _count_delta(current.patients, previous.patients),
               help="Distinct patients with an event in the period.")
row1[1].metric("On narcotics",
               render.pct_text(current.pct_narcotic, current.narcotic_patients, min_cell),
               _delta(current.pct_narcotic, previous.pct_narcotic, " pts",
                      counts=(current.narcotic_patients, previous.narcotic_patients)),
               delta_color="inverse",
               help="Share of patients with a narcotic fill in the period.")
row1[2].metric("Long-term narcotic courses",
               render.pct_text(current.pct_long_term, current.long_term_courses, min_cell),
               _delta(current.pct_long_term, previous.pct_long_term, " pts",
                      counts=(current.long_term_courses, previous.long_term_courses)),
               delta_color="inverse",
               help="Share of narcotic courses lasting ≥ 90 days (course gap from the sidebar).")
row1[3].metric("Median course length",
               "–" if current.median_course_days is None
               else f"{current.median_course_days:.0f} days",
               _delta(current.median_course_days, previous.median_course_days, " days", 0),
               delta_color="inverse")
row2 = st.columns(4)
row2[0].metric("Injection sessions per patient-year",
               "–" if current.sessions_per_patient_year is None
               else f"{current.sessions_per_patient_year:.2f}",
               _delta(current.sessions_per_patient_year, previous.sessions_per_patient_year,
                      "", 2), delta_color="off",
               help="Sessions ÷ follow-up years of the patients with a session.")
row2[1].metric("Over payer injection limits",
               render.pct_text(current.pct_over_limit, current.over_limit_patients, min_cell),
               _delta(current.pct_over_limit, previous.pct_over_limit, " pts",
                      counts=(current.over_limit_patients, previous.over_limit_patients)),
               delta_color="inverse",
               help="Share of injection patients with more sessions of one type in a 365-day "
               "window than Medicare allows.")
row2[2].metric("Step-therapy concordance",
               render.pct_text(current.pct_concordant, current.concordant, min_cell),
               _delta(current.pct_concordant, previous.pct_concordant, " pts",
                      counts=(current.concordant, previous.concordant)),
               help="Share of patients with no narcotic or injection before their first "
               "physical therapy.")
row2[3].metric("Injection patients", render.count_text(current.injection_patients, min_cell),
               _count_delta(current.injection_patients, previous.injection_patients),
               delta_color="off")

left, right = st.columns(2)
with left:
    render.chart(figures.monthly_technique_chart(view.get("monthly"), min_cell), "monthly")
with right:
    render.chart(figures.count_line_chart(
        view.get("new_by_month"), "month", "patients", "New patients per month", "Month",
        "Patients (first event that month)", min_cell), "new_patients")

st.subheader("By physician")
physicians = view.get("physicians")
if physicians.empty:
    render.missing_column_note(["provider_id"], "The physician table")
else:
    render.table(
        physicians, key="physicians", min_cell=min_cell,
        counts=["patients", "narcotic_patients", "long_term_courses", "injection_patients",
                "over_limit_patients", "concordant"],
        derived={"pct_narcotic": "narcotic_patients", "pct_long_term": "long_term_courses",
                 "median_course_days": "narcotic_patients", "pct_concordant": "concordant"},
        rename={"provider_id": "Physician", "patients": "Patients",
                "narcotic_patients": "On narcotics", "pct_narcotic": "% on narcotics",
                "long_term_courses": "Long-term courses", "pct_long_term": "% long-term",
                "median_course_days": "Median course (days)",
                "injection_patients": "Injection patients", "sessions": "Sessions",
                "over_limit_patients": "Over limit", "concordant": "Concordant",
                "pct_concordant": "% concordant"},
        file_name="physicians.csv")
