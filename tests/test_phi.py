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
