"""Tests of analytics.readers: the encoding decided on the bytes, DuckDB's dialect sniffer,
PyArrow reading with the ragged-row fallback, and the one date parser."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import readers
from analytics.readers import DATE_OK, DATE_OUT_OF_RANGE, DATE_UNPARSEABLE, ReadError

GERMAN = (
    "Patienten-ID;Datum;Diagnose\r\n"
    "P1;05.01.2023;Rückenschmerz\r\n"
    "P2;13.02.2023;Rückenschmerz;über die Spalten hinaus\r\n"  # one ragged row
    "P3;01.03.2023;Lumbago – chronisch\r\n"
)


# --- encoding --------------------------------------------------------------------------------


def test_windows_1252_with_a_ragged_row_reads_every_letter():
    raw = readers.read_source(("de.csv", GERMAN.encode("cp1252")))
    assert raw.encoding == "cp1252" and raw.delimiter == ";"
    assert raw.table.column("Diagnose").to_pylist() == [
        "Rückenschmerz", "Rückenschmerz", "Lumbago – chronisch",
    ]  # fmt: skip
    assert raw.table.column("Patienten-ID").to_pylist() == ["P1", "P2", "P3"]
    assert any("Windows-1252" in n for n in raw.notes)
    assert any("1 row(s) had more fields" in n for n in raw.notes)
    for column in raw.table.columns:
        assert not any("\ufffd" in v for v in column.to_pylist() if v)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Rückenschmerz".encode(), "utf-8"),
        ("Rückenschmerz".encode("cp1252"), "cp1252"),
        (b"\xef\xbb\xbf" + "Rückenschmerz".encode(), "utf-8"),
        ("\ufeffRückenschmerz".encode("utf-16-le"), "utf-16-le"),
        ("\ufeffRückenschmerz".encode("utf-16-be"), "utf-16-be"),
        ("Patient".encode("utf-16-le"), "utf-16-le"),  # no BOM: every other byte zero
        (b"R\x81ckenschmerz", "latin-1"),  # 0x81 is undefined in Windows-1252
    ],
)
def test_encoding_is_decided_on_the_bytes(data, encoding):
    decoded = readers.decode_text("a.csv", data)
    assert decoded.encoding == encoding
    assert decoded.data.decode("utf-8").lstrip("\ufeff") in ("Rückenschmerz", "R\x81ckenschmerz",
                                                              "Patient")  # fmt: skip


def test_a_file_mixing_utf8_and_windows_1252_is_noted():
    decoded = readers.decode_text("a.csv", "Genève ".encode() + "Genève".encode("cp1252"))
    assert decoded.encoding == "cp1252"
    assert any("mixes encodings" in n for n in decoded.notes)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xef\xbb\xbfR\xfcckenschmerz\n",
         "a.csv: starts with a UTF-8 byte-order mark but is not valid UTF-8 text "
         "(invalid start byte at byte 4)"),
        (b"\xff\xfeP\x00\x00\xd8\n\x00",
         "a.csv: starts with a UTF-16 byte-order mark but is not valid UTF-16 text"),
    ],
)  # fmt: skip
def test_bytes_that_contradict_their_byte_order_mark_refuse_the_file(data, message):
    with pytest.raises(ReadError, match="not valid") as info:
        readers.decode_text("a.csv", data)
    assert str(info.value).startswith(message)


def test_a_replacement_character_is_never_stored():
    data = "id,diagnose\nP1,Rückenschmerz\nP2,R\ufffdckenschmerz\n".encode()
    with pytest.raises(ReadError) as info:
        readers.read_source(("a.csv", data))
    assert str(info.value) == (
        "a.csv: holds the replacement character U+FFFD (line 3): its text was damaged by "
        "an earlier conversion; export it again from the source system"
    )
    with pytest.raises(ReadError, match="U\\+FFFD"):
        readers.read_source(("a.txt", "id\tx\nP1\t\ufffd\n".encode("utf-16")))


def test_a_sample_cut_inside_a_character_is_not_damaged():
    text = "Patient ID,Diagnose\n" + "P1,Rückenschmerz\n" * 50
    data = text.encode()
    cut = data.index("ü".encode(), 200) + 1  # inside the two bytes of ü
    raw = readers.read_source(("a.csv", data), sample_bytes=cut)
    assert raw.encoding == "utf-8"
    assert set(raw.table.column("Diagnose").to_pylist()) == {"Rückenschmerz"}
    utf16 = text.encode("utf-16")
    raw = readers.read_source(("a.csv", utf16), sample_bytes=301)
    assert set(raw.table.column("Diagnose").to_pylist()) == {"Rückenschmerz"}


# --- dialect ---------------------------------------------------------------------------------


def test_sniff_dialect():
    """DuckDB's sniffer picks the delimiter that gives every row the same fields."""
    assert readers.sniff_dialect(b"a;b;c\n1;2;3\n").delimiter == ";"
    assert readers.sniff_dialect(b"a\tb\tc\n1\t2\t3\n").delimiter == "\t"
    assert readers.sniff_dialect(b"a|b|c\n1|2|3\n").delimiter == "|"
    quoted = readers.sniff_dialect(b'"x;y",b,c\n"1;2",3,4\n')
    assert (quoted.delimiter, quoted.quote) == (",", '"')
    # a ; header whose values hold commas: the consistent split wins
    assert readers.sniff_dialect(b"a;b\nOxycodone 5 MG, tablet;2\nx, y;3\n").delimiter == ";"
    # a ragged row does not change the delimiter
    assert readers.sniff_dialect(b"a;b;c\n1;2;3\n4;5;6;7\n8;9;1\n").delimiter == ";"
    assert readers.sniff_dialect(b"") == readers.Dialect()


# --- dates -----------------------------------------------------------------------------------


def test_parse_dates_formats():
    values = [
        "2020-01-28T14:36:08Z",  # Synthea timestamp: calendar date as written
        "2020-03-04T23:30:00-05:00",
        "01/31/2021",
        "2/3/2021",
        "2021-06-15 00:00:00",
        "2021-02-30",  # not a calendar date
        "1899-12-31",  # before 1900
        "2101-01-01",  # after 2100
        "soon",
        "",
    ]
    dates, status = readers.parse_dates(values)
    assert list(dates[:5]) == [
        np.datetime64("2020-01-28"),
        np.datetime64("2020-03-04"),
        np.datetime64("2021-01-31"),
        np.datetime64("2021-02-03"),
        np.datetime64("2021-06-15"),
    ]
    assert list(status) == [0, 0, 0, 0, 0, 2, 3, 3, 2, 1]
    serial, st_ = readers.parse_dates(["44927"], excel_serial=True)
    assert serial[0] == np.datetime64("2023-01-01") and st_[0] == 0
    _, st_no = readers.parse_dates(["44927"])
    assert st_no[0] == readers.DATE_UNPARSEABLE


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # a first number over 12 is a day: the whole column is day first
        (["13/01/2023", "02/03/2023"], ["2023-01-13", "2023-03-02"]),
        # a second number over 12 is a day: month first
        (["01/13/2023", "02/03/2023"], ["2023-01-13", "2023-02-03"]),
        # nothing tells: / and - dates month first (US), . dates day first
        (["02/03/2023", "04-05-2023"], ["2023-02-03", "2023-04-05"]),
        (["02.03.2023", "05.01.23"], ["2023-03-02", "2023-01-05"]),
        (["31.12.2023", "29.02.2024"], ["2023-12-31", "2024-02-29"]),
        # one value each way: a tie decides nothing, so the / default applies
        (["13/01/2023", "01/13/2023"], ["NaT", "2023-01-13"]),
        (["5-Jan-2023", "05 jan 2023", "2023/01/05", "20230105"], ["2023-01-05"] * 4),
        (["12/31/99", "12/31/68"], ["1999-12-31", "2068-12-31"]),
    ],
)
def test_day_and_month_order_is_decided_per_column(values, expected):
    dates, status = readers.parse_dates(values)
    assert [str(d)[:10] for d in dates] == expected
    assert list(status) == [DATE_OK if e != "NaT" else DATE_UNPARSEABLE for e in expected]


def test_day_first_can_be_given():
    dates, _ = readers.parse_dates(["02/03/2023"], day_first=True)
    assert dates[0] == np.datetime64("2023-03-02")
    dates, _ = readers.parse_dates(["02.03.2023"], day_first=False)
    assert dates[0] == np.datetime64("2023-02-03")


def test_calendar_and_range_checks():
    """Not a calendar date -> unparseable; so is a value against its column's order (here
    three values put the day first, so 01.13.2023 has no month 13)."""
    _, status = readers.parse_dates(["29.02.2023", "31.04.2023", "00.01.2023", "01.13.2023",
                                     "01.01.1899", "31.12.2100", "0000-01-01"])  # fmt: skip
    assert list(status) == [DATE_UNPARSEABLE, DATE_UNPARSEABLE, DATE_UNPARSEABLE,
                            DATE_UNPARSEABLE, DATE_OUT_OF_RANGE, DATE_OK,
                            DATE_UNPARSEABLE]  # fmt: skip


def test_date_order_notes():
    assert readers.date_order(["01/02/2023", "03/04/2023"]).note("Datum") == (
        "dates in 'Datum' could be day/month or month/day (no value has a day over 12): "
        "2 with / or - read month first (MM/DD/YYYY)"
    )
    assert readers.date_order(["01.02.2023"]).note("Datum") == (
        "dates in 'Datum' could be day/month or month/day (no value has a day over 12): "
        "1 with . read day first (DD.MM.YYYY)"
    )
    assert readers.date_order(["13/01/2023", "01/02/2023"]).note("Date") == (
        "dates in 'Date' read day first, as the values that tell show"
    )
    assert readers.date_order(["01/13/2023", "01/02/2023"]).note("Date") is None
    assert readers.date_order(["01/01/2023", "2023-05-06"]).note("Date") is None


# --- files that are not text exports ---------------------------------------------------------


def _zip(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
        (b"\x1f\x8b\x08\x00", "a gzip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "an old Office file such as an .xls workbook"),
        (_zip({"export.csv": "Patient ID,Date\nP1,2024-01-01\n"}), "a ZIP archive"),
        (b"Patient\x00\x01\x02,Date\n", "control characters in the header line"),
    ],
)
def test_binary_files_renamed_csv_are_not_text_exports(data, what):
    with pytest.raises(readers.NotTextError) as info:
        readers.read_source(("upload.csv", data))
    message = str(info.value)
    assert message.startswith(f"upload.csv: not a text export ({what}")
    assert message.endswith("expected CSV/TSV text, an .xlsx workbook or a Parquet file")


def test_a_workbook_renamed_csv_is_still_read_as_a_workbook():
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Patient ID", "Service Date"])
    book.active.append(["P1", "2024-01-05"])
    buffer = io.BytesIO()
    book.save(buffer)
    raw = readers.read_source(("export.csv", buffer.getvalue()))
    assert raw.kind == "xlsx"
    assert raw.table.column("Patient ID").to_pylist() == ["P1"]


# --- row numbers as a spreadsheet shows them ---------------------------------------------------


def test_rows_are_numbered_from_2_after_the_header():
    raw = readers.read_source(("a.csv", b"Patient,Date\nP1,2024-01-01\nP2,2024-01-02\n"))
    assert raw.row_numbers is None
    assert list(raw.sheet_rows(np.array([0, 1]))) == [2, 3]


def test_blank_lines_keep_their_row_numbers():
    # line 1 header, line 2 blank, line 3 P1, lines 4-5 blank (CRLF), line 6 P2, line 7
    # holds a quoted value over two lines (one spreadsheet row), line 8 P4
    text = (b"Patient,Note\r\n\r\nP1,a\r\n\r\n\r\nP2,b\r\nP3,\"two\r\nlines\"\r\nP4,c\r\n")
    raw = readers.read_source(("a.csv", text))
    assert raw.table.column("Patient").to_pylist() == ["P1", "P2", "P3", "P4"]
    assert list(raw.sheet_rows(np.arange(4))) == [3, 6, 7, 8]


def test_a_ragged_file_with_blank_lines_keeps_row_numbers_too():
    text = b"Patient;Date\nP1;2024-01-01;extra\n\nP2;2024-01-02\n"
    raw = readers.read_source(("a.csv", text))
    assert raw.table.column("Patient").to_pylist() == ["P1", "P2"]
    assert list(raw.sheet_rows(np.arange(2))) == [2, 4]


def test_empty_sheet_rows_are_skipped_and_keep_their_numbers():
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Patient ID", "Service Date"])  # row 1
    sheet.append(["P1", "2024-01-05"])  # row 2
    sheet.append([None, None])  # row 3: empty
    sheet.cell(row=5, column=1, value="P2")  # row 4 empty too, row 5 P2
    buffer = io.BytesIO()
    book.save(buffer)
    raw = readers.read_source(("a.xlsx", buffer.getvalue()))
    assert raw.table.column("Patient ID").to_pylist() == ["P1", "P2"]
    assert list(raw.sheet_rows(np.arange(2))) == [2, 5]
    assert "2 empty row(s) of the sheet skipped" in raw.notes
