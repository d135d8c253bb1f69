"""Options and steps shared by the commands that read a data set (coverage, suggest, report)
and the ``--boxes`` of draw and view.

One reading path: every command reads annotations through
:func:`anchorctl.annotations.open_annotations`'s stream (bounded memory, hostile input
refused in one line). ``coverage`` consumes the stream a chunk at a time
(:func:`open_dataset`); ``suggest`` sets the mapped boxes aside (:func:`stream_boxes`: in
memory up to a bound, then in a temporary file) and reads them back in blocks; ``report``
and ``--boxes`` gather it (:func:`read_dataset`, :func:`read_truth`).
Then: mapping the boxes to the network input the way training resizes the images (by
default as the preset's framework trains, :func:`resize_plan`), laying the anchors on each
input size (:class:`AnchorGrids`, :func:`load_boxes`), and a progress bar on stderr for long
reads (only on a terminal, never with ``--quiet``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anchorctl import params
from anchorctl.cli.options import DATA, annotations_format_option, apply, option

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from anchorctl.annotations import Annotations, AnnotationStream
    from anchorctl.cli.source import AnchorOptions, Source
    from anchorctl.fit.boxes import SpilledBoxes
    from anchorctl.iou import GridInfo
    from anchorctl.parallel import Mapping

F = TypeVar("F", bound=Callable[..., Any])

# The modes are anchorctl.geometry's (numpy): read them when --resize is parsed or shown.
RESIZE = params.LazyChoice(params.lazy_names("anchorctl.geometry", "RESIZE_MODES"))


def dataset_options(func: F) -> F:
    """ANNOTATIONS and the options that say how to read them and resize their images."""
    return _dataset_options(func, click.argument("annotations", type=ANNOTATIONS))


def shards_dataset_options(func: F) -> F:
    """:func:`dataset_options` with ANNOTATIONS... (``coverage --merge`` reads several shard
    reports; the command refuses more than one path without it)."""
    return _dataset_options(func, click.argument("annotations", nargs=-1, type=ANNOTATIONS))


ANNOTATIONS = params.InputPath(path_type=Path)


def _dataset_options(func: F, annotations: Callable[[F], F]) -> F:
    return apply(
        func,
        annotations,
        annotations_format_option(),
        option(
            "--categories",
            default=None,
            metavar="NAME,...",
            section=DATA,
            help="Only boxes of these categories.",
        ),
        option(
            "--include-crowd",
            is_flag=True,
            section=DATA,
            help="Keep COCO iscrowd, Open Images IsGroupOf.",
        ),
        option(
            "--include-difficult", is_flag=True, section=DATA, help="Keep VOC difficult objects."
        ),
        option(
            "--images-dir",
            type=params.InputPath(file_okay=False, path_type=Path),
            default=None,
            section=DATA,
            help="Images, for YOLO's or Open Images' sizes.",
        ),
        option(
            "--image-size",
            "dataset_image_size",
            type=params.IMAGE_SIZE,
            default=None,
            section=DATA,
            help="Every image's size (YOLO, Open Images).",
        ),
        option(
            "--image-sizes",
            "dataset_image_sizes",
            type=params.InputPath(dir_okay=False, path_type=Path),
            default=None,
            metavar="FILE",
            section=DATA,
            help="Open Images: a CSV of ImageID,width,height.",
        ),
        option(
            "--strict",
            is_flag=True,
            section=DATA,
            help="Stop at the first malformed entry.",
        ),
        option(
            "--resize",
            type=RESIZE,
            default=None,
            metavar="MODE",
            section=DATA,
            help="How training fits images to the network input. [default: as the preset "
            "trains, else stretch]",
        ),
        option(
            "--shorter-side",
            type=params.FloatList("MIN,MAX", "800,1333", count=2, positive=True),
            default=None,
            section=DATA,
            help="Shorter side's size, longer side's cap. [default: the preset's]",
        ),
        option("-q", "--quiet", is_flag=True, help="No progress bars."),
    )


@dataclass(frozen=True)
class DatasetOptions:
    """The data set and how training resizes its images, as the command line gives them."""

    annotations: Path
    annotations_format: str | None = None
    categories: str | None = None
    include_crowd: bool = False
    include_difficult: bool = False
    images_dir: Path | None = None
    dataset_image_size: tuple[int, int] | None = None
    dataset_image_sizes: Path | None = None
    strict: bool = False
    resize: str | None = None
    shorter_side: tuple[float, float] | None = None
    quiet: bool = False

    @property
    def wanted(self) -> list[str] | None:
        """``--categories`` as a list of names (``None``: every category)."""
        if not self.categories:
            return None
        return [c.strip() for c in self.categories.split(",") if c.strip()]


@dataclass(frozen=True)
class Resize:
    """How the boxes are mapped to the network input, and where that choice came from.

    ``origin`` is ``"--resize"`` (the user's), ``"preset"`` (how ``preset``'s framework
    trains) or ``"default"`` (stretch, for a convention or config).
    """

    mode: str
    shorter_side: tuple[int, int] | None
    origin: str
    preset: str | None = None

    def describe(self) -> str:
        """``letterbox (yolov5 trains so)``, for the report's title."""
        mode = self.mode
        if self.mode == "shorter-side" and self.shorter_side is not None:
            mode += f" {self.shorter_side[0]},{self.shorter_side[1]}"
        if self.origin == "preset":
            return f"{mode} (as {self.preset} trains; --resize to change)"
        if self.origin == "default":
            return f"{mode} (the default; --resize to change)"
        return mode

    def mapping(self, input_size: tuple[int, int] | None) -> Mapping:
        """How a box reaches the network input (:mod:`anchorctl.geometry`): ``input_size``
        for stretch and letterbox, each image's own for shorter-side (a usage error names
        what is missing)."""
        from anchorctl.parallel import Mapping

        if self.mode == "shorter-side":
            if self.shorter_side is None:
                raise click.UsageError(
                    "--resize shorter-side needs --shorter-side MIN,MAX (e.g. 800,1333)"
                )
            return Mapping(self.mode, shorter_side=self.shorter_side)
        if input_size is None:
            raise click.UsageError(
                f"--resize {self.mode} needs the network input: give --input-size WxH or a --preset"
            )
        return Mapping(self.mode, input_size=(int(input_size[0]), int(input_size[1])))


def resize_plan(data: DatasetOptions, anchors: AnchorOptions) -> Resize:
    """``--resize`` as given, else the way the preset's framework trains, else stretch."""
    preset = None
    if anchors.preset is not None:
        from anchorctl.errors import AnchorError
        from anchorctl.presets import load_preset

        try:
            preset = load_preset(anchors.preset)
        except AnchorError:
            preset = None  # an unknown name: reported where the anchors are read
    shorter = (
        (int(data.shorter_side[0]), int(data.shorter_side[1]))
        if data.shorter_side is not None
        else None
    )
    if data.resize is not None:
        if shorter is None and data.resize == "shorter-side" and preset is not None:
            shorter = preset.shorter_side
        return Resize(data.resize, shorter, "--resize")
    if preset is not None:
        return Resize(preset.resize, shorter or preset.shorter_side, "preset", preset.name)
    return Resize("stretch", shorter, "default")


def open_dataset(
    data: DatasetOptions, progress: Callable[[int, int], None] | None
) -> AnnotationStream:
    """The annotations the options name, as a stream of checked box chunks (bounded memory;
    see :func:`anchorctl.annotations.open_annotations`)."""
    from anchorctl.annotations import open_annotations

    return open_annotations(data.annotations, progress=progress, **_reading(data))


def read_dataset(data: DatasetOptions, progress: Callable[[int, int], None] | None) -> Annotations:
    """The annotations the options name, gathered from the same stream, with every skipped
    entry listed."""
    from anchorctl.annotations import read_annotations

    return read_annotations(data.annotations, progress=progress, **_reading(data))


def _reading(data: DatasetOptions) -> dict[str, Any]:
    """How the options ask for the annotations to be read (the readers' keywords)."""
    return {
        "fmt": data.annotations_format,
        "categories": data.wanted,
        "include_crowd": data.include_crowd,
        "include_difficult": data.include_difficult,
        "images_dir": data.images_dir,
        "image_size": data.dataset_image_size,
        "image_sizes": data.dataset_image_sizes,
        "strict": data.strict,
    }


def skipped_summary(ann: Annotations) -> dict[str, int]:
    """How many entries were skipped, by kind of reason (values left out), most first."""
    from anchorctl.annotations import count_reasons

    return count_reasons(ann.skipped)


def input_boxes(
    ann: Annotations, resize: Resize, input_size: tuple[int, int] | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The boxes in network-input pixels and each box's input size (see anchorctl.geometry).

    ``input_size`` is the network input for stretch and letterbox (``--input-size`` or the
    preset's); shorter-side gives each image its own.
    """
    from anchorctl.geometry import to_input

    mapping = resize.mapping(input_size)
    return to_input(
        ann, mapping.mode, input_size=mapping.input_size, shorter_side=mapping.shorter_side
    )


GRIDS_KEPT = 16  # input sizes whose anchors stay made (shorter-side: one per image shape)


@dataclass
class AnchorGrids:
    """The anchors at a network input size: ``grids((W, H))`` is every anchor in input
    pixels (:func:`anchorctl.iou.grid_from_levels`), made once per size and kept for the
    last :data:`GRIDS_KEPT` sizes.

    ``source`` is the anchors already resolved at their own input (reused at that size);
    any other size resolves ``request`` there. Coverage's forked workers inherit this and
    make their own grids.
    """

    request: AnchorOptions
    source: Source | None = None
    _made: dict[tuple[int, int], GridInfo] = field(default_factory=dict, repr=False)

    def __call__(self, size: tuple[int, int]) -> GridInfo:
        from anchorctl.cli.source import resolve
        from anchorctl.iou import grid_from_levels

        size = (int(size[0]), int(size[1]))
        grid = self._made.get(size)
        if grid is None:
            source = self.source
            if source is None or source.image_size != size:
                source = resolve(self.request.at(size))
            if len(self._made) >= GRIDS_KEPT:
                self._made.pop(next(iter(self._made)))
            grid = self._made[size] = grid_from_levels(source.levels, source.rules, size)
        return grid

    def resolved(self, first: tuple[int, int] | None) -> Source:
        """The anchors as the options ask for them: those resolved before the read, else
        (shorter-side, where each image has its own input) as at ``first``, the first
        image's input."""
        from anchorctl.cli.source import resolve

        return self.source or resolve(self.request.at(first))


@dataclass
class DatasetBoxes:
    """A data set's boxes in network-input pixels, and the anchors laid on each input size.

    ``boxes`` is ``(N, 4)`` float64 ``x1, y1, x2, y2`` and ``sizes`` ``(N, 2)`` the
    ``(width, height)`` of each box's network input, in input pixels. ``source`` is the
    anchors as the options ask for them (for shorter-side, at the first image's input).
    """

    annotations: Annotations
    resize: Resize
    boxes: npt.NDArray[np.float64]
    sizes: npt.NDArray[np.int64]
    source: Source
    grids: AnchorGrids

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The anchors' network input: the source's, else the first box's (shorter-side)."""
        if self.source.image_size is not None:
            return self.source.image_size
        return (int(self.sizes[0][0]), int(self.sizes[0][1])) if len(self.sizes) else None

    @property
    def one_input_size(self) -> bool:
        """Whether every box shares one network input (not so for shorter-side resizing)."""
        return len(self.sizes) == 0 or bool((self.sizes == self.sizes[0]).all())


def load_boxes(anchors: AnchorOptions, data: DatasetOptions) -> DatasetBoxes:
    """Read the data set, map its boxes to the network input as training resizes the images
    (:func:`resize_plan`), and resolve the anchors (checking the options early)."""
    from anchorctl.cli.source import resolve

    resize = resize_plan(data, anchors)
    with progress_bar("reading annotations", data.quiet) as advance:
        ann = read_dataset(data, advance)
    if resize.mode == "shorter-side":
        boxes, sizes = input_boxes(ann, resize, None)
        first = (int(sizes[0][0]), int(sizes[0][1])) if len(sizes) else None
        source = resolve(anchors.at(first))
    else:
        source = resolve(anchors)
        boxes, sizes = input_boxes(ann, resize, source.image_size)
    return DatasetBoxes(ann, resize, boxes, sizes, source, AnchorGrids(anchors, source))


@dataclass
class StreamedBoxes:
    """A data set read as a stream for a fit: its boxes in network-input pixels set aside
    (:class:`~anchorctl.fit.boxes.SpilledBoxes`: in memory up to a bound, then in a
    temporary file), how many entries the reader skipped, and the anchors.

    Boxes of no width or height at the network input are left out. Close it (or use it as a
    context manager) to free the temporary file.
    """

    resize: Resize
    source: Source
    boxes: SpilledBoxes
    skipped: int
    first_size: tuple[int, int] | None

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The anchors' network input: the source's, else the first box's (shorter-side)."""
        return self.source.image_size or self.first_size

    def close(self) -> None:
        self.boxes.close()

    def __enter__(self) -> StreamedBoxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_boxes(anchors: AnchorOptions, data: DatasetOptions) -> StreamedBoxes:
    """:func:`load_boxes` in bounded memory: the data set read as a stream, each chunk mapped
    to the network input and set aside, so a fit holds a sample and a block at a time."""
    from anchorctl.fit.boxes import SpilledBoxes

    resize, mapping, grids = stream_plan(anchors, data)
    first: tuple[int, int] | None = None
    spilled = SpilledBoxes()
    try:
        with (
            progress_bar("reading annotations", data.quiet) as advance,
            open_dataset(data, advance) as stream,
        ):
            for chunk in stream:
                boxes, sizes = mapping.apply(chunk.boxes, chunk.image_size)
                if first is None and len(sizes):
                    first = (int(sizes[0, 0]), int(sizes[0, 1]))
                spilled.append(boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])])
        source = grids.resolved(first)
    except BaseException:
        spilled.close()
        raise
    return StreamedBoxes(resize, source, spilled, stream.skipped.total, first)


def stream_plan(
    anchors: AnchorOptions, data: DatasetOptions
) -> tuple[Resize, Mapping, AnchorGrids]:
    """:func:`load_boxes` for a data set read as a stream: the resize, how each chunk's boxes
    reach the network input, and the anchors at each input size.

    For stretch and letterbox the anchors are resolved now, checking the options before the
    read; for shorter-side each image has its own input, known only while reading.
    """
    from anchorctl.cli.source import resolve

    resize = resize_plan(data, anchors)
    if resize.mode == "shorter-side":
        return resize, resize.mapping(None), AnchorGrids(anchors)
    source = resolve(anchors)
    return resize, resize.mapping(source.image_size), AnchorGrids(anchors, source)


def read_truth(path: Path, fmt: str | None, image_folder: Path) -> Annotations:
    """The ``--boxes`` annotations of draw and view; YOLO labels and Open Images boxes take
    their images' sizes from ``image_folder`` (where the pictures being drawn are)."""
    from anchorctl.annotations import format_of, read_annotations

    kind = format_of(path, fmt)
    sized_by_images = kind in ("yolo", "openimages")
    return read_annotations(path, kind, images_dir=image_folder if sized_by_images else None)


def image_truth(ann: Annotations, image: Path, size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """``image``'s ground-truth boxes, ``(N, 4)`` ``x1, y1, x2, y2`` scaled from the
    annotation's pixels to a picture of ``size`` ``(width, height)``.

    The image is found by file name, else by stem (annotations often name ``000001.jpg``
    where the file at hand is a ``.png``); none is a one-line error.
    """
    import numpy as np

    from anchorctl.errors import AnchorError

    names = [Path(entry.name) for entry in ann.images]
    matches = [i for i, name in enumerate(names) if name.name == image.name]
    matches = matches or [i for i, name in enumerate(names) if name.stem == image.stem]
    if not matches:
        raise AnchorError(f"{image.name}: no boxes for this image in the --boxes annotations")
    index = matches[0]
    entry = ann.images[index]
    boxes = ann.boxes[ann.image_index == index].astype(np.float64)
    scale = np.array([size[0] / entry.width, size[1] / entry.height] * 2)
    out: npt.NDArray[np.float64] = boxes * scale
    return out


@contextlib.contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr, or ``None`` when quiet or
    when stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
