"""``anchorctl report``: coverage as one self-contained HTML page of charts and tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchorctl.cli.dataset import (
    DatasetBoxes,
    DatasetOptions,
    dataset_options,
    load_boxes,
    progress_bar,
)
from anchorctl.cli.html_output import html_output_option, write_html
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    anchor_t_option,
    input_size_options,
    iou_option,
    jobs_option,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, source_options
from anchorctl.cli.streams import check_output
from anchorctl.errors import AnchorError
from anchorctl.params import InputPath

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from anchorctl.coverage import BoxCoverage
    from anchorctl.pages.report import AnchorShape, Fitted

K_CURVE_MAX = 12  # the k curve spans k = 1..max(this, the k fitted + 3)
K_CURVE_STEPS = 12  # ... in about this many fits, spaced geometrically


@dataclass(frozen=True)
class ReportOptions:
    """``report``'s own options."""

    output: Path
    iou: float = 0.5
    worst: int = 12
    anchor_t: float = 4.0
    suggest: bool = False
    k: int | None = None
    seed: int = 0
    image_root: Path | None = None
    max_points: int = 20_000
    jobs: int | None = None


@click.command(
    "report",
    cls=ConventionCommand,
    section="Report",
    epilog="""\b
Examples:
  anchorctl report instances_val2017.json --preset ssd300 -o report.html
  anchorctl report labels/ --images-dir images/ --preset yolov5 --suggest \\
      -o yolo-report.html
  anchorctl report boxes.csv --convention torchvision --sizes 32 \\
      --ratios 0.5,1,2 --feature-map 20x20 --input-size 640 -o r.html
""",
)
@dataset_options
@source_options
@anchor_options
@input_size_options(image_file=False, legacy=False, default_help="the preset's")
@iou_option("The IoU at which a box counts as covered (charts, tables, worst boxes).")
@option("--worst", type=click.IntRange(min=0), default=12, show_default=True, metavar="N",
        help="Worst-covered boxes to show.")  # fmt: skip
@anchor_t_option("YOLO's ratio threshold (BPR).")
@option("--suggest", is_flag=True, help="Add `suggest`'s fit and its score against k.")
@option("--k", "k", type=click.IntRange(min=1), default=None, metavar="K",
        help="With --suggest: K shapes, free pairs unless the model makes K. "
        "[default: the model's]")  # fmt: skip
@option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
        help="Seed of the scatter's sample and of the fit.")  # fmt: skip
@option(
    "--image-root",
    type=InputPath(file_okay=False, path_type=Path),
    default=None,
    help="Images, for crops. [default: beside the annotations]",
)
@option(
    "--max-points",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    metavar="N",
    help="Most boxes on the scatter (more are sampled, seeded, and the page says so).",
)
@jobs_option()
@html_output_option
@click.pass_context
def report(ctx: click.Context, /, **values: Any) -> None:
    """Write an HTML report of how well the anchors cover the boxes of ANNOTATIONS.

    One page, no network needed, of what `coverage` computes: box shapes under each
    level's anchor shapes, the best-IoU histogram, recall by threshold, the size and
    aspect tables, the worst boxes with crops.
    """
    run_report(
        AnchorOptions.from_context(ctx),
        record(DatasetOptions, values),
        record(ReportOptions, values),
    )


def run_report(anchors: AnchorOptions, data: DatasetOptions, opts: ReportOptions) -> None:
    """``report`` with its options read."""
    from anchorctl import coverage as cov
    from anchorctl.pages import report as pages

    check_output(opts.output)
    loaded = load_boxes(anchors, data)
    ann, boxes, sizes, probe = loaded.annotations, loaded.boxes, loaded.sizes, loaded.source
    main = opts.iou
    thresholds = sorted({*cov.DEFAULT_THRESHOLDS, main})
    with progress_bar("matching boxes to anchors", data.quiet) as advance:
        measured = cov.measure(boxes, sizes, loaded.grids, thresholds, yolo_thr=opts.anchor_t,
                               progress=advance, jobs=opts.jobs)  # fmt: skip
    summary = cov.coverage_report(
        boxes,
        sizes,
        loaded.grids,
        thresholds,
        main=main,
        image_index=ann.image_index,
        image_names=[image.name for image in ann.images],
        worst=opts.worst,
        yolo_thr=opts.anchor_t,
        measured=measured,
    )
    size = loaded.input_size
    shapes = _shapes(probe, loaded.grids(size) if size else None)
    fitted = None
    if opts.suggest and len(boxes) and size is not None:
        with progress_bar("fitting anchors", data.quiet):
            fitted = _fit(probe, boxes, shapes, opts, size)
    name = probe.preset.name if probe.preset else probe.convention
    facts = [
        f"{summary['boxes']:,} boxes from {data.annotations} ({ann.format}, "
        f"{len(ann.skipped):,} entries skipped) · {len(ann.images):,} images",
        f"anchors: {probe.rules.title}"
        + (f" (preset {probe.preset.name})" if probe.preset else "")
        + f" · {probe.total:,} anchors on {len(probe.levels)} level(s)"
        + (f" at {size[0]}x{size[1]} px" if size else "")
        + ("" if loaded.one_input_size else " (the first image's input; each has its own)"),
        f"resize {loaded.resize.describe()} · covered = best IoU >= {main:g} · all sizes in "
        "network-input pixels",
    ]
    html = pages.build_report(
        summary,
        boxes,
        measured,
        shapes,
        title=f"Anchor coverage: {name} on {data.annotations.name}",
        facts=facts,
        crops=_crops(loaded, measured, summary, data, opts),
        fitted=fitted,
        max_points=opts.max_points,
        seed=opts.seed,
    )
    write_html(opts.output, html)


def _shapes(probe: Source, grid: Any) -> list[AnchorShape]:
    """Every level's per-cell shapes in input pixels, with the convention's words for each."""
    from anchorctl.pages.report import AnchorShape

    if grid is None:
        return []
    wh, level, slot = grid.shapes()
    out = []
    for (w, h), lv, s in zip(wh.tolist(), level.tolist(), slot.tolist(), strict=True):
        label = probe.levels[lv].shapes[s].label() if lv < len(probe.levels) else ""
        out.append(AnchorShape(int(lv), int(s), float(w), float(h), label))
    return out


def _fit(
    probe: Source,
    boxes: npt.NDArray[np.float64],
    shapes: list[AnchorShape],
    opts: ReportOptions,
    size: tuple[int, int],
) -> Fitted:
    """Anchors fitted to the boxes as ``anchorctl suggest`` fits them (per level, in the
    model's own options), the k curve, and how the suggestion reads as options."""
    import numpy as np

    from anchorctl.cli.suggest_cmd import model_template
    from anchorctl.cli.suggest_output import command_line
    from anchorctl.fit.families import grammar
    from anchorctl.pages.report import K_CURVE_BOXES, Fitted, k_curve
    from anchorctl.suggest import express, free_template, suggest

    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    current = np.unique(np.array([[s.w, s.h] for s in shapes], dtype=np.float64), axis=0)
    distinct = len(np.unique(boxes[:, 2:] - boxes[:, :2], axis=0))
    seed, sample = opts.seed, K_CURVE_BOXES
    model = model_template(probe, size)
    k = None if opts.k is None else min(opts.k, distinct)
    try:
        grammar(model, k)
        result = suggest(boxes, model, k=k, seed=seed, sample=sample)
    except AnchorError:  # a K the model's options cannot make: K free (w, h) anchors instead
        if k is None:
            raise
        result = None
    if result is not None:
        suggested, convention = result.anchors, result.convention
        levels = tuple(lv.level for lv in result.levels for _ in lv.anchors)
        options, exact = command_line(convention, result.params), True
        note = (
            f"Fitted inside the model's options: {result.constraint}; free (w, h) anchors with "
            f"the same count per level score {result.free_score:.4f}, so the constraint costs "
            f"{result.cost:.4f} of mean best IoU."
            if result.constraint
            else "Fitted as the model's own (w, h) pairs, level by level."
        )
        how = "--preset " + probe.preset.name if probe.preset else "with the same anchor options"
    else:
        assert k is not None
        free = suggest(boxes, free_template(size, k), k=k, seed=seed, sample=sample)
        suggested, convention, levels = free.anchors, probe.convention, ()
        try:
            said = express(suggested, convention, input_size=size)
            note = said.note
        except AnchorError as exc:  # not every convention can be written from shapes
            said = express(suggested, "yolo")
            convention, note = "yolo", f"{exc}; as YOLO anchors (width x height pairs) instead"
        options = f"--convention {convention} {said.command_line()}"
        exact = said.exact
        how = f"--input-size {size[0]}x{size[1]} --k {k}"
    top = min(distinct, max(K_CURVE_MAX, len(current) + 3, len(suggested)))
    steps = np.unique(np.round(np.geomspace(1, top, K_CURVE_STEPS)).astype(int)).tolist()
    ks = sorted({*steps, *(n for n in (len(current), len(suggested)) if n <= top)})
    curve = k_curve(boxes, ks, opts.iou, size, seed=seed, limit=sample)
    sampled = len(boxes) > sample
    seen = f"a seeded sample of {sample:,} of the {len(boxes):,} boxes" if sampled else "every box"
    command = f"anchorctl suggest ANNOTATIONS {how} --seed {seed}" + (
        f" --sample {sample}" if sampled else ""
    )
    return Fitted(
        current=current,
        suggested=suggested,
        curve=curve,
        options=options,
        exact=exact,
        note=note,
        method=f"Fitted by anchorctl suggest's search (k-means restarts, polish, mutation, "
        f"evolution inside the model's options), seed {seed}, on {seen}, as `{command}`; the "
        "k curve fits k free (w, h) anchors the same way",
        levels=levels,
    )


def _crops(
    loaded: DatasetBoxes,
    measured: BoxCoverage,
    summary: dict[str, Any],
    data: DatasetOptions,
    opts: ReportOptions,
) -> dict[int, bytes]:
    """JPEG crops of the worst boxes whose image can be found, by box index."""
    import numpy as np

    rows = summary.get("worst") or []
    if not rows:
        return {}
    from anchorctl import render
    from anchorctl.pages.images import crop_jpeg, find_image

    ann, boxes = loaded.annotations, loaded.boxes
    where = data.annotations
    base = where if where.is_dir() else where.parent
    folders = [opts.image_root, data.images_dir, base, base / "images",
               base.parent / "images", base.parent / "JPEGImages", base.parent]  # fmt: skip
    search = [Path(f) for f in folders if f is not None]
    images: dict[Path, Any] = {}
    out: dict[int, bytes] = {}
    for row in rows:
        index = int(row["box_index"])
        entry = ann.images[int(ann.image_index[index])]
        path = find_image(entry.name, search)
        if path is None:
            continue
        if path not in images:
            try:
                images[path] = render.load_image(path)
            except AnchorError:
                images[path] = None
        image = images[path]
        if image is None:
            continue
        # input px -> image px, per axis: the resize is x_in = x_img * s + o
        image_box = ann.boxes[index].astype(np.float64)
        input_box = boxes[index]
        scale = (input_box[2:] - input_box[:2]) / np.maximum(image_box[2:] - image_box[:2], 1e-12)
        offset = input_box[:2] - image_box[:2] * scale
        anchor = (measured.anchor[index].reshape(2, 2) - offset) / scale
        shown = (image.width / entry.width, image.height / entry.height)
        factor = np.array(shown * 2)
        out[index] = crop_jpeg(image, (image_box * factor).tolist(),
                               (anchor.reshape(4) * factor).tolist(),
                               bool(measured.best_iou[index] >= opts.iou))  # fmt: skip
    return out
