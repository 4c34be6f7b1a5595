"""Vocabulary tables of PainPath, loaded from versioned data files in ``analytics/data/``.

Each file starts with ``#`` comment lines giving its ``version:`` and ``source:``;
:func:`load_table` reads the rows and :func:`table_version` the version line.
Code maps, drug lists, MME factors and payer limits live there, not in code.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).with_name("data")


@cache
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / name, comment="#", dtype=str, keep_default_na=False)


def load_table(name: str) -> pd.DataFrame:
    """A copy of the data table ``analytics/data/<name>`` (all columns as strings)."""
    return _read(name).copy()


def table_version(name: str) -> str:
    """The ``# version:`` line of a data table, or ``"unversioned"``."""
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            if line[1:].strip().lower().startswith("version:"):
                return line.split(":", 1)[1].strip()
    return "unversioned"


MME_FACTOR_TABLES: tuple[str, ...] = ("mme_factors.csv", "mme_factors_cdc_analytic_file.csv")
"""The MME factor tables in matching order: the CDC 2022 guideline table, then the CDC
opioid analytic file's factors for ingredients outside it."""


def _factor_table(name: str) -> pd.DataFrame:
    table = load_table(name)
    table["factor"] = pd.to_numeric(table["factor"], errors="coerce")
    return table


def mme_factors() -> pd.DataFrame:
    """MME conversion factors of the CDC 2022 guideline (``mme_factors.csv``): ingredient,
    pattern, route, unit (``mg``, ``mcg_per_hr`` or ``none``), factor (float, NaN where the
    ingredient has none, e.g. buprenorphine), factor_source, source.  Rows are matched in
    order."""
    return _factor_table(MME_FACTOR_TABLES[0])


def analytic_file_mme_factors() -> pd.DataFrame:
    """MME factors of the CDC opioid analytic file for ingredients outside the CDC 2022
    table (``mme_factors_cdc_analytic_file.csv``: dihydrocodeine, meperidine, pentazocine,
    levorphanol, butorphanol); same columns as :func:`mme_factors`."""
    return _factor_table(MME_FACTOR_TABLES[1])


def all_mme_factors() -> pd.DataFrame:
    """Both factor tables in matching order (:data:`MME_FACTOR_TABLES`), with a ``table``
    column giving each row's file and version (``mme_factors.csv cdc-2022.2``)."""
    parts = [
        _factor_table(name).assign(table=f"{name} {table_version(name)}")
        for name in MME_FACTOR_TABLES
    ]
    return pd.concat(parts, ignore_index=True)


def injection_limits() -> dict[str, int]:
    """Maximum sessions per rolling 365 days by injection type (Medicare LCDs)."""
    table = load_table("injection_limits.csv")
    return dict(zip(table["injection_type"], table["max_sessions_365d"].astype(int), strict=True))


# --- Ingest vocabularies (column synonyms, PHI column names, classification maps) ---------


def normalise_name(name: str) -> str:
    """A column name reduced for matching: accents removed (``é`` -> ``e``, ``ß`` ->
    ``ss``), case folded, with spaces, apostrophes and ``_ - . / ( ) # \\`` removed
    (``"Patient ID"``, ``"patient_id"`` and ``"PATIENT-ID"`` all give ``"patientid"``;
    ``"Date de l'acte"`` gives ``"datedelacte"``)."""
    text = unicodedata.normalize("NFKD", str(name).strip()).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NAME_PUNCTUATION.sub("", text)


_NAME_PUNCTUATION = re.compile(r"[\s_\-./()#\\'\u2019`]+")


def normalise_label(label: str) -> str:
    """A free-text label reduced for matching: accents removed, lower case, punctuation
    and runs of spaces collapsed to one space (``"Physical-Therapy "`` gives ``"physical
    therapy"``, ``"Rééducation"`` gives ``"reeducation"``)."""
    return re.sub(r"[^0-9a-z]+", " ", fold_accents(str(label)).lower()).strip()


def fold_accents(text: str) -> str:
    """``text`` without accents, case folded (``"Codéine"`` -> ``"codeine"``, ``"ß"`` ->
    ``"ss"``)."""
    text = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@cache
def column_synonyms() -> tuple[tuple[str, str], ...]:
    """(canonical column, normalised synonym) pairs in priority order
    (``column_synonyms.csv``)."""
    table = load_table("column_synonyms.csv")
    return tuple(
        (c, normalise_name(s)) for c, s in zip(table["canonical"], table["synonym"], strict=True)
    )


@cache
def phi_column_rules() -> tuple[tuple[re.Pattern[str], str, str, bool], ...]:
    """(compiled full-match pattern on the normalised name, category, action, pseudonym
    allowed) rows of ``phi_columns.csv``; action is ``refuse``, ``birth_year`` or
    ``death_date``."""
    table = load_table("phi_columns.csv")
    return tuple(
        (re.compile(f"(?:{p})"), cat, act, pseud.strip().lower() == "yes")
        for p, cat, act, pseud in zip(
            table["pattern"], table["category"], table["action"], table["pseudonym"],
            strict=True,
        )
    )


@cache
def pseudonym_markers() -> tuple[str, ...]:
    """Markers of ``pseudonym_markers.csv`` (normalised): a name containing one holds a
    pseudonym."""
    return tuple(normalise_name(m) for m in load_table("pseudonym_markers.csv")["marker"])


@cache
def column_words() -> tuple[tuple[str, frozenset[str], frozenset[str], frozenset[str]], ...]:
    """(canonical, words_a, words_b, exclude) rows of ``column_words.csv`` in order."""
    table = load_table("column_words.csv")
    return tuple(
        (c, frozenset(a.split()), frozenset(b.split()), frozenset(x.split()))
        for c, a, b, x in zip(
            table["canonical"], table["words_a"], table["words_b"], table["exclude"],
            strict=True,
        )
    )


def header_words(name: str) -> tuple[str, ...]:
    """The words of a column header: split at spaces, punctuation and digits and at
    camel-case humps, accents removed, case folded (``"PatientID"`` -> ``patient, id``;
    ``"pat_id_hash"`` -> ``pat, id, hash``; ``"ORDER_DATE"`` -> ``order, date``)."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return tuple(w.casefold() for w in _WORD.findall(text))


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


@cache
def technique_labels() -> dict[str, tuple[str, str]]:
    """Normalised label -> (technique, injection_type or ``""``); technique may be
    ``not_relevant`` (``technique_labels.csv``)."""
    table = load_table("technique_labels.csv")
    return {
        normalise_label(lab): (tech, inj)
        for lab, tech, inj in zip(
            table["label"], table["technique"], table["injection_type"], strict=True
        )
    }


@cache
def international_names() -> tuple[tuple[str, str, str, str], ...]:
    """(language, name, kind, means) rows of ``international_names.csv``: German, French
    and Spanish drug names (``drug``: means the English name the drug table matches),
    dose forms (``dose_form``) and treatment labels (``treatment``: means a label of
    ``technique_labels.csv``)."""
    table = load_table("international_names.csv")
    return tuple(zip(table["language"], table["name"], table["kind"], table["means"],
                     strict=True))


@cache
def cpt_codes() -> dict[str, tuple[str, str, str]]:
    """CPT/HCPCS code -> (technique, injection_type or ``""``, spinal region or ``""``),
    ranges of ``cpt_codes.csv`` expanded; an earlier row wins over a later overlapping
    range."""
    table = load_table("cpt_codes.csv")
    out: dict[str, tuple[str, str, str]] = {}
    for lo, hi, tech, inj, region in zip(
        table["code_from"], table["code_to"], table["technique"], table["injection_type"],
        table["region"], strict=True,
    ):
        if lo.isdigit() and hi.isdigit():
            codes = [str(c).zfill(len(lo)) for c in range(int(lo), int(hi) + 1)]
        else:
            codes = [lo] if lo == hi else [lo, hi]
        for code in codes:
            out.setdefault(code.upper(), (tech, inj, region))
    return out


@cache
def drug_classes() -> tuple[tuple[re.Pattern[str], str, str, str], ...]:
    """(compiled case-insensitive pattern, technique, drug_class, reason) rows of
    ``drug_classes.csv`` in order (first match wins)."""
    table = load_table("drug_classes.csv")
    return tuple(
        (re.compile(p, re.IGNORECASE), t, c, r)
        for p, t, c, r in zip(
            table["pattern"], table["technique"], table["drug_class"], table["reason"],
            strict=True,
        )
    )


@cache
def spinal_regions() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(compiled case-insensitive pattern, region) rows of ``spinal_regions.csv``."""
    table = load_table("spinal_regions.csv")
    return tuple(
        (re.compile(p, re.IGNORECASE), r)
        for p, r in zip(table["pattern"], table["region"], strict=True)
    )


@cache
def procedure_terms() -> tuple[tuple[str, re.Pattern[str] | None, str, str, str], ...]:
    """(code, compiled pattern or None, technique, injection_type, reason) rows of
    ``snomed_terms.csv`` in order (first match wins)."""
    table = load_table("snomed_terms.csv")
    return tuple(
        (c, re.compile(p, re.IGNORECASE) if p else None, t, i, r)
        for c, p, t, i, r in zip(
            table["code"], table["pattern"], table["technique"], table["injection_type"],
            table["reason"], strict=True,
        )
    )
