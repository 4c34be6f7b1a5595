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
