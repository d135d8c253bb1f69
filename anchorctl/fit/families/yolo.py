"""Explicit ``(w, h)`` pairs per level: YOLO (``--anchors``) and MMDetection's
``YOLOAnchorGenerator`` (``--yolo --yolo-base-sizes``).

Nothing ties the shapes together, so the grammar is free: ``2K`` values, each anchor's log
width and log height. The levels hold as many anchors as the template's (or ``k`` split over
the levels, the finer ones taking one more when ``k`` does not divide), and the anchors are
given to the levels by area, smallest on the finest stride, as YOLO's masks do. The pairs are
written in input pixels, rounded to 0.1 px (``--grid-units`` is dropped).
"""

from __future__ import annotations

import numpy as np

from anchorctl.errors import AnchorError
from anchorctl.fit.families import FloatArray, Grammar, Template
from anchorctl.fit.layout import by_area, fill_by_area, free_layout, free_values


def counts_for(template: Template, k: int | None) -> list[int]:
    """Anchors per level: the template's, or ``k`` split finest first."""
    if k is None:
        return list(template.counts)
    levels = len(template.levels)
    if k < levels:
        raise AnchorError(
            f"--k: {k} anchors for {levels} levels; YOLO needs at least one per level "
            f"(--k {levels} or more)"
        )
    base, extra = divmod(k, levels)
    counts = [base] * levels
    for position, level in enumerate(template.finest_first()):
        if position < extra:
            counts[level] += 1
    return counts


def grammar(template: Template, k: int | None) -> Grammar:
    counts = counts_for(template, k)
    order = template.finest_first()
    layout = free_layout(counts, 4.0 * max(template.input_size))
    current = np.concatenate(template.shapes())
    start = fill_by_area(current, counts, order) if len(current) == sum(counts) else None
    if start is None:  # a different k: start from the current shapes, resampled by area
        ordered = by_area(current, [len(current)])
        pick = np.linspace(0, len(ordered) - 1, sum(counts)).round().astype(int)
        start = fill_by_area(ordered[pick], counts, order)
    mmdet = template.convention == "mmdet"

    def params(x: FloatArray) -> dict[str, object]:
        shapes = layout.shapes(x)
        levels = []
        offset = 0
        for count in counts:
            pairs = tuple((_px(w), _px(h)) for w, h in shapes[offset : offset + count])
            levels.append(pairs)
            offset += count
        out = {k: v for k, v in template.params.items() if k != "grid_units"}
        out["yolo_base_sizes" if mmdet else "anchors"] = levels
        return out

    return Grammar(
        convention=template.convention,
        layout=layout,
        start=free_values(start),
        params=params,
        constraint="",
        finest_first=order,
    )


def _px(value: float) -> float:
    return float(round(float(value), 1))
