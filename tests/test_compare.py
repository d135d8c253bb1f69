"""`anchorctl compare`: the same inputs under several conventions, and each difference explained."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shlex
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from anchorctl import compare as core
from anchorctl.cli.compare_cmd import compare as compare_command

from support import run

TV_D2 = ("--conventions", "torchvision,detectron2", "--ratios", "0.5,1,2", "--feature-map", "4x4",
         "--input-size", "64x64")  # fmt: skip
MIRROR = ("--conventions", "tf-grid,keras-retinanet", "--ratios", "0.5,1,2", "--scales", "1",
          "--feature-map", "4x4", "--input-size", "256x256")  # fmt: skip


def as_json(*args: str) -> dict[str, Any]:
    result = run("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["conventions"] if c["name"] == name)
    return found


def kinds(conv: dict[str, Any]) -> dict[str, str]:
    return {d["kind"]: d["explanation"] for d in conv["differences"]}


def shapes(conv: dict[str, Any]) -> list[tuple[float, float]]:
    return [(s["width_px"], s["height_px"]) for s in conv["shapes"]]


# --- torchvision vs detectron2: rounding, order ---------------------------------------------


def test_one_size_differs_only_by_torchvision_rounding() -> None:
    data = as_json(*TV_D2, "--sizes", "32")
    assert data["reference"] == "torchvision" and data["image_size"] == [64, 64]
    tv, d2 = entry(data, "torchvision"), entry(data, "detectron2")
    assert shapes(tv) == [(46.0, 22.0), (32.0, 32.0), (22.0, 46.0)]
    assert shapes(d2) == [(45.2548, 22.6274), (32.0, 32.0), (22.6274, 45.2548)]
    assert tv["differences"] == []
    found = kinds(d2)
    assert set(found) == {"rounding"}  # same order, same centre (config offset 0), same count
    assert found["rounding"].startswith("rounding: 2 shape(s) differ by rounding")
    assert "45.25 x 22.63 here vs 46 x 22 in torchvision" in found["rounding"]
    assert "torchvision rounds (cell anchors (-w/2, -h/2, w/2, h/2) rounded" in found["rounding"]
    assert [s["reference_slot"] for s in d2["shapes"]] == [0, 1, 2]


def test_two_sizes_show_size_major_vs_ratio_major_order() -> None:
    data = as_json(*TV_D2, "--sizes", "32,64")
    d2 = entry(data, "detectron2")
    assert d2["count"] == entry(data, "torchvision")["count"] == 4 * 4 * 6
    # detectron2 slot i is torchvision's slot reference_slot[i]: size-major vs ratio-major
    assert [s["reference_slot"] for s in d2["shapes"]] == [0, 2, 4, 1, 3, 5]
    found = kinds(d2)
    assert set(found) == {"order", "rounding"}
    assert "the same shapes in a different order" in found["order"]
    assert "size-major" in found["order"] and "ratio-major" in found["order"]
    assert "slots 0..5 here are torchvision's slots 0,2,4,1,3,5" in found["order"]


def test_rounding_at_the_reference_window_is_a_few_per_cent() -> None:
    data = as_json("--conventions", "mmdet,py-faster-rcnn", "--ratios", "0.5,1,2", "--scales", "8",
                   "--feature-map", "4x4", "--input-size", "64x64")  # fmt: skip
    frcnn = entry(data, "py-faster-rcnn")
    assert shapes(frcnn)[0] == (184.0, 96.0)  # not 181.02 x 90.51: the 2:1 window is rounded
    found = kinds(frcnn)
    assert "184 x 96 here vs 181.02 x 90.51 in mmdet): py-faster-rcnn rounds" in found["rounding"]
    assert "shapes" not in found and "order" not in found
    assert found["centre"].startswith("centre on 0.47 of a stride here vs the cell corner in mmdet")


def test_table_blocks_differences_and_skipped() -> None:
    result = run("compare", "--sizes", "32,64", "--ratios", "0.5,1,2", "--feature-map", "4x4",
                 "--input-size", "64x64")  # fmt: skip
    assert result.exit_code == 0 and result.stderr == ""
    out = result.stdout
    assert "reference: torchvision" in out.splitlines()[0]
    for name in ("torchvision", "detectron2"):
        assert re.search(rf"^{name} · ", out, flags=re.M)
    assert "≠ the same shapes in a different order" in out
    assert "≠ rounding: " in out
    assert (
        "4 x 4 cells x 6 per cell = 96 anchors · stride 16 px · cell (0,0) centred at (0, 0) px"
        in out
    )
    skipped = out.split("skipped:\n", 1)[1]
    assert "  tf-grid: does not read --sizes\n" in skipped
    assert "  mxnet: reads --sizes as a fraction of the image" in skipped  # units disagree


def test_differences_are_highlighted(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()

    def coloured(out: Any) -> Console:
        return Console(file=buffer, force_terminal=True, color_system="standard", width=200)

    monkeypatch.setattr("anchorctl.tables.console", coloured)
    assert run("compare", *TV_D2, "--sizes", "32,64").exit_code == 0
    text = buffer.getvalue()
    bold_yellow = "\x1b[1;33m"
    assert f"{bold_yellow}≠ the same shapes in a different order" in text
    assert f"{bold_yellow}45.25 x 22.63" in text  # the differing shape cell too


# --- centre: corner vs centre ----------------------------------------------------------------


def test_corner_vs_centre_from_the_cli() -> None:
    data = as_json("--conventions", "torchvision,keras-retinanet", "--sizes", "32", "--ratios",
                   "0.5,1,2", "--feature-map", "4x4", "--input-size", "64x64")  # fmt: skip
    kr = entry(data, "keras-retinanet")
    assert kr["center0_px"] == [8.0, 8.0] and entry(data, "torchvision")["center0_px"] == [0.0, 0.0]
    found = kinds(kr)
    assert found["centre"].startswith(
        "centre on the cell centre here vs the cell corner in torchvision, half a stride apart"
    )
    assert "top-left corner of the cell" in found["centre"]  # torchvision's own rule
    assert found["per_cell"].startswith("9 shapes per cell here vs 3 in torchvision (144 vs 48")


def test_detectron2_offset_moves_the_centre_off_the_corner() -> None:
    # torchvision reads no --offset, so this pair is compared through the library
    size = (64, 64)
    common = {"sizes": [(32.0,)], "ratios": [(0.5, 1.0, 2.0)], "feature_maps": [(4, 4)]}
    tv = core.run("torchvision", common, size)
    corner = core.run("detectron2", common, size)
    centred = core.run("detectron2", {**common, "offset": 0.5}, size)
    result = core.compare([tv, corner, centred], size)
    assert [d.kind for d in result.entries[1].differences] == ["rounding"]
    centre = {d.kind: d.explanation for d in result.entries[2].differences}["centre"]
    assert centre.startswith(
        "centre on the cell centre here vs the cell corner in torchvision, half a stride apart: "
        "cell (0,0) centred at (8, 8) px here, (0, 0) px in torchvision"
    )


# --- w/h vs h/w ------------------------------------------------------------------------------


def test_mirrored_order_from_the_ratio_definition() -> None:
    data = as_json(*MIRROR)
    tf, kr = entry(data, "tf-grid"), entry(data, "keras-retinanet")
    assert sorted(shapes(tf)) == sorted(shapes(kr))  # the same set of shapes
    assert shapes(kr) == shapes(tf)[::-1]
    assert [s["reference_slot"] for s in kr["shapes"]] == [2, 1, 0]
    line = kinds(kr)["mirrored_order"]
    assert line.startswith(
        "mirrored order: ratio = height / width here but width / height in tf-grid: the same "
        "shapes in mirrored order"
    )
    assert "ratio 0.5 gives 362.04 x 181.02, wide, here and 181.02 x 362.04, tall, there" in line
    assert "order" not in kinds(kr)  # the mirrored line replaces the generic one


def test_asymmetric_ratios_are_transposed_not_reordered() -> None:
    args = list(MIRROR)
    args[args.index("0.5,1,2")] = "1,2"
    found = kinds(entry(as_json(*args), "keras-retinanet"))
    assert found["transposed"].startswith(
        "transposed: ratio = height / width here but width / height in tf-grid, so every slot's "
        "width and height are swapped"
    )
    assert "mirrored_order" not in found and "shapes" not in found


# --- units, clip -----------------------------------------------------------------------------


def test_the_same_number_in_different_units() -> None:
    data = as_json("--conventions", "torchvision,mxnet", "--sizes", "32", "--ratios", "1",
                   "--feature-map", "4x4", "--input-size", "64x64")  # fmt: skip
    mx = entry(data, "mxnet")
    assert shapes(mx) == [(2048.0, 2048.0)]  # 32 x the image height
    found = kinds(mx)
    assert found["units"].startswith(
        "--sizes 32 means a fraction of the image here but pixels in torchvision"
    )
    assert "shapes" in found


def test_default_selection_keeps_the_plausible_unit() -> None:
    data = as_json("--sizes", "0.25,0.5", "--ratios", "1,2,0.5", "--feature-map", "4x4",
                   "--input-size", "64x48")  # fmt: skip
    assert [c["name"] for c in data["conventions"]] == ["mxnet", "d2l"]
    assert entry(data, "d2l")["differences"] == []
    reasons = {s["name"]: s["reason"] for s in data["skipped"]}
    assert reasons["torchvision"].startswith("reads --sizes as pixels")
    assert reasons["yolo"] == "does not read --sizes, --ratios"
    assert len(data["conventions"]) + len(data["skipped"]) == 15


def test_clamped_boxes_and_capped_shapes() -> None:
    size = (64, 64)
    base = {"sizes": [(0.75,)], "ratios": [(1.0, 2.0)], "feature_maps": [(4, 4)]}
    plain = core.run("mxnet", base, size)
    clipped = core.run("mxnet", {**base, "clip": True}, size)
    assert plain.levels[0].clipped == 0 and clipped.levels[0].clipped > 0
    line = {
        d.kind: d.explanation for d in core.compare([plain, clipped], size).entries[1].differences
    }
    assert line["clip"].startswith(
        f"clip: {clipped.levels[0].clipped} of 32 anchors here are clamped"
    )
    ssd = {"ratios": [(2.0,)], "scales": (0.9, 1.2), "feature_maps": [(2, 2)]}
    free = core.run("torchvision-ssd", {**ssd, "clip": False}, size)
    capped = core.run("torchvision-ssd", {**ssd, "clip": True}, size)
    line = {
        d.kind: d.explanation for d in core.compare([free, capped], size).entries[1].differences
    }
    assert line["clip"].startswith("clip: 3 shape(s) capped at the 64 x 64 image here")


# --- JSON contract, errors -------------------------------------------------------------------


def test_json_contract() -> None:
    data = as_json("--sizes", "32", "--ratios", "0.5,1,2", "--feature-map", "4x4", "--input-size",
                   "64x64")  # fmt: skip
    assert set(data) == {"image_size", "reference", "conventions", "skipped"}
    assert data["reference"] == data["conventions"][0]["name"] == "torchvision"
    for conv in data["conventions"]:
        assert {"name", "count", "per_cell", "center0_px", "stride_px", "shapes",
                "differences"} <= set(conv)  # fmt: skip
        assert conv["per_cell"] == len(conv["shapes"])
        assert conv["count"] == sum(lv["count"] for lv in conv["levels"])
        assert len(conv["center0_px"]) == len(conv["stride_px"]) == 2
        for shape in conv["shapes"]:
            assert {"slot", "params", "width_px", "height_px"} <= set(shape)
        for diff in conv["differences"]:
            assert set(diff) == {"kind", "explanation"} and "\n" not in diff["explanation"]
    assert entry(data, "keras-retinanet")["stride_px"] == [16.0, 16.0]
    assert {"name": "tf-grid", "reason": "does not read --sizes"} in data["skipped"]


def test_levels_share_one_line_per_difference() -> None:
    data = as_json(*TV_D2, "--sizes", "32,64", "--feature-map", "8x8")
    d2 = entry(data, "detectron2")
    assert [lv["feature_map"] for lv in d2["levels"]] == [[4, 4], [8, 8]]
    assert sorted(d["kind"] for d in d2["differences"]) == ["order", "rounding"]
    assert all("level" not in d for d in d2["differences"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--conventions", "torchvision,nope"), "unknown convention 'nope'"),
        (("--conventions", "torchvision,torchvision"), "torchvision is listed twice"),
        (("--conventions", "torchvision,tf-grid", "--sizes", "32"),
         "tf-grid: does not read --sizes (it reads --scales, --ratios"),
        (("--conventions", "detectron2", "--offset", "1.5"), "detectron2: --offset: 1.5 must lie"),
        (("--convention", "mxnet"), "No such option '--convention'"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_on_one_line(args: tuple[str, ...], message: str) -> None:
    result = run("compare", *args, "--input-size", "64x64")
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_image_size_is_required() -> None:
    result = run("compare", "--sizes", "32")
    assert (
        result.exit_code == 2 and "--input-size WxH (or --image FILE) is required" in result.stderr
    )


def test_help_examples_run() -> None:
    epilog = compare_command.epilog or ""
    text = epilog.split("Examples:", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    examples = [shlex.split(line)[1:] for line in text.splitlines() if line.strip()]
    assert len(examples) >= 3
    for args in examples:
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "≠" in result.stdout or args[-1] == "json"


def test_repeated_shapes_keep_their_slots() -> None:
    size = (64, 64)
    anchors = [((10.0, 13.0), (16.0, 30.0), (10.0, 13.0), (10.0, 13.0), (16.0, 30.0))]
    params = {"anchors": anchors, "strides": [(16.0, 16.0)], "feature_maps": [(2, 2)]}
    one, two = core.run("yolo", params, size), core.run("yolo", params, size)
    result = core.compare([one, two], size).entries[1]
    assert result.differences == () and list(result.matches[0]) == [0, 1, 2, 3, 4]


# --- matching, as a property -----------------------------------------------------------------


@given(
    st.lists(
        st.tuples(st.integers(1, 400), st.integers(1, 400)), min_size=1, max_size=12, unique=True
    ),
    st.randoms(use_true_random=False),
)
def test_any_permutation_is_recovered(sides: list[tuple[int, int]], rnd: Any) -> None:
    size = (64, 64)
    ref = core.run("yolo", {"anchors": [tuple((float(w), float(h)) for w, h in sides)],
                            "strides": [(16.0, 16.0)], "feature_maps": [(2, 2)]}, size)  # fmt: skip
    level = ref.levels[0]
    order = list(range(len(sides)))
    rnd.shuffle(order)
    shuffled = tuple(dataclasses.replace(level.shapes[j], slot=i) for i, j in enumerate(order))
    other = dataclasses.replace(ref, levels=(dataclasses.replace(level, shapes=shuffled),))
    result = core.compare([ref, other], size).entries[1]
    assert list(result.matches[0]) == order
    assert [d.kind for d in result.differences] == ([] if order == sorted(order) else ["order"])
