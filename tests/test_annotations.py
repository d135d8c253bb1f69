"""Annotation readers: the four formats agree on the hand-drawn boxes of the sample images,
malformed entries are skipped with where and why (or raise with strict), and hostile or
wrong inputs give one-line errors naming the file."""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anchorctl.annotations import (
    EDGE_TOLERANCE,
    Annotations,
    ImageRecord,
    Skipped,
    count_reasons,
    read_annotations,
    reason_kind,
)
from anchorctl.annotations.checks import file_progress
from anchorctl.annotations.yolo import parse_yaml_names
from anchorctl.errors import AnchorError

from support import ROOT, SAMPLES

DATA = ROOT / "tests" / "data" / "annotations"

# The boxes drawn by hand around objects of the sample images (looked at with a 50 px grid):
# pixels, 0-based continuous xmin, ymin, xmax, ymax. The fixtures hold these same boxes in
# each format's own convention: COCO [x, y, w, h]; VOC 1-based inclusive (xmin + 1, ymin + 1,
# xmax, ymax); YOLO centre and size divided by the image size; CSV as they are.
TRUTH: dict[str, list[tuple[str, int, int, int, int]]] = {
    "astronaut.jpg": [
        ("face", 178, 70, 270, 168),
        ("helmet", 276, 342, 512, 512),  # touches the right and bottom edges
        ("flag", 0, 0, 96, 500),  # touches the left and top edges
        ("patch", 133, 348, 210, 426),
        ("rocket", 356, 2, 470, 288),  # the shuttle model
        ("stars", 0, 0, 62, 112),  # COCO iscrowd, VOC difficult
    ],
    "cat.jpg": [
        ("face", 36, 10, 384, 292),
        ("eye", 134, 82, 206, 148),
        ("eye", 294, 104, 346, 166),
        ("nose", 238, 220, 296, 266),
    ],
    "coffee.jpg": [
        ("cup", 172, 16, 412, 306),
        ("saucer", 76, 72, 482, 390),
        ("spoon", 318, 64, 424, 326),
    ],
    "rocket.jpg": [
        ("rocket", 304, 126, 340, 410),
        ("tower", 0, 0, 90, 400),
        ("tower", 556, 0, 640, 427),
        ("tower", 168, 120, 206, 427),  # a 1:8 pole
        ("tower", 440, 122, 480, 427),
        ("light", 104, 406, 118, 420),  # a 14 x 14 px lamp
    ],
}
SPECIAL = ("astronaut.jpg", "stars")


def image_sizes() -> dict[str, tuple[int, int]]:
    """The sample images' sizes, as Pillow reads them."""
    sizes = {}
    for name in TRUTH:
        with Image.open(SAMPLES / name) as image:
            sizes[name] = image.size
    return sizes


def as_rows(ann: Annotations) -> list[tuple[str, str, tuple[float, ...]]]:
    """(image name, category, box) per box, in the reader's order."""
    return [
        (ann.images[int(i)].name, category, tuple(float(v) for v in box))
        for i, category, box in zip(ann.image_index, ann.categories, ann.boxes, strict=True)
    ]


def truth_rows(keep: Callable[[str, str], bool] = lambda image, category: True) -> list:
    return [
        (image, category, tuple(float(v) for v in box))
        for image, boxes in TRUTH.items()
        for category, *box in boxes
        if keep(image, category)
    ]


def assert_rows_close(ann: Annotations, expected: list, tol: float = 0.0) -> None:
    got = as_rows(ann)
    assert [(i, c) for i, c, _ in got] == [(i, c) for i, c, _ in expected]
    diff = np.abs(np.array([b for *_, b in got]) - np.array([b for *_, b in expected]))
    assert diff.max() <= tol


def one_line_error(excinfo: pytest.ExceptionInfo[AnchorError], *needles: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


# --- the four formats agree -------------------------------------------------------------


def read_all() -> dict[str, Annotations]:
    return {
        "coco": read_annotations(DATA / "coco.json", include_crowd=True),
        "voc": read_annotations(DATA / "voc", include_difficult=True),
        "yolo": read_annotations(DATA / "yolo", images_dir=SAMPLES),
        "csv": read_annotations(DATA / "boxes.csv"),
    }


def test_the_four_readers_agree_with_the_hand_drawn_boxes() -> None:
    sizes = image_sizes()
    for fmt, ann in read_all().items():
        assert ann.format == fmt
        assert ann.images == [ImageRecord(n, *sizes[n]) for n in TRUTH], fmt
        assert ann.skipped == []
        assert ann.boxes.dtype == np.float64 and ann.boxes.shape == (19, 4)
        assert ann.image_index.dtype == np.int64
        # YOLO's values are the exact ratios rounded to float64 (17 significant digits in
        # the file); scaling back by at most 640 px is off by a few ulp of 640, ~1e-13.
        assert_rows_close(ann, truth_rows(), tol=1e-9 if fmt == "yolo" else 0.0)


def test_crowd_and_difficult_are_left_out_by_default_and_listed() -> None:
    not_special = truth_rows(lambda image, category: (image, category) != SPECIAL)
    coco = read_annotations(DATA / "coco.json")
    assert_rows_close(coco, not_special)
    assert coco.skipped == [Skipped(f"{DATA / 'coco.json'}: annotation id 106", "iscrowd")]
    voc = read_annotations(DATA / "voc")
    assert_rows_close(voc, not_special)
    assert voc.skipped == [Skipped(f"{DATA / 'voc' / 'astronaut.xml'}: object 6", "difficult")]
    # Left out by choice is not malformed: strict does not raise for them.
    assert len(read_annotations(DATA / "coco.json", strict=True).boxes) == 18
    assert len(read_annotations(DATA / "voc", strict=True).boxes) == 18


def test_category_filter_is_the_same_in_every_format() -> None:
    wanted = {"eye", "tower"}
    expected = truth_rows(lambda image, category: category in wanted)
    for fmt, path, options in [
        ("coco", DATA / "coco.json", {}),
        ("voc", DATA / "voc", {}),
        ("yolo", DATA / "yolo", {"images_dir": SAMPLES}),
        ("csv", DATA / "boxes.csv", {}),
    ]:
        ann = read_annotations(path, categories=wanted, **options)
        assert_rows_close(ann, expected, tol=1e-9 if fmt == "yolo" else 0.0)
        assert len(ann.images) == 4  # images without a wanted box stay listed
        assert ann.skipped == []  # the crowd "stars" box is of another category


def test_a_category_the_input_cannot_have_is_an_error() -> None:
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "coco.json", categories=["eye", "dgo"])
    one_line_error(excinfo, "coco.json", "'dgo'", "eye")
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "yolo", categories=["towers"], images_dir=SAMPLES)
    one_line_error(excinfo, "yolo", "declares no category 'towers'", "tower")
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "voc", categories=["towers"])
    one_line_error(excinfo, "voc", "'towers'", "tower")
    # A folder need not hold every category: one that matches is enough for VOC and CSV.
    assert len(read_annotations(DATA / "boxes.csv", categories=["cup", "bus"]).boxes) == 1
    with pytest.raises(AnchorError):
        read_annotations(DATA / "boxes.csv", categories=[])


def test_yolo_without_images_takes_one_size_for_all(tmp_path: Path) -> None:
    ann = read_annotations(DATA / "yolo", image_size=(800, 600))
    assert ann.images == [ImageRecord(Path(n).stem, 800, 600) for n in TRUTH]
    sizes = image_sizes()
    expected = []
    for image, category, box in truth_rows():
        w, h = sizes[image]
        expected.append(
            (
                Path(image).stem,
                category,
                (box[0] / w * 800, box[1] / h * 600, box[2] / w * 800, box[3] / h * 600),
            )
        )
    assert_rows_close(ann, expected, tol=1e-9)
    # With the images at hand, the size given still wins, and the names are the images'.
    ann = read_annotations(DATA / "yolo", image_size=(800, 600), images_dir=SAMPLES)
    assert [im.name for im in ann.images] == list(TRUTH)


def test_yolo_finds_images_next_to_the_labels_or_in_the_sibling_images_folder(
    tmp_path: Path,
) -> None:
    root = tmp_path / "set"
    shutil.copytree(DATA / "yolo", root)
    (root / "images").mkdir()
    for name in TRUTH:
        shutil.copy(SAMPLES / name, root / "images" / name)
    assert_rows_close(read_annotations(root), truth_rows(), tol=1e-9)  # root -> labels/
    assert_rows_close(read_annotations(root / "labels"), truth_rows(), tol=1e-9)
    flat = tmp_path / "flat"
    shutil.copytree(root / "labels", flat)
    for name in TRUTH:
        shutil.copy(SAMPLES / name, flat / name)
    ann = read_annotations(flat)
    assert ann.categories[:2] == ["0", "1"]  # no class names here: the ids as text
    assert [im.name for im in ann.images] == list(TRUTH)


def test_yolo_class_names_from_data_yaml(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    shutil.copytree(DATA / "yolo" / "labels", labels)
    names = (DATA / "yolo" / "classes.txt").read_text().split()
    block = (
        "path: .\ntrain: images\nnames:\n"
        + "".join(f"  {k}: {n}  # comment\n" for k, n in enumerate(names))
        + "nc: 13\n"
    )
    (tmp_path / "data.yaml").write_text(block)
    ann = read_annotations(labels, images_dir=SAMPLES)
    assert_rows_close(ann, truth_rows(), tol=1e-9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("names: ['a', \"b c\", d]\n", {0: "a", 1: "b c", 2: "d"}),
        ("names: {0: person, 1: 'traffic light'}\n", {0: "person", 1: "traffic light"}),
        ("nc: 2\nnames:\n  - person\n  - 'it''s'\ntrain: x\n", {0: "person", 1: "it's"}),
        ("names:\n  0: person\n\n  1: car # a comment\nval: y\n", {0: "person", 1: "car"}),
        ("names:\n- a\n- b\n", {0: "a", 1: "b"}),
        ("train: images\n", None),
    ],
)
def test_data_yaml_names_forms(text: str, expected: dict[int, str] | None) -> None:
    assert parse_yaml_names(text, "data.yaml") == expected


def test_data_yaml_names_unreadable() -> None:
    with pytest.raises(AnchorError) as excinfo:
        parse_yaml_names("names:\n  zero: person\n", "set/data.yaml")
    one_line_error(excinfo, "set/data.yaml", "line 1", "names")


# --- images without objects ------------------------------------------------------------


def test_every_reader_keeps_an_image_without_objects(tmp_path: Path) -> None:
    coco = tmp_path / "empty.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 8}],
        "annotations": [], "categories": [{"id": 1, "name": "x"}],
    }))  # fmt: skip
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>10</width>"
        "<height>8</height></size></annotation>"
    )
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "a.txt").write_text("")
    csv = tmp_path / "empty.csv"
    csv.write_text("image,width,height,xmin,ymin,xmax,ymax\na.jpg,10,8,,,,\n")
    for path, options in [(coco, {}), (voc, {}), (yolo, {"image_size": (10, 8)}), (csv, {})]:
        ann = read_annotations(path, **options)
        assert len(ann.images) == 1 and ann.images[0].width == 10 and ann.images[0].height == 8
        assert ann.boxes.shape == (0, 4) and ann.image_index.shape == (0,)
        assert ann.categories == [] and ann.skipped == []


# --- malformed entries ------------------------------------------------------------------


def coco_file(tmp_path: Path, annotations: list, images: list | None = None) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({
        "images": images if images is not None else [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "b.jpg", "width": 0, "height": 50},
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}],
    }))  # fmt: skip
    return path


GOOD = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 10]}
COCO_BAD = [
    ({"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 5, 0, 10]}, "zero width"),
    ({"id": 3, "image_id": 1, "category_id": 1, "bbox": [10, 5, 4, -2]}, "negative height (-2 px)"),
    ({"id": 4, "image_id": 1, "category_id": 1, "bbox": [90, 5, 20, 10]},
     "outside the image (xmax 110 is not within 0..100 of the 100x50 image)"),
    ({"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, "abc", 20, 10]}, "not a number: 'abc'"),
    ({"id": 6, "image_id": 99, "category_id": 1, "bbox": [10, 5, 20, 10]}, "unknown image id (99)"),
    ({"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20]},
     "bbox must be 4 numbers [x, y, width, height], got [10, 5, 20]"),
    ({"id": 8, "image_id": 1, "category_id": 1}, "missing bbox"),
    ({"id": 9, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10]}, "unknown category id (7)"),
    ({"id": 10, "image_id": 2, "category_id": 1, "bbox": [10, 5, 20, 10]},
     "its image was skipped (image id 2)"),
    ({"image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 10]}, None),  # no id: named by index
    ({"id": 12, "category_id": 1, "bbox": [10, 5, 20, 10]}, "missing image_id"),
    ({"id": 13, "image_id": 1, "category_id": 1, "bbox": [float("nan"), 5, 20, 10]},
     "not a finite number (box nan, 5, nan, 15)"),
]  # fmt: skip


def test_coco_malformed_entries_are_skipped_with_where_and_why(tmp_path: Path) -> None:
    bad_index = 9  # the entry without an id, made bad by a negative x
    entries = [dict(entry) for entry, _ in COCO_BAD]
    entries[bad_index]["bbox"] = [-30, 5, 20, 10]
    path = coco_file(tmp_path, [GOOD, *entries])
    ann = read_annotations(path)
    name = str(path)
    expected = [
        Skipped(f"{name}: image id 2", "width: expected a whole number of pixels > 0, got 0")
    ]
    for k, (entry, reason) in enumerate(COCO_BAD):
        where = (
            f"{name}: annotation id {entry['id']}"
            if "id" in entry
            else f"{name}: annotations[{k + 1}]"
        )
        if reason is None:
            reason = "outside the image (xmin -30 is not within 0..100 of the 100x50 image)"
        expected.append(Skipped(where, reason))
    assert ann.skipped == expected
    assert ann.boxes.tolist() == [[10.0, 5.0, 30.0, 15.0]]
    assert [im.name for im in ann.images] == ["a.jpg"]
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path, strict=True)
    assert str(excinfo.value) == f"{expected[0].where}: {expected[0].reason}"
    # Without the bad image, strict stops at the first bad annotation.
    path = coco_file(
        tmp_path,
        [GOOD, *entries],
        images=[{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
    )
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path, strict=True)
    assert str(excinfo.value) == f"{name}: annotation id 2: zero width"


def test_reason_kinds_group_the_skipped_entries(tmp_path: Path) -> None:
    """Every reason the readers give starts with a phrase free of the entry's values."""
    entries = [dict(entry) for entry, _ in COCO_BAD]
    skipped = read_annotations(coco_file(tmp_path, [GOOD, *entries])).skipped
    kinds = [reason_kind(item.reason) for item in skipped]
    assert kinds == [
        "width: expected a whole number of pixels > 0",
        "zero width",
        "negative height",
        "outside the image",
        "not a number",
        "unknown image id",
        "bbox must be 4 numbers [x, y, width, height]",
        "missing bbox",
        "unknown category id",
        "its image was skipped",
        "missing image_id",
        "not a finite number",
    ]
    assert count_reasons(skipped)["zero width"] == 1
    assert reason_kind("xmax: not a number: 'abc'") == "xmax: not a number"
    assert reason_kind("expected 5 values (class cx cy w h), found 4") == "expected 5 values"
    assert reason_kind("iscrowd") == "iscrowd"
    many = [Skipped(f"f:{k}", f"negative width ({-k} px)") for k in range(1, 4)]
    assert count_reasons([*many, Skipped("g", "difficult")]) == {
        "negative width": 3,
        "difficult": 1,
    }


def test_coco_image_entries(tmp_path: Path) -> None:
    images = [
        {"id": "a", "file_name": "a.jpg", "width": 100.0, "height": 50},  # 100.0 is whole
        {"id": "b", "width": 30, "height": 20},  # no file_name: named by its id
        {"id": "a", "file_name": "again.jpg", "width": 10, "height": 10},
        ["not", "an", "object"],
        {"file_name": "noid.jpg", "width": 10, "height": 10},
        {"id": "c", "file_name": "c.jpg", "width": 10.5, "height": 10},
        {"id": "d", "file_name": "d.jpg", "height": 10},
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({
        "images": images,
        "annotations": [
            {"id": 1, "image_id": "b", "bbox": [1, 2, 3, 4], "category_id": 5},
            {"id": 2, "image_id": "a", "bbox": [1, 2, 3, 4]},
            {"id": 3, "image_id": 1, "bbox": [1, 2, 3, 4]},
        ],
    }))  # fmt: skip
    ann = read_annotations(path)
    assert ann.images == [ImageRecord("a.jpg", 100, 50), ImageRecord("b", 30, 20)]
    assert ann.image_index.tolist() == [1, 0]
    assert ann.categories == ["5", ""]  # no categories list: the ids as text
    name = str(path)
    assert ann.skipped == [
        Skipped(f"{name}: image id a", "duplicate image id; the first entry is used"),
        Skipped(f"{name}: images[3]", "expected an object, found ['not', 'an', 'object']"),
        Skipped(f"{name}: images[4]", "missing id (a number or text)"),
        Skipped(f"{name}: image id c", "width: expected a whole number of pixels > 0, got 10.5"),
        Skipped(f"{name}: image id d", "width: expected a whole number of pixels > 0, got nothing"),
        Skipped(f"{name}: annotation id 3", "unknown image id (1)"),
    ]


def test_coco_fast_and_per_entry_paths_agree(tmp_path: Path) -> None:
    """One odd entry sends its whole chunk through the per-entry path: same boxes."""
    rng = np.random.default_rng(7)
    xywh = np.round(rng.uniform(0, 1, (300, 4)) * [50, 20, 50, 30], 3) + np.array([0, 0, 0.5, 0.5])
    good = [
        {
            "id": k,
            "image_id": 1,
            "category_id": 1 + k % 2,
            "bbox": box.tolist(),
            "iscrowd": int(k % 7 == 0),
        }
        for k, box in enumerate(xywh)
    ]
    fast = read_annotations(coco_file(tmp_path, good))
    slow = read_annotations(coco_file(tmp_path, [*good, {"id": "odd", "bbox": None}]))
    assert fast.boxes.tobytes() == slow.boxes.tobytes()
    assert fast.categories == slow.categories
    assert slow.skipped[:-1] == fast.skipped
    assert slow.skipped[-1].reason.startswith("bbox must be 4 numbers")
    expected = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    assert fast.boxes.tolist() == expected[[k % 7 != 0 for k in range(300)]].tolist()


def test_boxes_a_little_past_the_edge_are_clipped(tmp_path: Path) -> None:
    assert EDGE_TOLERANCE == 1.0
    path = coco_file(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-0.5, 0, 10, 10]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [95, 45, 6, 6]},  # 1 px past: kept
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [95, 40, 6.5, 5]},  # 1.5 px past
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [100.2, 10, 0.5, 5]},  # all outside
    ])  # fmt: skip
    ann = read_annotations(path)
    assert ann.boxes.tolist() == [[0.0, 0.0, 9.5, 10.0], [95.0, 45.0, 100.0, 50.0]]
    reasons = {s.where.rsplit(" ", 1)[1]: s.reason for s in ann.skipped if "annotation" in s.where}
    assert sorted(reasons) == ["3", "4"]
    assert reasons["3"].startswith("outside the image (xmax 101.5")
    assert (
        reasons["4"]
        == "outside the image (box 100.2,10 to 100.7,15 does not overlap the 100x50 image)"
    )


def voc_xml(objects: str, size: str = "<size><width>100</width><height>50</height></size>") -> str:
    return f"<annotation><filename>a.jpg</filename>{size}{objects}</annotation>"


def obj(name: str, box: tuple, difficult: int = 0) -> str:
    fields = "".join(
        f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
    )
    return f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>{fields}</bndbox></object>"


def test_voc_malformed_objects_are_skipped_with_where_and_why(tmp_path: Path) -> None:
    folder = tmp_path / "Annotations"
    folder.mkdir()
    (folder / "a.xml").write_text(voc_xml(
        obj("x", (1, 1, 100, 50))  # the whole image, 1-based inclusive
        + obj("x", (11, 6, 10, 15))  # xmax = xmin - 1: zero width
        + obj("x", (11, 6, "abc", 15))
        + "<object><name>x</name></object>"
        + obj("x", (0, 1, 10, 10))  # written 0-based: -1 is within the tolerance, clipped
        + obj("x", (1, 1, 120, 10))
        + obj("y", (1, 1, 120, 10))  # another category: not reported when filtering
    ))  # fmt: skip
    (folder / "b.xml").write_text("<annotation><filename>b.jpg</filename></annotation>")
    ann = read_annotations(tmp_path)  # a VOC root: read through Annotations/
    a, b = str(folder / "a.xml"), str(folder / "b.xml")
    assert ann.boxes.tolist() == [[0.0, 0.0, 100.0, 50.0], [0.0, 0.0, 10.0, 10.0]]
    assert ann.skipped == [
        Skipped(f"{a}: object 2", "zero width"),
        Skipped(f"{a}: object 3", "xmax: not a number: 'abc'"),
        Skipped(f"{a}: object 4", "missing <bndbox>"),
        Skipped(
            f"{a}: object 6",
            "outside the image (xmax 120 is not within 0..100 of the 100x50 image)",
        ),
        Skipped(
            f"{a}: object 7",
            "outside the image (xmax 120 is not within 0..100 of the 100x50 image)",
        ),
        Skipped(
            b,
            f"missing image size (<size><width>, <height>), and no image 'b.jpg' in {tmp_path / 'JPEGImages'}",
        ),
    ]
    assert [s.where for s in read_annotations(tmp_path, categories=["x"]).skipped][3:5] == [
        f"{a}: object 6",
        b,
    ]
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(folder, strict=True)
    assert str(excinfo.value) == f"{a}: object 2: zero width"


def test_voc_without_size_reads_the_image_header(tmp_path: Path) -> None:
    (tmp_path / "cat.xml").write_text(
        "<annotation><filename>cat.jpg</filename><size><width>0</width><height>0</height>"
        "</size>" + obj("eye", (135, 83, 206, 148)) + "</annotation>"
    )
    ann = read_annotations(tmp_path, images_dir=SAMPLES)
    assert ann.images == [ImageRecord("cat.jpg", *image_sizes()["cat.jpg"])]
    assert ann.boxes.tolist() == [[134.0, 82.0, 206.0, 148.0]]


def test_yolo_malformed_rows_are_skipped_with_where_and_why(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    (tmp_path / "classes.txt").write_text("a\nb\n")
    (labels / "x.txt").write_text(
        "0 0.5 0.5 0.2 0.4\n"  # line 1: good
        "1 0.5 0.5 0.2 0.4 0.93\n"  # line 2: a confidence column, ignored
        "0 0.5 0.5 0.2\n"  # line 3: short
        "\n"  # line 4: blank, ignored
        "0 0.5 abc 0.2 0.4\n"  # line 5
        "-1 0.5 0.5 0.2 0.4\n"  # line 6
        "5 0.5 0.5 0.2 0.4\n"  # line 7: no name for class 5
        "0 0.5 0.5 0 0.4\n"  # line 8: zero width
        "0 1.2 0.5 0.2 0.4\n"  # line 9: outside
    )
    (labels / "y.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    shutil.copy(SAMPLES / "cat.jpg", labels / "x.jpg")
    ann = read_annotations(labels)
    x, y = str(labels / "x.txt"), str(labels / "y.txt")
    assert ann.images == [ImageRecord("x.jpg", 451, 300)]
    np.testing.assert_allclose(ann.boxes, [[180.4, 90, 270.6, 210]] * 2, rtol=0, atol=1e-9)
    assert ann.categories == ["a", "b"]
    assert ann.skipped == [
        Skipped(f"{x}:3", "expected 5 values (class cx cy w h), found 4"),
        Skipped(f"{x}:5", "not a number: 'abc'"),
        Skipped(f"{x}:6", "class id must be a whole number >= 0, got -1"),
        Skipped(f"{x}:7", f"no name for the class id (5 is not in {tmp_path / 'classes.txt'})"),
        Skipped(f"{x}:8", "zero width"),
        Skipped(
            f"{x}:9", "outside the image (xmin 496.1 is not within 0..451 of the 451x300 image)"
        ),
        Skipped(
            y,
            f"missing image (no y.jpg, .png, ... in {labels} or {tmp_path / 'images'})",
        ),
    ]
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(labels, strict=True)
    assert str(excinfo.value) == f"{x}:3: expected 5 values (class cx cy w h), found 4"


def test_yolo_rows_converted_in_batches_give_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    for k in range(6):
        rows = [
            f"{rng.integers(0, 3)} {cx:.4f} {cy:.4f} {w:.4f} {h:.4f}"
            for cx, cy, w, h in rng.uniform(0.3, 0.6, (5, 4))
        ]
        if k == 2:
            rows[3] = "1 0.5 x 0.1 0.1"
        if k == 4:
            rows[1] = "1.5 0.5 0.5 0.1 0.1"
        (tmp_path / f"{k}.txt").write_text("\n".join(rows) + "\n")
    whole = read_annotations(tmp_path, image_size=(64, 48))
    monkeypatch.setattr("anchorctl.annotations.yolo._BATCH", 4)
    batched = read_annotations(tmp_path, image_size=(64, 48))
    assert batched.boxes.tobytes() == whole.boxes.tobytes()
    assert batched.categories == whole.categories
    assert (
        batched.image_index.tolist()
        == whole.image_index.tolist()
        == sorted(whole.image_index.tolist())
    )
    assert whole.boxes.shape == (28, 4)
    assert (
        batched.skipped
        == whole.skipped
        == [
            Skipped(f"{tmp_path / '2.txt'}:4", "not a number: 'x'"),
            Skipped(f"{tmp_path / '4.txt'}:2", "class id must be a whole number >= 0, got 1.5"),
        ]
    )


def test_csv_malformed_rows_are_skipped_with_where_and_why(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "Image, Width,Height,xmin,ymin,xmax,ymax,category\n"  # names: any case, spaces
        "a.jpg,100,50,10,5,30,15,x\n"  # line 2: good
        "a.jpg,100,50,10,5,30\n"  # line 3: short
        "a.jpg,100,50,10,abc,30,15,x\n"
        "a.jpg,100,50,10,5,10,15,x\n"  # zero width
        "a.jpg,100,40,10,5,30,15,x\n"  # size differs from line 2
        ",100,50,10,5,30,15,x\n"
        "b.jpg,10.5,50,1,1,2,2,x\n"
        "a.jpg,100,50,10,5,130,15,x\n"
        'a.jpg,100,50,10,5,30,15,"quoted, category"\n'
        "a.jpg,100,50,10,,30,15,x\n"
        "c.jpg,20,20,5,5,1,1,x\n"  # a bad box: its image is still listed
    )
    ann = read_annotations(path)
    name = str(path)
    assert ann.boxes.tolist() == [[10.0, 5.0, 30.0, 15.0]] * 2
    assert ann.categories == ["x", "quoted, category"]
    assert ann.skipped == [
        Skipped(
            f"{name}:3",
            "expected 8 fields (image,width,height,xmin,ymin,xmax,ymax[,category]), found 6",
        ),
        Skipped(f"{name}:4", "ymin: not a number: 'abc'"),
        Skipped(f"{name}:5", "zero width"),
        Skipped(
            f"{name}:6", "image size differs from an earlier row (100x40, not 100x50 as on line 2)"
        ),
        Skipped(f"{name}:7", "missing image (the image column is empty)"),
        Skipped(f"{name}:8", "width: expected a whole number of pixels > 0, got '10.5'"),
        Skipped(
            f"{name}:9", "outside the image (xmax 130 is not within 0..100 of the 100x50 image)"
        ),
        Skipped(f"{name}:11", "ymin: missing"),
        Skipped(f"{name}:12", "negative width (-4 px)"),
    ]
    assert ann.images == [ImageRecord("a.jpg", 100, 50), ImageRecord("c.jpg", 20, 20)]
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path, strict=True)
    assert str(excinfo.value) == f"{name}:3: " + ann.skipped[0].reason


# --- hostile and wrong inputs -----------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>&lol9;</filename></annotation>
"""


def test_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(voc_xml(obj("x", (1, 1, 10, 10))))
    (tmp_path / "evil.xml").write_text(BILLION_LAUGHS)
    start = time.perf_counter()
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(tmp_path)
    assert time.perf_counter() - start < 2.0  # nothing was expanded
    one_line_error(excinfo, str(tmp_path / "evil.xml"), "refused", "entity 'lol'")


def test_external_entities_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (tmp_path / "xxe.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<annotation><filename>&xxe;</filename></annotation>"
    )
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(tmp_path / "xxe.xml")
    message = one_line_error(excinfo, "xxe.xml", "refused", "external entity 'xxe'")
    assert "TOP SECRET" not in message
    (tmp_path / "xxe.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
        "<annotation/>"
    )
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(tmp_path / "xxe.xml")
    one_line_error(excinfo, "xxe.xml", "refused")


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("bad.json", '{"images": [', ("bad.json: not valid JSON (line 1 column 13", "COCO")),
        ("list.json", "[]", ("list.json: expected a COCO object", "found a JSON list")),
        (
            "noimg.json",
            '{"annotations": []}',
            ("noimg.json: expected key 'images' to be a list, found missing",),
        ),
        (
            "cats.json",
            '{"images": [], "annotations": [], "categories": [3]}',
            ("cats.json: categories[0] must be",),
        ),
        ("deep.json", "[" * 100_000 + "]" * 100_000, ("deep.json",)),
        ("binary.json", b"\xff\xfe\x00\xd8garbage", ("binary.json",)),
        (
            "cols.csv",
            "image,w,h,x1,y1,x2,y2\na.jpg,1,1,0,0,1,1\n",
            ("cols.csv: line 1: expected the header image,width,height",),
        ),
        (
            "semi.csv",
            "image;width;height;xmin;ymin;xmax;ymax\n",
            ("semi.csv", "separated by something else"),
        ),
        ("empty.csv", "", ("empty.csv: empty file",)),
        ("dup.csv", "image,width,height,xmin,ymin,xmax,ymax,xmin\n", ("dup.csv: line 1",)),
        (
            "latin.csv",
            b"image,width,height,xmin,ymin,xmax,ymax\n\xe9.jpg,1,1,0,0,1,1\n",
            ("latin.csv: not a text file",),
        ),
        (
            "broken.xml",
            "<annotation><size></annotation>",
            ("broken.xml: not well-formed XML (mismatched tag: line 1",),
        ),
        (
            "svg.xml",
            "<svg/>",
            ("svg.xml: expected a Pascal VOC <annotation> root element, found <svg>",),
        ),
        (
            "boxes.tsv",
            "a\tb\n",
            ("boxes.tsv: cannot tell the annotation format from the suffix '.tsv'",),
        ),
    ],
)
def test_whole_file_problems_are_one_line_errors(
    tmp_path: Path, name: str, content: str | bytes, needles: tuple[str, ...]
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path)
    one_line_error(excinfo, *needles)


def test_folder_problems_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.xml").write_text("<annotation/>")
    (mixed / "a.txt").write_text("")
    cases = [
        (empty, None, "empty folder"),
        (mixed, None, "holds both .xml (Pascal VOC) and .txt (YOLO) files"),
        (DATA / "yolo" / "labels", "voc", "holds no .xml files but .txt files (YOLO labels?)"),
        (DATA / "voc", "yolo", "holds no .txt files but .xml files (Pascal VOC annotations?)"),
        (DATA / "voc", "coco", "is a folder; expected a COCO .json file"),
        (DATA, None, "give the file 'boxes.csv' itself?"),
        (tmp_path / "nothing", None, "no such file or folder"),
        (
            DATA / "coco.json",
            "cocoa",
            "annotation format 'cocoa': expected one of coco, voc, yolo, csv",
        ),
    ]
    for path, fmt, needle in cases:
        with pytest.raises(AnchorError) as excinfo:
            read_annotations(path, fmt)
        one_line_error(excinfo, needle)


def test_yolo_without_any_image_says_how_to_fix_it() -> None:
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "yolo")
    one_line_error(excinfo, "no image found for any of the 4 label files", "image size")


def test_options_that_do_not_apply_are_errors() -> None:
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "coco.json", image_size=(640, 480))
    one_line_error(excinfo, "only YOLO labels need one", "coco.json holds COCO annotations")
    assert len(read_annotations(DATA / "yolo", image_size=(np.int64(64), np.int64(48))).images) == 4
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "boxes.csv", images_dir=SAMPLES)
    one_line_error(excinfo, "only YOLO and Pascal VOC", "holds CSV annotations")
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(DATA / "yolo", image_size=(640, 0))
    one_line_error(excinfo, "expected two whole numbers of pixels > 0")


# --- detection and progress ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("coco.json", "coco"),
        ("boxes.csv", "csv"),
        ("voc", "voc"),
        ("voc/cat.xml", "voc"),
        ("yolo", "yolo"),
        ("yolo/labels", "yolo"),
        ("yolo/labels/cat.txt", "yolo"),
    ],
)
def test_auto_detection(path: str, fmt: str) -> None:
    options = {"images_dir": SAMPLES} if fmt == "yolo" else {}
    ann = read_annotations(DATA / path, **options)
    assert ann.format == fmt
    assert read_annotations(DATA / path, fmt, **options).boxes.tobytes() == ann.boxes.tobytes()
    if path.endswith("cat.xml") or path.endswith("cat.txt"):
        assert [im.name for im in ann.images] == ["cat.jpg"]


def test_a_named_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "boxes.txt"
    shutil.copy(DATA / "boxes.csv", path)
    assert_rows_close(read_annotations(path, "csv"), truth_rows())


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("coco.json", {}),
        ("voc", {}),
        ("yolo", {"images_dir": SAMPLES}),
        ("boxes.csv", {}),
    ],
)
def test_progress_counts_up_to_the_total(path: str, options: dict) -> None:
    calls: list[tuple[int, int]] = []
    read_annotations(
        DATA / path, progress=lambda done, total: calls.append((done, total)), **options
    )
    assert calls and calls[-1][0] == calls[-1][1] > 0
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    assert all(done <= total for done, total in calls)


def test_file_progress_is_throttled_but_ends_at_the_total() -> None:
    calls: list[tuple[int, int]] = []
    report = file_progress(lambda done, total: calls.append((done, total)), 4321)
    for done in range(1, 4322):
        report(done)
    assert 500 <= len(calls) <= 1001
    assert calls[-1] == (4321, 4321)
    assert file_progress(None, 10)(3) is None


# --- round trips --------------------------------------------------------------------------

SIZES = st.tuples(st.integers(1, 4000), st.integers(1, 4000))


@st.composite
def images_with_boxes(
    draw: st.DrawFn,
) -> list[tuple[int, int, list[tuple[float, float, float, float]]]]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        width, height = draw(SIZES)
        boxes = []
        for _ in range(draw(st.integers(0, 5))):
            x = draw(st.floats(0, width, allow_nan=False, exclude_max=True))
            y = draw(st.floats(0, height, allow_nan=False, exclude_max=True))
            w = draw(st.floats(0, width - x, exclude_min=True, allow_nan=False))
            h = draw(st.floats(0, height - y, exclude_min=True, allow_nan=False))
            if x + w <= x or y + h <= y or x + w > width or y + h > height:
                continue  # a size too small to move x, or rounding past the edge
            boxes.append((x, y, w, h))
        out.append((width, height, boxes))
    return out


@settings(max_examples=60, deadline=None)
@given(images_with_boxes())
def test_random_boxes_read_back_exactly_from_coco_and_csv(
    tmp_path_factory: pytest.TempPathFactory, data: list
) -> None:
    folder = tmp_path_factory.mktemp("round")
    images, annotations, rows = [], [], ["image,width,height,xmin,ymin,xmax,ymax"]
    expected = []
    for k, (width, height, boxes) in enumerate(data):
        images.append({"id": k, "file_name": f"{k}.jpg", "width": width, "height": height})
        for x, y, w, h in boxes:
            annotations.append(
                {"id": len(annotations), "image_id": k, "category_id": 1, "bbox": [x, y, w, h]}
            )
            rows.append(f"{k}.jpg,{width},{height},{x!r},{y!r},{x + w!r},{y + h!r}")
            expected.append([x, y, x + w, y + h])
        if not boxes:
            rows.append(f"{k}.jpg,{width},{height},,,,")
    (folder / "a.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    (folder / "a.csv").write_text("\n".join(rows) + "\n")
    for name in ("a.json", "a.csv"):
        ann = read_annotations(folder / name, strict=True)
        assert ann.boxes.tolist() == (expected or np.zeros((0, 4)).tolist())
        assert [(im.width, im.height) for im in ann.images] == [(w, h) for w, h, _ in data]
        assert ann.skipped == []


@settings(max_examples=40, deadline=None)
@given(
    SIZES,
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(1, 10**6),
            st.integers(1, 10**6),
        ),
        max_size=5,
    ),
)
def test_random_boxes_read_back_from_yolo_to_float_precision(
    tmp_path_factory: pytest.TempPathFactory, size: tuple[int, int], raw: list
) -> None:
    width, height = size
    folder = tmp_path_factory.mktemp("yolo")
    expected, lines = [], []
    for a, b, c, d in raw:
        # Integer-ish boxes inside the image, from fractions of the size.
        x1, y1 = a % width, b % height
        x2, y2 = x1 + 1 + c % (width - x1), y1 + 1 + d % (height - y1)  # <= the size
        expected.append([x1, y1, x2, y2])
        values = (
            (x1 + x2) / 2 / width,
            (y1 + y2) / 2 / height,
            (x2 - x1) / width,
            (y2 - y1) / height,
        )
        lines.append("0 " + " ".join(repr(v) for v in values))
    (folder / "img.txt").write_text("\n".join(lines))
    ann = read_annotations(folder, image_size=size, strict=True)
    # Each value is within a few ulp of the size: 1e-9 px is far above float64 rounding.
    np.testing.assert_allclose(
        ann.boxes, np.array(expected, dtype=float).reshape(-1, 4), rtol=0, atol=1e-9
    )
    assert ann.skipped == []
