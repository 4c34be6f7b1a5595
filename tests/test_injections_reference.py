"""Property test: the vectorised injection analyses equal the per-patient loop of the
benchmark (tests/oracles/reference_injections.py) on random event tables."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.injections import (
    injection_sessions,
    injection_summary,
    limit_windows,
    repeat_intervals,
    time_to_repeat,
)
from analytics.schema import INJECTION_TYPES, conform
from tests.oracles.reference_injections import (
    ref_injection_sessions,
    ref_injection_summary,
    ref_limit_windows,
    ref_repeat_intervals,
    ref_time_to_repeat,
)

BASE = pd.Timestamp("2022-01-01")

event = st.tuples(
    st.sampled_from(["p0", "p1", "p2", "p3"]),
    st.integers(0, 800),  # day offset: several 365-day windows
    st.sampled_from(["injection", "injection", "injection", "narcotic", "other"]),
    st.sampled_from([*INJECTION_TYPES, None, None]),
    st.sampled_from(["dr1", "dr2", None]),
    st.sampled_from(["cervical_thoracic", "lumbar_sacral", None]),
)


def build(rows) -> pd.DataFrame:
    return conform(pd.DataFrame({
        "patient_id": [r[0] for r in rows],
        "event_date": [BASE + pd.Timedelta(days=r[1]) for r in rows],
        "technique": [r[2] for r in rows],
        "injection_type": [r[3] for r in rows],
        "provider_id": [r[4] for r in rows],
        "region": [r[5] if len(r) > 5 else None for r in rows],
    }))


def norm(df: pd.DataFrame) -> list[dict]:
    out = {}
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = [None if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
                         for v in col]
        else:
            out[name] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                         for v in col]
    return [dict(zip(out, values, strict=True)) for values in zip(*out.values(), strict=True)]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(event, max_size=40))
def test_injections_equal_reference(rows):
    events = build(rows)
    sessions = injection_sessions(events)
    assert norm(sessions) == norm(ref_injection_sessions(events))
    assert norm(repeat_intervals(sessions)) == norm(ref_repeat_intervals(sessions))
    assert norm(limit_windows(events)) == norm(ref_limit_windows(events))
    extract = BASE + pd.Timedelta(days=900)
    assert norm(time_to_repeat(sessions, extract)) == norm(ref_time_to_repeat(sessions, extract))
    assert norm(time_to_repeat(sessions)) == norm(ref_time_to_repeat(sessions))
    assert injection_summary(events) == ref_injection_summary(events)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 800),
                       st.sampled_from(["cervical_thoracic", "lumbar_sacral", None])),
             max_size=12),
    st.sampled_from([1, 2, 3]),
)
def test_dense_limit_windows_equal_reference(sessions, limit):
    # one patient, one type, many sessions in two regions or none: exercises the window
    # counts per region and the unknown-region fallback
    rows = [("p", k, "injection", "trigger_point", None, region) for k, region in sessions]
    events = build(rows)
    limits = {"trigger_point": limit, "other": 4}
    assert norm(limit_windows(events, limits)) == norm(ref_limit_windows(events, limits))
