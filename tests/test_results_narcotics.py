"""The Narcotic courses result (hand-computed on the clinic of tests/test_cohorts.py).

p2 (DR02): four 30-day fills from 2024-01-01, each within the gap: one course of 120 days
(long-term).  p3 (DR01): one 7-day fill on 2024-06-01, ongoing at the extract date 06-01.
No strength or quantity: no MME.
"""

from analytics.results.measures import CohortMeasures
from analytics.results.narcotics import build_narcotics
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_without_suppression(events):  # noqa: F811
    result = build_narcotics(CohortMeasures(events), min_cell=0)
    kpis = result.kpis.values.iloc[0]
    assert kpis[["patients", "courses", "long_term", "high_dose", "ongoing",
                 "courses_without_mme", "fills_without_mme"]].tolist() == [2, 2, 1, 0, 1, 2, 5]
    assert result.kpis.texts("pct_long_term") == ["50.0%"]
    durations = result.durations.values
    assert durations.loc[durations["courses"] > 0, "range"].tolist() == ["7–13", "119–125"]
    assert result.mme_bands.values["courses"].sum() == 0  # no course has an MME
    # patients with a covered day: p2 January to April, p3 June
    assert result.active_by_month.values["patients"].tolist() == [1, 1, 1, 1, 0, 1]
    assert result.overlap.texts("overlapping") == ["0"] and result.overlap_days.empty
    by = result.by_physician.display(titles=False)
    assert by["provider_id"].tolist() == ["DR01", "DR02", "All physicians"]
    assert by["courses"].tolist() == [1, 1, 2] and by["long_term"].tolist() == [0, 1, 1]
    assert by["median_days"].tolist() == [7.0, 120.0, 63.5]


def test_protected(events):  # noqa: F811
    result = build_narcotics(CohortMeasures(events), min_cell=3)
    assert result.kpis.texts("patients") == ["<3"]
    assert result.kpis.texts("courses") == ["<3"]
    assert result.kpis.texts("pct_long_term") == ["hidden"]
    assert result.kpis.texts("fills_without_mme") == ["5"]
    assert result.course_km.summary.texts("median") == ["hidden"]
    by = result.by_physician.display(titles=False)
    assert by["courses"].tolist() == ["<3", "<3", "<3"]
    assert by["long_term"].tolist() == [0, "<3", "<3"]
    assert (by["median_days"] == "hidden").all()
