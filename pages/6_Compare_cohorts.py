"""Compare cohorts: the sidebar cohort (A) against a second cohort (B) defined here."""

from __future__ import annotations

import dataclasses

import streamlit as st

from analytics import figures
from analytics.cohorts import AGE_BANDS, Cohort
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES
from ui import render
from ui.sidebar import open_page

view = open_page("Compare cohorts", "Compare cohorts", needs_events=False)
_KW = {"persist_state": "session", "bind": "query-params"}
MEASURES = ("patients", "pct_narcotic", "pct_long_term", "median_course_days",
            "sessions_per_patient_year", "pct_over_limit", "pct_concordant")

st.caption("Cohort A is the cohort chosen in the sidebar. Define cohort B here; it shares the "
           "sidebar's date window and definitions. Where a count of B differs from A's by "
           f"fewer than {view.min_cell}, B's count is hidden.")
with st.container(border=True):
    st.markdown("**Cohort B**")
    c = st.columns(4)
    providers = c[0].multiselect("Physician", view.options("provider_id"),
                                 key="b_providers", **_KW)
    sexes = c[1].multiselect("Sex", view.options("sex"), key="b_sexes", **_KW)
    ages = c[2].multiselect("Age band", list(AGE_BANDS), key="b_age_bands", **_KW)
    diagnosis = c[3].text_input("Diagnosis", key="b_diagnosis", placeholder="e.g. M96.1", **_KW)
    c = st.columns(3)
    techniques = list(TECHNIQUES[:-1])
    tried = c[0].multiselect("Tried", techniques, format_func=TECHNIQUE_LABELS.get,
                             key="b_tried", **_KW)
    never = c[1].multiselect("Never tried", techniques, format_func=TECHNIQUE_LABELS.get,
                             key="b_never_tried", **_KW)
    starts = c[2].selectbox("Pathway starts with", ["", *techniques],
                            format_func=lambda t: "any" if t == "" else TECHNIQUE_LABELS[t],
                            key="b_pathway_starts_with", **_KW)

cohort_b = Cohort(
    date_from=view.cohort.date_from, date_to=view.cohort.date_to, providers=tuple(providers),
    sexes=tuple(sexes), age_bands=tuple(ages), diagnosis=diagnosis or "", tried=tuple(tried),
    never_tried=tuple(never), pathway_starts_with=starts or "")
view_b = dataclasses.replace(view, cohort=cohort_b)
st.caption(f"**A:** {view.cohort.describe()}  \n**B:** {cohort_b.describe()}")
result = view.compare(view_b)

st.subheader("Key measures")
render.transposed(result.measures, "row", MEASURES, key="compare_measures",
                  file_name="compare_measures.csv")

st.subheader("Pathway distributions (first use)")
if result.pathways.empty:
    st.info("Neither cohort has treated patients.")
else:
    render.chart(figures.compare_pathways_chart(result.pathways), "compare_pathways")
    render.table(result.pathways, key="compare_pathways", file_name="compare_pathways.csv")
