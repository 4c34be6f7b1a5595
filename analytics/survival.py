"""Kaplan–Meier survival curves (used for narcotic course durations and time to a repeat injection).

The estimate and its pointwise confidence band come from :func:`scipy.stats.ecdf` on
:class:`scipy.stats.CensoredData` (product-limit estimator; Greenwood variance, "linear"
band clipped to [0, 1]).  lifelines is not used: it pins pandas < 3.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CURVE_COLUMNS: tuple[str, ...] = ("time", "survival", "lower", "upper", "at_risk")


def _empty_curve() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.Series([], dtype="float64"),
            "survival": pd.Series([], dtype="float64"),
            "lower": pd.Series([], dtype="float64"),
            "upper": pd.Series([], dtype="float64"),
            "at_risk": pd.Series([], dtype="int64"),
        }
    )


@dataclass
class KaplanMeier:
    """A Kaplan–Meier estimate.

    - ``curve``: DataFrame[time, survival, lower, upper, at_risk] — one row at time 0
      (survival 1, everyone at risk) then one row per distinct observed time (event or
      censoring), survival being S(t) just after t, ``lower``/``upper`` the pointwise
      confidence band and ``at_risk`` the number of subjects with duration ≥ t.
    - ``median``: smallest time with S(t) ≤ 0.5, None when the curve never gets there.
    - ``n``: subjects; ``events``: subjects whose event was observed (not censored).
    """

    curve: pd.DataFrame = field(default_factory=_empty_curve)
    median: float | None = None
    n: int = 0
    events: int = 0


def kaplan_meier(
    durations: pd.Series | np.ndarray | list,
    observed: pd.Series | np.ndarray | list,
    confidence_level: float = 0.95,
) -> KaplanMeier:
    """Kaplan–Meier estimate of S(t) from ``durations`` (≥ 0) and ``observed``.

    ``observed`` True means the event happened at that duration, False that the subject
    was censored then (e.g. a course still ongoing at the extract date).  Rows with a
    missing duration are ignored.  Empty input gives an empty curve and median None.
    When events happen at time 0 the curve holds two rows at time 0 (1, then S(0)).
    """
    d = np.asarray(pd.to_numeric(pd.Series(durations), errors="coerce"), dtype="float64")
    o = np.asarray(pd.Series(observed).fillna(False), dtype=bool)
    if len(d) != len(o):
        raise ValueError("durations and observed must have the same length")
    keep = ~np.isnan(d)
    d, o = d[keep], o[keep]
    n = len(d)
    if n == 0:
        return KaplanMeier()
    if (d < 0).any():
        raise ValueError("durations must be >= 0")
    n_events = int(o.sum())
    if n_events == 0:
        # Nothing happened: S(t) = 1 at every observed time.
        times = np.unique(d)
        surv = np.ones(len(times))
        lower = upper = surv
    else:
        from scipy import stats  # imported here: scipy.stats costs ~1 s to import

        result = stats.ecdf(stats.CensoredData(uncensored=d[o], right=d[~o]))
        times = np.asarray(result.sf.quantiles, dtype="float64")
        surv = np.asarray(result.sf.probabilities, dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            band = result.sf.confidence_interval(confidence_level)
        lower = np.asarray(band.low.probabilities, dtype="float64")
        upper = np.asarray(band.high.probabilities, dtype="float64")
        # Greenwood's variance is undefined where S = 0: the band collapses onto 0 there.
        lower = np.where(np.isnan(lower) & (surv == 0), 0.0, lower)
        upper = np.where(np.isnan(upper) & (surv == 0), 0.0, upper)
    sorted_d = np.sort(d)
    at_risk = n - np.searchsorted(sorted_d, times, side="left")
    curve = pd.DataFrame(
        {
            "time": np.concatenate([[0.0], times]),
            "survival": np.concatenate([[1.0], surv]),
            "lower": np.concatenate([[1.0], lower]),
            "upper": np.concatenate([[1.0], upper]),
            "at_risk": np.concatenate([[n], at_risk]).astype("int64"),
        }
    )
    below = np.flatnonzero(surv <= 0.5 + 1e-12)  # tolerate rounding of products
    median = float(times[below[0]]) if len(below) else None
    return KaplanMeier(curve=curve, median=median, n=n, events=n_events)


def median_confidence_interval(km: KaplanMeier) -> tuple[float | None, float | None]:
    """Confidence interval of the median survival time from the pointwise band.

    Lower limit: the first time where the band's lower edge is ≤ 0.5; upper limit: the
    first time where its upper edge is ≤ 0.5 (the inversion of the band used by
    Brookmeyer & Crowley 1982, and by R's ``survfit`` and lifelines); None where the band
    never gets there.
    """
    curve = km.curve
    if len(curve) == 0:
        return None, None
    time = curve["time"].to_numpy(dtype="float64")
    lower = np.flatnonzero(curve["lower"].to_numpy(dtype="float64") <= 0.5 + 1e-12)
    upper = np.flatnonzero(curve["upper"].to_numpy(dtype="float64") <= 0.5 + 1e-12)
    return (float(time[lower[0]]) if len(lower) else None,
            float(time[upper[0]]) if len(upper) else None)


@dataclass
class LogRank:
    """A k-sample log-rank test: ``statistic`` (chi-square), ``df`` (groups − 1) and
    ``p_value``; all None when fewer than two groups or no event."""

    statistic: float | None = None
    df: int | None = None
    p_value: float | None = None


def logrank_test(
    durations: pd.Series | np.ndarray,
    observed: pd.Series | np.ndarray,
    groups: pd.Series | np.ndarray,
) -> LogRank:
    """Log-rank test that the survival curves of ``groups`` are equal (Mantel 1966).

    With O_g the events of group g, E_g = Σ_t d_t n_gt / n_t the events expected at the
    pooled hazard (n: at risk, d: events at each event time t) and V the hypergeometric
    covariance Σ_t d_t (n_t − d_t) / (n_t − 1) · n_gt / n_t · (δ_gh − n_ht / n_t), the
    statistic is (O − E)' V⁻ (O − E) over the first k − 1 groups, chi-square with k − 1
    degrees of freedom.  Two groups go to :func:`scipy.stats.logrank` itself (its statistic
    squared, its p-value); scipy has no k-sample version, so more groups use the formula
    above, which reduces to scipy's for two.  Rows with a missing
    duration are ignored; groups without subjects do not count.
    """
    d = np.asarray(pd.to_numeric(pd.Series(durations), errors="coerce"), dtype="float64")
    o = np.asarray(pd.Series(observed).fillna(False), dtype=bool)
    keep = ~np.isnan(d)
    d, o = d[keep], o[keep]
    codes, _ = pd.factorize(pd.Series(np.asarray(groups, dtype=object)[keep]))
    k = int(codes.max()) + 1 if len(codes) else 0
    if k < 2 or not o.any():
        return LogRank()
    from scipy import stats  # imported when a test is computed (start-up stays light)

    if k == 2:
        samples = [stats.CensoredData(uncensored=d[(codes == g) & o],
                                      right=d[(codes == g) & ~o]) for g in (0, 1)]
        result = stats.logrank(samples[0], samples[1])
        return LogRank(statistic=float(result.statistic) ** 2, df=1,
                       p_value=float(result.pvalue))
    times, t_idx = np.unique(d, return_inverse=True)
    n_t = len(times)
    # At risk at t: subjects with duration >= t, per group (reverse cumulative counts).
    count = np.bincount(t_idx * k + codes, minlength=n_t * k).reshape(n_t, k)
    at_risk = np.cumsum(count[::-1], axis=0)[::-1].astype("float64")
    events = np.bincount(t_idx[o] * k + codes[o], minlength=n_t * k).reshape(n_t, k)
    events = events.astype("float64")
    d_t = events.sum(axis=1)
    n_all = at_risk.sum(axis=1)
    has = d_t > 0
    at_risk, events, d_t, n_all = at_risk[has], events[has], d_t[has], n_all[has]
    share = at_risk / n_all[:, None]
    expected = (d_t[:, None] * share).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_all > 1, d_t * (n_all - d_t) / (n_all - 1), 0.0)
    cov = (np.einsum("t,tg,th->gh", factor, share, -share)
           + np.diag((factor[:, None] * share).sum(axis=0)))
    diff = events.sum(axis=0) - expected
    statistic = float(diff[:-1] @ np.linalg.pinv(cov[:-1, :-1]) @ diff[:-1])
    return LogRank(statistic=statistic, df=k - 1,
                   p_value=float(stats.chi2.sf(statistic, k - 1)))
