"""Patient timeline: one de-identified patient's events, eras and courses (physician view)."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.timeline import patient_timeline
from ui import render
from ui.sidebar import open_page, patient_level_views_enabled

view = open_page("Patient timeline", "Patient timeline")
if not patient_level_views_enabled():
    st.warning("Patient-level views are switched off for this deployment "
               "(PAINPATH_PATIENT_VIEWS=off).", icon="🔒")
    st.stop()
events = view.events()

st.caption("A physician view: one pseudonymous patient of the current cohort. Lanes show each "
           "event's covered days, then how the definitions grouped them into technique eras and "
           "narcotic courses.")
patients = sorted(view.patients().astype(str))
patient = st.selectbox("Patient", patients, key="patient", persist_state="session",
                       bind="query-params", help="Pseudonymous patient id from the export.")
if patient is None:
    st.stop()
p = view.params
segments = patient_timeline(events, patient, era_gap_days=p.era_gap_days,
                            course_gap_days=p.course_gap_days, extract=view.extract())
render.chart(figures.timeline_chart(segments, f"Patient {patient}"), "timeline")

mine = events.loc[events["patient_id"] == patient]
attrs = view.attributes().loc[patient]
c = st.columns(4)
c[0].metric("Sex", attrs["sex"] if isinstance(attrs["sex"], str) else "–")
c[1].metric("Age at first event", "–" if attrs["age"] != attrs["age"] else f"{attrs['age']:.0f}")
c[2].metric("Physician", attrs["provider_id"] if isinstance(attrs["provider_id"], str) else "–")
c[3].metric("Events", f"{len(mine):,}")
diagnoses = events.loc[events["patient_id"] == patient, "diagnosis"].dropna().unique()
if len(diagnoses):
    st.caption("Diagnoses: " + ", ".join(sorted(diagnoses)))
steps = view.steps("first")
mine_steps = steps.loc[steps["patient_id"] == patient].sort_values("step")
if len(mine_steps):
    st.markdown("**Pathway (first use):** " + " → ".join(
        f"{figures.step_label(r.label)} ({r.start.date()})" for r in mine_steps.itertuples()))

st.subheader("Events")
columns = [c for c in ("event_date", "technique", "detail", "code", "days_supply",
                       "injection_type", "provider_id", "pain_score") if mine[c].notna().any()]
render.table(mine[columns].sort_values("event_date"), key="patient_events", min_cell=0,
             rename={"event_date": "Date", "technique": "Technique", "detail": "Description",
                     "code": "Code", "days_supply": "Days supply",
                     "injection_type": "Injection type", "provider_id": "Physician",
                     "pain_score": "Pain score"},
             file_name=f"patient_{patient}_events.csv")
