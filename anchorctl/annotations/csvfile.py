"""Plain CSV: one box per row, ``image,width,height,xmin,ymin,xmax,ymax[,category]``.

The header row is required; it names the columns, in any order (names are matched without
regard to case or surrounding spaces), and must hold exactly these seven and, optionally,
``category``. Fields are separated by commas, quoted as RFC 4180 (Python's ``csv`` module);
the file is UTF-8, with or without a byte-order mark.

* ``image``: the image's name; ``width``, ``height``: its size, whole pixels > 0, the same
  on every row of that image;
* ``xmin, ymin, xmax, ymax``: the box in pixels, 0-based and continuous (the COCO
  convention, anchorctl's own: a box covering only the first pixel is ``0,0,1,1``);
* ``category``: the box's category (``""`` for every box when the column is absent).

A row whose four box fields are all empty lists an image without objects. Images come in
the order of their first row. Skipped entries are named ``"<file>:12"``: the line of the row
in the file, the header being line 1.

The file is read a block at a time and checked a batch of rows at a time, so memory stays
near one batch plus what is kept per image; a line longer than
:data:`~anchorctl.annotations.textio.MAX_LINE` characters stops the read (not a CSV file).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.checks import Context, Draft, Problem, fmt_number
from anchorctl.annotations.stream import _Growing
from anchorctl.annotations.textio import TextBlocks, lines, open_binary
from anchorctl.errors import AnchorError

__all__ = ["COLUMNS", "read_csv"]

COLUMNS = ("image", "width", "height", "xmin", "ymin", "xmax", "ymax")
_OPTIONAL = ("category",)
_NUMERIC = COLUMNS[1:]
_BOX = COLUMNS[3:]
_EXPECTED = ",".join(COLUMNS) + "[,category]"
_BATCH = 65_536  # rows checked at a time (and per progress step)
# Open Images' box columns (openimages.REQUIRED): told apart up front in a regular file only
_OPEN_IMAGES = frozenset({"imageid", "xmin", "xmax", "ymin", "ymax"})


def _header(row: list[str], name: str) -> dict[str, int]:
    """``column name -> position`` from the header row, or :class:`AnchorError`."""
    names = [cell.strip().lower() for cell in row]
    hint = ""
    if len(names) == 1 and any(sep in names[0] for sep in (";", "\t", "|")):
        hint = " (the fields seem separated by something else than commas)"
    elif set(names) >= _OPEN_IMAGES:
        hint = " (Open Images boxes? name the annotation format openimages)"
    unknown = [n for n in names if n not in COLUMNS and n not in _OPTIONAL]
    missing = [c for c in COLUMNS if c not in names]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if unknown or missing or doubled:
        found = ",".join(row)
        found = found if len(found) <= 80 else found[:77] + "..."
        raise AnchorError(f"{name}: line 1: expected the header {_EXPECTED}, found {found!r}{hint}")
    return {n: k for k, n in enumerate(names)}


def _floats(
    cells: Sequence[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The cells as float64 (NaN where not a number, or empty) and a mask of those cells.

    Spaces around a number are allowed (numpy and ``float`` both strip them)."""
    try:  # Python's float on each cell: several times faster than numpy's own parsing
        values = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
        return values, np.zeros(len(cells), dtype=bool)
    except ValueError:  # some cell is not a number: convert one by one
        out = np.full(len(cells), np.nan)
        bad = np.zeros(len(cells), dtype=bool)
        for k, cell in enumerate(cells):
            try:
                out[k] = float(cell)
            except ValueError:
                bad[k] = True
        return out, bad


class _Images:
    """The images met so far (in the context's table), by name, with the line that gave each."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.index: dict[str, int] = {}
        self.first_line = _Growing()


def read_csv(path: str, name: str, ctx: Context) -> Iterator[Draft]:
    """Parse a CSV file of boxes into chunks (see the module docstring).

    ``name`` is how the file is named in messages; ``ctx`` takes the images and category
    names. Rows are checked a batch at a time, so memory stays near the size of one batch.
    """
    with open_binary(path, name) as handle:
        blocks = TextBlocks(handle, name, f"UTF-8 CSV {_EXPECTED}")
        reader = csv.reader(lines(blocks, f"CSV {_EXPECTED}", ctx.progress))
        images = _Images(ctx)
        rows: list[list[str]] = []
        numbers: list[int] = []
        try:
            header = next(reader, None)
            while header is not None and not header:
                header = next(reader, None)  # blank lines before the header
            if header is None:
                raise AnchorError(f"{name}: empty file; expected the header {_EXPECTED}")
            columns = _header(header, name)
            for row in reader:
                if not row:
                    continue  # a blank line
                rows.append(row)
                numbers.append(reader.line_num)
                if len(rows) == _BATCH:
                    yield _batch(rows, numbers, columns, images, name)
                    rows, numbers = [], []
        except csv.Error as exc:
            raise AnchorError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from None
        yield _batch(rows, numbers, columns, images, name)


def _batch(
    rows: list[list[str]],
    lines: list[int],
    columns: dict[str, int],
    images: _Images,
    name: str,
) -> Draft:
    """Check a batch of rows: new images go to the table, bad rows to the draft's problems."""
    ctx = images.ctx
    n = len(rows)
    line = np.array(lines, dtype=np.int64)
    width_ok = [len(row) == len(columns) for row in rows]
    # A row's first problem, checked in this order: its fields, the image's name and size,
    # the box. A row with a usable image but a bad box still lists the image.
    reasons: list[str | None] = [None] * n
    if not all(width_ok):
        blank = [""] * len(columns)
        for k in range(n):
            if not width_ok[k]:
                reasons[k] = f"expected {len(columns)} fields ({_EXPECTED}), found {len(rows[k])}"
        rows = [row if ok else blank for row, ok in zip(rows, width_ok, strict=True)]
    by_position = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    cells = {c: by_position[columns[c]] for c in (*COLUMNS, *_OPTIONAL) if c in columns}
    names = [cell.strip() for cell in cells["image"]]
    category_cells = cells.get("category", ("",) * n)
    categories = [cell.strip() for cell in category_cells]
    numbers = {column: _floats(cells[column]) for column in _NUMERIC}
    width, height = numbers["width"][0], numbers["height"][0]
    width_whole, height_whole = _whole(width), _whole(height)
    for k in np.flatnonzero(~width_whole | ~height_whole).tolist():
        if reasons[k] is None:
            column = "height" if width_whole[k] else "width"
            cell = cells[column][k].strip()
            reasons[k] = (
                f"{column}: missing"
                if cell == ""
                else f"{column}: expected a whole number of pixels > 0, got {cell!r}"
            )
    for k in range(n):
        if reasons[k] is None and not names[k]:
            reasons[k] = "missing image (the image column is empty)"

    image_index = np.full(n, -1, dtype=np.int64)
    index = images.index
    new_names: list[str] = []
    new_sizes: list[tuple[int, int]] = []
    new_lines: list[int] = []
    first_new = len(ctx.images)
    for k in range(n):
        if reasons[k] is not None:
            continue
        at = index.get(names[k])
        if at is None:
            at = index[names[k]] = first_new + len(new_names)
            new_names.append(names[k])
            new_sizes.append((int(width[k]), int(height[k])))
            new_lines.append(int(line[k]))
        image_index[k] = at
    ctx.images.add(new_names, np.array(new_sizes, dtype=np.int64).reshape(-1, 2))
    images.first_line.extend(new_lines)
    seen = np.flatnonzero(image_index >= 0)
    at_seen = image_index[seen]
    known = ctx.images.sizes[at_seen]
    differs = (known[:, 0] != width[seen]) | (known[:, 1] != height[seen])
    first_lines = images.first_line.values
    for k in seen[differs].tolist():
        at = int(image_index[k])
        record = ctx.images.record(at)
        reasons[k] = (
            f"image size differs from an earlier row ({fmt_number(width[k])}x"
            f"{fmt_number(height[k])}, not {record.width}x{record.height} as on line "
            f"{int(first_lines[at, 0])})"
        )

    # A row whose four box fields are all empty lists an image without objects.
    not_number = [numbers[column][1] for column in _BOX]
    empty_box = np.zeros(n, dtype=bool)
    if any(mask.any() for mask in not_number):
        candidates = np.flatnonzero(np.logical_and.reduce(not_number))
        for k in candidates.tolist():
            empty_box[k] = all(cells[column][k].strip() == "" for column in _BOX)
        for column, mask in zip(_BOX, not_number, strict=True):
            for k in np.flatnonzero(mask & ~empty_box).tolist():
                if reasons[k] is None:
                    cell = cells[column][k].strip()
                    reasons[k] = (
                        f"{column}: missing" if cell == "" else f"{column}: not a number: {cell!r}"
                    )

    problems: list[Problem] = []
    for k, reason in enumerate(reasons):
        if reason is not None:
            # A short row has no readable category: it is reported whatever the filter.
            category = categories[k] if width_ok[k] else None
            if ctx.wanted_name(category):
                problems.append(Problem(int(line[k]), f"{name}:{int(line[k])}", reason))
    has_box = np.array([reason is None for reason in reasons], dtype=bool) & ~empty_box
    usable = np.flatnonzero(has_box)
    kept_lines = line[usable]
    rows_of = image_index[usable]
    return Draft(
        boxes=np.stack([numbers[c][0][usable] for c in _BOX], axis=1).reshape(-1, 4),
        image=rows_of,
        size=ctx.images.sizes[rows_of].astype(np.float64),
        category=ctx.categories([categories[k] for k in usable.tolist()]),
        order=kept_lines,
        where=lambda i: f"{name}:{int(kept_lines[i])}",
        problems=problems,
    )


def _whole(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which values are whole numbers > 0 (NaN is not)."""
    with np.errstate(invalid="ignore"):
        whole: npt.NDArray[np.bool_] = (
            np.isfinite(values) & (values > 0) & (values == np.floor(values))
        )
    return whole
