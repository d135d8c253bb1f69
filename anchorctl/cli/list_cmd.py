"""``anchorctl list``: the per-cell shapes, or every anchor, as a table or data for scripts."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import click

from anchorctl.cli.options import (
    OUTPUT,
    ConventionCommand,
    anchor_options,
    format_option,
    input_size_options,
    option,
    record,
)
from anchorctl.cli.source import AnchorOptions, Source, resolve, source_options
from anchorctl.cli.streams import stdout_file
from anchorctl.params import FilePath

if TYPE_CHECKING:
    from pathlib import Path

    from anchorctl.conventions.base import Level
    from anchorctl.output import View

FORMATS = ("table", "csv", "tsv", "json", "jsonl", "npy")
BOX_FORMATS = ("xyxy", "yxyx", "cxcywh", "native")
TABLE_ROWS = 1000  # an --all table off a terminal: rich builds it in memory, ~1 ms a row
_TEXT_BYTES_PER_ANCHOR = 48  # a CSV row of seven short numbers; JSON and pixels take more


def level_option(func: Any) -> Any:
    """``--level N``: one level of a multi-level source."""
    return option(
        "--level",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="Only level N (0 = the finest feature map listed first).",
    )(func)


@dataclass(frozen=True)
class ListOptions:
    """``list``'s own options."""

    level: int | None = None
    all_anchors: bool = False
    fmt: str = "table"
    as_json: bool = False
    box_format: str = "xyxy"
    output: Path | None = None
    max_rows: int | None = None

    @property
    def format(self) -> str:
        """``--format``, with ``--json`` as its shortcut."""
        if not self.as_json:
            return self.fmt
        if self.fmt not in ("table", "json"):
            raise click.UsageError("--json is a shortcut for --format json; give one of them")
        return "json"


@click.command(
    "list",
    cls=ConventionCommand,
    section=OUTPUT,
    epilog="""\b
Examples:
  anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25 --input-size 640x480 --json
  anchorctl list --sizes 0.2 --feature-map 16x16 --all --format csv | head
  anchorctl list --sizes 0.1,0.141 --ratios 1,2,0.5 --feature-map 38x38 \\
      --all --format npy -o a.npy
  anchorctl list --preset ssd300
  anchorctl list --convention torchvision --sizes 32 --ratios 0.5,1,2 \\
      --feature-map 2x2 --input-size 64x64
""",
)
@source_options
@anchor_options
@input_size_options()
@level_option
@option("--all", "all_anchors", is_flag=True, help="List every anchor, not the shapes.")
@format_option(FORMATS, "npy writes the (N, 4) float32 array of every anchor.")
@option("--json", "as_json", is_flag=True, help="Shortcut for --format json.")
@option(
    "--box-format",
    type=click.Choice(BOX_FORMATS),
    default="xyxy",
    show_default=True,
    metavar="FORMAT",
    help="Coordinates in this order; native is the convention's own form.",
)
@option(
    "-o",
    "--output",
    type=FilePath(dir_okay=False),  # a pathlib.Path
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Rows of an --all table to show (0 = all). [default: a screenful; 1000 off a terminal]",
)
@click.pass_context
def list_anchors(ctx: click.Context, /, **values: Any) -> None:
    """Print the anchor shapes of one cell, or with --all every anchor.

    The title states the convention, the feature map (rows x cols), the input size (w x h),
    what a ratio means and the units; normalized anchors get *_px columns when the input
    size is known. Each level of a preset gets its own table.
    """
    run_list(AnchorOptions.from_context(ctx), record(ListOptions, values))


def run_list(request: AnchorOptions, opts: ListOptions) -> None:
    """``list`` with its options read."""
    fmt = opts.format
    source = resolve(request)
    view = make_view(source, opts.level, opts.box_format)
    output = opts.output
    # A file on disk, -o or stdout redirected to one (`> big.json`), must have room for it.
    destination = output if output is not None else stdout_file()
    if destination is not None and (opts.all_anchors or fmt == "npy"):
        from anchorctl.memory import check_disk

        per_anchor = 16 if fmt == "npy" else _TEXT_BYTES_PER_ANCHOR
        check_disk(
            destination,
            view.total * per_anchor,
            f"{view.total:,} anchors as {fmt}",
            ("" if fmt == "npy" else "use --format npy (the most compact), or ")
            + "write to a disk with more room, or use a smaller --feature-map",
        )
    if fmt == "npy":
        _write_npy(view, output)
        return
    with _text_destination(output) as out:
        if fmt == "table":
            _print_table(
                out,
                view,
                opts.all_anchors,
                opts.max_rows,
                to_file=output is not None,
                all_levels=source.levels,
            )
            return
        from anchorctl import output as writers

        if opts.all_anchors:
            writers.write_anchors(fmt, out, view)
        else:
            writers.write_shapes(fmt, out, view)


def make_view(source: Source, level: int | None, box_format: str) -> View:
    """The levels to show (all, or ``--level N``) in the requested box format."""
    from anchorctl import conventions
    from anchorctl.output import View

    firsts = []
    first = 0
    for lv in source.levels:
        firsts.append(first)
        first += lv.count
    indices = list(range(len(source.levels)))
    if level is not None:
        if level >= len(source.levels):
            raise click.BadParameter(
                f"level {level} does not exist; this source has levels 0..{len(indices) - 1}",
                param_hint="'--level'",
            )
        indices = [level]
    fmt = source.rules.native_format if box_format == "native" else box_format
    levels = [source.levels[i] for i in indices]
    native = getattr(conventions.load(source.convention), "native_levels", None)
    native_levels = native(source.params) if box_format == "native" and native else None
    preformatted = native_levels is not None
    if native_levels is not None:
        # The framework's own numbers in its own form, not a conversion of the corners,
        # streamed in blocks like the corners.
        if native_levels[0].columns == 5:
            fmt = "cxcywha"
        levels = [native_levels[i] for i in indices]
    return View(
        rules=source.rules,
        levels=levels,
        indices=indices,
        first=[firsts[i] for i in indices],
        image_size=source.image_size,
        box_format=fmt,
        several=len(source.levels) > 1,
        preformatted=preformatted,
        origin=source.origin,
    )


def _print_table(
    out: IO[str],
    view: View,
    all_anchors: bool,
    max_rows: int | None,
    to_file: bool,
    all_levels: Sequence[Level] = (),
) -> None:
    from anchorctl import tables

    if not all_anchors:
        tables.print_shapes(out, view, all_levels if len(view.levels) > 1 else ())
        return
    if max_rows is None:
        import shutil  # with its compression modules, only for a table on a terminal

        on_screen = not to_file and out.isatty()
        max_rows = max(10, shutil.get_terminal_size().lines - 8) if on_screen else TABLE_ROWS
    left_out = tables.print_anchors(out, view, max_rows)
    if left_out:
        # Part of the table, so a capped table in a file says so too.
        out.write(
            f"... {left_out:,} more anchors not shown; --max-rows 0 shows them all "
            "(rich takes about 1 ms a row), --format csv (or jsonl, npy) gives them to "
            "scripts\n"
        )


@contextlib.contextmanager
def _text_destination(output: Path | None) -> Iterator[IO[str]]:
    """stdout, or a file written atomically (complete or not at all)."""
    if output is None:
        yield sys.stdout
        return
    from anchorctl.atomic import atomic_write

    with _writing(output), atomic_write(output) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        try:
            yield text
            text.flush()
        finally:
            text.detach()


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failure to write ``path`` into one line naming it."""
    from anchorctl.errors import AnchorError

    try:
        yield
    except OSError as exc:
        raise AnchorError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def _write_npy(view: View, output: Path | None) -> None:
    from anchorctl.output import write_npy

    if output is not None:
        from anchorctl.atomic import atomic_write

        with _writing(output), atomic_write(output) as handle:
            write_npy(handle, view)
        return
    if sys.stdout.isatty():
        raise click.UsageError(
            "refusing to write binary .npy data to a terminal; add -o FILE or pipe it"
        )
    write_npy(sys.stdout.buffer, view)
    sys.stdout.buffer.flush()
