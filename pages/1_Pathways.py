"""Pathways: which techniques were tried, in which order."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.results.strata import STRATA
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUE_LABELS, TECHNIQUES
from ui import drilldown, render
from ui.sidebar import PATHWAY_FILTER_LABELS, open_page, patient_level_views_enabled

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

drill = patient_level_views_enabled()  # physicians only, and only when switched on
left, right = st.columns(2)
points: list = []
link = None
with left:
    sunburst = figures.pathway_sunburst(result.sunburst)
    if drill:
        points = render.clickable_chart(sunburst, "sunburst")
    else:
        render.chart(sunburst, "sunburst")
with right:
    render.chart(figures.pathway_sankey(result.sankey), "sankey")
    if drill and not result.sankey.empty:
        link = st.selectbox(
            "Patients of a transition", drilldown.link_options(result), index=None,
            format_func=lambda v: drilldown.link_text(result, v), key="drill_link",
            placeholder="Pick a link of the Sankey",
            help="The links of the Sankey above (Streamlit does not report clicks on a "
            "Sankey link): pick one to list its patients.")

st.subheader("Top pathways")
st.caption(f"Percent of all {result.cohort.text(0, 'patients')} patients in the cohort. "
           f"Pathways of fewer than {view.min_cell} patients are merged into 'other pathways'; "
           "the charts draw the pathways listed here."
           + (" Click a row, a sunburst segment or pick a Sankey link to list its patients."
              if drill else ""))
if drill:
    rows = render.selectable_table(result.pathways, key="top_pathways", file_name="pathways.csv")
    chosen_selection = drilldown.pick(result, rows=rows, points=points, link=link)
    if chosen_selection is not None:
        drilldown.patient_list(view, mode, techniques, chosen_selection)
else:
    render.table(result.pathways, key="top_pathways", file_name="pathways.csv")

by = st.segmented_control(
    "Pathways by stratum", list(STRATA), format_func=STRATA.get, key="pathway_strata",
    persist_state="session", bind="query-params",
    help="The pathway table within each age band (at the first event), sex or year of the "
    "index date (OHDSI TreatmentPatterns' strata); rare pathways merge within each stratum.")
if by:
    strata = view.strata(by, mode, techniques)
    st.caption("Patients per stratum: " + ", ".join(
        f"{s} {n}" for s, n in zip(strata.strata.labels("stratum"),
                                   strata.strata.texts("patients"), strict=True)) + ".")
    render.table(strata.pathways, key=f"strata_{by}", file_name=f"pathways_by_{by}.csv")

st.subheader("Lines of therapy")
render.chart(figures.lines_of_therapy_chart(result.lines), "lines")
render.table(result.lines, key="lines", file_name="lines_of_therapy.csv")

c1, c2 = st.columns(2)
with c1:
    st.subheader("Time between steps")
    st.caption("Days from the start of one step to the start of the next, per step position "
               "and per transition (quartiles: Q1, median, Q3).")
    render.table(result.step_times, key="step_times", file_name="time_between_steps.csv")
    render.table(result.transitions, key="transitions",
                 file_name="time_between_steps_per_transition.csv")
with c2:
    st.subheader("Step-therapy concordance by physician")
    st.caption("Concordant: no narcotic or injection before the first physical therapy.")
    render.table(result.concordance, key="concordance", file_name="concordance_by_physician.csv")
