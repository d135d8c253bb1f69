"""export, checked against each framework's own semantics (``frameworks.py``), not our parser.

For every source and target: the snippet is read the way the framework reads its config,
the framework's anchors are built from it for a few cells of every level, and the
snippet's claims are checked against the source's own anchors at those cells:

* ``# exact:`` means the framework builds the source's anchors: same shapes, same slot
  order, same centres and spacing;
* ``# APPROXIMATE:`` states the shapes' largest width or height error: it must be the
  error of what the framework builds;
* a ``# differs:`` line about slot order, centres or strides must be true, and nothing the
  snippet leaves unsaid may differ.
"""

from __future__ import annotations

import re
from typing import Any

import frameworks
import numpy as np
import pytest

from anchorctl import conventions, presets
from anchorctl.conventions.base import Level
from anchorctl.export import TARGETS, anchor_set_from_levels, snippet
from anchorctl.export.shapes import AnchorSet

SOURCES: dict[str, tuple[str, dict[str, Any], tuple[int, int] | None]] = {
    "detectron2 offset 0.5": (
        "detectron2",
        {"feature_maps": [(8, 10), (4, 5)], "sizes": [(32.0, 40.3), (64.0, 80.6)],
         "ratios": [(0.5, 1.0, 2.0)], "strides": [(8, 8), (16, 16)], "offset": 0.5},
        (80, 64),
    ),
    "mmdet retinanet": (
        "mmdet",
        {"feature_maps": [(8, 8), (4, 4), (2, 2)], "octave_base_scale": 4,
         "scales_per_octave": 3, "ratios": [(0.5, 1.0, 2.0)],
         "strides": [(8, 8), (16, 16), (32, 32)]},
        (64, 64),
    ),
    "mmdet centre 0.5": (
        "mmdet",
        {"feature_maps": [(6, 6), (3, 3)], "scales": (2.0,), "ratios": [(1.0, 2.0)],
         "strides": [(16, 16), (32, 32)], "center_offset": 0.5},
        (96, 96),
    ),
    "tf-grid offset": (
        "tf-grid",
        {"feature_maps": [(5, 6)], "scales": (0.5, 1.0), "ratios": (0.5, 1.0, 2.0),
         "anchor_stride": (16.0, 16.0), "anchor_offset": (8.0, 8.0)},
        (96, 80),
    ),
    "yolo grid units": (
        "yolo",
        {"feature_maps": [(10, 10), (5, 5)], "strides": [(8, 8), (16, 16)],
         "anchors": [((1.25, 1.625), (2.0, 3.75)), ((1.875, 3.8125), (3.875, 2.8125))],
         "grid_units": True},
        (80, 80),
    ),
    "keras retinanet": (
        "keras-retinanet",
        {"feature_maps": [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]},
        (64, 64),
    ),
}  # fmt: skip
PRESETS = ["fasterrcnn-fpn", "retinanet", "yolov5", "yolov3", "ssd300", "mxnet-ssd300", "tinyssd"]


def source_levels(name: str) -> tuple[list[Level], Any, tuple[int, int]]:
    if name in SOURCES:
        convention, params, size = SOURCES[name]
        module = conventions.load(convention)
        assert size is not None
        return module.generate({**params, "image_size": size}), module.RULES, size
    preset = presets.load_preset(name)
    module = conventions.load(preset.config.convention)
    return module.generate(preset.config.params), module.RULES, preset.input_size


def written_order(aset: AnchorSet, levels: list[Level], text: str) -> list[tuple[Any, Level]]:
    """The source's (anchor-set level, anchorctl level) pairs in the order the target wrote
    them: by stride, coarsest first for YOLOAnchorGenerator, finest first otherwise."""
    sign = -1.0 if "YOLOAnchorGenerator" in text else 1.0
    pairs = list(zip(aset.levels, levels, strict=True))
    if all(lv.stride is not None for lv in aset.levels):
        pairs.sort(key=lambda p: sign * float(p[0].stride or 0.0))
    return pairs


def header_strides(text: str) -> list[float]:
    match = re.search(r"^# strides \(px\): (.*)$", text, re.M)
    assert match
    return [float(v) for v in match.group(1).split(",")]


def built(
    target: str, text: str, order: list[tuple[Any, Level]], size: tuple[int, int]
) -> list[frameworks.Built]:
    if target == "torchvision":
        maps = [level.feature_map for _, level in order]
        return frameworks.torchvision_levels(text, maps, size)
    if target == "mmdet":
        return frameworks.mmdet_levels(text)
    if target == "detectron2":
        return frameworks.detectron2_levels(text, header_strides(text))
    if target == "yolo":
        return frameworks.yolo_levels(text)
    return frameworks.tf_levels(text)


def cells_of(level: Level) -> list[tuple[int, int]]:
    rows, cols = level.feature_map
    return sorted({(0, 0), (min(1, rows - 1), min(2, cols - 1)), (rows - 1, cols - 1)})


def nearest(source: np.ndarray, made: np.ndarray) -> float:
    rw = np.abs(made[None, :, 0] / source[:, None, 0] - 1)
    rh = np.abs(made[None, :, 1] / source[:, None, 1] - 1)
    return float(np.maximum(rw, rh).min(axis=1).max())


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=2e-3))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", [*PRESETS, *SOURCES])
def test_the_framework_builds_what_the_snippet_claims(name: str, target: str) -> None:
    levels, rules, size = source_levels(name)
    aset = anchor_set_from_levels(levels, rules, size)
    written = snippet(aset, target)
    text = written.text
    order = written_order(aset, levels, text)
    made = built(target, text, order, size)
    assert len(made) == len(order)
    claims = "\n".join(written.differences)
    shapes_differ = slots_differ = placed_differ = False
    worst = 0.0
    for (shape_level, level), framework in zip(order, made, strict=True):
        scale = np.array([size[0], size[1]] * 2, dtype=np.float64)
        to_px = scale if level.is_normalized(rules) else np.ones(4)
        cells = cells_of(level)
        source = level.at(cells).astype(np.float64) * to_px
        source_shapes = shape_level.array
        worst = max(worst, nearest(source_shapes, framework.shapes))
        if len(framework.shapes) != len(source_shapes):
            shapes_differ = True
            continue
        if not close(framework.shapes, source_shapes):
            if nearest(source_shapes, framework.shapes) <= 1e-5:
                slots_differ = True
            else:
                shapes_differ = True
        centre = np.array(framework.center + framework.steps)
        truth = np.array((*shape_level.center, *shape_level.steps))
        if not np.allclose(centre, truth, rtol=1e-6, atol=1e-3):
            placed_differ = True
        if close(framework.shapes, source_shapes) and not placed_differ:
            # the anchors themselves, cell by cell, from the framework's own rules
            assert close(framework.anchors(cells), source), (name, target)
    assert written.exact == (not (shapes_differ or slots_differ or placed_differ)), (
        name,
        target,
        claims,
        shapes_differ,
        slots_differ,
        placed_differ,
    )
    assert ("shapes:" in claims) == shapes_differ, (name, target, claims)
    if shapes_differ:
        stated = float(re.search(r"off by up to ([\d.]+)%", claims).group(1)) / 100  # type: ignore[union-attr]
        assert stated == pytest.approx(worst, rel=5e-3, abs=5e-6)
    else:
        assert ("slot order:" in claims) == slots_differ, (name, target, claims)
        assert ("centres:" in claims or "strides:" in claims) == placed_differ, (
            name,
            target,
            claims,
        )
    if not written.exact:
        assert written.summary.startswith(f"export --to {target}: not exact: ")


def test_fasterrcnn_fpn_to_mmdet_keeps_its_centres_and_says_the_shapes_are_approximate() -> None:
    levels, rules, size = source_levels("fasterrcnn-fpn")
    written = snippet(anchor_set_from_levels(levels, rules, size), "mmdet")
    assert "YOLOAnchorGenerator" not in written.text  # it would move every centre by stride/2
    assert "# exact:" not in written.text and not written.exact
    assert "type='AnchorGenerator'" in written.text
    assert "strides=[4, 8, 16, 32, (64, 61)]" in written.text  # torchvision's P6: 1216//19, 800//13
    made = frameworks.mmdet_levels(written.text)
    assert all(m.center == (0.0, 0.0) for m in made)  # the cell corner, as torchvision


def test_yolov5_to_mmdet_is_exact_with_the_yolo_generator() -> None:
    levels, rules, size = source_levels("yolov5")
    written = snippet(anchor_set_from_levels(levels, rules, size), "mmdet")
    assert "type='YOLOAnchorGenerator'" in written.text and written.exact
    assert "# exact:" in written.text and "centred where the source centres them" in written.text


def test_detectron2_offset_is_written_so_the_centres_match() -> None:
    levels, rules, size = source_levels("detectron2 offset 0.5")
    written = snippet(anchor_set_from_levels(levels, rules, size), "detectron2")
    assert "OFFSET: 0.5" in written.text and written.exact


def test_the_cli_says_in_one_line_when_a_snippet_is_not_exact() -> None:
    from support import run

    result = run("export", "--preset", "fasterrcnn-fpn", "--to", "yolo")
    assert result.exit_code == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not exact: centres: YOLO puts cell (0, 0)" in lines[0]
    assert "# differs: centres:" in result.stdout
    exact = run("export", "--preset", "fasterrcnn-fpn", "--to", "torchvision")
    assert exact.exit_code == 0 and exact.stderr == ""
