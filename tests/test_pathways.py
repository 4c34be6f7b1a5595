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


def test_era_gap_on_last_covered_day_exactly_window_joins_and_one_more_splits():
    # Jan 1 + 10 days covers [Jan 1, Jan 11): last covered day Jan 10.  Feb 9 - Jan 10 = 30
    # (29 uncovered days) joins; Feb 10 - Jan 10 = 31 splits.
    joined = technique_eras(events(("a", "2024-01-01", "narcotic", 10),
                                   ("a", "2024-02-09", "narcotic", 5)))
    assert joined[["start", "end", "duration_days", "events"]].values.tolist() == [
        [D("2024-01-01"), D("2024-02-14"), 44, 2]]
    split = technique_eras(events(("a", "2024-01-01", "narcotic", 10),
                                  ("a", "2024-02-10", "narcotic", 5)))
    assert split[["start", "end", "events"]].values.tolist() == [
        [D("2024-01-01"), D("2024-01-11"), 1], [D("2024-02-10"), D("2024-02-15"), 1]]


def test_eras_min_era_days_drops_short_events():
    # 3-day supply: last day - start = 2; min_era_days 3 drops it, 2 keeps it
    ev = events(("a", "2024-01-01", "narcotic", 3), ("a", "2024-01-01", "injection"))
    assert technique_eras(ev, min_era_days=2)["technique"].tolist() == ["narcotic"]
    assert technique_eras(ev, min_era_days=3)["technique"].tolist() == []
    assert len(technique_eras(ev)) == 2


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
#
# TreatmentPatterns' day arithmetic: an era [start, last] with last = end_date (inclusive) =
# end - 1; duration = last - start; overlap of p with a later r = p.last - r.start.
# Expected steps are written (label, start, end exclusive = last day + 1).

NARC_JAN_FEB = ("a", "2024-01-01", "narcotic", 60)   # [Jan 1, Mar 1): last day Feb 29


def eras_steps(*rows, **kw):
    return steps_list(pathway_steps(events(*rows), mode="eras", **kw))


def eras_labels(*rows, **kw):
    return [s[2] for s in eras_steps(*rows, **kw)]


def test_eras_partial_overlap_at_least_window_is_frfs():
    # relaxant Jan 15 .. Mar 31: overlap Feb 29 - Jan 15 = 45 >= 30; narcotic ends first
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-01-15", "muscle_relaxant", None, "2024-03-31"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-16"),
        ("a", 2, "muscle_relaxant+narcotic", "2024-01-15", "2024-03-01"),
        ("a", 3, "muscle_relaxant", "2024-02-29", "2024-04-01"),
    ]


def test_eras_overlap_exactly_window_combines_one_less_switches():
    # relaxant from Jan 30: overlap Feb 29 - Jan 30 = 30 (2024 is a leap year) -> combination
    got = eras_labels(NARC_JAN_FEB, ("a", "2024-01-30", "muscle_relaxant", None, "2024-03-31"))
    assert got == ["narcotic", "muscle_relaxant+narcotic", "muscle_relaxant"]
    # from Jan 31: overlap 29 -> switch
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-01-31", "muscle_relaxant", None, "2024-03-31"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-01"),
        ("a", 2, "muscle_relaxant", "2024-01-31", "2024-04-01"),
    ]
    # the window is a parameter: window 29 makes the Jan 31 case a combination
    got = eras_labels(NARC_JAN_FEB, ("a", "2024-01-31", "muscle_relaxant", None, "2024-03-31"),
                      combination_window_days=29)
    assert got == ["narcotic", "muscle_relaxant+narcotic", "muscle_relaxant"]


def test_eras_partial_overlap_below_window_is_switch_truncating_earlier():
    # relaxant from Feb 10: overlap Feb 29 - Feb 10 = 19 < 30; the narcotic ends on Feb 10
    got = eras_steps(NARC_JAN_FEB, ("a", "2024-02-10", "muscle_relaxant", None, "2024-03-31"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-11"),
        ("a", 2, "muscle_relaxant", "2024-02-10", "2024-04-01"),
    ]


NARC_120 = ("a", "2024-01-01", "narcotic", 120)      # [Jan 1, Apr 30): last day Apr 29


def test_eras_nested_with_overlap_at_least_window_is_lrfs():
    # PT Feb 1 .. Mar 1 inside: overlap = Apr 29 - Feb 1 = 88 >= 30, narcotic ends last
    got = eras_steps(NARC_120, ("a", "2024-02-01", "physical_therapy", None, "2024-03-01"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-02"),
        ("a", 2, "physical_therapy+narcotic", "2024-02-01", "2024-03-02"),
        ("a", 3, "narcotic", "2024-03-01", "2024-04-30"),
    ]
    # a single PT visit 30 days before the narcotic's last day: overlap 30 -> combination
    got = eras_labels(NARC_120, ("a", "2024-03-30", "physical_therapy"))
    assert got == ["narcotic", "physical_therapy+narcotic", "narcotic"]


def test_eras_nested_with_overlap_below_window_is_switch_and_cuts_the_rest():
    # PT Apr 10 .. Apr 20: overlap Apr 29 - Apr 10 = 19 < 30 -> switch: the narcotic ends on
    # Apr 10 and does not resume after the PT era (TreatmentPatterns' truncate)
    got = eras_steps(NARC_120, ("a", "2024-04-10", "physical_therapy", None, "2024-04-20"))
    assert got == [
        ("a", 1, "narcotic", "2024-01-01", "2024-04-11"),
        ("a", 2, "physical_therapy", "2024-04-10", "2024-04-21"),
    ]
    # a single PT visit 29 days before the narcotic's last day: overlap 29 -> switch
    got = eras_labels(NARC_120, ("a", "2024-03-31", "physical_therapy"))
    assert got == ["narcotic", "physical_therapy"]


def test_eras_overlap_equal_to_a_duration_is_a_combination_even_below_window():
    # Shared last day: PT Apr 10 .. Apr 29, overlap 19 = PT's duration -> LRFS, not a switch.
    # The narcotic's rest runs from Apr 29 to Apr 29 (duration 0); min_post 0 keeps it.
    rows = (NARC_120, ("a", "2024-04-10", "physical_therapy", None, "2024-04-29"))
    assert eras_steps(*rows) == [
        ("a", 1, "narcotic", "2024-01-01", "2024-04-11"),
        ("a", 2, "physical_therapy+narcotic", "2024-04-10", "2024-04-30"),
        ("a", 3, "narcotic", "2024-04-29", "2024-04-30"),
    ]
    got = pathway_steps(events(*rows), mode="eras", min_post_combination_days=1)
    assert got["label"].tolist() == ["narcotic", "physical_therapy+narcotic"]
    assert got.attrs["dropped_pieces"] == 1
    # Shared start: PT Jan 1 .. Jan 10 sorts first (earlier last day); overlap Jan 10 - Jan 1
    # = 9 = PT's duration -> FRFS: PT Jan 1 .. Jan 1 (duration 0), PT+narcotic, narcotic.
    rows = (NARC_120, ("a", "2024-01-01", "physical_therapy", None, "2024-01-10"))
    assert eras_steps(*rows) == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-02"),
        ("a", 2, "physical_therapy+narcotic", "2024-01-01", "2024-01-11"),
        ("a", 3, "narcotic", "2024-01-10", "2024-04-30"),
    ]
    assert eras_labels(*rows, min_post_combination_days=1) == [
        "physical_therapy+narcotic", "narcotic"]


def test_eras_same_day_same_supply_keeps_zero_day_pieces_with_min_post_zero():
    # relaxant and narcotic both Jan 1 .. Jan 30: relaxant sorts first (p), overlap 29 equals
    # both durations -> LRFS: relaxant Jan 1 .. Jan 1, both Jan 1 .. Jan 30, relaxant Jan 30 ..
    # Jan 30.  The 0-day pieces stay with min_post 0 (TreatmentPatterns with
    # minPostCombinationDuration 0 does the same); min_post 1 drops them.
    rows = (("a", "2024-01-01", "narcotic", 30), ("a", "2024-01-01", "muscle_relaxant", 30))
    assert eras_steps(*rows) == [
        ("a", 1, "muscle_relaxant", "2024-01-01", "2024-01-02"),
        ("a", 2, "muscle_relaxant+narcotic", "2024-01-01", "2024-01-31"),
        ("a", 3, "muscle_relaxant", "2024-01-30", "2024-01-31"),
    ]
    got = pathway_steps(events(*rows), mode="eras", min_post_combination_days=1)
    assert steps_list(got) == [("a", 1, "muscle_relaxant+narcotic", "2024-01-01", "2024-01-31")]
    assert got.attrs["dropped_pieces"] == 2


def test_eras_same_day_single_day_events_do_not_overlap():
    # [Jan 1, Jan 1] and [Jan 1, Jan 1]: overlap Jan 1 - Jan 1 = 0 -> two steps, canonical order
    got = eras_steps(("a", "2024-01-01", "injection"), ("a", "2024-01-01", "physical_therapy"))
    assert got == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-02"),
        ("a", 2, "injection", "2024-01-01", "2024-01-02"),
    ]
    # an injection on a narcotic era's first day sorts first (earlier last day), overlap 0
    assert eras_labels(NARC_JAN_FEB, ("a", "2024-01-01", "injection")) == [
        "injection", "narcotic"]


def test_eras_next_piece_with_the_same_dates_makes_lrfs_too():
    # TreatmentPatterns flags r LRFS as well as FRFS when the next piece has r's very dates:
    # PT Jan 1 .. Feb 1, relaxant and narcotic both Jan 10 .. Mar 1 (window 5).  Pass 1 (p =
    # PT, r = relaxant): PT Jan 1 .. Jan 10, PT+relaxant Jan 10 .. Feb 1, and r, now Feb 1 ..
    # Mar 1, is relabelled PT+relaxant; the LRFS rest of PT (Mar 1 .. Jan 10) is negative and
    # dropped.  The narcotic then combines with both pieces.
    rows = (("a", "2024-01-01", "physical_therapy", None, "2024-02-01"),
            ("a", "2024-01-10", "muscle_relaxant", None, "2024-03-01"),
            ("a", "2024-01-10", "narcotic", None, "2024-03-01"))
    got = pathway_steps(events(*rows), mode="eras", combination_window_days=5,
                        min_post_combination_days=1, pathway_filter="all")
    assert steps_list(got) == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-11"),
        ("a", 2, "physical_therapy+muscle_relaxant+narcotic", "2024-01-10", "2024-02-02"),
        ("a", 3, "physical_therapy+muscle_relaxant+narcotic", "2024-02-01", "2024-03-02"),
    ]
    # dropped: the negative rest (pass 1), then three pieces of duration 0 (passes 2 and 3)
    assert got.attrs["dropped_pieces"] == 4


def test_eras_gap_on_last_covered_day_30_joins_31_splits():
    # narcotic Jan 1 + 10 days: last covered day Jan 10.  Feb 9 - Jan 10 = 30 -> one era
    # (29 uncovered days, Jan 11 .. Feb 8); Feb 10 - Jan 10 = 31 -> two eras
    one = (("a", "2024-01-01", "narcotic", 10), ("a", "2024-02-09", "narcotic", 5))
    two = (("a", "2024-01-01", "narcotic", 10), ("a", "2024-02-10", "narcotic", 5))
    assert eras_steps(*one, pathway_filter="all") == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-14")]
    assert eras_steps(*two, pathway_filter="all") == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-11"),
        ("a", 2, "narcotic", "2024-02-10", "2024-02-15"),
    ]
    # era gap 0: an event starting on the last covered day joins, the next day does not
    assert len(eras_steps(("a", "2024-01-01", "narcotic", 10), ("a", "2024-01-10", "narcotic", 5),
                          era_gap_days=0, pathway_filter="all")) == 1
    assert len(eras_steps(("a", "2024-01-01", "narcotic", 10), ("a", "2024-01-11", "narcotic", 5),
                          era_gap_days=0, pathway_filter="all")) == 2


def test_eras_min_era_days_drops_short_events_before_collapse():
    # PT Jan 1 .. Jan 20, a 1-day-long PT event Feb 15 .. Feb 16, PT Mar 10 .. Apr 10.
    # Kept, the short event bridges the gaps (26 and 23 days): one era.  With min_era_days 2
    # it goes first (duration Feb 16 - Feb 15 = 1 < 2): gap Mar 10 - Jan 20 = 50 -> two eras.
    rows = (("a", "2024-01-01", "physical_therapy", None, "2024-01-20"),
            ("a", "2024-02-15", "physical_therapy", None, "2024-02-16"),
            ("a", "2024-03-10", "physical_therapy", None, "2024-04-10"))
    assert eras_steps(*rows, pathway_filter="all", min_era_days=1) == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-04-11")]
    assert eras_steps(*rows, pathway_filter="all", min_era_days=2) == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-21"),
        ("a", 2, "physical_therapy", "2024-03-10", "2024-04-11"),
    ]
    # a single-day event lasts 0 days: any min_era_days >= 1 drops it
    assert eras_labels(("a", "2024-01-01", "injection"), min_era_days=1) == []
    assert eras_labels(("a", "2024-01-01", "injection"), min_era_days=0) == ["injection"]


def test_eras_min_post_combination_drops_counted_and_patient_local():
    # a: PT Jan 1 .. Feb 1, relaxant Jan 15 .. Feb 15 (overlap 17 >= window 5, FRFS):
    # PT Jan 1 .. Jan 15 (14), PT+relaxant Jan 15 .. Feb 1 (17), relaxant Feb 1 .. Feb 15 (14),
    # plus a 0-day injection Mar 1.  min_post 15 drops the 14-day pieces and the injection.
    # b: one 0-day injection and no overlap: never filtered.
    rows = (("a", "2024-01-01", "physical_therapy", None, "2024-02-01"),
            ("a", "2024-01-15", "muscle_relaxant", None, "2024-02-15"),
            ("a", "2024-03-01", "injection"),
            ("b", "2024-03-01", "injection"))
    kw = {"combination_window_days": 5, "pathway_filter": "all"}
    got = pathway_steps(events(*rows), mode="eras", min_post_combination_days=15, **kw)
    assert steps_list(got) == [
        ("a", 1, "physical_therapy+muscle_relaxant", "2024-01-15", "2024-02-02"),
        ("b", 1, "injection", "2024-03-01", "2024-03-02"),
    ]
    assert got.attrs["dropped_pieces"] == 3
    # 14 days is the boundary: min_post 14 keeps every piece
    got = pathway_steps(events(*rows), mode="eras", min_post_combination_days=14, **kw)
    assert [s[2] for s in steps_list(got) if s[0] == "a"] == [
        "physical_therapy", "physical_therapy+muscle_relaxant", "muscle_relaxant"]
    assert got.attrs["dropped_pieces"] == 1   # the 0-day injection of a
    # the default 0 drops nothing
    assert pathway_steps(events(*rows), mode="eras", **kw).attrs["dropped_pieces"] == 0


def test_eras_later_overlap_meets_short_pieces_already_dropped():
    # TreatmentPatterns resolves one overlap per patient per pass and drops short pieces after
    # each pass, so an overlap later in time meets the patient's short pieces already gone.
    # a: PT Jan 1 .. Jan 20 + relaxant Jan 10 .. Jan 31 (overlap 10 >= 5, resolved first),
    #    narcotic Mar 1 .. Mar 31 with an injection Mar 10 .. Mar 12 (2 days < min_post 5):
    #    the injection is dropped after pass 1, before it could combine with the narcotic.
    # b: only the March rows: the injection combines first (overlap 21, LRFS) and it is the
    #    2-day narcotic+injection piece that is dropped, leaving the narcotic in two pieces.
    march = [("narcotic", "2024-03-01", "2024-03-31"), ("injection", "2024-03-10", "2024-03-12")]
    rows = [("a", "2024-01-01", "physical_therapy", None, "2024-01-20"),
            ("a", "2024-01-10", "muscle_relaxant", None, "2024-01-31")]
    rows += [(pid, start, tech, None, end) for pid in ("a", "b") for tech, start, end in march]
    got = pathway_steps(events(*rows), mode="eras", combination_window_days=5,
                        min_post_combination_days=5, pathway_filter="all")
    assert steps_list(got) == [
        ("a", 1, "physical_therapy", "2024-01-01", "2024-01-11"),
        ("a", 2, "physical_therapy+muscle_relaxant", "2024-01-10", "2024-01-21"),
        ("a", 3, "muscle_relaxant", "2024-01-20", "2024-02-01"),
        ("a", 4, "narcotic", "2024-03-01", "2024-04-01"),
        ("b", 1, "narcotic", "2024-03-01", "2024-03-11"),
        ("b", 2, "narcotic", "2024-03-12", "2024-04-01"),
    ]
    assert got.attrs["dropped_pieces"] == 2


FILTER_ROWS = (("a", "2024-01-01", "narcotic", 10),      # narcotic Jan 1 .. Jan 10
               ("a", "2024-03-01", "injection"),         # injection Mar 1
               ("a", "2024-05-01", "narcotic", 10),      # narcotic May 1 .. May 10
               ("a", "2024-07-01", "narcotic", 10))      # narcotic Jul 1 .. Jul 10 (gap 52)


def test_eras_pathway_filters_all_first_changes():
    assert eras_steps(*FILTER_ROWS, pathway_filter="all") == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-11"),
        ("a", 2, "injection", "2024-03-01", "2024-03-02"),
        ("a", 3, "narcotic", "2024-05-01", "2024-05-11"),
        ("a", 4, "narcotic", "2024-07-01", "2024-07-11"),
    ]
    assert eras_steps(*FILTER_ROWS, pathway_filter="first") == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-11"),
        ("a", 2, "injection", "2024-03-01", "2024-03-02"),
    ]
    # changes (the default): repeated narcotic eras in a row are one step to the later end
    assert eras_steps(*FILTER_ROWS) == [
        ("a", 1, "narcotic", "2024-01-01", "2024-01-11"),
        ("a", 2, "injection", "2024-03-01", "2024-03-02"),
        ("a", 3, "narcotic", "2024-05-01", "2024-07-11"),
    ]


def test_eras_max_steps_default_five_and_applied_after_filter():
    rows = tuple(("a", f"2024-{m:02d}-01", "narcotic" if m % 2 else "injection", 10)
                 for m in range(1, 8))               # 7 alternating eras, 1 month apart
    assert len(eras_steps(*rows)) == 5
    assert len(eras_steps(*rows, max_steps=7)) == 7
    assert eras_labels(*rows, max_steps=3) == ["narcotic", "injection", "narcotic"]
    # first: only two distinct labels, so max_steps 5 leaves two
    assert len(eras_steps(*rows, pathway_filter="first")) == 2
    assert len(steps_list(pathway_steps(events(*rows)))) == 2      # mode first


def test_eras_gap_parameter_changes_eras_and_combinations():
    rows = (("a", "2024-01-01", "narcotic", 10), ("a", "2024-02-01", "injection"),
            ("a", "2024-03-01", "narcotic", 10), ("a", "2024-04-01", "injection"))
    assert eras_labels(*rows) == ["narcotic", "injection", "narcotic", "injection"]
    # era gap 60: narcotic era Jan 1 .. Mar 10 (Mar 1 - Jan 10 = 51), injection era Feb 1 ..
    # Apr 1 (Apr 1 - Feb 1 = 60); overlap Mar 10 - Feb 1 = 38 >= 30, narcotic ends first
    assert eras_steps(*rows, era_gap_days=60) == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-02"),
        ("a", 2, "narcotic+injection", "2024-02-01", "2024-03-11"),
        ("a", 3, "injection", "2024-03-10", "2024-04-02"),
    ]
    # only the Feb 1 injection inside: overlap 38 >= 30, LRFS
    assert eras_steps(*rows[:3], era_gap_days=60) == [
        ("a", 1, "narcotic", "2024-01-01", "2024-02-02"),
        ("a", 2, "narcotic+injection", "2024-02-01", "2024-02-02"),
        ("a", 3, "narcotic", "2024-02-01", "2024-03-11"),
    ]


def test_eras_bad_parameters_raise():
    rows = (NARC_JAN_FEB,)
    for kw in ({"era_gap_days": -1}, {"min_era_days": -1}, {"combination_window_days": -1},
               {"min_post_combination_days": -1}, {"pathway_filter": "last"}, {"max_steps": 0}):
        with pytest.raises(ValueError):
            eras_steps(*rows, **kw)
    with pytest.raises(ValueError):
        technique_eras(events(*rows), era_gap_days=-1)


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
