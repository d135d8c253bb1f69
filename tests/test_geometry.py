"""Boxes mapped to the network input: stretch, letterbox and shorter-side resizing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.annotations import Annotations, ImageRecord
from anchorctl.errors import AnchorError
from anchorctl.geometry import RESIZE_MODES, to_input


def annotations(
    images: list[tuple[int, int]], boxes: list[list[float]], which: list[int]
) -> Annotations:
    return Annotations(
        images=[ImageRecord(f"img{i}.jpg", w, h) for i, (w, h) in enumerate(images)],
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        image_index=np.array(which, dtype=np.int64),
        categories=["thing"] * len(boxes),
        skipped=[],
        format="csv",
    )


def test_modes_are_the_documented_three() -> None:
    assert RESIZE_MODES == ("stretch", "letterbox", "shorter-side")


def test_stretch_scales_each_axis_to_the_input() -> None:
    ann = annotations(
        [(640, 480), (300, 600)],
        [[64, 48, 128, 96], [0, 0, 300, 600], [30, 60, 60, 120]],
        [0, 1, 1],
    )
    boxes, sizes = to_input(ann, "stretch", (300, 300))
    np.testing.assert_allclose(
        boxes, [[30, 30, 60, 60], [0, 0, 300, 300], [30, 30, 60, 60]], rtol=1e-15
    )
    assert sizes.dtype == np.int64 and sizes.tolist() == [[300, 300]] * 3


def test_letterbox_keeps_the_aspect_and_centres_the_image() -> None:
    ann = annotations(
        [(640, 480), (1280, 720), (400, 800)],
        [[0, 0, 640, 480], [100, 100, 300, 200], [0, 0, 400, 800]],
        [0, 1, 2],
    )
    boxes, sizes = to_input(ann, "letterbox", (640, 640))
    # 640x480: s = 1, pad (640 - 480) / 2 = 80 on y; 1280x720: s = 0.5, pad (640 - 360) / 2 = 140
    # 400x800: s = 0.8, pad (640 - 320) / 2 = 160 on x
    np.testing.assert_allclose(
        boxes,
        [[0, 80, 640, 560], [50, 190, 150, 240], [160, 0, 480, 640]],
        rtol=1e-15,
    )
    assert sizes.tolist() == [[640, 640]] * 3


def test_shorter_side_gives_each_image_its_own_input() -> None:
    ann = annotations(
        [(640, 480), (2000, 500)],
        [[0, 0, 640, 480], [100, 50, 300, 250], [0, 0, 2000, 500]],
        [0, 0, 1],
    )
    boxes, sizes = to_input(ann, "shorter-side", shorter_side=(800, 1333))
    # 640x480: s = 800/480, 1066.67 -> 1067 (half up); 2000x500: s = 1333/2000 (the cap),
    # 333.25 -> 333. Boxes scale by new / old per axis.
    assert sizes.tolist() == [[1067, 800], [1067, 800], [1333, 333]]
    sx, sy = 1067 / 640, 800 / 480
    np.testing.assert_allclose(
        boxes,
        [[0, 0, 1067, 800], [100 * sx, 50 * sy, 300 * sx, 250 * sy], [0, 0, 1333, 333]],
        rtol=1e-15,
    )
    _, floor_sizes = to_input(ann, "shorter-side", shorter_side=(800, 1333), size_rounding="floor")
    assert floor_sizes.tolist() == [[1066, 800], [1066, 800], [1333, 333]]


def test_shorter_side_rounds_half_up() -> None:
    ann = annotations([(5, 2)], [[0, 0, 5, 2]], [0])  # s = 3/2 = 1.5: 7.5 x 3
    _, sizes = to_input(ann, "shorter-side", shorter_side=(3, 100))
    assert sizes.tolist() == [[8, 3]]
    _, sizes = to_input(ann, "shorter-side", shorter_side=(3, 100), size_rounding="floor")
    assert sizes.tolist() == [[7, 3]]


def test_no_boxes_give_empty_arrays() -> None:
    boxes, sizes = to_input(annotations([(10, 10)], [], []), "letterbox", (32, 32))
    assert boxes.shape == (0, 4) and sizes.shape == (0, 2)


@settings(max_examples=200, deadline=None)
@given(
    image=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    target=st.tuples(st.integers(1, 2000), st.integers(1, 2000)),
    fractions=st.tuples(*[st.floats(0, 1)] * 4),
)
def test_letterbox_invariants(
    image: tuple[int, int], target: tuple[int, int], fractions: Any
) -> None:
    """Boxes keep their aspect, and the whole image lands centred inside the input."""
    w, h = image
    fx0, fx1 = sorted(fractions[0::2])
    fy0, fy1 = sorted(fractions[1::2])
    box = [fx0 * w, fy0 * h, fx1 * w, fy1 * h]
    ann = annotations([image], [box, [0, 0, w, h]], [0, 0])
    out, _ = to_input(ann, "letterbox", target)
    s = min(target[0] / w, target[1] / h)
    np.testing.assert_allclose(out[0, 2] - out[0, 0], (box[2] - box[0]) * s, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out[0, 3] - out[0, 1], (box[3] - box[1]) * s, rtol=1e-9, atol=1e-9)
    full = out[1]
    assert full[0] >= -1e-9 and full[1] >= -1e-9
    assert full[2] <= target[0] + 1e-9 and full[3] <= target[1] + 1e-9
    np.testing.assert_allclose(full[0], target[0] - full[2], atol=1e-9)  # centred in x
    np.testing.assert_allclose(full[1], target[1] - full[3], atol=1e-9)  # and in y
    assert np.isclose(full[2] - full[0], target[0]) or np.isclose(full[3] - full[1], target[1])


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        (
            "fit",
            {"input_size": (300, 300)},
            "--resize 'fit': choose one of stretch, letterbox, shorter-side",
        ),
        ("stretch", {}, "--resize stretch needs --input-size (WxH, e.g. 300x300)"),
        ("letterbox", {"input_size": (0, 300)}, "--input-size (0, 300): expected WxH"),
        (
            "shorter-side",
            {"input_size": (300, 300)},
            "--resize shorter-side needs --shorter-side (MIN/MAX",
        ),
        (
            "shorter-side",
            {"shorter_side": (1333, 800)},
            "--shorter-side 1333/800: expected MIN <= MAX",
        ),
        (
            "shorter-side",
            {"shorter_side": (800, 1333), "size_rounding": "ceil"},
            "size rounding 'ceil'",
        ),
    ],
)
def test_bad_options_are_one_line_errors(mode: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AnchorError) as info:
        to_input(annotations([(10, 10)], [[0, 0, 5, 5]], [0]), mode, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
