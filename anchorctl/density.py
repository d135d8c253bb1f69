"""How dense a drawing request is, and how far to thin it so the picture stays readable.

Every anchor of a 1000 x 1000 feature map (``draw --all-cells``), or the cell grid of a
2000 x 2000 map (``draw --grid``), paints the image solid: nothing can be seen. This module
measures a request and says which every-N-th cell (or grid line) keeps it legible.

* **Ink** of a set of outlines: the share of the picture their lines would cover if none
  overlapped, ``cells * sum over slots of perimeter * line width / (W * H)``, each anchor's
  sides clipped to the picture (an anchor larger than the image shows at most the image's
  outline). Past :data:`INK_LIMIT` the lines merge into a sheet.
* **Grid pitch**: the distance between neighbouring cell boundaries in picture pixels; under
  :data:`MIN_GRID_PITCH` the lines merge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

INK_LIMIT = 0.3  # share of the picture; the seed example's 4x4 --all-cells on a photo is ~0.2
MIN_GRID_PITCH = 8.0  # px between drawn grid lines


def outline_ink(
    shapes: Sequence[tuple[float, float]], cells: int, size: tuple[int, int], width: int
) -> float:
    """The share of a ``size`` ``(W, H)`` picture covered by ``cells`` cells' outlines.

    ``shapes`` are the per-cell anchors' ``(w, h)`` in picture pixels; ``width`` the line
    width in pixels (see the module docstring for the formula).
    """
    w, h = size
    perimeter = sum(2.0 * (min(aw, w) + min(ah, h)) for aw, ah in shapes)
    return cells * perimeter * width / float(w * h)


def cells_every(feature_map: tuple[int, int], every: int) -> int:
    """How many cells every ``every``-th row and column of ``feature_map`` gives."""
    rows, cols = feature_map
    return -(-rows // every) * -(-cols // every)


def thin_every(
    feature_map: tuple[int, int],
    shapes: Sequence[tuple[float, float]],
    size: tuple[int, int],
    width: int,
    every: int = 1,
    limit: float = INK_LIMIT,
) -> int:
    """The smallest ``N >= every`` whose every-N-th cells stay under ``limit`` ink.

    Returns ``every`` itself when the request is legible as it is.
    """
    rows, cols = feature_map
    n = max(1, every)
    ink = outline_ink(shapes, cells_every(feature_map, n), size, width)
    if ink <= limit:
        return n
    # cells shrink as 1/N^2: start near the answer, then step to the exact one
    n = max(n + 1, math.floor(n * math.sqrt(ink / limit)))
    while n < max(rows, cols):
        if outline_ink(shapes, cells_every(feature_map, n), size, width) <= limit:
            break
        n += 1
    return n


def grid_step(pitch: float, min_pitch: float = MIN_GRID_PITCH) -> int:
    """Draw every ``M``-th grid line, for cells ``pitch`` px apart: ``M = ceil(min_pitch / pitch)``
    (1 when the cells are wide enough)."""
    if pitch >= min_pitch or pitch <= 0:
        return 1
    return math.ceil(min_pitch / pitch)


def ordinal(n: int) -> str:
    """``2`` -> ``2nd``, ``11`` -> ``11th``, ``23`` -> ``23rd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
