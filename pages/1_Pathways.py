"""Pathways: which techniques were tried, in which order."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import figures, pathways
from analytics.privacy import merge_rare_pathways
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUE_LABELS, TECHNIQUES
from ui import render
from ui.sidebar import open_page

view = open_page("Pathways", "Treatment pathways")
min_cell = view.params.min_cell

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

tables = view.pathway_tables(mode, techniques)
counts = tables.counts
untreated = counts.loc[counts["n_steps"] == 0]
merged = merge_rare_pathways(counts.loc[counts["n_steps"] > 0], min_cell)

left, right = st.columns(2)
with left:
    sunburst = pathways.sunburst_table(merged)
    render.chart(figures.pathway_sunburst(sunburst, min_cell), "sunburst")
with right:
    render.chart(figures.pathway_sankey(tables.transitions, min_cell), "sankey")

st.subheader("Top pathways")
st.caption("Percent of all patients in the cohort. Pathways of fewer than "
           f"{min_cell} patients are merged into 'other pathways'.")
top = merged.assign(pathway=[" → ".join(figures.step_label(s) for s in steps_)
                             for steps_ in merged["steps"]])
table = top[["pathway", "n_steps", "patients", "percent"]]
if len(untreated):
    no_treatment = untreated[["n_steps", "patients", "percent"]].assign(
        pathway="No treatment in the selected techniques")
    table = pd.concat([table, no_treatment[table.columns]], ignore_index=True)
render.table(table, key="top_pathways", min_cell=min_cell, counts=["patients"],
             derived={"percent": "patients"},
             rename={"pathway": "Pathway", "n_steps": "Steps", "patients": "Patients",
                     "percent": "% of cohort"}, file_name="pathways.csv")

st.subheader("Lines of therapy")
lines = tables.lines
render.chart(figures.lines_of_therapy_chart(lines, min_cell), "lines")
render.table(lines.assign(label=[figures.step_label(v) for v in lines["label"]]),
             key="lines", min_cell=min_cell, counts=["patients"],
             derived={"pct_of_cohort": "patients", "pct_of_treated": "patients"},
             rename={"line": "Line", "label": "Step", "patients": "Patients",
                     "pct_of_cohort": "% of cohort", "pct_of_treated": "% of treated"},
             file_name="lines_of_therapy.csv")

c1, c2 = st.columns(2)
with c1:
    st.subheader("Time between steps")
    st.caption("Days from the start of one step to the start of the next.")
    render.table(tables.step_times, key="step_times", min_cell=min_cell,
                 counts=["transitions"],
                 derived={"median_days": "transitions", "q1_days": "transitions",
                          "q3_days": "transitions"},
                 rename={"from_step": "From step", "to_step": "To step",
                         "transitions": "Patients", "median_days": "Median days",
                         "q1_days": "Q1", "q3_days": "Q3"}, file_name="time_between_steps.csv")
with c2:
    st.subheader("Step-therapy concordance by physician")
    st.caption("Concordant: no narcotic or injection before the first physical therapy.")
    attributes = view.attributes()
    by = pathways.concordance_by(view.get("concordance"), attributes["provider_id"])
    render.table(by, key="concordance", min_cell=min_cell, counts=["patients", "concordant"],
                 derived={"percent": ["patients", "concordant"]},
                 rename={"group": "Physician", "patients": "Patients",
                         "concordant": "Concordant", "percent": "% concordant"},
                 file_name="concordance_by_physician.csv")
