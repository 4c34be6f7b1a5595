"""Straightforward per-patient reference implementation of the pathway definitions.

Kept in the benchmark only: it is the slow, obviously-correct version that
``analytics.pathways`` must equal (benchmark comparison and the hypothesis
test ``tests/test_pathways_reference.py``).  Plain Python loops over patients,
eras and days; no numpy tricks.  It computes covered days itself (docs/definitions.md:
``end = end_date + 1`` when given, else ``event_date + days_supply × dispenses``,
else ``event_date + 1``; an open order ends at the earliest of its dispensed supply,
the day after death and the day after the extract date) so it also checks
``analytics.intervals``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from analytics import schema

_EPOCH = pd.Timestamp("1970-01-01")
_TECH_INDEX = {t: i for i, t in enumerate(schema.TECHNIQUES)}


def _day(ts) -> int:
    return (pd.Timestamp(ts) - _EPOCH).days


def _date(day: int) -> pd.Timestamp:
    return _EPOCH + pd.Timedelta(days=day)


def _label(techs: Iterable[str]) -> str:
    return "+".join(sorted(set(techs), key=_TECH_INDEX.__getitem__))


def _rows(events: pd.DataFrame, techniques: Iterable[str] | None, extract) -> dict:
    """Per patient: list of (technique, start_day, end_day) of usable events."""
    if extract is None and len(events) and events["event_date"].notna().any():
        extract = events["event_date"].max()
    extract_day = None if extract is None or pd.isna(extract) else _day(extract)
    selected = None if techniques is None else set(techniques)
    n = len(events)
    cols = events.columns

    def column(name, default):
        return events[name].tolist() if name in cols else [default] * n

    pids, dates, techs = column("patient_id", None), column("event_date", None), \
        column("technique", None)
    supplies, stops = column("days_supply", math.nan), column("end_date", pd.NaT)
    opens, counts = column("open_order", False), column("dispenses", math.nan)
    out: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for pid, date, tech, supply, stop, is_open, count in zip(
        pids, dates, techs, supplies, stops, opens, counts, strict=True
    ):
        if pd.isna(pid) or pd.isna(date) or pd.isna(tech):
            continue
        tech = str(tech)
        if selected is not None and tech not in selected:
            continue
        out[str(pid)].append((tech, *_covered(date, supply, stop, is_open, count, extract_day)))
    return out


def _covered(date, supply, stop, is_open, count, extract_day) -> tuple[int, int]:
    """[start, end) by docs/definitions.md: dispenses (k) multiply the days supply; an open order
    ends at the earliest of k x days supply (or k x 30 with only a count), the day after
    its end date (death), the day after the extract date."""
    start = _day(date)
    has_count = not pd.isna(count) and count >= 1 and count == int(count)
    k = int(count) if has_count else 1
    has_supply = not pd.isna(supply) and supply >= 1
    if not bool(is_open):
        if not pd.isna(stop):
            end = _day(stop) + 1
        elif has_supply:
            end = start + int(supply * k)
        else:
            end = start + 1
        return start, max(end, start + 1)
    ends = []
    if has_supply:
        ends.append(start + int(supply * k))
    elif has_count:
        ends.append(start + 30 * k)
    if not pd.isna(stop):
        ends.append(_day(stop) + 1)
    if extract_day is not None:
        ends.append(extract_day + 1)
    return start, max(min(ends, default=start + 1), start + 1)


def _patient_eras(rows: list[tuple[str, int, int]], gap: int, min_era: int = 0) -> list[list]:
    """[technique, start, end (exclusive), n_events] eras of one patient.

    An event whose last covered day minus its start is below ``min_era`` is
    dropped first; an event joins the current era of its technique when its
    start minus the era's last covered day (end - 1) is at most ``gap``.
    """
    eras = []
    by_tech: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for tech, start, end in rows:
        if (end - 1) - start >= min_era:
            by_tech[tech].append((start, end))
    for tech, spans in by_tech.items():
        current = None
        for start, end in sorted(spans):
            if current is not None and start - (current[2] - 1) <= gap:
                current[2] = max(current[2], end)
                current[3] += 1
            else:
                current = [tech, start, end, 1]
                eras.append(current)
    return eras


def reference_technique_eras(
    events: pd.DataFrame, era_gap_days: int = 30, extract=None, techniques=None,
    min_era_days: int = 0,
) -> pd.DataFrame:
    """Same result as ``analytics.pathways.technique_eras``, by a per-patient loop."""
    records = []
    for pid, rows in sorted(_rows(events, techniques, extract).items()):
        eras = _patient_eras(rows, era_gap_days, min_era_days)
        for tech, start, end, n in sorted(eras, key=lambda e: (e[1], _TECH_INDEX[e[0]])):
            records.append((pid, tech, _date(start), _date(end), end - start, n))
    return pd.DataFrame({
        "patient_id": pd.Series([r[0] for r in records], dtype="string"),
        "technique": pd.Categorical([r[1] for r in records],
                                    categories=list(schema.TECHNIQUES)),
        "start": pd.Series([r[2] for r in records], dtype="datetime64[s]"),
        "end": pd.Series([r[3] for r in records], dtype="datetime64[s]"),
        "duration_days": pd.Series([r[4] for r in records], dtype="int64"),
        "events": pd.Series([r[5] for r in records], dtype="int64"),
    })


def _first_steps(rows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    first: dict[str, int] = {}
    for tech, start, _ in rows:
        if tech not in first or start < first[tech]:
            first[tech] = start
    last_end = max(end for _, _, end in rows)
    dates = sorted(set(first.values()))
    steps = []
    for k, d in enumerate(dates):
        end = dates[k + 1] if k + 1 < len(dates) else last_end
        steps.append((_label(t for t, f in first.items() if f == d), d, end))
    return steps


def _combine(pieces: list[list], window: int, min_post: int) -> tuple[list[list], int]:
    """TreatmentPatterns' combination passes on one patient's [techniques, start, last] pieces.

    Each pass orders the pieces by (start, last day, techniques), takes the
    first piece r that starts before the last day of the piece p just before
    it, and resolves that pair: overlap o = p.last - r.start; a switch when
    o < window unless o equals either piece's duration (last - start), which
    truncates p at r.start; otherwise FRFS when p ends before r (p, p+r, r
    pieces) and LRFS when p ends on or after r (p, r+p, rest of p), LRFS also
    when the next piece has r's very dates.  Then every piece whose duration
    is below ``min_post`` is dropped (counted).  Returns (pieces, dropped).
    """
    dropped = 0
    while True:
        pieces.sort(key=lambda x: (x[1], x[2], _bits(x[0])))
        hit = next((i for i in range(1, len(pieces)) if pieces[i][1] < pieces[i - 1][2]), None)
        if hit is None:
            return pieces, dropped
        p, r = pieces[hit - 1], pieces[hit]
        p_end, r_start, r_end = p[2], r[1], r[2]
        overlap = p_end - r_start
        switch = overlap < window and overlap != r_end - r_start and overlap != p_end - p[1]
        twin = hit + 1 < len(pieces) and pieces[hit + 1][1:] == [r_start, r_end]
        frfs = not switch and p_end < r_end
        lrfs = not switch and (p_end >= r_end or twin)
        added = []
        p[2] = r_start  # switch, FRFS and LRFS all end p on r's start
        if frfs:
            added.append([p[0] | r[0], r_start, p_end])
            r[1] = p_end
        if lrfs:
            r[0] = r[0] | p[0]
            added.append([set(p[0]), r_end, r_start if frfs else p_end])
        pieces.extend(added)
        kept = [x for x in pieces if x[2] - x[1] >= min_post]
        dropped += len(pieces) - len(kept)
        pieces = kept


def _bits(techs: set[str]) -> int:
    return sum(1 << _TECH_INDEX[t] for t in techs)


def _era_steps(
    rows: list[tuple[str, int, int]], gap: int, min_era: int, window: int, min_post: int,
    pathway_filter: str,
) -> tuple[list, int]:
    """Steps (label, start, end exclusive) of one patient in mode eras, and pieces dropped."""
    eras = _patient_eras(rows, gap, min_era)
    pieces = [[{tech}, start, end - 1] for tech, start, end, _ in eras]
    pieces, dropped = _combine(pieces, window, min_post)
    pieces.sort(key=lambda x: (x[1], x[2], _bits(x[0])))
    steps: list[list] = []
    seen: set[int] = set()
    for techs, start, last in pieces:
        label = _label(techs)
        if pathway_filter == "first":
            if _bits(techs) in seen:
                continue
            seen.add(_bits(techs))
        if pathway_filter == "changes" and steps and steps[-1][0] == label:
            steps[-1][2] = max(steps[-1][2], last + 1)
            continue
        steps.append([label, start, last + 1])
    return [tuple(s) for s in steps], dropped


def reference_pathway_steps(
    events: pd.DataFrame,
    mode: str = "first",
    techniques: Iterable[str] = schema.DEFAULT_PATHWAY_TECHNIQUES,
    era_gap_days: int = 30,
    combination_window_days: int = 30,
    max_steps: int = 5,
    extract=None,
    min_era_days: int = 0,
    min_post_combination_days: int = 0,
    pathway_filter: str = "changes",
) -> pd.DataFrame:
    """Same result as ``analytics.pathways.pathway_steps``, by a per-patient loop.

    In mode eras the number of pieces dropped for being shorter than
    ``min_post_combination_days`` is in ``attrs["dropped_pieces"]``.
    """
    records = []
    dropped = 0
    for pid, rows in sorted(_rows(events, techniques, extract).items()):
        if mode == "first":
            steps = _first_steps(rows)
        else:
            steps, n = _era_steps(rows, era_gap_days, min_era_days, combination_window_days,
                                  min_post_combination_days, pathway_filter)
            dropped += n
        for k, (label, start, end) in enumerate(steps[:max_steps], start=1):
            records.append((pid, k, label, _date(start), _date(end)))
    out = pd.DataFrame({
        "patient_id": pd.Series([r[0] for r in records], dtype="string"),
        "step": pd.Series([r[1] for r in records], dtype="int64"),
        "label": pd.Series([r[2] for r in records], dtype="string"),
        "start": pd.Series([r[3] for r in records], dtype="datetime64[s]"),
        "end": pd.Series([r[4] for r in records], dtype="datetime64[s]"),
    })
    if mode == "eras":
        out.attrs["dropped_pieces"] = dropped
    return out


def reference_pathway_counts(steps: pd.DataFrame, patients) -> pd.DataFrame:
    """Same result as ``analytics.pathways.pathway_counts``, by a per-patient loop."""
    cohort = {str(p) for p in patients if not pd.isna(p)}
    paths: dict[str, list[str]] = defaultdict(list)
    for pid, label in zip(steps["patient_id"], steps["label"], strict=True):
        if pid in cohort:
            paths[pid].append(str(label))
    freq: dict[tuple[str, ...], int] = defaultdict(int)
    for path in paths.values():
        freq[tuple(path)] += 1
    if len(cohort) > len(paths):
        freq[()] = len(cohort) - len(paths)
    rows = [
        (" > ".join(p) if p else "no treatment", p, len(p), n, n * 100.0 / len(cohort))
        for p, n in freq.items()
    ]
    rows.sort(key=lambda r: (-r[3], r[0]))
    out = pd.DataFrame(rows, columns=["pathway", "steps", "n_steps", "patients", "percent"])
    out["steps"] = out["steps"].astype(object)
    return out.astype({"pathway": "string", "n_steps": "int64", "patients": "int64",
                       "percent": "float64"})


def reference_concordance(events: pd.DataFrame) -> pd.DataFrame:
    """Same result as ``analytics.pathways.step_therapy_concordance``, by a loop."""
    first: dict[str, dict[str, pd.Timestamp]] = {}
    for pid, date, tech in zip(events["patient_id"], events["event_date"], events["technique"],
                               strict=True):
        if pd.isna(pid):
            continue
        mine = first.setdefault(str(pid), {})
        if pd.isna(date) or pd.isna(tech):
            continue
        tech = str(tech)
        if tech in ("physical_therapy", "narcotic", "injection") and (
            tech not in mine or date < mine[tech]
        ):
            mine[tech] = date
    records = []
    for pid in sorted(first):
        mine = first[pid]
        pt, narc, inj = (mine.get(t) for t in ("physical_therapy", "narcotic", "injection"))
        if narc is None and inj is None:
            ok = True
        elif pt is None:
            ok = False
        else:
            ok = (narc is None or narc >= pt) and (inj is None or inj >= pt)
        records.append((pid, pt, narc, inj, ok))

    def dates(k: int) -> pd.Series:
        return pd.Series([np.datetime64("NaT") if r[k] is None else r[k] for r in records],
                         dtype="datetime64[s]")

    return pd.DataFrame({
        "patient_id": pd.Series([r[0] for r in records], dtype="string"),
        "first_physical_therapy": dates(1),
        "first_narcotic": dates(2),
        "first_injection": dates(3),
        "concordant": pd.Series([r[4] for r in records], dtype="bool"),
    })
