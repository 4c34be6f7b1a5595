import numpy as np
import pandas as pd
import pytest

from analytics.injections import (
    injection_sessions,
    injection_summary,
    limit_windows,
    pain_score_change,
    patients_over_limit,
    repeat_intervals,
    repeat_survival,
    sessions_per_patient,
    time_to_repeat,
)
from analytics.schema import conform, empty_events


def ev(rows: list[tuple], **extra) -> pd.DataFrame:
    """rows: (patient_id, date, technique[, injection_type[, provider_id]])."""
    data = {
        "patient_id": [r[0] for r in rows],
        "event_date": pd.to_datetime([r[1] for r in rows]),
        "technique": [r[2] for r in rows],
        "injection_type": [r[3] if len(r) > 3 else None for r in rows],
        "provider_id": [r[4] if len(r) > 4 else None for r in rows],
    }
    data.update(extra)
    return conform(pd.DataFrame(data))


def days_after(start: str, n: int) -> str:
    return (pd.Timestamp(start) + pd.Timedelta(days=n)).strftime("%Y-%m-%d")


# ----------------------------------------------------------------- sessions


def test_same_day_multi_level_injections_are_one_session():
    events = ev([
        ("p1", "2024-03-01", "injection", "epidural_steroid", None),
        ("p1", "2024-03-01", "injection", "epidural_steroid", "dr2"),  # +64484 next level
        ("p1", "2024-03-01", "injection", "facet", "dr3"),
        ("p1", "2024-03-01", "narcotic"),  # not an injection
        ("p1", "2024-04-01", "injection", None, None),  # unknown type -> other
        ("p2", "2024-03-01", "injection", "trigger_point", "dr9"),
    ])
    s = injection_sessions(events)
    assert s["patient_id"].tolist() == ["p1", "p1", "p2"]
    assert s["session_date"].tolist() == [
        pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01"), pd.Timestamp("2024-03-01")
    ]
    # types in INJECTION_TYPES order: epidural_steroid before facet
    assert s["injection_types"].tolist() == ["epidural_steroid+facet", "other", "trigger_point"]
    assert s["lines"].tolist() == [3, 1, 1]
    # first non-missing provider of the day
    assert s["provider_id"].tolist()[0] == "dr2"
    assert pd.isna(s["provider_id"].iloc[1])
    assert s["provider_id"].iloc[2] == "dr9"
    spp = sessions_per_patient(s)
    assert spp.to_dict("list") == {"patient_id": ["p1", "p2"], "sessions": [2, 1]}


def test_sessions_sorted_whatever_the_input_order():
    events = ev([
        ("b", "2024-05-01", "injection", "facet"),
        ("a", "2024-06-01", "injection", "facet"),
        ("a", "2024-01-01", "injection", "facet"),
    ])
    s = injection_sessions(events)
    assert s["patient_id"].tolist() == ["a", "a", "b"]
    assert s["session_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01", "2024-06-01", "2024-05-01"
    ]


# ----------------------------------------------------------------- intervals


def test_interval_13_days_flagged_14_not():
    events = ev([
        ("p", "2024-01-01", "injection", "facet"),
        ("p", "2024-01-14", "injection", "facet"),  # 13 days later
        ("p", "2024-01-28", "injection", "facet"),  # 14 days later
    ])
    iv = repeat_intervals(injection_sessions(events))
    assert iv["interval_days"].tolist() == [13, 14]
    assert iv["short_interval"].tolist() == [True, False]
    assert iv["previous_session_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01", "2024-01-14"
    ]
    # the threshold is a parameter
    assert repeat_intervals(injection_sessions(events), 15)["short_interval"].tolist() == [
        True, True
    ]


# ----------------------------------------------------------------- 365-day windows


def _esi_series(last_offset: int) -> pd.DataFrame:
    start = "2023-01-10"
    offsets = [0, 90, 180, 270, last_offset]
    return ev([("p", days_after(start, k), "injection", "epidural_steroid") for k in offsets])


def test_fifth_esi_on_day_364_is_over_the_limit():
    w = limit_windows(_esi_series(364))
    assert len(w) == 1
    row = w.iloc[0]
    assert row["patient_id"] == "p"
    assert row["injection_type"] == "epidural_steroid"
    assert row["window_start"] == pd.Timestamp("2023-01-10")
    assert row["window_end"] == pd.Timestamp("2024-01-09")  # 2023-01-10 + 364
    assert row["sessions"] == 5
    assert row["limit"] == 4
    assert pd.isna(row["region"])  # no region known: counted per type
    over = patients_over_limit(w)
    assert over.to_dict("list") == {
        "patient_id": ["p"],
        "injection_type": ["epidural_steroid"],
        "region": [None],
        "max_sessions_365d": [5],
        "limit": [4],
        "first_window_start": [pd.Timestamp("2023-01-10")],
    }


def test_fifth_esi_on_day_365_is_not_over_the_limit():
    w = limit_windows(_esi_series(365))
    assert len(w) == 0
    assert list(w.columns) == [
        "patient_id", "injection_type", "region", "window_start", "window_end", "sessions",
        "limit",
    ]
    assert len(patients_over_limit(w)) == 0


@pytest.mark.parametrize(
    ("injection_type", "sessions", "over"),
    [
        ("trigger_point", 3, False),
        ("trigger_point", 4, True),
        ("radiofrequency_ablation", 2, False),
        ("radiofrequency_ablation", 3, True),
        ("facet", 4, False),
        ("facet", 5, True),
        ("sacroiliac", 4, False),
        (None, 4, False),  # unknown type uses the "other" limit 4
        (None, 5, True),
    ],
)
def test_per_type_limits(injection_type, sessions, over):
    events = ev([
        ("p", days_after("2024-01-01", 30 * k), "injection", injection_type)
        for k in range(sessions)
    ])
    w = limit_windows(events)
    assert (len(w) > 0) == over
    if over:
        assert w["sessions"].max() == sessions
        assert w["injection_type"].iloc[0] == (injection_type or "other")


def test_types_are_counted_separately_and_same_day_counts_once():
    # 3 facet + 3 ESI sessions within a year: neither type exceeds 4.
    # Two facet lines on one day are one facet session.
    rows = []
    for k in range(3):
        rows.append(("p", days_after("2024-01-01", 40 * k), "injection", "facet"))
        rows.append(("p", days_after("2024-01-01", 40 * k), "injection", "facet"))
        rows.append(("p", days_after("2024-01-05", 40 * k), "injection", "epidural_steroid"))
    assert len(limit_windows(ev(rows))) == 0
    # Custom limits are a parameter: facet limit 2 -> windows starting on the 1st session
    # (3 sessions) only; the window from the 2nd holds 2.
    w = limit_windows(ev(rows), limits={"facet": 2, "other": 4})
    assert w["injection_type"].tolist() == ["facet"]
    assert w["sessions"].tolist() == [3]
    assert w["window_start"].tolist() == [pd.Timestamp("2024-01-01")]


def test_windows_of_different_patients_do_not_mix():
    rows = [("a", days_after("2024-01-01", 10 * k), "injection", "trigger_point")
            for k in range(2)]
    rows += [("b", days_after("2024-02-01", 10 * k), "injection", "trigger_point")
             for k in range(2)]
    assert len(limit_windows(ev(rows))) == 0


# ----------------------------------------------------------------- limits per spinal region


def regional(rows: list[tuple]) -> pd.DataFrame:
    """rows: (patient_id, date, injection_type, region or None)."""
    return ev([(r[0], r[1], "injection", r[2]) for r in rows],
              region=[r[3] for r in rows])


LUMBAR, CERVICAL = "lumbar_sacral", "cervical_thoracic"


def test_three_lumbar_and_two_cervical_epidurals_are_not_over():
    rows = [("p", days_after("2024-01-01", 60 * k), "epidural_steroid", LUMBAR)
            for k in range(3)]
    rows += [("p", days_after("2024-02-01", 60 * k), "epidural_steroid", CERVICAL)
             for k in range(2)]
    events = regional(rows)
    assert len(limit_windows(events)) == 0  # 3 <= 4 lumbar, 2 <= 4 cervical
    assert injection_summary(events)["patients_over_limit"] == 0
    # the same five sessions without a region count together: 5 > 4
    untyped = regional([(r[0], r[1], r[2], None) for r in rows])
    w = limit_windows(untyped)
    assert w["sessions"].tolist() == [5] and w["region"].isna().all()


def test_exactly_4_vs_5_in_one_region_and_day_365_outside():
    d = "2023-01-10"
    four = [("p", days_after(d, k), "epidural_steroid", LUMBAR) for k in (0, 90, 180, 364)]
    assert len(limit_windows(regional(four))) == 0  # 4 in [d, d+364]: at the limit
    fifth_in = four + [("p", days_after(d, 270), "epidural_steroid", LUMBAR)]
    w = limit_windows(regional(fifth_in))
    assert w.to_dict("list") == {
        "patient_id": ["p"], "injection_type": ["epidural_steroid"], "region": [LUMBAR],
        "window_start": [pd.Timestamp("2023-01-10")],
        "window_end": [pd.Timestamp("2024-01-09")],  # 2023-01-10 + 364
        "sessions": [5], "limit": [4],
    }
    # the 5th on day 365 (2024-01-10) is outside [d, d+364]; from day 90 on: 4 sessions
    day_365 = [("p", days_after(d, k), "epidural_steroid", LUMBAR)
               for k in (0, 90, 180, 270, 365)]
    assert len(limit_windows(regional(day_365))) == 0
    # a 5th session in the other region does not count toward the lumbar limit
    other_region = four + [("p", days_after(d, 270), "epidural_steroid", CERVICAL)]
    assert len(limit_windows(regional(other_region))) == 0


def test_same_day_levels_are_one_session_per_region():
    d = "2024-01-01"
    rows = []
    for k in range(4):  # 4 days, each with two lumbar levels (64483 + 64484)
        rows.append(("p", days_after(d, 30 * k), "epidural_steroid", LUMBAR))
        rows.append(("p", days_after(d, 30 * k), "epidural_steroid", LUMBAR))
    # one day with a cervical and a lumbar epidural: one session in each region
    rows.append(("p", days_after(d, 200), "epidural_steroid", LUMBAR))
    rows.append(("p", days_after(d, 200), "epidural_steroid", CERVICAL))
    events = regional(rows)
    w = limit_windows(events)
    assert w["region"].tolist() == [LUMBAR] and w["sessions"].tolist() == [5]  # 4 + 1 lumbar
    s = injection_sessions(events)
    assert s["lines"].tolist() == [2, 2, 2, 2, 2]
    assert s["region"].tolist() == [LUMBAR] * 4 + [f"{CERVICAL}+{LUMBAR}"]


def test_unknown_region_counts_all_sessions_of_the_type_together():
    d = "2024-01-01"
    known = [("p", days_after(d, 40 * k), "epidural_steroid", LUMBAR) for k in range(3)]
    known.append(("p", days_after(d, 130), "epidural_steroid", CERVICAL))
    # 3 lumbar + 1 cervical: not over
    assert len(limit_windows(regional(known))) == 0
    # + 1 session of unknown region on day 150: the windows holding it count all 5 together
    w = limit_windows(regional(known + [("p", days_after(d, 150), "epidural_steroid", None)]))
    assert w["region"].isna().all()
    assert w["window_start"].tolist() == [pd.Timestamp(d)]  # from day 40: 4 sessions
    assert w["sessions"].tolist() == [5]
    over = patients_over_limit(w)
    assert over["region"].isna().tolist() == [True] and over["max_sessions_365d"].tolist() == [5]
    # an unknown-region session more than 364 days away does not merge the regions
    far = known + [("p", days_after(d, 500), "epidural_steroid", None)]
    assert len(limit_windows(regional(far))) == 0
    # a day whose ESI lines include one without region but another with one is of known region
    same_day = known + [("p", days_after(d, 130), "epidural_steroid", None)]
    assert len(limit_windows(regional(same_day))) == 0
    # a day with an unknown-region ESI also counts once with the lumbar session of that day
    both = known + [("p", days_after(d, 40), "epidural_steroid", None),
                    ("p", days_after(d, 60), "epidural_steroid", None)]
    w = limit_windows(regional(both))
    # known day 40 is lumbar; day 60 unknown -> windows from day 0 and 40 hold it:
    # day 0: dates 0, 40, 60, 80, 130 = 5 sessions; day 40: 40, 60, 80, 130 = 4
    assert w["window_start"].tolist() == [pd.Timestamp(d)]
    assert w["sessions"].tolist() == [5]


def test_regional_limits_per_type():
    d = "2024-01-01"
    rfa = [("p", days_after(d, 60 * k), "radiofrequency_ablation", LUMBAR) for k in range(3)]
    w = limit_windows(regional(rfa))
    assert w["sessions"].tolist() == [3] and w["limit"].tolist() == [2]
    two_each = [("p", days_after(d, 60 * k), "radiofrequency_ablation", r)
                for k in range(2) for r in (LUMBAR, CERVICAL)]
    assert len(limit_windows(regional(two_each))) == 0  # 2 per region: allowed


# ----------------------------------------------------------------- time to repeat


def test_time_to_repeat_and_censoring():
    events = ev([
        ("a", "2024-01-01", "injection", "facet"),
        ("a", "2024-03-01", "injection", "facet"),  # 60 days later (2024 is leap)
        ("a", "2024-05-01", "injection", "facet"),
        ("b", "2024-06-01", "injection", "facet"),  # never repeated
        ("c", "2024-07-01", "physical_therapy"),
    ])
    s = injection_sessions(events)
    t = time_to_repeat(s, pd.Timestamp("2024-07-01"))
    assert t["patient_id"].tolist() == ["a", "b"]
    assert t["days"].tolist() == [60, 30]
    assert t["repeated"].tolist() == [True, False]
    assert t["second_session"].iloc[0] == pd.Timestamp("2024-03-01")
    assert pd.isna(t["second_session"].iloc[1])
    # default extract: the latest session date (2024-06-01) -> b censored at 0 days
    assert time_to_repeat(s)["days"].tolist() == [60, 0]
    km = repeat_survival(s, pd.Timestamp("2024-07-01"))
    assert km.n == 2 and km.events == 1
    # at t=30 b is censored, at t=60 a repeats: S(60) = 0
    assert km.curve["survival"].tolist() == [1.0, 1.0, 0.0]
    assert km.median == 60.0


# ----------------------------------------------------------------- pain scores


def test_pain_score_change_windows():
    events = ev(
        [
            ("a", "2024-02-01", "injection", "epidural_steroid"),
            ("a", "2024-01-01", "other"),  # 31 days before: outside [d-30, d-1]
            ("a", "2024-01-02", "other"),  # 30 days before: in
            ("a", "2024-01-31", "other"),  # 1 day before: in
            ("a", "2024-02-01", "other"),  # same day: neither
            ("a", "2024-03-01", "other"),  # 29 days after: in
            ("a", "2024-04-01", "other"),  # 60 days after: in
            ("a", "2024-04-02", "other"),  # 61 days after: out
            ("b", "2024-02-01", "injection", "facet"),  # no score after -> not listed
            ("b", "2024-01-20", "other"),
        ],
        pain_score=[np.nan, 9, 8, 6, 1, 4, 2, 0, np.nan, 7],
    )
    out = pain_score_change(events, injection_sessions(events))
    assert out["patient_id"].tolist() == ["a"]
    assert out["score_before"].tolist() == [7.0]  # mean(8, 6)
    assert out["score_after"].tolist() == [3.0]  # mean(4, 2)
    assert out["change"].tolist() == [-4.0]


def test_pain_score_change_without_scores_is_empty():
    events = ev([("a", "2024-02-01", "injection", "facet")])
    out = pain_score_change(events, injection_sessions(events))
    assert len(out) == 0
    assert list(out.columns) == [
        "patient_id", "session_date", "score_before", "score_after", "change"
    ]


# ----------------------------------------------------------------- summary, empty, missing


def test_summary_hand_computed():
    rows = [
        ("a", "2024-01-01", "injection", "trigger_point"),
        ("a", "2024-01-11", "injection", "trigger_point"),  # 10 d, short
        ("a", "2024-02-10", "injection", "trigger_point"),  # 30 d
        ("a", "2024-03-11", "injection", "trigger_point"),  # 30 d -> 4 TPI in a year: over
        ("b", "2024-01-01", "injection", "facet"),
        ("b", "2024-03-01", "injection", "facet"),  # 60 d
        ("c", "2024-01-01", "injection", "facet"),
        ("d", "2024-01-01", "narcotic"),
    ]
    summary = injection_summary(ev(rows))
    assert summary == {
        "patients": 3,
        "sessions": 7,
        "patients_repeated": 2,
        "median_interval_days": 30.0,  # median of [10, 30, 30, 60]
        "patients_over_limit": 1,
        "short_intervals": 1,
    }


def test_empty_events_give_empty_frames_and_zero_summary():
    events = empty_events()
    s = injection_sessions(events)
    assert list(s.columns) == [
        "patient_id", "session_date", "injection_types", "region", "lines", "provider_id"
    ]
    assert len(s) == 0
    assert len(sessions_per_patient(s)) == 0
    assert list(repeat_intervals(s).columns) == [
        "patient_id", "session_date", "previous_session_date", "interval_days", "short_interval"
    ]
    assert len(limit_windows(events)) == 0
    assert list(patients_over_limit(limit_windows(events)).columns) == [
        "patient_id", "injection_type", "region", "max_sessions_365d", "limit",
        "first_window_start",
    ]
    assert list(time_to_repeat(s).columns) == [
        "patient_id", "first_session", "second_session", "days", "repeated"
    ]
    assert len(pain_score_change(events, s)) == 0
    assert repeat_survival(s).median is None
    assert injection_summary(events) == {
        "patients": 0,
        "sessions": 0,
        "patients_repeated": 0,
        "median_interval_days": None,
        "patients_over_limit": 0,
        "short_intervals": 0,
    }


def test_missing_injection_type_column_counts_as_other():
    raw = pd.DataFrame({
        "patient_id": ["p"] * 5,
        "event_date": pd.to_datetime([days_after("2024-01-01", 20 * k) for k in range(5)]),
        "technique": ["injection"] * 5,
    })
    events = conform(raw)
    s = injection_sessions(events)
    assert s["injection_types"].unique().tolist() == ["other"]
    assert pd.isna(s["provider_id"]).all()
    # 5 sessions of unknown type in a year > 4 allowed for "other"
    assert limit_windows(events)["sessions"].tolist() == [5]
    # also without conform's extra columns at all
    s2 = injection_sessions(raw)
    assert s2["injection_types"].tolist() == ["other"] * 5
