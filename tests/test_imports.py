"""Start-up cost: heavy libraries load only where they are needed, checked in a fresh process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from support import ROOT, SAMPLES

# Imports nothing of its own (no json), so whatever it finds the command imported; modules the
# interpreter loaded before it ran (site: an editable install's finder imports pathlib) are
# not the command's.
PROBE = """
import sys
startup = set(sys.modules)
from anchorctl.cli import cli
try:
    cli.main(args=sys.argv[2:], prog_name="anchorctl")
except SystemExit:
    pass
sys.stdout.flush()
print([m for m in sys.argv[1].split(",") if m in sys.modules and m not in startup], file=sys.stderr)
"""
HEAVY = ("numpy", "PIL", "rich")


def loaded(*args: str, watch: tuple[str, ...] = HEAVY) -> set[str]:
    """Which of the ``watch`` modules a fresh process running ``anchorctl args`` imported."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(watch), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    found: list[str] = ast.literal_eval(proc.stderr.strip().splitlines()[-1])
    return set(found)


def test_help_imports_none_of_numpy_pillow_rich() -> None:
    assert loaded("--help") == set()
    assert loaded() == set()  # a bare `anchorctl` prints the same help
    # A command's own help lists every convention's options, which needs the conventions
    # (numpy), but still neither Pillow nor rich.
    assert loaded("list", "--help") == {"numpy"}
    assert loaded("draw", "--help") == {"numpy"}


def test_help_imports_no_subcommand_module() -> None:
    from anchorctl.cli import COMMANDS

    modules = tuple(lazy.target.partition(":")[0] for lazy in COMMANDS.values())
    assert loaded("--help", watch=modules) == set()
    # Each command imports its own module, and not every other one.
    assert loaded("presets", watch=modules) == {"anchorctl.cli.presets_cmd"}


# What neither list nor count needs: the data-set, fitting, export and picture modules.
OTHERS = (
    "anchorctl.coverage",
    "anchorctl.suggest",
    "anchorctl.fit",
    "anchorctl.export",
    "anchorctl.render",
    "anchorctl.legend",
    "anchorctl.annotations",
    "anchorctl.cli.coverage_cmd",
    "anchorctl.cli.suggest_cmd",
    "anchorctl.cli.suggest_output",
    "anchorctl.cli.export_cmd",
    "anchorctl.cli.draw_cmd",
    "anchorctl.cli.report_cmd",
    "anchorctl.cli.view_cmd",
    "anchorctl.cli.dataset",
    "anchorctl.cli.helptext",
    "anchorctl.pages",
    "PIL",
)


def convention_modules() -> tuple[str, ...]:
    from anchorctl import conventions

    return tuple(conventions.MODULES.values())


def test_list_imports_none_of_the_data_set_fit_export_or_drawing_modules() -> None:
    others = OTHERS
    assert loaded("list", "--sizes", "0.2,0.5", "--ratios", "1,4,0.25", watch=others) == set()
    assert loaded("list", "--preset", "ssd300", "--all", "--format", "csv", watch=others) == set()
    # The probe can see them: draw does import the drawing modules.
    assert {"anchorctl.render", "PIL"} <= loaded(
        "draw", str(SAMPLES / "cat.jpg"), "--sizes", "0.2", "-o", os.devnull, watch=others
    )
    assert {"anchorctl.pages", "anchorctl.cli.view_cmd"} <= loaded(
        "view", str(SAMPLES / "cat.jpg"), "--sizes", "0.2", "-o", os.devnull, watch=others
    )


def test_count_imports_none_of_the_data_set_fit_export_or_drawing_modules() -> None:
    assert loaded("count", "--preset", "ssd300", "--format", "json", watch=OTHERS) == set()
    assert loaded("count", "--sizes", "0.2", "--feature-map", "4x4", watch=OTHERS) == set()
    # The probe sees count's own: its table is rich, JSON is not.
    assert loaded("count", "--preset", "ssd300", "--format", "json") == {"numpy"}
    assert loaded("count", "--preset", "ssd300") == {"numpy", "rich"}


def test_a_command_imports_only_the_convention_it_uses() -> None:
    every = convention_modules()
    mxnet, torchvision = "anchorctl.conventions.mxnet", "anchorctl.conventions.torchvision"
    assert loaded("list", "--sizes", "0.2,0.5", "--format", "csv", watch=every) == {mxnet}
    assert loaded(
        "list", "--convention", "torchvision", "--sizes", "32", "--input-size", "64",
        "--format", "csv", watch=every,
    ) == {torchvision}  # fmt: skip
    # ssd300 is torchvision's SSD: the preset's convention only, not the default's.
    ssd = "anchorctl.conventions.torchvision_ssd"
    assert loaded("count", "--preset", "ssd300", "--format", "json", watch=every) == {ssd}
    # Another convention's option (an error) or --help declares every convention's options.
    assert loaded("list", "--scales", "1", watch=every) == set(every)
    assert loaded("list", "--help", watch=every) == set(every)


def test_list_as_csv_imports_nothing_it_does_not_write_with() -> None:
    """What the CSV of the shapes does not need: the config readers (only --config-format's
    names are declared), JSON, the rich tables, the terminal size, the help page's module,
    numpy's typing helpers."""
    unused = (
        "anchorctl.configs",
        "anchorctl.tables",
        "anchorctl.cli.helptext",
        "json",
        "shutil",
        "numpy.typing",
        "pathlib",  # -o and --image give a pathlib.Path, importing it when one is given
    )
    args = ("list", "--sizes", "0.2,0.5", "--ratios", "1,4,0.25", "--format", "csv")
    assert loaded(*args, watch=unused) == set()
    # The probe sees them where they are used.
    assert loaded("list", "--sizes", "0.2", "--format", "json", watch=unused) == {"json"}
    assert {"anchorctl.tables", "shutil"} <= loaded("list", "--sizes", "0.2", "--all", watch=unused)


def test_count_of_a_preset_imports_no_pathlib_json_only_for_json() -> None:
    assert loaded("count", "--preset", "ssd300", watch=("pathlib", "json")) == set()
    assert loaded("count", "--preset", "ssd300", "--format", "json", watch=("json",)) == {"json"}


def test_list_never_imports_pillow() -> None:
    assert "PIL" not in loaded("list", "--sizes", "0.2")
    assert "PIL" not in loaded(
        "list", "--image", str(SAMPLES / "cat.jpg"), "--all", "--format", "csv"
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_machine_formats_never_import_rich(fmt: str) -> None:
    assert loaded("list", "--sizes", "0.2", "--format", fmt) == {"numpy"}
    assert loaded("list", "--sizes", "0.2", "--all", "--format", fmt) == {"numpy"}


def test_npy_never_imports_rich(tmp_path) -> None:
    target = str(tmp_path / "a.npy")
    assert loaded("list", "--sizes", "0.2", "--format", "npy", "-o", target) == {"numpy"}


def test_the_table_does_use_rich() -> None:
    assert loaded("list", "--sizes", "0.2") == {"numpy", "rich"}


def test_library_import_is_light() -> None:
    code = "import sys, anchorctl; print('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False"


def test_the_help_summaries_are_the_commands_own() -> None:
    """`anchorctl --help` shows COMMANDS' summaries without importing the commands; each must
    say what the command's own help says first."""
    import click

    from anchorctl.cli import COMMANDS, cli

    ctx = click.Context(cli)
    for name, lazy in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=1000) == lazy.summary, name


def test_help_lists_every_command_with_its_summary() -> None:
    from anchorctl.cli import COMMANDS

    proc = subprocess.run(
        [sys.executable, "-m", "anchorctl", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.split("Commands:\n", 1)[1].splitlines()
    shown = {line.split()[0]: " ".join(line.split()[1:]) for line in commands if line.strip()}
    assert set(shown) == set(COMMANDS)
    for name, summary in shown.items():  # whole, or cut at a word to fit 100 columns
        whole = COMMANDS[name].summary
        assert summary == whole or (summary.endswith("...") and whole.startswith(summary[:-3]))
