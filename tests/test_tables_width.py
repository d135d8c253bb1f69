"""Tables fit an 80-column terminal without cutting a number or a name a user must type."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

from anchorctl import conventions, presets
from anchorctl.counting import arithmetic

from support import ROOT, run

COCO = str(ROOT / "tests" / "data" / "annotations" / "coco.json")


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table drawn as on an 80-column terminal."""

    def console(out: io.TextIOBase) -> Console:
        return Console(file=out, highlight=False, width=80, no_color=True)

    monkeypatch.setattr("anchorctl.tables.console", console)


def table_of(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "…" not in out
    for line in out.splitlines():
        if line[:1] in "┏┃┡│├└":  # a table's line (titles are soft-wrapped by the terminal)
            assert len(line) <= 80, line
    return out


@pytest.mark.usefixtures("narrow")
@pytest.mark.parametrize("name", presets.names())
def test_count_shows_every_level_whole(name: str) -> None:
    out = table_of("count", "--preset", name)
    data = json.loads(run("count", "--preset", name, "--format", "json").stdout)
    for row in data["levels"]:
        assert arithmetic(row) in out
        assert f"{row['running_total']:,}" in out
        sy, sx = row["stride"]
        assert (f"{sy:.4g}" if sx == sy else f"{sy:.4g} x {sx:.4g}") in out


@pytest.mark.usefixtures("narrow")
def test_presets_show_every_name_whole() -> None:
    out = table_of("presets")
    for name in presets.names():
        preset = presets.load_preset(name)
        assert f"│ {name} " in out
        assert f"{preset.total:,}" in out
        assert f"{preset.input_size[0]}x{preset.input_size[1]}" in out


@pytest.mark.usefixtures("narrow")
def test_conventions_show_every_option_whole() -> None:
    out = table_of("conventions")
    words = set(out.split())
    for name in conventions.MODULES:
        assert name in words
        for option in conventions.load(name).OPTIONS:
            assert "--" + option.name.replace("_", "-") in words


@pytest.mark.usefixtures("narrow")
def test_every_anchor_with_pixels_keeps_every_digit() -> None:
    args = ("list", "--sizes", "0.2,0.5", "--ratios", "1,2,0.5", "--input-size", "640x480",
            "--feature-map", "4x4", "--all")  # fmt: skip
    out = table_of(*args, "--max-rows", "6")
    rows = list(csv.reader(io.StringIO(run(*args, "--format", "csv").stdout)))
    words = set(out.replace("│", " ").split())
    for row in rows[1:7]:
        assert set(row[3:]) <= words, row  # every coordinate, normalized and in pixels


@pytest.mark.usefixtures("narrow")
@pytest.mark.parametrize(
    "args",
    [
        ("list", "--preset", "fasterrcnn-fpn"),
        ("list", "--preset", "retinanet", "--all", "--max-rows", "5"),
        ("list", "--preset", "ssd300", "--level", "0"),
        ("coverage", COCO, "--preset", "fasterrcnn-fpn"),
        (
            "compare",
            "--sizes",
            "32,64",
            "--ratios",
            "0.5,1,2",
            "--feature-map",
            "2x2",
            "--input-size",
            "64x64",
        ),
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_other_tables_fit(args: tuple[str, ...]) -> None:
    table_of(*args)
