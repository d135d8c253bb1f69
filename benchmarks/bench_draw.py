"""Benchmark: ``anchorctl draw`` of 10,000 anchors on a 1024x1024 image, vs bare Pillow.

Target: drawing 10,000 anchors (feature map 50x50, sizes 0.1,0.2, ratios 1,2,0.5 -> 4 shapes
per cell, --all-cells) onto a 1024x1024 RGB JPEG and writing the PNG takes at most 1.3x the
time bare Pillow needs to open the same image, convert it to RGB, draw the same rectangles
(same pixel boxes, colours and line width) and save a PNG, measured in the same run.

The anchorctl side is timed two ways: ``draw_cmd._draw_one`` (what the command runs per image:
load, the anchors from the options (``resolve``), the chosen cells' anchors, draw, legend,
encode, atomic write with fsync) and the whole ``draw`` command in-process through click's
``CliRunner``. ``_draw_one`` gets the option records made once, untimed, from a click context
that ``draw.make_context`` parses from the same arguments, so option parsing and the
command's one-time checks are not charged to the per-image path (the ``CliRunner`` case
includes them). A
stage-by-stage breakdown of ``_draw_one`` follows, so a miss says where the time went.

``--quick``: a 512x512 image and a 10x10 map (400 anchors), one timed run of every case and
stage, to see that the script still works; it never fails on a ratio.

Run: python benchmarks/bench_draw.py [--repeat N] [--image gradient|noise] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _timing import measure, median, ms, report, verdict
from click.testing import CliRunner
from PIL import Image, ImageDraw

import anchorctl
from anchorctl import legend as legends
from anchorctl import render
from anchorctl.atomic import atomic_write
from anchorctl.cells import cell_anchors, select_cells
from anchorctl.cli import cli
from anchorctl.cli.draw_cmd import (
    DrawOptions,
    _draw_one,
    _legend,
    _levels,
    _scale,
    _source,
    _title,
    draw,
)
from anchorctl.cli.options import record
from anchorctl.cli.source import AnchorOptions, Source
from anchorctl.conventions import mxnet
from anchorctl.conventions.base import Level

SIZES = (0.1, 0.2)
RATIOS = (1, 2, 0.5)  # 2 + 3 - 1 = 4 shapes per cell
FEATURE_MAP = (50, 50)  # 2,500 cells x 4 = 10,000 anchors
IMAGE_SIZE = 1024
TARGET = 1.3
QUICK_IMAGE_SIZE, QUICK_FEATURE_MAP = 512, (10, 10)
SELECTION: tuple[tuple[tuple[int, int], ...], int | None, bool] = ((), None, True)  # --all-cells


def make_image(path: Path, kind: str) -> None:
    """A 1024x1024 RGB JPEG: a smooth colour gradient, or uniform random noise."""
    n = IMAGE_SIZE
    if kind == "noise":
        pixels = np.random.default_rng(0).integers(0, 256, (n, n, 3), dtype=np.uint8)
    else:
        ramp = np.linspace(0, 255, n, dtype=np.float32)
        pixels = np.empty((n, n, 3), dtype=np.uint8)
        pixels[..., 0] = ramp[None, :]
        pixels[..., 1] = ramp[:, None]
        pixels[..., 2] = (ramp[None, :] + ramp[:, None]) / 2
    Image.fromarray(pixels, "RGB").save(path, format="JPEG", quality=90)


def make_level() -> Level:
    """The MultiBoxPrior level of the workload, straight from the convention module."""
    params = {"feature_maps": [FEATURE_MAP], "sizes": [SIZES], "ratios": [RATIOS]}
    return mxnet.generate(params)[0]


def pixel_boxes(
    level: Level, chosen: npt.NDArray[np.int64], size: tuple[int, int], width: int
) -> tuple[list[Any], list[tuple[int, int, int]]]:
    """The rectangles and colours anchorctl draws, precomputed for the Pillow baseline.

    ``render.pixel_boxes`` gives the integer, edge-snapped rectangles; off-image boxes are
    dropped, as ``render.draw_anchors`` does.
    """
    w, h = size
    boxes = cell_anchors(level, chosen) * np.array([w, h, w, h], dtype=np.float32)
    slots = np.tile(np.arange(level.per_cell), len(chosen))
    rects = render.pixel_boxes(boxes, size, width)
    seen = (rects[:, 2] >= 0) & (rects[:, 0] < w) & (rects[:, 3] >= 0) & (rects[:, 1] < h)
    chosen_rects: list[Any] = rects[seen].tolist()
    return chosen_rects, [render.slot_colour(s) for s in slots[seen].tolist()]


def pillow_baseline(
    src: Path,
    dst: Path,
    boxes: list[Any],
    colours: list[tuple[int, int, int]],
    width: int,
) -> None:
    image = Image.open(src).convert("RGB")
    draw = ImageDraw.Draw(image)
    for box, colour in zip(boxes, colours, strict=True):
        draw.rectangle(box, outline=colour, width=width)
    image.save(dst, format="PNG")


def cli_args(src: Path, dst: Path) -> list[str]:
    rows, cols = FEATURE_MAP
    return [
        "draw",
        str(src),
        "--sizes",
        ",".join(f"{s:g}" for s in SIZES),
        "--ratios",
        ",".join(f"{r:g}" for r in RATIOS),
        "--feature-map",
        f"{rows}x{cols}",
        "--all-cells",
        "--no-thin",  # 10,000 anchors on purpose: the cost of drawing them is what is measured
        "-o",
        str(dst),
    ]


def draw_context(argv: list[str]) -> tuple[AnchorOptions, DrawOptions]:
    """The option records ``draw`` hands to ``_draw_one``, parsed from ``argv`` (after
    "draw")."""
    ctx = draw.make_context("draw", list(argv))
    with ctx:
        return AnchorOptions.from_context(ctx), record(DrawOptions, ctx.params)


def run_cli(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"anchorctl {' '.join(args)} exited {result.exit_code}: {result.output}")


def check_outputs(ours: Path, theirs: Path, legend_box: tuple[int, int]) -> None:
    """Both PNGs show the same 1024x1024 picture, differing only inside the legend panel (top
    left, when it fits there; anchorctl's picture is taller when it went below)."""
    a = np.asarray(Image.open(ours).convert("RGB"))[:IMAGE_SIZE]
    b = np.asarray(Image.open(theirs).convert("RGB"))
    assert a.shape == b.shape == (IMAGE_SIZE, IMAGE_SIZE, 3), (a.shape, b.shape)
    diff = np.any(a != b, axis=2)
    if not diff.any():
        print("check: anchorctl and Pillow outputs are identical")
        return
    ys, xs = np.nonzero(diff)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    inside = box[0] >= 0 and box[1] >= 0 and box[2] <= legend_box[0] and box[3] <= legend_box[1]
    print(
        f"check: outputs differ in {int(diff.sum()):,} pixels, all within x,y <= {box[2:]} "
        f"(legend panel {legend_box[0]}x{legend_box[1]}): "
        f"{'same rectangles' if inside else 'RECTANGLES DIFFER'}"
    )
    assert inside


def staged_draw_one(
    src: Path,
    dst: Path,
    plain: Path,
    request: AnchorOptions,
    opts: DrawOptions,
    legend_clock: list[float],
) -> dict[str, float]:
    """``_draw_one`` step by step (same calls, same order), timing each step.

    ``_draw_one`` encodes straight into the atomically written file; here encoding (into
    memory) and writing the bytes are timed apart, which costs one extra in-memory copy.
    """
    stages: dict[str, float] = {}
    clock = time.perf_counter

    t0 = clock()
    image = render.load_image(src)
    img_w, img_h = image.size
    t1 = clock()
    anchors = _source(request, (img_w, img_h))
    level_ids = _levels(anchors, opts.level)
    scale = _scale(anchors, anchors.levels[level_ids[0]], (img_w, img_h))
    t2 = clock()
    boxes: list[npt.NDArray[np.float32]] = []
    slots: list[npt.NDArray[np.int32]] = []
    legend: list[str] = []
    to_px = np.array([*scale, *scale], dtype=np.float32)
    for index in level_ids:
        lv = anchors.levels[index]
        chosen = select_cells(lv.feature_map, *SELECTION)
        boxes.append(cell_anchors(lv, chosen).astype(np.float32) * to_px)
        slots.append(np.tile(np.arange(lv.per_cell, dtype=np.int32), len(chosen)) + len(legend))
        prefix = f"L{index} " if len(anchors.levels) > 1 else ""
        legend += _legend(lv, scale, prefix)
    all_boxes = np.concatenate(boxes)
    all_slots = np.concatenate(slots)
    title = _title(anchors, level_ids, len(all_boxes))
    t3 = clock()
    legend_clock.clear()
    drawn = render.draw_anchors(image, all_boxes, all_slots, legend, title, None, False)
    t4 = clock()
    data = render.encode(drawn, "PNG")
    t5 = clock()
    with atomic_write(dst) as handle:
        handle.write(data)
    t6 = clock()
    with open(plain, "wb") as handle:  # not part of _draw_one: the write without fsync
        handle.write(data)
    t7 = clock()

    legend_time = sum(legend_clock)
    stages["load_image (open, decode, exif, to RGB)"] = t1 - t0
    stages["from_cli: source + levels + scale"] = t2 - t1
    stages["cells + cell_anchors + scale + legend text"] = t3 - t2
    stages["draw_anchors: copy + rectangles"] = (t4 - t3) - legend_time
    stages["draw_anchors: legend panel"] = legend_time
    stages["encode PNG"] = t5 - t4
    stages["atomic write + fsync"] = t6 - t5
    stages["(plain write, no fsync)"] = t7 - t6
    return stages


def staged_baseline(
    src: Path,
    dst: Path,
    boxes: list[Any],
    colours: list[tuple[int, int, int]],
    width: int,
) -> dict[str, float]:
    clock = time.perf_counter
    t0 = clock()
    image = Image.open(src).convert("RGB")
    t1 = clock()
    draw = ImageDraw.Draw(image)
    for box, colour in zip(boxes, colours, strict=True):
        draw.rectangle(box, outline=colour, width=width)
    t2 = clock()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    t3 = clock()
    with open(dst, "wb") as handle:
        handle.write(buffer.getvalue())
    t4 = clock()
    return {
        "open + convert RGB": t1 - t0,
        "rectangles": t2 - t1,
        "encode PNG": t3 - t2,
        "write (no fsync)": t4 - t3,
    }


def print_stages(title: str, runs: list[dict[str, float]], total_label: str, total: float) -> None:
    names = list(runs[0])
    width = max(len(n) for n in names)
    print(f"\n-- {title} (median of {len(runs)} runs, ms)")
    counted = 0.0
    for name in names:
        value = median([r[name] for r in runs])
        if not name.startswith("("):
            counted += value
        raw = " ".join(f"{r[name] * 1e3:.1f}" for r in runs)
        print(f"  {name:<{width}}  {ms(value)}   raw: {raw}")
    print(f"  {'sum of stages':<{width}}  {ms(counted)}   ({total_label}: {ms(total).strip()})")


def encode_options(image: Image.Image, repeat: int) -> None:
    """PNG encoder settings, for a suggestion if encoding dominates."""
    cases: dict[str, Callable[[], object]] = {}
    sizes: dict[str, int] = {}
    for label, kwargs in (
        ("PNG default (anchorctl, baseline)", {}),
        ("PNG compress_level=1", {"compress_level": 1}),
        ("PNG compress_level=3", {"compress_level": 3}),
    ):

        def encode(kwargs: dict[str, Any] = kwargs) -> bytes:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", **kwargs)
            return buffer.getvalue()

        cases[label] = encode
        sizes[label] = len(encode())
    ratios = report(
        "PNG encoding of the drawn image (informational)",
        measure(cases, repeat),
        "PNG default (anchorctl, baseline)",
    )
    for label, size in sizes.items():
        print(f"  {label}: {size / 1024:.0f} KiB ({ratios[label]:.2f}x time)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per case")
    parser.add_argument(
        "--image",
        choices=("gradient", "noise"),
        default="gradient",
        help="test picture: a smooth gradient (cheap to encode) or random noise (dear)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small image and map, one run of everything"
    )
    args = parser.parse_args()
    if args.quick:
        # The workload's size is read from these module constants throughout.
        global IMAGE_SIZE, FEATURE_MAP
        IMAGE_SIZE, FEATURE_MAP = QUICK_IMAGE_SIZE, QUICK_FEATURE_MAP
        args.repeat = 1

    level = make_level()
    chosen = select_cells(level.feature_map, *SELECTION)
    line = render.line_width((IMAGE_SIZE, IMAGE_SIZE))
    import PIL

    print(
        f"anchorctl {anchorctl.__version__}, Pillow {PIL.__version__}, numpy {np.__version__}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"spec: sizes {SIZES}, ratios {RATIOS}, feature map {FEATURE_MAP[0]}x{FEATURE_MAP[1]}, "
        f"--all-cells -> {len(chosen) * level.per_cell:,} anchors; image {IMAGE_SIZE}x{IMAGE_SIZE} "
        f"{args.image} JPEG; line width {line} px"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="anchorctl-bench-") as tmp:
        folder = Path(tmp)
        src = folder / "source.jpg"
        make_image(src, args.image)
        ours, via_cli, theirs = (folder / f"{n}.png" for n in ("draw_one", "cli", "pillow"))
        boxes, colours = pixel_boxes(level, chosen, (IMAGE_SIZE, IMAGE_SIZE), line)
        runner = CliRunner()
        argv = cli_args(src, via_cli)
        # Parsed once, outside the timed loop: _draw_one is the per-image work only.
        request, opts = draw_context(cli_args(src, ours)[1:])
        source = _source(request, (IMAGE_SIZE, IMAGE_SIZE))
        assert len(source.levels) == 1
        assert np.array_equal(source.levels[0].array, level.array), "options != workload"

        times = measure(
            {
                "Pillow open+draw+save (baseline)": lambda: pillow_baseline(
                    src, theirs, boxes, colours, line
                ),
                "anchorctl _draw_one": lambda: _draw_one(src, ours, request, opts, True),
                "anchorctl draw (CliRunner)": lambda: run_cli(runner, argv),
            },
            args.repeat,
        )
        ratios = report(
            f"draw {len(boxes):,} anchors on {IMAGE_SIZE}x{IMAGE_SIZE}",
            times,
            "Pillow open+draw+save (baseline)",
        )
        ok = verdict("draw (_draw_one)", ratios["anchorctl _draw_one"], TARGET)
        ok &= verdict("draw (CLI in-process)", ratios["anchorctl draw (CliRunner)"], TARGET)

        legend_panel = _legend_panel_size(source, len(boxes))
        check_outputs(ours, theirs, legend_panel)
        check_outputs(via_cli, theirs, legend_panel)

        # Stage breakdown: _draw_one's steps, with the legend's placement wrapped to time it.
        legend_clock: list[float] = []
        original = legends.compose

        def timed_legend(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            out = original(*a, **k)
            legend_clock.append(time.perf_counter() - start)
            return out

        legends.compose = timed_legend  # type: ignore[assignment]
        try:
            ours_runs, base_runs = [], []
            for _ in range(args.repeat):
                ours_runs.append(
                    staged_draw_one(src, ours, folder / "plain.png", request, opts, legend_clock)
                )
                base_runs.append(staged_baseline(src, theirs, boxes, colours, line))
        finally:
            legends.compose = original  # type: ignore[assignment]
        print_stages(
            "where anchorctl's time goes (_draw_one, stage by stage)",
            ours_runs,
            "_draw_one median above",
            median(times["anchorctl _draw_one"]),
        )
        print_stages(
            "Pillow baseline, stage by stage",
            base_runs,
            "baseline median above",
            median(times["Pillow open+draw+save (baseline)"]),
        )
        drawn = Image.open(ours).convert("RGB")
        drawn.load()
        encode_options(drawn, args.repeat)
    verdict_line = "all targets met" if ok else "TARGET MISSED"
    if args.quick:
        verdict_line = "quick run: every path ran; ratios of a small workload are not judged"
    print(f"\n{verdict_line} ({time.perf_counter() - started:.0f} s)")
    return 0 if ok or args.quick else 1


def _legend_panel_size(anchors: Source, count: int) -> tuple[int, int]:
    """Width and height of the legend panel when it goes in the top-left corner (the most
    the two pictures may differ by there)."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    legend = _legend(anchors.levels[0], _scale(anchors, anchors.levels[0], size))
    entries = [legends.Entry(line) for line in legend]
    room = max(IMAGE_SIZE // 2, 24 * legends.font_size(size))
    return legends.layout(_title(anchors, [0], count), entries, legends.font_size(size), room).size


if __name__ == "__main__":
    sys.exit(main())
