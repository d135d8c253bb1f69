"""``anchorctl draw``: anchors drawn onto images, one colour per slot, with a legend."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from anchorctl import params
from anchorctl.cli.list_cmd import level_option
from anchorctl.cli.options import ANCHOR_HELP, ConventionCommand, anchor_options
from anchorctl.cli.source import Source, from_cli, source_options
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image
    from rich.progress import Progress, TaskID

    from anchorctl.annotations import Annotations
    from anchorctl.conventions.base import Level

SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_GRID_LINES = 4096  # past this the grid is a solid sheet; say so rather than draw it
_BYTES_PER_CELL = 16  # a (row, col) pair of int64
_BYTES_PER_ANCHOR = 20  # four float32 coordinates and an int32 slot
STREAM_LIMIT = 512 << 20  # bytes of an image read from a pipe
_HEAD_BYTES = 1 << 20  # enough of a stream for Pillow to tell whether it is an image


@click.command(
    "draw",
    cls=ConventionCommand,
    epilog="""\b
Examples:
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 --all-cells --grid
  anchorctl draw cat.jpg --sizes 0.3 --feature-map 8x8 --cell 2,3 --cell 5,5 -o cells.jpg
  anchorctl draw photos/*.jpg --sizes 0.2 --feature-map 4x4 --every 2 -o drawn/
  anchorctl draw cat.jpg --sizes 0.2 -o - | display -
  anchorctl draw cat.jpg --preset retinanet --level 2 --grid

Writes <stem>.anchors.png in the current folder unless -o says otherwise.

"""
    + ANCHOR_HELP,
)
@click.argument("images", nargs=-1, required=True, type=params.InputPath(path_type=Path))
@source_options
@anchor_options
@click.option(
    "--image-size",
    "image_size",
    type=params.IMAGE_SIZE,
    default=None,
    help="Network input WIDTHxHEIGHT the anchors are made for; they are scaled onto each "
    "image. [default: each image's own size]",
)
@level_option
@click.option(
    "--boxes",
    "boxes_path",
    type=params.InputPath(path_type=Path),
    default=None,
    help="Ground-truth annotations (COCO, VOC, YOLO or CSV): each box of the image is drawn "
    "green when an anchor covers it at --iou, red when none does, with its best anchor dashed.",
)
@click.option(
    "--boxes-format",
    type=click.Choice(("coco", "voc", "yolo", "csv")),
    default=None,
    help="Format of --boxes. [default: from the file or folder]",
)
@click.option(
    "--iou",
    "iou_threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="With --boxes: the IoU at which a box counts as covered.",
)
@click.option(
    "--cell",
    "cells",
    type=params.CELL,
    multiple=True,
    help="Draw this cell's anchors (repeatable). [default: the centre cell]",
)
@click.option("--every", type=click.IntRange(min=1), help="Every N-th cell in both directions.")
@click.option("--all-cells", is_flag=True, help="Every cell's anchors.")
@click.option("--grid", is_flag=True, help="Overlay the feature-map cells and their centres.")
@click.option("--fill", is_flag=True, help="Fill anchors with translucent colour.")
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Output FILE (.png/.jpg/.jpeg) for one image, a DIR for several (made if missing), "
    "or - for PNG on stdout.",
)
@click.pass_context
def draw(
    ctx: click.Context,
    /,
    images: tuple[Path, ...],
    cells: tuple[tuple[int, int], ...],
    every: int | None,
    all_cells: bool,
    grid: bool,
    fill: bool,
    output: str | None,
    level: int | None,
    boxes_path: Path | None,
    boxes_format: str | None,
    iou_threshold: float,
    **values: object,
) -> None:
    """Draw anchors onto IMAGE files with Pillow.

    The legend lists each slot's parameters and width x height in pixels, and the feature
    map used. Each image is taken as the network input (or scaled from --image-size), so
    pixel conventions draw at their true size. Outputs are written whole or not at all
    (temporary file, then rename), and an input is never overwritten. Images that cannot be
    read are reported and skipped; the exit status is then 1.
    """
    if sum(bool(x) for x in (cells, every, all_cells)) > 1:
        raise click.UsageError("give only one of --cell, --every and --all-cells")
    values = {**values, "level": level}
    images = tuple(_read_if_stream(path) for path in images)
    # The anchors as the options describe them, to check the request before any image is read.
    probe = _source(ctx, values, _header_size(images[0]))
    chosen_levels = _levels(probe, level)
    from anchorctl.cells import check_cells, count_cells

    for index in chosen_levels:
        lv = probe.levels[index]
        try:
            check_cells(lv.feature_map, cells)
        except AnchorError as exc:
            raise click.UsageError(f"--cell: {exc} (level {index})") from None
        rows, cols = lv.feature_map
        if grid and rows + cols > MAX_GRID_LINES:
            raise click.UsageError(
                f"--grid on a {rows}x{cols} feature map would cover the image; leave --grid out"
            )
    _check_memory(
        sum(count_cells(probe.levels[i].feature_map, cells, every, all_cells)
            * probe.levels[i].per_cell for i in chosen_levels)
    )  # fmt: skip
    targets = _plan_outputs(images, output)
    created = _make_folder(output)
    ctx.call_on_close(lambda: _remove_if_empty(created))  # a run that drew nothing leaves none
    selection = (cells, every, all_cells)
    truth = None
    if boxes_path is not None:
        from anchorctl.annotations import read_annotations
        from anchorctl.annotations.detect import resolve

        kind = resolve(boxes_path, boxes_format).fmt
        folder = images[0].parent if kind == "yolo" else None
        truth = read_annotations(boxes_path, kind, images_dir=folder)
        if not (cells or every or all_cells):
            selection = ((), None, False)
            values = {**values, "_no_cells": True}
    failures = 0
    with _Progress(len(images)) as progress:
        for source, target in targets:
            try:
                if target is not None:
                    _check_target(target)
                _draw_one(source, target, ctx, values, selection, grid, fill, truth, iou_threshold)
            except AnchorError as exc:
                if len(images) == 1:
                    raise
                failures += 1
                progress.error(f"anchorctl: error: {exc}")
            progress.advance()
    if failures:
        raise AnchorError(f"{failures} of {len(images)} images failed; the others were drawn")


def _source(ctx: click.Context, values: dict[str, object], size: tuple[int, int] | None) -> Source:
    """The anchors for an image of ``size`` (the network input unless --image-size says)."""
    if values.get("image_size") is None and size is not None and values.get("preset") is None:
        values = {**values, "image_size": size}
    return from_cli(ctx, values)


def _header_size(path: Path) -> tuple[int, int] | None:
    """The first image's size from its header, to check the options before drawing; ``None``
    when it cannot be read (that image's error is reported when its turn comes)."""
    from anchorctl.imagesize import image_size

    try:
        if _readable(path) is not path:
            from anchorctl.render import load_image

            size: tuple[int, int] = load_image(_readable(path)).size
            return size
        return image_size(path)
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


def _check_memory(n_anchors: int) -> None:
    """Refuse, with the byte count, a selection whose anchors would not fit in memory."""
    from anchorctl.memory import check_fits

    check_fits(
        n_anchors * _BYTES_PER_ANCHOR,
        f"{n_anchors:,} anchors to draw",
        "choose fewer cells with --cell or --every N, or a smaller feature map",
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


def _read_if_stream(path: Path) -> Path:
    """``path`` itself, or for a pipe, socket or character device (``/dev/stdin``) a
    :class:`_Streamed` path holding its bytes, read once (at most :data:`STREAM_LIMIT`):
    Pillow needs to seek, and the header is read before the image."""
    import stat

    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return path  # missing or unreadable: reported when its turn comes
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        return path
    from anchorctl.memory import human_bytes

    name = str(path)
    chunks: list[bytes] = []
    size = 0
    try:
        with open(path, "rb") as stream:
            checked = False
            while size <= STREAM_LIMIT:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if not checked and size >= _HEAD_BYTES:  # endless garbage is refused early
                    _check_image_start(b"".join(chunks), name)
                    checked = True
    except OSError as exc:
        raise AnchorError(f"cannot read image {name!r}: {exc.strerror or exc}") from None
    if size > STREAM_LIMIT:
        raise AnchorError(
            f"cannot read image {name!r}: more than {human_bytes(STREAM_LIMIT)} from a "
            "pipe; save it to a file and draw that"
        )
    data = b"".join(chunks)
    streamed = _Streamed(path)
    streamed.data = data
    return streamed


def _check_image_start(head: bytes, name: str) -> None:
    """Refuse a stream whose first bytes are not the start of an image Pillow knows."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(head)):
            pass
    except UnidentifiedImageError:
        raise AnchorError(f"cannot read image {name!r}: not an image Pillow can read") from None
    except Exception:  # the header runs past the first chunk: the whole image will tell
        return


class _Streamed(type(Path())):  # type: ignore[misc]
    """The path of a pipe whose bytes were read already (see :func:`_read_if_stream`);
    paths derived from it (``.parent``) have no ``data``."""

    data: bytes | None = None


def _readable(path: Path) -> Path:
    """What Pillow opens for ``path``: the path, or a streamed image's bytes (named, so
    messages still name the file)."""
    data = path.data if isinstance(path, _Streamed) else None
    if data is None:
        return path
    import io

    class _Named(io.BytesIO):
        def __str__(self) -> str:
            return str(path)

    return cast(Path, _Named(data))


def _draw_one(
    source: Path,
    target: Path | None,
    ctx: click.Context,
    values: dict[str, object],
    selection: tuple[tuple[tuple[int, int], ...], int | None, bool],
    grid: bool,
    fill: bool,
    truth: Annotations | None = None,
    iou_threshold: float = 0.5,
) -> None:
    import numpy as np

    from anchorctl import render
    from anchorctl.cells import cell_anchors, grid_lines, select_cells

    image = render.load_image(_readable(source))
    img_w, img_h = image.size
    anchors = _source(ctx, values, (img_w, img_h))
    level_ids = _levels(anchors, values.get("level"))  # type: ignore[arg-type]
    scale = _scale(anchors, anchors.levels[level_ids[0]], (img_w, img_h))
    try:
        boxes: list[npt.NDArray[np.float32]] = []
        slots: list[npt.NDArray[np.int32]] = []
        legend: list[str] = []
        to_px = np.array([*scale, *scale], dtype=np.float32)
        for index in level_ids:
            lv = anchors.levels[index]
            chosen = select_cells(lv.feature_map, *selection)
            if values.get("_no_cells"):
                chosen = chosen[:0]
            boxes.append(cell_anchors(lv, chosen).astype(np.float32) * to_px)
            slots.append(np.tile(np.arange(lv.per_cell, dtype=np.int32), len(chosen)) + len(legend))
            prefix = f"L{index} " if len(anchors.levels) > 1 else ""
            legend += _legend(lv, scale, prefix)
        grid_spec = None
        if grid:
            grid_spec = render.Grid(*grid_lines(anchors.levels[level_ids[-1]], scale))
        all_boxes = np.concatenate(boxes)
        if values.get("_no_cells"):
            legend = []  # only the ground truth and its best anchors are drawn
        drawn = render.draw_anchors(
            image,
            all_boxes,
            np.concatenate(slots),
            legend,
            _title(anchors, level_ids, len(all_boxes)),
            grid_spec,
            fill,
        )
        if truth is not None:
            drawn = _draw_truth(drawn, source, truth, anchors, level_ids, scale, iou_threshold)
    except MemoryError:
        raise AnchorError(f"not enough memory to draw on {str(source)!r}") from None
    del image
    _save(drawn, target)


def _draw_truth(
    drawn: Image.Image,
    source: Path,
    truth: Annotations,
    anchors: Source,
    level_ids: list[int],
    scale: tuple[float, float],
    threshold: float,
) -> Image.Image:
    """The image's ground-truth boxes, coloured by whether an anchor covers them."""
    import numpy as np

    from anchorctl import render
    from anchorctl.iou import best_anchor

    names = [image.name for image in truth.images]
    matches = [i for i, name in enumerate(names) if Path(name).name == source.name]
    if not matches:
        matches = [i for i, name in enumerate(names) if Path(name).stem == source.stem]
    if not matches:
        raise AnchorError(f"{source.name}: no boxes for this image in the --boxes annotations")
    index = matches[0]
    record = truth.images[index]
    img_w, img_h = drawn.size
    gt = truth.boxes[truth.image_index == index].astype(np.float64)
    gt = gt * np.array([img_w / record.width, img_h / record.height] * 2)
    to_px = np.array([*scale, *scale], dtype=np.float64)
    every = np.concatenate([anchors.levels[i].array.astype(np.float64) * to_px for i in level_ids])
    match = best_anchor(gt, every)
    return render.draw_ground_truth(drawn, gt, every[match.best_index], match.best_iou, threshold)


def _scale(anchors: Source, level: Level, size: tuple[int, int]) -> tuple[float, float]:
    """Pixels of the image per unit of the convention: the image size for normalized anchors,
    the image over the network input for pixel anchors."""
    img_w, img_h = size
    if level.is_normalized(anchors.rules):
        return float(img_w), float(img_h)
    net = anchors.image_size or size
    return img_w / net[0], img_h / net[1]


def _check_target(target: Path) -> None:
    """Refuse an input or an unwritable file as the output before drawing (atomic_write
    would refuse it after)."""
    from anchorctl.atomic import check_target

    try:
        check_target(target)
    except PermissionError:
        raise AnchorError(f"cannot write {str(target)!r}: permission denied") from None


def _title(anchors: Source, level_ids: list[int], count: int) -> str:
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
    return f"{anchors.rules.title} · {where} · {count:,} anchors · ratio = {ratio} · {units}"


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
