"""--convention, --preset, --config, --level and --box-format across list, draw and explain."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anchorctl import conventions, presets
from anchorctl.cli.options import convention_options

from support import SAMPLES, load_vector, run


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_conventions_lists_every_one_with_what_it_reads() -> None:
    data = json.loads(run("conventions", "--format", "json").stdout)
    assert [row["name"] for row in data] == list(conventions.MODULES)
    torchvision = next(row for row in data if row["name"] == "torchvision")
    assert torchvision["ratio_meaning"] == "height / width"
    assert [o["name"] for o in torchvision["options"]] == ["sizes", "ratios", "strides"]
    shown = run("conventions", "show", "caffe-ssd")
    assert shown.exit_code == 0 and "--min-sizes" in shown.stdout and "--flip" in shown.stdout
    assert run("conventions", "show", "caffe").exit_code == 2


def test_conventions_show_says_what_bit_exactness_depends_on() -> None:
    # torch's float32 sqrt is not correctly rounded on every CPU; each convention that takes
    # it says so where its rules are shown, and one without such a caveat says nothing
    for name in ("torchvision", "mmdet", "d2l", "detectron2"):
        rules = conventions.load(name).RULES
        assert rules.exactness
        shown = run("conventions", "show", name).stdout
        assert f"  bit-exact:      {rules.exactness}" in shown, name
    assert "bit-exact:" not in run("conventions", "show", "mxnet").stdout


def test_every_convention_option_is_a_command_line_option() -> None:
    for name, readers in convention_options().items():
        convention, option = readers[0]
        value = () if option.kind == "flag" else ("x",)
        result = run("list", "--convention", convention, f"--{name.replace('_', '-')}", *value)
        assert "No such option" not in result.stderr, name
    assert "No such option" in run("list", "--no-such-option", "1").stderr


def test_an_option_the_convention_does_not_read_is_refused() -> None:
    result = run("list", "--convention", "torchvision", "--sizes", "32", "--flip")
    assert result.exit_code == 2
    assert "--flip: not read by the torchvision convention (it reads --sizes" in result.stderr


def test_ratio_definition_shows_in_the_numbers() -> None:
    # ratio 2: torchvision (h/w) makes a tall box, TF (w/h) a wide one.
    tv = rows(run("list", "--convention", "torchvision", "--sizes", "32", "--ratios", "2",
                  "--input-size", "64x64", "--format", "csv").stdout)  # fmt: skip
    assert tv[0] == ["slot", "size", "ratio", "width", "height"] and tv[1][3:] == ["22", "46"]
    tf = rows(run("list", "--convention", "tf-grid", "--scales", "0.125", "--ratios", "2",
                  "--format", "csv").stdout)  # fmt: skip
    width, height = (float(v) for v in tf[1][-2:])
    assert width > height


def test_box_format_native_is_yxyx_for_tensorflow() -> None:
    args = ("list", "--preset", "ssd-mobilenet-v1", "--level", "5", "--all", "--format", "csv")
    xyxy = rows(run(*args).stdout)
    native = rows(run(*args, "--box-format", "native").stdout)
    assert xyxy[0][4:8] == ["xmin", "ymin", "xmax", "ymax"]
    assert native[0][4:8] == ["ymin", "xmin", "ymax", "xmax"]
    assert native[0][8:] == ["ymin_px", "xmin_px", "ymax_px", "xmax_px"]
    for a, b in zip(xyxy[1:], native[1:], strict=True):
        assert [a[4], a[5], a[6], a[7]] == [b[5], b[4], b[7], b[6]]
    centres = rows(run(*args, "--box-format", "cxcywh").stdout)
    assert centres[0][4:8] == ["cx", "cy", "w", "h"]


def test_level_selects_one_level_and_keeps_global_indices() -> None:
    data = json.loads(run("list", "--preset", "ssd300", "--level", "1", "--json").stdout)
    (level,) = data["levels"]
    assert level["level"] == 1 and level["feature_map"] == [19, 19]
    assert level["first_index"] == 38 * 38 * 4 and level["per_cell"] == 6
    assert run("list", "--preset", "ssd300", "--level", "6").exit_code == 2


def test_all_anchors_of_a_preset_are_the_library_s(tmp_path: Path) -> None:
    target = tmp_path / "a.npy"
    assert run("list", "--preset", "retinanet", "--format", "npy", "-o", str(target)).exit_code == 0
    preset = presets.load_preset("retinanet")
    levels = conventions.load("torchvision").generate(preset.config.params)
    want = np.concatenate([lv.array for lv in levels])
    assert np.load(target).tobytes() == want.tobytes() and len(want) == 182403


def test_a_config_file_drives_list(tmp_path: Path) -> None:
    config = tmp_path / "frcnn.toml"
    config.write_text(run("presets", "show", "faster-rcnn").stdout)
    via_config = run("list", "--config", str(config), "--json").stdout
    via_preset = run("list", "--preset", "faster-rcnn", "--json").stdout
    assert json.loads(via_config)["shapes"] == json.loads(via_preset)["shapes"]
    assert json.loads(via_config)["shapes"][0]["width"] == 184  # py-faster-rcnn's 184 x 96


def test_explain_any_convention_in_pixels() -> None:
    data = json.loads(run("explain", "--preset", "fasterrcnn-fpn", "--level", "4", "--cell",
                          "0,0", "--format", "json").stdout)  # fmt: skip
    assert data["stride_px"] == [64.0, 61.0]  # 1216 // 19, 800 // 13
    assert data["center_px"] == [0.0, 0.0]  # torchvision centres sit on the cell corner
    assert data["anchors_px"][1] == [-256.0, -256.0, 256.0, 256.0]
    text = run("explain", "--preset", "fasterrcnn-fpn", "--level", "4", "--cell", "0,0").stdout
    assert "top-left corner of the cell" in text and "512 x 512 px" in text


def test_draw_a_pixel_convention_at_its_true_size(tmp_path: Path) -> None:
    black = tmp_path / "black.png"
    Image.new("RGB", (256, 256)).save(black)
    out = tmp_path / "o.png"
    result = run("draw", str(black), "--convention", "detectron2", "--sizes", "64",
                 "--ratios", "1", "--strides", "128", "--offset", "0.5", "--feature-map", "2x2",
                 "--cell", "1,1", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    lit = np.asarray(Image.open(out)).max(axis=2) > 0
    # cell (1, 1): centre (128 + 64, 128 + 64) = (192, 192), a 64 x 64 box: 160..223
    assert lit[160, 200] and lit[223, 200] and lit[200, 160] and lit[200, 223]
    assert not lit[158, 200] and not lit[225, 200]


def test_draw_a_preset_level_on_a_sample(tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    result = run("draw", str(SAMPLES / "coffee.jpg"), "--preset", "ssd300", "--level", "4",
                 "--grid", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    # the image whole; its legend below when level 4's large anchors leave no corner free
    width, height = Image.open(out).size
    assert width == 600 and height >= 400


@pytest.mark.parametrize("name", list(conventions.MODULES))
def test_every_convention_lists_from_its_defaults_or_says_what_it_needs(name: str) -> None:
    result = run("list", "--convention", name, "--feature-map", "2x2", "--input-size", "64x64",
                 "--format", "json")  # fmt: skip
    if result.exit_code == 0:
        data = json.loads(result.stdout)
        assert data["convention"] == name and data["per_cell"] >= 1
    else:
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert "\n" not in line and "--" in line and "Traceback" not in line


def test_native_gluoncv_boxes_are_gluoncv_s_own_centre_form() -> None:
    """GluonCV SSD outputs (cx, cy, w, h); --box-format native gives exactly those numbers."""
    recorded = load_vector("gluoncv_ssd_anchor/vgg300_layer0_3x3.json")
    params = recorded["params"]
    rows_, cols = recorded["feature_shape"]
    result = run(
        "list", "--convention", "gluoncv-ssd", "--sizes", ",".join(map(str, params["sizes"])),
        "--ratios", ",".join(map(str, params["ratios"])), "--steps", str(params["step"]),
        "--feature-map", f"{rows_}x{cols}", "--input-size", "300x300", "--all",
        "--box-format", "native", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0][3:] == ["cx", "cy", "w", "h"]
    got = np.array([r[3:] for r in table[1:]], dtype=np.float32)
    assert got.tobytes() == np.array(recorded["anchors"], dtype=np.float32).tobytes()


def test_explain_variances_are_the_decoder_s_for_every_convention() -> None:
    args = ("explain", "--feature-map", "16x16", "--input-size", "640x480", "--cell", "3,5",
            "--sizes", "0.2", "--deltas", "1,1,1,1", "--format", "json")  # fmt: skip
    default = json.loads(run(*args).stdout)
    doubled = json.loads(run(*args, "--variances", "0.2,0.2,0.4,0.4").stdout)
    assert doubled["variances"] == [0.2, 0.2, 0.4, 0.4]
    before, after = default["decoded_px"][0], doubled["decoded_px"][0]
    assert after[2] - after[0] > before[2] - before[0]  # w = aw * exp(dw * v2) grows with v2


def test_padded_presets_use_the_padded_input_for_strides() -> None:
    # 1333x800 is padded to 1344x800 by torchvision: level 0 is 200 x 336, stride 4 both ways.
    data = json.loads(run("count", "--preset", "fasterrcnn-fpn", "--input-size", "1333x800",
                          "--format", "json").stdout)  # fmt: skip
    assert data["levels"][0]["feature_map"] == [200, 336]
    assert data["levels"][0]["stride"] == [4.0, 4.0]
    assert data["levels"][4]["stride"] == [800 // 13, 1344 // 21]  # [y, x] like feature_map
    last = rows(run("list", "--preset", "fasterrcnn-fpn", "--input-size", "1333x800", "--level",
                    "0", "--all", "--format", "csv").stdout)[-1]  # fmt: skip
    x0, x1 = float(last[4]), float(last[6])
    assert (x0 + x1) / 2 == 335 * 4  # torchvision's centre of the last column


def test_rotated_detectron2_anchors_in_their_native_form(tmp_path: Path) -> None:
    args = ("list", "--convention", "detectron2", "--sizes", "32", "--ratios", "0.5",
            "--strides", "8", "--angles", "45,0", "--feature-map", "1x2", "--all")  # fmt: skip
    table = rows(run(*args, "--box-format", "native", "--format", "csv").stdout)
    assert table[0] == ["row", "col", "slot", "cx", "cy", "w", "h", "angle"]
    # size 32, ratio 0.5 (h/w): w = sqrt(32^2 / 0.5) = 45.25, h = 22.63; centre of cell (0, 1)
    # at (8, 0) with Detectron2's config offset 0
    assert [float(v) for v in table[3][3:]] == pytest.approx([8.0, 0.0, 45.254833, 22.627417, 45.0])
    target = tmp_path / "r.npy"
    assert run(*args, "--box-format", "native", "--format", "npy", "-o", str(target)).exit_code == 0
    assert np.load(target).shape == (4, 5)
    plain = rows(run(*args, "--format", "csv").stdout)
    assert plain[0][3:] == ["xmin", "ymin", "xmax", "ymax"]


def test_a_fixed_input_preset_refuses_another_size_as_a_usage_error() -> None:
    result = run("list", "--preset", "ssd300", "--input-size", "640x480")
    assert result.exit_code == 2 and "resizes every input to 300x300" in result.stderr
