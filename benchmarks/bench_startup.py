"""Start-up: a command pays for the modules it runs, not for all ten subcommands.

Times whole processes, each paired with its baseline in the same rounds (see _timing.py):

* ``anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25 --format csv`` and
  ``anchorctl count --preset ssd300 --format json`` against ``python -c "import numpy, click"``
  (target: at most 1.2x, best-of-N);
* ``anchorctl --help`` against ``python -c "import click"`` (reported).

Run from the repository root with anchorctl installed::

    python benchmarks/bench_startup.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable

from _timing import measure, report, verdict

TARGET = 1.2


def process(*args: str) -> Callable[[], object]:
    """A case that runs ``python args...`` to the end, output discarded, failure fatal."""
    command = [sys.executable, *args]

    def run() -> object:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return None

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="rounds (default 30)")
    parser.add_argument("--quick", action="store_true", help="one round, to see that it runs")
    options = parser.parse_args()
    repeat = 1 if options.quick else options.repeat

    baseline = "python -c 'import numpy, click'"
    times = measure(
        {
            baseline: process("-c", "import numpy, click"),
            "anchorctl list (csv)": process(
                "-m", "anchorctl", "list", "--sizes", "0.2,0.5", "--ratios", "1,4,0.25",
                "--format", "csv",
            ),
            "anchorctl count --preset ssd300": process(
                "-m", "anchorctl", "count", "--preset", "ssd300", "--format", "json"
            ),
        },
        repeat=repeat,
    )  # fmt: skip
    ratios = report("a command end to end", times, baseline)
    ok = verdict("list", ratios["anchorctl list (csv)"], TARGET)
    ok = verdict("count", ratios["anchorctl count --preset ssd300"], TARGET) and ok

    help_base = "python -c 'import click'"
    help_times = measure(
        {
            help_base: process("-c", "import click"),
            "anchorctl --help": process("-m", "anchorctl", "--help"),
        },
        repeat=repeat,
    )
    report("anchorctl --help (no subcommand module is imported)", help_times, help_base)
    return 0 if ok or options.quick else 1


if __name__ == "__main__":
    sys.exit(main())
