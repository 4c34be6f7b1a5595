"""Injection response (docs/definitions.md, section 19 "Injection response").

For each injection session (:func:`analytics.injections.injection_sessions`) on day ``d``:

- **Baseline**: the patient's last pain score in the ``baseline_days`` (30) before the
  session, days ``d − 30 … d`` — the session day included, since a score recorded at the
  session is the pre-procedure score; several scores on that last day: their mean.
- **Follow-up scores**: every pain score recorded on days ``d + 1 … d + 42``
  (``follow_up_days``), any event row with a ``pain_score``.
- **Documented response** (sustained relief, the LCD repeat criterion): a baseline > 0
  exists, every follow-up score is at least ``reduction`` (50 %) below it
  (score ≤ baseline × 0.5), and at least one of them is on or after day ``d + 28``
  (``sustained_from_day``).
- ``status``: ``response``; ``no_response`` (a baseline and a follow-up score less than
  50 % below it); ``no_baseline`` (no score > 0 in the baseline days); ``no_follow_up``
  (a baseline, no score that fails, but none on or after day 28).
- ``followed``: the whole follow-up lies on or before the extract date (``d + 42 ≤
  extract``); the shares count followed sessions only.
- **Repeat after no response**: a session of a patient who had an earlier session, whose
  previous session had no documented response (any status but ``response``).

Vectorised over integer keys (patient × span + day) with sorted searches; no per-patient
loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.intervals import date_series, day_numbers, extract_date, id_series, stable_argsort

STATUSES: tuple[str, ...] = ("response", "no_response", "no_baseline", "no_follow_up")
GROUPINGS: tuple[str, ...] = ("injection_types", "region", "provider_id")

RESPONSE_COLUMNS = {
    "patient_id": "string",
    "session_date": "datetime64[s]",
    "injection_types": "string",
    "region": "string",
    "provider_id": "string",
    "baseline_date": "datetime64[s]",
    "baseline_score": "float64",
    "follow_up_scores": "int64",
    "late_scores": "int64",
    "highest_follow_up_score": "float64",
    "followed": "bool",
    "status": "string",
    "response": "bool",
    "previous_session_date": "datetime64[s]",
    "repeat": "bool",
    "repeat_after_no_response": "bool",
}

RATE_COLUMNS = {
    "sessions": "int64",
    "responses": "int64",
    "response_share": "float64",
    "no_response": "int64",
    "no_baseline": "int64",
    "no_follow_up": "int64",
    "repeats": "int64",
    "repeats_after_no_response": "int64",
    "repeat_after_no_response_share": "float64",
}


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})


def injection_responses(
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    extract: pd.Timestamp | None = None,
    baseline_days: int = 30,
    follow_up_days: int = 42,
    sustained_from_day: int = 28,
    reduction: float = 0.5,
) -> pd.DataFrame:
    """The documented response of every session (module docstring), one row per session
    in the order of ``sessions`` (``injections.injection_sessions(events)``).

    ``events``: rows with ``pain_score`` (any technique) are the scores; ``extract``: the
    dataset's extract date (default: the latest event date).  Columns
    :data:`RESPONSE_COLUMNS`: the session's ``patient_id``, ``session_date``,
    ``injection_types``, ``region``, ``provider_id``; ``baseline_date`` and
    ``baseline_score``; ``follow_up_scores`` (scores on days 1–42), ``late_scores`` (on
    days 28–42), ``highest_follow_up_score``; ``followed``; ``status`` (:data:`STATUSES`),
    ``response``; ``previous_session_date`` (the patient's session before, NaT for the
    first), ``repeat``, ``repeat_after_no_response``.
    """
    if len(sessions) == 0:
        return _empty(RESPONSE_COLUMNS)
    extract = extract_date(events, extract)
    n = len(sessions)
    ids = sessions["patient_id"].astype("string")
    has_scores = "pain_score" in events.columns
    scored = events.loc[
        events["pain_score"].notna().to_numpy() & events["patient_id"].notna().to_numpy()
        & events["event_date"].notna().to_numpy()] if has_scores else events.iloc[0:0]
    both = pd.concat([ids, scored["patient_id"].astype("string")], ignore_index=True)
    codes, _ = pd.factorize(both)
    codes = codes.astype(np.int64)
    x_code, s_code = codes[:n], codes[n:]
    x_day = day_numbers(sessions["session_date"])
    s_day = day_numbers(scored["event_date"]) if len(scored) else np.zeros(0, np.int64)
    pad = baseline_days + follow_up_days + 2
    lo = int(min(x_day.min(), s_day.min() if len(s_day) else x_day.min())) - pad
    span = int(max(x_day.max(), s_day.max() if len(s_day) else x_day.max())) - lo + pad
    s_key = s_code * span + (s_day - lo)
    order = stable_argsort(s_key)
    s_key = s_key[order]
    score = scored["pain_score"].to_numpy(dtype="float64")[order] if len(scored) else \
        np.zeros(0)
    x_key = x_code * span + (x_day - lo)

    # Baseline: the last day with a score in [d − baseline_days, d], the mean of that day.
    last = np.searchsorted(s_key, x_key, side="right") - 1
    safe = np.maximum(last, 0)
    has_base = (last >= 0) & (s_key[safe] >= x_key - baseline_days) if len(s_key) else \
        np.zeros(n, dtype=bool)
    base_key = np.where(has_base, s_key[safe] if len(s_key) else 0, 0)
    day_lo = np.searchsorted(s_key, base_key, side="left")
    day_hi = np.searchsorted(s_key, base_key, side="right")
    csum = np.r_[0.0, np.cumsum(score)]
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(has_base, (csum[day_hi] - csum[day_lo])
                            / np.maximum(day_hi - day_lo, 1), np.nan)
    has_base &= baseline > 0

    # Follow-up: scores on [d + 1, d + follow_up_days]; the highest of them; late ones.
    f_lo = np.searchsorted(s_key, x_key + 1, side="left")
    f_hi = np.searchsorted(s_key, x_key + follow_up_days, side="right")
    n_follow = f_hi - f_lo
    late = (np.searchsorted(s_key, x_key + follow_up_days, side="right")
            - np.searchsorted(s_key, x_key + sustained_from_day, side="left"))
    highest = np.full(n, np.nan)
    with_scores = np.flatnonzero(n_follow > 0)
    if len(with_scores):
        owner = np.repeat(with_scores, n_follow[with_scores])
        position = (np.arange(len(owner))
                    - np.repeat(np.cumsum(n_follow[with_scores]) - n_follow[with_scores],
                                n_follow[with_scores]))
        values = score[f_lo[owner] + position]
        starts = np.r_[0, np.cumsum(n_follow[with_scores])[:-1]]
        highest[with_scores] = np.maximum.reduceat(values, starts)
    relieved = highest <= baseline * (1 - reduction) + 1e-9
    fails = has_base & (n_follow > 0) & ~relieved
    response = has_base & (n_follow > 0) & relieved & (late > 0)
    status = np.where(response, 0, np.where(fails, 1, np.where(~has_base, 2, 3)))

    # Previous session of the patient (sessions sorted by patient then date here).
    s_order = stable_argsort(x_key)
    previous = np.full(n, -1, dtype=np.int64)
    same = np.r_[False, x_code[s_order][1:] == x_code[s_order][:-1]]
    previous[s_order[1:][same[1:]]] = s_order[:-1][same[1:]]
    repeat = previous >= 0
    extract_day = int(day_numbers(np.array([extract.to_datetime64()]))[0])

    def column(name: str) -> pd.Series:
        if name in sessions.columns:
            return sessions[name].astype("string").reset_index(drop=True)
        return pd.Series(pd.NA, index=range(n), dtype="string")

    out = pd.DataFrame({
        "patient_id": ids.reset_index(drop=True),
        "session_date": date_series(x_day),
        "injection_types": column("injection_types"),
        "region": column("region"),
        "provider_id": column("provider_id"),
        "baseline_date": date_series(np.where(has_base, base_key % span + lo, 0))
        .where(has_base),
        "baseline_score": np.where(has_base, baseline, np.nan),
        "follow_up_scores": n_follow.astype(np.int64),
        "late_scores": late.astype(np.int64),
        "highest_follow_up_score": highest,
        "followed": x_day + follow_up_days <= extract_day,
        "status": id_series(pd.Index(STATUSES, dtype="string"), status),
        "response": response,
        "previous_session_date": date_series(np.where(repeat, x_day[np.maximum(previous, 0)],
                                                      0)).where(repeat),
        "repeat": repeat,
        "repeat_after_no_response": repeat & ~response[np.maximum(previous, 0)],
    })
    return out.astype(RESPONSE_COLUMNS)


def response_rates(responses: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Shares per group of ``by`` (columns of :data:`GROUPINGS`; empty: the clinic).

    Sessions whose follow-up is complete (``followed``) count: ``sessions``,
    ``responses``, ``response_share`` (responses ÷ sessions), the other statuses
    (``no_response``, ``no_baseline``, ``no_follow_up``); and among all sessions that are
    repeats: ``repeats``, ``repeats_after_no_response`` and its share (the repeat's own
    type, region and physician).  A missing group value is its own group (NA).  Counts
    are raw (small-cell suppression is the results layer's).
    """
    by = list(by)
    unknown = [b for b in by if b not in GROUPINGS]
    if unknown:
        raise ValueError(f"unknown grouping(s): {', '.join(unknown)}")
    r = responses
    followed = r["followed"].to_numpy(dtype=bool)
    status = r["status"].to_numpy(dtype=object, na_value="")
    frame = pd.DataFrame({
        **{b: r[b] for b in by},
        "sessions": followed.astype(np.int64),
        "responses": (followed & (status == "response")).astype(np.int64),
        "no_response": (followed & (status == "no_response")).astype(np.int64),
        "no_baseline": (followed & (status == "no_baseline")).astype(np.int64),
        "no_follow_up": (followed & (status == "no_follow_up")).astype(np.int64),
        "repeats": r["repeat"].to_numpy(dtype=np.int64),
        "repeats_after_no_response": r["repeat_after_no_response"].to_numpy(dtype=np.int64),
    })
    counts = [c for c in frame.columns if c not in by]
    out = (frame.groupby(by, dropna=False, sort=True)[counts].sum().reset_index() if by
           else frame[counts].sum().to_frame().T)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["response_share"] = np.where(out["sessions"] > 0,
                                         out["responses"] / out["sessions"].clip(lower=1),
                                         np.nan)
        out["repeat_after_no_response_share"] = np.where(
            out["repeats"] > 0, out["repeats_after_no_response"] / out["repeats"].clip(lower=1),
            np.nan)
    return out[by + list(RATE_COLUMNS)].astype(RATE_COLUMNS).reset_index(drop=True)


__all__ = ["STATUSES", "GROUPINGS", "injection_responses", "response_rates"]
