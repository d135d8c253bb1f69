"""TensorFlow Object Detection API ``MultiscaleGridAnchorGenerator`` (RetinaNet, SSD-FPN).

The rules (tensorflow/models ``research/object_detection``:
``anchor_generators/multiscale_grid_anchor_generator.py``, which builds each level with
``grid_anchor_generator.py``; ``core/box_list_ops.py`` ``to_normalized_coordinates``;
``protos/multiscale_anchor_generator.proto``; configs ``ssd_resnet50_v1_fpn_640x640`` etc.):

* **Levels** ``min_level .. max_level``, one feature map each. Level ``l`` has stride
  ``2^l`` pixels and base anchor size ``anchor_scale * 2^l`` (square).
* **Per cell** ``len(ratios) * scales_per_octave`` shapes, **ratio outer, octave scale
  inner** (a ``GridAnchorGenerator`` per level); octave scales ``2^(k / scales_per_octave)``
  for ``k = 0 .. scales_per_octave - 1``.
* **Ratio** ``r`` means width / height: ``height = base * scale / sqrt(r)``,
  ``width = base * scale * sqrt(r)``.
* **Centres**: ``row * 2^l + offset_y``, ``col * 2^l + offset_x`` pixels, where the offset
  is ``2^l / 2`` **only when the image dimension is divisible by** ``2^l`` (or is the
  generator's default 1), **else 0** -- decided per axis. (The test is made on the image
  size as Python ints, i.e. known when the graph is built.)
* **Order**: level by level; rows outer, columns next, shapes innermost.
* **Units**: with ``normalize_coordinates`` (on by default) every y is multiplied by
  ``1 / image height`` and every x by ``1 / image width`` (float32), without a range check;
  off, the anchors are image pixels.
* **Arithmetic**: float32 tensors; corners are ``centre -+ 0.5 * size``.
* **Rounding / clip**: none.
* **Output**: ``BoxList`` ``[ymin, xmin, ymax, xmax]``.

The generator needs the image size to normalize (it raises when the size is left at its
default 1); without normalizing, no image size means the default 1 x 1, so every offset is
half a stride. Defaults follow the proto: levels 3..7, ``anchor_scale`` 4,
``scales_per_octave`` 2; the proto has no default ratios, the RetinaNet configs use
``1.0, 2.0, 0.5`` (6 anchors per location).
"""

from __future__ import annotations

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import Level, Option, Params, Rules
from anchorctl.conventions.tf_grid import box_sizes, ratio_major, tile_grid, tiled_level
from anchorctl.errors import AnchorError

NAME = "tf-multiscale"
TITLE = "TF MultiscaleGridAnchorGenerator"

MAX_LEVEL = 30  # 2^30 pixels: far beyond any image

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="normalized to the image (0..1); image pixels with normalize_coordinates off",
    size_meaning="anchor_scale * 2^level * 2^(k/scales_per_octave) pixels (side of the square)",
    ratio_meaning="width / height",
    order="ratio outer, octave scale inner",
    centre="i * 2^level + 2^level / 2 if the image side is divisible by 2^level, else i * 2^level",
    rounding="none (float32)",
    clip="none",
    native_format="yxyx",
    sources=(
        "tensorflow/models: research/object_detection/anchor_generators/"
        "multiscale_grid_anchor_generator.py, grid_anchor_generator.py",
        "tensorflow/models: research/object_detection/core/box_list_ops.py "
        "(to_normalized_coordinates), protos/multiscale_anchor_generator.proto",
    ),
    normalized=True,
)

DEFAULT_RATIOS = (1.0, 2.0, 0.5)

OPTIONS = (
    Option("min_level", "int", "first level; stride 2^min_level [default: 3]", default=3),
    Option(
        "max_level",
        "int",
        "last level [default: min_level + feature maps - 1; the proto's 7 for five maps]",
    ),
    Option(
        "anchor_scale",
        "float",
        "base anchor size in strides: anchor_scale * 2^level pixels [default: 4.0]",
        default=4.0,
    ),
    Option(
        "ratios",
        "floats",
        f"aspect_ratios, {RULES.ratio_meaning} [default: 1,2,0.5 as the RetinaNet configs]",
        default=DEFAULT_RATIOS,
    ),
    Option(
        "scales_per_octave",
        "int",
        "octave scales 2^(k/n), k = 0..n-1 [default: 2]",
        default=2,
    ),
    Option(
        "normalize_coordinates",
        "flag",
        "divide by the image height/width (needs the image size) [default: on]",
        default=True,
    ),
)

_F32 = np.float32


def offsets(level: int, im_h: int, im_w: int) -> tuple[float, float]:
    """``(offset_y, offset_x)`` in pixels: half the stride where the side divides by it."""
    stride = 2**level
    oy = stride / 2.0 if im_h % 2.0**level == 0 or im_h == 1 else 0.0
    ox = stride / 2.0 if im_w % 2.0**level == 0 or im_w == 1 else 0.0
    return oy, ox


def generate(params: Params) -> list[Level]:
    """Every level's anchors, xyxy float32 (normalized unless normalize_coordinates is off)."""
    maps = checks.feature_maps(params)
    why = "level l has stride 2^l"
    min_level = checks.whole(
        _given(params, "min_level", 3), "min_level", why, minimum=0, maximum=MAX_LEVEL
    )
    max_level = checks.whole(
        _given(params, "max_level", min_level + len(maps) - 1),
        "max_level",
        why,
        minimum=min_level,
        maximum=MAX_LEVEL,
    )
    if max_level - min_level + 1 != len(maps):
        raise AnchorError(
            f"--max-level: levels {min_level}..{max_level} are {max_level - min_level + 1} "
            f"but {len(maps)} feature map(s) are given; give one feature map per level"
        )
    anchor_scale = checks.number(
        _given(params, "anchor_scale", 4.0),
        "anchor_scale",
        "base anchor size in strides",
        positive=True,
    )
    ratios = checks.option_floats(params, "ratios", checks.meaning(RULES, "ratios"), DEFAULT_RATIOS)
    per_octave = checks.whole(
        _given(params, "scales_per_octave", 2),
        "scales_per_octave",
        "octave scales 2^(k/n), k = 0..n-1",
        maximum=2**62,
    )
    checks.per_cell(
        len(ratios) * per_octave, RULES, f"{len(ratios)} ratios x {per_octave:,} octave scales"
    )
    normalize = checks.flag_value(params, "normalize_coordinates", True)
    image = checks.image_size(params)
    im_w, im_h = (1, 1) if image is None else image
    if normalize and (im_h == 1 or im_w == 1):
        raise AnchorError(
            "tf-multiscale normalizes by the image size: give --input-size WxH (a side of 1 "
            "is refused, as by the generator), or --no-normalize-coordinates for pixels"
        )
    octave = [2 ** (float(k) / per_octave) for k in range(per_octave)]
    pair_s, pair_r = ratio_major(octave, ratios)
    labels = [{"scale": s, "ratio": r} for s, r in zip(pair_s, pair_r, strict=True)]
    y_scale = _F32(1) / _F32(im_h)
    x_scale = _F32(1) / _F32(im_w)
    out = []
    for level, fm in zip(range(min_level, max_level + 1), maps, strict=True):
        stride = 2**level
        with np.errstate(all="ignore"):
            base = _F32(stride * anchor_scale)
            heights, widths = box_sizes(
                np.array(pair_s, dtype=_F32), np.array(pair_r, dtype=_F32), base, base
            )
        oy, ox = offsets(level, im_h, im_w)
        offset = (_F32(oy), _F32(ox))
        stride32 = (_F32(stride), _F32(stride))
        center0 = (float(offset[1]), float(offset[0]))
        step = (float(stride), float(stride))
        level_labels = [
            {"size": stride * anchor_scale * s, **p} for s, p in zip(pair_s, labels, strict=True)
        ]
        px_heights, px_widths = heights, widths
        scale = None
        if normalize:
            scale = (y_scale, x_scale)
            with np.errstate(all="ignore"):
                heights = (heights * y_scale).astype(_F32)
                widths = (widths * x_scale).astype(_F32)
            center0 = (float(x_scale * offset[1]), float(y_scale * offset[0]))
            step = (float(y_scale * stride32[0]), float(x_scale * stride32[1]))
        out.append(
            tiled_level(
                tile_grid(fm, px_heights, px_widths, stride32, offset, scale),
                heights,
                widths,
                level_labels,
                RULES,
                stride=step,
                center0=center0,
                normalized=bool(normalize),
            )
        )
    return out


def _given(params: Params, name: str, default: object) -> object:
    value = params.get(name)
    return default if value is None else value
