"""TensorFlow Object Detection API anchors: GridAnchorGenerator (tf-grid), create_ssd_anchors
(tf-ssd) and MultiscaleGridAnchorGenerator (tf-multiscale).

The numbers are worked out by hand from tensorflow/models research/object_detection
(tests/vectors/handmade/tf-ssd.json and the sample configs' totals); the rest are properties of
the rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import tf_grid, tf_multiscale, tf_ssd
from anchorctl.conventions.base import OPTION_KINDS, Level, to_format
from anchorctl.errors import AnchorError

from support import load_vector

TF_SSD = {case["name"]: case for case in load_vector("handmade/tf-ssd.json")["cases"]}
SSD_MAPS = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
RETINANET_MAPS_512 = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]


def cell(level: Level, row: int, col: int) -> np.ndarray:
    k = level.per_cell
    start = (row * level.feature_map[1] + col) * k
    return level.array[start : start + k]


def centres(level: Level) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = level.feature_map
    boxes = level.array.astype(np.float64).reshape(rows, cols, level.per_cell, 4)
    return (boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2


@pytest.mark.parametrize("module", [tf_grid, tf_ssd, tf_multiscale])
def test_contract(module: Any) -> None:
    assert conventions.load(module.NAME) is module
    assert module.RULES.native_format == "yxyx"
    assert module.RULES.ratio_meaning == "width / height"
    for option in module.OPTIONS:
        assert option.kind in OPTION_KINDS
    assert "tensorflow/models" in " ".join(module.RULES.sources)


def test_docstrings_state_the_rules() -> None:
    assert "ratio outer, scale inner" in (tf_grid.__doc__ or "")
    ssd_doc = tf_ssd.__doc__ or ""
    for fact in ("hard-coded", "shorter image side", "im_height = im_width = 1", "1917"):
        assert fact in ssd_doc
    assert "divisible" in (tf_multiscale.__doc__ or "")


# --- tf-grid ---------------------------------------------------------------------------


def test_grid_defaults_ratio_major_and_corner_centre() -> None:
    (level,) = tf_grid.generate({"feature_maps": [(3, 4)]})
    assert level.per_cell == 9 and level.count == 3 * 4 * 9
    labels = [(s.params["ratio"], s.params["scale"]) for s in level.shapes]
    assert labels == [(r, s) for r in (0.5, 1.0, 2.0) for s in (0.5, 1.0, 2.0)]
    assert level.stride == (16.0, 16.0) and level.center0 == (0.0, 0.0)
    cx, cy = centres(level)
    np.testing.assert_allclose(cx, (np.arange(4) * 16.0)[None, :, None] + 0 * cx)
    np.testing.assert_allclose(cy, (np.arange(3) * 16.0)[:, None, None] + 0 * cy)
    # ratio 0.5 scale 1 of a 256x256 base: w/h = 0.5, tall, area 256^2
    tall = level.shapes[1]
    assert tall.width == pytest.approx(256 * math.sqrt(0.5), rel=1e-6)
    assert tall.height == pytest.approx(256 / math.sqrt(0.5), rel=1e-6)


def test_faster_rcnn_config_spans_64_to_512() -> None:
    # grid_anchor_generator.py, Faster R-CNN configs: scales [0.25,0.5,1,2], ratios [0.5,1,2], stride 16 -> 12 per location
    (level,) = tf_grid.generate({"feature_maps": [(38, 50)], "scales": (0.25, 0.5, 1.0, 2.0)})
    assert level.per_cell == 12
    sides = sorted(math.sqrt(s.width * s.height) for s in level.shapes)
    assert sides[0] == pytest.approx(64) and sides[-1] == pytest.approx(512)


def test_grid_stride_offset_and_base_are_y_first() -> None:
    (level,) = tf_grid.generate(
        {
            "feature_maps": [(2, 3)],
            "scales": (1.0,),
            "ratios": (1.0,),
            "base_anchor_size": (100.0, 40.0),
            "anchor_stride": (10.0, 20.0),
            "anchor_offset": (3.0, 5.0),
        }
    )
    ymin, xmin, ymax, xmax = to_format(cell(level, 1, 2), "yxyx")[0]
    assert (ymax - ymin, xmax - xmin) == (100.0, 40.0)
    assert ((ymin + ymax) / 2, (xmin + xmax) / 2) == (1 * 10.0 + 3.0, 2 * 20.0 + 5.0)
    assert level.center0 == (5.0, 3.0) and level.stride == (10.0, 20.0)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"feature_maps": [(2, 2), (1, 1)]}, "exactly one feature map"),
        ({"scales": (0.0,)}, "--scales"),
        ({"ratios": ()}, "--ratios"),
        ({"base_anchor_size": (256.0, -1.0)}, "--base-anchor-size"),
        ({"anchor_stride": (0.0, 16.0)}, "--anchor-stride"),
        ({"anchor_offset": (-1.0, 0.0)}, "--anchor-offset"),
        ({"anchor_offset": (float("inf"), 0.0)}, "--anchor-offset"),
    ],
)
def test_grid_refuses_nonsense(params: dict[str, Any], words: str) -> None:
    p: dict[str, Any] = {"feature_maps": [(2, 2)]}
    p.update(params)
    with pytest.raises(AnchorError, match=words.replace("-", r"\-")):
        tf_grid.generate(p)


# --- tf-ssd ----------------------------------------------------------------------------


def ssd_params(case: dict[str, Any]) -> dict[str, Any]:
    p = dict(case["params"])
    p["feature_maps"] = [tuple(fm) for fm in p["feature_maps"]]
    p["image_size"] = tuple(p["image_size"])
    p["ratios"] = tuple(p["ratios"])
    return p


def test_ssd_lowest_layer_cell_0_0_matches_the_notes() -> None:
    case = TF_SSD["ssd_mobilenet_v1_19x19_cell_0_0"]
    level = tf_ssd.generate(ssd_params(case))[case["level"]]
    assert level.array.dtype == np.float32
    got = to_format(cell(level, *case["cell"]), case["box_format"])
    np.testing.assert_allclose(got, np.array(case["anchors"]), rtol=0, atol=case["atol"])
    assert [dict(s.params) for s in level.shapes] == [pytest.approx(slot) for slot in case["slots"]]


def test_ssd_mobilenet_total_is_1917() -> None:
    case = TF_SSD["ssd_mobilenet_v1_total"]
    levels = tf_ssd.generate(ssd_params(case))
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    assert sum(lv.count for lv in levels) == case["total"] == 1917


def test_ssd_default_scales() -> None:
    case = TF_SSD["default_scales"]
    specs = tf_ssd.box_specs(6, 0.2, 0.95, None, (1.0,), 1.0, False)
    assert [layer[0][0] for layer in specs] == pytest.approx(case["scales"][:-1], abs=case["atol"])
    last = specs[-1][-1]
    assert last == pytest.approx((math.sqrt(case["scales"][-2] * case["scales"][-1]), 1.0))


def test_ssd_lowest_layer_is_hard_coded_and_interpolated_box_last() -> None:
    levels = tf_ssd.generate({"feature_maps": SSD_MAPS, "ratios": (1.0, 2.0)})
    assert [(s.params["scale"], s.params["ratio"]) for s in levels[0].shapes] == [
        (0.1, 1.0),
        (0.2, 2.0),
        (0.2, 0.5),
    ]
    second = [(s.params["scale"], s.params["ratio"]) for s in levels[1].shapes]
    assert second[:2] == [(pytest.approx(0.35), 1.0), (pytest.approx(0.35), 2.0)]
    assert second[2] == (pytest.approx(math.sqrt(0.35 * 0.5)), 1.0)
    flat = tf_ssd.generate(
        {"feature_maps": SSD_MAPS, "reduce_boxes_in_lowest_layer": False, "ratios": (1.0, 2.0)}
    )
    assert flat[0].per_cell == 3 and flat[0].shapes[0].params["scale"] == pytest.approx(0.2)
    none = tf_ssd.generate(
        {"feature_maps": SSD_MAPS, "ratios": (1.0, 2.0), "interpolated_scale_aspect_ratio": 0.0}
    )
    assert [lv.per_cell for lv in none] == [3, 2, 2, 2, 2, 2]


def test_ssd_centres_are_half_a_stride_in_and_no_clip() -> None:
    levels = tf_ssd.generate({"feature_maps": SSD_MAPS, "image_size": (300, 300)})
    for level in levels:
        rows, cols = level.feature_map
        cx, cy = centres(level)
        np.testing.assert_allclose(
            cx, ((np.arange(cols) + 0.5) / cols)[None, :, None] + 0 * cx, atol=1e-6
        )
        np.testing.assert_allclose(
            cy, ((np.arange(rows) + 0.5) / rows)[:, None, None] + 0 * cy, atol=1e-6
        )
    assert levels[0].array.min() < 0 and levels[-1].array.max() > 1  # not clipped


def test_ssd_scale_is_a_fraction_of_the_shorter_side() -> None:
    # 640 wide, 480 high: ratio-1 anchors are square in pixels with side scale * 480
    (level,) = tf_ssd.generate(
        {
            "feature_maps": [(3, 4)],
            "image_size": (640, 480),
            "scales": (0.5,),
            "ratios": (1.0, 2.0),
            "reduce_boxes_in_lowest_layer": False,
        }
    )
    square, wide, extra = level.shapes
    assert square.width * 640 == pytest.approx(0.5 * 480, rel=1e-6)
    assert square.height * 480 == pytest.approx(0.5 * 480, rel=1e-6)
    assert (wide.width * 640) / (wide.height * 480) == pytest.approx(2.0, rel=1e-6)
    assert extra.params["scale"] == pytest.approx(math.sqrt(0.5 * 1.0))
    # without an image size the generator's 1 x 1 default applies: no correction
    (plain,) = tf_ssd.generate(
        {
            "feature_maps": [(3, 4)],
            "scales": (0.5,),
            "ratios": (1.0,),
            "reduce_boxes_in_lowest_layer": False,
        }
    )
    assert plain.shapes[0].width == plain.shapes[0].height == pytest.approx(0.5)


def test_ssd_pixel_strides_and_offsets_are_divided_by_the_image() -> None:
    (level,) = tf_ssd.generate(
        {
            "feature_maps": [(38, 38)],
            "image_size": (300, 200),
            "scales": (0.1,),
            "anchor_strides": [(8.0, 10.0)],
            "anchor_offsets": [(4.0, 5.0)],
        }
    )
    assert level.stride == pytest.approx((8 / 200, 10 / 300))
    assert level.center0 == pytest.approx((5 / 300, 4 / 200))
    cx, cy = centres(level)
    assert cx[0, 1, 0] == pytest.approx((10 + 5) / 300) and cy[1, 0, 0] == pytest.approx(12 / 200)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"num_layers": 5}, "--num-layers"),
        ({"feature_maps": [(19, 19)]}, "--num-layers"),
        ({"scales": (0.2, 0.3)}, "--scales"),
        ({"scales": (0.2, 0.3, 0.4, 0.5, 0.6, -0.7)}, "--scales"),
        ({"min_scale": 0.0}, "--min-scale"),
        ({"max_scale": 0.1}, "--max-scale"),
        ({"ratios": (0.0,)}, "--ratios"),
        ({"interpolated_scale_aspect_ratio": -1.0}, "--interpolated-scale-aspect-ratio"),
        ({"base_anchor_size": (0.0, 1.0)}, "--base-anchor-size"),
        ({"anchor_strides": [(8.0, 8.0)], "image_size": None}, "--input-size"),
        ({"anchor_strides": [(8.0, 8.0), (16.0, 16.0)]}, "--anchor-strides"),
        ({"anchor_offsets": [(-1.0, 0.0)]}, "--anchor-offsets"),
    ],
)
def test_ssd_refuses_nonsense(params: dict[str, Any], words: str) -> None:
    p: dict[str, Any] = {"feature_maps": SSD_MAPS, "image_size": (300, 300)}
    p.update(params)
    with pytest.raises(AnchorError, match=words.replace("-", r"\-")):
        tf_ssd.generate(p)


# --- tf-multiscale ---------------------------------------------------------------------


def test_multiscale_retinanet_totals() -> None:
    # multiscale_grid_anchor_generator.py, RetinaNet configs: levels 3-7, anchor_scale 4, ratios [1, 2, 0.5], 2 per octave -> 6
    levels = tf_multiscale.generate({"feature_maps": RETINANET_MAPS_512, "image_size": (512, 512)})
    assert [lv.per_cell for lv in levels] == [6] * 5
    # section 13: RetinaNet, 9 anchors per cell, 49104 at 512x512 (3 scales per octave)
    nine = tf_multiscale.generate(
        {"feature_maps": RETINANET_MAPS_512, "image_size": (512, 512), "scales_per_octave": 3}
    )
    assert [lv.per_cell for lv in nine] == [9] * 5
    assert sum(lv.count for lv in nine) == 49104


def test_multiscale_sizes_order_and_normalization() -> None:
    levels = tf_multiscale.generate(
        {
            "feature_maps": RETINANET_MAPS_512,
            "image_size": (512, 512),
            "normalize_coordinates": False,
        }
    )
    first = levels[0]
    labels = [(s.params["ratio"], s.params["scale"]) for s in first.shapes]
    assert labels == [(r, o) for r in (1.0, 2.0, 0.5) for o in (1.0, 2**0.5)]
    assert first.shapes[0].width == first.shapes[0].height == 4.0 * 8  # anchor_scale * 2^3
    assert levels[4].shapes[0].width == 4.0 * 128
    wide = first.shapes[2]  # ratio 2, octave 1: w / h = 2
    assert wide.width / wide.height == pytest.approx(2.0, rel=1e-6)
    normalized = tf_multiscale.generate(
        {"feature_maps": RETINANET_MAPS_512, "image_size": (512, 512)}
    )
    for px, nz in zip(levels, normalized, strict=True):
        np.testing.assert_allclose(nz.array * 512, px.array, rtol=1e-6, atol=1e-4)


def test_multiscale_offset_only_when_divisible_per_axis() -> None:
    # 640 wide (divisible by 8 .. 128), 600 high (divisible by 8, not by 16 .. 128)
    levels = tf_multiscale.generate(
        {
            "feature_maps": [(75, 80), (38, 40), (19, 20), (10, 10), (5, 5)],
            "image_size": (640, 600),
            "normalize_coordinates": False,
        }
    )
    assert levels[0].center0 == (4.0, 4.0)
    for level, stride in zip(levels[1:], (16, 32, 64, 128), strict=True):
        assert level.center0 == (stride / 2, 0.0)
        cx, cy = centres(level)
        assert cx[0, 0, 0] == stride / 2 and cy[0, 0, 0] == 0.0
        assert cx[0, 1, 0] - cx[0, 0, 0] == stride and cy[1, 0, 0] - cy[0, 0, 0] == stride
    assert tf_multiscale.offsets(4, 600, 640) == (0.0, 8.0)
    assert tf_multiscale.offsets(4, 1, 1) == (8.0, 8.0)  # the generator's default size


def test_multiscale_without_image_size() -> None:
    with pytest.raises(AnchorError, match="--input-size"):
        tf_multiscale.generate({"feature_maps": RETINANET_MAPS_512})
    levels = tf_multiscale.generate(
        {"feature_maps": RETINANET_MAPS_512, "normalize_coordinates": False}
    )
    assert [lv.center0 for lv in levels] == [(s / 2, s / 2) for s in (8, 16, 32, 64, 128)]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"max_level": 6}, "--max-level"),
        ({"min_level": 5, "max_level": 4}, "--max-level"),
        ({"min_level": 40}, "--min-level"),
        ({"anchor_scale": 0.0}, "--anchor-scale"),
        ({"scales_per_octave": 0}, "--scales-per-octave"),
        ({"ratios": (1.0, -2.0)}, "--ratios"),
        ({"image_size": (1, 512)}, "--input-size"),
    ],
)
def test_multiscale_refuses_nonsense(params: dict[str, Any], words: str) -> None:
    p: dict[str, Any] = {"feature_maps": RETINANET_MAPS_512, "image_size": (512, 512)}
    p.update(params)
    with pytest.raises(AnchorError, match=words.replace("-", r"\-")):
        tf_multiscale.generate(p)


# --- properties shared by the three ----------------------------------------------------


@st.composite
def grid_calls(draw: st.DrawFn) -> dict[str, Any]:
    positive = st.floats(0.1, 4.0, allow_nan=False)
    return {
        "feature_maps": [(draw(st.integers(1, 6)), draw(st.integers(1, 6)))],
        "scales": tuple(draw(st.lists(positive, min_size=1, max_size=3))),
        "ratios": tuple(draw(st.lists(positive, min_size=1, max_size=3))),
        "base_anchor_size": (draw(positive) * 100, draw(positive) * 100),
        "anchor_stride": (draw(positive) * 10, draw(positive) * 10),
        "anchor_offset": (draw(st.floats(0, 20)), draw(st.floats(0, 20))),
    }


@settings(max_examples=40, deadline=None)
@given(grid_calls())
def test_grid_count_order_centres_and_extent(p: dict[str, Any]) -> None:
    (level,) = tf_grid.generate(p)
    rows, cols = p["feature_maps"][0]
    k = len(p["scales"]) * len(p["ratios"])
    assert level.per_cell == k and level.array.shape == (rows * cols * k, 4)
    assert level.array.dtype == np.float32
    cx, cy = centres(level)
    sy, sx = p["anchor_stride"]
    oy, ox = p["anchor_offset"]
    np.testing.assert_allclose(cx, (np.arange(cols) * sx + ox)[None, :, None] + 0 * cx, atol=1e-3)
    np.testing.assert_allclose(cy, (np.arange(rows) * sy + oy)[:, None, None] + 0 * cy, atol=1e-3)
    bh, bw = p["base_anchor_size"]
    for slot, shape in enumerate(level.shapes):
        r = p["ratios"][slot // len(p["scales"])]
        s = p["scales"][slot % len(p["scales"])]
        assert shape.params == {"scale": s, "ratio": r}
        assert shape.width == pytest.approx(s * math.sqrt(r) * bw, rel=1e-5)
        assert shape.height == pytest.approx(s / math.sqrt(r) * bh, rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=2, max_size=5),
    st.lists(st.sampled_from([1.0, 2.0, 0.5, 3.0, 1 / 3]), min_size=1, max_size=5),
    st.booleans(),
    st.sampled_from([0.0, 1.0, 2.0]),
)
def test_ssd_counts(sides: list[int], ratios: list[float], reduce: bool, interp: float) -> None:
    levels = tf_ssd.generate(
        {
            "feature_maps": [(n, n) for n in sides],
            "ratios": tuple(ratios),
            "reduce_boxes_in_lowest_layer": reduce,
            "interpolated_scale_aspect_ratio": interp,
        }
    )
    per = len(ratios) + (1 if interp > 0 else 0)
    expected = [3 if (i == 0 and reduce) else per for i in range(len(sides))]
    assert [lv.per_cell for lv in levels] == expected
    assert sum(lv.count for lv in levels) == sum(
        n * n * k for n, k in zip(sides, expected, strict=True)
    )
