"""Cached data access for the pages: the store, dataset events and analysis results.

Streamlit's caches are keyed here on explicit, small, hashable keys — the
dataset id and version, the cohort's parameters and the definition
parameters — never on a DataFrame (Streamlit hashes only a sample of a large
frame and could return a stale result).  Frames come from ``cache_resource``,
so every session shares one copy; treat them as read-only.  The caches are
bounded by entry count and age, so memory stays bounded however many cohorts
users try (a cohort of a 1M-event dataset and its results weigh tens of MB).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd
import streamlit as st

from analytics import injections, narcotics, overview, pathways
from analytics.cohorts import Cohort, apply_cohort, patient_attributes
from analytics.ingest import ingest
from analytics.intervals import extract_date
from analytics.schema import isin_ids
from analytics.store import Store, StoreDamagedError, StoreError, move_aside

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_data" / "painpath_sample.csv"
SAMPLE_NAME = "Sample clinic"

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
    return os.environ.get("PAINPATH_DATA_DIR", str(ROOT / "data"))


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


@st.cache_resource(show_spinner=False, max_entries=32)
def column_values(dataset_id: int, version: int, column: str) -> list[str]:
    """Sorted distinct values of a text column of a dataset (filter options)."""
    values = dataset_events(dataset_id, version)[column].dropna().unique()
    return sorted(str(v) for v in values)


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_attributes(dataset_id: int, version: int) -> pd.DataFrame:
    """Per-patient attributes over each patient's whole record (shared, read-only)."""
    return patient_attributes(dataset_events(dataset_id, version))


@dataclass(frozen=True)
class Params:
    """Definition parameters and the privacy threshold chosen in the sidebar."""

    era_gap_days: int = 30
    course_gap_days: int = 30
    combination_window_days: int = 30
    max_steps: int = 6
    extract: str | None = None  # ISO date chosen by the user; None = latest event date
    min_cell: int = 11


@dataclass(frozen=True)
class PathwayTables:
    """The pathway results a page shows, computed once per view, mode and technique set."""

    steps: pd.DataFrame
    counts: pd.DataFrame
    transitions: pd.DataFrame
    lines: pd.DataFrame
    step_times: pd.DataFrame


@dataclass(frozen=True)
class View:
    """What a page looks at: one dataset version, one cohort, one set of parameters.

    Its methods return cached analysis results; pages only render them.
    """

    dataset_id: int
    version: int
    cohort: Cohort
    params: Params

    @property
    def key(self) -> tuple:
        return (self.dataset_id, self.version, tuple(sorted(self.cohort.to_params().items())),
                self.params)

    def all_events(self) -> pd.DataFrame:
        return dataset_events(self.dataset_id, self.version)

    def options(self, column: str) -> list[str]:
        """Distinct values of ``column`` in the whole dataset (for filter widgets)."""
        return column_values(self.dataset_id, self.version, column)

    def extract(self) -> pd.Timestamp | None:
        return _extract(self.dataset_id, self.version, self.params.extract)

    def events(self) -> pd.DataFrame:
        return _cohort_events(self.key)

    def _get(self, name: str, *args):
        return _analysis(self.key, name, args)

    def patients(self) -> pd.Index:
        return self._get("patients")

    def attributes(self) -> pd.DataFrame:
        return self._get("attributes")

    def steps(self, mode: str = "first", techniques: tuple[str, ...] | None = None):
        return self._get("steps", mode, techniques)

    def pathway_tables(self, mode: str = "first",
                       techniques: tuple[str, ...] | None = None) -> PathwayTables:
        return self._get("pathway_tables", mode, techniques)

    def courses(self) -> pd.DataFrame:
        return self._get("courses")

    def sessions(self) -> pd.DataFrame:
        return self._get("sessions")

    def get(self, name: str, *args):
        """Any other analysis by name (see ``_compute``)."""
        return self._get(name, *args)


@st.cache_resource(show_spinner=False, max_entries=16)
def _extract(dataset_id: int, version: int, chosen: str | None) -> pd.Timestamp | None:
    return extract_date(dataset_events(dataset_id, version), chosen)


@st.cache_resource(show_spinner="Selecting the cohort…", max_entries=8, ttl=3600)
def _cohort_events(key: tuple) -> pd.DataFrame:
    dataset_id, version, cohort_items, params = key
    events = dataset_events(dataset_id, version)
    cohort = Cohort.from_params(dict(cohort_items))
    extract = _extract(dataset_id, version, params.extract)
    return apply_cohort(events, cohort, course_gap_days=params.course_gap_days, extract=extract,
                        attributes=dataset_attributes(dataset_id, version))


@st.cache_resource(show_spinner="Computing…", max_entries=64, ttl=3600)
def _analysis(key: tuple, name: str, args: tuple):
    view = View(key[0], key[1], Cohort.from_params(dict(key[2])), key[3])
    return _compute(view, name, args)


def _compute(view: View, name: str, args: tuple):
    p = view.params
    events = view.events()
    extract = view.extract()
    if name == "patients":
        return pd.Index(events["patient_id"].unique())
    if name == "attributes":
        attributes = dataset_attributes(view.dataset_id, view.version)
        return attributes.loc[isin_ids(attributes.index, view.patients())]
    if name == "steps":
        mode, techniques = args
        kwargs = {} if techniques is None else {"techniques": techniques}
        return pathways.pathway_steps(
            events, mode=mode, era_gap_days=p.era_gap_days,
            combination_window_days=p.combination_window_days, max_steps=p.max_steps,
            extract=extract, **kwargs)
    if name == "pathway_counts":
        return pathways.pathway_counts(view.steps(*args), view.patients())
    if name == "pathway_tables":
        steps = view.steps(*args)
        patients = view.patients()
        return PathwayTables(
            steps=steps,
            counts=view.get("pathway_counts", *args),
            transitions=pathways.pathway_transitions(steps),
            lines=pathways.lines_of_therapy(steps, patients),
            step_times=pathways.time_between_steps(steps),
        )
    if name == "eras":
        return pathways.technique_eras(events, era_gap_days=p.era_gap_days, extract=extract)
    if name == "concordance":
        return pathways.step_therapy_concordance(events)
    if name == "courses":
        return narcotics.narcotic_courses(events, course_gap_days=p.course_gap_days,
                                          extract=extract)
    if name == "fill_mme":
        return narcotics.fill_mme(events)
    if name == "overlap":
        return narcotics.relaxant_overlap(events, extract=extract)
    if name == "active_by_month":
        return narcotics.active_patients_by_month(events, extract=extract)
    if name == "course_km":
        return narcotics.course_survival(view.courses())
    if name == "sessions":
        return injections.injection_sessions(events)
    if name == "intervals":
        return injections.repeat_intervals(view.sessions())
    if name == "limit_windows":
        return injections.limit_windows(events)
    if name == "repeat_km":
        return injections.repeat_survival(view.sessions(), extract=extract)
    if name == "pain_change":
        return injections.pain_score_change(events, view.sessions())
    if name == "measures":
        return overview.measures(events, course_gap_days=p.course_gap_days, extract=extract)
    if name == "period_measures":
        (period_days,) = args
        return overview.period_measures(events, period_days=period_days,
                                        course_gap_days=p.course_gap_days, extract=extract)
    if name == "monthly":
        return overview.monthly_events(events)
    if name == "new_by_month":
        return overview.new_patients_by_month(events)
    if name == "physicians":
        return overview.physician_table(
            events, course_gap_days=p.course_gap_days, extract=extract,
            attributes=dataset_attributes(view.dataset_id, view.version))
    raise KeyError(f"unknown analysis {name!r}")
