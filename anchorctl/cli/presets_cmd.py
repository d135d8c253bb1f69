"""``anchorctl presets``: the named detector configurations, and each as a config file."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from anchorctl.cli.options import format_option, input_size_options, merge_legacy


@click.group(
    "presets",
    invoke_without_command=True,
    epilog="""\b
Examples:
  anchorctl presets
  anchorctl presets show ssd300
  anchorctl presets show fasterrcnn-fpn --input-size 1333x800 > frcnn.toml
""",
)
@format_option(("table", "json"), "A table for people, or JSON.")
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
    from anchorctl.tables import console, new_table

    # The framework wraps (with the convention under it); names and numbers never do.
    table = new_table(
        "name", "framework (convention)", "input\nWxH", "maps", "total",
        left=("name", "framework (convention)"), keep=("name",),
    )  # fmt: skip
    for row in rows:
        w, h = row["input_size"]
        table.add_row(
            row["name"], f"{row['framework']}\n({row['convention']})", f"{w}x{h}",
            str(row["levels"]), f"{row['total']:,}",
        )  # fmt: skip
    console(sys.stdout).print(table)


@presets.command("show")
@click.argument("name")
@input_size_options(image_file=False, default_help="the model's own")
@format_option(
    ("toml", "json"), "A config file to start from (toml, reads back with --config), or JSON."
)
def show(name: str, fmt: str, **sizes: tuple[int, int] | None) -> None:
    """Print preset NAME as a config: its convention, input size and every level."""
    image_size = merge_legacy(sizes).get("input_size")
    from anchorctl.configs.toml import dump_config
    from anchorctl.presets import load_preset, names

    if name not in names():
        raise click.BadParameter(
            f"unknown preset {name!r}; choose one of {', '.join(names())}", param_hint="'NAME'"
        )
    from anchorctl.errors import AnchorError

    try:
        preset = load_preset(name, image_size)
    except AnchorError as exc:  # a size the model cannot take: the option is wrong
        raise click.BadParameter(str(exc), param_hint="'--input-size'") from None
    if fmt == "json":
        data: dict[str, Any] = {
            "name": preset.name,
            "framework": preset.framework,
            "convention": preset.config.convention,
            "input_size": list(preset.input_size),
            "total": preset.total,
            "resize": preset.resize,
            "shorter_side": list(preset.shorter_side) if preset.shorter_side else None,
            "params": _jsonable(preset.config.params),
        }
        click.echo(json.dumps(data, indent=2))
        return
    w, h = preset.input_size
    header = [
        f"anchorctl preset {preset.name}: {preset.framework}, input {w} x {h} px",
        *([preset.description] if preset.description else []),
        *(f"source: {s}" for s in preset.sources),
        f"training resizes images by {preset.resize}"
        + (f" {preset.shorter_side[0]},{preset.shorter_side[1]}" if preset.shorter_side else "")
        + " (coverage and suggest do the same unless --resize says otherwise)",
        f"use it with --config FILE (its feature maps are those of a {w}x{h} input)",
    ]
    click.echo(dump_config(preset.config, header), nl=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
