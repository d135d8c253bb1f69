"""coverage and report on --jobs workers: every annotation file is an input of the run though
workers match the boxes, and a stop signal ends the workers with the run, leaving nothing.

The data sets are large enough for several tasks of :data:`anchorctl.parallel.TASK_BOXES`
boxes, so the worker pool really starts (checked where it can be, in-process)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from anchorctl import parallel

from support import ROOT, run

LABEL_FILES = 100
BOXES_PER_FILE = 1_000  # 100,000 boxes: the YOLO reader's first batch (65,536 rows) is
# several tasks, so the pool is working before the last files are opened


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YOLO label folder (no images: --image-size gives their size) of 100,000 boxes."""
    folder = tmp_path_factory.mktemp("workers") / "labels"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(LABEL_FILES):
        cx, cy = rng.uniform(0.2, 0.8, (2, BOXES_PER_FILE))
        w, h = rng.uniform(0.02, 0.3, (2, BOXES_PER_FILE))
        rows = (
            f"0 {a:.4f} {b:.4f} {c:.4f} {d:.4f}" for a, b, c, d in zip(cx, cy, w, h, strict=True)
        )
        (folder / f"f{k:02d}.txt").write_text("\n".join(rows) + "\n", encoding="ascii")
    return folder


def _pool_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each start of a worker pool (its number of workers)."""
    started: list[int] = []
    real = parallel._in_processes

    def counted(fn, tasks, jobs):  # type: ignore[no-untyped-def]
        started.append(jobs)
        return real(fn, tasks, jobs)

    monkeypatch.setattr(parallel, "_in_processes", counted)
    return started


DATA = ("--image-size", "640x480", "--preset", "ssd300", "--jobs", "2", "-q")


def test_report_refuses_to_replace_a_label_file_read_while_workers_match(
    labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _pool_starts(monkeypatch)
    target = labels / f"f{LABEL_FILES - 1:02d}.txt"
    before = target.read_bytes()
    result = run("report", str(labels), *DATA, "-o", str(target))
    assert started == [2], "the worker pool did not run"
    assert result.exit_code == 1, result.stderr
    assert "input" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in labels.iterdir() if not p.name.endswith(".txt")) == []


def test_coverage_refuses_stdout_appended_to_a_label_file_it_reads(labels: Path) -> None:
    target = labels / f"f{LABEL_FILES - 1:02d}.txt"
    before = target.read_bytes()
    with open(target, "ab") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "anchorctl", "coverage", str(labels), *DATA,
             "--format", "json"],
            stdout=out, stderr=subprocess.PIPE, cwd=ROOT, timeout=120,
        )  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "stdout is redirected to that same file" in err and err.count("\n") == 1, err
    assert target.read_bytes() == before


def test_the_same_run_to_another_file_succeeds(labels: Path, tmp_path: Path) -> None:
    """The refusals above are about the file, not about the command or the workers."""
    result = run("coverage", str(labels), *DATA, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert '"boxes": 100000' in result.stdout


# --- the same numbers for any number of workers, and for shards ---------------------------------


def _coverage(*args: str) -> dict:
    result = run("coverage", *args, "--image-size", "640x480", "--preset", "ssd300", "-q",
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_coverage_is_the_same_on_one_and_two_workers(
    labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _pool_starts(monkeypatch)
    one = _coverage(str(labels), "--jobs", "1")
    assert started == []
    two = _coverage(str(labels), "--jobs", "2")
    assert started == [2], "the worker pool did not run"
    assert one == two
    assert one["boxes"] == LABEL_FILES * BOXES_PER_FILE


def test_report_is_the_same_page_on_one_and_two_workers(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _pool_starts(monkeypatch)
    pages = []
    for jobs in ("1", "2"):
        page = tmp_path / f"r{jobs}.html"
        result = run("report", str(labels), *DATA[:4], "--jobs", jobs, "-q", "-o", str(page))
        assert result.exit_code == 0, result.stderr
        pages.append(page.read_bytes())
    assert started == [2], "the worker pool did not run"
    assert pages[0] == pages[1]


def test_shards_measured_on_workers_merge_into_the_whole(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shards of 50 label files, each on two workers, merged: the report of all 100 files
    on one worker (the settings, statistics and worst boxes; not the file names)."""
    started = _pool_starts(monkeypatch)
    reports = []
    for k in range(2):
        shard = tmp_path / f"shard-{k}"
        shard.mkdir()
        for path in sorted(labels.iterdir())[k * 50 : (k + 1) * 50]:
            (shard / path.name).write_bytes(path.read_bytes())
        report = tmp_path / f"shard-{k}.json"
        report.write_text(json.dumps(_coverage(str(shard), "--jobs", "2")))
        reports.append(str(report))
    assert started == [2, 2]
    whole = _coverage(str(labels), "--jobs", "1")
    merged = run("coverage", "--merge", *reports, "--format", "json")
    assert merged.exit_code == 0, merged.stderr
    merged_report = json.loads(merged.stdout)
    assert merged_report["annotations"] == reports
    assert {k: v for k, v in merged_report.items() if k != "annotations"} == {
        k: v for k, v in whole.items() if k != "annotations"
    }


# --- stop signals ------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


def _csv_rows(count: int) -> bytes:
    rng = np.random.default_rng(4)
    x0, y0 = rng.uniform(0, 400, (2, count))
    w, h = rng.uniform(4, 200, (2, count))
    rows = (f"i{k % 997}.jpg,640,480,{a:.1f},{b:.1f},{a + c:.1f},{b + d:.1f}\n"
            for k, (a, b, c, d) in enumerate(zip(x0, y0, w, h, strict=True)))  # fmt: skip
    return ("image,width,height,xmin,ymin,xmax,ymax\n" + "".join(rows)).encode()


class _Feeder:
    """Writes ``data`` into the named pipe ``fifo`` once a reader opens it, then holds the
    pipe open (the reader waits for more) until :meth:`close`."""

    def __init__(self, fifo: Path, data: bytes) -> None:
        self.fifo, self.data = fifo, data
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        with contextlib.suppress(OSError), open(self.fifo, "wb") as pipe:
            pipe.write(self.data)
            pipe.flush()
            self.done.wait(120)

    def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():  # no reader ever came: be the reader, so open() returns
            with contextlib.suppress(OSError):
                os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        self.thread.join(10)


def _stop(
    args: list[str], name: str, group: bool, fifo: tuple[Path, bytes] | None = None
) -> tuple[int, bytes, bytes, set[int]]:
    """Run ``anchorctl *args`` in its own session; once it has two workers, send it (or its
    process group, as a terminal does) signal ``name``. Its status, stdout, stderr and
    workers."""
    feeder = _Feeder(*fifo) if fifo else None
    child = subprocess.Popen(
        [sys.executable, "-m", "anchorctl", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            workers = _children(child.pid)
        if len(workers) < 2:  # stop it before reading what it said: it may be waiting
            os.killpg(child.pid, signal.SIGKILL)
            pytest.fail(f"no workers started: {child.communicate(timeout=30)}")
        if group:
            os.killpg(child.pid, getattr(signal, name))
        else:
            child.send_signal(getattr(signal, name))
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
        if feeder is not None:
            feeder.close()
    return child.returncode, out, err, workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("SIGINT", True),  # Ctrl-C in a terminal: the whole process group
        ("SIGINT", False),
        ("SIGTERM", True),
        ("SIGTERM", False),  # `kill PID`: the command alone
        ("SIGHUP", True),
    ],
)
def test_a_stop_signal_ends_coverage_and_its_workers(
    tmp_path: Path, name: str, group: bool
) -> None:
    """The data set comes through a named pipe that stops after 100,000 boxes (several
    tasks: the workers start) and stays open: coverage waits for more, with its workers, when
    the signal comes."""
    fifo = tmp_path / "boxes.csv"
    os.mkfifo(fifo)
    args = ["coverage", str(fifo), "--preset", "ssd300", "--jobs", "2", "--format", "json"]
    code, out, err, workers = _stop(args, name, group, (fifo, _csv_rows(100_000)))
    _check_stopped(name, code, out, err, workers)
    assert [p.name for p in tmp_path.iterdir()] == ["boxes.csv"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("name", "group"), [("SIGINT", True), ("SIGHUP", False)])
def test_a_stop_signal_ends_report_and_its_workers(
    labels: Path, tmp_path: Path, name: str, group: bool
) -> None:
    """report reads the whole set, then matches on the workers: the signal comes as soon as
    they start (fasterrcnn-fpn's 200,000-odd anchors keep them busy for seconds)."""
    page = tmp_path / "r.html"
    args = ["report", str(labels), "--image-size", "640x480", "--preset", "fasterrcnn-fpn",
            "--jobs", "2", "-q", "-o", str(page)]  # fmt: skip
    code, out, err, workers = _stop(args, name, group)
    _check_stopped(name, code, out, err, workers)
    assert list(tmp_path.iterdir()) == []  # no page, no temporary file


def _check_stopped(name: str, code: int, out: bytes, err: bytes, workers: set[int]) -> None:
    message = "interrupted" if name == "SIGINT" else f"stopped by {name}"
    assert code == 128 + getattr(signal, name), err
    assert err.decode() == f"anchorctl: {message}\n"
    assert out == b""
    deadline = time.monotonic() + 5  # reaped by the run; the kernel may lag a moment
    while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _alive(pid)] == []
