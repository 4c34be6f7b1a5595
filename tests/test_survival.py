import numpy as np
import pandas as pd
import pytest

from analytics.survival import (
    KaplanMeier,
    kaplan_meier,
    logrank_test,
    median_confidence_interval,
)


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


def test_median_confidence_interval_from_the_band():
    # Hand example: at t=1 S = 0.8, Greenwood se = sqrt(0.032) -> lower edge 0.449 <= 0.5:
    # the lower limit is 1.  The upper edge at t=3 is 0.3 + 1.96 * sqrt(0.09 * 0.6333)
    # = 0.768 and stays there: no upper limit.
    km = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 0])
    assert median_confidence_interval(km) == (1.0, None)
    assert median_confidence_interval(kaplan_meier([], [])) == (None, None)


def _reference_logrank(d, o, g):
    """Textbook k-sample log-rank, one event time at a time."""
    groups = sorted(set(g))
    k = len(groups)
    d, o, g = np.asarray(d, float), np.asarray(o, bool), np.asarray(g)
    observed, expected, cov = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for t in np.unique(d[o]):
        n_g = np.array([np.sum((d >= t) & (g == x)) for x in groups], float)
        d_g = np.array([np.sum((d == t) & o & (g == x)) for x in groups], float)
        n, dt = n_g.sum(), d_g.sum()
        observed += d_g
        expected += dt * n_g / n
        if n > 1:
            for i in range(k):
                for j in range(k):
                    cov[i, j] += dt * (n - dt) / (n - 1) * n_g[i] / n * ((i == j) - n_g[j] / n)
    diff = observed - expected
    return float(diff[:-1] @ np.linalg.inv(cov[:-1, :-1]) @ diff[:-1])


def test_logrank_test_two_groups_equals_scipy_and_k_groups_the_textbook():
    from scipy import stats

    rng = np.random.default_rng(3)
    d = rng.integers(1, 60, size=90).astype(float)
    o = rng.random(90) < 0.7
    g = np.array(["a"] * 40 + ["b"] * 50)
    two = logrank_test(d, o, g)
    ref = stats.logrank(stats.CensoredData(uncensored=d[:40][o[:40]], right=d[:40][~o[:40]]),
                        stats.CensoredData(uncensored=d[40:][o[40:]], right=d[40:][~o[40:]]))
    assert two.df == 1
    assert two.statistic == pytest.approx(ref.statistic ** 2)
    assert two.p_value == pytest.approx(ref.pvalue)
    three = logrank_test(d, o, np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 30))
    assert three.df == 2
    assert three.statistic == pytest.approx(_reference_logrank(
        d, o, ["a"] * 30 + ["b"] * 30 + ["c"] * 30))
    assert three.p_value == pytest.approx(stats.chi2.sf(three.statistic, 2))
    assert logrank_test(d, o, np.array(["a"] * 90)).p_value is None
    assert logrank_test(d, np.zeros(90, bool), g).p_value is None
