"""TensorFlow Object Detection API SSD anchors: ``create_ssd_anchors`` and the
``MultipleGridAnchorGenerator`` it returns.

The rules (tensorflow/models ``research/object_detection``:
``anchor_generators/multiple_grid_anchor_generator.py``, ``grid_anchor_generator.py``
(``tile_anchors``), ``builders/anchor_generator_builder.py``,
``protos/ssd_anchor_generator.proto``; sample configs ``ssd_mobilenet_v1_*.config``):

* **Units**: normalized; with the default strides every feature map spans the unit square.
* **Scales**: ``s_k = min_scale + (max_scale - min_scale) * k / (num_layers - 1)`` for
  ``k = 0 .. num_layers - 1`` (computed in Python doubles), or the ``scales`` given, plus a
  trailing 1.0 used only as the "next" scale of the last layer. Defaults 0.2 .. 0.95 over
  6 layers: ``0.2, 0.35, 0.5, 0.65, 0.8, 0.95``.
* **Per cell**, per layer, an explicit ``(scale, ratio)`` list, emitted in list order:
  layer 0 with ``reduce_boxes_in_lowest_layer`` (on by default) is exactly
  ``(0.1, 1.0), (s_0, 2.0), (s_0, 0.5)`` -- the 0.1 is hard-coded and the ratios are ignored;
  every other layer has ``(s_k, r)`` for each ratio in the given order, then
  ``(sqrt(s_k * s_{k+1}), interpolated_scale_aspect_ratio)`` **last** (left out when that
  ratio is 0).
* **Ratio** ``r`` means width / height: ``height = scale / sqrt(r) * base_h``,
  ``width = scale * sqrt(r) * base_w``.
* **Base anchor normalized by the shorter image side**: ``base_h * min(H, W) / H`` and
  ``base_w * min(H, W) / W``, so a ratio-1 anchor is square in pixels and ``scale`` is a
  fraction of ``min(H, W)`` (MXNet's sizes are fractions of the height). Without an image
  size the generator's defaults ``im_height = im_width = 1`` apply, i.e. no correction: right
  for square images only.
* **Centres**: strides default to ``(1/rows, 1/cols)`` and offsets to half a stride, so
  cell (row, col) is centred at ``((col + 0.5) / cols, (row + 0.5) / rows)``. Strides and
  offsets, when given, are pixels and are divided by the image height/width.
* **Order**: layer by layer; rows outer, columns next, the layer's shapes innermost.
* **Arithmetic**: float32 tensors (Python-double scales are cast once); corners are
  ``centre -+ 0.5 * size``.
* **Clip**: none. ``create_ssd_anchors`` passes no ``clip_window`` (its docstring says the
  anchors are clipped to the unit square; the code does not), so border anchors leave [0, 1].
* **Output**: ``BoxList`` ``[ymin, xmin, ymax, xmax]`` normalized.

Values are taken as the Python API's doubles; a pipeline config passes them through float32
protobuf fields first (0.2 becomes 0.200000003), which can move a scale by one float32 step.
Known total: ``ssd_mobilenet_v1`` 300x300, maps 19, 10, 5, 3, 2, 1, ratios
``1, 2, 0.5, 3, 0.3333`` -> ``19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1) * 6 = 1917`` anchors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import Level, Option, Params, Rules, per_level
from anchorctl.conventions.tf_grid import box_sizes, positive_pair, tile_grid, tiled_level
from anchorctl.errors import AnchorError

NAME = "tf-ssd"
TITLE = "TF create_ssd_anchors"

DEFAULT_RATIOS = (1.0, 2.0, 3.0, 1.0 / 2, 1.0 / 3)
LOWEST_LAYER_SCALE = 0.1  # hard-coded in create_ssd_anchors

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="normalized to the image (0..1)",
    size_meaning="scale: fraction of the shorter image side (times base_anchor_size)",
    ratio_meaning="width / height",
    order=(
        "layer 0 (reduced): (0.1, 1), (s0, 2), (s0, 0.5); other layers: (s_k, r) per ratio, "
        "then (sqrt(s_k*s_k+1), interpolated_scale_aspect_ratio) last"
    ),
    centre="((col + 0.5) / cols, (row + 0.5) / rows), or pixel strides/offsets / image size",
    rounding="none (float32)",
    clip="none (create_ssd_anchors passes no clip_window)",
    native_format="yxyx",
    sources=(
        "tensorflow/models: research/object_detection/anchor_generators/"
        "multiple_grid_anchor_generator.py (create_ssd_anchors), grid_anchor_generator.py",
        "tensorflow/models: research/object_detection/builders/anchor_generator_builder.py, "
        "protos/ssd_anchor_generator.proto, samples/configs/ssd_mobilenet_v1_*.config",
    ),
    normalized=True,
)

OPTIONS = (
    Option(
        "num_layers",
        "int",
        "number of layers [default: one per feature map; TF's default 6 fits the 6-map SSD]",
    ),
    Option("min_scale", "float", "scale of the lowest layer [default: 0.2]", default=0.2),
    Option("max_scale", "float", "scale of the highest layer [default: 0.95]", default=0.95),
    Option(
        "scales",
        "floats",
        "explicit scale per layer, replacing min_scale..max_scale [default: interpolated]",
    ),
    Option(
        "ratios",
        "floats",
        f"aspect_ratios, {RULES.ratio_meaning}, in order [default: 1,2,3,0.5,0.3333]",
        default=DEFAULT_RATIOS,
    ),
    Option(
        "interpolated_scale_aspect_ratio",
        "float",
        "ratio of the extra sqrt(s_k*s_k+1) box, 0 leaves it out [default: 1.0]",
        default=1.0,
    ),
    Option(
        "base_anchor_size",
        "yx",
        "base anchor HEIGHT,WIDTH before the shorter-side correction [default: 1,1]",
        default=(1.0, 1.0),
    ),
    Option(
        "reduce_boxes_in_lowest_layer",
        "flag",
        "layer 0 gets only (0.1, 1), (s0, 2), (s0, 0.5) [default: on]",
        default=True,
    ),
    Option(
        "anchor_strides",
        "yx",
        "centre spacing STRIDE_Y,STRIDE_X in image pixels [default: 1/rows, 1/cols normalized]",
        per_level=True,
    ),
    Option(
        "anchor_offsets",
        "yx",
        "centre of cell (0,0) OFFSET_Y,OFFSET_X in image pixels [default: half a stride]",
        per_level=True,
    ),
)

_F32 = np.float32


def box_specs(
    num_layers: int,
    min_scale: float,
    max_scale: float,
    scales: Sequence[float] | None,
    ratios: Sequence[float],
    interpolated_scale_aspect_ratio: float,
    reduce_boxes_in_lowest_layer: bool,
) -> list[list[tuple[float, float]]]:
    """``create_ssd_anchors``'s ``box_specs_list``: per layer, ``(scale, ratio)`` in order."""
    if scales is None or not scales:
        ladder = [
            min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)
        ]
    else:
        ladder = list(scales)
    ladder.append(1.0)
    out = []
    # TF zips, so scales past num_layers + 1 would be ignored (the caller refuses them)
    pairs = zip(range(num_layers), ladder[:-1], ladder[1:], strict=False)
    for layer, scale, scale_next in pairs:
        if layer == 0 and reduce_boxes_in_lowest_layer:
            specs = [(LOWEST_LAYER_SCALE, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            specs = [(scale, ratio) for ratio in ratios]
            if interpolated_scale_aspect_ratio > 0.0:
                specs.append((math.sqrt(scale * scale_next), interpolated_scale_aspect_ratio))
        out.append(specs)
    return out


def generate(params: Params) -> list[Level]:
    """Every layer's anchors, normalized xyxy float32, in MultipleGridAnchorGenerator order."""
    maps = checks.feature_maps(params)
    n = len(maps)
    num_layers = _num_layers(params, n)
    ratios = checks.option_floats(params, "ratios", checks.meaning(RULES, "ratios"), DEFAULT_RATIOS)
    checks.per_cell(len(ratios) + 1, RULES, f"{len(ratios)} ratios")
    specs = box_specs(
        num_layers,
        *_scale_range(params, num_layers),
        ratios,
        _interpolated(params),
        checks.flag_value(params, "reduce_boxes_in_lowest_layer", True),
    )
    image = checks.image_size(params)
    im_h, im_w = (_F32(1.0), _F32(1.0)) if image is None else (_F32(image[1]), _F32(image[0]))
    strides = _pixel_pairs(params, "anchor_strides", n, image, positive=True)
    offsets = _pixel_pairs(params, "anchor_offsets", n, image, positive=False)
    with np.errstate(all="ignore"):
        # stride and offset per layer, float32, normalized as the generator does
        if strides is None:
            stride32 = [(_F32(1.0) / _F32(r), _F32(1.0) / _F32(c)) for r, c in maps]
        else:
            stride32 = [(_F32(y) / im_h, _F32(x) / im_w) for y, x in strides]
        if offsets is None:
            offset32 = [(_F32(0.5) * y, _F32(0.5) * x) for y, x in stride32]
        else:
            offset32 = [(_F32(y) / im_h, _F32(x) / im_w) for y, x in offsets]
    base = positive_pair(params, "base_anchor_size", (1.0, 1.0), "height,width")
    shorter = min(im_h, im_w)
    base_h = (shorter / im_h) * _F32(base[0])
    base_w = (shorter / im_w) * _F32(base[1])
    out = []
    for fm, layer, stride, offset in zip(maps, specs, stride32, offset32, strict=True):
        with np.errstate(all="ignore"):
            scales = np.array([s for s, _ in layer], dtype=_F32)
            layer_ratios = np.array([r for _, r in layer], dtype=_F32)
            heights, widths = box_sizes(scales, layer_ratios, base_h, base_w)
        labels = [{"scale": s, "ratio": r} for s, r in layer]
        out.append(
            tiled_level(
                tile_grid(fm, heights, widths, stride, offset),
                heights,
                widths,
                labels,
                RULES,
                stride=(float(stride[0]), float(stride[1])),
                center0=(float(offset[1]), float(offset[0])),
            )
        )
    return out


def _num_layers(params: Params, n: int) -> int:
    value = params.get("num_layers")
    if value is None:
        return n
    layers = checks.whole(value, "num_layers", "one layer per feature map")
    if layers != n:
        raise AnchorError(
            f"--num-layers: {layers} layers but {n} feature map(s); "
            "MultipleGridAnchorGenerator needs one feature map per layer"
        )
    return layers


def _scale_range(params: Params, num_layers: int) -> tuple[float, float, list[float] | None]:
    given = params.get("scales")
    if given is not None and len(given) > 0:
        scales = list(checks.floats(given, "scales", "a fraction of the shorter image side"))
        if len(scales) < num_layers:
            raise AnchorError(
                f"--scales: {len(scales)} given for {num_layers} layers; give one per layer "
                "(one more sets the last layer's interpolation partner instead of 1.0)"
            )
        if len(scales) > num_layers + 1:
            raise AnchorError(
                f"--scales: {len(scales)} given for {num_layers} layers; give one per layer, "
                "or one more for the last layer's interpolation partner"
            )
        return 0.0, 0.0, scales
    why = "a fraction of the shorter image side"
    low = checks.number(_given(params, "min_scale", 0.2), "min_scale", why, positive=True)
    high = checks.number(_given(params, "max_scale", 0.95), "max_scale", why)
    if high < low:
        raise AnchorError(f"--max-scale: {high:g} is below --min-scale {low:g}")
    if num_layers == 1:
        raise AnchorError(
            "--num-layers: with one layer create_ssd_anchors divides by num_layers - 1 = 0; "
            "give --scales for a single layer"
        )
    return low, high, None


def _interpolated(params: Params) -> float:
    value = checks.number(
        _given(params, "interpolated_scale_aspect_ratio", 1.0),
        "interpolated_scale_aspect_ratio",
        "ratio (width / height) of the extra box, 0 to leave it out",
    )
    if value < 0:
        raise AnchorError(
            f"--interpolated-scale-aspect-ratio: {value:g} is negative; give a ratio "
            "(width / height) > 0, or 0 to leave the extra box out"
        )
    return value


def _pixel_pairs(
    params: Params, name: str, n: int, image: tuple[int, int] | None, positive: bool
) -> list[tuple[float, float]] | None:
    if params.get(name) is None:
        return None
    if image is None:
        raise AnchorError(
            f"{checks.flag(name)}: these are image pixels; give --input-size so they can be "
            "normalized (the generator would divide them by 1)"
        )
    out = []
    for value in per_level(params, name, n):
        pair = checks.pair(value, name, "pixels, y,x", positive=False)
        for number in pair:
            if (positive and number <= 0) or number < 0:
                raise AnchorError(
                    f"{checks.flag(name)}: {number:g} must be "
                    f"{'greater than 0' if positive else 'at least 0'} (pixels, y,x)"
                )
        out.append(pair)
    return out


def _given(params: Params, name: str, default: float) -> object:
    value = params.get(name)
    return default if value is None else value
