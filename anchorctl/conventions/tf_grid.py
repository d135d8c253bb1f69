"""TensorFlow Object Detection API ``GridAnchorGenerator`` (Faster R-CNN first stage).

The rules, as the generator applies them (tensorflow/models ``research/object_detection``:
``anchor_generators/grid_anchor_generator.py`` with its ``tile_anchors``; ``utils/ops.py``
``meshgrid``; ``protos/grid_anchor_generator.proto``; ``core/box_list.py``):

* **Units**: absolute input-image pixels; the generator never sees the image size.
* **Ratio** ``ar`` means width / height: ``height = scale / sqrt(ar) * base_h``,
  ``width = scale * sqrt(ar) * base_w``; ``base_anchor_size`` is ``(height, width)``,
  default ``(256, 256)``.
* **Per cell** ``len(scales) * len(ratios)`` shapes, **ratio outer, scale inner** (the
  scales/ratios meshgrid is flattened with scales varying fastest).
* **Centres**: ``y = row * stride_y + offset_y``, ``x = col * stride_x + offset_x``;
  ``anchor_stride`` default ``(16, 16)``, ``anchor_offset`` default ``(0, 0)``: the centre of
  cell (0, 0) sits on the image's top-left corner unless an offset is given.
* **Order**: rows outer, columns next, shapes innermost.
* **Arithmetic**: float32 tensors throughout; corners are ``centre -+ 0.5 * size``.
* **Rounding / clip**: none (Faster R-CNN prunes or clips anchors later, outside the
  generator).
* **Output**: a ``BoxList`` of ``[ymin, xmin, ymax, xmax]`` (y first), like every pair
  parameter here (height/width, y/x).
* Exactly **one feature map**: the generator refuses a longer list.

:func:`tile_anchors` is shared with :mod:`~anchorctl.conventions.tf_ssd` and
:mod:`~anchorctl.conventions.tf_multiscale`, which build on it as TensorFlow does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import CellShape, Grid, Level, Option, Params, Rules, grid_level
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "tf-grid"
TITLE = "TF GridAnchorGenerator"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="image pixels",
    size_meaning="scale times base_anchor_size (height, width), pixels",
    ratio_meaning="width / height",
    order="ratio outer, scale inner: (r0,s0), (r0,s1), ..., (r1,s0), ...",
    centre="(col * stride_x + offset_x, row * stride_y + offset_y), offset 0: top-left corner",
    rounding="none (float32)",
    clip="none",
    native_format="yxyx",
    sources=(
        "tensorflow/models: research/object_detection/anchor_generators/"
        "grid_anchor_generator.py, utils/ops.py (meshgrid), protos/grid_anchor_generator.proto",
    ),
)

OPTIONS = (
    Option(
        "scales", "floats", "scales of base_anchor_size [default: 0.5,1,2]", default=(0.5, 1.0, 2.0)
    ),
    Option(
        "ratios",
        "floats",
        f"aspect_ratios, {RULES.ratio_meaning} [default: 0.5,1,2]",
        default=(0.5, 1.0, 2.0),
    ),
    Option(
        "base_anchor_size",
        "yx",
        "base anchor HEIGHT,WIDTH in pixels [default: 256,256]",
        default=(256.0, 256.0),
    ),
    Option(
        "anchor_stride",
        "yx",
        "centre spacing STRIDE_Y,STRIDE_X in pixels [default: 16,16]",
        default=(16.0, 16.0),
    ),
    Option(
        "anchor_offset",
        "yx",
        "centre of cell (0,0) OFFSET_Y,OFFSET_X in pixels [default: 0,0]",
        default=(0.0, 0.0),
    ),
)

_F32 = np.float32
if TYPE_CHECKING:  # a type checker's name only: numpy.typing costs start-up time
    F32Array = npt.NDArray[np.float32]


def box_sizes(
    scales: F32Array, ratios: F32Array, base_h: np.float32, base_w: np.float32
) -> tuple[F32Array, F32Array]:
    """``(heights, widths)`` of paired ``scales``/``ratios`` (float32), as ``tile_anchors``."""
    root = np.sqrt(ratios)
    heights = (scales / root * base_h).astype(_F32)
    widths = (scales * root * base_w).astype(_F32)
    return heights, widths


def tile_grid(
    grid: tuple[int, int],
    heights: F32Array,
    widths: F32Array,
    stride: tuple[np.float32, np.float32],
    offset: tuple[np.float32, np.float32],
    scale: tuple[np.float32, np.float32] | None = None,
) -> Grid:
    """``tile_anchors`` on demand: every shape at every centre, float32 xyxy, rows outer.

    Centres are ``arange * stride + offset`` in float32; corners ``centre -+ 0.5 * size``;
    ``scale`` ``(y, x)``, when given, multiplies every y and x afterwards in float32 (the
    normalization of ``to_normalized_coordinates``).
    """
    half_h = _F32(0.5) * heights
    half_w = _F32(0.5) * widths

    def part(index: npt.NDArray[np.int64], axis: int) -> F32Array:
        centre = (index.astype(_F32) * stride[axis] + offset[axis]).astype(_F32)[:, None]
        half = half_h if axis == 0 else half_w
        out: F32Array = np.stack([centre - half, centre + half], axis=-1)
        if scale is not None:
            out = out * scale[axis]
        return out

    return Grid(grid, len(heights), lambda c: part(c, 1), lambda r: part(r, 0))


def tile_anchors(
    grid: tuple[int, int],
    heights: F32Array,
    widths: F32Array,
    stride: tuple[np.float32, np.float32],
    offset: tuple[np.float32, np.float32],
) -> F32Array:
    """``(rows*cols*k, 4)`` float32 xyxy: every shape at every centre (see :func:`tile_grid`)."""
    out: F32Array = tile_grid(grid, heights, widths, stride, offset).array()
    return out


def tiled_level(
    grid: Grid,
    heights: F32Array,
    widths: F32Array,
    labels: Sequence[dict[str, float]],
    rules: Rules,
    stride: tuple[float, float],
    center0: tuple[float, float],
    normalized: bool | None = None,
) -> Level:
    """A TF level on demand, checked for boxes float32 loses at its far cells."""
    grid = checks.extents(
        grid,
        widths.astype(np.float64),
        heights.astype(np.float64),
        rules,
        centres="--anchor-stride/--anchor-offset (strides and offsets)",
        shapes="--scales/--ratios/--base-anchor-size",
    )
    return grid_level(grid, stride, center0, shapes(labels, heights, widths), normalized)


def ratio_major(
    scales: Sequence[float], ratios: Sequence[float]
) -> tuple[list[float], list[float]]:
    """The (scale, ratio) pairs of ``ops.meshgrid(scales, ratios)`` flattened: scale fastest."""
    return [s for _ in ratios for s in scales], [r for r in ratios for _ in scales]


def shapes(
    params: Sequence[dict[str, float]], heights: F32Array, widths: F32Array
) -> tuple[CellShape, ...]:
    """Per-cell shapes from the float32 extents (the unclipped nominal sizes)."""
    return tuple(
        CellShape(slot, p, float(widths[slot]), float(heights[slot]))
        for slot, p in enumerate(params)
    )


def generate(params: Params) -> list[Level]:
    """The one feature map's anchors, pixel xyxy float32, in GridAnchorGenerator order."""
    maps = checks.feature_maps(params)
    if len(maps) != 1:
        raise AnchorError(
            f"tf-grid: GridAnchorGenerator takes exactly one feature map, {len(maps)} given; "
            "use tf-multiscale or tf-ssd for several levels"
        )
    scales = checks.option_floats(
        params, "scales", "a scale multiplies base_anchor_size", (0.5, 1.0, 2.0)
    )
    ratios = checks.option_floats(
        params, "ratios", checks.meaning(RULES, "ratios"), (0.5, 1.0, 2.0)
    )
    checks.per_cell(
        len(scales) * len(ratios), RULES, f"{len(ratios)} ratios x {len(scales)} scales"
    )
    base = positive_pair(params, "base_anchor_size", (256.0, 256.0), "pixels, height,width")
    stride = positive_pair(params, "anchor_stride", (16.0, 16.0), "pixels, y,x")
    offset = checks.pair(
        params.get("anchor_offset") or (0.0, 0.0),
        "anchor_offset",
        "the centre of cell (0,0) in pixels from the top-left corner, y,x",
        positive=False,
    )
    for value in offset:
        if value < 0:
            raise AnchorError(
                f"--anchor-offset: {value:g} is negative; it is the centre of cell (0,0) in "
                "pixels from the top-left corner"
            )
    pair_s, pair_r = ratio_major(scales, ratios)
    with np.errstate(all="ignore"):
        heights, widths = box_sizes(
            np.array(pair_s, dtype=_F32),
            np.array(pair_r, dtype=_F32),
            _F32(base[0]),
            _F32(base[1]),
        )
    stride32 = (_F32(stride[0]), _F32(stride[1]))
    offset32 = (_F32(offset[0]), _F32(offset[1]))
    labels = [{"scale": s, "ratio": r} for s, r in zip(pair_s, pair_r, strict=True)]
    return [
        tiled_level(
            tile_grid(maps[0], heights, widths, stride32, offset32),
            heights,
            widths,
            labels,
            RULES,
            stride=(float(stride32[0]), float(stride32[1])),
            center0=(float(offset32[1]), float(offset32[0])),
        )
    ]


# Validation shared by the TF conventions.


def positive_pair(
    params: Params, name: str, default: tuple[float, float], meaning: str
) -> tuple[float, float]:
    """A ``yx`` option of two positive numbers, or its default."""
    value = params.get(name)
    return checks.pair(default if value is None else value, name, meaning)
