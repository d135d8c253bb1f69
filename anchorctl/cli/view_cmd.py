"""``anchorctl view``: an image with its anchors, cell by cell, as one interactive HTML page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.list_cmd import level_option
from anchorctl.cli.options import ConventionCommand, anchor_options
from anchorctl.cli.source import from_cli, source_options
from anchorctl.errors import AnchorError


@click.command(
    "view",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl view cat.jpg --preset ssd300 -o view.html
  anchorctl view cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 -o view.html
  anchorctl view rocket.jpg --preset yolov5 --boxes labels/ -o rocket.html
  anchorctl view photo.jpg --preset fasterrcnn-fpn --level 2 -o p2.html

The page opens from disk with no network. Hover a cell to see its anchors (click to pin);
tick levels on and off. Numbers are anchorctl's own: the same as `anchorctl explain` for
that cell.
""",
)
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@source_options
@anchor_options
@click.option(
    "--input-size",
    "input_size",
    type=params.IMAGE_SIZE,
    default=None,
    help="Network input WIDTHxHEIGHT the anchors are laid on; the image is stretched to it. "
    "[default: the preset's, else the image's own size]",
)
@level_option
@click.option(
    "--boxes",
    "boxes_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Ground-truth annotations (COCO, VOC, YOLO or CSV): the image's boxes with their best "
    "anchors and IoU.",
)
@click.option(
    "--annotations-format",
    "ann_format",
    type=click.Choice(("coco", "voc", "yolo", "csv")),
    default=None,
    help="Format of --boxes. [default: from the file or folder]",
)
@click.option(
    "--iou",
    "iou_threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    metavar="T",
    help="With --boxes: the IoU at which a box counts as covered.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (whole or not at all).",
)
@click.pass_context
def view(
    ctx: click.Context,
    /,
    image: Path,
    input_size: tuple[int, int] | None,
    level: int | None,
    boxes_path: Path | None,
    ann_format: str | None,
    iou_threshold: float,
    output: Path,
    **values: Any,
) -> None:
    """Write an HTML page of IMAGE with an interactive anchor overlay.

    Hover or click a feature-map cell to see its anchors, with a toggle per level, each
    slot's parameters and size in pixels, and the cell's centre and stride. With --boxes, the
    image's ground-truth boxes with their best anchors and IoU. Everything is in one file.
    """
    from anchorctl.imagesize import image_size
    from anchorctl.iou import grid_from_levels
    from anchorctl.pages import images, viewer

    if output.exists() and image.exists():
        try:
            if output.samefile(image):
                raise click.UsageError(
                    f"refusing to overwrite the input {str(image)!r}; choose another -o"
                )
        except OSError:
            pass
    header = image_size(image)
    size = input_size
    if size is None and values.get("preset") is None:
        size = header
    source = from_cli(ctx, {**values, "image_size": size, "level": level})
    net = source.image_size or header
    if level is not None and level >= len(source.levels):
        raise click.BadParameter(
            f"level {level} does not exist; this source has levels 0..{len(source.levels) - 1}",
            param_hint="'--level'",
        )
    level_ids = [level] if level is not None else list(range(len(source.levels)))
    grid = grid_from_levels(source.levels, source.rules, net)
    data, mime, _, full = images.view_image(image)
    picture = viewer.Picture(data, mime, full, image.name)
    truth = None
    if boxes_path is not None:
        truth = _truth(image, boxes_path, ann_format, full, net, grid, iou_threshold)
    name = source.preset.name if source.preset else source.convention
    facts = [
        f"{source.rules.title} · ratio = {source.rules.ratio_meaning} · "
        f"{sum(source.levels[i].count for i in level_ids):,} anchors on {len(level_ids)} "
        f"level(s)",
        f"network input {net[0]}x{net[1]} px; image {full[0]}x{full[1]} px"
        + ("" if net == full else " (stretched to the input)"),
    ]
    if truth is not None:
        ok = int((truth.ious >= iou_threshold).sum())
        facts.append(
            f"{len(truth.ious)} ground-truth boxes: {ok} covered, {len(truth.ious) - ok} missed "
            f"at IoU {iou_threshold:g}"
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
    from anchorctl.atomic import atomic_write

    payload = html.encode("utf-8")
    try:
        with atomic_write(output) as handle:
            handle.write(payload)
    except OSError as exc:
        raise AnchorError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    if sys.stderr.isatty():
        click.echo(f"anchorctl: wrote {output} ({len(payload) / 1024:,.0f} KiB)", err=True)


def _truth(
    image: Path,
    boxes_path: Path,
    ann_format: str | None,
    full: tuple[int, int],
    net: tuple[int, int],
    grid: Any,
    threshold: float,
) -> Any:
    """The image's ground-truth boxes in input pixels, with their best anchors."""
    import numpy as np

    from anchorctl.annotations import read_annotations
    from anchorctl.annotations.detect import resolve
    from anchorctl.iou import best_anchor
    from anchorctl.pages.viewer import Truth

    kind = resolve(boxes_path, ann_format).fmt
    ann = read_annotations(boxes_path, kind, images_dir=image.parent if kind == "yolo" else None)
    names = [record.name for record in ann.images]
    matches = [i for i, n in enumerate(names) if Path(n).name == image.name]
    matches = matches or [i for i, n in enumerate(names) if Path(n).stem == image.stem]
    if not matches:
        raise AnchorError(f"{image.name}: no boxes for this image in the --boxes annotations")
    index = matches[0]
    record = ann.images[index]
    gt = ann.boxes[ann.image_index == index].astype(np.float64)
    # the annotation's pixels -> the network input (stretch, as the overlay is drawn)
    gt = gt * np.array([net[0] / record.width, net[1] / record.height] * 2)
    match = best_anchor(gt, grid.anchors, (), grid)
    where = np.stack(grid.locate(match.best_index), axis=1)
    return Truth(gt, grid.anchors[match.best_index], match.best_iou, where, threshold)
