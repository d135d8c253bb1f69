"""Caffe SSD PriorBox: hand-made vectors (worked out from weiliu89/caffe's prior_box_layer.cpp and
ssd_pascal.py) and properties of the rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import caffe_ssd
from anchorctl.conventions.base import OPTION_KINDS, to_format
from anchorctl.errors import AnchorError

from support import load_vector

VECTOR = load_vector("handmade/caffe-ssd.json")
CASES = {case["name"]: case for case in VECTOR["cases"]}


def params_of(case: dict[str, Any]) -> dict[str, Any]:
    """A JSON case's params as generate() takes them (tuples, as the CLI and configs give)."""
    p = dict(case["params"])
    p["feature_maps"] = [tuple(fm) for fm in p["feature_maps"]]
    p["image_size"] = tuple(p["image_size"])
    for key in ("min_sizes", "max_sizes", "ratios", "steps"):
        if key in p:
            p[key] = [tuple(v) for v in p[key]]
    return p


def cell_boxes(level: Any, row: int, col: int) -> np.ndarray:
    cols = level.feature_map[1]
    k = level.per_cell
    start = (row * cols + col) * k
    return level.array[start : start + k]


def base(**extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "feature_maps": [(4, 6)],
        "image_size": (300, 200),
        "min_sizes": [(30.0,)],
        "max_sizes": [(60.0,)],
        "ratios": [(2.0,)],
    }
    p.update(extra)
    return p


def test_registered_and_module_contract() -> None:
    module = conventions.load("caffe-ssd")
    assert module is caffe_ssd
    assert caffe_ssd.RULES.native_format == "xyxy"
    assert caffe_ssd.RULES.ratio_meaning == "width / height"
    for option in caffe_ssd.OPTIONS:
        assert option.kind in OPTION_KINDS
    names = {o.name: o for o in caffe_ssd.OPTIONS}
    assert names["flip"].default is True and names["clip"].default is False
    assert names["offset"].default == 0.5
    assert names["min_sizes"].per_level and names["steps"].per_level


def test_module_docstring_states_the_rules() -> None:
    doc = caffe_ssd.__doc__ or ""
    for fact in ("35.84 becomes 35", "width / height", "flip", "weiliu89/caffe#843", "offset"):
        assert fact in doc


def test_ssd300_conv4_3_cell_0_0_matches_the_notes() -> None:
    case = CASES["ssd300_conv4_3_cell_0_0"]
    level = caffe_ssd.generate(params_of(case))[case["level"]]
    assert level.array.dtype == np.float32
    got = to_format(cell_boxes(level, *case["cell"]), case["box_format"])
    np.testing.assert_allclose(got, np.array(case["anchors"]), rtol=0, atol=case["atol"])


def test_ssd300_recipe_gives_8732() -> None:
    case = CASES["ssd300_pascal_total"]
    levels = caffe_ssd.generate(params_of(case))
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    assert sum(lv.count for lv in levels) == case["total"] == 8732
    assert sum(len(lv.array) for lv in levels) == 8732
    # steps are the recipe's pixels (100 on the 3x3 map, not 300/3), divided by the image
    assert levels[4].stride == pytest.approx((100 / 300, 100 / 300))
    assert levels[4].center0 == pytest.approx((50 / 300, 50 / 300))


def test_ssd512_gives_24564() -> None:
    case = CASES["ssd512_total"]
    maps = [tuple(fm) for fm in case["feature_maps"]]
    # Only conv4_3's sizes are in the notes; the others are placeholders (any sizes give the
    # same count), with the 4/6 shapes per cell made by ratios [2] or [2, 3] with flip.
    mins = [(case["conv4_3"]["min_size"],)] + [(50.0 * i,) for i in range(1, 7)]
    maxs = [(case["conv4_3"]["max_size"],)] + [(50.0 * i + 40,) for i in range(1, 7)]
    ratios = [(2.0,) if k == 4 else (2.0, 3.0) for k in case["per_cell"]]
    levels = caffe_ssd.generate(
        {
            "feature_maps": maps,
            "image_size": tuple(case["image_size"]),
            "min_sizes": mins,
            "max_sizes": maxs,
            "ratios": ratios,
            "steps": [(s, s) for s in case["steps"]],
        }
    )
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    assert sum(lv.count for lv in levels) == case["total"] == 24564


def test_sizes_are_truncated_to_int_like_caffe() -> None:
    case = CASES["int_truncation"]
    img = 512
    level = caffe_ssd.generate(
        {
            "feature_maps": [(64, 64)],
            "image_size": (img, img),
            "min_sizes": [(case["min_size"],)],
            "max_sizes": [(case["max_size"],)],
            "ratios": [(2.0,)],
            "steps": [(8.0, 8.0)],
        }
    )[0]
    square, extra, wide, tall = level.shapes
    assert square.width * img == pytest.approx(case["min_used"], abs=1e-4)
    assert square.params["size"] == case["min_used"]
    assert extra.width * img == pytest.approx(case["extra_side"], abs=case["atol"])
    assert abs(extra.width * img - case["extra_side_untruncated"]) > 0.5
    assert extra.width * img == pytest.approx(math.sqrt(case["min_used"] * case["max_used"]))
    # the ratio boxes use the truncated min too (not sqrt(min*max): PR #690 is not merged)
    assert wide.width * img == pytest.approx(case["min_used"] * math.sqrt(2), abs=1e-4)
    assert tall.height * img == pytest.approx(case["min_used"] * math.sqrt(2), abs=1e-4)


def test_ratio_list_dedup_and_flip() -> None:
    assert [float(r) for r in caffe_ssd.ratio_list((2.0, 3.0), True)] == pytest.approx(
        [1, 2, 0.5, 3, 1 / 3]
    )
    assert [float(r) for r in caffe_ssd.ratio_list((2.0, 3.0), False)] == [1.0, 2.0, 3.0]
    # within 1e-6 of a listed ratio: ignored; 1 is always there already; 0.5 is 1/2
    listed = caffe_ssd.ratio_list((1.0, 2.0, 2.0000005, 0.5, 2.00001), True)
    assert len(listed) == 5
    per_cell = caffe_ssd.generate(base(ratios=[(1.0, 2.0, 2.0000005, 0.5)]))[0].per_cell
    assert per_cell == 4  # square min, square sqrt(min*max), 2, 1/2


def test_per_cell_order_with_two_min_sizes() -> None:
    level = caffe_ssd.generate(
        base(min_sizes=[(30.0, 80.0)], max_sizes=[(60.0, 100.0)], ratios=[(2.0,)], flip=False)
    )[0]
    sizes = [(s.params["size"], s.params["ratio"]) for s in level.shapes]
    assert sizes == [
        (30, 1.0),
        (pytest.approx(math.sqrt(30 * 60)), 1.0),
        (30, 2.0),
        (80, 1.0),
        (pytest.approx(math.sqrt(80 * 100)), 1.0),
        (80, 2.0),
    ]
    assert level.per_cell == 3 * 2 - 2 + 2  # len([1, 2]) * 2 min sizes + 2 max sizes


def test_ratio_is_width_over_height_in_pixels() -> None:
    level = caffe_ssd.generate(base(flip=True))[0]
    img_w, img_h = 300, 200
    wide, tall = level.shapes[2:]
    assert (wide.params["ratio"], tall.params["ratio"]) == (2.0, 0.5)
    assert wide.width * img_w / (wide.height * img_h) == pytest.approx(2.0, rel=1e-6)
    assert tall.height * img_h / (tall.width * img_w) == pytest.approx(2.0, rel=1e-6)


def test_default_step_is_image_over_map_as_float() -> None:
    level = caffe_ssd.generate(base(feature_maps=[(7, 9)], image_size=(300, 200)))[0]
    step_w = np.float32(300) / np.float32(9)
    step_h = np.float32(200) / np.float32(7)
    assert level.stride == pytest.approx((float(step_h) / 200, float(step_w) / 300))
    assert level.center0 == pytest.approx((0.5 * float(step_w) / 300, 0.5 * float(step_h) / 200))


def test_step_h_step_w_and_offset() -> None:
    level = caffe_ssd.generate(base(steps=[(10.0, 20.0)], offset=0.0))[0]
    box = cell_boxes(level, 1, 2)[0]  # square of side 30
    assert (box[0] + box[2]) / 2 * 300 == pytest.approx(2 * 20.0, abs=1e-4)
    assert (box[1] + box[3]) / 2 * 200 == pytest.approx(1 * 10.0, abs=1e-4)


def test_img_size_overrides_the_image_size() -> None:
    a = caffe_ssd.generate(base(image_size=(640, 480), img_size=(300.0, 300.0)))[0]
    b = caffe_ssd.generate(base(image_size=(300, 300)))[0]
    np.testing.assert_array_equal(a.array, b.array)
    c = caffe_ssd.generate(base(image_size=None, img_size=(300.0, 300.0)))[0]
    np.testing.assert_array_equal(c.array, b.array)


def test_clip_clamps_each_coordinate() -> None:
    plain = caffe_ssd.generate(base(min_sizes=[(90.0,)], max_sizes=[(120.0,)]))[0]
    clipped = caffe_ssd.generate(base(min_sizes=[(90.0,)], max_sizes=[(120.0,)], clip=True))[0]
    assert plain.array.min() < 0 and plain.array.max() > 1
    np.testing.assert_array_equal(clipped.array, np.clip(plain.array, 0, 1))
    assert clipped.shapes == plain.shapes  # nominal, unclipped extents


def test_variances() -> None:
    assert caffe_ssd.variances({}) == (0.1, 0.1, 0.1, 0.1)
    assert caffe_ssd.variances({"variances": (0.2,)}) == (0.2, 0.2, 0.2, 0.2)
    assert caffe_ssd.variances({"variances": (0.1, 0.1, 0.2, 0.2)}) == (0.1, 0.1, 0.2, 0.2)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"image_size": None}, "--input-size"),
        ({"min_sizes": None}, "--min-sizes"),
        ({"min_sizes": [()]}, "--min-sizes"),
        ({"min_sizes": [(0.5,)]}, "--min-sizes"),
        ({"max_sizes": [(20.0,)]}, "--max-sizes"),
        ({"max_sizes": [(60.0, 90.0)]}, "--max-sizes"),
        ({"max_sizes": [(50000.0,)], "min_sizes": [(50000.0 - 1,)]}, "--max-sizes"),
        ({"ratios": [(-2.0,)]}, "--ratios"),
        ({"steps": [(0.0, 8.0)]}, "--steps"),
        ({"offset": 1.5}, "--offset"),
        ({"variances": (0.1, 0.2)}, "--variances"),
        ({"variances": (0.0,)}, "--variances"),
        ({"img_size": (300.5, 300.0)}, "--img-size"),
        ({"feature_maps": [(4, 6), (2, 3)], "min_sizes": [(1.0,), (2.0,), (3.0,)]}, "--min-sizes"),
        ({"feature_maps": [(0, 6)]}, "feature map"),
    ],
)
def test_refuses_nonsense_naming_the_option(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(AnchorError, match=words.replace("-", r"\-")):
        caffe_ssd.generate(base(**extra))


@st.composite
def priorbox(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 6))
    n_min = draw(st.integers(1, 2))
    mins = tuple(
        draw(st.integers(2, 200)) + draw(st.sampled_from([0.0, 0.5, 0.84])) for _ in range(n_min)
    )
    with_max = draw(st.booleans())
    maxs = tuple(m + draw(st.integers(1, 100)) for m in mins) if with_max else ()
    ratios = tuple(draw(st.lists(st.sampled_from([2.0, 3.0, 0.5, 1.5, 4.0, 1.0]), max_size=3)))
    return {
        "feature_maps": [(rows, cols)],
        "image_size": (draw(st.integers(50, 700)), draw(st.integers(50, 700))),
        "min_sizes": [mins],
        "max_sizes": [maxs],
        "ratios": [ratios],
        "flip": draw(st.booleans()),
        "offset": draw(st.sampled_from([0.0, 0.5, 1.0])),
    }


@settings(max_examples=40, deadline=None)
@given(priorbox())
def test_count_centres_and_shapes(p: dict[str, Any]) -> None:
    level = caffe_ssd.generate(p)[0]
    rows, cols = p["feature_maps"][0]
    n_list = len(caffe_ssd.ratio_list(p["ratios"][0], p["flip"]))
    k = n_list * len(p["min_sizes"][0]) + len(p["max_sizes"][0])
    assert level.per_cell == k
    assert level.array.shape == (rows * cols * k, 4)
    assert level.array.dtype == np.float32
    img_w, img_h = p["image_size"]
    boxes = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    step_x, step_y = img_w / cols, img_h / rows
    expect_x = (np.arange(cols) + p["offset"]) * step_x / img_w
    expect_y = (np.arange(rows) + p["offset"]) * step_y / img_h
    np.testing.assert_allclose(cx, np.broadcast_to(expect_x[None, :, None], cx.shape), atol=2e-6)
    np.testing.assert_allclose(cy, np.broadcast_to(expect_y[:, None, None], cy.shape), atol=2e-6)
    assert level.center0 == pytest.approx((expect_x[0], expect_y[0]), abs=1e-6)
    # every box has its shape's nominal extent, in pixels: whole-pixel min, then the rest
    widths = (boxes[..., 2] - boxes[..., 0]) * img_w
    heights = (boxes[..., 3] - boxes[..., 1]) * img_h
    for slot, shape in enumerate(level.shapes):
        assert np.allclose(widths[..., slot], shape.width * img_w, atol=1e-3)
        assert np.allclose(heights[..., slot], shape.height * img_h, atol=1e-3)
        r = shape.params["ratio"]
        assert shape.width * img_w / (shape.height * img_h) == pytest.approx(r, rel=1e-5)
    assert level.shapes[0].params["size"] == int(p["min_sizes"][0][0])
