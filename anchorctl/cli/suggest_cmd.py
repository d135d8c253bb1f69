"""``anchorctl suggest``: anchors fitted to a data set's boxes by IoU k-means."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from anchorctl.cli.dataset import DatasetOptions, dataset_options, load_boxes
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    format_option,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, source_options


@dataclass(frozen=True)
class SuggestOptions:
    """``suggest``'s own options."""

    k: int = 9
    seed: int = 0
    method: str = "means"
    fmt: str = "table"


@click.command(
    "suggest",
    cls=ConventionCommand,
    section="Fitting",
    epilog="""\b
Examples:
  anchorctl suggest instances_train2017.json --preset yolov5 --k 9
  anchorctl suggest labels/ --images-dir images/ --input-size 640x640 --k 6 \\
      --method medians
  anchorctl suggest boxes.csv --preset fasterrcnn-fpn --k 9 --format json
""",
)
@dataset_options
@source_options
@anchor_options
@input_size_options(image_file=False, legacy=False, default_help="the preset's")
@option("--k", "k", type=click.IntRange(min=1), default=9, show_default=True, metavar="K",
        help="How many anchors to fit.")  # fmt: skip
@option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Seed of the k-means++ start; the same seed gives the same anchors.",
)
@option(
    "--method",
    type=click.Choice(("means", "medians")),
    default="means",
    show_default=True,
    metavar="METHOD",
    help="Cluster centres by mean or by median (medians often reach a higher mean IoU).",
)
@format_option(
    ("table", "json"),
    "A report for people, or JSON with `anchors` ([w, h] input pixels) and `mean_iou`.",
)
@click.pass_context
def suggest(ctx: click.Context, /, **values: Any) -> None:
    """Fit K anchors to the boxes of ANNOTATIONS with IoU k-means (k-means++ start).

    The boxes are mapped to the network input first (--resize). The anchors are printed as
    width x height in input pixels, sorted by area, then as the convention's own options
    (--convention, or the preset's) where they can be expressed, saying so when they cannot
    be exactly; then a before/after table against the current anchors (shape-only: centred
    IoU and YOLO's ratio test).
    """
    run_suggest(
        AnchorOptions.from_context(ctx),
        record(DatasetOptions, values),
        record(SuggestOptions, values),
    )


def run_suggest(anchors: AnchorOptions, data: DatasetOptions, opts: SuggestOptions) -> None:
    """``suggest`` with its options read."""
    import numpy as np

    from anchorctl.coverage import yolo_metric
    from anchorctl.iou import shape_best_iou
    from anchorctl.suggest import express, kmeans_anchors

    loaded = load_boxes(anchors, data)
    ann, resize, boxes, current = loaded.annotations, loaded.resize, loaded.boxes, loaded.source
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    result = kmeans_anchors(wh, opts.k, seed=opts.seed, method=opts.method)
    size = current.image_size
    expressed = express(result.anchors, current.convention, input_size=size)
    current_wh = _current_shapes(current)

    def metrics(anchor_wh: Any) -> dict[str, Any]:
        best, _ = shape_best_iou(wh, anchor_wh)
        _, bpr, aat = yolo_metric(wh, anchor_wh)
        return {
            "anchors": len(anchor_wh),
            "mean_best_iou": float(best.mean()) if len(best) else None,
            "recall_0.5": float((best >= 0.5).mean()) if len(best) else None,
            "bpr": bpr,
            "anchors_per_target": aat,
        }

    report = {
        "boxes": len(wh),
        "skipped": len(ann.skipped),
        "k": opts.k,
        "seed": opts.seed,
        "method": opts.method,
        "resize": resize.mode,
        "resize_from": resize.origin,
        "anchors": [[float(w), float(h)] for w, h in result.anchors.tolist()],
        "mean_iou": result.mean_iou,
        "converged": result.converged,
        "iterations": result.iterations,
        "convention": current.convention,
        "expressed": {
            "options": expressed.command_line(),
            "exact": expressed.exact,
            "max_rel_error": expressed.max_rel_error,
            "note": expressed.note,
        },
        "before": metrics(current_wh),
        "after": metrics(result.anchors),
    }
    if opts.fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    _print(report, resize.describe())


def _current_shapes(source: Any) -> Any:
    """Every distinct per-cell shape of the current anchors, ``(K, 2)`` in input pixels."""
    import numpy as np

    size = source.image_size
    out = []
    for level in source.levels:
        sx, sy = (1.0, 1.0)
        if level.is_normalized(source.rules) and size is not None:
            sx, sy = float(size[0]), float(size[1])
        out += [(shape.width * sx, shape.height * sy) for shape in level.shapes]
    return np.unique(np.array(out, dtype=np.float64), axis=0)


def _print(report: dict[str, Any], resize: str) -> None:
    from rich.table import Table

    from anchorctl.tables import console

    con = console(sys.stdout)
    con.print(
        f"{report['k']} anchors fitted to {report['boxes']:,} boxes by IoU k-{report['method']} "
        f"(seed {report['seed']}, {report['iterations']} iterations) · mean IoU "
        f"{report['mean_iou']:.4f} · boxes resized by {resize} · width x height in network-input "
        "pixels",
        style="bold cyan",
        soft_wrap=True,
    )
    table = Table(header_style="bold magenta")
    for name in ("#", "width", "height", "w/h", "area"):
        table.add_column(name, justify="right")
    for i, (w, h) in enumerate(report["anchors"]):
        table.add_row(str(i), f"{w:.1f}", f"{h:.1f}", f"{w / h:.3g}", f"{w * h:,.0f}")
    con.print(table)
    expressed = report["expressed"]
    exact = (
        "exactly"
        if expressed["exact"]
        else (f"approximately (off by up to {100 * expressed['max_rel_error']:.1f}%)")
    )
    con.print(f"as {report['convention']} options, {exact}: {expressed['options']}", soft_wrap=True)
    con.print(expressed["note"], soft_wrap=True)
    before, after = report["before"], report["after"]
    table = Table(title="shape-only coverage (centred IoU, YOLO ratio test)", title_justify="left",
                  header_style="bold magenta")  # fmt: skip
    for name in ("", "current anchors", "suggested"):
        table.add_column(name, justify="right" if name else "left")
    table.add_row("shapes", str(before["anchors"]), str(after["anchors"]))
    rows = (
        ("mean_best_iou", "mean best IoU"),
        ("recall_0.5", "recall at IoU 0.5"),
        ("bpr", "BPR (thr 4)"),
        ("anchors_per_target", "anchors per target"),
    )
    for key, label in rows:
        table.add_row(label, _fmt(before[key]), _fmt(after[key]))
    con.print(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"
