"""The measure step of the results layer: a cohort's per-patient tables, computed once.

:class:`CohortMeasures` holds one cohort's events under one set of
:class:`Definitions` and hands out the patient-local measure tables (pathway
steps, narcotic courses and fills, injection sessions and intervals, payer-limit
windows, concordance, overlap) computed on first use and kept.  Result builders
(:mod:`analytics.results`) aggregate these tables; they never see the privacy
threshold's effect on a measure, because no measure depends on it.

Every table here is patient-local (one patient's rows need only that patient's
events), so the same object can later be built once per dataset version and a
cohort taken as a selection of its rows.  :class:`PopulationMeasures` does that for
the measures that read a patient's whole record — the opioid-safety measures (over the
full history, no lookback cut) and the outcome times by first step: they are computed
once for the population and a cohort's are the rows of its patients
(:attr:`CohortMeasures.safety`, :attr:`CohortMeasures.outcomes`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from analytics import injection_response, injections, narcotics, pathways
from analytics.cohorts import patient_attributes
from analytics.intervals import extract_date
from analytics.outcomes import OutcomeData, outcome_data
from analytics.safety import SafetyMeasures, SafetyParameters, safety_measures
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, isin_ids

T = TypeVar("T")

AGE_BAND_EDGES: tuple[int, ...] = (40, 55, 65, 75)
"""The edges of :data:`analytics.cohorts.AGE_BANDS` (the sidebar's bands), used for the
outcomes' age strata too, so an age stratum means the same bands everywhere."""

PATIENT_TABLES: tuple[str, ...] = ("steps", "eras", "sessions", "courses")
"""The per-patient tables :meth:`CohortMeasures.patient_table` hands out."""


@dataclass(frozen=True)
class Definitions:
    """Definition parameters of the measures (docs/definitions.md), with their defaults.

    ``era_gap_days``: technique eras; ``course_gap_days``: narcotic courses;
    ``max_steps``: steps kept per pathway (TreatmentPatterns' maxPathLength, both
    modes); pathway mode "eras" (TreatmentPatterns' computePathways):
    ``combination_window_days``, ``min_era_days``, ``min_post_combination_days`` and
    ``pathway_filter`` (``all`` | ``first`` | ``changes``).
    """

    era_gap_days: int = 30
    course_gap_days: int = 30
    combination_window_days: int = 30
    max_steps: int = 5
    min_era_days: int = 0
    min_post_combination_days: int = 0
    pathway_filter: str = "changes"


class CohortMeasures:
    """The per-patient measure tables of one cohort (computed lazily, kept, read-only).

    ``events``: the cohort's canonical events.  ``extract``: the dataset's extract
    date (default: the latest event date of ``events``).  ``attributes``: per-patient
    attributes over each patient's whole record (:func:`analytics.cohorts.
    patient_attributes` of the dataset), so that attribution does not change with the
    cohort; computed from ``events`` when not given.
    """

    def __init__(
        self,
        events: pd.DataFrame,
        definitions: Definitions = Definitions(),
        extract: pd.Timestamp | None = None,
        attributes: pd.DataFrame | None = None,
        population: PopulationMeasures | None = None,
    ) -> None:
        self.events = events
        self.definitions = definitions
        self.extract = extract_date(events, extract)
        self._attributes = attributes
        self._population = population
        self._memo: dict[tuple, object] = {}
        self._lock = threading.RLock()

    def _kept(self, key: tuple, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]  # type: ignore[return-value]

    # ------------------------------------------------------------------ patients

    @property
    def patient_codes(self) -> tuple[np.ndarray, pd.Index]:
        """``(codes, ids)``: for every event row the position of its patient in ``ids``, the
        distinct patient ids in order of appearance (for fast per-patient aggregation)."""
        def compute() -> tuple[np.ndarray, pd.Index]:
            codes, ids = pd.factorize(self.events["patient_id"])
            return codes.astype(np.int64), pd.Index(ids)
        return self._kept(("patient_codes",), compute)

    @property
    def patients(self) -> pd.Index:
        """Distinct patient ids of the cohort."""
        return self.patient_codes[1]

    @property
    def attributes(self) -> pd.DataFrame:
        """Per-patient attributes (index ``patient_id``) of the cohort's patients."""
        def compute() -> pd.DataFrame:
            if self._attributes is None:
                return patient_attributes(self.events)
            return self._attributes.loc[isin_ids(self._attributes.index, self.patients)]
        return self._kept(("attributes",), compute)

    def physician_of(self, patient_ids: pd.Series) -> pd.Series:
        """The attributed physician of each id (``"(unknown)"`` when none), as a Series
        aligned with ``patient_ids``."""
        provider = self.attributes["provider_id"]
        mapped = provider.reindex(pd.Index(patient_ids)).fillna("(unknown)")
        return pd.Series(mapped.to_numpy(dtype=object), index=patient_ids.index, dtype="string")

    # ------------------------------------------------------------------ pathways

    def steps(self, mode: str = "first",
              techniques: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Pathway steps (:func:`analytics.pathways.pathway_steps`) of the chosen techniques
        (default: the pathway techniques)."""
        techniques = tuple(DEFAULT_PATHWAY_TECHNIQUES) if techniques is None else techniques
        d = self.definitions
        return self._kept(("steps", mode, techniques), lambda: pathways.pathway_steps(
            self.events, mode=mode, techniques=techniques, era_gap_days=d.era_gap_days,
            combination_window_days=d.combination_window_days, max_steps=d.max_steps,
            extract=self.extract, min_era_days=d.min_era_days,
            min_post_combination_days=d.min_post_combination_days,
            pathway_filter=d.pathway_filter))

    def eras(self, techniques: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Technique eras (:func:`analytics.pathways.technique_eras`) of the chosen
        techniques (default: the pathway techniques), with ``era_gap_days`` and
        ``min_era_days``."""
        techniques = tuple(DEFAULT_PATHWAY_TECHNIQUES) if techniques is None else techniques
        d = self.definitions
        return self._kept(("eras", techniques), lambda: pathways.technique_eras(
            self.events, era_gap_days=d.era_gap_days, extract=self.extract,
            techniques=techniques, min_era_days=d.min_era_days))

    @property
    def concordance(self) -> pd.DataFrame:
        """Step-therapy concordance per patient."""
        return self._kept(("concordance",),
                          lambda: pathways.step_therapy_concordance(self.events))

    # ------------------------------------------------------------------ narcotics

    @property
    def courses(self) -> pd.DataFrame:
        """Narcotic courses (:func:`analytics.narcotics.narcotic_courses`)."""
        return self._kept(("courses",), lambda: narcotics.narcotic_courses(
            self.events, course_gap_days=self.definitions.course_gap_days,
            extract=self.extract))

    @property
    def fills(self) -> pd.DataFrame:
        """MME per narcotic fill (:func:`analytics.narcotics.fill_mme`), open orders
        covered through the extract date."""
        return self._kept(("fills",),
                          lambda: narcotics.fill_mme(self.events, extract=self.extract))

    @property
    def overlap(self) -> pd.DataFrame:
        """Narcotic + muscle-relaxant overlap days per patient."""
        return self._kept(("overlap",),
                          lambda: narcotics.relaxant_overlap(self.events, extract=self.extract))

    @property
    def active_by_month(self) -> pd.DataFrame:
        """Patients with a narcotic-covered day, per month."""
        return self._kept(("active_by_month",), lambda: narcotics.active_patients_by_month(
            self.events, extract=self.extract))

    # ------------------------------------------------------------------ injections

    @property
    def sessions(self) -> pd.DataFrame:
        """Injection sessions (:func:`analytics.injections.injection_sessions`)."""
        return self._kept(("sessions",), lambda: injections.injection_sessions(self.events))

    @property
    def sessions_per_patient(self) -> pd.DataFrame:
        return self._kept(("sessions_per_patient",),
                          lambda: injections.sessions_per_patient(self.sessions))

    @property
    def intervals(self) -> pd.DataFrame:
        """Repeat intervals between consecutive sessions."""
        return self._kept(("intervals",), lambda: injections.repeat_intervals(self.sessions))

    @property
    def limit_windows(self) -> pd.DataFrame:
        """365-day windows over a payer limit."""
        return self._kept(("limit_windows",), lambda: injections.limit_windows(self.events))

    @property
    def responses(self) -> pd.DataFrame:
        """The documented pain-score response of every session
        (:func:`analytics.injection_response.injection_responses`)."""
        return self._kept(("responses",), lambda: injection_response.injection_responses(
            self.events, self.sessions, extract=self.extract))

    @property
    def pain_change(self) -> pd.DataFrame:
        """Pain-score change around each session."""
        return self._kept(("pain_change",),
                          lambda: injections.pain_score_change(self.events, self.sessions))

    # ------------------------------------------------------------------ per-patient tables

    def patient_table(self, name: str, pathway_mode: str = "first") -> pd.DataFrame:
        """One of :data:`PATIENT_TABLES` as it is computed (patient level, nothing hidden):
        ``steps`` (pathway steps in ``pathway_mode``), ``eras`` (technique eras of the
        pathway techniques), ``sessions`` (injection sessions), ``courses`` (narcotic
        courses, with ``avg_mme_per_day`` and ``mme_estimated``)."""
        if name == "steps":
            return self.steps(pathway_mode)
        if name == "eras":
            return self.eras()
        if name == "sessions":
            return self.sessions
        if name == "courses":
            return self.courses
        raise ValueError(f"table must be one of {', '.join(PATIENT_TABLES)}, not {name!r}")

    # ------------------------------------------------------------------ whole records

    @property
    def population(self) -> PopulationMeasures:
        """The population measures this cohort selects from (given, or the cohort's own
        events taken as the population)."""
        def compute() -> PopulationMeasures:
            if self._population is not None:
                return self._population
            return PopulationMeasures(self.events, self.definitions, self.extract)
        return self._kept(("population",), compute)

    @property
    def safety(self) -> SafetyMeasures:
        """The opioid-safety measures of the cohort's patients (their full history): the
        population's rows of these patients (:func:`select_safety`)."""
        return self._kept(("safety",), lambda: select_safety(self.population.safety,
                                                             self.patients))

    @property
    def outcomes(self) -> OutcomeData:
        """Outcome times by first step of the cohort's patients: the population's rows of
        these patients (:func:`select_outcomes`)."""
        return self._kept(("outcomes",), lambda: select_outcomes(self.population,
                                                                 self.patients))

    # ------------------------------------------------------------------ periods

    def window(self, start: pd.Timestamp, end: pd.Timestamp) -> CohortMeasures:
        """The measures of the cohort's events dated ``start`` .. ``end`` (inclusive), with
        ``end`` as their extract date (a period of the Overview)."""
        def compute() -> CohortMeasures:
            dates = self.events["event_date"]
            inside = self.events.loc[(dates >= start) & (dates <= end)]
            return CohortMeasures(inside, self.definitions, end, self._attributes,
                                  self._population)
        return self._kept(("window", start, end), compute)


@dataclass(frozen=True)
class DatasetFacts:
    """What :class:`PopulationMeasures` of some whole patients of a larger dataset (a
    bucket of the Spark engine) is told about the dataset's population: the choices that
    are not patient-local.  ``data_start``: the earliest event date of the population's
    full history (None: no event); ``has_pharmacy``: whether a narcotic fill of it has a
    ``pharmacy_id``; ``has_index_dates``: whether a patient of the population has an index
    date (then patients without one are left out of the outcomes)."""

    data_start: pd.Timestamp | None
    has_pharmacy: bool
    has_index_dates: bool


class PopulationMeasures:
    """Measures of a population that read each patient's whole record, computed once and
    shared by every cohort of it (a cohort's are a selection of rows).

    ``events``: the population's events (:attr:`analytics.population.Population.events`);
    ``history``: the same patients' full history (``Population.full_history`` of the
    dataset's events: no lookback cut), default ``events``; ``accepted``: the dataset's
    accepted events before the population (for the attrition table), default ``history``;
    ``diagnoses``: the dataset's diagnoses (``kind`` ``opioid_use_disorder`` indicates
    naloxone); ``index_dates``: ``Population.index_date`` — when it holds any date,
    patients without one are left out of the outcomes (None or empty: nobody is).
    ``extract``: the dataset's extract date (default the latest event date of
    ``history``).  ``facts``: when these are some whole patients of a larger dataset, the
    dataset's :class:`DatasetFacts` (None: decided on these patients).
    """

    def __init__(
        self,
        events: pd.DataFrame,
        definitions: Definitions = Definitions(),
        extract: pd.Timestamp | None = None,
        *,
        history: pd.DataFrame | None = None,
        accepted: pd.DataFrame | None = None,
        diagnoses: pd.DataFrame | None = None,
        index_dates: pd.Series | None = None,
        facts: DatasetFacts | None = None,
    ) -> None:
        self.events = events
        self.history = events if history is None else history
        self.accepted = self.history if accepted is None else accepted
        self.definitions = definitions
        self.extract = extract_date(self.history, extract)
        self.diagnoses = diagnoses
        if index_dates is None:
            index_dates = pd.Series([], dtype="datetime64[s]",
                                    index=pd.Index([], dtype="string", name="patient_id"))
        known = len(index_dates) > 0 if facts is None else facts.has_index_dates
        self.index_dates = index_dates if known else None
        self.facts = facts
        self._memo: dict[tuple, object] = {}
        self._lock = threading.RLock()

    def _kept(self, key: tuple, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]  # type: ignore[return-value]

    @property
    def safety_parameters(self) -> SafetyParameters:
        """The safety measures' parameters: the defaults, with the courses' gap."""
        return SafetyParameters(course_gap_days=self.definitions.course_gap_days)

    @property
    def safety(self) -> SafetyMeasures:
        """Every opioid-safety measure over the population's full history
        (:func:`analytics.safety.safety_measures`)."""
        facts = self.facts
        start = None
        if facts is not None:  # the dataset's (no event at all: the extract date, as locally)
            start = facts.data_start if facts.data_start is not None else self.extract
        return self._kept(("safety",), lambda: safety_measures(
            self.history, self.diagnoses, self.extract, self.safety_parameters,
            data_start=start, has_pharmacy=None if facts is None else facts.has_pharmacy))

    @property
    def steps(self) -> pd.DataFrame:
        """Pathway steps, mode "first", of the population's events (time zero of the
        outcomes, the attrition's "with a pathway")."""
        return self._kept(("steps",), lambda: pathways.pathway_steps(
            self.events, mode="first", techniques=tuple(DEFAULT_PATHWAY_TECHNIQUES),
            era_gap_days=self.definitions.era_gap_days, extract=self.extract))

    @property
    def courses(self) -> pd.DataFrame:
        """Narcotic courses of the population's events."""
        return self._kept(("courses",), lambda: narcotics.narcotic_courses(
            self.events, course_gap_days=self.definitions.course_gap_days,
            extract=self.extract))

    @property
    def outcomes(self) -> OutcomeData:
        """Outcome times by first step of the population's patients
        (:func:`analytics.outcomes.outcome_data`)."""
        return self._kept(("outcomes",), lambda: outcome_data(
            self.events, self.index_dates, self.extract, steps=self.steps,
            courses=self.courses, course_gap_days=self.definitions.course_gap_days,
            age_edges=AGE_BAND_EDGES))

    @property
    def outcome_left_out(self) -> pd.DataFrame:
        """Patients with a first step left out of the outcomes: ``patient_id``, ``reason``
        (``no_index``: no index date; ``surgery_first``: a first step holding surgery),
        as :func:`analytics.outcomes.outcome_data` counts them."""
        def compute() -> pd.DataFrame:
            first = self.steps.loc[self.steps["step"].to_numpy() == 1]
            ids = first["patient_id"].astype("string").reset_index(drop=True)
            no_index = np.zeros(len(ids), dtype=bool)
            if self.index_dates is not None:
                known = pd.Series(self.index_dates).dropna().index
                no_index = ~isin_ids(ids, pd.Index(known, dtype="string"))
            padded = "+" + first["label"].astype("string").reset_index(drop=True) + "+"
            surgery = padded.str.contains("+surgery+", regex=False).to_numpy(
                dtype=bool, na_value=False) & ~no_index
            reason = np.where(no_index, "no_index", np.where(surgery, "surgery_first", ""))
            out = pd.DataFrame({"patient_id": ids, "reason": pd.Series(reason,
                                                                        dtype="string")})
            return out.loc[out["reason"] != ""].reset_index(drop=True)
        return self._kept(("outcome_left_out",), compute)


def select_safety(measures: SafetyMeasures, patients: pd.Index) -> SafetyMeasures:
    """The safety measures of ``patients`` only: the rows of their patient-windows,
    episodes and courses, with the physician credits renumbered.  Every measure is
    patient-local, so this equals the measures computed on these patients' events."""
    def keep(frame: pd.DataFrame) -> np.ndarray:
        return isin_ids(frame["patient_id"], patients)

    years, months, courses = (keep(measures.patient_years), keep(measures.patient_months),
                              keep(measures.naloxone_courses))
    if years.all() and months.all() and courses.all():
        return measures

    def rows(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
        return frame.loc[mask].reset_index(drop=True)

    def credits(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
        row = table["row"].to_numpy(dtype=np.int64)
        kept = mask[row]
        position = np.cumsum(mask) - 1
        out = table.loc[kept].reset_index(drop=True)
        out["row"] = position[row[kept]].astype(np.int64)
        return out

    return dataclasses.replace(
        measures,
        patient_years=rows(measures.patient_years, years),
        patient_months=rows(measures.patient_months, months),
        new_episodes=rows(measures.new_episodes, keep(measures.new_episodes)),
        naloxone_courses=rows(measures.naloxone_courses, courses),
        taper_courses=rows(measures.taper_courses, keep(measures.taper_courses)),
        year_credits=credits(measures.year_credits, years),
        month_credits=credits(measures.month_credits, months),
        course_credits=credits(measures.course_credits, courses),
    )


def select_outcomes(population: PopulationMeasures, patients: pd.Index) -> OutcomeData:
    """The outcome times of ``patients`` only (the population's rows of them), with the
    counts of patients analysed and left out among them."""
    data = population.outcomes
    table = data.table
    mine = isin_ids(table["patient_id"], patients)
    left = population.outcome_left_out
    reasons = left.loc[isin_ids(left["patient_id"], patients), "reason"]
    if mine.all() and len(reasons) == len(left):
        return data
    chosen = table.loc[mine].reset_index(drop=True)
    return OutcomeData(
        chosen, patients=int(chosen["patient_id"].nunique()),
        left_out_no_index=int((reasons == "no_index").sum()),
        left_out_surgery_first=int((reasons == "surgery_first").sum()),
        extract_date=data.extract_date)
