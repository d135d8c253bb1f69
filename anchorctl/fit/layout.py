"""Anchor shapes as a function of a few free numbers: the search space of a fit.

Every framework makes its per-cell shapes from a handful of values (sizes, scales, ratios,
min and max sizes), and in log space every shape it makes is a *linear* function of the logs
of those values: ``log w = log s + log(r) / 2`` for a size ``s`` at ratio ``r = w/h``,
``log sqrt(s_k * s_k+1) = (log s_k + log s_k+1) / 2``, a transposed shape swaps the two rows.
So a :class:`Layout` is two matrices and two offsets: with ``x`` the ``(D,)`` free values in log
space,

    log w = A_w @ x + b_w,   log h = A_h @ x + b_h      (one row per slot, pixels),

and each width and height is then capped (``cap``, torchvision SSD's clamp of normalized pairs
to 1; infinite otherwise). Slots are listed level after level; ``level[k]`` is slot ``k``'s
level. A free layout (YOLO) has ``D = 2K`` and identity matrices; a constrained one ties
slots together, which is exactly what the framework's grammar allows and nothing more.

The layout is the fast model a search evaluates thousands of times. The shapes a config
*really* makes (with the framework's rounding and dtype) come from its ``generate``, once the
search is done.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_SIDE = 1.0  # pixels: no anchor side below one pixel


@dataclass(frozen=True)
class Layout:
    """Slot shapes as a linear map of ``D`` free log-space values (see the module notes).

    ``a_w``, ``a_h`` ``(K, D)``; ``b_w``, ``b_h`` ``(K,)`` (log pixels); ``cap`` ``(K, 2)``
    largest width and height in pixels; ``level`` ``(K,)`` int64; ``lower``, ``upper`` ``(D,)``
    bounds of ``x``; ``names`` ``(D,)`` what each value is, for messages.
    """

    a_w: FloatArray = field(repr=False)
    a_h: FloatArray = field(repr=False)
    b_w: FloatArray = field(repr=False)
    b_h: FloatArray = field(repr=False)
    cap: FloatArray = field(repr=False)
    level: IntArray = field(repr=False)
    lower: FloatArray = field(repr=False)
    upper: FloatArray = field(repr=False)
    names: tuple[str, ...]

    @property
    def slots(self) -> int:
        return int(self.a_w.shape[0])

    @property
    def dims(self) -> int:
        return int(self.a_w.shape[1])

    @property
    def counts(self) -> tuple[int, ...]:
        """Slots per level."""
        return tuple(int(c) for c in np.bincount(self.level))

    @property
    def free(self) -> bool:
        """Whether every slot's width and height is its own free value (no constraint)."""
        d = self.dims
        if d != 2 * self.slots:
            return False
        eye = np.eye(self.slots)
        return bool(
            np.array_equal(self.a_w, np.kron(eye, [[1.0, 0.0]]))
            and np.array_equal(self.a_h, np.kron(eye, [[0.0, 1.0]]))
            and not self.b_w.any()
            and not self.b_h.any()
        )

    def clip(self, x: FloatArray) -> FloatArray:
        """``x`` (``(D,)`` or ``(P, D)``) inside the bounds."""
        out: FloatArray = np.clip(x, self.lower, self.upper)
        return out

    def shapes(self, x: FloatArray) -> FloatArray:
        """Slot shapes ``(K, 2)`` for ``x`` ``(D,)``, or ``(P, K, 2)`` for ``(P, D)``: pixels."""
        x = np.asarray(x, dtype=np.float64)
        w = np.exp(np.einsum("...d,kd->...k", x, self.a_w) + self.b_w)
        h = np.exp(np.einsum("...d,kd->...k", x, self.a_h) + self.b_h)
        out: FloatArray = np.stack(
            [np.minimum(w, self.cap[:, 0]), np.minimum(h, self.cap[:, 1])], axis=-1
        )
        return out

    def random(self, count: int, rng: np.random.Generator) -> FloatArray:
        """``(count, D)`` values drawn uniformly within the bounds."""
        out: FloatArray = self.lower + rng.random((count, self.dims)) * (self.upper - self.lower)
        return out


def free_layout(counts: Sequence[int], max_side: float) -> Layout:
    """``sum(counts)`` free ``(w, h)`` slots, ``counts[l]`` on level ``l``: ``D = 2K``.

    ``x[2k]`` is ``log w`` and ``x[2k + 1]`` ``log h`` of slot ``k``, each between 1 pixel and
    ``max_side`` pixels.
    """
    k = int(sum(counts))
    eye = np.eye(k)
    level = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    names = tuple(f"{axis}[{i}]" for i in range(k) for axis in ("w", "h"))
    a_w: FloatArray = np.kron(eye, [[1.0, 0.0]]).astype(np.float64)
    a_h: FloatArray = np.kron(eye, [[0.0, 1.0]]).astype(np.float64)
    return Layout(
        a_w=a_w,
        a_h=a_h,
        b_w=np.zeros(k),
        b_h=np.zeros(k),
        cap=np.full((k, 2), np.inf),
        level=level,
        lower=np.full(2 * k, math.log(MIN_SIDE)),
        upper=np.full(2 * k, math.log(max(max_side, 2 * MIN_SIDE))),
        names=names,
    )


def free_values(shapes: FloatArray) -> FloatArray:
    """``x`` of a free layout that makes ``shapes`` ``(K, 2)``."""
    out: FloatArray = np.log(np.asarray(shapes, dtype=np.float64)).reshape(-1)
    return out


def by_area(shapes: FloatArray, counts: Sequence[int]) -> FloatArray:
    """``shapes`` ``(K, 2)`` sorted by area (then width, height), to fill levels in order.

    See :func:`fill_by_area` for giving them to levels.
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    area = shapes[:, 0] * shapes[:, 1]
    out: FloatArray = shapes[np.lexsort((shapes[:, 1], shapes[:, 0], area))]
    assert len(out) == sum(counts)
    return out


def fill_by_area(
    shapes: FloatArray, counts: Sequence[int], finest_first: Sequence[int]
) -> FloatArray:
    """``shapes`` ``(K, 2)`` given to the levels by area: the smallest ``counts[l]`` to the
    level ``finest_first[0]``, and so on; returned as slots in level order (level 0 first)."""
    ordered = by_area(shapes, counts)
    per_level: dict[int, FloatArray] = {}
    offset = 0
    for level in finest_first:
        per_level[int(level)] = ordered[offset : offset + counts[level]]
        offset += counts[level]
    out: FloatArray = np.concatenate([per_level[level] for level in range(len(counts))])
    return out


class LayoutBuilder:
    """Write a layout slot by slot: each slot's log width and log height as sums of terms.

    A term is ``(name, coefficient)`` for a free value (created on first use with its bounds)
    or a constant added to the row. Used by the family modules (``anchorctl.fit.families``).
    """

    def __init__(self) -> None:
        self._names: list[str] = []
        self._bounds: list[tuple[float, float]] = []
        self._rows: list[tuple[dict[int, float], float, dict[int, float], float]] = []
        self._caps: list[tuple[float, float]] = []
        self._levels: list[int] = []

    def value(self, name: str, lower: float, upper: float) -> int:
        """The index of free value ``name`` (log space), created with bounds if new."""
        if name in self._names:
            return self._names.index(name)
        if not lower < upper:
            upper = lower + 1e-9
        self._names.append(name)
        self._bounds.append((lower, upper))
        return len(self._names) - 1

    def slot(
        self,
        level: int,
        log_w: dict[int, float],
        const_w: float,
        log_h: dict[int, float],
        const_h: float,
        cap: tuple[float, float] = (math.inf, math.inf),
    ) -> None:
        """A slot: ``log w = sum(c * x[i] for i, c in log_w) + const_w`` (pixels); h likewise."""
        self._rows.append((dict(log_w), float(const_w), dict(log_h), float(const_h)))
        self._caps.append((float(cap[0]), float(cap[1])))
        self._levels.append(int(level))

    def build(self) -> Layout:
        d, k = len(self._names), len(self._rows)
        a_w, a_h = np.zeros((k, d)), np.zeros((k, d))
        b_w, b_h = np.zeros(k), np.zeros(k)
        for row, (tw, cw, th, ch) in enumerate(self._rows):
            for i, c in tw.items():
                a_w[row, i] += c
            for i, c in th.items():
                a_h[row, i] += c
            b_w[row], b_h[row] = cw, ch
        bounds = np.array(self._bounds, dtype=np.float64).reshape(-1, 2)
        return Layout(
            a_w=a_w,
            a_h=a_h,
            b_w=b_w,
            b_h=b_h,
            cap=np.array(self._caps, dtype=np.float64).reshape(-1, 2),
            level=np.array(self._levels, dtype=np.int64),
            lower=bounds[:, 0].copy(),
            upper=bounds[:, 1].copy(),
            names=tuple(self._names),
        )
