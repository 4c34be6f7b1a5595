"""Opioid safety: the measures a stewardship committee reads, per year, physician and month."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.results.safety import HIGHER_IS_BETTER, KPI_MEASURES, SHORT_LABELS
from ui import render
from ui.sidebar import open_page

view = open_page("Safety", "Opioid safety")
result = view.safety()
st.caption("Each measure reads the patients' full history (no lookback cut). A patient-year "
           "counts for every physician who prescribed the patient a narcotic dispensed in that "
           "year; the clinic counts it once. Definitions and sources: hover the ⓘ of each "
           "measure, or open **Definitions of the measures** below.")
if result.years.empty:
    st.info("No narcotic fills in this cohort, so there is no opioid-safety measure to show.",
            icon="💊")
    st.stop()
if result.pharmacy_note:
    st.info("The pharmacy rates (≥ 4 pharmacies, ≥ 4 of both) cannot be computed: there is no "
            "pharmacy_id in this dataset.", icon="ℹ️")

years = result.year_choices
partial = dict(zip(result.years.values["year"], result.years.values["coverage"], strict=True))
default = years.index(result.default_year) if result.default_year in years else 0
year = st.selectbox(
    "Year", years, index=default, key="safety_year", persist_state="session",
    format_func=lambda y: f"{y} (partial)" if partial.get(y) == "partial" else str(y),
    help="Calendar year of the patient-years (naloxone: of the courses' start). A partial year "
    "starts before the data or ends after the extract date.")
year = year if year in years else years[default]
this_year = result.years.where("year", year)
rows = {key: r for r, key in enumerate(this_year.values["key"])}
counted = {key: this_year.text(r, "unit") for key, r in rows.items()}


def share_metric(container, key: str) -> None:
    r = rows[key]
    numbers = (f"{this_year.text(r, 'numerator')} of {this_year.text(r, 'denominator')} "
               f"{counted[key]}")
    render.row_metric(container, this_year, r, "share", label=SHORT_LABELS[key],
                      change="change",
                      delta_color="normal" if key in HIGHER_IS_BETTER else "inverse",
                      help=f"{result.definitions[key]}\n\n{year}: {numbers}.")


st.subheader(f"Measures in {year}")
st.caption("Share of the denominator (hover for the definition and the counts); the change is "
           "in points against the year before.")
keys = list(SHORT_LABELS)
first = [*KPI_MEASURES, *(k for k in keys if k not in KPI_MEASURES)]
for start in range(0, len(first), 5):
    columns = st.columns(5)
    for container, key in zip(columns, first[start:start + 5], strict=False):
        share_metric(container, key)

st.subheader("Monthly trend")
chosen = st.multiselect(
    "Measures", keys, default=list(KPI_MEASURES), format_func=SHORT_LABELS.get,
    key="safety_trend", persist_state="session",
    help="Each point is the measure over the 12 months ending with that month; the December "
    "point is the calendar year.")
render.chart(figures.safety_trend_chart(result.trend, [k for k in keys if k in chosen]),
             "chart_safety_trend")

st.subheader("By physician, with the clinic beside")
measure = st.selectbox("Measure", keys, format_func=SHORT_LABELS.get, key="safety_measure",
                       persist_state="session")
doctors = result.physicians.where("year", year).where("key", measure)
render.chart(figures.safety_physician_chart(doctors, f"{SHORT_LABELS[measure]}, {year}"),
             "chart_safety_physicians")
render.table(doctors, key="safety_physicians",
             columns=["provider_id", "unit", "denominator", "numerator", "share",
                      "clinic_share", "note"],
             file_name=f"safety_{measure}_{year}_by_physician.csv")

st.subheader("Tapers and abrupt stops")
st.caption("Narcotic courses with stable long-term use (mean ≥ 50 MME/day over 12 months), "
           "those tapered (≥ 15 % below the baseline in a 60-day window of the next 7 months; "
           "rapid: a fall of more than 40 % within 30 days, PainPath's own threshold), and "
           "courses of ≥ 90 days that stopped from ≥ 50 MME/day — abruptly when no taper came "
           "first. A course closed by death or by the extract date is never a stop.")
render.table(result.tapers, key="safety_tapers", file_name="tapers.csv")

st.subheader("Every measure, every year")
render.table(result.years, key="safety_years", file_name="opioid_safety_by_year.csv")

with st.expander("Definitions of the measures"):
    for key in keys:
        st.markdown(f"**{SHORT_LABELS[key]}** — {result.definitions[key]}")
