"""What every convention module provides, and the shapes of what it returns.

A convention module (``anchorctl/conventions/<family>.py``) holds, in one place:

* ``RULES``: a :class:`Rules` record stating units, what size and ratio mean, the per-cell
  order, the centre rule, rounding, clipping, the native box format and the sources;
* ``OPTIONS``: the :class:`Option` s it reads (``sizes``, ``ratios``, ``strides``, ...), each
  with what it means *in this framework's words*; any other option given is an error;
* ``generate(params) -> list[Level]``: the anchors of every level, computed in the
  framework's own dtype and order of operations.

``params`` is a :class:`Params` mapping from option name to value. Per-level options hold one
entry per level (a single entry applies to every level); see :func:`per_level`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError

BOX_FORMATS = ("xyxy", "yxyx", "cxcywh")

# Kinds of option value, as the command line and config files spell them:
#   floats  "0.5,1,2"        -> tuple[float, ...]
#   float   "0.5"            -> float
#   int     "3"              -> int
#   yx      "16" or "16,8"   -> tuple[float, float] as (y, x); one number means both
#   whs     "10x13,16x30"    -> tuple[tuple[float, float], ...] of (width, height) pairs
#   flag    (present or not) -> bool
OPTION_KINDS = ("floats", "float", "int", "yx", "whs", "flag")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Option:
    """An option a convention reads.

    ``name`` is the ``params`` key and, with ``_`` as ``-``, the command-line option. A
    ``per_level`` option holds a list with one value per feature map (one value applies to
    all); ``default`` is used when the user gives none (``None``: required, or unused).
    """

    name: str
    kind: str
    help: str
    per_level: bool = False
    default: Any = None


@dataclass(frozen=True)
class Rules:
    """A convention's rules, written where its code lives and shown to users verbatim."""

    name: str
    title: str
    units: str
    size_meaning: str
    ratio_meaning: str
    order: str
    centre: str
    rounding: str
    clip: str
    native_format: str
    sources: tuple[str, ...]
    normalized: bool = False  # coordinates are fractions of the image, not pixels

    def summary(self) -> str:
        """One line for table titles and legends."""
        return f"{self.title} · {self.units} · ratio = {self.ratio_meaning}"


@dataclass(frozen=True)
class CellShape:
    """One per-cell shape: its slot, the parameters that made it, and its extent.

    ``width`` and ``height`` are in the convention's units (as the generated boxes measure).
    """

    slot: int
    params: Mapping[str, float]
    width: float
    height: float

    def label(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.params.items())


@dataclass(frozen=True)
class Level:
    """The anchors of one feature map.

    ``anchors`` is ``(rows*cols*k, 4)`` ``(xmin, ymin, xmax, ymax)`` in the convention's units,
    in the framework's order, or a function that computes it on demand (read it through
    :attr:`array`); ``blocks``, when given, yields the same rows in consecutive blocks of about
    ``block_bytes`` without building the whole array (for maps larger than memory).
    ``stride`` is ``(y, x)`` between neighbouring centres in the same units; ``center0`` is
    the ``(x, y)`` centre of cell (0, 0).
    """

    feature_map: tuple[int, int]
    stride: tuple[float, float]
    center0: tuple[float, float]
    shapes: tuple[CellShape, ...]
    anchors: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]] = field(repr=False)
    blocks: Callable[[int], Iterator[npt.NDArray[np.float32]]] | None = field(
        default=None, repr=False
    )
    normalized: bool | None = None  # None: as the convention's Rules say; else this level's

    @cached_property
    def array(self) -> npt.NDArray[np.float32]:
        """The anchors as an array, computed once."""
        return self.anchors() if callable(self.anchors) else self.anchors

    def iter_blocks(self, block_bytes: int = 1 << 22) -> Iterator[npt.NDArray[np.float32]]:
        """The anchors in consecutive ``(n, 4)`` blocks, in order."""
        if self.blocks is not None:
            yield from self.blocks(block_bytes)
            return
        array = self.array
        step = max(1, block_bytes // 16)
        for start in range(0, len(array), step):
            yield array[start : start + step]

    def is_normalized(self, rules: Rules) -> bool:
        """Whether this level's coordinates are fractions of the image (else pixels)."""
        return rules.normalized if self.normalized is None else self.normalized

    @property
    def per_cell(self) -> int:
        return len(self.shapes)

    @property
    def count(self) -> int:
        rows, cols = self.feature_map
        return rows * cols * self.per_cell


def per_level(
    params: Params, name: str, levels: int, default: Sequence[Any] | None = None
) -> list[Any]:
    """``params[name]`` as one entry per level: a single entry is repeated for every level."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise AnchorError(f"--{name.replace('_', '-')} is required")
        value = default
    values = list(value)
    if len(values) == 1:
        return values * levels
    if len(values) != levels:
        raise AnchorError(
            f"--{name.replace('_', '-')}: {len(values)} levels given but there are {levels} "
            "feature maps; give one per level, or one for all"
        )
    return values


def to_format(boxes: npt.NDArray[np.floating[Any]], fmt: str) -> npt.NDArray[np.floating[Any]]:
    """``(N, 4)`` xyxy boxes as ``fmt``: ``xyxy``, ``yxyx`` or ``cxcywh`` (same dtype)."""
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return boxes[:, [1, 0, 3, 2]]
    if fmt == "cxcywh":
        out = np.empty_like(boxes)
        out[:, 0] = (boxes[:, 0] + boxes[:, 2]) / 2
        out[:, 1] = (boxes[:, 1] + boxes[:, 3]) / 2
        out[:, 2] = boxes[:, 2] - boxes[:, 0]
        out[:, 3] = boxes[:, 3] - boxes[:, 1]
        return out
    raise AnchorError(f"box format {fmt!r}: choose one of {', '.join(BOX_FORMATS)}")


def shapes_from_cell(
    cell: npt.NDArray[np.floating[Any]], params: Sequence[Mapping[str, float]]
) -> tuple[CellShape, ...]:
    """Per-cell shapes measured from one cell's ``(k, 4)`` xyxy boxes."""
    return tuple(
        CellShape(slot, p, float(box[2] - box[0]), float(box[3] - box[1]))
        for slot, (box, p) in enumerate(zip(cell, params, strict=True))
    )


def shift_grid(
    shift_x: npt.NDArray[Any], shift_y: npt.NDArray[Any], base: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """``shifts + base`` for every cell: ``(rows*cols*k, 4)`` xyxy, index ``(row*cols+col)*k+slot``.

    ``shift_x`` is ``(cols,)``, ``shift_y`` ``(rows,)`` and ``base`` the ``(k, 4)`` cell anchors,
    all of one dtype (the framework's). Each x coordinate is ``shift_x[col] + base[slot, x]``
    and each y coordinate ``shift_y[row] + base[slot, y]``, bit for bit as the frameworks'
    ``shifts.view(-1, 1, 4) + base.view(1, -1, 4)``, but written row by row from one
    precomputed row: y = ``shift_y * 1 + base_y``, x = ``shift_y * 0 + (shift_x + base_x)``
    (adding zero and commuting an addition are exact), two contiguous passes per block.
    """
    dtype = base.dtype
    rows, cols, k = len(shift_y), len(shift_x), len(base)
    template = np.empty((cols, k, 4), dtype=dtype)
    template[..., 0::2] = shift_x[:, None, None] + base[None, :, 0::2]  # (cols, k, 2)
    template[..., 1::2] = base[None, :, 1::2]
    y_mask = np.zeros((cols, k, 4), dtype=dtype)
    y_mask[..., 1::2] = 1
    row = template.reshape(1, -1)
    mask = y_mask.reshape(1, -1)
    out = np.empty((rows, cols * k * 4), dtype=dtype)
    per_block = max(1, (1 << 22) // max(1, row.nbytes))
    for r0 in range(0, rows, per_block):
        block = out[r0 : r0 + per_block]
        np.multiply(mask, shift_y[r0 : r0 + per_block, None], out=block)
        np.add(block, row, out=block)
    return out.reshape(-1, 4)


def is_whole(value: object) -> bool:
    """An int (not a bool), or a float with no fractional part: a feature map's rows, say."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, float) and value.is_integer()


def yx_pair(value: Any) -> tuple[float, float]:
    """A ``yx`` option value (a stride): ``(y, x)``, or one number for both."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    values = [float(v) for v in value]
    if len(values) == 1:
        return values[0], values[0]
    if len(values) != 2:
        raise AnchorError(f"--strides: {value!r} is not STRIDE or STRIDE_Y,STRIDE_X")
    return values[0], values[1]


def checked_feature_maps(params: Params) -> list[tuple[int, int]]:
    """``params["feature_maps"]`` as ``(rows, cols)`` whole numbers >= 1, at least one."""
    maps = []
    for fm in params["feature_maps"]:
        rows, cols = fm
        if not (is_whole(rows) and is_whole(cols) and rows >= 1 and cols >= 1):
            raise AnchorError(
                f"feature map: {rows}x{cols} is not a size; give rows x cols, both whole "
                "numbers >= 1"
            )
        maps.append((int(rows), int(cols)))
    if not maps:
        raise AnchorError("feature maps: give at least one ROWSxCOLS")
    return maps


def checked_image_size(image: Any) -> tuple[int, int]:
    """An ``image_size`` ``(width, height)`` as whole pixels >= 1."""
    width, height = image
    if not (is_whole(width) and is_whole(height) and width >= 1 and height >= 1):
        raise AnchorError(f"--image-size: {width}x{height} is not WxH in whole pixels >= 1")
    return int(width), int(height)
