"""MMDetection Python configs, read with :mod:`ast` as data and merged as MMEngine merges them.

An MMDetection config is a Python file of assignments (``model = dict(...)``) that inherits
from the files its ``_base_`` names, relative to its own folder::

    _base_ = ['../_base_/models/retinanet_r50_fpn.py', '../_base_/datasets/coco_detection.py']
    model = dict(bbox_head=dict(num_classes=20))

The file is **never executed**. Each statement must be an assignment to a name (or a
docstring); each value a literal, ``dict(...)``, simple arithmetic, or a name assigned earlier
in the same file, evaluated by :mod:`anchorctl.configs.safe_eval`. Imports, calls, attribute
access (other than ``_base_.key``) and every other statement are refused, naming the file and
line. Inheritance follows MMEngine's ``Config.fromfile``: the bases are read first (a key set
by two bases is an error), the child's dicts are merged into them key by key, a dict with
``_delete_=True`` replaces the base's instead, and ``{{_base_.key}}`` / ``_base_.key`` read
the merged bases. A missing base is named in the error; chains are bounded in depth and may
not loop.

The anchors are the ``anchor_generator`` (3.x heads may call it ``prior_generator``) of
``model.rpn_head``, else of ``model.bbox_head``: ``AnchorGenerator`` (Faster R-CNN,
RetinaNet, ...), ``SSDAnchorGenerator`` and ``YOLOAnchorGenerator``, with their own argument
names, read into the ``mmdet`` convention (strides ``(w, h)`` turned into anchorctl's y, x).

**Feature maps.** The network input is ``--input-size``, else the test pipeline's ``Resize``
scale ``(w, h)`` (``scale`` in 3.x, ``img_scale`` in 2.x; for a keep-ratio resize this is
the largest landscape input, 1333 x 800 for the COCO configs), else SSD's fixed
``input_size``; it is padded up to ``model.data_preprocessor.pad_size_divisor`` (3.x) or the
pipeline's ``Pad size_divisor`` (2.x), and each level's map is ``ceil(padded / stride)`` per
axis: what the backbone's stride-2 stages and the FPN's extra levels give (the RetinaNet
and Faster R-CNN COCO configs at 1344 x 800: 201,600 and 268,569 anchors). SSD resizes
every image to ``input_size`` squared, so another input is refused. The number of levels is
checked against the neck (``FPN`` ``num_outs``, ``SSDNeck`` ``out_channels``, ``YOLOV3Neck``
``num_scales``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from anchorctl.configs.reading import base_path, check_nesting, read_text
from anchorctl.configs.safe_eval import Budget, Evaluator, Namespace
from anchorctl.configs.toml import Config, checked, config_from_mapping
from anchorctl.errors import AnchorError

MAX_FILES = 64  # files read for one config, bases included (the test configs read 3-5)

GENERATORS: dict[str, set[str]] = {
    "AnchorGenerator": {
        "strides", "ratios", "scales", "base_sizes", "scale_major", "octave_base_scale",
        "scales_per_octave", "centers", "center_offset", "use_box_type",
    },
    "SSDAnchorGenerator": {
        "strides", "ratios", "min_sizes", "max_sizes", "basesize_ratio_range", "input_size",
        "scale_major", "use_box_type",
    },
    "YOLOAnchorGenerator": {"strides", "base_sizes", "use_box_type"},
}  # fmt: skip
NOT_READ = {
    "LegacyAnchorGenerator": "MMDetection 1.x's rounded anchors, which anchorctl does not model",
    "LegacySSDAnchorGenerator": "MMDetection 1.x's SSD anchors, which anchorctl does not model",
    "MlvlPointGenerator": "points, not anchors: the detector is anchor-free",
    "PointGenerator": "points, not anchors: the detector is anchor-free",
}


def read(path: Path, text: str, input_size: tuple[int, int] | None) -> Config:
    """The anchors of the MMDetection config ``path`` (its ``text`` already read)."""
    cfg = load_merged(path, text)
    return _config(path, cfg, input_size)


# -- reading and merging ----------------------------------------------------------------


def load_merged(path: Path, text: str | None = None) -> dict[str, Any]:
    """The config's variables after inheriting its ``_base_`` files, as plain data."""
    counter = [0]
    cfg: dict[str, Any] = _without_delete(_load(path, text, [], counter))
    return cfg


def _load(path: Path, text: str | None, chain: list[Path], counter: list[int]) -> dict[str, Any]:
    counter[0] += 1
    if counter[0] > MAX_FILES:
        raise AnchorError(f"{path}: more than {MAX_FILES} _base_ files to read; refused")
    name = str(path)
    if text is None:
        text = read_text(path)
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        raise AnchorError(f"{name}:{exc.lineno or 1}: not valid Python ({exc.msg})") from None
    except RecursionError:
        raise AnchorError(f"{name}: expressions nest too deeply to read") from None
    except (ValueError, MemoryError) as exc:
        raise AnchorError(f"{name}: not a readable Python file ({type(exc).__name__})") from None

    def where(line: int) -> str:
        return f"{name}:{line}"

    budget = Budget()
    bases = _bases(tree, where, budget)
    inherited: dict[str, Any] = {}
    for base in bases:
        file = base_path(path, base, "_base_", [*chain, path])
        data = _load(file, None, [*chain, path], counter)
        duplicate = sorted(set(inherited) & set(data))
        if duplicate:
            raise AnchorError(
                f"{name}: two _base_ files set {duplicate[0]!r} (MMEngine refuses a key set by "
                "more than one base)"
            )
        inherited.update(data)
    names: dict[str, Any] = {"_base_": Namespace(inherited)} if bases else {}
    evaluator = Evaluator(where, names, budget)
    for statement in tree.body:
        _run(statement, evaluator, names)
    own = {k: v for k, v in names.items() if k != "_base_" and not k.startswith("__")}
    check_nesting(own, name)
    return _merge(own, inherited, name, "")


def _bases(tree: ast.Module, where: Callable[[int], str], budget: Budget) -> list[str]:
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_base_" for t in statement.targets
        ):
            value = Evaluator(where, {}, budget).value(statement.value)
            bases = [value] if isinstance(value, str) else value
            if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
                raise AnchorError(
                    f"{where(statement.lineno)}: _base_ must be a file name or a list of them"
                )
            return list(bases)
    return []


def _run(statement: ast.stmt, evaluator: Evaluator, names: dict[str, Any]) -> None:
    """One top-level statement: an assignment is read, anything else refused."""
    if isinstance(statement, ast.Pass) or (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    ):
        return
    if isinstance(statement, ast.Assign):
        value = evaluator.value(statement.value)
        for target in statement.targets:
            _bind(target, value, evaluator, names)
        return
    if isinstance(statement, ast.AnnAssign) and statement.value is not None:
        _bind(statement.target, evaluator.value(statement.value), evaluator, names)
        return
    if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
        load = ast.copy_location(ast.Name(statement.target.id, ast.Load()), statement.target)
        combined = ast.copy_location(ast.BinOp(load, statement.op, statement.value), statement)
        names[statement.target.id] = evaluator.value(combined)
        return
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        module = statement.module if isinstance(statement, ast.ImportFrom) else None
        hint = ""
        if module and module.startswith("mmengine"):
            hint = (
                "; this is MMEngine's new-style config (read_base), which imports its bases "
                "as code: use the classic `_base_ = [...]` form"
            )
        elif module and module.startswith("detectron2"):
            hint = (
                "; this is a Detectron2 LazyConfig, which is code: give the model's Detectron2 "
                "YAML config instead"
            )
        raise evaluator.refuse(statement, "an import" + hint)
    raise evaluator.refuse(statement, _statement(statement))


def _statement(statement: ast.stmt) -> str:
    kinds = {
        ast.FunctionDef: "a function definition",
        ast.AsyncFunctionDef: "a function definition",
        ast.ClassDef: "a class definition",
        ast.For: "a for loop",
        ast.While: "a while loop",
        ast.If: "an if statement",
        ast.With: "a with statement",
        ast.Try: "a try statement",
        ast.Delete: "a del statement",
        ast.Global: "a global statement",
        ast.Expr: "an expression statement",
        ast.Assert: "an assert statement",
        ast.Raise: "a raise statement",
    }
    return next((v for k, v in kinds.items() if isinstance(statement, k)), "this statement")


def _bind(target: ast.expr, value: Any, evaluator: Evaluator, names: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        if target.id != "_base_":  # read first, by _bases; the name means the bases' values
            names[target.id] = value
        return
    if isinstance(target, (ast.Tuple, ast.List)):
        if not isinstance(value, (list, tuple)) or len(value) != len(target.elts):
            raise evaluator.fail(target, f"cannot unpack into {len(target.elts)} names")
        for sub, item in zip(target.elts, value, strict=True):
            _bind(sub, item, evaluator, names)
        return
    raise evaluator.refuse(target, f"assigning to {ast.unparse(target)}")


def _merge(
    child: Mapping[str, Any], base: Mapping[str, Any], name: str, prefix: str
) -> dict[str, Any]:
    """MMEngine's ``Config._merge_a_into_b``: ``child`` over ``base``, dicts key by key."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict):
            value = dict(value)
            if key in out and not value.pop("_delete_", False):
                if not isinstance(out[key], dict):
                    raise AnchorError(
                        f"{name}: key {prefix + str(key)!r} is a dict here but a "
                        f"{type(out[key]).__name__} in its _base_; add _delete_=True to "
                        "replace it"
                    )
                out[key] = _merge(value, out[key], name, f"{prefix}{key}.")
            else:
                out[key] = value
        else:
            out[key] = value
    return out


def _without_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, list):
        return [_without_delete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_without_delete(v) for v in value)
    return value


# -- the anchors ------------------------------------------------------------------------


def _config(path: Path, cfg: dict[str, Any], input_size: tuple[int, int] | None) -> Config:
    name = str(path)
    model = cfg.get("model")
    if not isinstance(model, dict):
        raise AnchorError(
            f"{name}: no 'model' dict (after reading its _base_ files); is this an "
            "MMDetection config?"
        )
    key, generator = _generator(name, model)
    kind = generator.get("type")
    if isinstance(kind, str) and kind.startswith("mmdet."):
        kind = kind[len("mmdet.") :]
    if not isinstance(kind, str) or kind not in GENERATORS:
        why = NOT_READ.get(kind) if isinstance(kind, str) else None
        raise AnchorError(
            f"{name}: {key}.type {kind!r}: "
            + (
                f"{why}"
                if why
                else f"unknown anchor generator; anchorctl reads {', '.join(GENERATORS)}"
            )
        )
    unknown = sorted(set(generator) - GENERATORS[kind] - {"type"})
    if unknown:
        raise AnchorError(
            f"{name}: {key}.{unknown[0]} is not an argument of {kind} (it takes "
            f"{', '.join(sorted(GENERATORS[kind]))})"
        )
    if "centers" in generator and generator["centers"] is not None:
        raise AnchorError(
            f"{name}: {key}.centers: explicit centres are not read by anchorctl; use center_offset"
        )
    strides = _strides(name, key, generator)
    _check_neck(name, key, model, len(strides))
    size, padded, how = _input(name, cfg, model, kind, generator, input_size)
    maps = [
        (math.ceil(padded[1] / sh), math.ceil(padded[0] / sw)) for sw, sh in strides
    ]  # (rows, cols)
    mapping: dict[str, Any] = {"convention": "mmdet", "image_size": list(padded)}
    levels: list[dict[str, Any]] = [
        {"feature_map": list(fm), "strides": [sh, sw]}
        for fm, (sw, sh) in zip(maps, strides, strict=True)
    ]
    mapping.update(_options(name, key, kind, generator, levels))
    mapping["levels"] = levels
    config = config_from_mapping(mapping, f"{name}: {key}")
    origin = (
        f"MMDetection config {path.name}: {key} ({kind}), {len(strides)} levels at strides "
        f"{', '.join(_stride_text(s) for s in strides)}; {how} {size[0]}x{size[1]}"
        + (f" padded to {padded[0]}x{padded[1]}" if padded != size else "")
    )
    return checked(Config(config.convention, config.params, origin), f"{name}: {key}")


def _options(
    name: str, key: str, kind: str, generator: dict[str, Any], levels: list[dict[str, Any]]
) -> dict[str, Any]:
    """The generator's arguments as ``mmdet`` convention options: the shared ones returned,
    the per-level ones written into ``levels``."""
    shared: dict[str, Any] = {}
    per_level: dict[str, str] = {}  # MMDetection argument -> convention option
    top: tuple[str, ...]
    if kind == "AnchorGenerator":
        top = ("ratios", "scales", "octave_base_scale", "scales_per_octave")
        top += ("scale_major", "center_offset")
        per_level["base_sizes"] = "base_sizes"
    elif kind == "SSDAnchorGenerator":
        shared["ssd"] = True
        top = ("basesize_ratio_range", "input_size", "scale_major")
        per_level.update(ratios="ratios", min_sizes="min_sizes", max_sizes="max_sizes")
    else:
        shared["yolo"] = True
        top = ()
        if generator.get("base_sizes") is None:
            raise AnchorError(f"{name}: {key}.base_sizes is missing; YOLOAnchorGenerator needs it")
        per_level["base_sizes"] = "yolo_base_sizes"
    for arg in top:
        if generator.get(arg) is not None:
            shared[arg] = _plain(generator[arg])
    for arg, option in per_level.items():
        if generator.get(arg) is not None:
            values = _per_level(name, key, generator, arg, len(levels))
            for level, value in zip(levels, values, strict=True):
                level[option] = _plain(value)
    return shared


def _generator(name: str, model: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for head in ("rpn_head", "bbox_head"):
        part = model.get(head)
        if not isinstance(part, dict):
            continue
        for field in ("anchor_generator", "prior_generator"):
            generator = part.get(field)
            if isinstance(generator, dict):
                return f"model.{head}.{field}", generator
            if generator is not None:
                raise AnchorError(
                    f"{name}: model.{head}.{field}: expected dict(type=..., ...), got {generator!r}"
                )
    raise AnchorError(
        f"{name}: no anchor_generator in model.rpn_head or model.bbox_head, so no anchors to "
        "read (an anchor-free detector has none)"
    )


def _strides(name: str, key: str, generator: dict[str, Any]) -> list[tuple[float, float]]:
    value = generator.get("strides")
    if not isinstance(value, (list, tuple)) or not value:
        raise AnchorError(f"{name}: {key}.strides: expected one stride per level, got {value!r}")
    out = []
    for item in value:
        pair = item if isinstance(item, (list, tuple)) else (item, item)
        if len(pair) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in pair
        ):
            raise AnchorError(
                f"{name}: {key}.strides: {item!r} is not a stride (a number of pixels, or (w, h))"
            )
        out.append((float(pair[0]), float(pair[1])))
    return out


def _per_level(name: str, key: str, generator: dict[str, Any], arg: str, levels: int) -> list[Any]:
    value = generator[arg]
    if not isinstance(value, (list, tuple)) or len(value) != levels:
        count = len(value) if isinstance(value, (list, tuple)) else "no list of"
        raise AnchorError(
            f"{name}: {key}.{arg} has {count} entries but {key}.strides has {levels} levels; "
            "give one per level"
        )
    return list(value)


def _check_neck(name: str, key: str, model: dict[str, Any], levels: int) -> None:
    necks = model.get("neck")
    for neck in necks if isinstance(necks, list) else [necks]:
        if not isinstance(neck, dict):
            continue
        kind, count, field = neck.get("type"), None, ""
        if "num_outs" in neck:
            count, field = neck["num_outs"], "num_outs"
        elif kind == "SSDNeck" and isinstance(neck.get("out_channels"), (list, tuple)):
            count, field = len(neck["out_channels"]), "out_channels"
        elif kind == "YOLOV3Neck" and "num_scales" in neck:
            count, field = neck["num_scales"], "num_scales"
        if isinstance(count, int) and not isinstance(count, bool) and count != levels:
            raise AnchorError(
                f"{name}: {key}.strides has {levels} levels but model.neck ({kind}) makes "
                f"{count} feature maps ({field}); give one stride per feature map"
            )


def _input(
    name: str,
    cfg: dict[str, Any],
    model: dict[str, Any],
    kind: str,
    generator: dict[str, Any],
    given: tuple[int, int] | None,
) -> tuple[tuple[int, int], tuple[int, int], str]:
    """``(input, padded input, how the input was chosen)``, both ``(width, height)``."""
    if kind == "SSDAnchorGenerator":
        side = generator.get("input_size", 300)
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise AnchorError(f"{name}: input_size {side!r} is not a whole number of pixels")
        if given is not None and given != (side, side):
            raise AnchorError(
                f"{name}: SSD resizes every image to {side}x{side} (anchor_generator "
                f"input_size), so its anchors exist only for that input, not "
                f"{given[0]}x{given[1]}; leave out the input size, or edit the config"
            )
        return (side, side), (side, side), "fixed SSD input"
    divisor = _pad_divisor(cfg, model)
    if given is not None:
        size, how = given, "input"
    else:
        scale = _test_scale(cfg)
        if scale is None:
            raise AnchorError(
                f"{name}: no test Resize scale to take the input size from; give the network "
                "input size (--input-size WxH)"
            )
        size, how = scale, "test Resize scale"
    padded = (math.ceil(size[0] / divisor) * divisor, math.ceil(size[1] / divisor) * divisor)
    return size, padded, how


def _pipelines(cfg: dict[str, Any]) -> list[Any]:
    found = [cfg.get("test_pipeline")]
    for loader in ("test_dataloader", "val_dataloader"):
        part = cfg.get(loader)
        if isinstance(part, dict) and isinstance(part.get("dataset"), dict):
            found.append(part["dataset"].get("pipeline"))
    data = cfg.get("data")
    if isinstance(data, dict):
        for split in ("test", "val"):
            if isinstance(data.get(split), dict):
                found.append(data[split].get("pipeline"))
    return [p for p in found if isinstance(p, list)]


def _transforms(pipeline: list[Any]) -> list[dict[str, Any]]:
    """Every transform dict of a pipeline, test-time-augmentation wrappers opened."""
    out: list[dict[str, Any]] = []
    for item in pipeline:
        if isinstance(item, dict):
            out.append(item)
            inner = item.get("transforms")
            if isinstance(inner, list):
                for sub in inner:
                    out.extend(_transforms(sub) if isinstance(sub, list) else _transforms([sub]))
    return out


def _test_scale(cfg: dict[str, Any]) -> tuple[int, int] | None:
    for pipeline in _pipelines(cfg):
        for transform in _transforms(pipeline):
            if transform.get("type") not in ("Resize", "MultiScaleFlipAug", "TestTimeAug"):
                continue
            for field in ("scale", "img_scale"):
                size = _size(transform.get(field))
                if size is not None:
                    return size
    return None


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        value = value[0]  # multi-scale test: the first scale
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _pad_divisor(cfg: dict[str, Any], model: dict[str, Any]) -> int:
    preprocessor = model.get("data_preprocessor")
    if isinstance(preprocessor, dict) and "pad_size_divisor" in preprocessor:
        return _divisor(preprocessor["pad_size_divisor"])
    for pipeline in _pipelines(cfg):
        for transform in _transforms(pipeline):
            if transform.get("type") == "Pad" and "size_divisor" in transform:
                return _divisor(transform["size_divisor"])
    return 1


def _divisor(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _plain(value: Any) -> Any:
    """Tuples as lists, as the TOML mapping spells them."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _stride_text(stride: tuple[float, float]) -> str:
    w, h = stride
    return f"{w:g}" if w == h else f"{w:g}x{h:g}"
