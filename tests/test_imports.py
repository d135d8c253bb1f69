"""Start-up cost: heavy libraries load only where they are needed, checked in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import ROOT, SAMPLES

PROBE = """
import json, sys
from anchorctl.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="anchorctl")
except SystemExit:
    pass
sys.stdout.flush()
print(json.dumps([m for m in ("numpy", "PIL", "rich") if m in sys.modules]), file=sys.stderr)
"""


def loaded(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT
    )
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_imports_none_of_numpy_pillow_rich() -> None:
    assert loaded("--help") == set()
    assert loaded() == set()  # a bare `anchorctl` prints the same help
    # A command's own help lists every convention's options, which needs the conventions
    # (numpy), but still neither Pillow nor rich.
    assert loaded("list", "--help") == {"numpy"}
    assert loaded("draw", "--help") == {"numpy"}


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
