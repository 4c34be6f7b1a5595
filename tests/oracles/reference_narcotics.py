"""Per-patient loop implementation of the narcotic definitions (docs/definitions.md).

Kept in the benchmark only: it is the yardstick the vectorised ``analytics.narcotics``
must equal (tests/test_narcotics_reference.py) and beat on speed.  Plain Python: one
record at a time, per-patient lists, sets of covered days.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pandas as pd

from analytics.vocab import all_mme_factors

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


def _dispenses(rec: dict) -> int:
    k = _num(rec.get("dispenses"))
    return int(k) if k is not None and k >= 1 and k == int(k) else 1


def _flag(rec: dict, name: str) -> bool:
    value = rec.get(name)
    return bool(value) and not pd.isna(value)


def ref_covered(rec: dict, extract: dt.date | None) -> tuple[dt.date, dt.date]:
    """[start, end) of one event, written out from the docs/definitions.md sentences."""
    start = _day(rec["event_date"])
    k = _dispenses(rec)
    supply = _num(rec.get("days_supply"))
    has_supply = supply is not None and supply >= 1
    has_end = rec.get("end_date") is not None and not pd.isna(rec.get("end_date"))
    if not _flag(rec, "open_order"):
        if has_end:
            end = _day(rec["end_date"]) + ONE
        elif has_supply:
            end = start + dt.timedelta(days=int(supply * k))
        else:
            end = start + ONE
        return start, max(end, start + ONE)
    candidates = []
    if has_supply:
        candidates.append(start + dt.timedelta(days=int(supply * k)))
    elif _num(rec.get("dispenses")) is not None and _dispenses(rec) == _num(rec["dispenses"]):
        candidates.append(start + dt.timedelta(days=30 * k))
    if has_end:
        candidates.append(_day(rec["end_date"]) + ONE)
    if extract is not None:
        candidates.append(extract + ONE)
    end = min(candidates) if candidates else start + ONE
    return start, max(end, start + ONE)


_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug)\b(?!\s*/\s*(?:hr|hour|h)\b)"
                       r"(?:\s*(?:/|per|in)\s*(\d+(?:\.\d+)?)?\s*ml\b)?", re.IGNORECASE)


def _ref_strength(detail: str, name_start: int, name_end: int) -> float | None:
    """The opioid's mg per unit: the strength list after its name; a list of several takes
    the entry in the opioid's position among the names before it; liquids per mL."""
    text = detail
    while True:  # "5/325 mg" -> "5 mg/325 mg"
        changed = re.sub(r"(\d+(?:\.\d+)?)\s*/\s*(?=(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug)\b)",
                         lambda m: f"{m.group(1)} {m.group(3)}/", text, count=1,
                         flags=re.IGNORECASE)
        if changed == text:
            break
        text = changed
    found = []
    for m in _STRENGTH.finditer(text):
        mg = float(m.group(1)) / (1000.0 if m.group(2).lower() != "mg" else 1.0)
        vol = (float(m.group(3)) if m.group(3) else 1.0) if m.group(0).lower().endswith(
            "ml") else None
        found.append([m.start(), m.end(), mg, vol])
    vols = [f[3] for f in found if f[3] is not None]
    for i, f in enumerate(found):
        if f[3] is None and vols:
            after = [g[3] for g in found[i + 1:] if g[3] is not None]
            f[3] = after[0] if after else vols[-1]
    after_name = [i for i, f in enumerate(found) if f[0] >= name_end]
    if not after_name:
        return None
    i = after_name[0]
    group = [found[i]]
    j = i + 1
    while j < len(found) and text[found[j - 1][1]:found[j][0]].strip() == "/":
        group.append(found[j])
        j += 1
    position = 0
    if len(group) > 1:
        names = text[found[i - 1][1] if i > 0 else 0:name_start]
        names = re.sub(r"\bUSP\b|\bC-?(?:II|III|IV|V)\b", " ", names, flags=re.IGNORECASE)
        pieces = re.split(r"\s*(?:,|/|&|\+|\band\b|\bwith\b)\s*", names,
                          flags=re.IGNORECASE)
        position = sum(1 for piece in pieces if piece.strip())
        if position >= len(group):
            return None
    _, _, mg, vol = group[position]
    return mg / vol if vol else mg


def ref_mme(rec: dict, factors: pd.DataFrame | None = None, extract: dt.date | None = None
            ) -> tuple[str | None, float | None, float | None, str, str | None]:
    """(ingredient, strength, mme_per_day, status, factor_source) of one narcotic record."""
    table = all_mme_factors() if factors is None else factors
    detail = rec.get("detail")
    detail = None if detail is None or pd.isna(detail) else str(detail)
    match, name = None, None
    if detail is not None:
        for row in table.to_dict("records"):
            name = re.search(row["pattern"], detail, re.IGNORECASE)
            if name:
                match = row
                break
    strength = _num(rec.get("strength"))
    if strength is None and match is not None:
        if match["unit"] == "mcg_per_hr":
            m = re.search(r"(\d+(?:\.\d+)?)\s*(mcg|µg|ug|mg)\s*/\s*(?:hr|hour|h)\b", detail,
                          re.IGNORECASE)
            if m:
                strength = float(m.group(1)) * (1000.0 if m.group(2).lower() == "mg" else 1.0)
        else:
            strength = _ref_strength(detail, name.start(), name.end())
    ingredient = None if match is None else match["ingredient"]
    source = None if match is None else match["factor_source"]
    factor = None if match is None else _num(match["factor"])
    given = _num(rec.get("mme_per_day"))
    if given is not None:
        return ingredient, strength, given, "ok", "export"
    if match is None:
        return ingredient, strength, None, "unknown_ingredient", source
    if factor is None or match["unit"] == "none":
        return ingredient, strength, None, "no_factor", source
    if strength is None:
        return ingredient, strength, None, "missing_strength", source
    if match["unit"] == "mcg_per_hr":
        return ingredient, strength, strength * factor, "ok", source
    qty, supply = _num(rec.get("quantity")), _num(rec.get("days_supply"))
    if qty is None or qty <= 0:
        return ingredient, strength, None, "missing_quantity", source
    if supply is not None and supply > 0:
        return ingredient, strength, strength * qty / supply * factor, "ok", source
    real_end = (rec.get("end_date") is not None and not pd.isna(rec.get("end_date"))
                and not _flag(rec, "ends_at_death") and not _flag(rec, "open_order"))
    if real_end:
        start, end = ref_covered(rec, extract)
        days = (end - start).days
        return (ingredient, strength, strength * qty * _dispenses(rec) / days * factor,
                "estimated", source)
    return ingredient, strength, None, "missing_days", source


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
        _, _, mme, status, _ = ref_mme(rec, extract=ext)
        fills[str(rec["patient_id"])].append(
            (start, end, mme, status, _dispenses(rec), _flag(rec, "ends_at_death"))
        )
    rows = []
    for pid in sorted(fills):
        courses: list[dict] = []
        for start, end, mme, status, k, death in sorted(fills[pid], key=lambda f: f[0]):
            if courses and (start - courses[-1]["end"]).days <= course_gap_days:
                c = courses[-1]
                c["end"] = max(c["end"], end)
            else:
                c = {"start": start, "end": end, "fills": 0, "events": 0, "mme": [],
                     "days": set(), "without": 0, "estimated": 0, "members": []}
                courses.append(c)
            c["fills"] += k
            c["events"] += 1
            c["members"].append((end, death))
            if mme is None:
                c["without"] += k
            else:
                c["mme"].append(mme * (end - start).days)
                d = start
                while d < end:
                    c["days"].add(d)
                    d += ONE
                if status == "estimated":
                    c["estimated"] += k
        for i, c in enumerate(courses, start=1):
            duration = (c["end"] - c["start"]).days
            by_death = any(death and end == c["end"] for end, death in c["members"])
            ongoing = not by_death and c["end"] - ONE >= ext
            ended_by = "death" if by_death else "extract" if ongoing else "gap"
            total = sum(c["mme"]) if c["mme"] else float("nan")
            days = len(c["days"])
            rows.append(
                {
                    "patient_id": pid,
                    "course": i,
                    "start": pd.Timestamp(c["start"]),
                    "end": pd.Timestamp(c["end"]),
                    "last_day": pd.Timestamp(c["end"] - ONE),
                    "duration_days": duration,
                    "fills": c["fills"],
                    "events": c["events"],
                    "long_term": duration >= long_term_days,
                    "ongoing": ongoing,
                    "ended_by": ended_by,
                    "censored": ended_by != "gap",
                    "avg_mme_per_day": total / days if days else float("nan"),
                    "mme_estimated": c["estimated"] > 0,
                    "total_mme": total,
                    "mme_days": days,
                    "fills_without_mme": c["without"],
                    "fills_mme_estimated": c["estimated"],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "patient_id", "course", "start", "end", "last_day", "duration_days", "fills",
            "events", "long_term", "ongoing", "ended_by", "censored", "avg_mme_per_day",
            "mme_estimated", "total_mme", "mme_days", "fills_without_mme",
            "fills_mme_estimated",
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
        "events": int(courses["events"].sum()),
        "courses": len(courses),
        "median_course_days": median,
        "long_term_courses": int(courses["long_term"].sum()),
        "ongoing_courses": int(courses["ongoing"].sum()),
        "courses_ended_by_death": int((courses["ended_by"] == "death").sum()),
        "high_dose_courses": int((courses["avg_mme_per_day"] >= 90).sum()),
        "courses_without_mme": int(courses["avg_mme_per_day"].isna().sum()),
        "courses_mme_estimated": int(courses["mme_estimated"].sum()),
        "fills_without_mme": int(courses["fills_without_mme"].sum()),
        "fills_mme_estimated": int(courses["fills_mme_estimated"].sum()),
    }
