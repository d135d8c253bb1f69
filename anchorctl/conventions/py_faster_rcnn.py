"""py-faster-rcnn ``generate_anchors``: Faster R-CNN anchors in inclusive input pixels.

The rules, as the code applies them (rbgirshick/py-faster-rcnn ``lib/rpn/generate_anchors.py``
for the base anchors; ``lib/rpn/proposal_layer.py`` and ``lib/rpn/anchor_target_layer.py`` for
the grid; discussion of the ``sqrt`` in rbgirshick/py-faster-rcnn#834):

* **Units**: pixels of the network input, in the **inclusive** ("+1") convention inherited from
  MATLAB: a box ``(x1, y1, x2, y2)`` covers pixels ``x1..x2``, so its width is
  ``x2 - x1 + 1`` and its centre ``x1 + (w - 1) / 2``. The per-cell shape widths and heights
  this module reports follow that rule (the 2:1 base anchor is 184 x 96, as py-faster-rcnn
  counts it, although ``x2 - x1`` is 183).
* **Reference window** ``(0, 0, base_size - 1, base_size - 1)``: with the default
  ``base_size = 16`` it is 16 x 16 pixels, centred at ``(7.5, 7.5)``.
* **Ratio** ``r`` means height / width. For each ratio the window's area ``A`` is kept:
  ``w_r = round(sqrt(A / r))``, ``h_r = round(w_r * r)`` with NumPy's round (half to even),
  re-centred on the window centre. ``r = 0.5`` gives the 23 x 12 *wide* window (22.63 and 11.5
  rounded).
* **Scale** ``s`` multiplies the rounded ratio window exactly: ``w = w_r * s``, ``h = h_r * s``,
  re-centred. Defaults ``scales = (8, 16, 32)`` (``2 ** arange(3, 6)``),
  ``ratios = (0.5, 1, 2)``: nine anchors, 184 x 96 up to 352 x 704.
* **Per cell** ``len(ratios) * len(scales)`` shapes, **ratio-major**: every scale of
  ``ratios[0]``, then every scale of ``ratios[1]``, and so on.
* **Grid**: the base anchors are shifted by ``(col * feat_stride, row * feat_stride)``
  (``feat_stride = 16`` for the VGG16 / ZF conv5 map), so every anchor of cell (row, col) is
  centred at ``(col * feat_stride + (base_size - 1) / 2, row * feat_stride + (base_size - 1) / 2)``
  = ``(16 col + 7.5, 16 row + 7.5)``. The reference window does **not** follow
  ``feat_stride``: only the shifts do.
* **Order**: index ``(row * cols + col) * k + slot`` (cell-major, rows outer).
* **Output**: ``(rows*cols*k, 4)`` ``(x1, y1, x2, y2)``. py-faster-rcnn computes in NumPy
  float64; this module computes in the same float64 order of operations and rounds once to
  float32, the dtype of :class:`~anchorctl.conventions.base.Level`. With whole-number
  ``base_size``, ``scales`` and ``feat_stride`` every value is a whole number or a half (for
  example -84, 99, 7.5), so float32 holds it exactly (|value| < 2**23); only fractional scales
  or base sizes can round.
* **Clip**: none. Anchors are never clipped; RPN training drops anchors that are not inside the
  image (``allowed_border = 0``) and the proposals are clipped later.

The comment block at the top of ``generate_anchors.py`` shows Shaoqing Ren's MATLAB output
(``[-83, -39, 100, 56]``, ...); every value there is 1 larger than what the Python function
returns (1-based coordinates). This module returns what the Python function returns.

GluonCV's ``RPNAnchorGenerator`` (convention ``gluoncv-rpn``) runs this same algorithm with the
reference window set to the feature stride instead of ``base_size``; :func:`base_anchors` and
:func:`shifted` serve both conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

NAME = "py-faster-rcnn"
TITLE = "py-faster-rcnn generate_anchors"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="pixels of the network input, inclusive (width = x2 - x1 + 1)",
    size_meaning=(
        "scale times the rounded ratio window of the base_size x base_size reference window "
        "(scale 8 at base_size 16: 128 x 128)"
    ),
    ratio_meaning="height / width",
    order="ratio-major: every scale of ratios[0], then every scale of ratios[1], ...",
    centre="(col * feat_stride + (base_size - 1) / 2, row * feat_stride + (base_size - 1) / 2)",
    rounding=(
        "ratio window w = round(sqrt(area / r)), h = round(w * r), NumPy half to even; scales "
        "exact; float64 rounded once to float32 (exact for whole-number parameters)"
    ),
    clip="none (training drops anchors that cross the image border)",
    native_format="xyxy",
    sources=(
        "rbgirshick/py-faster-rcnn: lib/rpn/generate_anchors.py, lib/rpn/proposal_layer.py, "
        "lib/rpn/anchor_target_layer.py",
        "rbgirshick/py-faster-rcnn#834 (why sqrt), #675",
    ),
)

OPTIONS = (
    Option(
        "base_size",
        "float",
        "side of the reference window (0, 0, base_size-1, base_size-1) in pixels [default: 16]",
        default=16.0,
    ),
    Option(
        "ratios",
        "floats",
        f"{RULES.ratio_meaning} of the rounded ratio windows [default: 0.5,1,2]",
        default=(0.5, 1.0, 2.0),
    ),
    Option(
        "scales",
        "floats",
        "multiples of each ratio window [default: 8,16,32]",
        default=(8.0, 16.0, 32.0),
    ),
    Option(
        "feat_stride",
        "int",
        "pixels between neighbouring cells, one per feature map [default: 16]",
        per_level=True,
        default=[16],
    ),
)

_F32 = np.float32
_BYTES_PER_ANCHOR = 16  # four float32 coordinates
_BYTES_PER_SHIFT = 32  # the float64 shift of each cell, held while the anchors are made


def base_anchors(
    base_size: float, ratios: npt.ArrayLike, scales: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """The ``len(ratios) * len(scales)`` base anchors, ``(k, 4)`` float64 inclusive xyxy.

    Ratio-major; the reference window is ``(0, 0, base_size - 1, base_size - 1)``. Every step
    is the float64 operation ``generate_anchors`` performs, in its order, so the values are
    identical to py-faster-rcnn's (and to GluonCV's, which passes the stride as ``base_size``).
    """
    ratio = np.asarray(ratios, dtype=np.float64)
    scale = np.asarray(scales, dtype=np.float64)
    window = np.array([1, 1, base_size, base_size], dtype=np.float64) - 1
    w, h, x_ctr, y_ctr = _whctrs(window)
    area = w * h
    ws = np.round(np.sqrt(area / ratio))  # NumPy round: half to even
    hs = np.round(ws * ratio)
    ratio_windows = _mkanchors(ws, hs, x_ctr, y_ctr)  # (R, 4)
    rw, rh, rx, ry = _whctrs(ratio_windows.T)  # each (R,)
    out = _mkanchors(
        (rw[:, None] * scale[None, :]).ravel(),
        (rh[:, None] * scale[None, :]).ravel(),
        np.repeat(rx, len(scale)),
        np.repeat(ry, len(scale)),
    )
    return out  # (R*S, 4), ratio-major


def _whctrs(
    box: npt.NDArray[np.float64],
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """Inclusive width, height and centre of ``box`` = ``(x1, y1, x2, y2)`` (rows of arrays)."""
    w = box[2] - box[0] + 1
    h = box[3] - box[1] + 1
    return w, h, box[0] + 0.5 * (w - 1), box[1] + 0.5 * (h - 1)


def _mkanchors(
    ws: npt.NDArray[np.floating[Any]],
    hs: npt.NDArray[np.floating[Any]],
    x_ctr: npt.NDArray[np.floating[Any]] | np.floating[Any],
    y_ctr: npt.NDArray[np.floating[Any]] | np.floating[Any],
) -> npt.NDArray[np.float64]:
    """Boxes of inclusive widths ``ws`` and heights ``hs`` around the centres: ``(n, 4)``."""
    return np.stack(
        [
            x_ctr - 0.5 * (ws - 1),
            y_ctr - 0.5 * (hs - 1),
            x_ctr + 0.5 * (ws - 1),
            y_ctr + 0.5 * (hs - 1),
        ],
        axis=1,
    )


def grid(base: npt.NDArray[np.float64], feature_map: tuple[int, int], stride: int) -> Grid:
    """``base`` ``(k, 4)`` float64 moved to every cell, on demand: float32 inclusive xyxy.

    Cell (row, col) adds ``(col, row, col, row) * stride``; the sum is taken in float64 (as
    NumPy adds the float64 base anchors and the integer shifts) and rounded once to float32.
    """

    def part(index: npt.NDArray[np.int64], axis: int) -> npt.NDArray[np.float32]:
        shift = index.astype(np.float64) * stride
        out: npt.NDArray[np.float32] = (shift[:, None, None] + base[None, :, axis::2]).astype(_F32)
        return out

    return Grid(feature_map, len(base), lambda c: part(c, 0), lambda r: part(r, 1))


def shifted(
    base: npt.NDArray[np.float64], feature_map: tuple[int, int], stride: int
) -> npt.NDArray[np.float32]:
    """Every anchor of one level, ``(rows*cols*k, 4)`` float32 (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(base, feature_map, stride).array()
    return out


def level(
    base: npt.NDArray[np.float64],
    feature_map: tuple[int, int],
    stride: int,
    shapes: tuple[CellShape, ...],
    centre: float,
) -> Level:
    """One level of ``base`` anchors, checked for boxes float32 rounds away at far cells."""
    level_grid = grid(base, feature_map, stride)
    level_grid = checks.extents(
        level_grid,
        base[:, 2] - base[:, 0],
        base[:, 3] - base[:, 1],
        RULES,
        centres="--feat-stride/--strides",
        shapes="--scales/--ratios/--base-size",
        inclusive=True,
    )
    return grid_level(
        level_grid, stride=(float(stride), float(stride)), center0=(centre, centre), shapes=shapes
    )


def cell_shapes(
    base: npt.NDArray[np.float64], ratios: Sequence[float], scales: Sequence[float]
) -> tuple[CellShape, ...]:
    """The per-cell shapes, ratio-major, with inclusive widths and heights (``x2 - x1 + 1``)."""
    pairs = [(r, s) for r in ratios for s in scales]
    return tuple(
        CellShape(
            slot,
            {"ratio": r, "scale": s},
            float(box[2] - box[0] + 1),
            float(box[3] - box[1] + 1),
        )
        for slot, (box, (r, s)) in enumerate(zip(base, pairs, strict=True))
    )


def generate(params: Params) -> list[Level]:
    """Every feature map's anchors, float32 inclusive xyxy pixels (see the module rules)."""
    maps = checks.feature_maps(params)
    why = "pixels; the side of the reference window"
    given = params.get("base_size")
    base_size = 16.0 if given is None else checks.number(given, "base_size", why, positive=True)
    ratios = checks.option_floats(
        params, "ratios", checks.meaning(RULES, "ratios"), (0.5, 1.0, 2.0)
    )
    scales = checks.option_floats(
        params, "scales", "a scale multiplies the window", (8.0, 16.0, 32.0)
    )
    checks.per_cell(
        len(ratios) * len(scales), RULES, f"{len(ratios)} ratios x {len(scales)} scales"
    )
    strides = whole_strides(params, "feat_stride", len(maps), [16])
    with np.errstate(all="ignore"):
        base = base_anchors(base_size, ratios, scales)
    check_window(base, ratios, scales, f"the {base_size:g}-pixel reference window")
    shapes = cell_shapes(base, ratios, scales)
    centre = float(_F32((base_size - 1) * 0.5))
    return [
        level(base, fm, stride, shapes, centre) for fm, stride in zip(maps, strides, strict=True)
    ]


# --- validation, shared with gluoncv_rpn ------------------------------------------------------


def whole_strides(params: Params, name: str, levels: int, default: list[int]) -> list[int]:
    """A per-level option of strides in pixels: whole numbers >= 1, one per level (or one)."""
    return [
        checks.whole(v, name, "pixels between neighbouring cells", maximum=checks.MAX_SIDE)
        for v in per_level(params, name, levels, default)
    ]


def check_window(
    base: npt.NDArray[np.float64], ratios: Sequence[float], scales: Sequence[float], window: str
) -> None:
    """Refuse shapes narrower or lower than one pixel (inclusive ``x2 - x1 + 1 < 1``, so
    ``x2 < x1``): a ratio whose rounded window is empty, or a scale that shrinks it below one
    pixel; and shapes too large for float32."""
    widths = base[:, 2] - base[:, 0] + 1
    heights = base[:, 3] - base[:, 1] + 1
    if not (np.isfinite(widths).all() and np.isfinite(heights).all()):
        raise AnchorError(
            f"--scales/--ratios: {window} makes a box whose size is not finite; use smaller "
            "scales or ratios closer to 1"
        )
    pairs = [(r, s) for r in ratios for s in scales]
    for (r, s), w, h in zip(pairs, widths, heights, strict=True):
        if w >= 1 and h >= 1:
            continue
        if w * h == 0:
            raise AnchorError(
                f"--ratios: {r:g} rounds {window} to an empty box (0 pixels wide or high); "
                "use a ratio closer to 1 or a larger window"
            )
        raise AnchorError(
            f"--scales: {s:g} makes the ratio-{r:g} box {w:g} x {h:g} pixels, less than one "
            "pixel (the inclusive convention would give x2 < x1); use a larger scale"
        )
