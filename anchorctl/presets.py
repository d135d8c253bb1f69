"""Named detector configurations, kept as data in ``anchorctl/presets/*.toml``.

A preset file is a config (see :mod:`anchorctl.configs.toml`) whose ``[[levels]]`` tables leave out
``feature_map``: the ``[preset]`` table says how each level's feature map follows from the
network's input size, the way the model's layers compute it:

* ``"/S"``: ``ceil(input / S)`` per axis, after padding the input up to a multiple of
  ``size_divisible`` (a stride-S stack of 3x3, padding-1 convolutions and ceil-mode pools);
* ``"half"``: ``ceil(previous / 2)`` (one more stride-2 layer);
* ``"valid3"``: ``previous - 2`` (a 3x3 convolution without padding);
* ``"global"``: ``1 x 1`` (global pooling).

``fixed_input = true`` marks models that resize every image to ``input_size`` first (SSD):
another input size is then refused rather than silently producing anchors the model never
uses.

``resize`` says how the model's framework maps a training image to the network input, so
``coverage`` and ``suggest`` see the boxes as training does: ``"stretch"`` (SSD: every image
to ``input_size``), ``"letterbox"`` (YOLO: scaled to fit, padded) or ``"shorter-side"``
(Faster R-CNN, RetinaNet: the shorter side to ``shorter_side[0]``, the longer at most
``shorter_side[1]``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from anchorctl.configs import toml as _config
from anchorctl.configs.toml import Config, config_from_mapping
from anchorctl.errors import AnchorError
from anchorctl.geometry import RESIZE_MODES

# The folder of preset files, as text: count --preset imports no pathlib (PRESETS_DIR, below,
# is the same folder as a pathlib.Path).
_PRESETS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "presets")
_DIV = re.compile(r"^/(\d+)$")
_META_KEYS = {
    "name", "framework", "description", "input_size", "fixed_input", "size_divisible",
    "feature_maps", "total", "sources", "resize", "shorter_side",
}  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """A preset's description and its config at one input size."""

    name: str
    framework: str
    description: str
    input_size: tuple[int, int]
    default_input_size: tuple[int, int]
    fixed_input: bool
    total: int | None
    sources: tuple[str, ...]
    config: Config
    resize: str = "stretch"
    shorter_side: tuple[int, int] | None = None


def names() -> list[str]:
    """Every preset's name, sorted."""
    return sorted(
        entry[: -len(".toml")]
        for entry in os.listdir(_PRESETS)
        if entry.endswith(".toml") and not entry.startswith(".")  # as glob("*.toml") sees them
    )


def load_preset(name: str, input_size: tuple[int, int] | None = None) -> Preset:
    """Preset ``name`` at ``input_size`` ``(width, height)`` (default: the model's own)."""
    path = os.path.join(_PRESETS, f"{name}.toml")
    if not os.path.isfile(path):
        raise AnchorError(f"unknown preset {name!r}; choose one of {', '.join(names())}")
    tomllib = _config.tomllib
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise AnchorError("reading presets needs Python 3.11 or later, or `pip install tomli`")
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    meta = data.pop("preset")
    unknown = set(meta) - _META_KEYS
    if unknown:  # a key meant for the config written below the [preset] table by mistake
        raise AssertionError(f"preset {name}: unknown [preset] keys {sorted(unknown)}")
    default = (int(meta["input_size"][0]), int(meta["input_size"][1]))
    size = input_size or default
    fixed = bool(meta.get("fixed_input", False))
    if fixed and size != default:
        raise AnchorError(
            f"preset {name}: {meta['framework']} resizes every input to "
            f"{default[0]}x{default[1]}; leave out --input-size"
        )
    resize = str(meta.get("resize", "stretch"))
    shorter = meta.get("shorter_side")
    if resize not in RESIZE_MODES or (resize == "shorter-side") != (shorter is not None):
        raise AssertionError(f"preset {name}: resize {resize!r} with shorter_side {shorter!r}")
    divisible = int(meta.get("size_divisible", 1))
    maps = feature_maps(meta["feature_maps"], size, divisible)
    levels = data.get("levels") or [{} for _ in maps]
    if len(levels) != len(maps):
        raise AssertionError(f"preset {name}: {len(levels)} levels but {len(maps)} feature maps")
    data["levels"] = [{"feature_map": list(fm), **lv} for fm, lv in zip(maps, levels, strict=True)]
    # The network sees the input padded up to a multiple of size_divisible (torchvision's
    # batched tensor, YOLO's stride-32 grid): anchors and strides follow that size.
    data["image_size"] = [math.ceil(v / divisible) * divisible for v in size]
    config = config_from_mapping(data, f"preset {name}")
    return Preset(
        name=name,
        framework=str(meta["framework"]),
        description=str(meta.get("description", "")),
        input_size=size,
        default_input_size=default,
        fixed_input=fixed,
        total=int(meta["total"]) if "total" in meta and size == default else None,
        sources=tuple(meta.get("sources", ())),
        config=config,
        resize=resize,
        shorter_side=(int(shorter[0]), int(shorter[1])) if shorter is not None else None,
    )


def feature_maps(
    rules: list[str], input_size: tuple[int, int], size_divisible: int = 1
) -> list[tuple[int, int]]:
    """Each level's ``(rows, cols)`` for an input of ``(width, height)``; rules as above."""
    width, height = input_size
    pad_h = math.ceil(height / size_divisible) * size_divisible
    pad_w = math.ceil(width / size_divisible) * size_divisible
    out: list[tuple[int, int]] = []
    for rule in rules:
        match = _DIV.match(rule)
        if match:
            stride = int(match.group(1))
            out.append((math.ceil(pad_h / stride), math.ceil(pad_w / stride)))
        elif rule == "half" and out:
            rows, cols = out[-1]
            out.append((math.ceil(rows / 2), math.ceil(cols / 2)))
        elif rule == "valid3" and out:
            rows, cols = out[-1]
            out.append((rows - 2, cols - 2))
        elif rule == "global":
            out.append((1, 1))
        else:
            raise AssertionError(f"unknown feature-map rule {rule!r}")
        if min(out[-1]) < 1:
            raise AnchorError(
                f"input {width}x{height} is too small: level {len(out) - 1} has no cells"
            )
    return out


def describe(preset: Preset) -> dict[str, Any]:
    """The row ``anchorctl presets`` prints for a preset."""
    return {
        "name": preset.name,
        "framework": preset.framework,
        "convention": preset.config.convention,
        "input_size": list(preset.input_size),
        "levels": len(preset.config.feature_maps),
        "total": preset.total,
    }


def __getattr__(name: str) -> Any:
    if name == "PRESETS_DIR":  # made on first use: pathlib costs start-up time
        from pathlib import Path

        return Path(_PRESETS)
    raise AttributeError(f"module 'anchorctl.presets' has no attribute {name!r}")
