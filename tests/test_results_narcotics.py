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
