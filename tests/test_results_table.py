"""Result tables and their layout: kinds, marks, derived figures, texts, display."""

import numpy as np
import pandas as pd
import pytest

from analytics.results.layout import Layout
from analytics.results.privacy import Mark
from analytics.results.table import (
    Kind,
    count,
    derived,
    label,
    natural_key,
    natural_order,
    natural_sorted,
    patients,
    plural,
    tables_of,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "label": ["a", "b", "c", "d"],
        "patients": [0, 10, 11, 40],
        "events": [0, 30, 5, 50],
        "percent": [0.0, 16.0, 17.0, 67.0],
    })


COLUMNS = (label("label", "Label"), patients("patients", "Patients"),
           count("events", "Events"),
           derived("percent", "Percent", ["patients", "events"]))


def protect(data: pd.DataFrame, min_cell: int = 11):
    layout = Layout(min_cell)
    layout.add("t", "T", COLUMNS, data)
    return layout.protect()["t"]


def test_counts_of_every_kind_are_suppressed_and_derived_figures_follow():
    table = protect(frame())
    shown = table.display(titles=False)
    assert shown["patients"].tolist() == [0, "<11", 11, 40]
    assert shown["events"].tolist() == [0, 30, "<11", 50]  # events are counts too
    # rows b (patients 10) and c (events 5) lose their percent
    assert shown["percent"].tolist() == [0.0, "hidden", "hidden", 67.0]
    assert shown["patients"].dtype == object
    assert table.hidden("percent").tolist() == [False, True, True, False]
    # the input is not modified, and the true values stay in the table
    assert frame()["patients"].tolist() == [0, 10, 11, 40]
    assert table.values["patients"].tolist() == [0, 10, 11, 40]
    assert list(table.display().columns) == ["Label", "Patients", "Events", "Percent"]


def test_off_and_nothing_small_keep_the_numbers():
    off = protect(frame(), min_cell=0).display(titles=False)
    pd.testing.assert_frame_equal(off, frame())
    big = frame().assign(patients=[0, 11, 12, 13], events=[20, 30, 40, 50])
    pd.testing.assert_frame_equal(protect(big).display(titles=False), big)


def test_empty_table():
    table = protect(frame().iloc[:0])
    assert table.empty and len(table.display()) == 0


def test_a_derived_figure_is_hidden_only_with_its_own_counts():
    data = pd.DataFrame({
        "physician": ["DR01", "DR02"],
        "patients": [40, 30],
        "narcotic_patients": [20, 4],
        "pct_narcotic": [50.0, 13.3],
        "long_term": [3, 12],
        "pct_long_term": [15.0, 40.0],
        "median_days": [21.0, 35.0],
    })
    layout = Layout(11)
    layout.add("t", "T", (
        label("physician", "Physician"), patients("patients", "Patients"),
        patients("narcotic_patients", "On narcotics"),
        derived("pct_narcotic", "%", ["narcotic_patients"]),
        count("long_term", "Long-term"), derived("pct_long_term", "%", ["long_term"]),
        derived("median_days", "Median", ["patients", "long_term"])), data)
    table = layout.protect()["t"]
    shown = table.display(titles=False)
    assert shown["narcotic_patients"].tolist() == [20, "<11"]
    assert shown["long_term"].tolist() == ["<11", 12]
    # DR01: only the long-term share (and the median tied to it) is hidden.
    assert shown.loc[0, "pct_narcotic"] == 50.0
    assert shown.loc[0, "pct_long_term"] == "hidden" and shown.loc[0, "median_days"] == "hidden"
    # DR02: only the narcotic share is hidden.
    assert shown.loc[1, "pct_narcotic"] == "hidden"
    assert shown.loc[1, "pct_long_term"] == 40.0 and shown.loc[1, "median_days"] == 35.0
    assert shown["patients"].tolist() == [40, 30]


def test_texts_cell_and_numbers_read_the_marks():
    layout = Layout(11)
    layout.add("t", "T", (label("k", "K"), patients("n", "N"),
                          derived("share", "Share", ["n"], unit="%"),
                          derived("change", "Change", digits=0, signed=True)),
               pd.DataFrame({"k": ["a", "b", "c"], "n": [1234, 3, 0],
                             "share": [61.25, 0.1, np.nan], "change": [5.0, -2.0, np.nan]}))
    table = layout.protect()["t"]
    assert table.texts("n") == ["1,234", "<11", "0"]
    assert table.texts("share") == ["61.2%", "hidden", "–"]  # NaN: not defined
    assert table.texts("change") == ["+5", "-2", "–"]
    assert [table.cell(r, "n") for r in range(3)] == [1234, "<11", 0]
    assert table.cell(0, "share") == 61.25 and table.cell(2, "share") is None
    assert table.cell(0, "k") == "a"
    assert np.isnan(table.numbers("n")[1]) and table.numbers("n", hidden_as=0)[1] == 0
    assert table.hidden_cells().values.tolist() == [[False, False, False, False],
                                                   [False, True, True, False],
                                                   [False, False, False, False]]


def test_relations_across_tables_and_depends():
    layout = Layout(11)
    layout.add("total", "Total", (patients("patients", "Patients"),),
               pd.DataFrame({"patients": [13]}))
    layout.add("parts", "Parts", (label("k", "K"), patients("patients", "Patients"),
                                  derived("percent", "%", ["patients", "total.patients"])),
               pd.DataFrame({"k": ["x", "other"], "patients": [12, 1],
                             "percent": [92.3, 7.7]}))
    layout.add("change", "Change", (derived("d", "D"),), pd.DataFrame({"d": [1.0]}))
    layout.column_total("parts", "patients", layout.cell("total", 0, "patients"))
    layout.depends(("change", 0, "d"), [("parts", 0, "percent")])
    tables = layout.protect()
    assert tables["parts"].marks["patients"].tolist() == [Mark.HIDDEN, Mark.SMALL]
    assert tables["parts"].hidden("percent").tolist() == [True, True]
    assert tables["total"].texts("patients") == ["13"]
    assert tables["change"].hidden("d").tolist() == [True]


def test_patient_level_tables_are_not_suppressed():
    layout = Layout(11)
    layout.add("rows", "Rows", (label("patient_id", "Patient"), label("sessions", "Sessions")),
               pd.DataFrame({"patient_id": ["p1"], "sessions": [3]}), patient_level=True)
    table = layout.protect()["rows"]
    assert table.patient_level and table.display(titles=False)["sessions"].tolist() == [3]


def test_layout_refuses_missing_columns_and_duplicate_tables():
    layout = Layout(11)
    layout.add("t", "T", (patients("n", "N"),), pd.DataFrame({"n": [1]}))
    with pytest.raises(ValueError):
        layout.add("t", "T", (patients("n", "N"),), pd.DataFrame({"n": [1]}))
    with pytest.raises(ValueError):
        layout.add("u", "U", (patients("m", "M"),), pd.DataFrame({"n": [1]}))
    with pytest.raises(IndexError):
        layout.cell("t", 3, "n")


def test_tables_of_a_result_object():
    from dataclasses import dataclass

    table = protect(frame())

    @dataclass(frozen=True)
    class Inner:
        curve: object

    @dataclass(frozen=True)
    class Outer:
        name: str
        main: object
        inner: Inner

    found = tables_of(Outer("x", table, Inner(table)))
    assert set(found) == {"main", "inner.curve"}
    assert Kind.PATIENTS.value == "patients"


def test_natural_order_puts_numbers_in_labels_by_value():
    assert natural_sorted(["DR18", "DR2", "DR14"]) == ["DR2", "DR14", "DR18"]
    # text without case, a zero-padded number by value, a missing value last
    assert natural_sorted(["dr3", None, "DR02", "Site B", "site a"]) == [
        "DR02", "dr3", "site a", "Site B", None]
    assert natural_key("DR2") < natural_key("DR10") < natural_key("DR10a")
    frame = pd.DataFrame({"provider_id": ["DR18", "DR2", "DR14", "DR2"],
                          "type": ["b", "c", "a", "a"], "n": [1, 2, 3, 4]})
    ordered = natural_order(frame, ["provider_id", "type"])
    assert ordered["provider_id"].tolist() == ["DR2", "DR2", "DR14", "DR18"]
    assert ordered["n"].tolist() == [4, 2, 3, 1]
    assert ordered.index.tolist() == [0, 1, 2, 3]


def test_one_day_not_one_days():
    assert [plural(n, "day") for n in (0, 1, 2, 1234)] == ["0 days", "1 day", "2 days",
                                                           "1,234 days"]
    assert plural(1, "patient-year") == "1 patient-year"
    assert plural(3, "child", "children") == "3 children"
    layout = Layout(0)
    layout.add("t", "T", (label("k", "K"),
                          derived("median", "Median", digits=0, unit=" days"),
                          derived("change", "Change", digits=0, unit=" days", signed=True),
                          derived("points", "Points", digits=0, unit=" pts", signed=True)),
               pd.DataFrame({"k": ["a", "b", "c"], "median": [1.0, 2.0, 1.4],
                             "change": [1.0, -1.0, 0.0], "points": [1.0, -2.0, -1.0]}))
    table = layout.protect()["t"]
    assert table.texts("median") == ["1 day", "2 days", "1 day"]
    assert table.texts("change") == ["+1 day", "-1 day", "+0 days"]
    assert table.texts("points") == ["+1 pt", "-2 pts", "-1 pt"]
