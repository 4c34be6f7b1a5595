"""Pathways by stratum and the attrition table (the clinic of tests/test_cohorts.py).

p1 F, 45 at the first event (40–54): surgery → physical therapy → injection;
p2 M, 74 (65–74): narcotic → physical therapy; p3 F, 34 (<40): physical therapy →
narcotic; p4 M, 64 (55–64): injection → surgery.  13 event rows.
"""

import pandas as pd
import pytest

from analytics.results.attrition import build_attrition
from analytics.results.measures import CohortMeasures, PopulationMeasures
from analytics.results.strata import (
    build_strata,
    patient_strata,
    strata_counts,
    strata_counts_from,
    strata_rows,
)
from analytics.schema import conform
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_pathways_by_sex_add_up_per_stratum(events):  # noqa: F811
    result = build_strata(CohortMeasures(events), "sex", min_cell=0)
    assert result.strata.display(titles=False).to_dict("list") == {
        "stratum": ["F", "M"], "patients": [2, 2]}
    table = result.pathways.display(titles=False)
    assert table.loc[table["stratum"] == "F", "pathway"].tolist() == [
        "Physical therapy → Narcotic", "Surgery → Physical therapy → Injection"]
    assert table["patients"].tolist() == [1, 1, 1, 1]
    assert table["percent"].tolist() == [50.0] * 4


def test_rare_pathways_merge_within_each_stratum(events):  # noqa: F811
    result = build_strata(CohortMeasures(events), "sex", min_cell=3)
    table = result.pathways.display(titles=False)
    assert table["pathway"].tolist() == ["Other pathways", "Other pathways"]
    assert table["patients"].tolist() == ["<3", "<3"]
    assert table["percent"].tolist() == ["hidden", "hidden"]
    assert result.strata.texts("patients") == ["<3", "<3"]
    assert result.cohort.texts("patients") == ["4"]


def test_age_bands_in_order_and_index_years_with_unknown(events):  # noqa: F811
    m = CohortMeasures(events)
    assert patient_strata(m, "age").to_dict() == {
        "p1": "40–54", "p2": "65–74", "p3": "<40", "p4": "55–64"}
    result = build_strata(m, "age", min_cell=0)
    assert result.strata.labels("stratum") == ["<40", "40–54", "55–64", "65–74"]
    index = pd.Series(pd.to_datetime(["2023-05-01", "2024-01-01"]),
                      index=pd.Index(["p1", "p2"], dtype="string"))
    population = PopulationMeasures(events, index_dates=index)
    by_year = build_strata(CohortMeasures(events, population=population), "index_year",
                           min_cell=0)
    assert by_year.strata.display(titles=False).to_dict("list") == {
        "stratum": ["2023", "2024", "unknown"], "patients": [1, 1, 2]}
    with pytest.raises(ValueError):
        patient_strata(m, "site")


def test_strata_counts_from_the_rows_of_groups_of_patients(events):  # noqa: F811
    """Patients per stratum and pathway, summed over disjoint groups of the patients (as
    the Spark engine sums buckets), give the cohort's strata counts."""
    for by in ("age", "sex"):
        whole = strata_counts(CohortMeasures(events), by)
        halves = [strata_rows(strata_counts(CohortMeasures(
            events.loc[events["patient_id"].isin(ids)].reset_index(drop=True)), by))
            for ids in (["p1", "p2"], ["p3", "p4"])]
        rows = pd.concat(halves, ignore_index=True)
        rows = rows.groupby(["stratum", "pathway"], sort=False, as_index=False).agg(
            n_steps=("n_steps", "first"), patients=("patients", "sum"))
        got = strata_counts_from(by, "first", rows)
        assert (got.by, got.mode, got.cohort_patients) == (by, "first", 4)
        assert list(got.counts) == list(whole.counts)
        for name, frame in whole.counts.items():
            pd.testing.assert_frame_equal(got.counts[name], frame)
    assert list(strata_counts_from("age", "first", strata_rows(
        strata_counts(CohortMeasures(events), "age"))).counts) == [
        "<40", "40–54", "55–64", "65–74"]


def test_attrition_from_rows_read_to_the_cohort(events):  # noqa: F811
    extra = conform(pd.DataFrame({"patient_id": ["p5"], "technique": ["other"],
                                  "event_date": pd.to_datetime(["2024-01-01"])}))
    accepted = pd.concat([events, extra], ignore_index=True)
    population = PopulationMeasures(events, accepted=accepted)
    cohort = events.loc[events["patient_id"].isin(["p1", "p3"])]
    result = build_attrition(CohortMeasures(cohort, population=population), 20, min_cell=0)
    table = result.table.display(titles=False)
    assert table["rows"].tolist()[:3] == [20, 14, 13]
    assert table["patients"].tolist()[1:] == [5, 4, 4, 2]
    assert table["patients_left_out"].tolist()[2:] == [1, 0, 2]
    protected = build_attrition(CohortMeasures(cohort, population=population), 20,
                                min_cell=3).table
    # 5 accepted = 4 in the population + 1 left out (small, so the 5 is hidden);
    # 4 with a pathway = 2 in the cohort + 2 left out: both small
    assert protected.texts("patients")[1:] == ["hidden", "4", "4", "<3"]
    assert protected.texts("patients_left_out")[2:] == ["<3", "0", "<3"]
    unknown = build_attrition(CohortMeasures(cohort, population=population), None,
                              min_cell=0).table
    assert unknown.text(0, "rows") == "–"


def test_outcome_age_strata_use_the_same_bands_as_the_pathways():
    from analytics.cohorts import AGE_BANDS
    from analytics.outcomes import _age_labels
    from analytics.results.measures import AGE_BAND_EDGES

    assert tuple(_age_labels(list(AGE_BAND_EDGES))) == AGE_BANDS
