"""``anchorctl coverage``: how well anchors cover a data set's boxes, with a CI gate."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click
from click.core import ParameterSource

from anchorctl import params
from anchorctl.cli.dataset import (
    DatasetOptions,
    dataset_options,
    load_boxes,
    progress_bar,
    skipped_summary,
)
from anchorctl.cli.options import (
    OUTPUT,
    ConventionCommand,
    anchor_options,
    anchor_t_option,
    deprecated,
    format_option,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, source_options

THRESHOLDS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class CoverageOptions:
    """``coverage``'s own options."""

    iou: float | tuple[float, ...] = 0.5
    thresholds: tuple[float, ...] | None = None
    fail_under: float | None = None
    worst: int = 10
    anchor_t: float = 4.0
    fmt: str = "table"

    def recall_at(self) -> tuple[list[float], float | None]:
        """The thresholds to report and the main one (``None``: 0.5 if listed, else the
        first, as the old ``--iou T1,T2,...`` chose it)."""
        if isinstance(self.iou, tuple):
            if self.thresholds is not None:
                raise click.UsageError(
                    "--iou T1,T2,... is the old name of --thresholds; give --thresholds only"
                )
            return list(self.iou), None
        return list(self.thresholds or THRESHOLDS), self.iou


def _old_iou_list(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if isinstance(value, tuple) and ctx.get_parameter_source("iou") is ParameterSource.COMMANDLINE:
        deprecated("--iou with a list", "--thresholds T1,T2,... (and --iou T for the main one)")
    return value


@click.command(
    "coverage",
    cls=ConventionCommand,
    section=OUTPUT,
    epilog="""\b
Examples:
  anchorctl coverage instances_val2017.json --preset ssd300
  anchorctl coverage VOC2007/Annotations --preset faster-rcnn
  anchorctl coverage labels/ --images-dir images/ --preset yolov5 \\
      --fail-under 0.95
  anchorctl coverage labels/ --image-size 1920x1080 --preset yolov5 --iou 0.6
  anchorctl coverage boxes.csv --convention torchvision --sizes 32 \\
      --ratios 0.5,1,2 --feature-map 20x20 --input-size 640x640 --format json
""",
)
@dataset_options
@source_options
@anchor_options
@input_size_options(image_file=False, legacy=False, default_help="the preset's")
@option(
    "--iou",
    "iou",
    type=params.IouOrList(),
    default=0.5,
    show_default=True,
    callback=_old_iou_list,
    help="The IoU at which a box counts as covered (for the breakdowns and --fail-under).",
)
@option(
    "--thresholds",
    type=params.THRESHOLDS,
    default=None,
    help="IoU thresholds to report recall at (--iou is added). [default: 0.3,0.5,0.7]",
)
@option(
    "--fail-under",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="RECALL",
    help="Exit 1 under this recall at --iou (CI).",
)
@option("--worst", type=click.IntRange(min=0), default=10, show_default=True, metavar="N",
        help="How many of the worst-covered boxes to list.")  # fmt: skip
@anchor_t_option("YOLO's ratio threshold (BPR).")
@format_option(("table", "json"), "A report for people, or JSON for scripts.")
@click.pass_context
def coverage(ctx: click.Context, /, **values: Any) -> None:
    """Check how well the anchors cover the ground-truth boxes of ANNOTATIONS.

    Boxes are mapped to the network input as training does (--resize); each is matched to
    every anchor at its position (as SSD and RPN assign) and by shape alone (centred, and
    YOLO's ratio test: best possible recall, BPR). The report gives recall, mean best IoU and
    BPR by COCO size (small < 32x32 input px, medium < 96x96, large) and by aspect ratio, and
    lists the worst-covered boxes.
    """
    run_coverage(
        AnchorOptions.from_context(ctx),
        record(DatasetOptions, values),
        record(CoverageOptions, values),
    )


def run_coverage(anchors: AnchorOptions, data: DatasetOptions, opts: CoverageOptions) -> None:
    """``coverage`` with its options read."""
    from anchorctl import coverage as cov

    thresholds, main = opts.recall_at()
    loaded = load_boxes(anchors, data)
    ann, resize, probe = loaded.annotations, loaded.resize, loaded.source
    with progress_bar("matching boxes to anchors", data.quiet) as advance:
        report = cov.coverage_report(
            loaded.boxes,
            loaded.sizes,
            loaded.grids,
            thresholds,
            main=main,
            image_index=ann.image_index,
            image_names=[image.name for image in ann.images],
            worst=opts.worst,
            yolo_thr=opts.anchor_t,
            progress=advance,
        )
    report = {
        "annotations": str(data.annotations),
        "format": ann.format,
        "convention": probe.convention,
        "preset": probe.preset.name if probe.preset else None,
        "resize": resize.mode,
        "resize_from": resize.origin,
        "shorter_side": list(resize.shorter_side or ()) or None,
        "skipped": len(ann.skipped),
        "skipped_by_reason": skipped_summary(ann),
        **report,
    }
    if opts.fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report, resize.describe())
    if opts.fail_under is not None:
        main_key = f"{report['main_threshold']:g}"
        recall = report["recall"][main_key]
        if recall is None or recall < opts.fail_under:
            shown = "n/a" if recall is None else f"{recall:.4f}"
            raise click.ClickException(
                f"recall at IoU {main_key} is {shown}, under --fail-under {opts.fail_under:g}"
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_report(report: dict[str, Any], resize: str) -> None:
    from anchorctl.tables import console, new_table

    con = console(sys.stdout)
    source = report["preset"] or report["convention"]
    con.print(
        f"coverage of {report['boxes']:,} boxes ({report['format']}, {report['skipped']:,} "
        f"skipped) by {source} anchors · resize {resize} · IoU in input pixels",
        style="bold cyan",
        soft_wrap=True,
    )
    if report["skipped_by_reason"]:
        reasons = ", ".join(f"{n:,} {r}" for r, n in report["skipped_by_reason"].items())
        con.print(f"skipped: {reasons}", soft_wrap=True)
    summary = new_table("measure", "value", left=("measure",))
    for key, value in report["recall"].items():
        summary.add_row(f"recall at IoU {key} (position-aware)", _pct(value))
    summary.add_row("mean best IoU (position-aware)", _num(report["mean_best_iou"]))
    shape = report.get("shape") or {}
    if shape:
        summary.add_row("mean best IoU (shape-only, centred)", _num(shape.get("mean_best_iou")))
    summary.add_row(f"BPR (YOLO ratio test, thr {report['yolo_thr']:g})", _pct(report["bpr"]))
    con.print(summary)
    main = f"recall@{report['main_threshold']:g}"
    for key, title in (("by_size", "size (input px)"), ("by_aspect", "aspect w/h")):
        table = new_table(title, "boxes", main, "mean best IoU", "BPR", left=(title,))
        for bucket, row in report[key].items():
            table.add_row(bucket, f"{row['count']:,}", _pct(row["recall"]),
                          _num(row["mean_best_iou"]), _pct(row["bpr"]))  # fmt: skip
        con.print(table)
    if report["worst"]:
        columns = ("image", "box (input px)", "best IoU", "best anchor\nlevel,row,col,slot")
        table = new_table(*columns, left=columns, title="worst-covered boxes", title_justify="left")
        for row in report["worst"]:
            box = ", ".join(f"{v:.1f}" for v in row["box"])
            a = row["anchor"]
            table.add_row(str(row["image"]), box, f"{row['best_iou']:.3f}",
                          f"{a['level']}, {a['row']}, {a['col']}, {a['slot']}")  # fmt: skip
        con.print(table)
