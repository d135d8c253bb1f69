"""``anchorctl count``: per-level anchor arithmetic, and a check for scripts (``--expect``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from anchorctl.cli.options import (
    OUTPUT,
    ConventionCommand,
    anchor_options,
    format_option,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, resolve, source_options


@dataclass(frozen=True)
class CountOptions:
    """``count``'s own options."""

    expect: int | None = None
    fmt: str = "table"


@click.command(
    "count",
    cls=ConventionCommand,
    section=OUTPUT,
    epilog="""\b
Examples:
  anchorctl count --preset ssd300 --expect 8732
  anchorctl count --preset fasterrcnn-fpn --input-size 1216x800 --format json
  anchorctl count --config my_anchors.toml
  anchorctl count --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 16x16
""",
)
@source_options
@anchor_options
@input_size_options()
@option(
    "--expect",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Exit 1, with the per-level table and the difference, unless the total is N.",
)
@format_option(("table", "json"), "A table for people, or JSON with `total` and `levels`.")
@click.pass_context
def count(ctx: click.Context, /, **values: Any) -> None:
    """Count anchors level by level: rows x cols x per-cell = count, with running totals.

    The anchors come from --preset, --config, or --convention and its options.
    """
    run_count(AnchorOptions.from_context(ctx), record(CountOptions, values))


def run_count(request: AnchorOptions, opts: CountOptions) -> None:
    """``count`` with its options read."""
    expect, fmt = opts.expect, opts.fmt
    source = resolve(request)
    from anchorctl.counting import level_rows

    rows = level_rows(source.levels)
    total = source.total
    if fmt == "json":
        import json

        data = {
            "convention": source.convention,
            "preset": source.preset.name if source.preset else None,
            "image_size": _image_size(source),
            "config_origin": source.origin or None,
            "total": total,
            "levels": rows,
        }
        click.echo(json.dumps(data, indent=2))
    else:
        _print_table(source, rows, total)
    if expect is not None and total != expect:
        diff = total - expect
        more = f"{diff:,} more" if diff > 0 else f"{-diff:,} fewer"
        raise click.ClickException(
            f"expected {expect:,} anchors, got {total:,} ({more}); see the per-level table"
        )


def _image_size(source: Source) -> list[int] | None:
    size = source.params.get("image_size")
    return list(size) if size is not None else None


def _print_table(source: Source, rows: list[dict[str, Any]], total: int) -> None:
    from anchorctl.tables import console, level_table

    rules = source.rules
    title = f"{rules.title} · ratio = {rules.ratio_meaning} · {rules.units}"
    if source.preset is not None:
        w, h = source.preset.input_size
        title = f"{source.preset.name} ({source.preset.framework}) · input {w} x {h} px · {title}"
    elif source.origin:
        title = f"{source.origin} · {title}"
    con = console(sys.stdout)
    con.print(title, style="bold cyan", soft_wrap=True)
    con.print(level_table(rows))
    con.print(f"total: {total:,} anchors", soft_wrap=True)
