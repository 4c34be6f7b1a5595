"""From a pathway to its patients: the patient list behind a row, a wedge or a link (physicians).

A physician who clicks a pathway in the Pathways table, a segment of the sunburst or a
link of the Sankey sees the patients behind it: pseudonymous ids, the pathway, the date of
the first step, the number of steps and events, the first and last event dates.  The list
is patient level (one patient's own facts, never suppressed); who may see it (physicians,
not managers; nobody when patient-level views are off) is decided by the app's access
control before it is built.

The charts draw the shown pathways only (a hidden pathway adds nothing to them), so a
wedge or a link lists the patients of the shown pathways under it; the "other pathways"
row lists the patients of the pathways merged into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import pathways
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.pathways import pathway_label
from analytics.results.privacy import OTHER_PATHWAYS
from analytics.results.table import Table, label

KINDS: tuple[str, ...] = ("pathway", "other", "untreated", "prefix", "link")


@dataclass(frozen=True)
class Selection:
    """What was clicked (hashable: a cache key).

    - ``pathway``: the table row of the pathway ``steps``;
    - ``other``: the "other pathways" row: pathways not in ``listed``;
    - ``untreated``: the row of the patients without a step;
    - ``prefix``: a sunburst segment: the ``listed`` pathways that start with ``steps``;
    - ``link``: a Sankey link from step ``step`` (1-based) ``steps[0]`` to step
      ``step + 1`` ``steps[1]``, among the ``listed`` pathways.

    ``listed``: the pathways the table and the charts show (``PathwaysResult.steps``).
    """

    kind: str
    steps: tuple[str, ...] = ()
    step: int = 0
    listed: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def describe(self) -> str:
        """The selection in words, e.g. ``Physical therapy → Narcotic``."""
        if self.kind == "other":
            return "Other pathways"
        if self.kind == "untreated":
            return "No treatment in the selected techniques"
        if self.kind == "link":
            return (f"{pathway_label((self.steps[0],))} (step {self.step}) → "
                    f"{pathway_label((self.steps[1],))} (step {self.step + 1})")
        text = pathway_label(self.steps)
        return f"{text} …" if self.kind == "prefix" else text


PATIENT_COLUMNS = {
    "patient_id": "Patient", "pathway": "Pathway", "first_step": "First step on",
    "steps": "Steps", "events": "Events", "first_event": "First event",
    "last_event": "Last event",
}


@dataclass(frozen=True)
class PatientsResult:
    """The patients behind a selection (patient level): ``patients`` has one row per
    patient, sorted by the date of the first step then id."""

    selection: Selection
    patients: Table


def _joined(steps: tuple[str, ...]) -> str:
    return pathways.STEP_SEPARATOR.join(steps)


def _labels(pathway: pd.Series) -> dict[str, str]:
    """Readable label of each distinct pathway string (a few, not one per patient)."""
    return {p: pathway_label(tuple(p.split(pathways.STEP_SEPARATOR))) if p else ""
            for p in pd.unique(pathway.astype(str))}


def _pathway_of(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per patient with a step: ``patient_id``, ``pathway`` (step labels joined by
    ``" > "``), ``first_step`` (start of step 1), ``steps``."""
    per_patient = pathways.patient_pathways(steps)
    first = steps.loc[steps["step"].to_numpy() == 1]
    start = pd.Series(first["start"].to_numpy(),
                      index=pd.Index(first["patient_id"], dtype="string"))
    return pd.DataFrame({
        "patient_id": per_patient["patient_id"].astype("string"),
        "pathway": per_patient["pathway"].astype("string"),
        "first_step": start.reindex(pd.Index(per_patient["patient_id"], dtype="string"))
        .to_numpy(),
        "steps": per_patient["n_steps"].to_numpy(dtype=np.int64),
    })


def _chosen(per_patient: pd.DataFrame, steps: pd.DataFrame,
            selection: Selection) -> np.ndarray:
    """Which patients of ``per_patient`` the selection holds (string matches, no loop)."""
    pathway = per_patient["pathway"]
    listed = [_joined(s) for s in selection.listed if s not in ((OTHER_PATHWAYS,), ())]
    in_listed = pathway.isin(listed).to_numpy(dtype=bool)
    if selection.kind == "pathway":
        return (pathway == _joined(selection.steps)).to_numpy(dtype=bool, na_value=False)
    if selection.kind == "other":
        return ~in_listed
    if selection.kind == "prefix":
        prefix = _joined(selection.steps)
        starts = (pathway == prefix) | pathway.str.startswith(prefix + pathways.STEP_SEPARATOR)
        return in_listed & starts.to_numpy(dtype=bool, na_value=False)
    # a link: step k is the source, step k + 1 the target
    k = selection.step
    source, target = selection.steps[:2]
    number = steps["step"].to_numpy()
    step_label = steps["label"].astype("string")
    at = steps.loc[(number == k) & (step_label == source).to_numpy(dtype=bool,
                                                                    na_value=False)]
    then = steps.loc[(number == k + 1) & (step_label == target).to_numpy(dtype=bool,
                                                                        na_value=False)]
    both = np.intersect1d(at["patient_id"].astype(str).to_numpy(),
                          then["patient_id"].astype(str).to_numpy())
    return in_listed & per_patient["patient_id"].isin(both).to_numpy(dtype=bool)


def pathway_patients(m: CohortMeasures, mode: str, techniques: tuple[str, ...] | None,
                     selection: Selection) -> PatientsResult:
    """The cohort's patients behind ``selection`` (pathways of ``mode`` and
    ``techniques`` as on the Pathways page); see :class:`Selection`."""
    techniques = tuple(techniques) if techniques is not None else None
    steps = m.steps(mode, techniques)
    per_patient = _pathway_of(steps)
    codes, ids = m.patient_codes
    ids = pd.Index(ids, dtype="string")
    if selection.kind == "untreated":
        chosen = pd.DataFrame({
            "patient_id": pd.Series(ids[~ids.isin(per_patient["patient_id"])], dtype="string"),
            "pathway": "", "first_step": pd.NaT, "steps": 0})
    else:
        chosen = per_patient.loc[_chosen(per_patient, steps, selection)]
    position = ids.get_indexer(chosen["patient_id"])
    days = pd.Series(m.events["event_date"].to_numpy(dtype="datetime64[s]"))
    frame = pd.DataFrame({
        "patient_id": chosen["patient_id"].astype("string").to_numpy(),
        "pathway": chosen["pathway"].astype(str).map(_labels(chosen["pathway"])).to_numpy(),
        "first_step": pd.to_datetime(chosen["first_step"]).to_numpy(dtype="datetime64[s]"),
        "steps": chosen["steps"].to_numpy(dtype=np.int64),
        "events": np.bincount(codes, minlength=len(ids))[position].astype(np.int64),
        "first_event": days.groupby(codes).min().reindex(position).to_numpy(),
        "last_event": days.groupby(codes).max().reindex(position).to_numpy(),
    }).astype({"patient_id": "string", "pathway": "string", "first_step": "datetime64[s]",
               "first_event": "datetime64[s]", "last_event": "datetime64[s]"})
    frame = frame.sort_values(["first_step", "patient_id"], kind="stable",
                              na_position="last").reset_index(drop=True)
    layout = Layout(0)
    layout.add("patients", f"Patients: {selection.describe()}",
               [label(c, t) for c, t in PATIENT_COLUMNS.items()], frame, patient_level=True)
    return PatientsResult(selection, layout.protect()["patients"])
