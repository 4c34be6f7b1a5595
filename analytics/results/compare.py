"""The Compare result: two cohorts side by side, on the key measures and the pathways.

Besides small cells and complementary suppression, the difference rule applies:
where a count of cohort B differs from the same count of cohort A by 1 to
threshold − 1, the difference is a small count (the patients in one cohort and
not the other, when one contains the other), so it is protected like one and
B's count is hidden (A is the sidebar cohort, shown on every other page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import pathways
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.overview import KEY_COLUMNS, KeyMeasures, add_key_measures, key_measures
from analytics.results.pathways import pathway_label
from analytics.results.privacy import OTHER_PATHWAYS
from analytics.results.table import Table, derived, label, patients

COHORTS = ("A", "B")


@dataclass(frozen=True)
class CompareResult:
    """The protected comparison of cohort A (the sidebar's) with cohort B.

    ``measures``: key measures, rows A and B.  ``pathways``: one row per pathway
    (mode "first") listed when either cohort has at least the threshold of patients
    on it (the others merged into "other pathways"), with each cohort's patients and
    percent of its patients; each column adds up to its cohort with the untreated.
    """

    measures: Table
    pathways: Table


@dataclass(frozen=True)
class CompareCounts:
    """The comparison's aggregates before protection (no threshold)."""

    a: KeyMeasures
    b: KeyMeasures
    counts_a: pd.DataFrame
    counts_b: pd.DataFrame

    def protect(self, min_cell: int) -> CompareResult:
        layout = Layout(min_cell)
        add_key_measures(layout, "measures", "Key measures",
                         [("Cohort A", self.a), ("Cohort B", self.b)],
                         "Cohort")
        for column in KEY_COLUMNS:
            if column.is_count:
                a, b = (layout.cell("measures", row, column.name) for row in (0, 1))
                layout.difference(a, b)
                layout.shared(a)  # cohort A's counts are on the other pages too
        frame, untreated = side_by_side(self.counts_a, self.counts_b, min_cell)
        layout.add("pathways", "Pathway distributions (first use)", (
            label("pathway", "Pathway"),
            patients("patients_a", "Patients in A"),
            patients("patients_b", "Patients in B"),
            derived("percent_a", "% of A", ["patients_a", "measures.patients"]),
            derived("percent_b", "% of B", ["patients_b"]),
        ), frame)
        for r in range(len(frame)):
            layout.depends(("pathways", r, "percent_b"), [("measures", 1, "patients")])
        for row, column in enumerate(("patients_a", "patients_b")):
            layout.column_total("pathways", column, layout.cell("measures", row, "patients"),
                                rest=untreated[row])
        for r in range(len(frame)):
            a, b = (layout.cell("pathways", r, column) for column in ("patients_a", "patients_b"))
            layout.difference(a, b)
            layout.shared(a)
        tables = layout.protect()
        return CompareResult(measures=tables["measures"], pathways=tables["pathways"])


def side_by_side(counts_a: pd.DataFrame, counts_b: pd.DataFrame,
                 min_cell: int) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Treated pathways of both cohorts, one row per pathway with ≥ ``min_cell`` patients in
    either (the rest summed into "other pathways", last), sorted by A + B; and the
    untreated of each cohort."""
    treated = []
    for name, counts in zip(COHORTS, (counts_a, counts_b), strict=True):
        part = counts.loc[counts["n_steps"] > 0, ["steps", "patients"]]
        treated.append(part.assign(cohort=name, key=[tuple(s) for s in part["steps"]]))
    both = pd.concat(treated, ignore_index=True)
    wide = (both.pivot_table(index="key", columns="cohort", values="patients", aggfunc="sum",
                             fill_value=0)
            .reindex(columns=list(COHORTS), fill_value=0))
    untreated = tuple(int(c.loc[c["n_steps"] == 0, "patients"].sum())
                      for c in (counts_a, counts_b))
    if wide.empty:
        empty = pd.DataFrame({"pathway": pd.Series(dtype="string"),
                              "patients_a": pd.Series(dtype="int64"),
                              "patients_b": pd.Series(dtype="int64"),
                              "percent_a": pd.Series(dtype="float64"),
                              "percent_b": pd.Series(dtype="float64")})
        return empty, untreated
    keep = wide.max(axis=1) >= min_cell if min_cell > 1 else pd.Series(True, index=wide.index)
    listed = wide.loc[keep]
    listed = listed.assign(order=listed.sum(axis=1)).sort_values("order", ascending=False,
                                                                 kind="stable")
    rows = [(pathway_label(key), int(r["A"]), int(r["B"])) for key, r in listed.iterrows()]
    if (~keep).any():
        rest = wide.loc[~keep].sum()
        rows.append((pathway_label((OTHER_PATHWAYS,)), int(rest["A"]), int(rest["B"])))
    frame = pd.DataFrame(rows, columns=["pathway", "patients_a", "patients_b"])
    totals = [counts_a["patients"].sum(), counts_b["patients"].sum()]
    for column, total in zip(("a", "b"), totals, strict=True):
        frame[f"percent_{column}"] = (100.0 * frame[f"patients_{column}"] / total
                                      if total else np.nan)
    return frame.astype({"pathway": "string", "patients_a": "int64", "patients_b": "int64",
                         "percent_a": "float64", "percent_b": "float64"}), untreated


def compare_counts(a: CohortMeasures, b: CohortMeasures) -> CompareCounts:
    """The comparison's aggregates of two cohorts (pathways in mode "first")."""
    return CompareCounts(
        a=key_measures(a), b=key_measures(b),
        counts_a=pathways.pathway_counts(a.steps("first"), a.patients),
        counts_b=pathways.pathway_counts(b.steps("first"), b.patients))


def build_compare(a: CohortMeasures, b: CohortMeasures, min_cell: int = 11) -> CompareResult:
    """The protected comparison of cohorts ``a`` and ``b``."""
    return compare_counts(a, b).protect(min_cell)
