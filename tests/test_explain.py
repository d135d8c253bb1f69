"""`anchorctl explain` and the SSD decoding it shows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import anchorctl
from anchorctl.conventions.mxnet import MultiBoxPriorSpec
from anchorctl.decode import decode_ssd

from support import SAMPLES, run

ARGS = (
    "explain",
    "--feature-map",
    "16x16",
    "--input-size",
    "640x480",
    "--cell",
    "3,5",
    "--sizes",
    "0.2,0.5",
    "--ratios",
    "1,4,0.25",
)


def test_json_maps_the_cell_onto_the_image() -> None:
    result = run(*ARGS, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stride_px"] == [40.0, 30.0]  # 640/16, 480/16
    assert data["center"] == [(5 + 0.5) / 16, (3 + 0.5) / 16]
    assert data["center_px"] == [220.0, 105.0]
    spec = MultiBoxPriorSpec((0.2, 0.5), (1, 4, 0.25), (16, 16))
    # Pixels are the float32 anchors times the image size in float32, as `list` computes them.
    want = anchorctl.cell_anchors(spec, 3, 5) * np.array([640, 480, 640, 480], np.float32)
    assert np.array(data["anchors_px"], np.float32).tobytes() == want.tobytes()
    assert data["anchors_px"][2] == [92.0, 81.0, 348.0, 129.0]  # 256 x 48 px around (220, 105)
    assert "decoded_px" not in data


def test_text_shows_formulas_with_the_numbers() -> None:
    text = run(*ARGS).stdout
    assert "stride_x = step_x * image_w = 1/16 * 640 = 40 px" in text
    assert "cx = (col + offset_x) * step_x = (5 + 0.5) * 1/16 = 0.34375" in text
    assert "->  256 x 48 px" in text  # ratio 4: 0.4 x 0.1 of 640 x 480
    assert "Not square" in text and "128 x 96 px" in text


def test_square_when_the_map_has_the_image_aspect() -> None:
    text = run(
        "explain", "--feature-map", "12x16", "--input-size", "640x480", "--sizes", "0.2"
    ).stdout
    assert "Square:" in text and "96 x 96 px" in text


def test_deltas_decode_each_anchor_step_by_step() -> None:
    result = run(*ARGS, "--deltas", "0.5,-0.2,0.1,0", "--format", "json")
    data = json.loads(result.stdout)
    assert data["variances"] == [0.1, 0.1, 0.2, 0.2]
    for anchor, decoded in zip(data["anchors_px"], data["decoded_px"], strict=True):
        aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
        cx = (anchor[0] + anchor[2]) / 2 + 0.5 * 0.1 * aw
        cy = (anchor[1] + anchor[3]) / 2 - 0.2 * 0.1 * ah
        w, h = aw * math.exp(0.1 * 0.2), ah
        assert decoded == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    text = run(*ARGS, "--deltas", "0.5,-0.2,0.1,0").stdout
    assert "cx = 220 + 0.5 * 0.1 * 128 = 226.4" in text
    assert "w  = 128 * exp(0.1 * 0.2) = 130.586" in text


def test_custom_variances() -> None:
    got = decode_ssd((0, 0, 10, 20), (1, 1, 1, 1), (0.5, 0.5, 1, 1))
    assert (got.cx, got.cy) == (5 + 5, 10 + 10)
    assert got.w == pytest.approx(10 * math.e) and got.h == pytest.approx(20 * math.e)


def test_default_cell_is_the_centre_and_image_file_works() -> None:
    data = json.loads(
        run(
            "explain",
            "--feature-map",
            "4x4",
            "--image",
            str(SAMPLES / "cat.jpg"),
            "--format",
            "json",
        ).stdout
    )
    assert data["cell"] == [2, 2] and data["image_size"] == [451, 300]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("explain", "--feature-map", "4x4"), 2, "--input-size WxH or --image FILE"),
        (
            ("explain", "--feature-map", "4x4", "--input-size", "8x8", "--cell", "4,0"),
            2,
            "outside the 4x4",
        ),
        (("explain", "--input-size", "8x8", "--deltas", "1,2,3"), 2, "--deltas"),
        (("explain", "--input-size", "8x8", "--deltas", "0,0,9999,0"), 1, "overflows"),
        (("explain", "--input-size", "8x8", "--variances", "0,0.1,0.2,0.2"), 2, "--variances"),
    ],
)
def test_errors(args: tuple[str, ...], code: int, needle: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
