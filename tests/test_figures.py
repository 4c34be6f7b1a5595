"""Figures draw protected result tables: hidden cells at zero / left out, hover = table text."""

import numpy as np
import pandas as pd

from analytics import figures
from analytics.results.distributions import add_survival, histogram, histogram_columns, survival
from analytics.results.layout import Layout
from analytics.results.pathways import sankey, step_label, sunburst
from analytics.results.table import Kind, count, derived, label, patients
from analytics.survival import kaplan_meier


def protected(frame: pd.DataFrame, columns, min_cell: int = 11, name: str = "t"):
    layout = Layout(min_cell)
    layout.add(name, "T", columns, frame)
    return layout.protect()[name]


def test_bar_chart_draws_hidden_counts_at_zero_with_their_text():
    table = protected(pd.DataFrame({"band": ["<20", "20–49", "≥90"], "patients": [25, 4, 0]}),
                      (label("band", "Band"), patients("patients", "Patients")))
    fig = figures.bar_chart(table, "band", "patients", "t", "x", "y")
    bar = fig.data[0]
    assert list(bar.y) == [25, 0, 0]  # the 4 is not drawn
    assert list(bar.text) == ["25", "<11", "0"]
    assert list(bar.text) == table.texts("patients")
    assert fig.layout.title.text == "t" and fig.layout.xaxis.title.text == "x"


def test_bar_chart_percent_in_hover_only_where_shown():
    table = protected(pd.DataFrame({"k": ["a", "b"], "patients": [20, 3], "pct": [87.0, 13.0]}),
                      (label("k", "K"), patients("patients", "P"),
                       derived("pct", "%", ["patients"], unit="%")))
    fig = figures.bar_chart(table, "k", "patients", "t", "x", "y", percent="pct")
    assert list(fig.data[0].customdata) == ["20 (87.0%)", "<11"]


def test_histogram_bins():
    values = pd.Series([1] * 12 + [8] * 3)
    bins = histogram(values, bin_width=7, count_name="n")
    assert bins["range"].tolist() == ["0–6", "7–13"]
    assert bins["n"].tolist() == [12, 3]
    assert bins[["start", "end"]].values.tolist() == [[0, 6], [7, 13]]
    # values above the cap fall in the last bin, labelled "≥"
    capped = histogram(pd.Series([1, 2, 400]), bin_width=7, max_value=364, count_name="n")
    assert capped["range"].iloc[-1] == "≥364" and capped["n"].sum() == 3
    assert histogram(pd.Series([], dtype=float)).empty


def test_histogram_chart_suppresses_small_bins():
    bins = histogram(pd.Series([1] * 12 + [8] * 3), bin_width=7, count_name="n")
    table = protected(bins, histogram_columns(count("n", "N")))
    fig = figures.histogram_chart(table, "n", "t", "x", "y")
    bar = fig.data[0]
    assert list(bar.y) == [12, 0]
    assert [row[1] for row in bar.customdata] == ["12", "<11"]
    assert [row[0] for row in bar.customdata] == ["0–6", "7–13"]


def test_histogram_marker_line():
    bins = histogram(pd.Series([3, 20]), count_name="n")
    fig = figures.histogram_chart(protected(bins, histogram_columns(count("n", "N")), 0), "n",
                                  "t", "x", "y", marker_at=14)
    assert fig.layout.shapes[0].x0 == 14


def test_histogram_axis_stops_at_the_data_not_the_cap():
    bins = histogram(pd.Series([1, 2, 20]), bin_width=7, max_value=364, count_name="n")
    fig = figures.histogram_chart(protected(bins, histogram_columns(count("n", "N")), 0), "n",
                                  "t", "x", "y")
    # Bins 0–6, 7–13, 14–20: the axis ends at the longest value (20 days), not at 364.
    assert [row[0] for row in fig.data[0].customdata] == ["0–6", "7–13", "14–20"]


def km_result(min_cell: int):
    km = kaplan_meier(pd.Series([1, 2, 2, 3, 5]), pd.Series([True, True, False, True, False]))
    layout = Layout(min_cell)
    add_survival(layout, "km", km, Kind.PATIENTS)
    return survival(layout.protect(), "km")


def test_km_chart_stops_where_few_are_at_risk():
    # at risk: 5 at day 0 and 1, 4 at day 2, 2 at day 3, 1 at day 5; threshold 3
    result = km_result(3)
    assert result.curve.texts("at_risk") == ["5", "5", "4", "<3", "<3"]
    fig = figures.km_chart({"all": result}, "t", "days")
    line = fig.data[2]
    assert list(line.customdata) == ["5", "5", "4"]
    assert line.y[0] == 1.0 and len(line.x) == 3
    # threshold 11: nobody is shown at risk, so no curve and a hidden median
    hidden = km_result(11)
    assert hidden.summary.texts("median") == ["hidden"]
    line = figures.km_chart({"all": hidden}, "t", "days").data[2]
    assert len(line.x) == 0 and line.name == "all (median hidden)"


def pathway_table(counts, min_cell=11):
    steps = tuple(tuple(s) for s in counts["steps"])
    table = protected(counts.assign(pathway=[" > ".join(s) for s in steps]),
                      (label("pathway", "Pathway"), patients("patients", "Patients")), min_cell)
    return table, steps


def test_sunburst_draws_shown_pathways_and_hides_the_totals_over_a_hidden_one():
    counts = pd.DataFrame({
        "steps": [("physical_therapy",), ("physical_therapy", "narcotic"),
                  ("narcotic+injection",), ("other pathways",)],
        "patients": [40, 12, 30, 5],
    })
    table, steps = pathway_table(counts)
    fig = figures.pathway_sunburst(sunburst(table, steps))
    trace = fig.data[0]
    by_id = dict(zip(trace.ids, zip(trace.values, trace.customdata, strict=True), strict=True))
    assert by_id["physical_therapy"] == (40, "52")
    assert by_id["physical_therapy > narcotic"] == (12, "12")
    assert by_id["narcotic+injection"] == (30, "30")
    assert by_id["other pathways"] == (0, "hidden")  # small: not drawn, its count hidden
    assert trace.branchvalues == "remainder"
    labels = dict(zip(trace.ids, trace.labels, strict=True))
    assert labels["narcotic+injection"] == "Narcotic + Injection"
    colors = dict(zip(trace.ids, trace.marker.colors, strict=True))
    assert colors["physical_therapy"] == figures.TECHNIQUE_COLORS["physical_therapy"]
    assert colors["narcotic+injection"] == figures.COMBINATION_COLOR


def test_sankey_draws_only_the_shown_pathways():
    counts = pd.DataFrame({
        "steps": [("physical_therapy", "narcotic"), ("narcotic", "injection"),
                  ("physical_therapy", "narcotic", "injection", "surgery"),
                  ("other pathways",)],
        "patients": [30, 4, 20, 6],
    })
    table, steps = pathway_table(counts)
    fig = figures.pathway_sankey(sankey(table, steps))
    link = fig.data[0].link
    # PT -> narcotic 30 + 20 = 50, narcotic -> injection (step 2) 20; the 4 is hidden and
    # the link of step 3 -> 4 is beyond the first three steps.
    assert sorted(link.value) == [20, 50]
    assert len(fig.data[0].node.label) == 3


def test_empty_inputs_give_a_titled_figure_with_a_message():
    table = protected(pd.DataFrame({"month": [], "technique": [], "patients": []}),
                      (label("month", "M"), label("technique", "T"), patients("patients", "P")))
    fig = figures.monthly_technique_chart(table)
    assert fig.layout.title.text and fig.layout.annotations[0].text == "No events in this cohort"
    empty = protected(histogram(pd.Series([], dtype=float), count_name="n"),
                      histogram_columns(count("n", "N")))
    assert figures.histogram_chart(empty, "n", "t", "x", "y").layout.annotations


def test_one_colour_per_technique():
    assert len(set(figures.TECHNIQUE_COLORS.values())) == len(figures.TECHNIQUE_COLORS)
    assert figures.step_color("narcotic") == figures.TECHNIQUE_COLORS["narcotic"]
    assert step_label("muscle_relaxant+narcotic") == "Muscle relaxant + Narcotic"


def test_timeline_chart_bar_widths():
    seg = pd.DataFrame({"lane": ["Narcotic events"], "start": pd.to_datetime(["2024-01-01"]),
                        "end": pd.to_datetime(["2024-01-31"]), "label": ["Oxycodone"],
                        "technique": ["narcotic"]})
    layout = Layout(0)
    layout.add("segments", "Patient p1", [label(c, c) for c in seg.columns], seg,
               patient_level=True)
    fig = figures.timeline_chart(layout.protect()["segments"])
    assert np.isclose(fig.data[0].x[0], 30 * 86400 * 1000)
    assert fig.layout.title.text == "Patient p1"


def test_timeline_chart_keeps_the_lane_order_and_draws_combinations_apart():
    seg = pd.DataFrame({
        "lane": ["Narcotic eras", "Muscle relaxant eras", "Pathway steps (eras mode)",
                 "Pathway steps (eras mode)"],
        "start": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-01", "2024-01-15"]),
        "end": pd.to_datetime(["2024-03-01", "2024-04-01", "2024-01-16", "2024-03-01"]),
        "label": ["a", "b", "c", "d"],
        "technique": ["narcotic", "muscle_relaxant", "narcotic", "muscle_relaxant+narcotic"]})
    layout = Layout(0)
    layout.add("segments", "Patient p1", [label(c, c) for c in seg.columns], seg,
               patient_level=True)
    fig = figures.timeline_chart(layout.protect()["segments"])
    assert list(fig.layout.yaxis.categoryarray) == [
        "Narcotic eras", "Muscle relaxant eras", "Pathway steps (eras mode)"]
    combination = [t for t in fig.data if t.name == "Combination"][0]
    assert combination.marker.color == figures.COMBINATION_COLOR
    assert list(combination.y) == ["Pathway steps (eras mode)"]
    narcotic = [t for t in fig.data if t.name == "Narcotic"][0]
    assert list(narcotic.y) == ["Narcotic eras", "Pathway steps (eras mode)"]


def test_safety_charts_leave_hidden_shares_out_with_the_table_text():
    trend = protected(pd.DataFrame({
        "key": ["hdo", "hdo", "cob"], "measure": ["HDO", "HDO", "COB"],
        "month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"]),
        "denominator": [40, 40, 40], "numerator": [12, 4, 20],
        "share": [30.0, 10.0, 50.0]}),
        (label("key", "K"), label("measure", "M"), label("month", "Month"),
         count("denominator", "D"), count("numerator", "N"),
         derived("share", "S", ["numerator", "denominator"], unit="%")))
    fig = figures.safety_trend_chart(trend, ["hdo", "cob"])
    hdo = fig.data[0]
    assert np.isnan(hdo.y[1]) and hdo.y[0] == 30.0  # the 4 is small: its share a gap
    assert [list(row) for row in hdo.customdata] == [["30.0%", "12", "40"],
                                                     ["hidden", "<11", "40"]]
    doctors = protected(pd.DataFrame({
        "provider_id": ["DR1", "DR2"], "denominator": [30, 20], "numerator": [15, 3],
        "share": [50.0, 15.0], "clinic_share": [36.0, 36.0]}),
        (label("provider_id", "P"), count("denominator", "D"), count("numerator", "N"),
         derived("share", "S", ["numerator", "denominator"], unit="%"),
         derived("clinic_share", "C", unit="%")))
    bars = figures.safety_physician_chart(doctors, "HDO 2024")
    assert list(bars.data[0].y) == [50.0, 0.0] and list(bars.data[0].text) == ["50.0%",
                                                                                 "hidden"]
    assert bars.data[1].name == "Clinic (36.0%)"


def test_outcome_chart_draws_the_at_risk_table_under_the_curves():
    curves = protected(pd.DataFrame({
        "group": ["PT", "PT"], "time": [0.0, 30.0], "at_risk": [40, 38],
        "survival": [1.0, 0.9], "lower": [1.0, 0.8], "upper": [1.0, 1.0]}),
        (label("group", "G"), label("time", "T"), label("at_risk", "A"),
         derived("survival", "S"), derived("lower", "L"), derived("upper", "U")))
    at_risk = protected(pd.DataFrame({"group": ["PT", "PT", "Inj"], "time": [0, 90, 0],
                                      "at_risk": [40, 5, 3]}),
                        (label("group", "G"), label("time", "T"), patients("at_risk", "A")))
    fig = figures.outcome_km_chart(curves, at_risk, "Time to spine surgery")
    texts = [list(t.text) for t in fig.data if t.mode == "text"]
    assert texts == [["40", "<11"], ["<11"]]
    assert [t.name for t in fig.data if t.mode == "lines" and t.showlegend is not False] == [
        "PT"]
