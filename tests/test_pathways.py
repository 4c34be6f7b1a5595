import pandas as pd
import pytest

from analytics import schema
from analytics.pathways import (
    concordance_by,
    lines_of_therapy,
    pathway_counts,
    pathway_steps,
    pathway_transitions,
    patient_pathways,
    step_therapy_concordance,
    sunburst_table,
    technique_eras,
    time_between_steps,
)

D = pd.Timestamp


def events(*rows) -> pd.DataFrame:
    """rows: (patient, date, technique[, days_supply[, end_date[, open_order]]])."""
    full = [tuple(r) + (None,) * (6 - len(r)) for r in rows]
    return schema.conform(pd.DataFrame({
        "patient_id": [r[0] for r in full],
        "event_date": pd.to_datetime([r[1] for r in full]),
        "technique": [r[2] for r in full],
        "days_supply": [float("nan") if r[3] is None else float(r[3]) for r in full],
        "end_date": pd.to_datetime([r[4] for r in full]),
        "open_order": [bool(r[5]) for r in full],
    }))


def steps_list(df: pd.DataFrame) -> list[tuple]:
    return [
        (r.patient_id, r.step, r.label, r.start.strftime("%Y-%m-%d"), r.end.strftime("%Y-%m-%d"))
        for r in df.itertuples()
    ]


# ----------------------------------------------------------------------------- eras


def test_era_gap_exactly_window_joins_and_one_more_splits():
    # Jan 1 + 10 days covers [Jan 1, Jan 11); Feb 10 is 30 days after Jan 11.
    joined = technique_eras(events(("a", "2024-01-01", "narcotic", 10),
                                   ("a", "2024-02-10", "narcotic", 5)))
    assert joined[["start", "end", "duration_days", "events"]].values.tolist() == [
        [D("2024-01-01"), D("2024-02-15"), 45, 2]]
    split = technique_eras(events(("a", "2024-01-01", "narcotic", 10),
                                  ("a", "2024-02-11", "narcotic", 5)))
    assert split[["start", "end", "events"]].values.tolist() == [
        [D("2024-01-01"), D("2024-01-11"), 1], [D("2024-02-11"), D("2024-02-16"), 1]]


def test_eras_supplies_do_not_stack_and_sorted_by_start_then_technique():
    ev = events(("b", "2024-01-01", "narcotic", 30), ("b", "2024-01-05", "narcotic", 5),
                ("a", "2024-03-01", "injection"), ("a", "2024-03-01", "physical_therapy"))
    eras = technique_eras(ev)
    assert eras["patient_id"].tolist() == ["a", "a", "b"]
    assert eras["technique"].tolist() == ["physical_therapy", "injection", "narcotic"]
    assert eras["end"].tolist() == [D("2024-03-02"), D("2024-03-02"), D("2024-01-31")]
    assert eras["events"].tolist() == [1, 1, 2]
    assert str(eras["start"].dtype) == "datetime64[s]"


def test_open_order_runs_through_extract():
    ev = events(("a", "2024-01-01", "narcotic", None, None, True))
    eras = technique_eras(ev, extract=D("2024-01-31"))
    assert eras["end"].tolist() == [D("2024-02-01")]


# ----------------------------------------------------------------------------- mode first

FIRST = (
    ("a", "2024-01-01", "physical_therapy"),
    ("a", "2024-01-05", "narcotic", 30),          # covers to Feb 3
    ("a", "2024-01-05", "muscle_relaxant", 10),
    ("a", "2024-02-01", "physical_therapy"),      # not a first use
    ("a", "2024-03-01", "injection"),             # last covered day Mar 1
    ("a", "2023-12-01", "other"),                 # not in the default set
)


def test_first_same_day_forms_combined_step_in_canonical_order():
    got = steps_list(pathway_steps(events(*FIRST)))
    assert got == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-05"),
        ("a", 2, "muscle_relaxant+narcotic", "2024-01-05", "2024-03-01"),
        ("a", 3, "injection", "2024-03-01", "2024-03-02"),
    ]


def test_first_max_steps_cut_keeps_end():
    got = steps_list(pathway_steps(events(*FIRST), max_steps=2))
    assert got[-1] == ("a", 2, "muscle_relaxant+narcotic", "2024-01-05", "2024-03-01")
    assert len(got) == 2


def test_first_only_selected_techniques_count():
    got = steps_list(pathway_steps(events(*FIRST), techniques=("narcotic", "injection")))
    assert got == [
        ("a", 1, "narcotic", "2024-01-05", "2024-03-01"),
        ("a", 2, "injection", "2024-03-01", "2024-03-02"),
    ]
    with_other = pathway_steps(events(*FIRST), techniques=schema.TECHNIQUES)
    assert with_other["label"].iloc[0] == "other"


def test_first_last_step_ends_at_last_covered_day_plus_one():
    ev = events(("a", "2024-01-01", "narcotic", 90), ("a", "2024-01-10", "injection"))
    got = steps_list(pathway_steps(ev))
    # narcotic covers Jan 1 .. Mar 30 -> end Mar 31
    assert got[-1] == ("a", 2, "injection", "2024-01-10", "2024-03-31")


def test_unknown_mode_and_technique_raise():
    with pytest.raises(ValueError):
        pathway_steps(events(*FIRST), mode="bogus")
    with pytest.raises(ValueError):
        pathway_steps(events(*FIRST), techniques=("yoga",))


# ----------------------------------------------------------------------------- mode eras

NARC_JAN_FEB = ("a", "2024-01-01", "narcotic", 60)   # [Jan 1, Mar 1)


def eras_steps(*rows, **kw):
    return steps_list(pathway_steps(events(*rows), mode="eras", **kw))


def test_eras_partial_overlap_at_least_window_is_frfs():
    # relaxant [Jan 15, Apr 1): overlap Jan 15 .. Feb 29 = 46 days
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-01-15", "muscle_relaxant", None, "2024-03-31"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-15"),
        ("a", 2, "muscle_relaxant+narcotic", "2024-01-15", "2024-03-01"),
        ("a", 3, "muscle_relaxant", "2024-03-01", "2024-04-01"),
    ]


def test_eras_overlap_exactly_window_combines():
    # relaxant from Jan 31: overlap Jan 31 .. Feb 29 = 30 days (2024 is a leap year)
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-01-31", "muscle_relaxant", None, "2024-03-31"))
    assert [g[2] for g in got] == ["narcotic", "muscle_relaxant+narcotic", "muscle_relaxant"]
    # one day less of overlap -> switch
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-02-01", "muscle_relaxant", None, "2024-03-31"))
    assert [g[2] for g in got] == ["narcotic", "muscle_relaxant"]


def test_eras_partial_overlap_below_window_is_switch_truncating_earlier():
    # relaxant from Feb 10: overlap Feb 10 .. Feb 29 = 20 days < 30
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-02-10", "muscle_relaxant", None, "2024-03-31"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-10"),
        ("a", 2, "muscle_relaxant", "2024-02-10", "2024-04-01"),
    ]


NARC_120 = ("a", "2024-01-01", "narcotic", 120)      # [Jan 1, Apr 30)


def test_eras_nested_at_least_window_is_lrfs():
    # PT [Feb 1, Mar 2) = 30 days inside the narcotic era
    got = eras_steps(NARC_120, ("a", "2024-02-01", "physical_therapy", None, "2024-03-01"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-01"),
        ("a", 2, "physical_therapy+narcotic", "2024-02-01", "2024-03-02"),
        ("a", 3, "narcotic", "2024-03-02", "2024-04-30"),
    ]


def test_eras_nested_below_window_interrupts_longer_era():
    # PT [Feb 1, Feb 11) = 10 days: the later (inner) era wins, the narcotic resumes
    got = eras_steps(NARC_120, ("a", "2024-02-01", "physical_therapy", None, "2024-02-10"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-01"),
        ("a", 2, "physical_therapy", "2024-02-01", "2024-02-11"),
        ("a", 3, "narcotic", "2024-02-11", "2024-04-30"),
    ]


def test_eras_same_start_short_overlap_shorter_era_is_later():
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-01-01", "injection"))
    assert got == [
        ("a", 1, "injection", "2024-01-01", "2024-01-02"),
        ("a", 2, "narcotic", "2024-01-02", "2024-03-01"),
    ]


def test_eras_identical_eras_combine_even_when_short():
    got = eras_steps(("a", "2024-01-01", "injection"), ("a", "2024-01-01", "physical_therapy"))
    assert got == [("a", 1, "physical_therapy+injection", "2024-01-01", "2024-01-02")]


def test_eras_consecutive_identical_steps_merge_across_gap():
    # two narcotic eras 80 days apart (gap > 30) -> one step spanning both
    got = eras_steps(("a", "2024-01-01", "narcotic", 10), ("a", "2024-04-01", "narcotic", 10))
    assert got == [("a", 1, "narcotic", "2024-01-01", "2024-04-11")]


def test_eras_max_steps_and_gap_parameter():
    rows = (("a", "2024-01-01", "narcotic", 10), ("a", "2024-02-01", "injection"),
            ("a", "2024-03-01", "narcotic", 10), ("a", "2024-04-01", "injection"))
    assert [g[2] for g in eras_steps(*rows)] == ["narcotic", "injection", "narcotic",
                                                 "injection"]
    assert len(eras_steps(*rows, max_steps=3)) == 3
    # era gap 60: narcotic era [Jan 1, Mar 11), injection era [Feb 1, Apr 2) (Apr 1 is
    # 59 days after Feb 2); overlap Feb 1 .. Mar 10 = 39 days >= 30 -> combination
    got = eras_steps(*rows, era_gap_days=60)
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-01"),
        ("a", 2, "narcotic+injection", "2024-02-01", "2024-03-11"),
        ("a", 3, "injection", "2024-03-11", "2024-04-02"),
    ]
    # era gap 60 but only the narcotic and the Feb 1 injection: nested 1 day < 30
    got = eras_steps(*rows[:3], era_gap_days=60)
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-01"),
        ("a", 2, "injection", "2024-02-01", "2024-02-02"),
        ("a", 3, "narcotic", "2024-02-02", "2024-03-11"),
    ]
    with pytest.raises(ValueError):
        eras_steps(*rows, era_gap_days=-1)


# ----------------------------------------------------------------------------- empty


def test_empty_events_give_empty_frames():
    ev = schema.empty_events()
    eras = technique_eras(ev)
    assert list(eras.columns) == ["patient_id", "technique", "start", "end", "duration_days",
                                  "events"] and len(eras) == 0
    for mode in ("first", "eras"):
        st = pathway_steps(ev, mode=mode)
        assert list(st.columns) == ["patient_id", "step", "label", "start", "end"]
        assert len(st) == 0
    st = pathway_steps(ev)
    assert len(patient_pathways(st)) == 0
    counts = pathway_counts(st, [])
    assert list(counts.columns) == ["pathway", "steps", "n_steps", "patients", "percent"]
    assert len(counts) == 0
    assert len(lines_of_therapy(st, [])) == 0
    assert list(time_between_steps(st).columns) == ["from_step", "to_step", "transitions",
                                                    "median_days", "q1_days", "q3_days"]
    assert list(pathway_transitions(st).columns) == ["step", "source", "target", "patients"]
    assert list(sunburst_table(counts).columns) == ["id", "parent", "label", "depth",
                                                    "patients"]
    conc = step_therapy_concordance(ev)
    assert len(conc) == 0 and "concordant" in conc.columns
    assert len(concordance_by(conc, pd.Series(dtype="string"))) == 0


# ----------------------------------------------------------------------------- summaries


def hand_steps() -> pd.DataFrame:
    rows = [
        ("p1", 1, "physical_therapy", "2024-01-01"), ("p1", 2, "narcotic", "2024-01-11"),
        ("p2", 1, "physical_therapy", "2024-01-01"), ("p2", 2, "narcotic", "2024-01-21"),
        ("p2", 3, "injection", "2024-03-01"),
        ("p3", 1, "physical_therapy", "2024-02-01"), ("p3", 2, "narcotic", "2024-03-02"),
        ("p4", 1, "narcotic", "2024-01-01"),
    ]
    return pd.DataFrame({
        "patient_id": pd.Series([r[0] for r in rows], dtype="string"),
        "step": [r[1] for r in rows],
        "label": pd.Series([r[2] for r in rows], dtype="string"),
        "start": pd.to_datetime([r[3] for r in rows]).astype("datetime64[s]"),
        "end": pd.to_datetime([r[3] for r in rows]).astype("datetime64[s]"),
    })


COHORT = ["p1", "p2", "p3", "p4", "p5"]


def test_patient_pathways_with_untreated():
    out = patient_pathways(hand_steps(), COHORT)
    assert out.values.tolist() == [
        ["p1", "physical_therapy > narcotic", 2],
        ["p2", "physical_therapy > narcotic > injection", 3],
        ["p3", "physical_therapy > narcotic", 2],
        ["p4", "narcotic", 1],
        ["p5", "", 0],
    ]
    # outside the cohort dropped
    assert patient_pathways(hand_steps(), ["p4"])["patient_id"].tolist() == ["p4"]


def test_pathway_counts_sorted_with_no_treatment_row():
    out = pathway_counts(hand_steps(), COHORT)
    assert out[["pathway", "n_steps", "patients", "percent"]].values.tolist() == [
        ["physical_therapy > narcotic", 2, 2, 40.0],
        ["narcotic", 1, 1, 20.0],
        ["no treatment", 0, 1, 20.0],
        ["physical_therapy > narcotic > injection", 3, 1, 20.0],
    ]
    assert out["steps"].tolist()[2] == ()
    assert out["steps"].tolist()[0] == ("physical_therapy", "narcotic")


def test_lines_of_therapy():
    out = lines_of_therapy(hand_steps(), COHORT)
    assert out.values.tolist() == [
        [1, "physical_therapy", 3, 60.0, 75.0],
        [1, "narcotic", 1, 20.0, 25.0],
        [2, "narcotic", 3, 60.0, 75.0],
        [3, "injection", 1, 20.0, 25.0],
    ]


def test_time_between_steps():
    out = time_between_steps(hand_steps())
    # step 1 -> 2: 10, 20, 30 days; step 2 -> 3: Jan 21 -> Mar 1 = 40 days
    assert out.values.tolist() == [[1, 2, 3, 20.0, 15.0, 25.0], [2, 3, 1, 40.0, 40.0, 40.0]]


def test_pathway_transitions_with_end():
    out = pathway_transitions(hand_steps())
    assert out.values.tolist() == [
        [1, "physical_therapy", "narcotic", 3],
        [1, "narcotic", "end", 1],
        [2, "narcotic", "end", 2],
        [2, "narcotic", "injection", 1],
        [3, "injection", "end", 1],
    ]
    assert len(pathway_transitions(hand_steps(), include_end=False)) == 2


def test_sunburst_table():
    out = sunburst_table(pathway_counts(hand_steps(), COHORT), max_depth=2)
    assert out.values.tolist() == [
        ["physical_therapy", "", "physical_therapy", 1, 3],
        ["narcotic", "", "narcotic", 1, 1],
        ["no treatment", "", "no treatment", 1, 1],
        ["physical_therapy > narcotic", "physical_therapy", "narcotic", 2, 3],
    ]


# ----------------------------------------------------------------------------- concordance


def test_step_therapy_concordance_cases():
    ev = events(
        ("same_day", "2024-01-05", "physical_therapy"), ("same_day", "2024-01-05", "narcotic"),
        ("narc_before", "2024-01-04", "narcotic"), ("narc_before", "2024-01-05",
                                                   "physical_therapy"),
        ("neither", "2024-01-01", "muscle_relaxant"),
        ("inj_only", "2024-01-01", "injection"),
        ("pt_first", "2024-01-01", "physical_therapy"), ("pt_first", "2024-02-01", "injection"),
        ("pt_first", "2023-12-01", "surgery"),
    )
    out = step_therapy_concordance(ev)
    assert dict(zip(out["patient_id"], out["concordant"], strict=True)) == {
        "inj_only": False, "narc_before": False, "neither": True, "pt_first": True,
        "same_day": True,
    }
    row = out[out["patient_id"] == "pt_first"].iloc[0]
    assert row["first_physical_therapy"] == D("2024-01-01")
    assert row["first_injection"] == D("2024-02-01")
    assert pd.isna(row["first_narcotic"])


def test_concordance_by_group():
    conc = pd.DataFrame({
        "patient_id": pd.Series(["a", "b", "c", "d"], dtype="string"),
        "concordant": [True, False, True, True],
    })
    groups = pd.Series(["dr1", "dr1", "dr2"], index=["a", "b", "c"])
    out = concordance_by(conc, groups)
    assert out.values.tolist() == [
        ["dr1", 2, 1, 50.0], ["dr2", 1, 1, 100.0], ["unknown", 1, 1, 100.0]]
