"""``anchorctl list``: the per-cell shapes, or every anchor, as a table or data for scripts."""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from anchorctl.cli.options import (
    ANCHOR_HELP,
    anchor_options,
    build_spec,
    image_size_options,
    resolve_image_size,
)

if TYPE_CHECKING:
    from anchorctl.conventions.mxnet import MultiBoxPriorSpec

FORMATS = ("table", "csv", "tsv", "json", "jsonl", "npy")
_TEXT_BYTES_PER_ANCHOR = 48  # a CSV row of seven short numbers; JSON and pixels take more


@click.command(
    "list",
    epilog="""\b
Examples:
  anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25
  anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25 --image-size 640x480 --json
  anchorctl list --sizes 0.2 --feature-map 16x16 --all --format csv | head
  anchorctl list --sizes 0.1,0.141 --ratios 1,2,0.5 --feature-map 38x38 --all --format npy -o a.npy

"""
    + ANCHOR_HELP,
)
@anchor_options
@image_size_options
@click.option("--all", "all_anchors", is_flag=True, help="List every anchor, not the shapes.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format; npy writes the (N, 4) float32 array of every anchor.",
)
@click.option("--json", "as_json", is_flag=True, help="Shortcut for --format json.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=None,
    help="Rows of an --all table to show (0 = all). [default: one screen]",
)
def list_anchors(
    sizes: tuple[float, ...],
    ratios: tuple[float, ...],
    feature_map: tuple[int, int],
    steps: tuple[float, float] | None,
    offsets: tuple[float, float],
    clip: bool,
    image_size: tuple[int, int] | None,
    image_file: Path | None,
    all_anchors: bool,
    fmt: str,
    as_json: bool,
    output: Path | None,
    max_rows: int | None,
) -> None:
    """Print the anchor shapes of one cell, or with --all every anchor.

    The table's title states the convention, the feature map (rows x cols), the image size
    (w x h) and that ratio = width / height. Sizes, widths and heights are normalized;
    *_px columns appear when an image size is known.
    """
    if as_json:
        if fmt not in ("table", "json"):
            raise click.UsageError("--json is a shortcut for --format json; give one of them")
        fmt = "json"
    spec = build_spec(sizes, ratios, feature_map, steps, offsets, clip)
    size = resolve_image_size(image_size, image_file)
    if output is not None and (all_anchors or fmt == "npy"):
        from anchorctl.memory import check_disk

        per_anchor = 16 if fmt == "npy" else _TEXT_BYTES_PER_ANCHOR
        check_disk(
            output,
            spec.num_anchors * per_anchor,
            f"{spec.num_anchors:,} anchors as {fmt}",
            "use --format npy (the most compact), or a smaller --feature-map",
        )
    if fmt == "npy":
        _write_npy(spec, output)
        return
    with _text_destination(output) as out:
        if fmt == "table":
            _print_table(out, spec, size, all_anchors, max_rows, to_file=output is not None)
            return
        from anchorctl import output as writers

        if all_anchors:
            writers.write_anchors(fmt, out, spec, size)
        else:
            writers.write_shapes(fmt, out, spec, size)


def _print_table(
    out: IO[str],
    spec: MultiBoxPriorSpec,
    size: tuple[int, int] | None,
    all_anchors: bool,
    max_rows: int | None,
    to_file: bool,
) -> None:
    from anchorctl import tables

    if not all_anchors:
        tables.print_shapes(out, spec, size)
        return
    if max_rows is None:
        max_rows = 0 if to_file else max(10, shutil.get_terminal_size().lines - 8)
    left_out = tables.print_anchors(out, spec, size, max_rows)
    if left_out:
        click.echo(
            f"... {left_out:,} more anchors not shown; --max-rows 0 shows them all, "
            "--format csv (or jsonl, npy) gives them to scripts",
            err=True,
        )


@contextlib.contextmanager
def _text_destination(output: Path | None) -> Iterator[IO[str]]:
    """stdout, or a file written atomically (complete or not at all)."""
    if output is None:
        yield sys.stdout
        return
    from anchorctl.atomic import atomic_write

    with atomic_write(output) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        try:
            yield text
            text.flush()
        finally:
            text.detach()


def _write_npy(spec: MultiBoxPriorSpec, output: Path | None) -> None:
    from anchorctl.output import write_npy

    if output is not None:
        from anchorctl.atomic import atomic_write

        with atomic_write(output) as handle:
            write_npy(handle, spec)
        return
    if sys.stdout.isatty():
        raise click.UsageError(
            "refusing to write binary .npy data to a terminal; add -o FILE or pipe it"
        )
    write_npy(sys.stdout.buffer, spec)
    sys.stdout.buffer.flush()
