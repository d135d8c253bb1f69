"""`anchorctl list`: every format, the JSON contract, errors, and how it behaves in a pipe."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import anchorctl
from anchorctl.conventions.mxnet import MultiBoxPriorSpec

from support import ROOT, SAMPLES, load_vector, run

SEED = ("--sizes", "0.2,0.5", "--ratios", "1,4,0.25")


def test_seed_table_has_exactly_the_four_shapes() -> None:
    result = run("list", *SEED)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("MXNet MultiBoxPrior")
    assert "feature map 1 rows x 1 cols" in lines[0] and "ratio = width / height" in lines[0]
    rows = [
        [c.strip() for c in line.strip("│").split("│")] for line in lines if line.startswith("│")
    ]
    assert [r[3:5] for r in rows] == [
        ["0.2", "0.2"],
        ["0.5", "0.5"],
        ["0.4", "0.1"],
        ["0.1", "0.4"],
    ]
    assert "4 per cell x 1 cells = 4 anchors" in result.stdout


def test_title_states_image_size_when_known() -> None:
    result = run("list", *SEED, "--input-size", "640x480", "--feature-map", "3x4")
    assert "image 640 x 480 px (w x h)" in result.stdout
    assert "feature map 3 rows x 4 cols" in result.stdout
    assert "width_px" in result.stdout


def test_json_contract_per_cell() -> None:
    result = run("list", *SEED, "--input-size", "640x480", "--json")
    data = json.loads(result.stdout)
    assert data["convention"] == "mxnet"
    assert data["feature_map"] == [1, 1] and data["image_size"] == [640, 480]
    assert data["per_cell"] == 4 and "anchors" not in data
    assert data["shapes"][2] == {
        "slot": 2,
        "size": 0.2,
        "ratio": 4.0,
        "width": 0.4,
        "height": 0.1,
        "width_px": 256.0,
        "height_px": 48.0,
    }


def test_json_all_anchors_match_the_library_bit_for_bit() -> None:
    result = run("list", *SEED, "--feature-map", "3x5", "--all", "--format", "json")
    data = json.loads(result.stdout)
    want = anchorctl.anchors(MultiBoxPriorSpec((0.2, 0.5), (1, 4, 0.25), (3, 5)))
    got = np.array(data["anchors"], dtype=np.float32)
    assert got.tobytes() == want.tobytes()
    assert data["image_size"] is None and len(data["shapes"]) == 4


def test_jsonl_all_has_row_col_slot() -> None:
    result = run("list", *SEED, "--feature-map", "2x3", "--all", "--format", "jsonl")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2 * 3 * 4
    assert list(records[13]) == ["row", "col", "slot", "xmin", "ymin", "xmax", "ymax"]
    assert (records[13]["row"], records[13]["col"], records[13]["slot"]) == (1, 0, 1)
    spec = MultiBoxPriorSpec((0.2, 0.5), (1, 4, 0.25), (2, 3))
    want = anchorctl.anchors(spec)
    got = np.array([[r[k] for k in ("xmin", "ymin", "xmax", "ymax")] for r in records], np.float32)
    assert got.tobytes() == want.tobytes()
    assert [(r["row"], r["col"], r["slot"]) for r in records[:6]] == [
        (0, 0, 0),
        (0, 0, 1),
        (0, 0, 2),
        (0, 0, 3),
        (0, 1, 0),
        (0, 1, 1),
    ]


@pytest.mark.parametrize(("fmt", "sep"), [("csv", ","), ("tsv", "\t")])
def test_csv_tsv_have_headers(fmt: str, sep: str) -> None:
    shapes = run("list", *SEED, "--input-size", "100x50", "--format", fmt)
    table = list(csv.reader(io.StringIO(shapes.stdout), delimiter=sep))
    assert table[0] == ["slot", "size", "ratio", "width", "height", "width_px", "height_px"]
    assert table[3] == ["2", "0.2", "4", "0.4", "0.1", "40", "5"]
    every = run(
        "list", *SEED, "--feature-map", "2x2", "--all", "--format", fmt, "--input-size", "10x10"
    )
    table = list(csv.reader(io.StringIO(every.stdout), delimiter=sep))
    assert table[0] == [
        "row",
        "col",
        "slot",
        "xmin",
        "ymin",
        "xmax",
        "ymax",
        "xmin_px",
        "ymin_px",
        "xmax_px",
        "ymax_px",
    ]
    assert len(table) == 1 + 16
    assert table[6][:3] == ["0", "1", "1"] and table[6][3:7] == ["0.5", "0.0", "1.0", "0.5"]
    assert table[6][7:] == ["5.0", "0.0", "10.0", "5.0"]


def test_npy_to_file_and_to_a_pipe(tmp_path) -> None:
    spec = MultiBoxPriorSpec((0.1, 0.141), (1, 2, 0.5), (38, 38))
    target = tmp_path / "a.npy"
    args = (
        "list",
        "--sizes",
        "0.1,0.141",
        "--ratios",
        "1,2,0.5",
        "--feature-map",
        "38x38",
        "--format",
        "npy",
    )
    assert run(*args, "-o", str(target)).exit_code == 0
    assert np.load(target).tobytes() == anchorctl.anchors(spec).tobytes()
    piped = subprocess.run(
        [sys.executable, "-m", "anchorctl", *args], capture_output=True, check=True
    )
    assert np.load(io.BytesIO(piped.stdout)).tobytes() == anchorctl.anchors(spec).tobytes()


def test_output_file_is_written_whole(tmp_path) -> None:
    target = tmp_path / "shapes.json"
    assert run("list", *SEED, "--json", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text())["per_cell"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["shapes.json"]


def test_long_table_is_capped_with_a_way_out() -> None:
    result = run("list", "--sizes", "0.2", "--feature-map", "50x50", "--all", "--max-rows", "7")
    body = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(body) == 7
    assert result.stdout.splitlines()[-1].startswith("... 2,493 more anchors not shown")
    assert "--format csv" in result.stdout and result.stderr == ""


def test_a_table_off_a_terminal_is_capped_and_says_so(tmp_path) -> None:
    target = tmp_path / "t.txt"
    result = run("list", "--sizes", "0.2", "--feature-map", "40x40", "--all", "-o", str(target))
    assert result.exit_code == 0
    lines = target.read_text().splitlines()
    assert sum(line.startswith("│") for line in lines) == 1000
    assert lines[-1].startswith("... 600 more anchors not shown")


def test_image_option_reads_the_size_from_the_header() -> None:
    result = run("list", *SEED, "--image", str(SAMPLES / "cat.jpg"), "--json")
    assert json.loads(result.stdout)["image_size"] == [451, 300]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--sizes", "0.2,x"), ("--sizes", "e.g. 0.2,0.5")),
        (("--sizes", "-0.2"), ("--sizes", "not a positive", "fraction of the image height")),
        (("--ratios", "0"), ("--ratios", "width / height")),
        (("--ratios", "1,,2"), ("--ratios",)),
        (("--feature-map", "16*16"), ("--feature-map", "ROWSxCOLS")),
        (("--feature-map", "0x4"), ("--feature-map", "at least 1")),
        (("--steps", "0,0.2"), ("--steps",)),
        (("--steps", "0.1,0.2,0.3"), ("--steps", "need 1 or 2")),
        (("--offsets", "0.5,0.5", "--offsets", "0.2,0.2"), ("--offsets", "give it once")),
        (("--flip",), ("--flip", "not read by the mxnet convention")),
        (("--convention", "caffe"), ("--convention", "unknown convention 'caffe'")),
        (("--preset", "ssd300", "--sizes", "0.2"), ("--sizes cannot be combined with --preset",)),
        (("--level", "3"), ("--level", "levels 0..0")),
        (("--offsets", "1.5,0.5"), ("--offsets", "[0, 1]")),
        (("--input-size", "640x"), ("--input-size", "WxH")),
        (("--input-size", "0"), ("--input-size", "at least 1")),
        (("--sizes", "nan"), ("--sizes", "finite")),
        (("--format", "xml"), ("--format",)),
        (("--json", "--format", "csv"), ("--json",)),
        (("--input-size", "10x10", "--image", "x.jpg"), ("--input-size or --image",)),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...], names: tuple[str, ...]) -> None:
    result = run("list", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0]


def test_unreadable_image_is_a_runtime_error(tmp_path) -> None:
    result = run("list", "--image", str(tmp_path / "missing.jpg"))
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"anchorctl: error: cannot read image '{tmp_path / 'missing.jpg'}': no such file"
    )


def test_output_that_cannot_fit_on_disk_is_refused_up_front(tmp_path) -> None:
    result = run(
        "list",
        "--sizes",
        "0.2",
        "--feature-map",
        "1000000x1000000",
        "--all",
        "--format",
        "csv",
        "-o",
        str(tmp_path / "big.csv"),
    )
    assert result.exit_code == 1
    assert "1,000,000,000,000 anchors as csv take about" in result.stderr
    assert "TiB" in result.stderr and "--format npy" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_npy_refused_on_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    import click

    from anchorctl.cli.list_cmd import _write_npy

    with pytest.raises(click.UsageError, match="terminal"):
        _write_npy(MultiBoxPriorSpec((0.2,), (1,)), None)


def _pty_run(args: list[str], extra_env: dict[str, str]) -> bytes:
    import pty

    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **extra_env}
    env.pop("NO_COLOR", None) if "NO_COLOR" not in extra_env else None
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "anchorctl", *args],
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait()
    os.close(leader)
    return out


COLOUR = b"\x1b[1;36m"  # the title's bold cyan


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    args = ["list", *SEED]
    assert COLOUR in _pty_run(args, {})
    with_no_color = _pty_run(args, {"NO_COLOR": "1"})
    assert b"MXNet MultiBoxPrior" in with_no_color and b"36m" not in with_no_color
    piped = subprocess.run(
        [sys.executable, "-m", "anchorctl", *args],
        capture_output=True,
        env={**os.environ, "TERM": "xterm-256color"},
        check=True,
    )
    assert b"\x1b[" not in piped.stdout


def test_closed_pipe_ends_quietly() -> None:
    # csv and jsonl stream 160,000 rows; the table prints its title before the rows.
    for fmt in ("csv", "jsonl", "table"):
        cmd = (
            f"'{sys.executable}' -m anchorctl list --sizes 0.2 --feature-map 400x400 --all "
            f'--format {fmt} | head -1; echo "status ${{PIPESTATUS[0]}}" >&2'
        )
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
        assert len(proc.stdout.splitlines()) == 1
        assert proc.stderr == "status 1\n", (fmt, proc.stderr)  # no traceback, no message


def test_version_and_module_entry() -> None:
    result = run("--version")
    assert result.exit_code == 0 and anchorctl.__version__ in result.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "anchorctl", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "list" in proc.stdout and "draw" in proc.stdout


@pytest.mark.parametrize(
    ("vector", "args"),
    [
        ("steps_offsets_3x4", ("--steps", "0.1,0.2", "--offsets", "0.25,0.75")),
        ("steps_only_3x4", ("--steps", "0.1,0.2")),
        ("clip_5x7", ("--clip",)),
        ("noclip_2x3_border", ()),
    ],
)
def test_steps_offsets_and_clip_reach_the_anchors(vector: str, args: tuple[str, ...]) -> None:
    """The CLI's own options against MXNet's recorded output, bit for bit."""
    recorded = load_vector(f"mxnet_multibox_prior/{vector}.json")
    params = recorded["params"]
    rows, cols = recorded["feature_shape"]
    result = run(
        "list", "--sizes", ",".join(map(str, params["sizes"])),
        "--ratios", ",".join(repr(r) for r in params["ratios"]),
        "--feature-map", f"{rows}x{cols}", *args, "--all", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))[1:]
    got = np.array([row[3:] for row in table], dtype=np.float32)
    assert got.tobytes() == np.array(recorded["anchors"], dtype=np.float32).tobytes()
