"""Property: for random small cohorts, no hidden value can be worked out from what a result
shows (the CMS rule: no cell from which a value 1–10 can be derived).

For each result the test writes down, independently of the builders, the equations a reader
can set up from what is printed — each table's row or column sums, the totals shown with
it, a part and its whole — with an unknown for every hidden or unprinted count.  A hidden
count is determined when its unit vector lies in the row space of the equations restricted
to the unknowns; its value then follows from the shown ones.  No determined unknown may be a
small count (1 .. threshold − 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.results.measures import CohortMeasures
from analytics.results.overview import build_overview
from analytics.results.summary import build_summary
from analytics.results.table import Table
from analytics.schema import conform

TECHNIQUES = ["physical_therapy", "muscle_relaxant", "narcotic", "injection", "surgery"]


class Equations:
    """Linear equations over cells: each cell is known (shown) or unknown (hidden)."""

    def __init__(self) -> None:
        self.value: dict[object, float] = {}
        self.known: dict[object, bool] = {}
        self.rows: list[dict[object, float]] = []

    def table(self, name: str, table: Table) -> None:
        for column in table.columns:
            if not column.is_count:
                continue
            hidden = table.hidden(column.name)
            printed = column.shown
            for r, value in enumerate(table.values[column.name]):
                key = (name, r, column.name)
                self.value[key] = float(value)
                self.known[key] = printed and not hidden[r]

    def unknown(self, key: object, value: float) -> object:
        self.value[key] = float(value)
        self.known[key] = False
        return key

    def sum(self, parts: list[object], total: object) -> None:
        row = {p: 1.0 for p in parts}
        row[total] = row.get(total, 0.0) - 1.0
        self.rows.append(row)

    def part_of(self, part: object, whole: object) -> None:
        rest = self.unknown(("rest", part, whole), self.value[whole] - self.value[part])
        self.sum([part, rest], whole)

    def determined(self) -> dict[object, float]:
        unknowns = [k for k, known in self.known.items() if not known]
        if not unknowns or not self.rows:
            return {}
        index = {k: i for i, k in enumerate(unknowns)}
        matrix = np.zeros((len(self.rows), len(unknowns)))
        for r, row in enumerate(self.rows):
            for key, coef in row.items():
                if key in index:
                    matrix[r, index[key]] += coef
        rank = np.linalg.matrix_rank(matrix)
        out = {}
        for key, i in index.items():
            unit = np.zeros(len(unknowns))
            unit[i] = 1.0
            if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
                out[key] = self.value[key]
        return out


def assert_nothing_small_derivable(eq: Equations, min_cell: int) -> None:
    for key, value in eq.determined().items():
        assert not (1 <= abs(value) < min_cell), (key, value)


@st.composite
def cohorts(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    rows = []
    for p in range(n):
        for _ in range(draw(st.integers(1, 4))):
            technique = draw(st.sampled_from(TECHNIQUES))
            rows.append((f"p{p:02d}", pd.Timestamp("2024-01-01")
                         + pd.Timedelta(days=draw(st.integers(0, 500))), technique,
                         draw(st.sampled_from([7, 30, 90])) if technique in (
                             "narcotic", "muscle_relaxant") else None,
                         draw(st.sampled_from(["DR01", "DR02", "DR03"]))))
    frame = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique", "days_supply",
                                        "provider_id"])
    return conform(frame)


PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(cohorts(), st.sampled_from([3, 5, 11]))
def test_the_summary_reveals_no_small_count(events, min_cell):
    result = build_summary(CohortMeasures(events), "first", min_cell)
    eq = Equations()
    for name in ("totals", "techniques", "pathways", "injections", "narcotics"):
        eq.table(name, getattr(result, name))
    techniques = list(result.techniques.values["technique"])
    # the technique events add up to all events; each technique's patients are a part of all
    eq.sum([("techniques", r, "events") for r in range(len(techniques))],
           ("totals", 0, "events"))
    for r in range(len(techniques)):
        eq.part_of(("techniques", r, "patients"), ("totals", 0, "patients"))
    # the pathways and the (unprinted) untreated add up to the patients
    paths = result.pathways.values["patients"]
    untreated = eq.unknown("untreated", result.totals.values["patients"].iloc[0] - paths.sum())
    eq.sum([("pathways", r, "patients") for r in range(len(paths))] + [untreated],
           ("totals", 0, "patients"))
    inj = result.injections.values.iloc[0]
    intervals = eq.unknown("intervals", inj["sessions"] - inj["patients"])
    eq.sum([intervals, ("injections", 0, "patients")], ("injections", 0, "sessions"))
    eq.part_of(("injections", 0, "short_intervals"), intervals)
    for part in ("patients_repeated", "patients_over_limit"):
        eq.part_of(("injections", 0, part), ("injections", 0, "patients"))
    for part in ("long_term_courses", "ongoing_courses", "high_dose_courses"):
        eq.part_of(("narcotics", 0, part), ("narcotics", 0, "courses"))
    eq.part_of(("narcotics", 0, "fills_without_mme"), ("narcotics", 0, "fills"))
    # the blocks print the same patients and fills as the techniques
    row = {t: r for r, t in enumerate(techniques)}
    eq.sum([("injections", 0, "patients")], ("techniques", row["injection"], "patients"))
    eq.sum([("narcotics", 0, "patients")], ("techniques", row["narcotic"], "patients"))
    eq.sum([("narcotics", 0, "fills")], ("techniques", row["narcotic"], "events"))
    assert_nothing_small_derivable(eq, min_cell)


@PROPERTY
@given(cohorts(), st.sampled_from([3, 5, 11]))
def test_the_physician_table_reveals_no_small_count(events, min_cell):
    result = build_overview(CohortMeasures(events), 365, min_cell)
    table = result.physicians
    eq = Equations()
    eq.table("physicians", table)
    eq.table("cohort", result.cohort)
    last = len(table) - 1
    for column in table.columns:
        if column.is_count:
            eq.sum([("physicians", r, column.name) for r in range(last)],
                   ("physicians", last, column.name))
    for r in range(len(table)):
        for part, whole in (("narcotic_patients", "patients"), ("concordant", "patients"),
                            ("injection_patients", "patients"),
                            ("over_limit_patients", "injection_patients"),
                            ("long_term_courses", "courses")):
            eq.part_of(("physicians", r, part), ("physicians", r, whole))
    eq.sum([("physicians", last, "patients")], ("cohort", 0, "patients"))
    # the new patients per month add up to the cohort
    eq.table("new", result.new_patients)
    eq.sum([("new", r, "patients") for r in range(len(result.new_patients))],
           ("cohort", 0, "patients"))
    assert_nothing_small_derivable(eq, min_cell)
