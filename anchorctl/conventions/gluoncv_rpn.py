"""GluonCV ``RPNAnchorGenerator``: Faster R-CNN anchors, py-faster-rcnn's algorithm at the stride.

The rules, as the generator applies them (dmlc/gluon-cv
``gluoncv/model_zoo/rcnn/rpn/anchor.py``, called from ``gluoncv/model_zoo/rcnn/rpn/rpn.py``
with the arguments of ``gluoncv/model_zoo/rcnn/faster_rcnn/faster_rcnn.py`` and its presets;
GluonCV 0.10.5):

* **Units**: pixels of the network input, **inclusive** ("+1") convention: a box
  ``(x1, y1, x2, y2)`` has width ``x2 - x1 + 1``; the per-cell shape widths and heights this
  module reports use that rule.
* **Nominal size** of a shape is ``base_size * scale`` (``base_size = 16``); the docstring's
  formula ``w = base_size * scale * sqrt(1 / ratio)``, ``h = base_size * scale * sqrt(ratio)``
  is only approximately what comes out, because of the rounding below.
* **Ratio** ``r`` means height / width.
* **Algorithm**: the generator hands the sizes to a port of Detectron1's ``generate_anchors``,
  which is py-faster-rcnn's (convention ``py-faster-rcnn``) with the **stride** as the reference
  window: window ``(0, 0, stride - 1, stride - 1)``, scales ``base_size * scale / stride``.
  So the ratio window ``w_r = round(sqrt(stride**2 / r))``, ``h_r = round(w_r * r)`` (NumPy
  round, half to even) is rounded **at the stride-sized window**, then multiplied exactly by the
  scale. When ``stride == base_size`` (the Faster R-CNN C4 models: 16 and 16) the anchors equal
  py-faster-rcnn's; in FPN models the same nominal size rounds differently per level (size 32
  at stride 4: 48 x 24, 32 x 32, 24 x 48).
* **Per cell** ``len(ratios) * len(scales)`` shapes, **ratio-major** (every scale of
  ``ratios[0]`` first).
* **Centres**: every base anchor is centred on the window centre ``(stride - 1) / 2``; cell
  (row, col) adds ``(col * stride, row * stride)``, so its centre is
  ``(col * stride + (stride - 1) / 2, row * stride + (stride - 1) / 2)``.
* **Order**: index ``(row * cols + col) * k + slot`` (cell-major, rows outer). GluonCV fills an
  ``alloc_size`` grid (128 x 128; FPN presets 384 x 384) and crops its top-left ``rows x cols``;
  the crop holds exactly the anchors computed here, so anchorctl computes the map directly.
* **Levels**: one generator per stride. ``FasterRCNN`` defaults: ``strides = 16``,
  ``base_size = 16``, ``scales = (8, 16, 32)``, ``ratios = (0.5, 1, 2)`` (9 per cell); the C4
  presets use ``scales = (2, 4, 8, 16, 32)`` (15 per cell); FPN presets use
  ``strides = (4, 8, 16, 32, 64)`` with one scale per level from ``(2, 4, 8, 16, 32)``
  (3 per cell): give ``--scales`` once per level for that.
* **Output**: ``(rows*cols*k, 4)`` float32 ``(x1, y1, x2, y2)``: computed in float64 (NumPy)
  and stored as float32, as GluonCV does (``astype(np.float32)``). With whole-number
  parameters every value is a whole number or a half, exact in float32.
* **Clip**: none (proposals are clipped later, by ``BBoxClipToImage``).

The file uses ``np.float``, which current NumPy removed: GluonCV 0.10.5 needs NumPy < 1.24 to
build this generator at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import CellShape, Level, Option, Params, Rules
from anchorctl.conventions.py_faster_rcnn import base_anchors, check_window, level, whole_strides

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "gluoncv-rpn"
TITLE = "GluonCV RPNAnchorGenerator"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="pixels of the network input, inclusive (width = x2 - x1 + 1)",
    size_meaning=(
        "base_size * scale pixels, nominal: the ratio window is rounded at the stride-sized "
        "window first (py-faster-rcnn's algorithm with the stride as its base_size)"
    ),
    ratio_meaning="height / width",
    order="ratio-major: every scale of ratios[0], then every scale of ratios[1], ...",
    centre="(col * stride + (stride - 1) / 2, row * stride + (stride - 1) / 2)",
    rounding=(
        "ratio window at the stride: w = round(sqrt(stride^2 / r)), h = round(w * r), NumPy "
        "half to even; scales exact; float64 stored as float32"
    ),
    clip="none",
    native_format="xyxy",
    sources=(
        "dmlc/gluon-cv: gluoncv/model_zoo/rcnn/rpn/anchor.py, rpn.py, "
        "faster_rcnn/faster_rcnn.py, faster_rcnn/predefined_models.py (GluonCV 0.10.5)",
        "rbgirshick/py-faster-rcnn: lib/rpn/generate_anchors.py (the algorithm it ports)",
    ),
)

OPTIONS = (
    Option(
        "strides",
        "int",
        "feature stride in pixels, one per feature map: the cell spacing and the side of the "
        "reference window [default: 16]",
        per_level=True,
        default=[16],
    ),
    Option(
        "base_size",
        "float",
        "pixels per unit of scale: nominal size = base_size * scale [default: 16]",
        default=16.0,
    ),
    Option(
        "scales",
        "floats",
        "scales of each level (nominal size / base_size); FPN presets give one per level "
        "[default: 8,16,32]",
        per_level=True,
        default=[(8.0, 16.0, 32.0)],
    ),
    Option(
        "ratios",
        "floats",
        f"{RULES.ratio_meaning}, the same on every level [default: 0.5,1,2]",
        default=(0.5, 1.0, 2.0),
    ),
)


def level_base_anchors(
    stride: int, base_size: float, ratios: tuple[float, ...], scales: tuple[float, ...]
) -> npt.NDArray[np.float64]:
    """The base anchors of one level, ``(len(ratios) * len(scales), 4)`` float64, as GluonCV's
    ``generate_base_anchors(stride, sizes, ratios)`` computes them with
    ``sizes = scale * base_size``."""
    sizes = np.array([s * base_size for s in scales], dtype=np.float64)
    return base_anchors(stride, ratios, sizes / stride)


def generate(params: Params) -> list[Level]:
    """Every level's anchors, float32 inclusive xyxy pixels (see the module rules)."""
    maps = checks.feature_maps(params)
    levels = len(maps)
    given = params.get("base_size")
    base_size = (
        16.0
        if given is None
        else checks.number(
            given, "base_size", "pixels per unit of scale: size = base_size * scale", positive=True
        )
    )
    ratios = checks.option_floats(
        params, "ratios", checks.meaning(RULES, "ratios"), (0.5, 1.0, 2.0)
    )
    strides = whole_strides(params, "strides", levels, [16])
    scale_sets = checks.level_floats(
        params, "scales", levels, "nominal size / base_size", [(8.0, 16.0, 32.0)]
    )
    out = []
    for fm, stride, scales in zip(maps, strides, scale_sets, strict=True):
        checks.per_cell(
            len(ratios) * len(scales), RULES, f"{len(ratios)} ratios x {len(scales)} scales"
        )
        with np.errstate(all="ignore"):
            base = level_base_anchors(stride, base_size, ratios, scales)
        check_window(base, ratios, scales, f"the {stride}-pixel stride window")
        centre = float(np.float32((stride - 1) * 0.5))
        pairs = [(r, s) for r in ratios for s in scales]
        shapes = tuple(
            CellShape(
                slot,
                {"ratio": r, "scale": s, "size": s * base_size},
                float(box[2] - box[0] + 1),
                float(box[3] - box[1] + 1),
            )
            for slot, (box, (r, s)) in enumerate(zip(base, pairs, strict=True))
        )
        out.append(level(base, fm, stride, shapes, centre))
    return out
