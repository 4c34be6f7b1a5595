"""Opioid safety measures: hand-computed cases at every boundary (docs/definitions.md 17)."""

import numpy as np
import pandas as pd
import pytest

from analytics.safety import (
    MEASURES,
    NO_PHARMACY_NOTE,
    SafetyParameters,
    rates_from_counts,
    safety_measures,
    safety_rates,
)
from analytics.schema import conform, empty_events

EXTRACT = pd.Timestamp("2025-12-31")
CYCLOBENZAPRINE = "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet"
CARISOPRODOL = "carisoprodol 350 MG Oral Tablet"


def narc(pid, date, days, mme=30.0, provider="DR1", pharmacy="PH1", **kw) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "narcotic",
            "drug_class": "opioid", "days_supply": days, "mme_per_day": mme,
            "provider_id": provider, "pharmacy_id": pharmacy, **kw}


def benzo(pid, date, days) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "other",
            "drug_class": "benzodiazepine", "days_supply": days,
            "detail": "alprazolam 0.5 MG Oral Tablet"}


def relaxant(pid, date, days, detail=CYCLOBENZAPRINE) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "muscle_relaxant",
            "drug_class": "muscle_relaxant", "days_supply": days, "detail": detail}


def naloxone(pid, date) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "other",
            "drug_class": "naloxone", "days_supply": 1,
            "detail": "naloxone 4 MG/ACTUAT Nasal Spray"}


def visit(pid, date) -> dict:
    return {"patient_id": pid, "event_date": date, "technique": "physical_therapy"}


def ev(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["event_date"] = pd.to_datetime(df["event_date"])
    if "end_date" in df:
        df["end_date"] = pd.to_datetime(df["end_date"])
    return conform(df)


def monthly_fills(pid, start, doses, provider="DR1") -> list[dict]:
    """One 30-day fill per 'month' of the taper grid: fill i covers [start + 30 i, + 30)."""
    first = pd.Timestamp(start)
    return [narc(pid, (first + pd.Timedelta(days=30 * i)).strftime("%Y-%m-%d"), 30, dose,
                 provider=provider)
            for i, dose in enumerate(doses)]


def year_row(m, pid, year) -> pd.Series:
    t = m.patient_years
    rows = t[(t["patient_id"] == pid) & (t["year"] == year)]
    assert len(rows) == 1, f"no single {year} row for {pid}"
    return rows.iloc[0]


def day(value: str) -> pd.Timestamp:
    return pd.Timestamp(value)


# ----------------------------------------------------------------- HDO


def test_hdo_denominator_14_vs_15_covered_days():
    m = safety_measures(ev([
        narc("a", "2024-03-01", 7, 100), narc("a", "2024-03-08", 7, 100),  # Mar 1-14: 14
        narc("b", "2024-03-01", 7, 100), narc("b", "2024-03-08", 8, 100),  # Mar 1-15: 15
    ]), extract=EXTRACT)
    a, b = year_row(m, "a", 2024), year_row(m, "b", 2024)
    assert (a["covered_days"], b["covered_days"]) == (14, 15)
    assert (a["fill_dates"], b["fill_dates"]) == (2, 2)
    assert not a["opioid_users"] and not a["hdo"]
    assert b["opioid_users"] and b["hdo"]
    assert b["average_mme_per_day"] == pytest.approx(100.0)


def test_two_fills_on_one_date_are_one_fill_date_but_two_fills():
    m = safety_measures(ev([narc("c", "2024-03-01", 20, 100),
                            narc("c", "2024-03-01", 20, 100, provider="DR2")]),
                        extract=EXTRACT)
    c = year_row(m, "c", 2024)
    assert (c["narcotic_fills"], c["fill_dates"], c["covered_days"]) == (2, 1, 20)
    assert not c["opioid_users"]  # HDO/COB: >= 2 fills on different dates
    assert c["uop_denominator"]  # UOP: >= 2 fills and >= 15 covered days


def test_a_row_of_k_dispenses_counts_k_fills_on_their_refill_dates():
    m = safety_measures(ev([
        narc("d", "2024-05-01", 10, 50, dispenses=2),  # dispensed May 1 and May 11
        narc("e", "2024-12-12", 10, 50, dispenses=3),  # Dec 12, Dec 22 and 1 Jan 2025
    ]), extract=EXTRACT)
    d = year_row(m, "d", 2024)
    assert (d["narcotic_fills"], d["fill_dates"], d["covered_days"]) == (2, 2, 20)
    assert d["opioid_users"] and d["first_fill"] == day("2024-05-01")
    e24, e25 = year_row(m, "e", 2024), year_row(m, "e", 2025)
    assert (e24["narcotic_fills"], e24["covered_days"]) == (2, 20)  # Dec 12-31
    assert (e25["narcotic_fills"], e25["covered_days"]) == (1, 10)  # Jan 1-10
    assert e25["first_fill"] == day("2025-01-01")


def test_hdo_average_over_days_from_first_dispensing_to_last_covered_day():
    # Jan 1-10 and Jan 21-30 at 135: the 10 uncovered days count in the 30-day period,
    # total 2700 / 30 = 90 exactly (>= 90); at 134: 2680 / 30 = 89.33.
    m = safety_measures(ev([
        narc("f", "2024-01-01", 10, 135), narc("f", "2024-01-21", 10, 135),
        narc("g", "2024-01-01", 10, 134), narc("g", "2024-01-21", 10, 134),
    ]), extract=EXTRACT)
    f, g = year_row(m, "f", 2024), year_row(m, "g", 2024)
    assert (f["treatment_days"], f["total_mme"]) == (30, 2700.0)
    assert f["average_mme_per_day"] == pytest.approx(90.0) and f["hdo"]
    assert g["average_mme_per_day"] == pytest.approx(2680 / 30) and not g["hdo"]


def test_hdo_clips_a_fill_running_past_december_31():
    # Dec 2 (15 days) and Dec 17 (30 days, runs to Jan 15) at 120 MME/day.
    m = safety_measures(ev([narc("h", "2023-12-02", 15, 120),
                            narc("h", "2023-12-17", 30, 120)]), extract=EXTRACT)
    h23, h24 = year_row(m, "h", 2023), year_row(m, "h", 2024)
    assert h23["covered_days"] == 30  # Dec 2-31: days after Dec 31 are not in 2023
    assert h23["last_covered_day"] == day("2023-12-31")
    assert (h23["treatment_days"], h23["total_mme"]) == (30, 3600.0)
    assert h23["hdo"]
    # 2024 holds the 15 carried-over days but no dispensing: not in the denominator.
    assert (h24["covered_days"], h24["fill_dates"]) == (15, 0)
    assert not h24["opioid_users"] and pd.isna(h24["total_mme"])


def test_hdo_treatment_period_starts_at_the_first_dispensing_in_the_year():
    # Dec 20 fill (200 MME/day) covers to Jan 18; fills Jan 10 and Jan 20 (50, 10 days).
    # 2024: covered Jan 1-29 (29 days); treatment period Jan 10-29 (20 days); daily doses
    # Jan 10-18: 250 (x 9), Jan 19: 50, Jan 20-29: 50 (x 10) -> 2800 / 20 = 140.
    m = safety_measures(ev([narc("i", "2023-12-20", 30, 200),
                            narc("i", "2024-01-10", 10, 50),
                            narc("i", "2024-01-20", 10, 50)]), extract=EXTRACT)
    i = year_row(m, "i", 2024)
    assert i["covered_days"] == 29
    assert (i["first_fill"], i["last_covered_day"]) == (day("2024-01-10"), day("2024-01-29"))
    assert (i["treatment_days"], i["total_mme"]) == (20, 2800.0)
    assert i["average_mme_per_day"] == pytest.approx(140.0)


# ----------------------------------------------------------------- UOP


def _four_fills(pid, providers, pharmacies, year="2024") -> list[dict]:
    return [narc(pid, f"{year}-0{i + 2}-01", 10, provider=dr, pharmacy=ph)
            for i, (dr, ph) in enumerate(zip(providers, pharmacies, strict=True))]


def test_uop_four_prescribers_four_pharmacies_and_both():
    m = safety_measures(ev(
        _four_fills("j", ["DR1", "DR2", "DR3", "DR4"], ["PH1", "PH2", "PH3", "PH3"])
        + _four_fills("k", ["DR1", "DR1", "DR2", "DR3"], ["PH1", "PH2", "PH3", "PH4"])
        + _four_fills("l", ["DR1", "DR2", "DR3", "DR4"], ["PH1", "PH2", "PH3", "PH4"])
        # n: the fourth prescriber was in 2023, so 2024 has 3
        + _four_fills("n", ["DR1", "DR2", "DR3", "DR3"], ["PH1"] * 4)
        + [narc("n", "2023-06-01", 10, provider="DR4")]
    ), extract=EXTRACT)
    got = {pid: (year_row(m, pid, 2024)["prescribers"], year_row(m, pid, 2024)["pharmacies"],
                 bool(year_row(m, pid, 2024)["uop_prescribers"]),
                 bool(year_row(m, pid, 2024)["uop_pharmacies"]),
                 bool(year_row(m, pid, 2024)["uop_both"])) for pid in "jkln"}
    assert got == {
        "j": (4, 3, True, False, False),
        "k": (3, 4, False, True, False),
        "l": (4, 4, True, True, True),
        "n": (3, 1, False, False, False),
    }
    assert m.pharmacy_note == ""


def test_uop_pharmacy_rates_cannot_be_computed_without_pharmacy_id():
    rows = _four_fills("l", ["DR1", "DR2", "DR3", "DR4"], [None] * 4)
    m = safety_measures(ev(rows), extract=EXTRACT)
    row = year_row(m, "l", 2024)
    assert row["uop_prescribers"]
    assert pd.isna(row["pharmacies"]) and pd.isna(row["uop_pharmacies"])
    assert pd.isna(row["uop_both"])
    assert m.pharmacy_note == NO_PHARMACY_NOTE
    rates = safety_rates(m, by_physician=False)
    pharm = rates[rates["measure"] == "uop_pharmacies"].iloc[0]
    assert pharm["denominator"] == 1 and pd.isna(pharm["numerator"])
    assert np.isnan(pharm["share"]) and pharm["note"] == NO_PHARMACY_NOTE
    presc = rates[rates["measure"] == "uop_prescribers"].iloc[0]
    assert (presc["numerator"], presc["share"], presc["note"]) == (1, 1.0, "")


def test_the_dataset_data_start_and_pharmacy_data_can_be_given():
    # s alone starts the data on 2022-06-30 (no 180 clean days before it: no new episode);
    # with the dataset's start 2022-01-01 the washout lies inside the data (as above).
    alone = ev([narc("s", "2022-06-30", 20, pharmacy=None)])
    assert _episodes(safety_measures(alone, extract=EXTRACT), "s") == []
    given = safety_measures(alone, extract=EXTRACT, data_start=day("2022-01-01"),
                            pharmacy_recorded=True)
    assert _episodes(given, "s") == ["2022-06-30"]
    assert given.data_start == day("2022-01-01")
    # the dataset records pharmacies (other patients' fills carry one): the rates are
    # computed, s's fills counting no pharmacy
    assert given.pharmacy_note == "" and safety_measures(alone).pharmacy_note == NO_PHARMACY_NOTE
    assert year_row(given, "s", 2022)["pharmacies"] == 0


# ----------------------------------------------------------------- COU


def _episodes(m, pid) -> list[str]:
    e = m.new_episodes
    return e.loc[e["patient_id"] == pid, "episode_start"].dt.strftime("%Y-%m-%d").tolist()


def test_cou_washout_of_exactly_180_days():
    # The 2023-01-01 fill covers Jan 1-10.  July 10 is 181 days after Jan 10: Jan 11 - Jul 9
    # are 180 uncovered days -> a new episode; July 9 leaves Jan 10 inside the 180 days.
    m = safety_measures(ev([
        visit("x", "2022-01-01"),
        narc("p", "2023-01-01", 10), narc("p", "2023-07-10", 20),
        narc("q", "2023-01-01", 10), narc("q", "2023-07-09", 20),
    ]), extract=EXTRACT)
    assert _episodes(m, "p") == ["2023-01-01", "2023-07-10"]
    assert _episodes(m, "q") == ["2023-01-01"]


def test_cou_washout_must_lie_inside_the_data():
    # Data start 2022-01-01: a first fill 179 days later cannot show 180 clean days.
    m = safety_measures(ev([
        visit("x", "2022-01-01"),
        narc("r", "2022-06-29", 20),  # 2022-01-01 + 179 days
        narc("s", "2022-06-30", 20),  # 2022-01-01 + 180 days
    ]), extract=EXTRACT)
    assert _episodes(m, "r") == []
    assert _episodes(m, "s") == ["2022-06-30"]


def test_cou_15_of_30_and_31_of_62():
    m = safety_measures(ev([
        visit("x", "2022-01-01"),
        narc("t", "2023-03-01", 14),
        narc("u", "2023-03-01", 15),
        # Mar 1-15 and Apr 1-16 inside [Mar 1, May 2): 31 of the first 62 days
        narc("v", "2023-03-01", 15), narc("v", "2023-04-01", 16),
        narc("w", "2023-03-01", 15), narc("w", "2023-04-01", 15),
    ]), extract=EXTRACT)
    e = m.new_episodes.set_index("patient_id")
    assert e.loc[["t", "u", "v", "w"], "covered_days_30"].tolist() == [14, 15, 15, 15]
    assert e.loc[["t", "u", "v", "w"], "covered_days_62"].tolist() == [14, 15, 31, 30]
    assert e.loc[["t", "u", "v", "w"], "cou_15_of_30"].tolist() == [False, True, True, True]
    assert e.loc[["t", "u", "v", "w"], "cou_31_of_62"].tolist() == [False, False, True, False]
    years = m.patient_years.set_index("patient_id")
    assert years.loc["u", "cou_30_evaluable"] and years.loc["u", "cou_15_of_30"]
    assert years.loc["w", "cou_62_evaluable"] and not years.loc["w", "cou_31_of_62"]


def test_cou_counts_only_episodes_that_can_be_followed():
    base = [visit("x", "2022-01-01"), narc("y", "2023-03-01", 20)]
    # Extract 2023-03-30: Mar 1 + 30 = Mar 31 = extract + 1 -> the 30 days are observed.
    e = safety_measures(ev(base), extract=pd.Timestamp("2023-03-30")).new_episodes.iloc[0]
    assert e["evaluable_30"] and not e["evaluable_62"]
    e = safety_measures(ev(base), extract=pd.Timestamp("2023-03-29")).new_episodes.iloc[0]
    assert not e["evaluable_30"]
    # Death on 2023-03-20 (a row cut there by ingest): not followed 30 days.
    died = ev([visit("x", "2022-01-01"),
               narc("z", "2023-03-01", 30, end_date="2023-03-20", ends_at_death=True,
                    death_year=2023)])
    e = safety_measures(died, extract=EXTRACT).new_episodes.iloc[0]
    assert not e["evaluable_30"] and not e["evaluable_62"]
    # Only the death year known: followed up to 1 January of that year.
    by_year = ev([visit("x", "2022-01-01"), narc("z", "2022-10-01", 20, death_year=2023),
                  narc("z", "2023-06-01", 20, death_year=2023)])
    e = safety_measures(by_year, extract=EXTRACT).new_episodes
    assert e["episode_start"].dt.strftime("%Y-%m-%d").tolist() == ["2022-10-01", "2023-06-01"]
    assert e["evaluable_62"].tolist() == [True, False]  # Oct 1 + 62 = Dec 2 <= Jan 1


# ----------------------------------------------------------------- COB and triple therapy


def test_cob_29_vs_30_days_of_overlap():
    opioid = lambda pid: [narc(pid, "2024-01-01", 30), narc(pid, "2024-01-31", 30)]  # noqa: E731
    m = safety_measures(ev(
        opioid("x") + [benzo("x", "2024-01-01", 15), benzo("x", "2024-01-16", 14)]
        + opioid("y") + [benzo("y", "2024-01-01", 15), benzo("y", "2024-01-16", 15)]
        + opioid("z") + [benzo("z", "2024-01-01", 30), benzo("z", "2024-01-01", 30)]
    ), extract=EXTRACT)
    got = {p: (year_row(m, p, 2024)["opioid_benzodiazepine_days"],
               year_row(m, p, 2024)["benzodiazepine_fill_dates"],
               bool(year_row(m, p, 2024)["cob"])) for p in "xyz"}
    assert got == {"x": (29, 2, False), "y": (30, 2, True), "z": (30, 1, False)}


def test_triple_therapy_needs_one_day_of_all_three_and_flags_carisoprodol():
    def case(pid, relax_date, detail):
        return [narc(pid, "2024-01-01", 30), narc(pid, "2024-01-31", 30),
                benzo(pid, "2024-02-01", 10),  # Feb 1-10
                relaxant(pid, relax_date, 5, detail)]
    m = safety_measures(ev(case("a", "2024-02-10", CYCLOBENZAPRINE)
                           + case("b", "2024-02-10", CARISOPRODOL)
                           + case("c", "2024-02-11", CARISOPRODOL)), extract=EXTRACT)
    got = {p: (year_row(m, p, 2024)["triple_days"],
               year_row(m, p, 2024)["triple_carisoprodol_days"],
               bool(year_row(m, p, 2024)["triple_therapy"]),
               bool(year_row(m, p, 2024)["triple_carisoprodol"])) for p in "abc"}
    assert got == {"a": (1, 0, True, False), "b": (1, 1, True, True),
                   "c": (0, 0, False, False)}


# ----------------------------------------------------------------- naloxone


def _naloxone(m, pid) -> pd.Series:
    t = m.naloxone_courses
    return t[t["patient_id"] == pid].iloc[0]


def test_naloxone_from_30_days_before_the_course_to_its_last_day():
    # Course Mar 1 - Mar 30 2024 at 60 MME/day (indicated by dose).  2024-01-31 is 30 days
    # before Mar 1 (leap year), 2024-01-30 is 31.
    course = lambda pid: [narc(pid, "2024-03-01", 30, 60)]  # noqa: E731
    m = safety_measures(ev(
        course("a") + [naloxone("a", "2024-01-31")]
        + course("b") + [naloxone("b", "2024-01-30")]
        + course("c") + [naloxone("c", "2024-03-30")]
        + course("d") + [naloxone("d", "2024-03-31")]
    ), extract=EXTRACT)
    got = {p: bool(_naloxone(m, p)["naloxone"]) for p in "abcd"}
    assert got == {"a": True, "b": False, "c": True, "d": False}
    assert _naloxone(m, "a")["first_naloxone"] == day("2024-01-31")
    assert _naloxone(m, "a")["indicated_by"] == "dose"


def test_naloxone_indication_by_summed_dose_benzodiazepine_or_use_disorder():
    diagnoses = pd.DataFrame({
        "patient_id": ["e", "f"],
        "diagnosis_date": pd.to_datetime(["2024-03-20", "2024-04-01"]).astype("datetime64[s]"),
        "code": ["F11.20", "F11.20"], "description": ["", ""],
        "kind": ["opioid_use_disorder", "opioid_use_disorder"],
    })
    m = safety_measures(ev([
        narc("a", "2024-03-01", 30, 25), narc("a", "2024-03-10", 30, 25),  # 50 on Mar 10-30
        narc("b", "2024-03-01", 30, 49),
        narc("c", "2024-03-01", 30, 20), benzo("c", "2024-03-30", 10),  # one shared day
        narc("d", "2024-03-01", 30, 20), benzo("d", "2024-03-31", 10),  # the day after
        narc("e", "2024-03-01", 30, 20),  # OUD diagnosis Mar 20, before the last day
        narc("f", "2024-03-01", 30, 20),  # OUD diagnosis Apr 1, after the course
        narc("g", "2024-03-01", 30, 20),
        {"patient_id": "g", "event_date": "2024-02-01", "technique": "other",
         "drug_class": "oud_treatment", "days_supply": 7,
         "detail": "buprenorphine 8 MG / naloxone 2 MG Sublingual Film"},
    ]), diagnoses=diagnoses, extract=EXTRACT)
    got = {p: (_naloxone(m, p)["max_daily_mme"], bool(_naloxone(m, p)["indicated"]),
               _naloxone(m, p)["indicated_by"]) for p in "abcdefg"}
    assert got == {
        "a": (50.0, True, "dose"),
        "b": (49.0, False, ""),
        "c": (20.0, True, "benzodiazepine"),
        "d": (20.0, False, ""),
        "e": (20.0, True, "opioid_use_disorder"),
        "f": (20.0, False, ""),
        "g": (20.0, True, "opioid_use_disorder"),
    }


# ----------------------------------------------------------------- tapers


def _taper(m, pid) -> pd.Series:
    t = m.taper_courses
    return t[t["patient_id"] == pid].iloc[0]


def test_taper_of_exactly_15_percent_at_a_60_day_window_edge():
    # Months of 30 days from s = 2022-01-01: 0-13 at 100 MME/day, 14-18 at 85 (a), 86 (b).
    # Anchor: s + 360 = 2022-12-27 (baseline months 0-11: 100).  Window months 14-15
    # (from s + 420 = 2023-02-25) averages 85 = 100 x (1 - 0.15): a taper; 86 is not.
    m = safety_measures(ev(monthly_fills("a", "2022-01-01", [100] * 14 + [85] * 5)
                           + monthly_fills("b", "2022-01-01", [100] * 14 + [86] * 5)),
                        extract=EXTRACT)
    a, b = _taper(m, "a"), _taper(m, "b")
    assert a["stable_from"] == b["stable_from"] == day("2022-12-27")
    assert a["tapered"] and a["taper_start"] == day("2023-02-25")
    assert a["baseline_mme"] == pytest.approx(100.0)
    assert a["reduction"] == pytest.approx(0.15)
    assert not b["tapered"] and pd.isna(b["taper_start"])
    # Both courses stop (a gap) at >= 50 MME/day: b without a taper is an abrupt stop,
    # a's stop follows its taper.
    assert a["stop_from_high_dose"] and not a["abrupt_stop"]
    assert b["stop_from_high_dose"] and b["abrupt_stop"]
    assert year_row(m, "a", 2023)["taper"] and year_row(m, "a", 2023)["stable_long_term"]
    assert not year_row(m, "b", 2023)["taper"] and year_row(m, "b", 2023)["abrupt_stop"]


def test_stable_use_needs_a_baseline_mean_of_50():
    m = safety_measures(ev(monthly_fills("a", "2022-01-01", [50] * 14 + [40] * 5)
                           + monthly_fills("b", "2022-01-01", [49.9] * 14 + [30] * 5)),
                        extract=EXTRACT)
    assert _taper(m, "a")["tapered"]
    assert "b" not in set(m.taper_courses["patient_id"])  # no stable use, stops below 50


def test_rapid_taper_is_a_fall_of_more_than_40_percent_within_30_days():
    # 100 MME/day for 13 months, then 60 (a fall of exactly 40 %) or 59 (41 %) from s + 390.
    m = safety_measures(ev(monthly_fills("a", "2022-01-01", [100] * 13 + [60] * 7)
                           + monthly_fills("b", "2022-01-01", [100] * 13 + [59] * 7)),
                        extract=EXTRACT)
    a, b = _taper(m, "a"), _taper(m, "b")
    assert a["tapered"] and b["tapered"]
    # The first reduced window is months 12-13 (mean 80 <= 85), from s + 360.
    assert a["taper_start"] == day("2022-12-27")
    assert a["largest_30_day_fall"] == pytest.approx(0.40) and not a["rapid_taper"]
    assert b["largest_30_day_fall"] == pytest.approx(0.41) and b["rapid_taper"]
    assert year_row(m, "b", 2022)["rapid_taper"]


def test_abrupt_stop_edges():
    m = safety_measures(ev(
        monthly_fills("a", "2023-01-01", [60] * 4)  # 120 days at 60, then a gap
        + [narc("b", "2023-01-01", 30, 60), narc("b", "2023-01-31", 30, 60),
           narc("b", "2023-03-02", 29, 60)]  # 89 days: not long-term
        + monthly_fills("c", "2023-01-01", [60, 60, 60, 49])  # last 30 days at 49
        + monthly_fills("d", "2025-09-02", [60] * 4)  # covered through 2025-12-30
        + [narc("e", "2025-09-03", 120, 60)]  # last covered day = the extract date
        + [narc("f", "2023-01-01", 120, 60, end_date="2023-04-30", ends_at_death=True,
                death_year=2023)]
    ), extract=EXTRACT)
    t = m.taper_courses.set_index("patient_id")
    assert t.loc["a", "stop_from_high_dose"] and t.loc["a", "abrupt_stop"]
    assert t.loc["a", "last_days_mme"] == pytest.approx(60.0)
    assert t.loc["d", "ended_by"] == "gap" and t.loc["d", "abrupt_stop"]
    assert "b" not in t.index and "c" not in t.index  # too short / stopped below 50
    assert "e" not in t.index and "f" not in t.index  # censored: extract, death
    ended = m.naloxone_courses.set_index("patient_id")["last_day"]
    assert ended["e"] == EXTRACT and ended["f"] == day("2023-04-30")


# ----------------------------------------------------------------- credits, trends


def test_each_physician_is_credited_and_sees_the_clinic_figure():
    m = safety_measures(ev([
        narc("a", "2024-01-01", 20, 100, provider="DR1"),
        narc("a", "2024-01-21", 20, 100, provider="DR2"),  # HDO, credited to DR1 and DR2
        narc("b", "2024-01-01", 20, 30, provider="DR2"),
        narc("b", "2024-01-21", 20, 30, provider="DR2"),
    ]), extract=EXTRACT)
    r = safety_rates(m, "year", names=("hdo",))
    got = [(pd.Timestamp(p).year, None if pd.isna(dr) else dr, d, n, s, cs)
           for p, dr, d, n, s, cs in r[["period", "provider_id", "denominator", "numerator",
                                        "share", "clinic_share"]].itertuples(index=False)]
    assert got == [(2024, None, 2, 1, 0.5, 0.5), (2024, "DR1", 1, 1, 1.0, 0.5),
                   (2024, "DR2", 2, 1, 0.5, 0.5)]


def test_monthly_trend_is_the_trailing_12_months_and_december_is_the_year():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(120):
        pid = f"p{i:03d}"
        for _ in range(rng.integers(1, 12)):
            start = pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(rng.integers(0, 1200)))
            rows.append(narc(pid, start.strftime("%Y-%m-%d"), int(rng.integers(3, 40)),
                             float(rng.choice([20, 45, 60, 95, 150])),
                             provider=f"DR{rng.integers(1, 6)}",
                             pharmacy=f"PH{rng.integers(1, 6)}"))
        if rng.random() < 0.4:
            start = pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(rng.integers(0, 1200)))
            rows.append(benzo(pid, start.strftime("%Y-%m-%d"), int(rng.integers(10, 60))))
    m = safety_measures(ev(rows), extract=pd.Timestamp("2025-06-30"))
    flags = ["patient_id", "partial"] + [c for c in m.patient_months.columns
                                         if c not in ("patient_id", "month", "partial")]
    years = m.patient_years[flags + ["window_start"]].reset_index(drop=True)
    months = m.patient_months
    december = months.loc[months["month"].dt.month == 12, flags]
    pd.testing.assert_frame_equal(december.reset_index(drop=True),
                                  years.loc[years["window_start"].dt.year < 2025, flags]
                                  .reset_index(drop=True))
    r_year = safety_rates(m, "year")
    r_month = safety_rates(m, "month")
    dec = r_month[r_month["period"].dt.month == 12].copy()
    dec["period"] = dec["period"].map(lambda p: pd.Timestamp(p.year, 1, 1)).astype(
        "datetime64[s]")
    r_year = r_year[r_year["period"].dt.year < 2025]
    cols = ["measure", "period", "provider_id", "denominator", "numerator"]
    pd.testing.assert_frame_equal(dec[cols].reset_index(drop=True),
                                  r_year[cols].reset_index(drop=True))


def test_a_course_counts_in_the_12_monthly_windows_after_its_start():
    m = safety_measures(ev([narc("a", "2024-03-01", 30, 60)]),
                        extract=pd.Timestamp("2024-12-31"))
    r = safety_rates(m, "month", by_physician=False, names=("naloxone",))
    assert r["period"].dt.strftime("%Y-%m").tolist() == [
        "2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2024-08", "2024-09",
        "2024-10", "2024-11", "2024-12"]
    assert r["denominator"].tolist() == [1] * 10 and r["numerator"].tolist() == [0] * 10
    assert r["partial"].tolist() == [True] * 10  # the data start on 2024-03-01


def test_every_threshold_is_a_parameter():
    rows = [narc("a", "2024-03-01", 10, 80), narc("a", "2024-03-11", 10, 80)]
    assert not year_row(safety_measures(ev(rows), extract=EXTRACT), "a", 2024)["hdo"]
    lower = SafetyParameters(high_dose_mme=80.0, min_covered_days=20)
    assert year_row(safety_measures(ev(rows), extract=EXTRACT, parameters=lower),
                    "a", 2024)["hdo"]
    assert lower.follow_up_days == 210


def test_empty_input_gives_empty_tables():
    m = safety_measures(empty_events())
    assert len(m.patient_years) == len(m.patient_months) == len(m.naloxone_courses) == 0
    assert len(safety_rates(m)) == 0
    only_pt = safety_measures(ev([visit("a", "2024-01-01")]), extract=EXTRACT)
    assert len(only_pt.patient_years) == 0 and len(only_pt.new_episodes) == 0
    assert set(MEASURES) >= {"hdo", "cob", "naloxone", "taper", "abrupt_stop"}


# ----------------------------------------------------------------- groups of patients


def _rate_sums(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The counts of several groups' rates summed per (measure, period, provider)."""
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.assign(provider_id=rows["provider_id"].astype(object))
    summed = rows.groupby(["measure", "period", "provider_id"], dropna=False, sort=False).agg(
        partial=("partial", "first"), denominator=("denominator", "sum"),
        numerator=("numerator", lambda s: s.sum(min_count=1)), note=("note", "first"))
    return summed.reset_index()


def test_rates_of_groups_of_patients_add_up_to_the_dataset_rates():
    """Measured with the dataset's data start and pharmacy availability, disjoint groups
    of patients give rates whose counts add up to the whole dataset's
    (:func:`rates_from_counts`); measured alone, a group would differ."""
    a = [narc("a", "2024-01-10", 30), narc("a", "2024-02-09", 30)]
    b = [narc("b", "2024-09-01", 30, pharmacy="PH2", provider="DR2"),
         narc("b", "2024-10-01", 30, pharmacy="PH2", provider="DR2")]
    c = [narc("c", "2024-05-01", 30, pharmacy=None), narc("c", "2024-06-01", 30, pharmacy=None)]
    whole = safety_measures(ev(a + b + c), extract=EXTRACT)
    parts = [safety_measures(ev(rows), extract=EXTRACT, data_start=day("2024-01-10"),
                             pharmacy_recorded=True) for rows in (a, b + c)]
    for period, by_physician in (("year", True), ("month", False)):
        expected = safety_rates(whole, period, by_physician=by_physician)
        got = rates_from_counts(_rate_sums(
            [safety_rates(p, period, by_physician=by_physician) for p in parts]))
        pd.testing.assert_frame_equal(got, expected)
        pd.testing.assert_frame_equal(rates_from_counts(expected), expected)
    years = safety_rates(whole, "year")
    clinic = years[years["provider_id"].isna() & (years["period"].dt.year == 2024)]
    cou = clinic.set_index("measure").loc["cou_15_of_30"]
    # only b's first fill has 180 uncovered days before it inside the data (from 2024-01-10)
    assert (cou["denominator"], cou["numerator"]) == (1, 1)
    uop = clinic.set_index("measure").loc["uop_pharmacies"]
    assert (uop["denominator"], uop["numerator"]) == (3, 0)
    alone = safety_rates(safety_measures(ev(b + c), extract=EXTRACT), "year")
    alone = alone[alone["provider_id"].isna()].set_index("measure")
    assert "cou_15_of_30" not in alone.index  # b's data would start on 2024-05-01
    c_alone = safety_rates(safety_measures(ev(c), extract=EXTRACT), "year", by_physician=False)
    assert pd.isna(c_alone.set_index("measure").loc["uop_pharmacies", "numerator"])
