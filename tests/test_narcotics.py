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
    narcotic_summary,
    relaxant_overlap,
)
from analytics.schema import conform, empty_events

OXY = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
PATCH = "72 HR Fentanyl 0.025 MG/HR Transdermal System"
TRAMADOL = "tramadol hydrochloride 50 MG Oral Tablet"
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


# ----------------------------------------------------------------- MME per fill


def test_mme_per_fill_hand_computed():
    events = ev([
        fill("a", "2024-01-01", 30, detail=OXY, quantity=120),
        fill("a", "2024-02-01", 30, detail=PATCH, quantity=10),
        fill("a", "2024-03-01", 30, detail=TRAMADOL, quantity=120),
        fill("a", "2024-04-01", 30, detail=BUP, quantity=30),
        fill("a", "2024-05-01", 30, detail=OXY),  # no quantity
        fill("a", "2024-06-01", 30, detail="Meperidine Hydrochloride 50 MG Oral Tablet",
             quantity=60),
        fill("a", "2024-07-01", 30, detail="Oxycodone 10 MG tablet", quantity=60, strength=15.0),
        fill("a", "2024-08-01", 30, detail=BUP, mme_per_day=12.5),
        {"patient_id": "a", "event_date": "2024-01-01", "technique": "physical_therapy"},
    ])
    m = fill_mme(events)
    assert m.index.tolist() == list(range(8))  # the narcotic rows, same index
    assert m["ingredient"].tolist()[:4] == [
        "oxycodone", "fentanyl_transdermal", "tramadol", "buprenorphine"
    ]
    assert pd.isna(m["ingredient"].iloc[5])  # meperidine: no row in the CDC 2022 table
    # oxycodone's 5 mg, not acetaminophen's 325 mg: 5 * 120 / 30 * 1.5 = 30
    # patch: 0.025 MG/HR = 25 mcg/hr * 2.4 = 60 whatever the quantity
    # tramadol: 50 * 120 / 30 * 0.2 = 40
    # strength column wins over the text: 15 * 60 / 30 * 1.5 = 45
    expected = [30.0, 60.0, 40.0, np.nan, np.nan, np.nan, 45.0, 12.5]
    np.testing.assert_allclose(m["mme_per_day"].to_numpy(dtype=float), expected)
    np.testing.assert_allclose(
        m["opioid_strength"].to_numpy(dtype=float)[[0, 1, 2, 4, 6]], [5, 25, 50, 5, 15]
    )
    assert m["mme_status"].tolist() == [
        "ok", "ok", "ok", "no_factor", "missing_figures", "no_factor", "ok", "ok"
    ]
    # total = MME/day * covered days: 30 * 30, 60 * 30, 40 * 30
    np.testing.assert_allclose(m["mme_total"].to_numpy(dtype=float)[:3], [900, 1800, 1200])


def test_mme_missing_strength_column_and_no_detail():
    raw = pd.DataFrame({
        "patient_id": ["a", "a"],
        "event_date": pd.to_datetime(["2024-01-01", "2024-02-01"]),
        "technique": ["narcotic", "narcotic"],
        "detail": [HYDRO, None],
        "quantity": [60.0, 60.0],
        "days_supply": [15.0, 15.0],
    })
    m = fill_mme(conform(raw))
    # hydrocodone 5 mg * 60 / 15 * 1 = 20; no description -> no factor known
    assert m["mme_per_day"].iloc[0] == pytest.approx(20.0)
    assert m["mme_status"].tolist() == ["ok", "no_factor"]


def test_mme_band_edges():
    bands = mme_band(pd.Series([0, 19.99, 20, 49.9, 50, 89.9, 90, 250, np.nan]))
    assert bands.astype("object").where(bands.notna(), None).tolist() == [
        "<20", "<20", "20–49", "20–49", "50–89", "50–89", "≥90", "≥90", None
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


def test_supply_does_not_stack():
    events = ev([
        fill("a", "2024-01-01", 90, detail=OXY, quantity=360),  # 5*360/90*1.5 = 30 MME/day
        fill("a", "2024-01-20", 10, detail=OXY, quantity=80),  # inside it: 5*80/10*1.5 = 60
        fill("a", "2024-04-30", 5),  # 30 days after Mar 31 -> joins
    ])
    c = narcotic_courses(events, extract=pd.Timestamp("2024-12-31"))
    assert len(c) == 1
    row = c.iloc[0]
    assert row["end"] == pd.Timestamp("2024-05-05")  # latest end, not 90 + 10 + 5 stacked
    assert row["duration_days"] == 125  # Jan 1 .. May 4
    assert row["fills"] == 3 and row["fills_without_mme"] == 1
    # 30 * 90 + 60 * 10 = 3300 (overlapping days add up); 3300 / 125 = 26.4
    assert row["total_mme"] == pytest.approx(3300.0)
    assert row["avg_mme_per_day"] == pytest.approx(26.4)
    assert row["mme_band"] == "20–49"
    assert row["long_term"]


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
        fill("c", "2024-06-01", 10),  # new course, last day Jun 10 = extract -> ongoing
        {"patient_id": "d", "event_date": "2024-06-10", "technique": "physical_therapy"},
    ])
    s = narcotic_summary(events)
    assert s == {
        "patients": 3,
        "fills": 5,
        "courses": 4,
        "median_course_days": 35.0,  # durations 60, 10, 100, 10 -> (10 + 60) / 2
        "long_term_courses": 1,
        "ongoing_courses": 1,
        "high_dose_courses": 1,  # a: (1800 + 3600) / 60 = 90
        "fills_without_mme": 3,
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


# ----------------------------------------------------------------- empty and missing


def test_empty_events_give_empty_frames_and_zero_summary():
    events = empty_events()
    assert list(fill_mme(events).columns) == [
        "patient_id", "event_date", "ingredient", "opioid_strength", "mme_per_day",
        "mme_total", "mme_status",
    ]
    c = narcotic_courses(events)
    assert len(c) == 0
    assert list(c.columns) == [
        "patient_id", "course", "start", "end", "last_day", "duration_days", "fills", "ongoing",
        "long_term", "total_mme", "avg_mme_per_day", "mme_band", "fills_without_mme",
    ]
    assert list(relaxant_overlap(events).columns) == ["patient_id", "overlap_days", "flagged"]
    assert list(active_patients_by_month(events).columns) == ["month", "patients"]
    assert course_survival(c).median is None
    assert narcotic_summary(events) == {
        "patients": 0, "fills": 0, "courses": 0, "median_course_days": None,
        "long_term_courses": 0, "ongoing_courses": 0, "high_dose_courses": 0,
        "fills_without_mme": 0,
    }


def test_events_without_narcotics():
    events = ev([{"patient_id": "a", "event_date": "2024-01-01", "technique": "surgery"}])
    assert len(fill_mme(events)) == 0
    assert len(narcotic_courses(events)) == 0
    assert len(relaxant_overlap(events)) == 0
    assert len(active_patients_by_month(events)) == 0
    assert narcotic_summary(events)["courses"] == 0
