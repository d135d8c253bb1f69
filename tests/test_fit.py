"""anchorctl.fit and the suggest facade: objectives, search, per-level suggestions."""

from __future__ import annotations

import numpy as np
import pytest

from anchorctl.coverage import yolo_metric
from anchorctl.errors import AnchorError
from anchorctl.fit.evolution import polish
from anchorctl.fit.kmeans import cluster
from anchorctl.fit.layout import fill_by_area, free_layout, free_values
from anchorctl.fit.objectives import (
    Objective,
    Rows,
    metrics,
    pair_gain,
    pair_gradient,
    position_iou,
    score,
)
from anchorctl.iou import best_anchor, box_iou, grid_from_levels, shape_best_iou
from anchorctl.presets import load_preset
from anchorctl.suggest import Budget, suggest, template_from

QUICK = Budget(restarts=2, kicks=2, generations=5, population=8, iterations=40,
               final_iterations=20)  # fmt: skip


def preset_template(name: str):  # type: ignore[no-untyped-def]
    preset = load_preset(name)
    return template_from(preset.config.convention, dict(preset.config.params))


def boxes_around(shapes: np.ndarray, n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` boxes, each one of ``shapes`` scaled by up to 5%, placed anywhere in the input."""
    rng = np.random.default_rng(seed)
    pick = shapes[rng.integers(0, len(shapes), n)] * rng.uniform(0.95, 1.05, (n, 2))
    x0 = rng.uniform(0, size[0] - pick[:, 0])
    y0 = rng.uniform(0, size[1] - pick[:, 1])
    return np.stack([x0, y0, x0 + pick[:, 0], y0 + pick[:, 1]], axis=1)


# --------------------------------------------------------------------------- objectives


def test_position_iou_is_the_iou_of_the_placed_boxes() -> None:
    rng = np.random.default_rng(1)
    w, h, aw, ah = rng.uniform(1, 100, (4, 200))
    dx, dy = rng.uniform(0, 80, (2, 200))
    box = np.stack([-w / 2, -h / 2, w / 2, h / 2], axis=1)
    anchor = np.stack([dx - aw / 2, dy - ah / 2, dx + aw / 2, dy + ah / 2], axis=1)
    want = np.array([box_iou(box[i : i + 1], anchor[i : i + 1])[0, 0] for i in range(200)])
    np.testing.assert_allclose(position_iou(w, h, dx, dy, aw, ah), want, rtol=1e-12, atol=1e-15)
    # offsets 0: the centred-shape IoU of anchorctl.iou
    centred, _ = shape_best_iou(np.stack([w, h], 1), np.stack([aw, ah], 1)[:1])
    np.testing.assert_allclose(position_iou(w, h, 0.0, 0.0, aw[0], ah[0]), centred, rtol=1e-12)


def test_bpr_gain_is_yolov5s_fitness_and_bpr() -> None:
    rng = np.random.default_rng(2)
    wh = rng.uniform(2, 300, (500, 2))
    anchors = rng.uniform(5, 300, (9, 2))
    best, bpr, _ = yolo_metric(wh, anchors, 4.0)
    got = metrics(np.concatenate([np.zeros_like(wh), wh], 1), anchors, anchor_t=4.0)
    assert got.bpr == pytest.approx(bpr, abs=1e-12)
    assert got.fitness == pytest.approx(float((best * (best > 0.25)).mean()), abs=1e-12)
    gain = pair_gain(wh[:, :1], wh[:, 1:], 0.0, 0.0, anchors[None, :, 0], anchors[None, :, 1],
                     Objective("bpr"))  # fmt: skip
    assert float(gain.max(axis=1).mean()) == pytest.approx(got.fitness, abs=1e-12)


@pytest.mark.parametrize("name", ["mean-iou", "bpr", "recall"])
def test_slopes_match_finite_differences(name: str) -> None:
    rng = np.random.default_rng(3)
    w, h = rng.uniform(10, 100, (2, 300))
    ox, oy = rng.uniform(0, 20, (2, 300)) if name == "recall" else (0.0, 0.0)
    aw, ah = rng.uniform(10, 100, (2, 300))
    objective = Objective(name, 4.0, 0.5)
    value, gw, gh = pair_gradient(w, h, ox, oy, aw, ah, objective)
    eps = 1e-6
    up = pair_gradient(w, h, ox, oy, aw * np.exp(eps), ah, objective)[0]
    down = pair_gradient(w, h, ox, oy, aw * np.exp(-eps), ah, objective)[0]
    numeric = (up - down) / (2 * eps)
    smooth = np.abs(numeric - gw) < 1e-4 + 1e-3 * np.abs(gw)
    assert smooth.mean() > 0.97  # all but the kinks (min/max switching within eps)
    upw = pair_gradient(w, h, ox, oy, aw, ah * np.exp(eps), objective)[0]
    downw = pair_gradient(w, h, ox, oy, aw, ah * np.exp(-eps), objective)[0]
    assert (np.abs((upw - downw) / (2 * eps) - gh) < 1e-4 + 1e-3 * np.abs(gh)).mean() > 0.97
    if name != "recall":  # the smooth stand-in is the objective itself
        np.testing.assert_allclose(value, pair_gain(w, h, ox, oy, aw, ah, objective))


@pytest.mark.parametrize("preset", ["yolov5", "fasterrcnn-fpn", "ssd300"])
def test_position_aware_numbers_equal_coverages_exact_best_anchor(preset: str) -> None:
    template = preset_template(preset)
    size = template.input_size
    rng = np.random.default_rng(4)
    wh = np.exp(rng.uniform(np.log(4), np.log(min(size) * 0.9), (800, 2)))
    x0 = rng.uniform(0, size[0] - wh[:, 0])
    y0 = rng.uniform(0, size[1] - wh[:, 1])
    boxes = np.stack([x0, y0, x0 + wh[:, 0], y0 + wh[:, 1]], axis=1)
    shapes = np.concatenate(template.shapes())
    level = np.repeat(np.arange(len(template.levels)), template.counts)
    got = metrics(boxes, shapes, centres=template.centres(), level=level, thresholds=(0.5, 0.7))
    grid = grid_from_levels(list(template.levels), template.rules, size)
    exact = best_anchor(boxes, grid.anchors, (0.5, 0.7), grid)
    # nominal float64 shapes against the float32 anchors: equal to float32 rounding
    assert got.mean_position_iou == pytest.approx(float(exact.best_iou.mean()), abs=2e-6)
    assert got.recall is not None
    for t, column in ((0.5, 0), (0.7, 1)):
        assert got.recall[t] == pytest.approx(float((exact.above[:, column] > 0).mean()), abs=3e-3)


def test_objective_arguments_are_checked_in_one_line() -> None:
    for kwargs, message in (
        ({"name": "area"}, "--objective"),
        ({"anchor_t": 1.0}, "--anchor-t"),
        ({"iou": 0.0}, "--iou"),
        ({"iou": 1.5}, "--iou"),
    ):
        with pytest.raises(AnchorError, match=message) as info:
            Objective(**kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- search


def test_polish_never_lowers_the_score_and_beats_plain_kmeans() -> None:
    rng = np.random.default_rng(5)
    wh = np.exp(rng.normal([3.5, 3.5], [0.8, 0.9], (4000, 2)))
    points, inverse = np.unique(wh, axis=0, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1)).astype(np.int64)
    rows = Rows(points, counts.astype(float))
    layout = free_layout([3, 3, 3], 640)
    centres = cluster(points, counts, 9, seed=0)
    start = free_values(fill_by_area(centres, layout.counts, (0, 1, 2)))
    objective = Objective("mean-iou")
    before = score(rows, layout.shapes(start), layout.level, objective)
    x, after = polish(layout, start, rows, objective, iterations=60)
    assert after == pytest.approx(score(rows, layout.shapes(x), layout.level, objective))
    assert after > before + 1e-3  # the mean of a cluster is not its IoU-best centre
    for name in ("bpr", "recall"):
        goal = Objective(name)
        positional = Rows(points, rows.weight, np.abs(rng.normal(0, 4, (3, 2, len(points)))))
        base = score(positional, layout.shapes(start), layout.level, goal)
        assert polish(layout, start, positional, goal, iterations=30)[1] >= base


def test_suggest_is_deterministic_for_a_seed() -> None:
    template = preset_template("yolov5")
    boxes = boxes_around(np.array([[20, 30], [60, 40], [200, 150]]), 600, (640, 640))
    a = suggest(boxes, template, seed=3, budget=QUICK)
    b = suggest(boxes, template, seed=3, budget=QUICK)
    np.testing.assert_array_equal(a.anchors, b.anchors)
    assert a.score == b.score


def test_yolo_levels_hold_the_shapes_by_area() -> None:
    shapes = np.array([[12, 16], [30, 22], [24, 48], [60, 90], [110, 70], [90, 160],
                       [220, 180], [180, 330], [400, 300]], dtype=float)  # fmt: skip
    boxes = boxes_around(shapes, 3000, (640, 640), seed=6)
    result = suggest(boxes, preset_template("yolov5"), seed=0, budget=QUICK)
    assert [len(lv.anchors) for lv in result.levels] == [3, 3, 3]
    assert [lv.stride for lv in result.levels] == [8, 16, 32]
    got = result.anchors
    area = got[:, 0] * got[:, 1]
    assert (np.diff(area) > 0).all()  # smallest on the finest level
    np.testing.assert_allclose(got, shapes, rtol=0.04)
    assert result.mean_iou > 0.9 and result.constraint == ""


def test_ssd_suggestion_is_what_its_config_makes_and_not_worse_than_now() -> None:
    template = preset_template("ssd300")
    rng = np.random.default_rng(8)
    wh = np.exp(rng.normal([4.0, 4.2], [0.6, 0.6], (1500, 2))).clip(4, 290)
    x0, y0 = rng.uniform(0, 300 - wh[:, 0]), rng.uniform(0, 300 - wh[:, 1])
    boxes = np.stack([x0, y0, x0 + wh[:, 0], y0 + wh[:, 1]], axis=1)
    result = suggest(boxes, template, seed=0, budget=QUICK)
    made = template_from("torchvision-ssd", result.params).shapes()
    assert [len(m) for m in made] == [4, 6, 6, 6, 4, 4]
    for level, shapes in zip(result.levels, made, strict=True):
        np.testing.assert_array_equal(level.anchors, shapes)
    assert result.score >= result.current.mean_iou
    assert result.score > result.current.mean_iou + 0.01  # SSD300's COCO scales do not fit these
    # the free optimum with the same per-level counts scores at least as high
    assert result.free_score >= result.score - 1e-3
    assert result.cost == pytest.approx(result.free_score - result.score)
    assert "DefaultBoxGenerator" in result.constraint


@pytest.mark.parametrize("objective", ["bpr", "recall"])
def test_other_objectives_do_not_lose_to_the_current_anchors(objective: str) -> None:
    template = preset_template("fasterrcnn-fpn")
    rng = np.random.default_rng(9)
    wh = np.exp(rng.normal([4.5, 4.3], [0.8, 0.8], (1200, 2))).clip(4, 700)
    x0, y0 = rng.uniform(0, 1216 - wh[:, 0]), rng.uniform(0, 800 - wh[:, 1])
    boxes = np.stack([x0, y0, x0 + wh[:, 0], y0 + wh[:, 1]], axis=1)
    result = suggest(boxes, template, objective=objective, seed=0, budget=QUICK)
    assert result.score >= result.current.value(result.objective) - 1e-9
    assert result.score == result.metrics.value(result.objective)


def test_a_sample_is_searched_and_every_box_measured() -> None:
    template = preset_template("yolov5")
    boxes = boxes_around(np.array([[20, 30], [60, 40], [200, 150]]), 900, (640, 640))
    result = suggest(boxes, template, seed=1, sample=300, budget=QUICK)
    assert (result.sampling.boxes, result.sampling.used, result.sampling.sampled) == (
        900,
        300,
        True,
    )
    assert result.metrics.boxes == 900
    full = metrics(boxes, result.anchors)
    assert result.mean_iou == pytest.approx(full.mean_iou)
    other = suggest(boxes, template, seed=1, sample=5000, budget=QUICK)
    assert other.sampling.sampled is False


def test_bad_boxes_and_arguments_are_one_line_errors() -> None:
    template = preset_template("yolov5")
    good = boxes_around(np.array([[20, 30]]), 20, (640, 640))
    for boxes, kwargs, message in (
        (np.zeros((0, 4)), {}, "none to fit"),
        (np.array([[0, 0, 0, 5.0]]), {}, "box 0 is 0 x 5"),
        (good[:, :3], {}, r"\(N, 4\)"),
        (good, {"sample": 0}, "--sample"),
        (good, {"seed": -1}, "--seed"),
        (good, {"method": "modes"}, "--method"),
        (good, {"objective": "area"}, "--objective"),
    ):
        with pytest.raises(AnchorError, match=message) as info:
            suggest(boxes, template, budget=QUICK, **kwargs)
        assert "\n" not in str(info.value)
