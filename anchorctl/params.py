"""click parameter types: every number and shape a user types is checked here, at the edge.

A bad value fails with exit code 2 and one line that names the option and quotes the
expected form (``--feature-map: '16*16' is not ROWSxCOLS, e.g. 16x16``). This module imports
click only, so ``anchorctl --help`` stays fast.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable, Sequence
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
    ``unit_interval`` demands finite values in [0, 1]; ``empty`` reads ``""`` as no numbers
    (a level with no ratios: torchvision's ``DefaultBoxGenerator([[2], []])``).
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
        empty: bool = False,
    ) -> None:
        self.empty = empty
        self.metavar = metavar
        self.example = example
        self.count = count
        self.pair = pair  # one or two numbers, returned as a (y, x) pair
        self.positive = positive
        self.unit_interval = unit_interval
        self.meaning = meaning
        self.name = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if self.empty and not text:
            return ()
        parts = [p for p in _SEP.split(text)] if text else []
        expected = f"expected {self.metavar}{self._meaning()}, e.g. {self.example}"
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
                self.fail(f"{number:g} must be greater than 0; {expected}", param, ctx)
            if self.unit_interval and not 0 <= number <= 1:
                self.fail(f"{number:g} must lie in [0, 1]; {expected}", param, ctx)
        if self.pair and len(numbers) == 1:
            numbers = numbers * 2
        return tuple(numbers)

    def _meaning(self) -> str:
        return f" ({self.meaning})" if self.meaning else ""


class Size2D(click.ParamType):  # type: ignore[type-arg]
    """Two whole numbers ``AxB``, each >= ``minimum``: a feature map or an image size.

    With ``square`` one number ``N`` also reads as ``NxN`` (a square network input, as
    MMDetection's SSD ``input_size=300`` and YOLO's ``--img 640`` give it).
    """

    def __init__(
        self, metavar: str, example: str, meaning: str, minimum: int = 1, square: bool = False
    ) -> None:
        self.metavar = metavar
        self.example = example
        self.meaning = meaning
        self.minimum = minimum
        self.square = square
        self.name = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        expected = f"expected {self.metavar} ({self.meaning}), e.g. {self.example}"
        text = str(value).strip()
        if self.square and re.fullmatch(r"[0-9]+", text):
            text = f"{text}x{text}"
        match = _BY.match(text)
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


STEPS_YX = FloatList("SY,SX", "0.0625,0.0625", positive=True, meaning="steps", pair=True)
OFFSETS = FloatList("OY,OX", "0.5,0.5", count=2, unit_interval=True, meaning="a fraction of a step")
DELTAS = FloatList("DX,DY,DW,DH", "0.1,-0.2,0.3,0", count=4)
VARIANCES = FloatList("V0,V1,V2,V3", "0.1,0.1,0.2,0.2", count=4, positive=True)
FEATURE_MAP = Size2D("ROWSxCOLS", "16x16", "rows x cols, as in an NCHW tensor")
# The network input the anchors are laid on (every command's --input-size).
INPUT_SIZE = Size2D("WxH", "640x480", "network input width x height in pixels", square=True)
# A data set's own image size (coverage and suggest, for YOLO labels without their images).
IMAGE_SIZE = Size2D("WxH", "640x480", "width x height in pixels, as image tools write it")
IOU = click.FloatRange(0, 1)
IOU_POSITIVE = click.FloatRange(0, 1, min_open=True)
# YOLO's anchor_t: a box and an anchor match when each side is within 1/T..T of the other's.
ANCHOR_T = click.FloatRange(min=1, min_open=True)


class IouOrList(click.ParamType):  # type: ignore[type-arg]
    """``--iou T`` (one IoU in [0, 1]); a list ``T1,T2,...`` is read too, as the thresholds
    list coverage took under this name before ``--thresholds`` (returned as a tuple)."""

    name = "T"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "T"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | tuple[float, ...]:
        if isinstance(value, (float, tuple)):
            return value
        values = THRESHOLDS.convert(value, param, ctx)
        return values if "," in str(value) else values[0]


THRESHOLDS = FloatList("T1,T2,...", "0.3,0.5,0.7", unit_interval=True, meaning="IoU thresholds")
CELL = Cell()

# How the command line spells each kind of convention option (see conventions.base).
KIND_METAVARS = {
    "floats": "N1,N2,...",
    "float": "N",
    "int": "N",
    "yx": "Y,X",
    "whs": "WxH,...",
    "flag": "",
}
_KIND_EXAMPLES = {
    "floats": "0.5,1,2",
    "float": "0.5",
    "int": "3",
    "yx": "16,16 (one number for both)",
    "whs": "10x13,16x30,33x23",
}


def kind_type(
    kind: str, metavar: str = "", example: str = "", meaning: str = "", empty: bool = False
) -> click.ParamType:  # type: ignore[type-arg]
    """The click type that reads one value of a convention option of ``kind``.

    ``empty``: a ``floats`` value may be ``""``, an empty list (one level's, where the
    convention allows it).

    ``metavar``, ``example`` and ``meaning`` word its error messages in the chosen
    convention's terms (``--ratios: 'x' is not a number; expected R1,R2,... (torchvision: a
    ratio is height / width), e.g. 0.5,1,2``).
    """
    metavar = metavar or KIND_METAVARS[kind]
    example = example or _KIND_EXAMPLES.get(kind, "")
    if kind == "floats":
        return FloatList(metavar, example, meaning=meaning, empty=empty)
    if kind == "float":
        return Number(metavar, example, count=1, meaning=meaning)
    if kind == "int":
        return WholeNumber(metavar, example, meaning)
    if kind == "yx":
        return FloatList(metavar, example, pair=True, meaning=meaning)
    if kind == "whs":
        return WidthHeightPairs()
    raise ValueError(f"no command-line type for option kind {kind!r}")


class WholeNumber(click.ParamType):  # type: ignore[type-arg]
    """A whole number >= 0."""

    def __init__(self, metavar: str, example: str, meaning: str = "") -> None:
        self.metavar = metavar
        self.example = example
        self.meaning = meaning
        self.name = metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]+", text):
            meaning = f" ({self.meaning})" if self.meaning else ""
            self.fail(
                f"{value!r} is not a whole number >= 0; expected {self.metavar}{meaning}, "
                f"e.g. {self.example}",
                param,
                ctx,
            )
        return int(text)


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among names declared in a module the command line must not import up front.

    ``load`` returns the names (``anchorctl.annotations.records.FORMATS``, say); it runs the
    first time the choices are needed (parsing the option, or showing its help), so naming
    the option costs nothing for ``anchorctl --help``.
    """

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._names: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(self._load())
        return self._names

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        self._names = tuple(value)


def lazy_names(module: str, attribute: str) -> Callable[[], Sequence[str]]:
    """A loader of ``module.attribute`` (a sequence of names) for :class:`LazyChoice`."""

    def load() -> Sequence[str]:
        names: Sequence[str] = getattr(importlib.import_module(module), attribute)
        return names

    return load


class FilePath(click.Path):
    """``click.Path`` whose value is a :class:`pathlib.Path`, as ``path_type=Path`` gives, with
    :mod:`pathlib` imported when a path is given rather than where the option is declared
    (with what it pulls in, pathlib is about 4% of ``list``'s start-up)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        path = super().convert(value, param, ctx)
        if isinstance(path, Path) or self.type is not None:  # a path_type given: click's
            return path
        return Path(os.fsdecode(path))


class InputPath(FilePath):
    """A path the command reads: recorded by identity (:mod:`anchorctl.inputs`), so that no
    output of the run can replace it, however the two are spelled."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        from anchorctl import inputs
        from anchorctl.errors import AnchorError

        try:
            inputs.register(path)
        except AnchorError as exc:
            self.fail(str(exc), param, ctx)
        return path
