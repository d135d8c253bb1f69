"""Anchors as config snippets for other frameworks: torchvision, MMDetection, Detectron2, YOLO, TF.

The export targets are declared here, once, without importing numpy, so the command line can
offer them as choices at no start-up cost (``anchorctl --help`` imports no numpy). The work
lives in the submodules, loaded on first use:

* :mod:`anchorctl.export.shapes`: :class:`~anchorctl.export.shapes.AnchorSet` (per level the
  per-cell ``(w, h)`` shapes in input pixels, the stride, and where the centres sit), made
  from anchorctl levels or from ``suggest``'s anchors;
* :mod:`anchorctl.export.grammar`: how each framework makes shapes from sizes, scales and
  ratios, and the nearest such config to a set of shapes (:func:`fit_product`);
* :mod:`anchorctl.export.writers`: one writer per target (:func:`export`,
  :func:`snippet`). Each snippet's header states the units, what a size and a ratio mean
  (from the target convention's ``RULES``), the input size and strides, and whether the
  config reproduces the source exactly: the same shapes, in the same slot order, centred
  where the source centres them. Anything else is said, line by line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anchorctl.export.grammar import (
        EXACT_TOL,
        GRAMMARS,
        SNAP_TOL,
        TF_BASE,
        Grammar,
        ProductFit,
        fit_product,
        format_number,
        nice,
        relative_errors,
        shape_error,
        tf_flexible_shapes,
    )
    from anchorctl.export.shapes import (
        AnchorSet,
        LevelShapes,
        anchor_set_from_levels,
        anchor_set_from_suggestion,
    )
    from anchorctl.export.writers import Snippet, export, snippet


@dataclass(frozen=True)
class Target:
    """An export target: its name, what it writes, and the anchorctl convention whose
    ``RULES`` describe what the written numbers mean (``None``: explicit ``w, h`` pairs)."""

    name: str
    writes: str
    convention: str | None


TARGET_LIST = (
    Target(
        "torchvision",
        "torchvision AnchorGenerator(sizes, aspect_ratios)",
        "torchvision",
    ),
    Target(
        "mmdet",
        "MMDetection AnchorGenerator (or YOLOAnchorGenerator) dict",
        "mmdet",
    ),
    Target(
        "detectron2",
        "Detectron2 MODEL.ANCHOR_GENERATOR YAML",
        "detectron2",
    ),
    Target("yolo", "YOLOv5 model YAML anchors (w,h pairs per level)", "yolo"),
    Target(
        "tf",
        "TF Object Detection API grid_anchor_generator or flexible_grid_anchor_generator",
        "tf-grid",
    ),
)
TARGETS = tuple(t.name for t in TARGET_LIST)
"""Target names, in the order the command line lists them."""

_LAZY = {
    "AnchorSet": "shapes",
    "LevelShapes": "shapes",
    "anchor_set_from_levels": "shapes",
    "anchor_set_from_suggestion": "shapes",
    "EXACT_TOL": "grammar",
    "SNAP_TOL": "grammar",
    "TF_BASE": "grammar",
    "GRAMMARS": "grammar",
    "Grammar": "grammar",
    "ProductFit": "grammar",
    "fit_product": "grammar",
    "format_number": "grammar",
    "nice": "grammar",
    "relative_errors": "grammar",
    "shape_error": "grammar",
    "tf_flexible_shapes": "grammar",
    "Snippet": "writers",
    "export": "writers",
    "snippet": "writers",
}

__all__ = [  # noqa: RUF022 - the eager names first, then the lazy ones as _LAZY lists them
    "TARGETS",
    "TARGET_LIST",
    "Target",
    "AnchorSet",
    "LevelShapes",
    "anchor_set_from_levels",
    "anchor_set_from_suggestion",
    "EXACT_TOL",
    "SNAP_TOL",
    "TF_BASE",
    "GRAMMARS",
    "Grammar",
    "ProductFit",
    "fit_product",
    "format_number",
    "nice",
    "relative_errors",
    "shape_error",
    "tf_flexible_shapes",
    "Snippet",
    "export",
    "snippet",
]
assert set(__all__) == {"TARGETS", "TARGET_LIST", "Target", *_LAZY}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anchorctl.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"anchorctl.export.{module}"), name)
