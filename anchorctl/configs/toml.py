"""Anchor configs as TOML files: one or more levels in any convention.

A config names its convention, optionally the input image size, the options that apply to
every level at the top, and one ``[[levels]]`` table per feature map::

    convention = "torchvision"
    image_size = [1216, 800]          # width, height in pixels

    [[levels]]
    feature_map = [200, 304]          # rows, cols
    sizes = [32]
    ratios = [0.5, 1.0, 2.0]

Keys are the command-line option names with ``_`` for ``-`` (``base_size``, ``min_sizes``);
``anchorctl presets show NAME --format toml`` prints one to start from. A per-level option
may sit at the top (then it applies to every level) or in each level. A bad config is
refused with the file, the key and what was expected.

:class:`Config` and :func:`config_from_mapping` are shared by every reader of
:mod:`anchorctl.configs`: each turns its framework's file into this mapping, so every format
is validated by the same code and ends in the same record.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchorctl import conventions
from anchorctl.configs.reading import read_text
from anchorctl.conventions.base import Option
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    from pathlib import Path

tomllib: Any
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the backport, when installed
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None


@dataclass(frozen=True)
class Config:
    """A convention and its parameters, ready for ``generate(params)``.

    ``params`` maps option names to values as :mod:`anchorctl.conventions.base` describes:
    ``feature_maps`` is a list of ``(rows, cols)``, ``image_size`` the network input
    ``(width, height)`` in pixels (or absent), per-level options hold one entry per level (or
    one for all). ``origin`` says, for a framework config, which file and key the anchors came
    from and how the feature maps were derived; it is empty for a TOML config.
    """

    convention: str
    params: Mapping[str, Any]
    origin: str = ""

    @property
    def feature_maps(self) -> list[tuple[int, int]]:
        return list(self.params["feature_maps"])


def read(
    path: str | Path, input_size: tuple[int, int] | None = None, text: str | None = None
) -> Config:
    """Read and validate a TOML config; :class:`AnchorError` names the file and key.

    ``input_size`` ``(width, height)``, when given, replaces the config's ``image_size`` (its
    feature maps are written in the file and stay as they are); ``text`` is the file's text
    when it was already read.
    """
    name = str(path)
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise AnchorError(
            f"config {name!r}: reading TOML needs Python 3.11 or later, or `pip install tomli`"
        )
    if text is None:
        text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnchorError(f"config {name!r}: not valid TOML ({exc})") from None
    except RecursionError:
        raise AnchorError(f"config {name!r}: values nest too deeply") from None
    config = config_from_mapping(data, name)
    if input_size is None:
        return config
    return Config(config.convention, {**config.params, "image_size": input_size})


def config_from_mapping(data: Mapping[str, Any], where: str = "config") -> Config:
    """Validate parsed TOML (or any mapping of the same shape) into a :class:`Config`."""
    convention = data.get("convention", conventions.DEFAULT)
    if not isinstance(convention, str) or convention not in conventions.MODULES:
        raise AnchorError(
            f"{where}: key 'convention': {convention!r} is not one of "
            f"{', '.join(conventions.MODULES)}"
        )
    options = {o.name: o for o in conventions.load(convention).OPTIONS}
    known_top = {"convention", "image_size", "levels", "preset"}
    params: dict[str, Any] = {}
    image_size = data.get("image_size")
    if image_size is not None:
        params["image_size"] = _pair_of_ints(image_size, f"{where}: key 'image_size'", "[w, h]")
    levels = data.get("levels")
    if not isinstance(levels, list) or not levels or not all(isinstance(t, dict) for t in levels):
        raise AnchorError(
            f"{where}: needs one or more [[levels]] tables, each with feature_map = [rows, cols]"
        )
    for key, value in data.items():
        if key in known_top:
            continue
        option = options.get(key)
        if option is None:
            raise AnchorError(_unknown(where, key, convention, options))
        coerced = coerce(option, value, f"{where}: key '{key}'")
        params[key] = [coerced] if option.per_level else coerced
    feature_maps = []
    per_level: dict[str, list[Any]] = {}
    for index, table in enumerate(levels):
        here = f"{where}: levels[{index}]"
        if "feature_map" not in table:
            raise AnchorError(f"{here}: key 'feature_map' is missing; expected [rows, cols]")
        feature_maps.append(
            _pair_of_ints(table["feature_map"], f"{here}.feature_map", "[rows, cols]")
        )
        for key, value in table.items():
            if key == "feature_map":
                continue
            option = options.get(key)
            if option is None:
                raise AnchorError(_unknown(here, key, convention, options))
            if not option.per_level:
                raise AnchorError(f"{here}: key '{key}' applies to every level; put it at the top")
            if key in params:
                raise AnchorError(f"{here}: key '{key}' is also set at the top; keep one")
            per_level.setdefault(key, []).append(coerce(option, value, f"{here}.{key}"))
    for key, values in per_level.items():
        if len(values) != len(levels):
            raise AnchorError(
                f"{where}: key '{key}' is set in {len(values)} of {len(levels)} levels; "
                "set it in every level or once at the top"
            )
        params[key] = values
    params["feature_maps"] = feature_maps
    return Config(convention, params)


def checked(config: Config, where: str) -> Config:
    """``config`` once its convention accepts its parameters, else :class:`AnchorError`
    prefixed with ``where`` (a framework config's file and key). The convention is tried on
    maps of at most 2 x 2, so a bad value is reported before any anchors are made."""
    small = [(min(r, 2), min(c, 2)) for r, c in config.feature_maps]
    try:
        conventions.load(config.convention).generate({**config.params, "feature_maps": small})
    except AnchorError as exc:
        raise AnchorError(f"{where}: {exc}") from None
    return config


def _unknown(where: str, key: str, convention: str, options: Mapping[str, Option]) -> str:
    return (
        f"{where}: key '{key}' is not read by the {convention} convention "
        f"(it reads: {', '.join(options) or 'nothing'})"
    )


def _pair_of_ints(value: Any, where: str, form: str) -> tuple[int, int]:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise AnchorError(f"{where}: expected {form}, two whole numbers >= 1, got {value!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def coerce(option: Option, value: Any, where: str) -> Any:
    """A TOML value as ``option``'s kind (see ``base.OPTION_KINDS``)."""
    kind = option.kind
    if kind == "flag":
        if isinstance(value, bool):
            return value
        raise AnchorError(f"{where}: expected true or false, got {value!r}")
    if kind in ("float", "int"):
        number = _number(value)
        if number is None or (kind == "int" and not float(number).is_integer()):
            raise AnchorError(
                f"{where}: expected a {'whole ' if kind == 'int' else ''}number, got {value!r}"
            )
        return int(number) if kind == "int" else number
    if kind == "floats":
        values = value if isinstance(value, list) else [value]
        numbers = [_number(v) for v in values]
        if not numbers and option.per_level:
            return ()  # a level with no values (torchvision-ssd's ratios = []): the convention
            # decides whether it takes one
        if not numbers or any(n is None for n in numbers):
            raise AnchorError(
                f"{where}: expected a list of numbers such as [0.5, 1, 2], got {value!r}"
            )
        return tuple(n for n in numbers if n is not None)
    if kind == "yx":
        values = value if isinstance(value, list) else [value, value]
        numbers = [_number(v) for v in values]
        if len(numbers) != 2 or any(n is None for n in numbers):
            raise AnchorError(f"{where}: expected a number or [y, x], got {value!r}")
        return (numbers[0], numbers[1])
    if kind == "whs":
        ok = (
            isinstance(value, list)
            and value
            and all(
                isinstance(p, list) and len(p) == 2 and all(_number(v) is not None for v in p)
                for p in value
            )
        )
        if not ok:
            raise AnchorError(
                f"{where}: expected [[w, h], ...] pairs such as [[10, 13], [16, 30]], got {value!r}"
            )
        return tuple((float(p[0]), float(p[1])) for p in value)
    raise AssertionError(f"unknown option kind {kind!r}")


def dump_config(config: Config, header: Sequence[str] = ()) -> str:
    """TOML text that :func:`read` reads back to the same config."""
    options = {o.name: o for o in conventions.load(config.convention).OPTIONS}
    lines = [f"# {line}" for line in header]
    lines.append(f"convention = {_toml(config.convention)}")
    image_size = config.params.get("image_size")
    if image_size is not None:
        lines.append(f"image_size = {_toml(list(image_size))}  # width, height in pixels")
    levels = config.feature_maps
    per_level_keys = []
    for key, value in config.params.items():
        if key in ("feature_maps", "image_size") or value is None:
            continue
        option = options[key]
        if option.per_level:
            values = list(value)
            if len(values) == 1:
                lines.append(f"{key} = {_toml(_plain(values[0]))}")
            else:
                per_level_keys.append(key)
        else:
            lines.append(f"{key} = {_toml(_plain(value))}")
    for index, feature_map in enumerate(levels):
        lines += ["", "[[levels]]", f"feature_map = {_toml(list(feature_map))}  # rows, cols"]
        for key in per_level_keys:
            lines.append(f"{key} = {_toml(_plain(config.params[key][index]))}")
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise AssertionError(f"cannot write {value!r} as TOML")
