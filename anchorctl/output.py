"""Writers for ``anchorctl list``: CSV, TSV, JSON, JSON Lines and NPY, one switch, one contract.

The JSON contract (names kept stable for scripts):

* object: ``convention``, ``feature_map`` ``[rows, cols]``, ``image_size`` ``[w, h]`` or null,
  ``per_cell``, ``shapes`` (each ``slot, size, ratio, width, height`` normalized, plus
  ``width_px, height_px`` when an image size is known); with ``--all`` also ``anchors``:
  ``[xmin, ymin, xmax, ymax]`` normalized, in MultiBoxPrior order.
* JSON Lines: one object per shape; with ``--all`` one per anchor with
  ``row, col, slot, xmin, ymin, xmax, ymax`` (plus ``*_px`` with an image size).
* CSV/TSV: a header row naming the columns, then one row per shape or anchor.
* NPY: the ``(N, 4)`` float32 array of every anchor.

Numbers are written as the shortest text that reads back to the same float32, so a script
that parses them gets MultiBoxPrior's values bit for bit. Everything with ``--all`` is
streamed in blocks of feature-map rows: memory stays flat however large the map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from anchorctl.conventions import mxnet
from anchorctl.conventions.mxnet import MultiBoxPriorSpec, iter_anchor_blocks

TEXT_FORMATS = ("csv", "tsv", "json", "jsonl")
ImageSize = tuple[int, int] | None

SHAPE_COLUMNS = ("slot", "size", "ratio", "width", "height")
ANCHOR_COLUMNS = ("row", "col", "slot", "xmin", "ymin", "xmax", "ymax")
PX_SHAPE_COLUMNS = ("width_px", "height_px")
PX_ANCHOR_COLUMNS = ("xmin_px", "ymin_px", "xmax_px", "ymax_px")


def f32(value: float) -> str:
    """Shortest text that reads back to the same float32: ``0.4000000059604645`` -> ``0.4``."""
    return str(np.float32(value))


def num(value: float) -> str:
    """A user-given number, as Python writes it: ``4.0`` -> ``4``, ``0.25`` -> ``0.25``."""
    return f"{value:g}" if float(value).is_integer() else repr(float(value))


def shape_rows(spec: MultiBoxPriorSpec, image_size: ImageSize) -> list[dict[str, Any]]:
    """One record per slot: ``slot, size, ratio, width, height`` (+ ``width_px, height_px``).

    Values are JSON-ready: sizes and ratios as given, extents as shortest float32 numbers.
    """
    out = []
    for shape in spec.shapes():
        record: dict[str, Any] = {
            "slot": shape.slot,
            "size": shape.size,
            "ratio": shape.ratio,
            "width": float(f32(shape.width)),
            "height": float(f32(shape.height)),
        }
        if image_size is not None:
            img_w, img_h = image_size
            record["width_px"] = float(f32(float(np.float32(shape.width) * np.float32(img_w))))
            record["height_px"] = float(f32(float(np.float32(shape.height) * np.float32(img_h))))
        out.append(record)
    return out


def header(spec: MultiBoxPriorSpec, image_size: ImageSize) -> dict[str, Any]:
    """The JSON object's fields other than ``anchors``."""
    rows, cols = spec.feature_map
    return {
        "convention": mxnet.NAME,
        "feature_map": [rows, cols],
        "image_size": list(image_size) if image_size is not None else None,
        "per_cell": spec.per_cell,
        "shapes": shape_rows(spec, image_size),
    }


def shape_columns(image_size: ImageSize) -> tuple[str, ...]:
    return SHAPE_COLUMNS + (PX_SHAPE_COLUMNS if image_size is not None else ())


def anchor_columns(image_size: ImageSize) -> tuple[str, ...]:
    return ANCHOR_COLUMNS + (PX_ANCHOR_COLUMNS if image_size is not None else ())


def write_shapes(fmt: str, out: IO[str], spec: MultiBoxPriorSpec, image_size: ImageSize) -> None:
    """The per-cell shapes in ``fmt`` (csv, tsv, json, jsonl)."""
    records = shape_rows(spec, image_size)
    if fmt == "json":
        out.write(json.dumps(header(spec, image_size), indent=2) + "\n")
    elif fmt == "jsonl":
        out.writelines(json.dumps(r) + "\n" for r in records)
    else:
        sep = "," if fmt == "csv" else "\t"
        columns = shape_columns(image_size)
        out.write(sep.join(columns) + "\n")
        for r in records:
            out.write(sep.join(_cell_text(r[c]) for c in columns) + "\n")


def _cell_text(value: Any) -> str:
    return num(value) if isinstance(value, float) else str(value)


def anchor_text_blocks(
    spec: MultiBoxPriorSpec, image_size: ImageSize
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]]:
    """Blocks of ``(index (n,), text (n, 4 or 8))``: every anchor as shortest float32 text.

    ``text`` holds ``xmin, ymin, xmax, ymax`` normalized, then the same in pixels when an
    image size is known.
    """
    start = 0
    scale = None
    if image_size is not None:
        scale = np.array([image_size[0], image_size[1]] * 2, dtype=np.float32)
    for block in iter_anchor_blocks(spec, block_bytes=1 << 18):
        index = np.arange(start, start + len(block), dtype=np.int64)
        start += len(block)
        values = block if scale is None else np.concatenate([block, block * scale], axis=1)
        yield index, values.astype(str)


def write_anchors(fmt: str, out: IO[str], spec: MultiBoxPriorSpec, image_size: ImageSize) -> None:
    """Every anchor in ``fmt`` (csv, tsv, json, jsonl), streamed."""
    _, cols = spec.feature_map
    k = spec.per_cell
    if fmt == "json":
        head = json.dumps(header(spec, image_size), indent=2)
        out.write(head[: head.rstrip().rindex("}")].rstrip() + ',\n  "anchors": [')
        first = True
        for _, text in anchor_text_blocks(spec, image_size):
            body = ",".join("\n    [" + ", ".join(t[:4]) + "]" for t in text)
            out.write(body if first else "," + body)
            first = False
        out.write("\n  ]\n}\n")
        return
    columns = anchor_columns(image_size)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        out.write(sep.join(columns) + "\n")
    for index, text in anchor_text_blocks(spec, image_size):
        slot = index % k
        cell = index // k
        row, col = cell // cols, cell % cols
        lead = np.stack([row, col, slot], axis=1).astype(str)
        if fmt == "jsonl":
            names = columns
            lines = (
                "{" + ", ".join(f'"{n}": {v}' for n, v in zip(names, (*a, *b), strict=True)) + "}\n"
                for a, b in zip(lead, text, strict=True)
            )
        else:
            lines = (sep.join((*a, *b)) + "\n" for a, b in zip(lead, text, strict=True))
        out.writelines(lines)


def write_npy(out: IO[bytes], spec: MultiBoxPriorSpec) -> None:
    """Every anchor as an ``.npy`` file: ``(N, 4)`` little-endian float32, streamed in blocks."""
    np.lib.format.write_array_header_1_0(
        out, {"descr": "<f4", "fortran_order": False, "shape": (spec.num_anchors, 4)}
    )
    for block in iter_anchor_blocks(spec):
        out.write(block.astype("<f4", copy=False).data)  # the buffer itself, no copy
