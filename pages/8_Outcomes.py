"""Outcomes by first step: time to spine surgery, to a long-term narcotic course, to opioid-free."""

from __future__ import annotations

import streamlit as st

from analytics import figures
from analytics.results.outcomes import GROUP_TITLES
from ui import render
from ui.sidebar import open_page

view = open_page("Outcomes", "Outcomes by first step")
by = st.segmented_control(
    "Curves by", list(GROUP_TITLES), default="stratum", format_func=GROUP_TITLES.get,
    key="outcome_by", persist_state="session", bind="query-params",
    help="First step: the technique(s) of the pathway's first step (a same-day combination is "
    "its own group; a first step with surgery is left out). Sex, age band at the first step "
    "and the year of the index date: the optional strata.") or "stratum"
result = view.outcomes(by)
st.info(result.observational, icon="⚠️")
summary = result.summary
st.caption(
    f"Time zero is each patient's first treatment step (not the diagnosis: no immortal time); "
    f"censored at the extract date and at death. Patients analysed: "
    f"{summary.text(0, 'patients')}. Left out without an index date: "
    f"{summary.text(0, 'left_out_no_index')} (only with the population \"all patients\"). Left "
    f"out because the first step holds surgery: {summary.text(0, 'left_out_surgery_first')}. "
    f"Curves stop where fewer than {view.min_cell} patients remain at risk.")
if result.groups.empty:
    st.info("No patient of this cohort has a first treatment step.", icon="🔍")
    st.stop()

for outcome in result.outcomes():
    st.subheader(outcome.title)
    render.chart(figures.outcome_km_chart(outcome.curves, outcome.at_risk, outcome.title),
                 f"km_{outcome.outcome}")
    test = outcome.test
    compared = test.text(0, "compared")
    st.caption(f"Log-rank test over {compared}: p = {test.text(0, 'p')} "
               f"(chi-square {test.text(0, 'statistic')}, {test.text(0, 'df')} degrees of "
               "freedom)." if compared else "Log-rank test: fewer than two groups are shown.")
    left, right = st.columns(2)
    with left:
        st.caption("Patients, outcomes and median days (95 % confidence limits)")
        render.table(outcome.groups, key=f"groups_{outcome.outcome}",
                     file_name=f"{outcome.outcome}_by_{by}.csv")
    with right:
        st.caption("At risk at each day, outcomes so far and the share still without it")
        render.table(outcome.at_risk, key=f"at_risk_{outcome.outcome}",
                     file_name=f"{outcome.outcome}_at_risk_by_{by}.csv")
