"""Every benchmark still runs: each ``benchmarks/bench_*.py`` in quick mode, in a subprocess.

Benchmarks are run by hand and judge their own targets. Nothing ran them before, so one broke
unnoticed when an API it calls changed. Here each runs with ``--quick`` (small sizes, one
timed run of every path it times, end-to-end subprocesses included; peers that are not
installed are skipped with a printed reason). No timing is asserted: a quick run exits 0
whatever its ratios, and this checks that it ran to the end and printed its results.

The benchmarks are found by glob, so a new one is covered when it lands.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
# The header of a table printed by benchmarks/_timing.report.
ROW = re.compile(r"^(?P<case>\S.*?)\s+(?P<numbers>(?:\d+\.\d+\s+){3}\d+\.\d+)$")
RATIO_TABLE = re.compile(r"^== .+ \(N = \d+ runs each; ratios vs (?P<baseline>'.*'|\".*\")\)$")


def test_the_benchmarks_are_found() -> None:
    names = {path.stem for path in BENCHMARKS}
    assert {
        "bench_configs",
        "bench_coverage",
        "bench_draw",
        "bench_generate",
        "bench_report",
        "bench_startup",
        "bench_torchvision",
    } <= names


def ratio_tables(out: str) -> dict[str, list[str]]:
    """Each ``_timing.report`` table in ``out``: its baseline -> its case rows."""
    tables: dict[str, list[str]] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        match = RATIO_TABLE.match(line)
        if not match:
            continue
        rows = []
        for row in lines[i + 2 :]:  # after the column titles
            if row.startswith("raw timings"):
                break
            rows.append(row)
        tables[match["baseline"][1:-1]] = rows
    return tables


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_benchmark_runs_in_quick_mode(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    tail = (proc.stdout[-2000:] + "\n--- stderr ---\n" + proc.stderr[-2000:]).strip()
    assert proc.returncode == 0, tail
    assert "Traceback" not in proc.stderr, tail
    assert any(line.startswith("== ") for line in proc.stdout.splitlines()), tail
    for line in proc.stdout.splitlines():  # a target, when judged, says how it went
        if line.startswith("TARGET "):
            assert re.search(r"\d+(\.\d+)?x .*-> (PASS|MISS)$", line), line
    if "_timing" not in script.read_text(encoding="utf-8"):
        return  # its own format: the results section above is what it prints
    tables = ratio_tables(proc.stdout)
    assert tables, f"{script.name} printed no ratio table\n{tail}"
    for baseline, rows in tables.items():
        # case, best ms, median ms, x best, x median: the baseline's own ratios are 1.00
        cells = {}
        for row in rows:
            match = ROW.match(row)
            assert match, (baseline, row)
            cells[match["case"]] = match["numbers"].split()
        assert cells.get(baseline, [])[2:] == ["1.00", "1.00"], (baseline, rows)
