"""Options and steps shared by the commands that read a data set (coverage, suggest).

Reading annotations, mapping their boxes to the network input the way training resizes the
images (by default as the preset's framework trains), and a progress bar on stderr for long
reads (only on a terminal, never with ``--quiet``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anchorctl import params
from anchorctl.cli.options import DATA, annotations_format_option, apply, option

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from anchorctl.annotations import Annotations
    from anchorctl.cli.source import AnchorOptions

F = TypeVar("F", bound=Callable[..., Any])

# The modes are anchorctl.geometry's (numpy): read them when --resize is parsed or shown.
RESIZE = params.LazyChoice(params.lazy_names("anchorctl.geometry", "RESIZE_MODES"))


def dataset_options(func: F) -> F:
    """ANNOTATIONS and the options that say how to read them and resize their images."""
    return apply(
        func,
        click.argument("annotations", type=click.Path(path_type=Path)),
        annotations_format_option(),
        option(
            "--categories",
            default=None,
            metavar="NAME,...",
            section=DATA,
            help="Only boxes of these categories.",
        ),
        option("--include-crowd", is_flag=True, section=DATA, help="Keep COCO iscrowd boxes."),
        option(
            "--include-difficult", is_flag=True, section=DATA, help="Keep VOC difficult objects."
        ),
        option(
            "--images-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            section=DATA,
            help="Where YOLO's images are (for their sizes).",
        ),
        option(
            "--image-size",
            "dataset_image_size",
            type=params.IMAGE_SIZE,
            default=None,
            section=DATA,
            help="Each image's size, for YOLO labels alone.",
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


def read_dataset(data: DatasetOptions, progress: Callable[[int, int], None] | None) -> Annotations:
    """The annotations the options name, with the skipped entries reported on stderr."""
    from anchorctl.annotations import read_annotations

    return read_annotations(
        data.annotations,
        data.annotations_format,
        categories=data.wanted,
        include_crowd=data.include_crowd,
        include_difficult=data.include_difficult,
        images_dir=data.images_dir,
        image_size=data.dataset_image_size,
        strict=data.strict,
        progress=progress,
    )


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

    if resize.mode == "shorter-side":
        if resize.shorter_side is None:
            raise click.UsageError(
                "--resize shorter-side needs --shorter-side MIN,MAX (e.g. 800,1333)"
            )
        return to_input(ann, resize.mode, shorter_side=resize.shorter_side)
    if input_size is None:
        raise click.UsageError(
            f"--resize {resize.mode} needs the network input: give --input-size WxH or a --preset"
        )
    return to_input(ann, resize.mode, input_size=input_size)


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
