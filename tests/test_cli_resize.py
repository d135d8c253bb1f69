"""coverage and suggest map the boxes to the network input the way the preset's framework
trains, say which way they used, and let --resize override it."""

from __future__ import annotations

import json

import pytest

from anchorctl import presets

from support import ROOT, run

COCO = str(ROOT / "tests" / "data" / "annotations" / "coco.json")

# How each framework family resizes its training images (the preset's convention says which).
TRAINS = {
    "yolo": ("letterbox", None),
    "torchvision": ("shorter-side", (800, 1333)),  # GeneralizedRCNNTransform(800, 1333)
    "py-faster-rcnn": ("shorter-side", (600, 1000)),  # cfg.TRAIN.SCALES, MAX_SIZE
}


def report(command: str, *args: str) -> dict:
    result = run(command, COCO, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", presets.names())
def test_each_preset_states_how_its_framework_trains(name: str) -> None:
    preset = presets.load_preset(name)
    mode, shorter = TRAINS.get(preset.config.convention, ("stretch", None))
    assert (preset.resize, preset.shorter_side) == (mode, shorter)
    shown = json.loads(run("presets", "show", name, "--format", "json").stdout)
    assert shown["resize"] == mode
    assert shown["shorter_side"] == (list(shorter) if shorter else None)


@pytest.mark.parametrize(
    ("preset", "explicit"),
    [
        ("yolov5", ("--resize", "letterbox")),
        ("fasterrcnn-fpn", ("--resize", "shorter-side", "--shorter-side", "800,1333")),
        ("ssd300", ("--resize", "stretch")),
    ],
)
def test_coverage_resizes_as_the_preset_trains(preset: str, explicit: tuple[str, ...]) -> None:
    default = report("coverage", "--preset", preset)
    given = report("coverage", "--preset", preset, *explicit)
    assert default["resize"] == explicit[1] and default["resize_from"] == "preset"
    assert given["resize_from"] == "--resize"
    for key in ("recall", "mean_best_iou", "by_size", "worst", "shorter_side"):
        assert default[key] == given[key], key


def test_the_preset_default_changes_the_numbers_and_resize_overrides_it() -> None:
    letterbox = report("coverage", "--preset", "yolov5")
    stretch = report("coverage", "--preset", "yolov5", "--resize", "stretch")
    assert stretch["resize"] == "stretch" and stretch["recall"] != letterbox["recall"]
    # shorter-side with the preset's sizes unless --shorter-side says otherwise
    own = report("coverage", "--preset", "fasterrcnn-fpn", "--resize", "shorter-side")
    other = report("coverage", "--preset", "fasterrcnn-fpn", "--shorter-side", "600,1000")
    assert own["shorter_side"] == [800, 1333] and other["shorter_side"] == [600, 1000]
    assert other["resize_from"] == "preset" and other["recall"] != own["recall"]


def test_without_a_preset_the_default_is_stretch() -> None:
    data = report("coverage", "--convention", "torchvision", "--sizes", "32,64,128",
                  "--feature-map", "20x20", "--input-size", "640x640")  # fmt: skip
    assert data["resize"] == "stretch" and data["resize_from"] == "default"
    missing = run("coverage", COCO, "--convention", "torchvision", "--sizes", "32",
                  "--resize", "shorter-side")  # fmt: skip
    assert missing.exit_code == 2 and "--shorter-side MIN,MAX" in missing.stderr


def test_the_reports_say_which_resize_was_used() -> None:
    table = run("coverage", COCO, "--preset", "yolov5")
    assert "resize letterbox (as yolov5 trains" in table.stdout
    frcnn = run("coverage", COCO, "--preset", "fasterrcnn-fpn")
    assert "resize shorter-side 800,1333 (as fasterrcnn-fpn trains" in frcnn.stdout
    fitted = report("suggest", "--preset", "yolov5", "--k", "3")
    assert fitted["resize"] == "letterbox" and fitted["resize_from"] == "preset"
    text = run("suggest", COCO, "--preset", "yolov5", "--k", "3")
    assert "resized by letterbox (as yolov5 trains" in text.stdout
