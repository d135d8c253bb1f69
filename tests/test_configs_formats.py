"""Each reader's rules: format detection, MMEngine and Detectron2 inheritance, YOLO stride
tracing, TF extractors and resizers, and the public ``load_config``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import anchorctl
from anchorctl import conventions
from anchorctl.configs import detect, load_config
from anchorctl.configs.toml import Config
from anchorctl.errors import AnchorError

from support import ROOT

CONFIGS = ROOT / "tests" / "data" / "configs"


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path / next(iter(files))


def total(config: Config) -> int:
    return sum(lv.count for lv in conventions.load(config.convention).generate(config.params))


# -- the public API and format detection ---------------------------------------------------------


def test_load_config_is_public_and_lazy() -> None:
    assert anchorctl.load_config is load_config
    config = anchorctl.load_config(CONFIGS / "yolo" / "yolov5s.yaml", input_size=(320, 256))
    assert isinstance(config, anchorctl.Config)
    assert config.convention == "yolo"
    assert config.params["image_size"] == (320, 256)
    assert config.feature_maps == [(32, 40), (16, 20), (8, 10)]
    assert "yolov5s.yaml" in config.origin and "traced" in config.origin


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.toml", "convention = 'yolo'\n", "toml"),
        ("a.txt", "[[levels]]\nfeature_map = [1, 1]\n", "toml"),
        ("a.txt", "_base_ = './b.py'\n", "mmdet"),
        ("a", "model = dict(type='X')\n", "mmdet"),
        ("a.cfg", "model {\n  ssd {}\n}\n", "tf"),
        ("a.yaml", "MODEL:\n  X: 1\n", "detectron2"),
        ("a", "_BASE_: b.yaml\n", "detectron2"),
        ("a.txt", "anchors:\n  - [1, 2]\n", "yolo"),
        ("a.yml", "other: 1\n", "yaml"),
        ("a.pbtxt", "x: 1\n", "tf"),
        ("a.yaml", "anchors: [[1, 2]]\nmodel: {a: 1}\n", "yolo"),  # not protobuf: it is .yaml
        ("a.yaml", "model {\n ssd {}\n}\n", "tf"),  # only protobuf signs: the content wins
    ],
)
def test_detect_by_content_then_extension(name: str, text: str, expected: str) -> None:
    assert detect(Path(name), text) == expected


def test_format_of_names_what_load_config_reads() -> None:
    from anchorctl.configs import format_of

    assert format_of(CONFIGS / "yolo" / "yolov5s.yaml") == "yolo"
    assert format_of(CONFIGS / "detectron2" / "Base-RetinaNet.yaml") == "detectron2"
    assert format_of(CONFIGS / "mmdet" / "ssd" / "ssd300_coco.py") == "mmdet"
    assert format_of(CONFIGS / "tf" / "ssd_mobilenet_v1_coco.config") == "tf"
    assert format_of(CONFIGS / "yolo" / "yolov5s.yaml", "detectron2") == "detectron2"


def test_undetectable_asks_for_the_format(tmp_path: Path) -> None:
    path = write(tmp_path, {"notes.txt": "hello\n"})
    with pytest.raises(
        AnchorError, match=re.escape("--config-format toml|yolo|mmdet|detectron2|tf")
    ):
        load_config(path)
    with pytest.raises(AnchorError, match="config format 'xml': choose one of"):
        load_config(path, fmt="xml")
    yaml = write(tmp_path, {"other.yaml": "other: 1\n"})
    with pytest.raises(AnchorError, match="neither a YOLO model"):
        load_config(yaml)


def test_toml_takes_the_input_size_as_its_image_size(tmp_path: Path) -> None:
    path = write(tmp_path, {"a.toml": "convention = 'yolo'\n[[levels]]\nfeature_map = [2, 2]\n"})
    assert load_config(path, input_size=(64, 64)).params["image_size"] == (64, 64)
    assert "image_size" not in load_config(path).params


# -- MMDetection: MMEngine's inheritance ---------------------------------------------------------

MM_BASE = """norm = dict(type='BN')
anchor = dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=[16, 32])
model = dict(
    neck=dict(type='FPN', num_outs=2),
    rpn_head=dict(anchor_generator=anchor, norm=norm),
    data_preprocessor=dict(pad_size_divisor=32))
test_pipeline = [dict(type='Resize', scale=(640, 480), keep_ratio=True)]
"""


def test_mmdet_child_dicts_merge_into_the_base(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "child.py": "_base_ = './base.py'\n"
            "model = dict(rpn_head=dict(anchor_generator=dict(ratios=[1.0])))\n",
            "base.py": MM_BASE,
        },
    )
    config = load_config(path)
    assert config.params["ratios"] == [(1.0,)]
    assert config.params["scales"] == (8.0,)  # kept from the base
    assert config.feature_maps == [(30, 40), (15, 20)]


def test_mmdet_delete_replaces_the_base_dict(tmp_path: Path) -> None:
    child = (
        "_base_ = ['base.py']\n"
        "model = dict(rpn_head=dict(anchor_generator=dict(_delete_=True, "
        "type='AnchorGenerator', octave_base_scale=4, scales_per_octave=2, strides=[16, 32])))\n"
    )
    config = load_config(write(tmp_path, {"child.py": child, "base.py": MM_BASE}))
    assert "scales" not in config.params  # merging would have kept scales=[8] and failed
    assert config.params["octave_base_scale"] == 4.0
    assert "ratios" not in config.params  # the class default, 0.5, 1, 2


def test_mmdet_base_references_and_names(tmp_path: Path) -> None:
    child = (
        "_base_ = './base.py'\n"
        "strides = {{_base_.anchor.strides}}\n"
        "strides += [64]\n"
        "scale: int = _base_.anchor.scales[0] // 2\n"
        "model = dict(neck=dict(num_outs=len_), rpn_head=dict(anchor_generator=dict("
        "strides=strides, scales=[scale])))\n"
    ).replace("len_", "3")
    config = load_config(write(tmp_path, {"child.py": child, "base.py": MM_BASE}))
    assert config.params["scales"] == (4.0,)
    assert [s[0] for s in config.params["strides"]] == [16.0, 32.0, 64.0]


def test_mmdet_strides_are_w_h_and_the_scope_prefix_is_read(tmp_path: Path) -> None:
    text = MM_BASE.replace("type='AnchorGenerator'", "type='mmdet.AnchorGenerator'").replace(
        "strides=[16, 32]", "strides=[(16, 8), 32]"
    )
    config = load_config(write(tmp_path, {"a.py": text}))
    assert config.params["strides"] == [(8.0, 16.0), (32.0, 32.0)]  # anchorctl: y, x
    assert config.feature_maps == [(60, 40), (15, 20)]


def test_mmdet_prior_generator_and_refused_centers(tmp_path: Path) -> None:
    text = MM_BASE.replace("rpn_head=dict(anchor_generator=", "bbox_head=dict(prior_generator=")
    assert load_config(write(tmp_path, {"a.py": text})).convention == "mmdet"
    centers = MM_BASE.replace("strides=[16, 32])", "strides=[16, 32], centers=[(0, 0), (0, 0)])")
    with pytest.raises(AnchorError, match=r"anchor_generator.centers: explicit centres"):
        load_config(write(tmp_path, {"b.py": centers}))


def test_mmdet_two_x_pad_and_scale(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "mmdet" / "faster_rcnn" / "faster_rcnn_r50_fpn_1x_coco.py")
    assert config.params["image_size"] == (1344, 800)
    assert "test Resize scale 1333x800 padded to 1344x800" in config.origin


# -- Detectron2 ----------------------------------------------------------------------------------


def test_detectron2_c4_has_no_padding(tmp_path: Path) -> None:
    path = write(tmp_path, {"c4.yaml": "MODEL:\n  WEIGHTS: x\n"})
    config = load_config(path)  # defaults: GeneralizedRCNN, RPN on res4, 5 sizes x 3 ratios
    assert config.feature_maps == [(math.ceil(800 / 16), math.ceil(1333 / 16))]
    assert total(config) == 50 * 84 * 15
    assert config.params["image_size"] == (1333, 800)


def test_detectron2_rotated_anchors_and_broadcast_sizes(tmp_path: Path) -> None:
    text = (
        "MODEL:\n  META_ARCHITECTURE: RetinaNet\n  BACKBONE: {NAME: build_retinanet_resnet_fpn_backbone}\n"
        "  ANCHOR_GENERATOR:\n    NAME: RotatedAnchorGenerator\n    SIZES: [32, 64]\n"
        "    ANGLES: [[-60, 0, 60]]\n    OFFSET: 0.5\n"
    )
    config = load_config(write(tmp_path, {"r.yaml": text}), input_size=(256, 256))
    levels = conventions.load("detectron2").generate(config.params)
    assert [lv.per_cell for lv in levels] == [2 * 3 * 3] * 5
    assert levels[0].center0 == (4.0, 4.0)  # OFFSET 0.5 of stride 8


def test_detectron2_bases_merge_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "child.yaml": "_BASE_: [one.yaml, two.yaml]\nMODEL:\n  ANCHOR_GENERATOR: {OFFSET: 0.25}\n",
            "one.yaml": "MODEL:\n  ANCHOR_GENERATOR: {SIZES: [[16]], OFFSET: 0.1}\n",
            "two.yaml": "MODEL:\n  ANCHOR_GENERATOR: {SIZES: [[24]]}\n",
        },
    )
    config = load_config(path)
    assert config.params["sizes"] == [(24.0,)]
    assert config.params["offset"] == 0.25


def test_detectron2_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"k.yaml": "MODEL:\n  ANCHOR_GENERATOR: {SIZE: [[32]]}\n"})
    with pytest.raises(AnchorError, match=r"MODEL.ANCHOR_GENERATOR.SIZE is not a Detectron2 key"):
        load_config(path)


# -- YOLO: strides traced through the layers -----------------------------------------------------

P2_MODEL = """nc: 80
anchors:
  - [4,5, 8,10, 13,16]
  - [10,13, 16,30, 33,23]
  - [30,61, 62,45, 59,119]
  - [116,90, 156,198, 373,326]
backbone:
  [[-1, 1, Focus, [32, 3]],
   [-1, 1, Conv, [64, 3, 2]],
   [-1, 3, BottleneckCSP, [64]],
   [-1, 1, Conv, [128, 3, 2]],
   [-1, 1, Conv, [256, 3, 2]],
   [-1, 1, Conv, [512, 3, 2]],
   [-1, 1, SPP, [512, [5, 9, 13]]]]
head:
  [[-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 4], 1, Concat, [1]],
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 3], 1, Concat, [1]],
   [-1, 1, nn.Upsample, [None, 2, 'nearest']],
   [[-1, 2], 1, Concat, [1]],
   [[11, 9, 7, 6], 1, Detect, [nc, anchors]]]
"""


def test_yolo_strides_are_traced_through_the_layers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"p2.yaml": P2_MODEL}))
    assert [s[0] for s in config.params["strides"]] == [4.0, 8.0, 16.0, 32.0]
    assert config.feature_maps == [(160, 160), (80, 80), (40, 40), (20, 20)]


def test_yolov3_tiny_max_pools_and_two_levels() -> None:
    config = load_config(CONFIGS / "yolo" / "yolov3-tiny.yaml", input_size=(416, 416))
    assert [s[0] for s in config.params["strides"]] == [16.0, 32.0]
    assert total(config) == (26 * 26 + 13 * 13) * 3  # 2,535 boxes at 416


def test_yolo_untraceable_layers_use_the_standard_strides(tmp_path: Path) -> None:
    text = P2_MODEL.replace("Focus", "MyStem")
    config = load_config(write(tmp_path, {"odd.yaml": text}), input_size=(600, 600))
    assert [s[0] for s in config.params["strides"]] == [8.0, 16.0, 32.0, 64.0]
    assert config.params["image_size"] == (640, 640)  # padded to the largest stride, 64
    assert "standard strides" in config.origin


def test_yolo_rows_must_hold_pairs(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match=r"key 'anchors' row 0: expected \[w0,h0"):
        load_config(write(tmp_path, {"a.yaml": "anchors:\n  - [10, 13, 16]\n"}))
    with pytest.raises(AnchorError, match="every row needs the same number of anchors"):
        load_config(write(tmp_path, {"b.yaml": "anchors:\n  - [1, 2]\n  - [1, 2, 3, 4]\n"}))
    with pytest.raises(AnchorError, match=r"row 0: -1 is not a positive number"):
        load_config(write(tmp_path, {"c.yaml": "anchors:\n  - [-1, 2]\n"}))


# -- TF Object Detection API ---------------------------------------------------------------------

TF = """model {{
  ssd {{
    image_resizer {{ {resizer} }}
    feature_extractor {{ type: "ssd_mobilenet_v2" {extra} }}
    anchor_generator {{ ssd_anchor_generator {{ num_layers: 6 aspect_ratios: [1.0, 2.0, 0.5]
      {generator} }} }}
  }}
}}
"""


def test_tf_keep_aspect_ratio_and_padding(tmp_path: Path) -> None:
    keep = "keep_aspect_ratio_resizer { min_dimension: 320 max_dimension: 512 }"
    config = load_config(
        write(tmp_path, {"a.config": TF.format(resizer=keep, extra="", generator="")})
    )
    assert config.params["image_size"] == (512, 320)
    assert config.feature_maps[:2] == [(20, 32), (10, 16)]
    padded = TF.format(resizer=keep, extra="pad_to_multiple: 64", generator="")
    config = load_config(write(tmp_path, {"b.config": padded}), input_size=(500, 300))
    assert config.params["image_size"] == (512, 320)
    square = keep.replace("}", "pad_to_max_dimension: true }")
    config = load_config(
        write(tmp_path, {"c.config": TF.format(resizer=square, extra="", generator="")})
    )
    assert config.params["image_size"] == (512, 512)


def test_tf_strides_and_offsets_per_layer(tmp_path: Path) -> None:
    fixed = "fixed_shape_resizer { height: 300 width: 300 }"
    strides = "height_stride: [16, 32, 64, 100, 150, 300] width_stride: [16, 32, 64, 100, 150, 300]"
    config = load_config(
        write(tmp_path, {"s.config": TF.format(resizer=fixed, extra="", generator=strides)})
    )
    assert config.params["anchor_strides"][0] == (16.0, 16.0)
    wrong = "height_stride: [16] width_stride: [16]"
    with pytest.raises(AnchorError, match="need one value per layer"):
        load_config(
            write(tmp_path, {"w.config": TF.format(resizer=fixed, extra="", generator=wrong)})
        )


def test_tf_needs_an_input_size_without_a_resizer(tmp_path: Path) -> None:
    text = TF.format(resizer="identity_resizer {}", extra="", generator="")
    path = write(tmp_path, {"i.config": text})
    with pytest.raises(AnchorError, match="does not fix the input size"):
        load_config(path)
    # three ratios and the interpolated box on layers 1-5, the reduced three on layer 0
    assert total(load_config(path, input_size=(300, 300))) == 19 * 19 * 3 + 4 * (
        100 + 25 + 9 + 4 + 1
    )


def test_tf_feature_maps_reuse_the_preset_rules() -> None:
    from anchorctl.presets import load_preset

    ours = load_config(CONFIGS / "tf" / "ssd_mobilenet_v1_coco.config")
    assert ours.feature_maps == load_preset("ssd-mobilenet-v1").config.feature_maps
