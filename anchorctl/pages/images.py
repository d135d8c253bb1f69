"""Pictures for the pages (the only part of :mod:`anchorctl.pages` that touches Pillow):
crops of the worst-covered boxes, and an image re-encoded for the viewer."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from anchorctl import palette, render

CROP_SIDE = 160  # px: the longer side of a crop in the report
CROP_QUALITY = 72
VIEW_MAX_SIDE = 2048  # px: the viewer shows larger images scaled down (anchors stay exact)


def find_image(name: str, folders: Sequence[Path]) -> Path | None:
    """The file an annotation's image ``name`` refers to: ``name`` itself when it exists,
    else ``folder / name`` or ``folder / basename`` for the first folder that has it."""
    direct = Path(name)
    candidates = [direct] if direct.is_absolute() else []
    for folder in folders:
        candidates += [folder / name, folder / direct.name]
    for path in candidates:
        try:
            if path.is_file():
                return path
        except OSError:
            continue
    return None


def crop_jpeg(
    image: Image.Image,
    box: Sequence[float],
    anchor: Sequence[float],
    covered: bool,
) -> bytes:
    """A small JPEG of ``box`` (xyxy, pixels of ``image``) with some context, the box solid and
    its best ``anchor`` dashed, in the box's coverage colour."""
    x0, y0, x1, y1 = box
    ax0, ay0, ax1, ay1 = anchor
    left, top = min(x0, ax0), min(y0, ay0)
    right, bottom = max(x1, ax1), max(y1, ay1)
    margin = 0.15 * max(right - left, bottom - top, 8)
    frame = (
        max(0, int(left - margin)),
        max(0, int(top - margin)),
        min(image.width, int(right + margin) + 1),
        min(image.height, int(bottom + margin) + 1),
    )
    if frame[2] <= frame[0] or frame[3] <= frame[1]:
        frame = (0, 0, image.width, image.height)
    piece = image.crop(frame)
    scale = CROP_SIDE / max(piece.size)
    size = (max(1, round(piece.width * scale)), max(1, round(piece.height * scale)))
    piece = piece.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(piece)
    colour = palette.coverage_colour(covered)

    def to_crop(b: Sequence[float]) -> tuple[float, float, float, float]:
        return (
            (b[0] - frame[0]) * scale,
            (b[1] - frame[1]) * scale,
            (b[2] - frame[0]) * scale - 1,
            (b[3] - frame[1]) * scale - 1,
        )

    render._dashed_rectangle(draw, to_crop(anchor), colour, 1, 4)
    draw.rectangle(render._ordered(to_crop(box)), outline=colour, width=2)
    out = io.BytesIO()
    piece.save(out, format="JPEG", quality=CROP_QUALITY)
    return out.getvalue()


def view_image(path: Path) -> tuple[bytes, str, tuple[int, int], tuple[int, int]]:
    """``path`` upright, re-encoded for the viewer: ``(bytes, mime, shown size, full size)``.

    Images larger than :data:`VIEW_MAX_SIDE` are scaled down for display only; the page lays
    everything out in the full image's pixels. Small images stay PNG (crisp when zoomed),
    photos JPEG.
    """
    image = render.load_image(path)
    full = image.size
    if max(full) > VIEW_MAX_SIDE:
        scale = VIEW_MAX_SIDE / max(full)
        image = image.resize(
            (max(1, round(full[0] * scale)), max(1, round(full[1] * scale))),
            Image.Resampling.LANCZOS,
        )
    out = io.BytesIO()
    if image.width * image.height <= 512 * 512:
        image.save(out, format="PNG", optimize=True)
        mime = "image/png"
    else:
        image.save(out, format="JPEG", quality=85)
        mime = "image/jpeg"
    return out.getvalue(), mime, image.size, full
