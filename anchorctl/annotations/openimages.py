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
per image (its name and size), not per box.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from anchorctl.annotations.checks import Context, Draft, Problem
from anchorctl.annotations.csvfile import _floats
from anchorctl.annotations.textio import TextBlocks, lines, open_binary
from anchorctl.errors import AnchorError

__all__ = ["REQUIRED", "is_openimages", "read_image_sizes", "read_openimages"]

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


def read_image_sizes(path: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """``ImageID -> (width, height)`` from an image sizes CSV (see the module docstring)."""
    name = os.fspath(path)
    sizes: dict[str, tuple[int, int]] = {}
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
                if width <= 0 or height <= 0:
                    raise AnchorError(
                        f"{name}:{reader.line_num}: image size {width}x{height}: expected "
                        "whole pixels > 0"
                    )
                sizes[image] = (width, height)
        except csv.Error as exc:
            raise AnchorError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from None
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
    index: dict[str, int] = {}  # ImageID -> row in ctx.images, or -1 (no size)
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
    index: dict[str, int],
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
    image_row = np.full(n, -1, dtype=np.int64)
    new_names: list[str] = []
    new_sizes: list[tuple[int, int]] = []
    first_new = len(ctx.images)
    for k in range(n):
        if reasons[k] is not None:
            continue
        image = images[k]
        if not image:
            reasons[k] = "missing image (the ImageID column is empty)"
            continue
        at = index.get(image)
        if at is None:
            size, why = sizes.lookup(image)
            if size is None:
                at = index[image] = -1
                reasons_of[image] = why
            else:
                at = index[image] = first_new + len(new_names)
                new_names.append(image)
                new_sizes.append(size)
        if at < 0:
            reasons[k] = reasons_of[image]
        image_row[k] = at
    ctx.images.add(new_names, np.array(new_sizes, dtype=np.int64).reshape(-1, 2))
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
