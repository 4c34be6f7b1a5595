"""Uploads a clinic can trust (issue 10, item 3): wrong files in a batch, header-only
files, spreadsheet row numbers, the rows set aside (rejected and not relevant) with their
mapped columns only, the columns dropped as unmapped, and accepted rows per role."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.ingest import IngestError, detect, ingest

CLINIC = b"""Patient ID,Service Date,Treatment Type,Description,Clinic note,Internal flag
P1,2024-01-05,Physical Therapy,Therapeutic exercise,called back,X1
P1,2024-01-20,Opioid,Oxycodone 5 MG Oral Tablet,,X2
P2,,Physical Therapy,Therapeutic exercise,,X3
P2,2024-02-01,Vaccine,Influenza vaccine,,X4
P3,2024-02-03,Yoga,Sun salutation,,X5
"""
# Row 2 P1 PT and row 3 P1 opioid accepted; row 4 rejected (missing event date); row 5 not
# relevant (a vaccine); row 6 rejected (unknown technique "Yoga").  "Clinic note" is
# refused by its name (free text); "Internal flag" is not mapped.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def test_an_empty_file_in_a_batch_is_skipped_and_reported():
    result = ingest([("clinic.csv", CLINIC), ("empty.csv", b""), ("photo.csv", PNG),
                     ("header.csv", b"Patient ID,Service Date,Treatment Type\n")])
    report = result.report
    assert len(result.events) == 2
    assert report.skipped_files == {
        "empty.csv": "empty.csv: the file is empty (no header line with column names)",
        "photo.csv": "photo.csv: not a text export (a PNG image); expected CSV/TSV text, an "
                     ".xlsx workbook or a Parquet file",
        "header.csv": "header.csv: no rows (the file has column names but no records)",
    }
    skipped = [f for f in report.files if f.skipped]
    assert [f.role for f in skipped] == ["skipped"] * 3
    assert all(f.rows_read == 0 and f.adds_up for f in skipped)
    plans = detect([("clinic.csv", CLINIC), ("empty.csv", b"")])
    assert [p.role for p in plans] == ["events", "skipped"]
    assert plans[1].skipped.startswith("empty.csv: the file is empty")


def test_a_batch_where_no_file_can_be_read_is_refused_naming_each():
    with pytest.raises(IngestError) as info:
        ingest([("empty.csv", b""), ("photo.csv", PNG)])
    assert str(info.value) == (
        "none of the files can be used: empty.csv: the file is empty (no header line with "
        "column names); photo.csv: not a text export (a PNG image); expected CSV/TSV text, "
        "an .xlsx workbook or a Parquet file")
    with pytest.raises(IngestError, match="^photo.csv: not a text export"):
        detect([("photo.csv", PNG)])


def test_a_header_only_file_makes_no_dataset():
    with pytest.raises(IngestError, match="^header.csv: no rows"):
        ingest([("header.csv", b"Patient ID,Service Date,Treatment Type\r\n")])


def test_rejected_rows_carry_the_spreadsheet_row_and_mapped_columns_only():
    result = ingest([("clinic.csv", CLINIC)])
    rejected = result.rejected
    assert list(rejected.columns) == ["file", "row", "reason", "Patient ID", "Service Date",
                                      "Treatment Type", "Description"]
    assert list(rejected["row"]) == [4, 6]  # header = row 1
    assert list(rejected["reason"]) == ["missing event date", "unknown technique"]
    assert list(rejected["Patient ID"]) == ["P2", "P3"]
    (f,) = result.report.files
    assert f.dropped_columns == ["Internal flag"]
    assert f.refused_columns == ["Clinic note"]


def test_not_relevant_rows_are_listed_with_their_reason():
    result = ingest([("clinic.csv", CLINIC)])
    rows = result.not_relevant
    assert list(rows.columns) == ["file", "row", "reason", "Patient ID", "Service Date",
                                  "Treatment Type", "Description"]
    assert rows[["file", "row", "reason", "Description"]].values.tolist() == [
        ["clinic.csv", 5, "technique label 'Vaccine'", "Influenza vaccine"]]
    assert len(rows) == result.report.not_relevant == 1


def test_rejected_row_numbers_skip_past_blank_lines():
    text = CLINIC.replace(b"P2,,Physical", b"\nP2,,Physical")  # a blank line before row 4
    result = ingest([("clinic.csv", text)])
    assert list(result.rejected["row"]) == [5, 7]


def test_workbook_rejected_rows_carry_the_sheet_row():
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Patient ID", "Service Date", "Treatment Type"])
    for i in range(350):  # rows 2..351 accepted
        sheet.append([f"P{i}", "2024-01-05", "Physical Therapy"])
    sheet.append([None, None, None])  # row 352 empty
    sheet.append(["P9", "not a date", "Physical Therapy"])  # row 353
    buffer = io.BytesIO()
    book.save(buffer)
    result = ingest([("clinic.xlsx", buffer.getvalue())])
    assert result.rejected[["row", "reason"]].values.tolist() == [
        [353, "unparseable event date"]]


def test_accepted_rows_by_role_and_the_events_they_give(tmp_path):
    files = {
        "patients.csv": "Id,BIRTHDATE,GENDER,RACE\np1,1970-01-01,F,white\np2,1960-05-05,M,white\n",
        "conditions.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n"
                          "2020-01-01,,p1,e1,278860009,Chronic low back pain (finding)\n",
        "medications.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,DISPENSES\n"
                           "2020-01-02,2020-01-20,p1,e1,1049621,Oxycodone 5 MG Oral Tablet,1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    report = ingest(tmp_path).report
    assert report.accepted_by_role == {"conditions": 1, "medications": 1, "patients": 2}
    assert report.accepted == 4
    assert report.event_rows == 1  # patients and conditions rows are accepted, not events
    assert report.to_dict()["accepted_by_role"] == report.accepted_by_role


def test_unknown_values_table_is_empty_without_unknown_values():
    frame = ingest([("clinic.csv", CLINIC.replace(b"Yoga", b"Physical Therapy"))]
                   ).report.unknown_values()
    assert list(frame.columns) == ["kind", "value", "rows", "classified", "not_relevant",
                                   "unknown"]
    assert frame.empty
    assert frame["rows"].dtype == np.int64 and isinstance(frame["kind"].dtype, pd.StringDtype)


IDENTIFIERS = (
    "Patient ID;Datum;Behandlung;Vorname;Nachname;Strasse;PLZ;Geburtsdatum;Telefon;"
    "Versichertennummer;Nombre;Apellidos;Direccion;Pt Full Name;Addr1;E-Mail;Member ID;"
    "Notes;Comment;Free Text;SSN_last4;Kontakt;Kasse;Behandler\n"
    "P1;05.01.2023;Physiotherapie;Anna;Müller;Hauptstr. 5;50667;12.03.1961;0221 1234567;"
    "A123456780;Ana;García López;Calle Mayor 1;Anna Müller;Apt 2;a@b.de;M1;n;c;t;1234;"
    "+49 221 1234567;A123456780;Dr. Hans Weber\n"
    "P2;06.01.2023;Yoga;Hans;Schmidt;Ringstr. 9;50668;01.01.1950;0221 7654321;"
    "B987654320;Juan;Pérez;Calle Real 2;Hans Schmidt;;x@y.es;M2;;;;5678;"
    "0171-1234567;B987654320;Dr. Anna Schulz\n"
)
# Every identifier column is refused: 21 by their names; "Kontakt" (phone numbers),
# "Kasse" (insurance numbers with valid check digits) and "Behandler" (person names) by
# their values.  Row 3 (Yoga) is rejected; its refused values never leave ingest.


def test_identifiers_in_any_language_are_refused_by_name_or_value():
    result = ingest([("praxis.csv", IDENTIFIERS.encode("cp1252"))])
    (f,) = result.report.files
    expected = IDENTIFIERS.splitlines()[0].split(";")[3:]
    assert f.refused_columns == expected
    assert f.phi_value_columns == ["Kontakt", "Kasse", "Behandler"]
    assert any("'Behandler' refused: its values look like person names" in n for n in f.notes)
    assert any("'Kasse' refused: its values look like identity or insurance numbers" in n
               for n in f.notes)
    assert list(result.rejected.columns) == ["file", "row", "reason", "Patient ID", "Datum",
                                             "Behandlung"]
    assert result.rejected[["row", "reason"]].values.tolist() == [[3, "unknown technique"]]
    assert result.events["birth_year"].tolist() == [1961.0]
    shown = " ".join(str(v) for v in result.rejected.to_numpy().ravel())
    for secret in ("Schmidt", "Ringstr", "B987654320", "Pérez", "0171", "Schulz"):
        assert secret not in shown
    plan = detect([("praxis.csv", IDENTIFIERS.encode("cp1252"))])[0]
    assert plan.refused_columns == expected
    assert list(plan.preview.columns) == ["Patient ID", "Datum", "Behandlung"]


def test_no_column_of_the_sample_is_refused_by_its_values():
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "sample_data" / "painpath_sample.csv"
    (f,) = ingest(sample).report.files
    assert f.phi_value_columns == []
    assert f.refused_columns == ["death_date"]  # by its name: only its year is kept
