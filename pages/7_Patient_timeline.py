"""Patient timeline: one de-identified patient's events, eras and courses (physician view)."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from ui import render
from ui.sidebar import open_page, patient_level_views_enabled

view = open_page("Patient timeline", "Patient timeline")
if not patient_level_views_enabled():
    st.warning("Patient-level views are switched off for this deployment "
               "(PAINPATH_PATIENT_VIEWS=off).", icon="🔒")
    st.stop()

st.caption("A physician view: one pseudonymous patient of the current cohort. Lanes show each "
           "event's covered days, then how the definitions grouped them into technique eras and "
           "narcotic courses.")
patients = sorted(view.patients().astype(str))
patient = st.selectbox("Patient", patients, key="patient", persist_state="session",
                       bind="query-params", help="Pseudonymous patient id from the export.")
if patient is None:
    st.stop()
result = view.timeline(patient)
render.chart(figures.timeline_chart(result.segments), "timeline")

c = st.columns(4)
for i, column in enumerate(("sex", "age", "provider_id", "events")):
    render.metric(c[i], result.facts, column)
if result.diagnoses:
    st.caption("Diagnoses: " + ", ".join(result.diagnoses))
if not result.pathway.empty:
    st.markdown("**Pathway (first use):** " + " → ".join(
        f"{lbl} ({start})" for lbl, start in zip(result.pathway.labels("label"),
                                                   result.pathway.texts("start"), strict=True)))

st.subheader("Events")
render.table(result.events, key="patient_events",
             file_name=f"patient_{patient}_events.csv")
