"""Hostile and unlucky input, for every command, each case in a real process.

One table, one line per case. Every case runs ``python -m anchorctl`` in a fresh folder of
inputs, under a memory limit (``ulimit -v``, set in the child), and asserts:

* the exit status;
* stderr: no traceback, and one line (none for a closed pipe, at most one for success);
* every input unchanged (hash before and after), none removed;
* no file left behind but the case's own outputs (no ``.name.part``, no empty folder).

Classes: same-file outputs (another spelling, symlink, hard link, a file inside an input
folder, stdout appended to an input), signals (while writing a file, while blocked writing
stdout or a page to a named pipe, while blocked reading an input), unbounded inputs (``/dev/zero``, ``/dev/urandom``),
giant numbers, closed or full streams, degenerate parameters. Every case must pass.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import ROOT, SAMPLES

ANNOTATIONS = Path(__file__).resolve().parent / "data" / "annotations"
MIB = 1 << 20
MANY_SIZES = ",".join(["0.1"] * 10_000)
_F_GETPIPE_SZ = 1032  # fcntl(2), Linux


@dataclass(frozen=True)
class Case:
    """One hostile run: ``args`` after ``anchorctl`` (shell words, run in the work folder)."""

    kind: str  # the class of hostility, for the report and the ids
    args: str
    code: int  # expected exit status
    stdout: str = "pipe"  # pipe | closed | full | broken | blocked | file:NAME | append:NAME
    stdin: str = "null"  # null | image (img.jpg's bytes through a pipe)
    stderr_closed: bool = False
    send: str | None = None  # a signal name (SIGINT, SIGTERM, SIGHUP)
    when: str = ""  # part | part+SECONDS | blocked (on stdout or an input)
    vmem_mib: int = 400  # ulimit -v in the child
    outputs: tuple[str, ...] = ()  # files the run may leave (a batch draws the others)
    lines: int = 1  # stderr lines of a failure (a batch: one per image that failed, and a sum)
    refuse: bool = False  # refused up front: "out of memory" is not an acceptable answer

    @property
    def command(self) -> str:
        return self.args.split()[0]


IMG = "img.jpg"
CSV_BIG = "--sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 300x300 --all"
NPY_BIG = "--sizes 0.2,0.5 --ratios 1,4,0.25 --feature-map 1000x1000 --all --format npy"
COVER = "boxes.csv --preset ssd300"
SUGGEST = "boxes.csv --input-size 64x64 --k 3"
EXPLAIN = "--config c.toml --cell 1,1"
REPORT = "report boxes.csv --preset ssd300 -o r.html"
VIEW = f"view {IMG} --sizes 0.2 -o v.html"

CASES: list[Case] = [
    # --- same-file outputs: the input is refused as output, however it is spelled ---
    Case("same-file", f"list --image {IMG} --format csv -o {IMG}", 1),
    Case("same-file", f"list --image {IMG} --format csv -o ./{IMG}", 1),
    Case("same-file", f"list --image {IMG} --format csv -o link.jpg", 1),
    Case("same-file", f"list --image {IMG} --format csv -o hard.jpg", 1),
    Case("same-file", "list --config c.toml --all --format csv -o c.toml", 1),
    Case("same-file", "list --config c.toml --all --format npy -o sub/../c.toml", 1),
    Case("same-file", f"draw {IMG} --sizes 0.2 -o {IMG}", 1),
    Case("same-file", f"draw {IMG} --sizes 0.2 -o link.jpg", 1),
    Case("same-file", f"draw {IMG} --sizes 0.2 -o hard.jpg", 1),
    Case("same-file", "draw data/img.jpg --sizes 0.2 --boxes data -o data/second.jpg", 1),
    Case("same-file", f"draw {IMG} data/img.anchors.png --sizes 0.2 -o data/", 1, lines=2, outputs=("data/img.anchors.anchors.png",)),
    Case("same-file", "list --config c.toml --format csv", 2, stdout="append:c.toml"),
    Case("same-file", f"explain {EXPLAIN}", 2, stdout="append:c.toml"),
    Case("same-file", "count --config c.toml", 2, stdout="append:c.toml"),
    Case("same-file", f"compare --image {IMG} --sizes 0.2", 2, stdout="append:img.jpg"),
    Case("same-file", "export --config c.toml --to tf", 2, stdout="append:c.toml"),
    Case("same-file", "export --suggestion s.json --to yolo", 2, stdout="append:s.json"),
    Case("same-file", f"coverage {COVER}", 2, stdout="append:boxes.csv"),
    Case("same-file", f"suggest {SUGGEST}", 2, stdout="append:boxes.csv"),
    Case("same-file", "report boxes.csv --preset ssd300 -o boxes.csv", 1),
    Case("same-file", "report boxes.csv --config c.toml -o ./c.toml", 1),
    Case("same-file", "report data --preset ssd300 -o data/second.txt", 1),
    Case("same-file", f"view {IMG} --preset ssd300 -o link.jpg", 1),
    Case("same-file", f"view {IMG} --preset ssd300 -o hard.jpg", 1),
    Case("same-file", "view data/img.jpg --sizes 0.2 --boxes data -o data/second.jpg", 1),
    Case("same-file", REPORT, 2, stdout="append:boxes.csv"),
    Case("same-file", VIEW, 2, stdout="append:img.jpg"),
    # a file inside an annotations folder: refused when the reader reaches it
    Case("same-file", "coverage data --preset ssd300 --jobs 2", 1, stdout="append:data/second.txt"),
    Case("same-file", "suggest data --input-size 64x64 --k 1", 1, stdout="append:data/second.txt"),
    # --- signals while writing a file: status 128 + N, no part file, no output ---
    Case("signal", f"list {CSV_BIG} --format csv -o big.csv", 130, send="SIGINT", when="part"),
    Case("signal", f"list {CSV_BIG} --format csv -o big.csv", 130, send="SIGINT", when="part+0.3"),
    Case("signal", f"list {CSV_BIG} --format tsv -o big.tsv", 143, send="SIGTERM", when="part"),
    Case("signal", f"list {CSV_BIG} --format jsonl -o b.jsonl", 129, send="SIGHUP", when="part+0.2"),
    Case("signal", f"list {CSV_BIG} --format json -o big.json", 143, send="SIGTERM", when="part+0.4"),
    Case("signal", f"list {NPY_BIG} -o big.npy", 143, send="SIGTERM", when="part"),
    Case("signal", f"list {NPY_BIG} -o big.npy", 130, send="SIGINT", when="part"),
    Case("signal", "draw noise.png --sizes 0.2 -o drawn.png", 143, send="SIGTERM", when="part"),
    Case("signal", "draw noise.png --sizes 0.2 -o drawn.png", 130, send="SIGINT", when="part"),
    Case("signal", "draw noise.png --sizes 0.2 -o out/", 129, send="SIGHUP", when="part"),
    # --- signals while blocked writing a page: the output is a named pipe nobody reads ---
    Case("signal", "report boxes.csv --preset ssd300 -o fifo", 143, send="SIGTERM", when="blocked"),
    Case("signal", f"view {IMG} --sizes 0.2 -o fifo", 130, send="SIGINT", when="blocked"),
    # --- signals while blocked writing stdout (a full pipe), every command ---
    Case("signal", f"list {CSV_BIG} --format csv", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", "list --sizes 0.2", 143, stdout="blocked", send="SIGTERM", when="blocked"),
    Case("signal", f"draw {IMG} --sizes 0.2 -o -", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", f"explain {EXPLAIN}", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", "count --preset ssd300", 143, stdout="blocked", send="SIGTERM", when="blocked"),
    Case("signal", "presets", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", "conventions", 129, stdout="blocked", send="SIGHUP", when="blocked"),
    Case("signal", f"compare --image {IMG} --sizes 0.2", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", f"coverage {COVER}", 130, stdout="blocked", send="SIGINT", when="blocked"),
    Case("signal", f"suggest {SUGGEST}", 143, stdout="blocked", send="SIGTERM", when="blocked"),
    Case("signal", "export --preset ssd300 --to torchvision", 130, stdout="blocked", send="SIGINT", when="blocked"),
    # --- signals while blocked reading an input that never comes (a named pipe) ---
    Case("signal", "list --config fifo", 130, send="SIGINT", when="blocked"),
    Case("signal", "count --config fifo", 143, send="SIGTERM", when="blocked"),
    Case("signal", "draw fifo --sizes 0.2 -o never.png", 130, send="SIGINT", when="blocked"),
    Case("signal", "coverage fifo --annotations-format csv --preset ssd300", 130, send="SIGINT", when="blocked"),
    Case("signal", "report fifo --annotations-format csv --preset ssd300 -o r.html", 130, send="SIGINT", when="blocked"),
    Case("signal", "view fifo --sizes 0.2 -o v.html", 129, send="SIGHUP", when="blocked"),
    Case("signal", f"view {IMG} --sizes 0.2 --boxes fifo --annotations-format csv -o v.html", 143, send="SIGTERM", when="blocked"),
    # --- unbounded inputs: refused within bounded memory ---
    Case("unbounded", "list --image /dev/zero", 1, refuse=True),
    Case("unbounded", "list --image /dev/urandom", 1, refuse=True),
    Case("unbounded", "draw /dev/zero --sizes 0.2 -o z.png", 1, refuse=True),
    Case("unbounded", "draw /dev/urandom --sizes 0.2 -o z.png", 1, refuse=True),
    Case("unbounded", "explain --image /dev/zero --sizes 0.2", 1, refuse=True),
    Case("unbounded", "compare --image /dev/urandom --sizes 0.2", 1, refuse=True),
    Case("unbounded", "list --config /dev/zero", 1, refuse=True),
    Case("unbounded", "count --config /dev/urandom", 1, refuse=True),
    Case("unbounded", "explain --config /dev/zero --cell 0,0", 1, refuse=True),
    Case("unbounded", "export --config /dev/zero --to tf", 1, refuse=True),
    Case("unbounded", "export --suggestion /dev/zero --to yolo", 1, refuse=True),
    Case("unbounded", "export --suggestion /dev/urandom --to mmdet", 1, refuse=True),
    Case("unbounded", "coverage /dev/zero --annotations-format csv --preset ssd300", 1, refuse=True),
    Case("unbounded", "coverage /dev/urandom --annotations-format coco --preset ssd300", 1, refuse=True),
    Case("unbounded", "suggest /dev/zero --annotations-format csv --input-size 64x64 --k 3", 1, refuse=True),
    Case("unbounded", f"draw {IMG} --sizes 0.2 --boxes /dev/urandom -o z.png", 1, refuse=True),
    Case("unbounded", "coverage /dev/zero --preset ssd300", 1, refuse=True),
    Case("unbounded", "suggest /dev/urandom --input-size 64x64", 1, refuse=True),
    Case("unbounded", "report /dev/zero --preset ssd300 -o r.html", 1, refuse=True),
    Case("unbounded", "report /dev/urandom --annotations-format coco --preset ssd300 -o r.html", 1, refuse=True),
    Case("unbounded", "report boxes.csv --config /dev/zero -o r.html", 1, refuse=True),
    Case("unbounded", "view /dev/zero --sizes 0.2 -o v.html", 1, refuse=True),
    Case("unbounded", "view /dev/urandom --sizes 0.2 -o v.html", 1, refuse=True),
    Case("unbounded", f"view {IMG} --sizes 0.2 --boxes /dev/urandom -o v.html", 1, refuse=True),
    Case("unbounded", f"view {IMG} --config /dev/zero -o v.html", 1, refuse=True),
    # --- giant numbers: refused in one line, before the work or the disk runs out ---
    Case("giant", "list --feature-map 100000x100000 --all --format csv -o big.csv", 1, refuse=True),
    Case("giant", "list --feature-map 100000x100000 --all --format json", 1, stdout="file:big.json", refuse=True),
    Case("giant", "list --feature-map 100000x100000 --all --format npy -o big.npy", 1, refuse=True),
    Case("giant", f"draw {IMG} --feature-map 100000x100000 --all-cells -o o.png", 1, refuse=True),
    Case("giant", "suggest boxes.csv --input-size 64x64 --k 99999999999", 1),
    Case("giant", "report boxes.csv --input-size 64x64 --sizes 0.2 --feature-map 100000x100000 -o r.html", 1, refuse=True),
    Case("giant", f"{REPORT} --suggest --k 99999999999 --worst 99999999999 --max-points 99999999999", 0, outputs=("r.html",)),
    Case("giant", f"view {IMG} --sizes 0.2 --feature-map 100000x100000 -o v.html", 1, refuse=True),
    Case("giant", "list --feature-map 99999999999999999999x1", 2),
    Case("giant", f"draw {IMG} --feature-map 99999999999999999999x1 -o o.png", 2),
    Case("giant", "explain --feature-map 99999999999999999999x1 --cell 0,0", 2),
    Case("giant", "count --feature-map 99999999999999999999x1", 2),
    Case("giant", f"compare --image {IMG} --feature-map 99999999999999999999x1", 2),
    Case("giant", f"export --image {IMG} --feature-map 99999999999999999999x1 --to tf", 2),
    Case("giant", "coverage boxes.csv --input-size 64x64 --feature-map 99999999999999999999x1", 2),
    Case("giant", "report boxes.csv --input-size 64x64 --feature-map 99999999999999999999x1 -o r.html", 2),
    Case("giant", f"view {IMG} --feature-map 99999999999999999999x1 -o v.html", 2),
    Case("giant", "count --feature-map 300000000x300000000", 0),
    Case("giant", f"count --feature-map 2147483647x2147483647 --sizes {MANY_SIZES}", 0),
    Case("giant", f"list --convention torchvision --sizes 32 --strides 1e30,1e30 --image {IMG}", 2),
    Case("giant", f"list --convention mmdet --octave-base-scale 4 --scales-per-octave 99999999999 --image {IMG}", 1, refuse=True),
    # --- closed and full streams ---
    Case("closed", "list --sizes 0.2", 1, stdout="closed"),
    Case("closed", f"list {CSV_BIG} --format csv", 1, stdout="closed"),
    Case("closed", f"draw {IMG} --sizes 0.2 -o -", 1, stdout="closed"),
    Case("closed", f"draw {IMG} --sizes 0.2 -o out.png", 0, stdout="closed", outputs=("out.png",)),
    Case("closed", f"explain {EXPLAIN}", 1, stdout="closed"),
    Case("closed", "count --preset ssd300", 1, stdout="closed"),
    Case("closed", "presets", 1, stdout="closed"),
    Case("closed", "conventions", 1, stdout="closed"),
    Case("closed", f"compare --image {IMG} --sizes 0.2", 1, stdout="closed"),
    Case("closed", f"coverage {COVER}", 1, stdout="closed"),
    Case("closed", f"suggest {SUGGEST}", 1, stdout="closed"),
    Case("closed", "export --preset ssd300 --to torchvision", 1, stdout="closed"),
    Case("closed", REPORT, 0, stdout="closed", outputs=("r.html",)),
    Case("closed", VIEW, 0, stdout="closed", outputs=("v.html",)),
    Case("closed", "list --sizes 0", 2, stderr_closed=True),
    Case("closed", f"draw {IMG} --sizes 0.2 -o out.png", 0, stderr_closed=True, outputs=("out.png",)),
    Case("closed", REPORT, 0, stderr_closed=True, outputs=("r.html",)),
    Case("closed", VIEW, 0, stderr_closed=True, outputs=("v.html",)),
    Case("closed", "list --sizes 0.2 --format csv", 1, stdout="full"),
    Case("closed", "presets", 1, stdout="full"),
    Case("closed", f"draw {IMG} --sizes 0.2 -o -", 1, stdout="full"),
    Case("closed", f"draw {IMG} --sizes 0.2 -o /dev/full", 1),
    Case("closed", "report boxes.csv --preset ssd300 -o /dev/full", 1),
    Case("closed", f"view {IMG} --sizes 0.2 -o /dev/full", 1),
    Case("closed", f"list {CSV_BIG} --format csv", 1, stdout="broken"),
    Case("closed", "conventions --format json", 1, stdout="broken"),
    Case("closed", "draw /dev/stdin --sizes 0.2 -o piped.png", 0, stdin="image", outputs=("piped.png",)),
    Case("closed", "view /dev/stdin --sizes 0.2 -o piped.html", 0, stdin="image", outputs=("piped.html",)),
    # --- degenerate parameters: a usage error in one line ---
    Case("degenerate", "list --sizes 0", 2),
    Case("degenerate", "list --feature-map 0x0", 2),
    Case("degenerate", "list --ratios -1", 2),
    Case("degenerate", f"list --preset ssd300 --image {IMG}", 2),
    Case("degenerate", f"draw {IMG} --every 0", 2),
    Case("degenerate", f"draw {IMG} --sizes 0.2 -o out.gif", 2),
    Case("degenerate", "draw missing.jpg --sizes 0.2 -o a/b/c/", 1),
    Case("degenerate", "explain --config c.toml --cell 99,99", 2),
    Case("degenerate", "count --preset nosuch", 2),
    Case("degenerate", "presets show nosuch", 2),
    Case("degenerate", "conventions show nosuch", 2),
    Case("degenerate", f"compare --image {IMG} --conventions nosuch", 2),
    Case("degenerate", "coverage boxes.csv --preset nosuch", 2),
    Case("degenerate", "suggest boxes.csv --input-size 64x64 --k 0", 2),
    Case("degenerate", "export --preset ssd300", 2),
    Case("degenerate", "export --preset ssd300 --to nosuch", 2),
    Case("degenerate", f"{REPORT} --iou 2", 2),
    Case("degenerate", "report boxes.csv --preset ssd300", 2),
    Case("degenerate", "report boxes.csv --preset ssd300 --max-points 0 -o r.html", 2),
    Case("degenerate", f"view {IMG} --sizes 0 -o v.html", 2),
    Case("degenerate", f"view {IMG} --preset ssd300 --level 99 -o v.html", 2),
    Case("degenerate", f"list --convention keras-retinanet --strides 1e30,1e30 --image {IMG}", 2),
    Case("degenerate", f"list --convention torchvision-ssd --ratios 2 --feature-map 2x2 --steps 1e30 --image {IMG}", 2),
    Case("degenerate", f"list --convention caffe-ssd --min-sizes 30 --feature-map 2x2 --img-size 1e30,1e30 --image {IMG}", 2),
]  # fmt: skip


def _id(case: Case) -> str:
    extra = f"-{case.stdout}" if case.stdout != "pipe" else ""
    extra += f"-{case.send}@{case.when}" if case.send else ""
    extra += "-stderr_closed" if case.stderr_closed else ""
    text = f"{case.kind}-{case.args}{extra}"
    return text if len(text) < 110 else text[:100] + "..."


def _params() -> list[object]:
    return [pytest.param(case, id=_id(case)) for case in CASES]


def test_every_command_meets_every_class_that_applies_to_it() -> None:
    """Each command appears in the table under each class; presets and conventions read no
    file, so same-file and unbounded inputs do not apply to them."""
    from anchorctl.cli import COMMANDS

    no_files = {"presets", "conventions"}
    seen: dict[str, set[str]] = {}
    for case in CASES:
        seen.setdefault(case.command, set()).add(case.kind)
    for name in COMMANDS:
        wanted = {"signal", "closed", "degenerate"}
        if name not in no_files:
            wanted |= {"same-file"}
        assert wanted <= seen.get(name, set()), (name, wanted - seen.get(name, set()))
    assert set(seen) == set(COMMANDS)


@pytest.mark.parametrize("case", _params())
def test_hostile(case: Case, tmp_path: Path) -> None:
    work = _workspace(tmp_path)
    if "noise.png" in case.args:
        _noise_image(work / "noise.png")
    if case.stdout.startswith("file:"):  # the shell makes the file before the command runs
        (work / case.stdout.partition(":")[2]).touch()
    before = _snapshot(work)
    proc_code, stderr = _run(case, work)
    lines = stderr.splitlines()
    assert proc_code == case.code, stderr
    assert "Traceback" not in stderr, stderr
    if not case.stderr_closed:
        if case.stdout == "broken":
            assert lines == [], stderr  # a reader that left ends the run quietly
        elif case.code == 0:
            assert len(lines) <= 1, stderr
        else:
            assert len(lines) == case.lines, stderr
            assert all(line.startswith("anchorctl") for line in lines), stderr
        if case.refuse:
            assert "out of memory" not in stderr, stderr
    after = _snapshot(work)
    written = set(case.outputs)
    changed = [n for n, digest in before.items() if n not in written and after.get(n) != digest]
    assert changed == [], changed
    left = sorted(set(after) - set(before) - written)
    assert left == [], left


# --- the work folder ------------------------------------------------------------------------


def _workspace(tmp_path: Path) -> Path:
    """Inputs of every kind: an image and links to it, a config, annotations, a YOLO folder
    with its images, a named pipe nobody writes to."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SAMPLES / "cat.jpg", work / IMG)
    (work / "link.jpg").symlink_to(IMG)
    os.link(work / IMG, work / "hard.jpg")
    (work / "sub").mkdir()
    (work / "c.toml").write_text(
        'convention = "mxnet"\nimage_size = [451, 300]\n\n[[levels]]\nfeature_map = [4, 4]\n'
        "sizes = [0.2, 0.5]\nratios = [1.0, 2.0, 0.5]\n",
        encoding="utf-8",
    )
    shutil.copy(ANNOTATIONS / "boxes.csv", work / "boxes.csv")
    (work / "s.json").write_text(  # the part of a `suggest --format json` report export reads
        '{"levels": [{"level": 0, "stride": 8, "anchors": [[10, 13], [16, 30]]}], '
        '"input_size": [64, 64]}',
        encoding="utf-8",
    )
    data = work / "data"
    data.mkdir()
    for stem in ("img", "second"):
        shutil.copy(SAMPLES / "cat.jpg", data / f"{stem}.jpg")
        (data / f"{stem}.txt").write_text("0 0.5 0.5 0.2 0.3\n", encoding="ascii")
    shutil.copy(SAMPLES / "coffee.jpg", data / "img.anchors.png")  # where img.jpg's would go
    os.mkfifo(work / "fifo")
    return work


def _noise_image(path: Path) -> None:
    """A 2000x1500 picture of noise: slow enough to encode that a signal lands mid-write."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, compress_level=0)


def _snapshot(work: Path) -> dict[str, str]:
    """Relative name -> content hash (files), link target (symlinks), kind (others)."""
    out: dict[str, str] = {}
    for path in sorted(work.rglob("*")):
        name = path.relative_to(work).as_posix()
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            out[name] = "link:" + os.readlink(path)
        elif stat.S_ISREG(mode):
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISDIR(mode):
            out[name + "/"] = "dir"
        else:
            out[name] = "special"
    return out


# --- running a case ---------------------------------------------------------------------------


def _run(case: Case, work: Path) -> tuple[int, str]:
    """Run the case; return its exit status (128 + N when a signal killed it) and stderr."""
    cleanup: list[Callable[[], None]] = []
    stdout, blocked_pipe = _stdout_for(case, work, cleanup)
    stdin: int | None = subprocess.DEVNULL
    feed = b""
    if case.stdin == "image":
        stdin, feed = subprocess.PIPE, (work / IMG).read_bytes()
    limit = case.vmem_mib * MIB
    closing = [
        fd for fd, closed in ((1, case.stdout == "closed"), (2, case.stderr_closed)) if closed
    ]

    def child_setup() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        for fd in closing:
            os.close(fd)

    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "anchorctl", *shlex.split(case.args)],
            cwd=work,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.DEVNULL if case.stderr_closed else subprocess.PIPE,
            preexec_fn=child_setup,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for close in cleanup:
            close()
        if case.send:
            _wait_for(case.when, proc, work, blocked_pipe)
            proc.send_signal(getattr(signal, case.send))
        try:
            _, err = proc.communicate(feed if case.stdin == "image" else None, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no end within 60 s: {case.args}")
    finally:
        if proc is not None and proc.poll() is None:  # a failed wait: leave no process behind
            proc.kill()
            proc.communicate()
        if blocked_pipe is not None:
            os.close(blocked_pipe)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return code, (err or b"").decode("utf-8", "replace")


def _stdout_for(
    case: Case, work: Path, cleanup: list[Callable[[], None]]
) -> tuple[int, int | None]:
    """The child's stdout descriptor, and the read end of a pipe that must stay open."""
    mode = case.stdout
    if mode in ("pipe", "closed"):
        fd = os.open(os.devnull, os.O_WRONLY)
    elif mode == "full":
        fd = os.open("/dev/full", os.O_WRONLY)
    elif mode.startswith(("file:", "append:")):
        kind, _, name = mode.partition(":")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if kind == "append" else os.O_TRUNC)
        fd = os.open(work / name, flags, 0o644)
    elif mode == "broken":  # the reader has gone before the first write
        read, fd = os.pipe()
        os.close(read)
    elif mode == "blocked":  # a pipe already full: the first write blocks
        read, fd = os.pipe()
        os.write(fd, b"x" * fcntl.fcntl(fd, _F_GETPIPE_SZ))
        cleanup.append(lambda: os.close(fd))
        return fd, read
    else:
        raise AssertionError(mode)
    cleanup.append(lambda: os.close(fd))
    return fd, None


def _wait_for(when: str, proc: subprocess.Popen[bytes], work: Path, pipe: int | None) -> None:
    """Return once the moment ``when`` names has come (``part``, ``part+S``, ``blocked``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before '{when}'")
        if when.startswith("part") and any(p.name.endswith(".part") for p in work.rglob(".*")):
            time.sleep(float(when.partition("+")[2] or 0))
            return
        if when == "blocked" and not os.path.exists(f"/proc/{os.getpid()}/wchan"):
            pytest.skip("telling that a process is blocked needs /proc/PID/wchan (Linux)")
        if when == "blocked" and _blocked(proc.pid):
            return
        time.sleep(0.005)
    pytest.fail(f"'{when}' never came")


def _blocked(pid: int) -> bool:
    """Whether the process sleeps writing a pipe or opening or reading one (wchan, Linux)."""
    try:
        with open(f"/proc/{pid}/wchan", encoding="ascii") as handle:
            wchan = handle.read()
    except OSError:
        return False
    return any(word in wchan for word in ("pipe", "fifo", "partner"))  # partner: fifo open


# --- a real non-root user ----------------------------------------------------------------------

_AS_USER = """
import os, sys
from anchorctl.cli import cli
uid, gid, work, *args = sys.argv[1:]
# Load every module the command needs while the interpreter's files are still readable.
try:
    cli.main([*args[:-1], os.path.join(work, "warm-up.png")], prog_name="anchorctl")
except SystemExit:
    pass
os.remove(os.path.join(work, "warm-up.png"))
os.setgroups([])
os.setgid(int(gid))
os.setuid(int(uid))
cli.main(args, prog_name="anchorctl")
"""


def _unprivileged_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user (this run is not root)")
    for name in ("nobody", "daemon"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("no unprivileged user (nobody, daemon) exists on this machine")


@pytest.mark.parametrize("command", ["draw", "list", "view"])
def test_a_file_the_user_cannot_write_is_never_replaced(command: str) -> None:
    """As a non-root user, in a world-writable (not sticky) folder, an existing root-owned
    read-only output is refused, not renamed over (which the folder would allow), in the same
    words by every command that writes files."""
    user = _unprivileged_user()
    work = Path(tempfile.mkdtemp(prefix="anchorctl-ro-"))
    try:
        os.chmod(work, 0o777)
        shutil.copy(SAMPLES / "cat.jpg", work / IMG)
        os.chmod(work / IMG, 0o644)
        target = work / "ro_existing.png"
        target.write_bytes(b"precious")
        os.chmod(target, 0o444)
        args = {
            "draw": ["draw", str(work / IMG), "--sizes", "0.2", "-o", str(target)],
            "list": ["list", "--image", str(work / IMG), "--format", "csv", "-o", str(target)],
            "view": ["view", str(work / IMG), "--sizes", "0.2", "-o", str(target)],
        }[command]
        proc = subprocess.run(
            [sys.executable, "-c", _AS_USER, str(user.pw_uid), str(user.pw_gid), str(work), *args],
            capture_output=True,
            text=True,
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines() == [
            f"anchorctl: error: cannot write {str(target)!r}: Permission denied"
        ]
        assert target.read_bytes() == b"precious"
        assert target.stat().st_uid == 0
        assert sorted(p.name for p in work.iterdir()) == [IMG, "ro_existing.png"]
    finally:
        shutil.rmtree(work)


def test_the_unprivileged_check_can_fail() -> None:
    """The same run where the user may write the file replaces it: the refusal above is about
    permission, not about the file existing."""
    user = _unprivileged_user()
    work = Path(tempfile.mkdtemp(prefix="anchorctl-rw-"))
    try:
        os.chmod(work, 0o777)
        shutil.copy(SAMPLES / "cat.jpg", work / IMG)
        os.chmod(work / IMG, 0o644)
        target = work / "theirs.png"
        target.write_bytes(b"old")
        os.chown(target, user.pw_uid, user.pw_gid)
        args = ["draw", str(work / IMG), "--sizes", "0.2", "-o", str(target)]
        proc = subprocess.run(
            [sys.executable, "-c", _AS_USER, str(user.pw_uid), str(user.pw_gid), str(work), *args],
            capture_output=True,
            text=True,
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert target.read_bytes().startswith(b"\x89PNG")
    finally:
        shutil.rmtree(work)
