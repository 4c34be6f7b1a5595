import numpy as np
import pandas as pd

from analytics.intervals import (
    coverage_rules,
    day_numbers,
    dispense_counts,
    event_intervals,
    interval_arrays,
    merge_intervals,
    to_dates,
)
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

def _covered(rows: list[dict], extract: str | None = None) -> list[tuple[str, str]]:
    """(first covered day, last covered day) per row, as ISO dates."""
    df = pd.DataFrame(rows)
    df["technique"] = "narcotic"
    ev = conform(df)
    out = event_intervals(ev, None if extract is None else pd.Timestamp(extract))
    first = to_dates(out["start_day"].to_numpy())
    last = to_dates(out["end_day"].to_numpy() - 1)
    return [(str(a)[:10], str(b)[:10]) for a, b in zip(first, last, strict=True)]


def _row(date: str, **kw) -> dict:
    return {"patient_id": "a", "event_date": pd.Timestamp(date), **kw}


def test_ordinary_rows_dispenses_multiply_days_supply():
    got = _covered([
        _row("2024-01-01", days_supply=30.0, dispenses=3.0),  # 90 days: Jan 1 .. Mar 30
        _row("2024-01-01", days_supply=30.0),  # dispenses default 1: Jan 1 .. Jan 30
        _row("2024-01-01", days_supply=30.0, dispenses=0.0),  # not >= 1: counts as 1
        _row("2024-01-01", days_supply=30.0, dispenses=2.5),  # not whole: counts as 1
        # a real end date wins over supply x dispenses
        _row("2024-01-01", days_supply=30.0, dispenses=3.0, end_date=pd.Timestamp("2024-01-20")),
        _row("2024-01-01", dispenses=3.0),  # a dispense count alone: a closed row covers 1 day
    ], extract="2024-12-31")
    assert got == [
        ("2024-01-01", "2024-03-30"),
        ("2024-01-01", "2024-01-30"),
        ("2024-01-01", "2024-01-30"),
        ("2024-01-01", "2024-01-30"),
        ("2024-01-01", "2024-01-20"),
        ("2024-01-01", "2024-01-01"),
    ]
    assert dispense_counts(conform(pd.DataFrame([
        _row("2024-01-01", dispenses=v, technique="narcotic") for v in (3.0, 0.0, 2.5, None)
    ]))).tolist() == [3, 1, 1, 1]


def test_2014_hydrocodone_open_order_3_dispenses_covers_90_days_not_4033():
    # Open order from 2014-01-15, 3 dispenses, no days supply, no stop date, extract
    # 2025-01-29: through the extract it would be 4,033 days; 3 x 30 days = 90 days.
    rows = [_row("2014-01-15", dispenses=3.0, open_order=True)]
    got = _covered(rows, extract="2025-01-29")
    assert got == [("2014-01-15", "2014-04-14")]  # 2014-01-15 + 90 = 2014-04-15 (exclusive)
    out = event_intervals(conform(pd.DataFrame(rows).assign(technique="narcotic")),
                          pd.Timestamp("2025-01-29"))
    assert int(out["end_day"].iloc[0] - out["start_day"].iloc[0]) == 90
    # without the dispense count the same order runs through the extract date: 4,033 days
    bare = conform(pd.DataFrame([_row("2014-01-15", open_order=True, technique="narcotic")]))
    out = event_intervals(bare, pd.Timestamp("2025-01-29"))
    assert int(out["end_day"].iloc[0] - out["start_day"].iloc[0]) == 4033


def test_open_order_closes_at_the_earliest_rule():
    death = pd.Timestamp("2024-02-10")
    rows = [
        # (a) dispenses x days supply: 2 x 14 = 28 days, Jan 1 .. Jan 28
        _row("2024-01-01", days_supply=14.0, dispenses=2.0, open_order=True),
        # (a) days supply alone (dispenses default 1): 14 days
        _row("2024-01-01", days_supply=14.0, open_order=True),
        # (a) dispenses only: 2 x 30 = 60 days, Jan 1 .. Feb 29 (leap year)
        _row("2024-01-01", dispenses=2.0, open_order=True),
        # (b) death on Feb 10 before the 60 dispensed days end: Jan 1 .. Feb 10
        _row("2024-01-01", dispenses=2.0, open_order=True, end_date=death, ends_at_death=True),
        # (b) death after the dispensed 14 days: the dispenses close it first
        _row("2024-01-01", days_supply=14.0, open_order=True, end_date=death,
             ends_at_death=True),
        # (c) nothing else: through the extract date Mar 15
        _row("2024-01-01", open_order=True),
        # (c) the extract date Mar 15 comes before 3 x 30 = 90 days (Mar 30)
        _row("2024-01-01", dispenses=3.0, open_order=True),
    ]
    assert _covered(rows, extract="2024-03-15") == [
        ("2024-01-01", "2024-01-28"),
        ("2024-01-01", "2024-01-14"),
        ("2024-01-01", "2024-02-29"),
        ("2024-01-01", "2024-02-10"),
        ("2024-01-01", "2024-01-14"),
        ("2024-01-01", "2024-03-15"),
        ("2024-01-01", "2024-03-15"),
    ]
    ev = conform(pd.DataFrame(rows).assign(technique="narcotic"))
    assert coverage_rules(ev, pd.Timestamp("2024-03-15")).tolist() == [
        "open_dispensed_supply", "open_dispensed_supply", "open_dispenses_x_30", "open_death",
        "open_dispensed_supply", "open_extract", "open_extract",
    ]


def test_open_order_tie_goes_to_the_dispenses_and_extract_defaults_to_latest_date():
    rows = [
        # 30 days: Jan 1 .. Jan 30 = the extract date Jan 30 -> closed by its supply
        _row("2024-01-01", days_supply=30.0, open_order=True),
        _row("2024-01-30", days_supply=1.0),
    ]
    ev = conform(pd.DataFrame(rows).assign(technique="narcotic"))
    assert coverage_rules(ev).tolist() == ["open_dispensed_supply", "days_supply"]
    # no extract given: the latest event date (Jan 30) closes a bare open order
    bare = conform(pd.DataFrame([_row("2024-01-01", open_order=True),
                                 _row("2024-01-30")]).assign(technique="narcotic"))
    assert _covered(bare.to_dict("records")) == [("2024-01-01", "2024-01-30"),
                                                 ("2024-01-30", "2024-01-30")]
    assert coverage_rules(bare).tolist() == ["open_extract", "single_day"]


def test_open_order_starting_after_the_extract_covers_its_own_day():
    got = _covered([_row("2024-05-01", open_order=True)], extract="2024-03-01")
    assert got == [("2024-05-01", "2024-05-01")]


def test_interval_arrays_match_event_intervals_without_optional_columns():
    ev = pd.DataFrame({"event_date": pd.to_datetime(["2024-01-01", "2024-01-05"])})
    start, end = interval_arrays(ev)
    assert (end - start).tolist() == [1, 1]


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
