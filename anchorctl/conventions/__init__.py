"""Anchor conventions, one module per framework family.

Each module states its rules (units, what size and ratio mean, per-cell order, centre rule,
rounding, clip, output box format) next to the code that applies them and the sources they
follow, and provides ``RULES``, ``OPTIONS`` and ``generate(params)`` as described in
:mod:`anchorctl.conventions.base`. ``mxnet`` (MultiBoxPrior) is the default convention.

Modules load on first use, so naming the conventions costs nothing at start-up.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from anchorctl.errors import AnchorError

DEFAULT = "mxnet"

# Convention name -> module, in the order `anchorctl compare` lists them.
MODULES: dict[str, str] = {
    "mxnet": "anchorctl.conventions.mxnet",
    "d2l": "anchorctl.conventions.d2l",
    "caffe-ssd": "anchorctl.conventions.caffe_ssd",
    "gluoncv-ssd": "anchorctl.conventions.gluoncv_ssd",
    "gluoncv-rpn": "anchorctl.conventions.gluoncv_rpn",
    "py-faster-rcnn": "anchorctl.conventions.py_faster_rcnn",
    "torchvision": "anchorctl.conventions.torchvision",
    "torchvision-ssd": "anchorctl.conventions.torchvision_ssd",
    "detectron2": "anchorctl.conventions.detectron2",
    "mmdet": "anchorctl.conventions.mmdet",
    "tf-grid": "anchorctl.conventions.tf_grid",
    "tf-ssd": "anchorctl.conventions.tf_ssd",
    "tf-multiscale": "anchorctl.conventions.tf_multiscale",
    "yolo": "anchorctl.conventions.yolo",
    "keras-retinanet": "anchorctl.conventions.keras_retinanet",
}


def load(name: str) -> ModuleType:
    """The module of convention ``name``; :class:`AnchorError` naming the choices otherwise."""
    module = MODULES.get(name)
    if module is None:
        raise AnchorError(f"unknown convention {name!r}; choose one of {', '.join(MODULES)}")
    return importlib.import_module(module)
