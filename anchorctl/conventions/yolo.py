"""YOLO (darknet YOLOv3, ultralytics YOLOv5): explicit ``(w, h)`` anchors per level, in pixels.

YOLO has no anchor *generator*: each detection layer holds a short list of anchor shapes and
decodes its predictions around them. This module draws those shapes where a prediction with
zero logits lands. The rules (pjreddie/darknet ``cfg/yolov3.cfg``, ``src/yolo_layer.c``;
ultralytics/yolov5 ``models/yolov5s.yaml``, ``models/yolo.py`` (``Detect``)):

* **Units**: pixels of the network input. ``--anchors`` are ``(w, h)`` pairs per level
  (``kind whs``: ``10x13,16x30,33x23``) - there is no size or ratio. darknet YOLOv3 and
  YOLOv5 YAML anchors are input pixels; YOLOv2 ``[region]`` anchors and the ``Detect.anchors``
  stored in a YOLOv5 checkpoint are **grid cells** (pixels / stride;
  ultralytics/yolov5#447): give ``--grid-units`` and they are multiplied by the level's stride.
* **Default anchors**: the COCO k-means set shared by darknet YOLOv3 and YOLOv5, by stride:
  8: 10x13, 16x30, 33x23; 16: 30x61, 62x45, 59x119; 32: 116x90, 156x198, 373x326. YOLOv5
  lists P3 (stride 8) first; darknet lists the stride-32 layer first (``mask = 6,7,8``).
* **Per cell**: the level's anchors in the order listed (``k = len(anchors)``).
* **Centres**: ``((col + 0.5) * stride, (row + 0.5) * stride)``: where darknet's
  ``(col + sigmoid(tx)) / W`` and YOLOv5's ``(2 * sigmoid(t) - 0.5 + col) * stride`` put a box
  whose logits are zero. The box is then ``w x h`` (darknet ``exp(0) * anchor``, YOLOv5
  ``(2 * sigmoid(0))^2 * anchor``).
* **Strides**: one per level, the same on both axes; maps are exactly ``input / stride``.
  Without ``--strides``: derived from ``--input-size`` as the power of two with
  ``ceil(image / stride) = feature map``, or, on three maps, 8, 16 and 32 for the largest,
  middle and smallest map (so both YOLOv5's P3-first and darknet's P5-first order work).
* **Order here**: cell-major like every other convention, index
  ``(row * cols + col) * k + slot``. **The prediction tensors are anchor-major**: YOLOv5's
  ``(batch, k, rows, cols, outputs)`` per level (P3, P4, P5) and darknet's anchor, then entry,
  then row-major cells; :func:`anchor_major` reorders one level's anchors into that layout,
  index ``(slot * rows + row) * cols + col``.
* **Output**: float32 ``(x1, y1, x2, y2)`` = ``(cx -+ w/2, cy -+ h/2)``; YOLO's own form is
  centre ``(x, y, w, h)`` (native format ``cxcywh``). No rounding, no clipping.
* **Totals** with 3 anchors per cell on strides 8, 16, 32: 416 -> 10647, 608 -> 22743,
  640 -> 25200.

Everything is float32 as in both frameworks; with whole-pixel (or power-of-two grid-unit)
anchors and power-of-two strides every coordinate is exact.
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

NAME = "yolo"

RULES = Rules(
    name=NAME,
    title="YOLO anchors (darknet YOLOv3 / YOLOv5)",
    units="pixels",
    size_meaning="none: each anchor is an explicit (w, h) pair in input pixels",
    ratio_meaning="none (explicit w x h)",
    order="as listed per level; cell-major here, anchor-major in the prediction tensors",
    centre="((col + 0.5) * stride, (row + 0.5) * stride), where zero logits decode",
    rounding="none (float32)",
    clip="none",
    native_format="cxcywh",
    sources=(
        "pjreddie/darknet: cfg/yolov3.cfg, cfg/yolov3-tiny.cfg, src/yolo_layer.c",
        "ultralytics/yolov5: models/yolov5s.yaml, models/yolo.py (Detect)",
        "ultralytics/yolov5#447 (checkpoint anchors in grid units)",
    ),
)

COCO_ANCHORS: dict[int, tuple[tuple[float, float], ...]] = {
    8: ((10.0, 13.0), (16.0, 30.0), (33.0, 23.0)),
    16: ((30.0, 61.0), (62.0, 45.0), (59.0, 119.0)),
    32: ((116.0, 90.0), (156.0, 198.0), (373.0, 326.0)),
}

OPTIONS = (
    Option(
        "anchors",
        "whs",
        "anchor shapes per level as WxH pairs in input pixels, e.g. 10x13,16x30,33x23 "
        "[default: the darknet/YOLOv5 COCO anchors of the level's stride 8, 16 or 32]",
        per_level=True,
    ),
    Option(
        "strides",
        "yx",
        "stride of each level in pixels, the same on both axes [default: from --input-size; "
        "on three maps 8,16,32 from the largest map to the smallest]",
        per_level=True,
    ),
    Option(
        "grid_units",
        "flag",
        "--anchors are in grid cells (YOLOv2 [region], YOLOv5 checkpoint Detect.anchors): "
        "multiply by the stride",
        default=False,
    ),
)

_F32 = np.float32


def grid(feature_map: tuple[int, int], stride: float, wh: npt.NDArray[np.float32]) -> Grid:
    """One level's anchors on demand: float32 xyxy, index ``(row*cols+col)*k+slot``.

    ``wh`` is ``(k, 2)`` float32 pixels; centres ``(i + 0.5) * stride`` in float32, corners
    ``centre -+ w / 2``.
    """
    s = _F32(stride)
    half = (wh / _F32(2)).astype(_F32)  # (k, 2): half_w, half_h

    def part(index: npt.NDArray[np.int64], axis: int) -> npt.NDArray[np.float32]:
        centre = ((index.astype(_F32) + _F32(0.5)) * s)[:, None]
        return np.stack([centre - half[:, axis], centre + half[:, axis]], axis=-1)

    return Grid(feature_map, len(wh), lambda c: part(c, 0), lambda r: part(r, 1))


def level_anchors(
    feature_map: tuple[int, int], stride: float, wh: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """One level's anchors: ``(rows*cols*k, 4)`` float32 xyxy (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(feature_map, stride, wh).array()
    return out


def anchor_major(
    anchors: npt.NDArray[Any], feature_map: tuple[int, int], k: int
) -> npt.NDArray[Any]:
    """One level's cell-major ``(rows*cols*k, C)`` rows in the prediction tensors' order.

    YOLOv5 ``(k, rows, cols)`` / darknet anchor-major: output index
    ``(slot * rows + row) * cols + col`` holds input index ``(row * cols + col) * k + slot``.
    """
    rows, cols = feature_map
    if anchors.shape[0] != rows * cols * k:
        raise AnchorError(
            f"{anchors.shape[0]} anchors are not {rows}x{cols} cells x {k} anchors per cell"
        )
    width = anchors.shape[1]
    return np.ascontiguousarray(
        anchors.reshape(rows, cols, k, width).transpose(2, 0, 1, 3).reshape(-1, width)
    )


def generate(params: Params) -> list[Level]:
    """Every level's anchors in pixels, xyxy, cell-major (see the module rules)."""
    maps = checks.feature_maps(params)
    strides = _strides(params, maps)
    units = bool(params.get("grid_units"))
    if params.get("anchors") is not None:
        given = [
            checks.wh_pairs(p, "anchors", "an anchor is WxH in input pixels", where=_where(i, maps))
            for i, p in enumerate(per_level(params, "anchors", len(maps)))
        ]
    else:
        given = []
        for stride in strides:
            preset = COCO_ANCHORS.get(int(stride)) if float(stride).is_integer() else None
            if preset is None or units:
                raise AnchorError(
                    f"--anchors is required: the default COCO anchors exist for strides 8, 16 "
                    f"and 32 in pixels, not stride {stride:g}"
                    + (" with --grid-units" if units else "")
                )
            given.append(preset)
    levels = []
    for fm, stride, pairs in zip(maps, strides, given, strict=True):
        checks.per_cell(len(pairs), RULES, f"{len(pairs)} anchors")
        with np.errstate(all="ignore"):
            wh = np.asarray(pairs, dtype=np.float64).astype(_F32)
            if units:
                wh = (wh * _F32(stride)).astype(_F32)
        level_grid = grid(fm, stride, wh)
        level_grid = checks.extents(
            level_grid,
            wh[:, 0].astype(np.float64),
            wh[:, 1].astype(np.float64),
            RULES,
            centres="--strides",
            shapes="--anchors",
        )
        half = _F32(0.5) * _F32(stride)
        levels.append(
            grid_level(
                level_grid,
                stride=(float(stride), float(stride)),
                center0=(float(half), float(half)),
                shapes=tuple(
                    CellShape(slot, {"w": float(w), "h": float(h)}, float(w), float(h))
                    for slot, (w, h) in enumerate(wh)
                ),
            )
        )
    return levels


def _where(index: int, maps: Sequence[Any]) -> str:
    return f" (level {index})" if len(maps) > 1 else ""


def _strides(params: Params, maps: Sequence[tuple[int, int]]) -> list[float]:
    if params.get("strides") is not None:
        return [x for _, x in checks.strides(params, "strides", len(maps), RULES, same_axes=True)]
    if params.get("image_size") is not None:
        image = checks.image_size(params)
        return [float(s) for s in checks.derived_strides(image, maps, RULES)]
    if len(maps) == 3:
        by_size = sorted(range(3), key=lambda i: -maps[i][0] * maps[i][1])
        out = [0.0, 0.0, 0.0]
        for value, index in zip((8.0, 16.0, 32.0), by_size, strict=True):
            out[index] = value
        return out
    raise AnchorError(
        f"--strides is required on {len(maps)} feature maps (or give --input-size; three maps "
        "default to 8, 16, 32 from the largest map to the smallest)"
    )
