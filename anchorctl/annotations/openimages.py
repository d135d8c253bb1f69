"""Open Images boxes: ``*-annotations-bbox.csv``, one normalized box per row, per ``ImageID``.

The header row names the columns (Open Images V4 to V7 write
``ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,
IsDepiction,IsInside``). Read are ``ImageID``, ``XMin``, ``XMax``, ``YMin``, ``YMax``
(required), ``LabelName`` (the category, the MID as written, e.g. ``/m/01g317``) and
``IsGroupOf`` (optional); names are matched without regard to case, other columns are
ignored. A regular ``.csv`` file whose header has the five required columns is read as Open
Images (:func:`is_openimages`); naming the format ``openimages`` forces it (and is needed for
a named pipe, whose header cannot be looked at before it is read).

Coordinates are fractions of the image's width and height, so in pixels of a ``W x H``
image the box is ``XMin * W, YMin * H, XMax * W, YMax * H`` (continuous, like COCO's).
Image sizes are not in the file; they come from, in this order:

* ``image_size``: one ``(W, H)`` for every image;
* ``image_sizes``: a CSV file with a header row and the columns ``ImageID`` (also accepted:
  ``image_id``, ``image``, ``id``), ``width`` and ``height`` (also ``w``, ``h``), whole
  pixels > 0, in any order, other columns ignored;
* ``images_dir``: the header of ``<images_dir>/<ImageID>.jpg`` (or ``.jpeg``, ``.png``).

A box whose image has no size is skipped (``"missing image size ..."``). ``IsGroupOf`` boxes
(a box around a group of objects, like COCO's ``iscrowd``) are left out and listed as
skipped unless ``include_crowd``. Skipped entries are named ``"<file>:12"`` (line 12, the
header being line 1).

Memory: the file is read a block at a time and a batch of rows at a time; what is kept is
per image (its name and size), not per box. The image sizes file is held as sorted arrays
(:class:`SizeTable`, tens of bytes an image), which also keep the row each image got; the
images met otherwise (with one size for all, or an images folder) are indexed the same way
(:class:`ImageIndex`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.checks import Context, Draft, Problem
from anchorctl.annotations.csvfile import _floats
from anchorctl.annotations.textio import TextBlocks, lines, open_binary
from anchorctl.errors import AnchorError

__all__ = [
    "REQUIRED",
    "ImageIndex",
    "SizeTable",
    "is_openimages",
    "read_image_sizes",
    "read_openimages",
]

REQUIRED = ("imageid", "xmin", "xmax", "ymin", "ymax")
_OPTIONAL = ("labelname", "isgroupof")
_SIZE_COLUMNS = {
    "image": ("imageid", "image_id", "image", "id"),
    "width": ("width", "w"),
    "height": ("height", "h"),
}
_EXPECTED = "ImageID,...,XMin,XMax,YMin,YMax,..."
_BATCH = 65_536
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# ImageIDs up to this many UTF-8 bytes go in SizeTable's fixed-width array (Open Images' have
# 16); a longer one would widen every entry, so it goes in a dict instead.
_ID_BYTES = 64

# No image is wider or taller; the table holds sides as int64, which a larger one overflows.
_MAX_SIDE = 2**31 - 1


def _header_row(path: str | os.PathLike[str], name: str) -> list[str] | None:
    """The first non-blank row of a CSV file, None when it cannot be read."""
    try:
        with open_binary(path, name) as handle:
            blocks = TextBlocks(handle, name, "UTF-8 CSV", block=1 << 16)
            for row in csv.reader(lines(blocks, "a CSV header")):
                if row:
                    return row
    except (AnchorError, csv.Error):
        return None
    return None


def is_openimages(path: str | os.PathLike[str], name: str) -> bool:
    """Whether the CSV file's header row has Open Images' box columns."""
    row = _header_row(path, name)
    if row is None:
        return False
    names = {cell.strip().lower() for cell in row}
    return all(column in names for column in REQUIRED)


def _columns(row: Sequence[str], name: str) -> dict[str, int]:
    names = [cell.strip().lower() for cell in row]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        found = ",".join(row)
        found = found if len(found) <= 80 else found[:77] + "..."
        raise AnchorError(
            f"{name}: line 1: expected Open Images' header {_EXPECTED}, found {found!r}"
        )
    return {n: names.index(n) for n in (*REQUIRED, *_OPTIONAL) if n in names}


def _compact(key: bytes) -> bool:
    """Whether an ImageID's UTF-8 bytes fit a fixed-width bytes array (see :class:`SizeTable`)."""
    return len(key) <= _ID_BYTES and not key.endswith(b"\x00")


def _search(ids: npt.NDArray[np.bytes_], keys: list[bytes]) -> npt.NDArray[np.int64]:
    """Per key its position in the sorted array ``ids``, -1 when not there."""
    at = np.full(len(keys), -1, dtype=np.int64)
    width = ids.dtype.itemsize
    # A key wider than the array cannot be in it (and would be cut to its width).
    fits = [k for k, key in enumerate(keys) if _compact(key) and len(key) <= width]
    if fits and len(ids):
        wanted = np.array([keys[k] for k in fits], dtype=ids.dtype)
        pos = np.searchsorted(ids, wanted)
        found = pos < len(ids)
        found[found] = ids[pos[found]] == wanted[found]
        at[np.asarray(fits, dtype=np.int64)[found]] = pos[found]
    return at


class SizeTable:
    """``ImageID -> (width, height)`` of an image sizes file, held compactly.

    ImageIDs of at most :data:`_ID_BYTES` UTF-8 bytes (Open Images' are 16) are kept as one
    sorted fixed-width bytes array with ``int64`` widths and heights beside it, looked up
    with a sorted search: about 40 bytes an image (with ``rows``), where a dict of strings
    and tuples costs several hundred. Longer ImageIDs, and ones ending in a NUL byte (which
    a fixed-width bytes array cannot hold apart), go to a small dict. An ImageID listed
    twice has the size of its last line. ``rows`` is, per ImageID of the array, the row the
    reader gave the image in its image table (-1 until then).
    """

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype="S1")
        self._wh = np.zeros((0, 2), dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int64)
        self._other: dict[str, tuple[int, int]] = {}
        self._parts: list[tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64]]] = []

    def _add(self, images: list[str], sizes: list[tuple[int, int]]) -> None:
        """Append a batch of lines (``freeze`` sorts them)."""
        keys: list[bytes] = []
        wh: list[tuple[int, int]] = []
        for image, size in zip(images, sizes, strict=True):
            key = image.encode("utf-8", "surrogatepass")
            if _compact(key):
                keys.append(key)
                wh.append(size)
            else:
                self._other[image] = size
        if keys:
            self._parts.append(
                (np.array(keys, dtype=np.bytes_), np.array(wh, dtype=np.int64).reshape(-1, 2))
            )

    def _freeze(self) -> None:
        if self._parts:
            ids = np.concatenate([p[0] for p in self._parts])
            wh = np.concatenate([p[1] for p in self._parts])
            self._parts = []
            order = np.argsort(ids, kind="stable")
            ids, wh = ids[order], wh[order]
            del order
            # Of equal ImageIDs (adjacent, in file order) the last line wins, as in a dict.
            last = np.ones(len(ids), dtype=bool)
            last[:-1] = ids[:-1] != ids[1:]
            self._ids, self._wh = ids[last], wh[last]
        self.rows = np.full(len(self._ids), -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ids) + len(self._other)

    def find(self, images: list[str]) -> npt.NDArray[np.int64]:
        """Per ImageID its position in the array, -1 when not there (in the dict, or not
        in the file: :meth:`get` tells)."""
        return _search(self._ids, [image.encode("utf-8", "surrogatepass") for image in images])

    def size(self, position: int) -> tuple[int, int]:
        width, height = self._wh[position].tolist()
        return int(width), int(height)

    def sizes(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``(n, 2)`` ``[width, height]`` at positions of the array."""
        return self._wh[positions]

    def get(self, image: str) -> tuple[int, int] | None:
        """The size of an ImageID (None: not in the file)."""
        at = self.find([image])
        if at[0] >= 0:
            return self.size(int(at[0]))
        return self._other.get(image)


UNKNOWN = -2  # ImageIndex.find: an image not met yet


class ImageIndex:
    """``ImageID -> row`` of the images met so far that a sizes file's array does not hold
    (every image with ``image_size`` or an images folder): the row the reader gave the image
    in its image table, or -1 when it has no size.

    Held like :class:`SizeTable`: a sorted fixed-width bytes array of ImageIDs with ``int64``
    rows beside it (about 24 bytes an Open Images image, where a dict costs about 150), the
    images met since the last merge in a small dict, merged in every :data:`MERGE_EVERY`.
    ImageIDs the array cannot hold stay in a dict.
    """

    MERGE_EVERY = 1 << 16

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype="S1")
        self._rows = np.zeros(0, dtype=np.int64)
        self._recent: dict[str, int] = {}
        self._other: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids) + len(self._recent) + len(self._other)

    def find(self, images: list[str]) -> npt.NDArray[np.int64]:
        """Per ImageID its row (-1: no size), :data:`UNKNOWN` when not met yet."""
        at = _search(self._ids, [image.encode("utf-8", "surrogatepass") for image in images])
        out = np.where(at >= 0, self._rows[np.maximum(at, 0)] if len(self._rows) else 0, UNKNOWN)
        for k in np.flatnonzero(at < 0).tolist():
            image = images[k]
            row = self._recent.get(image, self._other.get(image))
            if row is not None:
                out[k] = row
        return out

    def put(self, image: str, row: int) -> None:
        """Record an image not met before (merged into the array in batches)."""
        if _compact(image.encode("utf-8", "surrogatepass")):
            self._recent[image] = row
            if len(self._recent) >= self.MERGE_EVERY:
                self._merge()
        else:
            self._other[image] = row

    def _merge(self) -> None:
        keys = np.array([i.encode("utf-8", "surrogatepass") for i in self._recent], np.bytes_)
        rows = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        self._recent = {}
        order = np.argsort(keys, kind="stable")
        width = max(self._ids.dtype.itemsize, keys.dtype.itemsize)
        ids, keys = self._ids.astype(f"S{width}"), keys[order].astype(f"S{width}")
        at = np.searchsorted(ids, keys)
        self._ids = np.insert(ids, at, keys)
        self._rows = np.insert(self._rows, at, rows[order])


def read_image_sizes(path: str | os.PathLike[str]) -> SizeTable:
    """The image sizes CSV as a :class:`SizeTable` (see the module docstring)."""
    name = os.fspath(path)
    sizes = SizeTable()
    images: list[str] = []
    wh: list[tuple[int, int]] = []
    with open_binary(path, name) as handle:
        blocks = TextBlocks(handle, name, "UTF-8 CSV ImageID,width,height")
        reader = csv.reader(lines(blocks, "CSV ImageID,width,height"))
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                raise AnchorError(f"{name}: empty file; expected the header ImageID,width,height")
            names = [cell.strip().lower() for cell in header]
            at: dict[str, int] = {}
            for key, accepted in _SIZE_COLUMNS.items():
                found = [names.index(a) for a in accepted if a in names]
                if not found:
                    raise AnchorError(
                        f"{name}: line 1: expected the columns ImageID,width,height, found "
                        f"{','.join(header)[:80]!r}"
                    )
                at[key] = found[0]
            for row in reader:
                if not row:
                    continue
                try:
                    image = row[at["image"]].strip()
                    width, height = int(row[at["width"]]), int(row[at["height"]])
                except (IndexError, ValueError):
                    raise AnchorError(
                        f"{name}:{reader.line_num}: expected ImageID,width,height with whole "
                        f"pixels, found {','.join(row)[:80]!r}"
                    ) from None
                if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
                    raise AnchorError(
                        f"{name}:{reader.line_num}: image size {width}x{height}: expected "
                        f"whole pixels from 1 to {_MAX_SIDE:,}"
                    )
                images.append(image)
                wh.append((width, height))
                if len(images) == _BATCH:
                    sizes._add(images, wh)
                    images, wh = [], []
        except csv.Error as exc:
            raise AnchorError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from None
    sizes._add(images, wh)
    sizes._freeze()
    return sizes


class _Sizes:
    """Where each image's size comes from; ``lookup`` gives it or says why not."""

    def __init__(
        self,
        image_size: tuple[int, int] | None,
        image_sizes: str | os.PathLike[str] | None,
        images_dir: Path | None,
        name: str,
    ) -> None:
        self.image_size = image_size
        self.table = read_image_sizes(image_sizes) if image_sizes is not None else None
        self.table_name = os.fspath(image_sizes) if image_sizes is not None else ""
        self.images_dir = images_dir
        if image_size is None and image_sizes is None and images_dir is None:
            raise AnchorError(
                f"{name}: Open Images boxes are fractions of the image size: give an image "
                "sizes file (ImageID,width,height), the images folder, or one image size for all"
            )

    def lookup(self, image: str) -> tuple[tuple[int, int] | None, str]:
        """The size of an image not in the table's array (see :class:`SizeTable`)."""
        if self.image_size is not None:
            return self.image_size, ""
        if self.table is not None:
            size = self.table.get(image)
            if size is not None or self.images_dir is None:
                why = f"missing image size ({image!r} is not in {self.table_name})"
                return size, "" if size is not None else why
        assert self.images_dir is not None
        from anchorctl.imagesize import image_size

        for suffix in _IMAGE_SUFFIXES:
            candidate = self.images_dir / f"{image}{suffix}"
            if candidate.is_file():
                try:
                    return image_size(candidate), ""
                except AnchorError as exc:
                    return None, f"unreadable image ({exc})"
        return None, f"missing image (no {image}.jpg in {self.images_dir})"


def read_openimages(
    path: str,
    name: str,
    ctx: Context,
    *,
    image_size: tuple[int, int] | None = None,
    image_sizes: str | os.PathLike[str] | None = None,
    images_dir: Path | None = None,
) -> Iterator[Draft]:
    """Parse an Open Images boxes CSV into chunks (see the module docstring)."""
    sizes = _Sizes(image_size, image_sizes, images_dir, name)
    # ImageID -> row in ctx.images, or -1 (no size), for images not in the sizes table's
    # array (which keeps their rows itself)
    index = ImageIndex()
    reasons: dict[str, str] = {}
    with open_binary(path, name) as handle:
        blocks = TextBlocks(handle, name, f"UTF-8 CSV {_EXPECTED}")
        reader = csv.reader(lines(blocks, f"CSV {_EXPECTED}", ctx.progress))
        rows: list[list[str]] = []
        numbers: list[int] = []
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                raise AnchorError(f"{name}: empty file; expected the header {_EXPECTED}")
            columns = _columns(header, name)
            for row in reader:
                if not row:
                    continue
                rows.append(row)
                numbers.append(reader.line_num)
                if len(rows) == _BATCH:
                    yield _batch(
                        rows, numbers, columns, len(header), ctx, sizes, index, reasons, name
                    )
                    rows, numbers = [], []
        except csv.Error as exc:
            raise AnchorError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from None
        yield _batch(rows, numbers, columns, len(header), ctx, sizes, index, reasons, name)


def _batch(
    rows: list[list[str]],
    numbers: list[int],
    columns: dict[str, int],
    width: int,
    ctx: Context,
    sizes: _Sizes,
    index: ImageIndex,
    reasons_of: dict[str, str],
    name: str,
) -> Draft:
    n = len(rows)
    line = np.array(numbers, dtype=np.int64)
    reasons: list[str | None] = [None] * n
    need = max(columns.values()) + 1
    short = [len(row) < need for row in rows]
    if any(short):
        blank = [""] * width
        for k in np.flatnonzero(short).tolist():
            reasons[k] = f"expected {width} fields ({_EXPECTED}), found {len(rows[k])}"
        rows = [blank if s else row for row, s in zip(rows, short, strict=True)]
    images = [row[columns["imageid"]].strip() for row in rows]
    labels = (
        [row[columns["labelname"]].strip() for row in rows] if "labelname" in columns else [""] * n
    )
    group = np.zeros(n, dtype=bool)
    if "isgroupof" in columns:
        group = np.array([row[columns["isgroupof"]].strip() == "1" for row in rows], dtype=bool)
    coords = {c: _floats([row[columns[c]] for row in rows]) for c in REQUIRED[1:]}
    for c in REQUIRED[1:]:
        for k in np.flatnonzero(coords[c][1]).tolist():
            if reasons[k] is None:
                cell = rows[k][columns[c]].strip()
                label = (
                    c.replace("x", "X")
                    .replace("y", "Y")
                    .replace("min", "Min")
                    .replace("max", "Max")
                )
                reasons[k] = f"{label}: missing" if not cell else f"{label}: not a number: {cell!r}"
    for k in range(n):
        if reasons[k] is None and not images[k]:
            reasons[k] = "missing image (the ImageID column is empty)"
    # The batch's images, in order of first appearance, so new ones get rows in that order.
    seen = list(dict.fromkeys(images[k] for k in range(n) if reasons[k] is None))
    table = sizes.table if sizes.image_size is None else None
    positions = table.find(seen) if table is not None else np.full(len(seen), -1, np.int64)
    known = table.rows[np.maximum(positions, 0)].tolist() if table is not None else []
    met = np.full(len(seen), UNKNOWN, dtype=np.int64)
    elsewhere = np.flatnonzero(positions < 0)
    met[elsewhere] = index.find([seen[u] for u in elsewhere.tolist()])
    met_rows = met.tolist()
    first_new = len(ctx.images)
    new_names: list[str] = []
    new_sizes: list[tuple[int, int]] = []
    from_table: list[int] = []  # (new image, table position) of the new images in the table
    row_of: dict[str, int] = {}
    for u, position in enumerate(positions.tolist()):
        image = seen[u]
        if position >= 0:
            found = known[u]
            if found < 0:
                found = first_new + len(new_names)
                from_table += (len(new_names), position)
                new_names.append(image)
                new_sizes.append((0, 0))  # filled in from the table below
        else:
            # Not in the table's array: a size for all, the table's dict, or the images folder.
            found = met_rows[u]
            if found == UNKNOWN:
                size, why = sizes.lookup(image)
                if size is None:
                    found = -1
                    reasons_of[image] = why
                else:
                    found = first_new + len(new_names)
                    new_names.append(image)
                    new_sizes.append(size)
                index.put(image, found)
        row_of[image] = found
    added = np.array(new_sizes, dtype=np.int64).reshape(-1, 2)
    if from_table:
        assert table is not None
        pairs = np.array(from_table, dtype=np.int64).reshape(-1, 2)
        table.rows[pairs[:, 1]] = first_new + pairs[:, 0]
        added[pairs[:, 0]] = table.sizes(pairs[:, 1])
    image_row = np.array(
        [row_of[images[k]] if reasons[k] is None else -1 for k in range(n)], dtype=np.int64
    )
    for k in np.flatnonzero(image_row < 0).tolist():
        if reasons[k] is None:
            reasons[k] = reasons_of[images[k]]
    ctx.images.add(new_names, added)
    problems = [
        Problem(int(line[k]), f"{name}:{int(line[k])}", reason)
        for k, reason in enumerate(reasons)
        if reason is not None and ctx.wanted_name(labels[k] if not short[k] else None)
    ]
    usable = np.flatnonzero(np.array([r is None for r in reasons], dtype=bool))
    rows_of = image_row[usable]
    wh = ctx.images.sizes[rows_of].astype(np.float64)
    w, h = wh[:, 0], wh[:, 1]
    boxes = np.stack(
        [
            coords["xmin"][0][usable] * w,
            coords["ymin"][0][usable] * h,
            coords["xmax"][0][usable] * w,
            coords["ymax"][0][usable] * h,
        ],
        axis=1,
    ).reshape(-1, 4)
    kept_lines = line[usable]
    return Draft(
        boxes=boxes,
        image=rows_of,
        size=wh,
        category=ctx.categories([labels[k] for k in usable.tolist()]),
        order=kept_lines,
        where=lambda i: f"{name}:{int(kept_lines[i])}",
        problems=problems,
        by_choice=group[usable],
        choice_reason="IsGroupOf",
    )
