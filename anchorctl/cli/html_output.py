"""``-o FILE``: the HTML page `report` and `view` write, declared once.

The page is written whole or not at all (:func:`anchorctl.atomic.atomic_write`), and never
over one of the run's inputs: :func:`anchorctl.cli.streams.check_output` refuses such a
target before any work, as it does for `draw`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from anchorctl.cli.options import option
from anchorctl.errors import AnchorError

F = TypeVar("F", bound=Callable[..., Any])


def html_output_option(func: F) -> F:
    """``-o/--output FILE``, required: where the page goes."""
    return option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="HTML file to write, whole or not at all.",
    )(func)


def write_html(output: Path, html: str) -> None:
    """Write the page atomically; say where it went when a person is watching stderr."""
    from anchorctl.atomic import atomic_write

    data = html.encode("utf-8")
    try:
        with atomic_write(output) as handle:
            handle.write(data)
    except OSError as exc:
        raise AnchorError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    if sys.stderr.isatty():
        click.echo(f"anchorctl: wrote {output} ({len(data) / 1024:,.0f} KiB)", err=True)
