"""Column mapping: which source column feeds each canonical column, and the file's plan.

The guess uses the synonyms of ``analytics/data/column_synonyms.csv`` (names normalised:
lower case, spaces and ``_ - . / ( ) #`` removed; rows tried in order, the first synonym
present wins) and per-format defaults (Synthea ``Id`` in ``patients``; OMOP
``*_concept_id`` named through ``concept``).  An explicit mapping
``{canonical column: source column}`` overrides the guess (an empty source removes a
guess).  A column refused by the PHI guard cannot be mapped, except a birth date to
``birth_year`` (its year only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analytics import phi, schema, vocab
from analytics.ingest.columns import Columns
from analytics.ingest.formats import (
    CONDITION_ROLES,
    DEATH_ROLES,
    ENCOUNTER_ROLES,
    EVENT_ROLES,
    PATIENT_ROLES,
    detect_format,
    generic_role,
)
from analytics.ingest.report import IngestError
from analytics.readers import RawTable

PREVIEW_ROWS = 20
EVENT_CANONICAL = tuple(
    c for c in schema.CANONICAL_COLUMNS if c not in ("open_order", "ends_at_death", "drug_class")
)
"""Canonical columns a source column can be mapped to (the flags and the drug class are
computed by ingest)."""
AUXILIARY_COLUMNS: dict[str, str] = {
    "reason_code": "the code of the row's reason (reason holds its description)",
    "refills": "refills authorised: dispenses = refills + 1",
    "death_date": "the patient's death date: closes orders at death, kept as death_year",
    "encounter_id": "the row's encounter (visit): brings the encounter's provider and site",
}
"""Source columns ingest reads that are not canonical columns themselves."""
MAPPING_KEYS = EVENT_CANONICAL + tuple(AUXILIARY_COLUMNS)
"""Every key an explicit mapping may use."""
_DIAGNOSIS_KEYS = ("patient_id", "event_date", "code", "detail", "diagnosis")
OMOP_CONCEPT_COLUMN = {
    "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id",
    "condition_occurrence": "condition_concept_id",
}


@dataclass
class FilePlan:
    """What :func:`analytics.ingest.detect` found in one file (headers and a sample only).

    ``mapping`` is canonical column -> source column (guessed; the UI may edit it and
    pass it back to :func:`analytics.ingest.ingest`).  ``preview`` holds the first rows
    without any refused column.  ``dropped_columns``: the columns neither mapped nor
    refused (not read: they never leave ingest).  ``skipped``: why a file that could not
    be read is skipped (role ``skipped``; the other fields are empty).
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
    dropped_columns: list[str] = field(default_factory=list)
    skipped: str = ""


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


def wanted(role: str) -> tuple[str, ...]:
    """The mapping keys a file of this role uses."""
    if role in PATIENT_ROLES:
        return ("patient_id", "sex", "birth_year", "death_date")
    if role in CONDITION_ROLES:
        return _DIAGNOSIS_KEYS
    if role in DEATH_ROLES:
        return ("patient_id", "death_date")
    if role in ENCOUNTER_ROLES:
        return ("encounter_id", "patient_id", "provider_id", "site")
    return MAPPING_KEYS


def _word_guess(columns: list[str], refused: set[str], mapping: dict[str, str]) -> dict[str, str]:
    """Columns for the canonical columns the synonyms left unmapped, from the words of
    their headers (``column_words.csv``)."""
    used = set(mapping.values()) | refused
    words = {c: set(vocab.header_words(c)) for c in columns if c not in used}
    out: dict[str, str] = {}
    for canonical, any_a, any_b, exclude in vocab.column_words():
        if canonical in mapping or canonical in out:
            continue
        for col, ws in words.items():
            if col not in used and ws & any_a and (not any_b or ws & any_b) and not ws & exclude:
                out[canonical] = col
                used.add(col)
                break
    return out


def guess_mapping(fmt: str, role: str, columns: list[str], refused: set[str]) -> dict[str, str]:
    """The guessed mapping of a file of the given format and role: synonyms, then (generic
    files) header words; refused columns are never guessed, except a birth or death date
    column for ``birth_year`` / ``death_date``."""
    if role in ("not_used", "concept"):
        return {}
    by_norm = {vocab.normalise_name(c): c for c in columns}
    mapping = _synonym_guess(columns, refused, wanted(role))
    if fmt == "generic":
        mapping.update(_word_guess(columns, refused, mapping))
    if role == "patients" and "id" in by_norm:
        mapping["patient_id"] = by_norm["id"]
    if role == "encounters" and "id" in by_norm:
        mapping["encounter_id"] = by_norm["id"]
    for key, found in (("birth_year", phi.birth_date_columns(columns)),
                       ("death_date", phi.death_date_columns(columns))):
        if key in wanted(role) and key not in mapping and found and role != "diagnoses":
            mapping[key] = found[0]
    if fmt == "omop" and role in OMOP_CONCEPT_COLUMN:
        concept_col = by_norm.get(vocab.normalise_name(OMOP_CONCEPT_COLUMN[role]))
        if concept_col is not None:
            mapping["detail"] = concept_col
            mapping["code"] = concept_col
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
        return [("patient_id", ("patient_id",)), ("detail", ("detail", "code", "diagnosis"))]
    if role in PATIENT_ROLES:
        return [("patient_id", ("patient_id",))]
    if role in DEATH_ROLES:
        return [("patient_id", ("patient_id",)), ("death_date", ("death_date",))]
    if role in ENCOUNTER_ROLES:
        return [("encounter_id", ("encounter_id",))]
    return []


def missing_required(role: str, mapping: dict[str, str]) -> list[str]:
    """Required columns of the role that the mapping does not provide."""
    return [name for name, options in _required(role) if not any(o in mapping for o in options)]


def check_required(plan: FilePlan) -> None:
    """Raise :class:`IngestError` naming the first required column the plan lacks."""
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


_REFUSED_BUT_READ = {"birth_year": "birth_year", "death_date": "death_date"}
"""Mapping keys that may read a refused column, and the PHI action that allows it."""


def _check_override_source(
    name: str, columns: list[str], canonical: str, source: str, refused: dict[str, str]
) -> None:
    if source not in columns:
        raise IngestError(
            f"{name}: column '{source}' mapped to {canonical} is not in the file; "
            f"columns: {', '.join(columns)}"
        )
    if source in refused:
        rule = phi.phi_rule(source)
        allowed = _REFUSED_BUT_READ.get(canonical)
        if not (allowed and rule is not None and rule[1] == allowed):
            raise IngestError(
                f"{name}: column '{source}' is refused as PHI ({refused[source]}) "
                f"and cannot be mapped to {canonical}"
            )


def apply_override(
    name: str,
    columns: list[str],
    mapping: dict[str, str],
    override: dict[str, str] | None,
    refused: dict[str, str],
) -> dict[str, str]:
    """The mapping with an explicit ``{canonical: source}`` override applied (an empty
    source removes the canonical column).  Raises :class:`IngestError` for an unknown
    canonical column, a source not in the file, or a refused source."""
    if not override:
        return mapping
    mapping = dict(mapping)
    for canonical, source in override.items():
        if canonical not in MAPPING_KEYS:
            raise IngestError(
                f"{name}: '{canonical}' is not a column PainPath reads "
                f"(one of: {', '.join(MAPPING_KEYS)})"
            )
        if source is None or source == "":
            mapping.pop(canonical, None)
            continue
        _check_override_source(name, columns, canonical, source, refused)
        mapping[canonical] = source
    return mapping


def _value_refused(raw: RawTable, role: str, refused: dict[str, str], cols: Columns | None):
    """(columns refused by their values, notes, the Columns used)."""
    if role in ("not_used", "concept"):
        return {}, [], cols
    cols = cols or Columns(raw.table)
    kept = [c for c in raw.table.column_names if c not in refused]
    value_refused = phi.value_phi_columns({c: cols.get(c) for c in kept})
    notes = [
        f"column '{col}' refused: its values look like {phi.VALUE_KINDS[kind]}"
        for col, kind in value_refused.items()
    ]
    return value_refused, notes, cols


def _final_role(fmt: str, role: str, name: str, mapping: dict[str, str]) -> str:
    if fmt == "generic" and role == "events":
        return generic_role(name, mapping)
    return role


def plan_file(raw: RawTable, override: dict[str, str] | None, cols: Columns | None) -> FilePlan:
    """Format, role, PHI-refused columns, mapping, missing required columns and a preview
    of one read file.  ``cols`` (optional) is the file's :class:`Columns`, reused."""
    columns = list(raw.table.column_names)
    fmt, role = detect_format(raw.name, columns)
    refused = phi.refused_by_name(columns)
    value_refused, value_notes, _ = _value_refused(raw, role, refused, cols)
    all_refused = {**refused, **value_refused}
    mapping = guess_mapping(fmt, role, columns, set(all_refused))
    mapping = apply_override(raw.name, columns, mapping, override, all_refused)
    mapping = {k: v for k, v in mapping.items() if v not in value_refused}
    role = _final_role(fmt, role, raw.name, mapping)
    mapping = {k: v for k, v in mapping.items() if k in wanted(role)}
    preview_cols = [c for c in columns if c not in all_refused and c != mapping.get("death_date")]
    mapped = set(mapping.values())
    return FilePlan(
        name=raw.name,
        format=fmt,
        role=role,
        columns=columns,
        mapping=mapping,
        refused_columns=sorted(all_refused, key=columns.index),
        missing_required=missing_required(role, mapping),
        preview=raw.table.select(preview_cols).slice(0, PREVIEW_ROWS).to_pandas(),
        phi_value_columns=sorted(value_refused, key=columns.index),
        notes=[*raw.notes, *value_notes],
        dropped_columns=[c for c in columns if c not in mapped and c not in all_refused],
    )


def skipped_plan(name: str, reason: str) -> FilePlan:
    """The plan of a file that could not be read (``reason``: one line)."""
    return FilePlan(name=name, format="", role="skipped", columns=[], mapping={},
                    refused_columns=[], missing_required=[], preview=pd.DataFrame(),
                    skipped=reason)
