"""Options shared by every command, spelled once so every command spells them the same way.

The anchor options of every convention are command-line options of ``list``, ``draw``,
``explain``, ``count`` and ``compare``. MultiBoxPrior's (``--sizes --ratios --feature-map
--steps --offsets --clip``) are declared here; the others come from the conventions' own
``OPTIONS`` lists when a command's options are first needed (never for ``anchorctl --help``,
which imports no numpy). Per-level options may be repeated, once per feature map; an option
the chosen convention does not read is an error, never silently ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from anchorctl import params
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from anchorctl.conventions.base import Option
    from anchorctl.conventions.mxnet import MultiBoxPriorSpec

F = TypeVar("F", bound=Callable[..., Any])

ANCHOR_HELP = """\b
Conventions: --convention NAME picks the framework (default mxnet, MultiBoxPrior:
len(sizes) + len(ratios) - 1 shapes per cell, every size with ratios[0], then sizes[0] with
ratios[1:]; width = s * (rows/cols) * sqrt(r), height = s / sqrt(r), normalized; ratio =
width / height). `anchorctl conventions` lists every convention with its rules and the
options it reads. Repeat --feature-map (and per-level options) once per level."""

# The options declared statically below; every other convention option is added on demand.
STATIC = ("feature_map", "sizes", "ratios")


def anchor_options(func: F) -> F:
    """``--convention --feature-map --sizes --ratios`` (the rest come with the conventions)."""
    options = [
        click.option(
            "--convention",
            default="mxnet",
            show_default=True,
            metavar="NAME",
            help="Anchor convention (framework); see `anchorctl conventions`.",
        ),
        click.option(
            "--feature-map",
            "feature_map",
            type=params.FEATURE_MAP,
            multiple=True,
            help="Feature-map size ROWSxCOLS (H x W of an NCHW tensor); repeat per level. "
            "[default: 1x1]",
        ),
        click.option(
            "--sizes",
            type=params.SIZES,
            multiple=True,
            help="Anchor sizes (mxnet: fractions of the image height; pixels elsewhere); "
            "repeat per level. [mxnet default: 1]",
        ),
        click.option(
            "--ratios",
            type=params.RATIOS,
            multiple=True,
            help="Aspect ratios (w/h for mxnet, d2l, caffe, tf; h/w for torchvision, "
            "detectron2, mmdet); repeat per level. [mxnet default: 1]",
        ),
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
        help="Image (network input) size WIDTHxHEIGHT in pixels.",
    )(func)
    return func


class ConventionCommand(click.Command):
    """A command that also takes every convention's own options (``--scales``, ``--flip``...).

    They are built from the conventions' ``OPTIONS`` the first time the command parses or
    shows its help, so naming the command in ``anchorctl --help`` costs nothing.
    """

    _extra: list[click.Parameter] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self._extra is None:
            # A command's own option of the same name wins (coverage's --input-size WxH is the
            # network input, which is also what mmdet's SSD input_size means there).
            own = {p.name for p in self.params}
            self._extra = [p for p in convention_parameters() if p.name not in own]
        base = super().get_params(ctx)
        help_option = self.get_help_option(ctx)
        rest = [p for p in base if p is not help_option]
        return rest + self._extra + ([help_option] if help_option is not None else [])


@functools.cache
def convention_options() -> dict[str, list[tuple[str, Option]]]:
    """Option name -> ``(convention, Option)`` for every convention that reads it."""
    from anchorctl import conventions

    readers: dict[str, list[tuple[str, Option]]] = {}
    for name in conventions.MODULES:
        for option in conventions.load(name).OPTIONS:
            readers.setdefault(option.name, []).append((name, option))
    return readers


def convention_parameters() -> list[click.Parameter]:
    """One click option per convention option not declared statically.

    Values are kept as typed (text) and parsed by the chosen convention's own kind for the
    option (:func:`parse_typed`), since two frameworks may read the same word differently.
    """
    out: list[click.Parameter] = []
    for name, readers in sorted(convention_options().items()):
        if name in STATIC:
            continue
        flag = "--" + name.replace("_", "-")
        first = readers[0][1]
        who = "; ".join(f"{conv}: {opt.help}" for conv, opt in readers)
        per_level = any(opt.per_level for _, opt in readers)
        help_text = who + (" (repeat per level)" if per_level else "")
        if all(opt.kind == "flag" for _, opt in readers):
            out.append(
                click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=help_text)
            )
        else:
            out.append(
                click.Option(
                    [flag, name],
                    multiple=True,
                    metavar=_METAVARS.get(first.kind, "VALUE"),
                    help=help_text,
                )
            )
    return out


_METAVARS = {"floats": "N1,N2,...", "float": "N", "int": "N", "yx": "Y,X", "whs": "WxH,..."}


def typed_options(ctx: click.Context, values: Mapping[str, Any]) -> dict[str, Any]:
    """The convention options the user actually typed: name -> value as click parsed it."""
    typed = {}
    command = ctx.command
    extra = getattr(command, "_extra", None) or []
    names = [*STATIC, *(p.name for p in extra if p.name)]
    for name in names:
        if name in values and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            typed[name] = values[name]
    return typed


def parse_typed(option: Option, value: Any) -> Any:
    """A typed value as ``option``'s kind: a list per level, or one value (usage error if not)."""
    flag = "--" + option.name.replace("_", "-")
    if option.kind == "flag":
        return bool(value)
    raw = list(value) if isinstance(value, (tuple, list)) else [value]
    if not option.per_level and len(raw) > 1:
        raise click.BadParameter("give it once (it applies to every level)", param_hint=f"'{flag}'")
    kind = "level_floats" if option.kind == "floats" and option.per_level else option.kind
    kind_type = params.KIND_TYPES[kind]
    try:
        parsed = [kind_type.convert(text, None, None) for text in raw]
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=f"'{flag}'") from None
    return parsed if option.per_level else parsed[0]


def build_spec(
    sizes: tuple[float, ...],
    ratios: tuple[float, ...],
    feature_map: tuple[int, int],
    steps: tuple[float, float] | None,
    offsets: tuple[float, float],
    clip: bool,
) -> MultiBoxPriorSpec:
    """A validated MultiBoxPrior spec; a value the core refuses is a usage error (exit 2)."""
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
