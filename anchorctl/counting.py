"""Per-level anchor arithmetic: rows x cols x per-cell = count, with running totals.

This is the table nobody prints and everybody needs when "expected 8732 anchors, got 6792".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anchorctl.conventions.base import Level


def level_rows(levels: Sequence[Level]) -> list[dict[str, Any]]:
    """One record per level: ``level, feature_map, stride, per_cell, count, first_index,
    running_total`` (``stride`` is ``[y, x]`` in the convention's units, like
    ``feature_map``'s ``[rows, cols]``)."""
    rows = []
    first = 0
    for index, level in enumerate(levels):
        count = level.count
        rows.append(
            {
                "level": index,
                "feature_map": list(level.feature_map),
                "stride": [level.stride[0], level.stride[1]],
                "per_cell": level.per_cell,
                "count": count,
                "first_index": first,
                "running_total": first + count,
            }
        )
        first += count
    return rows


def arithmetic(row: Mapping[str, Any]) -> str:
    """``'38 x 38 x 4 = 5,776'`` for a level record."""
    rows, cols = row["feature_map"]
    return f"{rows} x {cols} x {row['per_cell']} = {row['count']:,}"
