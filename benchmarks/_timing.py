"""Timing helpers shared by the benchmark scripts (run by hand, not by pytest).

The machine these run on is shared and noisy, so every case is measured several times,
interleaved with its baseline (the order rotates each round, so slow drift hits every case
alike), and reported as best-of-N and median with the raw timings alongside.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Mapping

Timings = dict[str, list[float]]


def cached_bytecode_env(pycache: str) -> dict[str, str]:
    """The environment for timed subprocesses: bytecode cached under ``pycache`` (a fresh
    temporary folder; the untimed warm-up round fills it), as an installed package has it.

    A checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every anchorctl
    module at every start while numpy's wheel came compiled: that times the compiler, not the
    start-up users get.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def measure(cases: Mapping[str, Callable[[], object]], repeat: int, warmup: int = 1) -> Timings:
    """Seconds per call of each case, ``repeat`` rounds, after ``warmup`` untimed rounds.

    A case's return value is dropped only after the clock stops, so freeing a large result
    is not charged to the next case.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: Timings = {name: [] for name in names}
    for round_no in range(repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            result = cases[name]()
            elapsed = time.perf_counter() - start
            del result
            times[name].append(elapsed)
    return times


def best(samples: list[float]) -> float:
    return min(samples)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def report(title: str, times: Timings, baseline: str) -> dict[str, float]:
    """Print a table of best/median times and ratios to ``baseline``; return best ratios."""
    base_best, base_median = best(times[baseline]), median(times[baseline])
    width = max(len(name) for name in times)
    print(f"\n== {title} (N = {len(times[baseline])} runs each; ratios vs {baseline!r})")
    print(f"{'case':<{width}}  {'best ms':>8}  {'median ms':>9}  {'x best':>7}  {'x median':>8}")
    ratios = {}
    for name, samples in times.items():
        ratio_best = best(samples) / base_best
        ratio_median = median(samples) / base_median
        ratios[name] = ratio_best
        print(
            f"{name:<{width}}  {ms(best(samples))}  {ms(median(samples)):>9}  "
            f"{ratio_best:7.2f}  {ratio_median:8.2f}"
        )
    print("raw timings (ms, in run order):")
    for name, samples in times.items():
        print(f"  {name:<{width}}  " + " ".join(f"{s * 1e3:.1f}" for s in samples))
    return ratios


def paired(times: Timings, baseline: str) -> dict[str, float]:
    """Each case's median of its per-round ratios to ``baseline`` (the two ran in the same
    round, one right after the other), printed: on a shared machine a burst of load hits
    both halves of a pair alike, where best-of-N rewards one lucky run."""
    ratios = {}
    print(f"paired ratios (median of the per-round ratios to {baseline!r}):")
    for name, samples in times.items():
        per_round = [a / b for a, b in zip(samples, times[baseline], strict=True)]
        ratios[name] = median(per_round)
        low, high = min(per_round), max(per_round)
        print(f"  {name:<40}  {ratios[name]:5.2f}x  (range {low:.2f}..{high:.2f})")
    return ratios


def verdict(label: str, ratio: float, target: float, kind: str = "best-of-N") -> bool:
    ok = ratio <= target
    print(
        f"TARGET {label}: {ratio:.2f}x ({kind}) vs target <= {target}x -> "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok
