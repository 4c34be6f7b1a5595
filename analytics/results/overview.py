"""The Overview result: key measures of two periods, patients per month, physicians.

:func:`overview_counts` aggregates a cohort's measures (no threshold);
:meth:`OverviewCounts.protect` lays the tables out and protects them;
:func:`build_overview` does both.  The key-measure columns (:data:`KEY_COLUMNS`,
:func:`add_key_measures`) are shared with Compare and the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures, kpi_months, period_bounds
from analytics.results.table import (
    Column,
    Kind,
    Table,
    count,
    derived,
    label,
    natural_order,
    patients,
)
from analytics.safety import safety_rates
from analytics.schema import TECHNIQUES, isin_ids

ALL_PHYSICIANS = "All physicians"
PERIODS = (90, 180, 365)
SAFETY_KPIS: dict[str, str] = {
    "hdo": "High dosage (HDO)",
    "cob": "Opioid + benzodiazepine (COB)",
    "naloxone": "Naloxone when indicated",
}
"""The opioid-safety measures on the Overview (:data:`analytics.safety.MEASURES` keys)."""


@dataclass(frozen=True)
class KeyMeasures:
    """Key measures of one set of events (a cohort, a period or a physician's patients).

    ``patients``: distinct patients.  ``narcotic_patients`` / ``pct_narcotic``:
    patients with a narcotic event.  ``courses`` / ``long_term_courses`` /
    ``pct_long_term``: narcotic courses and those ≥ 90 days.
    ``median_course_days``: over all courses.  ``sessions``: injection sessions;
    ``sessions_per_patient_year`` = sessions / patient-years of the patients with
    a session (a patient's years: last − first event date + 1, over 365.25).
    ``injection_patients`` / ``over_limit_patients`` / ``pct_over_limit``: patients
    with a session / over a payer limit.  ``concordant`` / ``pct_concordant``:
    step-therapy concordant patients.  Percents are of the count named first in
    their definition's denominator, rounded to 0.1; None when it is 0.
    """

    patients: int
    narcotic_patients: int
    pct_narcotic: float | None
    courses: int
    long_term_courses: int
    pct_long_term: float | None
    median_course_days: float | None
    injection_patients: int
    sessions: int
    sessions_per_patient_year: float | None
    over_limit_patients: int
    pct_over_limit: float | None
    concordant: int
    pct_concordant: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def key_measures(m: CohortMeasures) -> KeyMeasures:
    """:class:`KeyMeasures` of a cohort's measures (see its docstring for each definition)."""
    spans = m.spans
    n_patients = len(spans)
    narcotic = int(spans["narcotic"].sum())
    courses = m.courses
    long_term = int(courses["long_term"].sum()) if len(courses) else 0
    median_course = float(courses["duration_days"].median()) if len(courses) else None
    sessions = m.sessions
    injection_patients = int(sessions["patient_id"].nunique())
    per_year = None
    if injection_patients:
        mine = isin_ids(spans["patient_id"], sessions["patient_id"].unique())
        first = spans["first_day"].to_numpy(dtype=np.int64)[mine]
        last = spans["last_day"].to_numpy(dtype=np.int64)[mine]
        years = float((last - first + 1).sum() / 365.25)
        per_year = round(len(sessions) / years, 2) if years > 0 else None
    over = m.limit_windows
    over_patients = int(over["patient_id"].nunique()) if len(over) else 0
    concordance = m.concordance
    concordant = int(concordance["concordant"].sum()) if len(concordance) else 0
    return KeyMeasures(
        patients=n_patients,
        narcotic_patients=narcotic,
        pct_narcotic=_pct(narcotic, n_patients),
        courses=int(len(courses)),
        long_term_courses=long_term,
        pct_long_term=_pct(long_term, len(courses)),
        median_course_days=median_course,
        injection_patients=injection_patients,
        sessions=int(len(sessions)),
        sessions_per_patient_year=per_year,
        over_limit_patients=over_patients,
        pct_over_limit=_pct(over_patients, injection_patients),
        concordant=concordant,
        pct_concordant=_pct(concordant, n_patients),
    )


def period_measures(m: CohortMeasures, period_days: int = 365) -> tuple[KeyMeasures, KeyMeasures]:
    """Key measures of the current and the previous period of ``period_days`` ending at the
    extract date; each uses only the events dated inside it, the previous period's extract
    date being its last day."""
    if m.extract is None:
        empty = key_measures(m)
        return empty, empty
    previous_start, current_start, current_end = period_bounds(m.extract, period_days)
    current = m.window(current_start, current_end)
    previous = m.window(previous_start, current_start - pd.Timedelta(days=1))
    return key_measures(current), key_measures(previous)


def _months(days: np.ndarray) -> np.ndarray:
    """Month numbers (months since 1970-01) of day numbers."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _month_dates(months: np.ndarray) -> pd.Series:
    return pd.Series(months.astype("datetime64[M]").astype("datetime64[s]"))


def new_patients_by_month(m: CohortMeasures) -> pd.DataFrame:
    """Patients by the month of their first event: columns ``month`` (first day), ``patients``."""
    spans = m.spans
    if spans.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[s]"),
                             "patients": pd.Series(dtype="int64")})
    month, patients = np.unique(_months(spans["first_day"].to_numpy(dtype=np.int64)),
                                return_counts=True)
    return pd.DataFrame({"month": _month_dates(month), "patients": patients.astype(np.int64)})


def monthly_events(m: CohortMeasures) -> pd.DataFrame:
    """Events and distinct patients per month and technique.

    Columns ``month`` (first day of the month), ``technique``, ``events``, ``patients``;
    sorted by month, then technique in the order of :data:`analytics.schema.TECHNIQUES`.
    """
    rows = m.technique_months
    if rows.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[s]"),
                             "technique": pd.Series(dtype="string"),
                             "events": pd.Series(dtype="int64"),
                             "patients": pd.Series(dtype="int64")})
    month = rows["month"].to_numpy(dtype=np.int64)
    n_tech = len(TECHNIQUES)
    lo = int(month.min())
    cell = (month - lo) * n_tech + rows["technique"].to_numpy(dtype=np.int64)
    n_events = np.bincount(cell, weights=rows["events"].to_numpy(dtype=np.int64)).astype(
        np.int64)
    n_patients = np.bincount(cell, minlength=len(n_events))  # one row per patient and cell
    cells = np.flatnonzero(n_patients)
    return pd.DataFrame({
        "month": _month_dates(cells // n_tech + lo),
        "technique": pd.Series(np.asarray(TECHNIQUES, dtype=object)[cells % n_tech],
                               dtype="string"),
        "events": n_events[cells],
        "patients": n_patients[cells].astype(np.int64),
    })


PHYSICIAN_COLUMNS = ("provider_id", "patients", "narcotic_patients", "pct_narcotic", "courses",
                     "long_term_courses", "pct_long_term", "median_course_days",
                     "injection_patients", "sessions", "over_limit_patients", "concordant",
                     "pct_concordant")


def physician_table(m: CohortMeasures) -> pd.DataFrame:
    """One row per attributed physician (the provider on most of a patient's events, over
    the patient's whole record; ``"(unknown)"`` when none), ``provider_id`` in natural
    order (DR2 before DR14).

    Columns: ``provider_id``, ``patients``, ``narcotic_patients``, ``pct_narcotic``,
    ``courses``, ``long_term_courses``, ``pct_long_term`` (of courses),
    ``median_course_days``, ``injection_patients``, ``sessions``,
    ``over_limit_patients``, ``concordant``, ``pct_concordant``.  Empty when no patient
    has a physician.
    """
    attrs = m.attributes
    if attrs.empty or attrs["provider_id"].isna().all():
        return pd.DataFrame(columns=list(PHYSICIAN_COLUMNS))
    doctor, names = m.physicians  # per patient of m.patients, the order of m.spans' rows
    n = len(names)

    def patients_where(mask: np.ndarray) -> np.ndarray:
        return np.bincount(doctor[mask], minlength=n)

    def flagged(positions: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(doctor), dtype=bool)
        mask[positions] = True
        return mask

    narcotic = m.spans["narcotic"].to_numpy(dtype=bool)
    courses = m.courses
    by_course = doctor[m.patient_positions(("courses",))]
    n_courses = np.bincount(by_course, minlength=n)
    long_term = np.bincount(by_course, weights=courses["long_term"].to_numpy(dtype=float),
                            minlength=n).astype(np.int64)
    median = pd.Series(courses["duration_days"].to_numpy(dtype=float)).groupby(by_course).median()
    session_patients = m.patient_positions(("sessions",))
    concordance = m.concordance
    concordant = m.patient_positions(("concordance",))[
        concordance["concordant"].to_numpy(dtype=bool)]
    out = pd.DataFrame({
        "provider_id": pd.Series(np.asarray(names, dtype=object), dtype="string"),
        "patients": np.bincount(doctor, minlength=n),
        "narcotic_patients": patients_where(narcotic),
        "courses": n_courses,
        "long_term_courses": long_term,
        "median_course_days": median.reindex(range(n)).to_numpy(dtype=float),
        "injection_patients": patients_where(flagged(session_patients)),
        "sessions": np.bincount(doctor[session_patients], minlength=n),
        "over_limit_patients": patients_where(flagged(
            m.patient_positions(("limit_windows",)))),
        "concordant": patients_where(flagged(concordant)),
    })
    count_cols = ["patients", "narcotic_patients", "courses", "long_term_courses",
                  "injection_patients", "sessions", "over_limit_patients", "concordant"]
    out[count_cols] = out[count_cols].astype("int64")
    out["pct_narcotic"] = (100 * out["narcotic_patients"] / out["patients"]).round(1)
    out["pct_long_term"] = (
        100 * out["long_term_courses"] / out["courses"].replace(0, np.nan)
    ).round(1)
    out["pct_concordant"] = (100 * out["concordant"] / out["patients"]).round(1)
    return natural_order(out[list(PHYSICIAN_COLUMNS)], ["provider_id"])


def safety_kpis(m: CohortMeasures, period_days: int = 365) -> pd.DataFrame:
    """The Overview's opioid-safety KPIs (:data:`SAFETY_KPIS`) over the 12 months ending
    with the extract date's month (``current``) and the 12 months ending
    :func:`analytics.results.measures.safety_months_back` months earlier (``previous``):
    the points of the Safety view's monthly trend (:func:`~analytics.results.measures.
    kpi_months`), read from the measures cut to those two months.  Columns ``row``,
    ``month`` (the window's last month) and per measure ``<key>_denominator``,
    ``<key>_numerator``, ``<key>_share`` (in %; NaN when the denominator is 0)."""
    names = tuple(SAFETY_KPIS)
    rows = []
    if m.extract is None:
        return pd.DataFrame(columns=["row", "month"] + [f"{k}_{c}" for k in names for c in (
            "denominator", "numerator", "share")])
    end, previous = kpi_months(m.extract, period_days)
    rates = safety_rates(m.safety_months((end, previous)), "month", by_physician=False,
                         names=names)
    rates = rates.loc[rates["provider_id"].isna()]
    for row, month in (("current", end), ("previous", previous)):
        out: dict[str, object] = {"row": row, "month": month}
        at = rates.loc[rates["period"] == month].set_index("measure")
        for key in names:
            den = int(at.loc[key, "denominator"]) if key in at.index else 0
            num = int(at.loc[key, "numerator"]) if key in at.index else 0
            out[f"{key}_denominator"] = den
            out[f"{key}_numerator"] = num
            out[f"{key}_share"] = 100.0 * num / den if den else np.nan
        rows.append(out)
    frame = pd.DataFrame(rows)
    frame["month"] = frame["month"].astype("datetime64[s]")
    return frame


# ---------------------------------------------------------------------- layout

KEY_COLUMNS: tuple[Column, ...] = (
    patients("patients", "Patients"),
    patients("narcotic_patients", "Patients on narcotics", shown=False),
    derived("pct_narcotic", "On narcotics", ["narcotic_patients", "patients"], unit="%"),
    count("courses", "Narcotic courses", shown=False),
    count("long_term_courses", "Long-term courses (≥ 90 days)", shown=False),
    derived("pct_long_term", "Long-term narcotic courses", ["long_term_courses", "courses"],
            unit="%"),
    derived("median_course_days", "Median course length", ["courses"], digits=0, unit=" days"),
    patients("injection_patients", "Injection patients"),
    count("sessions", "Injection sessions", shown=False),
    derived("sessions_per_patient_year", "Injection sessions per patient-year",
            ["sessions", "injection_patients"], digits=2),
    patients("over_limit_patients", "Patients over payer limits", shown=False),
    derived("pct_over_limit", "Over payer injection limits",
            ["over_limit_patients", "injection_patients"], unit="%"),
    patients("concordant", "Step-therapy concordant patients", shown=False),
    derived("pct_concordant", "Step-therapy concordance", ["concordant", "patients"], unit="%"),
)
"""Columns of a key-measures table (one row per cohort or period)."""

_PARTS = (("narcotic_patients", "patients"), ("injection_patients", "patients"),
          ("concordant", "patients"), ("over_limit_patients", "injection_patients"),
          ("long_term_courses", "courses"))
"""(part, whole) pairs of a key-measures row: the rest of each whole is a count too."""


def add_key_measures(layout: Layout, name: str, title: str,
                     rows: list[tuple[str, KeyMeasures]], row_title: str) -> None:
    """Lay out key measures, one row per (label, measures), with their part/whole relations."""
    frame = pd.DataFrame([{"row": lbl, **m.as_dict()} for lbl, m in rows])
    for column in KEY_COLUMNS:
        if column.kind == Kind.DERIVED:
            frame[column.name] = pd.to_numeric(frame[column.name]).astype("float64")
    layout.add(name, title, (label("row", row_title), *KEY_COLUMNS), frame)
    for r in range(len(rows)):
        for part, whole in _PARTS:
            layout.part_of(layout.cell(name, r, part), layout.cell(name, r, whole))


CHANGE_COLUMNS: tuple[Column, ...] = (
    derived("patients", "Patients", digits=0, signed=True),
    derived("pct_narcotic", "On narcotics", unit=" pts", signed=True),
    derived("pct_long_term", "Long-term narcotic courses", unit=" pts", signed=True),
    derived("median_course_days", "Median course length", digits=0, unit=" days", signed=True),
    derived("injection_patients", "Injection patients", digits=0, signed=True),
    derived("sessions_per_patient_year", "Injection sessions per patient-year", digits=2,
            signed=True),
    derived("pct_over_limit", "Over payer injection limits", unit=" pts", signed=True),
    derived("pct_concordant", "Step-therapy concordance", unit=" pts", signed=True),
)
"""The change of each KPI from the previous period to the current one."""

SAFETY_COLUMNS: tuple[Column, ...] = (
    label("row", "Period"), label("month", "12 months to"),
    *(column for key, title in SAFETY_KPIS.items() for column in (
        count(f"{key}_denominator", f"{title}: denominator", shown=False),
        count(f"{key}_numerator", f"{title}: numerator", shown=False),
        derived(f"{key}_share", title, [f"{key}_numerator", f"{key}_denominator"],
                unit="%"))),
)
"""The Overview's opioid-safety KPIs (rows: current, previous)."""
SAFETY_CHANGE_COLUMNS: tuple[Column, ...] = tuple(
    derived(f"{key}_share", title, unit=" pts", signed=True)
    for key, title in SAFETY_KPIS.items())

PHYSICIAN_TABLE_COLUMNS: tuple[Column, ...] = (
    label("provider_id", "Physician"),
    patients("patients", "Patients"),
    patients("narcotic_patients", "On narcotics"),
    derived("pct_narcotic", "% on narcotics", ["narcotic_patients", "patients"]),
    count("courses", "Courses"),
    count("long_term_courses", "Long-term courses"),
    derived("pct_long_term", "% long-term", ["long_term_courses", "courses"]),
    derived("median_course_days", "Median course (days)", ["courses"]),
    patients("injection_patients", "Injection patients"),
    count("sessions", "Sessions"),
    patients("over_limit_patients", "Over limit"),
    patients("concordant", "Concordant"),
    derived("pct_concordant", "% concordant", ["concordant", "patients"]),
)


@dataclass(frozen=True)
class OverviewResult:
    """The protected Overview of a cohort.

    ``kpis``: key measures, rows current period, previous period and the whole cohort
    (its date window); ``changes``: one row,
    current − previous of each KPI (hidden where either is); ``cohort``: the cohort's
    patients; ``monthly``: patients per month and technique; ``new_patients``: patients
    per month of their first event (adding up to the cohort); ``physicians``: one row
    per attributed physician over the current period and a last row "All physicians"
    (the current period's key measures: its columns add up to it).
    """

    period_days: int
    previous_start: pd.Timestamp | None
    current_start: pd.Timestamp | None
    current_end: pd.Timestamp | None
    kpis: Table
    changes: Table
    cohort: Table
    monthly: Table
    new_patients: Table
    physicians: Table
    safety: Table
    safety_changes: Table


@dataclass(frozen=True)
class OverviewCounts:
    """The Overview's aggregates before protection (no threshold)."""

    period_days: int
    bounds: tuple[pd.Timestamp | None, pd.Timestamp | None, pd.Timestamp | None]
    current: KeyMeasures
    previous: KeyMeasures
    cohort: KeyMeasures
    monthly: pd.DataFrame
    new_patients: pd.DataFrame
    physicians: pd.DataFrame
    safety: pd.DataFrame

    def protect(self, min_cell: int) -> OverviewResult:
        """Lay out and protect the tables (see :class:`OverviewResult`)."""
        layout = Layout(min_cell)
        add_key_measures(layout, "kpis", "Key measures", [
            ("current period", self.current), ("previous period", self.previous),
            ("whole cohort", self.cohort)], "Period")
        change = {c.name: _change(self.current, self.previous, c.name) for c in CHANGE_COLUMNS}
        layout.add("changes", "Change against the previous period", CHANGE_COLUMNS,
                   pd.DataFrame([change], dtype="float64"))
        for column in CHANGE_COLUMNS:
            layout.depends(("changes", 0, column.name),
                           [("kpis", 0, column.name), ("kpis", 1, column.name)])
        layout.add("cohort", "Cohort", (patients("patients", "Patients in the cohort"),),
                   pd.DataFrame({"patients": [self.cohort.patients]}))
        total = layout.cell("cohort", 0, "patients")
        layout.shared(total)
        layout.same(layout.cell("kpis", 2, "patients"), total)
        layout.add("monthly", "Patients treated per month, by technique", (
            label("month", "Month"), label("technique", "Technique"),
            patients("patients", "Patients")), self.monthly)
        layout.add("new_patients", "New patients per month", (
            label("month", "Month"), patients("patients", "New patients")), self.new_patients)
        layout.column_total("new_patients", "patients", total)
        _add_physicians(layout, self.physicians, self.current,
                        layout.cell("kpis", 0, "patients"))
        _add_safety(layout, self.safety)
        tables = layout.protect()
        previous_start, current_start, current_end = self.bounds
        return OverviewResult(self.period_days, previous_start, current_start, current_end,
                              **tables)


def _add_safety(layout: Layout, frame: pd.DataFrame) -> None:
    """The safety KPIs: each numerator a part of its denominator; HDO and COB share theirs
    (the same patient-years); the Safety view shows the same trend points."""
    layout.add("safety", "Opioid safety (12 months to the month shown)", SAFETY_COLUMNS, frame)
    for r in range(len(frame)):
        cells = {c.name: layout.cell("safety", r, c.name) for c in SAFETY_COLUMNS
                 if c.is_count}
        for key in SAFETY_KPIS:
            layout.part_of(cells[f"{key}_numerator"], cells[f"{key}_denominator"])
        layout.same(cells["hdo_denominator"], cells["cob_denominator"])
        layout.shared(*cells.values())
    changes = {c.name: (frame[c.name].iloc[0] - frame[c.name].iloc[1]) if len(frame) == 2
               else np.nan for c in SAFETY_CHANGE_COLUMNS}
    layout.add("safety_changes", "Change of the opioid-safety KPIs", SAFETY_CHANGE_COLUMNS,
               pd.DataFrame([changes], dtype="float64"))
    for column in SAFETY_CHANGE_COLUMNS:
        layout.depends(("safety_changes", 0, column.name),
                       [("safety", r, column.name) for r in range(len(frame))])


def _change(current: KeyMeasures, previous: KeyMeasures, name: str) -> float:
    now, before = getattr(current, name), getattr(previous, name)
    return np.nan if now is None or before is None else float(now - before)


def _add_physicians(layout: Layout, table: pd.DataFrame, period: KeyMeasures,
                    total: int) -> None:
    """The physician table of the current period with an "All physicians" row (the
    period's key measures) its count columns add up to; ``total``: the cell of the
    period's patients in the KPI table."""
    if table.empty:
        layout.add("physicians", "By physician", PHYSICIAN_TABLE_COLUMNS,
                   pd.DataFrame(columns=list(PHYSICIAN_COLUMNS)))
        return
    everyone = {name: value for name, value in period.as_dict().items()
                if name in PHYSICIAN_COLUMNS}
    everyone["provider_id"] = ALL_PHYSICIANS
    frame = pd.concat([table, pd.DataFrame([everyone])], ignore_index=True)
    layout.add("physicians", "By physician", PHYSICIAN_TABLE_COLUMNS, frame)
    last = len(frame) - 1
    for column in PHYSICIAN_TABLE_COLUMNS:
        if column.is_count:
            layout.column_total("physicians", column.name,
                                layout.cell("physicians", last, column.name), range(last))
    for r in range(len(frame)):
        for part, whole in _PARTS:
            layout.part_of(layout.cell("physicians", r, part),
                           layout.cell("physicians", r, whole))
    layout.same(layout.cell("physicians", last, "patients"), total)


def overview_counts(m: CohortMeasures, period_days: int = 365) -> OverviewCounts:
    """The Overview's aggregates of a cohort: KPIs of the last ``period_days`` and the
    period before, monthly patients, new patients, the physician table of the last
    ``period_days`` (the KPIs' current period)."""
    current, previous = period_measures(m, period_days)
    if m.extract is not None:
        bounds = period_bounds(m.extract, period_days)
        in_period = m.window(bounds[1], bounds[2])
    else:
        bounds, in_period = (None,) * 3, m
    return OverviewCounts(
        period_days=period_days, bounds=bounds, current=current, previous=previous,
        cohort=key_measures(m), monthly=monthly_events(m), new_patients=new_patients_by_month(m),
        physicians=physician_table(in_period), safety=safety_kpis(m, period_days))


def build_overview(m: CohortMeasures, period_days: int = 365,
                   min_cell: int = 11) -> OverviewResult:
    """The protected Overview of a cohort (:func:`overview_counts`, then protection)."""
    return overview_counts(m, period_days).protect(min_cell)
