"""Narcotic courses, daily morphine milligram equivalents and overlaps (DESIGN.md).

- **Covered days** of a fill: ``[start, end)`` from :func:`intervals.event_intervals`
  (end_date + 1, else event_date + days_supply, else event_date + 1; an open order covers
  through the extract date).
- **Course**: per patient, fills sorted by start; a fill starting no more than
  ``course_gap_days`` (30) after the course's current end continues it; supplies do not
  stack (the course end is the latest end).  Duration = end − start.  Long-term: duration
  ≥ ``long_term_days`` (90).  Ongoing: last covered day (end − 1) on or after the extract
  date.
- **MME/day** of a fill = strength × quantity ÷ days_supply × factor (per-mg factors of the
  versioned CDC 2022 table ``vocab.mme_factors()``); for a transdermal patch MME/day =
  rate (mcg/hr) × 2.4 whatever the quantity; an ``mme_per_day`` value already in the
  export is used as is.  A fill's total MME = MME/day × its covered days; a course's total
  MME is the sum over its fills (= the sum of daily MME over calendar days, overlapping
  fills adding up); its average MME/day = total MME ÷ course duration.
- **Opioid + muscle relaxant overlap**: days covered by both a narcotic and a muscle
  relaxant, flagged at ≥ ``flag_days`` (30).

Everything is vectorised over integer-coded patients and day numbers.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analytics.intervals import (
    date_series,
    day_numbers,
    event_intervals,
    extract_date,
    id_series,
    merge_intervals,
    stable_argsort,
)
from analytics.survival import KaplanMeier, kaplan_meier
from analytics.vocab import mme_factors

MME_BANDS: tuple[str, ...] = ("<20", "20–49", "50–89", "≥90")
MME_BAND_EDGES: tuple[float, ...] = (-np.inf, 20.0, 50.0, 90.0, np.inf)
HIGH_DOSE_MME = 90.0
MME_STATUSES: tuple[str, ...] = ("ok", "no_factor", "missing_figures")

_NUMBER = r"(\d+(?:\.\d+)?)"
# Patch rate anywhere in the description: "0.025 MG/HR", "25 MCG/HR", "25 mcg/hour".
_RATE = re.compile(_NUMBER + r"\s*(mcg|µg|ug|mg)\s*/\s*(?:hr|hour|h)\b", re.IGNORECASE)

FILL_COLUMNS = {
    "patient_id": "string",
    "event_date": "datetime64[s]",
    "ingredient": "string",
    "opioid_strength": "float64",
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
    "ongoing": "bool",
    "long_term": "bool",
    "total_mme": "float64",
    "avg_mme_per_day": "float64",
    "mme_band": None,  # ordered categorical, see mme_band()
    "fills_without_mme": "int64",
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
    "patient_id", "event_date", "technique", "end_date", "days_supply", "open_order", "detail",
    "quantity", "strength", "mme_per_day",
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
    cols = [c for c in ("event_date", "end_date", "days_supply", "open_order") if c in rows]
    iv = event_intervals(rows[cols], extract)
    return iv["start_day"].to_numpy(dtype=np.int64), iv["end_day"].to_numpy(dtype=np.int64)


def _number(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


# --------------------------------------------------------------------------- MME per fill


def _noncapturing(pattern: str) -> str:
    """The factor table's regex with its groups made non-capturing (for str.extract)."""
    return "(?:" + re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern) + ")"


def _parse_details(
    details: pd.Series, factors: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """For unique descriptions: index of the first matching factor row (-1 none) and the
    opioid strength parsed from the text (mg per unit, or mcg/hr for a patch row)."""
    n = len(details)
    row_of = np.full(n, -1, dtype=np.int64)
    strength = np.full(n, np.nan)
    if n == 0:
        return row_of, strength
    text = details.astype("string")
    patterns = [_noncapturing(p) for p in factors["pattern"]]
    for j, pattern in enumerate(patterns):  # one pass per factor row (~11)
        free = row_of < 0
        if not free.any():
            break
        hit = text.str.contains(pattern, case=False, regex=True, na=False).to_numpy(dtype=bool)
        row_of[hit & free] = j
    for j, (pattern, unit) in enumerate(zip(patterns, factors["unit"], strict=True)):
        sel = row_of == j
        if not sel.any() or unit == "none":
            continue
        sub = text[sel]
        if unit == "mcg_per_hr":
            got = sub.str.extract(_RATE)
            value = pd.to_numeric(got[0], errors="coerce").to_numpy(dtype="float64")
            is_mg = got[1].str.lower().eq("mg").to_numpy(dtype=bool, na_value=False)
            strength[sel] = np.where(is_mg, value * 1000.0, value)
        else:
            # The "<number> MG" after the ingredient name, inside the same " / " component.
            rx = re.compile(pattern + r"[^/]*?" + _NUMBER + r"\s*mg\b", re.IGNORECASE)
            got = sub.str.extract(rx)
            strength[sel] = pd.to_numeric(got[0], errors="coerce").to_numpy(dtype="float64")
    return row_of, strength


def _fills(
    events: pd.DataFrame, factors: pd.DataFrame | None, extract: pd.Timestamp | None
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Narcotic rows and per-fill arrays (start, end, ingredient, strength, mme, status)."""
    rows = _rows(events, "narcotic")
    table = mme_factors() if factors is None else factors.reset_index(drop=True)
    n = len(rows)
    if "detail" in rows.columns:
        dcode, uniq = pd.factorize(rows["detail"])
    else:
        dcode, uniq = np.full(n, -1), pd.Index([], dtype="string")
    row_of_u, strength_u = _parse_details(pd.Series(np.asarray(uniq, dtype=object)), table)
    row_of_u = np.append(row_of_u, -1)  # index -1 (no description) -> no factor row
    strength_u = np.append(strength_u, np.nan)
    row_of = row_of_u[dcode]
    parsed = strength_u[dcode]
    given = _number(rows, "strength")
    strength = np.where(np.isnan(given), parsed, given)
    units = table["unit"].to_numpy(dtype=object)
    is_mg = np.append(units == "mg", False)[row_of]
    is_patch = np.append(units == "mcg_per_hr", False)[row_of]
    factor = np.append(pd.to_numeric(table["factor"], errors="coerce").to_numpy(dtype="float64"),
                       np.nan)[row_of]
    quantity = _number(rows, "quantity")
    supply = _number(rows, "days_supply")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_mg = strength * quantity / np.where(supply > 0, supply, np.nan) * factor
        patch = strength * factor
    computed = np.where(is_patch, patch, np.where(is_mg, per_mg, np.nan))
    given_mme = _number(rows, "mme_per_day")
    mme = np.where(np.isnan(given_mme), computed, given_mme)
    has_factor = ~np.isnan(factor) & (is_mg | is_patch)
    status = np.where(~np.isnan(mme), 0, np.where(has_factor, 2, 1))
    start, end = _covered(rows, extract) if n else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return rows, {
        "start": start,
        "end": end,
        "ingredient": row_of,  # row of the factor table, -1 none
        "ingredients": pd.Index(table["ingredient"].astype(str), dtype="string"),
        "strength": strength,
        "mme": mme,
        "status": status,
    }


def fill_mme(
    events: pd.DataFrame, factors: pd.DataFrame | None = None, extract: pd.Timestamp | None = None
) -> pd.DataFrame:
    """MME per narcotic fill: one row per narcotic event, indexed like those events.

    Columns: ``patient_id``, ``event_date``, ``ingredient`` (first matching row of the factor
    table, NA when none matches), ``opioid_strength`` (the ``strength`` column, else parsed
    from ``detail``: the "<n> MG" after the opioid's name within its " / " component, or a
    patch's rate in mcg/hr), ``mme_per_day``, ``mme_total`` (MME/day × covered days of the
    fill; an open order covers through ``extract``, default the latest event date),
    ``mme_status``: ``ok``; ``no_factor`` (no factor in the table, e.g. buprenorphine, or no
    ingredient recognised, e.g. meperidine); ``missing_figures`` (strength, quantity or
    days_supply missing; a patch needs only its rate).
    """
    if len(events) == 0:
        return _empty(FILL_COLUMNS)
    extract = extract_date(events, extract)
    rows, f = _fills(events, factors, extract)
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].astype("string"),
            "event_date": rows["event_date"].astype("datetime64[s]"),
            "ingredient": id_series(f["ingredients"], f["ingredient"]).set_axis(rows.index),
            "opioid_strength": pd.Series(f["strength"], index=rows.index),
            "mme_per_day": pd.Series(f["mme"], index=rows.index),
            "mme_total": pd.Series(f["mme"] * (f["end"] - f["start"]), index=rows.index),
            "mme_status": id_series(pd.Index(MME_STATUSES, dtype="string"), f["status"]).set_axis(
                rows.index
            ),
        },
        index=rows.index,
    )


def mme_band(values: pd.Series) -> pd.Series:
    """MME/day bands ``<20``, ``20–49``, ``50–89``, ``≥90`` (lower bound inclusive) as an
    ordered categorical; NaN stays missing."""
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
    mme = f["mme"][order]
    total = np.nan_to_num(mme * (e - s))
    with_mme = ~np.isnan(mme)
    run = merge_intervals(p, s, e, gap)
    first = np.ones(len(run), dtype=bool)
    first[1:] = run[1:] != run[:-1]
    starts = np.flatnonzero(first)
    c_patient = p[starts]
    c_start = s[starts]
    c_end = np.maximum.reduceat(e, starts)
    fills = np.diff(np.append(starts, len(run)))
    n_mme = np.add.reduceat(with_mme.astype(np.int64), starts)
    c_total = np.where(n_mme > 0, np.add.reduceat(total, starts), np.nan)
    new_patient = np.ones(len(starts), dtype=bool)
    new_patient[1:] = c_patient[1:] != c_patient[:-1]
    first_course = np.maximum.accumulate(np.where(new_patient, np.arange(len(starts)), 0))
    duration = c_end - c_start
    avg = c_total / duration
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, c_patient),
            "course": (np.arange(len(starts)) - first_course + 1).astype(np.int64),
            "start": date_series(c_start),
            "end": date_series(c_end),
            "last_day": date_series(c_end - 1),
            "duration_days": duration.astype(np.int64),
            "fills": fills.astype(np.int64),
            "ongoing": c_end - 1 >= extract_day,
            "long_term": duration >= long_term_days,
            "total_mme": c_total,
            "avg_mme_per_day": avg,
            "mme_band": mme_band(pd.Series(avg)),
            "fills_without_mme": (fills - n_mme).astype(np.int64),
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

    Columns: ``patient_id``, ``course`` (1-based per patient), ``start``, ``end`` (exclusive:
    the latest end of its fills), ``last_day`` (end − 1), ``duration_days`` (end − start),
    ``fills``, ``ongoing`` (last_day ≥ extract date), ``long_term`` (duration ≥
    ``long_term_days``), ``total_mme`` (sum over fills with an MME of MME/day × covered days;
    NaN when no fill has one), ``avg_mme_per_day`` (total_mme ÷ duration_days — fills
    without MME add days but no MME), ``mme_band`` (ordered categorical, NA without MME),
    ``fills_without_mme``.  ``extract`` defaults to the latest event date of ``events``.
    """
    if len(events) == 0:
        return _empty(COURSE_COLUMNS)
    extract = extract_date(events, extract)
    rows, f = _fills(events, factors, extract)
    return _courses(rows, f, course_gap_days, _day(extract), long_term_days)


def course_survival(courses: pd.DataFrame, confidence_level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier of course duration (days), ongoing courses censored."""
    return kaplan_meier(courses["duration_days"], ~courses["ongoing"].astype(bool),
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

    Keys: ``patients`` (≥ 1 narcotic event), ``fills`` (narcotic events), ``courses``,
    ``median_course_days`` (median duration over all courses, None without courses),
    ``long_term_courses``, ``ongoing_courses``, ``high_dose_courses`` (average MME/day ≥
    90), ``fills_without_mme``.
    """
    courses = narcotic_courses(events, course_gap_days, extract)
    durations = courses["duration_days"].to_numpy()
    return {
        "patients": int(courses["patient_id"].nunique()),
        "fills": int(courses["fills"].sum()),
        "courses": int(len(courses)),
        "median_course_days": float(np.median(durations)) if len(durations) else None,
        "long_term_courses": int(courses["long_term"].sum()),
        "ongoing_courses": int(courses["ongoing"].sum()),
        "high_dose_courses": int((courses["avg_mme_per_day"] >= HIGH_DOSE_MME).sum()),
        "fills_without_mme": int(courses["fills_without_mme"].sum()),
    }


__all__ = [
    "fill_mme",
    "mme_band",
    "narcotic_courses",
    "course_survival",
    "relaxant_overlap",
    "active_patients_by_month",
    "narcotic_summary",
]
