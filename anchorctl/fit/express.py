"""Any ``(w, h)`` anchors written as a convention's options, saying how far off they are.

**Expressing** (:func:`express`): a set of ``(w, h)`` anchors as a convention's options
(``--sizes``/``--ratios`` and kin). Most conventions make *every size with every ratio* (or
a cross of sizes and ratios), which k arbitrary shapes rarely are: :func:`express` then gives
the nearest such options, says how far off they are, and names the exact alternative.

The wording about units and ratios comes from each convention's ``RULES``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl import conventions
from anchorctl.conventions import mxnet
from anchorctl.errors import AnchorError
from anchorctl.export import (
    EXACT_TOL,
    GRAMMARS,
    TF_BASE,
    fit_product,
    format_number,
    nice,
    shape_error,
)

FloatArray = npt.NDArray[np.float64]

EXPRESSIBLE = (
    "torchvision",
    "detectron2",
    "mmdet",
    "keras-retinanet",
    "tf-grid",
    "mxnet",
    "d2l",
    "yolo",
)

# What each product-set convention makes, for the notes.
# What each product-set convention crosses; the ratio's meaning and the rounding come from its
# RULES (_grid_words), so this file never restates a convention's definitions.
_GRID_WORDS = {
    "torchvision": "every size x every ratio",
    "detectron2": "every size x every ratio",
    "mmdet": "every scale x every ratio",
    "keras-retinanet": "every scale x every ratio of one size",
    "tf-grid": "every scale x every ratio",
}


def _grid_words(convention: str) -> str:
    """What ``convention`` makes, with its ratio meaning and rounding as its RULES state them."""
    rules = conventions.load(convention).RULES
    words = f"{_GRID_WORDS[convention]} (ratio = {rules.ratio_meaning})"
    if not rules.rounding.startswith("none"):
        words += f", rounded: {rules.rounding}"
    return words


@dataclass(frozen=True)
class Expressed:
    """Anchors written as a convention's options.

    ``options`` maps the convention's option names (as in its ``OPTIONS``; on the command line
    with ``-`` for ``_``) to one level's value: a tuple of floats, a float, a tuple of
    ``(w, h)`` pairs, or ``True`` for a flag. ``shapes`` is the ``(m, 2)`` ``[w, h]`` in
    input pixels those options make, in the convention's slot order; ``max_rel_error`` the
    largest ``max(|w'/w - 1|, |h'/h - 1|)`` of a given anchor against its nearest made shape;
    ``exact`` says the made shapes are the given anchors (same count, within
    :data:`~anchorctl.export.EXACT_TOL`); ``note`` says what was done, in one line.
    """

    convention: str
    options: Mapping[str, Any]
    shapes: FloatArray = field(repr=False)
    exact: bool
    max_rel_error: float
    note: str

    def command_line(self) -> str:
        """The options as command-line flags: ``--sizes 32,64 --ratios 0.5,1,2``."""
        parts = []
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                parts.append(flag)
            elif isinstance(value, (int, float)):
                parts.append(f"{flag} {format_number(float(value))}")
            elif value and isinstance(value[0], tuple):
                pairs = ",".join(f"{format_number(w)}x{format_number(h)}" for w, h in value)
                parts.append(f"{flag} {pairs}")
            else:
                parts.append(f"{flag} {','.join(format_number(v) for v in value)}")
        return " ".join(parts)

    def params(self) -> dict[str, Any]:
        """``options`` as ``generate`` params: per-level options wrapped as one level's list."""
        per_level = {o.name for o in conventions.load(self.convention).OPTIONS if o.per_level}
        return {k: ([v] if k in per_level else v) for k, v in self.options.items()}


def express(
    anchors_wh: npt.ArrayLike,
    convention: str,
    *,
    input_size: tuple[int, int] | None = None,
) -> Expressed:
    """``(k, 2)`` anchors ``[w, h]`` in input pixels as ``convention``'s options.

    * ``torchvision``, ``detectron2``: ``sizes`` = ``sqrt(w * h)`` px, ``ratios`` = h / w;
      ``mmdet``: ``base_sizes``, ``scales``, ``ratios`` (h / w) - or, when no such config is
      exact, ``yolo`` + ``yolo_base_sizes`` (YOLOAnchorGenerator, exact);
      ``keras-retinanet``: one ``sizes`` value, ``scales``, ``ratios`` (h / w);
      ``tf-grid``: ``scales`` of the 256-pixel base, ``ratios`` = w / h. These make every
      size (scale) with every ratio: k arbitrary anchors are exact only when they are such a
      product set, otherwise the nearest one is given (see :func:`anchorctl.export.fit_product`).
    * ``mxnet``, ``d2l`` (MultiBoxPrior): ``sizes`` as fractions of the input *height* and
      ``ratios`` = w / h, making every size with ``ratios[0]`` and ``sizes[0]`` with every
      other ratio; needs ``input_size`` ``(w, h)`` and assumes a feature map shaped like the
      input (MultiBoxPrior scales widths by rows / cols).
    * ``yolo``: ``anchors`` = the pairs themselves; always exact.
    """
    anchors = _checked_anchors(anchors_wh)
    if convention == "yolo":
        pairs = tuple((nice(float(w)), nice(float(h))) for w, h in anchors)
        return _expressed("yolo", {"anchors": pairs}, np.array(pairs), anchors, "")
    if convention in ("mxnet", "d2l"):
        return _express_multibox(anchors, convention, input_size)
    if convention not in _GRID_WORDS:
        raise AnchorError(
            f"express: anchorctl cannot write anchors as {convention!r} options; choose one of "
            f"{', '.join(EXPRESSIBLE)}"
        )
    grammar = GRAMMARS[convention]
    fixed = {"torchvision": [1.0], "detectron2": [1.0], "tf-grid": [TF_BASE]}.get(convention)
    fit = fit_product([anchors], grammar, fixed)
    options: dict[str, Any]
    if convention in ("torchvision", "detectron2"):
        options = {"sizes": fit.scales, "ratios": fit.ratios}
    elif convention == "tf-grid":
        options = {"scales": fit.scales, "ratios": fit.ratios}
    elif convention == "keras-retinanet":
        options = {"sizes": (fit.bases[0],), "scales": fit.scales, "ratios": fit.ratios}
    else:
        options = {"base_sizes": fit.bases[0], "scales": fit.scales, "ratios": fit.ratios}
    why = f"{convention} makes {_grid_words(convention)}"
    if convention == "mmdet" and not fit.exact:
        pairs = tuple((nice(float(w)), nice(float(h))) for w, h in anchors)
        note = (
            f"AnchorGenerator makes {_grid_words('mmdet')}, which is off by up to "
            f"{100 * fit.error:.3g}% here; YOLOAnchorGenerator (--yolo) takes the pairs as "
            "they are"
        )
        options = {"yolo": True, "yolo_base_sizes": pairs}
        return _expressed("mmdet", options, np.array(pairs), anchors, note, exact_note=note)
    return _expressed(convention, options, fit.shapes[0], anchors, why)


def _checked_anchors(anchors_wh: npt.ArrayLike) -> FloatArray:
    try:
        anchors = np.array(anchors_wh, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnchorError("anchors: expected a (k, 2) list of [w, h] pairs") from None
    if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
        raise AnchorError(f"anchors: expected a (k, 2) list of [w, h] pairs, got {anchors.shape}")
    if not (np.isfinite(anchors).all() and (anchors > 0).all()):
        raise AnchorError("anchors: every width and height must be a positive finite number")
    return anchors


def _expressed(
    convention: str,
    options: dict[str, Any],
    shapes: FloatArray,
    anchors: FloatArray,
    why: str,
    exact_note: str = "exact",
) -> Expressed:
    """The record, with the error measured and a note that says exact or how far off."""
    error, exact = shape_error(anchors, shapes)
    if exact:
        in_order = len(shapes) == len(anchors) and bool(
            (np.abs(shapes / anchors - 1.0) <= EXACT_TOL).all()
        )
        note = exact_note + ("" if in_order else " (in the convention's per-cell order)")
    else:
        note = (
            f"approximate: {why}, which these {len(anchors)} anchors are not; the nearest is "
            f"off by up to {100 * error:.3g}% in width or height (exact: --convention yolo)"
        )
    return Expressed(convention, options, shapes, exact, error, note)


def _express_multibox(
    anchors: FloatArray, convention: str, input_size: tuple[int, int] | None
) -> Expressed:
    """MultiBoxPrior's cross of sizes and ratios: try each anchor as ``(sizes[0], ratios[0])``.

    Every other anchor joins the size list (keeping its size, taking ``ratios[0]``) or the
    ratio list (keeping its ratio, taking ``sizes[0]``), whichever changes it less; the pivot
    of least error wins (the first on ties). A set MultiBoxPrior made is found exactly.
    """
    if input_size is None:
        raise AnchorError(
            f"--input-size is required to express anchors as {convention} sizes (fractions of "
            "the input height)"
        )
    height = float(input_size[1])
    log_s = 0.5 * np.log(anchors[:, 0] * anchors[:, 1]) - math.log(height)
    log_r = np.log(anchors[:, 0] / anchors[:, 1])
    best: tuple[float, dict[str, Any], FloatArray] | None = None
    for pivot in range(len(anchors)):
        # changing the ratio by d moves w and h by d/2 each (in log); the size by d, both
        to_sizes = np.abs(log_r - log_r[pivot]) / 2 <= np.abs(log_s - log_s[pivot])
        others = [i for i in range(len(anchors)) if i != pivot]
        sizes = [pivot] + [i for i in others if to_sizes[i]]
        ratios = [pivot] + [i for i in others if not to_sizes[i]]
        options = {
            "sizes": tuple(nice(math.exp(float(log_s[i]))) for i in sizes),
            "ratios": tuple(nice(math.exp(float(log_r[i]))) for i in ratios),
        }
        shapes = _multibox_shapes(options["sizes"], options["ratios"], height)
        error = shape_error(anchors, shapes)[0]
        if best is None or error < best[0]:
            best = (error, options, shapes)
    assert best is not None
    rules = conventions.load(convention).RULES
    why = f"{convention} makes {rules.order} (ratio = {rules.ratio_meaning})"
    return _expressed(convention, best[1], best[2], anchors, why)


def _multibox_shapes(sizes: Sequence[float], ratios: Sequence[float], height: float) -> FloatArray:
    """MultiBoxPrior's ``(k, 2)`` shapes in pixels on a feature map shaped like the input.

    With ``rows / cols = H / W`` a shape is ``s * sqrt(r) * H`` wide and ``s / sqrt(r) * H``
    high; the normalized extents are the operator's own (float32, a 1 x 1 map).
    """
    spec = mxnet.MultiBoxPriorSpec(tuple(sizes), tuple(ratios))
    return np.array([(s.width * height, s.height * height) for s in spec.shapes()])
