"""Every numeric option of every convention, driven through the CLI with values a user can type
and no framework can use: giant, tiny, zero, negative, too many. Each must end in one line
(exit 2 for a bad value, 1 for a request too large to do), never a traceback or a numpy
warning; and counting must stay arithmetic for any map."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import checks
from anchorctl.errors import TooLarge

from support import ROOT, run

# Arguments that make each convention valid on a 2x2 map: each extreme value replaces one.
BASE: dict[str, dict[str, Any]] = {
    "mxnet": {"feature-map": "2x2"},
    "d2l": {"sizes": "0.2", "ratios": "1", "feature-map": "2x2"},
    "caffe-ssd": {"min-sizes": "30", "input-size": "300x300", "feature-map": "2x2"},
    "gluoncv-ssd": {"sizes": "30,60", "ratios": "1,2", "steps": "8", "feature-map": "2x2"},
    "gluoncv-rpn": {"feature-map": "2x2"},
    "py-faster-rcnn": {"feature-map": "2x2"},
    "torchvision": {"feature-map": "2x2", "input-size": "64x64"},
    "torchvision-ssd": {"ratios": "2", "input-size": "300x300", "feature-map": "2x2"},
    "detectron2": {"feature-map": "2x2", "strides": "16"},
    "mmdet": {"feature-map": "2x2", "strides": "16"},
    "tf-grid": {"feature-map": "2x2"},
    "tf-ssd": {"feature-map": ["2x2", "1x1"]},
    "tf-multiscale": {"feature-map": "2x2", "input-size": "16x16"},
    "yolo": {"feature-map": "2x2", "strides": "8"},
    "keras-retinanet": {"feature-map": "2x2", "pyramid-levels": "3"},
}

# What a user can type for each kind of option that no framework can use.
EXTREMES = {
    "floats": ["1e30", "1e308", "1e-30", "1e-320", "99999999999999999999", "0", "-1", "3e38,1e-38"],
    "float": ["1e30", "1e308", "1e-30", "1e-320", "99999999999999999999", "0", "-1"],
    "int": ["99999999999", "99999999999999999999999", "0", "100000"],
    "yx": ["1e30", "1e30,1e30", "1e308", "1e-30", "1e-320", "99999999999999999999", "0", "-1"],
    "whs": ["1e30x1e30", "99999999999x1", "1e-30x1e-30", "1e308x5"],
}
SSD_ONLY = {"min_sizes", "max_sizes", "basesize_ratio_range", "input_size"}
COMMANDS = (
    ("list",),
    ("count",),
    ("list", "--all", "--format", "csv"),
    ("export", "--to", "mmdet"),
    ("export", "--to", "detectron2"),
)


def args_for(convention: str, options: dict[str, Any]) -> list[str]:
    out = ["--convention", convention]
    for name, value in options.items():
        if value is True:
            out.append(f"--{name}")
            continue
        for item in value if isinstance(value, list) else [value]:
            out += [f"--{name}", item]
    return out


def invoke(*args: str) -> tuple[Result, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(*args)
    return result, list(caught)


def assert_one_line_outcome(
    result: Result, caught: list[warnings.WarningMessage], what: str
) -> None:
    """Exit 0, 1 or 2; on failure exactly one line on stderr; never a traceback or warning."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{what}: {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code in (0, 1, 2), what
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, what
    lines = result.stderr.strip().splitlines()
    assert len(lines) == (1 if result.exit_code else 0) or (
        result.exit_code == 0 and len(lines) <= 1
    ), f"{what}: {lines}"
    numpy_warnings = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not numpy_warnings, f"{what}: {numpy_warnings[0].message}"


def test_the_base_arguments_work_for_every_convention() -> None:
    assert set(BASE) == set(conventions.MODULES)
    for convention, base in BASE.items():
        result = run("list", *args_for(convention, base))
        assert result.exit_code == 0, (convention, result.stderr)


def _option_cases() -> list[tuple[str, str, str]]:
    out = []
    for convention in conventions.MODULES:
        for option in conventions.load(convention).OPTIONS:
            if option.kind != "flag":
                out.append((convention, option.name, option.kind))
    return out


@pytest.mark.parametrize(("convention", "name", "kind"), _option_cases())
def test_every_numeric_option_survives_extreme_values(
    convention: str, name: str, kind: str
) -> None:
    flag = name.replace("_", "-")
    for value in EXTREMES[kind]:
        options = {**BASE[convention], flag: value}
        if convention == "mmdet" and name in SSD_ONLY:
            options["ssd"] = True
        for command in COMMANDS:
            result, caught = invoke(*command, *args_for(convention, options))
            assert_one_line_outcome(
                result, caught, f"{' '.join(command)} {convention} --{flag} {value}"
            )


@pytest.mark.parametrize("convention", list(conventions.MODULES))
@pytest.mark.parametrize(
    "feature_map",
    [
        "2147483647x2147483647",
        "300000000x300000000",
        "1x9007199254740992",
        "99999999999999999999x1",
    ],
)
def test_giant_feature_maps_end_in_one_line(convention: str, feature_map: str) -> None:
    for image in (None, "2147483647x2147483647"):
        options = {**BASE[convention], "feature-map": feature_map}
        if image is not None:
            options["input-size"] = image
        for command in (("list",), ("count",), ("export", "--to", "yolo")):
            result, caught = invoke(*command, *args_for(convention, options))
            assert_one_line_outcome(result, caught, f"{command} {convention} {feature_map} {image}")


# --- count is arithmetic ------------------------------------------------------------------------

GIANT = 2147483647


def giant_args(convention: str) -> list[str]:
    """A 2147483647 x 2147483647 map, with what each convention needs beside it."""
    options = {**BASE[convention], "feature-map": f"{GIANT}x{GIANT}"}
    if convention == "tf-ssd":
        options["feature-map"] = [f"{GIANT}x{GIANT}", "1x1"]
    if convention in ("torchvision", "tf-multiscale", "caffe-ssd", "torchvision-ssd"):
        options["input-size"] = f"{GIANT}x{GIANT}"
    if convention == "tf-multiscale":
        options["min-level"] = "0"
    if convention == "keras-retinanet":
        options["pyramid-levels"] = "0"
    if convention == "caffe-ssd":  # 30 px of a 2**31 px image is below float32's resolution at 1
        options["min-sizes"] = "1000000000"
    return args_for(convention, options)


@pytest.mark.parametrize("convention", list(conventions.MODULES))
def test_count_of_a_giant_map_is_arithmetic_in_every_convention(convention: str) -> None:
    tracemalloc.start()
    try:
        result = run("count", "--format", "json", *giant_args(convention))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    first = data["levels"][0]
    assert first["feature_map"] == [GIANT, GIANT]
    assert first["count"] == GIANT * GIANT * first["per_cell"]
    assert data["total"] == sum(level["count"] for level in data["levels"])
    assert peak < 16 << 20, f"count of a {GIANT}x{GIANT} map allocated {peak >> 20} MiB"


@pytest.mark.parametrize(
    ("convention", "extra"),
    [
        ("mxnet", {}),
        ("torchvision", {"input-size": f"{GIANT}x{GIANT}", "ratios": "1"}),
        ("detectron2", {"strides": "16", "ratios": "1"}),
        ("d2l", {"ratios": "1"}),
    ],
)
def test_count_with_ten_thousand_sizes_on_a_giant_map(
    convention: str, extra: dict[str, str]
) -> None:
    sizes = ",".join(str(v) for v in np.round(np.linspace(0.001, 0.9, 10_000), 6))
    if convention in ("torchvision", "detectron2"):
        sizes = ",".join(str(v) for v in range(8, 10_008))
    options = {"feature-map": f"{GIANT}x{GIANT}", "sizes": sizes, **extra}
    tracemalloc.start()
    try:
        result = run("count", "--format", "json", *args_for(convention, options))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    level = json.loads(result.stdout)["levels"][0]
    assert level["per_cell"] == 10_000
    assert level["count"] == GIANT * GIANT * 10_000
    assert peak < 64 << 20, f"{peak >> 20} MiB"


# --- too large to do: exit 1, one line --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--convention", "mmdet", "--strides", "8", "--octave-base-scale", "4",
         "--scales-per-octave", "100000"],
        ["--convention", "mmdet", "--strides", "8", "--octave-base-scale", "4",
         "--scales-per-octave", "99999999999"],
        ["--convention", "tf-multiscale", "--input-size", "16x16", "--scales-per-octave",
         "99999999999"],
        ["--sizes", ",".join(["0.5"] * (checks.MAX_PER_CELL + 1))],
    ],
)  # fmt: skip
def test_too_many_shapes_per_cell_is_refused_before_anything_is_built(args: list[str]) -> None:
    for command in ("list", "count"):
        result, caught = invoke(command, "--feature-map", "2x2", *args)
        assert_one_line_outcome(result, caught, command)
        assert result.exit_code == 1, result.stderr
        assert "shapes per cell" in result.stderr


def test_an_array_larger_than_memory_is_refused_with_too_large() -> None:
    from anchorctl.conventions import torchvision as tv

    level = tv.generate(
        {"feature_maps": [(100_000, 100_000)], "strides": [(1, 1)], "sizes": [(32.0,)],
         "ratios": [(1.0,)]}
    )[0]  # fmt: skip
    with pytest.raises(TooLarge, match=r"10,000,000,000 anchors as float32 need 149\.0 GiB"):
        _ = level.array
    first = next(level.iter_blocks(1 << 16))  # streaming still works, block by block
    assert first.shape == (4096, 4)


def test_a_map_so_large_float32_loses_its_far_anchors_counts_but_does_not_list() -> None:
    args = ["--convention", "torchvision", "--feature-map", f"{GIANT}x{GIANT}",
            "--strides", "16", "--sizes", "32"]  # fmt: skip
    counted = run("count", "--format", "json", *args)
    assert counted.exit_code == 0
    assert json.loads(counted.stdout)["total"] == GIANT * GIANT * 3
    assert run("list", *args).exit_code == 0  # the per-cell shapes are what torchvision makes
    listed, caught = invoke("list", "--all", "--format", "csv", *args)
    assert_one_line_outcome(listed, caught, "list --all")
    assert listed.exit_code == 1
    assert "feature map puts its far anchors where" in listed.stderr
    assert "collapses to 0 in float32" in listed.stderr
    assert listed.stdout.splitlines() == ["row,col,slot,xmin,ymin,xmax,ymax"]  # no anchor row


# --- degenerate results: refused as MultiBoxPrior's checks refuse them --------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--convention", "keras-retinanet", "--strides", "1e30,1e30", "--sizes", "32"],
        # whole-pixel strides stop at 2**53 (test_conv_checks); below that they still collapse
        ["--convention", "torchvision", "--strides", "1e15,1e15"],
        ["--convention", "torchvision-ssd", "--steps", "1e30", "--ratios", "2",
         "--input-size", "300x300"],
        ["--convention", "mmdet", "--strides", "1e30", "--base-sizes", "16"],
        ["--convention", "yolo", "--strides", "1e30", "--anchors", "10x13,16x30"],
        ["--convention", "detectron2", "--strides", "1e15"],
        ["--convention", "tf-grid", "--anchor-stride", "1e30"],
        ["--convention", "tf-grid", "--anchor-offset", "1e30,1e30"],
        ["--convention", "caffe-ssd", "--steps", "1e30", "--min-sizes", "30",
         "--input-size", "300x300"],
        ["--convention", "gluoncv-ssd", "--sizes", "30,60", "--ratios", "1", "--steps", "1e30"],
        ["--convention", "py-faster-rcnn", "--feat-stride", "1000000000000"],
        ["--sizes", "1e-9", "--steps", "0.5"],
    ],
)  # fmt: skip
def test_anchors_that_float_rounding_collapses_are_refused(args: list[str]) -> None:
    result, caught = invoke("list", "--feature-map", "4x4", *args)
    assert_one_line_outcome(result, caught, " ".join(args))
    assert result.exit_code == 2, result.stdout
    assert "collapses to 0" in result.stderr or "degenerate" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--convention", "caffe-ssd", "--img-size", "1e30,1e30", "--min-sizes", "30"],
        ["--convention", "torchvision", "--sizes", "0.5", "--input-size", "64x64"],
    ],
)
def test_boxes_the_framework_makes_empty_are_refused(args: list[str]) -> None:
    result, caught = invoke("list", "--feature-map", "2x2", *args)
    assert_one_line_outcome(result, caught, " ".join(args))
    assert result.exit_code == 2
    assert not result.stdout


def test_whole_numbers_written_as_floats_are_accepted_everywhere() -> None:
    # One behaviour for every convention: a TOML 38.0 is 38 rows, 2.5 is refused.
    for convention in conventions.MODULES:
        module = conventions.load(convention)
        params = dict(_params_of(convention))
        whole = module.generate(
            {**params, "feature_maps": [(2.0, 2.0)] * len(params["feature_maps"])}
        )
        assert whole[0].feature_map == (2, 2), convention
        with pytest.raises(Exception, match="feature map"):
            module.generate({**params, "feature_maps": [(2.5, 2.0)] * len(params["feature_maps"])})


def _params_of(convention: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mxnet": {"feature_maps": [(2, 2)]},
        "d2l": {"feature_maps": [(2, 2)], "sizes": [(0.2,)], "ratios": [(1.0,)]},
        "caffe-ssd": {"feature_maps": [(2, 2)], "min_sizes": [(30.0,)], "image_size": (300, 300)},
        "gluoncv-ssd": {"feature_maps": [(2, 2)], "sizes": [(30.0, 60.0)], "ratios": [(1.0, 2.0)],
                        "steps": [8.0]},
        "gluoncv-rpn": {"feature_maps": [(2, 2)]},
        "py-faster-rcnn": {"feature_maps": [(2, 2)]},
        "torchvision": {"feature_maps": [(2, 2)], "image_size": (64, 64)},
        "torchvision-ssd": {"feature_maps": [(2, 2)], "ratios": [(2.0,)], "image_size": (300, 300)},
        "detectron2": {"feature_maps": [(2, 2)], "strides": [(16.0, 16.0)]},
        "mmdet": {"feature_maps": [(2, 2)], "strides": [(16.0, 16.0)]},
        "tf-grid": {"feature_maps": [(2, 2)]},
        "tf-ssd": {"feature_maps": [(2, 2), (1, 1)]},
        "tf-multiscale": {"feature_maps": [(2, 2)], "image_size": (16, 16)},
        "yolo": {"feature_maps": [(2, 2)], "strides": [(8.0, 8.0)]},
        "keras-retinanet": {"feature_maps": [(2, 2)], "pyramid_levels": [3]},
    }[convention]  # fmt: skip
    return params


# --- bounded memory: ulimit -v and streaming ----------------------------------------------------


def _python(code: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if limit_bytes is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )


def test_the_memory_estimate_counts_ulimit_v() -> None:
    code = (
        "from anchorctl.memory import available_bytes, limit_bytes\n"
        "print(available_bytes(), limit_bytes())\n"
    )
    limited = _python(code, 600 << 20)
    assert limited.returncode == 0, limited.stderr
    available, limit = (int(v) for v in limited.stdout.split())
    assert 0 < available < 600 << 20  # the limit less what the interpreter maps already
    assert limit == available


def test_under_ulimit_v_a_large_array_is_refused_in_words() -> None:
    code = (
        "from anchorctl.conventions import mxnet\n"
        "from anchorctl.errors import TooLarge\n"
        "spec = mxnet.MultiBoxPriorSpec((0.1, 0.2), (1, 2, 0.5), (3000, 3000))\n"
        "try:\n"
        "    mxnet.anchors(spec)\n"
        "except TooLarge as exc:\n"
        "    print('refused:', exc)\n"
        "n = sum(len(b) for b in mxnet.iter_anchor_blocks(spec))\n"
        "print('streamed', n)\n"
    )
    result = _python(code, 600 << 20)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("refused: 36,000,000 anchors as float32 need 549.3 MiB")
    assert lines[1] == "streamed 36000000"


def _peak_rss_of_list_npy(args: list[str], out: Path) -> int:
    """Peak resident memory, in bytes, of a process running ``list ARGS --all --format npy``."""
    code = (
        "import resource, sys\n"
        "from anchorctl.cli import cli\n"
        "try:\n"
        f"    cli.main({['list', *args, '--all', '--format', 'npy', '-o', str(out)]!r}, "
        "prog_name='anchorctl')\n"
        "except SystemExit as exc:\n"
        "    if exc.code: sys.exit(exc.code)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]) * 1024


@pytest.mark.parametrize(
    ("args", "small", "large"),
    [
        (["--preset", "retinanet"], ["--input-size", "640x640"], ["--input-size", "6000x6000"]),
        (["--convention", "caffe-ssd", "--min-sizes", "30", "--max-sizes", "60", "--ratios", "2",
          "--input-size", "300x300"], ["--feature-map", "8x8"], ["--feature-map", "1300x1300"]),
        (["--convention", "gluoncv-ssd", "--sizes", "30,60", "--ratios", "1,2,0.5", "--steps",
          "8", "--clip", "--input-size", "300x300"], ["--feature-map", "8x8"],
         ["--feature-map", "1400x1400"]),
        (["--convention", "tf-ssd"], ["--feature-map", "8x8", "--feature-map", "2x2"],
         ["--feature-map", "1700x1700", "--feature-map", "10x10"]),
    ],
)  # fmt: skip
def test_list_all_npy_streams_in_blocks(
    args: list[str], small: list[str], large: list[str], tmp_path: Path
) -> None:
    # The same command on a small map and on one of over 100 MB of npy: the larger output
    # costs the process a few blocks more, not the array.
    small_peak = _peak_rss_of_list_npy([*args, *small], tmp_path / "small.npy")
    large_peak = _peak_rss_of_list_npy([*args, *large], tmp_path / "large.npy")
    array = np.load(tmp_path / "large.npy", mmap_mode="r")
    assert array.shape[1] == 4 and array.dtype == np.float32
    assert array.nbytes > 100 << 20
    assert large_peak - small_peak < 24 << 20, (small_peak >> 20, large_peak >> 20)


@st.composite
def extreme_calls(draw: st.DrawFn) -> tuple[str, str, str]:
    convention, name, kind = draw(st.sampled_from(_option_cases()))
    number = st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-1e-300, max_value=1e-300),
        st.integers(min_value=-(10**25), max_value=10**25),
    )
    if kind == "int":
        value = str(draw(st.integers(min_value=0, max_value=10**30)))
    elif kind == "whs":
        value = f"{draw(number)!r}x{draw(number)!r}".replace("-", "")
    else:
        value = ",".join(repr(v) for v in draw(st.lists(number, min_size=1, max_size=3)))
    return convention, name, value


@settings(max_examples=150, deadline=None)
@given(extreme_calls(), st.sampled_from(COMMANDS[:3]))
def test_random_numbers_in_any_option_end_in_one_line(
    call: tuple[str, str, str], command: tuple[str, ...]
) -> None:
    convention, name, value = call
    options = {**BASE[convention], name.replace("_", "-"): value}
    if convention == "mmdet" and name in SSD_ONLY:
        options["ssd"] = True
    result, caught = invoke(*command, *args_for(convention, options))
    assert_one_line_outcome(result, caught, f"{command} {convention} --{name} {value}")


@pytest.mark.parametrize("target", ["mmdet", "detectron2"])
def test_export_of_ten_thousand_sizes_is_bounded(target: str) -> None:
    # Was 3.2 GB and never finished for mmdet: the fit now clusters distinct values and finds
    # errors in windows, never an n x n matrix.
    from anchorctl.conventions import mxnet
    from anchorctl.export import anchor_set_from_levels, snippet

    sizes = tuple(float(v) for v in np.round(np.linspace(0.01, 0.99, 10_000), 6))
    levels = mxnet.generate({"feature_maps": [(1, 1)], "sizes": [sizes], "ratios": [(1.0,)]})
    aset = anchor_set_from_levels(levels, mxnet.RULES, (640, 640))
    tracemalloc.start()
    try:
        written = snippet(aset, target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 96 << 20, f"{peak >> 20} MiB"
    assert written.text.count("\n") > 5
    assert "APPROXIMATE" not in written.text  # squares: both make them exactly
