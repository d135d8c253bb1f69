"""d2l.ai "Anchor Boxes": the book's ``multibox_prior(data, sizes, ratios)``.

The function (d2l-ai/d2l-en: ``chapter_computer-vision/anchor.md``, saved into the ``d2l``
package, version 1.0.3) re-implements MXNet's ``MultiBoxPrior`` with fixed settings:

* **Units**: normalized; the feature map (``data``'s last two dims, ``H x W``) spans
  ``[0, 1] x [0, 1]``. The book feeds the whole image, so every pixel is a cell.
* **Ratio** ``r`` means width / height (the text), and the code multiplies every width by
  ``H / W`` ("Handle rectangular inputs"): ``width = s * sqrt(r) * H / W``,
  ``height = s / sqrt(r)``. So ``s`` is a fraction of the image *height* and the pixel
  aspect is exactly ``r`` when the map has the image's shape; the text's ``w*s*sqrt(r)``
  disagrees for non-square inputs (d2l-ai/d2l-en#442, #2480; d2l-ai/d2l-zh#1190, #1357).
* **Per cell** ``n + m - 1`` shapes: every size with ``ratios[0]``, then ``sizes[0]`` with
  each of ``ratios[1:]`` (MXNet's order since apache/mxnet#13763).
* **Centres**: ``((col + 0.5) / W, (row + 0.5) / H)``: offsets 0.5 and steps ``1/H, 1/W`` are
  fixed; no clipping; no rounding.
* **Order**: rows outer, columns next, shapes innermost.
* **Output**: ``(H*W*(n+m-1), 4)`` float32 ``(xmin, ymin, xmax, ymax)``.

The book has an MXNet tab and a PyTorch tab. Both give the same boxes up to float32 rounding:
at most one float32 step of a box's height apart, 4.8e-7 for coordinates below 4 (the image
spans 0..1, so every coordinate of a box inside it), because they order the arithmetic
differently from each other and from the MXNet operator: the width is
``(s * sqrt(r)) * H / W`` (the operator computes ``s * H / W * sqrt(r)``), and the PyTorch
tab divides a Python number by a tensor as ``(1 / t) * x``. This module follows the MXNet
tab by default and the PyTorch tab with ``torch``; either way it matches the recorded d2l
outputs bit for bit. (The PyTorch tab takes ``torch.sqrt`` in float32, which some CPUs do not
round correctly: 0.65% of random ratios, none of the common ones, can then be a float32 step
off.) The grid is shared with
:mod:`anchorctl.conventions.mxnet`; only the per-cell extents differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks, mxnet
from anchorctl.conventions.base import (
    TORCH_SQRT,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    shapes_from_cell,
)

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "d2l"
TITLE = "d2l.ai multibox_prior"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="normalized to the image (0..1)",
    size_meaning="fraction of the image height (with the feature map shaped like the image)",
    ratio_meaning="width / height",
    order="every size with ratios[0], then sizes[0] with each of ratios[1:]",
    centre="cell centre: ((col + 0.5) / cols, (row + 0.5) / rows)",
    rounding="none (float32)",
    exactness="with --torch, " + TORCH_SQRT,
    clip="none",
    native_format="xyxy",
    sources=(
        "d2l-ai/d2l-en: chapter_computer-vision/anchor.md (multibox_prior), ssd.md (d2l 1.0.3)",
        "d2l-ai/d2l-en#442, #2480; d2l-ai/d2l-zh#1190, #1314, #1329, #1357 (width factor)",
    ),
    normalized=True,
)

OPTIONS = (
    Option(
        "sizes",
        "floats",
        "sizes, fractions of the image height (multibox_prior has no default; required)",
        per_level=True,
    ),
    Option(
        "ratios",
        "floats",
        f"ratios, {RULES.ratio_meaning} (multibox_prior has no default; required)",
        per_level=True,
    ),
    Option(
        "torch",
        "flag",
        "round as the book's PyTorch tab does, not its MXNet tab (differs by <= 4.8e-7) "
        "[default: off]",
        default=False,
    ),
)

_F32 = np.float32


@dataclass(frozen=True)
class D2LSpec(mxnet.MultiBoxPriorSpec):
    """A ``multibox_prior`` call: MultiBoxPrior's grid with d2l's own extent arithmetic.

    Steps, offsets and clip keep MultiBoxPrior's defaults (``1/H, 1/W``, 0.5, off), which are
    the values d2l fixes. ``torch`` selects the PyTorch tab's rounding.
    """

    torch: bool = False

    def half_extents(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Half widths and heights, ``(k,)`` float32, in the book's order of operations."""
        rows, cols = self.feature_map
        size = np.array(self.sizes, dtype=_F32)
        root = np.sqrt(np.array(self.ratios, dtype=_F32))
        first = _F32(self.sizes[0])
        width = np.concatenate((size * root[0], first * root[1:]))
        width = width * _F32(rows) / _F32(cols)
        # PyTorch evaluates `sizes[0] / t` on a tensor as `t.reciprocal() * sizes[0]`
        rest = (_F32(1) / root[1:]) * first if self.torch else first / root[1:]
        height = np.concatenate((size / root[0], rest))
        return (width / _F32(2)).astype(_F32), (height / _F32(2)).astype(_F32)


def specs_from(params: Params) -> list[D2LSpec]:
    """One :class:`D2LSpec` per feature map in ``params["feature_maps"]``."""
    maps = checks.feature_maps(params)
    n = len(maps)
    why = "; multibox_prior would make empty, flipped or NaN boxes of anything else"
    sizes = checks.level_floats(params, "sizes", n, checks.meaning(RULES, "sizes") + why)
    ratios = checks.level_floats(params, "ratios", n, checks.meaning(RULES, "ratios") + why)
    torch = checks.flag_value(params, "torch", False)
    return [D2LSpec(s, r, fm, torch=torch) for fm, s, r in zip(maps, sizes, ratios, strict=True)]


def generate(params: Params) -> list[Level]:
    """Every level's anchors, normalized xyxy float32, in ``multibox_prior`` order."""
    out = []
    for spec in specs_from(params):
        first = np.zeros(1, dtype=np.int64)
        pairs = [{"size": s, "ratio": r} for s, r in spec.slot_pairs()]
        out.append(
            grid_level(
                spec.grid(),
                stride=spec.step_yx,
                center0=(float(spec.center_x(first)[0]), float(spec.center_y(first)[0])),
                shapes=shapes_from_cell(mxnet.cell_anchors(spec, 0, 0), pairs),
            )
        )
    return out
