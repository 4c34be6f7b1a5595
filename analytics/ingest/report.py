"""The upload report: what happened to every row of every file, and the ingest result.

Every row of every file lands in exactly one bucket, so for every file
``rows_read == accepted + rejected + not_relevant + duplicates``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from analytics import readers


class IngestError(Exception):
    """A file or mapping that cannot be ingested; the message is one user-facing line."""

    def __init__(self, message: object = "") -> None:
        # column and file names come from the upload: keep the message on one line
        super().__init__(readers.one_line(message, limit=1000) or "the file cannot be ingested")


REJECT_REASONS: tuple[str, ...] = (
    "missing patient id",
    "missing concept id",
    "missing event date",
    "unparseable event date",
    "event date out of range",
    "unparseable end date",
    "end date out of range",
    "end before start",
    "days supply not a number",
    "days supply out of range",
    "unknown technique",
    "missing death date",
    "unparseable death date",
    "death date out of range",
)
"""Rejection reasons, in the order they are checked (the first failing one is reported);
the death-date reasons are those of an OMOP ``death`` table's rows."""


@dataclass
class FileReport:
    """Counts for one file; ``rows_read == accepted + rejected + not_relevant + duplicates``.
    ``open_orders``: how many of the file's open orders each rule closes (``dispenses``,
    ``death``) and how many stay open through the extract date (``extract date``)."""

    name: str
    format: str
    role: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    not_relevant: int = 0
    not_relevant_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    refused_columns: list[str] = field(default_factory=list)
    phi_value_columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    open_orders: dict[str, int] = field(default_factory=dict)

    @property
    def adds_up(self) -> bool:
        """True when the four buckets add up to the rows read."""
        return self.rows_read == self.accepted + self.rejected + self.not_relevant + self.duplicates


@dataclass
class IngestReport:
    """The upload report: one :class:`FileReport` per file, plus totals."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def not_relevant(self) -> int:
        return sum(f.not_relevant for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def refused_columns(self) -> list[str]:
        """Sorted unique names of every refused column (by name or by value)."""
        return sorted({c for f in self.files for c in f.refused_columns})

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.rejected_by_reason)
        return dict(total)

    def to_dict(self) -> dict:
        """JSON-serialisable form (totals and per-file reports)."""
        return {
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "not_relevant": self.not_relevant,
            "duplicates": self.duplicates,
            "refused_columns": self.refused_columns,
            "files": [asdict(f) for f in self.files],
        }


@dataclass
class IngestResult:
    """What an ingest gives (docs/definitions.md section 1):

    - ``events``: the canonical event table (conformed, duplicates removed);
    - ``report``: the upload report;
    - ``rejected``: the rejected rows (``file``, ``row`` = 1-based data row, ``reason``,
      then the row's kept columns as text);
    - ``diagnoses``: ``patient_id``, ``diagnosis_date`` (datetime64[s]), ``code``,
      ``description``, ``kind`` (``spinal_pain``, ``general_pain``,
      ``opioid_use_disorder``), from conditions tables and from the ``diagnosis`` column
      of treatment rows (dated at their event date);
    - ``extract_date``: the latest date among the accepted events, the diagnoses and the
      rows set aside only for their indication (None when there is none);
    - ``population_source``: ``"conditions"`` when a file was a conditions or diagnoses
      table, else ``"diagnosis_column"`` when the events' ``diagnosis`` column holds a
      value, else ``"none"``.
    """

    events: pd.DataFrame
    report: IngestReport
    rejected: pd.DataFrame
    diagnoses: pd.DataFrame = field(default_factory=pd.DataFrame)
    extract_date: pd.Timestamp | None = None
    population_source: str = "none"


@dataclass
class FileOut:
    """What one file contributed: its report, and (by role) its events, rejected rows,
    demographics, diagnoses, concepts, death dates (``patient_id``, ``death_date``) and the
    latest date of the rows set aside only for their indication."""

    report: FileReport
    events: pd.DataFrame | None = None
    rejected: pd.DataFrame | None = None
    demographics: pd.DataFrame | None = None
    diagnoses: pd.DataFrame | None = None
    concepts: pd.DataFrame | None = None
    deaths: pd.DataFrame | None = None
    latest_set_aside: np.datetime64 | None = None


def file_report(raw: readers.RawTable, plan) -> FileReport:
    """A fresh report of a read file and its plan (:class:`analytics.ingest.FilePlan`)."""
    return FileReport(
        name=raw.name,
        format=plan.format,
        role=plan.role,
        rows_read=raw.table.num_rows,
        refused_columns=list(plan.refused_columns),
        phi_value_columns=list(plan.phi_value_columns),
        mapping=dict(plan.mapping),
        notes=list(plan.notes),
    )


def rejected_frame(
    raw: readers.RawTable, kept: list[str], idx: np.ndarray, reasons: np.ndarray
) -> pd.DataFrame:
    """The rejected rows ``idx`` of a file: ``file``, ``row`` (1-based data row),
    ``reason``, then the ``kept`` (not refused) columns as text."""
    head = pd.DataFrame(
        {
            "file": pd.Series([raw.name] * len(idx), dtype="string"),
            "row": (idx + 1).astype(np.int64),
            "reason": pd.Series(reasons, dtype="string"),
        }
    )
    if not kept:
        return head
    body = raw.table.select(kept).take(pa.array(idx, pa.int64())).to_pandas().astype("string")
    body.index = head.index
    return pd.concat([head, body], axis=1)


def finish_rejections(
    raw: readers.RawTable, plan, report: FileReport, reason_idx: np.ndarray, reasons: tuple
) -> pd.DataFrame | None:
    """Count the rejected rows (``reason_idx``: per row an index into ``reasons`` or -1)
    in the report and return their frame (None when there are none): refused columns and
    a death date (kept only as a year) are left out."""
    rej = np.flatnonzero(reason_idx >= 0)
    report.rejected = int(len(rej))
    if not len(rej):
        return None
    names = np.asarray(reasons, dtype=object)[reason_idx[rej]]
    report.rejected_by_reason = {k: int(v) for k, v in Counter(names.tolist()).items()}
    hidden = set(plan.refused_columns) | {plan.mapping.get("death_date")}
    kept = [c for c in plan.columns if c not in hidden]
    return rejected_frame(raw, kept, rej, names)


def empty_rejected() -> pd.DataFrame:
    """The rejected-rows frame of an ingest without rejected rows."""
    return pd.DataFrame(
        {
            "file": pd.Series([], dtype="string"),
            "row": pd.Series([], dtype=np.int64),
            "reason": pd.Series([], dtype="string"),
        }
    )
