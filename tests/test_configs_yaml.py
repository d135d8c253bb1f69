"""The YAML loader, with libyaml's parser and with PyYAML's pure-Python one: data in, Detectron2's
eval form evaluated safely, every other Python tag and every alias bomb refused."""

from __future__ import annotations

from typing import Any

import pytest

from anchorctl.configs import yaml_safe
from anchorctl.errors import AnchorError

LOADERS = pytest.mark.parametrize(
    "loader", yaml_safe.LOADERS, ids=[c.__name__ for c in yaml_safe.LOADERS]
)


@LOADERS
def test_plain_data_and_the_eval_form(loader: type[Any]) -> None:
    text = (
        "MODEL:\n  ANCHOR_GENERATOR:\n    SIZES: !!python/object/apply:eval "
        '["[[x, x * 2**(1.0/3)] for x in [32, 64]]"]\n    OFFSET: 0.5\n'
        "DATASETS:\n  TRAIN: ('coco',)\n"
    )
    data = yaml_safe.load(text, "c.yaml", loader)
    sizes = data["MODEL"]["ANCHOR_GENERATOR"]["SIZES"]
    assert sizes == [[32, 32 * 2 ** (1.0 / 3)], [64, 64 * 2 ** (1.0 / 3)]]
    assert data["MODEL"]["ANCHOR_GENERATOR"]["OFFSET"] == 0.5
    assert data["DATASETS"]["TRAIN"] == "('coco',)"
    assert yaml_safe.load("", "empty.yaml", loader) is None


@LOADERS
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: !!python/object/apply:os.system ['x']\n",
            "c.yaml:1: the YAML tag !!python/object/apply:os.system",
        ),
        ("a: !!python/name:os.system\n", "c.yaml:1: the YAML tag !!python/name:os.system"),
        ("\na: !!python/tuple [1, 2]\n", "c.yaml:2: the YAML tag !!python/tuple"),
        ("a: !!python/object/apply:eval [1, 2]\n", 'takes one string, ["expression"]'),
        ("a: !!python/object/apply:eval {args: ['1']}\n", 'takes one string, ["expression"]'),
        (
            "a:\n  b: !!python/object/apply:eval\n    - '[1,\n\n       open(1)]'\n",
            "c.yaml:3: a call to open()",
        ),
        ("a: !include other.yaml\n", "c.yaml:1: unknown YAML tag '!include'"),
        ("a: [1, 2\n", "c.yaml:2: not valid YAML"),
        ("a: &x [*x]\n", "c.yaml:1: a recursive alias"),
        ("a: " + "[" * 80 + "]" * 80 + "\n", "values nest more than 64 levels deep"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "c.yaml"),
    ],
)
def test_refusals_are_one_line_with_the_line(loader: type[Any], text: str, expected: str) -> None:
    with pytest.raises(AnchorError) as caught:
        yaml_safe.load(text, "c.yaml", loader)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@LOADERS
def test_aliases_count_at_their_full_size(loader: type[Any]) -> None:
    fine = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert yaml_safe.load(fine, "ok.yaml", loader)["b"] == [[1, 2, 3]] * 3
    lines = ["a: &a [" + ", ".join(["0"] * 100) + "]"]
    lines.append("b: &b [" + ", ".join(["*a"] * 100) + "]")
    lines.append("c: [" + ", ".join(["*b"] * 100) + "]")  # 10**6 values once expanded
    with pytest.raises(AnchorError, match="expands to more than 200,000 values"):
        yaml_safe.load("\n".join(lines), "bomb.yaml", loader)
