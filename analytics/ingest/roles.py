"""Auxiliary files of an export: patients / person, conditions, concept, unused tables.

- ``patients`` / ``person``: a row with a patient id is *accepted* (it gives sex and
  birth year); no id -> rejected ``missing patient id``.
- ``conditions`` / ``condition_occurrence``: a back-pain diagnosis
  (``back_pain_diagnoses.csv``) with a patient id is *accepted*; other conditions are
  *not relevant*; no id -> rejected.
- ``concept``: a row with a concept id is *accepted* (vocabulary); no id -> rejected
  ``missing concept id``.
- ``not_used`` files (e.g. Synthea ``encounters``): every row is *not relevant*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import phi, vocab
from analytics.ingest import values
from analytics.ingest.columns import Columns, string_series, take
from analytics.ingest.formats import file_stem
from analytics.ingest.mapping import FilePlan
from analytics.ingest.report import FileOut, file_report, finish_rejections
from analytics.readers import RawTable

_MISSING_PATIENT = ("missing patient id",)


def _back_pain_rows(plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None) -> np.ndarray:
    code = values.text(plan, cols, "code", concepts)
    detail = values.text(plan, cols, "detail", concepts)
    prefixes, pattern = vocab.back_pain_diagnoses()
    is_bp = np.zeros(cols.n, dtype=bool)
    if code is not None:
        norm = [str(u).replace(".", "").upper() if u is not None else "" for u in code[1]]
        hit = np.array([bool(prefixes) and s.startswith(prefixes) for s in norm], dtype=bool)
        is_bp |= take(hit, code[0], False).astype(bool)
    if detail is not None and pattern is not None:
        hit = np.array([u is not None and bool(pattern.search(str(u))) for u in detail[1]], bool)
        is_bp |= take(hit, detail[0], False).astype(bool)
    return is_bp


def _diagnosis_frame(
    raw: RawTable, plan: FilePlan, cols: Columns, concepts, patient, sel: np.ndarray
) -> pd.DataFrame:
    code = values.text(plan, cols, "code", concepts)
    detail = values.text(plan, cols, "detail", concepts)
    text = detail if detail is not None else code
    start = values.dates(plan, cols, "event_date", raw.kind == "xlsx")
    diag = pd.DataFrame(
        {
            "patient_id": string_series(patient[1], patient[0][sel]),
            "date": start.dates[sel]
            if start
            else np.full(len(sel), np.datetime64("NaT"), "datetime64[s]"),
            "diagnosis": string_series(text[1], text[0][sel]),
        }
    )
    if detail is not None and code is not None:
        missing_text = diag["diagnosis"].isna().to_numpy()
        if missing_text.any():
            codes_str = string_series(code[1], code[0][sel])
            diag.loc[missing_text, "diagnosis"] = codes_str[missing_text].to_numpy()
    return diag


def process_conditions(
    raw: RawTable, plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None
) -> FileOut:
    """A conditions table: back-pain diagnoses accepted (``diagnoses``: patient_id, date,
    diagnosis), other conditions not relevant."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    is_bp = _back_pain_rows(plan, cols, concepts)
    patient = values.text(plan, cols, "patient_id", concepts)
    missing = patient[0] < 0 if patient else np.ones(cols.n, bool)
    reason_idx = np.where((~dup) & is_bp & missing, 0, -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, _MISSING_PATIENT)
    acc = (~dup) & is_bp & ~missing
    not_rel = (~dup) & ~is_bp
    report.accepted = int(acc.sum())
    report.not_relevant = int(not_rel.sum())
    if report.not_relevant:
        report.not_relevant_by_reason = {"not a back-pain diagnosis": report.not_relevant}
    sel = np.flatnonzero(acc)
    diag = None
    if len(sel) and patient is not None:
        diag = _diagnosis_frame(raw, plan, cols, concepts, patient, sel)
    return FileOut(report=report, rejected=rejected, diagnoses=diag)


def process_patients(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """A patients / person table: ``demographics`` (patient_id, sex, birth_year)."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    patient = values.text(plan, cols, "patient_id")
    missing = patient[0] < 0 if patient else np.ones(cols.n, bool)
    reason_idx = np.where((~dup) & missing, 0, -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, _MISSING_PATIENT)
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    demo = None
    if patient is not None:
        demo = pd.DataFrame({"patient_id": string_series(patient[1], patient[0][sel])})
        sex = values.sex(plan, cols, sel)
        if sex is not None:
            demo["sex"] = sex.to_numpy()
        birth = values.birth_years(plan, cols, sel, raw.kind == "xlsx")
        if birth is not None:
            demo["birth_year"] = birth
            if phi.phi_rule(plan.mapping["birth_year"]) is not None:
                report.notes.append(f"'{plan.mapping['birth_year']}' kept as birth year only")
    return FileOut(report=report, rejected=rejected, demographics=demo)


def process_concepts(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """An OMOP concept table: ``concepts`` indexed by concept_id (concept_name,
    concept_code)."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    by_norm = {vocab.normalise_name(c): c for c in plan.columns}
    cid = cols.get(by_norm["conceptid"])
    missing = cid[0] < 0
    reason_idx = np.where((~dup) & missing, 0, -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, ("missing concept id",))
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    name = cols.get(by_norm["conceptname"])
    frame = pd.DataFrame(
        {
            "concept_id": take(cid[1], cid[0][sel], None),
            "concept_name": take(name[1], name[0][sel], None),
        }
    )
    if "conceptcode" in by_norm:
        code = cols.get(by_norm["conceptcode"])
        frame["concept_code"] = take(code[1], code[0][sel], None)
    else:
        frame["concept_code"] = None
    frame = frame.drop_duplicates("concept_id").set_index("concept_id")
    return FileOut(report=report, rejected=rejected, concepts=frame)


def process_unused(raw: RawTable, plan: FilePlan) -> FileOut:
    """A table PainPath does not read: every row is not relevant."""
    report = file_report(raw, plan)
    report.not_relevant = report.rows_read
    if report.rows_read:
        report.not_relevant_by_reason = {
            f"file not used ({plan.format} {file_stem(raw.name)})": report.rows_read
        }
    report.notes.append("file not used: it holds no treatment events, diagnoses or demographics")
    return FileOut(report=report)
