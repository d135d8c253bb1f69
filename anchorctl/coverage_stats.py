"""Coverage as mergeable sufficient statistics: per-box numbers in, a few counts and sums out.

A :class:`CoverageStats` holds everything the coverage report says, for any number of
boxes, in a size that does not grow with them: counts (boxes, boxes covered at each
threshold, matchable boxes, anchors above each threshold), exact sums (of the best IoU and
the shape IoU: see :func:`exact_sum`), per-bucket counts and sums (COCO size, aspect ratio,
level), a histogram of the best IoU, and the worst-covered boxes. Two of them
:meth:`~CoverageStats.merge` into the statistics of both sets of boxes, so the report of a
data set can be computed a chunk at a time (``anchorctl coverage`` does, in parallel), or
shard by shard on other machines and reduced with ``anchorctl coverage --merge``.

Merging shards gives exactly the report of the whole, number for number: counts and
shares are counts; sums are kept exactly (as integers in units of 2^-1127) so the means are
the correctly rounded mean of all the boxes whatever the sharding; the worst boxes keep
input order on ties when the shards are merged in input order (each shard's box indices
are offset by the boxes of the shards before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError

__all__ = [
    "ASPECT_BUCKETS",
    "HISTOGRAM_BINS",
    "SIZE_BUCKETS",
    "STATS_VERSION",
    "CoverageStats",
    "aspect_bucket",
    "exact_sum",
    "exact_sums",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

STATS_VERSION = 1
# COCO's object sizes, here by box area w * h in network-input pixels (COCO's evaluation uses
# the annotation's segment area in the original image): small < 32^2 <= medium < 96^2 <= large.
SIZE_BUCKETS = (("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2), ("large", 96.0**2, np.inf))
# Buckets of r = w / h, symmetric under swapping w and h:
# r < 1/3 | 1/3 <= r < 2/3 | 2/3 <= r <= 3/2 | 3/2 < r <= 3 | r > 3.
ASPECT_BUCKETS = ("<1/3", "1/3-2/3", "2/3-3/2", "3/2-3", ">3")
HISTOGRAM_BINS = 100  # of the best IoU: [0, 0.01), ..., [0.99, 1.0]
# Sums are integers in units of 2^-SCALE: every float64 from the smallest subnormal up is a
# whole multiple of it.
SCALE = 1127
_PART = 1 << 24  # values per exact partial sum (float64 sums of 26-bit parts stay exact)


def exact_sum(values: npt.ArrayLike) -> int:
    """The exact sum of finite float64 values, as an integer in units of ``2**-SCALE``.

    Each value is ``m * 2**(e - 53)`` with an integer ``|m| < 2**53`` (``np.frexp``); the
    ``m`` are summed per exponent in two 26/27-bit halves, whose float64 sums are exact for
    up to 2^24 values, and combined with Python integers. So ``exact_sum(a) + exact_sum(b)
    == exact_sum(concatenate(a, b))`` always: a sum does not depend on chunking or order.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    return exact_sums(x, np.zeros(len(x), dtype=np.int64), 1)[0]


def exact_sums(values: F64, group: I64, groups: int) -> list[int]:
    """:func:`exact_sum` of the values of each group ``0 .. groups - 1``, in one pass."""
    totals = [0] * groups
    for start in range(0, len(values), _PART):
        part = values[start : start + _PART]
        mantissa, exponent = np.frexp(part)
        m = (mantissa * 2.0**53).astype(np.int64)
        shift = exponent.astype(np.int64) - 53 + SCALE  # >= 1 for every finite float64
        if not len(shift):
            continue
        base = int(shift.min())
        span = int(shift.max()) - base + 1  # a few dozen exponents for IoUs
        where = group[start : start + _PART] * span + (shift - base)
        size = groups * span
        high = np.bincount(where, weights=(m >> 26).astype(np.float64), minlength=size)
        low = np.bincount(where, weights=(m & ((1 << 26) - 1)).astype(np.float64), minlength=size)
        for key in np.flatnonzero((high != 0) | (low != 0)).tolist():
            g, k = divmod(key, span)
            totals[g] += ((int(high[key]) << 26) + int(low[key])) << (base + k)
    return totals


def exact_mean(total: int, count: int) -> float | None:
    """The correctly rounded mean of values whose :func:`exact_sum` is ``total``."""
    if count == 0:
        return None
    return float(Fraction(total, count << SCALE))


def aspect_bucket(wh: npt.ArrayLike) -> I64:
    """Index into :data:`ASPECT_BUCKETS` of each ``(w, h)`` ``(N, 2)``.

    Compared as ``3w < h`` rather than ``w/h < 1/3``, so exact ratios land the same way on
    both sides (a 1x3 box and a 3x1 box fall in mirrored buckets).
    """
    s = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    w, h = s[:, 0], s[:, 1]
    out = np.full(len(s), 2, dtype=np.int64)
    out[(3 * h < 2 * w)] = 3
    out[(3 * h < w)] = 4
    out[(3 * w < 2 * h)] = 1
    out[(3 * w < h)] = 0
    return out


@dataclass
class Bucket:
    """Boxes of one size, aspect or level bucket: how many, covered at the main threshold,
    matchable by YOLO's ratio test, and the exact sum of their best IoU."""

    count: int = 0
    covered: int = 0
    matchable: int = 0
    best_sum: int = 0

    def add(self, other: Bucket) -> None:
        self.count += other.count
        self.covered += other.covered
        self.matchable += other.matchable
        self.best_sum += other.best_sum

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "covered": self.covered,
            "matchable": self.matchable,
            "best_iou_sum": hex(self.best_sum),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bucket:
        return cls(
            int(data["count"]),
            int(data["covered"]),
            int(data["matchable"]),
            int(data["best_iou_sum"], 16),
        )


def _buckets(n: int) -> list[Bucket]:
    return [Bucket() for _ in range(n)]


@dataclass
class CoverageStats:
    """The sufficient statistics of a coverage report; see the module docstring.

    ``thresholds`` include ``main``; ``worst_count`` is how many worst boxes are kept;
    ``worst`` rows are ``(best_iou, box_index, row)`` with ``row`` the report's dict (its
    ``image`` an image row number until :meth:`name_images`).
    """

    thresholds: tuple[float, ...]
    main: float
    yolo_thr: float
    worst_count: int
    boxes: int = 0
    covered: list[int] = field(default_factory=list)
    above: list[int] = field(default_factory=list)
    best_sum: int = 0
    shape_covered: list[int] = field(default_factory=list)
    shape_sum: int = 0
    matchable: int = 0
    ratio_count: int = 0
    by_size: list[Bucket] = field(default_factory=lambda: _buckets(len(SIZE_BUCKETS)))
    by_aspect: list[Bucket] = field(default_factory=lambda: _buckets(len(ASPECT_BUCKETS)))
    by_level: list[Bucket] = field(default_factory=list)
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    worst: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.covered:
            self.covered = [0] * len(self.thresholds)
            self.above = [0] * len(self.thresholds)
            self.shape_covered = [0] * len(self.thresholds)

    def empty(self) -> CoverageStats:
        """Statistics of no boxes, with the same settings."""
        return CoverageStats(self.thresholds, self.main, self.yolo_thr, self.worst_count)

    # --- from per-box numbers -------------------------------------------------------------

    @classmethod
    def of(
        cls,
        boxes: F64,
        input_sizes: I64,
        cov: Any,
        *,
        main: float,
        worst: int,
        image: I64 | None = None,
        first: int = 0,
    ) -> CoverageStats:
        """The statistics of boxes measured by :func:`anchorctl.coverage.measure`.

        ``boxes`` ``(n, 4)`` and ``input_sizes`` ``(n, 2)`` as measured, in input pixels;
        ``cov`` the :class:`~anchorctl.coverage.BoxCoverage`; ``image`` ``(n,)`` image rows
        for the worst boxes; ``first`` the index of the first box in the whole input.
        """
        thr = tuple(cov.thresholds)
        stats = cls(thr, float(main), float(cov.yolo_thr), worst)
        n = len(boxes)
        if n == 0:
            return stats
        best = cov.best_iou
        stats.boxes = n
        stats.covered = [int(np.count_nonzero(best >= t)) for t in thr]
        stats.above = [int(cov.above[:, k].sum()) for k in range(len(thr))]
        stats.best_sum = exact_sum(best)
        stats.shape_covered = [int(np.count_nonzero(cov.shape_iou >= t)) for t in thr]
        stats.shape_sum = exact_sum(cov.shape_iou)
        matchable = cov.ratio_best > 1.0 / cov.yolo_thr
        stats.matchable = int(np.count_nonzero(matchable))
        stats.ratio_count = int(cov.ratio_count.sum())
        covered = best >= main
        wh = boxes[:, 2:] - boxes[:, :2]
        area = wh[:, 0] * wh[:, 1]
        size_of = np.zeros(n, dtype=np.int64)
        for k, (_, low, _high) in enumerate(SIZE_BUCKETS):
            size_of[area >= low] = k
        stats.by_size = _bucket_stats(size_of, len(SIZE_BUCKETS), best, covered, matchable)
        stats.by_aspect = _bucket_stats(
            aspect_bucket(wh), len(ASPECT_BUCKETS), best, covered, matchable
        )
        levels = int(cov.level.max()) + 1
        stats.by_level = _bucket_stats(cov.level, levels, best, covered, matchable)
        bins = np.minimum((best * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
        stats.histogram = np.bincount(bins, minlength=HISTOGRAM_BINS).tolist()
        order = np.argsort(best, kind="stable")[:worst]
        for i in order.tolist():
            row = {
                "box_index": first + i,
                "image": None if image is None else int(image[i]),
                "box": [float(v) for v in boxes[i]],
                "input_size": [int(v) for v in input_sizes[i]],
                "best_iou": float(best[i]),
                "anchor": {
                    "index": int(cov.best_index[i]),
                    "level": int(cov.level[i]),
                    "row": int(cov.row[i]),
                    "col": int(cov.col[i]),
                    "slot": int(cov.slot[i]),
                    "box": [float(v) for v in cov.anchor[i]],
                },
            }
            stats.worst.append((float(best[i]), first + i, row))
        return stats

    # --- merging --------------------------------------------------------------------------

    def merge(self, other: CoverageStats, offset: int = 0) -> None:
        """Add ``other``'s boxes; its box indices are moved by ``offset`` (the boxes that
        come before it in the whole input, when they are counted from 0 in ``other``)."""
        if (
            other.thresholds != self.thresholds
            or other.main != self.main
            or other.yolo_thr != self.yolo_thr
        ):
            raise AnchorError(
                "coverage statistics with different IoU thresholds or YOLO ratio threshold "
                "cannot be merged"
            )
        self.boxes += other.boxes
        self.covered = [a + b for a, b in zip(self.covered, other.covered, strict=True)]
        self.above = [a + b for a, b in zip(self.above, other.above, strict=True)]
        self.best_sum += other.best_sum
        self.shape_covered = [
            a + b for a, b in zip(self.shape_covered, other.shape_covered, strict=True)
        ]
        self.shape_sum += other.shape_sum
        self.matchable += other.matchable
        self.ratio_count += other.ratio_count
        for mine, theirs in ((self.by_size, other.by_size), (self.by_aspect, other.by_aspect)):
            for a, b in zip(mine, theirs, strict=True):
                a.add(b)
        while len(self.by_level) < len(other.by_level):
            self.by_level.append(Bucket())
        for a, b in zip(self.by_level, other.by_level, strict=False):
            a.add(b)
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        moved = other.worst
        if offset:
            moved = []
            for best, index, row in other.worst:
                row = {**row, "box_index": row["box_index"] + offset}
                moved.append((best, index + offset, row))
        self.worst = sorted([*self.worst, *moved], key=lambda w: (w[0], w[1]))[: self.worst_count]

    def name_images(self, name: Callable[[int], str] | None) -> None:
        """Replace the worst rows' image rows by names (``name(row)``)."""
        if name is None:
            return
        for _, _, row in self.worst:
            if isinstance(row["image"], int):
                row["image"] = name(row["image"])

    # --- the report -----------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The coverage report (see :func:`anchorctl.coverage.coverage_report`)."""
        n = self.boxes
        col = {t: k for k, t in enumerate(self.thresholds)}

        def share(count: int, total: int) -> float | None:
            return count / total if total else None

        def bucket(b: Bucket) -> dict[str, Any]:
            return {
                "count": b.count,
                "recall": share(b.covered, b.count),
                "mean_best_iou": exact_mean(b.best_sum, b.count),
                "bpr": share(b.matchable, b.count),
            }

        from anchorctl.coverage import IOU_DEFINITION

        return {
            "boxes": n,
            "thresholds": list(self.thresholds),
            "main_threshold": self.main,
            "iou": IOU_DEFINITION,
            "recall": {_key(t): share(self.covered[col[t]], n) for t in self.thresholds},
            "mean_best_iou": exact_mean(self.best_sum, n),
            "anchors_above": {_key(t): share(self.above[col[t]], n) for t in self.thresholds},
            "shape": {
                "mean_best_iou": exact_mean(self.shape_sum, n),
                "recall": {_key(t): share(self.shape_covered[col[t]], n) for t in self.thresholds},
            },
            "bpr": share(self.matchable, n),
            "anchors_per_target": share(self.ratio_count, n),
            "yolo_thr": self.yolo_thr,
            "size_basis": "box area w*h in input pixels: small < 32^2 <= medium < 96^2 <= large",
            "by_size": {
                name: bucket(b) for (name, _, _), b in zip(SIZE_BUCKETS, self.by_size, strict=True)
            },
            "aspect_basis": "w/h in input pixels: <1/3, [1/3, 2/3), [2/3, 3/2], (3/2, 3], >3",
            "by_aspect": {
                name: bucket(b) for name, b in zip(ASPECT_BUCKETS, self.by_aspect, strict=True)
            },
            "by_level": [
                {"level": i, "boxes": b.count, "mean_best_iou": exact_mean(b.best_sum, b.count)}
                for i, b in enumerate(self.by_level)
            ],
            "best_iou_histogram": {"bins": HISTOGRAM_BINS, "counts": list(self.histogram)},
            "worst": [row for _, _, row in self.worst],
        }

    def to_json(self) -> dict[str, Any]:
        """The statistics as JSON (``coverage --format json`` writes them under ``stats``)."""
        return {
            "version": STATS_VERSION,
            "thresholds": list(self.thresholds),
            "main_threshold": self.main,
            "yolo_thr": self.yolo_thr,
            "worst_count": self.worst_count,
            "boxes": self.boxes,
            "covered": self.covered,
            "anchors_above_sum": self.above,
            "sum_unit": f"2^-{SCALE}",
            "best_iou_sum": hex(self.best_sum),
            "shape_covered": self.shape_covered,
            "shape_iou_sum": hex(self.shape_sum),
            "matchable": self.matchable,
            "ratio_count_sum": self.ratio_count,
            "by_size": [b.to_json() for b in self.by_size],
            "by_aspect": [b.to_json() for b in self.by_aspect],
            "by_level": [b.to_json() for b in self.by_level],
            "best_iou_histogram": self.histogram,
            "worst": [row for _, _, row in self.worst],
        }

    @classmethod
    def from_json(cls, data: Any, name: str) -> CoverageStats:
        """Statistics written by :meth:`to_json`; :class:`AnchorError` naming ``name``
        when they are not."""
        try:
            if data.get("version") != STATS_VERSION:
                raise AnchorError(
                    f"{name}: coverage statistics of version {data.get('version')!r}; "
                    f"this anchorctl reads version {STATS_VERSION}"
                )
            stats = cls(
                tuple(float(t) for t in data["thresholds"]),
                float(data["main_threshold"]),
                float(data["yolo_thr"]),
                int(data["worst_count"]),
                boxes=int(data["boxes"]),
                covered=[int(v) for v in data["covered"]],
                above=[int(v) for v in data["anchors_above_sum"]],
                best_sum=int(data["best_iou_sum"], 16),
                shape_covered=[int(v) for v in data["shape_covered"]],
                shape_sum=int(data["shape_iou_sum"], 16),
                matchable=int(data["matchable"]),
                ratio_count=int(data["ratio_count_sum"]),
                by_size=[Bucket.from_json(b) for b in data["by_size"]],
                by_aspect=[Bucket.from_json(b) for b in data["by_aspect"]],
                by_level=[Bucket.from_json(b) for b in data["by_level"]],
                histogram=[int(v) for v in data["best_iou_histogram"]],
            )
            stats.worst = [
                (float(row["best_iou"]), int(row["box_index"]), dict(row)) for row in data["worst"]
            ]
        except AnchorError:
            raise
        except (TypeError, KeyError, ValueError, AttributeError):
            raise AnchorError(
                f"{name}: not coverage statistics (expected the 'stats' object that "
                "`anchorctl coverage --format json` writes)"
            ) from None
        sizes = (len(stats.covered), len(stats.above), len(stats.shape_covered))
        if (
            any(s != len(stats.thresholds) for s in sizes)
            or len(stats.by_size) != len(SIZE_BUCKETS)
            or len(stats.by_aspect) != len(ASPECT_BUCKETS)
            or len(stats.histogram) != HISTOGRAM_BINS
            or stats.main not in stats.thresholds
        ):
            raise AnchorError(f"{name}: coverage statistics with inconsistent lengths")
        return stats


def _bucket_stats(
    which: I64, count: int, best: F64, covered: npt.NDArray[np.bool_], matchable: Any
) -> list[Bucket]:
    sizes = np.bincount(which, minlength=count)
    hits = np.bincount(which, weights=covered, minlength=count)
    matched = np.bincount(which, weights=matchable, minlength=count)
    sums = exact_sums(best, which.astype(np.int64), count)
    return [Bucket(int(sizes[k]), int(hits[k]), int(matched[k]), sums[k]) for k in range(count)]


def _key(t: float) -> str:
    return f"{t:g}"


def merged(parts: Sequence[CoverageStats]) -> CoverageStats:
    """The statistics of all ``parts`` together, in order (box indices offset)."""
    if not parts:
        raise AnchorError("nothing to merge")
    total = parts[0].empty()
    for part in parts:
        total.merge(part, offset=total.boxes)
    return total
