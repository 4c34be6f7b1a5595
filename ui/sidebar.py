"""The one sidebar every page calls: dataset, population, cohort filters, definitions,
privacy.

Every widget has a ``key`` equal to its URL parameter, ``persist_state="session"``
(the value survives page switches) and ``bind="query-params"`` (a copied URL
reopens the same cohort).  Keys of cohort widgets are the field names of
:class:`analytics.cohorts.Cohort`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from analytics import settings
from analytics.cohorts import AGE_BANDS, Cohort
from analytics.pathways import PATHWAY_FILTERS
from analytics.population import DEFAULT_LOOKBACK_DAYS, POPULATION_NAMES, POPULATIONS
from analytics.results.measures import Definitions
from analytics.results.privacy import DEFAULT_MIN_CELL
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES
from ui import auth
from ui.data import Params, View, column_values, dataset_events, datasets

_KW = {"persist_state": "session", "bind": "query-params"}
_DEFAULTS = Definitions()
PATHWAY_FILTER_LABELS = {"all": "All pieces", "first": "First of each",
                         "changes": "Changes only"}
_ANY_YES_NO = ("any", "yes", "no")
_TRISTATE = {"any": None, "yes": True, "no": False}


def _technique_name(t: str) -> str:
    return TECHNIQUE_LABELS.get(t, t)


def patient_level_views_enabled() -> bool:
    """Whether patient-level views (timeline, patient lists) are on for this session.

    Switched off for the deployment with the environment variable
    ``PAINPATH_PATIENT_VIEWS=off``, and for users whose role may not see them (managers;
    see :mod:`ui.auth`).
    """
    return settings.patient_views_enabled() and auth.patient_level_allowed()


PAGES: tuple[tuple[str, str, str], ...] = (
    ("dashboard.py", "Overview", ":material/dashboard:"),
    ("pages/1_Pathways.py", "Pathways", ":material/route:"),
    ("pages/2_Injections.py", "Injections", ":material/vaccines:"),
    ("pages/3_Narcotic_courses.py", "Narcotic courses", ":material/medication:"),
    ("pages/7_Safety.py", "Opioid safety", ":material/health_and_safety:"),
    ("pages/8_Outcomes.py", "Outcomes", ":material/monitoring:"),
    ("pages/4_Compare_cohorts.py", "Compare cohorts", ":material/compare_arrows:"),
    ("pages/5_Patient_timeline.py", "Patient timeline", ":material/timeline:"),
    ("pages/6_Data.py", "Data", ":material/database:"),
)
"""Sidebar navigation: Streamlit's built-in pages mode (files in ``pages/``), listed with
readable labels (the built-in list would call the Overview "dashboard")."""


def page_setup(title: str, icon: str = "🩺") -> None:
    """Common page configuration, the access gate and the navigation links (call first on
    every page)."""
    st.set_page_config(page_title=f"{title} · PainPath", page_icon=icon, layout="wide")
    access = auth.require_access()  # stops unless the user may use PainPath
    st.session_state[_SWITCHED] = st.session_state.get(_PAGE) != title
    st.session_state[_PAGE] = title
    with st.sidebar:
        for path, label, page_icon in PAGES:
            if path == "pages/5_Patient_timeline.py" and not patient_level_views_enabled():
                continue
            try:
                st.page_link(path, label=label, icon=page_icon)
            except StreamlitPageNotFoundError:
                # AppTest (streamlit.testing) registers no pages; a real server always does.
                break
    auth.show_access(access)
    st.sidebar.divider()
    auth.require_page(title, access)  # stops a patient-level page for a manager


# Widget values restored from the URL on a first load are not kept by
# persist_state on the next page switch (Streamlit 1.67), so the sidebar keeps
# its own copy of the bound values and hands them back on the first run of a
# page after a switch (a run in which no widget can have been changed).
_SHADOW = "_painpath_bound_values"
_PAGE = "_painpath_page"
_SWITCHED = "_painpath_switched"


BOUND_KEYS: tuple[str, ...] = (
    "dataset", "population", "lookback_days", "date_from", "date_to", "providers", "sites",
    "diagnosis", "sexes", "age_bands", "tried", "never_tried", "pathway_starts_with",
    "surgery_before_injection", "long_term_narcotic", "min_sessions", "max_sessions",
    "era_gap_days", "course_gap_days", "combination_window_days", "min_era_days",
    "min_post_combination_days", "pathway_filter", "max_steps", "extract_date", "min_cell",
)
"""Keys (= URL parameters) of the sidebar's widgets."""


def _restore(dataset_names: list[str]) -> None:
    if not st.session_state.get(_SWITCHED):
        return
    for key, value in st.session_state.get(_SHADOW, {}).items():
        if key == "dataset" and value not in dataset_names:
            continue
        st.session_state[key] = value


def _remember() -> None:
    st.session_state[_SHADOW] = {
        k: st.session_state[k] for k in BOUND_KEYS if k in st.session_state}


def open_page(title: str, heading: str, *, needs_events: bool = True) -> View:
    """Start a page: configuration, heading, the shared sidebar and the population line
    (which population is shown, how many patients it leaves out and why).

    Stops the page with a short note when there is no dataset yet, when the population
    is empty, or (with ``needs_events``) when the cohort has no patients.
    """
    page_setup(title)
    st.title(heading)
    view = sidebar()
    if view is None:
        st.stop()
    st.caption(view.population_result().line())
    if view.population().patients_kept == 0:
        st.info("The population holds no patient. Choose **All patients** in the sidebar.",
                icon="🔍")
        st.stop()
    if needs_events and view.events().empty:
        st.info("No patients match this cohort. Widen the filters in the sidebar.", icon="🔍")
        st.stop()
    return view


def sidebar() -> View | None:
    """Render the shared sidebar and return the page's :class:`View` (None: no data)."""
    table = datasets()
    if table.empty:
        st.sidebar.warning("No dataset yet. Upload an export on the **Data** page.")
        return None
    names = table["name"].tolist()
    _restore(names)
    with st.sidebar:
        name = st.selectbox("Dataset", names, key="dataset", help="Datasets in the local store. "
                            "Upload or manage them on the Data page.", **_KW)
        row = table.loc[table["name"] == name].iloc[0]
        dataset_id, version = int(row["dataset_id"]), int(row["version"])
        events = dataset_events(dataset_id, version)
        population, lookback = _population_widgets(str(row["population_source"]))
        cohort = _cohort_widgets(
            events, lambda column: column_values(dataset_id, version, column))
        params = _parameter_widgets(row, population, lookback)
    _remember()
    return View(dataset_id, version, cohort, params)


def _population_widgets(source: str) -> tuple[str, int]:
    st.markdown("#### Population")
    population = st.radio(
        "Patients", POPULATIONS, format_func=POPULATION_NAMES.get, horizontal=True,
        key="population", help="Back-pain patients: patients with a back or neck pain "
        "diagnosis (from a conditions table, or the diagnosis column of a clinic's export). "
        "All patients: everyone in the dataset.", **_KW)
    lookback = st.number_input(
        "Lookback (days)", min_value=0, max_value=3650, value=DEFAULT_LOOKBACK_DAYS, step=1,
        key="lookback_days", disabled=population != "back_pain" or source != "conditions",
        help="EHR-wide exports (with a conditions table): a back-pain patient's events count "
        "from this many days before the first back or neck pain diagnosis on (an event counts "
        "when it starts on or after that day). A clinic's own export has no date cut.", **_KW)
    return str(population or "back_pain"), int(lookback)


def _cohort_widgets(events: pd.DataFrame, options: Callable[[str], list[str]]) -> Cohort:
    st.markdown("#### Cohort")
    first = events["event_date"].min()
    last = events["event_date"].max()
    lo = first.date() if pd.notna(first) else None
    hi = last.date() if pd.notna(last) else None
    c1, c2 = st.columns(2)
    date_from = c1.date_input("From", value=None, min_value=lo, max_value=hi, key="date_from",
                              help="Only events on or after this date.", **_KW)
    date_to = c2.date_input("To", value=None, min_value=lo, max_value=hi, key="date_to",
                            help="Only events on or before this date.", **_KW)
    providers = st.multiselect("Physician", options("provider_id"), key="providers",
                               help="The physician on most of the patient's events.", **_KW)
    sites = st.multiselect("Site", options("site"), key="sites", **_KW)
    diagnosis = st.text_input("Diagnosis", key="diagnosis", placeholder="e.g. M96.1 or stenosis",
                              help="ICD-10 code prefix or text on any of the patient's "
                              "diagnoses.", **_KW)
    with st.expander("Demographics"):
        sexes = st.multiselect("Sex", options("sex"), key="sexes", **_KW)
        age_bands = st.multiselect("Age band", list(AGE_BANDS), key="age_bands",
                                   help="Age at the first event in the window.", **_KW)
    with st.expander("Treatment history"):
        techniques = list(TECHNIQUES[:-1])
        tried = st.multiselect("Tried (all of)", techniques, format_func=_technique_name,
                               key="tried", **_KW)
        never = st.multiselect("Never tried", techniques, format_func=_technique_name,
                               key="never_tried", **_KW)
        starts = st.selectbox("Pathway starts with", ["", *techniques],
                              format_func=lambda t: "any" if t == "" else _technique_name(t),
                              key="pathway_starts_with",
                              help="A technique in the first step (mode \"first\").", **_KW)
        surgery = st.radio("Surgery before first injection", _ANY_YES_NO, horizontal=True,
                           key="surgery_before_injection", **_KW)
        long_term = st.radio("Long-term narcotic course (≥ 90 days)", _ANY_YES_NO,
                             horizontal=True, key="long_term_narcotic", **_KW)
        c1, c2 = st.columns(2)
        min_sessions = c1.number_input("Min. injection sessions", min_value=0, value=None,
                                       step=1, key="min_sessions", **_KW)
        max_sessions = c2.number_input("Max. injection sessions", min_value=0, value=None,
                                       step=1, key="max_sessions", **_KW)
    return Cohort(
        date_from=date_from if isinstance(date_from, dt.date) else None,
        date_to=date_to if isinstance(date_to, dt.date) else None,
        sexes=tuple(sexes), age_bands=tuple(age_bands), diagnosis=diagnosis or "",
        providers=tuple(providers), sites=tuple(sites), tried=tuple(tried),
        never_tried=tuple(never), pathway_starts_with=starts or "",
        surgery_before_injection=_TRISTATE[surgery], long_term_narcotic=_TRISTATE[long_term],
        min_sessions=None if min_sessions is None else int(min_sessions),
        max_sessions=None if max_sessions is None else int(max_sessions),
    )


def _parameter_widgets(dataset: pd.Series, population: str, lookback: int) -> Params:
    with st.expander("Definitions"):
        era_gap = st.number_input(
            "Era gap (days)", min_value=0, max_value=365, value=30, step=1, key="era_gap_days",
            help="Technique era: an event that starts no more than this many days after the "
            "era's current end joins the era.", **_KW)
        course_gap = st.number_input(
            "Course gap (days)", min_value=0, max_value=365, value=30, step=1,
            key="course_gap_days",
            help="Narcotic course: a fill that starts no more than this many days after the "
            "course's current end continues it; supplies do not stack. Long-term = ≥ 90 days.",
            **_KW)
        window = st.number_input(
            "Combination window (days)", min_value=1, max_value=365, value=30, step=1,
            key="combination_window_days",
            help="Pathway mode \"eras\": eras of different techniques overlapping at least this "
            "many days form a combined step; a shorter overlap is a switch.", **_KW)
        min_era = st.number_input(
            "Minimum era (days)", min_value=0, max_value=365, value=_DEFAULTS.min_era_days,
            step=1, key="min_era_days",
            help="Pathway mode \"eras\" (TreatmentPatterns' minEraDuration): events lasting "
            "fewer days (last covered day − start) are dropped before eras are formed.", **_KW)
        min_post = st.number_input(
            "Minimum post-combination (days)", min_value=0, max_value=365,
            value=_DEFAULTS.min_post_combination_days, step=1,
            key="min_post_combination_days",
            help="Pathway mode \"eras\" (TreatmentPatterns' minPostCombinationDuration): after "
            "combining overlapping eras, pieces shorter than this are dropped (0 keeps every "
            "piece; TreatmentPatterns' default 30 drops single-day injections and visits).",
            **_KW)
        pathway_filter = st.selectbox(
            "Steps kept", PATHWAY_FILTERS,
            index=PATHWAY_FILTERS.index(_DEFAULTS.pathway_filter),
            format_func=PATHWAY_FILTER_LABELS.get, key="pathway_filter",
            help="Pathway mode \"eras\" (TreatmentPatterns' filterTreatments): all pieces; "
            "the first piece of each technique set; or changes only (consecutive pieces of the "
            "same set merged).", **_KW)
        max_steps = st.number_input(
            "Maximum steps", min_value=1, max_value=20, value=_DEFAULTS.max_steps, step=1,
            key="max_steps", help="Steps kept per pathway (TreatmentPatterns' maxPathLength).",
            **_KW)
        stored = dataset["extract_date"]
        extract = st.date_input(
            "Extract date", value=None, key="extract_date",
            help="The data's 'today': courses covering it are ongoing (censored). Empty = the "
            "date fixed when the data was uploaded, the latest date of the export "
            f"({stored.date() if pd.notna(stored) else 'none'}).", **_KW)
    min_cell = st.number_input(
        "Small-cell threshold", min_value=DEFAULT_MIN_CELL, max_value=100,
        value=DEFAULT_MIN_CELL, step=1, key="min_cell",
        help="Counts (patients, events, fills, sessions, courses) from 1 to this − 1 are shown "
        "as '<N' (CMS cell-size policy), and any figure that would let one be worked out as "
        "'hidden'; rare pathways merge into 'other pathways'.", **_KW)
    return Params(
        definitions=Definitions(
            era_gap_days=int(era_gap), course_gap_days=int(course_gap),
            combination_window_days=int(window), max_steps=int(max_steps),
            min_era_days=int(min_era), min_post_combination_days=int(min_post),
            pathway_filter=str(pathway_filter or _DEFAULTS.pathway_filter)),
        extract=extract.isoformat() if isinstance(extract, dt.date) else None,
        min_cell=int(min_cell), population=population, lookback_days=lookback,
    )
