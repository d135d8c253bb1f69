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
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    CellShape,
    Grid,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    per_level,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

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
    return (
        centre_values(np.arange(cols), _divisor(feature_map, image_size, step, 1)),
        centre_values(np.arange(rows), _divisor(feature_map, image_size, step, 0)),
    )


def _divisor(
    feature_map: tuple[int, int], image_size: tuple[int, int], step: float | None, axis: int
) -> np.float32:
    """``f`` of axis 0 (y) or 1 (x): the feature map's side, or image side / step."""
    if step is None:
        return _F32(feature_map[axis])
    side = image_size[1] if axis == 0 else image_size[0]
    with np.errstate(all="ignore"):
        return _F32(side / step)


def centre_values(index: npt.NDArray[np.int64], f: np.float32) -> npt.NDArray[np.float32]:
    """``(i + 0.5) / f`` in float32 for the given indices."""
    out: npt.NDArray[np.float32] = ((index.astype(_F32) + _F32(0.5)) / f).astype(_F32)
    return out


def normalized_boxes(
    feature_map: tuple[int, int],
    image_size: tuple[int, int],
    pairs: npt.NDArray[np.float32],
    step: float | None,
) -> npt.NDArray[np.float32]:
    """One level's ``(rows*cols*k, 4)`` float32 normalized ``(cx, cy, w, h)`` default boxes.

    What torchvision keeps before converting to pixels (its ``_grid_default_boxes``).
    """
    fx = _divisor(feature_map, image_size, step, 1)
    fy = _divisor(feature_map, image_size, step, 0)

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        cx = np.broadcast_to(centre_values(cols, fx)[:, None], (len(cols), len(pairs)))
        w = np.broadcast_to(pairs[None, :, 0], (len(cols), len(pairs)))
        return np.stack([cx, w], axis=-1)

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        cy = np.broadcast_to(centre_values(rows, fy)[:, None], (len(rows), len(pairs)))
        h = np.broadcast_to(pairs[None, :, 1], (len(rows), len(pairs)))
        return np.stack([cy, h], axis=-1)

    grid_ = Grid(feature_map, len(pairs), x_part, y_part)
    out: npt.NDArray[np.float32] = grid_.array()
    return out


def grid(
    feature_map: tuple[int, int],
    image_size: tuple[int, int],
    pairs: npt.NDArray[np.float32],
    step: float | None,
) -> Grid:
    """One level's pixel xyxy boxes on demand, from its used ``(w, h)`` pairs.

    ``x1 = (cx - 0.5 * w) * W``, ``y1 = (cy - 0.5 * h) * H``, ``x2 = (cx + 0.5 * w) * W``,
    ``y2 = (cy + 0.5 * h) * H``, each step rounded to float32 as torch does.
    """
    fx = _divisor(feature_map, image_size, step, 1)
    fy = _divisor(feature_map, image_size, step, 0)
    half_w = _F32(0.5) * pairs[:, 0]
    half_h = _F32(0.5) * pairs[:, 1]
    size_x, size_y = _F32(image_size[0]), _F32(image_size[1])

    def x_part(cols: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        cx = centre_values(cols, fx)[:, None]
        return np.stack([(cx - half_w) * size_x, (cx + half_w) * size_x], axis=-1)

    def y_part(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        cy = centre_values(rows, fy)[:, None]
        return np.stack([(cy - half_h) * size_y, (cy + half_h) * size_y], axis=-1)

    return Grid(feature_map, len(pairs), x_part, y_part)


def level_anchors(
    feature_map: tuple[int, int],
    image_size: tuple[int, int],
    pairs: npt.NDArray[np.float32],
    step: float | None,
) -> npt.NDArray[np.float32]:
    """One level's ``(rows*cols*k, 4)`` float32 pixel xyxy boxes (see :func:`grid`)."""
    out: npt.NDArray[np.float32] = grid(feature_map, image_size, pairs, step).array()
    return out


def generate(params: Params) -> list[Level]:
    """Every level's default boxes in pixels, xyxy, in torchvision order (see the rules)."""
    maps = checks.feature_maps(params)
    image = checks.image_size(
        params,
        "torchvision returns default boxes in pixels (normalized boxes times the image width "
        "and height)",
    )
    m = len(maps)
    if params.get("ratios") is None:
        raise AnchorError(
            "--ratios is required (torchvision's aspect_ratios, width / height, one list per "
            "level; ssd300 uses 2 / 2,3 / 2,3 / 2,3 / 2 / 2; an empty list '' gives a level "
            "only the two squares)"
        )
    ratios = checks.level_floats(
        params, "ratios", m, checks.meaning(RULES, "ratios"), allow_empty=True
    )
    steps: list[float | None] = [None] * m
    if params.get("steps") is not None:
        steps = [
            checks.number(s, "steps", "centre spacing in pixels", positive=True)
            for s in per_level(params, "steps", m)
        ]
    scales = _scales(params, m)
    clip = checks.flag_value(params, "clip", True)
    width, height = image
    levels = []
    for k, (fm, level_ratios, step) in enumerate(zip(maps, ratios, steps, strict=True)):
        checks.per_cell(2 + 2 * len(level_ratios), RULES, f"{len(level_ratios)} ratios")
        with np.errstate(all="ignore"):
            raw, slot_params = wh_pairs(scales[k], scales[k + 1], level_ratios)
        used = np.clip(raw, _F32(0), _F32(1)) if clip else raw
        rows, cols = fm
        level_grid = grid(fm, image, used, step)
        with np.errstate(all="ignore"):
            px_w = used[:, 0] * _F32(width)
            px_h = used[:, 1] * _F32(height)
        level_grid = checks.extents(
            level_grid,
            px_w.astype(np.float64),
            px_h.astype(np.float64),
            RULES,
            centres="--steps/--input-size",
            shapes="--scales/--min-ratio/--max-ratio/--ratios",
        )
        stride = (float(step), float(step)) if step is not None else (height / rows, width / cols)
        first = np.zeros(1, dtype=np.int64)
        cx0 = centre_values(first, _divisor(fm, image, step, 1))[0]
        cy0 = centre_values(first, _divisor(fm, image, step, 0))[0]
        levels.append(
            grid_level(
                level_grid,
                stride=stride,
                center0=(float(cx0 * _F32(width)), float(cy0 * _F32(height))),
                shapes=tuple(
                    CellShape(slot, p, float(px_w[slot]), float(px_h[slot]))
                    for slot, p in enumerate(slot_params)
                ),
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
        scales = checks.floats(given, "scales", "a scale is a fraction of the image side")
        if len(scales) != m + 1:
            raise AnchorError(
                f"--scales: {len(scales)} given for {m} feature map(s); give {m + 1} "
                "(s_0..s_m: the last one only sets s'_k = sqrt(s_k * s_k+1) of the last level)"
            )
        return list(scales)
    why = "a scale is a fraction of the image side"
    lo = 0.15 if min_ratio is None else checks.number(min_ratio, "min_ratio", why, positive=True)
    hi = 0.9 if max_ratio is None else checks.number(max_ratio, "max_ratio", why, positive=True)
    if lo > hi:
        raise AnchorError(
            f"--min-ratio: {lo:g} is larger than --max-ratio {hi:g}; the scales would shrink "
            "from level to level"
        )
    return resolve_scales(m, None, lo, hi)
