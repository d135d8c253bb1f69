"""Where a command's anchors come from: a preset, a config file, or the anchor options.

Exactly one source applies: ``--preset NAME`` (optionally at ``--image-size``), ``--config
FILE``, or ``--convention NAME`` (MultiBoxPrior by default) with its options. Mixing them is
a usage error, and so is an option the chosen convention does not read: nothing a user typed
is silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from anchorctl.cli.options import parse_typed, resolve_image_size, typed_options

if TYPE_CHECKING:
    from anchorctl.conventions.base import Level, Rules
    from anchorctl.presets import Preset

F = TypeVar("F", bound=Callable[..., Any])


def source_options(func: F) -> F:
    """``--preset NAME`` and ``--config FILE``."""
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Anchors described by a TOML config (see `anchorctl presets show`).",
    )(func)
    func = click.option(
        "--preset",
        default=None,
        metavar="NAME",
        help="A named detector configuration (list them with `anchorctl presets`).",
    )(func)
    return func


@dataclass(frozen=True)
class Source:
    """The resolved anchors: convention, parameters, and the preset if one was named."""

    convention: str
    params: Mapping[str, Any]
    preset: Preset | None
    levels: list[Level]
    rules: Rules

    @property
    def total(self) -> int:
        return sum(level.count for level in self.levels)

    @property
    def image_size(self) -> tuple[int, int] | None:
        size = self.params.get("image_size")
        return (int(size[0]), int(size[1])) if size is not None else None


def from_cli(ctx: click.Context, values: Mapping[str, Any]) -> Source:
    """The anchors a command's options describe (``values``: the command's parameters)."""
    from anchorctl import conventions
    from anchorctl.errors import AnchorError

    preset = values.get("preset")
    config_file = values.get("config_file")
    image_size = resolve_image_size(values.get("image_size"), values.get("image_file"))
    typed = typed_options(ctx, values)
    for name in ("feature_map", "convention"):
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            typed[name] = values[name]
    if preset is not None and config_file is not None:
        raise click.UsageError("give --preset or --config, not both")
    chosen = "--preset" if preset is not None else "--config" if config_file else None
    if chosen and typed:
        names = ", ".join(f"--{n.replace('_', '-')}" for n in typed)
        raise click.UsageError(
            f"{names} cannot be combined with {chosen}; edit a config instead "
            "(`anchorctl presets show NAME --format toml > my.toml`)"
        )
    loaded_preset = None
    if preset is not None:
        from anchorctl.presets import load_preset
        from anchorctl.presets import names as preset_names

        if preset not in preset_names():
            raise click.BadParameter(
                f"unknown preset {preset!r}; choose one of {', '.join(preset_names())}",
                param_hint="'--preset'",
            )
        try:
            loaded_preset = load_preset(preset, image_size)
        except AnchorError as exc:  # a size the model cannot take: the options are wrong
            raise click.BadParameter(str(exc), param_hint="'--image-size'") from None
        convention, params = loaded_preset.config.convention, dict(loaded_preset.config.params)
    elif config_file is not None:
        from anchorctl.config import load_config

        config = load_config(config_file)
        params = dict(config.params)
        if image_size is not None:
            params["image_size"] = image_size
        convention = config.convention
    else:
        convention = values.get("convention") or conventions.DEFAULT
        if convention not in conventions.MODULES:
            raise click.BadParameter(
                f"unknown convention {convention!r}; choose one of "
                f"{', '.join(conventions.MODULES)}",
                param_hint="'--convention'",
            )
        options = {o.name: o for o in conventions.load(convention).OPTIONS}
        readable = list(options)
        unread = [n for n in typed if n not in (*readable, "feature_map", "convention")]
        if unread:
            flags = ", ".join(f"--{n.replace('_', '-')}" for n in unread)
            reads = ", ".join(f"--{n.replace('_', '-')}" for n in readable)
            raise click.UsageError(
                f"{flags}: not read by the {convention} convention (it reads {reads})"
            )
        params = {
            k: parse_typed(options[k], v)
            for k, v in typed.items()
            if k not in ("feature_map", "convention")
        }
        params["feature_maps"] = list(values.get("feature_map") or ()) or [(1, 1)]
        params["image_size"] = image_size
    module = conventions.load(convention)
    try:
        levels = module.generate(params)
    except AnchorError as exc:
        from anchorctl.errors import TooLarge

        # A bad option value is a usage error (2); a request too large to do is not (1).
        if chosen is None and not isinstance(exc, TooLarge):
            raise click.UsageError(str(exc)) from None
        raise
    return Source(convention, params, loaded_preset, levels, module.RULES)
