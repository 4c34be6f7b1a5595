"""Cohorts: which patients (and which of their events) an analysis looks at.

A :class:`Cohort` is a plain value.  It round-trips through a flat
``dict[str, str]`` (:meth:`Cohort.to_params` / :meth:`Cohort.from_params`) so a
cohort can live in a URL's query string.  :func:`select_patients` returns the
patient ids that meet every criterion; :func:`apply_cohort` returns their
events.  Criteria (all optional, combined with AND):

- ``date_from`` / ``date_to``: the analysis window.  Only events whose
  ``event_date`` falls inside it are kept, and only patients with at least one
  such event are in the cohort.
- ``sexes``: the patient's sex (first non-missing value).
- ``age_bands``: age at the patient's first event (the ``age`` column when
  given, else event year − ``birth_year``), in :data:`AGE_BANDS`.
- ``diagnosis``: case-insensitive code prefix (``M96``) or text fragment
  (``stenosis``) matched against any of the patient's ``diagnosis`` values.
- ``providers`` / ``sites``: the patient's attributed physician / site, i.e. the
  one on most of the patient's events (ties: the earliest).

Patient attributes (sex, age, physician, site) describe the patient's whole
record, not only the window, so that a patient keeps one physician and one age
band whatever window is chosen (and they can be computed once per dataset).
- ``tried`` / ``never_tried``: techniques the patient used (all of them) /
  did not use (none of them).
- ``pathway_starts_with``: a technique in the first step of the patient's
  pathway, mode "first" (a same-day ``physical_therapy+narcotic`` first step
  starts with both).
- ``surgery_before_injection``: True keeps patients with a surgery before their
  first injection date (strictly before); False keeps patients with injections
  and no surgery before the first.
- ``long_term_narcotic``: True keeps patients with a long-term narcotic course
  (≥ 90 days, :func:`analytics.narcotics.narcotic_courses`); False those with
  narcotic events but none long-term.
- ``min_sessions`` / ``max_sessions``: number of injection sessions (distinct
  injection dates) in the window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.injections import injection_sessions
from analytics.intervals import day_numbers
from analytics.narcotics import narcotic_courses
from analytics.pathways import pathway_steps
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES, isin_ids

AGE_BANDS: tuple[str, ...] = ("<40", "40–54", "55–64", "65–74", "75+")
_AGE_EDGES = [-np.inf, 40, 55, 65, 75, np.inf]

_LIST_FIELDS = ("sexes", "age_bands", "providers", "sites", "tried", "never_tried")
_DATE_FIELDS = ("date_from", "date_to")
_BOOL_FIELDS = ("surgery_before_injection", "long_term_narcotic")
_INT_FIELDS = ("min_sessions", "max_sessions")
_TECHNIQUE_FIELDS = ("tried", "never_tried", "pathway_starts_with")
EVERYONE = "All patients of the population"
CRITERION_LABELS: dict[str, str] = {
    "date_from": "From", "date_to": "To", "sexes": "Sex", "age_bands": "Age band",
    "diagnosis": "Diagnosis", "providers": "Physician", "sites": "Site",
    "tried": "Tried (all of)", "never_tried": "Never tried",
    "pathway_starts_with": "Pathway starts with",
    "surgery_before_injection": "Surgery before first injection",
    "long_term_narcotic": "Long-term narcotic course (≥ 90 days)",
    "min_sessions": "Min. injection sessions", "max_sessions": "Max. injection sessions",
}
"""Each criterion's label, as the sidebar names it."""


@dataclass(frozen=True)
class Cohort:
    """A cohort definition; the default selects every patient."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sexes: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    diagnosis: str = ""
    providers: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    tried: tuple[str, ...] = ()
    never_tried: tuple[str, ...] = ()
    pathway_starts_with: str = ""
    surgery_before_injection: bool | None = None
    long_term_narcotic: bool | None = None
    min_sessions: int | None = None
    max_sessions: int | None = None
    label: str = field(default="", compare=False)

    def is_everyone(self) -> bool:
        """True when no criterion is set."""
        return self.to_params() == {}

    def to_params(self) -> dict[str, str]:
        """Flat ``{name: text}`` of the criteria that are set (lists joined by ``,``)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name == "label":
                continue
            value = getattr(self, f.name)
            if value in (None, "", ()):
                continue
            if f.name in _LIST_FIELDS:
                out[f.name] = ",".join(value)
            elif f.name in _DATE_FIELDS:
                out[f.name] = value.isoformat()
            elif f.name in _BOOL_FIELDS:
                out[f.name] = "yes" if value else "no"
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_params(cls, params: dict[str, str]) -> Cohort:
        """Inverse of :meth:`to_params`; unknown keys and unreadable values are ignored."""
        kwargs: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = params.get(f.name)
            if raw is None or raw == "" or f.name == "label":
                continue
            try:
                if f.name in _LIST_FIELDS:
                    kwargs[f.name] = tuple(v for v in str(raw).split(",") if v)
                elif f.name in _DATE_FIELDS:
                    kwargs[f.name] = dt.date.fromisoformat(str(raw))
                elif f.name in _BOOL_FIELDS:
                    kwargs[f.name] = str(raw).lower() in ("yes", "true", "1")
                elif f.name in _INT_FIELDS:
                    kwargs[f.name] = int(raw)
                else:
                    kwargs[f.name] = str(raw)
            except ValueError:
                continue
        return cls(**kwargs)

    def describe(self) -> str:
        """The cohort in words, with the sidebar's labels, e.g. for report headers:
        ``"Physician: DR02; Tried (all of): Injection"``, or ``"All patients of the
        population"`` when no criterion is set."""
        parts = []
        for name, text in self.to_params().items():
            values = text.split(",") if name in _LIST_FIELDS else [text]
            if name in _TECHNIQUE_FIELDS:
                values = [TECHNIQUE_LABELS.get(v, v) for v in values]
            parts.append(f"{CRITERION_LABELS[name]}: {', '.join(values)}")
        return "; ".join(parts) if parts else EVERYONE


def _mode_per_patient(events: pd.DataFrame, column: str) -> pd.Series:
    """The value of ``column`` on most of each patient's events (ties: earliest event)."""
    sub = events.loc[events[column].notna(), ["patient_id", column, "event_date"]]
    if sub.empty:
        return pd.Series(dtype="string", name=column)
    agg = (
        sub.groupby(["patient_id", column], observed=True, sort=False)
        .agg(n=("event_date", "size"), first=("event_date", "min"))
        .reset_index()
        .sort_values(["patient_id", "n", "first"], ascending=[True, False, True])
        .drop_duplicates("patient_id")
    )
    return agg.set_index("patient_id")[column]


def age_band(age: pd.Series) -> pd.Series:
    """Age band labels of :data:`AGE_BANDS` (NA where the age is unknown)."""
    bands = pd.cut(age.astype("float64"), _AGE_EDGES, right=False, labels=list(AGE_BANDS))
    return bands.astype("string")


def patient_attributes(events: pd.DataFrame) -> pd.DataFrame:
    """One row per patient (index ``patient_id``).

    Columns: ``first_date``, ``last_date``, ``events``, ``sex`` (first
    non-missing), ``age`` (at the first event: the ``age`` column of that
    event when given, else first-event year − ``birth_year``; capped at 90),
    ``age_band``, ``provider_id`` and ``site`` (attributed: on most events,
    ties earliest), ``diagnosis`` (the value on most events, ties earliest).
    """
    cols = ["first_date", "last_date", "events", "sex", "age", "age_band", "provider_id", "site",
            "diagnosis"]
    if events.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="patient_id", dtype="string"))
    ordered = events.sort_values(["patient_id", "event_date"], kind="stable")
    grouped = ordered.groupby("patient_id", sort=True, observed=True)
    out = grouped.agg(
        first_date=("event_date", "min"),
        last_date=("event_date", "max"),
        events=("event_date", "size"),
        sex=("sex", "first"),
        birth_year=("birth_year", "first"),
        first_age=("age", "first"),
    )
    year_age = out["first_date"].dt.year - out["birth_year"]
    out["age"] = out["first_age"].fillna(year_age).clip(upper=90)
    out["age_band"] = age_band(out["age"])
    out["provider_id"] = _mode_per_patient(events, "provider_id").reindex(out.index)
    out["site"] = _mode_per_patient(events, "site").reindex(out.index)
    out["diagnosis"] = _mode_per_patient(events, "diagnosis").reindex(out.index)
    return out[cols]


@dataclass(frozen=True)
class CohortCriteria:
    """What every cohort criterion reads, per patient, for one set of events (a
    population's, or its events inside a date window): computed once
    (:func:`cohort_criteria`), so that a cohort is a boolean selection
    (:meth:`select`) instead of a new computation.

    ``patients``: the patients with an event (sorted ids); per patient, aligned with it:
    ``attributes`` (sex, age band, physician, site over the whole record),
    ``techniques`` / ``first_step`` (bit ``i`` = ``TECHNIQUES[i]`` used at all / in the
    first pathway step, mode "first" over every technique), ``first_injection`` /
    ``first_surgery`` (day numbers; :data:`NO_DAY` when none), ``narcotic_course`` /
    ``long_term_course`` (a narcotic course / one ≥ 90 days), ``sessions`` (injection
    sessions).  ``diagnosis_patients`` / ``diagnosis_values``: the distinct pairs of a
    patient (position) and a lower-cased ``diagnosis`` value of its events.
    """

    patients: pd.Index
    attributes: pd.DataFrame
    techniques: np.ndarray
    first_step: np.ndarray
    first_injection: np.ndarray
    first_surgery: np.ndarray
    narcotic_course: np.ndarray
    long_term_course: np.ndarray
    sessions: np.ndarray
    diagnosis_patients: np.ndarray
    diagnosis_values: pd.Categorical

    def select(self, cohort: Cohort) -> np.ndarray:
        """Boolean mask over :attr:`patients`: those meeting every criterion of ``cohort``
        except its date window (these criteria were computed for the window's events)."""
        keep = np.ones(len(self.patients), dtype=bool)
        attrs = self.attributes
        for column, wanted in (("sex", cohort.sexes), ("age_band", cohort.age_bands),
                               ("provider_id", cohort.providers), ("site", cohort.sites)):
            if wanted:
                keep &= attrs[column].isin(wanted).to_numpy(dtype=bool, na_value=False)
        if cohort.diagnosis.strip():
            needle = cohort.diagnosis.strip().lower()
            categories = pd.Series(self.diagnosis_values.categories, dtype="string")
            hit_value = categories.str.contains(needle, regex=False).to_numpy(
                dtype=bool, na_value=False)
            hit = np.zeros(len(self.patients), dtype=bool)
            codes = self.diagnosis_values.codes
            hit[self.diagnosis_patients[(codes >= 0) & hit_value[codes]]] = True
            keep &= hit
        bit = {t: np.uint8(1 << i) for i, t in enumerate(TECHNIQUES)}
        for technique in cohort.tried:
            keep &= (self.techniques & bit.get(technique, 0)) > 0
        for technique in cohort.never_tried:
            keep &= (self.techniques & bit.get(technique, 0)) == 0
        if cohort.pathway_starts_with:
            keep &= (self.first_step & bit.get(cohort.pathway_starts_with, 0)) > 0
        if cohort.surgery_before_injection is not None:
            injected = self.first_injection != NO_DAY
            before = injected & (self.first_surgery < self.first_injection)
            keep &= before if cohort.surgery_before_injection else injected & ~before
        if cohort.long_term_narcotic is not None:
            keep &= (self.long_term_course if cohort.long_term_narcotic
                     else self.narcotic_course & ~self.long_term_course)
        if cohort.min_sessions is not None:
            keep &= self.sessions >= cohort.min_sessions
        if cohort.max_sessions is not None:
            keep &= self.sessions <= cohort.max_sessions
        return keep


NO_DAY = np.iinfo(np.int64).max
"""Day number of "never" in :class:`CohortCriteria`."""


def _first_day(codes: np.ndarray, days: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, NO_DAY, dtype=np.int64)
    np.minimum.at(first, codes, days)
    return first


def cohort_criteria(
    events: pd.DataFrame,
    *,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    attributes: pd.DataFrame | None = None,
) -> CohortCriteria:
    """:class:`CohortCriteria` of ``events`` (already cut to the date window, if any):
    pathway steps (mode "first", every technique), narcotic courses (``course_gap_days``,
    ``extract``) and injection sessions of these events, each computed once.
    ``attributes``: :func:`patient_attributes` of the patients' whole record (computed
    from ``events`` when not given)."""
    ids = pd.Index(events["patient_id"].unique(), dtype="string", name="patient_id").sort_values()
    n = len(ids)
    codes = ids.get_indexer(events["patient_id"])
    attrs = patient_attributes(events) if attributes is None else attributes
    attrs = attrs.reindex(ids)[["sex", "age_band", "provider_id", "site"]]
    technique = pd.Categorical(events["technique"], categories=TECHNIQUES).codes
    used = np.zeros(n, dtype=np.uint8)
    known = technique >= 0
    np.bitwise_or.at(used, codes[known], (1 << technique[known]).astype(np.uint8))
    days = day_numbers(events["event_date"])
    injection, surgery = technique == TECHNIQUES.index("injection"), technique == TECHNIQUES.index(
        "surgery")
    first_injection = _first_day(codes[injection], days[injection], n)
    first_surgery = _first_day(codes[surgery], days[surgery], n)
    first_step = np.zeros(n, dtype=np.uint8)
    if n:
        steps = pathway_steps(events, mode="first", techniques=TECHNIQUES, extract=extract)
        first = steps.loc[steps["step"] == 1]
        padded = "+" + first["label"].astype("string") + "+"
        at = ids.get_indexer(first["patient_id"])
        for i, name in enumerate(TECHNIQUES):
            has = padded.str.contains(f"+{name}+", regex=False).to_numpy(dtype=bool,
                                                                         na_value=False)
            first_step[at[has]] |= np.uint8(1 << i)
    courses = narcotic_courses(events, course_gap_days=course_gap_days, extract=extract)
    narcotic_course = np.zeros(n, dtype=bool)
    long_term_course = np.zeros(n, dtype=bool)
    course_at = ids.get_indexer(courses["patient_id"])
    narcotic_course[course_at] = True
    long_term_course[course_at[courses["long_term"].to_numpy(dtype=bool)]] = True
    sessions = injection_sessions(events)
    session_count = np.bincount(ids.get_indexer(sessions["patient_id"]), minlength=n)
    diagnosis = events["diagnosis"].str.lower()
    present = diagnosis.notna().to_numpy()
    pairs = pd.DataFrame({"patient": codes[present],
                          "value": diagnosis[present].to_numpy(dtype=object)}).drop_duplicates()
    return CohortCriteria(
        patients=ids, attributes=attrs, techniques=used, first_step=first_step,
        first_injection=first_injection, first_surgery=first_surgery,
        narcotic_course=narcotic_course, long_term_course=long_term_course,
        sessions=session_count.astype(np.int64),
        diagnosis_patients=pairs["patient"].to_numpy(dtype=np.int64),
        diagnosis_values=pd.Categorical(pairs["value"]),
    )


def select_patients(
    events: pd.DataFrame,
    cohort: Cohort,
    *,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    attributes: pd.DataFrame | None = None,
) -> pd.Index:
    """Patient ids of the cohort, sorted (see the module docstring for each criterion):
    :func:`cohort_criteria` of the window's events, selected by :meth:`CohortCriteria.select`.

    ``attributes`` is :func:`patient_attributes` of ``events`` when the caller
    has it already (it is computed otherwise).
    """
    window = window_events(events, cohort)
    if window.empty:
        return pd.Index([], dtype="string", name="patient_id")
    attrs = patient_attributes(events) if attributes is None else attributes
    criteria = cohort_criteria(window, course_gap_days=course_gap_days, extract=extract,
                               attributes=attrs)
    return criteria.patients[criteria.select(cohort)]


def window_events(events: pd.DataFrame, cohort: Cohort) -> pd.DataFrame:
    """Events inside the cohort's date window (all events when no window is set)."""
    mask = pd.Series(True, index=events.index)
    if cohort.date_from is not None:
        mask &= events["event_date"] >= pd.Timestamp(cohort.date_from)
    if cohort.date_to is not None:
        mask &= events["event_date"] <= pd.Timestamp(cohort.date_to)
    return events if bool(mask.all()) else events.loc[mask]


def apply_cohort(
    events: pd.DataFrame,
    cohort: Cohort,
    *,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    attributes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The cohort's events: events in the window that belong to the selected patients."""
    if cohort.is_everyone():
        return events
    patients = select_patients(events, cohort, course_gap_days=course_gap_days, extract=extract,
                               attributes=attributes)
    window = window_events(events, cohort)
    return window.loc[isin_ids(window["patient_id"], patients)]
