"""Injections: how often injections were repeated, at what intervals, against payer limits."""

from __future__ import annotations

import streamlit as st

from analytics import figures, injections
from analytics.schema import INJECTION_TYPES
from analytics.vocab import injection_limits
from ui import render
from ui.sidebar import open_page, patient_level_views_enabled

view = open_page("Injections", "Injection repeats")
min_cell = view.params.min_cell

sessions = view.sessions()
if sessions.empty:
    st.info("No injections in this cohort, so there are no sessions to show.", icon="💉")
    st.stop()

per_patient = injections.sessions_per_patient(sessions)
intervals = view.get("intervals")
windows = view.get("limit_windows")
over = injections.patients_over_limit(windows)
n_patients = int(per_patient["patient_id"].nunique())
repeated = int((per_patient["sessions"] >= 2).sum())
short = int(intervals["short_interval"].sum()) if len(intervals) else 0

m = st.columns(4)
m[0].metric("Patients with a session", render.count_text(n_patients, min_cell))
m[1].metric("Sessions", f"{len(sessions):,}",
            help="Distinct (patient, date): all levels and sides on one day are one session.")
m[2].metric("Repeated (≥ 2 sessions)", render.count_text(repeated, min_cell))
m[3].metric("Patients over a payer limit", render.count_text(over["patient_id"].nunique(),
                                                             min_cell))

left, right = st.columns(2)
with left:
    distribution = (per_patient["sessions"].clip(upper=8).value_counts().sort_index()
                    .rename_axis("sessions").reset_index(name="patients"))
    distribution["sessions"] = distribution["sessions"].astype(str).replace({"8": "8+"})
    render.chart(figures.bar_chart(distribution, "sessions", "patients",
                                   "Sessions per patient", "Sessions", "Patients", min_cell,
                                   color=figures.TECHNIQUE_COLORS["injection"]), "per_patient")
with right:
    render.chart(figures.histogram_chart(
        intervals["interval_days"], "Days between consecutive sessions", "Interval (days)",
        "Repeat intervals", min_cell, bin_width=7, max_value=364, marker_at=14,
        marker_label="14-day minimum", color=figures.TECHNIQUE_COLORS["injection"]),
        "intervals")
    st.caption(f"{short:,} intervals under 14 days (flagged as short)." if short
               else "No interval under 14 days.")

render.chart(figures.km_chart({"All injection patients": view.get("repeat_km")},
                              "Time from first to second session (Kaplan–Meier)",
                              "Days since first session",
                              y_title="Share without a second session", min_cell=min_cell),
             "repeat_km")

st.subheader("Patients over payer limits")
limits = injection_limits()
st.caption("Most sessions of one type in any 365-day window, against the Medicare LCD limits: "
           + ", ".join(f"{figures.injection_type_label(t)} {limits[t]}" for t in INJECTION_TYPES
                       if t in limits) + ".")
by_type = (over.groupby("injection_type")["patient_id"].nunique()
           .reindex(list(INJECTION_TYPES), fill_value=0).rename_axis("injection_type")
           .reset_index(name="patients"))
by_type = by_type.loc[by_type["patients"] > 0]
if by_type.empty:
    st.success("No patient is over a payer limit in this cohort.")
else:
    by_type["injection_type"] = by_type["injection_type"].map(figures.injection_type_label)
    render.chart(figures.bar_chart(by_type, "injection_type", "patients",
                                   "Patients over the limit, by injection type", "Injection type",
                                   "Patients", min_cell, color=figures.FLAG_COLOR), "over_by_type")
    if patient_level_views_enabled():
        with st.expander("Windows over the limit (patient level)"):
            st.caption("Pseudonymous patient ids; each row is a 365-day window starting at a "
                       "session date.")
            render.table(windows, key="over_windows", min_cell=min_cell,
                         rename={"patient_id": "Patient", "injection_type": "Type",
                                 "window_start": "Window start", "window_end": "Window end",
                                 "sessions": "Sessions", "limit": "Limit"},
                         file_name="windows_over_limit.csv")

st.subheader("Sessions by physician and type")
by_physician = sessions.assign(
    provider_id=sessions["provider_id"].fillna("(unknown)"),
    injection_types=sessions["injection_types"].map(figures.injection_type_label))
table = (by_physician.groupby(["provider_id", "injection_types"])
         .agg(sessions=("session_date", "size"), patients=("patient_id", "nunique"))
         .reset_index())
render.table(table, key="by_physician", min_cell=min_cell, counts=["patients"],
             rename={"provider_id": "Physician", "injection_types": "Type(s)",
                     "sessions": "Sessions", "patients": "Patients"},
             file_name="sessions_by_physician.csv")

st.subheader("Pain score after a session")
change = view.get("pain_change")
if change.empty or change["change"].notna().sum() == 0:
    render.missing_column_note(["pain_score"], "Pain-score change")
else:
    valid = change.dropna(subset=["change"])
    st.caption("Change = score recorded within 60 days after minus within 30 days before the "
               "session (negative = less pain).")
    c1, c2 = st.columns([1, 2])
    c1.metric("Sessions with scores before and after", render.count_text(len(valid), min_cell))
    if len(valid) >= min_cell:
        c1.metric("Median change", f"{valid['change'].median():+.1f} points")
    summary = (valid["change"].round().clip(-10, 10).value_counts().sort_index()
               .rename_axis("change").reset_index(name="patients"))
    with c2:
        render.chart(figures.bar_chart(summary, "change", "patients",
                                       "Pain-score change after a session",
                                       "Change in pain score (points)", "Sessions", min_cell),
                     "pain_change")
