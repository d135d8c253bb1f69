"""torchvision AnchorGenerator: pinned by vectors recorded from torchvision 0.29.1 and by
properties that hold for any parameters (ratio = height / width, ratio-major cells, rounded
cell anchors, centres on the cell corner, strides = image // feature map)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import torchvision as tv
from anchorctl.conventions.base import OPTION_KINDS, Level
from anchorctl.errors import AnchorError

from support import VECTORS, load_vector

FOLDER = "torchvision_anchor_generator"
CASES = sorted(p.stem for p in (VECTORS / FOLDER).glob("*.json"))


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<f4").tobytes()).hexdigest()


def params_from(vector: dict[str, Any]) -> dict[str, Any]:
    height, width = vector["image_size"]  # torchvision's (h, w); anchorctl takes (w, h)
    return {
        "feature_maps": [tuple(f) for f in vector["feature_shapes"]],
        "image_size": (width, height),
        "sizes": [tuple(s) for s in vector["params"]["sizes"]],
        "ratios": [tuple(r) for r in vector["params"]["aspect_ratios"]],
    }


def all_anchors(levels: list[Level]) -> np.ndarray:
    return np.concatenate([level.array for level in levels])


def test_vectors_are_all_used() -> None:
    assert CASES == [
        "fasterrcnn_fpn_800x1216",
        "retinanet_base_anchors_1x1",
        "single_level_64x96_4x6",
    ]


@pytest.mark.parametrize("case", CASES)
def test_matches_torchvision_bit_for_bit(case: str) -> None:
    vector = load_vector(f"{FOLDER}/{case}.json")
    levels = tv.generate(params_from(vector))
    got = all_anchors(levels)
    assert got.dtype == np.float32
    assert got.shape == (vector["count"], 4)
    summary = vector.get("summary", vector)
    assert sha(got) == summary["sha256_float32"]
    assert float(got.astype(np.float64).sum()) == summary["sum"]
    if "anchors" in vector:
        np.testing.assert_array_equal(got, np.array(vector["anchors"], dtype=np.float32))
    if "summary" in vector:
        first, last = np.array(summary["first"]), np.array(summary["last"])
        np.testing.assert_array_equal(got[: len(first)], first)
        np.testing.assert_array_equal(got[len(got) - len(last) :], last)
    assert len(levels) == len(vector["levels"])
    for level, ref in zip(levels, vector["levels"], strict=True):
        assert level.feature_map == tuple(ref["feature_shape"])
        assert level.stride == tuple(float(s) for s in ref["stride"])
        assert level.per_cell == ref["anchors_per_location"]
        assert level.count == ref["count"] == len(level.array)
        np.testing.assert_array_equal(level.array[: level.per_cell], ref["base_anchors"])
        if "sha256_float32" in ref:
            assert sha(level.array) == ref["sha256_float32"]
            first, last = np.array(ref["first"]), np.array(ref["last"])
            np.testing.assert_array_equal(level.array[: len(first)], first)
            np.testing.assert_array_equal(level.array[len(level.array) - len(last) :], last)


def test_fpn_last_level_strides_are_floored_per_axis() -> None:
    # anchor_utils.py grid_anchors: stride = image_size // grid_size per axis; 800 // 13 = 61, 1216 // 19 = 64.
    levels = tv.generate({"feature_maps": [(13, 19)], "image_size": (1216, 800)})
    assert levels[0].stride == (61.0, 64.0)
    cell = levels[0].per_cell
    row1 = levels[0].array[19 * cell]  # cell (1, 0), slot 0
    col1 = levels[0].array[cell]  # cell (0, 1), slot 0
    np.testing.assert_array_equal(row1 - levels[0].array[0], [0, 61, 0, 61])
    np.testing.assert_array_equal(col1 - levels[0].array[0], [64, 0, 64, 0])


def test_size_32_cell_anchors_from_conventions_md() -> None:
    # anchor_utils.py generate_anchors, by hand: size 32 -> [-23,-11,23,11], [-16,-16,16,16], [-11,-23,11,23].
    levels = tv.generate({"feature_maps": [(1, 1)], "strides": [(4, 4)], "sizes": [(32,)]})
    np.testing.assert_array_equal(
        levels[0].array, [[-23, -11, 23, 11], [-16, -16, 16, 16], [-11, -23, 11, 23]]
    )
    assert [(s.width, s.height) for s in levels[0].shapes] == [(46, 22), (32, 32), (22, 46)]


def test_rounding_is_half_to_even() -> None:
    # Half extents 50.5 -> 50 and 101.5 -> 102 (retinanet vector's note): not half-up.
    base = tv.base_anchors((101.0, 203.0), (1.0,))
    np.testing.assert_array_equal(base, [[-50, -50, 50, 50], [-102, -102, 102, 102]])


def test_retinanet_total_at_512() -> None:
    # retinanet.py: RetinaNet P3-P7 (strides 8-128), 9 per cell: 49104 at 512x512.
    sizes = [tuple(float(int(x * 2 ** (i / 3))) for i in range(3)) for x in (32, 64, 128, 256, 512)]
    maps = [(512 // s, 512 // s) for s in (8, 16, 32, 64, 128)]
    levels = tv.generate({"feature_maps": maps, "image_size": (512, 512), "sizes": sizes})
    assert sum(level.count for level in levels) == 49104
    assert [level.stride for level in levels] == [
        (float(s), float(s)) for s in (8, 16, 32, 64, 128)
    ]
    assert sizes[1] == (64.0, 80.0, 101.0)  # int(x * 2**(i/3)) in retinanet.py


def test_defaults_are_torchvisions() -> None:
    vector = load_vector(f"{FOLDER}/single_level_64x96_4x6.json")
    levels = tv.generate({"feature_maps": [(4, 6)], "image_size": (96, 64)})
    np.testing.assert_array_equal(levels[0].array, vector["anchors"])
    defaults = {o.name: o.default for o in tv.OPTIONS}
    assert defaults == {
        "sizes": [(128.0, 256.0, 512.0)],
        "ratios": [(0.5, 1.0, 2.0)],
        "strides": None,
    }


def test_module_interface() -> None:
    assert conventions.load("torchvision") is tv
    assert tv.RULES.name == "torchvision"
    assert tv.RULES.native_format == "xyxy"
    assert tv.RULES.ratio_meaning == "height / width"
    for option in tv.OPTIONS:
        assert option.kind in OPTION_KINDS
        assert option.per_level
    assert "aspect_ratios" in next(o.help for o in tv.OPTIONS if o.name == "ratios")
    assert "height / width" in next(o.help for o in tv.OPTIONS if o.name == "ratios")


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    levels = draw(st.integers(1, 3))
    finite = st.floats(4, 600, allow_nan=False)  # smaller ones round to 0 at ratio 10
    return {
        "feature_maps": [(draw(st.integers(1, 7)), draw(st.integers(1, 7))) for _ in range(levels)],
        "strides": [(draw(st.integers(1, 64)), draw(st.integers(1, 64))) for _ in range(levels)],
        "sizes": [tuple(draw(st.lists(finite, min_size=1, max_size=3))) for _ in range(levels)],
        "ratios": [
            tuple(draw(st.lists(st.floats(0.1, 10), min_size=1, max_size=3))) for _ in range(levels)
        ],
    }


@settings(max_examples=60, deadline=None)
@given(configs())
def test_grid_order_and_corner_centres(params: dict[str, Any]) -> None:
    levels = tv.generate(params)
    for index, level in enumerate(levels):
        rows, cols = params["feature_maps"][index]
        sizes, ratios = params["sizes"][index], params["ratios"][index]
        k = len(sizes) * len(ratios)
        assert level.per_cell == k and level.array.shape == (rows * cols * k, 4)
        assert level.center0 == (0.0, 0.0)
        sy, sx = params["strides"][index]
        assert level.stride == (float(sy), float(sx))
        # ratio-major: slot = ratio_index * len(sizes) + size_index
        expect = [{"size": float(s), "ratio": float(r)} for r in ratios for s in sizes]
        assert [dict(shape.params) for shape in level.shapes] == expect
        base = level.array[:k]
        grid = level.array.reshape(rows, cols, k, 4)
        shift = np.stack(
            np.meshgrid(np.arange(cols) * sx, np.arange(rows) * sy, indexing="xy"), axis=-1
        )  # (rows, cols, 2) as (x, y)
        expected = base[None, None] + np.tile(shift, 2)[:, :, None, :]
        np.testing.assert_array_equal(grid, expected.astype(np.float32))
        # Whole pixels, boxes centred on the corner of their cell.
        assert np.all(level.array == np.round(level.array))
        np.testing.assert_array_equal(base[:, 0], -base[:, 2])
        np.testing.assert_array_equal(base[:, 1], -base[:, 3])


@settings(max_examples=60, deadline=None)
@given(st.floats(4, 1000), st.floats(0.1, 10))
def test_ratio_is_height_over_width_and_area_is_size_squared(size: float, ratio: float) -> None:
    (box,) = tv.base_anchors((size,), (ratio,))
    width, height = box[2] - box[0], box[3] - box[1]
    # Rounding moves each edge by at most half a pixel.
    assert abs(width - size / math.sqrt(ratio)) <= 1.0 + 1e-3
    assert abs(height - size * math.sqrt(ratio)) <= 1.0 + 1e-3


def test_ratio_2_is_tall_and_half_is_wide() -> None:
    levels = tv.generate({"feature_maps": [(1, 1)], "strides": [(8, 8)], "sizes": [(64,)]})
    wide, square, tall = levels[0].shapes
    assert wide.params["ratio"] == 0.5 and wide.width > wide.height
    assert square.width == square.height == 64
    assert tall.params["ratio"] == 2.0 and tall.height > tall.width


def test_strides_override_the_image() -> None:
    levels = tv.generate(
        {"feature_maps": [(2, 3)], "image_size": (96, 64), "strides": [(10, 20)], "sizes": [(8,)]}
    )
    assert levels[0].stride == (10.0, 20.0)
    # cell (1, 2), size 8 ratio 2: w = 8 / sqrt 2 = 5.66, h = 11.31 -> half extents round to 3, 6
    assert levels[0].array[-1].tolist() == [40 - 3, 10 - 6, 40 + 3, 10 + 6]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"feature_maps": [(4, 4)]}, "--input-size is required"),
        ({"feature_maps": [(40, 4)], "image_size": (64, 32)}, "--input-size: 64x32 is smaller"),
        ({"feature_maps": [(4, 4)], "strides": [(8.5, 8)]}, "--strides: 8.5"),
        ({"feature_maps": [(4, 4)], "strides": [(0, 8)]}, "--strides: 0"),
        ({"feature_maps": [(4, 4)], "strides": [(8, 8)], "sizes": [(0,)]}, "--sizes: 0"),
        ({"feature_maps": [(4, 4)], "strides": [(8, 8)], "sizes": [(-32,)]}, "--sizes: -32"),
        ({"feature_maps": [(4, 4)], "strides": [(8, 8)], "sizes": [()]}, "--sizes: give"),
        ({"feature_maps": [(4, 4)], "strides": [(8, 8)], "ratios": [(math.nan,)]}, "--ratios"),
        ({"feature_maps": [(4, 4)], "strides": [(8, 8)], "ratios": [(0.0,)]}, "--ratios: 0"),
        (
            {"feature_maps": [(4, 4), (2, 2)], "strides": [(8, 8)], "sizes": [(1,), (2,), (3,)]},
            "--sizes: 3 levels given",
        ),
        ({"feature_maps": [(0, 4)], "strides": [(8, 8)]}, "feature map: 0x4"),
        ({"feature_maps": [(4, 4)], "image_size": (64.5, 64)}, "--input-size"),
    ],
)
def test_refuses_nonsense_with_a_reason(params: dict[str, Any], message: str) -> None:
    with pytest.raises(AnchorError, match=message) as info:
        tv.generate(params)
    assert "\n" not in str(info.value)


def test_large_level_is_fast_and_exact() -> None:
    levels = tv.generate({"feature_maps": [(400, 400)], "strides": [(4, 4)], "sizes": [(32,)]})
    anchors = levels[0].array
    assert anchors.shape == (480000, 4)
    np.testing.assert_array_equal(
        anchors[-1], [399 * 4 - 11, 399 * 4 - 23, 399 * 4 + 11, 1596 + 23]
    )


def test_torch_based_conventions_say_what_bit_exact_depends_on() -> None:
    # torch's float32 sqrt is not correctly rounded on some CPUs: every convention whose
    # framework takes it says so where it claims bit-exactness.
    from anchorctl.conventions import d2l, mmdet

    for module in (tv, mmdet, d2l):
        assert "0.65% of random ratios" in module.RULES.exactness, module.NAME
        assert "sqrt" in (module.__doc__ or "") and "0.65%" in (module.__doc__ or ""), module.NAME
