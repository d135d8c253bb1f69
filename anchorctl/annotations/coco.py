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

Large files are read a value at a time (:mod:`~anchorctl.annotations.jsonscan`), in one
pass and in bounded memory, with the top-level keys in any order: annotations met after
``images`` and ``categories`` become boxes at once; annotations met before them (the
official COCO files list ``categories`` last) are kept as parsed numbers, spilled to a
temporary file past a size (:class:`~anchorctl.annotations.stream.Spill`), and become boxes
at the end of the file. Entries are turned into numpy arrays a chunk at a time and checked
with array operations; image ids are matched with a sorted search when they are integers.
Only entries that fail the fast path get per-entry Python. Invalid JSON stops the read at
once with its line, column and byte offset.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from anchorctl.annotations.checks import Context, Draft, Problem
from anchorctl.annotations.jsonscan import JsonScanner
from anchorctl.annotations.stream import NameTable, Spill
from anchorctl.annotations.textio import TextBlocks, open_binary
from anchorctl.errors import AnchorError

__all__ = ["read_coco"]

_CHUNK = 16_384  # entries per fast-path chunk: 16k parsed objects are about 16 MiB

# Codes of an annotation's image lookup.
_UNKNOWN_IMAGE = -1
_SKIPPED_IMAGE = -2


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


def _categories(entries: list[Any], name: str) -> dict[Hashable, str]:
    """``category id -> name`` from the entries of the ``categories`` list."""
    names: dict[Hashable, str] = {}
    for k, entry in enumerate(entries):
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


def _int_array(values: list[Any]) -> npt.NDArray[np.int64] | None:
    """The values as int64 when every one is an integer (not a bool), else None."""
    try:
        arr = np.array(values)
    except (ValueError, OverflowError):
        return None
    if arr.shape != (len(values),) or arr.dtype.kind != "i":
        return None
    return arr.astype(np.int64, copy=False)


class _Images:
    """The ``images`` list, read a batch at a time, then frozen into an ``id -> row`` lookup.

    Rows are those of the context's :class:`~anchorctl.annotations.stream.ImageTable`: the
    usable entries (an id, a whole size > 0), first entry of an id only, in input order.
    """

    def __init__(self, name: str, ctx: Context) -> None:
        self.name = name
        self.ctx = ctx
        self.frozen = False
        self.seen = False
        self._ids: list[Any] = []  # per batch: int64 array, or a list of ids
        self._usable: list[npt.NDArray[np.bool_]] = []
        self._orders: list[npt.NDArray[np.int64]] = []
        self._sizes: list[npt.NDArray[np.int64]] = []
        self._names = NameTable()
        self._sorted_ids: npt.NDArray[np.int64] | None = None
        self._sorted_rows = np.zeros(0, dtype=np.int64)
        self._table: dict[Hashable, int] = {}

    def add(self, entries: list[Any], first: int) -> None:
        """A batch of image entries; ``first`` is the input position of the first."""
        n = len(entries)
        try:
            ids = [entry["id"] for entry in entries]
            widths = np.array([entry["width"] for entry in entries])
            heights = np.array([entry["height"] for entry in entries])
            file_names = [entry.get("file_name") for entry in entries]
            fast = all(
                sizes.shape == (n,) and sizes.dtype.kind in "iu" and not (sizes <= 0).any()
                for sizes in (widths, heights)
            ) and not any(i is None or isinstance(i, (bool, list, dict)) for i in ids)
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError):
            fast = False
        if fast:
            labels = [
                f if type(f) is str else str(i) if f is None else str(f)
                for f, i in zip(file_names, ids, strict=True)
            ]
            self._keep(ids, np.ones(n, dtype=bool), np.arange(first, first + n))
            self._sizes.append(np.stack([widths, heights], axis=1).astype(np.int64))
            self._names.extend(labels)
            return
        keep_ids: list[Any] = []
        usable: list[bool] = []
        orders: list[int] = []
        sizes: list[tuple[int, int]] = []
        labels = []
        for k, entry in enumerate(entries):
            order = first + k
            if not isinstance(entry, dict):
                where = f"{self.name}: images[{order - self._first_position}]"
                self.ctx.problem(
                    Problem(order, where, f"expected an object, found {_describe(entry)}")
                )
                continue
            iid = entry.get("id")
            where = (
                f"{self.name}: image id {iid}"
                if iid is not None
                else f"{self.name}: images[{order - self._first_position}]"
            )
            if iid is None or isinstance(iid, bool) or not isinstance(iid, Hashable):
                self.ctx.problem(Problem(order, where, "missing id (a number or text)"))
                continue
            width, height = _size(entry.get("width")), _size(entry.get("height"))
            keep_ids.append(iid)
            orders.append(order)
            if width is None or height is None:
                key = "width" if width is None else "height"
                value = entry.get(key)
                got = "nothing" if value is None else _describe(value)
                self.ctx.problem(
                    Problem(
                        order, where, f"{key}: expected a whole number of pixels > 0, got {got}"
                    )
                )
                usable.append(False)
                continue
            file_name = entry.get("file_name")
            usable.append(True)
            sizes.append((width, height))
            labels.append(str(file_name) if file_name is not None else str(iid))
        self._keep(keep_ids, np.array(usable, dtype=bool), np.array(orders, dtype=np.int64))
        self._sizes.append(np.array(sizes, dtype=np.int64).reshape(-1, 2))
        self._names.extend(labels)

    _first_position = 0

    def start(self, position: int) -> None:
        self.seen = True
        self._first_position = position

    def _keep(self, ids: list[Any], usable: npt.NDArray[np.bool_], orders: Any) -> None:
        as_int = _int_array(ids)
        self._ids.append(as_int if as_int is not None else ids)
        self._usable.append(usable)
        self._orders.append(np.asarray(orders, dtype=np.int64))

    def freeze(self) -> None:
        """Match ids to rows; later entries of an id are skipped as duplicates."""
        self.frozen = True
        usable = _concat(self._usable, np.bool_, (0,))
        orders = _concat(self._orders, np.int64, (0,))
        sizes = _concat(self._sizes, np.int64, (0, 2))
        batches, self._ids = self._ids, []
        is_first = np.ones(len(usable), dtype=bool)
        duplicate_ids: list[Any] = []
        sorted_parts = None
        position: dict[Hashable, int] = {}
        if all(isinstance(ids, np.ndarray) for ids in batches):
            keys = _concat(batches, np.int64, (0,))
            by_id = np.argsort(keys, kind="stable")
            ordered = keys[by_id]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = ordered[1:] != ordered[:-1]
            is_first[by_id] = first
            duplicate_ids = keys[~is_first].tolist()
            sorted_parts = (ordered[first], by_id, first)
        else:
            keys_list = [
                key
                for ids in batches
                for key in (ids.tolist() if isinstance(ids, np.ndarray) else ids)
            ]
            for k, key in enumerate(keys_list):
                if key in position:
                    is_first[k] = False
                    duplicate_ids.append(key)
                else:
                    position[key] = k
        # Rows: the usable first entries, in input order; a first entry unusable: skipped.
        kept = usable & is_first
        value = np.where(kept, np.cumsum(kept) - 1, _SKIPPED_IMAGE)
        if sorted_parts is not None:
            self._sorted_ids, by_id, first = sorted_parts
            self._sorted_rows = value[by_id][first]
        else:
            self._table = {key: int(value[k]) for key, k in position.items()}
        names = self._names
        self._names = NameTable()
        usable_first = is_first[usable]
        if not usable_first.all():  # a usable duplicate: drop its name and size
            names = names.select(np.flatnonzero(usable_first))
            sizes = sizes[usable_first]
        self.ctx.images.add_table(names, sizes)
        for key, k in zip(duplicate_ids, np.flatnonzero(~is_first).tolist(), strict=True):
            self.ctx.problem(
                Problem(
                    int(orders[k]),
                    f"{self.name}: image id {key}",
                    "duplicate image id; the first entry is used",
                )
            )

    def lookup(self, keys: Any, missing: int) -> npt.NDArray[np.int64]:
        """The row of each image id (``_SKIPPED_IMAGE`` for an unusable image, ``missing``
        when unknown or not an id)."""
        m = len(keys)
        if self._sorted_ids is not None:
            asked = keys if isinstance(keys, np.ndarray) else _int_array(keys)
            if asked is not None:
                if not len(self._sorted_ids):
                    return np.full(m, missing, dtype=np.int64)
                at = np.minimum(np.searchsorted(self._sorted_ids, asked), len(self._sorted_ids) - 1)
                found = self._sorted_ids[at] == asked
                return np.where(found, self._sorted_rows[at], missing).astype(np.int64)
            table = dict(zip(self._sorted_ids.tolist(), self._sorted_rows.tolist(), strict=True))
        else:
            table = self._table
        keys = keys.tolist() if isinstance(keys, np.ndarray) else keys
        out = np.full(m, missing, dtype=np.int64)
        for k, key in enumerate(keys):
            if isinstance(key, Hashable) and not isinstance(key, bool):
                out[k] = table.get(key, missing)
        return out


class _Categories:
    """The ``categories`` list as a lookup from category id to the context's category index."""

    def __init__(self, names: dict[Hashable, str], ctx: Context) -> None:
        self.names = names
        self.codes = {cid: ctx.category(name) for cid, name in names.items()}
        self._int = bool(names) and all(type(cid) is int for cid in names)
        self._keys = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0, dtype=np.int64)
        if self._int:
            keys = np.array(list(self.codes), dtype=np.int64)
            order = np.argsort(keys)
            self._keys = keys[order]
            self._values = np.array(list(self.codes.values()), dtype=np.int64)[order]

    def lookup(self, ids: Any, missing: int) -> npt.NDArray[np.int64]:
        """The category index of each id, ``missing`` when unknown."""
        m = len(ids)
        if self._int:
            asked = ids if isinstance(ids, np.ndarray) else _int_array(ids)
            if asked is not None:
                at = np.minimum(np.searchsorted(self._keys, asked), len(self._keys) - 1)
                found = self._keys[at] == asked
                return np.where(found, self._values[at], missing).astype(np.int64)
        ids = ids.tolist() if isinstance(ids, np.ndarray) else ids
        out = np.full(m, missing, dtype=np.int64)
        for k, cid in enumerate(ids):
            if isinstance(cid, Hashable) and not isinstance(cid, bool):
                out[k] = self.codes.get(cid, missing)
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


def _compact(values: list[Any]) -> Any:
    """An int64 array when every value is an integer (smaller to keep), else the list."""
    as_int = _int_array(values)
    return values if as_int is None else as_int


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class _Chunk:
    """The parsed numbers of a run of annotations, with per-entry fallbacks.

    ``xywh`` (m, 4) float64 (NaN where unreadable, with ``reasons[k]`` saying why);
    ``image_ids``, ``category_ids`` and ``ids`` as int64 arrays when all are integers, else
    lists; ``crowd`` (m,) bool; ``first`` the position in the input of the first entry and
    ``index`` its index in the ``annotations`` list.
    """

    def __init__(self, entries: list[Any], first: int, index: int) -> None:
        m = len(entries)
        self.first = first
        self.index = index
        self.reasons: list[str | None] | None = None
        try:  # map over dict methods: the fastest per-entry access Python has
            boxes = np.array(list(map(itemgetter("bbox"), entries)))
            fast = boxes.shape == (m, 4) and boxes.dtype.kind in "iuf"
            image_ids = list(map(itemgetter("image_id"), entries))
            category_ids = list(map(dict.get, entries, repeat("category_id")))
            crowd = list(map(dict.get, entries, repeat("iscrowd"), repeat(0)))
            ids = list(map(dict.get, entries, repeat("id")))
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError):
            fast = False
        if fast:
            self.xywh = boxes.astype(np.float64, copy=False).reshape(m, 4)
            flags = np.array(crowd)
            if flags.shape == (m,) and flags.dtype.kind in "biuf":
                self.crowd = flags != 0
            else:
                self.crowd = np.array([bool(c) for c in crowd], dtype=bool)
        else:  # some entry is not of the expected shape: go through them one by one
            self.reasons = [None] * m
            self.xywh = np.full((m, 4), np.nan)
            image_ids = [_get(a, "image_id") for a in entries]
            category_ids = [_get(a, "category_id") for a in entries]
            ids = [_get(a, "id") for a in entries]
            self.crowd = np.array([bool(_get(a, "iscrowd", 0)) for a in entries], dtype=bool)
            for k, entry in enumerate(entries):
                bbox, reason = _bbox(entry)
                if bbox is None:
                    self.reasons[k] = reason
                else:
                    self.xywh[k] = bbox
        self.image_ids = _compact(image_ids)
        self.category_ids = _compact(category_ids)
        self.ids = _compact(ids)

    def __len__(self) -> int:
        return len(self.xywh)

    def nbytes(self) -> int:
        """About how much memory the chunk holds."""
        total = self.xywh.nbytes + self.crowd.nbytes
        for column in (self.image_ids, self.category_ids, self.ids):
            total += column.nbytes if isinstance(column, np.ndarray) else 64 * len(column)
        return int(total) + (64 * len(self.reasons) if self.reasons is not None else 0)

    def where(self, k: int, name: str) -> str:
        aid = _plain(self.ids[k])
        if aid is None or isinstance(aid, (dict, list)):
            return f"{name}: annotations[{self.index + k}]"
        return f"{name}: annotation id {aid}"


def _draft(
    chunk: _Chunk, name: str, ctx: Context, images: _Images, categories: _Categories | None
) -> Draft:
    """Boxes of a chunk, once images and categories are known."""
    looked_up = images.lookup(chunk.image_ids, _UNKNOWN_IMAGE)
    bad = looked_up < 0
    text: list[str] | None = None
    if categories is None:  # no categories list: each box's category is its id as text
        ids = chunk.category_ids
        ids = ids.tolist() if isinstance(ids, np.ndarray) else ids
        text = ["" if c is None else str(c) for c in ids]
        codes = ctx.categories(text)
    else:
        codes = categories.lookup(chunk.category_ids, -1)
        bad |= codes < 0
    if chunk.reasons is not None:
        bad |= np.array([r is not None for r in chunk.reasons], dtype=bool)
    problems: list[Problem] = []
    for k in np.flatnonzero(bad).tolist():
        code = int(codes[k])
        category = text[k] if text is not None else ctx.category_names[code] if code >= 0 else None
        if not ctx.wanted_name(category):
            continue  # an entry of a category not asked for: not reported
        reason = chunk.reasons[k] if chunk.reasons is not None else None
        if reason is None:
            image_id = _plain(chunk.image_ids[k])
            if looked_up[k] == _SKIPPED_IMAGE:
                reason = f"its image was skipped (image id {image_id})"
            elif looked_up[k] == _UNKNOWN_IMAGE:
                reason = (
                    "missing image_id"
                    if image_id is None
                    else f"unknown image id ({_describe(image_id)})"
                )
            else:
                category_id = _plain(chunk.category_ids[k])
                reason = f"unknown category id ({_describe(category_id)})"
        problems.append(Problem(chunk.first + k, chunk.where(k, name), reason))
    good = np.flatnonzero(~bad)
    xywh = chunk.xywh[good]
    rows = looked_up[good]
    return Draft(
        boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),  # -> xyxy
        image=rows,
        size=ctx.images.sizes[rows].astype(np.float64),
        category=codes[good],
        order=good + chunk.first,
        where=lambda i: chunk.where(int(good[i]), name),
        problems=problems,
        by_choice=chunk.crowd[good],
        choice_reason="iscrowd",
    )


_KEYS = ("images", "annotations", "categories")


def read_coco(path: str, name: str, ctx: Context) -> Iterator[Draft]:
    """Parse a COCO instances file into chunks of boxes (see the module docstring).

    ``name`` is how the file is named in messages; ``ctx`` takes the images, the category
    names and the entries that are not part of a chunk.
    """
    with open_binary(path, name) as handle:
        blocks = TextBlocks(handle, name, "COCO JSON in UTF-8")
        scanner = JsonScanner(blocks, "a COCO instances file")
        kind = scanner.kind()
        if kind != "dict":
            if kind == "nothing":
                raise AnchorError(f"{name}: empty file; expected a COCO instances file")
            hint = " (a detection results file?)" if kind == "list" else ""
            raise AnchorError(
                f"{name}: expected a COCO object with 'images' and 'annotations' lists, "
                f"found a JSON {kind}{hint}"
            )
        images = _Images(name, ctx)
        categories: _Categories | None = None
        spill = Spill(lambda chunk: chunk.nbytes())
        seen: set[str] = set()
        position = 0
        annotations = 0

        def report() -> None:
            if ctx.progress is not None:
                ctx.progress(blocks.bytes_read, max(blocks.size, blocks.bytes_read))

        try:
            for key in scanner.members():
                if key not in _KEYS:
                    scanner.skip()
                    continue
                if key in seen:
                    raise scanner.error(f"the key '{key}' appears twice")
                seen.add(key)
                kind = scanner.kind()
                if kind != "list":
                    raise AnchorError(f"{name}: expected key '{key}' to be a list, found a {kind}")
                if key == "categories":
                    entries = list(scanner.items())
                    categories = _Categories(_categories(entries, name), ctx)
                    ctx.declare(categories.names.values())
                elif key == "images":
                    images.start(position)
                    for batch in scanner.batches(_CHUNK):
                        images.add(batch, position)
                        position += len(batch)
                        report()
                    images.freeze()
                else:
                    ready = images.frozen and categories is not None
                    for batch in scanner.batches(_CHUNK):
                        chunk = _Chunk(batch, position, annotations)
                        del batch
                        position += len(chunk)
                        annotations += len(chunk)
                        if ready:
                            yield _draft(chunk, name, ctx, images, categories)
                        else:
                            spill.put(chunk)
                        report()
            scanner.end()
            for key in ("images", "annotations"):
                if key not in seen:
                    raise AnchorError(f"{name}: expected key '{key}' to be a list, found missing")
            if "categories" not in seen:
                categories = None
            for chunk in spill.drain():
                yield _draft(chunk, name, ctx, images, categories)
            report()
        finally:
            spill.close()


def _concat(parts: list[Any], dtype: Any, empty_shape: tuple[int, ...]) -> Any:
    if not parts:
        return np.zeros(empty_shape, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)
