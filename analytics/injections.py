"""Injection repeats (docs/definitions.md, section 10).

- **Session**: distinct (patient, date) among events with technique ``injection``; all
  levels, sides and lines billed on one day are one session.
- **Repeat interval**: days between a patient's consecutive sessions; an interval under
  ``short_interval_days`` (14) is a *short interval*.
- **Over the limit**: some 365-day window ``[d, d+364]`` holds more sessions of one
  injection type in one spinal region than that type allows (``vocab.injection_limits()``,
  the Medicare LCD limits; a type missing from the table, or an unknown type, uses the
  limit of ``other``).  An event without a type counts as type ``other``.  A session of a
  type in a region is a distinct (patient, date, type, region); its region is the
  ``region`` of that day's events of the type (a day with a cervical and a lumbar
  epidural is one session in each region).  A (patient, date, type) none of whose events
  has a region is a session of **unknown region**; a window holding any such session is
  counted per type, all its sessions of the type together whatever their region (one
  session per date), since the unknown one may belong to either region.  A window
  without one is counted per region.
- **Time to repeat**: days from a patient's first to second session, censored at the
  extract date when there is no second session.
- **Pain-score change**: mean score recorded in the 60 days after a session
  (``[d+1, d+60]``) minus mean score in the 30 days before (``[d-30, d-1]``).

Everything is vectorised over integer-coded patients and day numbers; there is no
per-patient Python loop.  Input everywhere is a canonical event frame (``schema.conform``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.intervals import date_series, day_numbers, id_series, stable_argsort
from analytics.schema import INJECTION_TYPES, REGIONS
from analytics.survival import KaplanMeier, kaplan_meier
from analytics.vocab import injection_limits

OTHER_CODE = INJECTION_TYPES.index("other")
WINDOW_DAYS = 365

SESSION_COLUMNS = ("patient_id", "session_date", "injection_types", "region", "lines",
                   "provider_id")


# --------------------------------------------------------------------------- helpers


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})






def _injection_rows(events: pd.DataFrame) -> pd.DataFrame:
    mask = (
        (events["technique"] == "injection").to_numpy(dtype=bool, na_value=False)
        & events["patient_id"].notna().to_numpy()
        & events["event_date"].notna().to_numpy()
    )
    cols = [c for c in ("patient_id", "event_date", "injection_type", "region", "provider_id")
            if c in events.columns]
    return events.loc[mask, cols]




def _type_codes(rows: pd.DataFrame) -> np.ndarray:
    """Injection type as its index in INJECTION_TYPES; missing / unknown -> "other"."""
    if "injection_type" not in rows.columns:
        return np.full(len(rows), OTHER_CODE, dtype=np.int64)
    col = rows["injection_type"]
    conformed = isinstance(col.dtype, pd.CategoricalDtype)
    if not (conformed and tuple(col.cat.categories) == INJECTION_TYPES):
        col = pd.Series(pd.Categorical(col.astype("object"), categories=list(INJECTION_TYPES)))
    codes = np.asarray(col.cat.codes, dtype=np.int64)
    return np.where(codes < 0, OTHER_CODE, codes)


def _region_codes(rows: pd.DataFrame) -> np.ndarray:
    """Spinal region as its index in REGIONS; missing or unknown -> -1."""
    if "region" not in rows.columns:
        return np.full(len(rows), -1, dtype=np.int64)
    col = rows["region"]
    if not (isinstance(col.dtype, pd.CategoricalDtype) and tuple(col.cat.categories) == REGIONS):
        col = pd.Series(pd.Categorical(col.astype("object"), categories=list(REGIONS)))
    return np.asarray(col.cat.codes, dtype=np.int64)


def _mask_labels(masks: np.ndarray, names: tuple[str, ...]) -> tuple[pd.Index, np.ndarray]:
    """Labels ``a+b`` (in ``names`` order) of bit masks: distinct labels and each mask's code
    (a mask of 0 gets code -1, i.e. NA)."""
    distinct, code = np.unique(masks, return_inverse=True)
    labels = pd.Index(
        ["+".join(t for i, t in enumerate(names) if m >> i & 1) for m in distinct],
        dtype="string",
    )
    code = np.where(distinct[code] == 0, -1, code)
    return labels, code


def _limit_array(limits: dict[str, int] | None) -> np.ndarray:
    table = injection_limits() if limits is None else dict(limits)
    default = table.get("other", 4)
    return np.array([int(table.get(t, default)) for t in INJECTION_TYPES], dtype=np.int64)


def _session_codes(sessions: pd.DataFrame) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]:
    """Patient codes (sorted ids), unique ids, day numbers and the (patient, day) order."""
    codes, uniques = pd.factorize(sessions["patient_id"], sort=True)
    codes = codes.astype(np.int64)
    days = day_numbers(sessions["session_date"])
    dmin = int(days.min()) if len(days) else 0
    span = int(days.max()) - dmin + 1 if len(days) else 1
    order = stable_argsort(codes * span + (days - dmin))
    return codes, uniques, days, order


# --------------------------------------------------------------------------- sessions


def injection_sessions(events: pd.DataFrame) -> pd.DataFrame:
    """Injection sessions: one row per distinct (patient, date) among injection events.

    Columns: ``patient_id``, ``session_date``, ``injection_types`` (the distinct types of
    that day joined by ``+`` in ``schema.INJECTION_TYPES`` order; a missing or unknown
    type is ``other``), ``region`` (the distinct spinal regions of that day's events
    joined by ``+`` in ``schema.REGIONS`` order, e.g. ``lumbar_sacral`` or
    ``cervical_thoracic+lumbar_sacral``; NA when no event of the day has one), ``lines``
    (event rows that day), ``provider_id`` (first non-missing provider of that day, in
    input row order).  Sorted by patient then date.
    """
    columns = {
        "patient_id": "string",
        "session_date": "datetime64[s]",
        "injection_types": "string",
        "region": "string",
        "lines": "int64",
        "provider_id": "string",
    }
    rows = _injection_rows(events)
    if len(rows) == 0:
        return _empty(columns)
    pcode, uniques = pd.factorize(rows["patient_id"], sort=True)
    pcode = pcode.astype(np.int64)
    day = day_numbers(rows["event_date"])
    dmin = int(day.min())
    span = int(day.max()) - dmin + 1
    key = pcode * span + (day - dmin)
    order = stable_argsort(key)
    skey = key[order]
    first = np.ones(len(skey), dtype=bool)
    first[1:] = skey[1:] != skey[:-1]
    starts = np.flatnonzero(first)
    session = np.cumsum(first) - 1
    lines = np.diff(np.append(starts, len(skey)))
    type_bits = np.left_shift(1, _type_codes(rows))[order]
    type_labels, type_code = _mask_labels(np.bitwise_or.reduceat(type_bits, starts),
                                          INJECTION_TYPES)
    region = _region_codes(rows)
    region_bits = np.where(region >= 0, np.left_shift(1, np.maximum(region, 0)), 0)[order]
    region_labels, region_code = _mask_labels(np.bitwise_or.reduceat(region_bits, starts),
                                              REGIONS)
    provider = pd.Series(pd.NA, index=range(len(starts)), dtype="string")
    if "provider_id" in rows.columns:
        prov, prov_uniques = pd.factorize(rows["provider_id"])
        prov = prov[order]
        has = prov >= 0
        if has.any():
            sess_has = session[has]
            first_has = np.ones(len(sess_has), dtype=bool)
            first_has[1:] = sess_has[1:] != sess_has[:-1]
            pcodes = np.full(len(starts), -1, dtype=np.int64)
            pcodes[sess_has[first_has]] = prov[has][first_has]
            provider = id_series(prov_uniques, pcodes)
    sess_key = skey[starts]
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, sess_key // span),
            "session_date": date_series(sess_key % span + dmin),
            "injection_types": id_series(type_labels, type_code),
            "region": id_series(region_labels, region_code),
            "lines": lines.astype(np.int64),
            "provider_id": provider,
        }
    )


def sessions_per_patient(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions per patient: DataFrame[patient_id, sessions], patients with ≥ 1 session,
    sorted by patient_id."""
    if len(sessions) == 0:
        return _empty({"patient_id": "string", "sessions": "int64"})
    codes, uniques = pd.factorize(sessions["patient_id"], sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    return pd.DataFrame({"patient_id": id_series(uniques), "sessions": counts.astype(np.int64)})


def repeat_intervals(sessions: pd.DataFrame, short_interval_days: int = 14) -> pd.DataFrame:
    """Repeat intervals: one row per session that has an earlier session of the patient.

    Columns: ``patient_id``, ``session_date``, ``previous_session_date``,
    ``interval_days`` (session_date − previous_session_date, int), ``short_interval``
    (interval_days < ``short_interval_days``).  Sorted by patient then date.
    """
    columns = {
        "patient_id": "string",
        "session_date": "datetime64[s]",
        "previous_session_date": "datetime64[s]",
        "interval_days": "int64",
        "short_interval": "bool",
    }
    if len(sessions) == 0:
        return _empty(columns)
    codes, uniques, days, order = _session_codes(sessions)
    c, d = codes[order], days[order]
    repeat = np.zeros(len(c), dtype=bool)
    repeat[1:] = c[1:] == c[:-1]
    idx = np.flatnonzero(repeat)
    interval = d[idx] - d[idx - 1]
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, c[idx]),
            "session_date": date_series(d[idx]),
            "previous_session_date": date_series(d[idx - 1]),
            "interval_days": interval.astype(np.int64),
            "short_interval": interval < short_interval_days,
        }
    )


# --------------------------------------------------------------------------- limits


def _window_counts(keys: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Number of sorted ``keys`` in ``[k, k + WINDOW_DAYS - 1]`` for each key ``k`` of
    ``starts``."""
    return (np.searchsorted(keys, starts + (WINDOW_DAYS - 1), side="right")
            - np.searchsorted(keys, starts, side="left"))


def limit_windows(events: pd.DataFrame, limits: dict[str, int] | None = None) -> pd.DataFrame:
    """365-day windows over a payer limit, per injection type and spinal region.

    Sessions of a type in a region are distinct (patient, date, type, region); a
    (patient, date, type) whose events carry no region is a session of unknown region.
    For each session date ``d`` of a type the window ``[d, d+364]`` is listed:

    - with ``region`` NA, counting every session date of the type whatever its region,
      when the window holds a session of unknown region and that count is over the limit;
    - with ``region`` R, counting the sessions in R, when the window holds no session of
      unknown region, ``d`` is a session in R, and that count is over the limit.

    Limits: ``limits`` (default ``vocab.injection_limits()``; types missing from it use
    the ``other`` limit).  Any window holding the most sessions can be moved to start on a
    session, so these windows find every patient over a limit.

    Columns: ``patient_id``, ``injection_type``, ``region`` (NA: counted per type),
    ``window_start``, ``window_end`` (last day, ``window_start + 364``), ``sessions``,
    ``limit``.  Sorted by patient, type (``INJECTION_TYPES`` order), region (``REGIONS``
    order, NA last), start.
    """
    columns = {
        "patient_id": "string",
        "injection_type": "string",
        "region": "string",
        "window_start": "datetime64[s]",
        "window_end": "datetime64[s]",
        "sessions": "int64",
        "limit": "int64",
    }
    rows = _injection_rows(events)
    if len(rows) == 0:
        return _empty(columns)
    limit_of = _limit_array(limits)
    n_types, n_regions = len(INJECTION_TYPES), len(REGIONS)
    pcode, uniques = pd.factorize(rows["patient_id"], sort=True)
    day = day_numbers(rows["event_date"])
    dmin = int(day.min())
    # Leave room after each group so d + 364 never reaches the next group.
    span = int(day.max()) - dmin + WINDOW_DAYS + 1
    group = pcode.astype(np.int64) * n_types + _type_codes(rows)  # (patient, type)
    region = _region_codes(rows)
    known = region >= 0
    by_type = group * span + (day - dmin)  # (patient, type, date)
    order = stable_argsort(by_type)
    sorted_keys = by_type[order]
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    starts = np.flatnonzero(first)
    all_keys = sorted_keys[starts]
    unknown_keys = all_keys[~np.logical_or.reduceat(known[order], starts)]
    by_region = np.unique((group[known] * n_regions + region[known]) * span + (day[known] - dmin))
    # Windows counted per type: they hold a session of unknown region.
    total = _window_counts(all_keys, all_keys)
    t_unknown = _window_counts(unknown_keys, all_keys)
    t_group = all_keys // span
    t_over = (t_unknown > 0) & (total > limit_of[t_group % n_types])
    # Windows counted per region: no session of unknown region in them.
    r_count = _window_counts(by_region, by_region)
    r_group = by_region // span
    r_type_group = r_group // n_regions
    r_unknown = _window_counts(unknown_keys, r_type_group * span + by_region % span)
    r_over = (r_unknown == 0) & (r_count > limit_of[r_type_group % n_types])
    if not (t_over.any() or r_over.any()):
        return _empty(columns)
    type_group = np.concatenate([t_group[t_over], r_type_group[r_over]])
    region_code = np.concatenate([np.full(int(t_over.sum()), n_regions, dtype=np.int64),
                                  r_group[r_over] % n_regions])
    start = np.concatenate([all_keys[t_over] % span, by_region[r_over] % span]) + dmin
    count = np.concatenate([total[t_over], r_count[r_over]])
    order = np.lexsort((start, region_code, type_group))
    type_group, region_code, start, count = (
        type_group[order], region_code[order], start[order], count[order]
    )
    tcode = type_group % n_types
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, type_group // n_types),
            "injection_type": id_series(pd.Index(INJECTION_TYPES, dtype="string"), tcode),
            "region": id_series(pd.Index(REGIONS, dtype="string"),
                                np.where(region_code == n_regions, -1, region_code)),
            "window_start": date_series(start),
            "window_end": date_series(start + WINDOW_DAYS - 1),
            "sessions": count.astype(np.int64),
            "limit": limit_of[tcode].astype(np.int64),
        }
    )


def patients_over_limit(windows: pd.DataFrame) -> pd.DataFrame:
    """Patients over a limit, one row per (patient, injection type, region) from
    :func:`limit_windows` (region NA: counted per type, see there).

    Columns: ``patient_id``, ``injection_type``, ``region``, ``max_sessions_365d`` (most
    sessions in one window), ``limit``, ``first_window_start`` (earliest window over the
    limit).  Sorted like the windows.
    """
    columns = {
        "patient_id": "string",
        "injection_type": "string",
        "region": "string",
        "max_sessions_365d": "int64",
        "limit": "int64",
        "first_window_start": "datetime64[s]",
    }
    if len(windows) == 0:
        return _empty(columns)
    keys = ["patient_id", "injection_type", "region"]
    out = (
        windows.groupby(keys, sort=False, observed=True, dropna=False)
        .agg(
            max_sessions_365d=("sessions", "max"),
            limit=("limit", "first"),
            first_window_start=("window_start", "min"),
        )
        .reset_index()
    )
    return out.astype(columns)


# --------------------------------------------------------------------------- time to repeat


def time_to_repeat(sessions: pd.DataFrame, extract: pd.Timestamp | None = None) -> pd.DataFrame:
    """Days from each patient's first to second session (the KM input).

    ``days`` = second − first when ``repeated``; otherwise the patient is censored at the
    extract date and ``days`` = extract − first.  ``extract`` defaults to the latest
    ``session_date`` in ``sessions`` (pass the events' extract date, as
    :func:`injection_summary` does, to censor at the data's real "today").

    Columns: ``patient_id``, ``first_session``, ``second_session`` (NaT when none),
    ``days`` (int), ``repeated`` (bool).
    """
    columns = {
        "patient_id": "string",
        "first_session": "datetime64[s]",
        "second_session": "datetime64[s]",
        "days": "int64",
        "repeated": "bool",
    }
    if len(sessions) == 0:
        return _empty(columns)
    codes, uniques, days, order = _session_codes(sessions)
    c, d = codes[order], days[order]
    first = np.ones(len(c), dtype=bool)
    first[1:] = c[1:] != c[:-1]
    fidx = np.flatnonzero(first)
    nxt = fidx + 1
    repeated = np.zeros(len(fidx), dtype=bool)
    ok = nxt < len(c)
    repeated[ok] = c[nxt[ok]] == c[fidx[ok]]
    if extract is None:
        extract_day = int(d.max())
    else:
        extract_day = int(day_numbers(np.array([pd.Timestamp(extract).to_datetime64()]))[0])
    second = np.where(repeated, d[np.minimum(nxt, len(c) - 1)], 0)
    days_out = np.where(repeated, second - d[fidx], extract_day - d[fidx])
    second_dates = date_series(second).where(repeated)
    return pd.DataFrame(
        {
            "patient_id": id_series(uniques, c[fidx]),
            "first_session": date_series(d[fidx]),
            "second_session": second_dates,
            "days": days_out.astype(np.int64),
            "repeated": repeated,
        }
    )


def repeat_survival(
    sessions: pd.DataFrame, extract: pd.Timestamp | None = None, confidence_level: float = 0.95
) -> KaplanMeier:
    """Kaplan–Meier of days from first to second session, censored at the extract date."""
    ttr = time_to_repeat(sessions, extract)
    return kaplan_meier(ttr["days"], ttr["repeated"], confidence_level)


# --------------------------------------------------------------------------- pain scores


def pain_score_change(
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    before_days: int = 30,
    after_days: int = 60,
) -> pd.DataFrame:
    """Pain-score change around each session.

    ``score_before`` = mean of the patient's pain scores recorded on days
    ``[d − before_days, d − 1]``; ``score_after`` = mean of scores on ``[d + 1, d + after_days]``
    (any event row with a ``pain_score`` counts; scores on the session day itself are
    neither before nor after).  ``change`` = after − before (negative = less pain).
    Only sessions with a score on both sides are listed; empty when no pain score exists.

    Columns: ``patient_id``, ``session_date``, ``score_before``, ``score_after``, ``change``.
    """
    columns = {
        "patient_id": "string",
        "session_date": "datetime64[s]",
        "score_before": "float64",
        "score_after": "float64",
        "change": "float64",
    }
    if len(sessions) == 0 or "pain_score" not in events.columns:
        return _empty(columns)
    scored = events.loc[
        events["pain_score"].notna().to_numpy()
        & events["patient_id"].notna().to_numpy()
        & events["event_date"].notna().to_numpy(),
        ["patient_id", "event_date", "pain_score"],
    ]
    if len(scored) == 0:
        return _empty(columns)
    both = pd.concat(
        [scored["patient_id"].astype("string"), sessions["patient_id"].astype("string")],
        ignore_index=True,
    )
    codes, _ = pd.factorize(both)
    codes = codes.astype(np.int64)
    s_code, x_code = codes[: len(scored)], codes[len(scored) :]
    s_day = day_numbers(scored["event_date"])
    x_day = day_numbers(sessions["session_date"])
    dmin = int(min(s_day.min(), x_day.min())) - before_days - 1
    span = int(max(s_day.max(), x_day.max())) - dmin + after_days + 2
    s_key = s_code * span + (s_day - dmin)
    order = stable_argsort(s_key)
    s_key = s_key[order]
    score = scored["pain_score"].to_numpy(dtype="float64")[order]
    csum = np.concatenate([[0.0], np.cumsum(score)])
    x_key = x_code * span + (x_day - dmin)

    def window_mean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        a = np.searchsorted(s_key, lo, side="left")
        b = np.searchsorted(s_key, hi, side="right")
        n = b - a
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (csum[b] - csum[a]) / np.maximum(n, 1), np.nan)

    before = window_mean(x_key - before_days, x_key - 1)
    after = window_mean(x_key + 1, x_key + after_days)
    keep = ~np.isnan(before) & ~np.isnan(after)
    out = pd.DataFrame(
        {
            "patient_id": sessions["patient_id"].astype("string").to_numpy()[keep],
            "session_date": sessions["session_date"].to_numpy()[keep],
            "score_before": before[keep],
            "score_after": after[keep],
            "change": (after - before)[keep],
        }
    )
    return out.astype(columns).sort_values(["patient_id", "session_date"], ignore_index=True)


# --------------------------------------------------------------------------- summary


def injection_summary(events: pd.DataFrame, extract: pd.Timestamp | None = None) -> dict:
    """The ``injections`` block of the summary CLI.

    Keys: ``patients`` (≥ 1 session), ``sessions``, ``patients_repeated`` (≥ 2 sessions),
    ``median_interval_days`` (median of all repeat intervals, None when there is none),
    ``patients_over_limit`` (distinct patients with any window over a limit),
    ``short_intervals`` (intervals under 14 days).  ``extract`` is accepted for symmetry
    with the other summaries; none of these counts depends on it.
    """
    del extract  # no key depends on the extract date
    sessions = injection_sessions(events)
    per_patient = sessions_per_patient(sessions)
    intervals = repeat_intervals(sessions)
    windows = limit_windows(events)
    median = (
        float(np.median(intervals["interval_days"].to_numpy())) if len(intervals) else None
    )
    return {
        "patients": int(len(per_patient)),
        "sessions": int(len(sessions)),
        "patients_repeated": int((per_patient["sessions"] >= 2).sum()),
        "median_interval_days": median,
        "patients_over_limit": int(windows["patient_id"].nunique()),
        "short_intervals": int(intervals["short_interval"].sum()),
    }


__all__ = [
    "injection_sessions",
    "sessions_per_patient",
    "repeat_intervals",
    "limit_windows",
    "patients_over_limit",
    "time_to_repeat",
    "repeat_survival",
    "pain_score_change",
    "injection_summary",
]
