"""Cached data access for the pages: the store, dataset events, cohort measures and results.

The flow is store -> population -> cohort -> measures -> results.  The caches are
keyed on small explicit keys (the dataset id and version, the population, the
cohort's parameters, the definition parameters) — never on a DataFrame (Streamlit
hashes only a sample of a large frame and could return a stale result):

1. a dataset version's events, diagnoses, metadata (its stored extract date and
   population source) and per-patient attributes;
2. the population's events (:func:`analytics.population.apply_population`) per
   (dataset, version, population, lookback) — not per cohort, definition or threshold;
3. a cohort's measures (:class:`~analytics.results.measures.CohortMeasures`:
   steps, courses, sessions, …) per (dataset, version, population, lookback, cohort,
   definitions, extract date) — the privacy threshold is not part of this key;
4. a view's aggregates per (measures, builder, arguments), and its protected
   result per (aggregates, threshold).

The extract date is the one stored with the dataset version (fixed at upload, before
any population or cohort filter) unless the user chooses one.

Changing the threshold therefore only protects cached aggregates again; no
measure is recomputed.  Everything comes from ``cache_resource``, so every
session shares one copy; treat it as read-only.  The caches are bounded by entry
count and age, so memory stays bounded however many cohorts users try.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

import pandas as pd
import scipy.stats  # noqa: F401  (~1 s: paid at start-up, not by the first Kaplan–Meier)
import streamlit as st

from analytics import settings
from analytics.cohorts import Cohort, apply_cohort, patient_attributes
from analytics.ingest import ingest
from analytics.intervals import extract_date
from analytics.population import DEFAULT_LOOKBACK_DAYS, Population, apply_population
from analytics.results.attrition import AttritionResult, attrition_counts
from analytics.results.compare import CompareResult, compare_counts
from analytics.results.drilldown import PatientsResult, Selection, pathway_patients
from analytics.results.injections import InjectionsResult, injections_counts
from analytics.results.measures import CohortMeasures, Definitions, PopulationMeasures
from analytics.results.narcotics import NarcoticsResult, narcotics_counts
from analytics.results.outcomes import OutcomesResult, outcomes_counts
from analytics.results.overview import OverviewResult, overview_counts
from analytics.results.pathways import PathwaysResult, pathways_counts
from analytics.results.population import PopulationResult, build_population
from analytics.results.privacy import DEFAULT_MIN_CELL
from analytics.results.report import REPORT_PERIOD_DAYS, ReportResult
from analytics.results.safety import SafetyResult, safety_counts
from analytics.results.strata import StrataResult, strata_counts
from analytics.results.timeline import TimelineResult, build_timeline
from analytics.store import Store, StoreDamagedError, StoreError, move_aside

SAMPLE_CSV = settings.ROOT / "sample_data" / "painpath_sample.csv"
SAMPLE_NAME = "Sample clinic"
T = TypeVar("T")

# DuckDB connections are not safe for concurrent use from several threads;
# Streamlit runs each session in its own thread.
_STORE_LOCK = threading.RLock()
_LOG = logging.getLogger("painpath.store")
# The Store cached for each data dir, so that a damaged one can be closed before it is
# moved aside (st.cache_resource does not hand its values back for clearing).
_OPEN: dict[str, Store] = {}
_MOVED_KEY = "painpath_store_moved_aside"


@st.cache_resource(show_spinner=False)
def _store(data_dir: str) -> Store:
    # A failed open raises, and st.cache_resource caches nothing for a call that raised:
    # the next rerun tries again.
    store = Store(data_dir)
    try:
        with _STORE_LOCK:
            store.ensure_sample_dataset(SAMPLE_CSV, lambda path: ingest([path]))
    except BaseException:
        store.close()
        raise
    _OPEN[data_dir] = store
    return store


def data_dir() -> str:
    return str(settings.data_dir())


def store() -> Store:
    """The process-wide store (created with the sample dataset on first use).

    When the store cannot be used (damaged file, held by another process, other schema
    version) this shows the reason — for a damaged file with a button "Start a new, empty
    store" — and stops the script run (``st.stop``); no stack trace reaches the user.
    """
    try:
        opened = _store(data_dir())
    except StoreError as exc:
        store_unavailable(exc)
    moved = st.session_state.pop(_MOVED_KEY, None)
    if moved:
        st.toast(f"The damaged store was kept as {moved}; a new, empty store was started.")
    return opened


def with_store(action, *args, **kwargs):
    """Run ``action(store, *args, **kwargs)`` under the store lock (a store that cannot be
    used is reported as in :func:`store`)."""
    with _STORE_LOCK:
        opened = store()
        try:
            return action(opened, *args, **kwargs)
        except StoreError as exc:
            store_unavailable(exc)


def store_unavailable(exc: StoreError) -> NoReturn:
    """Show why the store cannot be used, offer a new store for a damaged file, stop."""
    _LOG.error("store unavailable: %s", exc, exc_info=exc)
    st.error(str(exc), icon="🛑")
    if isinstance(exc, StoreDamagedError) and exc.path is not None:
        st.button("Start a new, empty store", key="store_new", type="primary",
                  on_click=_start_new_store, args=(str(exc.path),),
                  help="Renames the damaged file to painpath.duckdb.broken-<time> in the same "
                  "folder (nothing is deleted) and creates a new store with the sample dataset.")
    st.stop()
    raise exc  # outside a Streamlit script run st.stop() returns


def _start_new_store(path: str) -> None:
    """Button callback: close the cached store, move the damaged file aside (never delete)."""
    with _STORE_LOCK:
        opened = _OPEN.pop(data_dir(), None)
        if opened is not None:
            opened.close()
        _store.clear()
        st.cache_resource.clear()  # frames and results of the damaged store
        if Path(path).exists():  # another session may have moved it already
            target = move_aside(path)
            _LOG.warning("moved the damaged store %s aside to %s", path, target)
            st.session_state[_MOVED_KEY] = target.name


def datasets() -> pd.DataFrame:
    return with_store(Store.list_datasets)


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_events(dataset_id: int, version: int) -> pd.DataFrame:
    """All canonical events of a dataset version (shared, read-only)."""
    return with_store(Store.load_events, dataset_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_diagnoses(dataset_id: int, version: int) -> pd.DataFrame:
    """The dataset version's diagnoses (shared, read-only)."""
    return with_store(Store.load_diagnoses, dataset_id)


@st.cache_resource(show_spinner=False, max_entries=16)
def dataset_meta(dataset_id: int, version: int) -> dict:
    """The dataset version's metadata (:meth:`analytics.store.Store.get_dataset`: its
    stored ``extract_date`` and ``population_source`` among them)."""
    return with_store(Store.get_dataset, dataset_id)


@st.cache_resource(show_spinner=False, max_entries=32)
def column_values(dataset_id: int, version: int, column: str) -> list[str]:
    """Sorted distinct values of a text column of a dataset (filter options)."""
    values = dataset_events(dataset_id, version)[column].dropna().unique()
    return sorted(str(v) for v in values)


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_attributes(dataset_id: int, version: int) -> pd.DataFrame:
    """Per-patient attributes over each patient's whole record (shared, read-only)."""
    return patient_attributes(dataset_events(dataset_id, version))


@st.cache_resource(show_spinner=False, max_entries=16)
def _extract(dataset_id: int, version: int, chosen: str | None) -> pd.Timestamp | None:
    """The user's extract date, else the dataset version's stored one, else (a dataset
    without one) its latest event date."""
    stored = dataset_meta(dataset_id, version).get("extract_date")
    return extract_date(dataset_events(dataset_id, version),
                        chosen if chosen is not None else stored)


@st.cache_resource(show_spinner="Selecting the population…", max_entries=8, ttl=3600)
def _population(dataset_id: int, version: int, population: str,
                lookback_days: int) -> Population:
    """The dataset version's population (shared, read-only)."""
    meta = dataset_meta(dataset_id, version)
    return apply_population(dataset_events(dataset_id, version),
                            dataset_diagnoses(dataset_id, version),
                            str(meta.get("population_source") or "none"), population,
                            lookback_days)


@st.cache_resource(show_spinner=False, max_entries=32, ttl=3600)
def _population_result(dataset_id: int, version: int, population: str, lookback_days: int,
                       min_cell: int) -> PopulationResult:
    return build_population(_population(dataset_id, version, population, lookback_days),
                            min_cell)


@dataclass(frozen=True)
class Params:
    """The sidebar's population, definition parameters, extract date and privacy
    threshold."""

    definitions: Definitions = field(default_factory=Definitions)
    extract: str | None = None  # ISO date chosen by the user; None = the dataset's
    min_cell: int = DEFAULT_MIN_CELL
    population: str = "back_pain"
    lookback_days: int = DEFAULT_LOOKBACK_DAYS


MeasuresKey = tuple[int, int, str, int, tuple[tuple[str, str], ...], Definitions, str | None]


@st.cache_resource(show_spinner="Reading the patients' whole records…", max_entries=4,
                   ttl=3600)
def _population_measures(dataset_id: int, version: int, population: str, lookback_days: int,
                         definitions: Definitions, chosen: str | None) -> PopulationMeasures:
    """The measures that read each patient's whole record (opioid safety over the full
    history, outcomes by first step), once per population and definitions; every cohort of
    the population selects its patients' rows (shared, read-only)."""
    chosen_population = _population(dataset_id, version, population, lookback_days)
    accepted = dataset_events(dataset_id, version)
    return PopulationMeasures(
        chosen_population.events, definitions, _extract(dataset_id, version, chosen),
        history=chosen_population.full_history(accepted), accepted=accepted,
        diagnoses=dataset_diagnoses(dataset_id, version),
        index_dates=chosen_population.index_date)


@st.cache_resource(show_spinner="Selecting the cohort…", max_entries=8, ttl=3600)
def _measures(key: MeasuresKey) -> CohortMeasures:
    dataset_id, version, population, lookback_days, cohort_items, definitions, chosen = key
    events = _population(dataset_id, version, population, lookback_days).events
    extract = _extract(dataset_id, version, chosen)
    attributes = dataset_attributes(dataset_id, version)
    cohort_events = apply_cohort(events, Cohort.from_params(dict(cohort_items)),
                                 course_gap_days=definitions.course_gap_days, extract=extract,
                                 attributes=attributes)
    whole = _population_measures(dataset_id, version, population, lookback_days, definitions,
                                 chosen)
    return CohortMeasures(cohort_events, definitions, extract, attributes, whole)


@st.cache_resource(show_spinner=False, max_entries=16)
def rows_read(dataset_id: int, version: int) -> int | None:
    """The data rows read from the files behind the dataset version's events: every upload
    since the last replacement (None when no upload report counts them)."""
    reports = with_store(Store.ingest_reports, dataset_id)
    since = [i for i, r in enumerate(reports) if r["action"] in ("create", "replace")]
    counted = [r["report"].get("rows_read") for r in reports[since[-1] if since else 0:]]
    return None if not counted or None in counted else int(sum(counted))


def _name(builder: Callable) -> str:
    return f"{builder.__module__}.{builder.__qualname__}"


@st.cache_resource(show_spinner="Computing…", max_entries=64, ttl=3600)
def _aggregates(keys: tuple[MeasuresKey, ...], name: str, args: tuple, _builder: Callable):
    """``_builder(*measures of keys, *args)``, cached by the builder's name (no threshold)."""
    return _builder(*(_measures(k) for k in keys), *args)


@st.cache_resource(show_spinner=False, max_entries=128, ttl=3600)
def _protected(keys: tuple[MeasuresKey, ...], name: str, args: tuple, min_cell: int,
               _builder: Callable):
    """The cached aggregates protected for ``min_cell``."""
    return _aggregates(keys, name, args, _builder).protect(min_cell)


@dataclass(frozen=True)
class View:
    """What a page looks at: one dataset version, one cohort, one set of parameters.

    Its methods return cached, protected results; pages only render them.
    """

    dataset_id: int
    version: int
    cohort: Cohort
    params: Params

    @property
    def key(self) -> MeasuresKey:
        """The measures' cache key: everything but the privacy threshold."""
        return (self.dataset_id, self.version, self.params.population,
                self.params.lookback_days, tuple(sorted(self.cohort.to_params().items())),
                self.params.definitions, self.params.extract)

    @property
    def min_cell(self) -> int:
        return self.params.min_cell

    def options(self, column: str) -> list[str]:
        """Distinct values of ``column`` in the whole dataset (for filter widgets)."""
        return column_values(self.dataset_id, self.version, column)

    def extract(self) -> pd.Timestamp | None:
        return _extract(self.dataset_id, self.version, self.params.extract)

    def population(self) -> Population:
        """The dataset's population (before the cohort)."""
        return _population(self.dataset_id, self.version, self.params.population,
                           self.params.lookback_days)

    def population_result(self) -> PopulationResult:
        """The protected population line (which population, how many left out, why)."""
        return _population_result(self.dataset_id, self.version, self.params.population,
                                  self.params.lookback_days, self.min_cell)

    def measures(self) -> CohortMeasures:
        return _measures(self.key)

    def events(self) -> pd.DataFrame:
        return self.measures().events

    def patients(self) -> pd.Index:
        return self.measures().patients

    def _result(self, builder: Callable[..., T], *args, others: tuple[View, ...] = ()):
        keys = (self.key, *(o.key for o in others))
        return _protected(keys, _name(builder), args, self.min_cell, builder)

    def overview(self, period_days: int) -> OverviewResult:
        return self._result(overview_counts, period_days)

    def pathways(self, mode: str = "first",
                 techniques: tuple[str, ...] | None = None) -> PathwaysResult:
        return self._result(pathways_counts, mode, techniques)

    def injections(self) -> InjectionsResult:
        return self._result(injections_counts)

    def narcotics(self) -> NarcoticsResult:
        return self._result(narcotics_counts)

    def compare(self, other: View) -> CompareResult:
        """This cohort (A) against ``other`` (B) under this view's parameters."""
        return self._result(compare_counts, others=(other,))

    def safety(self) -> SafetyResult:
        """The opioid-safety measures of the cohort's patients (full history), the years
        and months in the cohort's date window."""
        return self._result(safety_counts, self.cohort.date_from, self.cohort.date_to)

    def outcomes(self, by: str = "stratum") -> OutcomesResult:
        """Outcomes by first step (or by ``by``: sex, age band, index year)."""
        return self._result(outcomes_counts, by)

    def strata(self, by: str, mode: str = "first",
               techniques: tuple[str, ...] | None = None) -> StrataResult:
        """The pathways within each stratum ``by`` (age, sex, index_year)."""
        return self._result(strata_counts, by, mode, techniques)

    def attrition(self) -> AttritionResult:
        """Rows read → accepted → population → with a pathway → cohort."""
        return self._result(attrition_counts, rows_read(self.dataset_id, self.version))

    def pathway_patients(self, mode: str, techniques: tuple[str, ...] | None,
                         selection: Selection) -> PatientsResult:
        """The patients behind a pathway, segment or link (patient level: no threshold)."""
        return _aggregates((self.key,), _name(pathway_patients), (mode, techniques, selection),
                           pathway_patients)

    def timeline(self, patient_id: str) -> TimelineResult:
        """One patient's timeline (patient level: no threshold)."""
        return _aggregates((self.key,), _name(build_timeline), (patient_id,), build_timeline)

    def report(self) -> ReportResult:
        """The HTML report's result: the same cached results as the pages."""
        return ReportResult(
            description=self.cohort.describe(), min_cell=self.min_cell,
            overview=self.overview(REPORT_PERIOD_DAYS), pathways=self.pathways("first", None),
            injections=self.injections(), narcotics=self.narcotics(),
            population=self.population_result(), safety=self.safety())
