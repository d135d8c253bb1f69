"""The checks every convention applies to its options, written once with one behaviour.

Each check raises :class:`~anchorctl.errors.AnchorError` with one line that names the option
(``--ratios``), quotes the value and says what it means in that framework's words, taken
from the convention's :class:`~anchorctl.conventions.base.Rules` (what a ratio is, the
units). A request that is well formed but too large to do raises
:class:`~anchorctl.errors.TooLarge` instead.

One behaviour for every convention:

* a whole number may be written as a float (``2.0`` rows, a TOML ``38.0``): it is accepted
  where a whole number is asked for, and ``2.5`` is refused;
* every number must be finite and within float32's range (about 3.4e38): the frameworks
  hold their parameters in float32 tensors, and past that range a value becomes infinite;
  a positive number must also stay above 0 in float32;
* feature-map sides and image sides are whole numbers from 1 to :data:`MAX_SIDE`;
* at most :data:`MAX_PER_CELL` shapes per cell.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from anchorctl.conventions.base import XYXY, Grid, Params, Rules, per_level
from anchorctl.errors import AnchorError, TooLarge

if TYPE_CHECKING:
    import numpy.typing as npt

F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).smallest_subnormal)

# Sides up to 2**53 keep every index exact in float64 and int64; the largest map any
# framework runs has a few thousand cells a side.
MAX_SIDE = 2**53

# Shapes per cell. Frameworks use a few dozen at most; each shape costs a Python record and
# a column of every output row, so a runaway count (--scales-per-octave 99999999999) is
# refused before anything is built.
MAX_PER_CELL = 100_000


# Where the command line's name is not the parameter's: ``image_size`` is the network input
# the anchors are laid on, which every command calls ``--input-size``.
_FLAGS = {"image_size": "--input-size"}


def flag(name: str) -> str:
    """``'scales_per_octave'`` -> ``'--scales-per-octave'``; ``'image_size'`` ->
    ``'--input-size'``."""
    return _FLAGS.get(name) or "--" + name.replace("_", "-")


def meaning(rules: Rules, name: str) -> str:
    """What option ``name`` means in ``rules``' framework, for messages: the ratio and size
    definitions come from the rules themselves."""
    if name in ("ratios", "aspect_ratios"):
        return f"a ratio is {rules.ratio_meaning}, {rules.title}"
    if name == "sizes":
        return f"a size is {rules.size_meaning}"
    return rules.title


def is_whole(value: object) -> bool:
    """An int (not a bool), or a finite float with no fractional part: ``3`` and ``3.0``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return bool(
        isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value)
    )


def _as_float(value: Any, name: str, where: str = "") -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise AnchorError(f"{flag(name)}{where}: {value!r} is not a number") from None


def _text(value: float) -> str:
    return f"{value:g}"


def number(
    value: Any,
    name: str,
    why: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    where: str = "",
) -> float:
    """One number: finite, within float32's range, and (when asked) > 0 or in a range.

    ``why`` says what the value means, in the framework's words.
    """
    x = _as_float(value, name, where)
    option = f"{flag(name)}{where}"
    if not math.isfinite(x):
        raise AnchorError(f"{option}: {_text(x)} is not a finite number ({why})")
    if abs(x) > F32_MAX:
        raise AnchorError(
            f"{option}: {_text(x)} is beyond float32's range (about 3.4e38), where the "
            f"framework's float32 tensors hold it ({why})"
        )
    if positive and not x >= F32_TINY:
        raise AnchorError(
            f"{option}: {_text(x)} is not a positive number ({why}; a value <= 0, or one that "
            "is 0 in float32, would make empty, mirrored or NaN boxes)"
        )
    if minimum is not None and x < minimum:
        raise AnchorError(f"{option}: {_text(x)} must be at least {_text(minimum)} ({why})")
    if maximum is not None and x > maximum:
        raise AnchorError(f"{option}: {_text(x)} must be at most {_text(maximum)} ({why})")
    return x


def fraction(value: Any, name: str, why: str, *, below_one: bool = False, where: str = "") -> float:
    """A number in ``[0, 1]`` (``[0, 1)`` with ``below_one``): an offset within a step."""
    x = number(value, name, why, where=where)
    if not (0.0 <= x < 1.0 if below_one else 0.0 <= x <= 1.0):
        interval = "[0, 1)" if below_one else "[0, 1]"
        raise AnchorError(f"{flag(name)}{where}: {_text(x)} must lie in {interval} ({why})")
    return x


def whole(
    value: Any, name: str, why: str, *, minimum: int = 1, maximum: int = MAX_SIDE, where: str = ""
) -> int:
    """A whole number in ``[minimum, maximum]`` (``3`` or ``3.0``; ``3.5`` is refused)."""
    option = f"{flag(name)}{where}"
    if not is_whole(value):
        raise AnchorError(f"{option}: {value!r} is not a whole number ({why})")
    n = int(value)
    if not minimum <= n <= maximum:
        high = f"{maximum:,}" if maximum >= 10**6 else str(maximum)
        raise AnchorError(f"{option}: {n} must lie in {minimum}..{high} ({why})")
    return n


def floats(
    values: Any,
    name: str,
    why: str,
    *,
    positive: bool = True,
    allow_empty: bool = False,
    where: str = "",
) -> tuple[float, ...]:
    """A list of numbers, each as :func:`number` checks it; at least one unless
    ``allow_empty``."""
    if isinstance(values, (int, float, np.integer, np.floating)):
        values = (values,)
    try:
        items = list(values)
    except TypeError:
        raise AnchorError(f"{flag(name)}{where}: {values!r} is not a list of numbers") from None
    if not items and not allow_empty:
        raise AnchorError(f"{flag(name)}{where}: give at least one value ({why})")
    return tuple(number(v, name, why, positive=positive, where=where) for v in items)


def option_floats(
    params: Params,
    name: str,
    why: str,
    default: Sequence[float] | None = None,
    *,
    positive: bool = True,
    allow_empty: bool = False,
) -> tuple[float, ...]:
    """``params[name]`` (or ``default``; required when there is none) as :func:`floats`."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise AnchorError(f"{flag(name)} is required ({why})")
        value = default
    return floats(value, name, why, positive=positive, allow_empty=allow_empty)


def level_floats(
    params: Params,
    name: str,
    levels: int,
    why: str,
    default: Sequence[Any] | None = None,
    *,
    positive: bool = True,
    allow_empty: bool = False,
) -> list[tuple[float, ...]]:
    """A per-level list option: one checked tuple per level (one given applies to all)."""
    entries = per_level(params, name, levels, default)
    return [
        floats(
            entry,
            name,
            why,
            positive=positive,
            allow_empty=allow_empty,
            where=f" (level {i})" if levels > 1 else "",
        )
        for i, entry in enumerate(entries)
    ]


def pair(value: Any, name: str, why: str, *, positive: bool = True) -> tuple[float, float]:
    """A ``yx`` value ``(y, x)``: one number means both; each checked as :func:`number`."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = (value,)
    try:
        items = list(value)
    except TypeError:
        raise AnchorError(f"{flag(name)}: {value!r} is not Y,X or one number") from None
    if len(items) not in (1, 2):
        raise AnchorError(f"{flag(name)}: {value!r} is not Y,X or one number ({why})")
    if len(items) == 1:
        items = items * 2
    y = number(items[0], name, why, positive=positive)
    x = number(items[1], name, why, positive=positive)
    return y, x


def strides(
    params: Params,
    name: str,
    levels: int,
    rules: Rules,
    *,
    whole_pixels: bool = False,
    same_axes: bool = False,
) -> list[tuple[float, float]]:
    """A per-level ``yx`` stride option in pixels: ``(y, x)`` per level, each > 0.

    ``whole_pixels`` demands whole numbers (torchvision, Detectron2, py-faster-rcnn, GluonCV);
    ``same_axes`` one stride for both axes (Detectron2, YOLO, keras-retinanet).
    """
    why = f"pixels between neighbouring anchor centres, {rules.title}"
    out = []
    for index, value in enumerate(per_level(params, name, levels)):
        where = f" (level {index})" if levels > 1 else ""
        y, x = pair(value, name, why)
        if whole_pixels:
            for v in (y, x):
                if not (is_whole(v) and v >= 1):
                    raise AnchorError(
                        f"{flag(name)}{where}: {_text(v)} is not a whole number of pixels >= 1 "
                        f"({rules.title} strides are whole pixels)"
                    )
                # Past 2**53 a float64 is whole whatever was typed, and no input side (at most
                # MAX_SIDE) divided by a map gives such a stride.
                if v > MAX_SIDE:
                    raise AnchorError(
                        f"{flag(name)}{where}: {_text(v)} is larger than any {rules.title} "
                        f"stride (whole pixels, at most {MAX_SIDE:,} = 2**53, the largest "
                        "input side)"
                    )
        if same_axes and y != x:
            raise AnchorError(
                f"{flag(name)}{where}: {_text(y)},{_text(x)} differ; {rules.title} has one "
                "stride per feature map, the same on both axes"
            )
        out.append((y, x))
    return out


def feature_maps(params: Params) -> list[tuple[int, int]]:
    """``params["feature_maps"]``: at least one ``(rows, cols)``, whole numbers 1..MAX_SIDE."""
    maps = params.get("feature_maps")
    if maps is None or len(maps) == 0:
        raise AnchorError("feature maps: give at least one ROWSxCOLS feature map")
    out = []
    for fm in maps:
        try:
            rows, cols = fm
        except (TypeError, ValueError):
            raise AnchorError(f"feature map: {fm!r} is not ROWSxCOLS") from None
        if not (is_whole(rows) and is_whole(cols) and rows >= 1 and cols >= 1):
            raise AnchorError(
                f"feature map: {rows}x{cols} is not a size; give rows x cols, both whole "
                "numbers >= 1"
            )
        if rows > MAX_SIDE or cols > MAX_SIDE:
            raise AnchorError(
                f"feature map: {rows}x{cols} is larger than any framework indexes (at most "
                f"{MAX_SIDE:,} = 2**53 a side)"
            )
        out.append((int(rows), int(cols)))
    return out


def image_size(params: Params, need: str | None = None, name: str = "image_size") -> Any:
    """``params["image_size"]`` as ``(width, height)`` whole pixels 1..MAX_SIDE.

    Absent: ``None``, or, when ``need`` says why it is needed, an error saying so.
    """
    value = params.get(name)
    if value is None:
        if need is not None:
            raise AnchorError(f"{flag(name)} is required: {need}")
        return None
    try:
        width, height = value
    except (TypeError, ValueError):
        raise AnchorError(f"{flag(name)}: {value!r} is not WxH") from None
    if not (is_whole(width) and is_whole(height) and width >= 1 and height >= 1):
        raise AnchorError(f"{flag(name)}: {width}x{height} is not WxH in whole pixels >= 1")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise AnchorError(
            f"{flag(name)}: {width}x{height} is larger than any framework takes (at most "
            f"{MAX_SIDE:,} = 2**53 pixels a side)"
        )
    return int(width), int(height)


def wh_pairs(
    value: Any, name: str, why: str, *, where: str = ""
) -> tuple[tuple[float, float], ...]:
    """``(w, h)`` pairs, at least one, each side a positive number (YOLO anchors)."""
    try:
        items = [tuple(p) for p in value]
    except TypeError:
        raise AnchorError(f"{flag(name)}{where}: {value!r} is not a list of WxH pairs") from None
    if not items:
        raise AnchorError(f"{flag(name)}{where}: give at least one WxH pair ({why})")
    out = []
    for item in items:
        if len(item) != 2:
            raise AnchorError(f"{flag(name)}{where}: {item!r} is not a WxH pair ({why})")
        w = number(item[0], name, why, positive=True, where=where)
        h = number(item[1], name, why, positive=True, where=where)
        out.append((w, h))
    return tuple(out)


def power_of_two_stride(width: int, height: int, rows: int, cols: int) -> int | None:
    """The smallest ``2**k`` with ``ceil(height / 2**k) = rows`` and ``ceil(width / 2**k) =
    cols``, or ``None``."""
    for k in range(64):
        s = 1 << k
        if -(-height // s) == rows and -(-width // s) == cols:
            return s
        if s > max(width, height):
            break
    return None


def derived_strides(
    image: tuple[int, int], maps: Sequence[tuple[int, int]], rules: Rules
) -> list[int]:
    """Each map's power-of-two stride from the image size (``ceil(image / stride) = map``)."""
    width, height = image
    out = []
    for rows, cols in maps:
        found = power_of_two_stride(width, height, rows, cols)
        if found is None:
            raise AnchorError(
                f"--strides: no power-of-two stride turns the {width}x{height} image into the "
                f"{rows}x{cols} feature map (ceil(image / stride), as {rules.title} sees it); "
                "give --strides"
            )
        out.append(found)
    return out


def per_cell(count: int, rules: Rules, how: str) -> None:
    """Refuse more than :data:`MAX_PER_CELL` shapes per cell before building them.

    ``how`` says where the count comes from (``'3 ratios x 99999999999 scales'``).
    """
    if count > MAX_PER_CELL:
        raise TooLarge(
            f"{how} make {count:,} shapes per cell; {rules.title} configs use a few dozen, and "
            f"anchorctl builds at most {MAX_PER_CELL:,}"
        )


def flag_value(params: Params, name: str, default: bool) -> bool:
    """A flag option: its default when not given."""
    value = params.get(name)
    return default if value is None else bool(value)


def extents(
    grid: Grid,
    widths: npt.ArrayLike,
    heights: npt.ArrayLike,
    rules: Rules,
    *,
    centres: str,
    shapes: str,
    inclusive: bool = False,
    values: Grid | None = None,
) -> Grid:
    """Refuse boxes that are not boxes in the framework's dtype; ``grid`` with the far-cell
    check attached.

    ``widths`` and ``heights`` are each slot's nominal ``x2 - x1`` and ``y2 - y1`` (``(k,)``,
    in the grid's units). A nominal extent that is not finite, or 0 (a box the framework
    rounds away; in the inclusive pixel convention, ``inclusive``, ``x2 == x1`` is a
    one-pixel box and only ``x2 < x1`` is refused) is an error now. So is a box that float32
    rounding collapses, or shrinks below half its nominal extent, in the first two rows or
    columns: a centre of 1e30 (``--strides 1e30``) leaves no room for a box 100 pixels wide,
    as MultiBoxPrior's checks refuse a zero size. The same test on the last row and column
    depends on the map's size: it runs when anchors are made (:meth:`Grid.blocks`,
    :meth:`Grid.array`, or :meth:`Grid.at` for the cells asked for) and raises
    :class:`TooLarge` there, so counting the anchors of any map stays arithmetic.

    ``centres`` names the options that place the centres and ``shapes`` those that size the
    boxes, for the messages. ``values`` is the grid whose coordinates are checked when it is
    not ``grid`` itself (GluonCV's clip changes extents on purpose: its unclipped grid is
    checked). Corner-form (:data:`~anchorctl.conventions.base.XYXY`) grids only.
    """
    checked = grid if values is None else values
    if checked.layout != XYXY:
        raise AssertionError("extents() checks corner-form grids")
    rows, cols = checked.feature_map
    dtype = np.dtype(checked.dtype).name
    nominal_w = np.asarray(widths, dtype=np.float64).reshape(-1)
    nominal_h = np.asarray(heights, dtype=np.float64).reshape(-1)
    for nominal, what in ((nominal_w, "width"), (nominal_h, "height")):
        if not np.isfinite(nominal).all():
            raise AnchorError(
                f"{shapes}: a box's {what} is not finite in {dtype}, the precision "
                f"{rules.title} computes in"
            )
        empty = nominal < 0 if inclusive else nominal <= 0
        if empty.any():
            raise AnchorError(
                f"{shapes}: slot {int(np.argmax(empty))} has {what} 0 as {rules.title} makes "
                f"it in {dtype} (a degenerate anchor); use larger sizes or ratios closer to 1"
            )

    def check(r: npt.NDArray[np.int64], c: npt.NDArray[np.int64], far: bool) -> None:
        xp, yp = checked.parts(r, c)
        for part, nominal, what, axis in (
            (xp, nominal_w, "width", "x"),
            (yp, nominal_h, "height", "y"),
        ):
            problem = _lost(part, nominal, what, axis, dtype)
            if problem is None:
                continue
            where = f"{rules.title} computes in"
            if far:
                raise TooLarge(
                    f"the {rows}x{cols} feature map puts its far anchors where {problem} in "
                    f"{dtype}, the precision {where}; use a smaller feature map (counting its "
                    "anchors works at any size)"
                )
            raise AnchorError(
                f"{centres}: {problem} in {dtype}, the precision {where} (degenerate "
                f"anchors); use smaller centres or larger boxes ({shapes})"
            )

    near = np.arange(min(2, rows)), np.arange(min(2, cols))
    check(near[0], near[1], False)
    return dataclasses.replace(grid, check=check)


def _lost(
    part: npt.NDArray[Any], nominal: npt.NDArray[np.float64], what: str, axis: str, dtype: str
) -> str | None:
    """What float rounding did to the boxes of ``part`` ``(n, k, 2)``, or ``None``."""
    if not np.isfinite(part).all():
        return f"the {axis} coordinates overflow"
    with np.errstate(all="ignore"):
        got = part[..., 1].astype(np.float64) - part[..., 0].astype(np.float64)
    bad = got < 0.5 * nominal[None, :]
    if not bad.any():
        return None
    where, slot = (int(v) for v in np.argwhere(bad)[0])
    at = float(part[where, slot, 0])
    if nominal[slot] > 0 and got[where, slot] <= 0:
        lost = "collapses to 0"
    else:
        lost = f"is {got[where, slot]:.3g} instead of {nominal[slot]:.3g}"
    return f"at {axis} = {at:.3g} a box of {what} {nominal[slot]:.3g} {lost}"
