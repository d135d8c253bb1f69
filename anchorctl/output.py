"""Writers for ``anchorctl list``: CSV, TSV, JSON, JSON Lines and NPY, one switch, one contract.

The JSON contract (names kept stable for scripts):

* object: ``convention``, ``units``, ``ratio`` (what a ratio means), ``box_format``,
  ``image_size`` ``[w, h]`` or null, ``config_origin`` (for a framework config, the file and
  key the anchors came from, else null), ``levels`` (each ``level, feature_map, stride, per_cell,
  count, first_index, shapes``); for a single feature map also ``feature_map`` ``[rows, cols]``,
  ``per_cell`` and ``shapes`` at the top. Each shape is ``slot``, the parameters that made it
  (``size``, ``ratio``, ...), ``width``, ``height`` in the convention's units, plus
  ``width_px, height_px`` for a normalized convention when an image size is known. With
  ``--all`` also ``anchors``: ``[xmin, ymin, xmax, ymax]`` (or the chosen box format) in the
  framework's order.
* JSON Lines: one object per shape; with ``--all`` one per anchor with ``row, col, slot`` (and
  ``level`` when there are several) and the four coordinates (plus ``*_px``).
* CSV/TSV: a header row naming the columns, then one row per shape or anchor.
* NPY: the ``(N, 4)`` float32 array of every anchor.

Numbers are written as the shortest text that reads back to the same float32, so a script
that parses them gets the framework's values bit for bit. Everything with ``--all`` is
streamed level by level in blocks: memory stays flat however large the map.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from anchorctl.conventions.base import Level, Rules, to_format

if TYPE_CHECKING:
    import numpy.typing as npt

TEXT_FORMATS = ("csv", "tsv", "json", "jsonl")
ImageSize = tuple[int, int] | None

COORDINATES = {
    "xyxy": ("xmin", "ymin", "xmax", "ymax"),
    "yxyx": ("ymin", "xmin", "ymax", "xmax"),
    "cxcywh": ("cx", "cy", "w", "h"),
    "cxcywha": ("cx", "cy", "w", "h", "angle"),  # rotated boxes (Detectron2), angle in degrees
}


@dataclass(frozen=True)
class View:
    """What ``list`` shows: some levels of a source, in one box format.

    ``indices[i]`` is level ``levels[i]``'s index in the source and ``first[i]`` the index of
    its first anchor among all the source's anchors. ``origin`` names, for a framework
    config, the file and key the anchors came from ("" otherwise).
    """

    rules: Rules
    levels: Sequence[Level]
    indices: Sequence[int]
    first: Sequence[int]
    image_size: ImageSize
    box_format: str = "xyxy"
    several: bool = False  # the source has more than one level: rows say which
    preformatted: bool = False  # the levels' arrays are in box_format already (native form)
    origin: str = ""

    def boxes(self, block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """A block of the levels' anchors in the view's box format."""
        return block if self.preformatted else to_format(block, self.box_format)

    @property
    def pixels(self) -> bool:
        """Whether to add ``*_px`` columns (a normalized convention with a known image)."""
        normalized = any(level.is_normalized(self.rules) for level in self.levels)
        return normalized and self.image_size is not None

    @property
    def total(self) -> int:
        return sum(level.count for level in self.levels)


def f32(value: float) -> str:
    """Shortest text that reads back to the same float32: ``0.4000000059604645`` -> ``0.4``."""
    return str(np.float32(value))


def num(value: float) -> str:
    """A user-given number, as Python writes it: ``4.0`` -> ``4``, ``0.25`` -> ``0.25``."""
    return f"{value:g}" if float(value).is_integer() else repr(float(value))


def shape_rows(view: View, level: Level) -> list[dict[str, Any]]:
    """One record per slot: ``slot``, its parameters, ``width, height`` (+ ``*_px``)."""
    out = []
    for shape in level.shapes:
        record: dict[str, Any] = {"slot": shape.slot, **shape.params}
        record["width"] = float(f32(shape.width))
        record["height"] = float(f32(shape.height))
        if view.pixels:
            assert view.image_size is not None
            img_w, img_h = view.image_size
            record["width_px"] = float(f32(float(np.float32(shape.width) * np.float32(img_w))))
            record["height_px"] = float(f32(float(np.float32(shape.height) * np.float32(img_h))))
        out.append(record)
    return out


def level_record(view: View, position: int) -> dict[str, Any]:
    level = view.levels[position]
    return {
        "level": view.indices[position],
        "feature_map": list(level.feature_map),
        "stride": [level.stride[0], level.stride[1]],  # [y, x], like feature_map
        "per_cell": level.per_cell,
        "count": level.count,
        "first_index": view.first[position],
        "shapes": shape_rows(view, level),
    }


def header(view: View) -> dict[str, Any]:
    """The JSON object's fields other than ``anchors``."""
    levels = [level_record(view, i) for i in range(len(view.levels))]
    out: dict[str, Any] = {
        "convention": view.rules.name,
        "units": view.rules.units,
        "ratio": view.rules.ratio_meaning,
        "box_format": view.box_format,
        "image_size": list(view.image_size) if view.image_size is not None else None,
        "config_origin": view.origin or None,
    }
    if len(levels) == 1:
        out["feature_map"] = levels[0]["feature_map"]
        out["per_cell"] = levels[0]["per_cell"]
        out["shapes"] = levels[0]["shapes"]
    out["levels"] = levels
    return out


def shape_columns(view: View, level: Level) -> tuple[str, ...]:
    names = tuple(level.shapes[0].params) if level.shapes else ()
    pixels = ("width_px", "height_px") if view.pixels else ()
    return ("slot", *names, "width", "height", *pixels)


def anchor_columns(view: View) -> tuple[str, ...]:
    coords = COORDINATES[view.box_format]
    pixels = tuple(f"{c}_px" for c in coords) if view.pixels else ()
    lead = ("level", "row", "col", "slot") if view.several else ("row", "col", "slot")
    return (*lead, *coords, *pixels)


def write_shapes(fmt: str, out: IO[str], view: View) -> None:
    """The per-cell shapes in ``fmt`` (csv, tsv, json, jsonl), level by level."""
    if fmt == "json":
        import json  # only the JSON formats pay for its import

        out.write(json.dumps(header(view), indent=2) + "\n")
        return
    sep = "," if fmt == "csv" else "\t"
    wrote_header = False
    for position, level in enumerate(view.levels):
        lead = {"level": view.indices[position]} if view.several else {}
        for record in shape_rows(view, level):
            record = {**lead, **record}
            if fmt == "jsonl":
                import json

                out.write(json.dumps(record) + "\n")
                continue
            if not wrote_header:
                out.write(sep.join(record) + "\n")
                wrote_header = True
            out.write(sep.join(cell_text(v) for v in record.values()) + "\n")


def cell_text(value: Any) -> str:
    """A table cell: user-given floats as Python writes them, anything else as text."""
    return num(value) if isinstance(value, float) else str(value)


def anchor_text_blocks(
    view: View, block_bytes: int = 1 << 18
) -> Iterator[tuple[int, npt.NDArray[np.int64], list[list[str]]]]:
    """Blocks of ``(level position, index within the level (n,), text (n rows of 4 or 8))``.

    ``text`` holds the four coordinates in the view's box format as shortest float32 text,
    then the same in pixels for a normalized convention with a known image size. Rows are
    plain ``str`` lists, never numpy string scalars: numpy makes each ``np.str_`` through
    ``str.__new__``, which runs pending signal handlers and then discards their exception,
    so a Ctrl-C landing there was lost and the run went on (numpy 2.4, CPython 3.11).
    """
    scale = None
    if view.pixels:
        assert view.image_size is not None
        w, h = view.image_size
        order = {"xyxy": (w, h, w, h), "yxyx": (h, w, h, w), "cxcywh": (w, h, w, h)}
        scale = np.array(order[view.box_format], dtype=np.float32)
    for position, level in enumerate(view.levels):
        start = 0
        for block in level.iter_blocks(block_bytes):
            index = np.arange(start, start + len(block), dtype=np.int64)
            start += len(block)
            values = view.boxes(block)
            if scale is not None:
                values = np.concatenate([values, values * scale], axis=1)
            yield position, index, values.astype(str).tolist()


def cell_of(level: Level, index: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    """``(row, col, slot)`` of anchors at ``index`` within ``level`` (cell-major order)."""
    k = level.per_cell
    cols = level.feature_map[1]
    cell = index // k
    return cell // cols, cell % cols, index % k


def write_anchors(fmt: str, out: IO[str], view: View) -> None:
    """Every anchor of the view in ``fmt`` (csv, tsv, json, jsonl), streamed."""
    if fmt == "json":
        import json  # only the JSON header pays for it

        head = json.dumps(header(view), indent=2)
        out.write(head[: head.rstrip().rindex("}")].rstrip() + ',\n  "anchors": [')
        first = True
        for _, _, text in anchor_text_blocks(view):
            if not len(text):
                continue
            width = len(COORDINATES[view.box_format])
            body = ",".join("\n    [" + ", ".join(t[:width]) + "]" for t in text)
            out.write(body if first else "," + body)
            first = False
        out.write("\n  ]\n}\n")
        return
    columns = anchor_columns(view)
    sep = "," if fmt == "csv" else "\t"
    if fmt != "jsonl":
        out.write(sep.join(columns) + "\n")
    for position, index, text in anchor_text_blocks(view):
        level = view.levels[position]
        row, col, slot = cell_of(level, index)
        parts = [row, col, slot]
        if view.several:
            parts.insert(0, np.full(len(index), view.indices[position]))
        lead = np.stack(parts, axis=1).astype(str).tolist()  # plain str: see anchor_text_blocks
        if fmt == "jsonl":
            lines = (
                "{"
                + ", ".join(f'"{n}": {v}' for n, v in zip(columns, (*a, *b), strict=True))
                + "}\n"
                for a, b in zip(lead, text, strict=True)
            )
        else:
            lines = (sep.join((*a, *b)) + "\n" for a, b in zip(lead, text, strict=True))
        out.writelines(lines)


def write_npy(out: IO[bytes], view: View) -> None:
    """Every anchor as an ``.npy`` file: ``(N, 4)`` little-endian float32, streamed in blocks."""
    columns = len(COORDINATES[view.box_format])
    np.lib.format.write_array_header_1_0(
        out, {"descr": "<f4", "fortran_order": False, "shape": (view.total, columns)}
    )
    for level in view.levels:
        for block in level.iter_blocks():
            data = view.boxes(block).astype("<f4", copy=False)
            out.write(np.ascontiguousarray(data).data)  # the buffer itself, no copy
