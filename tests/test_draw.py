"""`anchorctl draw`: golden pictures, exact geometry, output modes, modes, errors, selection.

Golden images are the command's output reduced 2x (box filter), in tests/golden/. After a
deliberate change to the drawing, look at fresh output and then regenerate them with
``ANCHORCTL_REGEN_GOLDEN=1 pytest tests/test_draw.py -k golden``.
"""

from __future__ import annotations

import errno
import io
import math
import os
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import click
import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from anchorctl import render
from anchorctl.cli import cli, draw_cmd
from anchorctl.cli.source import Source
from anchorctl.conventions import mxnet
from anchorctl.conventions.base import Level
from anchorctl.conventions.mxnet import MultiBoxPriorSpec

from support import SAMPLES


def level_of(spec: MultiBoxPriorSpec) -> Level:
    params = {"feature_maps": [spec.feature_map], "sizes": [spec.sizes],
              "ratios": [spec.ratios], "steps": [spec.steps], "offsets": spec.offsets}  # fmt: skip
    return mxnet.generate(params)[0]


def mx_source(spec: MultiBoxPriorSpec) -> Source:
    return Source("mxnet", {}, None, [level_of(spec)], mxnet.RULES)


GOLDEN = Path(__file__).parent / "golden"
SEED = ("--sizes", "0.2,0.5", "--ratios", "1,4,0.25")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in-process, named as on the command line; stdout and stderr kept apart."""
    return CliRunner().invoke(cli, list(args), env=env, prog_name="anchorctl")


def one_error_line(result: Result, code: int = 1) -> str:
    """The single stderr line of a failed run, after checking the exit code and no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def black_png(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, (0, 0, 0)).save(path)
    return path


def read_back(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


class Spy:
    """Records the arguments of every render.draw_anchors call and where its legend went, then
    draws as usual."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        self.real: Callable[..., render.Drawn] = render.draw_picture
        monkeypatch.setattr(render, "draw_anchors", self)

    def __call__(self, image: Image.Image, boxes: Any, slots: Any, legend: Any, title: Any,
                 grid: Any = None, fill: bool = False, **kwargs: Any) -> Image.Image:  # fmt: skip
        drawn = self.real(image, boxes, slots, legend, title, grid, fill, **kwargs)
        self.calls.append(
            {"size": image.size, "boxes": np.array(boxes), "slots": np.array(slots),
             "legend": list(legend), "title": title, "grid": grid, "fill": fill,
             "placement": drawn.placement, "out_size": drawn.image.size, **kwargs}
        )  # fmt: skip
        return drawn.image


# --- golden pictures ------------------------------------------------------------------------

GOLDEN_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "astronaut_seed": ("astronaut.jpg", SEED),
    "cat_4x4_all_grid": ("cat.jpg", (*SEED, "--feature-map", "4x4", "--all-cells", "--grid")),
    # small, thin and huge pictures, made by the test (see synthetic())
    "small_64x64": ("synthetic:64x64", SEED),
    "small_100x200": ("synthetic:100x200", (*SEED, "--feature-map", "2x1", "--all-cells")),
    "thin_400x32": ("synthetic:400x32", (*SEED, "--feature-map", "1x8", "--all-cells")),
    "huge_6000x4000": ("synthetic:6000x4000", (*SEED, "--feature-map", "2x3", "--all-cells")),
}


def synthetic(size: tuple[int, int]) -> Image.Image:
    """A picture with structure at every scale (gradients and a checkerboard), made here so the
    small, thin and huge cases need no stored photo."""
    w, h = size
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    checker = ((np.floor(x * 8) + np.floor(y * 8)) % 2) * 40
    rgb = np.stack(
        [np.broadcast_to(60 + 120 * x + checker, (h, w)), np.broadcast_to(50 + 100 * y, (h, w)),
         np.broadcast_to(110 - 50 * x + checker, (h, w))], axis=2
    )  # fmt: skip
    return Image.fromarray(rgb.astype(np.uint8))


def source_image(name: str, tmp_path: Path) -> Path:
    if not name.startswith("synthetic:"):
        return SAMPLES / name
    w, h = (int(v) for v in name.split(":")[1].split("x"))
    path = tmp_path / f"synthetic_{w}x{h}.png"
    synthetic((w, h)).save(path)
    return path


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, options = GOLDEN_CASES[case]
    spy = Spy(monkeypatch)
    out = tmp_path / "out.png"
    src = source_image(name, tmp_path)
    result = run("draw", str(src), *options, "-o", str(out))
    assert result.exit_code == 0, result.output
    drawn = read_back(out)
    (call,) = spy.calls
    assert drawn.size == call["out_size"]
    factor = max(2, round(max(drawn.size) / 800))  # goldens stay small: about 800 px a side
    reduced = drawn.reduce(factor)
    golden_path = GOLDEN / f"{case}.png"
    if os.environ.get("ANCHORCTL_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        reduced.save(golden_path, optimize=True)  # then compared below, trivially equal
    golden = read_back(golden_path).convert("RGB")
    assert golden.size == reduced.size
    x0, y0, x1, y1 = call["placement"].box
    box = (x0 // factor, y0 // factor, -(-x1 // factor), -(-y1 // factor))
    compare_to_golden(np.asarray(reduced), np.asarray(golden), box)


def compare_to_golden(
    actual: np.ndarray, golden: np.ndarray, panel: tuple[int, int, int, int]
) -> None:
    """Strict outside the legend panel, loose inside it (font rendering varies by version)."""
    diff = np.abs(actual.astype(np.int16) - golden.astype(np.int16)).max(axis=2)
    legend = np.zeros(diff.shape, dtype=bool)
    x0, y0, x1, y1 = panel
    legend[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4] = True  # margins: fonts vary
    outside, inside = diff[~legend], diff[legend]
    assert outside.mean() < 1.0, outside.mean()
    assert (outside > 40).mean() < 0.0005, (outside > 40).sum()
    if inside.size:
        assert inside.mean() < 12, inside.mean()


# --- exact geometry, no golden needed -------------------------------------------------------


def exact_sqrt(value: Fraction) -> Fraction:
    num, den = math.isqrt(value.numerator), math.isqrt(value.denominator)
    assert Fraction(num, den) ** 2 == value, "pick ratios whose square root is exact"
    return Fraction(num, den)


def expected_rect(
    image: tuple[int, int],
    feature_map: tuple[int, int],
    cell: tuple[int, int],
    size: str,
    ratio: str,
) -> tuple[int, int, int, int]:
    """First and last pixel column and row of an anchor, from the formula in the docstring of
    anchorctl.conventions.mxnet: width = s * (rows/cols) * sqrt(r), height = s / sqrt(r),
    centre ((col + 0.5) / cols, (row + 0.5) / rows), all normalized to the image."""
    (img_w, img_h), (rows, cols), (row, col) = image, feature_map, cell
    s, root = Fraction(size), exact_sqrt(Fraction(ratio))
    width, height = s * Fraction(rows, cols) * root, s / root
    cx, cy = (col + Fraction(1, 2)) / cols, (row + Fraction(1, 2)) / rows
    xmin, xmax = (cx - width / 2) * img_w, (cx + width / 2) * img_w
    ymin, ymax = (cy - height / 2) * img_h, (cy + height / 2) * img_h
    edges = (xmin, ymin, xmax, ymax)
    assert all(e.denominator == 1 for e in edges), "pick cases with whole-pixel edges"
    # pixel i spans [i, i + 1): a box is outlined on the first and last pixel it covers
    return int(xmin), int(ymin), int(xmax) - 1, int(ymax) - 1


def outline(rect: tuple[int, int, int, int], width: int) -> np.ndarray:
    x0, y0, x1, y1 = rect
    mask = np.zeros((y1 + 1, x1 + 1), dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = True
    mask[y0 + width : y1 - width + 1, x0 + width : x1 - width + 1] = False
    return mask


@pytest.mark.parametrize(
    ("image", "feature_map", "cell", "size", "ratio", "width"),
    [
        ((200, 100), (1, 1), None, "0.5", "1", 1),  # 100 x 50 px at (50..150, 25..75)
        ((320, 240), (2, 4), "1,2", "0.25", "1", 1),  # the rows/cols factor: 40 x 60 px
        ((400, 400), (1, 1), None, "0.3", "4", 1),  # ratio 4: twice as wide, half as high
        ((1200, 800), (1, 1), None, "0.5", "0.25", 2),  # thicker lines, drawn inward
    ],
)
def test_outline_pixels_are_exactly_where_the_formula_puts_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    image: tuple[int, int],
    feature_map: tuple[int, int],
    cell: str | None,
    size: str,
    ratio: str,
    width: int,
) -> None:
    rows, cols = feature_map
    cell_rc = tuple(int(v) for v in cell.split(",")) if cell else (rows // 2, cols // 2)
    rect = expected_rect(image, feature_map, cell_rc, size, ratio)  # type: ignore[arg-type]
    src, out = black_png(tmp_path / "black.png", image), tmp_path / "out.png"
    args = ["--sizes", size, "--ratios", ratio, "--feature-map", f"{rows}x{cols}"]
    cells = ["--cell", cell] if cell else []
    result = run("draw", str(src), *args, *cells, "--no-legend", "-o", str(out))
    assert result.exit_code == 0, result.output
    pixels = np.asarray(read_back(out))
    assert pixels.shape == (image[1], image[0], 3)
    assert render.line_width(image) == width
    expected = np.zeros(pixels.shape[:2], dtype=bool)
    mask = outline(rect, width)
    expected[: mask.shape[0], : mask.shape[1]] = mask
    lit = pixels.max(axis=2) > 0
    assert np.array_equal(lit, expected)
    assert {tuple(p) for p in pixels[expected]} == {render.PALETTE[0]}
    # with its legend (and drawn larger when small) the picture keeps every outline pixel: the
    # legend hides none of them
    spy = Spy(monkeypatch)
    with_legend = tmp_path / "legend.png"
    result = run("draw", str(src), *args, *cells, "-o", str(with_legend))
    assert result.exit_code == 0, result.output
    (call,) = spy.calls
    f = call["size"][0] // image[0]
    assert call["size"] == (image[0] * f, image[1] * f)
    big = (rect[0] * f, rect[1] * f, (rect[2] + 1) * f - 1, (rect[3] + 1) * f - 1)
    pixels = np.asarray(read_back(with_legend))
    mask = outline(big, render.line_width(call["size"]))
    assert {tuple(p) for p in pixels[: mask.shape[0], : mask.shape[1]][mask]} == {render.PALETTE[0]}


def test_each_slot_draws_in_its_own_palette_colour(tmp_path: Path) -> None:
    src, out = black_png(tmp_path / "black.png", (400, 400)), tmp_path / "out.png"
    result = run("draw", str(src), "--sizes", "0.2,0.3", "--ratios", "1,4", "-o", str(out))
    assert result.exit_code == 0, result.output
    pixels = np.asarray(read_back(out))
    # slot 0: 0.2 x 1 -> 80 x 80 px; slot 1: 0.3 x 1 -> 120 x 120; slot 2: 0.2 x 4 -> 160 x 40
    for slot, (size, ratio), (x, y) in [
        (0, ("0.2", "1"), (0, 10)),  # a point on the left side, 10 px down
        (1, ("0.3", "1"), (0, 10)),
        (2, ("0.2", "4"), (10, 0)),  # a point on the top side, 10 px in
    ]:
        x0, y0, _, _ = expected_rect((400, 400), (1, 1), (0, 0), size, ratio)
        assert tuple(pixels[y0 + y, x0 + x]) == render.PALETTE[slot], slot
    assert len({render.slot_colour(s) for s in range(3)}) == 3


def test_legend_lines_give_slot_size_ratio_and_pixel_extent() -> None:
    spec = MultiBoxPriorSpec((0.2, 0.5), (1.0, 4.0, 0.25), (1, 1))
    lines = draw_cmd._legend(level_of(spec), (512.0, 512.0))
    # width = s * rows/cols * sqrt(r) * 512, height = s / sqrt(r) * 512
    assert lines == [
        "slot 0: size 0.2, ratio 1, 102.4 x 102.4 px",
        "slot 1: size 0.5, ratio 1, 256.0 x 256.0 px",
        "slot 2: size 0.2, ratio 4, 204.8 x 51.2 px",
        "slot 3: size 0.2, ratio 0.25, 51.2 x 204.8 px",
    ]
    wide = draw_cmd._legend(level_of(MultiBoxPriorSpec((0.5,), (1.0,), (2, 4))), (451.0, 300.0))
    assert wide == [f"slot 0: size 0.5, ratio 1, {0.5 * 2 / 4 * 451:.1f} x {0.5 * 300:.1f} px"]


def test_the_picture_is_titled_with_the_feature_map_and_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    result = run(
        "draw", str(SAMPLES / "cat.jpg"), *SEED, "--feature-map", "3x5", "--all-cells",
        "-o", str(tmp_path / "o.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = spy.calls
    assert "feature map 3x5 (rows x cols)" in call["title"]
    assert "60 anchors" in call["title"]
    assert len(call["legend"]) == 4 and call["legend"][2].startswith("slot 2: size 0.2, ratio 4")
    assert call["slots"].tolist() == [0, 1, 2, 3] * 15


# --- output modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.JPEG", "JPEG"),
                                           ("d.PNG", "PNG")])  # fmt: skip
def test_o_file_writes_the_format_its_extension_names(tmp_path: Path, name: str, fmt: str) -> None:
    result = run("draw", str(SAMPLES / "cat.jpg"), *SEED, "-o", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    image = read_back(tmp_path / name)
    # the seed's anchors fill every corner of the cat, so the legend goes below the image
    assert image.format == fmt and image.mode == "RGB"
    assert image.size[0] == 451 and image.size[1] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left


def test_o_dir_writes_each_image_by_its_stem_without_a_progress_bar(tmp_path: Path) -> None:
    out = tmp_path / "drawn"
    names = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
    result = run("draw", *(str(SAMPLES / n) for n in names), "--sizes", "0.3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # stderr is not a terminal here: no progress bar
    assert sorted(p.name for p in out.iterdir()) == [
        "cat.anchors.png",
        "coffee.anchors.png",
        "rocket.anchors.png",
    ]
    assert read_back(out / "coffee.anchors.png").size == (600, 400)


def test_o_dir_with_a_trailing_slash_may_have_a_dot_in_its_name(tmp_path: Path) -> None:
    out = tmp_path / "run.v2"
    result = run("draw", str(SAMPLES / "cat.jpg"), "-o", f"{out}/")
    assert result.exit_code == 0, result.output
    assert (out / "cat.anchors.png").is_file()


def test_o_dash_writes_png_bytes_to_stdout(tmp_path: Path) -> None:
    result = run("draw", str(SAMPLES / "cat.jpg"), *SEED, "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(result.stdout_bytes))
    assert image.format == "PNG" and image.size[0] == 451 and image.size[1] > 300  # legend below


def test_o_dash_is_refused_when_stdout_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal(io.BytesIO()))
    with pytest.raises(click.UsageError, match="refusing to write PNG bytes to a terminal"):
        draw_cmd._plan_outputs((Path("cat.jpg"),), "-")


def test_default_output_is_stem_anchors_png_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("draw", str(SAMPLES / "rocket.jpg"), "--sizes", "0.4")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rocket.anchors.png"]
    assert read_back(tmp_path / "rocket.anchors.png").format == "PNG"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("both.png", "is one file but there are 2 images; give -o DIR"),
        ("-", "-o - writes one PNG to stdout; give one image"),
    ],
)
def test_one_output_for_several_images_is_a_usage_error(
    tmp_path: Path, output: str, message: str
) -> None:
    images = [str(SAMPLES / "cat.jpg"), str(SAMPLES / "coffee.jpg")]
    target = output if output == "-" else str(tmp_path / output)
    line = one_error_line(run("draw", *images, "-o", target), code=2)
    assert line.startswith("anchorctl draw: ") and message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.gif", "out.webp", "out.tiff"])
def test_an_unknown_extension_is_a_usage_error(tmp_path: Path, name: str) -> None:
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), "-o", str(tmp_path / name)), 2)
    assert "unknown image type" in line and ".png, .jpg or .jpeg" in line
    assert list(tmp_path.iterdir()) == []


def test_two_inputs_with_the_same_stem_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = black_png(tmp_path / "a" / "x.png", (40, 30))
    second = tmp_path / "b" / "x.jpg"
    Image.new("RGB", (40, 30)).save(second)
    out = tmp_path / "out"
    line = one_error_line(run("draw", str(first), str(second), "-o", str(out)), code=2)
    assert "would both be written to" in line and "x.anchors.png" in line
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize("via_link", [False, True])
def test_the_input_is_never_overwritten(tmp_path: Path, via_link: bool) -> None:
    src = black_png(tmp_path / "x.png", (60, 40))
    before = src.read_bytes()
    target = tmp_path / "link.png" if via_link else src
    if via_link:
        target.symlink_to(src)
    line = one_error_line(run("draw", str(src), "-o", str(target)))
    assert line.startswith("anchorctl: error: refusing to overwrite the input")
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"x.png", target.name})


def test_no_input_of_a_batch_is_overwritten_by_another_ones_output(tmp_path: Path) -> None:
    first = black_png(tmp_path / "a.png", (60, 40))
    second = black_png(tmp_path / "a.anchors.png", (60, 40))  # where a.png's picture would go
    before = second.read_bytes()
    result = run("draw", str(first), str(second), "-o", str(tmp_path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"anchorctl: error: refusing to overwrite the input '{second}'; choose another output"
    )
    assert lines[1] == "anchorctl: error: 1 of 2 images failed; the others were drawn"
    assert second.read_bytes() == before
    assert (tmp_path / "a.anchors.anchors.png").is_file()  # the other one was drawn


def test_a_failed_write_leaves_no_partial_file_and_the_old_output_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = black_png(tmp_path / "in.png", (60, 40))
    out = tmp_path / "out.png"
    out.write_bytes(b"previous output")
    fresh = tmp_path / "fresh.png"

    def disk_full(image: Image.Image, handle: IO[bytes], fmt: str) -> None:
        handle.write(PNG_MAGIC + b"half an image")  # some bytes reach the temporary file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(render, "write_image", disk_full)
    for target in (out, fresh):
        line = one_error_line(run("draw", str(src), "-o", str(target)))
        assert line == f"anchorctl: error: cannot write '{target}': No space left on device"
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]


def test_an_encoder_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(image: Image.Image, fmt: str) -> bytes:
        raise OSError("encoder error -2")

    monkeypatch.setattr(render, "encode", broken)
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), "-o", "-"))
    assert line == "anchorctl: error: cannot write stdout: encoder error -2"


def test_a_picture_too_wide_for_jpeg_is_one_line_and_no_file(tmp_path: Path) -> None:
    src = black_png(tmp_path / "wide.png", (render.JPEG_MAX_SIDE + 1, 4))
    line = one_error_line(run("draw", str(src), "-o", str(tmp_path / "wide.jpg")))
    assert "a JPEG holds at most 65,500 pixels a side" in line and "write a .png" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.png"]


def test_a_missing_output_folder_for_o_file_is_a_runtime_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "out.png"
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), "-o", str(target)))
    assert line.startswith(f"anchorctl: error: cannot write '{target}'")


# --- image modes and orientation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "colour", "name"),
    [
        ("L", 90, "l.png"),
        ("P", 3, "p.png"),
        ("RGBA", (0, 0, 0, 0), "rgba.png"),
        ("CMYK", (0, 0, 0, 0), "cmyk.jpg"),
        ("I;16", 65535, "i16.png"),
    ],
)
def test_every_mode_draws(tmp_path: Path, mode: str, colour: object, name: str) -> None:
    src = tmp_path / name
    Image.new(mode, (240, 160), colour).save(src)  # type: ignore[arg-type]
    with Image.open(src) as check:
        assert check.mode == mode  # the file really holds that mode
    out = tmp_path / "out.png"
    result = run("draw", str(src), "--sizes", "0.5", "--no-legend", "-o", str(out))
    assert result.exit_code == 0, result.output
    drawn = read_back(out)
    assert drawn.mode == "RGB" and drawn.size == (240, 160)
    expected = Image.new(mode, (1, 1), colour).convert("RGBA")  # type: ignore[arg-type]
    r, g, b, a = expected.getpixel((0, 0))  # type: ignore[misc]
    if a == 0:
        r = g = b = 255  # transparent is laid on white
    corner = drawn.getpixel((235, 155))  # away from the box and the legend
    assert max(abs(u - v) for u, v in zip(corner, (r, g, b), strict=True)) <= 2  # type: ignore[arg-type]
    x0, y0, _, _ = expected_rect((240, 160), (1, 1), (0, 0), "0.5", "1")
    assert drawn.getpixel((x0, y0 + 70)) == render.PALETTE[0]


def test_exif_orientation_6_draws_on_the_upright_picture(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "phone.jpg"
    Image.new("RGB", (300, 200), (40, 40, 40)).save(src, exif=exif, quality=95)
    out = tmp_path / "out.png"
    result = run("draw", str(src), "--sizes", "0.5", "--no-legend", "-o", str(out))
    assert result.exit_code == 0, result.output
    drawn = read_back(out)
    assert drawn.size == (200, 300)  # stored 300 x 200, shown turned: width and height swap
    # and the box is laid out for the upright picture: 0.5 * 200 wide, 0.5 * 300 high
    x0, y0, x1, y1 = expected_rect((200, 300), (1, 1), (0, 0), "0.5", "1")
    assert (x1 - x0 + 1, y1 - y0 + 1) == (100, 150)
    assert drawn.getpixel((x0, y1 - 5)) == render.PALETTE[0]
    assert drawn.getpixel((x1, y1 - 5)) == render.PALETTE[0]


# --- errors ---------------------------------------------------------------------------------


def truncated(tmp_path: Path) -> Path:
    data = (SAMPLES / "cat.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def text_jpg(tmp_path: Path) -> Path:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.jpg", "no such file"),
        (lambda tmp: tmp, "it is a folder"),
        (text_jpg, "not an image Pillow can read"),
        (truncated, "truncated"),
    ],
)
def test_a_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    src = make(tmp_path)
    out = tmp_path / "out.png"
    line = one_error_line(run("draw", str(src), "-o", str(out)))
    assert line.startswith(f"anchorctl: error: cannot read image '{src}'")
    assert reason in line
    assert not out.exists()


def test_a_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), "-o", str(tmp_path / "o.png")))
    assert line.startswith("anchorctl: error: cannot read image")
    assert "decompression-bomb limit of 10,000 pixels" in line
    assert list(tmp_path.iterdir()) == []


def test_a_batch_draws_the_good_images_and_fails_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    bad = text_jpg(tmp_path)
    images = [SAMPLES / "cat.jpg", tmp_path / "missing.jpg", bad, SAMPLES / "coffee.jpg"]
    result = run("draw", *(str(p) for p in images), "-o", str(out))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["cat.anchors.png", "coffee.anchors.png"]
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("anchorctl: error: ") for line in lines)
    assert "missing.jpg" in lines[0] and "notes.jpg" in lines[1]
    assert lines[2] == "anchorctl: error: 2 of 4 images failed; the others were drawn"


def test_an_anchor_set_too_big_for_memory_is_refused_with_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for env in ({}, {"ANCHORCTL_MAX_BYTES": str(1 << 30)}):
        args = ("--all-cells", "--feature-map", "100000x100000", "--no-thin")
        result = run("draw", str(SAMPLES / "cat.jpg"), *SEED, *args, env=env)
        line = one_error_line(result)
        assert line.startswith("anchorctl: error: 40,000,000,000 anchors to draw need ")
        assert "GiB" in line and "choose fewer cells" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("selection", [("--all-cells",), ("--cell", "0,0")])
def test_a_few_cells_of_a_map_too_big_for_memory_are_refused_before_any_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, selection: tuple[str, ...]
) -> None:
    """Thinning (or one cell) makes the drawing small, but the cells are picked from the whole
    level: the request is refused up front, in one line, not after a thinning note."""
    monkeypatch.chdir(tmp_path)
    args = (*selection, "--feature-map", "100000x100000")
    result = run("draw", str(SAMPLES / "cat.jpg"), *SEED, *args)
    line = one_error_line(result)
    assert line.startswith("anchorctl: error: the chosen levels' 40,000,000,000 anchors ")
    assert "GiB" in line and "use a smaller feature map" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--feature-map", "16*16"), "--feature-map"),
        (("--sizes", "0"), "--sizes"),
        (("--ratios", "a"), "--ratios"),
        (("--offsets", "2,0"), "--offsets"),
        (("--every", "0"), "--every"),
        (("--cell", "1"), "--cell"),
        (("--cell", "-1,2"), "--cell"),
        (("--feature-map", "4x4", "--cell", "4,0"), "outside the 4x4 feature map"),
        (("--cell", "0,0", "--every", "2"), "give only one of --cell, --every and --all-cells"),
        (("--every", "2", "--all-cells"), "give only one of"),
        (("--cell", "0,0", "--all-cells"), "give only one of"),
        (
            ("--feature-map", "3000x3000", "--grid", "--no-thin"),
            "--grid on a 3000x3000 feature map",
        ),
    ],
)
def test_malformed_options_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    monkey_out = tmp_path / "o.png"
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), *args, "-o", str(monkey_out)), 2)
    assert line.startswith("anchorctl draw: ") and message in line
    assert not monkey_out.exists()


# --- which cells ---------------------------------------------------------------------------


def drawn_cells(spy: Spy, spec: MultiBoxPriorSpec) -> list[tuple[int, int]]:
    """The (row, col) of every cell whose anchors were drawn, from the boxes' centres."""
    (call,) = spy.calls
    w, h = call["size"]
    boxes = call["boxes"].astype(np.float64)
    rows, cols = spec.feature_map
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / h
    cells = sorted({(int(y * rows), int(x * cols)) for x, y in zip(cx, cy, strict=True)})
    assert len(boxes) == len(cells) * spec.per_cell
    return cells


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), [(2, 2)]),
        (("--cell", "1,3", "--cell", "0,0", "--cell", "1,3"), [(0, 0), (1, 3)]),
        (("--every", "2"), [(0, 0), (0, 2), (2, 0), (2, 2), (4, 0), (4, 2)]),
        (("--all-cells",), [(r, c) for r in range(5) for c in range(4)]),
    ],
)
def test_cell_selection(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    expected: list[tuple[int, int]],
) -> None:
    spy = Spy(monkeypatch)
    src = black_png(tmp_path / "b.png", (200, 250))
    result = run(
        "draw", str(src), *SEED, "--feature-map", "5x4", *args, "-o", str(tmp_path / "o.png")
    )
    assert result.exit_code == 0, result.output
    spec = MultiBoxPriorSpec((0.2, 0.5), (1.0, 4.0, 0.25), (5, 4))
    assert drawn_cells(spy, spec) == expected


def test_grid_overlays_every_cell_boundary_and_centre(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    src = black_png(tmp_path / "b.png", (400, 300))
    out = tmp_path / "o.png"
    result = run("draw", str(src), "--sizes", "0.01", "--feature-map", "3x4", "--grid",
                 "--no-legend", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    grid = spy.calls[0]["grid"]
    assert grid is not None and len(grid.xs) == 5 and len(grid.ys) == 4
    centres = [[50.0 + 100 * c, 50.0 + 100 * r] for r in range(3) for c in range(4)]
    np.testing.assert_allclose(grid.centers, centres, atol=1e-4)
    pixels = np.asarray(read_back(out)).max(axis=2)
    assert np.nonzero((pixels == 255).all(axis=0))[0].tolist() == [0, 100, 200, 300, 399]
    assert np.nonzero((pixels == 255).all(axis=1))[0].tolist() == [0, 100, 200, 299]
    assert (pixels[250, 245:255] == 255).any()  # the centre dot of cell (2, 2)
    assert spy.calls[0]["fill"] is False


def test_fill_reaches_the_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = black_png(tmp_path / "b.png", (200, 200))
    out = tmp_path / "o.png"
    result = run("draw", str(src), "--sizes", "0.5", "--fill", "--no-legend", "-o", str(out))
    assert result.exit_code == 0, result.output
    inside = np.asarray(read_back(out))[120, 100].astype(int)  # box: 50..149
    expected = np.array(render.PALETTE[0]) * render.FILL_ALPHA / 255
    assert np.abs(inside - expected).max() <= 2


# --- progress -------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("total", "terminal", "shown"), [(3, True, True), (1, True, False),
                                                          (3, False, False)])  # fmt: skip
def test_the_progress_bar_shows_only_for_batches_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, total: int, terminal: bool, shown: bool
) -> None:
    stream = FakeTerminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with draw_cmd._Progress(total) as progress:
        progress.advance()
        progress.error("anchorctl: error: one went wrong")
        progress.advance()
    text = stream.getvalue()
    assert ("drawing" in text) is shown
    assert "anchorctl: error: one went wrong" in text
    if shown:  # the error is printed on a line of its own, above the bar
        assert "\x1b[2Kanchorctl: error: one went wrong" in text


def test_no_image_or_an_empty_output_is_a_usage_error() -> None:
    assert "Missing argument 'IMAGES...'" in one_error_line(run("draw"), code=2)
    line = one_error_line(run("draw", str(SAMPLES / "cat.jpg"), "-o", ""), code=2)
    assert "-o: give a FILE, a DIR or -" in line


# --- ground truth (--boxes) -----------------------------------------------------------------

ANNOTATIONS = Path(__file__).parent / "data" / "annotations"


def test_boxes_title_counts_boxes_not_zero_anchors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    result = run("draw", str(SAMPLES / "rocket.jpg"), "--preset", "ssd300", "--boxes",
                 str(ANNOTATIONS / "coco.json"), "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = spy.calls
    title, truth = call["title"], call["truth"]
    assert "0 anchors" not in title
    n, ok = len(truth.ious), int((truth.ious >= 0.5).sum())
    assert f"{n} boxes: {ok} covered, {n - ok} missed at IoU 0.5" in title
    assert "best of 8,732 anchors" in title
    assert 0 < ok < n  # the picture shows both kinds


def test_boxes_legend_explains_every_style_and_numbers_the_boxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    out = tmp_path / "o.png"
    result = run("draw", str(SAMPLES / "astronaut.jpg"), "--preset", "ssd300", "--boxes",
                 str(ANNOTATIONS / "coco.json"), "--iou", "0.6", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = spy.calls
    truth = call["truth"]
    entries = render._truth_entries(truth)
    texts = [e.text for e in entries]
    assert any("dashed" in t and "best anchor" in t for t in texts)
    assert any(t.startswith("covered") and ">= 0.6" in t for t in texts)
    assert any(t.startswith("missed") and "< 0.6" in t for t in texts)
    numbered = [t for t in texts if t.startswith("#")]
    assert [t.split(":")[0] for t in numbered] == [f"#{i}" for i in range(len(truth.ious))]
    for t, iou in zip(numbered, truth.ious.tolist(), strict=True):
        assert f"best IoU {iou:.2f}" in t and ("covered" if iou >= 0.6 else "missed") in t
        assert "best anchor level" in t and "slot" in t  # where its best anchor is
    swatches = [e.swatch for e in entries if e.text.startswith("#")]
    assert swatches == ["covered" if i >= 0.6 else "missed" for i in truth.ious.tolist()]


def test_each_box_carries_a_numbered_tag_in_its_coverage_colour() -> None:
    image = Image.new("RGB", (400, 300), (0, 0, 0))
    boxes = np.array([[50.0, 80.0, 150.0, 200.0], [220.0, 60.0, 380.0, 280.0]])
    truth = render.GroundTruth(boxes, boxes + 5, np.array([0.8, 0.2]), 0.5)
    drawn = np.asarray(render.draw_picture(image, np.zeros((0, 4)), np.zeros(0, int), [], "",
                                           truth=truth, show_legend=False).image)  # fmt: skip
    size = render.legends.font_size((400, 300))
    for (x0, y0, _, _), colour in zip(boxes.tolist(), (render.COVERED, render.MISSED), strict=True):
        tag = drawn[int(y0) - size : int(y0), int(x0) : int(x0) + size]  # just above the box
        assert (tag == colour).all(axis=2).mean() > 0.3  # the tag's fill
        assert (tag.max(axis=2) < 60).any()  # its black number and mark


# --- dense requests -------------------------------------------------------------------------


def test_all_cells_of_a_huge_map_is_thinned_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    out = tmp_path / "o.png"
    result = run("draw", str(SAMPLES / "cat.jpg"), "--sizes", "0.1", "--feature-map",
                 "1000x1000", "--all-cells", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    (note,) = result.stderr.splitlines()
    assert note.startswith("anchorctl: note: cat.jpg: every cell of the 1000x1000 map")
    n = int(note.split("--every ")[1].split(";")[0])
    assert f"every {n}" in note and "--no-thin" in note
    (call,) = spy.calls
    assert f"every {n}" in call["title"]
    assert len(call["boxes"]) == (-(-1000 // n)) ** 2
    pixels = np.asarray(read_back(out))[:300]
    orange = (np.abs(pixels.astype(int) - render.PALETTE[0]).max(axis=2) <= 2).mean()
    assert orange < 0.35  # outlines, not a sheet of colour


def test_a_grid_finer_than_the_pixels_is_thinned_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    src = black_png(tmp_path / "b.png", (400, 300))
    result = run("draw", str(src), "--sizes", "0.01", "--feature-map", "2000x2000", "--grid",
                 "--no-legend", "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "grid's cells are" in result.stderr and "--no-thin" in result.stderr
    grid = spy.calls[0]["grid"]
    assert min(np.diff(grid.xs)) >= 8 and min(np.diff(grid.ys)) >= 8
    lit = np.asarray(read_back(tmp_path / "o.png")).max(axis=2) == 255
    assert lit.mean() < 0.3


def test_no_thin_draws_everything_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    result = run("draw", str(SAMPLES / "cat.jpg"), "--sizes", "0.1", "--feature-map", "60x60",
                 "--all-cells", "--no-thin", "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert len(spy.calls[0]["boxes"]) == 3600


def test_a_legible_request_is_not_thinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    result = run("draw", str(SAMPLES / "cat.jpg"), *SEED, "--feature-map", "4x4",
                 "--all-cells", "--grid", "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert result.exit_code == 0 and result.stderr == ""
    assert len(spy.calls[0]["boxes"]) == 64 and "every" not in spy.calls[0]["title"]
