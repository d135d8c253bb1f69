"""Framework configs through the CLI: the totals the frameworks build, and one shape check per
format against the frameworks' rules (as stated in each convention's module and sources).

The configs under tests/data/configs were written for these tests in each framework's format
(see tests/data/configs/README.md); the totals are the frameworks' own, recomputed here from
their rules: RetinaNet P3-P7 and Faster R-CNN P2-P6 at 1344x800 (1333x800 padded to 32), SSD300
(38, 19, 10, 5, 3, 1 maps), TF ssd_mobilenet_v1 (19, 10, 5, 3, 2, 1 maps; the README of
tensorflow/models research/object_detection and its samples/configs) and YOLOv5s at 640.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from anchorctl import conventions
from anchorctl.configs import load_config

from support import ROOT, SAMPLES, run

CONFIGS = ROOT / "tests" / "data" / "configs"
RETINANET_MM = CONFIGS / "mmdet" / "retinanet" / "retinanet_r50_fpn_1x_coco.py"
FASTER_MM = CONFIGS / "mmdet" / "faster_rcnn" / "faster_rcnn_r50_fpn_1x_coco.py"
SSD_MM = CONFIGS / "mmdet" / "ssd" / "ssd300_coco.py"
YOLOV3_MM = CONFIGS / "mmdet" / "yolo" / "yolov3_d53_608_coco.py"
RETINANET_D2 = CONFIGS / "detectron2" / "RetinaNet" / "retinanet_R_50_FPN_1x.yaml"
FASTER_D2 = CONFIGS / "detectron2" / "RCNN" / "faster_rcnn_R_50_FPN_1x.yaml"
SSD_TF = CONFIGS / "tf" / "ssd_mobilenet_v1_coco.config"
FASTER_TF = CONFIGS / "tf" / "faster_rcnn_resnet50_coco.config"
FPN_TF = CONFIGS / "tf" / "ssd_resnet50_v1_fpn_640x640.config"
YOLOV5 = CONFIGS / "yolo" / "yolov5s.yaml"


def count_json(config: Path, *extra: str) -> dict[str, Any]:
    result = run("count", "--config", str(config), *extra, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def retinanet_total(width: int, height: int) -> int:
    """P3..P7 maps ceil(padded / 2**l), 9 anchors per cell."""
    pw, ph = math.ceil(width / 32) * 32, math.ceil(height / 32) * 32
    return sum(9 * math.ceil(ph / 2**lv) * math.ceil(pw / 2**lv) for lv in range(3, 8))


def faster_total(width: int, height: int) -> int:
    """P2..P6 maps ceil(padded / 2**l), 3 anchors per cell."""
    pw, ph = math.ceil(width / 32) * 32, math.ceil(height / 32) * 32
    return sum(3 * math.ceil(ph / 2**lv) * math.ceil(pw / 2**lv) for lv in range(2, 7))


@pytest.mark.parametrize(
    ("config", "size", "total"),
    [
        (RETINANET_MM, "1344x800", 201_600),
        (RETINANET_D2, "1344x800", 201_600),
        (FASTER_MM, "1344x800", 268_569),
        (FASTER_D2, "1344x800", 268_569),
        (SSD_MM, "300x300", 8_732),
        (SSD_TF, "300x300", 1_917),
        (YOLOV5, "640x640", 25_200),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_totals_the_frameworks_build(config: Path, size: str, total: int) -> None:
    data = count_json(config, "--input-size", size)
    assert data["total"] == total
    assert data["image_size"] == [int(v) for v in size.split("x")]


@pytest.mark.parametrize(
    ("config", "total"),
    [
        (RETINANET_MM, retinanet_total(1333, 800)),  # the test Resize scale, padded to 1344x800
        (RETINANET_D2, retinanet_total(1333, 800)),  # MAX_SIZE_TEST x MIN_SIZE_TEST
        (FASTER_MM, faster_total(1333, 800)),  # 2.x: MultiScaleFlipAug img_scale, Pad 32
        (SSD_MM, 8_732),
        (SSD_TF, 1_917),
        (YOLOV5, 25_200),
        (YOLOV3_MM, (19 * 19 + 38 * 38 + 76 * 76) * 3),  # 22,743: YOLOv3 at 608
        (FASTER_TF, math.ceil(600 / 16) * math.ceil(1024 / 16) * 12),  # 1024x600 input
        (FPN_TF, sum((640 // 2**lv) ** 2 * 6 for lv in range(3, 8))),  # 51,150
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_default_input_is_the_configs_own(config: Path, total: int) -> None:
    assert count_json(config)["total"] == total


@pytest.mark.parametrize(("width", "height"), [(800, 600), (1000, 700), (641, 479)])
def test_other_inputs_are_padded_as_the_framework_pads(width: int, height: int) -> None:
    size = f"{width}x{height}"
    pw, ph = math.ceil(width / 32) * 32, math.ceil(height / 32) * 32
    for config in (RETINANET_MM, RETINANET_D2):
        data = count_json(config, "--input-size", size)
        assert data["total"] == retinanet_total(width, height)
        assert data["image_size"] == [pw, ph]
    for config in (FASTER_MM, FASTER_D2):
        assert count_json(config, "--input-size", size)["total"] == faster_total(width, height)
    yolo = count_json(YOLOV5, "--input-size", size)
    assert yolo["total"] == sum(3 * (ph // s) * (pw // s) for s in (8, 16, 32))


def test_fixed_input_models_refuse_another_input() -> None:
    for config in (SSD_MM, SSD_TF):
        result = run("count", "--config", str(config), "--input-size", "512x512")
        assert result.exit_code == 1
        assert "resizes every image to 300x300" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# -- shapes, per format, against the frameworks' stated rules ---------------------------------


def levels(config: Path, input_size: tuple[int, int] | None = None) -> list[Any]:
    loaded = load_config(config, input_size=input_size)
    return list(conventions.load(loaded.convention).generate(loaded.params))


def extents(level: Any) -> list[tuple[float, float]]:
    return [(s.width, s.height) for s in level.shapes]


def test_yolo_shapes_strides_and_centres() -> None:
    # ultralytics/yolov5 models/yolo.py: anchors in input pixels, centre (col + 0.5) * stride
    rows = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)]]
    rows.append([(116, 90), (156, 198), (373, 326)])
    got = levels(YOLOV5)
    assert [lv.feature_map for lv in got] == [(80, 80), (40, 40), (20, 20)]
    for level, stride, row in zip(got, (8, 16, 32), rows, strict=True):
        assert level.stride == (stride, stride)
        assert level.center0 == (stride / 2, stride / 2)
        assert extents(level) == [(float(w), float(h)) for w, h in row]


def test_mmdet_retinanet_shapes_follow_anchor_generator() -> None:
    # AnchorGenerator: side base*scale, base = stride, scales 4 * 2**(i/3), ratio = h/w,
    # w = side / sqrt(r), h = side * sqrt(r); ratio outer, scale inner; centre at the corner.
    got = levels(RETINANET_MM, (1344, 800))
    assert [lv.feature_map for lv in got] == [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)]
    for level, stride in zip(got, (8, 16, 32, 64, 128), strict=True):
        want = [
            (stride * 4 * 2 ** (i / 3) / math.sqrt(r), stride * 4 * 2 ** (i / 3) * math.sqrt(r))
            for r in (0.5, 1.0, 2.0)
            for i in range(3)
        ]
        np.testing.assert_allclose(extents(level), want, rtol=1e-5)
        assert level.center0 == (0.0, 0.0)
        assert level.stride == (stride, stride)


def test_mmdet_ssd_shapes_follow_the_caffe_recipe() -> None:
    # SSDAnchorGenerator, input 300, basesize_ratio_range (0.15, 0.9): first level min 21,
    # max 45; order: min square, sqrt(min*max) square, then wide and tall per ratio (h/w 1/r, r)
    first = levels(SSD_MM)[0]
    side, big = 21.0, math.sqrt(21 * 45)
    r2 = math.sqrt(2)
    want = [(side, side), (big, big), (side * r2, side / r2), (side / r2, side * r2)]
    np.testing.assert_allclose(extents(first), want, rtol=1e-5)
    assert first.center0 == (4.0, 4.0)


def test_mmdet_yolo_lists_the_coarsest_level_first() -> None:
    got = levels(YOLOV3_MM)
    assert [lv.feature_map for lv in got] == [(19, 19), (38, 38), (76, 76)]
    assert extents(got[0]) == [(116.0, 90.0), (156.0, 198.0), (373.0, 326.0)]
    assert got[0].center0 == (16.0, 16.0)


def test_detectron2_retinanet_sizes_come_from_the_eval_comprehension() -> None:
    # DefaultAnchorGenerator: size = sqrt(area), ratio = h/w, w = sqrt(size**2 / r), h = r * w,
    # size-major order, OFFSET 0.0 (config default): centre of cell (0, 0) at the corner.
    got = levels(RETINANET_D2, (1344, 800))
    assert [lv.feature_map for lv in got] == [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)]
    for level, x in zip(got, (32, 64, 128, 256, 512), strict=True):
        sizes = [x, x * 2 ** (1.0 / 3), x * 2 ** (2.0 / 3)]
        want = [
            (math.sqrt(s * s / r), r * math.sqrt(s * s / r)) for s in sizes for r in (0.5, 1, 2)
        ]
        np.testing.assert_allclose(extents(level), want, rtol=1e-5)
        assert level.center0 == (0.0, 0.0)


def test_mmdet_and_detectron2_retinanet_make_the_same_boxes_in_another_order() -> None:
    mm, d2 = levels(RETINANET_MM, (640, 480)), levels(RETINANET_D2, (640, 480))
    for a, b in zip(mm, d2, strict=True):
        assert a.count == b.count
        rows_a = np.round(a.array.astype(np.float64), 2)
        rows_b = np.round(b.array.astype(np.float64), 2)
        assert sorted(map(tuple, rows_a)) == sorted(map(tuple, rows_b))


def test_detectron2_faster_rcnn_has_one_size_per_level() -> None:
    got = levels(FASTER_D2, (1344, 800))
    assert [lv.feature_map[0] for lv in got] == [200, 100, 50, 25, 13]
    for level, size in zip(got, (32, 64, 128, 256, 512), strict=True):
        assert [round(math.sqrt(w * h), 3) for w, h in extents(level)] == [float(size)] * 3


def test_tf_ssd_config_matches_the_preset_exactly() -> None:
    from anchorctl.presets import load_preset

    preset = load_preset("ssd-mobilenet-v1").config
    module = conventions.load("tf-ssd")
    for ours, theirs in zip(levels(SSD_TF), module.generate(preset.params), strict=True):
        assert ours.feature_map == theirs.feature_map
        np.testing.assert_array_equal(ours.array, theirs.array)
    # create_ssd_anchors: layer 0 is (0.1, 1), (0.2, 2), (0.2, 0.5), ratio = w/h, normalized
    first = levels(SSD_TF)[0]
    np.testing.assert_allclose(
        extents(first),
        [(0.1, 0.1), (0.2 * 2**0.5, 0.2 / 2**0.5), (0.2 / 2**0.5, 0.2 * 2**0.5)],
        atol=1e-3,
    )


def test_tf_grid_shapes_ratio_outer_scale_inner() -> None:
    # GridAnchorGenerator: base 256, ratio = w/h, h = s/sqrt(r)*256, w = s*sqrt(r)*256,
    # centre of cell (0, 0) at the offset (0, 0)
    (level,) = levels(FASTER_TF)
    want = [
        (s * math.sqrt(r) * 256, s / math.sqrt(r) * 256)
        for r in (0.5, 1.0, 2.0)
        for s in (0.25, 0.5, 1.0, 2.0)
    ]
    np.testing.assert_allclose(extents(level), want, rtol=1e-5)
    assert level.feature_map == (38, 64)
    assert level.center0 == (0.0, 0.0)


def test_yolo_yaml_matches_the_yolov5_preset_exactly() -> None:
    from anchorctl.presets import load_preset

    preset = load_preset("yolov5").config
    theirs = conventions.load("yolo").generate(preset.params)
    for ours, other in zip(levels(YOLOV5), theirs, strict=True):
        np.testing.assert_array_equal(ours.array, other.array)


def test_every_command_takes_a_framework_config(tmp_path: Path) -> None:
    assert run("list", "--config", str(YOLOV5), "--level", "0", "--format", "csv").exit_code == 0
    assert run("explain", "--config", str(SSD_MM), "--cell", "1,1").exit_code == 0
    exported = run("export", "--config", str(YOLOV5), "--to", "yolo")
    assert exported.exit_code == 0, exported.stderr
    assert "[10,13, 16,30, 33,23]" in exported.stdout
    listed = run("list", "--config", str(RETINANET_D2), "--all", "--format", "npy", "-o",
                 str(tmp_path / "a.npy"))  # fmt: skip
    assert listed.exit_code == 0, listed.stderr
    assert np.load(tmp_path / "a.npy").shape == (retinanet_total(1333, 800), 4)


def test_config_format_forces_the_reader(tmp_path: Path) -> None:
    odd = tmp_path / "model.txt"
    odd.write_text(YOLOV5.read_text())
    assert count_json(odd)["total"] == 25_200  # the content says YOLO
    forced = run("count", "--config", str(odd), "--config-format", "detectron2")
    assert forced.exit_code == 1
    assert "MODEL" in forced.stderr
    alone = run("count", "--config-format", "yolo", "--sizes", "0.2")
    assert alone.exit_code == 2
    assert "--config-format needs --config" in alone.stderr


# -- draw: a framework config keeps its own input; the picture is scaled to it --------------


def test_draw_lays_a_framework_config_on_its_own_input(tmp_path: Path) -> None:
    picture = str(SAMPLES / "cat.jpg")  # 451x300: neither SSD's 300 nor 640
    drawn = {}
    for name, args in {
        "ssd": ("--config", str(SSD_MM)),
        "ssd_at_300": ("--config", str(SSD_MM), "--input-size", "300"),
        "yolo": ("--config", str(YOLOV5)),
        "yolo_preset": ("--preset", "yolov5"),  # built from the same ultralytics yolov5s.yaml
    }.items():
        out = tmp_path / f"{name}.png"
        result = run("draw", picture, *args, "--level", "1", "--cell", "5,5", "-o", str(out))
        assert result.exit_code == 0, result.stderr
        drawn[name] = out.read_bytes()
    # SSD resizes every picture to 300x300: drawn on it, as when that input is named
    assert drawn["ssd"] == drawn["ssd_at_300"]
    # YOLOv5 at its own 640x640 (a 451x300 input would give 60x40 and 30x20 maps)
    assert drawn["yolo"] == drawn["yolo_preset"]


def test_draw_lays_a_toml_config_on_the_picture(tmp_path: Path) -> None:
    # anchorctl's TOML writes its feature maps out: the picture is the network input, as with
    # the anchor options, so a 64 px anchor is drawn 64 px wide whatever image_size says.
    config = tmp_path / "d2.toml"
    config.write_text(
        'convention = "detectron2"\nimage_size = [128, 128]\noffset = 0.5\n\n[[levels]]\n'
        "feature_map = [2, 2]\nsizes = [64]\nratios = [1.0]\nstrides = 128\n"
    )
    black = tmp_path / "black.png"
    Image.new("RGB", (256, 256)).save(black)
    out = tmp_path / "o.png"
    result = run("draw", str(black), "--config", str(config), "--cell", "1,1", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    lit = np.asarray(Image.open(out)).max(axis=2) > 0
    # cell (1, 1): centre (128 + 64, 128 + 64) = (192, 192), a 64 x 64 box: 160..223
    assert lit[160, 200] and lit[223, 200] and lit[200, 160] and lit[200, 223]
    assert not lit[158, 200] and not lit[225, 200]


def test_only_the_anchor_options_and_toml_follow_the_picture(tmp_path: Path) -> None:
    from anchorctl.cli.source import AnchorOptions

    toml = tmp_path / "anchors.txt"  # a TOML config under a name that does not say so
    toml.write_text(run("presets", "show", "ssd300").stdout)
    follows = {
        "options": AnchorOptions(),
        "toml, told by --config-format": AnchorOptions(config_file=toml, config_format="toml"),
    }
    keeps_its_own = {
        "preset": AnchorOptions(preset="ssd300"),
        "mmdet": AnchorOptions(config_file=SSD_MM),
        "yolo": AnchorOptions(config_file=YOLOV5),
        "tf": AnchorOptions(config_file=SSD_TF),
        "detectron2": AnchorOptions(config_file=RETINANET_D2),
        "--input-size given": AnchorOptions(input_size=(300, 300)),
    }
    assert all(request.follows_picture() for request in follows.values())
    assert not any(request.follows_picture() for request in keeps_its_own.values())


# -- where the anchors came from: list and count say it ---------------------------------------


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (RETINANET_MM, "model.bbox_head.anchor_generator"),
        (RETINANET_D2, "MODEL.ANCHOR_GENERATOR"),
        (SSD_TF, "model.ssd.anchor_generator.ssd_anchor_generator"),
        (YOLOV5, "'anchors'"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else None,
)
def test_list_and_count_name_the_file_and_key_the_anchors_came_from(config: Path, key: str) -> None:
    origin = load_config(config).origin
    assert config.name in origin and key in origin
    for command, extra in (("count", ()), ("list", ()), ("list", ("--level", "0"))):
        table = run(command, "--config", str(config), *extra)
        assert table.exit_code == 0, table.stderr
        assert table.stdout.splitlines()[0].startswith(f"{origin} · ")
        data = json.loads(run(command, "--config", str(config), *extra, "--format", "json").stdout)
        assert data["config_origin"] == origin


def test_anchors_not_from_a_framework_config_have_no_origin(tmp_path: Path) -> None:
    toml = tmp_path / "yolov5.toml"
    toml.write_text(run("presets", "show", "yolov5").stdout)
    for source in (("--preset", "yolov5"), ("--config", str(toml)), ("--sizes", "0.2")):
        for command in ("count", "list"):
            data = json.loads(run(command, *source, "--format", "json").stdout)
            assert data["config_origin"] is None
            title = run(command, *source).stdout.splitlines()[0]
            assert "config" not in title and "model" not in title
