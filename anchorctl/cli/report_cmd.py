"""``anchorctl report``: coverage as one self-contained HTML page of charts and tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchorctl.cli.dataset import dataset_options, input_boxes, progress_bar, read_dataset
from anchorctl.cli.options import ConventionCommand, anchor_options
from anchorctl.cli.source import Source, from_cli, source_options
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from anchorctl.annotations import Annotations
    from anchorctl.coverage import BoxCoverage
    from anchorctl.pages.report import AnchorShape, Fitted

K_CURVE_MAX = 12  # the k curve spans k = 1..max(this, the k fitted + 3)
K_CURVE_STEPS = 12  # ... in about this many fits, spaced geometrically


@click.command(
    "report",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl report instances_val2017.json --preset ssd300 -o report.html
  anchorctl report labels/ --images-dir images/ --preset yolov5 --resize letterbox \\
      --suggest -o yolo-report.html
  anchorctl report boxes.csv --convention torchvision --sizes 32 --ratios 0.5,1,2 \\
      --feature-map 20x20 --input-size 640x640 --iou 0.6 -o r.html

The page opens from disk with no network: charts are inline SVG, crops inline JPEG.
Crops of the worst boxes need their images: found by name in --image-root, beside the
annotations, in --images-dir (YOLO), or in an images/ or JPEGImages/ folder next to them.
""",
)
@dataset_options
@source_options
@anchor_options
@click.option(
    "--iou",
    "iou_threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    metavar="T",
    help="The IoU at which a box counts as covered (charts, tables, the worst boxes).",
)
@click.option("--worst", type=click.IntRange(min=0), default=12, metavar="N", show_default=True,
              help="How many of the worst-covered boxes to show.")  # fmt: skip
@click.option(
    "--suggest",
    "with_fit",
    is_flag=True,
    help="Add anchors fitted to the boxes (IoU k-means) against the current ones, and the "
    "fit's score for k = 1, 2, ...",
)
@click.option("--k", "k", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --suggest: how many anchors to fit. [default: the current number of "
              "distinct anchor shapes]")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Seed of the scatter's sample and of the k-means start.")  # fmt: skip
@click.option(
    "--image-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the annotations' image names are relative to, for crops of the worst boxes. "
    "[default: look beside the annotations]",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=100),
    default=20_000,
    metavar="N",
    show_default=True,
    help="Most boxes drawn on the scatter; more are sampled (uniformly, seeded), and the "
    "page says so. Histograms, curves and tables always use every box.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (whole or not at all).",
)
@click.pass_context
def report(ctx: click.Context, /, **values: Any) -> None:
    """Write an HTML report of how well the anchors cover the boxes of ANNOTATIONS.

    It shows what `coverage` computes, as pictures: the boxes' width x height on log axes
    with every level's anchor shapes on top (a colour per level) and the shapes each covers
    at --iou; the best-IoU histogram; recall against the IoU threshold; boxes per level of
    their best anchor; the size and aspect tables; the worst-covered boxes with crops of
    their images. --suggest adds fitted anchors and the fit's score against k. One file, no
    network needed to open it.
    """
    from anchorctl import coverage as cov
    from anchorctl.iou import grid_from_levels
    from anchorctl.pages import report as pages

    output: Path = values["output"]
    _refuse_overwriting(output, values["annotations"])
    quiet = values["quiet"]
    with progress_bar("reading annotations", quiet) as advance:
        ann = read_dataset(values, advance)
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

    main = float(values["iou_threshold"])
    thresholds = sorted({*cov.DEFAULT_THRESHOLDS, main})
    with progress_bar("matching boxes to anchors", quiet) as advance:
        measured = cov.measure(boxes, sizes, grids, thresholds, progress=advance)
    summary = cov.coverage_report(
        boxes,
        sizes,
        grids,
        thresholds,
        main=main,
        image_index=ann.image_index,
        image_names=[image.name for image in ann.images],
        worst=values["worst"],
        measured=measured,
    )
    size = probe.image_size or ((int(sizes[0][0]), int(sizes[0][1])) if len(sizes) else None)
    shapes = _shapes(probe, grids(size) if size else None)
    fitted = None
    if values["with_fit"] and len(boxes):
        with progress_bar("fitting anchors", quiet) as advance:
            fitted = _fit(probe, boxes, shapes, values, main, size)
    name = probe.preset.name if probe.preset else probe.convention
    facts = [
        f"{summary['boxes']:,} boxes from {values['annotations']} ({ann.format}, "
        f"{len(ann.skipped):,} entries skipped) · {len(ann.images):,} images",
        f"anchors: {probe.rules.title}"
        + (f" (preset {probe.preset.name})" if probe.preset else "")
        + f" · {sum(lv.count for lv in probe.levels):,} anchors on {len(probe.levels)} level(s)"
        + (f" at {size[0]}x{size[1]} px" if size else "")
        + (
            " (the first image's input; each image has its own)"
            if len(set(map(tuple, sizes.tolist()))) > 1
            else ""
        ),
        f"resize {values['resize']} · covered = best IoU >= {main:g} · all sizes in "
        "network-input pixels",
    ]
    crops = _crops(ann, boxes, measured, summary, values, main)
    html = pages.build_report(
        summary,
        boxes,
        measured,
        shapes,
        title=f"Anchor coverage: {name} on {Path(values['annotations']).name}",
        facts=facts,
        crops=crops,
        fitted=fitted,
        max_points=values["max_points"],
        seed=values["seed"],
    )
    _write(output, html)


def _refuse_overwriting(output: Path, source: Path) -> None:
    try:
        same = output.exists() and Path(source).exists() and output.samefile(source)
    except OSError:
        same = False
    if same:
        raise click.UsageError(
            f"refusing to overwrite the input {str(output)!r}; choose another -o"
        )


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
    values: dict[str, Any],
    threshold: float,
    size: tuple[int, int] | None,
) -> Fitted:
    """Anchors fitted to the boxes, the k curve, and how they read as the convention's options."""
    import numpy as np

    from anchorctl.pages.report import K_CURVE_BOXES, Fitted, k_curve, sample
    from anchorctl.suggest import express

    wh = boxes[:, 2:] - boxes[:, :2]
    current = np.unique(np.array([[s.w, s.h] for s in shapes], dtype=np.float64), axis=0)
    # k-means on 860,000 boxes takes minutes per k: fit a seeded sample (the mean IoU of
    # 50,000 boxes is within about 0.001 of the whole set's)
    seed = values["seed"]
    fitted_on = wh[sample(len(wh), K_CURVE_BOXES, seed)]
    distinct = len(np.unique(fitted_on, axis=0))
    k = min(values["k"] or max(1, len(current)), distinct)
    top = min(distinct, max(K_CURVE_MAX, k + 3))
    steps = np.unique(np.round(np.geomspace(1, top, K_CURVE_STEPS)).astype(int)).tolist()
    ks = sorted(set(steps) | {k})
    curve = k_curve(fitted_on, ks, threshold, seed=seed, limit=len(fitted_on))
    suggested = next(p.anchors for p in curve if p.k == k)
    convention = probe.convention
    try:
        said = express(suggested, convention, input_size=size)
        note = said.note
    except AnchorError as exc:  # not every convention can be written from shapes: YOLO's can
        said = express(suggested, "yolo")
        convention, note = "yolo", f"{exc}; as YOLO anchors (width x height pairs) instead"
    return Fitted(
        current=current,
        suggested=suggested,
        curve=curve,
        options=f"--convention {convention} {said.command_line()}",
        exact=said.exact,
        note=note,
        method=f"IoU k-means, k = {k}, seed {seed}, "
        + (
            f"on a seeded sample of {len(fitted_on):,} of the {len(wh):,} boxes "
            f"(`anchorctl suggest --k {k}` fits every box)"
            if len(fitted_on) < len(wh)
            else f"on every box (as `anchorctl suggest --k {k} --seed {seed}`)"
        ),
    )


def _crops(
    ann: Annotations,
    boxes: npt.NDArray[np.float64],
    measured: BoxCoverage,
    summary: dict[str, Any],
    values: dict[str, Any],
    threshold: float,
) -> dict[int, bytes]:
    """JPEG crops of the worst boxes whose image can be found, by box index."""
    import numpy as np

    rows = summary.get("worst") or []
    if not rows:
        return {}
    from anchorctl import render
    from anchorctl.pages.images import crop_jpeg, find_image

    where = Path(values["annotations"])
    base = where if where.is_dir() else where.parent
    folders = [values.get("image_root"), values.get("images_dir"), base, base / "images",
               base.parent / "images", base.parent / "JPEGImages", base.parent]  # fmt: skip
    search = [Path(f) for f in folders if f is not None]
    loaded: dict[Path, Any] = {}
    out: dict[int, bytes] = {}
    for row in rows:
        index = int(row["box_index"])
        record = ann.images[int(ann.image_index[index])]
        path = find_image(record.name, search)
        if path is None:
            continue
        if path not in loaded:
            try:
                loaded[path] = render.load_image(path)
            except AnchorError:
                loaded[path] = None
        image = loaded[path]
        if image is None:
            continue
        # input px -> image px, per axis: the resize is x_in = x_img * s + o
        image_box = ann.boxes[index].astype(np.float64)
        input_box = boxes[index]
        scale = (input_box[2:] - input_box[:2]) / np.maximum(image_box[2:] - image_box[:2], 1e-12)
        offset = input_box[:2] - image_box[:2] * scale
        anchor = (measured.anchor[index].reshape(2, 2) - offset) / scale
        shown = (image.width / record.width, image.height / record.height)
        factor = np.array(shown * 2)
        out[index] = crop_jpeg(image, (image_box * factor).tolist(),
                               (anchor.reshape(4) * factor).tolist(),
                               bool(measured.best_iou[index] >= threshold))  # fmt: skip
    return out


def _write(output: Path, html: str) -> None:
    from anchorctl.atomic import atomic_write

    data = html.encode("utf-8")
    try:
        with atomic_write(output) as handle:
            handle.write(data)
    except OSError as exc:
        raise AnchorError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    if sys.stderr.isatty():
        click.echo(f"anchorctl: wrote {output} ({len(data) / 1024:,.0f} KiB)", err=True)
