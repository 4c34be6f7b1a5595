"""Classification of event rows: technique, injection type, drug class and spinal region.

Each unique (technique label, code, description, injection-type label) is classified
once, in this order: the technique label (the value map, then ``technique_labels.csv`` and
the German, French and Spanish treatment names of ``international_names.csv``; a label
such as ``medication`` that names no technique leaves the row to its code and
description); a description the value map maps; the code —
CPT/HCPCS (``cpt_codes.csv``, generic files and OMOP procedures only) or a SNOMED code of
``snomed_terms.csv``; the description — drug patterns (``drug_classes.csv``) then procedure
wording (``snomed_terms.csv``).  A row of a Synthea/OMOP export that matches nothing is
*not relevant* (those exports are whole health records).  A row of a generic file that
matches nothing is *not relevant* when it is recognisably something else (a technique
label listed as not relevant, a CPT-shaped code outside the pain codes, or a description
that reads like a drug or procedure: strengths such as ``MG``, dose forms, SNOMED
semantic tags, vaccines, screenings) or its label says it is a medication; otherwise it
is *unknown* (rejected).

Descriptions are searched after reading German, French and Spanish drug names and dose
forms as their English names (:func:`english_names`: ``Oxycodon 10 mg Retardtablette`` is
searched as ``oxycodone 10 mg extended release tablet``).

- **Injection type**: an injection-type label, else the code, else the description, else
  ``other``.
- **Drug class** of medication rows: ``opioid`` for every narcotic row and
  ``muscle_relaxant`` for every muscle-relaxant row; a row of technique ``other`` has the
  safety class its drug pattern gives (benzodiazepine, gabapentinoid, naloxone,
  oud_treatment), else none.  Opioids given as injections during anaesthesia, cough and
  cold products and other drugs are not relevant (no class).
- **Spinal region** of an injection row (docs/definitions.md, section 10): the region of its
  CPT code (``cpt_codes.csv``); else (see :mod:`analytics.ingest.regions`) a region or
  level column; else the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

import numpy as np

from analytics import schema, vocab
from analytics.ingest.columns import combine
from analytics.ingest.regions import text_region
from analytics.ingest.value_map import NOT_RELEVANT as MAPPED_NOT_RELEVANT
from analytics.ingest.value_map import Target, ValueMap

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
    ``region_from_code`` says it came from the CPT code) and ``matched_by``: what decided
    it (``label``, ``description`` — a mapped or a recognised one —, ``code``,
    ``injection type``), empty when nothing matched (the row is not relevant by default,
    or unknown)."""

    technique: str
    injection_type: str = ""
    reason: str = ""
    drug_class: str = ""
    region: str = ""
    region_from_code: bool = False
    matched_by: str = ""


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


BY_DESCRIPTION = "by_description"
"""The technique of a label that names no technique (``medication``)."""


@cache
def known_labels() -> dict[str, tuple[str, str]]:
    """Normalised label -> (technique, injection type): ``technique_labels.csv`` and the
    treatment names of ``international_names.csv`` (each the technique of the English
    label it means)."""
    labels = dict(vocab.technique_labels())
    for _language, name, kind, means in vocab.international_names():
        if kind == "treatment":
            labels.setdefault(vocab.normalise_label(name), labels[vocab.normalise_label(means)])
    return labels


@cache
def _translation() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern finding every German, French or Spanish drug name (at the start of a
    word: ``Oxycodonhydrochlorid``) or dose form (a whole word) of
    ``international_names.csv``, in accent-free lower case; and what each means."""
    means: dict[str, str] = {}
    drugs: set[str] = set()
    for _language, name, kind, english in vocab.international_names():
        if kind in ("drug", "dose_form"):
            key = vocab.fold_accents(name)
            means[key] = english
            if kind == "drug":
                drugs.add(key)
    by_length = sorted(means, key=len, reverse=True)
    alternatives = [re.escape(k) + ("" if k in drugs else r"\b") for k in by_length]
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")"), means


def _english(match: re.Match[str]) -> str:
    """The English name of a matched name, unless the text already spells it (the German
    ``morphin`` at the start of ``morphine``)."""
    found, english = match.group(0), _translation()[1][match.group(0)]
    spelled = len(english) > len(found) and match.string.startswith(english, match.start())
    return found if spelled else english


def english_names(text: str) -> str:
    """``text`` in accent-free lower case with its German, French and Spanish drug names
    and dose forms read as their English names (``international_names.csv``):
    ``"Hydrocodon/Paracetamol 10 mg Tabletten"`` -> ``"hydrocodone/acetaminophen 10 mg
    tablet"``."""
    return _translation()[0].sub(_english, vocab.fold_accents(text))


@lru_cache(maxsize=65536)
def _classify_text(detail: str) -> _Hit | None:
    english = english_names(detail)
    for pattern, technique, drug_class, reason in vocab.drug_classes():
        if pattern.search(english):
            return _Hit(technique, "", reason, drug_class)
    for _code, pattern, technique, inj, reason in vocab.procedure_terms():
        if pattern is not None and pattern.search(english):
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


def _injection_hint(injection_label: str | None, value_map: ValueMap) -> str:
    if not injection_label:
        return ""
    mapped = value_map.lookup("injection_type", injection_label)
    if mapped is not None:
        return mapped.injection_type
    hit = known_labels().get(vocab.normalise_label(injection_label))
    if hit is not None and hit[0] == "injection" and hit[1] and hit[1] != "other":
        return hit[1]
    return ""


class _Evidence:
    """What the code and the description of one row say."""

    def __init__(self, code: str | None, detail: str | None, injection_label: str | None,
                 allow_cpt: bool, value_map: ValueMap):
        self.code_hit, self.cpt_shaped = (
            _classify_code(code, allow_cpt) if code else (None, False)
        )
        self.text_hit = _classify_text(detail) if detail else None
        self.detail = detail
        self.hint = _injection_hint(injection_label, value_map)

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


def _mapped(ev: _Evidence, target: Target, value: str, own: str) -> Classification:
    """The classification a value-map target gives."""
    if target.technique == MAPPED_NOT_RELEVANT:
        return Classification("not_relevant", reason=f"mapped as not relevant: '{value}'",
                              matched_by=own)
    if target.drug_class:
        return Classification("other", drug_class=target.drug_class, matched_by=own)
    return ev.treatment(target.technique, target.injection_type)._replace(matched_by=own)


def classify(
    label: str | None = None,
    code: str | None = None,
    detail: str | None = None,
    injection_label: str | None = None,
    *,
    allow_cpt: bool = True,
    default_not_relevant: bool = False,
    value_map: ValueMap | None = None,
) -> Classification:
    """Classify one (technique label, code, description, injection-type label) into a
    :class:`Classification` (technique, injection type, reason, drug class, region, and
    what decided it; see the module docstring).  ``allow_cpt`` enables CPT/HCPCS code
    ranges; ``default_not_relevant`` makes an unmatched row not relevant (Synthea/OMOP);
    ``value_map`` (:class:`analytics.ingest.value_map.ValueMap`) maps a clinic's own
    labels and descriptions."""
    value_map = value_map or ValueMap()
    ev = _Evidence(code, detail, injection_label, allow_cpt, value_map)
    medication = False
    if label:
        mapped = value_map.lookup("technique", label)
        if mapped is not None:
            return _mapped(ev, mapped, label, "label")
        hit = known_labels().get(vocab.normalise_label(label))
        if hit is not None and hit[0] == BY_DESCRIPTION:
            medication = True
        elif hit is not None:
            if hit[0] == "not_relevant":
                return Classification("not_relevant", reason=f"technique label '{label}'",
                                      matched_by="label")
            return ev.treatment(hit[0], hit[1])._replace(matched_by="label")
    mapped = value_map.lookup("description", detail)
    if mapped is not None:
        return _mapped(ev, mapped, detail or "", "description")
    for hit, by in ((ev.code_hit, "code"), (ev.text_hit, "description")):
        if hit is not None:
            if hit.technique == "not_relevant":
                return Classification("not_relevant", reason=hit.reason or "not pain management",
                                      matched_by=by)
            return ev.treatment(hit.technique, hit.injection_type)._replace(matched_by=by)
    if ev.hint:
        return ev.injection(ev.hint)._replace(matched_by="injection type")
    if (default_not_relevant or medication or ev.cpt_shaped
            or (detail and _LOOKS_CLINICAL.search(english_names(detail)))):
        return Classification("not_relevant", reason="not pain management")
    return Classification("unknown")


@dataclass
class RowClasses:
    """Classification of every row, as small-integer codes: ``technique`` (``NOT_RELEVANT``
    / ``UNKNOWN`` or an index of ``schema.TECHNIQUES``), ``injection``, ``drug_class`` and
    ``region`` (indices of the schema's vocabularies, -1 = none), ``region_from_code``;
    ``group`` maps rows to their unique combination, whose not-relevant reason is in
    ``reasons``; per combination, ``unknown_label`` / ``unknown_injection_label`` (a label
    given that no table or map knows) and ``unmatched`` (nothing matched: no label, map,
    code or description decided the row)."""

    technique: np.ndarray
    injection: np.ndarray
    drug_class: np.ndarray
    region: np.ndarray
    region_from_code: np.ndarray
    group: np.ndarray
    reasons: np.ndarray
    unknown_label: np.ndarray
    unknown_injection_label: np.ndarray
    unmatched: np.ndarray


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


def _unknown(label: str | None, kind: str, value_map: ValueMap) -> bool:
    """True when a label is given that neither the value map nor the label tables know."""
    if not label:
        return False
    if value_map.lookup(kind, label) is not None:
        return False
    return vocab.normalise_label(label) not in known_labels()


def classify_rows(
    parts: dict[str, tuple[np.ndarray, np.ndarray] | None],
    n: int,
    *,
    allow_cpt: bool,
    default_not_relevant: bool,
    value_map: ValueMap | None = None,
) -> RowClasses:
    """Classify ``n`` rows given the (codes, uniques) of their ``technique``, ``code``,
    ``detail`` and ``injection_type`` columns (None = not mapped), once per unique
    combination."""
    value_map = value_map or ValueMap()
    present = {c: p for c, p in parts.items() if p is not None}
    key = combine([(p[0], len(p[1])) for p in present.values()], n)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    codes = np.empty((len(first), 5), dtype=np.int8)
    reasons = np.empty(len(first), dtype=object)
    flags = np.zeros((len(first), 3), dtype=bool)
    for i, row in enumerate(first):
        label, code, detail, injection = (
            _unique_value(parts.get(c), row)
            for c in ("technique", "code", "detail", "injection_type")
        )
        result = classify(label, code, detail, injection, allow_cpt=allow_cpt,
                          default_not_relevant=default_not_relevant, value_map=value_map)
        codes[i] = _codes(result)
        reasons[i] = result.reason
        flags[i] = (_unknown(label, "technique", value_map),
                    _unknown(injection, "injection_type", value_map),
                    not result.matched_by)
    per_row = codes[inverse] if n else np.empty((0, 5), np.int8)
    return RowClasses(*(per_row[:, j] for j in range(4)), per_row[:, 4].astype(bool),
                      inverse, reasons, flags[:, 0], flags[:, 1], flags[:, 2])
