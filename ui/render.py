"""Rendering helpers shared by the pages: result tables with their CSV, metrics, charts.

Nothing here decides what is hidden: a table is shown as
:meth:`analytics.results.table.Table.display` gives it, its CSV is that same
frame, and a metric reads its cell's text.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.exports import to_csv_bytes
from analytics.results.table import UNDEFINED_TEXT, Table

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def chart(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)


def clickable_chart(fig: go.Figure, key: str) -> list[dict]:
    """A chart whose clicks rerun the page; the clicked points (read by item access, as
    Streamlit's testing injects them)."""
    event = st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, on_select="rerun",
                            selection_mode="points")
    return list(event["selection"]["points"])


def for_screen(frame: pd.DataFrame) -> pd.DataFrame:
    """A display frame ready for ``st.dataframe``: a column mixing numbers and texts
    (``"<11"``, ``"hidden"``) becomes text, so Arrow can carry it."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = pd.Series(
                [f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
                 for v in out[column]], index=out.index, dtype=object).astype("string")
    return out


def frame(shown: pd.DataFrame, *, key: str, file_name: str | None = None,
          height: int | None = None) -> pd.DataFrame:
    """Show a display frame (numbers with thousands separators) and a CSV download of that
    frame (plain numbers); both hide the same cells with the same texts."""
    screen = for_screen(shown)
    styled = screen.style.format(precision=1, thousands=",")
    st.dataframe(styled, hide_index=True, key=f"df_{key}", placeholder="–",
                 height=height if height is not None else "auto")
    st.download_button(  # the file is made on click only: a rerun does not pay for it
        "Download CSV", data=lambda: to_csv_bytes(shown), file_name=file_name or f"{key}.csv",
        mime="text/csv", key=f"dl_{key}", icon=":material/download:", on_click="ignore",
    )
    return screen


def selectable_table(result: Table, *, key: str, file_name: str | None = None) -> list[int]:
    """A result table whose rows can be picked (one at a time) and its CSV; the picked
    row positions."""
    shown = result.display()
    screen = for_screen(shown).style.format(precision=1, thousands=",")
    event = st.dataframe(screen, hide_index=True, key=f"df_{key}", placeholder="–",
                         on_select="rerun", selection_mode="single-row")
    st.download_button(
        "Download CSV", data=lambda: to_csv_bytes(shown), file_name=file_name or f"{key}.csv",
        mime="text/csv", key=f"dl_{key}", icon=":material/download:", on_click="ignore",
    )
    return [int(r) for r in event["selection"]["rows"]]


def table(result: Table, *, key: str, columns: Sequence[str] | None = None,
          file_name: str | None = None, height: int | None = None) -> pd.DataFrame:
    """Show a result table (its shown columns, or ``columns``) with its CSV download."""
    return frame(result.display(columns), key=key, file_name=file_name, height=height)


def transposed(result: Table, row_label: str, columns: Sequence[str], *, key: str,
               first_title: str = "Measure", file_name: str | None = None) -> pd.DataFrame:
    """Show a result table turned on its side: one row per column of ``columns``, one
    column per row of the table (headed by its ``row_label`` cell); cells as they read
    (:meth:`~analytics.results.table.Table.texts`), since a row mixes kinds."""
    out = pd.DataFrame({first_title: [result.column(c).title for c in columns]})
    texts = {c: result.texts(c) for c in columns}
    for i, head in enumerate(result.labels(row_label)):
        out[head] = pd.Series([texts[c][i] for c in columns], dtype="string")
    return frame(out, key=key, file_name=file_name)


def metric(container, result: Table, column: str, *, row: int = 0, label: str | None = None,
           change: Table | None = None, delta_color: str = "normal",
           help: str | None = None) -> None:
    """``st.metric`` of one cell, with the change from ``change`` (same column) when that
    is shown."""
    delta = None
    if change is not None and not change.hidden(column)[0]:
        text = change.text(0, column)
        delta = None if text == UNDEFINED_TEXT else text
    container.metric(label or result.column(column).title, result.text(row, column), delta,
                     delta_color=delta_color, help=help)


def missing_column_note(columns: Sequence[str], feature: str) -> None:
    st.caption(f"ℹ️ {feature} needs the column(s) {', '.join(columns)}, which this dataset "
               "does not have.")


def row_metric(container, result: Table, row: int, column: str, *, label: str,
               change: str | None = None, delta_color: str = "normal",
               help: str | None = None) -> None:
    """``st.metric`` of one cell of a row, with the change read from another column of the
    same row (``change``) when that is shown and defined."""
    delta = None
    if change is not None and not result.hidden(change)[row]:
        text = result.text(row, change)
        delta = None if text == UNDEFINED_TEXT else text
    container.metric(label, result.text(row, column), delta, delta_color=delta_color,
                     help=help)
