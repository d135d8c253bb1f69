"""Which annotation format a path holds, and which files of it to read.

Auto-detection, from the path alone (file contents are then checked by the reader):

* a file: ``.json`` is COCO, ``.csv`` the plain CSV (or Open Images boxes, told by the
  header row of a regular file: :func:`anchorctl.annotations.format_of`), ``.xml`` one
  Pascal VOC file, ``.txt`` one YOLO label file;
* a folder: ``.xml`` files make it a Pascal VOC folder, ``.txt`` files a YOLO label folder
  (``classes.txt`` is a class list, not labels); a folder with neither but an
  ``Annotations`` subfolder (the VOC layout) or a ``labels`` subfolder (the YOLO layout) is
  read through that subfolder. A folder holding both kinds, or none, needs the format named.

Files whose names start with a dot (editor and macOS ``._`` files) are not read. Folder
files are read in the order of their sorted names; only the folder itself, not its
subfolders, is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from anchorctl.annotations.records import FORMATS
from anchorctl.errors import AnchorError

__all__ = ["Resolved", "resolve"]

_FILE_SUFFIXES = {".json": "coco", ".csv": "csv", ".xml": "voc", ".txt": "yolo"}
_SUBFOLDERS = {"voc": "Annotations", "yolo": "labels"}
_SUFFIX_OF = {"voc": ".xml", "yolo": ".txt"}
_WHAT = {
    "coco": "a COCO .json file",
    "csv": "a .csv file",
    "openimages": "an Open Images boxes .csv file",
    "voc": "a folder of Pascal VOC .xml files",
    "yolo": "a folder of YOLO .txt label files",
}
_NOT_LABELS = frozenset({"classes.txt"})


@dataclass(frozen=True)
class Resolved:
    """What to read: the format, the file or folder, and the files of a folder.

    ``display`` names the input in messages (the path as given, or its subfolder);
    ``files`` are ``(path, name in messages)`` pairs for VOC and YOLO, in reading order;
    ``folder`` is the folder the files are in.
    """

    fmt: str
    path: Path
    display: str
    files: list[tuple[str, str]]
    folder: Path


def _listing(folder: Path, display: str) -> dict[str, list[str]]:
    """The folder's ``.xml`` and ``.txt`` files and its subfolders, by kind, sorted."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except PermissionError:
        raise AnchorError(f"{display}: permission denied") from None
    except OSError as exc:
        raise AnchorError(f"{display}: cannot list the folder ({exc.strerror})") from None
    found: dict[str, list[str]] = {".xml": [], ".txt": [], "dirs": [], "other": []}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found["dirs"].append(entry.name)
            continue
        suffix = os.path.splitext(entry.name)[1].lower()
        if suffix == ".txt" and entry.name.lower() in _NOT_LABELS:
            continue
        found[suffix if suffix in (".xml", ".txt") else "other"].append(entry.name)
    return found


def _folder_files(
    fmt: str, folder: Path, display: str, listing: dict[str, list[str]] | None = None
) -> Resolved:
    listing = listing if listing is not None else _listing(folder, display)
    suffix = _SUFFIX_OF[fmt]
    if not listing[suffix]:
        sub = _SUBFOLDERS[fmt]
        if sub in listing["dirs"]:
            inner = folder / sub
            inner_display = os.path.join(display, sub)
            inner_listing = _listing(inner, inner_display)
            if inner_listing[suffix]:
                return _folder_files(fmt, inner, inner_display, inner_listing)
        raise AnchorError(f"{display}: {_empty_reason(listing, fmt)}")
    base = os.fspath(folder)
    files = [(os.path.join(base, n), os.path.join(display, n)) for n in listing[suffix]]
    return Resolved(fmt, folder, display, files, folder)


def _empty_reason(listing: dict[str, list[str]], fmt: str) -> str:
    """Why a folder cannot be read as ``fmt`` (``None``: as any format)."""
    other = ".txt" if fmt == "voc" else ".xml"
    expected = f"expected {_WHAT[fmt]}"
    if listing[other]:
        kind = "YOLO labels" if other == ".txt" else "Pascal VOC annotations"
        return f"holds no {_SUFFIX_OF[fmt]} files but {other} files ({kind}?); {expected}"
    if not any(listing.values()):
        return f"empty folder; {expected}"
    json_files = [n for n in listing["other"] if n.lower().endswith((".json", ".csv"))]
    hint = f" (give the file {json_files[0]!r} itself?)" if json_files else ""
    return f"holds no {_SUFFIX_OF[fmt]} files{hint}; {expected}"


def resolve(path: str | os.PathLike[str], fmt: str | None = None) -> Resolved:
    """The format of ``path`` (``fmt`` when given) and what to read; see the module docstring."""
    display = os.fspath(path)
    if fmt is not None and fmt not in FORMATS:
        raise AnchorError(f"annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    target = Path(path)
    if not target.exists():
        raise AnchorError(f"{display}: no such file or folder")
    if target.is_dir():
        if fmt in ("coco", "csv", "openimages"):
            raise AnchorError(f"{display}: is a folder; expected {_WHAT[fmt]}")
        if fmt is not None:
            return _folder_files(fmt, target, display)
        listing = _listing(target, display)
        if listing[".xml"] and listing[".txt"]:
            raise AnchorError(
                f"{display}: holds both .xml (Pascal VOC) and .txt (YOLO) files; "
                "name the annotation format"
            )
        for kind, suffix in (("voc", ".xml"), ("yolo", ".txt")):
            if listing[suffix]:
                return _folder_files(kind, target, display, listing)
        for kind, sub in _SUBFOLDERS.items():
            if sub in listing["dirs"]:
                return _folder_files(kind, target, display, listing)
        if not any(listing.values()):
            reason = "empty folder"
        else:
            json_files = [n for n in listing["other"] if n.lower().endswith((".json", ".csv"))]
            hint = f" (give the file {json_files[0]!r} itself?)" if json_files else ""
            reason = f"holds no .xml or .txt annotation files{hint}"
        raise AnchorError(
            f"{display}: {reason}; expected a folder of Pascal VOC .xml or YOLO .txt files, "
            "a COCO .json file or a .csv file"
        )
    suffix = target.suffix.lower()
    chosen = fmt or _FILE_SUFFIXES.get(suffix)
    if chosen is None:
        raise AnchorError(
            f"{display}: cannot tell the annotation format from the suffix {suffix or '(none)'!r}"
            "; expected a COCO .json or a .csv file, or a folder of Pascal VOC .xml or YOLO "
            ".txt files, or the format named"
        )
    return Resolved(chosen, target, display, [(display, display)], target.parent)
