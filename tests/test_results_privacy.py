"""Small-cell and complementary suppression (analytics.results.privacy)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.results.privacy import (
    DEFAULT_MIN_CELL,
    HIDDEN_TEXT,
    Mark,
    Relation,
    determined_cells,
    mark_text,
    merge_rare_pathways,
    small_cells,
    small_text,
    suppress,
)

SHOWN, SMALL, HIDDEN = Mark.SHOWN, Mark.SMALL, Mark.HIDDEN


def test_small_cells_edges():
    assert DEFAULT_MIN_CELL == 11
    values = np.array([0, 1, 10, 11, 250, -3, -11, np.nan])
    assert small_cells(values).tolist() == [False, True, True, False, False, True, False, False]
    assert small_cells(np.array([4, 5]), min_cell=5).tolist() == [True, False]
    assert not small_cells(np.array([3, 1]), min_cell=0).any()
    assert not small_cells(np.array([3, 1]), min_cell=1).any()
    assert small_text() == "<11" and small_text(5) == "<5"
    assert mark_text(SMALL, 20) == "<20" and mark_text(HIDDEN, 20) == HIDDEN_TEXT == "hidden"


def test_no_relation_only_small_cells_are_hidden():
    marks = suppress(np.array([0, 1, 10, 11, 40]))
    assert marks.tolist() == [SHOWN, SMALL, SMALL, SHOWN, SHOWN]


def test_total_13_with_a_12_and_a_small_other_hides_the_12():
    # Summary 13 patients, a 12-patient pathway, "<11" other pathways: 13 - 12 = 1 would show.
    marks = suppress(np.array([13, 12, 1]), [Relation.sum_of([1, 2], 0)])
    assert marks.tolist() == [SHOWN, HIDDEN, SMALL]


def test_the_next_smallest_non_zero_cell_is_hidden_not_a_zero_and_not_the_total():
    # parts 5 (small), 0, 0, 50, 30; total 85: hide the 30 (next smallest non-zero part)
    marks = suppress(np.array([5, 0, 0, 50, 30, 85]), [Relation.sum_of([0, 1, 2, 3, 4], 5)])
    assert marks.tolist() == [SMALL, SHOWN, SHOWN, SHOWN, HIDDEN, SHOWN]


def test_when_all_other_cells_are_zero_the_total_is_hidden():
    # the total equals the small cell, so it is small itself
    marks = suppress(np.array([5, 0, 0, 5]), [Relation.sum_of([0, 1, 2], 3)])
    assert marks.tolist() == [SMALL, SHOWN, SHOWN, SMALL]
    # the other parts are 0 but an unshown part (e.g. the untreated) is large: nothing more
    marks = suppress(np.array([5, 0, 35, 40]), [Relation.sum_of([0, 1, 2], 3)],
                     latent=np.array([False, False, True, False]))
    assert marks.tolist() == [SMALL, SHOWN, HIDDEN, SHOWN]
    # ... and when that part is small too, both are small and neither follows
    marks = suppress(np.array([5, 0, 6, 11]), [Relation.sum_of([0, 1, 2], 3)],
                     latent=np.array([False, False, True, False]))
    assert marks.tolist() == [SMALL, SHOWN, SMALL, SHOWN]


def test_a_latent_rest_protects_when_it_is_large():
    # 40 patients, 35 on narcotics, rest 5 not shown: the rest is small and follows from
    # 40 - 35, so the part (35) is hidden.
    marks = suppress(np.array([35, 5, 40]), [Relation.sum_of([0, 1], 2)],
                     latent=np.array([False, True, False]))
    assert marks.tolist() == [HIDDEN, SMALL, SHOWN]


def test_a_shared_total_is_hidden_only_as_a_last_resort():
    # two rows; the first is a total shown elsewhere: hide the second, not the first
    values = np.array([250, 245, 5])
    relations = [Relation.sum_of([1, 2], 0)]
    latent = np.array([False, False, True])
    assert suppress(values, relations, latent=latent, shared=np.array([True, False, False])
                    ).tolist() == [SHOWN, HIDDEN, SMALL]
    # without the flag, the smaller of the two (a part) goes anyway
    assert suppress(values, relations, latent=latent).tolist() == [SHOWN, HIDDEN, SMALL]


def test_sessions_distribution_with_its_two_totals_hides_a_total():
    # bins 1 / 2 / 3+ sessions: 5, 100, 200; patients 305 = all bins, repeaters 300 = bins 2+.
    # The one-session bin is 305 - 300 whatever other bin is hidden: a total must go.
    values = np.array([5, 100, 200, 305, 300])
    relations = [Relation.sum_of([0, 1, 2], 3), Relation.sum_of([1, 2], 4)]
    marks = suppress(values, relations)
    assert marks.tolist() == [SMALL, SHOWN, SHOWN, HIDDEN, SHOWN]
    assert 0 not in determined_cells(values, relations, marks != SHOWN)


def test_same_cells_are_hidden_together():
    values = np.array([7, 7])
    assert suppress(values, [Relation.same(0, 1)]).tolist() == [SMALL, SMALL]
    values = np.array([30, 30, 12, 18, 3])  # 30 = 12 + 18 ... and a small cell tied to nothing
    marks = suppress(values, [Relation.same(0, 1), Relation.sum_of([2, 3], 0)])
    assert marks.tolist() == [SHOWN, SHOWN, SHOWN, SHOWN, SMALL]


def test_off():
    values = np.array([13, 12, 1])
    assert suppress(values, [Relation.sum_of([1, 2], 0)], min_cell=0).tolist() == [0, 0, 0]
    assert suppress(values, [Relation.sum_of([1, 2], 0)], min_cell=1).tolist() == [0, 0, 0]


# --------------------------------------------------------------------- the property


def _determined_values(values: np.ndarray, relations: list[Relation],
                       hidden: np.ndarray) -> dict[int, float]:
    """Independent check: the hidden cells whose value the shown cells fix, with the value.

    A hidden cell is determined iff its unit vector lies in the row space of the relation
    matrix restricted to the hidden cells (rank test); its value then follows from the
    least-squares solution of A_H x = -A_S v_S."""
    n = len(values)
    matrix = np.zeros((len(relations), n))
    for r, rel in enumerate(relations):
        for c, coef in zip(rel.cells, rel.coefficients, strict=True):
            matrix[r, c] += coef
    h = np.flatnonzero(hidden)
    s = np.flatnonzero(~hidden)
    a_h = matrix[:, h]
    rhs = -matrix[:, s] @ values[s]
    rank = np.linalg.matrix_rank(a_h) if a_h.size else 0
    solution = np.linalg.lstsq(a_h, rhs, rcond=None)[0] if a_h.size else np.zeros(0)
    out = {}
    for k, cell in enumerate(h):
        unit = np.zeros(len(h))
        unit[k] = 1
        if np.linalg.matrix_rank(np.vstack([a_h, unit])) == rank:
            out[int(cell)] = float(solution[k])
    return out


@st.composite
def tables(draw):
    """A small count table with row totals, column totals and a grand total (all shown
    unless small), some cells of it never shown (latent)."""
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 4))
    small_bias = st.one_of(st.integers(0, 12), st.integers(0, 60))
    body = np.array([[draw(small_bias) for _ in range(cols)] for _ in range(rows)],
                    dtype="float64")
    return body, draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols)), \
        draw(st.sampled_from([5, 11, 11, 20]))


def _layout(body: np.ndarray, latent_flags: list[bool]):
    rows, cols = body.shape
    values = list(body.ravel())
    index = {(r, c): r * cols + c for r in range(rows) for c in range(cols)}
    relations = []
    for r in range(rows):  # row totals
        values.append(body[r].sum())
        relations.append(Relation.sum_of([index[r, c] for c in range(cols)], len(values) - 1))
    for c in range(cols):  # column totals
        values.append(body[:, c].sum())
        relations.append(Relation.sum_of([index[r, c] for r in range(rows)], len(values) - 1))
    values.append(body.sum())  # the grand total of the row totals
    relations.append(Relation.sum_of([rows * cols + r for r in range(rows)], len(values) - 1))
    latent = np.zeros(len(values), dtype=bool)
    latent[: rows * cols] = np.array(latent_flags) & (np.arange(rows * cols) % 3 == 0)
    return np.array(values), relations, latent


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_hidden_small_value_can_be_derived(case):
    body, latent_flags, min_cell = case
    values, relations, latent = _layout(body, latent_flags)
    marks = suppress(values, relations, min_cell, latent=latent)
    hidden = marks != SHOWN
    small = (values >= 1) & (values < min_cell)
    assert (marks[small] == SMALL).all()  # every small count is hidden as small
    assert not (marks[~small & ~latent] == SMALL).any()
    for cell, value in _determined_values(values, relations, hidden).items():
        assert not (1 <= round(value) < min_cell), (cell, value, values, marks)
    # and the engine's own determinedness agrees with the independent check
    assert set(determined_cells(values, relations, hidden)) == set(
        _determined_values(values, relations, hidden))


@pytest.mark.parametrize("body", [
    [[1, 12, 30], [20, 25, 40]],
    [[0, 0, 3], [0, 0, 0]],
    [[11, 11], [11, 1]],
])
def test_hand_picked_tables(body):
    values, relations, latent = _layout(np.array(body, dtype="float64"),
                                        [False] * np.array(body).size)
    marks = suppress(values, relations)
    for value in _determined_values(values, relations, marks != SHOWN).values():
        assert not 1 <= round(value) <= 10


# --------------------------------------------------------------------- rare pathways


def counts() -> pd.DataFrame:
    rows = [
        ("pt > narcotic", ("pt", "narcotic"), 2, 50, 50.0),
        ("narcotic", ("narcotic",), 1, 20, 20.0),
        ("no treatment", (), 0, 5, 5.0),
        ("pt", ("pt",), 1, 10, 10.0),
        ("injection", ("injection",), 1, 8, 8.0),
        ("surgery", ("surgery",), 1, 7, 7.0),
    ]
    out = pd.DataFrame(rows, columns=["pathway", "steps", "n_steps", "patients", "percent"])
    return out.astype({"pathway": "string"})


def test_merge_rare_pathways_sums_and_keeps_no_treatment():
    out = merge_rare_pathways(counts())
    assert out["pathway"].tolist() == ["pt > narcotic", "narcotic", "no treatment",
                                       "other pathways"]
    # 10 + 8 + 7 = 25 patients, 25 percent
    assert out["patients"].tolist() == [50, 20, 5, 25]
    assert out["percent"].tolist() == [50.0, 20.0, 5.0, 25.0]
    assert out["steps"].tolist()[3] == ("other pathways",)
    assert out["steps"].tolist()[2] == ()
    assert pd.isna(out["n_steps"].iloc[3]) and out["n_steps"].iloc[0] == 2


def test_merge_rare_pathways_off_or_nothing_rare():
    pd.testing.assert_frame_equal(merge_rare_pathways(counts(), min_cell=0), counts())
    pd.testing.assert_frame_equal(merge_rare_pathways(counts(), min_cell=5), counts())
    # min_cell 8: only surgery (7) is rare
    out = merge_rare_pathways(counts(), min_cell=8)
    assert out["pathway"].tolist()[-1] == "other pathways"
    assert out["patients"].tolist()[-1] == 7
    assert len(out) == 6
