"""Time between pathway steps, per transition (docs/definitions.md, section 20).

For every pair of consecutive steps of a patient's pathway (step k -> step k + 1, as
:func:`analytics.pathways.pathway_steps` numbers them), the days from the start of step k
to the start of step k + 1, summarised per transition label — e.g. ``physical_therapy`` ->
``injection`` — over all patients and step positions (or per position with ``by_step``).
:func:`analytics.pathways.time_between_steps` gives the same days per step position only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRANSITION_COLUMNS = {
    "from_label": "string",
    "to_label": "string",
    "transitions": "int64",
    "q1_days": "float64",
    "median_days": "float64",
    "q3_days": "float64",
}


def transition_times(steps: pd.DataFrame, by_step: bool = False) -> pd.DataFrame:
    """Quartiles of the days between consecutive steps, per (from, to) label pair.

    ``steps``: ``pathway_steps`` output (``patient_id``, ``step``, ``label``, ``start``),
    sorted by patient then step.  Columns: ``from_label``, ``to_label`` (and ``from_step``
    with ``by_step``), ``transitions`` (patients making it; a patient counts once per
    occurrence), ``q1_days``, ``median_days``, ``q3_days`` (numpy linear quantiles).
    Sorted by transitions (descending), then labels.
    """
    columns = dict(TRANSITION_COLUMNS)
    if by_step:
        columns = {"from_step": "int64", **columns}
    if len(steps) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    pid = steps["patient_id"].to_numpy()
    step = steps["step"].to_numpy(dtype=np.int64)
    has_next = np.r_[(pid[1:] == pid[:-1]) & (step[1:] == step[:-1] + 1), False]
    src = np.flatnonzero(has_next)
    start = steps["start"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    label = steps["label"].astype("string")
    frame = pd.DataFrame({
        "from_step": step[src],
        "from_label": label.to_numpy()[src],
        "to_label": label.to_numpy()[src + 1],
        "days": (start[src + 1] - start[src]).astype("float64"),
    })
    keys = (["from_step"] if by_step else []) + ["from_label", "to_label"]
    grouped = frame.groupby(keys, sort=True)["days"]
    out = pd.DataFrame({
        "transitions": grouped.size(),
        "q1_days": grouped.quantile(0.25),
        "median_days": grouped.median(),
        "q3_days": grouped.quantile(0.75),
    }).reset_index()
    out = out.sort_values(["transitions"] + keys, ascending=[False] + [True] * len(keys),
                          kind="stable")
    return out[list(columns)].astype(columns).reset_index(drop=True)


__all__ = ["transition_times"]
