"""Per-patient loop implementation of the injection definitions (docs/definitions.md).

Kept in the benchmark only: it is the yardstick the vectorised ``analytics.injections``
must equal (tests/test_injections_reference.py) and beat on speed.  Plain Python: a dict
of patients, sorted lists of dates, nested loops.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pandas as pd

from analytics.schema import INJECTION_TYPES, REGIONS
from analytics.vocab import injection_limits


def _day(value) -> dt.date:
    return pd.Timestamp(value).date()


def _injection_records(events: pd.DataFrame) -> list[dict]:
    out = []
    for rec in events.to_dict("records"):
        if rec.get("technique") != "injection":
            continue
        if pd.isna(rec.get("patient_id")) or pd.isna(rec.get("event_date")):
            continue
        t = rec.get("injection_type")
        t = t if isinstance(t, str) and t in INJECTION_TYPES else "other"
        prov = rec.get("provider_id")
        region = rec.get("region")
        out.append(
            {
                "patient_id": str(rec["patient_id"]),
                "date": _day(rec["event_date"]),
                "type": t,
                "region": region if isinstance(region, str) and region in REGIONS else None,
                "provider": None if prov is None or pd.isna(prov) else str(prov),
            }
        )
    return out


def ref_injection_sessions(events: pd.DataFrame) -> pd.DataFrame:
    by_patient: dict[str, list[dict]] = defaultdict(list)
    for rec in _injection_records(events):
        by_patient[rec["patient_id"]].append(rec)
    rows = []
    for pid in sorted(by_patient):
        days: dict[dt.date, dict] = {}
        for rec in by_patient[pid]:  # input order kept within the patient
            s = days.setdefault(rec["date"], {"types": set(), "regions": set(), "lines": 0,
                                              "provider": None})
            s["types"].add(rec["type"])
            if rec["region"] is not None:
                s["regions"].add(rec["region"])
            s["lines"] += 1
            if s["provider"] is None and rec["provider"] is not None:
                s["provider"] = rec["provider"]
        for day in sorted(days):
            s = days[day]
            rows.append(
                {
                    "patient_id": pid,
                    "session_date": pd.Timestamp(day),
                    "injection_types": "+".join(t for t in INJECTION_TYPES if t in s["types"]),
                    "region": "+".join(r for r in REGIONS if r in s["regions"]) or None,
                    "lines": s["lines"],
                    "provider_id": s["provider"],
                }
            )
    return pd.DataFrame(
        rows,
        columns=["patient_id", "session_date", "injection_types", "region", "lines",
                 "provider_id"],
    )


def _session_dates(sessions: pd.DataFrame) -> dict[str, list[dt.date]]:
    out: dict[str, list[dt.date]] = defaultdict(list)
    for pid, day in zip(sessions["patient_id"], sessions["session_date"], strict=True):
        out[str(pid)].append(_day(day))
    return {pid: sorted(days) for pid, days in out.items()}


def ref_repeat_intervals(sessions: pd.DataFrame, short_interval_days: int = 14) -> pd.DataFrame:
    rows = []
    for pid, days in sorted(_session_dates(sessions).items()):
        for prev, cur in zip(days, days[1:], strict=False):
            gap = (cur - prev).days
            rows.append(
                {
                    "patient_id": pid,
                    "session_date": pd.Timestamp(cur),
                    "previous_session_date": pd.Timestamp(prev),
                    "interval_days": gap,
                    "short_interval": gap < short_interval_days,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "patient_id", "session_date", "previous_session_date", "interval_days",
            "short_interval",
        ],
    )


def ref_limit_windows(events: pd.DataFrame, limits: dict[str, int] | None = None) -> pd.DataFrame:
    """Windows over a limit, from the docs/definitions.md sentence: per type and region; a window
    holding a session of unknown region counts all sessions of the type together."""
    table = injection_limits() if limits is None else dict(limits)
    # (patient, type) -> date -> set of regions of that day's events of the type
    days: dict[tuple[str, str], dict[dt.date, set]] = defaultdict(lambda: defaultdict(set))
    for rec in _injection_records(events):
        regions = days[(rec["patient_id"], rec["type"])][rec["date"]]
        if rec["region"] is not None:
            regions.add(rec["region"])
    rows = []
    for (pid, t) in sorted(days, key=lambda k: (k[0], INJECTION_TYPES.index(k[1]))):
        limit = table.get(t, table.get("other", 4))
        by_date = days[(pid, t)]
        found = []
        for d in sorted(by_date):
            last = d + dt.timedelta(days=364)
            inside = [x for x in by_date if d <= x <= last]
            if any(not by_date[x] for x in inside):
                if len(inside) > limit:
                    found.append((len(REGIONS), d, len(inside)))
                continue
            for i, region in enumerate(REGIONS):
                if region not in by_date[d]:
                    continue
                n = sum(1 for x in inside if region in by_date[x])
                if n > limit:
                    found.append((i, d, n))
        for i, d, n in sorted(found):
            rows.append(
                {
                    "patient_id": pid,
                    "injection_type": t,
                    "region": REGIONS[i] if i < len(REGIONS) else None,
                    "window_start": pd.Timestamp(d),
                    "window_end": pd.Timestamp(d + dt.timedelta(days=364)),
                    "sessions": n,
                    "limit": limit,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["patient_id", "injection_type", "region", "window_start", "window_end",
                 "sessions", "limit"],
    )


def ref_time_to_repeat(sessions: pd.DataFrame, extract=None) -> pd.DataFrame:
    dates = _session_dates(sessions)
    if extract is None:
        extract_day = max((d for days in dates.values() for d in days), default=None)
    else:
        extract_day = _day(extract)
    rows = []
    for pid, days in sorted(dates.items()):
        if len(days) >= 2:
            rows.append((pid, days[0], days[1], (days[1] - days[0]).days, True))
        else:
            rows.append((pid, days[0], None, (extract_day - days[0]).days, False))
    out = pd.DataFrame(
        rows, columns=["patient_id", "first_session", "second_session", "days", "repeated"]
    )
    out["first_session"] = pd.to_datetime(out["first_session"])
    out["second_session"] = pd.to_datetime(out["second_session"])
    return out


def ref_injection_summary(events: pd.DataFrame) -> dict:
    sessions = ref_injection_sessions(events)
    dates = _session_dates(sessions)
    intervals = ref_repeat_intervals(sessions)
    windows = ref_limit_windows(events)
    values = sorted(intervals["interval_days"].tolist())
    if values:
        mid = len(values) // 2
        median = float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    else:
        median = None
    return {
        "patients": len(dates),
        "sessions": len(sessions),
        "patients_repeated": sum(1 for days in dates.values() if len(days) >= 2),
        "median_interval_days": median,
        "patients_over_limit": len(set(windows["patient_id"])),
        "short_intervals": int(sum(1 for v in values if v < 14)),
    }
