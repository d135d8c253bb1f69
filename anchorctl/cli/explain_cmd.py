"""``anchorctl explain``: how a feature-map cell maps back onto the image, with the formulas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.list_cmd import level_option
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    format_option,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, resolve, source_options


@dataclass(frozen=True)
class ExplainOptions:
    """``explain``'s own options."""

    cell: tuple[int, int] | None = None
    deltas: tuple[float, float, float, float] | None = None
    variances: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    fmt: str = "text"
    level: int | None = None


@click.command(
    "explain",
    cls=ConventionCommand,
    section="Cell",
    epilog="""\b
Examples:
  anchorctl explain --feature-map 16x16 --input-size 640x480 --cell 3,5 \\
      --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl explain --feature-map 16x16 --image cat.jpg --sizes 0.2 \\
      --deltas 0.5,-0.2,0.1,0
  anchorctl explain --feature-map 4x4 --input-size 300x300 --sizes 0.3 \\
      --format json
  anchorctl explain --preset fasterrcnn-fpn --level 2 --cell 10,20
""",
)
@source_options
@anchor_options
@input_size_options()
@level_option
@option(
    "--cell",
    type=params.CELL,
    default=None,
    help="The cell ROW,COL (zero-based). [default: the centre cell]",
)
@option(
    "--deltas",
    type=params.DELTAS,
    default=None,
    help="A predicted offset DX,DY,DW,DH to decode against each anchor (SSD centre-size).",
)
@option(
    "--variances",
    type=params.VARIANCES,
    default="0.1,0.1,0.2,0.2",
    show_default=True,
    help="The box-coder variances V0,V1,V2,V3 used with --deltas.",
)
@format_option(("text", "json"), "Plain text with formulas, or JSON for scripts.")
@click.pass_context
def explain(ctx: click.Context, /, **values: Any) -> None:
    """Show how one feature-map cell maps back onto the input image.

    Prints the stride in pixels, the cell's centre (normalized and in pixels), each anchor of
    the cell in pixels, and the formulas with your numbers in them, including why a ratio-1
    box is square in pixels only when the feature map has the image's aspect ratio. With
    --deltas, decodes a predicted offset against each anchor, step by step:
    cx = acx + dx*v0*aw, cy = acy + dy*v1*ah, w = aw*exp(dw*v2), h = ah*exp(dh*v3).
    """
    run_explain(AnchorOptions.from_context(ctx), record(ExplainOptions, values))


def run_explain(request: AnchorOptions, opts: ExplainOptions) -> None:
    """``explain`` with its options read."""
    cell, deltas, variances, level = opts.cell, opts.deltas, opts.variances, opts.level
    source = resolve(request)
    size = source.image_size
    if size is None and any(lv.is_normalized(source.rules) for lv in source.levels):
        raise click.UsageError(
            "explain needs the input size: give --input-size WxH or --image FILE"
        )
    index = level or 0
    if index >= len(source.levels):
        raise click.BadParameter(
            f"level {index} does not exist; this source has levels 0..{len(source.levels) - 1}",
            param_hint="'--level'",
        )
    lv = source.levels[index]
    rows, cols = lv.feature_map
    if cell is None:
        cell = (rows // 2, cols // 2)
    if cell[0] >= rows or cell[1] >= cols:
        raise click.BadParameter(
            f"cell ({cell[0]},{cell[1]}) is outside the {rows}x{cols} feature map "
            f"(rows 0..{rows - 1}, cols 0..{cols - 1})",
            param_hint="'--cell'",
        )
    from anchorctl import explain as explaining

    result: explaining.Explanation | explaining.LevelExplanation
    if source.convention == "mxnet":
        from anchorctl.conventions.mxnet import specs_from

        assert size is not None
        spec = specs_from(source.params)[index]
        result = explaining.explain_cell(spec, size, cell, deltas, variances)
    else:
        normalized = lv.is_normalized(source.rules)
        scale = (float(size[0]), float(size[1])) if normalized and size else (1.0, 1.0)
        result = explaining.LevelExplanation(
            source.rules, lv, index, size, cell, scale, deltas, variances
        )
    if opts.fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo("\n".join(result.lines()))
