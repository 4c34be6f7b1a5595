import numpy as np
import pandas as pd
import pytest

from analytics.survival import KaplanMeier, kaplan_meier


def test_hand_computed_kaplan_meier():
    # durations 1, 2, 2, 3, 5 with events at 1, 2, 3 (a 2 and the 5 censored)
    km = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 0])
    assert isinstance(km, KaplanMeier)
    assert km.n == 5 and km.events == 3
    c = km.curve
    assert c["time"].tolist() == [0.0, 1.0, 2.0, 3.0, 5.0]
    # S(1) = 4/5; S(2) = 0.8 * 3/4 = 0.6; S(3) = 0.6 * 1/2 = 0.3; censoring at 5: unchanged
    np.testing.assert_allclose(c["survival"], [1.0, 0.8, 0.6, 0.3, 0.3])
    assert c["at_risk"].tolist() == [5, 5, 4, 2, 1]
    assert km.median == 3.0


def test_greenwood_band_brackets_estimate():
    rng = np.random.default_rng(7)
    d = rng.integers(1, 200, size=300)
    o = rng.random(300) < 0.7
    c = kaplan_meier(d, o).curve
    assert (c["lower"] <= c["survival"] + 1e-12).all()
    assert (c["upper"] >= c["survival"] - 1e-12).all()
    assert (c["lower"] >= 0).all() and (c["upper"] <= 1).all()
    # the band is not degenerate in the middle of the curve
    mid = c[(c["survival"] > 0.3) & (c["survival"] < 0.7)]
    assert (mid["upper"] - mid["lower"] > 0.01).all()
    # a wider confidence level gives a wider band
    c99 = kaplan_meier(d, o, confidence_level=0.99).curve
    assert (c99["upper"] - c99["lower"] >= c["upper"] - c["lower"] - 1e-12).all()


def test_greenwood_variance_value():
    # Greenwood at t=1 for the hand example: var = S^2 * d/(n(n-d)) = 0.64 * 1/20 = 0.032
    c = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 0]).curve
    half = 1.959963984540054 * np.sqrt(0.032)
    assert c["lower"].iloc[1] == pytest.approx(0.8 - half)
    assert c["upper"].iloc[1] == pytest.approx(1.0)  # 0.8 + 0.35 clipped at 1


def test_median_none_when_never_below_half():
    km = kaplan_meier([1, 2, 3, 4], [1, 0, 0, 0])
    np.testing.assert_allclose(km.curve["survival"], [1.0, 0.75, 0.75, 0.75, 0.75])
    assert km.median is None


def test_median_exactly_half():
    # S(2) = 0.5 exactly -> median 2
    assert kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1]).median == 2.0


def test_all_censored_and_empty():
    km = kaplan_meier(pd.Series([3, 5]), pd.Series([False, False]))
    assert km.curve["survival"].tolist() == [1.0, 1.0, 1.0]
    assert km.curve["at_risk"].tolist() == [2, 2, 1]
    assert km.median is None and km.events == 0
    empty = kaplan_meier([], [])
    assert len(empty.curve) == 0
    assert list(empty.curve.columns) == ["time", "survival", "lower", "upper", "at_risk"]
    assert empty.median is None and empty.n == 0


def test_all_events_reach_zero():
    km = kaplan_meier([2, 4], [True, True])
    np.testing.assert_allclose(km.curve["survival"], [1.0, 0.5, 0.0])
    assert km.curve["lower"].iloc[-1] == 0.0 and km.curve["upper"].iloc[-1] == 0.0
    assert km.median == 2.0


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [True])
