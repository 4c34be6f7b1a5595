"""The Safety result: rates by year, physician and month, protected (hand-computed).

The clinic (extract date 2025-12-31; a visit on 2024-01-01 starts the data):

- ``a`` (DR1): fills 2024-03-01 (7 days) and 2024-03-08 (8 days) at 100 MME/day: 15 covered
  days on 2 dates, average 100: an opioid user with high dosage in 2024.
- ``b``: the same days at 30 MME/day, the first fill by DR1, the second by DR2: an opioid
  user, not high dosage; credited to both physicians.
- ``c`` (DR2): one 30-day fill 2024-05-01 at 30: one fill date, not an opioid user.

HDO 2024: clinic 1 of 2 (50 %); DR1 1 of 2 (a, b); DR2 0 of 1 (b).  2025 has no narcotic:
no row for 2025.
"""

import datetime as dt

import numpy as np
import pandas as pd

from analytics.results.measures import CohortMeasures, select_safety
from analytics.results.safety import (
    SHORT_LABELS,
    build_safety,
    measure_definitions,
    safety_counts,
    safety_counts_from,
    taper_totals,
)
from analytics.safety import MEASURES, NO_PHARMACY_NOTE, safety_measures, safety_rates
from tests.test_safety import ev, monthly_fills, narc, visit

EXTRACT = pd.Timestamp("2025-12-31")


def clinic(pharmacy: bool = False) -> pd.DataFrame:
    rows = [
        visit("z", "2024-01-01"),
        narc("a", "2024-03-01", 7, 100), narc("a", "2024-03-08", 8, 100),
        narc("b", "2024-03-01", 7, 30), narc("b", "2024-03-08", 8, 30, provider="DR2"),
        narc("c", "2024-05-01", 30, 30, provider="DR2"),
    ]
    frame = ev(rows)
    if not pharmacy:
        frame["pharmacy_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def measures(events: pd.DataFrame) -> CohortMeasures:
    return CohortMeasures(events, extract=EXTRACT)


def row(table, **where) -> int:
    values = table.values
    mask = np.ones(len(values), dtype=bool)
    for column, value in where.items():
        mask &= (values[column] == value).to_numpy(dtype=bool, na_value=False)
    rows = np.flatnonzero(mask)
    assert len(rows) == 1, where
    return int(rows[0])


def test_clinic_years_physicians_and_trend_without_suppression():
    result = build_safety(measures(clinic()), min_cell=0)
    years = result.years
    assert years.values["key"].tolist() == list(MEASURES)  # one year: 2024, every measure
    assert set(years.values["year"]) == {"2024"}
    hdo = row(years, key="hdo", year="2024")
    assert [years.cell(hdo, c) for c in ("denominator", "numerator", "share")] == [2, 1, 50.0]
    assert years.text(hdo, "measure") == SHORT_LABELS["hdo"]
    assert years.text(hdo, "coverage") == "whole year"
    assert years.text(hdo, "change") == "–"  # no year before
    # b's first fill is DR1's, its second DR2's: b counts for both
    doctors = result.physicians
    dr1, dr2 = (row(doctors, key="hdo", year="2024", provider_id=p) for p in ("DR1", "DR2"))
    assert [doctors.cell(dr1, c) for c in ("denominator", "numerator", "share",
                                           "clinic_share")] == [2, 1, 50.0, 50.0]
    assert [doctors.cell(dr2, c) for c in ("denominator", "numerator", "share",
                                           "clinic_share")] == [1, 0, 0.0, 50.0]
    # the trend's December point is the calendar year; March (12 months Apr 2023 - Mar 2024)
    # already holds both patients
    trend = result.trend
    december = row(trend, key="hdo", month=pd.Timestamp("2024-12-01"))
    march = row(trend, key="hdo", month=pd.Timestamp("2024-03-01"))
    assert trend.cell(december, "denominator") == 2 and trend.cell(march, "numerator") == 1
    # without pharmacy_id the pharmacy rates cannot be computed: no figure, the reason
    pharmacies = row(years, key="uop_pharmacies", year="2024")
    assert years.text(pharmacies, "numerator") == "–"
    assert years.text(pharmacies, "share") == "–"
    assert years.text(pharmacies, "note") == NO_PHARMACY_NOTE
    assert result.pharmacy_note == NO_PHARMACY_NOTE


def test_pharmacy_rates_are_computed_with_pharmacy_id():
    result = build_safety(measures(clinic(pharmacy=True)), min_cell=0)
    pharmacies = row(result.years, key="uop_pharmacies", year="2024")
    # UOP denominator: >= 2 fills and >= 15 covered days: a and b; one pharmacy each
    assert result.years.cell(pharmacies, "denominator") == 2
    assert result.years.cell(pharmacies, "numerator") == 0
    assert result.years.text(pharmacies, "note") == "" and result.pharmacy_note == ""


def test_small_counts_hidden_with_their_shares_changes_and_clinic_figures():
    result = build_safety(measures(clinic()), min_cell=3)
    years = result.years
    hdo = row(years, key="hdo", year="2024")
    assert [years.text(hdo, c) for c in ("denominator", "numerator", "share")] == [
        "<3", "<3", "hidden"]
    # HDO, COB and triple therapy count the same patient-years: hidden alike
    for key in ("cob", "triple_therapy", "triple_carisoprodol"):
        assert years.text(row(years, key=key, year="2024"), "denominator") == "<3"
    doctors = result.physicians
    dr1 = row(doctors, key="hdo", year="2024", provider_id="DR1")
    assert doctors.text(dr1, "clinic_share") == "hidden"
    # zero counts are never small: COU has no evaluable episode, 0 of 0
    cou = row(years, key="cou_15_of_30", year="2024")
    assert [years.text(cou, c) for c in ("denominator", "share")] == ["0", "–"]


def test_change_from_the_year_before_is_hidden_with_either_share():
    # 2024 and 2025: twelve opioid users a0..a11 each year (>= the threshold 3), high dose in
    # 2024 for all, in 2025 for one only: the 2025 numerator 1 is small, its share and the
    # change with it
    rows = [visit("z", "2024-01-01")]
    for i in range(12):
        for year in (2024, 2025):
            dose = 100 if year == 2024 or i == 0 else 30
            rows += [narc(f"a{i}", f"{year}-03-01", 7, dose), narc(f"a{i}", f"{year}-03-08", 8,
                                                                   dose)]
    result = build_safety(measures(ev(rows)), min_cell=3)
    years = result.years
    r24, r25 = row(years, key="hdo", year="2024"), row(years, key="hdo", year="2025")
    assert [years.text(r24, c) for c in ("denominator", "numerator", "share")] == [
        "12", "12", "100.0%"]
    assert [years.text(r25, c) for c in ("denominator", "numerator", "share", "change")] == [
        "12", "<3", "hidden", "hidden"]
    # without suppression: 1 / 12 = 8.3 %, a change of -91.7 points
    plain = build_safety(measures(ev(rows)), min_cell=0).years
    assert plain.text(row(plain, key="hdo", year="2025"), "change") == "-91.7 pts"
    assert result.year_choices == ["2025", "2024"]


def test_tapers_count_courses():
    # 12 months at 60 MME/day then 45 (25 % below the baseline): stable long-term use and a
    # taper, not rapid (25 % < 40 %), not a stop from >= 50 (the last 30 days at 45)
    rows = monthly_fills("t", "2023-01-01", [60] * 12 + [45] * 4)
    result = build_safety(measures(ev(rows)), min_cell=0)
    tapers = result.tapers
    assert [tapers.cell(0, c) for c in ("stable", "tapered", "rapid", "stops", "abrupt")] == [
        1, 1, 0, 0, 0]
    assert tapers.text(0, "pct_tapered") == "100.0%"
    assert tapers.text(0, "pct_abrupt") == "–"


def test_date_window_keeps_the_years_it_touches():
    rows = [visit("z", "2023-01-01"),
            narc("a", "2023-03-01", 7, 100), narc("a", "2023-03-08", 8, 100),
            narc("a", "2024-03-01", 7, 100), narc("a", "2024-03-08", 8, 100)]
    m = measures(ev(rows))
    assert sorted(set(safety_counts(m).years["year"])) == ["2023", "2024"]
    window = safety_counts(m, dt.date(2024, 1, 1), None)
    assert sorted(set(window.years["year"])) == ["2024"]
    # the trend's points from January 2024 (a point of 2025 still holds March 2024)
    months = pd.to_datetime(window.trend["month"])
    assert months.min() == pd.Timestamp("2024-01-01")
    assert pd.to_datetime(safety_counts(m).trend["month"]).min() == pd.Timestamp("2023-03-01")


def test_a_cohort_selects_its_patients_rows_with_the_credits_renumbered():
    events = clinic()
    everyone = safety_measures(events, extract=EXTRACT)
    only_b = select_safety(everyone, pd.Index(["b"], dtype="string"))
    assert only_b.patient_years["patient_id"].unique().tolist() == ["b"]
    # b's 2024 window is credited to both physicians, now row 0
    credits = only_b.year_credits
    assert credits["row"].tolist() == [0, 0]
    assert credits["provider_id"].astype(str).tolist() == ["DR1", "DR2"]
    # the same rates as the measures of b's events alone (same data start, same extract)
    alone = safety_measures(events.loc[events["patient_id"].isin(["b", "z"])], extract=EXTRACT)
    for period in ("year", "month"):
        pd.testing.assert_frame_equal(safety_rates(only_b, period), safety_rates(alone, period))
    # a CohortMeasures of a cohort reads the population's measures
    cohort = CohortMeasures(events.loc[events["patient_id"] == "b"], extract=EXTRACT,
                            population=measures(events).population)
    assert cohort.safety.patient_years["patient_id"].tolist() == ["b"]


def test_every_measure_has_a_short_label_and_a_definition():
    assert list(SHORT_LABELS) == list(MEASURES)
    definitions = measure_definitions()
    assert list(definitions) == list(MEASURES)
    assert "≥ 90 MME/day" in definitions["hdo"] and "180 days" in definitions["cou_15_of_30"]


def test_the_aggregates_from_rates_and_taper_totals_are_the_cohorts():
    """What the Spark engine hands the builder (rates and taper totals, summed over
    buckets) gives the local aggregates, tapers included."""
    m = measures(ev([*clinic(pharmacy=True).to_dict("records"),
                     *ev(monthly_fills("t", "2023-01-01", [60] * 12 + [45] * 4))
                     .to_dict("records")]))
    safety = m.safety
    expected = safety_counts(m)
    got = safety_counts_from(safety.parameters, safety.pharmacy_note,
                             safety_rates(safety, "year", by_physician=True),
                             safety_rates(safety, "month", by_physician=False),
                             taper_totals(safety))
    for name in ("years", "physicians", "trend", "tapers"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))
    assert taper_totals(safety) == {"stable": 1, "tapered": 1, "rapid": 0, "stops": 0,
                                    "abrupt": 0}
