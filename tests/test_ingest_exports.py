"""Integration tests of analytics.ingest on the real-format exports in ../shared/exports
(Synthea CSV and OMOP CDM 5.4; see that folder's README).  Skipped only when the folder
is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analytics.ingest import ingest

EXPORTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "exports"
pytestmark = pytest.mark.skipif(not EXPORTS.is_dir(), reason="../shared/exports is absent")

SYNTHEA = ["synthea-105", "synthea-27"]
ALL = [*SYNTHEA, "omop-synthea27nj"]

# every direct identifier of Synthea's patients.csv (HIPAA Safe Harbor), plus the
# birth/death dates (a birth date is kept as its year only)
SYNTHEA_IDENTIFIERS = {
    "synthea-105": [
        "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "MIDDLE",
        "LAST", "SUFFIX", "MAIDEN", "BIRTHPLACE", "ADDRESS", "CITY", "COUNTY", "FIPS", "ZIP",
        "LAT", "LON",
    ],
    "synthea-27": [
        "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST",
        "SUFFIX", "MAIDEN", "BIRTHPLACE", "ADDRESS", "CITY", "COUNTY", "ZIP", "LAT", "LON",
    ],
}  # fmt: skip


@pytest.fixture(scope="module", params=ALL)
def export(request):
    return request.param, ingest(EXPORTS / request.param)


def _file(result, name):
    return next(f for f in result.report.files if f.name.lower() == name.lower())


def test_ingests_without_manual_mapping_and_adds_up(export):
    name, result = export
    assert len(result.events) > 0
    for f in result.report.files:
        assert f.rows_read == f.accepted + f.rejected + f.not_relevant + f.duplicates, f.name
        assert f.rows_read > 0
    json.dumps(result.report.to_dict())
    formats = {f.format for f in result.report.files}
    assert formats == ({"omop"} if name.startswith("omop") else {"synthea"})


def test_opioid_analgesic_orders_become_narcotic_events(export):
    _, result = export
    narcotic = result.events.loc[result.events["technique"] == "narcotic", "detail"]
    text = narcotic.str.lower()
    assert text.str.contains("oxycodone").any()
    assert text.str.contains("hydrocodone").any()
    # nothing given during anaesthesia or for opioid use disorder is a narcotic course
    for word in ("naloxone", "remifentanil", "sufentanil", "alfentanil", "inject"):
        assert not text.str.contains(word).any(), word
    assert set(result.events.loc[result.events["technique"] == "narcotic", "drug_class"]) == {
        "opioid"
    }


def test_anaesthesia_opioids_not_relevant_and_use_disorder_products_kept_for_their_class():
    result = ingest(EXPORTS / "synthea-105")
    meds = _file(result, "medications.csv")
    # remifentanil 3 + sufentanil 1 + alfentanil 2 (named anaesthesia opioids)
    assert meds.not_relevant_by_reason["anaesthesia opioid"] == 6
    # 2 ML morphine sulfate 1 MG/ML Injection
    assert meds.not_relevant_by_reason["anaesthesia / procedural opioid injection"] == 1
    assert meds.not_relevant_by_reason[
        "procedural sedation / anaesthesia benzodiazepine injection"
    ] == 6  # midazolam injections
    ev = result.events
    bup = ev["detail"] == "buprenorphine 2 MG / naloxone 0.5 MG Sublingual Tablet"
    assert bup.sum() == 12  # accepted for the safety measures, never a narcotic
    assert set(ev.loc[bup, "technique"]) == {"other"}
    assert set(ev.loc[bup, "drug_class"]) == {"oud_treatment"}
    # their reason (opioid abuse) is not "other indication": the rule skips them
    assert set(ev.loc[bup, "reason"]) == {"Opioid abuse (disorder)"}
    benzo = ev["drug_class"] == "benzodiazepine"  # Diazepam 3 + clonazePAM 3
    assert benzo.sum() == 6 and set(ev.loc[benzo, "technique"]) == {"other"}
    assert "2 ML morphine sulfate 1 MG/ML Injection" not in set(ev["detail"].dropna())
    # the 72-hour fentanyl patch is a narcotic (transdermal)
    patch = ev["detail"] == "72 HR Fentanyl 0.025 MG/HR Transdermal System"
    assert patch.sum() == 22
    assert set(ev.loc[patch, "technique"]) == {"narcotic"}


@pytest.mark.parametrize(("name", "sprains"), [("synthea-105", 20), ("synthea-27", 2)])
def test_physical_therapy_for_a_sprain_or_knee_injury_is_another_indication(name, sprains):
    """synthea-105: 20 physiotherapy care plans (ankle sprain 15, wrist sprain 3, knee
    ligament injury 1, meniscus tear 1); synthea-27: 2 physical-therapy care plans for an
    ankle sprain."""
    result = ingest(EXPORTS / name)
    careplans = _file(result, "careplans.csv")
    assert careplans.not_relevant_by_reason["other indication"] == sprains
    raw = pd.read_csv(EXPORTS / name / "careplans.csv", dtype=str)
    therapy = raw["DESCRIPTION"].str.contains("hysiotherapy|hysical therapy", regex=True)
    reasons = set(raw.loc[therapy, "REASONDESCRIPTION"])
    assert reasons <= {"Sprain of ankle (disorder)", "Sprain of wrist (disorder)",
                       "Injury of medial collateral ligament of knee (disorder)",
                       "Tear of meniscus of knee (disorder)", "Sprain of ankle"}  # fmt: skip
    assert therapy.sum() == sprains
    pt = result.events[result.events["technique"] == "physical_therapy"]
    assert pt["reason"].isna().all()  # what remains has no reason (or a pain reason)


def test_the_2014_hydrocodone_orders_are_open_with_three_dispenses():
    result = ingest(EXPORTS / "synthea-105")
    ev = result.events
    hydro = ev[(ev["event_date"].dt.year == 2014) & ev["detail"].str.contains("Hydrocodone")
               & ev["end_date"].isna()]
    assert sorted(hydro["patient_id"].str[:8]) == ["328e2105", "4c3af03d"]
    assert list(hydro["dispenses"]) == [3, 3]
    assert hydro["open_order"].all() and hydro["end_date"].isna().all()
    meds = _file(result, "medications.csv")
    # 28 open medication orders; the extract date is 2025-06-09.  Left open through it: 8
    # orders of 3 dispenses (90 days) started after 2025-03-11, the 2018 oxycodone order of
    # 181 dispenses and a clonazepam order of 1 dispense started on 2025-06-09; the other
    # 18 end with their dispensed supply
    assert meds.open_orders == {"dispenses": 18, "death": 0, "extract date": 10}
    assert result.extract_date == pd.Timestamp("2025-06-09")


@pytest.mark.parametrize("name", SYNTHEA)
def test_deceased_patients_orders_end_at_death(name):
    result = ingest(EXPORTS / name)
    raw = pd.read_csv(EXPORTS / name / "patients.csv", dtype=str).set_index("Id")
    deaths = pd.to_datetime(raw["DEATHDATE"].dropna())
    ev = result.events
    dead = ev[ev["patient_id"].isin(deaths.index)]
    assert (dead["death_year"] == dead["patient_id"].map(deaths).dt.year).all()
    assert ev.loc[~ev["patient_id"].isin(deaths.index), "death_year"].isna().all()
    last = dead["end_date"].fillna(dead["event_date"])
    assert (last <= dead["patient_id"].map(deaths)).all()  # nothing covers past death
    assert "DEATHDATE" in _file(result, "patients.csv").refused_columns


@pytest.mark.parametrize(("name", "rows", "first"), [("synthea-105", 20, "2014-01-30"),
                                                     ("synthea-27", 1, "2014-02-06")])
def test_diagnoses_hold_the_chronic_low_back_pain_rows_with_dates(name, rows, first):
    result = ingest(EXPORTS / name)
    assert result.population_source == "conditions"
    dx = result.diagnoses
    lbp = dx[dx["code"] == "278860009"]
    raw = pd.read_csv(EXPORTS / name / "conditions.csv", dtype=str)
    expected = raw[raw["CODE"] == "278860009"]
    assert len(lbp) == len(expected) == rows
    assert set(lbp["kind"]) == {"spinal_pain"}
    assert sorted(lbp["diagnosis_date"].astype(str)) == sorted(expected["START"])
    assert lbp["diagnosis_date"].min() == pd.Timestamp(first)
    kinds = set(dx["kind"])
    assert kinds == {"spinal_pain", "general_pain", "opioid_use_disorder"}
    assert _file(result, "conditions.csv").accepted == len(dx)


@pytest.mark.parametrize("name", SYNTHEA)
def test_every_direct_identifier_of_patients_csv_is_refused(name):
    result = ingest(EXPORTS / name)
    patients = _file(result, "patients.csv")
    assert patients.refused_columns == SYNTHEA_IDENTIFIERS[name]
    raw = pd.read_csv(EXPORTS / name / "patients.csv", dtype=str)
    dump = json.dumps(result.report.to_dict()) + result.rejected.to_csv()
    dump += result.events.astype("string").to_csv()
    for column in ("SSN", "LAST", "ADDRESS", "PASSPORT"):
        values = raw[column].dropna().head(5)
        for value in values:
            assert value not in dump, (column, value)


@pytest.mark.parametrize("name", SYNTHEA)
def test_patients_give_sex_and_birth_year(name):
    result = ingest(EXPORTS / name)
    raw = pd.read_csv(EXPORTS / name / "patients.csv", dtype=str).set_index("Id")
    ev = result.events
    first = ev.iloc[0]
    assert first["sex"] == raw.loc[first["patient_id"], "GENDER"]
    assert first["birth_year"] == int(raw.loc[first["patient_id"], "BIRTHDATE"][:4])
    assert _file(result, "patients.csv").accepted == len(raw)


def test_synthea_dates_and_stop_dates():
    result = ingest(EXPORTS / "synthea-105")
    ev = result.events
    # START/STOP timestamps with a zone become the calendar dates as written
    row = ev[(ev["detail"] == "tramadol hydrochloride 50 MG Oral Tablet")].sort_values(
        "event_date"
    )
    assert (row["event_date"].dt.normalize() == row["event_date"]).all()
    meds = pd.read_csv(EXPORTS / "synthea-105" / "medications.csv", dtype=str)
    tram = meds[meds["DESCRIPTION"] == "tramadol hydrochloride 50 MG Oral Tablet"]
    first = tram.sort_values("START").iloc[0]
    got = row.iloc[0]
    assert got["event_date"] == pd.Timestamp(first["START"][:10])
    if isinstance(first["STOP"], str):
        assert got["end_date"] == pd.Timestamp(first["STOP"][:10])
    open_orders = ev["open_order"] & ev["technique"].isin(["narcotic"])
    assert (ev.loc[open_orders, "end_date"].isna()).all()


def test_omop_concepts_name_the_drugs():
    result = ingest(EXPORTS / "omop-synthea27nj")
    ev = result.events
    narcotic = ev[ev["technique"] == "narcotic"]
    assert (narcotic["detail"] == "72 HR fentanyl 0.025 MG/HR Transdermal System").sum() == 10
    assert (narcotic["detail"] == "tramadol hydrochloride 50 MG Oral Tablet").sum() == 10
    assert _file(result, "CONCEPT.csv").accepted == 2294
    person = _file(result, "PERSON.csv")
    assert person.refused_columns == ["month_of_birth", "day_of_birth", "birth_datetime"]
    assert person.accepted == 28
    assert set(ev["sex"].dropna()) <= {"F", "M"}
    assert ev["birth_year"].notna().all()
    dx = result.diagnoses
    assert sorted(dx["code"]) == ["1121000119107"] * 4 + ["278860009"] * 5 + ["55680006"]
    assert result.population_source == "conditions"
    drugs = _file(result, "DRUG_EXPOSURE.csv")
    assert drugs.mapping["refills"] == "refills"
    assert set(ev["dispenses"].dropna()) == {1}  # refills 0 + 1


# --- Synthea encounters: provider and site of every event --------------------------------------


@pytest.mark.parametrize("name", SYNTHEA)
def test_synthea_encounters_give_every_event_its_provider_and_site(name):
    import csv

    from analytics.cohorts import Cohort, apply_cohort

    result = ingest(EXPORTS / name)
    encounters = _file(result, "encounters.csv")
    assert encounters.role == "encounters"
    assert encounters.accepted == encounters.rows_read  # every encounter has an id
    assert encounters.not_relevant == 0
    events = result.events
    assert events["provider_id"].notna().all() and events["site"].notna().all()
    # each event's provider and site are those of its encounter, as exported
    with open(EXPORTS / name / "encounters.csv", newline="") as fh:
        by_id = {r["Id"]: (r["PROVIDER"], r["ORGANIZATION"]) for r in csv.DictReader(fh)}
    with open(EXPORTS / name / "medications.csv", newline="") as fh:
        first = next(r for r in csv.DictReader(fh) if "Oxycodone" in r["DESCRIPTION"])
    row = events[(events["patient_id"] == first["PATIENT"])
                 & (events["detail"] == first["DESCRIPTION"])].iloc[0]
    assert (row["provider_id"], row["site"]) == by_id[first["ENCOUNTER"]]
    # the physician and site filters work on the Synthea data
    provider = events["provider_id"].value_counts().index[0]
    chosen = apply_cohort(events, Cohort(providers=(provider,)))
    assert 0 < chosen["patient_id"].nunique() < events["patient_id"].nunique()
    site = events["site"].value_counts().index[0]
    assert len(apply_cohort(events, Cohort(sites=(site,)))) > 0
    assert result.report.event_rows == len(events)
    assert result.report.accepted_by_role["encounters"] == encounters.accepted


def test_omop_drug_rows_keep_their_own_provider():
    result = ingest(EXPORTS / "omop-synthea27nj")
    events = result.events
    assert events["provider_id"].notna().all()  # drug_exposure.provider_id as exported
    assert events["provider_id"].str.fullmatch(r"\d+").all()


def test_no_column_of_the_exports_is_refused_by_its_values(export):
    """The value checks (person names, phone and identity numbers in most rows) keep every
    pseudonymous id, code and description of the real exports; only names refuse."""
    _, result = export
    for f in result.report.files:
        assert f.phi_value_columns == [], (f.name, f.phi_value_columns)
