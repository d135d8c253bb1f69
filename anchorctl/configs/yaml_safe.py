"""YAML as data: PyYAML's safe loader, bounded, and Detectron2's one eval form read safely.

YOLO model files and Detectron2 configs are YAML. They are read with PyYAML's safe loader
(libyaml's parser when installed), with three changes:

* ``!!python/object/apply:eval ["expression"]``, which Detectron2's RetinaNet base config uses
  for its anchor sizes (Detectron2 itself loads such files with ``yaml.unsafe_load``), is
  evaluated by :mod:`anchorctl.configs.safe_eval`: arithmetic and comprehensions over literals
  only. Every other ``!!python/...`` tag, and any unknown tag, is refused with its line;
  nothing is ever run.
* Aliases cannot multiply a document ("billion laughs"): before anything is built, the node
  graph is measured with each alias counted at its full size, and a document larger than
  :data:`MAX_NODES` values, deeper than ``MAX_NESTING`` or holding a recursive alias is refused.
  Measuring is linear in the file (each distinct node is measured once).
* Errors are one line naming the file and line.
"""

from __future__ import annotations

from typing import Any

import yaml

from anchorctl.configs import safe_eval
from anchorctl.configs.reading import MAX_NESTING
from anchorctl.errors import AnchorError

MAX_NODES = safe_eval.MAX_ITEMS
EVAL_TAG = "tag:yaml.org,2002:python/object/apply:eval"
_PYTHON_PREFIX = "tag:yaml.org,2002:python/"


class PyLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, knowing the file it reads (for messages)."""

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.name = name


_CBase: Any = getattr(yaml, "CSafeLoader", None)


class CLoader(_CBase or yaml.SafeLoader):  # type: ignore[misc]
    """The same on libyaml's parser, when PyYAML was built with it (much faster)."""

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.name = name


LOADERS: tuple[type[Any], ...] = (CLoader, PyLoader) if _CBase else (PyLoader,)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _construct_eval(loader: Any, node: yaml.Node) -> Any:
    if not (
        isinstance(node, yaml.SequenceNode)
        and len(node.value) == 1
        and isinstance(node.value[0], yaml.ScalarNode)
    ):
        raise AnchorError(
            f"{loader.name}:{_line(node)}: !!python/object/apply:eval takes one string, "
            '["expression"]; nothing was run'
        )
    scalar = node.value[0]
    # YAML folds the lines of a long string, so errors name the line the expression starts on
    where = f"{loader.name}:{_line(scalar)}"
    return safe_eval.evaluate_text(str(scalar.value), lambda line: where)


def _refuse_python(loader: Any, suffix: str, node: yaml.Node) -> Any:
    raise AnchorError(
        f"{loader.name}:{_line(node)}: the YAML tag !!python/{suffix} would run Python code; "
        "refused (only !!python/object/apply:eval of arithmetic is read, as Detectron2's "
        "configs use it); nothing was run"
    )


def _refuse_unknown(loader: Any, node: yaml.Node) -> Any:
    raise AnchorError(f"{loader.name}:{_line(node)}: unknown YAML tag {node.tag!r}")


for _loader in LOADERS:
    _loader.add_constructor(EVAL_TAG, _construct_eval)
    _loader.add_multi_constructor(_PYTHON_PREFIX, _refuse_python)
    _loader.add_constructor(None, _refuse_unknown)


def load(text: str, name: str, loader_class: type[Any] | None = None) -> Any:
    """The data of one YAML document, or ``None`` for an empty one (``loader_class``: one of
    :data:`LOADERS`, the fastest by default)."""
    loader = (loader_class or LOADERS[0])(text, name)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_nodes(node, name)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        raise AnchorError(f"{name}{line}: not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise AnchorError(f"{name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise AnchorError(f"{name}: values nest too deeply") from None
    finally:
        loader.dispose()


def check_nodes(root: yaml.Node, name: str) -> None:
    """Refuse a node graph whose expanded size, depth or aliases are unbounded (see above)."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            size, height = 1, 1
            for child in _children(node):
                if isinstance(child, yaml.ScalarNode):
                    size, height = size + 1, max(height, 2)
                else:
                    child_size, child_height = sizes[id(child)]
                    size, height = size + child_size, max(height, child_height + 1)
            if size > MAX_NODES:
                raise AnchorError(
                    f"{name}:{_line(node)}: the document expands to more than {MAX_NODES:,} "
                    "values (aliases repeated without end?); refused"
                )
            if height > MAX_NESTING:
                raise AnchorError(
                    f"{name}:{_line(node)}: values nest more than {MAX_NESTING} levels deep"
                )
            sizes[key] = (size, height)
            visiting.discard(key)
        elif key not in sizes:
            if key in visiting:
                raise AnchorError(f"{name}:{_line(node)}: a recursive alias (it contains itself)")
            visiting.add(key)
            stack.append((node, True))
            stack.extend(
                (child, False)
                for child in _children(node)
                if not isinstance(child, yaml.ScalarNode)
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
