"""The safe evaluator: the forms configs use give Python's values; nothing else is evaluated."""

from __future__ import annotations

import ast
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anchorctl.configs.safe_eval import Evaluator, Namespace, evaluate_text
from anchorctl.errors import AnchorError


def value(text: str, **names: Any) -> Any:
    return Evaluator(lambda line: f"cfg.py:{line}", names).value(ast.parse(text, mode="eval").body)


def test_detectron2_retinanet_sizes() -> None:
    text = "[[x, x * 2**(1.0/3), x * 2**(2.0/3) ] for x in [32, 64, 128, 256, 512 ]]"
    got = evaluate_text(text, lambda line: f"Base-RetinaNet.yaml:{line}")
    assert got == [[x, x * 2 ** (1.0 / 3), x * 2 ** (2.0 / 3)] for x in [32, 64, 128, 256, 512]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "dict(type='AnchorGenerator', strides=[8, 16])",
            {"type": "AnchorGenerator", "strides": [8, 16]},
        ),
        ("dict(a=1, **extra)", {"a": 1, "b": 2}),
        ("{'a': 1, **extra}", {"a": 1, "b": 2}),
        ("(1333, 800)", (1333, 800)),
        ("[x * 2 for x in (1, 2) if x > 1]", [4]),
        ("{k: v for k, v in [('a', 1)]}", {"a": 1}),
        ("[*base, 3]", [1, 2, 3]),
        ("base[0] + base[-1]", 3),
        ("base[1:]", [2]),
        ("'data/' + 'coco/'", "data/coco/"),
        ("[0.5] * 3", [0.5, 0.5, 0.5]),
        ("-(2 ** -1) // 1 % 5", 4.0),
        ("1 if base else 2", 1),
        ("not base or 5", 5),
        ("1 < 2 <= 2 != 3", True),
        ("2 in base", True),
        ("{{_base_.model.size}}", 300),
        ("_base_.model", {"size": 300}),
        ("tuple_name", (1, 2)),
        ("None", None),
    ],
)
def test_config_forms(text: str, expected: Any) -> None:
    names = {
        "extra": {"b": 2},
        "base": [1, 2],
        "tuple_name": (1, 2),
        "_base_": Namespace({"model": {"size": 300}}),
    }
    assert value(text, **names) == expected


def test_names_are_copied_so_later_changes_cannot_alias() -> None:
    shared = [1, 2]
    got = value("[base, base]", base=shared)
    assert got == [[1, 2], [1, 2]]
    assert got[0] is not shared and got[0] is not got[1]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("__import__('os')", "a call to __import__()"),
        ("open('x')", "a call to open()"),
        ("(lambda: 1)()", "a call to a lambda"),
        ("lambda: 1", "a lambda"),
        ("().__class__", "attribute access .__class__"),
        ("f'{1}'", "an f-string"),
        ("(x := 1)", "an assignment expression"),
        ("1 << 4", "the operator <<"),
        ("~1", "the operator ~"),
        ("1 is 1", "the comparison Is"),
        ("b'x'", "the constant bytes"),
        ("1j", "the constant complex"),
        ("dict([('a', 1)])", "dict() with positional arguments"),
        ("...", "the constant ellipsis"),
    ],
)
def test_everything_else_is_refused_with_file_and_line(text: str, words: str) -> None:
    with pytest.raises(AnchorError) as caught:
        value(text)
    message = str(caught.value)
    assert message.startswith("cfg.py:1: ")
    assert words in message
    assert "nothing was run" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("undefined + 1", "name 'undefined' is not assigned earlier"),
        ("'%s' % 1", "cannot compute str % int"),
        ("[1] + (2,)", "cannot compute list + tuple"),
        ("(-8) ** 0.5", "complex"),
        ("10.0 ** 400", "too large for a float"),
        ("base[5]", "bad index 5"),
        ("{[1]: 2}", "must be a number or string"),
        ("[x for x in 5]", "cannot iterate over int"),
        ("[a for a, b in [1]]", "cannot unpack 1"),
    ],
)
def test_bad_values_are_one_line_errors(text: str, words: str) -> None:
    with pytest.raises(AnchorError) as caught:
        value(text, base=[1])
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_lines_count_from_the_yaml_node() -> None:
    with pytest.raises(AnchorError, match=r"^conf.yaml:13: a call to open\(\)"):
        evaluate_text("[1,\n open('x')]", lambda line: f"conf.yaml:{11 + line}")


# Arithmetic on small numbers gives exactly what Python gives.
numbers = st.one_of(
    st.integers(-50, 50), st.floats(-1e3, 1e3, allow_nan=False).map(lambda f: round(f, 3))
)
operators = st.sampled_from(["+", "-", "*", "/", "//", "%"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return repr(draw(numbers))
    left = draw(expressions(depth - 1))
    right = draw(expressions(depth - 1))
    return f"({left} {draw(operators)} {right})"


@given(expressions())
def test_arithmetic_matches_python(text: str) -> None:
    try:
        expected = eval(text, {"__builtins__": {}})  # the test's own generated arithmetic
    except ZeroDivisionError:
        with pytest.raises(AnchorError, match="division by zero"):
            value(text)
        return
    got = value(text)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected
        assert type(got) is type(expected)
