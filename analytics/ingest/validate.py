"""Validation of event rows: the first failing check gives the rejection reason.

Checks, in the order of :data:`analytics.ingest.REJECT_REASONS`: missing patient id;
missing / unparseable / out-of-range event date; unparseable / out-of-range end date;
end before start; days supply not a number or outside 1..365 (ignored, with a note, when
the row has a valid end date: the end date then defines the coverage, e.g. OMOP
``days_supply`` 0 or 371 next to ``drug_exposure_end_date``); unknown technique.  Dates:
see :func:`analytics.readers.parse_dates`; a date before 1900-01-01 or after 2100-12-31 is
"out of range".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics import readers
from analytics.ingest import values
from analytics.ingest.classify import UNKNOWN
from analytics.ingest.columns import Columns, take
from analytics.ingest.mapping import FilePlan
from analytics.ingest.report import REJECT_REASONS

_REASON_INDEX = {r: i for i, r in enumerate(REJECT_REASONS)}
_DAYS_MAX = 365


@dataclass
class Validation:
    """Per row: ``reason`` (index into REJECT_REASONS, -1 = valid), the parsed start and
    end dates (``end`` None when no end column is mapped) and the days supply (NaN where
    missing or ignored; None when not mapped); ``notes`` for the report."""

    reason: np.ndarray
    start: np.ndarray
    end: np.ndarray | None
    days: np.ndarray | None
    notes: list[str]


class _Rejections:
    def __init__(self, candidates: np.ndarray):
        self.candidates = candidates
        self.reason = np.full(len(candidates), -1, dtype=np.int64)

    def reject(self, mask: np.ndarray, reason: str) -> None:
        hit = self.candidates & mask & (self.reason < 0)
        self.reason[hit] = _REASON_INDEX[reason]

    def open(self) -> np.ndarray:
        return self.candidates & (self.reason < 0)


def _check_dates(plan: FilePlan, cols: Columns, rej: _Rejections, excel: bool, notes: list):
    """(start dates, end dates or None, True where the end date is valid)."""
    n = cols.n
    start = values.dates(plan, cols, "event_date", excel)
    if start is None:
        rej.reject(np.ones(n, bool), "missing event date")
        start = values.DateColumn(
            np.full(n, np.datetime64("NaT"), "datetime64[s]"), np.full(n, 1, np.int8)
        )
    rej.reject(start.status == readers.DATE_EMPTY, "missing event date")
    rej.reject(start.status == readers.DATE_UNPARSEABLE, "unparseable event date")
    rej.reject(start.status == readers.DATE_OUT_OF_RANGE, "event date out of range")
    end = values.dates(plan, cols, "end_date", excel)
    notes.extend(c.note for c in (start, end) if c is not None and c.note)
    if end is None:
        return start.dates, None, np.zeros(n, bool)
    rej.reject(end.status == readers.DATE_UNPARSEABLE, "unparseable end date")
    rej.reject(end.status == readers.DATE_OUT_OF_RANGE, "end date out of range")
    valid_end = end.status == readers.DATE_OK
    rej.reject(valid_end & (end.dates < start.dates), "end before start")
    return start.dates, end.dates, valid_end


def _check_days(plan: FilePlan, cols: Columns, rej: _Rejections, has_end: np.ndarray):
    if "days_supply" not in plan.mapping:
        return None, []
    codes, uniques = cols.get(plan.mapping["days_supply"])
    days = take(readers.parse_numbers(uniques), codes, np.nan)
    bad_num = (codes >= 0) & np.isnan(days)
    bad_range = (~np.isnan(days)) & ((days <= 0) | (days > _DAYS_MAX))
    rej.reject(bad_num & ~has_end, "days supply not a number")
    rej.reject(bad_range & ~has_end, "days supply out of range")
    ignored = rej.open() & has_end & (bad_num | bad_range)
    notes = []
    if ignored.any():
        notes.append(
            f"days supply outside 1..{_DAYS_MAX} ignored on {int(ignored.sum())} row(s) that "
            "have an end date (the end date defines the coverage)"
        )
    return np.where(bad_num | bad_range, np.nan, days), notes


def validate_events(
    plan: FilePlan,
    cols: Columns,
    candidates: np.ndarray,
    technique: np.ndarray,
    patient: values.Part | None,
    excel: bool,
) -> Validation:
    """Validate the ``candidates`` rows (not duplicates, not not-relevant) of an event
    file whose rows are classified as ``technique`` (see the module docstring)."""
    rej = _Rejections(candidates)
    rej.reject(patient[0] < 0 if patient else np.ones(cols.n, bool), "missing patient id")
    notes: list[str] = []
    start, end, has_end = _check_dates(plan, cols, rej, excel, notes)
    days, days_notes = _check_days(plan, cols, rej, has_end)
    rej.reject(technique == UNKNOWN, "unknown technique")
    return Validation(rej.reason, start, end, days, notes + days_notes)
