"""PHI guard of ingest (DESIGN.md "Privacy", DOMAIN_NOTES f.2/f.3).

Two checks, both applied before anything of a file is kept:

1. **By column name** (:func:`refused_by_name`): the normalised name (lower case,
   spaces and ``_ - . / ( ) #`` removed) is matched in full against the patterns of
   ``analytics/data/phi_columns.csv`` — names, address parts, ZIP, coordinates,
   phone/fax, email, SSN, MRN, plan/member/account numbers, licence/passport,
   vehicle/device identifiers, URL/IP, biometrics, free-text notes, birth and death
   dates.  A birth-date column is refused as a column; only its year may be taken
   (as ``birth_year``).  A name is also checked without trailing digits (a duplicated
   ``Name`` column read as ``Name.1`` is refused too) and after Unicode NFKC
   normalisation with invisible format characters removed.
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

from analytics.vocab import normalise_name, phi_column_rules

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


def phi_rule(name: str) -> tuple[str, str] | None:
    """``(category, action)`` when the column name is a direct identifier, else None.
    action is ``"refuse"`` or ``"birth_year"`` (refused; its year may become birth_year).
    A name with trailing digits (``Name.1``, ``Phone2``) is checked without them too."""
    for norm in _name_forms(name):
        for pattern, category, action in phi_column_rules():
            if pattern.fullmatch(norm):
                return category, action
    return None


def refused_by_name(columns: list[str]) -> dict[str, str]:
    """Column -> PHI category for every column refused by its name (birth dates included)."""
    out = {}
    for col in columns:
        rule = phi_rule(col)
        if rule is not None:
            out[col] = rule[0]
    return out


def birth_date_columns(columns: list[str]) -> list[str]:
    """Columns whose name says they hold a date of birth (their year may be kept)."""
    return [c for c in columns if (r := phi_rule(c)) is not None and r[1] == "birth_year"]


def values_look_like_phi(uniques: np.ndarray | list) -> str | None:
    """The first PHI kind (``ssn``, ``phone``, ``email``) found among the given values."""
    if len(uniques) == 0:
        return None
    s = pd.Series(uniques, dtype="object").dropna().astype("string")
    if s.empty:
        return None
    for kind, pattern in VALUE_PATTERNS.items():
        if bool(s.str.contains(pattern, regex=True).any()):
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
