"""PHI guard of ingest (docs/definitions.md section 15, "Identifiers (PHI guard)").

Two checks, both applied before anything of a file is kept:

1. **By column name** (:func:`refused_by_name`): the normalised name (lower case,
   spaces and ``_ - . / ( ) #`` removed) is matched in full against the patterns of
   ``analytics/data/phi_columns.csv`` — names, address parts, ZIP, coordinates,
   phone/fax, email, SSN, MRN, plan/member/account numbers, licence/passport,
   vehicle/device identifiers, URL/IP, biometrics, free-text notes, birth and death
   dates.  A birth-date column is refused as a column; only its year may be taken
   (as ``birth_year``).  A death-date column is refused as a column; ingest reads its
   dates to close the patient's orders at death and keeps only the year
   (``death_year``).  A name is also checked without trailing digits (a duplicated
   ``Name`` column read as ``Name.1`` is refused too) and after Unicode NFKC
   normalisation with invisible format characters removed.  A medical record number
   whose name says it is pseudonymised (``MRN_pseudo``, ``mrn_hash``, ``mrn_deid``:
   ``pseudonym_markers.csv``) is a pseudonymous patient key and is kept; every other
   identifier stays refused whatever its name adds (a hashed SSN can be recomputed).
2. **By value** (:func:`value_phi_columns`): any kept text column holding a value that
   looks like an SSN (``123-45-6789``), a phone number (``(555) 123-4567``,
   ``555-123-4567``, ``+1 555 123 4567``) or an email address is refused as a whole and
   reported.  Values are checked on the column's unique values.

Refused columns never reach the events, the rejected-rows frame, the preview or the
report's values (the report lists their names only).  Ages over 89 become 90
(:func:`cap_age`).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.vocab import normalise_name, phi_column_rules, pseudonym_markers

AGE_CAP = 90
"""HIPAA Safe Harbor: ages over 89 are aggregated to 90 ("90 or older")."""

SSN_RE = r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"
PHONE_RE = r"(?<![\d-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\d-])"
EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
VALUE_PATTERNS: dict[str, str] = {"ssn": SSN_RE, "phone": PHONE_RE, "email": EMAIL_RE}


def _name_forms(name: str) -> list[str]:
    """The normalised forms of a column name that are checked: the name itself (after
    Unicode NFKC, so full-width letters count, and without invisible format characters
    such as zero-width spaces), and the same without trailing digits, so a repeated
    column (``Name.1`` as the reader renames a duplicate, ``Name2``) is refused like
    the original."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    norm = normalise_name(text)
    forms = [norm]
    base = norm.rstrip("0123456789")
    if base and base != norm:
        forms.append(base)
    return forms


def is_pseudonym_name(name: str) -> bool:
    """True when the column name says it holds a pseudonym (``pseudonym_markers.csv``)."""
    norm = _name_forms(name)[0]
    return any(marker in norm for marker in pseudonym_markers())


def phi_rule(name: str) -> tuple[str, str] | None:
    """``(category, action)`` when the column name is a direct identifier, else None.
    action is ``"refuse"``, ``"birth_year"`` (refused; its year may become birth_year) or
    ``"death_date"`` (refused; its dates close orders at death, its year becomes
    death_year).  A name with trailing digits (``Name.1``, ``Phone2``) is checked without
    them too.  A medical record number named as a pseudonym (``MRN_pseudo``) is None."""
    for norm in _name_forms(name):
        for pattern, category, action, pseudonym in phi_column_rules():
            if pattern.fullmatch(norm):
                if pseudonym and is_pseudonym_name(name):
                    return None
                return category, action
    return None


def refused_by_name(columns: list[str]) -> dict[str, str]:
    """Column -> PHI category for every column refused by its name (birth and death dates
    included)."""
    out = {}
    for col in columns:
        rule = phi_rule(col)
        if rule is not None:
            out[col] = rule[0]
    return out


def birth_date_columns(columns: list[str]) -> list[str]:
    """Columns whose name says they hold a date of birth (their year may be kept)."""
    return [c for c in columns if (r := phi_rule(c)) is not None and r[1] == "birth_year"]


def death_date_columns(columns: list[str]) -> list[str]:
    """Columns whose name says they hold a date of death (read to close orders at death;
    only the year is kept)."""
    return [c for c in columns if (r := phi_rule(c)) is not None and r[1] == "death_date"]


_PREFILTER = {"ssn": r"\d{3}-\d{2}-\d{4}", "phone": r"\d{3}[\s.-]\d{4}", "email": "@"}
"""For each value pattern a looser one without look-around (PyArrow's RE2 runs it on every
value); only the values it finds are checked with the exact pattern."""


def values_look_like_phi(uniques: np.ndarray | list) -> str | None:
    """The first PHI kind (``ssn``, ``phone``, ``email``) found among the given values."""
    if len(uniques) == 0:
        return None
    try:
        values = pa.array(uniques, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        values = pa.array([v if isinstance(v, str) else None for v in uniques], pa.string())
    for kind, pattern in VALUE_PATTERNS.items():
        hit = pc.fill_null(pc.match_substring_regex(values, _PREFILTER[kind]), False)
        candidates = values.filter(hit).to_pylist()
        if candidates and pd.Series(candidates, dtype="object").str.contains(pattern).any():
            return kind
    return None


def value_phi_columns(uniques_by_column: dict[str, np.ndarray]) -> dict[str, str]:
    """Column -> PHI kind for each column whose (unique) values contain an SSN, phone
    number or email address."""
    out = {}
    for col, uniques in uniques_by_column.items():
        kind = values_look_like_phi(uniques)
        if kind is not None:
            out[col] = kind
    return out


def cap_age(age: np.ndarray) -> np.ndarray:
    """Ages over 89 become 90; negative or implausible (> 130) ages become NaN."""
    age = np.asarray(age, dtype=float).copy()
    age[(age < 0) | (age > 130)] = np.nan
    age[age > AGE_CAP - 1] = AGE_CAP
    return age
