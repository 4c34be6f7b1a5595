"""Injection response: baseline, sustained >= 50 % relief, repeats (docs section 19)."""

import numpy as np
import pandas as pd
import pytest

from analytics.injection_response import injection_responses, response_rates
from analytics.injections import injection_sessions
from analytics.schema import conform, empty_events

EXTRACT = pd.Timestamp("2024-12-31")
SESSION = pd.Timestamp("2024-03-01")


def inject(pid, date, kind="epidural_steroid", region="lumbar_sacral", provider="DR1",
           pain=None) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "injection",
            "injection_type": kind, "region": region, "provider_id": provider,
            "pain_score": pain}


def score(pid, offset, value) -> dict:
    """An office visit ``offset`` days after 2024-03-01 with a pain score."""
    date = (SESSION + pd.Timedelta(days=offset)).strftime("%Y-%m-%d")
    return {"patient_id": pid, "event_date": date, "technique": "other", "pain_score": value}


def ev(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["event_date"] = pd.to_datetime(df["event_date"])
    return conform(df)


def responses(rows, extract=EXTRACT) -> pd.DataFrame:
    events = ev(rows)
    return injection_responses(events, injection_sessions(events), extract=extract)


def status_of(r: pd.DataFrame) -> dict:
    return dict(zip(r["patient_id"], r["status"], strict=True))


def test_response_needs_a_score_on_or_after_day_28():
    # Baseline 8 (day -5); relief to 3 on day 7 and again on day 27 (a) or 28 (b).
    r = responses([
        inject("a", "2024-03-01"), score("a", -5, 8), score("a", 7, 3), score("a", 27, 3),
        inject("b", "2024-03-01"), score("b", -5, 8), score("b", 7, 3), score("b", 28, 3),
    ])
    assert status_of(r) == {"a": "no_follow_up", "b": "response"}
    assert r["late_scores"].tolist() == [0, 1]
    assert r["response"].tolist() == [False, True]


def test_every_follow_up_score_must_be_at_least_50_percent_below_baseline():
    r = responses([
        inject("a", "2024-03-01"), score("a", -5, 8), score("a", 10, 4), score("a", 30, 4),
        inject("b", "2024-03-01"), score("b", -5, 8), score("b", 10, 5), score("b", 30, 2),
        # day 42 counts, day 43 is outside the follow-up
        inject("c", "2024-03-01"), score("c", -5, 8), score("c", 30, 2), score("c", 42, 6),
        inject("d", "2024-03-01"), score("d", -5, 8), score("d", 30, 2), score("d", 43, 6),
    ])
    assert status_of(r) == {"a": "response", "b": "no_response", "c": "no_response",
                            "d": "response"}
    assert r["highest_follow_up_score"].tolist() == [4.0, 5.0, 6.0, 2.0]


def test_baseline_is_the_last_score_of_the_30_days_up_to_the_session():
    r = responses([
        inject("a", "2024-03-01"), score("a", -30, 8), score("a", 30, 4),
        inject("b", "2024-03-01"), score("b", -31, 8), score("b", 30, 4),
        # the last day wins (6, not 9); two scores that day: their mean
        inject("c", "2024-03-01"), score("c", -20, 9), score("c", -5, 6), score("c", -5, 8),
        score("c", 30, 3),
        # a score recorded at the session is the pre-procedure baseline
        inject("e", "2024-03-01", pain=6), score("e", -10, 9), score("e", 30, 3),
        inject("f", "2024-03-01"), score("f", -3, 0), score("f", 30, 0),  # baseline 0
    ])
    assert status_of(r) == {"a": "response", "b": "no_baseline", "c": "response",
                            "e": "response", "f": "no_baseline"}
    r = r.set_index("patient_id")
    assert r.loc["a", "baseline_date"] == pd.Timestamp("2024-01-31")  # 30 days before
    assert r.loc["c", "baseline_score"] == pytest.approx(7.0)
    assert r.loc["e", "baseline_score"] == 6.0 and r.loc["e", "baseline_date"] == SESSION


def test_followed_only_when_the_42_days_lie_before_the_extract_date():
    rows = [inject("a", "2024-03-01"), score("a", -5, 8), score("a", 30, 2)]
    assert responses(rows, pd.Timestamp("2024-04-12"))["followed"].tolist() == [True]
    assert responses(rows, pd.Timestamp("2024-04-11"))["followed"].tolist() == [False]


def test_repeats_after_a_session_without_a_documented_response():
    r = responses([
        inject("a", "2024-01-01"), score("a", -65, 8), score("a", -30, 3),  # Jan 1: relief
        inject("a", "2024-03-01"), score("a", -5, 8), score("a", 20, 7),  # no response
        inject("a", "2024-06-01"),
        inject("b", "2024-03-01"),  # a first session is no repeat
    ]).set_index(["patient_id", "session_date"])
    assert r["status"].tolist() == ["response", "no_response", "no_baseline", "no_baseline"]
    assert r["repeat"].tolist() == [False, True, True, False]
    assert r["repeat_after_no_response"].tolist() == [False, False, True, False]
    assert r.loc[("a", pd.Timestamp("2024-06-01")), "previous_session_date"] == SESSION


def test_shares_by_type_region_and_physician():
    r = responses([
        inject("a", "2024-03-01", provider="DR1"), score("a", -5, 8), score("a", 30, 2),
        inject("b", "2024-03-01", provider="DR2"), score("b", -5, 8), score("b", 30, 7),
        inject("c", "2024-03-01", kind="facet", region="cervical_thoracic", provider="DR2"),
        inject("c", "2024-05-01", kind="facet", region="cervical_thoracic", provider="DR2"),
        inject("d", "2024-12-01", provider="DR1"),  # not followed to day 42
    ])
    clinic = response_rates(r).iloc[0]
    assert (clinic["sessions"], clinic["responses"], clinic["no_response"],
            clinic["no_baseline"]) == (4, 1, 1, 2)
    assert clinic["response_share"] == pytest.approx(0.25)
    assert (clinic["repeats"], clinic["repeats_after_no_response"]) == (1, 1)
    by_type = response_rates(r, by=["injection_types"]).set_index("injection_types")
    assert by_type.loc["epidural_steroid", ["sessions", "responses"]].tolist() == [2, 1]
    assert by_type.loc["facet", "repeat_after_no_response_share"] == 1.0
    assert np.isnan(by_type.loc["epidural_steroid", "repeat_after_no_response_share"])
    by_doc = response_rates(r, by=["provider_id"]).set_index("provider_id")
    assert by_doc["sessions"].to_dict() == {"DR1": 1, "DR2": 3}
    by_region = response_rates(r, by=["region"]).set_index("region")
    assert by_region.loc["cervical_thoracic", "sessions"] == 2
    with pytest.raises(ValueError):
        response_rates(r, by=["site"])


def test_no_scores_or_no_sessions():
    events = ev([inject("a", "2024-03-01")]).drop(columns="pain_score")
    r = injection_responses(events, injection_sessions(events), extract=EXTRACT)
    assert r["status"].tolist() == ["no_baseline"]
    empty = injection_responses(empty_events(), injection_sessions(empty_events()))
    assert len(empty) == 0 and len(response_rates(empty)) == 1
