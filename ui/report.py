"""The monthly HTML report of the current cohort: the screen, printed.

Built only when the user clicks the download button (``st.download_button``
with a callable).  The result (:class:`analytics.results.report.ReportResult`)
is made of the same protected results as the pages, every chart comes from the
same figure function as on its page, and every cell reads as on the page
(:meth:`analytics.results.table.Table.texts`: the column titles, ``12.5%``,
``1,234``, ``<11``), so the report hides and formats exactly what the pages do.

The Overview section covers the Overview's period (the KPIs and the physician table),
the other sections the cohort's whole date window, as their pages do; the header says
which dataset, population, cohort, period, definitions and threshold.  The layout prints
on A4 or Letter (:func:`analytics.exports.html_report`): figures are drawn at a width that
fits the page, tables wrap their cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from analytics import figures
from analytics.exports import ReportSection, html_report
from analytics.results.overview import SAFETY_KPIS, OverviewResult
from analytics.results.report import ReportResult
from analytics.results.safety import KPI_MEASURES, SHORT_LABELS, SafetyResult
from analytics.results.table import Table

KEY_MEASURES = ("patients", "pct_narcotic", "courses", "pct_long_term", "median_course_days",
                "injection_patients", "sessions", "sessions_per_patient_year", "pct_over_limit",
                "pct_concordant")
"""The Overview's key measures in the report, in order (columns of its ``kpis``)."""

FIGURE_WIDTH = 700
"""Figures are drawn this many CSS pixels wide: an A4 page less its margins (186 mm at
96 px per inch is 703 px) — a Letter page is wider."""


PRINT_COLUMNS = 8
"""A table of more columns is split for print (its first column repeated in each part): an
A4 page less its margins holds about eight columns of numbers at 7.5 pt with their titles
wrapped on whole words."""

PHYSICIAN_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("narcotics", ("provider_id", "patients", "narcotic_patients", "pct_narcotic", "courses",
                   "long_term_courses", "pct_long_term", "median_course_days")),
    ("injections and step therapy", ("provider_id", "patients", "injection_patients",
                                     "sessions", "over_limit_patients", "concordant",
                                     "pct_concordant")),
)
"""The Overview's physician table for print: its narcotic columns, then the others."""


def change_text(text: str) -> str:
    """A change as it prints: ``"+2.8 pts"`` → ``"↑ 2.8 pts"``, ``"-182"`` → ``"↓ 182"``,
    ``"+0"`` → ``"0"`` (a text starting with + or − would be taken for a formula by a
    spreadsheet opening the file, and quoted)."""
    if text[:1] not in "+-" or len(text) < 2:
        return text
    rest = text[1:]
    if rest.replace(",", "").split(" ")[0].strip("0.") == "":
        return rest  # zero
    return ("↑ " if text[0] == "+" else "↓ ") + rest


def text_frame(table: Table, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A result table as it reads on the page: its shown columns (or ``columns``) under
    their titles, every cell as :meth:`~analytics.results.table.Table.texts` gives it (a
    change with an arrow: :func:`change_text`)."""
    chosen = [c for c in table.columns if c.shown] if columns is None else [
        table.column(name) for name in columns]
    out = {}
    for column in chosen:
        texts = table.texts(column.name)
        if column.signed:
            texts = [change_text(t) for t in texts]
        out[column.title] = pd.Series(texts, dtype="string")
    return pd.DataFrame(out).reset_index(drop=True)


def print_tables(table: Table, caption: str | None = None,
           columns: Sequence[str] | None = None) -> list[tuple[str, pd.DataFrame]]:
    """A result table for print, under ``caption``: a one-row table of more than four
    columns turned on its side (measure, value); a table of more than
    :data:`PRINT_COLUMNS` columns split in parts that each repeat its first column."""
    caption = caption or table.title
    frame = text_frame(table, columns)
    if len(frame) == 1 and frame.shape[1] > 4:
        return [(caption, pd.DataFrame({"Measure": list(frame.columns),
                                        "Value": frame.iloc[0].tolist()}, dtype="string"))]
    if frame.shape[1] <= PRINT_COLUMNS:
        return [(caption, frame)]
    first, rest = frame.columns[0], list(frame.columns[1:])
    size = PRINT_COLUMNS - 1
    parts = [rest[i:i + size] for i in range(0, len(rest), size)]
    return [(f"{caption} ({k} of {len(parts)})", frame[[first, *part]])
            for k, part in enumerate(parts, start=1)]


def physicians_tables(table: Table, caption: str) -> list[tuple[str, pd.DataFrame]]:
    """The Overview's physician table for print, in :data:`PHYSICIAN_GROUPS`."""
    return [(f"{caption}: {name}", text_frame(table, columns))
            for name, columns in PHYSICIAN_GROUPS]


def _sized(fig: go.Figure, height: int = 380) -> go.Figure:
    """The figure at the report's width (its height kept when it has one)."""
    fig.update_layout(width=FIGURE_WIDTH, height=fig.layout.height or height)
    return fig


def key_measures_table(overview: OverviewResult) -> pd.DataFrame:
    """The Overview's key measures turned on their side for print: one row per measure,
    the current and the previous period (headed by their dates) and the change."""
    kpis, changes = overview.kpis, overview.changes
    known = {c.name for c in changes.columns}
    current, previous = "Current period", "Previous period"
    if overview.current_start is not None:
        end = overview.current_start - pd.Timedelta(days=1)
        current = f"{_day(overview.current_start)} – {_day(overview.current_end)}"
        previous = f"{_day(overview.previous_start)} – {_day(end)}"
    return pd.DataFrame({
        "Measure": [kpis.column(name).title for name in KEY_MEASURES],
        current: [kpis.text(0, name) for name in KEY_MEASURES],
        previous: [kpis.text(1, name) for name in KEY_MEASURES],
        "Change": [change_text(changes.text(0, name)) if name in known else ""
                   for name in KEY_MEASURES],
    }, dtype="string")


def safety_kpis_table(overview: OverviewResult) -> pd.DataFrame:
    """The Overview's opioid-safety KPIs for print: one row per measure, the 12 months to
    the latest month and to the month compared, the change."""
    safety, changes = overview.safety, overview.safety_changes
    months = safety.texts("month")
    return pd.DataFrame({
        "Measure": list(SAFETY_KPIS.values()),
        f"12 months to {months[0][:7]}": [safety.text(0, f"{k}_share") for k in SAFETY_KPIS],
        f"12 months to {months[1][:7]}": [safety.text(1, f"{k}_share") for k in SAFETY_KPIS],
        "Change": [change_text(changes.text(0, f"{k}_share")) for k in SAFETY_KPIS],
    }, dtype="string")


def _day(value: pd.Timestamp | None) -> str:
    return "" if value is None else pd.Timestamp(value).strftime("%Y-%m-%d")


def report_sections(result: ReportResult) -> list[ReportSection]:
    """The report's sections: Overview (the Overview's period), Pathways (first use),
    Injections, Narcotic courses, Opioid safety (the cohort's date window)."""
    overview = result.overview
    window = f"the cohort's whole date window ({result.window_text()})"
    period = (f"{_day(overview.current_start)} – {_day(overview.current_end)}"
              if overview.current_start is not None else f"the last {overview.period_days} "
              "days")
    tables = [("Key measures, current and previous period", key_measures_table(overview))]
    if not overview.safety.empty:
        tables.append(("Opioid safety (12 months to the month shown)",
                       safety_kpis_table(overview)))
    tables += physicians_tables(overview.physicians, f"By physician, {period}")
    sections = [ReportSection(
        "Overview",
        text=f"Key measures of {result.period_text()}, as on the Overview page. The physician "
        f"tables cover the same period ({period}); the charts after them cover {window}.",
        figures=[_sized(figures.monthly_technique_chart(overview.monthly)),
                 _sized(figures.new_patients_chart(overview.new_patients), 320)],
        tables=tables, tables_first=True,
    )]
    paths = result.pathways
    sections.append(ReportSection(
        "Pathways (first use)",
        text=f"Techniques in the order each was first used, over {window}. Pathways of fewer "
        f"than {result.min_cell} patients are merged into \"other pathways\".",
        figures=[_sized(figures.pathway_sunburst(paths.sunburst), 460),
                 _sized(figures.pathway_sankey(paths.sankey), 420)],
        tables=[*print_tables(paths.pathways, "Top pathways", ("pathway", "patients", "percent")),
                *print_tables(paths.lines, "Lines of therapy")],
    ))
    inj = result.injections
    if not inj.per_patient.empty:
        sections.append(ReportSection(
            "Injections",
            text=f"Injection sessions over {window}.",
            figures=[_sized(figures.intervals_chart(inj.intervals)),
                     _sized(figures.repeat_km_chart(inj.repeat))],
            tables=[*print_tables(inj.kpis, "Sessions"),
                    *print_tables(inj.over_by_type, "Patients over payer limits by type"),
                    *print_tables(inj.over_by_region, "Patients over payer limits by type and "
                            "region")],
        ))
    narc = result.narcotics
    if not narc.durations.empty:
        note = narc.high_dose_note()
        sections.append(ReportSection(
            "Narcotic courses",
            text=f"Narcotic courses over {window}."
            + (f" High dose not shown: {note[0].lower()}{note[1:]}." if note else ""),
            figures=[_sized(figures.durations_chart(narc.durations)),
                     _sized(figures.course_km_chart(narc.course_km))],
            tables=[*print_tables(narc.kpis, "Courses"),
                    *print_tables(narc.mme_bands, "Courses by average MME/day band (of which the "
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
    tables = print_tables(safety.years.where("year", year), f"Opioid safety in {year}", columns)
    if keys.any():
        tables += print_tables(doctors.take(keys.nonzero()[0]),
                         f"By physician in {year}: "
                         + ", ".join(SHORT_LABELS[k] for k in KPI_MEASURES),
                         ("measure", "provider_id", "denominator", "numerator", "share",
                          "clinic_share"))
    tables += print_tables(safety.tapers, "Tapers and abrupt stops (narcotic courses)")
    text = ("Each measure reads the patients' full history. A patient-year counts for every "
            "physician who prescribed the patient a narcotic in that year.")
    if safety.pharmacy_note:
        text += " The pharmacy rates cannot be computed: this dataset has no pharmacy."
    return ReportSection(
        "Opioid safety", text=text,
        figures=[_sized(figures.safety_trend_chart(safety.trend, list(KPI_MEASURES)))],
        tables=tables,
    )


def build_report(result: ReportResult) -> str:
    """The self-contained HTML report of a report result, with its header: dataset,
    population, cohort, period, definitions, threshold."""
    population = result.population.line() if result.population is not None else ""
    details = [("Period", f"{result.period_text()}; Pathways, Injections, Narcotic courses "
                "and Opioid safety: the cohort's whole date window "
                f"({result.window_text()})"),
               ("Definitions", result.definitions_text())]
    if result.dataset:
        details.insert(0, ("Dataset", result.dataset))
    return html_report("PainPath report", result.description, report_sections(result),
                       min_cell=result.min_cell, population=population, details=details)
