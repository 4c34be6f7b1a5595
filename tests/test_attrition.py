"""Attrition: rows read -> accepted -> population -> with a pathway -> cohort."""

import pandas as pd

from analytics.attrition import STAGES, attrition
from analytics.pathways import pathway_steps
from analytics.schema import conform


def ev(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique"])
    df["event_date"] = pd.to_datetime(df["event_date"])
    return conform(df)


def test_every_stage_narrows_with_its_count():
    accepted = ev([
        ("a", "2024-01-01", "physical_therapy"), ("a", "2024-02-01", "narcotic"),
        ("b", "2024-01-01", "injection"),
        ("c", "2024-01-01", "other"),  # in the population, but no pathway technique
        ("d", "2024-01-01", "narcotic"),  # left out by the population
    ])
    population = accepted[accepted["patient_id"] != "d"]
    steps = pathway_steps(population, extract=pd.Timestamp("2024-12-31"))
    t = attrition(12, accepted, population, steps, cohort_patients=["a", "c"])
    assert t["stage"].tolist() == list(STAGES)
    assert t["rows"].tolist() == [12, 5, 4, pd.NA, pd.NA]
    assert t["patients"].tolist() == [pd.NA, 4, 3, 2, 1]
    assert t["patients_left_out"].tolist() == [pd.NA, pd.NA, 1, 1, 1]
    no_cohort = attrition(12, accepted, population, steps)
    assert no_cohort["patients"].tolist()[-2:] == [2, 2]
