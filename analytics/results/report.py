"""The monthly report's result: the views of a cohort for the monthly meeting.

The report is made of the same results as the pages (Overview over the Overview's period,
Pathways in mode "first", Injections, Narcotic courses, Opioid safety, and the population
line), so every figure in it is hidden exactly as on its page.  It also names what a reader
needs to read it: the dataset, the cohort, the period, the definitions and the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analytics import vocab
from analytics.population import Population
from analytics.results.injections import InjectionsResult, build_injections
from analytics.results.measures import CohortMeasures, Definitions
from analytics.results.narcotics import HIGH_DOSE_MME, NarcoticsResult, build_narcotics
from analytics.results.overview import OverviewResult, build_overview
from analytics.results.pathways import PathwaysResult, build_pathways
from analytics.results.population import PopulationResult, build_population
from analytics.results.safety import SafetyResult, build_safety
from analytics.results.table import plural

REPORT_PERIOD_DAYS = 365
"""The Overview's default period (the report takes the period the Overview shows)."""

DEFINITION_TABLES: dict[str, str] = {
    "cpt_codes.csv": "CPT codes", "drug_classes.csv": "drug classes",
    "mme_factors.csv": "MME factors", "injection_limits.csv": "payer limits",
    "spinal_pain_codes.csv": "back-pain codes",
}
"""The data tables behind the definitions whose versions the report names."""


@dataclass(frozen=True)
class ReportResult:
    """The protected report of one cohort: its description, threshold, its views, the
    population the cohort was taken from (None: no population applied), its opioid
    safety (None: not in this report), the dataset's name, the definition parameters and
    the first and last event dates of the cohort (None: no event)."""

    description: str
    min_cell: int
    overview: OverviewResult
    pathways: PathwaysResult
    injections: InjectionsResult
    narcotics: NarcoticsResult
    population: PopulationResult | None = None
    safety: SafetyResult | None = None
    dataset: str = ""
    definitions: Definitions = field(default_factory=Definitions)
    first_date: pd.Timestamp | None = None
    last_date: pd.Timestamp | None = None

    def period_text(self) -> str:
        """The Overview's period in words: "the last 365 days, 2024-07-02 – 2025-07-01
        (ending at the extract date), compared with the 365 days before (2023-07-03 –
        2024-07-01)"."""
        return period_text(self.overview)

    def window_text(self) -> str:
        """The cohort's date window: its first and last event dates."""
        if self.first_date is None or self.last_date is None:
            return "no event"
        return f"{_date(self.first_date)} – {_date(self.last_date)}"

    def definitions_text(self) -> str:
        """The definition parameters and the versions of the tables behind them."""
        return definitions_text(self.definitions)


def _date(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def period_text(overview: OverviewResult) -> str:
    """The period of an Overview result in words (see :meth:`ReportResult.period_text`)."""
    days = overview.period_days
    if overview.current_start is None or overview.current_end is None:
        return f"the last {days} days (no extract date)"
    previous_end = overview.current_start - pd.Timedelta(days=1)
    return (f"the last {days} days, {_date(overview.current_start)} – "
            f"{_date(overview.current_end)} (ending at the extract date), compared with the "
            f"{days} days before ({_date(overview.previous_start)} – {_date(previous_end)})")


def definitions_text(d: Definitions) -> str:
    """The definition parameters (docs/definitions.md) and the table versions, in words."""
    tables = ", ".join(f"{label} {vocab.table_version(name)}"
                       for name, label in DEFINITION_TABLES.items())
    return (f"narcotic course gap {plural(d.course_gap_days, 'day')}, long-term ≥ 90 days, "
            f"high dose ≥ {HIGH_DOSE_MME:g} MME/day; era gap {plural(d.era_gap_days, 'day')}; "
            f"pathways by first use, at most {plural(d.max_steps, 'step')}; tables: {tables}")


def build_report(m: CohortMeasures, description: str, min_cell: int = 11,
                 population: Population | None = None, *,
                 period_days: int = REPORT_PERIOD_DAYS, dataset: str = "") -> ReportResult:
    """The report of a cohort (``description``: the cohort in words; ``population``: the
    population its events were taken from; ``period_days``: the Overview's period)."""
    dates = m.events["event_date"]
    return ReportResult(
        description=description, min_cell=min_cell,
        overview=build_overview(m, period_days, min_cell),
        pathways=build_pathways(m, "first", None, min_cell),
        injections=build_injections(m, min_cell),
        narcotics=build_narcotics(m, min_cell),
        population=None if population is None else build_population(population, min_cell),
        safety=build_safety(m, min_cell=min_cell),
        dataset=dataset, definitions=m.definitions,
        first_date=dates.min() if len(dates) else None,
        last_date=dates.max() if len(dates) else None,
    )
