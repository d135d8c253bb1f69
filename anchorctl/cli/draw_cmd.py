"""``anchorctl draw``: anchors drawn onto images, one colour per slot, with a legend."""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from anchorctl import params
from anchorctl.cli import pictures
from anchorctl.cli.dataset import image_truth, read_truth
from anchorctl.cli.list_cmd import level_option
from anchorctl.cli.options import (
    ConventionCommand,
    anchor_options,
    annotations_format_option,
    input_size_options,
    iou_option,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, resolve, source_options
from anchorctl.cli.streams import check_output
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image
    from rich.progress import Progress, TaskID

    from anchorctl import render
    from anchorctl.annotations import Annotations
    from anchorctl.conventions.base import Level

SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_GRID_LINES = 4096  # past this the grid is a solid sheet; say so rather than draw it
_BYTES_PER_CELL = 16  # a (row, col) pair of int64
_BYTES_PER_ANCHOR = 20  # four float32 coordinates and an int32 slot
_BYTES_PER_LEVEL_ANCHOR = 16  # four float32 coordinates
_TRUTH = "Ground truth"

Selection = tuple[tuple[tuple[int, int], ...], int | None, bool]


@dataclass(frozen=True)
class DrawOptions:
    """``draw``'s own options."""

    images: tuple[Path, ...] = ()
    cells: tuple[tuple[int, int], ...] = ()
    every: int | None = None
    all_cells: bool = False
    grid: bool = False
    fill: bool = False
    output: str | None = None
    level: int | None = None
    boxes_path: Path | None = None
    annotations_format: str | None = None
    iou: float = 0.5
    no_legend: bool = False
    no_thin: bool = False

    @property
    def selection(self) -> Selection:
        """The cells to draw: ``(cells, every, all_cells)``."""
        return self.cells, self.every, self.all_cells

    @property
    def truth_only(self) -> bool:
        """Ground truth given and no cells chosen: draw only the boxes and their best anchors."""
        return self.boxes_path is not None and not (self.cells or self.every or self.all_cells)


@click.command(
    "draw",
    cls=ConventionCommand,
    section="Drawing",
    epilog="""\b
Examples:
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 \\
      --all-cells --grid
  anchorctl draw cat.jpg --sizes 0.3 --feature-map 8x8 --cell 2,3 --cell 5,5 \\
      -o cells.jpg
  anchorctl draw photos/*.jpg --sizes 0.2 --feature-map 4x4 --every 2 -o out/
  anchorctl draw cat.jpg --sizes 0.2 -o - | display -
  anchorctl draw cat.jpg --preset retinanet --level 2 --grid
  anchorctl draw cat.jpg --preset ssd300 --boxes instances.json --iou 0.7

Writes <stem>.anchors.png in the current folder unless -o says otherwise.
""",
)
@click.argument("images", nargs=-1, required=True, type=params.InputPath(path_type=Path))
@source_options
@anchor_options
@input_size_options(
    image_file=False, default_help="each image's own size; the anchors are scaled onto it"
)
@level_option
@option(
    "--cell",
    "cells",
    type=params.CELL,
    multiple=True,
    help="Draw this cell's anchors (repeatable). [default: the centre cell]",
)
@option("--every", type=click.IntRange(min=1), metavar="N",
        help="Every N-th cell in both directions.")  # fmt: skip
@option("--all-cells", is_flag=True, help="Every cell's anchors.")
@option("--grid", is_flag=True, help="Overlay the feature-map cells and their centres.")
@option("--fill", is_flag=True, help="Fill anchors with translucent colour.")
@option("--no-legend", "no_legend", is_flag=True,
        help="No title or legend; the picture keeps the image's size.")  # fmt: skip
@option("--no-thin", "no_thin", is_flag=True,
        help="Never thin dense requests to every N-th cell or line.")  # fmt: skip
@option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Output FILE (.png/.jpg/.jpeg) for one image, a DIR for several (made if missing), "
    "or - for PNG on stdout.",
)
@option(
    "--boxes",
    "boxes_path",
    type=params.InputPath(path_type=Path),
    default=None,
    metavar="ANNOTATIONS",
    section=_TRUTH,
    help="Ground-truth boxes of the image: green when an anchor covers one at --iou, red "
    "when none does, with its best anchor dashed.",
)
@annotations_format_option(legacy=True, section=_TRUTH)
@iou_option("With --boxes: the IoU at which a box counts as covered.", section=_TRUTH)
@click.pass_context
def draw(ctx: click.Context, /, **values: Any) -> None:
    """Draw anchors onto IMAGE files with Pillow.

    The legend gives each slot's parameters and pixel size, where it covers no anchor.
    Presets and framework configs are drawn at their own input, scaled to the image; other
    anchors take the image as the input. Small images are drawn larger; requests that would
    paint the image solid are thinned, with a note. Outputs are written whole or not at
    all, never over an input; unreadable images are skipped (exit status 1).
    """
    run_draw(AnchorOptions.from_context(ctx), record(DrawOptions, values))


def run_draw(request: AnchorOptions, opts: DrawOptions) -> None:
    """``draw`` with its options read."""
    cells, every, all_cells = opts.cells, opts.every, opts.all_cells
    if sum(bool(x) for x in (cells, every, all_cells)) > 1:
        raise click.UsageError("give only one of --cell, --every and --all-cells")
    images = tuple(pictures.read_if_stream(path) for path in opts.images)
    follow = request.follows_picture()
    # The anchors as the options describe them, to check the request before any image is read.
    header = _header_size(images[0])
    probe = _source(request, header if follow else None)
    chosen_levels = _levels(probe, opts.level)
    from anchorctl.cells import check_cells, count_cells

    for index in chosen_levels:
        lv = probe.levels[index]
        try:
            check_cells(lv.feature_map, cells)
        except AnchorError as exc:
            raise click.UsageError(f"--cell: {exc} (level {index})") from None
        rows, cols = lv.feature_map
        if opts.grid and opts.no_thin and rows + cols > MAX_GRID_LINES:
            raise click.UsageError(
                f"--grid on a {rows}x{cols} feature map would cover the image; leave --grid "
                "out, or leave --no-thin out to draw every N-th line"
            )
    thinned: dict[int, int] = {}
    if header is not None and not opts.no_thin:
        thinned = _thin_plan(probe, chosen_levels, opts.selection, header)
    _check_memory(
        sum(count_cells(probe.levels[i].feature_map, cells, thinned.get(i, every),
                        all_cells and i not in thinned)
            * probe.levels[i].per_cell for i in chosen_levels),
        sum(probe.levels[i].count for i in chosen_levels),
        several=len(chosen_levels) > 1,
    )  # fmt: skip
    targets = _plan_outputs(images, opts.output)
    created = _make_folder(opts.output)
    try:
        _draw_all(images, targets, request, opts, follow)
    finally:
        _remove_if_empty(created)  # a run that drew nothing leaves no folder behind


def _draw_all(
    images: tuple[Path, ...],
    targets: list[tuple[Path, Path | None]],
    request: AnchorOptions,
    opts: DrawOptions,
    follow: bool,
) -> None:
    """Draw each image to its target; one image's failure is reported and the rest go on."""
    truth = None
    if opts.boxes_path is not None:
        truth = read_truth(opts.boxes_path, opts.annotations_format, images[0].parent)
    failures = 0
    with _Progress(len(images)) as progress:
        for source, target in targets:
            try:
                if target is not None:
                    check_output(target)
                _draw_one(source, target, request, opts, follow, truth)
            except AnchorError as exc:
                if len(images) == 1:
                    raise
                failures += 1
                progress.error(f"anchorctl: error: {exc}")
            progress.advance()
    if failures:
        raise AnchorError(f"{failures} of {len(images)} images failed; the others were drawn")


def _source(request: AnchorOptions, size: tuple[int, int] | None) -> Source:
    """The anchors for a picture of ``size`` (``None``: at the options' own input)."""
    return resolve(request.at(size) if size is not None else request)


def _header_size(path: Path) -> tuple[int, int] | None:
    """The first image's size from its header, to check the options before drawing; ``None``
    when it cannot be read (that image's error is reported when its turn comes)."""
    try:
        return pictures.picture_size(path)
    except AnchorError:
        return None


def _levels(source: Source, level: int | None) -> list[int]:
    if level is None:
        return list(range(len(source.levels)))
    if level >= len(source.levels):
        raise click.BadParameter(
            f"level {level} does not exist; this source has levels 0..{len(source.levels) - 1}",
            param_hint="'--level'",
        )
    return [level]


def _check_memory(n_anchors: int, n_levels: int, several: bool = False) -> None:
    """Refuse, with the byte count, a request whose anchors would not fit in memory:
    ``n_anchors`` to draw, picked from the ``n_levels`` anchors of the chosen levels, which
    are built whole (a thinned or single-cell request on a huge map still needs them)."""
    from anchorctl.memory import check_fits

    check_fits(
        n_anchors * _BYTES_PER_ANCHOR,
        f"{n_anchors:,} anchors to draw",
        "choose fewer cells with --cell or --every N, or a smaller feature map",
    )
    check_fits(
        n_levels * _BYTES_PER_LEVEL_ANCHOR + n_anchors * _BYTES_PER_ANCHOR,
        f"the chosen levels' {n_levels:,} anchors (draw picks its cells from whole levels)",
        "use a smaller feature map" + (", or draw one level with --level N" if several else ""),
    )


def _plan_outputs(images: tuple[Path, ...], output: str | None) -> list[tuple[Path, Path | None]]:
    """Each input with its output path (``None`` = stdout), or a usage error before any work."""
    if output == "-":
        if len(images) > 1:
            raise click.UsageError("-o - writes one PNG to stdout; give one image")
        if sys.stdout.isatty():
            raise click.UsageError(
                "refusing to write PNG bytes to a terminal; pipe it or give -o FILE"
            )
        return [(images[0], None)]
    if output is not None and not output:
        raise click.UsageError("-o: give a FILE, a DIR or -")
    path = Path(output) if output is not None else None
    as_folder = output is None or output.endswith(("/", os.sep)) or Path(output).is_dir()
    # An existing file that is not a folder (/dev/full, a file named without a suffix) is
    # written as one PNG, not taken for a folder to create.
    if path is not None and not as_folder and (path.suffix or path.exists()):
        if path.suffix and path.suffix.lower() not in SUFFIX_FORMATS:
            raise click.UsageError(
                f"-o {output}: unknown image type {path.suffix!r}; use .png, .jpg "
                "or .jpeg, a folder (end it with /) or -"
            )
        if len(images) > 1:
            raise click.UsageError(
                f"-o {output} is one file but there are {len(images)} images; give -o DIR"
            )
        return [(images[0], path)]
    folder = path if path is not None else Path.cwd()
    planned: list[tuple[Path, Path | None]] = [
        (src, folder / f"{src.stem}.anchors.png") for src in images
    ]
    seen: dict[Path | None, Path] = {}
    for src, dst in planned:
        if dst in seen:
            raise click.UsageError(
                f"{seen[dst]} and {src} would both be written to {dst}; draw them to "
                "different folders"
            )
        seen[dst] = src
    return planned


def _make_folder(output: str | None) -> list[Path]:
    """Create the folder of ``-o DIR`` when it does not exist yet (never for -o FILE); return
    the folders created, outermost first."""
    if output is None or output == "-":
        return []
    folder = Path(output)
    is_folder = output.endswith(("/", os.sep)) or folder.is_dir()
    if not is_folder and (folder.suffix or folder.exists()):
        return []  # -o FILE: its folder must exist
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_if_empty([p for p in missing if p.is_dir()])
        raise AnchorError(
            f"cannot create output folder {str(folder)!r}: {exc.strerror or exc}"
        ) from None
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders (outermost first) that are still empty, innermost first."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (an image was drawn into it), or gone: keep what is left


def _thin_plan(
    anchors: Source,
    level_ids: list[int],
    selection: Selection,
    size: tuple[int, int],
    factor: int = 1,
) -> dict[int, int]:
    """Per level, every how many cells to draw instead of what was asked, for the levels whose
    request would paint a ``size`` image (drawn ``factor`` times larger) solid."""
    from anchorctl import density, render

    cells, every, all_cells = selection
    if cells or not (every or all_cells):
        return {}
    picture = (size[0] * factor, size[1] * factor)
    width = render.line_width(picture)
    limit = density.INK_LIMIT / len(level_ids)
    plan = {}
    for index in level_ids:
        lv = anchors.levels[index]
        sx, sy = _scale(anchors, lv, size)
        shapes = [(s.width * sx * factor, s.height * sy * factor) for s in lv.shapes]
        asked = every or 1
        n = density.thin_every(lv.feature_map, shapes, picture, width, asked, limit)
        if n != asked:
            plan[index] = n
    return plan


def _draw_one(
    source: Path,
    target: Path | None,
    request: AnchorOptions,
    opts: DrawOptions,
    follow: bool,
    truth: Annotations | None = None,
) -> None:
    import numpy as np

    from anchorctl import density, render
    from anchorctl.cells import cell_anchors, select_cells

    loaded = render.load_image(pictures.readable(source))
    img_w, img_h = loaded.size
    anchors = _source(request, (img_w, img_h) if follow else None)
    # A thumbnail is drawn larger so its lines and legend can be read (the title says so);
    # without a legend the picture keeps the image's own size.
    image, factor = (loaded, 1) if opts.no_legend else render.upscale(loaded)
    del loaded
    notes: list[str] = []
    if factor > 1:
        notes.append(f"image {img_w}x{img_h} px drawn {factor}x larger")
    level_ids = _levels(anchors, opts.level)
    selection = ((), None, False) if opts.truth_only else opts.selection
    plan = {} if opts.no_thin else _thin_plan(anchors, level_ids, selection, (img_w, img_h), factor)
    for index, n in plan.items():
        rows, cols = anchors.levels[index].feature_map
        where = f"level {index}: " if len(anchors.levels) > 1 else ""
        notes.append(f"{where}every {density.ordinal(n)} cell")
        _note(
            f"{source.name}: {where}every cell of the {rows}x{cols} map would paint the image "
            f"solid; drawing every {density.ordinal(n)} cell in each direction (--every {n}; "
            "--no-thin draws them all)"
        )
    try:
        boxes: list[npt.NDArray[np.float32]] = []
        slots: list[npt.NDArray[np.int32]] = []
        legend: list[str] = []
        for index in level_ids:
            lv = anchors.levels[index]
            lx, ly = _scale(anchors, lv, (img_w, img_h))
            to_px = np.array([lx, ly, lx, ly], dtype=np.float32) * factor
            if index in plan:
                chosen = select_cells(lv.feature_map, every=plan[index])
            else:
                chosen = select_cells(lv.feature_map, *selection)
            if opts.truth_only:
                chosen = chosen[:0]
            boxes.append(cell_anchors(lv, chosen).astype(np.float32) * to_px)
            slots.append(np.tile(np.arange(lv.per_cell, dtype=np.int32), len(chosen)) + len(legend))
            prefix = f"L{index} " if len(anchors.levels) > 1 else ""
            legend += _legend(lv, (lx, ly), prefix)
        grid_spec = None
        if opts.grid:
            grid_spec = _grid(anchors, level_ids[-1], (img_w, img_h), factor, opts, notes, source)
        all_boxes = np.concatenate(boxes)
        gt = None
        if truth is not None:
            gt = _ground_truth(source, truth, anchors, level_ids, (img_w, img_h), factor,
                               opts.iou)  # fmt: skip
            if opts.truth_only:
                legend = []  # only the ground truth and its best anchors are drawn
        drawn = render.draw_anchors(
            image,
            all_boxes,
            np.concatenate(slots),
            legend,
            _title(anchors, level_ids, len(all_boxes), notes, gt),
            grid_spec,
            opts.fill,
            truth=gt,
            show_legend=not opts.no_legend,
        )
    except MemoryError:
        raise AnchorError(f"not enough memory to draw on {str(source)!r}") from None
    del image
    _save(drawn, target)


def _grid(
    anchors: Source,
    index: int,
    size: tuple[int, int],
    factor: int,
    opts: DrawOptions,
    notes: list[str],
    source: Path,
) -> render.Grid:
    """Level ``index``'s cell boundaries and centres in picture pixels, every N-th line only
    when they are so close they would paint the picture solid (unless --no-thin)."""
    from anchorctl import density, render
    from anchorctl.cells import grid_lines

    level = anchors.levels[index]
    gx, gy = _scale(anchors, level, size)
    xs, ys, centres = grid_lines(level, (gx * factor, gy * factor))
    pitch = min(_gap(xs), _gap(ys))
    step = 1 if opts.no_thin else density.grid_step(pitch)
    if step > 1:
        rows, cols = level.feature_map
        notes.append(f"grid every {density.ordinal(step)} line")
        _note(
            f"{source.name}: the {rows}x{cols} grid's cells are {pitch:.2g} px apart; "
            f"drawing every {density.ordinal(step)} line (--no-thin draws them all)"
        )
        xs, ys, centres = xs[::step], ys[::step], centres[:0]
    return render.Grid(xs, ys, centres)


def _note(message: str) -> None:
    click.echo(f"anchorctl: note: {message}", err=True)


def _gap(edges: list[float]) -> float:
    """The smallest distance between neighbouring boundaries (infinite for one cell)."""
    return min((b - a for a, b in itertools.pairwise(edges)), default=float("inf"))


def _ground_truth(
    source: Path,
    truth: Annotations,
    anchors: Source,
    level_ids: list[int],
    size: tuple[int, int],
    factor: int,
    threshold: float,
) -> render.GroundTruth:
    """The image's ground-truth boxes in picture pixels, with their best anchors and IoUs."""
    import numpy as np

    from anchorctl import render
    from anchorctl.iou import best_anchor

    gt = image_truth(truth, source, size)
    parts: list[npt.NDArray[np.float64]] = []
    starts: list[int] = []
    for i in level_ids:
        sx, sy = _scale(anchors, anchors.levels[i], size)
        starts.append(sum(len(p) for p in parts))
        parts.append(anchors.levels[i].array.astype(np.float64) * np.array([sx, sy, sx, sy]))
    every = np.concatenate(parts)
    match = best_anchor(gt, every)
    labels = []
    for best in match.best_index.tolist():
        n = max(j for j, start in enumerate(starts) if start <= best)
        lv = anchors.levels[level_ids[n]]
        cell, slot = divmod(best - starts[n], lv.per_cell)
        row, col = divmod(cell, lv.feature_map[1])
        where = f"level {level_ids[n]} " if len(anchors.levels) > 1 else ""
        labels.append(f"best anchor {where}cell ({row}, {col}) slot {slot}")
    return render.GroundTruth(
        gt * factor, every[match.best_index] * factor, match.best_iou, threshold, labels
    )


def _scale(anchors: Source, level: Level, size: tuple[int, int]) -> tuple[float, float]:
    """Pixels of the image per unit of the convention: the image size for normalized anchors,
    the image over the network input for pixel anchors."""
    img_w, img_h = size
    if level.is_normalized(anchors.rules):
        return float(img_w), float(img_h)
    net = anchors.image_size or size
    return img_w / net[0], img_h / net[1]


def _title(
    anchors: Source,
    level_ids: list[int],
    count: int,
    notes: list[str] | None = None,
    truth: render.GroundTruth | None = None,
) -> str:
    ratio = anchors.rules.ratio_meaning.replace("width / height", "w/h").replace(
        "height / width", "h/w"
    )
    if len(level_ids) == 1:
        rows, cols = anchors.levels[level_ids[0]].feature_map
        where = f"feature map {rows}x{cols} (rows x cols)"
        if len(anchors.levels) > 1:
            where = f"level {level_ids[0]}: {where}"
    else:
        where = f"{len(level_ids)} levels"
    units = "sizes normalized" if anchors.rules.normalized else "sizes in px"
    parts = [anchors.rules.title, where]
    if truth is not None:
        n, ok = len(truth.ious), int(truth.covered.sum())
        total = sum(anchors.levels[i].count for i in level_ids)
        parts.append(f"{n} boxes: {ok} covered, {n - ok} missed at IoU {truth.threshold:g}")
        parts.append(f"best of {total:,} anchors")
        if count:
            parts.append(f"{count:,} anchors drawn")
    else:
        parts.append(f"{count:,} anchors")
    parts += [f"ratio = {ratio}", units, *(notes or [])]
    return " · ".join(parts)


def _legend(level: Level, scale: tuple[float, float], prefix: str = "") -> list[str]:
    sx, sy = scale
    return [
        f"{prefix}slot {s.slot}: {s.label()}, {s.width * sx:.1f} x {s.height * sy:.1f} px"
        for s in level.shapes
    ]


def _save(image: Image.Image, target: Path | None) -> None:
    from anchorctl import render

    where = "stdout" if target is None else repr(str(target))
    try:
        if target is None:
            data = render.encode(image, "PNG")  # whole, so a failure writes nothing
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        from anchorctl.atomic import atomic_write

        with atomic_write(target) as handle:
            render.write_image(image, handle, SUFFIX_FORMATS.get(target.suffix.lower(), "PNG"))
        if sys.stderr.isatty():  # a person is watching: say where the picture went
            click.echo(f"anchorctl: wrote {target}", err=True)
    except BrokenPipeError:
        raise
    except MemoryError:
        raise AnchorError(f"cannot write {where}: not enough memory to encode the image") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AnchorError(f"cannot write {where}: {reason}") from None


class _Progress:
    """A progress bar on stderr for batches, shown only when stderr is a terminal.

    Error lines go through :meth:`error`, so they print above the bar instead of into it.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Progress:
        if self.total >= 2 and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(file=sys.stderr), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("drawing", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def error(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(message, err=True)
