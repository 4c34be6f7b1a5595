import numpy as np
import pandas as pd

from analytics import figures
from analytics.survival import kaplan_meier


def test_bar_chart_suppresses_small_counts():
    table = pd.DataFrame({"band": ["<20", "20–49", "≥90"], "patients": [25, 4, 0]})
    fig = figures.bar_chart(table, "band", "patients", "t", "x", "y", min_cell=11)
    bar = fig.data[0]
    assert list(bar.y) == [25, 0, 0]  # the 4 is not drawn
    assert list(bar.text) == ["25", "<11", "0"]
    assert fig.layout.title.text == "t" and fig.layout.xaxis.title.text == "x"


def test_bar_chart_percent_hover_blank_for_suppressed():
    table = pd.DataFrame({"k": ["a", "b"], "patients": [20, 3], "pct": [87.0, 13.0]})
    fig = figures.bar_chart(table, "k", "patients", "t", "x", "y", min_cell=11, percent="pct")
    assert list(fig.data[0].customdata) == ["20 (87.0%)", "<11"]


def test_histogram_bins_and_suppression():
    values = pd.Series([1] * 12 + [8] * 3)
    fig = figures.histogram_chart(values, "t", "x", "y", min_cell=11, bin_width=7)
    bar = fig.data[0]
    assert list(bar.y) == [12, 0]
    assert [row[1] for row in bar.customdata] == ["12", "<11"]
    assert [row[0] for row in bar.customdata] == ["0–6", "7–13"]


def test_histogram_marker_line():
    fig = figures.histogram_chart(pd.Series([3, 20]), "t", "x", "y", min_cell=0, marker_at=14)
    assert fig.layout.shapes[0].x0 == 14


def test_km_chart_hides_small_at_risk_counts():
    km = kaplan_meier(pd.Series([1, 2, 2, 3, 5]), pd.Series([True, True, False, True, False]))
    fig = figures.km_chart({"all": km}, "t", "days", min_cell=11)
    line = fig.data[2]
    assert set(line.customdata) == {"<11"}
    assert line.y[0] == 1.0


def test_sunburst_values_and_colors():
    sun = pd.DataFrame({
        "id": ["physical_therapy", "physical_therapy/narcotic", "narcotic+injection"],
        "parent": ["", "physical_therapy", ""],
        "label": ["physical_therapy", "narcotic", "narcotic+injection"],
        "depth": [1, 2, 1],
        "patients": [40, 12, 5],
    })
    fig = figures.pathway_sunburst(sun, min_cell=11)
    trace = fig.data[0]
    assert list(trace.values) == [40, 12, 0]
    assert list(trace.customdata) == ["40", "12", "<11"]
    assert list(trace.labels) == ["Physical therapy", "Narcotic", "Narcotic + Injection"]
    assert trace.marker.colors[0] == figures.TECHNIQUE_COLORS["physical_therapy"]
    assert trace.marker.colors[2] == figures.COMBINATION_COLOR


def test_sankey_drops_small_links():
    tr = pd.DataFrame({"step": [1, 1], "source": ["physical_therapy", "narcotic"],
                       "target": ["narcotic", "injection"], "patients": [30, 4]})
    fig = figures.pathway_sankey(tr, min_cell=11)
    assert list(fig.data[0].link.value) == [30]
    assert len(fig.data[0].node.label) == 2


def test_empty_inputs_give_a_titled_figure_with_a_message():
    fig = figures.monthly_technique_chart(pd.DataFrame(), 11)
    assert fig.layout.title.text and fig.layout.annotations[0].text == "No events in this cohort"
    assert figures.histogram_chart(pd.Series([], dtype=float), "t", "x", "y").layout.annotations


def test_one_colour_per_technique():
    assert len(set(figures.TECHNIQUE_COLORS.values())) == len(figures.TECHNIQUE_COLORS)
    assert figures.step_color("narcotic") == figures.TECHNIQUE_COLORS["narcotic"]
    assert figures.step_label("muscle_relaxant+narcotic") == "Muscle relaxant + Narcotic"


def test_timeline_chart_bar_widths():
    seg = pd.DataFrame({"lane": ["Narcotic events"], "start": pd.to_datetime(["2024-01-01"]),
                        "end": pd.to_datetime(["2024-01-31"]), "label": ["Oxycodone"],
                        "technique": ["narcotic"]})
    fig = figures.timeline_chart(seg)
    assert np.isclose(fig.data[0].x[0], 30 * 86400 * 1000)


def test_histogram_axis_stops_at_the_data_not_the_cap():
    fig = figures.histogram_chart(pd.Series([1, 2, 20]), "t", "x", "y", min_cell=0, bin_width=7,
                                  max_value=364)
    # Bins 0–6, 7–13, 14–20: the axis ends at the longest value (20 days), not at 364.
    assert [row[0] for row in fig.data[0].customdata] == ["0–6", "7–13", "14–20"]


def test_sankey_leaves_out_end_and_later_steps():
    tr = pd.DataFrame({"step": [1, 1, 3], "source": ["physical_therapy", "narcotic", "a"],
                       "target": ["narcotic", "end", "b"], "patients": [30, 40, 50]})
    fig = figures.pathway_sankey(tr, min_cell=11)
    assert list(fig.data[0].link.value) == [30]
