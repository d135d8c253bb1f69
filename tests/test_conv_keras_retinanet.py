"""fizyr/keras-retinanet anchors: hand-made vectors (worked out from
keras_retinanet/utils/anchors.py) and properties (count,
ratio-major order, centres at (i + 0.5) * stride, ratio = h/w, float32 scales, levels)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import keras_retinanet as kr
from anchorctl.errors import AnchorError

from support import load_vector

VECTOR = load_vector("handmade/keras-retinanet.json")
CASES = {case["case"]: case for case in VECTOR["cases"]}
P3_P7 = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]


def test_rules_and_options() -> None:
    assert kr.RULES.name == "keras-retinanet"
    assert kr.RULES.ratio_meaning == "height / width"
    options = {o.name: o for o in kr.OPTIONS}
    assert options["ratios"].default == (0.5, 1.0, 2.0)
    assert options["scales"].default == (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    assert options["sizes"].per_level and options["strides"].per_level


@pytest.mark.parametrize("name", [c for c in CASES if "anchor" in CASES[c]])
def test_handmade_anchor(name: str) -> None:
    case = CASES[name]
    got = kr.generate(case["params"])[case["level"]].array
    np.testing.assert_allclose(got[case["index"]], case["anchor"], rtol=0, atol=case["atol"])


def test_handmade_total() -> None:
    case = CASES["retinanet_512_total"]
    levels = kr.generate(case["params"])
    assert [lv.per_cell for lv in levels] == case["per_cell"]
    assert sum(len(lv.array) for lv in levels) == case["total"]


def test_all_handmade_cases_are_used() -> None:
    assert len(CASES) == 3
    assert all(
        "fizyr/keras-retinanet" in c["source"] or "hand arithmetic" in c["source"]
        for c in CASES.values()
    )


def test_defaults_order_and_dtype() -> None:
    levels = kr.generate({"feature_maps": P3_P7})
    assert [lv.stride for lv in levels] == [(float(s), float(s)) for s in (8, 16, 32, 64, 128)]
    assert levels[0].center0 == (4.0, 4.0)
    p3 = levels[0]
    assert p3.array.dtype == np.float64  # anchors_for_shape returns numpy float64
    assert [(s.params["ratio"], s.params["scale"]) for s in p3.shapes] == [
        (r, s) for r in (0.5, 1.0, 2.0) for s in (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    ]
    assert [s.params["size"] for s in levels[4].shapes] == [512.0] * 9
    tall = p3.shapes[6]  # ratio 2, scale 1
    assert tall.height > tall.width and math.isclose(tall.height / tall.width, 2, rel_tol=1e-12)


def test_scales_are_float32_as_in_anchor_parameters() -> None:
    (level,) = kr.generate(
        {
            "feature_maps": [(1, 1)],
            "pyramid_levels": [3],
            "ratios": (1.0,),
            "scales": (2 ** (1 / 3),),
        }
    )
    side32 = float(np.float32(32) * np.float32(2 ** (1 / 3)))
    assert level.shapes[0].width == side32  # float64 would give 32 * 2**(1/3)
    assert side32 != 32 * 2 ** (1 / 3)


def test_levels_from_image_size_and_explicit_levels() -> None:
    (one,) = kr.generate({"feature_maps": [(75, 100)], "image_size": (800, 600)})
    assert one.stride == (8.0, 8.0) and one.shapes[0].params["size"] == 32.0
    (p5,) = kr.generate({"feature_maps": [(10, 10)], "pyramid_levels": [5]})
    assert p5.stride == (32.0, 32.0) and p5.shapes[3].width == 128.0
    (given_,) = kr.generate({"feature_maps": [(3, 3)], "sizes": [(48,)], "strides": [(12, 12)]})
    assert given_.center0 == (6.0, 6.0) and given_.shapes[3].width == 48.0


@pytest.mark.parametrize(
    "sizes",
    [[(32,), (64,), (128,), (256,), (512,)], [(32, 64, 128, 256, 512)], [32, 64, 128, 256, 512]],
)
def test_sizes_one_per_level_in_any_spelling(sizes: list[Any]) -> None:
    levels = kr.generate({"feature_maps": P3_P7, "sizes": sizes})
    assert [lv.shapes[3].width for lv in levels] == [32.0, 64.0, 128.0, 256.0, 512.0]
    same = kr.generate({"feature_maps": P3_P7, "sizes": [(40,)]})
    assert [lv.shapes[3].width for lv in same] == [40.0] * 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"feature_maps": [(8, 8), (4, 4)]}, "--pyramid-levels"),
        ({"feature_maps": [(7, 7)], "image_size": (64, 64)}, "--pyramid-levels"),
        ({"feature_maps": [(8, 8)], "pyramid_levels": [-1]}, "--pyramid-levels"),
        ({"feature_maps": [(8, 8)], "pyramid_levels": [2.5]}, "--pyramid-levels"),
        ({"ratios": (0.0,)}, "--ratios"),
        ({"ratios": ()}, "--ratios"),
        ({"scales": (float("inf"),)}, "--scales"),
        ({"sizes": [(-32,)]}, "--sizes"),
        ({"sizes": [(32, 64)]}, "one size per level"),
        ({"sizes": [(32,), (64,)]}, "--sizes"),
        ({"strides": [(8, 16)]}, "--strides"),
        ({"strides": [(8, 8), (16, 16)]}, "--strides"),
        ({"feature_maps": [(0, 4)]}, "feature map"),
    ],
)
def test_refuses_nonsense(extra: dict[str, Any], message: str) -> None:
    params = {"feature_maps": P3_P7, **extra}
    with pytest.raises(AnchorError, match=message):
        kr.generate(params)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    level=st.integers(2, 7),
    ratios=st.lists(st.floats(0.2, 5), min_size=1, max_size=3),
    scales=st.lists(st.floats(0.5, 3), min_size=1, max_size=3),
)
def test_properties(
    rows: int, cols: int, level: int, ratios: list[float], scales: list[float]
) -> None:
    params = {
        "feature_maps": [(rows, cols)],
        "pyramid_levels": [level],
        "ratios": tuple(ratios),
        "scales": tuple(scales),
    }
    (lv,) = kr.generate(params)
    k = len(ratios) * len(scales)
    assert lv.count == rows * cols * k == len(lv.array)
    stride, size = 2.0**level, 2.0 ** (level + 2)
    boxes = lv.array.reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    want_x = (np.arange(cols) + 0.5) * stride
    want_y = (np.arange(rows) + 0.5) * stride
    np.testing.assert_allclose(cx, np.broadcast_to(want_x[None, :, None], cx.shape), atol=1e-9)
    np.testing.assert_allclose(cy, np.broadcast_to(want_y[:, None, None], cy.shape), atol=1e-9)
    w = boxes[0, 0, :, 2] - boxes[0, 0, :, 0]
    h = boxes[0, 0, :, 3] - boxes[0, 0, :, 1]
    want_r = np.repeat(ratios, len(scales))
    want_side = size * np.tile(scales, len(ratios))
    np.testing.assert_allclose(h / w, np.float32(want_r), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(w * h), want_side, rtol=1e-6)
