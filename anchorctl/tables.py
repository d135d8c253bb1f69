"""Tables for people: rich renders them, with a title that leaves nothing ambiguous.

Only the ``table`` format imports this module (and so rich); CSV, JSON and NPY never do.
"""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.table import Table

from anchorctl.conventions import mxnet
from anchorctl.conventions.mxnet import MultiBoxPriorSpec
from anchorctl.output import (
    ImageSize,
    anchor_columns,
    anchor_text_blocks,
    num,
    shape_columns,
    shape_rows,
)


def title(spec: MultiBoxPriorSpec, image_size: ImageSize) -> str:
    """One line stating the convention, the feature map, the image and the units."""
    rows, cols = spec.feature_map
    image = (
        f"image {image_size[0]} x {image_size[1]} px (w x h)"
        if image_size is not None
        else "no image size (pass --image-size WxH or --image FILE for pixels)"
    )
    return (
        f"{mxnet.TITLE} · feature map {rows} rows x {cols} cols · {image} · "
        f"{mxnet.RATIO_MEANING} · size, width, height {mxnet.UNITS}"
    )


def console(out: IO[str]) -> Console:
    """A console on ``out``: colour only on a terminal, never with NO_COLOR or TERM=dumb."""
    # Off a terminal nothing wraps a line for us: give wide tables room instead of eliding.
    return Console(file=out, highlight=False, width=None if out.isatty() else 160)


def print_shapes(out: IO[str], spec: MultiBoxPriorSpec, image_size: ImageSize) -> None:
    """The per-cell table: one row per slot."""
    columns = shape_columns(image_size)
    table = Table(header_style="bold magenta")
    for name in columns:
        table.add_column(name, justify="right")
    for record in shape_rows(spec, image_size):
        table.add_row(*(_text(record[c]) for c in columns))
    cells = spec.feature_map[0] * spec.feature_map[1]
    footer = f"{spec.per_cell} per cell x {cells:,} cells = {spec.num_anchors:,} anchors"
    con = console(out)
    con.print(title(spec, image_size), style="bold cyan", soft_wrap=True)
    con.print(table)
    con.print(footer, soft_wrap=True)


def print_anchors(
    out: IO[str], spec: MultiBoxPriorSpec, image_size: ImageSize, max_rows: int
) -> int:
    """Every anchor, one row each, capped at ``max_rows`` (0 = no cap); returns rows left out."""
    columns = anchor_columns(image_size)
    k = spec.per_cell
    cols = spec.feature_map[1]
    table = Table(header_style="bold magenta")
    for name in columns:
        table.add_column(name, justify="right")
    shown = 0
    for index, text in anchor_text_blocks(spec, image_size):
        for i, row_text in zip(index.tolist(), text, strict=True):
            if max_rows and shown >= max_rows:
                break
            cell = i // k
            table.add_row(str(cell // cols), str(cell % cols), str(i % k), *row_text)
            shown += 1
        if max_rows and shown >= max_rows:
            break
    con = console(out)
    con.print(title(spec, image_size), style="bold cyan", soft_wrap=True)
    con.print(table)
    return spec.num_anchors - shown


def _text(value: object) -> str:
    return num(value) if isinstance(value, float) else str(value)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False)
