"""What the tests share: the project's folders, the reference vectors, an in-process CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from anchorctl.cli import cli

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors"
SAMPLES = ROOT / "sample_images"


def load_vector(relative: str) -> dict[str, Any]:
    with open(VECTORS / relative, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def commands() -> dict[str, click.Command]:
    """Every ``anchorctl`` subcommand by name, imported: the group loads them only when asked
    (``cli.commands`` holds just those a run has used so far)."""
    ctx = click.Context(cli)
    loaded = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    return {name: command for name, command in loaded.items() if command is not None}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke the CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, list(args), env=env, prog_name="anchorctl")
