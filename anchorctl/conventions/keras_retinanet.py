"""fizyr/keras-retinanet: RetinaNet anchors on P3-P7, in input pixels, float64.

The rules, as ``keras_retinanet/utils/anchors.py`` applies them (``AnchorParameters``,
``anchors_for_shape``, ``generate_anchors``, ``shift``, ``guess_shapes``):

* **Units**: pixels of the input image.
* **Defaults** (``AnchorParameters.default``): sizes 32, 64, 128, 256, 512 and strides
  8, 16, 32, 64, 128 on pyramid levels 3-7 (``2**(l + 2)`` and ``2**l``), ratios
  ``[0.5, 1, 2]``, scales ``[1, 2**(1/3), 2**(2/3)]``: 9 anchors per cell.
* **Size and scale**: the side of the equal-area square is ``size * scale``.
* **Ratio** ``r`` means **height / width**: ``w = sqrt((size * scale)^2 / r)``, ``h = w * r``
  (the opposite of keras-cv's width / height, although the default numbers look the same).
* **Per cell**, ``k = len(ratios) * len(scales)``, **ratio-major**: for each ratio, every scale
  (``slot = ratio_index * len(scales) + scale_index``).
* **Centres**: ``((col + 0.5) * stride, (row + 0.5) * stride)``; feature maps are guessed as
  ``ceil(image / 2**l)`` (``guess_shapes``). fizyr/keras-retinanet#1073 (and the closed
  PR #1075) discuss the offset when the image is not a multiple of the stride; it was not
  changed.
* **Order**: index ``(row * cols + col) * k + slot``; levels concatenated P3 ... P7.
* **Output**: ``(x1, y1, x2, y2)`` pixels; no rounding, no clipping.
* **Precision**: ``AnchorParameters`` holds ratios and scales as ``float32`` arrays
  (``keras.backend.floatx()``), so ``size * scale`` is a float32 product; everything after
  that - the area, ``sqrt``, ``h = w * r``, the shifts and the sums - is numpy **float64**, and
  ``anchors_for_shape`` (used for the training targets and the debug drawings) returns float64.
  This module returns the same float64 array. (The model's ``Anchors`` layer builds the same
  boxes in TensorFlow float32; it agrees to float32 rounding.)
* P3 cell (0, 0): ``[-18.627417, -7.313708, 26.627417, 15.313708]`` (ratio 0.5, scale 1),
  ``[-12, -12, 20, 20]`` (ratio 1, scale 1).

Levels: ``--pyramid-levels`` names each map's level ``l`` (stride ``2**l``, size
``2**(l + 2)``). Without it, five maps are P3-P7; other counts are matched to levels with
``guess_shapes`` from ``--input-size``. (keras-retinanet itself indexes ``sizes`` and
``strides`` by position in the level list; with the default levels that is the same thing.)
Explicit ``--sizes`` and ``--strides`` override the level's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    Grid,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    per_level,
    shapes_from_cell,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "keras-retinanet"

RULES = Rules(
    name=NAME,
    title="keras-retinanet (fizyr) anchors",
    units="pixels",
    size_meaning="size * scale = side of the equal-area square, pixels",
    ratio_meaning="height / width",
    order="ratio-major: for each ratio, every scale",
    centre="((col + 0.5) * stride, (row + 0.5) * stride)",
    rounding="none (float64; ratios and scales held as float32)",
    clip="none",
    native_format="xyxy",
    sources=(
        "fizyr/keras-retinanet: keras_retinanet/utils/anchors.py (AnchorParameters, "
        "anchors_for_shape, generate_anchors, shift, guess_shapes)",
        "fizyr/keras-retinanet#1073, PR #1075 (centre offset; not merged)",
    ),
)

DEFAULT_LEVELS = (3, 4, 5, 6, 7)

OPTIONS = (
    Option(
        "sizes",
        "floats",
        "anchor size of each level in pixels, one per level (one list of one size per map "
        "also works) [default: 2**(level + 2): 32,64,128,256,512]",
        per_level=True,
    ),
    Option(
        "strides",
        "yx",
        "stride of each level in pixels, the same on both axes [default: 2**level: 8,16,32,64,128]",
        per_level=True,
    ),
    Option(
        "ratios",
        "floats",
        f"{RULES.ratio_meaning} (0.5 is wide, 2 is tall) [default: 0.5,1,2]",
        default=(0.5, 1.0, 2.0),
    ),
    Option(
        "scales",
        "floats",
        "scales of the size [default: 1, 2**(1/3), 2**(2/3)]",
        default=(1.0, 2 ** (1.0 / 3.0), 2 ** (2.0 / 3.0)),
    ),
    Option(
        "pyramid_levels",
        "int",
        "pyramid level l of each feature map (stride 2**l) [default: 3,4,5,6,7 for five maps; "
        "otherwise matched by ceil(image / 2**l) from --input-size]",
        per_level=True,
    ),
)

_F32 = np.float32


def generate_anchors(
    size: float, ratios: Sequence[float], scales: Sequence[float]
) -> npt.NDArray[np.float64]:
    """The ``(len(ratios) * len(scales), 4)`` zero-centred cell anchors, ratio-major, float64.

    As ``generate_anchors``: ``side = size * scale`` in float32 (scales are float32), then in
    float64 ``w = sqrt(side * side / r)``, ``h = w * r``, corners ``(-w/2, -h/2, w/2, h/2)``.
    """
    r32 = np.asarray(ratios, dtype=np.float64).astype(_F32)
    s32 = np.asarray(scales, dtype=np.float64).astype(_F32)
    side = (_F32(size) * np.tile(s32, len(r32))).astype(np.float64)
    r = np.repeat(r32, len(s32)).astype(np.float64)
    w = np.sqrt(side * side / r)
    h = w * r
    out = np.empty((len(w), 4), dtype=np.float64)
    out[:, 0] = -(w * 0.5)
    out[:, 1] = -(h * 0.5)
    out[:, 2] = w - w * 0.5
    out[:, 3] = h - h * 0.5
    return out


def grid(feature_map: tuple[int, int], stride: float, base: npt.NDArray[np.float64]) -> Grid:
    """One level's anchors on demand, float64 xyxy, ``(row*cols+col)*k+slot``.

    Centres ``(arange(n) + 0.5) * stride`` in float64, added to the cell anchors (``shift``).
    """
    base = base.astype(np.float64, copy=False)

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        shift_x = (cols.astype(np.float64) + 0.5) * stride
        out: npt.NDArray[np.float64] = shift_x[:, None, None] + base[None, :, 0::2]
        return out

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        shift_y = (rows.astype(np.float64) + 0.5) * stride
        out: npt.NDArray[np.float64] = shift_y[:, None, None] + base[None, :, 1::2]
        return out

    return Grid(feature_map, len(base), x_part, y_part, dtype=np.float64)


def shift(
    feature_map: tuple[int, int], stride: float, base: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Every anchor of one level: ``(rows*cols*k, 4)`` float64 (see :func:`grid`)."""
    out: npt.NDArray[np.float64] = grid(feature_map, stride, base).array()
    return out


def generate(params: Params) -> list[Level]:
    """Every level's anchors in pixels, xyxy float64, in keras-retinanet order (see the rules)."""
    maps = checks.feature_maps(params)
    defaults = {o.name: o.default for o in OPTIONS}
    ratios = checks.option_floats(
        params, "ratios", checks.meaning(RULES, "ratios"), defaults["ratios"]
    )
    scales = checks.option_floats(params, "scales", "scales of the size", defaults["scales"])
    checks.per_cell(
        len(ratios) * len(scales), RULES, f"{len(ratios)} ratios x {len(scales)} scales"
    )
    need_levels = params.get("sizes") is None or params.get("strides") is None
    pyramid = _levels(params, maps) if need_levels else [None] * len(maps)
    sizes = (
        [2.0 ** (lv + 2) for lv in pyramid if lv is not None]
        if params.get("sizes") is None
        else _level_sizes(params, len(maps))
    )
    strides = (
        [2.0**lv for lv in pyramid if lv is not None]
        if params.get("strides") is None
        else [x for _, x in checks.strides(params, "strides", len(maps), RULES, same_axes=True)]
    )
    pairs = [{"ratio": r, "scale": s} for r in ratios for s in scales]
    levels = []
    for fm, size, stride in zip(maps, sizes, strides, strict=True):
        with np.errstate(all="ignore"):
            base = generate_anchors(size, ratios, scales)
        level_grid = grid(fm, stride, base)
        level_grid = checks.extents(
            level_grid,
            base[:, 2] - base[:, 0],
            base[:, 3] - base[:, 1],
            RULES,
            centres="--strides",
            shapes="--sizes/--scales/--ratios",
        )
        slot_params = [{"size": size, **p} for p in pairs]
        # float64, as keras-retinanet returns them (Level's float32 annotation is the common case)
        levels.append(
            grid_level(
                level_grid,
                stride=(stride, stride),
                center0=(0.5 * stride, 0.5 * stride),
                shapes=shapes_from_cell(base, slot_params),
            )
        )
    return levels


def _levels(params: Params, maps: Sequence[tuple[int, int]]) -> list[int | None]:
    if params.get("pyramid_levels") is not None:
        out: list[int | None] = []
        for value in per_level(params, "pyramid_levels", len(maps)):
            out.append(
                checks.whole(
                    value,
                    "pyramid_levels",
                    "level l has stride 2**l; give whole numbers such as 3,4,5,6,7",
                    minimum=0,
                    maximum=30,
                )
            )
        return out
    if len(maps) == len(DEFAULT_LEVELS):
        return list(DEFAULT_LEVELS)
    image = params.get("image_size")
    if image is None:
        raise AnchorError(
            f"--pyramid-levels: {len(maps)} feature map(s) given but the default levels "
            "3,4,5,6,7 need five; name each map's level, give --sizes and --strides, or give "
            "--input-size to match them by ceil(image / 2**level)"
        )
    width, height = checks.image_size(params)
    found: list[int | None] = []
    for rows, cols in maps:
        level = next(
            (
                lv
                for lv in range(31)
                if -(-height // (1 << lv)) == rows and -(-width // (1 << lv)) == cols
            ),
            None,
        )
        if level is None:
            raise AnchorError(
                f"--pyramid-levels: the {rows}x{cols} feature map is no ceil({width}x{height} / "
                "2**level) (keras-retinanet's guess_shapes); give --pyramid-levels"
            )
        found.append(level)
    return found


def _level_sizes(params: Params, levels: int) -> list[float]:
    """``--sizes``: one size per level, given per level or as one list of ``levels`` sizes."""
    given = params["sizes"]
    if isinstance(given, (int, float)):
        given = [given]
    given = list(given)
    if len(given) == 1 and levels > 1 and _count(given[0]) == levels:
        entries: list[Any] = [(v,) for v in given[0]]
    else:
        entries = per_level(params, "sizes", levels)
    out = []
    for entry in entries:
        values = (entry,) if isinstance(entry, (int, float)) else tuple(entry)
        if len(values) != 1:
            raise AnchorError(
                f"--sizes: keras-retinanet takes one size per level, got {len(values)} for one "
                "level (more shapes per cell come from --scales and --ratios)"
            )
        out.append(checks.floats(values, "sizes", checks.meaning(RULES, "sizes"))[0])
    return out


def _count(value: Any) -> int:
    return 1 if isinstance(value, (int, float)) else len(value)
