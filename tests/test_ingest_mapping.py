"""Tests of analytics.ingest.mapping: columns found from the words of their headers,
pseudonymised ids, pharmacy and region columns, explicit mappings per file name."""

from __future__ import annotations

import pytest

from analytics import phi
from analytics.ingest import IngestError, detect, ingest


@pytest.mark.parametrize(
    "header", ["patient_id_deid", "pat_id_hash", "PatientID", "MRN_pseudo", "mrn_hash",
               "Person Key", "subject_token", "PAT_ID"],
)  # fmt: skip
def test_patient_ids_from_the_words_of_the_header(header):
    text = f"{header},Service Date,Treatment Type\nA1,2023-01-05,PT\n"
    [plan] = detect(("a.csv", text.encode()))
    assert plan.mapping["patient_id"] == header
    assert plan.refused_columns == []


def test_a_plain_mrn_is_refused_and_cannot_be_the_patient_id():
    assert phi.phi_rule("MRN") == ("medical record number", "refuse")
    assert phi.phi_rule("MRN_pseudo") is None
    assert phi.phi_rule("SSN_hash") == ("ssn", "refuse")  # only MRNs may be pseudonyms
    [plan] = detect(("a.csv", b"MRN,Service Date,Treatment Type\n123,2023-01-05,PT\n"))
    assert plan.refused_columns == ["MRN"] and plan.missing_required == ["patient_id"]


def test_an_epic_style_procedure_export_ingests():
    text = (
        "patient_id_deid,PAT_ENC_CSN_ID,PROC_DATE,PROC_CODE,PROC_NAME,AUTHORIZING_PROV_ID,"
        "DEPARTMENT_NAME,ORDER_STATUS\n"
        "d1,900001,2023-01-05,64483,TRANSFORAMINAL EPIDURAL LUMBAR,P77,SPINE CENTER,Completed\n"
        "d1,900002,2023-03-05,97110,THERAPEUTIC EXERCISE,P78,PT CLINIC,Completed\n"
        "d2,900003,2023-02-01,99213,OFFICE VISIT,P77,SPINE CENTER,Completed\n"
    )
    res = ingest(("epic_procedures.csv", text.encode()))
    (f,) = res.report.files
    assert f.mapping == {
        "patient_id": "patient_id_deid",
        "event_date": "PROC_DATE",
        "code": "PROC_CODE",
        "detail": "PROC_NAME",
        "provider_id": "AUTHORIZING_PROV_ID",
        "site": "DEPARTMENT_NAME",
    }
    assert (f.accepted, f.not_relevant, f.rejected) == (2, 1, 0)
    ev = res.events
    assert list(ev["technique"]) == ["injection", "physical_therapy"]
    assert list(ev["region"].astype(object).fillna("")) == ["lumbar_sacral", ""]
    assert list(ev["provider_id"]) == ["P77", "P78"]


@pytest.mark.parametrize("header", ["Pharmacy", "Pharmacy ID", "NCPDP", "ncpdp_id",
                                    "Pharmacy NPI", "Apotheke"])  # fmt: skip
def test_pharmacy_columns(header):
    text = f"Patient ID,Fill Date,Drug,Days Supply,{header}\nP1,2023-01-05,Oxycodone 5 MG,30,R9\n"
    res = ingest(("fills.csv", text.encode()))
    assert res.report.files[0].mapping["pharmacy_id"] == header
    assert res.events["pharmacy_id"].tolist() == ["R9"]


def test_region_from_a_level_column_after_the_cpt_code():
    text = (
        "Patient ID,Service Date,Treatment Type,CPT,Level\n"
        "P1,2023-01-05,ESI,,L4-L5\n"
        "P1,2023-02-05,ESI,,C5-6\n"
        "P1,2023-03-05,ESI,,lumbar\n"
        "P1,2023-04-05,ESI,64479,L4-5\n"  # the CPT code (cervical/thoracic) wins
        "P1,2023-05-05,ESI,,hip\n"  # not a spinal region
        "P1,2023-06-05,ESI,,T12-L1\n"  # both regions
        "P1,2023-07-05,ESI,,\n"
        "P1,2023-08-05,PT,,L4-L5\n"  # not an injection: no region
    )
    res = ingest(("clinic.csv", text.encode()))
    (f,) = res.report.files
    assert f.mapping["region"] == "Level"
    assert list(res.events["region"].astype(object).fillna("")) == [
        "lumbar_sacral", "cervical_thoracic", "lumbar_sacral", "cervical_thoracic", "", "", "",
        "",
    ]  # fmt: skip
    assert ("spinal region not readable on 2 injection row(s) ('T12-L1', 'hip' in 'Level'): "
            "left missing") in f.notes  # fmt: skip
    assert ("3 injection row(s) without a spinal region (payer limits count them per "
            "injection type)") in f.notes  # fmt: skip


def test_explicit_mapping_per_file_name(tmp_path):
    (tmp_path / "a.csv").write_text("Patient ID,When,Kind\nP1,2023-01-05,PT\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("Patient ID,Service Date,Kind\nP2,2023-02-05,PT\n",
                                    encoding="utf-8")  # fmt: skip
    mapping = {"a.csv": {"event_date": "When", "technique": "Kind"},
               "b.csv": {"technique": "Kind"}}  # fmt: skip
    res = ingest(tmp_path, mapping=mapping)
    assert sorted(res.events["patient_id"]) == ["P1", "P2"]
    assert res.report.files[0].mapping["event_date"] == "When"
    with pytest.raises(IngestError, match="the mapping names file\\(s\\) not given: c.csv"):
        ingest(tmp_path, mapping={"c.csv": {"technique": "Kind"}})
    with pytest.raises(IngestError, match="'when' is not a column PainPath reads"):
        ingest(tmp_path, mapping={"a.csv": {"when": "When"}})


def test_explicit_mapping_of_the_auxiliary_columns():
    text = (
        "Patient ID,Fill Date,Drug,Days Supply,Repeats,Why,Why Code,Died\n"
        "P1,2023-01-05,Oxycodone 5 MG Oral Tablet,30,1,Low back pain,,2023-01-20\n"
    )
    mapping = {"fills.csv": {"refills": "Repeats", "reason": "Why", "reason_code": "Why Code",
                             "death_date": "Died"}}  # fmt: skip
    res = ingest(("fills.csv", text.encode()), mapping=mapping)
    (row,) = res.events.itertuples()
    assert (row.dispenses, row.reason, row.ends_at_death, row.death_year) == (
        2, "Low back pain", True, 2023
    )
    assert "Died" not in res.report.files[0].refused_columns  # not an identifier by name
    # a death date is kept only as its year: never in a preview or the rejected rows
    [plan] = detect(("fills.csv", text.encode()), mapping=mapping)
    assert "Died" not in plan.preview.columns
    bad = text.replace("P1,2023-01-05", "P1,someday")
    rejected = ingest(("fills.csv", bad.encode()), mapping=mapping).rejected
    assert len(rejected) == 1 and "Died" not in rejected.columns
    with pytest.raises(IngestError, match="refused as PHI"):
        ingest(("fills.csv", text.replace("Died", "SSN").encode()),
               mapping={"fills.csv": {"death_date": "SSN"}})  # fmt: skip
