"""Where a command's anchors come from: a preset, a config file, or the anchor options.

Exactly one source applies: ``--preset NAME`` (optionally at ``--image-size``), ``--config
FILE``, or the options of ``--convention`` (MultiBoxPrior by default). Mixing them is a
usage error, so nothing a user typed is silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

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


def resolve(
    preset: str | None,
    config_file: Path | None,
    image_size: tuple[int, int] | None,
    options_given: Mapping[str, Any],
    default_params: Callable[[], tuple[str, Mapping[str, Any]]],
) -> Source:
    """The anchors of ``--preset``, ``--config`` or, with neither, ``default_params()``.

    ``options_given`` holds the anchor options the user typed (name -> value); with a preset
    or a config they would be ignored, so they are refused instead.
    """
    from anchorctl import conventions
    from anchorctl.errors import AnchorError

    if preset is not None and config_file is not None:
        raise click.UsageError("give --preset or --config, not both")
    chosen = "--preset" if preset is not None else "--config" if config_file else None
    if chosen and options_given:
        typed = ", ".join(f"--{n.replace('_', '-')}" for n in options_given)
        raise click.UsageError(
            f"{typed} cannot be combined with {chosen}; edit a config instead "
            "(`anchorctl presets show NAME --format toml > my.toml`)"
        )
    loaded_preset = None
    if preset is not None:
        from anchorctl.presets import load_preset, names

        if preset not in names():
            raise click.BadParameter(
                f"unknown preset {preset!r}; choose one of {', '.join(names())}",
                param_hint="'--preset'",
            )
        loaded_preset = load_preset(preset, image_size)
        convention, params = loaded_preset.config.convention, loaded_preset.config.params
    elif config_file is not None:
        from anchorctl.config import load_config

        config = load_config(config_file)
        params = dict(config.params)
        if image_size is not None:
            params["image_size"] = image_size
        convention = config.convention
    else:
        convention, params = default_params()
    module = conventions.load(convention)
    try:
        levels = module.generate(params)
    except AnchorError as exc:
        if chosen is None:
            raise click.UsageError(str(exc)) from None
        raise
    return Source(convention, params, loaded_preset, levels, module.RULES)
