"""Small-cell suppression of result tables (DESIGN.md, "Privacy").

Every patient count shown or exported that lies between 1 and
``min_cell - 1`` is replaced by the string ``"<{min_cell}"`` (default
threshold 11, the CMS cell-size policy); 0 and counts >= ``min_cell`` are
shown as they are.  ``min_cell`` 0 or 1 turns suppression off.  Percents
derived from a suppressed count are blanked.  Rare pathways are merged into
one "other pathways" row.

This is primary suppression only: a suppressed cell can still be recovered by
subtracting the shown cells from a shown total.  Merging rare pathways first
(:func:`merge_rare_pathways`) keeps that to the single "other pathways" row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

DEFAULT_MIN_CELL = 11
OTHER_PATHWAYS = "other pathways"
NO_TREATMENT = "no treatment"  # same as analytics.pathways.NO_TREATMENT (no upward import)


def suppressed_label(min_cell: int = DEFAULT_MIN_CELL) -> str:
    """The text that replaces a small count, e.g. ``"<11"``."""
    return f"<{min_cell}"


def is_small(n: float, min_cell: int = DEFAULT_MIN_CELL) -> bool:
    """True when ``n`` is a count that must be suppressed (1 <= n < min_cell)."""
    return min_cell > 1 and not pd.isna(n) and 1 <= n < min_cell


def suppress_count(n: int, min_cell: int = DEFAULT_MIN_CELL) -> int | str:
    """``"<{min_cell}"`` for 1 .. min_cell-1; 0 and counts >= min_cell unchanged.

    ``min_cell`` 0 or 1 turns suppression off.  Numpy integers come back as
    Python ``int``.
    """
    if is_small(n, min_cell):
        return suppressed_label(min_cell)
    return int(n) if isinstance(n, (int, np.integer)) else n


def suppress_table(
    table: pd.DataFrame,
    count_columns: Iterable[str],
    min_cell: int = DEFAULT_MIN_CELL,
    percent_columns: Iterable[str] | Mapping[str, str | Iterable[str]] = (),
) -> pd.DataFrame:
    """A copy of ``table`` with small counts replaced and the figures derived from them blanked.

    In each of ``count_columns``, every value from 1 to ``min_cell - 1`` is
    replaced by ``"<{min_cell}"``; such a column becomes ``object`` dtype
    holding Python ints (and NA) and the strings (columns without a small
    value keep their dtype).  ``percent_columns`` are figures derived from the
    counts (percents, medians, rates), set to NA where their count is
    suppressed: given as a list, each is blanked in every row where any count
    column was suppressed; given as a mapping ``{derived: count or [counts]}``,
    each is blanked only where one of *its* counts was (e.g. a "% on
    narcotics" blanked with its "narcotic patients", not with an unrelated
    count of the same row).  ``min_cell`` 0 or 1 returns an unchanged copy.
    """
    out = table.copy()
    count_columns = list(count_columns)
    if isinstance(percent_columns, Mapping):
        derived = {
            col: [basis] if isinstance(basis, str) else list(basis)
            for col, basis in percent_columns.items()
        }
    else:
        derived = {col: count_columns for col in percent_columns}
    if min_cell <= 1 or len(out) == 0:
        return out
    small: dict[str, np.ndarray] = {}
    for col in set(count_columns) | {c for basis in derived.values() for c in basis}:
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        small[col] = (values >= 1) & (values < min_cell)
    for col, basis in derived.items():
        hide = np.logical_or.reduce([small[c] for c in basis]) if basis else None
        if hide is not None and hide.any():
            column = out[col].astype("float64") if out[col].dtype != object else out[col]
            out[col] = column.mask(hide)
    for col in count_columns:
        if not small[col].any():
            continue
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        cells = [
            suppressed_label(min_cell) if s
            else (pd.NA if np.isnan(v) else (int(v) if float(v).is_integer() else v))
            for s, v in zip(small[col], values, strict=True)
        ]
        out[col] = pd.Series(cells, index=out.index, dtype=object)
    return out


def merge_rare_pathways(counts: pd.DataFrame, min_cell: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """Merge pathways with 1 .. min_cell-1 patients into one "other pathways" row.

    ``counts`` is :func:`analytics.pathways.pathway_counts` output
    (``pathway``, ``steps``, ``n_steps``, ``patients``, optional ``percent``).
    Rows with ``0 < patients < min_cell``, except the "no treatment" row
    (``steps == ()``), are replaced by one row ``pathway = "other pathways"``,
    ``steps = ("other pathways",)``, ``n_steps`` NA (mixed lengths; the
    column becomes ``Int64``), ``patients`` = their sum and ``percent`` = the
    sum of their percents; it is placed after the kept rows, which keep their
    order.  Nothing rare (or ``min_cell`` <= 1): an unchanged copy.
    """
    out = counts.copy()
    if min_cell <= 1 or len(out) == 0:
        return out
    untreated = np.array([len(s) == 0 for s in out["steps"]], dtype=bool)
    patients = out["patients"].to_numpy(dtype="int64")
    rare = (patients > 0) & (patients < min_cell) & ~untreated
    if not rare.any():
        return out
    kept = out[~rare]
    other = {
        "pathway": OTHER_PATHWAYS,
        "steps": (OTHER_PATHWAYS,),
        "n_steps": pd.NA,
        "patients": int(patients[rare].sum()),
    }
    if "percent" in out.columns:
        other["percent"] = float(out.loc[rare, "percent"].sum())
    row = pd.DataFrame({c: [other.get(c, pd.NA)] for c in out.columns})
    row["steps"] = pd.Series([other["steps"]], dtype=object)
    merged = pd.concat([kept, row], ignore_index=True)
    merged = merged.astype({
        "pathway": "string",
        "n_steps": "Int64",
        "patients": "int64",
        **({"percent": "float64"} if "percent" in out.columns else {}),
    })
    merged["steps"] = merged["steps"].astype(object)
    return merged.reset_index(drop=True)
