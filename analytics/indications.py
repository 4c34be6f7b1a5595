"""Kinds of condition: spinal pain, general pain, opioid use disorder, or another condition.

One definition (docs/definitions.md, section 3 "Indication") read from three versioned code
tables in ``analytics/data/``: ``spinal_pain_codes.csv`` (pain of the back or neck),
``general_pain_codes.csv`` (pain naming no body site: SNOMED pain, chronic pain, acute pain;
ICD-10-CM G89.0, G89.1, G89.2, G89.4, R52 - not G89.3) and ``opioid_use_disorder_codes.csv``
(opioid use disorder, drug dependence, opioid poisoning, overdose).

A row is classified by its **code** first: an ICD-10-CM code (with or without its dot:
``M54.5`` and ``M545`` are the same) against the tables' ICD-10-CM prefixes and patterns, a
SNOMED CT id (all digits) against their concept ids.  A code that no table knows (or no code)
leaves the decision to the **description**, as Synthea (``Chronic low back pain (finding)``),
OMOP ``concept_name`` or a clinic's free text write it: its trailing SNOMED semantic tag is
removed, it is lower-cased with punctuation as spaces, and the tables' description patterns
are tried.  Neither known -> ``"other"``; both blank -> ``""``.  Kinds are tried in the order
spinal pain, opioid use disorder, general pain (the tables do not overlap; the order only
makes the result deterministic).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd

from analytics import vocab

SPINAL_PAIN = "spinal_pain"
GENERAL_PAIN = "general_pain"
OPIOID_USE_DISORDER = "opioid_use_disorder"
OTHER = "other"

KIND_TABLES: dict[str, str] = {
    SPINAL_PAIN: "spinal_pain_codes.csv",
    OPIOID_USE_DISORDER: "opioid_use_disorder_codes.csv",
    GENERAL_PAIN: "general_pain_codes.csv",
}
"""Each kind's code table, in the order the kinds are tried."""

KINDS: tuple[str, ...] = (SPINAL_PAIN, GENERAL_PAIN, OPIOID_USE_DISORDER)
"""The kinds a diagnosis row of ``IngestResult.diagnoses`` can have."""

COUNTING_INDICATIONS: frozenset[str] = frozenset({"", SPINAL_PAIN, GENERAL_PAIN})
"""Kinds of a treatment row's reason under which the row counts (no reason, spinal pain,
pain in general); any other kind is "other indication" (docs/definitions.md, section 3)."""

_SEMANTIC_TAG = re.compile(
    r"\s*\((finding|disorder|situation|morphologic abnormality|procedure|observable entity|"
    r"event|qualifier value|regime/therapy|clinical finding)\)\s*$",
    re.IGNORECASE,
)
_SNOMED_ID = re.compile(r"\d{6,18}")


class _Rules:
    """One kind's compiled rules: ICD-10-CM (undotted) regex, SNOMED ids, description regex
    (search) and description regex (full match); any may be None / empty."""

    def __init__(self, table: pd.DataFrame, name: str) -> None:
        icd_parts: list[str] = []
        search_parts: list[str] = []
        full_parts: list[str] = []
        snomed: set[str] = set()
        for system, match, value in zip(table["system"], table["match"], table["value"],
                                        strict=True):
            key = (system.strip().upper(), match.strip().lower())
            if key == ("ICD10CM", "prefix"):
                icd_parts.append(re.escape(_undotted(value)) + r"[0-9A-Z]*")
            elif key == ("ICD10CM", "regex"):
                icd_parts.append(value)
            elif key == ("SNOMEDCT", "exact"):
                snomed.add(value.strip())
            elif key == ("TEXT", "search"):
                search_parts.append(value)
            elif key == ("TEXT", "fullmatch"):
                full_parts.append(value)
            else:
                raise ValueError(f"{name}: unknown system/match {system!r}/{match!r}")
        self.icd = _alternation(icd_parts)
        self.snomed = frozenset(snomed)
        self.search = _alternation(search_parts)
        self.full = _alternation(full_parts)


_CAPTURING_GROUP = re.compile(r"(?<!\\)\((?!\?)")


def _alternation(parts: list[str]) -> str | None:
    """One regex matching any of ``parts``, its groups made non-capturing (pandas warns
    about capturing groups in ``str.contains``)."""
    if not parts:
        return None
    return "|".join(f"(?:{_CAPTURING_GROUP.sub('(?:', p)})" for p in parts)


def _undotted(code: str) -> str:
    return code.strip().upper().replace(".", "")


@cache
def _rules() -> tuple[tuple[str, _Rules], ...]:
    return tuple(
        (kind, _Rules(vocab.load_table(name), name)) for kind, name in KIND_TABLES.items()
    )


def table_versions() -> dict[str, str]:
    """``{table file name: its # version: line}`` of the three indication tables."""
    return {name: vocab.table_version(name) for name in KIND_TABLES.values()}


def _as_strings(values: Sequence | pd.Series | np.ndarray | None, n: int) -> pd.Series:
    if values is None:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    s = s.reset_index(drop=True)
    if not isinstance(s.dtype, pd.StringDtype):
        s = s.astype("object").where(s.notna(), None).astype("string")
    return s.str.strip()


def _normalise_codes(codes: pd.Series) -> pd.Series:
    """Upper case without dots or spaces; a SNOMED id read as a float (``278860009.0``)
    loses its ``.0``."""
    out = codes.str.upper().str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return out.str.replace(r"[.\s]", "", regex=True)


def _normalise_descriptions(descriptions: pd.Series) -> pd.Series:
    text = descriptions.str.replace(_SEMANTIC_TAG, "", regex=True).str.lower()
    return text.str.replace(r"[^0-9a-z]+", " ", regex=True).str.strip()


def _code_kinds(codes: pd.Series) -> np.ndarray:
    """Kind of each (normalised) code, ``""`` where no table knows it."""
    out = np.full(len(codes), "", dtype=object)
    is_snomed = codes.str.fullmatch(_SNOMED_ID.pattern).fillna(False).to_numpy(dtype=bool)
    for kind, rules in _rules():
        hit = np.zeros(len(codes), dtype=bool)
        if rules.snomed:
            hit |= is_snomed & codes.isin(rules.snomed).fillna(False).to_numpy(dtype=bool)
        if rules.icd:
            hit |= ~is_snomed & codes.str.fullmatch(rules.icd).fillna(False).to_numpy(dtype=bool)
        out[(out == "") & hit] = kind
    return out


def _description_kinds(descriptions: pd.Series) -> np.ndarray:
    """Kind of each normalised description, ``""`` where no pattern matches."""
    out = np.full(len(descriptions), "", dtype=object)
    for kind, rules in _rules():
        hit = np.zeros(len(descriptions), dtype=bool)
        if rules.search:
            hit |= descriptions.str.contains(rules.search, regex=True).fillna(False).to_numpy(
                dtype=bool
            )
        if rules.full:
            hit |= descriptions.str.fullmatch(rules.full).fillna(False).to_numpy(dtype=bool)
        out[(out == "") & hit] = kind
    return out


def condition_kind(codes, descriptions) -> np.ndarray:
    """The kind of each condition row: ``"spinal_pain"``, ``"general_pain"``,
    ``"opioid_use_disorder"``, ``"other"``, or ``""`` when both code and description are
    missing or blank.

    ``codes`` and ``descriptions`` are equally long sequences (Series, arrays, lists; either
    may be None for "all missing").  Codes are ICD-10-CM with or without the dot or SNOMED CT
    ids; descriptions as exported.  The code decides when a table knows it, else the
    description (see the module docstring).  Vectorised: each distinct code and each
    distinct description is classified once.  Returns an object array, one entry per row.
    """
    if codes is None and descriptions is None:
        return np.zeros(0, dtype=object)
    n = len(codes) if codes is not None else len(descriptions)
    if descriptions is not None and len(descriptions) != n:
        raise ValueError("codes and descriptions must have the same length")
    if n == 0:
        return np.zeros(0, dtype=object)
    code_s = _as_strings(codes, n)
    desc_s = _as_strings(descriptions, n)

    code_idx, code_uniq = pd.factorize(code_s, use_na_sentinel=True)
    desc_idx, desc_uniq = pd.factorize(desc_s, use_na_sentinel=True)
    code_uniq = pd.Series(code_uniq, dtype="string")
    desc_uniq = pd.Series(desc_uniq, dtype="string")

    # per distinct value: kind ("" unknown) and whether it is present (not blank)
    code_norm = _normalise_codes(code_uniq)
    code_present = np.append((code_norm != "").to_numpy(dtype=bool), False)
    code_kind = np.append(_code_kinds(code_norm), "")
    desc_norm = _normalise_descriptions(desc_uniq)
    desc_present = np.append((desc_uniq != "").to_numpy(dtype=bool), False)
    desc_kind = np.append(_description_kinds(desc_norm), "")
    code_kind[~code_present] = ""

    # the NA sentinel -1 indexes the appended last slot ("", absent)
    row_code_kind = code_kind[code_idx]
    row_desc_kind = desc_kind[desc_idx]
    present = code_present[code_idx] | desc_present[desc_idx]
    out = np.where(row_code_kind != "", row_code_kind,
                   np.where(row_desc_kind != "", row_desc_kind, OTHER))
    out = out.astype(object)
    out[~present] = ""
    return out


def counts_as_indication(kinds: np.ndarray) -> np.ndarray:
    """Boolean array: whether a treatment row whose reason has kind ``kinds`` counts (no
    reason, spinal pain, pain in general); ``False`` is "other indication"."""
    return np.isin(np.asarray(kinds, dtype=object), list(COUNTING_INDICATIONS))
