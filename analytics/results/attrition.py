"""The attrition result: rows read → accepted → in the population → with a pathway → cohort.

Built as :func:`analytics.attrition.attrition` does, from the counts of the cohort's
population (:attr:`analytics.results.measures.PopulationMeasures.attrition_counts`, computed
once: the dataset's accepted events, the population's events and its patients with a pathway
step) and the cohort's patients among them.  Every count is
protected; the patients left out at a stage and the patients kept add up to the stage
before.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analytics.attrition import attrition_table
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.table import Column, Table, count, label, patients

COLUMNS: tuple[Column, ...] = (
    label("description", "Stage"), count("rows", "Rows / events"),
    patients("patients", "Patients"), patients("patients_left_out", "Patients left out"),
)


@dataclass(frozen=True)
class AttritionResult:
    """The protected attrition table (one row per stage, ``stage`` keys of
    :data:`analytics.attrition.STAGES`)."""

    table: Table


@dataclass(frozen=True)
class AttritionCounts:
    """The attrition table before protection."""

    frame: pd.DataFrame

    def protect(self, min_cell: int) -> AttritionResult:
        layout = Layout(min_cell)
        layout.add("table", "Attrition: from the rows read to the cohort", COLUMNS, self.frame)
        left = self.frame["patients_left_out"]
        for r in range(1, len(self.frame)):
            if not pd.isna(left.iloc[r]) and not pd.isna(self.frame["patients"].iloc[r - 1]):
                layout.sums([layout.cell("table", r, "patients"),
                             layout.cell("table", r, "patients_left_out")],
                            layout.cell("table", r - 1, "patients"))
        return AttritionResult(layout.protect()["table"])


def attrition_counts(m: CohortMeasures, rows_read: int | None = None) -> AttritionCounts:
    """The attrition of a cohort's dataset: ``rows_read`` (every data row of the uploaded
    files; None when unknown) → the population's accepted events → its events → its
    patients with a pathway (mode "first") → the cohort's patients among them."""
    accepted, population, with_pathway = m.population.attrition_counts
    selected = m.population_selected
    in_cohort = with_pathway if selected is None else with_pathway & selected
    frame = attrition_table(0 if rows_read is None else rows_read, accepted, population,
                            int(with_pathway.sum()), int(in_cohort.sum()))
    if rows_read is None:
        frame.loc[frame["stage"] == "rows_read", "rows"] = pd.NA
    return AttritionCounts(frame)


def build_attrition(m: CohortMeasures, rows_read: int | None = None,
                    min_cell: int = 11) -> AttritionResult:
    """The protected attrition of a cohort's dataset."""
    return attrition_counts(m, rows_read).protect(min_cell)
