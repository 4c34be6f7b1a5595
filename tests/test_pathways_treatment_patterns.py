"""Acceptance: OHDSI TreatmentPatterns' own logical test cases through mode "eras".

The cases (tests/fixtures/treatment_patterns_cases.toml, loaded by
tests/treatment_patterns_cases.py) are those of ``tests/testthat/test-pathwaysLogical.R``
in darwin-eu-dev/TreatmentPatterns at commit 0719ea0811417b82aaedb3b9398eb36b79ca2b3a that do
not depend on the target cohort window; each must give TreatmentPatterns' path.
"""

import pytest

from analytics.pathways import pathway_steps, patient_pathways
from tests.oracles.reference_pathways import reference_pathway_steps
from tests.treatment_patterns_cases import (
    PARAMETERS,
    cli_arguments,
    excluded_cases,
    step_labels,
    treatment_patterns_cases,
)

CASES = list(treatment_patterns_cases())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_treatment_patterns_case(case):
    steps = pathway_steps(case.events, mode="eras", **case.parameters)
    assert steps["patient_id"].nunique() == 1
    assert steps["label"].tolist() == case.expected
    assert steps["step"].tolist() == list(range(1, len(case.expected) + 1))
    pathway = patient_pathways(steps)["pathway"].tolist()
    assert pathway == [" > ".join(case.expected)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_treatment_patterns_case_through_the_reference_loop(case):
    # the per-patient loop (one overlap per pass, as TreatmentPatterns) agrees
    steps = reference_pathway_steps(case.events, mode="eras", **case.parameters)
    assert steps["label"].tolist() == case.expected


def test_every_case_of_the_reference_file_is_used_or_excluded_with_a_reason():
    # test-pathwaysLogical.R at that commit holds 27 test_that() cases
    names = [c.name for c in CASES] + [c.name for c in excluded_cases()]
    assert len(names) == len(set(names)) == 27
    assert len(CASES) == 24
    assert all(c.reason for c in excluded_cases())
    assert {c.name for c in excluded_cases()} == {
        "start event < start target", "start event > end target", "3 iter"}


def test_cases_set_every_parameter_and_differ_from_painpath_defaults():
    for case in CASES:
        assert set(case.parameters) == set(PARAMETERS)
    # TreatmentPatterns' cases use its own minimum post-combination duration (30, 5, 1), never
    # PainPath's default 0, and filters All / First, never PainPath's default Changes.
    assert {c.parameters["min_post_combination_days"] for c in CASES} == {30, 5, 1}
    assert {c.parameters["pathway_filter"] for c in CASES} == {"all", "first"}


def test_loader_maps_treatments_to_canonical_techniques():
    assert step_labels("A+C-B-D+E") == ["physical_therapy+narcotic", "muscle_relaxant",
                                        "injection+surgery"]
    assert step_labels("C+A") == ["physical_therapy+narcotic"]
    case = next(c for c in CASES if c.name == "A-A+C-C-B+C-C")
    assert case.events["technique"].astype(str).tolist() == [
        "physical_therapy", "muscle_relaxant", "narcotic", "narcotic"]
    assert case.events["end_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2014-01-14", "2014-01-18", "2014-01-18", "2014-03-30"]
    assert cli_arguments(case.parameters) == [
        "--min-cell", "0", "--pathway-mode", "eras", "--era-gap-days", "5",
        "--min-era-days", "0", "--combination-window-days", "1",
        "--min-post-combination-days", "1", "--pathway-filter", "all", "--max-steps", "5"]
