"""click parameter types: every number and shape a user types is checked here, at the edge.

A bad value fails with exit code 2 and one line that names the option and quotes the
expected form (``--feature-map: '16*16' is not ROWSxCOLS, e.g. 16x16``). This module imports
click only, so ``anchorctl --help`` stays fast.
"""

from __future__ import annotations

import math
import re
from typing import Any

import click

_SEP = re.compile(r"\s*,\s*")
_BY = re.compile(r"^\s*(\S+?)\s*[xX\u00d7]\s*(\S+)\s*$")  # x, X or the multiplication sign


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


class FloatList(click.ParamType):  # type: ignore[type-arg]
    """Comma-separated numbers, e.g. ``0.2,0.5``.

    ``count`` fixes how many there must be; ``positive`` demands finite values > 0;
    ``unit_interval`` demands finite values in [0, 1].
    """

    def __init__(
        self,
        metavar: str,
        example: str,
        count: int | None = None,
        positive: bool = False,
        unit_interval: bool = False,
        meaning: str = "",
        pair: bool = False,
        allow_empty: bool = False,
    ) -> None:
        self.metavar = metavar
        self.example = example
        self.count = count
        self.pair = pair  # one or two numbers, returned as a (y, x) pair
        self.positive = positive
        self.unit_interval = unit_interval
        self.meaning = meaning
        self.allow_empty = allow_empty  # '' is the empty list (a level with no values)
        self.name = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if not text and self.allow_empty:
            return ()
        parts = [p for p in _SEP.split(text)] if text else []
        expected = f"expected {self.metavar}, e.g. {self.example}"
        if not parts or any(p == "" for p in parts):
            self.fail(f"{value!r} is not a list of numbers; {expected}", param, ctx)
        numbers: list[float] = []
        for part in parts:
            number = _float(part)
            if number is None:
                self.fail(f"{part!r} in {value!r} is not a number; {expected}", param, ctx)
            numbers.append(number)
        if self.pair and len(numbers) not in (1, 2):
            self.fail(f"{value!r} has {len(numbers)} numbers, need 1 or 2; {expected}", param, ctx)
        if self.count is not None and len(numbers) != self.count:
            self.fail(
                f"{value!r} has {len(numbers)} number(s), need {self.count}; {expected}",
                param,
                ctx,
            )
        for number in numbers:
            if not math.isfinite(number):
                self.fail(f"{number:g} is not a finite number; {expected}", param, ctx)
            if self.positive and number <= 0:
                self.fail(
                    f"{number:g} must be greater than 0{self._meaning()}; {expected}", param, ctx
                )
            if self.unit_interval and not 0 <= number <= 1:
                self.fail(f"{number:g} must lie in [0, 1]{self._meaning()}; {expected}", param, ctx)
        if self.pair and len(numbers) == 1:
            numbers = numbers * 2
        return tuple(numbers)

    def _meaning(self) -> str:
        return f" ({self.meaning})" if self.meaning else ""


class Size2D(click.ParamType):  # type: ignore[type-arg]
    """Two whole numbers ``AxB``, each >= ``minimum``: a feature map or an image size."""

    def __init__(self, metavar: str, example: str, meaning: str, minimum: int = 1) -> None:
        self.metavar = metavar
        self.example = example
        self.meaning = meaning
        self.minimum = minimum
        self.name = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        expected = f"expected {self.metavar} ({self.meaning}), e.g. {self.example}"
        match = _BY.match(str(value))
        if not match:
            self.fail(f"{value!r} is not {self.metavar}; {expected}", param, ctx)
        digits = re.compile(r"^[0-9]+$")
        if not (digits.match(match.group(1)) and digits.match(match.group(2))):
            self.fail(f"{value!r} needs two whole numbers; {expected}", param, ctx)
        a, b = int(match.group(1)), int(match.group(2))
        if a < self.minimum or b < self.minimum:
            self.fail(f"{value!r}: both must be at least {self.minimum}; {expected}", param, ctx)
        return a, b


class Number(FloatList):
    """One finite number."""

    def convert(  # type: ignore[override]
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        return super().convert(value, param, ctx)[0]


class WidthHeightPairs(click.ParamType):  # type: ignore[type-arg]
    """``(width, height)`` pairs in pixels: ``10x13,16x30,33x23`` (YOLO anchors)."""

    name = "WxH,..."

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "WxH,WxH,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[tuple[float, float], ...]:
        if isinstance(value, tuple):
            return value
        expected = "expected WxH pairs in pixels, e.g. 10x13,16x30,33x23"
        pairs = []
        for part in _SEP.split(str(value).strip()):
            match = _BY.match(part)
            w = _float(match.group(1)) if match else None
            h = _float(match.group(2)) if match else None
            if w is None or h is None or not (math.isfinite(w) and math.isfinite(h)):
                self.fail(f"{part!r} in {value!r} is not WxH; {expected}", param, ctx)
            if w <= 0 or h <= 0:
                self.fail(f"{part!r}: width and height must be positive; {expected}", param, ctx)
            pairs.append((w, h))
        return tuple(pairs)


class Cell(click.ParamType):  # type: ignore[type-arg]
    """A feature-map cell ``ROW,COL`` (zero-based)."""

    name = "ROW,COL"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "ROW,COL"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        expected = "expected ROW,COL (zero-based row and column of the feature map), e.g. 3,5"
        parts = _SEP.split(str(value).strip())
        try:
            row, col = (int(p) for p in parts)
        except ValueError:
            self.fail(f"{value!r} is not ROW,COL; {expected}", param, ctx)
        if row < 0 or col < 0:
            self.fail(f"{value!r}: row and column start at 0; {expected}", param, ctx)
        return row, col


SIZES = FloatList(
    "S1,S2,...", "0.2,0.5", positive=True, meaning="a size is a fraction of the image height"
)
RATIOS = FloatList(
    "R1,R2,...",
    "1,4,0.25",
    positive=True,
    meaning="a ratio is width / height",
    allow_empty=True,  # '' gives a level no ratios (torchvision-ssd); the convention decides
)
STEPS_YX = FloatList("SY,SX", "0.0625,0.0625", positive=True, meaning="steps", pair=True)
OFFSETS = FloatList("OY,OX", "0.5,0.5", count=2, unit_interval=True, meaning="a fraction of a step")
DELTAS = FloatList("DX,DY,DW,DH", "0.1,-0.2,0.3,0", count=4)
VARIANCES = FloatList("V0,V1,V2,V3", "0.1,0.1,0.2,0.2", count=4, positive=True)
FEATURE_MAP = Size2D("ROWSxCOLS", "16x16", "rows x cols, as in an NCHW tensor")
IMAGE_SIZE = Size2D("WxH", "640x480", "width x height in pixels, as image tools write it")
CELL = Cell()

# How the command line parses each kind of convention option (see conventions.base).
KIND_TYPES: dict[str, click.ParamType] = {  # type: ignore[type-arg]
    "floats": FloatList("N1,N2,...", "0.5,1,2"),
    # a per-level list may be '' for a level with no values; the convention decides
    "level_floats": FloatList("N1,N2,...", "0.5,1,2", allow_empty=True),
    "float": Number("N", "0.5", count=1),
    "int": click.IntRange(min=0),
    "yx": FloatList("Y,X", "16,16 (one number for both)", pair=True),
    "whs": WidthHeightPairs(),
}
