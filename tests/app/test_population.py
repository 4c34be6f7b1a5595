"""The population in the app: the sidebar switch (back-pain patients / all patients), the line
every page and the report show, the eras-mode parameters bound to the URL, estimated MME and
spinal regions on their pages.

Expected numbers come from the analytics functions (``analytics.population`` + the result
builders) on the sample ingested independently of the app.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.delta_generator import DeltaGenerator

from analytics.cohorts import Cohort
from analytics.ingest import ingest
from analytics.results import injections, pathways
from analytics.results.measures import CohortMeasures, Definitions
from analytics.store import Store
from tests.app.conftest import SAMPLE_CSV, metrics, run_page, shown_count

BACK_PAIN_LINE = ("Population: Back-pain patients (2,339 of 2,400 patients). Patients of the "
                  "dataset left out: 61 (61 without a back or neck pain diagnosis). Patients "
                  "with a back or neck pain diagnosis on any row of the export; all their "
                  "events (no date cut).")
ALL_LINE = ("Population: All patients (2,400 of 2,400 patients). No patient of the dataset "
            "left out. Every patient and every event of the dataset (no population filter).")


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_population_switch_changes_the_numbers_and_says_who_is_left_out(app, expected):
    at = app("overview").run()
    assert not at.exception
    assert at.radio(key="population").value == "back_pain"
    back_pain = expected(Cohort())
    assert metrics(at)["Patients"] == shown_count(back_pain.patients)
    assert BACK_PAIN_LINE in captions(at)
    at.radio(key="population").set_value("all").run()
    assert not at.exception
    everyone = expected(Cohort(), population="all")
    assert everyone.patients > back_pain.patients
    assert metrics(at)["Patients"] == shown_count(everyone.patients)
    assert ALL_LINE in captions(at)
    # the choice survives a page switch
    run_page(at, "narcotics")
    assert at.radio(key="population").value == "all"
    assert ALL_LINE in captions(at)


@pytest.mark.parametrize("page", ["pathways", "injections", "narcotics", "compare", "timeline"])
def test_every_page_names_the_population(app, page):
    at = app(page).run()
    assert not at.exception
    assert BACK_PAIN_LINE in captions(at)


def test_the_html_report_names_the_population(app, monkeypatch):
    made: dict[str, object] = {}
    original = DeltaGenerator.download_button

    def record(self, label, data=None, file_name=None, *args, **kwargs):
        if file_name and file_name.endswith(".html"):
            made["report"] = data
        return original(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", record)
    at = app("overview").run()
    assert not at.exception
    html = made["report"]()
    assert BACK_PAIN_LINE in html


def test_eras_parameters_are_bound_to_the_url(app, sample_events, sample_extract):
    at = app("pathways")
    at.query_params["mode"] = "Eras (OHDSI: combinations, switches, repeats)"
    at.query_params["min_post_combination_days"] = "30"
    at.query_params["pathway_filter"] = "All pieces"
    at.run()
    assert not at.exception
    assert at.number_input(key="min_post_combination_days").value == 30
    assert at.selectbox(key="pathway_filter").value == "all"
    definitions = Definitions(min_post_combination_days=30, pathway_filter="all")
    measures = CohortMeasures(sample_events, definitions, sample_extract)
    result = pathways.build_pathways(measures, "eras", None, 11)
    shown = at.dataframe[0].value
    assert shown["Pathway"].tolist() == result.pathways.display()["Pathway"].tolist()
    # TreatmentPatterns' 30-day minimum drops the single-day pieces, and the page says so
    dropped = result.dropped.values["pieces"].iloc[0]
    assert dropped > 11
    assert (f"{dropped:,} pieces shorter than 30 days were dropped after combining "
            "(minimum post-combination duration).") in captions(at)
    # with PainPath's default (0) nothing is dropped and the page says nothing
    default = pathways.build_pathways(CohortMeasures(sample_events, Definitions(),
                                                     sample_extract), "eras", None, 11)
    assert default.pathways.display()["Pathway"].tolist() != shown["Pathway"].tolist()
    # the maximum number of steps from the URL as well
    at = app("pathways")
    at.query_params["mode"] = "Eras (OHDSI: combinations, switches, repeats)"
    at.query_params["max_steps"] = "2"
    at.run()
    assert not at.exception
    assert at.number_input(key="max_steps").value == 2
    assert max(len(p.split(" → ")) for p in at.dataframe[0].value["Pathway"]) == 2


def test_injections_page_shows_limits_by_type_and_region(app, sample_events, sample_extract):
    at = app("injections").run()
    assert not at.exception
    result = injections.build_injections(CohortMeasures(sample_events, Definitions(),
                                                        sample_extract), 11)
    regions = result.over_by_region.display()
    assert set(regions["Region"]) >= {"Cervical / thoracic", "Lumbar / sacral"}
    shown = next(d.value for d in at.dataframe if "Region" in d.value.columns
                 and "Window start" not in d.value.columns)
    assert shown[["Injection type", "Region"]].values.tolist() == regions[
        ["Injection type", "Region"]].values.tolist()
    assert shown["Patients"].astype(str).tolist() == regions["Patients"].astype(str).tolist()


ESTIMATED_CSV = ("patient_id,event_date,technique,end_date,quantity,detail,diagnosis\n"
                 # no days supply: 5 mg x 40 over its 10 covered days x 1.5 = 30 MME/day
                 "E1,2024-01-01,narcotic,2024-01-10,40,Oxycodone Hydrochloride 5 MG Oral "
                 "Tablet,M54.50\n"
                 "E2,2024-01-01,narcotic,2024-01-10,40,Oxycodone Hydrochloride 5 MG Oral "
                 "Tablet,M54.50\n")


@pytest.fixture(scope="module")
def estimated_dataset(data_dir: Path) -> str:
    """A dataset whose narcotic fills have a quantity and an end date but no days supply,
    written as the Data page writes an upload (with the sample created first)."""
    name = "Estimated MME"
    result = ingest([("estimated.csv", ESTIMATED_CSV.encode())])
    with Store(data_dir) as store:
        store.ensure_sample_dataset(SAMPLE_CSV, lambda path: ingest([path]))
        store.create_dataset(name, result.events, result.report.to_dict(), ["estimated.csv"],
                             diagnoses=result.diagnoses, extract_date=result.extract_date,
                             population_source=result.population_source)
    return name


def test_narcotic_page_marks_estimated_mme(app, estimated_dataset):
    at = app("narcotics")
    at.query_params["dataset"] = estimated_dataset
    at.run()
    assert not at.exception
    assert any(c.startswith("MME estimated: <11 courses average at least one estimated MME "
                            "(<11 fills without a days supply") for c in captions(at))
    bands = next(d.value for d in at.dataframe if "MME/day band" in d.value.columns)
    assert "Of which MME estimated" in bands.columns
    row = bands.loc[bands["MME/day band"] == "20–<50"].iloc[0]
    assert (str(row["Courses"]), str(row["Of which MME estimated"])) == ("<11", "<11")
    assert "Ended by death" in metrics(at)
    # both fills have an MME (estimated): none is counted without one
    assert metrics(at)["Patients on narcotics"] == "<11"
    assert any("fills without MME: 0" in c for c in captions(at))
    # the population of a clinic export with a spinal-pain code on every patient: nobody out
    assert any(c.startswith("Population: Back-pain patients (<11 of <11 patients). No "
                            "patient of the dataset left out.") for c in captions(at))


def test_sample_dataset_keeps_its_stored_extract_date(app, sample_extract):
    at = app("narcotics").run()
    assert not at.exception
    assert sample_extract == pd.Timestamp("2025-07-01")
    assert "(2025-07-01)" in at.date_input(key="extract_date").help
