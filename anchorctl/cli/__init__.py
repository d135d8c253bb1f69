"""The ``anchorctl`` command line: a thin layer of click over the numpy core.

Exit codes: 0 success; 1 a runtime error (an unreadable image, a request too large for
memory); 2 a usage error (a malformed option); 128 + N when signal N stopped the run (130 for
Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), with nothing half-written left behind. Every error is
one line on stderr, never a traceback. A reader that closes the pipe early (``| head``) ends
the command quietly, with status 1 (click's convention for a closed pipe) and nothing on
stderr.

Start-up pays only for the command that runs: each subcommand's module is imported when that
subcommand is chosen (:data:`COMMANDS`), and heavy imports (numpy, Pillow, rich) live inside
the commands that need them, so ``anchorctl --help`` imports none of them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import click

from anchorctl import __version__
from anchorctl.errors import AnchorError

EXIT_RUNTIME = 1
EXIT_USAGE = 2
# click >= 8.2 signals "no arguments, show help" with an exception; older click prints it.
_NO_ARGS_IS_HELP: type[Exception] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {})
)


class Lazy(NamedTuple):
    """A subcommand imported only when it runs: ``"module:attribute"`` and the one-line
    summary ``anchorctl --help`` shows (a test keeps it equal to the command's own)."""

    target: str
    summary: str


# One line per command: adding a command is adding a line here.
COMMANDS: dict[str, Lazy] = {
    "list": Lazy("anchorctl.cli.list_cmd:list_anchors", "Print the anchor shapes of one cell, or with --all every anchor."),  # noqa: E501
    "draw": Lazy("anchorctl.cli.draw_cmd:draw", "Draw anchors onto IMAGE files with Pillow."),
    "explain": Lazy("anchorctl.cli.explain_cmd:explain", "Show how one feature-map cell maps back onto the input image."),  # noqa: E501
    "count": Lazy("anchorctl.cli.count_cmd:count", "Count anchors level by level: rows x cols x per-cell = count, with running totals."),  # noqa: E501
    "presets": Lazy("anchorctl.cli.presets_cmd:presets", "List the presets: name, framework, input size, levels and total anchors."),  # noqa: E501
    "conventions": Lazy("anchorctl.cli.conventions_cmd:conventions", "List the conventions: units, what a ratio means, and the options each one reads."),  # noqa: E501
    "compare": Lazy("anchorctl.cli.compare_cmd:compare", "Compare conventions on the same inputs: per-cell shapes in pixels and their order, the centre of cell (0,0), the stride and the count, side by side."),  # noqa: E501
    "coverage": Lazy("anchorctl.cli.coverage_cmd:coverage", "Check how well the anchors cover the ground-truth boxes of ANNOTATIONS."),  # noqa: E501
    "suggest": Lazy("anchorctl.cli.suggest_cmd:suggest", "Fit anchors to ANNOTATIONS' boxes, per level, in the model's own options."),  # noqa: E501
    "export": Lazy("anchorctl.cli.export_cmd:export_cmd", "Print the anchors (a --preset, a --config or the options) as TARGET's config snippet."),  # noqa: E501
    "report": Lazy("anchorctl.cli.report_cmd:report", "Write an HTML report of how well the anchors cover the boxes of ANNOTATIONS."),  # noqa: E501
    "view": Lazy("anchorctl.cli.view_cmd:view", "Write an HTML page of IMAGE with an interactive anchor overlay."),  # noqa: E501
}  # fmt: skip


class AnchorctlGroup(click.Group):
    """Lazy subcommands, and errors of one line each with the exit codes documented above."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name].target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`' summaries: no subcommand is imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = (
                COMMANDS[name].summary
                if name in COMMANDS
                else self.commands[name].get_short_help_str(limit)
            )
            rows.append((name, _shortened(summary, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> Any:
        from anchorctl import inputs
        from anchorctl.cli import signals, streams

        extra.pop("standalone_mode", None)
        with streams.closed_streams_replaced(), signals.handled() as watch, inputs.watching():
            try:
                result = super().main(args, prog_name, standalone_mode=False, **extra)
                # Deliver buffered output while signals and errors are still handled here.
                sys.stdout.flush()
            except signals.Stopped as stop:
                _quiet_stdout()  # what is left in stdout's buffer is not delivered, nor waited on
                _fail(stop.message, stop.status)
            except _NO_ARGS_IS_HELP as exc:  # a bare `anchorctl`: help on stdout, success
                ctx = getattr(exc, "ctx", None)
                click.echo(ctx.get_help() if ctx is not None else "")
                sys.exit(0)
            except click.UsageError as exc:
                command = exc.ctx.command_path if exc.ctx else "anchorctl"
                _fail(
                    f"{command}: {_one_line(exc.format_message())} (see '{command} --help')",
                    EXIT_USAGE,
                    prefix="",
                )
            except click.exceptions.Abort:  # a KeyboardInterrupt that came before our handler
                _fail("interrupted", 130)
            except click.ClickException as exc:
                _fail(_one_line(exc.format_message()), exc.exit_code)
            except AnchorError as exc:
                _fail(f"error: {_one_line(str(exc))}", EXIT_RUNTIME)
            except MemoryError:
                _fail(
                    "error: out of memory; ask for less (a smaller --feature-map, fewer cells "
                    "or levels) or raise the memory limit",
                    EXIT_RUNTIME,
                )
            except BrokenPipeError:  # the reader left (`| head`): end quietly, as click does
                _quiet_stdout()
                sys.exit(EXIT_RUNTIME)
            except OSError as exc:  # writing stdout failed: a full disk, a closed stream
                _quiet_stdout()
                where = f" {exc.filename!r}" if exc.filename else " output"
                reason = _one_line(exc.strerror or str(exc))
                _fail(f"error: cannot write{where}: {reason}", EXIT_RUNTIME)
            if watch.stopped is not None:  # the signal's exception was lost on the way
                _fail(watch.stopped.message, watch.stopped.status)
            return result


def _shortened(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters, ``...`` marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 3)].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


def _one_line(text: str) -> str:
    """A message on one line: click lists choices one per line, a reader may quote a file."""
    return " ".join(text.split())


def _fail(message: str, status: int, prefix: str = "anchorctl: ") -> None:
    """Print ``message`` as one line on stderr and exit with ``status``."""
    with contextlib.suppress(OSError):  # stderr gone too (a hung-up terminal): status tells
        click.echo(f"{prefix}{message}", err=True)
    sys.exit(status)


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

    Exit status: 0 ok, 1 runtime error (unreadable image, too large), 2 usage error,
    130 interrupted (128 + the signal).
    """


def main() -> None:
    """Console-script entry point."""
    import signal

    from anchorctl.cli.signals import STOPPING

    try:
        cli.main(prog_name="anchorctl")
    finally:
        # The run is over and its files are complete: a late signal during the interpreter's
        # shutdown ends the process the default way rather than with a traceback.
        for signum in STOPPING:
            if signal.getsignal(signum) != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
