"""PainPath — Overview page (the app's entry point).

Run with ``make run`` (or ``streamlit run dashboard.py``).  Every other page is
a file in ``pages/`` (Streamlit's built-in pages mode; no ``st.navigation``).
"""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.exports import suppression_note
from analytics.results.overview import PERIODS, SAFETY_KPIS
from analytics.results.safety import HIGHER_IS_BETTER, measure_definitions
from ui import render
from ui.report import build_report
from ui.sidebar import open_page

view = open_page("Overview", "PainPath · Overview")

head, button = st.columns([3, 1])
button.download_button(
    "HTML report", data=lambda: build_report(view.report()), file_name="painpath_report.html",
    mime="text/html", key="report", icon=":material/summarize:", on_click="ignore",
    help="One self-contained HTML file with every page's charts and tables for this cohort.")

labels = [f"{days} days" for days in PERIODS]
period_label = st.segmented_control(
    "Compare the last", labels, default=labels[-1], key="period", persist_state="session",
    bind="query-params",
    help="KPIs of the period ending at the extract date, with the change against the period "
    "before it.")
period_days = int((period_label or labels[-1]).split()[0])
result = view.overview(period_days)
head.caption(f"Cohort: {view.cohort.describe()} · {result.cohort.text(0, 'patients')} patients "
             f"· extract date {view.extract().date().isoformat()} · "
             f"{suppression_note(view.min_cell)}")
st.caption(f"Current period {result.current_start.date()} – {result.current_end.date()}, "
           f"compared with the {period_days} days before ({result.previous_start.date()} "
           "onwards).")

kpis, change = result.kpis, result.changes
row1 = st.columns(4)
render.metric(row1[0], kpis, "patients", change=change,
              help="Distinct patients with an event in the period.")
render.metric(row1[1], kpis, "pct_narcotic", change=change, delta_color="inverse",
              help="Share of patients with a narcotic fill in the period.")
render.metric(row1[2], kpis, "pct_long_term", change=change, delta_color="inverse",
              help="Share of narcotic courses lasting ≥ 90 days (course gap from the sidebar).")
render.metric(row1[3], kpis, "median_course_days", change=change, delta_color="inverse",
              help="Median length of the narcotic courses of the period.")
row2 = st.columns(4)
render.metric(row2[0], kpis, "sessions_per_patient_year", change=change, delta_color="off",
              help="Sessions ÷ follow-up years of the patients with a session.")
render.metric(row2[1], kpis, "pct_over_limit", change=change, delta_color="inverse",
              help="Share of injection patients with more sessions of one type in a 365-day "
              "window than Medicare allows.")
render.metric(row2[2], kpis, "pct_concordant", change=change,
              help="Share of patients with no narcotic or injection before their first "
              "physical therapy.")
render.metric(row2[3], kpis, "injection_patients", change=change, delta_color="off")

safety, safety_change = result.safety, result.safety_changes
if not safety.empty:
    months = safety.texts("month")
    st.caption(f"Opioid safety over the 12 months to {months[0][:7]}, against the 12 months to "
               f"{months[1][:7]}; more on the Opioid safety page.")
    definitions = measure_definitions()
    row3 = st.columns(4)
    for container, key in zip(row3, SAFETY_KPIS, strict=False):
        column = f"{key}_share"
        render.metric(container, safety, column, change=safety_change,
                      delta_color="normal" if key in HIGHER_IS_BETTER else "inverse",
                      help=f"{definitions[key]}\n\n{safety.text(0, f'{key}_numerator')} of "
                      f"{safety.text(0, f'{key}_denominator')}.")

left, right = st.columns(2)
with left:
    render.chart(figures.monthly_technique_chart(result.monthly), "monthly")
with right:
    render.chart(figures.new_patients_chart(result.new_patients), "new_patients")

st.subheader("By physician")
if result.physicians.empty:
    render.missing_column_note(["provider_id"], "The physician table")
else:
    render.table(result.physicians, key="physicians", file_name="physicians.csv")

st.subheader("Attrition")
st.caption("From the rows read to the cohort: how many rows and patients each stage keeps. "
           "The pathway stage is mode \"first\" over the population; the last stage is the "
           "cohort's patients among them.")
render.table(view.attrition().table, key="attrition", file_name="attrition.csv")
