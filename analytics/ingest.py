"""Ingest: clinic exports -> the canonical event table of DESIGN.md, with a report.

Public API: :func:`detect` (headers and a sample only, for the upload page),
:func:`ingest`, :class:`IngestResult`, :class:`IngestReport`, :class:`FileReport`,
:class:`FilePlan`, :class:`IngestError`.  ``Source`` is a path (file or folder: a
folder means every export file in it) or a ``(file_name, bytes)`` pair.

Steps for each file
-------------------
1. **Read** (:mod:`analytics.readers`): CSV in UTF-8 (BOM or not) / UTF-16 (BOM) /
   Windows-1252 / Latin-1 with ``,`` ``;`` or tab, quoted fields; ``.xlsx``; Parquet.
   Every value is read as text.  A file over the upload limit
   (``readers.MAX_FILE_BYTES``, 200 MB; env ``PAINPATH_MAX_UPLOAD_MB``) is refused with
   a message naming the limit, before a path is read.  Any unreadable input gives an
   :class:`IngestError` with a one-line message, never another exception.
2. **Format and role**: an OMOP CDM table (``drug_exposure``, ``procedure_occurrence``,
   ``condition_occurrence``, ``person``, ``concept``; other CDM tables are
   ``not_used``) is recognised by its columns; a Synthea file (``medications``,
   ``procedures``, ``careplans``, ``conditions``, ``patients``; the other Synthea files
   are ``not_used``) by its columns and file name; anything else is a ``generic``
   ``events`` file.
3. **PHI guard** (:mod:`analytics.phi`): columns refused by name, then by value.
4. **Column mapping**: synonyms of ``analytics/data/column_synonyms.csv`` (names
   normalised), per-format defaults (Synthea ``Id``/``BIRTHDATE``/``GENDER`` in
   ``patients``; OMOP ``*_concept_id`` named through ``concept``), overridden by an
   explicit mapping ``{file name: {canonical column: source column}}`` (an empty
   source removes a guess).  A refused column cannot be mapped, except a birth date
   to ``birth_year`` (its year only).
5. **Duplicates**: a row identical in every one of the file's columns to an earlier
   row is a duplicate (counted, not used further).
6. **Classification** of each unique (technique label, code, description,
   injection-type label), in this order: the technique label
   (``technique_labels.csv``); the code — CPT/HCPCS (``cpt_codes.csv``, generic files
   and OMOP procedures only) or a SNOMED code of ``snomed_terms.csv``; the description
   — drug patterns (``drug_classes.csv``: opioids incl. brands and combination
   products, muscle relaxants; anaesthesia opioids, opioid use-disorder products and
   antitussives are *not relevant*) then procedure wording (``snomed_terms.csv``).
   The injection type comes from an injection-type label, else the code, else the
   description, else ``other``.  A row of a Synthea/OMOP export that matches nothing is
   *not relevant* (those exports are whole health records).  A row of a generic file
   that matches nothing is *not relevant* when it is recognisably something else (a
   technique label listed as not relevant, a CPT-shaped code outside the pain codes,
   or a description that reads like a drug or procedure: strengths such as ``MG``,
   dose forms, SNOMED semantic tags, vaccines, screenings); otherwise it is rejected
   as ``unknown technique``.
7. **Validation** of the rows that are pain-management events (or unknown); the first
   failing check gives the reason (:data:`REJECT_REASONS` order): missing patient id;
   missing / unparseable / out-of-range event date; unparseable / out-of-range end
   date; end before start; days supply not a number or outside 1..365 (ignored, with a
   note, when the row has a valid end date: the end date then defines the coverage —
   e.g. OMOP ``days_supply`` 0 or 371 next to ``drug_exposure_end_date``); unknown
   technique.  Dates: ISO (a time of day and zone are dropped: the calendar date as
   written), ``MM/DD/YYYY`` and the other formats of :func:`analytics.readers.parse_dates`;
   a date before 1900-01-01 or after 2100-12-31 is "out of range".

Every row of every file lands in exactly one bucket, so for every file
``rows_read == accepted + rejected + not_relevant + duplicates``.  Rules for the
auxiliary files:

- ``patients`` / ``person``: a row with a patient id is *accepted* (it gives sex and
  birth year); no id -> rejected ``missing patient id``.
- ``conditions`` / ``condition_occurrence``: a back-pain diagnosis
  (``back_pain_diagnoses.csv``) with a patient id is *accepted*; other conditions are
  *not relevant*; no id -> rejected.  Each patient's earliest back-pain diagnosis
  (description, else code) is broadcast to that patient's events that have none.
- ``concept``: a row with a concept id is *accepted* (vocabulary); no id -> rejected
  ``missing concept id``.
- ``not_used`` files (e.g. Synthea ``encounters``): every row is *not relevant*.

Files of one Synthea or OMOP export (same folder, or all uploaded bytes) are
ingested together: demographics and diagnoses are joined by patient id within it.

Output columns and conventions
------------------------------
``IngestResult.events`` is ``schema.conform``-ed.  ``end_date`` is the last covered
day: a Synthea ``STOP`` (order/care-plan stop) is taken as the last covered day, as
the OHDSI ETL-Synthea does for ``drug_exposure_end_date``.  ``open_order`` is True for
a medication row (narcotic / muscle relaxant) with no end date and no days supply in
a file where other medication rows carry an end date.  ``quantity`` <= 0 (OMOP's "not
recorded" 0) and pain scores outside 0..10 become missing.  ``age`` is taken from an
age column, else computed as event year − birth year; ages over 89 are stored as 90
and the birth year of such a row is dropped.  ``sex`` is ``F``/``M`` (also from OMOP
gender concepts 8532/8507) or the value as exported.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics import phi, readers, schema, vocab
from analytics.readers import RawTable, Source

__all__ = [
    "FilePlan",
    "FileReport",
    "IngestError",
    "IngestReport",
    "IngestResult",
    "REJECT_REASONS",
    "Source",
    "classify",
    "detect",
    "ingest",
]


class IngestError(Exception):
    """A file or mapping that cannot be ingested; the message is one user-facing line."""

    def __init__(self, message: object = "") -> None:
        # column and file names come from the upload: keep the message on one line
        super().__init__(readers.one_line(message, limit=1000) or "the file cannot be ingested")


REJECT_REASONS: tuple[str, ...] = (
    "missing patient id",
    "missing concept id",
    "missing event date",
    "unparseable event date",
    "event date out of range",
    "unparseable end date",
    "end date out of range",
    "end before start",
    "days supply not a number",
    "days supply out of range",
    "unknown technique",
)
"""Rejection reasons, in the order they are checked (the first failing one is reported)."""

EVENT_ROLES = frozenset(
    {"events", "medications", "procedures", "careplans", "drug_exposure", "procedure_occurrence"}
)
CONDITION_ROLES = frozenset({"conditions", "condition_occurrence"})
PATIENT_ROLES = frozenset({"patients", "person"})

_SYNTHEA_ROLES = {
    "medications": "medications",
    "procedures": "procedures",
    "careplans": "careplans",
    "conditions": "conditions",
    "patients": "patients",
}
_OMOP_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("drug_exposure", frozenset({"drugexposureid", "personid", "drugconceptid"})),
    (
        "procedure_occurrence",
        frozenset({"procedureoccurrenceid", "personid", "procedureconceptid"}),
    ),
    (
        "condition_occurrence",
        frozenset({"conditionoccurrenceid", "personid", "conditionconceptid"}),
    ),
    ("person", frozenset({"personid", "yearofbirth", "genderconceptid"})),
    ("concept", frozenset({"conceptid", "conceptname", "vocabularyid"})),
)
_OMOP_TABLES = frozenset(
    {
        "visit_occurrence",
        "visit_detail",
        "observation",
        "observation_period",
        "measurement",
        "device_exposure",
        "death",
        "note",
        "note_nlp",
        "specimen",
        "payer_plan_period",
        "cost",
        "drug_era",
        "dose_era",
        "condition_era",
        "location",
        "care_site",
        "provider",
        "cdm_source",
        "metadata",
        "fact_relationship",
        "episode",
        "episode_event",
        "concept_ancestor",
        "concept_relationship",
        "concept_synonym",
        "drug_strength",
        "vocabulary",
        "domain",
        "concept_class",
        "relationship",
        "source_to_concept_map",
    }
)
_OMOP_CONCEPT_COLUMN = {
    "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id",
    "condition_occurrence": "condition_concept_id",
}
_MEDICATION_TECHNIQUES = ("narcotic", "muscle_relaxant")
_TECH_INDEX = {t: i for i, t in enumerate(schema.TECHNIQUES)}
_INJ_INDEX = {t: i for i, t in enumerate(schema.INJECTION_TYPES)}
_NOT_RELEVANT = -2
_UNKNOWN = -1
_CPT_SHAPE = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")
_LOOKS_CLINICAL = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|ml|g|unt|units?|meq|%|hr)\b|tablet|capsule|inject|solution|"
    r"suspension|inhaler|inhal|cream|ointment|lotion|patch|spray|syringe|vaccin|immuniz|"
    r"\((?:procedure|regime/therapy|finding|disorder|situation|record artifact)\)|screening|"
    r"examination|assessment|\btest\b|x-?ray|imaging|consult|visit|counsel|education|"
    r"referral|dental|antibiotic",
    re.IGNORECASE,
)
_SAMPLE_BYTES = 256 * 1024
_PREVIEW_ROWS = 20


# --- result dataclasses -----------------------------------------------------------------------


@dataclass
class FilePlan:
    """What :func:`detect` found in one file (headers and a sample only).

    ``mapping`` is canonical column -> source column (guessed; the UI may edit it and
    pass it back to :func:`ingest`).  ``preview`` holds the first rows without any
    refused column.
    """

    name: str
    format: str
    role: str
    columns: list[str]
    mapping: dict[str, str]
    refused_columns: list[str]
    missing_required: list[str]
    preview: pd.DataFrame
    phi_value_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class FileReport:
    """Counts for one file; ``rows_read == accepted + rejected + not_relevant + duplicates``."""

    name: str
    format: str
    role: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    not_relevant: int = 0
    not_relevant_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    refused_columns: list[str] = field(default_factory=list)
    phi_value_columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def adds_up(self) -> bool:
        """True when the four buckets add up to the rows read."""
        return self.rows_read == self.accepted + self.rejected + self.not_relevant + self.duplicates


@dataclass
class IngestReport:
    """The upload report: one :class:`FileReport` per file, plus totals."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def not_relevant(self) -> int:
        return sum(f.not_relevant for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def refused_columns(self) -> list[str]:
        """Sorted unique names of every refused column (by name or by value)."""
        return sorted({c for f in self.files for c in f.refused_columns})

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.rejected_by_reason)
        return dict(total)

    def to_dict(self) -> dict:
        """JSON-serialisable form (totals and per-file reports)."""
        return {
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "not_relevant": self.not_relevant,
            "duplicates": self.duplicates,
            "refused_columns": self.refused_columns,
            "files": [asdict(f) for f in self.files],
        }


@dataclass
class IngestResult:
    """Canonical ``events`` (conformed, duplicates removed), the ``report`` and the
    ``rejected`` rows (``file``, ``row`` = 1-based data row, ``reason``, then the row's
    kept columns as text)."""

    events: pd.DataFrame
    report: IngestReport
    rejected: pd.DataFrame


# --- column access ----------------------------------------------------------------------------


class _Columns:
    """Factorised columns of a raw table: codes (-1 = empty) and stripped unique values."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.n = table.num_rows
        self._raw: dict[str, tuple[np.ndarray, int]] = {}
        self._clean: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._dict_cache: dict[str, pa.Array] = {}

    def raw_codes(self, name: str) -> tuple[np.ndarray, int]:
        """Exact-value codes (for duplicates): (codes with -1 for null, number of uniques)."""
        if name not in self._raw:
            col = self.table.column(name)
            if len(col) == 0:
                self._raw[name] = (np.zeros(0, dtype=np.int64), 0)
                self._dict_cache[name] = pa.array([], pa.string())
                return self._raw[name]
            enc = pc.dictionary_encode(col)  # one dictionary shared by all chunks
            dictionary = enc.chunk(enc.num_chunks - 1).dictionary
            if enc.num_chunks > 1 and len(enc.chunk(0).dictionary) != len(dictionary):
                enc = pc.dictionary_encode(col.combine_chunks())
                enc = pa.chunked_array([enc])
                dictionary = enc.chunk(0).dictionary
            codes = np.concatenate(
                [c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in enc.chunks]
            ).astype(np.int64, copy=False)
            self._raw[name] = (codes, len(dictionary))
            self._dict_cache[name] = dictionary
        return self._raw[name]

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, uniques) with values stripped of surrounding spaces; blank -> -1."""
        if name not in self._clean:
            codes, _ = self.raw_codes(name)
            dictionary = self._dict_cache[name]
            stripped = pc.utf8_trim_whitespace(dictionary).to_numpy(zero_copy_only=False)
            uniques = np.asarray(stripped, dtype=object)
            blank = np.flatnonzero(uniques == "")
            if len(blank):
                lookup = np.arange(len(uniques))
                lookup[blank] = -1
                codes = np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
            self._clean[name] = (codes, uniques)
        return self._clean[name]


def _new_columns(table: pa.Table) -> _Columns:
    return _Columns(table)


def _take(values: np.ndarray, codes: np.ndarray, fill: object) -> np.ndarray:
    """``values[codes]`` with ``fill`` where codes == -1 (values is an array of uniques)."""
    if len(values) == 0:
        out = np.empty(len(codes), dtype=values.dtype if values.dtype != object else object)
        out[:] = fill
        return out
    out = values[np.maximum(codes, 0)]
    if (codes < 0).any():
        out = out.copy()
        out[codes < 0] = fill
    return out


def _string_series(uniques: np.ndarray, codes: np.ndarray) -> pd.Series:
    """A pandas ``string`` Series of ``uniques[codes]`` (missing where codes == -1)."""
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=pd.RangeIndex(len(codes)), dtype="string")
    arr = pa.array(uniques, pa.string())
    missing = codes < 0
    idx = pa.array(codes, type=pa.int64(), mask=missing) if missing.any() else pa.array(codes)
    return pd.Series(pd.arrays.ArrowStringArray(arr.take(idx)))


def _combine(parts: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """One int64 key per row that is equal exactly when all parts' codes are equal."""
    key = np.zeros(n, dtype=np.int64)
    for codes, nuniq in parts:
        base = nuniq + 1
        if n and int(key.max()) >= (2**62) // max(base, 1):
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * base + (codes + 1)
    return key


# --- format detection and mapping -------------------------------------------------------------


def _stem(name: str) -> str:
    return Path(name).stem.lower().strip()


def _detect_format(name: str, columns: list[str]) -> tuple[str, str]:
    norm = {vocab.normalise_name(c) for c in columns}
    for role, signature in _OMOP_SIGNATURES:
        if signature <= norm:
            return "omop", role
    stem = _stem(name)
    if (
        stem in _OMOP_TABLES
        and any(
            c.endswith("conceptid") or c in ("personid", "locationid", "providerid", "caresiteid")
            for c in norm
        )
    ):
        return "omop", "not_used"
    if {"id", "birthdate", "gender"} <= norm and ({"ssn", "first", "race"} & norm):
        return "synthea", "patients"
    if {"patient", "code", "description"} <= norm and ("start" in norm or "date" in norm):
        if stem in _SYNTHEA_ROLES:
            return "synthea", _SYNTHEA_ROLES[stem]
        for key, role in _SYNTHEA_ROLES.items():
            if stem.endswith(key) or stem.startswith(key):
                return "synthea", role
        if "dispenses" in norm or "totalcost" in norm:
            return "synthea", "medications"
        return "synthea", "not_used"
    if stem in {
        "encounters",
        "observations",
        "immunizations",
        "allergies",
        "devices",
        "imaging_studies",
        "organizations",
        "providers",
        "payers",
        "payer_transitions",
        "supplies",
        "claims",
        "claims_transactions",
    } and ("patient" in norm or "id" in norm):
        return "synthea", "not_used"
    return "generic", "events"


def _synonym_guess(
    columns: list[str], refused: set[str], wanted: tuple[str, ...]
) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for c in columns:
        if c not in refused:
            by_norm.setdefault(vocab.normalise_name(c), c)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for canonical, synonym in vocab.column_synonyms():
        if canonical not in wanted or canonical in mapping:
            continue
        col = by_norm.get(synonym)
        if col is not None and col not in used:
            mapping[canonical] = col
            used.add(col)
    return mapping


_EVENT_CANONICAL = tuple(c for c in schema.CANONICAL_COLUMNS if c != "open_order")


def _guess_mapping(fmt: str, role: str, columns: list[str], refused: set[str]) -> dict[str, str]:
    if role in ("not_used", "concept"):
        return {}
    by_norm = {vocab.normalise_name(c): c for c in columns}
    if role == "patients":
        mapping = _synonym_guess(columns, refused, ("patient_id", "sex", "birth_year"))
        if "id" in by_norm:
            mapping["patient_id"] = by_norm["id"]
    elif role == "person":
        mapping = _synonym_guess(columns, refused, ("patient_id", "sex", "birth_year"))
    elif role in CONDITION_ROLES:
        mapping = _synonym_guess(columns, refused, ("patient_id", "event_date", "code", "detail"))
    else:
        mapping = _synonym_guess(columns, refused, _EVENT_CANONICAL)
    if (role in PATIENT_ROLES or role in EVENT_ROLES) and "birth_year" not in mapping:
        births = phi.birth_date_columns(columns)
        if births:
            mapping["birth_year"] = births[0]
    if fmt == "omop" and role in _OMOP_CONCEPT_COLUMN:
        concept_col = by_norm.get(vocab.normalise_name(_OMOP_CONCEPT_COLUMN[role]))
        if concept_col is not None:
            mapping["detail"] = concept_col
            mapping["code"] = concept_col
    if fmt == "synthea" and role == "patients":
        mapping.pop("event_date", None)
    return mapping


def _required(role: str) -> list[tuple[str, tuple[str, ...]]]:
    """(name reported when missing, canonical columns any one of which satisfies it)."""
    if role in EVENT_ROLES:
        return [
            ("patient_id", ("patient_id",)),
            ("event_date", ("event_date",)),
            ("technique", ("technique", "code", "detail", "injection_type")),
        ]
    if role in CONDITION_ROLES:
        return [("patient_id", ("patient_id",)), ("detail", ("detail", "code"))]
    if role in PATIENT_ROLES:
        return [("patient_id", ("patient_id",))]
    return []


def _missing_required(role: str, mapping: dict[str, str]) -> list[str]:
    return [name for name, options in _required(role) if not any(o in mapping for o in options)]


def _apply_override(
    name: str,
    columns: list[str],
    mapping: dict[str, str],
    override: dict[str, str] | None,
    refused: dict[str, str],
) -> dict[str, str]:
    if not override:
        return mapping
    mapping = dict(mapping)
    for canonical, source in override.items():
        if canonical not in schema.CANONICAL_COLUMNS or canonical == "open_order":
            raise IngestError(
                f"{name}: '{canonical}' is not a canonical column "
                f"(one of: {', '.join(_EVENT_CANONICAL)})"
            )
        if source is None or source == "":
            mapping.pop(canonical, None)
            continue
        if source not in columns:
            raise IngestError(
                f"{name}: column '{source}' mapped to {canonical} is not in the file; "
                f"columns: {', '.join(columns)}"
            )
        if source in refused:
            rule = phi.phi_rule(source)
            if not (canonical == "birth_year" and rule is not None and rule[1] == "birth_year"):
                raise IngestError(
                    f"{name}: column '{source}' is refused as PHI ({refused[source]}) "
                    f"and cannot be mapped to {canonical}"
                )
        mapping[canonical] = source
    return mapping


def _plan(raw: RawTable, override: dict[str, str] | None, cols: _Columns | None) -> FilePlan:
    columns = list(raw.table.column_names)
    fmt, role = _detect_format(raw.name, columns)
    refused = phi.refused_by_name(columns)
    notes = list(raw.notes)
    value_refused: dict[str, str] = {}
    if role != "not_used" and role != "concept":
        cols = cols or _new_columns(raw.table)
        kept = [c for c in columns if c not in refused]
        value_refused = phi.value_phi_columns({c: cols.get(c)[1] for c in kept})
        for col, kind in value_refused.items():
            notes.append(f"column '{col}' refused: its values look like {kind} numbers/addresses")
    all_refused = {**refused, **value_refused}
    mapping = _guess_mapping(fmt, role, columns, set(all_refused))
    mapping = _apply_override(raw.name, columns, mapping, override, all_refused)
    if value_refused:
        for canonical, source in list(mapping.items()):
            if source in value_refused:
                mapping.pop(canonical)
    missing = _missing_required(role, mapping)
    preview_cols = [c for c in columns if c not in all_refused]
    preview = raw.table.select(preview_cols).slice(0, _PREVIEW_ROWS).to_pandas()
    return FilePlan(
        name=raw.name,
        format=fmt,
        role=role,
        columns=columns,
        mapping=mapping,
        refused_columns=sorted(all_refused, key=columns.index),
        missing_required=missing,
        preview=preview,
        phi_value_columns=sorted(value_refused, key=columns.index),
        notes=notes,
    )


# --- classification ---------------------------------------------------------------------------


def _norm_code(code: str) -> str:
    c = code.strip().upper()
    if c.endswith(".0"):
        c = c[:-2]
    return re.split(r"[\s\-:/]", c, maxsplit=1)[0] if c else c


@lru_cache(maxsize=65536)
def _classify_text(detail: str) -> tuple[str, str, str] | None:
    for pattern, technique, reason in vocab.drug_classes():
        if pattern.search(detail):
            return technique, "", reason
    for _code, pattern, technique, inj, reason in vocab.procedure_terms():
        if pattern is not None and pattern.search(detail):
            return technique, inj, reason
    return None


def _classify_code(code: str, allow_cpt: bool) -> tuple[tuple[str, str, str] | None, bool]:
    c = _norm_code(code)
    if not c:
        return None, False
    cpt_shaped = allow_cpt and bool(_CPT_SHAPE.match(c))
    if cpt_shaped:
        hit = vocab.cpt_codes().get(c)
        if hit is not None:
            return (hit[0], hit[1], ""), True
    for pcode, _pattern, technique, inj, reason in vocab.procedure_terms():
        if pcode and pcode == c:
            return (technique, inj, reason), cpt_shaped
    return None, cpt_shaped


def classify(
    label: str | None = None,
    code: str | None = None,
    detail: str | None = None,
    injection_label: str | None = None,
    *,
    allow_cpt: bool = True,
    default_not_relevant: bool = False,
) -> tuple[str, str, str]:
    """Classify one (technique label, code, description, injection-type label).

    Returns ``(technique, injection_type, reason)``: technique is a canonical technique,
    ``"not_relevant"`` or ``"unknown"``; injection_type is set for injections only;
    reason explains a not-relevant result.  Order: label, code, description (see the
    module docstring).  ``allow_cpt`` enables CPT/HCPCS code ranges;
    ``default_not_relevant`` makes an unmatched row not relevant (Synthea/OMOP).
    """
    labels = vocab.technique_labels()
    inj_hint = ""
    if injection_label:
        hit = labels.get(vocab.normalise_label(injection_label))
        if hit is not None and hit[0] == "injection" and hit[1]:
            inj_hint = hit[1] if hit[1] != "other" else ""
    code_hit, cpt_shaped = _classify_code(code, allow_cpt) if code else (None, False)
    text_hit = _classify_text(detail) if detail else None

    def injection_type(own: str) -> str:
        if inj_hint:
            return inj_hint
        if own and own != "other":
            return own
        for hit in (code_hit, text_hit):
            if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
                return hit[1]
        return "other"

    if label:
        hit = labels.get(vocab.normalise_label(label))
        if hit is not None:
            technique, inj = hit
            if technique == "not_relevant":
                return "not_relevant", "", f"technique label '{label}'"
            return technique, injection_type(inj) if technique == "injection" else "", ""
    for hit in (code_hit, text_hit):
        if hit is not None:
            technique, inj, reason = hit
            if technique == "not_relevant":
                return "not_relevant", "", reason or "not pain management"
            return technique, injection_type(inj) if technique == "injection" else "", ""
    if inj_hint:
        return "injection", inj_hint, ""
    if default_not_relevant:
        return "not_relevant", "", "not pain management"
    if cpt_shaped or (detail and _LOOKS_CLINICAL.search(detail)):
        return "not_relevant", "", "not pain management"
    return "unknown", "", ""


# --- per-file processing ----------------------------------------------------------------------


@dataclass
class _FileOut:
    report: FileReport
    events: pd.DataFrame | None = None
    rejected: pd.DataFrame | None = None
    demographics: pd.DataFrame | None = None
    diagnoses: pd.DataFrame | None = None
    concepts: pd.DataFrame | None = None


@dataclass
class _Context:
    """Shared state of one Synthea/OMOP export (or one generic file)."""

    concepts: pd.DataFrame | None = None  # index concept_id -> concept_name, concept_code


def _duplicates(cols: _Columns, columns: list[str]) -> np.ndarray:
    if cols.n == 0 or not columns:
        return np.zeros(cols.n, dtype=bool)
    key = _combine([cols.raw_codes(c) for c in columns], cols.n)
    return pd.Series(key).duplicated().to_numpy()


def _rejected_frame(
    raw: RawTable, kept: list[str], idx: np.ndarray, reasons: np.ndarray
) -> pd.DataFrame:
    body = raw.table.select(kept).take(pa.array(idx, pa.int64())).to_pandas() if kept else None
    head = pd.DataFrame(
        {
            "file": pd.Series([raw.name] * len(idx), dtype="string"),
            "row": (idx + 1).astype(np.int64),
            "reason": pd.Series(reasons, dtype="string"),
        }
    )
    if body is None:
        return head
    body = body.astype("string")
    body.index = head.index
    return pd.concat([head, body], axis=1)


def _values(
    plan: FilePlan, cols: _Columns, canonical: str, ctx: _Context
) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, uniques) of the source column mapped to ``canonical``, with OMOP concept ids
    turned into names (detail) or concept codes (code)."""
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    if (
        plan.format == "omop"
        and canonical in ("detail", "code")
        and source.lower().endswith("concept_id")
    ):
        if ctx.concepts is None:
            if canonical == "detail":
                return codes, np.full(len(uniques), None, dtype=object)
            return codes, uniques
        column = "concept_name" if canonical == "detail" else "concept_code"
        looked = ctx.concepts[column].reindex(pd.Index(uniques.astype(str)))
        values = looked.to_numpy(dtype=object, na_value=None)
        if canonical == "code":
            values = np.where(pd.isna(values), uniques, values)
        return codes, values.astype(object)
    return codes, uniques


def _numbers(plan: FilePlan, cols: _Columns, canonical: str, sel: np.ndarray) -> np.ndarray | None:
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    return _take(readers.parse_numbers(uniques), codes[sel], np.nan)


def _dates(
    plan: FilePlan, cols: _Columns, canonical: str, excel: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """(datetime64[s] per row, status per row) for the mapped date column."""
    source = plan.mapping.get(canonical)
    if source is None:
        return None
    codes, uniques = cols.get(source)
    dates, status = readers.parse_dates(uniques, excel_serial=excel)
    return (
        _take(dates, codes, np.datetime64("NaT")),
        _take(status, codes, readers.DATE_EMPTY).astype(np.int8),
    )


def _sex_values(uniques: np.ndarray) -> np.ndarray:
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


def _birth_years(plan: FilePlan, cols: _Columns, sel: np.ndarray, excel: bool) -> np.ndarray | None:
    source = plan.mapping.get("birth_year")
    if source is None:
        return None
    codes, uniques = cols.get(source)
    rule = phi.phi_rule(source)
    if rule is not None and rule[1] == "birth_year":
        dates, _ = readers.parse_dates(uniques, excel_serial=excel)
        years = pd.DatetimeIndex(dates).year.to_numpy(dtype=float, na_value=np.nan)
    else:
        years = readers.parse_numbers(uniques)
        years[(years < 1800) | (years > 2100)] = np.nan
    return _take(years, codes[sel], np.nan)


def _report(raw: RawTable, plan: FilePlan) -> FileReport:
    return FileReport(
        name=raw.name,
        format=plan.format,
        role=plan.role,
        rows_read=raw.table.num_rows,
        refused_columns=list(plan.refused_columns),
        phi_value_columns=list(plan.phi_value_columns),
        mapping=dict(plan.mapping),
        notes=list(plan.notes),
    )


def _finish_rejections(
    raw: RawTable, plan: FilePlan, report: FileReport, reason_idx: np.ndarray, reasons: tuple
) -> pd.DataFrame | None:
    """reason_idx: per row index into ``reasons`` or -1 (not rejected)."""
    rej = np.flatnonzero(reason_idx >= 0)
    report.rejected = int(len(rej))
    if not len(rej):
        return None
    names = np.asarray(reasons, dtype=object)[reason_idx[rej]]
    report.rejected_by_reason = {k: int(v) for k, v in Counter(names.tolist()).items()}
    kept = [c for c in plan.columns if c not in set(plan.refused_columns)]
    return _rejected_frame(raw, kept, rej, names)


def _process_events(raw: RawTable, plan: FilePlan, ctx: _Context, cols: _Columns) -> _FileOut:
    report = _report(raw, plan)
    n = cols.n
    excel = raw.kind == "xlsx"
    dup = _duplicates(cols, plan.columns)
    report.duplicates = int(dup.sum())

    # classification over unique (label, code, detail, injection label)
    parts = {
        c: _values(plan, cols, c, ctx) for c in ("technique", "code", "detail", "injection_type")
    }
    present = {c: p for c, p in parts.items() if p is not None}
    key = _combine([(p[0], len(p[1])) for p in present.values()], n)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    allow_cpt = plan.format == "generic" or plan.role == "procedure_occurrence"
    default_nr = plan.format in ("synthea", "omop")
    tech_u = np.empty(len(first), dtype=np.int8)
    inj_u = np.full(len(first), -1, dtype=np.int8)
    reason_u = np.empty(len(first), dtype=object)

    def value(c: str, row: int) -> str | None:
        p = present.get(c)
        if p is None:
            return None
        code = p[0][row]
        if code < 0:
            return None
        v = p[1][code]
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    for i, row in enumerate(first):
        technique, inj, reason = classify(
            value("technique", row),
            value("code", row),
            value("detail", row),
            value("injection_type", row),
            allow_cpt=allow_cpt,
            default_not_relevant=default_nr,
        )
        tech_u[i] = (
            _NOT_RELEVANT if technique == "not_relevant" else _TECH_INDEX.get(technique, _UNKNOWN)
        )
        inj_u[i] = _INJ_INDEX[inj] if inj else -1
        reason_u[i] = reason
    tech = tech_u[inverse] if n else np.empty(0, np.int8)
    inj = inj_u[inverse] if n else np.empty(0, np.int8)

    not_rel = (~dup) & (tech == _NOT_RELEVANT)
    report.not_relevant = int(not_rel.sum())
    if report.not_relevant:
        counts = np.bincount(inverse[not_rel], minlength=len(first))
        by_reason: Counter[str] = Counter()
        for i in np.flatnonzero(counts):
            by_reason[reason_u[i] or "not pain management"] += int(counts[i])
        report.not_relevant_by_reason = dict(by_reason)
        for reason, count in sorted(by_reason.items()):
            report.notes.append(f"{count} row(s) not relevant: {reason}")

    # validation
    cand = (~dup) & (~not_rel)
    reason_idx = np.full(n, -1, dtype=np.int16)
    R = {r: i for i, r in enumerate(REJECT_REASONS)}

    def reject(mask: np.ndarray, reason: str) -> None:
        hit = cand & mask & (reason_idx < 0)
        reason_idx[hit] = R[reason]

    pid = _values(plan, cols, "patient_id", ctx)
    reject(pid[0] < 0 if pid else np.ones(n, bool), "missing patient id")
    start = _dates(plan, cols, "event_date", excel)
    if start is None:
        reject(np.ones(n, bool), "missing event date")
        start = (np.full(n, np.datetime64("NaT"), "datetime64[s]"), np.full(n, 1, np.int8))
    reject(start[1] == readers.DATE_EMPTY, "missing event date")
    reject(start[1] == readers.DATE_UNPARSEABLE, "unparseable event date")
    reject(start[1] == readers.DATE_OUT_OF_RANGE, "event date out of range")
    end = _dates(plan, cols, "end_date", excel)
    if end is not None:
        reject(end[1] == readers.DATE_UNPARSEABLE, "unparseable end date")
        reject(end[1] == readers.DATE_OUT_OF_RANGE, "end date out of range")
        reject((end[1] == readers.DATE_OK) & (end[0] < start[0]), "end before start")
        has_end = end[1] == readers.DATE_OK
    else:
        has_end = np.zeros(n, bool)
    days = None
    if "days_supply" in plan.mapping:
        codes, uniques = cols.get(plan.mapping["days_supply"])
        days = _take(readers.parse_numbers(uniques), codes, np.nan)
        given = codes >= 0
        bad_num = given & np.isnan(days)
        bad_range = (~np.isnan(days)) & ((days <= 0) | (days > 365))
        reject(bad_num & ~has_end, "days supply not a number")
        reject(bad_range & ~has_end, "days supply out of range")
        ignored = cand & (reason_idx < 0) & has_end & (bad_num | bad_range)
        if ignored.any():
            report.notes.append(
                f"days supply outside 1..365 ignored on {int(ignored.sum())} row(s) that have "
                "an end date (the end date defines the coverage)"
            )
        days = np.where(bad_num | bad_range, np.nan, days)
    reject(tech == _UNKNOWN, "unknown technique")

    rejected = _finish_rejections(raw, plan, report, reason_idx.astype(np.int64), REJECT_REASONS)
    acc = cand & (reason_idx < 0)
    report.accepted = int(acc.sum())
    events = _build_events(plan, cols, ctx, report, acc, tech, inj, start[0], end, days, excel)
    return _FileOut(report=report, events=events, rejected=rejected)


def _build_events(
    plan: FilePlan,
    cols: _Columns,
    ctx: _Context,
    report: FileReport,
    acc: np.ndarray,
    tech: np.ndarray,
    inj: np.ndarray,
    start: np.ndarray,
    end,
    days,
    excel: bool,
) -> pd.DataFrame:
    sel = np.flatnonzero(acc)
    m = len(sel)
    out: dict[str, object] = {}
    pid = _values(plan, cols, "patient_id", ctx)
    out["patient_id"] = (
        _string_series(pid[1], pid[0][sel]) if pid else pd.Series([], dtype="string")
    )
    out["event_date"] = start[sel]
    tech_sel = tech[sel]
    out["technique"] = pd.Categorical.from_codes(
        tech_sel.astype(np.int8), categories=list(schema.TECHNIQUES)
    )
    inj_sel = np.where(tech_sel == _TECH_INDEX["injection"], inj[sel], -1).astype(np.int8)
    out["injection_type"] = pd.Categorical.from_codes(
        inj_sel, categories=list(schema.INJECTION_TYPES)
    )
    end_sel = end[0][sel] if end is not None else np.full(m, np.datetime64("NaT"), "datetime64[s]")
    out["end_date"] = end_sel
    if days is not None:
        out["days_supply"] = days[sel]
    for canonical in ("detail", "code", "provider_id", "site", "diagnosis"):
        v = _values(plan, cols, canonical, ctx)
        if v is not None:
            out[canonical] = _string_series(v[1], v[0][sel])
    quantity = _numbers(plan, cols, "quantity", sel)
    if quantity is not None:
        bad = quantity <= 0
        if bad.any():
            report.notes.append(f"quantity <= 0 treated as missing on {int(bad.sum())} row(s)")
        out["quantity"] = np.where(bad, np.nan, quantity)
    for canonical in ("strength", "mme_per_day"):
        v = _numbers(plan, cols, canonical, sel)
        if v is not None:
            out[canonical] = np.where(v < 0, np.nan, v)
    pain = _numbers(plan, cols, "pain_score", sel)
    if pain is not None:
        bad = (pain < 0) | (pain > 10)
        if bad.any():
            report.notes.append(
                f"pain score outside 0..10 treated as missing on {int(bad.sum())} row(s)"
            )
        out["pain_score"] = np.where(bad, np.nan, pain)
    age = _numbers(plan, cols, "age", sel)
    if age is not None:
        if (age > 89).any():
            report.notes.append(f"ages over 89 stored as 90 on {int((age > 89).sum())} row(s)")
        out["age"] = phi.cap_age(age)
    birth = _birth_years(plan, cols, sel, excel)
    if birth is not None:
        out["birth_year"] = birth
        if phi.phi_rule(plan.mapping["birth_year"]) is not None:
            report.notes.append(f"'{plan.mapping['birth_year']}' kept as birth year only")
    if "sex" in plan.mapping:
        codes, uniques = cols.get(plan.mapping["sex"])
        out["sex"] = _string_series(_sex_values(uniques), codes[sel])
    # open medication orders
    is_med = np.isin(tech_sel, [_TECH_INDEX[t] for t in _MEDICATION_TECHNIQUES])
    open_order = np.zeros(m, dtype=bool)
    if end is not None and is_med.any():
        no_end = np.isnat(end_sel)
        no_days = np.isnan(out["days_supply"]) if "days_supply" in out else np.ones(m, bool)
        if (is_med & ~no_end).any():
            open_order = is_med & no_end & no_days
            if open_order.any():
                report.notes.append(
                    f"{int(open_order.sum())} medication order(s) without a stop date are open "
                    "(covered through the extract date)"
                )
    out["open_order"] = open_order
    return pd.DataFrame(
        {k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()}
        if m == 0
        else out,
        index=pd.RangeIndex(m),
    )


def _process_conditions(raw: RawTable, plan: FilePlan, ctx: _Context, cols: _Columns) -> _FileOut:
    report = _report(raw, plan)
    n = cols.n
    dup = _duplicates(cols, plan.columns)
    report.duplicates = int(dup.sum())
    code = _values(plan, cols, "code", ctx)
    detail = _values(plan, cols, "detail", ctx)
    prefixes, pattern = vocab.back_pain_diagnoses()
    is_bp = np.zeros(n, dtype=bool)
    if code is not None:
        norm = [str(u).replace(".", "").upper() if u is not None else "" for u in code[1]]
        hit = np.array([bool(prefixes) and s.startswith(prefixes) for s in norm], dtype=bool)
        is_bp |= _take(hit, code[0], False).astype(bool)
    if detail is not None and pattern is not None:
        hit = np.array([u is not None and bool(pattern.search(str(u))) for u in detail[1]], bool)
        is_bp |= _take(hit, detail[0], False).astype(bool)
    pid = _values(plan, cols, "patient_id", ctx)
    missing = pid[0] < 0 if pid else np.ones(n, bool)
    reason_idx = np.where((~dup) & is_bp & missing, 0, -1)
    rejected = _finish_rejections(raw, plan, report, reason_idx, ("missing patient id",))
    acc = (~dup) & is_bp & ~missing
    not_rel = (~dup) & ~is_bp
    report.accepted = int(acc.sum())
    report.not_relevant = int(not_rel.sum())
    if report.not_relevant:
        report.not_relevant_by_reason = {"not a back-pain diagnosis": report.not_relevant}
    sel = np.flatnonzero(acc)
    diag = None
    if len(sel) and pid is not None:
        text = detail if detail is not None else code
        start = _dates(plan, cols, "event_date", raw.kind == "xlsx")
        diag = pd.DataFrame(
            {
                "patient_id": _string_series(pid[1], pid[0][sel]),
                "date": start[0][sel]
                if start
                else np.full(len(sel), np.datetime64("NaT"), "datetime64[s]"),
                "diagnosis": _string_series(text[1], text[0][sel]),
            }
        )
        if detail is not None and code is not None:
            missing_text = diag["diagnosis"].isna().to_numpy()
            if missing_text.any():
                codes_str = _string_series(code[1], code[0][sel])
                diag.loc[missing_text, "diagnosis"] = codes_str[missing_text].to_numpy()
    return _FileOut(report=report, rejected=rejected, diagnoses=diag)


def _process_patients(raw: RawTable, plan: FilePlan, ctx: _Context, cols: _Columns) -> _FileOut:
    report = _report(raw, plan)
    n = cols.n
    dup = _duplicates(cols, plan.columns)
    report.duplicates = int(dup.sum())
    pid = _values(plan, cols, "patient_id", ctx)
    missing = pid[0] < 0 if pid else np.ones(n, bool)
    reason_idx = np.where((~dup) & missing, 0, -1)
    rejected = _finish_rejections(raw, plan, report, reason_idx, ("missing patient id",))
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    demo = None
    if pid is not None:
        demo = pd.DataFrame({"patient_id": _string_series(pid[1], pid[0][sel])})
        if "sex" in plan.mapping:
            codes, uniques = cols.get(plan.mapping["sex"])
            demo["sex"] = _string_series(_sex_values(uniques), codes[sel]).to_numpy()
        birth = _birth_years(plan, cols, sel, raw.kind == "xlsx")
        if birth is not None:
            demo["birth_year"] = birth
            if phi.phi_rule(plan.mapping["birth_year"]) is not None:
                report.notes.append(f"'{plan.mapping['birth_year']}' kept as birth year only")
    return _FileOut(report=report, rejected=rejected, demographics=demo)


def _process_concepts(raw: RawTable, plan: FilePlan, ctx: _Context, cols: _Columns) -> _FileOut:
    report = _report(raw, plan)
    dup = _duplicates(cols, plan.columns)
    report.duplicates = int(dup.sum())
    by_norm = {vocab.normalise_name(c): c for c in plan.columns}
    cid = cols.get(by_norm["conceptid"])
    missing = cid[0] < 0
    reason_idx = np.where((~dup) & missing, 0, -1)
    rejected = _finish_rejections(raw, plan, report, reason_idx, ("missing concept id",))
    acc = (~dup) & ~missing
    report.accepted = int(acc.sum())
    sel = np.flatnonzero(acc)
    name = cols.get(by_norm["conceptname"])
    frame = pd.DataFrame(
        {
            "concept_id": _take(cid[1], cid[0][sel], None),
            "concept_name": _take(name[1], name[0][sel], None),
        }
    )
    if "conceptcode" in by_norm:
        code = cols.get(by_norm["conceptcode"])
        frame["concept_code"] = _take(code[1], code[0][sel], None)
    else:
        frame["concept_code"] = None
    frame = frame.drop_duplicates("concept_id").set_index("concept_id")
    return _FileOut(report=report, rejected=rejected, concepts=frame)


def _process_unused(raw: RawTable, plan: FilePlan) -> _FileOut:
    report = _report(raw, plan)
    report.not_relevant = report.rows_read
    if report.rows_read:
        report.not_relevant_by_reason = {
            f"file not used ({plan.format} {_stem(raw.name)})": report.rows_read
        }
    report.notes.append("file not used: it holds no treatment events, diagnoses or demographics")
    return _FileOut(report=report)


# --- public entry points ----------------------------------------------------------------------


def _read(source: Source, sample: bool) -> RawTable:
    try:
        return readers.read_source(source, sample_bytes=_SAMPLE_BYTES if sample else None)
    except readers.ReadError as exc:
        raise IngestError(str(exc)) from exc
    except OSError as exc:
        raise IngestError(f"{readers.source_name(source)}: cannot read ({exc})") from exc


def _check_required(plan: FilePlan) -> None:
    if plan.missing_required:
        wanted = plan.missing_required[0]
        if wanted == "technique":
            what = "technique (or a code or description column to classify)"
        else:
            what = wanted
        raise IngestError(
            f"{plan.name}: required column not found: {what}; "
            f"the file's columns are: {', '.join(plan.columns)}"
        )


def detect(
    sources: Source | list[Source], mapping: dict[str, dict[str, str]] | None = None
) -> list[FilePlan]:
    """Plan each file from its header and a sample (no full read): format, role, the
    guessed (or overridden) mapping, refused columns, missing required columns and a
    preview without refused columns.  Raises :class:`IngestError` for unreadable files or
    an invalid explicit mapping (a missing required column is reported, not raised)."""
    files = readers.expand_sources(sources)
    if not files:
        raise IngestError("no export files given")
    plans = []
    for source in files:
        raw = _read(source, sample=True)
        plans.append(_plan(raw, (mapping or {}).get(raw.name), None))
    return plans


_ROLE_ORDER = {"concept": 0, "person": 1, "patients": 1, "conditions": 2, "condition_occurrence": 2}


def ingest(
    sources: Source | list[Source], mapping: dict[str, dict[str, str]] | None = None
) -> IngestResult:
    """Read, map, classify, validate and PHI-guard the given exports (see the module
    docstring for every rule).  ``mapping`` is ``{file name: {canonical: source column}}``.
    Raises :class:`IngestError` (one line) when a file cannot be read, a required column
    is missing, a mapping is invalid, or none of the files is a usable export."""
    files = readers.expand_sources(sources)
    if not files:
        raise IngestError("no export files given")
    loaded = []
    for source in files:
        raw = _read(source, sample=False)
        cols = _new_columns(raw.table)
        plan = _plan(raw, (mapping or {}).get(raw.name), cols)
        if plan.role != "not_used":
            _check_required(plan)
        loaded.append((raw, plan, cols))
    if all(plan.role == "not_used" for _, plan, _ in loaded):
        raise IngestError(
            "none of the files is a usable export: "
            + ", ".join(f"{p.name} ({p.format} {p.role})" for _, p, _ in loaded)
        )
    groups: dict[tuple, list[int]] = {}
    for i, (raw, plan, _) in enumerate(loaded):
        key = (plan.format, raw.parent) if plan.format in ("synthea", "omop") else ("generic", i)
        groups.setdefault(key, []).append(i)

    outs: list[_FileOut | None] = [None] * len(loaded)
    event_frames: list[pd.DataFrame] = []
    for members in groups.values():
        ctx = _Context()
        demo_parts, diag_parts, group_events = [], [], []
        for i in sorted(members, key=lambda j: _ROLE_ORDER.get(loaded[j][1].role, 9)):
            raw, plan, cols = loaded[i]
            if plan.role == "concept":
                out = _process_concepts(raw, plan, ctx, cols)
                ctx.concepts = (
                    out.concepts
                    if ctx.concepts is None
                    else pd.concat([ctx.concepts, out.concepts])
                )
            elif plan.role in PATIENT_ROLES:
                out = _process_patients(raw, plan, ctx, cols)
                if out.demographics is not None:
                    demo_parts.append(out.demographics)
            elif plan.role in CONDITION_ROLES:
                out = _process_conditions(raw, plan, ctx, cols)
                if out.diagnoses is not None:
                    diag_parts.append(out.diagnoses)
            elif plan.role in EVENT_ROLES:
                if plan.format == "omop" and ctx.concepts is None:
                    plan.notes.append("no OMOP concept table given: concept ids cannot be named")
                out = _process_events(raw, plan, ctx, cols)
                if out.events is not None and len(out.events):
                    group_events.append(out.events)
            else:
                out = _process_unused(raw, plan)
            outs[i] = out
        if group_events:
            events = (
                pd.concat(group_events, ignore_index=True)
                if len(group_events) > 1
                else group_events[0]
            )
            events = schema.conform(events)
            if demo_parts or diag_parts:
                _broadcast(events, demo_parts, diag_parts)
            event_frames.append(events)

    report = IngestReport(files=[o.report for o in outs if o is not None])
    if event_frames:
        events = (
            pd.concat(event_frames, ignore_index=True) if len(event_frames) > 1 else event_frames[0]
        )
        _finish_demographics(events)
    else:
        events = schema.empty_events()
    rejected_parts = [o.rejected for o in outs if o is not None and o.rejected is not None]
    if rejected_parts:
        rejected = pd.concat(rejected_parts, ignore_index=True)
        for c in rejected.columns:
            if c != "row":
                rejected[c] = rejected[c].astype("string")
    else:
        rejected = pd.DataFrame(
            {
                "file": pd.Series([], dtype="string"),
                "row": pd.Series([], dtype=np.int64),
                "reason": pd.Series([], dtype="string"),
            }
        )
    return IngestResult(events=events, report=report, rejected=rejected)


def _broadcast(
    events: pd.DataFrame, demo_parts: list[pd.DataFrame], diag_parts: list[pd.DataFrame]
) -> None:
    """Fill sex / birth year from patients and diagnosis from conditions, by patient id
    (in place, on a conformed frame)."""
    if demo_parts:
        demo = pd.concat(demo_parts, ignore_index=True).drop_duplicates("patient_id")
        demo = demo.set_index("patient_id")
        if "sex" in demo.columns:
            looked = events["patient_id"].map(demo["sex"]).astype("string")
            events["sex"] = events["sex"].fillna(looked)
        if "birth_year" in demo.columns:
            looked = events["patient_id"].map(demo["birth_year"]).astype("float64")
            events["birth_year"] = events["birth_year"].fillna(looked)
    if diag_parts:
        diag = pd.concat(diag_parts, ignore_index=True).dropna(subset=["diagnosis"])
        diag = diag.sort_values(["patient_id", "date"], kind="stable", na_position="last")
        first = diag.drop_duplicates("patient_id").set_index("patient_id")["diagnosis"]
        looked = events["patient_id"].map(first).astype("string")
        events["diagnosis"] = events["diagnosis"].fillna(looked)


def _finish_demographics(events: pd.DataFrame) -> None:
    """Compute age from birth year when absent; ages over 89 -> 90 and their birth year
    dropped (Safe Harbor: a birth year implying 90+ is itself an identifier).  In place,
    on a conformed frame."""
    birth = events["birth_year"].to_numpy(dtype=float)
    if not np.isfinite(birth).any():
        return
    age = events["age"].to_numpy(dtype=float).copy()
    fill = np.isnan(age) & np.isfinite(birth)
    if fill.any():
        year = events["event_date"].dt.year.to_numpy(dtype=float, na_value=np.nan)
        age[fill] = year[fill] - birth[fill]
    age = phi.cap_age(age)
    old = age >= phi.AGE_CAP
    events["age"] = age
    if old.any():
        events["birth_year"] = np.where(old, np.nan, birth)
