"""torchvision ``DefaultBoxGenerator``: SSD / SSDlite default boxes, returned in input pixels.

The rules, as ``DefaultBoxGenerator`` applies them (pytorch/vision:
``torchvision/models/detection/anchor_utils.py``, after PR pytorch/vision#6551; model settings
in ``ssd.py`` and ``ssdlite.py``; recorded from torchvision 0.29.1):

* **Units**: the boxes are built normalized to the image (``[0, 1]`` spans the image width
  and height) and returned in **pixels**, each x times the image width and each y times the
  image height; so the image size is always needed.
* **Scales**: ``--scales`` gives ``s_0 .. s_m`` explicitly (``m + 1`` values for ``m`` feature
  maps; the last one only enters ``s'_{m-1}``), else ``s_k = min_ratio + (max_ratio -
  min_ratio) * k / (m - 1)`` for ``k = 0 .. m-1`` followed by ``1.0`` (one map:
  ``[min_ratio, max_ratio]``); defaults ``0.15`` and ``0.9`` give ``0.15, 0.3, 0.45, 0.6,
  0.75, 0.9, 1.0`` for six maps. A scale is a fraction of the image side.
* **Ratio** ``ar`` (torchvision's ``aspect_ratios``) means **width / height**, and every ratio is
  emitted together with its transpose, so ``2`` gives a wide and a tall box.
* **Per cell**, ``k = 2 + 2 * len(ratios)`` normalized ``(w, h)`` pairs, in this order:
  ``(s_k, s_k)``, ``(s'_k, s'_k)`` with ``s'_k = sqrt(s_k * s_{k+1})``, then for each ``ar``:
  ``(s_k * sqrt(ar), s_k / sqrt(ar))`` immediately followed by ``(s_k / sqrt(ar), s_k *
  sqrt(ar))``. The pairs are computed in double precision and stored as float32.
* **Clip** (``clip=True`` is the framework's default): the ``(w, h)`` pairs are clamped to
  ``[0, 1]`` *before* the boxes are formed. Centres stay where they are, so boxes still cross
  the image border, and a pair wider than the image loses its aspect ratio (SSD300 top level:
  ``0.87 * sqrt(2) = 1.23`` becomes ``1.0``). Corners are never clamped.
* **Centres**: with ``steps``, ``cx = (col + 0.5) / (W / step)``, ``cy = (row + 0.5) / (H /
  step)`` (normalized; x uses the image width and y the height since PR pytorch/vision#6551,
  issue #6550, before which they were swapped for non-square inputs); without steps,
  ``cx = (col + 0.5) / cols``, ``cy = (row + 0.5) / rows``. One step per level, the same for
  both axes.
* **Order**: index ``(row * cols + col) * k + slot``; levels concatenated in order.
* **Rounding**: none; float32 throughout, in torchvision's order: centres ``(i + 0.5) / f``
  in float32, corners ``(c -+ 0.5 * w) * image_side`` in float32.
* **Output**: ``(sum K*k, 4)`` float32 ``(x1, y1, x2, y2)`` in pixels.

Sources: pytorch/vision ``torchvision/models/detection/anchor_utils.py``
(``DefaultBoxGenerator``: ``_generate_wh_pairs``, ``_grid_default_boxes``, ``forward``),
``ssd.py`` (``ssd300_vgg16``: ratios ``[[2], [2, 3], [2, 3], [2, 3], [2], [2]]``, scales
``[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]``, steps ``[8, 16, 32, 64, 100, 300]``: 8732
boxes), ``ssdlite.py`` (ratios ``[[2, 3]] * 6``, ``min_ratio=0.2``, ``max_ratio=0.95``, no
steps); issue pytorch/vision#6550 and PR #6551 (width and height swapped with steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import (
    CellShape,
    Level,
    Option,
    Params,
    Rules,
    checked_feature_maps,
    is_whole,
    per_level,
)
from anchorctl.errors import AnchorError
from anchorctl.memory import check_fits

NAME = "torchvision-ssd"

RULES = Rules(
    name=NAME,
    title="torchvision DefaultBoxGenerator",
    units="pixels (built normalized, then times the image width and height)",
    size_meaning="scale s_k: fraction of the image side (width for w, height for h)",
    ratio_meaning="width / height, each ratio also emitted transposed",
    order="(s_k, s_k), (s'_k, s'_k) with s'_k = sqrt(s_k * s_k+1), then per ratio: "
    "(s_k*sqrt(ar), s_k/sqrt(ar)) and its transpose",
    centre="cell centre: ((col + 0.5) * step, (row + 0.5) * step) pixels; without steps "
    "(col + 0.5) / cols and (row + 0.5) / rows of the image",
    rounding="none (float32)",
    clip="default on: the (w, h) pairs clamped to [0, 1] before the boxes are formed; "
    "centres and corners untouched",
    native_format="xyxy",
    sources=(
        "pytorch/vision: torchvision/models/detection/anchor_utils.py (DefaultBoxGenerator; "
        "torchvision 0.29.1)",
        "pytorch/vision: torchvision/models/detection/ssd.py, ssdlite.py",
        "pytorch/vision#6550, PR #6551 (with steps, x uses the width and y the height)",
    ),
)

OPTIONS = (
    Option(
        "ratios",
        "floats",
        "torchvision's aspect_ratios = width / height; each is emitted with its transpose, "
        "so 2 gives a wide and a tall box (ssd300: 2 / 2,3) [required]",
        per_level=True,
    ),
    Option(
        "scales",
        "floats",
        "s_0..s_m: m + 1 scales for m feature maps, fractions of the image side "
        "[default: from --min-ratio and --max-ratio]",
    ),
    Option(
        "min_ratio",
        "float",
        "smallest scale when --scales is not given [torchvision default: 0.15]",
        default=0.15,
    ),
    Option(
        "max_ratio",
        "float",
        "largest interpolated scale when --scales is not given [torchvision default: 0.9]",
        default=0.9,
    ),
    Option(
        "steps",
        "float",
        "centre spacing in pixels, one per level, both axes (ssd300: 8,16,32,64,100,300) "
        "[default: none, centres at (i + 0.5) / feature map]",
        per_level=True,
    ),
    Option(
        "clip",
        "flag",
        "clamp the normalized (w, h) pairs to [0, 1] before forming the boxes "
        "[torchvision default: on]",
        default=True,
    ),
)

_F32 = np.float32
_BYTES_PER_ANCHOR = 16  # four float32 coordinates


def resolve_scales(
    num_levels: int,
    scales: Sequence[float] | None = None,
    min_ratio: float = 0.15,
    max_ratio: float = 0.9,
) -> list[float]:
    """``s_0 .. s_m`` as torchvision resolves them (Python floats, double precision)."""
    if scales is not None:
        return [float(s) for s in scales]
    if num_levels > 1:
        span = max_ratio - min_ratio
        out = [min_ratio + span * k / (num_levels - 1.0) for k in range(num_levels)]
        out.append(1.0)
        return out
    return [min_ratio, max_ratio]


def wh_pairs(
    scale_k: float, scale_next: float, ratios: Sequence[float]
) -> tuple[npt.NDArray[np.float32], list[dict[str, float]]]:
    """One level's unclipped normalized ``(k, 2)`` float32 ``(w, h)`` pairs and their params.

    Computed in double precision, then stored as float32, as torchvision does.
    """
    prime = math.sqrt(scale_k * scale_next)
    pairs = [(scale_k, scale_k), (prime, prime)]
    params = [{"scale": scale_k, "ratio": 1.0}, {"scale": prime, "ratio": 1.0}]
    for ar in ratios:
        root = math.sqrt(ar)
        w, h = scale_k * root, scale_k / root
        pairs += [(w, h), (h, w)]
        params += [{"scale": scale_k, "ratio": ar}, {"scale": scale_k, "ratio": 1.0 / ar}]
    return np.array(pairs, dtype=np.float64).astype(_F32), params


def centres(
    feature_map: tuple[int, int], image_size: tuple[int, int], step: float | None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Normalized float32 centres: ``cx`` of shape ``(cols,)`` and ``cy`` of shape ``(rows,)``.

    ``(i + 0.5) / f`` in float32, with ``f = W / step`` for x and ``H / step`` for y (the
    quotient taken in double, then float32), or the feature map's cols and rows.
    """
    rows, cols = feature_map
    width, height = image_size
    if step is None:
        fx, fy = _F32(cols), _F32(rows)
    else:
        fx, fy = _F32(width / step), _F32(height / step)
    cx = (np.arange(cols, dtype=np.int64).astype(_F32) + _F32(0.5)) / fx
    cy = (np.arange(rows, dtype=np.int64).astype(_F32) + _F32(0.5)) / fy
    return cx.astype(_F32), cy.astype(_F32)


def normalized_boxes(
    feature_map: tuple[int, int],
    image_size: tuple[int, int],
    pairs: npt.NDArray[np.float32],
    step: float | None,
) -> npt.NDArray[np.float32]:
    """One level's ``(rows*cols*k, 4)`` float32 normalized ``(cx, cy, w, h)`` default boxes.

    What torchvision keeps before converting to pixels (its ``_grid_default_boxes``).
    """
    rows, cols = feature_map
    k = len(pairs)
    cx, cy = centres(feature_map, image_size, step)
    out = np.empty((rows, cols, k, 4), dtype=_F32)
    out[..., 0] = cx[None, :, None]
    out[..., 1] = cy[:, None, None]
    out[..., 2:] = pairs[None, None, :, :]
    return out.reshape(-1, 4)


def level_anchors(
    feature_map: tuple[int, int],
    image_size: tuple[int, int],
    pairs: npt.NDArray[np.float32],
    step: float | None,
) -> npt.NDArray[np.float32]:
    """One level's ``(rows*cols*k, 4)`` float32 pixel xyxy boxes from its used ``(w, h)`` pairs.

    ``x1 = (cx - 0.5 * w) * W``, ``y1 = (cy - 0.5 * h) * H``, ``x2 = (cx + 0.5 * w) * W``,
    ``y2 = (cy + 0.5 * h) * H``, each step rounded to float32 as torch does.
    """
    rows, cols = feature_map
    k = len(pairs)
    count = rows * cols * k
    check_fits(
        count * _BYTES_PER_ANCHOR,
        f"{count:,} default boxes as float32",
        "use a smaller feature map or fewer ratios",
    )
    cx, cy = centres(feature_map, image_size, step)
    half_w = _F32(0.5) * pairs[:, 0]
    half_h = _F32(0.5) * pairs[:, 1]
    size_x, size_y = _F32(image_size[0]), _F32(image_size[1])
    # x coordinates depend on (col, slot) only, y on (row, slot): work them out once each.
    x1 = (cx[:, None] - half_w[None, :]) * size_x  # (cols, k)
    x2 = (cx[:, None] + half_w[None, :]) * size_x
    y1 = (cy[:, None] - half_h[None, :]) * size_y  # (rows, k)
    y2 = (cy[:, None] + half_h[None, :]) * size_y
    out = np.empty((rows, cols, k, 4), dtype=_F32)
    out[..., 0] = x1[None, :, :]
    out[..., 1] = y1[:, None, :]
    out[..., 2] = x2[None, :, :]
    out[..., 3] = y2[:, None, :]
    return out.reshape(-1, 4)


def generate(params: Params) -> list[Level]:
    """Every level's default boxes in pixels, xyxy, in torchvision order (see the rules)."""
    maps = checked_feature_maps(params)
    image = _image_size(params.get("image_size"))
    m = len(maps)
    if params.get("ratios") is None:
        raise AnchorError(
            "--ratios is required (torchvision's aspect_ratios, width / height, one list per "
            "level; ssd300 uses 2 / 2,3 / 2,3 / 2,3 / 2 / 2)"
        )
    ratios = [
        _positive("ratios", r, "aspect_ratios = width / height", allow_empty=True)
        for r in per_level(params, "ratios", m)
    ]
    steps: list[float | None] = [None] * m
    if params.get("steps") is not None:
        steps = [_positive_one("steps", s) for s in per_level(params, "steps", m)]
    scales = _scales(params, m)
    clip = params.get("clip")
    clip = True if clip is None else bool(clip)
    width, height = image
    levels = []
    for k, (fm, level_ratios, step) in enumerate(zip(maps, ratios, steps, strict=True)):
        raw, slot_params = wh_pairs(scales[k], scales[k + 1], level_ratios)
        used = np.clip(raw, _F32(0), _F32(1)) if clip else raw
        cx, cy = centres(fm, image, step)
        rows, cols = fm
        stride = (float(step), float(step)) if step is not None else (height / rows, width / cols)
        levels.append(
            Level(
                feature_map=fm,
                stride=stride,
                center0=(float(cx[0] * _F32(width)), float(cy[0] * _F32(height))),
                shapes=tuple(
                    CellShape(
                        slot,
                        p,
                        float(used[slot, 0] * _F32(width)),
                        float(used[slot, 1] * _F32(height)),
                    )
                    for slot, p in enumerate(slot_params)
                ),
                anchors=level_anchors(fm, image, used, step),
            )
        )
    return levels


def _scales(params: Params, m: int) -> list[float]:
    given = params.get("scales")
    min_ratio, max_ratio = params.get("min_ratio"), params.get("max_ratio")
    if given is not None:
        if min_ratio is not None or max_ratio is not None:
            raise AnchorError(
                "--scales: give either --scales or --min-ratio/--max-ratio, not both "
                "(torchvision ignores min_ratio and max_ratio when scales are given)"
            )
        scales = _positive("scales", given, "a scale is a fraction of the image side")
        if len(scales) != m + 1:
            raise AnchorError(
                f"--scales: {len(scales)} given for {m} feature map(s); give {m + 1} "
                "(s_0..s_m: the last one only sets s'_k = sqrt(s_k * s_k+1) of the last level)"
            )
        return list(scales)
    lo = 0.15 if min_ratio is None else _positive_one("min_ratio", min_ratio)
    hi = 0.9 if max_ratio is None else _positive_one("max_ratio", max_ratio)
    if lo > hi:
        raise AnchorError(
            f"--min-ratio: {lo:g} is larger than --max-ratio {hi:g}; the scales would shrink "
            "from level to level"
        )
    return resolve_scales(m, None, lo, hi)


def _image_size(image: Any) -> tuple[int, int]:
    if image is None:
        raise AnchorError(
            "--image-size is required: torchvision returns default boxes in pixels (normalized "
            "boxes times the image width and height)"
        )
    width, height = image
    if not (is_whole(width) and is_whole(height) and width >= 1 and height >= 1):
        raise AnchorError(
            f"--image-size: {width}x{height} is not WxH in whole pixels >= 1 (torchvision "
            "reads it from the input tensor's shape)"
        )
    return int(width), int(height)


def _positive(
    name: str, values: Sequence[Any], meaning: str, allow_empty: bool = False
) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out and not allow_empty:
        raise AnchorError(f"--{name.replace('_', '-')}: give at least one value ({meaning})")
    for value in out:
        _positive_one(name, value)
    return out


def _positive_one(name: str, value: Any) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise AnchorError(
            f"--{name.replace('_', '-')}: {number:g} is not a positive finite number "
            "(torchvision would silently make empty, mirrored or NaN boxes from it)"
        )
    return number
