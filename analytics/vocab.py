"""Vocabulary tables of PainPath, loaded from versioned data files in ``analytics/data/``.

Each file starts with ``#`` comment lines giving its ``version:`` and ``source:``;
:func:`load_table` reads the rows and :func:`table_version` the version line.
Code maps, drug lists, MME factors and payer limits live there, not in code.
"""

from __future__ import annotations

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


def mme_factors() -> pd.DataFrame:
    """MME conversion factors (CDC 2022): ingredient, pattern, route, unit, factor (float, NaN
    where the ingredient has none, e.g. buprenorphine), source.  Rows are matched in order."""
    table = load_table("mme_factors.csv")
    table["factor"] = pd.to_numeric(table["factor"], errors="coerce")
    return table


def injection_limits() -> dict[str, int]:
    """Maximum sessions per rolling 365 days by injection type (Medicare LCDs)."""
    table = load_table("injection_limits.csv")
    return dict(zip(table["injection_type"], table["max_sessions_365d"].astype(int), strict=True))
