"""anchorctl.cells: which cells `draw` shows, and where the grid lines and centres fall."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.cells import check_cells, count_cells, grid_lines, select_cells
from anchorctl.conventions import mxnet
from anchorctl.conventions.base import Level
from anchorctl.conventions.mxnet import MultiBoxPriorSpec, anchors_at
from anchorctl.errors import AnchorError


def level_of(spec: MultiBoxPriorSpec) -> Level:
    params = {"feature_maps": [spec.feature_map], "sizes": [spec.sizes],
              "ratios": [spec.ratios], "steps": [spec.steps], "offsets": spec.offsets}  # fmt: skip
    return mxnet.generate(params)[0]


@pytest.mark.parametrize(
    ("feature_map", "centre"),
    [((1, 1), (0, 0)), ((4, 4), (2, 2)), ((5, 5), (2, 2)), ((3, 8), (1, 4)), ((8, 3), (4, 1))],
)
def test_default_is_the_centre_cell(feature_map: tuple[int, int], centre: tuple[int, int]) -> None:
    assert select_cells(feature_map).tolist() == [list(centre)]


def test_listed_cells_are_sorted_row_major_without_repeats() -> None:
    chosen = select_cells((8, 8), [(5, 5), (2, 3), (5, 5), (2, 1)])
    assert chosen.dtype == np.int64
    assert chosen.tolist() == [[2, 1], [2, 3], [5, 5]]


@pytest.mark.parametrize("cell", [(4, 0), (0, 4), (4, 4), (10, 2)])
def test_a_cell_outside_the_map_is_refused_with_the_valid_range(cell: tuple[int, int]) -> None:
    with pytest.raises(AnchorError, match=r"outside the 4x4 feature map \(rows 0..3, cols 0..3\)"):
        select_cells((4, 4), [(1, 1), cell])
    with pytest.raises(AnchorError, match=rf"cell \({cell[0]},{cell[1]}\)"):
        check_cells((4, 4), [cell])


def test_check_cells_accepts_the_corners() -> None:
    check_cells((3, 5), [(0, 0), (2, 4), (0, 4), (2, 0)])


def test_every_takes_every_nth_row_and_column_from_zero() -> None:
    chosen = select_cells((5, 7), every=3)
    assert chosen.tolist() == [[r, c] for r in (0, 3) for c in (0, 3, 6)]


def test_all_cells_is_every_cell_in_row_major_order() -> None:
    chosen = select_cells((3, 4), all_cells=True)
    assert chosen.tolist() == [[r, c] for r in range(3) for c in range(4)]


def test_every_below_one_is_refused() -> None:
    with pytest.raises(AnchorError, match="at least 1"):
        select_cells((4, 4), every=0)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    every=st.none() | st.integers(1, 12),
    all_cells=st.booleans(),
    cells=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=6),
)
def test_count_cells_matches_select_cells(
    rows: int, cols: int, every: int | None, all_cells: bool, cells: list[tuple[int, int]]
) -> None:
    cells = [(r % rows, c % cols) for r, c in cells]
    if all_cells or every is not None:
        cells = []
    expected = len(select_cells((rows, cols), cells, every, all_cells))
    assert count_cells((rows, cols), cells, every, all_cells) == expected


def test_select_cells_refuses_a_selection_too_big_for_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANCHORCTL_MAX_BYTES", str(1 << 20))
    with pytest.raises(AnchorError, match=r"1,000,000 cells need 15\.3 MiB"):
        select_cells((1000, 1000), all_cells=True)
    # a sparse --every over the same map fits
    assert len(select_cells((1000, 1000), every=100)) == 100


def test_a_huge_map_is_refused_before_any_allocation() -> None:
    # 10^10 cells are ~149 GiB as int64 pairs; this must be an AnchorError, not a MemoryError.
    with pytest.raises(AnchorError, match="GiB"):
        select_cells((100_000, 100_000), all_cells=True)


@pytest.mark.parametrize(
    ("feature_map", "size", "offsets", "steps"),
    [
        ((4, 4), (451, 300), (0.5, 0.5), None),
        ((3, 5), (640, 427), (0.5, 0.5), None),
        ((2, 3), (100, 80), (0.25, 0.75), None),
        ((2, 2), (200, 200), (0.5, 0.5), (0.25, 0.3)),
    ],
)
def test_grid_centres_are_the_anchor_centres(
    feature_map: tuple[int, int],
    size: tuple[int, int],
    offsets: tuple[float, float],
    steps: tuple[float, float] | None,
) -> None:
    spec = MultiBoxPriorSpec((0.3,), (1.0, 2.0), feature_map, steps, offsets)
    xs, ys, centers = grid_lines(level_of(spec), size)
    rows, cols = feature_map
    assert centers.shape == (rows * cols, 2)
    boxes = anchors_at(spec, select_cells(feature_map, all_cells=True)).astype(np.float64)
    # every slot of a cell shares its centre: the middle of each anchor box
    mid_x = (boxes[:, 0] + boxes[:, 2]) / 2 * size[0]
    mid_y = (boxes[:, 1] + boxes[:, 3]) / 2 * size[1]
    k = spec.per_cell
    np.testing.assert_allclose(centers[:, 0], mid_x[::k], atol=1e-3)
    np.testing.assert_allclose(centers[:, 1], mid_y[::k], atol=1e-3)
    # boundaries: one more than cells, evenly spaced by the step, starting at 0
    step_y = steps[0] if steps else 1 / rows
    step_x = steps[1] if steps else 1 / cols
    np.testing.assert_allclose(xs, [c * step_x * size[0] for c in range(cols + 1)], rtol=1e-6)
    np.testing.assert_allclose(ys, [r * step_y * size[1] for r in range(rows + 1)], rtol=1e-6)
    # each centre sits offset_x (offset_y) of the way across its cell
    grid_x = centers[:, 0].reshape(rows, cols)
    grid_y = centers[:, 1].reshape(rows, cols)
    np.testing.assert_allclose(
        grid_x[0], [xs[c] + offsets[1] * (xs[c + 1] - xs[c]) for c in range(cols)], atol=1e-3
    )
    np.testing.assert_allclose(
        grid_y[:, 0], [ys[r] + offsets[0] * (ys[r + 1] - ys[r]) for r in range(rows)], atol=1e-3
    )


def test_default_grid_spans_the_whole_image() -> None:
    spec = MultiBoxPriorSpec((0.2,), (1.0,), (4, 6))
    xs, ys, _ = grid_lines(level_of(spec), (451, 300))
    assert xs[0] == 0 and ys[0] == 0
    assert xs[-1] == pytest.approx(451, abs=1e-3) and ys[-1] == pytest.approx(300, abs=1e-3)
