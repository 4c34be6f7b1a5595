"""Treatment pathways: technique eras, per-patient steps and their summaries.

Definitions (docs/definitions.md, sections 6–9):

- **Technique era** (:func:`technique_eras`): per patient and technique, the
  covered intervals ``[start, end)`` of its events (see
  :func:`analytics.intervals.event_intervals`) merged when an event starts no
  more than ``era_gap_days`` after the era's last covered day (``end - 1``):
  TreatmentPatterns' eraCollapseSize arithmetic, so a gap of 30 allows 29
  uncovered days.
- **Pathway, mode "first"** and **mode "eras"** (:func:`pathway_steps`); mode
  "eras" is OHDSI TreatmentPatterns' ``computePathways`` (era collapse,
  combination window with switches, FRFS and LRFS combinations, minimum
  post-combination duration, treatment filter, maximum path length).
- Summaries of the steps: :func:`patient_pathways`, :func:`pathway_counts`,
  :func:`lines_of_therapy`, :func:`time_between_steps`,
  :func:`pathway_transitions` (Sankey), :func:`sunburst_table` (sunburst).
- **Step-therapy concordance** (:func:`step_therapy_concordance`,
  :func:`concordance_by`).

Everything is vectorised: patients are integer-coded (sorted ``pd.factorize``),
days are integer day numbers, and a step's set of techniques is a bitmask in
which bit ``i`` stands for ``schema.TECHNIQUES[i]`` (so a label's components are
always in canonical order).  Every analysis is patient-local.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analytics import schema
from analytics.intervals import (
    event_intervals,
    extract_date,
    merge_intervals,
    stable_argsort,
    to_dates,
)

STEP_SEPARATOR = " > "
"""Separator between the steps of a pathway string."""

NO_TREATMENT = "no treatment"
"""Label of the pathway row of cohort patients without any step (``steps == ()``)."""

END_LABEL = "end"
"""Target of a transition when the pathway stops after the source step."""

UNKNOWN_GROUP = "unknown"
"""Group of patients without a group label in :func:`concordance_by`."""

MODES: tuple[str, ...] = ("first", "eras")

PATHWAY_FILTERS: tuple[str, ...] = ("all", "first", "changes")
"""Values of ``pathway_filter`` (TreatmentPatterns' filterTreatments All / First / Changes)."""

DROPPED_PIECES = "dropped_pieces"
"""Key in ``pathway_steps(...).attrs``: pieces dropped by ``min_post_combination_days``."""
DROPPED_BY_PATIENT = "dropped_pieces_by_patient"
"""Key in ``pathway_steps(...).attrs``: the same count per patient (``{patient_id: n}``,
patients with a dropped piece only), so that any set of patients' count can be told."""

_N_TECH = len(schema.TECHNIQUES)
_TECH_INDEX = {t: i for i, t in enumerate(schema.TECHNIQUES)}

ERA_COLUMNS = ("patient_id", "technique", "start", "end", "duration_days", "events")
STEP_COLUMNS = ("patient_id", "step", "label", "start", "end")
_INTERVAL_COLUMNS = ("event_date", "end_date", "days_supply", "open_order")


# --------------------------------------------------------------------------- helpers


def _label_table() -> np.ndarray:
    """Label string of every bitmask 0 .. 2**len(TECHNIQUES) - 1 (components canonical)."""
    labels = []
    for bits in range(1 << _N_TECH):
        labels.append("+".join(t for i, t in enumerate(schema.TECHNIQUES) if bits >> i & 1))
    return np.array(labels, dtype=object)


_LABELS = _label_table()
_LABEL_ARRAY = pd.array(_LABELS, dtype="string")


def label_of(bits: int) -> str:
    """The step label of a technique bitmask (bit i = ``schema.TECHNIQUES[i]``)."""
    return str(_LABELS[int(bits)])


def bits_of(label: str) -> int:
    """Inverse of :func:`label_of`: ``"muscle_relaxant+narcotic"`` -> bitmask."""
    bits = 0
    for part in label.split("+"):
        bits |= 1 << _TECH_INDEX[part]
    return bits


def _technique_codes(technique: pd.Series) -> np.ndarray:
    """Index into ``schema.TECHNIQUES`` per row (-1 for missing/unknown)."""
    if not (
        isinstance(technique.dtype, pd.CategoricalDtype)
        and list(technique.cat.categories) == list(schema.TECHNIQUES)
    ):
        technique = pd.Series(
            pd.Categorical(technique.astype("object"), categories=list(schema.TECHNIQUES)),
            index=technique.index,
        )
    return technique.cat.codes.to_numpy().astype(np.int64)


def _selected_mask(techniques: Iterable[str] | None) -> np.ndarray:
    """Boolean per technique index: is it in the selected set (None = all)."""
    if techniques is None:
        return np.ones(_N_TECH, dtype=bool)
    techniques = list(techniques)
    unknown = [t for t in techniques if t not in _TECH_INDEX]
    if unknown:
        raise ValueError(f"unknown technique(s): {', '.join(map(str, unknown))}")
    sel = np.zeros(_N_TECH, dtype=bool)
    sel[[_TECH_INDEX[t] for t in techniques]] = True
    return sel


class _Coded:
    """Events reduced to integer arrays: patient code, technique index, start/end days."""

    def __init__(
        self,
        events: pd.DataFrame,
        techniques: Iterable[str] | None,
        extract: pd.Timestamp | None,
    ) -> None:
        if extract is None:
            extract = extract_date(events)
        tech = _technique_codes(events["technique"])
        codes, uniques = pd.factorize(events["patient_id"], sort=True)
        keep = (tech >= 0) & (codes >= 0) & events["event_date"].notna().to_numpy()
        keep &= _selected_mask(techniques)[np.maximum(tech, 0)]
        columns = [c for c in _INTERVAL_COLUMNS if c in events.columns]
        sub = events.loc[keep, columns]
        iv = event_intervals(sub, extract)
        self.patient = codes[keep].astype(np.int64)
        self.tech = tech[keep]
        self.start = iv["start_day"].to_numpy(dtype=np.int64)
        self.end = iv["end_day"].to_numpy(dtype=np.int64)
        self.uniques = pd.array(uniques, dtype="string")
        self.n_patients = len(uniques)

    def patient_ids(self, codes: np.ndarray) -> pd.Series:
        return pd.Series(self.uniques.take(codes), dtype="string")


def _check_days(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0")


def _eras_arrays(
    coded: _Coded, era_gap_days: int, min_era_days: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eras as arrays (patient, tech, start, end, events), sorted by patient, tech, start.

    Events whose last covered day minus start is below ``min_era_days`` are
    dropped first; an event joins the era when ``start - (era end - 1) <=
    era_gap_days``, i.e. ``start - end <= era_gap_days - 1`` on half-open ends.
    """
    _check_days(era_gap_days=era_gap_days, min_era_days=min_era_days)
    patient, tech, start, end = coded.patient, coded.tech, coded.start, coded.end
    if min_era_days > 0:  # every event lasts >= 0 days (end >= start + 1)
        keep = (end - 1) - start >= min_era_days
        patient, tech, start, end = patient[keep], tech[keep], start[keep], end[keep]
    if len(start) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    group = patient * _N_TECH + tech
    lo = int(start.min())
    span = int(start.max()) - lo + 1
    order = stable_argsort(group * span + (start - lo))
    g, s, e = group[order], start[order], end[order]
    run = merge_intervals(g, s, e, era_gap_days - 1)
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    era_group = g[first]
    era_start = s[first]
    era_end = np.maximum.reduceat(e, first)
    n_events = np.diff(np.r_[first, len(run)])
    return era_group // _N_TECH, era_group % _N_TECH, era_start, era_end, n_events


def _empty_steps() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": pd.Series([], dtype="string"),
        "step": pd.Series([], dtype="int64"),
        "label": pd.Series([], dtype="string"),
        "start": pd.Series([], dtype=schema.DATE_DTYPE),
        "end": pd.Series([], dtype=schema.DATE_DTYPE),
    })


def _steps_frame(
    coded: _Coded,
    patient: np.ndarray,
    bits: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    max_steps: int,
) -> pd.DataFrame:
    """Number the steps (rows sorted by patient then time) and cut at ``max_steps``."""
    n = len(patient)
    if n == 0:
        return _empty_steps()
    first_of_patient = np.r_[True, patient[1:] != patient[:-1]]
    idx = np.arange(n)
    step = idx - np.maximum.accumulate(np.where(first_of_patient, idx, 0)) + 1
    keep = step <= max_steps
    return pd.DataFrame({
        "patient_id": coded.patient_ids(patient[keep]),
        "step": step[keep].astype(np.int64),
        "label": pd.Series(_LABEL_ARRAY.take(bits[keep]), dtype="string"),
        "start": to_dates(start[keep]),
        "end": to_dates(end[keep]),
    })


# --------------------------------------------------------------------------- eras


def technique_eras(
    events: pd.DataFrame,
    era_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    techniques: Iterable[str] | None = None,
    min_era_days: int = 0,
) -> pd.DataFrame:
    """Technique eras per patient (docs/definitions.md, section 6).

    Per patient and technique, events (covered days ``[start, end)`` from
    :func:`analytics.intervals.event_intervals`) sorted by start; an event
    joins the era when its start minus the era's last covered day
    (``end - 1``) is at most ``era_gap_days`` (TreatmentPatterns'
    eraCollapseSize: a gap of 30 allows 29 uncovered days between them); the
    era ends at the latest end of its events (supplies do not stack).  Events
    whose last covered day minus start is below ``min_era_days``
    (TreatmentPatterns' minEraDuration) are dropped first.  ``extract`` is the
    extract date through which open orders run (default: the latest
    ``event_date``).  ``techniques`` restricts the techniques (None = all).
    Rows without a technique or a date are ignored.

    Returns one row per era: ``patient_id`` (string), ``technique``
    (categorical, ``schema.TECHNIQUES``), ``start`` and ``end``
    (datetime64[s]; **end is exclusive**: the day after the last covered day),
    ``duration_days`` (end - start: the days from start through the last
    covered day, one more than TreatmentPatterns' durationEra), ``events``
    (events in the era); sorted by patient_id, start, technique (canonical
    order).
    """
    coded = _Coded(events, techniques, extract)
    p, t, s, e, n = _eras_arrays(coded, era_gap_days, min_era_days)
    lo = int(s.min()) if len(s) else 0
    order = np.argsort((p * (int(s.max()) - lo + 1 if len(s) else 1) + (s - lo)) * _N_TECH + t)
    p, t, s, e, n = p[order], t[order], s[order], e[order], n[order]
    return pd.DataFrame({
        "patient_id": coded.patient_ids(p),
        "technique": pd.Categorical.from_codes(t, categories=list(schema.TECHNIQUES)),
        "start": to_dates(s),
        "end": to_dates(e),
        "duration_days": (e - s).astype(np.int64),
        "events": n.astype(np.int64),
    })


# --------------------------------------------------------------------------- steps


def _steps_first(coded: _Coded, max_steps: int) -> pd.DataFrame:
    if len(coded.start) == 0:
        return _empty_steps()
    n_pat = coded.n_patients
    big = np.iinfo(np.int64).max
    first = np.full(n_pat * _N_TECH, big, dtype=np.int64)
    np.minimum.at(first, coded.patient * _N_TECH + coded.tech, coded.start)
    last_end = np.full(n_pat, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_end, coded.patient, coded.end)
    slot = np.flatnonzero(first != big)
    p, t, d = slot // _N_TECH, slot % _N_TECH, first[slot]
    order = np.lexsort((t, d, p))
    p, t, d = p[order], t[order], d[order]
    new = np.r_[True, (p[1:] != p[:-1]) | (d[1:] != d[:-1])]
    head = np.flatnonzero(new)
    bits = np.bitwise_or.reduceat(np.left_shift(1, t), head)
    sp, sd = p[head], d[head]
    # End of a step = start of the patient's next step; last step: last covered day + 1.
    next_same = np.r_[sp[1:] == sp[:-1], False]
    end = np.where(next_same, np.r_[sd[1:], 0], last_end[sp])
    return _steps_frame(coded, sp, bits, sd, end, max_steps)


class _Pieces:
    """Pieces of the eras pathway: patient, technique bitmask, start, last covered day.

    TreatmentPatterns works on inclusive last days ``last = end - 1``: a
    piece's duration is ``last - start`` and pieces that follow each other
    share their boundary day.
    """

    def __init__(
        self, patient: np.ndarray, bits: np.ndarray, start: np.ndarray, last: np.ndarray
    ) -> None:
        self.patient, self.bits, self.start, self.last = patient, bits, start, last

    def __len__(self) -> int:
        return len(self.patient)

    def take(self, index: np.ndarray) -> _Pieces:
        return _Pieces(self.patient[index], self.bits[index], self.start[index], self.last[index])

    @staticmethod
    def concat(parts: list[_Pieces]) -> _Pieces:
        return _Pieces(*(np.concatenate([getattr(p, name) for p in parts])
                         for name in ("patient", "bits", "start", "last")))

    def ordered(self) -> _Pieces:
        """Sorted by patient, start, last day, bitmask (TreatmentPatterns' sort order)."""
        if len(self) == 0:
            return self
        lo = int(min(self.start.min(), self.last.min()))
        span = int(max(self.start.max(), self.last.max())) - lo + 1
        if (int(self.patient.max()) + 1) * span * span * (1 << _N_TECH) < (1 << 62):
            key = ((self.patient * span + (self.start - lo)) * span + (self.last - lo))
            order = stable_argsort(key * (1 << _N_TECH) + self.bits)
        else:
            order = np.lexsort((self.bits, self.last, self.start, self.patient))
        return self.take(order)


def _overlaps(pieces: _Pieces) -> tuple[np.ndarray, np.ndarray]:
    """Per sorted piece: does it start before its predecessor's last day; its cluster id.

    A cluster is a maximal run of a patient's pieces each starting before the
    latest last day of the pieces before it.  Resolving an overlap only
    splits or shortens pieces within their cluster's days, and a piece never
    overlaps one of another cluster, so clusters are resolved independently.
    """
    patient, start, last = pieces.patient, pieces.start, pieces.last
    overlapping = np.zeros(len(pieces), dtype=bool)
    overlapping[1:] = (patient[1:] == patient[:-1]) & (start[1:] < last[:-1])
    return overlapping, merge_intervals(patient, start, last, -1)


def _combination_pass(
    pieces: _Pieces, overlapping: np.ndarray, cluster: np.ndarray, window: int
) -> tuple[_Pieces, _Pieces]:
    """One TreatmentPatterns combination pass over sorted pieces, all clusters at once.

    In every cluster, the first piece ``r`` that starts before the last day
    of the piece ``p`` just before it is resolved with ``p`` (TreatmentPatterns
    resolves the first overlap of a patient per pass; as clusters are
    independent, resolving each cluster's first overlap in the same pass gives
    the same pieces in fewer passes).  With overlap ``o = p.last - r.start``:
    a **switch** when ``o < window`` unless ``o`` equals the duration of ``r``
    (same last day) or of ``p`` (same start): ``p`` is truncated to end on
    ``r.start``.  Otherwise a combination: **FRFS** when ``p`` ends before
    ``r`` — ``p`` to ``r.start``, ``p+r`` from ``r.start`` to ``p.last``,
    ``r`` from ``p.last``; **LRFS** when ``p`` ends on or after ``r`` (or the
    next piece has ``r``'s very dates, TreatmentPatterns' tie rule, which may
    flag a piece both ways) — ``p`` to ``r.start``, ``r`` becomes ``r+p``,
    the rest of ``p`` from ``r.last`` to ``p.last`` (to ``r.start`` when also
    FRFS, i.e. a piece of negative duration).

    Returns (pieces of the patients resolved in this pass, new pieces last,
    not sorted; pieces of the patients without an overlap, finished).
    """
    patient = pieces.patient
    hits = np.flatnonzero(overlapping)
    r = hits[np.r_[True, cluster[hits[1:]] != cluster[hits[:-1]]]] if len(hits) else hits
    first_patient = int(patient.min())
    busy = np.zeros(int(patient.max()) - first_patient + 1, dtype=bool)
    busy[patient[r] - first_patient] = True
    active = busy[patient - first_patient]
    finished = pieces.take(np.flatnonzero(~active))
    work = pieces.take(np.flatnonzero(active))
    r = (np.cumsum(active) - 1)[r]  # positions within the active subset (order kept)
    p = r - 1
    bits, start, last = work.bits, work.start, work.last
    p_start, p_last, p_bits = start[p], last[p], bits[p]
    r_start, r_last, r_bits = start[r], last[r], bits[r]
    overlap = p_last - r_start
    switch = (overlap < window) & (overlap != r_last - r_start) & (overlap != p_last - p_start)
    nxt = np.minimum(r + 1, len(work) - 1)
    twin = ((r + 1 < len(work)) & (work.patient[nxt] == work.patient[r])
            & (start[nxt] == r_start) & (last[nxt] == r_last))
    frfs = ~switch & (p_last < r_last)
    lrfs = ~switch & ((p_last >= r_last) | twin)
    last[p] = r_start
    start[r[frfs]] = p_last[frfs]
    bits[r[lrfs]] |= p_bits[lrfs]
    added_frfs = _Pieces(work.patient[r[frfs]], (p_bits | r_bits)[frfs], r_start[frfs],
                         p_last[frfs])
    added_lrfs = _Pieces(work.patient[r[lrfs]], p_bits[lrfs], r_last[lrfs],
                         np.where(frfs, r_start, p_last)[lrfs])
    return _Pieces.concat([work, added_frfs, added_lrfs]), finished


def _drop_short_before_first_pass(
    pieces: _Pieces, overlapping: np.ndarray, cluster: np.ndarray, min_post: int
) -> tuple[_Pieces, np.ndarray]:
    """Drop short pieces of the clusters that TreatmentPatterns resolves after a filter.

    TreatmentPatterns' first pass resolves a patient's first overlapping
    cluster and then drops the patient's short pieces, so every later cluster
    meets its first pass already filtered.  Returns (pieces, the patient of every dropped
    piece).
    """
    hits = np.flatnonzero(overlapping)
    if len(hits) == 0:
        return pieces, pieces.patient[:0]
    patient = pieces.patient
    first_hit = hits[np.r_[True, patient[hits[1:]] != patient[hits[:-1]]]]
    first_patient = int(patient.min())
    first_cluster = np.full(int(patient.max()) - first_patient + 1, np.iinfo(np.int64).max)
    first_cluster[patient[first_hit] - first_patient] = cluster[first_hit]
    later = cluster > first_cluster[patient - first_patient]
    drop = later & (pieces.last - pieces.start < min_post)
    return pieces.take(np.flatnonzero(~drop)), patient[drop]


def _combine(pieces: _Pieces, window: int, min_post: int) -> tuple[_Pieces, np.ndarray]:
    """TreatmentPatterns' combination passes until no piece overlaps its predecessor.

    After each pass the pieces of the patients resolved in it whose duration
    (``last - start``) is below ``min_post`` are dropped and counted.  A
    patient without an overlap leaves the loop, so the loop runs as many
    passes as the busiest cluster needs, each over the patients still busy.
    Returns (all pieces, sorted; the patient of every dropped piece).
    """
    done: list[_Pieces] = []
    pieces = pieces.ordered()
    overlapping, cluster = _overlaps(pieces)
    pieces, first_dropped = _drop_short_before_first_pass(pieces, overlapping, cluster,
                                                          min_post)
    dropped = [first_dropped]
    while len(pieces):
        overlapping, cluster = _overlaps(pieces)
        work, finished = _combination_pass(pieces, overlapping, cluster, window)
        done.append(finished)
        keep = work.last - work.start >= min_post
        dropped.append(work.patient[~keep])
        pieces = work.take(np.flatnonzero(keep)).ordered()
    return _Pieces.concat(done).ordered() if done else pieces, np.concatenate(dropped)


def _filter_pieces(pieces: _Pieces, pathway_filter: str) -> tuple[_Pieces, np.ndarray]:
    """TreatmentPatterns' filterTreatments on sorted pieces; returns (steps, exclusive ends).

    ``all`` keeps every piece; ``first`` keeps each patient's first piece of
    every distinct technique set; ``changes`` merges consecutive pieces with
    the same technique set into one step (its end: their latest end).
    """
    if pathway_filter == "first" and len(pieces):
        key = pieces.patient * (1 << _N_TECH) + pieces.bits
        order = stable_argsort(key)
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        pieces = pieces.take(np.sort(order[first]))
    if pathway_filter == "changes" and len(pieces):
        patient, bits = pieces.patient, pieces.bits
        head = np.flatnonzero(np.r_[True, (patient[1:] != patient[:-1]) | (bits[1:] != bits[:-1])])
        end = np.maximum.reduceat(pieces.last, head) + 1
        return pieces.take(head), end
    return pieces, pieces.last + 1


def _steps_eras(
    coded: _Coded,
    era_gap_days: int,
    min_era_days: int,
    window: int,
    min_post: int,
    pathway_filter: str,
    max_steps: int,
) -> pd.DataFrame:
    ep, et, es, ee, _ = _eras_arrays(coded, era_gap_days, min_era_days)
    pieces = _Pieces(ep, np.left_shift(1, et), es, ee - 1)
    pieces, dropped = _combine(pieces, window, min_post)
    steps, end = _filter_pieces(pieces, pathway_filter)
    out = _steps_frame(coded, steps.patient, steps.bits, steps.start, end, max_steps)
    out.attrs[DROPPED_PIECES] = int(len(dropped))
    who, count = np.unique(dropped, return_counts=True)
    out.attrs[DROPPED_BY_PATIENT] = dict(zip(coded.patient_ids(who).tolist(),
                                             count.tolist(), strict=True))
    return out


def pathway_steps(
    events: pd.DataFrame,
    mode: str = "first",
    techniques: Iterable[str] = schema.DEFAULT_PATHWAY_TECHNIQUES,
    era_gap_days: int = 30,
    combination_window_days: int = 30,
    max_steps: int = 5,
    extract: pd.Timestamp | None = None,
    *,
    min_era_days: int = 0,
    min_post_combination_days: int = 0,
    pathway_filter: str = "changes",
) -> pd.DataFrame:
    """Per-patient pathway steps (docs/definitions.md, sections 7 and 8).

    Only events of the selected ``techniques`` count (default: all but
    ``other``).  Covered days come from
    :func:`analytics.intervals.event_intervals` with ``extract`` (default: the
    latest ``event_date``) for open orders.  A step's ``label`` is its set of
    techniques joined by ``+`` in ``schema.TECHNIQUES`` order, e.g.
    ``"muscle_relaxant+narcotic"``.  Each patient's steps are cut at
    ``max_steps`` (TreatmentPatterns' maxPathLength).

    **Mode "first"** — which techniques were tried, in which order.  Each
    technique's first ``event_date``; techniques ordered by it; techniques
    first used on the same date form one step.  ``start`` = that date;
    ``end`` (exclusive) = the ``start`` of the patient's next step, and for the
    patient's last step the patient's last covered day + 1 (over the events of
    the selected techniques).  A step cut by ``max_steps`` keeps its end (the
    start of the step that was cut off).  The era and combination parameters
    are not used.

    **Mode "eras"** — OHDSI TreatmentPatterns ``computePathways`` (3.x), on
    TreatmentPatterns' day arithmetic: a piece runs from its start through its
    last covered day ``last = end - 1`` and lasts ``last - start`` days.

    1. Events lasting less than ``min_era_days`` (minEraDuration) are dropped;
       the rest form technique eras (:func:`technique_eras`, ``era_gap_days`` =
       eraCollapseSize).  Separate eras of one technique stay separate.
    2. Combination passes, per patient, with pieces sorted by start, last day
       and technique set: the first piece ``r`` that starts before the last
       day of the piece ``p`` before it is resolved with it.  Overlap
       ``o = p.last - r.start``.  ``o < combination_window_days``
       (combinationWindow) is a **switch** — ``p`` ends on ``r.start``
       (overlapMethod "truncate") — unless ``o`` equals the duration of
       ``r`` or of ``p`` (the two share their last day or their start), which
       TreatmentPatterns makes a combination.  A combination where ``p`` ends
       first (FRFS) gives ``p`` (to ``r.start``), ``p+r`` (``r.start`` to
       ``p.last``), ``r`` (from ``p.last``); where ``r`` ends first or with
       ``p`` (LRFS) it gives ``p`` (to ``r.start``), ``p+r`` (all of ``r``),
       ``p`` (``r.last`` to ``p.last``).  After each pass every piece of the
       patients resolved in it shorter than ``min_post_combination_days``
       (minPostCombinationDuration) is dropped; the number dropped is in
       ``attrs["dropped_pieces"]`` (:data:`DROPPED_PIECES`), per patient in
       ``attrs["dropped_pieces_by_patient"]`` (:data:`DROPPED_BY_PATIENT`).  Unlike
       TreatmentPatterns, which drops across the whole table whenever any
       patient overlaps, a patient without overlaps keeps every piece, so a
       patient's pathway never depends on other patients.  Passes repeat
       until no piece of any patient overlaps.
    3. ``pathway_filter`` (filterTreatments): ``"all"`` keeps every piece,
       ``"first"`` each patient's first piece of every distinct technique
       set, ``"changes"`` merges consecutive pieces with the same technique
       set into one step.  Then ``max_steps``.

    A step's ``start`` is its first day and ``end`` (exclusive) the day after
    its last day, so consecutive pieces of one patient share their boundary
    day, as in TreatmentPatterns.  Two single-day events on the same day do
    not overlap (overlap 0): they are two steps, in canonical technique order.

    Worked example (window 30, eras ``[start, last]``): narcotic 1 Jan – 29
    Feb, muscle relaxant 15 Jan – 31 Mar: o = 29 Feb − 15 Jan = 45 >= 30, the
    narcotic ends first -> ``narcotic`` (1–15 Jan), ``muscle_relaxant+narcotic``
    (15 Jan – 29 Feb), ``muscle_relaxant`` (29 Feb – 31 Mar).  Had the relaxant
    started 10 Feb (o = 19): ``narcotic`` (1 Jan – 10 Feb), ``muscle_relaxant``
    (10 Feb – 31 Mar).  A physical-therapy era 1–10 Feb inside a narcotic era
    1 Jan – 29 Apr: o = 88 >= 30, LRFS -> ``narcotic``,
    ``physical_therapy+narcotic``, ``narcotic``; with window 90 a switch:
    ``narcotic`` (to 1 Feb), ``physical_therapy`` — the rest of the narcotic
    era is cut off.

    Returns ``patient_id`` (string), ``step`` (1-based int), ``label``
    (string), ``start``, ``end`` (datetime64[s], end exclusive), sorted by
    patient_id then step; patients with no step have no row.
    ``attrs["dropped_pieces"]`` is 0 (and ``attrs["dropped_pieces_by_patient"]`` empty) in
    mode "first".
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if pathway_filter not in PATHWAY_FILTERS:
        raise ValueError(f"pathway_filter must be one of {PATHWAY_FILTERS}, not {pathway_filter!r}")
    if max_steps < 1:
        raise ValueError("max_steps must be >= 1")
    _check_days(era_gap_days=era_gap_days, min_era_days=min_era_days,
                combination_window_days=combination_window_days,
                min_post_combination_days=min_post_combination_days)
    coded = _Coded(events, techniques, extract)
    if mode == "first":
        out = _steps_first(coded, max_steps)
        out.attrs[DROPPED_PIECES] = 0
        out.attrs[DROPPED_BY_PATIENT] = {}
        return out
    return _steps_eras(coded, era_gap_days, min_era_days, combination_window_days,
                       min_post_combination_days, pathway_filter, max_steps)


# --------------------------------------------------------------------------- pathways


def _pathway_table(steps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """Distinct pathways: (patient ids, pathway index per patient, step tuples per pathway).

    ``steps`` must be sorted by patient_id then step (as :func:`pathway_steps`
    returns them).
    """
    if len(steps) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), []
    pcodes, pids = pd.factorize(steps["patient_id"], sort=False)
    lcodes, labels = pd.factorize(steps["label"], sort=False)
    n = len(pcodes)
    first = np.r_[True, pcodes[1:] != pcodes[:-1]]
    idx = np.arange(n)
    pos = idx - np.maximum.accumulate(np.where(first, idx, 0))
    row = np.cumsum(first) - 1
    wide = np.full((int(row[-1]) + 1, int(pos.max()) + 1), -1, dtype=np.int64)
    wide[row, pos] = lcodes
    uniq, inverse = np.unique(wide, axis=0, return_inverse=True)
    labels = np.asarray(labels, dtype=object)
    tuples = [tuple(str(labels[c]) for c in r if c >= 0) for r in uniq]
    patient_ids = np.asarray(pids, dtype=object)[pcodes[first]]
    return patient_ids, inverse.reshape(-1), tuples


def patient_pathways(
    steps: pd.DataFrame, patients: Sequence[str] | pd.Index | None = None
) -> pd.DataFrame:
    """One pathway string per patient.

    ``pathway`` joins the patient's step labels with ``" > "``; ``n_steps`` is
    the number of steps.  With ``patients`` (the cohort's patient ids), cohort
    patients without a step get ``pathway == ""`` and ``n_steps == 0``, and
    patients outside the cohort are dropped.  Returns ``patient_id``,
    ``pathway`` (string), ``n_steps`` (int), sorted by patient_id.
    """
    pids, inverse, tuples = _pathway_table(steps)
    strings = np.array([STEP_SEPARATOR.join(t) for t in tuples], dtype=object)
    lengths = np.array([len(t) for t in tuples], dtype=np.int64)
    out = pd.DataFrame({
        "patient_id": pd.Series(pids, dtype="string"),
        "pathway": pd.Series(strings[inverse] if len(tuples) else [], dtype="string"),
        "n_steps": lengths[inverse] if len(tuples) else np.zeros(0, dtype=np.int64),
    })
    if patients is not None:
        cohort = _cohort(patients)
        out = out[_in(out["patient_id"], cohort)]
        missing = cohort[~_in(cohort, out["patient_id"])].reset_index(drop=True)
        out = pd.concat([
            out,
            pd.DataFrame({
                "patient_id": pd.Series(missing, dtype="string"),
                "pathway": pd.Series([""] * len(missing), dtype="string"),
                "n_steps": np.zeros(len(missing), dtype=np.int64),
            }),
        ], ignore_index=True)
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def _cohort(patients: Sequence[str] | pd.Index) -> pd.Series:
    """Distinct cohort patient ids as a string Series."""
    return pd.Series(pd.unique(pd.Series(patients, dtype="string").dropna()), dtype="string")


def _in(ids: pd.Series, cohort: pd.Series) -> np.ndarray:
    """Boolean per id: is it in ``cohort`` (distinct ids); hashed, dtype-agnostic."""
    codes, _ = pd.factorize(pd.concat([cohort, ids.astype("string")], ignore_index=True))
    return codes[len(cohort):] < len(cohort)


def _restrict(steps: pd.DataFrame, patients: Sequence[str] | pd.Index) -> tuple[pd.DataFrame, int]:
    cohort = _cohort(patients)
    return steps[_in(steps["patient_id"], cohort)], len(cohort)


def pathway_counts(steps: pd.DataFrame, patients: Sequence[str] | pd.Index) -> pd.DataFrame:
    """Patients per distinct pathway, over a cohort.

    ``patients`` are the cohort's patient ids (the denominator; steps of other
    patients are ignored).  Returns ``pathway`` (steps joined by ``" > "``;
    ``"no treatment"`` for the row of cohort patients without any step),
    ``steps`` (tuple of labels; ``()`` for no treatment), ``n_steps``,
    ``patients`` and ``percent`` (of the cohort, 0–100).  Sorted by patients
    descending, then pathway string.  The no-treatment row is present when at
    least one cohort patient has no step.
    """
    steps, n_cohort = _restrict(steps, patients)
    pids, inverse, tuples = _pathway_table(steps)
    freq = np.bincount(inverse, minlength=len(tuples)) if len(tuples) else np.zeros(0, np.int64)
    rows = [(STEP_SEPARATOR.join(t), len(t), int(f)) for t, f in zip(tuples, freq, strict=True)]
    untreated = n_cohort - len(pids)
    if untreated > 0:
        rows.append((NO_TREATMENT, 0, untreated))
    return pathway_counts_from(pd.DataFrame(rows, columns=["pathway", "n_steps", "patients"]),
                               n_cohort)


def pathway_counts_from(paths: pd.DataFrame, n_cohort: int) -> pd.DataFrame:
    """The table of :func:`pathway_counts` from its patients per pathway: ``paths`` has one
    row per distinct ``pathway`` string (``" > "``-joined steps, or ``"no treatment"``)
    with its ``n_steps`` and ``patients``, e.g. the sums of :func:`pathway_counts` over
    disjoint groups of the cohort's patients; ``n_cohort`` is the cohort's patients."""
    out = pd.DataFrame({
        "pathway": pd.Series(paths["pathway"].to_numpy(dtype=object), dtype="string"),
        "steps": pd.Series([() if p == NO_TREATMENT else tuple(str(p).split(STEP_SEPARATOR))
                            for p in paths["pathway"]], dtype=object),
        "n_steps": paths["n_steps"].to_numpy(dtype="int64"),
        "patients": paths["patients"].to_numpy(dtype="int64"),
    })
    out["percent"] = out["patients"] * 100.0 / n_cohort if n_cohort else 0.0
    out["percent"] = out["percent"].astype("float64")
    out = out.sort_values(["patients", "pathway"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def lines_of_therapy(steps: pd.DataFrame, patients: Sequence[str] | pd.Index) -> pd.DataFrame:
    """Patients per step number ("line") and label, over a cohort (OHDSI "line" view).

    Returns ``line`` (step number), ``label``, ``patients``, ``pct_of_cohort``
    (of ``len(patients)``) and ``pct_of_treated`` (of cohort patients with at
    least one step), both 0–100; sorted by line, patients descending, label.
    """
    steps, n_cohort = _restrict(steps, patients)
    n_treated = int(steps["patient_id"].nunique())
    out = (
        steps.groupby(["step", "label"], observed=True, sort=False)
        .size()
        .rename("patients")
        .reset_index()
        .rename(columns={"step": "line"})
    )
    out = out.astype({"line": "int64", "label": "string", "patients": "int64"})
    out["pct_of_cohort"] = (out["patients"] * 100.0 / n_cohort) if n_cohort else 0.0
    out["pct_of_treated"] = (out["patients"] * 100.0 / n_treated) if n_treated else 0.0
    out = out.astype({"pct_of_cohort": "float64", "pct_of_treated": "float64"})
    out = out.sort_values(["line", "patients", "label"], ascending=[True, False, True])
    return out.reset_index(drop=True)


def _next_step(steps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of rows that have a next step of the same patient, and those next rows."""
    pid = steps["patient_id"].to_numpy()
    step = steps["step"].to_numpy()
    has_next = np.r_[(pid[1:] == pid[:-1]) & (step[1:] == step[:-1] + 1), False]
    src = np.flatnonzero(has_next)
    return src, src + 1


def time_between_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """Days from the start of step k to the start of step k+1, per transition.

    Returns ``from_step``, ``to_step``, ``transitions`` (patients making the
    transition), ``median_days``, ``q1_days``, ``q3_days`` (numpy linear
    quantiles), one row per k, sorted by from_step.  ``steps`` sorted by
    patient_id then step.
    """
    src, dst = _next_step(steps)
    start = steps["start"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    frame = pd.DataFrame({
        "from_step": steps["step"].to_numpy()[src].astype(np.int64),
        "days": (start[dst] - start[src]).astype("float64"),
    })
    grouped = frame.groupby("from_step", sort=True)["days"]
    out = pd.DataFrame({
        "transitions": grouped.size(),
        "median_days": grouped.median(),
        "q1_days": grouped.quantile(0.25),
        "q3_days": grouped.quantile(0.75),
    }).reset_index()
    out.insert(1, "to_step", out["from_step"] + 1)
    return out.astype({
        "from_step": "int64", "to_step": "int64", "transitions": "int64",
        "median_days": "float64", "q1_days": "float64", "q3_days": "float64",
    })


def pathway_transitions(steps: pd.DataFrame, include_end: bool = True) -> pd.DataFrame:
    """Step-to-step transitions for a Sankey diagram.

    One row per (step k, source label at step k, target label at step k+1)
    with the number of patients.  With ``include_end`` a patient whose
    pathway stops at step k adds a transition to the target ``"end"`` (like
    TreatmentPatterns' "Stopped"), so every node's outflow equals its
    inflow.  Returns ``step``, ``source``, ``target``, ``patients``, sorted
    by step, patients descending, source, target.
    """
    pid = steps["patient_id"].to_numpy()
    step = steps["step"].to_numpy().astype(np.int64)
    label = steps["label"].to_numpy(dtype=object)
    src, dst = _next_step(steps)
    frames = [pd.DataFrame({"step": step[src], "source": label[src], "target": label[dst]})]
    if include_end:
        last = np.flatnonzero(np.r_[pid[1:] != pid[:-1], True]) if len(pid) else src[:0]
        frames.append(pd.DataFrame({
            "step": step[last], "source": label[last], "target": END_LABEL,
        }))
    frame = pd.concat(frames, ignore_index=True).astype({
        "step": "int64", "source": "string", "target": "string",
    })
    out = frame.groupby(["step", "source", "target"], sort=False).size()
    out = out.rename("patients").reset_index()
    out = out.astype({"step": "int64", "source": "string", "target": "string",
                      "patients": "int64"})
    out = out.sort_values(["step", "patients", "source", "target"],
                          ascending=[True, False, True, True])
    return out.reset_index(drop=True)


def sunburst_table(
    counts: pd.DataFrame, max_depth: int = 6, include_untreated: bool = True
) -> pd.DataFrame:
    """Hierarchy for a plotly sunburst (``branchvalues="total"``) from :func:`pathway_counts`.

    One node per distinct step prefix of length 1..``max_depth``: ``id`` is
    the prefix joined by ``" > "`` (so the same label under different
    parents is a different node), ``parent`` the id of the prefix without its
    last step (``""`` at depth 1), ``label`` the last step, ``depth``, and
    ``patients`` = patients whose pathway starts with that prefix (so a node
    counts at least the sum of its children).  ``counts`` must hold numeric
    patients (apply :func:`analytics.results.privacy.merge_rare_pathways` before,
    suppression of the displayed numbers after).  The no-treatment row becomes
    a depth-1 node ``"no treatment"`` when ``include_untreated``.  Sorted by
    depth, patients descending, id.
    """
    totals: dict[tuple[str, ...], int] = {}
    for steps, n in zip(counts["steps"], counts["patients"], strict=True):
        path = tuple(steps) if len(steps) else ((NO_TREATMENT,) if include_untreated else ())
        for d in range(1, min(len(path), max_depth) + 1):
            totals[path[:d]] = totals.get(path[:d], 0) + int(n)
    rows = [
        (STEP_SEPARATOR.join(p), STEP_SEPARATOR.join(p[:-1]), p[-1], len(p), n)
        for p, n in totals.items()
    ]
    out = pd.DataFrame(rows, columns=["id", "parent", "label", "depth", "patients"])
    out = out.astype({"id": "string", "parent": "string", "label": "string",
                      "depth": "int64", "patients": "int64"})
    out = out.sort_values(["depth", "patients", "id"], ascending=[True, False, True])
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- concordance


def step_therapy_concordance(events: pd.DataFrame) -> pd.DataFrame:
    """Step-therapy ("non-invasive first") concordance per patient (docs/definitions.md, section 9).

    A patient is concordant when neither a narcotic nor an injection comes
    before the patient's first physical-therapy date (same day counts as not
    before); patients with neither are concordant; patients with either but
    no physical therapy are not.  Dates are ``event_date``.

    Returns one row per patient in ``events``: ``patient_id`` (string),
    ``first_physical_therapy``, ``first_narcotic``, ``first_injection``
    (datetime64[s], NaT when never), ``concordant`` (bool); sorted by
    patient_id.
    """
    tech = _technique_codes(events["technique"])
    codes, uniques = pd.factorize(events["patient_id"], sort=True)
    n_pat = len(uniques)
    date = events["event_date"]
    ok = (codes >= 0) & date.notna().to_numpy()
    day = np.where(ok, date.to_numpy(dtype="datetime64[D]").astype(np.int64), 0)
    big = np.iinfo(np.int64).max
    firsts = {}
    for name in ("physical_therapy", "narcotic", "injection"):
        m = ok & (tech == _TECH_INDEX[name])
        first = np.full(n_pat, big, dtype=np.int64)
        np.minimum.at(first, codes[m], day[m])
        firsts[name] = first
    pt, narc, inj = firsts["physical_therapy"], firsts["narcotic"], firsts["injection"]
    concordant = (narc >= pt) & (inj >= pt)  # big >= big: neither and no PT -> concordant

    def dates(a: np.ndarray) -> pd.Series:
        return pd.Series(
            np.where(a == big, np.datetime64("NaT"), a.astype("datetime64[D]")).astype(
                schema.DATE_DTYPE
            )
        )

    return pd.DataFrame({
        "patient_id": pd.Series(np.asarray(uniques, dtype=object), dtype="string"),
        "first_physical_therapy": dates(pt),
        "first_narcotic": dates(narc),
        "first_injection": dates(inj),
        "concordant": concordant,
    })


def concordance_by(concordance: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Concordance per group (e.g. attributed physician).

    ``groups`` maps patient_id (index) to a group label; patients of
    ``concordance`` without a label are counted under ``"unknown"``.
    Returns ``group`` (string), ``patients``, ``concordant`` (count) and
    ``percent`` (concordant / patients, 0–100); sorted by patients
    descending, then group.
    """
    mapping = groups[~groups.index.duplicated(keep="first")]
    mapping.index = mapping.index.astype("string")
    group = concordance["patient_id"].astype("string").map(mapping).astype("string")
    frame = pd.DataFrame({
        "group": group.fillna(UNKNOWN_GROUP).to_numpy(dtype=object),
        "concordant": concordance["concordant"].to_numpy(dtype=bool),
    })
    grouped = frame.groupby("group", sort=False)["concordant"]
    out = pd.DataFrame({"patients": grouped.size(), "concordant": grouped.sum()}).reset_index()
    out = out.astype({"group": "string", "patients": "int64", "concordant": "int64"})
    out["percent"] = (out["concordant"] * 100.0 / out["patients"]).astype("float64")
    out = out.sort_values(["patients", "group"], ascending=[False, True])
    return out.reset_index(drop=True)
