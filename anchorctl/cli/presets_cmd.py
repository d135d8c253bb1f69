"""``anchorctl presets``: the named detector configurations, and each as a config file."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from anchorctl import params


@click.group(
    "presets",
    invoke_without_command=True,
    epilog="""\b
Examples:
  anchorctl presets
  anchorctl presets show ssd300
  anchorctl presets show fasterrcnn-fpn --image-size 1333x800 --format toml > frcnn.toml
""",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="A table for people, or JSON.",
)
@click.pass_context
def presets(ctx: click.Context, fmt: str) -> None:
    """List the presets: name, framework, input size, levels and total anchors."""
    if ctx.invoked_subcommand is not None:
        return
    from anchorctl.presets import describe, load_preset, names

    rows = [describe(load_preset(name)) for name in names()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from anchorctl.tables import console

    table = Table(header_style="bold magenta")
    for column in ("name", "framework", "convention", "input (w x h)", "levels", "total"):
        table.add_column(column, justify="right" if column in ("levels", "total") else "left")
    for row in rows:
        w, h = row["input_size"]
        table.add_row(
            row["name"], row["framework"], row["convention"], f"{w} x {h}", str(row["levels"]),
            f"{row['total']:,}",
        )  # fmt: skip
    console(sys.stdout).print(table)


@presets.command("show")
@click.argument("name")
@click.option(
    "--image-size",
    type=params.IMAGE_SIZE,
    default=None,
    help="Network input WIDTHxHEIGHT. [default: the model's own]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("toml", "json")),
    default="toml",
    show_default=True,
    help="A config file to start from (toml, reads back with --config), or JSON.",
)
def show(name: str, image_size: tuple[int, int] | None, fmt: str) -> None:
    """Print preset NAME as a config: its convention, input size and every level."""
    from anchorctl.configs.toml import dump_config
    from anchorctl.presets import load_preset, names

    if name not in names():
        raise click.BadParameter(
            f"unknown preset {name!r}; choose one of {', '.join(names())}", param_hint="'NAME'"
        )
    preset = load_preset(name, image_size)
    if fmt == "json":
        data: dict[str, Any] = {
            "name": preset.name,
            "framework": preset.framework,
            "convention": preset.config.convention,
            "input_size": list(preset.input_size),
            "total": preset.total,
            "params": _jsonable(preset.config.params),
        }
        click.echo(json.dumps(data, indent=2))
        return
    w, h = preset.input_size
    header = [
        f"anchorctl preset {preset.name}: {preset.framework}, input {w} x {h} px",
        *([preset.description] if preset.description else []),
        *(f"source: {s}" for s in preset.sources),
        f"use it with --config FILE (its feature maps are those of a {w}x{h} input)",
    ]
    click.echo(dump_config(preset.config, header), nl=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
