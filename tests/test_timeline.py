import pandas as pd

from analytics.schema import conform
from analytics.timeline import patient_timeline

OXY = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"


def test_course_labels_say_how_the_course_ended_and_its_mme():
    events = conform(pd.DataFrame({
        "patient_id": ["a"] * 4,
        "event_date": pd.to_datetime(["2024-01-01", "2024-03-05", "2024-06-01", "2024-06-01"]),
        "technique": ["narcotic", "narcotic", "narcotic", "physical_therapy"],
        "days_supply": [30.0, None, 10.0, None],
        "quantity": [120.0, 64.0, None, None],
        "end_date": pd.to_datetime([None, "2024-03-24", None, None]),
        "ends_at_death": [False, False, False, False],
        "detail": [OXY, OXY, None, None],
    }))
    t = patient_timeline(events, "a")
    courses = t.loc[t["lane"] == "Narcotic courses", "label"].tolist()
    assert courses == [
        # 5 mg x 120 / 30 x 1.5 = 30
        "Course 1: 30 days, 1 fills, 30 MME/day",
        # Mar 5 (35 days after Jan 31: a new course) .. Mar 24 without days supply:
        # 5 x 64 / 20 x 1.5 = 24, estimated
        "Course 2: 20 days, 1 fills, ~24 MME/day (estimated)",
        # last day Jun 10 = the extract date: ongoing, no MME
        "Course 3: 10 days, 1 fills (ongoing)",
    ]
    died = events.assign(ends_at_death=[False, True, False, False]).iloc[:2]
    t = patient_timeline(conform(died), "a", extract=pd.Timestamp("2024-12-31"))
    assert t.loc[t["lane"] == "Narcotic courses", "label"].tolist()[1] == (
        "Course 2: 20 days, 1 fills (ended at death)"
    )
