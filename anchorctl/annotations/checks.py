"""What every reader shares: checking boxes against their images, and turning a reader's
drafts into :class:`~anchorctl.annotations.stream.BoxChunk` s.

A reader parses its format a chunk at a time into :class:`Draft` s: the candidate boxes
already in anchorctl's convention (pixels, 0-based continuous ``xmin, ymin, xmax, ymax``),
their images and categories, and the entries of that chunk it could not use
(:class:`Problem`). It registers images and category names with the :class:`Context`, which
also takes the problems found outside any chunk (an image entry without a size).
:func:`finish_chunk` then applies, in this order, the category filter (boxes of other
categories are dropped silently), the box checks (malformed boxes are skipped, or with
``strict`` the first malformed entry raises), and the ``iscrowd``/``difficult``/
``IsGroupOf`` choice (left-out boxes are listed as skipped, never raised).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.records import Skipped
from anchorctl.annotations.stream import BoxChunk, ImageTable, SkipLog
from anchorctl.errors import AnchorError

__all__ = [
    "EDGE_TOLERANCE",
    "Context",
    "Draft",
    "Problem",
    "Progress",
    "check_boxes",
    "check_filter",
    "empty_draft",
    "file_progress",
    "finish_chunk",
    "fmt_number",
    "gc_paused",
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
    is False for entries left out by choice (``iscrowd``, ``difficult``, ``IsGroupOf``).
    """

    order: int
    where: str
    reason: str
    malformed: bool = True


@dataclass
class Draft:
    """One chunk of a reader's output before the shared checks.

    ``boxes`` (n, 4) float64 pixels ``xmin, ymin, xmax, ymax`` (0-based continuous);
    ``image`` (n,) int64 rows in the context's images; ``size`` (n, 2) float64 width and
    height of each box's image; ``category`` (n,) int64 indices into the context's category
    names; ``order`` (n,) int64 positions in the input; ``by_choice`` (n,) bool for boxes
    that are left out unless asked for (``choice_reason`` says why). ``where(i)`` names box
    ``i``'s entry; it is called only for boxes that are skipped. ``problems`` are the other
    entries of this chunk that gave no box.
    """

    boxes: npt.NDArray[np.float64]
    image: npt.NDArray[np.int64]
    size: npt.NDArray[np.float64]
    category: npt.NDArray[np.int64]
    order: npt.NDArray[np.int64]
    where: Callable[[int], str]
    problems: list[Problem] = field(default_factory=list)
    by_choice: npt.NDArray[np.bool_] | None = None
    choice_reason: str = ""


def empty_draft(problems: list[Problem] | None = None) -> Draft:
    """A chunk without boxes (only problems, if any)."""
    return Draft(
        boxes=np.zeros((0, 4)),
        image=np.zeros(0, dtype=np.int64),
        size=np.zeros((0, 2)),
        category=np.zeros(0, dtype=np.int64),
        order=np.zeros(0, dtype=np.int64),
        where=str,
        problems=problems or [],
    )


class Context:
    """What a reader fills while it reads: images, category names, skipped entries.

    ``source`` names the input in errors; ``wanted`` is the category filter (None: all);
    ``include_choice`` keeps the boxes left out by choice; ``strict`` raises at the first
    malformed entry; ``declared`` is set by readers whose input declares its category names
    (COCO ``categories``, YOLO names), to check the filter against.
    """

    def __init__(
        self,
        source: str,
        *,
        wanted: frozenset[str] | None,
        include_choice: bool,
        strict: bool,
        skipped: SkipLog,
        progress: Progress | None,
    ) -> None:
        self.source = source
        self.wanted = wanted
        self.include_choice = include_choice
        self.strict = strict
        self.skipped = skipped
        self.progress = progress
        self.images = ImageTable()
        self.category_names: list[str] = []
        self._codes: dict[str, int] = {}
        self.declared: list[str] | None = None
        self.matched = False  # some box passed the category filter
        self._keep_code = np.zeros(0, dtype=bool)

    def category(self, name: str) -> int:
        """The index of a category name, added when new."""
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.category_names)
            self.category_names.append(name)
        return code

    def categories(self, names: list[str]) -> npt.NDArray[np.int64]:
        """:meth:`category` of each name, (n,) int64."""
        codes = self._codes
        if all(name in codes for name in set(names)):
            return np.fromiter(map(codes.__getitem__, names), dtype=np.int64, count=len(names))
        return np.fromiter(map(self.category, names), dtype=np.int64, count=len(names))

    def wanted_name(self, name: str | None) -> bool:
        """Whether an entry of this category is reported (any, without a filter)."""
        return self.wanted is None or name is None or name in self.wanted

    def declare(self, names: Collection[str]) -> None:
        """The input's declared category names: a filter naming others is an error."""
        self.declared = sorted(set(names))
        if self.wanted is not None:
            check_filter(self.wanted, self.declared, declared=True, source=self.source)

    def problem(self, problem: Problem) -> None:
        """An entry outside any chunk that gave no box (raises with ``strict``)."""
        if self.strict and problem.malformed:
            raise AnchorError(f"{problem.where}: {problem.reason}")
        self.skipped.add(problem.order, Skipped(problem.where, problem.reason))

    def keep_codes(self) -> npt.NDArray[np.bool_]:
        """Per category index: whether the filter keeps it."""
        n = len(self.category_names)
        if len(self._keep_code) != n:
            wanted = self.wanted
            self._keep_code = np.array(
                [wanted is None or name in wanted for name in self.category_names], dtype=bool
            )
        return self._keep_code

    def finish(self) -> None:
        """The checks that need the whole input: a filter no box matched (VOC, CSV)."""
        if self.wanted is not None and self.declared is None and not self.matched:
            check_filter(self.wanted, self.category_names, declared=False, source=self.source)


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


def check_filter(
    wanted: frozenset[str], known: Collection[str], *, declared: bool, source: str
) -> None:
    """Raise when the filter names categories the input cannot have (most likely a typo):
    any name not ``declared``, or, for inputs without declared names, every name."""
    if declared:
        missing = sorted(wanted - set(known))
        if not missing:
            return
        what = "declares no category"
    else:
        if wanted & set(known) or not known:
            return  # a folder of files need not hold every category in every subset
        missing = sorted(wanted)
        what = "has no box of category"
    shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
    raise AnchorError(
        f"{source}: {what} {', '.join(repr(m) for m in missing)}; its categories are: "
        f"{shown or '(none)'}"
    )


def finish_chunk(draft: Draft, ctx: Context, first: int) -> BoxChunk:
    """Filter, check and assemble one chunk; see the module docstring for the order.

    ``first`` is the number of boxes already given. Problems go to ``ctx.skipped``; with
    ``ctx.strict`` the first malformed entry of the chunk in input order raises
    :class:`AnchorError` ``"<where>: <reason>"``.
    """
    n = draft.boxes.shape[0]
    if ctx.wanted is not None:
        keep = ctx.keep_codes()[draft.category]
        candidates = np.flatnonzero(keep)
    else:
        candidates = np.arange(n)
    if len(candidates):
        ctx.matched = True
    problems = list(draft.problems)
    size = draft.size[candidates]
    clipped, code = check_boxes(draft.boxes[candidates], size[:, 0], size[:, 1])
    for k in np.flatnonzero(code != OK).tolist():  # only the bad boxes get per-box Python
        i = int(candidates[k])
        reason = box_reason(int(code[k]), draft.boxes[i], size[k, 0], size[k, 1])
        problems.append(Problem(int(draft.order[i]), draft.where(i), reason))
    good = code == OK
    if draft.by_choice is not None and not ctx.include_choice:
        left_out = good & draft.by_choice[candidates]
        for k in np.flatnonzero(left_out).tolist():
            i = int(candidates[k])
            problems.append(
                Problem(int(draft.order[i]), draft.where(i), draft.choice_reason, False)
            )
        good &= ~left_out
    problems.sort(key=lambda p: p.order)  # stable: ties keep the reader's order
    for problem in problems:
        if ctx.strict and problem.malformed:
            raise AnchorError(f"{problem.where}: {problem.reason}")
        ctx.skipped.add(problem.order, Skipped(problem.where, problem.reason))
    chosen = candidates[good]
    return BoxChunk(
        boxes=np.ascontiguousarray(clipped[good], dtype=np.float64).reshape(-1, 4),
        image=draft.image[chosen].astype(np.int64, copy=False),
        image_size=size[good].astype(np.int64),
        category=draft.category[chosen].astype(np.int64, copy=False),
        first=first,
    )
