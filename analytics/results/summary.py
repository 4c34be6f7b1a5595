"""The command-line summary's result (the summary contract of docs/definitions.md, section 15).

Tables: ``totals`` (events, patients), ``techniques`` (patients and events per
technique), ``pathways`` (treated pathways, rare ones merged into "other
pathways", which is always last), ``injections`` and ``narcotics`` (one row
each), and ``population`` (:mod:`analytics.results.population`: the patients the
population keeps and leaves out) when the cohort came through one.

``events``, ``patients`` and ``techniques`` count the treatment rows of the cohort
(``schema.treatment_rows``: not the rows kept only for their drug class, such as a
benzodiazepine fill, which the safety measures read but which are no pain treatment).

Every count is protected — patients, events, fills, sessions, courses — with the
relations that hold between them: the technique events add up to the events, the
pathways and the untreated (not printed) to the patients, each technique's patients
are a part of all patients, the intervals are the sessions less the patients, the
narcotic block counts the same patients and rows as the narcotic technique, its
courses and fills split into parts, the patients are a part of the population's
patients kept, and the population's kept and left-out patients add up to the
dataset's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import pathways, schema
from analytics.narcotics import HIGH_DOSE_MME
from analytics.population import Population
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.outcomes import OutcomesResult
from analytics.results.population import (
    PopulationCounts,
    PopulationResult,
    population_counts,
    population_values,
)
from analytics.results.privacy import OTHER_PATHWAYS, merge_rare_pathways
from analytics.results.safety import SafetyResult
from analytics.results.strata import StrataResult
from analytics.results.table import Column, Table, count, derived, label, patients
from analytics.schema import TECHNIQUES

INJECTION_COLUMNS: tuple[Column, ...] = (
    patients("patients", "Patients with a session"),
    count("sessions", "Sessions"),
    patients("patients_repeated", "Patients with ≥ 2 sessions"),
    derived("median_interval_days", "Median interval (days)", ["intervals"]),
    patients("patients_over_limit", "Patients over a payer limit"),
    count("short_intervals", "Intervals under 14 days"),
    count("intervals", "Repeat intervals", shown=False),
)
NARCOTIC_COLUMNS: tuple[Column, ...] = (
    patients("patients", "Patients with a narcotic"),
    count("fills", "Fills (dispenses)"),
    count("events", "Narcotic rows"),
    count("courses", "Courses"),
    derived("median_course_days", "Median course (days)", ["courses"]),
    count("long_term_courses", "Long-term courses"),
    count("ongoing_courses", "Ongoing courses"),
    count("courses_ended_by_death", "Courses ended by death"),
    count("high_dose_courses", "High-dose courses"),
    count("courses_without_mme", "Courses without MME"),
    count("courses_mme_estimated", "Courses with an estimated MME"),
    count("fills_without_mme", "Fills without MME"),
    count("fills_mme_estimated", "Fills with an estimated MME"),
)
COURSE_PARTS = ("long_term_courses", "ongoing_courses", "courses_ended_by_death",
                "high_dose_courses", "courses_without_mme", "courses_mme_estimated")
FILL_PARTS = ("fills_without_mme", "fills_mme_estimated")


@dataclass(frozen=True)
class SummaryResult:
    """The protected summary: ``extract_date``, ``pathway_mode`` and the tables described
    in the module docstring (``pathways`` rows in print order: by patients, the hidden
    pathways, "other pathways" last); ``population`` None when the cohort came through
    no population."""

    extract_date: pd.Timestamp | None
    pathway_mode: str
    totals: Table
    techniques: Table
    pathways: Table
    injections: Table
    narcotics: Table
    population: PopulationResult | None = None


@dataclass(frozen=True)
class SummaryCounts:
    """The summary's aggregates before protection (no threshold)."""

    extract_date: pd.Timestamp | None
    pathway_mode: str
    totals: pd.DataFrame
    techniques: pd.DataFrame
    pathway_counts: pd.DataFrame
    injections: pd.DataFrame
    narcotics: pd.DataFrame
    population: PopulationCounts | None = None

    def protect(self, min_cell: int) -> SummaryResult:
        layout = Layout(min_cell)
        layout.add("totals", "Totals", (count("events", "Events"), patients("patients",
                                                                           "Patients")),
                   self.totals)
        events, everyone = layout.cell("totals", 0, "events"), layout.cell("totals", 0, "patients")
        if self.population is not None:
            kept = self.population.add_to(layout)
            if layout.value_at(kept) == layout.value_at(everyone):
                layout.same(everyone, kept)
            else:  # the kept patients whose only rows are kept for their drug class
                layout.part_of(everyone, kept)
        layout.add("techniques", "Techniques", (
            label("technique", "Technique"), patients("patients", "Patients"),
            count("events", "Events")), self.techniques)
        layout.column_total("techniques", "events", events)
        for r in range(len(self.techniques)):
            layout.part_of(layout.cell("techniques", r, "patients"), everyone)
        frame, untreated = _pathway_rows(self.pathway_counts, min_cell)
        layout.add("pathways", "Pathways", (
            label("steps", "Steps"), patients("patients", "Patients")), frame)
        layout.column_total("pathways", "patients", everyone, rest=untreated)
        _add_block(layout, "injections", INJECTION_COLUMNS, self.injections)
        inj = {c.name: layout.cell("injections", 0, c.name) for c in INJECTION_COLUMNS
               if c.is_count}
        layout.part_of(inj["patients_repeated"], inj["patients"])
        layout.part_of(inj["patients_over_limit"], inj["patients"])
        layout.sums([inj["intervals"], inj["patients"]], inj["sessions"])
        layout.part_of(inj["short_intervals"], inj["intervals"])
        _add_block(layout, "narcotics", NARCOTIC_COLUMNS, self.narcotics)
        narc = {c.name: layout.cell("narcotics", 0, c.name) for c in NARCOTIC_COLUMNS
                if c.is_count}
        for part in COURSE_PARTS:
            layout.part_of(narc[part], narc["courses"])
        for part in FILL_PARTS:
            layout.part_of(narc[part], narc["fills"])
        layout.part_of(narc["events"], narc["fills"])  # a row stands for >= 1 dispense
        technique = {t: r for r, t in enumerate(self.techniques["technique"])}
        for cell, (name, column) in ((inj["patients"], ("injection", "patients")),
                                     (narc["patients"], ("narcotic", "patients")),
                                     (narc["events"], ("narcotic", "events")),
                                     (narc["fills"], ("narcotic", "events"))):
            other = layout.cell("techniques", technique[name], column)
            if layout.value_at(cell) == layout.value_at(other):  # they count the same rows
                layout.same(cell, other)
        tables = layout.protect()
        population = None if self.population is None else self.population.result(tables)
        tables.pop("population", None)
        return SummaryResult(self.extract_date, self.pathway_mode, **_ordered(tables),
                             population=population)


def _add_block(layout: Layout, name: str, columns: tuple[Column, ...],
               frame: pd.DataFrame) -> None:
    layout.add(name, name.capitalize(), columns, frame)


def _pathway_rows(counts: pd.DataFrame, min_cell: int) -> tuple[pd.DataFrame, int]:
    """Treated pathways with rare ones merged, and the untreated patients."""
    untreated = int(counts.loc[counts["n_steps"] == 0, "patients"].sum())
    merged = merge_rare_pathways(counts.loc[counts["n_steps"] > 0], min_cell)
    frame = pd.DataFrame({"steps": pd.Series([tuple(s) for s in merged["steps"]], dtype=object),
                          "patients": merged["patients"].to_numpy(dtype="int64")})
    return frame, untreated


def _ordered(tables: dict[str, Table]) -> dict[str, Table]:
    """Pathways in print order: shown by patients then steps, hidden by steps, "other
    pathways" last (a hidden pathway's place must not tell its size)."""
    table = tables["pathways"]
    steps = list(table.values["steps"])
    other = np.array([s == (OTHER_PATHWAYS,) for s in steps])
    hidden = table.hidden("patients")
    size = np.where(hidden | other, 0, -table.values["patients"].to_numpy(dtype="float64"))
    rank = np.where(other, 2, np.where(hidden, 1, 0))
    text = np.array([" > ".join(s) for s in steps], dtype=object)
    order = np.lexsort((text, size, rank))
    tables["pathways"] = Table(table.name, table.title, table.columns,
                               table.values.iloc[order].reset_index(drop=True),
                               table.marks.iloc[order].reset_index(drop=True), table.min_cell)
    return tables


@dataclass(frozen=True)
class SummaryParts:
    """A cohort's summary before aggregation: what adds up over disjoint groups of the
    cohort's patients (the whole cohort, or one bucket of the Spark engine).

    - ``counts``: every count of the summary by name (``events``, ``patients``,
      ``techniques.<technique>.patients`` / ``.events``, ``injections.<column>``,
      ``narcotics.<column>``, and ``population.<count>`` of
      :func:`analytics.results.population.population_values` when the cohort came through
      a population);
    - ``pathways``: ``pathway``, ``n_steps``, ``patients`` — patients per pathway string
      (:func:`analytics.pathways.pathway_counts`, the no-treatment row included);
    - ``interval_days`` and ``course_days``: every repeat interval and every course
      length, the values the medians are taken of.
    """

    counts: dict[str, int]
    pathways: pd.DataFrame
    interval_days: np.ndarray
    course_days: np.ndarray


INJECTION_COUNTS = tuple(c.name for c in INJECTION_COLUMNS if c.is_count)
NARCOTIC_COUNTS = tuple(c.name for c in NARCOTIC_COLUMNS if c.is_count)
POPULATION_PREFIX = "population."


def summary_parts(m: CohortMeasures, pathway_mode: str = "first",
                  population: Population | None = None) -> SummaryParts:
    """The :class:`SummaryParts` of a cohort (pathways in ``pathway_mode``)."""
    treatment = schema.treatment_rows(m.events)
    events = m.events if treatment.all() else m.events.loc[treatment]
    treated = pd.Index(pd.unique(events["patient_id"]))
    by_technique = events.groupby("technique", observed=False)
    patients_per = by_technique["patient_id"].nunique()
    events_per = by_technique.size()
    counts: dict[str, int] = {"events": len(events), "patients": len(treated)}
    for t in TECHNIQUES:
        counts[f"techniques.{t}.patients"] = int(patients_per.get(t, 0))
        counts[f"techniques.{t}.events"] = int(events_per.get(t, 0))
    paths = pathways.pathway_counts(m.steps(pathway_mode), treated)
    per_patient = m.sessions_per_patient
    intervals = m.intervals
    windows = m.limit_windows
    injections = {
        "patients": len(per_patient),
        "sessions": len(m.sessions),
        "patients_repeated": int((per_patient["sessions"] >= 2).sum()),
        "patients_over_limit": int(windows["patient_id"].nunique()) if len(windows) else 0,
        "short_intervals": int(intervals["short_interval"].sum()) if len(intervals) else 0,
        "intervals": len(intervals),
    }
    courses = m.courses
    narcotics = {
        "patients": int(courses["patient_id"].nunique()),
        "fills": int(courses["fills"].sum()),
        "events": int(courses["events"].sum()),
        "courses": len(courses),
        "long_term_courses": int(courses["long_term"].sum()),
        "ongoing_courses": int(courses["ongoing"].sum()),
        "courses_ended_by_death": int((courses["ended_by"] == "death").sum()),
        "high_dose_courses": int((courses["avg_mme_per_day"] >= HIGH_DOSE_MME).sum()),
        "courses_without_mme": int(courses["avg_mme_per_day"].isna().sum()),
        "courses_mme_estimated": int(courses["mme_estimated"].sum()),
        # in dispenses, of the fills without an MME / with an estimated one
        # (mme_status not in narcotics.STATUSES_WITH_MME / "estimated")
        "fills_without_mme": int(courses["fills_without_mme"].sum()),
        "fills_mme_estimated": int(courses["fills_mme_estimated"].sum()),
    }
    counts.update({f"injections.{k}": v for k, v in injections.items()})
    counts.update({f"narcotics.{k}": v for k, v in narcotics.items()})
    if population is not None:
        counts.update({POPULATION_PREFIX + k: v for k, v in population_values(population).items()})
    return SummaryParts(counts, paths[["pathway", "n_steps", "patients"]],
                        intervals["interval_days"].to_numpy(dtype=np.int64),
                        courses["duration_days"].to_numpy(dtype=np.int64))


def median_of(values: np.ndarray) -> float:
    """The median of ``values`` (NaN when there are none)."""
    return float(np.median(values)) if len(values) else np.nan


def summary_counts_from(
    counts: Mapping[str, int], paths: pd.DataFrame, median_interval_days: float,
    median_course_days: float, extract: pd.Timestamp | None, pathway_mode: str,
    population: PopulationCounts | None = None,
) -> SummaryCounts:
    """The summary's aggregates from the :class:`SummaryParts` of the whole cohort, or
    their sums over disjoint groups of its patients (``counts``; ``paths``: patients per
    pathway string) and the medians of all of their values — what both engines give."""
    techniques = pd.DataFrame({
        "technique": list(TECHNIQUES),
        "patients": [int(counts[f"techniques.{t}.patients"]) for t in TECHNIQUES],
        "events": [int(counts[f"techniques.{t}.events"]) for t in TECHNIQUES],
    })
    injections = {k: int(counts[f"injections.{k}"]) for k in INJECTION_COUNTS}
    injections["median_interval_days"] = median_interval_days
    narcotics = {k: int(counts[f"narcotics.{k}"]) for k in NARCOTIC_COUNTS}
    narcotics["median_course_days"] = median_course_days
    totals = pd.DataFrame({"events": [int(counts["events"])],
                           "patients": [int(counts["patients"])]})
    return SummaryCounts(
        extract, pathway_mode, totals, techniques,
        pathways.pathway_counts_from(paths, int(counts["patients"])),
        pd.DataFrame([{c.name: injections[c.name] for c in INJECTION_COLUMNS}]),
        pd.DataFrame([{c.name: narcotics[c.name] for c in NARCOTIC_COLUMNS}]), population)


def summary_counts(m: CohortMeasures, pathway_mode: str = "first",
                   population: Population | None = None) -> SummaryCounts:
    """The summary's aggregates of a cohort (pathways in ``pathway_mode``); ``population``:
    the population the cohort's events came through, if any."""
    parts = summary_parts(m, pathway_mode, population)
    return summary_counts_from(parts.counts, parts.pathways, median_of(parts.interval_days),
                               median_of(parts.course_days), m.extract, pathway_mode,
                               None if population is None else population_counts(population))


def build_summary(m: CohortMeasures, pathway_mode: str = "first", min_cell: int = 11,
                  population: Population | None = None) -> SummaryResult:
    """The protected summary of a cohort (``population``: the population its events came
    through, printed with the summary)."""
    return summary_counts(m, pathway_mode, population).protect(min_cell)


@dataclass(frozen=True)
class SummaryViews:
    """What ``python -m analytics summary`` prints, protected, from either engine: the
    ``summary``; the opioid-``safety`` result and the ``outcomes`` by first step (None
    where the engine does not compute them); per ``--strata`` name, the pathways by that
    stratum and the outcomes grouped the same way."""

    summary: SummaryResult
    safety: SafetyResult | None = None
    outcomes: OutcomesResult | None = None
    strata: dict[str, tuple[StrataResult, OutcomesResult]] = field(default_factory=dict)
