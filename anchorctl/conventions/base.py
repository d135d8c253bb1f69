"""What every convention module provides, and the shapes of what it returns.

A convention module (``anchorctl/conventions/<family>.py``) holds, in one place:

* ``RULES``: a :class:`Rules` record stating units, what size and ratio mean, the per-cell
  order, the centre rule, rounding, clipping, the native box format and the sources;
* ``OPTIONS``: the :class:`Option` s it reads (``sizes``, ``ratios``, ``strides``, ...), each
  with what it means *in this framework's words*; any other option given is an error;
* ``generate(params) -> list[Level]``: the anchors of every level, computed in the
  framework's own dtype and order of operations. ``generate`` validates and builds each
  level's :class:`Grid` (work in proportion to the levels and shapes, never to the map);
  the anchors themselves are computed when read, whole (:attr:`Level.array`), in blocks
  (:meth:`Level.iter_blocks`) or for some cells (:meth:`Level.at`).

``params`` is a :class:`Params` mapping from option name to value. Per-level options hold one
entry per level (a single entry applies to every level); see :func:`per_level`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

BOX_FORMATS = ("xyxy", "yxyx", "cxcywh")

# What bit-exactness means for a convention whose framework takes float32 square roots in
# torch: anchorctl's sqrt is correctly rounded, as torch's is on most CPUs.
TORCH_SQRT = (
    "float32 sqrt correctly rounded; on some CPUs torch's own float32 sqrt is not (0.65% of "
    "random ratios, none of the common ones), and such a shape is then one float32 step off"
)

# Kinds of option value, as the command line and config files spell them:
#   floats  "0.5,1,2"        -> tuple[float, ...]
#   float   "0.5"            -> float
#   int     "3"              -> int
#   yx      "16" or "16,8"   -> tuple[float, float] as (y, x); one number means both
#   whs     "10x13,16x30"    -> tuple[tuple[float, float], ...] of (width, height) pairs
#   flag    (present or not) -> bool
OPTION_KINDS = ("floats", "float", "int", "yx", "whs", "flag")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Option:
    """An option a convention reads.

    ``name`` is the ``params`` key and, with ``_`` as ``-``, the command-line option. A
    ``per_level`` option holds a list with one value per feature map (one value applies to
    all); ``default`` is used when the user gives none (``None``: required, or unused).
    """

    name: str
    kind: str
    help: str
    per_level: bool = False
    default: Any = None


@dataclass(frozen=True)
class Rules:
    """A convention's rules, written where its code lives and shown to users verbatim."""

    name: str
    title: str
    units: str
    size_meaning: str
    ratio_meaning: str
    order: str
    centre: str
    rounding: str
    clip: str
    native_format: str
    sources: tuple[str, ...]
    normalized: bool = False  # coordinates are fractions of the image, not pixels
    exactness: str = ""  # what matching the framework bit for bit depends on, if anything

    def summary(self) -> str:
        """One line for table titles and legends."""
        return f"{self.title} · {self.units} · ratio = {self.ratio_meaning}"


@dataclass(frozen=True)
class CellShape:
    """One per-cell shape: its slot, the parameters that made it, and its extent.

    ``width`` and ``height`` are in the convention's units (as the generated boxes measure).
    """

    slot: int
    params: Mapping[str, float]
    width: float
    height: float

    def label(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.params.items())


XYXY: tuple[tuple[int, int], ...] = ((0, 0), (1, 0), (0, 1), (1, 1))
"""Layout of a corner-form grid: ``x_part`` holds ``(x1, x2)``, ``y_part`` ``(y1, y2)``."""

if TYPE_CHECKING:  # a type checker's name only: numpy.typing costs start-up time
    Part = Callable[[npt.NDArray[np.int64]], npt.NDArray[Any]]


@dataclass(frozen=True)
class Grid:
    """Anchors that separate by axis, computed on demand and in blocks.

    In every convention here an anchor's x coordinates depend only on its column and slot,
    and its y coordinates only on its row and slot. ``x_part(cols)`` returns, for an
    ``(n,)`` int64 array of column indices, the ``(n, k, nx)`` x values exactly as the
    framework computes them (its dtype and order of operations); ``y_part(rows)`` the
    ``(n, k, ny)`` y values. Output column ``j`` of an anchor is ``part[layout[j][1]]`` of
    the x part (``layout[j][0] == 0``) or the y part (``1``): for corner form,
    :data:`XYXY`. Assembling the rows copies values, never recomputes them, so the blocks
    equal the framework's array bit for bit. ``clip`` clamps every output value afterwards.

    Index ``(row * cols + col) * k + slot``, rows outer.
    """

    feature_map: tuple[int, int]
    per_cell: int
    x_part: Part = field(repr=False)
    y_part: Part = field(repr=False)
    layout: tuple[tuple[int, int], ...] = XYXY
    dtype: Any = np.float32
    clip: tuple[float, float] | None = None
    # check(rows, cols, far): raises when the anchors of those rows and columns are not
    # boxes in the dtype (see conventions.checks.extents); run before anchors are made.
    check: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64], bool], None] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def count(self) -> int:
        rows, cols = self.feature_map
        return rows * cols * self.per_cell

    @property
    def columns(self) -> int:
        return len(self.layout)

    @property
    def row_bytes(self) -> int:
        """Bytes of one feature-map row of anchors."""
        item = int(np.dtype(self.dtype).itemsize)
        return self.feature_map[1] * self.per_cell * self.columns * item

    def parts(
        self, rows: npt.ArrayLike, cols: npt.ArrayLike
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """``(x_part(cols), y_part(rows))``, numpy's overflow warnings silenced (the callers
        check for non-finite values and refuse them in words)."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        c = np.asarray(cols, dtype=np.int64).reshape(-1)
        with np.errstate(all="ignore"):
            return self.x_part(c), self.y_part(r)

    def _assemble(self, xp: npt.NDArray[Any], yp: npt.NDArray[Any], out: npt.NDArray[Any]) -> None:
        """``out`` ``(n_rows, n_cols, k, columns)`` from ``xp`` ``(n_cols, k, nx)`` and ``yp``
        ``(n_rows, k, ny)``, in one pass: a row of x values and a column of y values, each
        with -0.0 where the other's values go, added. ``v + (-0.0) == v`` for every float
        ``v`` (signed zeros, infinities and NaN included), so the sum only places values."""
        x_row = np.full(out.shape[1:], -0.0, dtype=self.dtype)
        y_col = np.full((out.shape[0], 1, *out.shape[2:]), -0.0, dtype=self.dtype)
        for j, (axis, i) in enumerate(self.layout):
            if axis == 0:
                x_row[..., j] = xp[..., i]
            else:
                y_col[:, 0, :, j] = yp[..., i]
        np.add(x_row[None], y_col, out=out)
        if self.clip is not None:
            lo, hi = self.clip
            np.clip(out, self.dtype(lo), self.dtype(hi), out=out)

    def _pieces(self, block_bytes: int) -> Iterator[tuple[int, int, int, int, npt.NDArray[Any]]]:
        """``(r0, r1, c0, c1, x_part)``: the map in order, in pieces of about ``block_bytes``.

        Whole rows per piece when a row fits (the x part computed once); otherwise each row
        in column chunks. The far cells are checked first (see ``checks.extents``).
        """
        rows, cols = self.feature_map
        if self.check is not None:  # the last row and column hold the largest coordinates
            self.check(np.array([rows - 1]), np.array([cols - 1]), True)
        per_row = block_bytes // max(1, self.row_bytes)
        if per_row >= 1:
            xp, _ = self.parts([], np.arange(cols))
            for r0 in range(0, rows, per_row):
                yield r0, min(rows, r0 + per_row), 0, cols, xp
            return
        item = np.dtype(self.dtype).itemsize
        per_chunk = max(1, block_bytes // (self.per_cell * self.columns * item))
        for r in range(rows):
            for c0 in range(0, cols, per_chunk):
                c1 = min(cols, c0 + per_chunk)
                xp, _ = self.parts([], np.arange(c0, c1))
                yield r, r + 1, c0, c1, xp

    def _fill(self, xp: npt.NDArray[Any], r0: int, r1: int, out: npt.NDArray[Any]) -> None:
        """Rows ``r0 .. r1`` of the columns ``xp`` covers, into ``out`` ``(n, m, k, columns)``."""
        _, yp = self.parts(np.arange(r0, r1), [])
        with np.errstate(all="ignore"):
            self._assemble(xp, yp, out)

    def blocks(self, block_bytes: int = 1 << 22) -> Iterator[npt.NDArray[Any]]:
        """Every anchor in consecutive ``(n, columns)`` blocks of about ``block_bytes``, in order.

        Whole rows per block when a row fits; otherwise each row in column chunks, so memory
        stays near ``block_bytes`` whatever the feature map.
        """
        k, width = self.per_cell, self.columns
        for r0, r1, c0, c1, xp in self._pieces(block_bytes):
            out = np.empty((r1 - r0, c1 - c0, k, width), dtype=self.dtype)
            self._fill(xp, r0, r1, out)
            yield out.reshape(-1, width)

    def array(self) -> npt.NDArray[Any]:
        """Every anchor as one ``(rows*cols*k, columns)`` array, written in place block by
        block; :class:`TooLarge` first when it cannot fit in the memory this process may
        still use."""
        from anchorctl.memory import allocate

        out: npt.NDArray[Any] = allocate(
            (self.count, self.columns),
            self.dtype,
            f"{self.count:,} anchors as {np.dtype(self.dtype).name}",
            "stream them (`anchorctl list --all --format npy -o FILE`), or use a smaller "
            "feature map or fewer shapes per cell",
        )
        rows, cols = self.feature_map
        view = out.reshape(rows, cols, self.per_cell, self.columns)
        for r0, r1, c0, c1, xp in self._pieces(1 << 22):
            self._fill(xp, r0, r1, view[r0:r1, c0:c1])
        return out

    def at(self, cells: npt.ArrayLike) -> npt.NDArray[Any]:
        """The anchors of the given cells: ``(M, 2)`` ``(row, col)`` -> ``(M*k, columns)``,
        cell by cell, each equal to the row the whole array has at that index."""
        rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        rows, cols = self.feature_map
        bad = (rc[:, 0] < 0) | (rc[:, 0] >= rows) | (rc[:, 1] < 0) | (rc[:, 1] >= cols)
        if bad.any():
            row, col = (int(v) for v in rc[bad][0])
            raise AnchorError(
                f"cell ({row},{col}) is outside the {rows}x{cols} feature map "
                f"(rows 0..{rows - 1}, cols 0..{cols - 1})"
            )
        from anchorctl.memory import check_fits

        if self.check is not None:
            self.check(rc[:, 0], rc[:, 1], True)
        k, width = self.per_cell, self.columns
        check_fits(
            len(rc) * k * width * np.dtype(self.dtype).itemsize,
            f"{len(rc) * k:,} anchors",
            "choose fewer cells",
        )
        xp, yp = self.parts(rc[:, 0], rc[:, 1])  # (M, k, nx), (M, k, ny)
        out = np.empty((len(rc), k, width), dtype=self.dtype)
        for j, (axis, i) in enumerate(self.layout):
            out[..., j] = xp[..., i] if axis == 0 else yp[..., i]
        if self.clip is not None:
            np.clip(out, self.dtype(self.clip[0]), self.dtype(self.clip[1]), out=out)
        return out.reshape(-1, width)


@dataclass(frozen=True)
class Level:
    """The anchors of one feature map.

    ``anchors`` is ``(rows*cols*k, 4)`` ``(xmin, ymin, xmax, ymax)`` in the convention's units,
    in the framework's order, or a function that computes it on demand (read it through
    :attr:`array`); ``blocks``, when given, yields the same rows in consecutive blocks of about
    ``block_bytes`` without building the whole array (for maps larger than memory). A level
    made by :func:`grid_level` carries its :class:`Grid`: nothing per row, column or anchor
    is computed until asked for, so :attr:`count` and :attr:`shapes` cost nothing.
    ``stride`` is ``(y, x)`` between neighbouring centres in the same units; ``center0`` is
    the ``(x, y)`` centre of cell (0, 0).
    """

    feature_map: tuple[int, int]
    stride: tuple[float, float]
    center0: tuple[float, float]
    shapes: tuple[CellShape, ...]
    anchors: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]] = field(repr=False)
    blocks: Callable[[int], Iterator[npt.NDArray[np.float32]]] | None = field(
        default=None, repr=False
    )
    normalized: bool | None = None  # None: as the convention's Rules say; else this level's
    grid: Grid | None = field(default=None, repr=False)

    @cached_property
    def array(self) -> npt.NDArray[np.float32]:
        """The anchors as an array, computed once."""
        return self.anchors() if callable(self.anchors) else self.anchors

    def iter_blocks(self, block_bytes: int = 1 << 22) -> Iterator[npt.NDArray[np.float32]]:
        """The anchors in consecutive ``(n, 4)`` blocks, in order."""
        if self.blocks is not None:
            yield from self.blocks(block_bytes)
            return
        array = self.array
        step = max(1, block_bytes // max(1, array[:1].nbytes))
        for start in range(0, len(array), step):
            yield array[start : start + step]

    def at(self, cells: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The anchors of ``cells`` (``(M, 2)`` row, col): ``(M*k, 4)``, cell by cell."""
        if self.grid is not None:
            return self.grid.at(cells)
        rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        k = self.per_cell
        first = (rc[:, 0] * self.feature_map[1] + rc[:, 1]) * k
        out: npt.NDArray[np.float32] = self.array[(first[:, None] + np.arange(k)).ravel()]
        return out

    def is_normalized(self, rules: Rules) -> bool:
        """Whether this level's coordinates are fractions of the image (else pixels)."""
        return rules.normalized if self.normalized is None else self.normalized

    @property
    def per_cell(self) -> int:
        return len(self.shapes)

    @property
    def count(self) -> int:
        rows, cols = self.feature_map
        return rows * cols * self.per_cell

    @property
    def columns(self) -> int:
        """Numbers per anchor: 4, or 5 for rotated ``(cx, cy, w, h, angle)``."""
        if self.grid is not None:
            return self.grid.columns
        return int(self.array.shape[1])


def grid_level(
    grid: Grid,
    stride: tuple[float, float],
    center0: tuple[float, float],
    shapes: Sequence[CellShape],
    normalized: bool | None = None,
) -> Level:
    """A :class:`Level` whose anchors come from ``grid`` on demand, in blocks."""
    if len(shapes) != grid.per_cell:
        raise AssertionError(f"{len(shapes)} shapes for a grid of {grid.per_cell} per cell")
    return Level(
        feature_map=grid.feature_map,
        stride=stride,
        center0=center0,
        shapes=tuple(shapes),
        anchors=grid.array,
        blocks=grid.blocks,
        normalized=normalized,
        grid=grid,
    )


def per_level(
    params: Params, name: str, levels: int, default: Sequence[Any] | None = None
) -> list[Any]:
    """``params[name]`` as one entry per level: a single entry is repeated for every level."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise AnchorError(f"--{name.replace('_', '-')} is required")
        value = default
    values = list(value)
    if len(values) == 1:
        return values * levels
    if len(values) != levels:
        raise AnchorError(
            f"--{name.replace('_', '-')}: {len(values)} levels given but there are {levels} "
            "feature maps; give one per level, or one for all"
        )
    return values


def to_format(boxes: npt.NDArray[np.floating[Any]], fmt: str) -> npt.NDArray[np.floating[Any]]:
    """``(N, 4)`` xyxy boxes as ``fmt``: ``xyxy``, ``yxyx`` or ``cxcywh`` (same dtype)."""
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return boxes[:, [1, 0, 3, 2]]
    if fmt == "cxcywh":
        out = np.empty_like(boxes)
        out[:, 0] = (boxes[:, 0] + boxes[:, 2]) / 2
        out[:, 1] = (boxes[:, 1] + boxes[:, 3]) / 2
        out[:, 2] = boxes[:, 2] - boxes[:, 0]
        out[:, 3] = boxes[:, 3] - boxes[:, 1]
        return out
    raise AnchorError(f"box format {fmt!r}: choose one of {', '.join(BOX_FORMATS)}")


def shapes_from_cell(
    cell: npt.NDArray[np.floating[Any]], params: Sequence[Mapping[str, float]]
) -> tuple[CellShape, ...]:
    """Per-cell shapes measured from one cell's ``(k, 4)`` xyxy boxes, in their dtype."""
    with np.errstate(all="ignore"):  # an overflow is refused by the caller's checks
        return tuple(
            CellShape(slot, p, float(box[2] - box[0]), float(box[3] - box[1]))
            for slot, (box, p) in enumerate(zip(cell, params, strict=True))
        )
