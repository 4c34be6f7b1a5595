"""The Data page: upload, mapping, ingest report, errors; the patient-view switch."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.ingest import MAPPING_KEYS
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
    assert [e.label for e in at.expander][0] == "**clinic.csv** · Clinic file · treatment events"
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


def test_file_without_patient_column_shows_an_error_and_cannot_be_saved(app):
    at = app("data").run()
    _upload(at, "bad.csv", b"Visit date,CPT\n2024-01-05,97110\n2024-01-09,97110\n")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Required column(s) not found: Patient (pseudonym). Pick them below."]
    assert at.button(key="save").disabled
    assert not at.success
    # The error does not hide the rest of the page: the datasets are still listed.
    assert "Sample clinic" in _datasets(at)["name"].tolist()
    assert "bad" not in _datasets(app("data").run())["name"].tolist()


UNGUESSED = b"""Who,Visit date,CPT
A1,2024-01-05,97110
B2,2024-01-06,97110
"""


def test_the_missing_column_error_clears_once_the_column_is_picked(app):
    at = app("data").run()
    _upload(at, "who.csv", UNGUESSED)
    assert [e.value for e in at.error] == [
        "Required column(s) not found: Patient (pseudonym). Pick them below."]
    assert at.button(key="save").disabled
    row = MAPPING_KEYS.index("patient_id")
    at.session_state["map_who.csv"] = {"edited_rows": {row: {"file column": "Who"}},
                                       "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert not at.error
    assert not at.button(key="save").disabled
    at.button(key="save").click().run()
    assert [s.value for s in at.success] == ["Created dataset **who** with 2 events."]


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
    assert [e.label for e in at.expander] == ["**twice.csv** · Clinic file · treatment events"]
    at.button(key="save").click().run()
    assert not at.exception
    assert at.text_input(key="new_name").value == "twice"
    assert [s.value for s in at.success] == ["Created dataset **twice** with 3 events."]


# --- values PainPath does not know: the value mapping flow -------------------------------------

GERMAN = """Patienten-ID;Datum;Behandlung;Medikament
P1;05.01.2023;Physiotherapie;
P1;06.01.2023;Rückenschule;
P1;07.01.2023;Rückenschule;
P2;08.01.2023;Medikament;Oxycodon 5 mg
P2;09.01.2023;Medikament;Novaminsulfon 500 mg
P3;10.01.2023;PRT;
""".encode("cp1252")
# Physiotherapie and Oxycodon classify through the starter table; Rückenschule (2 rows) and
# PRT (1 row) are labels PainPath does not know, Novaminsulfon a drug it does not know.


def _table(at, *columns: str):
    """The (first) table on the page with these columns."""
    return next(d.value for d in at.dataframe if list(d.value.columns[:len(columns)])
                == list(columns))


def _edit(at, key: str, edits: dict[int, dict[str, str]]) -> None:
    at.session_state[key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}


def test_unknown_values_are_mapped_and_the_map_is_saved_with_the_dataset(app, data_dir):
    from analytics.store import Store

    at = app("data").run()
    _upload(at, "praxis.csv", GERMAN)
    assert not at.exception
    assert [s.value for s in at.subheader][:3] == [
        "1 · Check what was recognised", "2 · Where to save", "3 · Values PainPath does not know"]
    labels = at.dataframe(key="values_technique").value
    assert labels[["value", "rows", "now"]].values.tolist() == [
        ["Rückenschule", 2, "2 rows rejected"], ["PRT", 1, "1 row rejected"]]
    drugs = at.dataframe(key="values_description").value
    assert drugs[["value", "rows", "now"]].values.tolist() == [
        ["Novaminsulfon 500 mg", 1, "1 row not relevant"]]
    _edit(at, "values_technique", {0: {"maps to": "physical_therapy"},
                                   1: {"maps to": "epidural_steroid"}})
    _edit(at, "values_description", {0: {"maps to": "not_relevant"}})
    at.text_input(key="new_name").set_value("Praxis").run()
    at.button(key="save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Created dataset **Praxis** with 5 events."]
    shown = metrics(at)
    assert (shown["Accepted"], shown["Rejected"], shown["Not relevant"]) == ("5", "0", "1")
    assert not any("Values PainPath did not know" in m.value for m in at.markdown)
    with Store(data_dir) as store:
        did = store.find_dataset("Praxis")
        saved = store.load_value_map(did)
        events = store.load_events(did)
    assert saved.values.tolist() == [["technique", "Rückenschule", "physical_therapy"],
                                     ["technique", "PRT", "epidural_steroid"],
                                     ["description", "Novaminsulfon 500 mg", "not_relevant"]]
    assert sorted(events["technique"].astype(str)) == [
        "injection", "narcotic", "physical_therapy", "physical_therapy", "physical_therapy"]

    # a later file added to the dataset: the saved map applies, nothing left to map
    at = app("data").run()
    more = "Patienten-ID;Datum;Behandlung\nP4;11.01.2023;Rückenschule\n".encode("cp1252")
    _upload(at, "mehr.csv", more)
    at.radio(key="save_action").set_value("Add to a dataset").run()
    at.selectbox(key="target_dataset").set_value("Praxis").run()
    assert not at.exception
    assert "3 · Values PainPath does not know" not in [s.value for s in at.subheader]
    assert any("The value map saved with **Praxis** (3 values) applies" in c.value
               for c in at.caption)
    at.button(key="save").click().run()
    assert [s.value for s in at.success] == [
        "Added 1 new event to **Praxis** (0 were already there)."]


def test_the_save_button_waits_for_a_readable_upload(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value(
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "photo.csv: not a text export (a PNG image); expected CSV/TSV text, an .xlsx "
        "workbook or a Parquet file"]
    assert "save" not in [b.key for b in at.button]
    _upload(at, "header.csv", b"Patient,Visit date,CPT\n")
    assert [e.value for e in at.error] == [
        "header.csv: no rows (the file has column names but no records)"]


def test_an_empty_file_in_a_batch_is_skipped_and_the_others_saved(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value([
        ("clinic.csv", GENERIC_CSV, "text/csv"), ("empty.csv", b"", "text/csv")]).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Skipped: empty.csv: the file is empty (no header line with column names)"]
    at.text_input(key="new_name").set_value("Batch").run()
    at.button(key="save").click().run()
    assert [s.value for s in at.success] == ["Created dataset **Batch** with 3 events."]
    files = _table(at, "file", "what")
    assert files[["file", "what"]].values.tolist() == [
        ["clinic.csv", "Clinic file · treatment events"], ["empty.csv", "skipped"]]


IDENTIFYING = b"""Patient ID,Service Date,Treatment Type,Vorname,Nachname,PLZ,Pt Full Name,Kontakt
P1,2024-01-05,Physical Therapy,Anna,Meier,50667,Anna Meier,+49 221 1234567
P2,2024-01-06,Yoga,Hans,Schmidt,50668,Hans Schmidt,0171-1234567
"""


def test_refused_identifiers_stay_visible_and_never_reach_the_downloads(app):
    at = app("data").run()
    _upload(at, "ids.csv", IDENTIFYING)
    warnings = [w.value for w in at.warning]
    assert warnings == ["**ids.csv**: refused as identifiers, never stored: Vorname, Nachname, "
                        "PLZ, Pt Full Name, Kontakt"]
    at.text_input(key="new_name").set_value("IDs").run()
    at.button(key="save").click().run()
    assert not at.exception
    assert warnings[0] in [w.value for w in at.warning]  # in the report too, not folded away
    keys = [d.key for d in at.get("download_button")]
    assert keys == ["dl_rejected"]
    files = _table(at, "file", "what")
    assert files["columns not kept"].tolist() == [
        "refused: Vorname, Nachname, PLZ, Pt Full Name, Kontakt"]


def test_not_relevant_rows_can_be_downloaded(app):
    at = app("data").run()
    text = GENERIC_CSV + b"C3,2024-03-02,90686,Influenza vaccine,DRZ\n"
    _upload(at, "vaccine.csv", text)
    at.text_input(key="new_name").set_value("Vaccine").run()
    at.button(key="save").click().run()
    assert [d.key for d in at.get("download_button")] == ["dl_rejected", "dl_not_relevant"]
    reasons = [d.value for d in at.dataframe if list(d.value.columns) == [
        "file", "reason", "rows"]][-1]
    assert reasons.values.tolist() == [["vaccine.csv", "not pain management", 1]]


SYNTHEA_PATIENTS = b"""Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,RACE,GENDER
s1,1970-01-01,,999-99-9999,Ann,Doe,white,F
s2,1960-05-05,,999-99-9998,Bob,Roe,white,M
"""
SYNTHEA_MEDICATIONS = b"""START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,DISPENSES
2020-01-02T10:00:00Z,2020-01-20T10:00:00Z,s1,pay,e1,1049621,Oxycodone 5 MG Oral Tablet,1
"""


def test_the_report_explains_accepted_rows_and_saved_events(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value([
        ("patients.csv", SYNTHEA_PATIENTS, "text/csv"),
        ("medications.csv", SYNTHEA_MEDICATIONS, "text/csv")]).run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert labels == ["**patients.csv** · Synthea · patients",
                      "**medications.csv** · Synthea · medications"]
    at.text_input(key="new_name").set_value("Synthea two").run()
    at.button(key="save").click().run()
    assert [s.value for s in at.success] == ["Created dataset **Synthea two** with 1 event."]
    assert any(m.value.startswith("Of the 3 accepted rows, 1 is a treatment event, saved as "
                                  "events.") for m in at.markdown)
    roles = _table(at, "rows", "accepted", "read for")
    assert roles.values.tolist() == [["patients", 2, "sex, birth year and death date of each "
                                      "patient"]]


def test_no_machine_names_on_the_page(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value([
        ("patients.csv", SYNTHEA_PATIENTS, "text/csv"),
        ("medications.csv", SYNTHEA_MEDICATIONS, "text/csv"),
        ("praxis.csv", GERMAN, "text/csv")]).run()
    at.text_input(key="new_name").set_value("Labels").run()
    at.button(key="save").click().run()
    texts = [e.label for e in at.expander] + [m.value for m in at.markdown] + [
        c.value for c in at.caption] + [w.value for w in at.warning] + [
        s.value for s in at.subheader]
    for d in at.dataframe:
        if "file column" in d.value.columns or "maps to" in d.value.columns:
            continue  # editors: their keys are machine names, their labels are human
        if "Patienten-ID" in d.value.columns or "patient_id" in d.value.columns:
            continue  # previews and raw values are the file's own
        texts += [str(v) for v in d.value.to_numpy().ravel()]
    joined = " ".join(texts)
    for machine in ("physical_therapy", "not_used", "synthea ", "generic", "not_relevant",
                    "epidural_steroid", "diagnosis_column"):
        assert machine not in joined, machine
    # and no "1 rows" / "1 days"
    assert " 1 rows" not in joined and " 1 days" not in joined


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
    at = app("data").run()
    _upload(at, "clinic.csv", GENERIC_CSV)
    mapping = at.dataframe(key="map_clinic.csv").value
    assert mapping["canonical column"].tolist() == list(MAPPING_KEYS)
    assert "drug_class" not in set(mapping["canonical column"])
