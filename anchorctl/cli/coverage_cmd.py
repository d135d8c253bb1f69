"""``anchorctl coverage``: how well anchors cover a data set's boxes, with a CI gate."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from anchorctl import params
from anchorctl.cli.dataset import dataset_options_many, open_dataset, progress_bar
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
  anchorctl coverage train-annotations-bbox.csv --image-sizes sizes.csv --preset retinanet
  anchorctl coverage part-0.json --preset ssd300 --format json > shard-0.json
  anchorctl coverage --merge shard-0.json shard-1.json shard-2.json
""",
)
@dataset_options_many
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
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="A report for people, or JSON for scripts.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Worker processes matching boxes to anchors (the report is the same for any N). "
    "[default: every core]",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Combine the JSON reports of shard runs (coverage --format json), given as "
    "ANNOTATIONS..., into the report of all their boxes.",
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

    Any data set size: the annotations are read as a stream and the boxes matched on every
    core (--jobs), in bounded memory. For data sets split into shards (one run per shard,
    on any machines, with --format json), --merge combines the shards' reports into the
    report of the whole: counts and recalls exactly, means to the last bit.
    """
    if values["merge"]:
        _emit(_merged(ctx, values), values)
        return
    files = values["annotations"]
    if len(files) != 1:
        raise click.UsageError(
            "give one ANNOTATIONS file or folder (several only with --merge)"
            if files
            else "missing argument 'ANNOTATIONS'"
        )
    values["annotations"] = files[0]
    report = _measured(ctx, values)
    _emit(report, values)


def _measured(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """Read the data set as a stream and measure every box: the report with its stats."""
    from anchorctl.coverage import DEFAULT_MAIN, YOLO_THR
    from anchorctl.iou import grid_from_levels
    from anchorctl.parallel import Mapping, coverage_stats

    thresholds = [float(t) for t in values["thresholds"]]
    main = DEFAULT_MAIN if DEFAULT_MAIN in thresholds else thresholds[0]
    mode = values["resize"]
    probe = None
    if mode == "shorter-side":
        shorter = values.get("shorter_side")
        if shorter is None:
            raise click.UsageError(
                "--resize shorter-side needs --shorter-side MIN,MAX (e.g. 800,1333)"
            )
        mapping = Mapping(mode, shorter_side=(int(shorter[0]), int(shorter[1])))
    else:
        probe = from_cli(ctx, {**values, "image_size": values.get("input_size")})
        size = values.get("input_size") or probe.image_size
        if size is None:
            raise click.UsageError(
                f"--resize {mode} needs the network input: give --input-size WxH or a --preset"
            )
        mapping = Mapping(mode, input_size=(int(size[0]), int(size[1])))
    cache: dict[tuple[int, int], Any] = {}

    def grids(size: tuple[int, int]) -> Any:
        size = (int(size[0]), int(size[1]))
        if size not in cache:
            if len(cache) >= 16:  # shorter-side gives every image shape its own input
                cache.pop(next(iter(cache)))
            source = (
                probe
                if probe is not None and probe.image_size == size
                else from_cli(ctx, {**values, "image_size": size})
            )
            cache[size] = grid_from_levels(source.levels, source.rules, size)
        return cache[size]

    first: list[tuple[int, int]] = []
    label = "reading annotations and matching boxes"
    with progress_bar(label, values["quiet"]) as advance, open_dataset(values, advance) as stream:
        stats = coverage_stats(
            iter(stream),
            grids,
            mapping,
            tuple(thresholds),
            main=main,
            worst=values["worst"],
            yolo_thr=YOLO_THR,
            jobs=values["jobs"],
            first_size=first,
        )
    stats.name_images(stream.images.names.__getitem__)
    if probe is None:
        probe = from_cli(ctx, {**values, "image_size": first[0] if first else None})
    setup = {
        "convention": probe.convention,
        "preset": probe.preset.name if probe.preset else None,
        "resize": mode,
        "input_size": list(mapping.input_size) if mapping.input_size else None,
        "shorter_side": list(mapping.shorter_side) if mapping.shorter_side else None,
        "anchors": _fingerprint(probe.convention, probe.params),
    }
    return {
        "annotations": str(values["annotations"]),
        "format": stream.format,
        "convention": probe.convention,
        "preset": setup["preset"],
        "resize": mode,
        "skipped": stream.skipped.total,
        "skipped_by_reason": stream.skipped.counts(),
        **stats.report(),
        "setup": setup,
        "stats": stats.to_json(),
    }


def _fingerprint(convention: str, params: Any) -> str:
    """A digest of what makes the anchors (the input size aside, which ``setup`` states)."""
    import hashlib

    described = repr(sorted((k, v) for k, v in params.items() if k != "image_size"))
    return hashlib.sha256(f"{convention}|{described}".encode()).hexdigest()[:16]


_MERGE_KEEPS = {"annotations", "merge", "fmt", "fail_under", "quiet", "jobs"}


def _merged(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The report of the shards' reports given as ANNOTATIONS..."""
    from click.core import ParameterSource

    from anchorctl.annotations.textio import read_capped
    from anchorctl.coverage_stats import CoverageStats, merged
    from anchorctl.errors import AnchorError

    given = [
        name
        for name in values
        if name not in _MERGE_KEEPS
        and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    ]
    if given:
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in given)
        raise click.UsageError(
            f"{flags}: not read with --merge (each shard's report carries its settings)"
        )
    files = values["annotations"]
    if not files:
        raise click.UsageError("--merge needs the JSON reports of the shards as ANNOTATIONS...")
    parts: list[Any] = []
    reports: list[dict[str, Any]] = []
    for path in files:
        name = str(path)
        raw = read_capped(path, name, 1 << 26, "a coverage report (coverage --format json)")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise AnchorError(
                f"{name}: not JSON; expected a coverage report (coverage --format json)"
            ) from None
        if not isinstance(data, dict) or "stats" not in data or "setup" not in data:
            raise AnchorError(
                f"{name}: not a coverage report with statistics (made by "
                "`anchorctl coverage --format json`)"
            )
        if reports and data["setup"] != reports[0]["setup"]:
            keys = sorted(
                k
                for k in set(data["setup"]) | set(reports[0]["setup"])
                if data["setup"].get(k) != reports[0]["setup"].get(k)
            )
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
        "format": formats[0] if len(formats) == 1 else ",".join(formats),
        "convention": first.get("convention"),
        "preset": first.get("preset"),
        "resize": first.get("resize"),
        "skipped": sum(int(data.get("skipped") or 0) for data in reports),
        "skipped_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        **stats.report(),
        "setup": first["setup"],
        "stats": stats.to_json(),
    }


def _emit(report: dict[str, Any], values: dict[str, Any]) -> None:
    """Print the report (table or JSON) and apply --fail-under."""
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
