"""``anchorctl draw``: anchors drawn onto images, one colour per slot, with a legend."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from anchorctl import params
from anchorctl.cli.options import ANCHOR_HELP, anchor_options, build_spec
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

    from anchorctl.conventions.mxnet import MultiBoxPriorSpec

SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_GRID_LINES = 4096  # past this the grid is a solid sheet; say so rather than draw it


@click.command(
    "draw",
    epilog="""\b
Examples:
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl draw cat.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 --all-cells --grid
  anchorctl draw cat.jpg --sizes 0.3 --feature-map 8x8 --cell 2,3 --cell 5,5 -o cells.jpg
  anchorctl draw photos/*.jpg --sizes 0.2 --feature-map 4x4 --every 2 -o drawn/
  anchorctl draw cat.jpg --sizes 0.2 -o - | display -

Writes <stem>.anchors.png in the current folder unless -o says otherwise.
"""
    + ANCHOR_HELP,
)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@anchor_options
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
    type=click.Path(path_type=Path),
    default=None,
    help="Output FILE (.png/.jpg) for one image, a DIR for several, or - for PNG on stdout.",
)
def draw(
    images: tuple[Path, ...],
    sizes: tuple[float, ...],
    ratios: tuple[float, ...],
    feature_map: tuple[int, int],
    steps: tuple[float, float] | None,
    offsets: tuple[float, float],
    clip: bool,
    cells: tuple[tuple[int, int], ...],
    every: int | None,
    all_cells: bool,
    grid: bool,
    fill: bool,
    output: Path | None,
) -> None:
    """Draw anchors onto IMAGE files with Pillow.

    The legend lists each slot's size, ratio and width x height in pixels, and the feature
    map used. Outputs are written whole or not at all (temporary file, then rename), and an
    input is never overwritten. Images that cannot be read are reported and skipped; the
    exit status is then 1.
    """
    if sum(bool(x) for x in (cells, every, all_cells)) > 1:
        raise click.UsageError("give only one of --cell, --every and --all-cells")
    spec = build_spec(sizes, ratios, feature_map, steps, offsets, clip)
    targets = _plan_outputs(images, output)
    from anchorctl.cells import select_cells

    chosen = select_cells(spec.feature_map, cells, every, all_cells)
    failures = 0
    with _progress(len(images)) as advance:
        for source, target in targets:
            try:
                _draw_one(source, target, spec, chosen, grid, fill)
            except AnchorError as exc:
                if len(images) == 1:
                    raise
                failures += 1
                click.echo(f"anchorctl: error: {exc}", err=True)
            advance()
    if failures:
        raise AnchorError(f"{failures} of {len(images)} images failed; the others were drawn")


def _plan_outputs(images: tuple[Path, ...], output: Path | None) -> list[tuple[Path, Path | None]]:
    """Each input with its output path (``None`` = stdout), or a usage error before any work."""
    if output is not None and str(output) == "-":
        if len(images) > 1:
            raise click.UsageError("-o - writes one PNG to stdout; give one image")
        if sys.stdout.isatty():
            raise click.UsageError(
                "refusing to write PNG bytes to a terminal; pipe it or give -o FILE"
            )
        return [(images[0], None)]
    if output is not None and output.suffix.lower() in SUFFIX_FORMATS and not output.is_dir():
        if len(images) > 1:
            raise click.UsageError(
                f"-o {output} is one file but there are {len(images)} images; give -o DIR"
            )
        return [(images[0], output)]
    if output is not None and output.suffix and not output.is_dir():
        raise click.UsageError(
            f"-o {output}: unknown image type {output.suffix!r}; use .png, .jpg or .jpeg, "
            "or a folder"
        )
    folder = output if output is not None else Path.cwd()
    if output is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AnchorError(
                f"cannot create output folder {str(folder)!r}: {exc.strerror}"
            ) from None
    planned = [(src, folder / f"{src.stem}.anchors.png") for src in images]
    seen: dict[Path, Path] = {}
    for src, dst in planned:
        if dst in seen:
            raise click.UsageError(
                f"{seen[dst]} and {src} would both be written to {dst}; draw them to "
                "different folders"
            )
        seen[dst] = src
    return list(planned)


def _draw_one(
    source: Path,
    target: Path | None,
    spec: MultiBoxPriorSpec,
    chosen: npt.NDArray[np.int64],
    grid: bool,
    fill: bool,
) -> None:
    import numpy as np

    from anchorctl import render
    from anchorctl.cells import grid_lines
    from anchorctl.conventions.mxnet import anchors_at

    if target is not None and target.exists() and source.exists() and target.samefile(source):
        raise AnchorError(f"refusing to overwrite the input {str(source)!r}; choose another -o")
    image = render.load_image(source)
    img_w, img_h = image.size
    boxes = anchors_at(spec, chosen)  # (M*k, 4) normalized
    scale = np.array([img_w, img_h, img_w, img_h], dtype=np.float32)
    slots = np.tile(np.arange(spec.per_cell), len(boxes) // spec.per_cell)
    grid_spec = None
    if grid:
        rows, cols = spec.feature_map
        if rows + cols > MAX_GRID_LINES:
            raise AnchorError(
                f"--grid on a {rows}x{cols} map would cover the image; leave --grid out"
            )
        xs, ys, centers = grid_lines(spec, (img_w, img_h))
        grid_spec = render.Grid(xs, ys, centers)
    drawn = render.draw_anchors(
        image,
        boxes * scale,
        slots,
        _legend(spec, (img_w, img_h)),
        _title(spec, len(boxes)),
        grid_spec,
        fill,
    )
    _save(drawn, target)


def _title(spec: MultiBoxPriorSpec, count: int) -> str:
    rows, cols = spec.feature_map
    return (
        f"MXNet MultiBoxPrior · feature map {rows}x{cols} (rows x cols) · "
        f"{count:,} anchors · ratio = w/h"
    )


def _legend(spec: MultiBoxPriorSpec, size: tuple[int, int]) -> list[str]:
    img_w, img_h = size
    return [
        f"slot {s.slot}: size {s.size:g}, ratio {s.ratio:g}, "
        f"{s.width * img_w:.1f} x {s.height * img_h:.1f} px"
        for s in spec.shapes()
    ]


def _save(image: Image.Image, target: Path | None) -> None:
    from anchorctl import render

    if target is None:
        sys.stdout.buffer.write(render.encode(image, "PNG"))
        sys.stdout.buffer.flush()
        return
    from anchorctl.atomic import atomic_write

    data = render.encode(image, SUFFIX_FORMATS.get(target.suffix.lower(), "PNG"))
    try:
        with atomic_write(target) as handle:
            handle.write(data)
    except OSError as exc:
        raise AnchorError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


class _progress:
    """A progress bar on stderr for batches, shown only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: object = None

    def __enter__(self) -> _Advance:
        if self.total < 2 or not sys.stderr.isatty():
            return _Advance(None, None)
        from rich.console import Console
        from rich.progress import Progress

        progress = Progress(console=Console(file=sys.stderr), transient=True)
        progress.start()
        self.bar = progress
        return _Advance(progress, progress.add_task("drawing", total=self.total))

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()  # type: ignore[attr-defined]


class _Advance:
    def __init__(self, progress: object, task: object) -> None:
        self.progress = progress
        self.task = task

    def __call__(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)  # type: ignore[attr-defined]
