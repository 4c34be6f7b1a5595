"""The cached per-patient tables give the same results as a fresh computation.

The app computes a population's per-patient tables once (analytics/results/measures.py:
:class:`PopulationMeasures`) and takes a cohort as a selection of their rows
(:meth:`PopulationMeasures.cohort`); the date window recomputes on the window's events,
cached per window (docs/definitions.md section 4).  For 50 random cohorts on the sample
clinic (every criterion, date windows included), every result builder's aggregates from
the selection equal those computed afresh from the cohort's own events
(:func:`analytics.cohorts.apply_cohort`), the Overview's periods and Compare included.
The whole-record measures (opioid safety over the full history, outcomes by first step,
strata, the drill-down's patient lists) equal those computed afresh from the cohort's
patients' whole records, in the same dataset (its first event date, extract date and
pharmacy data).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from analytics import pathways
from analytics.cohorts import Cohort, apply_cohort, patient_attributes
from analytics.population import index_dates
from analytics.results.compare import compare_counts
from analytics.results.drilldown import Selection, pathway_patients
from analytics.results.injections import injections_counts
from analytics.results.measures import (
    WINDOWS_KEPT,
    CohortMeasures,
    Definitions,
    PopulationMeasures,
    patient_spans,
    technique_months,
)
from analytics.results.narcotics import narcotics_counts
from analytics.results.outcomes import build_outcomes
from analytics.results.overview import overview_counts
from analytics.results.pathways import pathways_counts
from analytics.results.safety import safety_counts
from analytics.results.strata import STRATA, strata_counts
from analytics.results.summary import summary_counts
from analytics.results.timeline import build_timeline
from analytics.schema import conform, isin_ids
from tests.cohort_strategy import cohorts

DEFINITIONS = Definitions(era_gap_days=45, course_gap_days=20, min_post_combination_days=20)


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    from analytics.ingest import ingest
    from analytics.settings import ROOT

    events = ingest([ROOT / "sample_data" / "painpath_sample.csv"]).events
    return events, patient_attributes(events), events["event_date"].max()


@pytest.fixture(scope="module")
def diagnoses() -> pd.DataFrame:
    from analytics.ingest import ingest
    from analytics.settings import ROOT

    return ingest([ROOT / "sample_data" / "painpath_sample.csv"]).diagnoses


def whole_record(sample, diagnoses, events: pd.DataFrame) -> PopulationMeasures:
    """The measures of ``events`` (the sample's or some patients' whole records) with the
    sample as the dataset: its accepted events, diagnoses and index dates."""
    dataset, attributes, extract = sample
    return PopulationMeasures(events, DEFINITIONS, extract, attributes=attributes,
                              accepted=dataset, diagnoses=diagnoses,
                              index_dates=index_dates(diagnoses))


@pytest.fixture(scope="module")
def population(sample, diagnoses) -> PopulationMeasures:
    return whole_record(sample, diagnoses, sample[0])


def assert_same(got: object, expected: object, where: str = "") -> None:
    """Equal aggregates: frames and series exactly (values, dtypes, index), dataclasses
    field by field, floats to the last bit (NaN equal to NaN)."""
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, obj=where)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(got, expected, obj=where)
    elif dataclasses.is_dataclass(expected):
        assert type(got) is type(expected), where
        for f in dataclasses.fields(expected):
            assert_same(getattr(got, f.name), getattr(expected, f.name), f"{where}.{f.name}")
    elif isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, tuple | list):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert isinstance(got, float) and np.isnan(got), where
    else:
        assert got == expected, (where, got, expected)


def fresh(sample, cohort: Cohort, diagnoses: pd.DataFrame) -> CohortMeasures:
    """The cohort's measures computed afresh: from its events, and the whole-record ones
    from its patients' whole records (nobody else's)."""
    events, attributes, extract = sample
    chosen = apply_cohort(events, cohort, course_gap_days=DEFINITIONS.course_gap_days,
                          extract=extract, attributes=attributes)
    record = events.loc[isin_ids(events["patient_id"], chosen["patient_id"].unique())]
    return CohortMeasures(chosen, DEFINITIONS, extract, attributes,
                          population=whole_record(sample, diagnoses, record))


def all_results(m: CohortMeasures, other: CohortMeasures, cohort: Cohort) -> dict[str, object]:
    out: dict[str, object] = {
        "patients": m.patients.tolist(),
        "overview_365": overview_counts(m, 365),
        "overview_90": overview_counts(m, 90),
        "pathways_first": pathways_counts(m, "first"),
        "pathways_eras": pathways_counts(m, "eras", ("narcotic", "injection", "surgery")),
        "injections": injections_counts(m),
        "narcotics": narcotics_counts(m),
        "compare": compare_counts(m, other),
        "summary": summary_counts(m, "first"),
        "safety": safety_counts(m, cohort.date_from, cohort.date_to),
        "outcomes_by_first_step": build_outcomes(m, "stratum", min_cell=11),
        "outcomes_by_sex": build_outcomes(m, "sex", min_cell=0),
        **{f"strata_{by}": strata_counts(m, by) for by in STRATA},
        "untreated_patients": pathway_patients(m, "first", None, Selection("untreated")),
        "treated_patients": pathway_patients(m, "first", None, Selection("other")),
    }
    if len(m.patients):
        out["timeline"] = build_timeline(m, str(m.patients[len(m.patients) // 2]))
    return out


def test_cached_tables_give_the_results_of_a_fresh_computation(sample, diagnoses,
                                                               population) -> None:
    """50 random cohorts: the selection of the population's cached rows gives exactly the
    aggregates of every builder computed afresh from the cohort's events (Safety, Outcomes,
    strata and patient lists: from its patients' whole records)."""
    women = Cohort(sexes=("F",))
    other_fresh, other_cached = fresh(sample, women, diagnoses), population.cohort(women)
    sizes: list[int] = []

    @settings(max_examples=50, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(cohorts(sample[0]))
    def check(cohort: Cohort) -> None:
        cached = population.cohort(cohort)
        expected = all_results(fresh(sample, cohort, diagnoses), other_fresh, cohort)
        got = all_results(cached, other_cached, cohort)
        assert got.keys() == expected.keys(), cohort
        for name in expected:
            assert_same(got[name], expected[name], f"{cohort.describe()}: {name}")
        sizes.append(len(cached.patients))

    check()
    # the eras mode dropped short pieces (min_post_combination_days): their count was
    # compared cohort by cohort too
    assert population.steps("eras").attrs[pathways.DROPPED_PIECES] > 0
    n_all = len(population.patients)
    assert sum(0 < n < n_all for n in sizes) >= 15  # mostly real cohorts, not all or none


def test_a_cohort_selects_rows_and_computes_nothing(population) -> None:
    """Choosing cohorts only selects rows: the population's tables are computed once."""
    women = population.cohort(Cohort(sexes=("F",)))
    women.courses, women.safety, women.outcomes  # noqa: B018 - computes the tables
    courses, safety, outcomes = population.courses, population.safety, population.outcomes
    for cohort in (Cohort(sexes=("M",)), Cohort(tried=("injection",)),
                   Cohort(long_term_narcotic=True),
                   Cohort(date_from=dt.date(2023, 1, 1), sexes=("M",))):
        m = population.cohort(cohort)
        assert population.courses is courses
        assert set(m.courses["patient_id"]) <= set(m.patients)
        assert len(m.courses) < len(courses)
        # the whole-record measures: the population's, once (a date window's too)
        years = m.safety.patient_years
        assert m.population is population and population.safety is safety
        assert m.base.safety is safety and m.base.outcomes is outcomes
        assert set(years["patient_id"]) <= set(m.patients) and len(years) < len(
            safety.patient_years)
        assert set(m.outcomes.table["patient_id"]) <= set(m.patients)
        assert population.outcomes is outcomes


def test_windows_are_kept_and_bounded(population) -> None:
    """A date window's tables are computed once per window; the last WINDOWS_KEPT
    windows are kept, older ones dropped."""
    start = pd.Timestamp("2023-01-01")
    first = population.cohort(Cohort(date_from=start.date(), sexes=("F",)))
    again = population.cohort(Cohort(date_from=start.date(), sexes=("M",)))
    assert first.base is again.base  # one window, two selections
    assert first.base is population.window(start, None)
    for month in range(1, WINDOWS_KEPT + 1):
        population.window(start + pd.DateOffset(months=month), None)
    assert population.window(start, None) is not first.base  # dropped, computed again
    assert len(population._windows) == WINDOWS_KEPT


def test_memory_of_the_cached_tables_is_measured(sample) -> None:
    events, attributes, extract = sample
    measures = PopulationMeasures(events, DEFINITIONS, extract, attributes=attributes)
    assert measures.memory_bytes() == 0
    courses = measures.courses
    assert measures.memory_bytes() == int(courses.memory_usage(deep=True).sum())
    measures.window(pd.Timestamp("2024-01-01"), None)
    window = measures.window(pd.Timestamp("2024-01-01"), None)
    events_bytes = int(window.events.memory_usage(deep=True).sum())
    assert measures.memory_bytes() == int(courses.memory_usage(deep=True).sum()) + events_bytes
    # a period's window lets its events go once its tables are there; a table asked for
    # later takes them again (and is what a fresh computation gives)
    window_courses = window.courses
    window.drop_events()
    assert window._events is None
    assert measures.memory_bytes() == int(courses.memory_usage(deep=True).sum()) + int(
        window_courses.memory_usage(deep=True).sum())
    inside = events.loc[events["event_date"] >= pd.Timestamp("2024-01-01")]
    pd.testing.assert_frame_equal(
        window.sessions, PopulationMeasures(inside, DEFINITIONS, extract).sessions)
    assert window._events is not None


def test_patient_spans_and_technique_months_by_hand() -> None:
    events = conform(pd.DataFrame({
        "patient_id": ["b", "a", "a", "a", "b"],
        "event_date": pd.to_datetime(["2024-03-05", "2024-01-31", "2024-02-01", "2024-02-20",
                                      "2024-03-01"]),
        "technique": ["narcotic", "physical_therapy", "physical_therapy", "narcotic",
                      "injection"],
    }))
    spans = patient_spans(events)
    assert spans["patient_id"].tolist() == ["a", "b"]
    day = lambda d: (pd.Timestamp(d) - pd.Timestamp("1970-01-01")).days  # noqa: E731
    assert spans["first_day"].tolist() == [day("2024-01-31"), day("2024-03-01")]
    assert spans["last_day"].tolist() == [day("2024-02-20"), day("2024-03-05")]
    assert spans["events"].tolist() == [3, 2]
    assert spans["narcotic"].tolist() == [True, True]
    months = technique_months(events)  # 2024-01 is month 648; PT 0, narcotic 2, injection 3
    assert list(months.itertuples(index=False, name=None)) == [
        ("a", 648, 0, 1), ("a", 649, 0, 1), ("a", 649, 2, 1), ("b", 650, 2, 1),
        ("b", 650, 3, 1)]


def test_warm_computes_everything_the_pages_select(sample, diagnoses) -> None:
    """After :meth:`PopulationMeasures.warm` (the app's background step), the pages of a
    new cohort compute no population table and no row position: they only select."""
    measures = whole_record(sample, diagnoses, sample[0])
    measures.warm(period_days=(365,))
    computed = set(measures._memo)
    periods = {key: set(w._memo) for key, w in measures._windows.items()}
    m = measures.cohort(Cohort(sexes=("F",), tried=("narcotic",)))
    overview_counts(m, 365)
    for mode in ("first", "eras"):
        pathways_counts(m, mode)
    injections_counts(m)
    narcotics_counts(m)
    safety_counts(m)
    for by in ("stratum", "sex"):
        build_outcomes(m, by)
    for by in STRATA:
        strata_counts(m, by)
    pathway_patients(m, "first", None, Selection("other"))
    assert set(measures._memo) == computed
    assert {key: set(w._memo) for key, w in measures._windows.items()} == periods


def test_attrition_of_a_cohort_counts_its_patients_among_the_populations(
        sample, population) -> None:
    """The attrition's dataset and population stages are counted once per population; a
    cohort's stage is its patients with a pathway: the table of
    :func:`analytics.attrition.attrition` over the same inputs."""
    from analytics.attrition import attrition
    from analytics.results.attrition import attrition_counts

    events = sample[0]
    for cohort in (Cohort(), Cohort(sexes=("F",)), Cohort(date_from=dt.date(2023, 1, 1)),
                   Cohort(never_tried=("physical_therapy",))):
        m = population.cohort(cohort)
        expected = attrition(1000, events, events, population.steps("first"), m.patients)
        pd.testing.assert_frame_equal(attrition_counts(m, 1000).frame, expected)
