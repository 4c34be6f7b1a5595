"""The HTML report's result: the views of a cohort for the monthly meeting.

The report is made of the same results as the pages (Overview, Pathways in
mode "first", Injections, Narcotic courses, Opioid safety, and the population line), so
every figure in it is hidden exactly as on its page.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.population import Population
from analytics.results.injections import InjectionsResult, build_injections
from analytics.results.measures import CohortMeasures
from analytics.results.narcotics import NarcoticsResult, build_narcotics
from analytics.results.overview import OverviewResult, build_overview
from analytics.results.pathways import PathwaysResult, build_pathways
from analytics.results.population import PopulationResult, build_population
from analytics.results.safety import SafetyResult, build_safety

REPORT_PERIOD_DAYS = 365


@dataclass(frozen=True)
class ReportResult:
    """The protected report of one cohort: its description, threshold, its views, the
    population the cohort was taken from (None: no population applied) and its opioid
    safety (None: not in this report)."""

    description: str
    min_cell: int
    overview: OverviewResult
    pathways: PathwaysResult
    injections: InjectionsResult
    narcotics: NarcoticsResult
    population: PopulationResult | None = None
    safety: SafetyResult | None = None


def build_report(m: CohortMeasures, description: str, min_cell: int = 11,
                 population: Population | None = None) -> ReportResult:
    """The report of a cohort (``description``: the cohort in words; ``population``: the
    population its events were taken from)."""
    return ReportResult(
        description=description, min_cell=min_cell,
        overview=build_overview(m, REPORT_PERIOD_DAYS, min_cell),
        pathways=build_pathways(m, "first", None, min_cell),
        injections=build_injections(m, min_cell),
        narcotics=build_narcotics(m, min_cell),
        population=None if population is None else build_population(population, min_cell),
        safety=build_safety(m, min_cell=min_cell),
    )
