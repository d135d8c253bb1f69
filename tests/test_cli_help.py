"""Help a newcomer can read: short pages in sections, each convention's options in its own
words one `--help` away, and examples one per line."""

from __future__ import annotations

import re

import click
import pytest

from anchorctl import conventions

from support import commands, run

# An 80-column terminal: click wraps the help to it.
NARROW = {"COLUMNS": "80"}
# The pages a newcomer reads first, and the most lines each may take at 80 columns.
BUDGET = {"list": 79, "draw": 89, "coverage": 89, "suggest": 89, "report": 89, "view": 79}
ANCHOR_COMMANDS = (
    "list",
    "draw",
    "explain",
    "count",
    "export",
    "coverage",
    "suggest",
    "report",
    "view",
)


def help_page(*args: str) -> str:
    result = run(*args, "--help", env=NARROW)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def all_commands() -> list[tuple[str, ...]]:
    """Every command path: ``("list",)``, ``("presets", "show")``..."""
    out: list[tuple[str, ...]] = []
    for name, command in commands().items():
        out.append((name,))
        if isinstance(command, click.Group):
            out += [(name, sub) for sub in command.commands]
    return out


@pytest.mark.parametrize(("command", "limit"), BUDGET.items())
def test_help_fits_its_line_budget(command: str, limit: int) -> None:
    lines = help_page(command).splitlines()
    assert len(lines) <= limit, f"{command} --help: {len(lines)} lines"
    assert max(len(line) for line in lines) <= 80


def test_help_is_in_sections_with_one_line_per_convention() -> None:
    page = help_page("list")
    for section in ("Anchors source:", "Anchor options: mxnet", "Output:", "Conventions:"):
        assert re.search(rf"^{re.escape(section)}", page, re.M), section
    for name in conventions.MODULES:
        assert len(re.findall(rf"^  {re.escape(name)} ", page, re.M)) == 1, name
    # The other conventions' options wait for --convention NAME --help.
    assert "--flip" not in page and "--scales" not in page


@pytest.mark.parametrize("name", list(conventions.MODULES))
def test_every_option_a_convention_reads_is_on_its_help_page(name: str) -> None:
    module = conventions.load(name)
    for command in ANCHOR_COMMANDS:
        page = help_page(command, "--convention", name)
        section = page.split(f"Anchor options: {name} (", 1)[1].split("\n\n", 1)[0]
        flags = set(re.findall(r"^  (--[a-z0-9-]+)", section, re.M))
        assert flags == {"--feature-map"} | {
            "--" + o.name.replace("_", "-") for o in module.OPTIONS
        }, command
    shown = run("conventions", "show", name).stdout
    for option in module.OPTIONS:
        assert "--" + option.name.replace("_", "-") in shown


def test_a_convention_s_options_are_explained_in_its_own_words() -> None:
    torchvision = help_page("list", "--convention", "torchvision")
    mxnet = help_page("list")
    ratios = re.compile(r"^  --ratios R1,R2,\.\.\.\s+(.*?)(?=^  --)", re.M | re.S)
    tv_ratios = " ".join(ratios.findall(torchvision)[0].split())
    mx_ratios = " ".join(ratios.findall(mxnet)[0].split())
    assert "height / width" in tv_ratios and "width / height" not in tv_ratios
    assert "width / height" in mx_ratios and "height / width" not in mx_ratios
    # The same page with --convention=NAME, and after the other options.
    assert help_page("list", "--sizes", "32", "--convention=torchvision") == torchvision


def test_compare_help_shows_each_named_convention() -> None:
    page = help_page("compare", "--conventions", "torchvision,tf-grid")
    assert "Anchor options: torchvision (" in page and "Anchor options: tf-grid (" in page
    assert "--anchor-stride" in page
    every = help_page("compare")
    assert "--anchor-stride" in every and "--flip" in every  # none named: every option's name


def test_help_for_an_unknown_convention_is_a_usage_error() -> None:
    result = run("list", "--convention", "caffe", "--help")
    assert result.exit_code == 2 and "unknown convention 'caffe'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_examples_keep_one_example_per_line(path: tuple[str, ...]) -> None:
    page = help_page(*path)
    if "Examples:" not in page:
        assert path in {("presets", "show"), ("conventions", "show")}, path
        return
    block = page.split("Examples:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert block, path
    continued = False
    for line in block:
        text = line.strip()
        assert text.startswith("anchorctl ") or continued, (path, line)
        assert text.count("anchorctl ") <= 1, (path, line)  # two examples run together
        continued = text.endswith("\\")
    assert not continued, path
