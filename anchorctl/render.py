"""Drawing anchors and ground-truth boxes onto images with Pillow. Geometry comes in as pixel
boxes; nothing here knows how anchors are made.

* The input image is never mutated: drawing happens on a converted copy.
* Colour is looked up by slot (:mod:`anchorctl.palette`), so slot 2 has the same colour in
  every picture, legend, report and viewer.
* Line width and font size follow the image size, so a 64 px thumbnail and a 6000 px photo
  both read well; images smaller than :data:`MIN_SIDE` are scaled up first (:func:`upscale`).
* The legend hides nothing: it goes in a free corner or on a panel beside or below the image
  (:mod:`anchorctl.legend`).
* Pixel ``i`` spans ``[i, i + 1)``. A box is outlined on the first and last pixel column and
  row it covers, so a box 100 px wide is 100 columns wide, outline included, and a box that
  ends on the image's right edge has its right side in the last column (see
  :func:`pixel_boxes`).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from anchorctl import legend as legends
from anchorctl.errors import AnchorError
from anchorctl.palette import COVERED, GRID_COLOUR, MISSED, PALETTE, slot_colour

__all__ = [
    "COVERED",
    "GRID_COLOUR",
    "MISSED",
    "PALETTE",
    "Drawn",
    "Grid",
    "GroundTruth",
    "draw_anchors",
    "draw_picture",
    "encode",
    "line_width",
    "load_image",
    "pixel_boxes",
    "slot_colour",
    "to_rgb",
    "upscale",
    "write_image",
]

FILL_ALPHA = 56  # of 255: anchors stay see-through, overlaps show as denser colour
EDGE_SNAP = 0.01  # px: an edge this close to a pixel boundary is on it (float32 rounding)
JPEG_MAX_SIDE = 65_500  # libjpeg's limit
MIN_SIDE = 256  # px: a smaller image is scaled up by a whole factor before drawing
MAX_UPSCALED = 2048  # px: ... but never past this on its longer side
_CHUNK = 1 << 16  # boxes turned into Python lists at a time, to bound memory


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


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth boxes to draw, with their best anchors.

    ``boxes`` and ``best`` are ``(N, 4)`` xyxy in pixels of the picture, ``ious`` ``(N,)`` the
    best IoU of each box; a box is covered when its IoU reaches ``threshold``. ``labels``
    ``(N,)`` are the legend lines after each box's number (its IoU and best anchor).
    """

    boxes: npt.NDArray[np.floating]
    best: npt.NDArray[np.floating]
    ious: npt.NDArray[np.floating]
    threshold: float
    labels: Sequence[str] = ()

    @property
    def covered(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.ious) >= self.threshold


@dataclass(frozen=True)
class Drawn:
    """A finished picture and where its legend went (see :class:`anchorctl.legend.Placement`)."""

    image: Image.Image
    placement: legends.Placement


MAX_BOX_LINES = 30  # ground-truth boxes listed one by one in a legend; the rest are counted


def upscale(image: Image.Image) -> tuple[Image.Image, int]:
    """``image`` enlarged by a whole factor when its shorter side is under :data:`MIN_SIDE`.

    The factor is the smallest that brings the shorter side to ``MIN_SIDE``, but never makes
    the longer side pass :data:`MAX_UPSCALED`; pixels are repeated (nearest neighbour), so
    each image pixel stays a visible square. Returns the image (itself when the factor is 1)
    and the factor.
    """
    w, h = image.size
    if min(w, h) >= MIN_SIDE:
        return image, 1
    factor = max(1, min(math.ceil(MIN_SIDE / min(w, h)), MAX_UPSCALED // max(w, h)))
    if factor == 1:
        return image, 1
    return image.resize((w * factor, h * factor), Image.Resampling.NEAREST), factor


def draw_anchors(
    image: Image.Image,
    boxes: npt.NDArray[np.floating],
    slots: npt.NDArray[np.integer],
    legend: Sequence[str],
    title: str,
    grid: Grid | None = None,
    fill: bool = False,
    *,
    truth: GroundTruth | None = None,
    show_legend: bool = True,
) -> Image.Image:
    """A copy of ``image`` with ``boxes`` drawn and the legend placed: :func:`draw_picture`."""
    return draw_picture(
        image, boxes, slots, legend, title, grid, fill, truth=truth, show_legend=show_legend
    ).image


def draw_picture(
    image: Image.Image,
    boxes: npt.NDArray[np.floating],
    slots: npt.NDArray[np.integer],
    legend: Sequence[str],
    title: str,
    grid: Grid | None = None,
    fill: bool = False,
    *,
    truth: GroundTruth | None = None,
    show_legend: bool = True,
) -> Drawn:
    """``image`` with ``boxes`` (and ground truth) drawn on a copy, and its legend placed.

    ``boxes`` is ``(N, 4)`` ``(xmin, ymin, xmax, ymax)`` in pixels of ``image``; ``slots``
    ``(N,)`` picks each box's colour; ``legend[i]`` describes slot ``i``. ``truth`` adds the
    ground-truth boxes, numbered, with their best anchors dashed and a legend that says what
    each style means. Without ``show_legend`` the picture is the image's size exactly.
    """
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    width = line_width(canvas.size)
    if grid is not None:
        _draw_grid(canvas, grid, width)
    before = canvas.copy() if show_legend else None
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
    entries = [legends.Entry(line, "slot", slot_colour(i)) for i, line in enumerate(legend)]
    if truth is not None:
        _draw_truth(canvas, truth, width)
        entries += _truth_entries(truth)
    if before is None:
        return Drawn(canvas, legends.Placement("none", (0, 0, 0, 0), 0.0))
    picture, placement = legends.compose(canvas, legends.Ink(before, canvas), title, entries)
    del before
    return Drawn(picture, placement)


def _draw_truth(canvas: Image.Image, truth: GroundTruth, width: int) -> None:
    """Each box solid in its coverage colour with a numbered tag (a tick or a cross after the
    number), and its best anchor dashed in the same colour."""
    draw = ImageDraw.Draw(canvas)
    box_w = width + 1
    dash = max(4, 3 * box_w)
    size = legends.font_size(canvas.size)
    font = legends.load_font(size)
    covered = truth.covered.tolist()
    boxes = np.asarray(truth.boxes, dtype=np.float64).tolist()
    best = np.asarray(truth.best, dtype=np.float64).tolist()
    for box, anchor, ok in zip(boxes, best, covered, strict=True):
        colour = COVERED if ok else MISSED
        _dashed_rectangle(draw, _ordered(anchor), colour, max(1, box_w - 1), dash)
        draw.rectangle(_ordered(box), outline=colour, width=box_w)
    w, h = canvas.size
    pad = max(1, size // 5)
    for number, (box, ok) in enumerate(zip(boxes, covered, strict=True)):
        colour = COVERED if ok else MISSED
        text = str(number)
        tag_w = int(legends.text_width(text, font)) + size + 3 * pad
        tag_h = size + 2 * pad
        x0, y0, _, _ = _ordered(box)
        x = int(min(max(x0, 0), w - tag_w))
        y = int(min(max(y0 - tag_h, 0), h - tag_h))  # above the box, or inside at the top
        draw.rectangle((x, y, x + tag_w - 1, y + tag_h - 1), fill=colour)
        draw.text((x + pad, y + pad), text, fill=(0, 0, 0), font=font)
        mx = x + tag_w - pad - size
        legends.draw_mark(draw, ok, (mx, y + pad, mx + size - 1, y + pad + size - 1),
                          (0, 0, 0), max(1, size // 7))  # fmt: skip


def _truth_entries(truth: GroundTruth) -> list[legends.Entry]:
    """What each style means, then one line per box (at most :data:`MAX_BOX_LINES`)."""
    from anchorctl.palette import box_styles

    colours = {"covered": COVERED, "missed": MISSED, "anchor": (255, 255, 255)}
    entries = [legends.Entry(text, key, colours[key]) for key, text in box_styles(truth.threshold)]
    ious = np.asarray(truth.ious, dtype=np.float64).tolist()
    for number, (iou, ok) in enumerate(zip(ious, truth.covered.tolist(), strict=True)):
        if number == MAX_BOX_LINES:
            rest = len(ious) - MAX_BOX_LINES
            entries.append(legends.Entry(f"... and {rest} more boxes", "none"))
            break
        extra = truth.labels[number] if number < len(truth.labels) else ""
        word = "covered" if ok else "missed"
        text = f"#{number}: best IoU {iou:.2f}, {word}" + (f" · {extra}" if extra else "")
        key = "covered" if ok else "missed"
        entries.append(legends.Entry(text, key, COVERED if ok else MISSED))
    return entries


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


def _ordered(box: Sequence[float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
