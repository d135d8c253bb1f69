"""Which feature-map cells to show, and where their boundaries fall on the image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import Level
from anchorctl.errors import AnchorError
from anchorctl.memory import check_fits

_BYTES_PER_CELL = 16  # a (row, col) pair of int64


def check_cells(feature_map: tuple[int, int], cells: Sequence[tuple[int, int]]) -> None:
    """Raise :class:`AnchorError` naming the first of ``cells`` outside ``feature_map``."""
    rows, cols = feature_map
    for row, col in cells:
        if not (0 <= row < rows and 0 <= col < cols):
            raise AnchorError(
                f"cell ({row},{col}) is outside the {rows}x{cols} feature map "
                f"(rows 0..{rows - 1}, cols 0..{cols - 1})"
            )


def count_cells(
    feature_map: tuple[int, int],
    cells: Sequence[tuple[int, int]] = (),
    every: int | None = None,
    all_cells: bool = False,
) -> int:
    """How many cells :func:`select_cells` returns for these arguments, without making them."""
    rows, cols = feature_map
    if all_cells:
        every = 1
    if every is not None:
        if every < 1:
            raise AnchorError(f"every: {every} must be at least 1")
        return -(-rows // every) * -(-cols // every)
    return len(set(cells)) if cells else 1


def select_cells(
    feature_map: tuple[int, int],
    cells: Sequence[tuple[int, int]] = (),
    every: int | None = None,
    all_cells: bool = False,
) -> npt.NDArray[np.int64]:
    """``(M, 2)`` ``(row, col)`` pairs, row-major, without repeats.

    ``all_cells`` takes every cell; ``every = n`` every n-th row and column starting at 0;
    ``cells`` the listed ones; with none of these, the centre cell ``(rows // 2, cols // 2)``.
    Raises :class:`AnchorError` for a cell outside the map, and before allocating when the
    pairs would not fit in free memory.
    """
    rows, cols = feature_map
    if all_cells:
        every = 1
    if every is not None:
        count = count_cells(feature_map, every=every)
        check_fits(
            count * _BYTES_PER_CELL,
            f"{count:,} cells",
            "choose fewer cells with a larger --every, or a smaller feature map",
        )
        rr, cc = np.meshgrid(
            np.arange(0, rows, every, dtype=np.int64),
            np.arange(0, cols, every, dtype=np.int64),
            indexing="ij",
        )
        return np.stack([rr.ravel(), cc.ravel()], axis=1)
    if not cells:
        return np.array([[rows // 2, cols // 2]], dtype=np.int64)
    check_cells(feature_map, cells)
    unique = sorted(set(cells))
    return np.array(unique, dtype=np.int64).reshape(-1, 2)


def grid_lines(
    level: Level, scale: tuple[float, float]
) -> tuple[list[float], list[float], npt.NDArray[np.float64]]:
    """Cell boundaries and anchor centres of ``level`` in pixels.

    ``scale`` is ``(x, y)`` pixels per unit of the convention (the image size for normalized
    conventions, the image over the network input for pixel ones). Cell (r, c) spans
    ``[c * stride_x, (c + 1) * stride_x] x [r * stride_y, (r + 1) * stride_y]``; its anchors
    are centred at ``center0 + (c * stride_x, r * stride_y)``, wherever the convention puts
    them (the cell centre for SSD, its top-left corner for torchvision). Returns
    ``(xs, ys, centers)`` with ``centers`` ``(rows*cols, 2)`` ``(x, y)``, row-major.
    """
    rows, cols = level.feature_map
    step_y, step_x = level.stride
    sx, sy = scale
    xs = [c * step_x * sx for c in range(cols + 1)]
    ys = [r * step_y * sy for r in range(rows + 1)]
    cx = (level.center0[0] + np.arange(cols) * step_x) * sx
    cy = (level.center0[1] + np.arange(rows) * step_y) * sy
    gx, gy = np.meshgrid(cx, cy)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


def cell_anchors(level: Level, cells: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """The anchors of ``cells`` (``(M, 2)`` row, col) in ``level``: ``(M*k, 4)``, cell by cell,
    computed for those cells only (never the whole map)."""
    return level.at(cells)
