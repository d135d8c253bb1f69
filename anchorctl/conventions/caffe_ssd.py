"""Original Caffe SSD ``PriorBox`` layer (weiliu89/caffe, branch ``ssd``).

The rules, as the layer applies them (``src/caffe/layers/prior_box_layer.cpp``, last changed
in commit 2a2bedff; parameters in ``src/caffe/proto/caffe.proto``, ``PriorBoxParameter``;
recipes in ``examples/ssd/ssd_pascal.py``):

* **Units**: the parameters are in input-image pixels; the output is normalized: every x is
  divided by the image width and every y by the image height. The image size is the data
  layer's (the second bottom), unless ``img_size`` (or ``img_h``/``img_w``) overrides it.
* **Sizes are truncated to whole pixels**: ``min_size`` and ``max_size`` are stored as float
  but copied into ``int`` locals before use, so 35.84 becomes 35 and 76.8 becomes 76, and the
  extra square is ``sqrt(35 * 76) = 51.58`` rather than 52.46 (weiliu89/caffe#843).
* **Ratio** ``ar`` means width / height: ``w = min * sqrt(ar)``, ``h = min / sqrt(ar)``.
  The ratio list starts with 1; each given ratio is added unless it lies within 1e-6 of one
  already listed, and with ``flip`` (on by default) its reciprocal follows it:
  ``[1, ar1, 1/ar1, ar2, 1/ar2, ...]``.
* **Per cell**, for each ``min_size`` in turn: the square of side ``min``; then, when max sizes
  are given, the square of side ``sqrt(min * max)``; then every ratio of the list other than
  1, in list order. ``k = len(ratio list) * len(min_sizes) + len(max_sizes)``.
* **Centres**: ``cx = (col + offset) * step_w``, ``cy = (row + offset) * step_h`` in pixels;
  ``offset`` defaults to 0.5 (the cell centre); ``step`` defaults to
  ``image / feature map`` as a float (SSD300 passes 8, 16, 32, 64, 100, 300 instead).
* **Order**: rows outer, columns next, the ``k`` shapes innermost.
* **Arithmetic**: centres and box sides are float; each corner is computed in double as
  ``(centre -+ side / 2) / image`` and stored as float32. Where the source calls ``sqrt`` on a
  float ratio this module takes the double ``sqrt`` (the C library function that GCC 4.8/5,
  the compilers of the SSD release era, resolve it to); a build that picks the float
  overload differs by at most one float32 step in a box side.
* **Clip** (off by default since weiliu89/caffe#526): each coordinate clamped to ``[0, 1]``.
* **Output**: ``(xmin, ymin, xmax, ymax)`` normalized, float32 (the layer's top blob also
  holds the variances, 1 or 4 values per box; they are validated and reported by
  :func:`variances`, not applied to the boxes).

Not the reference behaviour: the closed PR weiliu89/caffe#690 (and forks built from it) sizes
the ratio boxes by ``sqrt(min * max)``; the ``ssd`` branch uses ``min``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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

NAME = "caffe-ssd"
TITLE = "Caffe SSD PriorBox"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="normalized to the image (0..1); parameters in image pixels",
    size_meaning="side of the square box in image pixels, truncated to a whole pixel",
    ratio_meaning="width / height",
    order=(
        "per min_size: square min, square sqrt(min*max) (if max_sizes), then each ratio of "
        "[1, ar1, 1/ar1, ar2, 1/ar2, ...] other than 1"
    ),
    centre="((col + offset) * step_w, (row + offset) * step_h) pixels, offset 0.5",
    rounding="min_size and max_size truncated to int; corners float32",
    clip="optional: each coordinate clamped to [0, 1] (off by default)",
    native_format="xyxy",
    sources=(
        "weiliu89/caffe (branch ssd): src/caffe/layers/prior_box_layer.cpp, "
        "src/caffe/proto/caffe.proto (PriorBoxParameter), examples/ssd/ssd_pascal.py",
        "weiliu89/caffe#843 (int sizes), #526 (clip off), #880 (steps), PR #690 (not merged)",
    ),
    normalized=True,
)

OPTIONS = (
    Option(
        "min_sizes",
        "floats",
        "min_size of each prior, image pixels (truncated to int); required",
        per_level=True,
    ),
    Option(
        "max_sizes",
        "floats",
        "max_size per min_size, image pixels, each > its min_size; adds the sqrt(min*max) "
        "square [default: none]",
        per_level=True,
        default=[()],
    ),
    Option(
        "ratios",
        "floats",
        f"aspect_ratio values, {RULES.ratio_meaning}; 1 is always first [default: none, only 1]",
        per_level=True,
        default=[()],
    ),
    Option("flip", "flag", "also add 1/ar after each ratio ar [default: on]", default=True),
    Option("clip", "flag", "clamp every coordinate to [0, 1] [default: off]", default=False),
    Option(
        "variances",
        "floats",
        "variance: 1 value or 4 (stored with the boxes, not applied) [default: 0.1]",
        default=(0.1,),
    ),
    Option(
        "steps",
        "yx",
        "step (or step_h,step_w) between centres, image pixels [default: image / feature map]",
        per_level=True,
    ),
    Option("offset", "float", "centre offset within a step, in [0, 1] [default: 0.5]", default=0.5),
    Option(
        "img_size",
        "yx",
        "img_size (or img_h,img_w) in pixels, overriding the image size, as in the layer "
        "[default: the image size]",
    ),
)

_F32 = np.float32


@dataclass(frozen=True)
class PriorSlot:
    """One prior of a cell: the whole-pixel box side(s) as the layer computes them."""

    params: dict[str, float]
    width: np.float32
    height: np.float32


def ratio_list(ratios: Sequence[float], flip: bool) -> list[np.float32]:
    """The layer's ``aspect_ratios_``: 1 first, near-duplicates (1e-6) dropped, flips added."""
    out = [_F32(1.0)]
    for value in ratios:
        ar = _F32(value)
        if any(abs(ar - have) < 1e-6 for have in out):
            continue
        out.append(ar)
        if flip:
            out.append(_F32(1.0 / float(ar)))
    return out


def slots(
    min_sizes: Sequence[float], max_sizes: Sequence[float], ratios: Sequence[np.float32]
) -> list[PriorSlot]:
    """The per-cell priors in the layer's order, with their float32 sides in pixels."""
    out = []
    for index, min_value in enumerate(min_sizes):
        side = int(_F32(min_value))  # float field copied into an int local: truncation
        out.append(PriorSlot({"size": side, "ratio": 1.0}, _F32(side), _F32(side)))
        if max_sizes:
            big = int(_F32(max_sizes[index]))
            extra = _F32(math.sqrt(side * big))
            out.append(PriorSlot({"size": float(extra), "ratio": 1.0}, extra, extra))
        for ar in ratios:
            if abs(float(ar) - 1.0) < 1e-6:
                continue
            root = math.sqrt(float(ar))
            out.append(
                PriorSlot({"size": side, "ratio": float(ar)}, _F32(side * root), _F32(side / root))
            )
    return out


def variances(params: Params) -> tuple[float, float, float, float]:
    """The four variances the layer writes beside every box (one value given: repeated)."""
    values = params.get("variances")
    given = checks.floats(
        (0.1,) if values is None else values,
        "variances",
        "the variances stored beside every box",
    )
    if len(given) not in (1, 4):
        raise AnchorError(
            f"--variances: {len(given)} values given; give 1 (used for all four) or exactly 4"
        )
    if len(given) == 1:
        return (given[0],) * 4
    return (given[0], given[1], given[2], given[3])


def generate(params: Params) -> list[Level]:
    """Every level's priors, normalized xyxy float32, in PriorBox order (see module rules)."""
    maps = checks.feature_maps(params)
    n = len(maps)
    img_h, img_w = _image_size(params)
    min_sizes = per_level(params, "min_sizes", n)
    max_sizes = per_level(params, "max_sizes", n, [()])
    ratios = per_level(params, "ratios", n, [()])
    steps = per_level(params, "steps", n, [None])
    flip = checks.flag_value(params, "flip", True)
    clip = checks.flag_value(params, "clip", False)
    offset = checks.fraction(
        0.5 if params.get("offset") is None else params["offset"],
        "offset",
        "the centre's offset within a step",
    )
    variances(params)  # validated here so a bad value is refused with the rest
    levels = []
    for index, (fm, mins, maxs, ars, step) in enumerate(
        zip(maps, min_sizes, max_sizes, ratios, steps, strict=True)
    ):
        where = f" (level {index})" if n > 1 else ""
        mins_t, maxs_t = _sizes(mins, maxs, where)
        ars_t = checks.floats(
            ars or (), "ratios", checks.meaning(RULES, "ratios"), allow_empty=True, where=where
        )
        with np.errstate(all="ignore"):
            listed = ratio_list(ars_t, flip)
        checks.per_cell(
            len(listed) * len(mins_t) + len(maxs_t),
            RULES,
            f"{len(mins_t)} min sizes and {len(listed)} ratios",
        )
        with np.errstate(all="ignore"):
            cell = slots(mins_t, maxs_t, listed)
        step_yx = _step(step, fm, img_h, img_w, where)
        levels.append(_level(fm, cell, step_yx, offset, img_h, img_w, clip))
    return levels


def grid(
    fm: tuple[int, int],
    cell: list[PriorSlot],
    step_yx: tuple[np.float32, np.float32],
    offset: float,
    img_h: int,
    img_w: int,
    clip: bool,
) -> Grid:
    """One level's priors on demand: normalized float32 xyxy, rows outer.

    Float centres ``(i + offset) * step`` as the layer's ``(w + offset_) * step_w``; corners
    ``(centre -+ side / 2) / image`` in double, stored as float32; ``clip`` clamps to [0, 1].
    """
    step_h, step_w = step_yx
    off = _F32(offset)
    half_w = np.array([s.width for s in cell], dtype=np.float64) / 2.0
    half_h = np.array([s.height for s in cell], dtype=np.float64) / 2.0

    def part(
        index: npt.NDArray[np.int64], step: np.float32, half: npt.NDArray[np.float64], side: int
    ) -> npt.NDArray[np.float32]:
        centre = ((index.astype(_F32) + off) * step).astype(_F32).astype(np.float64)[:, None]
        return np.stack([(centre - half) / side, (centre + half) / side], axis=-1).astype(_F32)

    return Grid(
        fm,
        len(cell),
        lambda c: part(c, step_w, half_w, img_w),
        lambda r: part(r, step_h, half_h, img_h),
        clip=(0.0, 1.0) if clip else None,
    )


def _level(
    fm: tuple[int, int],
    cell: list[PriorSlot],
    step_yx: tuple[np.float32, np.float32],
    offset: float,
    img_h: int,
    img_w: int,
    clip: bool,
) -> Level:
    step_h, step_w = step_yx
    widths = np.array([np.float64(s.width) / img_w for s in cell])
    heights = np.array([np.float64(s.height) / img_h for s in cell])
    level_grid = checks.extents(
        grid(fm, cell, step_yx, offset, img_h, img_w, clip),
        widths,
        heights,
        RULES,
        centres="--steps/--offset/--img-size",
        shapes="--min-sizes/--max-sizes/--ratios",
    )
    shapes = tuple(
        CellShape(slot, s.params, float(widths[slot]), float(heights[slot]))
        for slot, s in enumerate(cell)
    )
    off = _F32(offset)
    return grid_level(
        level_grid,
        stride=(float(step_h) / img_h, float(step_w) / img_w),
        center0=(float(off * step_w) / img_w, float(off * step_h) / img_h),
        shapes=shapes,
    )


def _image_size(params: Params) -> tuple[int, int]:
    """``(img_h, img_w)``: ``img_size`` when given, else the image size (required)."""
    override = params.get("img_size")
    if override is not None:
        why = "img_size, or img_h,img_w, in whole pixels"
        img_h, img_w = checks.pair(override, "img_size", why)
        for value in (img_h, img_w):
            if not (checks.is_whole(value) and 1 <= value <= checks.MAX_SIDE):
                raise AnchorError(
                    f"--img-size: {value:g} is not a whole number of pixels from 1 to 2**53 "
                    "(img_size, or img_h,img_w)"
                )
        return int(img_h), int(img_w)
    if params.get("image_size") is None:
        raise AnchorError(
            "caffe-ssd needs the image size (the data layer's width x height): give "
            "--input-size WxH, or --img-size as the PriorBox layer's img_size"
        )
    width, height = checks.image_size(params)
    return int(height), int(width)


def _sizes(
    mins: Sequence[float], maxs: Sequence[float], where: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    why = "PriorBox truncates it to an int; pixels"
    mins_t = checks.floats(mins, "min_sizes", why, where=where)
    maxs_t = checks.floats(maxs or (), "max_sizes", why, allow_empty=True, where=where)
    for value in mins_t:
        if value < 1 or value >= 2**31:
            raise AnchorError(
                f"--min-sizes{where}: {value:g} must be a number of pixels from 1 to 2**31 - 1 "
                "(PriorBox truncates it to a 32-bit int)"
            )
    if maxs_t:
        if len(maxs_t) != len(mins_t):
            raise AnchorError(
                f"--max-sizes{where}: {len(maxs_t)} given for {len(mins_t)} min_size(s); "
                "give one max_size per min_size, or none"
            )
        for low, high in zip(mins_t, maxs_t, strict=True):
            if not _F32(high) > _F32(low):
                raise AnchorError(
                    f"--max-sizes{where}: {high:g} must be greater than its min_size {low:g}"
                )
            if int(_F32(low)) * int(_F32(high)) >= 2**31:
                raise AnchorError(
                    f"--max-sizes{where}: {low:g} x {high:g} overflows the 32-bit int product "
                    "PriorBox takes the square root of"
                )
    return mins_t, maxs_t


def _step(
    step: Any, fm: tuple[int, int], img_h: int, img_w: int, where: str
) -> tuple[np.float32, np.float32]:
    """``(step_h, step_w)`` as the layer's floats: given, or ``float(img) / layer``."""
    rows, cols = fm
    if step is None:
        return _F32(img_h) / _F32(rows), _F32(img_w) / _F32(cols)
    step_h, step_w = checks.pair(
        step, "steps", f"pixels between centres (step, or step_h,step_w){where}"
    )
    return _F32(step_h), _F32(step_w)
