"""The population line (analytics/results/population.py): counts protected, the note written
from the protected cells, hand-computed."""

from __future__ import annotations

import pandas as pd

from analytics.population import Population
from analytics.results.population import build_population

RULE = ("Patients with a back or neck pain diagnosis (index date: the first one); their "
        "events from 30 days before the index date on.")


def population(kept: int, reasons: dict[str, int], name: str = "Back-pain patients",
               choice: str = "back_pain") -> Population:
    return Population(events=pd.DataFrame(), name=name, population=choice,
                      patients_kept=kept, patients_left_out=sum(reasons.values()),
                      note="(not read)", rule=RULE, left_out_by_reason=reasons)


def test_large_counts_are_shown_and_the_note_is_written_from_them():
    result = build_population(population(2339, {"no_diagnosis": 40, "before_lookback": 21}))
    assert result.summary() == {
        "name": "Back-pain patients", "patients_kept": 2339, "patients_left_out": 61,
        "note": RULE + " Patients of the dataset left out: 61 (40 without a back or neck pain "
                       "diagnosis, 21 whose events all start before the lookback)."}
    assert result.line() == (
        "Population: Back-pain patients (2,339 of 2,400 patients). Patients of the dataset "
        "left out: 61 (40 without a back or neck pain diagnosis, 21 whose events all start "
        "before the lookback). " + RULE)


def test_a_small_left_out_count_hides_a_total_too():
    # 3 left out of 2,342: 2,342 - 2,339 would give the 3 away, so one of them is hidden
    result = build_population(population(2339, {"no_diagnosis": 3}))
    table = result.table
    assert table.cell(0, "patients_left_out") == "<11"
    assert table.cell(0, "left_out_no_diagnosis") == "<11"
    # the smaller of the two is hidden: the patients kept
    assert (table.cell(0, "patients"), table.cell(0, "patients_kept")) == (2342, "hidden")
    assert result.line().startswith("Population: Back-pain patients (hidden of 2,342 "
                                    "patients). Patients of the dataset left out: <11")
    assert result.left_out_note() == ("Patients of the dataset left out: <11 (<11 without a "
                                      "back or neck pain diagnosis).")


def test_one_small_reason_hides_the_other_reason_as_well():
    # 40 + 5 = 45 left out: showing 45 and 40 would give the 5 away
    result = build_population(population(500, {"no_diagnosis": 40, "before_lookback": 5}))
    table = result.table
    assert table.cell(0, "left_out_before_lookback") == "<11"
    assert "hidden" in (table.cell(0, "left_out_no_diagnosis"),
                        table.cell(0, "patients_left_out"))


def test_nobody_left_out_and_no_suppression():
    result = build_population(population(12, {}, "All patients", "all"), min_cell=0)
    assert result.summary() == {"name": "All patients", "patients_kept": 12,
                                "patients_left_out": 0, "note": RULE}
    assert result.line() == ("Population: All patients (12 of 12 patients). No patient of "
                             "the dataset left out. " + RULE)
