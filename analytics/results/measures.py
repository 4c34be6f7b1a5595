"""The measure step of the results layer: per-patient tables computed once per population,
a cohort a selection of their rows.

:class:`PopulationMeasures` holds a population's events (one dataset version, population
and lookback) under one set of :class:`Definitions` and one extract date, and hands out
the patient-local measure tables — pathway steps, narcotic courses and fills, injection
sessions and intervals, payer-limit windows, concordance, overlap, each patient's first
and last event, patients per month and technique, the cohort criteria — each computed on
first use and kept.  Every table is patient-local (one patient's rows need only that
patient's events), so a cohort's tables are the rows of its patients:
:meth:`PopulationMeasures.cohort` selects them (:class:`CohortMeasures`), and choosing a
physician, a sex or any other criterion computes nothing again.  Only a date window
changes which events count (docs/definitions.md section 4): the tables of a window are
those of the population's events inside it (:meth:`PopulationMeasures.window`, the last
:data:`WINDOWS_KEPT` windows kept), and so are the Overview's periods.

Some measures read each patient's whole record rather than the population's (or a
window's) events: the opioid-safety measures (over the full history, no lookback cut),
the outcome times by first step (from the population's first step), and the attrition
(the dataset's accepted events).  The population computes them once
(:attr:`PopulationMeasures.safety`, :attr:`PopulationMeasures.outcomes`); a cohort's are
the rows of its patients (:attr:`CohortMeasures.safety`, :attr:`CohortMeasures.outcomes`),
its date window only choosing the patients (and, on the Safety page, the years shown).

Result builders (:mod:`analytics.results`) aggregate a :class:`CohortMeasures`' tables;
they never see the privacy threshold's effect on a measure, because no measure depends on
it.  ``CohortMeasures(events, …)`` still computes a cohort's tables from its own events
(the CLI, the tests' fresh computation): it is the selection of everyone from a
population of those events.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import pandas as pd

from analytics import injection_response, injections, narcotics, pathways
from analytics.cohorts import Cohort, CohortCriteria, cohort_criteria, patient_attributes
from analytics.intervals import day_numbers, extract_date
from analytics.outcomes import OutcomeData, outcome_data
from analytics.safety import SafetyMeasures, SafetyParameters, safety_measures
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUES, id_positions, isin_ids

T = TypeVar("T")

AGE_BAND_EDGES: tuple[int, ...] = (40, 55, 65, 75)
"""The edges of :data:`analytics.cohorts.AGE_BANDS` (the sidebar's bands), used for the
outcomes' age strata too, so an age stratum means the same bands everywhere."""

SAFETY_TABLES: tuple[str, ...] = ("patient_years", "patient_months", "new_episodes",
                                  "naloxone_courses", "taper_courses")
"""The per-patient tables of :class:`analytics.safety.SafetyMeasures` (a cohort's are the
rows of its patients; the credits follow the rows they credit)."""
_CREDITS = {"year_credits": "patient_years", "month_credits": "patient_months",
            "course_credits": "naloxone_courses"}

PATIENT_TABLES: tuple[str, ...] = ("steps", "eras", "sessions", "courses")
"""The per-patient tables :meth:`CohortMeasures.patient_table` hands out."""

UNKNOWN_PHYSICIAN = "(unknown)"
"""The physician of a patient without one."""

WINDOWS_KEPT = 6
"""Date windows (a cohort's, the Overview's periods) whose tables a population keeps."""


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


def patient_spans(events: pd.DataFrame) -> pd.DataFrame:
    """One row per patient (sorted ids): ``patient_id``, ``first_day`` / ``last_day`` (day
    numbers of the first and last event), ``events`` (rows), ``narcotic`` (a narcotic
    event)."""
    ids = _sorted_ids(events)
    codes = id_positions(events["patient_id"], ids)
    n = len(ids)
    days = day_numbers(events["event_date"])
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, codes, days)
    np.maximum.at(last, codes, days)
    narcotic = np.zeros(n, dtype=bool)
    narcotic[codes[(events["technique"] == "narcotic").to_numpy(dtype=bool, na_value=False)]] = (
        True)
    return pd.DataFrame({"patient_id": pd.Series(ids, dtype="string"), "first_day": first,
                         "last_day": last, "events": np.bincount(codes, minlength=n),
                         "narcotic": narcotic})


def technique_months(events: pd.DataFrame) -> pd.DataFrame:
    """Events per patient, calendar month and technique: ``patient_id``, ``month`` (months
    since 1970-01), ``technique`` (position in :data:`analytics.schema.TECHNIQUES`),
    ``events``; one row per patient, month and technique with an event, sorted so."""
    columns = {"patient_id": "string", "month": "int64", "technique": "int64",
               "events": "int64"}
    if events.empty:
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in columns.items()})
    ids = _sorted_ids(events)
    codes = id_positions(events["patient_id"], ids)
    month = day_numbers(events["event_date"]).astype("datetime64[D]").astype(
        "datetime64[M]").astype(np.int64)
    technique = pd.Categorical(events["technique"], categories=TECHNIQUES).codes.astype(
        np.int64)
    lo, n_tech = int(month.min()), len(TECHNIQUES)
    span = int(month.max()) - lo + 1
    cell, count = np.unique((codes * span + (month - lo)) * n_tech + technique,
                            return_counts=True)
    patient, rest = np.divmod(cell, span * n_tech)
    return pd.DataFrame({
        "patient_id": pd.Series(np.asarray(ids, dtype=object)[patient], dtype="string"),
        "month": rest // n_tech + lo, "technique": rest % n_tech,
        "events": count.astype(np.int64)}).astype(columns)


def period_bounds(extract: pd.Timestamp, period_days: int) -> tuple[pd.Timestamp, ...]:
    """(previous_start, current_start, current_end): two adjacent periods ending at ``extract``.

    The current period is ``[extract − period_days + 1, extract]``, the previous
    one the ``period_days`` before it.
    """
    current_end = pd.Timestamp(extract).normalize()
    current_start = current_end - pd.Timedelta(days=period_days - 1)
    previous_start = current_start - pd.Timedelta(days=period_days)
    return previous_start, current_start, current_end


def safety_months_back(period_days: int) -> int:
    """How many months before the latest 12-month window the compared window ends: the
    period in whole months (90 days: 3, 180: 6, 365: 12)."""
    return max(1, int(round(period_days / 30.4375)))


def kpi_months(extract: pd.Timestamp, period_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(current, previous)``: the first day of the extract date's month and of the month
    :func:`safety_months_back` months before it — the two points of the safety trend the
    Overview's KPIs compare."""
    current = pd.Timestamp(extract).to_period("M").to_timestamp()
    return current, current - pd.DateOffset(months=safety_months_back(period_days))


def _month_numbers(dates: pd.Series) -> np.ndarray:
    """Months since 1970-01 of a date column."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def _sorted_ids(events: pd.DataFrame) -> pd.Index:
    return pd.Index(events["patient_id"].unique(), dtype="string",
                    name="patient_id").sort_values()


def _day(value: object) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


@dataclass(frozen=True)
class DatasetFacts:
    """What :class:`PopulationMeasures` of some whole patients of a larger dataset (a
    bucket of the Spark engine) is told about the dataset: the choices that are not
    patient-local.  ``data_start``: the earliest event date of the dataset's accepted events
    (None: no event); ``has_pharmacy``: whether a narcotic fill of them has a
    ``pharmacy_id``; ``has_index_dates``: whether a patient of the population has an index
    date (then patients without one are left out of the outcomes)."""

    data_start: pd.Timestamp | None
    has_pharmacy: bool
    has_index_dates: bool


class PopulationMeasures:
    """The per-patient measure tables of a population's events, each computed once (on
    first use) and kept; read-only, shared by every cohort (see the module docstring).

    ``events``: the population's canonical events (or a window's).  ``extract``: the
    extract date (default: the latest event date of ``events``).  ``attributes``:
    :func:`analytics.cohorts.patient_attributes` over each patient's whole record (of the
    dataset), so that attribution does not change with the cohort; computed from
    ``events`` when not given.

    What the whole-record measures read (a window reads its population's, :attr:`root`):
    ``history``: the same patients' full history (``Population.full_history`` of the
    dataset's events: no lookback cut), default ``events``; ``accepted``: the dataset's
    accepted events before the population (the attrition), default ``history``;
    ``diagnoses``: the dataset's diagnoses (``kind`` ``opioid_use_disorder`` indicates
    naloxone); ``index_dates``: ``Population.index_date`` — when it holds any date,
    patients without one are left out of the outcomes (None or empty: nobody is).
    ``facts``: when these are some whole patients of a larger dataset (a bucket of the
    Spark engine), the dataset's :class:`DatasetFacts` (None: decided on these events).
    """

    def __init__(
        self,
        events: pd.DataFrame,
        definitions: Definitions = Definitions(),
        extract: pd.Timestamp | None = None,
        *,
        attributes: pd.DataFrame | None = None,
        history: pd.DataFrame | None = None,
        accepted: pd.DataFrame | None = None,
        diagnoses: pd.DataFrame | None = None,
        index_dates: pd.Series | None = None,
        facts: DatasetFacts | None = None,
    ) -> None:
        self._events: pd.DataFrame | None = events
        self._source: tuple[pd.DataFrame, np.ndarray] | None = None
        self.definitions = definitions
        self.extract = extract_date(events, extract)
        self._attributes = attributes
        self._history = history
        self._accepted = accepted
        self.diagnoses = diagnoses
        known = (index_dates is not None and len(index_dates) > 0 if facts is None
                 else facts.has_index_dates)
        if known and index_dates is None:  # a bucket without a patient with an index date
            index_dates = pd.Series([], dtype="datetime64[s]",
                                    index=pd.Index([], dtype="string", name="patient_id"))
        self.index_dates = index_dates if known else None
        self.facts = facts
        self.root: PopulationMeasures = self
        """The population whose whole-record measures this one uses (itself, or the
        population of which this is a date window)."""
        self._memo: dict[tuple, object] = {}
        self._computing: dict[tuple, threading.Lock] = {}
        self._windows: OrderedDict[tuple, PopulationMeasures] = OrderedDict()
        self._lock = threading.RLock()

    def _kept(self, key: tuple, compute: Callable[[], T]) -> T:
        """The value kept under ``key``, computed once: threads asking for one key wait for
        one computation; different keys are computed side by side."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]  # type: ignore[return-value]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]  # type: ignore[return-value]
            value = compute()
            with self._lock:
                self._memo[key] = value
                self._computing.pop(key, None)
            return value

    def warm(self, period_days: tuple[int, ...] = ()) -> None:
        """Compute every table the pages use now (the app does it in the background after
        the first page), and the Overview's tables of the periods of ``period_days`` days
        ending at the extract date."""
        self.criteria  # noqa: B018 - each property computes and keeps its table
        self.attribute_positions  # noqa: B018
        self.physicians  # noqa: B018
        default = tuple(DEFAULT_PATHWAY_TECHNIQUES)
        tables = {("steps", mode, default): lambda mode=mode: self.steps(mode)
                  for mode in ("first", "eras")}
        tables[("eras", default)] = self.eras
        for name in ("spans", "technique_months", "concordance", "courses", "fills",
                     "overlap", "narcotic_months", "sessions", "sessions_per_patient",
                     "intervals", "limit_windows", "pain_change", "responses"):
            tables[(name,)] = lambda name=name: getattr(self, name)
        if self.root is self:
            for name in SAFETY_TABLES:
                tables[("safety", name)] = lambda name=name: getattr(self.safety, name)
            tables[("outcomes",)] = lambda: self.outcomes.table
            tables[("outcome_left_out",)] = lambda: self.outcome_left_out
            self.attrition_counts  # noqa: B018 - computes and keeps it
            if self.extract is not None:
                for days in period_days:
                    months = kpi_months(self.extract, days)
                    for name in SAFETY_TABLES:
                        tables[("safety_months", months, name)] = (
                            lambda name=name, months=months: getattr(
                                self.safety_months(months), name))
        for key, table in tables.items():  # and where each row's patient is, for cohorts
            self.positions(key, table())
        if self.extract is None:
            return
        for days in period_days:
            previous_start, current_start, current_end = period_bounds(self.extract, days)
            for first, last in ((current_start, current_end),
                                (previous_start, current_start - pd.Timedelta(days=1))):
                period = self.window(first, last, last)
                for name in ("spans", "courses", "sessions", "limit_windows", "concordance"):
                    period.positions((name,), getattr(period, name))
                period.attribute_positions  # noqa: B018 - the period's physician table
                period.physicians  # noqa: B018
                period.drop_events()

    @property
    def events(self) -> pd.DataFrame:
        """The events the tables are computed from (a window's are taken from the
        population's events again after :meth:`drop_events`)."""
        with self._lock:
            if self._events is None:
                frame, inside = self._source
                self._events = frame.loc[inside]
            return self._events

    def drop_events(self) -> None:
        """Let a window's events go (its tables computed so far are kept; one computed
        later takes the events again): the Overview's periods need five small tables."""
        with self._lock:
            if self._source is not None:
                self._events = None

    # ------------------------------------------------------------------ patients

    @property
    def patients(self) -> pd.Index:
        """Distinct patient ids of the events, sorted."""
        return self._kept(("patients",), lambda: _sorted_ids(self.events))

    @property
    def codes(self) -> np.ndarray:
        """For every event row, the position of its patient in :attr:`patients`."""
        return self._kept(("codes",), lambda: id_positions(self.events["patient_id"],
                                                           self.patients))

    def positions(self, key: tuple, table: pd.DataFrame) -> np.ndarray:
        """For every row of ``table`` (the table kept under ``key``), the position of its
        patient in :attr:`patients`."""
        return self._kept(("positions", *key), lambda: id_positions(table["patient_id"],
                                                                    self.patients))

    @property
    def attributes(self) -> pd.DataFrame:
        """Per-patient attributes (index ``patient_id``), one row per patient of
        :attr:`patients`, in that order."""
        def compute() -> pd.DataFrame:
            if self._attributes is None:
                return patient_attributes(self.events)
            return self._attributes.loc[isin_ids(self._attributes.index, self.patients)]
        return self._kept(("attributes",), compute)

    @property
    def physicians(self) -> tuple[np.ndarray, pd.Index]:
        """``(codes, names)``: the attributed physician of every patient of
        :attr:`patients` as a position in ``names`` (sorted; :data:`UNKNOWN_PHYSICIAN` when
        none)."""
        def compute() -> tuple[np.ndarray, pd.Index]:
            provider = self.attributes["provider_id"].reindex(self.patients)
            codes, names = pd.factorize(provider.fillna(UNKNOWN_PHYSICIAN), sort=True)
            return codes.astype(np.int64), pd.Index(names)
        return self._kept(("physicians",), compute)

    @property
    def attribute_positions(self) -> np.ndarray:
        """For every row of :attr:`attributes`, the position of its patient in
        :attr:`patients`."""
        return self._kept(("attribute_positions",), lambda: id_positions(
            self.attributes.index, self.patients))

    @property
    def spans(self) -> pd.DataFrame:
        """Each patient's first and last event and whether one is narcotic
        (:func:`patient_spans`)."""
        return self._kept(("spans",), lambda: patient_spans(self.events))

    @property
    def technique_months(self) -> pd.DataFrame:
        """Events per patient, month and technique (:func:`technique_months`)."""
        return self._kept(("technique_months",), lambda: technique_months(self.events))

    @property
    def criteria(self) -> CohortCriteria:
        """What the cohort criteria read, per patient (:func:`analytics.cohorts.
        cohort_criteria`, with the courses' gap and the extract date)."""
        return self._kept(("criteria",), lambda: cohort_criteria(
            self.events, course_gap_days=self.definitions.course_gap_days,
            extract=self.extract, attributes=self._attributes))

    # ------------------------------------------------------------------ tables

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
    def narcotic_months(self) -> pd.DataFrame:
        """The months with a narcotic-covered day, per patient
        (:func:`analytics.narcotics.narcotic_months`)."""
        return self._kept(("narcotic_months",), lambda: narcotics.narcotic_months(
            self.events, extract=self.extract))

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
    def pain_change(self) -> pd.DataFrame:
        """Pain-score change around each session."""
        return self._kept(("pain_change",),
                          lambda: injections.pain_score_change(self.events, self.sessions))

    @property
    def responses(self) -> pd.DataFrame:
        """The documented pain-score response of every session
        (:func:`analytics.injection_response.injection_responses`)."""
        return self._kept(("responses",), lambda: injection_response.injection_responses(
            self.events, self.sessions, extract=self.extract))

    # ------------------------------------------------------------------ whole records

    @property
    def history(self) -> pd.DataFrame:
        """The population's patients over their full history (the root's)."""
        root = self.root
        return root.events if root._history is None else root._history

    @property
    def accepted(self) -> pd.DataFrame:
        """The dataset's accepted events (the root's; default its history)."""
        root = self.root
        return root.history if root._accepted is None else root._accepted

    @property
    def safety_parameters(self) -> SafetyParameters:
        """The safety measures' parameters: the defaults, with the courses' gap."""
        return SafetyParameters(course_gap_days=self.definitions.course_gap_days)

    @property
    def safety(self) -> SafetyMeasures:
        """Every opioid-safety measure over the population's full history
        (:func:`analytics.safety.safety_measures`), computed once for the root population
        (a window's are its population's)."""
        root = self.root
        if root is not self:
            return root.safety

        def compute() -> SafetyMeasures:
            same = self.history is self.events  # no lookback cut: its fills and courses
            start, pharmacy = self.dataset_context
            return safety_measures(self.history, self.diagnoses, self.extract,
                                   self.safety_parameters,
                                   fills=self.fills if same else None,
                                   courses=self.courses if same else None,
                                   data_start=start, pharmacy_recorded=pharmacy)
        return self._kept(("safety",), compute)

    @property
    def dataset_context(self) -> tuple[pd.Timestamp | None, bool | None]:
        """``(data_start, pharmacy_recorded)`` of the dataset's accepted events when given
        (its first event date; whether a narcotic fill carries ``pharmacy_id``), else
        ``(None, None)``: the safety measures then take those of the history."""
        root = self.root
        if root.facts is not None:  # the dataset's (no event at all: the extract date)
            start = root.facts.data_start
            return (root.extract if start is None else start), root.facts.has_pharmacy
        if root._accepted is None:
            return None, None

        def compute() -> tuple[pd.Timestamp | None, bool | None]:
            accepted = root._accepted
            first = accepted["event_date"].min() if len(accepted) else pd.NaT
            narcotic = (accepted["technique"] == "narcotic").to_numpy(dtype=bool,
                                                                      na_value=False)
            pharmacy = ("pharmacy_id" in accepted.columns
                        and bool(accepted["pharmacy_id"].notna().to_numpy()[narcotic].any()))
            return (None if pd.isna(first) else pd.Timestamp(first)), pharmacy
        return root._kept(("dataset_context",), compute)

    @property
    def attrition_counts(self) -> tuple[tuple[int, int], tuple[int, int], np.ndarray]:
        """What the attrition counts of the dataset and population (the root's):
        ``(accepted, population, with_pathway)`` — the dataset's accepted events and the
        population's events as (rows, patients), and which of :attr:`patients` have a
        pathway step (mode "first"), a boolean mask."""
        root = self.root
        if root is not self:
            return root.attrition_counts

        def compute() -> tuple[tuple[int, int], tuple[int, int], np.ndarray]:
            accepted = self.accepted
            patients = int(accepted["patient_id"].nunique()) if len(accepted) else 0
            steps = self.steps("first")
            with_pathway = np.zeros(len(self.patients), dtype=bool)
            with_pathway[self.positions(("steps", "first", tuple(DEFAULT_PATHWAY_TECHNIQUES)),
                                        steps)] = True
            return (len(accepted), patients), (len(self.events), len(self.patients)), \
                with_pathway
        return self._kept(("attrition_counts",), compute)

    def safety_months(self, months: tuple[pd.Timestamp, ...]) -> SafetyMeasures:
        """The safety measures cut to what the trend points of ``months`` (first days of
        months) read: the patient-windows ending in those months and the naloxone courses
        starting in the trailing window of one of them (with their credits).
        :func:`analytics.safety.safety_rates` gives these months the rates of
        :attr:`safety`; the Overview's KPIs read two points, not the whole trend.  Kept per
        ``months`` (the root population's)."""
        root = self.root
        if root is not self:
            return root.safety_months(months)

        def compute() -> SafetyMeasures:
            measures = self.safety
            wanted = np.array([pd.Timestamp(m).to_datetime64().astype("datetime64[M]")
                               .astype(np.int64) for m in months], dtype=np.int64)
            window = measures.parameters.trend_window_months
            start = _month_numbers(measures.naloxone_courses["start"])
            after = wanted[None, :] - start[:, None]
            masks = {
                "patient_months": np.isin(_month_numbers(measures.patient_months["month"]),
                                          wanted),
                "naloxone_courses": ((after >= 0) & (after < window)).any(axis=1),
            }
            return _selected_safety(measures, lambda name: masks.get(
                name, np.zeros(len(getattr(measures, name)), dtype=bool)))
        return self._kept(("safety_months", tuple(months)), compute)

    @property
    def outcomes(self) -> OutcomeData:
        """Outcome times by first step of the population's patients
        (:func:`analytics.outcomes.outcome_data` with the mode-"first" steps and the
        narcotic courses; the root population's)."""
        root = self.root
        if root is not self:
            return root.outcomes
        return self._kept(("outcomes",), lambda: outcome_data(
            self.events, self.index_dates, self.extract, steps=self.steps("first"),
            courses=self.courses, course_gap_days=self.definitions.course_gap_days,
            age_edges=AGE_BAND_EDGES))

    @property
    def outcome_left_out(self) -> pd.DataFrame:
        """Patients with a first step left out of the outcomes: ``patient_id``, ``reason``
        (``no_index``: no index date; ``surgery_first``: a first step holding surgery),
        as :func:`analytics.outcomes.outcome_data` counts them (the root population's)."""
        root = self.root
        if root is not self:
            return root.outcome_left_out

        def compute() -> pd.DataFrame:
            steps = self.steps("first")
            first = steps.loc[steps["step"].to_numpy() == 1]
            ids = first["patient_id"].astype("string").reset_index(drop=True)
            no_index = np.zeros(len(ids), dtype=bool)
            if self.index_dates is not None:
                known = pd.Series(self.index_dates).dropna().index
                no_index = ~isin_ids(ids, pd.Index(known, dtype="string"))
            padded = "+" + first["label"].astype("string").reset_index(drop=True) + "+"
            surgery = padded.str.contains("+surgery+", regex=False).to_numpy(
                dtype=bool, na_value=False) & ~no_index
            reason = np.where(no_index, "no_index", np.where(surgery, "surgery_first", ""))
            out = pd.DataFrame({"patient_id": ids,
                                "reason": pd.Series(reason, dtype="string")})
            return out.loc[(out["reason"] != "").to_numpy()].reset_index(drop=True)
        return self._kept(("outcome_left_out",), compute)

    # ------------------------------------------------------------------ windows, cohorts

    def window(self, start: pd.Timestamp | None, end: pd.Timestamp | None,
               extract: pd.Timestamp | None = None) -> PopulationMeasures:
        """The measures of the events dated ``start`` .. ``end`` (inclusive; None: open),
        with ``extract`` as their extract date (default this one's).  The last
        :data:`WINDOWS_KEPT` windows are kept."""
        extract = self.extract if extract is None else pd.Timestamp(extract)
        key = (start, end, extract)
        with self._lock:
            if key in self._windows:
                self._windows.move_to_end(key)
                return self._windows[key]
        dates = self.events["event_date"]
        inside = np.ones(len(dates), dtype=bool)
        if start is not None:
            inside &= (dates >= start).to_numpy(dtype=bool)
        if end is not None:
            inside &= (dates <= end).to_numpy(dtype=bool)
        # a window's patients keep the attributes of their whole record (physician, age)
        attributes = self._attributes if self._attributes is not None else self.attributes
        window = PopulationMeasures(self.events.loc[inside], self.definitions, extract,
                                    attributes=attributes)
        window._source = (self.events, inside)
        window.root = self.root
        with self._lock:
            window = self._windows.setdefault(key, window)
            self._windows.move_to_end(key)
            while len(self._windows) > WINDOWS_KEPT:
                self._windows.popitem(last=False)
        return window

    def select(self, selected: np.ndarray | None = None,
               population: PopulationMeasures | None = None) -> CohortMeasures:
        """The cohort of the patients ``selected`` (a boolean mask over :attr:`patients`;
        None: everyone), whose whole-record measures are the rows of its patients in
        ``population``'s (default :attr:`root`)."""
        return CohortMeasures.selection(self, selected, population)

    def cohort(self, cohort: Cohort) -> CohortMeasures:
        """The cohort's measures: the rows of its patients, in the tables of its date
        window (docs/definitions.md section 4) — the same as computing them afresh from
        :func:`analytics.cohorts.apply_cohort`'s events."""
        source = self
        if cohort.date_from is not None or cohort.date_to is not None:
            source = self.window(_day(cohort.date_from), _day(cohort.date_to))
        rest = replace(cohort, date_from=None, date_to=None)
        return source.select(None if rest.is_everyone() else source.criteria.select(rest))

    def memory_bytes(self) -> int:
        """Memory held by the tables computed so far and by the kept windows (the events
        themselves not counted: they are the population's)."""
        def size(value: object) -> int:
            if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
                used = value.memory_usage(deep=True)
                return int(used.sum() if hasattr(used, "sum") else used)
            if isinstance(value, np.ndarray):
                return int(value.nbytes)
            if dataclasses.is_dataclass(value):  # criteria, safety measures, outcome data
                return sum(size(getattr(value, f.name)) for f in dataclasses.fields(value))
            if isinstance(value, tuple):
                return sum(size(v) for v in value)
            if isinstance(value, pd.Categorical):
                return int(value.nbytes)
            return 0

        with self._lock:
            tables = list(self._memo.values())
            windows = list(self._windows.values())
        return (sum(size(v) for v in tables)
                + sum(w.memory_bytes() + (0 if w._events is None else size(w._events))
                      for w in windows))


class CohortMeasures:
    """The per-patient measure tables of one cohort: the rows of its patients in a
    :class:`PopulationMeasures`' tables (read-only, selected on first use and kept).

    ``CohortMeasures(events, definitions, extract, attributes, population)`` takes
    ``events`` as the cohort's events and computes its tables from them, its whole-record
    measures (safety, outcomes, attrition) being the rows of its patients in
    ``population``'s (default: those of ``events`` themselves); the app selects cohorts
    with :meth:`PopulationMeasures.cohort` instead.  ``extract``: the dataset's extract
    date (default: the latest event date of ``events``).  ``attributes``: per-patient
    attributes over each patient's whole record.
    """

    def __init__(
        self,
        events: pd.DataFrame,
        definitions: Definitions = Definitions(),
        extract: pd.Timestamp | None = None,
        attributes: pd.DataFrame | None = None,
        population: PopulationMeasures | None = None,
    ) -> None:
        self._setup(PopulationMeasures(events, definitions, extract, attributes=attributes),
                    None, population)

    @classmethod
    def selection(cls, base: PopulationMeasures, selected: np.ndarray | None,
                  population: PopulationMeasures | None = None) -> CohortMeasures:
        """The cohort of the patients ``selected`` (boolean mask over ``base.patients``;
        None: everyone) of ``base``; its whole-record measures are the rows of its patients
        in ``population``'s (default ``base.root``)."""
        cohort = cls.__new__(cls)
        cohort._setup(base, selected, population)
        return cohort

    def _setup(self, base: PopulationMeasures, selected: np.ndarray | None,
               population: PopulationMeasures | None) -> None:
        self.base = base
        self.population = base.root if population is None else population
        """The population whose whole-record measures the cohort selects from."""
        self.definitions = base.definitions
        self.extract = base.extract
        everyone = selected is None or bool(np.all(selected))
        self._selected = None if everyone else np.asarray(selected, dtype=bool)
        self._memo: dict[tuple, object] = {}
        self._lock = threading.RLock()

    def _kept(self, key: tuple, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]  # type: ignore[return-value]

    def _rows(self, key: tuple, table: pd.DataFrame,
              finish: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """The rows of ``table`` (the population's table kept under ``key``) whose patient
        is selected, renumbered from 0 like a table computed afresh (``finish`` then sets
        what else a fresh table would hold, e.g. its ``attrs``)."""
        if self._selected is None:
            return table

        def compute() -> pd.DataFrame:
            chosen = table.loc[self._selected[self.base.positions(key, table)]]
            if isinstance(table.index, pd.RangeIndex):
                chosen = chosen.reset_index(drop=True)
            if finish is not None:
                finish(chosen)
            return chosen
        return self._kept(("rows", *key), compute)

    # ------------------------------------------------------------------ patients

    @property
    def patients(self) -> pd.Index:
        """Distinct patient ids of the cohort, sorted."""
        if self._selected is None:
            return self.base.patients
        return self._kept(("patients",), lambda: self.base.patients[self._selected])

    @property
    def events(self) -> pd.DataFrame:
        """The cohort's events (the population's rows of its patients; costly for a large
        cohort: the builders use the per-patient tables instead)."""
        if self._selected is None:
            return self.base.events
        return self._kept(("events",),
                          lambda: self.base.events.loc[self._selected[self.base.codes]])

    def patient_events(self, patient_id: str) -> pd.DataFrame:
        """The events of one patient of the cohort (none when not in it)."""
        position = self.base.patients.get_indexer([patient_id])[0]
        if position < 0 or (self._selected is not None and not self._selected[position]):
            return self.base.events.iloc[:0]
        return self.base.events.loc[self.base.codes == position]

    @property
    def attributes(self) -> pd.DataFrame:
        """Per-patient attributes (index ``patient_id``) of the cohort's patients."""
        if self._selected is None:
            return self.base.attributes
        return self._kept(("attributes",), lambda: self.base.attributes.loc[
            self._selected[self.base.attribute_positions]])

    def physician_of(self, patient_ids: pd.Series) -> pd.Series:
        """The attributed physician of each id (``"(unknown)"`` when none), as a Series
        aligned with ``patient_ids``."""
        provider = self.attributes["provider_id"]
        mapped = provider.reindex(pd.Index(patient_ids)).fillna(UNKNOWN_PHYSICIAN)
        return pd.Series(mapped.to_numpy(dtype=object), index=patient_ids.index, dtype="string")

    @property
    def physicians(self) -> tuple[np.ndarray, pd.Index]:
        """``(codes, names)``: the attributed physician of every patient of
        :attr:`patients` as a position in ``names`` (the physicians of the cohort, sorted;
        :data:`UNKNOWN_PHYSICIAN` when none)."""
        codes, names = self.base.physicians
        if self._selected is None:
            return codes, names

        def compute() -> tuple[np.ndarray, pd.Index]:
            present, mine = np.unique(codes[self._selected], return_inverse=True)
            return mine.astype(np.int64), names[present]
        return self._kept(("physicians",), compute)

    def patient_positions(self, key: tuple) -> np.ndarray:
        """For every row of the cohort's table kept under ``key`` (``("courses",)``,
        ``("steps", mode, techniques)``, …), the position of its patient in
        :attr:`patients`."""
        def compute() -> np.ndarray:
            name, *rest = key
            table = getattr(self.base, name)
            table = table(*rest) if callable(table) else table
            positions = self.base.positions(key, table)
            if self._selected is None:
                return positions
            rank = np.cumsum(self._selected) - 1
            return rank[positions[self._selected[positions]]]
        return self._kept(("patient_positions", *key), compute)

    @property
    def spans(self) -> pd.DataFrame:
        """Each patient's first and last event and narcotic flag (:func:`patient_spans`)."""
        return self._rows(("spans",), self.base.spans)

    @property
    def technique_months(self) -> pd.DataFrame:
        """Events per patient, month and technique (:func:`technique_months`)."""
        return self._rows(("technique_months",), self.base.technique_months)

    # ------------------------------------------------------------------ tables

    def steps(self, mode: str = "first",
              techniques: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Pathway steps (:func:`analytics.pathways.pathway_steps`) of the chosen techniques
        (default: the pathway techniques)."""
        techniques = tuple(DEFAULT_PATHWAY_TECHNIQUES) if techniques is None else techniques
        return self._rows(("steps", mode, techniques), self.base.steps(mode, techniques),
                          self._count_dropped)

    def _count_dropped(self, steps: pd.DataFrame) -> None:
        """Set the selected steps' count of dropped pieces to their patients' own."""
        by_patient = steps.attrs.get(pathways.DROPPED_BY_PATIENT, {})
        mine = set(self.patients[isin_ids(self.patients, list(by_patient))].tolist()
                   ) if by_patient else set()
        steps.attrs[pathways.DROPPED_BY_PATIENT] = {
            p: n for p, n in by_patient.items() if p in mine}
        steps.attrs[pathways.DROPPED_PIECES] = sum(
            steps.attrs[pathways.DROPPED_BY_PATIENT].values())

    def eras(self, techniques: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Technique eras (:func:`analytics.pathways.technique_eras`) of the chosen
        techniques (default: the pathway techniques)."""
        techniques = tuple(DEFAULT_PATHWAY_TECHNIQUES) if techniques is None else techniques
        return self._rows(("eras", techniques), self.base.eras(techniques))

    @property
    def concordance(self) -> pd.DataFrame:
        """Step-therapy concordance per patient."""
        return self._rows(("concordance",), self.base.concordance)

    @property
    def courses(self) -> pd.DataFrame:
        """Narcotic courses (:func:`analytics.narcotics.narcotic_courses`)."""
        return self._rows(("courses",), self.base.courses)

    @property
    def fills(self) -> pd.DataFrame:
        """MME per narcotic fill (:func:`analytics.narcotics.fill_mme`)."""
        return self._rows(("fills",), self.base.fills)

    @property
    def overlap(self) -> pd.DataFrame:
        """Narcotic + muscle-relaxant overlap days per patient."""
        return self._rows(("overlap",), self.base.overlap)

    @property
    def active_by_month(self) -> pd.DataFrame:
        """Patients with a narcotic-covered day, per month
        (:func:`analytics.narcotics.patients_by_month`)."""
        return self._kept(("active_by_month",), lambda: narcotics.patients_by_month(
            self._rows(("narcotic_months",), self.base.narcotic_months)))

    @property
    def sessions(self) -> pd.DataFrame:
        """Injection sessions (:func:`analytics.injections.injection_sessions`)."""
        return self._rows(("sessions",), self.base.sessions)

    @property
    def sessions_per_patient(self) -> pd.DataFrame:
        return self._rows(("sessions_per_patient",), self.base.sessions_per_patient)

    @property
    def intervals(self) -> pd.DataFrame:
        """Repeat intervals between consecutive sessions."""
        return self._rows(("intervals",), self.base.intervals)

    @property
    def limit_windows(self) -> pd.DataFrame:
        """365-day windows over a payer limit."""
        return self._rows(("limit_windows",), self.base.limit_windows)

    @property
    def pain_change(self) -> pd.DataFrame:
        """Pain-score change around each session."""
        return self._rows(("pain_change",), self.base.pain_change)

    @property
    def responses(self) -> pd.DataFrame:
        """The documented pain-score response of every session
        (:func:`analytics.injection_response.injection_responses`)."""
        return self._rows(("responses",), self.base.responses)

    # ------------------------------------------------------------------ whole records

    @property
    def population_selected(self) -> np.ndarray | None:
        """The cohort's patients as a boolean mask over :attr:`population`'s patients (None:
        all of them)."""
        if self.population is self.base:
            return self._selected

        def compute() -> np.ndarray | None:
            theirs = self.population.patients
            positions = id_positions(self.patients, theirs)
            mask = np.zeros(len(theirs), dtype=bool)
            mask[positions[positions >= 0]] = True
            return None if mask.all() else mask
        return self._kept(("population_selected",), compute)

    def _population_rows(self, key: tuple, table: pd.DataFrame) -> np.ndarray | None:
        """Which rows of ``table`` (the population's whole-record table kept under ``key``)
        belong to the cohort's patients (None: all)."""
        selected = self.population_selected
        if selected is None:
            return None
        positions = self.population.positions(key, table)
        return (positions >= 0) & selected[np.maximum(positions, 0)]

    @property
    def safety(self) -> SafetyMeasures:
        """The opioid-safety measures of the cohort's patients (their full history): the
        rows of these patients in the population's (:attr:`PopulationMeasures.safety`)."""
        measures = self.population.safety
        return self._kept(("safety",), lambda: _selected_safety(
            measures, lambda name: self._population_rows(("safety", name),
                                                         getattr(measures, name))))

    def safety_months(self, months: tuple[pd.Timestamp, ...]) -> SafetyMeasures:
        """:meth:`PopulationMeasures.safety_months` of the cohort's patients: the rows of
        these patients in the population's."""
        months = tuple(months)
        measures = self.population.safety_months(months)
        return self._kept(("safety_months", months), lambda: _selected_safety(
            measures, lambda name: self._population_rows(("safety_months", months, name),
                                                         getattr(measures, name))))

    @property
    def outcomes(self) -> OutcomeData:
        """Outcome times by first step of the cohort's patients: the rows of these patients
        in the population's (:attr:`PopulationMeasures.outcomes`), with the patients
        analysed and left out among them."""
        data = self.population.outcomes
        left = self.population.outcome_left_out
        return self._kept(("outcomes",), lambda: _selected_outcomes(
            data, left, self._population_rows(("outcomes",), data.table),
            self._population_rows(("outcome_left_out",), left)))

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

    # ------------------------------------------------------------------ periods

    def window(self, start: pd.Timestamp, end: pd.Timestamp) -> CohortMeasures:
        """The measures of the cohort's events dated ``start`` .. ``end`` (inclusive), with
        ``end`` as their extract date (a period of the Overview): the same patients'
        rows in the population's tables of that window.  The patients keep their attributes
        (physician, site, age) over their whole record, not the window's."""
        def compute() -> CohortMeasures:
            window = self.base.window(start, end, end)
            if self._selected is None:
                return window.select(None, self.population)
            inside = id_positions(window.patients, self.base.patients)
            return window.select(self._selected[inside], self.population)
        return self._kept(("window", start, end), compute)


def _selected_safety(measures: SafetyMeasures,
                     rows_of: Callable[[str], np.ndarray | None]) -> SafetyMeasures:
    """The safety measures of the rows ``rows_of(table)`` chooses (a boolean mask, None:
    all) of each of :data:`SAFETY_TABLES`, with the physician credits renumbered."""
    masks = {name: rows_of(name) for name in SAFETY_TABLES}
    if all(mask is None or mask.all() for mask in masks.values()):
        return measures

    def rows(name: str) -> pd.DataFrame:
        frame, mask = getattr(measures, name), masks[name]
        return frame if mask is None else frame.loc[mask].reset_index(drop=True)

    def credits(name: str) -> pd.DataFrame:
        table, mask = getattr(measures, name), masks[_CREDITS[name]]
        if mask is None:
            return table
        row = table["row"].to_numpy(dtype=np.int64)
        kept = mask[row]
        out = table.loc[kept].reset_index(drop=True)
        out["row"] = (np.cumsum(mask) - 1)[row[kept]].astype(np.int64)
        return out

    return dataclasses.replace(measures, **{name: rows(name) for name in SAFETY_TABLES},
                               **{name: credits(name) for name in _CREDITS})


def select_safety(measures: SafetyMeasures, patients: pd.Index) -> SafetyMeasures:
    """The safety measures of ``patients`` only: the rows of their patient-windows,
    episodes and courses, with the physician credits renumbered.  Every measure is
    patient-local (given the dataset's data start and extract date), so this equals the
    measures computed on these patients' events."""
    return _selected_safety(measures, lambda name: isin_ids(
        getattr(measures, name)["patient_id"], patients))


def _selected_outcomes(data: OutcomeData, left_out: pd.DataFrame, rows: np.ndarray | None,
                       left_rows: np.ndarray | None) -> OutcomeData:
    """The outcome times of the chosen ``rows`` of ``data.table`` (None: all), with the
    counts of patients analysed and of the chosen ``left_rows`` of ``left_out``."""
    if rows is None and left_rows is None:
        return data
    table = data.table if rows is None else data.table.loc[rows].reset_index(drop=True)
    reasons = left_out["reason"] if left_rows is None else left_out.loc[left_rows, "reason"]
    return OutcomeData(
        table, patients=int(table["patient_id"].nunique()),
        left_out_no_index=int((reasons == "no_index").sum()),
        left_out_surgery_first=int((reasons == "surgery_first").sum()),
        extract_date=data.extract_date)


def select_outcomes(population: PopulationMeasures, patients: pd.Index) -> OutcomeData:
    """The outcome times of ``patients`` only (the population's rows of them), with the
    counts of patients analysed and left out among them."""
    data, left = population.outcomes, population.outcome_left_out
    return _selected_outcomes(data, left, isin_ids(data.table["patient_id"], patients),
                              isin_ids(left["patient_id"], patients))
