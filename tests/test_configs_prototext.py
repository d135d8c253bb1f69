"""The protobuf text reader: every spelling pipeline.config files use, and one-line errors."""

from __future__ import annotations

import pytest

from anchorctl.configs.prototext import Message, parse
from anchorctl.errors import AnchorError

TEXT = """# a comment
model {
  ssd {
    num_classes: 90  # trailing comment
    anchor_generator: {
      ssd_anchor_generator <
        aspect_ratios: 1.0
        aspect_ratios: 2.0,
        scales: [0.1, .2, 3e-1, 4f];
        reduce_boxes_in_lowest_layer: false
        height_stride: 0x10
      >
    }
    feature_extractor { type: 'ssd_mobilenet_v1' name: "a" "b\\"c" }
    score_converter: SIGMOID
    values: [inf, -inf]
    boxes: [{ x: 1 }, { x: 2 }]
    empty: []
  }
}
train_config: { batch_size: -24 }
"""


def test_every_spelling() -> None:
    root = parse(TEXT, "pipeline.config")
    ssd = root.message("model").message("ssd")  # type: ignore[union-attr]
    assert ssd is not None
    assert ssd.one("num_classes") == 90
    generator = ssd.message("anchor_generator").message("ssd_anchor_generator")  # type: ignore[union-attr]
    assert generator is not None
    assert generator.all("aspect_ratios") == [1.0, 2.0]
    assert generator.all("scales") == [0.1, 0.2, 0.3, 4.0]
    assert generator.one("reduce_boxes_in_lowest_layer") is False
    assert generator.one("height_stride") == 16
    extractor = ssd.message("feature_extractor")
    assert extractor is not None
    assert extractor.one("type") == "ssd_mobilenet_v1"
    assert extractor.one("name") == 'ab"c'
    assert ssd.one("score_converter") == "SIGMOID"
    assert ssd.all("values") == [float("inf"), float("-inf")]
    assert [b.one("x") for b in ssd.all("boxes")] == [1, 2]
    assert ssd.all("empty") == []
    assert root.message("train_config").one("batch_size") == -24  # type: ignore[union-attr]
    assert generator.line_of("height_stride") == 11


def test_last_value_wins_for_a_singular_field() -> None:
    message = parse("a: 1\na: 2\n", "x")
    assert message.one("a") == 2
    assert message.all("a") == [1, 2]
    assert message.one("missing") is None
    assert isinstance(message, Message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model {\n  ssd {\n",
            "x.config:3: expected a field name or '}', found the end of the file",
        ),
        ("a: }", "x.config:1: expected a value, found '}'"),
        ("a 1", "x.config:1: expected ':' or '{' after 'a', found '1'"),
        ("a: [1 2]", "x.config:1: expected ',' or ']', found '2'"),
        ("a: 1\n@", "x.config:2: not protobuf text near '@'"),
        ("}", "x.config:1: expected a field name, found '}'"),
        ("a { " * 70 + "}" * 70, "x.config:1: messages nest more than 64 levels"),
    ],
)
def test_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(AnchorError) as caught:
        parse(text, "x.config")
    assert str(caught.value) == expected
