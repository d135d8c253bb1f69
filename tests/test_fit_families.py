"""Every convention's grammar (anchorctl.fit.families) against the convention's own generate.

The fit searches a fast model of each convention's shapes (a linear map in log space); these
tests pin that model to what ``generate`` makes from the parameters the grammar writes, for
the current config and for random moves away from it, on every preset and on a config of
every other convention family.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from anchorctl import conventions
from anchorctl.errors import AnchorError
from anchorctl.fit.families import Template, grammar
from anchorctl.presets import load_preset, names
from anchorctl.suggest import template_from

# Conventions that round their shapes to whole pixels: the fast model is the unrounded one.
ROUNDING = {
    "torchvision": 0.07,  # half extents rounded to whole pixels: 22.6 px -> 22
    "py-faster-rcnn": 0.1,  # ratio windows rounded, inclusive widths
    "gluoncv-rpn": 0.1,
    "caffe-ssd": 0.02,  # min and max sizes truncated to whole pixels
    "yolo": 0.01,  # pairs written to 0.1 px
    "mmdet": 0.002,
}
DEFAULT_TOL = 0.002  # 4 significant digits of the written values, and float32
BY_NAME = {"mmdet-yolo": 0.01}  # YOLOAnchorGenerator pairs, written to 0.1 px as YOLO's


def _tol(name: str, template: Template) -> float:
    return BY_NAME.get(name, ROUNDING.get(template.convention, DEFAULT_TOL))


CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "mmdet-retinanet": ("mmdet", {
        "octave_base_scale": 4.0, "scales_per_octave": 3, "ratios": [(0.5, 1.0, 2.0)],
        "strides": [(8.0, 8.0), (16.0, 16.0), (32.0, 32.0)],
        "feature_maps": [(80, 80), (40, 40), (20, 20)], "image_size": (640, 640),
    }),
    "mmdet-yolo": ("mmdet", {
        "yolo": True, "yolo_base_sizes": [((116, 90), (156, 198)), ((30, 61), (62, 45))],
        "strides": [(32.0, 32.0), (16.0, 16.0)],
        "feature_maps": [(13, 13), (26, 26)], "image_size": (416, 416),
    }),
    "mmdet-ssd": ("mmdet", {
        "ssd": True, "scale_major": False, "input_size": 300,
        "feature_maps": [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)],
        "image_size": (300, 300),
    }),
    "keras-retinanet": ("keras-retinanet", {
        "feature_maps": [(64, 64), (32, 32), (16, 16)], "image_size": (512, 512),
        "pyramid_levels": [3, 4, 5],
    }),
    "tf-multiscale": ("tf-multiscale", {
        "min_level": 3, "anchor_scale": 4.0, "scales_per_octave": 2,
        "feature_maps": [(80, 80), (40, 40), (20, 20)], "image_size": (640, 640),
    }),
    "detectron2": ("detectron2", {
        "sizes": [(32.0,), (64.0,), (128.0,)], "ratios": [(0.5, 1.0, 2.0)],
        "feature_maps": [(100, 152), (50, 76), (25, 38)], "image_size": (1216, 800),
    }),
    "gluoncv-rpn": ("gluoncv-rpn", {
        "strides": [16], "feature_maps": [(38, 50)], "image_size": (800, 600),
    }),
    "caffe-ssd": ("caffe-ssd", {
        "min_sizes": [(30.0,), (60.0,)], "max_sizes": [(60.0,), (111.0,)],
        "ratios": [(2.0,), (2.0, 3.0)], "steps": [(8.0, 8.0), (16.0, 16.0)],
        "feature_maps": [(38, 38), (19, 19)], "image_size": (300, 300),
    }),
    "gluoncv-ssd-lite": ("gluoncv-ssd", {
        "sizes": [(60.0, 105.0), (105.0, 150.0)], "ratios": [(1.0, 2.0, 0.5)], "steps": [16, 32],
        "lite": True, "feature_maps": [(20, 20), (10, 10)], "image_size": (320, 320),
    }),
    "tf-grid": ("tf-grid", {"feature_maps": [(38, 50)], "image_size": (800, 600)}),
    "tf-ssd-no-reduce": ("tf-ssd", {
        "reduce_boxes_in_lowest_layer": False, "ratios": (1.0, 2.0, 0.5),
        "feature_maps": [(19, 19), (10, 10), (5, 5)], "image_size": (300, 300),
    }),
    "mxnet-wide-map": ("mxnet", {
        "sizes": [(0.2, 0.3)], "ratios": [(1.0, 2.0, 0.5)],
        "feature_maps": [(10, 20)], "image_size": (640, 320),
    }),
}  # fmt: skip


def _templates() -> list[tuple[str, Template]]:
    out = []
    for name in names():
        preset = load_preset(name)
        out.append((name, template_from(preset.config.convention, dict(preset.config.params))))
    for name, (convention, params) in CONFIGS.items():
        out.append((name, template_from(convention, params)))
    return out


TEMPLATES = _templates()


def _nearest_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative side error of each shape of either set against the other's nearest."""
    d = np.abs(np.log(a[:, None, :] / b[None, :, :])).max(axis=2)
    return float(max(d.min(axis=0).max(), d.min(axis=1).max()))


def _made(template: Template, params: dict[str, Any]) -> list[np.ndarray]:
    return template_from(template.convention, params, template.input_size).shapes()


@pytest.mark.parametrize(("name", "template"), TEMPLATES, ids=[n for n, _ in TEMPLATES])
def test_the_fast_model_is_what_generate_makes(name: str, template: Template) -> None:
    g = grammar(template)
    tol = _tol(name, template)
    rng = np.random.default_rng(7)
    # the current config, then moves of about 20% in every value
    points = [g.start] + [
        g.layout.clip(g.start + rng.normal(0, 0.2, g.layout.dims)) for _ in range(4)
    ]
    for x in points:
        fast = g.layout.shapes(x)
        made = _made(template, g.params(x))
        assert [len(m) for m in made] == list(template.counts)
        for level, shapes in enumerate(made):
            assert _nearest_error(fast[g.layout.level == level], shapes) <= tol, (name, level)


@pytest.mark.parametrize(("name", "template"), TEMPLATES, ids=[n for n, _ in TEMPLATES])
def test_the_start_is_the_current_config(name: str, template: Template) -> None:
    g = grammar(template)
    fast = g.layout.shapes(g.start)
    tol = _tol(name, template)
    for level, shapes in enumerate(template.shapes()):
        assert _nearest_error(fast[g.layout.level == level], shapes) <= tol


def test_ratios_are_written_in_the_conventions_own_definition() -> None:
    # a tall shape (w < h): ratio > 1 where ratio = h/w (torchvision), < 1 where w/h (tf-grid)
    for convention, params, key, tall in (
        ("torchvision", CONFIGS["detectron2"][1] | {"sizes": [(64.0,)], "ratios": [(2.0,)],
                                                   "feature_maps": [(25, 38)]}, "ratios", True),
        ("tf-grid", {"scales": (1.0,), "ratios": (0.5,), "feature_maps": [(10, 10)],
                     "image_size": (600, 600)}, "ratios", False),
    ):  # fmt: skip
        template = template_from(convention, params)
        g = grammar(template)
        written = g.params(g.start)[key]
        value = written[0][0] if isinstance(written[0], tuple) else written[0]
        made = template.shapes()[0][0]
        assert made[1] > made[0]  # the template's shape is tall
        assert (value > 1) is tall, (convention, value)
        rules = conventions.load(convention).RULES
        assert rules.ratio_meaning.startswith("height / width") is tall


def test_k_can_change_only_where_pairs_are_free() -> None:
    ssd = template_from(
        *(lambda p: (p.config.convention, dict(p.config.params)))(load_preset("ssd300"))
    )
    with pytest.raises(AnchorError, match="--k: torchvision-ssd makes 30 shapes"):
        grammar(ssd, 9)
    assert grammar(ssd, 30).layout.slots == 30
    yolo = template_from(
        *(lambda p: (p.config.convention, dict(p.config.params)))(load_preset("yolov5"))
    )
    assert grammar(yolo, 12).layout.counts == (4, 4, 4)
    assert grammar(yolo, 7).layout.counts == (3, 2, 2)  # the finest level (stride 8) takes one more
    darknet = template_from(
        *(lambda p: (p.config.convention, dict(p.config.params)))(load_preset("yolov3"))
    )
    assert grammar(darknet, 7).layout.counts == (2, 2, 3)  # yolov3 lists stride 32 first
    with pytest.raises(AnchorError, match="at least one per level"):
        grammar(yolo, 2)


def test_rotated_detectron2_anchors_are_refused() -> None:
    params = CONFIGS["detectron2"][1] | {"angles": [(-90.0, 0.0, 90.0)]}
    with pytest.raises(AnchorError, match="rotated"):
        grammar(template_from("detectron2", params))
