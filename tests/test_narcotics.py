import numpy as np
import pandas as pd
import pytest

from analytics.narcotics import (
    MME_BANDS,
    active_patients_by_month,
    course_survival,
    fill_mme,
    mme_band,
    narcotic_courses,
    narcotic_months,
    narcotic_summary,
    patients_by_month,
    relaxant_overlap,
)
from analytics.schema import conform, empty_events

OXY = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
BUP = "buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet"
HYDRO = "Acetaminophen 300 MG / Hydrocodone Bitartrate 5 MG Oral Tablet"


def ev(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["event_date"] = pd.to_datetime(df["event_date"])
    if "end_date" in df:
        df["end_date"] = pd.to_datetime(df["end_date"])
    df["technique"] = df["technique"].fillna("narcotic") if "technique" in df else "narcotic"
    return conform(df)


def fill(pid, date, supply=None, **kw) -> dict:
    return {"patient_id": pid, "event_date": date, "days_supply": supply, **kw}


# ----------------------------------------------------------------- bands


def test_mme_band_edges_are_half_open():
    bands = mme_band(pd.Series([0, 19.99, 20, 49.99, 50, 89.99, 90, 250, np.nan]))
    assert bands.astype("object").where(bands.notna(), None).tolist() == [
        "<20", "<20", "20–<50", "20–<50", "50–<90", "50–<90", "≥90", "≥90", None
    ]
    assert bands.cat.ordered and list(bands.cat.categories) == list(MME_BANDS)


# ----------------------------------------------------------------- courses


def test_course_gap_exactly_30_joins_31_splits():
    events = ev([
        fill("a", "2024-01-01", 10),  # covers Jan 1-10, end Jan 11
        fill("a", "2024-02-10", 10),  # starts 30 days after end -> same course
        fill("b", "2024-01-01", 10),
        fill("b", "2024-02-11", 10),  # 31 days -> new course
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-12-31"))
    assert c["patient_id"].tolist() == ["a", "b", "b"]
    assert c["course"].tolist() == [1, 1, 2]
    assert c["fills"].tolist() == [2, 1, 1]
    assert c["start"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-01",
                                                           "2024-02-11"]
    assert c["end"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-20", "2024-01-11",
                                                         "2024-02-21"]
    assert c["duration_days"].tolist() == [50, 10, 10]
    assert c["ongoing"].tolist() == [False, False, False]
    # the gap is a parameter
    assert len(narcotic_courses(events, course_gap_days=31)) == 2


def test_supply_does_not_stack_and_average_is_over_days_with_mme():
    events = ev([
        fill("a", "2024-01-01", 90, detail=OXY, quantity=360),  # 5*360/90*1.5 = 30 MME/day
        fill("a", "2024-01-20", 10, detail=OXY, quantity=80),  # inside it: 5*80/10*1.5 = 60
        fill("a", "2024-04-30", 5),  # no MME; 30 days after Mar 31 -> joins
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-12-31"))
    assert len(c) == 1
    row = c.iloc[0]
    assert row["end"] == pd.Timestamp("2024-05-05")  # latest end, not 90 + 10 + 5 stacked
    assert row["duration_days"] == 125  # Jan 1 .. May 4
    assert row["fills"] == 3 and row["events"] == 3 and row["fills_without_mme"] == 1
    # 30 * 90 + 60 * 10 = 3300 MME over the 90 days covered by fills with an MME
    # (Jan 1 .. Mar 30; the 10-day fill lies inside): 3300 / 90 = 36.67
    assert row["total_mme"] == pytest.approx(3300.0)
    assert row["mme_days"] == 90
    assert row["avg_mme_per_day"] == pytest.approx(3300 / 90)
    assert row["mme_band"] == "20–<50"
    assert not row["mme_estimated"]
    assert row["long_term"]


def test_two_concurrent_15_mme_fills_average_30():
    events = ev([
        fill("a", "2024-01-01", 30, detail=OXY, quantity=60),  # 5*60/30*1.5 = 15
        fill("a", "2024-01-01", 30, detail=OXY, quantity=60),  # 15, same 30 days
        # a later fill without MME lengthens the course but not the MME days
        fill("a", "2024-01-31", 30, detail=OXY),
    ])
    row = narcotic_courses(events, extract=pd.Timestamp("2024-12-31")).iloc[0]
    # (15 * 30 + 15 * 30) / 30 days = 30, not 900 / 60 course days = 15
    assert row["avg_mme_per_day"] == pytest.approx(30.0)
    assert row["mme_days"] == 30 and row["duration_days"] == 60
    assert row["mme_band"] == "20–<50"


def test_mme_days_are_the_union_one_uncovered_day_not_counted():
    events = ev([
        fill("a", "2024-01-01", 10, detail=OXY, quantity=30),  # Jan 1-10, 5*30/10*1.5 = 22.5
        fill("a", "2024-01-12", 10, detail=OXY, quantity=30),  # Jan 12-21 (Jan 11 uncovered)
        fill("b", "2024-01-01", 10, detail=OXY, quantity=30),  # Jan 1-10
        fill("b", "2024-01-11", 10, detail=OXY, quantity=30),  # Jan 11-20, touching
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-12-31"))
    # a: 450 MME over 20 covered days (not 21 calendar days) = 22.5; duration 21
    # b: 450 MME over 20 days = 22.5; duration 20
    assert c["mme_days"].tolist() == [20, 20]
    assert c["duration_days"].tolist() == [21, 20]
    np.testing.assert_allclose(c["avg_mme_per_day"].to_numpy(dtype=float), [22.5, 22.5])


def test_estimated_mme_marks_the_course():
    events = ev([
        # Jan 1 .. Jan 20 (20 days), no days supply: 5*60/20*1.5 = 22.5, estimated
        {"patient_id": "a", "event_date": "2024-01-01", "end_date": "2024-01-20",
         "detail": OXY, "quantity": 60.0},
        # Feb 1 .. Mar 1, 5*60/30*1.5 = 15
        fill("a", "2024-02-01", 30, detail=OXY, quantity=60),
        fill("b", "2024-02-01", 30, detail=OXY, quantity=60),
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-12-31"))
    assert c["mme_estimated"].tolist() == [True, False]
    assert c["fills_mme_estimated"].tolist() == [1, 0]
    # a: (22.5 * 20 + 15 * 30) / 50 = 18
    assert c["avg_mme_per_day"].iloc[0] == pytest.approx(18.0)


def test_dispenses_count_as_fills_and_the_2014_open_order_is_90_days():
    events = ev([
        # 2014 hydrocodone order, 3 dispenses, no stop date, no days supply -> 3 x 30 days
        {"patient_id": "a", "event_date": "2014-01-15", "open_order": True, "dispenses": 3.0,
         "detail": HYDRO},
        # a closed row standing for 2 dispenses of 15 days: 30 days
        {"patient_id": "b", "event_date": "2024-01-01", "days_supply": 15.0, "dispenses": 2.0},
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2025-01-29"))
    assert c["duration_days"].tolist() == [90, 30]  # not 4,033 days through the extract
    assert c["end"].dt.strftime("%Y-%m-%d").tolist() == ["2014-04-15", "2024-01-31"]
    assert c["fills"].tolist() == [3, 2] and c["events"].tolist() == [1, 1]
    assert c["ongoing"].tolist() == [False, False]
    assert c["ended_by"].tolist() == ["gap", "gap"]
    # no quantity and no days supply: the order has no MME, counted as 3 fills without
    assert c["fills_without_mme"].tolist() == [3, 2]


def test_death_ends_the_course_and_censors_it():
    death = "2024-03-10"
    events = ev([
        # a: open order cut at death by ingest (end_date = death, ends_at_death)
        {"patient_id": "a", "event_date": "2024-01-01", "open_order": True,
         "end_date": death, "ends_at_death": True},
        # b: a 60-day fill cut at death on the extract date: death, not ongoing
        {"patient_id": "b", "event_date": "2024-02-01", "days_supply": 60.0,
         "end_date": "2024-03-31", "ends_at_death": True},
        # c: still covered on the extract date -> ongoing
        fill("c", "2024-03-20", 30),
        # d: stopped
        fill("d", "2024-01-01", 10),
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-03-31"))
    assert c["patient_id"].tolist() == ["a", "b", "c", "d"]
    assert c["last_day"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-03-10", "2024-03-31", "2024-04-18", "2024-01-10"
    ]
    assert c["ended_by"].tolist() == ["death", "death", "extract", "gap"]
    assert c["ongoing"].tolist() == [False, False, True, False]
    assert c["censored"].tolist() == [True, True, True, False]
    km = course_survival(c)
    assert km.n == 4 and km.events == 1


def test_open_order_is_ongoing_through_extract():
    events = ev([
        {"patient_id": "a", "event_date": "2024-01-01", "technique": "narcotic",
         "open_order": True},
        {"patient_id": "b", "event_date": "2024-01-01", "technique": "narcotic",
         "end_date": "2024-01-31"},
        {"patient_id": "b", "event_date": "2024-06-30", "technique": "other"},
    ])
    c = narcotic_courses(events)  # extract = latest event date 2024-06-30
    assert c["patient_id"].tolist() == ["a", "b"]
    assert c["last_day"].dt.strftime("%Y-%m-%d").tolist() == ["2024-06-30", "2024-01-31"]
    assert c["duration_days"].tolist() == [182, 31]  # Jan 1 .. Jun 30 inclusive (leap year)
    assert c["ongoing"].tolist() == [True, False]
    assert c["ended_by"].tolist() == ["extract", "gap"]
    assert c["long_term"].tolist() == [True, False]
    assert pd.isna(c["avg_mme_per_day"]).all() and c["mme_band"].isna().all()


def test_long_term_89_vs_90_and_ongoing_on_extract_day():
    events = ev([
        fill("a", "2024-01-01", 89),  # last day Mar 29
        fill("b", "2024-01-01", 90),  # last day Mar 30
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-03-30"))
    assert c["duration_days"].tolist() == [89, 90]
    assert c["long_term"].tolist() == [False, True]
    # ongoing when last_day == extract, not when it is the day before
    assert c["ongoing"].tolist() == [False, True]
    km = course_survival(c)
    assert km.n == 2 and km.events == 1
    assert km.curve["survival"].tolist() == [1.0, 0.5, 0.5]
    assert km.median == 89.0


def test_summary_hand_computed():
    events = ev([
        fill("a", "2024-01-01", 30, detail=OXY, quantity=240),  # 60 MME/day
        fill("a", "2024-01-31", 30, detail=OXY, quantity=480),  # 120 MME/day -> avg 90
        fill("b", "2024-01-01", 10, detail=BUP, quantity=10),
        fill("c", "2024-01-01", 100),
        fill("c", "2024-06-01", 10, dispenses=2.0),  # 20 days, last day Jun 20 -> ongoing
        {"patient_id": "c", "event_date": "2024-03-01", "end_date": "2024-03-20",
         "detail": OXY, "quantity": 60.0},  # estimated: 5*60/20*1.5 = 22.5, inside c's course
        {"patient_id": "d", "event_date": "2024-06-10", "technique": "physical_therapy"},
    ])
    s = narcotic_summary(events, extract=pd.Timestamp("2024-06-10"))
    assert s == {
        "patients": 3,
        "fills": 7,  # 6 rows, one of them 2 dispenses
        "events": 6,
        "courses": 4,
        "median_course_days": 40.0,  # durations 60, 10, 100, 20 -> (20 + 60) / 2
        "long_term_courses": 1,
        "ongoing_courses": 1,
        "courses_ended_by_death": 0,
        "high_dose_courses": 1,  # a: (60 * 30 + 120 * 30) / 60 = 90, >= 90
        "courses_without_mme": 2,  # b (buprenorphine), c's second course
        "courses_mme_estimated": 1,  # c's first course: 22.5 estimated
        "fills_without_mme": 4,  # b 1, c 1 + 2
        "fills_mme_estimated": 1,
    }


# ----------------------------------------------------------------- overlap, months


def test_relaxant_overlap_hand_computed():
    events = ev([
        # a: narcotic Jan 1-30 and Feb 1 - Mar 1; relaxant Jan 21 - Feb 9 (20 days)
        # overlap: Jan 21-30 (10) + Feb 1-9 (9) = 19 -> not flagged
        fill("a", "2024-01-01", 30, technique="narcotic"),
        fill("a", "2024-02-01", 30, technique="narcotic"),
        fill("a", "2024-01-21", 20, technique="muscle_relaxant"),
        # b: two overlapping relaxant fills (Jan 1-40 union) inside one 60-day narcotic:
        # union counts once -> 40 days, flagged
        fill("b", "2024-01-01", 60, technique="narcotic"),
        fill("b", "2024-01-01", 30, technique="muscle_relaxant"),
        fill("b", "2024-01-11", 30, technique="muscle_relaxant"),
        # c: both techniques, never at the same time -> listed with 0
        fill("c", "2024-01-01", 10, technique="narcotic"),
        fill("c", "2024-01-11", 10, technique="muscle_relaxant"),
        # d: narcotic only -> not listed
        fill("d", "2024-01-01", 10, technique="narcotic"),
    ])
    o = relaxant_overlap(events)
    assert o.to_dict("list") == {
        "patient_id": ["a", "b", "c"],
        "overlap_days": [19, 40, 0],
        "flagged": [False, True, False],
    }
    assert relaxant_overlap(events, flag_days=19)["flagged"].tolist() == [True, True, False]


def test_active_patients_by_month():
    events = ev([
        fill("a", "2024-01-25", 10),  # Jan 25 - Feb 3: Jan and Feb
        fill("a", "2024-01-28", 3),  # inside: no double count
        fill("b", "2024-04-01", 5),  # Apr only; March listed with 0
        fill("c", "2024-04-20", 90),  # Apr (covered days after the extract are not counted)
        {"patient_id": "x", "event_date": "2024-04-30", "technique": "other"},
    ])
    out = active_patients_by_month(events)
    assert out["month"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"
    ]
    assert out["patients"].tolist() == [1, 1, 0, 2]
    later = active_patients_by_month(events, extract=pd.Timestamp("2024-05-15"))
    assert later["patients"].tolist() == [1, 1, 0, 2, 1]
    # the per-patient rows they count (months since 1970-01: 2024-01 is 648)
    months = narcotic_months(events, extract=pd.Timestamp("2024-05-15"))
    assert list(zip(months["patient_id"], months["month"], strict=True)) == [
        ("a", 648), ("a", 649), ("b", 651), ("c", 651), ("c", 652)]
    # any set of patients' rows count the same way: b and c only (April: b, c; May: c)
    assert patients_by_month(months.iloc[2:])["patients"].tolist() == [2, 1]
    assert patients_by_month(months.iloc[:0]).empty


# ----------------------------------------------------------------- empty and missing


def test_empty_events_give_empty_frames_and_zero_summary():
    events = empty_events()
    assert list(fill_mme(events).columns) == [
        "patient_id", "event_date", "ingredient", "factor_source", "opioid_strength", "fills",
        "covered_days", "mme_per_day", "mme_total", "mme_status",
    ]
    c = narcotic_courses(events)
    assert len(c) == 0
    assert list(c.columns) == [
        "patient_id", "course", "start", "end", "last_day", "duration_days", "fills", "events",
        "long_term", "ongoing", "ended_by", "censored", "avg_mme_per_day", "mme_estimated",
        "mme_band", "total_mme", "mme_days", "fills_without_mme", "fills_mme_estimated",
    ]
    assert list(relaxant_overlap(events).columns) == ["patient_id", "overlap_days", "flagged"]
    assert list(active_patients_by_month(events).columns) == ["month", "patients"]
    assert course_survival(c).median is None
    assert narcotic_summary(events) == {
        "patients": 0, "fills": 0, "events": 0, "courses": 0, "median_course_days": None,
        "long_term_courses": 0, "ongoing_courses": 0, "courses_ended_by_death": 0,
        "high_dose_courses": 0, "courses_without_mme": 0, "courses_mme_estimated": 0,
        "fills_without_mme": 0, "fills_mme_estimated": 0,
    }


def test_events_without_narcotics():
    events = ev([{"patient_id": "a", "event_date": "2024-01-01", "technique": "surgery"}])
    assert len(fill_mme(events)) == 0
    assert len(narcotic_courses(events)) == 0
    assert len(relaxant_overlap(events)) == 0
    assert len(active_patients_by_month(events)) == 0
    assert narcotic_summary(events)["courses"] == 0
