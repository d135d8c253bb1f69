"""Tables for people: rich renders them, with a title that leaves nothing ambiguous.

Only the ``table`` format imports this module (and so rich); CSV, JSON and NPY never do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from anchorctl.conventions.base import Level
from anchorctl.counting import arithmetic, level_rows
from anchorctl.output import (
    View,
    anchor_columns,
    anchor_text_blocks,
    cell_of,
    shape_rows,
)
from anchorctl.output import shape_columns as _shape_columns


def title(view: View, level: Level | None) -> str:
    """One line stating the convention, the feature map, the image and the units."""
    rules = view.rules
    parts = [rules.title]
    if level is not None:
        rows, cols = level.feature_map
        parts.append(f"feature map {rows} rows x {cols} cols")
    if view.image_size is not None:
        parts.append(f"image {view.image_size[0]} x {view.image_size[1]} px (w x h)")
    elif rules.normalized:
        parts.append("no input size (pass --input-size WxH or --image FILE for pixels)")
    parts.append(f"ratio = {rules.ratio_meaning}")
    what = "size, width, height" if rules.normalized else "sizes, widths, heights, coordinates"
    parts.append(f"{what} {rules.units}")
    if view.box_format != "xyxy":
        parts.append(f"boxes as {view.box_format}")
    return " · ".join(parts)


def console(out: IO[str]) -> Console:
    """A console on ``out``: colour only on a terminal, never with NO_COLOR or TERM=dumb."""
    # Off a terminal nothing wraps a line for us: give wide tables room instead of eliding.
    return Console(file=out, highlight=False, width=None if out.isatty() else 160)


def level_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Level, feature map, stride, per cell, rows x cols x per cell, first index, total so far
    (``rows`` as :func:`anchorctl.counting.level_rows` makes them)."""
    table = Table(header_style="bold magenta")
    for name in ("level", "feature map", "stride", "per cell", "rows x cols x per cell",
                 "first index", "total so far"):  # fmt: skip
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        sy, sx = row["stride"]  # rows x cols order, like the feature map
        table.add_row(
            str(row["level"]),
            f"{row['feature_map'][0]} x {row['feature_map'][1]}",
            f"{sy:.4g}" if sx == sy else f"{sy:.4g} x {sx:.4g}",
            str(row["per_cell"]),
            arithmetic(row),
            f"{row['first_index']:,}",
            f"{row['running_total']:,}",
        )
    return table


def print_shapes(out: IO[str], view: View, all_levels: Sequence[Level] = ()) -> None:
    """The per-cell table of each level, with a line of arithmetic under each; for a source
    with several levels (``all_levels``), the per-level table first."""
    con = console(out)
    single = len(view.levels) == 1
    if not single:
        con.print(title(view, None), style="bold cyan", soft_wrap=True)
    if len(all_levels) > 1:
        con.print(level_table(level_rows(all_levels)))
    for position, level in enumerate(view.levels):
        columns = _shape_columns(view, level)
        table = Table(header_style="bold magenta")
        for name in columns:
            table.add_column(name, justify="right")
        for record in shape_rows(view, level):
            table.add_row(*(_cell(record[c]) for c in columns))
        rows, cols = level.feature_map
        if single:
            con.print(title(view, level), style="bold cyan", soft_wrap=True)
        else:
            sx, sy = level.stride[1], level.stride[0]
            stride = f"{sy:.4g}" if sx == sy else f"{sy:.4g} x {sx:.4g}"  # rows x cols
            con.print(
                f"level {view.indices[position]}: feature map {rows} rows x {cols} cols, "
                f"stride {stride}, first index {view.first[position]:,}",
                style="bold",
                soft_wrap=True,
            )
        con.print(table)
        cells = rows * cols
        con.print(
            f"{level.per_cell} per cell x {cells:,} cells = {level.count:,} anchors",
            soft_wrap=True,
        )
    if not single:
        con.print(f"total: {view.total:,} anchors", soft_wrap=True)


def print_anchors(out: IO[str], view: View, max_rows: int) -> int:
    """Every anchor, one row each, capped at ``max_rows`` (0 = no cap); returns rows left out."""
    columns = anchor_columns(view)
    table = Table(header_style="bold magenta")
    for name in columns:
        table.add_column(name, justify="right")
    shown = 0
    for position, index, text in anchor_text_blocks(view):
        level = view.levels[position]
        take = len(index) if not max_rows else min(len(index), max_rows - shown)
        row, col, slot = (a[:take].tolist() for a in cell_of(level, index[:take]))
        lead = [str(view.indices[position])] if view.several else []
        for r, c, s, values in zip(row, col, slot, text[:take], strict=True):
            table.add_row(*lead, str(r), str(c), str(s), *values)
        shown += take
        if max_rows and shown >= max_rows:
            break
    con = console(out)
    con.print(title(view, view.levels[0] if len(view.levels) == 1 else None), style="bold cyan",
              soft_wrap=True)  # fmt: skip
    con.print(table)
    return view.total - shown


def _cell(value: object) -> str:
    """A table cell: numbers to six significant digits (CSV and JSON keep every digit)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
