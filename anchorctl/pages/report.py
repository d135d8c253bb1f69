"""The coverage report as one HTML page: what ``anchorctl coverage`` computes, as pictures.

Sections (every number from :func:`anchorctl.coverage.measure` and
:func:`~anchorctl.coverage.coverage_report`, all in network-input pixels):

* the boxes' width x height on log axes, each box coloured by the level of its best anchor
  (a cross when no anchor reaches the IoU threshold), with every level's anchor shapes on top
  and, around each, the region of shapes it covers at the threshold when both are centred;
* the best-IoU histogram, recall against the IoU threshold, boxes per level of their best
  anchor, the size and aspect tables, and the worst-covered boxes (with image crops when the
  images are at hand);
* with a fit (:class:`Fitted`), the current against the suggested anchors and how the fit's
  score grows with k.

Large datasets: the scatter plots at most ``max_points`` boxes, a seeded uniform sample, and
says so; the histogram, curves and tables always use every box, so the page stays a few
hundred KB whatever the dataset's size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl import palette
from anchorctl.coverage import BoxCoverage
from anchorctl.pages import svg
from anchorctl.pages.page import data_uri, html_page

F64 = npt.NDArray[np.float64]

MAX_POINTS = 20_000
K_CURVE_BOXES = 50_000  # boxes the k curve's search sees (a seeded sample beyond that)
HIST_BINS = 50


@dataclass(frozen=True)
class AnchorShape:
    """One per-cell anchor shape: its ``level``, ``slot``, ``w`` x ``h`` in input pixels and
    the convention's words for it (``label``, e.g. ``size 32, ratio 0.5``)."""

    level: int
    slot: int
    w: float
    h: float
    label: str = ""


@dataclass(frozen=True)
class KPoint:
    """One point of the k curve: ``k`` anchors fitted, their ``(k, 2)`` shapes, the mean best
    centred IoU over the boxes and the share of boxes whose best centred IoU reaches the
    threshold."""

    k: int
    anchors: F64 = field(repr=False)
    mean_iou: float
    recall: float


@dataclass(frozen=True)
class Fitted:
    """A fit to show beside the current anchors: ``current`` and ``suggested`` ``(K, 2)`` w, h
    in input pixels, the k curve, how the suggestion reads in the convention's options
    (``options``, ``exact``, ``note``), and who made it (``method``: which search, seed, on
    which boxes, and the ``anchorctl suggest`` command that gives the same anchors).
    ``levels`` gives each suggested shape's level when the fit is per level (else empty)."""

    current: F64 = field(repr=False)
    suggested: F64 = field(repr=False)
    curve: tuple[KPoint, ...]
    options: str
    exact: bool
    note: str
    method: str
    levels: tuple[int, ...] = ()


def k_curve(
    boxes: npt.ArrayLike,
    ks: Sequence[int],
    threshold: float,
    input_size: tuple[int, int],
    *,
    seed: int = 0,
    limit: int = K_CURVE_BOXES,
) -> tuple[KPoint, ...]:
    """The fit's score for each k of ``ks``: ``anchorctl suggest``'s search
    (:func:`anchorctl.suggest.suggest`) for ``k`` free ``(w, h)`` anchors on one level, fitted
    to a seeded sample of at most ``limit`` of ``boxes`` ``(N, 4)`` xyxy network-input pixels
    (``input_size`` ``(W, H)``). Both scores are over every box: the mean best centred IoU
    and the share of boxes whose best centred IoU reaches ``threshold``.

    The one place the report's k curve calls a fitter.
    """
    from anchorctl.iou import shape_best_iou
    from anchorctl.suggest import free_template, suggest

    box = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = box[:, 2:] - box[:, :2]
    # the search's own measures cover every box it is given: give it the sample only, and
    # score the whole set here by shape (what the curve shows), once per k
    seen = box[sample(len(box), limit, seed)]
    out = []
    for k in ks:
        fit = suggest(seen, free_template(input_size, int(k)), k=int(k), seed=seed, sample=limit)
        best, _ = shape_best_iou(wh, fit.anchors)
        out.append(
            KPoint(int(k), fit.anchors, float(best.mean()), float((best >= threshold).mean()))
        )
    return tuple(out)


def sample(n: int, limit: int = MAX_POINTS, seed: int = 0) -> npt.NDArray[np.int64]:
    """Indices of at most ``limit`` of ``n`` items: all of them, or a seeded uniform sample
    without repeats, in ascending order."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.int64)


def iou_region(w: float, h: float, threshold: float, steps: int = 96) -> F64:
    """The ``(steps, 2)`` outline of the box shapes whose centred IoU with a ``w`` x ``h``
    anchor is at least ``threshold``.

    Along any ray from ``(log w, log h)`` in log space the centred IoU only falls (it is
    ``e^-(u+v)`` where both sides grow, ``e^(u+v)`` where both shrink and
    ``1 / (e^u + e^-v - 1)`` in between), so the outline is found ray by ray by bisection.
    """
    angles = np.linspace(0.0, 2 * math.pi, steps, endpoint=False)
    du, dv = np.cos(angles), np.sin(angles)
    lo, hi = np.zeros(steps), np.full(steps, 1.0)
    while True:  # grow the bracket until every ray is outside
        inside = _centred_iou(du * hi, dv * hi) >= threshold
        if not inside.any():
            break
        hi = np.where(inside, hi * 2, hi)
    for _ in range(40):
        mid = (lo + hi) / 2
        inside = _centred_iou(du * mid, dv * mid) >= threshold
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return np.stack([w * np.exp(du * lo), h * np.exp(dv * lo)], axis=1)


def _centred_iou(u: F64, v: F64) -> F64:
    """Centred IoU of a box ``(a e^u, b e^v)`` with the anchor ``(a, b)``."""
    inter = np.exp(np.minimum(u, 0) + np.minimum(v, 0))
    union = np.exp(u + v) + 1 - inter
    out: F64 = inter / union
    return out


def build_report(
    summary: Mapping[str, Any],
    boxes: npt.ArrayLike,
    measured: BoxCoverage,
    shapes: Sequence[AnchorShape],
    *,
    title: str,
    facts: Sequence[str] = (),
    crops: Mapping[int, bytes] | None = None,
    fitted: Fitted | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> str:
    """The report page as HTML text.

    ``summary`` is :func:`~anchorctl.coverage.coverage_report`'s dict for ``boxes`` ``(N, 4)``
    (input pixels) and ``measured``; ``shapes`` every level's anchor shapes; ``facts`` short
    lines under the title (source, anchors, resize); ``crops`` JPEG bytes by box index for the
    worst boxes whose image was found.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = b[:, 2:] - b[:, :2]
    t = float(summary["main_threshold"])
    n = len(b)
    chosen = sample(n, max_points, seed)
    parts = [f"<h1>{escape(title)}</h1>"]
    parts += [f'<p class="note">{escape(line)}</p>' for line in facts]
    parts.append(_kpis(summary, shapes))
    if n == 0:
        parts.append("<p>No boxes to show: every entry was skipped or filtered out.</p>")
        return html_page(title, "".join(parts))
    plotted = (
        f"Plotted: all {n:,} boxes."
        if len(chosen) == n
        else f"Plotted: {len(chosen):,} of {n:,} boxes (a uniform random sample, seed {seed}); "
        "the histogram, curves and tables use every box."
    )
    parts.append('<h2 id="shapes">Box shapes and anchor shapes</h2>')
    parts.append(f'<p class="note">{escape(plotted)}</p>')
    parts.append(_scatter(wh[chosen], measured, chosen, shapes, t, fitted))
    parts.append('<div class="grid2">')
    parts.append(_card("Best IoU of each box", _histogram(measured.best_iou, t)))
    parts.append(_card("Recall against the IoU threshold", _recall(measured, t)))
    parts.append(_card("Boxes by the level of their best anchor", _levels(summary, shapes)))
    parts.append("</div>")
    parts.append('<h2 id="tables">By size and by aspect ratio</h2><div class="grid2">')
    parts.append(
        _card(escape(summary.get("size_basis", "size")), _bucket_table(summary, "by_size"))
    )
    parts.append(
        _card(escape(summary.get("aspect_basis", "aspect")), _bucket_table(summary, "by_aspect"))
    )
    parts.append("</div>")
    parts.append(_worst(summary, crops or {}, t))
    if fitted is not None:
        parts.append(_fit_section(fitted, shapes, wh, t))
    parts.append(
        f'<p class="note">IoU: {escape(str(summary.get("iou", "")))}. Position-aware: every '
        "anchor at its place, as SSD and RPN assign; shape-only: centred shapes; BPR: YOLO's "
        f"ratio test (anchor_t {summary.get('yolo_thr', 4):g}).</p>"
    )
    return html_page(title, "".join(parts), scripts=("report.js",))


def _card(heading: str, body: str) -> str:
    return f'<div class="card"><h3>{heading}</h3>{body}</div>'


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _kpis(summary: Mapping[str, Any], shapes: Sequence[AnchorShape]) -> str:
    t = f"{summary['main_threshold']:g}"
    recall = summary["recall"].get(t)
    items = [
        (f"{summary['boxes']:,}", "boxes"),
        (_pct(recall), f"recall at IoU {t} (position-aware)"),
        (_num(summary.get("mean_best_iou")), "mean best IoU"),
        (_num((summary.get("shape") or {}).get("mean_best_iou")), "mean best IoU, shape-only"),
        (_pct(summary.get("bpr")), f"BPR (YOLO, thr {summary.get('yolo_thr', 4):g})"),
        (str(len(shapes)), f"anchor shapes on {len({s.level for s in shapes})} level(s)"),
    ]
    body = "".join(
        f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in items
    )
    return f'<div class="kpis">{body}</div>'


def _range(values: F64) -> tuple[float, float]:
    positive = values[values > 0]
    if not len(positive):
        return 1.0, 10.0
    lo, hi = float(positive.min()), float(positive.max())
    return lo / 1.3, hi * 1.3


def _scatter(
    wh: F64,
    measured: BoxCoverage,
    chosen: npt.NDArray[np.int64],
    shapes: Sequence[AnchorShape],
    t: float,
    fitted: Fitted | None,
) -> str:
    anchor_wh = np.array([[s.w, s.h] for s in shapes], dtype=np.float64).reshape(-1, 2)
    extra = [wh, anchor_wh]
    if fitted is not None:
        extra.append(np.asarray(fitted.suggested, dtype=np.float64).reshape(-1, 2))
    every = np.concatenate(extra)
    lo, hi = _range(every.ravel())
    plot = svg.Plot(760, 560, (lo, hi), (lo, hi), log_x=True, log_y=True,
                    margin=(58, 18, 14, 44))  # fmt: skip
    plot.axes("box width (input px)", "box height (input px)")
    clip = plot.clip_id("scatter-clip")
    plot.add(f'<g clip-path="{clip}">')
    levels = sorted({s.level for s in shapes})
    for s in shapes:  # the regions each anchor covers at t, centred
        outline = iou_region(s.w, s.h, t)
        d = "M" + "L".join(f"{svg.num(plot.x(a))} {svg.num(plot.y(b))}" for a, b in outline) + "Z"
        colour = palette.hex_colour(palette.level_colour(s.level))
        plot.add(
            f'<path class="region L{s.level}" d="{d}" fill="{colour}" fill-opacity="0.07" '
            f'stroke="{colour}" stroke-opacity="0.55" stroke-width="1"/>'
        )
    best_level = measured.level[chosen]
    covered = measured.best_iou[chosen] >= t
    # few boxes: big opaque marks; many: small translucent ones, so density shows
    dot = 7.0 if len(wh) <= 500 else 4.5 if len(wh) <= 5000 else 3.0
    alpha = 0.9 if len(wh) <= 500 else 0.5
    for level in levels:
        mask = (best_level == level) & covered
        colour = palette.hex_colour(palette.level_colour(level))
        plot.points(wh[mask, 0].tolist(), wh[mask, 1].tolist(), colour, dot, f"ok L{level}", alpha)
    missed = ~covered
    for level in levels:
        mask = (best_level == level) & missed
        plot.crosses(wh[mask, 0].tolist(), wh[mask, 1].tolist(), palette.hex_colour(palette.MISSED),
                     dot * 0.7, f"miss L{level}", min(1.0, alpha + 0.1))  # fmt: skip
    for s in shapes:
        colour = palette.hex_colour(palette.level_colour(s.level))
        x, y = plot.x(s.w), plot.y(s.h)
        tip = f"level {s.level} slot {s.slot}: {s.w:.1f} x {s.h:.1f} px" + (
            f" ({s.label})" if s.label else ""
        )
        plot.add(
            f'<path class="anc L{s.level}" d="M{svg.num(x)} {svg.num(y - 7)}l7 7l-7 7l-7-7z" '
            f'fill="{colour}" stroke="#222" stroke-width="1.2"><title>{escape(tip)}</title></path>'
        )
    if fitted is not None:
        on = fitted.levels

        def where(i: int) -> str:
            return f" (level {on[i]})" if on else ""

        for i, (w, h) in enumerate(np.asarray(fitted.suggested).tolist()):
            x, y = plot.x(w), plot.y(h)
            plot.add(
                f'<path class="sug" d="M{svg.num(x)} {svg.num(y - 7)}l7 7l-7 7l-7-7z" '
                f'fill="#fff" fill-opacity="0.6" stroke="#6a1b9a" stroke-width="2">'
                f"<title>suggested {i}{where(i)}: {w:.1f} x {h:.1f} px</title></path>"
            )
    plot.add("</g>")
    (x0, x1), (y0, y1) = plot.x_range, plot.y_range
    left, right, top, bottom = plot.margin
    data = (
        f' data-log="1" data-x0="{x0!r}" data-x1="{x1!r}" data-y0="{y0!r}" data-y1="{y1!r}" '
        f'data-px0="{left}" data-px1="{plot.width - right}" data-py0="{plot.height - bottom}" '
        f'data-py1="{top}"'
    )
    toggles = ['<div class="toggles" data-for="scatter">']
    for level in levels:
        colour = palette.hex_colour(palette.level_colour(level))
        toggles.append(
            f'<label><input type="checkbox" checked data-layer="L{level}"> '
            f'<span class="swatch" style="background:{colour}"></span>level {level}</label>'
        )
    toggles.append('<label><input type="checkbox" checked data-layer="ok"> covered boxes</label>')
    toggles.append('<label><input type="checkbox" checked data-layer="miss"> missed boxes</label>')
    toggles.append(
        f'<label><input type="checkbox" checked data-layer="region"> IoU &ge; {t:g} regions</label>'
    )
    if fitted is not None:
        toggles.append(
            '<label><input type="checkbox" checked data-layer="sug"> suggested anchors</label>'
        )
    toggles.append("</div>")
    legend = svg.legend_row(
        [("dot", "#777", f"box whose best anchor reaches IoU {t:g}, in its level's colour"),
         ("cross", palette.hex_colour(palette.MISSED), f"box no anchor covers at IoU {t:g}"),
         ("anchor", "#999", "an anchor shape (diamond, level colour; hover for its size)"),
         ("area", "#888", f"shapes it covers at centred IoU >= {t:g}")]
        + ([("suggested", "#6a1b9a", "suggested anchor")] if fitted is not None else [])
    )  # fmt: skip
    readout = (
        '<div class="readout" id="scatter-readout">hover the chart to read a width x height</div>'
    )
    return (
        '<div class="card">'
        + "".join(toggles)
        + plot.svg("box width against height, log axes, with anchor shapes", "chart scatter", data)
        + legend
        + readout
        + "</div>"
    )


def _histogram(best_iou: F64, t: float) -> str:
    counts, edges = np.histogram(best_iou, bins=HIST_BINS, range=(0.0, 1.0))
    top = max(1, int(counts.max()))
    plot = svg.Plot(460, 260, (0.0, 1.0), (0.0, top * 1.08))
    plot.axes("best IoU", "boxes", x_ticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    bars = {True: [], False: []}  # type: dict[bool, list[str]]
    for count, lo, hi in zip(counts.tolist(), edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        if count:
            x0, x1, y = plot.x(lo), plot.x(hi), plot.y(count)
            bars[lo >= t - 1e-12].append(
                f"M{svg.num(x0 + 0.5)} {svg.num(plot.y(0))}V{svg.num(y)}H{svg.num(x1 - 0.5)}"
                f"V{svg.num(plot.y(0))}Z"
            )
    for ok, paths in bars.items():
        colour = palette.hex_colour(palette.coverage_colour(ok))
        if paths:
            plot.add(f'<path d="{"".join(paths)}" fill="{colour}" fill-opacity="0.85"/>')
    _threshold_line(plot, t)
    legend = svg.legend_row(
        [("area", palette.hex_colour(palette.COVERED), f"covered (>= {t:g})"),
         ("area", palette.hex_colour(palette.MISSED), f"missed (< {t:g})"),
         ("dash", "#333", f"threshold {t:g}")]
    )  # fmt: skip
    return plot.svg("histogram of the best IoU of each box") + legend


def _threshold_line(plot: svg.Plot, t: float) -> None:
    x = svg.num(plot.x(t))
    _, _, top, bottom = plot.margin
    plot.add(
        f'<path d="M{x} {top}V{plot.height - bottom}" stroke="#333" stroke-width="1.2" '
        'stroke-dasharray="4 3"/>'
    )


def recall_curve(best_iou: F64, thresholds: F64) -> F64:
    """Share of boxes whose best IoU is at least each threshold (``(T,)``)."""
    ordered = np.sort(np.asarray(best_iou, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        return np.zeros(len(thresholds))
    below = np.searchsorted(ordered, thresholds, side="left")
    out: F64 = (n - below) / n
    return out


def _recall(measured: BoxCoverage, t: float) -> str:
    grid = np.round(np.linspace(0.0, 1.0, 101), 10)
    position = recall_curve(measured.best_iou, grid)
    shape = recall_curve(measured.shape_iou, grid)
    plot = svg.Plot(460, 260, (0.0, 1.0), (0.0, 1.0))
    plot.axes("IoU threshold", "recall", x_ticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0],
              y_ticks=[0, 0.25, 0.5, 0.75, 1.0])  # fmt: skip
    plot.line(grid.tolist(), shape.tolist(), "#8e8e8e", dash="5 3", cls="shape")
    plot.line(grid.tolist(), position.tolist(), "#1a73e8", width=2.4, cls="position")
    _threshold_line(plot, t)
    at = float(recall_curve(measured.best_iou, np.array([t]))[0])
    x, y = plot.x(t), plot.y(at)
    plot.add(
        f'<circle cx="{svg.num(x)}" cy="{svg.num(y)}" r="4" fill="#1a73e8"/>'
        f'<text x="{svg.num(x + 7)}" y="{svg.num(y - 7)}" font-size="12" '
        f'style="{svg.FONT}">{100 * at:.1f}% at {t:g}</text>'
    )
    legend = svg.legend_row(
        [("line", "#1a73e8", "position-aware (every anchor at its place)"),
         ("dash", "#8e8e8e", "shape-only (centred)")]
    )  # fmt: skip
    return plot.svg("recall against the IoU threshold") + legend


def _levels(summary: Mapping[str, Any], shapes: Sequence[AnchorShape]) -> str:
    rows = summary.get("by_level") or []
    levels = sorted({s.level for s in shapes} | {int(r["level"]) for r in rows})
    counts = {int(r["level"]): (int(r["boxes"]), r.get("mean_best_iou")) for r in rows}
    top = max([c for c, _ in counts.values()] + [1])
    width = 460
    bar_h, gap = 22, 8
    plot_h = 24 + len(levels) * (bar_h + gap)
    left = 70
    out = [f'<svg class="chart" viewBox="0 0 {width} {plot_h}" role="img" '
           f'aria-label="boxes by level of their best anchor" style="{svg.FONT}">']  # fmt: skip
    for i, level in enumerate(levels):
        count, mean = counts.get(level, (0, None))
        y = 8 + i * (bar_h + gap)
        w = (width - left - 150) * count / top
        colour = palette.hex_colour(palette.level_colour(level))
        out.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">level {level}'
            f'</text><rect x="{left}" y="{y}" width="{svg.num(max(w, 0.5))}" height="{bar_h}" '
            f'fill="{colour}"/><text x="{svg.num(left + w + 6)}" y="{y + 15}" font-size="12">'
            f"{count:,} box{'' if count == 1 else 'es'} · mean IoU {_num(mean)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _bucket_table(summary: Mapping[str, Any], key: str) -> str:
    t = f"{summary['main_threshold']:g}"
    total = max(1, int(summary["boxes"]))
    head = (
        f"<tr><th>bucket</th><th>boxes</th><th></th><th>recall@{t}</th>"
        "<th>mean best IoU</th><th>BPR</th></tr>"
    )
    rows = []
    for name, row in summary[key].items():
        share = row["count"] / total
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{row['count']:,}</td>"
            f'<td class="l"><span class="bar" style="width:{80 * share:.1f}px"></span> '
            f"{100 * share:.1f}%</td><td>{_pct(row['recall'])}</td>"
            f"<td>{_num(row['mean_best_iou'])}</td><td>{_pct(row['bpr'])}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _worst(summary: Mapping[str, Any], crops: Mapping[int, bytes], t: float) -> str:
    rows = summary.get("worst") or []
    if not rows:
        return ""
    out = [
        '<h2 id="worst">The worst-covered boxes</h2>',
        '<p class="note">Solid: the box; dashed: its best anchor (crops of the original image, '
        "boxes mapped back from the network input). Coordinates in input pixels.</p>",
        "<table><tr><th>#</th><th>image</th><th>crop</th><th>box w x h</th><th>best IoU</th>"
        "<th>best anchor (level, row, col, slot)</th><th>anchor w x h</th></tr>",
    ]
    for rank, row in enumerate(rows):
        x0, y0, x1, y1 = row["box"]
        a = row["anchor"]
        ax0, ay0, ax1, ay1 = a["box"]
        crop = crops.get(int(row["box_index"]))
        picture = (
            f'<img class="crop" alt="box {row["box_index"]}" src="{data_uri(crop, "image/jpeg")}">'
            if crop
            else '<span class="muted">image not at hand</span>'
        )
        ok = row["best_iou"] >= t
        tag = f'<span class="tag {"ok" if ok else "miss"}">{row["best_iou"]:.3f}</span>'
        out.append(
            f'<tr><td>{rank}</td><td class="l">{escape(str(row["image"]))}</td><td>{picture}'
            f"</td><td>{x1 - x0:.1f} x {y1 - y0:.1f}</td><td>{tag}</td>"
            f"<td>{a['level']}, {a['row']}, {a['col']}, {a['slot']}</td>"
            f"<td>{ax1 - ax0:.1f} x {ay1 - ay0:.1f}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _fit_section(fitted: Fitted, shapes: Sequence[AnchorShape], wh: F64, t: float) -> str:
    from anchorctl.iou import shape_best_iou

    def score(anchors: F64) -> tuple[float, float]:
        best, _ = shape_best_iou(wh, anchors)
        return float(best.mean()), float((best >= t).mean())

    now, new = score(fitted.current), score(fitted.suggested)
    out = [
        '<h2 id="fit">Current against suggested anchors</h2>',
        f'<p class="note">{escape(fitted.method)}; shape-only scores (centred IoU) over every '
        "box. The suggested anchors are on the scatter above as hollow diamonds.</p>",
        '<div class="grid2"><div class="card"><h3>Scores</h3><table>'
        "<tr><th></th><th>current</th><th>suggested</th></tr>"
        f"<tr><td>shapes</td><td>{len(fitted.current)}</td><td>{len(fitted.suggested)}</td></tr>"
        f"<tr><td>mean best IoU</td><td>{now[0]:.4f}</td><td>{new[0]:.4f}</td></tr>"
        f"<tr><td>recall at IoU {t:g}</td><td>{_pct(now[1])}</td><td>{_pct(new[1])}</td></tr>"
        "</table>",
        '<h3 style="margin-top:10px">Suggested shapes (input px)</h3><table><tr><th>#</th>'
        + ("<th>level</th>" if fitted.levels else "")
        + "<th>w</th><th>h</th><th>w/h</th></tr>",
    ]
    for i, (w, h) in enumerate(np.asarray(fitted.suggested).tolist()):
        level = f"<td>{fitted.levels[i]}</td>" if fitted.levels else ""
        out.append(
            f"<tr><td>{i}</td>{level}<td>{w:.1f}</td><td>{h:.1f}</td><td>{w / h:.3g}</td></tr>"
        )
    exact = "exactly" if fitted.exact else "approximately"
    out.append(
        f'</table><p class="note">As the convention\'s options, {exact}: '
        f"<code>{escape(fitted.options)}</code><br>{escape(fitted.note)}</p></div>"
    )
    out.append(_card("The fit's score against k", _k_plot(fitted, t)) + "</div>")
    return "".join(out)


def _k_plot(fitted: Fitted, t: float) -> str:
    curve = fitted.curve
    if not curve:
        return '<p class="muted">no k curve</p>'
    ks = [p.k for p in curve]
    plot = svg.Plot(460, 260, (min(ks) - 0.5, max(ks) + 0.5), (0.0, 1.0))
    plot.axes("k (anchor shapes)", "score", x_ticks=ks if len(ks) <= 16 else None,
              y_ticks=[0, 0.25, 0.5, 0.75, 1.0])  # fmt: skip
    plot.line(ks, [p.mean_iou for p in curve], "#1a73e8", width=2.2)
    plot.line(ks, [p.recall for p in curve], "#e37400", width=2.2, dash="5 3")
    for p in curve:
        plot.add(
            f'<circle cx="{svg.num(plot.x(p.k))}" cy="{svg.num(plot.y(p.mean_iou))}" r="3" '
            f'fill="#1a73e8"><title>k={p.k}: mean IoU {p.mean_iou:.4f}, recall '
            f"{100 * p.recall:.1f}%</title></circle>"
        )
    current = len(fitted.current)
    items = [("line", "#1a73e8", "mean best IoU (centred)"),
             ("dash", "#e37400", f"recall at IoU {t:g} (centred)")]  # fmt: skip
    if min(ks) <= current <= max(ks):
        x = svg.num(plot.x(current))
        _, _, top, bottom = plot.margin
        plot.add(
            f'<path d="M{x} {top}V{plot.height - bottom}" stroke="#6a1b9a" stroke-dasharray="2 3"/>'
        )
        items.append(("dash", "#6a1b9a", f"k = {current}, the current number of shapes"))
    legend = svg.legend_row(items)
    return plot.svg("fit score against the number of anchors") + legend
