"""The report's result is the pages' results: the same builders, so the same hidden cells;
printed with the pages' titles and formats, its period and its header."""

import re

import pandas as pd

from analytics.results.injections import build_injections
from analytics.results.measures import CohortMeasures
from analytics.results.narcotics import build_narcotics
from analytics.results.overview import build_overview
from analytics.results.pathways import build_pathways
from analytics.results.report import build_report
from analytics.results.safety import build_safety
from analytics.results.table import tables_of
from analytics.schema import conform
from tests.test_cohorts import events  # noqa: F401  (fixture)
from ui.report import build_report as render_report
from ui.report import change_text
from ui.report import print_tables as report_table


def test_report_is_made_of_the_pages_results(events):  # noqa: F811
    m = CohortMeasures(events)
    report = build_report(m, "everyone", min_cell=3)
    pages = {
        "overview": build_overview(m, 365, 3), "pathways": build_pathways(m, "first", None, 3),
        "injections": build_injections(m, 3), "narcotics": build_narcotics(m, 3),
        "safety": build_safety(m, min_cell=3)}
    for name, page in pages.items():
        mine, theirs = tables_of(getattr(report, name)), tables_of(page)
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key].display().equals(theirs[key].display()), (name, key)


def test_rendered_report_hides_what_the_result_hides(events):  # noqa: F811
    report = build_report(CohortMeasures(events), "everyone", min_cell=3)
    html = render_report(report)
    assert "Cohort: everyone" in html
    assert "Counts from 1 to 2 (patients, events, fills, sessions, courses) are shown as &lt;3" in (
        html)
    # the physician table: DR01 and DR02 have 2 patients each
    assert html.count("<td>&lt;3</td>") >= 2 and "<td>hidden</td>" in html
    for section in ("Overview", "Pathways (first use)", "Injections", "Narcotic courses",
                    "Opioid safety"):
        assert f"<h2>{section}</h2>" in html
    # p2's four fills in 2024 make one opioid user: the HDO denominator of 2024 is small
    assert "<h3>Opioid safety in 2024</h3>" in html


def _tables(html: str) -> dict[str, list[str]]:
    """Caption -> the header cells of each table of the report."""
    return {caption: re.findall(r"<th>(.*?)</th>", head) for caption, head in re.findall(
        r"<h3>(.*?)</h3><table><thead><tr>(.*?)</tr></thead>", html)}


def test_the_report_is_the_overview_of_its_period(events):  # noqa: F811
    # the extract date is 2024-06-01 (the last event): the last 90 days are 2024-03-04 ..
    # 2024-06-01, the 90 before 2023-12-05 .. 2024-03-03
    report = build_report(CohortMeasures(events), "everyone", min_cell=3, period_days=90,
                          dataset="Clinic A")
    assert report.overview.period_days == 90
    assert report.period_text() == (
        "the last 90 days, 2024-03-04 – 2024-06-01 (ending at the extract date), compared "
        "with the 90 days before (2023-12-05 – 2024-03-03)")
    assert report.window_text() == "2024-01-01 – 2024-06-01"
    html = render_report(report)
    # the header: dataset, cohort, period, definitions, threshold
    assert "Dataset: Clinic A<br>Cohort: everyone<br>Period: the last 90 days" in html
    assert "Definitions: narcotic course gap 30 days, long-term ≥ 90 days, high dose ≥ 90 " \
        "MME/day; era gap 30 days; pathways by first use, at most 5 steps; tables: CPT codes" in (
            html)
    assert "are shown as &lt;3" in html
    tables = _tables(html)
    assert tables["Key measures, current and previous period"] == [
        "Measure", "2024-03-04 – 2024-06-01", "2023-12-05 – 2024-03-03", "Change"]
    assert "By physician, 2024-03-04 – 2024-06-01: narcotics" in tables
    assert "By physician, 2024-03-04 – 2024-06-01: injections and step therapy" in tables


def test_the_report_prints_what_the_pages_print(events):  # noqa: F811
    html = render_report(build_report(CohortMeasures(events), "everyone", min_cell=0))
    body = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", body)
    # titles, never column names; figures as the pages format them, never raw floats
    for name in ("provider_id", "pct_narcotic", "pct_long_term", "median_course_days",
                 "injection_type", "physical_therapy"):
        assert name not in cells and not any(name in c for c in cells), name
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.\d{3,}", c)]
    assert "50.0%" in cells  # on narcotics, with its unit
    # a change prints with an arrow, never as a text a spreadsheet would take for a formula
    changes = re.findall(r"<td>([↑↓][^<]*)</td>", body)
    assert changes and not [c for c in cells if c.startswith(("+", "-", "'+", "'-"))]
    # every table fits the page: at most eight columns
    assert max(len(h) for h in _tables(html).values()) <= 8


def test_change_text():
    assert change_text("+2.8 pts") == "↑ 2.8 pts"
    assert change_text("-182") == "↓ 182"
    assert change_text("+0") == "0" and change_text("+0.0 pts") == "0.0 pts"
    assert change_text("hidden") == "hidden" and change_text("–") == "–"


def test_a_wide_table_is_split_and_a_one_row_table_turned(events):  # noqa: F811
    narcotics = build_narcotics(CohortMeasures(events), 0)
    ((caption, frame),) = report_table(narcotics.kpis, "Courses")
    assert caption == "Courses" and list(frame.columns) == ["Measure", "Value"]
    assert frame["Measure"].tolist()[:2] == ["Patients on narcotics", "Courses"]
    assert frame["Value"].tolist()[:2] == ["2", "2"]
    wide = build_overview(CohortMeasures(events), 365, 0).physicians  # 13 columns
    parts = report_table(wide, "Physicians")
    assert [c for c, _ in parts] == ["Physicians (1 of 2)", "Physicians (2 of 2)"]
    assert all(f.columns[0] == "Physician" and f.shape[1] <= 8 for _, f in parts)
    assert sum(f.shape[1] - 1 for _, f in parts) == 12


def test_high_dose_note_in_the_report():
    # two courses, both without an MME (no strength): the high-dose share is not shown
    frame = conform(pd.DataFrame({
        "patient_id": ["a", "b"], "event_date": pd.to_datetime(["2024-01-01"] * 2),
        "technique": ["narcotic"] * 2, "days_supply": [30, 30], "detail": ["Oxycodone"] * 2}))
    html = render_report(build_report(CohortMeasures(frame), "everyone", min_cell=0))
    assert "High dose not shown: 2 of 2 courses have no MME." in html
