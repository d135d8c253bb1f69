"""Read ground-truth boxes from COCO JSON, Pascal VOC XML, YOLO labels or a plain CSV.

>>> ann = read_annotations("instances_val2017.json")  # doctest: +SKIP
>>> ann.boxes.shape, ann.format  # doctest: +SKIP
((36781, 4), 'coco')

Every reader gives the same :class:`Annotations`: boxes as ``xmin, ymin, xmax, ymax`` in
the pixels of their image, 0-based and continuous (the COCO convention), whatever the
format's own convention (VOC's 1-based inclusive pixels and YOLO's normalized centres are
converted; each format's module states how). The formats, one module each:

* :mod:`~anchorctl.annotations.coco`: one ``.json`` file;
* :mod:`~anchorctl.annotations.voc`: a folder of ``.xml`` files (parsed with defusedxml);
* :mod:`~anchorctl.annotations.yolo`: a folder of ``.txt`` label files, image sizes from the
  images' headers or one size for all;
* :mod:`~anchorctl.annotations.csvfile`: ``image,width,height,xmin,ymin,xmax,ymax[,category]``;
* :mod:`~anchorctl.annotations.openimages`: Open Images' ``*-annotations-bbox.csv`` (normalized
  boxes per ``ImageID``), image sizes from a separate file, the images or one size for all.

Large inputs: :func:`open_annotations` gives the same boxes as a stream of chunks
(:mod:`~anchorctl.annotations.stream`), reading files a block at a time in bounded memory
(:mod:`~anchorctl.annotations.textio`: lines, JSON values and XML files have size limits,
so garbage fails fast); :func:`read_annotations` gathers the stream into one
:class:`Annotations`.

:mod:`~anchorctl.annotations.detect` tells them apart; :mod:`~anchorctl.annotations.checks`
holds the checks every box goes through.

Malformed entries (a box of zero or negative size, one reaching more than one pixel past its
image, a value that is not a number, an unknown or missing image) are skipped and listed in
``skipped`` with the file and the line or id; with ``strict=True`` the first of them, in
input order, raises :class:`~anchorctl.errors.AnchorError` instead. A box reaching past an
image edge by at most one pixel is clipped to the image (see
:data:`~anchorctl.annotations.checks.EDGE_TOLERANCE`). A file that cannot be read as its
format at all (not JSON, wrong top-level shape, wrong CSV columns, hostile XML, an empty
folder or one of the wrong kind) raises :class:`~anchorctl.errors.AnchorError` with one line
naming the file and what was expected.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import numpy as np

from anchorctl.annotations.checks import (
    EDGE_TOLERANCE,
    Context,
    Draft,
    finish_chunk,
    gc_paused,
    wanted_set,
)
from anchorctl.annotations.detect import Resolved, resolve
from anchorctl.annotations.records import (
    FORMATS,
    Annotations,
    ImageRecord,
    Skipped,
    count_reasons,
    reason_kind,
)
from anchorctl.annotations.stream import AnnotationStream, BoxChunk, ImageTable, SkipLog
from anchorctl.errors import AnchorError

__all__ = [
    "EDGE_TOLERANCE",
    "FORMATS",
    "AnnotationStream",
    "Annotations",
    "BoxChunk",
    "ImageRecord",
    "ImageTable",
    "Skipped",
    "count_reasons",
    "format_of",
    "open_annotations",
    "read_annotations",
    "reason_kind",
]


_TITLES = {
    "coco": "COCO",
    "voc": "Pascal VOC",
    "yolo": "YOLO",
    "csv": "CSV",
    "openimages": "Open Images CSV",
}


def _check_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` as two ints > 0 (numpy integers are welcome)."""
    try:
        width, height = image_size
    except (TypeError, ValueError):
        raise AnchorError(f"image size {image_size!r}: expected (width, height)") from None
    for value in (width, height):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise AnchorError(
                f"image size {image_size!r}: expected two whole numbers of pixels > 0"
            )
    return int(width), int(height)


def format_of(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The format :func:`open_annotations` reads ``path`` as: ``fmt`` when given, else told
    from the path and, for a regular ``.csv`` file, its header row (Open Images' columns or
    anchorctl's; a named pipe's ``.csv`` is anchorctl's CSV unless ``fmt`` says otherwise).

    Raises:
        AnchorError: no such file or folder, or one of no known format.
    """
    return _format(resolve(path, fmt), fmt)


def _format(source: Resolved, fmt: str | None) -> str:
    # Only a regular file can be looked at before it is read: a named pipe or a device read
    # twice would wait for a second writer, so it is read as the format its suffix says.
    if source.fmt == "csv" and fmt is None and source.path.is_file():
        from anchorctl.annotations.openimages import is_openimages

        if is_openimages(source.path, source.display):
            return "openimages"
    return source.fmt


def read_annotations(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    categories: Collection[str] | None = None,
    include_crowd: bool = False,
    include_difficult: bool = False,
    image_size: tuple[int, int] | None = None,
    image_sizes: str | os.PathLike[str] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Annotations:
    """Read the boxes of a data set's annotations, all at once.

    Args:
        path: a COCO ``.json`` file, a ``.csv`` file (anchorctl's columns, or Open Images'
            ``ImageID,...,XMin,XMax,YMin,YMax,...``), a folder of Pascal VOC ``.xml`` files
            (or one such file, or a VOC root with ``Annotations/``), or a folder of YOLO
            ``.txt`` label files (or one, or a data set root with ``labels/``).
        fmt: ``"coco"``, ``"voc"``, ``"yolo"``, ``"csv"`` or ``"openimages"``; None to tell
            from the path and, for a ``.csv``, its header row (see
            :mod:`~anchorctl.annotations.detect`).
        categories: keep only boxes of these category names (YOLO class ids as text when the
            labels come without names). Names the input declares none of (COCO
            ``categories``, YOLO names), or, for VOC and CSV, a filter no box matches,
            raise :class:`AnchorError` (most likely a typo).
        include_crowd: keep COCO ``iscrowd`` and Open Images ``IsGroupOf`` boxes (boxes
            around a group of objects: left out and listed in ``skipped`` by default).
        include_difficult: keep VOC ``difficult`` objects (left out and listed by default).
        image_size: ``(width, height)`` in pixels of every image, for YOLO labels or Open
            Images boxes without images at hand.
        image_sizes: Open Images only: a CSV file of ``ImageID,width,height`` (see
            :mod:`~anchorctl.annotations.openimages`).
        images_dir: where the images are: YOLO and Open Images image sizes are read from
            their headers, and VOC files without a ``<size>`` fall back to them.
        strict: raise :class:`AnchorError` at the first malformed entry instead of skipping.
        progress: called as ``progress(done, total)`` while reading: files for VOC and YOLO,
            bytes for COCO and CSV.

    Returns:
        :class:`Annotations`: boxes (N, 4) float64 pixels, image index (N,) int64, category
        names, images, and the skipped entries with where and why.

    Raises:
        AnchorError: one line naming the file (and line or id) and what was expected.

    :func:`open_annotations` reads the same boxes a chunk at a time, in bounded memory.
    """
    with open_annotations(
        path,
        fmt,
        categories=categories,
        include_crowd=include_crowd,
        include_difficult=include_difficult,
        image_size=image_size,
        image_sizes=image_sizes,
        images_dir=images_dir,
        strict=strict,
        progress=progress,
        list_skipped=None,
    ) as stream:
        chunks = list(stream)
    boxes = [c.boxes for c in chunks]
    return Annotations(
        images=stream.images.records(),
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        image_index=(
            np.concatenate([c.image for c in chunks]) if chunks else np.zeros(0, dtype=np.int64)
        ),
        categories=[stream.category_names[i] for c in chunks for i in c.category.tolist()],
        skipped=stream.skipped.listed,
        format=stream.format,
    )


def open_annotations(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    categories: Collection[str] | None = None,
    include_crowd: bool = False,
    include_difficult: bool = False,
    image_size: tuple[int, int] | None = None,
    image_sizes: str | os.PathLike[str] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
    list_skipped: int | None = 10_000,
) -> AnnotationStream:
    """The boxes of a data set's annotations as a stream of chunks, in bounded memory.

    Arguments as :func:`read_annotations`; ``list_skipped`` is how many skipped entries the
    stream lists with where and why (every one is counted by kind; None: list all). Options
    are checked and the input's format found before this returns; the file is read while
    the stream is iterated:

    >>> with open_annotations("instances_train2017.json") as stream:  # doctest: +SKIP
    ...     for chunk in stream:
    ...         chunk.boxes  # (n, 4) float64 pixels, in input order
    ...     stream.images.sizes, stream.skipped.total  # complete at the end

    Errors found while reading raise :class:`AnchorError` from the iteration.
    """
    source = resolve(path, fmt)
    wanted = wanted_set(categories)
    if image_size is not None:
        if source.fmt not in ("yolo", "csv", "openimages"):
            raise AnchorError(
                f"image size: only YOLO labels need one (and Open Images boxes without "
                f"sizes); {source.display} holds {_TITLES[source.fmt]} annotations, which "
                "give each image's size"
            )
        image_size = _check_size(image_size)
    images = Path(images_dir) if images_dir is not None else None
    if images is not None:
        if source.fmt not in ("yolo", "voc", "csv", "openimages"):
            raise AnchorError(
                f"images folder: only YOLO and Pascal VOC annotations (and Open Images "
                f"boxes) read image sizes from the images; {source.display} holds "
                f"{_TITLES[source.fmt]} annotations"
            )
        if not images.is_dir():
            raise AnchorError(f"images folder {os.fspath(images_dir or '')}: no such folder")
    if image_sizes is not None and source.fmt not in ("csv", "openimages"):
        raise AnchorError(
            f"image sizes file: only Open Images boxes need one; {source.display} holds "
            f"{_TITLES[source.fmt]} annotations"
        )
    fmt_read = _format(source, fmt)
    if fmt_read == "csv" and (
        image_size is not None or images is not None or image_sizes is not None
    ):
        what = (
            "image size"
            if image_size is not None
            else "images folder"
            if images is not None
            else "image sizes file"
        )
        unseen = fmt is None and not source.path.is_file()
        raise AnchorError(
            f"{what}: only YOLO and Pascal VOC annotations (and Open Images boxes) need "
            f"one; {source.display} holds CSV annotations (image,width,height,...), which "
            "give each image's size"
            + (" (Open Images boxes? name the annotation format openimages)" if unseen else "")
        )
    include = {
        "coco": include_crowd,
        "openimages": include_crowd,
        "voc": include_difficult,
    }.get(fmt_read, False)
    skipped = SkipLog(list_skipped)
    ctx = Context(
        source.display,
        wanted=wanted,
        include_choice=include,
        strict=strict,
        skipped=skipped,
        progress=progress,
    )
    drafts = _drafts(source, fmt_read, ctx, image_size, images, image_sizes)
    return AnnotationStream(
        fmt_read,
        source.display,
        _chunks(drafts, ctx),
        ctx.images,
        ctx.category_names,
        skipped,
        [],
    )


def _chunks(drafts: Iterator[Draft], ctx: Context) -> Iterator[BoxChunk]:
    """Each draft checked and filtered; the whole-input checks at the end."""
    given = 0
    with gc_paused():  # see gc_paused: chunks of parsed entries are many live objects
        try:
            for draft in drafts:
                chunk = finish_chunk(draft, ctx, given)
                given += len(chunk)
                if len(chunk) or draft.problems:
                    yield chunk
            ctx.finish()
        finally:
            close = getattr(drafts, "close", None)
            if close is not None:
                close()


def _drafts(
    source: Resolved,
    fmt: str,
    ctx: Context,
    image_size: tuple[int, int] | None,
    images: Path | None,
    image_sizes: str | os.PathLike[str] | None,
) -> Iterator[Draft]:
    """The format's reader on ``source``."""
    if fmt == "coco":
        from anchorctl.annotations.coco import read_coco

        return read_coco(str(source.path), source.display, ctx)
    if fmt == "csv":
        from anchorctl.annotations.csvfile import read_csv

        return read_csv(str(source.path), source.display, ctx)
    if fmt == "openimages":
        from anchorctl.annotations.openimages import read_openimages

        return read_openimages(
            str(source.path),
            source.display,
            ctx,
            image_size=image_size,
            image_sizes=image_sizes,
            images_dir=images,
        )
    if fmt == "voc":
        from anchorctl.annotations.voc import read_voc

        return read_voc(source.files, ctx, images_dir=images)
    from anchorctl.annotations.yolo import read_yolo

    return read_yolo(source.files, source.folder, ctx, image_size=image_size, images_dir=images)
