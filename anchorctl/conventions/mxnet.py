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

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import (
    CellShape,
    Level,
    Option,
    Params,
    Rules,
    per_level,
)
from anchorctl.errors import AnchorError
from anchorctl.memory import check_fits

NAME = "mxnet"
TITLE = "MXNet MultiBoxPrior"
RATIO_MEANING = "ratio = width / height"
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

OPTIONS = (
    Option(
        "sizes", "floats", "sizes, fractions of the image height", per_level=True, default=[(1.0,)]
    ),
    Option("ratios", "floats", "ratios, width / height", per_level=True, default=[(1.0,)]),
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
        try:
            object.__setattr__(self, "sizes", tuple(float(s) for s in self.sizes))
            object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))
        except (TypeError, ValueError):
            raise AnchorError("--sizes and --ratios: give sequences of numbers") from None
        _check_positive("sizes", self.sizes, "a size is a fraction of the image height")
        _check_positive("ratios", self.ratios, "a ratio is width / height")
        rows, cols = self.feature_map
        if not (_is_int(rows) and _is_int(cols) and rows >= 1 and cols >= 1):
            raise AnchorError(
                f"--feature-map: {rows}x{cols} is not a size; give rows x cols, both whole "
                "numbers >= 1"
            )
        object.__setattr__(self, "feature_map", (int(rows), int(cols)))
        if self.steps is not None:
            sy, sx = (float(v) for v in self.steps)
            if not (_finite_positive(sy) and _finite_positive(sx)):
                raise AnchorError(
                    f"--steps: ({_num(sy)}, {_num(sx)}) must both be positive and finite "
                    "(step_y, step_x); leave --steps out for the automatic 1/rows, 1/cols "
                    "(MultiBoxPrior silently ignores a step that is zero or negative)"
                )
            object.__setattr__(self, "steps", (sy, sx))
        oy, ox = (float(v) for v in self.offsets)
        for name, value in (("offset_y", oy), ("offset_x", ox)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise AnchorError(
                    f"--offsets: {name} = {_num(value)} must lie in [0, 1] (a fraction of a step)"
                )
        object.__setattr__(self, "offsets", (oy, ox))
        self._check_float32()

    def _check_float32(self) -> None:
        """Refuse values that are fine as Python floats but not in the operator's float32."""
        with np.errstate(all="ignore"):
            half_w, half_h = self.half_extents()
            sy, sx = self.steps32()
            cy, cx = self.centers()
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
            raise AnchorError("--steps: the centres of the last cells overflow float32")
        if (self.feature_map[0] > 1 and cy[1] == cy[0]) or (
            self.feature_map[1] > 1 and cx[1] == cx[0]
        ):
            raise AnchorError("--steps: so small that neighbouring centres coincide in float32")

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
        sy, sx = self.steps32()
        oy, ox = _F32(self.offsets[0]), _F32(self.offsets[1])
        cy = (np.arange(rows, dtype=_F32) + oy) * sy
        cx = (np.arange(cols, dtype=_F32) + ox) * sx
        return cy.astype(_F32), cx.astype(_F32)


def anchors(spec: MultiBoxPriorSpec) -> npt.NDArray[np.float32]:
    """Every anchor of ``spec``: ``(rows*cols*k, 4)`` float32 ``(xmin, ymin, xmax, ymax)``.

    Normalized units, index ``(row * cols + col) * k + slot``. Raises :class:`AnchorError`
    before allocating when the array would not fit in the memory this machine has free.
    """
    check_fits(
        spec.num_anchors * _BYTES_PER_ANCHOR,
        f"{spec.num_anchors:,} anchors as float32",
        "take them block by block with iter_anchor_blocks() or "
        "`anchorctl list --all --format npy -o FILE`, or use a smaller feature map",
    )
    rows, cols = spec.feature_map
    out = np.empty((rows, cols * spec.per_cell * 4), dtype=_F32)
    fill = _row_filler(spec)
    for r0, r1 in _row_blocks(spec, 1 << 22):
        fill(r0, out[r0:r1])
    return out.reshape(-1, 4)


def iter_anchor_blocks(
    spec: MultiBoxPriorSpec, block_bytes: int = 1 << 22
) -> Iterator[npt.NDArray[np.float32]]:
    """The anchors of ``spec`` as consecutive blocks of whole feature-map rows.

    Each block is ``(rows_in_block * cols * k, 4)`` float32, in MultiBoxPrior order; the
    concatenation equals :func:`anchors`. Memory stays near ``block_bytes`` whatever the map.
    """
    _, cols = spec.feature_map
    fill = _row_filler(spec)
    for r0, r1 in _row_blocks(spec, block_bytes):
        block = np.empty((r1 - r0, cols * spec.per_cell * 4), dtype=_F32)
        fill(r0, block)
        yield block.reshape(-1, 4)


def _row_blocks(spec: MultiBoxPriorSpec, block_bytes: int) -> Iterator[tuple[int, int]]:
    """``(first_row, end_row)`` ranges of about ``block_bytes`` each, at least one row."""
    rows, cols = spec.feature_map
    per_row = max(1, block_bytes // (cols * spec.per_cell * 16))
    for r0 in range(0, rows, per_row):
        yield r0, min(rows, r0 + per_row)


def _row_filler(
    spec: MultiBoxPriorSpec,
) -> Callable[[int, npt.NDArray[np.float32]], None]:
    """A function ``fill(r0, out)`` writing the anchors of rows ``r0 .. r0 + len(out)``.

    ``out`` is ``(rows_in_block, cols*k*4)``. y coordinates are ``cy * 1 + (-h/2 | +h/2)``,
    x coordinates ``cy * 0 + (cx -+ w/2)``: adding zero or a negated half extent is exact, so
    this equals the operator's ``cy - h/2`` and ``cy + h/2`` bit for bit while writing each
    block in place in two passes that stay in cache.
    """
    template, y_mask = _row_template(spec)
    cy, _ = spec.centers()

    def fill(r0: int, out: npt.NDArray[np.float32]) -> None:
        np.multiply(y_mask, cy[r0 : r0 + len(out), None], out=out)
        np.add(out, template, out=out)
        if spec.clip:
            np.clip(out, _F32(0), _F32(1), out=out)

    return fill


def _row_template(
    spec: MultiBoxPriorSpec,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One feature-map row with its centre y left out: ``(1, cols*k*4)`` each.

    ``template`` holds ``(cx - w/2, -h/2, cx + w/2, +h/2)`` per anchor; ``y_mask`` is 1 where
    a coordinate is a y coordinate and 0 elsewhere.
    """
    half_w, half_h = spec.half_extents()
    _, cx = spec.centers()
    k = spec.per_cell
    template = np.empty((cx.size, k, 4), dtype=_F32)
    template[..., 0] = cx[:, None] - half_w  # (cols, k)
    template[..., 1] = -half_h
    template[..., 2] = cx[:, None] + half_w
    template[..., 3] = half_h
    y_mask = np.zeros((cx.size, k, 4), dtype=_F32)
    y_mask[..., 1::2] = 1
    return template.reshape(1, -1), y_mask.reshape(1, -1)


def cell_anchors(spec: MultiBoxPriorSpec, row: int, col: int) -> npt.NDArray[np.float32]:
    """The ``k`` anchors of one cell: ``(k, 4)`` float32 normalized ``(xmin, ymin, xmax, ymax)``."""
    return anchors_at(spec, np.array([[row, col]]))


def anchors_at(spec: MultiBoxPriorSpec, cells: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The anchors of the given cells, ``(M*k, 4)`` float32 normalized, cell by cell.

    ``cells`` is ``(M, 2)`` integer ``(row, col)`` pairs; each cell contributes its ``k``
    anchors in slot order, with the same values :func:`anchors` gives at that cell's index.
    """
    rows, cols = spec.feature_map
    rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    bad = (rc[:, 0] < 0) | (rc[:, 0] >= rows) | (rc[:, 1] < 0) | (rc[:, 1] >= cols)
    if bad.any():
        row, col = (int(v) for v in rc[bad][0])
        raise AnchorError(
            f"cell ({row},{col}) is outside the {rows}x{cols} feature map "
            f"(rows 0..{rows - 1}, cols 0..{cols - 1})"
        )
    check_fits(
        len(rc) * spec.per_cell * _BYTES_PER_ANCHOR,
        f"{len(rc) * spec.per_cell:,} anchors as float32",
        "choose fewer cells",
    )
    half_w, half_h = spec.half_extents()
    cy, cx = spec.centers()
    x = cx[rc[:, 1]][:, None]  # (M, 1)
    y = cy[rc[:, 0]][:, None]
    out = np.stack([x - half_w, y - half_h, x + half_w, y + half_h], axis=2)  # (M, k, 4)
    out = out.astype(_F32).reshape(-1, 4)
    if spec.clip:
        np.clip(out, _F32(0), _F32(1), out=out)
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
        cy, cx = spec.centers()
        out.append(
            Level(
                feature_map=spec.feature_map,
                stride=spec.step_yx,
                center0=(float(cx[0]), float(cy[0])),
                shapes=_shapes(spec),
                anchors=partial(anchors, spec),
                blocks=partial(iter_anchor_blocks, spec),
            )
        )
    return out


def _shapes(spec: MultiBoxPriorSpec) -> tuple[CellShape, ...]:
    """The nominal (unclipped) extents, exactly as the operator computes them."""
    return tuple(
        CellShape(s.slot, {"size": s.size, "ratio": s.ratio}, s.width, s.height)
        for s in spec.shapes()
    )


def _check_positive(name: str, values: Sequence[float], meaning: str) -> None:
    if not values:
        raise AnchorError(f"--{name}: give at least one value ({meaning})")
    for value in values:
        if not _finite_positive(value):
            raise AnchorError(
                f"--{name}: {_num(value)} is not a positive finite number ({meaning}; "
                "MultiBoxPrior would silently make empty, infinite or NaN boxes from it)"
            )


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _num(value: float) -> str:
    return f"{value:g}"
