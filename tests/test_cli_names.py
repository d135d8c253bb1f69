"""One word, one meaning: the option names the README's table documents, the old spellings
that still work for one release, and messages worded in the chosen convention's terms."""

from __future__ import annotations

import json
import re

import click
import numpy as np
import pytest

from anchorctl import conventions

from support import ROOT, SAMPLES, commands, run

DATA = ROOT / "tests" / "data" / "annotations"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def command_paths() -> dict[str, click.Command]:
    """``"list"``, ``"presets show"``... -> the command."""
    out: dict[str, click.Command] = {}
    for name, command in commands().items():
        out[name] = command
        if isinstance(command, click.Group):
            out.update({f"{name} {sub}": c for sub, c in command.commands.items()})
    return out


def visible_flags(command: click.Command) -> set[str]:
    ctx = click.Context(command)
    flags: set[str] = set()
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            flags.update(o for o in param.opts if o.startswith("--"))
    return flags


def names_table() -> list[tuple[str, set[str]]]:
    match = re.search(r"<!-- option-names -->\n(.*?)\n<!-- /option-names -->", README, re.S)
    assert match, "README has no option-names table"
    rows = []
    for line in match.group(1).splitlines()[2:]:
        option, _, commands = (cell.strip() for cell in line.strip("|").split("|"))
        flag = option.strip("`").split()[0]
        rows.append((flag, {c.strip() for c in commands.split(",")}))
    return rows


@pytest.mark.parametrize(("flag", "commands"), names_table(), ids=lambda v: str(v))
def test_the_readme_table_says_exactly_which_commands_take_each_name(
    flag: str, commands: set[str]
) -> None:
    takes = {path for path, command in command_paths().items() if flag in visible_flags(command)}
    assert takes == commands


@pytest.mark.parametrize("command", ["list", "explain", "count", "export", "compare"])
def test_image_size_still_means_the_input_size_for_one_release(command: str) -> None:
    args = ["--sizes", "32", "--strides", "16", "--feature-map", "4x4"]
    if command == "export":  # to its own framework: exact, so nothing else on stderr
        args += ["--to", "torchvision"]
    if command == "compare":
        args += ["--conventions", "torchvision"]
    else:
        args += ["--convention", "torchvision"]
    new = run(command, *args, "--input-size", "64x64")
    old = run(command, *args, "--image-size", "64x64")
    assert new.exit_code == old.exit_code == 0, old.stderr
    assert old.stdout == new.stdout and new.stderr == ""
    assert old.stderr.count("\n") == 1
    assert "--image-size is deprecated" in old.stderr and "--input-size" in old.stderr
    both = run(command, *args, "--input-size", "64x64", "--image-size", "64x64")
    assert both.exit_code == 2 and "give --input-size once" in both.stderr


def test_draw_takes_the_old_input_size_and_boxes_format(tmp_path) -> None:
    image = str(SAMPLES / "cat.jpg")
    args = ("draw", image, "--preset", "ssd300", "--boxes", str(DATA / "coco.json"))
    new = run(*args, "--annotations-format", "coco", "-o", str(tmp_path / "new.png"))
    old = run(*args, "--boxes-format", "coco", "-o", str(tmp_path / "old.png"))
    assert new.exit_code == old.exit_code == 0, old.stderr
    assert "--boxes-format is deprecated" in old.stderr and "--annotations-format" in old.stderr
    assert (tmp_path / "new.png").read_bytes() == (tmp_path / "old.png").read_bytes()
    wrong = run(*args, "--boxes-format", "voc", "-o", str(tmp_path / "x.png"))
    assert wrong.exit_code != 0  # the old name still means what it meant
    sized = run("draw", image, "--sizes", "32", "--convention", "torchvision", "--image-size",
                "64x64", "-o", str(tmp_path / "sized.png"))  # fmt: skip
    assert sized.exit_code == 0 and "--image-size is deprecated" in sized.stderr


def coverage(*args: str) -> tuple[dict, str]:
    result = run("coverage", str(DATA / "coco.json"), "--preset", "ssd300", *args,
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_coverage_iou_is_one_number_and_thresholds_the_list() -> None:
    default, _ = coverage()
    assert default["main_threshold"] == 0.5 and set(default["recall"]) == {"0.3", "0.5", "0.7"}
    main, _ = coverage("--iou", "0.6")
    assert main["main_threshold"] == 0.6 and set(main["recall"]) == {"0.3", "0.5", "0.6", "0.7"}
    listed, err = coverage("--thresholds", "0.4,0.7", "--iou", "0.7")
    assert listed["main_threshold"] == 0.7 and set(listed["recall"]) == {"0.4", "0.7"} and not err
    assert listed["by_size"] != default["by_size"]  # the breakdowns follow --iou


def test_coverage_iou_list_still_works_for_one_release() -> None:
    # The old rule picks the main threshold: 0.5 if listed, else the first.
    new, quiet = coverage("--thresholds", "0.3,0.7", "--iou", "0.3")
    old, err = coverage("--iou", "0.3,0.7")
    assert old == new and quiet == ""
    assert err.count("\n") == 1 and "deprecated" in err and "--thresholds" in err
    assert old["main_threshold"] == 0.3 and set(old["recall"]) == {"0.3", "0.7"}
    assert coverage("--iou", "0.3,0.5,0.7")[0]["main_threshold"] == 0.5
    both = run("coverage", str(DATA / "coco.json"), "--preset", "ssd300", "--iou", "0.3,0.7",
               "--thresholds", "0.5")  # fmt: skip
    assert both.exit_code == 2 and "--thresholds only" in both.stderr


def test_input_size_n_is_n_by_n() -> None:
    args = ("list", "--convention", "torchvision", "--sizes", "32", "--format", "json")
    square = json.loads(run(*args, "--input-size", "64").stdout)
    assert square == json.loads(run(*args, "--input-size", "64x64").stdout)
    assert square["image_size"] == [64, 64]


def test_mmdet_ssd_input_size_is_the_network_input() -> None:
    module = conventions.load("mmdet")
    args = ("count", "--convention", "mmdet", "--ssd", "--format", "json")
    maps = ["64x64", "32x32", "16x16", "8x8", "4x4", "2x2", "1x1"]
    fm = [a for m in maps for a in ("--feature-map", m)]
    got = json.loads(run(*args, *fm, "--input-size", "512").stdout)
    want = module.generate({"ssd": True, "input_size": 512, "image_size": (512, 512),
                            "feature_maps": [(int(m.split("x")[0]),) * 2 for m in maps]})  # fmt: skip
    assert got["total"] == sum(level.count for level in want)
    assert [row["per_cell"] for row in got["levels"]] == [lv.per_cell for lv in want]
    not_square = run(*args, *fm, "--input-size", "512x300")
    assert not_square.exit_code == 2 and "square" in not_square.stderr
    # Without --ssd the same option is the input the strides are derived from.
    plain = run("count", "--convention", "mmdet", "--feature-map", "50x50", "--input-size",
                "800", "--format", "json")  # fmt: skip
    assert plain.exit_code == 0, plain.stderr
    assert json.loads(plain.stdout)["levels"][0]["stride"] == [16.0, 16.0]


@pytest.mark.parametrize(
    ("convention", "words"),
    [
        ("mxnet", "mxnet: ratio = width / height"),
        ("torchvision", "torchvision: ratio = height / width"),
        ("detectron2", "detectron2: ratio = height / width"),
        ("tf-grid", "tf-grid: ratio = width / height"),
    ],
)
def test_a_malformed_ratio_is_explained_in_the_convention_s_words(
    convention: str, words: str
) -> None:
    result = run("list", "--convention", convention, "--ratios", "1,x")
    assert result.exit_code == 2 and words in result.stderr
    other = "height / width" if "width / height" in words else "width / height"
    assert other not in result.stderr


def test_sizes_examples_are_in_the_convention_s_units() -> None:
    pixels = run("list", "--convention", "torchvision", "--sizes", "a")
    assert "e.g. 128,256,512" in pixels.stderr and "pixels" in pixels.stderr
    normalized = run("list", "--sizes", "a")
    assert "e.g. 0.2,0.5" in normalized.stderr and "fraction of the image" in normalized.stderr


def test_a_level_with_no_ratios_is_an_empty_value() -> None:
    """torchvision's DefaultBoxGenerator([[2], []]): the second level has no extra ratios."""
    module = conventions.load("torchvision-ssd")
    args = ("--convention", "torchvision-ssd", "--feature-map", "2x2", "--feature-map", "1x1",
            "--ratios", "2", "--ratios", "", "--input-size", "300")  # fmt: skip
    got = json.loads(run("list", *args, "--all", "--format", "json").stdout)
    want = module.generate({"feature_maps": [(2, 2), (1, 1)], "ratios": [(2.0,), ()],
                            "image_size": (300, 300)})  # fmt: skip
    assert [lv["per_cell"] for lv in got["levels"]] == [lv.per_cell for lv in want] == [4, 2]
    expected = np.concatenate([lv.array for lv in want])
    assert np.array_equal(np.asarray(got["anchors"], dtype=np.float32), expected)
    refused = run("list", "--sizes", "")  # MultiBoxPrior needs a size: said in its words
    assert refused.exit_code == 2 and "--sizes: give at least one value" in refused.stderr


def test_presets_show_takes_the_input_size_under_its_new_and_old_names() -> None:
    new = run("presets", "show", "fasterrcnn-fpn", "--input-size", "1333x800")
    old = run("presets", "show", "fasterrcnn-fpn", "--image-size", "1333x800")
    assert new.exit_code == old.exit_code == 0 and new.stdout == old.stdout
    assert "input 1333 x 800 px" in new.stdout and "deprecated" in old.stderr
    fixed = run("presets", "show", "ssd300", "--input-size", "640")
    assert fixed.exit_code == 2 and "resizes every input to 300x300" in fixed.stderr


def test_conventions_call_the_network_input_input_size() -> None:
    # Their messages and help are written in anchorctl/conventions/, below the command line.
    sources = sorted((ROOT / "anchorctl" / "conventions").glob("*.py"))
    assert len(sources) > len(conventions.MODULES)  # every convention, checks.py, base.py
    for source in sources:
        assert "--image-size" not in source.read_text(encoding="utf-8"), source.name
    result = run("list", "--convention", "torchvision", "--sizes", "32")
    assert result.exit_code == 2
    assert "--input-size is required" in result.stderr and "--image-size" not in result.stderr
