"""The two entry points, :func:`detect` and :func:`ingest`: read every file, plan it, then
process the files of each export together.

Files of one Synthea or OMOP export (same folder, or all uploaded bytes) are ingested
together, the concept table first, then patients / death and conditions, then the event
files: demographics, death dates and diagnoses are joined to the events by patient id
within that export.  After every export: the extract date (over everything), the
open-order counts of each event file, and the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import phi, readers, schema
from analytics.ingest import coverage, diagnoses
from analytics.ingest.columns import Columns
from analytics.ingest.events import process_events
from analytics.ingest.formats import (
    CONDITION_ROLES,
    DEATH_ROLES,
    ENCOUNTER_ROLES,
    EVENT_ROLES,
    PATIENT_ROLES,
)
from analytics.ingest.mapping import FilePlan, check_required, plan_file, skipped_plan
from analytics.ingest.report import (
    FileOut,
    FileReport,
    IngestError,
    IngestReport,
    IngestResult,
    empty_rejected,
    skipped_report,
)
from analytics.ingest.roles import (
    process_concepts,
    process_conditions,
    process_death,
    process_encounters,
    process_patients,
    process_unused,
)
from analytics.ingest.value_map import ValueMap
from analytics.readers import RawTable, Source

SAMPLE_BYTES = 256 * 1024
"""How much of a text file :func:`detect` reads."""
_ROLE_ORDER = {"concept": 0, "person": 1, "patients": 1, "death": 1, "encounters": 1,
               "visit_occurrence": 1, "conditions": 2, "condition_occurrence": 2,
               "diagnoses": 2}

Mapping = dict[str, dict[str, str]]
"""Explicit mapping per file name: ``{file name: {canonical column: source column}}``."""


def _read(source: Source, sample: bool) -> RawTable | str:
    """The read file, or the one-line reason it cannot be used (unreadable, not a text
    export, empty, no rows)."""
    try:
        raw = readers.read_source(source, sample_bytes=SAMPLE_BYTES if sample else None)
    except readers.ReadError as exc:
        return readers.one_line(exc, limit=1000)
    except OSError as exc:
        return readers.one_line(f"{readers.source_name(source)}: cannot read ({exc})", 1000)
    if raw.table.num_rows == 0:
        return f"{raw.name}: no rows (the file has column names but no records)"
    return raw


def _nothing_usable(reasons: list[str]) -> IngestError:
    if len(reasons) == 1:
        return IngestError(reasons[0])
    return IngestError("none of the files can be used: " + "; ".join(reasons))


def _files(sources: Source | list[Source], mapping: Mapping | None) -> list[Source]:
    files = readers.expand_sources(sources)
    if not files:
        raise IngestError("no export files given")
    unknown = sorted(set(mapping or {}) - {readers.source_name(f) for f in files})
    if unknown:
        raise IngestError(
            f"the mapping names file(s) not given: {', '.join(unknown)}; the files are: "
            + ", ".join(readers.source_name(f) for f in files)
        )
    return files


def detect(sources: Source | list[Source], mapping: Mapping | None = None) -> list[FilePlan]:
    """Plan each file from its header and a sample (no full read): format, role, the
    guessed (or overridden) mapping, refused columns, missing required columns and a
    preview without refused columns.  A file that cannot be read (not a text export,
    empty, no rows) gets a plan with role ``skipped`` and the reason, when another file
    can be read.  Raises :class:`IngestError` when no file can be read, or for an invalid
    explicit mapping (a missing required column is reported, not raised)."""
    plans = []
    for source in _files(sources, mapping):
        raw = _read(source, sample=True)
        if isinstance(raw, str):
            plans.append(skipped_plan(readers.source_name(source), raw))
        else:
            plans.append(plan_file(raw, (mapping or {}).get(raw.name), None))
    if all(p.skipped for p in plans):
        raise _nothing_usable([p.skipped for p in plans])
    return plans


@dataclass
class _Loaded:
    raw: RawTable
    plan: FilePlan
    cols: Columns


def _load(
    sources: Source | list[Source], mapping: Mapping | None
) -> tuple[list[_Loaded], list[FileReport]]:
    """The read and planned files, and the reports of the files skipped because they
    cannot be read."""
    loaded, skipped = [], []
    for source in _files(sources, mapping):
        raw = _read(source, sample=False)
        if isinstance(raw, str):
            skipped.append(skipped_report(readers.source_name(source), raw))
            continue
        cols = Columns(raw.table)
        plan = plan_file(raw, (mapping or {}).get(raw.name), cols)
        if plan.role != "not_used":
            check_required(plan)
        loaded.append(_Loaded(raw, plan, cols))
    if not loaded:
        raise _nothing_usable([f.skipped for f in skipped])
    if all(f.plan.role == "not_used" for f in loaded):
        raise IngestError(
            "none of the files is a usable export: "
            + ", ".join(f"{f.plan.name} ({f.plan.format} {f.plan.role})" for f in loaded)
        )
    return loaded, skipped


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
    """What the files of one export gave so far (``column_diagnoses``: those of the event
    files' own diagnosis column)."""

    concepts: pd.DataFrame | None = None
    demographics: list[pd.DataFrame] = field(default_factory=list)
    diagnoses: list[pd.DataFrame] = field(default_factory=list)
    deaths: list[pd.DataFrame] = field(default_factory=list)
    event_files: list[FileOut] = field(default_factory=list)
    column_diagnoses: list[pd.DataFrame] = field(default_factory=list)
    encounters: list[pd.DataFrame] = field(default_factory=list)

    def add(self, out: FileOut) -> None:
        if out.concepts is not None:
            both = [c for c in (self.concepts, out.concepts) if c is not None]
            self.concepts = pd.concat(both) if len(both) > 1 else both[0]
        own = self.column_diagnoses if out.events is not None else self.diagnoses
        for found, parts in ((out.demographics, self.demographics),
                             (out.diagnoses, own), (out.deaths, self.deaths)):
            if found is not None and len(found):
                parts.append(found)
        if out.events is not None:
            self.event_files.append(out)
        if out.encounters is not None and len(out.encounters):
            self.encounters.append(out.encounters)


def _process_file(f: _Loaded, export: _Export, value_map: ValueMap | None) -> FileOut:
    raw, plan, cols = f.raw, f.plan, f.cols
    if plan.role == "concept":
        return process_concepts(raw, plan, cols)
    if plan.role in PATIENT_ROLES:
        return process_patients(raw, plan, cols)
    if plan.role in DEATH_ROLES:
        return process_death(raw, plan, cols)
    if plan.role in CONDITION_ROLES:
        return process_conditions(raw, plan, cols, export.concepts)
    if plan.role in ENCOUNTER_ROLES:
        return process_encounters(raw, plan, cols)
    if plan.role in EVENT_ROLES:
        if plan.format == "omop" and export.concepts is None:
            plan.notes.append("no OMOP concept table given: concept ids cannot be named")
        return process_events(raw, plan, cols, export.concepts, value_map)
    return process_unused(raw, plan)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _death_dates(export: _Export) -> pd.Series:
    """patient_id -> the patient's earliest death date among the export's files."""
    if not export.deaths:
        return pd.Series([], dtype=schema.DATE_DTYPE)
    deaths = _concat(export.deaths).dropna()
    return deaths.groupby("patient_id", sort=False)["death_date"].min()


def _finish_export(export: _Export) -> None:
    """Conform each event file's rows, end them at death, fill demographics and the
    diagnosis from the export's other files (in place on ``export.event_files``)."""
    deaths = _death_dates(export)
    demo = _concat(export.demographics) if export.demographics else None
    dx = _concat(export.diagnoses) if export.diagnoses else None
    encounters = _encounters(export)
    for out in export.event_files:
        events = schema.conform(out.events)
        if encounters is not None and out.encounter_ids is not None:
            _join_encounters(events, out.encounter_ids, encounters, out.report)
        cut, after, patients = coverage.apply_deaths(events, deaths)
        if cut:
            out.report.notes.append(
                f"{cut} row(s) run past the patient's death date: they end at death"
            )
        if after:
            out.report.notes.append(
                f"{after} row(s) of {patients} patient(s) start after the patient's death "
                "date: kept as exported (check the death dates)"
            )
        _broadcast(events, demo, dx)
        out.events = events


def _encounters(export: _Export) -> pd.DataFrame | None:
    """encounter_id -> provider_id, site of the export's encounter tables (None: none)."""
    if not export.encounters:
        return None
    frame = pd.concat(export.encounters) if len(export.encounters) > 1 else export.encounters[0]
    return frame[~frame.index.duplicated()]


def _join_encounters(events: pd.DataFrame, ids: pd.Series, encounters: pd.DataFrame,
                     report) -> None:
    """Fill each event's missing provider and site from its encounter (in place; the
    row's own values win); the report counts the rows filled and the encounter ids not
    found."""
    ids = ids.reset_index(drop=True)
    known = ids.isin(encounters.index)
    filled = []
    for column, what in (("provider_id", "provider"), ("site", "site")):
        looked = ids.map(encounters[column]).astype("string")
        fill = events[column].isna() & looked.notna()
        if fill.any():
            events[column] = events[column].fillna(looked)
            filled.append(f"{what} of {int(fill.sum())}")
    if filled:
        report.notes.append(" and ".join(filled) + " row(s) taken from their encounter")
    lost = ids.notna() & ~known
    if lost.any():
        report.notes.append(
            f"{int(lost.sum())} row(s) name an encounter the encounters table does not hold"
        )


def _all_diagnoses(exports: list[_Export]) -> pd.DataFrame:
    """The diagnoses of conditions tables and of the treatment rows' own diagnosis column
    (before the conditions' diagnosis was filled in), without exact duplicates."""
    parts = [d for e in exports for d in (*e.diagnoses, *e.column_diagnoses)]
    return _concat(parts).drop_duplicates(ignore_index=True) if parts else diagnoses.empty()


def _extract_date(events: pd.DataFrame, dx: pd.DataFrame, outs: list[FileOut]):
    candidates = [events["event_date"].max(), dx["diagnosis_date"].max(),
                  *(o.latest_set_aside for o in outs if o.latest_set_aside is not None)]
    known = [pd.Timestamp(c) for c in candidates if c is not None and not pd.isna(c)]
    return max(known).normalize() if known else None


def _count_open_orders(exports: list[_Export], extract: pd.Timestamp | None) -> None:
    for export in exports:
        for out in export.event_files:
            counts = coverage.count_open_orders(out.events, extract)
            out.report.open_orders = counts
            if counts:
                total = sum(counts.values())
                out.report.notes.append(
                    f"{total} medication order(s) without a stop date are open: "
                    f"{counts['dispenses']} end with their dispensed supply, {counts['death']} "
                    f"at the patient's death, {counts['extract date']} stay open through the "
                    f"extract date"
                    + (f" ({extract.date().isoformat()})" if extract is not None else "")
                )


def _population_source(loaded: list[_Loaded], exports: list[_Export]) -> str:
    if any(f.plan.role in CONDITION_ROLES for f in loaded):
        return "conditions"
    own = any(out.events["diagnosis"].notna().any() for e in exports for out in e.event_files
              if out.report.mapping.get("diagnosis"))
    return "diagnosis_column" if own else "none"


def ingest(
    sources: Source | list[Source],
    mapping: Mapping | None = None,
    value_map: ValueMap | None = None,
) -> IngestResult:
    """Read, map, classify, validate and PHI-guard the given exports (see
    :mod:`analytics.ingest` for every rule).  ``mapping`` is
    ``{file name: {canonical column or reason_code / refills / death_date / encounter_id:
    source column}}``, one entry per file it changes; ``value_map``
    (:class:`analytics.ingest.ValueMap`) says what the clinic's own technique and
    injection-type labels and descriptions mean.  A file that cannot be read is skipped
    and reported when another can be.  Raises :class:`IngestError` (one line) when no
    file can be read, a required column is missing, a mapping is invalid, or none of the
    files is a usable export."""
    loaded, skipped = _load(sources, mapping)
    outs: list[FileOut | None] = [None] * len(loaded)
    exports = []
    for members in _groups(loaded):
        export = _Export()
        for i in sorted(members, key=lambda j: _ROLE_ORDER.get(loaded[j].plan.role, 9)):
            outs[i] = _process_file(loaded[i], export, value_map)
            export.add(outs[i])
        _finish_export(export)
        exports.append(export)
    done = [o for o in outs if o is not None]
    frames = [o.events for e in exports for o in e.event_files]
    events = _concat(frames) if frames else schema.empty_events()
    _finish_demographics(events)
    dx = _all_diagnoses(exports)
    extract = _extract_date(events, dx, done)
    _count_open_orders(exports, extract)
    return IngestResult(
        events=events, report=IngestReport(files=[*(o.report for o in done), *skipped]),
        rejected=_listed([o.rejected for o in done]), diagnoses=dx, extract_date=extract,
        population_source=_population_source(loaded, exports),
        not_relevant=_listed([o.not_relevant for o in done]),
    )


def ingest_exports(
    sources: Source | list[Source],
    mapping: Mapping | None = None,
    value_map: ValueMap | None = None,
) -> Iterator[IngestResult]:
    """:func:`ingest` one export at a time, reading only that export's files: one
    :class:`IngestResult` per export, in the order :func:`ingest` processes them (the
    files of one Synthea or OMOP folder together, every other file alone), then one per
    file that cannot be read (its report only, as :func:`ingest` lists such files last).

    Each export's events, rejected and not-relevant rows and diagnoses are exactly those
    :func:`ingest` of all the sources gives for that export's files (every rule joins
    files of one export only).  What depends on every export is left to the caller: the
    dataset's extract date is the latest of the results' ``extract_date``, its population
    source :func:`combine_population_sources` of theirs, and diagnoses recorded
    identically in two exports are dropped as duplicates by :func:`ingest` only.  The
    open-order counts of each file's report use its own export's extract date.  Raises
    :class:`IngestError` as :func:`ingest` does, before yielding anything."""
    files = _files(sources, mapping)
    planned: list[_Planned] = []  # no plan is kept: its preview may hold the whole file
    for source in files:
        raw = _read(source, sample=True)
        if isinstance(raw, str):
            planned.append(_Planned(source, None, readers.source_name(source), "",
                                    "skipped", raw))
            continue
        plan = plan_file(raw, (mapping or {}).get(raw.name), None)
        if plan.role != "not_used":
            check_required(plan)
        planned.append(_Planned(source, raw.parent, plan.name, plan.format, plan.role))
        del raw, plan
    readable = [p for p in planned if p.role != "skipped"]
    if not readable:
        raise _nothing_usable([p.skipped for p in planned])
    if all(p.role == "not_used" for p in readable):
        raise IngestError(
            "none of the files is a usable export: "
            + ", ".join(f"{p.name} ({p.format} {p.role})" for p in readable)
        )
    groups: dict[tuple, list[_Planned]] = {}
    for i, p in enumerate(readable):
        key = (p.format, p.parent) if p.format in ("synthea", "omop") else ("generic", i)
        groups.setdefault(key, []).append(p)
    for members in groups.values():
        names = {p.name for p in members}
        if all(p.role == "not_used" for p in members):
            yield _unused_export([p.source for p in members], mapping)
            continue
        yield ingest([p.source for p in members],
                     {k: v for k, v in (mapping or {}).items() if k in names} or None,
                     value_map)
    for p in planned:
        if p.role == "skipped":
            yield IngestResult(events=schema.empty_events(),
                               report=IngestReport(files=[skipped_report(p.name, p.skipped)]),
                               rejected=empty_rejected(), diagnoses=diagnoses.empty())


@dataclass
class _Planned:
    """What :func:`ingest_exports` keeps of a file's plan: where it is, its name, format and
    role (``skipped``: it cannot be read, ``skipped`` saying why)."""

    source: Source
    parent: object
    name: str
    format: str
    role: str
    skipped: str = ""


def _unused_export(sources: list[Source], mapping: Mapping | None) -> IngestResult:
    """The result of an export none of whose files PainPath reads: every row not
    relevant."""
    reports = []
    for source in sources:
        raw = _read(source, sample=False)
        if isinstance(raw, str):  # readable a moment ago: report it as ingest would
            reports.append(skipped_report(readers.source_name(source), raw))
            continue
        plan = plan_file(raw, (mapping or {}).get(raw.name), None)
        reports.append(process_unused(raw, plan).report)
    return IngestResult(events=schema.empty_events(), report=IngestReport(files=reports),
                        rejected=empty_rejected(), diagnoses=diagnoses.empty())


def combine_population_sources(sources: list[str]) -> str:
    """The population source of a dataset made of several ingests (see
    :attr:`IngestResult.population_source`): ``conditions`` when any has a conditions
    table, else ``diagnosis_column`` when any has diagnosis values, else ``none``."""
    for source in ("conditions", "diagnosis_column"):
        if source in sources:
            return source
    return "none"


def _listed(frames: list[pd.DataFrame | None]) -> pd.DataFrame:
    """The rejected (or not-relevant) rows of every file in one frame."""
    parts = [f for f in frames if f is not None]
    if not parts:
        return empty_rejected()
    rejected = pd.concat(parts, ignore_index=True)
    for c in rejected.columns:
        if c != "row":
            rejected[c] = rejected[c].astype("string")
    return rejected


def _broadcast(events: pd.DataFrame, demo: pd.DataFrame | None, dx: pd.DataFrame | None) -> None:
    """Fill sex / birth year from patients, and the diagnosis from conditions (the
    patient's first spinal-pain, else general-pain diagnosis: for the cohort filter), by
    patient id (in place, on a conformed frame)."""
    if demo is not None:
        demo = demo.drop_duplicates("patient_id").set_index("patient_id")
        if "sex" in demo.columns:
            looked = events["patient_id"].map(demo["sex"]).astype("string")
            events["sex"] = events["sex"].fillna(looked)
        if "birth_year" in demo.columns:
            looked = events["patient_id"].map(demo["birth_year"]).astype("float64")
            events["birth_year"] = events["birth_year"].fillna(looked)
    if dx is not None:
        looked = events["patient_id"].map(diagnoses.first_per_patient(dx)).astype("string")
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
