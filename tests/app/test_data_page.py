"""The Data page: upload, mapping, ingest report, errors; the patient-view switch."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.app.conftest import metrics, run_page

GENERIC_CSV = b"""Patient,Visit date,CPT,Description,Doctor
A1,2024-01-05,97110,Therapeutic exercise,DRX
A1,2024-02-10,64483,Transforaminal epidural injection,DRX
A1,2024-02-10,64483,Transforaminal epidural injection,DRX
B2,2024-03-01,97110,Therapeutic exercise,DRY
B2,2024-03-20,,,DRY
"""
# 5 rows: A1 PT + injection (one exact duplicate row), B2 PT, and a row with no code and
# no description (technique unknown: rejected).


def _datasets(at):
    """The "Datasets in the store" table (the last dataframe on the page)."""
    frame = at.dataframe[-1].value
    assert {"dataset_id", "name", "version"} <= set(frame.columns)
    return frame


def _upload(at, name: str, content: bytes):
    return at.file_uploader(key="uploads").set_value((name, content, "text/csv")).run()


def test_generic_csv_shows_mapping_then_saves_with_a_report(app):
    at = app("data").run()
    _upload(at, "clinic.csv", GENERIC_CSV)
    assert not at.exception
    assert [e.label for e in at.expander][0] == "**clinic.csv** · generic · events"
    mapping = at.dataframe(key="map_clinic.csv").value
    guessed = dict(zip(mapping["canonical column"], mapping["file column"], strict=True))
    assert guessed["patient_id"] == "Patient"
    assert guessed["event_date"] == "Visit date"
    assert guessed["code"] == "CPT"
    assert guessed["provider_id"] == "Doctor"
    assert at.text_input(key="new_name").value == "clinic"
    assert not at.success

    at.button(key="save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Created dataset **clinic** with 3 events."]
    shown = metrics(at)
    assert shown["Rows read"] == "5"
    assert shown["Accepted"] == "3"
    assert shown["Duplicates"] == "1"
    assert int(shown["Accepted"]) + int(shown["Rejected"]) + int(shown["Not relevant"]) + int(
        shown["Duplicates"]) == 5
    datasets = _datasets(at)
    assert datasets["name"].tolist() == ["Sample clinic", "clinic"]
    assert datasets.loc[datasets["name"] == "clinic", "patients"].iloc[0] == 2

    # the new dataset is offered in every other page's sidebar
    at = app("overview").run()
    assert at.selectbox(key="dataset").options == ["Sample clinic", "clinic"]
    at.selectbox(key="dataset").set_value("clinic").run()
    assert not at.exception
    assert metrics(at)["Patients"] == "<11"


def test_file_without_patient_column_shows_an_error_not_an_exception(app):
    at = app("data").run()
    _upload(at, "bad.csv", b"Visit date,CPT\n2024-01-05,97110\n2024-01-09,97110\n")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Required column(s) not found: patient_id") for e in errors)
    at.button(key="save").click().run()
    assert not at.exception
    assert any("required column not found: patient_id" in e.value for e in at.error)
    assert not at.success
    # The error does not hide the rest of the page: the datasets are still listed.
    assert "Sample clinic" in _datasets(at)["name"].tolist()
    assert "bad" not in _datasets(app("data").run())["name"].tolist()


def test_unreadable_file_shows_an_error(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value(
        ("broken.parquet", b"not a parquet file", "application/octet-stream")).run()
    assert not at.exception
    assert at.error
    assert "Sample clinic" in _datasets(at)["name"].tolist()


def test_patient_timeline_can_be_switched_off(app, monkeypatch):
    monkeypatch.setenv("PAINPATH_PATIENT_VIEWS", "off")
    at = app("timeline").run()
    assert not at.exception
    assert any("switched off" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    assert not at.dataframe
    assert "patient" not in [s.key for s in at.selectbox]


def test_patient_level_table_on_injections_follows_the_switch(app, monkeypatch):
    def over_limit_expanders(at) -> list[str]:
        return [e.label for e in at.expander if e.label.startswith("Windows over the limit")]

    at = app("overview").run()
    run_page(at, "injections")
    assert not at.exception
    assert over_limit_expanders(at)
    monkeypatch.setenv("PAINPATH_PATIENT_VIEWS", "off")
    at.run()
    assert not at.exception
    assert not over_limit_expanders(at)


@pytest.mark.parametrize("value", ["on", "ON", ""])
def test_patient_timeline_on_by_default(app, monkeypatch, value):
    monkeypatch.setenv("PAINPATH_PATIENT_VIEWS", value)
    at = app("timeline").run()
    assert not at.exception
    assert not at.warning
    assert len(at.get("plotly_chart")) == 1
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    patient = at.selectbox(key="patient").value
    assert spec["layout"]["title"]["text"].startswith(f"Patient {patient}")


def test_same_file_uploaded_twice_is_used_once(app):
    """Regression: dropping the same file twice gave StreamlitDuplicateElementKey."""
    at = app("data").run()
    twice = [("twice.csv", GENERIC_CSV, "text/csv"), ("twice.csv", GENERIC_CSV, "text/csv")]
    at.file_uploader(key="uploads").set_value(twice).run()
    assert not at.exception
    assert any("more than once" in w.value for w in at.warning)
    assert [e.label for e in at.expander] == ["**twice.csv** · generic · events"]
    at.button(key="save").click().run()
    assert not at.exception
    assert at.text_input(key="new_name").value == "twice"
    assert [s.value for s in at.success] == ["Created dataset **twice** with 3 events."]


EHR_CONDITIONS = b"""START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION
2024-02-01,,Q1,e1,278860009,Chronic low back pain (finding)
2024-02-01,,Q2,e2,44465007,Sprain of ankle (disorder)
"""
EHR_PROCEDURES = b"""START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION
2024-02-10T09:00:00Z,2024-02-10T10:00:00Z,Q1,e3,91251008,Physical therapy procedure,,
2024-02-12T09:00:00Z,2024-02-12T10:00:00Z,Q2,e4,91251008,Physical therapy procedure,,
"""


def test_an_export_is_saved_with_its_diagnoses_extract_date_and_population(app, data_dir):
    from analytics.store import Store

    at = app("data").run()
    at.file_uploader(key="uploads").set_value([
        ("conditions.csv", EHR_CONDITIONS, "text/csv"),
        ("procedures.csv", EHR_PROCEDURES, "text/csv")]).run()
    assert not at.exception
    at.text_input(key="new_name").set_value("EHR export").run()
    at.button(key="save").click().run()
    assert not at.exception
    with Store(data_dir) as store:
        did = store.find_dataset("EHR export")
        meta = store.get_dataset(did)
        diagnoses = store.load_diagnoses(did)
    # ingest's extract date (the latest date: Q2's physical therapy), its population source
    assert meta["population_source"] == "conditions"
    assert meta["extract_date"] == pd.Timestamp("2024-02-12")
    assert diagnoses[["patient_id", "kind"]].values.tolist() == [["Q1", "spinal_pain"]]
    # the pages show the back-pain population of that export: Q1 only
    at = app("overview")
    at.query_params["dataset"] = "EHR export"
    at.run()
    assert not at.exception
    assert any(c.value.startswith("Population: Back-pain patients (<11 of <11 patients). "
                                  "Patients of the dataset left out: <11 (<11 without a back "
                                  "or neck pain diagnosis)") for c in at.caption)


def test_mapping_offers_exactly_the_mapping_keys(app):
    from analytics.ingest import MAPPING_KEYS

    at = app("data").run()
    _upload(at, "clinic.csv", GENERIC_CSV)
    mapping = at.dataframe(key="map_clinic.csv").value
    assert mapping["canonical column"].tolist() == list(MAPPING_KEYS)
    assert "drug_class" not in set(mapping["canonical column"])
