"""``anchorctl export``: the current anchors as a config snippet for a framework."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchorctl import params
from anchorctl.cli.options import (
    OUTPUT,
    SOURCE,
    ConventionCommand,
    anchor_options,
    flag,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, resolve, source_options
from anchorctl.export import TARGETS  # declared without numpy: cheap to import here

if TYPE_CHECKING:
    from anchorctl.export import AnchorSet


@dataclass(frozen=True)
class ExportOptions:
    """``export``'s own options."""

    target: str = ""
    level_strides: tuple[float, ...] | None = None
    suggestion: Path | None = None


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
  anchorctl export --suggestion suggested.json --to yolo
""",
)
@source_options
@option(
    "--suggestion",
    type=params.InputPath(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    section=SOURCE,
    help="The per-level anchors of a `suggest --format json` report.",
)
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

    --suggestion FILE exports the levels `anchorctl suggest --format json` wrote instead.
    The snippet names its units and ratio definition in a header; where TARGET's grammar
    cannot make exactly these shapes it writes the nearest config and says by how much it
    is off (and which exact alternative exists).
    """
    run_export(AnchorOptions.from_context(ctx), record(ExportOptions, values))


def run_export(request: AnchorOptions, opts: ExportOptions) -> None:
    """``export`` with its options read."""
    from anchorctl.export import anchor_set_from_levels

    if opts.suggestion is not None:
        anchor_set = _suggested(request, opts.suggestion)
    else:
        source = resolve(request)
        size = source.image_size
        if size is None:
            raise click.UsageError(
                "export needs the network input size: --input-size WxH or a --preset"
            )
        anchor_set = anchor_set_from_levels(source.levels, source.rules, size)
    _write(_with_strides(anchor_set, opts.level_strides), opts.target)


def _suggested(request: AnchorOptions, path: Path) -> AnchorSet:
    """The levels of a suggest report; nothing else may describe the anchors."""
    from anchorctl.suggest import read_report

    given = [n for n in ("preset", "config_file") if getattr(request, n) is not None]
    given += list(request.given)
    if request.input_size is not None or request.image_file is not None:
        given.append("input_size" if request.input_size is not None else "image")
    if given:
        names = ", ".join(flag(n.removesuffix("_file")) for n in given)
        raise click.UsageError(
            f"--suggestion FILE describes the anchors (and their input size); drop {names}"
        )
    return read_report(path)


def _with_strides(anchor_set: AnchorSet, strides: tuple[float, ...] | None) -> AnchorSet:
    """``anchor_set`` with ``--level-strides`` as its levels' strides, when given."""
    import dataclasses

    if strides is None:
        return anchor_set
    if len(strides) != len(anchor_set.levels):
        raise click.BadParameter(
            f"{len(strides)} strides for {len(anchor_set.levels)} levels; give one per level",
            param_hint="'--level-strides'",
        )
    levels = tuple(
        dataclasses.replace(level, stride=float(stride))
        for level, stride in zip(anchor_set.levels, strides, strict=True)
    )
    return dataclasses.replace(anchor_set, levels=levels)


def _write(anchor_set: AnchorSet, target: str) -> None:
    """The snippet on stdout; when it is not exact, the one-line verdict on stderr too."""
    from anchorctl.export import snippet

    written = snippet(anchor_set, target)
    click.echo(written.text, nl=False)
    if not written.exact:  # the header says it too; this line reaches someone piping it on
        click.echo(f"anchorctl: {written.summary}", err=True)
