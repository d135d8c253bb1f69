"""Coverage of a stream of boxes on every core: chunks measured by worker processes.

:func:`coverage_stats` reads an :class:`~anchorctl.annotations.AnnotationStream` in the
calling process, maps each chunk of boxes to the network input, and hands tasks of at most
:data:`TASK_BOXES` boxes to ``jobs`` workers; each worker runs
:func:`anchorctl.coverage.measure` and returns the task's
:class:`~anchorctl.coverage_stats.CoverageStats`, which the caller merges in input order.
Counts and exact sums do not depend on how boxes are split, so the report is the same, bit
for bit, for any ``jobs``; :func:`measure` itself gives the same per-box arrays whether its
chunks run serially or in parallel.

Processes, not threads (:data:`BACKEND`): the grid search runs many small numpy operations,
between which the GIL is held, so threads overlap less of it; ``benchmarks/bench_scale.py``
prints both against one core (``--backends``). Workers are forked (POSIX) when the second
task is ready (one task runs in the calling process), so they inherit the anchors'
description and build their grids themselves; where fork is missing, threads are used.

Files are read only here, in the calling process: workers get boxes, never paths, so every
annotation file is registered as an input of the run where its outputs are written
(:mod:`anchorctl.inputs`).

Stopping (:mod:`anchorctl.cli.signals`): the stop signals are blocked while the workers are
forked, so none reaches a worker before it has set its own dispositions (a worker must never
run the caller's handler, which would remove the caller's temporary files): SIGINT ignored,
SIGTERM and SIGHUP left at their default, and on Linux SIGTERM when the caller dies (should
its watchdog end it at once). On Ctrl-C, SIGTERM, SIGHUP (or any error) the caller
terminates and reaps them before the exception goes on, so no worker outlives the command
and no partial report is printed. At most ``2 * jobs`` tasks are in flight, so memory stays
bounded while the reader runs ahead.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.coverage import BoxCoverage, Grids, measure
from anchorctl.coverage_stats import CoverageStats
from anchorctl.errors import AnchorError

__all__ = [
    "TASK_BOXES",
    "Mapping",
    "coverage_stats",
    "default_jobs",
    "measure_parallel",
]

TASK_BOXES = 1 << 14  # boxes per task: small enough to balance, large enough to amortize
BACKEND = "process"  # or "thread" (what the benchmark compares); threads where fork is missing

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def default_jobs() -> int:
    """The cores this process may run on (``os.sched_getaffinity``), else ``os.cpu_count``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Mapping:
    """How boxes reach the network input: :func:`anchorctl.geometry.boxes_to_input`'s
    arguments."""

    mode: str
    input_size: tuple[int, int] | None = None
    shorter_side: tuple[int, int] | None = None
    size_rounding: str = "round"

    def apply(self, boxes: F64, image_sizes: I64) -> tuple[F64, I64]:
        from anchorctl.geometry import boxes_to_input

        return boxes_to_input(
            boxes,
            image_sizes,
            self.mode,
            self.input_size,
            self.shorter_side,
            size_rounding=self.size_rounding,
        )


@dataclass(frozen=True)
class _Setup:
    grids: Grids
    thresholds: tuple[float, ...]
    main: float
    yolo_thr: float
    worst: int


# What a forked worker inherits: set just before the workers start.
_SETUP: _Setup | None = None


def _task(args: tuple[F64, I64, I64, int]) -> CoverageStats:
    """One task: measure the boxes and return their statistics (runs in a worker)."""
    setup = _SETUP
    assert setup is not None
    boxes, sizes, image, first = args
    try:
        cov = measure(boxes, sizes, setup.grids, setup.thresholds, yolo_thr=setup.yolo_thr)
    except AnchorError:
        raise
    except Exception as exc:  # e.g. a usage error for one input size: one line, picklable
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AnchorError(message) from None
    return CoverageStats.of(
        boxes, sizes, cov, main=setup.main, worst=setup.worst, image=image, first=first
    )


_STOPPING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_PR_SET_PDEATHSIG = 1  # prctl(2)


def _quiet_worker(parent: int) -> None:
    """A worker leaves Ctrl-C to the caller, which terminates it; it dies with the caller."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in _STOPPING[1:]:
        signal.signal(number, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the caller died before prctl: nobody to work for
            os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """The stop signals held back (not lost) in this thread and the threads and processes it
    starts; delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _tasks(
    chunks: Iterator[Any], mapping: Mapping, first_size: list[tuple[int, int]]
) -> Iterator[tuple[F64, I64, I64, int]]:
    for chunk in chunks:
        boxes, sizes = mapping.apply(chunk.boxes, chunk.image_size)
        if len(sizes) and not first_size:
            first_size.append((int(sizes[0, 0]), int(sizes[0, 1])))
        for start in range(0, len(boxes), TASK_BOXES):
            stop = start + TASK_BOXES
            yield (
                boxes[start:stop],
                sizes[start:stop],
                chunk.image[start:stop],
                (chunk.first + start),
            )


def coverage_stats(
    chunks: Iterator[Any],
    grids: Grids,
    mapping: Mapping,
    thresholds: tuple[float, ...],
    *,
    main: float,
    worst: int,
    yolo_thr: float,
    jobs: int | None = None,
    first_size: list[tuple[int, int]] | None = None,
    on_task: Callable[[int], None] | None = None,
) -> CoverageStats:
    """The coverage statistics of every box of ``chunks`` (see the module docstring).

    ``chunks`` yields :class:`~anchorctl.annotations.BoxChunk` s; ``grids`` gives the
    anchors of an input size (it must work in a forked child); ``thresholds`` include
    ``main``; ``jobs`` workers (None: :func:`default_jobs`; 1: all in this process).
    ``first_size`` receives the input size of the first box; ``on_task(boxes)`` is called
    as each task's result is merged.
    """
    setup = _Setup(grids, tuple(thresholds), float(main), float(yolo_thr), worst)
    total = CoverageStats(setup.thresholds, setup.main, setup.yolo_thr, worst)
    tasks = _tasks(chunks, mapping, first_size if first_size is not None else [])
    with contextlib.closing(_ordered(_task, tasks, setup, jobs)) as results:
        for count, stats in results:
            total.merge(stats)
            if on_task is not None:
                on_task(count)
    return total


def measure_parallel(
    boxes: npt.ArrayLike,
    input_sizes: npt.ArrayLike,
    grids: Grids,
    thresholds: tuple[float, ...],
    *,
    yolo_thr: float,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BoxCoverage:
    """:func:`anchorctl.coverage.measure` with tasks of :data:`TASK_BOXES` boxes on ``jobs``
    workers: the same arrays, bit for bit (every box is measured alone); ``progress(done,
    total)`` in boxes as each task's result comes back."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.broadcast_to(np.asarray(input_sizes, dtype=np.int64), (len(b), 2))
    setup = _Setup(grids, tuple(float(t) for t in thresholds), 0.0, float(yolo_thr), 0)
    tasks = (
        (b[i : i + TASK_BOXES], sizes[i : i + TASK_BOXES]) for i in range(0, len(b), TASK_BOXES)
    )
    parts: list[BoxCoverage] = []
    with contextlib.closing(_ordered(_measure_task, tasks, setup, jobs)) as results:
        done = 0
        for count, part in results:
            parts.append(part)
            done += count
            if progress is not None:
                progress(done, len(b))
    if not parts:
        return measure(b, sizes, grids, setup.thresholds, yolo_thr=yolo_thr)
    fields = {
        name: np.concatenate([getattr(p, name) for p in parts])
        for name in BoxCoverage.__dataclass_fields__
        if name not in ("thresholds", "yolo_thr")
    }
    return BoxCoverage(thresholds=setup.thresholds, yolo_thr=float(yolo_thr), **fields)


def _measure_task(args: tuple[F64, I64]) -> BoxCoverage:
    setup = _SETUP
    assert setup is not None
    try:
        return measure(args[0], args[1], setup.grids, setup.thresholds, yolo_thr=setup.yolo_thr)
    except AnchorError:
        raise
    except Exception as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AnchorError(message) from None


def _ordered(
    fn: Callable[[Any], Any], tasks: Iterator[Any], setup: _Setup, jobs: int | None
) -> Generator[tuple[int, Any], None, None]:
    """``(len(task[0]), fn(task))`` for each task, in order, on ``jobs`` workers."""
    global _SETUP
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise AnchorError(f"jobs: expected a number of workers >= 1, got {jobs}")
    _SETUP = setup
    try:
        head = list(itertools.islice(tasks, 2))
        tasks = itertools.chain(head, tasks)
        if jobs == 1 or len(head) < 2:  # one task: workers would only add their start-up
            for task in tasks:
                yield len(task[0]), fn(task)
        elif BACKEND == "process" and "fork" in multiprocessing.get_all_start_methods():
            yield from _in_processes(fn, tasks, jobs)
        else:
            yield from _in_threads(fn, tasks, jobs)
    finally:
        _SETUP = None


def _in_processes(fn: Callable[[Any], Any], tasks: Iterator[Any], jobs: int) -> Iterator[Any]:
    context = multiprocessing.get_context("fork")
    pool = None
    pending: deque[tuple[int, Any]] = deque()
    try:
        # The pool's own threads, started here, keep the signals blocked: they fork the
        # workers that replace any that die, and the caller's main thread alone handles them.
        with _signals_blocked():
            pool = context.Pool(jobs, initializer=_quiet_worker, initargs=(os.getpid(),))
        for task in tasks:
            pending.append((len(task[0]), pool.apply_async(fn, (task,))))
            while len(pending) >= 2 * jobs:
                count, result = pending.popleft()
                yield count, result.get()
        while pending:
            count, result = pending.popleft()
            yield count, result.get()
        pool.close()
    finally:
        if pool is not None:
            pool.terminate()  # kills the workers unless all is done; then reaps them
            pool.join()


def _in_threads(fn: Callable[[Any], Any], tasks: Iterator[Any], jobs: int) -> Iterator[Any]:
    pending: deque[tuple[int, Future[Any]]] = deque()
    with ThreadPoolExecutor(jobs) as pool:
        try:
            for task in tasks:
                pending.append((len(task[0]), pool.submit(fn, task)))
                while len(pending) >= 2 * jobs:
                    count, future = pending.popleft()
                    yield count, future.result()
            while pending:
                count, future = pending.popleft()
                yield count, future.result()
        finally:
            for _, future in pending:
                future.cancel()
