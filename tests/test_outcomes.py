"""Outcomes by first step: time zero, strata, outcome days, censoring, curves."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.outcomes import (
    GROUPINGS,
    OUTCOMES,
    OutcomeData,
    outcome_counts,
    outcome_curves,
    outcome_data,
    outcome_data_from_counts,
)
from analytics.schema import conform, empty_events

EXTRACT = pd.Timestamp("2024-12-31")


def row(pid, date, technique, **kw) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": technique, **kw}


def narc(pid, date, days, **kw) -> dict:
    return row(pid, date, "narcotic", days_supply=days, drug_class="opioid", **kw)


def ev(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["event_date"] = pd.to_datetime(df["event_date"])
    if "end_date" in df:
        df["end_date"] = pd.to_datetime(df["end_date"])
    return conform(df)


def outcome(d: OutcomeData, pid: str, name: str) -> pd.Series:
    t = d.table
    return t[(t["patient_id"] == pid) & (t["outcome"] == name)].iloc[0]


def test_time_zero_is_the_first_step_and_surgery_first_is_left_out():
    d = outcome_data(ev([
        row("a", "2023-01-01", "physical_therapy"), narc("a", "2023-02-01", 30),
        row("b", "2023-01-10", "muscle_relaxant"), narc("b", "2023-01-10", 10),
        row("c", "2023-01-05", "surgery"), row("c", "2023-02-01", "physical_therapy"),
        row("d", "2023-01-05", "injection"), row("d", "2023-01-05", "surgery"),
        row("e", "2023-03-01", "injection"),
    ]), extract=EXTRACT)
    surgery = d.table[d.table["outcome"] == "spine_surgery"].set_index("patient_id")
    assert surgery["first_step"].to_dict() == {
        "a": "physical_therapy", "b": "muscle_relaxant+narcotic", "e": "injection"}
    assert surgery["stratum"].to_dict() == {
        "a": "physical_therapy", "b": "combination", "e": "injection"}
    assert surgery.loc["a", "time_zero"] == pd.Timestamp("2023-01-01")
    assert (d.patients, d.left_out_surgery_first, d.left_out_no_index) == (3, 2, 0)


def test_outcome_days_from_time_zero():
    d = outcome_data(ev([
        row("a", "2023-01-01", "physical_therapy"),
        narc("a", "2023-02-01", 90),  # covers Feb 1 - May 1, end May 2
        row("a", "2023-07-01", "surgery"),
        row("b", "2023-01-01", "physical_therapy"),
        narc("b", "2023-02-01", 89),  # 89 days: not long-term
    ]), extract=EXTRACT)
    surgery = outcome(d, "a", "spine_surgery")
    assert (surgery["days"], surgery["observed"]) == (181, True)  # Jan 1 -> Jul 1
    # Long-term: the course's 90th day, Feb 1 + 89 = May 1, is 120 days after Jan 1.
    long_term = outcome(d, "a", "long_term_course")
    assert (long_term["days"], long_term["observed"]) == (120, True)
    assert not outcome(d, "b", "long_term_course")["observed"]
    # Opioid-free: the first uncovered day after the last course, May 2 = day 121.
    free = outcome(d, "a", "opioid_free")
    assert (free["days"], free["observed"]) == (121, True)
    # No course ended: censored at the extract date (Jan 1 2023 -> Dec 31 2024 = 730).
    censored = outcome(d, "b", "spine_surgery")
    assert (censored["days"], censored["observed"], censored["censored_at"]) == (
        730, False, "extract")


def test_opioid_free_needs_the_closing_gap_inside_the_data():
    events = ev([row("a", "2023-01-01", "physical_therapy"), narc("a", "2023-02-01", 90)])
    # The course ends May 2; May 2 + 30 = Jun 1 must be on or before the extract date.
    seen = outcome(outcome_data(events, extract=pd.Timestamp("2023-06-01")), "a",
                   "opioid_free")
    assert (seen["days"], seen["observed"]) == (121, True)
    unseen = outcome(outcome_data(events, extract=pd.Timestamp("2023-05-31")), "a",
                     "opioid_free")
    assert (unseen["days"], unseen["observed"], unseen["censored_at"]) == (
        150, False, "extract")
    # Patients without a narcotic course have no opioid-free row.
    d = outcome_data(ev([row("b", "2023-01-01", "physical_therapy")]), extract=EXTRACT)
    assert set(d.table["outcome"]) == {"spine_surgery", "long_term_course"}


def test_censored_at_death_day_or_at_the_last_record_with_only_the_year():
    d = outcome_data(ev([
        row("e", "2023-01-01", "physical_therapy", death_year=2023),
        narc("e", "2023-03-01", 30, end_date="2023-03-20", ends_at_death=True,
             death_year=2023),
        row("f", "2023-01-01", "physical_therapy", death_year=2023),
        row("f", "2023-06-30", "physical_therapy", death_year=2023),
    ]), extract=EXTRACT)
    e = outcome(d, "e", "spine_surgery")
    assert (e["days"], e["observed"], e["censored_at"]) == (78, False, "death")  # Mar 20
    free = outcome(d, "e", "opioid_free")
    assert (free["days"], free["observed"], free["censored_at"]) == (78, False, "death")
    f = outcome(d, "f", "spine_surgery")
    assert (f["days"], f["censored_at"]) == (180, "last_record")  # Jun 30


def test_index_dates_leave_out_patients_without_one_and_give_strata():
    events = ev([
        row("a", "2023-01-01", "physical_therapy", sex="F", birth_year=1960),
        row("b", "2023-01-01", "injection", sex="M", age=34),
        row("c", "2023-01-01", "injection", sex="M", birth_year=1940),
    ])
    index = pd.Series(pd.to_datetime(["2022-12-20", "2023-01-05"]).astype("datetime64[s]"),
                      index=pd.Index(["a", "b"], dtype="string"))
    d = outcome_data(events, index_dates=index, extract=EXTRACT)
    assert (d.patients, d.left_out_no_index) == (2, 1)
    t = d.table[d.table["outcome"] == "spine_surgery"].set_index("patient_id")
    assert t["age_band"].to_dict() == {"a": "50–64", "b": "18–34"}  # 2023 - 1960 = 63
    assert t["index_year"].tolist() == [2022, 2023]
    assert t["sex"].tolist() == ["F", "M"]


def _data(days, observed, strata) -> OutcomeData:
    n = len(days)
    table = pd.DataFrame({
        "patient_id": pd.array([f"p{i}" for i in range(n)], dtype="string"),
        "outcome": "spine_surgery", "days": np.asarray(days, dtype=np.int64),
        "observed": np.asarray(observed, dtype=bool),
        "time_zero": pd.Timestamp("2023-01-01"), "first_step": strata, "stratum": strata,
        "censored_at": "", "sex": "F", "age_band": "50–64", "index_year": 2023,
    })
    return OutcomeData(table, n)


def test_curves_medians_at_risk_and_log_rank():
    # PT: 10, 20, 30, 40 (40 censored); narcotic: 5, 5, 15, 60.
    d = _data([10, 20, 30, 40, 5, 5, 15, 60], [1, 1, 1, 0, 1, 1, 1, 1],
              ["physical_therapy"] * 4 + ["narcotic"] * 4)
    c = outcome_curves(d, "spine_surgery", times=(0, 10, 30))
    m = c.medians.set_index("stratum")
    # PT: S(10) = 3/4, S(20) = 2/4 -> median 20; narcotic: S(5) = 2/4 -> median 5.
    assert m.loc["physical_therapy", "median_days"] == 20.0
    assert m.loc["narcotic", "median_days"] == 5.0
    assert m.loc["physical_therapy", ["patients", "events"]].tolist() == [4, 3]
    r = c.at_risk.set_index(["stratum", "time"])
    assert r.loc[("physical_therapy", 10), ["at_risk", "events"]].tolist() == [4, 1]
    assert r.loc[("physical_therapy", 30), ["at_risk", "events"]].tolist() == [2, 3]
    assert r.loc[("physical_therapy", 30), "survival"] == pytest.approx(0.25)
    assert r.loc[("narcotic", 10), ["at_risk", "events"]].tolist() == [2, 2]
    pt = stats.CensoredData(uncensored=[10, 20, 30], right=[40])
    narcotic = stats.CensoredData(uncensored=[5, 5, 15, 60])
    expected = stats.logrank(pt, narcotic)
    assert c.logrank.df == 1
    assert c.logrank.p_value == pytest.approx(expected.pvalue)
    assert c.logrank.statistic == pytest.approx(expected.statistic ** 2)
    assert list(c.curves.columns[:2]) == ["stratum", "time"]


def test_curves_stop_where_fewer_than_the_threshold_are_at_risk():
    d = _data([10, 20, 30, 40, 50], [1, 1, 1, 1, 0], ["injection"] * 5)
    c = outcome_curves(d, "spine_surgery", min_at_risk=3, times=(0, 20, 40))
    # at risk: t=0: 5, 10: 5, 20: 4, 30: 3, 40: 2 -> the curve stops before 40.
    assert c.curves["time"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert c.curves["at_risk"].min() == 3
    # S(30) = 2/5 <= 0.5 is still drawn: median 30; S at 40 is past the drawn curve.
    assert c.medians["median_days"].iloc[0] == 30.0
    survival = c.at_risk.set_index("time")["survival"]
    assert survival[20] == pytest.approx(0.6) and np.isnan(survival[40])
    cut = outcome_curves(d, "spine_surgery", min_at_risk=4)
    assert np.isnan(cut.medians["median_days"].iloc[0])  # S(20) = 0.6 is the last drawn


def test_optional_strata_and_cohort():
    d = _data([10, 20, 30, 40], [1, 1, 1, 1], ["narcotic"] * 4)
    d.table.loc[2:, "sex"] = "M"
    c = outcome_curves(d, "spine_surgery", by=("stratum", "sex"))
    assert c.medians[["stratum", "sex", "patients"]].values.tolist() == [
        ["narcotic", "F", 2], ["narcotic", "M", 2]]
    one = outcome_curves(d, "spine_surgery", patients=["p0"])
    assert one.medians["patients"].tolist() == [1] and one.logrank.p_value is None
    with pytest.raises(ValueError):
        outcome_curves(d, "death")


def test_empty_input():
    d = outcome_data(empty_events())
    assert d.patients == 0 and len(d.table) == 0
    c = outcome_curves(d, "opioid_free")
    assert len(c.curves) == 0 and len(c.medians) == 0 and c.logrank.p_value is None


def test_counts_of_groups_of_patients_give_the_same_curves():
    """Rows counted per outcome, group, days and observed — summed over two halves of the
    patients (as the Spark engine sums buckets) — give the curves, medians, at-risk tables
    and tests of the patients' own rows, for every grouping."""
    rng = np.random.default_rng(7)
    n = 400
    strata = np.array(["physical_therapy", "narcotic", "injection", "combination"])
    table = pd.DataFrame({
        "patient_id": pd.array([f"p{i}" for i in np.repeat(np.arange(n), 3)], dtype="string"),
        "outcome": pd.Categorical(np.tile(["spine_surgery", "long_term_course", "opioid_free"],
                                          n)),
        "days": rng.integers(0, 60, 3 * n).astype(np.int64),
        "observed": rng.random(3 * n) < 0.6,
        "time_zero": pd.Timestamp("2023-01-01"),
        "first_step": pd.Categorical(np.repeat(strata[rng.integers(0, 4, n)], 3)),
        "stratum": pd.Categorical(np.repeat(strata[rng.integers(0, 4, n)], 3)),
        "censored_at": pd.Categorical([""] * (3 * n)),
        "sex": pd.Categorical(np.repeat(rng.choice(["F", "M", None], n), 3)),
        "age_band": pd.Categorical(np.repeat(rng.choice(["<18", "18–34", "50–64"], n), 3)),
        "index_year": pd.array(np.repeat(rng.choice([2022, 2023], n), 3), dtype="Int64"),
    })
    data = OutcomeData(table, n, 5, 7, EXTRACT)
    halves = [OutcomeData(table.iloc[np.flatnonzero(np.arange(3 * n) // 3 % 2 == k)]
                          .reset_index(drop=True)) for k in (0, 1)]
    for by in GROUPINGS:
        parts = pd.concat([outcome_counts(h, by) for h in halves], ignore_index=True)
        keys = ["outcome", by, "days", "observed"]
        summed = parts.groupby(keys, observed=True, dropna=False)["rows"].sum().reset_index()
        rebuilt = outcome_data_from_counts(summed, by, n, 5, 7, EXTRACT)
        assert (rebuilt.patients, rebuilt.left_out_no_index, rebuilt.left_out_surgery_first,
                len(rebuilt.table)) == (n, 5, 7, 3 * n)
        for name in OUTCOMES:
            mine = outcome_curves(rebuilt, name, by=(by,), min_at_risk=11)
            theirs = outcome_curves(data, name, by=(by,), min_at_risk=11)
            for part in ("curves", "medians", "at_risk"):
                a, b = getattr(mine, part), getattr(theirs, part)
                a = a.assign(**{by: a[by].astype(str)})
                b = b.assign(**{by: b[by].astype(str)})
                pd.testing.assert_frame_equal(a, b, check_dtype=False)
            assert mine.logrank.p_value == pytest.approx(theirs.logrank.p_value, rel=1e-12)
