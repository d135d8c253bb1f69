"""What every reader shares: opening files, checking boxes against their images, and turning a
reader's draft into :class:`~anchorctl.annotations.records.Annotations`.

A reader parses its format into a :class:`Draft`: the images, the candidate boxes already in
anchorctl's convention (pixels, 0-based continuous ``xmin, ymin, xmax, ymax``), and the
entries it could not use (:class:`Problem`). :func:`finish` then applies, in this order, the
category filter (boxes of other categories are dropped silently), the box checks (malformed
boxes are skipped, or with ``strict`` the first malformed entry of the input raises), and the
``iscrowd``/``difficult`` choice (left-out boxes are listed as skipped, never raised).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.records import Annotations, ImageRecord, Skipped
from anchorctl.errors import AnchorError

__all__ = [
    "EDGE_TOLERANCE",
    "Draft",
    "Problem",
    "Progress",
    "check_boxes",
    "file_progress",
    "finish",
    "fmt_number",
    "gc_paused",
    "read_bytes",
    "wanted_set",
]

Progress = Callable[[int, int], None]

# A box may reach up to this many pixels past an image edge and is then clipped to the edge:
# float noise in normalized YOLO labels (1.0000001), COCO boxes whose x + w rounds past the
# width, and VOC files written 0-based (xmin 0 becomes -1 here) are common and harmless.
# Training pipelines clip such boxes too (detectron2 and mmdet clip ground truth to the image).
# A box reaching further out is skipped as "outside the image".
EDGE_TOLERANCE = 1.0

# Reason codes of check_boxes, in the order the checks run.
OK, NOT_FINITE, BAD_WIDTH, BAD_HEIGHT, OUTSIDE, CLIPPED_EMPTY = range(6)


class Problem(NamedTuple):
    """An entry that gave no box: where it is, why, and whether it is malformed.

    ``order`` is the entry's position in the input (readers number entries as they meet
    them), so problems found by different passes are reported in input order. ``malformed``
    is False for entries left out by choice (``iscrowd``, ``difficult``).
    """

    order: int
    where: str
    reason: str
    malformed: bool = True


@dataclass
class Draft:
    """A reader's output before the shared checks.

    ``boxes`` (N, 4) float64 pixels ``xmin, ymin, xmax, ymax`` (0-based continuous),
    ``image_index`` (N,) int64 into ``images``, ``categories`` N names, ``order`` (N,) int64
    positions in the input, ``by_choice`` (N,) bool for boxes that are left out unless asked
    for (``choice_reason`` says why: ``"iscrowd"``, ``"difficult"``). ``where(i)`` names box
    ``i``'s entry; it is called only for boxes that are skipped. ``declared`` lists the
    category names the input declares (COCO ``categories``, YOLO class names), if any.
    """

    images: list[ImageRecord]
    boxes: npt.NDArray[np.float64]
    image_index: npt.NDArray[np.int64]
    categories: list[str]
    order: npt.NDArray[np.int64]
    where: Callable[[int], str]
    problems: list[Problem] = field(default_factory=list)
    by_choice: npt.NDArray[np.bool_] | None = None
    choice_reason: str = ""
    declared: Sequence[str] | None = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees memory).

    A large input parses into millions of live objects (a COCO JSON of 860k annotations makes
    tens of millions); every collection that later allocations trigger would rescan them
    all, which costs as much as the parse itself. Nothing a reader builds holds a cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def file_progress(progress: Progress | None, total: int) -> Callable[[int], None]:
    """``report(done)`` that calls ``progress(done, total)`` about a thousand times at most
    (always for the last file), so a progress bar does not cost more than the reading."""
    if progress is None:
        return lambda done: None
    step = max(1, -(-total // 1000))  # ceil: at most 1000 steps

    def report(done: int) -> None:
        if done % step == 0 or done == total:
            progress(done, total)

    return report


def read_bytes(path: str | os.PathLike[str], name: str) -> bytes:
    """The whole file, or :class:`AnchorError` naming it (``name``) and why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        raise AnchorError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AnchorError(f"{name}: it is a folder, expected a file") from None
    except PermissionError:
        raise AnchorError(f"{name}: permission denied") from None
    except OSError as exc:
        reason = " ".join((exc.strerror or str(exc) or type(exc).__name__).split())
        raise AnchorError(f"{name}: cannot read it ({reason})") from None


def wanted_set(categories: Collection[str] | None) -> frozenset[str] | None:
    """The category filter as a set, None for no filter; an empty filter is an error."""
    if categories is None:
        return None
    if isinstance(categories, str):  # a bare string would filter by its characters
        categories = [categories]
    wanted = frozenset(str(c) for c in categories)
    if not wanted:
        raise AnchorError("categories: the filter is empty; give at least one category name")
    return wanted


def fmt_number(value: float) -> str:
    """A coordinate or size for a message: whole numbers without a decimal point."""
    return f"{value:.10g}"


def check_boxes(
    boxes: npt.NDArray[np.float64], width: npt.NDArray[np.float64], height: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Check boxes against their images' sizes; clip those within :data:`EDGE_TOLERANCE`.

    ``boxes`` (N, 4) float64 pixels ``xmin, ymin, xmax, ymax``; ``width``, ``height`` (N,) the
    size of each box's image. Returns the boxes clipped to their images (N, 4) and a reason
    code per box (N,) int8: :data:`OK`, or the first failed check (not finite; width or
    height not positive; reaching more than the tolerance past an edge; empty once clipped).
    """
    x1, y1, x2, y2 = boxes.T
    code = np.zeros(boxes.shape[0], dtype=np.int8)
    with np.errstate(invalid="ignore"):  # NaN and inf are flagged first, and compare False
        code[~np.isfinite(boxes).all(axis=1)] = NOT_FINITE
        code[(code == OK) & (x2 - x1 <= 0)] = BAD_WIDTH
        code[(code == OK) & (y2 - y1 <= 0)] = BAD_HEIGHT
        outside = (
            (x1 < -EDGE_TOLERANCE)
            | (y1 < -EDGE_TOLERANCE)
            | (x2 > width + EDGE_TOLERANCE)
            | (y2 > height + EDGE_TOLERANCE)
        )
        code[(code == OK) & outside] = OUTSIDE
        upper = np.stack([width, height, width, height], axis=1)  # (N, 4) per-box limits
        clipped = np.minimum(np.maximum(boxes, 0.0), upper)
        empty = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
        code[(code == OK) & empty] = CLIPPED_EMPTY
    return clipped, code


def box_reason(code: int, box: npt.NDArray[np.float64], width: float, height: float) -> str:
    """The message for a box that failed :func:`check_boxes` with ``code``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if code == NOT_FINITE:
        values = ", ".join(fmt_number(v) for v in (x1, y1, x2, y2))
        return f"not a finite number (box {values})"
    if code in (BAD_WIDTH, BAD_HEIGHT):
        axis, size = ("width", x2 - x1) if code == BAD_WIDTH else ("height", y2 - y1)
        return f"zero {axis}" if size == 0 else f"negative {axis} ({fmt_number(size)} px)"
    image = f"{fmt_number(width)}x{fmt_number(height)}"
    if code == OUTSIDE:
        for name, value, low, high in (
            ("xmin", x1, 0.0, width),
            ("ymin", y1, 0.0, height),
            ("xmax", x2, 0.0, width),
            ("ymax", y2, 0.0, height),
        ):
            if value < low - EDGE_TOLERANCE or value > high + EDGE_TOLERANCE:
                return (
                    f"outside the image ({name} {fmt_number(value)} is not within "
                    f"{fmt_number(low)}..{fmt_number(high)} of the {image} image)"
                )
    corners = f"{fmt_number(x1)},{fmt_number(y1)} to {fmt_number(x2)},{fmt_number(y2)}"
    return f"outside the image (box {corners} does not overlap the {image} image)"


def _unknown_categories(draft: Draft, wanted: frozenset[str], source: str) -> None:
    """Raise when the filter names categories the input cannot have (most likely a typo)."""
    if draft.declared is not None:
        known = set(draft.declared)
        missing = sorted(wanted - known)
        if not missing:
            return
        what = "declares no category"
    else:
        known = set(draft.categories)
        if wanted & known or not known:
            return  # a folder of files need not hold every category in every subset
        missing = sorted(wanted)
        what = "has no box of category"
    shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
    raise AnchorError(
        f"{source}: {what} {', '.join(repr(m) for m in missing)}; its categories are: "
        f"{shown or '(none)'}"
    )


def finish(
    draft: Draft,
    fmt: str,
    source: str,
    *,
    wanted: frozenset[str] | None,
    include_choice: bool,
    strict: bool,
) -> Annotations:
    """Filter, check and assemble a reader's draft; see the module docstring for the order.

    ``source`` names the input in errors; ``wanted`` is the category filter (None: all);
    ``include_choice`` keeps the ``by_choice`` boxes. With ``strict`` the first malformed
    entry in input order raises :class:`AnchorError` ``"<where>: <reason>"``.
    """
    n = draft.boxes.shape[0]
    keep = np.ones(n, dtype=bool)
    if wanted is not None:
        _unknown_categories(draft, wanted, source)
        keep = np.fromiter((c in wanted for c in draft.categories), dtype=bool, count=n)
    problems = list(draft.problems)

    candidates = np.flatnonzero(keep)
    widths = np.array([image.width for image in draft.images], dtype=np.float64)
    heights = np.array([image.height for image in draft.images], dtype=np.float64)
    index = draft.image_index[candidates]
    clipped, code = check_boxes(draft.boxes[candidates], widths[index], heights[index])
    for k in np.flatnonzero(code != OK):  # only the bad boxes get per-box Python
        i = int(candidates[k])
        reason = box_reason(int(code[k]), draft.boxes[i], widths[index[k]], heights[index[k]])
        problems.append(Problem(int(draft.order[i]), draft.where(i), reason))
    good = code == OK
    if draft.by_choice is not None and not include_choice:
        left_out = good & draft.by_choice[candidates]
        for k in np.flatnonzero(left_out):
            i = int(candidates[k])
            problems.append(
                Problem(int(draft.order[i]), draft.where(i), draft.choice_reason, False)
            )
        good &= ~left_out

    problems.sort(key=lambda p: p.order)  # stable: ties keep the reader's order
    if strict:
        for problem in problems:
            if problem.malformed:
                raise AnchorError(f"{problem.where}: {problem.reason}")

    chosen = candidates[good]
    if chosen.size == n:
        categories = draft.categories
    else:
        categories = [draft.categories[i] for i in chosen.tolist()]
    return Annotations(
        images=draft.images,
        boxes=np.ascontiguousarray(clipped[good], dtype=np.float64).reshape(-1, 4),
        image_index=draft.image_index[chosen].astype(np.int64, copy=False),
        categories=categories,
        skipped=[Skipped(p.where, p.reason) for p in problems],
        format=fmt,
    )
