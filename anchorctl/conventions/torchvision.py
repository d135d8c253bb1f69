"""torchvision ``AnchorGenerator``: Faster R-CNN and RetinaNet anchors in input pixels.

The rules, as ``AnchorGenerator`` applies them (pytorch/vision:
``torchvision/models/detection/anchor_utils.py``; model settings in ``faster_rcnn.py`` and
``retinanet.py``; recorded from torchvision 0.29.1):

* **Units**: pixels of the (padded) input batch tensor.
* **Size** ``s`` is the side of the square of the same area: every shape has ``w * h = s^2``
  before rounding. ``sizes`` holds one tuple per feature map.
* **Ratio** ``r`` (torchvision's ``aspect_ratios``) means **height / width**:
  ``h = s * sqrt(r)``, ``w = s / sqrt(r)``, so ``r = 0.5`` is a wide box and ``r = 2`` a tall
  one (the opposite of the SSD family's width / height).
* **Per cell**, ``k = len(sizes) * len(ratios)`` shapes, **ratio-major**: for each ratio, every
  size (``slot = ratio_index * len(sizes) + size_index``).
* **Rounding**: the zero-centred cell anchors ``(-w/2, -h/2, w/2, h/2)`` are rounded to whole
  pixels, half to even (``torch.round``); size 32 ratio 0.5 gives ``(-23, -11, 23, 11)``, a
  46 x 22 box, and size 101 ratio 1 gives half extent 50.5 -> 50, a 100 x 100 box.
* **Centres** sit on the **top-left corner of each cell**: cell (row, col) is shifted by
  ``(col * stride_x, row * stride_y)``; there is no offset option (pytorch/vision#1765,
  #7473, where the answer is that Faster R-CNN and RetinaNet do the same and accuracy is
  unaffected).
* **Strides** are derived, per axis, as ``image_size // feature_map`` (integer floor of the
  padded input height / rows and width / cols); the last FPN level of an 800 x 1216 input
  (13 x 19 map) thus has stride 61 vertically and 64 horizontally. ``--strides`` overrides
  the derivation (torchvision has no such option; it is here to study one level alone).
* **Order**: index ``(row * cols + col) * k + slot``; levels concatenated in order.
* **Bit for bit**: the square roots are float32 and correctly rounded, as torch takes them on
  most CPUs. On some CPUs torch's float32 ``sqrt`` is not correctly rounded (0.65% of random
  ratios, none of the common ones such as 0.5, 1 or 2); such a shape can then differ from
  torchvision's by a float32 step before rounding, and rarely by a pixel after it.
* **Output**: ``(sum K*k, 4)`` float32 ``(x1, y1, x2, y2)`` in pixels; integer shifts plus
  rounded cell anchors, so every coordinate is a whole number. No clipping.

Sources: pytorch/vision ``torchvision/models/detection/anchor_utils.py`` (``AnchorGenerator``:
``generate_anchors``, ``grid_anchors``, ``forward``), ``faster_rcnn.py`` (sizes
``((32,), (64,), (128,), (256,), (512,))`` with ratios ``(0.5, 1, 2)`` on P2-P6),
``retinanet.py`` (sizes ``int(x * 2**(i/3))``, truncated); issues pytorch/vision#1765,
#7473 (corner centres), #4728 (why ``sqrt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    TORCH_SQRT,
    Grid,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    shapes_from_cell,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "torchvision"

RULES = Rules(
    name=NAME,
    title="torchvision AnchorGenerator",
    units="pixels",
    size_meaning="side of the equal-area square (w * h = size^2), pixels",
    ratio_meaning="height / width",
    order="ratio-major: for each ratio, every size",
    centre="top-left corner of the cell: (col * stride_x, row * stride_y), no offset",
    rounding="cell anchors (-w/2, -h/2, w/2, h/2) rounded to whole pixels, half to even",
    exactness=TORCH_SQRT,
    clip="none",
    native_format="xyxy",
    sources=(
        "pytorch/vision: torchvision/models/detection/anchor_utils.py (AnchorGenerator; "
        "torchvision 0.29.1)",
        "pytorch/vision: torchvision/models/detection/faster_rcnn.py, retinanet.py",
        "pytorch/vision#1765, #7473 (centres on the cell corner), #4728 (sqrt keeps the area)",
    ),
)

OPTIONS = (
    Option(
        "sizes",
        "floats",
        "anchor sizes in pixels, the side of the equal-area square (w * h = size^2) "
        "[torchvision default: 128,256,512]",
        per_level=True,
        default=[(128.0, 256.0, 512.0)],
    ),
    Option(
        "ratios",
        "floats",
        f"torchvision's aspect_ratios = {RULES.ratio_meaning} (0.5 is wide, 2 is tall) "
        "[torchvision default: 0.5,1,2]",
        per_level=True,
        default=[(0.5, 1.0, 2.0)],
    ),
    Option(
        "strides",
        "yx",
        "centre spacing STRIDE_Y,STRIDE_X in whole pixels [default: image height // rows, "
        "image width // cols, as torchvision derives them; needs --input-size]",
        per_level=True,
    ),
)

_F32 = np.float32


def base_anchors(sizes: Sequence[float], ratios: Sequence[float]) -> npt.NDArray[np.float32]:
    """The ``(len(ratios) * len(sizes), 4)`` zero-centred cell anchors, ratio-major, rounded.

    float32 in torchvision's order: ``h_ratio = sqrt(r)``, ``w_ratio = 1 / h_ratio``,
    ``w = w_ratio * size``, ``h = h_ratio * size``, ``(-w, -h, w, h) / 2``, round half to even.
    """
    scales = np.asarray(sizes, dtype=_F32)
    h_ratios = np.sqrt(np.asarray(ratios, dtype=_F32))
    w_ratios = _F32(1) / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    half = np.stack([-ws, -hs, ws, hs], axis=1) / _F32(2)
    return np.round(half).astype(_F32)


def grid(
    feature_map: tuple[int, int], stride: tuple[int, int], base: npt.NDArray[np.float32]
) -> Grid:
    """One level's anchors on demand: index ``(row*cols+col)*k+slot``, float32 xyxy.

    Shifts ``(col * stride_x, row * stride_y)`` (int32 aranges times the stride, exact in
    float32 below 2**24) plus the rounded cell anchors, added in float32 as torchvision's
    ``shifts.view(-1, 1, 4) + base_anchors.view(1, -1, 4)`` does.
    """
    base = base.astype(_F32, copy=False)
    sy, sx = (float(v) for v in stride)

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        shift = (cols.astype(np.float64) * sx).astype(_F32)[:, None, None]
        out: npt.NDArray[np.float32] = shift + base[None, :, 0::2]  # (n, k, 2): x1, x2
        return out

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        shift = (rows.astype(np.float64) * sy).astype(_F32)[:, None, None]
        out: npt.NDArray[np.float32] = shift + base[None, :, 1::2]
        return out

    return Grid(feature_map, len(base), x_part, y_part)


def grid_anchors(
    feature_map: tuple[int, int], stride: tuple[int, int], base: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every anchor of one level: ``(rows*cols*k, 4)`` float32 (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(feature_map, stride, base).array()
    return out


def strides_for(params: Params, maps: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(stride_y, stride_x)`` per level: ``--strides`` if given, else image // feature map."""
    if params.get("strides") is not None:
        given = checks.strides(params, "strides", len(maps), RULES, whole_pixels=True)
        return [(int(sy), int(sx)) for sy, sx in given]
    width, height = checks.image_size(
        params,
        "torchvision derives each stride as image size // feature map (or give --strides "
        "STRIDE_Y,STRIDE_X)",
    )
    out = []
    for rows, cols in maps:
        sy, sx = height // rows, width // cols
        if sy < 1 or sx < 1:
            raise AnchorError(
                f"--input-size: {width}x{height} is smaller than the {rows}x{cols} feature map, "
                "so image // feature map gives stride 0 (every anchor on one point); give the "
                "input image size WxH in pixels"
            )
        out.append((sy, sx))
    return out


def generate(params: Params) -> list[Level]:
    """Every level's anchors in pixels, xyxy, in torchvision order (see the module rules)."""
    maps = checks.feature_maps(params)
    defaults = {o.name: o.default for o in OPTIONS}
    n = len(maps)
    sizes = checks.level_floats(
        params, "sizes", n, checks.meaning(RULES, "sizes"), defaults["sizes"]
    )
    ratios = checks.level_floats(
        params, "ratios", n, checks.meaning(RULES, "ratios"), defaults["ratios"]
    )
    strides = strides_for(params, maps)
    levels = []
    for fm, s, r, stride in zip(maps, sizes, ratios, strides, strict=True):
        checks.per_cell(len(s) * len(r), RULES, f"{len(s)} sizes x {len(r)} ratios")
        with np.errstate(all="ignore"):
            base = base_anchors(s, r)
        pairs = [{"size": size, "ratio": ratio} for ratio in r for size in s]
        level_grid = grid(fm, stride, base)
        level_grid = checks.extents(
            level_grid,
            base[:, 2].astype(np.float64) - base[:, 0],
            base[:, 3].astype(np.float64) - base[:, 1],
            RULES,
            centres="--strides/--input-size",
            shapes="--sizes/--ratios",
        )
        levels.append(
            grid_level(
                level_grid,
                stride=(float(stride[0]), float(stride[1])),
                center0=(0.0, 0.0),
                shapes=shapes_from_cell(base, pairs),
            )
        )
    return levels
