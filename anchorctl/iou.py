"""IoU of boxes against anchors: plain, best-match over a whole anchor set, and centred shapes.

**Definition.** Boxes are ``(xmin, ymin, xmax, ymax)`` in continuous pixel coordinates (a box
covering only the first pixel is ``0..1``). ``area = (xmax - xmin) * (ymax - ymin)``, the
intersection is ``max(0, min(xmax) - max(xmin)) * max(0, min(ymax) - max(ymin))`` and
``IoU = inter / (areaA + areaB - inter)``, computed in float64 in exactly that order
(``(areaA + areaB) - inter``), and 0 when the union is 0. ``torchvision.ops.box_iou`` uses the
same definition (no ``+ 1`` on widths, unlike py-faster-rcnn's ``bbox_overlaps``).

:func:`best_anchor` finds, for every box, the anchor of highest IoU (ties go to the lowest
anchor index, as ``argmax`` does) and counts the anchors at or above each threshold. It is
exact: every IoU it compares is computed by the formula above from the same float64
coordinates, so its answers equal a brute-force ``box_iou(...).max(1)`` bit for bit. What makes
it fast is only *which* anchors it looks at, chosen with bounds that hold for any boxes:

* a level is a grid: anchor ``(row, col, slot)`` sits at index
  ``offset + (row * cols + col) * k + slot`` and, for each slot, its x extent depends on the
  column only and its y extent on the row only (:class:`GridInfo` checks this on the actual
  array, so clipped border anchors are described exactly);
* ``IoU(A, B) <= IoU_x`` where ``IoU_x = ix / ux`` is the IoU of the two x intervals (the
  union contains an ``ux x iy`` strip), and ``ux = wA + wB - ix``; so ``IoU >= t`` needs
  ``ix >= t (wA + wB) / (1 + t)``, and ``ix <= xmax_anchor - xmin_box`` and
  ``ix <= xmax_box - xmin_anchor``: since anchor extents grow with the column, the columns
  that can reach ``t`` are one contiguous run found with ``searchsorted`` (rows likewise);
* no placement beats the centred one, and among the widths a slot's anchors take (clipping
  only shrinks them) the one nearest the box's is best, which bounds a whole slot.

``t`` is the smaller of the lowest threshold counted and a lower bound on the box's best IoU
(its best IoU with the anchors of the cell nearest its centre, on every level), lowered by a
relative 1e-9 so that rounding can never drop an anchor the brute force would keep.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import Level, Rules
from anchorctl.errors import AnchorError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Elements per temporary array in the brute-force path (8 MiB of float64): memory stays near
# chunk x M whatever the number of boxes, and each block still amortises numpy's overhead.
BLOCK_ELEMENTS = 1 << 20
# Boxes per pass of the grid path (the unit of progress reports).
GRID_BOXES = 1 << 15
# Relative slack on the pruning bounds: far above float64 rounding (~1e-15), far below any
# threshold anyone types.
_SLACK = 1e-9


@dataclass(frozen=True)
class BestMatch:
    """Per box: the best IoU over all anchors, that anchor's index, and counts above thresholds.

    ``best_iou`` ``(N,)`` float64; ``best_index`` ``(N,)`` int64 into the anchors (the lowest
    index among equal best IoUs; 0 when every IoU is 0); ``above`` ``(N, T)`` int64, the number
    of anchors with ``IoU >= thresholds[t]``.
    """

    best_iou: F64
    best_index: I64
    above: I64


@dataclass(frozen=True)
class LevelGrid:
    """One level of anchors as a grid, in input pixels.

    Anchors ``offset .. offset + rows*cols*k`` of the whole set; anchor ``(row, col, slot)``
    is ``offset + (row * cols + col) * k + slot``. When ``separable``, its box is
    ``(x0[slot, col], y0[slot, row], x1[slot, col], y1[slot, row])`` exactly and ``x0``,
    ``x1`` (``(k, cols)``) and ``y0``, ``y1`` (``(k, rows)``) never decrease along the grid;
    otherwise (``x0`` etc. are empty) :func:`best_anchor` compares every anchor of the level.
    ``shapes`` ``(k, 2)`` are the nominal (unclipped) ``(w, h)`` of the slots in pixels;
    ``stride`` is ``(y, x)`` in pixels.
    """

    offset: int
    rows: int
    cols: int
    per_cell: int
    separable: bool
    x0: F64
    x1: F64
    y0: F64
    y1: F64
    shapes: F64
    stride: tuple[float, float]

    @property
    def count(self) -> int:
        return self.rows * self.cols * self.per_cell


@dataclass(frozen=True)
class GridInfo:
    """All the anchors of a model in input pixels, and their grid structure per level.

    ``anchors`` is ``(M, 4)`` float64 xyxy in input pixels, levels concatenated in order;
    ``input_size`` is ``(width, height)`` in pixels.
    """

    anchors: F64
    levels: tuple[LevelGrid, ...]
    input_size: tuple[int, int]

    def locate(self, index: npt.ArrayLike) -> tuple[I64, I64, I64, I64]:
        """``(level, row, col, slot)`` arrays of the given anchor indices."""
        index = np.asarray(index, dtype=np.int64)
        starts = np.array([lv.offset for lv in self.levels], dtype=np.int64)
        level = np.searchsorted(starts, index, side="right") - 1
        cols = np.array([lv.cols for lv in self.levels], dtype=np.int64)[level]
        k = np.array([lv.per_cell for lv in self.levels], dtype=np.int64)[level]
        local = index - starts[level]
        cell, slot = np.divmod(local, k)
        row, col = np.divmod(cell, cols)
        return level, row, col, slot

    def shapes(self) -> tuple[F64, I64, I64]:
        """Every slot's nominal ``(w, h)`` in pixels ``(K, 2)``, and its level and slot ``(K,)``."""
        wh = np.concatenate([lv.shapes for lv in self.levels]).reshape(-1, 2)
        level = np.concatenate(
            [np.full(lv.per_cell, i, dtype=np.int64) for i, lv in enumerate(self.levels)]
        )
        slot = np.concatenate([np.arange(lv.per_cell, dtype=np.int64) for lv in self.levels])
        return wh.astype(np.float64), level, slot


def grid_from_levels(
    levels: Sequence[Level], rules: Rules, input_size: tuple[int, int]
) -> GridInfo:
    """The anchors of ``levels`` in input pixels, with their grid structure.

    ``input_size`` is the network input ``(width, height)`` in pixels: normalized levels (see
    :meth:`Level.is_normalized`) are multiplied by it (x by the width, y by the height), in
    float64 from the levels' float32 values; pixel levels are widened to float64 unchanged.
    """
    width, height = input_size
    parts: list[F64] = []
    maps: list[tuple[int, int]] = []
    per_cell: list[int] = []
    shapes: list[F64] = []
    strides: list[tuple[float, float]] = []
    for level in levels:
        scale = (width, height) if level.is_normalized(rules) else (1, 1)
        boxes = level.array.astype(np.float64)
        if scale != (1, 1):
            boxes = boxes * np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float64)
        parts.append(boxes)
        maps.append(level.feature_map)
        per_cell.append(level.per_cell)
        wh = np.array([[s.width, s.height] for s in level.shapes], dtype=np.float64)
        shapes.append(wh.reshape(-1, 2) * np.array(scale, dtype=np.float64))
        strides.append((float(level.stride[0]) * scale[1], float(level.stride[1]) * scale[0]))
    anchors = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.float64)
    return grid_from_anchors(anchors, maps, per_cell, input_size, shapes=shapes, strides=strides)


def grid_from_anchors(
    anchors: npt.ArrayLike,
    feature_maps: Sequence[tuple[int, int]],
    per_cell: Sequence[int],
    input_size: tuple[int, int],
    *,
    shapes: Sequence[F64] | None = None,
    strides: Sequence[tuple[float, float]] | None = None,
) -> GridInfo:
    """Describe ``anchors`` ``(M, 4)`` (input pixels) as levels of ``(rows, cols)`` x ``k``.

    Each level is checked on the actual values: it is used as a grid only if every x extent
    depends on (slot, column) alone and every y extent on (slot, row) alone, without
    decreasing; any other level is still handled, by comparing all of its anchors. ``shapes``
    (per level, ``(k, 2)`` nominal ``(w, h)``) default to the largest extent of each slot.
    """
    boxes = _as_boxes(anchors, "anchors")
    total = sum(r * c * k for (r, c), k in zip(feature_maps, per_cell, strict=True))
    if total != len(boxes):
        raise AnchorError(
            f"the feature maps and per-cell counts give {total} anchors but {len(boxes)} were given"
        )
    levels: list[LevelGrid] = []
    offset = 0
    for i, ((rows, cols), k) in enumerate(zip(feature_maps, per_cell, strict=True)):
        block = boxes[offset : offset + rows * cols * k].reshape(rows, cols, k, 4)
        if block.size == 0:  # an empty feature map: pad it so the checks below see a grid
            block = np.full((max(rows, 1), max(cols, 1), k, 4), np.nan)
        xs = block[0, :, :, 0::2]  # (cols, k, 2): the x extents of the first row
        ys = block[:, 0, :, 1::2]  # (rows, k, 2)
        separable = (
            rows * cols * k > 0
            and bool((block[..., 0::2] == xs[None]).all())
            and bool((block[..., 1::2] == ys[:, None]).all())
            and bool((np.diff(xs, axis=0) >= 0).all())
            and bool((np.diff(ys, axis=0) >= 0).all())
        )
        empty = np.zeros((k, 0), dtype=np.float64)
        if shapes is not None:
            wh = np.asarray(shapes[i], dtype=np.float64).reshape(k, 2)
        elif rows * cols * k == 0:
            wh = np.zeros((k, 2), dtype=np.float64)
        else:
            flat = block.reshape(-1, k, 4)
            wh = np.stack(
                [(flat[..., 2] - flat[..., 0]).max(0), (flat[..., 3] - flat[..., 1]).max(0)], 1
            )
        if strides is not None:
            stride = (float(strides[i][0]), float(strides[i][1]))
        else:
            stride = (
                float(ys[1, 0, 0] - ys[0, 0, 0]) if rows > 1 else float(input_size[1]),
                float(xs[1, 0, 0] - xs[0, 0, 0]) if cols > 1 else float(input_size[0]),
            )
        levels.append(
            LevelGrid(
                offset=offset,
                rows=rows,
                cols=cols,
                per_cell=k,
                separable=separable,
                x0=np.ascontiguousarray(xs[..., 0].T) if separable else empty,
                x1=np.ascontiguousarray(xs[..., 1].T) if separable else empty,
                y0=np.ascontiguousarray(ys[..., 0].T) if separable else empty,
                y1=np.ascontiguousarray(ys[..., 1].T) if separable else empty,
                shapes=wh,
                stride=stride,
            )
        )
        offset += rows * cols * k
    return GridInfo(anchors=boxes, levels=tuple(levels), input_size=input_size)


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)``: ``(N, M)`` float64.

    The whole matrix at once: for tests and small inputs (see :func:`best_anchor` for sets).
    """
    a64, b64 = _as_boxes(a, "boxes"), _as_boxes(b, "anchors")
    return _iou(
        a64[:, None, 0], a64[:, None, 1], a64[:, None, 2], a64[:, None, 3], _area(a64)[:, None],
        b64[None, :, 0], b64[None, :, 1], b64[None, :, 2], b64[None, :, 3], _area(b64)[None, :],
    )  # fmt: skip


def best_anchor(
    boxes: npt.ArrayLike,
    anchors: npt.ArrayLike,
    thresholds: Sequence[float] = (),
    grid: GridInfo | None = None,
    *,
    block_elements: int = BLOCK_ELEMENTS,
    progress: Callable[[int, int], None] | None = None,
) -> BestMatch:
    """For each box ``(N, 4)`` (input pixels), the best anchor of ``anchors`` ``(M, 4)``.

    Exact (see the module docstring). With ``grid`` (built from the same anchors by
    :func:`grid_from_levels` or :func:`grid_from_anchors`), only the anchors that can matter
    are compared; without it, all of them, in blocks of about ``block_elements`` box-anchor
    pairs, so memory stays near ``N + block_elements`` floats whatever ``M``. ``thresholds``
    are IoUs in ``(0, 1]``. ``progress(done, total)`` is called with box counts as work ends.
    """
    b = _as_boxes(boxes, "boxes")
    a = _as_boxes(anchors, "anchors")
    if len(a) == 0:
        raise AnchorError("there are no anchors to match the boxes against")
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    bad = thr[~((thr > 0) & (thr <= 1))]
    if len(bad):
        raise AnchorError(f"IoU threshold {bad[0]:g}: expected a number in (0, 1]")
    if grid is not None and not (
        grid.anchors is a or (grid.anchors.shape == a.shape and np.array_equal(grid.anchors, a))
    ):
        raise AnchorError("the grid was built from other anchors than the ones given")
    n = len(b)
    best = np.zeros(n, dtype=np.float64)
    index = np.zeros(n, dtype=np.int64)
    above = np.zeros((n, len(thr)), dtype=np.int64)
    # Chunks of boxes, for progress reports; each path blocks its own work further.
    step = GRID_BOXES if grid is not None else max(1, block_elements // min(len(a), block_elements))
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk = slice(start, stop)
        if grid is None:
            _brute(b[chunk], a, 0, thr, best[chunk], index[chunk], above[chunk], block_elements)
        else:
            _search(b[chunk], grid, thr, best[chunk], index[chunk], above[chunk], block_elements)
        if progress is not None:
            progress(stop, n)
    return BestMatch(best_iou=best, best_index=index, above=above)


def shape_iou(wh: npt.ArrayLike, anchor_wh: npt.ArrayLike) -> F64:
    """IoU of centred shapes: ``wh`` ``(N, 2)`` against ``anchor_wh`` ``(K, 2)``, ``(N, K)``.

    Both boxes share a centre, so ``inter = min(w) * min(h)`` and the IoU is
    ``inter / (w*h + aw*ah - inter)`` (0 when the union is 0), float64.
    """
    s, k = _as_wh(wh, "box sizes"), _as_wh(anchor_wh, "anchor sizes")
    return _shape_iou(s[:, None, 0], s[:, None, 1], k[None, :, 0], k[None, :, 1])


def shape_best_iou(
    wh: npt.ArrayLike, anchor_wh: npt.ArrayLike, *, block_elements: int = BLOCK_ELEMENTS
) -> tuple[F64, I64]:
    """Best centred-shape IoU of each ``(w, h)`` ``(N, 2)`` over ``anchor_wh`` ``(K, 2)``.

    Returns ``best`` ``(N,)`` float64 and ``index`` ``(N,)`` int64 into ``anchor_wh`` (the
    first of equal bests), computed in blocks of boxes so memory stays near ``N + block``.
    """
    s, k = _as_wh(wh, "box sizes"), _as_wh(anchor_wh, "anchor sizes")
    if len(k) == 0:
        raise AnchorError("there are no anchor shapes to compare the boxes with")
    best = np.zeros(len(s), dtype=np.float64)
    index = np.zeros(len(s), dtype=np.int64)
    for chunk in _chunks(len(s), max(1, block_elements // len(k))):
        iou = shape_iou(s[chunk], k)
        index[chunk] = iou.argmax(axis=1)
        best[chunk] = np.take_along_axis(iou, index[chunk, None], axis=1)[:, 0]
    return best, index


# --- the arithmetic, written once so every path computes the same bits ---------------------


def _area(boxes: F64) -> F64:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _iou(
    bx0: Any, by0: Any, bx1: Any, by1: Any, barea: Any,
    ax0: Any, ay0: Any, ax1: Any, ay1: Any, aarea: Any,
) -> F64:  # fmt: skip
    """The IoU formula of the module docstring on broadcastable float64 arrays."""
    iw = np.minimum(bx1, ax1)
    iw -= np.maximum(bx0, ax0)
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum(by1, ay1)
    ih -= np.maximum(by0, ay0)
    np.maximum(ih, 0.0, out=ih)
    iw *= ih  # the intersection
    union = np.add(barea, aarea, out=ih)
    union -= iw
    # union == 0 only when both areas are 0, and then iw is 0: leaving it is the 0 we want
    np.divide(iw, union, out=iw, where=union > 0)
    out: F64 = iw
    return out


def _shape_iou(w: Any, h: Any, aw: Any, ah: Any) -> F64:
    inter = np.minimum(w, aw) * np.minimum(h, ah)
    union = w * h + aw * ah - inter
    out: F64 = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _as_boxes(value: npt.ArrayLike, what: str) -> F64:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise AnchorError(
            f"{what}: expected an (N, 4) array of xmin, ymin, xmax, ymax, got {arr.shape}"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise AnchorError(f"{what}: row {int(np.argmin(finite))} is not finite")
    inverted = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if inverted.any():
        raise AnchorError(f"{what}: row {int(np.argmax(inverted))} has xmax < xmin or ymax < ymin")
    return arr


def _as_wh(value: npt.ArrayLike, what: str) -> F64:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise AnchorError(f"{what}: expected an (N, 2) array of width, height, got {arr.shape}")
    ok = np.isfinite(arr).all(axis=1) & (arr >= 0).all(axis=1)
    if not ok.all():
        raise AnchorError(f"{what}: row {int(np.argmin(ok))} is not a finite size >= 0")
    return arr


def _chunks(n: int, step: int) -> Iterator[slice]:
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _merge(best: F64, index: I64, iou: F64, idx: I64, rows: I64 | slice = slice(None)) -> None:
    """Keep the higher IoU per box, the lower anchor index on a tie (as argmax does)."""
    cur_best, cur_index = best[rows], index[rows]
    better = (iou > cur_best) | ((iou == cur_best) & (idx < cur_index))
    cur_best[better] = iou[better]
    cur_index[better] = idx[better]
    best[rows], index[rows] = cur_best, cur_index


def _brute(
    b: F64, a: F64, offset: int, thr: F64, best: F64, index: I64, above: I64, block: int
) -> None:
    """Compare boxes ``b`` with every anchor of ``a`` (indices from ``offset``), in blocks."""
    barea, aarea = _area(b), _area(a)
    cols = max(1, min(len(a), block))
    rows = max(1, block // cols)
    for r in _chunks(len(b), rows):
        bb, ba = b[r], barea[r]
        for c in _chunks(len(a), cols):
            iou = _iou(
                bb[:, None, 0], bb[:, None, 1], bb[:, None, 2], bb[:, None, 3], ba[:, None],
                a[None, c, 0], a[None, c, 1], a[None, c, 2], a[None, c, 3], aarea[None, c],
            )  # fmt: skip
            arg = iou.argmax(axis=1)
            top = np.take_along_axis(iou, arg[:, None], axis=1)[:, 0]
            _merge(best, index, top, arg + (offset + c.start), r)
            for t, value in enumerate(thr):
                above[r, t] += np.count_nonzero(iou >= value, axis=1)


def _nearest(centres: F64, x: F64) -> I64:
    """Index of the centre nearest each ``x`` (``centres`` sorted)."""
    hi = np.searchsorted(centres, x).clip(1, len(centres) - 1) if len(centres) > 1 else None
    if hi is None:
        return np.zeros(len(x), dtype=np.int64)
    lo = hi - 1
    out: I64 = np.where(x - centres[lo] <= centres[hi] - x, lo, hi).astype(np.int64)
    return out


def _search(
    b: F64, grid: GridInfo, thr: F64, best: F64, index: I64, above: I64, block: int
) -> None:
    """:func:`best_anchor` on one chunk of boxes, using the grid of every separable level."""
    n = len(b)
    bx0, by0, bx1, by1 = (np.ascontiguousarray(b[:, i]) for i in range(4))
    barea = _area(b)
    bw, bh = bx1 - bx0, by1 - by0
    bcx, bcy = (bx0 + bx1) / 2, (by0 + by1) / 2

    # A lower bound on each box's best IoU: its IoU with every slot of the nearest cell.
    lower = np.zeros(n, dtype=np.float64)
    for lv in grid.levels:
        if not lv.separable or lv.count == 0:
            continue
        # Slot 0's centres stand for every slot's (equal unless clipping moved them): any
        # anchor gives a valid bound, the nearest one a good one.
        col = _nearest((lv.x0[0] + lv.x1[0]) / 2, bcx)
        row = _nearest((lv.y0[0] + lv.y1[0]) / 2, bcy)
        for s in range(lv.per_cell):
            x0, x1, y0, y1 = lv.x0[s, col], lv.x1[s, col], lv.y0[s, row], lv.y1[s, row]
            iou = _iou(bx0, by0, bx1, by1, barea, x0, y0, x1, y1, (x1 - x0) * (y1 - y0))
            np.maximum(lower, iou, out=lower)
    # Anchors below t cannot be the best, and are not counted at any threshold.
    t = np.minimum(lower, thr.min()) if len(thr) else lower
    t = t * (1 - _SLACK)
    # absolute slack, for the sums of coordinates (column-wise: axis-1 reductions are slow)
    scale = np.maximum(np.maximum(np.abs(bx0), np.abs(bx1)), np.maximum(np.abs(by0), np.abs(by1)))
    slack = _SLACK * (scale + bw + bh)

    for lv in grid.levels:
        if lv.count == 0:
            continue
        if not lv.separable:
            _brute(b, grid.anchors[lv.offset : lv.offset + lv.count], lv.offset, thr, best,
                   index, above, block)  # fmt: skip
            continue
        for s in range(lv.per_cell):
            x0, x1, y0, y1 = lv.x0[s], lv.x1[s], lv.y0[s], lv.y1[s]
            widths, heights = x1 - x0, y1 - y0
            wmin, wmax = float(widths.min()), float(widths.max())
            hmin, hmax = float(heights.min()), float(heights.max())
            # The best this slot can do anywhere: centred, with its closest width and height.
            bound = _shape_iou(bw, bh, np.clip(bw, wmin, wmax), np.clip(bh, hmin, hmax))
            keep = np.flatnonzero(bound >= t - _SLACK)
            if len(keep) == 0:
                continue
            tk, sk, w, h = t[keep], slack[keep], bw[keep], bh[keep]
            t1 = tk / (1 + tk)
            mx = np.maximum(tk * np.maximum(w, wmin), t1 * (w + wmin)) - sk
            my = np.maximum(tk * np.maximum(h, hmin), t1 * (h + hmin)) - sk
            c0 = np.searchsorted(x1, bx0[keep] + mx, side="left")
            c1 = np.searchsorted(x0, bx1[keep] - mx, side="right")
            r0 = np.searchsorted(y1, by0[keep] + my, side="left")
            r1 = np.searchsorted(y0, by1[keep] - my, side="right")
            ncol = np.maximum(c1 - c0, 0)
            nrow = np.maximum(r1 - r0, 0)
            # a candidate needs about 16 numbers at once: as much memory as `block` pairs
            _candidates(
                lv, s, keep, nrow, ncol, r0, c0, (bx0, by0, bx1, by1, barea), thr, best,
                index, above, max(1, block // 4),
            )  # fmt: skip


def _candidates(
    lv: LevelGrid,
    s: int,
    who: I64,
    nrow: I64,
    ncol: I64,
    r0: I64,
    c0: I64,
    box: tuple[F64, F64, F64, F64, F64],
    thr: F64,
    best: F64,
    index: I64,
    above: I64,
    block: int,
) -> None:
    """IoU of boxes ``who`` with the anchors of their windows in slot ``s``.

    A window is ``nrow`` rows from ``r0`` by ``ncol`` columns from ``c0``; ``who`` and the
    window arrays are aligned. Candidates are laid out box by box, row by row (so in anchor
    index order within a box); the y half of the IoU is computed once per (box, row).
    """
    bx0, by0, bx1, by1, barea = box
    count = nrow * ncol
    todo = np.flatnonzero(count)
    if len(todo) == 0:
        return
    cum = np.cumsum(count[todo])
    # Batches of boxes whose windows hold about `block` candidates (a single box may hold more).
    cuts = np.searchsorted(cum, np.arange(block, int(cum[-1]), block), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(todo)]]))
    for lo, hi in itertools.pairwise(bounds):
        part = todo[lo:hi]
        boxes = who[part]
        nr, nc = nrow[part], ncol[part]
        # (box, row) pairs
        pair_box = np.repeat(np.arange(len(part)), nr)
        first_pair = _starts(nr)
        row = np.arange(len(pair_box)) + (r0[part] - first_pair)[pair_box]
        at = boxes[pair_box]
        ay0, ay1 = lv.y0[s, row], lv.y1[s, row]
        ih = np.minimum(by1[at], ay1)
        ih -= np.maximum(by0[at], ay0)
        np.maximum(ih, 0.0, out=ih)
        height = ay1 - ay0
        pair_x0, pair_x1, pair_area = bx0[at], bx1[at], barea[at]
        pair_cols = nc[pair_box]
        # candidates: every column of every pair
        cand_pair = np.repeat(np.arange(len(pair_box)), pair_cols)
        first_cand = _starts(pair_cols)
        col = np.arange(len(cand_pair)) + (c0[part][pair_box] - first_cand)[cand_pair]
        ax0, ax1 = lv.x0[s, col], lv.x1[s, col]
        # the formula of _iou, piece by piece on the same values: the same bits
        iw = np.minimum(pair_x1[cand_pair], ax1)
        iw -= np.maximum(pair_x0[cand_pair], ax0)
        np.maximum(iw, 0.0, out=iw)
        iw *= ih[cand_pair]  # the intersection
        union = ax1 - ax0
        union *= height[cand_pair]  # the anchor's area
        np.add(pair_area[cand_pair], union, out=union)
        union -= iw
        np.divide(iw, union, out=iw, where=union > 0)
        iou = iw
        starts = first_cand[first_pair]  # each box's first candidate
        cnt = nr * nc
        top = np.maximum.reduceat(iou, starts)
        # The first candidate reaching the top is the lowest index: windows run row-major.
        hit = np.flatnonzero(iou == np.repeat(top, cnt))
        owner = np.searchsorted(starts, hit, side="right")
        first = hit[np.concatenate([[True], owner[1:] != owner[:-1]])]
        idx = lv.offset + (row[cand_pair[first]] * lv.cols + col[first]) * lv.per_cell + s
        _merge(best, index, top, idx, boxes)
        for t, value in enumerate(thr):
            above[boxes, t] += np.add.reduceat((iou >= value).astype(np.int64), starts)


def _starts(counts: I64) -> I64:
    """Where each run of ``counts`` starts in their concatenation."""
    out = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out
