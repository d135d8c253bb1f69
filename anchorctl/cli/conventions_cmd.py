"""``anchorctl conventions``: every convention's rules and the options it reads."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from anchorctl.cli.options import format_option


@click.group(
    "conventions",
    invoke_without_command=True,
    epilog="""\b
Examples:
  anchorctl conventions
  anchorctl conventions show torchvision
  anchorctl conventions --format json \\
      | jq '.[] | select(.ratio_meaning == "height / width") | .name'
""",
)
@format_option(("table", "json"), "A table for people, or JSON.")
@click.pass_context
def conventions(ctx: click.Context, fmt: str) -> None:
    """List the conventions: units, what a ratio means, and the options each one reads."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [_describe(name) for name in _names()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from anchorctl.tables import console, print_table_or_blocks

    columns = ("name", "framework", "units", "ratio", "reads")
    table_rows = [
        (
            row["name"],
            row["title"],
            row["units"],
            row["ratio_meaning"],
            " ".join("--" + o["name"].replace("_", "-") for o in row["options"]),
        )
        for row in rows
    ]
    print_table_or_blocks(
        console(sys.stdout), columns, table_rows, left=columns, keep=("name",), show_lines=True
    )


@conventions.command("show")
@click.argument("name")
@format_option(("text", "json"), "The rules as text, or JSON.")
def show(name: str, fmt: str) -> None:
    """Print convention NAME's rules, sources and options (with defaults)."""
    if name not in _names():
        raise click.BadParameter(
            f"unknown convention {name!r}; choose one of {', '.join(_names())}",
            param_hint="'NAME'",
        )
    row = _describe(name)
    if fmt == "json":
        click.echo(json.dumps(row, indent=2))
        return
    lines = [
        f"{row['name']}: {row['title']}",
        f"  units:          {row['units']}",
        f"  size means:     {row['size_meaning']}",
        f"  ratio means:    {row['ratio_meaning']}",
        f"  per-cell order: {row['order']}",
        f"  centres:        {row['centre']}",
        f"  rounding:       {row['rounding']}",
        f"  clip:           {row['clip']}",
        f"  native boxes:   {row['native_format']}",
    ]
    if row["exactness"]:
        lines.append(f"  bit-exact:      {row['exactness']}")
    lines.append("  options:")
    from anchorctl import conventions as registry
    from anchorctl.cli.helptext import option_row

    for option in registry.load(name).OPTIONS:
        flag, text = option_row(option)
        lines.append(f"    {flag}: {text}")
    lines.append("  sources:")
    lines += [f"    {source}" for source in row["sources"]]
    click.echo("\n".join(lines))


def _names() -> list[str]:
    from anchorctl import conventions as registry

    return list(registry.MODULES)


def _describe(name: str) -> dict[str, Any]:
    from anchorctl import conventions as registry

    module = registry.load(name)
    rules = asdict(module.RULES)
    rules["sources"] = list(rules["sources"])
    rules["options"] = [
        {
            "name": o.name,
            "kind": o.kind,
            "per_level": o.per_level,
            "help": o.help,
            "default": _plain(o.default),
        }
        for o in module.OPTIONS
    ]
    return rules


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
