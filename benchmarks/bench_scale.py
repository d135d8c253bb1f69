"""Benchmark: coverage and suggest of 1M, 5M and 10M-box data sets, time and peak memory vs
json.load.

For each size a synthetic COCO JSON file is generated (deterministic: seed 0; about 7 boxes
per image, images 320..640 x 240..480, boxes inside their image; keys in the official
COCO order, ``categories`` last, so the reader takes its spill path) and, unless
``--no-csv``, the same boxes as an Open Images CSV with an image sizes file. Each case
runs in a fresh subprocess, ``--repeat`` times, interleaved with the baseline:

* ``json.load`` (the floor): ``python -c "json.load(open(FILE, 'rb'))"``;
* ``ijson`` (context, if installed): ``ijson.items(f, "annotations.item")`` with its
  fastest backend, one pass over the annotations alone (a COCO reader would need more);
* ``read``: anchorctl's reader, ``open_annotations`` streamed to the end;
* ``coverage``: the whole command, ``anchorctl coverage FILE --preset ssd300 --format json``
  (``--jobs`` as given; default every core);
* ``suggest``: ``anchorctl suggest FILE --preset yolov5 --format json`` (``--suggest-preset``):
  the data set streamed and set aside, a seeded 100,000-box sample searched, every box
  measured in a second pass over the boxes set aside;
* for the CSV: ``csv.reader`` over the file (the floor of a CSV), the reader, ``coverage``
  with the sizes file and with ``--image-size 640x480`` (no sizes file: every ImageID met is
  indexed by the reader), and ``suggest``; only their peaks are judged.

Time is wall-clock (best and median); memory is the peak of the process tree: the
highest sum of ``Pss`` (proportional set size: shared pages split between the processes
sharing them) over the command and its workers, sampled every 20 ms from
/proc/PID/smaps_rollup, next to the main process's own ``VmHWM``. Targets (issue 11):
coverage peak <= 512 MiB and time <= 2x json.load; suggest peak <= 512 MiB.

``--quick`` (for CI-like smoke runs): sizes 20k and 50k, one repeat, and every reader path
(COCO in both key orders, CSV, Open Images, YOLO and VOC folders) through ``coverage``.

``--backends`` only compares the workers: ``measure`` of 400,000 boxes on one process, two
processes and two threads.

Run: python benchmarks/bench_scale.py [--sizes 1000000,5000000,10000000] [--repeat N]
     [--jobs N] [--suggest-preset NAME] [--quick] [--no-csv] [--no-coco] [--keep DIR]
     [--backends]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MIB = 512
TARGET_RATIO = 2.0


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``(m, 2)`` sizes, each box's image ``(n,)``, boxes ``(n, 4)`` xywh pixels."""
    rng = np.random.default_rng(seed)
    m = max(1, n // 7)
    sizes = np.stack([rng.integers(320, 641, m), rng.integers(240, 481, m)], axis=1)
    which = np.sort(rng.integers(0, m, n))
    iw, ih = sizes[which, 0], sizes[which, 1]
    side = np.exp(rng.uniform(np.log(2), np.log(np.minimum(iw, ih)), n))
    aspect = np.exp(rng.uniform(np.log(1 / 5), np.log(5), n))
    bw = np.minimum(side * np.sqrt(aspect), iw)
    bh = np.minimum(side / np.sqrt(aspect), ih)
    x = rng.uniform(0, 1, n) * (iw - bw)
    y = rng.uniform(0, 1, n) * (ih - bh)
    return sizes, which, np.round(np.stack([x, y, bw, bh], axis=1), 2)


def write_coco(path: Path, n: int, categories_first: bool = False) -> None:
    sizes, which, xywh = synthetic(n)
    categories = (
        '"categories": ['
        + ",".join(f'{{"id": {c}, "name": "c{c}", "supercategory": "x"}}' for c in range(1, 81))
        + "]"
    )
    with open(path, "w", encoding="ascii") as out:
        out.write('{"info": {"description": "synthetic"}, ')
        if categories_first:
            out.write(categories + ", ")
        out.write('"images": [')
        out.write(", ".join(
            f'{{"id": {i}, "file_name": "{i:012d}.jpg", "width": {w}, "height": {h}}}'
            for i, (w, h) in enumerate(sizes.tolist())
        ))  # fmt: skip
        out.write('], "annotations": [')
        step = 200_000
        for start in range(0, n, step):
            if start:
                out.write(", ")
            rows = zip(which[start : start + step].tolist(), xywh[start : start + step].tolist(),
                       strict=True)  # fmt: skip
            out.write(", ".join(
                f'{{"id": {start + k + 1}, "image_id": {i}, "category_id": {1 + (start + k) % 80}, '
                f'"bbox": [{x}, {y}, {w}, {h}], "area": {round(w * h, 2)}, "iscrowd": 0, '
                '"segmentation": []}'
                for k, (i, (x, y, w, h)) in enumerate(rows)
            ))  # fmt: skip
        out.write("]")
        if not categories_first:
            out.write(", " + categories)
        out.write("}")


def write_openimages(path: Path, sizes_path: Path, n: int) -> None:
    sizes, which, xywh = synthetic(n)
    with open(sizes_path, "w", encoding="ascii") as out:
        out.write("ImageID,width,height\n")
        out.writelines(f"{i:016x},{w},{h}\n" for i, (w, h) in enumerate(sizes.tolist()))
    iw, ih = sizes[which, 0], sizes[which, 1]
    x0, y0 = xywh[:, 0] / iw, xywh[:, 1] / ih
    x1, y1 = (xywh[:, 0] + xywh[:, 2]) / iw, (xywh[:, 1] + xywh[:, 3]) / ih
    with open(path, "w", encoding="ascii") as out:
        out.write("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,"
                  "IsTruncated,IsGroupOf,IsDepiction,IsInside\n")  # fmt: skip
        step = 200_000
        for start in range(0, n, step):
            part = slice(start, start + step)
            out.writelines(
                f"{i:016x},xclick,/m/0{k % 80},1,{a:.6f},{c:.6f},{b:.6f},{d:.6f},0,0,0,0,0\n"
                for k, (i, a, b, c, d) in enumerate(zip(
                    which[part].tolist(), x0[part].tolist(), y0[part].tolist(),
                    x1[part].tolist(), y1[part].tolist(), strict=True), start=start)
            )  # fmt: skip


def write_folders(root: Path, n: int) -> tuple[Path, Path]:
    """A YOLO labels folder and a VOC folder of the first ``n`` boxes (quick mode)."""
    sizes, which, xywh = synthetic(n)
    yolo, voc = root / "yolo", root / "voc"
    yolo.mkdir(parents=True)
    voc.mkdir(parents=True)
    for image in np.unique(which).tolist():
        rows = xywh[which == image]
        w, h = sizes[image]
        (yolo / f"{image}.txt").write_text("".join(
            f"0 {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}\n"
            for x, y, bw, bh in rows.tolist()
        ))  # fmt: skip
        objects = "".join(
            f"<object><name>a</name><bndbox><xmin>{x + 1:.2f}</xmin><ymin>{y + 1:.2f}</ymin>"
            f"<xmax>{x + bw:.2f}</xmax><ymax>{y + bh:.2f}</ymax></bndbox></object>"
            for x, y, bw, bh in rows.tolist()
        )
        (voc / f"{image}.xml").write_text(
            f"<annotation><filename>{image}.jpg</filename><size><width>{w}</width>"
            f"<height>{h}</height></size>{objects}</annotation>"
        )
    return yolo, voc


def pss_mib(root: int) -> tuple[float, list[int]]:
    """Sum of Pss (MiB) of ``root`` and its descendants, and their pids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024, tree


def run(command: list[str]) -> tuple[float, float, float, float]:
    """Wall seconds, peak Pss of the tree (MiB), the main process's VmHWM (MiB), and CPU
    seconds (user + system, workers included)."""
    env = {**os.environ, "NO_COLOR": "1"}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        peak = hwm = 0.0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, pss_mib(child.pid)[0])
            hwm = max(hwm, vm_hwm(child.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            errors.seek(0)
            raise SystemExit(
                f"failed ({child.returncode}): {' '.join(command)}\n{errors.read().decode()}"
            )
    # CPU seconds of the command and its reaped workers: steadier than wall time on a
    # shared machine, but blind to the parallel speed-up.
    return elapsed, peak, hwm, usage.ru_utime + usage.ru_stime


def vm_hwm(pid: int) -> float:
    """The process's resident high-water mark (MiB), 0 when gone. (Not ru_maxrss, which
    a child inherits from its parent across fork and exec.)"""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


PY = sys.executable
LOAD = "import json, sys; json.load(open(sys.argv[1], 'rb'))"
IJSON = (
    "import ijson, sys\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for _ in ijson.items(f, 'annotations.item', use_float=True): pass"
)
READ = (
    "import sys\nfrom anchorctl.annotations import open_annotations\n"
    "sizes = sys.argv[2] if len(sys.argv) > 2 else None\n"
    "with open_annotations(sys.argv[1], image_sizes=sizes) as s:\n"
    "    for _ in s: pass"
)
CSV = "import csv, sys\nfor _ in csv.reader(open(sys.argv[1], newline='')): pass"


def has_ijson() -> bool:
    return subprocess.run([PY, "-c", "import ijson"], capture_output=True).returncode == 0


def measure_cases(
    cases: dict[str, list[str]], repeat: int
) -> dict[str, list[tuple[float, float, float, float]]]:
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for round_no in range(repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(run(cases[name]))
    return results


def table(
    title: str, results: dict[str, list[tuple[float, float, float, float]]], floor: str
) -> None:
    base = min(r[0] for r in results[floor])
    cpu_base = min(r[3] for r in results[floor])
    print(f"\n== {title} (runs: {len(results[floor])}; ratios vs best {floor!r})")
    print(
        f"{'case':<34} {'best s':>8} {'median s':>9} {'x floor':>8} "
        f"{'peak Pss MiB':>13} {'main HWM MiB':>13} {'CPU s':>8} {'CPU x':>6}"
    )
    for name, runs in results.items():
        times = [r[0] for r in runs]
        print(
            f"{name:<34} {min(times):8.2f} {statistics.median(times):9.2f} "
            f"{min(times) / base:8.2f} {max(r[1] for r in runs):13.0f} "
            f"{max(r[2] for r in runs):13.0f} {min(r[3] for r in runs):8.2f} "
            f"{min(r[3] for r in runs) / cpu_base:6.2f}"
        )


def verdict(
    results: dict[str, list[tuple[float, float, float, float]]],
    case: str,
    floor: str,
    timed: bool = True,
) -> bool:
    """Whether ``case`` met the targets: its peak, and (``timed``) its time against ``floor``."""
    ratio = min(r[0] for r in results[case]) / min(r[0] for r in results[floor])
    peak = max(r[1] for r in results[case])
    ok = (ratio <= TARGET_RATIO or not timed) and peak <= TARGET_MIB
    bound = f"<= {TARGET_RATIO}" if timed else "no time target"
    print(
        f"TARGET {case}: {ratio:.2f}x {floor} ({bound}) and peak {peak:.0f} MiB "
        f"(<= {TARGET_MIB}) -> "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok


BACKENDS = """
import sys, time
import numpy as np
from anchorctl import conventions, parallel, presets
from anchorctl.coverage import measure
from anchorctl.iou import grid_from_levels
preset = presets.load_preset(sys.argv[1]); module = conventions.load(preset.config.convention)
grid = grid_from_levels(module.generate(preset.config.params), module.RULES, preset.input_size)
w, h = preset.input_size
rng = np.random.default_rng(0); n = int(sys.argv[2])
side = np.exp(rng.uniform(np.log(4), np.log(min(w, h)), n))
aspect = np.exp(rng.uniform(np.log(1 / 4), np.log(4), n))
wh = np.stack([side * np.sqrt(aspect), side / np.sqrt(aspect)], 1)
centre = rng.uniform(0, 1, (n, 2)) * [w, h]
boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1).clip(0, [w, h, w, h])
boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
runs = {"1 process": [], "2 processes": [], "2 threads": []}
for _ in range(int(sys.argv[3])):
    for name in runs:
        parallel.BACKEND = "thread" if "threads" in name else "process"
        start = time.perf_counter()
        measure(boxes, (w, h), grid, (0.3, 0.5, 0.7), jobs=1 if name == "1 process" else 2)
        runs[name].append(time.perf_counter() - start)
base = min(runs["1 process"])
for name, times in runs.items():
    print(f"  {name:<12} best {min(times):6.2f} s  speed-up {base / min(times):4.2f}x")
"""


def coco_cases(
    folder: Path, n: int, coverage: list[str], suggest: list[str], repeat: int, quick: bool
) -> bool:
    """``n`` boxes of COCO JSON: json.load, the reader, coverage and suggest; the verdicts."""
    coco = folder / f"coco-{n}.json"
    t0 = time.perf_counter()
    write_coco(coco, n)
    print(f"\n### {n:,} boxes: {coco.stat().st_size / 2**20:,.0f} MiB of COCO JSON "
          f"(written in {time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    cases = {
        "json.load (floor)": [PY, "-c", LOAD, str(coco)],
        "anchorctl read (stream)": [PY, "-c", READ, str(coco)],
        "anchorctl coverage": [*coverage, str(coco)],
        "anchorctl suggest": [*suggest, str(coco)],
    }
    if has_ijson():
        cases["ijson items, annotations only"] = [PY, "-c", IJSON, str(coco)]
    if quick:
        ordered = folder / f"coco-ordered-{n}.json"
        write_coco(ordered, n, categories_first=True)
        cases["coverage, categories first"] = [*coverage, str(ordered)]
    results = measure_cases(cases, repeat)
    table(f"{n:,} boxes, COCO JSON", results, "json.load (floor)")
    ok = verdict(results, "anchorctl coverage", "json.load (floor)")
    ok &= verdict(results, "anchorctl suggest", "json.load (floor)", timed=False)
    coco.unlink()
    return ok


def csv_cases(folder: Path, n: int, coverage: list[str], suggest: list[str], repeat: int) -> bool:
    """``n`` boxes of Open Images CSV, sized by a sizes file or one size for all: csv.reader,
    the reader, coverage and suggest; the memory verdicts."""
    oi, oi_sizes = folder / f"oi-{n}.csv", folder / f"oi-{n}-sizes.csv"
    t0 = time.perf_counter()
    write_openimages(oi, oi_sizes, n)
    print(f"\n### {n:,} boxes: {oi.stat().st_size / 2**20:,.0f} MiB of Open Images CSV "
          f"(written in {time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    sized = ["--image-sizes", str(oi_sizes)]
    cases = {
        "csv.reader (floor)": [PY, "-c", CSV, str(oi)],
        "anchorctl read (stream)": [PY, "-c", READ, str(oi), str(oi_sizes)],
        "anchorctl coverage": [*coverage, str(oi), *sized],
        "coverage, --image-size 640x480": [*coverage, str(oi), "--image-size", "640x480"],
        "anchorctl suggest": [*suggest, str(oi), *sized],
    }
    results = measure_cases(cases, repeat)
    table(f"{n:,} boxes, Open Images CSV", results, "csv.reader (floor)")
    ok = True
    for case in ("anchorctl coverage", "coverage, --image-size 640x480", "anchorctl suggest"):
        ok &= verdict(results, case, "csv.reader (floor)", timed=False)
    oi.unlink()
    oi_sizes.unlink()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000,10000000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--preset", default="ssd300")
    parser.add_argument("--suggest-preset", default="yolov5")
    parser.add_argument("--quick", action="store_true", help="small sizes, every reader path")
    parser.add_argument("--no-csv", action="store_true", help="skip the Open Images CSV")
    parser.add_argument("--no-coco", action="store_true", help="skip the COCO JSON")
    parser.add_argument("--keep", type=Path, default=None, help="generate the files here")
    parser.add_argument(
        "--backends", action="store_true", help="only compare workers: processes vs threads"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # logs as it goes
    sizes = [20_000, 50_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    jobs = [] if args.jobs is None else ["--jobs", str(args.jobs)]
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"cores usable: {len(os.sched_getaffinity(0))}; preset {args.preset}; "
          f"ijson: {'yes' if has_ijson() else 'not installed'}")  # fmt: skip
    if args.backends:
        n = 20_000 if args.quick else 400_000
        print(f"\n== measure() of {n:,} boxes against {args.preset}, {repeat} runs each")
        subprocess.run([PY, "-c", BACKENDS, args.preset, str(n), str(repeat)], check=True)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="anchorctl-bench-", dir=args.keep))
    ok = True
    try:
        for n in sizes:
            coverage = [PY, "-m", "anchorctl", "coverage", "--preset", args.preset, "--format",
                        "json", "-q", *jobs]  # fmt: skip
            suggest = [PY, "-m", "anchorctl", "suggest", "--preset", args.suggest_preset,
                       "--format", "json", "-q"]  # fmt: skip
            if not args.no_coco:
                ok &= coco_cases(folder, n, coverage, suggest, repeat, args.quick)
            if not args.no_csv:
                ok &= csv_cases(folder, n, coverage, suggest, repeat)
            if args.quick:
                yolo, voc = write_folders(folder / f"folders-{n}", min(n, 20_000))
                sizes_arg = ["--image-size", "640x480"]
                cases = {
                    "coverage, YOLO folder": [*coverage, str(yolo), *sizes_arg],
                    "coverage, VOC folder": [*coverage, str(voc)],
                }
                table(f"{min(n, 20_000):,} boxes in folders", measure_cases(cases, 1),
                      "coverage, VOC folder")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # --quick checks that every path still runs: at 20,000 boxes start-up dominates the ratio
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
