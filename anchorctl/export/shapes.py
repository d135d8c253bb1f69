"""Anchor sets: what every export target needs, in input pixels.

An :class:`AnchorSet` holds, per level, the per-cell ``(w, h)`` shapes in **input pixels** in
slot order, the level's stride (``None`` when unknown) and, when the anchors come from
anchorctl levels, where they sit: the centre of cell (0, 0) and the distance between
neighbouring centres. Build one from anchorctl levels (:func:`anchor_set_from_levels`) or
from ``suggest``'s anchors (:func:`anchor_set_from_suggestion`, shapes only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import Level, Rules
from anchorctl.errors import AnchorError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LevelShapes:
    """One level: per-cell ``(w, h)`` shapes in input pixels, in slot order, and the stride.

    ``stride`` is the level's nominal stride in pixels (``None`` when unknown). Where the
    source's anchors sit, when known: ``center`` is the ``(x, y)`` centre of cell (0, 0)'s
    anchors and ``steps`` the ``(y, x)`` distance between neighbouring centres, in pixels
    (cell (row, col) is centred at ``center + (col * steps_x, row * steps_y)``), and
    ``feature_map`` is ``(rows, cols)``. A suggestion has shapes only.
    """

    shapes: tuple[tuple[float, float], ...]
    stride: float | None = None
    center: tuple[float, float] | None = None
    steps: tuple[float, float] | None = None
    feature_map: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        shapes = tuple((float(w), float(h)) for w, h in self.shapes)
        if not shapes:
            raise AnchorError("anchor set: a level needs at least one (w, h) shape")
        for w, h in shapes:
            if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
                raise AnchorError(
                    f"anchor set: {w:g} x {h:g} is not a shape; widths and heights must be "
                    "positive finite pixels"
                )
        object.__setattr__(self, "shapes", shapes)
        if self.stride is not None:
            stride = float(self.stride)
            if not (math.isfinite(stride) and stride > 0):
                raise AnchorError(f"anchor set: stride {stride:g} is not a positive pixel count")
            object.__setattr__(self, "stride", stride)
        for name in ("center", "steps"):
            value = getattr(self, name)
            if value is not None:
                pair = (float(value[0]), float(value[1]))
                if not all(math.isfinite(v) for v in pair):
                    raise AnchorError(f"anchor set: {name} {pair} is not finite")
                object.__setattr__(self, name, pair)

    @property
    def array(self) -> FloatArray:
        """The shapes as a ``(k, 2)`` float64 ``[w, h]`` array."""
        return np.array(self.shapes, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class AnchorSet:
    """Anchor shapes per level in input pixels, and the network input size ``(w, h)``."""

    levels: tuple[LevelShapes, ...]
    input_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        levels = tuple(self.levels)
        if not levels:
            raise AnchorError("anchor set: no levels")
        object.__setattr__(self, "levels", levels)
        if self.input_size is not None:
            w, h = self.input_size
            if not (_whole(w) and _whole(h) and w >= 1 and h >= 1):
                raise AnchorError(f"--input-size: {w}x{h} is not WxH in whole pixels >= 1")
            object.__setattr__(self, "input_size", (int(w), int(h)))

    @property
    def strides(self) -> tuple[float | None, ...]:
        return tuple(level.stride for level in self.levels)


def anchor_set_from_levels(
    levels: Sequence[Level],
    rules: Rules,
    input_size: tuple[int, int] | None = None,
    strides: Sequence[float] | None = None,
) -> AnchorSet:
    """The shapes and strides of anchorctl ``levels`` in input pixels.

    Normalized levels (``Level.is_normalized(rules)``) are multiplied by ``input_size``
    ``(w, h)``, which they then require. Each level's stride is its ``(y, x)`` stride in
    pixels rounded to 6 significant digits (float32 steps such as 0.0266667 * 300 give
    8.0000002); when the two axes differ (torchvision's ``image // feature map`` on the last
    FPN level of an 800 x 1216 input: 61 and 64) the larger. ``strides`` (pixels, one per
    level) replaces them, for the backbone's nominal strides: torchvision's derived stride of
    RetinaNet's P7 at 1216 x 800 is 121, the backbone's 128.
    """
    if not levels:
        raise AnchorError("export: no levels to export")
    if strides is not None and len(strides) != len(levels):
        raise AnchorError(
            f"--strides: {len(strides)} given for {len(levels)} levels; give one per level"
        )
    out = []
    for index, level in enumerate(levels):
        normalized = level.is_normalized(rules)
        if normalized and input_size is None:
            raise AnchorError(
                f"--input-size is required: {rules.title} anchors are fractions of the image, "
                "and exports are in input pixels"
            )
        sx, sy = (1.0, 1.0)
        if normalized and input_size is not None:
            sx, sy = float(input_size[0]), float(input_size[1])
        for shape in level.shapes:
            angle = shape.params.get("angle", 0.0)
            if angle % 180.0 != 0.0:
                raise AnchorError(
                    f"export: level {index} has rotated anchors (angle {angle:g}); the targets "
                    "take upright (w, h) shapes only"
                )
        shapes = tuple(_upright(s.width * sx, s.height * sy, s.params) for s in level.shapes)
        stride = (
            _nominal_stride(level.stride[0] * sy, level.stride[1] * sx)
            if strides is None
            else float(strides[index])
        )
        center = (level.center0[0] * sx, level.center0[1] * sy)
        steps = (level.stride[0] * sy, level.stride[1] * sx)
        out.append(LevelShapes(shapes, stride, center, steps, level.feature_map))
    return AnchorSet(tuple(out), input_size)


def anchor_set_from_suggestion(
    anchors_wh: npt.ArrayLike,
    strides: Sequence[float],
    input_size: tuple[int, int] | None = None,
) -> AnchorSet:
    """``(k, 2)`` anchors spread over levels as YOLO's masks do: smallest on the finest stride.

    The anchors are sorted by area (then width) and cut into ``len(strides)`` consecutive
    groups, as even as possible (the finer levels take one more when ``k`` does not divide);
    group ``i`` goes to the level of the ``i``-th smallest stride. Levels keep the order of
    ``strides`` as given.
    """
    anchors = np.array(anchors_wh, dtype=np.float64)
    if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
        raise AnchorError(f"anchors: expected a (k, 2) list of [w, h], got shape {anchors.shape}")
    values = [float(s) for s in strides]
    if not values:
        raise AnchorError("--strides: give at least one stride to spread the anchors over")
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise AnchorError(f"--strides: {value:g} is not a positive number of pixels")
    if len(values) > len(anchors):
        raise AnchorError(
            f"--strides: {len(values)} levels but only {len(anchors)} anchors; give --k "
            f"{len(values)} or more, or fewer strides"
        )
    area = anchors[:, 0] * anchors[:, 1]
    ordered = anchors[np.lexsort((anchors[:, 1], anchors[:, 0], area))]
    groups = np.array_split(ordered, len(values))
    rank = np.argsort(np.array(values), kind="stable")
    levels: list[LevelShapes | None] = [None] * len(values)
    for group, position in zip(groups, rank, strict=True):
        shapes = tuple((float(w), float(h)) for w, h in group)
        levels[int(position)] = LevelShapes(shapes, values[int(position)])
    return AnchorSet(tuple(lv for lv in levels if lv is not None), input_size)


def _upright(w: float, h: float, params: Any) -> tuple[float, float]:
    """Detectron2 rotated shapes at +-90 degrees are upright boxes with w and h swapped."""
    angle = float(params.get("angle", 0.0))
    return (h, w) if angle % 180.0 == 90.0 else (w, h)


def _nominal_stride(sy: float, sx: float) -> float | None:
    values = [float(f"{v:.6g}") for v in (sy, sx) if math.isfinite(v) and v > 0]
    return max(values) if values else None


def _whole(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, float) and value.is_integer()
