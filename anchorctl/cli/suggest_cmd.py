"""``anchorctl suggest``: anchors fitted to a data set's boxes, per level, in a convention's
own options (see :mod:`anchorctl.suggest`)."""

from __future__ import annotations

import json
import math
from typing import Any

import click
from click.core import ParameterSource

from anchorctl.cli.dataset import dataset_options, input_boxes, progress_bar, read_dataset
from anchorctl.cli.options import ConventionCommand, anchor_options, typed_options
from anchorctl.cli.source import from_cli, source_options


class KRange(click.ParamType):  # type: ignore[type-arg]
    """``N`` or ``A-B``: how many anchors, or a range of them for the k table."""

    name = "K"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "K|A-B"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        low, sep, high = text.partition("-")
        try:
            a = int(low)
            b = int(high) if sep else a
        except ValueError:
            self.fail(f"{text!r} is not a number of anchors K or a range A-B, e.g. 9 or 3-12")
        if a < 1 or b < a:
            self.fail(f"{text!r}: give K >= 1, or A-B with 1 <= A <= B, e.g. 3-12")
        return a, b


@click.command(
    "suggest",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl suggest instances_train2017.json --preset yolov5 --resize letterbox
  anchorctl suggest labels/ --images-dir images/ --preset yolov5 --k 3-12
  anchorctl suggest VOC2007/Annotations --preset ssd300 --objective recall --iou 0.5
  anchorctl suggest boxes.csv --preset fasterrcnn-fpn --format toml > fitted.toml
  anchorctl suggest boxes.csv --preset yolov5 --format json > s.json
  anchorctl export --suggestion s.json --to yolo
""",
)
@dataset_options
@source_options
@anchor_options
@click.option("--k", "k", type=KRange(), default=None,
              help="How many anchor shapes in all (over the levels), or a range A-B for a table "
              "of score by k. Conventions of explicit pairs (YOLO) take any K; the others "
              "have the count their options make. [default: the model's, or 9]")  # fmt: skip
@click.option(
    "--objective",
    type=click.Choice(("mean-iou", "bpr", "recall")),
    default="mean-iou",
    show_default=True,
    help="What to maximize: mean-iou (mean best IoU of centred shapes), bpr (YOLOv5's anchor "
    "fitness with --anchor-t), recall (position-aware recall at --iou, anchors on each "
    "level's grid, as SSD and RPN matchers see them).",
)
@click.option("--iou", "iou", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, metavar="T",
              help="The IoU at which a box counts as covered, for --objective recall.")  # fmt: skip
@click.option("--anchor-t", "anchor_t", type=click.FloatRange(min=1, min_open=True),
              default=4.0, show_default=True, metavar="T",
              help="YOLO's ratio threshold (anchor_t): --objective bpr, BPR.")  # fmt: skip
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    metavar="N",
    help="The search sees a seeded sample of at most N boxes (every number reported is "
    "measured on all of them).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the sampling and of the search; the same seed gives the same anchors.",
)
@click.option(
    "--method",
    type=click.Choice(("means", "medians")),
    default="means",
    show_default=True,
    help="k-means centres (the search's starting points) by mean or by median.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json", "toml")),
    default="table",
    show_default=True,
    help="A report for people; JSON with `anchors`, `levels`, `score`, `mean_iou`; or a TOML "
    "config (--config reads it back).",
)
@click.pass_context
def suggest(ctx: click.Context, /, **values: Any) -> None:
    """Fit anchors to the boxes of ANNOTATIONS, level by level, in the model's own options.

    The boxes are mapped to the network input first (--resize). The model (--preset,
    --config or a convention's options) says how many anchors each level holds and what its
    options can make: YOLO levels take any (w, h) pairs, by area (smallest on the finest
    stride); FPN generators a size (or octave scales) per level crossed with ratios; SSD
    generators scales and ratios per layer. The search (IoU k-means restarts, a local ascent
    on the objective, YOLOv5-style mutation, differential evolution inside the grammar) works
    inside those options, and the report says what they cost against free (w, h) anchors.
    """
    from anchorctl.cli.suggest_output import (
        k_rows,
        print_k_table,
        print_report,
        report,
        search_progress,
        toml_text,
    )
    from anchorctl.errors import AnchorError
    from anchorctl.suggest import Template, k_scores, suggest, template_from

    quiet = values["quiet"]
    model = _model_given(ctx, values)
    k_low, k_high = values["k"] or (None, None)
    if values["fmt"] == "toml" and not model:
        raise click.UsageError(
            "--format toml writes the model's config: give --preset, --config or --convention"
        )
    if values["objective"] == "recall" and not model:
        raise click.UsageError(
            "--objective recall places the anchors on the model's grid: give --preset, "
            "--config or --convention"
        )
    if k_low != k_high and values["fmt"] == "toml":
        raise click.UsageError("--k A-B prints a table of score by k; give one K for --format toml")
    with progress_bar("reading annotations", quiet) as advance:
        ann = read_dataset(values, advance)
    if values["resize"] == "shorter-side":
        boxes, sizes = input_boxes(ann, values, None)
        first = (int(sizes[0][0]), int(sizes[0][1])) if len(sizes) else None
        source = from_cli(ctx, {**values, "image_size": first})
        size = first
    else:
        source = from_cli(ctx, {**values, "image_size": values.get("input_size")})
        boxes, sizes = input_boxes(ann, values, source.image_size)
        size = values.get("input_size") or source.image_size
    if size is None:
        raise click.UsageError(
            "suggest needs the network input: give --input-size WxH or a --preset"
        )
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes = boxes[keep]
    if model:
        params = dict(source.params)
        params["image_size"] = size
        template = Template(source.convention, params, tuple(source.levels), source.rules, size)
    else:
        template = template_from("yolo", _free_model(size, k_low or 9), size)
    options = {
        "objective": values["objective"],
        "seed": values["seed"],
        "method": values["method"],
        "sample": values["sample"],
        "anchor_t": values["anchor_t"],
        "iou": values["iou"],
    }
    try:
        with search_progress(quiet) as progress:
            if k_low != k_high:
                assert k_low is not None and k_high is not None
                results = k_scores(boxes, template, range(k_low, k_high + 1), progress=progress,
                                   **options)  # fmt: skip
            else:
                results = [suggest(boxes, template, k=k_low, progress=progress, **options)]
    except AnchorError as exc:
        if "--k" in str(exc):
            raise click.BadParameter(str(exc).removeprefix("--k: "), param_hint="'--k'") from None
        raise
    preset = source.preset.name if (model and source.preset) else None
    if k_low != k_high:
        rows = k_rows(results)
        if values["fmt"] == "json":
            data = {"boxes": len(boxes), "objective": values["objective"], "k_table": rows}
            click.echo(json.dumps(data, indent=2))
        else:
            print_k_table(rows, results[0].objective.label(), len(boxes))
        return
    result = results[0]
    data = report(result, model=model, preset=preset, input_size=size,
                  skipped=len(ann.skipped))  # fmt: skip
    if values["fmt"] == "json":
        click.echo(json.dumps(data, indent=2))
    elif values["fmt"] == "toml":
        header = [
            f"anchorctl suggest: {data['k']} anchors fitted to {data['boxes']:,} boxes of "
            f"{values['annotations']}",
            f"objective {data['objective_label']} = {data['score']:.4f} "
            f"(current anchors: {_score(data['before'], data)})",
        ]
        if preset:
            header.append(f"from preset {preset}; feature maps at input {size[0]}x{size[1]}")
        click.echo(toml_text(result, header), nl=False)
    else:
        print_report(data)


def _score(metrics: dict[str, Any] | None, data: dict[str, Any]) -> str:
    from anchorctl.cli.suggest_output import _objective_of

    if metrics is None:
        return "-"
    value = _objective_of(metrics, data)
    return "-" if value is None else f"{value:.4f}"


def _model_given(ctx: click.Context, values: dict[str, Any]) -> bool:
    """Whether the user named a model: a preset, a config, a convention or its options."""
    if values.get("preset") is not None or values.get("config_file") is not None:
        return True
    if ctx.get_parameter_source("convention") is ParameterSource.COMMANDLINE:
        return True
    return bool(typed_options(ctx, values))


def _free_model(size: tuple[int, int], k: int) -> dict[str, Any]:
    """Without a model: one YOLO level of ``k`` free anchors at stride 32."""
    rows, cols = math.ceil(size[1] / 32), math.ceil(size[0] / 32)
    return {
        "anchors": [tuple((1.0, 1.0) for _ in range(k))],
        "strides": [(32.0, 32.0)],
        "feature_maps": [(rows, cols)],
        "image_size": tuple(size),
    }
