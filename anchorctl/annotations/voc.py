"""Pascal VOC XML: one ``<annotation>`` file per image, read from a folder (or one file).

What is read from each file:

* ``<filename>``: the image's name (the XML file's stem when absent);
* ``<size><width>``, ``<height>``: the image size in pixels. When it is missing or 0 (some
  converters write 0), the size is read from the image's header instead, looked up as
  ``images_dir/<filename>`` or, in the VOC layout, ``../JPEGImages/<filename>``; when no
  image is found either, the file is skipped;
* each ``<object>``: ``<name>`` (the category), ``<difficult>`` (difficult objects are left
  out unless ``include_difficult``, as the VOC evaluation ignores them) and
  ``<bndbox><xmin>, <ymin>, <xmax>, <ymax>``.

Coordinates. The VOC devkit numbers pixels from 1 and its boxes are inclusive: a box whose
``xmin`` and ``xmax`` are both 1 covers exactly the first pixel column, and ``xmin = 1, xmax
= W`` covers the whole width (../shared/reference/users.md, section 3: "official devkit is
1-based inclusive (top-left pixel is (1,1)); loaders subtract 1"). anchorctl's boxes are
0-based and continuous, so pixel ``i`` (1-based) spans ``i - 1 .. i`` and the box becomes::

    xmin - 1 .. xmax,   ymin - 1 .. ymax     (width = xmax - xmin + 1)

which is what detectron2's ``load_voc_instances`` does ("a box with annotation (xmin=1,
xmax=W) covers the whole image. In coordinate space this is represented by (xmin=0,
xmax=W)"). A file written 0-based by another tool (``xmin = 0``) therefore starts at -1,
within :data:`~anchorctl.annotations.checks.EDGE_TOLERANCE` of the edge, and is clipped to 0.

Safety. Files are parsed with defusedxml, which refuses entity declarations (so no
"billion laughs" expansion) and external entities and references (so no file or network
access); such a file stops the read with a one-line :class:`AnchorError` naming it.

Skipped entries are named ``"<folder>/<file>.xml: object 2"`` (objects counted from 1), or
``"<folder>/<file>.xml"`` for a whole file: one without a usable image size, or one that
cannot be read as a VOC file (not well-formed XML, another root element, larger than
:data:`MAX_FILE_BYTES`, unreadable). Such a file is skipped like any malformed entry, and
the files after it are read; only when no file of the input can be read at all is it an
error. A file that declares XML entities or refers to external resources is refused: the
read stops there, since such a file is an attack rather than an accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_etree  # type: ignore[import-untyped,unused-ignore]
import numpy as np
from defusedxml import (  # type: ignore[import-untyped,unused-ignore]
    DefusedXmlException,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from anchorctl.annotations.checks import Context, Draft, Problem, file_progress
from anchorctl.annotations.textio import read_capped
from anchorctl.errors import AnchorError
from anchorctl.imagesize import image_size
from anchorctl.inputs import SameFileError

__all__ = ["MAX_FILE_BYTES", "parse_voc_xml", "read_voc"]

_COORDS = ("xmin", "ymin", "xmax", "ymax")
MAX_FILE_BYTES = 1 << 24  # 16 MiB: a VOC file with 10,000 objects is about 3 MiB
_BATCH = 65_536  # objects per chunk


class _Refused(AnchorError):
    """A hostile file: the read stops (see the module docstring)."""


def parse_voc_xml(raw: bytes, name: str) -> Element:
    """The ``<annotation>`` root of a VOC file, parsed safely; :class:`AnchorError` otherwise."""
    try:
        root: Element = safe_etree.fromstring(raw)
    except EntitiesForbidden as exc:
        kind = "external entity" if exc.sysid or exc.pubid else "entity"
        target = f" ({exc.sysid or exc.pubid})" if exc.sysid or exc.pubid else ""
        raise _Refused(
            f"{name}: refused to read: it declares the XML {kind} {exc.name!r}{target}; "
            "annotation files must not declare entities"
        ) from None
    except ExternalReferenceForbidden as exc:
        raise _Refused(
            f"{name}: refused to read: it refers to the external resource {exc.sysid!r}; "
            "annotation files must not load other files"
        ) from None
    except DefusedXmlException as exc:
        raise _Refused(f"{name}: refused to read: {' '.join(str(exc).split())}") from None
    except ParseError as exc:
        raise AnchorError(
            f"{name}: not well-formed XML ({' '.join(str(exc).split())}); "
            "expected a Pascal VOC <annotation> file"
        ) from None
    if root.tag != "annotation":
        raise AnchorError(
            f"{name}: expected a Pascal VOC <annotation> root element, found <{root.tag}>"
        )
    return root


def _text(element: Element | None, path: str) -> str | None:
    found = element.find(path) if element is not None else None
    if found is None:
        return None
    return (found.text or "").strip()


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _whole(text: str | None) -> int | None:
    """A size field: a whole number > 0 (``"500"`` or ``"500.0"``), else None."""
    value = _number(text)
    if value is None or not value.is_integer() or value <= 0:
        return None
    return int(value)


def _image_size_fallback(
    filename: str, folder: Path, images_dir: Path | None
) -> tuple[tuple[int, int] | None, str]:
    """Size from the image's header; None and why when no image is found or readable."""
    places = [images_dir] if images_dir is not None else [folder.parent / "JPEGImages"]
    for place in places:
        candidate = place / filename
        if candidate.is_file():
            try:
                return image_size(candidate), ""
            except AnchorError as exc:
                return None, f"missing image size (and {exc})"
    where = " or ".join(str(p) for p in places)
    return (
        None,
        f"missing image size (<size><width>, <height>), and no image {filename!r} in {where}",
    )


def read_voc(
    files: list[tuple[str, str]], ctx: Context, *, images_dir: Path | None = None
) -> Iterator[Draft]:
    """Parse VOC XML files into chunks (see the module docstring).

    ``files`` holds ``(path, name)`` pairs in reading order, ``name`` being how the file is
    named in messages; ``ctx`` takes the images and category names.
    """
    rows: list[list[float]] = []
    image_index: list[int] = []
    sizes: list[tuple[int, int]] = []
    categories: list[str] = []
    order: list[int] = []
    difficult: list[bool] = []
    wheres: list[str] = []
    problems: list[Problem] = []
    position = 0
    unreadable: list[str] = []
    report = file_progress(ctx.progress, len(files))

    def draft() -> Draft:
        kept = list(wheres)
        return Draft(
            boxes=np.array(rows, dtype=np.float64).reshape(-1, 4),
            image=np.array(image_index, dtype=np.int64),
            size=np.array(sizes, dtype=np.float64).reshape(-1, 2),
            category=ctx.categories(categories),
            order=np.array(order, dtype=np.int64),
            where=kept.__getitem__,
            problems=list(problems),
            by_choice=np.array(difficult, dtype=bool),
            choice_reason="difficult",
        )

    for done, (file, name) in enumerate(files):
        file_position = position
        try:
            raw = read_capped(file, name, MAX_FILE_BYTES, "a Pascal VOC <annotation> file")
            root = parse_voc_xml(raw, name)
        except (_Refused, SameFileError):
            raise
        except AnchorError as exc:
            position += 1
            reason = str(exc).removeprefix(f"{name}: ")
            unreadable.append(str(exc))
            problems.append(Problem(file_position, name, reason))
            report(done + 1)
            continue
        filename = _text(root, "filename") or Path(file).stem
        size = root.find("size")
        width, height = _whole(_text(size, "width")), _whole(_text(size, "height"))
        objects = root.findall("object")
        position += 1 + len(objects)
        if width is None or height is None:
            found, why = _image_size_fallback(filename, Path(file).parent, images_dir)
            if found is None:
                problems.append(Problem(file_position, name, why))
                report(done + 1)
                continue
            width, height = found
        index = ctx.images.add([filename], [(width, height)])
        for j, obj in enumerate(objects, start=1):
            where = f"{name}: object {j}"
            category = _text(obj, "name") or ""
            reason, box = _object_box(obj)
            if box is None:
                if ctx.wanted_name(category):
                    problems.append(Problem(file_position + j, where, reason))
                continue
            hard = _number(_text(obj, "difficult")) or 0.0
            rows.append(box)
            image_index.append(index)
            sizes.append((width, height))
            categories.append(category)
            order.append(file_position + j)
            difficult.append(hard != 0)
            wheres.append(where)
        report(done + 1)
        if len(rows) >= _BATCH:
            yield draft()
            for column in (rows, image_index, sizes, categories, order, difficult, wheres):
                column.clear()
            problems = []
    if files and len(unreadable) == len(files):
        raise AnchorError(unreadable[0])  # nothing could be read: the input is wrong
    yield draft()


def _object_box(obj: Element) -> tuple[str, Any]:
    """The object's box converted to 0-based continuous pixels, or a reason and None."""
    bndbox = obj.find("bndbox")
    if bndbox is None:
        return "missing <bndbox>", None
    values: list[float] = []
    for key in _COORDS:
        text = _text(bndbox, key)
        if text is None:
            return f"missing <bndbox><{key}>", None
        value = _number(text)
        if value is None:
            return f"{key}: not a number: {text!r}", None
        values.append(value)
    xmin, ymin, xmax, ymax = values
    return "", [xmin - 1.0, ymin - 1.0, xmax, ymax]  # 1-based inclusive -> 0-based continuous
