"""Plotly figures of PainPath: pure functions from analysis tables to figures.

Every builder takes an aggregated table (never raw events) and the small-cell
threshold ``min_cell``.  Counts from 1 to ``min_cell − 1`` are never drawn as
their value: bars and wedges of such cells are drawn at zero height / hidden
and their hover text and labels say ``<min_cell``.  One colour per technique
everywhere (:data:`TECHNIQUE_COLORS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.privacy import suppress_count
from analytics.schema import INJECTION_TYPE_LABELS, TECHNIQUE_LABELS, TECHNIQUES
from analytics.survival import KaplanMeier

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
OTHER_PATHWAYS = "other pathways"

_LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=60, r=20, t=60, b=50),
    font=dict(family="sans-serif", size=13),
    hoverlabel=dict(font_size=13),
)


def step_label(label: str) -> str:
    """Human label of a step: ``muscle_relaxant+narcotic`` -> ``Muscle relaxant + Narcotic``."""
    if not label or label in ("end", OTHER_PATHWAYS, "no treatment"):
        return label.capitalize() if label else ""
    return " + ".join(TECHNIQUE_LABELS.get(p, p) for p in str(label).split("+"))


def step_color(label: str) -> str:
    """Colour of a step: its technique's colour, or the combination colour for ``a+b``."""
    if "+" in str(label):
        return COMBINATION_COLOR
    return TECHNIQUE_COLORS.get(str(label), NEUTRAL_COLOR)


def _shown(counts: pd.Series, min_cell: int) -> tuple[np.ndarray, list[str]]:
    """Drawable values (suppressed cells -> 0) and their display text."""
    raw = counts.fillna(0).astype("int64").to_numpy()
    text = [str(suppress_count(int(v), min_cell)) for v in raw]
    hidden = np.array([isinstance(suppress_count(int(v), min_cell), str) for v in raw], dtype=bool)
    values = np.where(hidden, 0, raw)
    return values, text


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=15, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def monthly_technique_chart(monthly: pd.DataFrame, min_cell: int = 11) -> go.Figure:
    """Stacked bars of patients per month by technique (``overview.monthly_events``)."""
    title = "Patients treated per month, by technique"
    if monthly.empty:
        return _empty(title, "No events in this cohort")
    fig = go.Figure()
    for technique in TECHNIQUES:
        part = monthly.loc[monthly["technique"] == technique]
        if part.empty:
            continue
        values, text = _shown(part["patients"], min_cell)
        fig.add_bar(
            x=part["month"], y=values, name=TECHNIQUE_LABELS[technique],
            marker_color=TECHNIQUE_COLORS[technique], customdata=text,
            hovertemplate="%{x|%b %Y}<br>" + TECHNIQUE_LABELS[technique]
            + ": %{customdata} patients<extra></extra>",
        )
    fig.update_layout(title=title, barmode="stack", xaxis_title="Month",
                      yaxis_title="Patients with an event", legend_title="Technique", **_LAYOUT)
    return fig


def count_line_chart(table: pd.DataFrame, x: str, y: str, title: str, x_title: str,
                     y_title: str, min_cell: int = 11, color: str = NEUTRAL_COLOR) -> go.Figure:
    """A line of counts over time (e.g. new patients or active narcotic patients per month)."""
    if table.empty:
        return _empty(title, "No data in this cohort")
    values, text = _shown(table[y], min_cell)
    shown = np.where(np.array([t.startswith("<") for t in text]), np.nan, values)
    fig = go.Figure(go.Scatter(
        x=table[x], y=shown, mode="lines+markers", line_color=color, customdata=text,
        hovertemplate="%{x|%b %Y}: %{customdata}<extra></extra>", connectgaps=False,
    ))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    return fig


def bar_chart(table: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
              min_cell: int = 11, color: str | list[str] = NEUTRAL_COLOR,
              percent: str | None = None, horizontal: bool = False) -> go.Figure:
    """Bars of patient counts with suppressed small cells (text ``<11`` on the bar)."""
    if table.empty:
        return _empty(title, "No data in this cohort")
    values, text = _shown(table[y], min_cell)
    hover = text
    if percent is not None and percent in table:
        pct = table[percent].to_numpy(dtype="float64", na_value=np.nan)
        hover = [t if t.startswith("<") or np.isnan(p) else f"{t} ({p:.1f}%)"
                 for t, p in zip(text, pct, strict=True)]
    labels = table[x].astype(str).tolist()
    bar = go.Bar(
        x=values if horizontal else labels, y=labels if horizontal else values,
        orientation="h" if horizontal else "v", marker_color=color, text=hover,
        textposition="outside", customdata=hover, cliponaxis=False,
        hovertemplate="%{" + ("y" if horizontal else "x") + "}: %{customdata}<extra></extra>",
    )
    fig = go.Figure(bar)
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


def histogram_chart(values: pd.Series, title: str, x_title: str, y_title: str,
                    min_cell: int = 11, bin_width: int = 7, max_value: int | None = None,
                    marker_at: float | None = None, marker_label: str = "",
                    color: str = NEUTRAL_COLOR) -> go.Figure:
    """A histogram binned here (aggregates only), with suppressed small bins.

    ``marker_at`` draws a dashed vertical line (e.g. the 14-day short-interval line).
    """
    values = pd.Series(values, dtype="float64").dropna()
    if values.empty:
        return _empty(title, "No data in this cohort")
    top = float(values.max()) if max_value is None else min(float(max_value), float(values.max()))
    top = max(top, float(bin_width))
    clipped = values.clip(upper=top)
    edges = np.arange(0, top + bin_width + 1, bin_width, dtype="float64")
    counts, edges = np.histogram(clipped, bins=edges)
    shown, text = _shown(pd.Series(counts), min_cell)
    centers = (edges[:-1] + edges[1:]) / 2
    ranges = [f"{int(a)}–{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    if max_value is not None and values.max() > max_value and len(ranges):
        ranges[-1] = f"≥{int(edges[-2])}"
    fig = go.Figure(go.Bar(
        x=centers, y=shown, width=bin_width * 0.95, marker_color=color,
        customdata=np.column_stack([ranges, text]),
        hovertemplate="%{customdata[0]} days: %{customdata[1]}<extra></extra>",
    ))
    if marker_at is not None:
        fig.add_vline(x=marker_at, line_dash="dash", line_color=FLAG_COLOR,
                      annotation_text=marker_label, annotation_position="top right")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, bargap=0.05,
                      **_LAYOUT)
    return fig


def km_chart(curves: dict[str, KaplanMeier], title: str, x_title: str,
             y_title: str = "Share still on therapy", min_cell: int = 11) -> go.Figure:
    """Kaplan–Meier step curves with confidence bands; at-risk counts are suppressed in hover."""
    if not curves or all(km.curve.empty for km in curves.values()):
        return _empty(title, "No data in this cohort")
    palette = ["#1d3557", "#e76f51", "#2a9d8f", "#6d597a"]
    fig = go.Figure()
    for i, (name, km) in enumerate(curves.items()):
        curve = km.curve
        if curve.empty:
            continue
        color = palette[i % len(palette)]
        at_risk = [str(suppress_count(int(n), min_cell)) for n in curve["at_risk"]]
        fig.add_scatter(x=curve["time"], y=curve["upper"], line=dict(width=0, shape="hv"),
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=curve["time"], y=curve["lower"], line=dict(width=0, shape="hv"),
                        fill="tonexty", fillcolor=_rgba(color, 0.15), showlegend=False,
                        hoverinfo="skip")
        median = "not reached" if km.median is None else f"{km.median:.0f} days"
        fig.add_scatter(
            x=curve["time"], y=curve["survival"], mode="lines", line=dict(color=color, shape="hv"),
            name=f"{name} (median {median})", customdata=at_risk,
            hovertemplate="Day %{x}: %{y:.1%} (at risk %{customdata})<extra></extra>",
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                      yaxis_tickformat=".0%", yaxis_range=[0, 1.02], **_LAYOUT)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def pathway_sunburst(sunburst: pd.DataFrame, min_cell: int = 11) -> go.Figure:
    """Sunburst of pathways (``pathways.sunburst_table`` of merged counts)."""
    title = "Pathways: inner ring = first step (click to zoom)"
    if sunburst.empty:
        return _empty(title, "No treated patients in this cohort")
    values, text = _shown(sunburst["patients"], min_cell)
    labels = [step_label(lbl) for lbl in sunburst["label"].astype(str)]
    colors = [step_color(lbl) for lbl in sunburst["label"].astype(str)]
    fig = go.Figure(go.Sunburst(
        ids=sunburst["id"], parents=sunburst["parent"], labels=labels, values=values,
        branchvalues="total", marker=dict(colors=colors), customdata=text, maxdepth=3,
        hovertemplate="%{label}<br>%{customdata} patients<extra></extra>",
        texttemplate="%{label}", insidetextorientation="radial",
    ))
    fig.update_layout(title=title, **{**_LAYOUT, "margin": dict(l=10, r=10, t=60, b=10)})
    return fig


def pathway_sankey(transitions: pd.DataFrame, min_cell: int = 11, max_step: int = 3) -> go.Figure:
    """Sankey of step-to-step transitions (``pathways.pathway_transitions``), steps 1 to
    ``max_step``.

    Links with fewer than ``min_cell`` patients are not drawn (their flow is
    not shown rather than shown as a small count), nor are transitions to "end".
    """
    title = "Step-to-step transitions (first three steps)"
    if transitions.empty:
        return _empty(title, "No transitions in this cohort")
    links = transitions.loc[(transitions["step"] < max_step)
                            & (transitions["target"].astype(str) != "end")].copy()
    if min_cell > 1:
        links = links.loc[links["patients"] >= min_cell]
    if links.empty:
        return _empty(title, f"Every transition involves fewer than {min_cell} patients")
    src = "S" + links["step"].astype(str) + ":" + links["source"].astype(str)
    tgt = "S" + (links["step"] + 1).astype(str) + ":" + links["target"].astype(str)
    nodes = pd.Index(pd.unique(pd.concat([src, tgt], ignore_index=True)))
    node_labels = [f"{step_label(n.split(':', 1)[1])} ({n.split(':', 1)[0][1:]})" for n in nodes]
    node_colors = [step_color(n.split(":", 1)[1]) for n in nodes]
    fig = go.Figure(go.Sankey(
        node=dict(label=node_labels, color=node_colors, pad=14, thickness=16,
                  hovertemplate="%{label}<extra></extra>"),
        link=dict(source=nodes.get_indexer(src), target=nodes.get_indexer(tgt),
                  value=links["patients"].to_numpy(),
                  hovertemplate="%{source.label} → %{target.label}: %{value} patients"
                  "<extra></extra>"),
    ))
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def lines_of_therapy_chart(lines: pd.DataFrame, min_cell: int = 11) -> go.Figure:
    """Grouped bars: patients per technique at each line of therapy."""
    title = "Lines of therapy: what each step was"
    if lines.empty:
        return _empty(title, "No treated patients in this cohort")
    fig = go.Figure()
    for label, part in lines.groupby("label", sort=False):
        values, text = _shown(part["patients"], min_cell)
        fig.add_bar(x=part["line"].astype(str), y=values, name=step_label(str(label)),
                    marker_color=step_color(str(label)), customdata=text,
                    hovertemplate="Line %{x}: %{customdata} patients<extra>"
                    + step_label(str(label)) + "</extra>")
    fig.update_layout(title=title, barmode="stack", xaxis_title="Line of therapy (step number)",
                      yaxis_title="Patients", legend_title="Step", **_LAYOUT)
    return fig


def compare_pathways_chart(both: pd.DataFrame, min_cell: int = 11, top: int = 12) -> go.Figure:
    """Side-by-side bars of pathway shares (percent of each cohort).

    ``both`` has columns ``cohort`` (A/B), ``pathway`` (display label),
    ``patients`` and ``percent``; shares of suppressed counts are not drawn.
    """
    title = "Share of each cohort by pathway"
    if both.empty:
        return _empty(title, "No treated patients in either cohort")
    order = (both.groupby("pathway")["patients"].sum().sort_values(ascending=False)
             .index[:top].tolist())
    fig = go.Figure()
    for i, (name, part) in enumerate(both.groupby("cohort", sort=True)):
        part = part.set_index("pathway").reindex(order)
        _, text = _shown(part["patients"], min_cell)
        pct = part["percent"].to_numpy(dtype="float64", na_value=np.nan)
        hidden = np.array([t.startswith("<") for t in text])
        pct = np.where(hidden, np.nan, pct)
        fig.add_bar(y=order, x=pct, orientation="h", name=f"Cohort {name}",
                    marker_color=["#1d3557", "#e76f51"][i % 2], customdata=text,
                    hovertemplate="%{y}: %{x:.1f}% (%{customdata} patients)<extra></extra>")
    fig.update_layout(title=title, barmode="group", xaxis_title="% of cohort",
                      yaxis_title="", height=max(360, 34 * len(order) + 120), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def timeline_chart(segments: pd.DataFrame, title: str = "Patient timeline") -> go.Figure:
    """Swimlanes for one patient: rows ``lane``, ``start``, ``end`` (exclusive), ``label``,
    ``technique``.  Single-day events are drawn one day wide."""
    if segments.empty:
        return _empty(title, "No events for this patient")
    fig = go.Figure()
    for technique in TECHNIQUES:
        part = segments.loc[segments["technique"] == technique]
        if part.empty:
            continue
        width_ms = (part["end"] - part["start"]).dt.total_seconds() * 1000
        fig.add_bar(
            base=part["start"], x=width_ms, y=part["lane"], orientation="h",
            marker_color=TECHNIQUE_COLORS[technique], name=TECHNIQUE_LABELS[technique],
            customdata=np.column_stack([
                part["label"].astype(str), part["start"].dt.strftime("%Y-%m-%d"),
                (part["end"] - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d"),
            ]),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]} – %{customdata[2]}<extra></extra>",
        )
    fig.update_layout(title=title, barmode="overlay", xaxis_type="date", xaxis_title="Date",
                      yaxis_title="", legend_title="Technique", **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def injection_type_label(value: str) -> str:
    """Human label of an injection type (or ``a+b`` of several)."""
    return " + ".join(INJECTION_TYPE_LABELS.get(p, p) for p in str(value).split("+"))
