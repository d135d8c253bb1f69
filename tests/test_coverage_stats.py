"""Mergeable coverage statistics: exact sums, shards that merge into the whole, and the
parallel measure that gives the serial arrays bit for bit."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions, presets
from anchorctl.coverage import coverage_report, measure
from anchorctl.coverage_stats import (
    SCALE,
    CoverageStats,
    exact_mean,
    exact_sum,
    exact_sums,
    merged,
)
from anchorctl.errors import AnchorError
from anchorctl.iou import GridInfo, grid_from_levels

FLOATS = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_subnormal=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(FLOATS, max_size=40), st.lists(FLOATS, max_size=40))
def test_exact_sum_is_exact_and_splits(a: list[float], b: list[float]) -> None:
    whole = exact_sum(np.array(a + b))
    assert whole == exact_sum(np.array(a)) + exact_sum(np.array(b))
    assert Fraction(whole, 1 << SCALE) == sum((Fraction(v) for v in a + b), Fraction(0))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(FLOATS, st.integers(0, 4)), max_size=60))
def test_exact_sums_by_group_are_each_groups_exact_sum(pairs: list[tuple[float, int]]) -> None:
    values = np.array([v for v, _ in pairs], dtype=np.float64)
    group = np.array([g for _, g in pairs], dtype=np.int64)
    sums = exact_sums(values, group, 5)
    assert sums == [exact_sum(values[group == g]) for g in range(5)]


def test_exact_mean_is_correctly_rounded() -> None:
    values = np.array([0.1] * 10 + [1e-20, 0.7])
    expected = float(sum((Fraction(v) for v in values), Fraction(0)) / len(values))
    assert exact_mean(exact_sum(values), len(values)) == expected
    assert exact_mean(0, 0) is None


def ssd300() -> GridInfo:
    preset = presets.load_preset("ssd300")
    module = conventions.load(preset.config.convention)
    return grid_from_levels(module.generate(preset.config.params), module.RULES, preset.input_size)


def random_boxes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, 300, (n, 2))
    wh = np.exp(rng.uniform(np.log(3), np.log(250), (n, 2)))
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1).clip(0, 300)
    return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]


def test_shards_merge_into_the_whole_exactly() -> None:
    grid = ssd300()
    boxes = random_boxes(3000)
    sizes = np.broadcast_to(np.array([300, 300]), (len(boxes), 2))
    image = np.arange(len(boxes)) // 7
    thr = (0.3, 0.5, 0.7)
    cov = measure(boxes, (300, 300), grid, thr)
    whole = CoverageStats.of(boxes, sizes, cov, main=0.5, worst=25, image=image)
    cuts = [0, 1, 700, 701, 2222, len(boxes)]  # uneven shards, one of a single box
    shards = []
    for lo, hi in itertools.pairwise(cuts):
        part = measure(boxes[lo:hi], (300, 300), grid, thr)
        stats = CoverageStats.of(boxes[lo:hi], sizes[lo:hi], part, main=0.5, worst=25,
                                 image=image[lo:hi])  # fmt: skip
        shards.append(CoverageStats.from_json(stats.to_json(), f"shard {lo}"))  # via JSON
    total = merged(shards)
    assert total.to_json() == whole.to_json()
    assert total.report() == whole.report()  # means too: exact sums, correctly rounded
    report = whole.report()
    assert report["recall"]["0.5"] == np.mean(cov.best_iou >= 0.5)
    assert report["mean_best_iou"] == pytest.approx(cov.best_iou.mean(), rel=1e-12)
    assert sum(report["best_iou_histogram"]["counts"]) == len(boxes)
    worst = [row["box_index"] for row in report["worst"]]
    assert worst == np.argsort(cov.best_iou, kind="stable")[:25].tolist()


def test_statistics_with_other_settings_do_not_merge() -> None:
    a = CoverageStats((0.3, 0.5), 0.5, 4.0, 10)
    with pytest.raises(AnchorError):
        a.merge(CoverageStats((0.5,), 0.5, 4.0, 10))
    with pytest.raises(AnchorError) as excinfo:
        CoverageStats.from_json({"version": 1, "thresholds": [0.5]}, "x.json")
    assert str(excinfo.value).startswith("x.json: not coverage statistics")
    with pytest.raises(AnchorError) as excinfo:
        CoverageStats.from_json({"version": 99}, "x.json")
    assert "version 99" in str(excinfo.value)


def test_the_report_is_the_one_coverage_report_gives() -> None:
    grid = ssd300()
    boxes = random_boxes(500, seed=3)
    report = coverage_report(boxes, (300, 300), grid, worst=5)
    cov = measure(boxes, (300, 300), grid, (0.3, 0.5, 0.7))
    stats = CoverageStats.of(boxes, np.full((len(boxes), 2), 300), cov, main=0.5, worst=5)
    assert stats.report() == report


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_measure_gives_the_serial_arrays_bit_for_bit(jobs: int) -> None:
    grid = ssd300()
    boxes = random_boxes(40_000, seed=5)  # more than two tasks of parallel.TASK_BOXES
    serial = measure(boxes, (300, 300), grid, (0.3, 0.5, 0.7))
    parallel = measure(boxes, (300, 300), grid, (0.3, 0.5, 0.7), jobs=jobs)
    for name in serial.__dataclass_fields__:
        a, b = getattr(serial, name), getattr(parallel, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
        else:
            assert a == b, name
