"""``anchorctl view``: an image with its anchors, cell by cell, as one interactive HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchorctl.cli import pictures
from anchorctl.cli.dataset import image_truth, read_truth
from anchorctl.cli.html_output import html_output_option, write_html
from anchorctl.cli.list_cmd import level_option
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    annotations_format_option,
    input_size_options,
    iou_option,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, resolve, source_options
from anchorctl.cli.streams import check_output
from anchorctl.params import InputPath

if TYPE_CHECKING:
    from anchorctl.iou import GridInfo
    from anchorctl.pages.viewer import Truth

_TRUTH = "Ground truth"


@dataclass(frozen=True)
class ViewOptions:
    """``view``'s own options."""

    image: Path
    output: Path
    level: int | None = None
    boxes_path: Path | None = None
    annotations_format: str | None = None
    iou: float = 0.5


@click.command(
    "view",
    cls=ConventionCommand,
    section="View",
    epilog="""\b
Examples:
  anchorctl view cat.jpg --preset ssd300 -o view.html
  anchorctl view cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 \\
      -o view.html
  anchorctl view rocket.jpg --preset yolov5 --boxes labels/ -o rocket.html
  anchorctl view photo.jpg --preset fasterrcnn-fpn --level 2 -o p2.html

The page opens from disk with no network. Hover a cell to see its anchors (click to
pin); tick levels on and off. The numbers are those `anchorctl explain` prints for
that cell.
""",
)
@click.argument("image", type=InputPath(dir_okay=False, path_type=Path))
@source_options
@anchor_options
@input_size_options(
    image_file=False,
    legacy=False,
    default_help="the preset's, else the image's own size; the image is stretched to it",
)
@level_option
@option(
    "--boxes",
    "boxes_path",
    type=InputPath(path_type=Path),
    default=None,
    metavar="ANNOTATIONS",
    section=_TRUTH,
    help="Ground-truth boxes of the image: each with its best anchor and IoU.",
)
@annotations_format_option(section=_TRUTH)
@iou_option("With --boxes: the IoU at which a box counts as covered.", section=_TRUTH)
@html_output_option
@click.pass_context
def view(ctx: click.Context, /, **values: Any) -> None:
    """Write an HTML page of IMAGE with an interactive anchor overlay.

    Hover or click a feature-map cell to see its anchors, with a toggle per level, each
    slot's parameters and size in pixels, and the cell's centre and stride. With --boxes,
    the image's ground-truth boxes with their best anchors and IoU. One file, no network.
    """
    run_view(AnchorOptions.from_context(ctx), record(ViewOptions, values))


def run_view(request: AnchorOptions, opts: ViewOptions) -> None:
    """``view`` with its options read."""
    from anchorctl.iou import grid_from_levels
    from anchorctl.pages import images, viewer

    check_output(opts.output)
    image = pictures.read_if_stream(opts.image)
    header = pictures.picture_size(image)
    if request.follows_picture():
        request = request.at(header)  # the image is the network input
    source = resolve(request)
    net = source.image_size or header
    if opts.level is not None and opts.level >= len(source.levels):
        raise click.BadParameter(
            f"level {opts.level} does not exist; this source has levels "
            f"0..{len(source.levels) - 1}",
            param_hint="'--level'",
        )
    level_ids = [opts.level] if opts.level is not None else list(range(len(source.levels)))
    grid = grid_from_levels(source.levels, source.rules, net)
    data, mime, _, full = images.view_image(pictures.readable(image))
    picture = viewer.Picture(data, mime, full, image.name)
    truth = None
    if opts.boxes_path is not None:
        truth = _truth(image, opts.boxes_path, opts, net, grid)
    name = source.preset.name if source.preset else source.convention
    facts = [
        f"{source.rules.title} · ratio = {source.rules.ratio_meaning} · "
        f"{sum(source.levels[i].count for i in level_ids):,} anchors on {len(level_ids)} "
        f"level(s)",
        f"network input {net[0]}x{net[1]} px; image {full[0]}x{full[1]} px"
        + ("" if net == full else " (stretched to the input)"),
    ]
    if truth is not None:
        ok = int((truth.ious >= opts.iou).sum())
        facts.append(
            f"{len(truth.ious)} ground-truth boxes: {ok} covered, {len(truth.ious) - ok} missed "
            f"at IoU {opts.iou:g}"
        )
    html = viewer.build_viewer(
        picture,
        source.levels,
        level_ids,
        source.rules,
        grid,
        title=f"{image.name}: {name} anchors",
        facts=facts,
        truth=truth,
    )
    write_html(opts.output, html)


def _truth(
    image: Path, boxes_path: Path, opts: ViewOptions, net: tuple[int, int], grid: GridInfo
) -> Truth:
    """The image's ground-truth boxes in input pixels (stretched, as the overlay is drawn),
    with their best anchors."""
    import numpy as np

    from anchorctl.iou import best_anchor
    from anchorctl.pages.viewer import Truth

    ann = read_truth(boxes_path, opts.annotations_format, image.parent)
    gt = image_truth(ann, image, net)
    match = best_anchor(gt, grid.anchors, (), grid)
    where = np.stack(grid.locate(match.best_index), axis=1)
    return Truth(gt, grid.anchors[match.best_index], match.best_iou, where, opts.iou)
