"""The Narcotic courses result (hand-computed on the clinic of tests/test_cohorts.py).

p2 (DR02): four 30-day fills from 2024-01-01, each within the gap: one course of 120 days
(long-term).  p3 (DR01): one 7-day fill on 2024-06-01, ongoing at the extract date 06-01.
No strength or quantity: no MME.
"""

import pandas as pd

from analytics.results.measures import CohortMeasures
from analytics.results.narcotics import build_narcotics
from analytics.schema import conform
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


def test_estimated_mme_and_death_are_counted():

    # p1: oxycodone 5 mg x 40 with an end date but no days supply -> MME estimated
    # (5 x 40 / 10 covered days x 1.5 = 30: band 20-<50); p2: buprenorphine film (no
    # factor) standing for 2 dispenses, its course ended by the patient's death.
    frame = conform(pd.DataFrame({
        "patient_id": ["p1", "p2"],
        "event_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
        "technique": ["narcotic", "narcotic"],
        "end_date": pd.to_datetime(["2024-01-10", "2024-01-20"]),
        "quantity": [40, 30],
        "days_supply": [None, 10],
        "dispenses": [1, 2],
        "detail": ["Oxycodone Hydrochloride 5 MG Oral Tablet",
                   "Buprenorphine 150 MCG Buccal Film [Belbuca]"],
        "ends_at_death": [False, True],
    }))
    result = build_narcotics(CohortMeasures(frame, extract=pd.Timestamp("2024-06-01")),
                             min_cell=0)
    kpis = result.kpis.values.iloc[0]
    assert kpis[["courses", "ended_by_death", "courses_without_mme", "courses_mme_estimated",
                 "fills_without_mme", "fills_mme_estimated"]].tolist() == [2, 1, 1, 1, 2, 1]
    bands = result.mme_bands.display(titles=False)
    assert bands.values.tolist() == [["<20", 0, 0], ["20–<50", 1, 1], ["50–<90", 0, 0],
                                     ["≥90", 0, 0]]


def _courses(with_mme: int, without_mme: int, high_dose: int = 0) -> pd.DataFrame:
    """One 30-day oxycodone fill per patient: ``with_mme`` of 5 mg x 60 (15 MME/day),
    ``high_dose`` of them 40 mg x 60 instead (120 MME/day), ``without_mme`` with no strength
    or quantity (no MME)."""
    n = with_mme + without_mme
    detail = (["Oxycodone Hydrochloride 40 MG Oral Tablet"] * high_dose
              + ["Oxycodone Hydrochloride 5 MG Oral Tablet"] * (with_mme - high_dose)
              + ["Oxycodone"] * without_mme)
    return conform(pd.DataFrame({
        "patient_id": [f"p{i:02d}" for i in range(n)],
        "event_date": pd.to_datetime(["2024-01-01"] * n),
        "technique": ["narcotic"] * n,
        "days_supply": [30] * n,
        "quantity": [60] * with_mme + [None] * without_mme,
        "detail": detail,
    }))


def test_high_dose_share_is_not_shown_when_most_courses_have_no_mme():
    # 23 courses, 21 without MME: "0 % high dose" would count doses nobody knows
    frame = _courses(with_mme=2, without_mme=21)
    result = build_narcotics(CohortMeasures(frame, extract=pd.Timestamp("2024-06-01")),
                             min_cell=0)
    assert result.kpis.texts("courses") == ["23"]
    assert result.kpis.texts("courses_without_mme") == ["21"]
    assert result.kpis.texts("pct_high_dose") == ["–"]
    assert result.high_dose_note() == "21 of 23 courses have no MME"
    # protected at 11: the 2 courses with an MME are a small count, so the 21 without one
    # (23 − 21 = 2) is hidden: the note does not give it away
    protected = build_narcotics(CohortMeasures(frame, extract=pd.Timestamp("2024-06-01")),
                                min_cell=11)
    assert protected.kpis.texts("pct_high_dose") == ["–"]
    assert protected.kpis.texts("courses_without_mme") == ["hidden"]
    assert protected.high_dose_note() == "Most of the 23 courses have no MME"


def test_high_dose_share_is_shown_when_half_the_courses_have_an_mme():
    # 4 courses: 2 with an MME (one of them 40 mg x 60 / 30 days x 1.5 = 120 MME/day), 2
    # without: exactly half have one, so the share is shown: 1 of 4 = 25 %
    result = build_narcotics(CohortMeasures(_courses(with_mme=2, without_mme=2, high_dose=1),
                                            extract=pd.Timestamp("2024-06-01")), min_cell=0)
    assert result.kpis.texts("pct_high_dose") == ["25.0%"]
    assert result.high_dose_note() == ""
    # 3 of 4 without: not shown
    result = build_narcotics(CohortMeasures(_courses(with_mme=1, without_mme=3, high_dose=1),
                                            extract=pd.Timestamp("2024-06-01")), min_cell=0)
    assert result.kpis.texts("pct_high_dose") == ["–"]
    assert result.high_dose_note() == "3 of 4 courses have no MME"


def test_no_course_no_high_dose_note():
    frame = _courses(with_mme=0, without_mme=0)
    result = build_narcotics(CohortMeasures(frame, extract=pd.Timestamp("2024-06-01")),
                             min_cell=0)
    assert result.kpis.texts("pct_high_dose") == ["–"]
    assert result.high_dose_note() == ""


def test_courses_by_physician_in_natural_order():
    frame = _courses(with_mme=3, without_mme=0).assign(
        provider_id=pd.Series(["DR18", "DR2", "DR14"], dtype="string"))
    result = build_narcotics(CohortMeasures(frame, extract=pd.Timestamp("2024-06-01")),
                             min_cell=0)
    assert result.by_physician.labels("provider_id") == ["DR2", "DR14", "DR18",
                                                         "All physicians"]
