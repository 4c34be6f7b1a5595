"""The Overview result: key measures, periods, monthly tables, physicians, protection."""

import pandas as pd
import pytest

from analytics.results.measures import CohortMeasures
from analytics.results.overview import (
    build_overview,
    key_measures,
    monthly_events,
    new_patients_by_month,
    period_bounds,
    period_measures,
    physician_table,
)
from analytics.schema import empty_events
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_key_measures_hand_computed(events):  # noqa: F811
    m = key_measures(CohortMeasures(events))
    assert m.patients == 4
    assert (m.narcotic_patients, m.pct_narcotic) == (2, 50.0)
    # p2: 30-day fills back to back, 2024-01-01 .. 2024-04-29 = 120 days; p3: one 7-day fill.
    assert (m.courses, m.long_term_courses, m.pct_long_term) == (2, 1, 50.0)
    assert m.median_course_days == 63.5
    # Sessions: p1 2024-03-01, 2024-04-01; p4 2024-02-01.  Follow-up of p1 92 days
    # (2024-01-01 .. 2024-04-01) and of p4 91 days (2024-02-01 .. 2024-05-01):
    # 3 / (183 / 365.25) = 5.99 sessions per patient-year.
    assert (m.injection_patients, m.sessions, m.sessions_per_patient_year) == (2, 3, 5.99)
    assert (m.over_limit_patients, m.pct_over_limit) == (0, 0.0)
    # Concordant: p1 (PT before injection), p3 (PT before narcotic); not p2, p4.
    assert (m.concordant, m.pct_concordant) == (2, 50.0)


def test_key_measures_empty():
    m = key_measures(CohortMeasures(empty_events()))
    assert m.patients == 0 and m.pct_narcotic is None and m.median_course_days is None
    assert m.sessions_per_patient_year is None


def test_period_bounds_and_measures(events):  # noqa: F811
    prev, start, end = period_bounds(pd.Timestamp("2024-06-01"), 90)
    assert (prev, start, end) == (pd.Timestamp("2023-12-05"), pd.Timestamp("2024-03-04"),
                                  pd.Timestamp("2024-06-01"))
    current, previous = period_measures(CohortMeasures(events), period_days=90)
    assert current.patients == 4 and previous.patients == 4
    assert current.narcotic_patients == 2 and previous.narcotic_patients == 1


def test_monthly_and_new_patients(events):  # noqa: F811
    monthly = monthly_events(CohortMeasures(events))
    jan = monthly.loc[monthly["month"] == pd.Timestamp("2024-01-01")].set_index("technique")
    assert jan.loc["narcotic", "events"] == 2 and jan.loc["narcotic", "patients"] == 1
    assert jan.loc["physical_therapy", "events"] == 1
    assert jan.loc["surgery", "patients"] == 1
    # every month and technique with an event, in month then technique order
    assert monthly["events"].sum() == len(events)
    assert monthly["month"].is_monotonic_increasing
    feb = monthly.loc[monthly["month"] == pd.Timestamp("2024-02-01")]
    # p1 physical therapy and p4 injection on 2024-02-01 (p2's refill was on 01-31)
    assert feb["technique"].tolist() == ["physical_therapy", "injection"]
    assert feb["patients"].tolist() == [1, 1]
    new = new_patients_by_month(CohortMeasures(events))
    assert new["patients"].tolist() == [3, 1]
    assert new["month"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]


def test_physician_table(events):  # noqa: F811
    table = physician_table(CohortMeasures(events)).set_index("provider_id")
    assert table.loc["DR01", ["patients", "narcotic_patients", "long_term_courses",
                              "injection_patients", "sessions", "concordant"]].tolist() == [
        2, 1, 0, 1, 2, 2]
    assert table.loc["DR01", "median_course_days"] == 7
    assert table.loc["DR02", ["patients", "long_term_courses", "sessions", "concordant"]
                     ].tolist() == [2, 1, 1, 0]
    assert table.loc["DR02", "pct_long_term"] == 100.0
    assert table.loc["DR02", "pct_concordant"] == 0.0


@pytest.mark.parametrize("fn", [monthly_events, new_patients_by_month])
def test_empty_tables(fn):
    assert fn(CohortMeasures(empty_events())).empty


def test_empty_physician_table():
    assert physician_table(CohortMeasures(empty_events())).empty


def test_overview_protected_at_threshold_3(events):  # noqa: F811
    result = build_overview(CohortMeasures(events), 90, min_cell=3)
    physicians = result.physicians.display(titles=False).set_index("provider_id")
    # DR01 and DR02 have 2 patients each (< 3); all physicians 4 is shown.
    assert physicians["patients"].tolist() == ["<3", "<3", 4]
    # sessions 2 + 1 = 3: both physicians' cells small, the total shown
    assert physicians["sessions"].tolist() == ["<3", "<3", 3]
    # long-term courses DR01 0, DR02 1, all 1: DR02 and the total are small
    assert physicians["long_term_courses"].tolist() == [0, "<3", "<3"]
    # percents and medians of a hidden count are hidden
    assert (physicians["pct_narcotic"] == "hidden").all()
    assert (physicians["median_course_days"] == "hidden").all()
    # new patients: January 3, February 1 (< 3), cohort 4 shown: January is hidden too
    assert result.new_patients.texts("patients") == ["hidden", "<3"]
    assert result.cohort.texts("patients") == ["4"]
    # the KPIs: 4 patients shown; injection patients 1 / 2 are small; their shares hidden
    assert result.kpis.texts("patients") == ["4", "4", "4"]
    assert result.kpis.texts("injection_patients") == ["<3", "<3", "<3"]
    assert result.kpis.texts("pct_over_limit") == ["hidden", "hidden", "hidden"]
    # a change is shown only where both periods are: patients 4 - 4
    assert result.changes.texts("patients") == ["+0"]
    assert result.changes.hidden("pct_narcotic").tolist() == [True]


def test_overview_without_suppression_shows_every_value(events):  # noqa: F811
    result = build_overview(CohortMeasures(events), 90, min_cell=0)
    assert result.kpis.texts("median_course_days") == ["18 days", "90 days", "64 days"]
    assert result.changes.texts("median_course_days") == ["-72 days"]
    assert not any(result.physicians.hidden(c.name).any() for c in result.physicians.columns)


def _opioid_users() -> pd.DataFrame:
    """Twelve opioid users in 2023 and in 2024 (two fills, 15 covered days each year), all
    at 100 MME/day in 2023, only a0 in 2024; data from 2023-01-01."""
    from tests.test_safety import ev, narc, visit

    rows = [visit("z", "2023-01-01")]
    for i in range(12):
        for year in (2023, 2024):
            dose = 100 if year == 2023 or i == 0 else 30
            rows += [narc(f"a{i}", f"{year}-03-01", 7, dose),
                     narc(f"a{i}", f"{year}-03-08", 8, dose)]
    return ev(rows)


def test_safety_kpis_over_the_last_12_months_against_the_period_before():
    m = CohortMeasures(_opioid_users(), extract=pd.Timestamp("2024-12-31"))
    result = build_overview(m, 365, min_cell=0)
    safety = result.safety
    # current: 12 months to December 2024 = the calendar year: 1 of 12 at high dosage;
    # previous: to December 2023: 12 of 12
    assert safety.labels("row") == ["current", "previous"]
    assert safety.texts("month") == ["2024-12-01", "2023-12-01"]
    assert [safety.cell(0, c) for c in ("hdo_denominator", "hdo_numerator")] == [12, 1]
    assert safety.texts("hdo_share") == ["8.3%", "100.0%"]
    assert result.safety_changes.texts("hdo_share") == ["-91.7 pts"]
    # naloxone: the courses at 100 MME/day are indicated (≥ 50), none has a naloxone fill:
    # 0 of a0's 2024 course, 0 of the twelve 2023 courses
    assert [safety.cell(r, "naloxone_denominator") for r in (0, 1)] == [1, 12]
    assert safety.texts("naloxone_share") == ["0.0%", "0.0%"]
    # 90 days: the 12 months to September 2024 (October 2023 - September 2024) hold only the
    # 2024 fills, as the window to December 2024 does
    quarter = build_overview(m, 90, min_cell=0).safety
    assert quarter.texts("month") == ["2024-12-01", "2024-09-01"]
    assert quarter.texts("hdo_share") == ["8.3%", "8.3%"]
    protected = build_overview(m, 365, min_cell=3)
    assert protected.safety.texts("hdo_share") == ["hidden", "100.0%"]
    assert protected.safety_changes.texts("hdo_share") == ["hidden"]
