import numpy as np
import pandas as pd

from analytics.intervals import day_numbers, event_intervals, extract_date, merge_intervals
from analytics.schema import conform


def test_day_numbers_epoch():
    assert day_numbers(pd.Series(pd.to_datetime(["1970-01-01", "1970-01-31"]))).tolist() == [0, 30]

def test_event_intervals_end_date_supply_and_default():
    ev = conform(pd.DataFrame({
        "patient_id": ["a", "a", "a"],
        "event_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
        "technique": ["narcotic"] * 3,
        "end_date": pd.to_datetime(["2024-01-10", None, None]),
        "days_supply": [5.0, 7.0, np.nan],
    }))
    out = event_intervals(ev)
    start = day_numbers(pd.Series(pd.to_datetime(["2024-01-01"])))[0]
    # end_date wins over days_supply: 2024-01-10 is the last covered day.
    assert (out["end_day"] - start).tolist() == [10, 7, 1]

def test_open_order_covers_through_extract_date():
    ev = conform(pd.DataFrame({
        "patient_id": ["a"], "event_date": pd.to_datetime(["2024-01-01"]),
        "technique": ["narcotic"], "open_order": [True],
    }))
    out = event_intervals(ev, extract_date(ev, "2024-03-01"))
    # 2024-01-01 .. 2024-03-01 inclusive = 61 days.
    assert int(out["end_day"].iloc[0] - out["start_day"].iloc[0]) == 61

def test_merge_intervals_gap_exactly_window_joins():
    group = np.array([0, 0, 0, 1])
    start = np.array([0, 40, 100, 0])
    end = np.array([10, 50, 110, 5])
    # 40 - 10 = 30 -> joins; 100 - 50 = 50 -> new run; new group -> new run.
    assert merge_intervals(group, start, end, 30).tolist() == [0, 0, 1, 2]
    # 31-day gap splits.
    assert merge_intervals(group, np.array([0, 41, 100, 0]), end, 30).tolist() == [0, 1, 2, 3]

def test_merge_intervals_supplies_do_not_stack():
    # A long fill then a short one inside it: the run end stays at the long end.
    group = np.array([0, 0, 0])
    start = np.array([0, 5, 125])
    end = np.array([90, 10, 130])
    # current end after row 2 is max(90, 10) = 90; 125 - 90 = 35 > 30 -> new run.
    assert merge_intervals(group, start, end, 30).tolist() == [0, 0, 1]

def test_merge_intervals_empty():
    assert merge_intervals(np.array([]), np.array([]), np.array([]), 30).tolist() == []


def test_stable_argsort_keeps_ties_in_row_order():
    from analytics.intervals import stable_argsort

    key = np.array([5, 1, 5, 1, 3], dtype=np.int64)
    assert stable_argsort(key).tolist() == [1, 3, 4, 0, 2]
    # A key too wide to pack the row number falls back to numpy's stable sort.
    wide = np.array([2**61, -(2**61), 2**61, 0], dtype=np.int64)
    assert stable_argsort(wide).tolist() == [1, 3, 0, 2]
    assert stable_argsort(np.array([], dtype=np.int64)).tolist() == []


def test_id_and_date_series():
    from analytics.intervals import date_series, id_series

    ids = id_series(pd.Index(["a", "b"]), np.array([1, -1, 0]))
    assert ids.dtype == "string" and ids.tolist()[0] == "b" and ids.isna().tolist()[1]
    assert date_series(np.array([0, 31])).tolist() == [pd.Timestamp("1970-01-01"),
                                                       pd.Timestamp("1970-02-01")]
