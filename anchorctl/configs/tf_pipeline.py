"""TF Object Detection API ``pipeline.config``: the anchor generator, the resizer, the extractor.

The file is protobuf text (:mod:`anchorctl.configs.prototext`). Read from ``model { ssd {
... } }`` or ``model { faster_rcnn { ... } }``:

* ``anchor_generator`` (SSD) or ``first_stage_anchor_generator`` (Faster R-CNN, R-FCN),
  holding one of ``ssd_anchor_generator`` (``tf-ssd`` convention: ``num_layers``,
  ``min_scale``, ``max_scale``, ``scales``, ``aspect_ratios``,
  ``interpolated_scale_aspect_ratio``, ``reduce_boxes_in_lowest_layer``,
  ``base_anchor_height``/``width``, ``height_stride``/``width_stride``,
  ``height_offset``/``width_offset``), ``grid_anchor_generator`` (``tf-grid``: ``scales``,
  ``aspect_ratios``, ``height``, ``width``, ``height_stride``, ``width_stride``,
  ``height_offset``, ``width_offset``) or ``multiscale_anchor_generator`` (``tf-multiscale``:
  ``min_level``, ``max_level``, ``anchor_scale``, ``aspect_ratios``, ``scales_per_octave``,
  ``normalize_coordinates``). Unset fields take the proto defaults.
* ``image_resizer``: ``fixed_shape_resizer { height width }`` fixes the input (another input
  size is refused, as the model resizes every image to it); ``keep_aspect_ratio_resizer {
  min_dimension max_dimension }`` gives ``max x min`` (the largest landscape input; with
  ``pad_to_max_dimension``, ``max x max``).
* ``feature_extractor``: its ``type`` decides the feature maps, as the ``ssd-mobilenet-v1``
  preset derives them with :func:`anchorctl.presets.feature_maps`: the SSD extractors
  (MobileNet v1/v2/v3, Inception v2/v3, MobileDet, PNASNet, PPN) take their first map at
  stride 16 and their second at 32, then four stride-2 layers (``"/16", "/32", "half" x 4``:
  19, 10, 5, 3, 2, 1 at 300 x 300); FPN and BiFPN extractors give levels ``min_level ..
  max_level`` of their ``fpn``/``bifpn`` block at stride ``2**level``; Faster R-CNN
  extractors (ResNet, Inception v2, Inception-ResNet v2, MobileNet) one map at
  ``first_stage_features_stride`` (16). Convolutions use SAME padding, so each map is
  ``ceil(input / stride)``; the input is first padded to the extractor's ``pad_to_multiple``.

A number of layers or levels that does not match the extractor's maps is refused, naming the
keys; an extractor whose maps anchorctl cannot derive is refused, naming its type.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from anchorctl.configs.prototext import Message, parse
from anchorctl.configs.toml import Config, checked, config_from_mapping
from anchorctl.errors import AnchorError

SSD_LAYOUT = ["/16", "/32", "half", "half", "half", "half"]  # the ssd-mobilenet-v1 preset's
SSD_EXTRACTORS = (
    "ssd_mobilenet_v1", "ssd_mobilenet_v2", "ssd_mobilenet_v3_large", "ssd_mobilenet_v3_small",
    "ssd_inception_v2", "ssd_inception_v3", "ssd_mobilenet_v1_ppn", "ssd_pnasnet",
    "ssd_mobilenet_edgetpu", "ssd_mobiledet_cpu", "ssd_mobiledet_dsp", "ssd_mobiledet_edgetpu",
    "ssd_mobiledet_gpu",
)  # fmt: skip
FASTER_RCNN_EXTRACTORS = (
    "faster_rcnn_resnet50", "faster_rcnn_resnet101", "faster_rcnn_resnet152",
    "faster_rcnn_inception_v2", "faster_rcnn_inception_resnet_v2", "faster_rcnn_mobilenet_v1",
)  # fmt: skip
GENERATORS = ("ssd_anchor_generator", "grid_anchor_generator", "multiscale_anchor_generator")


def read(path: Path, text: str, input_size: tuple[int, int] | None) -> Config:
    """The anchors of the TF OD API pipeline config ``path`` (its ``text`` already read)."""
    name = str(path)
    root = parse(text, name)
    model = root.message("model")
    if model is None:
        raise AnchorError(f"{name}: no 'model {{ ... }}' block; is this a pipeline.config?")
    arch_name, arch = _architecture(name, model)
    holder_key = "anchor_generator" if arch_name == "ssd" else "first_stage_anchor_generator"
    holder = arch.message(holder_key)
    key = f"model.{arch_name}.{holder_key}"
    if holder is None:
        raise AnchorError(f"{name}: no {key} block, so no anchors to read")
    kinds = [k for k in holder.fields if k in GENERATORS]
    other = [k for k in holder.fields if k not in GENERATORS]
    if other:
        raise AnchorError(
            f"{name}:{holder.line_of(other[0])}: {key}.{other[0]}: unknown anchor generator; "
            f"anchorctl reads {', '.join(GENERATORS)}"
        )
    if len(kinds) != 1:
        raise AnchorError(f"{name}:{holder.line}: {key}: expected one of {', '.join(GENERATORS)}")
    kind = kinds[0]
    generator = holder.message(kind)
    if generator is None:
        raise AnchorError(f"{name}:{holder.line_of(kind)}: {key}.{kind}: expected {{ ... }}")
    key = f"{key}.{kind}"
    extractor = arch.message("feature_extractor") or Message()
    size, padded, fixed = _input(name, arch, arch_name, input_size)
    multiple = extractor.one("pad_to_multiple")
    if isinstance(multiple, int) and not isinstance(multiple, bool) and multiple > 1:
        padded = (
            math.ceil(padded[0] / multiple) * multiple,
            math.ceil(padded[1] / multiple) * multiple,
        )
    if kind == "ssd_anchor_generator":
        mapping = _ssd(name, key, generator)
    elif kind == "grid_anchor_generator":
        mapping = _grid(name, key, generator)
    else:
        mapping = _multiscale(name, key, generator)
    maps, layout = _feature_maps(name, arch_name, extractor, padded, kind, generator, key)
    _check_levels(name, key, kind, generator, maps, layout)
    mapping["image_size"] = list(padded)
    mapping["levels"] = [{"feature_map": list(fm), **lv} for fm, lv in _levels(mapping, maps)]
    config = config_from_mapping(mapping, f"{name}: {key}")
    origin = (
        f"TF OD API config {path.name}: {key}, {len(maps)} feature maps from the "
        f"{layout}; {'fixed ' if fixed else ''}input {size[0]}x{size[1]}"
        + (f" padded to {padded[0]}x{padded[1]}" if padded != size else "")
    )
    return checked(Config(config.convention, config.params, origin), f"{name}: {key}")


def _architecture(name: str, model: Message) -> tuple[str, Message]:
    for arch in ("ssd", "faster_rcnn"):
        block = model.message(arch)
        if block is not None:
            return arch, block
    found = ", ".join(model.fields) or "nothing"
    raise AnchorError(
        f"{name}:{model.line}: model holds {found}; anchors exist in 'ssd' and 'faster_rcnn' "
        "models (others, such as center_net, are anchor-free)"
    )


def _levels(mapping: dict[str, Any], maps: list[tuple[int, int]]) -> list[tuple[Any, Any]]:
    per_level = mapping.pop("_per_level", {})
    return [(fm, {k: v[i] for k, v in per_level.items()}) for i, fm in enumerate(maps)]


def _numbers(name: str, message: Message, field: str, key: str) -> list[float]:
    values = message.all(field)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AnchorError(
                f"{name}:{message.line_of(field)}: {key}.{field}: {value!r} is not a number"
            )
    return [float(v) for v in values]


def _number(name: str, message: Message, field: str, key: str, default: float) -> float:
    values = _numbers(name, message, field, key)
    return values[-1] if values else default


def _flag(name: str, message: Message, field: str, key: str, default: bool) -> bool:
    value = message.one(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AnchorError(
            f"{name}:{message.line_of(field)}: {key}.{field}: expected true or false, got {value!r}"
        )
    return value


def _ratios(name: str, generator: Message, key: str) -> list[float]:
    ratios = _numbers(name, generator, "aspect_ratios", key)
    if not ratios:
        raise AnchorError(
            f"{name}:{generator.line}: {key}.aspect_ratios is missing; the generator makes no "
            "anchors without it"
        )
    return ratios


def _ssd(name: str, key: str, generator: Message) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "convention": "tf-ssd",
        "num_layers": int(_number(name, generator, "num_layers", key, 6)),
        "min_scale": _number(name, generator, "min_scale", key, 0.2),
        "max_scale": _number(name, generator, "max_scale", key, 0.95),
        "ratios": _ratios(name, generator, key),
        "interpolated_scale_aspect_ratio": _number(
            name, generator, "interpolated_scale_aspect_ratio", key, 1.0
        ),
        "reduce_boxes_in_lowest_layer": _flag(
            name, generator, "reduce_boxes_in_lowest_layer", key, True
        ),
        "base_anchor_size": [
            _number(name, generator, "base_anchor_height", key, 1.0),
            _number(name, generator, "base_anchor_width", key, 1.0),
        ],
    }
    scales = _numbers(name, generator, "scales", key)
    if scales:
        mapping["scales"] = scales
    per_level: dict[str, list[Any]] = {}
    for option, (y_field, x_field) in (
        ("anchor_strides", ("height_stride", "width_stride")),
        ("anchor_offsets", ("height_offset", "width_offset")),
    ):
        ys, xs = _numbers(name, generator, y_field, key), _numbers(name, generator, x_field, key)
        if not ys and not xs:
            continue
        layers = mapping["num_layers"]
        if len(ys) != layers or len(xs) != layers:
            raise AnchorError(
                f"{name}:{generator.line}: {key}.{y_field} and {x_field} need one value per "
                f"layer ({layers}), got {len(ys)} and {len(xs)}"
            )
        per_level[option] = [[y, x] for y, x in zip(ys, xs, strict=True)]
    mapping["_per_level"] = per_level
    return mapping


def _grid(name: str, key: str, generator: Message) -> dict[str, Any]:
    scales = _numbers(name, generator, "scales", key)
    if not scales:
        raise AnchorError(
            f"{name}:{generator.line}: {key}.scales is missing; no anchors without it"
        )

    def number(field: str, default: float) -> float:
        return _number(name, generator, field, key, default)

    return {
        "convention": "tf-grid",
        "scales": scales,
        "ratios": _ratios(name, generator, key),
        "base_anchor_size": [number("height", 256), number("width", 256)],
        "anchor_stride": [number("height_stride", 16), number("width_stride", 16)],
        "anchor_offset": [number("height_offset", 0), number("width_offset", 0)],
    }


def _multiscale(name: str, key: str, generator: Message) -> dict[str, Any]:
    return {
        "convention": "tf-multiscale",
        "min_level": int(_number(name, generator, "min_level", key, 3)),
        "max_level": int(_number(name, generator, "max_level", key, 7)),
        "anchor_scale": _number(name, generator, "anchor_scale", key, 4.0),
        "ratios": _ratios(name, generator, key),
        "scales_per_octave": int(_number(name, generator, "scales_per_octave", key, 2)),
        "normalize_coordinates": _flag(name, generator, "normalize_coordinates", key, True),
    }


def _input(
    name: str, arch: Message, arch_name: str, given: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[int, int], bool]:
    """``(input, padded input, fixed)``; both ``(width, height)``."""
    resizer = arch.message("image_resizer")
    key = f"model.{arch_name}.image_resizer"
    fixed_block = resizer.message("fixed_shape_resizer") if resizer else None
    keep_block = resizer.message("keep_aspect_ratio_resizer") if resizer else None
    if fixed_block is not None:
        height = _whole(name, fixed_block, "height", f"{key}.fixed_shape_resizer", 300)
        width = _whole(name, fixed_block, "width", f"{key}.fixed_shape_resizer", 300)
        if given is not None and given != (width, height):
            raise AnchorError(
                f"{name}: {key}.fixed_shape_resizer resizes every image to {width}x{height}, "
                f"so its anchors exist only for that input, not {given[0]}x{given[1]}; leave "
                "out the input size, or edit the config"
            )
        return (width, height), (width, height), True
    if given is not None:
        return given, given, False
    if keep_block is not None:
        where = f"{key}.keep_aspect_ratio_resizer"
        short = _whole(name, keep_block, "min_dimension", where, 600)
        long = _whole(name, keep_block, "max_dimension", where, 1024)
        if _flag(name, keep_block, "pad_to_max_dimension", where, False):
            return (long, long), (long, long), True
        return (long, short), (long, short), False
    raise AnchorError(
        f"{name}: {key} does not fix the input size; give the network input size (--input-size WxH)"
    )


def _whole(name: str, message: Message, field: str, key: str, default: int) -> int:
    value = message.one(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AnchorError(
            f"{name}:{message.line_of(field)}: {key}.{field}: expected whole pixels >= 1, got "
            f"{value!r}"
        )
    return value


def _feature_maps(
    name: str,
    arch_name: str,
    extractor: Message,
    padded: tuple[int, int],
    kind: str,
    generator: Message,
    key: str,
) -> tuple[list[tuple[int, int]], str]:
    """Each map's ``(rows, cols)`` and a few words on where they come from."""
    from anchorctl.presets import feature_maps

    kind_name = extractor.one("type")
    extractor_type = kind_name.removesuffix("_keras") if isinstance(kind_name, str) else None
    where = f"model.{arch_name}.feature_extractor.type"
    if extractor_type is None:
        raise AnchorError(f"{name}: {where} is missing; the feature maps follow from it")
    if arch_name == "faster_rcnn":
        if not extractor_type.startswith(FASTER_RCNN_EXTRACTORS) or "fpn" in extractor_type:
            raise AnchorError(
                f"{name}: {where} {kind_name!r}: anchorctl cannot derive its feature map "
                f"(it knows {', '.join(FASTER_RCNN_EXTRACTORS)})"
            )
        stride = extractor.one("first_stage_features_stride") or 16
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise AnchorError(f"{name}: first_stage_features_stride {stride!r} is not a stride")
        rules = [f"/{stride}"]
        layout = f"{kind_name} extractor at stride {stride}"
    elif "fpn" in extractor_type:
        block = extractor.message("fpn") or extractor.message("bifpn") or Message()
        low = _whole(name, block, "min_level", "fpn", 3)
        high = _whole(name, block, "max_level", "fpn", 7)
        if not 1 <= low <= high <= 30:
            raise AnchorError(f"{name}: fpn min_level {low} .. max_level {high} is not a range")
        rules = [f"/{1 << level}" for level in range(low, high + 1)]
        layout = f"{kind_name} extractor's levels {low}..{high}"
    elif extractor_type in SSD_EXTRACTORS:
        rules = SSD_LAYOUT
        layout = f"{kind_name} extractor (strides 16, 32, then 4 stride-2 layers)"
    else:
        raise AnchorError(
            f"{name}: {where} {kind_name!r}: anchorctl cannot derive its feature maps (it knows "
            f"{', '.join(SSD_EXTRACTORS)}, the *_fpn extractors and Faster R-CNN's "
            f"{', '.join(FASTER_RCNN_EXTRACTORS)})"
        )
    try:
        maps = feature_maps(rules, padded)
    except AnchorError as exc:
        raise AnchorError(f"{name}: {exc}") from None
    return maps, layout


def _check_levels(
    name: str,
    key: str,
    kind: str,
    generator: Message,
    maps: list[tuple[int, int]],
    layout: str,
) -> None:
    if kind == "ssd_anchor_generator":
        layers = int(_number(name, generator, "num_layers", key, 6))
        if layers != len(maps):
            raise AnchorError(
                f"{name}:{generator.line_of('num_layers')}: {key}.num_layers is {layers} but "
                f"the {layout} makes {len(maps)} feature maps"
            )
    elif kind == "multiscale_anchor_generator":
        low = int(_number(name, generator, "min_level", key, 3))
        high = int(_number(name, generator, "max_level", key, 7))
        if high - low + 1 != len(maps):
            raise AnchorError(
                f"{name}:{generator.line}: {key} has levels {low}..{high} ({high - low + 1}) but "
                f"the {layout} makes {len(maps)} feature maps"
            )
    elif len(maps) != 1:  # pragma: no cover - Faster R-CNN extractors make one map
        raise AnchorError(f"{name}: {key} takes one feature map, the {layout} makes {len(maps)}")
