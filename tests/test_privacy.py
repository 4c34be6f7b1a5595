import numpy as np
import pandas as pd

from analytics.privacy import (
    DEFAULT_MIN_CELL,
    merge_rare_pathways,
    suppress_count,
    suppress_table,
)


def test_suppress_count_edges():
    assert DEFAULT_MIN_CELL == 11
    assert suppress_count(0) == 0
    assert suppress_count(1) == "<11"
    assert suppress_count(10) == "<11"
    assert suppress_count(11) == 11
    assert suppress_count(np.int64(250)) == 250 and type(suppress_count(np.int64(250))) is int
    assert suppress_count(4, min_cell=5) == "<5"
    assert suppress_count(5, min_cell=5) == 5
    assert suppress_count(3, min_cell=0) == 3
    assert suppress_count(3, min_cell=1) == 3


def table() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["a", "b", "c", "d"],
        "patients": [0, 10, 11, 40],
        "events": [0, 30, 5, 50],
        "percent": [0.0, 16.0, 17.0, 67.0],
    })


def test_suppress_table_counts_and_percents():
    out = suppress_table(table(), ["patients", "events"], percent_columns=["percent"])
    assert out["patients"].tolist() == [0, "<11", 11, 40]
    assert out["events"].tolist() == [0, 30, "<11", 50]
    # rows b (patients 10) and c (events 5) lose their percent
    assert out["percent"].isna().tolist() == [False, True, True, False]
    assert out["percent"].tolist()[3] == 67.0
    assert out["patients"].dtype == object
    # the input is not modified
    assert table()["patients"].tolist() == [0, 10, 11, 40]


def test_suppress_table_off_and_nothing_small():
    out = suppress_table(table(), ["patients", "events"], min_cell=0, percent_columns=["percent"])
    pd.testing.assert_frame_equal(out, table())
    big = table().assign(patients=[0, 11, 12, 13], events=[20, 30, 40, 50])
    pd.testing.assert_frame_equal(suppress_table(big, ["patients", "events"]), big)


def test_suppress_table_empty():
    empty = table().iloc[:0]
    assert len(suppress_table(empty, ["patients"])) == 0


def counts() -> pd.DataFrame:
    rows = [
        ("pt > narcotic", ("pt", "narcotic"), 2, 50, 50.0),
        ("narcotic", ("narcotic",), 1, 20, 20.0),
        ("no treatment", (), 0, 5, 5.0),
        ("pt", ("pt",), 1, 10, 10.0),
        ("injection", ("injection",), 1, 8, 8.0),
        ("surgery", ("surgery",), 1, 7, 7.0),
    ]
    out = pd.DataFrame(rows, columns=["pathway", "steps", "n_steps", "patients", "percent"])
    return out.astype({"pathway": "string"})


def test_merge_rare_pathways_sums_and_keeps_no_treatment():
    out = merge_rare_pathways(counts())
    assert out["pathway"].tolist() == ["pt > narcotic", "narcotic", "no treatment",
                                       "other pathways"]
    # 10 + 8 + 7 = 25 patients, 25 percent
    assert out["patients"].tolist() == [50, 20, 5, 25]
    assert out["percent"].tolist() == [50.0, 20.0, 5.0, 25.0]
    assert out["steps"].tolist()[3] == ("other pathways",)
    assert out["steps"].tolist()[2] == ()
    assert pd.isna(out["n_steps"].iloc[3]) and out["n_steps"].iloc[0] == 2


def test_merge_rare_pathways_off_or_nothing_rare():
    pd.testing.assert_frame_equal(merge_rare_pathways(counts(), min_cell=0), counts())
    pd.testing.assert_frame_equal(merge_rare_pathways(counts(), min_cell=5), counts())
    # min_cell 8: only surgery (7) is rare
    out = merge_rare_pathways(counts(), min_cell=8)
    assert out["pathway"].tolist()[-1] == "other pathways"
    assert out["patients"].tolist()[-1] == 7
    assert len(out) == 6


def test_suppress_table_blanks_only_the_figures_derived_from_a_suppressed_count():
    table = pd.DataFrame({
        "physician": ["DR01", "DR02"],
        "patients": [40, 30],
        "narcotic_patients": [20, 4],
        "pct_narcotic": [50.0, 13.3],
        "long_term": [3, 12],
        "pct_long_term": [15.0, 40.0],
        "median_days": [21.0, 35.0],
    })
    out = suppress_table(
        table, ["patients", "narcotic_patients", "long_term"], min_cell=11,
        percent_columns={"pct_narcotic": "narcotic_patients", "pct_long_term": "long_term",
                         "median_days": ["patients", "long_term"]})
    assert out["narcotic_patients"].tolist() == [20, "<11"]
    assert out["long_term"].tolist() == ["<11", 12]
    # DR01: only the long-term share (and the median tied to it) is blanked.
    assert out.loc[0, "pct_narcotic"] == 50.0
    assert pd.isna(out.loc[0, "pct_long_term"]) and pd.isna(out.loc[0, "median_days"])
    # DR02: only the narcotic share is blanked.
    assert pd.isna(out.loc[1, "pct_narcotic"])
    assert out.loc[1, "pct_long_term"] == 40.0 and out.loc[1, "median_days"] == 35.0
    assert out["patients"].tolist() == [40, 30]
