"""Options shared by every command, spelled once so every command spells them the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anchorctl import params
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from anchorctl.conventions.mxnet import MultiBoxPriorSpec

F = TypeVar("F", bound=Callable[..., Any])

ANCHOR_HELP = """\b
Anchors follow MXNet's MultiBoxPrior: len(sizes) + len(ratios) - 1 shapes per cell, every
size with ratios[0], then sizes[0] with ratios[1:]; width = s * (rows/cols) * sqrt(r),
height = s / sqrt(r), normalized to the image; ratio = width / height."""


def anchor_options(func: F) -> F:
    """``--sizes --ratios --feature-map --steps --offsets --clip``."""
    options = [
        click.option(
            "--sizes",
            type=params.SIZES,
            default="1",
            show_default=True,
            help="Anchor sizes, fractions of the image height (comma-separated).",
        ),
        click.option(
            "--ratios",
            type=params.RATIOS,
            default="1",
            show_default=True,
            help="Aspect ratios, width / height (comma-separated).",
        ),
        click.option(
            "--feature-map",
            "feature_map",
            type=params.FEATURE_MAP,
            default="1x1",
            show_default=True,
            help="Feature-map size ROWSxCOLS, as H x W of an NCHW tensor.",
        ),
        click.option(
            "--steps",
            type=params.STEPS,
            default=None,
            help="Centre spacing STEP_Y,STEP_X, normalized. [default: 1/rows,1/cols]",
        ),
        click.option(
            "--offsets",
            type=params.OFFSETS,
            default="0.5,0.5",
            show_default=True,
            help="Centre offset OFFSET_Y,OFFSET_X within a step, each in [0, 1].",
        ),
        click.option("--clip", is_flag=True, help="Clamp every coordinate to [0, 1]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def image_size_options(func: F) -> F:
    """``--image-size WxH`` or ``--image FILE``."""
    func = click.option(
        "--image",
        "image_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Take the image size (after EXIF rotation) from this image file.",
    )(func)
    func = click.option(
        "--image-size",
        "image_size",
        type=params.IMAGE_SIZE,
        default=None,
        help="Image size WIDTHxHEIGHT in pixels, for pixel columns.",
    )(func)
    return func


def build_spec(
    sizes: tuple[float, ...],
    ratios: tuple[float, ...],
    feature_map: tuple[int, int],
    steps: tuple[float, float] | None,
    offsets: tuple[float, float],
    clip: bool,
) -> MultiBoxPriorSpec:
    """The validated spec; a value the core refuses is a usage error (exit 2)."""
    from anchorctl.conventions.mxnet import MultiBoxPriorSpec

    try:
        return MultiBoxPriorSpec(sizes, ratios, feature_map, steps, offsets, clip)
    except AnchorError as exc:
        raise click.UsageError(str(exc)) from None


def resolve_image_size(
    image_size: tuple[int, int] | None, image_file: Path | None
) -> tuple[int, int] | None:
    """``--image-size`` as given, or the display size read from ``--image``'s header."""
    if image_size is not None and image_file is not None:
        raise click.UsageError("give --image-size or --image, not both")
    if image_file is None:
        return image_size
    from anchorctl.imagesize import image_size as read_size

    return read_size(image_file)
