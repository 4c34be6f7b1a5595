"""The two entry points, :func:`detect` and :func:`ingest`: read every file, plan it, then
process the files of each export together.

Files of one Synthea or OMOP export (same folder, or all uploaded bytes) are ingested
together: the concept table first, then demographics and diagnoses, which are joined to
the events by patient id within that export.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import phi, readers, schema
from analytics.ingest.columns import Columns
from analytics.ingest.events import process_events
from analytics.ingest.formats import CONDITION_ROLES, EVENT_ROLES, PATIENT_ROLES
from analytics.ingest.mapping import FilePlan, check_required, plan_file
from analytics.ingest.report import (
    FileOut,
    IngestError,
    IngestReport,
    IngestResult,
    empty_rejected,
)
from analytics.ingest.roles import (
    process_concepts,
    process_conditions,
    process_patients,
    process_unused,
)
from analytics.readers import RawTable, Source

SAMPLE_BYTES = 256 * 1024
"""How much of a text file :func:`detect` reads."""
_ROLE_ORDER = {"concept": 0, "person": 1, "patients": 1, "conditions": 2, "condition_occurrence": 2}

Mapping = dict[str, dict[str, str]]
"""Explicit mapping per file name: ``{file name: {canonical column: source column}}``."""


def _read(source: Source, sample: bool) -> RawTable:
    try:
        return readers.read_source(source, sample_bytes=SAMPLE_BYTES if sample else None)
    except readers.ReadError as exc:
        raise IngestError(str(exc)) from exc
    except OSError as exc:
        raise IngestError(f"{readers.source_name(source)}: cannot read ({exc})") from exc


def _files(sources: Source | list[Source]) -> list[Source]:
    files = readers.expand_sources(sources)
    if not files:
        raise IngestError("no export files given")
    return files


def detect(sources: Source | list[Source], mapping: Mapping | None = None) -> list[FilePlan]:
    """Plan each file from its header and a sample (no full read): format, role, the
    guessed (or overridden) mapping, refused columns, missing required columns and a
    preview without refused columns.  Raises :class:`IngestError` for unreadable files or
    an invalid explicit mapping (a missing required column is reported, not raised)."""
    plans = []
    for source in _files(sources):
        raw = _read(source, sample=True)
        plans.append(plan_file(raw, (mapping or {}).get(raw.name), None))
    return plans


@dataclass
class _Loaded:
    raw: RawTable
    plan: FilePlan
    cols: Columns


def _load(sources: Source | list[Source], mapping: Mapping | None) -> list[_Loaded]:
    loaded = []
    for source in _files(sources):
        raw = _read(source, sample=False)
        cols = Columns(raw.table)
        plan = plan_file(raw, (mapping or {}).get(raw.name), cols)
        if plan.role != "not_used":
            check_required(plan)
        loaded.append(_Loaded(raw, plan, cols))
    if all(f.plan.role == "not_used" for f in loaded):
        raise IngestError(
            "none of the files is a usable export: "
            + ", ".join(f"{f.plan.name} ({f.plan.format} {f.plan.role})" for f in loaded)
        )
    return loaded


def _groups(loaded: list[_Loaded]) -> list[list[int]]:
    """Indices of the files of each export: Synthea/OMOP files of one folder together,
    every generic file alone."""
    groups: dict[tuple, list[int]] = {}
    for i, f in enumerate(loaded):
        fmt = f.plan.format
        key = (fmt, f.raw.parent) if fmt in ("synthea", "omop") else ("generic", i)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


@dataclass
class _Export:
    """What the files of one export gave so far."""

    concepts: pd.DataFrame | None = None
    demographics: list[pd.DataFrame] = field(default_factory=list)
    diagnoses: list[pd.DataFrame] = field(default_factory=list)
    events: list[pd.DataFrame] = field(default_factory=list)


def _process_file(f: _Loaded, export: _Export) -> FileOut:
    raw, plan, cols = f.raw, f.plan, f.cols
    if plan.role == "concept":
        out = process_concepts(raw, plan, cols)
        export.concepts = (
            out.concepts if export.concepts is None else pd.concat([export.concepts, out.concepts])
        )
    elif plan.role in PATIENT_ROLES:
        out = process_patients(raw, plan, cols)
        if out.demographics is not None:
            export.demographics.append(out.demographics)
    elif plan.role in CONDITION_ROLES:
        out = process_conditions(raw, plan, cols, export.concepts)
        if out.diagnoses is not None:
            export.diagnoses.append(out.diagnoses)
    elif plan.role in EVENT_ROLES:
        if plan.format == "omop" and export.concepts is None:
            plan.notes.append("no OMOP concept table given: concept ids cannot be named")
        out = process_events(raw, plan, cols, export.concepts)
        if out.events is not None and len(out.events):
            export.events.append(out.events)
    else:
        out = process_unused(raw, plan)
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _export_events(export: _Export) -> pd.DataFrame | None:
    if not export.events:
        return None
    events = schema.conform(_concat(export.events))
    if export.demographics or export.diagnoses:
        _broadcast(events, export.demographics, export.diagnoses)
    return events


def ingest(sources: Source | list[Source], mapping: Mapping | None = None) -> IngestResult:
    """Read, map, classify, validate and PHI-guard the given exports (see
    :mod:`analytics.ingest` for every rule).  ``mapping`` is
    ``{file name: {canonical: source column}}``.  Raises :class:`IngestError` (one line)
    when a file cannot be read, a required column is missing, a mapping is invalid, or
    none of the files is a usable export."""
    loaded = _load(sources, mapping)
    outs: list[FileOut | None] = [None] * len(loaded)
    event_frames: list[pd.DataFrame] = []
    for members in _groups(loaded):
        export = _Export()
        for i in sorted(members, key=lambda j: _ROLE_ORDER.get(loaded[j].plan.role, 9)):
            outs[i] = _process_file(loaded[i], export)
        events = _export_events(export)
        if events is not None:
            event_frames.append(events)
    done = [o for o in outs if o is not None]
    if event_frames:
        events = _concat(event_frames)
        _finish_demographics(events)
    else:
        events = schema.empty_events()
    return IngestResult(
        events=events, report=IngestReport(files=[o.report for o in done]),
        rejected=_rejected(done),
    )


def _rejected(outs: list[FileOut]) -> pd.DataFrame:
    parts = [o.rejected for o in outs if o.rejected is not None]
    if not parts:
        return empty_rejected()
    rejected = pd.concat(parts, ignore_index=True)
    for c in rejected.columns:
        if c != "row":
            rejected[c] = rejected[c].astype("string")
    return rejected


def _broadcast(
    events: pd.DataFrame, demo_parts: list[pd.DataFrame], diag_parts: list[pd.DataFrame]
) -> None:
    """Fill sex / birth year from patients and diagnosis from conditions, by patient id
    (in place, on a conformed frame)."""
    if demo_parts:
        demo = pd.concat(demo_parts, ignore_index=True).drop_duplicates("patient_id")
        demo = demo.set_index("patient_id")
        if "sex" in demo.columns:
            looked = events["patient_id"].map(demo["sex"]).astype("string")
            events["sex"] = events["sex"].fillna(looked)
        if "birth_year" in demo.columns:
            looked = events["patient_id"].map(demo["birth_year"]).astype("float64")
            events["birth_year"] = events["birth_year"].fillna(looked)
    if diag_parts:
        diag = pd.concat(diag_parts, ignore_index=True).dropna(subset=["diagnosis"])
        diag = diag.sort_values(["patient_id", "date"], kind="stable", na_position="last")
        first = diag.drop_duplicates("patient_id").set_index("patient_id")["diagnosis"]
        looked = events["patient_id"].map(first).astype("string")
        events["diagnosis"] = events["diagnosis"].fillna(looked)


def _finish_demographics(events: pd.DataFrame) -> None:
    """Compute age from birth year when absent; ages over 89 -> 90 and their birth year
    dropped (Safe Harbor: a birth year implying 90+ is itself an identifier).  In place,
    on a conformed frame."""
    birth = events["birth_year"].to_numpy(dtype=float)
    if not np.isfinite(birth).any():
        return
    age = events["age"].to_numpy(dtype=float).copy()
    fill = np.isnan(age) & np.isfinite(birth)
    if fill.any():
        year = events["event_date"].dt.year.to_numpy(dtype=float, na_value=np.nan)
        age[fill] = year[fill] - birth[fill]
    age = phi.cap_age(age)
    old = age >= phi.AGE_CAP
    events["age"] = age
    if old.any():
        events["birth_year"] = np.where(old, np.nan, birth)
