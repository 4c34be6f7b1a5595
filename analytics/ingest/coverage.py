"""Evidence that closes orders: dispense counts, open orders, death dates.

- **Dispenses** (``dispenses``): Synthea ``DISPENSES`` or a dispense-count column as
  given; else a refills column + 1 (OMOP ``drug_exposure.refills``: refills authorised).
  A count that is not a whole number >= 1 (refills: >= 0) is ignored, with a note.
- **Open order** (``open_order``): a medication row (one with a drug class) without an
  end date, in a file where other medication rows carry one (docs/definitions.md, section 5).
- **Death**: a patient's death date (Synthea ``patients.DEATHDATE``, OMOP ``death``, a
  death-date column; the earliest when several) ends the coverage of every row of the
  patient that would run past it — every open order, and each row whose last covered day
  (its end date, else start + days supply x dispenses - 1, else its start) is after the
  death date: such a row gets ``end_date`` = the death date and ``ends_at_death``.  A row
  that *starts* after the death date is kept as exported and counted in the report (the
  death date or the row is wrong; PainPath cannot tell which).  All the patient's rows get
  ``death_year``; the death date itself is not kept.
- **Open orders closed by each rule** (for the upload report, as
  ``analytics.intervals`` covers them): the earliest of (a) start + dispenses x days
  supply, or start + dispenses x 30 days when the row has only a dispense count
  ("dispenses"); (b) the day after death ("death"); (c) the day after the extract date
  ("extract date": left open through the extract date).  Ties go to the earlier rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import intervals, schema
from analytics.ingest.columns import Columns, take
from analytics.ingest.mapping import FilePlan
from analytics.readers import parse_numbers

OPEN_ORDER_RULES = ("dispenses", "death", "extract date")
_OPEN_ORDER_RULE_OF = {
    "open_dispensed_supply": "dispenses", "open_dispenses_x_30": "dispenses",
    "open_death": "death", "open_extract": "extract date",
}
"""The upload report's rule for each of :data:`analytics.intervals.COVERAGE_RULES`' open-order
rules (an open order no rule closes — no extract date — counts under none)."""


def _whole_counts(plan: FilePlan, cols: Columns, key: str, sel: np.ndarray, least: int):
    """(count per selected row, NaN where empty or invalid; number of invalid values)."""
    codes, uniques = cols.get(plan.mapping[key])
    numbers = parse_numbers(uniques)
    valid = ~np.isnan(numbers) & (numbers >= least) & (np.floor(numbers) == numbers)
    values = take(np.where(valid, numbers, np.nan), codes[sel], np.nan)
    invalid = take(~valid, codes[sel], False).astype(bool)
    return values, int(invalid.sum())


def dispense_counts(plan: FilePlan, cols: Columns, sel: np.ndarray, notes: list[str]):
    """Dispenses of the rows ``sel`` (float, NaN = not given), or None when neither a
    dispense nor a refill column is mapped."""
    keys = [k for k in ("dispenses", "refills") if k in plan.mapping]
    if not keys:
        return None
    out = np.full(len(sel), np.nan)
    for key in keys:
        least = 1 if key == "dispenses" else 0
        counts, invalid = _whole_counts(plan, cols, key, sel, least)
        if key == "refills":
            counts = counts + 1
        out = np.where(np.isnan(out), counts, out)
        if invalid:
            what = "dispense count" if key == "dispenses" else "refill count"
            notes.append(
                f"{what} ignored on {invalid} row(s): '{plan.mapping[key]}' is not a whole "
                f"number {'>= 1' if least else '>= 0'} there"
            )
    return out


def open_orders(drug_class: np.ndarray, end: np.ndarray, has_end_column: bool) -> np.ndarray:
    """Medication rows (drug class index >= 0) without an end date in a file whose other
    medication rows carry one."""
    is_med = drug_class >= 0
    no_end = np.isnat(end)
    if not has_end_column or not (is_med & ~no_end).any():
        return np.zeros(len(end), dtype=bool)
    return is_med & no_end


def _days(values: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01) of datetime64 values; NaT gives int64's minimum
    (callers mask it)."""
    return np.asarray(values).astype("datetime64[D]").astype(np.int64)


def _supplied_days(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start day, days supply (NaN = none), dispenses (NaN = none)) of each row."""
    start = _days(events["event_date"].to_numpy())
    return (start, events["days_supply"].to_numpy(dtype=float),
            events["dispenses"].to_numpy(dtype=float))


def _last_covered_day(events: pd.DataFrame) -> np.ndarray:
    """Each ordinary row's last covered day (day number): end date, else start + days
    supply x dispenses - 1, else start."""
    start, supply, k = _supplied_days(events)
    supplied = start + (np.nan_to_num(supply) * np.nan_to_num(k, nan=1.0)).astype(np.int64) - 1
    last = np.where(np.isnan(supply), start, np.maximum(supplied, start))
    end = events["end_date"].to_numpy()
    return np.where(np.isnat(end), last, _days(end))


def apply_deaths(events: pd.DataFrame, deaths: pd.Series) -> tuple[int, int, int]:
    """End coverage at death (module docstring), in place on conformed ``events``;
    ``deaths`` is patient_id -> death date.  Returns (rows cut at death, rows starting
    after death, their patients)."""
    if deaths.empty or events.empty:
        return 0, 0, 0
    death = events["patient_id"].map(deaths).to_numpy(dtype=schema.DATE_DTYPE)
    has = ~np.isnat(death)
    if not has.any():
        return 0, 0, 0
    death_day = _days(death)
    start = _days(events["event_date"].to_numpy())
    after = has & (start > death_day)
    is_open = events["open_order"].to_numpy(dtype=bool)
    cut = has & ~after & (is_open | (_last_covered_day(events) > death_day))
    events.loc[cut, "end_date"] = death[cut]
    events.loc[cut, "ends_at_death"] = True
    year = pd.DatetimeIndex(death).year.to_numpy(dtype=float, na_value=np.nan)
    events["death_year"] = np.where(has, year, events["death_year"].to_numpy(dtype=float))
    return int(cut.sum()), int(after.sum()), int(events.loc[after, "patient_id"].nunique())


def count_open_orders(events: pd.DataFrame, extract: pd.Timestamp | None) -> dict[str, int]:
    """How many open orders of ``events`` each rule closes (see the module docstring), by
    the covered-days code itself (:func:`analytics.intervals.coverage_rules`)."""
    is_open = events["open_order"].to_numpy(dtype=bool)
    if not is_open.any():
        return {}
    rules = intervals.coverage_rules(events[is_open], extract)
    counts = rules.map(_OPEN_ORDER_RULE_OF).value_counts()
    return {rule: int(counts.get(rule, 0)) for rule in OPEN_ORDER_RULES}
