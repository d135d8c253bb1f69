"""A reader of the snippets ``anchorctl export`` writes, for round-trip tests only.

It reads exactly the syntax the writers produce (and no other: it evaluates nothing) back
into an AnchorSet whose shapes are what anchorctl's model of each framework makes from the
snippet's numbers. It checks our writer against our own models; the framework's own
semantics are checked by ``frameworks.py`` and ``test_export_frameworks.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from anchorctl.errors import AnchorError
from anchorctl.export import TARGETS
from anchorctl.export.grammar import GRAMMARS, TF_BASE, FloatArray, tf_flexible_shapes
from anchorctl.export.shapes import AnchorSet, LevelShapes


def _make(grammar: str) -> Callable[[float, Sequence[float], Sequence[float]], FloatArray]:
    return GRAMMARS[grammar].make


def parse_export(text: str, target: str) -> AnchorSet:
    """The AnchorSet a snippet written by :func:`export` makes in its framework.

    Reads only the syntax :func:`export` writes (no code is evaluated); the shapes are those
    the framework makes from the snippet's values (torchvision's rounding included), the
    strides and input size come from the snippet's body or its header.
    """
    parser = _PARSERS.get(target)
    if parser is None:
        raise AnchorError(f"export target {target!r}: choose one of {', '.join(TARGETS)}")
    return parser(text)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _parse_nested(text: str, start: int, where: str) -> tuple[Any, int]:
    """A bracketed list/tuple of numbers (nested) at ``text[start:]``: ``(value, end)``."""
    pos = _skip(text, start)
    if pos >= len(text) or text[pos] not in "[(":
        raise AnchorError(f"{where}: expected '[' or '(' at offset {pos}")
    closer = "]" if text[pos] == "[" else ")"
    items: list[Any] = []
    pos += 1
    while True:
        pos = _skip(text, pos)
        if pos >= len(text):
            raise AnchorError(f"{where}: a bracket is never closed")
        if text[pos] == closer:
            return items, pos + 1
        if text[pos] in "[(":
            item, pos = _parse_nested(text, pos, where)
        else:
            match = _NUMBER.match(text, pos)
            if match is None:
                snippet = text[pos : pos + 12].split("\n")[0]
                raise AnchorError(f"{where}: expected a number, found {snippet!r}")
            item, pos = float(match.group()), match.end()
        items.append(item)
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != closer:
            raise AnchorError(f"{where}: expected ',' or {closer!r}, found {text[pos]!r}")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _value_after(text: str, key: str, where: str, *, required: bool = True) -> Any:
    match = re.search(rf"(?m)^\s*{re.escape(key)}\s*[:=]\s*", text)
    if match is None:
        if required:
            raise AnchorError(f"{where}: no {key!r} found (expected what anchorctl export writes)")
        return None
    return _parse_nested(text, match.end(), f"{where}: {key}")


def _header_info(text: str, where: str) -> tuple[tuple[int, int] | None, list[float | None]]:
    size = re.search(r"(?m)^# input size \(px\): (\S+)\s*$", text)
    strides = re.search(r"(?m)^# strides \(px\): (.*?)\s*$", text)
    if size is None or strides is None:
        raise AnchorError(
            f"{where}: the '# input size (px):' and '# strides (px):' header lines are missing"
        )
    input_size: tuple[int, int] | None = None
    if size.group(1) != "unknown":
        parts = re.fullmatch(r"(\d+)x(\d+)", size.group(1))
        if parts is None:
            raise AnchorError(f"{where}: input size {size.group(1)!r} is not WxH")
        input_size = (int(parts.group(1)), int(parts.group(2)))
    values: list[float | None] = []
    for item in strides.group(1).split(","):
        item = item.strip()
        if item == "?":
            values.append(None)
        elif _NUMBER.fullmatch(item):
            values.append(float(item))
        else:
            raise AnchorError(f"{where}: stride {item!r} is not a number or '?'")
    return input_size, values


def _floats(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, float) for v in value):
        raise AnchorError(f"{where}: expected a flat list of numbers")
    return list(value)


def _lists(value: Any, where: str) -> list[list[float]]:
    if not isinstance(value, list) or not value:
        raise AnchorError(f"{where}: expected a list with one list of numbers per level")
    return [_floats(v, where) for v in value]


def _levels(
    shapes: Sequence[FloatArray], strides: Sequence[float | None], where: str
) -> tuple[LevelShapes, ...]:
    if len(strides) != len(shapes):
        raise AnchorError(f"{where}: {len(shapes)} levels but {len(strides)} strides in the header")
    return tuple(
        LevelShapes(tuple((float(w), float(h)) for w, h in s), st)
        for s, st in zip(shapes, strides, strict=True)
    )


def _parse_torchvision(text: str) -> AnchorSet:
    where = "torchvision snippet"
    input_size, strides = _header_info(text, where)
    sizes = _lists(_value_after(text, "sizes", where)[0], f"{where}: sizes")
    ratio_value, end = _value_after(text, "aspect_ratios", where)
    repeat = re.match(r"\s*\*\s*(\d+)", text[end:])
    ratios = _lists(ratio_value, f"{where}: aspect_ratios")
    if repeat is not None:
        ratios = ratios * int(repeat.group(1))
    if len(ratios) != len(sizes):
        raise AnchorError(f"{where}: {len(sizes)} size tuples but {len(ratios)} ratio tuples")
    shapes = [_make("torchvision")(1.0, s, r) for s, r in zip(sizes, ratios, strict=True)]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_detectron2(text: str) -> AnchorSet:
    where = "detectron2 snippet"
    input_size, strides = _header_info(text, where)
    sizes = _lists(_value_after(text, "SIZES", where)[0], f"{where}: SIZES")
    ratios = _lists(_value_after(text, "ASPECT_RATIOS", where)[0], f"{where}: ASPECT_RATIOS")
    if len(ratios) == 1:
        ratios = ratios * len(sizes)
    if len(ratios) != len(sizes):
        raise AnchorError(f"{where}: {len(sizes)} SIZES lists but {len(ratios)} ASPECT_RATIOS")
    shapes = [_make("detectron2")(1.0, s, r) for s, r in zip(sizes, ratios, strict=True)]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_mmdet(text: str) -> AnchorSet:
    where = "mmdet snippet"
    input_size, strides = _header_info(text, where)
    kind = re.search(r"type='(\w+)'", text)
    if kind is None or kind.group(1) not in ("AnchorGenerator", "YOLOAnchorGenerator"):
        raise AnchorError(f"{where}: expected type='AnchorGenerator' or 'YOLOAnchorGenerator'")
    written = _value_after(text, "strides", where)[0]  # numbers, or (w, h) pairs
    if not isinstance(written, list) or len(written) != len(strides):
        raise AnchorError(f"{where}: strides do not match the header's")
    base_default = [min(s) if isinstance(s, list) else s for s in written]
    if kind.group(1) == "YOLOAnchorGenerator":
        value = _value_after(text, "base_sizes", where)[0]
        if not isinstance(value, list) or len(value) != len(strides):
            raise AnchorError(f"{where}: base_sizes needs one list of (w, h) per stride")
        shapes = []
        for level in value:
            pairs = [_floats(p, f"{where}: base_sizes") for p in level]
            if not pairs or any(len(p) != 2 for p in pairs):
                raise AnchorError(f"{where}: base_sizes: expected (w, h) pairs")
            shapes.append(np.array(pairs, dtype=np.float64))
    else:
        scales = _floats(_value_after(text, "scales", where)[0], f"{where}: scales")
        ratios = _floats(_value_after(text, "ratios", where)[0], f"{where}: ratios")
        given = _value_after(text, "base_sizes", where, required=False)
        bases = base_default if given is None else _floats(given[0], f"{where}: base_sizes")
        if len(bases) != len(strides):
            raise AnchorError(f"{where}: {len(strides)} strides but {len(bases)} base_sizes")
        shapes = [_make("mmdet")(b, scales, ratios) for b in bases]
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_yolo(text: str) -> AnchorSet:
    where = "yolo snippet"
    input_size, strides = _header_info(text, where)
    start = re.search(r"(?m)^anchors:\s*$", text)
    if start is None:
        raise AnchorError(f"{where}: no 'anchors:' line")
    shapes = []
    for line in text[start.end() :].splitlines():
        if not line.strip():
            continue
        item = re.match(r"\s+-\s+", line)
        if item is None:
            break
        numbers = _floats(_parse_nested(line, item.end(), where)[0], where)
        if not numbers or len(numbers) % 2:
            raise AnchorError(f"{where}: {line.strip()!r} is not a list of w,h pairs")
        shapes.append(np.array(numbers, dtype=np.float64).reshape(-1, 2))
    if not shapes:
        raise AnchorError(f"{where}: 'anchors:' lists no levels")
    return AnchorSet(_levels(shapes, strides, where), input_size)


def _parse_tf(text: str) -> AnchorSet:
    where = "tf snippet"
    input_size, _ = _header_info(text, where)
    if re.search(r"(?m)^\s*flexible_grid_anchor_generator\s*\{", text):
        blocks = re.findall(r"anchor_grid\s*\{([^{}]*)\}", text)
        if not blocks:
            raise AnchorError(f"{where}: flexible_grid_anchor_generator has no anchor_grid")
        shapes, strides = [], []
        for block in blocks:
            sizes = _floats(_value_after(block, "base_sizes", where)[0], f"{where}: base_sizes")
            ratios = _floats(
                _value_after(block, "aspect_ratios", where)[0], f"{where}: aspect_ratios"
            )
            if len(sizes) != len(ratios):
                raise AnchorError(
                    f"{where}: {len(sizes)} base_sizes but {len(ratios)} aspect_ratios in a grid"
                )
            shapes.append(tf_flexible_shapes(sizes, ratios))
            strides.append(_scalar(block, "height_stride", where))
        return AnchorSet(_levels(shapes, strides, where), input_size)
    if re.search(r"(?m)^\s*grid_anchor_generator\s*\{", text):
        scales = _floats(_value_after(text, "scales", where)[0], f"{where}: scales")
        ratios = _floats(_value_after(text, "aspect_ratios", where)[0], f"{where}: aspect_ratios")
        stride = _scalar(text, "height_stride", where)
        return AnchorSet(
            _levels([_make("tf-grid")(TF_BASE, scales, ratios)], [stride], where), input_size
        )
    raise AnchorError(
        f"{where}: expected a grid_anchor_generator or flexible_grid_anchor_generator block"
    )


def _scalar(text: str, key: str, where: str) -> float | None:
    match = re.search(rf"(?m)^\s*{key}\s*:\s*(\S+)\s*$", text)
    if match is None:
        return None
    if not _NUMBER.fullmatch(match.group(1)):
        raise AnchorError(f"{where}: {key} {match.group(1)!r} is not a number")
    return float(match.group(1))


_PARSERS: dict[str, Callable[[str], AnchorSet]] = {
    "torchvision": _parse_torchvision,
    "mmdet": _parse_mmdet,
    "detectron2": _parse_detectron2,
    "yolo": _parse_yolo,
    "tf": _parse_tf,
}
