"""The Injections result: sessions, repeat intervals, time to a second session, payer limits,
sessions by physician and type, pain-score change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import injections
from analytics.results.distributions import (
    Survival,
    add_survival,
    histogram,
    histogram_columns,
    survival,
)
from analytics.results.injection_response import add_response, response_counts
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.table import Kind, Table, count, derived, label, patients
from analytics.schema import INJECTION_TYPE_LABELS, INJECTION_TYPES, REGION_LABELS, REGIONS
from analytics.survival import KaplanMeier

SHORT_INTERVAL_DAYS = 14
MAX_SESSIONS_BIN = 8
WINDOW_TITLES = {"patient_id": "Patient", "injection_type": "Type", "region": "Region",
                 "window_start": "Window start", "window_end": "Window end",
                 "sessions": "Sessions", "limit": "Limit"}
UNKNOWN_REGION_LABEL = "Unknown region (all sessions of the type counted)"


def region_label(value: object) -> str:
    """Human label of a spinal region; a missing one says the type was counted whole."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return UNKNOWN_REGION_LABEL
    return REGION_LABELS.get(str(value), str(value))


def injection_type_label(value: str) -> str:
    """Human label of an injection type (or ``a+b`` of several)."""
    return " + ".join(INJECTION_TYPE_LABELS.get(p, p) for p in str(value).split("+"))


@dataclass(frozen=True)
class InjectionsResult:
    """The protected Injections view of a cohort.

    ``kpis`` (one row): patients with a session, sessions, patients with ≥ 2
    sessions, patients over a payer limit, repeat intervals and those under 14 days.
    ``per_patient``: patients by number of sessions (1 … 8+; adds up to the
    patients, the rows from 2 up to the repeaters).  ``intervals``: 7-day bins of
    the repeat intervals (adding up to the intervals).  ``repeat``: Kaplan–Meier of
    the days from the first to the second session.  ``over_by_type``: patients over
    the limit per injection type; ``over_by_region``: per injection type and spinal
    region (a row of unknown region: the type's sessions counted together, because one
    of them has no region).  ``windows``: the 365-day windows over a limit, with their
    region (patient level).  ``by_physician``: sessions and patients per physician and
    type(s) (sessions add up to all sessions).  ``pain``: sessions with a pain score
    before and after, and the median change; ``pain_change``: those sessions by
    rounded change (adding up to them).  ``response``: the followed sessions with a
    documented ≥ 50 % pain-score response, the other statuses, the repeats and those after
    a session without a response (one row); ``response_by_injection_types`` /
    ``_region`` / ``_provider_id``: the same per type, spinal region and physician of the
    session (:mod:`analytics.results.injection_response`).
    """

    kpis: Table
    per_patient: Table
    intervals: Table
    repeat: Survival
    over_by_type: Table
    over_by_region: Table
    windows: Table
    by_physician: Table
    pain: Table
    pain_change: Table
    response: Table
    response_by_injection_types: Table
    response_by_region: Table
    response_by_provider_id: Table


@dataclass(frozen=True)
class InjectionsCounts:
    """The Injections view's aggregates before protection (no threshold)."""

    kpis: pd.DataFrame
    per_patient: pd.DataFrame
    intervals: pd.DataFrame
    repeat: KaplanMeier
    over_by_type: pd.DataFrame
    over_by_region: pd.DataFrame
    windows: pd.DataFrame
    by_physician: pd.DataFrame
    pain: pd.DataFrame
    pain_change: pd.DataFrame
    response: dict[str, pd.DataFrame]

    def protect(self, min_cell: int) -> InjectionsResult:
        layout = Layout(min_cell)
        layout.add("kpis", "Injection sessions", (
            patients("patients", "Patients with a session"),
            count("sessions", "Sessions"),
            patients("repeated", "Repeated (≥ 2 sessions)"),
            patients("over_limit", "Patients over a payer limit"),
            count("intervals", "Repeat intervals"),
            count("short_intervals", "Intervals under 14 days"),
        ), self.kpis)
        kpi = {name: layout.cell("kpis", 0, name) for name in self.kpis.columns}
        layout.part_of(kpi["repeated"], kpi["patients"])
        layout.part_of(kpi["over_limit"], kpi["patients"])
        layout.sums([kpi["intervals"], kpi["patients"]], kpi["sessions"])
        layout.part_of(kpi["short_intervals"], kpi["intervals"])

        layout.add("per_patient", "Sessions per patient", (
            label("sessions", "Sessions"), patients("patients", "Patients")), self.per_patient)
        layout.column_total("per_patient", "patients", kpi["patients"])
        repeaters = np.flatnonzero(self.per_patient["sessions"].to_numpy() != "1")
        layout.column_total("per_patient", "patients", kpi["repeated"], repeaters)

        layout.add("intervals", "Days between consecutive sessions",
                   histogram_columns(count("intervals", "Repeat intervals")), self.intervals)
        layout.column_total("intervals", "intervals", kpi["intervals"])
        short = np.flatnonzero(self.intervals["end"].to_numpy() < SHORT_INTERVAL_DAYS)
        if len(short) and int(self.intervals["end"].iloc[short[-1]]) == SHORT_INTERVAL_DAYS - 1:
            layout.column_total("intervals", "intervals", kpi["short_intervals"], short)

        add_survival(layout, "repeat", self.repeat, Kind.PATIENTS)
        if self.repeat.n:
            layout.same(layout.cell("repeat_summary", 0, "n"), kpi["patients"])

        layout.add("over_by_type", "Patients over the limit, by injection type", (
            label("injection_type", "Injection type"), patients("patients", "Patients")),
            self.over_by_type)
        for r in range(len(self.over_by_type)):
            layout.part_of(layout.cell("over_by_type", r, "patients"), kpi["over_limit"])
        layout.add("over_by_region", "Patients over the limit, by injection type and region", (
            label("injection_type", "Injection type"), label("region", "Region"),
            patients("patients", "Patients")), self.over_by_region)
        type_row = {t: r for r, t in enumerate(self.over_by_type["injection_type"])}
        for r, t in enumerate(self.over_by_region["injection_type"]):
            layout.part_of(layout.cell("over_by_region", r, "patients"),
                           layout.cell("over_by_type", type_row[t], "patients"))
        layout.add("windows", "Windows over the limit (patient level)",
                   [label(c, WINDOW_TITLES.get(c, c.replace("_", " ").capitalize()))
                    for c in self.windows.columns], self.windows, patient_level=True)

        layout.add("by_physician", "Sessions by physician and type", (
            label("provider_id", "Physician"), label("injection_types", "Type(s)"),
            count("sessions", "Sessions"), patients("patients", "Patients")), self.by_physician)
        layout.column_total("by_physician", "sessions", kpi["sessions"])

        layout.add("pain", "Pain score after a session", (
            count("sessions", "Sessions with scores before and after"),
            derived("median_change", "Median change", ["sessions"], unit=" points",
                    signed=True)), self.pain)
        layout.add("pain_change", "Pain-score change after a session", (
            label("change", "Change in pain score (points)"), count("sessions", "Sessions")),
            self.pain_change)
        layout.column_total("pain_change", "sessions", layout.cell("pain", 0, "sessions"))
        add_response(layout, self.response, kpi["sessions"], kpi["intervals"])
        tables = layout.protect()
        repeat = survival(tables, "repeat")
        return InjectionsResult(
            kpis=tables["kpis"], per_patient=tables["per_patient"],
            intervals=tables["intervals"], repeat=repeat,
            over_by_type=tables["over_by_type"], over_by_region=tables["over_by_region"],
            windows=tables["windows"],
            by_physician=tables["by_physician"], pain=tables["pain"],
            pain_change=tables["pain_change"], response=tables["response"],
            response_by_injection_types=tables["response_by_injection_types"],
            response_by_region=tables["response_by_region"],
            response_by_provider_id=tables["response_by_provider_id"])


def _known(value: object) -> bool:
    return not (value is None or (not isinstance(value, str) and pd.isna(value)))


RESPONSE_LABELS = {
    "injection_types": lambda v: injection_type_label(v) if _known(v) else "Unknown type",
    "region": lambda v: REGION_LABELS.get(str(v), str(v)) if _known(v) else "Unknown region",
    "provider_id": lambda v: str(v) if _known(v) else "(unknown)",
}
"""The label of a response group's value (a missing value is its own group)."""


def sessions_distribution(per_patient: pd.DataFrame) -> pd.DataFrame:
    """Patients by number of sessions, ``1`` … ``8+``: columns ``sessions`` (text), ``patients``."""
    clipped = per_patient["sessions"].clip(upper=MAX_SESSIONS_BIN)
    out = clipped.value_counts().sort_index().rename_axis("sessions").reset_index(
        name="patients")
    out["sessions"] = [f"{v}+" if v == MAX_SESSIONS_BIN else str(v) for v in out["sessions"]]
    return out.astype({"sessions": "string", "patients": "int64"})


def over_limit_by_type(windows: pd.DataFrame) -> pd.DataFrame:
    """Patients over the limit per injection type (types with any), in the types' order."""
    over = injections.patients_over_limit(windows)
    out = (over.groupby("injection_type")["patient_id"].nunique()
           .reindex(list(INJECTION_TYPES), fill_value=0).rename_axis("injection_type")
           .reset_index(name="patients"))
    out = out.loc[out["patients"] > 0]
    out["injection_type"] = out["injection_type"].map(injection_type_label)
    return out.astype({"injection_type": "string", "patients": "int64"}).reset_index(drop=True)


def over_limit_by_region(windows: pd.DataFrame) -> pd.DataFrame:
    """Patients over the limit per injection type and spinal region (types in their order,
    regions in ``REGIONS`` order, the unknown region last): ``injection_type``, ``region``
    (labels), ``patients``."""
    over = injections.patients_over_limit(windows)
    columns = {"injection_type": "string", "region": "string", "patients": "int64"}
    if over.empty:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    out = (over.groupby(["injection_type", "region"], dropna=False, sort=False)["patient_id"]
           .nunique().reset_index(name="patients"))
    type_rank = out["injection_type"].map({t: i for i, t in enumerate(INJECTION_TYPES)})
    region_rank = out["region"].map({r: i for i, r in enumerate(REGIONS)}).fillna(len(REGIONS))
    out = out.assign(_t=type_rank, _r=region_rank).sort_values(["_t", "_r"])
    out = pd.DataFrame({"injection_type": out["injection_type"].map(injection_type_label),
                        "region": [region_label(v) for v in out["region"]],
                        "patients": out["patients"].to_numpy()})
    return out.astype(columns).reset_index(drop=True)


def sessions_by_physician(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions and patients per (physician of the session, type(s) of the session)."""
    frame = sessions.assign(
        provider_id=sessions["provider_id"].astype("string").fillna("(unknown)"),
        injection_types=sessions["injection_types"].map(injection_type_label))
    out = (frame.groupby(["provider_id", "injection_types"])
           .agg(sessions=("session_date", "size"), patients=("patient_id", "nunique"))
           .reset_index())
    return out.astype({"provider_id": "string", "injection_types": "string",
                       "sessions": "int64", "patients": "int64"})


def pain_summary(change: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row: sessions with scores on both sides and their median change; sessions by
    change rounded to whole points and clipped to ±10)."""
    valid = change.dropna(subset=["change"]) if len(change) else change
    median = float(valid["change"].median()) if len(valid) else np.nan
    summary = pd.DataFrame({"sessions": [len(valid)], "median_change": [median]})
    by_change = (valid["change"].round().clip(-10, 10).value_counts().sort_index()
                 .rename_axis("change").reset_index(name="sessions")) if len(valid) else (
        pd.DataFrame({"change": pd.Series(dtype="float64"),
                      "sessions": pd.Series(dtype="int64")}))
    return summary.astype({"sessions": "int64"}), by_change.astype({"sessions": "int64"})


def injections_counts(m: CohortMeasures) -> InjectionsCounts:
    """The Injections aggregates of a cohort."""
    sessions = m.sessions
    per_patient = m.sessions_per_patient
    intervals = m.intervals
    windows = m.limit_windows
    kpis = pd.DataFrame({
        "patients": [len(per_patient)],
        "sessions": [len(sessions)],
        "repeated": [int((per_patient["sessions"] >= 2).sum())],
        "over_limit": [int(windows["patient_id"].nunique()) if len(windows) else 0],
        "intervals": [len(intervals)],
        "short_intervals": [int(intervals["short_interval"].sum()) if len(intervals) else 0],
    })
    pain, pain_change = pain_summary(m.pain_change)
    return InjectionsCounts(
        kpis=kpis,
        per_patient=sessions_distribution(per_patient),
        intervals=histogram(intervals["interval_days"], bin_width=7, max_value=364,
                            count_name="intervals"),
        repeat=injections.repeat_survival(sessions, extract=m.extract),
        over_by_type=over_limit_by_type(windows),
        over_by_region=over_limit_by_region(windows),
        windows=windows.assign(region=[region_label(v) for v in windows["region"]])
        .astype({"region": "string"}).reset_index(drop=True),
        by_physician=sessions_by_physician(sessions),
        pain=pain, pain_change=pain_change,
        response=response_counts(m.responses, RESPONSE_LABELS),
    )


def build_injections(m: CohortMeasures, min_cell: int = 11) -> InjectionsResult:
    """The protected Injections view of a cohort."""
    return injections_counts(m).protect(min_cell)
