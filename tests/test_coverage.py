"""Coverage numbers and the report: synthetic sets with known answers, YOLO's ratio test."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anchorctl import conventions, presets
from anchorctl.annotations import Annotations, ImageRecord
from anchorctl.coverage import (
    ASPECT_BUCKETS,
    aspect_bucket,
    coverage_report,
    measure,
    yolo_metric,
    yolo_ratio,
)
from anchorctl.errors import AnchorError
from anchorctl.geometry import to_input
from anchorctl.iou import GridInfo, grid_from_levels

YOLOV5 = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326)]  # fmt: skip


def preset_grid(name: str) -> GridInfo:
    preset = presets.load_preset(name)
    module = conventions.load(preset.config.convention)
    return grid_from_levels(module.generate(preset.config.params), module.RULES, preset.input_size)


def single_shape_grid(size: tuple[int, int] = (96, 96)) -> GridInfo:
    """One 32x32 anchor per cell, centres every 16 px (torchvision puts cell 0 at 0, 0)."""
    module = conventions.load("torchvision")
    rows, cols = size[1] // 16, size[0] // 16
    params = {
        "feature_maps": [(rows, cols)],
        "sizes": [(32,)],
        "ratios": [(1.0,)],
        "image_size": size,
    }
    return grid_from_levels(module.generate(params), module.RULES, size)


def naive_best(boxes: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU matrix straight from the definition, for expected values."""
    x0 = np.maximum(boxes[:, None, 0], anchors[None, :, 0])
    y0 = np.maximum(boxes[:, None, 1], anchors[None, :, 1])
    x1 = np.minimum(boxes[:, None, 2], anchors[None, :, 2])
    y1 = np.minimum(boxes[:, None, 3], anchors[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    iou = inter / (area(boxes)[:, None] + area(anchors)[None, :] - inter)
    return iou.max(1), iou


# --- YOLO's ratio test ----------------------------------------------------------------------


def test_yolo_ratio_reference_values() -> None:
    """users.md section 6: 10x40 against 10x13 scores min(1, 13/40) = 0.325 > 1/4, matchable;
    10x60 scores 13/60 = 0.217, not."""
    best, bpr, aat = yolo_metric([[10, 40], [10, 60]], [[10, 13]])
    np.testing.assert_allclose(best, [13 / 40, 13 / 60], rtol=1e-15)
    assert bpr == 0.5 and aat == 0.5


def test_yolo_ratio_is_strict_at_the_threshold() -> None:
    best, bpr, aat = yolo_metric([[40, 10], [39.9, 10]], [[10, 10]])
    assert best.tolist()[0] == 0.25 and bpr == 0.5 and aat == 0.5  # 4x wide: not matchable
    _, bpr, _ = yolo_metric([[40, 10]], [[10, 10]], thr=4.01)
    assert bpr == 1.0


def test_yolo_metric_against_a_loop_over_yolov5_anchors() -> None:
    rng = np.random.default_rng(4)
    wh = np.exp(rng.uniform(np.log(2), np.log(640), (300, 2)))
    best, bpr, aat = yolo_metric(wh, YOLOV5)
    expected_best, counts = [], []
    for w, h in wh:
        xs = [min(w / aw, aw / w, h / ah, ah / h) for aw, ah in YOLOV5]
        expected_best.append(max(xs))
        counts.append(sum(x > 0.25 for x in xs))
    np.testing.assert_allclose(best, expected_best, rtol=1e-14)
    assert bpr == pytest.approx(np.mean(np.array(expected_best) > 0.25), abs=0)
    assert aat == pytest.approx(np.mean(counts), rel=1e-15)


def test_yolo_metric_edges() -> None:
    best, bpr, aat = yolo_metric(np.zeros((0, 2)), YOLOV5)
    assert best.shape == (0,) and math.isnan(bpr) and math.isnan(aat)
    best, count = yolo_ratio([[0, 10]], [[10, 10]])  # a zero side scores 0
    assert best.tolist() == [0.0] and count.tolist() == [0]
    with pytest.raises(AnchorError, match=r"ratio threshold 0\.5: expected a number >= 1"):
        yolo_metric([[10, 10]], [[10, 10]], thr=0.5)


# --- buckets --------------------------------------------------------------------------------


def test_aspect_buckets_and_their_edges() -> None:
    wh = [[1, 4], [1, 3], [1, 2], [2, 3], [1, 1], [3, 2], [2, 1], [3, 1], [4, 1], [5, 0]]
    names = [ASPECT_BUCKETS[i] for i in aspect_bucket(wh)]
    assert names == ["<1/3", "1/3-2/3", "1/3-2/3", "2/3-3/2", "2/3-3/2", "2/3-3/2", "3/2-3", "3/2-3", ">3", ">3"]  # fmt: skip


@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 1e4)), min_size=1, max_size=20))
def test_aspect_buckets_mirror_when_w_and_h_swap(wh: list[tuple[float, float]]) -> None:
    arr = np.array(wh)
    assert (aspect_bucket(arr) + aspect_bucket(arr[:, ::-1]) == len(ASPECT_BUCKETS) - 1).all()


def test_size_buckets_by_input_area() -> None:
    grid = single_shape_grid((256, 256))
    boxes = np.array([[0, 0, 31, 31], [0, 0, 32, 32], [0, 0, 96, 95], [0, 0, 96, 96]], float) + 50
    report = coverage_report(boxes, (256, 256), grid)
    counts = {name: bucket["count"] for name, bucket in report["by_size"].items()}
    assert counts == {"small": 1, "medium": 2, "large": 1}
    best, _ = naive_best(boxes, grid.anchors)
    medium = report["by_size"]["medium"]
    assert medium["mean_best_iou"] == pytest.approx(best[1:3].mean(), rel=1e-12)
    assert medium["recall"] == np.mean(best[1:3] >= 0.5)


# --- synthetic sets with known answers ------------------------------------------------------


def test_boxes_equal_to_the_anchors_are_all_covered() -> None:
    grid = preset_grid("ssd300")
    report = coverage_report(grid.anchors, (300, 300), grid, worst=3)
    assert report["boxes"] == 8732
    assert report["recall"] == {"0.3": 1.0, "0.5": 1.0, "0.7": 1.0}
    assert report["mean_best_iou"] == 1.0
    assert all(row["best_iou"] == 1.0 for row in report["worst"])
    assert report["bpr"] == 1.0
    assert report["shape"]["recall"]["0.7"] == 1.0
    assert sum(level["boxes"] for level in report["by_level"]) == 8732
    assert [lv["boxes"] for lv in report["by_level"]] == [5776, 2166, 600, 150, 36, 4]
    json.dumps(report)  # JSON-ready as it is


def test_boxes_half_a_stride_off_get_the_formula_iou() -> None:
    """Every anchor but the last column's, moved right by d = stride / 2 = 8: the anchor and
    its right-hand neighbour both overlap by w - d, IoU (w - d) h / ((w + d) h) = 0.6."""
    grid = single_shape_grid()
    col = grid.locate(np.arange(len(grid.anchors)))[2]
    inner = grid.anchors[col < grid.levels[0].cols - 1]
    boxes = inner + np.array([8, 0, 8, 0])
    report = coverage_report(boxes, (96, 96), grid, [0.3, 0.5, 0.7], worst=1)
    w, d = 32.0, 8.0
    expected = (w - d) * w / ((w + d) * w)
    assert report["mean_best_iou"] == pytest.approx(expected, rel=1e-15)
    assert report["recall"] == {"0.3": 1.0, "0.5": 1.0, "0.7": 0.0}
    assert report["anchors_above"]["0.5"] == 2.0 and report["anchors_above"]["0.7"] == 0.0
    assert report["shape"]["mean_best_iou"] == 1.0  # same shape, only the position is off
    worst = report["worst"][0]
    assert worst["box_index"] == 0 and worst["anchor"]["index"] == 0  # ties: the lower index
    assert worst["anchor"]["box"] == grid.anchors[0].tolist()


def test_report_matches_brute_force_on_random_boxes() -> None:
    grid = preset_grid("yolov3")
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 416, (400, 2))
    boxes = np.concatenate([xy, xy + np.exp(rng.uniform(1, 5.5, (400, 2)))], 1)
    report = coverage_report(boxes, (416, 416), grid, [0.25, 0.5])
    best, iou = naive_best(boxes, grid.anchors)
    assert report["recall"]["0.25"] == np.mean(best >= 0.25)
    assert report["recall"]["0.5"] == np.mean(best >= 0.5)
    assert report["mean_best_iou"] == pytest.approx(best.mean(), rel=1e-12)
    assert report["anchors_above"]["0.5"] == np.mean((iou >= 0.5).sum(1))
    level = grid.locate(iou.argmax(1))[0]
    assert [lv["boxes"] for lv in report["by_level"]] == np.bincount(level, minlength=3).tolist()


def test_worst_lists_the_lowest_best_ious_with_their_images() -> None:
    grid = single_shape_grid()
    anchors = grid.anchors
    boxes = np.stack(
        [
            anchors[14],
            anchors[14] + [2, 0, 2, 0],
            anchors[20] + [8, 8, 8, 8],
            anchors[7] + [2, 0, 2, 0],
        ]
    )
    report = coverage_report(
        boxes,
        (96, 96),
        grid,
        worst=3,
        image_index=[0, 1, 1, 2],
        image_names=["a.jpg", "b.jpg", "c.jpg"],
    )
    rows = report["worst"]
    assert [r["box_index"] for r in rows] == [2, 1, 3]  # 1 and 3 tie: box order
    assert [r["image"] for r in rows] == ["b.jpg", "b.jpg", "c.jpg"]
    assert rows[0]["anchor"]["index"] == 20 and rows[0]["anchor"]["row"] == 3
    assert rows[0]["anchor"]["col"] == 2 and rows[0]["box"] == boxes[2].tolist()
    assert rows[0]["best_iou"] == pytest.approx(24 * 24 / (2 * 32 * 32 - 24 * 24), rel=1e-15)
    no_names = coverage_report(boxes, (96, 96), grid, worst=1, image_index=[0, 1, 1, 2])
    assert no_names["worst"][0]["image"] == 1


def test_thresholds_are_keyed_as_written_and_the_main_one_is_added() -> None:
    grid = single_shape_grid()
    report = coverage_report(grid.anchors[:3], (96, 96), grid, [0.3, 0.7])
    assert report["main_threshold"] == 0.3  # 0.5 absent: the first
    report = coverage_report(grid.anchors[:3], (96, 96), grid, [0.3, 0.7], main=0.5)
    assert list(report["recall"]) == ["0.3", "0.7", "0.5"] and report["main_threshold"] == 0.5
    with pytest.raises(AnchorError, match=r"IoU threshold 0: expected a number in \(0, 1\]"):
        coverage_report(grid.anchors[:3], (96, 96), grid, [0.0])


def test_no_boxes_give_none_not_nan() -> None:
    grid = single_shape_grid()
    report = coverage_report(np.zeros((0, 4)), np.zeros((0, 2)), grid)
    assert report["boxes"] == 0 and report["recall"]["0.5"] is None
    assert report["mean_best_iou"] is None and report["bpr"] is None and report["worst"] == []
    assert report["by_size"]["small"] == {
        "count": 0,
        "recall": None,
        "mean_best_iou": None,
        "bpr": None,
    }


# --- several input sizes (shorter-side resizing) --------------------------------------------


def test_each_input_size_gets_its_own_anchors() -> None:
    made: list[tuple[int, int]] = []

    def grid_for(size: tuple[int, int]) -> GridInfo:
        made.append(size)
        return single_shape_grid(size)

    small, large = single_shape_grid((96, 64)), single_shape_grid((160, 128))
    boxes = np.concatenate([small.anchors[:5] + 3, large.anchors[-5:] - 2, small.anchors[5:7]])
    sizes = [[96, 64]] * 5 + [[160, 128]] * 5 + [[96, 64]] * 2
    seen: list[tuple[int, int]] = []
    cov = measure(boxes, sizes, grid_for, [0.5], progress=lambda d, t: seen.append((d, t)))
    assert sorted(made) == [(96, 64), (160, 128)] and seen[-1] == (12, 12)
    alone = measure(boxes[5:10], (160, 128), large, [0.5])
    np.testing.assert_array_equal(cov.best_iou[5:10], alone.best_iou)
    np.testing.assert_array_equal(cov.best_index[5:10], alone.best_index)
    np.testing.assert_array_equal(cov.anchor[5:10], large.anchors[alone.best_index])
    first = measure(boxes[[0, 1, 2, 3, 4, 10, 11]], (96, 64), small, [0.5])
    np.testing.assert_array_equal(cov.best_iou[[0, 1, 2, 3, 4, 10, 11]], first.best_iou)
    with pytest.raises(
        AnchorError, match="the boxes are in a 160x128 input but the anchors are for 96x64"
    ):
        measure(boxes, sizes, small, [0.5])


# --- from annotations -----------------------------------------------------------------------


def test_annotations_drawn_on_the_anchors_are_all_covered() -> None:
    """A 600x600 image holding a box on every ssd300 anchor (scaled by 2, exact in binary):
    stretched back to 300x300 they are the anchors again, best IoU exactly 1."""
    grid = preset_grid("ssd300")
    boxes = grid.anchors * 2
    ann = Annotations(
        images=[ImageRecord("big.jpg", 600, 600)],
        boxes=boxes,
        image_index=np.zeros(len(boxes), dtype=np.int64),
        categories=["x"] * len(boxes),
        skipped=[],
        format="csv",
    )
    inputs, sizes = to_input(ann, "stretch", (300, 300))
    report: dict[str, Any] = coverage_report(
        inputs, sizes, grid, image_index=ann.image_index, image_names=[im.name for im in ann.images]
    )
    assert report["recall"]["0.5"] == 1.0 and report["mean_best_iou"] == 1.0
    assert report["worst"][0]["image"] == "big.jpg"


# --- exact thresholds: a box at exactly IoU t is covered at t --------------------------------


def test_a_box_at_exactly_the_main_threshold_is_covered() -> None:
    # 32x32 anchors every 16 px; the 64x32 box overlaps three of them by 32x32 = 1024 of a
    # 2048-pixel union: IoU exactly 0.5 (and its centred shape's IoU with 32x32 is 0.5 too).
    grid = single_shape_grid((96, 96))
    box = np.array([[16.0, 16.0, 80.0, 48.0]])
    just_above = float(np.nextafter(0.5, 1.0))
    report = coverage_report(box, (96, 96), grid, thresholds=(0.5,))
    assert report["mean_best_iou"] == 0.5
    assert report["recall"] == {"0.5": 1.0}  # best IoU >= t: exactly t counts
    assert report["shape"]["recall"]["0.5"] == 1.0
    assert report["anchors_above"]["0.5"] == 3.0
    assert report["by_size"]["medium"]["recall"] == 1.0  # the main-threshold breakdowns
    assert report["by_aspect"]["3/2-3"]["recall"] == 1.0
    stricter = coverage_report(box, (96, 96), grid, thresholds=(just_above,), main=just_above)
    assert list(stricter["recall"].values()) == [0.0]
    assert list(stricter["shape"]["recall"].values()) == [0.0]
    assert stricter["by_size"]["medium"]["recall"] == 0.0
