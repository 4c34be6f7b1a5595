"""The Compare result: two cohorts side by side, and the difference rule."""

import pandas as pd

from analytics.cohorts import Cohort, apply_cohort
from analytics.results.compare import build_compare
from analytics.results.measures import CohortMeasures
from analytics.schema import conform
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_without_suppression(events):  # noqa: F811
    women = CohortMeasures(apply_cohort(events, Cohort(sexes=("F",))))
    result = build_compare(CohortMeasures(events), women, min_cell=0)
    m = result.measures
    assert m.labels("row") == ["Cohort A", "Cohort B"]
    assert m.texts("patients") == ["4", "2"]
    # B = p1, p3: p3's 7-day course (not long-term); p1's 2 sessions over 92 days of follow-up
    assert m.texts("pct_narcotic") == ["50.0%", "50.0%"]
    assert m.texts("pct_long_term") == ["50.0%", "0.0%"]
    assert m.texts("sessions_per_patient_year") == ["5.99", "7.94"]
    assert m.texts("pct_concordant") == ["50.0%", "100.0%"]
    paths = result.pathways.display(titles=False)
    assert paths.loc[0, ["patients_a", "patients_b", "percent_a", "percent_b"]].tolist() == [
        1, 1, 25.0, 50.0]
    assert paths["patients_a"].sum() == 4 and paths["patients_b"].sum() == 2


def clinic(n: int) -> pd.DataFrame:
    frame = pd.DataFrame({"patient_id": [f"p{i:03d}" for i in range(n)],
                          "technique": "physical_therapy",
                          "sex": ["F"] * (n - 3) + ["M"] * 3})
    return conform(frame.assign(event_date=pd.Timestamp("2024-01-01")))


def test_a_small_difference_hides_cohort_b():
    forty = clinic(40)
    everyone = CohortMeasures(forty)
    women = CohortMeasures(apply_cohort(forty, Cohort(sexes=("F",))))  # 37: differs by 3
    result = build_compare(everyone, women, min_cell=11)
    assert result.measures.texts("patients") == ["40", "hidden"]
    assert result.measures.texts("pct_concordant") == ["100.0%", "hidden"]
    assert result.pathways.texts("patients_a") == ["40"]
    assert result.pathways.texts("patients_b") == ["hidden"]
    assert result.pathways.texts("percent_b") == ["hidden"]
    # a difference of 11 or more is no small count: both shown
    men = CohortMeasures(apply_cohort(forty, Cohort(sexes=("M",))))  # 3 patients: small
    result = build_compare(everyone, men, min_cell=11)
    assert result.measures.texts("patients") == ["40", "<11"]
    far = CohortMeasures(clinic(20))
    assert build_compare(everyone, far, min_cell=11).measures.texts("patients") == ["40", "20"]
