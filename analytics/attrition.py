"""Attrition of a dataset from the rows read to the cohort (docs/definitions.md, 20).

One row per stage, each narrower than the one before: the rows read from the files; the
accepted events (rows that were not rejected, not relevant or duplicates); the events of
the population (back-pain patients and their date window, or every patient); the patients
with a pathway (at least one treatment step); the cohort's patients among them.  As
OHDSI users ask of TreatmentPatterns and ATLAS (the attrition of a pathway analysis).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analytics.schema import isin_ids

STAGES: dict[str, str] = {
    "rows_read": "Rows read from the files",
    "accepted": "Accepted events",
    "in_population": "In the population",
    "with_pathway": "With a treatment pathway",
    "in_cohort": "In the cohort",
}

ATTRITION_COLUMNS = {
    "stage": "string",
    "description": "string",
    "rows": "Int64",
    "patients": "Int64",
    "patients_left_out": "Int64",
}


def _patients(frame: pd.DataFrame) -> int:
    return int(frame["patient_id"].nunique()) if len(frame) else 0


def attrition(
    rows_read: int,
    accepted: pd.DataFrame,
    population_events: pd.DataFrame,
    steps: pd.DataFrame,
    cohort_patients: Sequence[str] | pd.Index | None = None,
) -> pd.DataFrame:
    """The attrition table (module docstring).

    Inputs: ``rows_read`` (``IngestResult.report.rows_read``: every data row of every
    file), ``accepted`` (the dataset's accepted events, ``IngestResult.events``),
    ``population_events`` (``Population.events``), ``steps`` (``pathway_steps`` of the
    population's events), ``cohort_patients`` (the cohort's patient ids; None = no cohort
    filter, the stage repeats the pathway stage).

    Columns: ``stage`` (:data:`STAGES`), ``description``, ``rows`` (rows read, accepted
    events, the population's events; NA for the patient stages), ``patients`` (distinct
    patients; NA for the rows read, which are not all patients' rows),
    ``patients_left_out`` (patients of the previous stage not in this one).  Counts are
    raw (small-cell suppression is the results layer's).
    """
    with_pathway = pd.Index(steps["patient_id"].astype("string").unique(), dtype="string") \
        if len(steps) else pd.Index([], dtype="string")
    if cohort_patients is None:
        in_cohort = len(with_pathway)
    else:
        cohort = pd.Index(cohort_patients, dtype="string")
        in_cohort = int(isin_ids(pd.Series(with_pathway, dtype="string"), cohort).sum())
    return attrition_table(rows_read, (len(accepted), _patients(accepted)),
                           (len(population_events), _patients(population_events)),
                           len(with_pathway), in_cohort)


def attrition_table(rows_read: int, accepted: tuple[int, int], population: tuple[int, int],
                    with_pathway: int, in_cohort: int) -> pd.DataFrame:
    """The attrition table of :func:`attrition` from its counts: ``accepted`` and
    ``population`` as (rows, patients), the patients ``with_pathway`` and those of them
    ``in_cohort``."""
    patients = [None, accepted[1], population[1], int(with_pathway), int(in_cohort)]
    rows = [int(rows_read), accepted[0], population[0], None, None]
    left = [None, None] + [patients[i - 1] - patients[i] for i in range(2, len(patients))]
    return pd.DataFrame({
        "stage": list(STAGES),
        "description": list(STAGES.values()),
        "rows": pd.array(rows, dtype="Int64"),
        "patients": pd.array(patients, dtype="Int64"),
        "patients_left_out": pd.array(left, dtype="Int64"),
    }).astype(ATTRITION_COLUMNS)


__all__ = ["STAGES", "attrition", "attrition_table"]
