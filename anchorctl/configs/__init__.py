"""Anchors read from the config files detectors are built from, one module per format.

:func:`load_config` reads any of them and returns a :class:`Config`: an anchorctl convention
and its parameters (feature maps, strides, sizes in the framework's own units), the same
record anchorctl's TOML configs give, so every command and :mod:`anchorctl.conventions`
work with it.

========================  =========================  =========================================
format (``fmt``)          file                       what is read
========================  =========================  =========================================
``toml``                  anchorctl's own            :mod:`~anchorctl.configs.toml`
``yolo``                  YOLOv5/YOLOv3 model YAML   ``anchors:`` rows, Detect layer strides
``mmdet``                 MMDetection ``.py``        ``anchor_generator`` of ``rpn_head`` or
                                                     ``bbox_head``, through ``_base_`` files
``detectron2``            Detectron2 YAML            ``MODEL.ANCHOR_GENERATOR`` through
                                                     ``_BASE_`` files
``tf``                    TF OD API pipeline.config  ``ssd_anchor_generator``,
                                                     ``grid_anchor_generator``,
                                                     ``multiscale_anchor_generator``
========================  =========================  =========================================

Framework configs are data: they are parsed (Python with :mod:`ast`, YAML with PyYAML's safe
loader, protobuf text with a small parser), never executed, and every file is read within
the bounds of :mod:`anchorctl.configs.reading`.

Modules load on first use: ``import anchorctl.configs`` costs nothing.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from pathlib import Path

    from anchorctl.configs.toml import Config

FORMATS = ("toml", "yolo", "mmdet", "detectron2", "tf")

_EXTENSIONS = {
    ".toml": "toml",
    ".py": "mmdet",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".config": "tf",
    ".pbtxt": "tf",
    ".prototxt": "tf",
}


# Content that only one format has, checked in this order (compiled when first needed: every
# command that takes --config imports this module, few read a framework config).
@functools.cache
def _signs() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return (
        ("tf", re.compile(r"^\s*model\s*:?\s*\{", re.M)),
        ("tf", re.compile(r"\b(ssd|grid|multiscale)_anchor_generator\s*:?\s*\{")),
        ("mmdet", re.compile(r"^_base_\s*=|^\w+\s*=\s*dict\(|\bdict\(\s*type\s*=", re.M)),
        ("toml", re.compile(r"^\s*\[\[levels\]\]|^convention\s*=", re.M)),
        ("detectron2", re.compile(r"^(_BASE_|MODEL|INPUT)\s*:", re.M)),
        ("yolo", re.compile(r"^(anchors|backbone|head)\s*:", re.M)),
    )


def load_config(
    path: str | Path, fmt: str | None = None, input_size: tuple[int, int] | None = None
) -> Config:
    """The anchors a config file describes, as a :class:`Config`.

    ``fmt`` is one of :data:`FORMATS`, or ``None`` to tell it from the file's extension and
    content. ``input_size`` is the network input ``(width, height)`` in pixels before the
    framework pads it; by default a framework config's own input size (its test resize, SSD's
    fixed input) is used. The feature maps follow from the input as the framework computes
    them, and ``params["image_size"]`` holds the padded input the anchors are laid on.

    Raises :class:`AnchorError` (one line naming the file and the key or line) for an
    unreadable, hostile or anchor-less config; nothing in a config is ever executed.
    """
    if fmt is not None and fmt not in FORMATS:
        raise AnchorError(f"config format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if input_size is not None:
        width, height = input_size
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in input_size):
            raise AnchorError(f"input size {width}x{height}: give whole pixels >= 1")
    from pathlib import Path

    from anchorctl.configs.reading import read_text

    path = Path(path)
    text = read_text(path)
    chosen = fmt or detect(path, text)
    if chosen == "toml":
        from anchorctl.configs import toml

        return toml.read(path, input_size, text)
    return _read_framework(path, text, chosen, input_size)


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The format :func:`load_config` reads ``path`` as: one of :data:`FORMATS`.

    A command that treats anchorctl's TOML (feature maps written in the file) and framework
    configs (feature maps that follow from the input) differently can ask first.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise AnchorError(f"config format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    from pathlib import Path

    from anchorctl.configs.reading import read_text

    path = Path(path)
    text = read_text(path)
    chosen = detect(path, text)
    if chosen == "yaml":
        from anchorctl.configs import yaml_safe

        chosen = _yaml_kind(path, yaml_safe.load(text, str(path)))
    return chosen


def _read_framework(
    path: Path, text: str, chosen: str, input_size: tuple[int, int] | None
) -> Config:
    if chosen == "mmdet":
        from anchorctl.configs import mmdet_py

        return mmdet_py.read(path, text, input_size)
    if chosen == "tf":
        from anchorctl.configs import tf_pipeline

        return tf_pipeline.read(path, text, input_size)
    from anchorctl.configs import yaml_safe

    data = yaml_safe.load(text, str(path))
    if chosen == "yaml":
        chosen = _yaml_kind(path, data)
    if chosen == "detectron2":
        from anchorctl.configs import detectron2_yaml

        return detectron2_yaml.read(path, data, input_size)
    from anchorctl.configs import yolo_yaml

    return yolo_yaml.read(path, data, input_size)


def detect(path: Path, text: str) -> str:
    """The format of ``text`` (``"yaml"`` when only "YOLO or Detectron2" is known yet).

    The extension decides unless the content holds signs of another format only (a YOLO
    model saved as ``.txt``, a pipeline.config named ``.yaml``); without a known extension
    the content decides; otherwise an error asks for ``--config-format``.
    """
    matched = [fmt for fmt, sign in _signs() if sign.search(text)]
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    families = {"yaml" if m in ("yolo", "detectron2") else m for m in matched}
    if by_extension is not None and (not matched or by_extension in families):
        kinds = {m for m in matched if m in ("yolo", "detectron2")}
        return kinds.pop() if by_extension == "yaml" and len(kinds) == 1 else by_extension
    if matched:
        return matched[0]
    raise AnchorError(
        f"config {str(path)!r}: cannot tell its format from its name or content; give "
        f"--config-format {'|'.join(FORMATS)}"
    )


def _yaml_kind(path: Path, data: object) -> str:
    if isinstance(data, dict):
        if any(k in data for k in ("_BASE_", "MODEL", "INPUT")):
            return "detectron2"
        if any(k in data for k in ("anchors", "backbone", "head")):
            return "yolo"
    raise AnchorError(
        f"config {str(path)!r}: a YAML file that is neither a YOLO model (anchors:, backbone:, "
        "head:) nor a Detectron2 config (MODEL:, _BASE_:); give --config-format yolo or "
        "detectron2"
    )


def __getattr__(name: str) -> object:
    if name in ("Config", "config_from_mapping", "dump_config"):
        from anchorctl.configs import toml

        return getattr(toml, name)
    raise AttributeError(f"module 'anchorctl.configs' has no attribute {name!r}")


__all__ = ["FORMATS", "Config", "detect", "format_of", "load_config"]
