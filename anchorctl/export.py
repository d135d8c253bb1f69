"""Anchor shapes as config snippets for five frameworks, and those snippets read back.

An :class:`AnchorSet` is what every target needs: per level, the per-cell ``(w, h)`` shapes in
**input pixels** in slot order, the level's stride in pixels (``None`` when unknown) and,
optionally, the network input size. Build one from anchorctl levels
(:func:`anchor_set_from_levels`) or from ``suggest``'s anchors
(:func:`anchor_set_from_suggestion`). Centres are not part of it: every framework places
them by its own rule, which a config snippet cannot change.

:func:`export` writes a snippet for a target; :func:`parse_export` reads exactly what
:func:`export` writes (and no other syntax: it evaluates nothing) back into an AnchorSet whose
shapes are what the *framework* would make from the snippet. Each snippet starts with a
comment header that states the units, what size and ratio mean, the input size and strides,
and whether the config reproduces the shapes exactly or only approximately (and by how much).

The targets and their grammars:

* ``torchvision``: ``AnchorGenerator(sizes, aspect_ratios)``, one tuple of each per level;
  size = ``sqrt(w * h)``, **aspect ratio = h / w**; a level is *every size x every ratio*,
  ratio-major, and torchvision rounds every half extent to whole pixels (half to even), so
  its shapes are even whole numbers of pixels.
* ``detectron2``: ``MODEL.ANCHOR_GENERATOR.SIZES`` / ``ASPECT_RATIOS`` (YAML), per level;
  size = ``sqrt(w * h)``, **ratio = h / w**; every size x every ratio, size-major; no rounding.
* ``mmdet``: ``AnchorGenerator(scales, ratios, strides[, base_sizes])``: one ratio list and
  one scale list shared by all levels, size = ``base_size * scale`` (base size = stride by
  default), **ratio = h / w**, ratio-major. Shapes that no such config makes exactly are
  written for ``YOLOAnchorGenerator(base_sizes, strides)``, which takes ``(w, h)`` pairs as
  they are (every level must then have the same count).
* ``yolo``: YOLOv5-style YAML ``anchors:``, one ``[w,h, w,h, ...]`` list per level in input
  pixels, finest level (P3) first: always exact.
* ``tf``: TensorFlow Object Detection API text proto. One level that is every scale x every
  ratio becomes a ``grid_anchor_generator`` (scales of the 256-pixel base, **aspect ratio =
  w / h**, ratio outer, scale inner); anything else a ``flexible_grid_anchor_generator``
  whose ``base_sizes`` (``sqrt(w * h)``) and ``aspect_ratios`` (w / h) are paired one to
  one: always exact.

Levels are written finest (smallest stride) first when every stride is known, as the
frameworks list their feature maps; ``YOLOAnchorGenerator`` is written coarsest first, as
MMDetection's YOLOv3 configs (and their heads' ``featmap_strides``) list them.

**Approximations.** Where the shapes are not what a target's grammar can make, the snippet
holds the *nearest* config: in log space, the ratios and the sizes are each clustered into
the grid's rows and columns (optimal 1-D k-means, trying every factorisation of the per-cell
count), the cluster centres rounded to the fewest significant digits that keep the fit, and
the shapes the framework then makes compared with the source. The header says ``APPROXIMATE``
and gives the largest relative width or height error of a source shape against its nearest
made shape.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions import detectron2 as _d2
from anchorctl.conventions import keras_retinanet as _keras
from anchorctl.conventions import mmdet as _mmdet
from anchorctl.conventions import tf_grid as _tfgrid
from anchorctl.conventions import torchvision as _tv
from anchorctl.conventions.base import Level, Rules
from anchorctl.errors import AnchorError

FloatArray = npt.NDArray[np.float64]

TARGETS = ("torchvision", "mmdet", "detectron2", "yolo", "tf")

# Relative width/height difference under which two shapes count as the same: float32 keeps
# about 7 significant digits, and measured extents are differences of float32 corners.
EXACT_TOL = 1e-5

# How far rounding a value of an exact config to fewer digits may move a shape.
SNAP_TOL = 1e-6

TF_BASE = 256.0  # grid_anchor_generator's default base_anchor_size (height and width)


# --------------------------------------------------------------------------- anchor sets


@dataclass(frozen=True)
class LevelShapes:
    """One level: per-cell ``(w, h)`` shapes in input pixels, in slot order, and the stride."""

    shapes: tuple[tuple[float, float], ...]
    stride: float | None = None

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
        out.append(LevelShapes(shapes, stride))
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


# --------------------------------------------------------------------------- grammars


Maker = Callable[[float, Sequence[float], Sequence[float]], FloatArray]


@dataclass(frozen=True)
class Grammar:
    """How a framework makes one level's shapes from a base size, scales and ratios.

    ``make(base, scales, ratios)`` returns the ``(m, 2)`` ``[w, h]`` shapes in the framework's
    slot order, computed by anchorctl's model of that framework (its own dtype and rounding);
    the side of the equal-area square of each shape is ``base * scale``. ``ratio`` is the
    framework's ratio definition (``"h/w"`` or ``"w/h"``), ``order`` its nesting.
    """

    name: str
    ratio: str
    order: str
    make: Maker


def _wh(boxes: npt.NDArray[Any]) -> FloatArray:
    """``(k, 4)`` xyxy cell boxes as ``(k, 2)`` float64 ``[w, h]``, differences in their dtype."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return np.stack([w, h], axis=1).astype(np.float64)


def _make_torchvision(base: float, scales: Sequence[float], ratios: Sequence[float]) -> FloatArray:
    return _wh(_tv.base_anchors([base * s for s in scales], ratios))


def _make_detectron2(base: float, scales: Sequence[float], ratios: Sequence[float]) -> FloatArray:
    return _wh(_d2.cell_anchors([base * s for s in scales], ratios))


def _make_mmdet(base: float, scales: Sequence[float], ratios: Sequence[float]) -> FloatArray:
    return _wh(_mmdet.base_anchors(base, scales, ratios, True, (0.0, 0.0)))


def _make_keras(base: float, scales: Sequence[float], ratios: Sequence[float]) -> FloatArray:
    return _wh(_keras.generate_anchors(base, ratios, scales))


def _make_tf_grid(base: float, scales: Sequence[float], ratios: Sequence[float]) -> FloatArray:
    pair_s, pair_r = _tfgrid.ratio_major(scales, ratios)
    f32 = np.float32
    heights, widths = _tfgrid.box_sizes(
        np.array(pair_s, dtype=f32), np.array(pair_r, dtype=f32), f32(base), f32(base)
    )
    return np.stack([widths, heights], axis=1).astype(np.float64)


GRAMMARS: dict[str, Grammar] = {
    "torchvision": Grammar("torchvision", "h/w", "ratio-major", _make_torchvision),
    "detectron2": Grammar("detectron2", "h/w", "size-major", _make_detectron2),
    "mmdet": Grammar("mmdet", "h/w", "ratio-major", _make_mmdet),
    "keras-retinanet": Grammar("keras-retinanet", "h/w", "ratio-major", _make_keras),
    "tf-grid": Grammar("tf-grid", "w/h", "ratio-major", _make_tf_grid),
}


def tf_flexible_shapes(base_sizes: Sequence[float], aspect_ratios: Sequence[float]) -> FloatArray:
    """``(k, 2)`` ``[w, h]`` of ``FlexibleGridAnchorGenerator``'s paired sizes and ratios.

    ``tile_anchors`` with a ``[1, 1]`` base: ``h = size / sqrt(ar)``, ``w = size * sqrt(ar)``,
    float32.
    """
    f32 = np.float32
    heights, widths = _tfgrid.box_sizes(
        np.array(base_sizes, dtype=f32), np.array(aspect_ratios, dtype=f32), f32(1), f32(1)
    )
    return np.stack([widths, heights], axis=1).astype(np.float64)


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class ProductFit:
    """The nearest *every scale x every ratio* config to some levels of shapes.

    ``bases`` has one base size per level (pixels; 1 when the scales are the sizes),
    ``scales`` and ``ratios`` are shared by all levels (ratios in the grammar's definition);
    ``shapes`` holds each level's ``(m, 2)`` shapes as the framework makes them. ``error`` is
    the largest relative width or height error of a source shape against the nearest made
    shape of its level; ``exact`` says the made shapes are the source's (same count, both ways
    within :data:`EXACT_TOL`); ``same_order`` that they also come in the source's slot order.
    """

    bases: tuple[float, ...]
    scales: tuple[float, ...]
    ratios: tuple[float, ...]
    shapes: tuple[FloatArray, ...]
    error: float
    exact: bool
    same_order: bool

    @property
    def sizes(self) -> tuple[tuple[float, ...], ...]:
        """Per level, ``base * scale`` for every scale (pixels)."""
        return tuple(tuple(b * s for s in self.scales) for b in self.bases)


def relative_errors(source: FloatArray, made: FloatArray) -> FloatArray:
    """``(n, m)``: ``max(|w'/w - 1|, |h'/h - 1|)`` of made shape ``j`` against source ``i``."""
    rw = np.abs(made[None, :, 0] / source[:, None, 0] - 1.0)
    rh = np.abs(made[None, :, 1] / source[:, None, 1] - 1.0)
    out: FloatArray = np.maximum(rw, rh)
    return out


def shape_error(source: FloatArray, made: FloatArray) -> tuple[float, bool]:
    """``(error, exact)``: the largest error of a source shape against its nearest made shape,
    and whether the two sets are the same (equal counts, within :data:`EXACT_TOL` both ways)."""
    rel = relative_errors(source, made)
    forward = float(rel.min(axis=1).max())
    backward = float(rel.min(axis=0).max())
    exact = len(source) == len(made) and max(forward, backward) <= EXACT_TOL
    return forward, exact


def fit_product(
    sources: Sequence[npt.ArrayLike], grammar: Grammar, bases: Sequence[float] | None = None
) -> ProductFit:
    """The config of ``grammar`` nearest to ``sources`` (per level ``(k, 2)`` ``[w, h]``).

    All levels share one scale list and one ratio list; level ``l``'s sizes are
    ``bases[l] * scales``. ``bases=None`` fits the bases too (each level's smallest size, so
    the scales start at 1); for a single level with the scales as pixel sizes pass ``[1.0]``.
    Every factorisation ``ratios x scales`` of each level's count is tried; the one of least
    error is kept, put in the source's slot order when that order is the grammar's, and its
    values rounded to the fewest significant digits that keep the fit.
    """
    srcs = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in sources]
    if not srcs:
        raise AnchorError("export: no levels to fit")
    fixed = bases is not None
    log_r = [_log_ratio(s, grammar.ratio) for s in srcs]
    log_s = [0.5 * np.log(s[:, 0] * s[:, 1]) for s in srcs]
    log_b0 = [math.log(b) for b in bases] if bases is not None else [float(v.min()) for v in log_s]
    pooled_r = np.concatenate(log_r)
    pooled_s = np.concatenate([v - b for v, b in zip(log_s, log_b0, strict=True)])
    best: ProductFit | None = None
    for count in sorted({len(s) for s in srcs}):
        for nr in _divisors(count):
            groups_r = _cluster_1d(pooled_r, nr)
            groups_s = _cluster_1d(pooled_s, count // nr)
            # least-squares centres (means) or least-worst ones (midranges): keep the better
            for centre in (_means, _midranges):
                cr, cs = centre(groups_r), centre(groups_s)
                lb = list(log_b0)
                if not fixed:  # move the smallest scale into the bases: scales start at 1
                    lb = [b + float(cs[0]) for b in lb]
                    cs = cs - cs[0]
                fit = _evaluate(srcs, grammar, np.exp(lb), np.exp(cs), np.exp(cr))
                if best is None or (not fit.exact, fit.error) < (not best.exact, best.error):
                    best = fit
    assert best is not None
    best = _in_source_order(srcs, grammar, best)
    return _rounded(srcs, grammar, best, round_bases=not fixed)


def _log_ratio(wh: FloatArray, ratio: str) -> FloatArray:
    out: FloatArray = np.log(wh[:, 1] / wh[:, 0]) if ratio == "h/w" else np.log(wh[:, 0] / wh[:, 1])
    return out


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _cluster_1d(values: FloatArray, groups: int) -> list[FloatArray]:
    """Optimal 1-D k-means: the ``groups`` clusters (ascending) of the least-squares partition.

    Dynamic programming over the sorted values (clusters of sorted data are contiguous);
    ties go to the first split, so the result is deterministic.
    """
    x = np.sort(values)
    n = len(x)
    s1 = np.concatenate(([0.0], np.cumsum(x)))
    s2 = np.concatenate(([0.0], np.cumsum(x * x)))
    i = np.arange(n + 1)[:, None]
    j = np.arange(n + 1)[None, :]
    count = j - i
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (s2[j] - s2[i]) - (s1[j] - s1[i]) ** 2 / count  # (n+1, n+1): segment x[i:j]
    cost = np.where(count > 0, np.maximum(cost, 0.0), np.inf)
    dp = np.full(n + 1, np.inf)
    dp[0] = 0.0
    back = []
    for _ in range(groups):
        total = dp[:, None] + cost
        arg = total.argmin(axis=0)
        dp = total[arg, np.arange(n + 1)]
        back.append(arg)
    cuts = [n]
    for arg in reversed(back):
        cuts.append(int(arg[cuts[-1]]))
    cuts.reverse()
    return [x[a:b] for a, b in itertools.pairwise(cuts)]


def _means(groups: list[FloatArray]) -> FloatArray:
    return np.array([g.mean() for g in groups])


def _midranges(groups: list[FloatArray]) -> FloatArray:
    return np.array([0.5 * (g.min() + g.max()) for g in groups])


def _evaluate(
    srcs: list[FloatArray],
    grammar: Grammar,
    bases: Sequence[float] | FloatArray,
    scales: Sequence[float] | FloatArray,
    ratios: Sequence[float] | FloatArray,
) -> ProductFit:
    made = []
    error, exact, same_order = 0.0, True, True
    for src, base in zip(srcs, bases, strict=True):
        shapes = grammar.make(float(base), [float(s) for s in scales], [float(r) for r in ratios])
        level_error, level_exact = shape_error(src, shapes)
        error = max(error, level_error)
        exact = exact and level_exact
        same_order = (
            same_order
            and len(shapes) == len(src)
            and bool((relative_errors(src, shapes).diagonal() <= EXACT_TOL).all())
        )
        made.append(shapes)
    return ProductFit(
        tuple(float(b) for b in bases),
        tuple(float(s) for s in scales),
        tuple(float(r) for r in ratios),
        tuple(made),
        error,
        exact,
        same_order,
    )


def _in_source_order(srcs: list[FloatArray], grammar: Grammar, fit: ProductFit) -> ProductFit:
    """``fit`` with its scales and ratios permuted so the made slots follow the source's, when
    every level's slot order is the grammar's nesting of some order of each list."""
    nr, ns = len(fit.ratios), len(fit.scales)
    log_r, log_c = np.log(fit.ratios), np.log(fit.scales)
    perms: tuple[Any, Any] | None = None
    for src, base in zip(srcs, fit.bases, strict=True):
        if len(src) != nr * ns:
            return fit
        ri = np.abs(_log_ratio(src, grammar.ratio)[:, None] - log_r[None]).argmin(axis=1)
        si = np.abs(
            (0.5 * np.log(src[:, 0] * src[:, 1]) - math.log(base))[:, None] - log_c[None]
        ).argmin(axis=1)
        slot = np.arange(nr * ns)
        if grammar.order == "ratio-major":
            r_slot, s_slot = slot // ns, slot % ns
        else:
            r_slot, s_slot = slot % nr, slot // nr
        perm_r = _consistent(ri, r_slot, nr)
        perm_s = _consistent(si, s_slot, ns)
        if perm_r is None or perm_s is None:
            return fit
        if perms is None:
            perms = (perm_r, perm_s)
        elif not (np.array_equal(perms[0], perm_r) and np.array_equal(perms[1], perm_s)):
            return fit
    assert perms is not None
    ratios = np.array(fit.ratios)[perms[0]]
    scales = np.array(fit.scales)[perms[1]]
    return _evaluate(srcs, grammar, fit.bases, scales, ratios)


def _consistent(index: npt.NDArray[Any], position: npt.NDArray[Any], n: int) -> Any:
    """The permutation ``p`` with ``index == p[position]``, if one exists."""
    perm = np.full(n, -1)
    perm[position[::-1]] = index[::-1]  # the first slot of each position wins
    if (perm < 0).any() or not np.array_equal(perm[position], index):
        return None
    if not np.array_equal(np.sort(perm), np.arange(n)):
        return None
    return perm


def _rounded(
    srcs: list[FloatArray], grammar: Grammar, fit: ProductFit, *, round_bases: bool
) -> ProductFit:
    """``fit`` with its values at few significant digits, as long as the result stays exact if
    ``fit`` was and otherwise leaves no source shape more than 1e-4 further from its nearest
    made shape; an exact result is taken whenever rounding finds one (torchvision's whole-pixel
    rounding makes a least-squares centre such as 79.93 inexact where 80 is exact).

    First one digit count for bases and scales and one for ratios (fewest first), then each
    value on its own, fewest digits first.
    """
    limit = _nearest_errors(srcs, fit) + 1e-4

    def accept(trial: ProductFit) -> bool:
        if fit.same_order and not trial.same_order:
            return False
        if trial.exact:  # and rounded no further than float32 noise (5.0396842, not 5.0397)
            return trial.error <= max(fit.error, SNAP_TOL) if fit.exact else True
        return not fit.exact and bool((_nearest_errors(srcs, trial) <= limit).all())

    nb = len(fit.bases) if round_bases else 0
    original = [*fit.bases[:nb], *fit.scales, *fit.ratios]
    split = (nb, nb + len(fit.scales))

    def build(values: Sequence[float]) -> ProductFit:
        bases = list(values[: split[0]]) if round_bases else list(fit.bases)
        return _evaluate(srcs, grammar, bases, values[split[0] : split[1]], values[split[1] :])

    current, values = fit, list(original)
    for d, e in sorted(
        ((d, e) for d in range(1, 9) for e in range(1, 9)), key=lambda de: (de[0] + de[1], de[0])
    ):
        trial_values = [_digits(v, d) for v in original[: split[1]]]
        trial_values += [_digits(v, e) for v in original[split[1] :]]
        if min(trial_values) <= 0:
            continue
        trial = build(trial_values)
        if accept(trial):
            current, values = trial, trial_values
            break
    for _ in range(2):
        for i, value in enumerate(original):
            for candidate in [_digits(value, d) for d in range(1, 10)] + [value]:
                if candidate <= 0 or candidate == values[i]:
                    continue
                trial_values = [*values[:i], candidate, *values[i + 1 :]]
                trial = build(trial_values)
                if accept(trial) and (trial.exact or not current.exact):
                    if trial.exact and not current.exact:
                        current, values = trial, trial_values
                        break
                    if _digit_count(candidate) < _digit_count(values[i]):
                        current, values = trial, trial_values
                        break
    return current


def _digit_count(x: float) -> int:
    return len(format_number(x).replace("-", "").replace(".", "").strip("0")) or 1


def _nearest_errors(srcs: list[FloatArray], fit: ProductFit) -> FloatArray:
    """Every source shape's error against its nearest made shape, levels concatenated."""
    return np.concatenate(
        [relative_errors(src, made).min(axis=1) for src, made in zip(srcs, fit.shapes, strict=True)]
    )


def _digits(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def nice(x: float, rel: float = 1e-6) -> float:
    """``x`` at the fewest significant digits (up to 12) within ``rel`` of it."""
    for digits in range(1, 13):
        value = _digits(x, digits)
        if abs(value - x) <= rel * abs(x):
            return value
    return float(x)


def format_number(x: float) -> str:
    """The shortest decimal that reads back as ``x``, never in exponent form: ``32``, ``0.5``."""
    return str(np.format_float_positional(float(x), unique=True, trim="-"))


def _format_ratio(x: float) -> str:
    """As :func:`format_number`, but a whole number keeps ``.0``: ratios read as floats."""
    return str(np.format_float_positional(float(x), unique=True, trim="0"))


def _percent(error: float) -> str:
    return f"{100 * error:.3g}%"


# --------------------------------------------------------------------------- export


def export(anchor_set: AnchorSet, target: str) -> str:
    """``anchor_set`` as a config snippet for ``target`` (one of :data:`TARGETS`).

    The snippet starts with comment lines stating units, ratio meaning, input size, strides
    and exactness; see the module notes for each target's grammar.
    """
    writer = _WRITERS.get(target)
    if writer is None:
        raise AnchorError(f"export target {target!r}: choose one of {', '.join(TARGETS)}")
    return writer(anchor_set)


def _ordered(anchor_set: AnchorSet, *, coarse_first: bool = False) -> list[LevelShapes]:
    levels = list(anchor_set.levels)
    if all(level.stride is not None for level in levels):
        levels.sort(key=lambda lv: (-1 if coarse_first else 1) * (lv.stride or 0.0))
    return levels


def _header(
    title: str, notes: Sequence[str], levels: Sequence[LevelShapes], input_size: Any
) -> list[str]:
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
    return lines


def _fit_lines(fit_error: float, exact: bool, same_order: bool, why: str, count: int) -> list[str]:
    if exact:
        line = f"# exact: this config makes the {count} source shapes"
        lines = [line + (" in the source's slot order" if same_order else "")]
        if not same_order:
            lines.append("# note: the per-cell slot order differs from the source's")
        return lines
    return [
        f"# APPROXIMATE: {why}; the nearest such config is off by up to {_percent(fit_error)} "
        "in width or height",
    ]


_ALTERNATIVES = "# exact alternatives: the yolo and tf targets, and mmdet's YOLOAnchorGenerator"


def _export_torchvision(anchor_set: AnchorSet) -> str:
    levels = _ordered(anchor_set)
    grammar = GRAMMARS["torchvision"]
    fits = [fit_product([lv.array], grammar, [1.0]) for lv in levels]
    sizes = [f.scales for f in fits]
    ratios = [f.ratios for f in fits]
    lines = _header(
        "torchvision AnchorGenerator (torchvision.models.detection.anchor_utils)",
        [
            "units: pixels of the network input; sizes = sqrt(w * h), the side of the "
            "equal-area square",
            "aspect_ratios = height / width (0.5 is wide, 2 is tall); per cell, for each "
            "ratio every size",
            "torchvision rounds each half width and height to whole pixels (half to even)",
        ],
        levels,
        anchor_set.input_size,
    )
    lines += _fit_lines(
        max(f.error for f in fits),
        all(f.exact for f in fits),
        all(f.same_order for f in fits),
        "torchvision makes every size x every ratio, in even whole pixels",
        sum(len(lv.shapes) for lv in levels),
    )
    if not all(f.exact for f in fits):
        lines.append(_ALTERNATIVES)
    lines += [
        "from torchvision.models.detection.anchor_utils import AnchorGenerator",
        "",
        "anchor_generator = AnchorGenerator(",
        f"    sizes={_py_nested(sizes, format_number)},",
        f"    aspect_ratios={_py_per_level(ratios)},",
        ")",
    ]
    return "\n".join(lines) + "\n"


def _export_detectron2(anchor_set: AnchorSet) -> str:
    levels = _ordered(anchor_set)
    grammar = GRAMMARS["detectron2"]
    fits = [fit_product([lv.array], grammar, [1.0]) for lv in levels]
    ratios = [f.ratios for f in fits]
    same_ratios = all(r == ratios[0] for r in ratios)
    lines = _header(
        "Detectron2 DefaultAnchorGenerator (MODEL.ANCHOR_GENERATOR, YAML)",
        [
            "units: pixels of the network input; SIZES = sqrt(w * h), the side of the "
            "equal-area square",
            "ASPECT_RATIOS = height / width (0.5 is wide, 2 is tall); per cell, for each size "
            "every ratio",
            "strides come from the backbone (ShapeSpec.stride), not from this block",
        ],
        levels,
        anchor_set.input_size,
    )
    lines += _fit_lines(
        max(f.error for f in fits),
        all(f.exact for f in fits),
        all(f.same_order for f in fits),
        "Detectron2 makes every size x every ratio on a level",
        sum(len(lv.shapes) for lv in levels),
    )
    if not all(f.exact for f in fits):
        lines.append(_ALTERNATIVES)
    ratio_text = _yaml_nested([ratios[0]] if same_ratios else ratios, _format_ratio)
    lines += [
        "MODEL:",
        "  ANCHOR_GENERATOR:",
        "    NAME: DefaultAnchorGenerator",
        f"    SIZES: {_yaml_nested([f.scales for f in fits], format_number)}",
        f"    ASPECT_RATIOS: {ratio_text}",
    ]
    return "\n".join(lines) + "\n"


def _export_mmdet(anchor_set: AnchorSet) -> str:
    levels = _ordered(anchor_set)
    missing = [i for i, lv in enumerate(levels) if lv.stride is None]
    if missing:
        raise AnchorError(
            f"mmdet export: level {missing[0]} has no stride; MMDetection's anchor generators "
            "list every level's stride (give the strides)"
        )
    grammar = GRAMMARS["mmdet"]
    sources = [lv.array for lv in levels]
    strides = [float(lv.stride or 0.0) for lv in levels]
    by_stride = fit_product(sources, grammar, strides)
    fit = by_stride
    if not by_stride.exact:
        by_base = fit_product(sources, grammar, None)
        if by_base.exact or by_base.error < by_stride.error:
            fit = by_base
    counts = {len(lv.shapes) for lv in levels}
    if not fit.exact and len(counts) == 1:
        return _export_mmdet_yolo(anchor_set)
    notes = [
        "units: pixels of the network input; each size = base_size * scale (base_size = "
        "stride unless base_sizes is given)",
        "ratios = height / width (0.5 is wide, 2 is tall), shared by every level; per cell, "
        "for each ratio every scale",
    ]
    lines = _header("MMDetection AnchorGenerator", notes, levels, anchor_set.input_size)
    lines += _fit_lines(
        fit.error,
        fit.exact,
        fit.same_order,
        "AnchorGenerator makes every scale x every ratio with one ratio and one scale list "
        "for all levels",
        sum(len(lv.shapes) for lv in levels),
    )
    if not fit.exact:
        lines.append("# exact alternatives: the yolo and tf targets")
    body = [
        "anchor_generator = dict(",
        "    type='AnchorGenerator',",
        f"    scales={_py_list(fit.scales, format_number)},",
        f"    ratios={_py_list(fit.ratios, _format_ratio)},",
        f"    strides={_py_list(strides, format_number)},",
    ]
    if fit is not by_stride:
        body.append(f"    base_sizes={_py_list(fit.bases, format_number)},")
    body.append(")")
    return "\n".join(lines + body) + "\n"


def _export_mmdet_yolo(anchor_set: AnchorSet) -> str:
    levels = _ordered(anchor_set, coarse_first=True)
    pairs = [[(nice(w), nice(h)) for w, h in lv.shapes] for lv in levels]
    made = [np.array(p, dtype=np.float64) for p in pairs]
    error, exact = _levels_error(levels, made)
    lines = _header(
        "MMDetection YOLOAnchorGenerator",
        [
            "units: pixels of the network input; base_sizes are (w, h) pairs per level, used "
            "as they are",
            "levels coarsest first, as MMDetection's YOLOv3 configs list them (keep strides in "
            "the head's featmap_strides order)",
            "AnchorGenerator (scales x ratios) cannot make these shapes; YOLOAnchorGenerator "
            "centres them at stride / 2",
        ],
        levels,
        anchor_set.input_size,
    )
    lines += _fit_lines(error, exact, True, "rounding", sum(len(p) for p in pairs))
    body = ["anchor_generator = dict(", "    type='YOLOAnchorGenerator',", "    base_sizes=["]
    for level_pairs in pairs:
        inner = ", ".join(f"({format_number(w)}, {format_number(h)})" for w, h in level_pairs)
        body.append(f"        [{inner}],")
    body += [
        "    ],",
        f"    strides={_py_list([lv.stride or 0.0 for lv in levels], format_number)},",
        ")",
    ]
    return "\n".join(lines + body) + "\n"


def _export_yolo(anchor_set: AnchorSet) -> str:
    levels = _ordered(anchor_set)
    pairs = [[(nice(w), nice(h)) for w, h in lv.shapes] for lv in levels]
    made = [np.array(p, dtype=np.float64) for p in pairs]
    error, exact = _levels_error(levels, made)
    lines = _header(
        "YOLO anchors (YOLOv5 model YAML; darknet [yolo] anchors hold the same numbers)",
        [
            "units: pixels of the network input; each level lists w,h pairs, finest level "
            "(P3) first",
        ],
        levels,
        anchor_set.input_size,
    )
    lines += _fit_lines(error, exact, True, "rounding", sum(len(p) for p in pairs))
    lines.append("anchors:")
    for index, (level, level_pairs) in enumerate(zip(levels, pairs, strict=True)):
        inner = ", ".join(f"{format_number(w)},{format_number(h)}" for w, h in level_pairs)
        lines.append(f"  - [{inner}]  # {_yolo_label(level.stride, index)}")
    return "\n".join(lines) + "\n"


def _yolo_label(stride: float | None, index: int) -> str:
    if stride is None:
        return f"level {index}"
    power = math.log2(stride)
    if power.is_integer():
        return f"P{int(power)}/{format_number(stride)}"
    return f"stride {format_number(stride)}"


def _export_tf(anchor_set: AnchorSet) -> str:
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
    whole = [max(1, round(level.stride or 1.0)) for level in levels]
    rounded = [
        f"{format_number(lv.stride or 0.0)} -> {w}"
        for lv, w in zip(levels, whole, strict=True)
        if lv.stride != w
    ]
    sizes = [[nice(math.sqrt(w * h)) for w, h in lv.shapes] for lv in levels]
    ratios = [[nice(w / h) for w, h in lv.shapes] for lv in levels]
    made = [tf_flexible_shapes(s, r) for s, r in zip(sizes, ratios, strict=True)]
    error, exact = _levels_error(levels, made)
    lines = _header(
        "TensorFlow Object Detection API flexible_grid_anchor_generator (text proto)",
        [
            "units: pixels of the network input; base_sizes[i] = sqrt(w * h) and "
            "aspect_ratios[i] = width / height make shape i",
            "normalize_coordinates (default true) divides by the image size afterwards, as SSD "
            "models need",
            "centres: height_offset / width_offset (pixels, default 0) place cell (0, 0)",
        ],
        levels,
        anchor_set.input_size,
    )
    if rounded:
        lines.append(
            "# note: the proto holds whole-pixel strides (uint32); written rounded: "
            + ", ".join(rounded)
        )
    lines += _fit_lines(error, exact, True, "float32 rounding", sum(len(s) for s in sizes))
    lines += ["anchor_generator {", "  flexible_grid_anchor_generator {"]
    for stride, level_sizes, level_ratios in zip(whole, sizes, ratios, strict=True):
        lines += [
            "    anchor_grid {",
            f"      base_sizes: {_proto_list(level_sizes, _format_ratio)}",
            f"      aspect_ratios: {_proto_list(level_ratios, _format_ratio)}",
            f"      height_stride: {stride}",
            f"      width_stride: {stride}",
            "    }",
        ]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _export_tf_grid(anchor_set: AnchorSet, level: LevelShapes, fit: ProductFit) -> str:
    lines = _header(
        "TensorFlow Object Detection API grid_anchor_generator (text proto)",
        [
            "units: pixels of the network input; each shape = scale * 256 px (the default "
            "height and width) at one aspect ratio",
            "aspect_ratios = width / height (2 is wide, 0.5 is tall); per cell, for each ratio "
            "every scale",
        ],
        [level],
        anchor_set.input_size,
    )
    lines += _fit_lines(fit.error, fit.exact, fit.same_order, "", len(level.shapes))
    lines += [
        "anchor_generator {",
        "  grid_anchor_generator {",
        f"    scales: {_proto_list(fit.scales, _format_ratio)}",
        f"    aspect_ratios: {_proto_list(fit.ratios, _format_ratio)}",
    ]
    if level.stride is not None and float(level.stride).is_integer():
        lines += [
            f"    height_stride: {format_number(level.stride)}",
            f"    width_stride: {format_number(level.stride)}",
        ]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


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
    return _py_tuple_of([_py_tuple(v, fmt) for v in values])


def _py_tuple_of(items: Sequence[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _py_per_level(ratios: Sequence[Sequence[float]]) -> str:
    """torchvision's own idiom ``((0.5, 1.0, 2.0),) * 5`` when every level shares the list."""
    if len(ratios) > 1 and all(r == ratios[0] for r in ratios):
        return f"({_py_tuple(ratios[0], _format_ratio)},) * {len(ratios)}"
    return _py_nested(ratios, _format_ratio)


def _yaml_nested(values: Sequence[Sequence[float]], fmt: Callable[[float], str]) -> str:
    return "[" + ", ".join(_py_list(v, fmt) for v in values) + "]"


def _proto_list(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


_WRITERS: dict[str, Callable[[AnchorSet], str]] = {
    "torchvision": _export_torchvision,
    "mmdet": _export_mmdet,
    "detectron2": _export_detectron2,
    "yolo": _export_yolo,
    "tf": _export_tf,
}


# --------------------------------------------------------------------------- parsing


def parse_export(text: str, target: str) -> AnchorSet:
    """The AnchorSet a snippet written by :func:`export` makes in its framework.

    Reads only the syntax :func:`export` writes (no code is evaluated); the shapes are those
    the framework makes from the snippet's values (torchvision's rounding included), the
    strides and input size come from the snippet's body or its header.
    """
    parser = _PARSERS.get(target)
    if parser is None:
        raise AnchorError(f"export target {target!r}: choose one of {', '.join(TARGETS)}")
    return parser(text)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _parse_nested(text: str, start: int, where: str) -> tuple[Any, int]:
    """A bracketed list/tuple of numbers (nested) at ``text[start:]``: ``(value, end)``."""
    pos = _skip(text, start)
    if pos >= len(text) or text[pos] not in "[(":
        raise AnchorError(f"{where}: expected '[' or '(' at offset {pos}")
    closer = "]" if text[pos] == "[" else ")"
    items: list[Any] = []
    pos += 1
    while True:
        pos = _skip(text, pos)
        if pos >= len(text):
            raise AnchorError(f"{where}: a bracket is never closed")
        if text[pos] == closer:
            return items, pos + 1
        if text[pos] in "[(":
            item, pos = _parse_nested(text, pos, where)
        else:
            match = _NUMBER.match(text, pos)
            if match is None:
                snippet = text[pos : pos + 12].split("\n")[0]
                raise AnchorError(f"{where}: expected a number, found {snippet!r}")
            item, pos = float(match.group()), match.end()
        items.append(item)
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != closer:
            raise AnchorError(f"{where}: expected ',' or {closer!r}, found {text[pos]!r}")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _value_after(text: str, key: str, where: str, *, required: bool = True) -> Any:
    match = re.search(rf"(?m)^\s*{re.escape(key)}\s*[:=]\s*", text)
    if match is None:
        if required:
            raise AnchorError(f"{where}: no {key!r} found (expected what anchorctl export writes)")
        return None
    return _parse_nested(text, match.end(), f"{where}: {key}")


def _header_info(text: str, where: str) -> tuple[tuple[int, int] | None, list[float | None]]:
    size = re.search(r"(?m)^# input size \(px\): (\S+)\s*$", text)
    strides = re.search(r"(?m)^# strides \(px\): (.*?)\s*$", text)
    if size is None or strides is None:
        raise AnchorError(
            f"{where}: the '# input size (px):' and '# strides (px):' header lines are missing"
        )
    input_size: tuple[int, int] | None = None
    if size.group(1) != "unknown":
        parts = re.fullmatch(r"(\d+)x(\d+)", size.group(1))
        if parts is None:
            raise AnchorError(f"{where}: input size {size.group(1)!r} is not WxH")
        input_size = (int(parts.group(1)), int(parts.group(2)))
    values: list[float | None] = []
    for item in strides.group(1).split(","):
        item = item.strip()
        if item == "?":
            values.append(None)
        elif _NUMBER.fullmatch(item):
            values.append(float(item))
        else:
            raise AnchorError(f"{where}: stride {item!r} is not a number or '?'")
    return input_size, values


def _floats(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, float) for v in value):
        raise AnchorError(f"{where}: expected a flat list of numbers")
    return list(value)


def _lists(value: Any, where: str) -> list[list[float]]:
    if not isinstance(value, list) or not value:
        raise AnchorError(f"{where}: expected a list with one list of numbers per level")
    return [_floats(v, where) for v in value]


def _levels(
    shapes: Sequence[FloatArray], strides: Sequence[float | None], where: str
) -> tuple[LevelShapes, ...]:
    if len(strides) != len(shapes):
        raise AnchorError(f"{where}: {len(shapes)} levels but {len(strides)} strides in the header")
    return tuple(
        LevelShapes(tuple((float(w), float(h)) for w, h in s), st)
        for s, st in zip(shapes, strides, strict=True)
    )


def _parse_torchvision(text: str) -> AnchorSet:
    where = "torchvision snippet"
    input_size, strides = _header_info(text, where)
    sizes = _lists(_value_after(text, "sizes", where)[0], f"{where}: sizes")
    ratio_value, end = _value_after(text, "aspect_ratios", where)
    repeat = re.match(r"\s*\*\s*(\d+)", text[end:])
    ratios = _lists(ratio_value, f"{where}: aspect_ratios")
    if repeat is not None:
        ratios = ratios * int(repeat.group(1))
    if len(ratios) != len(sizes):
        raise AnchorError(f"{where}: {len(sizes)} size tuples but {len(ratios)} ratio tuples")
    shapes = [_make_torchvision(1.0, s, r) for s, r in zip(sizes, ratios, strict=True)]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_detectron2(text: str) -> AnchorSet:
    where = "detectron2 snippet"
    input_size, strides = _header_info(text, where)
    sizes = _lists(_value_after(text, "SIZES", where)[0], f"{where}: SIZES")
    ratios = _lists(_value_after(text, "ASPECT_RATIOS", where)[0], f"{where}: ASPECT_RATIOS")
    if len(ratios) == 1:
        ratios = ratios * len(sizes)
    if len(ratios) != len(sizes):
        raise AnchorError(f"{where}: {len(sizes)} SIZES lists but {len(ratios)} ASPECT_RATIOS")
    shapes = [_make_detectron2(1.0, s, r) for s, r in zip(sizes, ratios, strict=True)]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_mmdet(text: str) -> AnchorSet:
    where = "mmdet snippet"
    input_size, _ = _header_info(text, where)
    kind = re.search(r"type='(\w+)'", text)
    if kind is None or kind.group(1) not in ("AnchorGenerator", "YOLOAnchorGenerator"):
        raise AnchorError(f"{where}: expected type='AnchorGenerator' or 'YOLOAnchorGenerator'")
    strides = _floats(_value_after(text, "strides", where)[0], f"{where}: strides")
    if kind.group(1) == "YOLOAnchorGenerator":
        value = _value_after(text, "base_sizes", where)[0]
        if not isinstance(value, list) or len(value) != len(strides):
            raise AnchorError(f"{where}: base_sizes needs one list of (w, h) per stride")
        shapes = []
        for level in value:
            pairs = [_floats(p, f"{where}: base_sizes") for p in level]
            if not pairs or any(len(p) != 2 for p in pairs):
                raise AnchorError(f"{where}: base_sizes: expected (w, h) pairs")
            shapes.append(np.array(pairs, dtype=np.float64))
    else:
        scales = _floats(_value_after(text, "scales", where)[0], f"{where}: scales")
        ratios = _floats(_value_after(text, "ratios", where)[0], f"{where}: ratios")
        given = _value_after(text, "base_sizes", where, required=False)
        bases = strides if given is None else _floats(given[0], f"{where}: base_sizes")
        if len(bases) != len(strides):
            raise AnchorError(f"{where}: {len(strides)} strides but {len(bases)} base_sizes")
        shapes = [_make_mmdet(b, scales, ratios) for b in bases]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_yolo(text: str) -> AnchorSet:
    where = "yolo snippet"
    input_size, strides = _header_info(text, where)
    start = re.search(r"(?m)^anchors:\s*$", text)
    if start is None:
        raise AnchorError(f"{where}: no 'anchors:' line")
    shapes = []
    for line in text[start.end() :].splitlines():
        if not line.strip():
            continue
        item = re.match(r"\s+-\s+", line)
        if item is None:
            break
        numbers = _floats(_parse_nested(line, item.end(), where)[0], where)
        if not numbers or len(numbers) % 2:
            raise AnchorError(f"{where}: {line.strip()!r} is not a list of w,h pairs")
        shapes.append(np.array(numbers, dtype=np.float64).reshape(-1, 2))
    if not shapes:
        raise AnchorError(f"{where}: 'anchors:' lists no levels")
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_tf(text: str) -> AnchorSet:
    where = "tf snippet"
    input_size, _ = _header_info(text, where)
    if re.search(r"(?m)^\s*flexible_grid_anchor_generator\s*\{", text):
        blocks = re.findall(r"anchor_grid\s*\{([^{}]*)\}", text)
        if not blocks:
            raise AnchorError(f"{where}: flexible_grid_anchor_generator has no anchor_grid")
        shapes, strides = [], []
        for block in blocks:
            sizes = _floats(_value_after(block, "base_sizes", where)[0], f"{where}: base_sizes")
            ratios = _floats(
                _value_after(block, "aspect_ratios", where)[0], f"{where}: aspect_ratios"
            )
            if len(sizes) != len(ratios):
                raise AnchorError(
                    f"{where}: {len(sizes)} base_sizes but {len(ratios)} aspect_ratios in a grid"
                )
            shapes.append(tf_flexible_shapes(sizes, ratios))
            strides.append(_scalar(block, "height_stride", where))
        return AnchorSet(_levels(shapes, strides, where), input_size)
    if re.search(r"(?m)^\s*grid_anchor_generator\s*\{", text):
        scales = _floats(_value_after(text, "scales", where)[0], f"{where}: scales")
        ratios = _floats(_value_after(text, "aspect_ratios", where)[0], f"{where}: aspect_ratios")
        stride = _scalar(text, "height_stride", where)
        return AnchorSet(
            _levels([_make_tf_grid(TF_BASE, scales, ratios)], [stride], where), input_size
        )
    raise AnchorError(
        f"{where}: expected a grid_anchor_generator or flexible_grid_anchor_generator block"
    )


def _scalar(text: str, key: str, where: str) -> float | None:
    match = re.search(rf"(?m)^\s*{key}\s*:\s*(\S+)\s*$", text)
    if match is None:
        return None
    if not _NUMBER.fullmatch(match.group(1)):
        raise AnchorError(f"{where}: {key} {match.group(1)!r} is not a number")
    return float(match.group(1))


_PARSERS: dict[str, Callable[[str], AnchorSet]] = {
    "torchvision": _parse_torchvision,
    "mmdet": _parse_mmdet,
    "detectron2": _parse_detectron2,
    "yolo": _parse_yolo,
    "tf": _parse_tf,
}


def _whole(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, float) and value.is_integer()
