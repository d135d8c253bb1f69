"""Tables for people: rich renders them, with a title that leaves nothing ambiguous.

Every table fits an 80-column terminal without cutting a number or a name a user must type:
long headers take two lines, the widest wrappable column gives way first, and a cell that
still cannot fit folds onto a second line rather than end in an ellipsis. Where even that
cannot fit, the layout changes (pixel columns in a table of their own).

Only the ``table`` format imports this module (and so rich); CSV, JSON and NPY never do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from anchorctl.conventions.base import Level
from anchorctl.counting import arithmetic, level_rows
from anchorctl.output import (
    COORDINATES,
    View,
    anchor_columns,
    anchor_text_blocks,
    cell_of,
    shape_rows,
)
from anchorctl.output import shape_columns as _shape_columns


def title(view: View, level: Level | None) -> str:
    """One line stating where the anchors come from (a framework config's file and key), the
    convention, the feature map, the image and the units."""
    rules = view.rules
    parts = [view.origin] if view.origin else []
    parts.append(rules.title)
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


def new_table(*columns: str, **kwargs: Any) -> Table:
    """A table whose cells fold instead of being cut: ``columns`` are headers (``\\n`` splits
    one over two lines), right-aligned unless listed in ``left``; ``keep`` names the columns
    never wrapped (names users type)."""
    left = set(kwargs.pop("left", ()))
    keep = set(kwargs.pop("keep", ()))
    table = Table(header_style="bold magenta", **kwargs)
    for name in columns:
        table.add_column(
            name,
            justify="left" if name in left else "right",
            overflow="fold",
            no_wrap=name in keep,
        )
    return table


def level_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Level, feature map, stride, rows x cols x per cell = count, first index, total so far
    (``rows`` as :func:`anchorctl.counting.level_rows` makes them)."""
    table = new_table(
        "level", "feature\nmap", "stride", "rows x cols x per cell", "first\nindex", "total\nso far"
    )
    for row in rows:
        sy, sx = row["stride"]  # rows x cols order, like the feature map
        table.add_row(
            str(row["level"]),
            f"{row['feature_map'][0]} x {row['feature_map'][1]}",
            f"{sy:.4g}" if sx == sy else f"{sy:.4g} x {sx:.4g}",
            arithmetic(row),
            f"{row['first_index']:,}",
            f"{row['running_total']:,}",
        )
    return table


def print_table_or_blocks(
    con: Console, columns: Sequence[str], rows: Sequence[Sequence[str]], **kwargs: Any
) -> None:
    """``rows`` as a table when every word of it fits ``con`` (so nothing is folded), else
    as one block per row: the first column as a heading, then ``column: value`` lines."""
    table = new_table(*columns, **kwargs)
    for row in rows:
        table.add_row(*row)
    if table.__rich_measure__(con, con.options).minimum <= con.width:
        con.print(table)
        return
    for position, row in enumerate(rows):
        if position:
            con.print()
        con.print(Text(row[0], style="bold"))
        for name, value in zip(columns[1:], row[1:], strict=True):
            con.print(Text(f"  {name}: {' '.join(value.split())}"))


def fits(con: Console, table: Table) -> bool:
    """Whether ``table`` shows on ``con`` at its natural width (nothing wrapped or folded)."""
    return table.__rich_measure__(con, con.options).maximum <= con.width


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
        table = new_table(*columns)
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
    """Every anchor, one row each, capped at ``max_rows`` (0 = no cap); returns rows left out.

    When the coordinates and their pixel values do not fit the terminal side by side, the
    pixel values get a table of their own, row for row.
    """
    columns = anchor_columns(view)
    rows: list[list[str]] = []
    shown = 0
    for position, index, text in anchor_text_blocks(view):
        level = view.levels[position]
        take = len(index) if not max_rows else min(len(index), max_rows - shown)
        row, col, slot = (a[:take].tolist() for a in cell_of(level, index[:take]))
        lead = [str(view.indices[position])] if view.several else []
        for r, c, s, values in zip(row, col, slot, text[:take], strict=True):
            rows.append([*lead, str(r), str(c), str(s), *values])
        shown += take
        if max_rows and shown >= max_rows:
            break
    con = console(out)
    con.print(title(view, view.levels[0] if len(view.levels) == 1 else None), style="bold cyan",
              soft_wrap=True)  # fmt: skip
    table = new_table(*columns)
    for cells in rows:
        table.add_row(*cells)
    if not view.pixels or fits(con, table):
        con.print(table)
        return view.total - shown
    lead_count = len(columns) - 2 * len(COORDINATES[view.box_format])
    width = len(COORDINATES[view.box_format])
    for part in (slice(lead_count, lead_count + width), slice(lead_count + width, None)):
        table = new_table(*columns[:lead_count], *columns[part])
        for cells in rows:
            table.add_row(*cells[:lead_count], *cells[part])
        con.print(table)
    return view.total - shown


def _cell(value: object) -> str:
    """A table cell: numbers to six significant digits (CSV and JSON keep every digit)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
