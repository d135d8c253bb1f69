"""torchvision DefaultBoxGenerator: pinned by vectors recorded from torchvision 0.29.1 and by
properties that hold for any parameters (ratio = width / height emitted with its transpose,
s'_k second, clip on the (w, h) pairs only, centres (i + 0.5) * step with x on the width)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import torchvision_ssd as ts
from anchorctl.conventions.base import OPTION_KINDS, to_format
from anchorctl.errors import AnchorError

from support import VECTORS, load_vector, run

FOLDER = "torchvision_default_box_generator"
CASES = sorted(p.stem for p in (VECTORS / FOLDER).glob("*.json"))
F32 = np.float32


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<f4").tobytes()).hexdigest()


def params_from(vector: dict[str, Any]) -> dict[str, Any]:
    height, width = vector["image_size"]  # torchvision's (h, w); anchorctl takes (w, h)
    given_ = vector["params"]
    return {
        "feature_maps": [tuple(f) for f in vector["feature_shapes"]],
        "image_size": (width, height),
        "ratios": [tuple(float(r) for r in rs) for rs in given_["aspect_ratios"]],
        "scales": tuple(given_["scales"]),
        "steps": [float(s) for s in given_["steps"]],
        "clip": given_["clip"],
    }


def test_vectors_are_all_used() -> None:
    assert CASES == ["small_steps_clip_64x64", "ssd300_vgg16"]


@pytest.mark.parametrize("case", CASES)
def test_matches_torchvision_bit_for_bit(case: str) -> None:
    vector = load_vector(f"{FOLDER}/{case}.json")
    params = params_from(vector)
    levels = ts.generate(params)
    got = np.concatenate([level.array for level in levels])
    assert got.dtype == np.float32 and got.shape == (vector["count"], 4)
    summary = vector.get("summary", vector)
    assert sha(got) == summary["sha256_float32"]
    if "anchors" in vector:
        np.testing.assert_array_equal(got, np.array(vector["anchors"], dtype=F32))
    else:
        first, last = np.array(summary["first"], F32), np.array(summary["last"], F32)
        np.testing.assert_array_equal(got[: len(first)], first)
        np.testing.assert_array_equal(got[len(got) - len(last) :], last)
        assert math.isclose(float(got.astype(np.float64).sum()), summary["sum"], abs_tol=1e-3)
    # The normalized (cx, cy, w, h) boxes torchvision builds first, and each level's pieces.
    width, height = params["image_size"]
    scales = ts.resolve_scales(len(levels), params["scales"])
    assert scales == vector["params"]["scales_resolved"]
    dboxes = []
    for k, (level, ref) in enumerate(zip(levels, vector["levels"], strict=True)):
        raw, _ = ts.wh_pairs(scales[k], scales[k + 1], params["ratios"][k])
        np.testing.assert_array_equal(raw, np.array(ref["wh_pairs_unclipped"], F32))
        used = np.clip(raw, F32(0), F32(1))
        np.testing.assert_array_equal(used, np.array(ref["wh_pairs_used"], F32))
        boxes = ts.normalized_boxes(level.feature_map, (width, height), used, params["steps"][k])
        dboxes.append(boxes)
        assert sha(boxes) == ref["dboxes_sha256_float32"]
        assert sha(level.array) == ref["xyxy_sha256_float32"]
        assert level.per_cell == ref["boxes_per_location"] and level.count == ref["count"]
        assert level.stride == (float(ref["step"]), float(ref["step"]))
    all_dboxes = np.concatenate(dboxes)
    if "dboxes_cxcywh_normalized" in vector:
        assert sha(all_dboxes) == vector["dboxes_sha256_float32"]
        np.testing.assert_array_equal(all_dboxes, np.array(vector["dboxes_cxcywh_normalized"], F32))
    else:
        assert sha(all_dboxes) == vector["dboxes_cxcywh_normalized_summary"]["sha256_float32"]


def test_ssd300_shapes_and_clipped_top_level() -> None:
    # ssd.py (ssd300_vgg16): pixel sizes 21, 45, 99, 153, 207, 261; top level 0.87 * sqrt(2)
    # = 1.23 is clamped to 1.0 (300 px) while its height keeps 0.87 / sqrt(2).
    levels = ts.generate(params_from(load_vector(f"{FOLDER}/ssd300_vgg16.json")))
    assert [level.per_cell for level in levels] == [4, 6, 6, 6, 4, 4]
    assert sum(level.count for level in levels) == 8732
    firsts = [level.shapes[0].width for level in levels]
    np.testing.assert_allclose(firsts, [21, 45, 99, 153, 207, 261], atol=1e-4)
    wide = levels[-1].shapes[2]
    assert wide.params == {"scale": 0.87, "ratio": 2.0}
    assert wide.width == 300.0
    assert wide.height == pytest.approx(300 * 0.87 / math.sqrt(2), abs=1e-4)
    # Corners are never clamped: the wide box still spans 0..300, the 38x38 level crosses 0.
    np.testing.assert_array_equal(levels[-1].array[2, [0, 2]], [0.0, 300.0])
    assert levels[0].array.min() < 0 and levels[0].array.max() > 300


def test_clip_is_on_by_default_and_can_be_turned_off() -> None:
    base = {
        "feature_maps": [(1, 1)],
        "image_size": (300, 300),
        "ratios": [(2.0,)],
        "scales": (0.87, 1.05),
    }
    on = ts.generate(base)[0]
    off = ts.generate({**base, "clip": False})[0]
    assert ts.generate({**base, "clip": True})[0].array.tolist() == on.array.tolist()
    assert on.shapes[2].width == 300.0
    assert off.shapes[2].width == pytest.approx(0.87 * math.sqrt(2) * 300, abs=1e-3)
    # Only the clamped slots (the ratio-2 pair) change, and their centres stay put.
    np.testing.assert_array_equal(on.array[:2], off.array[:2])
    assert not np.array_equal(on.array[2:], off.array[2:])
    assert on.shapes[3].height == 300.0 and on.shapes[3].width == off.shapes[3].width
    centre = to_format(off.array, "cxcywh")[2, :2]
    np.testing.assert_allclose(centre, [150, 150], atol=1e-4)
    assert off.array[2, 0] < 0 and off.array[2, 2] > 300


def test_scales_from_min_and_max_ratio() -> None:
    # anchor_utils.py DefaultBoxGenerator: defaults give 0.15 .. 0.9 then 1.0 for six maps; ssdlite 0.2 / 0.95.
    np.testing.assert_allclose(
        ts.resolve_scales(6), [0.15, 0.30, 0.45, 0.60, 0.75, 0.90, 1.0], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        ts.resolve_scales(6, min_ratio=0.2, max_ratio=0.95),
        [0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0],
        rtol=0,
        atol=1e-12,
    )
    assert ts.resolve_scales(1, min_ratio=0.2, max_ratio=0.7) == [0.2, 0.7]
    # The same scales reach generate() when --scales is not given.
    maps = [(1, 1)] * 6
    levels = ts.generate({"feature_maps": maps, "image_size": (100, 100), "ratios": [(2, 3)]})
    np.testing.assert_allclose(
        [lv.shapes[0].params["scale"] for lv in levels], [0.15, 0.3, 0.45, 0.6, 0.75, 0.9]
    )
    assert levels[-1].shapes[1].params["scale"] == pytest.approx(math.sqrt(0.9))
    # ssdlite320: six boxes per cell on every level (ssdlite.py).
    assert {lv.per_cell for lv in levels} == {6}


def test_steps_use_width_for_x_and_height_for_y() -> None:
    # PR pytorch/vision#6551: with steps, x = (i + 0.5) / (W / step), y = (j + 0.5) / (H / step).
    level = ts.generate(
        {
            "feature_maps": [(3, 6)],
            "image_size": (600, 300),
            "ratios": [()],
            "scales": (0.1, 0.1),
            "steps": [100.0],
        }
    )[0]
    centres = to_format(level.array, "cxcywh").reshape(3, 6, 2, 4)[:, :, 0, :2]
    np.testing.assert_allclose(centres[0, :, 0], [50, 150, 250, 350, 450, 550], atol=1e-3)
    np.testing.assert_allclose(centres[:, 0, 1], [50, 150, 250], atol=1e-3)
    assert level.stride == (100.0, 100.0) and level.center0 == (50.0, 50.0)
    # A scale is a fraction of each image side: the "square" is 60 x 30 pixels here.
    assert (level.shapes[0].width, level.shapes[0].height) == pytest.approx((60, 30))


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    levels = draw(st.integers(1, 3))
    params: dict[str, Any] = {
        "feature_maps": [(draw(st.integers(1, 6)), draw(st.integers(1, 6))) for _ in range(levels)],
        "image_size": (draw(st.integers(16, 640)), draw(st.integers(16, 640))),
        "ratios": [tuple(draw(st.lists(st.floats(1.0, 4.0), max_size=3))) for _ in range(levels)],
        "scales": tuple(
            draw(st.lists(st.floats(0.05, 1.2), min_size=levels + 1, max_size=levels + 1))
        ),
        "clip": draw(st.booleans()),
    }
    if draw(st.booleans()):
        params["steps"] = [draw(st.floats(4, 128)) for _ in range(levels)]
    return params


@settings(max_examples=60, deadline=None)
@given(configs())
def test_cell_layout_order_and_centres(params: dict[str, Any]) -> None:
    width, height = params["image_size"]
    scales = params["scales"]
    for index, level in enumerate(ts.generate(params)):
        rows, cols = params["feature_maps"][index]
        ratios = params["ratios"][index]
        k = 2 + 2 * len(ratios)
        assert level.per_cell == k and level.array.shape == (rows * cols * k, 4)
        s_k, s_next = scales[index], scales[index + 1]
        expect = [{"scale": s_k, "ratio": 1.0}, {"scale": math.sqrt(s_k * s_next), "ratio": 1.0}]
        for ar in ratios:
            expect += [{"scale": s_k, "ratio": ar}, {"scale": s_k, "ratio": 1 / ar}]
        assert [dict(s.params) for s in level.shapes] == expect
        # Every ratio slot is followed by its transpose; wide first (ratio = width / height).
        for a in range(2, k, 2):
            first, second = level.shapes[a], level.shapes[a + 1]
            assert first.width / width == pytest.approx(second.height / height, rel=1e-5)
            assert first.height / height == pytest.approx(second.width / width, rel=1e-5)
            if not params["clip"]:  # normalized w / h is the ratio itself: >= 1 is wide
                shape_ratio = (first.width / width) / (first.height / height)
                assert shape_ratio == pytest.approx(ratios[a // 2 - 1], rel=1e-5)
        # Same shape in every cell; centres (i + 0.5) * step, or (i + 0.5) * W / cols.
        boxes = to_format(level.array.astype(np.float64), "cxcywh").reshape(rows, cols, k, 4)
        sizes = boxes[..., 2:]
        np.testing.assert_allclose(sizes, np.broadcast_to(sizes[0, 0], sizes.shape), atol=1e-3)
        steps = params.get("steps")
        sx = steps[index] if steps else width / cols
        sy = steps[index] if steps else height / rows
        assert level.stride == pytest.approx((sy, sx))
        # float32 corners of boxes up to a few image sides wide: allow a few ulps of that.
        tol = 1e-5 * max(width, height, sx * cols, sy * rows)
        np.testing.assert_allclose(boxes[0, :, 0, 0], (np.arange(cols) + 0.5) * sx, atol=tol)
        np.testing.assert_allclose(boxes[:, 0, 0, 1], (np.arange(rows) + 0.5) * sy, atol=tol)
        assert level.center0 == pytest.approx((0.5 * sx, 0.5 * sy), rel=1e-5)
        if params["clip"]:
            assert all(s.width <= width and s.height <= height for s in level.shapes)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"image_size": None}, "--input-size is required"),
        ({"ratios": None}, "--ratios is required"),
        ({"ratios": [(0.0,)]}, r"--ratios \(level 0\): 0"),
        ({"ratios": [(-2.0,)]}, r"--ratios \(level 0\): -2"),
        ({"ratios": [(2.0,), (2.0,), (2.0,)]}, "--ratios: 3 levels given"),
        ({"scales": (0.2, 0.4)}, "--scales: 2 given for 2 feature map"),
        ({"scales": (0.2, 0.4, 0.6, 0.8)}, "--scales: 4 given"),
        ({"scales": (0.2, 0.0, 0.6)}, "--scales: 0"),
        ({"scales": (0.2, 0.4, 0.6), "min_ratio": 0.1}, "--scales: give either"),
        ({"min_ratio": 0.9, "max_ratio": 0.2}, "--min-ratio: 0.9 is larger"),
        ({"min_ratio": -0.1}, "--min-ratio: -0.1"),
        ({"max_ratio": math.inf}, "--max-ratio: inf"),
        ({"steps": [8.0, 0.0]}, "--steps: 0"),
        ({"steps": [8.0, math.nan]}, "--steps: nan"),
        ({"feature_maps": [(4, 4), (2, 0)]}, "feature map: 2x0"),
        ({"image_size": (64, 0)}, "--input-size: 64x0"),
    ],
)
def test_refuses_nonsense_with_a_reason(extra: dict[str, Any], message: str) -> None:
    params = {"feature_maps": [(4, 4), (2, 2)], "image_size": (64, 64), "ratios": [(2.0,)]}
    params.update(extra)
    with pytest.raises(AnchorError, match=message) as info:
        ts.generate(params)
    assert "\n" not in str(info.value)


def test_module_interface() -> None:
    assert conventions.load("torchvision-ssd") is ts
    assert ts.RULES.name == "torchvision-ssd" and ts.RULES.native_format == "xyxy"
    assert ts.RULES.ratio_meaning.startswith("width / height")
    options = {o.name: o for o in ts.OPTIONS}
    assert list(options) == ["ratios", "scales", "min_ratio", "max_ratio", "steps", "clip"]
    assert all(o.kind in OPTION_KINDS for o in ts.OPTIONS)
    assert options["clip"].default is True
    assert (options["min_ratio"].default, options["max_ratio"].default) == (0.15, 0.9)
    assert options["ratios"].per_level and options["steps"].per_level
    assert not options["scales"].per_level


def test_large_level_is_fast() -> None:
    level = ts.generate(
        {"feature_maps": [(300, 300)], "image_size": (1200, 1200), "ratios": [(2.0, 3.0)]}
    )[0]
    assert level.array.shape == (300 * 300 * 6, 4)
    np.testing.assert_allclose(
        to_format(level.array[-6:], "cxcywh")[:, :2], [[1198, 1198]] * 6, atol=1e-3
    )


# --- a level with no ratios: DefaultBoxGenerator([[2], []]) -----------------------------------

EMPTY_LEVEL_TOML = """\
convention = "torchvision-ssd"
image_size = [300, 300]

[[levels]]
feature_map = [2, 2]
ratios = [2]

[[levels]]
feature_map = [1, 1]
ratios = []
"""


def test_a_level_with_an_empty_ratio_list_has_only_the_two_squares() -> None:
    # anchor_utils.py _generate_wh_pairs: the two squares, then two boxes per ratio of the
    # level's list; an empty list leaves the squares alone.
    levels = ts.generate(
        {"feature_maps": [(2, 2), (1, 1)], "ratios": [(2.0,), ()], "image_size": (300, 300)}
    )
    assert [lv.per_cell for lv in levels] == [4, 2]
    scales = ts.resolve_scales(2)  # two maps: 0.15, 0.9, then 1.0
    assert scales == [0.15, 0.9, 1.0]
    top = levels[1].shapes
    assert [s.params["ratio"] for s in top] == [1.0, 1.0]
    assert top[0].width == pytest.approx(0.9 * 300)
    assert top[1].width == pytest.approx(math.sqrt(0.9 * 1.0) * 300)


def test_an_empty_ratio_list_on_the_command_line_and_in_toml(tmp_path: Path) -> None:
    config = tmp_path / "two.toml"
    config.write_text(EMPTY_LEVEL_TOML)
    from_toml = run("list", "--config", str(config), "--format", "json")
    from_cli = run(
        "list", "--convention", "torchvision-ssd", "--input-size", "300x300",
        "--feature-map", "2x2", "--feature-map", "1x1", "--ratios", "2", "--ratios", "",
        "--format", "json",
    )  # fmt: skip
    assert from_toml.exit_code == 0 and from_cli.exit_code == 0, (from_toml.stderr, from_cli.stderr)
    levels = json.loads(from_cli.stdout)["levels"]
    assert [level["per_cell"] for level in levels] == [4, 2]
    assert json.loads(from_toml.stdout)["levels"] == levels
    # conventions that need ratios still refuse an empty list, in one line
    refused = run("list", "--ratios", "")
    assert refused.exit_code == 2 and "--ratios: give at least one value" in refused.stderr
