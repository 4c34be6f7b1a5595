"""Plotly figures of PainPath: pure functions from protected result tables to figures.

Every builder takes a :class:`~analytics.results.table.Table` (never raw events)
and draws what its marks allow: a hidden count is drawn at zero height (a bar,
a wedge) or left out (a point, a link), and its hover text and label read as the
table does (``<11``, ``hidden``), so a figure hides exactly what the table,
the CSV and the report hide.  One colour per technique everywhere
(:data:`TECHNIQUE_COLORS`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from analytics.results.distributions import Survival
from analytics.results.pathways import step_label
from analytics.results.table import UNDEFINED_TEXT, Table
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES

TECHNIQUE_COLORS: dict[str, str] = {
    "physical_therapy": "#2a9d8f",
    "muscle_relaxant": "#e9c46a",
    "narcotic": "#e76f51",
    "injection": "#457b9d",
    "surgery": "#6d597a",
    "other": "#9e9e9e",
}
COMBINATION_COLOR = "#b5838d"
NEUTRAL_COLOR = "#8d99ae"
FLAG_COLOR = "#d62828"
COHORT_COLORS = ("#1d3557", "#e76f51")

# Every figure uses the "plotly_white" template.  Set as the default (not per figure): the
# JSON is the same, and building a figure costs ~3 ms instead of ~12 ms.
pio.templates.default = "plotly_white"
_LAYOUT = dict(
    margin=dict(l=60, r=20, t=60, b=50),
    font=dict(family="sans-serif", size=13),
    hoverlabel=dict(font_size=13),
)


def step_color(label: str) -> str:
    """Colour of a step: its technique's colour, or the combination colour for ``a+b``."""
    if "+" in str(label):
        return COMBINATION_COLOR
    return TECHNIQUE_COLORS.get(str(label), NEUTRAL_COLOR)


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=15, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _part(table: Table, rows: np.ndarray, y: str) -> tuple[np.ndarray, list[str]]:
    """Bar heights (hidden -> 0) and hover texts of some rows of a count column."""
    heights = table.numbers(y, hidden_as=0.0)[rows]
    texts = table.texts(y)
    return heights, [texts[i] for i in rows]


def monthly_technique_chart(table: Table) -> go.Figure:
    """Stacked bars of patients per month by technique (columns ``month``, ``technique``,
    ``patients``)."""
    title = "Patients treated per month, by technique"
    if table.empty:
        return _empty(title, "No events in this cohort")
    fig = go.Figure()
    technique = table.values["technique"].astype(str).to_numpy()
    for name in TECHNIQUES:
        rows = np.flatnonzero(technique == name)
        if len(rows) == 0:
            continue
        heights, text = _part(table, rows, "patients")
        fig.add_bar(
            x=table.values["month"].iloc[rows], y=heights, name=TECHNIQUE_LABELS[name],
            marker_color=TECHNIQUE_COLORS[name], customdata=text,
            hovertemplate="%{x|%b %Y}<br>" + TECHNIQUE_LABELS[name]
            + ": %{customdata} patients<extra></extra>",
        )
    fig.update_layout(title=title, barmode="stack", xaxis_title="Month",
                      yaxis_title="Patients with an event", legend_title="Technique", **_LAYOUT)
    return fig


def count_line_chart(table: Table, x: str, y: str, title: str, x_title: str, y_title: str,
                     color: str = NEUTRAL_COLOR) -> go.Figure:
    """A line of counts over time (e.g. new patients per month); hidden points are gaps."""
    if table.empty:
        return _empty(title, "No data in this cohort")
    fig = go.Figure(go.Scatter(
        x=table.values[x], y=table.numbers(y), mode="lines+markers", line_color=color,
        customdata=table.texts(y), hovertemplate="%{x|%b %Y}: %{customdata}<extra></extra>",
        connectgaps=False,
    ))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    return fig


def bar_chart(table: Table, x: str, y: str, title: str, x_title: str, y_title: str,
              color: str | list[str] = NEUTRAL_COLOR, percent: str | None = None,
              horizontal: bool = False) -> go.Figure:
    """Bars of a count column; hidden cells are drawn at zero with their text on the bar.
    ``percent``: a derived share added to the hover text where shown."""
    if table.empty:
        return _empty(title, "No data in this cohort")
    heights = table.numbers(y, hidden_as=0.0)
    text = table.texts(y)
    if percent is not None:
        shares = table.texts(percent)
        hidden = table.hidden(y) | table.hidden(percent)
        text = [t if h else f"{t} ({s})" for t, s, h in zip(text, shares, hidden, strict=True)]
    labels = table.labels(x)
    bar = go.Bar(
        x=heights if horizontal else labels, y=labels if horizontal else heights,
        orientation="h" if horizontal else "v", marker_color=color, text=text,
        textposition="outside", customdata=text, cliponaxis=False,
        hovertemplate="%{" + ("y" if horizontal else "x") + "}: %{customdata}<extra></extra>",
    )
    fig = go.Figure(bar)
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def histogram_chart(table: Table, count: str, title: str, x_title: str, y_title: str,
                    marker_at: float | None = None, marker_label: str = "",
                    color: str = NEUTRAL_COLOR) -> go.Figure:
    """Bars of a binned histogram (columns ``start``, ``end``, ``range`` and ``count``);
    ``marker_at`` draws a dashed vertical line (e.g. the 14-day short-interval line)."""
    if table.empty:
        return _empty(title, "No data in this cohort")
    start = table.values["start"].to_numpy(dtype="float64")
    end = table.values["end"].to_numpy(dtype="float64")
    width = float(end[0] - start[0] + 1)
    fig = go.Figure(go.Bar(
        x=start + width / 2, y=table.numbers(count, hidden_as=0.0), width=width * 0.95,
        marker_color=color, customdata=np.column_stack([table.labels("range"),
                                                        table.texts(count)]),
        hovertemplate="%{customdata[0]} days: %{customdata[1]}<extra></extra>",
    ))
    if marker_at is not None:
        fig.add_vline(x=marker_at, line_dash="dash", line_color=FLAG_COLOR,
                      annotation_text=marker_label, annotation_position="top right")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, bargap=0.05,
                      **_LAYOUT)
    return fig


def km_chart(curves: Mapping[str, Survival], title: str, x_title: str,
             y_title: str = "Share still on therapy") -> go.Figure:
    """Kaplan–Meier step curves with confidence bands, drawn while the number at risk is
    shown (the curve stops where fewer than the threshold remain at risk)."""
    if not curves or all(s.curve.empty for s in curves.values()):
        return _empty(title, "No data in this cohort")
    palette = ["#1d3557", "#e76f51", "#2a9d8f", "#6d597a"]
    fig = go.Figure()
    for i, (name, km) in enumerate(curves.items()):
        curve = km.curve
        if curve.empty:
            continue
        keep = ~curve.hidden("survival")
        time = curve.values["time"].to_numpy()[keep]
        color = palette[i % len(palette)]
        fig.add_scatter(x=time, y=curve.numbers("upper")[keep],
                        line=dict(width=0, shape="hv"), showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=time, y=curve.numbers("lower")[keep],
                        line=dict(width=0, shape="hv"), fill="tonexty",
                        fillcolor=_rgba(color, 0.15), showlegend=False, hoverinfo="skip")
        median = km.summary.text(0, "median")
        median = "not reached" if median == UNDEFINED_TEXT else median
        at_risk = [t for t, k in zip(curve.texts("at_risk"), keep, strict=True) if k]
        fig.add_scatter(
            x=time, y=curve.numbers("survival")[keep], mode="lines",
            line=dict(color=color, shape="hv"), name=f"{name} (median {median})",
            customdata=at_risk,
            hovertemplate="Day %{x}: %{y:.1%} (at risk %{customdata})<extra></extra>",
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                      yaxis_tickformat=".0%", yaxis_range=[0, 1.02], **_LAYOUT)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def pathway_sunburst(sunburst: Table) -> go.Figure:
    """Sunburst of pathways (a Pathways result's ``sunburst``): a wedge's size is the
    shown pathways under it; its hover text the node's count (hidden when a hidden pathway
    lies under it)."""
    title = "Pathways: inner ring = first step (click to zoom)"
    if sunburst.empty or not (sunburst.numbers("own", hidden_as=0.0) > 0).any():
        return _empty(title, "No treated patients in this cohort")
    raw = sunburst.labels("label")
    fig = go.Figure(go.Sunburst(
        ids=sunburst.labels("id"), parents=sunburst.labels("parent"),
        labels=[step_label(v) for v in raw], values=sunburst.numbers("own", hidden_as=0.0),
        branchvalues="remainder", marker=dict(colors=[step_color(v) for v in raw]),
        customdata=sunburst.texts("patients"), maxdepth=3,
        hovertemplate="%{label}<br>%{customdata} patients<extra></extra>",
        texttemplate="%{label}", insidetextorientation="radial",
    ))
    fig.update_layout(title=title, **{**_LAYOUT, "margin": dict(l=10, r=10, t=60, b=10)})
    return fig


def pathway_sankey(sankey: Table) -> go.Figure:
    """Sankey of step-to-step transitions (a Pathways result's ``sankey``: the shown
    pathways' first steps)."""
    title = "Step-to-step transitions (first three steps)"
    if sankey.empty:
        return _empty(title, "No transitions among the pathways shown")
    values = sankey.values
    src = "S" + values["step"].astype(str) + ":" + values["source"].astype(str)
    tgt = "S" + (values["step"] + 1).astype(str) + ":" + values["target"].astype(str)
    nodes = pd.Index(pd.unique(pd.concat([src, tgt], ignore_index=True)))
    node_labels = [f"{step_label(n.split(':', 1)[1])} ({n.split(':', 1)[0][1:]})" for n in nodes]
    node_colors = [step_color(n.split(":", 1)[1]) for n in nodes]
    fig = go.Figure(go.Sankey(
        node=dict(label=node_labels, color=node_colors, pad=14, thickness=16,
                  hovertemplate="%{label}<extra></extra>"),
        link=dict(source=nodes.get_indexer(src), target=nodes.get_indexer(tgt),
                  value=sankey.numbers("patients", hidden_as=0.0),
                  customdata=sankey.texts("patients"),
                  hovertemplate="%{source.label} → %{target.label}: %{customdata} patients"
                  "<extra></extra>"),
    ))
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def lines_of_therapy_chart(lines: Table) -> go.Figure:
    """Grouped bars: patients per step label at each line of therapy."""
    title = "Lines of therapy: what each step was"
    if lines.empty:
        return _empty(title, "No treated patients in this cohort")
    fig = go.Figure()
    labels = np.array(lines.labels("label"), dtype=object)
    for name in pd.unique(labels):
        rows = np.flatnonzero(labels == name)
        heights, text = _part(lines, rows, "patients")
        fig.add_bar(x=[str(v) for v in lines.values["line"].iloc[rows]], y=heights, name=name,
                    marker_color=_label_color(name), customdata=text,
                    hovertemplate="Line %{x}: %{customdata} patients<extra>" + name
                    + "</extra>")
    fig.update_layout(title=title, barmode="stack", xaxis_title="Line of therapy (step number)",
                      yaxis_title="Patients", legend_title="Step", **_LAYOUT)
    return fig


def _label_color(label: str) -> str:
    """Colour of a human step label (``Muscle relaxant + Narcotic``)."""
    if "+" in label:
        return COMBINATION_COLOR
    by_label = {v: k for k, v in TECHNIQUE_LABELS.items()}
    return TECHNIQUE_COLORS.get(by_label.get(label, ""), NEUTRAL_COLOR)


def compare_pathways_chart(table: Table, top: int = 12) -> go.Figure:
    """Side-by-side bars of pathway shares (a Compare result's ``pathways``): the share of
    each cohort, hidden shares not drawn, the patients in the hover text."""
    title = "Share of each cohort by pathway"
    if table.empty:
        return _empty(title, "No treated patients in either cohort")
    rows = np.arange(min(top, len(table)))
    order = [table.labels("pathway")[i] for i in rows]
    fig = go.Figure()
    for i, cohort in enumerate(("a", "b")):
        shares = table.numbers(f"percent_{cohort}")[rows]
        counts = [table.texts(f"patients_{cohort}")[r] for r in rows]
        fig.add_bar(y=order, x=shares, orientation="h", name=f"Cohort {cohort.upper()}",
                    marker_color=COHORT_COLORS[i], customdata=counts,
                    hovertemplate="%{y}: %{x:.1f}% (%{customdata} patients)<extra></extra>")
    fig.update_layout(title=title, barmode="group", xaxis_title="% of cohort",
                      yaxis_title="", height=max(360, 34 * len(order) + 120), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def timeline_chart(segments: Table) -> go.Figure:
    """Swimlanes for one patient (a Timeline result's ``segments``: ``lane``, ``start``,
    ``end`` exclusive, ``label``, ``technique``).  Single-day events are one day wide.
    Lanes keep the order of the segments; a combined step (``technique`` ``a+b``) is drawn
    in the combination colour."""
    title = segments.title
    if segments.empty:
        return _empty(title, "No events for this patient")
    frame = segments.values
    technique = frame["technique"].astype(str)
    combined = technique.str.contains("+", regex=False).to_numpy()
    fig = go.Figure()
    for name in [*TECHNIQUES, "combination"]:
        rows = combined if name == "combination" else (technique == name).to_numpy() & ~combined
        part = frame.loc[rows]
        if part.empty:
            continue
        width_ms = (part["end"] - part["start"]).dt.total_seconds() * 1000
        fig.add_bar(
            base=part["start"], x=width_ms, y=part["lane"], orientation="h",
            marker_color=COMBINATION_COLOR if name == "combination" else TECHNIQUE_COLORS[name],
            name="Combination" if name == "combination" else TECHNIQUE_LABELS[name],
            customdata=np.column_stack([
                part["label"].astype(str), part["start"].dt.strftime("%Y-%m-%d"),
                (part["end"] - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"),
            ]),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]} – %{customdata[2]}<extra></extra>",
        )
    lanes = list(pd.unique(frame["lane"].astype(str)))
    fig.update_layout(title=title, barmode="overlay", xaxis_type="date", xaxis_title="Date",
                      yaxis_title="", legend_title="Technique",
                      height=max(420, 34 * len(lanes) + 160), **_LAYOUT)
    fig.update_yaxes(categoryorder="array", categoryarray=lanes, autorange="reversed")
    return fig


def safety_trend_chart(trend: Table, keys: list[str], title: str | None = None) -> go.Figure:
    """Opioid safety, monthly trend (a Safety result's ``trend``): the share of each measure
    in ``keys`` per month over the 12 months ending with it; a hidden share is a gap, the
    hover text the numerator and denominator as the table reads."""
    title = title or "Opioid safety: share over the 12 months to each month"
    if trend.empty or not keys:
        return _empty(title, "No narcotic use in this cohort")
    palette = ["#e76f51", "#1d3557", "#2a9d8f", "#6d597a", "#e9c46a", "#457b9d"]
    values = trend.values
    share = trend.numbers("share")
    numerator, denominator = trend.texts("numerator"), trend.texts("denominator")
    shown_share = trend.texts("share")
    fig = go.Figure()
    for i, key in enumerate(keys):
        rows = np.flatnonzero((values["key"] == key).to_numpy(dtype=bool, na_value=False))
        if len(rows) == 0:
            continue
        fig.add_scatter(
            x=values["month"].iloc[rows], y=share[rows], mode="lines+markers",
            name=str(values["measure"].iloc[rows[0]]), connectgaps=False,
            line=dict(color=palette[i % len(palette)]),
            customdata=np.column_stack([[shown_share[r] for r in rows],
                                        [numerator[r] for r in rows],
                                        [denominator[r] for r in rows]]),
            hovertemplate="12 months to %{x|%b %Y}: %{customdata[0]} "
            "(%{customdata[1]} of %{customdata[2]})<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(title=title, xaxis_title="Month (end of the 12-month window)",
                      yaxis_title="Share (%)", yaxis_rangemode="tozero",
                      legend_title="Measure", **_LAYOUT)
    return fig


def safety_physician_chart(physicians: Table, title: str) -> go.Figure:
    """One measure and year of a Safety result's ``physicians`` (rows already chosen): each
    physician's share as a bar (hidden: drawn at zero, its text on the bar) and the
    clinic's share as a line beside them."""
    if physicians.empty:
        return _empty(title, "No physician prescribed a narcotic in this period")
    names = physicians.labels("provider_id")
    share = physicians.numbers("share", hidden_as=0.0)
    texts = physicians.texts("share")
    counts = [f"{n} of {d}" for n, d in zip(physicians.texts("numerator"),
                                              physicians.texts("denominator"), strict=True)]
    fig = go.Figure(go.Bar(
        x=names, y=np.nan_to_num(share), text=texts, textposition="outside", cliponaxis=False,
        marker_color=NEUTRAL_COLOR, name="Physician",
        customdata=np.column_stack([texts, counts]),
        hovertemplate="%{x}: %{customdata[0]} (%{customdata[1]})<extra></extra>"))
    clinic = physicians.numbers("clinic_share")
    clinic_text = physicians.texts("clinic_share")
    if len(clinic) and not np.isnan(clinic[0]):
        fig.add_scatter(x=names, y=clinic, mode="lines", name=f"Clinic ({clinic_text[0]})",
                        line=dict(color=FLAG_COLOR, dash="dash"), hoverinfo="skip")
    fig.update_layout(title=title, xaxis_title="Physician (credited with the patient-year)",
                      yaxis_title="Share (%)", yaxis_rangemode="tozero", **_LAYOUT)
    return fig


def outcome_km_chart(curves: Table, at_risk: Table, title: str) -> go.Figure:
    """Kaplan–Meier curves of one outcome per group (an Outcomes result's ``curves``), with
    the at-risk table under them (its ``at_risk`` texts per group at each day, as
    protected).  A curve stops where fewer than the threshold remain at risk."""
    if curves.empty and at_risk.empty:
        return _empty(title, "No patients with a first step in this cohort")
    palette = ["#2a9d8f", "#e9c46a", "#e76f51", "#457b9d", "#b5838d", "#6d597a", "#1d3557",
               "#8d99ae"]
    groups = list(pd.unique(at_risk.values["group"].astype(str)))
    values = curves.values
    group_of = values["group"].astype(str).to_numpy()
    traces: list[go.Scatter] = []
    for i, group in enumerate(groups):
        color = palette[i % len(palette)]
        rows = np.flatnonzero(group_of == group)
        if len(rows) == 0:
            continue
        time = values["time"].to_numpy()[rows]
        traces += [
            go.Scatter(x=time, y=values["upper"].to_numpy()[rows],
                       line=dict(width=0, shape="hv"), showlegend=False, hoverinfo="skip"),
            go.Scatter(x=time, y=values["lower"].to_numpy()[rows],
                       line=dict(width=0, shape="hv"), fill="tonexty",
                       fillcolor=_rgba(color, 0.12), showlegend=False, hoverinfo="skip"),
            go.Scatter(x=time, y=values["survival"].to_numpy()[rows], mode="lines",
                       line=dict(color=color, shape="hv"), name=group,
                       customdata=[f"{v:,}" for v in values["at_risk"].to_numpy()[rows]],
                       hovertemplate="Day %{x}: %{y:.1%} without the outcome (at risk "
                       "%{customdata})<extra>%{fullData.name}</extra>"),
        ]
    # the at-risk table: one text trace on a second y axis under the curves (shared days)
    risk = at_risk.values
    texts = at_risk.texts("at_risk")
    for group in groups:
        rows = np.flatnonzero((risk["group"].astype(str) == group).to_numpy())
        traces.append(go.Scatter(
            x=risk["time"].to_numpy()[rows], y=[group] * len(rows), xaxis="x", yaxis="y2",
            mode="text", text=[texts[r] for r in rows], showlegend=False,
            textfont=dict(size=12), hoverinfo="skip"))
    fig = go.Figure(traces)
    fig.update_layout(
        title=title, legend_title="Group", height=560, **_LAYOUT,
        xaxis=dict(title="Days since the first treatment step", anchor="y2"),
        yaxis=dict(title="Without the outcome", tickformat=".0%", range=[0, 1.02],
                   domain=[0.3, 1]),
        yaxis2=dict(title="At risk", type="category", autorange="reversed",
                    domain=[0, 0.2], categoryorder="array", categoryarray=groups))
    return fig


# ---------------------------------------------------------------------- the views' charts
# One function per chart of a view, used by its page and by the HTML report alike.


def new_patients_chart(table: Table) -> go.Figure:
    """Overview: new patients per month (``new_patients``)."""
    return count_line_chart(table, "month", "patients", "New patients per month", "Month",
                            "Patients (first event that month)")


def sessions_per_patient_chart(table: Table) -> go.Figure:
    """Injections: patients by number of sessions (``per_patient``)."""
    return bar_chart(table, "sessions", "patients", "Sessions per patient", "Sessions",
                     "Patients", color=TECHNIQUE_COLORS["injection"])


def intervals_chart(table: Table) -> go.Figure:
    """Injections: days between consecutive sessions (``intervals``)."""
    return histogram_chart(table, "intervals", "Days between consecutive sessions",
                           "Interval (days)", "Repeat intervals", marker_at=14,
                           marker_label="14-day minimum", color=TECHNIQUE_COLORS["injection"])


def repeat_km_chart(repeat: Survival) -> go.Figure:
    """Injections: Kaplan–Meier of the time to a second session (``repeat``)."""
    return km_chart({"All injection patients": repeat},
                    "Time from first to second session (Kaplan–Meier)",
                    "Days since first session", y_title="Share without a second session")


def over_limit_chart(table: Table) -> go.Figure:
    """Injections: patients over the limit by injection type (``over_by_type``)."""
    return bar_chart(table, "injection_type", "patients",
                     "Patients over the limit, by injection type", "Injection type",
                     "Patients", color=FLAG_COLOR)


def pain_change_chart(table: Table) -> go.Figure:
    """Injections: sessions by pain-score change (``pain_change``)."""
    return bar_chart(table, "change", "sessions", "Pain-score change after a session",
                     "Change in pain score (points)", "Sessions")


def durations_chart(table: Table) -> go.Figure:
    """Narcotic courses: course length (``durations``)."""
    return histogram_chart(table, "courses", "Course length", "Duration (days)", "Courses",
                           marker_at=90, marker_label="90 days: long-term",
                           color=TECHNIQUE_COLORS["narcotic"])


def course_km_chart(course_km: Survival) -> go.Figure:
    """Narcotic courses: Kaplan–Meier of course duration (``course_km``)."""
    return km_chart({"Narcotic courses": course_km},
                    "Course duration (Kaplan–Meier, ongoing courses censored)",
                    "Days since course start")


def mme_bands_chart(table: Table) -> go.Figure:
    """Narcotic courses: courses by average MME/day band (``mme_bands``)."""
    return bar_chart(table, "band", "courses", "Average daily dose of each course (MME/day)",
                     "MME/day band", "Courses", color=TECHNIQUE_COLORS["narcotic"])


def active_by_month_chart(table: Table) -> go.Figure:
    """Narcotic courses: patients with a covered day per month (``active_by_month``)."""
    return count_line_chart(table, "month", "patients", "Patients on a narcotic, per month",
                            "Month", "Patients with a covered day",
                            color=TECHNIQUE_COLORS["narcotic"])


def overlap_chart(table: Table) -> go.Figure:
    """Narcotic courses: days covered by a narcotic and a muscle relaxant (``overlap_days``)."""
    return histogram_chart(table, "patients",
                           "Days covered by both a narcotic and a muscle relaxant",
                           "Overlap days", "Patients", marker_at=30, marker_label="30-day flag",
                           color=TECHNIQUE_COLORS["muscle_relaxant"])
