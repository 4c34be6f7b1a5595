"""Covered days of events and gap-based merging of intervals (docs/definitions.md, section 5).

Everything here works on integer day numbers (days since 1970-01-01) so that
the analyses can sort and compare with numpy instead of Python loops.

- :func:`extract_date` – the data's "today": the latest ``event_date``, or the
  user's choice.
- :func:`event_intervals` – the half-open covered interval ``[start, end)`` of
  every event (dispenses multiply the days supply; open orders close at the earliest
  of their dispensed supply, the patient's death and the extract date);
  :func:`interval_arrays` the same as arrays, :func:`coverage_rules` which rule set
  each end, :func:`dispense_counts` the fills a row stands for.
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


COVERAGE_RULES: tuple[str, ...] = (
    "end_date",
    "days_supply",
    "single_day",
    "open_dispensed_supply",
    "open_dispenses_x_30",
    "open_death",
    "open_extract",
)
"""How each event's covered interval was set (see :func:`coverage_rules`): the first three for
ordinary rows, the ``open_*`` ones for open orders (the rule that gave the earliest end)."""

OPEN_ORDER_DAYS_PER_DISPENSE = 30
"""Days one dispense of an open order covers when the row gives a dispense count but no days
supply (docs/definitions.md, section 5: 3 dispenses of an unknown supply cover 90 days)."""

_NO_END = np.iinfo(np.int64).max


def _numbers(events: pd.DataFrame, name: str) -> np.ndarray:
    if name not in events.columns:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _flags(events: pd.DataFrame, name: str) -> np.ndarray:
    if name not in events.columns:
        return np.zeros(len(events), dtype=bool)
    return events[name].fillna(False).to_numpy(dtype=bool)


def dispense_counts(events: pd.DataFrame) -> np.ndarray:
    """Dispenses (fills) each row stands for, as int64: the ``dispenses`` column when it is a
    whole number ≥ 1, else 1 (ingest already sets an invalid count to missing)."""
    k = _numbers(events, "dispenses")
    valid = ~np.isnan(k) & (k >= 1) & (np.floor(k) == k)
    return np.where(valid, np.nan_to_num(k), 1).astype(np.int64)


def _coverage(
    events: pd.DataFrame, extract: pd.Timestamp | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, rule) day numbers and rule codes (indices into COVERAGE_RULES)."""
    n = len(events)
    start = day_numbers(events["event_date"])
    supply = _numbers(events, "days_supply")
    has_supply = ~np.isnan(supply) & (supply >= 1)
    raw_k = _numbers(events, "dispenses")
    has_k = ~np.isnan(raw_k) & (raw_k >= 1) & (np.floor(raw_k) == raw_k)
    k = dispense_counts(events)
    supplied = start + (np.nan_to_num(supply) * k).astype(np.int64)
    if "end_date" in events.columns:
        has_end = events["end_date"].notna().to_numpy()
        end_plus_one = np.where(
            has_end, day_numbers(events["end_date"].fillna(events["event_date"])) + 1, _NO_END
        )
    else:
        has_end = np.zeros(n, dtype=bool)
        end_plus_one = np.full(n, _NO_END, dtype=np.int64)
    # Ordinary rows: end_date + 1, else event_date + days_supply x dispenses, else + 1.
    end = np.where(has_end, end_plus_one, np.where(has_supply, supplied, start + 1))
    rule = np.where(has_end, 0, np.where(has_supply, 1, 2)).astype(np.int8)
    is_open = _flags(events, "open_order")
    if is_open.any():
        if extract is None:
            extract = extract_date(events)
        # Open orders: the earliest of (a) the dispensed supply, (b) the day after death
        # (ingest's end_date), (c) the day after the extract date; ties go to the earlier rule.
        extract_end = _NO_END if extract is None else _day_number(extract) + 1
        candidates = np.stack([
            np.where(has_supply, supplied, _NO_END),
            np.where(~has_supply & has_k, start + k * OPEN_ORDER_DAYS_PER_DISPENSE, _NO_END),
            end_plus_one,
            np.full(n, extract_end, dtype=np.int64),
        ])
        which = np.argmin(candidates, axis=0)
        earliest = np.take_along_axis(candidates, which[None, :], axis=0)[0]
        closed = earliest != _NO_END
        end = np.where(is_open, np.where(closed, earliest, start + 1), end)
        rule = np.where(is_open & closed, which + 3, rule).astype(np.int8)
    end = np.maximum(end, start + 1)
    return start, end, rule


def _day_number(ts: pd.Timestamp | dt.date | str) -> int:
    return int(day_numbers(np.array([pd.Timestamp(ts).to_datetime64()]))[0])


def event_intervals(events: pd.DataFrame, extract: pd.Timestamp | None = None) -> pd.DataFrame:
    """``events`` with ``start_day`` and ``end_day`` added (int64 day numbers, end exclusive).

    Covered days (docs/definitions.md, section 5), with ``k`` = :func:`dispense_counts` (the
    ``dispenses`` column, default 1):

    - an ordinary row covers ``[event_date, end)`` with ``end = end_date + 1`` when the row
      has an end date, else ``event_date + days_supply × k``, else ``event_date + 1``;
    - an open order (``open_order`` True: a medication order without a stop date in an
      export whose orders carry stop dates) ends at the earliest of (a) ``event_date +
      k × days_supply`` when it has a days supply, or ``event_date + k × 30`` when it has
      only a dispense count; (b) ``end_date + 1``, the day after death when ingest cut the
      order there (``ends_at_death``); (c) ``extract + 1``.  ``extract`` defaults to the
      latest ``event_date`` of ``events``; pass the dataset's extract date.

    Every event covers at least its own day (an end before ``start + 1`` is clamped).
    Columns the table lacks count as missing.
    """
    start, end = interval_arrays(events, extract)
    out = events.copy()
    out["start_day"] = start
    out["end_day"] = end
    return out


def interval_arrays(
    events: pd.DataFrame, extract: pd.Timestamp | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(start_day, end_day)`` of :func:`event_intervals` as int64 arrays, without copying
    the table."""
    start, end, _ = _coverage(events, extract)
    return start, end


def coverage_rules(events: pd.DataFrame, extract: pd.Timestamp | None = None) -> pd.Series:
    """The rule that set each row's covered interval, a categorical over ``COVERAGE_RULES``
    indexed like ``events``: ``end_date``, ``days_supply``, ``single_day`` for ordinary rows;
    for open orders the rule that gave the earliest end: ``open_dispensed_supply`` (k × days
    supply), ``open_dispenses_x_30`` (k × 30 days), ``open_death`` (the day after death),
    ``open_extract`` (left open through the extract date).  Ties go to the rule listed
    first.  For the upload report's count of open orders closed by each rule."""
    _, _, rule = _coverage(events, extract)
    return pd.Series(
        pd.Categorical.from_codes(rule.astype(np.int64), categories=list(COVERAGE_RULES)),
        index=events.index,
    )


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
