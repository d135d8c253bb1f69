"""suggest: IoU k-means anchors (known shapes recovered, determinism, medians, brute-force IoU)
and anchors written as a convention's options (express)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.errors import AnchorError
from anchorctl.suggest import express, kmeans_anchors, refine_anchors

# Five shapes far apart in IoU (width x height, pixels), listed by area.
SHAPES = np.array([(12, 10), (30, 60), (64, 32), (120, 110), (300, 200)], dtype=np.float64)


def boxes_around(shapes: np.ndarray, per: int, sigma: float, seed: int) -> np.ndarray:
    """``per`` boxes per shape, each side times exp(N(0, sigma)): a cloud around each shape."""
    rng = np.random.default_rng(seed)
    wh = np.repeat(shapes, per, axis=0)
    return wh * np.exp(rng.normal(0.0, sigma, wh.shape))


def brute_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Centred-shape IoU by the definition, one pair at a time."""
    out = np.empty((len(wh), len(anchors)))
    for i, (w, h) in enumerate(wh):
        for j, (aw, ah) in enumerate(anchors):
            inter = min(w, aw) * min(h, ah)
            out[i, j] = inter / (w * h + aw * ah - inter)
    return out


@pytest.mark.parametrize("method", ["means", "medians"])
def test_recovers_shapes_the_boxes_were_drawn_around(method: str) -> None:
    wh = boxes_around(SHAPES, 300, 0.05, seed=1)
    result = kmeans_anchors(wh, 5, seed=0, method=method)
    assert result.converged
    # the anchors come sorted by area, as SHAPES are
    np.testing.assert_allclose(result.anchors, SHAPES, rtol=0.03)
    # every box belongs to the anchor of its own shape
    np.testing.assert_array_equal(result.assignments, np.repeat(np.arange(5), 300))


def test_same_seed_same_result_bit_for_bit() -> None:
    wh = np.random.default_rng(3).uniform(4, 400, size=(3000, 2))
    a = kmeans_anchors(wh, 7, seed=11)
    b = kmeans_anchors(wh.copy(), 7, seed=11)
    np.testing.assert_array_equal(a.anchors, b.anchors)
    np.testing.assert_array_equal(a.assignments, b.assignments)
    np.testing.assert_array_equal(a.best_iou, b.best_iou)
    assert (a.mean_iou, a.iterations) == (b.mean_iou, b.iterations)


def test_the_seed_is_used() -> None:
    wh = np.random.default_rng(3).uniform(4, 400, size=(3000, 2))
    results = [kmeans_anchors(wh, 7, seed=s).anchors for s in range(4)]
    assert any(not np.array_equal(results[0], r) for r in results[1:])


def test_any_seed_finds_well_separated_shapes() -> None:
    wh = boxes_around(SHAPES, 200, 0.05, seed=2)
    results = [kmeans_anchors(wh, 5, seed=s) for s in range(8)]
    for result in results:
        np.testing.assert_allclose(result.anchors, SHAPES, rtol=0.03)
        assert result.mean_iou == pytest.approx(results[0].mean_iou, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=40),
    st.integers(1, 5),
    st.sampled_from(["means", "medians"]),
    st.integers(0, 3),
)
def test_best_iou_and_assignments_match_brute_force(
    boxes: list[tuple[int, int]], k: int, method: str, seed: int
) -> None:
    wh = np.array(boxes, dtype=np.float64)
    k = min(k, len(set(boxes)))
    result = kmeans_anchors(wh, k, seed=seed, method=method)
    iou = brute_iou(wh, result.anchors)
    np.testing.assert_allclose(result.best_iou, iou.max(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(result.assignments, iou.argmax(axis=1))
    assert result.mean_iou == pytest.approx(iou.max(axis=1).mean(), rel=1e-12)
    areas = result.anchors[:, 0] * result.anchors[:, 1]
    assert (np.diff(areas) >= 0).all()


@pytest.mark.parametrize("method", ["means", "medians"])
def test_converged_anchors_are_the_mean_or_median_of_their_boxes(method: str) -> None:
    # whole-pixel boxes repeat, so the clustering weights (counts) are exercised
    wh = np.round(boxes_around(SHAPES, 101, 0.15, seed=4))
    result = kmeans_anchors(wh, 5, seed=0, method=method)
    assert result.converged
    centre = np.mean if method == "means" else np.median
    for j, anchor in enumerate(result.anchors):
        members = wh[result.assignments == j]
        np.testing.assert_allclose(anchor, centre(members, axis=0), rtol=1e-12)


def test_medians_resist_outliers_that_pull_the_mean() -> None:
    rng = np.random.default_rng(5)
    core = 50.0 * np.exp(rng.normal(0.0, 0.05, size=(200, 2)))
    outliers = np.full((20, 2), 400.0) + rng.uniform(0, 1, size=(20, 2))
    wh = np.concatenate([core, outliers])
    medians = kmeans_anchors(wh, 1, method="medians").anchors[0]
    means = kmeans_anchors(wh, 1, method="means").anchors[0]
    np.testing.assert_allclose(medians, np.median(wh, axis=0), rtol=1e-12)
    np.testing.assert_allclose(means, wh.mean(axis=0), rtol=1e-12)
    assert abs(medians[0] / 50.0 - 1) < 0.05 and means[0] > 70


def test_k_equal_to_the_distinct_shapes_gives_them_back() -> None:
    distinct = np.array([(30, 10), (5, 5), (20, 40), (100, 100)], dtype=np.float64)
    wh = np.repeat(distinct, [3, 1, 7, 2], axis=0)
    result = kmeans_anchors(wh, 4, seed=9)
    by_area = distinct[np.argsort(distinct[:, 0] * distinct[:, 1])]
    np.testing.assert_array_equal(result.anchors, by_area)
    assert result.mean_iou == 1.0


def test_an_idle_centre_moves_to_the_worst_covered_box() -> None:
    shapes = np.array([(10, 10), (40, 20), (100, 100)], dtype=np.float64)
    wh = boxes_around(shapes, 100, 0.03, seed=6)
    # two identical starting anchors: the second gets no box (ties go to the first)
    start = [(10, 10), (10, 10), (100, 100)]
    result = refine_anchors(wh, start)
    np.testing.assert_allclose(result.anchors, shapes, rtol=0.03)
    again = refine_anchors(wh, start)
    np.testing.assert_array_equal(result.anchors, again.anchors)
    assert result.seed is None


def test_max_iter_stops_early_and_says_so() -> None:
    wh = np.random.default_rng(8).uniform(4, 400, size=(5000, 2))
    result = kmeans_anchors(wh, 9, max_iter=1)
    assert result.iterations == 1 and not result.converged


@pytest.mark.parametrize(
    ("wh", "k", "kwargs", "expected"),
    [
        ([(10, 10), (20, 20)], 0, {}, "--k: 0 is not a number of anchors"),
        ([(10, 10), (20, 20)], 2.5, {}, "--k: 2.5"),
        ([(10, 10), (10, 10), (20, 20)], 3, {}, "only 2 distinct shapes; give --k 2 or fewer"),
        ([(10, 10), (0, 20)], 1, {}, "box 1 is 0 x 20"),
        ([(10, 10), (float("nan"), 20)], 1, {}, "box 1 is nan x 20"),
        ([(10, 10), (-3, 20)], 1, {}, "positive finite pixels"),
        ([], 1, {}, "none to cluster"),
        ([(1, 2, 3)], 1, {}, "(N, 2) array"),
        ([(10, 10)], 1, {"method": "mode"}, "--method: 'mode' is not one of means, medians"),
        ([(10, 10)], 1, {"seed": -1}, "--seed: -1"),
        ([(10, 10)], 1, {"max_iter": 0}, "--max-iter: 0"),
    ],
)
def test_bad_input_gives_one_line_errors(
    wh: list[tuple[float, ...]], k: float, kwargs: dict[str, object], expected: str
) -> None:
    with pytest.raises(AnchorError) as info:
        kmeans_anchors(wh, k, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert expected in message and "\n" not in message


# --------------------------------------------------------------------------- express


def shapes_of(convention: str, params: dict[str, object]) -> np.ndarray:
    """The per-cell (w, h) of the first level, as the convention itself makes them."""
    level = conventions.load(convention).generate(params)[0]
    return np.array([(s.width, s.height) for s in level.shapes])


def nearest_error(source: np.ndarray, made: np.ndarray) -> float:
    """Brute force: each source shape against every made shape, the best, then the worst."""
    worst = 0.0
    for w, h in source:
        best = min(max(abs(mw / w - 1), abs(mh / h - 1)) for mw, mh in made)
        worst = max(worst, best)
    return worst


ONE_CELL: dict[str, Any] = {"feature_maps": [(1, 1)]}
# Each convention's own output for a product set, and how to regenerate from expressed options.
SOURCES: dict[str, dict[str, Any]] = {
    "torchvision": {"sizes": [(32.0, 64.0)], "ratios": [(0.5, 1.0, 2.0)], "strides": [(16, 16)]},
    "detectron2": {"sizes": [(40.0, 90.0)], "ratios": [(0.5, 1.0, 2.0)], "strides": [(16, 16)]},
    "mmdet": {"scales": (8.0, 10.0), "ratios": [(0.5, 1.0, 2.0)], "strides": [(4, 4)]},
    "keras-retinanet": {"sizes": [(32.0,)], "ratios": (0.5, 1.0, 2.0), "strides": [(8, 8)]},
    "tf-grid": {"scales": (0.25, 0.5), "ratios": (0.5, 1.0, 2.0)},
}
EXTRA: dict[str, dict[str, Any]] = {
    "torchvision": {"strides": [(16, 16)]},
    "detectron2": {"strides": [(16, 16)]},
    "mmdet": {"strides": [(4, 4)]},
    "keras-retinanet": {"strides": [(8, 8)]},
    "tf-grid": {},
}


@pytest.mark.parametrize("convention", sorted(SOURCES))
def test_a_conventions_own_shapes_are_expressed_exactly(convention: str) -> None:
    source = shapes_of(convention, {**ONE_CELL, **SOURCES[convention]})
    result = express(source, convention)
    assert result.exact and result.max_rel_error <= 1e-5, result.note
    made = shapes_of(convention, {**ONE_CELL, **EXTRA[convention], **result.params()})
    np.testing.assert_allclose(made, source, rtol=1e-6)  # same shapes, same slot order
    np.testing.assert_allclose(result.shapes, source, rtol=1e-6)


def test_torchvision_sizes_and_ratios_come_out_as_written() -> None:
    source = shapes_of("torchvision", {**ONE_CELL, **SOURCES["torchvision"]})
    result = express(source, "torchvision")
    assert result.options == {"sizes": (32.0, 64.0), "ratios": (0.5, 1.0, 2.0)}
    assert result.command_line() == "--sizes 32,64 --ratios 0.5,1,2"


ARBITRARY = np.array([(10, 13), (62, 45), (156, 198)], dtype=np.float64)


@pytest.mark.parametrize("convention", ["torchvision", "detectron2", "keras-retinanet", "tf-grid"])
def test_arbitrary_shapes_are_approximated_and_the_error_is_stated(convention: str) -> None:
    result = express(ARBITRARY, convention)
    assert not result.exact
    made = shapes_of(convention, {**ONE_CELL, **EXTRA[convention], **result.params()})
    error = nearest_error(ARBITRARY, made)
    assert result.max_rel_error == pytest.approx(error, rel=1e-9)
    stated = float(re.search(r"off by up to ([\d.]+)%", result.note).group(1))  # type: ignore[union-attr]
    assert stated == pytest.approx(100 * error, rel=5e-3)
    assert "approximate" in result.note and "--convention yolo" in result.note


@pytest.mark.parametrize("convention", ["torchvision", "tf-grid", "mxnet", "mmdet"])
def test_the_notes_words_come_from_the_conventions_rules(convention: str) -> None:
    # issue 8.3: the ratio's meaning is the convention's RULES, never written by hand here
    rules = conventions.load(convention).RULES
    note = express(ARBITRARY, convention, input_size=(600, 600)).note
    assert f"ratio = {rules.ratio_meaning}" in note
    if not rules.rounding.startswith("none"):
        assert rules.rounding in note


def test_mmdet_takes_arbitrary_pairs_with_the_yolo_generator() -> None:
    result = express(ARBITRARY, "mmdet")
    assert result.exact and result.options["yolo"] is True
    params = {"feature_maps": [(1, 1)], "strides": [(8, 8)], **result.params()}
    np.testing.assert_array_equal(shapes_of("mmdet", params), ARBITRARY)
    assert "YOLOAnchorGenerator" in result.note


def test_yolo_is_always_exact() -> None:
    result = express(ARBITRARY, "yolo")
    assert result.exact and result.options == {"anchors": ((10, 13), (62, 45), (156, 198))}
    assert result.command_line() == "--anchors 10x13,62x45,156x198"


@pytest.mark.parametrize("convention", ["mxnet", "d2l"])
def test_multibox_sizes_are_fractions_of_the_input_height(convention: str) -> None:
    sizes, ratios = (0.2, 0.272), (1.0, 2.0, 0.5)
    level = conventions.load(convention).generate(
        {"feature_maps": [(4, 4)], "sizes": [sizes], "ratios": [ratios]}
    )[0]
    source = np.array([(s.width * 300, s.height * 300) for s in level.shapes])
    result = express(source, convention, input_size=(300, 300))
    assert result.exact, result.note
    assert result.options == {"sizes": sizes, "ratios": ratios}


@pytest.mark.parametrize(
    ("convention", "wide_ratio"),
    [("torchvision", 0.5), ("detectron2", 0.5), ("keras-retinanet", 0.5), ("tf-grid", 2.0)],
)
def test_ratio_direction_follows_the_convention(convention: str, wide_ratio: float) -> None:
    wide = np.array([(64.0, 32.0)])  # w/h = 2, h/w = 0.5
    assert express(wide, convention).options["ratios"] == (wide_ratio,)


def test_mxnet_ratio_is_width_over_height() -> None:
    result = express(np.array([(64.0, 32.0)]), "mxnet", input_size=(256, 256))
    assert result.options["ratios"] == (2.0,)
    assert result.options["sizes"][0] == pytest.approx(math.sqrt(64 * 32) / 256)


@pytest.mark.parametrize(
    ("anchors", "convention", "kwargs", "expected"),
    [
        ([(10, 10)], "caffe-ssd", {}, "cannot write anchors as 'caffe-ssd'"),
        ([(10, 10)], "mxnet", {}, "--input-size is required"),
        ([(10, 0)], "yolo", {}, "positive finite"),
        ([10, 10], "yolo", {}, "(k, 2)"),
    ],
)
def test_express_errors_are_one_line(
    anchors: object, convention: str, kwargs: dict[str, object], expected: str
) -> None:
    with pytest.raises(AnchorError) as info:
        express(anchors, convention, **kwargs)  # type: ignore[arg-type]
    assert expected in str(info.value) and "\n" not in str(info.value)
