"""Event files: duplicates, classification, validation, then the canonical event rows.

Output conventions: ``end_date`` is the last covered day (a Synthea ``STOP`` is taken as
the last covered day, as the OHDSI ETL-Synthea does for ``drug_exposure_end_date``).
``open_order`` is True for a medication row (narcotic / muscle relaxant) with no end date
and no days supply in a file where other medication rows carry an end date.
``quantity`` <= 0 (OMOP's "not recorded" 0) and pain scores outside 0..10 become
missing.  ``age`` is taken from an age column (ages over 89 stored as 90); a birth date
is kept as its year only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from analytics import phi, schema
from analytics.ingest import values
from analytics.ingest.classify import NOT_RELEVANT, TECH_INDEX, RowClasses, classify_rows
from analytics.ingest.columns import Columns, string_series
from analytics.ingest.mapping import FilePlan
from analytics.ingest.report import (
    REJECT_REASONS,
    FileOut,
    FileReport,
    file_report,
    finish_rejections,
)
from analytics.ingest.validate import Validation, validate_events
from analytics.readers import RawTable

_MEDICATION_TECHNIQUES = ("narcotic", "muscle_relaxant")
_TEXT_COLUMNS = ("detail", "code", "provider_id", "site", "diagnosis")


def _classes(plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None) -> RowClasses:
    parts = {
        c: values.text(plan, cols, c, concepts)
        for c in ("technique", "code", "detail", "injection_type")
    }
    return classify_rows(
        parts,
        cols.n,
        allow_cpt=plan.format == "generic" or plan.role == "procedure_occurrence",
        default_not_relevant=plan.format in ("synthea", "omop"),
    )


def _count_not_relevant(report: FileReport, classes: RowClasses, mask: np.ndarray) -> None:
    report.not_relevant = int(mask.sum())
    if not report.not_relevant:
        return
    counts = np.bincount(classes.group[mask], minlength=len(classes.reasons))
    by_reason: Counter[str] = Counter()
    for i in np.flatnonzero(counts):
        by_reason[classes.reasons[i] or "not pain management"] += int(counts[i])
    report.not_relevant_by_reason = dict(by_reason)
    for reason, count in sorted(by_reason.items()):
        report.notes.append(f"{count} row(s) not relevant: {reason}")


def process_events(
    raw: RawTable, plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None
) -> FileOut:
    """Duplicates, classification, validation and the canonical rows of an event file
    (``concepts``: the OMOP concept table of its export, if any)."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    classes = _classes(plan, cols, concepts)
    not_rel = (~dup) & (classes.technique == NOT_RELEVANT)
    _count_not_relevant(report, classes, not_rel)
    patient = values.text(plan, cols, "patient_id", concepts)
    checked = validate_events(
        plan, cols, (~dup) & (~not_rel), classes.technique, patient, raw.kind == "xlsx"
    )
    report.notes.extend(checked.notes)
    rejected = finish_rejections(raw, plan, report, checked.reason, REJECT_REASONS)
    accepted = (~dup) & (~not_rel) & (checked.reason < 0)
    report.accepted = int(accepted.sum())
    builder = _EventBuilder(plan, cols, concepts, report, np.flatnonzero(accepted),
                            raw.kind == "xlsx")
    events = builder.build(classes, checked, patient)
    return FileOut(report=report, events=events, rejected=rejected)


class _EventBuilder:
    """The canonical columns of the accepted rows ``sel`` of one event file."""

    def __init__(self, plan, cols, concepts, report: FileReport, sel: np.ndarray, excel: bool):
        self.plan, self.cols, self.concepts, self.report = plan, cols, concepts, report
        self.sel, self.m, self.excel = sel, len(sel), excel
        self.out: dict[str, object] = {}

    def build(self, classes: RowClasses, checked: Validation, patient) -> pd.DataFrame:
        self._core(classes, checked, patient)
        self._text()
        self._numbers()
        self._demographics()
        self._open_orders()
        out = self.out
        if self.m == 0:
            out = {k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()}
        return pd.DataFrame(out, index=pd.RangeIndex(self.m))

    def _core(self, classes: RowClasses, checked: Validation, patient) -> None:
        sel, out = self.sel, self.out
        out["patient_id"] = (
            string_series(patient[1], patient[0][sel]) if patient
            else pd.Series([], dtype="string")
        )
        out["event_date"] = checked.start[sel]
        tech = classes.technique[sel]
        out["technique"] = pd.Categorical.from_codes(
            tech.astype(np.int8), categories=list(schema.TECHNIQUES)
        )
        inj = np.where(tech == TECH_INDEX["injection"], classes.injection[sel], -1)
        out["injection_type"] = pd.Categorical.from_codes(
            inj.astype(np.int8), categories=list(schema.INJECTION_TYPES)
        )
        out["end_date"] = (
            checked.end[sel] if checked.end is not None
            else np.full(self.m, np.datetime64("NaT"), "datetime64[s]")
        )
        self.has_end_column = checked.end is not None
        if checked.days is not None:
            out["days_supply"] = checked.days[sel]

    def _text(self) -> None:
        for canonical in _TEXT_COLUMNS:
            v = values.text(self.plan, self.cols, canonical, self.concepts)
            if v is not None:
                self.out[canonical] = string_series(v[1], v[0][self.sel])

    def _number(self, canonical: str) -> np.ndarray | None:
        return values.numbers(self.plan, self.cols, canonical, self.sel)

    def _numbers(self) -> None:
        quantity = self._number("quantity")
        if quantity is not None:
            bad = quantity <= 0
            if bad.any():
                self.report.notes.append(
                    f"quantity <= 0 treated as missing on {int(bad.sum())} row(s)"
                )
            self.out["quantity"] = np.where(bad, np.nan, quantity)
        for canonical in ("strength", "mme_per_day"):
            v = self._number(canonical)
            if v is not None:
                self.out[canonical] = np.where(v < 0, np.nan, v)
        pain = self._number("pain_score")
        if pain is not None:
            bad = (pain < 0) | (pain > 10)
            if bad.any():
                self.report.notes.append(
                    f"pain score outside 0..10 treated as missing on {int(bad.sum())} row(s)"
                )
            self.out["pain_score"] = np.where(bad, np.nan, pain)

    def _demographics(self) -> None:
        age = self._number("age")
        if age is not None:
            if (age > 89).any():
                self.report.notes.append(
                    f"ages over 89 stored as 90 on {int((age > 89).sum())} row(s)"
                )
            self.out["age"] = phi.cap_age(age)
        birth = values.birth_years(self.plan, self.cols, self.sel, self.excel)
        if birth is not None:
            self.out["birth_year"] = birth
            source = self.plan.mapping["birth_year"]
            if phi.phi_rule(source) is not None:
                self.report.notes.append(f"'{source}' kept as birth year only")
        sex = values.sex(self.plan, self.cols, self.sel)
        if sex is not None:
            self.out["sex"] = sex

    def _open_orders(self) -> None:
        tech = np.asarray(self.out["technique"].codes)
        is_med = np.isin(tech, [TECH_INDEX[t] for t in _MEDICATION_TECHNIQUES])
        open_order = np.zeros(self.m, dtype=bool)
        end = self.out["end_date"]
        if self.has_end_column and is_med.any():
            no_end = np.isnat(end)
            days = self.out.get("days_supply")
            no_days = np.isnan(days) if days is not None else np.ones(self.m, bool)
            if (is_med & ~no_end).any():
                open_order = is_med & no_end & no_days
                if open_order.any():
                    self.report.notes.append(
                        f"{int(open_order.sum())} medication order(s) without a stop date are "
                        "open (covered through the extract date)"
                    )
        self.out["open_order"] = open_order
