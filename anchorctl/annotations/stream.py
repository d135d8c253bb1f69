"""Annotations as a stream of box chunks, so a data set of any size is read in bounded memory.

:func:`~anchorctl.annotations.open_annotations` gives an :class:`AnnotationStream`: iterate
it for :class:`BoxChunk` s (boxes already checked, filtered and in image pixels, in input
order), then read its summary: the images (:class:`ImageTable`), the category names, and
the skipped entries. What the stream holds between chunks is per image (its size, and its
name in :class:`NameTable`: a few tens of bytes each), never per box, except where the
format forces it: a COCO file whose ``images`` or ``categories`` come after its
``annotations`` (the official COCO files put ``categories`` last) keeps each annotation's
parsed numbers until the end, in memory up to :data:`SPILL_BYTES` and then in an anonymous
temporary file (deleted by the system when the process ends, however it ends).
"""

from __future__ import annotations

import bisect
import heapq
import pickle
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.records import ImageRecord, Skipped, reason_kind

__all__ = [
    "MAX_LISTED",
    "SPILL_BYTES",
    "AnnotationStream",
    "BoxChunk",
    "ImageTable",
    "NameTable",
    "SkipLog",
    "Spill",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Skipped entries listed one by one in a stream (all are counted, by kind); read_annotations
# lists every one.
MAX_LISTED = 10_000
# Parsed annotations a COCO reader keeps in memory before spilling them to a temporary file.
SPILL_BYTES = 1 << 26


@dataclass(frozen=True)
class BoxChunk:
    """Boxes of the input, in input order, ready to use.

    ``boxes`` ``(n, 4)`` float64 ``xmin, ymin, xmax, ymax`` in the pixels of each box's
    image, 0-based continuous, checked (positive size, inside the image); ``image`` ``(n,)``
    int64 row of each box's image in the stream's :class:`ImageTable`; ``image_size``
    ``(n, 2)`` int64 ``[width, height]`` of that image; ``category`` ``(n,)`` int64 index
    into the stream's ``category_names``; ``first`` the number of boxes before this chunk.
    """

    boxes: F64
    image: I64
    image_size: I64
    category: I64
    first: int

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


class NameTable:
    """Many short strings (image names) kept compactly: each batch is one joined string
    and an array of offsets, so a name costs its characters plus 8 bytes."""

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._offsets: list[I64] = []
        self._starts: list[int] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, names: list[str]) -> None:
        if not names:
            return
        ends = np.cumsum(np.fromiter(map(len, names), dtype=np.int64, count=len(names)))
        self._texts.append("".join(names))
        self._offsets.append(np.concatenate([[0], ends]))
        self._starts.append(self._count)
        self._count += len(names)

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self._count:
            raise IndexError(index)
        batch = bisect.bisect_right(self._starts, index) - 1
        local = index - self._starts[batch]
        offsets = self._offsets[batch]
        return self._texts[batch][int(offsets[local]) : int(offsets[local + 1])]

    def select(self, rows: I64) -> NameTable:
        """A new table of the names at ``rows``, in that order."""
        out = NameTable()
        out.extend([self[int(i)] for i in rows])
        return out


class _Growing:
    """An int64 array appended to in batches (amortized doubling)."""

    def __init__(self, columns: int = 1) -> None:
        self._data = np.zeros((1024, columns), dtype=np.int64)
        self._n = 0

    def extend(self, values: npt.ArrayLike) -> None:
        rows = np.asarray(values, dtype=np.int64).reshape(-1, self._data.shape[1])
        need = self._n + len(rows)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data)), self._data.shape[1]), np.int64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = rows
        self._n = need

    @property
    def values(self) -> I64:
        return self._data[: self._n]


class ImageTable:
    """The images of a data set: names (:class:`NameTable`) and sizes, row by row.

    ``sizes`` is ``(n, 2)`` int64 ``[width, height]`` in pixels.
    """

    def __init__(self) -> None:
        self.names = NameTable()
        self._sizes = _Growing(2)

    def __len__(self) -> int:
        return len(self.names)

    def add(self, names: list[str], sizes: npt.ArrayLike) -> int:
        """Append images; returns the row of the first."""
        first = len(self)
        self.names.extend(names)
        self._sizes.extend(sizes)
        return first

    def add_table(self, names: NameTable, sizes: npt.ArrayLike) -> None:
        """Append the images of ``names`` with their ``(n, 2)`` sizes (the table is taken)."""
        if len(self) == 0:
            self.names = names
        else:
            self.names.extend([names[i] for i in range(len(names))])
        self._sizes.extend(sizes)

    @property
    def sizes(self) -> I64:
        return self._sizes.values

    def record(self, index: int) -> ImageRecord:
        width, height = self.sizes[index]
        return ImageRecord(self.names[index], int(width), int(height))

    def records(self) -> list[ImageRecord]:
        sizes = self.sizes.tolist()
        return [ImageRecord(self.names[i], w, h) for i, (w, h) in enumerate(sizes)]


class SkipLog:
    """The skipped entries: every one counted by kind; the ``limit`` first in input order
    listed with where and why (``None``: every one listed)."""

    def __init__(self, limit: int | None = MAX_LISTED) -> None:
        self.limit = limit
        self.total = 0
        self.by_kind: dict[str, int] = {}
        # (-order, sequence, item): a max-heap on the order keeps the `limit` first entries
        # even when a deferred check finds an early entry late.
        self._heap: list[tuple[int, int, Skipped]] = []

    def add(self, order: int, item: Skipped) -> None:
        self.total += 1
        kind = reason_kind(item.reason)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        entry = (-order, -self.total, item)
        if self.limit is None or len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    @property
    def listed(self) -> list[Skipped]:
        """The listed entries in input order (ties: in the order found)."""
        return [item for _, _, item in sorted(self._heap, reverse=True)]

    def counts(self) -> dict[str, int]:
        """Skipped entries per kind of reason, most frequent first."""
        return dict(sorted(self.by_kind.items(), key=lambda kv: (-kv[1], kv[0])))


class Spill:
    """Objects put aside in order and read back once: in memory up to ``limit`` bytes (as
    estimated by ``size``), then in an anonymous temporary file, pickled."""

    def __init__(self, size: Callable[[Any], int], limit: int = SPILL_BYTES) -> None:
        self._size = size
        self._limit = limit
        self._held: list[Any] = []
        self._bytes = 0
        self._file: IO[bytes] | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, item: Any) -> None:
        self._count += 1
        if self._file is None:
            self._held.append(item)
            self._bytes += self._size(item)
            if self._bytes <= self._limit:
                return
            self._file = tempfile.TemporaryFile(prefix="anchorctl-")  # noqa: SIM115
            held, self._held = self._held, []
            for old in held:
                pickle.dump(old, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            return
        pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def drain(self) -> Iterator[Any]:
        """Every item, in the order put; the temporary file is closed at the end."""
        if self._file is None:
            held, self._held = self._held, []
            yield from held
            return
        self._file.seek(0)
        try:
            for _ in range(self._count):
                yield pickle.load(self._file)
        finally:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held = []


class AnnotationStream:
    """Chunks of checked boxes, then a summary; see the module docstring.

    Iterate once (a second iteration raises). ``images``, ``category_names`` and ``skipped``
    grow while iterating and are complete at the end. Use it as a context manager (or call
    :meth:`close`) so an interrupted read releases its file and any temporary file.
    """

    def __init__(
        self,
        fmt: str,
        source: str,
        chunks: Iterator[BoxChunk],
        images: ImageTable,
        category_names: list[str],
        skipped: SkipLog,
        closers: list[Callable[[], None]],
    ) -> None:
        self.format = fmt
        self.source = source
        self.images = images
        self.category_names = category_names
        self.skipped = skipped
        self._chunks = chunks
        self._closers = closers
        self._used = False
        self.boxes = 0
        self.finished = False

    def __iter__(self) -> Iterator[BoxChunk]:
        if self._used:
            raise RuntimeError("an annotation stream can be read only once")
        self._used = True
        try:
            for chunk in self._chunks:
                self.boxes += len(chunk)
                yield chunk
            self.finished = True
        finally:
            self.close()

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            close()
        close_gen = getattr(self._chunks, "close", None)
        if close_gen is not None:
            close_gen()

    def __enter__(self) -> AnnotationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
