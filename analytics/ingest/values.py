"""Typed values of mapped columns: text, numbers, dates, sex, birth years.

Each function reads the source column mapped to one canonical column and works on its
unique values (see :mod:`analytics.ingest.columns`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import phi, readers
from analytics.ingest.columns import Columns, string_series, take
from analytics.ingest.mapping import FilePlan

Part = tuple[np.ndarray, np.ndarray]
"""(codes per row, -1 = empty; unique values)."""


def text(
    plan: FilePlan, cols: Columns, canonical: str, concepts: pd.DataFrame | None = None
) -> Part | None:
    """(codes, uniques) of the source column mapped to ``canonical``; for OMOP, concept
    ids become names (``detail``) or concept codes (``code``) through ``concepts``
    (index concept_id; columns concept_name, concept_code)."""
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    is_concept = source.lower().endswith("concept_id")
    if plan.format != "omop" or canonical not in ("detail", "code") or not is_concept:
        return codes, uniques
    if concepts is None:
        if canonical == "detail":
            return codes, np.full(len(uniques), None, dtype=object)
        return codes, uniques
    column = "concept_name" if canonical == "detail" else "concept_code"
    looked = concepts[column].reindex(pd.Index(uniques.astype(str)))
    values = looked.to_numpy(dtype=object, na_value=None)
    if canonical == "code":
        values = np.where(pd.isna(values), uniques, values)
    return codes, values.astype(object)


def numbers(plan: FilePlan, cols: Columns, canonical: str, sel: np.ndarray) -> np.ndarray | None:
    """Floats (NaN where empty or not a number) of the mapped column for rows ``sel``."""
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    return take(readers.parse_numbers(uniques), codes[sel], np.nan)


@dataclass
class DateColumn:
    """A mapped date column read per row: ``dates`` (datetime64[s], NaT where not a
    valid date), ``status`` (``readers.DATE_*``) and a ``note`` on how day-month dates
    were read (None when no value was in doubt)."""

    dates: np.ndarray
    status: np.ndarray
    note: str | None = None


def dates(plan: FilePlan, cols: Columns, canonical: str, excel: bool) -> DateColumn | None:
    """The mapped date column of ``canonical`` (None when not mapped); the order of day
    and month is decided on the column's values (:func:`analytics.readers.date_order`)."""
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    order = readers.date_order(uniques)
    parsed, status = readers.parse_dates(uniques, excel_serial=excel, day_first=order.day_first)
    return DateColumn(
        take(parsed, codes, np.datetime64("NaT")),
        take(status, codes, readers.DATE_EMPTY).astype(np.int8),
        order.note(source),
    )


def sex_values(uniques: np.ndarray) -> np.ndarray:
    """``F``/``M`` for the usual spellings (and OMOP gender concepts 8532/8507), missing for
    unknown, else the value as exported."""
    out = np.empty(len(uniques), dtype=object)
    for i, v in enumerate(uniques):
        low = str(v).strip().lower()
        if low in ("m", "male", "man", "8507"):
            out[i] = "M"
        elif low in ("f", "female", "woman", "8532"):
            out[i] = "F"
        elif low in ("", "0", "unknown", "unk", "nan", "none"):
            out[i] = None
        else:
            out[i] = str(v).strip()
    return out


def sex(plan: FilePlan, cols: Columns, sel: np.ndarray) -> pd.Series | None:
    """Sex (``string`` Series) of rows ``sel``, or None when not mapped."""
    if "sex" not in plan.mapping:
        return None
    codes, uniques = cols.get(plan.mapping["sex"])
    return string_series(sex_values(uniques), codes[sel])


def birth_years(plan: FilePlan, cols: Columns, sel: np.ndarray, excel: bool) -> np.ndarray | None:
    """Birth years of rows ``sel``: the year of a birth-date column (PHI: only the year is
    kept), else a year column's number (outside 1800..2100 -> NaN)."""
    source = plan.mapping.get("birth_year")
    if source is None:
        return None
    codes, uniques = cols.get(source)
    rule = phi.phi_rule(source)
    if rule is not None and rule[1] == "birth_year":
        parsed, _ = readers.parse_dates(uniques, excel_serial=excel)
        years = pd.DatetimeIndex(parsed).year.to_numpy(dtype=float, na_value=np.nan)
    else:
        years = readers.parse_numbers(uniques)
        years[(years < 1800) | (years > 2100)] = np.nan
    return take(years, codes[sel], np.nan)


def reason_text(
    plan: FilePlan, cols: Columns, concepts: pd.DataFrame | None, sel: np.ndarray
) -> pd.Series | None:
    """The rows' reason as exported (``string``): its description, else its code."""
    description = text(plan, cols, "reason", concepts)
    code = text(plan, cols, "reason_code", concepts)
    parts = [p for p in (description, code) if p is not None]
    if not parts:
        return None
    out = string_series(parts[0][1], parts[0][0][sel])
    if len(parts) == 2:
        out = out.fillna(string_series(parts[1][1], parts[1][0][sel]))
    return out


def death_dates(
    plan: FilePlan, cols: Columns, patient: Part | None, rows: np.ndarray, excel: bool,
    notes: list[str],
) -> pd.DataFrame | None:
    """(``patient_id``, ``death_date``) of the ``rows`` with a patient id and a readable
    date in the column mapped to ``death_date``; unreadable dates are noted (without their
    values: the column is refused as PHI)."""
    column = dates(plan, cols, "death_date", excel)
    if column is None or patient is None:
        return None
    given = rows & (patient[0] >= 0)
    ok = given & (column.status == readers.DATE_OK)
    bad = given & (column.status != readers.DATE_OK) & (column.status != readers.DATE_EMPTY)
    if bad.any():
        notes.append(
            f"death date not readable on {int(bad.sum())} row(s) of "
            f"'{plan.mapping['death_date']}': ignored"
        )
    sel = np.flatnonzero(ok)
    return pd.DataFrame(
        {"patient_id": string_series(patient[1], patient[0][sel]),
         "death_date": column.dates[sel]}
    )
