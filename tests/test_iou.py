"""IoU: plain matrix, best anchor over real conventions' grids (against brute force), shapes."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchorctl import conventions, presets
from anchorctl.errors import AnchorError
from anchorctl.iou import (
    GridInfo,
    best_anchor,
    box_iou,
    grid_from_anchors,
    grid_from_levels,
    shape_best_iou,
    shape_iou,
)


def naive(boxes: np.ndarray, anchors: np.ndarray, thresholds: list[float]) -> tuple[Any, ...]:
    """Brute force, one box at a time, straight from the definition in anchorctl.iou:
    inter / (areaA + areaB - inter) in float64, 0 for an empty union, argmax's first index."""
    best = np.zeros(len(boxes))
    index = np.zeros(len(boxes), dtype=np.int64)
    above = np.zeros((len(boxes), len(thresholds)), dtype=np.int64)
    a_area = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        iw = np.clip(np.minimum(x1, anchors[:, 2]) - np.maximum(x0, anchors[:, 0]), 0, None)
        ih = np.clip(np.minimum(y1, anchors[:, 3]) - np.maximum(y0, anchors[:, 1]), 0, None)
        inter = iw * ih
        union = (x1 - x0) * (y1 - y0) + a_area - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        best[i], index[i] = iou.max(), iou.argmax()
        above[i] = [(iou >= t).sum() for t in thresholds]
    return best, index, above


def assert_same(match: Any, expected: tuple[Any, ...]) -> None:
    best, index, above = expected
    np.testing.assert_array_equal(match.best_iou, best)
    np.testing.assert_array_equal(match.best_index, index)
    np.testing.assert_array_equal(match.above, above)


def grid_of(name: str, params: dict[str, Any], size: tuple[int, int]) -> GridInfo:
    module = conventions.load(name)
    return grid_from_levels(module.generate({**params, "image_size": size}), module.RULES, size)


# --- box_iou --------------------------------------------------------------------------------


def test_box_iou_hand_values() -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [5, 5, 5, 9]], dtype=float)
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 0, 4, 2], [0, 0, 4, 1], [5, 5, 5, 9]], float)
    expected = np.array(
        [
            [1, 1 / 7, 0, 2 / 6, 0],  # shared edge at x = 2 is no overlap
            [1 / 4, 0, 0, 1 / 4, 0],
            [0, 0, 0, 0, 0],  # zero area against zero area: the union is 0, the IoU 0
        ]
    )
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-15)


def test_box_iou_is_symmetric_and_shaped() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (7, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 30, (7, 2))], 1)
    b = a[::-1] + 3
    out = box_iou(a, b)
    assert out.shape == (7, 7) and out.dtype == np.float64
    np.testing.assert_array_equal(out, box_iou(b, a).T)


# --- best_anchor against brute force --------------------------------------------------------

SIZES = st.tuples(st.integers(16, 120), st.integers(16, 120))
MAPS = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=3)
RATIOS = st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 0.33, 1.7]), min_size=1, max_size=3)


@st.composite
def grids(draw: st.DrawFn) -> GridInfo:
    """A small grid from a real convention, clipped ones included (border anchors smaller)."""
    size = draw(SIZES)
    maps = draw(MAPS)
    n = len(maps)
    name = draw(
        st.sampled_from(
            ["mxnet", "caffe-ssd", "torchvision-ssd", "gluoncv-ssd", "torchvision", "yolo"]
        )
    )
    frac = st.floats(0.05, 1.2)
    if name == "mxnet":
        params = {
            "sizes": [tuple(draw(st.lists(frac, min_size=1, max_size=2))) for _ in maps],
            "ratios": [tuple(draw(RATIOS)) for _ in maps],
            "clip": draw(st.booleans()),
        }
    elif name == "caffe-ssd":
        lo = [draw(st.integers(4, 80)) for _ in maps]
        params = {
            "min_sizes": [(v,) for v in lo],
            "max_sizes": [(v + draw(st.integers(1, 40)),) for v in lo],
            "ratios": [(draw(st.sampled_from([2.0, 3.0])),) for _ in maps],
            "clip": draw(st.booleans()),
        }
    elif name == "torchvision-ssd":
        params = {"ratios": [(2.0,)] * n, "clip": draw(st.booleans())}
    elif name == "gluoncv-ssd":
        params = {
            "sizes": [(draw(st.integers(4, 60)), draw(st.integers(61, 130))) for _ in maps],
            "ratios": [(1.0, draw(st.sampled_from([2.0, 0.5, 3.0]))) for _ in maps],
            "steps": [float(draw(st.integers(4, 40))) for _ in maps],
            "clip": draw(st.booleans()),
        }
    elif name == "torchvision":
        params = {
            "sizes": [tuple(draw(st.lists(st.integers(4, 90), min_size=1, max_size=2)))] * n,
            "ratios": [tuple(draw(RATIOS))] * n,
        }
    else:
        whs = st.tuples(st.integers(2, 90), st.integers(2, 90))
        params = {
            "anchors": [tuple(draw(st.lists(whs, min_size=1, max_size=3)))] * n,
            "strides": [(float(draw(st.integers(4, 32))),) * 2 for _ in maps],
        }
    return grid_of(name, {"feature_maps": maps, **params}, size)


@st.composite
def boxes_for(draw: st.DrawFn, grid: GridInfo) -> np.ndarray:
    """Anchors copied exactly, anchors moved by fractions of a stride, and free boxes."""
    width, height = grid.input_size
    anchors = grid.anchors
    out = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["copy", "shift", "free", "tiny", "huge", "flat"]))
        if kind in ("copy", "shift"):
            box = anchors[draw(st.integers(0, len(anchors) - 1))].copy()
            if kind == "shift":
                box += np.array([1, 1, 1, 1]) * draw(st.sampled_from([-0.5, 0.25, 0.5, 1.0]))
                box[[0, 2]] += draw(st.floats(-20, 20))
        else:
            x0 = draw(st.floats(-0.2 * width, width))
            y0 = draw(st.floats(-0.2 * height, height))
            extent = {"free": 0.8, "tiny": 0.03, "huge": 3.0, "flat": 0.5}[kind]
            w = draw(st.floats(0.0, extent * width))
            h = 0.0 if kind == "flat" else draw(st.floats(0.0, extent * height))
            box = np.array([x0, y0, x0 + w, y0 + h])
        out.append(box)
    return np.array(out)


THRESHOLDS = st.lists(st.floats(0.01, 1.0), min_size=0, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_best_anchor_on_real_grids_equals_brute_force(data: st.DataObject) -> None:
    grid = data.draw(grids())
    boxes = data.draw(boxes_for(grid))
    thresholds = data.draw(THRESHOLDS)
    match = best_anchor(boxes, grid.anchors, thresholds, grid)
    assert_same(match, naive(boxes, grid.anchors, thresholds))


def test_clipped_grids_really_have_smaller_border_anchors() -> None:
    """The property test's clipped conventions do make border anchors smaller, and the grid
    is still used (separable), so the window search is what gets tested there."""
    params = {"feature_maps": [(4, 5)], "sizes": [(0.5,)], "ratios": [(1.0, 2.0)], "clip": True}
    grid = grid_of("mxnet", params, (100, 80))
    widths = grid.anchors[:, 2] - grid.anchors[:, 0]
    assert widths.min() < widths.max()
    assert all(level.separable for level in grid.levels)
    caffe = {"feature_maps": [(3, 3)], "min_sizes": [(60,)], "ratios": [(2.0,)], "clip": True}
    grid = grid_of("caffe-ssd", caffe, (90, 90))
    widths = grid.anchors[:, 2] - grid.anchors[:, 0]
    assert widths.min() < widths.max() and grid.levels[0].separable


@pytest.mark.parametrize("name", presets.names())
def test_best_anchor_on_every_preset_equals_brute_force(name: str) -> None:
    preset = presets.load_preset(name)
    module = conventions.load(preset.config.convention)
    grid = grid_from_levels(module.generate(preset.config.params), module.RULES, preset.input_size)
    rng = np.random.default_rng(7)
    width, height = preset.input_size
    wh = np.exp(rng.uniform(np.log(2), np.log(max(width, height)), (60, 2)))
    centre = rng.uniform(0, 1, (60, 2)) * [width, height]
    free = np.concatenate([centre - wh / 2, centre + wh / 2], 1)
    copies = grid.anchors[rng.integers(0, len(grid.anchors), 20)]
    boxes = np.concatenate([free, copies, copies + 3.5])
    thresholds = [0.3, 0.5, 0.7]
    match = best_anchor(boxes, grid.anchors, thresholds, grid)
    assert_same(match, naive(boxes, grid.anchors, thresholds))


def test_unstructured_levels_fall_back_to_comparing_everything() -> None:
    """A level whose rows are shuffled is no grid; the answer is still exact."""
    grid = grid_of("torchvision", {"feature_maps": [(4, 6)], "sizes": [(16,)]}, (96, 64))
    shuffled = grid.anchors[np.random.default_rng(0).permutation(len(grid.anchors))]
    fallback = grid_from_anchors(shuffled, [(4, 6)], [3], (96, 64))
    assert not fallback.levels[0].separable
    boxes = shuffled[:10] + np.array([2.0, -1.0, 5.0, 0.5])
    assert_same(best_anchor(boxes, shuffled, [0.4], fallback), naive(boxes, shuffled, [0.4]))


def test_an_empty_feature_map_is_skipped() -> None:
    anchors = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], dtype=float)
    grid = grid_from_anchors(anchors, [(0, 4), (1, 3)], [2, 1], (20, 10))
    assert [level.separable for level in grid.levels] == [False, True]
    assert grid.levels[1].offset == 0 and grid.shapes()[0].shape == (3, 2)
    boxes = np.array([[6, 1, 14, 9], [2, 2, 3, 3], [40, 0, 50, 5]], dtype=float)
    assert_same(best_anchor(boxes, anchors, [0.5], grid), naive(boxes, anchors, [0.5]))


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_brute_force_blocks_do_not_change_the_answer(block: int) -> None:
    rng = np.random.default_rng(3)
    anchors = np.concatenate([rng.uniform(0, 50, (40, 2)), rng.uniform(50, 90, (40, 2))], 1)
    anchors = np.concatenate([anchors, anchors[:5]])  # duplicates: ties go to the first
    xy = rng.uniform(0, 60, (9, 2))
    free = np.concatenate([xy, xy + rng.uniform(1, 40, (9, 2))], 1)
    far = np.array([[10, 10, 70, 80], [200, 200, 210, 210]], dtype=float)
    boxes = np.concatenate([anchors[::3], free, far])
    match = best_anchor(boxes, anchors, [0.2, 0.9], block_elements=block)
    assert_same(match, naive(boxes, anchors, [0.2, 0.9]))
    assert match.best_iou[-1] == 0 and match.best_index[-1] == 0  # overlaps nothing


def test_boxes_equal_to_anchors_have_best_iou_exactly_one() -> None:
    grid = grid_of(
        "torchvision-ssd", {"feature_maps": [(5, 5), (3, 3)], "ratios": [(2.0,)] * 2}, (300, 300)
    )
    match = best_anchor(grid.anchors, grid.anchors, [1.0], grid)
    assert (match.best_iou == 1.0).all()
    # Each anchor's best is itself, or an earlier anchor with the very same coordinates.
    first = [int(np.flatnonzero((grid.anchors == a).all(1))[0]) for a in grid.anchors]
    np.testing.assert_array_equal(match.best_index, first)
    assert (match.above[:, 0] >= 1).all()


def test_half_stride_shift_gives_the_formula_iou() -> None:
    """One 32x32 shape every 16 px: a box moved by d = 8 px overlaps its anchor and the next
    one alike, IoU (w - d) / (w + d) = 0.6; moved by 8 in x and y,
    (w - d)^2 / (2 w^2 - (w - d)^2)."""
    grid = grid_of(
        "torchvision", {"feature_maps": [(6, 6)], "sizes": [(32,)], "ratios": [(1.0,)]}, (96, 96)
    )
    assert np.array_equal(grid.anchors[0], [-16, -16, 16, 16])
    inner = grid.anchors[(2 * 6 + 2)]  # row 2, col 2
    w, d = 32.0, 8.0
    for shift, expected in (
        ([d, 0, d, 0], (w - d) / (w + d)),
        ([d, d, d, d], (w - d) ** 2 / (2 * w * w - (w - d) ** 2)),
    ):
        match = best_anchor((inner + shift)[None], grid.anchors, [0.3, 0.6], grid)
        assert match.best_iou[0] == pytest.approx(expected, rel=1e-15)
        assert match.best_index[0] == 2 * 6 + 2  # the tie goes to the lower index
    # moved by 8 px in x: two anchors at IoU 0.6 (left and right), none other above 0.3
    match = best_anchor(np.add(inner, [d, 0, d, 0])[None], grid.anchors, [0.3, 0.6], grid)
    assert match.above.tolist() == [[2, 2]]


def test_memory_stays_near_the_block_not_boxes_times_anchors() -> None:
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (200_000, 2))
    anchors = np.concatenate([xy, xy + 20], 1)
    boxes = np.concatenate([xy[:40], xy[:40] + 25], 1)
    tracemalloc.start()
    best_anchor(boxes, anchors, [0.5], block_elements=1 << 16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = len(boxes) * len(anchors) * 8  # one float64 IoU matrix: 64 MB
    assert peak < full / 8, peak


def test_grid_search_memory_stays_small_on_a_million_anchors() -> None:
    grid = grid_of(
        "torchvision",
        {"feature_maps": [(500, 700)], "sizes": [(16, 32)], "ratios": [(1.0, 2.0)]},
        (2800, 2000),
    )
    assert len(grid.anchors) == 1_400_000
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1800, (1000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(4, 200, (1000, 2))], 1)
    tracemalloc.start()
    match = best_anchor(boxes, grid.anchors, [0.5], grid)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 << 20, peak  # the IoU matrix would be 11 GB
    sample = slice(0, 25)
    assert_same(
        type(match)(match.best_iou[sample], match.best_index[sample], match.above[sample]),
        naive(boxes[sample], grid.anchors, [0.5]),
    )


def test_progress_reports_every_box() -> None:
    grid = grid_of("yolo", {"feature_maps": [(3, 3)], "anchors": [((10, 13),)]}, (48, 48))
    seen: list[tuple[int, int]] = []
    best_anchor(
        np.tile(grid.anchors[:1], (5, 1)),
        grid.anchors,
        (),
        grid,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (5, 5)
    seen.clear()
    best_anchor(
        np.tile(grid.anchors[:1], (5, 1)),
        grid.anchors,
        block_elements=18,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]


# --- grids from levels ----------------------------------------------------------------------


def test_normalized_levels_are_scaled_to_input_pixels() -> None:
    module = conventions.load("mxnet")
    params = {"feature_maps": [(2, 3)], "sizes": [(0.5,)], "ratios": [(1.0, 2.0)]}
    levels = module.generate(params)
    grid = grid_from_levels(levels, module.RULES, (200, 100))
    expected = levels[0].array.astype(np.float64) * [200, 100, 200, 100]
    np.testing.assert_array_equal(grid.anchors, expected)
    shapes, level, slot = grid.shapes()
    # the nominal shapes: the convention's normalized (w, h) times the input's (W, H)
    np.testing.assert_array_equal(
        shapes, [[s.width * 200, s.height * 100] for s in levels[0].shapes]
    )
    np.testing.assert_allclose(shapes, grid.anchors[:2, 2:] - grid.anchors[:2, :2], rtol=1e-6)
    assert level.tolist() == [0, 0] and slot.tolist() == [0, 1]
    assert grid.levels[0].stride == pytest.approx((50.0, 200 / 3))


def test_locate_inverts_the_grid_index() -> None:
    grid = grid_of(
        "torchvision-ssd",
        {"feature_maps": [(4, 5), (2, 3)], "ratios": [(2.0,), (2.0, 3.0)]},
        (100, 80),
    )
    index = np.arange(len(grid.anchors))
    level, row, col, slot = grid.locate(index)
    for i in range(0, len(index), 7):
        lv = grid.levels[level[i]]
        assert lv.offset + (row[i] * lv.cols + col[i]) * lv.per_cell + slot[i] == i
        box = [
            lv.x0[slot[i], col[i]],
            lv.y0[slot[i], row[i]],
            lv.x1[slot[i], col[i]],
            lv.y1[slot[i], row[i]],
        ]
        np.testing.assert_array_equal(grid.anchors[i], box)


# --- centred shapes -------------------------------------------------------------------------


def test_shape_iou_hand_values() -> None:
    out = shape_iou([[10, 20], [4, 4], [0, 5]], [[20, 10], [10, 20], [2, 2]])
    np.testing.assert_allclose(
        out, [[100 / 300, 1, 4 / 200], [16 / 200, 16 / 200, 4 / 16], [0, 0, 0]], rtol=1e-15
    )


def test_shape_best_iou_picks_the_first_of_equal_bests() -> None:
    wh = np.array([[10, 10], [30, 30], [7, 3]])
    anchors = np.array([[20, 5], [5, 20], [30, 30], [10, 10]])
    best, index = shape_best_iou(wh, anchors, block_elements=4)
    # [7, 3] against [20, 5]: 21 / (21 + 100 - 21); against [10, 10]: 21 / 100, a tie
    np.testing.assert_array_equal(index, [3, 2, 0])
    np.testing.assert_allclose(best, [1.0, 1.0, 0.21], rtol=1e-15)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "anchors", "thresholds", "message"),
    [
        ([[0, 0, 1, 1]], [[0, 0, 1, 1]], [0.0], "IoU threshold 0: expected a number in (0, 1]"),
        ([[0, 0, 1, 1]], [[0, 0, 1, 1]], [1.5], "IoU threshold 1.5"),
        ([[0, 0, 1, 1]], np.zeros((0, 4)), [], "there are no anchors"),
        ([[2, 0, 1, 1]], [[0, 0, 1, 1]], [], "boxes: row 0 has xmax < xmin"),
        ([[0, 0, 1]], [[0, 0, 1, 1]], [], "boxes: expected an (N, 4) array"),
        ([[0, 0, 1, 1], [0, 0, np.nan, 1]], [[0, 0, 1, 1]], [], "boxes: row 1 is not finite"),
    ],
)
def test_bad_input_is_one_line_anchor_error(
    boxes: Any, anchors: Any, thresholds: Any, message: str
) -> None:
    with pytest.raises(AnchorError) as info:
        best_anchor(boxes, anchors, thresholds)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_grid_of_other_anchors_is_refused() -> None:
    grid = grid_of("yolo", {"feature_maps": [(2, 2)], "anchors": [((10, 13),)]}, (32, 32))
    with pytest.raises(AnchorError, match="other anchors"):
        best_anchor([[0, 0, 5, 5]], grid.anchors + 1, [], grid)
    with pytest.raises(AnchorError, match="give 4 anchors but 3"):
        grid_from_anchors(grid.anchors[:3], [(2, 2)], [1], (32, 32))


# --- exact thresholds: a box at exactly IoU t counts at t -------------------------------------

# 32x32 torchvision anchors every 16 px on a 96x96 input (cell (r, c) centred at 16c, 16r), and
# a 64x32 box over three of them: each overlap is 32x32 = 1024 of a 2048 + 1024 - 1024 union,
# IoU exactly 0.5 in any float order (every number is a small whole number).
EXACT_BOX = np.array([[16.0, 16.0, 80.0, 48.0]])


def exact_grid() -> GridInfo:
    return grid_of(
        "torchvision",
        {"feature_maps": [(6, 6)], "sizes": [(32,)], "ratios": [(1.0,)]},
        (96, 96),
    )


@pytest.mark.parametrize("path", ["brute", "grid"])
def test_an_anchor_at_exactly_the_threshold_counts(path: str) -> None:
    grid = exact_grid()
    above_half = float(np.nextafter(0.5, 1.0))
    below_half = float(np.nextafter(0.5, 0.0))
    match = best_anchor(
        EXACT_BOX,
        grid.anchors,
        [0.5, above_half, below_half, 0.2],
        grid if path == "grid" else None,
    )
    assert match.best_iou[0] == 0.5
    # three anchors at exactly 0.5 count at 0.5, none just above it; the eight neighbours
    # that overlap by half a side are at exactly 0.2 (512 / 2560)
    assert match.above[0].tolist() == [3, 0, 3, 11]
    expected = naive(EXACT_BOX, grid.anchors, [0.5, above_half, below_half, 0.2])[2][0]
    assert expected.tolist() == [3, 0, 3, 11]
