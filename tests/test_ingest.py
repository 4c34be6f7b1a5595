"""Tests of analytics.ingest (and its readers): formats, mapping, classification,
validation, PHI guard, duplicates, open orders, report arithmetic."""

from __future__ import annotations

import csv
import io
import json
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import schema
from analytics.ingest import IngestError, classify, detect, ingest

GENERIC = (
    "Patient ID,Service Date,Treatment Type,Description,Days Supply\n"
    "P1,2023-01-05,Physical Therapy,Therapeutic exercise,\n"
    "P1,2023-02-01,Opioid,Oxycodone 5 MG Oral Tablet,30\n"
    "P2,2023-03-10,ESI,Lumbar epidural,\n"
)


def write(tmp_path, name, data: bytes | str, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def assert_adds_up(result):
    for f in result.report.files:
        assert f.rows_read == f.accepted + f.rejected + f.not_relevant + f.duplicates, f


# --- readers ---------------------------------------------------------------------------------


def check_generic(result):
    ev = result.events
    assert list(ev["patient_id"]) == ["P1", "P1", "P2"]
    assert list(ev["event_date"]) == [day("2023-01-05"), day("2023-02-01"), day("2023-03-10")]
    assert list(ev["technique"]) == ["physical_therapy", "narcotic", "injection"]
    assert ev["injection_type"].iloc[2] == "epidural_steroid"
    assert ev["days_supply"].iloc[1] == 30
    assert_adds_up(result)


def test_utf8_plain(tmp_path):
    check_generic(ingest(write(tmp_path, "a.csv", GENERIC)))


def test_utf8_with_bom(tmp_path):
    res = ingest(write(tmp_path, "a.csv", b"\xef\xbb\xbf" + GENERIC.encode()))
    check_generic(res)
    assert res.report.files[0].mapping["patient_id"] == "Patient ID"  # BOM not in the name


def test_utf16_with_bom_tab_delimited(tmp_path):
    text = GENERIC.replace(",", "\t")
    check_generic(ingest(write(tmp_path, "a.txt", text.encode("utf-16"))))


def test_latin1_with_accents(tmp_path):
    text = (
        "Patient ID;Service Date;Treatment Type;Description;Site\n"
        "P1;2023-01-05;Physical Therapy;Rééducation;Clinique Genève\n"
    )
    res = ingest(write(tmp_path, "a.csv", text.encode("latin-1")))
    ev = res.events
    assert ev["site"].iloc[0] == "Clinique Genève"
    assert ev["detail"].iloc[0] == "Rééducation"
    assert ev["technique"].iloc[0] == "physical_therapy"


def test_semicolon_delimiter(tmp_path):
    check_generic(ingest(write(tmp_path, "a.csv", GENERIC.replace(",", ";"))))


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    text = (
        "Patient ID,Service Date,Description\n"
        'P1,2023-01-05,"Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG, tablets"\n'
        'P2,2023-01-06,"Therapeutic exercise,\nfirst visit"\n'
        'P3,2023-01-07,"Cyclobenzaprine ""Flexeril"" 10 MG"\n'
    )
    res = ingest(write(tmp_path, "a.csv", text))
    ev = res.events
    assert list(ev["patient_id"]) == ["P1", "P2", "P3"]
    assert ev["detail"].iloc[0] == "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG, tablets"
    assert ev["detail"].iloc[1] == "Therapeutic exercise,\nfirst visit"
    assert ev["detail"].iloc[2] == 'Cyclobenzaprine "Flexeril" 10 MG'
    assert list(ev["technique"]) == ["narcotic", "physical_therapy", "muscle_relaxant"]


def test_xlsx_with_excel_serial_and_date_cells(tmp_path):
    import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Patient ID", "Service Date", "Treatment Type"])
    ws.append(["P1", 44927, "PT"])  # serial 44927 = 2023-01-01 (1900 date system)
    ws.append(["P2", datetime.datetime(2023, 3, 4), "Opioid"])
    buf = io.BytesIO()
    wb.save(buf)
    res = ingest(("clinic.xlsx", buf.getvalue()))
    ev = res.events
    assert list(ev["event_date"]) == [day("2023-01-01"), day("2023-03-04")]
    assert list(ev["technique"]) == ["physical_therapy", "narcotic"]


def test_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "event_date": pd.to_datetime(["2023-01-05", "2023-02-06"]),
            "technique": ["muscle_relaxant", "surgery"],
            "days_supply": [14.0, np.nan],
        }
    )
    path = tmp_path / "x.parquet"
    frame.to_parquet(path)
    ev = ingest(path).events
    assert list(ev["event_date"]) == [day("2023-01-05"), day("2023-02-06")]
    assert list(ev["technique"]) == ["muscle_relaxant", "surgery"]
    assert ev["days_supply"].iloc[0] == 14 and np.isnan(ev["days_supply"].iloc[1])


def test_uploaded_bytes_pair():
    check_generic(ingest(("upload.csv", GENERIC.encode())))


def test_folder_means_every_export_file(tmp_path):
    write(tmp_path, "one.csv", GENERIC)
    write(tmp_path, "two.csv", GENERIC.replace("P1", "P9"))
    write(tmp_path, "readme.md", "not an export")
    res = ingest(tmp_path)
    assert [f.name for f in res.report.files] == ["one.csv", "two.csv"]
    assert len(res.events) == 6


# --- mapping ---------------------------------------------------------------------------------


def test_synonyms_are_recognised(tmp_path):
    text = "subject_id,fill_date,DRUG NAME,days-supply,Qty\nS1,03/15/2022,Tramadol 50 MG,10,40\n"
    res = ingest(write(tmp_path, "a.csv", text))
    f = res.report.files[0]
    assert f.mapping == {
        "patient_id": "subject_id",
        "event_date": "fill_date",
        "days_supply": "days-supply",
        "detail": "DRUG NAME",
        "quantity": "Qty",
    }
    ev = res.events
    assert ev["event_date"].iloc[0] == day("2022-03-15")
    assert ev["technique"].iloc[0] == "narcotic"
    assert ev["quantity"].iloc[0] == 40


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("Patienten-ID;Datum;Behandlung;Medikament;Tage", ";"),
        ("ID patient;Date de l'acte;Traitement;Médicament;Jours", ";"),
        ("ID paciente,Fecha,Tratamiento,Medicamento,Días", ","),
    ],
)
def test_headers_in_german_french_and_spanish(header, delimiter):
    row = delimiter.join(["P1", "13.02.2023", "Opioid", "Tramadol 50 MG Oral Tablet", "30"])
    res = ingest(("clinic.csv", f"{header}\r\n{row}\r\n".encode("cp1252")))
    f = res.report.files[0]
    assert dict(zip(f.mapping.values(), f.mapping.keys(), strict=True)) == dict(
        zip(header.split(delimiter), ["patient_id", "event_date", "technique", "detail",
                                      "days_supply"], strict=True)
    )  # fmt: skip
    ev = res.events
    assert (ev["patient_id"].iloc[0], ev["event_date"].iloc[0]) == ("P1", day("2023-02-13"))
    assert (ev["technique"].iloc[0], ev["days_supply"].iloc[0]) == ("narcotic", 30)


def test_day_month_order_is_decided_per_column_and_noted(tmp_path):
    text = "Patient ID,Service Date,Treatment Type\nP1,01/02/2023,PT\nP2,03/04/2023,PT\n"
    res = ingest(write(tmp_path, "us.csv", text))
    assert list(res.events["event_date"]) == [day("2023-01-02"), day("2023-03-04")]
    assert "2 with / or - read month first (MM/DD/YYYY)" in " ".join(res.report.files[0].notes)
    text += "P3,13/04/2023,PT\n"  # a day over 12 first: the whole column is day first
    res = ingest(write(tmp_path, "uk.csv", text))
    assert list(res.events["event_date"]) == [
        day("2023-02-01"), day("2023-04-03"), day("2023-04-13")
    ]
    assert "dates in 'Service Date' read day first" in " ".join(res.report.files[0].notes)


def test_a_damaged_file_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "a.csv", "Patient ID,Service Date,Diagnose\nP1,2023-01-05,R\ufffdcken\n")
    for fn in (ingest, detect):
        with pytest.raises(IngestError, match=r"a.csv: holds the replacement character U\+FFFD "
                                              r"\(line 2\)"):  # fmt: skip
            fn(path)


def test_explicit_mapping_overrides_the_guess(tmp_path):
    text = "Patient ID,Service Date,Order Date,Kind\nP1,2023-01-05,2022-12-20,PT\n"
    path = write(tmp_path, "a.csv", text)
    guess = ingest(path, mapping={"a.csv": {"technique": "Kind"}})
    assert guess.events["event_date"].iloc[0] == day("2023-01-05")
    assert guess.report.files[0].mapping["event_date"] == "Service Date"
    res = ingest(path, mapping={"a.csv": {"event_date": "Order Date", "technique": "Kind"}})
    assert res.events["event_date"].iloc[0] == day("2022-12-20")
    assert res.report.files[0].mapping["technique"] == "Kind"


def test_explicit_mapping_can_remove_a_guess(tmp_path):
    text = "Patient ID,Service Date,Treatment Type,Site\nP1,2023-01-05,PT,North\n"
    res = ingest(write(tmp_path, "a.csv", text), mapping={"a.csv": {"site": ""}})
    assert res.events["site"].isna().all()


def test_missing_required_column_message(tmp_path):
    path = write(tmp_path, "a.csv", "Patient ID,Treatment Type\nP1,PT\n")
    with pytest.raises(IngestError) as err:
        ingest(path)
    msg = str(err.value)
    assert "event_date" in msg and "Patient ID, Treatment Type" in msg and "a.csv" in msg
    assert "\n" not in msg


def test_mapping_to_absent_column_is_an_error(tmp_path):
    path = write(tmp_path, "a.csv", GENERIC)
    with pytest.raises(IngestError, match="'Visit' mapped to event_date is not in the file"):
        ingest(path, mapping={"a.csv": {"event_date": "Visit"}})


def test_mapping_to_a_refused_column_is_an_error(tmp_path):
    path = write(tmp_path, "a.csv", "MRN,Service Date,Treatment Type\n123,2023-01-01,PT\n")
    with pytest.raises(IngestError, match="refused as PHI"):
        ingest(path, mapping={"a.csv": {"patient_id": "MRN"}})


def test_detect_reads_a_plan(tmp_path):
    text = "Patient ID,Patient Name,Service Date,Treatment Type\nP1,Ann Smith,2023-01-05,PT\n"
    [plan] = detect(write(tmp_path, "a.csv", text))
    assert plan.format == "generic" and plan.role == "events"
    assert plan.columns == ["Patient ID", "Patient Name", "Service Date", "Treatment Type"]
    assert plan.refused_columns == ["Patient Name"]
    assert plan.missing_required == []
    assert list(plan.preview.columns) == ["Patient ID", "Service Date", "Treatment Type"]
    [plan2] = detect(write(tmp_path, "b.csv", "Patient ID,Treatment Type\nP1,PT\n"))
    assert plan2.missing_required == ["event_date"]


# --- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "technique", "injection_type"),
    [
        ("Physical Therapy", "physical_therapy", ""),
        ("PT", "physical_therapy", ""),
        ("Opioid", "narcotic", ""),
        ("Narcotic", "narcotic", ""),
        ("Muscle Relaxant", "muscle_relaxant", ""),
        ("ESI", "injection", "epidural_steroid"),
        ("Epidural", "injection", "epidural_steroid"),
        ("Trigger Point Injection", "injection", "trigger_point"),
        ("Facet", "injection", "facet"),
        ("RFA", "injection", "radiofrequency_ablation"),
        ("Surgery", "surgery", ""),
        ("Acupuncture", "other", ""),
    ],
)
def test_classify_technique_labels(label, technique, injection_type):
    assert classify(label)[:2] == (technique, injection_type)


@pytest.mark.parametrize(
    ("code", "technique", "injection_type"),
    [
        ("97110", "physical_therapy", ""),
        ("97112", "physical_therapy", ""),
        ("97140", "physical_therapy", ""),
        ("97163", "physical_therapy", ""),
        ("97530", "physical_therapy", ""),
        ("62323", "injection", "epidural_steroid"),
        ("64483", "injection", "epidural_steroid"),
        ("64493", "injection", "facet"),
        ("64635", "injection", "radiofrequency_ablation"),
        ("27096", "injection", "sacroiliac"),
        ("20552", "injection", "trigger_point"),
        ("64450", "injection", "nerve_block"),
        ("63030", "surgery", ""),
        ("63047", "surgery", ""),
        ("22612", "surgery", ""),
        ("22633", "surgery", ""),
        ("64483-50", "injection", "epidural_steroid"),  # modifier ignored
    ],
)
def test_classify_cpt_codes(code, technique, injection_type):
    assert classify(code=code)[:2] == (technique, injection_type)


def test_cpt_shaped_code_outside_the_pain_codes_is_not_relevant():
    assert classify(code="99213")[0] == "not_relevant"  # office visit


@pytest.mark.parametrize(
    ("detail", "technique", "drug_class"),
    [
        ("Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet [Percocet]", "narcotic",
         "opioid"),
        ("Percocet 10/325", "narcotic", "opioid"),
        ("OxyContin 20 MG", "narcotic", "opioid"),
        ("Norco 5-325", "narcotic", "opioid"),
        ("Vicodin", "narcotic", "opioid"),
        ("tramadol hydrochloride 50 MG Oral Tablet", "narcotic", "opioid"),
        ("Nucynta 50 MG", "narcotic", "opioid"),
        ("Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet", "narcotic", "opioid"),
        ("Morphine Sulfate 15 MG Extended Release Oral Tablet", "narcotic", "opioid"),
        ("Dilaudid 2 MG Oral Tablet", "narcotic", "opioid"),
        ("Methadone Hydrochloride 10 MG Oral Tablet", "narcotic", "opioid"),
        ("72 HR Fentanyl 0.025 MG/HR Transdermal System", "narcotic", "opioid"),
        ("Meperidine Hydrochloride 50 MG Oral Tablet", "narcotic", "opioid"),
        # buprenorphine for pain and opioid + antagonist pain products are narcotics
        ("buprenorphine 0.15 MG Buccal Film [Belbuca]", "narcotic", "opioid"),
        ("7 DAY buprenorphine 0.005 MG/HR Transdermal System [Butrans]", "narcotic", "opioid"),
        ("oxycodone hydrochloride 10 MG / naloxone hydrochloride 5 MG Extended Release Oral "
         "Tablet", "narcotic", "opioid"),
        ("morphine sulfate 30 MG / naltrexone hydrochloride 1.2 MG Extended Release Oral "
         "Capsule [Embeda]", "narcotic", "opioid"),
        ("naloxone 0.5 MG / pentazocine 50 MG Oral Tablet", "narcotic", "opioid"),
        ("Cyclobenzaprine Hydrochloride 10 MG Oral Tablet", "muscle_relaxant", "muscle_relaxant"),
        ("Flexeril 5 MG", "muscle_relaxant", "muscle_relaxant"),
        ("Robaxin 750 MG", "muscle_relaxant", "muscle_relaxant"),
        ("tizanidine 4 MG Oral Tablet [Zanaflex]", "muscle_relaxant", "muscle_relaxant"),
        ("Baclofen 10 MG Oral Tablet", "muscle_relaxant", "muscle_relaxant"),
        ("carisoprodol 350 MG Oral Tablet", "muscle_relaxant", "muscle_relaxant"),
        ("Soma 350 MG", "muscle_relaxant", "muscle_relaxant"),
        ("Skelaxin 800 MG", "muscle_relaxant", "muscle_relaxant"),
        ("Orphenadrine Citrate 100 MG ER", "muscle_relaxant", "muscle_relaxant"),
        ("Chlorzoxazone 500 MG", "muscle_relaxant", "muscle_relaxant"),
        # kept only for their drug class (safety measures)
        ("buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet", "other", "oud_treatment"),
        ("Suboxone 8 MG / 2 MG Sublingual Film", "other", "oud_treatment"),
        ("buprenorphine 8 MG Sublingual Tablet", "other", "oud_treatment"),
        ("Methadone Hydrochloride 10 MG/ML Oral Concentrate", "other", "oud_treatment"),
        ("naltrexone 380 MG Injectable Suspension [Vivitrol]", "other", "oud_treatment"),
        ("Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray", "other", "naloxone"),
        ("Diazepam 5 MG Oral Tablet", "other", "benzodiazepine"),  # a benzodiazepine, not an SMR
        ("alprazolam 0.5 MG Oral Tablet [Xanax]", "other", "benzodiazepine"),
        ("gabapentin 300 MG Oral Capsule", "other", "gabapentinoid"),
        ("Lyrica 75 MG", "other", "gabapentinoid"),
        # not relevant: anaesthesia, cough and cold, other drugs
        ("fentanyl 0.05 MG/ML Injectable Solution", "not_relevant", ""),
        ("1 ML Morphine Sulfate 4 MG/ML Injection", "not_relevant", ""),
        ("remifentanil 2 MG Injection", "not_relevant", ""),
        ("5 ML SUFentanil 0.05 MG/ML Injection", "not_relevant", ""),
        ("10 ML Alfentanil 0.5 MG/ML Injection", "not_relevant", ""),
        ("midazolam 1 MG/ML Injectable Solution", "not_relevant", ""),
        ("buprenorphine 0.3 MG/ML Injectable Solution [Buprenex]", "not_relevant", ""),
        ("Promethazine / Codeine Oral Solution", "not_relevant", ""),
        ("Amoxicillin 500 MG Oral Tablet", "not_relevant", ""),
        ("Confirmation of diagnosis (procedure)", "not_relevant", ""),  # "onfi" is not Onfi
    ],
)  # fmt: skip
def test_classify_drug_descriptions(detail, technique, drug_class):
    got = classify(detail=detail)
    assert (got.technique, got.drug_class) == (technique, drug_class)


def test_drug_class_follows_the_technique_label():
    assert classify("Opioid").drug_class == "opioid"
    assert classify("Muscle relaxant").drug_class == "muscle_relaxant"
    assert classify("Other", detail="Diazepam 5 MG Oral Tablet").drug_class == "benzodiazepine"
    assert classify("PT").drug_class == ""


@pytest.mark.parametrize(
    ("code", "detail", "region"),
    [
        ("62321", None, "cervical_thoracic"),
        ("62323", None, "lumbar_sacral"),
        ("64479", None, "cervical_thoracic"),
        ("64484", None, "lumbar_sacral"),
        ("64490", None, "cervical_thoracic"),
        ("64495", None, "lumbar_sacral"),
        ("64633", None, "cervical_thoracic"),
        ("64636", None, "lumbar_sacral"),
        ("27096", None, "lumbar_sacral"),
        ("20552", None, ""),  # trigger points have no spinal region
        ("64483", "Cervical transforaminal injection", "lumbar_sacral"),  # the code wins
        (None, "Transforaminal epidural injection L4-L5", "lumbar_sacral"),
        (None, "Cervical facet joint injection C5-6", "cervical_thoracic"),
        (None, "Interlaminar epidural steroid injection T12-L1", ""),  # both regions
        (None, "Epidural steroid injection", ""),
    ],
)
def test_region_from_the_code_else_the_description(code, detail, region):
    got = classify(code=code, detail=detail)
    assert (got.technique, got.region) == ("injection", region)


@pytest.mark.parametrize(
    ("code", "detail", "technique", "injection_type"),
    [
        ("229064008", "Movement therapy (regime/therapy)", "physical_therapy", ""),
        ("91251008", "Physical therapy procedure (regime/therapy)", "physical_therapy", ""),
        ("773513001", "Physiotherapy care plan (record artifact)", "physical_therapy", ""),
        ("", "Injection of steroid into epidural space", "injection", "epidural_steroid"),
        ("", "Lumbar facet joint injection", "injection", "facet"),
        ("", "Radiofrequency denervation of facet joint", "injection", "radiofrequency_ablation"),
        ("", "Lumbar laminectomy", "surgery", ""),
        ("18946005", "Epidural anesthesia (procedure)", "not_relevant", ""),
        ("", "Dental care (regime/therapy)", "not_relevant", ""),
    ],
)
def test_classify_snomed_descriptions(code, detail, technique, injection_type):
    got = classify(code=code or None, detail=detail, allow_cpt=False, default_not_relevant=True)
    assert got[:2] == (technique, injection_type)


def test_classification_order_label_before_code_before_description():
    assert classify("PT", code="64483", detail="Oxycodone 5 MG")[0] == "physical_therapy"
    assert classify(None, code="64483", detail="Oxycodone 5 MG")[0] == "injection"
    assert classify("Injection", code="64493")[:2] == ("injection", "facet")
    assert classify("Injection", injection_label="SI joint")[:2] == ("injection", "sacroiliac")
    assert classify("Injection")[:2] == ("injection", "other")


def test_unknown_in_generic_but_not_relevant_in_synthea():
    assert classify("Yoga")[0] == "unknown"
    assert classify(detail="Widget")[0] == "unknown"
    assert classify(detail="Widget", default_not_relevant=True)[0] == "not_relevant"
    assert classify("Vaccine")[0] == "not_relevant"


# --- validation ------------------------------------------------------------------------------


def test_each_rejection_reason(tmp_path):
    text = (
        "Patient ID,Service Date,End Date,Treatment Type,Days Supply\n"
        "P1,2023-01-05,,PT,\n"  # accepted
        ",2023-01-05,,PT,\n"  # missing patient id
        "P2,,,PT,\n"  # missing event date
        "P3,2023-13-45,,PT,\n"  # unparseable event date
        "P4,1850-01-01,,PT,\n"  # event date out of range
        "P5,2023-01-05,someday,Opioid,\n"  # unparseable end date
        "P6,2023-01-05,2150-01-01,Opioid,\n"  # end date out of range
        "P7,2023-01-05,2023-01-01,Opioid,\n"  # end before start
        "P8,2023-01-05,,Opioid,ten\n"  # days supply not a number
        "P9,2023-01-05,,Opioid,0\n"  # days supply out of range
        "P10,2023-01-05,,Opioid,400\n"  # days supply out of range
        "P11,2023-01-05,,Yoga,\n"  # unknown technique
        "P12,2023-01-05,,Vaccine,\n"  # not relevant (not rejected)
    )
    res = ingest(write(tmp_path, "a.csv", text))
    f = res.report.files[0]
    assert (f.rows_read, f.accepted, f.rejected, f.not_relevant, f.duplicates) == (13, 1, 11, 1, 0)
    assert f.rejected_by_reason == {
        "missing patient id": 1,
        "missing event date": 1,
        "unparseable event date": 1,
        "event date out of range": 1,
        "unparseable end date": 1,
        "end date out of range": 1,
        "end before start": 1,
        "days supply not a number": 1,
        "days supply out of range": 2,
        "unknown technique": 1,
    }
    rej = res.rejected
    # row numbers as a spreadsheet shows them: the header is row 1, P1 (accepted) row 2
    assert list(rej["row"]) == list(range(3, 14))
    assert rej.loc[rej["row"] == 13, "reason"].item() == "unknown technique"
    assert rej.loc[rej["row"] == 13, "Treatment Type"].item() == "Yoga"
    assert rej.loc[rej["row"] == 9, "reason"].item() == "end before start"
    assert list(rej.columns[:3]) == ["file", "row", "reason"]
    assert set(rej["file"]) == {"a.csv"}


def test_days_supply_ignored_when_an_end_date_gives_the_coverage(tmp_path):
    text = (
        "person_id,drug_exposure_start_date,drug_exposure_end_date,days_supply,drug\n"
        "1,2020-01-01,2021-01-06,371,Tramadol 50 MG Oral Tablet\n"
    )
    res = ingest(write(tmp_path, "a.csv", text))
    ev = res.events
    assert len(ev) == 1 and np.isnan(ev["days_supply"].iloc[0])
    assert ev["end_date"].iloc[0] == day("2021-01-06")
    assert any("ignored" in n for n in res.report.files[0].notes)


def test_same_day_end_is_valid(tmp_path):
    text = "Patient ID,Service Date,End Date,Treatment Type\nP1,2023-01-05,2023-01-05,Opioid\n"
    assert ingest(write(tmp_path, "a.csv", text)).report.accepted == 1


# --- duplicates and open orders --------------------------------------------------------------


def test_duplicates_are_one_event(tmp_path):
    text = (
        "Patient ID,Service Date,Treatment Type,Note ID\n"
        "P1,2023-01-05,PT,a\n"
        "P1,2023-01-05,PT,a\n"
        "P1,2023-01-05,PT,a\n"
        "P1,2023-01-05,PT,b\n"  # differs in one column: not a duplicate
    )
    res = ingest(write(tmp_path, "a.csv", text))
    f = res.report.files[0]
    assert (f.rows_read, f.accepted, f.duplicates) == (4, 2, 2)
    assert len(res.events) == 2


def test_open_orders(tmp_path):
    text = (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,DISPENSES\n"
        "2020-01-28T14:36:08Z,2020-02-13T14:36:08Z,p1,e1,1049221,"
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1\n"
        "2020-03-01T10:00:00Z,,p1,e2,835603,tramadol hydrochloride 50 MG Oral Tablet,3\n"
        "2020-03-01T10:00:00Z,,p1,e2,314076,lisinopril 10 MG Oral Tablet,3\n"
    )
    res = ingest(write(tmp_path, "medications.csv", text))
    ev = res.events
    f = res.report.files[0]
    assert (f.format, f.role) == ("synthea", "medications")
    assert (f.accepted, f.not_relevant) == (2, 1)
    assert list(ev["event_date"]) == [day("2020-01-28"), day("2020-03-01")]
    assert ev["end_date"].iloc[0] == day("2020-02-13")  # STOP = last covered day
    assert pd.isna(ev["end_date"].iloc[1])
    assert list(ev["open_order"]) == [False, True]


def test_no_open_orders_when_no_order_carries_a_stop(tmp_path):
    text = "Patient ID,Service Date,End Date,Drug\nP1,2023-01-05,,Oxycodone 5 MG\n"
    assert not ingest(write(tmp_path, "a.csv", text)).events["open_order"].any()


# --- PHI guard -------------------------------------------------------------------------------


def test_phi_columns_refused_by_name(tmp_path):
    text = (
        "Patient ID,First Name,Last_Name,SSN,MRN,Street Address,ZIP,Phone,E-mail,Notes,"
        "Member ID,Service Date,Treatment Type\n"
        "P1,Ann,Smith,123-45-6789,M0001,1 Main St,02139,555-123-4567,a@b.org,"
        "called,X1,2023-01-05,Yoga\n"
    )
    res = ingest(write(tmp_path, "a.csv", text))
    f = res.report.files[0]
    refused = [
        "First Name", "Last_Name", "SSN", "MRN", "Street Address", "ZIP", "Phone", "E-mail",
        "Notes", "Member ID",
    ]  # fmt: skip
    assert f.refused_columns == refused
    assert res.report.refused_columns == sorted(refused)
    # the row is rejected (unknown technique) and its refused values are nowhere
    assert list(res.rejected.columns) == [
        "file", "row", "reason", "Patient ID", "Service Date", "Treatment Type",
    ]  # fmt: skip
    dump = json.dumps(res.report.to_dict()) + res.rejected.to_csv()
    for secret in ("Ann", "Smith", "123-45-6789", "M0001", "Main St", "02139", "a@b.org"):
        assert secret not in dump


def test_phi_values_refuse_a_column(tmp_path):
    text = (
        "Patient ID,Service Date,Treatment Type,Comment Code,Contact\n"
        "P1,2023-01-05,PT,A1,call 555-123-4567\n"
        "P2,2023-01-06,PT,A2,\n"
    )
    path = write(tmp_path, "a.csv", text)
    res = ingest(path)
    f = res.report.files[0]
    assert f.phi_value_columns == ["Contact"]
    assert f.refused_columns == ["Contact"]
    [plan] = detect(path)
    assert "Contact" not in plan.preview.columns
    text2 = "Patient ID,Service Date,Treatment Type,Site\nP1,2023-01-05,PT,x@y.com\n"
    assert ingest(write(tmp_path, "b.csv", text2)).report.files[0].phi_value_columns == ["Site"]
    text3 = "Patient ID,Service Date,Treatment Type\n123-45-6789,2023-01-05,PT\n"
    with pytest.raises(IngestError, match="patient_id"):
        ingest(write(tmp_path, "c.csv", text3))  # the id column itself is refused


def test_birth_date_becomes_year_and_age_over_89_becomes_90(tmp_path):
    text = (
        "Patient ID,Date of Birth,Service Date,Treatment Type,Age\n"
        "P1,1980-06-15,2023-01-05,PT,\n"
        "P2,1950-02-01,2023-01-05,PT,95\n"
        "P3,,2023-01-05,PT,89\n"
    )
    res = ingest(write(tmp_path, "a.csv", text))
    ev = res.events
    assert res.report.files[0].refused_columns == ["Date of Birth"]
    assert ev["birth_year"].iloc[0] == 1980
    assert ev["age"].iloc[0] == 2023 - 1980  # computed from the birth year
    assert ev["age"].iloc[1] == 90
    assert np.isnan(ev["birth_year"].iloc[1])  # a birth year implying 90+ is dropped
    assert ev["age"].iloc[2] == 89
    assert "1980-06-15" not in res.rejected.to_csv() + json.dumps(res.report.to_dict())


def test_events_conform_to_the_schema(tmp_path):
    ev = ingest(write(tmp_path, "a.csv", GENERIC)).events
    pd.testing.assert_frame_equal(ev, schema.conform(ev))


def test_no_usable_file(tmp_path):
    with pytest.raises(IngestError):
        ingest([])
    with pytest.raises(IngestError, match="not found"):
        ingest(tmp_path / "nope.csv")


# --- property: the report always adds up -----------------------------------------------------

_CELL = st.one_of(
    st.sampled_from(
        ["", " ", "P1", "P2", "2023-01-05", "01/31/2023", "2023-02-30", "1800-01-01", "PT",
         "Opioid", "ESI", "Vaccine", "Yoga", "0", "30", "400", "-1", "abc", "64483", "99213",
         "Oxycodone 5 MG", "naloxone", "é", '"', "a,b", "M54.5", "S93.401A", "Sprain of ankle",
         "Chronic pain", "12345678", "2", "1.5", "L4-L5", "T12-L1", "hip", "2023-01-03",
         "Diazepam 5 MG", "Belbuca"]
    ),  # fmt: skip
    st.text(alphabet=string.printable, max_size=8),
)
_COLUMNS = ["Patient ID", "Service Date", "End Date", "Treatment Type", "Days Supply", "CPT",
            "Indication", "Refills", "Date of Death", "Level", "Diagnosis"]  # fmt: skip


@settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.tuples(*[_CELL] * len(_COLUMNS)), min_size=0, max_size=25))
def test_report_always_adds_up(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=_COLUMNS, dtype=object)
    data = frame.to_csv(index=False, quoting=csv.QUOTE_ALL).encode("utf-8")
    if not rows:  # a header without rows makes no dataset
        with pytest.raises(IngestError, match="gen.csv: no rows"):
            ingest(("gen.csv", data))
        return
    res = ingest(("gen.csv", data))
    f = res.report.files[0]
    assert f.rows_read == len(rows)
    assert f.rows_read == f.accepted + f.rejected + f.not_relevant + f.duplicates
    assert len(res.events) == f.accepted
    assert len(res.rejected) == f.rejected
    assert len(res.not_relevant) == f.not_relevant
    assert sum(f.rejected_by_reason.values()) == f.rejected
    assert sum(f.not_relevant_by_reason.values()) == f.not_relevant
    assert set(res.diagnoses["patient_id"]) <= set(frame["Patient ID"].str.strip())
    pd.testing.assert_frame_equal(res.events, schema.conform(res.events))
    json.dumps(res.report.to_dict())
