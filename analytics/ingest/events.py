"""Event files: duplicates, classification, indication, validation, then the canonical
event rows.

Output conventions: ``end_date`` is the last covered day (a Synthea ``STOP`` is taken as
the last covered day, as the OHDSI ETL-Synthea does for ``drug_exposure_end_date``).
``quantity`` <= 0 (OMOP's "not recorded" 0) and pain scores outside 0..10 become
missing.  ``age`` is taken from an age column (ages over 89 stored as 90); a birth date
is kept as its year only.  ``reason`` holds the row's reason as exported (its
description, else its code).  ``drug_class``, ``region``, ``dispenses`` and
``open_order``: see :mod:`.classify`, :mod:`.regions` and :mod:`.coverage`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from analytics import phi, schema
from analytics.ingest import coverage, diagnoses, values
from analytics.ingest.classify import (
    NOT_RELEVANT,
    TECH_INDEX,
    RowClasses,
    classify_rows,
)
from analytics.ingest.columns import Columns, string_series, take
from analytics.ingest.indication import OTHER_INDICATION, Indications, read_indications
from analytics.ingest.mapping import FilePlan
from analytics.ingest.regions import column_regions
from analytics.ingest.report import (
    REJECT_REASONS,
    FileOut,
    FileReport,
    file_report,
    finish_rejections,
    not_relevant_rows,
)
from analytics.ingest.validate import Validation, validate_events
from analytics.ingest.value_map import ValueMap
from analytics.readers import RawTable

_TEXT_COLUMNS = ("detail", "code", "provider_id", "site", "diagnosis", "pharmacy_id")
_TREATMENTS = np.array([TECH_INDEX[t] for t in schema.DEFAULT_PATHWAY_TECHNIQUES])
"""The techniques the indication rule applies to (never ``other``: the rows kept only for
their drug class, acupuncture, ...)."""
_SHOWN_VALUES = 5


_PARTS = ("technique", "code", "detail", "injection_type")


def _classes(parts: dict, plan: FilePlan, n: int, value_map: ValueMap) -> RowClasses:
    return classify_rows(
        parts,
        n,
        allow_cpt=plan.format == "generic" or plan.role == "procedure_occurrence",
        default_not_relevant=plan.format in ("synthea", "omop"),
        value_map=value_map,
    )


def _value_counts(kind: str, column: str, part, rows: np.ndarray, technique: np.ndarray
                  ) -> list[dict]:
    """Per distinct value of ``part`` among ``rows``: its rows and how they were
    classified (by other evidence, not relevant, unknown)."""
    codes, uniques = part
    sel = rows & (codes >= 0)
    if not sel.any():
        return []
    tech = technique[sel]
    outcome = np.where(tech >= 0, 0, np.where(tech == NOT_RELEVANT, 1, 2))
    counts = np.bincount(codes[sel] * 3 + outcome, minlength=3 * len(uniques))
    counts = counts.reshape(len(uniques), 3)
    out = []
    for i in np.flatnonzero(counts.sum(axis=1)):
        value = uniques[i]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        out.append({"kind": kind, "column": column, "value": str(value),
                    "rows": int(counts[i].sum()), "classified": int(counts[i, 0]),
                    "not_relevant": int(counts[i, 1]), "unknown": int(counts[i, 2])})
    return out


def unknown_values(plan: FilePlan, parts: dict, classes: RowClasses, candidates: np.ndarray
                   ) -> list[dict]:
    """The values of the ``candidates`` rows (not duplicates) PainPath did not recognise:
    technique and injection-type labels no table or map knows, and the descriptions of
    rows nothing classified, with their row counts (``FileReport.unknown_values``)."""
    out: list[dict] = []
    for kind, canonical, flag in (("technique", "technique", classes.unknown_label),
                                  ("injection_type", "injection_type",
                                   classes.unknown_injection_label),
                                  ("description", "detail", classes.unmatched)):
        part = parts.get(canonical)
        if part is not None and flag.any():
            rows = candidates & flag[classes.group]
            out += _value_counts(kind, plan.mapping[canonical], part, rows, classes.technique)
    return out


def _count_not_relevant(
    report: FileReport, classes: RowClasses, by_class: np.ndarray, by_indication: np.ndarray
) -> None:
    counts = np.bincount(classes.group[by_class], minlength=len(classes.reasons))
    by_reason: Counter[str] = Counter()
    for i in np.flatnonzero(counts):
        by_reason[classes.reasons[i] or "not pain management"] += int(counts[i])
    if by_indication.any():
        by_reason[OTHER_INDICATION] += int(by_indication.sum())
    report.not_relevant = int(by_class.sum() + by_indication.sum())
    report.not_relevant_by_reason = dict(by_reason)
    for reason, count in sorted(by_reason.items()):
        report.notes.append(f"{count} row(s) not relevant: {reason}")


def _not_relevant_reasons(
    classes: RowClasses, by_class: np.ndarray, by_indication: np.ndarray
) -> np.ndarray:
    """The reason of each not-relevant row (``by_class | by_indication``), in row order."""
    rows = np.flatnonzero(by_class | by_indication)
    reasons = np.where(classes.reasons == "", "not pain management", classes.reasons)
    out = reasons.astype(object)[classes.group[rows]] if len(rows) else np.empty(0, object)
    out[by_indication[rows]] = OTHER_INDICATION
    return out


def _note_unknown_values(report: FileReport) -> None:
    for kind, what in (("technique", "technique label(s)"),
                       ("injection_type", "injection-type label(s)"),
                       ("description", "description(s)")):
        found = [v for v in report.unknown_values if v["kind"] == kind]
        if found:
            rows = sum(v["rows"] for v in found)
            report.notes.append(
                f"{len(found)} {what} PainPath does not know, on {rows} row(s) "
                f"({_shown([v['value'] for v in found])}): map them to a technique or to "
                "not relevant (value map)"
            )


def _shown(values_: list[str]) -> str:
    more = len(values_) - _SHOWN_VALUES
    text = ", ".join(f"'{v}'" for v in values_[:_SHOWN_VALUES])
    return text + (f" and {more} more" if more > 0 else "")


def _indications(plan, cols, concepts, classes: RowClasses, candidates) -> Indications:
    """The rows' reasons; ``other`` is limited to the treatment rows (physical therapy,
    muscle relaxant, narcotic, injection, surgery) among ``candidates``."""
    found = read_indications(
        values.text(plan, cols, "reason_code", concepts),
        values.text(plan, cols, "reason", concepts),
        cols.n,
    )
    treatment = np.isin(classes.technique, _TREATMENTS)
    found.other &= candidates & treatment
    found.unknown_code &= candidates & treatment
    return found


def _latest(dates: np.ndarray, mask: np.ndarray) -> np.datetime64 | None:
    picked = dates[mask]
    picked = picked[~np.isnat(picked)]
    return picked.max() if len(picked) else None


def process_events(
    raw: RawTable, plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None,
    value_map: ValueMap | None = None,
) -> FileOut:
    """Duplicates, classification, indication, validation and the canonical rows of an
    event file (``concepts``: the OMOP concept table of its export, if any;
    ``value_map``: the clinic's own labels and descriptions)."""
    report = file_report(raw, plan)
    dup = cols.duplicates(plan.columns)
    report.duplicates = int(dup.sum())
    parts = {c: values.text(plan, cols, c, concepts) for c in _PARTS}
    classes = _classes(parts, plan, cols.n, value_map or ValueMap())
    report.unknown_values = unknown_values(plan, parts, classes, ~dup)
    _note_unknown_values(report)
    not_rel = (~dup) & (classes.technique == NOT_RELEVANT)
    found = _indications(plan, cols, concepts, classes, (~dup) & (~not_rel))
    _count_not_relevant(report, classes, not_rel, found.other)
    patient = values.text(plan, cols, "patient_id", concepts)
    kept = (~dup) & (~not_rel) & (~found.other)
    checked = validate_events(plan, cols, kept, classes.technique, patient, raw.kind == "xlsx")
    report.notes.extend(checked.notes)
    rejected = finish_rejections(raw, plan, report, checked.reason, REJECT_REASONS,
                                 cols)
    set_aside = not_rel | found.other
    not_relevant = not_relevant_rows(raw, plan, cols, set_aside,
                                     _not_relevant_reasons(classes, not_rel, found.other))
    accepted = kept & (checked.reason < 0)
    report.accepted = int(accepted.sum())
    unknown = found.unknown_code & accepted
    if unknown.any():
        report.notes.append(
            f"{int(unknown.sum())} row(s) counted although PainPath does not know their reason "
            f"code ({_shown(found.unknown_codes(accepted))}): a code alone does not say it is "
            "another condition"
        )
    sel = np.flatnonzero(accepted)
    builder = _EventBuilder(plan, cols, concepts, report, sel, raw.kind == "xlsx")
    own_diagnosis = values.text(plan, cols, "diagnosis", concepts)
    return FileOut(
        report=report,
        events=builder.build(classes, checked, patient),
        rejected=rejected,
        not_relevant=not_relevant,
        diagnoses=(diagnoses.from_diagnosis_column(patient, own_diagnosis, checked.start, sel)
                   if own_diagnosis is not None and patient is not None else None),
        deaths=values.death_dates(plan, cols, patient, ~dup, raw.kind == "xlsx", report.notes),
        latest_set_aside=_latest(checked.start, found.other),
        encounter_ids=_encounter_ids(plan, cols, concepts, sel),
    )


def _encounter_ids(plan: FilePlan, cols: Columns, concepts, sel: np.ndarray) -> pd.Series | None:
    """The encounter id of each accepted row (None when no encounter column is mapped)."""
    part = values.text(plan, cols, "encounter_id", concepts)
    return string_series(part[1], part[0][sel]) if part is not None else None


class _EventBuilder:
    """The canonical columns of the accepted rows ``sel`` of one event file."""

    def __init__(self, plan, cols, concepts, report: FileReport, sel: np.ndarray, excel: bool):
        self.plan, self.cols, self.concepts, self.report = plan, cols, concepts, report
        self.sel, self.m, self.excel = sel, len(sel), excel
        self.out: dict[str, object] = {}

    def build(self, classes: RowClasses, checked: Validation, patient) -> pd.DataFrame:
        self._core(classes, checked, patient)
        self._region(classes)
        self._text()
        self._numbers()
        self._demographics()
        self.out["open_order"] = coverage.open_orders(
            classes.drug_class[self.sel], self.out["end_date"], checked.end is not None
        )
        out = self.out
        if self.m == 0:
            out = {k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()}
        return pd.DataFrame(out, index=pd.RangeIndex(self.m), copy=False)  # fresh arrays

    def _categorical(self, codes: np.ndarray, name: str) -> pd.Categorical:
        return pd.Categorical.from_codes(
            codes.astype(np.int8), categories=list(schema.CATEGORY_COLUMNS[name])
        )

    def _core(self, classes: RowClasses, checked: Validation, patient) -> None:
        sel, out = self.sel, self.out
        out["patient_id"] = (
            string_series(patient[1], patient[0][sel]) if patient
            else pd.Series([], dtype="string")
        )
        out["event_date"] = checked.start[sel]
        tech = classes.technique[sel]
        out["technique"] = self._categorical(tech, "technique")
        self.is_injection = tech == TECH_INDEX["injection"]
        out["injection_type"] = self._categorical(
            np.where(self.is_injection, classes.injection[sel], -1), "injection_type"
        )
        out["drug_class"] = self._categorical(classes.drug_class[sel], "drug_class")
        out["end_date"] = (
            checked.end[sel] if checked.end is not None
            else np.full(self.m, np.datetime64("NaT"), "datetime64[s]")
        )
        if checked.days is not None:
            out["days_supply"] = checked.days[sel]

    def _region(self, classes: RowClasses) -> None:
        """CPT region, else the region/level column, else the description (module
        :mod:`.regions`); unreadable region values are noted."""
        sel = self.sel
        region = classes.region[sel]
        from_code = classes.region_from_code[sel]
        source = self.plan.mapping.get("region")
        if source is not None:
            codes, uniques = self.cols.get(source)
            read = column_regions(uniques)
            column = take(read, codes[sel], -1)
            used = self.is_injection & ~from_code & (codes[sel] >= 0)
            region = np.where(used & (column >= 0), column, region)
            bad = used & (column < 0)
            if bad.any():
                shown = sorted(str(uniques[c]) for c in np.unique(codes[sel][bad]))
                self.report.notes.append(
                    f"spinal region not readable on {int(bad.sum())} injection row(s) "
                    f"({_shown(shown)} in '{source}'): left missing"
                )
        region = np.where(self.is_injection, region, -1)
        missing = self.is_injection & (region < 0)
        if missing.any():
            self.report.notes.append(
                f"{int(missing.sum())} injection row(s) without a spinal region (payer limits "
                "count them per injection type)"
            )
        self.out["region"] = self._categorical(region, "region")

    def _text(self) -> None:
        for canonical in _TEXT_COLUMNS:
            v = values.text(self.plan, self.cols, canonical, self.concepts)
            if v is not None:
                self.out[canonical] = string_series(v[1], v[0][self.sel])
        reason = values.reason_text(self.plan, self.cols, self.concepts, self.sel)
        if reason is not None:
            self.out["reason"] = reason

    def _number(self, canonical: str) -> np.ndarray | None:
        return values.numbers(self.plan, self.cols, canonical, self.sel)

    def _numbers(self) -> None:
        notes = self.report.notes
        quantity = self._number("quantity")
        if quantity is not None:
            bad = quantity <= 0
            if bad.any():
                notes.append(f"quantity <= 0 treated as missing on {int(bad.sum())} row(s)")
            self.out["quantity"] = np.where(bad, np.nan, quantity)
        for canonical in ("strength", "mme_per_day"):
            v = self._number(canonical)
            if v is not None:
                self.out[canonical] = np.where(v < 0, np.nan, v)
        pain = self._number("pain_score")
        if pain is not None:
            bad = (pain < 0) | (pain > 10)
            if bad.any():
                notes.append(
                    f"pain score outside 0..10 treated as missing on {int(bad.sum())} row(s)"
                )
            self.out["pain_score"] = np.where(bad, np.nan, pain)
        dispenses = coverage.dispense_counts(self.plan, self.cols, self.sel, notes)
        if dispenses is not None:
            self.out["dispenses"] = dispenses

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
        death_year = self._number("death_year")
        if death_year is not None:
            self.out["death_year"] = np.where(
                (death_year >= 1800) & (death_year <= 2100), death_year, np.nan
            )
        sex = values.sex(self.plan, self.cols, self.sel)
        if sex is not None:
            self.out["sex"] = sex

