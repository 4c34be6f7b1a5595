"""Small-cell and complementary suppression (docs/definitions.md, section 15).

The engine of the results layer's privacy boundary.  It works on a flat vector
of counts and the linear relations that hold between them by definition (parts
that add up to a total, a part and the whole it belongs to, two cells that count
the same thing); :mod:`analytics.results.layout` lays a result's tables out on
such a vector.  Nothing here knows about tables, pages or files.

- **Small cells.**  A count from 1 to ``min_cell - 1`` (default threshold 11,
  the CMS cell-size policy) is hidden and shown as ``"<min_cell"``
  (:data:`Mark.SMALL`).  A difference of two counts is small when its absolute
  value is.  ``min_cell`` 0 or 1 turns suppression off.
- **Complementary suppression.**  A hidden cell is *determined* when the shown
  cells and the relations fix its value: in linear-algebra terms, when its unit
  vector lies in the row space of the relation matrix restricted to the hidden
  cells (equivalently, every solution of the homogeneous system has a zero in
  its place).  While a small cell is determined, one more cell is hidden
  (:data:`Mark.HIDDEN`): the smallest non-zero cell sharing a relation with it
  that makes it undetermined, preferring cells that are not totals and cells
  that other views do not show; a total only when no other cell can; a zero
  cell last (a hidden zero next to a small cell leaves the small cell known
  from its total).  Cells that are never shown (*latent*: e.g. the patients
  with exactly one session, which are the difference of two shown counts) are
  hidden from the start and protected like any other when they are small.

This proves that no hidden small count can be computed exactly from what is
shown.  It does not bound the range an attacker can narrow a hidden cell to by
combining the relations with the knowledge that a ``"<11"`` cell lies in 1..10.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd

DEFAULT_MIN_CELL = 11
OTHER_PATHWAYS = "other pathways"
HIDDEN_TEXT = "hidden"
_TOLERANCE = 1e-9
_PAIR_CANDIDATES = 24  # candidates tried in pairs when no single cell will do


class Mark(IntEnum):
    """How a cell is shown."""

    SHOWN = 0
    SMALL = 1  # a count from 1 to min_cell - 1: shown as "<min_cell"
    HIDDEN = 2  # hidden so that no small count can be worked out, or derived from a hidden cell


def small_text(min_cell: int = DEFAULT_MIN_CELL) -> str:
    """The text that replaces a small count, e.g. ``"<11"``."""
    return f"<{min_cell}"


def mark_text(mark: int, min_cell: int = DEFAULT_MIN_CELL) -> str:
    """The text of a hidden cell: ``"<11"`` for a small count, ``"hidden"`` otherwise."""
    return small_text(min_cell) if mark == Mark.SMALL else HIDDEN_TEXT


def suppression_on(min_cell: int) -> bool:
    """Whether ``min_cell`` asks for suppression at all (0 and 1 turn it off)."""
    return min_cell > 1


def small_cells(values: np.ndarray, min_cell: int = DEFAULT_MIN_CELL) -> np.ndarray:
    """Boolean per value: ``1 <= |value| <= min_cell - 1`` (NaN is never small)."""
    values = np.asarray(values, dtype="float64")
    if not suppression_on(min_cell):
        return np.zeros(values.shape, dtype=bool)
    size = np.abs(values)
    return (size >= 1) & (size < min_cell)


@dataclass(frozen=True)
class Relation:
    """``sum(coefficients[k] * value[cells[k]]) == 0`` holds by definition.

    ``total`` is the cell that is the sum of the others (None for an equality
    such as "these two cells count the same patients").
    """

    cells: tuple[int, ...]
    coefficients: tuple[float, ...]
    total: int | None = None

    @classmethod
    def sum_of(cls, parts: Sequence[int], total: int) -> Relation:
        """The ``parts`` add up to ``total``."""
        parts = [p for p in parts if p != total]
        return cls((*parts, total), (1.0,) * len(parts) + (-1.0,), total)

    @classmethod
    def same(cls, a: int, b: int) -> Relation:
        """Cells ``a`` and ``b`` always hold the same value."""
        return cls((a, b), (1.0, -1.0))


def _undetermined(cells: np.ndarray, relations: Sequence[Relation]) -> np.ndarray:
    """Boolean per cell of ``cells`` (the hidden cells of one component): True when the
    relations leave its value open given every other cell."""
    position = {int(c): k for k, c in enumerate(cells)}
    rows = []
    for rel in relations:
        row = np.zeros(len(cells))
        touched = False
        for c, coef in zip(rel.cells, rel.coefficients, strict=True):
            k = position.get(c)
            if k is not None:
                row[k] += coef
                touched = True
        if touched and np.any(row):
            rows.append(row)
    if not rows:
        return np.ones(len(cells), dtype=bool)
    matrix = np.vstack(rows)
    _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int((singular > _TOLERANCE * max(1.0, singular[0])).sum())
    null_space = vt[rank:]
    if len(null_space) == 0:
        return np.zeros(len(cells), dtype=bool)
    return np.linalg.norm(null_space, axis=0) > 1e-7


class _Solver:
    """Determinedness of hidden cells under fixed relations (one component at a time)."""

    def __init__(self, n: int, relations: Sequence[Relation]) -> None:
        self.n = n
        self.relations = list(relations)
        self.by_cell: list[list[int]] = [[] for _ in range(n)]
        for r, rel in enumerate(self.relations):
            for c in rel.cells:
                self.by_cell[c].append(r)
        # A component's relations follow from its hidden cells: its answer is kept, so a
        # round that hides one more cell solves only the component that changed.
        self._solved: dict[tuple[int, ...], np.ndarray] = {}
        self.related = np.array([bool(r) for r in self.by_cell], dtype=bool)
        # Union-find of the hidden cells joined through relations, grown as cells are
        # hidden (suppression only ever adds hidden cells).
        self._parent: dict[int, int] = {}
        self._joined = np.zeros(n, dtype=bool)

    def undetermined(self, cells: np.ndarray, relations: Sequence[Relation]) -> np.ndarray:
        """:func:`_undetermined` of a component, kept per set of hidden cells."""
        key = tuple(int(c) for c in cells)
        if key not in self._solved:
            self._solved[key] = _undetermined(cells, relations)
        return self._solved[key]

    def component(self, cell: int, hidden: np.ndarray) -> tuple[np.ndarray, list[Relation]]:
        """The hidden cells joined to ``cell`` through relations, and those relations."""
        seen_cells, seen_rel = {cell}, set()
        stack = [cell]
        while stack:
            c = stack.pop()
            for r in self.by_cell[c]:
                if r in seen_rel:
                    continue
                seen_rel.add(r)
                for other in self.relations[r].cells:
                    if hidden[other] and other not in seen_cells:
                        seen_cells.add(other)
                        stack.append(other)
        cells = np.array(sorted(seen_cells), dtype=np.int64)
        return cells, [self.relations[r] for r in sorted(seen_rel)]

    def is_determined(self, cell: int, hidden: np.ndarray) -> bool:
        cells, relations = self.component(cell, hidden)
        free = self.undetermined(cells, relations)
        return not bool(free[np.searchsorted(cells, cell)])

    def determined(self, hidden: np.ndarray, sensitive: np.ndarray) -> np.ndarray:
        """Indexes of the sensitive hidden cells whose value the relations fix."""
        out: list[int] = []
        todo = np.flatnonzero(hidden & sensitive & self.related)
        if len(todo) == 0:
            return np.zeros(0, dtype=np.int64)
        self._join(hidden)
        members = np.flatnonzero(hidden & self.related)
        labels = np.array([self._find(int(c)) for c in members], dtype=np.int64)
        wanted = np.isin(labels, [self._find(int(c)) for c in todo])
        members, labels = members[wanted], labels[wanted]
        order = np.argsort(labels, kind="stable")
        members, labels = members[order], labels[order]
        cuts = np.flatnonzero(np.diff(labels)) + 1
        for cells in np.split(members, cuts):  # one component after another (sorted cells)
            key = tuple(cells.tolist())
            free = self._solved.get(key)
            if free is None:
                rows = sorted({r for c in key for r in self.by_cell[c]})
                free = self.undetermined(cells, [self.relations[r] for r in rows])
            out.extend(int(c) for c in cells[~free] if sensitive[c])
        return np.array(sorted(out), dtype=np.int64)

    def _find(self, cell: int) -> int:
        parent = self._parent
        root = cell
        while parent.get(root, root) != root:
            root = parent[root]
        while cell != root:  # path compression
            parent[cell], cell = root, parent.get(cell, cell)
        return root

    def _join(self, hidden: np.ndarray) -> None:
        """Join every newly hidden cell with the hidden cells of its relations."""
        if (self._joined & ~hidden).any():  # a cell was shown again: start over
            self._parent.clear()
            self._joined[:] = False
        for cell in np.flatnonzero(hidden & ~self._joined & self.related).tolist():
            for r in self.by_cell[cell]:
                for other in self.relations[r].cells:
                    if other != cell and hidden[other]:
                        a, b = self._find(cell), self._find(other)
                        if a != b:
                            self._parent[b] = a
        self._joined = hidden.copy()

    def neighbours(self, cell: int) -> list[int]:
        """Cells sharing a relation with ``cell``."""
        return sorted({c for r in self.by_cell[cell] for c in self.relations[r].cells} - {cell})

    def reachable(self, cell: int) -> list[int]:
        """Cells joined to ``cell`` through any chain of relations."""
        seen, stack = {cell}, [cell]
        while stack:
            c = stack.pop()
            for other in self.neighbours(c):
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        return sorted(seen - {cell})


def suppress(
    values: np.ndarray,
    relations: Sequence[Relation] = (),
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    latent: np.ndarray | None = None,
    shared: np.ndarray | None = None,
) -> np.ndarray:
    """The :class:`Mark` of every count in ``values`` (an int8 array of the same length).

    ``relations`` hold between the cells (indexes into ``values``); ``latent``
    marks cells that are never shown (hidden from the start, protected when
    small); ``shared`` marks cells that other views show with the same value
    (e.g. the cohort's patient count), hidden as a complement only when nothing
    else can be.  ``min_cell`` 0 or 1: every cell is shown (latent cells
    hidden).
    """
    values = np.asarray(values, dtype="float64")
    n = len(values)
    latent = np.zeros(n, dtype=bool) if latent is None else np.asarray(latent, dtype=bool)
    shared = np.zeros(n, dtype=bool) if shared is None else np.asarray(shared, dtype=bool)
    small = small_cells(values, min_cell)
    marks = np.where(small, Mark.SMALL, np.where(latent, Mark.HIDDEN, Mark.SHOWN)).astype(np.int8)
    if not small.any() or not relations:
        return marks
    hidden = small | latent
    solver = _Solver(n, relations)
    is_total = np.zeros(n, dtype=bool)
    for rel in relations:
        if rel.total is not None:
            is_total[rel.total] = True
    determined = set(solver.determined(hidden, small).tolist())
    while determined:
        cell = min(determined)
        complement = _complement(cell, values, hidden, latent, shared, is_total, solver)
        if complement is None:  # every related cell is hidden already: cannot happen when the
            break  # relations are consistent with the values (the true values are a solution)
        hidden[complement] = True
        # Only the component the newly hidden cell joins can change: a component it is not
        # joined to has no relation with it, so its hidden cells are as determined as before.
        cells, rels = solver.component(complement, hidden)
        free = solver.undetermined(cells, rels)
        determined -= set(cells.tolist())
        determined |= {int(c) for c in cells[~free] if small[c]}
    marks[hidden & ~small & ~latent] = Mark.HIDDEN
    return marks


def _complement(
    cell: int,
    values: np.ndarray,
    hidden: np.ndarray,
    latent: np.ndarray,
    shared: np.ndarray,
    is_total: np.ndarray,
    solver: _Solver,
) -> int | None:
    """The cell to hide next so that ``cell`` is no longer determined.

    Candidates are the shown cells sharing a relation with ``cell`` (then those
    reached through further relations), in the order: not shared with other
    views, not a total, not zero, smallest value, first index.  The first whose
    hiding leaves ``cell`` undetermined is taken; when none does alone, the better
    cell of the first pair that does (the other follows in the next round); failing
    that, the first candidate, and the search goes on from there.
    """
    def order(pool: list[int]) -> list[int]:
        shown = [c for c in pool if not hidden[c] and not latent[c]]
        return sorted(shown, key=lambda c: (bool(shared[c]), bool(is_total[c]), values[c] == 0,
                                            abs(values[c]), c))

    near = order(solver.neighbours(cell))
    far = order(sorted(set(solver.reachable(cell)) - set(near)))
    candidates = near + far

    def frees(cells: tuple[int, ...]) -> bool:
        hidden[list(cells)] = True
        still = solver.is_determined(cell, hidden)
        hidden[list(cells)] = False
        return not still

    for c in candidates:
        if frees((c,)):
            return c
    # No single cell frees it (e.g. a count that two published totals pin): the first pair
    # that does, in the order of preference, then its better cell now and the other next.
    head = candidates[:_PAIR_CANDIDATES]
    for j in range(1, len(head)):
        for i in range(j):
            if frees((head[i], head[j])):
                return head[i]
    return candidates[0] if candidates else None


def determined_cells(
    values: np.ndarray, relations: Sequence[Relation], hidden: np.ndarray
) -> np.ndarray:
    """Indexes of the hidden cells whose value follows from the shown cells and the relations.

    Used by the tests to check :func:`suppress`; ``values`` only sizes the problem.
    """
    n = len(values)
    hidden = np.asarray(hidden, dtype=bool)
    return _Solver(n, relations).determined(hidden, hidden)


def merge_rare_pathways(counts: pd.DataFrame, min_cell: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """Merge pathways with 1 .. min_cell-1 patients into one "other pathways" row.

    ``counts`` is :func:`analytics.pathways.pathway_counts` output
    (``pathway``, ``steps``, ``n_steps``, ``patients``, optional ``percent``).
    Rows with ``0 < patients < min_cell``, except the "no treatment" row
    (``steps == ()``), are replaced by one row ``pathway = "other pathways"``,
    ``steps = ("other pathways",)``, ``n_steps`` NA (mixed lengths; the
    column becomes ``Int64``), ``patients`` = their sum and ``percent`` = the
    sum of their percents; it is placed after the kept rows, which keep their
    order.  Nothing rare (or ``min_cell`` <= 1): an unchanged copy.
    """
    out = counts.copy()
    if not suppression_on(min_cell) or len(out) == 0:
        return out
    untreated = np.array([len(s) == 0 for s in out["steps"]], dtype=bool)
    patients = out["patients"].to_numpy(dtype="int64")
    rare = (patients > 0) & (patients < min_cell) & ~untreated
    if not rare.any():
        return out
    kept = out[~rare]
    other = {
        "pathway": OTHER_PATHWAYS,
        "steps": (OTHER_PATHWAYS,),
        "n_steps": pd.NA,
        "patients": int(patients[rare].sum()),
    }
    if "percent" in out.columns:
        other["percent"] = float(out.loc[rare, "percent"].sum())
    row = pd.DataFrame({c: [other.get(c, pd.NA)] for c in out.columns})
    row["steps"] = pd.Series([other["steps"]], dtype=object)
    merged = pd.concat([kept, row], ignore_index=True)
    merged = merged.astype({
        "pathway": "string",
        "n_steps": "Int64",
        "patients": "int64",
        **({"percent": "float64"} if "percent" in out.columns else {}),
    })
    merged["steps"] = merged["steps"].astype(object)
    return merged.reset_index(drop=True)
