"""What the annotation readers return: images, boxes in pixels, and what was left out and why."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FORMATS", "Annotations", "ImageRecord", "Skipped", "count_reasons", "reason_kind"]

FORMATS = ("coco", "voc", "yolo", "csv", "openimages")


@dataclass(frozen=True)
class ImageRecord:
    """One annotated image.

    ``name`` is the image's file name as the annotations give it: COCO ``file_name``, VOC
    ``<filename>``, the YOLO image file found for a label file (or the label file's stem when
    none was looked up), the CSV ``image`` column. ``width`` and ``height`` are in pixels, > 0.
    """

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class Skipped:
    """An entry of the input that gave no box, and why.

    ``where`` names the file and the entry: ``"coco.json: annotation id 17"``,
    ``"voc/0003.xml: object 2"`` (objects counted from 1), ``"labels/x.txt:4"`` (line 4),
    ``"boxes.csv:12"`` (line 12, the header being line 1). ``reason`` says what was wrong, e.g.
    ``"zero width"``, ``"outside the image ..."``, ``"not a number: 'abc'"``, ``"missing
    image ..."``; or, for entries left out by choice, ``"iscrowd"`` or ``"difficult"``.
    A reason starts with a fixed phrase and ends with the entry's own values (in parentheses,
    or after ``", got "``, ``", found "`` or ``": "``); :func:`reason_kind` keeps the phrase.
    """

    where: str
    reason: str


@dataclass(frozen=True, eq=False)
class Annotations:
    """Ground-truth boxes of a data set, in each image's pixels.

    Shapes and units:

    * ``boxes``: (N, 4) float64, ``xmin, ymin, xmax, ymax`` in the pixels of the box's image,
      0-based and continuous (the COCO convention: a box covering only the top-left pixel is
      ``0, 0, 1, 1``; its width is ``xmax - xmin``). Every box has positive width and height
      and lies inside its image.
    * ``image_index``: (N,) int64, the index into ``images`` of each box's image.
    * ``categories``: N category names, one per box (YOLO class ids as text when no names
      are known; ``""`` for a CSV without a ``category`` column).
    * ``skipped``: entries that gave no box (malformed, or ``iscrowd``/``difficult`` left
      out by choice), in the order of the input. Boxes left out by a category filter are not
      listed.
    * ``format``: the format read, one of :data:`FORMATS`.

    Images come in the order of the input (COCO ``images``, CSV first appearance) or of the
    sorted file names (VOC and YOLO folders); images without boxes are kept.
    """

    images: list[ImageRecord]
    boxes: npt.NDArray[np.float64]
    image_index: npt.NDArray[np.int64]
    categories: list[str]
    skipped: list[Skipped]
    format: str


# Where the entry's own values start in a reason: " (", ", got ", ", found ", or ": " before
# a quoted text, a number, a list or object, or a JSON constant.
_DETAILS = re.compile(r" \(|, got |, found |: (?=['\"\[{\-\d]|None\b|True\b|False\b)")


def reason_kind(reason: str) -> str:
    """The fixed phrase of a skip reason, without the entry's values, for summaries.

    >>> reason_kind("outside the image (xmax 110 is not within 0..100 of the 100x50 image)")
    'outside the image'
    >>> reason_kind("xmax: not a number: 'abc'")
    'xmax: not a number'
    """
    return _DETAILS.split(reason, maxsplit=1)[0]


def count_reasons(skipped: Iterable[Skipped]) -> dict[str, int]:
    """How many entries were skipped for each :func:`reason_kind`, most frequent first."""
    counts: dict[str, int] = {}
    for item in skipped:
        kind = reason_kind(item.reason)
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
