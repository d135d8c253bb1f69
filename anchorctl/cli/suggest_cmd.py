"""``anchorctl suggest``: anchors fitted to a data set's boxes, per level, in a convention's
own options (see :mod:`anchorctl.suggest`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from anchorctl.cli.dataset import DatasetOptions, StreamedBoxes, dataset_options, stream_boxes
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    anchor_t_option,
    format_option,
    input_size_options,
    iou_option,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, source_options

if TYPE_CHECKING:
    from anchorctl.suggest import LevelSuggestion, Template

FITTING = "Fitting"


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


@dataclass(frozen=True)
class SuggestOptions:
    """``suggest``'s own options. ``k`` is ``(low, high)``: one K when they are equal, a k
    table otherwise; ``None`` takes the model's count (9 without a model)."""

    k: tuple[int, int] | None = None
    objective: str = "mean-iou"
    iou: float = 0.5
    anchor_t: float = 4.0
    sample: int = 100_000
    seed: int = 0
    method: str = "means"
    fmt: str = "table"

    @property
    def k_table(self) -> bool:
        return self.k is not None and self.k[0] != self.k[1]


@click.command(
    "suggest",
    cls=ConventionCommand,
    section=FITTING,
    epilog="""\b
Examples:
  anchorctl suggest instances_train2017.json --preset yolov5
  anchorctl suggest labels/ --images-dir images/ --preset yolov5 --k 3-12
  anchorctl suggest VOC2007/Annotations --preset ssd300 --objective recall
  anchorctl suggest boxes.csv --preset fasterrcnn-fpn --format toml > fit.toml
  anchorctl suggest boxes.csv --preset yolov5 --format json > s.json
""",
)
@dataset_options
@source_options
@anchor_options
@input_size_options(image_file=False, legacy=False, default_help="the preset's")
@option("--k", "k", type=KRange(), default=None,
        help="Shapes over all levels; A-B: a table of score by k (free pairs only). "
        "[default: the model's, or 9]")  # fmt: skip
@option(
    "--objective",
    type=click.Choice(("mean-iou", "bpr", "recall")),
    default="mean-iou",
    show_default=True,
    metavar="NAME",
    help="What to maximize (see above).",
)
@iou_option("The IoU of --objective recall.", positive=True)
@anchor_t_option("YOLO's ratio threshold (bpr, BPR).")
@option("--sample", type=click.IntRange(min=1), default=100_000, show_default=True,
        metavar="N", help="Most boxes searched (seeded).")  # fmt: skip
@option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
        help="Seed of the sample and the search.")  # fmt: skip
@option(
    "--method",
    type=click.Choice(("means", "medians")),
    default="means",
    show_default=True,
    metavar="NAME",
    help="k-means centres.",
)
@format_option(
    ("table", "json", "toml"),
    "A report, JSON, or a TOML config that --config reads.",
)
@click.pass_context
def suggest(ctx: click.Context, /, **values: Any) -> None:
    """Fit anchors to ANNOTATIONS' boxes, per level, in the model's own options.

    Boxes are mapped to the network input (--resize). The model (a preset, config or
    convention's options) sets each level's count and what its options make; the fit keeps
    to them and says the cost against free (w, h) pairs. Objectives: mean-iou (centred),
    bpr (YOLOv5's), recall (on the grid).
    """
    run_suggest(
        AnchorOptions.from_context(ctx),
        record(DatasetOptions, values),
        record(SuggestOptions, values),
    )


def model_given(anchors: AnchorOptions) -> bool:
    """Whether the user named a model: a preset, a config, a convention or its options."""
    return anchors.preset is not None or anchors.config_file is not None or bool(anchors.given)


def run_suggest(anchors: AnchorOptions, data: DatasetOptions, opts: SuggestOptions) -> None:
    """``suggest`` with its options read: the data set streamed and set aside, then fitted."""
    model = model_given(anchors)
    if opts.fmt == "toml" and not model:
        raise click.UsageError(
            "--format toml writes the model's config: give --preset, --config or --convention"
        )
    if opts.objective == "recall" and not model:
        raise click.UsageError(
            "--objective recall places the anchors on the model's grid: give --preset, "
            "--config or --convention"
        )
    if opts.k_table and opts.fmt == "toml":
        raise click.UsageError("--k A-B prints a table of score by k; give one K for --format toml")
    with stream_boxes(anchors, data) as loaded:
        _fit(loaded, anchors, data, opts, model)


def _fit(
    loaded: StreamedBoxes,
    anchors: AnchorOptions,
    data: DatasetOptions,
    opts: SuggestOptions,
    model: bool,
) -> None:
    from anchorctl.cli.suggest_output import search_progress
    from anchorctl.errors import AnchorError
    from anchorctl.fit.families import grammar
    from anchorctl.suggest import free_template, k_scores, suggest

    size = loaded.input_size
    if size is None:
        raise click.UsageError(
            "suggest needs the network input: give --input-size WxH or a --preset"
        )
    boxes = loaded.boxes
    k_low, k_high = opts.k or (None, None)
    if k_high is not None and k_high > len(boxes):  # the data's limit: a runtime error
        raise AnchorError(
            f"--k: {k_high:,} anchors for {len(boxes):,} boxes; give --k {len(boxes)} or fewer"
        )
    template = model_template(loaded.source, size) if model else free_template(size, k_low or 9)
    ks = [] if k_low is None or k_high is None else list(range(k_low, k_high + 1))
    try:  # the model's limit: its options fix the count, or YOLO needs one per level
        for k in ks or (None,):
            grammar(template, k)
    except AnchorError as exc:
        raise click.BadParameter(str(exc).removeprefix("--k: "), param_hint="'--k'") from None
    options: dict[str, Any] = {
        "objective": opts.objective,
        "seed": opts.seed,
        "method": opts.method,
        "sample": opts.sample,
        "anchor_t": opts.anchor_t,
        "iou": opts.iou,
    }
    with search_progress(data.quiet) as progress:
        if opts.k_table:
            results = k_scores(boxes, template, ks, progress=progress, **options)
        else:
            results = [suggest(boxes, template, k=k_low, progress=progress, **options)]
    _print(results, opts, data, model, loaded, size)


def model_template(source: Source, size: tuple[int, int]) -> Template:
    """The model as the options resolve it, laid on the network input ``size``."""
    from anchorctl.suggest import Template

    params = dict(source.params)
    params["image_size"] = size
    return Template(source.convention, params, tuple(source.levels), source.rules, size)


def _print(
    results: list[LevelSuggestion],
    opts: SuggestOptions,
    data: DatasetOptions,
    model: bool,
    loaded: StreamedBoxes,
    size: tuple[int, int],
) -> None:
    from anchorctl.cli.suggest_output import (
        k_rows,
        objective_of,
        print_k_table,
        print_report,
        report,
        toml_text,
    )

    source = loaded.source
    preset = source.preset.name if (model and source.preset) else None
    if opts.k_table:
        rows = k_rows(results)
        boxes = results[0].sampling.boxes
        if opts.fmt == "json":
            click.echo(json.dumps({"boxes": boxes, "objective": opts.objective,
                                   "k_table": rows}, indent=2))  # fmt: skip
        else:
            print_k_table(rows, results[0].objective.label(), boxes)
        return
    result = results[0]
    out = report(result, model=model, preset=preset, input_size=size,
                 skipped=loaded.skipped, resize=loaded.resize)  # fmt: skip
    if opts.fmt == "json":
        click.echo(json.dumps(out, indent=2))
    elif opts.fmt == "toml":
        before = objective_of(out["before"], out) if out["before"] else None
        header = [
            f"anchorctl suggest: {out['k']} anchors fitted to {out['boxes']:,} boxes of "
            f"{data.annotations}",
            f"objective {out['objective_label']} = {out['score']:.4f} (current anchors: "
            + ("-" if before is None else f"{before:.4f}")
            + ")",
        ]
        if preset:
            header.append(f"from preset {preset}; feature maps at input {size[0]}x{size[1]}")
        header.append(f"boxes resized by {out['resize_text']}")
        click.echo(toml_text(result, header), nl=False)
    else:
        print_report(out)
