"""Covered days of events and gap-based merging of intervals (DESIGN.md, "Definitions").

Everything here works on integer day numbers (days since 1970-01-01) so that
the analyses can sort and compare with numpy instead of Python loops.

- :func:`extract_date` – the data's "today": the latest ``event_date``, or the
  user's choice.
- :func:`event_intervals` – the half-open covered interval ``[start, end)`` of
  every event.
- :func:`merge_intervals` – ids of gap-merged runs (technique eras, narcotic
  courses) for rows sorted by group then start.
- :func:`stable_argsort`, :func:`date_series`, :func:`id_series` – the array
  steps the analyses share: a fast stable sort of int64 keys, and turning day
  numbers and integer patient codes back into result columns.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

EPOCH = np.datetime64("1970-01-01", "D")


def day_numbers(dates: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64 (NaT becomes the int64 minimum)."""
    values = np.asarray(dates, dtype="datetime64[D]")
    return values.astype(np.int64)


def to_dates(days: np.ndarray | pd.Series) -> np.ndarray:
    """Inverse of :func:`day_numbers`: int day numbers to ``datetime64[s]``."""
    return (np.asarray(days, dtype=np.int64).astype("datetime64[D]")).astype("datetime64[s]")


def extract_date(
    events: pd.DataFrame, override: dt.date | str | None = None
) -> pd.Timestamp | None:
    """The extract date: ``override`` if given, else the latest ``event_date``.

    Returns None for an empty table without an override.
    """
    if override is not None:
        return pd.Timestamp(override).normalize()
    if len(events) == 0:
        return None
    latest = events["event_date"].max()
    return None if pd.isna(latest) else pd.Timestamp(latest).normalize()


def event_intervals(events: pd.DataFrame, extract: pd.Timestamp | None = None) -> pd.DataFrame:
    """Add ``start_day`` and ``end_day`` (int64 day numbers, end exclusive).

    Definition (DESIGN.md): ``end = end_date + 1`` when given, else
    ``event_date + days_supply``, else ``event_date + 1``.  An open order
    (``open_order`` True: a medication order without stop date in an export
    whose orders carry stop dates) covers through the extract date, so its end
    is ``extract + 1`` (never before ``start + 1``).  An end that would fall
    before ``start + 1`` is clamped to ``start + 1``: every event covers its own
    day.
    """
    out = events.copy()
    start = day_numbers(events["event_date"])
    end = start + 1
    if "days_supply" in events.columns:
        supply = events["days_supply"].to_numpy(dtype="float64", na_value=np.nan)
        has_supply = ~np.isnan(supply) & (supply >= 1)
        end = np.where(has_supply, start + np.nan_to_num(supply).astype(np.int64), end)
    if "end_date" in events.columns:
        end_date = events["end_date"]
        has_end = end_date.notna().to_numpy()
        if has_end.any():
            end = np.where(has_end, day_numbers(end_date.fillna(events["event_date"])) + 1, end)
    if "open_order" in events.columns and extract is not None:
        is_open = events["open_order"].to_numpy(dtype=bool)
        if is_open.any():
            extract_day = int(day_numbers(np.array([extract.to_datetime64()]))[0])
            end = np.where(is_open, extract_day + 1, end)
    end = np.maximum(end, start + 1)
    out["start_day"] = start
    out["end_day"] = end
    return out


def merge_intervals(
    group: np.ndarray, start: np.ndarray, end: np.ndarray, gap_days: int
) -> np.ndarray:
    """Run ids for gap-merged intervals.

    Rows must be sorted by ``group`` then ``start``.  A row continues the
    current run of its group when ``start - current_end <= gap_days``, where
    ``current_end`` is the latest (exclusive) end of the run so far; supplies
    do not stack.  Returns an int64 array of run ids, increasing, one per row.

    The running maximum of ends over the whole group equals the running maximum
    within the current run (an earlier run ended more than ``gap_days`` before
    this run started), so one grouped cumulative maximum does it.
    """
    n = len(start)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    group = np.asarray(group)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    first_of_group = np.ones(n, dtype=bool)
    first_of_group[1:] = group[1:] != group[:-1]
    # Grouped cumulative max: lift each group above all earlier ones so the
    # running max never carries across a group boundary.
    group_rank = np.cumsum(first_of_group) - 1
    span = int(end.max() - min(start.min(), end.min())) + 1
    lifted = end - end.min() + group_rank * span
    running = np.maximum.accumulate(lifted) - group_rank * span + end.min()
    previous_end = np.empty(n, dtype=np.int64)
    previous_end[0] = 0
    previous_end[1:] = running[:-1]
    new_run = first_of_group | (start - previous_end > gap_days)
    return np.cumsum(new_run) - 1


def stable_argsort(key: np.ndarray) -> np.ndarray:
    """Stable argsort of an int64 key.

    When the key leaves room, the row number is packed into its low bits and a
    plain (SIMD) value sort is used: several times faster than
    ``np.argsort(kind="stable")`` on a million rows.
    """
    key = np.asarray(key, dtype=np.int64)
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rel = key - key.min()
    bits = max(int(n - 1).bit_length(), 1)
    if int(rel.max()) < (1 << (62 - bits)):
        packed = np.sort((rel << bits) | np.arange(n, dtype=np.int64))
        return packed & ((1 << bits) - 1)
    return np.argsort(key, kind="stable")


def date_series(days: np.ndarray) -> pd.Series:
    """Day numbers as a ``datetime64[s]`` Series."""
    return pd.Series(to_dates(days), dtype="datetime64[s]")


def id_series(uniques: pd.Index | np.ndarray, codes: np.ndarray | None = None) -> pd.Series:
    """``uniques[codes]`` as a ``string`` Series (an Arrow take; code -1 gives NA)."""
    arr = uniques.array if isinstance(uniques, pd.Index) else np.asarray(uniques, dtype=object)
    if not isinstance(arr, pd.api.extensions.ExtensionArray):
        arr = pd.array(np.asarray(arr, dtype=object), dtype="string")
    arr = arr.astype("string")
    if codes is not None:
        arr = arr.take(np.asarray(codes, dtype=np.int64), allow_fill=True)
    return pd.Series(arr, dtype="string")
