"""Presets: every total, feature maps derived from the input size, and the config round trip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anchorctl import conventions, presets
from anchorctl.configs import load_config
from anchorctl.configs.toml import dump_config
from anchorctl.errors import AnchorError

from support import load_vector, run

# Totals the frameworks themselves produce. The torchvision models, GluonCV's SSD512 and d2l's
# TinySSD are pinned below by the recorded counts of tests/vectors/model_totals; the others are
# the configs' own arithmetic: MXNet's SSD300 example (apache/mxnet example/ssd, the VGG16
# reduced network: maps 38, 19, 10, 5, 3, 1 with 4, 6, 6, 6, 4, 4 per cell), the TF sample
# config ssd_mobilenet_v1_coco.config (tensorflow/models research/object_detection: maps 19,
# 10, 5, 3, 2, 1 with 3, 6, 6, 6, 6, 6), darknet's cfg/yolov3.cfg at 416 (13, 26, 52 with 3
# each), ultralytics/yolov5 models/yolov5s.yaml at 640 (80, 40, 20 with 3 each), and
# py-faster-rcnn's VGG16 RPN (rbgirshick/py-faster-rcnn lib/rpn: 9 anchors on conv5, stride 16:
# ceil(600 / 16) x ceil(1000 / 16) = 38 x 63 for a 1000x600 input).
KNOWN_TOTALS = {
    "faster-rcnn": 38 * 63 * 9,
    "mxnet-ssd300": 8732,
    "ssd-mobilenet-v1": 1917,
    "yolov3": 10647,
    "yolov5": 25200,
}
MODELS = load_vector("model_totals/model_totals.json")


def total(preset: presets.Preset) -> int:
    levels = conventions.load(preset.config.convention).generate(preset.config.params)
    return sum(level.count for level in levels)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_generates_its_stated_total(name: str) -> None:
    preset = presets.load_preset(name)
    assert preset.total is not None
    assert total(preset) == preset.total
    if name in KNOWN_TOTALS:
        assert preset.total == KNOWN_TOTALS[name]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['preset']}-{'x'.join(map(str, case['image_hw']))}-{len(case['anchorctl_args'])}"


@pytest.mark.parametrize("case", MODELS["torchvision"], ids=_case_id)
def test_presets_count_what_the_real_torchvision_models_count(case: dict[str, Any]) -> None:
    """Every recorded model run: the same total and the same feature map on every level."""
    result = run("count", "--preset", case["preset"], *case["anchorctl_args"], "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"] == case["total"]
    assert [level["feature_map"] for level in data["levels"]] == case["feature_maps"]


@pytest.mark.parametrize("case", MODELS["other"], ids=lambda c: c["preset"])
def test_presets_count_what_gluoncv_and_d2l_count(case: dict[str, Any]) -> None:
    result = run("count", "--preset", case["preset"], "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"] == case["total"]


def test_every_model_preset_is_pinned_by_a_recorded_count() -> None:
    recorded = {c["preset"] for c in MODELS["torchvision"]} | {c["preset"] for c in MODELS["other"]}
    assert recorded | set(KNOWN_TOTALS) == set(presets.names())
    assert {"fasterrcnn-fpn", "retinanet", "ssd300", "ssdlite320", "ssd512", "tinyssd"} <= recorded


@pytest.mark.parametrize(
    ("name", "model"),
    [("fasterrcnn-fpn", "fasterrcnn_resnet50_fpn"), ("retinanet", "retinanet_resnet50_fpn")],
)
def test_preset_sizes_and_ratios_are_the_models_own(name: str, model: str) -> None:
    generator = MODELS["anchor_generators"]["models"][model]["anchor_generator"]
    preset = presets.load_preset(name)
    levels = conventions.load(preset.config.convention).generate(preset.config.params)
    for level, sizes, ratios in zip(
        levels, generator["sizes"], generator["aspect_ratios"], strict=True
    ):
        assert [s.params["size"] for s in level.shapes] == [
            float(size) for ratio in ratios for size in sizes
        ]  # ratio-major, as torchvision
        assert [s.params["ratio"] for s in level.shapes] == [
            float(ratio) for ratio in ratios for _ in sizes
        ]


@pytest.mark.parametrize("name", presets.names())
def test_show_toml_reads_back_to_the_same_anchors(name: str, tmp_path: Path) -> None:
    preset = presets.load_preset(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_config(preset.config, ["round trip"]))
    config = load_config(path)
    module = conventions.load(config.convention)
    for a, b in zip(
        module.generate(preset.config.params), module.generate(config.params), strict=True
    ):
        assert a.array.tobytes() == b.array.tobytes()


def test_feature_map_rules() -> None:
    # torchvision's FPN on a 1216x800 input: /4 ... /64 of the padded image (as recorded).
    maps = presets.feature_maps(["/4", "/8", "/16", "/32", "/64"], (1216, 800), 32)
    assert maps == [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)]
    # An input that is not a multiple of 32 is padded first: 810 -> 832 rows.
    assert presets.feature_maps(["/4"], (800, 810), 32) == [(208, 200)]
    # SSD300's VGG stack: ceil(300/8) ... then two 3x3 valid convolutions.
    ssd = presets.feature_maps(["/8", "/16", "/32", "/64", "valid3", "valid3"], (300, 300))
    assert ssd == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert presets.feature_maps(["/16", "half", "half", "global"], (320, 320)) == [
        (20, 20), (10, 10), (5, 5), (1, 1)
    ]  # fmt: skip
    with pytest.raises(AnchorError, match="too small"):
        presets.feature_maps(["/8", "valid3", "valid3"], (16, 16))


def test_fixed_input_models_refuse_another_size() -> None:
    with pytest.raises(AnchorError, match="resizes every input to 300x300"):
        presets.load_preset("mxnet-ssd300", (640, 480))


def test_unknown_preset() -> None:
    with pytest.raises(AnchorError, match="unknown preset 'nope'; choose one of"):
        presets.load_preset("nope")


def test_cli_presets_list_and_show() -> None:
    listed = json.loads(run("presets", "--format", "json").stdout)
    assert {row["name"] for row in listed} == set(presets.names())
    row = next(r for r in listed if r["name"] == "mxnet-ssd300")
    assert row == {"name": "mxnet-ssd300", "framework": row["framework"], "convention": "mxnet",
                   "input_size": [300, 300], "levels": 6, "total": 8732}  # fmt: skip
    table = run("presets").stdout
    assert "mxnet-ssd300" in table and "8,732" in table
    shown = run("presets", "show", "mxnet-ssd300")
    assert shown.exit_code == 0 and shown.stdout.startswith("# anchorctl preset mxnet-ssd300")
    assert 'convention = "mxnet"' in shown.stdout and shown.stdout.count("[[levels]]") == 6
    bad = run("presets", "show", "nope")
    assert bad.exit_code == 2 and "unknown preset 'nope'" in bad.stderr


@pytest.mark.parametrize(
    ("name", "vector"),
    [
        ("fasterrcnn-fpn", "torchvision_anchor_generator/fasterrcnn_fpn_800x1216.json"),
        ("ssd300", "torchvision_default_box_generator/ssd300_vgg16.json"),
    ],
)
def test_presets_are_the_frameworks_own_anchors(name: str, vector: str) -> None:
    """The whole preset, bit for bit, against what torchvision 0.29 generated."""
    recorded = load_vector(vector)["summary"]
    preset = presets.load_preset(name)
    levels = conventions.load(preset.config.convention).generate(preset.config.params)
    anchors = np.concatenate([level.array for level in levels]).astype("<f4")
    assert len(anchors) == recorded["count"]
    assert hashlib.sha256(anchors.tobytes()).hexdigest() == recorded["sha256_float32"]
