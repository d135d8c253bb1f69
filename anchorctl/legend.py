"""Legends for drawn pictures, legible at any image size and never hiding the picture.

A legend is a title and a list of entries, each a swatch (a slot's colour, a ground-truth
style, a dashed anchor) and a line of text. :func:`compose` lays it out and puts it where it
hides nothing:

* **Text scales with the picture** (:func:`font_size`), from a thumbnail (never under
  :data:`MIN_FONT` px) to a 6000 x 4000 photo; every line is wrapped at its separators
  (`` · ``, ``, ``, spaces) to the room it has, so no text is ever cut off.
* **Inside** a corner of the image, on a translucent panel, only when the panel covers no
  drawn anchor or box (the ``ink`` mask) and at most :data:`MAX_INSIDE` of the image's area.
* **Otherwise beside** (portrait images) **or below** (landscape ones), on an opaque panel:
  the picture grows and the image itself stays whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont

from anchorctl import palette

MIN_FONT = 12  # px: smaller text is not read, whatever the picture
MAX_FONT = 96
MAX_INSIDE = 0.25  # of the image's area: a larger legend goes beside or below
PANEL_ALPHA = 170  # of 255: an inside panel darkens what is under it
SWATCHES = ("slot", "covered", "missed", "anchor", "none")

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Entry:
    """One legend line: a ``swatch`` (one of :data:`SWATCHES`) in ``colour``, then ``text``."""

    text: str
    swatch: str = "slot"
    colour: palette.RGB = palette.TEXT


@dataclass(frozen=True)
class Layout:
    """A laid-out legend: the font, the wrapped lines and the panel size in pixels.

    ``lines`` are ``(entry index or -1 for the title, text, indented)``: an entry's wrapped
    continuation lines are indented past its swatch.
    """

    font: Font
    font_size: int
    pad: int
    line_height: int
    lines: tuple[tuple[int, str, bool], ...]
    size: tuple[int, int]
    entries: tuple[Entry, ...] = ()

    @property
    def title_lines(self) -> tuple[str, ...]:
        return tuple(text for index, text, _ in self.lines if index < 0)


@dataclass(frozen=True)
class Placement:
    """Where :func:`compose` put the legend: ``where`` is ``inside``, ``right``, ``below`` or
    ``none``; ``box`` is the panel ``(x0, y0, x1, y1)`` (exclusive ends) in the output picture;
    ``covered`` the share of the image's own pixels under the panel (0 outside)."""

    where: str
    box: tuple[int, int, int, int]
    covered: float


def font_size(size: tuple[int, int]) -> int:
    """Legend text height in pixels for a picture of ``(width, height)``.

    A fiftieth of the geometric mean of the sides, within ``MIN_FONT..MAX_FONT``: 12 px on a
    300 x 300 picture, 20 on 1200 x 800, 96 on 6000 x 4000.
    """
    w, h = size
    return max(MIN_FONT, min(MAX_FONT, round(math.sqrt(w * h) / 50)))


def load_font(size: int) -> Font:
    """Pillow's built-in scalable font at ``size`` px (Pillow >= 10.1 with FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


_PROBE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def text_width(text: str, font: Font) -> float:
    return float(_PROBE.textlength(text, font=font))


def wrap(text: str, font: Font, room: float) -> list[str]:
    """``text`` broken into lines no wider than ``room`` px.

    Breaks at `` · `` first, then after ``, ``, then at spaces, keeping each separator at the
    end of its line; a word wider than ``room`` on its own is split between characters.
    """
    if text_width(text, font) <= room:
        return [text]
    for sep in (" · ", ", ", " "):
        if sep in text:
            parts = text.split(sep)
            pieces = [p + sep.rstrip() for p in parts[:-1]] + [parts[-1]]
            return _greedy(pieces, font, room)
    out, line = [], ""
    for ch in text:
        if line and text_width(line + ch, font) > room:
            out.append(line)
            line = ""
        line += ch
    return [*out, line] if line else out


def _greedy(pieces: list[str], font: Font, room: float) -> list[str]:
    lines: list[str] = []
    for piece in pieces:
        joined = f"{lines[-1]} {piece}" if lines else piece
        if lines and text_width(joined, font) <= room:
            lines[-1] = joined
        elif text_width(piece, font) <= room:
            lines.append(piece)
        else:
            lines.extend(wrap(piece, font, room))
    return lines


def layout(title: str, entries: Sequence[Entry], size: int, room: float | None) -> Layout:
    """The legend laid out in ``size`` px text, its lines wrapped to ``room`` px of panel width
    (``None``: no limit)."""
    font = load_font(size)
    pad = max(2, size // 3)
    indent = size + pad
    limit = math.inf if room is None else max(room - 2 * pad, 4 * size)
    lines: list[tuple[int, str, bool]] = []
    if title:
        lines += [(-1, part, False) for part in wrap(title, font, limit)]
    for i, entry in enumerate(entries):
        parts = wrap(entry.text, font, limit - indent)
        lines += [(i, part, n > 0) for n, part in enumerate(parts)]
    widths = [text_width(text, font) + (indent if index >= 0 else 0) for index, text, _ in lines]
    line_h = size + pad
    width = math.ceil(max(widths, default=0)) + 2 * pad + 1
    height = line_h * len(lines) + 2 * pad
    return Layout(font, size, pad, line_h, tuple(lines), (width, height), tuple(entries))


def compose(
    canvas: Image.Image,
    ink: Ink | None,
    title: str,
    entries: Sequence[Entry],
    size: int | None = None,
) -> tuple[Image.Image, Placement]:
    """``canvas`` with its legend, inside a free corner or on a panel beside or below.

    ``ink`` tells where the anchors and boxes were drawn (:class:`Ink`), or ``None`` when
    nothing was (the grid does not count: covering
    grid lines hides nothing the legend does not say). Returns the picture and where the
    legend went.
    """
    w, h = canvas.size
    if not title and not entries:
        return canvas, Placement("none", (0, 0, 0, 0), 0.0)
    size = size or font_size(canvas.size)
    inside = layout(title, entries, size, min(w, max(w // 2, 24 * size)))
    corner = _free_corner(canvas.size, inside.size, ink)
    if corner is not None:
        x, y = corner
        pw, ph = inside.size
        panel = Image.new("RGBA", inside.size, (0, 0, 0, PANEL_ALPHA))
        _paint(panel, inside)
        canvas.paste(panel, (x, y), panel)
        return canvas, Placement("inside", (x, y, x + pw, y + ph), pw * ph / (w * h))
    if h > w:  # portrait: a column beside
        beside = layout(title, entries, size, max(w, 30 * size))
        pw, ph = beside.size
        out = Image.new("RGB", (w + pw, max(h, ph)), palette.PANEL)
        out.paste(canvas, (0, 0))
        panel = Image.new("RGBA", beside.size, (*palette.PANEL, 255))
        _paint(panel, beside)
        out.paste(panel, (w, 0), panel)
        return out, Placement("right", (w, 0, w + pw, ph), 0.0)
    below = layout(title, entries, size, w)
    pw, ph = below.size
    out = Image.new("RGB", (max(w, pw), h + ph), palette.PANEL)
    out.paste(canvas, (0, 0))
    panel = Image.new("RGBA", below.size, (*palette.PANEL, 255))
    _paint(panel, below)
    out.paste(panel, (0, h), panel)
    return out, Placement("below", (0, h, pw, h + ph), 0.0)


def _free_corner(
    size: tuple[int, int], panel: tuple[int, int], ink: Ink | None
) -> tuple[int, int] | None:
    """The first corner (top-left, top-right, bottom-left, bottom-right) where a panel of
    ``panel`` px fits without covering ink or too much of the image, else ``None``."""
    w, h = size
    pw, ph = panel
    if pw > w or ph > h or pw * ph > MAX_INSIDE * w * h:
        return None
    for x, y in ((0, 0), (w - pw, 0), (0, h - ph), (w - pw, h - ph)):
        if ink is None or not ink.covers((x, y, x + pw, y + ph)):
            return x, y
    return None


@dataclass(frozen=True)
class Ink:
    """Where drawing changed a picture: ``before`` and ``after`` are the same picture without
    and with the anchors and boxes (compared only in the rectangles asked about, so a
    6000 x 4000 picture needs no full-size difference image)."""

    before: Image.Image
    after: Image.Image

    def covers(self, box: tuple[int, int, int, int]) -> bool:
        """Whether any pixel of ``box`` (``x0, y0, x1, y1``, ends exclusive) was drawn on."""
        diff = ImageChops.difference(self.before.crop(box), self.after.crop(box))
        return diff.getbbox() is not None


def _paint(panel: Image.Image, lay: Layout) -> None:
    """Write the legend's lines and swatches onto ``panel`` (RGBA, ``lay.size``)."""
    draw = ImageDraw.Draw(panel)
    pad, line_h, swatch = lay.pad, lay.line_height, lay.font_size
    for n, (index, text, indented) in enumerate(lay.lines):
        y = pad + line_h * n
        x = pad
        if index >= 0:
            if not indented:
                draw_swatch(draw, lay.entries[index], (x, y + 1, x + swatch - 2, y + swatch - 1))
            x += swatch + pad
        draw.text((x, y), text, fill=palette.TEXT, font=lay.font)


def draw_swatch(draw: ImageDraw.ImageDraw, entry: Entry, box: tuple[int, int, int, int]) -> None:
    """The swatch of ``entry`` in ``box`` (inclusive pixel rectangle)."""
    x0, y0, x1, y1 = box
    side = max(1, x1 - x0)
    width = max(1, side // 6)
    if entry.swatch == "slot":
        draw.rectangle(box, fill=entry.colour)
    elif entry.swatch in ("covered", "missed"):
        draw.rectangle(box, outline=entry.colour, width=width)
        draw_mark(draw, entry.swatch == "covered", box, entry.colour, width)
    elif entry.swatch == "anchor":
        y = (y0 + y1) // 2
        dash = max(2, side // 4)
        for x in range(x0, x1 + 1, 2 * dash):
            draw.line([(x, y), (min(x + dash - 1, x1), y)], fill=entry.colour, width=width)


def draw_mark(
    draw: ImageDraw.ImageDraw,
    tick: bool,
    box: tuple[int, int, int, int],
    colour: palette.RGB,
    width: int,
) -> None:
    """A tick (covered) or a cross (missed) drawn as lines inside ``box``: shapes, not glyphs,
    so they read the same in any font and to anyone who cannot tell red from green."""
    x0, y0, x1, y1 = box
    inset = max(1, (x1 - x0) // 5)
    a, b, c, d = x0 + inset, y0 + inset, x1 - inset, y1 - inset
    if tick:
        draw.line([(a, (b + d) // 2), ((a + c) // 2 - 1, d), (c, b)], fill=colour, width=width)
    else:
        draw.line([(a, b), (c, d)], fill=colour, width=width)
        draw.line([(a, d), (c, b)], fill=colour, width=width)
