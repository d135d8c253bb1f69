"""Read ground-truth boxes from COCO JSON, Pascal VOC XML, YOLO labels or a plain CSV.

>>> ann = read_annotations("instances_val2017.json")  # doctest: +SKIP
>>> ann.boxes.shape, ann.format  # doctest: +SKIP
((36781, 4), 'coco')

Every reader returns the same :class:`Annotations`: boxes as ``xmin, ymin, xmax, ymax`` in
the pixels of their image, 0-based and continuous (the COCO convention), whatever the
format's own convention (VOC's 1-based inclusive pixels and YOLO's normalized centres are
converted; each format's module states how). The formats, one module each:

* :mod:`~anchorctl.annotations.coco`: one ``.json`` file;
* :mod:`~anchorctl.annotations.voc`: a folder of ``.xml`` files (parsed with defusedxml);
* :mod:`~anchorctl.annotations.yolo`: a folder of ``.txt`` label files, image sizes from the
  images' headers or one size for all;
* :mod:`~anchorctl.annotations.csvfile`: ``image,width,height,xmin,ymin,xmax,ymax[,category]``.

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
from collections.abc import Callable, Collection
from pathlib import Path

from anchorctl.annotations.checks import EDGE_TOLERANCE, Draft, finish, gc_paused, wanted_set
from anchorctl.annotations.detect import Resolved, resolve
from anchorctl.annotations.records import (
    FORMATS,
    Annotations,
    ImageRecord,
    Skipped,
    count_reasons,
    reason_kind,
)
from anchorctl.errors import AnchorError

__all__ = [
    "EDGE_TOLERANCE",
    "FORMATS",
    "Annotations",
    "ImageRecord",
    "Skipped",
    "count_reasons",
    "read_annotations",
    "reason_kind",
]


_TITLES = {"coco": "COCO", "voc": "Pascal VOC", "yolo": "YOLO", "csv": "CSV"}


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


def read_annotations(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    categories: Collection[str] | None = None,
    include_crowd: bool = False,
    include_difficult: bool = False,
    image_size: tuple[int, int] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Annotations:
    """Read the boxes of a data set's annotations.

    Args:
        path: a COCO ``.json`` file, a ``.csv`` file, a folder of Pascal VOC ``.xml`` files
            (or one such file, or a VOC root with ``Annotations/``), or a folder of YOLO
            ``.txt`` label files (or one, or a data set root with ``labels/``).
        fmt: ``"coco"``, ``"voc"``, ``"yolo"`` or ``"csv"``; None to tell from the path
            (see :mod:`~anchorctl.annotations.detect`).
        categories: keep only boxes of these category names (YOLO class ids as text when the
            labels come without names). Names the input declares none of (COCO
            ``categories``, YOLO names), or, for VOC and CSV, a filter no box matches,
            raise :class:`AnchorError` (most likely a typo).
        include_crowd: keep COCO ``iscrowd`` boxes (left out and listed in ``skipped`` by
            default).
        include_difficult: keep VOC ``difficult`` objects (left out and listed by default).
        image_size: ``(width, height)`` in pixels of every image, for YOLO labels without
            images at hand; YOLO only.
        images_dir: where the images are: YOLO image sizes are read from their headers, and
            VOC files without a ``<size>`` fall back to them; YOLO and VOC only.
        strict: raise :class:`AnchorError` at the first malformed entry instead of skipping.
        progress: called as ``progress(done, total)`` while reading: files for VOC and YOLO,
            entries (images then annotations) for COCO, lines for CSV.

    Returns:
        :class:`Annotations`: boxes (N, 4) float64 pixels, image index (N,) int64, category
        names, images, and the skipped entries with where and why.

    Raises:
        AnchorError: one line naming the file (and line or id) and what was expected.
    """
    source = resolve(path, fmt)
    wanted = wanted_set(categories)
    if image_size is not None:
        if source.fmt != "yolo":
            raise AnchorError(
                f"image size: only YOLO labels need one; {source.display} holds "
                f"{_TITLES[source.fmt]} annotations, which give each image's size"
            )
        image_size = _check_size(image_size)
    images = Path(images_dir) if images_dir is not None else None
    if images is not None:
        if source.fmt not in ("yolo", "voc"):
            raise AnchorError(
                f"images folder: only YOLO and Pascal VOC annotations read image sizes from "
                f"the images; {source.display} holds {_TITLES[source.fmt]} annotations"
            )
        if not images.is_dir():
            raise AnchorError(f"images folder {os.fspath(images_dir or '')}: no such folder")

    with gc_paused():  # see gc_paused: large inputs make millions of live objects
        draft, include = _read(
            source, wanted, include_crowd, include_difficult, image_size, images, progress
        )
        return finish(
            draft,
            source.fmt,
            source.display,
            wanted=wanted,
            include_choice=include,
            strict=strict,
        )


def _read(
    source: Resolved,
    wanted: frozenset[str] | None,
    include_crowd: bool,
    include_difficult: bool,
    image_size: tuple[int, int] | None,
    images: Path | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[Draft, bool]:
    """The format's reader on ``source``; also whether its by-choice boxes are kept."""
    include = False
    if source.fmt == "coco":
        from anchorctl.annotations.coco import read_coco

        draft = read_coco(str(source.path), source.display, wanted=wanted, progress=progress)
        include = include_crowd
    elif source.fmt == "csv":
        from anchorctl.annotations.csvfile import read_csv

        draft = read_csv(str(source.path), source.display, wanted=wanted, progress=progress)
    elif source.fmt == "voc":
        from anchorctl.annotations.voc import read_voc

        draft = read_voc(source.files, wanted=wanted, images_dir=images, progress=progress)
        include = include_difficult
    else:
        from anchorctl.annotations.yolo import read_yolo

        draft = read_yolo(
            source.files,
            source.folder,
            wanted=wanted,
            image_size=image_size,
            images_dir=images,
            progress=progress,
        )
    return draft, include
