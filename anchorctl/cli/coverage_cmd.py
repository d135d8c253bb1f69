"""``anchorctl coverage``: how well anchors cover a data set's boxes, with a CI gate."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.dataset import (
    dataset_options,
    input_boxes,
    progress_bar,
    read_dataset,
    skipped_summary,
)
from anchorctl.cli.options import ConventionCommand, anchor_options
from anchorctl.cli.source import from_cli, source_options


@click.command(
    "coverage",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl coverage instances_val2017.json --preset ssd300
  anchorctl coverage VOC2007/Annotations --preset faster-rcnn \
      --resize shorter-side --shorter-side 600,1000
  anchorctl coverage labels/ --images-dir images/ --preset yolov5 --resize letterbox \
      --fail-under 0.95
  anchorctl coverage boxes.csv --convention torchvision --sizes 32 --ratios 0.5,1,2 \\
      --feature-map 20x20 --input-size 640x640 --format json
""",
)
@dataset_options
@source_options
@anchor_options
@click.option(
    "--iou",
    "thresholds",
    type=params.FloatList("T1,T2,...", "0.3,0.5,0.7", unit_interval=True),
    default="0.3,0.5,0.7",
    show_default=True,
    help="IoU thresholds for recall; the main one is 0.5 if listed, else the first.",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="RECALL",
    help="Exit 1 when recall at the main threshold is lower (for CI).",
)
@click.option("--worst", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the worst-covered boxes to list.")  # fmt: skip
@click.option(
    "--anchor-t",
    "anchor_t",
    type=click.FloatRange(min=1, min_open=True),
    default=4.0,
    show_default=True,
    metavar="T",
    help="YOLO's ratio threshold (anchor_t) for BPR and anchors per target: a box matches an "
    "anchor whose width and height are both within 1/T..T of its own.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="A report for people, or JSON for scripts.",
)
@click.pass_context
def coverage(ctx: click.Context, /, **values: Any) -> None:
    """Check how well the anchors cover the ground-truth boxes of ANNOTATIONS.

    Boxes are mapped to the network input as training does (--resize), then each is matched
    position-aware (the best IoU over every anchor at its position, as SSD and RPN assign)
    and shape-only (centred shapes, and YOLO's width/height-ratio test with its best possible
    recall, BPR). The report gives recall at each --iou threshold, the mean best IoU and BPR,
    broken down by COCO size (small < 32x32 px of the input, medium < 96x96, large) and by
    aspect ratio, and lists the worst-covered boxes.
    """
    from anchorctl import coverage as cov
    from anchorctl.iou import grid_from_levels

    quiet = values["quiet"]
    with progress_bar("reading annotations", quiet) as advance:
        ann = read_dataset(values, advance)
    # The anchors as given, to learn the preset's input size and check the options early.
    if values["resize"] == "shorter-side":
        boxes, sizes = input_boxes(ann, values, None)
        first = (int(sizes[0][0]), int(sizes[0][1])) if len(sizes) else None
        probe = from_cli(ctx, {**values, "image_size": first})
    else:
        probe = from_cli(ctx, {**values, "image_size": values.get("input_size")})
        boxes, sizes = input_boxes(ann, values, probe.image_size)
    cache: dict[tuple[int, int], Any] = {}

    def grids(size: tuple[int, int]) -> Any:
        size = (int(size[0]), int(size[1]))
        if size not in cache:
            source = (
                probe if probe.image_size == size else from_cli(ctx, {**values, "image_size": size})
            )
            cache[size] = grid_from_levels(source.levels, source.rules, size)
        return cache[size]

    thresholds = list(values["thresholds"])
    with progress_bar("matching boxes to anchors", quiet) as advance:
        report = cov.coverage_report(
            boxes,
            sizes,
            grids,
            thresholds,
            image_index=ann.image_index,
            image_names=[image.name for image in ann.images],
            worst=values["worst"],
            yolo_thr=values["anchor_t"],
            progress=advance,
        )
    report = {
        "annotations": str(values["annotations"]),
        "format": ann.format,
        "convention": probe.convention,
        "preset": probe.preset.name if probe.preset else None,
        "resize": values["resize"],
        "skipped": len(ann.skipped),
        "skipped_by_reason": skipped_summary(ann),
        **report,
    }
    if values["fmt"] == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    fail_under = values["fail_under"]
    if fail_under is not None:
        main = f"{report['main_threshold']:g}"
        recall = report["recall"][main]
        if recall is None or recall < fail_under:
            shown = "n/a" if recall is None else f"{recall:.4f}"
            raise click.ClickException(
                f"recall at IoU {main} is {shown}, under --fail-under {fail_under:g}"
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    from anchorctl.tables import console

    con = console(sys.stdout)
    source = report["preset"] or report["convention"]
    con.print(
        f"coverage of {report['boxes']:,} boxes ({report['format']}, {report['skipped']:,} "
        f"skipped) by {source} anchors · resize {report['resize']} · IoU in input pixels",
        style="bold cyan",
        soft_wrap=True,
    )
    if report["skipped_by_reason"]:
        reasons = ", ".join(f"{n:,} {r}" for r, n in report["skipped_by_reason"].items())
        con.print(f"skipped: {reasons}", soft_wrap=True)
    summary = Table(header_style="bold magenta")
    for name in ("measure", "value"):
        summary.add_column(name, justify="right" if name == "value" else "left")
    for key, value in report["recall"].items():
        summary.add_row(f"recall at IoU {key} (position-aware)", _pct(value))
    summary.add_row("mean best IoU (position-aware)", _num(report["mean_best_iou"]))
    shape = report.get("shape") or {}
    if shape:
        summary.add_row("mean best IoU (shape-only, centred)", _num(shape.get("mean_best_iou")))
    summary.add_row(f"BPR (YOLO ratio test, thr {report['yolo_thr']:g})", _pct(report["bpr"]))
    con.print(summary)
    for key, title in (("by_size", "size (input px)"), ("by_aspect", "aspect w/h")):
        table = Table(header_style="bold magenta")
        for name in (
            title,
            "boxes",
            f"recall@{report['main_threshold']:g}",
            "mean best IoU",
            "BPR",
        ):
            table.add_column(name, justify="left" if name == title else "right")
        for bucket, row in report[key].items():
            table.add_row(bucket, f"{row['count']:,}", _pct(row["recall"]),
                          _num(row["mean_best_iou"]), _pct(row["bpr"]))  # fmt: skip
        con.print(table)
    if report["worst"]:
        table = Table(
            title="worst-covered boxes", title_justify="left", header_style="bold magenta"
        )
        for name in ("image", "box (input px)", "best IoU", "best anchor (level, row, col, slot)"):
            table.add_column(name)
        for row in report["worst"]:
            box = ", ".join(f"{v:.1f}" for v in row["box"])
            a = row["anchor"]
            table.add_row(str(row["image"]), box, f"{row['best_iou']:.3f}",
                          f"{a['level']}, {a['row']}, {a['col']}, {a['slot']}")  # fmt: skip
        con.print(table)
