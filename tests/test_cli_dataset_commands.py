"""`anchorctl suggest`, `anchorctl export` and `anchorctl draw --boxes` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from snippet_parser import parse_export

from anchorctl import conventions

from support import ROOT, SAMPLES, run

DATA = ROOT / "tests" / "data" / "annotations"


def test_suggest_json_contract_and_determinism() -> None:
    args = ("suggest", str(DATA / "coco.json"), "--preset", "yolov5", "--resize", "letterbox",
            "--k", "4", "--format", "json")  # fmt: skip
    first = run(*args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert len(data["anchors"]) == 4 and 0 < data["mean_iou"] <= 1
    areas = [w * h for w, h in data["anchors"]]
    assert areas == sorted(areas)
    assert data["after"]["mean_best_iou"] >= data["before"]["mean_best_iou"] - 1e-9
    assert json.loads(run(*args).stdout)["anchors"] == data["anchors"]  # same seed, same answer
    # 4 anchors on YOLOv5's 3 levels: the finest level takes the extra one, smallest first
    assert [len(level["anchors"]) for level in data["levels"]] == [2, 1, 1]
    assert [level["stride"] for level in data["levels"]] == [8, 16, 32]
    assert [a for level in data["levels"] for a in level["anchors"]] == data["anchors"]


def test_suggest_recovers_known_shapes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    shapes = np.array([[20, 40], [60, 30], [120, 120]], dtype=float)
    lines = ["image,width,height,xmin,ymin,xmax,ymax"]
    for i in range(300):
        w, h = shapes[i % 3] * rng.uniform(0.97, 1.03, size=2)
        lines.append(f"img{i}.jpg,300,300,10,10,{10 + float(w)!r},{10 + float(h)!r}")
    path = tmp_path / "boxes.csv"
    path.write_text("\n".join(lines) + "\n")
    data = json.loads(run("suggest", str(path), "--input-size", "300x300", "--k", "3",
                          "--format", "json").stdout)  # fmt: skip
    got = np.array(data["anchors"])
    np.testing.assert_allclose(got, shapes, rtol=0.03)


def test_export_round_trips_through_the_target_convention() -> None:
    result = run("export", "--preset", "fasterrcnn-fpn", "--to", "torchvision")
    assert result.exit_code == 0, result.output
    assert "aspect_ratios=((0.5, 1.0, 2.0),) * 5" in result.stdout
    parsed = parse_export(result.stdout, "torchvision")
    assert [len(level.shapes) for level in parsed.levels] == [3] * 5
    yolo = run("export", "--preset", "yolov5", "--to", "yolo").stdout
    assert "- [10,13, 16,30, 33,23]  # P3/8" in yolo
    shapes = parse_export(yolo, "yolo").levels[0].shapes
    assert [tuple(s) for s in shapes] == [(10, 13), (16, 30), (33, 23)]


def test_export_needs_an_input_size_and_valid_level_strides() -> None:
    no_size = run("export", "--convention", "detectron2", "--sizes", "32", "--strides", "16",
                  "--to", "mmdet")  # fmt: skip
    assert no_size.exit_code == 2 and "--input-size" in no_size.stderr
    bad = run("export", "--preset", "retinanet", "--to", "detectron2", "--level-strides", "8,16")
    assert bad.exit_code == 2 and "one per level" in bad.stderr


def test_draw_boxes_colours_coverage(tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    result = run("draw", str(SAMPLES / "rocket.jpg"), "--preset", "yolov5", "--boxes",
                 str(DATA / "yolo" / "labels"), "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(out).convert("RGB"))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 500  # the towers are not covered at IoU 0.5 by YOLOv5's anchors
    lenient = tmp_path / "l.png"
    result = run("draw", str(SAMPLES / "rocket.jpg"), "--preset", "yolov5", "--boxes",
                 str(DATA / "yolo" / "labels"), "--iou", "0.1", "--no-legend",
                 "-o", str(lenient))  # fmt: skip
    pixels = np.asarray(Image.open(lenient).convert("RGB"))
    green = (pixels[..., 0] < 80) & (pixels[..., 1] > 180) & (pixels[..., 2] < 100)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert green.sum() > 500 and red.sum() < 50


def test_draw_boxes_for_an_image_without_annotations(tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 64)).save(other)
    result = run("draw", str(other), "--preset", "ssd300", "--boxes", str(DATA / "coco.json"),
                 "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert result.exit_code == 1 and "no boxes for this image" in result.stderr


def test_export_of_suggested_shapes_generates_them_again() -> None:
    text = run("export", "--convention", "detectron2", "--sizes", "32,64", "--ratios", "0.5,1",
               "--strides", "16", "--feature-map", "4x4", "--input-size", "64x64",
               "--to", "detectron2").stdout  # fmt: skip
    parsed = parse_export(text, "detectron2")
    level = conventions.load("detectron2").generate({
        "feature_maps": [(4, 4)], "sizes": [(32.0, 64.0)], "ratios": [(0.5, 1.0)],
        "strides": [(16.0, 16.0)], "image_size": (64, 64)})[0]  # fmt: skip
    made = sorted((round(s.width, 3), round(s.height, 3)) for s in level.shapes)
    assert sorted((round(w, 3), round(h, 3)) for w, h in parsed.levels[0].shapes) == made
