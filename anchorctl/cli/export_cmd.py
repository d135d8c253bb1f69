"""``anchorctl export``: the current anchors as a config snippet for a framework."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.options import (
    OUTPUT,
    ConventionCommand,
    anchor_options,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, resolve, source_options
from anchorctl.export import TARGETS  # declared without numpy: cheap to import here


@dataclass(frozen=True)
class ExportOptions:
    """``export``'s own options."""

    target: str = ""
    level_strides: tuple[float, ...] | None = None


@click.command(
    "export",
    cls=ConventionCommand,
    section=OUTPUT,
    epilog="""\b
Examples:
  anchorctl export --preset fasterrcnn-fpn --to torchvision
  anchorctl export --preset yolov5 --to mmdet
  anchorctl export --preset retinanet --to detectron2 \\
      --level-strides 8,16,32,64,128
  anchorctl export --config my_anchors.toml --to tf
""",
)
@source_options
@anchor_options
@input_size_options()
@option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    required=True,
    metavar="TARGET",
    help="The framework whose config to write (ratios converted to its definition; "
    "explicit w,h pairs for yolo).",
)
@option(
    "--level-strides",
    type=params.FloatList("S1,S2,...", "8,16,32", positive=True),
    default=None,
    help="The backbone's stride of each level in pixels, when it differs from what the "
    "anchors' spacing says (torchvision derives 121 px for RetinaNet's last level at 800 px).",
)
@click.pass_context
def export_cmd(ctx: click.Context, /, **values: Any) -> None:
    """Print the anchors (a --preset, a --config or the options) as TARGET's config snippet.

    The snippet names its units and ratio definition in a header; where TARGET's grammar
    cannot make exactly these shapes it writes the nearest config and says by how much it
    is off (and which exact alternative exists).
    """
    run_export(AnchorOptions.from_context(ctx), record(ExportOptions, values))


def run_export(request: AnchorOptions, opts: ExportOptions) -> None:
    """``export`` with its options read."""
    from anchorctl.export import anchor_set_from_levels, snippet

    source = resolve(request)
    size = source.image_size
    if size is None:
        raise click.UsageError(
            "export needs the network input size: --input-size WxH or a --preset"
        )
    strides = list(opts.level_strides) if opts.level_strides else None
    if strides is not None and len(strides) != len(source.levels):
        raise click.BadParameter(
            f"{len(strides)} strides for {len(source.levels)} levels; give one per level",
            param_hint="'--level-strides'",
        )
    anchor_set = anchor_set_from_levels(source.levels, source.rules, size, strides=strides)
    written = snippet(anchor_set, opts.target)
    click.echo(written.text, nl=False)
    if not written.exact:  # the header says it too; this line reaches someone piping it on
        click.echo(f"anchorctl: {written.summary}", err=True)
