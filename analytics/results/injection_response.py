"""Injection response tables of the Injections result (definitions: docs/definitions.md 19).

The share of followed sessions with a documented ≥ 50 % pain-score response — for the
cohort and by injection type, spinal region and physician — and the repeats that followed
a session without one (the LCD repeat criterion).  :func:`response_counts` aggregates a
cohort's session responses (:attr:`analytics.results.measures.CohortMeasures.responses`);
:func:`add_response` lays them out inside the Injections result, with the relations that
hold by definition: in every row the four statuses add up to the followed sessions and the
repeats after no response are a part of the repeats; each grouping adds up to the cohort's
row; the followed sessions are a part of all sessions and the repeats are the sessions
less the patients (each patient's first session is not a repeat).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.injection_response import response_rates
from analytics.results.layout import Layout
from analytics.results.table import Column, count, derived, label

GROUPS: dict[str, str] = {"injection_types": "Injection type", "region": "Spinal region",
                          "provider_id": "Physician"}
"""The groupings of the response tables (``by_<name>``) and their titles."""

STATUSES = ("responses", "no_response", "no_baseline", "no_follow_up")
COUNT_COLUMNS: tuple[Column, ...] = (
    count("sessions", "Followed sessions"),
    count("responses", "With a documented response"),
    derived("response_share", "Response share", ["responses", "sessions"], unit="%"),
    count("no_response", "Less than 50 % relief"),
    count("no_baseline", "No baseline score"),
    count("no_follow_up", "No score on days 28–42"),
    count("repeats", "Repeat sessions"),
    count("repeats_after_no_response", "Repeats after no response"),
    derived("repeat_after_no_response_share", "% of repeats after no response",
            ["repeats_after_no_response", "repeats"], unit="%"),
)


def response_counts(responses: pd.DataFrame, labels: dict[str, object]
                    ) -> dict[str, pd.DataFrame]:
    """The response tables before protection: ``response`` (the cohort, one row) and
    ``response_by_<group>`` for each of :data:`GROUPS`, shares in percent, the group
    values turned into labels by ``labels[group]`` (a function of a value; a missing
    value is labelled by it too)."""
    out = {"response": _percent(response_rates(responses))}
    for group in GROUPS:
        rates = _percent(response_rates(responses, [group]))
        name = rates[group].astype(object).map(labels[group])
        out[f"response_by_{group}"] = rates.assign(
            group=pd.Series(name.to_numpy(), dtype="string"))
    return out


def _percent(rates: pd.DataFrame) -> pd.DataFrame:
    return rates.assign(response_share=rates["response_share"] * 100,
                        repeat_after_no_response_share=rates["repeat_after_no_response_share"]
                        * 100)


def add_response(layout: Layout, frames: dict[str, pd.DataFrame], sessions: int,
                 repeats: int | None = None) -> None:
    """Lay out the response tables (``frames`` of :func:`response_counts`) in ``layout``:
    ``sessions`` is the cell of all the cohort's sessions; ``repeats`` the cell that counts
    the repeat sessions too (the repeat intervals), when the result shows one."""
    layout.add("response", "Documented response after a session", COUNT_COLUMNS,
               frames["response"])
    _row_relations(layout, "response", 0)
    total = {c.name: layout.cell("response", 0, c.name) for c in COUNT_COLUMNS if c.is_count}
    layout.part_of(total["sessions"], sessions)
    if repeats is not None:
        layout.same(total["repeats"], repeats)
    for group, title in GROUPS.items():
        name = f"response_by_{group}"
        layout.add(name, f"Documented response by {title.lower()}",
                   (label("group", title), *COUNT_COLUMNS), frames[name])
        for r in range(layout.rows(name)):
            _row_relations(layout, name, r)
        for column, cell in total.items():
            layout.column_total(name, column, cell)


def _row_relations(layout: Layout, name: str, r: int) -> None:
    cell = {c.name: layout.cell(name, r, c.name) for c in COUNT_COLUMNS if c.is_count}
    layout.sums([cell[s] for s in STATUSES], cell["sessions"])
    layout.part_of(cell["repeats_after_no_response"], cell["repeats"])


def group_rows(table_values: pd.DataFrame) -> np.ndarray:
    """Positions of the rows of a response table that have any session or repeat (the
    page lists those)."""
    counts = table_values[["sessions", "repeats"]].to_numpy(dtype="int64")
    return np.flatnonzero(counts.sum(axis=1) > 0)
