"""COCO instances JSON: ``images``, ``annotations`` and ``categories`` in one file.

What is read:

* ``images[]``: ``id``, ``width`` and ``height`` (whole pixels > 0), ``file_name`` (the
  image's name; the id as text when absent). An image entry without a usable size, or with
  an id seen before, is skipped, and so are its annotations.
* ``annotations[]``: ``bbox = [x, y, width, height]``, top-left corner and size in pixels,
  0-based continuous (cocodataset/cocoapi#5: a box covering only the first pixel is
  ``[0, 0, 1, 1]``), so the box is ``x, y, x + width, y + height`` in anchorctl's
  convention; ``image_id``; ``category_id``; ``iscrowd`` (crowd regions are left out unless
  ``include_crowd``: they are not instances and detectors ignore them in matching).
* ``categories[]``: ``id`` and ``name``. When the file has no ``categories`` list, each
  box's category is its ``category_id`` as text (``""`` when it has none).

Skipped entries are named ``"<file>: annotation id 17"`` (``"<file>: annotations[5]"`` for an
entry without an id) and ``"<file>: image id 3"``.

Large files: the JSON is parsed by the standard library (with the cyclic garbage collector
paused by :func:`~anchorctl.annotations.read_annotations`), and the annotation lists are
turned into numpy arrays a chunk at a time and checked with array operations; image and
category ids are matched with a sorted search when they are integers. Only entries that
fail the fast path get per-entry Python.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.checks import Draft, Problem, Progress, read_bytes
from anchorctl.annotations.records import ImageRecord
from anchorctl.errors import AnchorError

__all__ = ["read_coco"]

_CHUNK = 65_536  # annotations per fast-path chunk (and per progress step)

# Codes of an annotation's image lookup.
_UNKNOWN_IMAGE = -1
_SKIPPED_IMAGE = -2


def _load_json(path: str, name: str) -> Any:
    """The parsed file. It is decoded first so that its bytes are freed before the parse
    (JSON is UTF-8, RFC 8259), which keeps one copy of the text in memory instead of two."""
    try:
        text = read_bytes(path, name).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnchorError(f"{name}: not a text file; expected COCO JSON in UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnchorError(
            f"{name}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); "
            "expected a COCO instances file"
        ) from None
    except RecursionError:
        raise AnchorError(f"{name}: not a COCO file (JSON nested too deeply)") from None


def _size(value: Any) -> int | None:
    """An image width or height: a JSON number with a whole value > 0 (``640`` or ``640.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value > 0 else None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _categories(data: dict[str, Any], name: str) -> dict[Hashable, str] | None:
    """``category id -> name`` from the ``categories`` list, None when there is none."""
    if "categories" not in data:
        return None
    categories = data["categories"]
    if not isinstance(categories, list):
        raise AnchorError(
            f"{name}: key 'categories' must be a list of {{'id', 'name'}} objects, "
            f"found {type(categories).__name__}"
        )
    names: dict[Hashable, str] = {}
    for k, entry in enumerate(categories):
        if not isinstance(entry, dict) or "id" not in entry or "name" not in entry:
            raise AnchorError(
                f"{name}: categories[{k}] must be an object with 'id' and 'name', "
                f"found {_describe(entry)}"
            )
        cid = entry["id"]
        if not isinstance(cid, Hashable) or isinstance(cid, bool):
            raise AnchorError(f"{name}: categories[{k}]: 'id' must be a number or text")
        names[cid] = str(entry["name"])
    return names


def _images_fast(images: list[Any]) -> tuple[list[ImageRecord], dict[Hashable, int]] | None:
    """Image records and ``id -> index`` when every entry is well formed, else None.

    Well formed: an object with a unique ``id`` and integer ``width`` and ``height`` > 0.
    Anything else (including ``640.0``) goes through the per-entry path of :func:`_images`.
    """
    n = len(images)
    try:
        ids = [entry["id"] for entry in images]
        widths = np.array([entry["width"] for entry in images])
        heights = np.array([entry["height"] for entry in images])
        file_names = [entry.get("file_name") for entry in images]
        if len(set(ids)) != n or None in ids:
            return None
    except (TypeError, KeyError, AttributeError, ValueError, OverflowError):
        return None
    for sizes in (widths, heights):
        if sizes.shape != (n,) or sizes.dtype.kind not in "iu" or (sizes <= 0).any():
            return None
    if any(isinstance(i, bool) for i in ids):
        return None
    labels = [
        f if type(f) is str else str(i) if f is None else str(f)
        for f, i in zip(file_names, ids, strict=True)
    ]
    records = list(map(ImageRecord, labels, widths.tolist(), heights.tolist()))
    return records, dict(zip(ids, range(n), strict=True))


def _images(
    images: list[Any], name: str
) -> tuple[list[ImageRecord], dict[Hashable, int], list[Problem]]:
    """Image records, ``image id -> index`` (or ``_SKIPPED_IMAGE``), and the bad entries."""
    fast = _images_fast(images)
    if fast is not None:
        return fast[0], fast[1], []
    records: list[ImageRecord] = []
    index: dict[Hashable, int] = {}
    problems: list[Problem] = []
    for k, entry in enumerate(images):
        if not isinstance(entry, dict):
            problems.append(
                Problem(k, f"{name}: images[{k}]", f"expected an object, found {_describe(entry)}")
            )
            continue
        iid = entry.get("id")
        where = f"{name}: image id {iid}" if iid is not None else f"{name}: images[{k}]"
        if iid is None or isinstance(iid, bool) or not isinstance(iid, Hashable):
            problems.append(Problem(k, where, "missing id (a number or text)"))
            continue
        if iid in index:
            problems.append(Problem(k, where, "duplicate image id; the first entry is used"))
            continue
        width = _size(entry.get("width"))
        height = _size(entry.get("height"))
        if width is None or height is None:
            key = "width" if width is None else "height"
            value = entry.get(key)
            got = "nothing" if value is None else _describe(value)
            problems.append(
                Problem(k, where, f"{key}: expected a whole number of pixels > 0, got {got}")
            )
            index[iid] = _SKIPPED_IMAGE
            continue
        file_name = entry.get("file_name")
        label = str(file_name) if file_name is not None else str(iid)
        index[iid] = len(records)
        records.append(ImageRecord(label, width, height))
    return records, index, problems


class _Table:
    """``id -> index`` lookups, vectorized with a sorted search when all ids are integers."""

    def __init__(self, table: dict[Hashable, int]) -> None:
        self.table = table
        self.sorted_ids: npt.NDArray[np.int64] | None = None
        ids = list(table)
        if all(type(i) is int for i in ids):  # not bool, not float
            try:
                keys = np.array(ids, dtype=np.int64).reshape(-1)
            except OverflowError:
                return
            order = np.argsort(keys, kind="stable")
            self.sorted_ids = keys[order]
            self.sorted_values = np.array(list(table.values()), dtype=np.int64)[order]

    def lookup(self, keys: list[Any], missing: int) -> npt.NDArray[np.int64]:
        """``table[key]`` for each key; ``missing`` when absent or not a valid key."""
        m = len(keys)
        if self.sorted_ids is not None and self.sorted_ids.size:
            asked = np.array(keys)
            if asked.shape == (m,) and asked.dtype.kind == "i":  # all ints (bools would be "b")
                at = np.minimum(np.searchsorted(self.sorted_ids, asked), self.sorted_ids.size - 1)
                found = self.sorted_ids[at] == asked
                return np.where(found, self.sorted_values[at], missing).astype(np.int64)
        try:
            return np.fromiter(map(self.table.get, keys, [missing] * m), dtype=np.int64, count=m)
        except TypeError:  # an unhashable key (a list or an object) somewhere in this run
            out = np.full(m, missing, dtype=np.int64)
            for k, key in enumerate(keys):
                if isinstance(key, Hashable):
                    out[k] = self.table.get(key, missing)
            return out


def _bbox(entry: Any) -> tuple[list[float] | None, str]:
    """One annotation's bbox as 4 floats, or None and the reason (the slow path)."""
    if not isinstance(entry, dict):
        return None, f"expected an object, found {_describe(entry)}"
    if "bbox" not in entry:
        return None, "missing bbox"
    bbox = entry["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        return None, f"bbox must be 4 numbers [x, y, width, height], got {_describe(bbox)}"
    for value in bbox:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"not a number: {_describe(value)}"
    return [float(v) for v in bbox], ""


def _get(entry: Any, key: str, default: Any = None) -> Any:
    return entry.get(key, default) if isinstance(entry, dict) else default


class _Chunk:
    """The fast-path columns of a run of annotations, with per-entry fallbacks."""

    def __init__(self, entries: list[Any]) -> None:
        m = len(entries)
        self.reasons: list[str | None] = [None] * m
        self.slow = False
        try:
            boxes = np.array([a["bbox"] for a in entries])
            fast = boxes.shape == (m, 4) and boxes.dtype.kind in "iuf"
            self.image_ids = [a["image_id"] for a in entries]
            self.category_ids = [a.get("category_id") for a in entries]
            crowd = [a.get("iscrowd", 0) for a in entries]
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError):
            fast = False
        if fast:
            self.xywh = boxes.astype(np.float64, copy=False).reshape(m, 4)
            flags = np.array(crowd)
            if flags.shape == (m,) and flags.dtype.kind in "biuf":
                self.crowd = flags != 0
            else:
                self.crowd = np.array([bool(c) for c in crowd], dtype=bool)
            return
        # Some entry is not of the expected shape: go through them one by one.
        self.slow = True
        self.xywh = np.full((m, 4), np.nan)
        self.image_ids = [_get(a, "image_id") for a in entries]
        self.category_ids = [_get(a, "category_id") for a in entries]
        self.crowd = np.array([bool(_get(a, "iscrowd", 0)) for a in entries], dtype=bool)
        for k, entry in enumerate(entries):
            bbox, reason = _bbox(entry)
            if bbox is None:
                self.reasons[k] = reason
            else:
                self.xywh[k] = bbox


def read_coco(
    path: str,
    name: str,
    *,
    wanted: frozenset[str] | None,
    progress: Progress | None = None,
) -> Draft:
    """Parse a COCO instances file into a :class:`Draft` (see the module docstring).

    ``name`` is how the file is named in messages; ``wanted`` the category filter, used here
    only to leave unreadable entries of other categories unreported.
    """
    data = _load_json(path, name)
    if not isinstance(data, dict):
        hint = " (a detection results file?)" if isinstance(data, list) else ""
        raise AnchorError(
            f"{name}: expected a COCO object with 'images' and 'annotations' lists, "
            f"found a JSON {type(data).__name__}{hint}"
        )
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            found = "missing" if key not in data else f"a {type(data[key]).__name__}"
            raise AnchorError(f"{name}: expected key '{key}' to be a list, found {found}")
    cat_names = _categories(data, name)
    images, image_index, problems = _images(data["images"], name)
    annotations: list[Any] = data["annotations"]
    n_images, n = len(data["images"]), len(annotations)
    total = n_images + n
    if progress is not None:
        progress(n_images, total)

    box_parts: list[npt.NDArray[np.float64]] = []
    index_parts: list[npt.NDArray[np.int64]] = []
    crowd_parts: list[npt.NDArray[np.bool_]] = []
    entry_parts: list[npt.NDArray[np.int64]] = []
    categories: list[str] = []

    def ann_where(k: int) -> str:
        aid = _get(annotations[k], "id")
        if aid is None or isinstance(aid, (dict, list)):
            return f"{name}: annotations[{k}]"
        return f"{name}: annotation id {aid}"

    image_table = _Table(image_index)
    # Category ids map to positions in category_list; the last position stands for "unknown".
    category_list: list[str | None] = []
    category_table = None
    if cat_names is not None:
        category_list = [*cat_names.values(), None]
        category_table = _Table({cid: k for k, cid in enumerate(cat_names)})
    for start in range(0, n, _CHUNK):
        chunk = _Chunk(annotations[start : start + _CHUNK])
        m = len(chunk.reasons)
        looked_up = image_table.lookup(chunk.image_ids, _UNKNOWN_IMAGE)
        bad = looked_up < 0
        if category_table is None:
            names: list[str | None] = ["" if c is None else str(c) for c in chunk.category_ids]
        else:
            unknown = len(category_list) - 1
            at = category_table.lookup(chunk.category_ids, unknown)
            names = list(map(category_list.__getitem__, at.tolist()))
            bad |= at == unknown
        if chunk.slow:
            bad |= np.array([r is not None for r in chunk.reasons], dtype=bool)
        for k in np.flatnonzero(bad).tolist():
            category = names[k]
            if wanted is not None and category is not None and category not in wanted:
                continue  # an entry of a category not asked for: not reported
            reason = chunk.reasons[k]
            if reason is None:
                image_id = chunk.image_ids[k]
                if looked_up[k] == _SKIPPED_IMAGE:
                    reason = f"its image was skipped (image id {image_id})"
                elif looked_up[k] == _UNKNOWN_IMAGE:
                    reason = (
                        "missing image_id"
                        if image_id is None
                        else f"unknown image id ({_describe(image_id)})"
                    )
                else:
                    reason = f"unknown category id ({_describe(chunk.category_ids[k])})"
            problems.append(Problem(n_images + start + k, ann_where(start + k), reason))
        good = np.flatnonzero(~bad)
        xywh = chunk.xywh[good]
        box_parts.append(
            np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)  # xywh -> xyxy
        )
        index_parts.append(looked_up[good])
        crowd_parts.append(chunk.crowd[good])
        entry_parts.append(good + start)
        categories.extend(names[k] or "" for k in good.tolist())
        if progress is not None:
            progress(n_images + start + m, total)

    entry = _concat(entry_parts, np.int64, (0,))

    def where(i: int) -> str:
        return ann_where(int(entry[i]))

    return Draft(
        images=images,
        boxes=_concat(box_parts, np.float64, (0, 4)),
        image_index=_concat(index_parts, np.int64, (0,)),
        categories=categories,
        order=entry + n_images,
        where=where,
        problems=problems,
        by_choice=_concat(crowd_parts, np.bool_, (0,)),
        choice_reason="iscrowd",
        declared=None if cat_names is None else sorted(set(cat_names.values())),
    )


def _concat(parts: list[Any], dtype: Any, empty_shape: tuple[int, ...]) -> Any:
    if not parts:
        return np.zeros(empty_shape, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)
