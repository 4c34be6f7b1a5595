"""Tests of analytics.population: index dates and the population rules, at every boundary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import schema
from analytics.population import apply_population, index_dates

D = pd.Timestamp


def events_frame(rows):
    """rows: (patient, event_date, technique, end_date or None, drug_class or None)."""
    frame = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique", "end_date",
                                        "drug_class"])
    return schema.conform(frame)


def diagnoses_frame(rows):
    """rows: (patient, diagnosis_date or None, kind)."""
    frame = pd.DataFrame(rows, columns=["patient_id", "diagnosis_date", "kind"])
    return pd.DataFrame({
        "patient_id": frame["patient_id"].astype("string"),
        "diagnosis_date": pd.to_datetime(frame["diagnosis_date"]).astype("datetime64[s]"),
        "code": pd.Series([""] * len(frame), dtype="string"),
        "description": pd.Series([""] * len(frame), dtype="string"),
        "kind": frame["kind"].astype("string"),
    })


# Patient A: spinal-pain diagnoses on 2024-03-01 and 2024-02-01 -> index 2024-02-01,
# cut (30 days before) = 2024-01-02.
EHR_EVENTS = events_frame([
    ("A", "2024-01-01", "narcotic", None, "opioid"),  # index - 31: dropped
    ("A", "2024-01-02", "physical_therapy", None, None),  # index - 30 exactly: kept
    ("A", "2023-12-20", "narcotic", "2024-03-01", "opioid"),  # runs past the cut: dropped
    ("A", "2024-02-01", "injection", None, None),  # on the index date: kept
    ("A", "2025-06-30", "narcotic", None, "opioid"),  # long after: kept
    ("A", "2023-06-01", "other", None, "benzodiazepine"),  # safety-only, before the cut
    ("A", "2024-03-15", "other", None, "benzodiazepine"),  # safety-only, after the cut
    ("B", "2024-02-01", "narcotic", None, "opioid"),  # general pain only
    ("C", "2024-02-01", "physical_therapy", None, None),  # no diagnosis
    ("D", "2024-03-31", "narcotic", None, "opioid"),  # index 2024-05-01, cut 2024-04-01
])
EHR_DIAGNOSES = diagnoses_frame([
    ("A", "2024-03-01", "spinal_pain"),
    ("A", "2024-02-01", "spinal_pain"),
    ("A", "2020-01-01", "general_pain"),  # earlier, but not spinal: not the index
    ("B", "2024-01-01", "general_pain"),
    ("B", "2023-01-01", "opioid_use_disorder"),
    ("D", "2024-05-01", "spinal_pain"),
    ("E", None, "spinal_pain"),  # undated: no index date
])


def test_index_dates_first_spinal_pain_diagnosis():
    got = index_dates(EHR_DIAGNOSES)
    assert got.name == "index_date"
    assert got.index.name == "patient_id"
    assert got.dtype == "datetime64[s]"
    assert got.to_dict() == {"A": D("2024-02-01"), "D": D("2024-05-01")}


def test_index_dates_empty_and_none():
    assert len(index_dates(None)) == 0
    assert len(index_dates(EHR_DIAGNOSES.iloc[0:0])) == 0
    only_general = diagnoses_frame([("B", "2024-01-01", "general_pain")])
    assert len(index_dates(only_general)) == 0
    assert index_dates(None).dtype == "datetime64[s]"


def test_index_dates_needs_its_columns():
    with pytest.raises(KeyError, match="kind"):
        index_dates(pd.DataFrame({"patient_id": ["A"], "diagnosis_date": [D("2024-01-01")]}))


def test_ehr_export_index_and_lookback_boundaries():
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions")
    kept = pop.events
    assert list(zip(kept["patient_id"], kept["event_date"].dt.strftime("%Y-%m-%d"),
                    kept["technique"].astype(str), strict=True)) == [
        ("A", "2024-01-02", "physical_therapy"),
        ("A", "2024-02-01", "injection"),
        ("A", "2025-06-30", "narcotic"),
        ("A", "2024-03-15", "other"),
    ]
    assert pop.name == "Back-pain patients"
    assert pop.population == "back_pain"
    assert pop.patients_kept == 1
    assert pop.patients_left_out == 3  # B (general pain only), C (none), D (all before cut)
    assert pop.index_date.to_dict() == {"A": D("2024-02-01")}
    assert list(pop.patient_ids) == ["A"]
    assert pop.lookback_days == 30
    assert "30 days before the index date" in pop.note
    assert pop.note.endswith(
        " 3 patients of the dataset left out: 2 without a back or neck pain diagnosis, "
        "1 whose events all start before the lookback.")
    assert pop.summary() == {"name": "Back-pain patients", "patients_kept": 1,
                             "patients_left_out": 3, "note": pop.note}


def test_full_history_has_no_date_cut():
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions")
    history = pop.full_history(EHR_EVENTS)
    assert len(history) == 7  # all seven rows of A, incl. the 2023 benzodiazepine
    assert set(history["patient_id"]) == {"A"}


def test_lookback_is_a_parameter():
    # lookback 0: only events on or after the index date 2024-02-01
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions", lookback_days=0)
    assert list(pop.events["event_date"].dt.strftime("%Y-%m-%d")) == [
        "2024-02-01", "2025-06-30", "2024-03-15"]
    assert "0 days before" in pop.note
    # lookback 31: 2024-01-01 is now exactly index - 31 and counts; D's cut is 2024-03-31
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions", lookback_days=31)
    assert list(pop.events["event_date"].dt.strftime("%Y-%m-%d")) == [
        "2024-01-01", "2024-01-02", "2024-02-01", "2025-06-30", "2024-03-15", "2024-03-31"]
    assert pop.patients_kept == 2 and pop.patients_left_out == 2
    assert pop.note.endswith("left out: 2 without a back or neck pain diagnosis.")
    assert pop.index_date.to_dict() == {"A": D("2024-02-01"), "D": D("2024-05-01")}


def test_lookback_across_a_leap_february():
    # index 2024-03-01; 30 days before is 2024-01-31 (February 2024 has 29 days)
    events = events_frame([
        ("A", "2024-01-30", "narcotic", None, "opioid"),
        ("A", "2024-01-31", "narcotic", None, "opioid"),
    ])
    diagnoses = diagnoses_frame([("A", "2024-03-01", "spinal_pain")])
    pop = apply_population(events, diagnoses, "conditions")
    assert list(pop.events["event_date"].dt.strftime("%Y-%m-%d")) == ["2024-01-31"]


def test_ehr_export_without_any_spinal_pain_diagnosis_keeps_nobody():
    diagnoses = diagnoses_frame([("B", "2024-01-01", "general_pain")])
    pop = apply_population(EHR_EVENTS, diagnoses, "conditions")
    assert len(pop.events) == 0
    assert pop.patients_kept == 0 and pop.patients_left_out == 4
    assert len(pop.index_date) == 0
    assert pop.note.startswith("No patient of the dataset has a back or neck pain diagnosis")


def test_clinic_export_patients_with_a_spinal_code_on_any_row_no_date_cut():
    events = events_frame([
        ("A", "2019-05-01", "narcotic", None, "opioid"),  # years before the diagnosis row
        ("A", "2024-02-01", "injection", None, None),
        ("A", "2018-01-01", "other", None, "benzodiazepine"),
        ("B", "2024-02-01", "narcotic", None, "opioid"),
        ("C", "2024-02-01", "physical_therapy", None, None),
    ])
    diagnoses = diagnoses_frame([
        ("A", "2024-02-01", "spinal_pain"),
        ("B", "2024-02-01", "general_pain"),
    ])
    pop = apply_population(events, diagnoses, "diagnosis_column")
    assert list(pop.events["event_date"].dt.strftime("%Y-%m-%d")) == [
        "2019-05-01", "2024-02-01", "2018-01-01"]
    assert pop.patients_kept == 1 and pop.patients_left_out == 2
    assert pop.lookback_days is None
    assert pop.index_date.to_dict() == {"A": D("2024-02-01")}
    assert "no date cut" in pop.note


def test_clinic_export_without_spinal_codes_keeps_everyone_with_a_note():
    events = EHR_EVENTS
    diagnoses = diagnoses_frame([("B", "2024-02-01", "general_pain")])
    pop = apply_population(events, diagnoses, "diagnosis_column")
    assert pop.events is events
    assert pop.patients_kept == 4 and pop.patients_left_out == 0
    assert pop.name == "Back-pain patients"
    assert "holds no spinal-pain code" in pop.note


def test_no_diagnosis_data_keeps_everyone_with_a_note():
    pop = apply_population(EHR_EVENTS, None, "none")
    assert pop.events is EHR_EVENTS
    assert pop.patients_kept == 4 and pop.patients_left_out == 0
    assert list(pop.patient_ids) == ["A", "B", "C", "D"]
    assert "no diagnoses" in pop.note
    assert pop.full_history(EHR_EVENTS) is EHR_EVENTS


def test_population_all_is_everything():
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions", population="all")
    assert pop.events is EHR_EVENTS
    assert pop.name == "All patients"
    assert pop.patients_kept == 4 and pop.patients_left_out == 0
    # index dates stay available (outcomes leave out the patients without one)
    assert pop.index_date.to_dict() == {"A": D("2024-02-01"), "D": D("2024-05-01")}


def test_empty_events():
    empty = schema.empty_events()
    for source in ("conditions", "diagnosis_column", "none"):
        pop = apply_population(empty, EHR_DIAGNOSES, source)
        assert len(pop.events) == 0
        assert pop.patients_kept == 0 and pop.patients_left_out == 0
        assert list(pop.events.columns) == list(schema.CANONICAL_COLUMNS)
        assert len(pop.index_date) == 0


def test_events_keep_their_index_labels_and_columns():
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions")
    assert list(pop.events.index) == [1, 3, 4, 6]
    assert list(pop.events.columns) == list(schema.CANONICAL_COLUMNS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"population": "everyone"}, "population must be one of"),
        ({"source": "somewhere"}, "source must be one of"),
        ({"lookback_days": -1}, "lookback_days"),
        ({"lookback_days": 2.5}, "lookback_days"),
    ],
)
def test_bad_choices_raise_a_clear_error(kwargs, message):
    args = {"source": "conditions", **kwargs}
    with pytest.raises(ValueError, match=message):
        apply_population(EHR_EVENTS, EHR_DIAGNOSES, **args)


def test_a_million_events_agree_with_a_plain_merge():
    rng = np.random.default_rng(3)
    n, patients = 1_000_000, 100_000  # a few of the 100k ids get no event
    pid = rng.integers(0, patients, n)
    ids = pd.Series([f"p{i:06d}" for i in range(patients)], dtype="string")
    start = np.datetime64("2015-01-01") + rng.integers(0, 3650, n).astype("timedelta64[D]")
    events = schema.conform(pd.DataFrame({
        "patient_id": ids.to_numpy()[pid],
        "event_date": start.astype("datetime64[s]"),
        "technique": pd.Categorical(np.full(n, "narcotic"), categories=schema.TECHNIQUES),
    }))
    diag_patients = rng.choice(patients, 60_000, replace=False)
    diagnoses = pd.DataFrame({
        "patient_id": ids.to_numpy()[diag_patients],
        "diagnosis_date": (np.datetime64("2016-01-01")
                           + rng.integers(0, 2000, 60_000).astype("timedelta64[D]")
                           ).astype("datetime64[s]"),
        "kind": "spinal_pain",
    })
    pop = apply_population(events, diagnoses, "conditions")
    # reference by a plain merge
    ref = events.merge(index_dates(diagnoses).rename("idx").reset_index(), on="patient_id")
    ref = ref[ref["event_date"] >= ref["idx"] - pd.Timedelta(days=30)]
    assert len(pop.events) == len(ref)
    assert pop.patients_kept == ref["patient_id"].nunique()
    assert pop.patients_kept + pop.patients_left_out == events["patient_id"].nunique()


def test_a_patient_with_only_safety_rows_in_the_window_is_kept():
    # index 2024-02-01; the only row after the cut is a benzodiazepine fill: the patient is in
    # the population (the safety measures need them) though no treatment row counts
    events = events_frame([
        ("A", "2023-01-01", "narcotic", None, "opioid"),
        ("A", "2024-02-10", "other", None, "benzodiazepine"),
    ])
    diagnoses = diagnoses_frame([("A", "2024-02-01", "spinal_pain")])
    pop = apply_population(events, diagnoses, "conditions")
    assert pop.patients_kept == 1 and pop.patients_left_out == 0
    assert pop.events["drug_class"].astype(str).tolist() == ["benzodiazepine"]
    assert int(schema.treatment_rows(pop.events).sum()) == 0
    assert len(pop.full_history(events)) == 2


def test_rule_has_no_count_and_left_out_adds_up_by_reason():
    # EHR export: B and C have no spinal-pain diagnosis, D's events all start before the cut
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions")
    assert pop.left_out_by_reason == {"no_diagnosis": 2, "before_lookback": 1}
    assert pop.rule == ("Patients with a back or neck pain diagnosis (index date: the first "
                        "one); their events from 30 days before the index date on.")
    assert pop.note.startswith(pop.rule[:-1]) and not any(ch.isdigit() for ch in
                                                         pop.rule.replace("30 days", ""))
    # lookback 31 keeps D: only the two without a diagnosis are left out
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions", lookback_days=31)
    assert pop.left_out_by_reason == {"no_diagnosis": 2}
    # clinic export: B (general pain) and C (none) left out for want of a diagnosis
    events = events_frame([("A", "2024-02-01", "injection", None, None),
                           ("B", "2024-02-01", "narcotic", None, "opioid"),
                           ("C", "2024-02-01", "physical_therapy", None, None)])
    pop = apply_population(events, diagnoses_frame([("A", "2024-02-01", "spinal_pain")]),
                           "diagnosis_column")
    assert pop.left_out_by_reason == {"no_diagnosis": 2}
    assert pop.rule == ("Patients with a back or neck pain diagnosis on any row of the export; "
                        "all their events (no date cut).")
    assert pop.note == pop.rule + " 2 patients of the dataset left out."
    # nobody left out: no reason, and the rule is the note
    pop = apply_population(EHR_EVENTS, EHR_DIAGNOSES, "conditions", population="all")
    assert pop.left_out_by_reason == {} and pop.rule == pop.note
