"""YOLO anchors (darknet / YOLOv5): hand-made vectors (worked out from
darknet's cfg/yolov3.cfg and yolov5's models/yolo.py) and properties
(count, per-cell order as listed, zero-logit centres, grid units, anchor-major layout, totals)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import yolo
from anchorctl.conventions.base import to_format
from anchorctl.errors import AnchorError

from support import load_vector

VECTOR = load_vector("handmade/yolo.json")
CASES = {case["case"]: case for case in VECTOR["cases"]}


def test_rules_and_options() -> None:
    assert yolo.RULES.native_format == "cxcywh"
    options = {o.name: o for o in yolo.OPTIONS}
    assert set(options) == {"anchors", "strides", "grid_units"}
    assert options["anchors"].kind == "whs" and options["anchors"].per_level
    assert options["grid_units"].kind == "flag" and options["grid_units"].default is False


@pytest.mark.parametrize("name", [c for c in CASES if "anchor" in CASES[c]])
def test_handmade_anchor(name: str) -> None:
    case = CASES[name]
    got = yolo.generate(case["params"])[case["level"]].array
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[case["index"]], case["anchor"], rtol=0, atol=case["atol"])


def test_grid_units_are_multiplied_by_the_stride() -> None:
    case = CASES["yolov5_p3_grid_units"]
    (level,) = yolo.generate(case["params"])
    assert [[s.width, s.height] for s in level.shapes] == case["shapes_wh"]
    assert [[s.params["w"], s.params["h"]] for s in level.shapes] == case["shapes_wh"]
    pixels = {**case["params"], "anchors": [case["shapes_wh"]], "grid_units": False}
    np.testing.assert_array_equal(yolo.generate(pixels)[0].array, level.array)


def test_default_anchors_follow_the_darknet_masks() -> None:
    case = CASES["darknet_masks_by_stride"]
    levels = yolo.generate(case["params"])
    got = [[[s.width, s.height] for s in lv.shapes] for lv in levels]
    assert got == case["shapes_wh_per_level"]


@pytest.mark.parametrize("name", ["total_416", "total_608", "total_640"])
def test_known_totals(name: str) -> None:
    case = CASES[name]
    levels = yolo.generate(case["params"])
    assert sum(len(lv.array) for lv in levels) == case["total"]
    assert [lv.stride[0] for lv in levels] == [8.0, 16.0, 32.0]


def test_all_handmade_cases_are_used() -> None:
    assert len(CASES) == 6
    assert all("darknet" in c["source"] or "yolov5" in c["source"] for c in CASES.values())


def test_three_maps_default_strides_by_size_in_either_order() -> None:
    v5 = yolo.generate({"feature_maps": [(80, 80), (40, 40), (20, 20)]})
    darknet = yolo.generate({"feature_maps": [(19, 19), (38, 38), (76, 76)]})
    assert [lv.stride[0] for lv in v5] == [8.0, 16.0, 32.0]
    assert [lv.stride[0] for lv in darknet] == [32.0, 16.0, 8.0]
    assert sum(lv.count for lv in darknet) == 22743


def test_native_form_is_centre_and_anchor_size() -> None:
    (level,) = yolo.generate(
        {"feature_maps": [(2, 3)], "strides": [(32, 32)], "anchors": [((116, 90),)]}
    )
    native = to_format(level.array, "cxcywh")
    np.testing.assert_array_equal(native[:, 2:], np.tile([116, 90], (6, 1)))
    np.testing.assert_array_equal(native[:, 0], [16, 48, 80, 16, 48, 80])
    np.testing.assert_array_equal(native[:, 1], [16, 16, 16, 48, 48, 48])
    assert level.center0 == (16.0, 16.0)


def test_anchor_major_layout() -> None:
    rows, cols, k = 2, 3, 3
    (level,) = yolo.generate({"feature_maps": [(rows, cols)], "strides": [(8, 8)]})
    reordered = yolo.anchor_major(level.array, (rows, cols), k)
    for slot in range(k):
        for row in range(rows):
            for col in range(cols):
                src = (row * cols + col) * k + slot
                dst = (slot * rows + row) * cols + col
                np.testing.assert_array_equal(reordered[dst], level.array[src])
    with pytest.raises(AnchorError, match="not 2x3 cells x 4"):
        yolo.anchor_major(level.array, (rows, cols), 4)


def test_large_map_is_vectorized() -> None:
    (level,) = yolo.generate(
        {"feature_maps": [(320, 320)], "strides": [(2, 2)], "anchors": [((4, 4),)]}
    )
    assert level.array.shape == (102400, 4)
    np.testing.assert_array_equal(level.array[-1], [637, 637, 641, 641])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"strides": [(8, 16)]}, "--strides"),
        ({"strides": [(0, 0)]}, "--strides"),
        ({"strides": [(64, 64)]}, "--anchors is required"),
        ({"strides": [(8, 8)], "grid_units": True}, "--anchors is required"),
        ({"strides": [(8, 8)], "anchors": [((10, 0),)]}, "--anchors: 0 is not a positive number"),
        ({"strides": [(8, 8)], "anchors": [()]}, "--anchors"),
        ({"strides": [(8, 8)], "anchors": [((1, 1),), ((1, 1),)]}, "--anchors"),
        ({}, "--strides is required"),
        ({"image_size": (100, 100), "feature_maps": [(6, 6)]}, "--strides"),
        ({"feature_maps": [(3, 0)], "strides": [(8, 8)]}, "feature map"),
    ],
)
def test_refuses_nonsense(extra: dict[str, Any], message: str) -> None:
    params = {"feature_maps": [(4, 4)], **extra}
    with pytest.raises(AnchorError, match=message):
        yolo.generate(params)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    stride=st.sampled_from([8, 16, 32, 64]),
    pairs=st.lists(st.tuples(st.integers(1, 400), st.integers(1, 400)), min_size=1, max_size=4),
)
def test_properties(rows: int, cols: int, stride: int, pairs: list[tuple[int, int]]) -> None:
    params = {"feature_maps": [(rows, cols)], "strides": [(stride, stride)], "anchors": [pairs]}
    (level,) = yolo.generate(params)
    k = len(pairs)
    assert level.count == rows * cols * k == len(level.array)
    native = to_format(level.array, "cxcywh").reshape(rows, cols, k, 4)
    np.testing.assert_array_equal(native[..., 2:], np.broadcast_to(pairs, (rows, cols, k, 2)))
    want_x = (np.arange(cols) + 0.5) * stride
    want_y = (np.arange(rows) + 0.5) * stride
    np.testing.assert_array_equal(
        native[..., 0], np.broadcast_to(want_x[None, :, None], (rows, cols, k))
    )
    np.testing.assert_array_equal(
        native[..., 1], np.broadcast_to(want_y[:, None, None], (rows, cols, k))
    )
