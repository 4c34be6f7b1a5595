"""Auxiliary files of an export: patients / person, death, conditions, concept, unused.

- ``patients`` / ``person``: a row with a patient id is *accepted*: it gives sex, birth
  year and (Synthea ``DEATHDATE``) the death date; no id -> rejected
  ``missing patient id``.
- ``death`` (OMOP): a row with a person id and a readable death date is *accepted*;
  otherwise rejected (missing patient id, missing / unparseable / out-of-range death
  date).
- ``conditions`` / ``condition_occurrence`` / a generic ``diagnoses`` file: a spinal-pain,
  general-pain or opioid-use-disorder diagnosis (:mod:`.diagnoses`) with a patient id and
  a valid date is *accepted* (a row of ``IngestResult.diagnoses``); without a patient id
  or date it is rejected; any other condition is *not relevant*.
- ``concept``: a row with a concept id is *accepted* (vocabulary); no id -> rejected
  ``missing concept id``.
- ``encounters`` (Synthea) / ``visit_occurrence`` (OMOP): a row with an encounter id is
  *accepted*: it gives the encounter's provider (``PROVIDER`` / ``provider_id``) and site
  (``ORGANIZATION`` / ``care_site_id``), pseudonymous as exported; no id -> rejected
  ``missing encounter id``.
- ``not_used`` files (e.g. Synthea ``encounters``): every row is *not relevant*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import indications, phi, readers, vocab
from analytics.ingest import diagnoses, values
from analytics.ingest.columns import Columns, combine, string_series, take
from analytics.ingest.formats import file_stem
from analytics.ingest.mapping import FilePlan
from analytics.ingest.report import (
    REJECT_REASONS,
    FileOut,
    file_report,
    finish_rejections,
    not_relevant_rows,
)
from analytics.readers import RawTable

_REASON_INDEX = {r: i for i, r in enumerate(REJECT_REASONS)}
_OTHER_CONDITION = "other condition (not spinal pain, general pain or opioid use disorder)"
_NO_DIAGNOSIS = "no diagnosis code or description"


def _start(raw: RawTable, plan: FilePlan, cols: Columns):
    """A fresh report and the file's duplicate rows (counted)."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    return report, dup


def _date_reasons(column: values.DateColumn | None, n: int, kind: str) -> np.ndarray:
    """Per row the index of the first failing date check (-1 = valid)."""
    status = column.status if column is not None else np.full(n, readers.DATE_EMPTY, np.int8)
    out = np.full(n, -1, dtype=np.int64)
    for code, reason in ((readers.DATE_EMPTY, f"missing {kind} date"),
                         (readers.DATE_UNPARSEABLE, f"unparseable {kind} date"),
                         (readers.DATE_OUT_OF_RANGE, f"{kind} date out of range")):
        out[status == code] = _REASON_INDEX[reason]
    return out


def _condition_parts(plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None):
    """(code part, description part) of a conditions file; a lone diagnosis column
    serves as both."""
    code = values.text(plan, cols, "code", concepts)
    if plan.format == "omop" and concepts is None:
        by_norm = {vocab.normalise_name(c): c for c in plan.columns}
        source = by_norm.get("conditionsourcevalue")
        code = cols.get(source) if source else code
    detail = values.text(plan, cols, "detail", concepts)
    diagnosis = values.text(plan, cols, "diagnosis", concepts)
    return code or diagnosis, detail or diagnosis


def _kinds(code, detail, n: int) -> np.ndarray:
    """condition_kind of every row, computed once per distinct (code, description)."""
    parts = [p for p in (code, detail) if p is not None]
    if not parts or n == 0:
        return np.full(n, "", dtype=object)
    key = combine([(p[0], len(p[1])) for p in parts], n)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)

    def pick(part):
        if part is None:
            return None
        return [part[1][part[0][r]] if part[0][r] >= 0 else None for r in first]

    return indications.condition_kind(pick(code), pick(detail))[inverse]


def _diagnosis_rows(code, detail, patient, dates: np.ndarray, kind, sel) -> pd.DataFrame:
    code_s = string_series(code[1], code[0][sel]) if code else None
    desc_s = string_series(detail[1], detail[0][sel]) if detail else None
    if code is detail and code_s is not None:  # one diagnosis column: split by shape
        frame = diagnoses.frame(patient, dates, code_s, code_s, kind)
        shaped = frame["code"].str.fullmatch(diagnoses.CODE_SHAPE, case=False).fillna(False)
        frame["code"] = frame["code"].where(shaped)
        frame["description"] = frame["description"].where(~shaped)
        return frame
    empty = pd.Series(pd.NA, index=range(len(sel)), dtype="string")
    return diagnoses.frame(patient, dates, code_s if code_s is not None else empty,
                           desc_s if desc_s is not None else empty, kind)


def process_conditions(
    raw: RawTable, plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None
) -> FileOut:
    """A conditions / diagnoses table (module docstring)."""
    report, dup = _start(raw, plan, cols)
    code, detail = _condition_parts(plan, cols, concepts)
    kind = _kinds(code, detail, cols.n)
    relevant = (~dup) & np.isin(kind, list(indications.KINDS))
    patient = values.text(plan, cols, "patient_id", concepts)
    start = values.dates(plan, cols, "event_date", raw.kind == "xlsx")
    reason = np.where(relevant, _date_reasons(start, cols.n, "event"), -1)
    missing = patient[0] < 0 if patient else np.ones(cols.n, bool)
    reason = np.where(relevant & missing, _REASON_INDEX["missing patient id"], reason)
    rejected = finish_rejections(raw, plan, report, reason, REJECT_REASONS, cols)
    acc = relevant & (reason < 0)
    report.accepted = int(acc.sum())
    not_rel = (~dup) & ~relevant
    report.not_relevant = int(not_rel.sum())
    blank = not_rel & (kind == "")
    report.not_relevant_by_reason = {
        k: v for k, v in ((_OTHER_CONDITION, int((not_rel & ~blank).sum())),
                          (_NO_DIAGNOSIS, int(blank.sum()))) if v
    }
    if start is not None and start.note:
        report.notes.append(start.note)
    sel = np.flatnonzero(acc)
    found = None
    if len(sel):
        pid = string_series(patient[1], patient[0][sel])
        found = _diagnosis_rows(code, detail, pid, start.dates[sel], kind[sel], sel)
    why = np.where(kind == "", _NO_DIAGNOSIS, _OTHER_CONDITION).astype(object)
    return FileOut(report=report, rejected=rejected, diagnoses=found,
                   not_relevant=not_relevant_rows(raw, plan, cols, not_rel, why))


def process_patients(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """A patients / person table: ``demographics`` (patient_id, sex, birth_year) and
    ``deaths``."""
    report, dup = _start(raw, plan, cols)
    patient = values.text(plan, cols, "patient_id")
    missing = patient[0] < 0 if patient else np.ones(cols.n, bool)
    reason_idx = np.where((~dup) & missing, 0, -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, REJECT_REASONS, cols)
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    demo = None
    excel = raw.kind == "xlsx"
    if patient is not None:
        demo = pd.DataFrame({"patient_id": string_series(patient[1], patient[0][sel])})
        sex = values.sex(plan, cols, sel)
        if sex is not None:
            demo["sex"] = sex.to_numpy()
        birth = values.birth_years(plan, cols, sel, excel)
        if birth is not None:
            demo["birth_year"] = birth
            if phi.phi_rule(plan.mapping["birth_year"]) is not None:
                report.notes.append(f"'{plan.mapping['birth_year']}' kept as birth year only")
    deaths = values.death_dates(plan, cols, patient, acc, excel, report.notes)
    if deaths is not None and len(deaths):
        report.notes.append(
            f"'{plan.mapping['death_date']}' of {len(deaths)} patient(s) closes their orders "
            "at death and is kept as the year of death only"
        )
    return FileOut(report=report, rejected=rejected, demographics=demo, deaths=deaths)


def process_death(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """An OMOP death table: ``deaths`` (patient_id, death_date)."""
    report, dup = _start(raw, plan, cols)
    patient = values.text(plan, cols, "patient_id")
    column = values.dates(plan, cols, "death_date", raw.kind == "xlsx")
    reason = np.where(~dup, _date_reasons(column, cols.n, "death"), -1)
    missing = patient[0] < 0 if patient else np.ones(cols.n, bool)
    reason = np.where((~dup) & missing, _REASON_INDEX["missing patient id"], reason)
    rejected = finish_rejections(raw, plan, report, reason, REJECT_REASONS, cols)
    acc = (~dup) & (reason < 0)
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    deaths = None
    if len(sel):
        deaths = pd.DataFrame({"patient_id": string_series(patient[1], patient[0][sel]),
                               "death_date": column.dates[sel]})
        report.notes.append(
            f"death dates of {len(sel)} person(s) close their orders at death and are kept "
            "as the year of death only"
        )
    return FileOut(report=report, rejected=rejected, deaths=deaths)


def process_concepts(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """An OMOP concept table: ``concepts`` indexed by concept_id (concept_name,
    concept_code)."""
    report, dup = _start(raw, plan, cols)
    by_norm = {vocab.normalise_name(c): c for c in plan.columns}
    cid = cols.get(by_norm["conceptid"])
    missing = cid[0] < 0
    reason_idx = np.where((~dup) & missing, _REASON_INDEX["missing concept id"], -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, REJECT_REASONS, cols)
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


def process_encounters(raw: RawTable, plan: FilePlan, cols: Columns) -> FileOut:
    """An encounters / visit table: ``encounters`` (encounter_id, provider_id, site; one
    row per encounter id, the first)."""
    report, dup = _start(raw, plan, cols)
    encounter = values.text(plan, cols, "encounter_id")
    missing = encounter[0] < 0 if encounter else np.ones(cols.n, bool)
    reason_idx = np.where((~dup) & missing, _REASON_INDEX["missing encounter id"], -1)
    rejected = finish_rejections(raw, plan, report, reason_idx, REJECT_REASONS, cols)
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    frame = pd.DataFrame({"encounter_id": string_series(encounter[1], encounter[0][sel])
                          if encounter else pd.Series([], dtype="string")})
    for canonical in ("provider_id", "site"):
        part = values.text(plan, cols, canonical)
        frame[canonical] = (string_series(part[1], part[0][sel]) if part is not None
                            else pd.Series(pd.NA, index=frame.index, dtype="string"))
    frame = frame.drop_duplicates("encounter_id").set_index("encounter_id")
    report.notes.append(
        "encounters read for the provider and site of the treatment rows; they are not "
        "events"
    )
    return FileOut(report=report, rejected=rejected, encounters=frame)


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
