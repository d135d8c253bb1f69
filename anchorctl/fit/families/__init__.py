"""How each convention's options make its shapes, as a search space (a :class:`Grammar`).

One module per family of conventions, next to the others:

* :mod:`.yolo`: explicit ``(w, h)`` pairs per level (``yolo``; ``mmdet --yolo``): free.
* :mod:`.grid`: a size (or base size x scales) per level crossed with ratios, as FPN and RPN
  generators make them (``torchvision``, ``detectron2``, ``mmdet``, ``keras-retinanet``,
  ``tf-multiscale``, ``gluoncv-rpn``, ``py-faster-rcnn``, ``tf-grid``).
* :mod:`.ssd`: scales and ratios per layer, as SSD generators make them (``torchvision-ssd``,
  ``caffe-ssd``, ``gluoncv-ssd``, ``mmdet --ssd``, ``tf-ssd``) and MultiBoxPrior's cross of
  sizes and ratios (``mxnet``, ``d2l``).

Each takes a :class:`Template` (the model as configured now: convention, the parameters
``generate`` takes, the levels they make, the input size) and returns a :class:`Grammar`: the
:class:`~anchorctl.fit.layout.Layout` of the values the convention lets a user choose, the
values of the current config, and the function that writes values back as the convention's
own parameters. What a ratio or a size means is read from the convention's ``RULES``.
Everything not fitted (feature maps, strides, steps, offsets, clipping, flags) is kept as
the template has it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions.base import Level, Rules
from anchorctl.errors import AnchorError
from anchorctl.fit.layout import Layout, LayoutBuilder

FloatArray = npt.NDArray[np.float64]

LOG_RATIO = math.log(16.0)  # ratios searched within 1/16 .. 16
MIN_SIZE = 2.0  # pixels


@dataclass(frozen=True)
class Template:
    """The model whose anchors are fitted.

    ``params`` are what the convention's ``generate`` takes (``feature_maps`` and
    ``image_size`` included); ``levels`` what they make; ``input_size`` the network input
    ``(W, H)`` in pixels.
    """

    convention: str
    params: Mapping[str, Any]
    levels: tuple[Level, ...]
    rules: Rules
    input_size: tuple[int, int]

    @property
    def counts(self) -> tuple[int, ...]:
        """Shapes per cell on each level."""
        return tuple(level.per_cell for level in self.levels)

    def scale(self, level: Level) -> tuple[float, float]:
        """Pixels per unit of ``level``'s coordinates, ``(x, y)``."""
        if level.is_normalized(self.rules):
            return float(self.input_size[0]), float(self.input_size[1])
        return 1.0, 1.0

    def strides_px(self) -> list[float]:
        """Each level's stride in pixels (the larger of the two axes)."""
        out = []
        for level in self.levels:
            sx, sy = self.scale(level)
            out.append(max(level.stride[0] * sy, level.stride[1] * sx))
        return out

    def centres(self) -> list[tuple[FloatArray, FloatArray]]:
        """Each level's anchor centres in pixels: ``x`` ``(cols,)`` and ``y`` ``(rows,)``."""
        out = []
        for level in self.levels:
            sx, sy = self.scale(level)
            rows, cols = level.feature_map
            x = (level.center0[0] + level.stride[1] * np.arange(cols)) * sx
            y = (level.center0[1] + level.stride[0] * np.arange(rows)) * sy
            out.append((x.astype(np.float64), y.astype(np.float64)))
        return out

    def shapes(self) -> list[FloatArray]:
        """Each level's per-cell ``(w, h)`` in pixels, ``(k, 2)``."""
        out = []
        for level in self.levels:
            sx, sy = self.scale(level)
            wh = [(s.width * sx, s.height * sy) for s in level.shapes]
            out.append(np.array(wh, dtype=np.float64).reshape(-1, 2))
        return out

    def finest_first(self) -> tuple[int, ...]:
        """Level indices by stride, smallest first (ties in level order)."""
        strides = self.strides_px()
        return tuple(sorted(range(len(strides)), key=lambda i: (strides[i], i)))

    def ratio_is_h_over_w(self) -> bool:
        """Whether the convention's ratio is height / width (else width / height), per RULES."""
        return self.rules.ratio_meaning.strip().startswith("height / width")


@dataclass(frozen=True)
class Grammar:
    """A convention's shapes as a search space.

    ``layout`` maps values to slot shapes (levels in the template's order), ``start`` is the
    current config's values, ``params(x)`` writes values as ``generate`` parameters (rounded
    to a few significant digits), ``constraint`` says in one line what the convention ties
    together (empty for free pairs), ``finest_first`` the level order YOLO fills by area.
    """

    convention: str
    layout: Layout
    start: FloatArray = field(repr=False)
    params: Callable[[FloatArray], dict[str, Any]] = field(repr=False)
    constraint: str
    finest_first: tuple[int, ...]


def grammar(template: Template, k: int | None = None) -> Grammar:
    """The grammar of ``template``'s convention (and generator variant).

    ``k``, the total number of shapes per cell over the levels, can change only where the
    convention takes any number of explicit pairs (YOLO); elsewhere it must equal the
    template's, since the per-cell count follows from the options the template sets.
    """
    from anchorctl.fit.families import grid, ssd, yolo

    name = template.convention
    params = template.params
    maker: Callable[[Template], Grammar]
    if name == "yolo" or (name == "mmdet" and params.get("yolo")):
        return yolo.grammar(template, k)
    if name == "mmdet" and params.get("ssd"):
        maker = ssd.mmdet_ssd
    elif name in grid.MAKERS:
        maker = grid.MAKERS[name]
    elif name in ssd.MAKERS:
        maker = ssd.MAKERS[name]
    else:  # pragma: no cover - every convention has a family
        raise AnchorError(f"suggest: no grammar for convention {name!r}")
    total = sum(template.counts)
    if k is not None and k != total:
        raise AnchorError(
            f"--k: {template.convention} makes {total} shapes per cell over the "
            f"{len(template.levels)} levels of this config ({', '.join(map(str, template.counts))}"
            "); its options fix that count, so --k can only be "
            f"{total} here (change the sizes or ratios of a config to change it, or fit free "
            "pairs with --convention yolo)"
        )
    return maker(template)


def nice(value: float, digits: int = 4) -> float:
    """``value`` at ``digits`` significant digits: values users read and type."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def ratio_out(log_w_over_h: float, template: Template) -> float:
    """A ratio in the convention's own definition (from RULES), rounded."""
    value = math.exp(-log_w_over_h) if template.ratio_is_h_over_w() else math.exp(log_w_over_h)
    return nice(value)


def ratio_in(value: float, template: Template) -> float:
    """``log(w / h)`` of a ratio given in the convention's own definition."""
    r = math.log(float(value))
    return -r if template.ratio_is_h_over_w() else r


def shared_ratios(values: Mapping[str, float], template: Template, count: int) -> tuple[float, ...]:
    """The values ``ratios[0]`` .. ``ratios[count-1]`` (log w/h) as the convention writes ratios."""
    return tuple(ratio_out(values[f"ratios[{i}]"], template) for i in range(count))


def size_bounds(template: Template) -> tuple[float, float]:
    """``log`` of the smallest and largest anchor side searched, pixels."""
    return math.log(MIN_SIZE), math.log(4.0 * max(template.input_size))


def per_level_values(params: Mapping[str, Any], name: str, levels: int, default: Any) -> list[Any]:
    """``params[name]`` as one entry per level (one entry applies to all)."""
    value = params.get(name)
    values = list(default if value is None else value)
    if len(values) == 1:
        return values * levels
    if len(values) != levels:
        raise AnchorError(f"{name}: {len(values)} entries for {levels} levels")
    return values


def without(params: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """A copy of ``params`` without ``names``."""
    return {k: v for k, v in params.items() if k not in names}


def one_line(*parts: str) -> str:
    """Parts joined into one sentence."""
    return " ".join(p.strip() for p in parts if p.strip())


def check_count(template: Template, got: Sequence[int]) -> None:
    """The grammar's per-level counts must be the template's (a family's self-check)."""
    if tuple(got) != template.counts:  # pragma: no cover - a family bug, not a user error
        raise AssertionError(f"{template.convention}: grammar counts {got} != {template.counts}")


def floats(value: Any) -> tuple[float, ...]:
    """A number or a list of numbers as a tuple of floats."""
    if isinstance(value, (int, float)):
        return (float(value),)
    return tuple(float(v) for v in value)


class Draft:
    """Named values and the slots they make, written by a family, turned into a Grammar.

    Each value has a search range and a start (the current config's, clamped into range);
    a family adds slots to ``builder`` in terms of the values' indices.
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.builder = LayoutBuilder()
        self.start: dict[str, float] = {}
        self.size_lo, self.size_hi = size_bounds(template)

    def value(self, name: str, start: float, lo: float, hi: float) -> int:
        index = self.builder.value(name, lo, hi)
        self.start.setdefault(name, min(max(start, lo), hi))
        return index

    def ratio(self, name: str, start_conv: float) -> int:
        """A ratio, started at ``start_conv`` as the convention writes ratios."""
        return self.value(name, ratio_in(start_conv, self.template), -LOG_RATIO, LOG_RATIO)

    def grammar(
        self, params: Callable[[dict[str, float]], dict[str, Any]], constraint: str
    ) -> Grammar:
        layout = self.builder.build()
        check_count(self.template, layout.counts)
        names = layout.names
        start = np.array([self.start[n] for n in names], dtype=np.float64)

        def write(x: FloatArray) -> dict[str, Any]:
            return params({n: float(v) for n, v in zip(names, layout.clip(x), strict=True)})

        return Grammar(
            convention=self.template.convention,
            layout=layout,
            start=start,
            params=write,
            constraint=constraint,
            finest_first=self.template.finest_first(),
        )
