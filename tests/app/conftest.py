"""AppTest fixtures: every test module gets its own temporary store.

``ui/data.py`` creates the store (with the bundled "Sample clinic" dataset) in
``PAINPATH_DATA_DIR`` on first use and caches it with ``st.cache_resource``.
The caches of dataset events and analyses are keyed on (dataset id, version),
not on the data directory, so they are cleared whenever a module switches to a
new directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics.cohorts import Cohort, apply_cohort
from analytics.ingest import IngestResult, ingest
from analytics.population import Population, apply_population
from analytics.results.measures import CohortMeasures
from analytics.results.overview import KeyMeasures, period_measures

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CSV = ROOT / "sample_data" / "painpath_sample.csv"
TIMEOUT = 60

PAGES = {
    "overview": "dashboard.py",
    "pathways": "pages/1_Pathways.py",
    "injections": "pages/2_Injections.py",
    "narcotics": "pages/3_Narcotic_courses.py",
    "compare": "pages/4_Compare_cohorts.py",
    "timeline": "pages/5_Patient_timeline.py",
    "data": "pages/6_Data.py",
    "safety": "pages/7_Safety.py",
    "outcomes": "pages/8_Outcomes.py",
}


def _clear_caches() -> None:
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh store directory for the module, exported as PAINPATH_DATA_DIR."""
    path = tmp_path_factory.mktemp("painpath_store")
    _clear_caches()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAINPATH_DATA_DIR", str(path))
        mp.delenv("PAINPATH_PATIENT_VIEWS", raising=False)
        yield path
    _clear_caches()


@pytest.fixture
def app(data_dir: Path) -> Callable[[str], AppTest]:
    """``app("overview")`` → an AppTest of that page (not yet run)."""

    def make(page: str = "overview") -> AppTest:
        return AppTest.from_file(str(ROOT / PAGES.get(page, page)), default_timeout=TIMEOUT)

    return make


@pytest.fixture(scope="session")
def sample_ingest() -> IngestResult:
    """The sample CSV ingested independently of the app."""
    return ingest([SAMPLE_CSV])


def sample_population(ingested: IngestResult, population: str = "back_pain") -> Population:
    """The sample's population as the app takes it (default lookback)."""
    return apply_population(ingested.events, ingested.diagnoses, ingested.population_source,
                            population)


@pytest.fixture(scope="session")
def sample_events(sample_ingest: IngestResult) -> pd.DataFrame:
    """The events the app shows by default: the sample's back-pain population (the sample
    is a clinic export: the patients with a spinal-pain code in its diagnosis column)."""
    return sample_population(sample_ingest).events


@pytest.fixture(scope="session")
def sample_extract(sample_ingest: IngestResult) -> pd.Timestamp:
    """The sample dataset's extract date, fixed at ingest (the app's default)."""
    return sample_ingest.extract_date


@pytest.fixture(scope="session")
def expected(sample_ingest: IngestResult,
             sample_extract: pd.Timestamp) -> Callable[..., KeyMeasures]:
    """``expected(Cohort(...))`` → the Overview's current-period measures for that cohort,
    computed with the analytics functions and the sidebar defaults (back-pain population,
    365-day period, course gap 30, extract date = the dataset's); ``population="all"``
    for all patients."""
    events = {choice: sample_population(sample_ingest, choice).events
              for choice in ("back_pain", "all")}

    def compute(cohort: Cohort, period_days: int = 365,
                population: str = "back_pain") -> KeyMeasures:
        chosen = apply_cohort(events[population], cohort, course_gap_days=30,
                              extract=sample_extract)
        current, _ = period_measures(CohortMeasures(chosen, extract=sample_extract),
                                     period_days)
        return current

    return compute


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → displayed value."""
    return {m.label: m.value for m in at.metric}


def shown_count(n: int, min_cell: int = 11) -> str:
    """A patient count as the app prints it (``<11`` for 1 … 10, thousands with commas)."""
    return f"<{min_cell}" if 0 < n < min_cell else f"{n:,}"


def run_page(at: AppTest, page: str) -> AppTest:
    """Switch to ``page`` and run twice: in AppTest the first run after ``switch_page``
    renders with the widgets' defaults, the second with the persisted values."""
    at.switch_page(PAGES.get(page, page)).run()
    return at.run()
