"""The Outcomes result: Kaplan–Meier time to an outcome from the first treatment step, by group.

:func:`outcomes_counts` takes a cohort's outcome times
(:attr:`analytics.results.measures.CohortMeasures.outcomes`: per patient and outcome, time
zero the first step) — no threshold; :meth:`OutcomesCounts.protect` draws the curves with
:func:`analytics.outcomes.outcome_curves`, each stopping where fewer patients than the
threshold remain at risk, and protects every count: the patients and events of each group,
the at-risk tables, the patients analysed and left out.  A median and its confidence limits
are hidden with the group's patients; a group whose patients are hidden has no curve, and
the log-rank test then compares the groups that are shown.

Observational: the groups differ in more than their first step (:data:`OBSERVATIONAL`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.outcomes import GROUPINGS, OUTCOMES, OutcomeData, outcome_curves
from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.pathways import step_label
from analytics.results.privacy import Mark
from analytics.results.table import Column, Kind, Table, derived, label, patients
from analytics.survival import logrank_test

OBSERVATIONAL = (
    "Observational: the patients of each group differ in more than their first step (age, "
    "diagnosis, severity, who treated them), so a difference between the curves is not the "
    "effect of the first step."
)
GROUP_TITLES: dict[str, str] = {
    "stratum": "First step", "sex": "Sex", "age_band": "Age band at the first step",
    "index_year": "Year of the index date",
}
"""The groupings the Outcomes view offers (:data:`analytics.outcomes.GROUPINGS`) and their
titles."""
OUTCOME_TITLES: dict[str, str] = {
    "spine_surgery": "Time to spine surgery",
    "long_term_course": "Time to a long-term narcotic course (≥ 90 days)",
    "opioid_free": "Time to opioid-free (end of the last narcotic course)",
}
COMBINATION_LABEL = "Combination (same day)"

GROUP_COUNT_COLUMNS: tuple[Column, ...] = (
    label("group", "Group"), patients("patients", "Patients"),
    patients("with_course", "With a narcotic course"),
)
EVENT_COLUMNS: tuple[Column, ...] = (
    label("group", "Group"),
    patients("events", "With the outcome"),
    derived("median_days", "Median (days)", ["events"], digits=0),
    derived("median_lower", "95% CI from", ["events"], digits=0),
    derived("median_upper", "95% CI to", ["events"], digits=0),
)
GROUP_COLUMNS: tuple[Column, ...] = (
    EVENT_COLUMNS[0], patients("patients", "Patients"), *EVENT_COLUMNS[1:],
)
AT_RISK_COLUMNS: tuple[Column, ...] = (
    label("group", "Group"), label("time", "Day"),
    patients("at_risk", "At risk"), patients("events", "Outcomes so far"),
    derived("survival", "Without the outcome", ["at_risk"], digits=1, unit="%"),
)
CURVE_COLUMNS: tuple[Column, ...] = (
    label("group", "Group"), label("time", "Day"), patients("at_risk", "At risk"),
    derived("survival", "Without the outcome", digits=3),
    derived("lower", "Lower 95% bound", digits=3), derived("upper", "Upper 95% bound", digits=3),
)
TEST_COLUMNS: tuple[Column, ...] = (
    label("compared", "Groups compared"), derived("statistic", "Chi-square", digits=2),
    label("df", "Degrees of freedom"), label("p", "Log-rank p"),
    Column("p_value", "p-value", Kind.DERIVED, shown=False, digits=6),
)


def group_label(by: str, value: object) -> str:
    """The readable label of a group value (a first step's techniques, a year, a band)."""
    if by == "stratum":
        return COMBINATION_LABEL if value == "combination" else step_label(str(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def p_text(p: float | None) -> str:
    """A p-value as read: ``"0.032"``, ``"< 0.001"``; ``"–"`` when there is no test."""
    if p is None or np.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class OutcomeResult:
    """One outcome, per group: ``groups`` (patients, with the outcome, median days and its
    95 % limits), ``at_risk`` (patients still followed, outcomes so far and the share
    without the outcome at days 0, 90, 180, 365, 730, 1095), ``curves`` (the drawn
    Kaplan–Meier steps), ``test`` (the log-rank test over the groups shown)."""

    outcome: str
    title: str
    groups: Table
    at_risk: Table
    curves: Table
    test: Table


@dataclass(frozen=True)
class OutcomesResult:
    """The protected Outcomes view: ``by`` (the grouping), ``summary`` (patients analysed,
    left out without an index date, left out because the first step holds surgery),
    ``groups`` (patients per group, and those with a narcotic course) and one
    :class:`OutcomeResult` per outcome."""

    by: str
    summary: Table
    groups: Table
    spine_surgery: OutcomeResult
    long_term_course: OutcomeResult
    opioid_free: OutcomeResult
    observational: str = OBSERVATIONAL

    def outcomes(self) -> list[OutcomeResult]:
        return [self.spine_surgery, self.long_term_course, self.opioid_free]


@dataclass(frozen=True)
class OutcomesCounts:
    """The Outcomes view's input before protection: the cohort's outcome times and the
    grouping (the curves depend on the threshold, so they are drawn in :meth:`protect`)."""

    data: OutcomeData
    by: str

    def protect(self, min_cell: int) -> OutcomesResult:
        """Draw, lay out and protect the three outcomes (see :class:`OutcomesResult`).

        The patients of each group are laid out once (``groups``: all analysed patients,
        and those with a narcotic course, whom the opioid-free outcome follows); each
        outcome adds its events and at-risk counts as parts of them.  The outcome tables
        then show the group's patients (and day 0 of the at-risk table) as protected."""
        at_least = max(int(min_cell), 1)
        fits = {o: outcome_curves(self.data, o, by=(self.by,), min_at_risk=at_least)
                for o in OUTCOMES}
        layout = Layout(min_cell)
        layout.add("summary", "Patients", (
            patients("patients", "Patients analysed"),
            patients("left_out_no_index", "Left out: no index date"),
            patients("left_out_surgery_first", "Left out: surgery in the first step"),
        ), pd.DataFrame({"patients": [self.data.patients],
                         "left_out_no_index": [self.data.left_out_no_index],
                         "left_out_surgery_first": [self.data.left_out_surgery_first]}))
        analysed = layout.cell("summary", 0, "patients")
        everyone = self._labelled(fits["spine_surgery"].medians)
        with_course = self._labelled(fits["opioid_free"].medians).set_index("group")
        groups = pd.DataFrame({
            "group": everyone["group"],
            "patients": everyone["patients"].to_numpy(dtype=np.int64),
            "with_course": with_course["patients"].reindex(everyone["group"]).fillna(0)
            .to_numpy(dtype=np.int64),
        })
        layout.add("groups", "Patients per group", GROUP_COUNT_COLUMNS, groups)
        unlisted = layout.value_at(analysed) - int(groups["patients"].sum())
        # patients without a value of the grouping (e.g. no sex recorded) are a count of
        # their own; with none, the groups add up to the patients analysed
        layout.column_total("groups", "patients", analysed,
                            rest=unlisted if unlisted else None)
        row_of = {g: r for r, g in enumerate(groups["group"])}
        for r in range(len(groups)):
            layout.part_of(layout.cell("groups", r, "with_course"),
                           layout.cell("groups", r, "patients"))
        for outcome, fit in fits.items():
            self._lay_out(layout, outcome, fit, row_of)
        tables = layout.protect()
        results = {o: self._result(o, fits[o], tables) for o in OUTCOMES}
        return OutcomesResult(self.by, tables["summary"], tables["groups"], **results)

    def _labelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the readable ``group`` of its grouping value (labelled once per
        distinct value)."""
        values = frame[self.by].astype(object)
        names = {v: group_label(self.by, v) for v in pd.unique(values)}
        return frame.assign(group=pd.Series(values.map(names).to_numpy(), index=frame.index,
                                            dtype="string"))

    @staticmethod
    def _whole(outcome: str) -> str:
        """The ``groups`` column an outcome follows: every patient, or those with a course."""
        return "with_course" if outcome == "opioid_free" else "patients"

    def _lay_out(self, layout: Layout, outcome: str, fit, row_of: dict[str, int]) -> None:
        """An outcome's events and medians per group, and its at-risk counts after day 0."""
        whole = self._whole(outcome)
        medians = self._labelled(fit.medians)
        name = f"{outcome}_events"
        layout.add(name, OUTCOME_TITLES[outcome], EVENT_COLUMNS, medians)
        for r, group in enumerate(medians["group"]):
            layout.part_of(layout.cell(name, r, "events"),
                           layout.cell("groups", row_of[group], whole))
            for column in ("median_days", "median_lower", "median_upper"):
                layout.depends((name, r, column), [("groups", row_of[group], whole)])
        risk = self._labelled(fit.at_risk)
        later = risk.loc[risk["time"].to_numpy() > 0].reset_index(drop=True)
        later = later.assign(survival=later["survival"] * 100)
        risk_name = f"{outcome}_later"
        layout.add(risk_name, f"{OUTCOME_TITLES[outcome]}: at risk", AT_RISK_COLUMNS, later)
        for r, group in enumerate(later["group"]):
            for column in ("at_risk", "events"):
                layout.part_of(layout.cell(risk_name, r, column),
                               layout.cell("groups", row_of[group], whole))

    def _result(self, outcome: str, fit, tables: dict[str, Table]) -> OutcomeResult:
        """The outcome's tables as shown: per group its patients (protected in ``groups``)
        with its events and median; the at-risk table from day 0 (the group's patients);
        the curves (none for a hidden group); the test."""
        whole = self._whole(outcome)
        counts = tables["groups"]
        events = tables[f"{outcome}_events"]
        row = {g: r for r, g in enumerate(counts.labels("group"))}
        rows = np.array([row[g] for g in events.labels("group")], dtype=np.int64)
        groups = _joined("groups", OUTCOME_TITLES[outcome], GROUP_COLUMNS, events, counts,
                         {"patients": whole}, rows)
        later = tables[f"{outcome}_later"]
        start = pd.DataFrame({
            "group": events.values["group"], "time": np.zeros(len(events), dtype=np.int64),
            "at_risk": counts.values[whole].to_numpy(dtype=np.int64)[rows],
            "events": np.zeros(len(events), dtype=np.int64),
            "survival": np.full(len(events), 100.0),
        })
        hidden = counts.marks[whole].to_numpy()[rows]
        start_marks = pd.DataFrame({
            "group": np.zeros(len(events), dtype=np.int8), "time": np.int8(0),
            "at_risk": hidden, "events": np.zeros(len(events), dtype=np.int8),
            "survival": np.where(hidden != Mark.SHOWN, Mark.HIDDEN, Mark.SHOWN).astype(np.int8),
        })
        values = pd.concat([start, later.values], ignore_index=True)
        marks = pd.concat([start_marks, later.marks], ignore_index=True).astype(np.int8)
        order = np.lexsort((values["time"].to_numpy(),
                            np.array([row[g] for g in values["group"]], dtype=np.int64)))
        at_risk = Table(f"{outcome}_at_risk", later.title, AT_RISK_COLUMNS,
                        values.iloc[order].reset_index(drop=True),
                        marks.iloc[order].reset_index(drop=True), later.min_cell)
        shown = ~groups.hidden("patients")
        labels = groups.labels("group")
        visible = [g for g, s in zip(labels, shown, strict=True) if s]
        curves = self._labelled(fit.curves)
        curve = pd.DataFrame({
            "group": curves["group"],
            "time": curves["time"].to_numpy(dtype="float64"),
            "at_risk": curves["at_risk"].to_numpy(dtype=np.int64),
            "survival": curves["survival"].to_numpy(dtype="float64"),
            "lower": curves["lower"].to_numpy(dtype="float64"),
            "upper": curves["upper"].to_numpy(dtype="float64"),
        })
        curve = curve.loc[curve["group"].isin(visible).to_numpy()].reset_index(drop=True)
        test = self._test(outcome, fit, visible, bool(shown.all()))
        return OutcomeResult(
            outcome, OUTCOME_TITLES[outcome], groups, at_risk,
            _table("curves", f"{OUTCOME_TITLES[outcome]}: Kaplan–Meier", CURVE_COLUMNS, curve,
                   groups.min_cell),
            _table("test", "Log-rank test", TEST_COLUMNS, test, groups.min_cell))

    def _test(self, outcome: str, fit, shown: list[str], everyone: bool) -> pd.DataFrame:
        """The log-rank test over the shown groups (all of them when none is hidden)."""
        result = fit.logrank
        if not everyone:
            table = self.data.table
            rows = table.loc[(table["outcome"] == outcome).to_numpy(dtype=bool, na_value=False)]
            rows = self._labelled(rows.dropna(subset=[self.by]))
            names = rows["group"].to_numpy(dtype=object)
            keep = np.isin(names, shown)
            result = logrank_test(rows["days"].to_numpy()[keep],
                                  rows["observed"].to_numpy()[keep], names[keep])
        return pd.DataFrame({
            "compared": pd.Series([", ".join(shown) if len(shown) >= 2 else ""],
                                  dtype="string"),
            "statistic": [np.nan if result.statistic is None else result.statistic],
            "df": pd.array([result.df], dtype="Int64"),
            "p": pd.Series([p_text(result.p_value)], dtype="string"),
            "p_value": [np.nan if result.p_value is None else result.p_value],
        })


def _joined(name: str, title: str, columns: tuple[Column, ...], table: Table, other: Table,
            borrowed: dict[str, str], rows: np.ndarray) -> Table:
    """``table`` with columns taken from ``other`` (``{column: column of other}``, its
    ``rows`` in the order of ``table``'s), values and marks as protected there."""
    values = table.values.copy()
    marks = table.marks.copy()
    for column, source in borrowed.items():
        values[column] = other.values[source].to_numpy()[rows]
        marks[column] = other.marks[source].to_numpy()[rows]
    names = [c.name for c in columns]
    return Table(name, title, columns, values[names], marks[names], table.min_cell)


def _table(name: str, title: str, columns: tuple[Column, ...], frame: pd.DataFrame,
           min_cell: int) -> Table:
    """A table drawn from protected cells only (nothing in it to hide)."""
    marks = pd.DataFrame({c.name: np.full(len(frame), Mark.SHOWN, dtype=np.int8)
                          for c in columns})
    return Table(name, title, columns, frame.reset_index(drop=True), marks, min_cell)


def outcomes_counts(m: CohortMeasures, by: str = "stratum") -> OutcomesCounts:
    """The Outcomes input of a cohort, grouped ``by`` a column of
    :data:`analytics.outcomes.GROUPINGS` (default the first step)."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, not {by!r}")
    return OutcomesCounts(m.outcomes, by)


def build_outcomes(m: CohortMeasures, by: str = "stratum", min_cell: int = 11) -> OutcomesResult:
    """The protected Outcomes view of a cohort."""
    return outcomes_counts(m, by).protect(min_cell)

