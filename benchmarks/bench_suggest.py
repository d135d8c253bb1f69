"""Benchmark: ``anchorctl suggest`` against YOLOv5's AutoAnchor and MMDetection's DE, same boxes.

For k = 9 YOLO anchors at a 640x640 letterboxed input (the ``yolov5`` preset: three levels of
three), every method gets the same boxes and every result is measured by the same code
(``anchorctl.fit.objectives.metrics``, on all the boxes):

* **anchorctl suggest** (``anchorctl.suggest.suggest``, objective ``mean-iou``, seed 0, its
  default search);
* **anchorctl k-means**: one IoU k-means run (``kmeans_anchors``), the starting point of the
  search, for reference;
* **YOLOv5 kmean_anchors**: ``yolov5.utils.autoanchor.kmean_anchors(dataset, n=9,
  img_size=640, thr=4.0, gen=1000)`` from the PyPI ``yolov5`` package (Euclidean k-means on
  whitened shapes, then 1000 generations of its genetic algorithm on its ratio fitness). The
  boxes are handed over as one-box 640x640 images with normalized widths and heights, so
  ``kmean_anchors``' own rescaling gives back exactly these shapes;
* **MMDetection DE**: ``scipy.optimize.differential_evolution`` on ``1 - mean best IoU`` of
  centred shapes in float32 torch, with MMDetection ``tools/analysis_tools/optimize_anchors.py``'s
  settings (bounds ``(0, 640)`` per side, ``best1bin``, ``popsize=15``, ``maxiter=1000``,
  ``tol=1e-4``, ``mutation=(0.5, 1)``, ``recombination=0.7``, ``updating='immediate'``).

The peers run in a *separate* Python (``--peer-python``, or the ``ANCHORCTL_PEER_PYTHON``
environment variable) that has ``yolov5``, ``torch`` and ``scipy``; nothing of theirs is
vendored. A peer that cannot run is skipped with the reason printed. The peers' times include
their k-means; anchorctl's time is the whole ``suggest`` call. torch runs on one thread (the
tensors are small; on a busy two-core machine two threads were measured 2.3x slower per DE
evaluation). A DE evaluation costs about 270 x 18 anchor sides x N boxes per generation: on
37,939 boxes that is hours for MMDetection's 1000 generations on this CPU (the tool's default
device is a GPU), hence the VOC 2007-sized set.

Columns: mean best IoU of centred shapes (the objective), YOLO's BPR at ``anchor_t`` 4,
position-aware recall at IoU 0.5 and 0.7 with the anchors on the yolov5 grid (by area, smallest
on stride 8), and seconds. **Goal:** anchorctl's mean best IoU >= the best peer's, in less time
than YOLOv5's 1000 generations. The exit status is 0 when both hold on every data set.

Data sets (``benchmarks/boxsets.py`` documents the generators):

* ``voc``: 5,011 VOC-like images, VOC 2007 trainval's image count (17,739 boxes; seed 1),
  letterboxed to 640;
* ``coco``: 2,000 COCO-like images (about 21,000 boxes, many small; seed 2), letterboxed;
* ``repo``: the repository's own hand-made annotations of its sample photos
  (``tests/data/annotations/coco.json``, 18 boxes; real photos, public domain and CC0, see
  ``sample_images/SOURCES.md``): far too few boxes to rank methods, run to exercise real data.

No larger real data set with a permissive licence ships inside a package on the registries
reachable here (the survey in the project's reference notes found only imgaug's one-box
quokka, whose photo licence is not stated), so none is used.

Run: python benchmarks/bench_suggest.py [--quick] [--peer-python PATH] [--sets voc,coco,repo]
     [--de-iters N] [--yolo-gen N] [--objective mean-iou|bpr|recall] [--iou T] [--no-peers]
``--quick``: small sets, few generations, one of everything: every code path in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from boxsets import coco_like, letterbox, voc_like

from anchorctl.fit.layout import fill_by_area
from anchorctl.fit.objectives import metrics
from anchorctl.presets import load_preset
from anchorctl.suggest import kmeans_anchors, suggest, template_from

ROOT = Path(__file__).resolve().parent.parent
SIDE = 640

PEER = r"""
import json, sys, time, contextlib, io
import numpy as np
import torch
torch.set_num_threads(1)  # both peers: small tensors, and a shared 2-core machine
task = json.load(open(sys.argv[1]))
wh = np.load(task["wh"]).astype(np.float64)
out = {}
if task["method"] == "yolov5":
    from types import SimpleNamespace
    import torch
    from yolov5.utils.autoanchor import kmean_anchors
    side = float(task["side"])
    labels = np.zeros((len(wh), 5), dtype=np.float32)
    labels[:, 3:5] = wh / side
    dataset = SimpleNamespace(shapes=np.full((len(wh), 2), side), labels=list(labels[:, None, :]))
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        anchors = kmean_anchors(dataset, n=9, img_size=int(side), thr=4.0, gen=task["gen"],
                                verbose=False)
    out["seconds"] = time.perf_counter() - start
    out["anchors"] = np.asarray(anchors, dtype=np.float64).tolist()
else:
    import torch
    from scipy.optimize import differential_evolution
    boxes = torch.from_numpy(wh.astype(np.float32))
    w, h = boxes[:, 0:1], boxes[:, 1:2]
    def cost(params):
        a = torch.tensor(params, dtype=torch.float32).reshape(-1, 2)
        inter = torch.minimum(w, a[:, 0]) * torch.minimum(h, a[:, 1])
        iou = inter / (w * h + a[:, 0] * a[:, 1] - inter)  # bbox_overlaps of centred boxes
        return 1 - iou.max(1)[0].mean().item()
    bounds = [(0, task["side"]), (0, task["side"])] * 9
    start = time.perf_counter()
    result = differential_evolution(cost, bounds, strategy="best1bin", maxiter=task["iters"],
                                    popsize=15, tol=0.0001, mutation=(0.5, 1),
                                    recombination=0.7, updating="immediate", seed=0)
    out["seconds"] = time.perf_counter() - start
    out["anchors"] = np.asarray(result.x, dtype=np.float64).reshape(-1, 2).tolist()
    out["generations"] = int(result.nit)
print(json.dumps(out))
"""


def boxsets(names: list[str], quick: bool) -> dict[str, np.ndarray]:
    """Each set's boxes, letterboxed to the 640x640 input (xyxy pixels)."""
    out = {}
    for name in names:
        if name == "voc":
            boxes, sizes = voc_like(300 if quick else 5_011, seed=1)
        elif name == "coco":
            boxes, sizes = coco_like(100 if quick else 2_000, seed=2)
        elif name == "repo":
            data = json.loads((ROOT / "tests/data/annotations/coco.json").read_text())
            size = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
            rows = [
                (a["bbox"], size[a["image_id"]])
                for a in data["annotations"]
                if not a.get("iscrowd") and a["bbox"][2] > 0 and a["bbox"][3] > 0
            ]
            boxes = np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in rows], dtype=float)
            sizes = np.array([s for _, s in rows], dtype=float)
        else:
            raise SystemExit(f"unknown set {name!r}: choose from voc, coco, repo")
        out[name] = letterbox(boxes, sizes, SIDE)
    return out


def run_peer(python: str | None, method: str, wh: np.ndarray, **task: Any) -> dict[str, Any]:
    """One peer in its own interpreter: ``{"anchors", "seconds"}`` or ``{"skipped": reason}``."""
    if not python:
        return {"skipped": "no peer Python (give --peer-python or ANCHORCTL_PEER_PYTHON)"}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "wh.npy", wh)
        script = Path(tmp) / "peer.py"
        script.write_text(PEER)
        spec = Path(tmp) / "task.json"
        spec.write_text(json.dumps({"method": method, "wh": str(Path(tmp) / "wh.npy"),
                                    "side": SIDE, **task}))  # fmt: skip
        try:
            proc = subprocess.run([python, str(script), str(spec)], capture_output=True,
                                  text=True, cwd=tmp, check=False)  # fmt: skip
        except OSError as exc:
            return {"skipped": f"cannot start {python}: {exc.strerror}"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"{method} did not run in {python}: {last}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def evaluate(boxes: np.ndarray, anchors: np.ndarray, template: Any) -> dict[str, float]:
    """The same measures for every method: 9 anchors by area onto the yolov5 levels."""
    anchors = np.maximum(np.asarray(anchors, dtype=np.float64).reshape(-1, 2), 1e-3)
    shapes = fill_by_area(anchors, [3, 3, 3], template.finest_first())
    level = np.repeat(np.arange(3), 3)
    m = metrics(boxes, shapes, anchor_t=4.0, centres=template.centres(), level=level)
    assert m.recall is not None
    return {"mean_iou": m.mean_iou, "bpr": m.bpr, "r50": m.recall[0.5], "r70": m.recall[0.7]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sets, every code path")
    parser.add_argument("--peer-python", default=os.environ.get("ANCHORCTL_PEER_PYTHON"))
    parser.add_argument("--sets", default=None, help="voc,coco,repo [quick: voc,repo]")
    parser.add_argument("--de-iters", type=int, default=None, help="DE maxiter [1000; quick 5]")
    parser.add_argument("--yolo-gen", type=int, default=None, help="YOLOv5 gen [1000; quick 20]")
    parser.add_argument("--objective", default="mean-iou", help="anchorctl's objective")
    parser.add_argument("--iou", type=float, default=0.5, help="for --objective recall")
    parser.add_argument("--no-peers", action="store_true", help="anchorctl's methods only")
    args = parser.parse_args()
    de_iters = args.de_iters or (5 if args.quick else 1000)
    yolo_gen = args.yolo_gen or (20 if args.quick else 1000)
    preset = load_preset("yolov5")
    template = template_from(preset.config.convention, dict(preset.config.params))
    ok = True
    sets = args.sets or ("voc,repo" if args.quick else "voc,coco,repo")
    for name, boxes in boxsets(sets.split(","), args.quick).items():
        wh = boxes[:, 2:] - boxes[:, :2]
        print(f"\n== {name}: {len(boxes):,} boxes, letterboxed to {SIDE}x{SIDE}, k = 9")
        rows: list[tuple[str, dict[str, float] | None, float | None, str]] = []
        start = time.perf_counter()
        ours = suggest(boxes, template, seed=0, objective=args.objective, iou=args.iou)
        t_ours = time.perf_counter() - start
        label = "anchorctl suggest" + (
            "" if args.objective == "mean-iou" else f" ({args.objective})"
        )
        rows.append((label, evaluate(boxes, ours.anchors, template), t_ours, ""))
        start = time.perf_counter()
        km = kmeans_anchors(wh, min(9, len(np.unique(wh, axis=0))), seed=0)
        t_km = time.perf_counter() - start
        km_anchors = km.anchors
        if len(km_anchors) < 9:  # the repository's set has fewer distinct shapes than 9? pad
            km_anchors = np.concatenate([km_anchors, km_anchors[: 9 - len(km_anchors)]])
        rows.append(("anchorctl k-means (1 run)", evaluate(boxes, km_anchors, template), t_km, ""))
        for label, method, task in (
            (f"YOLOv5 kmean_anchors (gen {yolo_gen})", "yolov5", {"gen": yolo_gen}),
            (f"MMDetection DE (maxiter {de_iters})", "de", {"iters": de_iters}),
        ):
            if args.no_peers:
                continue
            peer = run_peer(args.peer_python, method, wh.astype(np.float32), **task)
            if "skipped" in peer:
                print(f"   skipped {label}: {peer['skipped']}")
                rows.append((label, None, None, "skipped"))
                continue
            note = f"{peer['generations']} generations" if "generations" in peer else ""
            rows.append((label, evaluate(boxes, np.array(peer["anchors"]), template),
                         float(peer["seconds"]), note))  # fmt: skip
        print(f"{'method':<34} {'mean IoU':>9} {'BPR':>7} {'R@0.5':>7} {'R@0.7':>7} {'seconds':>8}")
        for label, m, seconds, note in rows:
            if m is None:
                print(f"{label:<34} {'-':>9} {'-':>7} {'-':>7} {'-':>7} {'-':>8}  {note}")
                continue
            print(f"{label:<34} {m['mean_iou']:9.4f} {100 * m['bpr']:6.2f}% {100 * m['r50']:6.2f}% "
                  f"{100 * m['r70']:6.2f}% {seconds:8.2f}  {note}")  # fmt: skip
        peers = [(label, m, s) for label, m, s, _ in rows[2:] if m is not None]
        if peers and name != "repo":
            best_label, best_m, _ = max(peers, key=lambda p: p[1]["mean_iou"])  # type: ignore[index]
            ours_m = rows[0][1]
            assert ours_m is not None and best_m is not None
            better = ours_m["mean_iou"] >= best_m["mean_iou"]
            print(f"GOAL mean IoU >= best peer ({best_label}: {best_m['mean_iou']:.4f}): "
                  f"{ours_m['mean_iou']:.4f} -> {'PASS' if better else 'MISS'}")  # fmt: skip
            ok = ok and better
            yolo = [s for label, m, s in peers if label.startswith("YOLOv5")]
            if yolo and not args.quick:
                faster = t_ours < yolo[0]  # type: ignore[operator]
                print(f"GOAL time < YOLOv5's: {t_ours:.2f}s vs {yolo[0]:.2f}s -> "
                      f"{'PASS' if faster else 'MISS'}")  # fmt: skip
                ok = ok and faster
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
