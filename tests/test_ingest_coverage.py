"""Tests of analytics.ingest.coverage through ingest: dispense counts, open orders, death
dates closing orders, and the upload report's open-order counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.ingest import ingest

MEDS = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,DISPENSES\n"
HYDRO = "Acetaminophen 300 MG / Hydrocodone Bitartrate 5 MG Oral Tablet"
PATIENTS = "Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,RACE,GENDER\n"


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def synthea(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return ingest(tmp_path)


def test_dispenses_are_read_and_bad_counts_ignored(tmp_path):
    text = MEDS + "".join(
        f"2020-01-0{i}T10:00:00Z,2020-01-2{i}T10:00:00Z,p1,e{i},856999,{HYDRO},{d}\n"
        for i, d in enumerate(["3", "1", "0", "two", "2.5", ""], start=1)
    )
    res = ingest(("medications.csv", text.encode()))
    got = res.events.sort_values("event_date")["dispenses"].tolist()
    assert got[:2] == [3.0, 1.0] and np.isnan(got[2:]).all()
    (f,) = res.report.files
    assert f.accepted == 6  # the row is kept, only its count is ignored
    assert ("dispense count ignored on 3 row(s): 'DISPENSES' is not a whole number >= 1 there"
            in f.notes)  # fmt: skip


def test_refills_plus_one(tmp_path):
    text = (
        "Patient ID,Fill Date,Drug,Days Supply,Refills\n"
        "P1,2023-01-01,Oxycodone 5 MG Oral Tablet,30,2\n"
        "P1,2023-02-01,Oxycodone 5 MG Oral Tablet,30,0\n"
        "P1,2023-03-01,Oxycodone 5 MG Oral Tablet,30,-1\n"
        "P1,2023-04-01,Oxycodone 5 MG Oral Tablet,30,\n"
    )
    res = ingest(("fills.csv", text.encode()))
    assert res.report.files[0].mapping["refills"] == "Refills"
    got = res.events["dispenses"].tolist()
    assert got[:2] == [3.0, 1.0] and np.isnan(got[2:]).all()
    assert any("refill count ignored on 1 row(s)" in n for n in res.report.files[0].notes)


def test_open_orders_are_medication_rows_without_a_stop_date():
    text = MEDS + (
        f"2020-01-28T14:36:08Z,2020-02-13T14:36:08Z,p1,e1,856999,{HYDRO},1\n"
        "2020-03-01T10:00:00Z,,p1,e2,835603,tramadol hydrochloride 50 MG Oral Tablet,3\n"
        "2020-03-01T10:00:00Z,,p1,e2,197591,Diazepam 5 MG Oral Tablet,1\n"  # kept: a class
        "2020-03-01T10:00:00Z,,p1,e2,314076,lisinopril 10 MG Oral Tablet,3\n"  # not relevant
    )
    res = ingest(("medications.csv", text.encode()))
    ev = res.events.sort_values(["event_date", "detail"])
    assert list(ev["open_order"]) == [False, True, True]
    assert list(ev["drug_class"]) == ["opioid", "benzodiazepine", "opioid"]


def _deceased_export(tmp_path):
    patients = PATIENTS + (
        "pA,1950-05-01,2020-03-10,999-11-2222,Ann,Smith,white,F\n"
        "pB,1960-01-01,,999-33-4444,Bob,Jones,white,M\n"
    )
    meds = MEDS + (
        # pA: an open order (3 dispenses would run to 2020-03-31) -> ends at death
        f"2020-01-01T10:00:00Z,,pA,e1,856999,{HYDRO},3\n"
        # pA: closed well before death -> unchanged
        f"2019-01-01T10:00:00Z,2019-02-01T10:00:00Z,pA,e2,856999,{HYDRO},1\n"
        # pA: a stop date after death -> ends at death
        f"2020-02-01T10:00:00Z,2020-12-31T10:00:00Z,pA,e3,856999,{HYDRO},1\n"
        # pB: open, 3 dispenses of 30 days end 2021-04-01, before the extract date
        f"2021-01-01T10:00:00Z,,pB,e4,856999,{HYDRO},3\n"
        # pB: open, 3 dispenses end 2021-08-30, after the extract date 2021-07-15
        f"2021-06-01T10:00:00Z,,pB,e5,856999,{HYDRO},3\n"
        f"2021-07-15T10:00:00Z,2021-07-20T10:00:00Z,pB,e6,856999,{HYDRO},1\n"
    )
    procedures = (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n"
        # pA after death: kept as exported, noted
        "2020-04-01T10:00:00Z,2020-04-01T11:00:00Z,pA,e7,91251008,"
        "Physical therapy procedure (regime/therapy)\n"
    )
    return synthea(tmp_path, {"patients.csv": patients, "medications.csv": meds,
                              "procedures.csv": procedures})  # fmt: skip


def test_death_ends_the_orders_that_run_past_it(tmp_path):
    res = _deceased_export(tmp_path)
    ev = res.events.sort_values(["patient_id", "event_date"]).reset_index(drop=True)
    assert list(ev["event_date"]) == [
        day("2019-01-01"), day("2020-01-01"), day("2020-02-01"), day("2020-04-01"),
        day("2021-01-01"), day("2021-06-01"), day("2021-07-15"),
    ]  # fmt: skip
    assert list(ev["ends_at_death"]) == [False, True, True, False, False, False, False]
    assert ev.loc[1, "end_date"] == day("2020-03-10") and ev.loc[2, "end_date"] == day(
        "2020-03-10"
    )
    assert ev.loc[0, "end_date"] == day("2019-02-01")  # unchanged
    assert ev.loc[3, "end_date"] == day("2020-04-01")  # after death: kept as exported
    assert list(ev["death_year"].fillna(0)) == [2020] * 4 + [0] * 3
    assert res.extract_date == day("2021-07-15")
    meds = next(f for f in res.report.files if f.name == "medications.csv")
    procs = next(f for f in res.report.files if f.name == "procedures.csv")
    assert meds.open_orders == {"dispenses": 1, "death": 1, "extract date": 1}
    assert ("3 medication order(s) without a stop date are open: 1 end with their dispensed "
            "supply, 1 at the patient's death, 1 stay open through the extract date "
            "(2021-07-15)") in meds.notes  # fmt: skip
    assert "2 row(s) run past the patient's death date: they end at death" in meds.notes
    assert ("1 row(s) of 1 patient(s) start after the patient's death date: kept as exported "
            "(check the death dates)") in procs.notes  # fmt: skip


def test_the_death_date_is_kept_only_as_its_year(tmp_path):
    res = _deceased_export(tmp_path)
    patients = next(f for f in res.report.files if f.name == "patients.csv")
    assert "DEATHDATE" in patients.refused_columns
    assert patients.mapping["death_date"] == "DEATHDATE"
    dump = json.dumps(res.report.to_dict()) + res.rejected.to_csv()
    dump += res.events.drop(columns="end_date").to_csv()
    assert "2020-03-10" not in dump and "03/10/2020" not in dump
    # the date survives only as the end of the rows it closed (ends_at_death)
    ends = res.events.loc[res.events["end_date"] == day("2020-03-10"), "ends_at_death"]
    assert len(ends) == 2 and ends.all()


def test_omop_death_table(tmp_path):
    (tmp_path / "death.csv").write_text(
        "person_id,death_date,death_datetime,death_type_concept_id,cause_concept_id\n"
        "1,2015-06-30,,32817,0\n"
        "2,someday,,32817,0\n",
        encoding="utf-8",
    )
    (tmp_path / "drug_exposure.csv").write_text(
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
        "drug_exposure_end_date,days_supply,refills,drug_source_value\n"
        "1,1,1,2015-06-01,2015-07-31,60,0,x\n",
        encoding="utf-8",
    )
    (tmp_path / "concept.csv").write_text(
        "concept_id,concept_name,vocabulary_id,concept_code\n"
        "1,oxycodone hydrochloride 5 MG Oral Tablet,RxNorm,1049621\n",
        encoding="utf-8",
    )
    res = ingest(tmp_path)
    death = next(f for f in res.report.files if f.name == "death.csv")
    assert (death.format, death.role, death.accepted, death.rejected) == ("omop", "death", 1, 1)
    assert death.rejected_by_reason == {"unparseable death date": 1}
    (row,) = res.events.itertuples()
    assert (row.end_date, row.ends_at_death, row.death_year) == (day("2015-06-30"), True, 2015)
    assert row.dispenses == 1  # refills 0 + 1


def test_a_death_date_column_of_a_clinic_export(tmp_path):
    text = (
        "Patient ID,Fill Date,Drug,Days Supply,Date of Death\n"
        "P1,2023-01-01,Oxycodone 5 MG Oral Tablet,30,2023-01-10\n"
        "P1,2023-02-01,Cyclobenzaprine 10 MG Oral Tablet,30,2023-01-10\n"
        "P2,2023-01-01,Oxycodone 5 MG Oral Tablet,30,\n"
    )
    res = ingest(("clinic.csv", text.encode()))
    f = res.report.files[0]
    assert f.refused_columns == ["Date of Death"] and f.mapping["death_date"] == "Date of Death"
    ev = res.events
    assert list(ev["ends_at_death"]) == [True, False, False]
    assert ev["end_date"].iloc[0] == day("2023-01-10")
    assert list(ev["death_year"].fillna(0)) == [2023, 2023, 0]
    assert any("1 row(s) of 1 patient(s) start after" in n for n in f.notes)


@pytest.mark.parametrize("extract", [None, "2020-01-01"])
def test_count_open_orders_without_open_orders(extract):
    from analytics import schema
    from analytics.ingest import coverage

    events = schema.conform(pd.DataFrame({"patient_id": ["a"], "event_date": [day("2020-01-01")],
                                          "technique": ["narcotic"]}))  # fmt: skip
    assert coverage.count_open_orders(events, extract and day(extract)) == {}
