"""GluonCV RPN anchors, pinned by arrays recorded from GluonCV 0.10.5, by the FPN rounding
facts of dmlc/gluon-cv gluoncv/model_zoo/rcnn/rpn/anchor.py, and by properties that hold for any parameters."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import MODULES, load
from anchorctl.conventions import gluoncv_rpn as rpn
from anchorctl.conventions import py_faster_rcnn as pfr
from anchorctl.conventions.base import OPTION_KINDS
from anchorctl.errors import AnchorError

from support import VECTORS, load_vector

FOLDER = VECTORS / "gluoncv_rpn_anchor"
CASES = sorted(p.name for p in FOLDER.glob("*.json") if p.name != "preset_check.json")


def sha(boxes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(boxes, dtype="<f4").tobytes()).hexdigest()


def params_of(vector: dict[str, Any]) -> dict[str, Any]:
    p = vector["params"]
    return {
        "feature_maps": [tuple(vector["feature_shape"])],
        "strides": [p["stride"]],
        "base_size": p["base_size"],
        "scales": [tuple(p["scales"])],
        "ratios": tuple(p["ratios"]),
    }


@pytest.mark.parametrize("name", CASES)
def test_matches_gluoncv_bit_for_bit(name: str) -> None:
    vector = load_vector(f"gluoncv_rpn_anchor/{name}")
    assert vector["box_format"].startswith("corner, pixels")
    (level,) = rpn.generate(params_of(vector))
    assert level.array.dtype == np.float32
    assert level.array.shape == (vector["num_anchors"], 4)
    assert level.per_cell == vector["per_cell"]
    np.testing.assert_array_equal(level.array, np.array(vector["anchors"], dtype=np.float32))
    assert sha(level.array) == vector["checksum"]["sha256_f32le"]
    k = vector["per_cell"]
    np.testing.assert_array_equal(level.array[:k], np.array(vector["base_anchors_float64"]))


def test_preset_table_of_faster_rcnn_resnet50_v1b_voc() -> None:
    # the stored (1, 1, 128, 128, 60) table = RPNAnchorGenerator(16, 16, (0.5,1,2), (2,...,32))
    vector = load_vector("gluoncv_rpn_anchor/preset_check.json")
    preset = vector["preset"]
    assert preset["alloc_anchor_param_shape"] == [1, 1, 128, 128, 60]
    (level,) = rpn.generate(
        {"feature_maps": [(128, 128)], "strides": [16], "scales": [(2, 4, 8, 16, 32)]}
    )
    checksum = preset["alloc_checksum"]
    assert len(level.array) == checksum["count"]
    assert sha(level.array) == checksum["sha256_f32le"]
    assert float(level.array.min()) == checksum["min"]
    assert float(level.array.max()) == checksum["max"]


def test_faster_rcnn_class_defaults_are_the_option_defaults() -> None:
    defaults = load_vector("gluoncv_rpn_anchor/preset_check.json")["faster_rcnn_class_defaults"]
    options = {o.name: o.default for o in rpn.OPTIONS}
    assert options["strides"] == [defaults["strides"]]
    assert options["base_size"] == defaults["base_size"]
    assert list(options["scales"][0]) == defaults["scales"]
    assert list(options["ratios"]) == defaults["ratios"]
    (level,) = rpn.generate({"feature_maps": [(1, 1)]})
    reference = load_vector("gluoncv_rpn_anchor/default_base_anchors_1x1.json")
    np.testing.assert_array_equal(level.array, np.array(reference["py_faster_rcnn_reference"]))


def test_all_vectors_are_used() -> None:
    assert len(CASES) == 4


# --- the rules -----------------------------------------------------------------------------


def shapes_at(stride: int, scale: float) -> list[tuple[float, float]]:
    (level,) = rpn.generate({"feature_maps": [(1, 1)], "strides": [stride], "scales": [(scale,)]})
    return [(s.width, s.height) for s in level.shapes]


def test_fpn_rounding_happens_at_the_stride_window() -> None:
    # gluoncv/model_zoo/rcnn/rpn/anchor.py (the window is the stride): nominal size 32 at stride 4 -> 48x24, 32x32, 24x48; the 2:1 shapes
    # differ per level (stride 8: 88x48, 48x96; stride 32: 360x176, 184x368)
    assert shapes_at(4, 2) == [(48, 24), (32, 32), (24, 48)]
    eight = shapes_at(8, 4)
    assert (eight[0], eight[2]) == ((88, 48), (48, 96))
    thirty_two = shapes_at(32, 16)
    assert (thirty_two[0], thirty_two[2]) == ((360, 176), (184, 368))


def test_fpn_levels_take_one_scale_each() -> None:
    strides = [4, 8, 16, 32, 64]
    levels = rpn.generate(
        {
            "feature_maps": [(2, 2)] * 5,
            "strides": strides,
            "scales": [(2,), (4,), (8,), (16,), (32,)],
        }
    )
    assert [lv.per_cell for lv in levels] == [3] * 5
    assert [lv.stride for lv in levels] == [(s, s) for s in map(float, strides)]
    assert [lv.center0 for lv in levels] == [((s - 1) / 2, (s - 1) / 2) for s in strides]
    assert [lv.shapes[1].params["size"] for lv in levels] == [32, 64, 128, 256, 512]


def test_ratio_is_height_over_width_and_order_is_ratio_major() -> None:
    (level,) = rpn.generate({"feature_maps": [(1, 1)], "ratios": (0.5, 2.0), "scales": [(8, 16)]})
    labels = [(s.params["ratio"], s.params["scale"]) for s in level.shapes]
    assert labels == [(0.5, 8), (0.5, 16), (2.0, 8), (2.0, 16)]
    wide, tall = level.shapes[0], level.shapes[2]
    assert wide.width > wide.height and tall.height > tall.width


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    stride=st.integers(1, 64),
    ratios=st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=3),
    scales=st.lists(st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]), min_size=1, max_size=3),
)
def test_count_order_and_centres(
    rows: int, cols: int, stride: int, ratios: list[float], scales: list[float]
) -> None:
    params = {
        "feature_maps": [(rows, cols)],
        "strides": [stride],
        "base_size": stride,
        "ratios": tuple(ratios),
        "scales": [tuple(scales)],
    }
    try:
        (level,) = rpn.generate(params)
    except AnchorError as error:  # an extreme ratio can round a tiny window to nothing
        assert "empty box" in str(error) and stride < 8
        return
    k = len(ratios) * len(scales)
    assert level.array.shape == (rows * cols * k, 4)
    boxes = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    centre = (stride - 1) / 2
    np.testing.assert_array_equal(
        cx, np.broadcast_to(np.arange(cols)[None, :, None] * stride + centre, cx.shape)
    )
    np.testing.assert_array_equal(
        cy, np.broadcast_to(np.arange(rows)[:, None, None] * stride + centre, cy.shape)
    )
    assert level.center0 == (centre, centre)
    # with stride == base_size GluonCV's anchors are py-faster-rcnn's
    (classic,) = pfr.generate(
        {
            "feature_maps": [(rows, cols)],
            "base_size": stride,
            "ratios": tuple(ratios),
            "scales": tuple(scales),
            "feat_stride": [stride],
        }
    )
    np.testing.assert_array_equal(level.array, classic.array)


@settings(max_examples=40, deadline=None)
@given(
    stride=st.sampled_from([4, 8, 16, 32, 64]),
    ratio=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    scale=st.sampled_from([1.0, 2.0, 4.0, 8.0]),
)
def test_window_is_rounded_half_to_even_at_the_stride_then_scaled(
    stride: int, ratio: float, scale: float
) -> None:
    width = round((stride * stride / ratio) ** 0.5)  # Python's round is half to even
    height = round(width * ratio)
    base_size = 16
    (level,) = rpn.generate(
        {
            "feature_maps": [(1, 1)],
            "strides": [stride],
            "base_size": base_size,
            "ratios": (ratio,),
            "scales": [(scale * stride / base_size,)],
        }
    )
    assert (level.shapes[0].width, level.shapes[0].height) == (width * scale, height * scale)


def test_convention_is_registered_and_rules_are_complete() -> None:
    assert MODULES["gluoncv-rpn"] == "anchorctl.conventions.gluoncv_rpn"
    module = load("gluoncv-rpn")
    assert module.RULES.native_format == "xyxy" and module.RULES.ratio_meaning == "height / width"
    assert [o.name for o in module.OPTIONS] == ["strides", "base_size", "scales", "ratios"]
    assert all(o.kind in OPTION_KINDS for o in module.OPTIONS)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strides": [0]}, "--strides: 0 must lie in 1[.][.]"),
        ({"strides": [12.5]}, "--strides: 12.5 is not a whole number"),
        ({"base_size": 0}, "--base-size: 0 is not a positive number"),
        ({"scales": [(8, -1)]}, "--scales: -1 is not a positive"),
        ({"scales": [()]}, "--scales: give at least one"),
        ({"ratios": (0.0,)}, "--ratios: 0 is not a positive"),
        ({"ratios": ()}, "--ratios: give at least one"),
        ({"ratios": (1e6,)}, "--ratios: 1e\\+06 rounds the 16-pixel stride window"),
        ({"scales": [(0.01,)]}, "--scales: 0.01 makes the ratio-0.5 box"),
        ({"feature_maps": [(2, 2)] * 2, "strides": [8, 16, 32]}, "--strides: 3 levels"),
        ({"feature_maps": [(2, -1)]}, "feature map: 2x-1"),
    ],
)
def test_refuses_nonsense_naming_the_option(change: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"feature_maps": [(2, 2)]}
    params.update(change)
    with pytest.raises(AnchorError, match=message):
        rpn.generate(params)


def test_huge_map_is_counted_without_computing_and_refused_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANCHORCTL_MAX_BYTES", str(1 << 20))
    (level,) = rpn.generate({"feature_maps": [(100_000, 100_000)]})
    assert level.count == 100_000 * 100_000 * 9
    with pytest.raises(AnchorError, match="anchors as float32 need"):
        _ = level.array
