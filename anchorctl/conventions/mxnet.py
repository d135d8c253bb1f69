"""MXNet ``contrib.MultiBoxPrior``: SSD default boxes, normalized to the unit square.

The rules, as the operator applies them (apache/mxnet ``src/operator/contrib/multibox_prior.cc``
and ``multibox_prior-inl.h``, MXNet 1.9.1; the per-cell order since PR apache/mxnet#13763):

* **Units**: normalized. With automatic steps the feature map spans ``[0, 1] x [0, 1]``; the
  operator never sees the image, so pixels come from multiplying by the image size afterwards.
* **Ratio** ``r`` means width / height.
* **Per cell**, ``k = len(sizes) + len(ratios) - 1`` shapes, in this order: every size with
  ``ratios[0]``, then ``sizes[0]`` with each of ``ratios[1:]``.
* **Extent**: ``width = s * (H/W) * sqrt(r)``, ``height = s / sqrt(r)``, where ``H x W`` is the
  *feature map* (rows x cols). The ``H/W`` factor (PR apache/mxnet#7083) makes ``s`` a fraction
  of the image *height*: a ratio-1 box is square in pixels only when the feature map has the
  image's aspect ratio.
* **Centres**: cell (row, col) sits at ``cy = (row + offset_y) * step_y``,
  ``cx = (col + offset_x) * step_x``; steps default to ``(1/H, 1/W)``, offsets to ``(0.5, 0.5)``.
* **Order**: index ``(row * W + col) * k + slot``; rows outer, columns next, shapes innermost.
* **Output**: ``(H*W*k, 4)`` float32 ``(xmin, ymin, xmax, ymax)``; no rounding.
* **Clip** (off by default): each coordinate clamped to ``[0, 1]`` on its own, so border boxes
  shrink rather than move.

Where the operator silently accepts nonsense (a size or ratio that is zero, negative or not
finite, one step given and the other left automatic or zero), this module refuses with a
message that says why; ``tests/vectors/mxnet_multibox_prior/errors_and_degenerate.json``
records what MXNet does instead.

Every value is computed in float32 in the operator's own order of operations, so the arrays
match MXNet bit for bit (the reference vectors' SHA-256 checksums pin it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    CellShape,
    Grid,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    per_level,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "mxnet"
TITLE = "MXNet MultiBoxPrior"
UNITS = "normalized to the image (0..1)"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units=UNITS,
    size_meaning="fraction of the image height (with the feature map shaped like the image)",
    ratio_meaning="width / height",
    order="every size with ratios[0], then sizes[0] with each of ratios[1:]",
    centre="cell centre: ((col + offset_x) * step_x, (row + offset_y) * step_y), offsets 0.5",
    rounding="none (float32)",
    clip="optional: each coordinate clamped to [0, 1]",
    native_format="xyxy",
    sources=(
        "apache/mxnet: src/operator/contrib/multibox_prior.cc, multibox_prior-inl.h (1.9.1)",
        "apache/mxnet#7083 (rows/cols width factor), apache/mxnet#13763 (ratios[0] applied)",
    ),
    normalized=True,
)
RATIO_MEANING = f"ratio = {RULES.ratio_meaning}"

OPTIONS = (
    Option(
        "sizes", "floats", "sizes, fractions of the image height", per_level=True, default=[(1.0,)]
    ),
    Option("ratios", "floats", f"ratios, {RULES.ratio_meaning}", per_level=True, default=[(1.0,)]),
    Option(
        "steps",
        "yx",
        "centre spacing STEP_Y,STEP_X, normalized [default: 1/rows, 1/cols]",
        per_level=True,
    ),
    Option("offsets", "yx", "centre offset OFFSET_Y,OFFSET_X within a step", default=(0.5, 0.5)),
    Option("clip", "flag", "clamp every coordinate to [0, 1]", default=False),
)

_F32 = np.float32
_BYTES_PER_ANCHOR = 16  # four float32 coordinates


@dataclass(frozen=True)
class Shape:
    """One anchor shape of a cell.

    ``width`` and ``height`` are normalized extents exactly as the operator computes them
    (float32, then widened to float for Python).
    """

    slot: int
    size: float
    ratio: float
    width: float
    height: float


@dataclass(frozen=True)
class MultiBoxPriorSpec:
    """A validated MultiBoxPrior call.

    Attributes:
        sizes: normalized sizes (fractions of the image height), at least one, each > 0.
        ratios: width / height, at least one, each > 0.
        feature_map: ``(rows, cols)`` of the feature map, as in an NCHW tensor's ``H, W``.
        steps: ``(step_y, step_x)`` in normalized units, or ``None`` for ``(1/rows, 1/cols)``.
        offsets: ``(offset_y, offset_x)``, each in ``[0, 1]``, as a fraction of a step.
        clip: clamp every coordinate to ``[0, 1]``.
    """

    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    feature_map: tuple[int, int] = (1, 1)
    steps: tuple[float, float] | None = None
    offsets: tuple[float, float] = (0.5, 0.5)
    clip: bool = False

    def __post_init__(self) -> None:
        sizes = checks.floats(self.sizes, "sizes", _meaning("sizes"))
        ratios = checks.floats(self.ratios, "ratios", _meaning("ratios"))
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "ratios", ratios)
        checks.per_cell(
            len(sizes) + len(ratios) - 1, RULES, f"{len(sizes)} sizes and {len(ratios)} ratios"
        )
        (fm,) = checks.feature_maps({"feature_maps": [self.feature_map]})
        object.__setattr__(self, "feature_map", fm)
        if self.steps is not None:
            sy, sx = checks.pair(
                self.steps,
                "steps",
                "step_y, step_x; leave --steps out for the automatic 1/rows, 1/cols "
                "(MultiBoxPrior silently ignores a step that is zero or negative)",
            )
            object.__setattr__(self, "steps", (sy, sx))
        try:
            oy, ox = self.offsets
        except (TypeError, ValueError):
            raise AnchorError(f"--offsets: {self.offsets!r} is not OFFSET_Y,OFFSET_X") from None
        oy = checks.fraction(oy, "offsets", "offset_y: a fraction of a step")
        ox = checks.fraction(ox, "offsets", "offset_x: a fraction of a step")
        object.__setattr__(self, "offsets", (oy, ox))
        self._check_float32()

    def _check_float32(self) -> None:
        """Refuse values that are fine as Python floats but not in the operator's float32:
        looked at on the first two rows and columns only, so a map of any size costs the same
        (the last ones are checked when anchors are made; see ``checks.extents``)."""
        rows, cols = self.feature_map
        with np.errstate(all="ignore"):
            half_w, half_h = self.half_extents()
            sy, sx = self.steps32()
            cy = self.center_y(np.arange(min(2, rows)))
            cx = self.center_x(np.arange(min(2, cols)))
        extents = np.concatenate([half_w, half_h])
        if not (np.isfinite(extents).all() and (extents > 0).all()):
            raise AnchorError(
                "--sizes/--ratios: a box's width or height is 0 or infinite in float32, the "
                "precision MultiBoxPrior computes in (keep s * sqrt(r) and s / sqrt(r) "
                "between about 1e-38 and 1e38)"
            )
        if not (np.isfinite([sy, sx]).all() and sy > 0 and sx > 0):
            raise AnchorError("--steps: too small or too large for float32 (about 1e-38..1e38)")
        if not (np.isfinite(cy).all() and np.isfinite(cx).all()):
            raise AnchorError("--steps: the centres of the first cells overflow float32")
        if (rows > 1 and cy[1] == cy[0]) or (cols > 1 and cx[1] == cx[0]):
            raise AnchorError("--steps: so small that neighbouring centres coincide in float32")
        self.grid()  # refuses boxes float32 collapses in the first rows and columns

    @property
    def per_cell(self) -> int:
        """Shapes per cell: ``len(sizes) + len(ratios) - 1``."""
        return len(self.sizes) + len(self.ratios) - 1

    @property
    def num_anchors(self) -> int:
        """``rows * cols * per_cell``."""
        rows, cols = self.feature_map
        return rows * cols * self.per_cell

    @property
    def step_yx(self) -> tuple[float, float]:
        """``(step_y, step_x)`` in normalized units, as float32 values widened to float."""
        sy, sx = self.steps32()
        return float(sy), float(sx)

    def steps32(self) -> tuple[np.float32, np.float32]:
        """``(step_y, step_x)`` as the float32 values the operator uses."""
        rows, cols = self.feature_map
        if self.steps is None:
            return _F32(1) / _F32(rows), _F32(1) / _F32(cols)
        return _F32(self.steps[0]), _F32(self.steps[1])

    def slot_pairs(self) -> list[tuple[float, float]]:
        """``(size, ratio)`` of each slot, in MultiBoxPrior order."""
        first = [(s, self.ratios[0]) for s in self.sizes]
        return first + [(self.sizes[0], r) for r in self.ratios[1:]]

    def half_extents(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Half widths and half heights of the ``k`` shapes, each ``(k,)`` float32, normalized."""
        rows, cols = self.feature_map
        pairs = self.slot_pairs()
        size = np.array([s for s, _ in pairs], dtype=_F32)
        root = np.sqrt(np.array([r for _, r in pairs], dtype=_F32))
        # Operator order: size * in_height / in_width * sqrt(r) / 2 and size / sqrt(r) / 2.
        half_w = size * _F32(rows) / _F32(cols) * root / _F32(2)
        half_h = size / root / _F32(2)
        return half_w.astype(_F32), half_h.astype(_F32)

    def shapes(self) -> list[Shape]:
        """The per-cell shapes in slot order, with normalized width and height."""
        half_w, half_h = self.half_extents()
        width, height = half_w * _F32(2), half_h * _F32(2)
        return [
            Shape(slot, s, r, float(width[slot]), float(height[slot]))
            for slot, (s, r) in enumerate(self.slot_pairs())
        ]

    def centers(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Cell centres: ``cy`` of shape ``(rows,)`` and ``cx`` of shape ``(cols,)``, normalized."""
        rows, cols = self.feature_map
        return self.center_y(np.arange(rows)), self.center_x(np.arange(cols))

    def center_y(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``(row + offset_y) * step_y`` in float32 for the given rows (the operator converts
        the int row to float, as ``astype`` does)."""
        sy, _ = self.steps32()
        return ((rows.astype(_F32) + _F32(self.offsets[0])) * sy).astype(_F32)

    def center_x(self, cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``(col + offset_x) * step_x`` in float32 for the given columns."""
        _, sx = self.steps32()
        return ((cols.astype(_F32) + _F32(self.offsets[1])) * sx).astype(_F32)

    def grid(self, clip: bool | None = None) -> Grid:
        """The anchors as a :class:`~anchorctl.conventions.base.Grid` (computed on demand):
        x ``(cx - w/2, cx + w/2)`` per column and slot, y ``(cy - h/2, cy + h/2)`` per row."""
        half_w, half_h = self.half_extents()

        def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
            cx = self.center_x(cols)[:, None]
            return np.stack([cx - half_w, cx + half_w], axis=-1)

        def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
            cy = self.center_y(rows)[:, None]
            return np.stack([cy - half_h, cy + half_h], axis=-1)

        clipped = self.clip if clip is None else clip
        grid = Grid(
            self.feature_map, self.per_cell, x_part, y_part, clip=(0.0, 1.0) if clipped else None
        )
        with np.errstate(all="ignore"):
            widths = half_w.astype(np.float64) * 2
            heights = half_h.astype(np.float64) * 2
        return checks.extents(
            grid, widths, heights, RULES, centres="--steps/--offsets", shapes="--sizes/--ratios"
        )


def anchors(spec: MultiBoxPriorSpec) -> npt.NDArray[np.float32]:
    """Every anchor of ``spec``: ``(rows*cols*k, 4)`` float32 ``(xmin, ymin, xmax, ymax)``.

    Normalized units, index ``(row * cols + col) * k + slot``. Raises
    :class:`~anchorctl.errors.TooLarge` before allocating when the array would not fit in the
    memory this process may still use (take it block by block with
    :func:`iter_anchor_blocks` then).
    """
    out: npt.NDArray[np.float32] = spec.grid().array()
    return out


def iter_anchor_blocks(
    spec: MultiBoxPriorSpec, block_bytes: int = 1 << 22
) -> Iterator[npt.NDArray[np.float32]]:
    """The anchors of ``spec`` as consecutive blocks of whole feature-map rows (parts of one
    row when a row alone exceeds ``block_bytes``).

    Each block is ``(n, 4)`` float32, in MultiBoxPrior order; the concatenation equals
    :func:`anchors`. Memory stays near ``block_bytes`` whatever the map.
    """
    return spec.grid().blocks(block_bytes)


def cell_anchors(spec: MultiBoxPriorSpec, row: int, col: int) -> npt.NDArray[np.float32]:
    """The ``k`` anchors of one cell: ``(k, 4)`` float32 normalized ``(xmin, ymin, xmax, ymax)``."""
    return anchors_at(spec, np.array([[row, col]]))


def anchors_at(spec: MultiBoxPriorSpec, cells: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The anchors of the given cells, ``(M*k, 4)`` float32 normalized, cell by cell.

    ``cells`` is ``(M, 2)`` integer ``(row, col)`` pairs; each cell contributes its ``k``
    anchors in slot order, with the same values :func:`anchors` gives at that cell's index.
    """
    out: npt.NDArray[np.float32] = spec.grid().at(cells)
    return out


def specs_from(params: Params) -> list[MultiBoxPriorSpec]:
    """One :class:`MultiBoxPriorSpec` per feature map in ``params["feature_maps"]``."""
    maps = list(params["feature_maps"])
    defaults = {o.name: o.default for o in OPTIONS}
    sizes = per_level(params, "sizes", len(maps), defaults["sizes"])
    ratios = per_level(params, "ratios", len(maps), defaults["ratios"])
    steps = per_level(params, "steps", len(maps), [None])
    offsets = params.get("offsets") or defaults["offsets"]
    clip = bool(params.get("clip", False))
    return [
        MultiBoxPriorSpec(tuple(s), tuple(r), fm, st, offsets, clip)
        for fm, s, r, st in zip(maps, sizes, ratios, steps, strict=True)
    ]


def generate(params: Params) -> list[Level]:
    """Every level's anchors, normalized xyxy, in MultiBoxPrior order (see the module rules)."""
    out = []
    for spec in specs_from(params):
        first = np.zeros(1, dtype=np.int64)
        out.append(
            grid_level(
                spec.grid(),
                stride=spec.step_yx,
                center0=(float(spec.center_x(first)[0]), float(spec.center_y(first)[0])),
                shapes=_shapes(spec),
            )
        )
    return out


def _shapes(spec: MultiBoxPriorSpec) -> tuple[CellShape, ...]:
    """The nominal (unclipped) extents, exactly as the operator computes them."""
    return tuple(
        CellShape(s.slot, {"size": s.size, "ratio": s.ratio}, s.width, s.height)
        for s in spec.shapes()
    )


def _meaning(name: str) -> str:
    return f"{checks.meaning(RULES, name)}; MultiBoxPrior would make empty or NaN boxes of it"
