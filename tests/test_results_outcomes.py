"""The Outcomes result: curves by first step, at-risk tables, medians, protection (hand-computed).

Extract date 2024-12-31.  Time zero is each patient's first step:

- PT first: ``p1`` (2023-01-01, spine surgery 2023-04-11: day 100), ``p2`` (2023-01-01, no
  surgery: censored at day 730), ``p3`` (2023-07-01: censored at day 549).
- Narcotic first: ``n1`` (2023-01-01, 30 days; surgery 2023-03-02: day 60), ``n2``
  (2023-01-01, 30 days: censored at day 730).  Both courses end 2023-01-31 (day 30) by a
  gap seen in full: opioid-free on day 30.
- ``s1``: surgery first, left out.

Spine surgery, PT: at risk 3 at day 100, S = 2/3 after it, never ≤ 0.5 (no median);
narcotic: at risk 2 at day 60, S = 1/2 (median 60).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.results.measures import CohortMeasures, PopulationMeasures
from analytics.results.outcomes import build_outcomes, group_label, p_text
from tests.test_outcomes import ev, narc, row

EXTRACT = pd.Timestamp("2024-12-31")


def clinic() -> pd.DataFrame:
    return ev([
        row("p1", "2023-01-01", "physical_therapy"), row("p1", "2023-04-11", "surgery"),
        row("p2", "2023-01-01", "physical_therapy"),
        row("p3", "2023-07-01", "physical_therapy"),
        narc("n1", "2023-01-01", 30), row("n1", "2023-03-02", "surgery"),
        narc("n2", "2023-01-01", 30),
        row("s1", "2023-01-01", "surgery"), row("s1", "2023-02-01", "physical_therapy"),
    ])


def measures(events: pd.DataFrame, index_dates: pd.Series | None = None) -> CohortMeasures:
    population = PopulationMeasures(events, extract=EXTRACT, index_dates=index_dates)
    return CohortMeasures(events, extract=EXTRACT, population=population)


def by_group(table, column: str) -> dict[str, str]:
    return dict(zip(table.labels("group"), table.texts(column), strict=True))


def test_curves_medians_and_at_risk_tables_without_suppression():
    result = build_outcomes(measures(clinic()), min_cell=0)
    assert [result.summary.cell(0, c) for c in ("patients", "left_out_no_index",
                                                 "left_out_surgery_first")] == [5, 0, 1]
    surgery = result.spine_surgery
    assert by_group(surgery.groups, "patients") == {"Physical therapy": "3", "Narcotic": "2"}
    assert by_group(surgery.groups, "events") == {"Physical therapy": "1", "Narcotic": "1"}
    assert by_group(surgery.groups, "median_days") == {"Physical therapy": "–",
                                                       "Narcotic": "60"}
    risk = surgery.at_risk.display(titles=False)
    pt = risk.loc[risk["group"] == "Physical therapy"].set_index("time")
    assert pt.loc[[0, 90, 180], "at_risk"].tolist() == [3, 3, 2]
    assert pt.loc[[0, 90, 180], "events"].tolist() == [0, 0, 1]
    assert pt.loc[180, "survival"] == 66.7
    narcotic = risk.loc[risk["group"] == "Narcotic"].set_index("time")
    assert narcotic.loc[[0, 90], "at_risk"].tolist() == [2, 1]
    assert narcotic.loc[90, "survival"] == 50.0
    # the test is scipy's two-group log-rank test
    expected = stats.logrank(stats.CensoredData(uncensored=[100], right=[730, 549]),
                             stats.CensoredData(uncensored=[60], right=[730]))
    assert surgery.test.cell(0, "p_value") == pytest.approx(float(expected.pvalue), rel=1e-12)
    assert surgery.test.text(0, "compared") == "Physical therapy, Narcotic"
    # opioid-free: only the patients with a course, both on day 30
    free = result.opioid_free
    assert by_group(free.groups, "patients") == {"Narcotic": "2"}
    assert by_group(free.groups, "median_days") == {"Narcotic": "30"}
    assert by_group(result.groups, "with_course") == {"Physical therapy": "0", "Narcotic": "2"}
    assert by_group(result.long_term_course.groups, "events") == {"Physical therapy": "0",
                                                                  "Narcotic": "0"}


def test_curves_stop_where_fewer_than_the_threshold_are_at_risk():
    result = build_outcomes(measures(clinic()), min_cell=2)
    curves = result.spine_surgery.curves.values
    # PT: at risk 3, 3, 2 then 1 at day 730; narcotic: 2, 2 then 1 at day 730
    assert curves.loc[curves["group"] == "Physical therapy", "time"].tolist() == [0, 100, 549]
    assert curves.loc[curves["group"] == "Narcotic", "time"].tolist() == [0, 60]
    groups = result.spine_surgery.groups
    assert by_group(groups, "patients") == {"Physical therapy": "3", "Narcotic": "2"}
    # one event in each group: small, and the medians with them
    assert by_group(groups, "events") == {"Physical therapy": "<2", "Narcotic": "<2"}
    assert by_group(groups, "median_days") == {"Physical therapy": "hidden",
                                               "Narcotic": "hidden"}


def test_a_small_group_hides_its_complement_its_curve_and_leaves_the_test():
    result = build_outcomes(measures(clinic()), min_cell=3)
    surgery = result.spine_surgery
    # 5 analysed = 3 + 2: the 2 is small, so the 3 would give it away
    assert by_group(surgery.groups, "patients") == {"Physical therapy": "hidden",
                                                    "Narcotic": "<3"}
    assert result.summary.text(0, "patients") == "5"
    assert result.summary.text(0, "left_out_surgery_first") == "<3"
    risk = surgery.at_risk.display(titles=False)
    assert (risk.loc[risk["time"] == 0, "at_risk"] != 0).all()
    assert set(risk.loc[risk["time"] == 0, "at_risk"]) == {"hidden", "<3"}
    assert surgery.curves.empty  # no group shown, no curve
    assert surgery.test.text(0, "p") == "–"


def test_patients_without_an_index_date_are_left_out_and_counted():
    index = pd.Series(pd.to_datetime(["2022-12-01", "2022-12-01"]),
                      index=pd.Index(["p1", "n1"], dtype="string"))
    result = build_outcomes(measures(clinic(), index), min_cell=0)
    # p2, p3, n2 and s1 have no index date (s1 is counted there, not as surgery first)
    assert [result.summary.cell(0, c) for c in ("patients", "left_out_no_index",
                                                 "left_out_surgery_first")] == [2, 4, 0]
    assert by_group(result.spine_surgery.groups, "patients") == {"Physical therapy": "1",
                                                                 "Narcotic": "1"}
    # a cohort of the population takes its patients' rows and left-out counts
    events = clinic()
    chosen = events.loc[events["patient_id"].isin(["p1", "p2"])]
    cohort = CohortMeasures(chosen, extract=EXTRACT,
                            population=measures(events, index).population)
    assert (cohort.outcomes.patients, cohort.outcomes.left_out_no_index) == (1, 1)


def test_groups_by_sex_and_labels():
    events = clinic()
    events["sex"] = events["patient_id"].map({"p1": "F", "p2": "F", "p3": "M", "n1": "M",
                                              "n2": "M", "s1": "F"}).astype("string")
    result = build_outcomes(measures(events), by="sex", min_cell=0)
    assert by_group(result.spine_surgery.groups, "patients") == {"F": "2", "M": "3"}
    assert group_label("stratum", "combination") == "Combination (same day)"
    assert group_label("stratum", "muscle_relaxant") == "Muscle relaxant"
    assert group_label("index_year", 2023.0) == "2023"
    assert [p_text(v) for v in (0.0004, 0.0321, None, np.nan)] == ["< 0.001", "0.032", "–",
                                                                   "–"]
