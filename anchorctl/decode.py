"""SSD's centre-size box decoding: turn a predicted offset into a box, against one anchor.

With anchor centre ``(acx, acy)``, size ``(aw, ah)``, prediction ``(dx, dy, dw, dh)`` and
variances ``(v0, v1, v2, v3)`` (Caffe SSD's ``CENTER_SIZE`` code with
``variance_encoded_in_target = false``; MXNet ``MultiBoxDetection``; GluonCV
``NormalizedBoxCenterDecoder``; default ``(0.1, 0.1, 0.2, 0.2)``):

    cx = acx + dx * v0 * aw        cy = acy + dy * v1 * ah
    w  = aw * exp(dw * v2)         h  = ah * exp(dh * v3)

The units are the anchor's units (pixels in, pixels out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from anchorctl.errors import AnchorError

DEFAULT_VARIANCES = (0.1, 0.1, 0.2, 0.2)


@dataclass(frozen=True)
class Decoded:
    """A decoded box: centre form ``(cx, cy, w, h)`` and corner form ``xyxy``."""

    cx: float
    cy: float
    w: float
    h: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)``."""
        return (
            self.cx - self.w / 2,
            self.cy - self.h / 2,
            self.cx + self.w / 2,
            self.cy + self.h / 2,
        )


def decode_ssd(
    anchor_xyxy: tuple[float, float, float, float],
    deltas: tuple[float, float, float, float],
    variances: tuple[float, float, float, float] = DEFAULT_VARIANCES,
) -> Decoded:
    """Decode ``deltas = (dx, dy, dw, dh)`` against one ``(xmin, ymin, xmax, ymax)`` anchor."""
    for name, values in (("deltas", deltas), ("variances", variances)):
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise AnchorError(f"{name}: need four finite numbers, got {tuple(values)}")
    x0, y0, x1, y1 = anchor_xyxy
    aw, ah = x1 - x0, y1 - y0
    acx, acy = x0 + aw / 2, y0 + ah / 2
    dx, dy, dw, dh = deltas
    v0, v1, v2, v3 = variances
    try:
        w = aw * math.exp(dw * v2)
        h = ah * math.exp(dh * v3)
    except OverflowError:
        raise AnchorError(
            f"deltas: exp({dw:g} * {v2:g}) or exp({dh:g} * {v3:g}) overflows; "
            "a real network's dw, dh are small numbers"
        ) from None
    out = Decoded(acx + dx * v0 * aw, acy + dy * v1 * ah, w, h)
    if not all(math.isfinite(v) for v in (out.cx, out.cy, out.w, out.h)):
        raise AnchorError(
            f"deltas: ({dx:g}, {dy:g}, {dw:g}, {dh:g}) decode to a box that is not finite; "
            "a real network's deltas are small numbers"
        )
    return out
