"""Do the anchors fit the data? Per-box coverage numbers and the report built from them.

Everything here is in **network-input pixels** (boxes mapped by
:func:`anchorctl.geometry.to_input`, anchors by :func:`anchorctl.iou.grid_from_levels`).

Per ground-truth box (:func:`measure`):

* **position-aware**: the best IoU over every anchor at its position, which anchor, and how
  many anchors reach each IoU threshold (how SSD, RPN and RetinaNet assign targets); IoU as
  defined in :mod:`anchorctl.iou`;
* **shape-only**: the best IoU of the box's ``(w, h)`` against every slot's nominal anchor
  shape with both centred (:func:`anchorctl.iou.shape_best_iou`);
* **YOLO's ratio test** (ultralytics/yolov5 ``check_anchors``, ``anchor_t``): for box
  ``(w, h)`` and anchor ``(aw, ah)``, ``r = (w/aw, h/ah)``,
  ``x = min(min(r, 1/r))`` over the two sides, ``best = max`` of ``x`` over the anchors; the
  box is matchable when ``best > 1/thr`` (thr 4.0: each side within 1/4..4 of an anchor's).
  **BPR** (best possible recall) is the share of matchable boxes; **anchors per target** the
  mean number of anchors with ``x > 1/thr``. ``min(r, 1/r)`` is computed as
  ``min(w, aw) / max(w, aw)`` in float64 (yolov5: ``torch.min(r, 1 / r)`` in float32; the
  two agree to the last bit or two, and exactly at ratios like 4 or 1/4).

:func:`coverage_report` turns them into one JSON-ready dict (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.coverage_stats import ASPECT_BUCKETS, SIZE_BUCKETS, CoverageStats, aspect_bucket
from anchorctl.errors import AnchorError
from anchorctl.iou import BLOCK_ELEMENTS, GridInfo, best_anchor, shape_best_iou

__all__ = [
    "ASPECT_BUCKETS",
    "DEFAULT_THRESHOLDS",
    "SIZE_BUCKETS",
    "BoxCoverage",
    "CoverageStats",
    "aspect_bucket",
    "coverage_report",
    "measure",
    "yolo_metric",
    "yolo_ratio",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DEFAULT_THRESHOLDS = (0.3, 0.5, 0.7)
DEFAULT_MAIN = 0.5
YOLO_THR = 4.0
MEASURE_CHUNK = 1 << 16  # boxes per step of measure(): temporaries ~ 100 bytes per box
IOU_DEFINITION = (
    "xyxy in network-input pixels, continuous; area = (x1-x0)*(y1-y0); "
    "IoU = inter / (areaA + areaB - inter), float64 (as torchvision.ops.box_iou)"
)

Grids = GridInfo | Callable[[tuple[int, int]], GridInfo]


@dataclass(frozen=True)
class BoxCoverage:
    """Per-box coverage numbers, all arrays ``(N,)`` (or ``(N, T)``) aligned with the boxes.

    Position-aware: ``best_iou`` float64, ``best_index`` int64 into the anchors of the box's
    input size, that anchor's ``level``, ``row``, ``col``, ``slot`` and ``anchor`` box
    ``(N, 4)`` in input pixels, ``above`` ``(N, T)`` int64 anchors with IoU >= each of
    ``thresholds``. Shape-only: ``shape_iou`` float64 and ``shape_index`` int64 (into
    :meth:`GridInfo.shapes`). YOLO: ``ratio_best`` float64 (``best`` above) and
    ``ratio_count`` int64 (anchors with ``x > 1/yolo_thr``).
    """

    thresholds: tuple[float, ...]
    yolo_thr: float
    best_iou: F64
    best_index: I64
    above: I64
    level: I64
    row: I64
    col: I64
    slot: I64
    anchor: F64
    shape_iou: F64
    shape_index: I64
    ratio_best: F64
    ratio_count: I64


def yolo_ratio(
    wh: npt.ArrayLike, anchor_wh: npt.ArrayLike, thr: float = YOLO_THR
) -> tuple[F64, I64]:
    """YOLO's ratio metric per box: ``best`` ``(N,)`` float64 and ``count`` ``(N,)`` int64.

    ``wh`` ``(N, 2)`` and ``anchor_wh`` ``(K, 2)`` are widths and heights in input pixels;
    see the module docstring for the formula. A zero side scores 0.
    """
    s, k = _wh(wh, "box sizes"), _wh(anchor_wh, "anchor sizes")
    limit = 1.0 / _ratio_thr(thr)
    best = np.zeros(len(s), dtype=np.float64)
    count = np.zeros(len(s), dtype=np.int64)
    if len(k) == 0:
        return best, count
    aw, ah = k[:, 0], k[:, 1]
    step = max(1, BLOCK_ELEMENTS // len(k))
    for start in range(0, len(s), step):
        w, h = s[start : start + step, 0:1], s[start : start + step, 1:2]
        x = _side_ratio(w, aw)  # (n, K)
        np.minimum(x, _side_ratio(h, ah), out=x)  # the worse side
        best[start : start + step] = x.max(axis=1)
        count[start : start + step] = np.count_nonzero(x > limit, axis=1)
    return best, count


def yolo_metric(
    wh: npt.ArrayLike, anchor_wh: npt.ArrayLike, thr: float = YOLO_THR
) -> tuple[F64, float, float]:
    """yolov5 ``check_anchors``: ``best`` ``(N,)``, BPR and anchors per target.

    BPR is ``mean(best > 1/thr)`` and anchors per target ``mean(count of x > 1/thr)``; both
    are NaN for no boxes.
    """
    best, count = yolo_ratio(wh, anchor_wh, thr)
    if len(best) == 0:
        return best, float("nan"), float("nan")
    return best, float(np.mean(best > 1.0 / thr)), float(count.mean())


def measure(
    boxes: npt.ArrayLike,
    input_sizes: npt.ArrayLike,
    grids: Grids,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    yolo_thr: float = YOLO_THR,
    progress: Callable[[int, int], None] | None = None,
    jobs: int | None = 1,
) -> BoxCoverage:
    """Every per-box coverage number of :class:`BoxCoverage`.

    Args:
        boxes: ``(N, 4)`` xyxy in network-input pixels.
        input_sizes: ``(N, 2)`` ``[W, H]`` of each box's input (or one ``(2,)`` for all).
        grids: the anchors (:func:`anchorctl.iou.grid_from_levels`) of the input size, or a
            function giving them for an input size ``(W, H)`` (called once per size, for
            ``shorter-side`` resizing where every image has its own).
        thresholds: IoUs in ``(0, 1]`` to count anchors at.
        yolo_thr: YOLO's ``anchor_t``.
        progress: ``progress(done, total)`` in boxes.
        jobs: worker processes (:func:`anchorctl.parallel.measure_parallel`; None: every
            core); the arrays are the same, bit for bit, for any number.
    """
    if jobs != 1:
        from anchorctl.parallel import measure_parallel

        return measure_parallel(
            boxes,
            input_sizes,
            grids,
            tuple(thresholds),
            yolo_thr=yolo_thr,
            jobs=jobs,
            progress=progress,
        )
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    sizes = np.broadcast_to(np.asarray(input_sizes, dtype=np.int64), (n, 2))
    thr = tuple(float(t) for t in thresholds)
    bad = [t for t in thr if not 0 < t <= 1]
    if bad:
        raise AnchorError(f"IoU threshold {bad[0]:g}: expected a number in (0, 1]")
    _ratio_thr(yolo_thr)
    out: dict[str, Any] = {
        "best_iou": np.zeros(n),
        "best_index": np.zeros(n, dtype=np.int64),
        "above": np.zeros((n, len(thr)), dtype=np.int64),
        "level": np.zeros(n, dtype=np.int64),
        "row": np.zeros(n, dtype=np.int64),
        "col": np.zeros(n, dtype=np.int64),
        "slot": np.zeros(n, dtype=np.int64),
        "anchor": np.zeros((n, 4)),
        "shape_iou": np.zeros(n),
        "shape_index": np.zeros(n, dtype=np.int64),
        "ratio_best": np.zeros(n),
        "ratio_count": np.zeros(n, dtype=np.int64),
    }
    # Group the boxes by input size (one group unless every image has its own size).
    if n == 0:
        uniq, groups = sizes[:0], []
    elif (sizes == sizes[0]).all():
        uniq, groups = sizes[:1], [np.arange(n)]
    else:
        uniq, inverse = np.unique(sizes, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1])
    done = 0
    for size, group in zip(uniq, groups, strict=True):
        key = (int(size[0]), int(size[1]))
        grid = grids if isinstance(grids, GridInfo) else grids(key)
        if tuple(grid.input_size) != key:
            raise AnchorError(
                f"the boxes are in a {key[0]}x{key[1]} input but the anchors are for "
                f"{grid.input_size[0]}x{grid.input_size[1]}"
            )
        shapes, _, _ = grid.shapes()
        # In chunks, so the temporaries stay small next to the (N,) results.
        for start in range(0, len(group), MEASURE_CHUNK):
            sel = group[start : start + MEASURE_CHUNK]
            part = b[sel]
            match = best_anchor(part, grid.anchors, thr, grid)
            level, row, col, slot = grid.locate(match.best_index)
            wh = part[:, 2:] - part[:, :2]
            shape_iou, shape_index = shape_best_iou(wh, shapes)
            ratio_best, ratio_count = yolo_ratio(wh, shapes, yolo_thr)
            for name, value in (
                ("best_iou", match.best_iou), ("best_index", match.best_index),
                ("above", match.above), ("level", level), ("row", row), ("col", col),
                ("slot", slot), ("anchor", grid.anchors[match.best_index]),
                ("shape_iou", shape_iou), ("shape_index", shape_index),
                ("ratio_best", ratio_best), ("ratio_count", ratio_count),
            ):  # fmt: skip
                out[name][sel] = value
            done += len(sel)
            if progress is not None:
                progress(done, n)
    return BoxCoverage(thresholds=thr, yolo_thr=float(yolo_thr), **out)


def coverage_report(
    boxes: npt.ArrayLike,
    input_sizes: npt.ArrayLike,
    grids: Grids,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    main: float | None = None,
    image_index: npt.ArrayLike | None = None,
    image_names: Sequence[str] | None = None,
    worst: int = 10,
    yolo_thr: float = YOLO_THR,
    progress: Callable[[int, int], None] | None = None,
    measured: BoxCoverage | None = None,
) -> dict[str, Any]:
    """How well the anchors cover the boxes, as a JSON-ready dict.

    Arguments as :func:`measure` (pass ``measured`` to reuse its result); ``main`` is the
    threshold the breakdowns and ``--fail-under`` use (default 0.5 when among the thresholds,
    else the first; added to the thresholds if missing); ``image_index`` ``(N,)`` and
    ``image_names`` name each box's image in ``worst``; ``worst`` is how many boxes to list.

    Keys: ``boxes`` (count), ``thresholds``, ``main_threshold``, ``iou`` (the definition),
    ``recall`` (share of boxes whose best IoU >= t, keyed by ``f"{t:g}"``, e.g. ``"0.5"``),
    ``mean_best_iou``, ``anchors_above`` (mean anchors per box with IoU >= t, same keys),
    ``shape`` (``mean_best_iou`` and ``recall`` of centred shapes), ``bpr``,
    ``anchors_per_target`` and ``yolo_thr`` (YOLO's ratio test), ``by_size`` (``small``,
    ``medium``, ``large`` by area in input pixels, see ``size_basis``), ``by_aspect``
    (:data:`ASPECT_BUCKETS` of w/h), each bucket ``{count, recall, mean_best_iou, bpr}`` at
    the main threshold; ``by_level`` (boxes whose best anchor is on each level, and their
    mean best IoU); ``worst`` (the lowest best IoUs, ties by box order: ``box_index``,
    ``image``, ``box`` and ``input_size`` in input pixels, ``best_iou``, ``anchor`` with its
    ``index``, ``level``, ``row``, ``col``, ``slot`` and ``box``). Means and shares of no
    boxes are ``None``.
    """
    thr = [float(t) for t in thresholds]
    if main is None:
        main = DEFAULT_MAIN if DEFAULT_MAIN in thr else (thr[0] if thr else DEFAULT_MAIN)
    if main not in thr:
        thr.append(float(main))
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    if worst < 0:
        raise AnchorError(f"worst boxes: expected a count >= 0, got {worst}")
    cov = measured
    if cov is None:
        cov = measure(b, input_sizes, grids, thr, yolo_thr=yolo_thr, progress=progress)
    elif len(cov.best_iou) != n or not set(thr) <= set(cov.thresholds):
        raise AnchorError("the measured coverage is for other boxes or thresholds")
    sizes = np.broadcast_to(np.asarray(input_sizes, dtype=np.int64), (n, 2))
    images = None if image_index is None else np.asarray(image_index, dtype=np.int64)
    stats = CoverageStats.of(b, sizes, cov, main=float(main), worst=worst, image=images)
    if image_names is not None:
        stats.name_images(image_names.__getitem__)
    report = stats.report()
    if cov.thresholds != tuple(thr):  # measured at more thresholds than asked: only these
        for key in ("recall", "anchors_above"):
            report[key] = {_key(t): report[key][_key(t)] for t in thr}
        report["shape"]["recall"] = {_key(t): report["shape"]["recall"][_key(t)] for t in thr}
        report["thresholds"] = thr
    return report


def _side_ratio(side: F64, anchor: F64) -> F64:
    """``min(r, 1/r)`` for ``r = side / anchor``, as ``min / max`` (one rounding; 0 for 0/0)."""
    low, high = np.minimum(side, anchor), np.maximum(side, anchor)
    out: F64 = np.divide(low, high, out=np.zeros_like(low), where=high > 0)
    return out


def _key(t: float) -> str:
    return f"{t:g}"


def _ratio_thr(thr: float) -> float:
    if not np.isfinite(thr) or thr < 1:
        raise AnchorError(f"ratio threshold {thr:g}: expected a number >= 1, like YOLO's 4.0")
    return float(thr)


def _wh(value: npt.ArrayLike, what: str) -> F64:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise AnchorError(f"{what}: expected an (N, 2) array of width, height, got {arr.shape}")
    return arr
