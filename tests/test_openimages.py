"""Open Images boxes: normalized XMin, XMax, YMin, YMax per ImageID, image sizes from a file,
the images or one size for all; IsGroupOf left out like iscrowd; told apart by the header.

The header is the one of Open Images' ``*-annotations-bbox.csv`` (V4-V7, storage.googleapis
.com/openimages/web/download.html); the rows below are made up, with hand-computed boxes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl.annotations import ImageRecord, Skipped, read_annotations
from anchorctl.errors import AnchorError

from support import SAMPLES

HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
    "IsGroupOf,IsDepiction,IsInside"
)
ROWS = [
    "cat,xclick,/m/01yrx,1,0.25,0.75,0.1,0.5,0,0,0,0,0",  # line 2
    "cat,xclick,/m/0k4j,1,0.5,1,0,1,0,0,1,0,0",  # line 3: a group box
    "coffee,activemil,/m/02p5f1q,1,0.1,0.6,0.2,0.7,1,0,0,0,0",  # line 4
    "coffee,xclick,/m/02p5f1q,1,0.6,0.5,0.2,0.7,0,0,0,0,0",  # line 5: XMin > XMax
    "nosize,xclick,/m/01yrx,1,0.1,0.2,0.1,0.2,0,0,0,0,0",  # line 6: no size known
    "coffee,xclick,/m/02p5f1q,1,abc,0.5,0.2,0.7,0,0,0,0,0",  # line 7
]


@pytest.fixture
def boxes(tmp_path: Path) -> Path:
    path = tmp_path / "train-annotations-bbox.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    (tmp_path / "sizes.csv").write_text("ImageID,Width,Height\ncat,400,200\ncoffee,600,400\n")
    return path


def test_boxes_in_pixels_from_an_image_sizes_file(boxes: Path) -> None:
    ann = read_annotations(boxes, image_sizes=boxes.parent / "sizes.csv")
    assert ann.format == "openimages"  # told by the header row
    assert ann.images == [ImageRecord("cat", 400, 200), ImageRecord("coffee", 600, 400)]
    # XMin*W, YMin*H, XMax*W, YMax*H: 0.25*400, 0.1*200, 0.75*400, 0.5*200 and so on.
    assert ann.boxes.tolist() == [[100.0, 20.0, 300.0, 100.0], [60.0, 80.0, 360.0, 280.0]]
    assert ann.categories == ["/m/01yrx", "/m/02p5f1q"]
    name = str(boxes)
    assert ann.skipped == [
        Skipped(f"{name}:3", "IsGroupOf"),
        Skipped(f"{name}:5", "negative width (-60 px)"),
        Skipped(
            f"{name}:6", f"missing image size ('nosize' is not in {boxes.parent / 'sizes.csv'})"
        ),
        Skipped(f"{name}:7", "XMin: not a number: 'abc'"),
    ]


def test_group_boxes_are_kept_on_request_and_one_size_fits_all(boxes: Path) -> None:
    ann = read_annotations(boxes, image_size=(100, 50), include_crowd=True)
    assert ann.boxes.tolist()[:2] == [[25.0, 5.0, 75.0, 25.0], [50.0, 0.0, 100.0, 50.0]]
    assert len(ann.images) == 3 and ann.images[2] == ImageRecord("nosize", 100, 50)
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(boxes, image_size=(100, 50), strict=True)
    assert str(excinfo.value) == f"{boxes}:5: negative width (-10 px)"  # (0.5 - 0.6) * 100


def test_sizes_from_the_images(boxes: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLES / "cat.jpg", images / "cat.jpg")  # 451 x 300
    ann = read_annotations(boxes, images_dir=images)
    assert ann.images == [ImageRecord("cat", 451, 300)]
    assert ann.boxes.tolist() == [[451 * 0.25, 300 * 0.1, 451 * 0.75, 300 * 0.5]]
    assert ann.skipped[1].reason == f"missing image (no coffee.jpg in {images})"


def test_sizes_are_required_and_the_format_can_be_forced(boxes: Path, tmp_path: Path) -> None:
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(boxes)
    assert "image sizes file (ImageID,width,height)" in str(excinfo.value)
    plain = tmp_path / "plain.txt"
    shutil.copy(boxes, plain)
    ann = read_annotations(plain, "openimages", image_size=(10, 10))
    assert ann.format == "openimages" and len(ann.boxes) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageID,XMin\nx,0.1\n")
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(bad, "openimages", image_size=(10, 10))
    assert "expected Open Images' header" in str(excinfo.value)
    sizes = tmp_path / "s.csv"
    sizes.write_text("ImageID,width\ncat,4\n")
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(boxes, image_sizes=sizes)
    assert "expected the columns ImageID,width,height" in str(excinfo.value)
    for side in ("0", "2147483648", "99999999999999999999999"):
        sizes.write_text(f"ImageID,width,height\ncat,{side},4\n")
        with pytest.raises(AnchorError) as excinfo:
            read_annotations(boxes, image_sizes=sizes)
        assert (
            f"s.csv:2: image size {side}x4: expected whole pixels from 1 to 2,147,483,647"
            in str(excinfo.value)
        )


def test_category_filter_by_label(boxes: Path) -> None:
    ann = read_annotations(boxes, image_size=(10, 10), categories=["/m/01yrx"])
    assert ann.categories == ["/m/01yrx", "/m/01yrx"]


def test_view_shows_open_images_boxes_sized_by_the_picture_beside_them(tmp_path: Path) -> None:
    """--boxes reads Open Images boxes too (told by the header), the picture's folder giving
    each image's size, as it does for YOLO labels."""
    import json
    import re

    from support import run

    shutil.copy(SAMPLES / "cat.jpg", tmp_path / "cat.jpg")  # 451 x 300
    boxes = tmp_path / "oi.csv"
    boxes.write_text(f"{HEADER}\ncat,xclick,/m/01yrx,1,0.25,0.75,0.2,0.9,0,0,0,0,0\n")
    page = tmp_path / "v.html"
    result = run("view", str(tmp_path / "cat.jpg"), "--preset", "ssd300", "--boxes", str(boxes),
                 "-o", str(page))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    found = re.search(r'id="view-data">(.*?)</script>', page.read_text())
    assert found is not None
    shown = json.loads(found.group(1))["boxes"]
    # fractions of ssd300's 300 x 300 input: 0.25 * 300, 0.2 * 300, 0.75 * 300, 0.9 * 300
    assert [b["box"] for b in shown] == [[75.0, 60.0, 225.0, 270.0]]


def _through_a_pipe(tmp_path: Path, data: str) -> tuple[Path, threading.Thread]:
    """A named pipe ``boxes.csv`` that gives ``data`` to one reader, then ends."""
    fifo = tmp_path / "boxes.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with contextlib.suppress(OSError), open(fifo, "w") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return fifo, thread


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")
def test_a_named_pipe_is_read_once_and_open_images_in_it_named(tmp_path: Path) -> None:
    """A pipe cannot be looked at and then read: its header is not sniffed (a second open
    would wait for a writer forever), so Open Images boxes in it need the format named, and
    the refusal says so in one line."""
    text = "\n".join([HEADER, *ROWS[:1]]) + "\n"
    hint = r"\(Open Images boxes\? name the annotation format openimages\)$"
    fifo, thread = _through_a_pipe(tmp_path, text)
    with pytest.raises(AnchorError, match=r"line 1: expected the header .*" + hint):
        read_annotations(fifo)
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(AnchorError, match=r"^image size: .*" + hint):
        read_annotations(fifo, image_size=(10, 10))  # refused before the pipe is opened
    fifo.unlink()
    fifo, thread = _through_a_pipe(tmp_path, text)
    ann = read_annotations(fifo, "openimages", image_size=(400, 200))
    thread.join(10)
    assert ann.format == "openimages"
    assert ann.boxes.tolist() == [[100.0, 20.0, 300.0, 100.0]]  # 0.25..0.75 x 400, 0.1..0.5 x 200


# ImageIDs of every kind the sizes table must tell apart: Open Images' 16 hex digits, a
# prefix of another ID, non-ASCII, one past the compact width (kept aside), one ending in
# a NUL character, and IDs listed twice (the last line wins, as it always has).
LONG = "x" * 65 + "-long"
ODD_IDS = ["000a1249af2bc5f0", "ab", "abc", "café-é", LONG, "nul\x00", "a"]


def test_the_sizes_table_finds_every_id_as_written_and_the_last_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anchorctl.annotations import openimages

    monkeypatch.setattr(openimages, "_BATCH", 2)  # the table built from several batches
    sizes = tmp_path / "sizes.csv"
    lines = [f"{image},{10 + k},{20 + k}" for k, image in enumerate(ODD_IDS)]
    lines += ["ab,99,98", f"{LONG},77,76", "abc,5,6", "ab,7,8"]  # listed again: these win
    sizes.write_text("ImageID,width,height\n" + "\n".join(lines) + "\n", encoding="utf-8")
    table = openimages.read_image_sizes(sizes)
    assert len(table) == len(ODD_IDS)
    expected = {image: (10 + k, 20 + k) for k, image in enumerate(ODD_IDS)}
    expected.update({"ab": (7, 8), LONG: (77, 76), "abc": (5, 6)})
    assert {image: table.get(image) for image in ODD_IDS} == expected
    for absent in ["", "b", "000a1249af2bc5f", "000a1249af2bc5f00", "nul", "cafe-e", LONG[:-1]]:
        assert table.get(absent) is None, absent

    # Boxes in a few batches: an image's row is given once, in order of first appearance,
    # its boxes sized from its table line; an unknown image is skipped, whichever batch.
    boxes = tmp_path / "boxes.csv"
    order = ["abc", "nope", LONG, "abc", "café-é", "nope", "000a1249af2bc5f0", LONG, "ab"]
    boxes.write_text(
        "\n".join([HEADER, *(f"{i},x,/m/0,1,0,1,0,0.5,0,0,0,0,0" for i in order)]) + "\n",
        encoding="utf-8",
    )
    ann = read_annotations(boxes, image_sizes=sizes)
    firsts = list(dict.fromkeys(i for i in order if i != "nope"))
    assert ann.images == [ImageRecord(i, *expected[i]) for i in firsts]
    kept = [i for i in order if i != "nope"]
    assert ann.image_index.tolist() == [firsts.index(i) for i in kept]
    assert ann.boxes.tolist() == [[0, 0, expected[i][0], expected[i][1] / 2] for i in kept]
    why = f"missing image size ('nope' is not in {sizes})"
    assert ann.skipped == [Skipped(f"{boxes}:3", why), Skipped(f"{boxes}:7", why)]


def test_an_image_missing_from_the_sizes_file_is_sized_from_the_images(
    boxes: Path, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(SAMPLES / "cat.jpg", images / "nosize.jpg")  # 451 x 300
    ann = read_annotations(boxes, image_sizes=boxes.parent / "sizes.csv", images_dir=images)
    assert ann.images == [
        ImageRecord("cat", 400, 200),  # the file first, the image folder for the rest
        ImageRecord("coffee", 600, 400),
        ImageRecord("nosize", 451, 300),
    ]
    assert ann.boxes.tolist()[-1] == [451 * 0.1, 300 * 0.1, 451 * 0.2, 300 * 0.2]


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(
        st.sampled_from(ODD_IDS + [f"{k:016x}" for k in range(40)] + ["", "é" * 40, "z" * 64]),
        max_size=200,
    ),
    merge=st.integers(1, 9),
)
def test_the_image_index_is_a_dict_of_every_id_as_written(ids: list[str], merge: int) -> None:
    """ImageIndex against a dict: every ID met (long, non-ASCII, ending in NUL, empty) finds
    its row, across merges into the sorted array; an ID not met is UNKNOWN."""
    from anchorctl.annotations.openimages import UNKNOWN, ImageIndex

    index = ImageIndex()
    index.MERGE_EVERY = merge  # type: ignore[misc]
    model: dict[str, int] = {}
    for image in ids:
        got = int(index.find([image])[0])
        assert got == model.get(image, UNKNOWN), image
        if image not in model:
            model[image] = -1 if len(model) % 5 == 4 else len(model)
            index.put(image, model[image])
    assert len(index) == len(model)
    everything = [*model, "never", "nul", LONG[:-1]]
    assert index.find(everything).tolist() == [model.get(i, UNKNOWN) for i in everything]


def test_one_size_for_all_keeps_a_few_dozen_bytes_an_image() -> None:
    """The index of 200,000 Open Images IDs: a dict of them would hold about 30 MB."""
    import tracemalloc

    from anchorctl.annotations.openimages import ImageIndex

    names = [f"{k * 7919:016x}" for k in range(200_000)]
    tracemalloc.start()
    try:
        index = ImageIndex()
        for row, image in enumerate(names):
            index.put(image, row)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 200_000 * 40, held
    assert index.find(names[::997]).tolist() == list(range(0, 200_000, 997))


def test_an_image_met_again_far_apart_keeps_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anchorctl.annotations import openimages

    monkeypatch.setattr(openimages, "_BATCH", 3)
    monkeypatch.setattr(openimages.ImageIndex, "MERGE_EVERY", 2)
    order = [f"{k:016x}" for k in (5, 1, 9, 1, 7, 3, 5, 2, 9, 8, 0, 5)]
    path = tmp_path / "boxes.csv"
    path.write_text("\n".join([HEADER, *(f"{i},x,/m/0,1,0,1,0,0.5,0,0,0,0,0" for i in order)]))
    ann = read_annotations(path, image_size=(100, 50))
    firsts = list(dict.fromkeys(order))
    assert [image.name for image in ann.images] == firsts
    assert ann.image_index.tolist() == [firsts.index(i) for i in order]
