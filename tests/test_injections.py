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
    over = patients_over_limit(w)
    assert over.to_dict("list") == {
        "patient_id": ["p"],
        "injection_type": ["epidural_steroid"],
        "max_sessions_365d": [5],
        "limit": [4],
        "first_window_start": [pd.Timestamp("2023-01-10")],
    }


def test_fifth_esi_on_day_365_is_not_over_the_limit():
    w = limit_windows(_esi_series(365))
    assert len(w) == 0
    assert list(w.columns) == [
        "patient_id", "injection_type", "window_start", "window_end", "sessions", "limit"
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
        "patient_id", "session_date", "injection_types", "lines", "provider_id"
    ]
    assert len(s) == 0
    assert len(sessions_per_patient(s)) == 0
    assert list(repeat_intervals(s).columns) == [
        "patient_id", "session_date", "previous_session_date", "interval_days", "short_interval"
    ]
    assert len(limit_windows(events)) == 0
    assert list(patients_over_limit(limit_windows(events)).columns) == [
        "patient_id", "injection_type", "max_sessions_365d", "limit", "first_window_start"
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
