"""Annotations as a stream: the same boxes as read_annotations in any chunking and any COCO
key order, bounded memory on large and endless inputs, and one-line errors that name the
byte or line where a file goes wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from anchorctl.annotations import open_annotations, read_annotations
from anchorctl.annotations.records import Skipped
from anchorctl.annotations.stream import NameTable, SkipLog, Spill
from anchorctl.errors import AnchorError

from support import ROOT, SAMPLES

DATA = ROOT / "tests" / "data" / "annotations"
READS = [
    ("coco.json", {"include_crowd": True}),
    ("voc", {"include_difficult": True}),
    ("yolo", {"images_dir": SAMPLES}),
    ("boxes.csv", {}),
]


def gathered(path: Path, **options: object) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """The stream's boxes, image rows and categories, concatenated; and the chunk count."""
    boxes, images, categories, chunks = [], [], [], 0
    with open_annotations(path, **options) as stream:  # type: ignore[arg-type]
        for chunk in stream:
            assert chunk.first == sum(len(b) for b in boxes)
            boxes.append(chunk.boxes)
            images.append(chunk.image)
            categories += [stream.category_names[i] for i in chunk.category.tolist()]
            chunks += 1
    return np.concatenate(boxes), np.concatenate(images), categories, chunks


@pytest.mark.parametrize(("path", "options"), READS)
def test_small_chunks_give_the_same_boxes(
    path: str, options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = read_annotations(DATA / path, **options)
    for module, name in [
        ("coco", "_CHUNK"),
        ("csvfile", "_BATCH"),
        ("voc", "_BATCH"),
        ("yolo", "_BATCH"),
    ]:
        monkeypatch.setattr(f"anchorctl.annotations.{module}.{name}", 2)
    boxes, images, categories, chunks = gathered(DATA / path, **options)
    assert chunks >= 3
    assert boxes.tobytes() == whole.boxes.tobytes()
    assert images.tolist() == whole.image_index.tolist()
    assert categories == whole.categories


def coco_parts() -> dict[str, object]:
    return json.loads((DATA / "coco.json").read_text())


@pytest.mark.parametrize(
    "order",
    [
        ("images", "annotations", "categories"),
        ("categories", "images", "annotations"),
        ("annotations", "images", "categories"),
        ("annotations", "categories", "images"),
        ("categories", "annotations", "images"),
    ],
)
def test_coco_keys_in_any_order(tmp_path: Path, order: tuple[str, ...]) -> None:
    data = coco_parts()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({key: data[key] for key in ("info", *order)}))
    expected = read_annotations(DATA / "coco.json")
    got = read_annotations(path)
    assert got.boxes.tobytes() == expected.boxes.tobytes()
    assert got.categories == expected.categories
    assert got.images == expected.images
    assert [s.reason for s in got.skipped] == [s.reason for s in expected.skipped]


def test_coco_annotations_before_images_spill_to_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = coco_parts()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({k: data[k] for k in ("annotations", "images", "categories")}))
    monkeypatch.setattr("anchorctl.annotations.coco._CHUNK", 3)
    spilled: list[int] = []
    original = Spill.put

    def put(self: Spill, item: object) -> None:
        original(self, item)
        spilled.append(self._file is not None)

    monkeypatch.setattr(Spill, "put", put)
    monkeypatch.setattr(Spill.__init__, "__defaults__", (1,))
    got = read_annotations(path)
    assert spilled and all(spilled)  # past the (tiny) limit every chunk went to the file
    expected = read_annotations(DATA / "coco.json")
    assert got.boxes.tobytes() == expected.boxes.tobytes()


def test_spill_gives_back_what_was_put_and_closes_its_file() -> None:
    spill = Spill(lambda item: 10, limit=25)
    for k in range(5):
        spill.put({"k": k, "a": np.arange(k)})
    assert spill._file is not None
    handle = spill._file
    got = list(spill.drain())
    assert [item["k"] for item in got] == list(range(5))
    assert got[3]["a"].tolist() == [0, 1, 2]
    assert handle.closed


def test_name_table_and_skip_log() -> None:
    table = NameTable()
    table.extend(["a.jpg", "", "ü/b.png"])
    table.extend(["c"])
    assert [table[i] for i in range(4)] == ["a.jpg", "", "ü/b.png", "c"]
    assert [table.select(np.array([3, 0]))[i] for i in range(2)] == ["c", "a.jpg"]
    with pytest.raises(IndexError):
        table[4]
    log = SkipLog(limit=2)
    for order in (5, 9, 1, 7):  # 1 is found late (a deferred check): still listed first
        log.add(order, Skipped(f"f:{order}", "zero width"))
    assert [s.where for s in log.listed] == ["f:1", "f:5"]
    assert log.total == 4 and log.counts() == {"zero width": 4}


def test_a_stream_lists_a_bounded_number_of_skipped_entries(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    rows = ["image,width,height,xmin,ymin,xmax,ymax"] + ["a.jpg,10,10,5,5,5,9"] * 50
    path.write_text("\n".join(rows) + "\n")
    with open_annotations(path, list_skipped=3) as stream:
        assert sum(len(c) for c in stream) == 0
    assert stream.skipped.total == 50 and len(stream.skipped.listed) == 3
    assert stream.skipped.listed[0].where == f"{path}:2"
    assert len(read_annotations(path).skipped) == 50  # read_annotations lists every one


# --- bad input at scale ---------------------------------------------------------------------


def coco_text(n: int) -> str:
    """A COCO file of ``n`` boxes on 10 images, as json.dump writes it."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in range(10)]
    annotations = [
        {"id": k, "image_id": k % 10, "category_id": 1, "bbox": [k % 300, 7.5, 20, 30]}
        for k in range(n)
    ]
    return json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}
    )


def test_a_truncated_coco_file_names_where_it_ends(tmp_path: Path) -> None:
    text = coco_text(5000)
    path = tmp_path / "cut.json"
    cut = len(text) * 2 // 3
    path.write_text(text[:cut])
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: not valid JSON (line 1 column ")
    assert f"byte {cut}: " in message and "truncated" in message


def test_a_corrupt_byte_is_named_and_the_read_stops_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = coco_text(20000)
    at = text.index('"bbox"', len(text) // 4) + 8  # inside a bbox list: [x, ...
    corrupt = text[:at] + "@" + text[at + 1 :]
    path = tmp_path / "bad.json"
    path.write_text(corrupt)
    monkeypatch.setattr("anchorctl.annotations.textio.TextBlocks.__init__.__defaults__", (4096,))
    seen: list[int] = []
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path, progress=lambda done, total: seen.append(done))
    assert f"byte {at}: " in str(excinfo.value)
    # Bounded work: the read stopped within a block or two of the bad byte.
    assert max(seen, default=0) <= at + 3 * 4096 < len(corrupt)


@pytest.mark.parametrize(
    ("content", "fmt", "needle"),
    [
        ("image,width,height,xmin,ymin,xmax,ymax\n" + "x" * (2 << 20), "csv", "line 2 is longer"),
        ("0 0.5 0.5 0.1 0.1" + " " * (2 << 20), "yolo", "line 1 is longer"),
        ('{"images": [], "annotations": [{"bbox": "' + "x" * (3 << 20), "coco", "longer than"),
    ],
)
def test_endless_lines_and_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, fmt: str, needle: str
) -> None:
    monkeypatch.setattr("anchorctl.annotations.textio.MAX_LINE", 1 << 20)
    monkeypatch.setattr("anchorctl.annotations.jsonscan.MAX_VALUE", 1 << 20)
    path = tmp_path / f"big.{ {'csv': 'csv', 'yolo': 'txt', 'coco': 'json'}[fmt] }"
    path.write_text(content)
    options = {"image_size": (10, 10)} if fmt == "yolo" else {}
    with pytest.raises(AnchorError) as excinfo:
        read_annotations(path, fmt, strict=True, **options)  # type: ignore[arg-type]
    assert needle in str(excinfo.value) and "\n" not in str(excinfo.value)


LIMITED = textwrap.dedent(
    """
    import resource, sys
    limit = int(sys.argv[3]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from anchorctl.annotations import open_annotations
    from anchorctl.errors import AnchorError
    import json
    try:
        if sys.argv[2] == "json.load":
            json.load(open(sys.argv[1], "rb"))
            print("read")
        else:
            with open_annotations(sys.argv[1], sys.argv[2]) as stream:
                print("read", sum(len(c) for c in stream))
    except MemoryError:
        print("MemoryError")
    except AnchorError as exc:
        print("AnchorError", exc)
    """
)


def limited(path: str, how: str, mib: int) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", LIMITED, path, how, str(mib)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    return result.stdout.strip() or result.stderr.strip().splitlines()[-1]


def test_a_large_coco_file_streams_in_less_memory_than_json_load(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(coco_text(500_000))  # 36 MB of JSON, about 400 MB once json.load-ed
    assert limited(str(path), "json.load", 320) == "MemoryError"  # the limit is real
    assert limited(str(path), "coco", 320) == "read 500000"


@pytest.mark.parametrize(("device", "fmt"), [("/dev/zero", "csv"), ("/dev/urandom", "coco")])
def test_endless_devices_fail_fast_in_bounded_memory(device: str, fmt: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} on this system")
    start = time.perf_counter()
    out = limited(device, fmt, 400)
    assert out.startswith(f"AnchorError {device}: "), out
    assert time.perf_counter() - start < 60


def test_bulk_decoding_is_not_fooled_by_braces_in_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("anchorctl.annotations.jsonscan._BULK", 8)
    monkeypatch.setattr("anchorctl.annotations.textio.TextBlocks.__init__.__defaults__", (64,))
    images = [{"id": k, "file_name": f"a}},{k}.jpg", "width": 10, "height": 10} for k in range(40)]
    annotations = [
        {"id": k, "image_id": k % 40, "bbox": [1, 1, 2, 2], "seg": [{"x": "},"}, {"y": k}]}
        for k in range(200)
    ]
    for indent in (None, 1):  # ", " and ",\n " between elements
        path = tmp_path / "tricky.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations}, indent=indent))
        ann = read_annotations(path)
        assert [im.name for im in ann.images] == [f"a}},{k}.jpg" for k in range(40)]
        assert ann.image_index.tolist() == [k % 40 for k in range(200)]
