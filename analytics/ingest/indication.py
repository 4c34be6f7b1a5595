"""The indication of treatment rows (docs/definitions.md, section 3).

A row's reason is read from a reason column (Synthea ``REASONDESCRIPTION``, a
``reason`` / ``indication`` column) and a reason-code column (Synthea ``REASONCODE``) and
classified by :func:`analytics.indications.condition_kind`.  A treatment row (physical
therapy, muscle relaxant, narcotic, injection, surgery; never a row of technique
``other``, such as one kept only for its drug class) whose reason is present and is
neither spinal pain nor pain in general — another condition, or opioid use disorder — is
*not relevant* with the reason ``"other indication"``.  A row without a
reason, or with a spinal-pain or general-pain reason, counts.

A reason given only as a code that no table knows and that is not an ICD-10-CM code (a
SNOMED CT id or a local code with no description) may well be a back-pain code PainPath
does not list: the row counts, and the upload report names such codes.  An unknown
ICD-10-CM code names another condition (the spinal-pain and general-pain tables hold
every ICD-10-CM code of those kinds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from analytics import indications
from analytics.ingest.columns import combine
from analytics.ingest.values import Part

OTHER_INDICATION = "other indication"
_ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$", re.IGNORECASE)


@dataclass
class Indications:
    """Per row: ``other`` (the reason names another indication) and ``unknown_code`` (the
    reason is only a code PainPath does not know: the row counts); ``group`` maps rows to
    their distinct reason, whose code is in ``codes``."""

    other: np.ndarray
    unknown_code: np.ndarray
    group: np.ndarray
    codes: list[str | None]

    def unknown_codes(self, rows: np.ndarray) -> list[str]:
        """The distinct unknown reason codes of the rows where ``rows`` is True."""
        groups = np.unique(self.group[rows & self.unknown_code])
        return sorted({str(self.codes[g]).strip() for g in groups})


def _value(part: Part | None, row: int) -> str | None:
    if part is None or part[0][row] < 0:
        return None
    value = part[1][part[0][row]]
    return None if value is None else str(value)


def read_indications(code: Part | None, text: Part | None, n: int) -> Indications:
    """Classify the reasons of ``n`` rows (each distinct (code, text) pair once)."""
    present = [p for p in (code, text) if p is not None]
    if not present or n == 0:
        return Indications(np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int64), [])
    key = combine([(p[0], len(p[1])) for p in present], n)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    codes = [_value(code, row) for row in first]
    texts = [_value(text, row) for row in first]
    kinds = indications.condition_kind(codes, texts)
    unknown = np.array(
        [k == indications.OTHER and not (t or "").strip() and bool((c or "").strip())
         and not _ICD10CM.match(c.strip()) for k, c, t in zip(kinds, codes, texts, strict=True)],
        dtype=bool,
    )
    other = ~indications.counts_as_indication(kinds) & ~unknown
    return Indications(other[inverse], unknown[inverse], inverse, codes)
