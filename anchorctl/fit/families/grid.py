"""Sizes crossed with ratios, level by level: the FPN and RPN generators.

Every slot is a size ``s`` (the side of the equal-area square, pixels) at a ratio ``r = w/h``:
``w = s * sqrt(r)``, ``h = s / sqrt(r)``. What the conventions let a user choose, and so what
the fit may move (everything else stays as the template has it):

* ``torchvision``, ``detectron2``: each level's own sizes and its own ratios (the count of each
  kept per level, so the heads keep their number of anchors).
* ``mmdet`` (``AnchorGenerator``): a base size per level (``base_sizes``; the stride by
  default) times scales shared by all levels, and one ratio list for all levels. The first
  scale stays the template's (a base size times a scale has one value too many); the
  octave form (``octave_base_scale``, ``scales_per_octave``) is written as the explicit
  ``scales`` it makes.
* ``keras-retinanet``: one size per level times shared scales (the first kept), shared ratios.
* ``tf-multiscale``: ``anchor_scale * 2^level * 2^(j / scales_per_octave)``: only
  ``anchor_scale`` and the shared ratios move (the octave steps are fixed by the grammar).
* ``gluoncv-rpn``: ``base_size`` (kept) times each level's own scales; shared ratios.
* ``py-faster-rcnn``: ``base_size`` (kept) times shared scales, shared ratios, the same shapes
  on every level.
* ``tf-grid``: shared scales times ``base_anchor_size`` (kept; height and width apart), shared
  ratios.

Ratios are searched as ``log(w/h)`` and written in the convention's definition (RULES:
height / width for most of these, width / height for TensorFlow's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from anchorctl.errors import AnchorError
from anchorctl.fit.families import (
    Draft,
    Grammar,
    Template,
    floats,
    nice,
    one_line,
    per_level_values,
    ratio_out,
    shared_ratios,
    without,
)


class _Grid(Draft):
    """A layout of sizes x ratios per level, with named values and their starting points."""

    def size(self, name: str, start_px: float) -> int:
        return self.value(name, math.log(start_px), self.size_lo, self.size_hi)

    def scale(self, name: str, start: float) -> int:
        return self.value(name, math.log(start), -4.0, 4.0)

    def cross(
        self,
        level: int,
        sizes: list[tuple[dict[int, float], float]],
        ratios: list[int],
        base_w: float = 0.0,
        base_h: float = 0.0,
    ) -> None:
        """Slots ``size x ratio`` on ``level``; a size is terms + a log constant (pixels)."""
        for terms, const in sizes:
            for r in ratios:
                lw, lh = dict(terms), dict(terms)
                lw[r] = lw.get(r, 0.0) + 0.5
                lh[r] = lh.get(r, 0.0) - 0.5
                self.builder.slot(level, lw, const + base_w, lh, const + base_h)


def _ratio_words(template: Template) -> str:
    return f"ratio = {template.rules.ratio_meaning}"


def torchvision_like(template: Template) -> Grammar:
    """``torchvision`` and ``detectron2``: per-level sizes and per-level ratios."""
    if template.params.get("angles") is not None:
        raise AnchorError(
            "suggest: rotated Detectron2 anchors (--angles) cannot be fitted to upright boxes"
        )
    module_defaults: dict[str, list[tuple[float, ...]]] = {
        "sizes": [(128.0, 256.0, 512.0)],
        "ratios": [(0.5, 1.0, 2.0)],
    }
    if template.convention == "detectron2":
        module_defaults["sizes"] = [(32.0, 64.0, 128.0, 256.0, 512.0)]
    n = len(template.levels)
    sizes = [
        floats(v) for v in per_level_values(template.params, "sizes", n, module_defaults["sizes"])
    ]
    ratios = [
        floats(v) for v in per_level_values(template.params, "ratios", n, module_defaults["ratios"])
    ]
    g = _Grid(template)
    for level in range(n):
        size_terms = [
            ({g.size(f"sizes[{level}][{j}]", s): 1.0}, 0.0) for j, s in enumerate(sizes[level])
        ]
        ratio_ids = [g.ratio(f"ratios[{level}][{i}]", r) for i, r in enumerate(ratios[level])]
        g.cross(level, size_terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["sizes"] = [
            tuple(nice(math.exp(v[f"sizes[{lv}][{j}]"])) for j in range(len(sizes[lv])))
            for lv in range(n)
        ]
        out["ratios"] = [
            tuple(ratio_out(v[f"ratios[{lv}][{i}]"], template) for i in range(len(ratios[lv])))
            for lv in range(n)
        ]
        return out

    return g.grammar(
        params,
        one_line(
            f"{template.rules.title} makes every size x every ratio of a level",
            f"({_ratio_words(template)}); sizes and ratios are fitted level by level",
        ),
    )


def mmdet(template: Template) -> Grammar:
    """MMDetection ``AnchorGenerator``: base size per level x shared scales x shared ratios."""
    from anchorctl.conventions import mmdet as conv

    specs = conv.level_specs(template.params)
    n = len(specs)
    first = specs[0].params
    scales = sorted({p["scale"] for p in first}, key=[p["scale"] for p in first].index)
    ratios = sorted({p["ratio"] for p in first}, key=[p["ratio"] for p in first].index)
    bases = [float(spec.params[0]["base_size"]) for spec in specs]
    g = _Grid(template)
    scale_ids = [None] + [g.scale(f"scales[{j}]", s) for j, s in enumerate(scales) if j > 0]
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    for level in range(n):
        base = g.size(f"base_sizes[{level}]", bases[level])
        terms = []
        for sid in scale_ids:
            if sid is None:
                terms.append(({base: 1.0}, math.log(scales[0])))
            else:
                terms.append(({base: 1.0, sid: 1.0}, 0.0))
        g.cross(level, terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = without(template.params, "octave_base_scale", "scales_per_octave")
        out["base_sizes"] = [nice(math.exp(v[f"base_sizes[{lv}]"])) for lv in range(n)]
        out["scales"] = (
            float(scales[0]),
            *(nice(math.exp(v[f"scales[{j}]"])) for j in range(1, len(scales))),
        )
        out["ratios"] = [shared_ratios(v, template, len(ratios))]
        return out

    return g.grammar(
        params,
        one_line(
            "MMDetection AnchorGenerator makes base_size x every scale x every ratio",
            f"({_ratio_words(template)}) with one scale list and one ratio list for all levels;",
            "base sizes are fitted per level, scales and ratios once",
        ),
    )


def keras(template: Template) -> Grammar:
    """keras-retinanet: one size per level x shared scales x shared ratios."""
    n = len(template.levels)
    first = template.levels[0].shapes
    scales = sorted(
        {s.params["scale"] for s in first}, key=[s.params["scale"] for s in first].index
    )
    ratios = sorted(
        {s.params["ratio"] for s in first}, key=[s.params["ratio"] for s in first].index
    )
    sizes = [float(level.shapes[0].params["size"]) for level in template.levels]
    g = _Grid(template)
    scale_ids = [None] + [g.scale(f"scales[{j}]", s) for j, s in enumerate(scales) if j > 0]
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    for level in range(n):
        size = g.size(f"sizes[{level}]", sizes[level])
        terms = [
            ({size: 1.0}, math.log(scales[0])) if sid is None else ({size: 1.0, sid: 1.0}, 0.0)
            for sid in scale_ids
        ]
        g.cross(level, terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["sizes"] = [(nice(math.exp(v[f"sizes[{lv}]"])),) for lv in range(n)]
        out["scales"] = (
            float(scales[0]),
            *(nice(math.exp(v[f"scales[{j}]"])) for j in range(1, len(scales))),
        )
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            "keras-retinanet makes size x every scale x every ratio",
            f"({_ratio_words(template)}) with one scale list and one ratio list for all levels;",
            "sizes are fitted per level, scales and ratios once",
        ),
    )


def tf_multiscale(template: Template) -> Grammar:
    """TF MultiscaleGridAnchorGenerator: ``anchor_scale`` and the shared ratios only."""
    p = template.params
    min_level = int(p.get("min_level") or 3)
    per_octave = int(p.get("scales_per_octave") or 2)
    ratios = floats(p.get("ratios") or (1.0, 2.0, 0.5))
    anchor_scale = float(p.get("anchor_scale") or 4.0)
    g = _Grid(template)
    a = g.scale("anchor_scale", anchor_scale)
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    for index in range(len(template.levels)):
        level = min_level + index
        terms = [({a: 1.0}, (level + j / per_octave) * math.log(2.0)) for j in range(per_octave)]
        g.cross(index, terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["anchor_scale"] = nice(math.exp(v["anchor_scale"]))
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            "TF MultiscaleGridAnchorGenerator makes anchor_scale x 2^level x 2^(j/scales_per_"
            f"octave) at every ratio ({_ratio_words(template)}): only anchor_scale and the",
            "ratios can move",
        ),
    )


def gluoncv_rpn(template: Template) -> Grammar:
    """GluonCV RPN: ``base_size`` x per-level scales, shared ratios."""
    p = template.params
    n = len(template.levels)
    base = float(p.get("base_size") or 16.0)
    scales = [floats(v) for v in per_level_values(p, "scales", n, [(8.0, 16.0, 32.0)])]
    ratios = floats(p.get("ratios") or (0.5, 1.0, 2.0))
    g = _Grid(template)
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    for level in range(n):
        terms = [
            ({g.scale(f"scales[{level}][{j}]", s): 1.0}, math.log(base))
            for j, s in enumerate(scales[level])
        ]
        g.cross(level, terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["scales"] = [
            tuple(nice(math.exp(v[f"scales[{lv}][{j}]"])) for j in range(len(scales[lv])))
            for lv in range(n)
        ]
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            f"GluonCV RPNAnchorGenerator makes base_size x every scale x every ratio "
            f"({_ratio_words(template)}) of a level, one ratio list for all levels, the ratio",
            "windows rounded to whole pixels; scales are fitted per level, ratios once",
        ),
    )


def py_faster_rcnn(template: Template) -> Grammar:
    """py-faster-rcnn: shared scales x shared ratios of one base window, on every level."""
    p = template.params
    base = float(p.get("base_size") or 16.0)
    scales = floats(p.get("scales") or (8.0, 16.0, 32.0))
    ratios = floats(p.get("ratios") or (0.5, 1.0, 2.0))
    g = _Grid(template)
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    terms = [({g.scale(f"scales[{j}]", s): 1.0}, math.log(base)) for j, s in enumerate(scales)]
    for level in range(len(template.levels)):
        g.cross(level, terms, ratio_ids)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["scales"] = tuple(nice(math.exp(v[f"scales[{j}]"])) for j in range(len(scales)))
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            "py-faster-rcnn generate_anchors makes every scale x every ratio "
            f"({_ratio_words(template)}) of the base_size window, rounded to whole pixels,",
            "the same on every feature map",
        ),
    )


def tf_grid(template: Template) -> Grammar:
    """TF GridAnchorGenerator: shared scales x shared ratios of ``base_anchor_size``."""
    p = template.params
    scales = floats(p.get("scales") or (0.5, 1.0, 2.0))
    ratios = floats(p.get("ratios") or (0.5, 1.0, 2.0))
    base = p.get("base_anchor_size") or (256.0, 256.0)
    base_h, base_w = (
        (float(base), float(base))
        if isinstance(base, (int, float))
        else (float(base[0]), float(base[1]))
    )
    g = _Grid(template)
    ratio_ids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    terms = [({g.scale(f"scales[{j}]", s): 1.0}, 0.0) for j, s in enumerate(scales)]
    for level in range(len(template.levels)):
        g.cross(level, terms, ratio_ids, math.log(base_w), math.log(base_h))

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["scales"] = tuple(nice(math.exp(v[f"scales[{j}]"])) for j in range(len(scales)))
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            "TF GridAnchorGenerator makes every scale x every ratio "
            f"({_ratio_words(template)}) of base_anchor_size, the same on every feature map",
        ),
    )


MAKERS: dict[str, Callable[[Template], Grammar]] = {
    "torchvision": torchvision_like,
    "detectron2": torchvision_like,
    "mmdet": mmdet,
    "keras-retinanet": keras,
    "tf-multiscale": tf_multiscale,
    "gluoncv-rpn": gluoncv_rpn,
    "py-faster-rcnn": py_faster_rcnn,
    "tf-grid": tf_grid,
}
