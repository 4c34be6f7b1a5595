"""Readers for clinic exports: every source becomes a PyArrow table of string columns.

Used by :mod:`analytics.ingest`.  A *source* is a filesystem path or a
``(file_name, bytes)`` pair (what Streamlit's uploader gives); a folder path
means every export file in it (``.csv .tsv .txt .xlsx .parquet``, sorted by
name, hidden files skipped).

Size limit: a file larger than :data:`MAX_FILE_BYTES` (200 MB; environment variable
``PAINPATH_MAX_UPLOAD_MB`` overrides it) is refused with a message naming the limit,
before a path is read into memory (its size on disk is checked first).

Text files (CSV/TSV):

- encoding: UTF-8 with BOM, UTF-16 with BOM (Excel "Unicode text") or without one (when
  every other byte of the start is zero), UTF-8, else Windows-1252 / Latin-1 (the first
  that decodes; a note says when a file mixes UTF-8 with another encoding);
- the header is the first line (ended by LF, CRLF or a lone CR); a header holding
  control characters means binary data and is refused;
- delimiter: ``,`` ``;`` or tab, whichever occurs most often (outside quotes) in
  the header line;
- quoted fields, including delimiters and line breaks inside quotes;
- every field is kept verbatim as a string (an empty or blank field means missing).

``.xlsx`` (first sheet, openpyxl): date cells become ISO strings, numbers their
shortest text (a whole number without ``.0``), so Excel serial dates in
un-formatted cells arrive as digits and are recognised by the date parser of
:mod:`analytics.ingest` for xlsx sources only.  Parquet: every column cast to
string (timestamps as ISO text).

Date and number parsing of the string values is vectorised over unique values:
:func:`parse_dates`, :func:`parse_numbers`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
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

# (guard regex on the stripped value without time of day, strftime format); tried in order
_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y"),
    (r"^\d{1,2}/\d{1,2}/\d{2}$", "%m/%d/%y"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%m-%d-%Y"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y"),
    (r"^\d{8}$", "%Y%m%d"),
    (r"^\d{1,2}-[A-Za-z]{3}-\d{4}$", "%d-%b-%Y"),
)
_TIME_SUFFIX = re.compile(
    r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2}|UTC)?$"
)
_EXCEL_SERIAL = r"^\d{1,5}(?:\.0+)?$"
_BINARY_HEADER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")
# numbers with thousands separators (see parse_numbers)
_US_THOUSANDS = r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$"
_EU_THOUSANDS = r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+,\d+$"
_DECIMAL_COMMA = r"^([+-]?\d+),(\d+)$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_EXCEL_EPOCH_PY = dt.datetime(1899, 12, 30)


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


def sniff_delimiter(header: str) -> str:
    """``,`` ``;`` or tab: the one occurring most often outside quotes in the header line."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 else ","


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


def _decode_head(data: bytes) -> tuple[str, str]:
    """Decode a (small) byte string: UTF-8, else Windows-1252, else Latin-1."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _read_text(name: str, data: bytes, max_bytes: int | None) -> RawTable:
    partial = max_bytes is not None and len(data) > max_bytes
    utf16 = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else _utf16_without_bom(data)
    if utf16:
        if partial and max_bytes is not None:
            data = data[: max_bytes - max_bytes % 2]
        try:
            text = data.decode(utf16, errors="replace" if partial else "strict")
        except UnicodeDecodeError as exc:
            what = "starts with a UTF-16 byte-order mark" if utf16 == "utf-16" else "looks UTF-16"
            raise ReadError(
                f"{name}: {what} but is not valid UTF-16 text ({exc.reason} at byte {exc.start})"
            ) from exc
        if partial:
            text = text[: text.rfind("\n") + 1] or text
        data, encoding, offset = text.encode("utf-8"), utf16, 0
    else:
        if partial and max_bytes is not None:
            data = data[:max_bytes]
            data = data[: data.rfind(b"\n") + 1] or data
        encoding, offset = ("utf-8-sig", 3) if data.startswith(b"\xef\xbb\xbf") else ("utf-8", 0)
    # the header ends at the first line break: LF, CRLF or a lone CR (old Mac files), as
    # for PyArrow's reading of the body
    breaks = [p for p in (data.find(b"\n", offset), data.find(b"\r", offset)) if p >= 0]
    newline = min(breaks) if breaks else -1
    header_bytes = data[offset:] if newline < 0 else data[offset:newline]
    header, head_encoding = _decode_head(header_bytes)
    if _BINARY_HEADER.search(header):
        raise ReadError(
            f"{name}: does not look like a text export (control characters in the header "
            "line); expected CSV/TSV text, an .xlsx workbook or a Parquet file"
        )
    delimiter = sniff_delimiter(header)
    names = _unique_names(_header_fields(name, header, delimiter))
    if not names:
        if not data[offset:].strip():
            raise ReadError(f"{name}: the file is empty (no header line with column names)")
        raise ReadError(
            f"{name}: the first line is blank; it must be the header line with the column names"
        )
    if newline < 0:
        body_start = len(data)
    else:
        body_start = newline + (2 if data[newline : newline + 2] == b"\r\n" else 1)
    notes: list[str] = []
    table: pa.Table | None = None
    utf8 = head_encoding == "utf-8"
    if utf8:
        try:
            table = _arrow_csv(pa.py_buffer(data).slice(body_start), names, delimiter)
            body_text = None
        except _NotUtf8:
            utf8 = False
    if not utf8:
        raw_body = data[body_start:]
        try:
            body_text, encoding = raw_body.decode("cp1252"), "cp1252"
            header = header_bytes.decode("cp1252")
        except UnicodeDecodeError:
            body_text, encoding = raw_body.decode("latin-1"), "latin-1"
            header = header_bytes.decode("latin-1")
        names = _unique_names(_header_fields(name, header, delimiter))
        if _UTF8_SEQUENCE.search(raw_body) or _UTF8_SEQUENCE.search(header_bytes):
            notes.append(
                f"the file mixes encodings: it is not valid UTF-8 but holds UTF-8 sequences; "
                f"read as {encoding}, so accented letters written in UTF-8 may look wrong"
            )
        table = _arrow_csv(pa.py_buffer(body_text.encode("utf-8")), names, delimiter)
    if table is None:
        if body_text is None:
            body_text = data[body_start:].decode("utf-8", errors="replace")
        table, note = _python_csv(body_text, names, delimiter)
        if note:
            notes.append(note)
    return RawTable(name, table, "csv", encoding, delimiter, notes)


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


def _header_fields(name: str, header: str, delimiter: str) -> list[str]:
    """The column names of a header line (one line, no line break)."""
    if not header.strip():
        return []
    try:
        return next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error as exc:
        raise ReadError(f"{name}: cannot read the header line ({exc})") from exc


class _NotUtf8(Exception):
    pass


def _arrow_csv(body: pa.Buffer, names: list[str], delimiter: str) -> pa.Table | None:
    """Read with PyArrow (multi-threaded); None when the rows are ragged."""
    if body.size == 0:
        return pa.table({n: pa.array([], pa.string()) for n in names})
    # empty fields stay "" here (cheaper than null conversion); ingest treats blank as missing
    convert = pa_csv.ConvertOptions(column_types={n: pa.string() for n in names})
    read = pa_csv.ReadOptions(column_names=names)
    for newlines in (False, True):
        try:
            return pa_csv.read_csv(
                pa.BufferReader(body),
                read_options=read,
                parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines),
                convert_options=convert,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            if "utf8" in str(exc).lower() or "utf-8" in str(exc).lower():
                raise _NotUtf8 from exc
            continue
    return None


def _python_csv(body: str, names: list[str], delimiter: str) -> tuple[pa.Table, str]:
    """Slow path for ragged files: short rows are padded, extra fields dropped (noted)."""
    width = len(names)
    cols: list[list[str | None]] = [[] for _ in range(width)]
    long_rows = 0
    for row in csv.reader(io.StringIO(body, newline=""), delimiter=delimiter):
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
    return RawTable(name, pa.table(arrays), "xlsx")


def _read_parquet(name: str, data: bytes, nrows: int | None) -> RawTable:
    try:
        # ParquetFile.read (not read_table): duplicated column names are allowed
        table = pq.ParquetFile(io.BytesIO(data)).read()
    except Exception as exc:
        raise ReadError(f"{name}: cannot read the Parquet file ({one_line(exc)})") from exc
    if nrows is not None:
        table = table.slice(0, nrows)
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
    if suffix == ".xlsx" or data[:4] == b"PK\x03\x04":
        raw = _read_xlsx(name, data, nrows)
    elif suffix in (".parquet", ".pq") or data[:4] == b"PAR1":
        raw = _read_parquet(name, data, nrows)
    else:
        raw = _read_text(name, data, sample_bytes)
    raw.parent = parent
    return raw


# --- vectorised value parsing (over unique values) -------------------------------------------


def strip_time(values: pd.Series) -> pd.Series:
    """Values with a trailing time of day / zone removed (``2020-01-28T14:36:08Z`` ->
    ``2020-01-28``): the calendar date as written, not converted to UTC."""
    return values.str.strip().str.replace(_TIME_SUFFIX, "", regex=True)


def parse_dates(
    values: np.ndarray | list, excel_serial: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Parse date strings (typically the unique values of a column), vectorised per format.

    Accepted: ISO ``YYYY-MM-DD`` (optionally with a time and zone, which is dropped),
    ``MM/DD/YYYY``, ``MM/DD/YY``, ``YYYY/MM/DD``, ``MM-DD-YYYY``, ``DD.MM.YYYY``,
    ``YYYYMMDD``, ``DD-Mon-YYYY`` and, when ``excel_serial``, Excel serial day numbers
    (1900 date system).  Returns ``(dates datetime64[s] with NaT, status int8)`` where
    status is ``DATE_OK``, ``DATE_EMPTY``, ``DATE_UNPARSEABLE`` (no format fits or not a
    calendar date, e.g. 2021-02-30) or ``DATE_OUT_OF_RANGE`` (before 1900-01-01 or after
    2100-12-31).
    """
    if len(values) <= _SMALL_INPUT:
        return _parse_dates_small(values, excel_serial)
    return _parse_dates_vectorised(values, excel_serial)


_SMALL_INPUT = 64
"""Up to this many values, parse_dates runs a plain-Python loop (same rules, without the
fixed cost of pandas' string methods); larger inputs are parsed vectorised."""
# the same guards for Python's re: ASCII digits, "$" only at the very end (as in RE2)
_DATE_FORMATS_PY = tuple(
    (re.compile(guard.replace("$", r"\Z"), re.ASCII), fmt) for guard, fmt in _DATE_FORMATS
)
_TIME_SUFFIX_PY = re.compile(_TIME_SUFFIX.pattern.replace("$", r"\Z"), re.ASCII)
_EXCEL_SERIAL_PY = re.compile(_EXCEL_SERIAL.replace("$", r"\Z"), re.ASCII)
_DATE_MIN_PY = DATE_MIN.astype(dt.datetime)
_DATE_MAX_PY = DATE_MAX.astype(dt.datetime)


def _parse_dates_small(
    values: np.ndarray | list, excel_serial: bool
) -> tuple[np.ndarray, np.ndarray]:
    n = len(values)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    status = np.full(n, DATE_UNPARSEABLE, dtype=np.int8)
    for i, value in enumerate(values):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            status[i] = DATE_EMPTY
            continue
        text = str(value).strip()
        if not text:
            status[i] = DATE_EMPTY
            continue
        core = _TIME_SUFFIX_PY.sub("", text, count=1)
        parsed: dt.datetime | None = None
        matched = False
        for guard, fmt in _DATE_FORMATS_PY:
            if guard.match(core):
                matched = True
                try:
                    parsed = dt.datetime.strptime(core, fmt)
                except ValueError:
                    parsed = None
                break
        if not matched and excel_serial and _EXCEL_SERIAL_PY.match(core):
            parsed = _EXCEL_EPOCH_PY + dt.timedelta(days=int(float(core)))
        if parsed is None:
            continue
        if parsed < _DATE_MIN_PY or parsed > _DATE_MAX_PY:
            status[i] = DATE_OUT_OF_RANGE
        else:
            out[i] = np.datetime64(parsed, "s")
            status[i] = DATE_OK
    return out, status


def _parse_dates_vectorised(
    values: np.ndarray | list, excel_serial: bool
) -> tuple[np.ndarray, np.ndarray]:
    s = pd.Series(values, dtype="object").astype("string")
    n = len(s)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    status = np.full(n, DATE_UNPARSEABLE, dtype=np.int8)
    if n == 0:
        return out, status
    empty = (s.isna() | (s.str.strip() == "")).to_numpy(dtype=bool, na_value=True)
    status[empty] = DATE_EMPTY
    core = strip_time(s.fillna(""))
    todo = ~empty
    for guard, fmt in _DATE_FORMATS:
        if not todo.any():
            break
        hit = todo & core.str.match(guard).to_numpy(dtype=bool, na_value=False)
        if not hit.any():
            continue
        parsed = pd.to_datetime(core[hit], format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy()
        idx = np.flatnonzero(hit)
        # a value that fits the guard but is not a calendar date stays unparseable
        years = parsed.dt.year.to_numpy(dtype=float, na_value=np.nan)
        good = ok & (years >= 1) & (years <= 9999)
        out[idx[good]] = parsed[good].to_numpy().astype("datetime64[s]")
        status[idx[good]] = DATE_OK
        todo[idx] = False
    if excel_serial and todo.any():
        hit = todo & core.str.match(_EXCEL_SERIAL).to_numpy(dtype=bool, na_value=False)
        if hit.any():
            days = pd.to_numeric(core[hit]).to_numpy(dtype=float).astype(np.int64)
            idx = np.flatnonzero(hit)
            out[idx] = (_EXCEL_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[s]")
            status[idx] = DATE_OK
    bad_range = (status == DATE_OK) & ((out < DATE_MIN) | (out > DATE_MAX))
    status[bad_range] = DATE_OUT_OF_RANGE
    out[bad_range] = np.datetime64("NaT")
    return out, status


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
