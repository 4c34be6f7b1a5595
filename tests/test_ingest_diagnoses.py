"""Tests of IngestResult.diagnoses, extract_date and population_source
(analytics.ingest.diagnoses, roles), per the ingest -> store -> population contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.ingest import ingest

CONDITIONS = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n"
MEDS = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,DISPENSES\n"


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_synthea_conditions(tmp_path):
    (tmp_path / "conditions.csv").write_text(CONDITIONS + (
        "2015-03-01,,p1,e1,278860009,Chronic low back pain (finding)\n"
        "2012-01-01,,p1,e2,82423001,Chronic pain (finding)\n"
        "2016-05-05,,p2,e3,5602001,Opioid abuse (disorder)\n"
        "2016-05-05,2016-06-01,p2,e4,44465007,Sprain of ankle\n"
        ",,p3,e5,278860009,Chronic low back pain (finding)\n"  # no date: rejected
        "2016-05-05,,,e6,278860009,Chronic low back pain (finding)\n"  # no patient
    ), encoding="utf-8")
    (tmp_path / "medications.csv").write_text(MEDS + (
        "2015-04-01,2015-05-01,p1,e7,1,tramadol hydrochloride 50 MG Oral Tablet,1\n"
        "2016-06-01,2016-07-01,p2,e8,1,tramadol hydrochloride 50 MG Oral Tablet,1\n"
    ), encoding="utf-8")
    res = ingest(tmp_path)
    cond = next(f for f in res.report.files if f.name == "conditions.csv")
    assert (cond.rows_read, cond.accepted, cond.rejected, cond.not_relevant) == (6, 3, 2, 1)
    assert cond.rejected_by_reason == {"missing event date": 1, "missing patient id": 1}
    dx = res.diagnoses.sort_values(["patient_id", "diagnosis_date"]).reset_index(drop=True)
    assert list(dx.columns) == ["patient_id", "diagnosis_date", "code", "description", "kind"]
    assert dx["diagnosis_date"].dtype == "datetime64[s]"
    assert dx.astype(str).values.tolist() == [
        ["p1", "2012-01-01", "82423001", "Chronic pain (finding)", "general_pain"],
        ["p1", "2015-03-01", "278860009", "Chronic low back pain (finding)", "spinal_pain"],
        ["p2", "2016-05-05", "5602001", "Opioid abuse (disorder)", "opioid_use_disorder"],
    ]
    assert res.population_source == "conditions"
    assert res.extract_date == day("2016-06-01")
    # the cohort filter's diagnosis: the first spinal-pain diagnosis (else general pain)
    ev = res.events.set_index("patient_id")
    assert ev.loc["p1", "diagnosis"] == "Chronic low back pain (finding)"
    assert pd.isna(ev.loc["p2", "diagnosis"])


def test_the_diagnosis_column_of_a_clinic_export():
    text = (
        "Patient ID,Service Date,Treatment Type,Diagnosis\n"
        "P1,2023-01-05,PT,M54.50\n"
        "P1,2023-01-12,PT,M54.50\n"
        "P2,2023-02-01,PT,Low back pain\n"
        "P3,2023-03-01,PT,Migraine\n"  # another condition: no diagnosis row
        "P4,2023-03-01,PT,\n"
    )
    res = ingest(("clinic.csv", text.encode()))
    dx = res.diagnoses.sort_values(["patient_id", "diagnosis_date"])
    # one row per patient and diagnosis value, at its first date
    assert dx.astype(str).where(dx.notna(), "").values.tolist() == [
        ["P1", "2023-01-05", "M54.50", "", "spinal_pain"],
        ["P2", "2023-02-01", "", "Low back pain", "spinal_pain"],
    ]
    assert res.population_source == "diagnosis_column"
    assert res.extract_date == day("2023-03-01")


def test_no_diagnosis_data():
    text = "Patient ID,Service Date,Treatment Type\nP1,2023-01-05,PT\n"
    res = ingest(("clinic.csv", text.encode()))
    assert res.population_source == "none"
    assert len(res.diagnoses) == 0 and list(res.diagnoses.columns) == [
        "patient_id", "diagnosis_date", "code", "description", "kind"
    ]


def test_a_generic_diagnoses_file():
    events = "Patient ID,Service Date,Treatment Type\nP1,2023-01-05,PT\n"
    diagnoses = (
        "Patient ID,Date,ICD10,Description\n"
        "P1,2022-12-01,M54.16,Radiculopathy lumbar region\n"
        "P1,2022-12-01,J45.909,Asthma\n"
    )
    res = ingest([("clinic.csv", events.encode()), ("diagnoses.csv", diagnoses.encode())])
    f = next(f for f in res.report.files if f.name == "diagnoses.csv")
    assert (f.format, f.role, f.accepted, f.not_relevant) == ("generic", "diagnoses", 1, 1)
    assert res.diagnoses["code"].tolist() == ["M54.16"]
    assert res.population_source == "conditions"
    assert res.extract_date == day("2023-01-05")


def test_omop_conditions_through_concept(tmp_path):
    (tmp_path / "CONCEPT.csv").write_text(
        "concept_id,concept_name,domain_id,vocabulary_id,concept_code\n"
        "194133,Low back pain,Condition,SNOMED,279039007\n"
        "4112343,Acute viral pharyngitis,Condition,SNOMED,195662009\n",
        encoding="utf-8",
    )
    (tmp_path / "CONDITION_OCCURRENCE.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,"
        "condition_source_value\n"
        "1,7,194133,2019-02-03,279039007\n"
        "2,7,4112343,2019-05-06,195662009\n",
        encoding="utf-8",
    )
    (tmp_path / "PERSON.csv").write_text(
        "person_id,gender_concept_id,year_of_birth\n7,8532,1970\n", encoding="utf-8"
    )
    res = ingest(tmp_path)
    assert res.diagnoses.astype(str).values.tolist() == [
        ["7", "2019-02-03", "279039007", "Low back pain", "spinal_pain"]
    ]
    assert res.population_source == "conditions"
    assert len(res.events) == 0 and res.extract_date == day("2019-02-03")
    assert np.isnan(res.events["birth_year"].to_numpy()).all()
