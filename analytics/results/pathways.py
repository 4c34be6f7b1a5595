"""The Pathways result: top pathways, sunburst, Sankey, lines of therapy, time between steps,
concordance by physician.

Rare pathways (fewer patients than the threshold) merge into one "other
pathways" row before protection.  The sunburst and the Sankey are drawn from the
protected pathway table: a hidden pathway adds nothing to them, and a node whose
total includes a hidden pathway shows its count as hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import pathways
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.privacy import OTHER_PATHWAYS, Mark, merge_rare_pathways
from analytics.results.table import Table, count, derived, label, patients
from analytics.schema import DEFAULT_PATHWAY_TECHNIQUES, TECHNIQUE_LABELS
from analytics.transitions import TRANSITION_COLUMNS, transition_times

NO_TREATMENT_LABEL = "No treatment in the selected techniques"
ALL_PHYSICIANS = "All physicians"
SANKEY_STEPS = 3


def step_label(value: str) -> str:
    """Human label of a step: ``muscle_relaxant+narcotic`` -> ``Muscle relaxant + Narcotic``."""
    if not value or value in ("end", OTHER_PATHWAYS, pathways.NO_TREATMENT):
        return value.capitalize() if value else ""
    return " + ".join(TECHNIQUE_LABELS.get(p, p) for p in str(value).split("+"))


def pathway_label(steps: tuple[str, ...]) -> str:
    """Human label of a pathway: its steps joined by arrows."""
    return " → ".join(step_label(s) for s in steps)


def ordered_pathways(counts: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Treated pathways with rare ones merged ("other pathways" last), then no treatment."""
    treated = merge_rare_pathways(counts.loc[counts["n_steps"] > 0], min_cell)
    untreated = counts.loc[counts["n_steps"] == 0]
    frame = pd.concat([treated, untreated], ignore_index=True)
    frame["n_steps"] = frame["n_steps"].astype("Int64")
    frame["steps"] = frame["steps"].astype(object)
    return frame


PATHWAY_COLUMNS = (
    label("pathway", "Pathway"),
    label("n_steps", "Steps"),
    patients("patients", "Patients"),
    derived("percent", "% of cohort", ["patients", "cohort.patients"]),
)
SUNBURST_COLUMNS = (
    label("id", "Id"), label("parent", "Parent"), label("label", "Step"), label("depth", "Depth"),
    derived("own", "Patients whose pathway ends here", digits=0),
    derived("patients", "Patients", digits=0),
)
SANKEY_COLUMNS = (
    label("step", "From step"), label("source", "From"), label("target", "To"),
    derived("patients", "Patients", digits=0),
)


@dataclass(frozen=True)
class PathwaysResult:
    """The protected Pathways view of a cohort for one mode and technique set.

    ``pathways``: one row per pathway (rare ones merged into "other pathways"),
    then the patients without any step; adds up to ``cohort.patients``.
    ``steps`` (tuple per row of ``pathways``) says which steps each row has.
    ``sunburst``: one node per step prefix of the listed pathways (``own``: the
    listed pathway ending there, ``patients``: all listed pathways under it —
    hidden when one of them is).  ``sankey``: transitions between the first steps
    of the shown pathways.  ``lines``: patients per line of therapy and step
    (each line adds up to the patients with that many steps); ``step_times``:
    days between steps; ``concordance``: per physician, with an "All physicians"
    row.  ``dropped`` (one row): the pieces mode "eras" dropped for being shorter than
    the minimum post-combination duration (0 in mode "first").  ``transitions``: per
    pair of consecutive step labels (e.g. physical therapy → injection), the
    transitions and the quartiles of the days between the two steps' starts
    (:func:`analytics.transitions.transition_times`); they add up to the transitions of
    ``step_times``, and those into a label to the later lines of therapy of that label.
    """

    mode: str
    techniques: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...]
    cohort: Table
    pathways: Table
    sunburst: Table
    sankey: Table
    lines: Table
    step_times: Table
    concordance: Table
    dropped: Table
    transitions: Table


@dataclass(frozen=True)
class PathwaysCounts:
    """The Pathways view's aggregates before protection (no threshold)."""

    mode: str
    techniques: tuple[str, ...]
    cohort_patients: int
    counts: pd.DataFrame
    lines: pd.DataFrame
    step_times: pd.DataFrame
    concordance: pd.DataFrame
    dropped_pieces: int = 0
    transitions: pd.DataFrame | None = None

    def protect(self, min_cell: int) -> PathwaysResult:
        layout = Layout(min_cell)
        frame = ordered_pathways(self.counts, min_cell)
        is_untreated = frame["n_steps"].fillna(-1).to_numpy(dtype=np.int64) == 0
        untreated = int(frame.loc[is_untreated, "patients"].sum())
        layout.add("cohort", "Cohort", (
            patients("patients", "Patients in the cohort"),
            patients("treated", "Patients with a step")),
            pd.DataFrame({"patients": [self.cohort_patients],
                          "treated": [self.cohort_patients - untreated]}))
        total = layout.cell("cohort", 0, "patients")
        treated = layout.cell("cohort", 0, "treated")
        layout.shared(total)
        shown = frame.assign(pathway=[
            NO_TREATMENT_LABEL if len(s) == 0 else pathway_label(s) for s in frame["steps"]])
        layout.add("pathways", "Top pathways", PATHWAY_COLUMNS, shown)
        layout.column_total("pathways", "patients", total)
        untreated_rows = np.flatnonzero(is_untreated)
        layout.sums(layout.cells("pathways", "patients", untreated_rows) + [treated], total)
        _add_lines(layout, self.lines, self.step_times, treated)
        _add_transitions(layout, self._transitions(), self.lines, self.step_times)
        _add_concordance(layout, self.concordance, total)
        layout.add("dropped", "Pieces dropped", (
            count("pieces", "Pieces shorter than the minimum post-combination duration"),),
            pd.DataFrame({"pieces": [int(self.dropped_pieces)]}))
        tables = layout.protect()
        steps = tuple(tuple(s) for s in frame["steps"])
        tables["pathways"] = _reorder_hidden(tables["pathways"], steps)
        steps = tuple(tuple(s) for s in tables["pathways"].values["steps_key"])
        pathway_table = _drop_key(tables["pathways"])
        return PathwaysResult(
            mode=self.mode, techniques=self.techniques, steps=steps, cohort=tables["cohort"],
            pathways=pathway_table, sunburst=sunburst(pathway_table, steps),
            sankey=sankey(pathway_table, steps), lines=tables["lines"],
            step_times=tables["step_times"], concordance=tables["concordance"],
            dropped=tables["dropped"], transitions=tables["transitions"])

    def _transitions(self) -> pd.DataFrame:
        if self.transitions is not None:
            return self.transitions
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in TRANSITION_COLUMNS.items()})


def _reorder_hidden(table: Table, steps: tuple[tuple[str, ...], ...]) -> Table:
    """Named pathways shown first (by patients), then the hidden ones (by name), "other
    pathways" and no treatment: a hidden row's place must not tell its size."""
    values = table.values.assign(steps_key=pd.Series(list(steps), dtype=object))
    hidden = table.hidden("patients")
    kind = np.array([2 if s == (OTHER_PATHWAYS,) else 3 if len(s) == 0 else 0 for s in steps])
    kind = np.where((kind == 0) & hidden, 1, kind)
    size = np.where(kind == 0, -values["patients"].to_numpy(dtype="float64"), 0.0)
    order = np.lexsort((values["pathway"].astype(str).to_numpy(), size, kind))
    return Table(table.name, table.title, table.columns,
                 values.iloc[order].reset_index(drop=True),
                 table.marks.iloc[order].reset_index(drop=True), table.min_cell)


def _drop_key(table: Table) -> Table:
    return Table(table.name, table.title, table.columns,
                 table.values.drop(columns="steps_key"), table.marks, table.min_cell)


def _add_lines(layout: Layout, lines: pd.DataFrame, step_times: pd.DataFrame,
               treated: int) -> None:
    """Lines of therapy (each line adds up to the patients reaching it) and time between
    steps (its transitions from step k are the patients on line k + 1)."""
    frame = lines.assign(label=[step_label(v) for v in lines["label"]])
    layout.add("lines", "Lines of therapy", (
        label("line", "Line"), label("label", "Step"), patients("patients", "Patients"),
        derived("pct_of_cohort", "% of cohort", ["patients", "cohort.patients"]),
        derived("pct_of_treated", "% of treated", ["patients", "cohort.treated"]),
    ), frame)
    layout.add("step_times", "Time between steps", (
        label("from_step", "From step"), label("to_step", "To step"),
        patients("transitions", "Patients"),
        derived("median_days", "Median days", ["transitions"]),
        derived("q1_days", "Q1", ["transitions"]),
        derived("q3_days", "Q3", ["transitions"]),
    ), step_times)
    line = lines["line"].to_numpy()
    for value in np.unique(line):
        rows = np.flatnonzero(line == value)
        if value == 1:
            total = treated
        else:
            k = np.flatnonzero(step_times["from_step"].to_numpy() == value - 1)
            if len(k) == 0:
                continue
            total = layout.cell("step_times", int(k[0]), "transitions")
        layout.column_total("lines", "patients", total, rows)


def _add_transitions(layout: Layout, transitions: pd.DataFrame, lines: pd.DataFrame,
                     step_times: pd.DataFrame) -> None:
    """Time between steps per transition: all of them are the transitions of every step
    position (``step_times``); those into a label are the patients with that label on
    line 2 or later."""
    frame = transitions.assign(
        from_label=[step_label(v) for v in transitions["from_label"]],
        to_label=[step_label(v) for v in transitions["to_label"]])
    layout.add("transitions", "Time between steps, per transition", (
        label("from_label", "From"), label("to_label", "To"),
        patients("transitions", "Patients"),
        derived("q1_days", "Q1 (days)", ["transitions"]),
        derived("median_days", "Median (days)", ["transitions"]),
        derived("q3_days", "Q3 (days)", ["transitions"]),
    ), frame)
    if transitions.empty:
        return
    everyone = layout.latent(float(transitions["transitions"].sum()))
    layout.sums(layout.cells("transitions", "transitions"), everyone)
    layout.sums(layout.cells("step_times", "transitions"), everyone)
    later = lines["line"].to_numpy() >= 2
    line_label = lines["label"].astype(str).to_numpy()
    into = transitions["to_label"].astype(str).to_numpy()
    for target in np.unique(into):
        rows = np.flatnonzero(later & (line_label == target))
        if len(rows) == 0:
            continue
        on_lines = layout.latent(float(lines["patients"].to_numpy()[rows].sum()))
        layout.sums(layout.cells("lines", "patients", rows), on_lines)
        layout.sums(layout.cells("transitions", "transitions", np.flatnonzero(into == target)),
                    on_lines)


def _add_concordance(layout: Layout, by: pd.DataFrame, total: int) -> None:
    """Concordance per physician with an "All physicians" row."""
    columns = (
        label("group", "Physician"), patients("patients", "Patients"),
        patients("concordant", "Concordant"),
        derived("percent", "% concordant", ["patients", "concordant"]),
    )
    if by.empty:
        layout.add("concordance", "Step-therapy concordance by physician", columns, by)
        return
    everyone = pd.DataFrame([{
        "group": ALL_PHYSICIANS, "patients": int(by["patients"].sum()),
        "concordant": int(by["concordant"].sum()),
        "percent": 100.0 * by["concordant"].sum() / by["patients"].sum(),
    }])
    frame = pd.concat([by, everyone], ignore_index=True)
    layout.add("concordance", "Step-therapy concordance by physician", columns, frame)
    last = len(frame) - 1
    for column in ("patients", "concordant"):
        layout.column_total("concordance", column, layout.cell("concordance", last, column),
                            range(last))
    for r in range(len(frame)):
        layout.part_of(layout.cell("concordance", r, "concordant"),
                       layout.cell("concordance", r, "patients"))
    layout.same(layout.cell("concordance", last, "patients"), total)


def _shown_table(name: str, title: str, columns, frame: pd.DataFrame, min_cell: int,
                 hidden: np.ndarray | dict[str, np.ndarray] | None = None) -> Table:
    """A table derived from protected cells (``hidden``: per column, the derived cells that
    include a hidden one)."""
    marks = pd.DataFrame({c.name: np.full(len(frame), Mark.SHOWN, dtype=np.int8)
                          for c in columns}, index=frame.index)
    for column, mask in (hidden or {}).items():
        marks[column] = np.where(mask, Mark.HIDDEN, Mark.SHOWN).astype(np.int8)
    return Table(name, title, tuple(columns), frame.reset_index(drop=True),
                 marks.reset_index(drop=True), min_cell)


def sunburst(table: Table, steps: tuple[tuple[str, ...], ...]) -> Table:
    """Sunburst nodes of the treated pathways of a protected pathway table.

    ``own`` is the shown count of the pathway ending at the node (0 when none or
    hidden, so a hidden pathway adds nothing to the drawing); ``patients`` the
    node's total, hidden when a hidden pathway lies under it.
    """
    treated = np.array([len(s) > 0 for s in steps], dtype=bool)
    hidden = table.hidden("patients") & treated
    values = np.where(hidden, 0, table.values["patients"].to_numpy(dtype="int64"))
    counts = pd.DataFrame({"steps": pd.Series([s for s, t in zip(steps, treated, strict=True)
                                               if t], dtype=object),
                           "patients": values[treated]})
    depth = max((len(s) for s in counts["steps"]), default=1)
    shown = pathways.sunburst_table(counts, max_depth=depth, include_untreated=False)
    flags = pathways.sunburst_table(counts.assign(patients=hidden[treated].astype(np.int64)),
                                    max_depth=depth, include_untreated=False)
    total = shown.set_index("id")["patients"]
    under_hidden = flags.set_index("id")["patients"].reindex(total.index).fillna(0) > 0
    ends = {pathways.STEP_SEPARATOR.join(s): v
            for s, v in zip(counts["steps"], counts["patients"], strict=True)}
    frame = shown.assign(
        own=[ends.get(i, 0) for i in shown["id"]],
        patients=total.to_numpy(),
    )[["id", "parent", "label", "depth", "own", "patients"]]
    frame = frame.astype({"own": "float64", "patients": "float64"})
    return _shown_table("sunburst", "Pathways", SUNBURST_COLUMNS, frame, table.min_cell,
                        {"patients": under_hidden.to_numpy(dtype=bool)})


def sankey(table: Table, steps: tuple[tuple[str, ...], ...],
           max_step: int = SANKEY_STEPS) -> Table:
    """Step-to-step transitions (steps 1 to ``max_step``) of the shown pathways."""
    shown = ~table.hidden("patients")
    rows = []
    for s, n, ok in zip(steps, table.values["patients"], shown, strict=True):
        if not ok or s == (OTHER_PATHWAYS,):
            continue
        for k in range(min(len(s), max_step) - 1):
            rows.append((k + 1, s[k], s[k + 1], int(n)))
    frame = pd.DataFrame(rows, columns=["step", "source", "target", "patients"])
    frame = (frame.groupby(["step", "source", "target"], sort=True)["patients"].sum()
             .reset_index().astype({"patients": "float64"}))
    frame = frame.sort_values(["step", "patients", "source", "target"],
                              ascending=[True, False, True, True])
    return _shown_table("sankey", "Step-to-step transitions", SANKEY_COLUMNS, frame,
                        table.min_cell)


def pathways_counts(m: CohortMeasures, mode: str = "first",
                    techniques: tuple[str, ...] | None = None) -> PathwaysCounts:
    """The Pathways aggregates of a cohort for ``mode`` and ``techniques``."""
    techniques = tuple(DEFAULT_PATHWAY_TECHNIQUES) if techniques is None else tuple(techniques)
    steps = m.steps(mode, techniques)
    cohort = m.patients
    by = pathways.concordance_by(m.concordance, m.attributes["provider_id"])
    return PathwaysCounts(
        mode=mode, techniques=techniques, cohort_patients=len(cohort),
        counts=pathways.pathway_counts(steps, cohort),
        lines=pathways.lines_of_therapy(steps, cohort),
        step_times=pathways.time_between_steps(steps),
        concordance=by,
        dropped_pieces=int(steps.attrs.get(pathways.DROPPED_PIECES, 0)),
        transitions=transition_times(steps),
    )


def build_pathways(m: CohortMeasures, mode: str = "first",
                   techniques: tuple[str, ...] | None = None,
                   min_cell: int = 11) -> PathwaysResult:
    """The protected Pathways view of a cohort."""
    return pathways_counts(m, mode, techniques).protect(min_cell)
