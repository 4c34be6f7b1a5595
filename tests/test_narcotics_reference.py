"""Property test: the vectorised narcotic analyses equal the per-patient loop of the
benchmark (tests/oracles/reference_narcotics.py) on random event tables."""

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.narcotics import (
    active_patients_by_month,
    fill_mme,
    narcotic_courses,
    narcotic_summary,
    relaxant_overlap,
)
from analytics.schema import conform
from tests.oracles.reference_narcotics import (
    ref_active_patients_by_month,
    ref_mme,
    ref_narcotic_courses,
    ref_narcotic_summary,
    ref_relaxant_overlap,
)

BASE = pd.Timestamp("2023-11-01")
DETAILS = [
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
    "Acetaminophen 300 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet",
    "72 HR Fentanyl 0.025 MG/HR Transdermal System",
    "Fentanyl 50 MCG/HR patch",
    "tramadol hydrochloride 50 MG Oral Tablet",
    "buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet",
    "Meperidine Hydrochloride 50 MG Oral Tablet",
    "Percocet tablet",
    "12 HR Hydrocodone Bitartrate 10 MG Extended Release Oral Capsule",
    "Acetaminophen and Codeine Phosphate Tablets, USP 300 mg/30 mg",
    "Oxycodone HCl 5 MG/5 ML Oral Solution",
    "Hydrocodone Bitartrate and Acetaminophen Oral Solution 7.5 mg/325 mg per 15 mL",
    "Buprenorphine 150 MCG Buccal Film [Belbuca]",
    "Naloxone Hydrochloride 0.5 MG / Pentazocine Hydrochloride 50 MG Oral Tablet",
    "Oxycodone and Acetaminophen Tablets USP 7.5/325 mg",
    None,
]

event = st.fixed_dictionaries({
    "patient_id": st.sampled_from(["p0", "p1", "p2", "p3"]),
    "day": st.integers(0, 200),
    "technique": st.sampled_from(["narcotic", "narcotic", "muscle_relaxant", "other"]),
    "days_supply": st.sampled_from([None, 1, 5, 10, 30, 90]),
    "end_after": st.sampled_from([None, None, None, 0, 20, 60]),
    "open_order": st.sampled_from([False, False, False, True]),
    "ends_at_death": st.sampled_from([False, False, False, True]),
    "dispenses": st.sampled_from([None, None, 1, 2, 3]),
    "detail": st.sampled_from(DETAILS),
    "quantity": st.sampled_from([None, 10, 60, 120]),
    "strength": st.sampled_from([None, None, None, 10.0]),
    "mme_per_day": st.sampled_from([None] * 7 + [25.0]),
})


def build(rows) -> pd.DataFrame:
    return conform(pd.DataFrame({
        "patient_id": [r["patient_id"] for r in rows],
        "event_date": [BASE + pd.Timedelta(days=r["day"]) for r in rows],
        "technique": [r["technique"] for r in rows],
        "days_supply": pd.array([r["days_supply"] for r in rows], dtype="Float64"),
        "end_date": [pd.NaT if r["end_after"] is None
                     else BASE + pd.Timedelta(days=r["day"] + r["end_after"]) for r in rows],
        "open_order": [r["open_order"] for r in rows],
        "ends_at_death": [r["ends_at_death"] and r["end_after"] is not None for r in rows],
        "dispenses": pd.array([r["dispenses"] for r in rows], dtype="Float64"),
        "detail": [r["detail"] for r in rows],
        "quantity": pd.array([r["quantity"] for r in rows], dtype="Float64"),
        "strength": pd.array([r["strength"] for r in rows], dtype="Float64"),
        "mme_per_day": pd.array([r["mme_per_day"] for r in rows], dtype="Float64"),
    }))


def norm(df: pd.DataFrame) -> list[dict]:
    out = {}
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = [None if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
                         for v in col]
        elif pd.api.types.is_float_dtype(col):
            out[name] = [None if pd.isna(v) else round(float(v), 6) for v in col]
        else:
            out[name] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                         for v in col]
    return [dict(zip(out, values, strict=True)) for values in zip(*out.values(), strict=True)]


def close(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(event, max_size=30), st.sampled_from([None, 60, 250]))
def test_narcotics_equal_reference(rows, extract_offset):
    events = build(rows)
    extract = None if extract_offset is None else BASE + pd.Timedelta(days=extract_offset)

    m = fill_mme(events, extract=extract)
    narcotic = events[events["technique"] == "narcotic"]
    assert m.index.tolist() == narcotic.index.tolist()
    ext = None if len(events) == 0 else (extract or events["event_date"].max()).date()
    for (_, rec), (_, got) in zip(narcotic.iterrows(), m.iterrows(), strict=True):
        ingredient, strength, mme, status, source = ref_mme(rec.to_dict(), extract=ext)
        assert (None if pd.isna(got["ingredient"]) else got["ingredient"]) == ingredient
        assert (None if pd.isna(got["factor_source"]) else got["factor_source"]) == source
        assert close(None if pd.isna(got["opioid_strength"]) else got["opioid_strength"],
                     strength)
        assert close(None if pd.isna(got["mme_per_day"]) else got["mme_per_day"], mme)
        assert got["mme_status"] == status

    courses = narcotic_courses(events, 30, extract).drop(columns="mme_band")
    assert norm(courses) == norm(ref_narcotic_courses(events, 30, extract))
    assert norm(narcotic_courses(events, 7, extract).drop(columns="mme_band")) == norm(
        ref_narcotic_courses(events, 7, extract)
    )
    assert norm(relaxant_overlap(events, extract)) == norm(ref_relaxant_overlap(events, extract))
    assert norm(active_patients_by_month(events, extract)) == norm(
        ref_active_patients_by_month(events, extract)
    )
    got = narcotic_summary(events, 30, extract)
    want = ref_narcotic_summary(events, 30, extract)
    assert got == want


dense_fill = st.fixed_dictionaries({
    "patient_id": st.just("p"),
    "day": st.integers(0, 60),
    "technique": st.just("narcotic"),
    "days_supply": st.sampled_from([1, 2, 3, 5, 10]),
    "end_after": st.just(None),
    "open_order": st.just(False),
    "ends_at_death": st.just(False),
    "dispenses": st.sampled_from([None, 2]),
    "detail": st.sampled_from(DETAILS[:2] + [None]),
    "quantity": st.sampled_from([10, 60]),
    "strength": st.just(None),
    "mme_per_day": st.just(None),
})


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(dense_fill, max_size=12), st.sampled_from([0, 1, 3]))
def test_dense_courses_equal_reference(rows, gap):
    # one patient, short fills close together: gaps of 0, 1, 2 days between fills with and
    # without MME exercise the course gap and the union of days covered by MME fills
    events = build(rows)
    extract = BASE + pd.Timedelta(days=200)
    got = narcotic_courses(events, gap, extract).drop(columns="mme_band")
    assert norm(got) == norm(ref_narcotic_courses(events, gap, extract))
