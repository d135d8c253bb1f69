"""`anchorctl suggest` per level, its TOML and JSON round trips, the k table, export --suggestion."""

from __future__ import annotations

import json
from pathlib import Path

import frameworks
import numpy as np
import pytest

from anchorctl.configs import load_config
from anchorctl.suggest import template_from

from support import ROOT, run

DATA = ROOT / "tests" / "data" / "annotations"
COCO = str(DATA / "coco.json")


def write_csv(path: Path, shapes: np.ndarray, n: int, size: int = 640, seed: int = 0) -> Path:
    """A CSV of ``n`` boxes around ``shapes`` (5% jitter), anywhere in ``size`` x ``size`` images."""
    rng = np.random.default_rng(seed)
    lines = ["image,width,height,xmin,ymin,xmax,ymax"]
    for i in range(n):
        w, h = (float(v) for v in shapes[i % len(shapes)] * rng.uniform(0.95, 1.05, 2))
        x, y = float(rng.uniform(0, size - w)), float(rng.uniform(0, size - h))
        lines.append(f"img{i}.jpg,{size},{size},{x!r},{y!r},{x + w!r},{y + h!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ssd300_gets_scales_and_ratios_per_layer() -> None:
    data = json.loads(ok("suggest", COCO, "--preset", "ssd300", "--format", "json"))
    assert [len(lv["anchors"]) for lv in data["levels"]] == [4, 6, 6, 6, 4, 4]
    assert [lv["stride"] for lv in data["levels"]] == [8, 16, 32, 64, 100, 300]
    assert data["convention"] == "torchvision-ssd" and data["preset"] == "ssd300"
    assert data["objective"] == "mean-iou" and data["score"] == data["mean_iou"]
    assert data["after"]["mean_best_iou"] == data["mean_iou"] >= data["before"]["mean_best_iou"]
    assert data["free"]["score"] >= data["score"] - 1e-3
    assert "--scales" in data["options"] and "--ratios" in data["options"]


def test_yolov5_gives_three_levels_of_three(tmp_path: Path) -> None:
    shapes = np.array([[12, 16], [30, 22], [24, 48], [60, 90], [110, 70], [90, 160],
                       [220, 180], [180, 330], [400, 300]], dtype=float)  # fmt: skip
    csv = write_csv(tmp_path / "b.csv", shapes, 900)
    data = json.loads(ok("suggest", str(csv), "--preset", "yolov5", "--format", "json"))
    levels = data["levels"]
    assert [len(lv["anchors"]) for lv in levels] == [3, 3, 3]
    assert [lv["stride"] for lv in levels] == [8, 16, 32]
    np.testing.assert_allclose(np.array(data["anchors"]), shapes, rtol=0.05)
    # given back on the command line, they are three levels again, not one at stride 1024
    text = ok("suggest", str(csv), "--preset", "yolov5", "--format", "toml")
    assert text.count("[[levels]]") == 3


@pytest.mark.parametrize("preset", ["yolov5", "ssd300", "fasterrcnn-fpn", "retinanet", "tinyssd"])
def test_toml_reads_back_to_the_same_anchors(preset: str, tmp_path: Path) -> None:
    common = ("suggest", COCO, "--preset", preset, "--seed", "2")
    data = json.loads(ok(*common, "--format", "json"))
    path = tmp_path / "fitted.toml"
    path.write_text(ok(*common, "--format", "toml"))
    # --config reads it back: the anchors of every level, as the JSON lists them
    for level in data["levels"]:
        listed = json.loads(ok("list", "--config", str(path), "--level", str(level["level"]),
                               "--format", "json"))  # fmt: skip
        got = [
            [s.get("width_px", s["width"]), s.get("height_px", s["height"])]
            for s in listed["shapes"]
        ]
        np.testing.assert_allclose(got, level["anchors"], rtol=1e-6)
    config = load_config(path)
    made = template_from(config.convention, config.params).shapes()
    np.testing.assert_allclose(np.concatenate(made), np.array(data["anchors"]), rtol=1e-6)


def test_export_writes_per_level_snippets_of_a_suggestion(tmp_path: Path) -> None:
    report = tmp_path / "s.json"
    report.write_text(ok("suggest", COCO, "--preset", "yolov5", "--resize", "letterbox",
                         "--format", "json"))  # fmt: skip
    data = json.loads(report.read_text())
    result = run("export", "--suggestion", str(report), "--to", "yolo")
    assert result.exit_code == 0 and result.stderr == ""  # exact: no verdict on stderr
    assert "# exact: this config makes the 9 source shapes" in result.stdout
    # read as YOLOv5 reads its model YAML: the report's levels, strides and anchors
    built = frameworks.yolo_levels(result.stdout)
    assert [b.steps for b in built] == [(8, 8), (16, 16), (32, 32)]
    for level, want in zip(built, data["levels"], strict=True):
        np.testing.assert_allclose(level.shapes, np.array(want["anchors"]))
    # MMDetection's YOLOAnchorGenerator takes the same pairs on the same strides
    mmdet = frameworks.mmdet_levels(ok("export", "--suggestion", str(report), "--to", "mmdet"))
    by_stride = {b.steps[0]: b.shapes for b in mmdet}
    assert sorted(by_stride) == [8, 16, 32]
    for want in data["levels"]:
        np.testing.assert_allclose(by_stride[want["stride"]], np.array(want["anchors"]))
    # torchvision cannot make 9 free pairs: the snippet is approximate, and stderr says so
    approx = run("export", "--suggestion", str(report), "--to", "torchvision")
    assert approx.exit_code == 0 and "APPROXIMATE" in approx.stdout
    assert approx.stderr.startswith("anchorctl: export --to torchvision: not exact: shapes")
    bad = run("export", "--suggestion", str(report), "--preset", "yolov5", "--to", "yolo")
    assert bad.exit_code == 2 and "--suggestion FILE describes the anchors" in bad.stderr
    bad = run("export", "--suggestion", str(report), "--input-size", "640", "--to", "yolo")
    assert bad.exit_code == 2 and "drop --input-size" in bad.stderr
    (tmp_path / "x.json").write_text('{"anchors": []}')
    bad = run("export", "--suggestion", str(tmp_path / "x.json"), "--to", "yolo")
    assert bad.exit_code == 1 and "not a suggest report" in bad.stderr
    (tmp_path / "y.json").write_text("[" * 100_000)
    bad = run("export", "--suggestion", str(tmp_path / "y.json"), "--to", "yolo")
    assert bad.exit_code == 1 and "not JSON" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_k_table_scores_each_k(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "b.csv", np.array([[20, 30], [60, 40], [200, 150], [90, 300]]), 400)
    data = json.loads(ok("suggest", str(csv), "--preset", "yolov5", "--k", "3-6",
                         "--format", "json"))  # fmt: skip
    rows = data["k_table"]
    assert [r["k"] for r in rows] == [3, 4, 5, 6]
    assert [r["per_level"] for r in rows] == [[1, 1, 1], [2, 1, 1], [2, 2, 1], [2, 2, 2]]
    scores = [r["score"] for r in rows]
    assert scores[1] > scores[0]  # four shapes: the fourth anchor helps
    table = ok("suggest", str(csv), "--preset", "yolov5", "--k", "3-4")
    assert "score by k" in table and "gain" in table


def test_usage_errors_exit_2_in_one_line() -> None:
    for args, message in (
        (("--objective", "recall", "--input-size", "640x640"), "--objective recall places"),
        (("--format", "toml", "--input-size", "640x640"), "--format toml writes the model"),
        (("--preset", "ssd300", "--k", "9"), "--k"),
        (("--preset", "yolov5", "--k", "5-3"), "--k"),
        (("--preset", "yolov5", "--iou", "0"), "--iou"),
        (("--preset", "yolov5", "--anchor-t", "1"), "--anchor-t"),
    ):
        result = run("suggest", COCO, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_sampling_is_reported(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "b.csv", np.array([[20, 30], [60, 40], [200, 150]]), 300)
    data = json.loads(ok("suggest", str(csv), "--preset", "yolov5", "--sample", "100",
                         "--format", "json"))  # fmt: skip
    assert data["sample"] == {"boxes": 100, "of": 300, "seed": 0, "sampled": True}
    assert data["boxes"] == 300
    table = ok("suggest", str(csv), "--preset", "yolov5", "--sample", "100")
    assert "a seeded sample of 100 of 300 boxes" in table


def test_no_model_fits_free_anchors(tmp_path: Path) -> None:
    shapes = np.array([[20, 40], [60, 30], [120, 120]], dtype=float)
    csv = write_csv(tmp_path / "b.csv", shapes, 300, size=300)
    data = json.loads(ok("suggest", str(csv), "--input-size", "300x300", "--k", "3",
                         "--format", "json"))  # fmt: skip
    np.testing.assert_allclose(np.array(data["anchors"]), shapes, rtol=0.03)
    assert data["convention"] is None and data["before"] is None
    assert len(data["levels"]) == 1


def test_the_table_uses_the_conventions_words() -> None:
    text = ok("suggest", COCO, "--preset", "fasterrcnn-fpn")
    assert "ratio = height / width" in text  # torchvision's RULES
    assert "the constraint costs" in text
    text = ok("suggest", COCO, "--preset", "ssd-mobilenet-v1")
    assert "ratio = width / height" in text  # TensorFlow's RULES


def test_progress_stays_off_stderr_when_not_a_terminal() -> None:
    result = run("suggest", COCO, "--preset", "yolov5", "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""


def test_coverage_takes_anchor_t() -> None:
    base = ("coverage", COCO, "--preset", "yolov5", "--format", "json")
    loose = json.loads(ok(*base))
    strict = json.loads(ok(*base, "--anchor-t", "1.5"))
    assert loose["yolo_thr"] == 4.0 and strict["yolo_thr"] == 1.5
    assert strict["bpr"] < loose["bpr"]


def test_a_set_moved_to_disk_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = write_csv(tmp_path / "b.csv", np.array([[20, 30], [60, 40], [200, 150]]), 600)
    args = ("suggest", str(csv), "--preset", "yolov5", "--sample", "200", "--format", "json")
    held = ok(*args)
    monkeypatch.setattr("anchorctl.fit.boxes.HELD_BYTES", 32 * 50)  # past 50 boxes: to disk
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    moved = []
    real = __import__("anchorctl.fit.boxes", fromlist=["SpilledBoxes"]).SpilledBoxes.append

    def append(self, boxes):  # type: ignore[no-untyped-def]
        real(self, boxes)
        moved.append(self.on_disk)

    monkeypatch.setattr("anchorctl.fit.boxes.SpilledBoxes.append", append)
    assert ok(*args) == held
    assert moved and moved[-1] is True
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_named_pipe_is_read_once(tmp_path: Path) -> None:
    """The boxes are set aside as they stream in, so an input that can be read only once
    (a pipe, a process substitution) fits as a file does."""
    import os
    import threading

    csv = write_csv(tmp_path / "b.csv", np.array([[20, 30], [60, 40]]), 300)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(csv.read_bytes()), daemon=True)
    feeder.start()
    args = ("--preset", "yolov5", "--annotations-format", "csv", "--format", "json")
    from_pipe = ok("suggest", str(fifo), *args)
    feeder.join(10)
    assert from_pipe == ok("suggest", str(csv), *args)
