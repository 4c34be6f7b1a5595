"""Result tables: values, the kind of every column, and which cells are hidden.

A :class:`Table` is what every renderer gets: the page (``st.dataframe`` and
``st.metric``), the figure builders (bars, hover text), the CSV download, the
HTML report and the command line.  Whether a cell is hidden is data — its
:class:`~analytics.results.privacy.Mark` in :attr:`Table.marks` — decided once by the
result builder (:class:`analytics.results.layout.Layout`).  Renderers ask the
table for a cell's text (:meth:`Table.texts`) or the frame as shown
(:meth:`Table.display`), so a hidden figure reads the same everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from analytics.results.privacy import Mark, mark_text

UNDEFINED_TEXT = "–"


class Kind(StrEnum):
    """What a column holds; decides how it is protected."""

    PATIENTS = "patients"  # a count of distinct patients
    COUNT = "count"  # another count: events, fills, sessions, courses, intervals
    DERIVED = "derived"  # a figure computed from counts (share, median, rate, change)
    LABEL = "label"  # what a row is about (a name, a month, a band), or a patient's own value


COUNT_KINDS = (Kind.PATIENTS, Kind.COUNT)


@dataclass(frozen=True)
class Column:
    """One column of a result table.

    ``base``: for a derived figure, the count columns of the same row it is
    computed from (it is hidden where any of them is).  ``shown`` False: a count
    behind a derived figure (e.g. the patients on narcotics behind "% on
    narcotics"), left out of the default display; it is protected like any count,
    so a renderer may still show it.  ``digits``, ``unit`` and ``signed`` (a
    change: ``+3``) format a derived figure.
    """

    name: str
    title: str
    kind: Kind
    base: tuple[str, ...] = ()
    shown: bool = True
    digits: int = 1
    unit: str = ""
    signed: bool = False

    @property
    def is_count(self) -> bool:
        return self.kind in COUNT_KINDS


def patients(name: str, title: str, *, shown: bool = True) -> Column:
    """A patient-count column."""
    return Column(name, title, Kind.PATIENTS, shown=shown)


def count(name: str, title: str, *, shown: bool = True) -> Column:
    """A column counting events, fills, sessions, courses or intervals."""
    return Column(name, title, Kind.COUNT, shown=shown)


def derived(name: str, title: str, base: Sequence[str] = (), *, digits: int = 1,
            unit: str = "", signed: bool = False) -> Column:
    """A figure derived from the counts ``base`` of the same row (``"table.column"``: the
    first row of another table of the result)."""
    return Column(name, title, Kind.DERIVED, tuple(base), digits=digits, unit=unit,
                  signed=signed)


def label(name: str, title: str) -> Column:
    """A label column (never hidden)."""
    return Column(name, title, Kind.LABEL)


@dataclass(frozen=True, eq=False)
class Table:
    """One protected table of a result.

    ``values`` holds the true values (never render them without ``marks``);
    ``marks`` holds a :class:`~analytics.results.privacy.Mark` per cell (same index and
    columns; label cells are always shown).  ``patient_level`` tables (one
    patient's own rows, for physicians) are not suppressed.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    values: pd.DataFrame
    marks: pd.DataFrame
    min_cell: int
    patient_level: bool = False
    note: str = ""
    _by_name: dict[str, Column] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def __len__(self) -> int:
        return len(self.values)

    @property
    def empty(self) -> bool:
        return len(self.values) == 0

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def take(self, rows: Sequence[int] | np.ndarray) -> Table:
        """The rows at positions ``rows`` (values with their marks, as protected), e.g. one
        period of a result for a page to show.  Nothing is protected again: a hidden cell
        stays hidden with its text."""
        rows = np.asarray(rows, dtype=np.int64)
        return dataclasses.replace(self, values=self.values.iloc[rows].reset_index(drop=True),
                                   marks=self.marks.iloc[rows].reset_index(drop=True))

    def where(self, column: str, value: object) -> Table:
        """The rows whose label ``column`` equals ``value`` (:meth:`take`)."""
        return self.take(np.flatnonzero((self.values[column] == value).to_numpy(
            dtype=bool, na_value=False)))

    def hidden(self, name: str) -> np.ndarray:
        """Boolean per row: is the cell of column ``name`` hidden?"""
        return self.marks[name].to_numpy() != Mark.SHOWN

    def numbers(self, name: str, hidden_as: float = np.nan) -> np.ndarray:
        """The column's values as floats, ``hidden_as`` where hidden (for drawing)."""
        values = pd.to_numeric(self.values[name], errors="coerce")
        out = values.to_numpy(dtype="float64", na_value=np.nan)
        return np.where(self.hidden(name), hidden_as, out)

    def labels(self, name: str) -> list[str]:
        """A label column as text."""
        return ["" if pd.isna(v) else str(v) for v in self.values[name]]

    def texts(self, name: str, *, thousands: bool = True) -> list[str]:
        """Every cell of column ``name`` as it reads: ``"<11"``, ``"hidden"``, ``"1,234"``,
        ``"12.3%"``; ``"–"`` for a figure that is not defined (e.g. a median of nothing)."""
        column = self.column(name)
        marks = self.marks[name].to_numpy()
        out = []
        for value, mark in zip(self.values[name].tolist(), marks, strict=True):
            if mark != Mark.SHOWN:
                out.append(mark_text(int(mark), self.min_cell))
            else:
                out.append(_format(value, column, thousands))
        return out

    def cell(self, row: int, name: str) -> object:
        """One cell (row by position) as a plain value: where shown an ``int`` for a count,
        a ``float`` for a derived figure (None when undefined), the value for a label;
        where hidden the mark's text (``"<11"`` / ``"hidden"``)."""
        mark = int(self.marks[name].iloc[row])
        if mark != Mark.SHOWN:
            return mark_text(mark, self.min_cell)
        value = _plain(self.values[name].iloc[row])
        if value is pd.NA:
            return None
        column = self.column(name)
        if column.is_count:
            return int(value)
        if column.kind == Kind.DERIVED:
            return float(value)
        return value

    def text(self, row: int, name: str) -> str:
        """One cell as it reads (row by position)."""
        return self.texts(name)[row]

    def display(self, columns: Sequence[str] | None = None, *,
                titles: bool = True) -> pd.DataFrame:
        """The table as shown and downloaded: its columns (default: those ``shown``),
        hidden cells replaced by their text (``"<11"`` / ``"hidden"``), derived figures
        rounded to their digits, dates as ``YYYY-MM-DD``.

        A column without a hidden cell keeps its numbers; one with a hidden cell holds
        Python numbers and the texts (object dtype).
        """
        out = {}
        chosen = [c for c in self.columns if c.shown] if columns is None else [
            self.column(name) for name in columns]
        for column in chosen:
            values = self.values[column.name]
            if column.kind == Kind.DERIVED:
                values = pd.to_numeric(values, errors="coerce").round(column.digits)
            elif column.kind == Kind.LABEL and pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.strftime("%Y-%m-%d").astype("string")
            marks = self.marks[column.name].to_numpy()
            if (marks != Mark.SHOWN).any():
                cells = [
                    mark_text(int(m), self.min_cell) if m != Mark.SHOWN else _plain(v)
                    for v, m in zip(values.tolist(), marks, strict=True)
                ]
                values = pd.Series(cells, index=self.values.index, dtype=object)
            out[column.title if titles else column.name] = values
        return pd.DataFrame(out, index=self.values.index).reset_index(drop=True)

    def hidden_cells(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Boolean frame like :meth:`display` (columns named by title): True where hidden."""
        chosen = [c for c in self.columns if c.shown] if columns is None else [
            self.column(name) for name in columns]
        return pd.DataFrame({
            c.title: self.marks[c.name].to_numpy() != Mark.SHOWN for c in chosen
        })


def _plain(value: object) -> object:
    """A shown value as a plain Python value (NA stays NA)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NA
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _format(value: object, column: Column, thousands: bool) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return UNDEFINED_TEXT
    if column.is_count:
        return f"{int(value):,}" if thousands else str(int(value))
    if column.kind == Kind.DERIVED:
        sign = "+" if column.signed else ""
        return f"{float(value):{sign},.{column.digits}f}{column.unit}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def tables_of(result: object, prefix: str = "") -> dict[str, Table]:
    """Every :class:`Table` of a result object: its dataclass fields that hold a table,
    and the tables of fields that are themselves results (named ``field.table``)."""
    out: dict[str, Table] = {}
    for item in dataclasses.fields(result):  # type: ignore[arg-type]
        value = getattr(result, item.name)
        if isinstance(value, Table):
            out[prefix + item.name] = value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(tables_of(value, f"{prefix}{item.name}."))
    return out
