"""Distributions shared by several views: fixed-width histograms and Kaplan–Meier tables.

Binning happens here, in the results layer, so the bins are counts that the
view protects like any other (and that add up to the total shown with them);
figures only draw the protected bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.results.layout import Layout
from analytics.results.table import Column, Kind, Table, derived, label
from analytics.survival import KaplanMeier


def histogram(values: pd.Series, *, bin_width: int = 7, max_value: int | None = None,
              count_name: str = "count") -> pd.DataFrame:
    """Counts of ``values`` in bins ``[0, w)``, ``[w, 2w)``, … (w = ``bin_width``).

    The bins run from 0 to the largest value; with ``max_value`` the values above
    it are counted in the last bin, labelled ``≥<its start>``.  Columns ``start``,
    ``end`` (inclusive), ``range`` (``"0–6"``) and ``count_name``.  No values: no
    rows.
    """
    values = pd.Series(values, dtype="float64").dropna()
    columns = {"start": "int64", "end": "int64", "range": "string", count_name: "int64"}
    if values.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    top = float(values.max()) if max_value is None else min(float(max_value), float(values.max()))
    top = max(top, float(bin_width))
    edges = np.arange(0, top + bin_width + 1, bin_width, dtype="float64")
    counts, edges = np.histogram(values.clip(upper=top), bins=edges)
    ranges = [f"{int(a)}–{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    if max_value is not None and values.max() > max_value and ranges:
        ranges[-1] = f"≥{int(edges[-2])}"
    out = pd.DataFrame({
        "start": edges[:-1].astype(np.int64),
        "end": (edges[1:] - 1).astype(np.int64),
        "range": ranges,
        count_name: counts.astype(np.int64),
    })
    return out.astype(columns)


def histogram_columns(count_column: Column) -> tuple[Column, ...]:
    """Columns of a :func:`histogram` table counting ``count_column``."""
    return (label("start", "From"), label("end", "To"), label("range", "Range"), count_column)


@dataclass(frozen=True)
class Survival:
    """A protected Kaplan–Meier estimate: ``curve`` (time, at_risk, survival, lower,
    upper; the survival figures hidden where fewer than the threshold are at risk) and
    ``summary`` (one row: subjects ``n``, ``median``)."""

    curve: Table
    summary: Table


def add_survival(layout: Layout, name: str, km: KaplanMeier, subjects: Kind) -> None:
    """Lay out a Kaplan–Meier estimate as the tables ``<name>_curve`` and ``<name>_summary``.

    ``subjects``: what is at risk (:attr:`Kind.PATIENTS` or :attr:`Kind.COUNT` for
    courses).  Survival at a time derives from the subjects at risk then; the median
    from the subjects in all.
    """
    curve = km.curve[["time", "at_risk", "survival", "lower", "upper"]]
    layout.add(f"{name}_curve", "Kaplan–Meier curve", (
        label("time", "Day"),
        Column("at_risk", "At risk", subjects),
        derived("survival", "Survival", ["at_risk"], digits=3),
        derived("lower", "Lower 95% bound", ["at_risk"], digits=3),
        derived("upper", "Upper 95% bound", ["at_risk"], digits=3),
    ), curve)
    summary = pd.DataFrame({"n": [km.n], "median": [np.nan if km.median is None else km.median]})
    layout.add(f"{name}_summary", "Kaplan–Meier summary", (
        Column("n", "Subjects", subjects),
        derived("median", "Median (days)", ["n"], digits=0, unit=" days"),
    ), summary)
    if len(curve):
        layout.same(layout.cell(f"{name}_curve", 0, "at_risk"), layout.cell(f"{name}_summary", 0,
                                                                               "n"))


def survival(tables: dict[str, Table], name: str) -> Survival:
    """The :class:`Survival` laid out by :func:`add_survival` from protected tables."""
    return Survival(tables[f"{name}_curve"], tables[f"{name}_summary"])
