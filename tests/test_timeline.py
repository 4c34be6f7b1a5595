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


def test_one_lane_per_technique_eras_and_a_lane_of_eras_mode_steps():
    # narcotic Jan 1 - Feb 29, muscle relaxant Jan 15 - Mar 31 (overlap 45 days >= the
    # 30-day window: a combination, the narcotic ending first), physical therapy Jun 1
    events = conform(pd.DataFrame({
        "patient_id": ["a"] * 3,
        "event_date": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-06-01"]),
        "technique": ["narcotic", "muscle_relaxant", "physical_therapy"],
        "end_date": pd.to_datetime(["2024-02-29", "2024-03-31", None]),
    }))
    t = patient_timeline(events, "a", extract=pd.Timestamp("2024-12-31"))
    assert t["lane"].drop_duplicates().tolist() == [
        "Physical therapy events", "Muscle relaxant events", "Narcotic events",
        "Physical therapy eras", "Muscle relaxant eras", "Narcotic eras",
        "Pathway steps (eras mode)", "Narcotic courses"]
    eras = t.loc[t["lane"].str.endswith(" eras")]
    # the overlapping eras each keep their own lane and their whole length
    assert eras["label"].tolist() == ["Physical therapy era, 1 day",
                                      "Muscle relaxant era, 77 days", "Narcotic era, 60 days"]
    steps = t.loc[t["lane"] == "Pathway steps (eras mode)"]
    assert steps["label"].tolist() == ["Step 1: Narcotic, 15 days",
                                       "Step 2: Muscle relaxant + Narcotic, 46 days",
                                       "Step 3: Muscle relaxant, 32 days",
                                       "Step 4: Physical therapy, 1 day"]
    assert steps["technique"].tolist()[1] == "muscle_relaxant+narcotic"
    assert steps["start"].dt.strftime("%m-%d").tolist() == ["01-01", "01-15", "02-29",
                                                            "06-01"]
    # with a 60-day window the 45-day overlap is a switch: no combination
    switch = patient_timeline(events, "a", extract=pd.Timestamp("2024-12-31"),
                              combination_window_days=60)
    assert "muscle_relaxant+narcotic" not in set(switch["technique"])
