"""Options and steps shared by the commands that read a data set (coverage, suggest).

Reading annotations, mapping their boxes to the network input the way training resizes the
images, and a progress bar on stderr for long reads (only on a terminal, never with
``--quiet``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anchorctl import params

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from anchorctl.annotations import Annotations, AnnotationStream

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("coco", "voc", "yolo", "csv", "openimages")
RESIZE = ("stretch", "letterbox", "shorter-side")


def dataset_options(func: F) -> F:
    """ANNOTATIONS and the options that say how to read them and resize their images."""
    return _dataset_options(func, many=False)


def dataset_options_many(func: F) -> F:
    """:func:`dataset_options` with ANNOTATIONS... (coverage --merge takes several reports)."""
    return _dataset_options(func, many=True)


def _dataset_options(func: F, *, many: bool) -> F:
    argument = (
        click.argument("annotations", nargs=-1, type=click.Path(path_type=Path))
        if many
        else click.argument("annotations", type=click.Path(path_type=Path))
    )
    options = [
        argument,
        click.option(
            "--annotations-format",
            "ann_format",
            type=click.Choice(FORMATS),
            default=None,
            help="coco (JSON), voc (folder of XML), yolo (folder of txt), csv "
            "(image,width,height,xmin,ymin,xmax,ymax), openimages (ImageID,...,XMin,XMax,YMin,"
            "YMax,...). [default: from the file or folder, and a .csv's header]",
        ),
        click.option(
            "--categories",
            default=None,
            metavar="NAME,...",
            help="Only boxes of these categories (comma-separated names).",
        ),
        click.option(
            "--include-crowd",
            is_flag=True,
            help="Keep COCO iscrowd and Open Images IsGroupOf boxes (boxes around a group).",
        ),
        click.option("--include-difficult", is_flag=True, help="Keep VOC difficult objects."),
        click.option(
            "--images-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where YOLO's or Open Images' images are (their headers give the sizes).",
        ),
        click.option(
            "--image-size",
            "dataset_image_size",
            type=params.IMAGE_SIZE,
            default=None,
            help="YOLO, Open Images: the size WIDTHxHEIGHT of every image, when the images "
            "are not at hand.",
        ),
        click.option(
            "--image-sizes",
            "dataset_image_sizes",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            metavar="FILE",
            help="Open Images: a CSV of ImageID,width,height giving each image's size.",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Fail on the first malformed entry instead of skipping it.",
        ),
        click.option(
            "--resize",
            type=click.Choice(RESIZE),
            default="stretch",
            show_default=True,
            help="How training maps images to the network input.",
        ),
        click.option(
            "--input-size",
            type=params.IMAGE_SIZE,
            default=None,
            help="Network input WIDTHxHEIGHT for stretch and letterbox. [default: the preset's]",
        ),
        click.option(
            "--shorter-side",
            type=params.FloatList("MIN,MAX", "800,1333", count=2, positive=True),
            default=None,
            help="For --resize shorter-side: the shorter side's size and the longer's cap.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def read_dataset(
    values: dict[str, Any], progress: Callable[[int, int], None] | None
) -> Annotations:
    """The annotations the options name, with the skipped entries reported on stderr."""
    from anchorctl.annotations import read_annotations

    categories = values.get("categories")
    wanted = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    ann = read_annotations(
        values["annotations"],
        values.get("ann_format"),
        categories=wanted,
        include_crowd=values.get("include_crowd", False),
        include_difficult=values.get("include_difficult", False),
        images_dir=values.get("images_dir"),
        image_size=values.get("dataset_image_size"),
        image_sizes=values.get("dataset_image_sizes"),
        strict=values.get("strict", False),
        progress=progress,
    )
    return ann


def open_dataset(
    values: dict[str, Any], progress: Callable[[int, int], None] | None
) -> AnnotationStream:
    """The annotations the options name, as a stream of chunks (bounded memory)."""
    from anchorctl.annotations import open_annotations

    categories = values.get("categories")
    wanted = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    return open_annotations(
        values["annotations"],
        values.get("ann_format"),
        categories=wanted,
        include_crowd=values.get("include_crowd", False),
        include_difficult=values.get("include_difficult", False),
        images_dir=values.get("images_dir"),
        image_size=values.get("dataset_image_size"),
        image_sizes=values.get("dataset_image_sizes"),
        strict=values.get("strict", False),
        progress=progress,
    )


def skipped_summary(ann: Annotations) -> dict[str, int]:
    """How many entries were skipped, by kind of reason (values left out), most first."""
    from anchorctl.annotations import count_reasons

    return count_reasons(ann.skipped)


def input_boxes(
    ann: Annotations, values: dict[str, Any], default_size: tuple[int, int] | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The boxes in network-input pixels and each box's input size (see anchorctl.geometry)."""
    from anchorctl.geometry import to_input

    mode = values["resize"]
    size = values.get("input_size") or default_size
    shorter = values.get("shorter_side")
    if mode == "shorter-side":
        if shorter is None:
            raise click.UsageError(
                "--resize shorter-side needs --shorter-side MIN,MAX (e.g. 800,1333)"
            )
        return to_input(ann, mode, shorter_side=(int(shorter[0]), int(shorter[1])))
    if size is None:
        raise click.UsageError(
            f"--resize {mode} needs the network input: give --input-size WxH or a --preset"
        )
    return to_input(ann, mode, input_size=size)


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
