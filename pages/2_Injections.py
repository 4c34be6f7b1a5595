"""Injections: how often injections were repeated, at what intervals, against payer limits."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.results.injections import injection_type_label
from analytics.schema import INJECTION_TYPES
from analytics.vocab import injection_limits
from ui import render
from ui.sidebar import open_page, patient_level_views_enabled

view = open_page("Injections", "Injection repeats")
result = view.injections()
if result.per_patient.empty:
    st.info("No injections in this cohort, so there are no sessions to show.", icon="💉")
    st.stop()

kpis = result.kpis
m = st.columns(4)
render.metric(m[0], kpis, "patients")
render.metric(m[1], kpis, "sessions",
              help="Distinct (patient, date): all levels and sides on one day are one session.")
render.metric(m[2], kpis, "repeated")
render.metric(m[3], kpis, "over_limit")

left, right = st.columns(2)
with left:
    render.chart(figures.sessions_per_patient_chart(result.per_patient), "per_patient")
with right:
    render.chart(figures.intervals_chart(result.intervals), "intervals")
    st.caption(f"Intervals under 14 days (flagged as short): {kpis.text(0, 'short_intervals')}.")

render.chart(figures.repeat_km_chart(result.repeat), "repeat_km")

st.subheader("Patients over payer limits")
limits = injection_limits()
st.caption("Most sessions of one type in one spinal region in any 365-day window, against the "
           "Medicare LCD limits: " + ", ".join(f"{injection_type_label(t)} {limits[t]}"
                                              for t in INJECTION_TYPES if t in limits)
           + ". The region comes from the CPT code, a region or level column or the "
           "description; when one session of the type has no region, all sessions of the type "
           "are counted together.")
if result.over_by_type.empty:
    st.success("No patient is over a payer limit in this cohort.")
else:
    render.chart(figures.over_limit_chart(result.over_by_type), "over_by_type")
    render.table(result.over_by_region, key="over_by_region",
                 file_name="over_limit_by_type_and_region.csv")
    if patient_level_views_enabled():
        with st.expander("Windows over the limit (patient level)"):
            st.caption("Pseudonymous patient ids; each row is a 365-day window starting at a "
                       "session date.")
            render.table(result.windows, key="over_windows", file_name="windows_over_limit.csv")

st.subheader("Sessions by physician and type")
render.table(result.by_physician, key="by_physician", file_name="sessions_by_physician.csv")

st.subheader("Pain score after a session")
if result.pain_change.empty:
    render.missing_column_note(["pain_score"], "Pain-score change")
else:
    st.caption("Change = score recorded within 60 days after minus within 30 days before the "
               "session (negative = less pain).")
    c1, c2 = st.columns([1, 2])
    render.metric(c1, result.pain, "sessions")
    render.metric(c1, result.pain, "median_change")
    with c2:
        render.chart(figures.pain_change_chart(result.pain_change), "pain_change")

st.subheader("Documented response after a session")
response = result.response
if response.values["sessions"].iloc[0] == 0 and response.values["repeats"].iloc[0] == 0:
    render.missing_column_note(["pain_score"], "Injection response")
else:
    st.caption("A session has a documented response when the last pain score of the 30 days "
               "up to it exists and every score recorded 1–42 days after it is at least 50 % "
               "lower, one of them on or after day 28 (sustained relief: the Medicare LCD "
               "repeat criterion). Shares count sessions whose 42 days are over by the extract "
               "date. A repeat after no response follows a session without a documented "
               "response.")
    c = st.columns(4)
    render.metric(c[0], response, "sessions")
    render.metric(c[1], response, "response_share")
    render.metric(c[2], response, "repeats")
    render.metric(c[3], response, "repeat_after_no_response_share")
    by = st.segmented_control(
        "By", ["injection_types", "region", "provider_id"], default="injection_types",
        format_func={"injection_types": "Injection type", "region": "Spinal region",
                     "provider_id": "Physician"}.get, key="response_by",
        persist_state="session") or "injection_types"
    table = getattr(result, f"response_by_{by}")
    render.table(table, key=f"response_by_{by}", file_name=f"injection_response_by_{by}.csv")
