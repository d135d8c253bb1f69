"""Where a command's anchors come from: a preset, a config file, or the anchor options.

Exactly one source applies: ``--preset NAME`` (optionally at ``--input-size``), ``--config
FILE``, or ``--convention NAME`` (MultiBoxPrior by default) with its options. Mixing them is
a usage error, and so is an option the chosen convention does not read: nothing a user typed
is silently ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from anchorctl.cli.options import (
    SOURCE,
    apply,
    flag,
    network_input,
    option,
    parse_typed,
    record,
    typed_options,
)
from anchorctl.params import InputPath, LazyChoice, lazy_names

if TYPE_CHECKING:
    from pathlib import Path

    from anchorctl.conventions.base import Level, Rules
    from anchorctl.presets import Preset

F = TypeVar("F", bound=Callable[..., Any])


def source_options(func: F) -> F:
    """``--preset NAME``, ``--config FILE`` and ``--config-format FORMAT``."""
    return apply(
        func,
        option(
            "--preset",
            default=None,
            metavar="NAME",
            section=SOURCE,
            help="A named detector (`anchorctl presets` lists them).",
        ),
        option(
            "--config",
            "config_file",
            type=InputPath(dir_okay=False),  # a pathlib.Path
            default=None,
            section=SOURCE,
            help="TOML, YOLO or Detectron2 .yaml, MMDetection .py, TF .config (never run).",
        ),
        option(
            "--config-format",
            "config_format",
            # The names come from anchorctl.configs, imported only for a run that uses them.
            type=LazyChoice(lazy_names("anchorctl.configs", "FORMATS")),
            default=None,
            metavar="FORMAT",
            section=SOURCE,
            help="Read --config as (default: by its name and content).",
        ),
    )


@dataclass(frozen=True)
class AnchorOptions:
    """The anchors as the command line asks for them, before anything is read or generated.

    ``typed`` holds the convention options given on the command line, as text (one entry per
    use), to be read by the chosen convention; ``given`` names every anchor option that was
    typed (``convention`` and ``feature_map`` included), so a preset or config can refuse them.
    ``input_size`` is the network input ``(width, height)``; ``image_file`` an image whose
    header gives it instead.
    """

    preset: str | None = None
    config_file: Path | None = None
    config_format: str | None = None
    convention: str = "mxnet"
    feature_map: tuple[tuple[int, int], ...] = ()
    input_size: tuple[int, int] | None = None
    image_file: Path | None = None
    typed: Mapping[str, Any] = field(default_factory=dict)
    given: tuple[str, ...] = ()

    @classmethod
    def from_context(cls, ctx: click.Context) -> AnchorOptions:
        """The record of the command being run (its click parameters)."""
        typed = typed_options(ctx)
        given = [
            name
            for name in ("feature_map", "convention")
            if name in ctx.params and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        ]
        base = record(cls, ctx.params)
        return dataclasses.replace(base, typed=typed, given=(*given, *typed))

    def at(self, input_size: tuple[int, int] | None) -> AnchorOptions:
        """The same anchors for another network input (``None``: the source's own)."""
        return dataclasses.replace(self, input_size=input_size, image_file=None)

    def network_input(self) -> tuple[int, int] | None:
        """``--input-size``, or the size in ``--image``'s header (``None`` when neither)."""
        return network_input(self.input_size, self.image_file)

    def follows_picture(self) -> bool:
        """Whether a command that shows the anchors on a picture lays them on the picture's
        own size (``request.at(picture_size)``).

        So it does for the anchor options and anchorctl's TOML (feature maps written out) when
        no network input is given. A preset or a framework config has its own input (SSD's
        300x300, a test resize, YOLO's 640) that the picture is scaled to, as the framework
        resizes it; a fixed-input config would refuse the picture's size.
        """
        if self.network_input() is not None or self.preset is not None:
            return False
        if self.config_file is None:
            return True
        from anchorctl.configs import format_of

        return format_of(self.config_file, self.config_format) == "toml"


@dataclass(frozen=True)
class Source:
    """The resolved anchors: convention, parameters, and the preset if one was named.

    ``origin`` says, for a framework config, which file and key the anchors came from and how
    its feature maps and input were derived (:attr:`anchorctl.configs.toml.Config.origin`);
    it is empty otherwise.
    """

    convention: str
    params: Mapping[str, Any]
    preset: Preset | None
    levels: list[Level]
    rules: Rules
    origin: str = ""

    @property
    def total(self) -> int:
        return sum(level.count for level in self.levels)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """The network input ``(width, height)`` the anchors are laid on, if known."""
        size = self.params.get("image_size")
        return (int(size[0]), int(size[1])) if size is not None else None


def from_cli(ctx: click.Context, values: Mapping[str, Any] | None = None) -> Source:
    """The anchors of the command being run; ``values["image_size"]`` (when present) is the
    network input to lay them on instead of the options' (for code written before
    :class:`AnchorOptions`: prefer :func:`resolve`)."""
    request = AnchorOptions.from_context(ctx)
    if values is not None and "image_size" in values:
        request = request.at(values["image_size"])
    return resolve(request)


def resolve(request: AnchorOptions) -> Source:
    """The anchors ``request`` describes: loaded, checked and generated."""
    from anchorctl import conventions
    from anchorctl.errors import AnchorError

    image_size = request.network_input()
    if request.preset is not None and request.config_file is not None:
        raise click.UsageError("give --preset or --config, not both")
    if request.config_format is not None and request.config_file is None:
        raise click.UsageError("--config-format needs --config FILE")
    chosen = None
    if request.preset is not None or request.config_file is not None:
        chosen = "--preset" if request.preset is not None else "--config"
    if chosen and request.given:
        names = ", ".join(flag(n) for n in request.given)
        raise click.UsageError(
            f"{names} cannot be combined with {chosen}; edit a config instead "
            "(`anchorctl presets show NAME --format toml > my.toml`)"
        )
    loaded_preset = None
    origin = ""
    if request.preset is not None:
        from anchorctl.presets import load_preset
        from anchorctl.presets import names as preset_names

        if request.preset not in preset_names():
            raise click.BadParameter(
                f"unknown preset {request.preset!r}; choose one of {', '.join(preset_names())}",
                param_hint="'--preset'",
            )
        try:
            loaded_preset = load_preset(request.preset, image_size)
        except AnchorError as exc:  # a size the model cannot take: the options are wrong
            given = "--image" if request.image_file is not None else "--input-size"
            message = str(exc).replace("--input-size", given)  # name the option typed
            raise click.BadParameter(message, param_hint=f"'{given}'") from None
        convention, params = loaded_preset.config.convention, dict(loaded_preset.config.params)
    elif request.config_file is not None:
        from anchorctl.configs import load_config

        config = load_config(request.config_file, request.config_format, image_size)
        params = dict(config.params)
        convention, origin = config.convention, config.origin
    else:
        convention = request.convention or conventions.DEFAULT
        params = convention_params(convention, request.typed, image_size)
        params["feature_maps"] = list(request.feature_map) or [(1, 1)]
    module = conventions.load(convention)
    try:
        levels = module.generate(params)
    except AnchorError as exc:
        from anchorctl.errors import TooLarge

        # A bad option value is a usage error (2); a request too large to do is not (1).
        if chosen is None and not isinstance(exc, TooLarge):
            raise click.UsageError(str(exc)) from None
        raise
    return Source(convention, params, loaded_preset, levels, module.RULES, origin)


def convention_params(
    convention: str, typed: Mapping[str, Any], image_size: tuple[int, int] | None
) -> dict[str, Any]:
    """The typed options read as ``convention``'s parameters, with the network input.

    A usage error names an option the convention does not read, and what it reads.
    """
    from anchorctl import conventions

    if convention not in conventions.MODULES:
        raise click.BadParameter(
            f"unknown convention {convention!r}; choose one of {', '.join(conventions.MODULES)}",
            param_hint="'--convention'",
        )
    options = {o.name: o for o in conventions.load(convention).OPTIONS}
    unread = [n for n in typed if n not in options]
    if unread:
        flags = ", ".join(flag(n) for n in unread)
        reads = ", ".join(flag(n) for n in options)
        raise click.UsageError(
            f"{flags}: not read by the {convention} convention (it reads {reads})"
        )
    params = {k: parse_typed(options[k], v, convention) for k, v in typed.items()}
    params["image_size"] = image_size
    if "input_size" in options and image_size is not None and params.get("ssd"):
        # MMDetection's SSDAnchorGenerator(input_size=300) scales its size recipe by the side
        # of its square input: the network input, so --input-size gives both.
        width, height = image_size
        if width != height:
            raise click.BadParameter(
                f"{width}x{height}: mmdet's SSD recipe scales a square input; give "
                "--input-size N (300 or 512)",
                param_hint="'--input-size'",
            )
        params["input_size"] = width
    return params
