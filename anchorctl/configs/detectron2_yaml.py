"""Detectron2 YAML configs: ``MODEL.ANCHOR_GENERATOR`` through ``_BASE_`` chains.

A Detectron2 config inherits from the file(s) its ``_BASE_`` names, relative to its own
folder, and overrides keys::

    _BASE_: "../Base-RetinaNet.yaml"
    MODEL:
      RESNETS: {DEPTH: 50}

Files are merged as ``detectron2.config.load_yaml_with_base`` merges them (the child's
mappings into the base's, key by key; a list of bases merged in order), over Detectron2's
defaults for the keys read here (``detectron2/config/defaults.py``). YAML is read by
:mod:`anchorctl.configs.yaml_safe`: the ``!!python/object/apply:eval`` list comprehension of
Detectron2's RetinaNet base config is evaluated safely, every other Python tag is refused.

The anchors are ``MODEL.ANCHOR_GENERATOR``: ``NAME`` (``DefaultAnchorGenerator`` or
``RotatedAnchorGenerator``), ``SIZES``, ``ASPECT_RATIOS``, ``OFFSET`` and ``ANGLES``, one list
per level or one list for every level (``_broadcast_params``). The levels are the features
the head reads: ``MODEL.RETINANET.IN_FEATURES`` for ``META_ARCHITECTURE: RetinaNet``,
``MODEL.RPN.IN_FEATURES`` for the R-CNNs; a feature ``pN`` or ``resN`` has stride ``2**N``.

**Feature maps.** The network input is ``--input-size``, else ``INPUT.MAX_SIZE_TEST`` x
``INPUT.MIN_SIZE_TEST`` (1333 x 800 by default: the largest landscape input
``ResizeShortestEdge`` makes), padded up to the backbone's ``size_divisibility`` (an FPN
backbone: the largest stride among ``MODEL.FPN.IN_FEATURES``, 32; a plain ResNet: none), and
each level's map is ``ceil(padded / stride)`` (stride-2 convolutions with padding, and the
FPN's max-pool or stride-2 extra levels).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from anchorctl.configs import yaml_safe
from anchorctl.configs.reading import base_path, check_nesting, read_text
from anchorctl.configs.toml import Config, checked, config_from_mapping
from anchorctl.errors import AnchorError

MAX_FILES = 64

DEFAULTS: dict[str, Any] = {
    "MODEL": {
        "META_ARCHITECTURE": "GeneralizedRCNN",
        "BACKBONE": {"NAME": "build_resnet_backbone"},
        "PROPOSAL_GENERATOR": {"NAME": "RPN"},
        "RPN": {"IN_FEATURES": ["res4"]},
        "RETINANET": {"IN_FEATURES": ["p3", "p4", "p5", "p6", "p7"]},
        "FPN": {"IN_FEATURES": []},
        "ANCHOR_GENERATOR": {
            "NAME": "DefaultAnchorGenerator",
            "SIZES": [[32, 64, 128, 256, 512]],
            "ASPECT_RATIOS": [[0.5, 1.0, 2.0]],
            "ANGLES": [[-90, 0, 90]],
            "OFFSET": 0.0,
        },
    },
    "INPUT": {"MIN_SIZE_TEST": 800, "MAX_SIZE_TEST": 1333},
}
GENERATORS = ("DefaultAnchorGenerator", "RotatedAnchorGenerator")
RPN_ARCHITECTURES = ("GeneralizedRCNN", "ProposalNetwork", "PanopticFPN")
_FEATURE = re.compile(r"^(?:p|res)(\d+)$")
_KEY = "MODEL.ANCHOR_GENERATOR"


TOP_KEYS = {
    "MODEL", "INPUT", "DATASETS", "DATALOADER", "SOLVER", "TEST", "OUTPUT_DIR", "SEED",
    "CUDNN_BENCHMARK", "VIS_PERIOD", "GLOBAL", "VERSION", "FLOAT32_PRECISION",
}  # fmt: skip


def read(path: Path, data: Any, input_size: tuple[int, int] | None) -> Config:
    """The anchors of the Detectron2 config ``path`` (``data``: its YAML, already loaded)."""
    merged = load_merged(path, data)
    unknown = sorted(str(k) for k in set(merged) - TOP_KEYS)
    if unknown or "MODEL" not in merged:
        what = f"key {unknown[0]!r} is not a Detectron2 config key" if unknown else "no MODEL key"
        raise AnchorError(
            f"{path}: {what} (Detectron2 configs have MODEL, INPUT, DATASETS, SOLVER, ...); "
            "is it a Detectron2 config?"
        )
    cfg = _merge(merged, DEFAULTS)
    return _config(path, cfg, input_size)


def load_merged(path: Path, data: Any = None) -> dict[str, Any]:
    """The config after its ``_BASE_`` files, without Detectron2's defaults."""
    return _load(path, data, [], [0])


def _load(path: Path, data: Any, chain: list[Path], counter: list[int]) -> dict[str, Any]:
    counter[0] += 1
    if counter[0] > MAX_FILES:
        raise AnchorError(f"{path}: more than {MAX_FILES} _BASE_ files to read; refused")
    name = str(path)
    if data is None:
        data = yaml_safe.load(read_text(path), name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AnchorError(f"{name}: a Detectron2 config is a mapping of keys (MODEL:, INPUT:)")
    check_nesting(data, name)
    data = dict(data)
    bases = data.pop("_BASE_", None)
    out: dict[str, Any]
    if bases is None:
        out = data
        return out
    merged: dict[str, Any] = {}
    for base in bases if isinstance(bases, list) else [bases]:
        file = base_path(path, base, "_BASE_", [*chain, path])
        merged = _merge(_load(file, None, [*chain, path], counter), merged, str(file))
    return _merge(data, merged, name)


def _merge(
    child: dict[str, Any], base: dict[str, Any], name: str = "", prefix: str = ""
) -> dict[str, Any]:
    """``merge_a_into_b``: ``child``'s values over ``base``'s, mappings key by key."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and key in out:
            if not isinstance(out[key], dict):
                raise AnchorError(
                    f"{name}: key {prefix + str(key)!r} is a mapping here but not in its base "
                    "(Detectron2: cannot inherit key)"
                )
            out[key] = _merge(value, out[key], name, f"{prefix}{key}.")
        else:
            out[key] = value
    return out


def _config(path: Path, cfg: dict[str, Any], input_size: tuple[int, int] | None) -> Config:
    name = str(path)
    model = _mapping(name, cfg, "MODEL")
    generator = _mapping(name, model, "ANCHOR_GENERATOR", "MODEL.")
    unknown = sorted(set(generator) - {"NAME", "SIZES", "ASPECT_RATIOS", "ANGLES", "OFFSET"})
    if unknown:
        raise AnchorError(
            f"{name}: {_KEY}.{unknown[0]} is not a Detectron2 key (it reads NAME, SIZES, "
            "ASPECT_RATIOS, OFFSET, ANGLES)"
        )
    kind = generator.get("NAME")
    if kind not in GENERATORS:
        raise AnchorError(
            f"{name}: {_KEY}.NAME {kind!r}: unknown anchor generator; anchorctl reads "
            f"{' and '.join(GENERATORS)}"
        )
    features, features_key = _features(name, model)
    strides = []
    for feature in features:
        match = _FEATURE.match(feature) if isinstance(feature, str) else None
        if match is None or int(match.group(1)) > 30:
            raise AnchorError(
                f"{name}: {features_key}: feature {feature!r} has no known stride (anchorctl "
                "reads pN and resN, stride 2**N)"
            )
        strides.append(1 << int(match.group(1)))
    n = len(strides)
    sizes = _broadcast(name, generator.get("SIZES"), "SIZES", n, features_key)
    ratios = _broadcast(name, generator.get("ASPECT_RATIOS"), "ASPECT_RATIOS", n, features_key)
    angles = (
        _broadcast(name, generator.get("ANGLES"), "ANGLES", n, features_key)
        if kind == "RotatedAnchorGenerator"
        else None
    )
    size, padded, how = _input(name, cfg, model, input_size)
    levels: list[dict[str, Any]] = []
    for index, stride in enumerate(strides):
        level: dict[str, Any] = {
            "feature_map": [math.ceil(padded[1] / stride), math.ceil(padded[0] / stride)],
            "strides": stride,
            "sizes": sizes[index],
            "ratios": ratios[index],
        }
        if angles is not None:
            level["angles"] = angles[index]
        levels.append(level)
    mapping = {
        "convention": "detectron2",
        "image_size": list(padded),
        "offset": generator.get("OFFSET"),
        "levels": levels,
    }
    config = config_from_mapping(mapping, f"{name}: {_KEY}")
    origin = (
        f"Detectron2 config {path.name}: {_KEY} ({kind}) on {features_key} "
        f"{', '.join(features)}; {how} {size[0]}x{size[1]}"
        + (f" padded to {padded[0]}x{padded[1]}" if padded != size else "")
    )
    return checked(Config(config.convention, config.params, origin), f"{name}: {_KEY}")


def _mapping(name: str, data: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise AnchorError(f"{name}: key {prefix}{key}: expected a mapping, got {value!r}")
    return value


def _features(name: str, model: dict[str, Any]) -> tuple[list[Any], str]:
    architecture = model.get("META_ARCHITECTURE")
    if architecture == "RetinaNet":
        key = "MODEL.RETINANET.IN_FEATURES"
        part = model.get("RETINANET")
    elif architecture in RPN_ARCHITECTURES:
        proposals = model.get("PROPOSAL_GENERATOR")
        generator = proposals.get("NAME") if isinstance(proposals, dict) else None
        if generator not in ("RPN", "RRPN"):
            raise AnchorError(
                f"{name}: MODEL.PROPOSAL_GENERATOR.NAME {generator!r}: no anchors (anchorctl "
                "reads the anchors of RPN and RRPN)"
            )
        key = "MODEL.RPN.IN_FEATURES"
        part = model.get("RPN")
    else:
        raise AnchorError(
            f"{name}: MODEL.META_ARCHITECTURE {architecture!r}: anchorctl does not know which "
            f"features it lays anchors on (it reads RetinaNet, {', '.join(RPN_ARCHITECTURES)})"
        )
    features = part.get("IN_FEATURES") if isinstance(part, dict) else None
    if not isinstance(features, list) or not features:
        raise AnchorError(f"{name}: {key}: expected a list of feature names, got {features!r}")
    return features, key


def _broadcast(name: str, value: Any, key: str, levels: int, features_key: str) -> list[Any]:
    """Detectron2's ``_broadcast_params``: one list per level, or one list for all."""
    where = f"{name}: {_KEY}.{key}"
    if not isinstance(value, list) or not value:
        raise AnchorError(f"{where}: expected a non-empty list, got {value!r}")
    if not isinstance(value[0], list):
        return [value] * levels
    if len(value) == 1:
        return value * levels
    if len(value) != levels:
        raise AnchorError(
            f"{where} has {len(value)} lists but {features_key} has {levels} features; give "
            "one list per feature, or one list for all"
        )
    return value


def _input(
    name: str, cfg: dict[str, Any], model: dict[str, Any], given: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[int, int], str]:
    backbone = model.get("BACKBONE")
    backbone_name = backbone.get("NAME") if isinstance(backbone, dict) else None
    divisor = 1
    if isinstance(backbone_name, str) and "fpn" in backbone_name.lower():
        fpn = model.get("FPN")
        fpn_features = fpn.get("IN_FEATURES") if isinstance(fpn, dict) else None
        strides = [
            1 << int(m.group(1))
            for f in (fpn_features or [])
            if isinstance(f, str) and (m := _FEATURE.match(f)) and int(m.group(1)) <= 30
        ]
        divisor = max(strides, default=32)
    if given is not None:
        size, how = given, "input"
    else:
        settings = cfg.get("INPUT")
        settings = settings if isinstance(settings, dict) else {}
        short: Any = settings.get("MIN_SIZE_TEST")
        long: Any = settings.get("MAX_SIZE_TEST")
        if not (_pixels(short) and _pixels(long)):
            raise AnchorError(
                f"{name}: INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST do not give an input size; give "
                "the network input size (--input-size WxH)"
            )
        size, how = (int(long), int(short)), "INPUT.MAX_SIZE_TEST x MIN_SIZE_TEST"
    padded = (math.ceil(size[0] / divisor) * divisor, math.ceil(size[1] / divisor) * divisor)
    return size, padded, how


def _pixels(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
