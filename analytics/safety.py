"""Opioid safety measures (docs/definitions.md, section 17 "Opioid safety").

Every measure reads a patient's *full* history (no lookback cut: pass
``Population.full_history(events)``), every threshold is a field of
:class:`SafetyParameters`, and everything is vectorised over integer-coded patients and
day numbers (no per-patient Python loop).

**Days and fills.** A row covers ``[start, end)`` as everywhere
(:func:`analytics.intervals.interval_arrays`).  A row standing for ``k`` dispenses
(``dispenses``) counts as ``k`` fills, dispensed on the days ``start + ⌊i × (end − start) / k⌋``
(``i = 0 … k−1``: a refill is dispensed when the previous supply runs out); implied
dispenses after the extract date have not happened and are not counted.  The *daily dose*
of a day is the sum of the MME/day (:func:`analytics.narcotics.fill_mme`) of the narcotic
rows covering it (a fill without an MME adds nothing); a *mean daily dose* over a span of
days is the sum of the daily doses ÷ the number of days in the span (uncovered days count
as 0).

**Units.** HDO, UOP, COB, triple therapy, COU, tapers and abrupt stops are computed per
*patient-window*: a calendar year (``patient_years``) or the rolling 12 months ending with
a month (``patient_months``: the monthly trend; the window ending in December is the
calendar year).  A window exists for every patient with a narcotic-covered day in it, up to
the window holding the extract date (``partial`` when the data do not cover the whole
window).  A patient-window is credited to every physician (``provider_id``) who prescribed
the patient a narcotic dispensed in the window.  Naloxone is per narcotic course
(:func:`analytics.narcotics.narcotic_courses`), dated by the course start and credited to
every physician who prescribed one of its fills.

Measures (``MEASURES``: denominator -> numerator):

- ``hdo`` (HEDIS HDO): ≥ 2 narcotic fills on different dates and ≥ 15 narcotic-covered days
  in the window (``opioid_users``), and total MME ÷ days from the first dispensing in the
  window to the last covered day in the window ≥ 90.  Total MME = the sum of the daily
  doses over those days, so coverage is clipped to the window: a fill that starts in the
  year and runs past 31 December counts up to 31 December only, and the treatment period
  ends there too.
- ``uop_prescribers`` / ``uop_pharmacies`` / ``uop_both`` (HEDIS UOP): among windows with
  ≥ 2 narcotic fills and ≥ 15 covered days, ≥ 4 distinct prescribers / pharmacies / both
  among the window's narcotic dispenses.  Without any ``pharmacy_id`` on narcotic rows
  the pharmacy rates cannot be computed (NA, with :attr:`SafetyMeasures.pharmacy_note`).
- ``cou_15_of_30`` / ``cou_31_of_62`` (HEDIS COU): the first *new episode* starting in the
  window — a narcotic dispensing with no narcotic-covered day in the 180 days before it,
  all of them inside the data — that can be followed 30 (62) days (before the extract
  date and the patient's death); numerator: ≥ 15 covered days in its first 30 days (≥ 31
  in its first 62).
- ``cob`` (PQA COB): ``opioid_users`` with ≥ 2 benzodiazepine fills on different dates and
  ≥ 30 days covered by both in the window.  ``triple_therapy``: ``opioid_users`` with a day
  covered by a narcotic, a benzodiazepine and a muscle relaxant; ``triple_carisoprodol``:
  the same with carisoprodol as the relaxant (``data/flagged_muscle_relaxants.csv``).
- ``naloxone`` (CDC 2022 recommendation 8): a course is *indicated* when its daily dose
  reaches 50 MME on some day, or a day is covered by it and a benzodiazepine, or the
  patient has an opioid-use-disorder or overdose diagnosis (``diagnoses`` kind
  ``opioid_use_disorder``) or an ``oud_treatment`` fill dated on or before the course's
  last day; numerator: a single-ingredient naloxone fill (``drug_class`` naloxone) dated
  from 30 days before the course start to its last day.
- ``taper`` / ``rapid_taper`` / ``abrupt_stop`` (Agnoli, JAMA 2021): see
  :func:`taper_courses`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from analytics import narcotics
from analytics.intervals import (
    date_series,
    day_numbers,
    dispense_counts,
    extract_date,
    id_series,
    interval_arrays,
    stable_argsort,
)
from analytics.schema import id_positions
from analytics.vocab import load_table

FLAGGED_RELAXANTS_TABLE = "flagged_muscle_relaxants.csv"
OUD_KIND = "opioid_use_disorder"
NO_PHARMACY_NOTE = (
    "The pharmacy rates cannot be computed: the export has no pharmacy column on narcotic "
    "fills."
)
_TOLERANCE = 1e-9  # dose comparisons: MME arithmetic in floating point


@dataclass(frozen=True)
class SafetyParameters:
    """Every threshold of the opioid-safety measures, with PainPath's defaults."""

    min_fill_dates: int = 2
    """HDO/COB/triple denominator: narcotic fills on different dates in the window."""
    min_fills: int = 2
    """UOP denominator: narcotic fills (any dates) in the window."""
    min_covered_days: int = 15
    """HDO/UOP/COB/triple denominator: narcotic-covered days in the window."""
    high_dose_mme: float = 90.0
    """HDO: average MME/day over the treatment period."""
    multiple_providers: int = 4
    """UOP: distinct prescribers / pharmacies."""
    washout_days: int = 180
    """COU: days without narcotic coverage before a new episode."""
    cou_short_window_days: int = 30
    cou_short_min_days: int = 15
    cou_long_window_days: int = 62
    cou_long_min_days: int = 31
    min_benzodiazepine_fill_dates: int = 2
    """COB: benzodiazepine fills on different dates in the window."""
    cob_overlap_days: int = 30
    """COB: days covered by a narcotic and a benzodiazepine in the window."""
    triple_min_days: int = 1
    """Triple therapy: days covered by a narcotic, a benzodiazepine and a muscle relaxant."""
    naloxone_mme: float = 50.0
    """Naloxone indication: the course's daily dose on some day."""
    naloxone_lookback_days: int = 30
    """Naloxone: a fill this many days before the course start still counts."""
    month_days: int = 30
    """Tapers: length of a 'month' of the baseline and follow-up grid."""
    baseline_months: int = 12
    stable_mme: float = 50.0
    """Tapers: mean daily dose over the baseline for stable long-term use."""
    taper_window_months: int = 2
    taper_windows: int = 6
    """Tapers: overlapping windows (one month apart) over the follow-up."""
    taper_reduction: float = 0.15
    rapid_taper_reduction: float = 0.40
    """Rapid taper (PainPath's own threshold): a fall of more than this within
    ``rapid_taper_days``."""
    rapid_taper_days: int = 30
    abrupt_stop_mme: float = 50.0
    """Abrupt stop: mean daily dose over the course's last ``abrupt_stop_dose_days``."""
    abrupt_stop_dose_days: int = 30
    abrupt_stop_min_course_days: int = 90
    """Abrupt stop: only courses of at least this many days (long-term)."""
    course_gap_days: int = 30
    """Narcotic courses (naloxone, tapers): as in the narcotic-course definition."""
    trend_window_months: int = 12
    """Monthly trend: each month shows the measure over the window of this many months
    ending with it."""

    @property
    def follow_up_days(self) -> int:
        """Taper follow-up: ``(taper_windows − 1 + taper_window_months) × month_days``
        (7 months of 30 days by default)."""
        return (self.taper_windows - 1 + self.taper_window_months) * self.month_days

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


MEASURES: dict[str, tuple[str, str, str]] = {
    "hdo": ("opioid_users", "hdo", "High dosage (HEDIS HDO): average ≥ 90 MME/day"),
    "uop_prescribers": ("uop_denominator", "uop_prescribers",
                        "Multiple prescribers (HEDIS UOP): ≥ 4 prescribers"),
    "uop_pharmacies": ("uop_denominator", "uop_pharmacies",
                       "Multiple pharmacies (HEDIS UOP): ≥ 4 pharmacies"),
    "uop_both": ("uop_denominator", "uop_both",
                 "Multiple prescribers and pharmacies (HEDIS UOP): ≥ 4 of both"),
    "cou_15_of_30": ("cou_30_evaluable", "cou_15_of_30",
                     "Risk of continued use (HEDIS COU): ≥ 15 of the first 30 days"),
    "cou_31_of_62": ("cou_62_evaluable", "cou_31_of_62",
                     "Risk of continued use (HEDIS COU): ≥ 31 of the first 62 days"),
    "cob": ("opioid_users", "cob", "Opioid + benzodiazepine (PQA COB): ≥ 30 days"),
    "triple_therapy": ("opioid_users", "triple_therapy",
                       "Triple therapy: opioid + benzodiazepine + muscle relaxant"),
    "triple_carisoprodol": ("opioid_users", "triple_carisoprodol",
                            "Triple therapy with carisoprodol"),
    "naloxone": ("indicated", "naloxone",
                 "Naloxone dispensed when indicated (CDC 2022 recommendation 8)"),
    "taper": ("stable_long_term", "taper",
              "Taper: ≥ 15 % below a stable ≥ 50 MME/day baseline (Agnoli 2021)"),
    "rapid_taper": ("taper", "rapid_taper",
                    "Rapid taper: > 40 % fall within 30 days (PainPath's own threshold)"),
    "abrupt_stop": ("stop_from_high_dose", "abrupt_stop",
                    "Abrupt stop from ≥ 50 MME/day without a taper"),
}
"""measure -> (denominator column, numerator column, label).  ``naloxone`` reads
:attr:`SafetyMeasures.naloxone_courses`; every other measure the patient-window tables."""

COURSE_MEASURES: tuple[str, ...] = ("naloxone",)
PHARMACY_MEASURES: tuple[str, ...] = ("uop_pharmacies", "uop_both")
PERIODS: tuple[str, ...] = ("year", "month")


# --------------------------------------------------------------------------- small helpers


def _flags(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    """``frame[column] == value`` as a bool array (a code comparison on categoricals)."""
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return (frame[column] == value).to_numpy(dtype=bool, na_value=False)


def _unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct int64 keys (a sort, faster here than numpy's hash-based unique)."""
    keys = np.sort(np.asarray(keys, dtype=np.int64))
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _codes_in(values: pd.Series, uniques: pd.Index) -> np.ndarray:
    """Position of each value in ``uniques`` (−1 when absent or missing)."""
    return id_positions(values, uniques)


def _entity_codes(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Index]:
    if column not in rows.columns:
        return np.full(len(rows), -1, dtype=np.int64), pd.Index([], dtype="string")
    codes, uniques = pd.factorize(rows[column].astype("string"), sort=True)
    return codes.astype(np.int64), pd.Index(uniques, dtype="string")


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, 0-based position) for ``counts[i]`` copies of each owner ``i``."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, position


def _month_of_day(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _day_of_month(months: np.ndarray) -> np.ndarray:
    return np.asarray(months, dtype="datetime64[M]").astype("datetime64[D]").astype(np.int64)


# --------------------------------------------------------------------------- timeline


_NARCOTIC, _BENZO, _RELAXANT, _CARISOPRODOL = range(4)
_FIELD_BITS = 16


class _Timeline:
    """Per-patient step functions of the day, and their running integrals.

    Sweep over the covered intervals of narcotic, benzodiazepine, muscle-relaxant and
    carisoprodol rows: after every boundary the number of active rows of each class and
    the summed daily dose (integer micro-MME, exact).  ``integral(name, keys)`` gives, for
    query keys ``patient × span + day``, the number of days before ``day`` (of the same
    patient) with the property ``name`` — ``N`` (narcotic), ``NB``, ``NBR``, ``NBC`` — or,
    for ``MME``, the summed daily doses before ``day`` in micro-MME.
    """

    def __init__(self, key_start: np.ndarray, key_end: np.ndarray, cls: np.ndarray,
                 extra_cls: np.ndarray, rate: np.ndarray, span: int) -> None:
        unit = np.left_shift(np.int64(1), (_FIELD_BITS * cls).astype(np.int64))
        unit = unit + np.where(extra_cls >= 0,
                               np.left_shift(np.int64(1),
                                             (_FIELD_BITS * np.maximum(extra_cls, 0))),
                               0)
        keys = np.concatenate([key_start, key_end])
        delta = np.concatenate([unit, -unit])
        drate = np.concatenate([rate, -rate])
        order = stable_argsort(keys)
        keys = keys[order]
        packed = np.cumsum(delta[order])
        running_rate = np.cumsum(drate[order])
        last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, dtype=bool)
        self.span = span
        self.key = keys[last]
        packed = packed[last]
        self.rate = running_rate[last]
        mask = (1 << _FIELD_BITS) - 1
        active = [((packed >> (_FIELD_BITS * c)) & mask) > 0 for c in range(4)]
        n = len(self.key)
        length = np.zeros(n, dtype=np.int64)
        if n:
            length[:-1] = self.key[1:] - self.key[:-1]
        self.length = length
        self.patient = self.key // span
        first = np.r_[True, self.patient[1:] != self.patient[:-1]] if n else np.zeros(0, bool)
        self._first_index = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else \
            np.zeros(0, dtype=np.int64)
        narcotic = active[_NARCOTIC]
        self.indicator = {
            "N": narcotic,
            "NB": narcotic & active[_BENZO],
            "NBR": narcotic & active[_BENZO] & active[_RELAXANT],
            "NBC": narcotic & active[_BENZO] & active[_CARISOPRODOL],
        }
        self.slope = {name: ind.astype(np.int64) for name, ind in self.indicator.items()}
        self.slope["MME"] = np.where(narcotic, self.rate, 0)
        self.cumulative = {}
        for name, slope in self.slope.items():
            running = np.cumsum(slope * length)
            before = np.r_[0, running[:-1]] if n else running
            self.cumulative[name] = before - before[self._first_index]

    def integrals(self, names: tuple[str, ...], keys: np.ndarray) -> list[np.ndarray]:
        """The running integrals of ``names`` at each query key (0 before the patient's
        first boundary); one search for all of them."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(self.key) == 0:
            return [np.zeros(len(keys), dtype=np.int64) for _ in names]
        i = np.searchsorted(self.key, keys, side="right") - 1
        safe = np.maximum(i, 0)
        same = (i >= 0) & (self.patient[safe] == keys // self.span)
        offset = keys - self.key[safe]
        return [np.where(same, self.cumulative[n][safe] + offset * self.slope[n][safe], 0)
                for n in names]

    def integral(self, name: str, keys: np.ndarray) -> np.ndarray:
        """:meth:`integrals` of one name."""
        return self.integrals((name,), keys)[0]

    def segment_owner(self, start_keys: np.ndarray, end_keys: np.ndarray) -> np.ndarray:
        """For every segment, the index of the range ``[start_keys, end_keys)`` (sorted,
        disjoint) that contains its start, or −1."""
        j = np.searchsorted(start_keys, self.key, side="right") - 1
        inside = (j >= 0) & (self.key < end_keys[np.maximum(j, 0)])
        return np.where(inside, j, -1)


# --------------------------------------------------------------------------- prepared data


_COVERAGE_COLUMNS = ("patient_id", "event_date", "end_date", "days_supply", "dispenses",
                     "open_order", "ends_at_death")
_NARCOTIC_COLUMNS = _COVERAGE_COLUMNS + ("provider_id", "pharmacy_id")
_OTHER_COLUMNS = _COVERAGE_COLUMNS


class _Data:
    """The rows the measures read, reduced to integer arrays once."""

    def __init__(self, events: pd.DataFrame, diagnoses: pd.DataFrame | None,
                 extract: pd.Timestamp | None, params: SafetyParameters,
                 fills: pd.DataFrame | None, data_start: pd.Timestamp | None = None,
                 pharmacy_recorded: bool | None = None) -> None:
        self.params = params
        self.extract = extract_date(events, extract)
        ok = events["patient_id"].notna().to_numpy() & events["event_date"].notna().to_numpy()
        is_narcotic = ok & _flags(events, "technique", "narcotic")
        is_relaxant = ok & _flags(events, "technique", "muscle_relaxant")
        is_benzo = ok & _flags(events, "drug_class", "benzodiazepine")
        is_naloxone = ok & _flags(events, "drug_class", "naloxone")
        is_oud = ok & _flags(events, "drug_class", "oud_treatment")
        self.extract_day = (int(day_numbers(np.array([self.extract.to_datetime64()]))[0])
                            if self.extract is not None else 0)
        dated = events["event_date"].to_numpy()[ok]
        self.data_start_day = int(day_numbers(dated).min()) if ok.any() else self.extract_day
        if data_start is not None:
            self.data_start_day = int(day_numbers(np.array([pd.Timestamp(data_start)
                                                            .to_datetime64()]))[0])

        narc = events.loc[is_narcotic, [c for c in _NARCOTIC_COLUMNS if c in events.columns]]
        codes, uniques = pd.factorize(narc["patient_id"].astype("string"), sort=True)
        self.patients = pd.Index(uniques, dtype="string")
        self.n_patients = len(self.patients)
        self.n_pcode = codes.astype(np.int64)
        self.n_start, self.n_end = (interval_arrays(narc, self.extract) if len(narc)
                                    else (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        self.n_k = dispense_counts(narc)
        if fills is None:
            fills = narcotics.fill_mme(events, extract=self.extract) if len(narc) else None
        if fills is None:
            mme = np.full(len(narc), np.nan)
        else:
            per_day = fills["mme_per_day"]
            if not per_day.index.equals(narc.index):
                per_day = per_day.reindex(narc.index)
            mme = per_day.to_numpy(dtype="float64", na_value=np.nan)
        self.n_has_mme = ~np.isnan(mme)
        self.n_rate = np.where(self.n_has_mme, np.rint(np.nan_to_num(mme) * 1e6), 0).astype(
            np.int64)
        self.n_provider, self.providers = _entity_codes(narc, "provider_id")
        self.n_pharmacy, _ = _entity_codes(narc, "pharmacy_id")
        self.has_pharmacy = (bool((self.n_pharmacy >= 0).any()) if pharmacy_recorded is None
                             else pharmacy_recorded)

        def other(mask: np.ndarray, detail: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
            wanted = _OTHER_COLUMNS + (("detail",) if detail else ())
            rows = events.loc[mask, [c for c in wanted if c in events.columns]]
            code = _codes_in(rows["patient_id"], self.patients)
            keep = code >= 0
            return rows.loc[keep], code[keep]

        benzo, self.b_pcode = other(is_benzo)
        self.b_start, self.b_end = self._intervals(benzo)
        self.b_k = dispense_counts(benzo)
        relax, self.r_pcode = other(is_relaxant, detail=True)
        self.r_start, self.r_end = self._intervals(relax)
        pattern = "|".join(f"(?:{p})" for p in load_table(FLAGGED_RELAXANTS_TABLE)["pattern"])
        if "detail" in relax.columns and len(relax):
            detail_code, details = pd.factorize(relax["detail"].astype("string"))
            flagged = pd.Series(details, dtype="string").str.contains(
                pattern, case=False, regex=True).fillna(False).to_numpy(dtype=bool)
            self.r_carisoprodol = np.r_[flagged, False][detail_code]
        else:
            self.r_carisoprodol = np.zeros(len(relax), dtype=bool)
        nalox, self.x_pcode = other(is_naloxone)
        self.x_day = day_numbers(nalox["event_date"])
        oud, oud_pcode = other(is_oud)
        self.oud_first = np.full(self.n_patients, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(self.oud_first, oud_pcode, day_numbers(oud["event_date"]))
        if diagnoses is not None and len(diagnoses):
            dx = diagnoses.loc[
                np.asarray(diagnoses["kind"].astype("string") == OUD_KIND, dtype=bool)
                & diagnoses["diagnosis_date"].notna().to_numpy()]
            dx_code = _codes_in(dx["patient_id"], self.patients)
            keep = dx_code >= 0
            np.minimum.at(self.oud_first, dx_code[keep],
                          day_numbers(dx["diagnosis_date"].to_numpy()[keep]))

        # Death: the day when ingest cut a row there (ends_at_death: end_date is the death
        # date), else only the year is known.
        self.death_day = np.full(self.n_patients, np.iinfo(np.int64).max, dtype=np.int64)
        self.death_year = np.full(self.n_patients, np.iinfo(np.int64).max, dtype=np.int64)
        if "ends_at_death" in events.columns and "end_date" in events.columns:
            at_death = ok & events["ends_at_death"].fillna(False).to_numpy(dtype=bool) \
                & events["end_date"].notna().to_numpy()
            code = _codes_in(events.loc[at_death, "patient_id"], self.patients)
            days = day_numbers(events.loc[at_death, "end_date"])
            np.minimum.at(self.death_day, code[code >= 0], days[code >= 0])
        if "death_year" in events.columns:
            year = pd.to_numeric(events["death_year"], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan)
            has = ok & ~np.isnan(year)
            code = _codes_in(events.loc[has, "patient_id"], self.patients)
            np.minimum.at(self.death_year, code[code >= 0],
                          year[has][code >= 0].astype(np.int64))

        # Day arithmetic: keys patient × span + (day − lo), every query day clipped to
        # [lo, hi] (no interval starts or ends outside, so the functions are flat there).
        starts = [a for a in (self.n_start, self.b_start, self.r_start) if len(a)]
        ends = [a for a in (self.n_end, self.b_end, self.r_end) if len(a)]
        pad = 2 * (params.washout_days + params.naloxone_lookback_days + 400
                   + params.trend_window_months * 31)
        first = min([int(a.min()) for a in starts] + [self.data_start_day, self.extract_day])
        last = max([int(a.max()) for a in ends] + [self.extract_day + 1])
        self.lo = first - pad
        self.hi = last + pad
        self.span = self.hi - self.lo + 1
        # Calendar lookups over [lo, hi]: the month of a day, the first day of a month.
        self._months = _month_of_day(np.arange(self.lo, self.hi + 1))
        self._month_lo = int(self._months[0])
        self._first_days = _day_of_month(np.arange(self._month_lo, int(self._months[-1]) + 3))

        self.timeline = _Timeline(
            np.concatenate([self.key(self.n_pcode, self.n_start),
                            self.key(self.b_pcode, self.b_start),
                            self.key(self.r_pcode, self.r_start)]),
            np.concatenate([self.key(self.n_pcode, self.n_end),
                            self.key(self.b_pcode, self.b_end),
                            self.key(self.r_pcode, self.r_end)]),
            np.concatenate([np.full(len(self.n_start), _NARCOTIC),
                            np.full(len(self.b_start), _BENZO),
                            np.full(len(self.r_start), _RELAXANT)]).astype(np.int64),
            np.concatenate([np.full(len(self.n_start) + len(self.b_start), -1),
                            np.where(self.r_carisoprodol, _CARISOPRODOL, -1)]).astype(np.int64),
            np.concatenate([self.n_rate, np.zeros(len(self.b_start) + len(self.r_start),
                                                  dtype=np.int64)]),
            self.span,
        )
        self._dispenses()

    def _intervals(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return interval_arrays(rows, self.extract)

    def key(self, pcode: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        day = np.clip(np.asarray(day, dtype=np.int64), self.lo, self.hi)
        return np.asarray(pcode, dtype=np.int64) * self.span + (day - self.lo)

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month numbers (months since January 1970) of day numbers."""
        return self._months[np.clip(days, self.lo, self.hi) - self.lo]

    def first_day(self, months: np.ndarray) -> np.ndarray:
        """Day number of the first day of month numbers."""
        return self._first_days[np.asarray(months, dtype=np.int64) - self._month_lo]

    def day_of(self, key: np.ndarray) -> np.ndarray:
        return np.asarray(key, dtype=np.int64) % self.span + self.lo

    def _dispenses(self) -> None:
        """Narcotic and benzodiazepine dispenses (k per row), sorted by (patient, day)."""
        row, i = _expand(self.n_k)
        day = self.n_start[row] + (i * (self.n_end - self.n_start)[row]) // self.n_k[row]
        keep = day <= self.extract_day
        row, day = row[keep], day[keep]
        key = self.key(self.n_pcode[row], day)
        order = stable_argsort(key)
        self.d_key = key[order]
        self.d_row = row[order]
        self.d_without_mme = np.r_[0, np.cumsum(~self.n_has_mme[self.d_row])]
        self.d_month = self.month_of(self.day_of(self.d_key))
        self.d_date_key = self.d_key[np.r_[True, self.d_key[1:] != self.d_key[:-1]]] \
            if len(self.d_key) else self.d_key  # d_key is sorted
        brow, bi = _expand(self.b_k)
        bday = self.b_start[brow] + (bi * (self.b_end - self.b_start)[brow]) // self.b_k[brow]
        bkeep = bday <= self.extract_day
        self.b_date_key = _unique(self.key(self.b_pcode[brow[bkeep]], bday[bkeep]))
        self.x_key = np.sort(self.key(self.x_pcode, self.x_day))

    def follow_limit(self, pcode: np.ndarray) -> np.ndarray:
        """First day a patient can no longer be followed: the day after the extract date,
        the day after death (when a row ends at death), else 1 January of the death year
        (only the year is kept)."""
        year_start = day_numbers(np.asarray(
            np.clip(self.death_year[pcode], 1678, 2261) - 1970, dtype="datetime64[Y]"))
        by_year = np.where(self.death_year[pcode] != np.iinfo(np.int64).max, year_start,
                           np.iinfo(np.int64).max)
        by_day = np.where(self.death_day[pcode] != np.iinfo(np.int64).max,
                          self.death_day[pcode] + 1, by_year)
        return np.minimum(by_day, self.extract_day + 1)


# --------------------------------------------------------------------------- windows


class _Grid:
    """One cell per (patient, calendar month), from ``length`` months before the patient's
    first narcotic use to the last month a window can end in (``length − 1`` months after
    the last use, at most the extract month), plus a closing cell; the patients' cells
    laid end to end.  Per-cell counts become running totals, so the sum over any window —
    a range of cells ``[first, last]`` — is one subtraction, and "the next cell with X at
    or after the window's first cell" a precomputed pointer: no search per window.
    """

    def __init__(self, d: _Data, courses: dict[str, np.ndarray]) -> None:
        self.d = d
        self.length = max(12, d.params.trend_window_months)
        self.extract_month = int(d.month_of(np.array([d.extract_day]))[0])
        # Spans of narcotic use: the courses (coverage joined over gaps of up to
        # course_gap_days); every patient-window one touches is listed.
        use_end = np.minimum(courses["end"], d.extract_day + 1)
        keep = (courses["p"] >= 0) & (use_end > courses["start"])
        self.use_patient = courses["p"][keep]
        self.use_first = d.month_of(courses["start"][keep])
        self.use_last = d.month_of(use_end[keep] - 1)
        n_p = d.n_patients
        big = np.iinfo(np.int64).max
        first = np.full(n_p, big, dtype=np.int64)
        last = np.full(n_p, -big, dtype=np.int64)
        np.minimum.at(first, self.use_patient, self.use_first)
        np.maximum.at(last, self.use_patient, self.use_last)
        has = first != big
        self.g0 = np.where(has, first - self.length, 0)
        self.g1 = np.where(has, np.minimum(last + self.length - 1, self.extract_month), -1)
        count = np.where(has, self.g1 - self.g0 + 2, 0)
        self.offset = np.cumsum(count) - count
        self.n = int(count.sum())
        index = np.arange(self.n)
        owner = np.repeat(np.arange(n_p), count)
        self.patient = owner
        self.month = self.g0[owner] + (index - self.offset[owner])
        self.closing = self.month == self.g1[owner] + 1
        self.prescriber_months = _pair_months(self, d.n_provider)
        self.pharmacy_months = _pair_months(self, d.n_pharmacy)

    def cell(self, patient: np.ndarray, month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cell index, inside the patient's grid) of months of patients."""
        patient = np.asarray(patient, dtype=np.int64)
        inside = (month >= self.g0[patient]) & (month <= self.g1[patient])
        return self.offset[patient] + month - self.g0[patient], inside

    def cells_of_keys(self, keys: np.ndarray) -> np.ndarray:
        """The cells of day keys (patient × span + day) inside the grid."""
        d = self.d
        patient = keys // d.span
        cell, inside = self.cell(patient, d.month_of(d.day_of(keys)))
        return cell[inside]

    def running(self, cells: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Running totals of per-cell counts (or sums of ``weights``)."""
        return np.cumsum(np.bincount(cells, weights=weights, minlength=self.n))

    def next_with(self, cells: np.ndarray) -> np.ndarray:
        """For every cell, the first cell at or after it among ``cells`` (n: none)."""
        marked = np.full(self.n + 1, self.n, dtype=np.int64)
        marked[cells] = cells
        return np.minimum.accumulate(marked[::-1])[::-1]

    def previous_with(self, cells: np.ndarray) -> np.ndarray:
        """For every cell, the last cell at or before it among ``cells`` (−1: none)."""
        marked = np.full(self.n, -1, dtype=np.int64)
        marked[cells] = cells
        return np.maximum.accumulate(marked)


@dataclass
class _Windows:
    """Patient-windows as cell ranges ``[first, last]`` of the grid, sorted by patient then
    month; ``label``: the year, or the month number of the rolling window's last month."""

    first: np.ndarray
    last: np.ndarray
    patient: np.ndarray
    label: np.ndarray
    start: np.ndarray  # first day
    end: np.ndarray  # exclusive, clipped at extract + 1
    partial: np.ndarray


def _windows(g: _Grid, kind: str) -> _Windows:
    """The calendar-year windows (``kind`` "year": January to December, or to the extract
    month) or the rolling windows (one ending with each month), of every patient with a
    span of narcotic use touching them."""
    d = g.d
    touched = np.zeros(g.n, dtype=np.int64)
    cell, _ = g.cell(g.use_patient, g.use_first)
    np.add.at(touched, cell, 1)
    after, _ = g.cell(g.use_patient, g.use_last + 1)
    np.add.at(touched, after, -1)
    in_use = np.cumsum(touched) > 0  # a span of use covers the cell's month
    use_run = np.cumsum(in_use)
    if kind == "year":
        calendar_month = g.month % 12
        # (January must lie after the patient's first cell: a year before any use.)
        last = np.flatnonzero(~g.closing & ((calendar_month == 11)
                                            | (g.month == g.extract_month))
                              & (g.month - calendar_month > g.g0[g.patient]))
        first = last - calendar_month[last]
        label = g.month[last] // 12 + 1970
    else:
        length = d.params.trend_window_months
        last = np.flatnonzero(~g.closing & (g.month >= g.g0[g.patient] + length))
        first = last - length + 1
        label = g.month[last]
    keep = use_run[last] - use_run[first - 1] > 0
    first, last, label = first[keep], last[keep], label[keep]
    patient = g.patient[last]
    start = d.first_day(g.month[first])
    full_end = d.first_day(g.month[last] + 1)
    end = np.minimum(full_end, d.extract_day + 1)
    partial = (start < d.data_start_day) | (end < full_end)
    return _Windows(first, last, patient, label.astype(np.int64), start, end, partial)


def _pair_months(g: _Grid, entity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (patient, entity, month) of the narcotic dispenses with an entity, sorted:
    (patient, entity code, month number)."""
    d = g.d
    e = entity[d.d_row]
    has = e >= 0
    if not has.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    n_entity = int(entity.max()) + 1
    month = d.d_month[has]
    m_lo = int(month.min())
    m_span = int(month.max()) - m_lo + 1
    key = _unique(((d.d_key[has] // d.span) * n_entity + e[has]) * m_span + (month - m_lo))
    pair = key // m_span
    return pair // n_entity, pair % n_entity, key % m_span + m_lo


def _presence(g: _Grid, w: _Windows, pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
              kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(window index, entity code) of every distinct prescriber / pharmacy of the narcotic
    dispenses of each window, from :func:`_pair_months`.

    A pair (patient, entity) dispensed in months m₁ < m₂ < … is present in a calendar year
    when one of its months is in it; in the rolling window ending with month M when one is
    in ``[M − length + 1, M]``: the latest such month m counts it, for M from m to the
    month before the pair's next month or m + length − 1, so each (window, entity) is
    listed once.
    """
    patient, ent, month = pairs
    if len(patient) == 0 or len(w.first) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    same_pair = np.r_[(patient[1:] == patient[:-1]) & (ent[1:] == ent[:-1]), False]
    window_of = np.full(g.n, -1, dtype=np.int64)
    if kind == "year":
        january = month - month % 12
        # Sorted by pair then month: a pair's years come in order, one row per year.
        keep = ~np.r_[False, same_pair[:-1] & (january[1:] == january[:-1])]
        patient, ent, january = patient[keep], ent[keep], january[keep]
        window_of[w.first] = np.arange(len(w.first))
        cell, inside = g.cell(patient, january)
        i = np.where(inside, window_of[np.where(inside, cell, 0)], -1)
        return i[i >= 0], ent[i >= 0]
    length = g.d.params.trend_window_months
    following = np.where(same_pair, np.r_[month[1:], 0], np.iinfo(np.int64).max)
    until = np.minimum(np.minimum(following, month + length), g.g1[patient] + 1)
    owner, pos = _expand(np.maximum(until - month, 0))
    cell, _ = g.cell(patient[owner], month[owner] + pos)
    window_of[w.last] = np.arange(len(w.last))
    i = window_of[cell]
    return i[i >= 0], ent[owner][i >= 0]


def _grid_sums(g: _Grid, episodes: dict[str, np.ndarray], tapers: dict[str, np.ndarray]
               ) -> dict[str, np.ndarray]:
    """Per-cell running totals and pointers the windows read."""
    d = g.d
    tl = d.timeline
    out: dict[str, np.ndarray] = {}
    cell, inside = g.cell(d.d_key // d.span, d.d_month)
    out["fills"] = g.running(cell[inside])
    out["without_mme"] = g.running(cell[inside],
                                   (~d.n_has_mme[d.d_row][inside]).astype("float64"))
    date_day = d.day_of(d.d_date_key)
    date_cell, date_inside = g.cell(d.d_date_key // d.span, d.month_of(date_day))
    date_cell, date_day = date_cell[date_inside], date_day[date_inside]
    out["fill_dates"] = g.running(date_cell)
    out["next_fill"] = g.next_with(date_cell)
    # The running MME integral at every dispensing date (one search for all windows).
    date_mme = tl.integral("MME", d.d_date_key[date_inside])
    first_day = np.zeros(g.n, dtype=np.int64)
    first_mme = np.zeros(g.n, dtype=np.int64)
    first_day[date_cell[::-1]] = date_day[::-1]  # dates in order: the cell keeps its first
    first_mme[date_cell[::-1]] = date_mme[::-1]
    out["first_fill_day"] = first_day
    out["first_fill_mme"] = first_mme
    out["benzo_dates"] = g.running(g.cells_of_keys(d.b_date_key))
    for name, keys in tapers.items():
        out[name] = g.running(g.cells_of_keys(keys))
    for rate, key in (("rate30", "key30"), ("rate62", "key62")):
        keys = episodes[key]
        cell, inside = g.cell(keys // d.span, d.month_of(d.day_of(keys)))
        out[f"next_{rate}"] = g.next_with(cell[inside])
        flag = np.zeros(g.n, dtype=bool)
        flag[cell[inside][::-1]] = episodes[rate][inside][::-1]  # the month's first episode
        out[f"flag_{rate}"] = flag
    # Covered days: the timeline's narcotic segments split at month boundaries.
    seg = np.flatnonzero(tl.indicator["N"])
    day0 = d.day_of(tl.key[seg])
    day1 = np.minimum(day0 + tl.length[seg], d.extract_day + 1)
    seg, day0, day1 = seg[day1 > day0], day0[day1 > day0], day1[day1 > day0]
    m0 = d.month_of(day0)
    piece, pos = _expand(d.month_of(day1 - 1) - m0 + 1)
    month = m0[piece] + pos
    lo = np.maximum(day0[piece], d.first_day(month))
    hi = np.minimum(day1[piece], d.first_day(month + 1))
    cell, _ = g.cell(tl.patient[seg][piece], month)
    days = (hi - lo).astype("float64")
    for name in ("N", "NB", "NBR", "NBC"):
        out[name] = g.running(cell, days * tl.indicator[name][seg][piece])
    last_day = np.zeros(g.n, dtype=np.int64)
    last_day[cell] = hi - 1  # pieces in day order: the cell keeps its last
    out["last_covered_day"] = last_day
    # The running MME integral at the end of each piece: its segment's value at its start
    # plus the segment's daily dose for the days up to the piece end.
    piece_seg = seg[piece]
    end_mme = np.zeros(g.n, dtype=np.int64)
    end_mme[cell] = (tl.cumulative["MME"][piece_seg]
                     + (hi - day0[piece]) * tl.slope["MME"][piece_seg])
    out["last_covered_mme"] = end_mme
    out["previous_covered"] = g.previous_with(cell)
    return out


def _window_table(g: _Grid, w: _Windows, sums: dict[str, np.ndarray], kind: str
                  ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The measures per window; also (window index, provider code) credit pairs."""
    d = g.d
    prm = d.params
    n = len(w.first)
    first, last = w.first, w.last

    def total(running: np.ndarray) -> np.ndarray:
        return running[last] - running[first - 1]

    fills = total(sums["fills"])
    fill_dates = total(sums["fill_dates"])
    without_mme = total(sums["without_mme"])
    covered, both, triple, triple_c = (total(sums[name])
                                       for name in ("N", "NB", "NBR", "NBC"))
    benzo_dates = total(sums["benzo_dates"])
    # Treatment period: first dispensing in the window .. last covered day in the window.
    next_fill = sums["next_fill"][first]
    has_fill = next_fill <= last
    first_day = np.where(has_fill, sums["first_fill_day"][np.minimum(next_fill, g.n - 1)],
                         0)
    last_day = np.where(has_fill, sums["last_covered_day"][
        np.maximum(sums["previous_covered"][last], 0)], 0)
    treatment_days = np.where(has_fill, last_day - first_day + 1, 0)
    last_mme = sums["last_covered_mme"][np.maximum(sums["previous_covered"][last], 0)]
    first_mme = sums["first_fill_mme"][np.minimum(next_fill, g.n - 1)]
    total_mme = np.where(has_fill, (last_mme - first_mme) / 1e6, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(has_fill, total_mme / np.maximum(treatment_days, 1), np.nan)

    credit_window, credit_provider = _presence(g, w, g.prescriber_months, kind)
    prescribers = np.bincount(credit_window, minlength=n).astype(np.int64)
    ph_window, _ = _presence(g, w, g.pharmacy_months, kind)
    pharmacies = np.bincount(ph_window, minlength=n).astype(np.int64)

    opioid_users = (fill_dates >= prm.min_fill_dates) & (covered >= prm.min_covered_days)
    uop_den = (fills >= prm.min_fills) & (covered >= prm.min_covered_days)
    uop_presc = uop_den & (prescribers >= prm.multiple_providers)
    uop_pharm = uop_den & (pharmacies >= prm.multiple_providers)

    def first_episode(rate: str) -> tuple[np.ndarray, np.ndarray]:
        """(a new episode starts in the window, the first one meets the rate)."""
        nxt = sums[f"next_{rate}"][first]
        inside = nxt <= last
        return inside, inside & sums[f"flag_{rate}"][np.minimum(nxt, g.n - 1)]

    cou30_den, cou30 = first_episode("rate30")
    cou62_den, cou62 = first_episode("rate62")
    taper = total(sums["taper_key"]) > 0
    rapid = total(sums["rapid_key"]) > 0
    stable = (total(sums["stable_key"]) > 0) | taper
    stops = total(sums["stop_key"]) > 0
    abrupt = total(sums["abrupt_key"]) > 0

    pharmacy_values = pd.array(np.where(d.has_pharmacy, pharmacies, 0), dtype="Int64")
    pharm_flag = pd.array(uop_pharm, dtype="boolean")
    both_flag = pd.array(uop_presc & uop_pharm, dtype="boolean")
    if not d.has_pharmacy:
        pharmacy_values[:] = pd.NA
        pharm_flag[:] = pd.NA
        both_flag[:] = pd.NA
    flags = {
        "opioid_users": opioid_users,
        "hdo": opioid_users & (average >= prm.high_dose_mme - _TOLERANCE),
        "uop_denominator": uop_den,
        "uop_prescribers": uop_presc,
        "uop_pharmacies": pharm_flag,
        "uop_both": both_flag,
        "cou_30_evaluable": cou30_den,
        "cou_15_of_30": cou30,
        "cou_62_evaluable": cou62_den,
        "cou_31_of_62": cou62,
        "cob": opioid_users & (benzo_dates >= prm.min_benzodiazepine_fill_dates)
        & (both >= prm.cob_overlap_days),
        "triple_therapy": opioid_users & (triple >= prm.triple_min_days),
        "triple_carisoprodol": opioid_users & (triple_c >= prm.triple_min_days),
        "stable_long_term": stable,
        "taper": taper,
        "rapid_taper": rapid,
        "stop_from_high_dose": stops,
        "abrupt_stop": abrupt,
    }
    if kind == "month":  # the trend: the flags only
        frame = pd.DataFrame({
            "patient_id": id_series(d.patients, w.patient),
            "month": date_series(_day_of_month(w.label)),
            "partial": w.partial,
            **flags,
        })
        return frame, credit_window, credit_provider
    frame = pd.DataFrame({
        "patient_id": id_series(d.patients, w.patient),
        "year": w.label,
        "window_start": date_series(w.start),
        "window_end": date_series(w.end - 1),
        "partial": w.partial,
        "narcotic_fills": fills,
        "fill_dates": fill_dates,
        "fills_without_mme": without_mme.astype(np.int64),
        "covered_days": covered.astype(np.int64),
        "first_fill": date_series(first_day).where(has_fill),
        "last_covered_day": date_series(last_day).where(has_fill),
        "treatment_days": treatment_days.astype(np.int64),
        "total_mme": total_mme,
        "average_mme_per_day": average,
        "prescribers": prescribers,
        "pharmacies": pharmacy_values,
        "benzodiazepine_fill_dates": benzo_dates,
        "opioid_benzodiazepine_days": both.astype(np.int64),
        "triple_days": triple.astype(np.int64),
        "triple_carisoprodol_days": triple_c.astype(np.int64),
        **flags,
    })
    return frame, credit_window, credit_provider


# --------------------------------------------------------------------------- COU episodes


_EPISODE_COLUMNS = {
    "patient_id": "string",
    "episode_start": "datetime64[s]",
    "covered_days_30": "int64",
    "covered_days_62": "int64",
    "evaluable_30": "bool",
    "evaluable_62": "bool",
    "cou_15_of_30": "bool",
    "cou_31_of_62": "bool",
}


def _episodes(d: _Data) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """New narcotic episodes (HEDIS COU) and, for the windows, their sorted keys."""
    prm = d.params
    tl = d.timeline
    # Coverage before a dispensing date ends at the latest end of the rows dispensed
    # before that date (every row's first dispense is its start): a running maximum of
    # end keys over the sorted dispenses (keys grow with the patient, so it never carries
    # over from one patient to the next as a later end).
    first_of_date = np.r_[True, d.d_key[1:] != d.d_key[:-1]] if len(d.d_key) else \
        np.zeros(0, dtype=bool)
    at = np.flatnonzero(first_of_date)  # aligned with d.d_date_key
    running_end = np.maximum.accumulate(d.key(d.d_key // d.span, d.n_end[d.d_row])) \
        if len(d.d_key) else np.zeros(0, dtype=np.int64)
    key = d.d_date_key
    p = key // d.span
    day = d.day_of(key)
    before = np.where(at > 0, running_end[np.maximum(at - 1, 0)], -1)
    covered_end = np.where(before // d.span == p, before, -1)  # another patient's: none
    uncovered_before = covered_end <= d.key(p, day - prm.washout_days)
    new = uncovered_before & (day - prm.washout_days >= d.data_start_day)
    key, p, day = key[new], p[new], day[new]
    at_start = tl.integral("N", key)
    short = tl.integral("N", d.key(p, day + prm.cou_short_window_days)) - at_start
    long = tl.integral("N", d.key(p, day + prm.cou_long_window_days)) - at_start
    limit = d.follow_limit(p)
    eval30 = day + prm.cou_short_window_days <= limit
    eval62 = day + prm.cou_long_window_days <= limit
    rate30 = short >= prm.cou_short_min_days
    rate62 = long >= prm.cou_long_min_days
    frame = pd.DataFrame({
        "patient_id": id_series(d.patients, p),
        "episode_start": date_series(day),
        "covered_days_30": short.astype(np.int64),
        "covered_days_62": long.astype(np.int64),
        "evaluable_30": eval30,
        "evaluable_62": eval62,
        "cou_15_of_30": eval30 & rate30,
        "cou_31_of_62": eval62 & rate62,
    }).astype(_EPISODE_COLUMNS)
    keys = {"key30": key[eval30], "rate30": rate30[eval30],
            "key62": key[eval62], "rate62": rate62[eval62]}
    return frame, keys


# --------------------------------------------------------------------------- courses


def _course_arrays(d: _Data, courses: pd.DataFrame) -> dict[str, np.ndarray]:
    p = _codes_in(courses["patient_id"], d.patients)
    start = day_numbers(courses["start"])
    end = day_numbers(courses["end"])
    key = d.key(np.maximum(p, 0), start)
    order = np.argsort(np.where(p >= 0, key, np.iinfo(np.int64).max), kind="stable")
    return {"p": p, "start": start, "end": end, "order": order}


_TAPER_COLUMNS = {
    "patient_id": "string",
    "course": "int64",
    "start": "datetime64[s]",
    "last_day": "datetime64[s]",
    "ended_by": "string",
    "duration_days": "int64",
    "stable_from": "datetime64[s]",
    "baseline_mme": "float64",
    "tapered": "bool",
    "taper_start": "datetime64[s]",
    "taper_window_mme": "float64",
    "reduction": "float64",
    "rapid_taper": "bool",
    "largest_30_day_fall": "float64",
    "last_days_mme": "float64",
    "stop_from_high_dose": "bool",
    "abrupt_stop": "bool",
}


def _tapers(d: _Data, courses: pd.DataFrame, c: dict[str, np.ndarray]
            ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Stable long-term use, tapers, rapid tapers and abrupt stops per course."""
    prm = d.params
    tl = d.timeline
    month, base_m, win_m = prm.month_days, prm.baseline_months, prm.taper_window_months
    known = c["p"] >= 0
    p, s, e = np.maximum(c["p"], 0), c["start"], c["end"]
    n = len(p)
    limit = np.minimum(e, d.extract_day + 1)
    blocks = np.where(known, np.maximum(limit - s, 0) // month, 0)
    eligible = blocks >= base_m + win_m

    def mme(days: np.ndarray, who: np.ndarray) -> np.ndarray:
        return tl.integral("MME", d.key(who, days)).astype("float64") / 1e6

    # Running integral of the daily dose at every month boundary of eligible courses.
    n_bound = np.where(eligible, blocks + 1, 0)
    offset = np.cumsum(n_bound) - n_bound
    owner, pos = _expand(n_bound)
    bound = mme(s[owner] + month * pos, p[owner])
    # Anchors k = base_m … blocks − win_m: baseline months [k − base_m, k), follow-up from k.
    n_anchor = np.where(eligible, blocks - win_m - base_m + 1, 0)
    a_course, a_pos = _expand(n_anchor)
    k = base_m + a_pos
    at = offset[a_course] + k
    baseline = (bound[at] - bound[at - base_m]) / (base_m * month)
    stable = baseline >= prm.stable_mme - _TOLERANCE
    first_reduced = np.full(len(k), prm.taper_windows, dtype=np.int64)
    last_reduced_end = np.full(len(k), np.iinfo(np.int64).min, dtype=np.int64)
    lowest = np.full(len(k), np.inf)
    for j in range(prm.taper_windows):  # the six windows: a fixed, small loop
        valid = k + j + win_m <= blocks[a_course]
        hi = np.where(valid, at + j + win_m, at)
        mean = (bound[hi] - bound[np.where(valid, at + j, at)]) / (win_m * month)
        reduced = stable & valid & (mean <= baseline * (1 - prm.taper_reduction) + _TOLERANCE)
        first_reduced = np.where(reduced & (first_reduced == prm.taper_windows), j,
                                 first_reduced)
        end_day = s[a_course] + month * (k + j + win_m)
        last_reduced_end = np.where(reduced, end_day, last_reduced_end)
        lowest = np.where(stable & valid, np.minimum(lowest, mean), lowest)
    anchor_tapered = first_reduced < prm.taper_windows
    anchor_day = s[a_course] + month * k

    stable_from = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(stable_from, a_course[stable], anchor_day[stable])
    course_last_reduced = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(course_last_reduced, a_course, last_reduced_end)
    # The taper: the earliest reduced window (over all anchors), from its earliest anchor.
    taper_day = anchor_day + month * first_reduced
    t_idx = np.flatnonzero(anchor_tapered)
    t_idx = t_idx[np.lexsort((k[t_idx], taper_day[t_idx], a_course[t_idx]))]
    t_first = t_idx[np.r_[True, a_course[t_idx][1:] != a_course[t_idx][:-1]]] if len(t_idx) \
        else t_idx
    tapered = np.zeros(n, dtype=bool)
    tapered[a_course[t_first]] = True
    taper_start = np.full(n, -1, dtype=np.int64)
    taper_start[a_course[t_first]] = taper_day[t_first]
    base_out = np.full(n, np.nan)
    first_stable = np.flatnonzero(stable)
    first_stable = first_stable[np.r_[True, a_course[first_stable][1:]
                                      != a_course[first_stable][:-1]]] \
        if len(first_stable) else first_stable
    base_out[a_course[first_stable]] = baseline[first_stable]
    base_out[a_course[t_first]] = baseline[t_first]
    window_out = np.full(n, np.nan)
    window_out[a_course[t_first]] = lowest[t_first]
    with np.errstate(invalid="ignore", divide="ignore"):
        reduction = np.where(tapered, 1 - window_out / base_out, np.nan)

    # Rapid taper: on a day t of the taper's follow-up, the mean over [t, t + R) is more
    # than the threshold below the mean over [t − R, t).
    rapid_days = prm.rapid_taper_days
    largest_fall = np.full(n, np.nan)
    rapid = np.zeros(n, dtype=bool)
    if len(t_first):
        tc = a_course[t_first]
        t0 = anchor_day[t_first]
        last_t = np.minimum(t0 + prm.follow_up_days - rapid_days, limit[tc] - rapid_days)
        r_owner, r_pos = _expand(np.maximum(last_t - t0 + 1, 0))
        t = t0[r_owner] + r_pos
        who = p[tc][r_owner]
        at_t = mme(t, who)
        before = (at_t - mme(t - rapid_days, who)) / rapid_days
        after = (mme(t + rapid_days, who) - at_t) / rapid_days
        with np.errstate(invalid="ignore", divide="ignore"):
            fall = np.where(before > 0, (before - after) / before, np.nan)
        is_rapid = (before - after) > prm.rapid_taper_reduction * before + _TOLERANCE
        course_of = tc[r_owner]
        np.fmax.at(largest_fall, course_of, fall)
        rapid_hit = np.zeros(n, dtype=bool)
        np.logical_or.at(rapid_hit, course_of, is_rapid)
        rapid = rapid_hit & tapered

    ended_by = courses["ended_by"].astype("string").to_numpy(dtype=object, na_value="")
    duration = e - s
    dose_days = prm.abrupt_stop_dose_days
    last_mme = np.where(duration >= dose_days,
                        (mme(e, p) - mme(e - dose_days, p)) / dose_days, np.nan)
    stop = (known & (ended_by == "gap") & (duration >= prm.abrupt_stop_min_course_days)
            & (last_mme >= prm.abrupt_stop_mme - _TOLERANCE))
    taper_before_end = course_last_reduced > e - prm.follow_up_days
    abrupt = stop & ~taper_before_end

    has_stable = stable_from != np.iinfo(np.int64).max
    listed = known & (has_stable | stop)
    idx = c["order"][listed[c["order"]]]

    def dates(values: np.ndarray, present: np.ndarray) -> pd.Series:
        return date_series(np.where(present, values, 0)).where(present)

    frame = pd.DataFrame({
        "patient_id": courses["patient_id"].astype("string").to_numpy()[idx],
        "course": courses["course"].to_numpy()[idx],
        "start": date_series(s[idx]),
        "last_day": date_series(e[idx] - 1),
        "ended_by": ended_by[idx],
        "duration_days": duration[idx],
        "stable_from": dates(stable_from[idx], has_stable[idx]),
        "baseline_mme": base_out[idx],
        "tapered": tapered[idx],
        "taper_start": dates(taper_start[idx], tapered[idx]),
        "taper_window_mme": window_out[idx],
        "reduction": reduction[idx],
        "rapid_taper": rapid[idx],
        "largest_30_day_fall": largest_fall[idx],
        "last_days_mme": last_mme[idx],
        "stop_from_high_dose": stop[idx],
        "abrupt_stop": abrupt[idx],
    }).astype(_TAPER_COLUMNS)
    keys = {
        "stable_key": np.sort(d.key(p[a_course[stable]], anchor_day[stable])),
        "taper_key": np.sort(d.key(p[tapered], taper_start[tapered])),
        "rapid_key": np.sort(d.key(p[rapid], taper_start[rapid])),
        "stop_key": np.sort(d.key(p[stop], e[stop] - 1)),
        "abrupt_key": np.sort(d.key(p[abrupt], e[abrupt] - 1)),
    }
    return frame, keys


_NALOXONE_COLUMNS = {
    "patient_id": "string",
    "course": "int64",
    "start": "datetime64[s]",
    "last_day": "datetime64[s]",
    "max_daily_mme": "float64",
    "benzodiazepine_days": "int64",
    "opioid_use_disorder": "bool",
    "indicated": "bool",
    "indicated_by": "string",
    "naloxone": "bool",
    "first_naloxone": "datetime64[s]",
}


def _naloxone(d: _Data, courses: pd.DataFrame, c: dict[str, np.ndarray]
              ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Naloxone when indicated, per course; also (course row, provider code) credits."""
    prm = d.params
    tl = d.timeline
    idx = c["order"][c["p"][c["order"]] >= 0]
    p, s, e = c["p"][idx], c["start"][idx], c["end"][idx]
    ks, ke = d.key(p, s), d.key(p, e)
    # Highest daily dose on a day of the course: over the timeline segments inside it.
    max_rate = np.zeros(len(idx), dtype=np.int64)
    owner = tl.segment_owner(ks, ke)
    inside = (owner >= 0) & tl.indicator["N"]
    np.maximum.at(max_rate, owner[inside], tl.rate[inside])
    max_mme = max_rate / 1e6
    benzo_days = tl.integral("NB", ke) - tl.integral("NB", ks)
    oud = d.oud_first[p] <= e - 1
    by_dose = max_mme >= prm.naloxone_mme - _TOLERANCE
    by_benzo = benzo_days > 0
    indicated = by_dose | by_benzo | oud
    lo = d.key(p, s - prm.naloxone_lookback_days)
    first = np.searchsorted(d.x_key, lo)
    has = first < len(d.x_key)
    first_key = d.x_key[np.minimum(first, max(len(d.x_key) - 1, 0))] if len(d.x_key) else lo
    naloxone = has & (first_key < ke)
    reasons = np.array(["", "dose", "benzodiazepine", "dose+benzodiazepine",
                        "opioid_use_disorder", "dose+opioid_use_disorder",
                        "benzodiazepine+opioid_use_disorder",
                        "dose+benzodiazepine+opioid_use_disorder"], dtype=object)
    reason = reasons[by_dose.astype(int) + 2 * by_benzo.astype(int) + 4 * oud.astype(int)]
    frame = pd.DataFrame({
        "patient_id": id_series(d.patients, p),
        "course": courses["course"].to_numpy()[idx],
        "start": date_series(s),
        "last_day": date_series(e - 1),
        "max_daily_mme": max_mme,
        "benzodiazepine_days": benzo_days.astype(np.int64),
        "opioid_use_disorder": oud,
        "indicated": indicated,
        "indicated_by": reason,
        "naloxone": naloxone,
        "first_naloxone": date_series(d.day_of(first_key)).where(naloxone),
    }).astype(_NALOXONE_COLUMNS)
    # Credits: prescribers of the course's dispenses.
    j = np.searchsorted(ks, d.d_key, side="right") - 1
    in_course = (j >= 0) & (d.d_key < ke[np.maximum(j, 0)])
    provider = d.n_provider[d.d_row]
    ok = in_course & (provider >= 0)
    pairs = _unique(j[ok] * max(len(d.providers), 1) + provider[ok])
    n_prov = max(len(d.providers), 1)
    return frame, pairs // n_prov, pairs % n_prov


# --------------------------------------------------------------------------- results


def _credits(rows: np.ndarray, provider: np.ndarray, providers: pd.Index,
             ordered: bool = True) -> pd.DataFrame:
    """Credit pairs as a frame, sorted by row then provider when ``ordered``."""
    if ordered:
        order = stable_argsort(rows * max(len(providers), 1) + provider)
        rows, provider = rows[order], provider[order]
    return pd.DataFrame({
        "row": rows.astype(np.int64),
        "provider_id": pd.Categorical.from_codes(provider, categories=providers.astype(object)),
    })


@dataclass
class SafetyMeasures:
    """All opioid-safety measures of one dataset, the measure step the results layer
    calls.

    - ``patient_years`` / ``patient_months``: one row per patient-window (calendar year;
      rolling ``trend_window_months`` ending with ``month``), see :func:`safety_measures`
      for the columns.
    - ``new_episodes``: HEDIS COU new episodes.
    - ``naloxone_courses``: every narcotic course with its naloxone indication.
    - ``taper_courses``: courses with stable long-term use or a stop from ≥ 50 MME/day.
    - ``year_credits`` / ``month_credits`` / ``course_credits``: ``row`` (position in
      ``patient_years`` / ``patient_months`` / ``naloxone_courses``) and ``provider_id``
      (categorical): every physician credited with that unit (sorted by row, except the
      month credits).
    - ``pharmacy_note``: why the pharmacy rates cannot be computed ("" when they can).
    - ``parameters``, ``extract_date``, ``data_start`` (the earliest event date).
    """

    patient_years: pd.DataFrame
    patient_months: pd.DataFrame
    new_episodes: pd.DataFrame
    naloxone_courses: pd.DataFrame
    taper_courses: pd.DataFrame
    year_credits: pd.DataFrame
    month_credits: pd.DataFrame
    course_credits: pd.DataFrame
    pharmacy_note: str
    parameters: SafetyParameters = field(default_factory=SafetyParameters)
    extract_date: pd.Timestamp | None = None
    data_start: pd.Timestamp | None = None


def safety_measures(
    events: pd.DataFrame,
    diagnoses: pd.DataFrame | None = None,
    extract: pd.Timestamp | None = None,
    parameters: SafetyParameters | None = None,
    fills: pd.DataFrame | None = None,
    courses: pd.DataFrame | None = None,
    monthly: bool = True,
    *,
    data_start: pd.Timestamp | None = None,
    pharmacy_recorded: bool | None = None,
) -> SafetyMeasures:
    """Every opioid-safety measure (module docstring; docs/definitions.md section 17).

    ``events``: the canonical events of the population's patients over their full history
    (``Population.full_history``), with ``drug_class`` filled; ``diagnoses``: the
    dataset's diagnoses (``IngestResult.diagnoses``: ``patient_id``, ``diagnosis_date``,
    ``kind``), None when there are none; ``extract``: the dataset's extract date (default:
    the latest event date).  ``fills`` (``narcotics.fill_mme``) and ``courses``
    (``narcotics.narcotic_courses`` with ``parameters.course_gap_days``), when the caller
    has them cached, are not computed again.  ``monthly=False`` skips ``patient_months``.
    ``data_start`` (the dataset's first event date) and ``pharmacy_recorded`` (whether its
    narcotic fills carry ``pharmacy_id``) default to those of ``events``; a cohort's
    measures computed from its own patients' events give them so that they equal the rows
    of these patients in the dataset's measures (and the Spark engine's buckets, some
    whole patients of a larger dataset, give the dataset's).

    Columns of ``patient_years``: ``patient_id``, ``year`` (int), ``window_start``, ``window_end``
    (last day, ≤ the extract date), ``partial`` (the data start after the window start or
    the extract date falls before its end), ``narcotic_fills`` (dispenses),
    ``fill_dates`` (distinct dispensing dates), ``fills_without_mme``, ``covered_days``,
    ``first_fill``, ``last_covered_day``, ``treatment_days`` (first_fill ..
    last_covered_day), ``total_mme``, ``average_mme_per_day``, ``prescribers``,
    ``pharmacies`` (Int64, NA without pharmacy data), ``benzodiazepine_fill_dates``,
    ``opioid_benzodiazepine_days``, ``triple_days``, ``triple_carisoprodol_days``, and the
    flags of :data:`MEASURES`: ``opioid_users``, ``hdo``, ``uop_denominator``,
    ``uop_prescribers``, ``uop_pharmacies`` / ``uop_both`` (boolean, NA without pharmacy
    data), ``cou_30_evaluable``, ``cou_15_of_30``, ``cou_62_evaluable``, ``cou_31_of_62``,
    ``cob``, ``triple_therapy``, ``triple_carisoprodol``, ``stable_long_term``, ``taper``,
    ``rapid_taper``, ``stop_from_high_dose``, ``abrupt_stop``.  ``patient_months`` (the
    trend) holds ``patient_id``, ``month`` (first day of the window's last month),
    ``partial`` and the same flags.
    """
    prm = parameters or SafetyParameters()
    d = _Data(events, diagnoses, extract, prm, fills, data_start, pharmacy_recorded)
    if courses is None:
        courses = narcotics.narcotic_courses(events, prm.course_gap_days, d.extract)
    course_arrays = _course_arrays(d, courses)
    episodes, episode_keys = _episodes(d)
    tapers, taper_keys = _tapers(d, courses, course_arrays)
    nalox, course_rows, course_providers = _naloxone(d, courses, course_arrays)
    grid = _Grid(d, course_arrays)
    sums = _grid_sums(grid, episode_keys, taper_keys)
    years, y_rows, y_prov = _window_table(grid, _windows(grid, "year"), sums, "year")
    month_windows = _windows(grid, "month")
    if not monthly:
        month_windows = _Windows(*(part[:0] for part in vars(month_windows).values()))
    months, m_rows, m_prov = _window_table(grid, month_windows, sums, "month")
    return SafetyMeasures(
        patient_years=years,
        patient_months=months,
        new_episodes=episodes,
        naloxone_courses=nalox,
        taper_courses=tapers,
        year_credits=_credits(y_rows, y_prov, d.providers),
        month_credits=_credits(m_rows, m_prov, d.providers, ordered=False),
        course_credits=_credits(course_rows, course_providers, d.providers),
        pharmacy_note="" if d.has_pharmacy else NO_PHARMACY_NOTE,
        parameters=prm,
        extract_date=d.extract,
        data_start=pd.Timestamp(date_series(np.array([d.data_start_day]))[0]),
    )


RATE_COLUMNS = {
    "measure": "string",
    "period": "datetime64[s]",
    "partial": "bool",
    "provider_id": "string",
    "denominator": "int64",
    "numerator": "Int64",
    "share": "float64",
    "clinic_denominator": "int64",
    "clinic_numerator": "Int64",
    "clinic_share": "float64",
    "note": "string",
}


def _course_periods(measures: SafetyMeasures, period: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(course row, period key) pairs: the course's start year, or every month whose
    trailing window holds its start."""
    start = day_numbers(measures.naloxone_courses["start"])
    month = _month_of_day(start)
    if period == "year":
        return np.arange(len(start)), month // 12 + 1970
    length = measures.parameters.trend_window_months
    extract_month = (int(_month_of_day(day_numbers(np.array(
        [measures.extract_date.to_datetime64()])))[0]) if measures.extract_date is not None
        else int(month.max(initial=0)))
    count = np.clip(extract_month - month + 1, 0, length)
    row, pos = _expand(count)
    return row, month[row] + pos


def _period_bounds(keys: np.ndarray, period: str, length: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(period date as day number, window start day, window end day exclusive)."""
    if period == "year":
        first_month = (keys - 1970) * 12
        return (_day_of_month(first_month), _day_of_month(first_month),
                _day_of_month(first_month + 12))
    return _day_of_month(keys), _day_of_month(keys - length + 1), _day_of_month(keys + 1)


def safety_rates(
    measures: SafetyMeasures,
    period: str = "year",
    by_physician: bool = True,
    names: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Shares of every measure per period, for the clinic and per physician.

    ``period``: ``"year"`` (calendar years) or ``"month"`` (the trend: each month the
    measure over the ``trend_window_months`` (12) ending with it; the December value is
    the calendar year's).  A physician's figure counts the units credited to that
    physician (``*_credits``); the clinic's counts every unit once.  ``names``: a subset
    of :data:`MEASURES` (default all).

    Columns: ``measure``; ``period`` (first day of the year, or of the window's last
    month); ``partial`` (the window starts before the data or ends after the extract
    date); ``provider_id`` (NA on the clinic's rows); ``denominator``, ``numerator``,
    ``share`` (numerator ÷ denominator); ``clinic_denominator``, ``clinic_numerator``,
    ``clinic_share`` (the clinic's figure for the same period, beside each physician's);
    ``note`` (why a figure cannot be computed, else empty).  The pharmacy measures have
    NA numerators and shares without pharmacy data.  Only periods and physicians with a
    denominator ≥ 1 are listed; sorted by measure (``MEASURES`` order), period, clinic
    first, then provider.  Counts are raw: small-cell suppression is the results layer's.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    prm = measures.parameters
    length = 12 if period == "year" else prm.trend_window_months
    windows = measures.patient_years if period == "year" else measures.patient_months
    w_key = (windows["year"].to_numpy(dtype=np.int64) if period == "year"
             else _month_of_day(day_numbers(windows["month"])))
    w_credits = measures.year_credits if period == "year" else measures.month_credits
    c_rows, c_key = _course_periods(measures, period)
    data_start = (int(day_numbers(np.array([measures.data_start.to_datetime64()]))[0])
                  if measures.data_start is not None else 0)
    extract_end = (int(day_numbers(np.array([measures.extract_date.to_datetime64()]))[0]) + 1
                   if measures.extract_date is not None else 0)
    window_units = _Units(np.arange(len(windows)), w_key, w_credits)
    course_units = _Units(c_rows, c_key, measures.course_credits)
    frames = []
    chosen = names or tuple(MEASURES)
    tallies = {}  # per table: its flag columns as bits, units tallied by pattern of flags
    for table, units in ((windows, window_units), (measures.naloxone_courses, course_units)):
        columns = sorted({c for n in chosen for c in MEASURES[n][:2]} & set(table.columns))
        bits = np.zeros(len(table), dtype=np.uint64)
        for i, column in enumerate(columns):
            bits |= table[column].to_numpy(dtype=bool, na_value=False).astype(np.uint64) << i
        tallies[id(table)] = (columns, _Tally(bits[units.source], units, by_physician))
    for name in chosen:
        den_col, num_col, _ = MEASURES[name]
        table, units = ((measures.naloxone_courses, course_units) if name in COURSE_MEASURES
                        else (windows, window_units))
        columns, tally = tallies[id(table)]
        counts = tally.counts(columns.index(den_col), columns.index(num_col),
                              len(units.periods), len(units.periods) * len(units.providers))
        frames.append(_rates_of(name, counts, units, by_physician,
                                name in PHARMACY_MEASURES and bool(measures.pharmacy_note),
                                measures.pharmacy_note, period, length, data_start,
                                extract_end))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out.astype(RATE_COLUMNS) if len(out) else pd.DataFrame(
        {c: pd.Series([], dtype=t) for c, t in RATE_COLUMNS.items()})


def rates_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`safety_rates`' table from its counts: ``counts`` has ``measure``, ``period``,
    ``partial``, ``provider_id`` (NA: the clinic), ``denominator``, ``numerator`` (NA: not
    available) and ``note``, one row per (measure, period, provider) — e.g. the sums of
    the rates of disjoint groups of a dataset's patients, each measured with the dataset's
    data start, extract date and pharmacy availability.  Shares and the clinic's figures
    are computed again; rows with a denominator of 0 are dropped; the order is
    :func:`safety_rates`'."""
    frame = counts.loc[counts["denominator"].to_numpy(dtype=np.int64) > 0]
    order = {name: i for i, name in enumerate(MEASURES)}
    provider = frame["provider_id"].astype("string")
    codes, _ = pd.factorize(provider, sort=True)  # the physicians in safety_rates' order
    frame = frame.assign(
        _measure=frame["measure"].astype(str).map(order).to_numpy(dtype=np.int64),
        _provider=codes, period=pd.to_datetime(frame["period"]).astype("datetime64[s]"),
        provider_id=provider)
    frame = frame.sort_values(["_measure", "period", "_provider"], kind="stable")
    frame = frame.reset_index(drop=True)
    den = frame["denominator"].to_numpy(dtype=np.int64)
    num = frame["numerator"].astype("Int64")
    clinic = frame.loc[frame["provider_id"].isna(), ["measure", "period", "denominator",
                                                     "numerator"]]
    clinic = clinic.set_index(["measure", "period"])
    keys = pd.MultiIndex.from_arrays([frame["measure"], frame["period"]])
    clinic_den = clinic["denominator"].reindex(keys).to_numpy(dtype=np.int64)
    clinic_num = clinic["numerator"].astype("Int64").reindex(keys).reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = num.to_numpy(dtype="float64", na_value=np.nan) / den
        clinic_share = clinic_num.to_numpy(dtype="float64", na_value=np.nan) / clinic_den
    out = pd.DataFrame({
        "measure": frame["measure"], "period": frame["period"], "partial": frame["partial"],
        "provider_id": frame["provider_id"], "denominator": den,
        "numerator": num.to_numpy(), "share": share, "clinic_denominator": clinic_den,
        "clinic_numerator": clinic_num.to_numpy(), "clinic_share": clinic_share,
        "note": frame["note"].astype("string").fillna(""),
    })
    return out.astype(RATE_COLUMNS) if len(out) else pd.DataFrame(
        {c: pd.Series([], dtype=t) for c, t in RATE_COLUMNS.items()})


class _Units:
    """The units a measure counts (rows of a source table, each in a period) and the
    physicians credited with each."""

    def __init__(self, source: np.ndarray, keys: np.ndarray, credits: pd.DataFrame) -> None:
        self.source = np.asarray(source, dtype=np.int64)
        keys = np.asarray(keys, dtype=np.int64)
        first = int(keys.min()) if len(keys) else 0
        self.periods = np.arange(first, int(keys.max()) + 1 if len(keys) else first)
        self.period_of = keys - first
        self.providers = (pd.Index(credits["provider_id"].cat.categories, dtype="string")
                          if len(credits) else pd.Index([], dtype="string"))
        c_row = credits["row"].to_numpy(dtype=np.int64)
        c_prov = credits["provider_id"].cat.codes.to_numpy().astype(np.int64)
        if np.array_equal(self.source, np.arange(len(self.source))):
            self.credit_unit, self.credit_provider = c_row, c_prov
        else:  # several units per source row (a course in 12 monthly windows)
            lo = np.searchsorted(c_row, self.source, side="left")
            hi = np.searchsorted(c_row, self.source, side="right")
            unit, pos = _expand(hi - lo)
            self.credit_unit, self.credit_provider = unit, c_prov[lo[unit] + pos]
        self.credit_cell = (self.period_of[self.credit_unit] * max(len(self.providers), 1)
                            + self.credit_provider)


class _Tally:
    """Units counted once per (period, pattern of flags) and credits once per (period ×
    physician cell, pattern): every measure's counts are then sums over the few patterns
    that have its bits."""

    def __init__(self, unit_bits: np.ndarray, units: _Units, by_physician: bool) -> None:
        code, patterns = pd.factorize(unit_bits)
        self.patterns = np.asarray(patterns, dtype=np.uint64)
        n_pat = max(len(self.patterns), 1)
        self.clinic = self._group(units.period_of * n_pat + code, n_pat)
        credited = by_physician and len(units.credit_unit) and len(units.providers)
        self.physician = (self._group(units.credit_cell * n_pat + code[units.credit_unit],
                                      n_pat) if credited else None)

    @staticmethod
    def _group(key: np.ndarray, n_pat: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cell, pattern, count) of the distinct keys cell × n_pat + pattern."""
        code, distinct = pd.factorize(key)
        distinct = np.asarray(distinct, dtype=np.int64)
        return distinct // n_pat, distinct % n_pat, np.bincount(code,
                                                                minlength=len(distinct))

    def counts(self, den_bit: int, num_bit: int, n_periods: int, n_cells: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(clinic denominators, numerators per period; physician denominators, numerators
        per period × physician cell, or None)."""
        one = np.uint64(1)
        has_den = ((self.patterns >> np.uint64(den_bit)) & one).astype(bool)
        has_num = has_den & ((self.patterns >> np.uint64(num_bit)) & one).astype(bool)

        def add(group, flag, size):
            cell, pattern, count = group
            return np.bincount(cell, weights=count * flag[pattern],
                               minlength=size).astype(np.int64)

        clinic = (add(self.clinic, has_den, n_periods), add(self.clinic, has_num, n_periods))
        if self.physician is None:
            return (*clinic, None, None)
        return (*clinic, add(self.physician, has_den, n_cells),
                add(self.physician, has_num, n_cells))


def _rates_of(name: str, counts: tuple, units: _Units, by_physician: bool, unavailable: bool,
              note: str, period: str, length: int, data_start: int, extract_end: int
              ) -> pd.DataFrame:
    """One measure's rates from its :meth:`_Tally.counts`."""
    periods = units.periods
    n_per = len(periods)
    clinic_den, clinic_num, p_den, p_num = counts
    parts = [(np.arange(n_per), np.full(n_per, -1), clinic_den, clinic_num)]
    providers = units.providers
    if by_physician and p_den is not None:
        n_prov = len(providers)
        listed = np.flatnonzero(p_den > 0)
        parts.append((listed // n_prov, listed % n_prov, p_den[listed], p_num[listed]))
    per = np.concatenate([p[0] for p in parts])
    prov = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    nm = np.concatenate([p[3] for p in parts])
    keep = d > 0
    per, prov, d, nm = per[keep], prov[keep], d[keep], nm[keep]
    order = np.lexsort((prov, per))
    per, prov, d, nm = per[order], prov[order], d[order], nm[order]
    day, start, end = _period_bounds(periods[per], period, length)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = nm / d
        clinic_share = clinic_num[per] / clinic_den[per]
    numerator = pd.array(nm, dtype="Int64")
    clinic_numerator = pd.array(clinic_num[per], dtype="Int64")
    if unavailable:
        numerator[:] = pd.NA
        clinic_numerator[:] = pd.NA
        share = np.full(len(d), np.nan)
        clinic_share = np.full(len(d), np.nan)
    provider_names = providers
    return pd.DataFrame({
        "measure": name,
        "period": date_series(day),
        "partial": (start < data_start) | (end > extract_end),
        "provider_id": id_series(provider_names, prov) if len(provider_names) else
        pd.Series(pd.NA, index=range(len(d)), dtype="string"),
        "denominator": d,
        "numerator": numerator,
        "share": share,
        "clinic_denominator": clinic_den[per],
        "clinic_numerator": clinic_numerator,
        "clinic_share": clinic_share,
        "note": note if unavailable else "",
    })
