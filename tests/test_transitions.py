"""Time between steps per transition label: quartiles over patients."""

import pandas as pd

from analytics.pathways import pathway_steps
from analytics.schema import conform
from analytics.transitions import transition_times


def ev(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique"])
    df["event_date"] = pd.to_datetime(df["event_date"])
    return conform(df)


def test_quartiles_per_transition_label():
    # physical therapy -> injection after 10, 20, 30, 40 days (patients a-d);
    # e: physical therapy -> narcotic after 5 days, then narcotic -> injection after 15.
    rows = []
    for pid, gap in zip("abcd", (10, 20, 30, 40), strict=True):
        rows += [(pid, "2024-01-01", "physical_therapy"),
                 (pid, (pd.Timestamp("2024-01-01") + pd.Timedelta(days=gap)).date(),
                  "injection")]
    rows += [("e", "2024-01-01", "physical_therapy"), ("e", "2024-01-06", "narcotic"),
             ("e", "2024-01-21", "injection"), ("e", "2024-01-21", "physical_therapy")]
    steps = pathway_steps(ev(rows), extract=pd.Timestamp("2024-12-31"))
    t = transition_times(steps)
    assert t[["from_label", "to_label", "transitions"]].values.tolist() == [
        ["physical_therapy", "injection", 4], ["narcotic", "injection", 1],
        ["physical_therapy", "narcotic", 1]]
    pt = t.iloc[0]
    # numpy linear quartiles of 10, 20, 30, 40: 17.5, 25, 32.5
    assert (pt["q1_days"], pt["median_days"], pt["q3_days"]) == (17.5, 25.0, 32.5)
    by_step = transition_times(steps, by_step=True)
    assert by_step[["from_step", "from_label", "to_label", "median_days"]].values.tolist() == [
        [1, "physical_therapy", "injection", 25.0], [1, "physical_therapy", "narcotic", 5.0],
        [2, "narcotic", "injection", 15.0]]


def test_no_steps():
    empty = pathway_steps(ev([]))
    assert len(transition_times(empty)) == 0
    assert list(transition_times(empty, by_step=True).columns)[0] == "from_step"
