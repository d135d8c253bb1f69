"""IoU k-means: ``k`` anchor shapes that fit a set of box shapes (the start of every fit).

**Clustering** (:func:`kmeans_anchors`). Boxes are compared as *centred shapes*: two boxes of
widths and heights ``(w1, h1)``, ``(w2, h2)`` placed on the same centre overlap by
``min(w1, w2) * min(h1, h2)``, so their IoU is that over ``w1*h1 + w2*h2 - overlap``, and the
distance is ``d = 1 - IoU`` (the YOLOv2 paper's, and MMDetection ``optimize_anchors.py``'s,
choice: Euclidean distance would let large boxes dominate). The steps:

* **Initialisation: greedy k-means++** with ``numpy.random.default_rng(seed)``: the first
  centre is a box drawn uniformly; for each next one, ``2 + floor(ln k)`` boxes are drawn with
  probability proportional to ``d^2`` to their nearest chosen centre, and the one that lowers
  the total ``d^2`` most is kept (as scikit-learn's ``KMeans`` seeds).
* **Iteration** (Lloyd): every box joins the centre of highest IoU (the first on ties); each
  centre becomes the **mean** of its members' widths and heights (``method="means"``) or,
  for ``method="medians"``, their per-axis **median** (the average of the two middle values
  when the count is even, as ``numpy.median``). A centre left without members is moved onto
  the box of lowest best IoU (the first such box), so k stays k and the result stays
  deterministic. Iteration stops when no box changes centre, or after ``max_iter`` updates.
* **Result**: the centres sorted by area (then width), the mean over boxes of each box's best
  IoU with them, and each box's best anchor.

Everything is deterministic for a seed: the random draws come from one seeded generator and
every other step is fixed-order numpy. Identical ``(w, h)`` rows are clustered once with a
weight (their count), which changes no result and makes datasets of whole-pixel boxes cheap;
IoU is computed in blocks of :data:`CHUNK` boxes, so memory stays near ``N + CHUNK * k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METHODS = ("means", "medians")
CHUNK = 1 << 15  # boxes per IoU block: a few float64 buffers of CHUNK, cache-sized


@dataclass(frozen=True)
class Suggestion:
    """The result of :func:`kmeans_anchors`.

    ``anchors`` is ``(k, 2)`` float64 ``[w, h]`` in the boxes' units (input pixels), sorted by
    area, then width; ``assignments`` ``(N,)`` int64 is each box's anchor of highest centred
    IoU (the first on ties) and ``best_iou`` ``(N,)`` that IoU; ``mean_iou`` is
    ``best_iou.mean()``. ``iterations`` counts centre updates; ``converged`` says whether the
    last one moved no box. ``seed`` is ``None`` when the iteration started from given centres.
    """

    anchors: FloatArray = field(repr=False)
    mean_iou: float
    assignments: IntArray = field(repr=False)
    best_iou: FloatArray = field(repr=False)
    iterations: int
    converged: bool
    method: str
    seed: int | None


def kmeans_anchors(
    wh: npt.ArrayLike,
    k: int,
    *,
    seed: int = 0,
    method: str = "means",
    max_iter: int = 300,
) -> Suggestion:
    """``k`` anchor shapes for boxes ``wh`` by IoU k-means (see the module notes).

    ``wh`` is ``(N, 2)`` box widths and heights in input pixels, each positive and finite;
    ``k`` at most the number of distinct ``(w, h)`` rows. Same ``wh``, ``k``, ``seed``,
    ``method`` and ``max_iter``: same result, bit for bit.
    """
    boxes = _checked_boxes(wh)
    _check_method(method, max_iter)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AnchorError(f"--seed: {seed!r} is not a whole number >= 0")
    points, weights, inverse = _distinct(boxes)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise AnchorError(f"--k: {k!r} is not a number of anchors; give a whole number >= 1")
    if k > len(points):
        raise AnchorError(
            f"--k: {k} anchors but the boxes have only {len(points)} distinct shapes; give "
            f"--k {len(points)} or fewer"
        )
    rng = np.random.default_rng(int(seed))
    centres = _kmeans_pp(points, weights, int(k), rng)
    centres, iterations, converged = _lloyd(points, weights, centres, method, max_iter)
    return _result(points, weights, inverse, centres, iterations, converged, method, int(seed))


def refine_anchors(
    wh: npt.ArrayLike,
    anchors: npt.ArrayLike,
    *,
    method: str = "means",
    max_iter: int = 300,
) -> Suggestion:
    """The iteration of :func:`kmeans_anchors`, started from given ``(k, 2)`` ``anchors``.

    Useful to improve a model's current anchors rather than start afresh. Duplicate or idle
    starting anchors are moved onto badly covered boxes, as in :func:`kmeans_anchors`.
    """
    boxes = _checked_boxes(wh)
    _check_method(method, max_iter)
    start = np.array(anchors, dtype=np.float64)
    if start.ndim != 2 or start.shape[1] != 2 or len(start) == 0:
        raise AnchorError(
            f"anchors: expected a (k, 2) list of [w, h] pairs, got shape {start.shape}"
        )
    if not (np.isfinite(start).all() and (start > 0).all()):
        raise AnchorError("anchors: every width and height must be a positive finite number")
    points, weights, inverse = _distinct(boxes)
    if len(start) > len(points):
        raise AnchorError(
            f"anchors: {len(start)} given but the boxes have only {len(points)} distinct shapes"
        )
    centres, iterations, converged = _lloyd(points, weights, start, method, max_iter)
    return _result(points, weights, inverse, centres, iterations, converged, method, None)


def _checked_boxes(wh: npt.ArrayLike) -> FloatArray:
    try:
        boxes = np.array(wh, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnchorError("boxes: expected an (N, 2) array of widths and heights") from None
    if boxes.size == 0:
        raise AnchorError("boxes: none to cluster (every box was skipped or filtered out)")
    if boxes.ndim != 2 or boxes.shape[1] != 2:
        raise AnchorError(
            f"boxes: expected an (N, 2) array of widths and heights, got shape {boxes.shape}"
        )
    bad = ~(np.isfinite(boxes).all(axis=1) & (boxes > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        w, h = boxes[i]
        raise AnchorError(
            f"boxes: box {i} is {w:g} x {h:g}; widths and heights must be positive finite "
            f"pixels ({int(bad.sum())} such boxes)"
        )
    return boxes


def _check_method(method: str, max_iter: int) -> None:
    if method not in METHODS:
        raise AnchorError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise AnchorError(f"--max-iter: {max_iter!r} is not a whole number >= 1")


def _distinct(boxes: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Distinct ``(M, 2)`` rows (sorted by w, then h), their ``(M,)`` counts, and the inverse.

    A float64 pair viewed as one complex128 sorts by real (w) then imaginary (h) part, which
    makes this a fast 1-D ``np.unique``.
    """
    keys = np.ascontiguousarray(boxes).view(np.complex128).ravel()
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    points = np.ascontiguousarray(unique).view(np.float64).reshape(-1, 2)
    return points, counts.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def _best(points: FloatArray, anchors: FloatArray) -> tuple[FloatArray, IntArray]:
    """Each point's best centred IoU ``(M,)`` and the index ``(M,)`` of that anchor.

    One anchor at a time over blocks of :data:`CHUNK` points, in preallocated buffers: k is
    small, so ``k`` passes over contiguous 1-D blocks beat ``(M, k)`` temporaries (half the
    time on 860k boxes). A later anchor wins only when strictly better: ties go to the first,
    as ``argmax``.
    """
    n = len(points)
    best = np.empty(n, dtype=np.float64)
    index = np.empty(n, dtype=np.int64)
    width = np.ascontiguousarray(points[:, 0])
    height = np.ascontiguousarray(points[:, 1])
    area = width * height
    aw, ah = anchors[:, 0], anchors[:, 1]
    a_area = aw * ah
    size = min(CHUNK, n)
    inter, union = np.empty(size), np.empty(size)
    better = np.empty(size, dtype=np.bool_)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        m = stop - start
        w, h, a = width[start:stop], height[start:stop], area[start:stop]
        x, u, g = inter[:m], union[:m], better[:m]
        b, i = best[start:stop], index[start:stop]
        for j in range(len(anchors)):
            np.minimum(w, aw[j], out=x)
            np.multiply(x, np.minimum(h, ah[j], out=u), out=x)  # overlap of centred shapes
            np.subtract(np.add(a, a_area[j], out=u), x, out=u)  # union
            np.divide(x, u, out=x)
            if j == 0:
                b[:] = x
                i[:] = 0
            else:
                np.greater(x, b, out=g)
                np.maximum(b, x, out=b)
                i[g] = j
    return best, index


def _kmeans_pp(
    points: FloatArray, weights: IntArray, k: int, rng: np.random.Generator
) -> FloatArray:
    """Greedy k-means++ seeding with distance ``1 - IoU``; a point of weight c counts as c boxes.

    Each step draws ``2 + floor(ln k)`` candidates with probability proportional to ``d^2`` and
    keeps the one that lowers the total ``d^2`` most (scikit-learn's default): plain
    k-means++ sometimes puts two seeds in one cluster, a local optimum Lloyd cannot leave.
    """
    trials = 2 + int(math.log(k))
    w = weights.astype(np.float64)
    first = _draw(np.cumsum(w), rng)
    centres = [points[first]]
    best = _best(points, points[first : first + 1])[0]
    for _ in range(1, k):
        cumulative = np.cumsum(w * (1.0 - best) ** 2)
        chosen, chosen_best, chosen_cost = -1, best, math.inf
        for _ in range(trials):
            candidate = _draw(cumulative, rng)
            if candidate < 0:
                candidate = int(np.argmin(best))
            trial = np.maximum(best, _best(points, points[candidate : candidate + 1])[0])
            cost = float(np.einsum("i,i->", w, (1.0 - trial) ** 2))  # not BLAS: see objectives.wsum
            if cost < chosen_cost:
                chosen, chosen_best, chosen_cost = candidate, trial, cost
        centres.append(points[chosen])
        best = chosen_best
    return np.array(centres, dtype=np.float64)


def _draw(cumulative: FloatArray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to its step in ``cumulative``.

    ``-1`` when every step is zero (shapes so alike that their IoU rounds to 1).
    """
    total = float(cumulative[-1])
    if not total > 0:
        return -1
    index = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
    if index >= len(cumulative):  # rounding put the draw on the total: take the last real step
        steps = np.flatnonzero(np.diff(cumulative, prepend=0.0) > 0)
        index = int(steps[-1])
    return index


def _lloyd(
    points: FloatArray, weights: IntArray, centres: FloatArray, method: str, max_iter: int
) -> tuple[FloatArray, int, bool]:
    """Assign, update, repeat: ``(centres, updates made, converged)``."""
    # medians: each axis sorted once (the values and weights never change, only the labels)
    axes = []
    if method == "medians":
        axes = [_SortedAxis.of(points[:, axis], weights) for axis in (0, 1)]
    previous: IntArray | None = None
    centres = centres.copy()
    for iteration in range(max_iter + 1):
        best, assign = _best(points, centres)
        if previous is not None and np.array_equal(assign, previous):
            return centres, iteration, True
        if iteration == max_iter:
            break
        centres = _update(points, weights, assign, best, centres, axes)
        previous = assign
    return centres, max_iter, False


@dataclass(frozen=True)
class _SortedAxis:
    """One axis of the distinct points in ascending order: the order, values and weights."""

    order: IntArray
    values: FloatArray
    weights: IntArray

    @classmethod
    def of(cls, values: FloatArray, weights: IntArray) -> _SortedAxis:
        order = np.argsort(values, kind="stable").astype(np.int64)
        return cls(order, values[order], weights[order])


def _update(
    points: FloatArray,
    weights: IntArray,
    assign: IntArray,
    best: FloatArray,
    centres: FloatArray,
    axes: list[_SortedAxis],
) -> FloatArray:
    """New centres from the members of each (means, or medians when the sorted ``axes`` are
    given); idle centres re-seeded on the worst-covered box."""
    k = len(centres)
    totals = np.bincount(assign, weights=weights, minlength=k)
    new = centres.copy()
    members = totals > 0
    for axis in (0, 1):
        if axes:
            medians = _weighted_medians(axes[axis], assign, k)
            new[members, axis] = medians[members]
        else:
            sums = np.bincount(assign, weights=weights * points[:, axis], minlength=k)
            new[members, axis] = sums[members] / totals[members]
    best = best.copy()
    for j in np.flatnonzero(~members):
        worst = int(np.argmin(best))
        new[j] = points[worst]
        best = np.maximum(best, _best(points, new[j : j + 1])[0])
    return new


def _weighted_medians(axis: _SortedAxis, labels: IntArray, k: int) -> FloatArray:
    """Per label, the weighted median of the axis's values (NaN for labels without members).

    The average of the lower and upper weighted medians - the first member at which the
    cumulative weight reaches half the label's total, and the first at which it passes it -
    which for unit weights is ``numpy.median`` (the middle value, or the mean of the two middle
    values). A stable sort of the labels along the presorted values groups each label's values
    in ascending order (int16 keys take numpy's radix sort); integer weights keep the half-way
    test exact.
    """
    member_of = labels[axis.order]
    key = member_of.astype(np.int16) if k < (1 << 15) else member_of
    perm = np.argsort(key, kind="stable")
    twice = 2 * np.cumsum(axis.weights[perm])  # strictly increasing: weights are >= 1
    totals = np.bincount(member_of, weights=axis.weights, minlength=k).astype(np.int64)
    before = np.concatenate(([0], np.cumsum(totals)[:-1]))  # weight of the labels before
    half_way = totals + 2 * before  # 2 * (before + total / 2), in integers
    lower = np.searchsorted(twice, half_way, side="left")
    upper = np.searchsorted(twice, half_way, side="right")
    out = np.full(k, np.nan)
    has = totals > 0
    out[has] = 0.5 * (axis.values[perm[lower[has]]] + axis.values[perm[upper[has]]])
    return out


def _result(
    points: FloatArray,
    weights: IntArray,
    inverse: IntArray,
    centres: FloatArray,
    iterations: int,
    converged: bool,
    method: str,
    seed: int | None,
) -> Suggestion:
    area = centres[:, 0] * centres[:, 1]
    anchors = centres[np.lexsort((centres[:, 1], centres[:, 0], area))]
    best, index = _best(points, anchors)
    mean_iou = float(np.einsum("i,i->", weights, best) / weights.sum())
    return Suggestion(
        anchors=anchors,
        mean_iou=mean_iou,
        assignments=index[inverse],
        best_iou=best[inverse],
        iterations=iterations,
        converged=converged,
        method=method,
        seed=seed,
    )


def cluster(
    points: FloatArray,
    weights: IntArray,
    k: int,
    *,
    seed: int,
    method: str = "means",
    max_iter: int = 300,
) -> FloatArray:
    """IoU k-means on distinct weighted shapes: ``(k, 2)`` centres, sorted by area then width.

    ``points`` ``(M, 2)`` distinct ``[w, h]`` (pixels) and ``weights`` ``(M,)`` whole counts
    >= 1, ``k <= M``; the same steps as :func:`kmeans_anchors` (for which identical rows are
    merged first), for callers that already hold weighted rows.
    """
    _check_method(method, max_iter)
    rng = np.random.default_rng(int(seed))
    centres = _kmeans_pp(points, weights, int(k), rng)
    centres, _, _ = _lloyd(points, weights, centres, method, max_iter)
    area = centres[:, 0] * centres[:, 1]
    out: FloatArray = centres[np.lexsort((centres[:, 1], centres[:, 0], area))]
    return out
