"""anchorctl: print, draw and explain the anchor boxes of object detectors.

The library is numpy only; the command line sits on top of it. Importing ``anchorctl`` is
cheap: the numpy-backed names below load on first use, so ``anchorctl --help`` starts fast.

>>> import anchorctl
>>> spec = anchorctl.MultiBoxPriorSpec(sizes=(0.2, 0.5), ratios=(1, 4, 0.25))
>>> [(s.width, s.height) for s in spec.shapes()]  # doctest: +SKIP
[(0.2, 0.2), (0.5, 0.5), (0.4, 0.1), (0.1, 0.4)]
>>> anchorctl.anchors(spec).shape
(4, 4)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from anchorctl.errors import AnchorError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from anchorctl.configs import load_config
    from anchorctl.configs.toml import Config
    from anchorctl.conventions.mxnet import (
        MultiBoxPriorSpec,
        Shape,
        anchors,
        cell_anchors,
        iter_anchor_blocks,
    )
    from anchorctl.decode import decode_ssd
    from anchorctl.explain import Explanation, explain_cell

_LAZY = {
    "MultiBoxPriorSpec": "anchorctl.conventions.mxnet",
    "Shape": "anchorctl.conventions.mxnet",
    "anchors": "anchorctl.conventions.mxnet",
    "cell_anchors": "anchorctl.conventions.mxnet",
    "iter_anchor_blocks": "anchorctl.conventions.mxnet",
    "decode_ssd": "anchorctl.decode",
    "Explanation": "anchorctl.explain",
    "explain_cell": "anchorctl.explain",
    "load_config": "anchorctl.configs",
    "Config": "anchorctl.configs.toml",
}

__all__ = [  # noqa: RUF022 - grouped: eager names first, then the lazy ones
    "AnchorError",
    "__version__",
    "MultiBoxPriorSpec",
    "Shape",
    "anchors",
    "cell_anchors",
    "iter_anchor_blocks",
    "decode_ssd",
    "Explanation",
    "explain_cell",
    "load_config",
    "Config",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anchorctl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
