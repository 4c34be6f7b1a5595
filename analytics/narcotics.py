"""Narcotic courses, daily MME and overlaps (docs/definitions.md, sections 11–13).

- **Covered days** of a fill: ``[start, end)`` from :func:`intervals.event_intervals`
  (end_date + 1, else event_date + days_supply × dispenses, else event_date + 1; an open
  order closes at the earliest of its dispensed supply, the day after death and the day
  after the extract date).
- **Fills**: ``quantity`` and ``days_supply`` are per dispense, and a row standing for
  ``k`` dispenses (``dispenses``) counts as ``k`` fills in every fill count here.
- **Course**: per patient, fills sorted by start; a fill continues the course when the
  uncovered days between the course's (exclusive) end and its start number at most
  ``course_gap_days`` (30): ``start − end ≤ 30``; supplies do not stack (the course end is
  the latest end).  Duration = end − start.  Long-term: duration ≥ ``long_term_days``
  (90).  A course ends by ``death`` when its last covered day is a death date (the fill
  reaching its end has ``ends_at_death``), else by the ``extract`` date when its last
  covered day (end − 1) is on or after the extract date (ongoing), else by a ``gap``.
  Courses ended by death or by the extract date are censored.
- **MME/day** of a fill (the prescribed daily dose, CDC) = opioid strength per unit ×
  quantity ÷ days_supply × factor, even when an end date gives other covered days; a
  transdermal patch: rate (mcg/hr) × 2.4 whatever the quantity; a fill with a quantity and
  a real end date (not a death or open-order end) but no days supply: days = its covered
  days, MME *estimated*; an ``mme_per_day`` already in the export is used as is.  Factors:
  the CDC 2022 table, then the CDC analytic file's for ingredients outside it
  (``vocab.all_mme_factors()``).  A fill without the figures it needs has no MME, and its
  ``mme_status`` says which figure is missing.
- **Course average MME/day** = Σ over its fills with an MME of (MME/day × covered days) ÷
  the days covered by any of those fills (two concurrent 15 MME/day fills give 30).
  Bands ``[0, 20)``, ``[20, 50)``, ``[50, 90)``, ``[90, ∞)``; high dose: average ≥ 90.
- **Opioid + muscle relaxant overlap**: days covered by both a narcotic and a muscle
  relaxant, flagged at ≥ ``flag_days`` (30).

Everything is vectorised over integer-coded patients and day numbers; descriptions are
parsed once per distinct description, not per row.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analytics.intervals import (
    date_series,
    day_numbers,
    dispense_counts,
    extract_date,
    id_series,
    interval_arrays,
    merge_intervals,
    stable_argsort,
)
from analytics.survival import KaplanMeier, kaplan_meier
from analytics.vocab import all_mme_factors

MME_BANDS: tuple[str, ...] = ("<20", "20–<50", "50–<90", "≥90")
MME_BAND_EDGES: tuple[float, ...] = (-np.inf, 20.0, 50.0, 90.0, np.inf)
HIGH_DOSE_MME = 90.0

MME_STATUSES: tuple[str, ...] = (
    "ok",
    "estimated",
    "no_factor",
    "unknown_ingredient",
    "missing_strength",
    "missing_quantity",
    "missing_days",
)
"""``mme_status`` of a fill: ``ok`` (from the prescribed figures, or the export's own
``mme_per_day``); ``estimated`` (no days supply: the days are the fill's covered days up to
its real end date); ``no_factor`` (an opioid without a factor, e.g. buprenorphine);
``unknown_ingredient`` (no opioid of the factor tables recognised in the description);
``missing_strength``, ``missing_quantity``, ``missing_days`` (the first figure missing)."""
STATUSES_WITH_MME: tuple[str, ...] = ("ok", "estimated")

COURSE_ENDINGS: tuple[str, ...] = ("gap", "death", "extract")
"""``ended_by`` of a course: ``gap`` (stopped: no fill within ``course_gap_days``),
``death`` (its last covered day is the patient's death date), ``extract`` (still covered on
the extract date: ongoing).  ``death`` and ``extract`` courses are censored."""

EXPORT_SOURCE = "export"
"""``factor_source`` of an MME/day taken from the export's ``mme_per_day`` column."""

FILL_COLUMNS = {
    "patient_id": "string",
    "event_date": "datetime64[s]",
    "ingredient": "string",
    "factor_source": "string",
    "opioid_strength": "float64",
    "fills": "int64",
    "covered_days": "int64",
    "mme_per_day": "float64",
    "mme_total": "float64",
    "mme_status": "string",
}
COURSE_COLUMNS = {
    "patient_id": "string",
    "course": "int64",
    "start": "datetime64[s]",
    "end": "datetime64[s]",
    "last_day": "datetime64[s]",
    "duration_days": "int64",
    "fills": "int64",
    "events": "int64",
    "long_term": "bool",
    "ongoing": "bool",
    "ended_by": "string",
    "censored": "bool",
    "avg_mme_per_day": "float64",
    "mme_estimated": "bool",
    "mme_band": None,  # ordered categorical, see mme_band()
    "total_mme": "float64",
    "mme_days": "int64",
    "fills_without_mme": "int64",
    "fills_mme_estimated": "int64",
}


# --------------------------------------------------------------------------- helpers


def _band_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(MME_BANDS), ordered=True)


def _empty(columns: dict[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series([], dtype=dtype if dtype is not None else _band_dtype())
            for name, dtype in columns.items()
        }
    )


def _day(ts: pd.Timestamp) -> int:
    return int(day_numbers(np.array([pd.Timestamp(ts).to_datetime64()]))[0])


_USED = (
    "patient_id", "event_date", "technique", "end_date", "days_supply", "dispenses",
    "open_order", "ends_at_death", "detail", "quantity", "strength", "mme_per_day",
)


def _rows(events: pd.DataFrame, technique: str | tuple[str, ...]) -> pd.DataFrame:
    """Rows of the technique(s) with a patient and a date; only the columns used here."""
    wanted = (technique,) if isinstance(technique, str) else technique
    mask = (
        events["technique"].isin(wanted).to_numpy(dtype=bool, na_value=False)
        & events["patient_id"].notna().to_numpy()
        & events["event_date"].notna().to_numpy()
    )
    return events.loc[mask, [c for c in _USED if c in events.columns]]


def _order(pcode: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Row order by patient code then day (one int64 key, one argsort)."""
    if len(day) == 0:
        return np.zeros(0, dtype=np.int64)
    dmin = int(day.min())
    key = pcode * (int(day.max()) - dmin + 1) + (day - dmin)
    return stable_argsort(key)


def _covered(rows: pd.DataFrame, extract: pd.Timestamp | None) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return interval_arrays(rows, extract)


def _number(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _flag(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    return rows[name].fillna(False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- descriptions

_NUMBER = r"(\d+(?:\.\d+)?)"
# Patch rate anywhere in the description: "0.025 MG/HR", "25 MCG/HR", "25 mcg/hour".
_RATE = re.compile(_NUMBER + r"\s*(mcg|µg|ug|mg)\s*/\s*(?:hr|hour|h)\b", re.IGNORECASE)
# One strength: "5 MG", "0.8 mg", "150 MCG", with the volume it is in when the text gives
# one: "5 MG/5 ML", "1 MG/ML", "12 mg per 5 mL".
_STRENGTH = re.compile(
    _NUMBER + r"\s*(mg|mcg|µg|ug)\b(?!\s*/\s*(?:hr|hour|h)\b)"
    r"(?:\s*(?:/|per|in)\s*" + r"(\d+(?:\.\d+)?)?\s*ml\b)?",
    re.IGNORECASE,
)
# "5/325 mg": a bare number before a slash takes the unit of the strength after it.
_SHARED_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(?=(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug)\b)",
                          re.IGNORECASE)
# Words of a label-style name that are not ingredients: "Tablets, USP", "CII".
_LABEL_NOISE = re.compile(r"\bUSP\b|\bC-?(?:II|III|IV|V)\b", re.IGNORECASE)
# Separators between the ingredients of a name: "A and B", "A/B", "A, B", "A & B", "A with B".
_INGREDIENT_SEPARATOR = re.compile(r"(?:\s*(?:,|/|&|\+|\band\b|\bwith\b)\s*)+", re.IGNORECASE)
_LIST_JOIN = re.compile(r"\s*/\s*")


def _strength_tokens(text: str) -> list[tuple[int, int, float, float | None]]:
    """(start, end, mg, volume in mL or None) of every strength in ``text``, in order."""
    tokens = []
    for m in _STRENGTH.finditer(text):
        amount = float(m.group(1))
        mg = amount / 1000.0 if m.group(2).lower() in ("mcg", "µg", "ug") else amount
        volume = None
        if m.group(0).lower().endswith("ml"):
            volume = float(m.group(3)) if m.group(3) else 1.0
        tokens.append((m.start(), m.end(), mg, volume))
    if any(t[3] is not None for t in tokens):
        # A volume written once ("7.5 mg/325 mg per 15 mL") is the volume of every
        # strength before it; a strength after the last volume takes that volume.
        later: float | None = None
        filled = []
        for start, end, mg, volume in reversed(tokens):
            later = volume if volume is not None else later
            filled.append((start, end, mg, later))
        filled.reverse()
        last = next(t[3] for t in reversed(tokens) if t[3] is not None)
        tokens = [(s, e, mg, last if v is None else v) for s, e, mg, v in filled]
    return tokens


def _opioid_strength(text: str, name: re.Match[str]) -> float:
    """mg of the opioid per unit dispensed (per mL for a liquid), or NaN.

    The strength list that first follows the opioid's name: a single strength
    (``Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG``: 5) is the opioid's; a label
    list (``Acetaminophen and Codeine Phosphate Tablets, USP 300 mg/30 mg``) gives the
    strength in the position the opioid holds among the ingredients named before it (30).
    """
    text = _SHARED_UNIT.sub(lambda m: f"{m.group(1)} {m.group(3)}/", text)
    name_end = name.end()
    tokens = _strength_tokens(text)
    first = next((i for i, t in enumerate(tokens) if t[0] >= name_end), None)
    if first is None:
        return float("nan")
    group = [tokens[first]]
    for token in tokens[first + 1:]:
        if not _LIST_JOIN.fullmatch(text[group[-1][1]:token[0]]):
            break
        group.append(token)
    if len(group) == 1:
        position = 0
    else:
        previous_end = tokens[first - 1][1] if first > 0 else 0
        names = _LABEL_NOISE.sub(" ", text[previous_end:name.start()])
        position = len([p for p in _INGREDIENT_SEPARATOR.split(names) if p.strip()])
        if position >= len(group):
            return float("nan")
    _, _, mg, volume = group[position]
    return mg / volume if volume else mg


def _parse_description(text: str, patterns: list[re.Pattern[str]], units: list[str]
                       ) -> tuple[int, float]:
    """(row of the factor table, strength) for one description; row −1 when no opioid of
    the tables is named.  Strength: mcg/hr for a patch row, mg per unit otherwise."""
    for row, pattern in enumerate(patterns):
        name = pattern.search(text)
        if name is None:
            continue
        if units[row] == "mcg_per_hr":
            rate = _RATE.search(text)
            if rate is None:
                return row, float("nan")
            value = float(rate.group(1))
            return row, value * 1000.0 if rate.group(2).lower() == "mg" else value
        return row, _opioid_strength(text, name)
    return -1, float("nan")


def _factor_table(factors: pd.DataFrame | None) -> pd.DataFrame:
    return all_mme_factors() if factors is None else factors.reset_index(drop=True)


def _parse_rows(details: pd.Series, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row of ``table`` (−1 none) and parsed strength of each description, parsing each
    distinct description once."""
    codes, uniques = pd.factorize(details.astype("string"))
    patterns = [re.compile(p, re.IGNORECASE) for p in table["pattern"]]
    units = [str(u) for u in table["unit"]]
    parsed = [_parse_description(str(u), patterns, units) for u in uniques]
    row_u = np.array([p[0] for p in parsed] + [-1], dtype=np.int64)
    strength_u = np.array([p[1] for p in parsed] + [np.nan], dtype="float64")
    return row_u[codes], strength_u[codes]


def parse_opioid_descriptions(
    details: pd.Series, factors: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The opioid named in each drug description and its strength per unit.

    For each value of ``details``: ``ingredient`` (first matching row of the factor tables,
    NA when none), ``factor``, ``unit`` (``mg``, ``mcg_per_hr``, ``none``),
    ``factor_source``, and ``opioid_strength`` — a patch's rate in mcg/hr, else the opioid
    ingredient's mg per unit dispensed: the strength after its name
    (``Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG``: 5), in a label-style list
    the strength in the opioid's position (``Acetaminophen and Codeine Phosphate Tablets,
    USP 300 mg/30 mg``: 30), for a liquid per mL (``5 MG/5 ML``: 1; ``1 MG/ML``: 1).
    Parsed once per distinct description.  Indexed like ``details``.
    """
    table = _factor_table(factors)
    row, strength = _parse_rows(details, table)

    def column(name: str) -> pd.Series:
        return id_series(pd.Index(table[name].astype(str), dtype="string"), row).set_axis(
            details.index)

    factor = np.append(pd.to_numeric(table["factor"], errors="coerce").to_numpy(
        dtype="float64"), np.nan)[row]
    return pd.DataFrame(
        {
            "ingredient": column("ingredient"),
            "factor": pd.Series(factor, index=details.index),
            "unit": column("unit"),
            "factor_source": column("factor_source"),
            "opioid_strength": pd.Series(strength, index=details.index),
        },
        index=details.index,
    )


# --------------------------------------------------------------------------- MME per fill


def _fills(
    events: pd.DataFrame, factors: pd.DataFrame | None, extract: pd.Timestamp | None
) -> tuple[pd.DataFrame, dict]:
    """Narcotic rows and per-row arrays: start, end, fills (k), ingredient (row of the
    factor table, −1 none), source (code into ``sources``), strength, mme (per day),
    status (index into MME_STATUSES), ends_at_death."""
    rows = _rows(events, "narcotic")
    n = len(rows)
    table = _factor_table(factors)
    if "detail" in rows.columns:
        row, parsed_strength = _parse_rows(rows["detail"], table)
    else:
        row, parsed_strength = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    given_strength = _number(rows, "strength")
    strength = np.where(np.isnan(given_strength), parsed_strength, given_strength)
    units = np.append(table["unit"].to_numpy(dtype=object), "")[row]
    factor = np.append(pd.to_numeric(table["factor"], errors="coerce").to_numpy(
        dtype="float64"), np.nan)[row]
    known = row >= 0
    is_patch = units == "mcg_per_hr"
    has_factor = known & ~np.isnan(factor) & (units != "none")
    start, end = _covered(rows, extract)
    k = dispense_counts(rows)
    quantity = _number(rows, "quantity")
    supply = _number(rows, "days_supply")
    has_quantity = ~np.isnan(quantity) & (quantity > 0)
    has_supply = ~np.isnan(supply) & (supply > 0)
    # A real end date: the export's stop date, not a death or open-order end.
    real_end = (
        rows["end_date"].notna().to_numpy() if "end_date" in rows.columns
        else np.zeros(n, dtype=bool)
    ) & ~_flag(rows, "ends_at_death") & ~_flag(rows, "open_order")
    with np.errstate(invalid="ignore", divide="ignore"):
        prescribed = strength * quantity / np.where(has_supply, supply, np.nan) * factor
        # No days supply: k dispenses of `quantity` units over the covered days.
        estimated = strength * quantity * k / (end - start) * factor
        patch = strength * factor
    has_strength = ~np.isnan(strength)
    status = np.select(
        [
            ~known, ~has_factor, ~has_strength, is_patch, ~has_quantity, has_supply,
            real_end,
        ],
        [3, 2, 4, 0, 5, 0, 1],
        default=6,
    )
    mme = np.select([status == 0, status == 1], [np.where(is_patch, patch, prescribed),
                                                 estimated], default=np.nan)
    sources, source_of_row = np.unique(table["factor_source"].to_numpy(dtype=str),
                                       return_inverse=True)
    sources = pd.Index([*sources, EXPORT_SOURCE], dtype="string")
    source = np.append(source_of_row, -1)[row]
    given = _number(rows, "mme_per_day")
    from_export = ~np.isnan(given)
    mme = np.where(from_export, given, mme)
    status = np.where(from_export, 0, status)
    source = np.where(from_export, len(sources) - 1, source)
    return rows, {
        "start": start,
        "end": end,
        "fills": k,
        "ingredient": row,
        "ingredients": pd.Index(table["ingredient"].astype(str), dtype="string"),
        "source": source,
        "sources": sources,
        "strength": strength,
        "mme": mme,
        "status": status.astype(np.int64),
        "ends_at_death": _flag(rows, "ends_at_death"),
    }


def fill_mme(
    events: pd.DataFrame,
    extract: pd.Timestamp | None = None,
    factors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """MME per narcotic event row (a fill, or ``dispenses`` fills), indexed like those rows.

    Columns: ``patient_id``, ``event_date``; ``ingredient`` (first matching row of the
    factor tables, NA when none matches); ``factor_source`` (``cdc_2022``,
    ``cdc_analytic_2017`` for an ingredient outside the CDC 2022 table, ``export`` when the
    export's ``mme_per_day`` is used, NA); ``opioid_strength`` (the ``strength`` column,
    else parsed from ``detail``, see :func:`parse_opioid_descriptions`); ``fills`` (the
    dispenses the row stands for, default 1); ``covered_days`` (end − start of its covered
    interval); ``mme_per_day`` (the prescribed daily dose: strength × quantity ÷
    days_supply × factor — per dispense, whatever the end date; a patch: rate × 2.4;
    estimated as strength × quantity × fills ÷ covered_days × factor when only a real end
    date gives the days); ``mme_total`` (mme_per_day × covered_days); ``mme_status`` (one
    of :data:`MME_STATUSES`).  ``extract`` (default: the latest event date) closes open
    orders, as everywhere.  ``factors`` defaults to ``vocab.all_mme_factors()``.
    """
    if len(events) == 0:
        return _empty(FILL_COLUMNS)
    extract = extract_date(events, extract)
    rows, f = _fills(events, factors, extract)
    index = rows.index
    covered = f["end"] - f["start"]
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].astype("string"),
            "event_date": rows["event_date"].astype("datetime64[s]"),
            "ingredient": id_series(f["ingredients"], f["ingredient"]).set_axis(index),
            "factor_source": id_series(f["sources"], f["source"]).set_axis(index),
            "opioid_strength": pd.Series(f["strength"], index=index),
            "fills": pd.Series(f["fills"], index=index, dtype="int64"),
            "covered_days": pd.Series(covered, index=index, dtype="int64"),
            "mme_per_day": pd.Series(f["mme"], index=index),
            "mme_total": pd.Series(f["mme"] * covered, index=index),
            "mme_status": id_series(pd.Index(MME_STATUSES, dtype="string"),
                                    f["status"]).set_axis(index),
        },
        index=index,
    )


def mme_band(values: pd.Series) -> pd.Series:
    """MME/day bands ``<20``, ``20–<50``, ``50–<90``, ``≥90`` — half-open ``[0, 20)``,
    ``[20, 50)``, ``[50, 90)``, ``[90, ∞)`` — as an ordered categorical; NaN stays missing."""
    s = pd.Series(values, dtype="float64")
    return pd.cut(s, bins=list(MME_BAND_EDGES), right=False, labels=list(MME_BANDS)).astype(
        _band_dtype()
    )


# --------------------------------------------------------------------------- courses


def _courses(
    rows: pd.DataFrame, f: dict[str, np.ndarray], gap: int, extract_day: int, long_term_days: int
) -> pd.DataFrame:
    if len(rows) == 0:
        return _empty(COURSE_COLUMNS)
    pcode, uniques = pd.factorize(rows["patient_id"], sort=True)
    pcode = pcode.astype(np.int64)
    order = _order(pcode, f["start"])
    p, s, e = pcode[order], f["start"][order], f["end"][order]
    k = f["fills"][order]
    mme = f["mme"][order]
    status = f["status"][order]
    with_mme = ~np.isnan(mme)
    run = merge_intervals(p, s, e, gap)
    first = np.ones(len(run), dtype=bool)
    first[1:] = run[1:] != run[:-1]
    starts = np.flatnonzero(first)
    n_courses = len(starts)
    c_patient = p[starts]
    c_start = s[starts]
    c_end = np.maximum.reduceat(e, starts)
    fills = np.add.reduceat(k, starts)
    events = np.diff(np.append(starts, len(run)))
    without = np.add.reduceat(np.where(with_mme, 0, k), starts)
    estimated = np.add.reduceat(np.where(status == 1, k, 0), starts)
    # How the course ended: a fill reaching the course end at a death date.
    at_death = f["ends_at_death"][order] & (e == c_end[run])
    by_death = np.logical_or.reduceat(at_death, starts)
    ongoing = ~by_death & (c_end - 1 >= extract_day)
    ended_by = np.where(by_death, 1, np.where(ongoing, 2, 0))
    # Average MME/day: Σ MME/day × covered days ÷ days covered by any fill with an MME.
    total = np.bincount(run[with_mme], weights=(mme * (e - s))[with_mme], minlength=n_courses)
    w_run, w_s, w_e = run[with_mme], s[with_mme], e[with_mme]
    union = np.zeros(n_courses, dtype=np.int64)
    if len(w_run):
        piece = merge_intervals(w_run, w_s, w_e, 0)
        p_first = np.ones(len(piece), dtype=bool)
        p_first[1:] = piece[1:] != piece[:-1]
        p_idx = np.flatnonzero(p_first)
        lengths = np.maximum.reduceat(w_e, p_idx) - w_s[p_idx]
        union = np.bincount(w_run[p_idx], weights=lengths, minlength=n_courses).astype(np.int64)
    has_mme = union > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(has_mme, total / union, np.nan)
    total = np.where(has_mme, total, np.nan)
    new_patient = np.ones(n_courses, dtype=bool)
    new_patient[1:] = c_patient[1:] != c_patient[:-1]
    first_course = np.maximum.accumulate(np.where(new_patient, np.arange(n_courses), 0))
    duration = c_end - c_start
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, c_patient),
            "course": (np.arange(n_courses) - first_course + 1).astype(np.int64),
            "start": date_series(c_start),
            "end": date_series(c_end),
            "last_day": date_series(c_end - 1),
            "duration_days": duration.astype(np.int64),
            "fills": fills.astype(np.int64),
            "events": events.astype(np.int64),
            "long_term": duration >= long_term_days,
            "ongoing": ongoing,
            "ended_by": id_series(pd.Index(COURSE_ENDINGS, dtype="string"), ended_by),
            "censored": ended_by != 0,
            "avg_mme_per_day": avg,
            "mme_estimated": estimated > 0,
            "mme_band": mme_band(pd.Series(avg)),
            "total_mme": total,
            "mme_days": union,
            "fills_without_mme": without.astype(np.int64),
            "fills_mme_estimated": estimated.astype(np.int64),
        }
    )


def narcotic_courses(
    events: pd.DataFrame,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    long_term_days: int = 90,
    factors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Narcotic courses, one row per (patient, course), sorted by patient then start.

    Columns:

    - ``patient_id``; ``course`` (1-based per patient);
    - ``start``, ``end`` (exclusive: the latest end of its fills), ``last_day`` (end − 1),
      ``duration_days`` (end − start);
    - ``fills`` (dispenses: a row standing for k dispenses counts k), ``events`` (rows);
    - ``long_term`` (duration ≥ ``long_term_days``);
    - ``ongoing`` (``ended_by == "extract"``: last_day on or after the extract date);
    - ``ended_by`` (:data:`COURSE_ENDINGS`: ``death`` when the fill reaching its end ends
      at the patient's death — ``ends_at_death`` — even on or after the extract date;
      else ``extract`` when ongoing; else ``gap``); ``censored`` (ended by death or by
      the extract date);
    - ``avg_mme_per_day`` (Σ over fills with an MME of MME/day × covered days ÷
      ``mme_days``; NaN when no fill has an MME), ``mme_estimated`` (some fill's MME is
      estimated), ``mme_band`` (ordered categorical of the average, NA without MME);
    - ``total_mme`` (the numerator), ``mme_days`` (days covered by any fill with an MME),
      ``fills_without_mme``, ``fills_mme_estimated`` (both in dispenses).

    ``extract`` defaults to the latest event date of ``events``; pass the dataset's.
    """
    if len(events) == 0:
        return _empty(COURSE_COLUMNS)
    extract = extract_date(events, extract)
    rows, f = _fills(events, factors, extract)
    return _courses(rows, f, course_gap_days, _day(extract), long_term_days)


def course_survival(courses: pd.DataFrame, confidence_level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier of course duration (days); courses ended by death or by the extract
    date (``censored``) are censored."""
    return kaplan_meier(courses["duration_days"], ~courses["censored"].astype(bool),
                        confidence_level)


# --------------------------------------------------------------------------- overlap, months


def relaxant_overlap(
    events: pd.DataFrame, extract: pd.Timestamp | None = None, flag_days: int = 30
) -> pd.DataFrame:
    """Days covered by both a narcotic and a muscle relaxant, per patient.

    Covered days are the union of each technique's covered intervals (overlapping fills of
    one technique count once); ``overlap_days`` is the number of days in both unions.
    Lists every patient with at least one event of each technique (``overlap_days`` may
    be 0), sorted by patient.  Columns: ``patient_id``, ``overlap_days`` (int),
    ``flagged`` (overlap_days ≥ ``flag_days``).
    """
    columns = {"patient_id": "string", "overlap_days": "int64", "flagged": "bool"}
    if len(events) == 0:
        return _empty(columns)
    extract = extract_date(events, extract)
    rows = _rows(events, ("narcotic", "muscle_relaxant"))
    if len(rows) == 0:
        return _empty(columns)
    pcode, uniques = pd.factorize(rows["patient_id"], sort=True)
    pcode = pcode.astype(np.int64)
    start, end = _covered(rows, extract)
    is_narc = (rows["technique"] == "narcotic").to_numpy(dtype=bool, na_value=False)
    n_p = len(uniques)
    has_n = np.bincount(pcode[is_narc], minlength=n_p) > 0
    has_r = np.bincount(pcode[~is_narc], minlength=n_p) > 0
    # Sweep: +1 at each start, -1 at each end, per technique; a patient's deltas sum to 0,
    # so global cumulative sums restart at 0 for every patient.
    p = np.concatenate([pcode, pcode])
    day = np.concatenate([start, end])
    delta = np.concatenate([np.ones(len(start), np.int64), -np.ones(len(end), np.int64)])
    dn = np.where(np.concatenate([is_narc, is_narc]), delta, 0)
    dr = delta - dn
    order = _order(p, day)
    p, day = p[order], day[order]
    cn, cr = np.cumsum(dn[order]), np.cumsum(dr[order])
    seg = np.zeros(len(day), dtype=np.int64)
    seg[:-1] = day[1:] - day[:-1]
    both = (cn > 0) & (cr > 0)
    seg = np.where(both, seg, 0)
    overlap = np.bincount(p, weights=seg, minlength=n_p).astype(np.int64)
    keep = has_n & has_r
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, np.flatnonzero(keep)),
            "overlap_days": overlap[keep],
            "flagged": overlap[keep] >= flag_days,
        }
    )


def active_patients_by_month(
    events: pd.DataFrame, extract: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Patients with at least one narcotic-covered day in each calendar month.

    Covered days after the extract date are not counted (a fill's supply running past the
    data's "today" is not history).  One row per month from the first to the last month
    with coverage (months without any are listed with 0).  Columns: ``month``
    (datetime64[s], first of the month), ``patients``.
    """
    columns = {"month": "datetime64[s]", "patients": "int64"}
    if len(events) == 0:
        return _empty(columns)
    extract = extract_date(events, extract)
    rows = _rows(events, "narcotic")
    if len(rows) == 0:
        return _empty(columns)
    pcode, _ = pd.factorize(rows["patient_id"])
    pcode = pcode.astype(np.int64)
    start, end = _covered(rows, extract)
    end = np.minimum(end, _day(extract) + 1)
    keep = end > start
    if not keep.any():
        return _empty(columns)
    pcode, start, end = pcode[keep], start[keep], end[keep]
    # Union per patient first (gap 0 joins touching intervals): fewer months to expand.
    order = _order(pcode, start)
    pcode, start, end = pcode[order], start[order], end[order]
    run = merge_intervals(pcode, start, end, 0)
    first = np.ones(len(run), dtype=bool)
    first[1:] = run[1:] != run[:-1]
    idx = np.flatnonzero(first)
    r_p, r_s, r_e = pcode[idx], start[idx], np.maximum.reduceat(end, idx)
    m0 = start_months = r_s.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    m1 = (r_e - 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    count = m1 - m0 + 1
    rp = np.repeat(r_p, count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    month = np.repeat(start_months, count) + offset
    # Runs are sorted by patient then start, so each patient's months are non-decreasing.
    new = np.ones(len(month), dtype=bool)
    new[1:] = (rp[1:] != rp[:-1]) | (month[1:] != month[:-1])
    month = month[new]
    lo = int(month.min())
    counts = np.bincount(month - lo)
    months = (np.arange(len(counts)) + lo).astype("datetime64[M]").astype("datetime64[s]")
    return pd.DataFrame(
        {"month": pd.Series(months, dtype="datetime64[s]"), "patients": counts.astype(np.int64)}
    )


# --------------------------------------------------------------------------- summary


def narcotic_summary(
    events: pd.DataFrame, course_gap_days: int = 30, extract: pd.Timestamp | None = None
) -> dict:
    """The ``narcotics`` block of the summary CLI.

    Keys: ``patients`` (≥ 1 narcotic event), ``fills`` (narcotic fills: a row standing for
    k dispenses counts k), ``events`` (narcotic event rows), ``courses``,
    ``median_course_days`` (median duration over all courses, None without courses),
    ``long_term_courses``, ``ongoing_courses`` (still covered on the extract date),
    ``courses_ended_by_death``, ``high_dose_courses`` (average MME/day ≥ 90),
    ``courses_without_mme`` (no fill with an MME), ``courses_mme_estimated`` (average uses
    an estimated MME), ``fills_without_mme``, ``fills_mme_estimated``.
    """
    courses = narcotic_courses(events, course_gap_days, extract)
    durations = courses["duration_days"].to_numpy()
    return {
        "patients": int(courses["patient_id"].nunique()),
        "fills": int(courses["fills"].sum()),
        "events": int(courses["events"].sum()),
        "courses": int(len(courses)),
        "median_course_days": float(np.median(durations)) if len(durations) else None,
        "long_term_courses": int(courses["long_term"].sum()),
        "ongoing_courses": int(courses["ongoing"].sum()),
        "courses_ended_by_death": int((courses["ended_by"] == "death").sum()),
        "high_dose_courses": int((courses["avg_mme_per_day"] >= HIGH_DOSE_MME).sum()),
        "courses_without_mme": int(courses["avg_mme_per_day"].isna().sum()),
        "courses_mme_estimated": int(courses["mme_estimated"].sum()),
        "fills_without_mme": int(courses["fills_without_mme"].sum()),
        "fills_mme_estimated": int(courses["fills_mme_estimated"].sum()),
    }


__all__ = [
    "parse_opioid_descriptions",
    "fill_mme",
    "mme_band",
    "narcotic_courses",
    "course_survival",
    "relaxant_overlap",
    "active_patients_by_month",
    "narcotic_summary",
]
