"""The anchor viewer as one HTML page: an image with its anchors, cell by cell, on hover.

The page carries anchorctl's own numbers, never a re-derivation: for each level, the exact
extents of every anchor along the grid (:class:`anchorctl.iou.LevelGrid`: anchor ``(row, col,
slot)`` is ``(x0[slot][col], y0[slot][row], x1[slot][col], y1[slot][row])`` in input pixels,
checked against the generated array), or the whole anchor array for a level that is not such
a grid. The script only looks numbers up; it computes which cell is under the pointer
(``col = floor(x / stride_x)``, as ``draw --grid`` lays cells out) and scales input pixels to
the image's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl import palette
from anchorctl.conventions.base import Level, Rules
from anchorctl.errors import AnchorError
from anchorctl.iou import GridInfo
from anchorctl.pages.page import data_uri, html_page, json_script

MAX_LISTED = 400_000  # anchors of a non-grid level embedded whole; past this it is left out


@dataclass(frozen=True)
class Picture:
    """The image shown: encoded ``data`` of type ``mime``, and its full ``size`` ``(W, H)`` in
    pixels (the page lays everything out in these, whatever size ``data`` was encoded at)."""

    data: bytes
    mime: str
    size: tuple[int, int]
    name: str


@dataclass(frozen=True)
class Truth:
    """Ground-truth boxes in input pixels ``(N, 4)``, each one's best anchor ``(N, 4)``, IoU
    ``(N,)``, and that anchor's ``(level, row, col, slot)`` ``(N, 4)``."""

    boxes: npt.NDArray[np.float64]
    best: npt.NDArray[np.float64]
    ious: npt.NDArray[np.float64]
    where: npt.NDArray[np.int64]
    threshold: float


def level_data(level: Level, index: int, rules: Rules, grid: GridInfo) -> dict[str, Any]:
    """What the page needs of one level: its grid, slots and anchors (input pixels)."""
    lg = grid.levels[index]
    scale = grid.input_size if level.is_normalized(rules) else (1, 1)
    rows, cols = level.feature_map
    out: dict[str, Any] = {
        "index": index,
        "rows": rows,
        "cols": cols,
        "k": level.per_cell,
        "stride": [lg.stride[1], lg.stride[0]],  # x, y
        "center0": [float(level.center0[0]) * scale[0], float(level.center0[1]) * scale[1]],
        "colour": palette.hex_colour(palette.level_colour(index)),
        "slots": [
            {
                "slot": s.slot,
                "label": s.label(),
                "w": float(s.width) * scale[0],
                "h": float(s.height) * scale[1],
                "colour": palette.hex_colour(palette.slot_colour(s.slot)),
            }
            for s in level.shapes
        ],
        "separable": lg.separable,
    }
    if lg.separable:
        out.update(x0=lg.x0.tolist(), x1=lg.x1.tolist(), y0=lg.y0.tolist(), y1=lg.y1.tolist())
    else:
        count = lg.count
        if count > MAX_LISTED:
            raise AnchorError(
                f"level {index}'s {count:,} anchors are not a grid and too many to embed; "
                "choose one level with --level"
            )
        block = grid.anchors[lg.offset : lg.offset + count]
        out["anchors"] = block.reshape(-1).tolist()
    return out


def build_viewer(
    picture: Picture,
    levels: Sequence[Level],
    level_ids: Sequence[int],
    rules: Rules,
    grid: GridInfo,
    *,
    title: str,
    facts: Sequence[str] = (),
    truth: Truth | None = None,
) -> str:
    """The viewer page as HTML text. ``grid`` holds every level's anchors in input pixels
    (:func:`anchorctl.iou.grid_from_levels` at the network input size); ``level_ids`` are
    the levels to offer."""
    in_w, in_h = grid.input_size
    img_w, img_h = picture.size
    data: dict[str, Any] = {
        "image": {"width": img_w, "height": img_h, "name": picture.name},
        "input": [in_w, in_h],
        "scale": [img_w / in_w, img_h / in_h],
        "levels": [level_data(levels[i], i, rules, grid) for i in level_ids],
        "ratio": rules.ratio_meaning,
        "boxes": [],
    }
    if truth is not None:
        data["threshold"] = truth.threshold
        for n, (box, best, iou, where) in enumerate(
            zip(truth.boxes.tolist(), truth.best.tolist(), truth.ious.tolist(),
                truth.where.tolist(), strict=True)
        ):  # fmt: skip
            data["boxes"].append(
                {"n": n, "box": box, "best": best, "iou": iou, "covered": iou >= truth.threshold,
                 "level": where[0], "row": where[1], "col": where[2], "slot": where[3]}
            )  # fmt: skip
    src = data_uri(picture.data, picture.mime)
    body = [
        f"<h1>{escape(title)}</h1>",
        *(f'<p class="note">{escape(line)}</p>' for line in facts),
        '<div class="viewer"><div class="stage">',
        f'<svg id="stage" viewBox="0 0 {img_w} {img_h}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{escape(picture.name)} with anchors">'
        f'<image href="{src}" x="0" y="0" width="{img_w}" height="{img_h}" '
        'preserveAspectRatio="none"/>'
        '<g id="truth"></g><g id="cells"></g><g id="anchors"></g></svg>',
        '<p class="note">Hover a feature-map cell to see its anchors; click to pin it (click '
        "again to let go). Numbers are in network-input pixels; boxes are drawn scaled onto "
        "the image.</p></div>",
        '<div class="side"><div class="card"><h3>Levels</h3><div id="levels" class="toggles">'
        "</div>",
        '<label class="toggles"><input type="checkbox" id="show-grid"> cell grid of the first '
        "level shown</label>",
        '<label class="toggles" id="truth-toggle" hidden><input type="checkbox" id="show-truth" '
        "checked> ground-truth boxes</label></div>",
        '<div class="card"><h3>Cell <span id="pin" class="pinned"></span></h3>'
        '<div id="cell" class="muted">the centre cell; hover the image for another</div></div>',
        '<div class="card" id="truth-card" hidden><h3>Ground truth</h3><div id="truth-list">'
        "</div></div>",
        "</div></div>",
    ]
    return html_page(
        title, "".join(body), scripts=("viewer.js",), data=json_script("view-data", data)
    )
