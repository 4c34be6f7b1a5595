"""Pathways by stratum: the pathway table within each age band, sex or index year.

As OHDSI TreatmentPatterns stratifies its pathways (age groups, sex, index year).  A
patient's stratum: ``age`` — the age band at the first event (:data:`analytics.cohorts.
AGE_BANDS`, the sidebar's); ``sex`` — the recorded sex; ``index_year`` — the year of the
index date (the first spinal-pain diagnosis of the population).  Patients without a value
form the stratum ``unknown``.

Within each stratum, pathways of fewer patients than the threshold merge into "other
pathways" and every count is protected: the pathways of a stratum (with its untreated
patients) add up to the stratum, the strata to the cohort.  The percent of a pathway is of
its stratum and hidden with either count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import pathways
from analytics.cohorts import AGE_BANDS
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.pathways import NO_TREATMENT_LABEL, ordered_pathways, pathway_label
from analytics.results.privacy import OTHER_PATHWAYS
from analytics.results.table import Column, Kind, Table, derived, label, patients

STRATA: dict[str, str] = {"age": "Age band", "sex": "Sex", "index_year": "Year of the index date"}
"""Stratum keys (the CLI's ``--strata`` names) and their titles."""
UNKNOWN = "unknown"
OUTCOME_GROUPING: dict[str, str] = {"age": "age_band", "sex": "sex", "index_year": "index_year"}
"""Stratum keys -> the outcome grouping (:data:`analytics.outcomes.GROUPINGS`) of the same
stratum (the outcomes' age band is taken at the first step)."""

STRATUM_COLUMNS: tuple[Column, ...] = (label("stratum", "Stratum"),
                                       patients("patients", "Patients"))
PATHWAY_COLUMNS: tuple[Column, ...] = (
    label("stratum", "Stratum"), label("pathway", "Pathway"),
    Column("steps", "Steps", Kind.LABEL, shown=False),
    patients("patients", "Patients"),
    derived("percent", "% of stratum", ["patients"]),
)


def patient_strata(m: CohortMeasures, by: str) -> pd.Series:
    """The stratum of each of the cohort's patients (index ``patient_id``, ``unknown``
    where there is no value)."""
    if by not in STRATA:
        raise ValueError(f"by must be one of {tuple(STRATA)}, not {by!r}")
    ids = pd.Index(m.patients, dtype="string")
    if by == "index_year":
        dates = m.population.index_dates
        years = (pd.Series(pd.DatetimeIndex(dates.to_numpy()).year.astype(str),
                           index=pd.Index(dates.index, dtype="string"))
                 if dates is not None else pd.Series([], dtype="string"))
        values = years.reindex(ids)
    else:
        column = "age_band" if by == "age" else "sex"
        values = m.attributes[column].reindex(ids)
    return pd.Series(values.astype("string").fillna(UNKNOWN).to_numpy(), index=ids,
                     dtype="string")


def _stratum_order(by: str, values: list[str]) -> list[str]:
    known = [v for v in values if v != UNKNOWN]
    if by == "age":
        known = sorted(known, key=lambda v: (AGE_BANDS.index(v) if v in AGE_BANDS else 99, v))
    else:
        known = sorted(known)
    return known + ([UNKNOWN] if UNKNOWN in values else [])


@dataclass(frozen=True)
class StrataResult:
    """The protected pathways by stratum: ``strata`` (patients per stratum, adding up to
    the cohort), ``pathways`` (per stratum its pathways, rare ones merged into "other
    pathways", then its untreated patients; the hidden pathways after the shown ones)."""

    by: str
    mode: str
    cohort: Table
    strata: Table
    pathways: Table


@dataclass(frozen=True)
class StrataCounts:
    """Pathway counts per stratum before protection (no threshold)."""

    by: str
    mode: str
    cohort_patients: int
    counts: dict[str, pd.DataFrame]

    def protect(self, min_cell: int) -> StrataResult:
        layout = Layout(min_cell)
        layout.add("cohort", "Cohort", (patients("patients", "Patients in the cohort"),),
                   pd.DataFrame({"patients": [self.cohort_patients]}))
        total = layout.cell("cohort", 0, "patients")
        layout.shared(total)
        names = list(self.counts)
        sizes = [int(c["patients"].sum()) for c in self.counts.values()]
        layout.add("strata", STRATA[self.by], STRATUM_COLUMNS,
                   pd.DataFrame({"stratum": pd.Series(names, dtype="string"),
                                 "patients": np.array(sizes, dtype=np.int64)}))
        layout.column_total("strata", "patients", total)
        frames, owner = [], []
        for s, (name, counts) in enumerate(self.counts.items()):
            frame = ordered_pathways(counts, min_cell)
            frames.append(pd.DataFrame({
                "stratum": name,
                "pathway": [NO_TREATMENT_LABEL if len(k) == 0 else pathway_label(k)
                            for k in frame["steps"]],
                "steps": frame["steps"].to_numpy(),
                "patients": frame["patients"].to_numpy(dtype=np.int64),
                "percent": 100.0 * frame["patients"].to_numpy() / max(sizes[s], 1),
            }))
            owner += [s] * len(frame)
        table = (pd.concat(frames, ignore_index=True) if frames else
                 pd.DataFrame({c.name: [] for c in PATHWAY_COLUMNS}))
        table = table.astype({"stratum": "string", "pathway": "string", "patients": "int64",
                              "percent": "float64"})
        layout.add("pathways", f"Pathways by {STRATA[self.by].lower()}", PATHWAY_COLUMNS,
                   table)
        owner = np.array(owner, dtype=np.int64)
        for s in range(len(names)):
            rows = np.flatnonzero(owner == s)
            layout.column_total("pathways", "patients", layout.cell("strata", s, "patients"),
                                rows)
            for r in rows:
                layout.depends(("pathways", int(r), "percent"), [("strata", s, "patients")])
        tables = layout.protect()
        return StrataResult(self.by, self.mode, tables["cohort"], tables["strata"],
                            _ordered(tables["pathways"], owner))


def _ordered(table: Table, owner: np.ndarray) -> Table:
    """Per stratum: shown pathways by patients, hidden ones by name, "other pathways",
    untreated (a hidden pathway's place must not tell its size)."""
    steps = list(table.values["steps"])
    kind = np.array([2 if s == (OTHER_PATHWAYS,) else 3 if len(s) == 0 else 0 for s in steps],
                    dtype=np.int64)
    kind = np.where((kind == 0) & table.hidden("patients"), 1, kind)
    size = np.where(kind == 0, -table.values["patients"].to_numpy(dtype="float64"), 0.0)
    order = np.lexsort((table.values["pathway"].astype(str).to_numpy(), size, kind, owner))
    return table.take(order)


def strata_counts(m: CohortMeasures, by: str, mode: str = "first",
                  techniques: tuple[str, ...] | None = None) -> StrataCounts:
    """The pathway counts of each stratum ``by`` (:data:`STRATA`) of a cohort."""
    stratum = patient_strata(m, by)
    steps = m.steps(mode, techniques)
    counts = {}
    for value in _stratum_order(by, list(pd.unique(stratum))):  # a handful of strata
        counts[value] = pathways.pathway_counts(steps, stratum.index[(stratum == value)
                                                                     .to_numpy()])
    return StrataCounts(by, mode, len(stratum), counts)


def strata_rows(counts: StrataCounts) -> pd.DataFrame:
    """The pathway counts of each stratum as one table: ``stratum``, ``pathway``,
    ``n_steps``, ``patients`` (what adds up over disjoint groups of a cohort's patients,
    :func:`strata_counts_from`)."""
    frames = [c[["pathway", "n_steps", "patients"]].assign(stratum=name)
              for name, c in counts.counts.items()]
    if not frames:
        return pd.DataFrame({"stratum": pd.Series([], dtype="string"),
                             "pathway": pd.Series([], dtype="string"),
                             "n_steps": pd.Series([], dtype="int64"),
                             "patients": pd.Series([], dtype="int64")})
    out = pd.concat(frames, ignore_index=True)
    return out[["stratum", "pathway", "n_steps", "patients"]]


def strata_counts_from(by: str, mode: str, rows: pd.DataFrame) -> StrataCounts:
    """The :class:`StrataCounts` from :func:`strata_rows` — or their sums over disjoint
    groups of the cohort's patients (patients per ``stratum`` and ``pathway`` string):
    every patient is in one stratum, so the strata add up to the cohort."""
    counts = {}
    names = [str(v) for v in pd.unique(rows["stratum"].astype(object))]
    for value in _stratum_order(by, names):
        mine = rows.loc[(rows["stratum"].astype(object) == value).to_numpy()]
        counts[value] = pathways.pathway_counts_from(
            mine, int(mine["patients"].sum()))
    return StrataCounts(by, mode, int(rows["patients"].sum()), counts)


def build_strata(m: CohortMeasures, by: str, mode: str = "first",
                 techniques: tuple[str, ...] | None = None,
                 min_cell: int = 11) -> StrataResult:
    """The protected pathways by stratum of a cohort."""
    return strata_counts(m, by, mode, techniques).protect(min_cell)
