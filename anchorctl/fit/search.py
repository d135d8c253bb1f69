"""The fit's plan: where the search starts and how much it tries (see :mod:`.evolution`).

* **Free layouts** (YOLO: every anchor its own width and height), :func:`search_free`:
  ``restarts`` runs of IoU k-means (k-means++ seeds from one seeded sequence; means or medians)
  on the distinct box shapes, their centres sorted by area onto the levels (smallest on the
  finest), each polished on the objective; then ``kicks`` rounds of YOLOv5's mutation of the
  best anchors followed by a polish, each kept only when it scores higher.
* **Constrained layouts** (a framework's grammar), :func:`search_layout`: the current config,
  the *projection* of the free optimum (the layout values whose shapes best cover the free
  anchors, each weighted by the boxes it serves) and a short differential evolution on a
  subsample of ``de_rows`` boxes that starts from both; every candidate is polished and the
  best kept.

All of it works on at most ``fast_rows`` rows (a seeded subsample); the winner gets a last
polish on every row (at most ``final_rows``).

Measured on the benchmarks' VOC-like boxes (``benchmarks/bench_suggest.py``); the README's
suggest section gives the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError
from anchorctl.fit.evolution import Progress, differential_evolution, mutate, polish
from anchorctl.fit.kmeans import cluster
from anchorctl.fit.layout import Layout, fill_by_area, free_values
from anchorctl.fit.objectives import Objective, Rows, best

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Budget:
    """How hard the search tries (see the module notes); every count is a whole number >= 0.

    ``fast_rows``: the restarts, mutation rounds and polishes work on at most this many rows
    (a seeded subsample), the differential evolution on at most ``de_rows``; the winner is then
    polished for ``final_iterations`` steps on every row, or on a seeded ``final_rows`` of them
    when there are more (rows that stand for many boxes are rare only for position-aware
    objectives, whose rows are single boxes).
    """

    restarts: int = 3
    kicks: int = 6
    generations: int = 30
    population: int = 16
    fast_rows: int = 8192
    de_rows: int = 2048
    iterations: int = 100
    final_iterations: int = 150
    final_rows: int = 32768


@dataclass(frozen=True)
class Found:
    """A search's answer: the layout values ``x`` ``(D,)``, their slot shapes ``(K, 2)`` in
    pixels and their score on the rows searched."""

    x: FloatArray = field(repr=False)
    shapes: FloatArray = field(repr=False)
    score: float


def _subsample(rows: Rows, size: int, rng: np.random.Generator) -> Rows:
    if len(rows) <= size:
        return rows
    return rows.take(np.sort(rng.choice(len(rows), size, replace=False)))


def search_free(
    layout: Layout,
    rows: Rows,
    objective: Objective,
    *,
    seed: int,
    finest_first: Sequence[int],
    method: str = "means",
    budget: Budget = Budget(),
    progress: Progress | None = None,
    pad: bool = False,
) -> Found:
    """The best free anchors: k-means restarts, polish, then mutation + polish rounds.

    ``layout`` is a free layout (``free_layout``), ``rows`` what the objective is measured on
    (k-means runs on the distinct shapes of the fast subsample, each weighted by the boxes it
    stands for); ``finest_first`` is the level order k-means centres fill by area. With
    fewer distinct shapes than anchors, ``pad`` gives every shape an anchor and repeats the
    most frequent ones (the free optimum is then exact); otherwise that is an error.
    """
    k = layout.slots
    children = np.random.SeedSequence(int(seed)).spawn(3)
    restart_seeds = children[0].generate_state(max(1, budget.restarts))
    rng = np.random.default_rng(children[1])
    fast = _subsample(rows, budget.fast_rows, np.random.default_rng(children[2]))
    steps = len(restart_seeds) + budget.kicks + 1
    points, inverse = np.unique(fast.wh, axis=0, return_inverse=True)
    counts = np.rint(np.bincount(inverse.reshape(-1), weights=fast.weight)).astype(np.int64)
    if k > len(points) and pad:
        extra = np.argsort(-counts, kind="stable")[np.arange(k - len(points)) % len(points)]
        start = free_values(fill_by_area(np.concatenate([points, points[extra]]), layout.counts,
                                         finest_first))  # fmt: skip
        x, value = _final(layout, start, rows, objective, budget)
        return Found(x, layout.shapes(x), value)
    if k > len(points):
        raise AnchorError(
            f"--k: {k} anchors but the boxes have only {len(points)} distinct shapes; give "
            f"--k {len(points)} or fewer"
        )
    found: tuple[FloatArray, float] | None = None
    for i, restart_seed in enumerate(restart_seeds):
        centres = cluster(points, counts, k, seed=int(restart_seed), method=method)
        start = free_values(fill_by_area(centres, layout.counts, finest_first))
        x, value = polish(layout, start, fast, objective, iterations=budget.iterations)
        if found is None or value > found[1]:
            found = (x, value)
        if progress is not None:
            progress("k-means restarts", i + 1, steps)
    assert found is not None
    for i in range(budget.kicks):
        x, value = polish(
            layout, mutate(layout, found[0], rng), fast, objective, iterations=budget.iterations
        )
        if value > found[1]:
            found = (x, value)
        if progress is not None:
            progress("mutation rounds", len(restart_seeds) + i + 1, steps)
    x, value = _final(layout, found[0], rows, objective, budget)
    if progress is not None:
        progress("polish on every box", steps, steps)
    shapes = layout.shapes(x)
    if not objective.positional:  # levels do not change a shape-only score: smallest first
        shapes = fill_by_area(shapes, layout.counts, finest_first)
    return Found(free_values(shapes), shapes, value)


def _final(
    layout: Layout, x: FloatArray, rows: Rows, objective: Objective, budget: Budget
) -> tuple[FloatArray, float]:
    """The last polish, on every row (a seeded ``final_rows`` of them when there are more).

    Measured on the benchmarks' VOC-like boxes: 150 steps from the full first step size
    gain 1e-4 in mean IoU over 60 steps from a third of it, at the same time.
    """
    if len(rows) > budget.final_rows:
        rows = _subsample(rows, budget.final_rows, np.random.default_rng(len(rows)))
    return polish(layout, x, rows, objective, iterations=budget.final_iterations)


def search_layout(
    layout: Layout,
    rows: Rows,
    objective: Objective,
    *,
    seed: int,
    starts: Sequence[FloatArray],
    budget: Budget = Budget(),
    progress: Progress | None = None,
) -> Found:
    """The best values of a constrained ``layout``: DE from ``starts``, every candidate polished."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])
    fast = _subsample(rows, budget.fast_rows, rng)
    candidates = [layout.clip(np.asarray(s, dtype=np.float64)) for s in starts]
    if budget.generations > 0 and layout.dims > 0:
        few = _subsample(fast, budget.de_rows, rng)
        x, _ = differential_evolution(
            layout, few, objective, rng, starts=candidates, population=budget.population,
            generations=budget.generations, progress=progress,
        )  # fmt: skip
        candidates.append(x)
    found: tuple[FloatArray, float] | None = None
    for start in candidates:
        x, value = polish(layout, start, fast, objective, iterations=budget.iterations)
        if found is None or value > found[1]:
            found = (x, value)
    assert found is not None
    x, value = _final(layout, found[0], rows, objective, budget)
    return Found(x, layout.shapes(x), value)


def project(layout: Layout, anchors: FloatArray, weights: FloatArray, x0: FloatArray) -> FloatArray:
    """Values of ``layout`` whose shapes best cover ``anchors`` ``(K', 2)`` (pixels), each
    weighted by ``weights``: a polish from ``x0`` with the anchors as the boxes (mean IoU)."""
    rows = Rows(np.asarray(anchors, dtype=np.float64), np.asarray(weights, dtype=np.float64))
    x, _ = polish(layout, x0, rows, Objective("mean-iou"))
    return x


def served(rows: Rows, shapes: FloatArray, level: IntArray, objective: Objective) -> FloatArray:
    """How many boxes (by weight) each slot of ``shapes`` ``(K, 2)`` is the best for: ``(K,)``."""
    _, slot = best(rows, shapes, level, objective)
    out: FloatArray = np.bincount(slot, weights=rows.weight, minlength=len(shapes)).astype(
        np.float64
    )
    return out
