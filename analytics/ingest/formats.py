"""Recognising an export's format and each file's role from its columns and name.

Formats: ``omop`` (OMOP CDM tables), ``synthea`` (Synthea CSV files), ``generic`` (any
other table: a clinic's own treatment export).  The tables each format may hold, the
role ingest gives each and the columns that recognise it are data
(``analytics/data/export_tables.csv``, citing the OMOP CDM v5.4 specification and the
Synthea CSV data dictionary).

Rules, in order:

1. a table whose columns include an OMOP *signature* (e.g. ``drug_exposure_id``,
   ``person_id``, ``drug_concept_id``) has that OMOP role, whatever the file is called;
2. a file named like another OMOP table with OMOP-style id columns is that table
   (``not_used``: counted as not relevant);
3. a Synthea ``patients`` table by its columns (``Id``, ``BIRTHDATE``, ``GENDER`` and
   one of ``SSN``/``FIRST``/``RACE``);
4. a Synthea event table (``PATIENT``, ``CODE``, ``DESCRIPTION`` and ``START`` or
   ``DATE``) takes its role from the file name (``medications.csv``,
   ``synthea_procedures.csv``, ...); one with ``DISPENSES`` or ``TOTALCOST`` and an
   unknown name is ``medications``; any other is ``not_used``;
5. a file named like another Synthea table with ``PATIENT`` or ``Id`` is ``not_used``;
6. anything else is a ``generic`` ``events`` file, or (:func:`generic_role`) a generic
   ``diagnoses`` file: one whose mapped columns hold a diagnosis but nothing to classify
   as a treatment, or one named like a diagnoses table (``diagnoses.csv``,
   ``conditions.csv``, ``problem_list.csv``) without a technique column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from analytics import vocab

EVENT_ROLES = frozenset(
    {"events", "medications", "procedures", "careplans", "drug_exposure", "procedure_occurrence"}
)
"""Roles whose rows are treatment events."""
CONDITION_ROLES = frozenset({"conditions", "condition_occurrence", "diagnoses"})
"""Roles whose rows are diagnoses (Synthea conditions, OMOP condition_occurrence, a
generic diagnoses file)."""
PATIENT_ROLES = frozenset({"patients", "person"})
ENCOUNTER_ROLES = frozenset({"encounters", "visit_occurrence"})
"""Roles whose rows give the provider and site of each encounter (Synthea encounters, OMOP
visit_occurrence)."""
DEATH_ROLES = frozenset({"death"})
_DIAGNOSIS_FILE = re.compile(r"diagnos|condition|problem|diagnose|diagnostic|diagnostico")
_TREATMENT_COLUMNS = ("technique", "code", "detail", "injection_type")

_OMOP_ID_COLUMNS = frozenset({"personid", "locationid", "providerid", "caresiteid"})
_SYNTHEA_ID_COLUMNS = frozenset({"patient", "id"})
_SYNTHEA_MEDICATION_HINTS = frozenset({"dispenses", "totalcost"})


@dataclass(frozen=True)
class ExportTable:
    """One row of ``export_tables.csv`` (column names normalised)."""

    format: str
    table: str
    role: str
    signature: frozenset[str]
    any_of: frozenset[str]

    def matches(self, norm: set[str]) -> bool:
        """True when the normalised column names hold the signature (and one of any_of)."""
        if not self.signature or not self.signature <= norm:
            return False
        return not self.any_of or bool(self.any_of & norm)


@cache
def export_tables() -> tuple[ExportTable, ...]:
    """The rows of ``analytics/data/export_tables.csv`` in order."""
    table = vocab.load_table("export_tables.csv")
    return tuple(
        ExportTable(
            fmt,
            name.lower(),
            role,
            frozenset(vocab.normalise_name(c) for c in signature.split()),
            frozenset(vocab.normalise_name(c) for c in any_of.split()),
        )
        for fmt, name, role, signature, any_of in zip(
            table["format"], table["table"], table["role"], table["signature"],
            table["any_of"], strict=True,
        )
    )


def file_stem(name: str) -> str:
    """The file name without folder and suffix, lower case (``DRUG_EXPOSURE.csv`` ->
    ``drug_exposure``)."""
    return Path(name).stem.lower().strip()


def _tables(fmt: str) -> list[ExportTable]:
    return [t for t in export_tables() if t.format == fmt]


def _omop_by_columns(norm: set[str]) -> str | None:
    for t in _tables("omop"):
        if t.matches(norm):
            return t.role
    return None


def _by_stem(fmt: str, stem: str, norm: set[str], id_columns: frozenset[str]) -> str | None:
    """The role of an unrecognised-by-columns table named like one of the format's tables."""
    if not norm & id_columns and not (fmt == "omop" and any(c.endswith("conceptid") for c in norm)):
        return None
    for t in _tables(fmt):
        if t.table == stem and not t.signature:
            return t.role
    return None


def _synthea_event_role(stem: str, norm: set[str]) -> str:
    named = {t.table: t.role for t in _tables("synthea") if t.role != "not_used"}
    if stem in named:
        return named[stem]
    for table, role in named.items():
        if stem.endswith(table) or stem.startswith(table):
            return role
    if _SYNTHEA_MEDICATION_HINTS & norm:
        return "medications"
    return "not_used"


def detect_format(name: str, columns: list[str]) -> tuple[str, str]:
    """``(format, role)`` of a file from its name and column names (rules in the module
    docstring)."""
    norm = {vocab.normalise_name(c) for c in columns}
    stem = file_stem(name)
    role = _omop_by_columns(norm) or _by_stem("omop", stem, norm, _OMOP_ID_COLUMNS)
    if role is not None:
        return "omop", role
    synthea = _tables("synthea")
    if any(t.role == "patients" and t.matches(norm) for t in synthea):
        return "synthea", "patients"
    if any(t.role in EVENT_ROLES | CONDITION_ROLES and t.matches(norm) for t in synthea):
        return "synthea", _synthea_event_role(stem, norm)
    role = _by_stem("synthea", stem, norm, _SYNTHEA_ID_COLUMNS)
    if role is not None:
        return "synthea", role
    return "generic", "events"


def generic_role(name: str, mapping: dict[str, str]) -> str:
    """``diagnoses`` or ``events``: the role of a generic file given its guessed mapping
    (rule 6 of the module docstring)."""
    treatment = [c for c in _TREATMENT_COLUMNS if c in mapping]
    if "diagnosis" in mapping and not treatment:
        return "diagnoses"
    if _DIAGNOSIS_FILE.search(file_stem(name)) and "technique" not in mapping:
        return "diagnoses"
    return "events"
