"""Spinal region of injection rows (docs/definitions.md, section 10): ``cervical_thoracic``
or ``lumbar_sacral``.

Sources, in order: the CPT code's region (``cpt_codes.csv``, see
:mod:`analytics.ingest.classify`); a region or level column (``C5-6``, ``L4-L5``,
``lumbar``, ``S1``, ``HWS``); the description.  Words and levels are data
(``analytics/data/spinal_regions.csv``).  A value naming both regions (``T12-L1``) or
neither has no region: the row's region is missing, and a region/level value that could
not be read is counted in the upload report.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from analytics import schema, vocab

_REGION_INDEX = {r: i for i, r in enumerate(schema.REGIONS)}


@lru_cache(maxsize=65536)
def text_region(text: str) -> str:
    """The one spinal region a region value or description names, else ``""``."""
    found = {region for pattern, region in vocab.spinal_regions() if pattern.search(text)}
    return found.pop() if len(found) == 1 else ""


def column_regions(uniques: np.ndarray) -> np.ndarray:
    """Region index (into ``schema.REGIONS``, -1 = unreadable) of each unique value of a
    region/level column."""
    out = np.full(len(uniques), -1, dtype=np.int8)
    for i, value in enumerate(uniques):
        region = text_region(str(value)) if value is not None else ""
        if region:
            out[i] = _REGION_INDEX[region]
    return out
