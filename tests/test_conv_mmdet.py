"""MMDetection AnchorGenerator / SSDAnchorGenerator / YOLOAnchorGenerator: hand-made vectors
worked out from open-mmlab/mmdetection's anchor_generator.py and configs, and properties (count, scale_major order, centre rule, ratio = h/w,
(y, x) strides, the SSD re-index, variant selection and refusals)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import mmdet
from anchorctl.errors import AnchorError

from support import load_vector

VECTOR = load_vector("handmade/mmdet.json")
CASES = {case["case"]: case for case in VECTOR["cases"]}
THREE = {"feature_maps": [(4, 4), (2, 2), (1, 1)], "strides": [(8,), (16,), (32,)]}


def test_rules_and_options() -> None:
    assert mmdet.RULES.ratio_meaning == "height / width"
    options = {o.name: o for o in mmdet.OPTIONS}
    assert options["strides"].kind == "yx" and options["strides"].per_level
    assert options["center_offset"].default == 0.0
    assert options["basesize_ratio_range"].default == (0.15, 0.9)
    assert options["input_size"].default == 300
    assert options["ssd"].kind == options["yolo"].kind == options["scale_major"].kind == "flag"
    assert options["scale_major"].default is True
    assert options["yolo_base_sizes"].kind == "whs"


@pytest.mark.parametrize("name", [c for c in CASES if "anchors" in CASES[c]])
def test_handmade_anchors(name: str) -> None:
    case = CASES[name]
    got = mmdet.generate(case["params"])[case["level"]].array
    assert got.dtype == np.float32
    want = np.array(case["anchors"])
    got = got[: len(want)].astype(np.float64) / case.get("scale", 1)
    np.testing.assert_allclose(got, want, rtol=0, atol=case["atol"])


@pytest.mark.parametrize("name", [c for c in CASES if "per_cell" in CASES[c]])
def test_handmade_counts_and_sizes(name: str) -> None:
    case = CASES[name]
    levels = mmdet.generate(case["params"])
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    if "total" in case:
        assert sum(len(lv.array) for lv in levels) == case["total"]
    if "min_sizes" in case:
        # slot 0 is the min square, slot 1 the sqrt(min * max) square
        assert [lv.shapes[0].width for lv in levels] == case["min_sizes"]
        for lv, lo, hi in zip(levels, case["min_sizes"], case["max_sizes"], strict=True):
            assert math.isclose(lv.shapes[1].width, math.sqrt(lo * hi), rel_tol=1e-6)
    if "square_sides" in case:
        squares = [lv.shapes[1] for lv in levels]  # ratio 1 is the middle ratio
        assert [s.width for s in squares] == case["square_sides"]
        assert [s.height for s in squares] == case["square_sides"]


@pytest.mark.parametrize("case", VECTOR["ssd_recipe_first_levels"]["cases"])
def test_ssd_recipe_first_level(case: dict[str, Any]) -> None:
    lo, hi = mmdet.ssd_sizes(case["levels"], case["basesize_ratio_range"], case["input_size"])
    assert (lo[0], hi[0]) == tuple(case["first"])
    assert len(lo) == len(hi) == case["levels"]


def test_all_handmade_cases_are_used() -> None:
    assert len(CASES) == 8
    assert all(
        "open-mmlab/mmdetection" in c["source"] or "MMDetection" in c["source"]
        for c in CASES.values()
    )


def test_scale_major_is_ratio_outer_and_false_is_scale_outer() -> None:
    params: dict[str, Any] = {
        "feature_maps": [(1, 1)],
        "strides": [(16, 16)],
        "ratios": [(0.5, 1.0, 2.0)],
        "scales": (1.0, 2.0),
    }
    major = mmdet.generate(params)[0].shapes
    assert [(s.params["ratio"], s.params["scale"]) for s in major] == [
        (r, s) for r in (0.5, 1.0, 2.0) for s in (1.0, 2.0)
    ]
    minor = mmdet.generate({**params, "scale_major": False})[0].shapes
    assert [(s.params["ratio"], s.params["scale"]) for s in minor] == [
        (r, s) for s in (1.0, 2.0) for r in (0.5, 1.0, 2.0)
    ]
    wide, tall = major[0], major[4]  # ratio 0.5 and 2, scale 1
    assert wide.width > wide.height and tall.height > tall.width
    assert math.isclose(tall.height / tall.width, 2.0, rel_tol=1e-6)
    assert math.isclose(tall.width * tall.height, 16.0 * 16.0, rel_tol=1e-6)


def test_strides_are_y_then_x_and_base_size_is_the_smaller() -> None:
    (level,) = mmdet.generate(
        {"feature_maps": [(2, 3)], "strides": [(8, 16)], "ratios": [(1.0,)], "scales": (1.0,)}
    )
    assert level.stride == (8.0, 16.0)
    boxes = level.array
    np.testing.assert_array_equal(boxes[1] - boxes[0], [16, 0, 16, 0])  # next column: x
    np.testing.assert_array_equal(boxes[3] - boxes[0], [0, 8, 0, 8])  # next row: y
    assert level.shapes[0].width == 8.0  # base size min(16, 8)


def test_center_offset_is_a_fraction_of_the_base_size() -> None:
    params = {"feature_maps": [(1, 1)], "strides": [(8, 8)], "ratios": [(1.0,)], "scales": (1,)}
    assert mmdet.generate({**params, "center_offset": 0.5})[0].center0 == (4.0, 4.0)
    far = mmdet.generate({**params, "center_offset": 0.5, "base_sizes": [32]})[0]
    assert far.center0 == (16.0, 16.0)  # not the cell centre: 0.5 * base size 32
    np.testing.assert_array_equal(far.array[0], [0, 0, 32, 32])


def test_octave_scales() -> None:
    (level,) = mmdet.generate(
        {
            "feature_maps": [(1, 1)],
            "strides": [(8, 8)],
            "ratios": [(1.0,)],
            "octave_base_scale": 4,
            "scales_per_octave": 3,
        }
    )
    sides = [s.width for s in level.shapes]
    np.testing.assert_allclose(sides, [32 * 2 ** (i / 3) for i in range(3)], rtol=1e-6)


def test_ssd_reindex_and_the_scale_major_trap() -> None:
    params = {
        "feature_maps": [(1, 1)],
        "ssd": True,
        "strides": [(8, 8)],
        "ratios": [(2.0, 3.0)],
        "min_sizes": [30],
        "max_sizes": [60],
    }
    right = mmdet.generate({**params, "scale_major": False})[0].shapes
    assert [(s.params["scale"] > 1, s.params["ratio"]) for s in right] == [
        (False, 1.0),
        (True, 1.0),
        (False, 0.5),
        (False, 2.0),
        (False, 1 / 3),
        (False, 3.0),
    ]
    assert right[0].width == 30.0 and math.isclose(right[1].width, math.sqrt(1800), rel_tol=1e-6)
    wrong = mmdet.generate(params)[0].shapes  # the class default scale_major=True
    assert len(wrong) == 6
    assert {(s.params["scale"], s.params["ratio"]) for s in wrong} != {
        (s.params["scale"], s.params["ratio"]) for s in right
    }


def test_ssd300_defaults_by_level_count() -> None:
    maps = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    levels = mmdet.generate({"feature_maps": maps, "ssd": True, "scale_major": False})
    assert sum(lv.count for lv in levels) == 8732
    assert [lv.stride[0] for lv in levels] == [8, 16, 32, 64, 100, 300]
    assert [lv.center0 for lv in levels][4] == (50.0, 50.0)


def test_yolo_defaults_follow_map_size() -> None:
    levels = mmdet.generate({"feature_maps": [(13, 13), (26, 26), (52, 52)], "yolo": True})
    assert [lv.stride for lv in levels] == [(32.0, 32.0), (16.0, 16.0), (8.0, 8.0)]
    assert [(s.width, s.height) for s in levels[2].shapes] == [(10, 13), (16, 30), (33, 23)]
    assert sum(lv.count for lv in levels) == 10647


def test_strides_from_image_size() -> None:
    levels = mmdet.generate({"feature_maps": [(100, 152), (50, 76)], "image_size": (1216, 800)})
    assert [lv.stride for lv in levels] == [(8.0, 8.0), (16.0, 16.0)]
    assert levels[0].per_cell == 3 and levels[0].shapes[1].width == 64.0  # scale 8 x base 8


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ssd": True, "yolo": True}, "choose one"),
        ({"ssd": True, "scales": (2.0,)}, "--scales: SSDAnchorGenerator"),
        ({"yolo": True, "ratios": [(1.0,)]}, "--ratios: YOLOAnchorGenerator"),
        ({"min_sizes": [30]}, "--min-sizes: AnchorGenerator"),
        ({"yolo_base_sizes": [((10, 13),)]}, "--yolo-base-sizes: AnchorGenerator"),
        ({"center_offset": 1.5}, "--center-offset"),
        ({"scales": (1.0,), "octave_base_scale": 4, "scales_per_octave": 3}, "one or the other"),
        ({"octave_base_scale": 4}, "give both"),
        ({"octave_base_scale": 4, "scales_per_octave": 0}, "--scales-per-octave"),
        ({"ratios": [(0.5,), (1.0,)]}, "one ratio list"),
        ({"ratios": [(-1.0,)]}, "--ratios"),
        ({"scales": (0.0,)}, "--scales"),
        ({"base_sizes": [0]}, "--base-sizes"),
        ({"strides": [(8, 8), (8, 8), (8, 8)]}, "--strides"),
        ({"strides": [(0, 8)]}, "--strides"),
        ({"strides": None}, "--strides is required"),
        ({"ssd": True, "strides": None}, "--strides is required for --ssd"),
        ({"ssd": True}, "--ratios is required for --ssd"),
        ({"ssd": True, "ratios": [(2,)], "min_sizes": [30]}, "give both or neither"),
        ({"ssd": True, "ratios": [(2,)], "input_size": 400, **THREE}, "--input-size"),
        ({"ssd": True, "ratios": [(2,)], "basesize_ratio_range": (0.3, 0.9), **THREE}, "0.15"),
        ({"yolo": True, "yolo_base_sizes": [((10, 13),), ((10, 13), (1, 2))]}, "same number"),
        (
            {"yolo": True, "yolo_base_sizes": [((10, -1),)]},
            "--yolo-base-sizes: -1 is not a positive number",
        ),
        ({"yolo": True}, "--yolo-base-sizes is required"),
        ({"yolo": True, "scale_major": False}, "--scale-major: YOLOAnchorGenerator"),
    ],
)
def test_refuses_nonsense(extra: dict[str, Any], message: str) -> None:
    params = {"feature_maps": [(2, 3), (1, 1)], "strides": [(8, 8), (64, 64)], **extra}
    with pytest.raises(AnchorError, match=message.replace("(", r"\(")):
        mmdet.generate(params)


def test_ssd_recipe_refuses_what_mmdet_refuses() -> None:
    with pytest.raises(AnchorError, match="at least 3"):
        mmdet.ssd_sizes(2, (0.15, 0.9), 300)
    with pytest.raises(AnchorError, match="gives 77 levels"):
        mmdet.ssd_sizes(40, (0.15, 0.9), 300)  # step int(75 / 38) = 1: 76 + 1 sizes
    with pytest.raises(AnchorError, match="too narrow"):
        mmdet.ssd_sizes(6, (0.15, 0.17), 300)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    ratios=st.lists(st.floats(0.2, 5), min_size=1, max_size=3),
    scales=st.lists(st.floats(0.5, 16), min_size=1, max_size=3),
    stride=st.tuples(st.sampled_from([4, 8, 16, 32]), st.sampled_from([4, 8, 16, 32])),
    offset=st.sampled_from([0.0, 0.5, 1.0]),
    scale_major=st.booleans(),
)
def test_properties(
    rows: int,
    cols: int,
    ratios: list[float],
    scales: list[float],
    stride: tuple[int, int],
    offset: float,
    scale_major: bool,
) -> None:
    params = {
        "feature_maps": [(rows, cols)],
        "strides": [stride],
        "ratios": [tuple(ratios)],
        "scales": tuple(scales),
        "center_offset": offset,
        "scale_major": scale_major,
    }
    (level,) = mmdet.generate(params)
    k = len(ratios) * len(scales)
    assert level.count == rows * cols * k == len(level.array)
    sy, sx = stride
    base = min(stride)
    boxes = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    want_x = np.arange(cols) * sx + offset * base
    want_y = np.arange(rows) * sy + offset * base
    np.testing.assert_allclose(cx, np.broadcast_to(want_x[None, :, None], cx.shape), atol=1e-3)
    np.testing.assert_allclose(cy, np.broadcast_to(want_y[:, None, None], cy.shape), atol=1e-3)
    w = boxes[0, 0, :, 2] - boxes[0, 0, :, 0]
    h = boxes[0, 0, :, 3] - boxes[0, 0, :, 1]
    if scale_major:
        want_r, want_s = np.repeat(ratios, len(scales)), np.tile(scales, len(ratios))
    else:
        want_r, want_s = np.tile(ratios, len(scales)), np.repeat(scales, len(ratios))
    np.testing.assert_allclose(h / w, want_r, rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(w * h), base * want_s, rtol=1e-5)
