"""The one evaluator of expressions found in framework configs, over Python's ``ast``.

Framework configs are data, but some spell their numbers as Python: MMDetection's configs are
Python files of ``dict(...)`` literals and names (``input_size = 300`` ... ``input_size=
input_size``), and Detectron2's RetinaNet base config writes its anchor sizes as a YAML
``!!python/object/apply:eval`` list comprehension. Both are evaluated here, never with
``eval`` or ``exec``: only these forms are read, anything else is refused with the file and
line, and nothing in a config is ever run.

* literals: numbers, strings, ``True``/``False``/``None``, lists, tuples, sets, dicts
  (``**other`` included) and ``dict(key=value, **other)``;
* arithmetic on numbers: unary ``+ - not``, ``+ - * / // % **``, comparisons, ``and``,
  ``or``, ``x if c else y``; ``+`` joins lists, tuples and strings and ``*`` repeats them;
* names assigned earlier (``names``), subscripts ``a[0]``, ``a[1:]``, ``a['key']``;
* list, set and dict comprehensions and generator expressions over such values;
* ``_base_.key.key`` (MMEngine's reference into the inherited config) where a ``_base_``
  :class:`Namespace` is among ``names``.

Bounds: every value built charges a :class:`Budget` (names are copied, so shared lists
cannot multiply behind the budget's back), integers stay below 2**4096, expressions nest at
most 100 levels, and evaluation takes at most a fixed number of steps.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from anchorctl.errors import AnchorError

MAX_ITEMS = 200_000  # values built per file (the merged test configs hold under 400)
MAX_STEPS = 1_000_000  # expression nodes visited per file
MAX_DEPTH = 100  # nested expression levels
MAX_INT_BITS = 4096
MAX_LENGTH = 100_000  # a string, list or tuple built by + or *

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class Namespace(dict[str, Any]):
    """A dict whose keys read as attributes in a config: ``_base_.model.bbox_head``."""


class Budget:
    """What one file may still build: values and evaluation steps."""

    def __init__(self, items: int = MAX_ITEMS, steps: int = MAX_STEPS) -> None:
        self.items = items
        self.steps = steps

    def charge(self, items: int, where: str) -> None:
        self.items -= items
        if self.items < 0:
            raise AnchorError(f"{where}: the config builds more than {MAX_ITEMS:,} values")


class Evaluator:
    """Evaluates expression nodes of one file; ``where(line)`` names the file and line."""

    def __init__(
        self, where: Callable[[int], str], names: Mapping[str, Any], budget: Budget | None = None
    ) -> None:
        self.where = where
        self.names = names
        self.budget = budget or Budget()
        self._depth = 0
        self._line = 1

    # -- entry points ------------------------------------------------------------------
    def value(self, node: ast.expr) -> Any:
        """The value of expression ``node``."""
        self._depth += 1
        self._line = getattr(node, "lineno", self._line)
        try:
            if self._depth > MAX_DEPTH:
                raise self.refuse(node, f"an expression nested more than {MAX_DEPTH} levels")
            self.budget.steps -= 1
            if self.budget.steps < 0:
                raise self.refuse(node, "an expression that takes too long to evaluate")
            method = getattr(self, "_" + type(node).__name__, None)
            if method is None:
                raise self.refuse(node, describe(node))
            return method(node)
        finally:
            self._depth -= 1

    def refuse(self, node: ast.AST, what: str) -> AnchorError:
        """The one-line error for a construct that is not data."""
        line = getattr(node, "lineno", self._line)
        return AnchorError(
            f"{self.where(line)}: {what} is not allowed in a config (only literals, arithmetic "
            "and names assigned earlier are read); nothing was run"
        )

    def fail(self, node: ast.AST, what: str) -> AnchorError:
        line = getattr(node, "lineno", self._line)
        return AnchorError(f"{self.where(line)}: {what}")

    # -- literals ------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if value is None or isinstance(value, (bool, int, float, str)):
            self.budget.charge(1, self.where(self._line))
            return value
        raise self.refuse(node, f"the constant {type(value).__name__}")

    def _List(self, node: ast.List) -> list[Any]:
        return list(self._elements(node.elts))

    def _Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._elements(node.elts))

    def _Set(self, node: ast.Set) -> Any:
        # MMEngine's {{_base_.key}} reference: a set holding a set holding the reference
        if len(node.elts) == 1 and isinstance(node.elts[0], ast.Set):
            inner = node.elts[0].elts
            if len(inner) == 1 and _is_base_reference(inner[0]):
                return self.value(inner[0])
        return self._hashable(node, lambda: set(self._elements(node.elts)))

    def _elements(self, nodes: list[ast.expr]) -> Iterator[Any]:
        for element in nodes:
            if isinstance(element, ast.Starred):
                yield from self._iterable(element.value)
            else:
                yield self.value(element)

    def _Dict(self, node: ast.Dict) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, item in zip(node.keys, node.values, strict=True):
            if key is None:
                other = self.value(item)
                if not isinstance(other, dict):
                    raise self.fail(item, f"** needs a dict, got {type(other).__name__}")
                out.update(other)
            else:
                key_value = self.value(key)
                self._hashable(key, partial(hash, key_value))
                out[key_value] = self.value(item)
        return out

    def _Call(self, node: ast.Call) -> dict[str, Any]:
        if not (isinstance(node.func, ast.Name) and node.func.id == "dict"):
            raise self.refuse(node, f"a call to {_callee(node.func)}")
        if node.args:
            raise self.refuse(node, "dict() with positional arguments")
        out: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self.value(keyword.value)
            if keyword.arg is None:
                if not isinstance(value, dict):
                    raise self.fail(node, f"** needs a dict, got {type(value).__name__}")
                out.update(value)
            else:
                out[keyword.arg] = value
        return out

    # -- names -------------------------------------------------------------------------
    def _Name(self, node: ast.Name) -> Any:
        if node.id not in self.names:
            raise self.fail(
                node,
                f"name {node.id!r} is not assigned earlier in this file (a config is read as "
                "data: names from other files or Python are unknown)",
            )
        return self.copy(self.names[node.id], node)

    def _Attribute(self, node: ast.Attribute) -> Any:
        base = self.value(node.value)
        if not isinstance(base, Namespace):
            raise self.refuse(node, f"attribute access .{node.attr}")
        if node.attr not in base:
            raise self.fail(node, f"_base_ has no key {node.attr!r}")
        value = self.copy(base[node.attr], node)
        return Namespace(value) if isinstance(value, dict) else value

    def _Subscript(self, node: ast.Subscript) -> Any:
        container = self.value(node.value)
        index = self.value(node.slice)
        if not isinstance(container, (list, tuple, str, dict)):
            raise self.fail(node, f"cannot index a {type(container).__name__}")
        try:
            return container[index]
        except (IndexError, KeyError, TypeError) as exc:
            raise self.fail(node, f"bad index {index!r} ({type(exc).__name__})") from None

    def _Slice(self, node: ast.Slice) -> slice:
        parts = [None if p is None else self._int(p) for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    # -- arithmetic --------------------------------------------------------------------
    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if not _is_number(operand):
            raise self.fail(node, f"unary {_op(node.op)} needs a number, got {operand!r}")
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise self.refuse(node, f"the operator {_op(node.op)}")

    def _BinOp(self, node: ast.BinOp) -> Any:
        function = _BINARY.get(type(node.op))
        if function is None:
            raise self.refuse(node, f"the operator {_op(node.op)}")
        left, right = self.value(node.left), self.value(node.right)
        self._check_operands(node, left, right)
        try:
            result = function(left, right)
        except ZeroDivisionError:
            raise self.fail(node, "division by zero") from None
        except OverflowError:
            raise self.fail(node, "a number too large for a float") from None
        except TypeError:
            raise self.fail(
                node,
                f"cannot compute {type(left).__name__} {_op(node.op)} {type(right).__name__}",
            ) from None
        if isinstance(result, complex):
            raise self.fail(node, "the result is a complex number")
        if isinstance(result, (list, tuple)):
            self.count(result, node)  # [a] * n holds n references to a: charge them all
        return result

    def _check_operands(self, node: ast.BinOp, left: Any, right: Any) -> None:
        op = node.op
        if _is_number(left) and _is_number(right):
            if isinstance(left, int) and isinstance(right, int):
                bits = max(abs(left).bit_length(), abs(right).bit_length(), 1)
                if isinstance(op, ast.Pow) and right > 0 and bits * right > MAX_INT_BITS:
                    raise self.fail(node, f"{left} ** {right} is too large a number")
                if isinstance(op, ast.Mult) and (
                    abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS
                ):
                    raise self.fail(node, "a product too large a number")
            return
        sequences = (str, list, tuple)
        if isinstance(op, ast.Add) and isinstance(left, sequences) and type(left) is type(right):
            if len(left) + len(right) > MAX_LENGTH:
                raise self.fail(node, f"a {type(left).__name__} longer than {MAX_LENGTH:,}")
            return
        if isinstance(op, ast.Mult):
            seq, count = (left, right) if isinstance(left, sequences) else (right, left)
            if isinstance(seq, sequences) and isinstance(count, int) and _is_number(count):
                if len(seq) * max(count, 0) > MAX_LENGTH:
                    raise self.fail(node, f"a {type(seq).__name__} longer than {MAX_LENGTH:,}")
                return
        raise self.fail(
            node,
            f"cannot compute {type(left).__name__} {_op(op)} {type(right).__name__} "
            "(arithmetic is on numbers; + joins and * repeats lists and strings)",
        )

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for item in node.values:
            result = self.value(item)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.value(node.left)
        for op, item in zip(node.ops, node.comparators, strict=True):
            function = _COMPARE.get(type(op))
            if function is None:
                raise self.refuse(node, f"the comparison {type(op).__name__}")
            right = self.value(item)
            try:
                if not function(left, right):
                    return False
            except TypeError:
                raise self.fail(
                    node, f"cannot compare {type(left).__name__} and {type(right).__name__}"
                ) from None
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.value(node.body) if self.value(node.test) else self.value(node.orelse)

    # -- comprehensions ----------------------------------------------------------------
    def _ListComp(self, node: ast.ListComp) -> list[Any]:
        return [self._scoped(node.elt, scope) for scope in self._scopes(node.generators, 0, {})]

    _GeneratorExp = _ListComp

    def _SetComp(self, node: ast.SetComp) -> Any:
        return self._hashable(
            node,
            lambda: {self._scoped(node.elt, s) for s in self._scopes(node.generators, 0, {})},
        )

    def _DictComp(self, node: ast.DictComp) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for scope in self._scopes(node.generators, 0, {}):
            key = self._scoped(node.key, scope)
            self._hashable(node.key, partial(hash, key))
            out[key] = self._scoped(node.value, scope)
        return out

    def _scopes(
        self, generators: list[ast.comprehension], index: int, scope: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if index == len(generators):
            yield scope
            return
        generator = generators[index]
        if generator.is_async:
            raise self.refuse(generator.iter, "async comprehension")
        for item in self._iterable(generator.iter, scope):
            inner = dict(scope)
            self._bind(generator.target, item, inner)
            if all(self._scoped(test, inner) for test in generator.ifs):
                yield from self._scopes(generators, index + 1, inner)

    def _bind(self, target: ast.expr, item: Any, scope: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            scope[target.id] = item
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(item, (list, tuple)) or len(item) != len(target.elts):
                raise self.fail(target, f"cannot unpack {item!r} into {len(target.elts)} names")
            for sub, value in zip(target.elts, item, strict=True):
                self._bind(sub, value, scope)
            return
        raise self.refuse(target, f"assigning to {describe(target)}")

    def _scoped(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        if not scope:
            return self.value(node)
        saved = self.names
        self.names = {**saved, **scope}
        try:
            return self.value(node)
        finally:
            self.names = saved

    def _iterable(self, node: ast.expr, scope: dict[str, Any] | None = None) -> Iterator[Any]:
        value = self._scoped(node, scope or {})
        if isinstance(value, dict):
            return iter(list(value))
        if isinstance(value, (list, tuple, str, set)):
            return iter(list(value))
        raise self.fail(node, f"cannot iterate over {type(value).__name__}")

    # -- helpers -----------------------------------------------------------------------
    def _int(self, node: ast.expr) -> int:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(node, f"an index must be a whole number, got {value!r}")
        return value

    def _hashable(self, node: ast.AST, build: Callable[[], Any]) -> Any:
        try:
            return build()
        except TypeError:
            raise self.fail(node, "a set element or dict key must be a number or string") from None

    def count(self, value: Any, node: ast.AST) -> None:
        """Charge every value inside ``value``, shared ones as often as they appear; stops as
        soon as the budget is spent, so a huge shared structure costs no more than that."""
        where = self.where(getattr(node, "lineno", self._line))
        stack = [value]
        count = 0
        while stack:
            item = stack.pop()
            count += 1
            if count > self.budget.items:
                self.budget.charge(count, where)
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple, set)):
                stack.extend(item)
        self.budget.charge(count, where)

    def copy(self, value: Any, node: ast.AST) -> Any:
        """A fresh copy of a named value, charged to the budget (see the module notes)."""
        self.count(value, node)
        return _deep_copy(value)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Namespace):
        return Namespace({k: _deep_copy(v) for k, v in value.items()})
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_deep_copy(v) for v in value)
    if isinstance(value, set):
        return set(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _is_base_reference(node: ast.expr) -> bool:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "_base_"


def _callee(func: ast.expr) -> str:
    if isinstance(func, ast.Lambda):
        return "a lambda"
    text = ast.unparse(func)
    return (text if len(text) <= 40 else text[:37] + "...") + "()"


def _op(op: ast.AST) -> str:
    return {
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.Div: "/",
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.Pow: "**",
        ast.USub: "-",
        ast.UAdd: "+",
        ast.Not: "not",
        ast.Invert: "~",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.MatMult: "@",
    }.get(type(op), type(op).__name__)


def describe(node: ast.AST) -> str:
    """What a refused node is, in words a user recognizes."""
    names = {
        ast.Lambda: "a lambda",
        ast.NamedExpr: "an assignment expression (:=)",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.JoinedStr: "an f-string",
        ast.FormattedValue: "an f-string",
        ast.Starred: "a starred expression",
    }
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    return f"the expression {type(node).__name__}"


def evaluate_text(text: str, where: Callable[[int], str]) -> Any:
    """The value of one expression written as text (Detectron2's YAML eval form)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None) or 1
        raise AnchorError(f"{where(line)}: not a Python expression ({_reason(exc)})") from None
    return Evaluator(where, {}).value(tree.body)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return exc.msg
    return type(exc).__name__
