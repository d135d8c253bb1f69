"""GluonCV SSD anchors, pinned by arrays recorded from GluonCV 0.10.5 and by properties that
hold for any parameters."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.conventions import MODULES, load
from anchorctl.conventions import gluoncv_ssd as ssd
from anchorctl.conventions.base import OPTION_KINDS, to_format
from anchorctl.errors import AnchorError

from support import VECTORS, load_vector

FOLDER = VECTORS / "gluoncv_ssd_anchor"
SMALL = sorted(p.name for p in FOLDER.glob("*.json") if not p.name.startswith("ssd_"))
PRESETS = sorted(p.name for p in FOLDER.glob("ssd_*.json"))


def sha(boxes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(boxes, dtype="<f4").tobytes()).hexdigest()


def small_params(vector: dict[str, Any]) -> dict[str, Any]:
    p = vector["params"]
    height, width = p["im_size"]  # GluonCV's im_size is (H, W)
    return {
        "feature_maps": [tuple(vector["feature_shape"])],
        "image_size": (width, height),
        "sizes": [tuple(p["sizes"])],
        "ratios": [tuple(p["ratios"])],
        "steps": [p["step"]],
        "offsets": tuple(p["offsets"]),
        "clip": p["clip"],
        "lite": vector["source"]["call"].startswith("LiteAnchorGenerator"),
    }


def preset_params(vector: dict[str, Any]) -> dict[str, Any]:
    layers = vector["layers"]
    return {
        "feature_maps": [tuple(layer["feature_shape"]) for layer in layers],
        "sizes": [tuple(layer["sizes_pair"]) for layer in layers],
        "ratios": [tuple(layer["ratios"]) for layer in layers],
        "steps": [layer["step"] for layer in layers],
    }


def gluoncv_corners(centre: np.ndarray) -> np.ndarray:
    """GluonCV's BBoxCenterToCorner in float32: x -+ w * 0.5, y -+ h * 0.5."""
    c = centre.astype(np.float32)
    hw, hh = c[:, 2] * np.float32(0.5), c[:, 3] * np.float32(0.5)
    return np.stack([c[:, 0] - hw, c[:, 1] - hh, c[:, 0] + hw, c[:, 1] + hh], axis=1)


def within_one_rounding(got: np.ndarray, want: np.ndarray, corners: np.ndarray) -> bool:
    """Each value within one float32 spacing of the largest corner of its box."""
    tol = np.spacing(np.abs(corners).max(axis=1).astype(np.float32)).astype(np.float64)
    return bool((np.abs(got.astype(np.float64) - want) <= tol[:, None]).all())


# --- recorded GluonCV arrays --------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_native_centre_form_matches_gluoncv_bit_for_bit(name: str) -> None:
    vector = load_vector(f"gluoncv_ssd_anchor/{name}")
    assert vector["box_format"].startswith("center, pixels")
    (got,) = ssd.native(small_params(vector))
    assert got.dtype == np.float32 and got.shape == (vector["num_anchors"], 4)
    np.testing.assert_array_equal(got, np.array(vector["anchors"], dtype=np.float32))
    assert sha(got) == vector["checksum"]["sha256_f32le"]


@pytest.mark.parametrize("name", SMALL)
def test_corners_are_gluoncv_center_to_corner_of_the_recorded_array(name: str) -> None:
    vector = load_vector(f"gluoncv_ssd_anchor/{name}")
    (level,) = ssd.generate(small_params(vector))
    recorded = np.array(vector["anchors"], dtype=np.float32)
    assert level.array.dtype == np.float32
    np.testing.assert_array_equal(level.array, gluoncv_corners(recorded))
    back = to_format(level.array, ssd.RULES.native_format)
    assert within_one_rounding(back, recorded.astype(np.float64), level.array)
    assert level.count == vector["num_anchors"] and level.per_cell == vector["per_cell"]


@pytest.mark.parametrize("name", PRESETS)
def test_ssd300_presets_match_gluoncv_bit_for_bit(name: str) -> None:
    vector = load_vector(f"gluoncv_ssd_anchor/{name}")
    params = preset_params(vector)
    layers = ssd.native(params)
    for got, layer in zip(layers, vector["layers"], strict=True):
        assert len(got) == layer["count"]
        assert sha(got) == layer["checksum"]["sha256_f32le"]
        k = layer["per_cell"]
        np.testing.assert_array_equal(got[: 2 * k], np.array(layer["first_cells"], np.float32))
        np.testing.assert_array_equal(got[-k:], np.array(layer["last_cell"], np.float32))
    every = np.concatenate(layers)
    assert len(every) == vector["total_anchors"] == 8732
    assert sha(every) == vector["checksum"]["sha256_f32le"]
    head = np.array(vector["anchors_head"], dtype=np.float32)
    np.testing.assert_array_equal(every[: len(head)], head)
    start = vector["anchors_tail_start_index"]
    np.testing.assert_array_equal(every[start:], np.array(vector["anchors_tail"], np.float32))
    corners = np.concatenate([level.array for level in ssd.generate(params)])
    np.testing.assert_array_equal(corners, gluoncv_corners(every))
    assert within_one_rounding(to_format(corners, "cxcywh"), every.astype(np.float64), corners)


@pytest.mark.parametrize("name", PRESETS)
def test_ssd_list_of_sizes_is_zipped_into_pairs_like_gluoncv_ssd(name: str) -> None:
    vector = load_vector(f"gluoncv_ssd_anchor/{name}")
    params = preset_params(vector)
    flat = dict(params, sizes=[tuple(vector["preset_sizes"])], steps=vector["preset_steps"])
    assert sha(np.concatenate(ssd.native(flat))) == vector["checksum"]["sha256_f32le"]


def test_all_vectors_are_used() -> None:
    assert len(SMALL) == 5 and len(PRESETS) == 2


# --- the rules -----------------------------------------------------------------------------


def one(**kwargs: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "feature_maps": [(2, 3)],
        "sizes": [(30.0, 60.0)],
        "ratios": [(1.0, 2.0, 0.5)],
        "steps": [8.0],
    }
    params.update(kwargs)
    return params


def test_ratios_first_entry_is_ignored() -> None:
    # gluoncv/model_zoo/ssd/anchor.py: ratios[0] is not used (assumed 1)
    a = ssd.generate(one(ratios=[(1.0, 2.0, 0.5)]))[0]
    b = ssd.generate(one(ratios=[(7.0, 2.0, 0.5)]))[0]
    np.testing.assert_array_equal(a.array, b.array)
    assert (a.shapes[0].width, a.shapes[0].height) == (30.0, 30.0)


def test_ratio_is_width_over_height_and_second_box_is_the_geometric_mean() -> None:
    level = ssd.generate(one())[0]
    sq, geo, two, half = level.shapes
    assert sq.width == sq.height == 30.0
    assert geo.width == geo.height == pytest.approx(math.sqrt(30 * 60), rel=1e-7)
    assert two.width > two.height and two.width / two.height == pytest.approx(2.0, rel=1e-6)
    assert half.width < half.height
    assert two.width * two.height == pytest.approx(30 * 30, rel=1e-6)  # area kept


def test_lite_layer0_has_no_geometric_mean_box_and_later_layers_put_it_last() -> None:
    params = one(
        feature_maps=[(2, 2), (1, 1)],
        sizes=[(30.0, 60.0), (60.0, 105.0)],
        ratios=[(1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 1 / 3)],
        steps=[16.0, 30.0],
        lite=True,
    )
    layer0, layer1 = ssd.generate(params)
    assert layer0.per_cell == 3 and layer1.per_cell == 6  # len(ratios), len(ratios) + 1
    assert (layer0.shapes[0].width, layer0.shapes[0].height) == (15.0, 15.0)  # s_k / 2
    # GluonCV 0.10.5 LiteAnchorGenerator halves the first square on every layer
    assert (layer1.shapes[0].width, layer1.shapes[0].height) == (30.0, 30.0)
    last = layer1.shapes[-1]
    assert last.width == last.height == pytest.approx(math.sqrt(60 * 105), rel=1e-7)
    assert layer1.shapes[1].width / layer1.shapes[1].height == pytest.approx(2.0, rel=1e-6)


def test_lite_differs_from_ssd_only_in_slots() -> None:
    plain = ssd.generate(one())[0]
    lite = ssd.generate(one(lite=True))[0]
    assert plain.per_cell == 4 and lite.per_cell == 3
    assert [s.width for s in lite.shapes[1:]] == [s.width for s in plain.shapes[2:]]
    assert lite.center0 == plain.center0 and lite.stride == plain.stride


def test_clip_is_per_element_in_centre_form_not_geometric() -> None:
    # gluoncv/model_zoo/ssd/anchor.py: clip clamps cx, w to [0, W] and cy, h to [0, H], element-wise
    params = one(feature_maps=[(1, 1)], sizes=[(60.0, 90.0)], steps=[40.0])
    (centre,) = ssd.native(dict(params, clip=True, image_size=(50, 100)))
    assert centre[:, 2].max() <= 50 and centre[:, 3].max() <= 100
    (corners,) = [lv.array for lv in ssd.generate(dict(params, clip=True, image_size=(50, 100)))]
    assert corners[:, 0].min() < 0  # a geometric clip would have cut this at 0
    unclipped = ssd.generate(params)[0]
    clipped = ssd.generate(dict(params, clip=True, image_size=(50, 100)))[0]
    assert [s.width for s in clipped.shapes] == [s.width for s in unclipped.shapes]


def test_clip_uses_width_for_x_and_height_for_y() -> None:
    params = one(feature_maps=[(1, 1)], sizes=[(200.0, 200.0)], ratios=[(1.0,)], steps=[10.0])
    (centre,) = ssd.native(dict(params, clip=True, image_size=(40, 120)))
    np.testing.assert_array_equal(centre[0], np.float32([5, 5, 40, 120]))


def test_ssd512_preset_total() -> None:
    # gluoncv/model_zoo/ssd/presets.py: SSD512 maps 64..1 with 4,6,6,6,6,4,4 per cell -> 24564
    r4, r6 = (1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 1 / 3)
    params = {
        "feature_maps": [(n, n) for n in (64, 32, 16, 8, 4, 2, 1)],
        "sizes": [(51.2, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8, 537.6)],
        "ratios": [r4, r6, r6, r6, r6, r4, r4],
        "steps": [8, 16, 32, 64, 128, 256, 512],
    }
    levels = ssd.generate(params)
    assert [lv.per_cell for lv in levels] == [4, 6, 6, 6, 6, 4, 4]
    assert sum(lv.count for lv in levels) == 24564


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    s_k=st.floats(1, 400),
    s_next=st.floats(1, 400),
    ratios=st.lists(st.floats(0.1, 10), min_size=1, max_size=5),
    step=st.floats(0.5, 100),
    offsets=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    lite=st.booleans(),
)
def test_count_order_and_centres(
    rows: int,
    cols: int,
    s_k: float,
    s_next: float,
    ratios: list[float],
    step: float,
    offsets: tuple[float, float],
    lite: bool,
) -> None:
    params = one(
        feature_maps=[(rows, cols)],
        sizes=[(s_k, s_next)],
        ratios=[tuple(ratios)],
        steps=[step],
        offsets=offsets,
        lite=lite,
    )
    (level,) = ssd.generate(params)
    (centre,) = ssd.native(params)
    k = len(ratios) if lite else len(ratios) + 1
    assert level.per_cell == k and level.array.shape == (rows * cols * k, 4)
    cells = centre.reshape(rows, cols, k, 4)
    want_cx = np.float32((np.arange(cols) + offsets[1]) * step)
    want_cy = np.float32((np.arange(rows) + offsets[0]) * step)
    np.testing.assert_array_equal(
        cells[..., 0], np.broadcast_to(want_cx[None, :, None], (rows, cols, k))
    )
    np.testing.assert_array_equal(
        cells[..., 1], np.broadcast_to(want_cy[:, None, None], (rows, cols, k))
    )
    # every cell holds the same shapes, in slot order
    np.testing.assert_array_equal(
        cells[..., 2:], np.broadcast_to(cells[:1, :1, :, 2:], cells[..., 2:].shape)
    )
    assert level.center0 == (float(want_cx[0]), float(want_cy[0]))
    assert level.stride == (step, step)


def test_convention_is_registered_and_rules_are_complete() -> None:
    assert MODULES["gluoncv-ssd"] == "anchorctl.conventions.gluoncv_ssd"
    module = load("gluoncv-ssd")
    assert module.RULES.native_format == "cxcywh" and module.RULES.name == "gluoncv-ssd"
    names = [o.name for o in module.OPTIONS]
    assert names == ["sizes", "ratios", "steps", "offsets", "clip", "lite"]
    assert all(o.kind in OPTION_KINDS for o in module.OPTIONS)
    assert "ignored" in module.RULES.ratio_meaning


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sizes": None}, "--sizes is required"),
        ({"ratios": None}, "--ratios is required"),
        ({"steps": None}, "--steps is required"),
        ({"sizes": [(30.0, 60.0, 90.0)]}, "--sizes: layer 0 has 3"),
        ({"sizes": [(0.0, 60.0)]}, "--sizes: 0 is not a positive"),
        ({"sizes": [(30.0, math.nan)]}, "--sizes: nan"),
        ({"ratios": [(1.0, -2.0)]}, "--ratios: -2 is not a positive"),
        ({"ratios": [()]}, "--ratios: layer 0 is empty"),
        ({"steps": [0.0]}, "--steps: 0 is not a positive"),
        ({"offsets": (0.5, 1.5)}, "--offsets: 1.5 must lie in .0, 1. .offset_x"),
        ({"offsets": (0.5,)}, "--offsets: give two numbers"),
        ({"clip": True}, "--clip needs --input-size"),
        ({"clip": True, "image_size": (0, 300)}, "--input-size: 0x300"),
        ({"feature_maps": []}, "feature maps"),
        ({"feature_maps": [(0, 3)]}, "feature map: 0x3"),
        ({"feature_maps": [(2, 2)] * 3, "sizes": [(1.0, 2.0), (2.0, 3.0)]}, "--sizes: 2 levels"),
    ],
)
def test_refuses_nonsense_naming_the_option(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AnchorError, match=message.replace("(", r"\(")):
        ssd.generate(one(**change))


def test_huge_map_is_counted_without_computing_and_refused_when_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANCHORCTL_MAX_BYTES", str(1 << 20))
    (level,) = ssd.generate(one(feature_maps=[(100_000, 100_000)]))
    assert level.count == 100_000 * 100_000 * 4
    with pytest.raises(AnchorError, match="anchors as float32 need"):
        _ = level.array
