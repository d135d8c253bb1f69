"""The same inputs under several conventions, in pixels, and what differs and why.

Every convention's anchors are measured in pixels of one input image (normalized conventions
are multiplied by the image size): per level the count, the per-cell shapes in slot order, the
stride and the centre of cell (0, 0), and how many anchors are clamped at the image border.
Each convention is then compared with the first one (the *reference*), and every difference is
detected from the numbers, never looked up per pair of frameworks, and explained in one line
from the conventions' own :class:`~anchorctl.conventions.base.Rules`:

* a different number of shapes per cell (``order``: the per-cell rules);
* the same shapes in another order; when each slot is the reference's slot transposed, the
  ratio is read the other way round (w/h here, h/w there): the *mirrored* order;
* shapes transposed slot by slot (the ratio definition) when the sets differ;
* shapes within a pixel or a few per cent, where one of the two rounds (``rounding``);
* shapes capped at the image size, or boxes clamped at its border (``clip``);
* the centre of cell (0, 0) half a stride away: the cell corner against the cell centre;
* a typed option read in different units (a fraction of the image here, pixels there).

Nothing here imports click or rich: :mod:`anchorctl.cli.compare_cmd` parses the options and
renders the result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import Level, Option, Params, Rules

# Two extents (pixels) are equal within this, plus a relative part for float32 coordinates.
_ABS_TOL = 1e-3
_REL_TOL = 1e-5
# Rounding moves an extent by at most a pixel at the anchor size, or a few per cent where a
# framework rounds a small reference window and then scales it (py-faster-rcnn: 184 x 96 for
# 181 x 90.5).
_NEAR_PX = 1.0
_NEAR_REL = 0.08

_UNIT_WORDS = {"fraction": "a fraction of the image", "pixels": "pixels"}


@dataclass(frozen=True)
class PixelShape:
    """One per-cell shape in pixels of the input image."""

    slot: int
    params: Mapping[str, float]
    width: float
    height: float

    def label(self) -> str:
        return ", ".join(f"{k} {fmt_number(float(v))}" for k, v in self.params.items())

    def text(self) -> str:
        return _wh(self.width, self.height)


@dataclass(frozen=True)
class PixelLevel:
    """One feature map in pixels: ``stride`` and ``center0`` are ``(x, y)``."""

    feature_map: tuple[int, int]
    count: int
    stride: tuple[float, float]
    center0: tuple[float, float]
    shapes: tuple[PixelShape, ...]
    clipped: int  # anchors whose box is smaller than their slot's: clamped at the border

    @property
    def per_cell(self) -> int:
        return len(self.shapes)


@dataclass(frozen=True)
class Measured:
    """A convention's anchors for the compared inputs, in pixels."""

    name: str
    rules: Rules
    options: Mapping[str, Option]
    levels: tuple[PixelLevel, ...]

    @property
    def count(self) -> int:
        return sum(level.count for level in self.levels)


@dataclass(frozen=True)
class Difference:
    """One way a convention differs from the reference, with one line saying why."""

    kind: str
    explanation: str
    level: int | None = None


@dataclass(frozen=True)
class Compared:
    """A measured convention with its differences from the reference.

    ``matches`` holds, per level, the reference slot each slot corresponds to (``None``: no
    counterpart; the reference's own slots map to themselves).
    """

    measured: Measured
    differences: tuple[Difference, ...]
    matches: tuple[tuple[int | None, ...], ...]


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    image_size: tuple[int, int]
    entries: tuple[Compared, ...]
    skipped: tuple[Skipped, ...] = field(default=())

    @property
    def reference(self) -> str | None:
        return self.entries[0].measured.name if self.entries else None


# --- measuring -------------------------------------------------------------------------------


def run(name: str, params: Params, image_size: tuple[int, int]) -> Measured:
    """Generate convention ``name``'s anchors for ``params`` and measure them in pixels.

    :class:`~anchorctl.errors.AnchorError` when the convention cannot generate with them.
    """
    from anchorctl import conventions

    module = conventions.load(name)
    levels = module.generate({**params, "image_size": image_size})
    return measure(name, module.RULES, module.OPTIONS, levels, image_size)


def measure(
    name: str, rules: Rules, options: Sequence[Option], levels: Sequence[Level],
    image_size: tuple[int, int],
) -> Measured:  # fmt: skip
    """``levels`` of convention ``name`` in pixels of ``image_size`` ``(width, height)``."""
    width, height = image_size
    out = []
    for level in levels:
        sx, sy = (float(width), float(height)) if level.is_normalized(rules) else (1.0, 1.0)
        shapes = tuple(
            PixelShape(s.slot, dict(s.params), s.width * sx, s.height * sy) for s in level.shapes
        )
        out.append(
            PixelLevel(
                feature_map=level.feature_map,
                count=level.count,
                stride=(level.stride[1] * sx, level.stride[0] * sy),
                center0=(level.center0[0] * sx, level.center0[1] * sy),
                shapes=shapes,
                clipped=_clipped(level, rules, (sx, sy), max(width, height)),
            )
        )
    return Measured(name, rules, {o.name: o for o in options}, tuple(out))


def _clipped(level: Level, rules: Rules, scale: tuple[float, float], image: int) -> int:
    """Anchors whose width or height is smaller than their slot's largest: clamped boxes.

    Without clipping every anchor of a slot has the same extent (whatever a convention's
    inclusive or enclosing-box quirks), so a smaller one can only have been cut at the border.
    A convention that can clip is also checked against its unclipped per-cell shapes, for a
    map where every box of a slot is cut the same way.
    """
    k = level.per_cell
    if k == 0 or level.count == 0:
        return 0
    tol = _ABS_TOL + _REL_TOL * image
    widest = np.full(k, -np.inf)
    tallest = np.full(k, -np.inf)
    for w, h in _cell_extents(level, scale):
        np.maximum(widest, w.max(axis=0), out=widest)
        np.maximum(tallest, h.max(axis=0), out=tallest)
    if not _is_none(rules.clip):
        widest = np.maximum(widest, [s.width * scale[0] for s in level.shapes])
        tallest = np.maximum(tallest, [s.height * scale[1] for s in level.shapes])
    count = 0
    for w, h in _cell_extents(level, scale):
        count += int(np.count_nonzero((w < widest - tol) | (h < tallest - tol)))
    return count


def _cell_extents(
    level: Level, scale: tuple[float, float]
) -> Iterable[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Widths and heights in pixels, ``(cells, k)`` at a time, in order."""
    k = level.per_cell
    rest = np.empty((0, 4), dtype=np.float32)
    for block in level.iter_blocks():
        rows = np.concatenate([rest, block]) if len(rest) else block
        whole = len(rows) - len(rows) % k
        rest = rows[whole:]
        cells = rows[:whole].reshape(-1, k, 4).astype(np.float64)
        yield (cells[..., 2] - cells[..., 0]) * scale[0], (cells[..., 3] - cells[..., 1]) * scale[1]


# --- choosing what to compare ----------------------------------------------------------------


def option_unit(option: Option) -> str | None:
    """``'fraction'`` or ``'pixels'`` when the option's help states its unit, else ``None``."""
    text = option.help.split("[", 1)[0].lower()
    if "fraction" in text or "normalized" in text:
        return "fraction"
    if "pixel" in text:
        return "pixels"
    return None


def unit_skips(
    candidates: Mapping[str, Mapping[str, Option]], typed: Mapping[str, Any]
) -> dict[str, str]:
    """Conventions to leave out of a default comparison: they read a typed number in units the
    others do not (name -> reason).

    Where some candidates read an option as a fraction of the image and others as pixels,
    values above 1 keep the pixel readers (a fraction above 1 is a box larger than the image)
    and values up to 1 keep the fraction readers (below a pixel is no anchor).
    """
    skips: dict[str, str] = {}
    for name, value in typed.items():
        units = {
            conv: option_unit(options[name])
            for conv, options in candidates.items()
            if name in options and conv not in skips
        }
        if {"fraction", "pixels"} - set(units.values()):
            continue
        numbers = list(_numbers(value))
        keep = "pixels" if numbers and max(numbers) > 1 else "fraction"
        flag = _flag(name)
        shown = fmt_value(value)
        for conv, unit in units.items():
            if unit is None or unit == keep:
                continue
            meaning = _help(candidates[conv][name])
            why = "larger than the image" if unit == "fraction" else "under a pixel"
            skips[conv] = (
                f"reads {flag} as {_UNIT_WORDS[unit]} ({meaning}), so {shown} would be {why}; "
                f"the others read {_UNIT_WORDS[keep]} (name it in --conventions to compare it "
                "anyway)"
            )
    return skips


# --- comparing -------------------------------------------------------------------------------


def compare(
    measured: Sequence[Measured],
    image_size: tuple[int, int],
    typed: Mapping[str, Any] | None = None,
    skipped: Iterable[Skipped] = (),
) -> Comparison:
    """Each of ``measured`` against the first (the reference).

    ``typed`` holds the options the user typed (name -> value), to explain a number read in
    different units by two conventions.
    """
    entries: list[Compared] = []
    if measured:
        ref = measured[0]
        entries.append(Compared(ref, (), tuple(tuple(range(lv.per_cell)) for lv in ref.levels)))
        for other in measured[1:]:
            entries.append(_compare_one(ref, other, image_size, typed or {}))
    return Comparison(image_size, tuple(entries), tuple(skipped))


def _compare_one(
    ref: Measured, other: Measured, image_size: tuple[int, int], typed: Mapping[str, Any]
) -> Compared:
    found: list[Difference] = list(_unit_differences(ref, other, typed))
    per_level: list[list[Difference]] = []
    matches: list[tuple[int | None, ...]] = []
    for a, b in zip(ref.levels, other.levels):  # noqa: B905 - level counts may differ
        diffs, match = _compare_level(ref, a, other, b, image_size)
        per_level.append(diffs)
        matches.append(match)
    matches.extend(tuple([None] * lv.per_cell) for lv in other.levels[len(ref.levels) :])
    found.extend(_merge_levels(per_level))
    if len(ref.levels) != len(other.levels):
        found.append(
            Difference(
                "levels",
                f"{len(other.levels)} levels here vs {len(ref.levels)} in {ref.name}; only the "
                "first levels are compared",
            )
        )
    if other.count != ref.count and not any(d.kind == "per_cell" for d in found):
        found.append(
            Difference("count", f"{other.count:,} anchors here vs {ref.count:,} in {ref.name}")
        )
    return Compared(other, tuple(found), tuple(matches))


def _merge_levels(per_level: list[list[Difference]]) -> list[Difference]:
    """One line for a difference every level shares word for word; else one per level."""
    if len(per_level) == 1:
        return per_level[0]
    out: list[Difference] = []
    shared = {(d.kind, d.explanation) for d in per_level[0]}
    for diffs in per_level[1:]:
        shared &= {(d.kind, d.explanation) for d in diffs}
    out.extend(d for d in per_level[0] if (d.kind, d.explanation) in shared)
    for index, diffs in enumerate(per_level):
        for d in diffs:
            if (d.kind, d.explanation) not in shared:
                out.append(Difference(d.kind, f"level {index}: {d.explanation}", index))
    return out


def _unit_differences(
    ref: Measured, other: Measured, typed: Mapping[str, Any]
) -> Iterable[Difference]:
    for name, value in typed.items():
        a, b = ref.options.get(name), other.options.get(name)
        if a is None or b is None:
            continue
        ua, ub = option_unit(a), option_unit(b)
        if ua is None or ub is None or ua == ub:
            continue
        yield Difference(
            "units",
            f"{_flag(name)} {fmt_value(value)} means {_UNIT_WORDS[ub]} here but {_UNIT_WORDS[ua]} "
            f"in {ref.name}: the same number, a different size ({other.name}: {_help(b)}; "
            f"{ref.name}: {_help(a)})",
        )


def _compare_level(
    ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel, image_size: tuple[int, int]
) -> tuple[list[Difference], tuple[int | None, ...]]:
    diffs: list[Difference] = []
    rounding = not (_is_none(ref.rules.rounding) and _is_none(other.rules.rounding))
    match = _match(a.shapes, b.shapes, image_size, rounding)
    diffs.extend(_shape_differences(ref, a, other, b, match, image_size, rounding))
    diffs.extend(_clip_differences(ref, a, other, b))
    diffs.extend(_grid_differences(ref, a, other, b))
    return diffs, tuple(j for j, _ in match)


# Relation of a shape to a reference shape, best first.
_EQUAL, _NEAR, _CAPPED, _NONE = 0, 1, 2, 3


def _relation(a: PixelShape, b: PixelShape, image_size: tuple[int, int], rounding: bool) -> int:
    if close(a.width, b.width) and close(a.height, b.height):
        return _EQUAL
    if rounding and _near(a.width, b.width) and _near(a.height, b.height):
        return _NEAR
    width, height = image_size
    capped_w = close(b.width, min(a.width, width))
    capped_h = close(b.height, min(a.height, height))
    if capped_w and capped_h:
        return _CAPPED
    return _NONE


def _match(
    ref: Sequence[PixelShape],
    shapes: Sequence[PixelShape],
    image_size: tuple[int, int],
    rounding: bool,
) -> list[tuple[int | None, int]]:
    """For each shape, ``(reference slot or None, relation)``: the assignment that needs the
    fewest changes, and among those keeps slots where they are."""
    n, m = len(shapes), len(ref)
    if n == 0:
        return []
    rel = [[_relation(ref[j], shapes[i], image_size, rounding) for j in range(m)] for i in range(n)]
    size = max(n, m)
    tier = size * size + 1
    cost = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(size):
            if i < n and j < m:
                cost[i][j] = rel[i][j] * tier * (size + 1) + abs(i - j)
            else:
                cost[i][j] = _NONE * tier * (size + 1)
    assignment = _hungarian(cost)
    out: list[tuple[int | None, int]] = []
    for i in range(n):
        j = assignment[i]
        if j < m and rel[i][j] != _NONE:
            out.append((j, rel[i][j]))
        else:
            out.append((None, _NONE))
    return out


def _hungarian(cost: list[list[float]]) -> list[int]:
    """Row -> column of the least-cost assignment of a square matrix (Kuhn-Munkres, O(n^3))."""
    n = len(cost)
    inf = math.inf
    u = [0.0] * (n + 1)
    v = [0.0] * (n + 1)
    p = [0] * (n + 1)  # column -> row (1-based), 0 = free
    way = [0] * (n + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (n + 1)
        used = [False] * (n + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    result = [0] * n
    for j in range(1, n + 1):
        if p[j]:
            result[p[j] - 1] = j - 1
    return result


def _shape_differences(
    ref: Measured,
    a: PixelLevel,
    other: Measured,
    b: PixelLevel,
    match: list[tuple[int | None, int]],
    image_size: tuple[int, int],
    rounding: bool,
) -> list[Difference]:
    diffs: list[Difference] = []
    ka, kb = a.per_cell, b.per_cell
    matched = [(i, j, r) for i, (j, r) in enumerate(match) if j is not None]
    if ka != kb:
        common = len(matched)
        also = f", {common} of them also in {ref.name}" if common else ""
        if any(r == _NEAR for _, _, r in matched):
            also += " within rounding"
        diffs.append(
            Difference(
                "per_cell",
                f"{kb} shapes per cell here vs {ka} in {ref.name} ({b.count:,} vs {a.count:,} "
                f"anchors{also}): the per-cell rules differ ({other.name}: {other.rules.order}; "
                f"{ref.name}: {ref.rules.order})",
            )
        )
        return diffs
    transposed = ka > 0 and all(
        close(s.width, t.height) and close(s.height, t.width)
        for s, t in zip(b.shapes, a.shapes, strict=True)
    )
    meaning_a, meaning_b = _ratio_kind(ref.rules), _ratio_kind(other.rules)
    ratio_flipped = meaning_a is not None and meaning_b is not None and meaning_a != meaning_b
    unmatched = [i for i, (j, _) in enumerate(match) if j is None]
    if unmatched:
        if transposed:
            diffs.append(Difference("transposed", _transposed_line(ref, a, other, b)))
            return diffs
        i = unmatched[0]
        counterpart = a.shapes[i].text() if i < ka else "nothing"
        diffs.append(
            Difference(
                "shapes",
                f"different shapes: {len(unmatched)} of {kb} slots have no counterpart in "
                f"{ref.name} (slot {i}: {b.shapes[i].text()} here, {counterpart} there); size "
                f"means {other.rules.size_meaning} here, {ref.rules.size_meaning} in {ref.name}",
            )
        )
    permuted = any(i != j for i, j, _ in matched)
    if permuted and not unmatched:
        if transposed and ratio_flipped:
            diffs.append(Difference("mirrored_order", _mirrored_line(ref, a, other, b)))
        else:
            order = ",".join(str(j) for _, j, _ in matched)
            flipped = (
                f"; ratio = {other.rules.ratio_meaning} here, {ref.rules.ratio_meaning} there"
                if ratio_flipped
                else ""
            )
            diffs.append(
                Difference(
                    "order",
                    f"the same shapes in a different order: slots 0..{kb - 1} here are "
                    f"{ref.name}'s slots {order} ({other.name}: {other.rules.order}; {ref.name}: "
                    f"{ref.rules.order}){flipped}",
                )
            )
    near = [(i, j) for i, j, r in matched if r == _NEAR]
    if near:
        diffs.append(Difference("rounding", _rounding_line(ref, a, other, b, near)))
    capped = [(i, j) for i, j, r in matched if r == _CAPPED]
    if capped:
        i, j = capped[0]
        w, h = image_size
        diffs.append(
            Difference(
                "clip",
                f"clip: {len(capped)} shape(s) capped at the {w} x {h} image here (slot {i}: "
                f"{b.shapes[i].text()} where {ref.name} has {a.shapes[j].text()}); "
                f"{other.name}: {other.rules.clip}; {ref.name}: {ref.rules.clip}",
            )
        )
    return diffs


def _transposed_line(ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel) -> str:
    example = _ratio_example(a, b)
    if _ratio_kind(ref.rules) != _ratio_kind(other.rules) and None not in (
        _ratio_kind(ref.rules),
        _ratio_kind(other.rules),
    ):
        return (
            f"transposed: ratio = {other.rules.ratio_meaning} here but "
            f"{ref.rules.ratio_meaning} in {ref.name}, so every slot's width and height are "
            f"swapped{example}"
        )
    return f"transposed: every slot's width and height are swapped relative to {ref.name}{example}"


def _mirrored_line(ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel) -> str:
    return (
        f"mirrored order: ratio = {other.rules.ratio_meaning} here but "
        f"{ref.rules.ratio_meaning} in {ref.name}: the same shapes in mirrored order"
        f"{_ratio_example(a, b)}"
    )


def _ratio_example(a: PixelLevel, b: PixelLevel) -> str:
    """``' (ratio 0.5: 362 x 181, wide, here; 181 x 362, tall, in the reference)'``."""
    for s, t in zip(b.shapes, a.shapes):  # noqa: B905 - examples only
        ratio = s.params.get("ratio")
        if ratio is None or close(s.width, s.height):
            continue
        return (
            f" (ratio {fmt_number(float(ratio))} gives {s.text()}, {_aspect(s)}, here and "
            f"{t.text()}, {_aspect(t)}, there)"
        )
    return ""


def _rounding_line(
    ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel, near: list[tuple[int, int]]
) -> str:
    i, j = near[0]
    pair = f"slot {i}: {b.shapes[i].text()} here vs {a.shapes[j].text()} in {ref.name}"
    rounds_a, rounds_b = not _is_none(ref.rules.rounding), not _is_none(other.rules.rounding)
    if rounds_b and not rounds_a:
        who = f"{other.name} rounds ({other.rules.rounding}), {ref.name} does not"
    elif rounds_a and not rounds_b:
        who = f"{ref.name} rounds ({ref.rules.rounding}), {other.name} does not"
    else:
        who = (
            f"both round, differently ({other.name}: {other.rules.rounding}; {ref.name}: "
            f"{ref.rules.rounding})"
        )
    return f"rounding: {len(near)} shape(s) differ by rounding ({pair}): {who}"


def _clip_differences(
    ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel
) -> list[Difference]:
    if a.clipped == b.clipped:
        return []
    if b.clipped and not a.clipped:
        line = (
            f"clip: {b.clipped:,} of {b.count:,} anchors here are clamped at the image border "
            f"({other.name}: {other.rules.clip}); {ref.name} clamps none ({ref.rules.clip})"
        )
    elif a.clipped and not b.clipped:
        line = (
            f"clip: no anchor clamped here ({other.name}: {other.rules.clip}), while "
            f"{ref.name} clamps {a.clipped:,} of {a.count:,} at the image border "
            f"({ref.rules.clip})"
        )
    else:
        line = (
            f"clip: {b.clipped:,} anchors clamped at the image border here vs {a.clipped:,} in "
            f"{ref.name} ({other.name}: {other.rules.clip}; {ref.name}: {ref.rules.clip})"
        )
    return [Difference("clip", line)]


def _grid_differences(
    ref: Measured, a: PixelLevel, other: Measured, b: PixelLevel
) -> list[Difference]:
    diffs: list[Difference] = []
    if not (close(a.stride[0], b.stride[0]) and close(a.stride[1], b.stride[1])):
        diffs.append(
            Difference(
                "stride",
                f"stride {fmt_pair(b.stride)} px here vs {fmt_pair(a.stride)} px in {ref.name}: "
                "the centre spacing each derives (or defaults to) for this feature map and image",
            )
        )
    if close(a.center0[0], b.center0[0]) and close(a.center0[1], b.center0[1]):
        return diffs
    where_a, where_b = _centre_place(a), _centre_place(b)
    half = all(
        close(abs(b.center0[axis] - a.center0[axis]), b.stride[axis] / 2)
        and close(a.stride[axis], b.stride[axis])
        for axis in (0, 1)
        if not close(a.center0[axis], b.center0[axis])
    )
    if where_a != where_b:
        head = f"centre on {where_b} here vs {where_a} in {ref.name}"
        if half:
            head += ", half a stride apart"
    elif not (close(a.stride[0], b.stride[0]) and close(a.stride[1], b.stride[1])):
        head = f"centre on {where_b} in both, a different stride apart"
    else:
        head = "centre of cell (0,0) elsewhere"
    diffs.append(
        Difference(
            "centre",
            f"{head}: cell (0,0) centred at ({fmt_pair(b.center0, ', ')}) px here, "
            f"({fmt_pair(a.center0, ', ')}) px in {ref.name} ({other.name}: {other.rules.centre}; "
            f"{ref.name}: {ref.rules.centre})",
        )
    )
    return diffs


def _centre_place(level: PixelLevel) -> str:
    """Where the centre of cell (0, 0) sits within the cell, in words."""
    places = []
    for axis in (0, 1):
        c, s = level.center0[axis], level.stride[axis]
        if close(c, 0.0):
            places.append("the cell corner")
        elif close(c, s / 2):
            places.append("the cell centre")
        else:
            places.append(f"{fmt_number(c / s if s else 0.0)} of a stride")
    return places[0] if places[0] == places[1] else f"{places[0]} (x), {places[1]} (y)"


# --- JSON ------------------------------------------------------------------------------------


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as plain data (see ``anchorctl compare --help`` for the keys)."""
    return {
        "image_size": list(comparison.image_size),
        "reference": comparison.reference,
        "conventions": [_entry_json(e) for e in comparison.entries],
        "skipped": [{"name": s.name, "reason": s.reason} for s in comparison.skipped],
    }


def _entry_json(entry: Compared) -> dict[str, Any]:
    m = entry.measured
    levels = [
        _level_json(index, level, entry.matches[index]) for index, level in enumerate(m.levels)
    ]
    first = levels[0] if levels else {}
    return {
        "name": m.name,
        "title": m.rules.title,
        "ratio_meaning": m.rules.ratio_meaning,
        "count": m.count,
        "per_cell": first.get("per_cell", 0),
        "center0_px": first.get("center0_px"),
        "stride_px": first.get("stride_px"),
        "shapes": first.get("shapes", []),
        "clipped": sum(level.clipped for level in m.levels),
        "levels": levels,
        "differences": [
            {"kind": d.kind, "explanation": d.explanation}
            | ({"level": d.level} if d.level is not None else {})
            for d in entry.differences
        ],
    }


def _level_json(index: int, level: PixelLevel, match: Sequence[int | None]) -> dict[str, Any]:
    return {
        "level": index,
        "feature_map": list(level.feature_map),
        "count": level.count,
        "per_cell": level.per_cell,
        "center0_px": [_round(level.center0[0]), _round(level.center0[1])],
        "stride_px": [_round(level.stride[0]), _round(level.stride[1])],
        "clipped": level.clipped,
        "shapes": [
            {
                "slot": s.slot,
                "params": {k: float(v) for k, v in s.params.items()},
                "width_px": _round(s.width),
                "height_px": _round(s.height),
                "reference_slot": match[s.slot] if s.slot < len(match) else None,
            }
            for s in level.shapes
        ],
    }


# --- small helpers ---------------------------------------------------------------------------


def close(a: float, b: float) -> bool:
    """Equal as pixels, within float32 noise."""
    return abs(a - b) <= _ABS_TOL + _REL_TOL * max(abs(a), abs(b))


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= max(_NEAR_PX, _NEAR_REL * max(abs(a), abs(b)))


def _is_none(rule: str) -> bool:
    return rule.strip().lower().startswith("none")


def _ratio_kind(rules: Rules) -> str | None:
    text = rules.ratio_meaning.strip().lower()
    if text.startswith("width / height"):
        return "w/h"
    if text.startswith("height / width"):
        return "h/w"
    return None


def _aspect(shape: PixelShape) -> str:
    if close(shape.width, shape.height):
        return "square"
    return "wide" if shape.width > shape.height else "tall"


def _round(value: float) -> float:
    return round(float(value), 4)


def fmt_number(value: float) -> str:
    """A number of pixels for people: ``46``, ``45.25``, ``22.63``."""
    if abs(value - round(value)) < 5e-3:
        return str(round(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _wh(width: float, height: float) -> str:
    return f"{fmt_number(width)} x {fmt_number(height)}"


def fmt_pair(pair: tuple[float, float], sep: str = " x ") -> str:
    """An ``(x, y)`` pair: one number when both agree and ``sep`` is `` x ``."""
    if sep == " x " and close(pair[0], pair[1]):
        return fmt_number(pair[0])
    return f"{fmt_number(pair[0])}{sep}{fmt_number(pair[1])}"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(option: Option) -> str:
    """An option's help without its bracketed default or parenthesised aside."""
    return option.help.split(" [", 1)[0].split(" (", 1)[0].strip()


def _numbers(value: Any) -> Iterable[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float, np.integer, np.floating)):
        yield float(value)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)


def fmt_value(value: Any) -> str:
    """A typed value as the user wrote it, more or less: levels separated by ``|``."""
    if isinstance(value, list) and value and all(isinstance(v, (list, tuple)) for v in value):
        return " | ".join(",".join(fmt_number(x) for x in _numbers(v)) for v in value)
    return ",".join(fmt_number(x) for x in _numbers(value))
