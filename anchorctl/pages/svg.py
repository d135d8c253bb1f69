"""Charts written directly as SVG text: axes (linear or log), points, lines, bars and shapes.

No plotting library: a chart is a few hundred bytes of markup plus its data, which keeps the
report one small file that opens anywhere. Coordinates are rounded to 0.1 px. Many points go
into **one** ``<path>`` of zero-length segments with round caps (``M x y h0``), so 20,000
points are one DOM node a browser paints at once, about 14 bytes each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def attr(value: object) -> str:
    """A value escaped for an XML attribute."""
    return escape(str(value), quote=True)


def num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def label(value: float) -> str:
    """A tick label: ``0.5``, ``32``, ``1k``, ``2.5k``."""
    if value >= 1000 and value % 100 == 0:
        return f"{value / 1000:g}k"
    return f"{value:g}"


@dataclass
class Plot:
    """A chart area of ``width`` x ``height`` px with axes mapping data to pixels.

    ``x_range`` and ``y_range`` are the data limits; ``log_x``/``log_y`` make the axis
    logarithmic (limits must then be > 0). ``margin`` is ``(left, right, top, bottom)`` px.
    """

    width: int
    height: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    log_x: bool = False
    log_y: bool = False
    margin: tuple[int, int, int, int] = (56, 16, 16, 44)
    parts: list[str] = field(default_factory=list)

    def x(self, value: float) -> float:
        left, right, _, _ = self.margin
        return left + self._unit(value, self.x_range, self.log_x) * (self.width - left - right)

    def y(self, value: float) -> float:
        _, _, top, bottom = self.margin
        span = self.height - top - bottom
        return self.height - bottom - self._unit(value, self.y_range, self.log_y) * span

    @staticmethod
    def _unit(value: float, limits: tuple[float, float], log: bool) -> float:
        lo, hi = limits
        if log:
            value, lo, hi = (math.log10(max(v, 1e-300)) for v in (value, lo, hi))
        return (value - lo) / (hi - lo) if hi != lo else 0.5

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def axes(
        self,
        x_title: str,
        y_title: str,
        x_ticks: Sequence[float] | None = None,
        y_ticks: Sequence[float] | None = None,
        x_format: str = "",
    ) -> None:
        """The frame, grid lines, tick labels and axis titles."""
        left, right, top, bottom = self.margin
        x0, x1 = left, self.width - right
        y0, y1 = top, self.height - bottom
        xt = list(x_ticks) if x_ticks is not None else ticks(*self.x_range, self.log_x)
        yt = list(y_ticks) if y_ticks is not None else ticks(*self.y_range, self.log_y)
        out = [f'<g class="axes" fill="#444" font-size="11" style="{FONT}">']
        grid = []
        for v in xt:
            px = self.x(v)
            grid.append(f"M{num(px)} {y0}V{y1}")
            text = (x_format.format(v) if x_format else label(v)) if v is not None else ""
            out.append(f'<text x="{num(px)}" y="{y1 + 15}" text-anchor="middle">{text}</text>')
        for v in yt:
            py = self.y(v)
            grid.append(f"M{x0} {num(py)}H{x1}")
            out.append(f'<text x="{x0 - 5}" y="{num(py + 4)}" text-anchor="end">{label(v)}</text>')
        out.insert(0, f'<path d="{"".join(grid)}" stroke="#e3e3e3" fill="none"/>')
        out.append(
            f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
            'stroke="#999"/>'
        )
        out.append(
            f'<text x="{(x0 + x1) / 2:.0f}" y="{self.height - 6}" text-anchor="middle" '
            f'font-size="12">{escape(x_title)}</text>'
        )
        out.append(
            f'<text transform="translate(13 {(y0 + y1) / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle" font-size="12">{escape(y_title)}</text>'
        )
        out.append("</g>")
        self.parts[:0] = out  # under the data

    def clip_id(self, name: str) -> str:
        """A clip path to the plot area (``url(#name)``), added once."""
        left, right, top, bottom = self.margin
        self.add(
            f'<clipPath id="{attr(name)}"><rect x="{left}" y="{top}" '
            f'width="{self.width - left - right}" height="{self.height - top - bottom}"/>'
            "</clipPath>"
        )
        return f"url(#{name})"

    def points(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        colour: str,
        size: float = 3.5,
        cls: str = "",
        opacity: float = 0.55,
    ) -> None:
        """Round dots, all in one path."""
        d = "".join(f"M{num(self.x(a))} {num(self.y(b))}h0" for a, b in zip(xs, ys, strict=True))
        if d:
            self.add(
                f'<path class="{attr(cls)}" d="{d}" stroke="{colour}" stroke-width="{size}" '
                f'stroke-linecap="round" stroke-opacity="{opacity}" fill="none"/>'
            )

    def crosses(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        colour: str,
        size: float = 3.0,
        cls: str = "",
        opacity: float = 1.0,
    ) -> None:
        """Small x marks, all in one path (a second cue besides colour)."""
        d2 = num(2 * size)
        d = "".join(
            f"M{num(self.x(a) - size)} {num(self.y(b) - size)}l{d2} {d2}m0 -{d2}l-{d2} {d2}"
            for a, b in zip(xs, ys, strict=True)
        )
        if d:
            width = 1.8 if size >= 3 else 1.2
            self.add(
                f'<path class="{attr(cls)}" d="{d}" stroke="{colour}" stroke-width="{width}" '
                f'stroke-opacity="{opacity}" fill="none"/>'
            )

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        colour: str,
        width: float = 2.0,
        dash: str = "",
        cls: str = "",
    ) -> None:
        d = "".join(
            f"{'M' if i == 0 else 'L'}{num(self.x(a))} {num(self.y(b))}"
            for i, (a, b) in enumerate(zip(xs, ys, strict=True))
        )
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<path class="{attr(cls)}" d="{d}" stroke="{colour}" stroke-width="{width}" '
            f'fill="none"{dashing}/>'
        )

    def svg(self, label_text: str, cls: str = "chart", extra: str = "") -> str:
        """The whole chart as an inline ``<svg>`` that scales to its container's width."""
        return (
            f'<svg class="{attr(cls)}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{attr(label_text)}" xmlns="http://www.w3.org/2000/svg"{extra}>'
            + "".join(self.parts)
            + "</svg>"
        )


def ticks(lo: float, hi: float, log: bool = False) -> list[float]:
    """Round tick values between ``lo`` and ``hi``: 1-2-5 steps, or 1, 2, 5 x 10^k on a log
    axis (only powers of ten when the range spans more than three decades)."""
    if log:
        lo, hi = max(lo, 1e-300), max(hi, 1e-300)
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        steps = (1.0,) if last - first > 3 else (1.0, 2.0, 5.0)
        out = [m * 10.0**e for e in range(first, last + 1) for m in steps]
        return [v for v in out if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / 6
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    count = int((hi - start) / step + 1e-9) + 1
    return [round(start + i * step, 10) for i in range(count)]


def legend_row(items: Sequence[tuple[str, str, str]]) -> str:
    """An HTML legend: ``(kind, colour, text)`` with kind ``dot``, ``cross``, ``anchor``,
    ``line``, ``dash`` or ``area``; each item's swatch is a tiny inline SVG."""
    out = ['<div class="legend">']
    for kind, colour, text in items:
        out.append(f'<span class="item">{swatch(kind, colour)}{escape(text)}</span>')
    out.append("</div>")
    return "".join(out)


def swatch(kind: str, colour: str) -> str:
    c = attr(colour)
    body = {
        "dot": f'<circle cx="7" cy="7" r="3.5" fill="{c}"/>',
        "cross": f'<path d="M3 3l8 8m0-8l-8 8" stroke="{c}" stroke-width="1.6"/>',
        "anchor": f'<path d="M7 1.5l5.5 5.5l-5.5 5.5l-5.5-5.5z" fill="{c}" stroke="#222"/>',
        "suggested": f'<path d="M7 1.5l5.5 5.5l-5.5 5.5l-5.5-5.5z" fill="#fff" stroke="{c}" '
        'stroke-width="2"/>',
        "line": f'<path d="M1 7h12" stroke="{c}" stroke-width="2.5"/>',
        "dash": f'<path d="M1 7h12" stroke="{c}" stroke-width="2.5" stroke-dasharray="3 2"/>',
        "area": f'<rect x="1.5" y="3" width="11" height="8" fill="{c}" fill-opacity="0.25" '
        f'stroke="{c}"/>',
    }[kind]
    return f'<svg class="sw" viewBox="0 0 14 14" width="14" height="14">{body}</svg>'
