"""YOLO (darknet / ultralytics) label files: one ``.txt`` per image, same stem as the image.

Each row is ``class cx cy w h``: a class id (a whole number from 0) and the box centre and
size, normalized by the image's width and height. In pixels of a ``W x H`` image the box is::

    xmin = (cx - w / 2) * W    xmax = (cx + w / 2) * W
    ymin = (cy - h / 2) * H    ymax = (cy + h / 2) * H

Columns after the fifth (a confidence in prediction files) are ignored; a row with fewer
than five values is skipped. Note that segmentation labels (``class x1 y1 x2 y2 ...``
polygons) are not told apart: their first four coordinates would be read as a box. An empty
label file is an image without objects; images without a label file are not listed (the
reader is driven by the label files).

Image sizes are not in the label files. They come from ``image_size`` (one ``(W, H)`` for
every image) or from the matching image's header (:func:`anchorctl.imagesize.image_size`,
which reads only the header), found by stem among the image files (``.jpg``, ``.png``, ...)
of ``images_dir`` when given, else of the label folder itself and of its sibling ``images``
folder (``.../labels/train`` -> ``.../images/train``, as ultralytics pairs them). A label file
whose image is not found is skipped, unless ``image_size`` is given; if no label file has an
image, the read stops with an error saying where it looked.

Class names come from the first of ``data.yaml`` (its ``names``: a list, or a mapping from
id to name) and ``classes.txt`` (one name per line) found in the label folder, its parent,
or the folder above ``labels``; without them a class's name is its id as text. A class id
with no name in the file found is skipped.

Skipped entries are named ``"<folder>/<file>.txt:4"`` (line 4), or ``"<folder>/<file>.txt"``
for a file whose image is missing or that cannot be read (not UTF-8 text, a line longer
than :data:`~anchorctl.annotations.textio.MAX_LINE` characters, unreadable); the files
after it are read. Rows are converted to numbers a batch at a time, across files, so
memory stays near one batch whatever the number of files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.checks import (
    Context,
    Draft,
    Problem,
    file_progress,
    fmt_number,
)
from anchorctl.annotations.records import ImageRecord
from anchorctl.annotations.textio import TextBlocks, lines, open_binary, read_capped
from anchorctl.errors import AnchorError
from anchorctl.imagesize import image_size as read_image_size
from anchorctl.inputs import SameFileError

__all__ = ["IMAGE_SUFFIXES", "class_names", "image_folders", "read_yolo"]

# The image suffixes ultralytics accepts (IMG_FORMATS), in the order a stem is matched.
IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".dng", ".mpo", ".pfm", ".heic"
)  # fmt: skip
_NAME_FILES = ("data.yaml", "classes.txt")
NAMES_BYTES = 1 << 22  # a class list: ultralytics' largest (Objects365, 365 names) is ~10 KiB
_BATCH = 65_536  # rows converted to numbers at a time


def image_folders(label_dir: Path, images_dir: Path | None) -> list[Path]:
    """Where a label folder's images are looked for, in order (see the module docstring)."""
    if images_dir is not None:
        return [images_dir]
    folders = [label_dir]
    parts = label_dir.parts
    if "labels" in parts:
        at = len(parts) - 1 - parts[::-1].index("labels")  # the last "labels", as ultralytics
        folders.append(Path(*parts[:at], "images", *parts[at + 1 :]))
    return folders


def _images_by_stem(folder: Path) -> dict[str, str]:
    """``stem -> file name`` of the images in ``folder`` (first suffix in IMAGE_SUFFIXES wins)."""
    rank = {suffix: k for k, suffix in enumerate(IMAGE_SUFFIXES)}
    found: dict[str, tuple[int, str]] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return {}
    for entry in entries:
        stem, suffix = os.path.splitext(entry.name)
        k = rank.get(suffix.lower())
        if k is None or entry.name.startswith("."):
            continue
        if (stem not in found or k < found[stem][0]) and entry.is_file():
            found[stem] = (k, entry.name)
    return {stem: name for stem, (_, name) in found.items()}


def class_names(label_dir: Path) -> tuple[dict[int, str], str] | None:
    """Class names from the first ``data.yaml`` or ``classes.txt`` found, and that file's path."""
    folders = [label_dir, label_dir.parent]
    parts = label_dir.parts
    if "labels" in parts:
        at = len(parts) - 1 - parts[::-1].index("labels")
        folders.append(Path(*parts[:at]) if at else Path("."))
    seen: set[Path] = set()
    for folder in folders:
        if folder in seen:
            continue
        seen.add(folder)
        for file_name in _NAME_FILES:
            path = folder / file_name
            if not path.is_file():
                continue
            raw = read_capped(path, str(path), NAMES_BYTES, "a data.yaml or classes.txt")
            text = _decode(raw, str(path))
            if file_name == "classes.txt":
                lines = [line.strip() for line in text.splitlines()]
                while lines and not lines[-1]:
                    lines.pop()
                return dict(enumerate(lines)), str(path)
            names = parse_yaml_names(text, str(path))
            if names is not None:
                return names, str(path)
    return None


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnchorError(f"{name}: not a text file (expected UTF-8 text)") from None


_QUOTED = re.compile(r"""\s*('(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^,#]*?)\s*(?:,|$)""")


def _scalar(text: str) -> str:
    """A YAML scalar as written in ``names`` (quoted or plain), comment removed."""
    text = text.strip()
    if text[:1] == "'" and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text[:1] == '"' and text.endswith('"') and len(text) >= 2:
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return re.sub(r"\s+#.*$", "", text).strip()


def _split_flow(body: str) -> list[str]:
    """Items of a flow collection body (between the brackets), quotes respected."""
    items: list[str] = []
    position = 0
    while position < len(body):
        match = _QUOTED.match(body, position)
        if match is None or match.end() == position:
            break
        items.append(match.group(1))
        position = match.end()
    return [item for item in items if item.strip()]


def parse_yaml_names(text: str, name: str) -> dict[int, str] | None:
    """The ``names`` of an ultralytics ``data.yaml``, without a YAML library.

    Accepted forms (those ultralytics writes and documents): a block mapping (``names:`` then
    ``  0: person`` lines), a block list (``  - person``), a flow list (``names: [a, 'b']``)
    or a flow mapping (``names: {0: a, 1: b}``). Returns None when there is no ``names`` key.
    """
    lines = text.splitlines()
    for k, line in enumerate(lines):
        match = re.match(r"names\s*:(.*)$", line)
        if match is None:
            continue
        rest = re.sub(r"^\s*#.*$", "", match.group(1)).strip()
        names: dict[int, str] = {}
        try:
            if rest.startswith("["):
                body = rest[1 : rest.rindex("]")]
                names = dict(enumerate(_scalar(item) for item in _split_flow(body)))
            elif rest.startswith("{"):
                body = rest[1 : rest.rindex("}")]
                for item in _split_flow(body):
                    key, _, value = item.partition(":")
                    names[int(key.strip())] = _scalar(value)
            elif not rest:
                for block in lines[k + 1 :]:
                    if not block.strip() or block.lstrip().startswith("#"):
                        continue
                    if not block[:1].isspace() and not block.startswith("-"):
                        break  # the next top-level key
                    item = block.strip()
                    if item.startswith("-"):
                        names[len(names)] = _scalar(item[1:])
                    else:
                        key, _, value = item.partition(":")
                        names[int(key.strip())] = _scalar(value)
            else:
                raise ValueError(rest)
        except ValueError:
            raise AnchorError(
                f"{name}: cannot read 'names' at line {k + 1}; expected a list of class "
                "names or a mapping from class id to name"
            ) from None
        return names
    return None


def _label_lines(file: str, name: str) -> list[str]:
    """The lines of one label file, read in bounded memory."""
    with open_binary(file, name) as handle:
        blocks = TextBlocks(handle, name, "YOLO labels (UTF-8 text)")
        return list(lines(blocks, "YOLO label rows (class cx cy w h)"))


def read_yolo(
    files: list[tuple[str, str]],
    label_dir: Path,
    ctx: Context,
    *,
    image_size: tuple[int, int] | None = None,
    images_dir: Path | None = None,
) -> Iterator[Draft]:
    """Parse YOLO label files into chunks (see the module docstring).

    ``files`` holds ``(path, name)`` pairs in reading order, ``name`` being how each file is
    named in messages; ``label_dir`` is their folder; ``ctx`` takes the images and names.
    """
    found_names = class_names(label_dir)
    names: Mapping[int, str] | None = found_names[0] if found_names else None
    names_file = found_names[1] if found_names else ""
    if names is not None:
        ctx.declare(names.values())
    folders = image_folders(label_dir, images_dir)
    lookups = [_images_by_stem(folder) for folder in folders]

    batch = _Rows()
    missing = 0
    position = 0
    report = file_progress(ctx.progress, len(files))
    for done, (file, name) in enumerate(files):
        base = position
        try:
            text_lines = _label_lines(file, name)
        except SameFileError:
            raise
        except AnchorError as exc:
            position += 1
            batch.problems.append(Problem(base, name, str(exc).removeprefix(f"{name}: ")))
            report(done + 1)
            continue
        position += 1 + len(text_lines)
        record, why = _image_record(file, folders, lookups, image_size)
        if record is None:
            missing += 1
            batch.problems.append(Problem(base, name, why))
        else:
            image = ctx.images.add([record.name], [(record.width, record.height)])
            rows = [line.split() for line in text_lines]
            if all(len(row) == 5 for row in rows):  # the common case: no blank or odd rows
                batch.add(rows, range(1, len(rows) + 1), image, record, base, name)
            else:
                kept: list[list[str]] = []
                numbers: list[int] = []
                for number, row in enumerate(rows, start=1):
                    if not row:
                        continue
                    if len(row) < 5:
                        reason = f"expected 5 values (class cx cy w h), found {len(row)}"
                        batch.problems.append(Problem(base + number, f"{name}:{number}", reason))
                        continue
                    kept.append(row[:5])  # columns past the fifth are ignored
                    numbers.append(number)
                batch.add(kept, numbers, image, record, base, name)
        report(done + 1)
        if len(batch.tokens) >= _BATCH:
            yield batch.draft(ctx, names, names_file)
            batch = _Rows()

    if files and missing == len(files):
        looked = " and ".join(str(folder) for folder in folders)
        raise AnchorError(
            f"{files[0][1]}: no image found for any of the {len(files)} label files (looked "
            f"in {looked}); give the images folder or one image size for all"
        )
    yield batch.draft(ctx, names, names_file)


class _Rows:
    """Label rows gathered across files until there are enough to convert at once."""

    def __init__(self) -> None:
        self.tokens: list[list[str]] = []  # per row: its first five fields, as text
        self.image: list[int] = []
        self.size: list[tuple[int, int]] = []
        self.order: list[int] = []
        self.where: list[tuple[str, int]] = []  # (file name, line) per row
        self.problems: list[Problem] = []

    def add(
        self,
        rows: list[list[str]],
        numbers: range | list[int],
        image: int,
        record: ImageRecord,
        base: int,
        name: str,
    ) -> None:
        count = len(rows)
        self.tokens.extend(rows)
        self.image.extend([image] * count)
        self.size.extend([(record.width, record.height)] * count)
        self.order.extend(base + number for number in numbers)
        self.where.extend((name, number) for number in numbers)

    def draft(self, ctx: Context, names: Mapping[int, str] | None, names_file: str) -> Draft:
        values, bad = _numbers(self.tokens, 0)
        keep, labels, reasons = _classes(values[:, 0], bad, names, names_file)
        order = np.array(self.order, dtype=np.int64)
        for k, reason in reasons:
            name, number = self.where[k]
            self.problems.append(Problem(int(order[k]), f"{name}:{number}", reason))
        sizes = np.array(self.size, dtype=np.float64).reshape(-1, 2)[keep]
        widths, heights = sizes[:, 0], sizes[:, 1]
        cx, cy, w, h = values[keep, 1:].T
        boxes = np.stack(
            [
                (cx - w / 2) * widths,
                (cy - h / 2) * heights,
                (cx + w / 2) * widths,
                (cy + h / 2) * heights,
            ],
            axis=1,
        ).reshape(-1, 4)
        kept_rows = np.flatnonzero(keep)
        wheres = self.where

        def where(i: int) -> str:
            name, number = wheres[int(kept_rows[i])]
            return f"{name}:{number}"

        return Draft(
            boxes=boxes,
            image=np.array(self.image, dtype=np.int64)[keep],
            size=sizes,
            category=ctx.categories(labels),
            order=order[keep],
            where=where,
            problems=self.problems,
        )


def _numbers(
    tokens: list[list[str]], first: int
) -> tuple[npt.NDArray[np.float64], list[tuple[int, str]]]:
    """Rows of five fields as (n, 5) float64, and ``(first + k, reason)`` for each row ``k``
    with a field that is not a number (its values are NaN)."""
    try:
        return np.array(tokens, dtype=np.float64).reshape(-1, 5), []
    except ValueError:  # some field is not a number: find them row by row
        values = np.full((len(tokens), 5), np.nan)
        bad: list[tuple[int, str]] = []
        for k, row in enumerate(tokens):
            try:
                values[k] = [float(field) for field in row]
            except ValueError:
                field = next(f for f in row if not _is_number(f))
                bad.append((first + k, f"not a number: {field!r}"))
        return values, bad


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _classes(
    classes: npt.NDArray[np.float64],
    not_number: list[tuple[int, str]],
    names: Mapping[int, str] | None,
    names_file: str,
) -> tuple[npt.NDArray[np.bool_], list[str], list[tuple[int, str]]]:
    """Which rows have a usable class, their class names, and ``(row, reason)`` for the rest."""
    keep = np.ones(classes.shape[0], dtype=bool)
    reasons = list(not_number)
    for k, _ in not_number:
        keep[k] = False
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(classes) & (classes >= 0) & (classes == np.floor(classes))
    for k in np.flatnonzero(keep & ~whole).tolist():
        reasons.append((k, f"class id must be a whole number >= 0, got {fmt_number(classes[k])}"))
        keep[k] = False
    ids = classes[keep].astype(np.int64)
    if names is None:
        text = {int(i): str(int(i)) for i in np.unique(ids)}
        return keep, list(map(text.__getitem__, ids.tolist())), sorted(reasons)
    unnamed = ~np.isin(ids, np.fromiter(names, dtype=np.int64, count=len(names)))
    kept_rows = np.flatnonzero(keep)
    for k in kept_rows[unnamed].tolist():
        reasons.append((k, f"no name for the class id ({int(classes[k])} is not in {names_file})"))
    keep[kept_rows[unnamed]] = False
    labels = list(map(names.__getitem__, ids[~unnamed].tolist()))
    return keep, labels, sorted(reasons)


def _image_record(
    label: str,
    folders: list[Path],
    lookups: list[dict[str, str]],
    image_size: tuple[int, int] | None,
) -> tuple[ImageRecord | None, str]:
    stem = os.path.splitext(os.path.basename(label))[0]
    for folder, lookup in zip(folders, lookups, strict=True):
        file_name = lookup.get(stem)
        if file_name is None:
            continue
        if image_size is not None:
            return ImageRecord(file_name, *image_size), ""
        try:
            width, height = read_image_size(folder / file_name)
        except AnchorError as exc:
            return None, f"unreadable image ({exc})"
        return ImageRecord(file_name, width, height), ""
    if image_size is not None:
        return ImageRecord(stem, *image_size), ""
    looked = " or ".join(str(folder) for folder in folders)
    return None, f"missing image (no {stem}.jpg, .png, ... in {looked})"
