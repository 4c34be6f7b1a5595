"""The monthly HTML report of the current cohort: renders a report result.

Built only when the user clicks the download button (``st.download_button``
with a callable).  The result (:class:`analytics.results.report.ReportResult`)
is made of the same protected results as the pages, and every chart comes from
the same figure function as on its page, so the report hides exactly what the
pages hide.
"""

from __future__ import annotations

from analytics import figures
from analytics.exports import ReportSection, html_report
from analytics.results.report import ReportResult
from analytics.results.safety import KPI_MEASURES, SHORT_LABELS, SafetyResult
from analytics.results.table import Table

KEY_MEASURES = ("patients", "pct_narcotic", "courses", "pct_long_term", "median_course_days",
                "injection_patients", "sessions", "sessions_per_patient_year", "pct_over_limit",
                "pct_concordant")


def _table(table: Table, caption: str | None = None,
           columns: tuple[str, ...] | None = None) -> tuple[str, object]:
    return caption or table.title, table.display(columns)


def report_sections(result: ReportResult) -> list[ReportSection]:
    """The report's sections: Overview, Pathways (first use), Injections, Narcotic courses,
    Opioid safety."""
    overview = result.overview
    sections = [ReportSection(
        "Overview",
        figures=[figures.monthly_technique_chart(overview.monthly),
                 figures.new_patients_chart(overview.new_patients)],
        tables=[_table(overview.kpis, "Key measures (current and previous "
                       f"{overview.period_days} days, whole cohort)", ("row", *KEY_MEASURES)),
                _table(overview.physicians, "By physician")],
    )]
    paths = result.pathways
    sections.append(ReportSection(
        "Pathways (first use)",
        figures=[figures.pathway_sunburst(paths.sunburst), figures.pathway_sankey(paths.sankey)],
        tables=[_table(paths.pathways, "Top pathways", ("pathway", "patients", "percent")),
                _table(paths.lines, "Lines of therapy")],
    ))
    inj = result.injections
    if not inj.per_patient.empty:
        sections.append(ReportSection(
            "Injections",
            figures=[figures.intervals_chart(inj.intervals), figures.repeat_km_chart(inj.repeat)],
            tables=[_table(inj.kpis, "Sessions"),
                    _table(inj.over_by_type, "Patients over payer limits by type"),
                    _table(inj.over_by_region, "Patients over payer limits by type and "
                           "region")],
        ))
    narc = result.narcotics
    if not narc.durations.empty:
        sections.append(ReportSection(
            "Narcotic courses",
            figures=[figures.durations_chart(narc.durations),
                     figures.course_km_chart(narc.course_km)],
            tables=[_table(narc.kpis, "Courses"),
                    _table(narc.mme_bands, "Courses by average MME/day band (of which the "
                           "MME is estimated)")],
        ))
    if result.safety is not None and not result.safety.years.empty:
        sections.append(safety_section(result.safety))
    return sections


def safety_section(safety: SafetyResult) -> ReportSection:
    """Opioid safety: the measures of the latest whole year, the three a manager reads
    first by physician with the clinic beside, the monthly trend, tapers."""
    year = safety.default_year
    columns = ("measure", "unit", "denominator", "numerator", "share", "change", "note")
    doctors = safety.physicians.where("year", year)
    keys = doctors.values["key"].isin(KPI_MEASURES).to_numpy(dtype=bool)
    tables = [_table(safety.years.where("year", year), f"Opioid safety in {year}", columns)]
    if keys.any():
        tables.append(_table(doctors.take(keys.nonzero()[0]),
                             f"By physician in {year}: "
                             + ", ".join(SHORT_LABELS[k] for k in KPI_MEASURES),
                             ("measure", "provider_id", "denominator", "numerator", "share",
                              "clinic_share")))
    tables.append(_table(safety.tapers, "Tapers and abrupt stops (narcotic courses)"))
    text = ("Each measure reads the patients' full history. A patient-year counts for every "
            "physician who prescribed the patient a narcotic in that year.")
    if safety.pharmacy_note:
        text += " The pharmacy rates cannot be computed: no pharmacy_id in this dataset."
    return ReportSection(
        "Opioid safety", text=text,
        figures=[figures.safety_trend_chart(safety.trend, list(KPI_MEASURES))],
        tables=tables,
    )


def build_report(result: ReportResult) -> str:
    """The self-contained HTML report of a report result (with its population line)."""
    population = result.population.line() if result.population is not None else ""
    return html_report("PainPath report", result.description, report_sections(result),
                       min_cell=result.min_cell, population=population)
