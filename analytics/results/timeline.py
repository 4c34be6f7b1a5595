"""The Patient timeline result: one pseudonymous patient's own rows (a physician view).

Every table is patient level: one patient's events, eras, courses and facts are
not counts of patients and are not suppressed.  Who may see them (physicians,
not managers; not at all when patient-level views are switched off) is decided
by the app's access control before this result is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.pathways import step_label
from analytics.results.table import Table, label
from analytics.timeline import patient_timeline

EVENT_COLUMNS = {
    "event_date": "Date", "technique": "Technique", "detail": "Description", "code": "Code",
    "days_supply": "Days supply", "injection_type": "Injection type",
    "provider_id": "Physician", "pain_score": "Pain score",
}


@dataclass(frozen=True)
class TimelineResult:
    """One patient: ``segments`` (swimlanes: lane, start, end exclusive, label, technique),
    ``facts`` (sex, age at first event, physician, number of events), ``diagnoses``,
    ``pathway`` (mode "first": step, label, start) and ``events`` (the patient's rows)."""

    patient_id: str
    segments: Table
    facts: Table
    diagnoses: tuple[str, ...]
    pathway: Table
    events: Table


def build_timeline(m: CohortMeasures, patient_id: str) -> TimelineResult:
    """The timeline of ``patient_id`` (a patient of the cohort) under the cohort's
    definitions."""
    d = m.definitions
    events = m.events
    mine = events.loc[events["patient_id"] == patient_id]
    segments = patient_timeline(events, patient_id, era_gap_days=d.era_gap_days,
                                course_gap_days=d.course_gap_days, extract=m.extract,
                                combination_window_days=d.combination_window_days,
                                min_era_days=d.min_era_days,
                                min_post_combination_days=d.min_post_combination_days,
                                pathway_filter=d.pathway_filter)
    attrs = m.attributes
    row = attrs.loc[patient_id] if patient_id in attrs.index else None

    def fact(name: str) -> object:
        return pd.NA if row is None or pd.isna(row[name]) else row[name]

    age = fact("age")
    facts = pd.DataFrame({
        "sex": [fact("sex")], "age": [pd.NA if pd.isna(age) else f"{float(age):.0f}"],
        "provider_id": [fact("provider_id")], "events": [f"{len(mine):,}"],
    })
    steps = m.steps("first")
    path = steps.loc[steps["patient_id"] == patient_id].sort_values("step")
    path = path.assign(label=[step_label(v) for v in path["label"]])[["step", "label", "start"]]
    columns = [c for c in EVENT_COLUMNS if c in mine.columns and mine[c].notna().any()]
    layout = Layout(0)
    layout.add("segments", f"Patient {patient_id}", [
        label(c, c.capitalize()) for c in ("lane", "start", "end", "label", "technique")],
        segments, patient_level=True)
    layout.add("facts", "Patient", (
        label("sex", "Sex"), label("age", "Age at first event"),
        label("provider_id", "Physician"), label("events", "Events")), facts,
        patient_level=True)
    layout.add("pathway", "Pathway (first use)", (
        label("step", "Step"), label("label", "Technique(s)"), label("start", "Start")), path,
        patient_level=True)
    layout.add("events", "Events", [label(c, EVENT_COLUMNS[c]) for c in columns],
               mine[columns].sort_values("event_date"), patient_level=True)
    tables = layout.protect()
    diagnoses = tuple(sorted(mine["diagnosis"].dropna().astype(str).unique()))
    return TimelineResult(patient_id, tables["segments"], tables["facts"], diagnoses,
                          tables["pathway"], tables["events"])
