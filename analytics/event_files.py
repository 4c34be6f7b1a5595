"""Canonical events as a Parquet folder: what ``python -m analytics export-events`` writes
and what both engines read.

Layout of a folder ``DIR``::

    DIR/metadata.json              format, extract date, population source, counts, report
    DIR/events/bucket=K/*.parquet  the accepted canonical events of the patients in bucket K
    DIR/diagnoses/bucket=K/*.parquet  their diagnoses (IngestResult.diagnoses)

A patient's bucket is a stable hash of the patient id modulo the number of buckets
(:func:`patient_buckets`), so each bucket holds whole patients.  Columns are the canonical
event table's (:mod:`analytics.schema`) with Parquet types: text and the categoricals as
strings, dates as timestamps without time zone, numbers as doubles, flags as booleans;
plus ``event_row``, the row's position in the ingest's event table, so that every engine
sees a patient's rows in the order ingest gave them.

:class:`EventFolderWriter` writes one ingest result after another (an export at a time,
:func:`analytics.ingest.ingest_exports`), so a dataset larger than memory can be written
export by export; :func:`read_event_folder` reads a folder back as canonical frames.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from analytics import schema
from analytics.indications import SPINAL_PAIN
from analytics.ingest import (
    FileReport,
    IngestReport,
    IngestResult,
    combine_population_sources,
)
from analytics.ingest import diagnoses as diagnoses_table
from analytics.ingest.report import empty_rejected

FORMAT = "painpath-events"
FORMAT_VERSION = 1
METADATA = "metadata.json"
EVENTS = "events"
DIAGNOSES = "diagnoses"
BUCKET = "bucket"
ROW = "event_row"
DEFAULT_BUCKETS = 64
"""Buckets of an export: enough for a Spark job's parallelism, few enough files."""
_DX_ROW = "diagnosis_row"


def patient_buckets(patient_ids: pd.Series, buckets: int) -> np.ndarray:
    """Bucket (0 .. ``buckets`` − 1, int32) of each patient id: pandas' stable 64-bit hash
    of the id's text modulo ``buckets`` (a missing id is bucket 0)."""
    text = patient_ids.astype("string").fillna("").to_numpy(dtype=object)
    hashed = pd.util.hash_array(text, categorize=True)
    return (hashed % np.uint64(buckets)).astype(np.int32)


def _arrow_column(name: str, values: pd.Series) -> pa.Array:
    if name in schema.DATE_COLUMNS:
        return pa.array(values.to_numpy(dtype="datetime64[s]"), type=pa.timestamp("s"))
    if name in schema.NUMBER_COLUMNS:
        return pa.array(values.to_numpy(dtype="float64"), type=pa.float64(), from_pandas=True)
    if name in schema.BOOL_COLUMNS:
        return pa.array(values.to_numpy(dtype=bool), type=pa.bool_())
    return pa.array(values.astype("string").to_numpy(dtype=object, na_value=None),
                    type=pa.string())


EVENT_SCHEMA = pa.schema(
    [(c, pa.timestamp("s") if c in schema.DATE_COLUMNS else pa.float64()
      if c in schema.NUMBER_COLUMNS else pa.bool_() if c in schema.BOOL_COLUMNS
      else pa.string()) for c in schema.CANONICAL_COLUMNS]
    + [(ROW, pa.int64())]
)
"""Parquet schema of the events (without the bucket, a partition column)."""
DIAGNOSIS_SCHEMA = pa.schema([("patient_id", pa.string()), ("diagnosis_date", pa.timestamp("s")),
                              ("code", pa.string()), ("description", pa.string()),
                              ("kind", pa.string()), (_DX_ROW, pa.int64())])


def events_to_arrow(events: pd.DataFrame, first_row: int = 0) -> pa.Table:
    """Canonical ``events`` as an Arrow table of :data:`EVENT_SCHEMA` (``event_row`` counts
    from ``first_row``)."""
    events = schema.conform(events)
    arrays = [_arrow_column(c, events[c]) for c in schema.CANONICAL_COLUMNS]
    arrays.append(pa.array(np.arange(first_row, first_row + len(events), dtype=np.int64)))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def diagnoses_to_arrow(dx: pd.DataFrame, first_row: int = 0) -> pa.Table:
    """A diagnoses table (``IngestResult.diagnoses``) as Arrow, with its row numbers."""
    if dx is None or len(dx.columns) == 0:
        dx = diagnoses_table.empty()
    arrays = [
        _arrow_column("patient_id", dx["patient_id"]),
        pa.array(dx["diagnosis_date"].to_numpy(dtype="datetime64[s]"), type=pa.timestamp("s")),
        *(_arrow_column(c, dx[c]) for c in ("code", "description", "kind")),
        pa.array(np.arange(first_row, first_row + len(dx), dtype=np.int64)),
    ]
    return pa.Table.from_arrays(arrays, schema=DIAGNOSIS_SCHEMA)


def _date_text(value: pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


@dataclass
class FolderMetadata:
    """``metadata.json``: ``extract_date`` (ISO; the latest date ingest saw, before any
    filter), ``population_source``, ``buckets``, ``events`` and ``diagnoses`` (rows),
    ``report`` (the upload report's totals: files, rows_read, rejected_rows,
    not_relevant_rows, duplicate_rows, refused_columns), ``reports`` (per file) and
    ``spinal_diagnosis`` (whether a diagnosis of the folder is a dated spinal-pain one with a
    patient id: the population's one dataset-wide choice; None when not recorded)."""

    extract_date: str | None
    population_source: str
    buckets: int
    events: int
    diagnoses: int
    report: dict[str, object]
    reports: list[dict[str, object]] = field(default_factory=list)
    spinal_diagnosis: bool | None = None
    format: str = FORMAT
    version: int = FORMAT_VERSION

    @property
    def extract(self) -> pd.Timestamp | None:
        return None if self.extract_date is None else pd.Timestamp(self.extract_date)


class EventFolderWriter:
    """Writes ingest results into a new event folder ``out`` (an existing folder of this
    format is replaced; any other existing path is refused with ``FileExistsError``)."""

    def __init__(self, out: str | Path, buckets: int = DEFAULT_BUCKETS) -> None:
        if buckets < 1:
            raise ValueError("buckets must be >= 1")
        self.out = Path(out)
        if self.out.exists():
            if not (self.out / METADATA).is_file() and any(self.out.iterdir()):
                raise FileExistsError(f"{self.out} exists and is not an event folder")
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        self.buckets = buckets
        self.events = 0
        self.diagnoses = 0
        self._parts = 0
        self._extracts: list[pd.Timestamp] = []
        self._sources: list[str] = []
        self._files: list[dict[str, object]] = []
        self._spinal = False

    def _write(self, table: pa.Table, ids: pd.Series, folder: str) -> None:
        if table.num_rows == 0:
            return
        bucket = patient_buckets(ids, self.buckets)
        order = np.argsort(bucket, kind="stable")
        table = table.take(pa.array(order))
        sorted_buckets = bucket[order]
        cuts = np.flatnonzero(np.diff(sorted_buckets)) + 1
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(order)], strict=True):
            part = self.out / folder / f"{BUCKET}={int(sorted_buckets[start])}"
            part.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(start, stop - start),
                           part / f"part-{self._parts:05d}.parquet", compression="zstd")
        self._parts += 1

    def add(self, result: IngestResult) -> None:
        """Append one ingest's accepted events and diagnoses."""
        events = result.events
        self._write(events_to_arrow(events, self.events), events["patient_id"], EVENTS)
        self.events += len(events)
        dx = result.diagnoses
        if dx is not None and len(dx):
            self._write(diagnoses_to_arrow(dx, self.diagnoses), dx["patient_id"], DIAGNOSES)
            self.diagnoses += len(dx)
            spinal = ((dx["kind"] == SPINAL_PAIN).fillna(False) & dx["patient_id"].notna()
                      & dx["diagnosis_date"].notna())
            self._spinal = self._spinal or bool(spinal.any())
        if result.extract_date is not None:
            self._extracts.append(pd.Timestamp(result.extract_date))
        self._sources.append(result.population_source)
        self._files.extend(asdict(f) for f in result.report.files)

    def close(self) -> FolderMetadata:
        """Write ``metadata.json`` and return it."""
        files = self._files
        report = {
            "files": [f["name"] for f in files],
            "rows_read": sum(int(f["rows_read"]) for f in files),
            "rejected_rows": sum(int(f["rejected"]) for f in files),
            "not_relevant_rows": sum(int(f["not_relevant"]) for f in files),
            "duplicate_rows": sum(int(f["duplicates"]) for f in files),
            "refused_columns": sorted({c for f in files for c in f["refused_columns"]}),
        }
        meta = FolderMetadata(
            extract_date=_date_text(max(self._extracts)) if self._extracts else None,
            population_source=combine_population_sources(self._sources),
            buckets=self.buckets, events=self.events, diagnoses=self.diagnoses,
            report=report, reports=files, spinal_diagnosis=self._spinal)
        (self.out / METADATA).write_text(json.dumps(asdict(meta), indent=2) + "\n",
                                         encoding="utf-8")
        return meta


def is_event_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :class:`EventFolderWriter`."""
    meta = Path(path) / METADATA
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT
    except (ValueError, OSError):
        return False


def read_metadata(folder: str | Path) -> FolderMetadata:
    """The metadata of an event folder (``ValueError`` when it is not one)."""
    if not is_event_folder(folder):
        raise ValueError(f"{folder} is not a PainPath event folder (python -m analytics "
                         "export-events writes one)")
    data = json.loads((Path(folder) / METADATA).read_text(encoding="utf-8"))
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{folder}: event folder version {data.get('version')} is not "
                         f"{FORMAT_VERSION}; export the events again")
    return FolderMetadata(**data)


def _read(folder: Path, name: str, table_schema: pa.Schema, row: str) -> pa.Table:
    path = folder / name
    if not path.is_dir():
        return table_schema.empty_table()
    data = pads.dataset(path, format="parquet", schema=table_schema).to_table()
    order = pc.sort_indices(data, sort_keys=[(row, "ascending")])
    return data.take(order)


@dataclass(frozen=True)
class EventFolder:
    """An event folder read back: canonical ``events`` and ``diagnoses`` in ingest order,
    and its ``metadata``."""

    events: pd.DataFrame
    diagnoses: pd.DataFrame
    metadata: FolderMetadata

    def ingest_result(self) -> IngestResult:
        """The folder as the :class:`analytics.ingest.IngestResult` it was written from
        (its upload report from the per-file reports; no rejected rows: they were not
        exported)."""
        meta = self.metadata
        report = IngestReport(files=[FileReport(**f) for f in meta.reports])
        return IngestResult(events=self.events, report=report, rejected=empty_rejected(),
                            diagnoses=self.diagnoses, extract_date=meta.extract,
                            population_source=meta.population_source)


def read_event_folder(folder: str | Path) -> EventFolder:
    """Read an event folder into memory (the local engine's input)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    events = _read(folder, EVENTS, EVENT_SCHEMA, ROW).drop_columns([ROW]).to_pandas()
    dx = _read(folder, DIAGNOSES, DIAGNOSIS_SCHEMA, _DX_ROW).drop_columns([_DX_ROW]).to_pandas()
    dx = diagnoses_table.frame(dx["patient_id"], dx["diagnosis_date"], dx["code"],
                               dx["description"], dx["kind"].to_numpy(dtype=object))
    return EventFolder(schema.conform(events), dx, meta)
