"""``anchorctl compare``: the same inputs under several conventions, side by side."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from anchorctl.cli.options import (
    OUTPUT,
    SOURCE,
    ConventionCommand,
    anchor_options,
    flag,
    format_option,
    input_size_options,
    names_list,
    option,
    parse_typed,
    record,
)
from anchorctl.cli.source import AnchorOptions

if TYPE_CHECKING:
    from rich.console import Console

    from anchorctl.compare import Compared, Comparison, Measured, PixelLevel
    from anchorctl.conventions.base import Option


@dataclass(frozen=True)
class CompareOptions:
    """``compare``'s own options."""

    names: str | None = None
    fmt: str = "table"


@click.command(
    "compare",
    cls=ConventionCommand,
    section=OUTPUT,
    epilog="""\b
Examples:
  anchorctl compare --sizes 32,64 --ratios 0.5,1,2 --feature-map 4x4 \\
      --input-size 64x64
  anchorctl compare --conventions torchvision,keras-retinanet --sizes 32 \\
      --ratios 0.5,1,2 --feature-map 4x4 --input-size 64x64
  anchorctl compare --conventions tf-grid,keras-retinanet --ratios 0.5,1,2 \\
      --scales 1 --feature-map 4x4 --input-size 256x256
  anchorctl compare --sizes 0.2,0.5 --ratios 1,2,0.5 --feature-map 8x8 \\
      --input-size 300x300 --format json

\b
JSON: {"image_size": [W, H], "reference", "conventions": [{"name",
"title", "ratio_meaning", "count", "per_cell", "center0_px": [x, y],
"stride_px": [x, y], "shapes": [{"slot", "params", "width_px",
"height_px", "reference_slot"}], "clipped", "levels": [...],
"differences": [{"kind", "explanation"}]}], "skipped": [{"name",
"reason"}]}. per_cell, center0_px, stride_px and shapes describe the
first feature map; "levels" holds every one. Difference kinds: units,
per_cell, count, levels, order, mirrored_order, transposed, rounding,
clip, shapes, stride, centre.""",
)
@option(
    "--conventions",
    "names",
    default=None,
    metavar="A,B,...",
    section=SOURCE,
    help="Conventions to compare, the first being the reference. [default: every one that "
    "reads all the options given and can generate with them, where the size units agree]",
)
@anchor_options
@input_size_options()
@format_option(("table", "json"), "A block per convention for people, or JSON (keys below).")
@click.pass_context
def compare(ctx: click.Context, /, **values: Any) -> None:
    """Compare conventions on the same inputs: per-cell shapes in pixels and their order, the
    centre of cell (0,0), the stride and the count, side by side.

    Every convention is measured in pixels of --input-size (normalized ones are multiplied by
    it) and compared with the first (the reference). Each difference is found from the numbers
    and explained in one line from the conventions' own rules: w/h vs h/w ratios (the same
    shapes in mirrored order), cell corner vs cell centre, rounding, clipping, per-cell order
    and count, and a number read in different units (a fraction of the image vs pixels).

    Without --conventions every convention that reads all the options given, and can generate
    with them, is compared; the others are listed as skipped, with the reason. Where a typed
    number means a fraction of the image for some and pixels for others, only the readers of
    the plausible unit are kept (values above 1: pixels); name conventions to compare anyway.
    """
    run_compare(AnchorOptions.from_context(ctx), record(CompareOptions, values))


def run_compare(request: AnchorOptions, opts: CompareOptions) -> None:
    """``compare`` with its options read."""
    from anchorctl import compare as core
    from anchorctl.errors import AnchorError

    image_size = request.network_input()
    if image_size is None:
        raise click.UsageError(
            "--input-size WxH (or --image FILE) is required: the conventions are compared in "
            "pixels of that input"
        )
    typed = dict(request.typed)
    feature_maps = list(request.feature_map) or [(1, 1)]
    explicit = (
        None
        if opts.names is None
        else names_list(opts.names, _all_names(), "conventions", "'--conventions'")
    )
    candidates, skipped = _readers(explicit, typed)
    shown = _shown_values(candidates, typed)
    if explicit is None:
        options = {name: opts_ for name, (opts_, _) in candidates.items()}
        for name, reason in core.unit_skips(options, shown).items():
            del candidates[name]
            skipped[name] = reason
    measured: list[Measured] = []
    for name, (_, params) in candidates.items():
        try:
            measured.append(core.run(name, {**params, "feature_maps": feature_maps}, image_size))
        except AnchorError as exc:
            if explicit is not None:
                raise click.UsageError(f"{name}: {exc}") from None
            skipped[name] = str(exc)
    if not measured:
        raise click.UsageError(f"no convention can compare these options ({_summary(skipped)})")
    order = list(explicit or _all_names())
    skipped_list = [core.Skipped(n, skipped[n]) for n in order if n in skipped]
    comparison = core.compare(measured, image_size, shown, skipped_list)
    if opts.fmt == "json":
        click.echo(json.dumps(core.to_json(comparison), indent=2))
    else:
        _print(comparison, shown)


# The shared anchor options bring --convention (one convention); compare takes --conventions.
compare.params = [p for p in compare.params if p.name != "convention"]


def _all_names() -> list[str]:
    from anchorctl import conventions

    return list(conventions.MODULES)


def _readers(
    explicit: list[str] | None, typed: Mapping[str, Any]
) -> tuple[dict[str, tuple[dict[str, Option], dict[str, Any]]], dict[str, str]]:
    """Conventions that read every typed option, with their options and parsed values; and
    the others with the reason (an error instead when they were named)."""
    from anchorctl import conventions

    candidates: dict[str, tuple[dict[str, Option], dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    for name in explicit or _all_names():
        options = {o.name: o for o in conventions.load(name).OPTIONS}
        unread = [n for n in typed if n not in options]
        if unread:
            flags = ", ".join(flag(n) for n in unread)
            if explicit is not None:
                reads = ", ".join(flag(n) for n in options) or "no options"
                raise click.UsageError(f"{name}: does not read {flags} (it reads {reads})")
            skipped[name] = f"does not read {flags}"
            continue
        try:
            params = {k: parse_typed(options[k], v, name) for k, v in typed.items()}
        except click.BadParameter as exc:
            if explicit is not None:
                hint = exc.param_hint
                raise click.BadParameter(f"{name}: {exc.message}", param_hint=hint) from None
            hint = str(exc.param_hint or "").strip("'")
            skipped[name] = f"{hint}: {exc.message}"
            continue
        candidates[name] = (options, params)
    return candidates, skipped


def _shown_values(
    candidates: Mapping[str, tuple[Mapping[str, Option], Mapping[str, Any]]],
    typed: Mapping[str, Any],
) -> dict[str, Any]:
    """Each typed option's value as the first convention that reads it parsed it."""
    shown: dict[str, Any] = {}
    for name, value in typed.items():
        shown[name] = next(
            (params[name] for _, params in candidates.values() if name in params), value
        )
    return shown


def _summary(skipped: Mapping[str, str]) -> str:
    """Skip reasons, conventions sharing one reason grouped: ``'a, b: does not read --x'``."""
    groups: dict[str, list[str]] = {}
    for name, reason in skipped.items():
        groups.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in groups.items())


# --- the table -------------------------------------------------------------------------------

_DIFF = "bold yellow"


def _print(comparison: Comparison, shown: Mapping[str, Any]) -> None:
    from rich.text import Text

    from anchorctl.compare import fmt_value
    from anchorctl.tables import console

    con = console(sys.stdout)
    width, height = comparison.image_size
    entries = comparison.entries
    ref = entries[0].measured
    maps = ", ".join(f"{r} x {c}" for r, c in (lv.feature_map for lv in ref.levels))
    inputs = " ".join(_typed_text(n, v, fmt_value) for n, v in shown.items())
    con.print(
        Text(
            f"{len(entries)} convention(s) · image {width} x {height} px (w x h) · feature map "
            f"{maps} (rows x cols) · {inputs or 'no options: each convention its defaults'} · "
            f"reference: {ref.name}",
            style="bold cyan",
        ),
        soft_wrap=True,
    )
    if len(entries) == 1:
        con.print(
            Text(f"only {ref.name} can generate with these options: nothing to compare it with"),
            soft_wrap=True,
        )
    for position, entry in enumerate(entries):
        con.print()
        _print_entry(con, entry, entries[0], position == 0)
    if comparison.skipped:
        con.print()
        con.print(Text("skipped:", style="bold"), soft_wrap=True)
        for skip in comparison.skipped:
            con.print(Text(f"  {skip.name}: {skip.reason}"), soft_wrap=True)


def _typed_text(name: str, value: Any, fmt_value: Any) -> str:
    if isinstance(value, bool):
        return flag(name) if value else f"--no-{flag(name)[2:]}"
    return f"{flag(name)} {fmt_value(value)}"


def _print_entry(con: Console, entry: Compared, reference: Compared, is_ref: bool) -> None:
    from rich.text import Text

    m = entry.measured
    r = reference.measured
    title = f"{m.name} · {m.rules.title} · ratio = {m.rules.ratio_meaning}"
    con.print(Text(title + (" · reference" if is_ref else ""), style="bold"), soft_wrap=True)
    several = len(m.levels) > 1
    for index, level in enumerate(m.levels):
        ref_level = r.levels[index] if index < len(r.levels) else None
        match = entry.matches[index]
        con.print(_summary_line(level, ref_level, index if several else None), soft_wrap=True)
        con.print(_shape_table(level, ref_level, match, is_ref))
    if several:
        line = Text(f"total {m.count:,} anchors")
        if m.count != r.count:
            line.stylize(_DIFF)
        con.print(line, soft_wrap=True)
    if is_ref:
        return
    if not entry.differences:
        con.print(Text(f"= the same as {r.name}", style="green"), soft_wrap=True)
    for diff in entry.differences:
        con.print(Text(f"≠ {diff.explanation}", style=_DIFF), soft_wrap=True)


def _summary_line(level: PixelLevel, ref: PixelLevel | None, index: int | None) -> Any:
    from rich.text import Text

    from anchorctl.compare import close, fmt_pair

    def differs(a: tuple[float, float], b: tuple[float, float] | None) -> bool:
        return b is not None and not (close(a[0], b[0]) and close(a[1], b[1]))

    rows, cols = level.feature_map
    line = Text(f"level {index}: " if index is not None else "")
    parts: list[tuple[str, bool]] = [
        (
            f"{rows} x {cols} cells x {level.per_cell} per cell = {level.count:,} anchors",
            ref is not None and (level.count != ref.count or level.per_cell != ref.per_cell),
        ),
        (f"stride {fmt_pair(level.stride)} px", differs(level.stride, ref.stride if ref else None)),
        (
            f"cell (0,0) centred at ({fmt_pair(level.center0, ', ')}) px",
            differs(level.center0, ref.center0 if ref else None),
        ),
    ]
    if level.clipped or (ref is not None and ref.clipped):
        changed = ref is not None and level.clipped != ref.clipped
        parts.append((f"{level.clipped:,} clamped at the image border", changed))
    for position, (text, changed) in enumerate(parts):
        if position:
            line.append(" · ")
        line.append(text, style=_DIFF if changed else "")
    return line


def _shape_table(
    level: PixelLevel, ref: PixelLevel | None, match: Sequence[int | None], is_ref: bool
) -> Any:
    from rich.text import Text

    from anchorctl.compare import close
    from anchorctl.tables import new_table

    columns = ("slot", "params", "w x h px") + (() if is_ref else ("reference\nslot",))
    table = new_table(*columns, left=("params",))
    for shape in level.shapes:
        other = ref.shapes[shape.slot] if ref is not None and shape.slot < ref.per_cell else None
        same = other is not None and (
            close(shape.width, other.width) and close(shape.height, other.height)
        )
        cells = [
            Text(str(shape.slot)),
            Text(shape.label()),
            Text(shape.text(), style="" if is_ref or same else _DIFF),
        ]
        if not is_ref:
            j = match[shape.slot] if shape.slot < len(match) else None
            cells.append(Text("-" if j is None else str(j), style="" if j == shape.slot else _DIFF))
        table.add_row(*cells)
    return table
