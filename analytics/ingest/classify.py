"""Classification of event rows: technique, injection type, drug class and spinal region.

Each unique (technique label, code, description, injection-type label) is classified
once, in this order: the technique label (``technique_labels.csv``); the code —
CPT/HCPCS (``cpt_codes.csv``, generic files and OMOP procedures only) or a SNOMED code of
``snomed_terms.csv``; the description — drug patterns (``drug_classes.csv``) then procedure
wording (``snomed_terms.csv``).  A row of a Synthea/OMOP export that matches nothing is
*not relevant* (those exports are whole health records).  A row of a generic file that
matches nothing is *not relevant* when it is recognisably something else (a technique
label listed as not relevant, a CPT-shaped code outside the pain codes, or a description
that reads like a drug or procedure: strengths such as ``MG``, dose forms, SNOMED
semantic tags, vaccines, screenings); otherwise it is *unknown* (rejected).

- **Injection type**: an injection-type label, else the code, else the description, else
  ``other``.
- **Drug class** of medication rows: ``opioid`` for every narcotic row and
  ``muscle_relaxant`` for every muscle-relaxant row; a row of technique ``other`` has the
  safety class its drug pattern gives (benzodiazepine, gabapentinoid, naloxone,
  oud_treatment), else none.  Opioids given as injections during anaesthesia, cough and
  cold products and other drugs are not relevant (no class).
- **Spinal region** of an injection row (DESIGN.md "Injection session"): the region of its
  CPT code (``cpt_codes.csv``); else (see :mod:`analytics.ingest.regions`) a region or
  level column; else the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from analytics import schema, vocab
from analytics.ingest.columns import combine
from analytics.ingest.regions import text_region

NOT_RELEVANT = -2
UNKNOWN = -1
TECH_INDEX = {t: i for i, t in enumerate(schema.TECHNIQUES)}
INJ_INDEX = {t: i for i, t in enumerate(schema.INJECTION_TYPES)}
CLASS_INDEX = {c: i for i, c in enumerate(schema.DRUG_CLASSES)}
REGION_INDEX = {r: i for i, r in enumerate(schema.REGIONS)}
_TECHNIQUE_CLASS = {"narcotic": "opioid", "muscle_relaxant": "muscle_relaxant"}
_CPT_SHAPE = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")
_LOOKS_CLINICAL = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|ml|g|unt|units?|meq|%|hr)\b|tablet|capsule|inject|solution|"
    r"suspension|inhaler|inhal|cream|ointment|lotion|patch|spray|syringe|vaccin|immuniz|"
    r"\((?:procedure|regime/therapy|finding|disorder|situation|record artifact)\)|screening|"
    r"examination|assessment|\btest\b|x-?ray|imaging|consult|visit|counsel|education|"
    r"referral|dental|antibiotic",
    re.IGNORECASE,
)


class Classification(NamedTuple):
    """The classification of one row: ``technique`` (a canonical technique,
    ``"not_relevant"`` or ``"unknown"``), ``injection_type`` (injections only),
    ``reason`` (why a row is not relevant), ``drug_class`` (medication rows) and
    ``region`` (injections whose code or description names a spinal region;
    ``region_from_code`` says it came from the CPT code)."""

    technique: str
    injection_type: str = ""
    reason: str = ""
    drug_class: str = ""
    region: str = ""
    region_from_code: bool = False


class _Hit(NamedTuple):
    technique: str
    injection_type: str
    reason: str
    drug_class: str = ""
    region: str = ""


def _norm_code(code: str) -> str:
    c = code.strip().upper()
    if c.endswith(".0"):
        c = c[:-2]
    return re.split(r"[\s\-:/]", c, maxsplit=1)[0] if c else c


@lru_cache(maxsize=65536)
def _classify_text(detail: str) -> _Hit | None:
    for pattern, technique, drug_class, reason in vocab.drug_classes():
        if pattern.search(detail):
            return _Hit(technique, "", reason, drug_class)
    for _code, pattern, technique, inj, reason in vocab.procedure_terms():
        if pattern is not None and pattern.search(detail):
            return _Hit(technique, inj, reason)
    return None


def _classify_code(code: str, allow_cpt: bool) -> tuple[_Hit | None, bool]:
    c = _norm_code(code)
    if not c:
        return None, False
    cpt_shaped = allow_cpt and bool(_CPT_SHAPE.match(c))
    if cpt_shaped:
        hit = vocab.cpt_codes().get(c)
        if hit is not None:
            return _Hit(hit[0], hit[1], "", "", hit[2]), True
    for pcode, _pattern, technique, inj, reason in vocab.procedure_terms():
        if pcode and pcode == c:
            return _Hit(technique, inj, reason), cpt_shaped
    return None, cpt_shaped


def _injection_hint(injection_label: str | None) -> str:
    if not injection_label:
        return ""
    hit = vocab.technique_labels().get(vocab.normalise_label(injection_label))
    if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
        return hit[1]
    return ""


class _Evidence:
    """What the code and the description of one row say."""

    def __init__(self, code: str | None, detail: str | None, injection_label: str | None,
                 allow_cpt: bool):
        self.code_hit, self.cpt_shaped = (
            _classify_code(code, allow_cpt) if code else (None, False)
        )
        self.text_hit = _classify_text(detail) if detail else None
        self.detail = detail
        self.hint = _injection_hint(injection_label)

    @property
    def hits(self) -> tuple[_Hit | None, _Hit | None]:
        return self.code_hit, self.text_hit

    def injection_type(self, own: str) -> str:
        if self.hint:
            return self.hint
        if own and own != "other":
            return own
        for hit in self.hits:
            if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
                return hit[1]
        return "other"

    def drug_class(self, technique: str) -> str:
        if technique in _TECHNIQUE_CLASS:
            return _TECHNIQUE_CLASS[technique]
        hit = self.text_hit
        if technique == "other" and hit is not None and hit.technique == "other":
            return hit.drug_class
        return ""

    def region(self) -> tuple[str, bool]:
        """(region, True when the CPT code gave it)."""
        if self.code_hit is not None and self.code_hit.region:
            return self.code_hit.region, True
        return (text_region(self.detail) if self.detail else ""), False

    def injection(self, injection_type: str) -> Classification:
        region, from_code = self.region()
        return Classification("injection", injection_type, region=region,
                              region_from_code=from_code)

    def treatment(self, technique: str, own_injection: str) -> Classification:
        if technique == "injection":
            return self.injection(self.injection_type(own_injection))
        return Classification(technique, drug_class=self.drug_class(technique))


def classify(
    label: str | None = None,
    code: str | None = None,
    detail: str | None = None,
    injection_label: str | None = None,
    *,
    allow_cpt: bool = True,
    default_not_relevant: bool = False,
) -> Classification:
    """Classify one (technique label, code, description, injection-type label) into a
    :class:`Classification` (technique, injection type, reason, drug class, region; see
    the module docstring).  ``allow_cpt`` enables CPT/HCPCS code ranges;
    ``default_not_relevant`` makes an unmatched row not relevant (Synthea/OMOP)."""
    ev = _Evidence(code, detail, injection_label, allow_cpt)
    if label:
        hit = vocab.technique_labels().get(vocab.normalise_label(label))
        if hit is not None:
            if hit[0] == "not_relevant":
                return Classification("not_relevant", reason=f"technique label '{label}'")
            return ev.treatment(hit[0], hit[1])
    for hit in ev.hits:
        if hit is not None:
            if hit.technique == "not_relevant":
                return Classification("not_relevant", reason=hit.reason or "not pain management")
            return ev.treatment(hit.technique, hit.injection_type)
    if ev.hint:
        return ev.injection(ev.hint)
    if default_not_relevant or ev.cpt_shaped or (detail and _LOOKS_CLINICAL.search(detail)):
        return Classification("not_relevant", reason="not pain management")
    return Classification("unknown")


@dataclass
class RowClasses:
    """Classification of every row, as small-integer codes: ``technique`` (``NOT_RELEVANT``
    / ``UNKNOWN`` or an index of ``schema.TECHNIQUES``), ``injection``, ``drug_class`` and
    ``region`` (indices of the schema's vocabularies, -1 = none), ``region_from_code``;
    ``group`` maps rows to their unique combination, whose not-relevant reason is in
    ``reasons``."""

    technique: np.ndarray
    injection: np.ndarray
    drug_class: np.ndarray
    region: np.ndarray
    region_from_code: np.ndarray
    group: np.ndarray
    reasons: np.ndarray


def _unique_value(part: tuple[np.ndarray, np.ndarray] | None, row: int) -> str | None:
    if part is None:
        return None
    code = part[0][row]
    if code < 0:
        return None
    v = part[1][code]
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _codes(c: Classification) -> tuple[int, int, int, int, int]:
    tech = TECH_INDEX.get(c.technique, UNKNOWN)
    if c.technique == "not_relevant":
        tech = NOT_RELEVANT
    return (
        tech,
        INJ_INDEX[c.injection_type] if c.injection_type else -1,
        CLASS_INDEX[c.drug_class] if c.drug_class else -1,
        REGION_INDEX[c.region] if c.region else -1,
        int(c.region_from_code),
    )


def classify_rows(
    parts: dict[str, tuple[np.ndarray, np.ndarray] | None],
    n: int,
    *,
    allow_cpt: bool,
    default_not_relevant: bool,
) -> RowClasses:
    """Classify ``n`` rows given the (codes, uniques) of their ``technique``, ``code``,
    ``detail`` and ``injection_type`` columns (None = not mapped), once per unique
    combination."""
    present = {c: p for c, p in parts.items() if p is not None}
    key = combine([(p[0], len(p[1])) for p in present.values()], n)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    codes = np.empty((len(first), 5), dtype=np.int8)
    reasons = np.empty(len(first), dtype=object)
    for i, row in enumerate(first):
        result = classify(
            *(_unique_value(parts.get(c), row)
              for c in ("technique", "code", "detail", "injection_type")),
            allow_cpt=allow_cpt,
            default_not_relevant=default_not_relevant,
        )
        codes[i] = _codes(result)
        reasons[i] = result.reason
    per_row = codes[inverse] if n else np.empty((0, 5), np.int8)
    return RowClasses(*(per_row[:, j] for j in range(4)), per_row[:, 4].astype(bool),
                      inverse, reasons)
