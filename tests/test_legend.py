"""anchorctl.legend and the legend of drawn pictures: legible at any size, hiding nothing.

Measured on the pictures the issue named: before this module the legend covered 62% of a
100x200 image, all of a 64x64 one and 86% of a 400x32 strip, with its text cut off.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from anchorctl import legend, render
from anchorctl.cli import draw_cmd
from anchorctl.conventions import mxnet

SEED_LEVEL = mxnet.generate(
    {"feature_maps": [(1, 1)], "sizes": [(0.2, 0.5)], "ratios": [(1.0, 4.0, 0.25)]}
)[0]


def photo(size: tuple[int, int]) -> Image.Image:
    """A busy picture (noise) so that any covered pixel would show."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def seed_picture(size: tuple[int, int], **kwargs: object) -> tuple[render.Drawn, int]:
    """The seed example's four anchors drawn as `draw` does, on a picture of ``size``."""
    image, factor = render.upscale(photo(size))
    w, h = image.size
    boxes = SEED_LEVEL.array.astype(np.float64) * np.array([w, h, w, h])
    lines = draw_cmd._legend(SEED_LEVEL, (float(size[0]), float(size[1])))
    title = "MXNet MultiBoxPrior · feature map 1x1 (rows x cols) · 4 anchors · ratio = w/h"
    drawn = render.draw_picture(image, boxes, np.arange(4), lines, title, **kwargs)  # type: ignore[arg-type]
    return drawn, factor


def text_fits(lay: legend.Layout) -> bool:
    """Every line, swatch and indent included, inside the panel's width and height."""
    indent = lay.font_size + lay.pad
    for index, text, _ in lay.lines:
        width = legend.text_width(text, lay.font) + (indent if index >= 0 else 0)
        if width + 2 * lay.pad > lay.size[0]:
            return False
    return lay.line_height * len(lay.lines) + 2 * lay.pad <= lay.size[1]


# --- the pictures the issue measured --------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "factor"),
    [((64, 64), 4), ((100, 200), 3), ((400, 32), 5), ((451, 300), 1), ((6000, 4000), 1)],
)
def test_the_legend_covers_no_anchor_and_at_most_a_quarter_of_the_image(
    size: tuple[int, int], factor: int
) -> None:
    drawn, got = seed_picture(size)
    assert got == factor  # a thumbnail is drawn larger, never a photo
    bare = render.draw_picture(
        *_bare_args(size), show_legend=False
    ).image  # the same picture without its legend
    placement = drawn.placement
    w, h = bare.size
    assert placement.covered <= legend.MAX_INSIDE
    # every pixel of the picture proper is untouched, except under an inside panel that
    # covers no anchor pixel
    picture = np.asarray(drawn.image)[:h, :w]
    changed = (picture != np.asarray(bare)).any(axis=2)
    ink = (np.asarray(bare) != np.asarray(render.upscale(photo(size))[0])).any(axis=2)
    if placement.where == "inside":
        x0, y0, x1, y1 = placement.box
        assert not ink[y0:y1, x0:x1].any()
        changed[y0:y1, x0:x1] = False
    else:
        assert drawn.image.size != bare.size  # the legend went beside or below
    assert not changed.any()


def _bare_args(size: tuple[int, int]) -> tuple[object, ...]:
    image, _ = render.upscale(photo(size))
    w, h = image.size
    boxes = SEED_LEVEL.array.astype(np.float64) * np.array([w, h, w, h])
    return image, boxes, np.arange(4), [], ""


def test_the_issues_pictures_now_hide_nothing() -> None:
    """62% of 100x200, all of 64x64 and 86% of 400x32 were covered; now none of them is."""
    for size in ((100, 200), (64, 64), (400, 32)):
        drawn, _ = seed_picture(size)
        assert drawn.placement.covered <= legend.MAX_INSIDE, size


@pytest.mark.parametrize("size", [(64, 64), (100, 200), (400, 32), (451, 300), (6000, 4000)])
def test_no_text_is_cut_off(size: tuple[int, int]) -> None:
    drawn, _ = seed_picture(size)
    x0, y0, x1, y1 = drawn.placement.box
    assert 0 <= x0 < x1 <= drawn.image.width and 0 <= y0 < y1 <= drawn.image.height
    room = x1 - x0
    lay = legend.layout(
        "MXNet MultiBoxPrior · feature map 1x1 (rows x cols) · 4 anchors · ratio = w/h",
        [legend.Entry(t) for t in draw_cmd._legend(SEED_LEVEL, (float(size[0]), float(size[1])))],
        legend.font_size(render.upscale(photo(size))[0].size),
        room,
    )
    assert text_fits(lay) and lay.size[0] <= room


def test_a_thin_strip_full_of_anchors_gets_its_legend_below() -> None:
    image, factor = render.upscale(photo((400, 32)))
    w, h = image.size
    boxes = np.array([[x, 0, x + w / 8, h] for x in np.arange(8) * w / 8])  # a 1x8 map's cells
    lines = [f"slot {i}: a legend line of some length" for i in range(4)]
    drawn = render.draw_picture(image, boxes, np.arange(8) % 4, lines, "A title · in two parts")
    assert factor == 5 and drawn.placement.where == "below"
    assert drawn.image.width == 400 * factor and drawn.image.height > 32 * factor
    assert np.array_equal(
        np.asarray(drawn.image)[:h],
        np.asarray(
            render.draw_picture(image, boxes, np.arange(8) % 4, [], "", show_legend=False).image
        ),
    )


def test_a_portrait_thumbnail_gets_its_legend_beside_when_anchors_fill_it() -> None:
    image, _ = render.upscale(photo((100, 200)))
    w, h = image.size
    # anchors in all four corners: no corner is free
    boxes = np.array([[2, 2, w - 3, h - 3], [0, 0, w // 2, h // 2], [w // 2, h // 2, w, h]])
    drawn = render.draw_picture(image, boxes.astype(float), np.arange(3), ["a", "b", "c"], "T")
    assert drawn.placement.where == "right"
    assert drawn.image.height == h and drawn.image.width > w


# --- scaling --------------------------------------------------------------------------------


def test_font_size_follows_the_picture_within_bounds() -> None:
    sizes = [(64, 64), (256, 256), (451, 300), (1200, 800), (6000, 4000), (60000, 40000)]
    fonts = [legend.font_size(s) for s in sizes]
    assert fonts == sorted(fonts)
    assert fonts[0] == legend.MIN_FONT and fonts[-1] == legend.MAX_FONT
    assert legend.font_size((1200, 800)) == round((1200 * 800) ** 0.5 / 50)


@pytest.mark.parametrize(
    ("size", "factor"), [((64, 64), 4), ((100, 200), 3), ((400, 32), 5), ((255, 900), 2),
                         ((256, 256), 1), ((1000, 100), 2), ((2000, 10), 1)],
)  # fmt: skip
def test_thumbnails_are_upscaled_by_a_whole_factor(size: tuple[int, int], factor: int) -> None:
    image = photo(size)
    big, got = render.upscale(image)
    assert got == factor and big.size == (size[0] * factor, size[1] * factor)
    assert max(big.size) <= max(render.MAX_UPSCALED, max(size))
    if factor > 1:  # nearest neighbour: each pixel becomes a factor x factor square
        assert np.array_equal(np.asarray(big)[::factor, ::factor], np.asarray(image))


def test_huge_pictures_get_thick_lines_and_big_text() -> None:
    drawn, _ = seed_picture((6000, 4000))
    assert render.line_width((6000, 4000)) == 10
    assert legend.font_size((6000, 4000)) == 96
    _, y0, _, y1 = drawn.placement.box
    assert (y1 - y0) > 96 * 5  # title and four slot lines at 96 px


# --- wrapping -------------------------------------------------------------------------------


def test_wrap_breaks_at_separators_and_keeps_every_character() -> None:
    font = legend.load_font(12)
    text = "MXNet MultiBoxPrior · feature map 1x1 (rows x cols) · 4 anchors · ratio = w/h"
    lines = legend.wrap(text, font, 150)
    assert len(lines) > 1
    assert all(legend.text_width(line, font) <= 150 for line in lines)
    assert " ".join(lines) == text
    assert legend.wrap(text, font, 10_000) == [text]
    word = legend.wrap("x" * 80, font, 50)  # one word wider than the room: split by letters
    assert "".join(word) == "x" * 80 and all(legend.text_width(w, font) <= 50 for w in word)


def test_entries_wrap_under_their_swatch() -> None:
    entry = legend.Entry("slot 0: size 0.2, ratio 1, 102.4 x 102.4 px, and a long tail", "slot")
    lay = legend.layout("", [entry], 12, 160)
    assert len(lay.lines) > 1 and [ind for _, _, ind in lay.lines][1:] == [True] * (
        len(lay.lines) - 1
    )
    assert text_fits(lay)


# --- swatches and marks: a second cue besides colour ----------------------------------------


def mark_pixels(tick: bool) -> np.ndarray:
    image = Image.new("L", (40, 40), 0)
    legend.draw_mark(ImageDraw.Draw(image), tick, (0, 0, 39, 39), 255, 3)  # type: ignore[arg-type]
    return np.asarray(image) > 0


def test_a_cross_and_a_tick_differ_in_shape_not_only_in_colour() -> None:
    cross, tick = mark_pixels(False), mark_pixels(True)
    assert cross.any() and tick.any()
    assert np.array_equal(cross, cross[:, ::-1])  # a cross is mirror-symmetric
    assert not np.array_equal(tick, tick[:, ::-1])  # a tick is not
    assert (cross != tick).sum() > 40
