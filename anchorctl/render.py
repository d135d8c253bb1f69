"""Drawing anchors onto images with Pillow. Geometry comes in as pixel boxes; nothing here
knows how anchors are made.

* The input image is never mutated: drawing happens on a converted copy.
* Colour is looked up by slot, so slot 2 has the same colour in every picture and legend.
* Line width and font size follow the image size, so a 300 px thumbnail and a 4000 px photo
  both read well.
* Pixel ``i`` spans ``[i, i + 1)``. A box is outlined on the first and last pixel column and
  row it covers, so a box 100 px wide is 100 columns wide, outline included, and a box that
  ends on the image's right edge has its right side in the last column (see
  :func:`pixel_boxes`).
"""

from __future__ import annotations

import colorsys
import io
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from anchorctl.errors import AnchorError

# Colour-blind-friendly qualitative palette (Okabe & Ito), then a few more distinct hues.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (160, 255, 90),  # not white: the grid is white
    (153, 153, 255),
    (255, 99, 99),
)
GRID_COLOUR = (255, 255, 255)
FILL_ALPHA = 56  # of 255: anchors stay see-through, overlaps show as denser colour
EDGE_SNAP = 0.01  # px: an edge this close to a pixel boundary is on it (float32 rounding)
JPEG_MAX_SIDE = 65_500  # libjpeg's limit
_CHUNK = 1 << 16  # boxes turned into Python lists at a time, to bound memory
_GOLDEN = 0.6180339887498949


def slot_colour(slot: int) -> tuple[int, int, int]:
    """The colour of a slot, the same in every picture.

    Slots past the palette get hues spaced by the golden angle, so every slot of a cell has
    its own colour however many there are.
    """
    if slot < len(PALETTE):
        return PALETTE[slot]
    hue = ((slot - len(PALETTE)) * _GOLDEN + 0.05) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def line_width(size: tuple[int, int]) -> int:
    """Outline width in pixels for an image of ``(width, height)``: 1 px per 400 px, min 1."""
    return max(1, round(min(size) / 400))


def load_image(path: str | Path) -> Image.Image:
    """Open ``path`` as an 8-bit RGB image, upright (EXIF orientation applied).

    Any mode Pillow reads is accepted: palette and alpha images are laid on white,
    16- and 32-bit greyscale is scaled to 8 bits, CMYK is converted. Raises
    :class:`AnchorError` with a one-line reason for a missing, unreadable, corrupt, truncated
    or oversized (decompression-bomb) file.
    """
    name = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                opened.load()
                ImageOps.exif_transpose(opened, in_place=True)
                return _rgb(opened)
    except FileNotFoundError:
        raise AnchorError(f"cannot read image {name!r}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"cannot read image {name!r}: it is a folder") from None
    except PermissionError:
        raise AnchorError(f"cannot read image {name!r}: permission denied") from None
    except UnidentifiedImageError:
        raise AnchorError(f"cannot read image {name!r}: not an image Pillow can read") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise AnchorError(
            f"cannot read image {name!r}: larger than Pillow's decompression-bomb limit "
            f"of {Image.MAX_IMAGE_PIXELS or 0:,} pixels"
        ) from None
    except MemoryError:
        raise AnchorError(f"cannot read image {name!r}: not enough memory to decode it") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise AnchorError(f"cannot read image {name!r}: {_first_line(exc)}") from None
    except Exception as exc:  # a corrupt file can make a decoder raise nearly anything
        reason = f"corrupt image ({type(exc).__name__}: {_first_line(exc)})"
        raise AnchorError(f"cannot read image {name!r}: {reason}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image`` for drawing on."""
    converted = _rgb(image)
    return converted.copy() if converted is image else converted


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` itself when it is RGB already, else an 8-bit RGB conversion."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            scaled = values / 257.0
        else:
            low, high = float(values.min()), float(values.max())
            scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        grey = Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8))
        return grey.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        if image.mode == "La":
            image = image.convert("LA")  # Pillow converts premultiplied LA only to LA
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class Grid:
    """Feature-map cell boundaries and centres in pixels.

    ``xs`` and ``ys`` are the boundary lines; ``centers`` is ``(M, 2)`` ``(x, y)`` points.
    """

    xs: Sequence[float]
    ys: Sequence[float]
    centers: npt.NDArray[np.float64]


def pixel_boxes(
    boxes: npt.ArrayLike, size: tuple[int, int], width: int = 1
) -> npt.NDArray[np.int64]:
    """``(N, 4)`` pixel-space boxes as the inclusive pixel rectangles Pillow draws.

    ``(x0, y0, x1, y1)`` are the first and last column and row each box covers: ``x0 =
    floor(xmin)`` and ``x1 = ceil(xmax) - 1`` (an edge within :data:`EDGE_SNAP` of a pixel
    boundary counts as on it; a box thinner than a pixel keeps one column or row). Values far
    outside an image of ``size`` are clamped to just outside it, which draws the same pixels.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    low = np.floor(b[:, :2] + EDGE_SNAP)
    high = np.maximum(np.ceil(b[:, 2:] - EDGE_SNAP) - 1, low)
    out = np.concatenate([low, high], axis=1)
    w, h = size
    margin = width + 1
    np.clip(out[:, 0::2], -margin, w - 1 + margin, out=out[:, 0::2])
    np.clip(out[:, 1::2], -margin, h - 1 + margin, out=out[:, 1::2])
    return out.astype(np.int64)


def draw_anchors(
    image: Image.Image,
    boxes: npt.NDArray[np.floating],
    slots: npt.NDArray[np.integer],
    legend: Sequence[str],
    title: str,
    grid: Grid | None = None,
    fill: bool = False,
) -> Image.Image:
    """A copy of ``image`` with ``boxes`` drawn on it.

    ``boxes`` is ``(N, 4)`` ``(xmin, ymin, xmax, ymax)`` in pixels of ``image``; ``slots``
    ``(N,)`` picks each box's colour; ``legend[i]`` describes slot ``i``.
    """
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    width = line_width(canvas.size)
    if grid is not None:
        _draw_grid(canvas, grid, width)
    slots = np.asarray(slots)
    n_colours = max(len(legend), int(slots.max()) + 1 if slots.size else 0)
    colours = [slot_colour(i) for i in range(n_colours)]
    if fill:
        blend = ImageDraw.Draw(canvas, "RGBA")  # each fill is blended: overlaps look denser
        tints = [(*c, FILL_ALPHA) for c in colours]
        for rects, kinds in _visible_chunks(boxes, slots, canvas.size, width):
            for rect, slot in zip(rects, kinds, strict=True):
                blend.rectangle(rect, fill=tints[slot])
    rectangle = ImageDraw.Draw(canvas).rectangle
    for rects, kinds in _visible_chunks(boxes, slots, canvas.size, width):
        for rect, slot in zip(rects, kinds, strict=True):
            rectangle(rect, outline=colours[slot], width=width)
    _draw_legend(canvas, legend, title)
    return canvas


def _visible_chunks(
    boxes: npt.NDArray[np.floating],
    slots: npt.NDArray[np.integer],
    size: tuple[int, int],
    width: int,
) -> Iterator[tuple[list[list[int]], list[int]]]:
    """The boxes that touch the image, as pixel rectangles, a chunk at a time."""
    w, h = size
    for start in range(0, len(boxes), _CHUNK):
        rects = pixel_boxes(boxes[start : start + _CHUNK], size, width)
        seen = (rects[:, 2] >= 0) & (rects[:, 0] < w) & (rects[:, 3] >= 0) & (rects[:, 1] < h)
        yield rects[seen].tolist(), slots[start : start + _CHUNK][seen].tolist()


def _line_starts(edges: Sequence[float], extent: int, thin: int) -> list[int]:
    """First pixel of each ``thin``-pixel cell-boundary line that shows on the image.

    A boundary line lies in the pixels of the cell after it; the last boundary, which has
    no cell after it, lies in the last pixels of the cell before it, so a map that ends on
    the image's edge shows its closing line.
    """
    values = np.asarray(edges, dtype=np.float64)
    starts = np.floor(values + EDGE_SNAP)
    if len(values) > 1:
        starts[-1] = max(np.ceil(values[-1] - EDGE_SNAP) - thin, starts[-2])
    return [int(p) for p in starts if -thin < p < extent]


def _draw_grid(canvas: Image.Image, grid: Grid, width: int) -> None:
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    thin = max(1, width // 2)
    for x in _line_starts(grid.xs, w, thin):
        draw.rectangle((x, 0, x + thin - 1, h - 1), fill=GRID_COLOUR)
    for y in _line_starts(grid.ys, h, thin):
        draw.rectangle((0, y, w - 1, y + thin - 1), fill=GRID_COLOUR)
    r = max(1.5, width * 1.5)
    if min(_pitch(grid.xs), _pitch(grid.ys)) < 2 * r + 2:
        return  # dots this close would merge into a sheet; the lines already show the cells
    for x, y in grid.centers.tolist():
        if -r <= x <= w + r and -r <= y <= h + r:
            # Pillow's coordinates name pixels; the point x lies at pixel position x - 0.5.
            cx, cy = x - 0.5, y - 0.5
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=GRID_COLOUR)


def _pitch(edges: Sequence[float]) -> float:
    """The smallest gap between neighbouring boundaries (infinite for a single cell)."""
    return float(np.diff(np.asarray(edges, dtype=np.float64)).min()) if len(edges) > 1 else math.inf


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


@dataclass(frozen=True)
class LegendLayout:
    """Where the legend goes: a panel at the top-left corner, ``(width, height)`` pixels."""

    font: ImageFont.ImageFont | ImageFont.FreeTypeFont
    font_size: int
    pad: int
    line_height: int
    title_lines: tuple[str, ...]
    panel: tuple[int, int]


def legend_layout(size: tuple[int, int], legend: Sequence[str], title: str) -> LegendLayout:
    """The legend's font and panel for an image of ``size``.

    The title is split at its `` · `` separators onto as many lines as it needs to fit the
    image width; the panel is never larger than the image.
    """
    w, h = size
    font_size = max(10, min(w, h) // 45)
    font = _font(font_size)
    pad = max(2, font_size // 3)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    room = w - 2 * pad
    title_lines: list[str] = []
    for part in title.split(" · "):
        joined = f"{title_lines[-1]} · {part}" if title_lines else part
        if title_lines and probe.textlength(joined, font=font) <= room:
            title_lines[-1] = joined
        else:
            title_lines.append(part)
    widths = [probe.textlength(line, font=font) for line in title_lines]
    widths += [probe.textlength(line, font=font) + font_size + pad for line in legend]
    line_h = font_size + pad
    panel_w = int(max(widths) + 3 * pad) + 1
    panel_h = line_h * (len(title_lines) + len(legend)) + 2 * pad
    return LegendLayout(
        font, font_size, pad, line_h, tuple(title_lines), (min(panel_w, w), min(panel_h, h))
    )


def _draw_legend(canvas: Image.Image, legend: Sequence[str], title: str) -> None:
    """A translucent panel in the top-left corner: the title, then one line per slot."""
    if not title and not legend:
        return
    layout = legend_layout(canvas.size, legend, title)
    font, pad, line_h, swatch = layout.font, layout.pad, layout.line_height, layout.font_size
    panel = Image.new("RGBA", layout.panel, (0, 0, 0, 170))
    pdraw = ImageDraw.Draw(panel)
    for i, line in enumerate(layout.title_lines):
        pdraw.text((pad, pad + line_h * i), line, fill=(255, 255, 255), font=font)
    top = pad + line_h * len(layout.title_lines)
    for i, line in enumerate(legend):
        y = top + line_h * i
        pdraw.rectangle([pad, y + 1, pad + swatch - 2, y + swatch - 1], fill=slot_colour(i))
        pdraw.text((2 * pad + swatch, y), line, fill=(255, 255, 255), font=font)
    canvas.paste(panel, (0, 0), panel)


def write_image(image: Image.Image, handle: IO[bytes], fmt: str) -> None:
    """Encode ``image`` as ``fmt`` (``"PNG"`` or ``"JPEG"``) into ``handle``.

    Raises :class:`ValueError` for a picture JPEG cannot hold (over 65,500 px a side).
    """
    if fmt == "JPEG":
        if max(image.size) > JPEG_MAX_SIDE:
            raise ValueError(
                f"a JPEG holds at most {JPEG_MAX_SIDE:,} pixels a side and this image is "
                f"{image.width:,} x {image.height:,}; write a .png instead"
            )
        image.save(handle, format="JPEG", quality=92)
    else:
        image.save(handle, format="PNG")


def encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` as PNG or JPEG bytes."""
    buffer = io.BytesIO()
    write_image(image, buffer, fmt)
    return buffer.getvalue()


COVERED = (40, 200, 70)  # green: the box's best anchor reaches the IoU threshold
MISSED = (230, 40, 40)  # red: no anchor does


def _dashed_rectangle(
    draw: ImageDraw.ImageDraw,
    box: Sequence[float],
    colour: tuple[int, int, int],
    width: int,
    dash: int,
) -> None:
    """An outline of ``dash``-pixel strokes and gaps (Pillow has no dashed line)."""
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                               ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):  # fmt: skip
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // (2 * dash)) + 1)
        for i in range(steps):
            t0 = min(1.0, (2 * i * dash) / length) if length else 0.0
            t1 = min(1.0, ((2 * i + 1) * dash) / length) if length else 1.0
            if t0 >= 1.0:
                break
            draw.line(
                [
                    (ax + (bx - ax) * t0, ay + (by - ay) * t0),
                    (ax + (bx - ax) * t1, ay + (by - ay) * t1),
                ],
                fill=colour,
                width=width,
            )


def draw_ground_truth(
    image: Image.Image,
    boxes: npt.NDArray[np.floating],
    best: npt.NDArray[np.floating],
    ious: npt.NDArray[np.floating],
    threshold: float,
) -> Image.Image:
    """A copy of ``image`` with ground-truth ``boxes`` ``(N, 4)`` pixels coloured by coverage.

    Each box is green when its best anchor's IoU (``ious`` ``(N,)``) reaches ``threshold``,
    red otherwise; its best anchor ``best`` ``(N, 4)`` is drawn dashed in the same colour. A
    panel in the bottom-left corner lists the boxes with their IoUs.
    """
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    width = line_width(canvas.size) + 1
    draw = ImageDraw.Draw(canvas)
    dash = max(4, 3 * width)
    lines = []
    for i, (box, anchor, iou) in enumerate(
        zip(boxes.tolist(), best.tolist(), ious.tolist(), strict=True)
    ):
        colour = COVERED if iou >= threshold else MISSED
        draw.rectangle(_ordered(box), outline=colour, width=width)
        _dashed_rectangle(draw, anchor, colour, max(1, width - 1), dash)
        mark = "covered" if iou >= threshold else "missed"
        lines.append((colour, f"box {i}: best IoU {iou:.2f} ({mark} at {threshold:g})"))
    if lines:
        _draw_box_legend(canvas, lines)
    return canvas


def _ordered(box: Sequence[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _draw_box_legend(
    canvas: Image.Image, lines: Sequence[tuple[tuple[int, int, int], str]]
) -> None:
    w, h = canvas.size
    size = max(10, min(w, h) // 45)
    font = _font(size)
    pad = max(2, size // 3)
    probe = ImageDraw.Draw(canvas)
    text_w = max(probe.textlength(text, font=font) for _, text in lines)
    line_h = size + pad
    panel_w = min(w, int(text_w + size + 4 * pad))
    panel_h = min(h, int(line_h * len(lines) + 2 * pad))
    panel = Image.new("RGBA", (panel_w, panel_h), (0, 0, 0, 170))
    pdraw = ImageDraw.Draw(panel)
    for i, (colour, text) in enumerate(lines):
        y = pad + line_h * i
        pdraw.rectangle([pad, y + 1, pad + size - 2, y + size - 1], fill=colour)
        pdraw.text((2 * pad + size, y), text, fill=(255, 255, 255), font=font)
    canvas.paste(panel, (0, h - panel_h), panel)
