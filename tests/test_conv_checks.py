"""conventions.checks: one behaviour for every convention's option checks, words from RULES."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from anchorctl import conventions
from anchorctl.conventions import checks
from anchorctl.conventions.base import Grid
from anchorctl.errors import AnchorError, TooLarge

RATIO_CONVENTIONS = [
    name
    for name in conventions.MODULES
    if any(o.name == "ratios" for o in conventions.load(name).OPTIONS)
]


@pytest.mark.parametrize("name", RATIO_CONVENTIONS)
def test_ratio_help_and_errors_say_what_the_rules_say(name: str) -> None:
    module = conventions.load(name)
    meaning = module.RULES.ratio_meaning.split(" (")[0].split(",")[0]
    option = next(o for o in module.OPTIONS if o.name == "ratios")
    assert meaning in option.help
    with pytest.raises(AnchorError) as info:
        module.generate(_with(name, ratios=-1.0))
    assert "--ratios" in str(info.value) and meaning in str(info.value)


def _with(name: str, ratios: float) -> dict[str, Any]:
    from test_conv_extremes import _params_of

    params = dict(_params_of(name))
    maps = len(params["feature_maps"])
    per_level = next(o for o in conventions.load(name).OPTIONS if o.name == "ratios").per_level
    params["ratios"] = [(ratios,)] * maps if per_level else (ratios,)
    if name == "gluoncv-ssd":
        params["ratios"] = [(1.0, ratios)]
    return params


@pytest.mark.parametrize(
    ("value", "whole"),
    [(3, True), (3.0, True), (np.float32(3.0), True), (np.int64(3), True), (3.5, False),
     (True, False), (math.inf, False), (math.nan, False), ("3", False)],
)  # fmt: skip
def test_a_whole_number_may_be_written_as_a_float(value: Any, whole: bool) -> None:
    assert checks.is_whole(value) is whole


def test_feature_maps_accept_whole_floats_and_refuse_the_rest() -> None:
    assert checks.feature_maps({"feature_maps": [(2.0, 3.0), (4, 5)]}) == [(2, 3), (4, 5)]
    for bad in ([(2.5, 3)], [(0, 3)], [(True, 3)], [], [(2,)], [(2**53 + 1, 1)]):
        with pytest.raises(AnchorError, match="feature map"):
            checks.feature_maps({"feature_maps": bad})


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (math.inf, "is not a finite number"),
        (1e39, "beyond float32's range"),
        (-1.0, "is not a positive number"),
        (0.0, "is not a positive number"),
        (1e-46, "is not a positive number"),  # 0 in float32
        ("x", "is not a number"),
    ],
)
def test_numbers_are_finite_within_float32_and_positive_when_asked(value: Any, words: str) -> None:
    with pytest.raises(AnchorError, match=words) as info:
        checks.number(value, "anchor_scale", "base anchor size in strides", positive=True)
    assert str(info.value).startswith("--anchor-scale: ")
    assert "\n" not in str(info.value)


def test_whole_pixel_strides_stop_at_the_largest_input_side() -> None:
    # torchvision derives a stride as input side // map, so no stride exceeds the largest
    # side; past 2**53 a float64 is "whole" whatever was typed
    rules = conventions.load("torchvision").RULES
    top = float(checks.MAX_SIDE)
    assert checks.strides({"strides": [(top, 16)]}, "strides", 1, rules, whole_pixels=True) == [
        (top, 16)
    ]
    with pytest.raises(AnchorError, match="--strides: 1e\\+30 is larger than any torchvision"):
        checks.strides({"strides": [(1e30, 1e30)]}, "strides", 1, rules, whole_pixels=True)
    # a stride that is not whole pixels (MMDetection's) is bounded by float32 alone
    mm = conventions.load("mmdet").RULES
    assert checks.strides({"strides": [(1e30, 1e30)]}, "strides", 1, mm) == [(1e30, 1e30)]


def test_per_cell_refuses_runaway_counts_as_too_large() -> None:
    rules = conventions.load("mmdet").RULES
    checks.per_cell(checks.MAX_PER_CELL, rules, "ok")
    with pytest.raises(TooLarge, match="300,000 shapes per cell"):
        checks.per_cell(300_000, rules, "3 ratios x 100,000 scales")


def _grid(centre_step: float, half: float, rows: int = 3, cols: int = 3) -> Grid:
    def part(index: np.ndarray) -> np.ndarray:
        c = (index.astype(np.float32) * np.float32(centre_step))[:, None]
        return np.stack([c - np.float32(half), c + np.float32(half)], axis=-1)

    return Grid((rows, cols), 1, part, part)


def test_extents_refuse_boxes_that_float32_collapses_near_the_origin() -> None:
    rules = conventions.load("torchvision").RULES
    ok = checks.extents(_grid(16, 8), [16.0], [16.0], rules, centres="--strides", shapes="--sizes")
    assert ok.check is not None
    with pytest.raises(AnchorError, match="--strides: at x = 1e\\+30 a box of width 16 collapses"):
        checks.extents(_grid(1e30, 8), [16.0], [16.0], rules, centres="--strides", shapes="--s")
    with pytest.raises(AnchorError, match="--sizes: slot 0 has width 0"):
        checks.extents(_grid(16, 0), [0.0], [0.0], rules, centres="--strides", shapes="--sizes")


def test_extents_leave_the_far_cells_to_the_time_anchors_are_made() -> None:
    # 2**30 cells of 16 px: the last centres are past 2**34, where float32 steps are 2048 px
    rules = conventions.load("torchvision").RULES
    grid = checks.extents(
        _grid(16, 8, rows=2**30, cols=2**30), [16.0], [16.0], rules, centres="-", shapes="-"
    )
    assert grid.count == 2**60  # counting works
    with pytest.raises(TooLarge, match="feature map puts its far anchors where"):
        next(grid.blocks())
    near = grid.at([(0, 0), (1, 1)])  # anchors of near cells are fine
    np.testing.assert_array_equal(near, [[-8, -8, 8, 8], [8, 8, 24, 24]])
    with pytest.raises(TooLarge):
        grid.at([(2**30 - 1, 2**30 - 1)])
