"""Benchmark: the best anchor of every box, vs torchvision.ops.box_iou; and a COCO-sized set.

Part 1, judged. ``anchorctl.iou.best_anchor`` (best IoU and its anchor for every box, using
the anchors' grid) against ``torchvision.ops.box_iou(boxes, anchors).max(dim=1)`` on the same
20,000 boxes, for ``ssd300``'s 8,732 anchors and ``fasterrcnn-fpn``'s 242,991. Target:
anchorctl at least 5x faster, i.e. anchorctl / torchvision <= 0.2 (best-of-N). torchvision
runs on the CPU in float32 (its usual dtype, and its faster one) with torch's default
threads. ``box_iou`` builds the whole ``(N, M)`` matrix and a few ``(N, M, 2)`` temporaries
(20,000 x 242,991 is 19 GB in float32 alone), so it is **called in chunks of boxes** of at most
``CHUNK_ELEMENTS`` box-anchor pairs each (the size torchvision ran fastest at), keeping the
running max; the whole loop is timed. Before timing, torchvision in float64 is checked to give
the same best IoU bit for bit (the same formula) and the same index wherever the best is not
a tie (on every box for ssd300, on the first ``CHECK_BOXES`` for fasterrcnn-fpn, where one
float64 pass takes minutes), and anchorctl's grid search to equal its brute force.

Part 2, reported. A synthetic COCO-sized set (118,000 images around 640x480, 860,000 boxes
with log-uniform sizes, fixed seed), stretched to ``ssd300``'s 300x300 input and analysed
against its anchors: ``to_input`` + ``measure`` (best anchor, counts at 0.3/0.5/0.7, centred
shapes, YOLO's ratio test) + ``coverage_report``. It runs in a fresh process; peak memory is
the resident high-water mark during the analysis (``VmHWM`` of /proc/self/status, reset just
before it through /proc/self/clear_refs), printed next to what the process held before (the
interpreter, numpy, the anchors and the data set); the peak of numpy's allocations is
measured with ``tracemalloc`` in a separate, untimed run. For context, torchvision's chunked
box_iou on 20,000 of those boxes is timed and scaled to the whole set. ``--json`` also writes
the set as a COCO JSON file and times ``read_annotations`` on it.

torchvision is optional: without it the script says how to install it, times anchorctl alone
and exits 0. To use a venv that has torch but not anchorctl, run from the repository root
with ``PYTHONPATH=.``.

``--quick``: 2,000 boxes per comparison and a set of 8,000 boxes on 1,000 images (its COCO JSON
written and read too), one timed run each, to see that the script still works; it never fails
on a ratio.

Run: python benchmarks/bench_coverage.py [--repeat N] [--fpn-repeat N] [--no-coco] [--json]
[--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _timing import measure, report, verdict

import anchorctl
from anchorctl import conventions, presets
from anchorctl.annotations import Annotations, ImageRecord
from anchorctl.coverage import coverage_report
from anchorctl.coverage import measure as measure_coverage
from anchorctl.geometry import to_input
from anchorctl.iou import GridInfo, best_anchor, grid_from_levels

BOXES = 20_000
# Box-anchor pairs per box_iou call: a 16 MiB float32 matrix. Of 2^16 .. 2^24, the fastest
# for torchvision on the 2-CPU test machine (2^24 was 2-3x slower: its temporaries leave cache).
CHUNK_ELEMENTS = 1 << 22
CHECK_BOXES = 2_000  # boxes checked against torchvision float64 on the large anchor set
TARGET = 0.2  # anchorctl / torchvision: at least 5x faster
BASELINE = "torchvision box_iou+max f32 (baseline)"
ANCHORCTL = "anchorctl best_anchor"
COCO_IMAGES = 118_000
COCO_BOXES = 860_000
F64 = npt.NDArray[np.float64]


def use_quick_sizes() -> None:
    """The small workload of ``--quick``: every function reads these module constants."""
    global BOXES, COCO_IMAGES, COCO_BOXES
    BOXES, COCO_IMAGES, COCO_BOXES = 2_000, 1_000, 8_000


def preset_grid(name: str) -> GridInfo:
    preset = presets.load_preset(name)
    module = conventions.load(preset.config.convention)
    return grid_from_levels(module.generate(preset.config.params), module.RULES, preset.input_size)


def input_boxes(n: int, size: tuple[int, int], seed: int) -> F64:
    """``n`` boxes inside a ``size`` input: sqrt(area) log-uniform from 4 px to the shorter
    side, w/h log-uniform in 1/4..4, centres uniform; clipped to the input."""
    rng = np.random.default_rng(seed)
    width, height = size
    side = np.exp(rng.uniform(np.log(4), np.log(min(size)), n))
    aspect = np.exp(rng.uniform(np.log(1 / 4), np.log(4), n))
    wh = np.stack([side * np.sqrt(aspect), side / np.sqrt(aspect)], 1)
    centre = rng.uniform(0, 1, (n, 2)) * [width, height]
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1)
    return np.clip(boxes, 0, [width, height, width, height])


# --- torchvision -----------------------------------------------------------------------------


def load_torch() -> tuple[Any, Any] | None:
    """``(torch, torchvision.ops.box_iou)``, or None (saying how to install them)."""
    try:
        import torch
        import torchvision
        from torchvision.ops import box_iou
    except ImportError as err:
        print(f"\ntorchvision is not installed ({err}); timing anchorctl alone.")
        print(
            "To compare with torchvision: pip install torch torchvision "
            "(CPU-only wheels: add --index-url https://download.pytorch.org/whl/cpu)"
        )
        return None
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, CPU, "
        f"torch.get_num_threads() = {torch.get_num_threads()} (default)"
    )
    return torch, box_iou


def torch_best(torch: Any, box_iou: Any, boxes: Any, anchors: Any) -> tuple[Any, Any]:
    """``box_iou(boxes, anchors).max(dim=1)``, chunked over boxes (see the module docstring)."""
    step = max(1, CHUNK_ELEMENTS // anchors.shape[0])
    values, indices = [], []
    with torch.no_grad():
        for start in range(0, boxes.shape[0], step):
            best = box_iou(boxes[start : start + step], anchors).max(dim=1)
            values.append(best.values)
            indices.append(best.indices)
    return torch.cat(values), torch.cat(indices)


# --- part 1 ----------------------------------------------------------------------------------


def compare(name: str, repeat: int, loaded: tuple[Any, Any] | None, small: bool) -> bool:
    """Time the best anchor of :data:`BOXES` boxes against preset ``name``'s anchors.

    ``small``: the anchor set is small enough to also time anchorctl's brute force and
    torchvision in float64, and to check every box against torchvision in float64.
    """
    preset = presets.load_preset(name)
    grid = preset_grid(name)
    boxes = input_boxes(BOXES, preset.input_size, seed=1)
    anchors = grid.anchors
    m = len(anchors)
    print(
        f"\n### {name}: {BOXES:,} boxes x {m:,} anchors at {preset.input_size[0]}x"
        f"{preset.input_size[1]} ({BOXES * m / 1e9:.2f} G box-anchor pairs); box_iou in chunks "
        f"of {max(1, CHUNK_ELEMENTS // m):,} boxes"
    )
    ours = best_anchor(boxes, anchors, (), grid)
    counts = (0.3, 0.5, 0.7)
    cases: dict[str, Callable[[], object]] = {
        ANCHORCTL: lambda: best_anchor(boxes, anchors, (), grid),
        "anchorctl + counts at 0.3/0.5/0.7": lambda: best_anchor(boxes, anchors, counts, grid),
        "anchorctl grid_from_levels+best": lambda: best_anchor(
            boxes, anchors, (), preset_grid(name)
        ),
    }
    if small:
        plain = best_anchor(boxes, anchors)
        same = np.array_equal(plain.best_iou, ours.best_iou) and np.array_equal(
            plain.best_index, ours.best_index
        )
        print(f"check: grid search == anchorctl brute force, bit for bit: {same}")
        if not same:
            print("CHECK FAILED: the grid search and the brute force disagree; nothing timed")
            return False
        cases["anchorctl brute force (no grid)"] = lambda: best_anchor(boxes, anchors)
    if loaded is not None:
        torch, box_iou = loaded
        b32 = torch.from_numpy(boxes.astype(np.float32))
        a32 = torch.from_numpy(anchors.astype(np.float32))
        b64, a64 = torch.from_numpy(boxes), torch.from_numpy(anchors)
        checked = BOXES if small else CHECK_BOXES
        values, indices = (t.numpy() for t in torch_best(torch, box_iou, b64[:checked], a64))
        same_value = np.array_equal(values, ours.best_iou[:checked])
        differ = np.flatnonzero(indices != ours.best_index[:checked])
        # a different index is fine only where that anchor's IoU equals the best (a tie)
        tied = all(
            float(box_iou(b64[i : i + 1], a64[indices[i] : indices[i] + 1])[0, 0]) == values[i]
            for i in differ
        )
        v32 = torch_best(torch, box_iou, b32[:checked], a32)[0].numpy()
        print(
            f"check ({checked:,} boxes): best IoU equal to torchvision float64 bit for bit: "
            f"{same_value}; best index differs on {len(differ)} boxes, all ties: {tied}; "
            f"float32 max abs difference {np.abs(v32 - ours.best_iou[:checked]).max():.2e}"
        )
        if not (same_value and tied):
            print("CHECK FAILED: anchorctl and torchvision disagree; nothing timed")
            return False
        cases = {BASELINE: lambda: torch_best(torch, box_iou, b32, a32), **cases}
        if small:
            cases["torchvision box_iou+max f64"] = lambda: torch_best(torch, box_iou, b64, a64)
    times = measure(cases, repeat)
    if loaded is None:
        report(f"{name}: anchorctl alone", times, ANCHORCTL)
        return True
    ratios = report(f"{name}: best anchor of {BOXES:,} boxes", times, BASELINE)
    print(f"anchorctl is {1 / ratios[ANCHORCTL]:.1f}x faster than box_iou+max (float32)")
    return verdict(f"{name} best_anchor / box_iou", ratios[ANCHORCTL], TARGET)


# --- part 2 ----------------------------------------------------------------------------------


def synthetic_coco(seed: int = 0) -> Annotations:
    """118,000 images around 640x480 and 860,000 boxes inside them (COCO's counts).

    Image sizes: long side 640 for 90% of images, else uniform 320..640; short side that
    times U(0.56, 0.85); landscape 3 times in 4. Boxes: image chosen uniformly; sqrt(area)
    log-uniform from 2 px to the image's shorter side, w/h log-uniform in 1/5..5 (each side
    capped at the image's), placed uniformly inside the image.
    """
    rng = np.random.default_rng(seed)
    long = np.where(rng.random(COCO_IMAGES) < 0.9, 640, rng.integers(320, 641, COCO_IMAGES))
    short = np.round(long * rng.uniform(0.56, 0.85, COCO_IMAGES)).astype(np.int64)
    landscape = rng.random(COCO_IMAGES) < 0.75
    width = np.where(landscape, long, short)
    height = np.where(landscape, short, long)
    which = np.sort(rng.integers(0, COCO_IMAGES, COCO_BOXES))
    iw, ih = width[which].astype(float), height[which].astype(float)
    side = np.exp(rng.uniform(np.log(2), np.log(np.minimum(iw, ih)), COCO_BOXES))
    aspect = np.exp(rng.uniform(np.log(1 / 5), np.log(5), COCO_BOXES))
    bw = np.minimum(side * np.sqrt(aspect), iw)
    bh = np.minimum(side / np.sqrt(aspect), ih)
    x0 = rng.uniform(0, 1, COCO_BOXES) * (iw - bw)
    y0 = rng.uniform(0, 1, COCO_BOXES) * (ih - bh)
    return Annotations(
        images=[
            ImageRecord(f"{i:012d}.jpg", int(w), int(h))
            for i, (w, h) in enumerate(zip(width, height, strict=True))
        ],
        boxes=np.stack([x0, y0, x0 + bw, y0 + bh], 1),
        image_index=which.astype(np.int64),
        categories=["object"] * COCO_BOXES,
        skipped=[],
        format="coco",
    )


def write_coco(ann: Annotations, path: Path) -> None:
    """The set as a COCO JSON file (bbox = [x, y, w, h])."""
    xywh = np.concatenate([ann.boxes[:, :2], ann.boxes[:, 2:] - ann.boxes[:, :2]], 1)
    data = {
        "images": [
            {"id": i, "file_name": im.name, "width": im.width, "height": im.height}
            for i, im in enumerate(ann.images)
        ],
        "annotations": [
            {
                "id": j + 1,
                "image_id": int(i),
                "bbox": [round(float(v), 2) for v in box],
                "category_id": 1,
                "iscrowd": 0,
                "area": round(float(box[2] * box[3]), 2),
            }
            for j, (i, box) in enumerate(zip(ann.image_index, xywh, strict=True))
        ],
        "categories": [{"id": 1, "name": "object"}],
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def analyse(ann: Annotations, grid: GridInfo) -> tuple[dict[str, Any], dict[str, float]]:
    """The timed analysis: map to the input, measure every box, build the report."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    boxes, sizes = to_input(ann, "stretch", grid.input_size)
    t1 = time.perf_counter()
    cov = measure_coverage(boxes, sizes, grid, (0.3, 0.5, 0.7))
    t2 = time.perf_counter()
    result = coverage_report(
        boxes, sizes, grid, (0.3, 0.5, 0.7), measured=cov, image_index=ann.image_index,
        image_names=[im.name for im in ann.images], worst=20,
    )  # fmt: skip
    t3 = time.perf_counter()
    stages["to_input (stretch)"] = t1 - t0
    stages["measure (best anchor, counts, shapes, YOLO)"] = t2 - t1
    stages["coverage_report"] = t3 - t2
    stages["total"] = t3 - t0
    return result, stages


def memory_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from /proc, in MiB.

    Without /proc, ``ru_maxrss`` for both (on Linux that one survives fork and exec, so a
    child started by a big parent reports the parent's peak: hence /proc first).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def coco_part(repeat: int, with_json: bool) -> None:
    """Part 2, run in its own process (``--coco-only``)."""
    grid = preset_grid("ssd300")
    rss_start = memory_mib("VmRSS")
    t0 = time.perf_counter()
    ann = synthetic_coco()
    print(
        f"synthetic COCO-sized set: {len(ann.images):,} images, {len(ann.boxes):,} boxes "
        f"(generated in {time.perf_counter() - t0:.1f} s, seed 0); ssd300, {len(grid.anchors):,} "
        f"anchors, stretch to 300x300"
    )
    rss_data = memory_mib("VmRSS")
    exact = reset_peak()
    runs = []
    result: dict[str, Any] = {}
    for _ in range(repeat):
        result, stages = analyse(ann, grid)
        runs.append(stages)
    rss_peak = memory_mib("VmHWM")
    tracemalloc.start()
    analyse(ann, grid)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\n== analysis of {len(ann.boxes):,} boxes (runs: {repeat}; seconds, best / all)")
    for stage in runs[0]:
        values = [run[stage] for run in runs]
        print(f"  {stage:<46} {min(values):7.2f}   " + " ".join(f"{v:.2f}" for v in values))
    total = min(run["total"] for run in runs)
    print(f"  throughput: {len(ann.boxes) / total / 1e3:,.0f} k boxes/s")
    print(
        f"peak memory: {rss_peak:.0f} MiB resident during the analysis "
        f"({'VmHWM, reset before it' if exact else 'whole process'}); before it the process "
        f"held {rss_start:.0f} MiB (python, numpy, anchorctl, anchors) + "
        f"{rss_data - rss_start:.0f} MiB (the data set: boxes, image records, names); numpy's "
        f"allocations during the analysis peaked at {traced / 2**20:.0f} MiB (tracemalloc)"
    )
    print(
        f"result: recall@0.5 {result['recall']['0.5']:.4f}, mean best IoU "
        f"{result['mean_best_iou']:.4f}, BPR {result['bpr']:.4f}, by size "
        + ", ".join(f"{k} {v['count']:,}" for k, v in result["by_size"].items())
    )
    if with_json:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "instances_synthetic.json"
            t0 = time.perf_counter()
            write_coco(ann, path)
            written = time.perf_counter() - t0
            from anchorctl.annotations import read_annotations

            before = memory_mib("VmRSS")
            reset_peak()
            t0 = time.perf_counter()
            read = read_annotations(path)
            took = time.perf_counter() - t0
            peak = memory_mib("VmHWM")
            print(
                f"COCO JSON: {path.stat().st_size / 2**20:.0f} MiB written in {written:.1f} s; "
                f"read_annotations: {len(read.boxes):,} boxes, {len(read.skipped)} skipped, "
                f"{took:.1f} s, peak {peak:.0f} MiB resident (from {before:.0f} MiB)"
            )
            del read
    loaded = load_torch()
    if loaded is not None:
        torch, box_iou = loaded
        boxes, _ = to_input(ann, "stretch", grid.input_size)
        sample = torch.from_numpy(boxes[:BOXES].astype(np.float32))
        anchors = torch.from_numpy(grid.anchors.astype(np.float32))
        times = measure(
            {"box_iou+max, 20k boxes": lambda: torch_best(torch, box_iou, sample, anchors)},
            3,
        )
        per_box = min(times["box_iou+max, 20k boxes"]) / BOXES
        print(
            f"context: torchvision chunked box_iou+max (float32) on {BOXES:,} of these boxes "
            f"takes {per_box * BOXES:.2f} s, so about {per_box * len(ann.boxes):.1f} s for all "
            f"{len(ann.boxes):,} (best anchor alone; anchorctl's whole analysis: {total:.1f} s)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs, ssd300 comparison")
    parser.add_argument("--fpn-repeat", type=int, default=3, help="timed runs, fasterrcnn-fpn")
    parser.add_argument("--coco-repeat", type=int, default=2, help="timed runs, COCO-sized set")
    parser.add_argument("--no-coco", action="store_true", help="skip the COCO-sized set")
    parser.add_argument("--json", action="store_true", help="also write and read a COCO JSON")
    parser.add_argument("--coco-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="small sets, one run of everything (--json too)"
    )
    args = parser.parse_args()
    if args.quick:
        use_quick_sizes()
        args.repeat = args.fpn_repeat = args.coco_repeat = 1
        args.json = True
    if args.coco_only:
        coco_part(args.coco_repeat, args.json)
        return 0
    started = time.perf_counter()
    print(
        f"anchorctl {anchorctl.__version__}, numpy {np.__version__}, python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    loaded = load_torch()
    ok = compare("ssd300", args.repeat, loaded, small=True)
    ok &= compare("fasterrcnn-fpn", args.fpn_repeat, loaded, small=False)
    if not args.no_coco:
        print("\n### COCO-sized set against ssd300 (in a fresh process)", flush=True)
        command = [sys.executable, __file__, "--coco-only", "--coco-repeat", str(args.coco_repeat)]
        command += ["--json"] if args.json else []
        subprocess.run(command + (["--quick"] if args.quick else []), check=True)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if loaded is None:
        print("no torchvision: target not judged")
        return 0
    if args.quick:
        print("quick run: every path ran; ratios of small sets are not judged")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
