"""One figure is hidden the same way everywhere: on the page, in its hover text, in its CSV
and in the HTML report (one test per view).

Each test builds the view's result with the pure builder for a small cohort that has hidden
cells, opens the page on that cohort, and checks that the page's tables, the CSV downloads
(captured as the page makes them), the charts' hover texts and the report's tables hide
exactly the cells the result marks as hidden — and show the same texts.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from analytics.cohorts import Cohort, apply_cohort, patient_attributes
from analytics.results import compare, injections, narcotics, outcomes, overview, pathways
from analytics.results import safety as safety_view
from analytics.results.measures import CohortMeasures, PopulationMeasures
from analytics.results.privacy import HIDDEN_TEXT
from analytics.results.report import ReportResult
from analytics.results.table import Kind, Table
from tests.app.conftest import metrics, sample_population
from ui.report import build_report

SMALL_PHYSICIAN = "DR07"
SMALL_AGE_BAND = "65–74"  # DR07's patients of 65 to 74: a cohort of about 50 patients
SMALL_COHORT = Cohort(providers=(SMALL_PHYSICIAN,), age_bands=(SMALL_AGE_BAND,))


@pytest.fixture(scope="module")
def measures_of(sample_ingest, sample_events: pd.DataFrame,
                sample_extract: pd.Timestamp) -> Callable[[Cohort], CohortMeasures]:
    attributes = patient_attributes(sample_ingest.events)
    extract = sample_extract
    chosen = sample_population(sample_ingest)
    # the measures that read whole records, as the app builds them for the population
    whole = PopulationMeasures(
        sample_events, extract=extract, history=chosen.full_history(sample_ingest.events),
        accepted=sample_ingest.events, diagnoses=sample_ingest.diagnoses,
        index_dates=chosen.index_date)

    def make(cohort: Cohort) -> CohortMeasures:
        events = apply_cohort(sample_events, cohort, extract=extract, attributes=attributes)
        return CohortMeasures(events, extract=extract, attributes=attributes, population=whole)

    return make


@pytest.fixture
def csvs(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The CSV downloads of the page's tables, in order, made as a click would make them."""
    made: list = []
    original = st.download_button

    def record(label, data=None, file_name=None, *args, **kwargs):
        if file_name and file_name.endswith(".csv"):
            made.append(data)
        return original(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", record)

    class Files(list):
        def __getitem__(self, index):
            data = made[index]
            return data() if callable(data) else data

        def __len__(self):
            return len(made)

    return Files()


def _is_mark(value: object) -> bool:
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return text == HIDDEN_TEXT or text.startswith("<")


def hidden_of(table: Table, columns: list[str] | None = None) -> np.ndarray:
    """Where the result hides cells (its shown columns, or ``columns``), except labels."""
    chosen = [c for c in table.columns if c.shown] if columns is None else [
        table.column(c) for c in columns]
    return np.column_stack([table.hidden(c.name) for c in chosen
                            if c.kind != Kind.LABEL]) if chosen else np.zeros((0, 0))


def marks_in(frame: pd.DataFrame, table: Table, columns: list[str] | None = None) -> np.ndarray:
    """Where a rendered frame (page, CSV, report) shows a mark, in the same columns."""
    chosen = [c for c in table.columns if c.shown] if columns is None else [
        table.column(c) for c in columns]
    titles = [c.title for c in chosen if c.kind != Kind.LABEL]
    return np.column_stack([[_is_mark(v) for v in frame[t]] for t in titles])


def assert_same(frame: pd.DataFrame, table: Table, columns: list[str] | None = None, *,
                some: bool = True) -> None:
    """The rendered ``frame`` hides exactly the cells ``table`` hides, with the same texts
    (``some``: and the table hides at least one)."""
    expected = hidden_of(table, columns)
    assert expected.any() or not some, f"{table.name}: the cohort should hide something here"
    np.testing.assert_array_equal(marks_in(frame, table, columns), expected, err_msg=table.name)
    chosen = [c for c in table.columns if c.shown] if columns is None else [
        table.column(c) for c in columns]
    for column in chosen:
        if column.kind == Kind.LABEL:
            continue
        hidden = table.hidden(column.name)
        texts = table.texts(column.name)
        rendered = [str(v) for v in frame[column.title]]
        assert [t for t, h in zip(rendered, hidden, strict=True) if h] == [
            t for t, h in zip(texts, hidden, strict=True) if h], column.title


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def report_tables(html: str) -> dict[str, pd.DataFrame]:
    """Caption -> table of the HTML report (cells as text)."""
    out = {}
    for caption, head, body in re.findall(
            r"<h3>(.*?)</h3><table><thead><tr>(.*?)</tr></thead><tbody>(.*?)</tbody>", html):
        columns = [_unescape(c) for c in re.findall(r"<th>(.*?)</th>", head)]
        rows = [[_unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
                for row in re.findall(r"<tr>(.*?)</tr>", body)]
        out[_unescape(caption)] = pd.DataFrame(rows, columns=columns)
    return out


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def charts(at) -> dict[str, dict]:
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def hover_texts(trace: dict, column: int | None = None) -> list[str]:
    data = trace["customdata"]
    return [row[column] for row in data] if column is not None else list(data)


def report_of(measures: CohortMeasures, min_cell: int = 11) -> str:
    result = ReportResult(
        description="test", min_cell=min_cell,
        overview=overview.build_overview(measures, 365, min_cell),
        pathways=pathways.build_pathways(measures, "first", None, min_cell),
        injections=injections.build_injections(measures, min_cell),
        narcotics=narcotics.build_narcotics(measures, min_cell),
        safety=safety_view.build_safety(measures, min_cell=min_cell))
    return build_report(result)


def test_overview(app, measures_of, csvs):
    cohort = SMALL_COHORT
    result = overview.build_overview(measures_of(cohort), 365, 11)
    at = app("overview")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    # page: the physician table, and the KPIs read as the result's cells
    assert_same(at.dataframe[0].value, result.physicians)
    shown = metrics(at)
    for column in ("patients", "pct_narcotic", "median_course_days", "pct_over_limit"):
        assert shown[result.kpis.column(column).title] == result.kpis.text(0, column)
    assert any(_is_mark(v) for v in shown.values())
    # CSV
    assert_same(read_csv(csvs[0]), result.physicians)
    # hover: monthly bars (one trace per technique) and the new-patients line
    figures = charts(at)
    monthly = figures["Patients treated per month, by technique"]
    by_technique = {t["name"]: hover_texts(t) for t in monthly["data"]}
    values = result.monthly.values
    for name, texts in by_technique.items():
        rows = np.flatnonzero(values["technique"].map(
            lambda t: t.replace("_", " ").capitalize()).to_numpy() == name)
        assert texts == [result.monthly.texts("patients")[r] for r in rows]
    new = figures["New patients per month"]["data"][0]
    assert hover_texts(new) == result.new_patients.texts("patients")
    assert any(_is_mark(t) for t in hover_texts(new))
    # the opioid-safety KPIs read as the result's cells (COB is small in this cohort)
    for key, title in overview.SAFETY_KPIS.items():
        assert shown[title] == result.safety.text(0, f"{key}_share")
    assert any(_is_mark(result.safety.text(0, f"{k}_share")) for k in overview.SAFETY_KPIS)
    # report
    tables = report_tables(report_of(measures_of(cohort)))
    assert_same(tables["By physician"], result.physicians)


def test_pathways(app, measures_of, csvs):
    cohort = SMALL_COHORT
    techniques = ("physical_therapy", "narcotic")
    result = pathways.build_pathways(measures_of(cohort), "first", techniques, 11)
    at = app("pathways")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.query_params["pathway_techniques"] = ["Physical therapy", "Narcotic"]
    at.run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    for i, table in enumerate((result.pathways, result.lines, result.step_times)):
        assert_same(frames[i], table, some=table is not result.step_times)
        assert_same(read_csv(csvs[i]), table, some=table is not result.step_times)
    figures = charts(at)
    sunburst = figures["Pathways: inner ring = first step (click to zoom)"]["data"][0]
    assert hover_texts(sunburst) == result.sunburst.texts("patients")
    assert HIDDEN_TEXT in hover_texts(sunburst)
    lines = figures["Lines of therapy: what each step was"]["data"]
    hovered = [t for trace in lines for t in hover_texts(trace)]
    assert sorted(hovered) == sorted(result.lines.texts("patients"))
    # report (mode "first", all pathway techniques: the same builder for that choice)
    full = pathways.build_pathways(measures_of(cohort), "first", None, 11)
    tables = report_tables(report_of(measures_of(cohort)))
    assert_same(tables["Lines of therapy"], full.lines)


def test_injections(app, measures_of, csvs):
    cohort = SMALL_COHORT
    result = injections.build_injections(measures_of(cohort), 11)
    at = app("injections")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    shown = metrics(at)
    for column in ("patients", "sessions", "repeated", "over_limit"):
        assert shown[result.kpis.column(column).title] == result.kpis.text(0, column)
    frames = [d.value for d in at.dataframe]
    # the last two tables: sessions by physician, then the response by injection type
    assert_same(frames[-2], result.by_physician)
    assert_same(read_csv(csvs[-2]), result.by_physician)
    assert_same(frames[-1], result.response_by_injection_types)
    assert_same(read_csv(csvs[-1]), result.response_by_injection_types)
    for column in ("sessions", "response_share", "repeats", "repeat_after_no_response_share"):
        assert shown[result.response.column(column).title] == result.response.text(0, column)
    figures = charts(at)
    per_patient = figures["Sessions per patient"]["data"][0]
    assert hover_texts(per_patient) == result.per_patient.texts("patients")
    intervals = figures["Days between consecutive sessions"]["data"][0]
    assert hover_texts(intervals, 1) == result.intervals.texts("intervals")
    assert any(_is_mark(t) for t in hover_texts(intervals, 1))
    km = figures["Time from first to second session (Kaplan–Meier)"]["data"][2]
    kept = ~result.repeat.curve.hidden("survival")
    assert hover_texts(km) == [t for t, k in zip(result.repeat.curve.texts("at_risk"), kept,
                                                 strict=True) if k]
    tables = report_tables(report_of(measures_of(cohort)))
    assert_same(tables["Patients over payer limits by type"], result.over_by_type, some=False)
    assert_same(tables["Sessions"], result.kpis)


def test_narcotic_courses(app, measures_of, csvs):
    cohort = SMALL_COHORT
    result = narcotics.build_narcotics(measures_of(cohort), 11)
    at = app("narcotics")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    shown = metrics(at)
    for column in ("patients", "courses", "pct_long_term", "pct_high_dose", "ongoing"):
        assert shown[result.kpis.column(column).title] == result.kpis.text(0, column)
    assert_same(at.dataframe[-1].value, result.by_physician)
    assert_same(read_csv(csvs[-1]), result.by_physician)
    figures = charts(at)
    durations = figures["Course length"]["data"][0]
    assert hover_texts(durations, 1) == result.durations.texts("courses")
    active = figures["Patients on a narcotic, per month"]["data"][0]
    assert hover_texts(active) == result.active_by_month.texts("patients")
    assert any(_is_mark(t) for t in hover_texts(active))
    tables = report_tables(report_of(measures_of(cohort)))
    assert_same(tables["Courses"], result.kpis)


def test_compare(app, measures_of, csvs):
    cohort_b = SMALL_COHORT
    result = compare.build_compare(measures_of(Cohort()), measures_of(cohort_b), 11)
    at = app("compare")
    at.query_params["b_providers"] = SMALL_PHYSICIAN
    at.query_params["b_age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    assert_same(frames[1], result.pathways)
    assert_same(read_csv(csvs[1]), result.pathways)
    # the key measures, turned on their side: column "Cohort B" holds row B's texts
    measures = frames[0]
    columns = ["patients", "pct_narcotic", "pct_long_term", "median_course_days",
               "sessions_per_patient_year", "pct_over_limit", "pct_concordant"]
    assert measures["Cohort B"].tolist() == [result.measures.text(1, c) for c in columns]
    assert read_csv(csvs[0])["Cohort B"].tolist() == measures["Cohort B"].tolist()
    chart = charts(at)["Share of each cohort by pathway"]["data"]
    rows = min(12, len(result.pathways))
    assert hover_texts(chart[1]) == result.pathways.texts("patients_b")[:rows]
    assert any(_is_mark(t) for t in hover_texts(chart[1]))


def test_patient_timeline_is_patient_level_and_never_marked(app, csvs):
    at = app("timeline").run()
    assert not at.exception
    events = at.dataframe[0].value
    assert len(events) > 0
    assert HIDDEN_TEXT not in set(events.astype(str).to_numpy().ravel())
    assert len(read_csv(csvs[0])) == len(events)


def test_safety(app, measures_of, csvs):
    cohort = SMALL_COHORT
    result = safety_view.build_safety(measures_of(cohort), min_cell=11)
    year = result.default_year
    at = app("pages/7_Safety.py")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    # the measures of the year: each metric reads as the result's share
    this_year = result.years.where("year", year)
    shown = metrics(at)
    for r, key in enumerate(this_year.values["key"]):
        assert shown[safety_view.SHORT_LABELS[key]] == this_year.text(r, "share")
    assert any(_is_mark(v) for v in shown.values())
    # tables: the physicians of the default measure (HDO) and year, tapers, every year
    doctors = result.physicians.where("year", year).where("key", "hdo")
    columns = ["provider_id", "unit", "denominator", "numerator", "share", "clinic_share",
               "note"]
    frames = [d.value for d in at.dataframe]
    assert_same(frames[0], doctors, columns, some=False)
    assert_same(read_csv(csvs[0]), doctors, columns, some=False)
    assert_same(frames[1], result.tapers, some=False)
    assert_same(frames[2], result.years)
    assert_same(read_csv(csvs[2]), result.years)
    # hover: the trend (HDO, COB, naloxone) and the physicians' bars
    figures = charts(at)
    trend = figures["Opioid safety: share over the 12 months to each month"]["data"]
    values = result.trend.values
    for trace in trend:
        rows = np.flatnonzero((values["measure"] == trace["name"]).to_numpy())
        assert hover_texts(trace, 0) == [result.trend.texts("share")[r] for r in rows]
        assert hover_texts(trace, 1) == [result.trend.texts("numerator")[r] for r in rows]
    assert any(_is_mark(t) for trace in trend for t in hover_texts(trace, 1))
    bars = figures[f"{safety_view.SHORT_LABELS['hdo']}, {year}"]["data"][0]
    assert hover_texts(bars, 0) == doctors.texts("share")
    # report
    tables = report_tables(report_of(measures_of(cohort)))
    report_columns = ["measure", "unit", "denominator", "numerator", "share", "change", "note"]
    assert_same(tables[f"Opioid safety in {year}"], this_year, report_columns)


def test_outcomes(app, measures_of, csvs):
    cohort = SMALL_COHORT
    result = outcomes.build_outcomes(measures_of(cohort), "stratum", 11)
    at = app("pages/8_Outcomes.py")
    at.query_params["providers"] = SMALL_PHYSICIAN
    at.query_params["age_bands"] = SMALL_AGE_BAND
    at.run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    figures = charts(at)
    hidden_any = False
    for i, outcome in enumerate(result.outcomes()):
        assert_same(frames[2 * i], outcome.groups, some=False)
        assert_same(read_csv(csvs[2 * i]), outcome.groups, some=False)
        assert_same(frames[2 * i + 1], outcome.at_risk, some=False)
        assert_same(read_csv(csvs[2 * i + 1]), outcome.at_risk, some=False)
        hidden_any |= bool(hidden_of(outcome.groups).any() or hidden_of(outcome.at_risk).any())
        # the at-risk row under the curves reads as the at-risk table
        chart = figures[outcome.title]["data"]
        drawn = [t["text"] for t in chart if t.get("mode") == "text"]
        groups = list(pd.unique(outcome.at_risk.values["group"]))
        texts = outcome.at_risk.texts("at_risk")
        assert drawn == [[texts[r] for r in np.flatnonzero(
            (outcome.at_risk.values["group"] == g).to_numpy())] for g in groups]
        # a group whose patients are hidden has no curve
        shown_groups = {g for g, h in zip(outcome.groups.labels("group"),
                                          outcome.groups.hidden("patients"), strict=True)
                        if not h}
        assert {t["name"] for t in chart if t.get("mode") == "lines" and t.get("name")} <= (
            shown_groups)
    assert hidden_any
    caption = " ".join(c.value for c in at.caption)
    assert f"Left out because the first step holds surgery: " \
        f"{result.summary.text(0, 'left_out_surgery_first')}" in caption
    assert any("Observational" in w.value for w in at.info)
