"""Outcomes by first step (docs/definitions.md, section 18 "Outcomes by first step").

Observational: the groups differ in more than their first step.

- **Time zero** is the patient's first treatment step (pathway mode "first",
  :func:`analytics.pathways.pathway_steps`): the day the patient first used any pathway
  technique — never the diagnosis, so there is no immortal time between diagnosis and
  treatment.
- **Stratum**: the first step — ``physical_therapy``, ``muscle_relaxant``, ``narcotic``,
  ``injection``, or ``combination`` (several techniques first used that same day).  A
  first step that holds surgery is not a stratum: those patients are left out.
- **Outcomes** (days from time zero):
  ``spine_surgery`` — the first surgery event;
  ``long_term_course`` — the day the first long-term narcotic course
  (:func:`analytics.narcotics.narcotic_courses`, duration ≥ ``long_term_days``) reaches
  that length: its start + ``long_term_days`` − 1 (the course's ``long_term_days``-th day);
  ``opioid_free`` — the end (the first uncovered day) of the patient's last narcotic
  course, when that course ended by a gap that the data show in full (end +
  ``course_gap_days`` ≤ the extract date); only patients with a narcotic course.
- **Censoring**: at the extract date, and at death.  Only the year of death is stored: the
  exact day is known when ingest cut a row at the death (``ends_at_death``: its
  ``end_date`` is the death date); with the year alone the patient is censored at the last
  recorded day (the latest event date or covered day, at most the extract date) — the day
  the patient was last seen alive in the data.
- Patients without an index date are left out when ``index_dates`` is given (the
  population "all" includes patients with no spinal-pain diagnosis).

:func:`outcome_data` (the cached measure: per patient and outcome) and
:func:`outcome_curves` (Kaplan–Meier per group, cut where fewer than ``min_at_risk``
remain at risk; cheap, called by the results layer with the privacy threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import narcotics, pathways
from analytics.intervals import (
    date_series,
    day_numbers,
    extract_date,
    id_series,
    interval_arrays,
)
from analytics.schema import id_positions
from analytics.survival import (
    CURVE_COLUMNS,
    LogRank,
    kaplan_meier,
    logrank_test,
    median_confidence_interval,
)

OUTCOMES: dict[str, str] = {
    "spine_surgery": "Time to spine surgery",
    "long_term_course": "Time to a long-term narcotic course",
    "opioid_free": "Time to opioid-free (end of the last narcotic course)",
}
STRATA: tuple[str, ...] = ("physical_therapy", "muscle_relaxant", "narcotic", "injection",
                           "combination")
COMBINATION = "combination"
GROUPINGS: tuple[str, ...] = ("stratum", "first_step", "sex", "age_band", "index_year")
DEFAULT_AGE_EDGES: tuple[int, ...] = (18, 35, 50, 65, 80)
DEFAULT_AT_RISK_TIMES: tuple[int, ...] = (0, 90, 180, 365, 730, 1095)
CENSOR_REASONS: tuple[str, ...] = ("extract", "death", "last_record")

_USED_COLUMNS = ("patient_id", "event_date", "technique", "end_date", "days_supply",
                 "dispenses", "open_order", "ends_at_death", "death_year", "sex",
                 "birth_year", "age")

DATA_COLUMNS = {
    "patient_id": "string",
    "outcome": "category",
    "days": "int64",
    "observed": "bool",
    "time_zero": "datetime64[s]",
    "first_step": "category",
    "stratum": "category",
    "censored_at": "category",
    "sex": "category",
    "age_band": "category",
    "index_year": "Int64",
}


@dataclass
class OutcomeData:
    """Per-patient outcome times (the measure step; cache it per dataset and filter).

    - ``table``: one row per (patient, outcome), columns :data:`DATA_COLUMNS` (the text
      columns but ``patient_id`` are categoricals): ``days``
      from time zero to the event (``observed``) or to censoring (``censored_at``:
      ``extract``, ``death`` or ``last_record``; NA when observed); ``first_step`` (the
      step's label),
      ``stratum`` (:data:`STRATA`); ``sex``, ``age_band`` (age at time zero), ``index_year``
      for the optional strata.
    - ``patients``: patients with a time zero in a stratum; ``left_out_no_index``:
      patients with steps but no index date; ``left_out_surgery_first``: patients whose
      first step holds surgery.
    """

    table: pd.DataFrame
    patients: int = 0
    left_out_no_index: int = 0
    left_out_surgery_first: int = 0
    extract_date: pd.Timestamp | None = None


def _first_value(frame: pd.DataFrame, column: str, pcode: np.ndarray, n: int) -> np.ndarray:
    """A patient's first non-missing value of ``column`` (in row order), as objects."""
    out = np.full(n, None, dtype=object)
    if column not in frame.columns:
        return out
    values = frame[column]
    idx = np.flatnonzero(values.notna().to_numpy() & (pcode >= 0))[::-1]
    row = np.full(n, -1, dtype=np.int64)
    row[pcode[idx]] = idx  # assigned last to first: each patient keeps its first row
    has = row >= 0
    out[has] = values.iloc[row[has]].to_numpy(dtype=object)
    return out


def _age_labels(edges: Sequence[int]) -> list[str]:
    labels = [f"<{edges[0]}"]
    labels += [f"{a}–{b - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return labels + [f"{edges[-1]}+"]


def outcome_data(
    events: pd.DataFrame,
    index_dates: pd.Series | None = None,
    extract: pd.Timestamp | None = None,
    steps: pd.DataFrame | None = None,
    courses: pd.DataFrame | None = None,
    course_gap_days: int = 30,
    long_term_days: int = 90,
    age_edges: Sequence[int] = DEFAULT_AGE_EDGES,
) -> OutcomeData:
    """Days from the first treatment step to each outcome, per patient (module docstring).

    ``events``: the population's events; ``index_dates``: ``Population.index_date``
    (``patient_id`` -> date); when given, patients without one are left out, when None
    every patient with a first step counts.  ``extract``: the dataset's extract date
    (default: the latest event date).  ``steps`` (``pathway_steps(events, mode="first")``)
    and ``courses`` (``narcotic_courses(events, course_gap_days, extract,
    long_term_days)``) are computed when not given.
    """
    extract = extract_date(events, extract)
    if steps is None:
        steps = pathways.pathway_steps(events, mode="first", extract=extract)
    if courses is None:
        courses = narcotics.narcotic_courses(events, course_gap_days, extract,
                                             long_term_days)
    empty = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in DATA_COLUMNS.items()})
    if extract is None or len(steps) == 0:
        return OutcomeData(empty, extract_date=extract)
    extract_day = int(day_numbers(np.array([extract.to_datetime64()]))[0])
    first = steps.loc[steps["step"].to_numpy() == 1]
    pids = pd.Index(first["patient_id"].astype("string"), dtype="string")
    label = first["label"].astype("string").to_numpy(dtype=object)
    t0 = day_numbers(first["start"])
    keep = np.ones(len(pids), dtype=bool)
    no_index = 0
    index_year = np.full(len(pids), np.nan)
    if index_dates is not None:
        idx = pd.Series(index_dates).dropna()
        position = id_positions(pids, pd.Index(idx.index, dtype="string"))
        has_index = position >= 0
        no_index = int((~has_index).sum())
        keep &= has_index
        years = pd.DatetimeIndex(idx.to_numpy()).year.to_numpy()
        index_year = np.where(has_index, years[np.maximum(position, 0)], np.nan)
    label_code, labels = pd.factorize(pd.Series(label, dtype="string"))
    parts_of = [str(v).split("+") for v in labels]  # the few distinct step labels
    surgery_first = np.array(["surgery" in p for p in parts_of], dtype=bool)[label_code]
    combined = np.array([len(p) > 1 for p in parts_of], dtype=bool)[label_code]
    left_surgery = int((surgery_first & keep).sum())
    keep &= ~surgery_first
    pids, label, t0, index_year = pids[keep], label[keep], t0[keep], index_year[keep]
    combined = combined[keep]
    n = len(pids)
    if n == 0:
        return OutcomeData(empty, 0, no_index, left_surgery, extract)
    stratum = np.where(combined, COMBINATION, label)
    step_code = label_code[keep]

    # Patient codes for every event row; censoring day per patient.
    ok = events["patient_id"].notna().to_numpy() & events["event_date"].notna().to_numpy()
    rows = events.loc[ok, [c for c in _USED_COLUMNS if c in events.columns]]
    row_code, row_ids = pd.factorize(rows["patient_id"])
    pcode = id_positions(pd.Index(row_ids, dtype="string"), pids)[row_code] if len(rows) \
        else np.zeros(0, dtype=np.int64)
    big = np.iinfo(np.int64).max
    death_day = np.full(n, big, dtype=np.int64)
    if "ends_at_death" in rows.columns:
        at_death = (rows["ends_at_death"].fillna(False).to_numpy(dtype=bool) & (pcode >= 0)
                    & rows["end_date"].notna().to_numpy())
        np.minimum.at(death_day, pcode[at_death], day_numbers(rows["end_date"])[at_death])
    has_year = np.zeros(n, dtype=bool)
    if "death_year" in rows.columns:
        dy = rows["death_year"].notna().to_numpy() & (pcode >= 0)
        has_year[pcode[dy]] = True
    # Only the year of death: the last recorded day (latest event date or covered day).
    last_record = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    year_only = has_year & (death_day == big)
    mine = pcode >= 0
    if year_only.any():
        sub = mine & year_only[np.maximum(pcode, 0)]
        start, end = interval_arrays(rows.loc[sub], extract)
        np.maximum.at(last_record, pcode[sub], np.maximum(start, end - 1))
    censor = np.full(n, extract_day, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int64)
    by_day = death_day < censor
    censor = np.where(by_day, death_day, censor)
    reason = np.where(by_day, 1, reason)
    by_year = year_only & (last_record < censor)
    censor = np.where(by_year, last_record, censor)
    reason = np.where(by_year, 2, reason)

    # Outcome days.
    surgery = (rows["technique"] == "surgery").to_numpy(dtype=bool, na_value=False) & mine
    first_surgery = np.full(n, big, dtype=np.int64)
    np.minimum.at(first_surgery, pcode[surgery], day_numbers(rows["event_date"])[surgery])
    c_code = id_positions(courses["patient_id"], pids)
    c_ok = c_code >= 0
    c_start = day_numbers(courses["start"])
    c_end = day_numbers(courses["end"])
    long_term = courses["long_term"].to_numpy(dtype=bool) & c_ok
    reach = np.full(n, big, dtype=np.int64)
    np.minimum.at(reach, c_code[long_term], c_start[long_term] + long_term_days - 1)
    has_course = np.zeros(n, dtype=bool)
    has_course[c_code[c_ok]] = True
    last_end = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_end, c_code[c_ok], c_end[c_ok])
    last_is_gap = np.zeros(n, dtype=bool)
    gap_end = c_ok & (courses["ended_by"].astype("string").to_numpy(
        dtype=object, na_value="") == "gap")
    is_last = np.zeros(len(courses), dtype=bool)
    is_last[c_ok] = c_end[c_ok] == last_end[c_code[c_ok]]
    last_is_gap[c_code[gap_end & is_last]] = True
    free_day = np.where(last_is_gap & (last_end + course_gap_days <= extract_day), last_end,
                        big)

    sex = _first_value(rows, "sex", pcode, n)
    birth = pd.to_numeric(pd.Series(_first_value(rows, "birth_year", pcode, n)),
                          errors="coerce").to_numpy(dtype="float64")
    age_col = pd.to_numeric(pd.Series(_first_value(rows, "age", pcode, n)),
                            errors="coerce").to_numpy(dtype="float64")
    t0_year = (t0.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
    age = np.where(np.isnan(birth), age_col, np.minimum(t0_year - birth, 90))
    age_labels = _age_labels(list(age_edges))
    band_idx = np.searchsorted(np.asarray(age_edges, dtype="float64"), age, side="right")

    # One row per (patient, outcome), text columns as categoricals built from codes.
    stratum_code, strata = pd.factorize(pd.Series(stratum, dtype="object"))
    sex_code, sexes = pd.factorize(pd.Series(sex, dtype="object"))
    band_code = np.where(np.isnan(age), -1, np.minimum(band_idx, len(age_labels) - 1))
    who, outcome_code, day_parts, seen = [], [], [], []
    for code, event_day, eligible in ((0, first_surgery, np.ones(n, bool)),
                                      (1, reach, np.ones(n, bool)),
                                      (2, free_day, has_course)):
        sel = np.flatnonzero(eligible)
        observed = event_day[sel] <= censor[sel]
        who.append(sel)
        outcome_code.append(np.full(len(sel), code, dtype=np.int64))
        day_parts.append(np.where(observed, event_day[sel], censor[sel]) - t0[sel])
        seen.append(observed)
    who = np.concatenate(who)
    observed = np.concatenate(seen)

    def categories(codes: np.ndarray, values) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(values), dtype=object))

    table = pd.DataFrame({
        "patient_id": id_series(pids, who),
        "outcome": categories(np.concatenate(outcome_code), OUTCOMES),
        "days": np.concatenate(day_parts).astype(np.int64),
        "observed": observed,
        "time_zero": date_series(t0[who]),
        "first_step": categories(step_code[who], labels),
        "stratum": categories(stratum_code[who], strata),
        "censored_at": categories(np.where(observed, -1, reason[who]), CENSOR_REASONS),
        "sex": categories(sex_code[who], sexes),
        "age_band": categories(band_code[who], age_labels),
        "index_year": pd.array(index_year[who], dtype="Float64").astype("Int64"),
    })
    return OutcomeData(table, n, no_index, left_surgery, extract)


OUTCOME_COUNT_COLUMNS: tuple[str, ...] = ("outcome", "days", "observed", "rows")
"""The columns of :func:`outcome_counts` besides the grouping."""


def outcome_counts(data: OutcomeData, by: str) -> pd.DataFrame:
    """The rows of ``data.table`` counted per ``outcome``, value of the grouping ``by``
    (:data:`GROUPINGS`; a missing value is a group of its own), ``days`` and ``observed``
    (column ``rows``): what :func:`outcome_curves` by ``by`` reads, without patients."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, not {by!r}")
    table = data.table
    counted = table.groupby(["outcome", by, "days", "observed"], observed=True, dropna=False,
                            sort=False).size()
    out = counted.rename("rows").reset_index()
    return out[["outcome", by, "days", "observed", "rows"]]


def outcome_data_from_counts(counts: pd.DataFrame, by: str, patients: int,
                             left_out_no_index: int, left_out_surgery_first: int,
                             extract: pd.Timestamp | None) -> OutcomeData:
    """The :class:`OutcomeData` of a population from its :func:`outcome_counts` by ``by`` —
    or their sums over disjoint groups of its patients — and its counts of patients: one
    row per patient and outcome again (``days``, ``observed``, the grouping; no patient
    ids), which :func:`outcome_curves` by ``by`` turns into the population's curves,
    medians, at-risk tables and test."""
    rows = np.repeat(np.arange(len(counts)), counts["rows"].to_numpy(dtype=np.int64))
    group = counts[by].iloc[rows].reset_index(drop=True)
    if DATA_COLUMNS[by] == "category":
        values = group.astype(object).where(group.notna(), None)
        known = sorted({str(v) for v in values if v is not None})
        group = pd.Series(pd.Categorical(values, categories=pd.Index(known, dtype=object)))
    else:
        group = pd.to_numeric(group, errors="coerce").astype(DATA_COLUMNS[by])
    outcome = counts["outcome"].astype(object).to_numpy()[rows]
    table = pd.DataFrame({
        "outcome": pd.Categorical(outcome, categories=pd.Index(list(OUTCOMES), dtype=object)),
        "days": counts["days"].to_numpy(dtype=np.int64)[rows],
        "observed": counts["observed"].to_numpy(dtype=bool)[rows],
        by: group,
    })
    return OutcomeData(table, int(patients), int(left_out_no_index),
                       int(left_out_surgery_first), extract)


@dataclass
class OutcomeCurves:
    """Kaplan–Meier curves of one outcome, per group.

    - ``curves``: the group columns, then ``time``, ``survival``, ``lower``, ``upper``,
      ``at_risk``; each group's curve stops before the first time with fewer than
      ``min_at_risk`` at risk.
    - ``medians``: per group ``patients``, ``events``, ``median_days`` and its
      ``median_lower`` / ``median_upper`` confidence limits (NaN when not reached within
      the drawn curve).
    - ``at_risk``: per group and chosen time: ``time``, ``at_risk`` (duration ≥ time),
      ``events`` (observed up to and including time), ``survival`` (S(time); NaN past the
      drawn curve).
    - ``logrank``: the k-group log-rank test over the groups (None fields with < 2 groups).
    """

    outcome: str
    by: tuple[str, ...]
    curves: pd.DataFrame
    medians: pd.DataFrame
    at_risk: pd.DataFrame
    logrank: LogRank = field(default_factory=LogRank)


def outcome_curves(
    data: OutcomeData,
    outcome: str,
    by: Sequence[str] = ("stratum",),
    min_at_risk: int = 1,
    times: Sequence[int] = DEFAULT_AT_RISK_TIMES,
    confidence_level: float = 0.95,
    patients: Sequence[str] | pd.Index | None = None,
) -> OutcomeCurves:
    """Kaplan–Meier of ``outcome`` (:data:`OUTCOMES`) per group of ``by`` (columns of
    :data:`GROUPINGS`; the default stratifies by first step), with the log-rank test,
    median days with ``confidence_level`` limits (:func:`survival.median_confidence_interval`)
    and an at-risk table at ``times``.  ``min_at_risk``: curves stop where fewer remain at
    risk (the results layer passes the privacy threshold).  ``patients``: restrict to a
    cohort.  Rows with a missing group value are left out.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {tuple(OUTCOMES)}, not {outcome!r}")
    by = tuple(by)
    unknown = [b for b in by if b not in GROUPINGS]
    if unknown:
        raise ValueError(f"unknown grouping(s): {', '.join(unknown)}")
    t = data.table
    t = t.loc[(t["outcome"] == outcome).to_numpy(dtype=bool, na_value=False)]
    if patients is not None:
        t = t.loc[t["patient_id"].isin(pd.Index(patients, dtype="string")).to_numpy()]
    if by:
        t = t.dropna(subset=list(by))
    # Group codes: the columns' codes combined into one integer, then renumbered in the
    # order of the groups (strata in STRATA order, other values sorted).
    rank = {s: i for i, s in enumerate(STRATA)}
    combined = np.zeros(len(t), dtype=np.int64)
    column_values = []
    for b in by:
        code, values = pd.factorize(t[b])
        combined = combined * (len(values) + 1) + code
        column_values.append(list(values))
    used, codes = np.unique(combined, return_inverse=True)
    groups = []
    for value in used:  # one per group (a handful)
        parts = []
        for values in reversed(column_values):
            value, code = divmod(int(value), len(values) + 1)
            parts.append(values[code])
        groups.append(tuple(reversed(parts)))

    def order_key(group: tuple) -> tuple:
        return tuple((rank.get(v, len(rank)), str(v)) if b == "stratum" else (0, str(v))
                     for b, v in zip(by, group, strict=True))

    if groups:
        sorted_groups = sorted(groups, key=order_key)
        remap = np.array([sorted_groups.index(g) for g in groups], dtype=np.int64)
        codes, groups = remap[codes.reshape(-1)], sorted_groups
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    curve_parts, median_rows, risk_rows = [], [], []
    days = t["days"].to_numpy(dtype="float64")
    observed = t["observed"].to_numpy(dtype=bool)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(groups) + 1))
    grid = np.asarray(times, dtype="float64")
    for g, key in enumerate(groups):  # one iteration per group (a handful), not per patient
        rows = order[bounds[g]:bounds[g + 1]]
        km = kaplan_meier(days[rows], observed[rows], confidence_level)
        curve = km.curve
        shown = curve.loc[curve["at_risk"].to_numpy() >= min_at_risk]
        if len(shown) < len(curve):
            cut = np.flatnonzero(curve["at_risk"].to_numpy() < min_at_risk)[0]
            shown = curve.iloc[:cut]
        label = dict(zip(by, key, strict=True))
        curve_parts.append(shown.assign(**label))
        cut_km = type(km)(curve=shown, median=None, n=km.n, events=km.events)
        below = np.flatnonzero(shown["survival"].to_numpy() <= 0.5 + 1e-12)
        median = float(shown["time"].iloc[below[0]]) if len(below) else np.nan
        lo, hi = median_confidence_interval(cut_km)
        median_rows.append({**label, "patients": km.n, "events": km.events,
                            "median_days": median,
                            "median_lower": np.nan if lo is None else lo,
                            "median_upper": np.nan if hi is None else hi})
        d_sorted = np.sort(days[rows])
        at = len(rows) - np.searchsorted(d_sorted, grid, side="left")
        ev_sorted = np.sort(days[rows][observed[rows]])
        ev = np.searchsorted(ev_sorted, grid, side="right")
        step = np.searchsorted(curve["time"].to_numpy(), grid, side="right") - 1
        surv = curve["survival"].to_numpy()[np.maximum(step, 0)]
        drawn_to = shown["time"].max() if len(shown) else -np.inf
        surv = np.where(grid <= drawn_to, surv, np.nan)
        for time_, a, e, s in zip(grid, at, ev, surv, strict=True):
            risk_rows.append({**label, "time": int(time_), "at_risk": int(a), "events": int(e),
                              "survival": float(s)})
    group_cols = {b: pd.Series([], dtype="object") for b in by}
    curves = (pd.concat(curve_parts, ignore_index=True)[list(by) + list(CURVE_COLUMNS)]
              if curve_parts else pd.DataFrame({**group_cols, **{
                  c: pd.Series([], dtype="float64") for c in CURVE_COLUMNS}}))
    medians = pd.DataFrame(median_rows, columns=list(by) + [
        "patients", "events", "median_days", "median_lower", "median_upper"])
    at_risk = pd.DataFrame(risk_rows, columns=list(by) + ["time", "at_risk", "events",
                                                          "survival"])
    test = logrank_test(days, observed, codes) if len(groups) >= 2 else LogRank()
    return OutcomeCurves(outcome, by, curves, medians, at_risk, test)


__all__ = [
    "OUTCOMES",
    "STRATA",
    "GROUPINGS",
    "OUTCOME_COUNT_COLUMNS",
    "OutcomeData",
    "OutcomeCurves",
    "outcome_counts",
    "outcome_data",
    "outcome_data_from_counts",
    "outcome_curves",
]
