"""Tests of analytics.phi: PHI column names, PHI-looking values, age cap."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import phi


@pytest.mark.parametrize(
    "name",
    [
        "First Name", "LAST", "patient_name", "SSN", "Social Security Number", "MRN",
        "Medical Record #", "Street Address", "ADDRESS", "City", "COUNTY", "ZIP", "Zip Code",
        "LAT", "LON", "Phone", "Mobile Phone", "Fax", "E-mail", "Member ID", "Account Number",
        "DRIVERS", "Passport", "License Number", "Notes", "Comments", "URL", "IP Address",
        "Device Serial", "DEATHDATE", "month_of_birth", "BIRTHPLACE", "FIPS",
    ],
)  # fmt: skip
def test_refused_by_name(name):
    assert phi.phi_rule(name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "Patient ID", "PATIENT", "person_id", "Id", "concept_name", "Drug Name", "Description",
        "Service Date", "Provider", "Site", "Gender", "year_of_birth", "STATE", "RACE", "CODE",
    ],
)  # fmt: skip
def test_kept_names(name):
    assert phi.phi_rule(name) is None


def test_birth_dates_keep_the_year_only():
    assert phi.phi_rule("BIRTHDATE") == ("birth date", "birth_year")
    assert phi.phi_rule("Date of Birth")[1] == "birth_year"
    assert phi.phi_rule("DOB")[1] == "birth_year"
    assert phi.birth_date_columns(["Patient ID", "DOB", "Service Date"]) == ["DOB"]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["ok", "123-45-6789"], "ssn"),
        (["(555) 123-4567"], "phone"),
        (["call 555.123.4567 today"], "phone"),
        (["+1 555 123 4567"], "phone"),
        (["someone@example.org"], "email"),
    ],
)
def test_values_that_look_like_phi(values, kind):
    assert phi.values_look_like_phi(values) == kind


@pytest.mark.parametrize(
    "values",
    [
        ["2020-01-28", "2020-01-28T14:36:08Z", "01/31/2021"],
        ["07596685-d102-eeb0-1e21-4547f68bf4e6"],  # Synthea UUID
        ["0093-0058-01", "12345-678-90"],  # NDC codes
        ["64483", "M54.50", "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG"],
        [],
    ],
)
def test_values_that_do_not_look_like_phi(values):
    assert phi.values_look_like_phi(values) is None


def test_value_phi_columns():
    got = phi.value_phi_columns({"a": np.array(["x"], dtype=object), "b": np.array(["a@b.io"])})
    assert got == {"b": "email"}


def test_cap_age():
    got = phi.cap_age(np.array([89.0, 90.0, 95.0, 120.0, -1.0, 131.0, np.nan]))
    np.testing.assert_array_equal(got, [89.0, 90.0, 90.0, 90.0, np.nan, np.nan, np.nan])


def test_death_dates_are_read_then_kept_as_the_year_only():
    for name in ("DEATHDATE", "Date of Death", "deceased_date", "DOD"):
        assert phi.phi_rule(name) == ("death date", "death_date"), name
    assert phi.death_date_columns(["Patient ID", "DEATHDATE", "DOB"]) == ["DEATHDATE"]
    assert phi.birth_date_columns(["Patient ID", "DEATHDATE", "DOB"]) == ["DOB"]


@pytest.mark.parametrize("name", ["MRN_pseudo", "mrn_hash", "MRN (de-identified)",
                                  "mrn_deid", "MRN pseudonymised", "chart_number_token"])
def test_a_pseudonymised_mrn_is_a_patient_key(name):
    assert phi.is_pseudonym_name(name)
    assert phi.phi_rule(name) is None


@pytest.mark.parametrize("name", ["MRN", "Medical Record Number", "SSN_hash", "email_hash",
                                  "phone_masked", "first_name"])  # fmt: skip
def test_other_identifiers_stay_refused_whatever_their_name_adds(name):
    assert phi.phi_rule(name) is not None


def test_value_check_finds_phi_among_many_values():
    values = np.array([f"P{i}" for i in range(50_000)] + ["x 123-45-6789"], dtype=object)
    assert phi.values_look_like_phi(values) == "ssn"
    assert phi.values_look_like_phi(np.array(["0093-0058-01", "64483"], dtype=object)) is None
    assert phi.values_look_like_phi([None, 5, "a@b.co"]) == "email"


# --- identifiers in German, French and Spanish, and abbreviations ------------------------------


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Vorname", "names"), ("Nachname", "names"), ("Nombre", "names"),
        ("Apellidos", "names"), ("Pt Full Name", "names"), ("pt nm", "names"),
        ("Prénom", "names"), ("Nom de naissance", "names"), ("Familienname", "names"),
        ("Strasse", "geography"), ("Straße", "geography"), ("PLZ", "geography"),
        ("Direccion", "geography"), ("Dirección", "geography"), ("Addr1", "geography"),
        ("Code postal", "geography"), ("Wohnort", "geography"), ("pt addr", "geography"),
        ("Telefon", "telephone/fax"), ("tel", "telephone/fax"), ("Téléphone", "telephone/fax"),
        ("Teléfono móvil", "telephone/fax"), ("Handynummer", "telephone/fax"),
        ("E-Mail", "email"), ("Correo electrónico", "email"), ("Courriel", "email"),
        ("Versichertennummer", "health plan number"), ("KVNR", "health plan number"),
        ("Member ID", "health plan number"), ("Tarjeta sanitaria", "health plan number"),
        ("SSN_last4", "ssn"), ("DNI", "ssn"), ("NIR", "ssn"),
        ("Sozialversicherungsnummer", "ssn"), ("Fallnummer", "medical record number"),
        ("NHC", "medical record number"), ("Notes", "free text"), ("Comment", "free text"),
        ("Free Text", "free text"), ("Clinic note", "free text"), ("Bemerkung", "free text"),
        ("Observaciones", "free text"), ("notes_text", "free text"),
        ("Führerschein", "licence/certificate"), ("IBAN", "account number"),
    ],
)  # fmt: skip
def test_identifiers_in_other_languages_are_refused(name, category):
    assert phi.phi_rule(name) == (category, "refuse")


@pytest.mark.parametrize("name", ["Geburtsdatum", "dob", "Pt DOB", "Fecha de nacimiento",
                                  "Date de naissance", "Geb.-Datum"])
def test_birth_dates_in_other_languages_keep_the_year(name):
    assert phi.phi_rule(name) == ("birth date", "birth_year")


@pytest.mark.parametrize("name", ["Sterbedatum", "Fecha de defunción", "Date de décès"])
def test_death_dates_in_other_languages(name):
    assert phi.phi_rule(name) == ("death date", "death_date")


@pytest.mark.parametrize(
    "name",
    [
        "Patienten-ID", "Datum", "Behandlung", "Medikament", "Tage", "Diagnose", "Standort",
        "Arzt", "Fecha", "Médico", "Centro", "Medicament", "Nom du médicament",
        "Nombre de comprimés", "ENCOUNTER", "ORGANIZATION", "visit_occurrence_id",
        "care_site_id", "Pain Score", "Telemedicine", "PT", "Patient number", "DR ID",
    ],
)  # fmt: skip
def test_names_that_are_not_identifiers_are_kept(name):
    assert phi.phi_rule(name) is None


# --- columns refused by their values in most rows ---------------------------------------------


def _most(values):
    return phi.most_values_look_like(np.array(values, dtype=object))


@pytest.mark.parametrize(
    "values",
    [
        ["Anna Müller", "Hans-Peter Schmidt", "MÜLLER, Anna", "Dr. Jean-Luc Picard"],
        ["María García López", "José Fernández", "Jean Dupont", "Pierre Martin"],
        ["Smith, John", "Mary Johnson", "unknown"],  # 2 of 3 rows
    ],
)
def test_person_names_in_most_rows(values):
    assert _most(values) == "person name"


@pytest.mark.parametrize(
    "values",
    [
        ["+49 30 1234567", "0171-1234567", "030/1234567", "(030) 1234567"],
        ["01 23 45 67 89", "+33 1 23 45 67 89", "06.12.34.56.78"],
        ["+34 912 345 678", "912 345 678", "612 34 56 78", "0034 612 345 678"],
    ],
)
def test_phone_numbers_of_other_countries_in_most_rows(values):
    assert _most(values) == "phone"


@pytest.mark.parametrize(
    "values",
    [
        ["A123456780", "B987654320", "C000000018"],  # German KVNR, check digit right
        ["12345678Z", "X1234567L", "87654321X"],  # Spanish DNI / NIE
        ["1 85 05 78 006 084 91", "2 69 05 49 588 157 80"],  # French NIR with its key
        ["DE89 3704 0044 0532 0130 00", "ES91 2100 0418 4502 0005 1332"],  # IBAN
        ["1EG4-TE5-MK73", "2EG4-TE5-MK74"],  # US Medicare MBI
        ["65170839J003", "12010190M123"],  # German Rentenversicherungsnummer
    ],
)
def test_identity_and_insurance_numbers_in_most_rows(values):
    assert _most(values) == "id number"


@pytest.mark.parametrize(
    "values",
    [
        ["Oxycodon 5 mg Tablette", "Tramadol Hexal", "Valoron N", "Targin", "Tilidin comp"],
        ["DR01", "DR02", "DR14", "DR7"],  # provider pseudonyms
        ["Klinik St. Georg", "North Clinic", "Praxis Dr. Weber", "Centro Santa María"],
        ["Physical Therapy", "Physiotherapie", "Injektion", "Muscle Relaxant"],
        ["64483", "97110", "J1040", "M54.50", "278860009", "1121000119107"],
        ["00406-0123-01", "0093-0058-01", "00781-1234-01", "12345-678-90", "00406012301"],
        ["01.02.2023", "05.01.2023", "2023-01-05", "1/2/2023"],
        ["0.125", "0.5", "0,25", "7,5"],
        ["P000001", "P000002", "A1", "07596685-d102-eeb0-1e21-4547f68bf4e6"],
        ["A123456781", "A123456782", "A123456783"],  # KVNR-shaped, wrong check digits
        ["12345678A", "12345678B"],  # DNI-shaped, wrong letters
        ["Male", "Female", "F", "M", "Männlich"],
        [],
    ],
)
def test_values_that_are_not_identifiers_in_most_rows(values):
    assert _most(values) is None


def test_most_rows_counts_rows_not_distinct_values():
    uniques = np.array(["Anna Müller", "Oxycodone 5 MG"], dtype=object)
    assert phi.most_values_look_like(uniques, np.array([1, 9])) is None
    assert phi.most_values_look_like(uniques, np.array([9, 1])) == "person name"
    codes = np.array([0, 1, 1, 1, -1, -1, -1, -1])  # empty rows do not count
    assert phi.value_phi_columns({"c": (codes, uniques)}) == {}
    codes = np.array([0, 0, 1, -1, -1, -1])
    assert phi.value_phi_columns({"c": (codes, uniques)}) == {"c": "person name"}


def test_check_digits():
    assert phi.id_number_kind("A123456780") and not phi.id_number_kind("A123456781")
    assert phi.id_number_kind("12345678Z") and not phi.id_number_kind("12345678A")
    assert phi.id_number_kind("X1234567L")
    assert phi.id_number_kind("185057800608491") and not phi.id_number_kind("185057800608436")
    assert phi.id_number_kind("DE89370400440532013000")
    assert not phi.id_number_kind("DE89370400440532013001")
    assert not phi.id_number_kind("P000001")


def test_person_name_like_needs_a_first_name_and_no_facility_word():
    assert phi.person_name_like("Anna Müller")
    assert phi.person_name_like("GARCÍA LÓPEZ, María")
    assert not phi.person_name_like("Anna")  # one word
    assert not phi.person_name_like("Müller Schmidt")  # no first name
    assert not phi.person_name_like("Klinik Anna")  # a facility word
    assert not phi.person_name_like("anna müller")  # not capitalised
    assert not phi.person_name_like("Anna Müller 3")
