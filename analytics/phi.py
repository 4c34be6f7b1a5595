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
   Names are recognised in English, German, French and Spanish, with the abbreviations
   ``pt``/``pat`` (patient), ``nm`` (name), ``dob``, ``tel`` (``Vorname``, ``PLZ``,
   ``Geburtsdatum``, ``Versichertennummer``, ``Nombre``, ``Apellidos``, ``pt nm``,
   ``Pt Full Name``).
2. **By value** (:func:`value_phi_columns`), on every kept text column:

   - *any* value that looks like a US social security number (``123-45-6789``), a US
     phone number (``(555) 123-4567``, ``555-123-4567``, ``+1 555 123 4567``) or an
     e-mail address refuses the column;
   - values that are, in **most rows** (more than half of the non-empty rows), person
     names (:func:`person_name_like`: two to four capitalised words, one of them a first
     name of ``person_names.csv``, none a facility or service word such as ``Klinik``),
     phone numbers in the national or international form of other countries
     (``+49 30 1234567``, ``0171-1234567``, ``01 23 45 67 89``, ``+34 912 345 678``) or
     identity and insurance numbers whose check digit is right (:func:`id_number_kind`:
     German Krankenversichertennummer and Rentenversicherungsnummer, French NIR with its
     key, Spanish DNI/NIE and Seguridad Social number, US Medicare MBI, IBAN) refuse the
     column.  A row counts once per value it holds, so a pseudonym, a provider code
     (``DR01``), a drug description or a code column (CPT, NDC, SNOMED) is kept.

   Values are checked on the column's unique values.

Refused columns never reach the events, the rejected-rows frame, the preview or the
report's values (the report lists their names only).  Ages over 89 become 90
(:func:`cap_age`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.vocab import load_table, normalise_name, phi_column_rules, pseudonym_markers

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
    values = _strings(uniques)
    for kind, pattern in VALUE_PATTERNS.items():
        hit = pc.fill_null(pc.match_substring_regex(values, _PREFILTER[kind]), False)
        candidates = values.filter(hit).to_pylist()
        if candidates and pd.Series(candidates, dtype="object").str.contains(pattern).any():
            return kind
    return None


VALUE_KINDS: dict[str, str] = {
    "ssn": "social security numbers",
    "phone": "phone numbers",
    "email": "e-mail addresses",
    "person name": "person names",
    "id number": "identity or insurance numbers",
}
"""What each kind of identifying value is called in the upload report."""

_WORD = r"[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ'’]*(?:-[A-ZÀ-ÖØ-Þa-zß-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’]*)*"
_TITLE = r"(?:(?:Dr|Prof|Mr|Mrs|Ms|Miss|Herr|Frau|Mme|Mlle|Sr|Sra|Srta|Don|Doña)\.?\s+)*"
NAME_SHAPE = rf"^{_TITLE}{_WORD}(?:,?\s+{_TITLE}{_WORD}){{1,3}}\.?$"
"""Two to four capitalised words (``Anna Müller``, ``MÜLLER, Anna``, ``Dr. Jean-Luc
Picard``), optionally with titles."""
_PHONE_SHAPES = (
    r"^\+[1-9]\d{0,2}(?:[\s./-]*(?:\(0\)[\s./-]*)?\d{1,6}){1,6}$",
    r"^00[1-9]\d{0,2}(?:[\s./]+\d{1,6}){2,5}$",
    r"^0\d{1,5}(?:[\s./]\d{2,8}){1,4}$",
    r"^0\d{2,5}-\d{4,9}$",
    r"^\(0\d{1,5}\)\s?\d{3,9}$",
    r"^[6-9]\d{2}(?:[\s.]\d{2,3}){2,3}$",
)
"""Phone numbers as German, French and Spanish (and international) exports write them:
``+49 30 1234567``, ``+4930123456``, ``0049 171 1234567``, ``030/1234567``,
``0171-1234567``, ``(030) 1234567``, ``01 23 45 67 89``, ``912 345 678``,
``612 34 56 78``; with 7 to 15 digits and not shaped like a date (``01.02.2023``).  Dashes
separate groups only after a national ``0`` prefix (one dash) or a ``+``, so NDC codes
(``00406-0123-01``) are not phone numbers."""
_NOT_PHONE = r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$"
_MOST = 0.5
"""A column is refused by a "most rows" kind when more than this share of its non-empty
rows hold such values."""


@functools.cache
def _name_words() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, words that are not names) of ``person_names.csv``, case and accents
    folded."""
    table = load_table("person_names.csv")
    fold = [_fold(w) for w in table["word"]]
    first = frozenset(w for w, k in zip(fold, table["kind"], strict=True) if k == "first_name")
    other = frozenset(w for w, k in zip(fold, table["kind"], strict=True) if k == "not_a_name")
    return first, other


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).casefold()
    return "".join(ch for ch in text if not unicodedata.combining(ch))


_SPLIT = re.compile(r"[\s,.-]+")


def person_name_like(value: str) -> bool:
    """True when ``value`` reads like a person's name: :data:`NAME_SHAPE`, a word that is
    a first name of ``person_names.csv`` and no word marked there as not a name."""
    if not re.match(NAME_SHAPE, value.strip()):
        return False
    first, other = _name_words()
    words = {_fold(w) for w in _SPLIT.split(value) if w}
    return bool(words & first) and not words & other


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _kvnr_ok(text: str) -> bool:
    """German Krankenversichertennummer (§ 290 SGB V): a letter and nine digits; the letter
    as its two-digit place in the alphabet and the first eight digits, weighted 1, 2, 1,
    2, ... (products above 9 replaced by their digit sum), sum modulo 10 = the last
    digit."""
    digits = f"{ord(text[0]) - 64:02d}" + text[1:9]
    total = 0
    for i, d in enumerate(digits):
        product = int(d) * (1 if i % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10 == int(text[9])


def _nir_ok(text: str) -> bool:
    """French NIR with its key: 97 - (the 13-digit number modulo 97) = the key (Corsica
    2A / 2B read as 19 / 18)."""
    body = text[:13].replace("2A", "19").replace("2B", "18")
    return body.isdigit() and 97 - int(body) % 97 == int(text[13:])


def _dni_ok(text: str) -> bool:
    """Spanish DNI (eight digits) or NIE (X, Y or Z and seven digits) and its control
    letter: the number modulo 23 indexes ``TRWAGMYFPDXBNJZSQVHLCKE``."""
    number = text[:-1]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == text[-1]


def _nss_ok(text: str) -> bool:
    """Spanish Seguridad Social number: twelve digits, the first ten modulo 97 = the last
    two."""
    return int(text[:10]) % 97 == int(text[10:])


def _iban_ok(text: str) -> bool:
    """IBAN (ISO 13616): the country code and check digits moved to the end, letters as
    10..35, the number modulo 97 = 1."""
    moved = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


_ID_SHAPES: tuple[tuple[str, object], ...] = (
    (r"^[A-Z]\d{9}$", _kvnr_ok),
    (r"^\d{2}(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}[A-Z]\d{3}$", None),  # German RVNR
    (r"^[1278]\d{4}(?:\d{2}|2A|2B)\d{8}$", _nir_ok),
    (r"^(?:\d{8}|[XYZ]\d{7})[A-Z]$", _dni_ok),
    (r"^\d{12}$", _nss_ok),
    (r"^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d"
     r"[AC-HJKMNP-RT-Y]{2}\d{2}$", None),  # US Medicare Beneficiary Identifier
    (r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$", _iban_ok),
)


def id_number_kind(value: str) -> bool:
    """True when ``value`` (spaces, dots and dashes ignored, upper case) is an identity or
    insurance number of a known format with a right check digit (see the module
    docstring; the Rentenversicherungsnummer — area, birth date ddmmyy, initial letter,
    serial — and the MBI by their format alone)."""
    text = re.sub(r"[\s.-]", "", str(value)).upper()
    for shape, check in _ID_SHAPES:
        if re.match(shape, text):
            return check is None or bool(check(text))
    return False


def _share(mask: np.ndarray, counts: np.ndarray) -> float:
    total = counts.sum()
    return float(counts[mask].sum() / total) if total else 0.0


def _candidates(values: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.match_substring_regex(values, pattern), False), bool)


def most_values_look_like(
    uniques: np.ndarray | list,
    counts: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> str | None:
    """The kind (``person name``, ``phone``, ``id number``) that more than half of the
    non-empty rows hold, or None.  ``counts``: the rows holding each unique value (1 each
    when not given), or a function giving them (called only when some value has the
    shape of one of the kinds)."""
    n = len(uniques)
    if n == 0:
        return None
    values = pc.utf8_trim_whitespace(_strings(uniques))
    named = _candidates(values, NAME_SHAPE)
    phone = np.zeros(n, dtype=bool)
    for shape in _PHONE_SHAPES:
        phone |= _candidates(values, shape)
    upper = pc.utf8_upper(pc.replace_substring_regex(values, r"[\s.-]", ""))
    ids = np.zeros(n, dtype=bool)
    for shape, _check in _ID_SHAPES:
        ids |= _candidates(upper, shape)
    if not (named.any() or phone.any() or ids.any()):
        return None
    rows = counts() if callable(counts) else counts
    rows = np.ones(n, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    rows = np.where(np.asarray(pc.fill_null(pc.equal(values, ""), True), bool), 0, rows)
    if _share(named, rows) > _MOST:
        idx = np.flatnonzero(named)
        named[idx] = [person_name_like(t) for t in values.take(pa.array(idx)).to_pylist()]
        if _share(named, rows) > _MOST:
            return "person name"
    if phone.any():
        digits = pc.utf8_length(pc.replace_substring_regex(values, r"\D", ""))
        enough = np.asarray(pc.fill_null(pc.and_(pc.greater_equal(digits, 7),
                                                 pc.less_equal(digits, 15)), False), bool)
        phone &= enough & ~_candidates(values, _NOT_PHONE)
    if _share(phone, rows) > _MOST:
        return "phone"
    if _share(ids, rows) > _MOST:
        idx = np.flatnonzero(ids)
        ids[idx] = [id_number_kind(t) for t in values.take(pa.array(idx)).to_pylist()]
        if _share(ids, rows) > _MOST:
            return "id number"
    return None


def _strings(uniques: np.ndarray | list) -> pa.Array:
    try:
        return pa.array(uniques, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if isinstance(v, str) else None for v in uniques], pa.string())


def _row_counts(codes: np.ndarray, size: int) -> np.ndarray:
    """How many rows hold each unique value (codes -1 = empty rows, not counted)."""
    return np.bincount(codes[codes >= 0], minlength=size)


ColumnValues = np.ndarray | tuple[np.ndarray, np.ndarray]
"""A column's unique values, or (codes per row with -1 for empty, unique values)."""


def value_phi_columns(columns: dict[str, ColumnValues]) -> dict[str, str]:
    """Column -> kind (a key of :data:`VALUE_KINDS`) for each column refused by its values
    (module docstring, check 2).  Each column is given as its unique values, or as (codes
    per row, unique values) so that "most rows" counts rows."""
    out = {}
    for col, given in columns.items():
        if isinstance(given, tuple):
            codes, uniques = given
            counts = functools.partial(_row_counts, codes, len(uniques))
        else:
            uniques, counts = given, None
        kind = values_look_like_phi(uniques) or most_values_look_like(uniques, counts)
        if kind is not None:
            out[col] = kind
    return out


def cap_age(age: np.ndarray) -> np.ndarray:
    """Ages over 89 become 90; negative or implausible (> 130) ages become NaN."""
    age = np.asarray(age, dtype=float).copy()
    age[(age < 0) | (age > 130)] = np.nan
    age[age > AGE_CAP - 1] = AGE_CAP
    return age
