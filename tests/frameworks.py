"""Small, independent models of what each export target's framework builds from a config.

Written for the tests from the frameworks' own public sources, not from anchorctl's
convention modules, and computed in float64 (torchvision's rounding of half extents kept, as
it decides whole pixels): they say what a framework *would* make of a snippet, so the tests
can check ``anchorctl export``'s claims against them. Each returns, for one feature map of
``rows x cols`` cells, the anchors of the requested cells as ``(M*k, 4)`` xyxy pixels, cell
by cell, slots in the framework's order.

Sources:

* torchvision ``AnchorGenerator``: pytorch/vision ``torchvision/models/detection/
  anchor_utils.py`` (``generate_anchors``: ``h_ratios = sqrt(ar)``, ``w_ratios = 1 /
  h_ratios``, ``ws = (w_ratios[:, None] * scales[None, :]).view(-1)``, ``base = stack([-ws,
  -hs, ws, hs]) / 2`` rounded; ``grid_anchors``: ``shifts = arange(0, W) * stride_w``,
  strides ``image_size // grid_size``).
* MMDetection ``AnchorGenerator`` / ``YOLOAnchorGenerator``: open-mmlab/mmdetection
  ``mmdet/models/task_modules/prior_generators/anchor_generator.py``
  (``gen_single_level_base_anchors``: ``x_center = center_offset * base_size`` or the
  level's ``centers`` entry, ``ws = base * w_ratios[:, None] * scales[None, :]`` when
  ``scale_major``; YOLO: ``(w, h)`` pairs around ``stride / 2``; ``single_level_grid_priors``:
  ``shift_x = arange(0, feat_w) * stride_w``).
* Detectron2 ``DefaultAnchorGenerator``: facebookresearch/detectron2
  ``detectron2/modeling/anchor_generator.py`` (``generate_cell_anchors``: size-major,
  ``w = sqrt(size**2 / ar)``, ``h = ar * w``; ``_create_grid_offsets``: ``offset * stride +
  i * stride``).
* YOLOv5 ``Detect``: ultralytics/yolov5 ``models/yolo.py`` (zero logits decode to
  ``xy = (2 * sigmoid(0) - 0.5 + grid) * stride = (i + 0.5) * stride`` and ``wh = (2 *
  sigmoid(0))**2 * anchor = anchor``), anchors from the model YAML in input pixels.
* TF Object Detection API ``GridAnchorGenerator`` and ``FlexibleGridAnchorGenerator``:
  tensorflow/models ``research/object_detection/anchor_generators/grid_anchor_generator.py``
  (``tile_anchors``: ``heights = scales / sqrt(ar) * base_h``, ``widths = scales * sqrt(ar) *
  base_w``, centres ``i * stride + offset``; scales x ratios from ``ops.meshgrid``, scales
  varying fastest) and ``flexible_grid_anchor_generator.py`` (base sizes and ratios paired,
  base ``[1, 1]``); protos in ``research/object_detection/protos/``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Cells = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class Built:
    """One level as a framework builds it from a snippet: the per-cell ``(w, h)`` shapes in
    slot order, and a function giving the anchors of some cells."""

    shapes: np.ndarray  # (k, 2)
    center: tuple[float, float]  # cell (0, 0)'s anchor centre (x, y), pixels
    steps: tuple[float, float]  # (y, x) spacing of the centres, pixels

    def anchors(self, cells: Cells) -> np.ndarray:
        half = self.shapes / 2.0
        out = []
        for row, col in cells:
            cx = self.center[0] + col * self.steps[1]
            cy = self.center[1] + row * self.steps[0]
            for w2, h2 in half:
                out.append((cx - w2, cy - h2, cx + w2, cy + h2))
        return np.array(out, dtype=np.float64).reshape(-1, 4)


# --------------------------------------------------------------------------- torchvision


def torchvision_levels(
    text: str, feature_maps: Sequence[tuple[int, int]], image_size: tuple[int, int]
) -> list[Built]:
    call = _call(text, "AnchorGenerator")
    sizes = call["sizes"]
    ratios = call["aspect_ratios"]
    width, height = image_size
    out = []
    for level_sizes, level_ratios, (rows, cols) in zip(sizes, ratios, feature_maps, strict=True):
        scales = np.asarray(level_sizes, dtype=np.float32)
        h_ratios = np.sqrt(np.asarray(level_ratios, dtype=np.float32))
        w_ratios = np.float32(1) / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        half = np.round(np.stack([ws, hs], axis=1).astype(np.float32) / np.float32(2))
        out.append(
            Built(
                half.astype(np.float64) * 2,
                (0.0, 0.0),
                (float(height // rows), float(width // cols)),
            )
        )
    return out


# --------------------------------------------------------------------------- mmdet


def mmdet_levels(text: str) -> list[Built]:
    call = _call(text, "dict")
    strides = [(s, s) if isinstance(s, (int, float)) else tuple(s) for s in call["strides"]]
    if call["type"] == "YOLOAnchorGenerator":
        return [
            Built(np.array(pairs, dtype=np.float64), (sw / 2.0, sh / 2.0), (sh, sw))
            for pairs, (sw, sh) in zip(call["base_sizes"], strides, strict=True)
        ]
    assert call["type"] == "AnchorGenerator"
    scales = np.asarray(call["scales"], dtype=np.float64)
    ratios = np.asarray(call["ratios"], dtype=np.float64)
    bases = call.get("base_sizes") or [min(s) for s in strides]
    centers = call.get("centers")
    offset = call.get("center_offset", 0.0)
    out = []
    for index, (base, (sw, sh)) in enumerate(zip(bases, strides, strict=True)):
        h_ratios = np.sqrt(ratios)
        w_ratios = 1.0 / h_ratios
        ws = (base * w_ratios[:, None] * scales[None, :]).reshape(-1)  # scale_major=True
        hs = (base * h_ratios[:, None] * scales[None, :]).reshape(-1)
        center = tuple(centers[index]) if centers else (offset * base, offset * base)
        out.append(Built(np.stack([ws, hs], axis=1), center, (sh, sw)))
    return out


# --------------------------------------------------------------------------- detectron2


def detectron2_levels(text: str, strides: Sequence[float]) -> list[Built]:
    sizes = _yaml_value(text, "SIZES")
    ratios = _yaml_value(text, "ASPECT_RATIOS")
    offset = float(_yaml_value(text, "OFFSET"))
    if len(ratios) == 1:
        ratios = ratios * len(sizes)
    out = []
    for level_sizes, level_ratios, stride in zip(sizes, ratios, strides, strict=True):
        shapes = []
        for size in level_sizes:  # size-major
            for ar in level_ratios:
                w = math.sqrt(size**2 / ar)
                shapes.append((w, ar * w))
        out.append(Built(np.array(shapes), (offset * stride, offset * stride), (stride, stride)))
    return out


# --------------------------------------------------------------------------- yolo


def yolo_levels(text: str) -> list[Built]:
    out = []
    for line in text[text.index("anchors:") :].splitlines()[1:]:
        match = re.match(r"\s+- (\[.*\])\s+# (?:P\d+/)?(?:stride )?([\d.]+)$", line)
        if match is None:
            break
        values = ast.literal_eval(match.group(1))
        stride = float(match.group(2))
        pairs = np.array(values, dtype=np.float64).reshape(-1, 2)
        out.append(Built(pairs, (stride / 2.0, stride / 2.0), (stride, stride)))
    return out


# --------------------------------------------------------------------------- tf


def tf_levels(text: str) -> list[Built]:
    if "flexible_grid_anchor_generator" in text:
        out = []
        for block in re.findall(r"anchor_grid \{(.*?)\}", text, re.S):
            fields = _proto_fields(block)
            sizes = np.asarray(fields["base_sizes"], dtype=np.float64)
            ratios = np.asarray(fields["aspect_ratios"], dtype=np.float64)
            shapes = np.stack([sizes * np.sqrt(ratios), sizes / np.sqrt(ratios)], axis=1)
            out.append(_tf_built(shapes, fields))
        return out
    fields = _proto_fields(text)
    scales = fields["scales"]
    ratios = fields["aspect_ratios"]
    pairs = [(s, r) for r in ratios for s in scales]  # meshgrid: scales vary fastest
    shapes = np.array(
        [(s * math.sqrt(r) * 256.0, s / math.sqrt(r) * 256.0) for s, r in pairs],
        dtype=np.float64,
    )
    return [_tf_built(shapes, fields)]


def _tf_built(shapes: np.ndarray, fields: dict[str, Any]) -> Built:
    stride = (float(fields.get("height_stride", 16)), float(fields.get("width_stride", 16)))
    offset = (float(fields.get("width_offset", 0)), float(fields.get("height_offset", 0)))
    return Built(shapes, offset, stride)


# --------------------------------------------------------------------------- reading


def _call(text: str, name: str) -> dict[str, Any]:
    """The keyword arguments of the first call to ``name`` in ``text``, as Python literals
    (``(x,) * n`` included); nothing is executed."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg}
    raise AssertionError(f"no {name}(...) in the snippet")


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return list(_literal(node.left)) * int(_literal(node.right))
    return ast.literal_eval(node)


def _yaml_value(text: str, key: str) -> Any:
    match = re.search(rf"^\s*{key}:\s*(.*?)\s*$", text, re.M)
    assert match, key
    return ast.literal_eval(match.group(1))


def _proto_fields(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in re.findall(r"^\s*(\w+):\s*(.+?)\s*$", text, re.M):
        out[key] = ast.literal_eval(value)
    return out
