"""Pathways: which techniques were tried, in which order."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUE_LABELS, TECHNIQUES
from ui import render
from ui.sidebar import PATHWAY_FILTER_LABELS, open_page

view = open_page("Pathways", "Treatment pathways")

c1, c2 = st.columns([1, 2])
mode = c1.radio(
    "Pathway mode", ["first", "eras"], horizontal=True, key="mode", persist_state="session",
    bind="query-params",
    format_func={"first": "First use (which, in which order)",
                 "eras": "Eras (OHDSI: combinations, switches, repeats)"}.get,
    help="First use: techniques ordered by the date each was first used; same-day firsts form "
    "one step. Eras: technique eras in sequence; overlaps of at least the combination window "
    "form a combined step.")
chosen = c2.multiselect(
    "Techniques counted", list(TECHNIQUES), default=list(DEFAULT_PATHWAY_TECHNIQUES),
    format_func=TECHNIQUE_LABELS.get, key="pathway_techniques", persist_state="session",
    bind="query-params")
techniques = tuple(t for t in TECHNIQUES if t in chosen)
if not techniques:
    st.info("Choose at least one technique.")
    st.stop()

result = view.pathways(mode, techniques)
if mode == "eras":
    d = view.params.definitions
    st.caption(
        f"Eras (OHDSI TreatmentPatterns): era gap {d.era_gap_days} days, minimum era "
        f"{d.min_era_days} days, combination window {d.combination_window_days} days, minimum "
        f"post-combination {d.min_post_combination_days} days, steps kept: "
        f"{PATHWAY_FILTER_LABELS[d.pathway_filter].lower()}, at most {d.max_steps} steps "
        "(sidebar, Definitions).")
    dropped = result.dropped
    if dropped.hidden("pieces")[0] or dropped.values["pieces"].iloc[0] > 0:
        st.caption(f"{dropped.text(0, 'pieces')} pieces shorter than "
                   f"{d.min_post_combination_days} days were dropped after combining "
                   "(minimum post-combination duration).")

left, right = st.columns(2)
with left:
    render.chart(figures.pathway_sunburst(result.sunburst), "sunburst")
with right:
    render.chart(figures.pathway_sankey(result.sankey), "sankey")

st.subheader("Top pathways")
st.caption(f"Percent of all {result.cohort.text(0, 'patients')} patients in the cohort. "
           f"Pathways of fewer than {view.min_cell} patients are merged into 'other pathways'; "
           "the charts draw the pathways listed here.")
render.table(result.pathways, key="top_pathways", file_name="pathways.csv")

st.subheader("Lines of therapy")
render.chart(figures.lines_of_therapy_chart(result.lines), "lines")
render.table(result.lines, key="lines", file_name="lines_of_therapy.csv")

c1, c2 = st.columns(2)
with c1:
    st.subheader("Time between steps")
    st.caption("Days from the start of one step to the start of the next.")
    render.table(result.step_times, key="step_times", file_name="time_between_steps.csv")
with c2:
    st.subheader("Step-therapy concordance by physician")
    st.caption("Concordant: no narcotic or injection before the first physical therapy.")
    render.table(result.concordance, key="concordance", file_name="concordance_by_physician.csv")
