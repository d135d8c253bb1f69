"""anchorctl.render: image loading (modes, EXIF, bad files), pixel geometry, colours, legend."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from anchorctl import render
from anchorctl.errors import AnchorError

from support import SAMPLES

BLACK = (0, 0, 0)


def black(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, BLACK)


def lit(image: Image.Image) -> set[tuple[int, int]]:
    """``(x, y)`` of every pixel that is not black."""
    ys, xs = np.nonzero(np.asarray(image).max(axis=2))
    return set(zip(xs.tolist(), ys.tolist(), strict=True))


def outline(x0: int, y0: int, x1: int, y1: int, width: int = 1) -> set[tuple[int, int]]:
    """The pixels of an inclusive rectangle's outline ``width`` pixels thick, inward."""
    inside = {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
    hole = {
        (x, y) for x in range(x0 + width, x1 - width + 1) for y in range(y0 + width, y1 - width + 1)
    }
    return inside - hole


# --- colours and sizes ----------------------------------------------------------------------


def test_the_first_slots_take_the_palette_in_order() -> None:
    assert [render.slot_colour(i) for i in range(len(render.PALETTE))] == list(render.PALETTE)


def test_every_slot_has_its_own_colour_even_past_the_palette() -> None:
    colours = [render.slot_colour(i) for i in range(40)]
    assert len(set(colours)) == 40
    assert all(all(0 <= v <= 255 for v in c) for c in colours)


@pytest.mark.parametrize(
    ("size", "width"),
    [((100, 100), 1), ((200, 100), 1), ((640, 480), 1), ((1024, 1024), 3), ((4000, 3000), 8)],
)
def test_line_width_follows_the_smaller_side(size: tuple[int, int], width: int) -> None:
    assert render.line_width(size) == width


# --- pixel geometry -------------------------------------------------------------------------


def test_pixel_boxes_cover_first_and_last_pixel_of_each_box() -> None:
    boxes = np.array(
        [
            [50.0, 25.0, 150.0, 75.0],  # on pixel boundaries: 100 columns, 50 rows
            [2.7, 1.5, 9.5, 6.9],  # inside pixels: the pixels the edges fall in
            [0.0, 0.0, 200.0, 100.0],  # the whole image: last column and row, not beyond
            [10.0, 10.0, 10.0, 10.0],  # zero size: one pixel
            [99.999999, 4.0000001, 120.0000002, 8.0],  # float32 rounding noise snaps
        ]
    )
    assert render.pixel_boxes(boxes, (200, 100)).tolist() == [
        [50, 25, 149, 74],
        [2, 1, 9, 6],
        [0, 0, 199, 99],
        [10, 10, 10, 10],
        [100, 4, 119, 7],
    ]


def test_far_away_edges_are_clamped_without_changing_the_drawing() -> None:
    size, width = (60, 40), 3
    boxes = np.array([[-500.0, -20.5, 30.0, 300.0], [45.0, -90.0, 700.0, 20.0], [-90, 5, -80, 9]])
    clamped = render.pixel_boxes(boxes, size, width)
    assert clamped.min() == -(width + 1) and clamped.max() == size[0] - 1 + width + 1
    small, big = black(size), black(size)
    for rect, raw in zip(clamped.tolist(), boxes.tolist(), strict=True):
        ImageDraw.Draw(small).rectangle(rect, outline=(255, 0, 0), width=width)
        low = [int(np.floor(v + render.EDGE_SNAP)) for v in raw[:2]]
        high = [int(np.ceil(v - render.EDGE_SNAP)) - 1 for v in raw[2:]]
        ImageDraw.Draw(big).rectangle(low + high, outline=(255, 0, 0), width=width)
    assert np.array_equal(np.asarray(small), np.asarray(big))
    assert lit(small)  # the test draws something


def test_huge_unclipped_boxes_draw_quickly() -> None:
    # Pillow walks every pixel of an unclipped side, so a 1e9 px box would take minutes.
    boxes = np.array([[-1e9, -1e9, 1e9, 1e9], [10.0, -1e9, 20.0, 1e9]] * 50)
    start = time.perf_counter()
    drawn = render.draw_anchors(black((60, 40)), boxes, np.zeros(len(boxes), int), [], "")
    assert time.perf_counter() - start < 2
    assert lit(drawn) == {(x, y) for x in (10, 19) for y in range(40)}


def test_a_box_is_outlined_on_its_own_pixels_with_its_slot_colour() -> None:
    drawn = render.draw_anchors(
        black((300, 300)),
        np.array([[100.0, 150.0, 200.0, 250.0], [20.0, 200.0, 60.0, 290.0]]),
        np.array([0, 1]),
        legend=[],
        title="",
    )
    pixels = np.asarray(drawn)
    assert lit(drawn) == outline(100, 150, 199, 249) | outline(20, 200, 59, 289)
    assert tuple(pixels[200, 100]) == render.PALETTE[0]
    assert tuple(pixels[289, 40]) == render.PALETTE[1]


def test_outlines_thicken_inward_on_big_images() -> None:
    size = (1200, 800)
    width = render.line_width(size)
    assert width == 2
    drawn = render.draw_anchors(
        black(size), np.array([[300.0, 200.0, 900.0, 600.0]]), np.array([0]), [], ""
    )
    assert lit(drawn) == outline(300, 200, 899, 599, width)


def test_draw_anchors_leaves_its_input_alone() -> None:
    source = Image.new("RGB", (80, 60), (10, 20, 30))
    before = source.tobytes()
    drawn = render.draw_anchors(
        source, np.array([[5.0, 5.0, 70.0, 50.0]]), np.array([0]), ["x"], "t"
    )
    assert source.tobytes() == before
    assert drawn is not source and drawn.mode == "RGB"
    assert drawn.width == source.width and drawn.height > source.height  # legend below
    bare = render.draw_anchors(
        source, np.array([[5.0, 5.0, 70.0, 50.0]]), np.array([0]), ["x"], "t", show_legend=False
    )
    assert bare.size == source.size and source.tobytes() == before


def test_boxes_entirely_outside_the_image_draw_nothing() -> None:
    boxes = np.array([[-50.0, -50.0, -10.0, -10.0], [120.0, 10.0, 180.0, 50.0], [0, 90, 10, 140]])
    drawn = render.draw_anchors(black((100, 60)), boxes, np.array([0, 1, 2]), [], "")
    assert not lit(drawn)


def test_fill_is_translucent_and_overlaps_are_denser() -> None:
    boxes = np.array([[20.0, 60.0, 140.0, 180.0], [80.0, 60.0, 200.0, 180.0]])
    drawn = np.asarray(
        render.draw_anchors(black((220, 200)), boxes, np.array([0, 0]), [], "", fill=True)
    ).astype(int)
    single, double = drawn[120, 40], drawn[120, 110]
    expected = np.array(render.PALETTE[0]) * render.FILL_ALPHA / 255
    assert np.abs(single - expected).max() <= 2
    assert (double >= single).all() and double.sum() > single.sum() + 30
    assert tuple(drawn[120, 215]) == BLACK  # outside every box
    plain = np.asarray(render.draw_anchors(black((220, 200)), boxes, np.array([0, 0]), [], ""))
    assert tuple(plain[120, 40]) == BLACK  # without --fill the inside stays clear


def test_grid_lines_sit_on_cell_boundaries_including_the_far_edges() -> None:
    size = (200, 100)
    grid = render.Grid(
        xs=[0.0, 50.0, 100.0, 150.0, 200.0],
        ys=[0.0, 50.0, 100.0],
        centers=np.array([[25.0 + 50 * c, 25.0 + 50 * r] for r in range(2) for c in range(4)]),
    )
    drawn = render.draw_anchors(black(size), np.zeros((0, 4)), np.zeros(0, int), [], "", grid)
    pixels = np.asarray(drawn).max(axis=2)
    bright_columns = np.nonzero((pixels == 255).all(axis=0))[0].tolist()
    bright_rows = np.nonzero((pixels == 255).all(axis=1))[0].tolist()
    assert bright_columns == [0, 50, 100, 150, 199]
    assert bright_rows == [0, 50, 99]
    # a centre dot is symmetric about its point (25, 25), which lies between pixels 24 and 25
    window = pixels[15:35, 15:35] == 255  # pixels 15..34, symmetric about 24.5 + 0.5 = 25
    assert window.any() and not window.all()
    assert np.array_equal(window, window[::-1, :]) and np.array_equal(window, window[:, ::-1])
    assert window[9:11, 9:11].all()  # pixels 24 and 25 in both directions


def test_centre_dots_are_left_out_when_cells_are_too_small_to_show_them() -> None:
    def dot_columns(cells: int) -> int:
        """Columns lit in part around the centre row: dots (grid lines light whole columns)."""
        edges = [100 * i / cells for i in range(cells + 1)]
        centres = [[(i + 0.5) * 100 / cells, 50.0] for i in range(cells)]
        grid = render.Grid(xs=edges, ys=[0.0, 100.0], centers=np.array(centres))
        drawn = render.draw_anchors(black((100, 100)), np.zeros((0, 4)), np.zeros(0, int), [],
                                    "", grid)  # fmt: skip
        band = (np.asarray(drawn)[40:60].max(axis=2) == 255).sum(axis=0)
        return int(((band > 0) & (band < 20)).sum())

    assert dot_columns(10) >= 10  # 10 px cells: every centre has its dot
    assert dot_columns(30) == 0  # 3.3 px cells: the boundary lines only


# --- loading --------------------------------------------------------------------------------


def save(tmp_path: Path, image: Image.Image, name: str, **kwargs: Any) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("mode", "colour", "name", "expected"),
    [
        ("L", 100, "l.png", (100, 100, 100)),
        ("1", 1, "one.png", (255, 255, 255)),
        ("LA", (90, 255), "la.png", (90, 90, 90)),
        ("LA", (90, 0), "la0.png", (255, 255, 255)),  # transparent: laid on white
        ("RGBA", (10, 20, 30, 0), "rgba.png", (255, 255, 255)),
        ("RGBA", (10, 20, 30, 255), "rgba1.png", (10, 20, 30)),
        ("CMYK", (0, 0, 0, 0), "cmyk.tif", (255, 255, 255)),
        ("CMYK", (0, 255, 255, 0), "cmyk-red.tif", (255, 0, 0)),
        ("I;16", 51400, "i16.png", (200, 200, 200)),  # 16-bit scaled to 8: 51400 / 257
        ("I;16B", 51400, "i16b.tif", (200, 200, 200)),
        ("I", 7, "i32.tif", (0, 0, 0)),  # a flat 32-bit image: stretched to black
        ("F", 0.5, "f.tif", (0, 0, 0)),
    ],
)
def test_any_mode_loads_as_rgb(
    tmp_path: Path, mode: str, colour: object, name: str, expected: tuple[int, int, int]
) -> None:
    path = save(tmp_path, Image.new(mode, (30, 20), colour), name)  # type: ignore[arg-type]
    image = render.load_image(path)
    assert image.mode == "RGB" and image.size == (30, 20)
    assert image.getpixel((15, 10)) == expected


def test_a_32_bit_ramp_is_stretched_to_the_8_bit_range(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(1000, 70000, 64).astype(np.int32), (4, 1))
    path = save(tmp_path, Image.fromarray(ramp, mode="I"), "ramp.tif")
    values = np.asarray(render.load_image(path))[0, :, 0]
    assert values[0] == 0 and values[-1] == 255 and (np.diff(values.astype(int)) >= 0).all()


def test_palette_images_keep_their_colours_and_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (30, 20), 1)
    image.putpalette([0, 0, 0, 12, 34, 56, 200, 10, 10] + [0] * (256 * 3 - 9))
    assert render.load_image(save(tmp_path, image, "p.png")).getpixel((3, 3)) == (12, 34, 56)
    clear = render.load_image(save(tmp_path, image, "pt.png", transparency=1))
    assert clear.getpixel((3, 3)) == (255, 255, 255)


def test_to_rgb_always_returns_a_new_image() -> None:
    rgb = Image.new("RGB", (4, 4), (1, 2, 3))
    copy = render.to_rgb(rgb)
    assert copy is not rgb and copy.tobytes() == rgb.tobytes()
    copy.putpixel((0, 0), (9, 9, 9))
    assert rgb.getpixel((0, 0)) == (1, 2, 3)
    assert render.to_rgb(Image.new("La", (4, 4))).mode == "RGB"


def marked(size: tuple[int, int]) -> Image.Image:
    """A grey image with a red block in the stored top-right corner."""
    image = Image.new("RGB", size, (128, 128, 128))
    ImageDraw.Draw(image).rectangle((size[0] - 40, 0, size[0] - 1, 39), fill=(255, 0, 0))
    return image


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(tmp_path, marked((120, 80)), f"o{orientation}.jpg", exif=exif, quality=95)
    image = render.load_image(path)
    with Image.open(path) as reference:
        upright = ImageOps.exif_transpose(reference)
    swapped = orientation in (5, 6, 7, 8)
    assert image.size == ((80, 120) if swapped else (120, 80))
    assert image.tobytes() == upright.convert("RGB").tobytes()


def test_orientation_6_turns_the_stored_top_right_to_the_bottom_right(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display", as phones write it
    path = save(tmp_path, marked((120, 80)), "phone.jpg", exif=exif, quality=95)
    image = render.load_image(path)
    assert image.size == (80, 120)
    r, g, b = image.getpixel((60, 100))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60
    assert image.getpixel((20, 100)) != image.getpixel((60, 100))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match=r"cannot read image '.*nope\.jpg': no such file$"):
        render.load_image(tmp_path / "nope.jpg")


def test_a_folder(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match=r"it is a folder$"):
        render.load_image(tmp_path)


def test_a_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture\n")
    with pytest.raises(AnchorError, match=r"not an image Pillow can read$"):
        render.load_image(path)


def test_a_truncated_jpeg(tmp_path: Path) -> None:
    data = (SAMPLES / "cat.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AnchorError, match=r"half\.jpg': .*truncated") as info:
        render.load_image(path)
    assert "\n" not in str(info.value)


def test_a_permission_error_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(AnchorError, match=r"cannot read image '.*x\.png': permission denied$"):
        render.load_image(tmp_path / "x.png")


@pytest.mark.parametrize("limit", [1_000, 100_000])  # past 2x the limit: error; past 1x: warning
def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(AnchorError, match=f"decompression-bomb limit of {limit:,} pixels$"):
        render.load_image(SAMPLES / "cat.jpg")  # 451 x 300 = 135,300 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the warning filter is not left changed
        Image.new("L", (1, 1))


def test_corrupt_data_of_any_kind_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(tmp_path, black((4, 4)), "odd.png")

    def explode(self: Image.Image) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", explode)
    with pytest.raises(AnchorError, match=r"corrupt image \(IndexError: list index out of range\)"):
        render.load_image(path)


def test_encode_writes_png_and_jpeg() -> None:
    image = marked((50, 40))
    png, jpeg = render.encode(image, "PNG"), render.encode(image, "JPEG")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and jpeg.startswith(b"\xff\xd8\xff")
    with Image.open(io.BytesIO(png)) as back:
        assert back.format == "PNG" and back.convert("RGB").tobytes() == image.tobytes()
