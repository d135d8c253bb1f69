"""MMDetection ``AnchorGenerator``, ``SSDAnchorGenerator`` and ``YOLOAnchorGenerator``, in pixels.

The rules, as the generators apply them (open-mmlab/mmdetection:
``mmdet/models/task_modules/prior_generators/anchor_generator.py`` in 3.x,
``mmdet/core/anchor/anchor_generator.py`` in 2.x; the classes are the same):

**Which generator.** ``AnchorGenerator`` by default; ``--ssd`` selects ``SSDAnchorGenerator``
and ``--yolo`` selects ``YOLOAnchorGenerator``. The variant is a flag rather than guessed from
the options given, because SSD with its defaults (``basesize_ratio_range (0.15, 0.9)``,
``input_size 300``) is called with no SSD-only option at all, and ``strides`` and ``ratios``
are shared but mean different things. An option the chosen generator does not read is refused.

**AnchorGenerator** (Faster R-CNN, RetinaNet, ...):

* **Units**: pixels of the padded input. **Ratio** ``r`` means **height / width**:
  ``w = base * scale / sqrt(r)``, ``h = base * scale * sqrt(r)``; ``base * scale`` is the side
  of the equal-area square (open-mmlab/mmdetection#6981). One ratio list serves every level.
* **Scales**: ``scales``, or ``octave_base_scale * 2**(i / scales_per_octave)`` for
  ``i = 0 .. scales_per_octave - 1`` (exactly one of the two). ``base_sizes`` defaults to the
  smaller of each level's two strides.
* **Strides** are ``(w, h)`` in MMDetection, **width first**; here ``--strides`` is
  ``STRIDE_Y,STRIDE_X`` like every ``y,x`` option of anchorctl, and is swapped on the way in.
* **Per cell**, ``k = len(ratios) * len(scales)``. ``scale_major=True`` (the default) gives
  **ratio-outer, scale-inner** order (``slot = ratio_index * len(scales) + scale_index``), the
  same as torchvision; ``scale_major=False`` (``--no-scale-major``) gives scale-outer,
  ratio-inner. The name reads backwards (open-mmlab/mmdetection#10628).
* **Centres**: the cell anchors sit at ``center_offset * base_size`` (default 0: the top-left
  corner of cell (0, 0)); note it is a fraction of the *base size*, so 0.5 is the cell centre
  only when the base size equals the stride. ``center_offset`` must lie in [0, 1]. Cell
  (row, col) adds ``(col * stride_w, row * stride_h)``.
* **Order**: index ``(row * cols + col) * k + slot`` (the docstring: the first ``k`` rows are
  cell (0, 0), then (0, 1), (0, 2), ...). Output float32 ``(x1, y1, x2, y2)``; no rounding
  since v2.0; no clipping (``valid_flags`` marks cells beyond ``ceil(pad / stride)``).
* Docstring example: strides 16, ratio 1, scale 1, base size 9 on a 2 x 2 map gives
  ``[-4.5, -4.5, 4.5, 4.5], [11.5, -4.5, 20.5, 4.5], [-4.5, 11.5, 4.5, 20.5],
  [11.5, 11.5, 20.5, 20.5]``.

**SSDAnchorGenerator** (``--ssd``):

* Centres at ``stride / 2``: cell (row, col) at ``((col + 0.5) * stride_w, (row + 0.5) *
  stride_h)``.
* Sizes: ``--min-sizes`` and ``--max-sizes`` (both or neither), or the Caffe recipe from
  ``basesize_ratio_range`` and ``input_size`` with integer truncation:
  ``lo = int(100 * range[0])``, ``hi = int(100 * range[1])``,
  ``step = int(floor(hi - lo) / (levels - 2))``, for ``p`` in ``range(lo, hi + 1, step)``:
  ``min = int(input_size * p / 100)``, ``max = int(input_size * (p + step) / 100)``, then a first
  level is prepended: 300 with 0.15 gives (21, 45), 300 with 0.2 (30, 60), 512 with 0.1
  (20, 51), 512 with 0.15 (35, 76); anything else is refused, as MMDetection refuses it.
* Per level, ratio list ``[1] + [1/r, r for each r in ratios]`` (h / w, so ``1/r`` is the wide
  box) and scales ``[1, sqrt(max / min)]`` on base size ``min``. The ``2 * len(list)`` shapes
  are then re-indexed ``[0, N, 1, 2, ..., N-1]`` (``N = len(list)``): with
  ``scale_major=False`` (every shipped SSD config sets it: ``--no-scale-major``) that is
  Caffe's order - min square, ``sqrt(min * max)`` square, wide ``r``, tall ``r``, ... With the
  class default ``scale_major=True`` MMDetection silently picks a *different, wrong* set of
  shapes; anchorctl reproduces that too (open-mmlab/mmdetection configs never hit it).
* SSD300: strides 8,16,32,64,100,300, ratios 2 | 2,3 | 2,3 | 2,3 | 2 | 2 (8732 boxes); SSD512:
  strides 8 ... 512, ratios 2 | 2,3 (x4) | 2 | 2. Without ``--strides`` / ``--ratios`` these
  are used when the level count and ``input_size`` match.

**YOLOAnchorGenerator** (``--yolo``):

* ``--yolo-base-sizes`` (MMDetection's ``base_sizes``): per level a list of ``(w, h)`` pixel
  pairs, the same count on every level; per-cell order as listed. Centres at ``stride / 2``.
  Default: the YOLOv3 config's pairs, chosen by stride (32: 116x90, 156x198, 373x326;
  16: 30x61, 62x45, 59x119; 8: 10x13, 16x30, 33x23). The YOLOv3 config lists strides
  32, 16, 8 (coarsest level first, like darknet).

Strides, when not given (``AnchorGenerator``, ``--yolo``): the power of two with
``ceil(image / stride) = feature map`` on both axes, from ``--input-size``; ``--yolo`` on three
maps without an image size takes 8, 16, 32 for the largest, middle and smallest map.

Every value is computed in float32 in the generators' order of operations (cell anchors from
float32 ``sqrt``, ``1 / sqrt``, products in the order the code multiplies; shifts
``float32(i) * stride``), to match MMDetection bit for bit where torch's float32 ``sqrt`` is
correctly rounded: on some CPUs it is not (0.65% of random ratios, none of the common ones),
and such a shape is then a float32 step off. No recorded MMDetection output is stored yet;
``tests/vectors/handmade/mmdet.json`` holds numbers worked out by hand from its sources.

Sources: open-mmlab/mmdetection ``mmdet/models/task_modules/prior_generators/
anchor_generator.py`` (3.x) and the configs ``configs/_base_/models/faster-rcnn_r50_fpn.py``,
``retinanet_r50_fpn.py``, ``ssd300.py`` and the YOLOv3 configs in ``configs/yolo/``;
issues open-mmlab/mmdetection#5157, #5619, #6981, #10628; PR #2474 (v2 refactor); PR #8743
(closed, not the release: several min/max sizes per level with the big square last).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    TORCH_SQRT,
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

NAME = "mmdet"

RULES = Rules(
    name=NAME,
    title="MMDetection AnchorGenerator (--ssd: SSDAnchorGenerator, --yolo: YOLOAnchorGenerator)",
    units="pixels",
    size_meaning="base_size * scale = side of the equal-area square, pixels (SSD: min_sizes, "
    "sqrt(min*max); YOLO: explicit w x h)",
    ratio_meaning="height / width",
    order="scale_major=True (default): ratio-outer, scale-inner; SSD: Caffe order with "
    "scale_major=False; YOLO: as listed",
    centre="col * stride_w + center_offset * base_size (default 0: cell corner); "
    "SSD and YOLO: (col + 0.5) * stride",
    rounding="none (float32)",
    exactness=TORCH_SQRT,
    clip="none (valid_flags marks cells on padding)",
    native_format="xyxy",
    sources=(
        "open-mmlab/mmdetection: mmdet/models/task_modules/prior_generators/"
        "anchor_generator.py (AnchorGenerator, SSDAnchorGenerator, YOLOAnchorGenerator; 3.x)",
        "open-mmlab/mmdetection: configs/_base_/models/{faster-rcnn_r50_fpn,retinanet_r50_fpn,"
        "ssd300}.py, configs/yolo/",
        "open-mmlab/mmdetection#6981 (base*scale is a side), #10628 (scale_major reads "
        "backwards), #5619 (corner centres), PR #2474 (v2)",
    ),
)

# Shipped configs used as defaults where the class itself has none.
SSD_PRESETS: dict[int, tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]] = {
    300: ((8, 16, 32, 64, 100, 300), ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))),
    512: (
        (8, 16, 32, 64, 128, 256, 512),
        ((2,), (2, 3), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    ),
}
YOLOV3_BASE_SIZES: dict[int, tuple[tuple[float, float], ...]] = {
    32: ((116, 90), (156, 198), (373, 326)),
    16: ((30, 61), (62, 45), (59, 119)),
    8: ((10, 13), (16, 30), (33, 23)),
}

OPTIONS = (
    Option(
        "strides",
        "yx",
        "stride of each level STRIDE_Y,STRIDE_X in pixels (MMDetection writes (w, h), width "
        "first; anchorctl takes y first) [default: from --input-size, the power of two with "
        "ceil(image / stride) = feature map; --ssd: the SSD300/SSD512 config; --yolo on three "
        "maps: 8,16,32 by map size]",
        per_level=True,
    ),
    Option(
        "ratios",
        "floats",
        f"{RULES.ratio_meaning} (0.5 is wide, 2 is tall). AnchorGenerator: one list for every "
        "level [default 0.5,1,2, as every shipped config]. --ssd: per level the extra ratios r, "
        "each adding 1/r and r to [1] [default: the SSD300/SSD512 config]",
        per_level=True,
    ),
    Option(
        "scales",
        "floats",
        "anchor scales: side = base_size * scale [default: 8, the Faster R-CNN configs, "
        "unless --octave-base-scale is given; the class has no default]",
    ),
    Option(
        "octave_base_scale",
        "float",
        "scales = octave_base_scale * 2**(i / scales_per_octave) (RetinaNet: 4), instead of "
        "--scales",
    ),
    Option(
        "scales_per_octave",
        "int",
        "number of octave scales, i = 0 .. scales_per_octave - 1 (RetinaNet: 3)",
    ),
    Option(
        "base_sizes",
        "float",
        "base size of each level in pixels [default: the smaller of the level's strides]",
        per_level=True,
    ),
    Option(
        "scale_major",
        "flag",
        "True: ratio-outer, scale-inner order despite the name; False (--no-scale-major): "
        "scale-outer, ratio-inner, as every shipped SSD config sets it [default: True]",
        default=True,
    ),
    Option(
        "center_offset",
        "float",
        "centre of the cell anchors as a fraction of the base size, in [0, 1] [default: 0, "
        "the top-left corner of the cell]",
        default=0.0,
    ),
    Option(
        "ssd",
        "flag",
        "use SSDAnchorGenerator (shipped SSD configs also set --no-scale-major)",
        default=False,
    ),
    Option(
        "min_sizes",
        "float",
        "--ssd: min size of each level in pixels (with --max-sizes) [default: the Caffe recipe "
        "from --basesize-ratio-range and --input-size]",
        per_level=True,
    ),
    Option(
        "max_sizes",
        "float",
        "--ssd: max size of each level in pixels; the second square is sqrt(min * max)",
        per_level=True,
    ),
    Option(
        "basesize_ratio_range",
        "floats",
        "--ssd: LO,HI fractions of --input-size for the Caffe size recipe [default: 0.15,0.9]",
        default=(0.15, 0.9),
    ),
    Option(
        "input_size",
        "int",
        "--ssd: the input size the recipe scales (300 or 512) [default: 300]",
        default=300,
    ),
    Option("yolo", "flag", "use YOLOAnchorGenerator (see --yolo-base-sizes)", default=False),
    Option(
        "yolo_base_sizes",
        "whs",
        "--yolo: YOLOAnchorGenerator's base_sizes, (w, h) pixel pairs per level "
        "[default: the YOLOv3 config's, by stride 8, 16, 32]",
        per_level=True,
    ),
)

_F32 = np.float32
_VARIANT_OPTIONS = {
    "anchor": {"strides", "ratios", "scales", "octave_base_scale", "scales_per_octave"}
    | {"base_sizes", "scale_major", "center_offset"},
    "ssd": {"strides", "ratios", "scale_major", "min_sizes", "max_sizes"}
    | {"basesize_ratio_range", "input_size"},
    "yolo": {"strides", "yolo_base_sizes"},
}
_VARIANT_NAMES = {
    "anchor": "AnchorGenerator",
    "ssd": "SSDAnchorGenerator (--ssd)",
    "yolo": "YOLOAnchorGenerator (--yolo)",
}


@dataclass(frozen=True)
class LevelSpec:
    """One level's generator inputs, in MMDetection's terms.

    ``stride`` is ``(stride_w, stride_h)`` (width first, as MMDetection keeps it); ``center``
    the ``(x, y)`` centre of the cell anchors; ``base`` the ``(k, 4)`` float32 cell anchors
    in output order; ``params`` what made each slot.
    """

    feature_map: tuple[int, int]
    stride: tuple[float, float]
    center: tuple[float, float]
    base: npt.NDArray[np.float32]
    params: tuple[Mapping[str, float], ...]


def base_anchors(
    base_size: float,
    scales: Sequence[float],
    ratios: Sequence[float],
    scale_major: bool,
    center: tuple[float, float],
) -> npt.NDArray[np.float32]:
    """``gen_single_level_base_anchors``: ``(len(ratios) * len(scales), 4)`` float32.

    ``h_ratios = sqrt(r)``, ``w_ratios = 1 / h_ratios``; ``ws = base * w_ratio * scale``
    (ratio-outer) or ``base * scale * w_ratio`` (scale-outer), multiplied left to right in
    float32; corners ``center -+ 0.5 * ws``.
    """
    w = _F32(base_size)
    sc = np.asarray(scales, dtype=np.float64).astype(_F32)
    h_ratios = np.sqrt(np.asarray(ratios, dtype=np.float64).astype(_F32))
    w_ratios = _F32(1) / h_ratios
    if scale_major:
        ws = (w * w_ratios[:, None] * sc[None, :]).reshape(-1)
        hs = (w * h_ratios[:, None] * sc[None, :]).reshape(-1)
    else:
        ws = (w * sc[:, None] * w_ratios[None, :]).reshape(-1)
        hs = (w * sc[:, None] * h_ratios[None, :]).reshape(-1)
    xc, yc = _F32(center[0]), _F32(center[1])
    half_w, half_h = _F32(0.5) * ws, _F32(0.5) * hs
    return np.stack([xc - half_w, yc - half_h, xc + half_w, yc + half_h], axis=-1).astype(_F32)


def grid(
    feature_map: tuple[int, int], stride: tuple[float, float], base: npt.NDArray[np.float32]
) -> Grid:
    """``single_level_grid_priors`` on demand: float32 xyxy, index ``(row*cols+col)*k+slot``.

    ``stride`` is ``(stride_w, stride_h)``; shifts ``float32(i) * stride`` (torch's int
    ``arange`` made float32, times the float32 stride) plus the cell anchors, in float32.
    """
    base = base.astype(_F32, copy=False)
    sw, sh = _F32(stride[0]), _F32(stride[1])

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (cols.astype(_F32) * sw)[:, None, None] + base[None, :, 0::2]
        return out

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (rows.astype(_F32) * sh)[:, None, None] + base[None, :, 1::2]
        return out

    return Grid(feature_map, len(base), x_part, y_part)


def grid_anchors(
    feature_map: tuple[int, int], stride: tuple[float, float], base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every anchor of one level, ``(rows*cols*k, 4)`` float32 (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(feature_map, stride, base).array()
    return out


def ssd_sizes(
    levels: int, basesize_ratio_range: Sequence[float], input_size: int
) -> tuple[list[float], list[float]]:
    """SSDAnchorGenerator's Caffe recipe: ``(min_sizes, max_sizes)`` with integer truncation."""
    if len(basesize_ratio_range) != 2:
        raise AnchorError(
            f"--basesize-ratio-range: give two numbers LO,HI, got {len(basesize_ratio_range)}"
        )
    why = "LO,HI fractions of --input-size"
    lo_f = checks.number(basesize_ratio_range[0], "basesize_ratio_range", why)
    hi_f = checks.number(basesize_ratio_range[1], "basesize_ratio_range", why)
    if not 0 < lo_f < hi_f <= 1:
        raise AnchorError(
            f"--basesize-ratio-range: {lo_f:g},{hi_f:g} must be two fractions 0 < LO < HI <= 1"
        )
    if levels < 3:
        raise AnchorError(
            f"--basesize-ratio-range: the SSD size recipe divides by (levels - 2) and needs at "
            f"least 3 feature maps, got {levels}; give --min-sizes and --max-sizes"
        )
    lo, hi = int(lo_f * 100), int(hi_f * 100)
    step = int(math.floor(hi - lo) / (levels - 2))
    if step < 1:
        raise AnchorError(
            f"--basesize-ratio-range: {lo_f:g},{hi_f:g} is too narrow for {levels} levels "
            f"(step int(({hi} - {lo}) / {levels - 2}) = 0); MMDetection fails on it"
        )
    min_sizes: list[float] = []
    max_sizes: list[float] = []
    for p in range(lo, hi + 1, step):
        min_sizes.append(int(input_size * p / 100))
        max_sizes.append(int(input_size * (p + step) / 100))
    first = {(300, 0.15): (7, 15), (300, 0.2): (10, 20), (512, 0.1): (4, 10), (512, 0.15): (7, 15)}
    pair = first.get((input_size, lo_f))
    if pair is None:
        if input_size not in (300, 512):
            raise AnchorError(
                f"--input-size: {input_size}; MMDetection's SSD recipe supports only 300 or "
                "512 without --min-sizes and --max-sizes"
            )
        allowed = "0.15 or 0.2" if input_size == 300 else "0.1 or 0.15"
        raise AnchorError(
            f"--basesize-ratio-range: LO = {lo_f:g}; with --input-size {input_size} "
            f"MMDetection accepts only {allowed} (or give --min-sizes and --max-sizes)"
        )
    min_sizes.insert(0, int(input_size * pair[0] / 100))
    max_sizes.insert(0, int(input_size * pair[1] / 100))
    if len(min_sizes) != levels:
        raise AnchorError(
            f"--basesize-ratio-range: the SSD recipe gives {len(min_sizes)} levels "
            f"({', '.join(f'{m:g}' for m in min_sizes)}) but there are {levels} feature maps"
        )
    return min_sizes, max_sizes


def ssd_base_anchors(
    min_size: float,
    max_size: float,
    ratios: Sequence[float],
    scale_major: bool,
    center: tuple[float, float],
) -> tuple[npt.NDArray[np.float32], list[dict[str, float]]]:
    """One SSD level's cell anchors after the ``[0, N, 1, ..., N-1]`` re-index, and their params."""
    ratio_list = [1.0]
    for r in ratios:
        ratio_list += [1 / r, r]
    scales = [1.0, float(np.sqrt(max_size / min_size))]
    full = base_anchors(min_size, scales, ratio_list, scale_major, center)
    if scale_major:
        made = [(r, s) for r in ratio_list for s in scales]
    else:
        made = [(r, s) for s in scales for r in ratio_list]
    n = len(ratio_list)
    indices = [0, n, *range(1, n)]
    params = [{"base_size": min_size, "scale": made[i][1], "ratio": made[i][0]} for i in indices]
    return full[indices], params


def generate(params: Params) -> list[Level]:
    """Every level's anchors in pixels, xyxy, in MMDetection order (see the module rules)."""
    levels = []
    for spec in level_specs(params):
        stride_w, stride_h = spec.stride
        level_grid = grid(spec.feature_map, spec.stride, spec.base)
        level_grid = checks.extents(
            level_grid,
            spec.base[:, 2].astype(np.float64) - spec.base[:, 0],
            spec.base[:, 3].astype(np.float64) - spec.base[:, 1],
            RULES,
            centres="--strides",
            shapes="--scales/--ratios/--base-sizes",
        )
        levels.append(
            grid_level(
                level_grid,
                stride=(float(_F32(stride_h)), float(_F32(stride_w))),
                center0=(float(_F32(spec.center[0])), float(_F32(spec.center[1]))),
                shapes=shapes_from_cell(spec.base, spec.params),
            )
        )
    return levels


def level_specs(params: Params) -> list[LevelSpec]:
    """Validate ``params`` and build each level's cell anchors with the chosen generator."""
    maps = checks.feature_maps(params)
    ssd, yolo = bool(params.get("ssd")), bool(params.get("yolo"))
    if ssd and yolo:
        raise AnchorError("--ssd and --yolo: choose one generator")
    variant = "ssd" if ssd else "yolo" if yolo else "anchor"
    defaults = {o.name: o.default for o in OPTIONS}
    for option in OPTIONS:
        if option.name in ("ssd", "yolo") or option.name in _VARIANT_OPTIONS[variant]:
            continue
        value = params.get(option.name)
        if not _unset(value, option.default):
            readers = [v for v, names in _VARIANT_OPTIONS.items() if option.name in names]
            raise AnchorError(
                f"--{option.name.replace('_', '-')}: {_VARIANT_NAMES[variant]} does not read "
                f"it; it belongs to {' and '.join(_VARIANT_NAMES[v] for v in readers)}"
            )
    scale_major = params.get("scale_major") is not False
    if variant == "ssd":
        return _ssd_specs(params, maps, scale_major, defaults)
    if variant == "yolo":
        return _yolo_specs(params, maps)
    return _anchor_specs(params, maps, scale_major)


def _anchor_specs(
    params: Params, maps: list[tuple[int, int]], scale_major: bool
) -> list[LevelSpec]:
    strides = _strides(params, maps)
    ratios = _one_ratio_list(params, len(maps))
    scales = _scales(params, len(ratios))
    base_given = params.get("base_sizes")
    bases = (
        [min(s) for s in strides]
        if base_given is None
        else [
            checks.number(b, "base_sizes", "the base size of a level, pixels", positive=True)
            for b in per_level(params, "base_sizes", len(maps))
        ]
    )
    offset = checks.fraction(
        0.0 if params.get("center_offset") is None else params["center_offset"],
        "center_offset",
        "a fraction of the base size; MMDetection raises ValueError otherwise",
    )
    if scale_major:
        pairs = [(r, s) for r in ratios for s in scales]
    else:
        pairs = [(r, s) for s in scales for r in ratios]
    specs = []
    for fm, stride, base_size in zip(maps, strides, bases, strict=True):
        center = (offset * base_size, offset * base_size)
        with np.errstate(all="ignore"):
            base = base_anchors(base_size, scales, ratios, scale_major, center)
        slot_params = tuple({"base_size": base_size, "scale": s, "ratio": r} for r, s in pairs)
        specs.append(LevelSpec(fm, stride, center, base, slot_params))
    return specs


def _ssd_specs(
    params: Params, maps: list[tuple[int, int]], scale_major: bool, defaults: Mapping[str, Any]
) -> list[LevelSpec]:
    given_size = params.get("input_size")
    input_size = checks.whole(
        defaults["input_size"] if given_size is None else given_size,
        "input_size",
        "the network input size in pixels",
        maximum=checks.MAX_SIDE,
    )
    preset = SSD_PRESETS.get(input_size)
    matches = preset is not None and len(preset[0]) == len(maps)
    if params.get("strides") is not None:
        strides = _given_strides(params, maps)
    elif matches:
        assert preset is not None
        strides = [(float(s), float(s)) for s in preset[0]]
    else:
        raise AnchorError(
            f"--strides is required for --ssd on {len(maps)} feature maps (the defaults are "
            "SSD300's 8,16,32,64,100,300 on 6 maps and SSD512's 8,...,512 on 7, by --input-size)"
        )
    if params.get("ratios") is not None:
        ratios = checks.level_floats(
            params, "ratios", len(maps), f"{checks.meaning(RULES, 'ratios')}; r adds 1/r and r"
        )
    elif matches:
        assert preset is not None
        ratios = [tuple(float(v) for v in r) for r in preset[1]]
    else:
        raise AnchorError(
            f"--ratios is required for --ssd on {len(maps)} feature maps: per level the "
            "extra ratios, e.g. SSD300's 2 | 2,3 | 2,3 | 2,3 | 2 | 2"
        )
    min_given, max_given = params.get("min_sizes"), params.get("max_sizes")
    if (min_given is None) != (max_given is None):
        raise AnchorError(
            "--min-sizes and --max-sizes: give both or neither (MMDetection asserts it); "
            "without them the sizes come from --basesize-ratio-range and --input-size"
        )
    if min_given is None:
        brr = params.get("basesize_ratio_range")
        brr = defaults["basesize_ratio_range"] if brr is None else brr
        min_sizes, max_sizes = ssd_sizes(len(maps), tuple(brr), input_size)
    else:
        min_sizes = [
            checks.number(v, "min_sizes", "the small square's side, pixels", positive=True)
            for v in per_level(params, "min_sizes", len(maps))
        ]
        max_sizes = [
            checks.number(v, "max_sizes", "sqrt(min * max) is the big square's side", positive=True)
            for v in per_level(params, "max_sizes", len(maps))
        ]
    specs = []
    for fm, stride, r, lo, hi in zip(maps, strides, ratios, min_sizes, max_sizes, strict=True):
        checks.per_cell(4 * len(r) + 2, RULES, f"{len(r)} SSD ratios")
        center = (stride[0] / 2.0, stride[1] / 2.0)
        with np.errstate(all="ignore"):
            base, slot_params = ssd_base_anchors(lo, hi, r, scale_major, center)
        specs.append(LevelSpec(fm, stride, center, base, tuple(slot_params)))
    return specs


def _yolo_specs(params: Params, maps: list[tuple[int, int]]) -> list[LevelSpec]:
    if params.get("strides") is not None:
        strides = _given_strides(params, maps)
    elif params.get("image_size") is not None:
        strides = _strides(params, maps)
    elif len(maps) == 3:
        by_size = sorted(range(3), key=lambda i: -maps[i][0] * maps[i][1])
        strides = [(0.0, 0.0)] * 3
        for value, index in zip((8.0, 16.0, 32.0), by_size, strict=True):
            strides[index] = (value, value)
    else:
        raise AnchorError(
            f"--strides is required for --yolo on {len(maps)} feature maps (or give "
            "--input-size; three maps default to 8, 16, 32 by map size)"
        )
    if params.get("yolo_base_sizes") is not None:
        pairs = [
            checks.wh_pairs(p, "yolo_base_sizes", "(w, h) in pixels")
            for p in per_level(params, "yolo_base_sizes", len(maps))
        ]
    else:
        pairs = []
        for sw, sh in strides:
            preset = YOLOV3_BASE_SIZES.get(int(sw)) if sw == sh and sw.is_integer() else None
            if preset is None:
                raise AnchorError(
                    f"--yolo-base-sizes is required: the YOLOv3 default pairs exist for strides "
                    f"8, 16 and 32, not {sh:g},{sw:g}"
                )
            pairs.append(tuple((float(w), float(h)) for w, h in preset))
    if len({len(p) for p in pairs}) != 1:
        raise AnchorError(
            "--yolo-base-sizes: every level needs the same number of (w, h) pairs "
            f"(got {', '.join(str(len(p)) for p in pairs)}); MMDetection asserts it"
        )
    specs = []
    for fm, stride, level_pairs in zip(maps, strides, pairs, strict=True):
        checks.per_cell(len(level_pairs), RULES, f"{len(level_pairs)} --yolo-base-sizes")
        xc, yc = stride[0] / 2.0, stride[1] / 2.0
        rows = [(xc - 0.5 * w, yc - 0.5 * h, xc + 0.5 * w, yc + 0.5 * h) for w, h in level_pairs]
        with np.errstate(all="ignore"):
            base = np.array(rows, dtype=np.float64).astype(_F32)
        slot_params = tuple({"w": w, "h": h} for w, h in level_pairs)
        specs.append(LevelSpec(fm, stride, (xc, yc), base, slot_params))
    return specs


def _unset(value: Any, default: Any) -> bool:
    """Whether an option's value is absent or just its default (so giving it changes nothing)."""
    if value is None:
        return True
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return tuple(value) == tuple(default)
    return bool(value == default)


def _one_ratio_list(params: Params, levels: int) -> tuple[float, ...]:
    given = params.get("ratios")
    if given is None:
        return (0.5, 1.0, 2.0)
    lists = [checks.floats(r, "ratios", checks.meaning(RULES, "ratios")) for r in given]
    if any(r != lists[0] for r in lists):
        raise AnchorError(
            "--ratios: AnchorGenerator uses one ratio list for every level; per-level lists "
            "are for --ssd"
        )
    return lists[0]


def _scales(params: Params, ratios: int) -> tuple[float, ...]:
    scales = params.get("scales")
    base = params.get("octave_base_scale")
    per_octave = params.get("scales_per_octave")
    if base is not None or per_octave is not None:
        if scales is not None:
            raise AnchorError(
                "--scales and --octave-base-scale/--scales-per-octave: give one or the other "
                "(MMDetection asserts it)"
            )
        if base is None or per_octave is None:
            raise AnchorError(
                "--octave-base-scale and --scales-per-octave: give both (RetinaNet: 4 and 3)"
            )
        base_f = checks.number(base, "octave_base_scale", "scales = base * 2**(i/n)", positive=True)
        n = checks.whole(
            per_octave,
            "scales_per_octave",
            "the number of octave scales, RetinaNet: 3",
            maximum=2**62,
        )
        checks.per_cell(n * ratios, RULES, f"{ratios} ratios x {n:,} octave scales")
        # numpy float64: [2**(i/n)] * base, then stored as float32 by torch.Tensor.
        return tuple(float(2 ** (i / n) * base_f) for i in range(n))
    if scales is None:
        return (8.0,)
    out = checks.floats(scales, "scales", "side = base_size * scale")
    checks.per_cell(len(out) * ratios, RULES, f"{ratios} ratios x {len(out)} scales")
    return out


def _given_strides(params: Params, maps: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """``--strides`` (y, x) per level as MMDetection's ``(stride_w, stride_h)``."""
    return [(x, y) for y, x in checks.strides(params, "strides", len(maps), RULES)]


def _strides(params: Params, maps: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    if params.get("strides") is not None:
        return _given_strides(params, maps)
    if params.get("image_size") is None:
        raise AnchorError(
            "--strides is required: MMDetection's configs list them (Faster R-CNN FPN "
            "4,8,16,32,64; RetinaNet 8,16,32,64,128), or give --input-size to derive them"
        )
    derived = checks.derived_strides(checks.image_size(params), maps, RULES)
    return [(float(s), float(s)) for s in derived]
