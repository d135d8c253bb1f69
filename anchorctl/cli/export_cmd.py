"""``anchorctl export``: the current anchors as a config snippet for a framework."""

from __future__ import annotations

from typing import Any

import click

from anchorctl import params
from anchorctl.cli.options import ConventionCommand, anchor_options, image_size_options
from anchorctl.cli.source import from_cli, source_options
from anchorctl.export import TARGETS


@click.command(
    "export",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl export --preset fasterrcnn-fpn --to torchvision
  anchorctl export --preset yolov5 --to mmdet
  anchorctl export --preset retinanet --to detectron2 --level-strides 8,16,32,64,128
  anchorctl export --config my_anchors.toml --to tf
""",
)
@source_options
@anchor_options
@image_size_options
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    required=True,
    help="The framework whose config to write (ratios converted: h/w for torchvision, "
    "mmdet, detectron2; w/h for tf; explicit w,h pairs for yolo).",
)
@click.option(
    "--level-strides",
    "export_strides",
    type=params.FloatList("S1,S2,...", "8,16,32", positive=True),
    default=None,
    help="The backbone's stride of each level in pixels, when it differs from what the "
    "anchors' spacing says (torchvision derives 121 px for RetinaNet's last level at 800 px).",
)
@click.pass_context
def export_cmd(ctx: click.Context, /, target: str, export_strides: Any, **values: Any) -> None:
    """Print the anchors (a --preset, a --config or the options) as TARGET's config snippet.

    The snippet names its units and ratio definition in a header; where TARGET's grammar
    cannot make exactly these shapes it writes the nearest config and says by how much it
    is off (and which exact alternative exists).
    """
    from anchorctl.export import anchor_set_from_levels, snippet

    source = from_cli(ctx, values)
    size = source.image_size
    if size is None:
        raise click.UsageError(
            "export needs the network input size: --image-size WxH or a --preset"
        )
    strides = list(export_strides) if export_strides else None
    if strides is not None and len(strides) != len(source.levels):
        raise click.BadParameter(
            f"{len(strides)} strides for {len(source.levels)} levels; give one per level",
            param_hint="'--level-strides'",
        )
    anchor_set = anchor_set_from_levels(source.levels, source.rules, size, strides=strides)
    written = snippet(anchor_set, target)
    click.echo(written.text, nl=False)
    if not written.exact:  # the header says it too; this line reaches someone piping it on
        click.echo(f"anchorctl: {written.summary}", err=True)
