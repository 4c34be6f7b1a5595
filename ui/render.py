"""Rendering helpers shared by the pages: suppressed tables with downloads, KPIs, notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.exports import to_csv_bytes
from analytics.privacy import suppress_count, suppress_table

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def chart(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)


def table(
    frame: pd.DataFrame,
    *,
    key: str,
    min_cell: int,
    counts: Sequence[str] = (),
    derived: Mapping[str, str | Sequence[str]] | None = None,
    rename: dict[str, str] | None = None,
    file_name: str | None = None,
    height: int | None = None,
) -> pd.DataFrame:
    """Show ``frame`` with small counts suppressed, plus a CSV download of the same table.

    ``counts`` are patient counts (1 … min_cell − 1 become ``<min_cell``);
    ``derived`` maps each percent, median or rate column to the count(s) it
    is computed from, and is blanked where they are suppressed.  Floats show
    one decimal.  Returns the displayed (suppressed, renamed) table.
    """
    shown = suppress_table(frame, list(counts), min_cell=min_cell,
                           percent_columns=dict(derived or {}))
    for column in counts:
        if shown[column].dtype == object:  # ints mixed with "<11": show all as text
            shown[column] = shown[column].astype("string")
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].round(1)
        elif pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d").astype("string")
    if rename:
        shown = shown.rename(columns=rename)
    styled = shown.style.format(precision=1, thousands=",")
    st.dataframe(styled, hide_index=True, key=f"df_{key}", placeholder="–",
                 height=height if height is not None else "auto")
    st.download_button(
        "Download CSV", data=to_csv_bytes(shown), file_name=file_name or f"{key}.csv",
        mime="text/csv", key=f"dl_{key}", icon=":material/download:", on_click="ignore",
    )
    return shown


def count_text(n: int | None, min_cell: int) -> str:
    """A patient count as shown (suppressed when 1 … min_cell − 1)."""
    if n is None:
        return "–"
    value = suppress_count(int(n), min_cell)
    return value if isinstance(value, str) else f"{value:,}"


def pct_text(pct: float | None, count: int | None, min_cell: int, digits: int = 1) -> str:
    """A percent as shown: blank (–) when its count is suppressed or it is undefined."""
    if pct is None or pd.isna(pct):
        return "–"
    if count is not None and isinstance(suppress_count(int(count), min_cell), str):
        return "–"
    return f"{pct:.{digits}f}%"


def missing_column_note(columns: Sequence[str], feature: str) -> None:
    st.caption(f"ℹ️ {feature} needs the column(s) {', '.join(columns)}, which this dataset "
               "does not have.")
