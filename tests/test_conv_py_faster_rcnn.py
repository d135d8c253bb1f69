"""py-faster-rcnn anchors, pinned by the nine anchors of rbgirshick/py-faster-rcnn lib/rpn/generate_anchors.py (a
handmade vector, no library run) and by properties that hold for any parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import MODULES, load
from anchorctl.conventions import py_faster_rcnn as pfr
from anchorctl.conventions.base import OPTION_KINDS
from anchorctl.errors import AnchorError

from support import load_vector

TABLE = load_vector("handmade/py-faster-rcnn.json")


def defaults(rows: int = 1, cols: int = 1) -> Any:
    (level,) = pfr.generate({"feature_maps": [(rows, cols)]})
    return level


def test_default_base_anchors_are_the_table_of_section_5() -> None:
    level = defaults()
    assert level.array.dtype == np.float32
    np.testing.assert_array_equal(level.array, np.array(TABLE["anchors"], dtype=np.float64))
    assert [[s.width, s.height] for s in level.shapes] == TABLE["sizes_wxh"]
    assert level.per_cell == TABLE["per_cell"]


def test_explicit_defaults_equal_the_implicit_ones() -> None:
    p = TABLE["params"]
    (level,) = pfr.generate(
        {
            "feature_maps": [(1, 1)],
            "base_size": p["base_size"],
            "ratios": p["ratios"],
            "scales": p["scales"],
            "feat_stride": [p["feat_stride"]],
        }
    )
    np.testing.assert_array_equal(level.array, defaults().array)
    options = {o.name: o.default for o in pfr.OPTIONS}
    assert options["base_size"] == p["base_size"] and options["feat_stride"] == [p["feat_stride"]]
    assert list(options["ratios"]) == p["ratios"] and list(options["scales"]) == p["scales"]


def test_python_values_not_the_matlab_comment() -> None:
    first = defaults().array[0]
    assert list(first) != TABLE["matlab_comment_first_anchor"]
    assert list(first + 1) == TABLE["matlab_comment_first_anchor"]  # MATLAB is 1-based


def test_ratio_half_is_the_wide_23x12_window_scaled() -> None:
    # section 5: r = 0.5 gives the 23x12 window (ratio = height / width)
    window = TABLE["ratio_0_5_window"]
    wide = defaults().shapes[0]
    assert (wide.width, wide.height) == (window["width"] * 8, window["height"] * 8)
    assert wide.params == {"ratio": 0.5, "scale": 8.0}


def test_grid_shifts_by_feat_stride_with_centres_at_16_col_plus_7_5() -> None:
    rows, cols = 3, 4
    level = defaults(rows, cols)
    base = np.array(TABLE["anchors"], dtype=np.float64)
    boxes = level.array.astype(np.float64).reshape(rows, cols, 9, 4)
    for row in range(rows):
        for col in range(cols):
            shift = np.array([col, row, col, row], dtype=np.float64) * 16
            np.testing.assert_array_equal(boxes[row, col], base + shift)
            centres = (boxes[row, col, :, :2] + boxes[row, col, :, 2:]) / 2
            np.testing.assert_array_equal(
                centres, np.broadcast_to([16 * col + 7.5, 16 * row + 7.5], (9, 2))
            )
    assert level.center0 == (7.5, 7.5) and level.stride == (16.0, 16.0)


def test_feat_stride_moves_cells_but_not_the_reference_window() -> None:
    (level,) = pfr.generate({"feature_maps": [(2, 2)], "feat_stride": [8]})
    np.testing.assert_array_equal(level.array[:9], np.array(TABLE["anchors"]))
    np.testing.assert_array_equal(
        level.array[9:18] - level.array[:9], np.full((9, 4), [8, 0, 8, 0])
    )
    assert level.center0 == (7.5, 7.5)


def test_vgg16_conv5_total_for_a_1000x600_input() -> None:
    # section 5: a ~1000x600 input (about a 63x38 conv5 map) gives ~21k anchors
    level = defaults(38, 63)
    assert level.count == len(level.array) == 38 * 63 * 9
    assert 20_000 < level.count < 22_000


def test_float32_output_is_exact_for_whole_number_parameters() -> None:
    # every value is a whole number or a half, so float32 holds it exactly
    level = defaults(40, 60)
    doubled = level.array.astype(np.float64) * 2
    np.testing.assert_array_equal(doubled, np.round(doubled))
    assert np.abs(level.array).max() < 2**23


@settings(max_examples=50, deadline=None)
@given(
    base_size=st.integers(2, 64),
    ratio=st.sampled_from([0.2, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0]),
    scale=st.integers(1, 32),
)
def test_window_rounds_half_to_even_then_scales_exactly(
    base_size: int, ratio: float, scale: int
) -> None:
    width = round((base_size * base_size / ratio) ** 0.5)  # Python's round is half to even
    height = round(width * ratio)
    (level,) = pfr.generate(
        {"feature_maps": [(1, 1)], "base_size": base_size, "ratios": (ratio,), "scales": (scale,)}
    )
    shape = level.shapes[0]
    assert (shape.width, shape.height) == (width * scale, height * scale)
    box = level.array[0].astype(np.float64)
    centre = (base_size - 1) / 2
    assert ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) == (centre, centre)
    assert (box[2] - box[0] + 1, box[3] - box[1] + 1) == (width * scale, height * scale)


def test_half_to_even_is_not_half_up() -> None:
    # base 15, ratio 0.5: w = round(sqrt(225 / 0.5)) = round(21.21) = 21, h = round(10.5) = 10
    # (NumPy rounds half to even; rounding half up would give 11)
    (level,) = pfr.generate(
        {"feature_maps": [(1, 1)], "base_size": 15, "ratios": (0.5,), "scales": (1,)}
    )
    assert (level.shapes[0].width, level.shapes[0].height) == (21.0, 10.0)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    stride=st.integers(1, 40),
    ratios=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=1, max_size=3),
    scales=st.lists(st.sampled_from([2.0, 8.0, 16.0, 32.0]), min_size=1, max_size=3),
)
def test_count_and_ratio_major_order(
    rows: int, cols: int, stride: int, ratios: list[float], scales: list[float]
) -> None:
    (level,) = pfr.generate(
        {
            "feature_maps": [(rows, cols)],
            "ratios": tuple(ratios),
            "scales": tuple(scales),
            "feat_stride": [stride],
        }
    )
    k = len(ratios) * len(scales)
    assert level.array.shape == (rows * cols * k, 4) and level.count == rows * cols * k
    assert [(s.params["ratio"], s.params["scale"]) for s in level.shapes] == [
        (r, s) for r in ratios for s in scales
    ]
    cells = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    moved = cells - cells[:1, :1]  # each cell is cell (0, 0) shifted by (col, row) * stride
    dx = np.broadcast_to(np.arange(cols)[None, :, None] * stride, (rows, cols, k))
    dy = np.broadcast_to(np.arange(rows)[:, None, None] * stride, (rows, cols, k))
    for column, want in ((0, dx), (1, dy), (2, dx), (3, dy)):
        np.testing.assert_array_equal(moved[..., column], want)


def test_ratio_two_is_tall() -> None:
    (level,) = pfr.generate({"feature_maps": [(1, 1)], "ratios": (2.0,), "scales": (8,)})
    shape = level.shapes[0]
    assert shape.height > shape.width
    assert (shape.width, shape.height) == tuple(TABLE["sizes_wxh"][6])


def test_convention_is_registered_and_rules_are_complete() -> None:
    assert MODULES["py-faster-rcnn"] == "anchorctl.conventions.py_faster_rcnn"
    module = load("py-faster-rcnn")
    assert module.RULES.ratio_meaning == "height / width" and module.RULES.native_format == "xyxy"
    assert [o.name for o in module.OPTIONS] == ["base_size", "ratios", "scales", "feat_stride"]
    assert all(o.kind in OPTION_KINDS for o in module.OPTIONS)
    assert "gluoncv-rpn" in (module.__doc__ or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_size": 0}, "--base-size: 0 is not a positive number"),
        ({"base_size": float("inf")}, "--base-size: inf is not a finite number"),
        ({"ratios": (-1.0,)}, "--ratios: -1 is not a positive"),
        ({"scales": ()}, "--scales: give at least one"),
        ({"scales": (0.0,)}, "--scales: 0 is not a positive"),
        (
            {"ratios": (1000.0,), "base_size": 2},
            "--ratios: 1000 rounds the 2-pixel reference window",
        ),
        ({"feat_stride": [0]}, "--feat-stride: 0 must lie in 1[.][.]"),
        ({"feat_stride": [16, 32]}, "--feat-stride: 2 levels"),
        ({"feature_maps": [(1.5, 2)]}, "feature map: 1.5x2"),
    ],
)
def test_refuses_nonsense_naming_the_option(change: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"feature_maps": [(2, 2)]}
    params.update(change)
    with pytest.raises(AnchorError, match=message):
        pfr.generate(params)


def test_huge_map_is_counted_without_computing_and_refused_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANCHORCTL_MAX_BYTES", str(1 << 20))
    (level,) = pfr.generate({"feature_maps": [(100_000, 100_000)]})
    assert level.count == 100_000 * 100_000 * 9
    with pytest.raises(AnchorError, match="anchors as float32 need"):
        _ = level.array
