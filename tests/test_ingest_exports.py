"""Integration tests of analytics.ingest on the real-format exports in ../shared/exports
(Synthea CSV and OMOP CDM 5.4; see that folder's README).  Skipped only when the folder
is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analytics.ingest import ingest

EXPORTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "exports"
pytestmark = pytest.mark.skipif(not EXPORTS.is_dir(), reason="../shared/exports is absent")

SYNTHEA = ["synthea-105", "synthea-27"]
ALL = [*SYNTHEA, "omop-synthea27nj"]

# every direct identifier of Synthea's patients.csv (HIPAA Safe Harbor), plus the
# birth/death dates (a birth date is kept as its year only)
SYNTHEA_IDENTIFIERS = {
    "synthea-105": [
        "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "MIDDLE",
        "LAST", "SUFFIX", "MAIDEN", "BIRTHPLACE", "ADDRESS", "CITY", "COUNTY", "FIPS", "ZIP",
        "LAT", "LON",
    ],
    "synthea-27": [
        "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST",
        "SUFFIX", "MAIDEN", "BIRTHPLACE", "ADDRESS", "CITY", "COUNTY", "ZIP", "LAT", "LON",
    ],
}  # fmt: skip


@pytest.fixture(scope="module", params=ALL)
def export(request):
    return request.param, ingest(EXPORTS / request.param)


def _file(result, name):
    return next(f for f in result.report.files if f.name.lower() == name.lower())


def test_ingests_without_manual_mapping_and_adds_up(export):
    name, result = export
    assert len(result.events) > 0
    for f in result.report.files:
        assert f.rows_read == f.accepted + f.rejected + f.not_relevant + f.duplicates, f.name
        assert f.rows_read > 0
    json.dumps(result.report.to_dict())
    formats = {f.format for f in result.report.files}
    assert formats == ({"omop"} if name.startswith("omop") else {"synthea"})


def test_opioid_analgesic_orders_become_narcotic_events(export):
    _, result = export
    narcotic = result.events.loc[result.events["technique"] == "narcotic", "detail"]
    text = narcotic.str.lower()
    assert text.str.contains("oxycodone").any()
    assert text.str.contains("hydrocodone").any()
    # nothing given during anaesthesia or for opioid use disorder is a narcotic course
    for word in ("naloxone", "remifentanil", "sufentanil", "alfentanil", "inject"):
        assert not text.str.contains(word).any(), word


def test_anaesthesia_and_oud_products_are_not_relevant():
    result = ingest(EXPORTS / "synthea-105")
    meds = _file(result, "medications.csv")
    assert meds.not_relevant_by_reason["opioid use-disorder or reversal product"] == 12
    # remifentanil 3 + sufentanil 1 + alfentanil 2 (named anaesthesia opioids)
    assert meds.not_relevant_by_reason["anaesthesia opioid"] == 6
    # 2 ML morphine sulfate 1 MG/ML Injection
    assert meds.not_relevant_by_reason["anaesthesia / procedural opioid injection"] == 1
    details = set(result.events["detail"].dropna())
    assert "buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet" not in details
    assert "2 ML morphine sulfate 1 MG/ML Injection" not in details
    # the 72-hour fentanyl patch is a narcotic (transdermal)
    patch = result.events["detail"] == "72 HR Fentanyl 0.025 MG/HR Transdermal System"
    assert patch.sum() == 22
    assert set(result.events.loc[patch, "technique"]) == {"narcotic"}


def test_movement_therapy_is_physical_therapy():
    result = ingest(EXPORTS / "synthea-105")
    ev = result.events
    movement = ev["detail"] == "Movement therapy (regime/therapy)"
    assert movement.sum() == 10
    assert set(ev.loc[movement, "technique"]) == {"physical_therapy"}
    careplan = ev["detail"] == "Physiotherapy care plan (record artifact)"
    assert careplan.sum() == 20
    assert set(ev.loc[careplan, "technique"]) == {"physical_therapy"}
    # the labour epidural is not a spinal injection
    assert (ev["technique"] == "injection").sum() == 0
    assert _file(result, "procedures.csv").not_relevant_by_reason[
        "labour / anaesthesia epidural (not a back-pain injection)"
    ] == 3


@pytest.mark.parametrize("name", SYNTHEA)
def test_every_direct_identifier_of_patients_csv_is_refused(name):
    result = ingest(EXPORTS / name)
    patients = _file(result, "patients.csv")
    assert patients.refused_columns == SYNTHEA_IDENTIFIERS[name]
    raw = pd.read_csv(EXPORTS / name / "patients.csv", dtype=str)
    dump = json.dumps(result.report.to_dict()) + result.rejected.to_csv()
    dump += result.events.astype("string").to_csv()
    for column in ("SSN", "LAST", "ADDRESS", "PASSPORT"):
        values = raw[column].dropna().head(5)
        for value in values:
            assert value not in dump, (column, value)


@pytest.mark.parametrize("name", SYNTHEA)
def test_patients_give_sex_and_birth_year(name):
    result = ingest(EXPORTS / name)
    raw = pd.read_csv(EXPORTS / name / "patients.csv", dtype=str).set_index("Id")
    ev = result.events
    first = ev.iloc[0]
    assert first["sex"] == raw.loc[first["patient_id"], "GENDER"]
    assert first["birth_year"] == int(raw.loc[first["patient_id"], "BIRTHDATE"][:4])
    assert _file(result, "patients.csv").accepted == len(raw)


def test_synthea_dates_and_stop_dates():
    result = ingest(EXPORTS / "synthea-105")
    ev = result.events
    # START/STOP timestamps with a zone become the calendar dates as written
    row = ev[(ev["detail"] == "tramadol hydrochloride 50 MG Oral Tablet")].sort_values(
        "event_date"
    )
    assert (row["event_date"].dt.normalize() == row["event_date"]).all()
    meds = pd.read_csv(EXPORTS / "synthea-105" / "medications.csv", dtype=str)
    tram = meds[meds["DESCRIPTION"] == "tramadol hydrochloride 50 MG Oral Tablet"]
    first = tram.sort_values("START").iloc[0]
    got = row.iloc[0]
    assert got["event_date"] == pd.Timestamp(first["START"][:10])
    if isinstance(first["STOP"], str):
        assert got["end_date"] == pd.Timestamp(first["STOP"][:10])
    open_orders = ev["open_order"] & ev["technique"].isin(["narcotic"])
    assert (ev.loc[open_orders, "end_date"].isna()).all()


def test_conditions_give_back_pain_diagnoses():
    result = ingest(EXPORTS / "synthea-105")
    conditions = _file(result, "conditions.csv")
    raw = pd.read_csv(EXPORTS / "synthea-105" / "conditions.csv", dtype=str)
    lbp = raw["DESCRIPTION"].str.contains("back pain|Chronic pain", case=False)
    assert conditions.accepted == int(lbp.sum())
    with_dx = result.events["diagnosis"].dropna()
    assert len(with_dx) > 0
    assert with_dx.str.contains("pain", case=False).all()


def test_omop_concepts_name_the_drugs():
    result = ingest(EXPORTS / "omop-synthea27nj")
    ev = result.events
    narcotic = ev[ev["technique"] == "narcotic"]
    assert (narcotic["detail"] == "72 HR fentanyl 0.025 MG/HR Transdermal System").sum() == 10
    assert (narcotic["detail"] == "tramadol hydrochloride 50 MG Oral Tablet").sum() == 10
    assert _file(result, "CONCEPT.csv").accepted == 2294
    person = _file(result, "PERSON.csv")
    assert person.refused_columns == ["month_of_birth", "day_of_birth", "birth_datetime"]
    assert person.accepted == 28
    assert set(ev["sex"].dropna()) <= {"F", "M"}
    assert ev["birth_year"].notna().all()
