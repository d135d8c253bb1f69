"""Start-up: a command pays for the modules it runs, not for every subcommand and convention.

Times whole processes, each paired with its baseline in the same rounds (see _timing.py):

* ``anchorctl list --sizes 0.2,0.5 --ratios 1,4,0.25 --format csv`` and
  ``anchorctl count --preset ssd300 --format json`` against ``python -c "import numpy, click"``
  (target: at most 1.2x, the median of the paired per-round ratios; best-of-N is printed too);
* ``anchorctl --help`` against ``python -c "import click"`` (reported).

Every process runs with its bytecode cached, as an installed package has it: the children get
a fresh ``PYTHONPYCACHEPREFIX`` (filled by the untimed warm-up round, removed at the end) and
no ``PYTHONDONTWRITEBYTECODE``. Without that, a checkout run with ``PYTHONDONTWRITEBYTECODE=1``
compiles every anchorctl module at every start while numpy's wheel came compiled, which
measures the compiler, not the start-up users get.

Then, for each command, the modules it imports beyond the baseline's (a ``sys.modules`` dump
in a fresh process): what is left to pay for above numpy and click. And, where ``strace`` runs,
how many 16 KiB blocks each process unmapped: CPython 3.11 frees a frame-stack chunk as soon
as the frame at its start returns, so import-time work (creating dataclasses) that keeps
calling across a chunk boundary maps and unmaps one per call. ``count --preset`` did so
1,600 times (about 10 ms) until ``anchorctl.cli.source`` imported the conventions' base
types with the command; a count in the hundreds means an import moved onto a boundary again.

Run from the repository root with anchorctl installed::

    python benchmarks/bench_startup.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from _timing import cached_bytecode_env, measure, paired, report, verdict

TARGET = 1.2
LIST = ("list", "--sizes", "0.2,0.5", "--ratios", "1,4,0.25", "--format", "csv")
COUNT = ("count", "--preset", "ssd300", "--format", "json")

# Prints the sorted names in sys.modules once the code (or the command) has run; repr, not
# json, so that the probe itself imports nothing.
_DUMP = "sys.stdout.flush(); print(sorted(sys.modules), file=sys.stderr)"
_COMMAND_PROBE = (
    "import sys\nsys.argv = ['anchorctl', *sys.argv[1:]]\ntry:\n"
    "    from anchorctl.cli import main\n    main()\nexcept SystemExit:\n    pass\n" + _DUMP
)


def process(env: Mapping[str, str], *args: str) -> Callable[[], object]:
    """A case that runs ``python args...`` to the end, output discarded, failure fatal."""
    command = [sys.executable, *args]

    def run() -> object:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        return None

    return run


def modules(env: Mapping[str, str], code: str, *args: str) -> set[str]:
    """The modules a fresh ``python -c code args...`` has imported when it ends."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    names: list[str] = ast.literal_eval(proc.stderr.strip().splitlines()[-1])
    return set(names)


def print_imports(env: Mapping[str, str]) -> None:
    """What each command imports beyond ``import numpy, click``."""
    base = modules(env, "import sys, numpy, click\n" + _DUMP)
    print(f"\n== modules imported beyond python -c 'import numpy, click' ({len(base)} modules)")
    for args in (LIST, COUNT):
        extra = modules(env, _COMMAND_PROBE, *args) - base
        own = sorted(m for m in extra if m.split(".")[0] == "anchorctl")
        other = sorted(m for m in extra if m.split(".")[0] != "anchorctl")
        print(f"anchorctl {' '.join(args)}: {len(extra)} more")
        print(f"  anchorctl ({len(own)}): {' '.join(own)}")
        print(f"  other ({len(other)}): {' '.join(other)}")


def chunk_churn(env: Mapping[str, str], *args: str) -> int | str:
    """How many 16 KiB blocks ``python args...`` unmapped (strace), or why it was not counted."""
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed"
    with tempfile.TemporaryDirectory(prefix="anchorctl-strace-") as folder:
        log = Path(folder) / "munmap.log"
        command = [strace, "-f", "-e", "trace=munmap", "-o", str(log), sys.executable, *args]
        proc = subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if proc.returncode != 0 or not log.exists():
            return "strace could not trace (" + " ".join(proc.stderr.split()[:12]) + ")"
        return sum(", 16384)" in line for line in log.read_text().splitlines())


def print_churn(env: Mapping[str, str]) -> None:
    print("\n== 16 KiB frame-stack chunks unmapped per run (CPython 3.11 churn; a few is normal)")
    cases = {
        "python -c 'import numpy, click'": ("-c", "import numpy, click"),
        **{"anchorctl " + " ".join(args): ("-m", "anchorctl", *args) for args in (LIST, COUNT)},
    }
    for name, args in cases.items():
        print(f"  {name}: {chunk_churn(env, *args)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="rounds (default 30)")
    parser.add_argument(
        "--quick", action="store_true", help="one round, to see that it runs; never fails"
    )
    options = parser.parse_args()
    repeat = 1 if options.quick else options.repeat

    with tempfile.TemporaryDirectory(prefix="anchorctl-pycache-") as pycache:
        env = cached_bytecode_env(pycache)
        baseline = "python -c 'import numpy, click'"
        list_case = "anchorctl " + " ".join(LIST)
        count_case = "anchorctl " + " ".join(COUNT)
        times = measure(
            {
                baseline: process(env, "-c", "import numpy, click"),
                list_case: process(env, "-m", "anchorctl", *LIST),
                count_case: process(env, "-m", "anchorctl", *COUNT),
            },
            repeat=repeat,
        )
        report("a command end to end", times, baseline)
        ratios = paired(times, baseline)
        ok = verdict("list", ratios[list_case], TARGET, "paired median")
        ok = verdict("count", ratios[count_case], TARGET, "paired median") and ok

        help_base = "python -c 'import click'"
        help_times = measure(
            {
                help_base: process(env, "-c", "import click"),
                "anchorctl --help": process(env, "-m", "anchorctl", "--help"),
            },
            repeat=repeat,
        )
        report("anchorctl --help (no subcommand module is imported)", help_times, help_base)
        paired(help_times, help_base)
        print_imports(env)
        print_churn(env)
    return 0 if ok or options.quick else 1


if __name__ == "__main__":
    sys.exit(main())
