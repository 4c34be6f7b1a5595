"""Safe downloads: CSV with spreadsheet formulas neutralised, and a self-contained HTML report.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
would be run as a formula by Excel or LibreOffice ("CSV injection"); such a
text cell (and column name) is prefixed with a single quote.  Numbers are left alone
(a negative number is data, not a formula), also inside mixed columns such as
suppressed counts (ints and ``"<11"``).  HTML escapes every value, column name,
caption, title and the cohort description; figures are embedded by plotly, whose
JSON escapes ``<`` and ``>``.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from analytics.results.privacy import HIDDEN_TEXT
from analytics.results.table import UNDEFINED_TEXT

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``table`` where every text cell starting a formula gets a leading ``'``."""
    out = table.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            continue
        if isinstance(col.dtype, pd.CategoricalDtype) and (
            pd.api.types.is_numeric_dtype(col.cat.categories.dtype)
        ):
            continue
        if col.dtype == object:
            # mixed cells (suppressed counts: ints and "<11"): only text cells are formulas,
            # a negative number stays a number
            values = col.to_numpy(dtype=object)
            risky = np.fromiter(
                (isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values),
                dtype=bool,
                count=len(values),
            )
            if risky.any():
                values = values.copy()
                values[risky] = ["'" + v for v in values[risky]]
                out.isetitem(i, pd.Series(values, index=out.index, dtype=object))
            continue
        text = col.astype("string")
        risky = text.str.startswith(FORMULA_PREFIXES).fillna(False)
        if bool(risky.any()):
            out.isetitem(i, text.where(~risky, "'" + text))
    safe_columns = [
        "'" + str(c) if str(c).startswith(FORMULA_PREFIXES) else str(c) for c in out.columns
    ]
    out.columns = safe_columns
    return out


def to_csv_bytes(table: pd.DataFrame, *, bom: bool = True, header: bool = True) -> bytes:
    """UTF-8 CSV of a display table, formulas neutralised; with a BOM (the default, so
    Excel reads accents) or without (``bom=False``: for programs reading the command line's
    output); ``header=False`` leaves out the header line (a table written in parts).

    Lines end with CRLF, so a cell holding a carriage return or line feed anywhere is
    quoted (Python's csv quotes only the characters of the line terminator: with LF a
    bare CR stayed unquoted and split the row, and ``"x\r=cmd()"`` started a new line
    with a formula)."""
    return (
        neutralise_formulas(table)
        .to_csv(index=False, header=header, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        .encode("utf-8-sig" if bom else "utf-8")
    )


@dataclass(frozen=True)
class ReportSection:
    """One section of the HTML report: a heading, optional text, figures and tables (the
    figures first, or with ``tables_first`` the tables).

    Tables are display frames of protected result tables
    (:meth:`analytics.results.table.Table.display`).
    """

    title: str
    text: str = ""
    figures: Sequence[go.Figure] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    tables_first: bool = False


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2433;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:2px solid #e5e7eb;padding-bottom:.3rem;
margin-top:2.2rem}h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0 1.2rem;font-size:.9rem;max-width:100%}
th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:break-word}th{background:#f3f4f6;font-weight:600}
.meta{color:#374151;font-size:.9rem;line-height:1.45}
.note{color:#555;font-size:.85rem}.figure{max-width:100%;overflow:hidden}
@page{size:A4;margin:14mm 12mm}
@media print{
body{margin:0;max-width:none;padding:0;font-size:9pt}
h1{font-size:15pt;margin:0 0 4mm}h2{font-size:12pt;margin-top:0;break-after:avoid}
h3{font-size:10pt;break-after:avoid}section+section{break-before:page}
table{width:100%;font-size:7.5pt;break-inside:auto}thead{display:table-header-group}
tr{break-inside:avoid}th,td{padding:1px 3px}
.figure{break-inside:avoid}.meta{font-size:8.5pt}
}
"""


def _table_html(caption: str, table: pd.DataFrame) -> str:
    # spreadsheets open HTML tables too: formulas are neutralised as in CSV
    table = neutralise_formulas(table)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for values in table.astype("object").itertuples(index=False):
        cells = "".join(
            f"<td>{UNDEFINED_TEXT if pd.isna(v) else html.escape(str(v))}</td>" for v in values
        )
        rows.append(f"<tr>{cells}</tr>")
    return (f"<h3>{html.escape(caption)}</h3><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def suppression_note(min_cell: int) -> str:
    """One sentence saying how small counts read at this threshold."""
    if min_cell <= 1:
        return "No count is suppressed."
    return (f"Counts from 1 to {min_cell - 1} (patients, events, fills, sessions, courses) are "
            f"shown as <{min_cell}; a figure from which one could be worked out reads "
            f"\"{HIDDEN_TEXT}\".")


def html_report(
    title: str,
    cohort_description: str,
    sections: Sequence[ReportSection],
    *,
    min_cell: int,
    generated: dt.datetime | None = None,
    population: str = "",
    details: Sequence[tuple[str, str]] = (),
) -> str:
    """A self-contained HTML report (plotly.js inlined once; no external requests) that
    prints on A4 or Letter: each section starts a page, tables wrap their cells to the
    page's width, a figure is not split across pages.

    The header names, one line each: the dataset (a ``details`` entry labelled "Dataset"),
    the ``population`` line (which population is shown; empty: none), the cohort, the other
    ``details`` (label, text: e.g. the period and the definitions), when it was made and
    the small-cell threshold.
    Every text is HTML-escaped and table cells are formula-neutralised
    (:func:`neutralise_formulas`), as Excel also opens HTML tables."""
    generated = generated or dt.datetime.now()
    first = [f"{k}: {v}" for k, v in details if k == "Dataset"]
    rest = [f"{k}: {v}" for k, v in details if k != "Dataset"]
    lines = [*first, *([population] if population else []),
             f"Cohort: {cohort_description}", *rest,
             f"Generated {generated.strftime('%Y-%m-%d %H:%M')}. {suppression_note(min_cell)}"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='meta'>" + "<br>".join(html.escape(line) for line in lines) + "</p>",
    ]
    include_js: bool | str = True
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        drawn = []
        for fig in section.figures:
            drawn.append("<div class='figure'>" + pio.to_html(
                fig, full_html=False, include_plotlyjs=include_js,
                config={"displaylogo": False, "responsive": True}) + "</div>")
            include_js = False
        tables = [_table_html(caption, table) for caption, table in section.tables]
        parts += [*tables, *drawn] if section.tables_first else [*drawn, *tables]
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)
