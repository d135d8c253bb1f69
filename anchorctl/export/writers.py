"""Anchor sets as config snippets, one writer per target, each telling how true it is.

Every snippet starts with comment lines: what the generator's numbers mean (size, ratio,
per-cell order and centre rule, in the words of the target convention's ``RULES``), the
input size and strides, and then the verdict. ``# exact:`` is written only when the config
makes the source's anchors: the same shapes, in the same slot order, centred where the
source centres them, at the same spacing. Anything less is ``# APPROXIMATE:`` (the shapes
differ: by how much) or ``# differs:`` lines (slot order, centres, strides), one per
difference; :class:`Snippet` carries the same verdict for the command line.

The targets and their grammars:

* ``torchvision``: ``AnchorGenerator(sizes, aspect_ratios)``, one tuple of each per level;
  every size x every ratio, ratio-major, half extents rounded to whole pixels; centres on
  each cell's top-left corner, strides ``input // feature map``.
* ``detectron2``: ``MODEL.ANCHOR_GENERATOR`` ``SIZES`` / ``ASPECT_RATIOS`` per level and
  one ``OFFSET`` (centres at ``(offset + i) * stride``); every size x every ratio,
  size-major; strides come from the backbone.
* ``mmdet``: ``AnchorGenerator(strides, ratios, scales[, base_sizes][, center_offset |
  centers])``, one ratio and one scale list for all levels, ratio-major; centres placed
  anywhere with ``centers``. When that cannot make the shapes but
  ``YOLOAnchorGenerator(base_sizes, strides)`` (explicit ``(w, h)`` pairs, centres at
  ``stride / 2``) makes the anchors exactly, that is written instead.
* ``yolo``: YOLOv5-style YAML ``anchors:``, ``[w,h, ...]`` per level, finest first; centres
  at ``(i + 0.5) * stride``.
* ``tf``: one level that is every scale x every ratio becomes a ``grid_anchor_generator``
  (scales of the 256-pixel base), anything else a ``flexible_grid_anchor_generator`` with
  ``base_sizes`` and ``aspect_ratios`` paired one to one; centres at whole-pixel offsets.

Levels are written finest (smallest stride) first when every stride is known, as the
frameworks list their feature maps (``YOLOAnchorGenerator`` coarsest first, as
MMDetection's YOLOv3 configs); a header note says so when the source lists them otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from anchorctl import conventions
from anchorctl.conventions.base import Rules
from anchorctl.errors import AnchorError
from anchorctl.export import TARGET_LIST, TARGETS
from anchorctl.export.grammar import (
    GRAMMARS,
    TF_BASE,
    FloatArray,
    ProductFit,
    fit_product,
    format_number,
    format_ratio,
    nice,
    percent,
    shape_error,
    tf_flexible_shapes,
)
from anchorctl.export.shapes import AnchorSet, LevelShapes

# Centres and strides within this many pixels (plus a relative 1e-6) are the same: the
# source's come from float32 values, some of them normalized and scaled back to pixels.
CENTRE_TOL = 1e-4


@dataclass(frozen=True)
class Snippet:
    """A config snippet for ``target`` and its verdict.

    ``exact``: the config makes the source's anchors (shapes, slot order, centres and
    spacing); ``differences``: one line per way it does not; ``notes``: what a user should
    know that is not a difference (level order, whole-pixel rounding of a header value).
    """

    target: str
    text: str
    exact: bool
    differences: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for the command line's stderr."""
        if self.exact:
            return f"export --to {self.target}: exact (shapes, slot order and centres)"
        more = len(self.differences) - 1
        tail = f" (and {more} more; see the snippet's header)" if more > 0 else ""
        return f"export --to {self.target}: not exact: {self.differences[0]}{tail}"


def export(anchor_set: AnchorSet, target: str) -> str:
    """``anchor_set`` as a config snippet for ``target`` (one of :data:`TARGETS`)."""
    return snippet(anchor_set, target).text


def snippet(anchor_set: AnchorSet, target: str) -> Snippet:
    """``anchor_set`` as a :class:`Snippet` for ``target`` (one of :data:`TARGETS`)."""
    writer = _WRITERS.get(target)
    if writer is None:
        raise AnchorError(f"export target {target!r}: choose one of {', '.join(TARGETS)}")
    return writer(anchor_set)


# --------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placement:
    """Where a target puts one level's anchors: cell (0, 0)'s centre ``(x, y)`` and the
    ``(y, x)`` spacing, in pixels (``None``: not known without more than the set holds)."""

    center: tuple[float, float] | None
    steps: tuple[float, float] | None


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= CENTRE_TOL + 1e-6 * max(abs(a), abs(b))


def _px(value: tuple[float, float]) -> str:
    return f"({format_number(nice(value[0]))}, {format_number(nice(value[1]))})"


def _placement_differences(
    levels: Sequence[LevelShapes], placements: Sequence[Placement], generator: str, rule: str
) -> list[str]:
    """The first level whose centres or spacing the target does not reproduce, in words."""
    for index, (level, place) in enumerate(zip(levels, placements, strict=True)):
        where = f"level {index}" if len(levels) > 1 else "the level"
        if level.center is None or level.steps is None:
            continue  # a suggestion: the framework places its anchors, nothing to compare
        if place.center is None or place.steps is None:
            return [
                f"centres: {generator} places anchors {rule}, which this set cannot tell for "
                f"{where} (give the input size and the feature maps)"
            ]
        centre_ok = all(_same(a, b) for a, b in zip(level.center, place.center, strict=True))
        steps_ok = all(_same(a, b) for a, b in zip(level.steps, place.steps, strict=True))
        if not centre_ok:
            return [
                f"centres: {generator} puts cell (0, 0)'s anchors of {where} at "
                f"{_px(place.center)} px ({rule}); the source puts them at "
                f"{_px(level.center)} px"
            ]
        if not steps_ok:
            return [
                f"strides: {generator} spaces the centres of {where} "
                f"{_px(place.steps)} px apart (y, x); the source spaces them "
                f"{_px(level.steps)} px"
            ]
    return []


def _unplaced(levels: Sequence[LevelShapes]) -> bool:
    return any(lv.center is None or lv.steps is None for lv in levels)


# --------------------------------------------------------------------------- headers


def _rules(target: str) -> Rules:
    convention = next(t.convention for t in TARGET_LIST if t.name == target)
    assert convention is not None
    rules: Rules = conventions.load(convention).RULES
    return rules


def _ratio_note(key: str, rules: Rules) -> str:
    """``'aspect_ratios = height / width (0.5 is wide, 2 is tall)'`` from the rules."""
    meaning = rules.ratio_meaning
    if meaning.startswith("height / width"):
        return f"{key} = height / width (0.5 is wide, 2 is tall)"
    if meaning.startswith("width / height"):
        return f"{key} = width / height (2 is wide, 0.5 is tall)"
    return f"{key}: {meaning}"


def _rule_lines(rules: Rules, ratio_key: str | None) -> list[str]:
    """What the generator's numbers mean, from its convention's RULES."""
    lines = [f"units: {rules.units}; size: {rules.size_meaning}"]
    if ratio_key is not None:
        lines.append(_ratio_note(ratio_key, rules))
    lines.append(f"per cell: {rules.order}")
    lines.append(f"centres: {rules.centre}")
    return lines


def _header(
    title: str, notes: Sequence[str], levels: Sequence[LevelShapes], anchor_set: AnchorSet
) -> list[str]:
    input_size = anchor_set.input_size
    size = f"{input_size[0]}x{input_size[1]}" if input_size is not None else "unknown"
    strides = ", ".join("?" if lv.stride is None else format_number(lv.stride) for lv in levels)
    lines = [f"# anchorctl export: {title}"]
    lines += [f"# {note}" for note in notes]
    lines.append(f"# input size (px): {size}")
    lines.append(f"# strides (px): {strides}")
    counts = sorted({len(lv.shapes) for lv in levels})
    if len(counts) > 1:
        lines.append(
            "# note: levels have "
            + ", ".join(str(len(lv.shapes)) for lv in levels)
            + " anchors per cell; most detection heads need the same count on every level"
        )
    if [id(lv) for lv in levels] != [id(lv) for lv in anchor_set.levels]:
        lines.append(
            "# note: levels written "
            + ("coarsest" if _coarse_first(levels) else "finest")
            + " first, as the framework lists its feature maps; the source lists them in "
            "another order"
        )
    return lines


def _coarse_first(levels: Sequence[LevelShapes]) -> bool:
    strides = [lv.stride or 0.0 for lv in levels]
    return len(strides) > 1 and strides[0] > strides[-1]


@dataclass
class _Verdict:
    """What a writer found: shape error and exactness, slot order, placement differences."""

    error: float
    shapes_exact: bool
    same_order: bool
    placement: list[str]
    approximate_why: str
    unplaced_rule: str = ""

    @property
    def differences(self) -> list[str]:
        out = []
        if not self.shapes_exact:
            out.append(
                f"shapes: {self.approximate_why}; the nearest such config is off by up to "
                f"{percent(self.error)} in width or height"
            )
        elif not self.same_order:
            out.append("slot order: the per-cell order differs from the source's")
        return out + self.placement

    def lines(self, count: int) -> list[str]:
        if not self.shapes_exact:
            out = [
                f"# APPROXIMATE: {self.approximate_why}; the nearest such config is off by up "
                f"to {percent(self.error)} in width or height"
            ]
            out += [f"# differs: {d}" for d in self.placement]
            return out
        if not self.differences:
            what = (
                f"# exact: this config makes the {count} source shapes in the source's slot order"
            )
            if self.unplaced_rule:
                return [what, f"# centres: the source gives none; {self.unplaced_rule}"]
            return [what + ", centred where the source centres them"]
        out = [f"# shapes exact: this config makes the {count} source shapes"]
        return out + [f"# differs: {d}" for d in self.differences]


def _finish(
    target: str, lines: list[str], body: list[str], verdict: _Verdict, notes: Sequence[str] = ()
) -> Snippet:
    return Snippet(
        target,
        "\n".join(lines + body) + "\n",
        exact=not verdict.differences,
        differences=tuple(verdict.differences),
        notes=tuple(notes),
    )


def _ordered(anchor_set: AnchorSet, *, coarse_first: bool = False) -> list[LevelShapes]:
    levels = list(anchor_set.levels)
    if all(level.stride is not None for level in levels):
        levels.sort(key=lambda lv: (-1 if coarse_first else 1) * (lv.stride or 0.0))
    return levels


_ALTERNATIVES = "# exact shapes: the yolo and tf targets (explicit w, h pairs)"


# --------------------------------------------------------------------------- torchvision


def _export_torchvision(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set)
    rules = _rules("torchvision")
    fits = [fit_product([lv.array], GRAMMARS["torchvision"], [1.0]) for lv in levels]
    placements = [_torchvision_place(lv, anchor_set.input_size) for lv in levels]
    verdict = _Verdict(
        error=max(f.error for f in fits),
        shapes_exact=all(f.exact for f in fits),
        same_order=all(f.same_order for f in fits),
        placement=_placement_differences(
            levels, placements, "torchvision", "on each cell's top-left corner"
        ),
        approximate_why="torchvision makes every size x every ratio, in even whole pixels",
        unplaced_rule="torchvision puts anchors on each cell's top-left corner, stride input // map"
        if _unplaced(levels)
        else "",
    )
    lines = _header(
        "torchvision AnchorGenerator (torchvision.models.detection.anchor_utils)",
        [
            *_rule_lines(rules, "aspect_ratios"),
            f"rounding: {rules.rounding}",
            "strides: input size // feature map on each axis (not part of this call)",
        ],
        levels,
        anchor_set,
    )
    lines += verdict.lines(sum(len(lv.shapes) for lv in levels))
    if not verdict.shapes_exact:
        lines.append(_ALTERNATIVES)
    body = [
        "from torchvision.models.detection.anchor_utils import AnchorGenerator",
        "",
        "anchor_generator = AnchorGenerator(",
        f"    sizes={_py_nested([f.scales for f in fits], format_number)},",
        f"    aspect_ratios={_py_per_level([f.ratios for f in fits])},",
        ")",
    ]
    return _finish("torchvision", lines, body, verdict)


def _torchvision_place(level: LevelShapes, input_size: tuple[int, int] | None) -> Placement:
    if level.feature_map is None or input_size is None:
        return Placement((0.0, 0.0), None)
    rows, cols = level.feature_map
    width, height = input_size
    return Placement((0.0, 0.0), (float(height // rows), float(width // cols)))


# --------------------------------------------------------------------------- detectron2


def _export_detectron2(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set)
    rules = _rules("detectron2")
    fits = [fit_product([lv.array], GRAMMARS["detectron2"], [1.0]) for lv in levels]
    ratios = [f.ratios for f in fits]
    same_ratios = all(r == ratios[0] for r in ratios)
    offset = _detectron2_offset(levels)
    placements = [
        Placement(
            None if lv.stride is None else (offset * lv.stride, offset * lv.stride),
            None if lv.stride is None else (lv.stride, lv.stride),
        )
        for lv in levels
    ]
    verdict = _Verdict(
        error=max(f.error for f in fits),
        shapes_exact=all(f.exact for f in fits),
        same_order=all(f.same_order for f in fits),
        placement=_placement_differences(
            levels, placements, "Detectron2", f"at (OFFSET + i) * stride, OFFSET {offset:g}"
        ),
        approximate_why="Detectron2 makes every size x every ratio on a level",
        unplaced_rule="Detectron2 puts anchors at (OFFSET + i) * stride, the backbone's stride"
        if _unplaced(levels)
        else "",
    )
    lines = _header(
        "Detectron2 DefaultAnchorGenerator (MODEL.ANCHOR_GENERATOR, YAML)",
        [
            *_rule_lines(rules, "ASPECT_RATIOS"),
            "strides come from the backbone (ShapeSpec.stride), not from this block",
        ],
        levels,
        anchor_set,
    )
    lines += verdict.lines(sum(len(lv.shapes) for lv in levels))
    if not verdict.shapes_exact:
        lines.append(_ALTERNATIVES)
    ratio_text = _yaml_nested([ratios[0]] if same_ratios else ratios, format_ratio)
    body = [
        "MODEL:",
        "  ANCHOR_GENERATOR:",
        "    NAME: DefaultAnchorGenerator",
        f"    SIZES: {_yaml_nested([f.scales for f in fits], format_number)}",
        f"    ASPECT_RATIOS: {ratio_text}",
        f"    OFFSET: {format_ratio(offset)}",
    ]
    return _finish("detectron2", lines, body, verdict)


def _detectron2_offset(levels: Sequence[LevelShapes]) -> float:
    """The one OFFSET (a fraction of the stride, in [0, 1)) that puts the first placed
    level's centres where the source does; 0.0, the config default, when none does."""
    for level in levels:
        if level.center is None or level.stride is None:
            continue
        offset = nice(level.center[0] / level.stride)
        return offset if 0.0 <= offset < 1.0 else 0.0
    return 0.0


# --------------------------------------------------------------------------- mmdet


def _export_mmdet(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set)
    missing = [i for i, lv in enumerate(levels) if lv.stride is None]
    if missing:
        raise AnchorError(
            f"mmdet export: level {missing[0]} has no stride; MMDetection's anchor generators "
            "list every level's stride (give the strides)"
        )
    grammar = GRAMMARS["mmdet"]
    sources = [lv.array for lv in levels]
    strides = [_mmdet_stride(lv) for lv in levels]  # (w, h) as MMDetection keeps them
    default_bases = [min(s) for s in strides]
    by_stride = fit_product(sources, grammar, default_bases)
    fit = by_stride
    if not by_stride.exact:
        by_base = fit_product(sources, grammar, None)
        if by_base.exact or by_base.error < by_stride.error:
            fit = by_base
    anchor = _mmdet_anchor_generator(anchor_set, levels, fit, strides, default_bases)
    if anchor.exact or len({len(lv.shapes) for lv in levels}) > 1:
        return anchor
    yolo = _export_mmdet_yolo(anchor_set)
    if yolo.exact:
        return yolo
    # Neither makes the anchors: keep AnchorGenerator, which at least puts them where the
    # source does, unless its shapes are further off than the centres YOLO would move.
    return anchor


def _mmdet_stride(level: LevelShapes) -> tuple[float, float]:
    """``(stride_w, stride_h)``: the spacing of the source's centres, else the stride."""
    if level.steps is not None:
        return (nice(level.steps[1]), nice(level.steps[0]))
    stride = float(level.stride or 0.0)
    return (stride, stride)


def _mmdet_anchor_generator(
    anchor_set: AnchorSet,
    levels: Sequence[LevelShapes],
    fit: ProductFit,
    strides: Sequence[tuple[float, float]],
    default_bases: Sequence[float],
) -> Snippet:
    rules = _rules("mmdet")
    bases = list(fit.bases)
    centres, centre_text = _mmdet_centres(levels, bases)
    placements = [Placement(c, (s[1], s[0])) for c, s in zip(centres, strides, strict=True)]
    verdict = _Verdict(
        error=fit.error,
        shapes_exact=fit.exact,
        same_order=fit.same_order,
        placement=_placement_differences(levels, placements, "AnchorGenerator", centre_text),
        approximate_why="AnchorGenerator makes every scale x every ratio with one ratio and "
        "one scale list for all levels",
        unplaced_rule="AnchorGenerator puts anchors at col * stride + center_offset * base_size"
        if _unplaced(levels)
        else "",
    )
    notes = [
        *_rule_lines(rules, "ratios"),
        "strides are (w, h) when the axes differ; base_size = min(stride) unless base_sizes "
        "is given",
    ]
    lines = _header("MMDetection AnchorGenerator", notes, levels, anchor_set)
    lines += verdict.lines(sum(len(lv.shapes) for lv in levels))
    if not verdict.shapes_exact:
        lines.append(_ALTERNATIVES)
    body = [
        "anchor_generator = dict(",
        "    type='AnchorGenerator',",
        f"    scales={_py_list(fit.scales, format_number)},",
        f"    ratios={_py_list(fit.ratios, format_ratio)},",
        f"    strides={_mmdet_strides_text(strides)},",
    ]
    if any(not _same(b, d) for b, d in zip(bases, default_bases, strict=True)):
        body.append(f"    base_sizes={_py_list(bases, format_number)},")
    body += _centre_text_lines(levels, bases)
    body.append(")")
    return _finish("mmdet", lines, body, verdict)


def _mmdet_centres(
    levels: Sequence[LevelShapes], bases: Sequence[float]
) -> tuple[list[tuple[float, float] | None], str]:
    """Where AnchorGenerator will put each level's cell (0, 0) centre, and how, in words."""
    offset = _mmdet_center_offset(levels, bases)
    if offset is not None:
        out: list[tuple[float, float] | None] = [(offset * b, offset * b) for b in bases]
        return out, f"center_offset {offset:g} of the base size"
    return [lv.center for lv in levels], "at the listed centers"


def _mmdet_center_offset(levels: Sequence[LevelShapes], bases: Sequence[float]) -> float | None:
    """One ``center_offset`` in [0, 1] that places every level as the source does (0 when
    the source has no centres), or ``None`` when only explicit ``centers`` can."""
    if _unplaced(levels):
        return 0.0
    first = levels[0].center
    assert first is not None
    offset = nice(first[0] / bases[0])
    if not 0.0 <= offset <= 1.0:
        return None
    for level, base in zip(levels, bases, strict=True):
        assert level.center is not None
        if not all(_same(c, offset * base) for c in level.center):
            return None
    return offset


def _centre_text_lines(levels: Sequence[LevelShapes], bases: Sequence[float]) -> list[str]:
    offset = _mmdet_center_offset(levels, bases)
    if offset is None:
        pairs = ", ".join(
            f"({format_number(nice(lv.center[0]))}, {format_number(nice(lv.center[1]))})"
            for lv in levels
            if lv.center is not None
        )
        return [f"    centers=[{pairs}],"]
    if offset == 0.0:
        return []
    return [f"    center_offset={format_ratio(offset)},"]


def _mmdet_strides_text(strides: Sequence[tuple[float, float]]) -> str:
    items = [
        format_number(w) if w == h else f"({format_number(w)}, {format_number(h)})"
        for w, h in strides
    ]
    return "[" + ", ".join(items) + "]"


def _export_mmdet_yolo(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set, coarse_first=True)
    pairs = [[(nice(w), nice(h)) for w, h in lv.shapes] for lv in levels]
    made = [np.array(p, dtype=np.float64) for p in pairs]
    error, exact = _levels_error(levels, made)
    strides = [_mmdet_stride(lv) for lv in levels]
    placements = [Placement((w / 2.0, h / 2.0), (h, w)) for w, h in strides]
    verdict = _Verdict(
        error=error,
        shapes_exact=exact,
        same_order=True,
        placement=_placement_differences(
            levels, placements, "YOLOAnchorGenerator", "at stride / 2"
        ),
        approximate_why="rounding",
        unplaced_rule="YOLOAnchorGenerator centres them at stride / 2" if _unplaced(levels) else "",
    )
    lines = _header(
        "MMDetection YOLOAnchorGenerator",
        [
            "units: pixels of the network input; base_sizes are (w, h) pairs per level, used "
            "as they are",
            "levels coarsest first, as MMDetection's YOLOv3 configs list them (keep strides in "
            "the head's featmap_strides order)",
            "centres: (col + 0.5) * stride, (row + 0.5) * stride",
        ],
        levels,
        anchor_set,
    )
    lines += verdict.lines(sum(len(p) for p in pairs))
    body = ["anchor_generator = dict(", "    type='YOLOAnchorGenerator',", "    base_sizes=["]
    for level_pairs in pairs:
        inner = ", ".join(f"({format_number(w)}, {format_number(h)})" for w, h in level_pairs)
        body.append(f"        [{inner}],")
    body += ["    ],", f"    strides={_mmdet_strides_text(strides)},", ")"]
    return _finish("mmdet", lines, body, verdict)


# --------------------------------------------------------------------------- yolo


def _export_yolo(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set)
    rules = _rules("yolo")
    pairs = [[(nice(w), nice(h)) for w, h in lv.shapes] for lv in levels]
    made = [np.array(p, dtype=np.float64) for p in pairs]
    error, exact = _levels_error(levels, made)
    placements = [
        Placement(
            None if lv.stride is None else (lv.stride / 2.0, lv.stride / 2.0),
            None if lv.stride is None else (lv.stride, lv.stride),
        )
        for lv in levels
    ]
    verdict = _Verdict(
        error=error,
        shapes_exact=exact,
        same_order=True,
        placement=_placement_differences(levels, placements, "YOLO", "at (i + 0.5) * stride"),
        approximate_why="rounding",
        unplaced_rule="YOLO decodes them at (i + 0.5) * stride" if _unplaced(levels) else "",
    )
    lines = _header(
        "YOLO anchors (YOLOv5 model YAML; darknet [yolo] anchors hold the same numbers)",
        [
            "units: pixels of the network input; each level lists w,h pairs, finest level "
            "(P3) first",
            f"centres: {rules.centre}",
        ],
        levels,
        anchor_set,
    )
    lines += verdict.lines(sum(len(p) for p in pairs))
    lines.append("anchors:")
    for index, (level, level_pairs) in enumerate(zip(levels, pairs, strict=True)):
        inner = ", ".join(f"{format_number(w)},{format_number(h)}" for w, h in level_pairs)
        lines.append(f"  - [{inner}]  # {_yolo_label(level.stride, index)}")
    return _finish("yolo", lines, [], verdict)


def _yolo_label(stride: float | None, index: int) -> str:
    if stride is None:
        return f"level {index}"
    power = math.log2(stride)
    if power.is_integer():
        return f"P{int(power)}/{format_number(stride)}"
    return f"stride {format_number(stride)}"


# --------------------------------------------------------------------------- tf


def _export_tf(anchor_set: AnchorSet) -> Snippet:
    levels = _ordered(anchor_set)
    if len(levels) == 1:
        fit = fit_product([levels[0].array], GRAMMARS["tf-grid"], [TF_BASE])
        if fit.exact:
            return _export_tf_grid(anchor_set, levels[0], fit)
    for index, level in enumerate(levels):
        if level.stride is None:
            raise AnchorError(
                f"tf export: level {index} has no stride; flexible_grid_anchor_generator "
                "needs each level's stride in pixels (give the strides)"
            )
    rules = _rules("tf")
    whole = [_tf_whole(lv) for lv in levels]
    rounded = [r for w in whole for r in w.rounded]
    sizes = [[nice(math.sqrt(w * h)) for w, h in lv.shapes] for lv in levels]
    ratios = [[nice(w / h) for w, h in lv.shapes] for lv in levels]
    made = [tf_flexible_shapes(s, r) for s, r in zip(sizes, ratios, strict=True)]
    error, exact = _levels_error(levels, made)
    verdict = _Verdict(
        error=error,
        shapes_exact=exact,
        same_order=True,
        placement=_placement_differences(
            levels,
            [w.placement for w in whole],
            "flexible_grid_anchor_generator",
            "at whole-pixel offsets and strides",
        ),
        approximate_why="float32 rounding",
        unplaced_rule="TF puts cell (0, 0) at (width_offset, height_offset), 0 by default"
        if _unplaced(levels)
        else "",
    )
    lines = _header(
        "TensorFlow Object Detection API flexible_grid_anchor_generator (text proto)",
        [
            "units: pixels of the network input; base_sizes[i] = sqrt(w * h) and "
            f"aspect_ratios[i] make shape i; {_ratio_note('aspect_ratios', rules)}",
            "normalize_coordinates (default true) divides by the image size afterwards, as SSD "
            "models need",
            "centres: cell (row, col) at (width_offset + col * width_stride, height_offset + "
            "row * height_stride) pixels",
        ],
        levels,
        anchor_set,
    )
    if rounded:
        lines.append(
            "# note: the proto holds whole pixels (uint32); written rounded: " + ", ".join(rounded)
        )
    lines += verdict.lines(sum(len(s) for s in sizes))
    body = ["anchor_generator {", "  flexible_grid_anchor_generator {"]
    for w, level_sizes, level_ratios in zip(whole, sizes, ratios, strict=True):
        body += [
            "    anchor_grid {",
            f"      base_sizes: {_py_list(level_sizes, format_ratio)}",
            f"      aspect_ratios: {_py_list(level_ratios, format_ratio)}",
            f"      height_stride: {w.stride_y}",
            f"      width_stride: {w.stride_x}",
        ]
        if w.offset_y or w.offset_x:
            body += [f"      height_offset: {w.offset_y}", f"      width_offset: {w.offset_x}"]
        body.append("    }")
    body += ["  }", "}"]
    return _finish("tf", lines, body, verdict, rounded)


@dataclass(frozen=True)
class _TfWhole:
    """One level's strides and offsets as the proto's whole pixels, and what was rounded."""

    stride_y: int
    stride_x: int
    offset_y: int
    offset_x: int
    placement: Placement
    rounded: tuple[str, ...]


def _tf_whole(level: LevelShapes) -> _TfWhole:
    stride = float(level.stride or 1.0)
    sy, sx = level.steps if level.steps is not None else (stride, stride)
    cx, cy = level.center if level.center is not None else (0.0, 0.0)
    values = {"stride": (sy, sx), "offset": (cy, cx)}
    rounded = []
    out: dict[str, tuple[int, int]] = {}
    for name, (y, x) in values.items():
        wy, wx = (max(0 if name == "offset" else 1, round(v)) for v in (y, x))
        for v, w in ((y, wy), (x, wx)):
            if not _same(v, w):
                rounded.append(f"{name} {format_number(nice(v))} -> {w}")
        out[name] = (int(wy), int(wx))
    (stride_y, stride_x), (offset_y, offset_x) = out["stride"], out["offset"]
    place = Placement((float(offset_x), float(offset_y)), (float(stride_y), float(stride_x)))
    return _TfWhole(stride_y, stride_x, offset_y, offset_x, place, tuple(dict.fromkeys(rounded)))


def _export_tf_grid(anchor_set: AnchorSet, level: LevelShapes, fit: ProductFit) -> Snippet:
    rules = _rules("tf")
    whole = _tf_whole(level)
    verdict = _Verdict(
        error=fit.error,
        shapes_exact=fit.exact,
        same_order=fit.same_order,
        placement=_placement_differences(
            [level], [whole.placement], "grid_anchor_generator", "at whole-pixel offsets"
        ),
        approximate_why="",
        unplaced_rule="TF puts cell (0, 0) at (width_offset, height_offset), 0 by default"
        if _unplaced([level])
        else "",
    )
    lines = _header(
        "TensorFlow Object Detection API grid_anchor_generator (text proto)",
        [
            f"units: pixels of the network input; size: {rules.size_meaning}; the base is "
            "256 x 256 px (the proto's default height and width)",
            _ratio_note("aspect_ratios", rules),
            f"per cell: {rules.order}",
            "centres: cell (row, col) at (width_offset + col * width_stride, height_offset + "
            "row * height_stride) pixels",
        ],
        [level],
        anchor_set,
    )
    if whole.rounded:
        lines.append(
            "# note: the proto holds whole pixels (int32); written rounded: "
            + ", ".join(whole.rounded)
        )
    lines += verdict.lines(len(level.shapes))
    body = [
        "anchor_generator {",
        "  grid_anchor_generator {",
        f"    scales: {_py_list(fit.scales, format_ratio)}",
        f"    aspect_ratios: {_py_list(fit.ratios, format_ratio)}",
        f"    height_stride: {whole.stride_y}",
        f"    width_stride: {whole.stride_x}",
    ]
    if whole.offset_y or whole.offset_x:
        body += [f"    height_offset: {whole.offset_y}", f"    width_offset: {whole.offset_x}"]
    body += ["  }", "}"]
    return _finish("tf", lines, body, verdict, whole.rounded)


# --------------------------------------------------------------------------- formatting


def _levels_error(levels: Sequence[LevelShapes], made: Sequence[FloatArray]) -> tuple[float, bool]:
    error, exact = 0.0, True
    for level, shapes in zip(levels, made, strict=True):
        level_error, level_exact = shape_error(level.array, shapes)
        error, exact = max(error, level_error), exact and level_exact
    return error, exact


def _py_list(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def _py_tuple(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    inner = ", ".join(fmt(v) for v in values)
    return f"({inner},)" if len(values) == 1 else f"({inner})"


def _py_nested(values: Sequence[Sequence[float]], fmt: Callable[[float], str]) -> str:
    items = [_py_tuple(v, fmt) for v in values]
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _py_per_level(ratios: Sequence[Sequence[float]]) -> str:
    """torchvision's own idiom ``((0.5, 1.0, 2.0),) * 5`` when every level shares the list."""
    if len(ratios) > 1 and all(r == ratios[0] for r in ratios):
        return f"({_py_tuple(ratios[0], format_ratio)},) * {len(ratios)}"
    return _py_nested(ratios, format_ratio)


def _yaml_nested(values: Sequence[Sequence[float]], fmt: Callable[[float], str]) -> str:
    return "[" + ", ".join(_py_list(v, fmt) for v in values) + "]"


_WRITERS: dict[str, Callable[[AnchorSet], Snippet]] = {
    "torchvision": _export_torchvision,
    "mmdet": _export_mmdet,
    "detectron2": _export_detectron2,
    "yolo": _export_yolo,
    "tf": _export_tf,
}
assert tuple(_WRITERS) == TARGETS, "every target declared in anchorctl.export has a writer"
