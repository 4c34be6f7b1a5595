"""Tests of the indication rule at ingest (analytics.ingest.indication): a treatment row
whose reason names another condition is not relevant ("other indication")."""

from __future__ import annotations

import pandas as pd

from analytics.ingest import ingest

CAREPLANS = "Id,START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION\n"
PT = "91251008,Physical therapy procedure"


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_synthea_reasons(tmp_path):
    text = CAREPLANS + (
        f"c1,2023-04-22,2023-05-10,p1,e1,{PT},44465007,Sprain of ankle\n"  # other
        f"c2,2023-04-22,2023-05-10,p2,e2,{PT},278860009,Chronic low back pain (finding)\n"
        f"c3,2023-04-22,2023-05-10,p3,e3,{PT},,\n"  # no reason: counts
        f"c4,2023-04-22,2023-05-10,p4,e4,{PT},82423001,Chronic pain (finding)\n"  # general
        f"c5,2023-04-22,2023-05-10,p5,e5,{PT},239873007,Osteoarthritis of knee\n"  # other
        f"c6,2023-08-01,2023-08-20,p6,e6,{PT},444470001,Injury of medial collateral ligament "
        "of knee (disorder)\n"
    )
    (tmp_path / "careplans.csv").write_text(text, encoding="utf-8")
    res = ingest(tmp_path)
    (f,) = res.report.files
    assert (f.rows_read, f.accepted, f.not_relevant) == (6, 3, 3)
    assert f.not_relevant_by_reason == {"other indication": 3}
    assert f.mapping["reason"] == "REASONDESCRIPTION"
    assert f.mapping["reason_code"] == "REASONCODE"
    ev = res.events
    assert list(ev["patient_id"]) == ["p2", "p3", "p4"]
    assert list(ev["reason"].fillna("")) == [
        "Chronic low back pain (finding)", "", "Chronic pain (finding)"
    ]
    # the extract date counts the rows set aside for their indication (2023-08-01)
    assert res.extract_date == day("2023-08-01")


def test_opioid_use_disorder_reason_and_safety_only_rows(tmp_path):
    text = (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,DISPENSES,REASONCODE,REASONDESCRIPTION\n"
        "2020-01-01,2020-02-01,p1,e1,1,tramadol hydrochloride 50 MG Oral Tablet,1,5602001,"
        "Opioid abuse (disorder)\n"
        "2020-01-01,2020-02-01,p1,e1,2,buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet,"
        "1,5602001,Opioid abuse (disorder)\n"
        "2020-01-01,2020-02-01,p1,e1,3,Diazepam 5 MG Oral Tablet,1,197480006,"
        "Anxiety disorder (disorder)\n"
    )
    (tmp_path / "medications.csv").write_text(text, encoding="utf-8")
    res = ingest(tmp_path)
    (f,) = res.report.files
    # the narcotic is another indication; rows kept only for their class never are
    assert f.not_relevant_by_reason == {"other indication": 1}
    assert list(res.events["drug_class"]) == ["oud_treatment", "benzodiazepine"]


def test_reason_columns_of_a_clinic_export():
    text = (
        "Patient ID,Service Date,Treatment Type,Indication,Reason Code\n"
        "P1,2023-01-05,PT,Knee osteoarthritis,\n"  # another condition: not relevant
        "P2,2023-01-05,PT,,M54.50\n"  # low back pain by code
        "P3,2023-01-05,PT,,S93.401A\n"  # an ICD-10-CM ankle sprain: another indication
        "P4,2023-01-05,PT,,12345678\n"  # an unknown code alone: counted, noted
        "P5,2023-01-05,PT,Lumbago,\n"  # spinal pain by text
        "P6,2023-01-05,PT,,\n"
    )
    res = ingest(("clinic.csv", text.encode()))
    (f,) = res.report.files
    assert f.mapping["reason"] == "Indication" and f.mapping["reason_code"] == "Reason Code"
    assert (f.accepted, f.not_relevant, f.rejected) == (4, 2, 0)
    assert f.not_relevant_by_reason == {"other indication": 2}
    assert list(res.events["patient_id"]) == ["P2", "P4", "P5", "P6"]
    assert list(res.events["reason"].fillna("")) == ["M54.50", "12345678", "Lumbago", ""]
    assert ("1 row(s) counted although PainPath does not know their reason code ('12345678'): "
            "a code alone does not say it is another condition") in f.notes  # fmt: skip
    assert f.rows_read == f.accepted + f.rejected + f.not_relevant + f.duplicates


def test_a_row_set_aside_is_not_validated():
    text = (
        "Patient ID,Service Date,Treatment Type,Indication\n"
        "P1,not a date,PT,Fracture of wrist\n"
    )
    res = ingest(("clinic.csv", text.encode()))
    (f,) = res.report.files
    assert (f.not_relevant, f.rejected) == (1, 0)
    assert res.extract_date is None
