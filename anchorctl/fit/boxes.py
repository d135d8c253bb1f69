"""The boxes a fit reads, block by block: held in memory, or set aside in an unnamed temporary
file, so that fitting millions of boxes holds a seeded sample and one block, never the set.

A fit reads its boxes twice: once to check them and draw the sample the search sees
(:func:`sample_boxes`), once more for every number it reports on all of them
(:func:`anchorctl.fit.objectives.metrics_of`). :class:`Boxes` is what both read: the number
of boxes and their blocks in order. :class:`HeldBoxes` wraps an array; :class:`SpilledBoxes`
takes boxes as a reader streams them and keeps them in memory up to ``limit`` bytes, then in
an anonymous temporary file (unlinked when created, so nothing is left behind, whatever
stops the process). Boxes are ``(N, 4)`` float64 ``xmin, ymin, xmax, ymax`` in pixels; the
file holds them bit for bit, so every result is the same as from the array.

The sample is a *bottom-k* sample: each box gets a 64-bit key from a seeded generator, drawn
in box order, and the ``size`` boxes of smallest key (ties by position) are kept, in their
order. That is a uniform sample without replacement, and it depends only on the seed and the
boxes, never on how they are split into blocks.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from anchorctl.errors import AnchorError

__all__ = ["HELD_BYTES", "Boxes", "HeldBoxes", "SpilledBoxes", "as_boxes", "sample_boxes"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KeyArray = npt.NDArray[np.uint64]

ROW_BYTES = 32  # one box: four float64
HELD_BYTES = 32 << 20  # boxes kept in memory before the temporary file (1,048,576 boxes)
SAMPLE_BLOCK = 1 << 16  # boxes per block of the sampling pass


@runtime_checkable
class Boxes(Protocol):
    """Boxes read in blocks: ``len`` of them, and :meth:`blocks` in order."""

    def __len__(self) -> int: ...

    def blocks(self, size: int) -> Iterator[FloatArray]:
        """Every box in order, ``(n, 4)`` blocks of ``size`` rows (the last may be shorter)."""
        ...


class HeldBoxes:
    """An ``(N, 4)`` array of boxes, as :class:`Boxes` (blocks are views)."""

    def __init__(self, boxes: FloatArray) -> None:
        self.array = boxes

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def blocks(self, size: int) -> Iterator[FloatArray]:
        for start in range(0, len(self), size):
            yield self.array[start : start + size]


class SpilledBoxes:
    """Boxes appended as they are read: in memory up to ``limit`` bytes (default
    :data:`HELD_BYTES`), then in an anonymous temporary file in ``directory`` (default:
    ``TMPDIR``). Use as a context manager, or :meth:`close`, to free the file at once.

    A full disk or a folder that cannot be written is one :class:`AnchorError` naming the
    folder and the room needed.
    """

    def __init__(self, limit: int | None = None, directory: str | None = None) -> None:
        self._limit = HELD_BYTES if limit is None else int(limit)
        self._directory = directory
        self._held: list[FloatArray] = []
        self._file: io.BufferedRandom | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def on_disk(self) -> bool:
        """Whether the boxes went to the temporary file."""
        return self._file is not None

    def append(self, boxes: npt.ArrayLike) -> None:
        """Add ``(n, 4)`` boxes after those already appended."""
        block = np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not len(block):
            return
        self._count += len(block)
        if self._file is None:
            self._held.append(block.copy())
            if self._count * ROW_BYTES <= self._limit:
                return
            held, self._held = self._held, []
            self._file = self._open()
            for part in held:
                self._write(part)
            return
        self._write(block)

    def blocks(self, size: int) -> Iterator[FloatArray]:
        if self._file is None:
            if len(self._held) > 1:
                self._held = [np.concatenate(self._held)]
            yield from HeldBoxes(self._held[0] if self._held else np.empty((0, 4))).blocks(size)
            return
        handle = self._file
        handle.flush()
        handle.seek(0)
        left = self._count
        while left:
            rows = min(size, left)
            block = np.empty((rows, 4), dtype=np.float64)
            if handle.readinto(block.data.cast("B")) != rows * ROW_BYTES:
                raise AnchorError("the temporary copy of the boxes was cut short; run it again")
            left -= rows
            yield block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held = []

    def __enter__(self) -> SpilledBoxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self) -> str:
        return self._directory or tempfile.gettempdir()

    def _open(self) -> io.BufferedRandom:
        try:
            return tempfile.TemporaryFile(prefix="anchorctl-boxes-", dir=self._directory)
        except OSError as exc:
            raise AnchorError(
                f"cannot set the boxes aside in {self._where()} ({exc.strerror or exc}); "
                "set TMPDIR to a folder you can write"
            ) from None

    def _write(self, block: FloatArray) -> None:
        assert self._file is not None
        try:
            self._file.write(block.data.cast("B"))
        except OSError as exc:
            need = self._count * ROW_BYTES / (1 << 20)
            self.close()
            raise AnchorError(
                f"cannot set the boxes aside in {self._where()} ({exc.strerror or exc}); "
                f"{need:,.0f} MiB are needed there: set TMPDIR to a folder with room"
            ) from None


def as_boxes(boxes: npt.ArrayLike | Boxes) -> Boxes:
    """``boxes`` as :class:`Boxes`: a :class:`Boxes` as it is, else an ``(N, 4)`` array
    (shape and type checked here; each box's values by :func:`sample_boxes`)."""
    if isinstance(boxes, Boxes):
        out: Boxes = boxes
    else:
        try:
            array = np.asarray(boxes, dtype=np.float64)
        except (TypeError, ValueError):
            raise AnchorError("boxes: expected an (N, 4) array of xmin, ymin, xmax, ymax") from None
        if array.size and (array.ndim != 2 or array.shape[1] != 4):
            raise AnchorError(
                f"boxes: expected an (N, 4) array of xmin, ymin, xmax, ymax, got {array.shape}"
            )
        out = HeldBoxes(array.reshape(-1, 4))
    if len(out) == 0:
        raise AnchorError("boxes: none to fit (every box was skipped or filtered out)")
    return out


def sample_boxes(
    boxes: Boxes, size: int, seed: np.random.SeedSequence, block: int = SAMPLE_BLOCK
) -> FloatArray:
    """Check every box and draw ``size`` of them, in order (all of them when there are no
    more; see the module notes): ``(min(N, size), 4)``.

    A box that is not finite with positive width and height is refused after the pass, naming
    the first and counting them all.
    """
    draw = np.random.PCG64(seed)
    keys: KeyArray = np.empty(0, dtype=np.uint64)
    order: IntArray = np.empty(0, dtype=np.int64)
    kept: FloatArray = np.empty((0, 4))
    first_bad: tuple[int, float, float] | None = None
    bad = 0
    start = 0
    for part in boxes.blocks(block):
        n = len(part)
        w, h = part[:, 2] - part[:, 0], part[:, 3] - part[:, 1]
        wrong = ~(np.isfinite(part).all(axis=1) & (w > 0) & (h > 0))
        if wrong.any():
            if first_bad is None:
                i = int(np.flatnonzero(wrong)[0])
                first_bad = (start + i, float(w[i]), float(h[i]))
            bad += int(wrong.sum())
        part_keys: KeyArray = draw.random_raw(n)
        # once the sample is full, only keys below the largest kept can enter it
        enter = np.flatnonzero(part_keys < keys.max()) if len(keys) == size else np.arange(n)
        if len(enter):
            keys = np.concatenate([keys, part_keys[enter]])
            order = np.concatenate([order, start + enter])
            kept = np.concatenate([kept, part[enter]])
            keep = _smallest(keys, order, size)
            keys, order, kept = keys[keep], order[keep], kept[keep]
        start += n
    if first_bad is not None:
        i, w_i, h_i = first_bad
        raise AnchorError(
            f"boxes: box {i} is {w_i:g} x {h_i:g}; widths and heights must be positive finite "
            f"pixels ({bad} such boxes)"
        )
    out: FloatArray = kept[np.argsort(order, kind="stable")]
    return out


def _smallest(keys: KeyArray, order: IntArray, size: int) -> IntArray:
    """Which ``size`` entries have the smallest ``(key, order)``, as indices."""
    if len(keys) <= size:
        return np.arange(len(keys))
    cut = np.partition(keys, size - 1)[size - 1]
    below = np.flatnonzero(keys < cut)
    at = np.flatnonzero(keys == cut)
    at = at[np.argsort(order[at], kind="stable")][: size - len(below)]
    out: IntArray = np.concatenate([below, at])
    return out
