"""`anchorctl coverage`: the report, its JSON contract, the CI gate and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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


# --- scale: workers, shards, streams ---------------------------------------------------------


def test_the_report_is_the_same_for_any_number_of_workers(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 40_000  # three tasks of parallel.TASK_BOXES: the workers really run
    x0, y0 = rng.uniform(0, 400, n), rng.uniform(0, 300, n)
    w, h = rng.uniform(2, 240, n), rng.uniform(2, 180, n)
    path = tmp_path / "many.csv"
    path.write_text(
        "image,width,height,xmin,ymin,xmax,ymax\n"
        + "".join(
            f"i{k % 997}.jpg,640,480,{a:.2f},{b:.2f},{a + c:.2f},{b + d:.2f}\n"
            for k, (a, b, c, d) in enumerate(zip(x0, y0, w, h, strict=True))
        )
    )
    one = coverage_json(str(path), "--preset", "ssd300", "--jobs", "1")
    two = coverage_json(str(path), "--preset", "ssd300", "--jobs", "2")
    assert one == two
    assert one["stats"]["boxes"] == one["boxes"] == n


def shard_files(tmp_path: Path, pieces: int) -> list[Path]:
    lines = (DATA / "boxes.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    size = -(-len(rows) // pieces)
    paths = []
    for k in range(pieces):
        path = tmp_path / f"shard-{k}.csv"
        path.write_text("\n".join([header, *rows[k * size : (k + 1) * size]]) + "\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize("preset", ["ssd300", "fasterrcnn-fpn"])  # stretch, shorter-side
def test_merged_shards_equal_the_whole(tmp_path: Path, preset: str) -> None:
    """With shorter-side resizing every image has its own input (and feature maps): shards
    whose first images differ are still one run's."""
    whole = coverage_json(str(DATA / "boxes.csv"), "--preset", preset, "--worst", "5")
    reports = []
    for shard in shard_files(tmp_path, 3):
        report = tmp_path / f"{shard.stem}.json"
        report.write_text(json.dumps(coverage_json(str(shard), "--preset", preset,
                                                   "--worst", "5")))  # fmt: skip
        reports.append(str(report))
    merged = coverage_json("--merge", *reports)
    assert merged["annotations"] == reports
    for key in whole:
        if key != "annotations":
            assert merged[key] == whole[key], key
    table = run("coverage", "--merge", *reports)
    assert table.exit_code == 0 and "coverage of 19 boxes" in table.stdout
    assert f"(as {preset} trains; --resize to change)" in table.stdout
    gate = run("coverage", "--merge", *reports, "--fail-under", "0.99")
    assert gate.exit_code == 1 and "under --fail-under 0.99" in gate.stderr


def test_merge_refuses_what_it_cannot_merge(tmp_path: Path) -> None:
    shards = shard_files(tmp_path, 2)
    a, b, c = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    a.write_text(json.dumps(coverage_json(str(shards[0]), "--preset", "ssd300")))
    b.write_text(json.dumps(coverage_json(str(shards[1]), "--preset", "ssd512")))
    c.write_text('{"boxes": 3}')
    other = run("coverage", "--merge", str(a), str(b))
    assert other.exit_code == 1 and "b.json: measured with other settings" in other.stderr
    assert "input_size" in other.stderr and "preset" in other.stderr
    plain = run("coverage", "--merge", str(a), str(c))
    assert plain.exit_code == 1 and "c.json: not a coverage report" in plain.stderr
    option = run("coverage", "--merge", str(a), "--preset", "ssd300")
    assert option.exit_code == 2 and "--preset: not read with --merge" in option.stderr
    two = run("coverage", str(shards[0]), str(shards[1]), "--preset", "ssd300")
    assert two.exit_code == 2 and "several only with --merge" in two.stderr


def test_a_malformed_voc_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "voc"
    folder.mkdir()
    for path in (DATA / "voc").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.xml").write_text("<annotation><size>")
    data = coverage_json(str(folder), "--preset", "ssd300")
    assert data["boxes"] == 18 and data["skipped"] == 2
    assert data["skipped_by_reason"] == {"difficult": 1, "not well-formed XML": 1}
    strict = run("coverage", str(folder), "--preset", "ssd300", "--strict")
    assert strict.exit_code == 1 and "broken.xml: not well-formed XML" in strict.stderr


def test_open_images_boxes_with_an_image_sizes_file(tmp_path: Path) -> None:
    boxes = tmp_path / "bbox.csv"
    boxes.write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
        "IsGroupOf,IsDepiction,IsInside\n"
        "a,xclick,/m/01yrx,1,0.25,0.75,0.25,0.75,0,0,0,0,0\n"
        "a,xclick,/m/01yrx,1,0,1,0,1,0,0,1,0,0\n"
    )
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("ImageID,width,height\na,600,600\n")
    data = coverage_json(str(boxes), "--image-sizes", str(sizes), "--preset", "ssd300")
    assert data["format"] == "openimages" and data["boxes"] == 1
    assert data["skipped_by_reason"] == {"IsGroupOf": 1}
    assert data["worst"][0]["box"] == [75.0, 75.0, 225.0, 225.0]  # 0.25..0.75 of 300x300
    crowd = coverage_json(str(boxes), "--image-sizes", str(sizes), "--preset", "ssd300",
                          "--include-crowd")  # fmt: skip
    assert crowd["boxes"] == 2
