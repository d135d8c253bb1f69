"""Scales and ratios per layer: the SSD generators and MultiBoxPrior.

Per layer, the conventions make squares and ratio boxes of the layer's scale; what the fit may
move (the number of ratios per layer, steps, offsets, clipping and flags stay the template's):

* ``torchvision-ssd``: the scales ``s_0 .. s_m`` (fractions of the image side; layer ``k`` has
  squares ``s_k`` and ``sqrt(s_k * s_k+1)``) and each layer's ratios (each with its
  transpose). With ``clip`` (the default) a normalized side is capped at 1.
* ``caffe-ssd``: each layer's ``min_size`` and ``max_size`` (pixels, truncated to whole pixels
  by PriorBox; the ``sqrt(min * max)`` square) and ratios (with their flips when ``flip``).
* ``mmdet --ssd``: each level's ``min_sizes`` and ``max_sizes`` and ratios (each adding ``r``
  and ``1/r``), as Caffe's.
* ``gluoncv-ssd``: each layer's size pair ``(s_k, s_k+1)`` (pixels) and ratios after the first
  (which GluonCV takes as 1); ``--lite`` layers as ``LiteAnchorGenerator`` makes them.
* ``tf-ssd``: one scale per layer (fractions of the shorter image side, times
  ``base_anchor_size``), one ratio list for all layers; the lowest layer's reduced boxes
  ``(0.1, 1), (s_0, 2), (s_0, 0.5)`` keep their fixed ratios and the 0.1, and the interpolated
  box its ratio.
* ``mxnet``, ``d2l`` (MultiBoxPrior): each layer's sizes (fractions of the image height) and
  ratios: every size at ``ratios[0]``, then ``sizes[0]`` at each other ratio.

Values are searched in log space; the template's counts are kept, so the heads keep their
number of outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from anchorctl.conventions.base import per_level
from anchorctl.fit.families import (
    Draft,
    Grammar,
    Template,
    floats,
    nice,
    one_line,
    ratio_out,
    shared_ratios,
    without,
)

LOG_MAX_OVER_MIN = (math.log(1.02), math.log(8.0))  # sqrt(min * max) squares: max / min range


class _Layers(Draft):
    """Named values and slots, written layer by layer."""

    def __init__(self, template: Template) -> None:
        super().__init__(template)
        width, height = template.input_size
        self.log_w, self.log_h = math.log(width), math.log(height)

    def px(self, name: str, start_px: float) -> int:
        """A size in pixels."""
        return self.value(name, math.log(start_px), self.size_lo, self.size_hi)

    def fraction(self, name: str, start: float, side: float) -> int:
        """A size as a fraction of an image side of ``side`` pixels."""
        lo = self.size_lo - math.log(side)
        return self.value(name, math.log(start), lo, self.size_hi - math.log(side))

    def box(
        self,
        level: int,
        size: dict[int, float],
        const: float,
        ratio: dict[int, float] | float = 0.0,
        *,
        const_w: float = 0.0,
        const_h: float = 0.0,
        cap: tuple[float, float] = (math.inf, math.inf),
    ) -> None:
        """A slot of log size ``size + const`` at ratio ``ratio`` (a value, or a fixed log r)."""
        lw, lh = dict(size), dict(size)
        cw, ch = const + const_w, const + const_h
        if isinstance(ratio, dict):
            for i, c in ratio.items():
                lw[i] = lw.get(i, 0.0) + 0.5 * c
                lh[i] = lh.get(i, 0.0) - 0.5 * c
        else:
            cw += 0.5 * ratio
            ch -= 0.5 * ratio
        self.builder.slot(level, lw, cw, lh, ch, cap)


def torchvision_ssd(template: Template) -> Grammar:
    from anchorctl.conventions import torchvision_ssd as conv

    p = template.params
    n = len(template.levels)
    given = p.get("scales")
    scales = conv.resolve_scales(
        n,
        None if given is None else floats(given),
        float(p.get("min_ratio") or 0.15),
        float(p.get("max_ratio") or 0.9),
    )
    ratios = [floats(r) for r in per_level(p, "ratios", n)]
    clip = p.get("clip") is not False
    width, height = template.input_size
    cap = (float(width), float(height)) if clip else (math.inf, math.inf)
    g = _Layers(template)
    side = float(max(width, height))
    ids = [g.fraction(f"scales[{k}]", s, side) for k, s in enumerate(scales)]
    for level in range(n):
        s, nxt = ids[level], ids[level + 1]
        cw, ch = g.log_w, g.log_h
        g.box(level, {s: 1.0}, 0.0, const_w=cw, const_h=ch, cap=cap)
        g.box(level, {s: 0.5, nxt: 0.5}, 0.0, const_w=cw, const_h=ch, cap=cap)
        for i, r in enumerate(ratios[level]):
            rid = g.ratio(f"ratios[{level}][{i}]", r)
            g.box(level, {s: 1.0}, 0.0, {rid: 1.0}, const_w=cw, const_h=ch, cap=cap)
            g.box(level, {s: 1.0}, 0.0, {rid: -1.0}, const_w=cw, const_h=ch, cap=cap)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = without(template.params, "min_ratio", "max_ratio")
        out["scales"] = tuple(nice(math.exp(v[f"scales[{k}]"])) for k in range(n + 1))
        out["ratios"] = [
            tuple(_at_least_one(ratio_out(v[f"ratios[{lv}][{i}]"], template))
                  for i in range(len(ratios[lv])))
            for lv in range(n)
        ]  # fmt: skip
        return out

    return g.grammar(
        params,
        one_line(
            "torchvision DefaultBoxGenerator makes, per layer, squares s_k and sqrt(s_k * s_k+1)",
            f"and each ratio with its transpose (ratio = {template.rules.ratio_meaning});",
            "the scales s_0..s_m are shared by neighbouring layers",
        ),
    )


def _at_least_one(ratio: float) -> float:
    """torchvision adds each ratio's transpose: ``r`` and ``1/r`` make the same pair."""
    return ratio if ratio >= 1 else nice(1.0 / ratio)


def caffe_ssd(template: Template) -> Grammar:
    p = template.params
    n = len(template.levels)
    mins = [floats(v) for v in per_level(p, "min_sizes", n)]
    maxs = [floats(v) if v else () for v in per_level(p, "max_sizes", n, [()])]
    ratios = [floats(v) if v else () for v in per_level(p, "ratios", n, [()])]
    flip = p.get("flip") is not False
    g = _Layers(template)
    for level in range(n):
        rids = [g.ratio(f"ratios[{level}][{i}]", r) for i, r in enumerate(ratios[level])]
        for j, low in enumerate(mins[level]):
            m = g.px(f"min_sizes[{level}][{j}]", low)
            g.box(level, {m: 1.0}, 0.0)
            if maxs[level]:
                q = g.value(f"max_over_min[{level}][{j}]", math.log(maxs[level][j] / low),
                            *LOG_MAX_OVER_MIN)  # fmt: skip
                g.box(level, {m: 1.0, q: 0.5}, 0.0)
            for rid in rids:
                g.box(level, {m: 1.0}, 0.0, {rid: 1.0})
                if flip:
                    g.box(level, {m: 1.0}, 0.0, {rid: -1.0})

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        new_mins, new_maxs = [], []
        for lv in range(n):
            low = [max(1.0, float(round(math.exp(v[f"min_sizes[{lv}][{j}]"]))))
                   for j in range(len(mins[lv]))]  # fmt: skip
            new_mins.append(tuple(low))
            if maxs[lv]:
                high = [
                    max(lo + 1.0, float(round(lo * math.exp(v[f"max_over_min[{lv}][{j}]"]))))
                    for j, lo in enumerate(low)
                ]
                new_maxs.append(tuple(high))
            else:
                new_maxs.append(())
        out["min_sizes"] = new_mins
        out["max_sizes"] = new_maxs
        out["ratios"] = [
            tuple(_not_one(ratio_out(v[f"ratios[{lv}][{i}]"], template), flip)
                  for i in range(len(ratios[lv])))
            for lv in range(n)
        ]  # fmt: skip
        return out

    return g.grammar(
        params,
        one_line(
            "Caffe PriorBox makes, per layer, the min_size square, the sqrt(min_size *",
            f"max_size) square and min_size at each ratio (ratio = {template.rules.ratio_meaning}",
            f"{', with its flip' if flip else ''}); sizes are whole pixels",
        ),
    )


def _not_one(ratio: float, flip: bool) -> float:
    """A Caffe ratio: 1 is always there already, and with flips r and 1/r are one entry."""
    if flip and ratio < 1:
        ratio = nice(1.0 / ratio)
    if abs(ratio - 1.0) < 1e-3:  # PriorBox would drop it as a duplicate of 1
        ratio = 1.001 if ratio >= 1 else 0.999
    return ratio


def mmdet_ssd(template: Template) -> Grammar:
    from anchorctl.conventions import mmdet as conv

    specs = conv.level_specs(template.params)
    n = len(specs)
    mins, maxs, ratios = [], [], []
    for spec in specs:
        first = spec.params
        low = float(first[0]["base_size"])
        mins.append(low)
        maxs.append(low * float(first[1]["scale"]) ** 2)
        extra = [float(q["ratio"]) for q in first[2:]]
        ratios.append(tuple(r for r in extra if r >= 1.0) or tuple(extra[1::2]))
    g = _Layers(template)
    for level in range(n):
        m = g.px(f"min_sizes[{level}]", mins[level])
        q = g.value(f"max_over_min[{level}]", math.log(maxs[level] / mins[level]),
                    *LOG_MAX_OVER_MIN)  # fmt: skip
        g.box(level, {m: 1.0}, 0.0)
        g.box(level, {m: 1.0, q: 0.5}, 0.0)
        for i, r in enumerate(ratios[level]):
            rid = g.ratio(f"ratios[{level}][{i}]", r)
            g.box(level, {m: 1.0}, 0.0, {rid: 1.0})
            g.box(level, {m: 1.0}, 0.0, {rid: -1.0})

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = without(template.params, "basesize_ratio_range")
        low = [nice(math.exp(v[f"min_sizes[{lv}]"])) for lv in range(n)]
        out["min_sizes"] = low
        out["max_sizes"] = [
            nice(lo * math.exp(v[f"max_over_min[{lv}]"])) for lv, lo in enumerate(low)
        ]
        out["ratios"] = [
            tuple(_at_least_one(ratio_out(v[f"ratios[{lv}][{i}]"], template))
                  for i in range(len(ratios[lv])))
            for lv in range(n)
        ]  # fmt: skip
        return out

    return g.grammar(
        params,
        one_line(
            "MMDetection SSDAnchorGenerator makes, per level, the min_size square, the",
            "sqrt(min_size * max_size) square and min_size at each ratio r and 1/r",
            f"(ratio = {template.rules.ratio_meaning})",
        ),
    )


def gluoncv_ssd(template: Template) -> Grammar:
    from anchorctl.conventions import gluoncv_ssd as conv

    specs = conv.layer_specs(template.params)
    n = len(specs)
    g = _Layers(template)
    for level, spec in enumerate(specs):
        s = g.px(f"sizes[{level}][0]", spec.sizes[0])
        nxt = g.px(f"sizes[{level}][1]", spec.sizes[1])
        boxes: list[tuple[dict[int, float], float]] = []
        if spec.lite:
            boxes.append(({s: 1.0}, -math.log(2.0)))
        else:
            boxes.append(({s: 1.0}, 0.0))
            boxes.append(({s: 0.5, nxt: 0.5}, 0.0))
        for size, const in boxes:
            g.box(level, size, const)
        for i, r in enumerate(spec.ratios[1:]):
            rid = g.ratio(f"ratios[{level}][{i + 1}]", r)
            g.box(level, {s: 1.0}, 0.0, {rid: 1.0})
        if spec.lite and spec.index > 0:
            g.box(level, {s: 0.5, nxt: 0.5}, 0.0)
    ratio_counts = [len(spec.ratios) for spec in specs]

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = dict(template.params)
        out["sizes"] = [
            (nice(math.exp(v[f"sizes[{lv}][0]"])), nice(math.exp(v[f"sizes[{lv}][1]"])))
            for lv in range(n)
        ]
        out["ratios"] = [
            (
                1.0,
                *(ratio_out(v[f"ratios[{lv}][{i}]"], template) for i in range(1, ratio_counts[lv])),
            )
            for lv in range(n)
        ]
        return out

    return g.grammar(
        params,
        one_line(
            "GluonCV SSDAnchorGenerator makes, per layer, squares s_k and sqrt(s_k * s_k+1) and",
            f"s_k at each ratio after the first (ratio = {template.rules.ratio_meaning})",
        ),
    )


def tf_ssd(template: Template) -> Grammar:
    from anchorctl.conventions import tf_ssd as conv

    p = template.params
    n = len(template.levels)
    given = p.get("scales")
    if given:
        ladder = list(floats(given))
    else:
        low, high = float(p.get("min_scale") or 0.2), float(p.get("max_scale") or 0.95)
        ladder = [low + (high - low) * i / max(n - 1, 1) for i in range(n)]
    ratios = floats(p.get("ratios") or conv.DEFAULT_RATIOS)
    value = p.get("interpolated_scale_aspect_ratio")
    interpolated = 1.0 if value is None else float(value)
    reduce = p.get("reduce_boxes_in_lowest_layer") is not False
    base = p.get("base_anchor_size") or (1.0, 1.0)
    base_h, base_w = (
        (float(base), float(base))
        if isinstance(base, (int, float))
        else (float(base[0]), float(base[1]))
    )
    shorter = float(min(template.input_size))
    cw, ch = math.log(base_w * shorter), math.log(base_h * shorter)
    g = _Layers(template)
    ids = [g.fraction(f"scales[{k}]", s, shorter) for k, s in enumerate(ladder[:n])]
    rids = [g.ratio(f"ratios[{i}]", r) for i, r in enumerate(ratios)]
    last = math.log(ladder[n]) if len(ladder) > n else 0.0  # the trailing 1.0
    for level in range(n):
        s = ids[level]
        if level == 0 and reduce:
            g.box(level, {}, math.log(conv.LOWEST_LAYER_SCALE), 0.0, const_w=cw, const_h=ch)
            g.box(level, {s: 1.0}, 0.0, math.log(2.0), const_w=cw, const_h=ch)
            g.box(level, {s: 1.0}, 0.0, math.log(0.5), const_w=cw, const_h=ch)
            continue
        for rid in rids:
            g.box(level, {s: 1.0}, 0.0, {rid: 1.0}, const_w=cw, const_h=ch)
        if interpolated > 0:
            nxt: dict[int, float] = {s: 0.5}
            const = 0.0
            if level + 1 < n:
                nxt[ids[level + 1]] = nxt.get(ids[level + 1], 0.0) + 0.5
            else:
                const = 0.5 * last
            g.box(level, nxt, const, math.log(interpolated), const_w=cw, const_h=ch)

    def params(v: dict[str, float]) -> dict[str, Any]:
        out = without(template.params, "min_scale", "max_scale")
        scales = [nice(math.exp(v[f"scales[{k}]"])) for k in range(n)]
        if len(ladder) > n:
            scales.append(float(ladder[n]))
        out["scales"] = tuple(scales)
        out["ratios"] = shared_ratios(v, template, len(ratios))
        return out

    return g.grammar(
        params,
        one_line(
            "TF create_ssd_anchors makes, per layer, the layer's scale at every ratio of one list",
            f"(ratio = {template.rules.ratio_meaning}) and the interpolated sqrt(s_k * s_k+1)",
            "box; the lowest layer's reduced boxes keep their fixed 0.1 and ratios",
        ),
    )


def multibox(template: Template) -> Grammar:
    """MultiBoxPrior (``mxnet``, ``d2l``): sizes at ``ratios[0]``, ``sizes[0]`` at the others."""
    p = template.params
    n = len(template.levels)
    defaults = [(1.0,)]
    sizes = [floats(v) for v in per_level(p, "sizes", n, defaults)]
    ratios = [floats(v) for v in per_level(p, "ratios", n, defaults)]
    height = float(template.input_size[1])
    width = float(template.input_size[0])
    g = _Layers(template)
    for level, tpl in enumerate(template.levels):
        rows, cols = tpl.feature_map
        # MultiBoxPrior's normalized width is s * sqrt(r) * rows / cols
        cw = math.log(width * rows / cols)
        ch = math.log(height)
        sid = [g.fraction(f"sizes[{level}][{j}]", s, height) for j, s in enumerate(sizes[level])]
        rid = [g.ratio(f"ratios[{level}][{i}]", r) for i, r in enumerate(ratios[level])]
        for s in sid:
            g.box(level, {s: 1.0}, 0.0, {rid[0]: 1.0}, const_w=cw, const_h=ch)
        for r in rid[1:]:
            g.box(level, {sid[0]: 1.0}, 0.0, {r: 1.0}, const_w=cw, const_h=ch)

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
            f"{template.rules.title} makes every size with ratios[0] and sizes[0] with every",
            f"other ratio (ratio = {template.rules.ratio_meaning}; sizes are fractions of the",
            "image height)",
        ),
    )


MAKERS: dict[str, Callable[[Template], Grammar]] = {
    "torchvision-ssd": torchvision_ssd,
    "caffe-ssd": caffe_ssd,
    "gluoncv-ssd": gluoncv_ssd,
    "tf-ssd": tf_ssd,
    "mxnet": multibox,
    "d2l": multibox,
}
