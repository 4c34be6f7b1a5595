"""The monthly HTML report of the current cohort: every page's main charts and tables.

Built only when the user clicks the download button (``st.download_button``
with a callable), from the same cached analyses and pure figure builders the
pages use; every table is suppressed as displayed.
"""

from __future__ import annotations

import pandas as pd

from analytics import figures, injections, pathways
from analytics.exports import ReportSection, html_report
from analytics.privacy import merge_rare_pathways, suppress_table
from ui.data import View


def _measures_table(view: View) -> pd.DataFrame:
    m = view.get("measures")
    rows = [
        ("Patients", m.patients, None),
        ("Patients on narcotics", m.narcotic_patients, m.pct_narcotic),
        ("Narcotic courses", m.courses, None),
        ("Long-term courses (≥ 90 days)", m.long_term_courses, m.pct_long_term),
        ("Median course length (days)", None, m.median_course_days),
        ("Patients with injection sessions", m.injection_patients, None),
        ("Injection sessions", m.sessions, None),
        ("Sessions per patient-year", None, m.sessions_per_patient_year),
        ("Patients over payer limits", m.over_limit_patients, m.pct_over_limit),
        ("Step-therapy concordant patients", m.concordant, m.pct_concordant),
    ]
    table = pd.DataFrame(rows, columns=["measure", "count", "value"])
    table["count"] = table["count"].astype("Int64")
    return table


def build_report(view: View) -> str:
    """The self-contained HTML report of ``view`` (dataset, cohort, parameters)."""
    min_cell = view.params.min_cell
    sections = []

    measures = suppress_table(_measures_table(view), ["count"], min_cell=min_cell,
                              percent_columns=["value"])
    physicians = view.get("physicians")
    sections.append(ReportSection(
        "Overview",
        figures=[figures.monthly_technique_chart(view.get("monthly"), min_cell)],
        tables=[("Key measures (value = percent, days or rate)", measures),
                ("By physician", suppress_table(
                    physicians, ["patients", "narcotic_patients", "long_term_courses",
                                 "injection_patients", "over_limit_patients", "concordant"],
                    min_cell=min_cell,
                    percent_columns=["pct_narcotic", "pct_long_term", "pct_concordant"]))],
    ))

    tables = view.pathway_tables("first")
    counts = tables.counts
    merged = merge_rare_pathways(counts.loc[counts["n_steps"] > 0], min_cell)
    top = merged.assign(pathway=[" → ".join(figures.step_label(s) for s in steps_)
                                 for steps_ in merged["steps"]])[["pathway", "patients",
                                                                  "percent"]]
    sections.append(ReportSection(
        "Pathways (first use)",
        figures=[figures.pathway_sunburst(pathways.sunburst_table(merged), min_cell),
                 figures.pathway_sankey(tables.transitions, min_cell)],
        tables=[("Top pathways", suppress_table(top, ["patients"], min_cell=min_cell,
                                                percent_columns=["percent"])),
                ("Lines of therapy", suppress_table(
                    tables.lines, ["patients"],
                    min_cell=min_cell, percent_columns=["pct_of_cohort", "pct_of_treated"]))],
    ))

    sessions = view.sessions()
    if len(sessions):
        intervals = view.get("intervals")
        over = injections.patients_over_limit(view.get("limit_windows"))
        by_type = (over.groupby("injection_type")["patient_id"].nunique()
                   .rename_axis("injection_type").reset_index(name="patients"))
        sections.append(ReportSection(
            "Injections",
            figures=[figures.histogram_chart(intervals["interval_days"],
                                             "Days between consecutive sessions",
                                             "Interval (days)", "Repeat intervals", min_cell,
                                             max_value=364, marker_at=14,
                                             marker_label="14-day minimum"),
                     figures.km_chart({"Injection patients": view.get("repeat_km")},
                                      "Time from first to second session", "Days",
                                      y_title="Share without a second session",
                                      min_cell=min_cell)],
            tables=[("Patients over payer limits by type",
                     suppress_table(by_type, ["patients"], min_cell=min_cell))],
        ))
    courses = view.courses()
    if len(courses):
        bands = (courses["mme_band"].value_counts(sort=False).rename_axis("band")
                 .reset_index(name="courses"))
        sections.append(ReportSection(
            "Narcotic courses",
            figures=[figures.histogram_chart(courses["duration_days"], "Course length",
                                             "Duration (days)", "Courses", min_cell,
                                             max_value=364, marker_at=90,
                                             marker_label="90 days"),
                     figures.km_chart({"Narcotic courses": view.get("course_km")},
                                      "Course duration (Kaplan–Meier)", "Days",
                                      min_cell=min_cell)],
            tables=[("Courses by average MME/day band",
                     suppress_table(bands, ["courses"], min_cell=min_cell))],
        ))
    return html_report("PainPath report", view.cohort.describe(), sections, min_cell=min_cell)
