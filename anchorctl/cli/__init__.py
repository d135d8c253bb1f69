"""The ``anchorctl`` command line: a thin layer of click over the numpy core.

Exit codes: 0 success; 1 a runtime error (an unreadable image, a request too large for
memory); 2 a usage error (a malformed option). Every error is one line on stderr, never a
traceback. A reader that closes the pipe early (``| head``) ends the command quietly, with
status 1 (click's convention for a closed pipe) and nothing on stderr.

Heavy imports (numpy, Pillow, rich) live inside the commands that need them, so
``anchorctl --help`` imports none of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from anchorctl import __version__
from anchorctl.errors import AnchorError

EXIT_RUNTIME = 1
EXIT_USAGE = 2
# click >= 8.2 signals "no arguments, show help" with an exception; older click prints it.
_NO_ARGS_IS_HELP: type[Exception] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {})
)


class AnchorctlGroup(click.Group):
    """A group whose errors are one line each, with the exit codes documented above."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> Any:
        extra.pop("standalone_mode", None)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # a bare `anchorctl`: help on stdout, success
            ctx = getattr(exc, "ctx", None)
            click.echo(ctx.get_help() if ctx is not None else "")
            sys.exit(0)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "anchorctl"
            click.echo(f"{command}: {exc.format_message()} (see '{command} --help')", err=True)
            sys.exit(EXIT_USAGE)
        except click.exceptions.Abort:
            click.echo("anchorctl: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"anchorctl: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except AnchorError as exc:
            click.echo(f"anchorctl: error: {exc}", err=True)
            sys.exit(EXIT_RUNTIME)
        except OSError as exc:  # writing stdout failed: a full disk, a closed device
            _quiet_stdout()
            where = f" {exc.filename!r}" if exc.filename else " output"
            click.echo(f"anchorctl: error: cannot write{where}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_RUNTIME)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.group(
    cls=AnchorctlGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="anchorctl")
def cli() -> None:
    """Print, draw and explain the anchor boxes of object detectors.

    Numbers are the real frameworks' own: `list` matches MXNet's MultiBoxPrior bit for bit.

    \b
    Examples:
      anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25
      anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 16x16 --all --format csv
      anchorctl draw photo.jpg --sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 4x4 --grid
      anchorctl explain --feature-map 16x16 --input-size 640x480 --cell 3,5 --sizes 0.2

    Exit status: 0 ok, 1 runtime error (unreadable image, too large), 2 usage error.
    """


def _register() -> None:
    from anchorctl.cli.compare_cmd import compare
    from anchorctl.cli.conventions_cmd import conventions
    from anchorctl.cli.count_cmd import count
    from anchorctl.cli.coverage_cmd import coverage
    from anchorctl.cli.draw_cmd import draw
    from anchorctl.cli.explain_cmd import explain
    from anchorctl.cli.export_cmd import export_cmd
    from anchorctl.cli.list_cmd import list_anchors
    from anchorctl.cli.presets_cmd import presets
    from anchorctl.cli.suggest_cmd import suggest

    cli.add_command(list_anchors)
    cli.add_command(draw)
    cli.add_command(explain)
    cli.add_command(count)
    cli.add_command(presets)
    cli.add_command(conventions)
    cli.add_command(compare)
    cli.add_command(coverage)
    cli.add_command(suggest)
    cli.add_command(export_cmd)
    from anchorctl.cli.report_cmd import report
    from anchorctl.cli.view_cmd import view

    cli.add_command(report)
    cli.add_command(view)


_register()


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="anchorctl")
