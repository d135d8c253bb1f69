"""Benchmark: framework configs at anchorctl's reading caps, against the bare parsers.

A config may hold up to ``reading.MAX_WORDS`` words (1 MiB at most). This times reading the
largest configs the caps let through, and the refusals of what they stop:

* judged: ``load_config`` on an MMDetection ``.py`` and a Detectron2 YAML that each carry a
  list of ``MAX_WORDS - 1,000`` numbers next to a real anchor generator, against the bare
  parser on the same text (``ast.parse``; PyYAML's ``CSafeLoader``, libyaml, when built with
  it). Target: at most **4x** the bare parser (best-of-N): the cost of reading as data, with
  the budget, alias and nesting checks, and the conventions' validation.
* reported: a TF pipeline.config with as many fields (no bare parser to compare with: its
  ratio is to the YAML baseline), and the refusals: ``/dev/zero``, a 3 MiB file, a
  billion-laughs YAML (9**9 values if expanded) and an 11-file diamond of ``_base_`` files,
  each against reading a normal config (the RetinaNet R50-FPN test config).

Peak Python memory of each case is measured with ``tracemalloc`` in a separate, untimed run.

``--quick``: configs of 2,000 numbers and one timed run of every case (the refusals stay
full size: they stop early), to see that the script still works; it never fails on a ratio.

Run from the repository root: python benchmarks/bench_configs.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml
from _timing import measure, report, verdict

from anchorctl.configs import load_config, reading
from anchorctl.errors import AnchorError

ROOT = Path(__file__).resolve().parent.parent
RETINANET = (
    ROOT / "tests" / "data" / "configs" / "mmdet" / "retinanet" / "retinanet_r50_fpn_1x_coco.py"
)
VALUES = reading.MAX_WORDS - 1_000
QUICK_VALUES = 2_000
GENERATOR = (
    "dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, "
    "ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])"
)


def write_cases(folder: Path, values: int = VALUES) -> dict[str, Path]:
    numbers = ", ".join(str(i % 97) for i in range(values))
    mmdet = folder / "big_mmdet.py"
    mmdet.write_text(
        f"extra = [{numbers}]\nmodel = dict(neck=dict(type='FPN', num_outs=5), "
        f"bbox_head=dict(anchor_generator={GENERATOR}))\n"
        "test_pipeline = [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]\n"
    )
    d2 = folder / "big_d2.yaml"
    d2.write_text(f"MODEL:\n  EXTRA: [{numbers}]\n  META_ARCHITECTURE: RetinaNet\n")
    tf = folder / "big.config"
    fields = " ".join(f"f: {i % 97}" for i in range(values // 2))
    tf.write_text(
        "model { ssd {\n  image_resizer { fixed_shape_resizer { height: 300 width: 300 } }\n"
        "  feature_extractor { type: 'ssd_mobilenet_v1' }\n"
        "  anchor_generator { ssd_anchor_generator { aspect_ratios: [1.0, 2.0, 0.5] } }\n"
        f"  box_predictor {{ {fields} }}\n}} }}\n"
    )
    big = folder / "big_file.py"
    with open(big, "wb") as handle:
        handle.truncate(3 * reading.MAX_BYTES)
    laughs = folder / "laughs.yaml"
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    laughs.write_text("\n".join([*lines, "MODEL: {X: *i}"]) + "\n")
    for i in range(7):
        (folder / f"d{i}.py").write_text(f"_base_ = ['./d{i + 1}.py', './e{i + 1}.py']\n")
        (folder / f"e{i + 1}.py").write_text(f"_base_ = ['./d{i + 1}.py']\n")
    (folder / "d7.py").write_text("# nothing\n")
    return {
        "mmdet": mmdet,
        "d2": d2,
        "tf": tf,
        "big": big,
        "laughs": laughs,
        "diamond": folder / "d0.py",
    }


def refused(path: Path) -> Callable[[], object]:
    def run() -> object:
        try:
            load_config(path)
        except AnchorError as exc:
            return str(exc)
        raise AssertionError(f"{path} was read, not refused")

    return run


def peak_kib(case: Callable[[], object]) -> float:
    tracemalloc.start()
    case()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small configs, one run of each")
    args = parser.parse_args()
    values = QUICK_VALUES if args.quick else VALUES
    if args.quick:
        args.repeat = 1
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_cases(Path(tmp), values)
        mmdet_text, d2_text = files["mmdet"].read_text(), files["d2"].read_text()
        print(f"{values:,} numbers per big config; YAML baseline: {loader.__name__}")
        ok = True
        cases: dict[str, Callable[[], object]] = {
            "ast.parse (bare)": lambda: ast.parse(mmdet_text),
            "load_config mmdet": lambda: load_config(files["mmdet"]),
        }
        times = measure(cases, args.repeat)
        ratios = report("MMDetection .py at the cap", times, "ast.parse (bare)")
        ok &= verdict("mmdet vs ast.parse", ratios["load_config mmdet"], 4.0)
        cases = {
            "yaml.load (bare)": lambda: yaml.load(d2_text, Loader=loader),
            "load_config detectron2": lambda: load_config(files["d2"], input_size=(1333, 800)),
            "load_config tf (reported)": lambda: load_config(files["tf"]),
        }
        times = measure(cases, args.repeat)
        ratios = report("YAML and pipeline.config at the cap", times, "yaml.load (bare)")
        ok &= verdict("detectron2 vs yaml.load", ratios["load_config detectron2"], 4.0)
        cases = {
            "normal config (RetinaNet)": lambda: load_config(RETINANET),
            "refuse /dev/zero": refused(Path("/dev/zero")),
            "refuse 3 MiB file": refused(files["big"]),
            "refuse billion laughs": refused(files["laughs"]),
            "refuse _base_ diamond": refused(files["diamond"]),
        }
        times = measure(cases, args.repeat)
        report("refusals (reported)", times, "normal config (RetinaNet)")
        print("\npeak Python memory (tracemalloc, separate untimed run):")
        every = {
            "ast.parse (bare)": lambda: ast.parse(mmdet_text),
            "load_config mmdet": lambda: load_config(files["mmdet"]),
            "yaml.load (bare)": lambda: yaml.load(d2_text, Loader=loader),
            "load_config detectron2": lambda: load_config(files["d2"], input_size=(1333, 800)),
            "load_config tf": lambda: load_config(files["tf"]),
            **{k: v for k, v in cases.items()},
        }
        for name, case in every.items():
            print(f"  {name:<28} {peak_kib(case):10,.0f} KiB")
    if args.quick:
        print("quick run: every path ran; ratios of small configs are not judged")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
