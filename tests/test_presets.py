"""Presets: every total, feature maps derived from the input size, and the config round trip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from anchorctl import conventions, presets
from anchorctl.configs import load_config
from anchorctl.configs.toml import dump_config
from anchorctl.errors import AnchorError

from support import load_vector, run

# Totals the frameworks themselves produce (conventions.md section 13; torchvision's FPN and
# RetinaNet totals from tests/vectors/torchvision_anchor_generator).
KNOWN_TOTALS = {
    "mxnet-ssd300": 8732,
    "ssd300": 8732,
    "ssd512": 24564,
    "ssdlite320": 3234,
    "ssd-mobilenet-v1": 1917,
    "fasterrcnn-fpn": 242991,
    "retinanet": 182403,
    "yolov3": 10647,
    "yolov5": 25200,
    "tinyssd": 5444,
}


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
