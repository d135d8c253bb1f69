"""How one feature-map cell maps back onto the input image, with the numbers worked out.

This answers the question users ask most about SSD-style anchors: "a detection on cell (r, c)
of a 16x16 feature map: where is that on my 640x480 image, and what boxes sit there?". It
holds the numbers and the formulas (as plain text with the user's values substituted);
the command line only prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anchorctl.conventions import mxnet
from anchorctl.conventions.base import Level, Rules
from anchorctl.conventions.mxnet import MultiBoxPriorSpec
from anchorctl.decode import DEFAULT_VARIANCES, Decoded, decode_ssd
from anchorctl.errors import AnchorError
from anchorctl.output import f32

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Explanation:
    """Everything ``anchorctl explain`` shows about one cell.

    Coordinates are ``(x, y)`` pairs and ``(xmin, ymin, xmax, ymax)`` boxes; ``*_px`` values are
    in pixels of an image ``image_size = (width, height)``, the rest normalized.
    """

    spec: MultiBoxPriorSpec
    image_size: tuple[int, int]
    cell: tuple[int, int]
    stride_px: tuple[float, float]
    center: tuple[float, float]
    center_px: tuple[float, float]
    anchors: list[Box]
    anchors_px: list[Box]
    deltas: tuple[float, float, float, float] | None = None
    variances: tuple[float, float, float, float] = DEFAULT_VARIANCES
    decoded_px: list[Decoded] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``anchorctl explain --format json``."""
        rows, cols = self.spec.feature_map
        out: dict[str, Any] = {
            "convention": mxnet.NAME,
            "feature_map": [rows, cols],
            "image_size": list(self.image_size),
            "cell": list(self.cell),
            "stride_px": list(self.stride_px),
            "center": list(self.center),
            "center_px": list(self.center_px),
            "shapes": [
                {
                    "slot": s.slot,
                    "size": s.size,
                    "ratio": s.ratio,
                    # the shape's own extent, as `list` reports it, clipped or not
                    "width_px": _f(np.float32(s.width) * np.float32(self.image_size[0])),
                    "height_px": _f(np.float32(s.height) * np.float32(self.image_size[1])),
                }
                for s in self.spec.shapes()
            ],
            "anchors": [list(b) for b in self.anchors],
            "anchors_px": [list(b) for b in self.anchors_px],
        }
        if self.deltas is not None:
            out["deltas"] = list(self.deltas)
            out["variances"] = list(self.variances)
            out["decoded_px"] = [[_f(v) for v in d.xyxy] for d in self.decoded_px]
        return out

    def lines(self) -> list[str]:
        """The explanation as plain-text lines, formulas with the user's numbers in them."""
        return _explanation_lines(self)


def explain_cell(
    spec: MultiBoxPriorSpec,
    image_size: tuple[int, int],
    cell: tuple[int, int],
    deltas: tuple[float, float, float, float] | None = None,
    variances: tuple[float, float, float, float] = DEFAULT_VARIANCES,
) -> Explanation:
    """Explain cell ``(row, col)`` of ``spec`` on an image of ``(width, height)`` pixels."""
    img_w, img_h = image_size
    if img_w < 1 or img_h < 1:
        raise AnchorError(f"image size: {img_w}x{img_h} must be at least 1x1 pixels")
    row, col = cell
    norm = mxnet.cell_anchors(spec, row, col)  # (k, 4) normalized, validates the cell
    scale = np.array([img_w, img_h, img_w, img_h], dtype=np.float32)
    px = norm * scale  # (k, 4) pixels, float32 like the anchors (and `anchorctl list`)
    sy, sx = spec.steps32()
    cy_all, cx_all = spec.centers()
    cx, cy = cx_all[col], cy_all[row]
    anchors_px = [_box(b) for b in px]
    decoded = [decode_ssd(b, deltas, variances) for b in anchors_px] if deltas is not None else []
    return Explanation(
        spec=spec,
        image_size=(img_w, img_h),
        cell=(row, col),
        stride_px=(_f(sx * np.float32(img_w)), _f(sy * np.float32(img_h))),
        center=(_f(cx), _f(cy)),
        center_px=(_f(cx * np.float32(img_w)), _f(cy * np.float32(img_h))),
        anchors=[_box(b) for b in norm],
        anchors_px=anchors_px,
        deltas=deltas,
        variances=variances,
        decoded_px=decoded,
    )


def _f(value: Any) -> float:
    """A float32 as the shortest float that reads back to it: 0.15000000596 -> 0.15."""
    return float(f32(value))


def _box(row: Any) -> Box:
    return (_f(row[0]), _f(row[1]), _f(row[2]), _f(row[3]))


def _g(value: float) -> str:
    """Six significant digits, no trailing zeros: what a person wants to read."""
    return f"{value:.6g}"


def _explanation_lines(ex: Explanation) -> list[str]:
    spec = ex.spec
    rows, cols = spec.feature_map
    img_w, img_h = ex.image_size
    row, col = ex.cell
    oy, ox = spec.offsets
    step_y, step_x = spec.step_yx
    auto = spec.steps is None
    step_y_text = f"1/{rows}" if auto else _g(step_y)
    step_x_text = f"1/{cols}" if auto else _g(step_x)
    out = [
        f"{mxnet.TITLE}: feature map {rows} rows x {cols} cols, image {img_w} x {img_h} px "
        f"(w x h), cell (row {row}, col {col}); {mxnet.RATIO_MEANING}, sizes normalized.",
        "",
        "Stride (distance between neighbouring anchor centres, in pixels):",
        f"  stride_x = step_x * image_w = {step_x_text} * {img_w} = {_g(ex.stride_px[0])} px",
        f"  stride_y = step_y * image_h = {step_y_text} * {img_h} = {_g(ex.stride_px[1])} px",
        "",
        "Centre of the cell:",
        f"  cx = (col + offset_x) * step_x = ({col} + {_g(ox)}) * {step_x_text} = "
        f"{_g(ex.center[0])}  ->  {_g(ex.center[0])} * {img_w} = {_g(ex.center_px[0])} px",
        f"  cy = (row + offset_y) * step_y = ({row} + {_g(oy)}) * {step_y_text} = "
        f"{_g(ex.center[1])}  ->  {_g(ex.center[1])} * {img_h} = {_g(ex.center_px[1])} px",
        "",
        f"Anchors of the cell ({spec.per_cell} = {len(spec.sizes)} sizes + "
        f"{len(spec.ratios)} ratios - 1; every size with ratios[0], then sizes[0] with "
        "ratios[1:]):",
        f"  width = s * (rows/cols) * sqrt(r) = s * ({rows}/{cols}) * sqrt(r);  "
        "height = s / sqrt(r)",
    ]
    for shape, box in zip(spec.shapes(), ex.anchors_px, strict=True):
        s, r = shape.size, shape.ratio
        out.append(
            f"  slot {shape.slot}: s={_g(s)} r={_g(r)}: "
            f"w = {_g(s)} * {_g(rows / cols)} * {_g(r**0.5)} = {_g(shape.width)}, "
            f"h = {_g(s)} / {_g(r**0.5)} = {_g(shape.height)}  ->  "
            f"{_g(shape.width * img_w)} x {_g(shape.height * img_h)} px, "
            f"box ({_g(box[0])}, {_g(box[1])}, {_g(box[2])}, {_g(box[3])})"
            + (" after --clip" if spec.clip else "")
        )
    if spec.clip:
        out.append("  (--clip clamps each coordinate to the image, so border boxes shrink)")
    out += ["", *_square_note(spec, ex.image_size)]
    if ex.deltas is not None:
        out += ["", *_decode_lines(ex)]
    return out


def _square_note(spec: MultiBoxPriorSpec, image_size: tuple[int, int]) -> list[str]:
    rows, cols = spec.feature_map
    img_w, img_h = image_size
    s = spec.sizes[0]
    w_px = s * rows / cols * img_w
    h_px = s * img_h
    lines = [
        "Why a ratio-1 box is (or is not) square in pixels:",
        f"  its pixel size is s * (rows/cols) * image_w x s * image_h = "
        f"{_g(s)} * ({rows}/{cols}) * {img_w} x {_g(s)} * {img_h} = "
        f"{_g(w_px)} x {_g(h_px)} px.",
    ]
    if rows * img_w == cols * img_h:
        lines.append(
            f"  Square: the feature map's rows/cols ({rows}/{cols}) equals the image's "
            f"h/w ({img_h}/{img_w}), so pixel width/height = r exactly."
        )
    else:
        lines.append(
            f"  Not square: the feature map's rows/cols = {_g(rows / cols)} differs from the "
            f"image's h/w = {_g(img_h / img_w)}; MultiBoxPrior corrects the width by the "
            "feature map's shape, not the image's. Use a feature map with the image's aspect "
            "ratio (or an image with the map's) for square boxes."
        )
    return lines


def _decode_lines(ex: Explanation | LevelExplanation) -> list[str]:
    assert ex.deltas is not None
    dx, dy, dw, dh = ex.deltas
    v0, v1, v2, v3 = ex.variances
    out = [
        f"Decoding deltas (dx, dy, dw, dh) = ({_g(dx)}, {_g(dy)}, {_g(dw)}, {_g(dh)}) with "
        f"variances ({_g(v0)}, {_g(v1)}, {_g(v2)}, {_g(v3)}), SSD centre-size form, in pixels:"
    ]
    for slot, (box, dec) in enumerate(zip(ex.anchors_px, ex.decoded_px, strict=True)):
        aw, ah = box[2] - box[0], box[3] - box[1]
        acx, acy = box[0] + aw / 2, box[1] + ah / 2
        x0, y0, x1, y1 = dec.xyxy
        out += [
            f"  slot {slot}: anchor cx={_g(acx)} cy={_g(acy)} w={_g(aw)} h={_g(ah)}",
            f"    cx = {_g(acx)} + {_g(dx)} * {_g(v0)} * {_g(aw)} = {_g(dec.cx)}",
            f"    cy = {_g(acy)} + {_g(dy)} * {_g(v1)} * {_g(ah)} = {_g(dec.cy)}",
            f"    w  = {_g(aw)} * exp({_g(dw)} * {_g(v2)}) = {_g(dec.w)}",
            f"    h  = {_g(ah)} * exp({_g(dh)} * {_g(v3)}) = {_g(dec.h)}",
            f"    box ({_g(x0)}, {_g(y0)}, {_g(x1)}, {_g(y1)})",
        ]
    return out


@dataclass(frozen=True)
class LevelExplanation:
    """``anchorctl explain`` for any convention: one cell of one level, in pixels.

    ``scale`` is pixels per unit of the convention (the image size for normalized ones, 1 for
    pixel ones). Coordinates as in :class:`Explanation`.
    """

    rules: Rules
    level: Level
    level_index: int
    image_size: tuple[int, int] | None
    cell: tuple[int, int]
    scale: tuple[float, float]
    deltas: tuple[float, float, float, float] | None = None
    variances: tuple[float, float, float, float] = DEFAULT_VARIANCES

    @property
    def stride_px(self) -> tuple[float, float]:
        return (_f(self.level.stride[1] * self.scale[0]), _f(self.level.stride[0] * self.scale[1]))

    @property
    def center(self) -> tuple[float, float]:
        row, col = self.cell
        sy, sx = self.level.stride
        return (self.level.center0[0] + col * sx, self.level.center0[1] + row * sy)

    @property
    def center_px(self) -> tuple[float, float]:
        cx, cy = self.center
        return (_f(cx * self.scale[0]), _f(cy * self.scale[1]))

    @property
    def anchors(self) -> list[Box]:
        return [_box(b) for b in self.level.at([self.cell])]

    @property
    def anchors_px(self) -> list[Box]:
        sx, sy = (np.float32(v) for v in self.scale)
        return [_box(np.array(b, np.float32) * np.array([sx, sy, sx, sy])) for b in self.anchors]

    @property
    def decoded_px(self) -> list[Decoded]:
        if self.deltas is None:
            return []
        return [decode_ssd(b, self.deltas, self.variances) for b in self.anchors_px]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``anchorctl explain --format json`` (as for MultiBoxPrior)."""
        rows, cols = self.level.feature_map
        out: dict[str, Any] = {
            "convention": self.rules.name,
            "level": self.level_index,
            "feature_map": [rows, cols],
            "image_size": list(self.image_size) if self.image_size else None,
            "cell": list(self.cell),
            "stride_px": list(self.stride_px),
            "center": [_f(v) for v in self.center],
            "center_px": list(self.center_px),
            "shapes": [
                {
                    "slot": s.slot,
                    **s.params,
                    "width_px": box[2] - box[0],
                    "height_px": box[3] - box[1],
                }
                for s, box in zip(self.level.shapes, self.anchors_px, strict=True)
            ],
            "anchors": [list(b) for b in self.anchors],
            "anchors_px": [list(b) for b in self.anchors_px],
        }
        if self.deltas is not None:
            out["deltas"] = list(self.deltas)
            out["variances"] = list(self.variances)
            out["decoded_px"] = [[_f(v) for v in d.xyxy] for d in self.decoded_px]
        return out

    def lines(self) -> list[str]:
        rules = self.rules
        rows, cols = self.level.feature_map
        row, col = self.cell
        sy, sx = self.level.stride
        image = (
            f"image {self.image_size[0]} x {self.image_size[1]} px (w x h)"
            if self.image_size
            else "no image size"
        )
        out = [
            f"{rules.title}: level {self.level_index}, feature map {rows} rows x {cols} cols, "
            f"{image}, cell (row {row}, col {col}); ratio = {rules.ratio_meaning}; "
            f"{rules.units}.",
            "",
            f"Centre rule: {rules.centre}.",
            f"  stride (x, y) = ({_g(sx)}, {_g(sy)}) -> ({_g(self.stride_px[0])}, "
            f"{_g(self.stride_px[1])}) px",
            f"  centre of cell (0, 0) = ({_g(self.level.center0[0])}, {_g(self.level.center0[1])})",
            f"  centre = centre(0, 0) + (col * stride_x, row * stride_y) = "
            f"({_g(self.center[0])}, {_g(self.center[1])}) -> ({_g(self.center_px[0])}, "
            f"{_g(self.center_px[1])}) px",
            "",
            f"Anchors of the cell ({self.level.per_cell}; order: {rules.order}; "
            f"rounding: {rules.rounding}; clip: {rules.clip}):",
        ]
        for shape, box in zip(self.level.shapes, self.anchors_px, strict=True):
            out.append(
                f"  slot {shape.slot}: {shape.label()}  ->  {_g(box[2] - box[0])} x "
                f"{_g(box[3] - box[1])} px, box ({_g(box[0])}, {_g(box[1])}, {_g(box[2])}, "
                f"{_g(box[3])})"
            )
        if self.deltas is not None:
            out += ["", *_decode_lines(self)]
        return out
