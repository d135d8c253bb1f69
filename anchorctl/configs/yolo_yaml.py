"""YOLOv5 / YOLOv3 (ultralytics) model YAML: ``anchors:`` rows and the Detect layer's strides.

A model file lists the anchors as one row per detection level, ``[w0,h0, w1,h1, ...]`` in
input pixels, smallest stride first::

    anchors:
      - [10,13, 16,30, 33,23]       # P3/8
      - [30,61, 62,45, 59,119]      # P4/16
      - [116,90, 156,198, 373,326]  # P5/32

and the network as ``backbone:`` and ``head:`` lists of ``[from, number, module, args]``
ending in ``Detect`` (or ``Segment``), whose ``from`` names the layers it reads. The strides
of those layers are traced through the file as ultralytics' ``parse_model`` builds them:
``Conv``/``DWConv``/``GhostConv`` stride ``args[2]`` (default 1), ``Focus`` 2 x ``args[2]``,
``nn.MaxPool2d`` its stride, ``nn.Upsample`` divides by its scale factor, ``Contract`` and
``Expand`` by their gain, ``Concat`` keeps its inputs' common stride, and the CSP, SPP and
bottleneck blocks keep the stride (a block repeated ``number`` times, after
``depth_multiple``, applies its stride that many times). When the file cannot be traced (a
module unknown here, no Detect layer), the standard strides are used: P3/8, P4/16, P5/32 for
three rows, 16 and 32 for two (yolov3-tiny), 8 ... 64 for four (P6 models), 8 ... 128 for
five.

The network input defaults to 640 x 640 (``train.py``/``detect.py --img 640``; the model file
states none) and is padded up to a multiple of the largest stride, as ``check_img_size`` and
the letterbox do; each level's map is ``padded input / stride``. ``anchors: 3`` (a count:
learn anchors from scratch with AutoAnchor) has no anchors to read and is refused with a
message saying so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from anchorctl.configs.reading import check_nesting
from anchorctl.configs.toml import Config, checked, config_from_mapping
from anchorctl.errors import AnchorError

DEFAULT_INPUT = (640, 640)
STANDARD_STRIDES = {
    1: (32,), 2: (16, 32), 3: (8, 16, 32), 4: (8, 16, 32, 64), 5: (8, 16, 32, 64, 128)
}  # fmt: skip
DETECT_MODULES = {"Detect", "Segment", "IDetect", "IAuxDetect", "IBin", "IKeypoint"}
# Blocks that keep their input's stride (ultralytics models/common.py).
SAME_STRIDE = {
    "C3", "C3x", "C3TR", "C3SPP", "C3Ghost", "C2f", "C1", "C2", "SPP", "SPPF", "SPPCSPC",
    "Bottleneck", "BottleneckCSP", "GhostBottleneck", "CrossConv", "MixConv2d", "TransformerBlock",
    "nn.BatchNorm2d", "nn.Identity", "nn.ReLU", "nn.SiLU", "nn.ZeroPad2d", "SE", "CBAM",
}  # fmt: skip
STRIDE_AT_2 = {"Conv", "DWConv", "GhostConv", "DWConvTranspose2d", "RepConv", "CrossConv"}


def read(path: Path, data: Any, input_size: tuple[int, int] | None) -> Config:
    """The anchors of YOLO model YAML ``data`` read from ``path`` (see the module notes)."""
    name = str(path)
    if not isinstance(data, dict):
        raise AnchorError(f"{name}: a YOLO model file is a mapping with anchors:, backbone:, head:")
    check_nesting(data, name)
    rows = _anchor_rows(name, data)
    traced = _detect_strides(data)
    if traced is not None:
        strides, detect_line = traced
        if len(strides) != len(rows):
            raise AnchorError(
                f"{name}: key 'anchors' has {len(rows)} rows but {detect_line} reads "
                f"{len(strides)} feature maps; give one anchor row per detection level"
            )
        how = "strides traced from the Detect layer's inputs"
    else:
        standard = STANDARD_STRIDES.get(len(rows))
        if standard is None:
            raise AnchorError(
                f"{name}: key 'anchors' has {len(rows)} rows; the strides of that many levels "
                "are not standard and the file's layers could not be traced"
            )
        strides = list(standard)
        how = "standard strides (the layers could not be traced)"
    size = input_size or DEFAULT_INPUT
    divisor = max(strides)
    padded = tuple(math.ceil(v / divisor) * divisor for v in size)
    maps = [(padded[1] // s, padded[0] // s) for s in strides]
    mapping = {
        "convention": "yolo",
        "image_size": list(padded),
        "levels": [
            {"feature_map": list(fm), "anchors": [list(p) for p in row], "strides": s}
            for fm, row, s in zip(maps, rows, strides, strict=True)
        ],
    }
    config = config_from_mapping(mapping, name)
    origin = (
        f"YOLO model {path.name}: key 'anchors', {len(rows)} levels at strides "
        f"{', '.join(map(str, strides))} ({how}); input {size[0]}x{size[1]}"
        + (f" padded to {padded[0]}x{padded[1]}" if tuple(padded) != tuple(size) else "")
    )
    return checked(Config(config.convention, config.params, origin), f"{name}: key 'anchors'")


def _anchor_rows(name: str, data: dict[str, Any]) -> list[list[tuple[float, float]]]:
    if "anchors" not in data:
        raise AnchorError(
            f"{name}: no key 'anchors', so no anchors to read (anchor-free models, such as "
            "YOLOv8's, have none)"
        )
    anchors = data["anchors"]
    if isinstance(anchors, int) and not isinstance(anchors, bool):
        raise AnchorError(
            f"{name}: key 'anchors' is {anchors}, a count: YOLOv5 learns {anchors} anchors per "
            "level from your labels when training starts (AutoAnchor), so the file holds no "
            "anchors to read; fit them with `anchorctl suggest LABELS --preset yolov5`, or "
            "read the trained model's anchors"
        )
    if not isinstance(anchors, list) or not anchors:
        raise AnchorError(
            f"{name}: key 'anchors': expected one row [w0,h0, w1,h1, ...] per level, "
            f"got {anchors!r}"
        )
    rows = []
    for index, row in enumerate(anchors):
        where = f"{name}: key 'anchors' row {index}"
        if not isinstance(row, list) or not row or len(row) % 2:
            raise AnchorError(f"{where}: expected [w0,h0, w1,h1, ...] (pairs), got {row!r}")
        numbers = []
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AnchorError(f"{where}: {value!r} is not a number of pixels")
            if not (math.isfinite(value) and value > 0):
                raise AnchorError(f"{where}: {value!r} is not a positive number of pixels")
            numbers.append(float(value))
        rows.append(list(zip(numbers[0::2], numbers[1::2], strict=True)))
    if len({len(r) for r in rows}) != 1:
        raise AnchorError(
            f"{name}: key 'anchors': every row needs the same number of anchors (YOLOv5 takes "
            f"na from the first row), got {', '.join(str(len(r)) for r in rows)}"
        )
    return rows


def _layers(data: dict[str, Any]) -> list[Any]:
    layers: list[Any] = []
    for key in ("backbone", "head"):
        part = data.get(key)
        if isinstance(part, list):
            layers.extend(part)
    return layers


def _detect_strides(data: dict[str, Any]) -> tuple[list[int], str] | None:
    """The strides of the layers the Detect layer reads, or ``None`` when not traceable."""
    layers = _layers(data)
    depth = data.get("depth_multiple", 1.0)
    if isinstance(depth, bool) or not isinstance(depth, (int, float)) or not depth > 0:
        depth = 1.0
    strides: list[float] = []
    for index, layer in enumerate(layers):
        if not (isinstance(layer, list) and len(layer) >= 3):
            return None
        source, number, module = layer[0], layer[1], layer[2]
        args = layer[3] if len(layer) > 3 and isinstance(layer[3], list) else []
        inputs = _inputs(source, index, strides)
        if inputs is None or not isinstance(module, str):
            return None
        if module in DETECT_MODULES:
            if index != len(layers) - 1 or not isinstance(source, list):
                return None
            found = [int(s) if float(s).is_integer() else s for s in inputs]
            if not all(isinstance(s, int) and s >= 1 for s in found):
                return None
            section = "head" if index >= len(data.get("backbone") or []) else "backbone"
            return [int(s) for s in found], f"the {module} layer (layer {index}, in {section})"
        repeat = number if isinstance(number, int) and not isinstance(number, bool) else 1
        repeat = max(round(repeat * depth), 1) if repeat > 1 else max(repeat, 1)
        factor = _stride_factor(module, args)
        if factor is None:
            return None
        if module == "Concat" and len(set(inputs)) != 1:
            return None
        stride = inputs[0] * factor**repeat
        strides.append(stride)
    return None


def _inputs(source: Any, index: int, strides: list[float]) -> list[float] | None:
    indices = source if isinstance(source, list) else [source]
    out = []
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            return None
        position = index + i if i < 0 else i
        if index == 0 and i == -1:
            out.append(1.0)
            continue
        if not 0 <= position < len(strides):
            return None
        out.append(strides[position])
    return out


def _stride_factor(module: str, args: list[Any]) -> float | None:
    """How much a module multiplies the stride, or ``None`` when unknown."""

    def arg(i: int, default: float) -> float | None:
        value = args[i] if len(args) > i else default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            return None
        return float(value)

    if module in SAME_STRIDE or module == "Concat":
        return 1.0
    if module in STRIDE_AT_2:
        return arg(2, 1)
    if module == "Focus":
        inner = arg(2, 1)
        return None if inner is None else 2 * inner
    if module in ("nn.MaxPool2d", "MP"):
        if module == "MP":
            return arg(0, 2)
        kernel = arg(0, 1)
        return arg(1, kernel) if kernel is not None else None
    if module == "nn.Upsample":
        scale = arg(1, 1)
        return None if scale is None else 1 / scale
    if module == "Contract":
        return arg(0, 2)
    if module == "Expand":
        gain = arg(0, 2)
        return None if gain is None else 1 / gain
    return None
