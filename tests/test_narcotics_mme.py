"""MME per fill (docs/definitions.md "MME per day"): description parsing, factors of both tables,
prescribed vs estimated days, statuses.  Every expected value is worked out in a comment."""

import numpy as np
import pandas as pd
import pytest

from analytics.narcotics import MME_STATUSES, fill_mme, parse_opioid_descriptions
from analytics.schema import conform
from analytics.vocab import all_mme_factors, analytic_file_mme_factors, mme_factors

OXY_APAP = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
CODEINE_LABEL = "Acetaminophen and Codeine Phosphate Tablets, USP 300 mg/30 mg"
OXY_SOLUTION = "Oxycodone HCl 5 MG/5 ML Oral Solution"
OXY_1_PER_ML = "Oxycodone Hydrochloride 1 MG/ML Oral Solution"
PATCH = "72 HR Fentanyl 0.025 MG/HR Transdermal System"
BELBUCA = "Buprenorphine 150 MCG Buccal Film [Belbuca]"
BUTRANS = "7 DAY buprenorphine 0.005 MG/HR Transdermal System [Butrans]"
OXY_NALOXONE = ("Oxycodone Hydrochloride 10 MG / Naloxone Hydrochloride 5 MG Extended Release "
                "Oral Tablet")
EMBEDA = ("24 HR Morphine Sulfate 20 MG / Naltrexone Hydrochloride 0.8 MG Extended Release "
          "Oral Capsule [Embeda]")
PENTAZOCINE = "Naloxone Hydrochloride 0.5 MG / Pentazocine Hydrochloride 50 MG Oral Tablet"


def fills(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["event_date"] = pd.to_datetime(df["event_date"])
    if "end_date" in df:
        df["end_date"] = pd.to_datetime(df["end_date"])
    df["technique"] = "narcotic"
    df["patient_id"] = "a"
    return conform(df)


def one(detail: str | None, quantity=None, days_supply=None, **kw) -> pd.Series:
    """fill_mme of a single fill on 2024-01-01 (extract 2024-12-31)."""
    row = {"event_date": "2024-01-01", "detail": detail, "quantity": quantity,
           "days_supply": days_supply, **kw}
    return fill_mme(fills([row]), extract=pd.Timestamp("2024-12-31")).iloc[0]


# ----------------------------------------------------------------- parsing


def test_opioid_strength_follows_the_opioid_name():
    parsed = parse_opioid_descriptions(pd.Series([
        OXY_APAP,  # the 5 mg after oxycodone, not acetaminophen's 325 mg
        CODEINE_LABEL,  # label style: codeine is the 2nd ingredient -> the 2nd strength, 30
        "Carisoprodol, Aspirin and Codeine Phosphate Tablets, USP 200 mg/325 mg/16 mg",  # 3rd
        "Acetaminophen, USP and Codeine Phosphate 300 mg/30 mg",  # "USP" is not an ingredient
        "Hydrocodone Bitartrate and Acetaminophen Tablets 5 mg/325 mg",  # 1st -> 5
        "Oxycodone and Acetaminophen Tablets USP 7.5/325 mg",  # shared unit -> 7.5
        "12 HR Hydrocodone Bitartrate 10 MG Extended Release Oral Capsule",  # "12 HR" no dose
    ]))
    np.testing.assert_allclose(parsed["opioid_strength"].to_numpy(dtype=float),
                               [5, 30, 16, 30, 5, 7.5, 10])
    assert parsed["ingredient"].tolist() == [
        "oxycodone", "codeine", "codeine", "codeine", "hydrocodone", "oxycodone", "hydrocodone"
    ]


def test_liquid_strength_is_per_ml():
    parsed = parse_opioid_descriptions(pd.Series([
        OXY_SOLUTION,  # 5 mg in 5 mL -> 1 mg per unit
        OXY_1_PER_ML,  # 1 mg per mL
        "Acetaminophen 24 MG/ML / Codeine Phosphate 2.4 MG/ML Oral Solution",  # 2.4
        # one volume for the whole label list: 7.5 mg per 15 mL -> 0.5
        "Hydrocodone Bitartrate and Acetaminophen Oral Solution 7.5 mg/325 mg per 15 mL",
    ]))
    np.testing.assert_allclose(parsed["opioid_strength"].to_numpy(dtype=float),
                               [1.0, 1.0, 2.4, 0.5])


def test_patch_rate_and_products_without_a_factor():
    parsed = parse_opioid_descriptions(pd.Series([PATCH, "Fentanyl 50 MCG/HR patch", BELBUCA,
                                                  BUTRANS, "Percocet tablet", None, "Aspirin"]))
    assert parsed["ingredient"].tolist()[:5] == [
        "fentanyl_transdermal", "fentanyl_transdermal", "buprenorphine", "buprenorphine",
        "oxycodone",
    ]
    assert parsed["ingredient"].isna().tolist()[5:] == [True, True]
    # 0.025 MG/HR = 25 mcg/hr; 50 MCG/HR; Belbuca 150 mcg = 0.15 mg; Percocet: no strength
    strength = parsed["opioid_strength"].to_numpy(dtype=float)
    np.testing.assert_allclose(strength[:3], [25, 50, 0.15])
    assert np.isnan(strength[4])
    assert parsed["unit"].tolist()[:4] == ["mcg_per_hr", "mcg_per_hr", "none", "none"]


def test_word_boundaries_keep_ingredients_apart():
    parsed = parse_opioid_descriptions(pd.Series([
        "Acetaminophen 325 MG / Caffeine 30 MG / Dihydrocodeine Bitartrate 16 MG Oral Capsule",
        "Hydromorphone Hydrochloride 2 MG Oral Tablet",
        "Oxymorphone Hydrochloride 5 MG Oral Tablet",
    ]))
    # dihydrocodeine is not codeine; hydromorphone and oxymorphone are not morphine
    assert parsed["ingredient"].tolist() == ["dihydrocodeine", "hydromorphone", "oxymorphone"]
    assert parsed["factor_source"].tolist() == ["cdc_analytic_2017", "cdc_2022", "cdc_2022"]


# ----------------------------------------------------------------- the factor tables


def test_factor_tables_are_cdc_2022_then_the_analytic_file():
    cdc = mme_factors().set_index("ingredient")["factor"]
    assert cdc.drop("buprenorphine").to_dict() == {
        "fentanyl_transdermal": 2.4, "codeine": 0.15, "hydrocodone": 1.0, "hydromorphone": 5.0,
        "methadone": 4.7, "oxymorphone": 3.0, "oxycodone": 1.5, "morphine": 1.0,
        "tapentadol": 0.4, "tramadol": 0.2,
    }
    assert np.isnan(cdc["buprenorphine"])
    analytic = analytic_file_mme_factors().set_index("ingredient")["factor"].to_dict()
    assert analytic == {"dihydrocodeine": 0.25, "meperidine": 0.1, "pentazocine": 0.37,
                        "levorphanol": 11.0, "butorphanol": 7.0}
    both = all_mme_factors()
    assert both["ingredient"].tolist() == [*cdc.index, *analytic]
    assert set(both["factor_source"]) == {"cdc_2022", "cdc_analytic_2017"}
    assert both["table"].iloc[0].startswith("mme_factors.csv cdc-2022")


# ----------------------------------------------------------------- MME per day


def test_issue_examples():
    # oxycodone 5 mg x 120 / 30 days x 1.5 = 30
    assert one(OXY_APAP, 120, 30)["mme_per_day"] == pytest.approx(30.0)
    # codeine 30 mg (not 300) x 120 / 30 x 0.15 = 18, not 180
    assert one(CODEINE_LABEL, 120, 30)["mme_per_day"] == pytest.approx(18.0)
    # oral solution 1 mg/mL x 300 mL / 30 days x 1.5 = 15, not 75
    assert one(OXY_SOLUTION, 300, 30)["mme_per_day"] == pytest.approx(15.0)
    assert one(OXY_1_PER_ML, 300, 30)["mme_per_day"] == pytest.approx(15.0)


def test_patch_is_rate_times_2_4_whatever_the_quantity():
    # 25 mcg/hr x 2.4 = 60 MME/day, with 10 patches or 5, or no quantity at all
    for quantity in (10, 5, None):
        got = one(PATCH, quantity, 30)
        assert got["mme_per_day"] == pytest.approx(60.0)
        assert got["mme_status"] == "ok"
    # 30 covered days x 60 = 1800
    assert one(PATCH, 10, 30)["mme_total"] == pytest.approx(1800.0)


def test_buprenorphine_for_pain_has_no_factor():
    for detail in (BELBUCA, BUTRANS):
        got = one(detail, 60, 30)
        assert got["ingredient"] == "buprenorphine"
        assert got["mme_status"] == "no_factor"
        assert np.isnan(got["mme_per_day"])


def test_opioid_plus_antagonist_takes_the_opioid():
    # oxycodone 10 mg x 60 / 30 x 1.5 = 30
    assert one(OXY_NALOXONE, 60, 30)["mme_per_day"] == pytest.approx(30.0)
    # Embeda: morphine 20 mg x 30 / 30 x 1 = 20
    assert one(EMBEDA, 30, 30)["mme_per_day"] == pytest.approx(20.0)
    # pentazocine 50 mg x 120 / 30 x 0.37 = 74 (analytic-file factor, marked as such)
    got = one(PENTAZOCINE, 120, 30)
    assert got["mme_per_day"] == pytest.approx(74.0)
    assert got["factor_source"] == "cdc_analytic_2017"


def test_second_table_ingredients():
    # meperidine 50 mg x 60 / 30 x 0.1 = 10
    got = one("Meperidine Hydrochloride 50 MG Oral Tablet", 60, 30)
    assert got["mme_per_day"] == pytest.approx(10.0)
    assert (got["ingredient"], got["factor_source"]) == ("meperidine", "cdc_analytic_2017")
    # levorphanol 2 mg x 90 / 30 x 11 = 66
    assert one("Levorphanol Tartrate 2 MG Oral Tablet", 90, 30)["mme_per_day"] == pytest.approx(
        66.0)
    # dihydrocodeine 16 mg x 120 / 30 x 0.25 = 16
    dhc = "Acetaminophen 325 MG / Caffeine 30 MG / Dihydrocodeine Bitartrate 16 MG Oral Capsule"
    assert one(dhc, 120, 30)["mme_per_day"] == pytest.approx(16.0)
    # butorphanol 10 mg/mL x 2.5 mL / 10 days x 7 = 17.5
    assert one("Butorphanol Tartrate 10 MG/ML Nasal Spray", 2.5, 10)["mme_per_day"] == (
        pytest.approx(17.5))


def test_prescribed_dose_even_when_the_end_date_gives_other_days():
    # 5 mg x 120 / 30 days x 1.5 = 30 MME/day, although the stop date Jan 10 covers 10 days
    got = one(OXY_APAP, 120, 30, end_date="2024-01-10")
    assert got["mme_per_day"] == pytest.approx(30.0)
    assert got["mme_status"] == "ok"
    assert got["covered_days"] == 10
    assert got["mme_total"] == pytest.approx(300.0)  # 30 x 10 covered days


def test_quantity_and_real_end_date_without_days_supply_is_estimated():
    # Jan 1 .. Jan 20 = 20 covered days: 5 mg x 60 / 20 x 1.5 = 22.5, estimated
    got = one(OXY_APAP, 60, None, end_date="2024-01-20")
    assert got["mme_per_day"] == pytest.approx(22.5)
    assert got["mme_status"] == "estimated"
    # 2 dispenses of 60 over Jan 1 .. Feb 9 = 40 days: 5 x 60 x 2 / 40 x 1.5 = 22.5
    got = one(OXY_APAP, 60, None, end_date="2024-02-09", dispenses=2.0)
    assert got["mme_per_day"] == pytest.approx(22.5)
    assert got["fills"] == 2 and got["covered_days"] == 40
    # an end set at death is no prescription length: no MME
    died = one(OXY_APAP, 60, None, end_date="2024-01-20", ends_at_death=True)
    assert died["mme_status"] == "missing_days" and np.isnan(died["mme_per_day"])
    # an open order closed by the extract date: no MME either
    assert one(OXY_APAP, 60, None, open_order=True)["mme_status"] == "missing_days"


def test_dispenses_keep_the_per_dispense_daily_dose():
    # 3 dispenses of 120 tablets for 30 days: 5 x 120 / 30 x 1.5 = 30 MME/day over 90 days
    got = one(OXY_APAP, 120, 30, dispenses=3.0)
    assert got["mme_per_day"] == pytest.approx(30.0)
    assert (got["fills"], got["covered_days"]) == (3, 90)
    assert got["mme_total"] == pytest.approx(2700.0)


def test_statuses_of_fills_without_mme():
    cases = [
        (dict(detail="Percocet tablet", quantity=60, days_supply=30), "missing_strength"),
        (dict(detail=OXY_APAP, days_supply=30), "missing_quantity"),
        (dict(detail=OXY_APAP, quantity=60), "missing_days"),
        (dict(detail="Nalbuphine 10 MG/ML Injectable Solution", quantity=1, days_supply=1),
         "unknown_ingredient"),
        (dict(detail=None, quantity=60, days_supply=30), "unknown_ingredient"),
        (dict(detail=PATCH.replace("0.025 MG/HR ", ""), quantity=10, days_supply=30),
         "missing_strength"),
    ]
    for row, status in cases:
        got = one(**row)
        assert got["mme_status"] == status, row
        assert np.isnan(got["mme_per_day"])
    assert set(MME_STATUSES) >= {status for _, status in cases}


def test_strength_column_and_export_mme_win():
    # the strength column wins over the text: 15 x 60 / 30 x 1.5 = 45
    got = one("Oxycodone 10 MG tablet", 60, 30, strength=15.0)
    assert got["opioid_strength"] == 15.0 and got["mme_per_day"] == pytest.approx(45.0)
    # the export's own MME/day is used as is, even for a product without a factor
    got = one(BELBUCA, None, 30, mme_per_day=12.5)
    assert got["mme_per_day"] == 12.5
    assert (got["mme_status"], got["factor_source"]) == ("ok", "export")


def test_fill_mme_takes_the_extract_date():
    events = fills([
        {"event_date": "2024-01-01", "detail": PATCH, "open_order": True},
        {"event_date": "2024-01-05", "detail": OXY_APAP, "quantity": 60, "days_supply": 30},
    ])
    # default extract: the latest event date Jan 5 -> the open patch covers Jan 1 .. Jan 5
    assert fill_mme(events)["covered_days"].tolist() == [5, 30]
    got = fill_mme(events, extract=pd.Timestamp("2024-01-31"))
    assert got["covered_days"].tolist() == [31, 30]
    np.testing.assert_allclose(got["mme_total"].to_numpy(dtype=float), [60 * 31, 15 * 30])
    assert got.index.tolist() == events.index.tolist()
