"""What a fit maximizes: a per-box gain against each anchor, best over the anchors, averaged.

Every objective here has the form ``score = sum_i c_i * max_k g(box_i, anchor_k) / sum_i c_i``
over weighted box rows ``i`` (``c_i`` counts identical rows) and anchor slots ``k``, all in
network-input pixels:

* ``mean-iou``: ``g`` is the IoU of the box and the anchor as *centred shapes*,
  ``min(w, aw) * min(h, ah) / (w*h + aw*ah - overlap)`` (the quantity IoU k-means and
  MMDetection's ``optimize_anchors.py`` maximize).
* ``bpr``: YOLOv5's anchor fitness (``utils/autoanchor.py``, ``kmean_anchors``): with the ratio
  metric ``x = min(min(w/aw, aw/w), min(h/ah, ah/h))`` (the worse side's ratio, 1 for equal
  shapes), ``g = x`` when ``x > 1/anchor_t`` and ``0`` otherwise; the best possible recall
  (BPR) is the share of boxes whose best ``x`` passes ``1/anchor_t``.
* ``recall``: *position-aware* recall at ``iou``: the IoU of the box with the anchor placed on
  its level's real grid, at the anchor centre nearest the box centre. Along each axis the
  overlap of two intervals shrinks as their centres part, and IoU grows with the overlap
  area, so the nearest column and the nearest row give the best IoU any cell of that level
  gives (exact for anchors whose corners are not clipped to the image). ``g = [IoU >= iou] +
  1e-3 * IoU``: recall first, ties broken by the mean position-aware IoU so that a search
  has a slope to climb between the steps of the count. The score *reported* is the plain
  recall (:func:`metrics`).

Arrays of gains are computed in blocks of :data:`BLOCK` elements, so memory stays bounded
whatever the number of rows, anchors or candidate anchor sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError
from anchorctl.fit.boxes import Boxes, HeldBoxes

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OBJECTIVES = ("mean-iou", "bpr", "recall")
BLOCK = 1 << 18  # elements per temporary block: 2 MiB of float64, near the cache (1.6x faster
# than 16 MiB blocks, measured on 524,239 boxes x 9 anchors)
TIE_BREAK = 1e-3  # weight of the mean IoU under the recall count (see the module notes)


def wsum(weight: FloatArray, values: FloatArray) -> float:
    """``sum(weight * values)`` for 1-D arrays, without BLAS: a multithreaded BLAS ``dot`` on
    a busy two-core machine was measured 100x slower than this for 40k values."""
    return float(np.einsum("i,i->", weight, values))


@dataclass(frozen=True)
class Objective:
    """Which objective, with YOLO's ratio threshold ``anchor_t`` and the recall IoU ``iou``."""

    name: str = "mean-iou"
    anchor_t: float = 4.0
    iou: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise AnchorError(f"--objective: {self.name!r} is not one of {', '.join(OBJECTIVES)}")
        if not (np.isfinite(self.anchor_t) and self.anchor_t > 1):
            raise AnchorError(f"--anchor-t: {self.anchor_t:g} is not a ratio > 1 (YOLOv5: 4)")
        if not 0 < self.iou <= 1:
            raise AnchorError(f"--iou: {self.iou:g} is not an IoU in (0, 1]")

    @property
    def positional(self) -> bool:
        """Whether the gain needs each box's offset from the anchor centres."""
        return self.name == "recall"

    def label(self) -> str:
        """How the score is named in reports."""
        if self.name == "bpr":
            return f"YOLOv5 anchor fitness (anchor_t {self.anchor_t:g})"
        if self.name == "recall":
            return f"position-aware recall at IoU {self.iou:g}"
        return "mean best IoU (centred shapes)"


@dataclass(frozen=True)
class Rows:
    """Weighted box rows for a fit, in network-input pixels.

    ``wh`` ``(M, 2)`` float64 widths and heights (each > 0); ``weight`` ``(M,)`` float64 (the
    number of boxes a row stands for); ``offset`` ``(L, 2, M)`` float64 ``(|dx|, |dy|)`` from
    each box centre to the nearest anchor centre of each of the ``L`` levels, or ``None`` for
    shape-only objectives (every offset 0).
    """

    wh: FloatArray
    weight: FloatArray
    offset: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.wh)

    def take(self, index: IntArray) -> Rows:
        """The rows at ``index`` (weights kept)."""
        offset = None if self.offset is None else np.ascontiguousarray(self.offset[:, :, index])
        return Rows(self.wh[index], self.weight[index], offset)


def pair_gain(
    w: FloatArray,
    h: FloatArray,
    ox: FloatArray | float,
    oy: FloatArray | float,
    aw: FloatArray,
    ah: FloatArray,
    objective: Objective,
) -> FloatArray:
    """``g`` of boxes ``(w, h)`` at centre offsets ``(ox, oy)`` >= 0 from anchors ``(aw, ah)``.

    All arguments broadcast; pixels in, float64 gains out (see the module notes).
    """
    if objective.name == "bpr":
        x = np.minimum(np.minimum(w, aw) / np.maximum(w, aw), np.minimum(h, ah) / np.maximum(h, ah))
        out: FloatArray = np.where(x > 1.0 / objective.anchor_t, x, 0.0)
        return out
    iou = position_iou(w, h, ox, oy, aw, ah)
    if objective.name == "recall":
        return (iou >= objective.iou) + TIE_BREAK * iou
    return iou


def position_iou(
    w: FloatArray,
    h: FloatArray,
    ox: FloatArray | float,
    oy: FloatArray | float,
    aw: FloatArray,
    ah: FloatArray,
) -> FloatArray:
    """IoU of a ``w x h`` box and an ``aw x ah`` anchor whose centres are ``(ox, oy)`` >= 0 apart.

    With offsets 0 this is the centred-shape IoU. Broadcasts; float64.
    """
    if isinstance(ox, float) and isinstance(oy, float) and ox == 0.0 and oy == 0.0:
        inter = np.minimum(w, aw) * np.minimum(h, ah)
        centred: FloatArray = inter / (w * h + aw * ah - inter)
        return centred
    ix = np.minimum(0.5 * w, ox + 0.5 * aw) - np.maximum(-0.5 * w, ox - 0.5 * aw)
    iy = np.minimum(0.5 * h, oy + 0.5 * ah) - np.maximum(-0.5 * h, oy - 0.5 * ah)
    inter = np.maximum(ix, 0.0) * np.maximum(iy, 0.0)
    union = w * h + aw * ah - inter
    out: FloatArray = inter / union
    return out


SMOOTH = 0.03  # IoU width of the logistic step that stands in for the recall count's slope


def pair_gradient(
    w: FloatArray,
    h: FloatArray,
    ox: FloatArray | float,
    oy: FloatArray | float,
    aw: FloatArray,
    ah: FloatArray,
    objective: Objective,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A smooth stand-in for ``g`` and its slopes: ``(s, ds/dlog aw, ds/dlog ah)``.

    ``s`` is ``g`` itself for ``mean-iou`` and ``bpr`` (piecewise smooth: the slopes are exact
    where they exist); for ``recall`` the count ``[IoU >= iou]`` becomes a logistic step of
    width :data:`SMOOTH` around ``iou``, which has a slope everywhere near it. Same
    broadcasting as :func:`pair_gain`; float64.
    """
    if objective.name == "bpr":
        rw = np.minimum(w, aw) / np.maximum(w, aw)
        rh = np.minimum(h, ah) / np.maximum(h, ah)
        x = np.minimum(rw, rh)
        alive = x > 1.0 / objective.anchor_t
        width_side = rw <= rh
        # d log(min(w, a)/max(w, a)) / d log a is +1 below w and -1 above
        slope = x * alive
        gw = np.where(width_side, slope * np.sign(w - aw), 0.0)
        gh = np.where(width_side, 0.0, slope * np.sign(h - ah))
        return np.where(alive, x, 0.0), gw, gh
    if isinstance(ox, float) and isinstance(oy, float) and ox == 0.0 and oy == 0.0:
        mw, mh = np.minimum(w, aw), np.minimum(h, ah)
        inter = mw * mh
        union = w * h + aw * ah - inter
        di_w = np.where(aw < w, mh, 0.0)  # d inter / d aw
        di_h = np.where(ah < h, mw, 0.0)
        touching: FloatArray | float = 1.0
    else:
        hw, hh = 0.5 * w, 0.5 * h
        right_w, left_w = ox + 0.5 * aw, ox - 0.5 * aw
        right_h, left_h = oy + 0.5 * ah, oy - 0.5 * ah
        ix = np.minimum(hw, right_w) - np.maximum(-hw, left_w)
        iy = np.minimum(hh, right_h) - np.maximum(-hh, left_h)
        touching = np.where((ix > 0) & (iy > 0), 1.0, 0.0)
        ix, iy = np.maximum(ix, 0.0), np.maximum(iy, 0.0)
        inter = ix * iy
        union = w * h + aw * ah - inter
        # an anchor edge inside the box moves the overlap by half the change of the side
        dix = np.where(right_w < hw, 0.5, 0.0) + np.where(left_w > -hw, 0.5, 0.0)
        diy = np.where(right_h < hh, 0.5, 0.0) + np.where(left_h > -hh, 0.5, 0.0)
        di_w, di_h = dix * iy * touching, diy * ix * touching
    iou = inter / union
    # d(I/U) = (dI * U - I * dU) / U^2 with dU = d(aw*ah) - dI; times aw (or ah) for log
    u2 = union * union
    gw = aw * (di_w * (union + inter) - inter * ah) / u2
    gh = ah * (di_h * (union + inter) - inter * aw) / u2
    if objective.name == "recall":
        step = _logistic(iou, objective.iou)
        slope = step * (1.0 - step) / SMOOTH + TIE_BREAK
        return step + TIE_BREAK * iou, slope * gw, slope * gh
    return iou, gw, gh


def _logistic(iou: FloatArray, threshold: float) -> FloatArray:
    """The smooth step of the recall count: 1/2 at the threshold, :data:`SMOOTH` wide."""
    out: FloatArray = 1.0 / (1.0 + np.exp(-(iou - threshold) / SMOOTH))
    return out


def gradient(
    rows: Rows, shapes: FloatArray, level: IntArray, objective: Objective
) -> tuple[float, float, FloatArray]:
    """The score, its smooth stand-in, and the stand-in's slopes for ``shapes`` ``(K, 2)``.

    Returns ``(score, smooth, grad)`` with ``grad`` ``(K, 2)``: d smooth / d log w and
    d log h of each slot. Each row counts for its best slot (by the stand-in); one pass over
    the slots, so memory stays near a few ``(M,)`` arrays.
    """
    m, k = len(rows), len(shapes)
    w, h = rows.wh[:, 0], rows.wh[:, 1]
    top_true = np.full(m, -np.inf)
    top = np.full(m, -np.inf)
    slot = np.zeros(m, dtype=np.int64)
    better = np.empty(m, dtype=np.bool_)
    for j in range(k):
        if rows.offset is None:
            ox: FloatArray | float = 0.0
            oy: FloatArray | float = 0.0
        else:
            ox, oy = rows.offset[level[j], 0], rows.offset[level[j], 1]
        aw, ah = shapes[j, 0], shapes[j, 1]
        if objective.name == "recall":
            iou = position_iou(w, h, ox, oy, aw, ah)
            np.maximum(top_true, (iou >= objective.iou) + TIE_BREAK * iou, out=top_true)
            true = _logistic(iou, objective.iou) + TIE_BREAK * iou
        else:
            true = pair_gain(w, h, ox, oy, aw, ah, objective)
            np.maximum(top_true, true, out=top_true)
        np.greater(true, top, out=better)
        np.maximum(top, true, out=top)
        slot[better] = j
    if rows.offset is None:
        ox, oy = 0.0, 0.0
    else:
        here = np.arange(m)
        ox, oy = rows.offset[level[slot], 0, here], rows.offset[level[slot], 1, here]
    _, gw, gh = pair_gradient(w, h, ox, oy, shapes[slot, 0], shapes[slot, 1], objective)
    total = rows.weight.sum()
    grad = (
        np.stack(
            [
                np.bincount(slot, weights=rows.weight * gw, minlength=k),
                np.bincount(slot, weights=rows.weight * gh, minlength=k),
            ],
            axis=1,
        )
        / total
    )
    return (
        wsum(rows.weight, top_true) / total,
        wsum(rows.weight, top) / total,
        grad,
    )


def _offsets(rows: Rows, start: int, stop: int, level: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per row and slot, the offsets ``(M', K)`` of the slot's level (zeros when shape-only)."""
    if rows.offset is None:
        zero = np.zeros((stop - start, 1))
        return zero, zero
    part = rows.offset[:, :, start:stop]
    return part[level, 0].T, part[level, 1].T


def best(
    rows: Rows, shapes: FloatArray, level: IntArray, objective: Objective
) -> tuple[FloatArray, IntArray]:
    """Each row's best gain ``(M,)`` over the ``(K, 2)`` anchor ``shapes``, and that slot ``(M,)``.

    ``level`` ``(K,)`` is each slot's level (for the offsets); ties go to the first slot.
    """
    m, k = len(rows), len(shapes)
    gain = np.empty(m)
    slot = np.empty(m, dtype=np.int64)
    step = max(1, BLOCK // max(k, 1))
    for start in range(0, m, step):
        stop = min(m, start + step)
        ox, oy = _offsets(rows, start, stop, level)
        w, h = rows.wh[start:stop, 0:1], rows.wh[start:stop, 1:2]
        g = pair_gain(w, h, ox, oy, shapes[None, :, 0], shapes[None, :, 1], objective)
        slot[start:stop] = g.argmax(axis=1)
        gain[start:stop] = np.take_along_axis(g, slot[start:stop, None], axis=1)[:, 0]
    return gain, slot


def score(rows: Rows, shapes: FloatArray, level: IntArray, objective: Objective) -> float:
    """The objective of one anchor set ``(K, 2)``: the weighted mean of the best gains."""
    gain, _ = best(rows, shapes, level, objective)
    return wsum(rows.weight, gain) / float(rows.weight.sum())


def scores(rows: Rows, population: FloatArray, level: IntArray, objective: Objective) -> FloatArray:
    """The objective of each of ``P`` anchor sets ``(P, K, 2)``: ``(P,)``."""
    p, k = population.shape[:2]
    m = len(rows)
    total = np.zeros(p)
    step = max(1, BLOCK // max(p * k, 1))
    for start in range(0, m, step):
        stop = min(m, start + step)
        ox, oy = _offsets(rows, start, stop, level)
        w, h = rows.wh[None, start:stop, 0:1], rows.wh[None, start:stop, 1:2]
        g = pair_gain(
            w, h, ox[None], oy[None], population[:, None, :, 0], population[:, None, :, 1],
            objective,
        )  # fmt: skip
        total += np.einsum("pm,m->p", g.max(axis=2), rows.weight[start:stop])
    out: FloatArray = total / rows.weight.sum()
    return out


def assigned(
    rows: Rows,
    population: FloatArray,
    slot: IntArray,
    level: IntArray,
    objective: Objective,
) -> FloatArray:
    """Weighted mean gain of each row against its *assigned* slot, for ``P`` sets: ``(P,)``.

    ``population`` is ``(P, K, 2)`` and ``slot`` ``(M,)``. This is the surrogate that the
    local search climbs: it never exceeds :func:`scores` of the same set, and equals it when
    every row's assigned slot is its best.
    """
    p = len(population)
    m = len(rows)
    total = np.zeros(p)
    step = max(1, BLOCK // max(p, 1))
    for start in range(0, m, step):
        stop = min(m, start + step)
        s = slot[start:stop]
        if rows.offset is None:
            ox: FloatArray | float = 0.0
            oy: FloatArray | float = 0.0
        else:
            here = np.arange(start, stop)
            ox = rows.offset[level[s], 0, here][None]
            oy = rows.offset[level[s], 1, here][None]
        w, h = rows.wh[None, start:stop, 0], rows.wh[None, start:stop, 1]
        g = pair_gain(w, h, ox, oy, population[:, s, 0], population[:, s, 1], objective)
        total += np.einsum("pm,m->p", g, rows.weight[start:stop])
    out: FloatArray = total / rows.weight.sum()
    return out


@dataclass(frozen=True)
class Metrics:
    """What a report shows about one anchor set on some boxes (NaN when there are none).

    ``mean_iou``: mean best centred-shape IoU; ``bpr``: YOLOv5's best possible recall and
    ``fitness`` its anchor fitness at ``anchor_t``; ``anchors_per_target``: mean number of
    anchors passing the ratio test; ``recall``: position-aware recall at each IoU of
    ``thresholds`` and ``mean_position_iou`` the mean position-aware best IoU (``None`` when
    the boxes' positions were not given).
    """

    boxes: int
    mean_iou: float
    bpr: float
    fitness: float
    anchors_per_target: float
    recall: dict[float, float] | None
    mean_position_iou: float | None

    def value(self, objective: Objective) -> float:
        """The score of ``objective`` (plain recall for ``recall``)."""
        if objective.name == "bpr":
            return self.fitness
        if objective.name == "recall":
            assert self.recall is not None
            return self.recall[objective.iou]
        return self.mean_iou


def nearest_offsets(
    boxes: FloatArray, centres: Sequence[tuple[FloatArray, FloatArray]]
) -> FloatArray:
    """``(L, 2, N)`` ``(|dx|, |dy|)`` from each box centre to the nearest anchor centre of each
    level; ``boxes`` ``(N, 4)`` xyxy and ``centres[l]`` the level's ``x`` ``(cols,)`` and
    ``y`` ``(rows,)`` centres, all in pixels, each ascending."""
    cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    out = np.empty((len(centres), 2, len(boxes)))
    for level, (xs, ys) in enumerate(centres):
        out[level, 0] = _nearest_distance(np.asarray(xs, dtype=np.float64), cx)
        out[level, 1] = _nearest_distance(np.asarray(ys, dtype=np.float64), cy)
    return out


def _nearest_distance(grid: FloatArray, values: FloatArray) -> FloatArray:
    hi = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
    lo = np.clip(hi - 1, 0, len(grid) - 1)
    out: FloatArray = np.minimum(np.abs(values - grid[lo]), np.abs(values - grid[hi]))
    return out


def metrics(
    boxes: FloatArray,
    shapes: FloatArray,
    *,
    anchor_t: float = 4.0,
    centres: Sequence[tuple[FloatArray, FloatArray]] | None = None,
    level: IntArray | None = None,
    thresholds: tuple[float, ...] = (0.5, 0.7),
) -> Metrics:
    """Every :class:`Metrics` number of anchor ``shapes`` ``(K, 2)`` on ``boxes`` ``(N, 4)``
    (xyxy, input pixels).

    ``centres`` (per level, as :func:`nearest_offsets` takes them) and ``level`` ``(K,)`` add
    the position-aware numbers. Blocked over the boxes, so memory stays near ``N`` floats.
    """
    levels = None if level is None else [level]
    return metrics_of(boxes, [shapes], anchor_t=anchor_t, centres=centres, levels=levels,
                      thresholds=thresholds)[0]  # fmt: skip


def metrics_of(
    boxes: FloatArray | Boxes,
    sets: Sequence[FloatArray],
    *,
    anchor_t: float = 4.0,
    centres: Sequence[tuple[FloatArray, FloatArray]] | None = None,
    levels: Sequence[IntArray] | None = None,
    thresholds: tuple[float, ...] = (0.5, 0.7),
) -> list[Metrics]:
    """:func:`metrics` of several anchor sets on the same boxes and grid, in one pass.

    ``boxes`` is an array or :class:`~anchorctl.fit.boxes.Boxes` read block by block (the
    blocks are the same either way, so the sums are too, bit for bit).
    """
    source = boxes if isinstance(boxes, Boxes) else HeldBoxes(boxes)
    n = len(source)
    if n == 0:
        nan = float("nan")
        return [Metrics(0, nan, nan, nan, nan, None, None) for _ in sets]
    k = max(len(s) for s in sets)
    step = max(1, BLOCK // max(k, 1))
    limit = 1.0 / anchor_t
    positional = centres is not None and levels is not None
    keys = ("iou", "bpr", "fit", "apt", "pos")
    sums = [dict.fromkeys(keys, 0.0) for _ in sets]
    above = [dict.fromkeys(thresholds, 0) for _ in sets]
    for part in source.blocks(step):
        w, h = (part[:, 2] - part[:, 0])[:, None], (part[:, 3] - part[:, 1])[:, None]
        off = nearest_offsets(part, centres) if positional and centres is not None else None
        for i, shapes in enumerate(sets):
            aw, ah = shapes[None, :, 0], shapes[None, :, 1]
            total = sums[i]
            total["iou"] += float(position_iou(w, h, 0.0, 0.0, aw, ah).max(axis=1).sum())
            x = np.minimum(
                np.minimum(w, aw) / np.maximum(w, aw), np.minimum(h, ah) / np.maximum(h, ah)
            )
            top = x.max(axis=1)
            total["bpr"] += float((top > limit).sum())
            total["fit"] += float((top * (top > limit)).sum())
            total["apt"] += float((x > limit).sum())
            if off is not None and levels is not None:
                lv = levels[i]
                pos = position_iou(w, h, off[lv, 0].T, off[lv, 1].T, aw, ah).max(axis=1)
                total["pos"] += float(pos.sum())
                for t in thresholds:
                    above[i][t] += int((pos >= t).sum())
    return [
        Metrics(
            boxes=n,
            mean_iou=total["iou"] / n,
            bpr=total["bpr"] / n,
            fitness=total["fit"] / n,
            anchors_per_target=total["apt"] / n,
            recall={t: count[t] / n for t in thresholds} if positional else None,
            mean_position_iou=total["pos"] / n if positional else None,
        )
        for total, count in zip(sums, above, strict=True)
    ]
