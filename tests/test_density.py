"""anchorctl.density: how much of a picture a request's outlines cover, and how to thin it."""

from __future__ import annotations

import pytest

from anchorctl import density


def test_outline_ink_is_perimeter_times_width_over_area() -> None:
    # one 10 x 20 box, 2 px lines, on a 100 x 50 picture: 2 * (10 + 20) * 2 / 5000
    assert density.outline_ink([(10.0, 20.0)], 1, (100, 50), 2) == pytest.approx(0.024)
    assert density.outline_ink([(10.0, 20.0)], 7, (100, 50), 2) == pytest.approx(7 * 0.024)
    # an anchor larger than the picture counts as the picture's own outline at most
    assert density.outline_ink([(1e6, 1e6)], 1, (100, 50), 1) == pytest.approx(300 / 5000)


def test_thin_every_returns_the_smallest_legible_step() -> None:
    shapes, size, fm = [(30.0, 30.0)] * 4, (300, 300), (38, 38)
    n = density.thin_every(fm, shapes, size, 1)
    ink = density.outline_ink(shapes, density.cells_every(fm, n), size, 1)
    assert ink <= density.INK_LIMIT
    worse = density.outline_ink(shapes, density.cells_every(fm, n - 1), size, 1)
    assert worse > density.INK_LIMIT
    assert density.thin_every((4, 4), shapes, size, 1) == 1  # legible as it is
    assert density.thin_every((4, 4), shapes, size, 1, every=3) == 3  # the user's own step


def test_grid_step_keeps_lines_apart() -> None:
    assert density.grid_step(20.0) == 1
    assert density.grid_step(0.15) == 54  # ceil(8 / 0.15)
    assert density.grid_step(0.15) * 0.15 >= density.MIN_GRID_PITCH


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                         (11, "11th"), (12, "12th"), (22, "22nd"), (101, "101st")])  # fmt: skip
def test_ordinal(n: int, text: str) -> None:
    assert density.ordinal(n) == text
