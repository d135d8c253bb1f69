"""Options shared by the commands, declared once so every command spells them the same way.

One word, one meaning (the README's option-names table):

* ``--input-size WxH``: the network input the anchors are laid on (``N`` for ``NxN``);
  ``--image FILE`` takes it from an image's header;
* ``--iou T``: the IoU at which a box counts as covered, one number;
* ``--anchor-t T``: YOLO's ratio threshold (coverage's BPR, suggest's ``bpr`` objective);
* ``--annotations-format``: the format of an annotations file or folder;
* ``--jobs N``: worker processes, with the same results for any N;
* ``--format``: the output format, with each command's own choices.

Old spellings that were documented (``--image-size`` for the network input, ``--boxes-format``)
still work for one release, with a one-line deprecation message on stderr.

Each convention's options (``--sizes``, ``--scales``, ``--flip``...) come from its ``OPTIONS``
the first time a command's options are needed (never for ``anchorctl --help``, which imports
no numpy). Their values are kept as typed and read by the chosen convention's own kind, so
an error speaks that framework's words (:func:`parse_typed`). An option the chosen convention
does not read is an error, never silently ignored.

Commands take typed option records: frozen dataclasses whose fields are named like the click
parameters, built once from click's values by :func:`record`. Adding an option to a command
is one field and one option declaration.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from anchorctl import params

if TYPE_CHECKING:
    from pathlib import Path

    from _typeshed import DataclassInstance

    from anchorctl.conventions.base import Option

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="DataclassInstance")

# Help sections, in the order a command's help lists them.
SOURCE = "Anchors source"
ANCHORS = "Anchor options"
DATA = "Data set"
OUTPUT = "Output"


class SectionOption(click.Option):
    """A click option that names the help section it is listed under.

    A choice given a short ``metavar`` (``--format FORMAT``) lists its choices in its help
    instead, which keeps the help's first column narrow.
    """

    def __init__(self, *args: Any, section: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        row = super().get_help_record(ctx)
        if row is None or self.metavar is None or not isinstance(self.type, click.Choice):
            return row
        name, text = row
        head, sep, extra = text.partition(" [")
        choices = ", ".join(str(c) for c in self.type.choices)
        return name, f"{head.rstrip()} One of {choices}.{sep}{extra}"


def option(*decls: str, section: str | None = None, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` listed under help ``section`` (default: the command's own section)."""
    return click.option(*decls, cls=SectionOption, section=section, **attrs)


def apply(func: F, *decorators: Callable[[F], F]) -> F:
    """``func`` under ``decorators``, the first listed outermost (as if stacked above it)."""
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


# --- records ---------------------------------------------------------------------------------


def record(cls: type[R], values: Mapping[str, Any]) -> R:
    """A ``cls`` record from click's ``values``: each field takes the value of the same name.

    Deprecated spellings are folded into their new names first (:func:`merge_legacy`); a
    field with no value of its name keeps its default.
    """
    merged = merge_legacy(values)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in merged.items() if k in names})


# --- deprecated spellings --------------------------------------------------------------------

# dest of a deprecated option -> (dest of its new name, old flag, new flag)
LEGACY: dict[str, tuple[str, str, str]] = {}


def legacy_option(
    old: str, new: str, dest: str, new_dest: str, note: str = "", **attrs: Any
) -> Callable[[F], F]:
    """A hidden option ``old`` that still works for one release as ``new``.

    Using it prints one deprecation line on stderr; :func:`record` moves its value to
    ``new_dest``, and giving both spellings is a usage error.
    """
    LEGACY[dest] = (new_dest, old, new)

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and ctx.get_parameter_source(dest) is ParameterSource.COMMANDLINE:
            deprecated(old, new + (f" ({note})" if note else ""))
        return value

    return click.option(old, dest, hidden=True, default=None, callback=warn, **attrs)


def deprecated(old: str, new: str) -> None:
    """The one-line deprecation message on stderr."""
    click.echo(
        f"anchorctl: {old} is deprecated and will be removed in the next release; use {new}",
        err=True,
    )


def merge_legacy(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each deprecated option's value moved to its new name."""
    out = dict(values)
    for dest, (new_dest, old, new) in LEGACY.items():
        value = out.pop(dest, None)
        if value is None:
            continue
        if out.get(new_dest) is not None:
            raise click.UsageError(f"give {new.split()[0]} once ({old} is its old name)")
        out[new_dest] = value
    return out


# --- the shared options ----------------------------------------------------------------------


def anchor_options(func: F) -> F:
    """``--convention NAME`` and ``--feature-map`` (each convention's options come with it)."""
    return apply(
        func,
        option(
            "--convention",
            default="mxnet",
            show_default=True,
            metavar="NAME",
            section=SOURCE,
            help="Framework rules (see Conventions).",
        ),
        option(
            "--feature-map",
            "feature_map",
            type=params.FEATURE_MAP,
            multiple=True,
            section=ANCHORS,
            help="Feature map ROWSxCOLS (H x W of an NCHW tensor); repeat per level. "
            "[default: 1x1]",
        ),
    )


def input_size_options(
    image_file: bool = True, legacy: bool = True, default_help: str = ""
) -> Callable[[F], F]:
    """``--input-size WxH`` (the network input), with ``--image FILE`` to read it from an
    image's header; ``legacy`` keeps ``--image-size`` as its deprecated old name."""

    def decorate(func: F) -> F:
        decorators = [
            option(
                "--input-size",
                "input_size",
                type=params.INPUT_SIZE,
                default=None,
                section=SOURCE,
                help="Network input WIDTHxHEIGHT in pixels (N for NxN)."
                + (f" [default: {default_help}]" if default_help else ""),
            )
        ]
        if image_file:
            decorators.append(
                option(
                    "--image",
                    "image_file",
                    type=params.InputPath(dir_okay=False),  # a pathlib.Path
                    default=None,
                    section=SOURCE,
                    help="Read the input size from this image's header.",
                )
            )
        if legacy:
            decorators.append(
                legacy_option(
                    "--image-size",
                    "--input-size WxH",
                    "legacy_image_size",
                    "input_size",
                    type=params.INPUT_SIZE,
                )
            )
        return apply(func, *decorators)

    return decorate


# The name other modules used before --input-size: the same options.
image_size_options = input_size_options()


def format_option(
    choices: Sequence[str], help: str, default: str | None = None
) -> Callable[[F], F]:
    """``--format``: every command's output switch, with its own ``choices``."""
    return option(
        "--format",
        "fmt",
        type=click.Choice(tuple(choices)),
        default=default or choices[0],
        show_default=True,
        metavar="FORMAT",
        section=OUTPUT,
        help=help,
    )


def jobs_option(section: str | None = None) -> Callable[[F], F]:
    """``--jobs N``: worker processes for the per-box work (coverage's matching); the
    results are the same, bit for bit, for any N."""
    return option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        section=section,
        help="Worker processes. [default: every core]",
    )


ANNOTATION_FORMATS = params.LazyChoice(
    params.lazy_names("anchorctl.annotations.records", "FORMATS")
)


def annotations_format_option(legacy: bool = False, section: str = DATA) -> Callable[[F], F]:
    """``--annotations-format``: the format of an annotations file or folder (the names are
    :data:`anchorctl.annotations.records.FORMATS`); ``legacy`` keeps ``--boxes-format``."""
    decorators = [
        option(
            "--annotations-format",
            "annotations_format",
            type=ANNOTATION_FORMATS,
            default=None,
            metavar="FORMAT",
            section=section,
            help="Format of the annotations. [default: detected]",
        )
    ]
    if legacy:
        decorators.append(
            legacy_option(
                "--boxes-format",
                "--annotations-format",
                "legacy_boxes_format",
                "annotations_format",
                type=ANNOTATION_FORMATS,
            )
        )
    return lambda func: apply(func, *decorators)


def iou_option(
    help: str, default: float = 0.5, section: str | None = None, positive: bool = False
) -> Callable[[F], F]:
    """``--iou T``: the IoU at which a box counts as covered (one number in [0, 1]; in
    (0, 1] when ``positive``, for an objective that 0 would make meaningless)."""
    return option(
        "--iou",
        "iou",
        type=params.IOU_POSITIVE if positive else params.IOU,
        default=default,
        show_default=True,
        metavar="T",
        section=section,
        help=help,
    )


def anchor_t_option(help: str, section: str | None = None) -> Callable[[F], F]:
    """``--anchor-t T``: YOLO's ratio threshold (``anchor_t``, > 1; YOLOv5's default 4)."""
    return option(
        "--anchor-t",
        "anchor_t",
        type=params.ANCHOR_T,
        default=4.0,
        show_default=True,
        metavar="T",
        section=section,
        help=help,
    )


class ConventionCommand(click.Command):
    """A command that also takes every convention's own options (``--scales``, ``--flip``...).

    They are built from the conventions' ``OPTIONS`` when the command parses or shows its
    help, so naming the command in ``anchorctl --help`` costs nothing, and a run imports only
    the conventions its command line can use (:meth:`declared_conventions`). The help
    lists the options in sections (``section`` names the command's own), the chosen
    convention's options in its own words (``--convention NAME --help``; mxnet's by default)
    and one line per convention (see :mod:`anchorctl.cli.helptext`).
    """

    _extra: list[click.Parameter] | None = None  # every convention's options, once built

    def __init__(self, *args: Any, section: str = "Options", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section
        self._extra_of: dict[tuple[str, ...], list[click.Parameter]] = {}

    def extra_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The conventions' options this command line declares: those of the conventions it
        can use (:func:`declared_conventions`, set while parsing), else every convention's."""
        names: tuple[str, ...] | None = ctx.meta.get(_DECLARED)
        if names is None:
            if self._extra is None:
                self._extra = self._own_first(convention_parameters())
            return self._extra
        return self._extra_for(names)

    def _extra_for(self, names: tuple[str, ...]) -> list[click.Parameter]:
        if names not in self._extra_of:
            self._extra_of[names] = self._own_first(convention_parameters(names))
        return self._extra_of[names]

    def _own_first(self, extra: list[click.Parameter]) -> list[click.Parameter]:
        # A command's own option of the same name wins: --input-size WxH is the network
        # input, the number mmdet's SSD recipe calls input_size (see anchorctl.cli.source).
        own = {p.name for p in self.params}
        return [p for p in extra if p.name not in own]

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        base = super().get_params(ctx)
        help_option = self.get_help_option(ctx)
        rest = [p for p in base if p is not help_option]
        extra = self.extra_params(ctx)
        return rest + extra + ([help_option] if help_option is not None else [])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Every run of this command reads anchors: load their shared types (and numpy) here,
        # near the top of the stack. Loaded first deep inside resolve(), by the --preset or
        # --config reader, creating their dataclasses landed on a frame-stack chunk boundary,
        # and CPython 3.11 mapped and unmapped a 16 KiB chunk on about 1,600 calls: some 10 ms
        # of every such run (bench_startup counts these; see benchmarks/README.md).
        import anchorctl.conventions.base  # noqa: F401

        # --help is handled while parsing, before --convention has a value: read it first.
        named = named_conventions(args)
        ctx.meta["anchorctl.conventions"] = named
        ctx.meta[_DECLARED] = self.declared_conventions(ctx, args, named)
        return super().parse_args(ctx, args)

    def declared_conventions(
        self, ctx: click.Context, args: Sequence[str], named: Sequence[str]
    ) -> tuple[str, ...] | None:
        """The conventions whose options to declare for ``args`` (``None``: every one).

        Importing a convention costs start-up time, and ``list --sizes 0.2`` needs only the
        default's. The conventions named by ``--convention`` (else the command's default, or
        none with ``--preset`` or ``--config``) are enough when every ``--option`` typed is
        theirs or the command's own; anything else (another convention's option, a typo,
        ``--help``, ``compare`` without ``--conventions``) declares every convention's
        options, so parsing and its messages are the same as if all were declared.
        """
        from anchorctl import conventions

        if any(arg in ctx.help_option_names for arg in args):
            return None
        chosen = tuple(dict.fromkeys(named))
        if not chosen and not _gives_source(self, args):
            default = next((p.default for p in self.params if p.name == "convention"), None)
            if not isinstance(default, str) or not _takes_one_convention(self):
                return None
            chosen = (default,)
        if any(name not in conventions.MODULES for name in chosen):
            return None
        known = {*ctx.help_option_names}
        for param in [*self.params, *self._extra_for(chosen)]:
            known.update(param.opts, param.secondary_opts)
        for arg in args:
            if arg == "--":
                break
            if arg.startswith("--") and arg.split("=", 1)[0] not in known:
                return None
        return chosen

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from anchorctl.cli.helptext import format_options

        format_options(self, ctx, formatter)


_DECLARED = "anchorctl.declared_conventions"


def _gives_source(command: click.Command, args: Sequence[str]) -> bool:
    """Whether ``args`` name the anchors' source (``--preset``, ``--config``): then no
    convention's options apply (typing one is an error, which declares them all)."""
    flags = {o for p in command.params if p.name in ("preset", "config_file") for o in p.opts}
    return any(arg.split("=", 1)[0] in flags for arg in args)


def _takes_one_convention(command: click.Command) -> bool:
    """Whether ``command`` reads one ``--convention`` (``compare`` reads several)."""
    return not any(p.name == "names" for p in command.params)


def named_conventions(args: Sequence[str]) -> list[str]:
    """The conventions ``--convention NAME`` / ``--conventions A,B`` name in ``args``."""
    names: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            break
        for name in ("--convention", "--conventions"):
            if arg == name and position + 1 < len(args):
                names += args[position + 1].split(",")
                position += 1
            elif arg.startswith(name + "="):
                names += arg[len(name) + 1 :].split(",")
        position += 1
    return [n.strip() for n in names if n.strip()]


# --- the conventions' own options ------------------------------------------------------------


@functools.cache
def convention_options() -> dict[str, list[tuple[str, Option]]]:
    """Option name -> ``(convention, Option)`` for every convention that reads it."""
    from anchorctl import conventions

    readers: dict[str, list[tuple[str, Option]]] = {}
    for name in conventions.MODULES:
        for opt in conventions.load(name).OPTIONS:
            readers.setdefault(opt.name, []).append((name, opt))
    return readers


def _readers(names: Sequence[str] | None) -> dict[str, list[tuple[str, Option]]]:
    """:func:`convention_options` of the conventions ``names`` only (all when ``None``),
    importing no other convention's module."""
    if names is None:
        return convention_options()
    from anchorctl import conventions

    readers: dict[str, list[tuple[str, Option]]] = {}
    for name in names:
        for opt in conventions.load(name).OPTIONS:
            readers.setdefault(opt.name, []).append((name, opt))
    return readers


# How the help and the messages name a value of these options (others: by their kind).
_METAVARS = {"sizes": "S1,S2,...", "ratios": "R1,R2,...", "scales": "S1,S2,..."}


def metavar(opt: Option) -> str:
    """How ``opt``'s value is written: ``S1,S2,...``, ``Y,X``, ``WxH,...``."""
    return _METAVARS.get(opt.name) or params.KIND_METAVARS[opt.kind]


def flag(name: str) -> str:
    """``sizes`` -> ``--sizes``."""
    return "--" + name.replace("_", "-")


def convention_parameters(names: Sequence[str] | None = None) -> list[click.Parameter]:
    """One hidden click option per option of the conventions ``names`` (every convention's
    when ``None``).

    Values are kept as typed (text) and parsed by the chosen convention's own kind for the
    option (:func:`parse_typed`), since two frameworks may read the same word differently;
    the help lists the chosen convention's options in its own words instead (see
    :mod:`anchorctl.cli.helptext`).
    """
    out: list[click.Parameter] = []
    for name, readers in sorted(_readers(names).items()):
        if all(opt.kind == "flag" for _, opt in readers):
            decls = [f"{flag(name)}/--no-{flag(name)[2:]}", name]
            out.append(click.Option(decls, default=None, hidden=True))
        else:
            decls = [flag(name), name]
            out.append(
                click.Option(decls, multiple=True, metavar=metavar(readers[0][1]), hidden=True)
            )
    return out


def typed_options(ctx: click.Context) -> dict[str, Any]:
    """The convention options the user typed, in the order typed: name -> the text given (a
    tuple, one entry per use; a bool for a flag)."""
    command = ctx.command
    extra = (
        {p.name for p in command.extra_params(ctx)}
        if isinstance(command, ConventionCommand)
        else set()
    )
    # ctx.params holds the parameters in the order they were processed: as typed.
    return {
        name: value
        for name, value in ctx.params.items()
        if name in extra and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }


def meaning(convention: str, opt: Option) -> str:
    """What ``opt`` means in ``convention``'s words, for messages: ``torchvision: ratio =
    height / width``."""
    from anchorctl import conventions

    rules = conventions.load(convention).RULES
    if opt.name == "sizes":
        return f"{convention}: size = {rules.size_meaning}"
    if opt.name == "ratios":
        return f"{convention}: ratio = {rules.ratio_meaning}"
    return f"{convention}: {_without_default(opt.help)}"


def example(convention: str, opt: Option) -> str:
    """A value to show in ``opt``'s messages: its default when that says more than one
    number, else a typical value in the convention's units."""
    from anchorctl import conventions

    text = default_text(opt.default) if opt.default is not None else ""
    if "|" in text:  # per-level defaults that differ: no one-value example
        text = ""
    if opt.name == "sizes" and "," not in text:
        return "0.2,0.5" if conventions.load(convention).RULES.normalized else "32,64,128"
    if opt.name == "ratios" and "," not in text:
        return "0.5,1,2"
    return text


def _without_default(text: str) -> str:
    return re.sub(r"\s*\[[^\]]*\]", "", text).strip()


def default_text(value: Any) -> str:
    """A convention option's default as the command line spells it: ``[(1.0,)]`` -> ``1``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        flat = list(value)
        if len(flat) == 1 and isinstance(flat[0], (list, tuple)):
            flat = list(flat[0])
        if all(isinstance(v, (list, tuple)) and len(v) == 2 for v in flat) and flat:
            return ",".join(f"{v[0]:g}x{v[1]:g}" for v in flat)
        if all(isinstance(v, (int, float)) for v in flat):
            return ",".join(f"{v:g}" for v in flat)
        return " | ".join(default_text(v) for v in flat)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_typed(opt: Option, value: Any, convention: str = "") -> Any:
    """A typed value as ``opt``'s kind: a list per level, or one value (usage error if not).

    Error messages state what the option means in ``convention``'s words.
    """
    name = flag(opt.name)
    if opt.kind == "flag":
        return bool(value)
    raw = list(value) if isinstance(value, (tuple, list)) else [value]
    if not opt.per_level and len(raw) > 1:
        raise click.BadParameter("give it once (it applies to every level)", param_hint=f"'{name}'")
    kind_type = params.kind_type(
        opt.kind,
        metavar=metavar(opt),
        example=example(convention, opt) if convention else "",
        meaning=meaning(convention, opt) if convention else "",
        empty=opt.per_level,  # one level's list may be empty; the convention says if it can
    )
    try:
        parsed = [kind_type.convert(text, None, None) for text in raw]
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=f"'{name}'") from None
    return parsed if opt.per_level else parsed[0]


def network_input(
    input_size: tuple[int, int] | None, image_file: Path | None
) -> tuple[int, int] | None:
    """``--input-size`` as given, or the display size read from ``--image``'s header."""
    if input_size is not None and image_file is not None:
        raise click.UsageError("give --input-size or --image, not both")
    if image_file is None:
        return input_size
    from anchorctl.imagesize import image_size as read_size

    return read_size(image_file)


def names_list(text: str, known: Iterable[str], what: str, hint: str) -> list[str]:
    """A comma-separated list of known names, each once (usage error otherwise)."""
    choices = list(known)
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            raise click.BadParameter(
                f"{text!r} has an empty name; give {what} separated by commas",
                param_hint=hint,
            )
        if name not in choices:
            raise click.BadParameter(
                f"unknown {what[:-1]} {name!r}; choose from {', '.join(choices)}",
                param_hint=hint,
            )
        if name in out:
            raise click.BadParameter(f"{name} is listed twice", param_hint=hint)
        out.append(name)
    return out
