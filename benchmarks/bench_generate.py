"""Benchmark: generating every anchor of a large feature map, vs numpy filling an array.

Target: the anchors behind ``anchorctl list --all --format npy`` on a 1000x1000 feature map
with 9 shapes per cell (9,000,000 anchors) take at most 1.5x the time numpy needs to allocate
and fill an array of the same size, ``np.full((N, 4), 0.5, np.float32)``, measured in the
same run. Both ``anchorctl.anchors(spec)`` (the whole array) and consuming
``anchorctl.iter_anchor_blocks(spec)`` (the streamed blocks the npy writer uses) are held to
it. A plain broadcasting implementation (``base + shifts``) is timed for context, and the
whole command is timed end to end in a subprocess against ``np.save`` in a subprocess
(informational; that ratio includes interpreter start-up, imports, disk and fsync).

``--quick``: a 100x100 feature map (90,000 anchors), one timed run of everything, end to end
included, to see that the script still works; it never fails on a ratio.

Run: python benchmarks/bench_generate.py [--repeat N] [--e2e-repeat N] [--no-e2e] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from _timing import cached_bytecode_env, measure, report, verdict

import anchorctl
from anchorctl.atomic import atomic_write
from anchorctl.conventions import mxnet
from anchorctl.output import View, write_npy

SIZES = (0.1, 0.2, 0.3)
RATIOS = (1, 2, 0.5, 3, 0.333333, 4, 0.25)  # 3 + 7 - 1 = 9 shapes per cell
FEATURE_MAP = (1000, 1000)
QUICK_FEATURE_MAP = (100, 100)
TARGET = 1.5


def _csv(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values)


def broadcast_anchors(spec: anchorctl.MultiBoxPriorSpec) -> npt.NDArray[np.float32]:
    """The textbook way: per-shape offsets ``(k, 4)`` plus per-cell centres ``(H*W, 1, 4)``."""
    half_w, half_h = spec.half_extents()
    cy, cx = spec.centers()
    base = np.stack([-half_w, -half_h, half_w, half_h], axis=1)  # (k, 4)
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    xx, yy = xx.ravel(), yy.ravel()
    shifts = np.stack([xx, yy, xx, yy], axis=1)  # (H*W, 4)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


def anchors_into_out(
    spec: anchorctl.MultiBoxPriorSpec, block_bytes: int = 1 << 22
) -> npt.NDArray[np.float32]:
    """Sketch of ``anchors()`` computing each block of rows straight into the result.

    Same arithmetic as ``iter_anchor_blocks`` (row template + ``cy * y_mask``, bit-exact),
    but without a fresh temporary block per step and the copy from it into ``out``.
    """
    rows, cols = spec.feature_map
    k = spec.per_cell
    half_w, half_h = spec.half_extents()
    cy, cx = spec.centers()
    template = np.empty((cols, k, 4), dtype=np.float32)
    template[..., 0] = cx[:, None] - half_w
    template[..., 1] = -half_h
    template[..., 2] = cx[:, None] + half_w
    template[..., 3] = half_h
    y_mask = np.zeros((cols, k, 4), dtype=np.float32)
    y_mask[..., 1::2] = 1
    template, y_mask = template.reshape(1, -1), y_mask.reshape(1, -1)
    out = np.empty((rows, cols * k * 4), dtype=np.float32)
    step = max(1, block_bytes // (out.shape[1] * 4))
    for r0 in range(0, rows, step):
        view = out[r0 : r0 + step]
        np.multiply(y_mask, cy[r0 : r0 + step, None], out=view)
        np.add(view, template, out=view)
        if spec.clip:
            np.clip(view, np.float32(0), np.float32(1), out=view)
    return out.reshape(-1, 4)


def spec_view(spec: anchorctl.MultiBoxPriorSpec) -> View:
    """What ``list --all --format npy`` writes for ``spec``: its one level, in xyxy."""
    params = {
        "feature_maps": [spec.feature_map],
        "sizes": [spec.sizes],
        "ratios": [spec.ratios],
        "offsets": spec.offsets,
        "clip": spec.clip,
    }
    levels = mxnet.generate(params)
    return View(rules=mxnet.RULES, levels=levels, indices=[0], first=[0], image_size=None)


def consume_blocks(spec: anchorctl.MultiBoxPriorSpec) -> int:
    count = 0
    for block in anchorctl.iter_anchor_blocks(spec):
        count += block.shape[0]
    return count


def check_same(spec: anchorctl.MultiBoxPriorSpec) -> None:
    """The timed implementations agree (bit for bit) before any of them is timed."""
    full = anchorctl.anchors(spec)
    assert full.shape == (spec.num_anchors, 4) and full.dtype == np.float32
    pos = 0
    for block in anchorctl.iter_anchor_blocks(spec):
        assert np.array_equal(block, full[pos : pos + len(block)])
        pos += len(block)
    assert pos == spec.num_anchors
    assert np.array_equal(anchors_into_out(spec), full)
    same = np.array_equal(broadcast_anchors(spec), full)
    print(
        "check: anchors() == concatenated blocks == sketch into out; "
        f"broadcast == anchors(): {same}"
    )


def in_process(spec: anchorctl.MultiBoxPriorSpec, repeat: int) -> bool:
    n = spec.num_anchors
    times = measure(
        {
            "np.full (baseline)": lambda: np.full((n, 4), 0.5, np.float32),
            "anchorctl.anchors": lambda: anchorctl.anchors(spec),
            "iter_anchor_blocks": lambda: consume_blocks(spec),
            "broadcast base+shifts": lambda: broadcast_anchors(spec),
            "sketch: anchors into out": lambda: anchors_into_out(spec),
        },
        repeat,
    )
    ratios = report(f"in-process generation of {n:,} anchors", times, "np.full (baseline)")
    ok = verdict("anchors(spec)", ratios["anchorctl.anchors"], TARGET)
    ok &= verdict("iter_anchor_blocks(spec)", ratios["iter_anchor_blocks"], TARGET)
    print(f"context: broadcast base+shifts is {ratios['broadcast base+shifts']:.2f}x")
    print(
        f"context: sketch of anchors() filling its result in place is "
        f"{ratios['sketch: anchors into out']:.2f}x (a possible fix if anchors() misses)"
    )
    return ok


class NullSink:
    """A write target that keeps nothing: the writer's own cost, without any I/O.

    (Not ``/dev/null``: on a box where something has replaced it with a regular file,
    writes to it cost a memory copy.)
    """

    def write(self, data: object) -> int:
        return memoryview(data).nbytes  # type: ignore[arg-type]


def write_npy_no_copy(out: NullSink | IO[bytes], spec: anchorctl.MultiBoxPriorSpec) -> None:
    """Sketch of ``output.write_npy`` without the per-block ``tobytes()`` copy."""
    np.lib.format.write_array_header_1_0(
        out, {"descr": "<f4", "fortran_order": False, "shape": (spec.num_anchors, 4)}
    )
    for block in anchorctl.iter_anchor_blocks(spec):
        out.write(block)  # an ndarray is a buffer; "<f4" is its dtype on little-endian


def npy_writer_breakdown(spec: anchorctl.MultiBoxPriorSpec, folder: Path, repeat: int) -> None:
    """Where the npy writer's time goes: CPU only, to a file, and with fsync (atomic)."""
    n = spec.num_anchors
    view = spec_view(spec)

    def np_save() -> None:
        np.save(folder / "base.npy", np.full((n, 4), 0.5, np.float32))

    def to_file() -> None:
        with open(folder / "plain.npy", "wb") as handle:
            write_npy(handle, view)

    def to_file_no_copy() -> None:
        with open(folder / "plain2.npy", "wb") as handle:
            write_npy_no_copy(handle, spec)

    def to_file_atomic() -> None:
        with atomic_write(folder / "atomic.npy") as handle:
            write_npy(handle, view)

    times = measure(
        {
            "np.save(np.full) (baseline)": np_save,
            "write_npy -> null sink": lambda: write_npy(NullSink(), view),  # type: ignore[arg-type]
            "sketch: no tobytes -> null sink": lambda: write_npy_no_copy(NullSink(), spec),
            "write_npy -> file": to_file,
            "sketch: no tobytes -> file": to_file_no_copy,
            "atomic_write+write_npy (fsync)": to_file_atomic,
        },
        repeat,
    )
    report("npy writer in-process (informational)", times, "np.save(np.full) (baseline)")


def end_to_end(spec: anchorctl.MultiBoxPriorSpec, folder: Path, repeat: int) -> None:
    n = spec.num_anchors
    rows, cols = spec.feature_map
    out = folder / "x.npy"
    base_out = folder / "y.npy"
    cli = [
        sys.executable,
        "-m",
        "anchorctl",
        "list",
        "--sizes",
        _csv(SIZES),
        "--ratios",
        _csv(RATIOS),
        "--feature-map",
        f"{rows}x{cols}",
        "--all",
        "--format",
        "npy",
        "-o",
        str(out),
    ]
    baseline = [
        sys.executable,
        "-c",
        f"import numpy as np; np.save({str(base_out)!r}, np.full(({n}, 4), 0.5, np.float32))",
    ]
    startup = [sys.executable, "-c", "import numpy, anchorctl.cli"]
    numpy_only = [sys.executable, "-c", "import numpy"]

    env = cached_bytecode_env(str(folder / "pycache"))

    def run(argv: list[str]) -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)

    times = measure(
        {
            "python -c np.save (baseline)": lambda: run(baseline),
            "anchorctl list ... -o x.npy": lambda: run(cli),
            "python -c 'import numpy'": lambda: run(numpy_only),
            "python -c 'import anchorctl.cli'": lambda: run(startup),
        },
        repeat,
    )
    ratios = report(
        "end to end, subprocesses (informational)", times, "python -c np.save (baseline)"
    )
    print(f"end-to-end ratio: {ratios['anchorctl list ... -o x.npy']:.2f}x (informational)")
    print("command: " + " ".join(cli[1:]))
    loaded = np.load(out)
    assert loaded.shape == (n, 4), loaded.shape
    assert loaded.dtype == np.float32, loaded.dtype
    same = np.array_equal(loaded, anchorctl.anchors(spec))
    print(
        f"check: {out.name} loads with np.load: shape {loaded.shape}, {loaded.dtype}, "
        f"equal to anchors(): {same}"
    )
    assert same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per in-process case")
    parser.add_argument("--e2e-repeat", type=int, default=5, help="timed runs per subprocess")
    parser.add_argument("--no-e2e", action="store_true", help="skip the file-writing parts")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a {QUICK_FEATURE_MAP[0]}x{QUICK_FEATURE_MAP[1]} map, one run of everything; "
        "never fails on a ratio",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat = args.e2e_repeat = 1
    feature_map = QUICK_FEATURE_MAP if args.quick else FEATURE_MAP

    spec = anchorctl.MultiBoxPriorSpec(sizes=SIZES, ratios=RATIOS, feature_map=feature_map)
    print(
        f"anchorctl {anchorctl.__version__}, numpy {np.__version__}, python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"spec: sizes {_csv(SIZES)}, ratios {_csv(RATIOS)}, feature map "
        f"{feature_map[0]}x{feature_map[1]}, {spec.per_cell} shapes/cell, "
        f"{spec.num_anchors:,} anchors ({spec.num_anchors * 16 / 2**20:.0f} MiB)"
    )
    started = time.perf_counter()
    check_same(spec)
    ok = in_process(spec, args.repeat)
    if not args.no_e2e:
        with tempfile.TemporaryDirectory(prefix="anchorctl-bench-") as tmp:
            folder = Path(tmp)
            npy_writer_breakdown(spec, folder, 1 if args.quick else max(3, args.e2e_repeat))
            end_to_end(spec, folder, args.e2e_repeat)
    verdict_line = "all targets met" if ok else "TARGET MISSED"
    if args.quick:  # fixed costs dominate a small map: the ratios say nothing about the target
        verdict_line = "quick run: every path ran; ratios of a small map are not judged"
    print(f"\n{verdict_line} ({time.perf_counter() - started:.0f} s)")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
