"""Every page renders on the bundled sample data and shows its main elements."""

from __future__ import annotations

import json

import pytest

from tests.app.conftest import PAGES, metrics, run_page


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _chart_types(at) -> list[str]:
    return [spec["data"][0]["type"] for spec in _charts(at) if spec["data"]]


def test_overview_renders_kpis_charts_and_physician_table(app):
    at = app("overview").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["PainPath · Overview"]
    shown = metrics(at)
    for label in ("Patients", "On narcotics", "Long-term narcotic courses",
                  "Median course length", "Injection sessions per patient-year",
                  "Over payer injection limits", "Step-therapy concordance",
                  "Injection patients"):
        assert label in shown
    assert len(_charts(at)) == 2
    physicians = at.dataframe[0].value
    assert "Physician" in physicians.columns
    assert {"DR01", "DR08"} <= set(physicians["Physician"])
    # the sidebar: dataset picker with the bundled sample, definitions with defaults
    assert at.selectbox(key="dataset").value == "Sample clinic"
    assert at.number_input(key="era_gap_days").value == 30
    assert at.number_input(key="min_cell").value == 11


def test_pathways_page_shows_sunburst_sankey_and_tables(app):
    at = app("pathways").run()
    assert not at.exception
    types = _chart_types(at)
    assert types[:2] == ["sunburst", "sankey"]
    assert len(types) >= 3
    top = at.dataframe[0].value
    assert list(top.columns) == ["Pathway", "Steps", "Patients", "% of cohort"]
    assert len(top) > 5
    assert len(at.dataframe) >= 4  # top pathways, lines, time between steps, concordance


def test_injections_page_shows_metrics_and_charts(app):
    at = app("injections").run()
    assert not at.exception
    shown = metrics(at)
    assert {"Patients with a session", "Sessions", "Repeated (≥ 2 sessions)",
            "Patients over a payer limit"} <= set(shown)
    assert int(shown["Sessions"].replace(",", "")) > int(
        shown["Patients with a session"].replace(",", ""))
    titles = [spec["layout"]["title"]["text"] for spec in _charts(at)]
    assert "Sessions per patient" in titles
    assert any("Kaplan–Meier" in t for t in titles)
    assert len(at.dataframe) >= 1


def test_narcotics_page_shows_metrics_and_km_chart(app):
    at = app("narcotics").run()
    assert not at.exception
    shown = metrics(at)
    assert {"Patients on narcotics", "Courses", "Long-term (≥ 90 days)",
            "High dose (≥ 90 MME/day)", "Ongoing at extract date"} <= set(shown)
    titles = [spec["layout"]["title"]["text"] for spec in _charts(at)]
    assert any(t.startswith("Course duration (Kaplan–Meier") for t in titles)
    assert len(titles) >= 4
    by_physician = at.dataframe[-1].value
    assert "Physician" in by_physician.columns


def test_compare_page_shows_measures_and_pathway_chart(app):
    at = app("compare").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["Measure", "Cohort A", "Cohort B"]
    assert table["Measure"].iloc[0] == "Patients"
    # cohort B defaults to everyone, like A
    assert table["Cohort A"].iloc[0] == table["Cohort B"].iloc[0]
    assert len(_charts(at)) == 1
    at.multiselect(key="b_sexes").set_value(["F"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    a = int(table["Cohort A"].iloc[0].replace(",", ""))
    b = int(table["Cohort B"].iloc[0].replace(",", ""))
    assert 0 < b < a


def test_patient_timeline_renders_one_patient(app):
    at = app("timeline").run()
    assert not at.exception
    patient = at.selectbox(key="patient").value
    assert patient
    assert len(_charts(at)) == 1
    assert {"Sex", "Age at first event", "Physician", "Events"} <= set(metrics(at))
    events = at.dataframe[0].value
    assert len(events) == int(metrics(at)["Events"].replace(",", ""))


def test_data_page_lists_the_sample_dataset(app):
    at = app("data").run()
    assert not at.exception
    assert at.get("file_uploader")
    datasets = at.dataframe[0].value
    assert datasets["name"].tolist() == ["Sample clinic"]


@pytest.mark.parametrize("page", [p for p in PAGES if p != "overview"])
def test_every_page_reachable_from_the_overview(app, page):
    at = app("overview").run()
    run_page(at, page)
    assert not at.exception
    assert at.title
