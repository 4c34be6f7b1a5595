"""Compare cohorts: the sidebar cohort (A) against a second cohort (B) defined here."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from analytics import figures
from analytics.cohorts import AGE_BANDS, Cohort
from analytics.exports import to_csv_bytes
from analytics.privacy import merge_rare_pathways, suppress_count
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES
from ui import render
from ui.sidebar import open_page

view = open_page("Compare cohorts", "Compare cohorts", needs_events=False)
min_cell = view.params.min_cell
_KW = {"persist_state": "session", "bind": "query-params"}

st.caption("Cohort A is the cohort chosen in the sidebar. Define cohort B here; it shares the "
           "sidebar's date window and definitions.")
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

measures = {"A": view.get("measures"), "B": view_b.get("measures")}
rows = [
    ("Patients", "patients", None),
    ("On narcotics (%)", "pct_narcotic", "narcotic_patients"),
    ("Long-term courses (% of courses)", "pct_long_term", "long_term_courses"),
    ("Median course length (days)", "median_course_days", "courses"),
    ("Injection sessions per patient-year", "sessions_per_patient_year", "injection_patients"),
    ("Over payer limits (% of injection patients)", "pct_over_limit", "over_limit_patients"),
    ("Step-therapy concordance (%)", "pct_concordant", "concordant"),
]


def _cell(m, field: str, basis: str | None) -> str:
    value = getattr(m, field)
    if basis is None:
        return render.count_text(value, min_cell)
    if isinstance(suppress_count(int(getattr(m, basis)), min_cell), str) or value is None:
        return "–"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


table = pd.DataFrame({
    "Measure": [r[0] for r in rows],
    "Cohort A": [_cell(measures["A"], f, b) for _, f, b in rows],
    "Cohort B": [_cell(measures["B"], f, b) for _, f, b in rows],
})
st.subheader("Key measures")
st.dataframe(table, hide_index=True, key="compare_measures")
st.download_button("Download CSV", to_csv_bytes(table), "compare_measures.csv",
                   "text/csv", key="dl_compare_measures", on_click="ignore")

st.subheader("Pathway distributions (first use)")
frames = []
for name, v in (("A", view), ("B", view_b)):
    counts = v.get("pathway_counts", "first", None)
    merged = merge_rare_pathways(counts.loc[counts["n_steps"] > 0], min_cell)
    frames.append(merged.assign(cohort=name))
both = pd.concat(frames, ignore_index=True)
if both.empty:
    st.info("Neither cohort has treated patients.")
else:
    small = (both["patients"] > 0) & (both["patients"] < min_cell)
    both["percent"] = both["percent"].mask(small)
    both["pathway"] = [" → ".join(figures.step_label(s) for s in steps)
                       for steps in both["steps"]]
    render.chart(figures.compare_pathways_chart(both, min_cell), "compare_pathways")
    wide = both.pivot_table(index="pathway", columns="cohort", values="percent",
                            aggfunc="first").reset_index()
    wide = wide.sort_values([c for c in ("A", "B") if c in wide], ascending=False,
                            na_position="last")
    render.table(wide.rename(columns={"A": "% of A", "B": "% of B"}), key="compare_pathways",
                 min_cell=min_cell, rename={"pathway": "Pathway"},
                 file_name="compare_pathways.csv")
