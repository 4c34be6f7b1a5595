"""The population line of every view: which population is shown and how many of the
dataset's patients it leaves out, and why (docs/definitions.md, section 2).

The counts come from :class:`analytics.population.Population` and are protected like
every count of a result: the patients kept and left out add up to the dataset's
patients, and the left-out patients by reason add up to those left out, so a small
count is hidden together with whatever would give it away.  The note is written from
the protected cells (the population's rule, then its counts as shown), never from the
raw counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from analytics.population import LEFT_OUT_REASONS, Population
from analytics.results.layout import Layout
from analytics.results.table import Table, label, patients

TABLE = "population"
REASON_COLUMNS: dict[str, str] = {reason: f"left_out_{reason}" for reason in LEFT_OUT_REASONS}
COLUMNS = (
    label("name", "Population"),
    patients("patients", "Patients in the dataset"),
    patients("patients_kept", "Patients kept"),
    patients("patients_left_out", "Patients left out"),
    *(patients(REASON_COLUMNS[reason], f"Left out: {words}")
      for reason, words in LEFT_OUT_REASONS.items()),
)


@dataclass(frozen=True)
class PopulationResult:
    """The protected population line: ``population`` (``back_pain`` | ``all``), ``rule``
    (how the population was chosen, no count) and ``table`` (one row: ``name``,
    ``patients`` of the dataset, ``patients_kept``, ``patients_left_out`` and the left-out
    patients per reason of :data:`analytics.population.LEFT_OUT_REASONS`)."""

    population: str
    rule: str
    table: Table

    @property
    def name(self) -> str:
        return str(self.table.values["name"].iloc[0])

    def left_out_note(self) -> str:
        """How many patients the population leaves out and why, as shown (empty when it
        leaves out nobody)."""
        t = self.table
        if not t.hidden("patients_left_out")[0] and t.values["patients_left_out"].iloc[0] == 0:
            return ""
        reasons = [f"{t.text(0, column)} {LEFT_OUT_REASONS[reason]}"
                   for reason, column in REASON_COLUMNS.items()
                   if t.hidden(column)[0] or t.values[column].iloc[0] > 0]
        text = f"Patients of the dataset left out: {t.text(0, 'patients_left_out')}"
        return f"{text} ({', '.join(reasons)})." if reasons else f"{text}."

    def note(self) -> str:
        """The population's rule and what it leaves out (the CLI's ``note``)."""
        return " ".join(part for part in (self.rule, self.left_out_note()) if part)

    def line(self) -> str:
        """One line for a page or the report: name, patients kept of the dataset's, those
        left out and why, and the rule."""
        t = self.table
        kept = f"{t.text(0, 'patients_kept')} of {t.text(0, 'patients')} patients"
        left_out = self.left_out_note() or "No patient of the dataset left out."
        return f"Population: {self.name} ({kept}). {left_out} {self.rule}"

    def summary(self) -> dict[str, object]:
        """The CLI's ``population`` object: name, patients kept, patients left out (each a
        number, ``"<N"`` or ``"hidden"``), note."""
        t = self.table
        return {"name": self.name, "patients_kept": t.cell(0, "patients_kept"),
                "patients_left_out": t.cell(0, "patients_left_out"), "note": self.note()}


@dataclass(frozen=True)
class PopulationCounts:
    """The population line before protection (no threshold)."""

    population: str
    rule: str
    frame: pd.DataFrame

    def add_to(self, layout: Layout) -> int:
        """Add the table ``population`` and its relations to ``layout``; returns the cell of
        the patients kept (for relations with the view's own counts)."""
        layout.add(TABLE, "Population", COLUMNS, self.frame)
        kept = layout.cell(TABLE, 0, "patients_kept")
        left_out = layout.cell(TABLE, 0, "patients_left_out")
        layout.sums([kept, left_out], layout.cell(TABLE, 0, "patients"))
        layout.sums([layout.cell(TABLE, 0, c) for c in REASON_COLUMNS.values()], left_out)
        return kept

    def result(self, tables: dict[str, Table]) -> PopulationResult:
        """The result from the protected tables of a layout it was added to."""
        return PopulationResult(self.population, self.rule, tables[TABLE])

    def protect(self, min_cell: int) -> PopulationResult:
        layout = Layout(min_cell)
        self.add_to(layout)
        return self.result(layout.protect())


def population_values(population: Population) -> dict[str, int]:
    """The population line's counts of an applied population by name — ``patients_kept``,
    ``patients_left_out`` and a ``left_out_<reason>`` per reason of
    :data:`analytics.population.LEFT_OUT_REASONS` — which add up over disjoint groups of
    the dataset's patients (the Spark engine's buckets)."""
    reasons = population.left_out_by_reason
    return {"patients_kept": int(population.patients_kept),
            "patients_left_out": int(population.patients_left_out),
            **{column: int(reasons.get(reason, 0)) for reason, column in REASON_COLUMNS.items()}}


def population_counts_from(population: Population, values: Mapping[str, int]) -> PopulationCounts:
    """The population line with the name, choice and rule of ``population`` and the counts
    ``values`` (:func:`population_values`, or their sums over groups of patients)."""
    row = {"name": population.name,
           "patients": int(values["patients_kept"]) + int(values["patients_left_out"]),
           "patients_kept": int(values["patients_kept"]),
           "patients_left_out": int(values["patients_left_out"]),
           **{column: int(values.get(column, 0)) for column in REASON_COLUMNS.values()}}
    frame = pd.DataFrame([row]).astype({c.name: "int64" for c in COLUMNS if c.is_count})
    return PopulationCounts(population.population, population.rule, frame)


def population_counts(population: Population) -> PopulationCounts:
    """The population line's counts of an applied population."""
    return population_counts_from(population, population_values(population))


def build_population(population: Population, min_cell: int = 11) -> PopulationResult:
    """The protected population line of an applied population."""
    return population_counts(population).protect(min_cell)
