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
  ``--input-size`` as the power of two with ``ceil(image / stride) = feature map`` on both
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

**Centres in float32, as torch makes them.** Detectron2 builds each axis's centres with
``torch.arange(offset * stride, n * stride, step=stride, dtype=torch.float32)``. On the CPU,
torch computes that range in double but in blocks (pytorch/pytorch
``aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp``, ``arange_kernel``, and
``Vectorized<float>::arange``): the first ``2 * L * floor(n / (2 * L))`` values come in
vectors of ``L`` lanes, each vector's first value ``float32(start + step * i)`` and the rest
``float32(that + j * step)``; the remaining values are ``float32(start + step * i)`` one by
one. With offset 0, 0.25 or 0.5 and whole strides every value is exact either way; with other
offsets the blocks move some centres by an ulp or two, and :func:`torch_arange` reproduces
them. ``L`` is 8, torch's float32 vector on AVX2 and on CPUs without vector units; a CPU on
which torch picks AVX-512 uses 16-lane vectors and can differ by an ulp. Maps wider than
torch's parallel grain (32,768 cells a side) are split across threads, which restarts the
blocks at each thread's first cell; this module assumes one thread.

The cell anchors are computed in Python floats and stored as float32, as the generator does,
and the shifts added in float32, so the anchors match Detectron2 bit for bit on such a CPU.
``tests/vectors/torch_arange/`` pins the centres against ranges recorded from torch;
``tests/vectors/handmade/detectron2.json`` holds the numbers the Detectron2 sources state.
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
    shapes_from_cell,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

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
    exactness="centres as torch's float32 arange makes them with 8-lane vectors (AVX2): a CPU "
    "where torch picks AVX-512 can place a few by an ulp elsewhere; maps wider than 32,768 "
    "cells split across torch's threads",
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
        f"aspect_ratios = {RULES.ratio_meaning} (0.5 is wide, 2 is tall) [config default: 0.5,1,2]",
        per_level=True,
        default=[(0.5, 1.0, 2.0)],
    ),
    Option(
        "strides",
        "yx",
        "stride of each feature map in whole pixels, the same on both axes (the backbone's "
        "ShapeSpec.stride) [default: from --input-size, the power of two with "
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
TORCH_LANES = 8  # float32 lanes of torch's CPU vectors on AVX2 (and without vector units)
ROTATED_LAYOUT = ((0, 0), (1, 0), (0, 1), (0, 2), (0, 3))  # x part (cx, w, h, angle), y (cy)


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
    with np.errstate(all="ignore"):
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
    with np.errstate(all="ignore"):
        return np.array(rows, dtype=np.float64).astype(_F32)


def torch_arange(
    start: float, step: float, n: int, index: npt.NDArray[np.int64], lanes: int = TORCH_LANES
) -> npt.NDArray[np.float32]:
    """Values ``index`` of ``torch.arange(start, ..., step=step, dtype=torch.float32)`` of
    length ``n``, as torch's CPU kernel computes them (see the module notes): in the vectorized
    part, ``float32(float32(start + step * b) + j * step)`` with ``b`` the first index of the
    ``lanes``-wide vector and ``j`` the lane, in double; past it ``float32(start + step * i)``.
    """
    i = np.asarray(index, dtype=np.int64)
    vectorized_end = (n // (2 * lanes)) * 2 * lanes
    lane = i % lanes
    first = (start + step * (i - lane).astype(np.float64)).astype(_F32).astype(np.float64)
    blocked = (first + lane.astype(np.float64) * step).astype(_F32)
    serial = (start + step * i.astype(np.float64)).astype(_F32)
    out: npt.NDArray[np.float32] = np.where(i < vectorized_end, blocked, serial)
    return out


def grid_offsets(
    feature_map: tuple[int, int], stride: int, offset: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Centre ``x`` of every column ``(cols,)`` and ``y`` of every row ``(rows,)``, float32.

    ``torch.arange(offset * stride, n * stride, step=stride, dtype=float32)`` for each axis,
    as :func:`torch_arange` reproduces it.
    """
    rows, cols = feature_map
    start = float(offset) * stride
    return (
        torch_arange(start, float(stride), cols, np.arange(cols)),
        torch_arange(start, float(stride), rows, np.arange(rows)),
    )


def grid(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> Grid:
    """One level's anchors on demand: shifts ``(x, y, x, y)`` plus the cell anchors, added in
    float32 as Detectron2 does; float32 xyxy, index ``(row*cols+col)*k+slot``."""
    rows, cols = feature_map
    start, step = float(offset) * stride, float(stride)
    base = base.astype(_F32, copy=False)

    def x_part(c: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (
            torch_arange(start, step, cols, c)[:, None, None] + base[None, :, 0::2]
        )
        return out

    def y_part(r: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (
            torch_arange(start, step, rows, r)[:, None, None] + base[None, :, 1::2]
        )
        return out

    return Grid(feature_map, len(base), x_part, y_part)


def rotated_grid(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> Grid:
    """One level's rotated anchors on demand: ``(cx, cy, w, h, angle)`` float32; the shifts
    add to ``cx`` and ``cy`` only (``w``, ``h`` and the angle get ``+ 0``)."""
    rows, cols = feature_map
    start, step = float(offset) * stride, float(stride)
    base = base.astype(_F32, copy=False)

    def x_part(c: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out = np.empty((len(c), len(base), 4), dtype=_F32)
        np.add(torch_arange(start, step, cols, c)[:, None], base[None, :, 0], out=out[..., 0])
        out[..., 1:] = base[None, :, 2:] + _F32(0)
        return out

    def y_part(r: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = (
            torch_arange(start, step, rows, r)[:, None] + base[None, :, 1]
        )[..., None]
        return out

    return Grid(feature_map, len(base), x_part, y_part, layout=ROTATED_LAYOUT)


def enclosing_grid(rotated_level: Grid, base: npt.NDArray[np.float32]) -> Grid:
    """The horizontal bounding rectangles of ``rotated_level``'s boxes, float32 xyxy, as
    :func:`enclosing_xyxy` computes them (each x depends on the column and slot only)."""
    arr = base.astype(np.float64)
    rad = arr[:, 4] * math.pi / 180.0
    c, s = np.abs(np.cos(rad)), np.abs(np.sin(rad))
    w, h = arr[:, 2], arr[:, 3]
    new_w = c * w + s * h
    new_h = c * h + s * w

    def corners(centre: npt.NDArray[np.float32], extent: npt.NDArray[np.float64]) -> Any:
        low = centre.astype(np.float64) - extent / 2.0
        return np.stack([low, low + extent], axis=-1).astype(_F32)

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = corners(rotated_level.x_part(cols)[..., 0], new_w)
        return out

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = corners(rotated_level.y_part(rows)[..., 0], new_h)
        return out

    return Grid(rotated_level.feature_map, rotated_level.per_cell, x_part, y_part)


def grid_anchors(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every anchor of one level: ``(rows*cols*k, 4)`` float32 xyxy (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(feature_map, stride, offset, base).array()
    return out


def rotated_grid_anchors(
    feature_map: tuple[int, int], stride: int, offset: float, base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every rotated anchor of one level: ``(rows*cols*k, 5)`` float32 ``(cx, cy, w, h, a)``."""
    out: npt.NDArray[np.float32] = rotated_grid(feature_map, stride, offset, base).array()
    return out


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
        first = torch_arange(float(offset) * stride, float(stride), 1, np.zeros(1, np.int64))
        center0 = (float(first[0]), float(first[0]))
        if spec.angles is None:
            base = cell_anchors(spec.sizes, spec.ratios)
            pairs = [{"size": s, "ratio": r} for s in spec.sizes for r in spec.ratios]
            shapes = shapes_from_cell(base, pairs)
            level_grid = grid(fm, stride, offset, base)
            nominal_w = base[:, 2].astype(np.float64) - base[:, 0]
            nominal_h = base[:, 3].astype(np.float64) - base[:, 1]
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
            level_grid = enclosing_grid(rotated_grid(fm, stride, offset, base5), base5)
            cell = enclosing_xyxy(base5)
            nominal_w = cell[:, 2].astype(np.float64) - cell[:, 0]
            nominal_h = cell[:, 3].astype(np.float64) - cell[:, 1]
        level_grid = checks.extents(
            level_grid,
            nominal_w,
            nominal_h,
            RULES,
            centres="--strides/--offset",
            shapes="--sizes/--ratios",
        )
        levels.append(
            grid_level(
                level_grid, stride=(float(stride), float(stride)), center0=center0, shapes=shapes
            )
        )
    return levels


def rotated(params: Params) -> list[npt.NDArray[np.float32]]:
    """``RotatedAnchorGenerator``'s anchors: per level ``(rows*cols*k, 5)`` float32.

    Each row is ``(cx, cy, w, h, angle)`` in pixels and degrees counter-clockwise, in
    Detectron2 order. ``angles`` defaults to the config's ``ANGLES [[-90, 0, 90]]``.
    """
    return [level.array for level in rotated_levels(params)]


def rotated_levels(params: Params) -> list[Level]:
    """As :func:`rotated`, as levels whose ``(cx, cy, w, h, angle)`` anchors come on demand."""
    if params.get("angles") is None:
        params = {**params, "angles": [CONFIG_ANGLES]}
    out = []
    for spec, level in zip(_specs(params), generate(params), strict=True):
        assert spec.angles is not None
        base5 = rotated_cell_anchors(spec.sizes, spec.ratios, spec.angles)
        out.append(
            grid_level(
                rotated_grid(spec.feature_map, spec.stride, spec.offset, base5),
                stride=level.stride,
                center0=level.center0,
                shapes=level.shapes,
            )
        )
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
    maps = checks.feature_maps(params)
    n = len(maps)
    defaults = {o.name: o.default for o in OPTIONS}
    sizes = checks.level_floats(
        params, "sizes", n, checks.meaning(RULES, "sizes"), defaults["sizes"]
    )
    ratios = checks.level_floats(
        params, "ratios", n, checks.meaning(RULES, "ratios"), defaults["ratios"]
    )
    angles: list[Any] = (
        [None] * n
        if params.get("angles") is None
        else checks.level_floats(params, "angles", n, "degrees counter-clockwise", positive=False)
    )
    offset = checks.fraction(
        defaults["offset"] if params.get("offset") is None else params["offset"],
        "offset",
        "a fraction of a stride; Detectron2 asserts 0 <= offset < 1, 0.5 is half a stride",
        below_one=True,
    )
    strides = _strides(params, maps)
    specs = []
    for fm, s, r, a, stride in zip(maps, sizes, ratios, angles, strides, strict=True):
        count = len(s) * len(r) * (1 if a is None else len(a))
        checks.per_cell(
            count,
            RULES,
            f"{len(s)} sizes x {len(r)} ratios" + ("" if a is None else f" x {len(a)} angles"),
        )
        specs.append(_Spec(fm, s, r, stride, offset, a))
    return specs


def _strides(params: Params, maps: Sequence[tuple[int, int]]) -> list[int]:
    if params.get("strides") is not None:
        given = checks.strides(
            params, "strides", len(maps), RULES, whole_pixels=True, same_axes=True
        )
        return [int(x) for _, x in given]
    if params.get("image_size") is None:
        raise AnchorError(
            "--strides is required: Detectron2 takes them from the backbone (R-CNN FPN "
            "4,8,16,32,64; RetinaNet 8,16,32,64,128; C4 16), or give --input-size to derive them"
        )
    return checks.derived_strides(checks.image_size(params), maps, RULES)


def native(params: Params) -> list[npt.NDArray[np.float32]] | None:
    """The framework's own output form, when it is not xyxy: with ``angles``, every level's
    rotated anchors ``(N, 5)`` ``(cx, cy, w, h, angle)`` (see :func:`rotated`); else ``None``
    (the default generator's native form is xyxy)."""
    return rotated(params) if params.get("angles") is not None else None


def native_levels(params: Params) -> list[Level] | None:
    """As :func:`native`, as levels computed on demand in blocks."""
    return rotated_levels(params) if params.get("angles") is not None else None
