"""Commands take typed option records: every option a command declares lands in a field of
one of the frozen records it builds, so no value the user typed is dropped on the way."""

from __future__ import annotations

import dataclasses

import click
import pytest

from anchorctl.cli.compare_cmd import CompareOptions
from anchorctl.cli.count_cmd import CountOptions
from anchorctl.cli.coverage_cmd import CoverageOptions
from anchorctl.cli.dataset import DatasetOptions
from anchorctl.cli.draw_cmd import DrawOptions
from anchorctl.cli.explain_cmd import ExplainOptions
from anchorctl.cli.export_cmd import ExportOptions
from anchorctl.cli.list_cmd import ListOptions
from anchorctl.cli.options import LEGACY, convention_options, record
from anchorctl.cli.report_cmd import ReportOptions
from anchorctl.cli.source import AnchorOptions
from anchorctl.cli.suggest_cmd import SuggestOptions
from anchorctl.cli.view_cmd import ViewOptions

from support import commands

RECORDS: dict[str, tuple[type, ...]] = {
    "list": (AnchorOptions, ListOptions),
    "draw": (AnchorOptions, DrawOptions),
    "explain": (AnchorOptions, ExplainOptions),
    "count": (AnchorOptions, CountOptions),
    "export": (AnchorOptions, ExportOptions),
    "compare": (AnchorOptions, CompareOptions),
    "coverage": (AnchorOptions, DatasetOptions, CoverageOptions),
    "suggest": (AnchorOptions, DatasetOptions, SuggestOptions),
    "report": (AnchorOptions, DatasetOptions, ReportOptions),
    "view": (AnchorOptions, ViewOptions),
}


@pytest.mark.parametrize(("name", "records"), RECORDS.items())
def test_every_option_has_a_field(name: str, records: tuple[type, ...]) -> None:
    command = commands()[name]
    ctx = click.Context(command)
    fields = {f.name for r in records for f in dataclasses.fields(r)}
    help_option = command.get_help_option(ctx)
    declared = {p.name for p in command.get_params(ctx) if p is not help_option}
    left = declared - fields - set(convention_options()) - set(LEGACY)
    assert left == set(), f"{name}: options without a field: {sorted(left)}"
    for cls in records:
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]


def test_every_anchor_command_is_covered() -> None:
    anchor_commands = {
        name
        for name, command in commands().items()
        if any(p.name == "feature_map" for p in command.params)
    }
    assert anchor_commands == set(RECORDS)


def test_the_anchor_record_keeps_what_was_typed_in_order() -> None:
    command = commands()["list"]
    args = ["--convention", "torchvision", "--ratios", "2", "--sizes", "32", "--sizes", "64",
            "--feature-map", "2x2", "--feature-map", "1x1", "--image-size", "64x48"]  # fmt: skip
    with command.make_context("list", args) as ctx:
        request = AnchorOptions.from_context(ctx)
    assert request.convention == "torchvision"
    assert list(request.typed.items()) == [("ratios", ("2",)), ("sizes", ("32", "64"))]
    assert request.feature_map == ((2, 2), (1, 1))
    assert request.input_size == (64, 48)  # the old name, folded into the new field
    assert request.given == ("feature_map", "convention", "ratios", "sizes")
    assert request.at((10, 10)).input_size == (10, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.convention = "mxnet"  # type: ignore[misc]


def test_a_record_takes_its_fields_and_defaults_the_rest() -> None:
    opts = record(ListOptions, {"fmt": "csv", "level": 2, "sizes": ("1",)})
    assert opts == ListOptions(fmt="csv", level=2)
