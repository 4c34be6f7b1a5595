"""Loader of TreatmentPatterns' logical test cases (tests/fixtures/treatment_patterns_cases.toml).

Each case of ``tests/testthat/test-pathwaysLogical.R`` (darwin-eu-dev/TreatmentPatterns at
commit 0719ea0811417b82aaedb3b9398eb36b79ca2b3a) that does not depend on the target cohort
window is stored there as data.  :func:`treatment_patterns_cases` turns each into PainPath
terms:

- ``events``: canonical events (``patient_id``, ``event_date``, ``technique``,
  ``end_date``), treatments A–E mapped to the techniques in canonical order and
  TreatmentPatterns' inclusive end dates as ``end_date``;
- ``parameters``: the keyword arguments of
  ``analytics.pathways.pathway_steps(events, mode="eras", **parameters)``;
- ``expected``: TreatmentPatterns' path as PainPath step labels, e.g.
  ``["physical_therapy+muscle_relaxant", "narcotic"]`` for ``"A+B-C"``.

:func:`cli_arguments` gives the same parameters as options of
``python -m analytics summary FILE --min-cell 0 …``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from analytics import schema

FIXTURE = Path(__file__).with_name("fixtures") / "treatment_patterns_cases.toml"

TREATMENT_TECHNIQUES: dict[str, str] = {
    "A": "physical_therapy",
    "B": "muscle_relaxant",
    "C": "narcotic",
    "D": "injection",
    "E": "surgery",
}
"""TreatmentPatterns' treatments A–E as PainPath techniques (canonical order)."""

PARAMETERS: tuple[str, ...] = (
    "era_gap_days",
    "min_era_days",
    "combination_window_days",
    "min_post_combination_days",
    "pathway_filter",
    "max_steps",
)
"""The ``pathway_steps`` keyword arguments every case sets."""


class TreatmentPatternsCase(NamedTuple):
    name: str
    events: pd.DataFrame
    parameters: dict[str, int | str]
    expected: list[str]


class ExcludedCase(NamedTuple):
    name: str
    reason: str


def _load() -> dict:
    with FIXTURE.open("rb") as handle:
        return tomllib.load(handle)


def step_labels(path: str) -> list[str]:
    """TreatmentPatterns' path (``"A+B-C"``) as PainPath step labels (canonical order)."""
    order = list(TREATMENT_TECHNIQUES)
    steps = []
    for step in path.split("-"):
        letters = sorted(step.split("+"), key=order.index)
        steps.append("+".join(TREATMENT_TECHNIQUES[letter] for letter in letters))
    return steps


def case_events(rows: list[list]) -> pd.DataFrame:
    """Canonical events of a case's ``[subject, treatment, start, inclusive end]`` rows."""
    return schema.conform(pd.DataFrame({
        "patient_id": [str(row[0]) for row in rows],
        "event_date": pd.to_datetime([row[2] for row in rows]),
        "technique": [TREATMENT_TECHNIQUES[row[1]] for row in rows],
        "end_date": pd.to_datetime([row[3] for row in rows]),
    }))


def treatment_patterns_cases() -> Iterator[TreatmentPatternsCase]:
    """Every stored case as (name, events, parameters, expected step labels)."""
    for case in _load()["case"]:
        yield TreatmentPatternsCase(
            name=case["name"],
            events=case_events(case["rows"]),
            parameters={key: case[key] for key in PARAMETERS},
            expected=step_labels(case["path"]),
        )


def excluded_cases() -> list[ExcludedCase]:
    """The cases of the TreatmentPatterns file left out, each with the reason."""
    return [ExcludedCase(c["name"], " ".join(c["reason"].split())) for c in _load()["excluded"]]


def cli_arguments(parameters: dict[str, int | str]) -> list[str]:
    """The case's parameters as ``python -m analytics summary`` options (mode eras)."""
    args = ["--min-cell", "0", "--pathway-mode", "eras"]
    for key in PARAMETERS:
        args += ["--" + key.replace("_", "-"), str(parameters[key])]
    return args
