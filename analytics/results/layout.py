"""Laying out a result's tables for protection: the one place a result decides what is hidden.

A result builder adds its raw tables to a :class:`Layout`, declares the
relations that hold between their cells by definition (a column that adds up
to a total shown with it, a part and its whole, two cells counting the same
patients), and calls :meth:`Layout.protect`.  That applies, once, for every
count of every table (patients, events, fills, sessions, courses):

1. small cells (1 .. threshold − 1 → ``"<N"``) and complementary suppression
   over the declared relations (:func:`analytics.results.privacy.suppress`);
2. derived figures: hidden where any count they are computed from is hidden
   (the column's ``base``, plus the cells named with :meth:`Layout.depends`).

The result is a ``dict`` of :class:`~analytics.results.table.Table` with their marks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.results.privacy import Mark, Relation, suppress
from analytics.results.table import Column, Kind, Table

CellRef = tuple[str, int, str]
"""(table name, row position, column name)."""


@dataclass
class _Entry:
    name: str
    title: str
    columns: tuple[Column, ...]
    frame: pd.DataFrame
    patient_level: bool
    note: str


class Layout:
    """The tables of one result before protection, and the relations between their cells."""

    def __init__(self, min_cell: int) -> None:
        self.min_cell = int(min_cell)
        self._entries: dict[str, _Entry] = {}
        self._offset: dict[tuple[str, str], int] = {}
        self._values: list[np.ndarray] = []
        self._starts: list[int] = []  # index of each array's first cell
        self._size = 0
        self._latent: list[int] = []
        self._shared: set[int] = set()
        self._relations: list[Relation] = []
        self._depends: list[tuple[CellRef, list[CellRef]]] = []

    # ------------------------------------------------------------------ tables

    def add(self, name: str, title: str, columns: Sequence[Column], frame: pd.DataFrame, *,
            patient_level: bool = False, note: str = "") -> None:
        """Add a table: ``frame`` holds one column per :class:`Column` (more are dropped)."""
        if name in self._entries:
            raise ValueError(f"table {name!r} added twice")
        columns = tuple(columns)
        missing = [c.name for c in columns if c.name not in frame.columns]
        if missing:
            raise ValueError(f"table {name!r} lacks columns {missing}")
        frame = frame[[c.name for c in columns]].reset_index(drop=True)
        self._entries[name] = _Entry(name, title, columns, frame, patient_level, note)
        if patient_level:
            return
        for column in columns:
            if column.is_count:
                values = pd.to_numeric(frame[column.name], errors="coerce")
                self._offset[(name, column.name)] = self._size
                self._append(values.fillna(0).to_numpy(dtype="float64"))

    def rows(self, name: str) -> int:
        return len(self._entries[name].frame)

    def cell(self, table: str, row: int, column: str) -> int:
        """Index of a count cell (row by position)."""
        n = self.rows(table)
        if not 0 <= row < n:
            raise IndexError(f"row {row} of table {table!r} ({n} rows)")
        return self._offset[(table, column)] + row

    def cells(self, table: str, column: str, rows: Iterable[int] | None = None) -> list[int]:
        """Indexes of a count column's cells (all rows, or the given positions)."""
        rows = range(self.rows(table)) if rows is None else rows
        return [self.cell(table, int(r), column) for r in rows]

    # ------------------------------------------------------------------ relations

    def latent(self, value: float) -> int:
        """A count that is not shown but follows from shown ones (protected when small)."""
        index = self._size
        self._append(np.array([float(value)]))
        self._latent.append(index)
        return index

    def _append(self, values: np.ndarray) -> None:
        self._starts.append(self._size)
        self._values.append(values)
        self._size += len(values)

    def sums(self, parts: Sequence[int], total: int) -> None:
        """The cells ``parts`` add up to the cell ``total``."""
        if parts:
            self._relations.append(Relation.sum_of(list(parts), total))

    def column_total(self, table: str, column: str, total: int,
                     rows: Iterable[int] | None = None, *, rest: float | None = None) -> None:
        """A column (or some rows of it) adds up to ``total``; ``rest`` is the part of the
        total not listed in the table (a latent count), when there is one."""
        parts = self.cells(table, column, rows)
        if rest is not None:
            parts.append(self.latent(rest))
        self.sums(parts, total)

    def part_of(self, part: int, whole: int) -> None:
        """``part`` counts a subset of ``whole``: the rest (whole − part) is a count too."""
        rest = self.value_at(whole) - self.value_at(part)
        self.sums([part, self.latent(rest)], whole)

    def difference(self, a: int, b: int) -> None:
        """``b − a`` is a count of its own (e.g. the patients in cohort B and not in A):
        not shown, protected when small (1 .. threshold − 1 either way)."""
        rest = self.value_at(b) - self.value_at(a)
        self._relations.append(Relation((a, self.latent(rest), b), (1.0, 1.0, -1.0)))

    def same(self, a: int, b: int) -> None:
        """Cells ``a`` and ``b`` count the same thing (so are hidden together)."""
        self._relations.append(Relation.same(a, b))

    def shared(self, *cells: int) -> None:
        """Cells that other views show with the same value (hidden as a last resort)."""
        self._shared.update(cells)

    def depends(self, ref: CellRef, on: Iterable[CellRef]) -> None:
        """The derived cell ``ref`` is hidden where any of ``on`` (count or derived) is."""
        self._depends.append((ref, list(on)))

    def value_at(self, index: int) -> float:
        """The value of a count cell (or latent count) by index."""
        if not 0 <= index < self._size:
            raise IndexError(index)
        k = bisect.bisect_right(self._starts, index) - 1
        return float(self._values[k][index - self._starts[k]])

    # ------------------------------------------------------------------ protection

    def protect(self) -> dict[str, Table]:
        """Apply small-cell, complementary and derived suppression; the protected tables."""
        values = np.concatenate(self._values) if self._values else np.zeros(0)
        latent = np.zeros(len(values), dtype=bool)
        latent[self._latent] = True
        shared = np.zeros(len(values), dtype=bool)
        shared[list(self._shared)] = True
        flat = suppress(values, self._relations, self.min_cell, latent=latent, shared=shared)
        marks: dict[str, dict[str, np.ndarray]] = {}
        for name, entry in self._entries.items():
            n = len(entry.frame)
            arrays = {c.name: np.full(n, Mark.SHOWN, dtype=np.int8) for c in entry.columns}
            if not entry.patient_level:
                for column in entry.columns:
                    if column.is_count:
                        start = self._offset[(name, column.name)]
                        arrays[column.name] = flat[start:start + n].astype(np.int8)
            marks[name] = arrays
        for name, entry in self._entries.items():
            if entry.patient_level:
                continue
            for column in entry.columns:
                if column.kind != Kind.DERIVED or not column.base:
                    continue
                hide = np.zeros(len(entry.frame), dtype=bool)
                for base in column.base:
                    hide |= self._base_hidden(marks, name, base, len(entry.frame))
                arrays = marks[name]
                arrays[column.name] = np.where(hide, Mark.HIDDEN, arrays[column.name]).astype(
                    np.int8)
        for (table, row, column), on in self._depends:
            if any(marks[t][c][r] != Mark.SHOWN for t, r, c in on):
                marks[table][column][row] = np.int8(Mark.HIDDEN)
        return {
            name: Table(name, entry.title, entry.columns, entry.frame,
                        pd.DataFrame(marks[name], index=entry.frame.index),
                        self.min_cell, entry.patient_level, entry.note)
            for name, entry in self._entries.items()
        }

    @staticmethod
    def _base_hidden(marks: dict[str, dict[str, np.ndarray]], table: str, base: str,
                     n: int) -> np.ndarray:
        """Hidden flags of a base: ``"column"`` (same row) or ``"table.column"`` (the first
        row of another table, e.g. the cohort's patient count)."""
        if "." in base:
            other, column = base.split(".", 1)
            hidden = marks[other][column][0] != Mark.SHOWN
            return np.full(n, bool(hidden))
        return marks[table][base] != Mark.SHOWN
