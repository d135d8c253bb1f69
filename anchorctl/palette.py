"""The colours and line styles every picture shares: PNG drawings, the HTML report and viewer.

Pure Python (no numpy, no Pillow), so the HTML pages and the PNG renderer read one table and a
slot or level has the same colour in a drawing, a report and a viewer.

* **Slots and levels** take :data:`PALETTE` in order (Okabe & Ito's colour-blind-friendly
  qualitative palette, then a few more distinct hues), then hues spaced by the golden angle.
* **Ground truth** is :data:`COVERED` (green) when its best anchor reaches the IoU threshold and
  :data:`MISSED` (red) when none does. Colour is never the only cue: a covered box's tag carries
  a tick and a missed box's a cross (:data:`BOX_STYLES` says so, word for word, in every legend),
  and a box's best anchor is dashed where the box itself is solid.
"""

from __future__ import annotations

import colorsys

RGB = tuple[int, int, int]

PALETTE: tuple[RGB, ...] = (
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
GRID_COLOUR: RGB = (255, 255, 255)
COVERED: RGB = (40, 200, 70)  # green: the box's best anchor reaches the IoU threshold
MISSED: RGB = (230, 40, 40)  # red: no anchor does
PANEL: RGB = (24, 24, 24)  # legend panels beside or below a picture
TEXT: RGB = (255, 255, 255)
_GOLDEN = 0.6180339887498949


def slot_colour(slot: int) -> RGB:
    """The colour of a slot (or a level), the same in every picture.

    Slots past the palette get hues spaced by the golden angle, so every slot of a cell has
    its own colour however many there are.
    """
    if slot < len(PALETTE):
        return PALETTE[slot]
    hue = ((slot - len(PALETTE)) * _GOLDEN + 0.05) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


level_colour = slot_colour  # levels and slots share one sequence of colours


def hex_colour(colour: RGB) -> str:
    """``(r, g, b)`` as CSS ``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def coverage_colour(covered: bool) -> RGB:
    return COVERED if covered else MISSED


def box_styles(threshold: float) -> tuple[tuple[str, str], ...]:
    """What each line style and colour of a ground-truth picture means, for its legend.

    ``(key, text)`` pairs; ``key`` is ``covered``, ``missed`` or ``anchor`` (the swatch to draw).
    """
    return (
        ("covered", f"covered (tick, green): solid box, numbered; best IoU >= {threshold:g}"),
        ("missed", f"missed (cross, red): solid box, numbered; best IoU < {threshold:g}"),
        ("anchor", "dashed: that box's best anchor, in the box's colour"),
    )
