"""The help of the anchor commands, short enough to read.

Options are listed in sections (where the anchors come from, the anchor options, the
command's own); the anchor options are those of the chosen convention, in its own words
(``anchorctl list --convention torchvision --help``; MultiBoxPrior's, the default, otherwise),
and every convention gets one line saying what it is, so each option any convention reads is
one ``--help`` away. Imported only when a help page is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from anchorctl.cli.options import ANCHORS, DATA, SOURCE, flag, metavar

if TYPE_CHECKING:
    from anchorctl.cli.options import ConventionCommand
    from anchorctl.conventions.base import Option, Rules

_ORDER = (SOURCE, DATA, ANCHORS)


def format_options(
    command: ConventionCommand, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """The options of ``command`` in sections, then the conventions, one line each."""
    from anchorctl import conventions

    takes_one = any(p.name == "convention" for p in command.params)
    chosen: list[str] = ctx.meta.get("anchorctl.conventions", [])
    for name in chosen:
        if name not in conventions.MODULES:
            raise click.BadParameter(
                f"unknown convention {name!r}; choose one of {', '.join(conventions.MODULES)}",
                param_hint="'--convention'" if takes_one else "'--conventions'",
            )
    if takes_one:
        chosen = chosen[-1:] or [conventions.DEFAULT]
    sections: dict[str, list[tuple[str, str]]] = {name: [] for name in _ORDER}
    help_option = command.get_help_option(ctx)
    extra = {id(p) for p in command.extra_params(ctx)}
    for param in command.get_params(ctx):
        if param is help_option or id(param) in extra or not isinstance(param, click.Option):
            continue
        row = param.get_help_record(ctx)
        if row is not None:
            sections.setdefault(getattr(param, "section", None) or command.section, []).append(row)
    if help_option is not None:
        row = help_option.get_help_record(ctx)
        if row is not None:
            sections.setdefault(command.section, []).append(row)
    for title, rows in sections.items():
        if title == ANCHORS:
            _anchor_sections(rows, chosen, formatter)
        elif rows:
            with formatter.section(title):
                formatter.write_dl(rows)
    _convention_lines(ctx, takes_one, formatter)


def _anchor_sections(
    rows: list[tuple[str, str]], chosen: list[str], formatter: click.HelpFormatter
) -> None:
    from anchorctl import conventions

    if not chosen:  # compare without --conventions: every option, by name
        with formatter.section(ANCHORS):
            formatter.write_dl(rows)
            every = " ".join(flag(n) for n in sorted(_all_options()))
            formatter.write_paragraph()
            formatter.write_text(f"Each convention reads some of: {every}.")
        return
    for position, name in enumerate(chosen):
        module = conventions.load(name)
        title = f"{ANCHORS}: {name} ({_short_title(module.RULES)})"
        with formatter.section(title):
            own = [option_row(opt) for opt in module.OPTIONS]
            formatter.write_dl((rows if position == 0 else []) + own)


def option_row(opt: Option) -> tuple[str, str]:
    """``(--name METAVAR, help)`` for one convention option, in the convention's words."""
    from anchorctl.cli.options import default_text

    if opt.kind == "flag":
        name = f"{flag(opt.name)} / --no-{flag(opt.name)[2:]}"
    else:
        name = f"{flag(opt.name)} {metavar(opt)}"
    text = opt.help
    if opt.per_level:
        text += "; repeat per level"
    if opt.default is not None and "default" not in text:
        text += f" [default: {default_text(opt.default)}]"
    return name, text


def _all_options() -> list[str]:
    from anchorctl.cli.options import convention_options

    return list(convention_options())


def _short_title(rules: Rules) -> str:
    return rules.title.split(" (")[0]


def short_ratio(rules: Rules) -> str:
    """``w/h``, ``h/w`` or ``none``: what a ratio means, in three characters."""
    ratio = rules.ratio_meaning.split(" (")[0].split(",")[0]
    return ratio.replace("width / height", "w/h").replace("height / width", "h/w")


def _convention_lines(ctx: click.Context, takes_one: bool, formatter: click.HelpFormatter) -> None:
    from anchorctl import conventions

    rows = []
    for name in conventions.MODULES:
        rules = conventions.load(name).RULES
        units = "normalized" if rules.normalized else "px"
        ratio = short_ratio(rules)
        shape = "w x h pairs" if ratio == "none" else f"ratio {ratio}"
        rows.append((name, f"{_short_title(rules)} ({shape}, {units})"))
    option_name = "--convention NAME" if takes_one else "--conventions A,B"
    with formatter.section("Conventions"):
        formatter.write_text(f"`{ctx.command_path} {option_name} --help` lists their options.")
        formatter.write_dl(rows)
