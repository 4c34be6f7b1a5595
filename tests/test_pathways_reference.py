"""Property test: the vectorised pathways equal the per-patient reference loop.

Random small event tables (few patients, dates within a few months so that
eras overlap, nest and touch) with random parameters; derandomized.
"""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import schema
from analytics.pathways import (
    pathway_counts,
    pathway_steps,
    step_therapy_concordance,
    technique_eras,
)
from tests.oracles.reference_pathways import (
    reference_concordance,
    reference_pathway_counts,
    reference_pathway_steps,
    reference_technique_eras,
)

BASE = pd.Timestamp("2024-01-01")

event_rows = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3"]),
        st.integers(0, 120),                                   # event day
        st.sampled_from(schema.TECHNIQUES),
        st.one_of(st.none(), st.integers(0, 60)),              # end_date offset
        st.one_of(st.none(), st.integers(1, 45)),              # days_supply
        st.booleans(),                                         # open_order (rarely used)
    ),
    min_size=3,
    max_size=40,
)


def _events(rows) -> pd.DataFrame:
    return schema.conform(pd.DataFrame({
        "patient_id": [r[0] for r in rows],
        "event_date": [BASE + pd.Timedelta(days=r[1]) for r in rows],
        "technique": [r[2] for r in rows],
        "end_date": [BASE + pd.Timedelta(days=r[1] + r[3]) if r[3] is not None else pd.NaT
                     for r in rows],
        "days_supply": [float(r[4]) if r[4] is not None else float("nan") for r in rows],
        "open_order": [r[5] and r[3] is None and r[1] % 7 == 0 for r in rows],
    }))


def _dense_events(seed: int) -> pd.DataFrame:
    """A denser random table from a seed: many overlapping, nested and touching eras."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    day = rng.integers(0, 150, n)
    has_end = rng.random(n) < 0.3
    has_supply = rng.random(n) < 0.5
    return schema.conform(pd.DataFrame({
        "patient_id": rng.choice(["p1", "p2", "p3"], n),
        "event_date": BASE + pd.to_timedelta(day, unit="D"),
        "technique": rng.choice(list(schema.TECHNIQUES), n, p=[.25, .2, .25, .15, .1, .05]),
        "end_date": pd.Series(BASE + pd.to_timedelta(day + rng.integers(0, 60, n), unit="D"))
        .where(has_end),
        "days_supply": np.where(has_supply, rng.integers(1, 45, n), np.nan),
        "open_order": rng.random(n) < 0.05,
    }))


params = st.fixed_dictionaries({
    "techniques": st.sampled_from([
        schema.DEFAULT_PATHWAY_TECHNIQUES,
        schema.TECHNIQUES,
        ("narcotic", "muscle_relaxant"),
        ("physical_therapy", "injection", "narcotic"),
    ]),
    "era_gap_days": st.one_of(st.sampled_from([0, 30]), st.integers(0, 40)),
    "combination_window_days": st.one_of(st.sampled_from([1, 5, 10, 30]), st.integers(0, 45)),
    "max_steps": st.integers(1, 7),
    "min_era_days": st.sampled_from([0, 0, 1, 5]),
    "min_post_combination_days": st.sampled_from([0, 0, 1, 5, 30]),
    "pathway_filter": st.sampled_from(["all", "first", "changes"]),
})

SETTINGS = settings(
    max_examples=200, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(event_rows, params, st.sampled_from(["first", "eras"]))
def test_steps_equal_reference(rows, p, mode):
    ev = _events(rows)
    got = pathway_steps(ev, mode=mode, **p)
    want = reference_pathway_steps(ev, mode=mode, **p)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["dropped_pieces"] == want.attrs.get("dropped_pieces", 0)
    cohort = pd.Series(["p1", "p2", "p3", "p4", "p5"], dtype="string")
    pd.testing.assert_frame_equal(pathway_counts(got, cohort),
                                  reference_pathway_counts(want, cohort))


@SETTINGS
@given(st.integers(0, 2**32 - 1), params, st.sampled_from(["first", "eras"]))
def test_dense_steps_equal_reference(seed, p, mode):
    ev = _dense_events(seed)
    got = pathway_steps(ev, mode=mode, **p)
    want = reference_pathway_steps(ev, mode=mode, **p)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["dropped_pieces"] == want.attrs.get("dropped_pieces", 0)


@SETTINGS
@given(event_rows, st.integers(0, 40), st.sampled_from([0, 0, 1, 5]))
def test_eras_equal_reference(rows, gap, min_era):
    ev = _events(rows)
    pd.testing.assert_frame_equal(technique_eras(ev, gap, min_era_days=min_era),
                                  reference_technique_eras(ev, gap, min_era_days=min_era))


@SETTINGS
@given(event_rows)
def test_concordance_equals_reference(rows):
    ev = _events(rows)
    pd.testing.assert_frame_equal(step_therapy_concordance(ev), reference_concordance(ev))
