"""Benchmark: `anchorctl report` on a COCO-sized set, against `anchorctl coverage` on it.

A synthetic COCO-sized set (118,000 images of 640x480, 860,000 boxes with log-normal sizes
and aspect ratios, fixed seed) is written as a CSV, then, each in-process through the CLI:

* baseline: ``anchorctl coverage boxes.csv --preset ssd300 --format json``;
* ``anchorctl report boxes.csv --preset ssd300 -o report.html``;
* ``anchorctl report ... --suggest`` (``anchorctl suggest``'s search, seeing a seeded
  50,000-box sample, for the suggestion in SSD300's options and for each k of the curve).

Judged: each report file at most **3 MB** (the issue's limit for COCO-sized data) and the
scatter at most 20,000 points. Reported, not judged: the times, and their ratio to the
coverage baseline (reading the CSV and matching boxes to anchors are shared; the ratio shows
what the pictures add).

``--quick``: 5,000 boxes on 1,000 images, one run of each command (``--suggest`` included), to
see that the script still works; the size limits are still checked (thinning the scatter to
20,000 points happens only above that: ``tests/test_pages.py`` pins it).

Run: python benchmarks/bench_report.py [--repeat N] [--boxes N] [--no-suggest] [--quick]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import measure, report
from click.testing import CliRunner

import anchorctl
from anchorctl.cli import cli

LIMIT_BYTES = 3 * 1024 * 1024


def write_set(path: Path, n_boxes: int, n_images: int = 118_000, seed: int = 0) -> None:
    """``n_boxes`` boxes on ``n_images`` 640x480 images, COCO-like sizes, as the CSV format."""
    rng = np.random.default_rng(seed)
    w = np.exp(rng.normal(3.6, 1.0, n_boxes)).clip(2, 639)
    h = (w * np.exp(rng.normal(0.0, 0.6, n_boxes))).clip(2, 479)
    x0 = rng.uniform(0, 640 - w)
    y0 = rng.uniform(0, 480 - h)
    image = rng.integers(0, n_images, n_boxes)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("image,width,height,xmin,ymin,xmax,ymax\n")
        for i, a, b, c, d in zip(image.tolist(), x0.tolist(), y0.tolist(), (x0 + w).tolist(),
                                 (y0 + h).tolist(), strict=True):  # fmt: skip
            handle.write(f"img{i:06d}.jpg,640,480,{a:.2f},{b:.2f},{c:.2f},{d:.2f}\n")


def run(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), prog_name="anchorctl")
    if result.exit_code != 0:
        raise SystemExit(f"anchorctl {' '.join(args)} failed: {result.output}")


def points(html: str) -> int:
    dots = sum(d.count("h0") for d in re.findall(r'<path class="ok [^"]*" d="([^"]*)"', html))
    crosses = sum(
        d.count("m0 -") for d in re.findall(r'<path class="miss [^"]*" d="([^"]*)"', html)
    )
    return dots + crosses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--boxes", type=int, default=860_000)
    parser.add_argument("--no-suggest", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a small set, one run of each")
    args = parser.parse_args()
    n_images = 118_000
    if args.quick:
        args.boxes, args.repeat, n_images = 5_000, 1, 1_000
    print(
        f"anchorctl {anchorctl.__version__}, numpy {np.__version__}, "
        f"python {sys.version.split()[0]}"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "boxes.csv"
        start = time.perf_counter()
        write_set(data, args.boxes, n_images)
        mib = data.stat().st_size / 2**20
        print(f"set: {args.boxes:,} boxes on {n_images:,} images, {mib:.1f} MiB of CSV, "
              f"written in {time.perf_counter() - start:.0f} s")  # fmt: skip
        common = (str(data), "--preset", "ssd300", "-q")
        cases = {
            "coverage --format json (baseline)": lambda: run(
                "coverage", *common, "--format", "json"
            ),
            "report": lambda: run("report", *common, "-o", str(folder / "report.html")),
        }
        if not args.no_suggest:
            cases["report --suggest"] = lambda: run(
                "report", *common, "--suggest", "-o", str(folder / "suggest.html")
            )
        times = measure(cases, args.repeat, warmup=0)
        report(f"report on {args.boxes:,} boxes", times, "coverage --format json (baseline)")
        for name in ("report.html", "suggest.html"):
            path = folder / name
            if not path.exists():
                continue
            size = path.stat().st_size
            html = path.read_text(encoding="utf-8")
            shown = points(html)
            fits = size <= LIMIT_BYTES and shown <= 20_000
            ok &= fits
            print(f"{name}: {size:,} bytes ({size / 2**20:.2f} MiB), {shown:,} points plotted "
                  f"-> {'PASS' if fits else 'FAIL'} (<= 3 MiB, <= 20,000 points)")  # fmt: skip
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
