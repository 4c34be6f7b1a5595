"""Classification of event rows into techniques (DESIGN.md "Canonical event table").

Each unique (technique label, code, description, injection-type label) is classified
once, in this order: the technique label (``technique_labels.csv``); the code —
CPT/HCPCS (``cpt_codes.csv``, generic files and OMOP procedures only) or a SNOMED code of
``snomed_terms.csv``; the description — drug patterns (``drug_classes.csv``: opioids incl.
brands and combination products, muscle relaxants; anaesthesia opioids, opioid
use-disorder products and antitussives are *not relevant*) then procedure wording
(``snomed_terms.csv``).  The injection type comes from an injection-type label, else the
code, else the description, else ``other``.  A row of a Synthea/OMOP export that matches
nothing is *not relevant* (those exports are whole health records).  A row of a generic
file that matches nothing is *not relevant* when it is recognisably something else (a
technique label listed as not relevant, a CPT-shaped code outside the pain codes, or a
description that reads like a drug or procedure: strengths such as ``MG``, dose forms,
SNOMED semantic tags, vaccines, screenings); otherwise it is *unknown* (rejected).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from analytics import schema, vocab
from analytics.ingest.columns import combine

NOT_RELEVANT = -2
UNKNOWN = -1
TECH_INDEX = {t: i for i, t in enumerate(schema.TECHNIQUES)}
INJ_INDEX = {t: i for i, t in enumerate(schema.INJECTION_TYPES)}
_CPT_SHAPE = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")
_LOOKS_CLINICAL = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|ml|g|unt|units?|meq|%|hr)\b|tablet|capsule|inject|solution|"
    r"suspension|inhaler|inhal|cream|ointment|lotion|patch|spray|syringe|vaccin|immuniz|"
    r"\((?:procedure|regime/therapy|finding|disorder|situation|record artifact)\)|screening|"
    r"examination|assessment|\btest\b|x-?ray|imaging|consult|visit|counsel|education|"
    r"referral|dental|antibiotic",
    re.IGNORECASE,
)


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


def _injection_hint(injection_label: str | None) -> str:
    if not injection_label:
        return ""
    hit = vocab.technique_labels().get(vocab.normalise_label(injection_label))
    if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
        return hit[1]
    return ""


def _injection_type(own: str, hint: str, hits: tuple) -> str:
    if hint:
        return hint
    if own and own != "other":
        return own
    for hit in hits:
        if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
            return hit[1]
    return "other"


def _treatment(technique: str, inj: str, hint: str, hits: tuple) -> tuple[str, str, str]:
    return technique, _injection_type(inj, hint, hits) if technique == "injection" else "", ""


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
    hint = _injection_hint(injection_label)
    code_hit, cpt_shaped = _classify_code(code, allow_cpt) if code else (None, False)
    text_hit = _classify_text(detail) if detail else None
    hits = (code_hit, text_hit)
    if label:
        hit = vocab.technique_labels().get(vocab.normalise_label(label))
        if hit is not None:
            technique, inj = hit
            if technique == "not_relevant":
                return "not_relevant", "", f"technique label '{label}'"
            return _treatment(technique, inj, hint, hits)
    for hit in hits:
        if hit is not None:
            technique, inj, reason = hit
            if technique == "not_relevant":
                return "not_relevant", "", reason or "not pain management"
            return _treatment(technique, inj, hint, hits)
    if hint:
        return "injection", hint, ""
    if default_not_relevant or cpt_shaped or (detail and _LOOKS_CLINICAL.search(detail)):
        return "not_relevant", "", "not pain management"
    return "unknown", "", ""


@dataclass
class RowClasses:
    """Classification of every row: technique index (``NOT_RELEVANT``/``UNKNOWN`` or an
    index of ``schema.TECHNIQUES``), injection-type index (-1 = none), and per unique
    combination its reason; ``group`` maps rows to those combinations."""

    technique: np.ndarray
    injection: np.ndarray
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
    tech_u = np.empty(len(first), dtype=np.int8)
    inj_u = np.full(len(first), -1, dtype=np.int8)
    reason_u = np.empty(len(first), dtype=object)
    for i, row in enumerate(first):
        technique, inj, reason = classify(
            *(_unique_value(parts.get(c), row) for c in
              ("technique", "code", "detail", "injection_type")),
            allow_cpt=allow_cpt,
            default_not_relevant=default_not_relevant,
        )
        tech_u[i] = NOT_RELEVANT if technique == "not_relevant" else TECH_INDEX.get(technique,
                                                                                    UNKNOWN)
        inj_u[i] = INJ_INDEX[inj] if inj else -1
        reason_u[i] = reason
    if not n:
        return RowClasses(np.empty(0, np.int8), np.empty(0, np.int8), inverse, reason_u)
    return RowClasses(tech_u[inverse], inj_u[inverse], inverse, reason_u)
