"""A command declares the options of the conventions its command line can use, and every
convention's when anything else is typed, so start-up imports one convention module while
parsing and its messages stay those of all the options declared."""

from __future__ import annotations

import click
import pytest

from anchorctl.cli import cli
from anchorctl.cli.options import ConventionCommand, named_conventions

from support import commands, run


def declared(command: str, *args: str) -> tuple[str, ...] | None:
    """The conventions whose options ``anchorctl command args`` declares (None: all)."""
    cmd = commands()[command]
    assert isinstance(cmd, ConventionCommand)
    ctx = click.Context(cmd, parent=click.Context(cli, **cli.context_settings))  # -h, --help
    return cmd.declared_conventions(ctx, list(args), named_conventions(list(args)))


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("list", ("--sizes", "0.2,0.5", "--ratios", "1,4,0.25"), ("mxnet",)),
        ("list", ("--sizes=0.2", "--no-clip", "--clip"), ("mxnet",)),  # = form, flag's off form
        ("list", ("--convention", "torchvision", "--sizes", "32"), ("torchvision",)),
        ("list", ("--convention=caffe-ssd", "--min-sizes", "30"), ("caffe-ssd",)),
        ("count", ("--preset", "ssd300", "--format", "json"), ()),  # the preset decides
        ("count", ("--config=a.toml",), ()),
        ("count", ("--preset", "ssd300", "--sizes", "0.2"), None),  # refused by name, below
        ("list", ("--scales", "1"), None),  # another convention's option
        ("list", ("--sizez", "1"), None),  # a typo: click suggests from every option
        ("list", ("--convention", "nope"), None),
        ("list", ("--sizes", "0.2", "--help"), None),
        ("list", ("-h",), None),
        ("compare", ("--sizes", "32", "--input-size", "64"), None),  # every convention compared
        (
            "compare",
            ("--conventions", "torchvision,keras-retinanet", "--sizes", "32"),
            ("torchvision", "keras-retinanet"),
        ),
        ("explain", ("--sizes", "0.2", "--variances", "0.1,0.1,0.2,0.2"), ("mxnet",)),  # own
    ],
)
def test_the_conventions_a_command_line_declares(
    command: str, args: tuple[str, ...], expected: tuple[str, ...] | None
) -> None:
    assert declared(command, *args) == expected


def test_messages_are_those_of_every_option_declared() -> None:
    other = run("list", "--scales", "1")
    assert other.exit_code == 2
    assert "--scales: not read by the mxnet convention (it reads --sizes" in other.stderr
    typo = run("list", "--sizez", "1")
    assert typo.exit_code == 2 and "No such option '--sizez'" in typo.stderr
    assert "'--sizes'" in typo.stderr  # the suggestion still knows every option
    mixed = run("count", "--preset", "ssd300", "--min-sizes", "30")
    assert mixed.exit_code == 2 and "--min-sizes cannot be combined with --preset" in mixed.stderr


def csv_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.splitlines()[1:]]


def test_one_process_runs_commands_of_different_conventions() -> None:
    """The same command object parses each run with that run's conventions' options."""
    torch = run(
        "list", "--convention", "torchvision", "--sizes", "32", "--ratios", "1",
        "--input-size", "64", "--format", "csv",
    )  # fmt: skip
    mx = run("list", "--sizes", "0.2,0.5", "--ratios", "1", "--format", "csv")
    torch2 = run(
        "list", "--convention", "torchvision", "--sizes", "16", "--ratios", "1",
        "--input-size", "64", "--format", "csv",
    )  # fmt: skip
    every = run("list", "--sizes", "0.3", "--format", "csv", "--help")
    after = run("list", "--sizes", "0.4", "--ratios", "1", "--format", "csv")
    assert [r.exit_code for r in (torch, mx, torch2, every, after)] == [0, 0, 0, 0, 0]
    assert [row[1] for row in csv_rows(mx.stdout)] == ["0.2", "0.5"]
    assert [row[1] for row in csv_rows(after.stdout)] == ["0.4"]
    # torchvision's size is in pixels: a 32 px and then a 16 px square
    assert csv_rows(torch.stdout)[0][3:5] == ["32", "32"]
    assert csv_rows(torch2.stdout)[0][3:5] == ["16", "16"]
