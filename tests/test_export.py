"""export: anchor sets as torchvision, MMDetection, Detectron2, YOLO and TF snippets, read back.

Round trips check export -> parse_export; the convention tests feed a snippet's numbers (read
here with ``ast.literal_eval``, not with anchorctl's parser) to anchorctl's own model of the
framework and compare the shapes it makes with the source.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from snippet_parser import parse_export

from anchorctl import conventions, presets
from anchorctl.errors import AnchorError
from anchorctl.export import (
    TARGETS,
    AnchorSet,
    LevelShapes,
    anchor_set_from_levels,
    anchor_set_from_suggestion,
    export,
)

PRESETS = ["fasterrcnn-fpn", "retinanet", "yolov5", "yolov3", "ssd300", "mxnet-ssd300", "tinyssd"]


def preset_set(name: str) -> AnchorSet:
    preset = presets.load_preset(name)
    module = conventions.load(preset.config.convention)
    levels = module.generate(preset.config.params)
    return anchor_set_from_levels(levels, module.RULES, preset.input_size)


def convention_set(convention: str, params: dict[str, Any]) -> AnchorSet:
    module = conventions.load(convention)
    return anchor_set_from_levels(module.generate(params), module.RULES)


def shapes(level: Any) -> np.ndarray:
    """(k, 2) [w, h] of an anchorctl Level."""
    return np.array([(s.width, s.height) for s in level.shapes])


def nearest_error(source: np.ndarray, made: np.ndarray) -> float:
    """Brute force: each source shape's best relative w/h error over the made shapes; the worst."""
    worst = 0.0
    for w, h in source:
        worst = max(worst, min(max(abs(mw / w - 1), abs(mh / h - 1)) for mw, mh in made))
    return worst


def expected_levels(aset: AnchorSet, target: str, text: str) -> list[LevelShapes]:
    """The source levels in the order the target writes them: by stride, coarsest first for
    MMDetection's YOLOAnchorGenerator (as its YOLOv3 configs), finest first otherwise."""
    coarse_first = target == "mmdet" and "YOLOAnchorGenerator" in text
    sign = -1.0 if coarse_first else 1.0
    return sorted(aset.levels, key=lambda lv: sign * float(lv.stride or 0.0))


def stated_error(text: str) -> float:
    match = re.search(r"^# APPROXIMATE: .* off by up to ([\d.]+)% in width or height$", text, re.M)
    assert match, text
    return float(match.group(1)) / 100


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", PRESETS)
def test_round_trip(name: str, target: str) -> None:
    aset = preset_set(name)
    text = export(aset, target)
    back = parse_export(text, target)
    source = expected_levels(aset, target, text)
    assert back.input_size == aset.input_size
    assert len(back.levels) == len(source)
    if target != "tf":  # TF holds whole-pixel strides (checked below)
        assert back.strides == tuple(lv.stride for lv in source)
    made = [lv.array for lv in back.levels]
    if "# exact:" in text or "# shapes exact:" in text:
        for lv, m in zip(source, made, strict=True):
            if "# differs: slot order" not in text:
                np.testing.assert_allclose(m, lv.array, rtol=1e-5)
            else:
                assert len(m) == len(lv.shapes) and nearest_error(lv.array, m) <= 1e-5
    else:
        error = max(nearest_error(lv.array, m) for lv, m in zip(source, made, strict=True))
        assert error > 1e-5
        assert stated_error(text) == pytest.approx(error, rel=5e-3)


@pytest.mark.parametrize("name", PRESETS)
def test_explicit_shape_targets_always_make_the_shapes(name: str) -> None:
    aset = preset_set(name)
    for target in ("yolo", "tf"):
        text = export(aset, target)
        assert "# exact:" in text or "# shapes exact:" in text
        assert "APPROXIMATE" not in text


def literal(text: str, key: str) -> Any:
    """The value written after ``key=`` or ``key:`` on one line, via ast (and ``* n``)."""
    match = re.search(rf"^\s*{key}\s*[=:]\s*(.*?),?\s*$", text, re.M)
    assert match, key
    value = match.group(1)
    repeat = re.fullmatch(r"(.*) \* (\d+)", value)
    if repeat:
        return list(ast.literal_eval(repeat.group(1))) * int(repeat.group(2))
    return ast.literal_eval(value)


def strides_of(aset_levels: list[LevelShapes]) -> list[tuple[float, float]]:
    return [(lv.stride, lv.stride) for lv in aset_levels]  # type: ignore[misc]


@pytest.mark.parametrize("name", ["fasterrcnn-fpn", "retinanet"])
def test_torchvision_snippet_makes_the_source_shapes_in_torchvision(name: str) -> None:
    aset = preset_set(name)
    text = export(aset, "torchvision")
    assert "# exact:" in text and "in the source's slot order" in text
    levels = conventions.load("torchvision").generate(
        {
            "feature_maps": [(2, 2)] * len(aset.levels),
            "sizes": literal(text, "sizes"),
            "ratios": literal(text, "aspect_ratios"),
            "strides": strides_of(list(aset.levels)),
        }
    )
    for level, source in zip(levels, aset.levels, strict=True):
        np.testing.assert_array_equal(shapes(level), source.array)


D2_SOURCE = {
    "feature_maps": [(4, 4), (2, 2), (1, 1)],
    "sizes": [(32.0, 40.3), (64.0, 80.6), (128.0, 161.3)],
    "ratios": [(0.5, 1.0, 2.0)],
    "strides": [(8, 8), (16, 16), (32, 32)],
}


def test_detectron2_snippet_makes_the_source_shapes_in_detectron2() -> None:
    aset = convention_set("detectron2", D2_SOURCE)
    text = export(aset, "detectron2")
    assert "# exact:" in text and "in the source's slot order" in text
    assert literal(text, "ASPECT_RATIOS") == [[0.5, 1.0, 2.0]]
    assert literal(text, "SIZES") == [[32, 40.3], [64, 80.6], [128, 161.3]]
    levels = conventions.load("detectron2").generate(
        {**D2_SOURCE, "sizes": literal(text, "SIZES"), "ratios": literal(text, "ASPECT_RATIOS")}
    )
    for level, source in zip(levels, aset.levels, strict=True):
        np.testing.assert_allclose(shapes(level), source.array, rtol=1e-6)


@pytest.mark.parametrize(
    ("source", "target"), [("torchvision", "detectron2"), ("detectron2", "torchvision")]
)
def test_rounding_differences_are_reported_as_approximate(source: str, target: str) -> None:
    # torchvision rounds half extents to whole pixels, Detectron2 does not: neither set of
    # shapes is the other's, and the stated error is what the target's own model makes of it
    aset = (
        preset_set("fasterrcnn-fpn")
        if source == "torchvision"
        else convention_set("detectron2", D2_SOURCE)
    )
    text = export(aset, target)
    keys = ("SIZES", "ASPECT_RATIOS") if target == "detectron2" else ("sizes", "aspect_ratios")
    levels = conventions.load(target).generate(
        {
            "feature_maps": [(1, 1)] * len(aset.levels),
            "sizes": literal(text, keys[0]),
            "ratios": literal(text, keys[1]),
            "strides": strides_of(list(aset.levels)),
        }
    )
    error = max(nearest_error(s.array, shapes(m)) for s, m in zip(aset.levels, levels, strict=True))
    assert 1e-3 < error < 0.05
    assert stated_error(text) == pytest.approx(error, rel=5e-3)


MMDET_RETINANET = {
    "feature_maps": [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)],
    "octave_base_scale": 4,
    "scales_per_octave": 3,
    "ratios": [(0.5, 1.0, 2.0)],
    "strides": [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128)],
}


def test_mmdet_snippet_makes_the_source_shapes_in_mmdet() -> None:
    aset = convention_set("mmdet", MMDET_RETINANET)
    text = export(aset, "mmdet")
    assert "type='AnchorGenerator'" in text and "# exact:" in text and "base_sizes=" not in text
    scales = literal(text, "scales")
    assert scales == pytest.approx([4 * 2 ** (i / 3) for i in range(3)], rel=1e-6)
    assert literal(text, "strides") == [8, 16, 32, 64, 128]
    levels = conventions.load("mmdet").generate(
        {
            "feature_maps": MMDET_RETINANET["feature_maps"],
            "scales": scales,
            "ratios": [literal(text, "ratios")],
            "strides": [(s, s) for s in literal(text, "strides")],
        }
    )
    for level, source in zip(levels, aset.levels, strict=True):
        np.testing.assert_allclose(shapes(level), source.array, rtol=1e-6)


def test_mmdet_writes_base_sizes_when_sizes_do_not_follow_the_strides() -> None:
    params = {**D2_SOURCE, "sizes": [(20.0, 30.0), (50.0, 75.0), (90.0, 135.0)]}
    aset = convention_set("detectron2", params)
    text = export(aset, "mmdet")
    assert "type='AnchorGenerator'" in text and "# shapes exact:" in text
    # Detectron2 is size-major, MMDetection ratio-major: the same shapes, another slot order
    assert "# differs: slot order" in text and "# exact:" not in text
    bases = literal(text, "base_sizes")
    assert bases == [20, 50, 90] and literal(text, "scales") == [1, 1.5]
    levels = conventions.load("mmdet").generate(
        {
            "feature_maps": params["feature_maps"],
            "scales": literal(text, "scales"),
            "ratios": [literal(text, "ratios")],
            "strides": params["strides"],
            "base_sizes": bases,
        }
    )
    for level, source in zip(levels, aset.levels, strict=True):
        assert nearest_error(source.array, shapes(level)) <= 1e-6


def test_mmdet_takes_arbitrary_pairs_with_the_yolo_generator() -> None:
    aset = preset_set("yolov5")
    text = export(aset, "mmdet")
    assert "type='YOLOAnchorGenerator'" in text and "# exact:" in text
    body = text[text.index("base_sizes=[") + len("base_sizes=") : text.index("    ],") + 5]
    base_sizes = ast.literal_eval(body.strip())
    strides = literal(text, "strides")
    assert strides == [32, 16, 8]  # coarsest first, as MMDetection's YOLOv3 configs
    assert base_sizes[0] == [(116, 90), (156, 198), (373, 326)]
    levels = conventions.load("mmdet").generate(
        {
            "feature_maps": [(1, 1)] * 3,
            "yolo": True,
            "yolo_base_sizes": base_sizes,
            "strides": [(s, s) for s in strides],
        }
    )
    by_stride = {lv.stride: lv.array for lv in aset.levels}
    for level, stride in zip(levels, strides, strict=True):
        np.testing.assert_array_equal(shapes(level), by_stride[stride])


def test_tf_single_level_product_set_is_a_grid_anchor_generator() -> None:
    params = {
        "feature_maps": [(4, 4)],
        "scales": (0.25, 0.5, 1.0, 2.0),
        "ratios": (0.5, 1.0, 2.0),
        "anchor_stride": (16, 16),
    }
    aset = convention_set("tf-grid", params)
    text = export(aset, "tf")
    assert "grid_anchor_generator {" in text and "flexible" not in text and "# exact:" in text
    assert literal(text, "scales") == [0.25, 0.5, 1.0, 2.0]
    assert literal(text, "aspect_ratios") == [0.5, 1.0, 2.0]
    level = conventions.load("tf-grid").generate(
        {**params, "scales": literal(text, "scales"), "ratios": literal(text, "aspect_ratios")}
    )[0]
    np.testing.assert_allclose(shapes(level), aset.levels[0].array, rtol=1e-6)


def test_tf_flexible_grid_pairs_sizes_and_ratios() -> None:
    aset = preset_set("yolov5")
    text = export(aset, "tf")
    grids = re.findall(r"anchor_grid \{(.*?)\}", text, re.S)
    assert len(grids) == 3
    for grid, level in zip(grids, aset.levels, strict=True):
        sizes = np.array(literal(grid, "base_sizes"))
        ratios = np.array(literal(grid, "aspect_ratios"))  # width / height
        made = np.stack([sizes * np.sqrt(ratios), sizes / np.sqrt(ratios)], axis=1)
        np.testing.assert_allclose(made, level.array, rtol=1e-5)
        assert int(literal(grid, "height_stride")) == level.stride


def test_tf_strides_are_rounded_to_whole_pixels_and_said_so() -> None:
    text = export(preset_set("ssdlite320"), "tf")
    assert "written rounded: stride 106.6667 -> 107" in text
    assert parse_export(text, "tf").strides[3] == 107


def test_yolo_yaml_lists_p3_first_in_input_pixels() -> None:
    text = export(preset_set("yolov3"), "yolo")  # the preset lists darknet's stride-32 layer first
    body = text[text.index("anchors:") :]
    assert body == (
        "anchors:\n"
        "  - [10,13, 16,30, 33,23]  # P3/8\n"
        "  - [30,61, 62,45, 59,119]  # P4/16\n"
        "  - [116,90, 156,198, 373,326]  # P5/32\n"
    )


def test_ratio_directions() -> None:
    wide = AnchorSet((LevelShapes(((64.0, 32.0),), 16.0),))  # w/h = 2, h/w = 0.5
    assert literal(export(wide, "torchvision"), "aspect_ratios") == ((0.5,),)
    assert literal(export(wide, "detectron2"), "ASPECT_RATIOS") == [[0.5]]
    assert literal(export(wide, "mmdet"), "ratios") == [0.5]
    tf = export(wide, "tf")
    assert "grid_anchor_generator {" in tf and literal(tf, "aspect_ratios") == [2.0]


def test_header_states_units_ratios_input_size_and_strides() -> None:
    text = export(preset_set("fasterrcnn-fpn"), "torchvision")
    assert "# aspect_ratios = height / width" in text
    assert "# input size (px): 1216x800" in text
    assert "# strides (px): 4, 8, 16, 32, 64" in text
    assert "width / height" in export(preset_set("yolov5"), "tf")


def test_normalized_levels_are_scaled_by_the_input_size() -> None:
    preset = presets.load_preset("mxnet-ssd300")
    module = conventions.load("mxnet")
    levels = module.generate(preset.config.params)
    aset = anchor_set_from_levels(levels, module.RULES, (300, 300))
    for level, out in zip(levels, aset.levels, strict=True):
        np.testing.assert_allclose(out.array, shapes(level) * 300)
    assert aset.strides[:2] == (8.0, 16.0)  # 0.0266667 (float32) * 300, to 6 digits
    with pytest.raises(AnchorError, match="--input-size is required"):
        anchor_set_from_levels(levels, module.RULES)


def test_strides_can_be_given() -> None:
    preset = presets.load_preset("retinanet")
    module = conventions.load("torchvision")
    levels = module.generate(preset.config.params)
    derived = anchor_set_from_levels(levels, module.RULES, preset.input_size)
    assert derived.strides == (8, 16, 32, 64, 121)  # 1216 // 10 on P7; 800 // 7 is 114
    nominal = anchor_set_from_levels(levels, module.RULES, None, [8, 16, 32, 64, 128])
    assert nominal.strides == (8, 16, 32, 64, 128)
    with pytest.raises(AnchorError, match="--strides: 2 given for 5 levels"):
        anchor_set_from_levels(levels, module.RULES, None, [8, 16])


def test_rotated_anchors_are_refused() -> None:
    module = conventions.load("detectron2")
    levels = module.generate({**D2_SOURCE, "angles": [(-30.0, 0.0, 30.0)]})
    with pytest.raises(AnchorError, match="rotated anchors"):
        anchor_set_from_levels(levels, module.RULES)


def test_suggestion_spreads_smallest_anchors_on_the_finest_stride() -> None:
    anchors = [
        (373, 326),
        (10, 13),
        (62, 45),
        (16, 30),
        (156, 198),
        (30, 61),
        (33, 23),
        (116, 90),
        (59, 119),
    ]
    aset = anchor_set_from_suggestion(anchors, [8, 16, 32])
    assert aset.levels[0] == LevelShapes(((10, 13), (16, 30), (33, 23)), 8)
    assert aset.levels[1] == LevelShapes(((30, 61), (62, 45), (59, 119)), 16)
    assert aset.levels[2] == LevelShapes(((116, 90), (156, 198), (373, 326)), 32)
    darknet = anchor_set_from_suggestion(anchors, [32, 16, 8])
    assert darknet.levels[0].stride == 32 and darknet.levels[0].shapes[0] == (116, 90)
    uneven = anchor_set_from_suggestion([*anchors, (400, 400)], [8, 16, 32])
    assert [len(lv.shapes) for lv in uneven.levels] == [4, 3, 3]


@pytest.mark.parametrize(
    ("strides", "expected"),
    [
        ([8, 16, 32, 64], "4 levels but only 3 anchors"),
        ([8, 0], "--strides: 0"),
        ([], "at least one"),
    ],
)
def test_suggestion_errors(strides: list[float], expected: str) -> None:
    with pytest.raises(AnchorError, match=re.escape(expected)):
        anchor_set_from_suggestion([(1, 2), (3, 4), (5, 6)], strides)


def test_mmdet_and_tf_need_strides() -> None:
    aset = AnchorSet((LevelShapes(((10.0, 13.0), (20.0, 11.0))),))
    for target in ("mmdet", "tf"):
        with pytest.raises(AnchorError, match="no stride"):
            export(aset, target)
    back = parse_export(export(aset, "yolo"), "yolo")  # YOLO needs none
    assert back.strides == (None,) and back.levels[0].shapes == aset.levels[0].shapes


GOOD = export(AnchorSet((LevelShapes(((46.0, 22.0), (32.0, 32.0)), 8.0),), (64, 64)), "torchvision")


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        (GOOD, "keras", "export target 'keras': choose one of"),
        (GOOD.replace("# input size (px): 64x64\n", ""), "torchvision", "header lines are missing"),
        (GOOD.replace("(32,)", "(32 33,)"), "torchvision", "expected ',' or ')'"),
        (GOOD.replace("(32,)", "(__import__('os'),)"), "torchvision", "expected a number"),
        (GOOD.replace("(32,)", "(-32,)"), "torchvision", "not a shape"),
        (
            GOOD.replace("strides (px): 8", "strides (px): 8, 16"),
            "torchvision",
            "1 levels but 2 strides",
        ),
        (
            "# input size (px): unknown\n# strides (px): 8\nanchors:\n  - [10,13, 16]\n",
            "yolo",
            "not a list of w,h pairs",
        ),
        (
            "# input size (px): unknown\n# strides (px): 8\nanchor_generator = dict(type='Foo', strides=[8])\n",
            "mmdet",
            "expected type=",
        ),
        (
            "# input size (px): unknown\n# strides (px): 8\nanchor_generator {}\n",
            "tf",
            "expected a grid_anchor_generator",
        ),
        ("# input size (px): 64x\n# strides (px): 8\n", "detectron2", "is not WxH"),
    ],
)
def test_parse_errors_are_one_line(text: str, target: str, expected: str) -> None:
    with pytest.raises(AnchorError) as info:
        parse_export(text, target)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_export_refuses_an_unknown_target() -> None:
    with pytest.raises(AnchorError, match="export target 'onnx': choose one of torchvision, mmdet"):
        export(preset_set("yolov5"), "onnx")


positive = st.floats(8.0, 600.0)


def spread(values: list[float]) -> bool:
    """No two values within 5% of each other (closer ones are one value to a fit)."""
    return all(abs(math.log(a / b)) > 0.05 for a in values for b in values if a != b)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(positive, min_size=1, max_size=3, unique=True),
    st.lists(st.floats(0.2, 5.0), min_size=1, max_size=3, unique=True),
)
def test_any_detectron2_product_set_round_trips_exactly(
    sizes: list[float], ratios: list[float]
) -> None:
    assume(spread(sizes) and spread(ratios))
    aset = convention_set(
        "detectron2",
        {
            "feature_maps": [(1, 1)],
            "sizes": [tuple(sizes)],
            "ratios": [tuple(ratios)],
            "strides": [(16, 16)],
        },
    )
    for target in ("detectron2", "mmdet", "tf", "yolo"):
        text = export(aset, target)
        assert "# exact:" in text or "# shapes exact:" in text, (target, text)
        made = parse_export(text, target).levels[0].array
        assert nearest_error(aset.levels[0].array, made) <= 1e-5


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(positive, positive), min_size=2, max_size=2), min_size=1, max_size=3
    )
)
def test_any_shapes_round_trip_through_the_explicit_targets(
    levels: list[list[tuple[float, float]]],
) -> None:
    aset = AnchorSet(
        tuple(LevelShapes(tuple(lv), 8.0 * 2**i) for i, lv in enumerate(levels)), (640, 480)
    )
    for target in ("yolo", "tf", "mmdet", "torchvision", "detectron2"):
        text = export(aset, target)
        back = parse_export(text, target)
        source = expected_levels(aset, target, text)
        made = [lv.array for lv in back.levels]
        error = max(nearest_error(s.array, m) for s, m in zip(source, made, strict=True))
        if "# exact:" in text:
            assert error <= 1e-5
        else:
            assert target in ("torchvision", "detectron2", "mmdet")
            assert stated_error(text) == pytest.approx(error, rel=5e-3, abs=5e-6)
