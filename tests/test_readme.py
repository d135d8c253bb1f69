"""The README's examples are executed: each `$ command` in a ```console block must succeed and
print exactly what the README shows; the quick-start line's anchorctl commands must run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, SAMPLES

README = (ROOT / "README.md").read_text(encoding="utf-8")


def console_examples() -> list[tuple[str, str]]:
    examples = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        command, output = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            examples.append((command, "\n".join(output)))
    return examples


def quickstart(name: str) -> str:
    match = re.search(rf"<!-- quickstart:{name} -->\n```sh\n(.+?)\n```", README)
    assert match, f"README has no quickstart:{name} block"
    return match.group(1)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "sample_images")
    for data in ("annotations", "configs"):
        shutil.copytree(ROOT / "tests" / "data" / data, tmp_path / "tests" / "data" / data)
    return tmp_path


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "COLUMNS": "100",
    }
    env.pop("NO_COLOR", None)
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


EXAMPLES = console_examples()


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c[:60] for c, _ in EXAMPLES])
def test_readme_example(command: str, expected: str, workdir: Path) -> None:
    proc = shell(command, workdir)
    assert proc.returncode == 0, proc.stderr
    got = "\n".join(line.rstrip() for line in proc.stdout.rstrip("\n").splitlines())
    want = "\n".join(line.rstrip() for line in expected.rstrip("\n").splitlines())
    assert got == want


def test_every_command_has_an_example() -> None:
    from anchorctl.cli import COMMANDS

    commands = {command for command, _ in EXAMPLES}
    for name in COMMANDS:
        assert any(c.startswith(f"anchorctl {name} ") for c in commands), name


def test_quickstart_main_line_runs(workdir: Path) -> None:
    line = quickstart("main")
    steps = line.split(" && ")
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    jobs = [s for s in steps[3:]]
    assert jobs[0].startswith("anchorctl draw ") and jobs[1].startswith("anchorctl list ")
    proc = shell(" && ".join(jobs), workdir)
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "astronaut.anchors.png").stat().st_size > 10_000
    assert "│    2 │  0.2 │     4 │   0.4 │    0.1 │    204.8 │      51.2 │" in proc.stdout


def test_quickstart_test_line_is_what_ci_runs() -> None:
    line = quickstart("test")
    assert "pytest" in line and "'.[test]'" in line
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "quickstart:test" in ci  # CI reads the line from here, it does not copy it


def conventions_table() -> str:
    """The README's conventions table, as the registry describes the conventions today."""
    from anchorctl import conventions

    rows = [
        "| convention | framework | units | ratio = | reads |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in conventions.MODULES:
        module = conventions.load(name)
        rules = module.RULES
        reads = " ".join(f"`--{o.name.replace('_', '-')}`" for o in module.OPTIONS)
        units = "normalized" if rules.normalized else "pixels"
        ratio = rules.ratio_meaning.split(" (")[0].split(",")[0]
        ratio = ratio.replace("width / height", "w/h").replace("height / width", "h/w")
        rows.append(f"| `{name}` | {rules.title} | {units} | {ratio} | {reads} |")
    return "\n".join(rows)


def test_readme_says_which_options_each_convention_reads() -> None:
    match = re.search(
        r"<!-- conventions-table -->\n(.*?)\n<!-- /conventions-table -->", README, re.S
    )
    assert match, "README has no conventions table"
    assert match.group(1) == conventions_table()
