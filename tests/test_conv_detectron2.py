"""Detectron2 Default/RotatedAnchorGenerator: hand-made vectors (worked out from
facebookresearch/detectron2 detectron2/modeling/anchor_generator.py) and
properties (count, size-major order, centre rule, ratio = h/w, offset default, rotated form)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import detectron2 as d2
from anchorctl.conventions.base import Option
from anchorctl.errors import AnchorError

from support import load_vector

VECTOR = load_vector("handmade/detectron2.json")
CASES = {case["case"]: case for case in VECTOR["cases"]}


def test_rules_and_options() -> None:
    assert d2.RULES.name == "detectron2"
    assert d2.RULES.ratio_meaning == "height / width"
    assert d2.RULES.native_format == "xyxy"
    options = {o.name: o for o in d2.OPTIONS}
    assert set(options) == {"sizes", "ratios", "strides", "offset", "angles"}
    assert all(isinstance(o, Option) for o in d2.OPTIONS)
    assert options["offset"].default == 0.0  # the config key, not the constructor's 0.5
    assert options["sizes"].default == [(32.0, 64.0, 128.0, 256.0, 512.0)]
    assert options["ratios"].default == [(0.5, 1.0, 2.0)]
    assert options["sizes"].per_level and options["strides"].per_level


@pytest.mark.parametrize("name", [c for c in CASES if "anchor" in CASES[c]])
def test_handmade_anchor(name: str) -> None:
    case = CASES[name]
    if case.get("rotated"):
        got = d2.rotated(case["params"])[case["level"]]
    else:
        got = d2.generate(case["params"])[case["level"]].array
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[case["index"]], case["anchor"], rtol=0, atol=case["atol"])


@pytest.mark.parametrize("name", [c for c in CASES if "per_cell" in CASES[c]])
def test_handmade_counts(name: str) -> None:
    case = CASES[name]
    levels = d2.generate(case["params"])
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    if "total" in case:
        assert sum(lv.count for lv in levels) == case["total"]
        assert sum(len(lv.array) for lv in levels) == case["total"]


def test_all_handmade_cases_are_used() -> None:
    assert len(CASES) == 6
    assert all("facebookresearch/detectron2" in case["source"] for case in CASES.values())


def test_size_major_order_and_ratio_is_height_over_width() -> None:
    sizes, ratios = (32.0, 64.0), (0.5, 1.0, 2.0)
    (level,) = d2.generate(
        {"feature_maps": [(1, 1)], "sizes": [sizes], "ratios": [ratios], "strides": [(8, 8)]}
    )
    assert [s.params for s in level.shapes] == [
        {"size": s, "ratio": r} for s in sizes for r in ratios
    ]
    for shape in level.shapes:
        size, ratio = shape.params["size"], shape.params["ratio"]
        assert math.isclose(shape.height / shape.width, ratio, rel_tol=1e-6)
        assert math.isclose(shape.width * shape.height, size * size, rel_tol=1e-6)
    tall = level.shapes[2]  # size 32, ratio 2
    assert tall.params == {"size": 32.0, "ratio": 2.0} and tall.height > tall.width


def test_config_offset_is_default_and_constructor_offset_is_half_a_stride() -> None:
    params: dict[str, Any] = {"feature_maps": [(3, 4)], "sizes": [(32,)], "strides": [(16, 16)]}
    corner = d2.generate(params)[0]
    assert corner.center0 == (0.0, 0.0)
    centred = d2.generate({**params, "offset": 0.5})[0]
    assert centred.center0 == (8.0, 8.0)
    np.testing.assert_allclose(centred.array - corner.array, 8.0, rtol=0, atol=4e-6)


def test_default_sizes_and_ratios_give_fifteen_per_cell() -> None:
    (level,) = d2.generate({"feature_maps": [(2, 2)], "strides": [(16, 16)]})
    assert level.per_cell == 15 and level.count == 60


def test_strides_from_image_size() -> None:
    maps = [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)]
    levels = d2.generate({"feature_maps": maps, "image_size": (1216, 800), "sizes": [(32,)]})
    assert [lv.stride for lv in levels] == [(s, s) for s in (4.0, 8.0, 16.0, 32.0, 64.0)]


def test_rotated_order_count_and_native_form() -> None:
    params = {
        "feature_maps": [(2, 3)],
        "sizes": [(32, 64)],
        "ratios": [(0.5, 1.0)],
        "angles": [(-90, 0, 30, 90)],
        "strides": [(8, 8)],
        "offset": 0.5,
    }
    (level,) = d2.generate(params)
    (boxes,) = d2.rotated(params)
    assert boxes.shape == (2 * 3 * 2 * 2 * 4, 5) and boxes.dtype == np.float32
    assert level.per_cell == 16 and level.array.shape == (96, 4)
    assert [s.params["angle"] for s in level.shapes[:4]] == [-90.0, 0.0, 30.0, 90.0]
    assert [s.params["ratio"] for s in level.shapes[:8:4]] == [0.5, 1.0]
    np.testing.assert_array_equal(boxes[:16, 4], np.tile([-90, 0, 30, 90], 4))
    # cell (0, 1) is 8 px to the right of cell (0, 0); w, h and angle are the same
    np.testing.assert_array_equal(boxes[16:32, 0] - boxes[:16, 0], np.full(16, 8.0))
    np.testing.assert_array_equal(boxes[16:32, 2:], boxes[:16, 2:])
    np.testing.assert_array_equal(boxes[:16, :2], np.full((16, 2), 4.0))


def test_rotated_xyxy_is_the_horizontal_bounding_rectangle() -> None:
    params = {"feature_maps": [(1, 1)], "sizes": [(32,)], "ratios": [(0.5,)], "strides": [(8,)]}
    plain = d2.generate(params)[0].array[0]
    (level,) = d2.generate({**params, "angles": [(0, 90, 45)]})
    zero, ninety, fortyfive = level.array
    np.testing.assert_allclose(zero, plain, rtol=0, atol=4e-6)
    # a quarter turn swaps width and height about the same centre
    np.testing.assert_allclose(ninety, plain[[1, 0, 3, 2]], rtol=0, atol=4e-6)
    side = (45.254834 + 22.627417) * math.sqrt(0.5)
    assert math.isclose(fortyfive[2] - fortyfive[0], side, rel_tol=1e-6)
    assert math.isclose(fortyfive[3] - fortyfive[1], side, rel_tol=1e-6)
    shape = level.shapes[1]
    assert shape.params["angle"] == 90.0 and shape.width > shape.height  # native w x h


def test_rotated_defaults_to_config_angles() -> None:
    (boxes,) = d2.rotated({"feature_maps": [(1, 1)], "sizes": [(32,)], "strides": [(8,)]})
    np.testing.assert_array_equal(boxes[:, 4], [-90, 0, 90, -90, 0, 90, -90, 0, 90])


def test_large_map_is_vectorized() -> None:
    (level,) = d2.generate({"feature_maps": [(200, 200)], "strides": [(4, 4)]})
    assert level.array.shape == (200 * 200 * 15, 4)
    last = level.array[-15:]
    np.testing.assert_allclose((last[:, 0] + last[:, 2]) / 2, 199 * 4, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"offset": 1.0}, "--offset"),
        ({"offset": -0.1}, "--offset"),
        ({"sizes": [(32, -1)]}, "--sizes"),
        ({"sizes": [()]}, "--sizes"),
        ({"ratios": [(0.0,)]}, "--ratios"),
        ({"ratios": [(float("nan"),)]}, "--ratios"),
        ({"strides": [(8.5, 8.5)]}, "--strides"),
        ({"strides": [(8, 16)]}, "--strides"),
        ({"strides": [(8, 8), (16, 16), (32, 32)]}, "--strides"),
        ({"sizes": [(32,), (64,), (128,)]}, "--sizes"),
        ({"angles": [(float("inf"),)]}, "--angles"),
        ({"strides": None}, "--strides is required"),
        ({"strides": None, "image_size": (100, 100)}, "--strides"),
        ({"feature_maps": [(0, 3), (1, 1)]}, "feature map"),
    ],
)
def test_refuses_nonsense(extra: dict[str, Any], message: str) -> None:
    params = {"feature_maps": [(2, 3), (1, 1)], "strides": [(8, 8)], **extra}
    with pytest.raises(AnchorError, match=message.replace("(", r"\(")):
        d2.generate(params)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    sizes=st.lists(st.floats(4, 600), min_size=1, max_size=3),
    ratios=st.lists(st.floats(0.2, 5), min_size=1, max_size=3),
    stride=st.sampled_from([4, 8, 16, 32, 64]),
    offset=st.sampled_from([0.0, 0.5, 0.25]),
)
def test_properties(
    rows: int,
    cols: int,
    sizes: list[float],
    ratios: list[float],
    stride: int,
    offset: float,
) -> None:
    params = {
        "feature_maps": [(rows, cols)],
        "sizes": [tuple(sizes)],
        "ratios": [tuple(ratios)],
        "strides": [(stride, stride)],
        "offset": offset,
    }
    (level,) = d2.generate(params)
    k = len(sizes) * len(ratios)
    assert level.count == rows * cols * k == len(level.array)
    boxes = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    want_x = (offset + np.arange(cols)) * stride
    want_y = (offset + np.arange(rows)) * stride
    np.testing.assert_allclose(cx, np.broadcast_to(want_x[None, :, None], cx.shape), atol=1e-3)
    np.testing.assert_allclose(cy, np.broadcast_to(want_y[:, None, None], cy.shape), atol=1e-3)
    w = boxes[0, 0, :, 2] - boxes[0, 0, :, 0]
    h = boxes[0, 0, :, 3] - boxes[0, 0, :, 1]
    want_s = np.repeat(sizes, len(ratios))
    want_r = np.tile(ratios, len(sizes))
    np.testing.assert_allclose(w * h, want_s**2, rtol=1e-5)
    np.testing.assert_allclose(h / w, want_r, rtol=1e-5)
    assert level.stride == (float(stride), float(stride))


# --- centres as torch's blocked float32 arange makes them (recorded from torch) ---------------

TORCH = load_vector("torch_arange/detectron2_centres.json")


@pytest.mark.parametrize(
    "case", TORCH["centres"], ids=lambda c: f"{c['n']}x{c['stride']}@{c['offset']}"
)
def test_centres_equal_torch_arange_bit_for_bit(case: dict[str, Any]) -> None:
    n, stride, offset = case["n"], case["stride"], case["offset"]
    expected = np.array(case["values"], dtype=np.float32)
    got = d2.torch_arange(offset * stride, float(stride), n, np.arange(n))
    np.testing.assert_array_equal(got, expected)
    # the same values through a whole level: columns and rows of a one-size map
    level = d2.generate(
        {"feature_maps": [(1, n)], "strides": [(stride, stride)], "offset": offset,
         "sizes": [(2.0,)], "ratios": [(1.0,)]}
    )[0]  # fmt: skip
    np.testing.assert_array_equal(level.array[:, 0] + np.float32(1), expected)


def test_some_recorded_centres_are_not_one_rounding_of_the_exact_value() -> None:
    # What makes the emulation necessary: rounding offset * stride + i * stride once, as the
    # first implementation did, misses these by an ulp.
    moved = 0
    for case in TORCH["centres"]:
        n, stride, offset = case["n"], case["stride"], case["offset"]
        once = (offset * stride + np.arange(n, dtype=np.float64) * stride).astype(np.float32)
        differs = int((once != np.array(case["values"], dtype=np.float32)).sum())
        assert differs == case["differs_from_one_rounding"]
        moved += differs
    assert moved > 50
    for case in TORCH["centres"]:
        if case["offset"] in (0.0, 0.25, 0.5):
            assert case["differs_from_one_rounding"] == 0


@pytest.mark.parametrize("case", TORCH["levels"], ids=lambda c: str(c["params"]["feature_maps"]))
def test_levels_equal_torch_built_levels_bit_for_bit(case: dict[str, Any]) -> None:
    level = d2.generate(case["params"])[0]
    anchors = level.array
    assert len(anchors) == case["count"]
    np.testing.assert_array_equal(anchors[:6], np.array(case["head"], dtype=np.float32))
    np.testing.assert_array_equal(anchors[-6:], np.array(case["tail"], dtype=np.float32))
    assert hashlib.sha256(anchors.astype("<f4").tobytes()).hexdigest() == case["sha256_f32le"]
    # blocks and single cells agree with the whole array
    np.testing.assert_array_equal(np.concatenate(list(level.iter_blocks(4096))), anchors)
    rows, cols = level.feature_map
    k = level.per_cell
    cell = (rows - 1, cols - 2)
    first = (cell[0] * cols + cell[1]) * k
    np.testing.assert_array_equal(level.at([cell]), anchors[first : first + k])


def test_torch_arange_past_the_vectorized_part_rounds_each_value_once() -> None:
    # n = 21 with 8 lanes: 16 values in two vectors, the last 5 one by one.
    start, step, n = 0.714 * 8, 8.0, 21
    got = d2.torch_arange(start, step, n, np.arange(n))
    serial = (start + step * np.arange(n, dtype=np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got[16:], serial[16:])
    first = np.float32(start + step * 8)
    blocked = (np.float64(first) + np.arange(8) * step).astype(np.float32)
    np.testing.assert_array_equal(got[8:16], blocked)
