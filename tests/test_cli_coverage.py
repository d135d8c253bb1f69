"""`anchorctl coverage`: the report, its JSON contract, the CI gate and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anchorctl import conventions, presets

from support import ROOT, run

DATA = ROOT / "tests" / "data" / "annotations"


def coverage_json(*args: str) -> dict:
    result = run("coverage", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_contract() -> None:
    data = coverage_json(str(DATA / "coco.json"), "--preset", "ssd300")
    for key in ("boxes", "skipped", "recall", "mean_best_iou", "bpr", "by_size", "worst"):
        assert key in data, key
    assert set(data["recall"]) == {"0.3", "0.5", "0.7"}
    assert data["recall"]["0.3"] >= data["recall"]["0.5"] >= data["recall"]["0.7"]
    assert set(data["by_size"]) == {"small", "medium", "large"}
    assert sum(b["count"] for b in data["by_size"].values()) == data["boxes"]
    assert data["skipped"] == 1 and data["skipped_by_reason"] == {"iscrowd": 1}
    assert len(data["worst"]) == 10
    worst = [row["best_iou"] for row in data["worst"]]
    assert worst == sorted(worst) and worst[0] == min(worst)


def test_the_four_formats_give_the_same_report() -> None:
    # COCO marks one box iscrowd and VOC the same box difficult: keep it in both.
    reports = [
        coverage_json(str(DATA / "coco.json"), "--preset", "ssd300", "--include-crowd"),
        coverage_json(str(DATA / "voc"), "--preset", "ssd300", "--include-difficult"),
        coverage_json(str(DATA / "boxes.csv"), "--preset", "ssd300"),
        coverage_json(
            str(DATA / "yolo"), "--images-dir", str(ROOT / "sample_images"), "--preset", "ssd300"
        ),
    ]
    first = reports[0]
    assert first["boxes"] == 19
    for other in reports[1:]:
        assert other["boxes"] == first["boxes"]
        for key in ("0.3", "0.5", "0.7"):
            assert abs(other["recall"][key] - first["recall"][key]) < 1e-9
        assert abs(other["mean_best_iou"] - first["mean_best_iou"]) < 1e-6


def test_boxes_that_are_anchors_are_covered_exactly(tmp_path: Path) -> None:
    preset = presets.load_preset("ssd300")
    levels = conventions.load("torchvision-ssd").generate(preset.config.params)
    boxes = np.concatenate([lv.array for lv in levels])[::97].astype(np.float64)
    inside = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= 300) & (boxes[:, 3] <= 300)
    boxes = boxes[inside]
    lines = ["image,width,height,xmin,ymin,xmax,ymax"]
    lines += [f"img.jpg,300,300,{x0!r},{y0!r},{x1!r},{y1!r}" for x0, y0, x1, y1 in boxes.tolist()]
    path = tmp_path / "anchors.csv"
    path.write_text("\n".join(lines) + "\n")
    data = coverage_json(str(path), "--preset", "ssd300")
    assert data["boxes"] == len(boxes) > 20
    assert data["recall"]["0.7"] == 1.0 and abs(data["mean_best_iou"] - 1.0) < 1e-6


def test_fail_under_gates_ci() -> None:
    ok = run("coverage", str(DATA / "coco.json"), "--preset", "ssd300", "--fail-under", "0.5")
    assert ok.exit_code == 0
    low = run("coverage", str(DATA / "coco.json"), "--preset", "ssd300", "--fail-under", "0.99")
    assert low.exit_code == 1
    assert low.stderr.strip().startswith("anchorctl: recall at IoU 0.5 is 0.")
    assert "under --fail-under 0.99" in low.stderr


def test_iou_thresholds_are_configurable() -> None:
    data = coverage_json(str(DATA / "coco.json"), "--preset", "ssd300", "--iou", "0.4,0.6")
    assert set(data["recall"]) == {"0.4", "0.6"}


def test_options_convention_and_input_size() -> None:
    data = coverage_json(str(DATA / "boxes.csv"), "--convention", "torchvision", "--sizes",
                         "64,128,256", "--ratios", "0.5,1,2", "--feature-map", "20x20",
                         "--input-size", "640x640")  # fmt: skip
    assert data["convention"] == "torchvision" and data["boxes"] == 19


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = run("coverage", str(tmp_path / "nope.json"), "--preset", "ssd300")
    assert missing.exit_code == 1 and len(missing.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = run("coverage", str(bad), "--preset", "ssd300")
    assert broken.exit_code == 1 and "bad.json" in broken.stderr
    assert "Traceback" not in broken.stderr
    no_size = run("coverage", str(DATA / "boxes.csv"), "--sizes", "0.2")
    assert no_size.exit_code == 2 and "--input-size" in no_size.stderr
    shorter = run("coverage", str(DATA / "boxes.csv"), "--preset", "ssd300", "--resize",
                  "shorter-side")  # fmt: skip
    assert shorter.exit_code == 2 and "--shorter-side" in shorter.stderr


def test_yolo_image_size_without_the_images(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    data = coverage_json(str(labels), "--image-size", "400x200", "--preset", "ssd300")
    assert data["boxes"] == 1 and data["format"] == "yolo"
    missing = run("coverage", str(labels), "--preset", "ssd300")
    assert missing.exit_code == 1 and "\n" not in missing.stderr.strip()
