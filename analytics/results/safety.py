"""The Safety result: the opioid-safety measures per year, per physician and as a monthly trend.

:func:`safety_counts` aggregates a cohort's safety measures
(:attr:`analytics.results.measures.CohortMeasures.safety`: the cohort's patients over
their full history, no lookback cut) into rates with
:func:`analytics.safety.safety_rates` — no threshold; :meth:`SafetyCounts.protect` lays
them out and protects them; :func:`build_safety` does both.

Every count is protected (small cells, complementary suppression) with the relations
that hold by definition: a numerator is a part of its denominator; measures that share a
denominator (HDO, COB and triple therapy count the same patient-years) show it once per
period; a rapid taper's denominator is the tapers; "≥ 4 of both" is a part of "≥ 4
prescribers" and of "≥ 4 pharmacies", triple therapy with carisoprodol a part of triple
therapy; the December point of the trend is the calendar year.  A share is hidden with
its counts, a change with either share, a physician's clinic figure with the clinic's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.results.layout import Layout
from analytics.results.measures import CohortMeasures
from analytics.results.table import Column, Kind, Table, count, derived, label, natural_order
from analytics.safety import (
    COURSE_MEASURES,
    MEASURES,
    PHARMACY_MEASURES,
    SafetyMeasures,
    SafetyParameters,
    safety_rates,
)

SHORT_LABELS: dict[str, str] = {
    "hdo": "High dosage (HDO)",
    "uop_prescribers": "≥ 4 prescribers (UOP)",
    "uop_pharmacies": "≥ 4 pharmacies (UOP)",
    "uop_both": "≥ 4 prescribers and ≥ 4 pharmacies (UOP)",
    "cou_15_of_30": "Continued use: ≥ 15 of 30 days (COU)",
    "cou_31_of_62": "Continued use: ≥ 31 of 62 days (COU)",
    "cob": "Opioid + benzodiazepine (COB)",
    "triple_therapy": "Triple therapy",
    "triple_carisoprodol": "Triple therapy with carisoprodol",
    "naloxone": "Naloxone when indicated",
    "taper": "Taper",
    "rapid_taper": "Rapid taper (share of tapers)",
    "abrupt_stop": "Abrupt stop",
}
"""A short name of each measure of :data:`analytics.safety.MEASURES`, in its order."""

HIGHER_IS_BETTER: frozenset[str] = frozenset({"naloxone", "taper"})
"""Measures where a rise is good news (the others flag risk)."""

KPI_MEASURES: tuple[str, ...] = ("hdo", "cob", "naloxone")
"""The three a manager reads first (the Overview's KPIs)."""

UNITS: dict[str, str] = {name: ("courses" if name in COURSE_MEASURES else "patient-years")
                         for name in MEASURES}

# Measures whose denominators are the same count (their MEASURES denominator column).
_DENOMINATOR = {name: den for name, (den, _, _) in MEASURES.items()}
# (part, whole): the numerator of the first counts a subset of the numerator of the second.
_NUMERATOR_PARTS = (("uop_both", "uop_prescribers"), ("uop_both", "uop_pharmacies"),
                    ("triple_carisoprodol", "triple_therapy"))
# (measure, other): the denominator of the first is the numerator of the other.
_DENOMINATOR_IS_NUMERATOR = (("rapid_taper", "taper"),)


def measure_definitions(p: SafetyParameters | None = None) -> dict[str, str]:
    """Each measure's definition in words, with its parameters (help texts, the report)."""
    p = p or SafetyParameters()
    users = (f"patient-years with ≥ {p.min_fill_dates} narcotic fills on different dates and "
             f"≥ {p.min_covered_days} narcotic-covered days")
    uop = (f"patient-years with ≥ {p.min_fills} narcotic fills and ≥ {p.min_covered_days} "
           "covered days")
    episode = (f"a new episode (no narcotic covered in the {p.washout_days} days before its "
               "first fill)")
    return {
        "hdo": f"Share of {users} whose total MME ÷ days from the first dispensing to the last "
               f"covered day in the year is ≥ {p.high_dose_mme:g} MME/day. NCQA HEDIS Use of "
               "Opioids at High Dosage (HDO).",
        "uop_prescribers": f"Share of {uop} with ≥ {p.multiple_providers} distinct prescribers. "
                           "NCQA HEDIS Use of Opioids from Multiple Providers (UOP).",
        "uop_pharmacies": f"Share of {uop} with ≥ {p.multiple_providers} distinct pharmacies "
                          "(needs the pharmacy of each fill). NCQA HEDIS UOP.",
        "uop_both": f"Share of {uop} with ≥ {p.multiple_providers} prescribers and "
                    f"≥ {p.multiple_providers} pharmacies. NCQA HEDIS UOP.",
        "cou_15_of_30": f"Share of patient-years with {episode} followed for "
                        f"{p.cou_short_window_days} days in which ≥ {p.cou_short_min_days} of "
                        f"its first {p.cou_short_window_days} days are covered. NCQA HEDIS Risk "
                        "of Continued Opioid Use (COU).",
        "cou_31_of_62": f"Share of patient-years with {episode} followed for "
                        f"{p.cou_long_window_days} days in which ≥ {p.cou_long_min_days} of its "
                        f"first {p.cou_long_window_days} days are covered. NCQA HEDIS COU.",
        "cob": f"Share of {users} with ≥ {p.min_benzodiazepine_fill_dates} benzodiazepine fills "
               f"on different dates and ≥ {p.cob_overlap_days} days covered by both. Pharmacy "
               "Quality Alliance, Concurrent Use of Opioids and Benzodiazepines (COB).",
        "triple_therapy": f"Share of {users} with a day covered by a narcotic, a "
                          "benzodiazepine and a muscle relaxant. CDC 2022 guideline, "
                          "recommendation 11.",
        "triple_carisoprodol": f"Share of {users} with a day covered by a narcotic, a "
                               "benzodiazepine and carisoprodol (Schedule IV, 76 FR 77330).",
        "naloxone": f"Share of indicated narcotic courses (a day at ≥ {p.naloxone_mme:g} MME/day, "
                    "overlap with a benzodiazepine, or an opioid-use-disorder diagnosis or "
                    "treatment) with a naloxone fill from "
                    f"{p.naloxone_lookback_days} days before the course start to its end. CDC "
                    "2022 guideline, recommendation 8.",
        "taper": f"Share of patient-years with stable long-term use (mean ≥ {p.stable_mme:g} "
                 f"MME/day over {p.baseline_months} months) in which a taper starts: a "
                 f"{p.taper_window_months * p.month_days}-day window of the next "
                 f"{p.follow_up_days // p.month_days} months with a mean dose "
                 f"≥ {p.taper_reduction:.0%} below the baseline. Agnoli A et al., JAMA 2021.",
        "rapid_taper": f"Share of tapers in which the mean dose falls more than "
                       f"{p.rapid_taper_reduction:.0%} within {p.rapid_taper_days} days "
                       "(PainPath's own threshold).",
        "abrupt_stop": f"Share of patient-years holding the end of a course of "
                       f"≥ {p.abrupt_stop_min_course_days} days that stopped from "
                       f"≥ {p.abrupt_stop_mme:g} MME/day (mean of its last "
                       f"{p.abrupt_stop_dose_days} days) without a taper. CDC 2022 "
                       "guideline, recommendation 5.",
    }


def _key(name: str, title: str) -> Column:
    """The measure's key (a label the pages select by, not displayed)."""
    return Column(name, title, Kind.LABEL, shown=False)


RATE_COLUMNS: tuple[Column, ...] = (
    label("measure", "Measure"), _key("key", "Measure key"),
    label("unit", "Counted"), count("denominator", "Denominator"),
    count("numerator", "Numerator"),
    derived("share", "Share", ["numerator", "denominator"], unit="%"),
)
YEAR_COLUMNS: tuple[Column, ...] = (
    *RATE_COLUMNS[:2], label("year", "Year"), label("coverage", "Coverage"), *RATE_COLUMNS[2:],
    derived("change", "Change from the year before", digits=1, unit=" pts", signed=True),
    label("note", "Note"),
)
PHYSICIAN_COLUMNS: tuple[Column, ...] = (
    *RATE_COLUMNS[:2], label("year", "Year"), label("coverage", "Coverage"),
    label("provider_id", "Physician"), *RATE_COLUMNS[2:],
    derived("clinic_share", "Clinic share", unit="%"), label("note", "Note"),
)
TREND_COLUMNS: tuple[Column, ...] = (
    *RATE_COLUMNS[:2], label("month", "12 months to"), label("coverage", "Coverage"),
    *RATE_COLUMNS[2:],
)
TAPER_COLUMNS: tuple[Column, ...] = (
    count("stable", "Courses with stable long-term use"),
    count("tapered", "Tapered"),
    derived("pct_tapered", "% tapered", ["tapered", "stable"], unit="%"),
    count("rapid", "Rapid tapers"),
    derived("pct_rapid", "% of tapers rapid", ["rapid", "tapered"], unit="%"),
    count("stops", "Stops from ≥ 50 MME/day after ≥ 90 days"),
    count("abrupt", "Abrupt stops (no taper)"),
    derived("pct_abrupt", "% abrupt", ["abrupt", "stops"], unit="%"),
)


@dataclass(frozen=True)
class SafetyResult:
    """The protected Safety view of a cohort.

    ``years``: the clinic's figure of every measure and calendar year (``year`` as text;
    ``key``: the measure
    of :data:`analytics.safety.MEASURES`; ``coverage``: "whole year" or "partial";
    denominator, numerator, share in %, change in points from the year before).
    ``physicians``: per measure, year and credited physician (a patient-year counts for
    every physician who prescribed the patient a narcotic in it), with the clinic share
    beside.  ``trend``: the clinic's figure per month over the 12 months ending with it.
    ``tapers``: narcotic courses with stable long-term use, tapers, rapid tapers, stops
    from a high dose and abrupt stops.  ``pharmacy_note``: why the pharmacy rates cannot be
    computed ("" when they can); ``definitions``: each measure in words.
    """

    parameters: SafetyParameters
    pharmacy_note: str
    definitions: dict[str, str]
    years: Table
    physicians: Table
    trend: Table
    tapers: Table

    @property
    def year_choices(self) -> list[str]:
        """The years of the ``years`` table (text, e.g. ``"2024"``), latest first."""
        return sorted({str(y) for y in self.years.values["year"]}, reverse=True)

    @property
    def default_year(self) -> str | None:
        """The latest year covered whole, else the latest year (None without any)."""
        values = self.years.values
        whole = values.loc[values["coverage"] == WHOLE_YEAR, "year"]
        if len(whole):
            return str(whole.max())
        return str(values["year"].max()) if len(values) else None


WHOLE_YEAR = "whole year"
PARTIAL = "partial"


@dataclass(frozen=True)
class SafetyCounts:
    """The Safety view's aggregates before protection (no threshold)."""

    parameters: SafetyParameters
    pharmacy_note: str
    years: pd.DataFrame
    physicians: pd.DataFrame
    trend: pd.DataFrame
    tapers: pd.DataFrame

    def protect(self, min_cell: int) -> SafetyResult:
        """Lay out and protect the tables (see :class:`SafetyResult`)."""
        layout = Layout(min_cell)
        layout.add("years", "Opioid safety by year (clinic)", YEAR_COLUMNS, self.years)
        _rate_relations(layout, "years", self.years, ["year"])
        keys = self.years["key"].to_numpy(dtype=object)
        years = self.years["year"].astype(int).to_numpy()
        for r in range(len(self.years)):
            before = [("years", r - 1, "share")] if r and keys[r - 1] == keys[r] and \
                years[r - 1] == years[r] - 1 else []
            layout.depends(("years", r, "change"), [("years", r, "share"), *before])
        layout.add("physicians", "Opioid safety by physician", PHYSICIAN_COLUMNS,
                   self.physicians)
        _rate_relations(layout, "physicians", self.physicians, ["year", "provider_id"])
        _physician_relations(layout, self.years, self.physicians)
        layout.add("trend", "Opioid safety, monthly trend (12 months to each month)",
                   TREND_COLUMNS, self.trend)
        _rate_relations(layout, "trend", self.trend, ["month"])
        _december_is_the_year(layout, self.years, self.trend)
        layout.add("tapers", "Tapers and abrupt stops (narcotic courses)", TAPER_COLUMNS,
                   self.tapers)
        cell = {c.name: layout.cell("tapers", 0, c.name) for c in TAPER_COLUMNS if c.is_count}
        for part, whole in (("tapered", "stable"), ("rapid", "tapered"), ("abrupt", "stops")):
            layout.part_of(cell[part], cell[whole])
        tables = layout.protect()
        return SafetyResult(self.parameters, self.pharmacy_note,
                            measure_definitions(self.parameters), **tables)


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[dict[str, int]]:
    """Rows of ``frame`` grouped by ``keys``: per group, measure key -> row position."""
    if frame.empty:
        return []
    group = frame.groupby(keys, sort=False).ngroup().to_numpy()
    out: list[dict[str, int]] = [{} for _ in range(int(group.max()) + 1)]
    for position, (g, key) in enumerate(zip(group.tolist(), frame["key"].tolist(),
                                            strict=True)):
        out[g][key] = position
    return out


def _rate_relations(layout: Layout, table: str, frame: pd.DataFrame, keys: list[str]) -> None:
    """The relations of a rates table within each period (and physician)."""
    numerator = frame["numerator"].isna().to_numpy()  # True: not available
    for rows in _groups(frame, keys):
        def cell(measure: str, column: str, rows: dict[str, int] = rows) -> int:
            return layout.cell(table, rows[measure], column)

        for measure, r in rows.items():
            if not numerator[r]:
                layout.part_of(cell(measure, "numerator"), cell(measure, "denominator"))
        by_denominator: dict[str, str] = {}
        for measure in rows:
            first = by_denominator.setdefault(_DENOMINATOR[measure], measure)
            if first != measure:
                layout.same(cell(first, "denominator"), cell(measure, "denominator"))
        for part, whole in _NUMERATOR_PARTS:
            if part in rows and whole in rows and not numerator[rows[part]] \
                    and not numerator[rows[whole]]:
                layout.part_of(cell(part, "numerator"), cell(whole, "numerator"))
        for measure, other in _DENOMINATOR_IS_NUMERATOR:
            if measure in rows and other in rows:
                layout.same(cell(measure, "denominator"), cell(other, "numerator"))


def _counts(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A count column as floats, NaN where not available."""
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64",
                                                                  na_value=np.nan)


def _physician_relations(layout: Layout, years: pd.DataFrame, physicians: pd.DataFrame) -> None:
    """A physician's figure beside the clinic's: the clinic share hides with the clinic's
    row; where the physicians' counts add up to the clinic's (no patient-year credited to
    two of them) the sum is declared, since a reader may assume it."""
    clinic = {(k, y): r for r, (k, y) in enumerate(zip(years["key"], years["year"],
                                                        strict=True))}
    by_cell: dict[tuple, list[int]] = {}
    for r, (k, y) in enumerate(zip(physicians["key"], physicians["year"], strict=True)):
        by_cell.setdefault((k, y), []).append(r)
        layout.depends(("physicians", r, "clinic_share"), [("years", clinic[(k, y)], "share")])
    for column in ("denominator", "numerator"):
        total, part = _counts(years, column), _counts(physicians, column)
        for (k, y), rows in by_cell.items():
            c = clinic[(k, y)]
            if not np.isnan(total[c]) and float(np.nansum(part[rows])) == total[c]:
                layout.sums(layout.cells("physicians", column, rows),
                            layout.cell("years", c, column))


def _december_is_the_year(layout: Layout, years: pd.DataFrame, trend: pd.DataFrame) -> None:
    """The trend's December point counts the calendar year's units."""
    if trend.empty or years.empty:
        return
    month = pd.to_datetime(trend["month"])
    december = np.flatnonzero((month.dt.month == 12).to_numpy())
    year_row = {(k, y): r for r, (k, y) in enumerate(zip(years["key"], years["year"],
                                                          strict=True))}
    keys, calendar = trend["key"].to_numpy(dtype=object), month.dt.year.to_numpy()
    for column in ("denominator", "numerator"):
        in_year, in_trend = _counts(years, column), _counts(trend, column)
        for t in december:
            r = year_row.get((keys[t], str(int(calendar[t]))))
            if r is not None and in_year[r] == in_trend[t]:  # NaN (not available) never is
                layout.same(layout.cell("years", r, column), layout.cell("trend", t, column))


# ---------------------------------------------------------------------- aggregation


def _in_window(period: pd.Series, kind: str, date_from: dt.date | None,
               date_to: dt.date | None) -> np.ndarray:
    """Periods that fall in the cohort's date window (years by year, trend points by their
    last month)."""
    keep = np.ones(len(period), dtype=bool)
    stamp = pd.to_datetime(period)
    if kind == "year":
        value = stamp.dt.year.to_numpy()
        lo = None if date_from is None else date_from.year
        hi = None if date_to is None else date_to.year
    else:
        value = (stamp.dt.year * 12 + stamp.dt.month - 1).to_numpy()
        lo = None if date_from is None else date_from.year * 12 + date_from.month - 1
        hi = None if date_to is None else date_to.year * 12 + date_to.month - 1
    if lo is not None:
        keep &= value >= lo
    if hi is not None:
        keep &= value <= hi
    return keep


def _coverage(partial: pd.Series) -> pd.Series:
    return pd.Series(np.where(partial.to_numpy(dtype=bool), PARTIAL, WHOLE_YEAR),
                     index=partial.index, dtype="string")


def _clinic_grid(rates: pd.DataFrame, period_column: str, periods: pd.Series,
                 partial: dict, note: str) -> pd.DataFrame:
    """Every measure in every period (denominator 0 where nothing was counted), in the
    order of :data:`analytics.safety.MEASURES`, then period."""
    clinic = rates.loc[rates["provider_id"].isna()]
    index = pd.MultiIndex.from_product([list(MEASURES), list(periods)],
                                       names=["key", period_column])
    got = clinic.assign(key=clinic["measure"].astype(str),
                        **{period_column: clinic["period"]}).set_index(["key", period_column])
    frame = got.reindex(index)[["denominator", "numerator", "share", "note"]].reset_index()
    frame["denominator"] = frame["denominator"].fillna(0).astype("int64")
    unavailable = frame["key"].isin(PHARMACY_MEASURES).to_numpy() & bool(note)
    numerator = frame["numerator"].astype("Int64").fillna(0)
    numerator[unavailable] = pd.NA
    frame["numerator"] = numerator
    frame["note"] = pd.Series(np.where(unavailable, note, ""), dtype="string")
    frame["share"] = pd.to_numeric(frame["share"], errors="coerce").astype("float64") * 100
    frame["partial"] = [partial.get(p, False) for p in frame[period_column]]
    return frame


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    keys = frame["key"].astype(str)
    return frame.assign(measure=keys.map(SHORT_LABELS).astype("string"),
                        key=keys.astype("string"), unit=keys.map(UNITS).astype("string"))


def _year_table(rates: pd.DataFrame, note: str) -> pd.DataFrame:
    periods = sorted(rates["period"].unique()) if len(rates) else []
    partial = dict(zip(rates["period"], rates["partial"], strict=True))
    frame = _clinic_grid(rates, "year", pd.Series(periods, dtype="datetime64[s]"), partial,
                         note)
    calendar = pd.to_datetime(frame["year"]).dt.year.to_numpy()
    frame["year"] = pd.Series(calendar.astype(str), dtype="string")
    frame["coverage"] = _coverage(frame["partial"])
    share = frame["share"].to_numpy()
    same_before = np.r_[False, (frame["key"].to_numpy()[1:] == frame["key"].to_numpy()[:-1])
                        & (calendar[1:] == calendar[:-1] + 1)]
    frame["change"] = np.where(same_before, share - np.r_[np.nan, share[:-1]], np.nan)
    return _labelled(frame)[[c.name for c in YEAR_COLUMNS]]


def _trend_table(rates: pd.DataFrame, note: str) -> pd.DataFrame:
    periods = sorted(rates["period"].unique()) if len(rates) else []
    partial = dict(zip(rates["period"], rates["partial"], strict=True))
    frame = _clinic_grid(rates, "month", pd.Series(periods, dtype="datetime64[s]"), partial,
                         note)
    frame["month"] = pd.to_datetime(frame["month"]).astype("datetime64[s]")
    frame["coverage"] = pd.Series(np.where(frame["partial"], PARTIAL, ""), dtype="string")
    return _labelled(frame)[[c.name for c in TREND_COLUMNS]]


def _physician_table(rates: pd.DataFrame) -> pd.DataFrame:
    doctors = rates.loc[rates["provider_id"].notna()]
    frame = pd.DataFrame({
        "key": doctors["measure"].astype(str).to_numpy(),
        "year": pd.to_datetime(doctors["period"]).dt.year.astype(str).to_numpy(dtype=object),
        "coverage": _coverage(doctors["partial"]).to_numpy(),
        "provider_id": doctors["provider_id"].astype("string").to_numpy(),
        "denominator": doctors["denominator"].to_numpy(dtype=np.int64),
        "numerator": doctors["numerator"].astype("Int64").to_numpy(),
        "share": doctors["share"].to_numpy(dtype="float64") * 100,
        "clinic_share": doctors["clinic_share"].to_numpy(dtype="float64") * 100,
        "note": doctors["note"].astype("string").to_numpy(),
    })
    order = {name: i for i, name in enumerate(MEASURES)}
    frame = natural_order(frame.assign(order=frame["key"].map(order)),
                          ["order", "year", "provider_id"]).drop(columns="order")
    frame["numerator"] = frame["numerator"].astype("Int64")
    frame["year"] = frame["year"].astype("string")
    return _labelled(frame.reset_index(drop=True))[[c.name for c in PHYSICIAN_COLUMNS]]


TAPER_TOTALS: tuple[str, ...] = ("stable", "tapered", "rapid", "stops", "abrupt")
"""The counts of the tapers table (:func:`taper_totals`), in its order."""


def taper_totals(measures: SafetyMeasures, date_from: dt.date | None = None,
                 date_to: dt.date | None = None) -> dict[str, int]:
    """Narcotic courses with stable long-term use (``stable``), tapered, rapid tapers
    (``rapid``), stops from a high dose after a long course (``stops``), abrupt stops
    (``abrupt``) — of the courses that overlap the date window."""
    courses = measures.taper_courses
    keep = np.ones(len(courses), dtype=bool)
    if date_from is not None:
        keep &= (courses["last_day"] >= pd.Timestamp(date_from)).to_numpy()
    if date_to is not None:
        keep &= (courses["start"] <= pd.Timestamp(date_to)).to_numpy()
    c = courses.loc[keep]
    return {"stable": int(c["stable_from"].notna().sum()), "tapered": int(c["tapered"].sum()),
            "rapid": int(c["rapid_taper"].sum()), "stops": int(c["stop_from_high_dose"].sum()),
            "abrupt": int(c["abrupt_stop"].sum())}


def taper_table(totals: Mapping[str, int]) -> pd.DataFrame:
    """One row: the :data:`TAPER_TOTALS` with the shares of each in the one before."""
    stable, tapered, rapid, stops, abrupt = (int(totals[k]) for k in TAPER_TOTALS)

    def pct(part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else np.nan

    return pd.DataFrame([{
        "stable": stable, "tapered": tapered, "pct_tapered": pct(tapered, stable),
        "rapid": rapid, "pct_rapid": pct(rapid, tapered), "stops": stops, "abrupt": abrupt,
        "pct_abrupt": pct(abrupt, stops)}])


def taper_counts(measures: SafetyMeasures, date_from: dt.date | None = None,
                 date_to: dt.date | None = None) -> pd.DataFrame:
    """One row: narcotic courses with stable long-term use, tapered, rapid tapers, stops
    from a high dose after a long course, abrupt stops — of the courses that overlap the
    date window — with the shares of each in the one before."""
    return taper_table(taper_totals(measures, date_from, date_to))


def rate_tables(measures: SafetyMeasures, date_from: dt.date | None = None,
                date_to: dt.date | None = None, *, trend: bool = True,
                names: Sequence[str] | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(clinic by year, physicians by year, clinic monthly trend) of ``measures`` in the
    date window, before protection."""
    names = tuple(names) if names is not None else None
    years = safety_rates(measures, "year", by_physician=True, names=names)
    years = years.loc[_in_window(years["period"], "year", date_from, date_to)]
    months = (safety_rates(measures, "month", by_physician=False, names=names) if trend
              else years.iloc[0:0])
    months = months.loc[_in_window(months["period"], "month", date_from, date_to)]
    return (_year_table(years, measures.pharmacy_note), _physician_table(years),
            _trend_table(months, measures.pharmacy_note))


def safety_counts(m: CohortMeasures, date_from: dt.date | None = None,
                  date_to: dt.date | None = None) -> SafetyCounts:
    """The Safety aggregates of a cohort: its patients' safety measures over their full
    history, the years (and trend months) in the cohort's date window."""
    measures = m.safety
    years, physicians, trend = rate_tables(measures, date_from, date_to)
    return SafetyCounts(measures.parameters, measures.pharmacy_note, years, physicians, trend,
                        taper_counts(measures, date_from, date_to))


def safety_counts_from(parameters: SafetyParameters, pharmacy_note: str, years: pd.DataFrame,
                       months: pd.DataFrame, tapers: Mapping[str, int]) -> SafetyCounts:
    """The Safety aggregates from :func:`analytics.safety.safety_rates`' tables — by year
    with the physicians, and by month — and the :func:`taper_totals`, all of the whole
    window: what both engines give (the Spark engine sums them over buckets of patients,
    :func:`analytics.safety.rates_from_counts`)."""
    return SafetyCounts(parameters, pharmacy_note, _year_table(years, pharmacy_note),
                        _physician_table(years), _trend_table(months, pharmacy_note),
                        taper_table(tapers))


def build_safety(m: CohortMeasures, date_from: dt.date | None = None,
                 date_to: dt.date | None = None, min_cell: int = 11) -> SafetyResult:
    """The protected Safety view of a cohort (:func:`safety_counts`, then protection)."""
    return safety_counts(m, date_from, date_to).protect(min_cell)
