"""Readers for clinic exports: every source becomes a PyArrow table of string columns.

Used by :mod:`analytics.ingest`.  A *source* is a filesystem path or a
``(file_name, bytes)`` pair (what Streamlit's uploader gives); a folder path
means every export file in it (``.csv .tsv .txt .xlsx .parquet``, sorted by
name, hidden files skipped).

Size limit: a file larger than :data:`MAX_FILE_BYTES` (200 MB; environment variable
``PAINPATH_MAX_UPLOAD_MB`` overrides it) is refused with a message naming the limit,
before a path is read into memory (its size on disk is checked first).

Files that are not exports (:func:`read_source`): whatever its name, a file starting with
the signature of an image, a PDF, an archive (a ZIP that is not an ``.xlsx`` workbook), an
old Office file, a program or a database is refused as "not a text export"
(:class:`NotTextError`).

Row numbers: :meth:`RawTable.sheet_rows` gives the row a spreadsheet shows for each
record (the header is row 1): empty lines and empty sheet rows, which are not records,
keep their numbers; a quoted value over several lines is one row.

Text files (CSV/TSV), in this order (:func:`read_source`):

- **encoding**, decided on the bytes before any parsing (:func:`decode_text`): a UTF-8 or
  UTF-16 byte-order mark (or UTF-16 without one) fixes it and bytes invalid in it refuse
  the file; else UTF-8 when the bytes are valid UTF-8; else Windows-1252 when they
  decode as such; else Latin-1.  A file holding U+FFFD (text damaged by an earlier
  conversion) is refused: a replacement character is never stored;
- the **header** is the first line (ended by LF, CRLF or a lone CR); a header holding
  control characters means binary data and is refused;
- the **dialect** (delimiter ``,`` ``;`` tab or ``|``, quote and escape characters) comes
  from DuckDB's CSV sniffer (:func:`sniff_dialect`);
- the **rows** are read by PyArrow's CSV reader (multi-threaded), with quoted fields
  holding delimiters and line breaks; a file with ragged rows is read again by Python's
  ``csv`` module: short rows are padded, extra fields dropped (noted);
- every field is kept verbatim as a string (an empty or blank field means missing).

``.xlsx`` (first sheet, openpyxl): empty sheet rows are skipped (noted); date cells
become ISO strings, numbers their shortest text (a whole number without ``.0``), so Excel
serial dates in un-formatted cells arrive as digits and are recognised by
:func:`parse_dates` for xlsx sources only.  Parquet: every column cast to string
(timestamps as ISO text).

Date and number parsing of the string values is vectorised over unique values:
:func:`parse_dates` (one parser; the order of day and month is decided per column by
:func:`date_order`), :func:`parse_numbers`.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

Source = str | Path | tuple[str, bytes]
"""A path (file or folder) or a ``(file_name, bytes)`` pair."""

EXPORT_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".txt", ".xlsx", ".parquet", ".pq")

MAX_UPLOAD_MB = 200
"""Largest file accepted, in MB (2**20 bytes); the same as ``server.maxUploadSize`` in
``.streamlit/config.toml``.  Overridden by the environment variable
``PAINPATH_MAX_UPLOAD_MB``."""
MAX_FILE_BYTES = MAX_UPLOAD_MB * 2**20

DATE_MIN = np.datetime64("1900-01-01", "s")
DATE_MAX = np.datetime64("2100-12-31", "s")
"""Dates outside [DATE_MIN, DATE_MAX] are impossible for a treatment event (rejected)."""

DATE_OK, DATE_EMPTY, DATE_UNPARSEABLE, DATE_OUT_OF_RANGE = 0, 1, 2, 3

# numbers with thousands separators (see parse_numbers)
_US_THOUSANDS = r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$"
_EU_THOUSANDS = r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+,\d+$"
_DECIMAL_COMMA = r"^([+-]?\d+),(\d+)$"


@dataclass
class RawTable:
    """One file read as strings.  ``table`` columns are all ``pa.string()`` (null = empty)."""

    name: str
    table: pa.Table
    kind: str  # "csv" | "xlsx" | "parquet"
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    parent: str = ""  # folder the file came from ("" for uploaded bytes)
    row_numbers: np.ndarray | None = None
    """The sheet row of each record when records are not on consecutive rows (blank lines
    or rows skipped); None: record ``i`` is on row ``i + 2`` (see :meth:`sheet_rows`)."""

    def sheet_rows(self, idx: np.ndarray) -> np.ndarray:
        """The row numbers a spreadsheet shows for the records ``idx`` (0-based): the header
        is row 1, so the first record is row 2, and blank lines or rows that were skipped
        keep their numbers (a quoted value spanning several lines is one row, as a
        spreadsheet shows it).  Parquet records are numbered the same way."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.row_numbers is None:
            return idx + 2
        return self.row_numbers[idx]


class ReadError(Exception):
    """A file that cannot be read at all (one-line message)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (control characters and line breaks become a space), cut to
    ``limit`` characters (library error messages can be long or multi-line)."""
    out = _CONTROL.sub(" ", str(text)).strip()
    return out if len(out) <= limit else out[: limit - 1] + "…"


def expand_sources(sources: Source | list[Source] | tuple[Source, ...]) -> list[Source]:
    """A flat list of file sources: a single source becomes a list, a folder its export files."""
    if (
        isinstance(sources, tuple)
        and len(sources) == 2
        and isinstance(sources[1], bytes | bytearray)
    ):
        items: list[Source] = [sources]
    elif isinstance(sources, str | Path):
        items = [sources]
    else:
        items = list(sources)
    out: list[Source] = []
    for item in items:
        if isinstance(item, str | Path) and Path(item).is_dir():
            files = sorted(
                p
                for p in Path(item).iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in EXPORT_SUFFIXES
            )
            out.extend(files)
        else:
            out.append(item)
    return out


def source_name(source: Source) -> str:
    """The file name of a source (no folder)."""
    if isinstance(source, tuple):
        return Path(source[0]).name
    return Path(source).name


def max_file_bytes() -> int:
    """The upload size limit in bytes: ``PAINPATH_MAX_UPLOAD_MB`` (a positive number of MB)
    when set, else :data:`MAX_FILE_BYTES`."""
    text = os.environ.get("PAINPATH_MAX_UPLOAD_MB", "").strip()
    try:
        mb = float(text) if text else 0.0
    except ValueError:
        mb = 0.0
    return int(mb * 2**20) if mb > 0 and np.isfinite(mb) else MAX_FILE_BYTES


def _megabytes(n: int) -> str:
    """``n`` bytes as MB (2**20 bytes), rounded up to one decimal: a file over the limit
    never shows as equal to it."""
    mb = math.ceil(n * 10 / 2**20) / 10
    return f"{mb:,.0f} MB" if mb.is_integer() else f"{mb:,.1f} MB"


def check_size(name: str, size: int) -> None:
    """Raise :class:`ReadError` naming the limit when ``size`` bytes exceed it."""
    limit = max_file_bytes()
    if size > limit:
        raise ReadError(f"{name} is {_megabytes(size)}; the limit is {_megabytes(limit)}")


def _source_bytes(source: Source) -> tuple[str, bytes, str]:
    if isinstance(source, tuple):
        name = Path(source[0]).name
        check_size(name, len(source[1]))
        return name, bytes(source[1]), ""
    path = Path(source)
    if not path.exists():
        raise ReadError(f"file not found: {path}")
    check_size(path.name, os.path.getsize(path))  # before reading anything into memory
    return path.name, path.read_bytes(), str(path.resolve().parent)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = raw.strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


# --- text encoding: decided on the bytes, before any parsing ----------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
}
_REPLACEMENT = "\ufffd"
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")


@dataclass
class DecodedText:
    """A text file's bytes decoded: ``data`` is the text as UTF-8 bytes without any
    byte-order mark, ``encoding`` the codec the bytes were read with, ``notes`` for the
    upload report."""

    data: bytes
    encoding: str
    notes: list[str] = field(default_factory=list)


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the start of a file without byte-order mark is
    ASCII text in UTF-16 (every other byte zero), else None."""
    head = data[:256]
    head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) == len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) == len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _strict(data: bytes, encoding: str, partial: bool) -> str:
    """Decode strictly; a ``partial`` read (a sample) may end inside a character, which is
    then left out (an incremental decoder holds it back) and the text is cut after its
    last line break."""
    if not partial:
        return data.decode(encoding)
    text = codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    cut = text.rfind("\n")
    return text[: cut + 1] if cut >= 0 else text


def _declared(name: str, data: bytes, partial: bool) -> DecodedText | None:
    """A file whose bytes declare their encoding (a byte-order mark, or UTF-16 without
    one): decoded strictly, or refused."""
    encoding, bom = None, b""
    for mark, codec in _BOMS:
        if data.startswith(mark):
            encoding, bom = codec, mark
            break
    what = "starts with a {} byte-order mark"
    if encoding is None:
        encoding = _utf16_without_bom(data)
        if encoding is None:
            return None
        what = "looks {} (every other byte is zero)"
    label = _ENCODING_NAMES[encoding]
    try:
        text = _strict(data[len(bom) :], encoding, partial)
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"{name}: {what.format(label)} but is not valid {label} text "
            f"({exc.reason} at byte {exc.start + len(bom)}); the file was not read"
        ) from exc
    return DecodedText(text.encode("utf-8"), encoding)


def _valid_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8, checked by Arrow on the bytes in place (no
    decoded copy)."""
    if len(data) >= 2**31:
        return False
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32).tobytes())
    text = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _undeclared(data: bytes, partial: bool) -> DecodedText:
    """UTF-8 when the bytes are valid UTF-8, else Windows-1252 when they decode as such,
    else Latin-1 (which decodes any byte)."""
    if data.isascii() or (not partial and _valid_utf8(data)):
        return DecodedText(data, "utf-8")
    if partial:
        try:
            return DecodedText(_strict(data, "utf-8", partial).encode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        notes = [f"text encoding: {_ENCODING_NAMES[encoding]} (the file is not valid UTF-8)"]
        if _UTF8_SEQUENCE.search(data):
            notes.append(
                "the file mixes encodings: it is not valid UTF-8 but holds UTF-8 sequences; "
                f"read as {_ENCODING_NAMES[encoding]}, so accented letters written in UTF-8 "
                "may look wrong"
            )
        return DecodedText(text.encode("utf-8"), encoding, notes)
    raise AssertionError("Latin-1 decodes every byte")  # pragma: no cover


def decode_text(name: str, data: bytes, partial: bool = False) -> DecodedText:
    """Decide a text file's encoding on its bytes, before any parsing, and decode it.

    In order: a UTF-8 or UTF-16 byte-order mark (or UTF-16 without one: every other byte
    zero) fixes the encoding, and bytes that are not valid in it refuse the file; else
    UTF-8 when every byte sequence is valid UTF-8; else Windows-1252 when the bytes decode
    as such; else Latin-1.  A replacement character (U+FFFD, what an earlier conversion
    leaves for bytes it could not read) is never stored: a file holding one is refused
    with the line it is on.  ``partial``: the bytes are a sample cut anywhere.
    Raises :class:`ReadError`.
    """
    decoded = _declared(name, data, partial) or _undeclared(data, partial)
    ascii_only = decoded.data is data and data.isascii()  # no U+FFFD in ASCII
    at = -1 if ascii_only else decoded.data.find(_REPLACEMENT.encode("utf-8"))
    if at >= 0:
        line = decoded.data.count(b"\n", 0, at) + 1
        raise ReadError(
            f"{name}: holds the replacement character U+FFFD (line {line}): its text was "
            "damaged by an earlier conversion; export it again from the source system"
        )
    return decoded


# --- files that are not text exports -------------------------------------------------------

_NOT_TEXT = "expected CSV/TSV text, an .xlsx workbook or a Parquet file"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
     "an old Office file such as an .xls workbook: save it as .xlsx or CSV"),
    (b"\x7fELF", "a program"),
    (b"MZ\x90\x00", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
"""File signatures (the first bytes) of common files that are not exports, as each
format's specification fixes them (PNG, JPEG/JFIF, GIF, TIFF, PDF, gzip RFC 1952, 7z, RAR,
OLE2 compound file, ELF, PE, SQLite)."""
_ZIP = b"PK\x03\x04"


class NotTextError(ReadError):
    """A file whose bytes are not a text export, a workbook or Parquet (an image, a PDF, an
    archive, binary data)."""


def not_text(name: str, what: str) -> NotTextError:
    """The one-line refusal of a file that is not a text export."""
    return NotTextError(f"{name}: not a text export ({what}); {_NOT_TEXT}")


def _signature(name: str, data: bytes) -> None:
    """Raise :class:`NotTextError` when ``data`` starts with the signature of a known
    non-export file type."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise not_text(name, what)


def _is_workbook(data: bytes) -> bool:
    """True when the ZIP archive ``data`` is an Office Open XML workbook."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return True  # a damaged archive: reported by the workbook reader
    return "xl/workbook.xml" in names or any(n.startswith("xl/") for n in names)


# --- CSV dialect (DuckDB's sniffer) and reading (PyArrow) --------------------------------------

_SNIFF_BYTES = 1 << 20
_BINARY_HEADER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written: field delimiter, quote character, escape character
    (``""`` = quotes are escaped by doubling them)."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = ""


_DUCKDB: dict[str, object] = {}
_DUCKDB_LOCK = threading.Lock()


def _duckdb_cursor():
    """A cursor of one in-memory DuckDB connection kept for sniffing (a new connection
    costs ~50 ms, a cursor nothing); nothing is installed or loaded from the network."""
    import duckdb  # imported on first use: only text files need it

    with _DUCKDB_LOCK:
        if "con" not in _DUCKDB:
            _DUCKDB["con"] = duckdb.connect(
                config={"autoinstall_known_extensions": False,
                        "autoload_known_extensions": False}
            )
        return _DUCKDB["con"].cursor()


def _sniff_file(path: str) -> Dialect | None:
    import duckdb

    try:
        with _duckdb_cursor() as cur:
            row = cur.execute(
                "SELECT Delimiter, Quote, Escape "
                "FROM sniff_csv(?, header = true, null_padding = true)",
                [path],
            ).fetchone()
    except duckdb.Error:
        return None
    if row is None:
        return None
    delimiter, quote, escape = (str(v) if v is not None else "(empty)" for v in row)
    if len(delimiter) != 1:
        return None
    quote = quote if len(quote) == 1 else '"'
    escape = escape if len(escape) == 1 and escape != quote else ""
    return Dialect(delimiter, quote, escape)


def sniff_dialect(data: bytes) -> Dialect:
    """The CSV dialect of UTF-8 text (its first MB is enough), detected by DuckDB's CSV
    sniffer (``sniff_csv``: delimiter among ``,`` ``;`` tab ``|``, quote and escape
    characters, from the rows' consistency); RFC 4180 (``,`` and ``"``) when the sniffer
    finds none.  The sample is handed to DuckDB through an anonymous in-memory file
    (Linux ``memfd``), else a private temporary file deleted at once."""
    sample = data[:_SNIFF_BYTES]
    if len(data) > _SNIFF_BYTES:
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    if not sample.strip():
        return Dialect()
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("painpath-sniff")
        try:
            os.write(fd, sample)
            return _sniff_file(f"/proc/self/fd/{fd}") or Dialect()
        finally:
            os.close(fd)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.csv"
        path.write_bytes(sample)
        return _sniff_file(str(path)) or Dialect()


def _header_fields(name: str, header: str, dialect: Dialect) -> list[str]:
    """The column names of a header line (one line, no line break)."""
    if not header.strip():
        return []
    try:
        return next(csv.reader([header], **_csv_options(dialect)), [])
    except csv.Error as exc:
        raise ReadError(f"{name}: cannot read the header line ({exc})") from exc


def _csv_options(dialect: Dialect) -> dict:
    return {
        "delimiter": dialect.delimiter,
        "quotechar": dialect.quote,
        "escapechar": dialect.escape or None,
        "doublequote": True,
    }


def _split_header(name: str, data: bytes) -> tuple[str, int]:
    """(header line, offset of the first body byte); the header ends at the first line
    break (LF, CRLF or a lone CR, as PyArrow reads the body).  Raises :class:`ReadError`
    for an empty file or a header with control characters (binary data)."""
    breaks = [p for p in (data.find(b"\n"), data.find(b"\r")) if p >= 0]
    newline = min(breaks) if breaks else -1
    header = (data if newline < 0 else data[:newline]).decode("utf-8")
    if _BINARY_HEADER.search(header):
        raise not_text(name, "control characters in the header line")
    if not header.strip():
        if not data.strip():
            raise ReadError(f"{name}: the file is empty (no header line with column names)")
        raise ReadError(
            f"{name}: the first line is blank; it must be the header line with the column names"
        )
    if newline < 0:
        return header, len(data)
    return header, newline + (2 if data[newline : newline + 2] == b"\r\n" else 1)


def _arrow_csv(body: bytes, names: list[str], dialect: Dialect) -> pa.Table | None:
    """Read with PyArrow (multi-threaded); None when the rows are ragged."""
    if not body:
        return pa.table({n: pa.array([], pa.string()) for n in names})
    # empty fields stay "" here (cheaper than null conversion); ingest treats blank as missing
    convert = pa_csv.ConvertOptions(column_types={n: pa.string() for n in names})
    read = pa_csv.ReadOptions(column_names=names)
    for newlines in (False, True):
        parse = pa_csv.ParseOptions(
            delimiter=dialect.delimiter,
            quote_char=dialect.quote,
            escape_char=dialect.escape or False,
            newlines_in_values=newlines,
        )
        try:
            return pa_csv.read_csv(
                pa.BufferReader(body), read_options=read, parse_options=parse,
                convert_options=convert,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _python_csv(body: str, names: list[str], dialect: Dialect) -> tuple[pa.Table, str]:
    """Slow path for ragged files: short rows are padded, extra fields dropped (noted)."""
    width = len(names)
    cols: list[list[str | None]] = [[] for _ in range(width)]
    long_rows = 0
    for row in csv.reader(io.StringIO(body, newline=""), **_csv_options(dialect)):
        if not row:
            continue
        if len(row) > width:
            long_rows += 1
        for j in range(width):
            v = row[j] if j < len(row) else ""
            cols[j].append(v if v != "" else None)
    table = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, cols, strict=True)})
    note = (
        f"{long_rows} row(s) had more fields than the header; the extra fields were ignored"
        if long_rows
        else ""
    )
    return table, note


def _text_row_numbers(body: bytes, dialect: Dialect, rows: int) -> np.ndarray | None:
    """The sheet row of each record of a CSV body when its records are not one per line —
    it holds empty lines (which the readers skip and a spreadsheet shows as rows) or quoted
    values over several lines (one spreadsheet row each); None when every line is a record
    (counted with one pass over the bytes)."""
    lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    if lines == rows:
        return None
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""), **_csv_options(dialect))
    try:
        numbers = [k + 2 for k, record in enumerate(reader) if record]
    except csv.Error:
        return None
    if len(numbers) != rows:  # the two readers disagree on the records: keep the plain count
        return None
    return np.asarray(numbers, dtype=np.int64)


def _read_text(name: str, data: bytes, max_bytes: int | None) -> RawTable:
    partial = max_bytes is not None and len(data) > max_bytes
    if partial and max_bytes is not None:
        data = data[:max_bytes]
    decoded = decode_text(name, data, partial)
    text = decoded.data
    if partial:
        text = text[: text.rfind(b"\n") + 1] or text
    header, body_start = _split_header(name, text)
    dialect = sniff_dialect(text)
    names = _unique_names(_header_fields(name, header, dialect))
    notes = list(decoded.notes)
    body = text[body_start:]
    table = _arrow_csv(body, names, dialect)
    if table is None:
        table, note = _python_csv(body.decode("utf-8"), names, dialect)
        if note:
            notes.append(note)
    raw = RawTable(name, table, "csv", decoded.encoding, dialect.delimiter, notes)
    raw.row_numbers = _text_row_numbers(body, dialect, table.num_rows)
    return raw


def _cell_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        if np.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.isoformat(sep=" ")
    if hasattr(v, "isoformat"):  # datetime / date / time
        text = v.isoformat(sep=" ") if hasattr(v, "hour") and hasattr(v, "year") else v.isoformat()
        return text[:10] if text.endswith(" 00:00:00") else text
    if v is pd.NaT:
        return None
    text = str(v)
    return text if text != "" else None


def _read_xlsx(name: str, data: bytes, nrows: int | None) -> RawTable:
    try:
        frame = pd.read_excel(
            io.BytesIO(data), sheet_name=0, dtype=object, engine="openpyxl", nrows=nrows
        )
    except Exception as exc:  # openpyxl raises many types for broken files
        raise ReadError(f"{name}: cannot read the Excel file ({one_line(exc)})") from exc
    names = _unique_names([str(c) for c in frame.columns])
    arrays = {
        n: pa.array([_cell_text(v) for v in frame.iloc[:, i].tolist()], pa.string())
        for i, n in enumerate(names)
    }
    table = pa.table(arrays) if arrays else pa.table({})
    raw = RawTable(name, table, "xlsx")
    if arrays and table.num_rows:
        blank = np.ones(table.num_rows, dtype=bool)
        for col in table.columns:
            blank &= np.asarray(col.is_null(), dtype=bool)
        if blank.any():  # an empty sheet row is no record; the others keep their row numbers
            kept = np.flatnonzero(~blank)
            raw.table = table.take(pa.array(kept, pa.int64()))
            raw.row_numbers = kept + 2
            raw.notes.append(f"{int(blank.sum())} empty row(s) of the sheet skipped")
    return raw


def _read_parquet(name: str, data: bytes, nrows: int | None) -> RawTable:
    try:
        # ParquetFile (not read_table): duplicated column names are allowed
        parquet = pq.ParquetFile(io.BytesIO(data))
        if nrows is None:
            table = parquet.read()
        else:  # a sample: the first rows only, never the whole file
            batch = next(parquet.iter_batches(batch_size=nrows), None)
            table = (pa.Table.from_batches([batch]) if batch is not None
                     else parquet.schema_arrow.empty_table())
    except Exception as exc:
        raise ReadError(f"{name}: cannot read the Parquet file ({one_line(exc)})") from exc
    names = _unique_names(list(table.column_names))
    cols = {}
    for n, col in zip(names, table.columns, strict=True):
        if pa.types.is_string(col.type):
            cols[n] = col
        elif pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
            cols[n] = col.cast(pa.string())
        elif pa.types.is_timestamp(col.type):
            cols[n] = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_floating(col.type):
            whole = pc.equal(pc.floor(col), col)
            as_int = pc.cast(pc.if_else(whole, col, None), pa.int64(), safe=False)
            cols[n] = pc.if_else(whole, as_int.cast(pa.string()), col.cast(pa.string()))
        else:
            try:
                cols[n] = col.cast(pa.string())
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                # nested / binary / extension types: the text of each value
                values = col.to_pylist()
                cols[n] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return RawTable(name, pa.table(cols), "parquet")


def read_source(source: Source, sample_bytes: int | None = None) -> RawTable:
    """Read one file source into a :class:`RawTable` of strings.

    ``sample_bytes`` limits a text file to (about) its first bytes and an xlsx /
    Parquet file to its first 200 rows (used by ``detect`` to read a sample only).
    """
    name, data, parent = _source_bytes(source)
    suffix = Path(name).suffix.lower()
    nrows = None if sample_bytes is None else 200
    _signature(name, data)
    if data[:4] == _ZIP and not _is_workbook(data):
        raise not_text(name, "a ZIP archive")
    if suffix == ".xlsx" or data[:4] == _ZIP:
        raw = _read_xlsx(name, data, nrows)
    elif suffix in (".parquet", ".pq") or data[:4] == b"PAR1":
        raw = _read_parquet(name, data, nrows)
    else:
        raw = _read_text(name, data, sample_bytes)
    raw.parent = parent
    return raw


# --- dates: one parser, vectorised over unique values ---------------------------------------

_TIME_SUFFIX = (
    r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?$"
)
# Shapes of a date without its time of day, tried in order.  Groups: y (year, 4 digits, or
# 2 for the day-month shapes), m / d (month / day), a / b (day and month in the order
# decided per column, see date_order), mon (English month abbreviation).
_YMD, _MONTH_FIRST, _DAY_FIRST, _NAMED = "ymd", "month_first", "day_first", "named"
_DATE_SHAPES: tuple[tuple[str, str], ...] = (
    (r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$", _YMD),
    (r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$", _YMD),
    (r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$", _YMD),
    (r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})$", _MONTH_FIRST),
    (r"^(?P<a>\d{1,2})-(?P<b>\d{1,2})-(?P<y>\d{4})$", _MONTH_FIRST),
    (r"^(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4}|\d{2})$", _DAY_FIRST),
    (r"^(?P<d>\d{1,2})[- ](?P<mon>[A-Za-z]{3})[- ](?P<y>\d{4})$", _NAMED),
)
_DAY_MONTH = r"^(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?:\d{4}|\d{2})$"
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
)}
_EXCEL_SERIAL = r"^\d{1,5}(?:\.0+)?$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_TWO_DIGIT_PIVOT = 69
"""Two-digit years: 69-99 are 1969-1999, 00-68 are 2000-2068 (POSIX ``%y``)."""


@dataclass(frozen=True)
class DateOrder:
    """How a column's day-month dates (``03/04/2023``, ``03.04.2023``) are read.

    ``day_first`` is True / False when some value decides it (a first number over 12 is a
    day: ``13/01/2023``; a second number over 12 is a day: ``01/13/2023``), None when no
    value does (or values contradict each other equally).  ``ambiguous`` counts the
    values whose reading depends on the order (both numbers 1..12 and different)."""

    day_first: bool | None
    ambiguous: int
    ambiguous_dotted: int = 0

    def note(self, column: str) -> str | None:
        """A sentence for the upload report on how the column's day-month dates were read
        (None when no value was in doubt)."""
        if self.day_first is not None:
            if (self.day_first and self.ambiguous) or (
                not self.day_first and self.ambiguous_dotted
            ):
                order = "day first" if self.day_first else "month first"
                return f"dates in '{column}' read {order}, as the values that tell show"
            return None
        parts = []
        if self.ambiguous:
            parts.append(f"{self.ambiguous} with / or - read month first (MM/DD/YYYY)")
        if self.ambiguous_dotted:
            parts.append(f"{self.ambiguous_dotted} with . read day first (DD.MM.YYYY)")
        if not parts:
            return None
        return (
            f"dates in '{column}' could be day/month or month/day (no value has a day over "
            f"12): {'; '.join(parts)}"
        )


def _as_strings(values: np.ndarray | list) -> pa.Array:
    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if _missing(v) else str(v) for v in values], pa.string())


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _date_text(values: np.ndarray | list) -> tuple[pa.Array, np.ndarray]:
    """(each value stripped and without a time of day, True where the value is empty)."""
    stripped = pc.utf8_trim_whitespace(_as_strings(values))
    empty = np.asarray(pc.fill_null(pc.equal(stripped, ""), True), dtype=bool)
    if not pc.any(pc.match_substring(stripped, ":")).as_py():
        return stripped, empty
    core = pc.replace_substring_regex(stripped, pattern=_TIME_SUFFIX, replacement="")
    return core, empty


def _ints(parts: pa.StructArray, name: str) -> np.ndarray:
    return np.asarray(pc.cast(parts.field(name), pa.int64()), dtype=np.int64)


def _order(core: pa.Array) -> DateOrder:
    """Evidence for the order of day and month among the day-month dates of a column."""
    hit = np.asarray(pc.fill_null(pc.match_substring_regex(core, _DAY_MONTH), False), bool)
    if not hit.any():
        return DateOrder(None, 0)
    matched = core.filter(pa.array(hit))
    parts = pc.extract_regex(matched, _DAY_MONTH)
    a, b = _ints(parts, "a"), _ints(parts, "b")
    day_first = int(((a > 12) & (b <= 12)).sum())
    month_first = int(((b > 12) & (a <= 12)).sum())
    unsure = (a <= 12) & (b <= 12) & (a != b)
    dotted = np.asarray(pc.match_substring(matched, "."), dtype=bool)
    decided = None if day_first == month_first else day_first > month_first
    return DateOrder(decided, int((unsure & ~dotted).sum()), int((unsure & dotted).sum()))


def date_order(values: np.ndarray | list) -> DateOrder:
    """The :class:`DateOrder` of a column's (unique) values: the order most values that
    decide it show (a tie decides nothing)."""
    return _order(_date_text(values)[0])


def _year(parts: pa.StructArray) -> np.ndarray:
    text = parts.field("y")
    year = np.asarray(pc.cast(text, pa.int64()), dtype=np.int64)
    two = np.asarray(pc.equal(pc.utf8_length(text), 2), dtype=bool)
    return np.where(two, np.where(year < _TWO_DIGIT_PIVOT, 2000 + year, 1900 + year), year)


def _shape_parts(parts: pa.StructArray, kind: str, day_first: bool | None):
    """(year, month, day) of the values of one shape."""
    year = _year(parts)
    if kind == _YMD:
        return year, _ints(parts, "m"), _ints(parts, "d")
    if kind == _NAMED:
        names = pc.utf8_lower(parts.field("mon")).to_pylist()
        return year, np.array([_MONTHS.get(v, 0) for v in names], np.int64), _ints(parts, "d")
    first = (kind == _DAY_FIRST) if day_first is None else day_first
    a, b = _ints(parts, "a"), _ints(parts, "b")
    return (year, b, a) if first else (year, a, b)


def _calendar_dates(year, month, day) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[s] dates, True where (year, month, day) is a calendar date)."""
    ok = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    ok &= day <= length
    dates = first + (np.where(ok, day, 1) - 1).astype("timedelta64[D]")
    return dates.astype("datetime64[s]"), ok


def parse_dates(
    values: np.ndarray | list, excel_serial: bool = False, day_first: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Parse date strings (typically the unique values of one column), vectorised.

    Accepted (a time of day and zone after the date are dropped: the calendar date as
    written): ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, day-month dates
    ``MM/DD/YYYY``, ``MM/DD/YY``, ``MM-DD-YYYY``, ``DD.MM.YYYY``, ``DD.MM.YY`` (the order
    of day and month is decided for the whole column by :func:`date_order`, or given as
    ``day_first``; when no value decides it, ``/`` and ``-`` dates are month first (US)
    and ``.`` dates day first), ``DD-Mon-YYYY`` and, when ``excel_serial``, Excel serial
    day numbers (1900 date system).  Two-digit years: 69-99 -> 19xx, 00-68 -> 20xx.
    Returns ``(dates datetime64[s] with NaT, status int8)``: ``DATE_OK``, ``DATE_EMPTY``,
    ``DATE_UNPARSEABLE`` (no shape fits or not a calendar date, e.g. 2021-02-30) or
    ``DATE_OUT_OF_RANGE`` (before 1900-01-01 or after 2100-12-31).
    """
    core, empty = _date_text(values)
    n = len(core)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    status = np.where(empty, DATE_EMPTY, DATE_UNPARSEABLE).astype(np.int8)
    if day_first is None:
        day_first = _order(core).day_first if n else None
    todo = ~empty
    for pattern, kind in _DATE_SHAPES:
        hit = todo & np.asarray(pc.fill_null(pc.match_substring_regex(core, pattern), False))
        if not hit.any():
            continue
        parts = pc.extract_regex(core.filter(pa.array(hit)), pattern)
        dates, ok = _calendar_dates(*_shape_parts(parts, kind, day_first))
        idx = np.flatnonzero(hit)
        out[idx[ok]] = dates[ok]
        status[idx[ok]] = DATE_OK
        todo[idx] = False
    if excel_serial and todo.any():
        _excel_serials(core, todo, out, status)
    bad_range = (status == DATE_OK) & ((out < DATE_MIN) | (out > DATE_MAX))
    status[bad_range] = DATE_OUT_OF_RANGE
    out[bad_range] = np.datetime64("NaT")
    return out, status


def _excel_serials(core: pa.Array, todo: np.ndarray, out: np.ndarray, status: np.ndarray):
    """Excel serial day numbers among the ``todo`` values, in place."""
    hit = todo & np.asarray(pc.fill_null(pc.match_substring_regex(core, _EXCEL_SERIAL), False))
    if hit.any():
        days = np.asarray(pc.cast(core.filter(pa.array(hit)), pa.float64())).astype(np.int64)
        idx = np.flatnonzero(hit)
        out[idx] = (_EXCEL_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[s]")
        status[idx] = DATE_OK


def parse_numbers(values: np.ndarray | list) -> np.ndarray:
    """Floats from number strings (typically unique values); NaN where empty or not a number.

    Separators (a CSV cell holding a comma is quoted, e.g. ``"1,200"``):

    - comma groups of three digits after a first group of 1-3 digits not starting with 0
      are thousands separators: ``1,200`` -> 1200, ``12,345,678.5`` -> 12345678.5;
    - dot groups of three digits followed by a decimal comma are European thousands:
      ``1.200,5`` -> 1200.5;
    - any other single comma is a decimal comma: ``7,5`` -> 7.5, ``0,125`` -> 0.125,
      ``1,2345`` -> 1.2345;
    - a dot alone is always a decimal point: ``1.200`` -> 1.2.
    """
    s = pd.Series(values, dtype="object").astype("string").str.strip()
    eu = s.str.match(_EU_THOUSANDS).fillna(False)
    if bool(eu.any()):
        s = s.where(~eu, s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    us = s.str.match(_US_THOUSANDS).fillna(False)
    if bool(us.any()):
        s = s.where(~us, s.str.replace(",", "", regex=False))
    s = s.str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
