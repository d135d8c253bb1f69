"""Detectron2 ``DefaultAnchorGenerator`` and ``RotatedAnchorGenerator``, in input pixels.

The rules, as the generators apply them (facebookresearch/detectron2:
``detectron2/modeling/anchor_generator.py``; defaults in ``detectron2/config/defaults.py``):

* **Units**: absolute pixels of the (padded) input image. Sizes "do not dynamically scale if
  the input image size changes".
* **Size** ``s`` is the square root of the anchor's area (``w * h = s^2``), not an area
  (facebookresearch/detectron2#910). ``sizes`` holds one list per feature map, or one list for
  every map (the config default ``SIZES [[32, 64, 128, 256, 512]]`` is such a list).
* **Ratio** ``a`` (``aspect_ratios``) means **height / width**: ``w = sqrt(s^2 / a)``,
  ``h = a * w``; ``a = 0.5`` is a wide box, ``a = 2`` a tall one.
* **Per cell**, ``k = len(sizes) * len(ratios)`` shapes, **size-major**: for each size, every
  ratio (``slot = size_index * len(ratios) + ratio_index``) - the opposite nesting of
  torchvision and MMDetection. Rotated anchors add the angles innermost:
  ``slot = (size_index * len(ratios) + ratio_index) * len(angles) + angle_index``.
* **Cell anchors** ``(-w/2, -h/2, w/2, h/2)`` are computed in Python floats and stored as
  float32; **no rounding** (the code comment points to Detectron issue #227: same AP as the
  old quantized anchors).
* **Centres**: cell (row, col) sits at ``(offset * stride + col * stride,
  offset * stride + row * stride)``. The constructor's default ``offset`` is 0.5 (half a
  stride), but the config key ``MODEL.ANCHOR_GENERATOR.OFFSET`` defaults to **0.0** (the
  top-left corner of the cell), and every LazyConfig in ``configs/common/models`` passes
  ``offset=0.0``; the config comment recommends 0.5 and says it is "not expected to affect
  model accuracy" (added by PR #488 for issue facebookresearch/detectron2#378). This module
  follows the config: ``--offset`` defaults to 0.0. ``offset`` must lie in [0, 1).
* **Strides** come from the backbone (``ShapeSpec.stride``, whole pixels): R-CNN FPN
  4, 8, 16, 32, 64; RetinaNet 8 ... 128; C4 16. Without ``--strides`` they are derived from
  ``--image-size`` as the power of two with ``ceil(image / stride) = feature map`` on both
  axes (the FPN backbone pads inputs to a multiple of its largest stride).
* **Order**: index ``(row * cols + col) * k + slot``, one array per feature map.
* **Output**: ``list[Boxes]`` of float32 ``(x1, y1, x2, y2)`` pixels. No clipping
  (``MODEL.RPN.BOUNDARY_THRESH = -1``).

**Rotated anchors** (``--angles`` given): ``RotatedAnchorGenerator`` makes
``(cx, cy, w, h, angle)`` boxes, angle in degrees counter-clockwise, same sizes, ratios, order
and centres; :func:`rotated` returns them in that native five-number form. ``generate`` must
return ``(N, 4)`` xyxy, so for rotated anchors it returns each box's **horizontal bounding
rectangle**, computed as Detectron2's own ``BoxMode.convert(XYWHA_ABS -> XYXY_ABS)`` does it
(``detectron2/structures/boxes.py``: float64, ``w' = |cos| w + |sin| h``,
``h' = |cos| h + |sin| w``, then back to float32). Angles 0 and +-90 thus give the box itself
(turned by 90 degrees: width and height swap); other angles give the enclosing rectangle. The
per-cell shapes report the rotated box's own ``w x h`` and its angle.

Every value is computed in float32 (the cell anchors in Python floats first) in the
generator's own order of operations, to match Detectron2 bit for bit (for whole-pixel strides
and offsets 0 or 0.5 every shift is exact). No recorded Detectron2 output is stored yet;
``tests/vectors/handmade/detectron2.json`` holds the numbers conventions.md states.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import (
    CellShape,
    Level,
    Option,
    Params,
    Rules,
    checked_feature_maps,
    checked_image_size,
    per_level,
    shapes_from_cell,
    shift_grid,
    yx_pair,
)
from anchorctl.errors import AnchorError
from anchorctl.memory import check_fits

NAME = "detectron2"

RULES = Rules(
    name=NAME,
    title="Detectron2 Default/RotatedAnchorGenerator",
    units="pixels",
    size_meaning="sqrt(area) in pixels (w * h = size^2)",
    ratio_meaning="height / width",
    order="size-major: for each size, every ratio (rotated: then every angle, innermost)",
    centre="(offset + col) * stride, (offset + row) * stride; config OFFSET 0.0 (constructor 0.5)",
    rounding="none (float32)",
    clip="none",
    native_format="xyxy",
    sources=(
        "facebookresearch/detectron2: detectron2/modeling/anchor_generator.py "
        "(DefaultAnchorGenerator, RotatedAnchorGenerator)",
        "facebookresearch/detectron2: detectron2/config/defaults.py (MODEL.ANCHOR_GENERATOR), "
        "configs/Base-RCNN-FPN.yaml, configs/Base-RetinaNet.yaml, configs/common/models/",
        "facebookresearch/detectron2: detectron2/structures/boxes.py (BoxMode XYWHA -> XYXY)",
        "facebookresearch/detectron2#378, PR #488 (offset), #910 (size = sqrt(area))",
    ),
)

CONFIG_ANGLES = (-90.0, 0.0, 90.0)

OPTIONS = (
    Option(
        "sizes",
        "floats",
        "anchor sizes, sqrt(area) in pixels (w * h = size^2) [config default: "
        "32,64,128,256,512 on every level; R-CNN FPN uses 32 | 64 | 128 | 256 | 512]",
        per_level=True,
        default=[(32.0, 64.0, 128.0, 256.0, 512.0)],
    ),
    Option(
        "ratios",
        "floats",
        "aspect_ratios = height / width (0.5 is wide, 2 is tall) [config default: 0.5,1,2]",
        per_level=True,
        default=[(0.5, 1.0, 2.0)],
    ),
    Option(
        "strides",
        "yx",
        "stride of each feature map in whole pixels, the same on both axes (the backbone's "
        "ShapeSpec.stride) [default: from --image-size, the power of two with "
        "ceil(image / stride) = feature map]",
        per_level=True,
    ),
    Option(
        "offset",
        "float",
        "centre of cell (0,0) as a fraction of a stride, in [0, 1) [default: 0.0, the config "
        "key MODEL.ANCHOR_GENERATOR.OFFSET; the constructor's own default is 0.5]",
        default=0.0,
    ),
    Option(
        "angles",
        "floats",
        "RotatedAnchorGenerator: angles in degrees counter-clockwise; giving them makes "
        "rotated (cx, cy, w, h, angle) anchors [config ANGLES: -90,0,90]",
        per_level=True,
    ),
)

_F32 = np.float32


def cell_anchors(sizes: Sequence[float], ratios: Sequence[float]) -> npt.NDArray[np.float32]:
    """The ``(len(sizes) * len(ratios), 4)`` zero-centred cell anchors, size-major, float32.

    As ``DefaultAnchorGenerator.generate_cell_anchors``: Python floats
    ``area = size ** 2.0``, ``w = sqrt(area / a)``, ``h = a * w``, ``(-w/2, -h/2, w/2, h/2)``,
    then stored as float32.
    """
    rows = []
    for size in sizes:
        area = float(size) ** 2.0
        for ratio in ratios:
            w = math.sqrt(area / float(ratio))
            h = float(ratio) * w
            rows.append((-w / 2.0, -h / 2.0, w / 2.0, h / 2.0))
    return np.array(rows, dtype=np.float64).astype(_F32)


def rotated_cell_anchors(
    sizes: Sequence[float], ratios: Sequence[float], angles: Sequence[float]
) -> npt.NDArray[np.float32]:
    """The ``(len(sizes) * len(ratios) * len(angles), 5)`` cell anchors ``(0, 0, w, h, angle)``.

    As ``RotatedAnchorGenerator.generate_cell_anchors``: size, then ratio, then angle innermost.
    """
    rows: list[tuple[float, float, float, float, float]] = []
    for size in sizes:
        area = float(size) ** 2.0
        for ratio in ratios:
            w = math.sqrt(area / float(ratio))
            h = float(ratio) * w
            rows.extend((0.0, 0.0, w, h, float(angle)) for angle in angles)
    return np.array(rows, dtype=np.float64).astype(_F32)


def grid_offsets(
    feature_map: tuple[int, int], stride: int, offset: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Centre ``x`` of every column ``(cols,)`` and ``y`` of every row ``(rows,)``, float32.

    ``torch.arange(offset * stride, n * stride, step=stride, dtype=float32)``: each value is
    ``offset * stride + i * stride`` in double precision, then rounded to float32.
    """
    rows, cols = feature_map
    start = float(offset) * stride
    shift_x = (start + np.arange(cols, dtype=np.float64) * stride).astype(_F32)
    shift_y = (start + np.arange(rows, dtype=np.float64) * stride).astype(_F32)
    return shift_x, shift_y


def grid_anchors(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every anchor of one level: ``(rows*cols*k, 4)`` float32 xyxy, ``(row*cols+col)*k+slot``.

    Shifts ``(x, y, x, y)`` plus the cell anchors, added in float32 as Detectron2 does.
    """
    rows, cols = feature_map
    k = len(base)
    _check_fits(rows * cols * k, 4)
    shift_x, shift_y = grid_offsets(feature_map, stride, offset)
    return shift_grid(shift_x.astype(_F32), shift_y.astype(_F32), base.astype(_F32, copy=False))


def rotated_grid_anchors(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every rotated anchor of one level: ``(rows*cols*k, 5)`` float32 ``(cx, cy, w, h, a)``.

    The shifts add to ``cx`` and ``cy`` only (``w``, ``h`` and the angle get ``+ 0``).
    """
    rows, cols = feature_map
    k = len(base)
    _check_fits(rows * cols * k, 5)
    shift_x, shift_y = grid_offsets(feature_map, stride, offset)
    out = np.empty((rows, cols, k, 5), dtype=_F32)
    np.add(shift_x[None, :, None], base[None, None, :, 0], out=out[..., 0])
    np.add(shift_y[:, None, None], base[None, None, :, 1], out=out[..., 1])
    out[..., 2:] = base[None, None, :, 2:]
    return out.reshape(-1, 5)


def enclosing_xyxy(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``(N, 5)`` rotated boxes as ``(N, 4)`` float32 xyxy horizontal bounding rectangles.

    As ``BoxMode.convert(box, XYWHA_ABS, XYXY_ABS)``: in float64,
    ``c = |cos(a * pi / 180)|``, ``s = |sin(...)|``, ``w' = c*w + s*h``, ``h' = c*h + s*w``,
    ``x0 = cx - w'/2``, ``y0 = cy - h'/2``, ``x1 = x0 + w'``, ``y1 = y0 + h'``; then float32.
    """
    arr = boxes.astype(np.float64)
    rad = arr[:, 4] * math.pi / 180.0
    c = np.abs(np.cos(rad))
    s = np.abs(np.sin(rad))
    w, h = arr[:, 2], arr[:, 3]
    new_w = c * w + s * h
    new_h = c * h + s * w
    out = np.empty((len(arr), 4), dtype=np.float64)
    out[:, 0] = arr[:, 0] - new_w / 2.0
    out[:, 1] = arr[:, 1] - new_h / 2.0
    out[:, 2] = out[:, 0] + new_w
    out[:, 3] = out[:, 1] + new_h
    return out.astype(_F32)


def generate(params: Params) -> list[Level]:
    """Every level's anchors in pixels, xyxy, in Detectron2 order (see the module rules).

    With ``angles`` the boxes are ``RotatedAnchorGenerator``'s, each given as its horizontal
    bounding rectangle; :func:`rotated` returns their native ``(cx, cy, w, h, angle)`` form.
    """
    levels = []
    for spec in _specs(params):
        fm, stride, offset = spec.feature_map, spec.stride, spec.offset
        shift_x, shift_y = grid_offsets((1, 1), stride, offset)
        center0 = (float(shift_x[0]), float(shift_y[0]))
        if spec.angles is None:
            base = cell_anchors(spec.sizes, spec.ratios)
            pairs = [{"size": s, "ratio": r} for s in spec.sizes for r in spec.ratios]
            shapes = shapes_from_cell(base, pairs)
            anchors = grid_anchors(fm, stride, offset, base)
        else:
            base5 = rotated_cell_anchors(spec.sizes, spec.ratios, spec.angles)
            triples = [(s, r, a) for s in spec.sizes for r in spec.ratios for a in spec.angles]
            shapes = tuple(
                CellShape(
                    slot,
                    {"size": s, "ratio": r, "angle": a},
                    float(base5[slot, 2]),
                    float(base5[slot, 3]),
                )
                for slot, (s, r, a) in enumerate(triples)
            )
            anchors = enclosing_xyxy(rotated_grid_anchors(fm, stride, offset, base5))
        levels.append(
            Level(
                feature_map=fm,
                stride=(float(stride), float(stride)),
                center0=center0,
                shapes=shapes,
                anchors=anchors,
            )
        )
    return levels


def rotated(params: Params) -> list[npt.NDArray[np.float32]]:
    """``RotatedAnchorGenerator``'s anchors: per level ``(rows*cols*k, 5)`` float32.

    Each row is ``(cx, cy, w, h, angle)`` in pixels and degrees counter-clockwise, in
    Detectron2 order. ``angles`` defaults to the config's ``ANGLES [[-90, 0, 90]]``.
    """
    if params.get("angles") is None:
        params = {**params, "angles": [CONFIG_ANGLES]}
    out = []
    for spec in _specs(params):
        assert spec.angles is not None
        base5 = rotated_cell_anchors(spec.sizes, spec.ratios, spec.angles)
        out.append(rotated_grid_anchors(spec.feature_map, spec.stride, spec.offset, base5))
    return out


@dataclass(frozen=True)
class _Spec:
    """One validated level."""

    feature_map: tuple[int, int]
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    stride: int
    offset: float
    angles: tuple[float, ...] | None


def _specs(params: Params) -> list[_Spec]:
    maps = checked_feature_maps(params)
    defaults = {o.name: o.default for o in OPTIONS}
    sizes = per_level(params, "sizes", len(maps), defaults["sizes"])
    ratios = per_level(params, "ratios", len(maps), defaults["ratios"])
    angles: list[Any] = (
        [None] * len(maps)
        if params.get("angles") is None
        else per_level(params, "angles", len(maps))
    )
    offset = params.get("offset")
    offset = defaults["offset"] if offset is None else float(offset)
    if not (math.isfinite(offset) and 0.0 <= offset < 1.0):
        raise AnchorError(
            f"--offset: {offset:g} must lie in [0, 1), a fraction of a stride (Detectron2 "
            "asserts 0 <= offset < 1; 0.5 is half a stride)"
        )
    strides = _strides(params, maps)
    specs = []
    for fm, s, r, a, stride in zip(maps, sizes, ratios, angles, strides, strict=True):
        specs.append(
            _Spec(
                fm,
                _positive("sizes", s, "a size is sqrt(area) in pixels"),
                _positive("ratios", r, "aspect_ratios = height / width"),
                stride,
                offset,
                None if a is None else _finite("angles", a, "degrees counter-clockwise"),
            )
        )
    return specs


def _strides(params: Params, maps: Sequence[tuple[int, int]]) -> list[int]:
    if params.get("strides") is not None:
        out = []
        for value in per_level(params, "strides", len(maps)):
            sy, sx = yx_pair(value)
            for v in (sy, sx):
                if not (math.isfinite(v) and v >= 1 and v.is_integer()):
                    raise AnchorError(
                        f"--strides: {v:g} is not a whole number of pixels >= 1 (Detectron2 "
                        "takes each stride from the backbone's ShapeSpec, an int)"
                    )
            if sy != sx:
                raise AnchorError(
                    f"--strides: {sy:g},{sx:g} differ; Detectron2 has one stride per feature "
                    "map, the same on both axes"
                )
            out.append(int(sx))
        return out
    image = params.get("image_size")
    if image is None:
        raise AnchorError(
            "--strides is required: Detectron2 takes them from the backbone (R-CNN FPN "
            "4,8,16,32,64; RetinaNet 8,16,32,64,128; C4 16), or give --image-size to derive them"
        )
    width, height = checked_image_size(image)
    out = []
    for rows, cols in maps:
        stride = _power_of_two_stride(width, height, rows, cols)
        if stride is None:
            raise AnchorError(
                f"--strides: no power-of-two stride turns the {width}x{height} image into the "
                f"{rows}x{cols} feature map (ceil(image / stride)); give --strides"
            )
        out.append(stride)
    return out


def _power_of_two_stride(width: int, height: int, rows: int, cols: int) -> int | None:
    """The smallest ``2**k`` with ``ceil(height / 2**k) = rows``, ``ceil(width / 2**k) = cols``."""
    for k in range(31):
        s = 1 << k
        if -(-height // s) == rows and -(-width // s) == cols:
            return s
    return None


def _check_fits(count: int, coords: int) -> None:
    check_fits(
        count * coords * 4,
        f"{count:,} anchors as float32",
        "use a smaller feature map or fewer sizes, ratios and angles",
    )


def _positive(name: str, values: Sequence[Any], meaning: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out:
        raise AnchorError(f"--{name}: give at least one value ({meaning})")
    for value in out:
        if not (math.isfinite(value) and value > 0):
            raise AnchorError(
                f"--{name}: {value:g} is not a positive finite number ({meaning}; Detectron2 "
                "would silently make empty or NaN boxes from it)"
            )
    return out


def _finite(name: str, values: Sequence[Any], meaning: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out:
        raise AnchorError(f"--{name}: give at least one value ({meaning})")
    for value in out:
        if not math.isfinite(value):
            raise AnchorError(f"--{name}: {value:g} is not a finite number ({meaning})")
    return out


def native(params: Params) -> list[npt.NDArray[np.float32]] | None:
    """The framework's own output form, when it is not xyxy: with ``angles``, every level's
    rotated anchors ``(N, 5)`` ``(cx, cy, w, h, angle)`` (see :func:`rotated`); else ``None``
    (the default generator's native form is xyxy)."""
    return rotated(params) if params.get("angles") is not None else None
