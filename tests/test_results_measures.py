"""The measure step of the results layer: a cohort's per-patient tables, computed once."""

import numpy as np
import pandas as pd

from analytics import injections, narcotics, pathways
from analytics.results.measures import (
    UNKNOWN_PHYSICIAN,
    CohortMeasures,
    Definitions,
    PopulationMeasures,
)
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, conform
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_tables_equal_the_measure_functions_and_are_kept(events):  # noqa: F811
    m = CohortMeasures(events, Definitions(course_gap_days=10))
    pd.testing.assert_frame_equal(m.courses, narcotics.narcotic_courses(events, 10))
    pd.testing.assert_frame_equal(m.sessions, injections.injection_sessions(events))
    pd.testing.assert_frame_equal(m.steps("first"), pathways.pathway_steps(events))
    assert m.courses is m.courses and m.steps("first") is m.steps("first")
    assert m.steps("eras") is not m.steps("first")
    assert sorted(m.patients) == ["p1", "p2", "p3", "p4"]
    assert m.extract == pd.Timestamp("2024-06-01")  # latest event date


def test_attributes_come_from_the_whole_record_when_given(events):  # noqa: F811
    from analytics.cohorts import patient_attributes

    everyone = patient_attributes(events)
    few = events.loc[events["patient_id"].isin(["p1", "p3"])
                     & (events["event_date"] >= pd.Timestamp("2024-04-01"))]
    m = CohortMeasures(few, attributes=everyone)
    assert sorted(m.attributes.index) == ["p1", "p3"]
    # p1's only event in the window is with DR02; over the whole record it is DR01's patient
    assert few.loc[few["patient_id"] == "p1", "provider_id"].tolist() == ["DR02"]
    assert m.attributes.loc["p1", "provider_id"] == "DR01"
    assert CohortMeasures(few).attributes.loc["p1", "provider_id"] == "DR02"
    assert m.physician_of(pd.Series(["p3", "zz"])).tolist() == ["DR01", "(unknown)"]


def test_fills_cover_open_orders_through_the_extract_date():
    frame = pd.DataFrame({
        "patient_id": ["a", "b"],
        "event_date": pd.to_datetime(["2024-01-01", "2024-03-01"]),
        "technique": ["narcotic", "physical_therapy"],
        "mme_per_day": [30.0, None],
        "open_order": [True, False],
    })
    orders = conform(frame)
    # the dataset's extract date is 2024-01-31: the open order covers 31 days
    fills = CohortMeasures(orders, extract=pd.Timestamp("2024-01-31")).fills
    assert fills["mme_total"].tolist() == [30.0 * 31]
    # without one, the latest event date (2024-03-01): 61 days
    assert CohortMeasures(orders).fills["mme_total"].tolist() == [30.0 * 61]


def test_window_is_a_period_with_its_own_extract_date(events):  # noqa: F811
    m = CohortMeasures(events)
    part = m.window(pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-30"))
    assert part.extract == pd.Timestamp("2024-04-30")
    assert part.events["event_date"].between("2024-03-01", "2024-04-30").all()
    assert m.window(pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-30")) is part


def test_physicians_and_row_positions_of_a_selection(events):  # noqa: F811
    # p1 and p3 are DR01's patients, p2 and p4 DR02's; p5 has no physician
    extra = events.iloc[:1].assign(patient_id="p5", provider_id=pd.NA)
    everyone = PopulationMeasures(conform(pd.concat([events, extra], ignore_index=True)))
    codes, names = everyone.physicians
    assert names.tolist() == [UNKNOWN_PHYSICIAN, "DR01", "DR02"]  # "(" sorts first
    assert codes.tolist() == [1, 2, 1, 2, 0]
    p2_p3 = everyone.select(np.array([False, True, True, False, False]))
    codes, names = p2_p3.physicians
    assert names.tolist() == ["DR01", "DR02"] and codes.tolist() == [1, 0]
    codes, names = everyone.select(np.array([False, True, False, True, False])).physicians
    assert names.tolist() == ["DR02"] and codes.tolist() == [0, 0]
    for cohort in (everyone.select(None), p2_p3):
        for key, table in ((("sessions",), cohort.sessions), (("courses",), cohort.courses),
                           (("steps", "first", tuple(DEFAULT_PATHWAY_TECHNIQUES)),
                            cohort.steps())):
            positions = cohort.patient_positions(key)
            assert cohort.patients[positions].tolist() == table["patient_id"].tolist()


def test_safety_cut_to_two_months_gives_those_months_rates():
    """The Overview's KPIs read the safety measures cut to their two trend points: the
    rates of those months equal the whole trend's, for the clinic and every physician, in
    the population and in a cohort."""
    from analytics.cohorts import Cohort
    from analytics.ingest import ingest
    from analytics.results.measures import kpi_months
    from analytics.safety import safety_rates
    from analytics.settings import ROOT

    sample = ingest([ROOT / "sample_data" / "painpath_sample.csv"])
    population = PopulationMeasures(sample.events, extract=sample.extract_date,
                                    diagnoses=sample.diagnoses)
    women = population.cohort(Cohort(sexes=("F",)))
    for m in (population.select(None), women):
        whole = safety_rates(m.safety, "month")
        for days in (90, 180, 365):
            months = kpi_months(m.extract, days)
            assert months[1] + pd.DateOffset(months={90: 3, 180: 6, 365: 12}[days]) == months[0]
            cut = m.safety_months(months)
            assert len(cut.patient_months) < len(m.safety.patient_months)
            expected = whole.loc[whole["period"].isin(months)].reset_index(drop=True)
            got = safety_rates(cut, "month")
            got = got.loc[got["period"].isin(months)].reset_index(drop=True)
            assert len(expected) > 0
            pd.testing.assert_frame_equal(got, expected)
