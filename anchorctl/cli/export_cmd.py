"""``anchorctl export``: the current anchors as a config snippet for a framework."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    image_size_options,
    typed_options,
)
from anchorctl.cli.source import from_cli, source_options

TARGETS = ("torchvision", "mmdet", "detectron2", "yolo", "tf")


@click.command(
    "export",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl export --preset fasterrcnn-fpn --to torchvision
  anchorctl export --preset yolov5 --to mmdet
  anchorctl export --preset retinanet --to detectron2 --level-strides 8,16,32,64,128
  anchorctl export --config my_anchors.toml --to tf
  anchorctl suggest boxes.json --preset yolov5 --format json > s.json
  anchorctl export --suggestion s.json --to yolo
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
@click.option(
    "--suggestion",
    "suggestion_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="The per-level anchors of a `suggest --format json` report, instead of a model.",
)
@click.pass_context
def export_cmd(
    ctx: click.Context, /, target: str, export_strides: Any, suggestion_file: Any, **values: Any
) -> None:
    """Print the anchors (a --preset, a --config or the options) as TARGET's config snippet.

    The snippet names its units and ratio definition in a header; where TARGET's grammar
    cannot make exactly these shapes it writes the nearest config and says by how much it
    is off (and which exact alternative exists).
    """
    from anchorctl.export import anchor_set_from_levels, export

    if suggestion_file is not None:
        _export_suggestion(ctx, suggestion_file, target, export_strides, values)
        return
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
    click.echo(export(anchor_set, target), nl=False)


def _export_suggestion(
    ctx: click.Context, path: Path, target: str, strides: Any, values: dict[str, Any]
) -> None:
    """``--suggestion FILE``: the report's levels (nothing else describes the anchors)."""
    import json

    from anchorctl.export import AnchorSet, LevelShapes, export
    from anchorctl.suggest import anchor_set_from_report

    given = [n for n in ("preset", "config_file") if values.get(n) is not None]
    given += list(typed_options(ctx, values))
    if given:
        names = ", ".join("--" + n.replace("_file", "").replace("_", "-") for n in given)
        raise click.UsageError(f"--suggestion FILE describes the anchors; drop {names}")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise click.BadParameter(f"{path}: no such file", param_hint="'--suggestion'") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(f"{path}: not a JSON report ({exc})",
                                 param_hint="'--suggestion'") from None  # fmt: skip
    anchor_set = anchor_set_from_report(data, str(path))
    if strides:
        if len(strides) != len(anchor_set.levels):
            raise click.BadParameter(
                f"{len(strides)} strides for {len(anchor_set.levels)} levels; give one per level",
                param_hint="'--level-strides'",
            )
        anchor_set = AnchorSet(
            tuple(
                LevelShapes(lv.shapes, s) for lv, s in zip(anchor_set.levels, strides, strict=True)
            ),
            anchor_set.input_size,
        )
    click.echo(export(anchor_set, target), nl=False)
