"""``anchorctl coverage``: how well anchors cover a data set's boxes, with a CI gate.

The data set is read as a stream and its boxes matched on ``--jobs`` workers
(:func:`anchorctl.parallel.coverage_stats`), so memory does not grow with the boxes; the
JSON report carries its statistics, and ``--merge`` combines the reports of shards into the
report of the whole (:mod:`anchorctl.coverage_stats`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from anchorctl import params
from anchorctl.cli.dataset import (
    DatasetOptions,
    Resize,
    open_dataset,
    progress_bar,
    shards_dataset_options,
    stream_plan,
)
from anchorctl.cli.options import (
    DATA,
    OUTPUT,
    ConventionCommand,
    anchor_options,
    anchor_t_option,
    deprecated,
    format_option,
    input_size_options,
    jobs_option,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, source_options

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
    jobs: int | None = None
    merge: bool = False

    def recall_at(self) -> tuple[list[float], float]:
        """The thresholds to report (the main one among them, added last if missing) and
        the main one: ``--iou``, or with the old ``--iou T1,T2,...`` 0.5 if listed, else the
        first."""
        if isinstance(self.iou, tuple):
            if self.thresholds is not None:
                raise click.UsageError(
                    "--iou T1,T2,... is the old name of --thresholds; give --thresholds only"
                )
            listed = [float(t) for t in self.iou]
            return listed, 0.5 if 0.5 in listed else listed[0]
        listed = [float(t) for t in self.thresholds or THRESHOLDS]
        main = float(self.iou)
        return listed + ([] if main in listed else [main]), main


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
  anchorctl coverage part-1.json --preset ssd300 --format json > cov-1.json
  anchorctl coverage --merge cov-1.json cov-2.json --fail-under 0.9
""",
)
@shards_dataset_options
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
    help="A box is covered at best IoU >= T.",
)
@option(
    "--thresholds",
    type=params.THRESHOLDS,
    default=None,
    help="Recall at these IoUs too. [default: 0.3,0.5,0.7]",
)
@option(
    "--fail-under",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="RECALL",
    help="Exit 1 under this recall at --iou (CI).",
)
@option("--worst", type=click.IntRange(min=0), default=10, show_default=True, metavar="N",
        help="Worst-covered boxes to list.")  # fmt: skip
@anchor_t_option("YOLO's ratio threshold (BPR).")
@format_option(("table", "json"), "A report for people, or JSON for scripts.")
@jobs_option()
@option(
    "--merge",
    is_flag=True,
    section=DATA,
    help="ANNOTATIONS are shards' JSON reports to merge.",
)
@click.pass_context
def coverage(ctx: click.Context, /, **values: Any) -> None:
    """Check how well the anchors cover the ground-truth boxes of ANNOTATIONS.

    Boxes are mapped to the network input as training does (--resize) and matched to every
    anchor at their position and by shape (YOLO's ratio test, BPR). The report gives recall,
    mean best IoU and BPR by COCO size and aspect ratio, and the worst boxes. Files are
    streamed and matched on every core.
    """
    files: tuple[Path, ...] = values.pop("annotations")
    opts = record(CoverageOptions, values)
    if opts.merge:
        _refuse_unread_options(ctx)
        report = merged_report(files)
    elif len(files) == 1:
        data = record(DatasetOptions, {**values, "annotations": files[0]})
        report = measured_report(AnchorOptions.from_context(ctx), data, opts)
    else:
        raise click.UsageError(
            "give one ANNOTATIONS file or folder (several only with --merge)"
            if files
            else "missing argument 'ANNOTATIONS'"
        )
    emit(report, opts)


def measured_report(
    anchors: AnchorOptions, data: DatasetOptions, opts: CoverageOptions
) -> dict[str, Any]:
    """Read the data set as a stream and measure every box on ``opts.jobs`` workers: the
    report, with the settings (``setup``) and statistics (``stats``) ``--merge`` reads."""
    from anchorctl.parallel import coverage_stats

    thresholds, main = opts.recall_at()
    resize, mapping, grids = stream_plan(anchors, data)
    first: list[tuple[int, int]] = []
    with (
        progress_bar("reading annotations and matching boxes", data.quiet) as advance,
        open_dataset(data, advance) as stream,
    ):
        stats = coverage_stats(
            iter(stream),
            grids,
            mapping,
            tuple(thresholds),
            main=main,
            worst=opts.worst,
            yolo_thr=opts.anchor_t,
            jobs=opts.jobs,
            first_size=first,
        )
    stats.name_images(stream.images.names.__getitem__)
    probe = grids.resolved(first[0] if first else None)
    setup = {
        "convention": probe.convention,
        "preset": probe.preset.name if probe.preset else None,
        "resize": resize.mode,
        "input_size": list(mapping.input_size) if mapping.input_size else None,
        "shorter_side": list(mapping.shorter_side) if mapping.shorter_side else None,
        "anchors": _fingerprint(probe, resize),
    }
    return {
        "annotations": str(data.annotations),
        "format": stream.format,
        "convention": probe.convention,
        "preset": setup["preset"],
        "resize": resize.mode,
        "resize_from": resize.origin,
        "shorter_side": setup["shorter_side"],
        "skipped": stream.skipped.total,
        "skipped_by_reason": stream.skipped.counts(),
        **stats.report(),
        "setup": setup,
        "stats": stats.to_json(),
    }


def _fingerprint(probe: Source, resize: Resize) -> str:
    """A digest of what makes the anchors, so that only shards of one setting merge (the
    input size aside, which ``setup`` states; with shorter-side resizing, what follows from
    the input too, as every image has its own)."""
    import hashlib

    varies = {"image_size"} | ({"feature_maps"} if resize.mode == "shorter-side" else set())
    described = repr(sorted((k, v) for k, v in probe.params.items() if k not in varies))
    return hashlib.sha256(f"{probe.convention}|{described}".encode()).hexdigest()[:16]


# What --merge reads: the shards' reports, and how to show the merged one.
_MERGE_READS = {"annotations", "merge", "fmt", "fail_under", "quiet", "jobs"}


def _refuse_unread_options(ctx: click.Context) -> None:
    """A usage error naming the options given with --merge that it would not read."""
    flags = {p.name: p.opts[0] for p in ctx.command.get_params(ctx)}
    given = [
        flags.get(name, name)
        for name in ctx.params
        if name not in _MERGE_READS
        and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(
            f"{', '.join(given)}: not read with --merge (each shard's report carries its settings)"
        )


REPORT_BYTES = 1 << 26  # a shard's JSON report: its worst boxes and a few counts


def merged_report(files: tuple[Path, ...]) -> dict[str, Any]:
    """The report of the shards' JSON reports ``files`` (see
    :func:`anchorctl.coverage_stats.merged`): one run's settings, every shard's boxes."""
    from anchorctl.annotations.textio import read_capped
    from anchorctl.coverage_stats import CoverageStats, merged
    from anchorctl.errors import AnchorError

    if not files:
        raise click.UsageError("--merge needs the JSON reports of the shards as ANNOTATIONS...")
    what = "a coverage report (coverage --format json)"
    parts: list[CoverageStats] = []
    reports: list[dict[str, Any]] = []
    for path in files:
        name = str(path)
        try:
            data = json.loads(read_capped(path, name, REPORT_BYTES, what))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise AnchorError(f"{name}: not JSON; expected {what}") from None
        if not isinstance(data, dict) or "stats" not in data or "setup" not in data:
            raise AnchorError(
                f"{name}: not a coverage report with statistics (made by "
                "`anchorctl coverage --format json`)"
            )
        if reports and data["setup"] != reports[0]["setup"]:
            first = reports[0]["setup"]
            keys = sorted(k for k in {*data["setup"], *first}
                          if data["setup"].get(k) != first.get(k))  # fmt: skip
            raise AnchorError(
                f"{name}: measured with other settings than {files[0]} "
                f"({', '.join(keys)} differ); only shards of one run can be merged"
            )
        parts.append(CoverageStats.from_json(data["stats"], name))
        reports.append(data)
    stats = merged(parts)
    reasons: dict[str, int] = {}
    for data in reports:
        for reason, count in dict(data.get("skipped_by_reason") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(count)
    formats = sorted({str(data.get("format")) for data in reports})
    first = reports[0]
    return {
        "annotations": [str(path) for path in files],
        "format": ",".join(formats),
        "convention": first.get("convention"),
        "preset": first.get("preset"),
        "resize": first.get("resize"),
        "resize_from": first.get("resize_from"),
        "shorter_side": first.get("shorter_side"),
        "skipped": sum(int(data.get("skipped") or 0) for data in reports),
        "skipped_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        **stats.report(),
        "setup": first["setup"],
        "stats": stats.to_json(),
    }


def emit(report: dict[str, Any], opts: CoverageOptions) -> None:
    """Print the report (table or JSON) and apply --fail-under."""
    if opts.fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        shorter = report.get("shorter_side")
        resize = Resize(
            str(report["resize"]),
            (int(shorter[0]), int(shorter[1])) if shorter else None,
            str(report.get("resize_from") or "--resize"),
            report.get("preset"),
        )
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
