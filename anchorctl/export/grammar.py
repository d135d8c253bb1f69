"""How each framework makes one level's shapes, and the nearest such config to given shapes.

A :class:`Grammar` models one framework's *every size (or scale) x every ratio* product, with
its ratio definition, its slot order and its own dtype and rounding (anchorctl's convention
modules compute the shapes, so a torchvision snippet is judged by torchvision's rounding).
:func:`fit_product` finds the nearest product config to a set of shapes: in log space, the
ratios and the sizes are each clustered into the grid's rows and columns (optimal 1-D
k-means on the distinct values, trying every factorisation of the per-cell count), the
cluster centres are rounded to the fewest significant digits that keep the fit, and the
shapes the framework then makes are compared with the source.

The work is bounded whatever the input: values are deduplicated before clustering, a
factorisation that needs more distinct values than there are is skipped, the optimal
clustering gives way to equal-count groups past :data:`DP_BUDGET` operations, errors are
computed in blocks of rows, and rounding value by value is done in one pass past
:data:`ROUND_ONE_BY_ONE` values. 10,000 sizes export in well under a second.
"""

from __future__ import annotations

import itertools
import math
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
from anchorctl.errors import AnchorError

FloatArray = npt.NDArray[np.float64]

# Relative width/height difference under which two shapes count as the same: float32 keeps
# about 7 significant digits, and measured extents are differences of float32 corners.
EXACT_TOL = 1e-5

# How far rounding a value of an exact config to fewer digits may move a shape.
SNAP_TOL = 1e-6

TF_BASE = 256.0  # grid_anchor_generator's default base_anchor_size (height and width)

# Above this many operations (groups x distinct values^2) the optimal 1-D clustering gives
# way to equal-count groups of the sorted values.
DP_BUDGET = 20_000_000

# Past this many values, rounding tries each value's digits on its own in one pass.
ROUND_ONE_BY_ONE = 24

# Pairs of the (source x made) error matrix computed at once (8 MB of float64 per buffer).
ERROR_CELLS = 1 << 20
ERROR_BLOCK = 2048  # up to this many shapes, exact sets get their nearest errors too


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


def _paired_errors(source: FloatArray, made: FloatArray) -> FloatArray:
    """``(n,)``: the error of made shape ``i`` against source shape ``i`` (equal counts)."""
    out: FloatArray = np.maximum(
        np.abs(made[:, 0] / source[:, 0] - 1.0), np.abs(made[:, 1] / source[:, 1] - 1.0)
    )
    return out


def nearest_errors(source: FloatArray, made: FloatArray) -> FloatArray:
    """``(n,)``: each source shape's error against its nearest made shape.

    Small sets: the whole ``(n, m)`` error matrix in blocks of about ``ERROR_CELLS`` pairs.
    Large ones: the made shapes sorted by width; a first candidate (the nearest width) bounds
    the error ``e``, and only made shapes with a width within ``(1 -+ e)`` of the source's can
    beat it, so each source shape looks at that window only. Exact either way.
    """
    n, m = len(source), len(made)
    if n * m <= 4 * ERROR_CELLS:
        return _nearest_errors_brute(source, made)
    order = np.argsort(made[:, 0], kind="stable")
    sorted_made = made[order]
    widths = sorted_made[:, 0]
    at = np.clip(np.searchsorted(widths, source[:, 0]), 0, m - 1)
    best = np.minimum(
        _paired_errors(source, sorted_made[at]),
        _paired_errors(source, sorted_made[np.maximum(at - 1, 0)]),
    )
    low = np.searchsorted(widths, source[:, 0] * (1.0 - best), side="left")
    high = np.searchsorted(widths, source[:, 0] * (1.0 + best), side="right")
    for i in np.flatnonzero(high > low):
        window = sorted_made[low[i] : high[i]]
        errors = np.maximum(
            np.abs(window[:, 0] / source[i, 0] - 1.0), np.abs(window[:, 1] / source[i, 1] - 1.0)
        )
        best[i] = min(best[i], float(errors.min()))
    out: FloatArray = best
    return out


def _nearest_errors_brute(source: FloatArray, made: FloatArray) -> FloatArray:
    out = np.empty(len(source))
    rows = max(1, ERROR_CELLS // max(1, len(made)))
    mw, mh = made[None, :, 0], made[None, :, 1]
    for start in range(0, len(source), rows):
        part = source[start : start + rows]
        rw = mw / part[:, None, 0]
        rw -= 1.0
        np.abs(rw, out=rw)
        rh = mh / part[:, None, 1]
        rh -= 1.0
        np.abs(rh, out=rh)
        np.maximum(rw, rh, out=rw)
        out[start : start + len(part)] = rw.min(axis=1)
    return out


def shape_error(source: FloatArray, made: FloatArray) -> tuple[float, bool]:
    """``(error, exact)``: the largest error of a source shape against its nearest made shape,
    and whether the two sets are the same (equal counts, within :data:`EXACT_TOL` both ways)."""
    if len(source) == len(made):
        paired = float(_paired_errors(source, made).max())
        if paired <= EXACT_TOL:  # the same shapes in the same order: exact either way
            if len(source) > ERROR_BLOCK:  # the paired error bounds the nearest one
                return paired, True
            return float(nearest_errors(source, made).max()), True
    forward = float(nearest_errors(source, made).max())
    if len(source) != len(made) or forward > EXACT_TOL:
        return forward, False
    backward = float(nearest_errors(made, source).max())
    return forward, backward <= EXACT_TOL


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
    distinct_r = len(np.unique(pooled_r))
    distinct_s = len(np.unique(pooled_s))
    for count in sorted({len(s) for s in srcs}):
        options = [nr for nr in _divisors(count) if nr <= distinct_r and count // nr <= distinct_s]
        if not options:  # repeated shapes: the closest product has every distinct value
            options = [min(distinct_r, count)]
        for nr in options:
            groups_r = _cluster_1d(pooled_r, nr)
            groups_s = _cluster_1d(pooled_s, max(1, count // nr))
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
    """1-D k-means: the ``groups`` clusters (ascending) of the least-squares partition.

    The distinct values are clustered with their counts as weights, by dynamic programming
    (clusters of sorted data are contiguous; ties go to the first split, so the result is
    deterministic), in ``O(groups x distinct^2)`` time and ``O(distinct)`` memory; past
    :data:`DP_BUDGET` operations the sorted values are cut into equal-count groups instead.
    Each returned cluster holds the values it covers, repeats included.
    """
    x = np.sort(values)
    distinct, first, counts = np.unique(x, return_index=True, return_counts=True)
    u = len(distinct)
    if groups >= u:
        return [x[first[i] : first[i] + counts[i]] for i in range(u)]
    if groups * u * u > DP_BUDGET:
        return [g for g in np.array_split(x, groups) if len(g)]
    w = counts.astype(np.float64)
    s0 = np.concatenate(([0.0], np.cumsum(w)))
    s1 = np.concatenate(([0.0], np.cumsum(w * distinct)))
    s2 = np.concatenate(([0.0], np.cumsum(w * distinct * distinct)))
    dp = np.full(u + 1, np.inf)
    dp[0] = 0.0
    back = np.zeros((groups, u + 1), dtype=np.int64)
    starts = np.arange(u + 1)
    for g in range(groups):
        new = np.full(u + 1, np.inf)
        for j in range(1, u + 1):
            i = starts[:j]  # segment distinct[i:j]
            n = s0[j] - s0[i]
            cost = np.maximum((s2[j] - s2[i]) - (s1[j] - s1[i]) ** 2 / n, 0.0)
            total = dp[:j] + cost
            best = int(np.argmin(total))
            new[j], back[g, j] = total[best], best
        dp = new
    cuts = [u]
    for g in range(groups - 1, -1, -1):
        cuts.append(int(back[g, cuts[-1]]))
    cuts.reverse()
    out = []
    for a, b in itertools.pairwise(cuts):
        if b > a:
            out.append(x[first[a] : first[b - 1] + counts[b - 1]])
    return out


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
            and bool((_paired_errors(src, shapes) <= EXACT_TOL).all())
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
        ri = _nearest_index(_log_ratio(src, grammar.ratio), log_r)
        si = _nearest_index(0.5 * np.log(src[:, 0] * src[:, 1]) - math.log(base), log_c)
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


def _nearest_index(values: FloatArray, targets: FloatArray) -> npt.NDArray[np.int64]:
    """For each value, the index of the nearest target (the first of equals): ``O(n log m)``
    by a sorted search, where ``|values - targets|`` would take ``n x m`` memory."""
    order = np.argsort(targets, kind="stable")
    ordered = targets[order]
    right = np.clip(np.searchsorted(ordered, values), 0, len(ordered) - 1)
    left = np.clip(right - 1, 0, len(ordered) - 1)
    pick_left = np.abs(values - ordered[left]) <= np.abs(values - ordered[right])
    nearest = np.where(pick_left, left, right)
    # the first of equal targets, as argmin over the unsorted list would choose
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    first = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    out: npt.NDArray[np.int64] = first[nearest]
    return out


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
    limits: list[FloatArray] = []  # computed once, when first needed (an inexact fit)

    def accept(trial: ProductFit) -> bool:
        if fit.same_order and not trial.same_order:
            return False
        if trial.exact:  # and rounded no further than float32 noise (5.0396842, not 5.0397)
            return trial.error <= max(fit.error, SNAP_TOL) if fit.exact else True
        if fit.exact:
            return False
        if not limits:
            limits.append(_nearest_errors(srcs, fit) + 1e-4)
        return bool((_nearest_errors(srcs, trial) <= limits[0]).all())

    nb = len(fit.bases) if round_bases else 0
    original = [*fit.bases[:nb], *fit.scales, *fit.ratios]
    split = (nb, nb + len(fit.scales))

    def build(values: Sequence[float]) -> ProductFit:
        bases = list(values[: split[0]]) if round_bases else list(fit.bases)
        return _evaluate(srcs, grammar, bases, values[split[0] : split[1]], values[split[1] :])

    if len(original) > ROUND_ONE_BY_ONE:
        # Many values: each rounded on its own, well within the tolerance, in one evaluation.
        trial = build([nice(v, SNAP_TOL / 4) for v in original])
        return trial if accept(trial) else fit

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
        [nearest_errors(src, made) for src, made in zip(srcs, fit.shapes, strict=True)]
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


def format_ratio(x: float) -> str:
    """As :func:`format_number`, but a whole number keeps ``.0``: ratios read as floats."""
    return str(np.format_float_positional(float(x), unique=True, trim="0"))


def percent(error: float) -> str:
    return f"{100 * error:.3g}%"
