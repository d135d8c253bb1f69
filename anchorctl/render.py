"""Drawing anchors onto images with Pillow. Geometry comes in as pixel boxes; nothing here
knows how anchors are made.

* The input image is never mutated: drawing happens on a converted copy.
* Colour is looked up by slot, so slot 2 has the same colour in every picture and legend.
* Line width and font size follow the image size, so a 300 px thumbnail and a 4000 px photo
  both read well.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    (255, 255, 255),
    (153, 153, 255),
    (255, 99, 99),
)
GRID_COLOUR = (255, 255, 255)
FILL_ALPHA = 56  # of 255: anchors stay see-through, overlaps show as darker areas


def slot_colour(slot: int) -> tuple[int, int, int]:
    """The colour of a slot, the same in every picture."""
    return PALETTE[slot % len(PALETTE)]


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
                image = ImageOps.exif_transpose(opened)
    except FileNotFoundError:
        raise AnchorError(f"cannot read image {name!r}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"cannot read image {name!r}: it is a folder") from None
    except PermissionError:
        raise AnchorError(f"cannot read image {name!r}: permission denied") from None
    except UnidentifiedImageError:
        raise AnchorError(f"cannot read image {name!r}: not an image Pillow can read") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise AnchorError(
            f"cannot read image {name!r}: larger than Pillow's decompression-bomb limit "
            f"of {Image.MAX_IMAGE_PIXELS:,} pixels ({exc})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AnchorError(f"cannot read image {name!r}: {reason}") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image`` for drawing on."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            scaled = values / 257.0
        else:
            low, high = float(values.min()), float(values.max())
            scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        grey = Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8))
        return grey.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
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
    if fill and len(boxes):
        overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        odraw = ImageDraw.Draw(overlay)
        for box, slot in zip(boxes.tolist(), slots.tolist(), strict=True):
            odraw.rectangle(_ordered(box), fill=(*slot_colour(slot), FILL_ALPHA))
        canvas = Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    colours = [slot_colour(i) for i in range(len(legend))]
    for box, slot in zip(boxes.tolist(), slots.tolist(), strict=True):
        draw.rectangle(_ordered(box), outline=colours[slot], width=width)
    _draw_legend(canvas, legend, title)
    return canvas


def _ordered(box: list[float]) -> tuple[float, float, float, float]:
    # Pillow refuses x1 < x0; a zero-size clipped box is drawn as a line.
    x0, y0, x1, y1 = box
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _draw_grid(canvas: Image.Image, grid: Grid, width: int) -> None:
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    thin = max(1, width // 2)
    for x in grid.xs:
        draw.line([(x, 0), (x, h)], fill=GRID_COLOUR, width=thin)
    for y in grid.ys:
        draw.line([(0, y), (w, y)], fill=GRID_COLOUR, width=thin)
    r = max(1.5, width * 1.5)
    for x, y in grid.centers.tolist():
        draw.ellipse([x - r, y - r, x + r, y + r], fill=GRID_COLOUR)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_legend(canvas: Image.Image, legend: Sequence[str], title: str) -> None:
    """A translucent panel in the top-left corner: the title, then one line per slot."""
    w, h = canvas.size
    size = max(10, min(w, h) // 45)
    font = _font(size)
    pad = max(2, size // 3)
    swatch = size
    lines = [title, *legend]
    probe = ImageDraw.Draw(canvas)
    widths = [probe.textlength(line, font=font) for line in lines]
    line_h = size + pad
    panel_w = int(max(widths) + swatch + 4 * pad)
    panel_h = int(line_h * len(lines) + 2 * pad)
    panel = Image.new("RGBA", (min(panel_w, w), min(panel_h, h)), (0, 0, 0, 170))
    pdraw = ImageDraw.Draw(panel)
    pdraw.text((pad, pad), title, fill=(255, 255, 255), font=font)
    for i, line in enumerate(legend):
        y = pad + line_h * (i + 1)
        pdraw.rectangle([pad, y + 1, pad + swatch - 2, y + swatch - 1], fill=slot_colour(i))
        pdraw.text((2 * pad + swatch, y), line, fill=(255, 255, 255), font=font)
    canvas.paste(panel, (0, 0), panel)


def encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` as PNG or JPEG bytes."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=92)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()
