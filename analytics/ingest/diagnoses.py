"""The diagnoses table of an ingest (``IngestResult.diagnoses``, docs/definitions.md
section 2): spinal-pain, general-pain and opioid-use-disorder diagnoses with their dates.

Rows come from conditions tables (Synthea ``conditions.csv``, OMOP
``condition_occurrence`` named through ``concept``, a generic diagnoses file) and from the
``diagnosis`` column of a clinic's treatment rows (dated at the row's event date).  The
kind of each row is :func:`analytics.indications.condition_kind` of its code and
description; rows of any other kind are not diagnoses PainPath keeps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import indications, schema

COLUMNS: tuple[str, ...] = ("patient_id", "diagnosis_date", "code", "description", "kind")
CODE_SHAPE = r"(?:[A-TV-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?|\d{6,18})"
"""An ICD-10-CM code (with or without its dot) or a SNOMED CT id."""


def empty() -> pd.DataFrame:
    """A diagnoses table without rows."""
    return frame(
        pd.Series([], dtype="string"), np.array([], dtype=schema.DATE_DTYPE),
        pd.Series([], dtype="string"), pd.Series([], dtype="string"),
        np.array([], dtype=object),
    )


def frame(patient_id, dates, code, description, kind) -> pd.DataFrame:
    """A diagnoses table from its columns (strings; dates as datetime64[s])."""
    n = len(patient_id)
    return pd.DataFrame(
        {
            "patient_id": pd.Series(patient_id, dtype="string").reset_index(drop=True),
            "diagnosis_date": pd.Series(np.asarray(dates, dtype=schema.DATE_DTYPE)),
            "code": pd.Series(code, dtype="string").reset_index(drop=True),
            "description": pd.Series(description, dtype="string").reset_index(drop=True),
            "kind": pd.Series(np.asarray(kind, dtype=object), dtype="string"),
        },
        index=pd.RangeIndex(n),
    )


def from_diagnosis_column(
    patient: tuple[np.ndarray, np.ndarray], diagnosis: tuple[np.ndarray, np.ndarray],
    dates: np.ndarray, rows: np.ndarray,
) -> pd.DataFrame | None:
    """Diagnoses from the ``diagnosis`` column of the treatment ``rows`` of a clinic export
    (``patient`` and ``diagnosis``: (codes, uniques) of the file's columns; ``dates``: the
    rows' event dates): one row per patient and diagnosis value, at the first date it was
    recorded (the index date and "has a diagnosis of this kind" need nothing more).  A
    value shaped like an ICD-10-CM code or a SNOMED CT id is the code, any other the
    description.  None when no row has a diagnosis of a kept kind."""
    codes, uniques = diagnosis
    kind_u = np.asarray(indications.condition_kind(uniques, uniques), dtype=object)
    keep_u = np.isin(kind_u, list(indications.KINDS))
    rows = rows[(codes[rows] >= 0) & (patient[0][rows] >= 0)]
    rows = rows[keep_u[codes[rows]]]
    if not len(rows):
        return None
    base = len(patient[1]) + 1
    key = codes[rows].astype(np.int64) * base + patient[0][rows]
    first = pd.Series(dates[rows].astype(np.int64)).groupby(key, sort=False).min()
    keys = first.index.to_numpy(dtype=np.int64)
    dx, pid = keys // base, keys % base
    text = pd.Series(uniques, dtype="string")
    is_code = text.str.fullmatch(CODE_SHAPE, case=False).fillna(False).to_numpy(dtype=bool)[dx]
    value = uniques[dx]
    return frame(
        patient[1][pid], first.to_numpy().astype("datetime64[s]"),
        np.where(is_code, value, None), np.where(is_code, None, value), kind_u[dx],
    )


def first_per_patient(diagnoses: pd.DataFrame) -> pd.Series:
    """patient_id -> the text of the patient's earliest spinal-pain diagnosis, else the
    earliest general-pain one (description, else code): the ``diagnosis`` value a
    patient's events get when their export's diagnoses come from a conditions table."""
    ranked = diagnoses[diagnoses["kind"].isin([indications.SPINAL_PAIN,
                                               indications.GENERAL_PAIN])].copy()
    if ranked.empty:
        return pd.Series([], dtype="string")
    ranked["text"] = ranked["description"].fillna(ranked["code"])
    ranked["rank"] = (ranked["kind"] != indications.SPINAL_PAIN).astype(int)
    ranked = ranked.dropna(subset=["text"]).sort_values(
        ["patient_id", "rank", "diagnosis_date"], kind="stable", na_position="last"
    )
    return ranked.drop_duplicates("patient_id").set_index("patient_id")["text"]
