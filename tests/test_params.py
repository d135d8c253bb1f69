"""Path options give a pathlib.Path, whether or not pathlib was imported when they were declared."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from anchorctl import params


def test_file_path_gives_a_pathlib_path(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    got = params.FilePath(dir_okay=False).convert(str(target), None, None)
    assert isinstance(got, Path) and got == target
    # A path_type given is click's to apply, as before.
    assert params.FilePath(path_type=str).convert(str(target), None, None) == str(target)


def test_file_path_keeps_click_checks(tmp_path: Path) -> None:
    with pytest.raises(click.BadParameter, match="is a directory"):
        params.FilePath(dir_okay=False).convert(str(tmp_path), None, None)


def test_input_path_gives_a_pathlib_path_and_registers_it(tmp_path: Path) -> None:
    from anchorctl import inputs

    source = tmp_path / "in.toml"
    source.write_text("x = 1\n")
    with inputs.watching():
        got = params.InputPath(dir_okay=False, exists=True).convert(str(source), None, None)
        assert isinstance(got, Path) and got == source
        assert inputs.input_named_by(source) is not None
