"""The upload report: what happened to every row of every file, and the ingest result.

Every row of every file lands in exactly one bucket, so for every file
``rows_read == accepted + rejected + not_relevant + duplicates``.  A file that could not be
read at all (not a text export, empty, no rows) is *skipped*: it has a report with the
reason and no rows, and the other files of the upload are ingested.

Rejected and not-relevant rows are listed with their file, the row number a spreadsheet
shows (:meth:`analytics.readers.RawTable.sheet_rows`), the reason, and the values of the
file's *mapped* columns only: a column that was not mapped (or was refused) never leaves
ingest; the report names the unmapped columns (``dropped_columns``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analytics import readers
from analytics.ingest.formats import EVENT_ROLES


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
    "missing encounter id",
)
"""Rejection reasons, in the order they are checked (the first failing one is reported);
the death-date reasons are those of an OMOP ``death`` table's rows, the encounter id that
of an encounters or visit table's rows."""


@dataclass
class FileReport:
    """Counts for one file; ``rows_read == accepted + rejected + not_relevant + duplicates``.
    ``open_orders``: how many of the file's open orders each rule closes (``dispenses``,
    ``death``) and how many stay open through the extract date (``extract date``).
    ``dropped_columns``: the columns not read because nothing is mapped to them;
    ``skipped``: why a file that could not be read was skipped (role ``skipped``, no rows);
    ``unknown_values``: the values PainPath did not recognise, one dict per (kind, value)
    with ``kind``, ``column``, ``value``, ``rows``, ``classified``, ``not_relevant``,
    ``unknown`` (:meth:`IngestReport.unknown_values`)."""

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
    dropped_columns: list[str] = field(default_factory=list)
    skipped: str = ""
    unknown_values: list[dict] = field(default_factory=list)

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

    @property
    def not_relevant_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.not_relevant_by_reason)
        return dict(total)

    @property
    def skipped_files(self) -> dict[str, str]:
        """File name -> why it was skipped (not a text export, empty, no rows)."""
        return {f.name: f.skipped for f in self.files if f.skipped}

    @property
    def accepted_by_role(self) -> dict[str, int]:
        """Accepted rows per file role (``events``, ``medications``, ``patients``,
        ``conditions``, ``concept``, ``encounters``, ...), roles in file order."""
        out: dict[str, int] = {}
        for f in self.files:
            if not f.skipped:
                out[f.role] = out.get(f.role, 0) + f.accepted
        return out

    @property
    def event_rows(self) -> int:
        """Accepted rows that are treatment events (the rows of event files): the events
        an ingest gives.  The other accepted rows (demographics, death dates, diagnoses,
        concepts, encounters) are read to complete the events and are not events."""
        return sum(f.accepted for f in self.files if f.role in EVENT_ROLES)

    def unknown_values(self) -> pd.DataFrame:
        """The values PainPath did not recognise, summed over the files: ``kind``
        (``technique``, ``injection_type``, ``description``), ``value``, ``rows``, and how
        those rows ended: ``classified`` (by their code or description), ``not_relevant``,
        ``unknown`` (rejected as unknown technique); most rows first."""
        rows = [v for f in self.files for v in f.unknown_values]
        columns = ["kind", "value", "rows", "classified", "not_relevant", "unknown"]
        if not rows:
            return pd.DataFrame({c: pd.Series([], dtype="string" if c in ("kind", "value")
                                              else np.int64) for c in columns})
        frame = pd.DataFrame(rows)[columns]
        frame = frame.groupby(["kind", "value"], as_index=False, sort=False).sum()
        frame = frame.sort_values(["rows", "kind", "value"], ascending=[False, True, True],
                                  kind="stable", ignore_index=True)
        return frame.astype({"kind": "string", "value": "string"})

    def to_dict(self) -> dict:
        """JSON-serialisable form (totals and per-file reports)."""
        return {
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "event_rows": self.event_rows,
            "accepted_by_role": self.accepted_by_role,
            "rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "not_relevant": self.not_relevant,
            "not_relevant_by_reason": self.not_relevant_by_reason,
            "duplicates": self.duplicates,
            "refused_columns": self.refused_columns,
            "skipped_files": self.skipped_files,
            "files": [asdict(f) for f in self.files],
        }


@dataclass
class IngestResult:
    """What an ingest gives (docs/definitions.md section 1):

    - ``events``: the canonical event table (conformed, duplicates removed);
    - ``report``: the upload report;
    - ``rejected``: the rejected rows (``file``, ``row`` = the row number a spreadsheet
      shows, the header being row 1; ``reason``; then the values of the file's mapped
      columns as text);
    - ``not_relevant``: the rows counted as not relevant, in the same form (rows of a
      file not used at all are not listed: its report counts them);
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
    not_relevant: pd.DataFrame = field(default_factory=lambda: empty_rejected())


@dataclass
class FileOut:
    """What one file contributed: its report, and (by role) its events, rejected rows,
    demographics, diagnoses, concepts, death dates (``patient_id``, ``death_date``) and the
    latest date of the rows set aside only for their indication."""

    report: FileReport
    events: pd.DataFrame | None = None
    rejected: pd.DataFrame | None = None
    not_relevant: pd.DataFrame | None = None
    demographics: pd.DataFrame | None = None
    diagnoses: pd.DataFrame | None = None
    concepts: pd.DataFrame | None = None
    deaths: pd.DataFrame | None = None
    latest_set_aside: np.datetime64 | None = None
    encounters: pd.DataFrame | None = None
    encounter_ids: pd.Series | None = None


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
        dropped_columns=list(plan.dropped_columns),
    )


def skipped_report(name: str, reason: str) -> FileReport:
    """The report of a file that could not be read (``reason``: one line)."""
    return FileReport(name=name, format="", role="skipped", skipped=reason)


def listed_columns(plan) -> list[str]:
    """The columns whose values a rejected or not-relevant row shows: the mapped ones, in
    file order, except refused columns and a death date (kept only as a year)."""
    mapped = set(plan.mapping.values())
    hidden = set(plan.refused_columns) | {plan.mapping.get("death_date")}
    return [c for c in plan.columns if c in mapped and c not in hidden]


def rejected_frame(
    raw: readers.RawTable, cols, kept: list[str], idx: np.ndarray, reasons: np.ndarray
) -> pd.DataFrame:
    """The rows ``idx`` of a file: ``file``, ``row`` (the row number a spreadsheet shows),
    ``reason``, then the ``kept`` columns as read (through ``cols``, the file's
    :class:`~analytics.ingest.columns.Columns`)."""
    head = pd.DataFrame(
        {
            "file": pd.Series([raw.name] * len(idx), dtype="string"),
            "row": raw.sheet_rows(idx).astype(np.int64),
            "reason": pd.Series(reasons, dtype="string"),
        }
    )
    if not kept:
        return head
    body = pd.DataFrame({c: cols.exact(c, idx) for c in kept})
    body.index = head.index
    return pd.concat([head, body], axis=1)


def finish_rejections(
    raw: readers.RawTable, plan, report: FileReport, reason_idx: np.ndarray, reasons: tuple,
    cols,
) -> pd.DataFrame | None:
    """Count the rejected rows (``reason_idx``: per row an index into ``reasons`` or -1)
    in the report and return their frame (None when there are none) with the mapped
    columns only (:func:`listed_columns`)."""
    rej = np.flatnonzero(reason_idx >= 0)
    report.rejected = int(len(rej))
    if not len(rej):
        return None
    names = np.asarray(reasons, dtype=object)[reason_idx[rej]]
    report.rejected_by_reason = {k: int(v) for k, v in Counter(names.tolist()).items()}
    return rejected_frame(raw, cols, listed_columns(plan), rej, names)


def not_relevant_rows(
    raw: readers.RawTable, plan, cols, mask: np.ndarray, reason_of: np.ndarray
) -> pd.DataFrame | None:
    """The not-relevant rows (``mask``) of a file with their reason (``reason_of``: the
    reason of every row, or of the masked rows only) and the mapped columns; None when
    there are none."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return None
    reasons = reason_of[idx] if len(reason_of) == len(mask) else reason_of
    return rejected_frame(raw, cols, listed_columns(plan), idx,
                          np.asarray(reasons, dtype=object))


def empty_rejected() -> pd.DataFrame:
    """The rejected-rows frame of an ingest without rejected rows."""
    return pd.DataFrame(
        {
            "file": pd.Series([], dtype="string"),
            "row": pd.Series([], dtype=np.int64),
            "reason": pd.Series([], dtype="string"),
        }
    )
