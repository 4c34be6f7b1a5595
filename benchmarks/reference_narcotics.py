"""Straightforward per-patient loop implementation of the narcotic definitions (DESIGN.md).

Kept in the benchmark only: it is the yardstick the vectorised ``analytics.narcotics``
must equal (tests/test_narcotics_reference.py) and beat on speed.  Plain Python: one
record at a time, per-patient lists, sets of covered days.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pandas as pd

from analytics.vocab import mme_factors

ONE = dt.timedelta(days=1)


def _day(value) -> dt.date:
    return pd.Timestamp(value).date()


def _num(value) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def ref_extract(events: pd.DataFrame, extract=None) -> dt.date | None:
    if extract is not None:
        return _day(extract)
    days = [_day(v) for v in events["event_date"] if not pd.isna(v)]
    return max(days) if days else None


def ref_covered(rec: dict, extract: dt.date | None) -> tuple[dt.date, dt.date]:
    """[start, end) of one event, written out from the DESIGN.md sentence."""
    start = _day(rec["event_date"])
    end = start + ONE
    supply = _num(rec.get("days_supply"))
    if supply is not None and supply >= 1:
        end = start + dt.timedelta(days=int(supply))
    if rec.get("end_date") is not None and not pd.isna(rec.get("end_date")):
        end = _day(rec["end_date"]) + ONE
    if bool(rec.get("open_order")) and extract is not None:
        end = extract + ONE
    return start, max(end, start + ONE)


def _ungroup(pattern: str) -> str:
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def ref_mme(rec: dict, factors: pd.DataFrame | None = None) -> tuple[str | None, float | None,
                                                                    float | None, str]:
    """(ingredient, strength, mme_per_day, status) of one narcotic record."""
    table = mme_factors() if factors is None else factors
    detail = rec.get("detail")
    detail = None if detail is None or pd.isna(detail) else str(detail)
    match = None
    if detail is not None:
        for row in table.to_dict("records"):
            if re.search(row["pattern"], detail, re.IGNORECASE):
                match = row
                break
    strength = _num(rec.get("strength"))
    if strength is None and match is not None and detail is not None:
        if match["unit"] == "mcg_per_hr":
            m = re.search(r"(\d+(?:\.\d+)?)\s*(mcg|µg|ug|mg)\s*/\s*(?:hr|hour|h)\b", detail,
                          re.IGNORECASE)
            if m:
                strength = float(m.group(1)) * (1000.0 if m.group(2).lower() == "mg" else 1.0)
        elif match["unit"] == "mg":
            # the opioid's component of "A 325 MG / B 5 MG", then the first "<n> MG" after B
            for component in detail.split("/"):
                found = re.search(_ungroup(match["pattern"]), component, re.IGNORECASE)
                if found:
                    m = re.search(r"(\d+(?:\.\d+)?)\s*mg\b", component[found.end():],
                                  re.IGNORECASE)
                    if m:
                        strength = float(m.group(1))
                    break
    ingredient = None if match is None else match["ingredient"]
    factor = None if match is None else _num(match["factor"])
    given = _num(rec.get("mme_per_day"))
    if given is not None:
        return ingredient, strength, given, "ok"
    if match is None or factor is None or match["unit"] == "none":
        return ingredient, strength, None, "no_factor"
    if match["unit"] == "mcg_per_hr":
        if strength is None:
            return ingredient, strength, None, "missing_figures"
        return ingredient, strength, strength * factor, "ok"
    qty, supply = _num(rec.get("quantity")), _num(rec.get("days_supply"))
    if strength is None or qty is None or supply is None or supply <= 0:
        return ingredient, strength, None, "missing_figures"
    return ingredient, strength, strength * qty / supply * factor, "ok"


def _records(events: pd.DataFrame, techniques: tuple[str, ...]) -> list[dict]:
    return [
        rec for rec in events.to_dict("records")
        if rec.get("technique") in techniques
        and not pd.isna(rec.get("patient_id")) and not pd.isna(rec.get("event_date"))
    ]


def ref_narcotic_courses(
    events: pd.DataFrame, course_gap_days: int = 30, extract=None, long_term_days: int = 90
) -> pd.DataFrame:
    ext = ref_extract(events, extract)
    fills: dict[str, list] = defaultdict(list)
    for rec in _records(events, ("narcotic",)):
        start, end = ref_covered(rec, ext)
        _, _, mme, _ = ref_mme(rec)
        fills[str(rec["patient_id"])].append((start, end, mme))
    rows = []
    for pid in sorted(fills):
        courses: list[dict] = []
        for start, end, mme in sorted(fills[pid], key=lambda f: f[0]):
            if courses and (start - courses[-1]["end"]).days <= course_gap_days:
                c = courses[-1]
                c["end"] = max(c["end"], end)
            else:
                c = {"start": start, "end": end, "fills": 0, "mme": [], "without": 0}
                courses.append(c)
            c["fills"] += 1
            if mme is None:
                c["without"] += 1
            else:
                c["mme"].append(mme * (end - start).days)
        for i, c in enumerate(courses, start=1):
            duration = (c["end"] - c["start"]).days
            total = sum(c["mme"]) if c["mme"] else float("nan")
            rows.append(
                {
                    "patient_id": pid,
                    "course": i,
                    "start": pd.Timestamp(c["start"]),
                    "end": pd.Timestamp(c["end"]),
                    "last_day": pd.Timestamp(c["end"] - ONE),
                    "duration_days": duration,
                    "fills": c["fills"],
                    "ongoing": c["end"] - ONE >= ext,
                    "long_term": duration >= long_term_days,
                    "total_mme": total,
                    "avg_mme_per_day": total / duration,
                    "fills_without_mme": c["without"],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "patient_id", "course", "start", "end", "last_day", "duration_days", "fills",
            "ongoing", "long_term", "total_mme", "avg_mme_per_day", "fills_without_mme",
        ],
    )


def ref_relaxant_overlap(events: pd.DataFrame, extract=None, flag_days: int = 30) -> pd.DataFrame:
    ext = ref_extract(events, extract)
    days: dict[str, dict[str, set]] = defaultdict(lambda: {"narcotic": set(),
                                                            "muscle_relaxant": set()})
    for rec in _records(events, ("narcotic", "muscle_relaxant")):
        start, end = ref_covered(rec, ext)
        covered = days[str(rec["patient_id"])][rec["technique"]]
        d = start
        while d < end:
            covered.add(d)
            d += ONE
    rows = []
    for pid in sorted(days):
        n, r = days[pid]["narcotic"], days[pid]["muscle_relaxant"]
        if n and r:
            overlap = len(n & r)
            rows.append({"patient_id": pid, "overlap_days": overlap,
                         "flagged": overlap >= flag_days})
    return pd.DataFrame(rows, columns=["patient_id", "overlap_days", "flagged"])


def ref_active_patients_by_month(events: pd.DataFrame, extract=None) -> pd.DataFrame:
    ext = ref_extract(events, extract)
    months: dict[tuple[int, int], set] = defaultdict(set)
    for rec in _records(events, ("narcotic",)):
        start, end = ref_covered(rec, ext)
        d = start
        while d < end and d <= ext:
            months[(d.year, d.month)].add(str(rec["patient_id"]))
            d += ONE
    if not months:
        return pd.DataFrame({"month": pd.Series([], dtype="datetime64[s]"),
                             "patients": pd.Series([], dtype="int64")})
    y, m = min(months)
    last = max(months)
    rows = []
    while (y, m) <= last:
        rows.append({"month": pd.Timestamp(year=y, month=m, day=1),
                     "patients": len(months.get((y, m), ()))})
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return pd.DataFrame(rows)


def ref_narcotic_summary(events: pd.DataFrame, course_gap_days: int = 30, extract=None) -> dict:
    courses = ref_narcotic_courses(events, course_gap_days, extract)
    durations = sorted(courses["duration_days"].tolist())
    if durations:
        mid = len(durations) // 2
        median = (float(durations[mid]) if len(durations) % 2
                  else (durations[mid - 1] + durations[mid]) / 2)
    else:
        median = None
    return {
        "patients": len(set(courses["patient_id"])),
        "fills": int(courses["fills"].sum()),
        "courses": len(courses),
        "median_course_days": median,
        "long_term_courses": int(courses["long_term"].sum()),
        "ongoing_courses": int(courses["ongoing"].sum()),
        "high_dose_courses": int((courses["avg_mme_per_day"] >= 90).sum()),
        "fills_without_mme": int(courses["fills_without_mme"].sum()),
    }
