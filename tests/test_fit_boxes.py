"""anchorctl.fit.boxes: boxes set aside in memory or an unnamed temporary file, read back in
blocks, and the seeded sample drawn from them in one pass; suggest on them holds a sample and a
block, whatever the number of boxes."""

from __future__ import annotations

import errno
import os
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fit import QUICK, boxes_around, preset_template

from anchorctl.errors import AnchorError
from anchorctl.fit import boxes as fit_boxes
from anchorctl.fit.boxes import HeldBoxes, SpilledBoxes, as_boxes, sample_boxes
from anchorctl.fit.objectives import metrics_of
from anchorctl.suggest import Budget, suggest, template_from


def random_boxes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 500, (2, n))
    w, h = rng.uniform(1, 120, (2, n))
    return np.stack([x, y, x + w, y + h], axis=1)


def spill(boxes: np.ndarray, limit: int, parts: int = 3, directory: str | None = None):  # type: ignore[no-untyped-def]
    out = SpilledBoxes(limit=limit, directory=directory)
    for part in np.array_split(boxes, parts):
        out.append(part)
    return out


# --------------------------------------------------------------------------- set aside


@pytest.mark.parametrize("limit", [0, 1000, 1 << 30])
@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_blocks_give_back_every_box_bit_for_bit(limit: int, block: int) -> None:
    boxes = random_boxes(1000)
    with spill(boxes, limit, parts=5) as kept:
        assert len(kept) == 1000
        assert kept.on_disk == (limit < 1000 * 32)
        for _ in range(2):  # read twice, as a fit does
            parts = list(kept.blocks(block))
            assert all(len(p) == block for p in parts[:-1])
            got = np.concatenate(parts)
            assert got.tobytes() == boxes.tobytes()


def test_the_temporary_file_has_no_name_so_nothing_can_be_left_behind(tmp_path: Path) -> None:
    with spill(random_boxes(500), 0, directory=str(tmp_path)) as kept:
        assert kept.on_disk
        assert os.listdir(tmp_path) == []  # unlinked while open: a kill -9 leaves nothing
        assert len(np.concatenate(list(kept.blocks(100)))) == 500
    assert os.listdir(tmp_path) == []


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(AnchorError, match=r"no-such-folder.*TMPDIR") as info:
        spill(random_boxes(50), 0, directory=str(missing))
    assert "\n" not in str(info.value)


def test_a_full_disk_is_one_line_naming_the_room_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Full:
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self) -> None:
            pass

    monkeypatch.setattr(fit_boxes.tempfile, "TemporaryFile", lambda **_: Full())
    kept = SpilledBoxes(limit=0, directory=str(tmp_path))
    with pytest.raises(AnchorError, match=r"No space left on device.*MiB are needed.*TMPDIR"):
        kept.append(random_boxes(40_000))
    assert not kept.on_disk  # closed, nothing held


def test_as_boxes_checks_the_shape_and_keeps_boxes_as_they_are() -> None:
    boxes = random_boxes(10)
    held = as_boxes(boxes)
    assert isinstance(held, HeldBoxes) and len(held) == 10
    kept = spill(boxes, 0)
    assert as_boxes(kept) is kept
    for bad, message in ((np.zeros((0, 4)), "none to fit"), (boxes[:, :3], r"\(N, 4\)"),
                         ("text", r"\(N, 4\)"), (SpilledBoxes(), "none to fit")):  # fmt: skip
        with pytest.raises(AnchorError, match=message):
            as_boxes(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the sample


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3000),
    size=st.integers(1, 1200),
    block=st.integers(1, 700),
    seed=st.integers(0, 2**32),
)
def test_the_sample_does_not_depend_on_the_blocks(n: int, size: int, block: int, seed: int) -> None:
    boxes = random_boxes(n, seed % 7)
    whole = sample_boxes(HeldBoxes(boxes), size, np.random.SeedSequence(seed), block=n)
    parts = sample_boxes(HeldBoxes(boxes), size, np.random.SeedSequence(seed), block=block)
    assert whole.tobytes() == parts.tobytes()
    assert len(whole) == min(n, size)
    # a subset of the boxes, in their order
    rows = {row.tobytes(): i for i, row in enumerate(boxes)}
    where = [rows[row.tobytes()] for row in whole]
    assert where == sorted(where)
    if n <= size:
        assert whole.tobytes() == boxes.tobytes()


def test_the_sample_is_uniform() -> None:
    n, size, draws = 200, 20, 2000
    boxes = random_boxes(n)
    rows = {row.tobytes(): i for i, row in enumerate(boxes)}
    hits = np.zeros(n)
    for seed in range(draws):
        for row in sample_boxes(HeldBoxes(boxes), size, np.random.SeedSequence(seed), block=37):
            hits[rows[row.tobytes()]] += 1
    expected = draws * size / n  # 200 each; binomial sd about 13.4
    assert np.abs(hits - expected).max() < 6 * np.sqrt(expected * (1 - size / n))
    assert abs(hits[: n // 2].sum() - hits[n // 2 :].sum()) < 0.05 * hits.sum()


def test_ties_between_keys_go_to_the_earlier_box() -> None:
    keys = np.array([5, 1, 5, 5, 0, 9], dtype=np.uint64)
    order = np.array([10, 11, 3, 7, 12, 1])
    picked = fit_boxes._smallest(keys, order, 3)
    assert sorted(order[picked].tolist()) == [3, 11, 12]  # 0, 1, then the first of the fives


def test_bad_boxes_are_counted_over_every_block_and_the_first_named() -> None:
    boxes = random_boxes(1000)
    boxes[[403, 700, 999], 2] = boxes[[403, 700, 999], 0]  # no width
    boxes[850, 1] = np.nan
    with pytest.raises(AnchorError, match=r"box 403 is 0 x [\d.]+;.*\(4 such boxes\)"):
        sample_boxes(spill(boxes, 0), 100, np.random.SeedSequence(0), block=64)


# --------------------------------------------------------------------------- fits on them


@pytest.mark.parametrize("objective", ["mean-iou", "recall"])
@pytest.mark.parametrize("sample", [300, 5000])
def test_suggest_on_boxes_set_aside_equals_suggest_on_the_array(
    objective: str, sample: int
) -> None:
    template = preset_template("fasterrcnn-fpn")
    boxes = boxes_around(np.array([[20, 30], [60, 40], [200, 150]]), 1500, (1216, 800))
    want = suggest(boxes, template, objective=objective, sample=sample, seed=3, budget=QUICK)
    with spill(boxes, 0, parts=4) as kept:
        got = suggest(kept, template, objective=objective, sample=sample, seed=3, budget=QUICK)
    assert got.sampling == want.sampling
    assert got.anchors.tobytes() == want.anchors.tobytes()
    assert (got.metrics, got.current, got.free_metrics) == (want.metrics, want.current,
                                                           want.free_metrics)  # fmt: skip


def test_metrics_are_the_same_sums_from_blocks_as_from_the_array() -> None:
    template = preset_template("ssd300")
    boxes = random_boxes(70_000, 2)  # more than one block of 262,144 / k elements
    shapes = np.concatenate(template.shapes())
    level = np.repeat(np.arange(len(template.shapes())), [len(s) for s in template.shapes()])
    kw = {"centres": template.centres(), "levels": [level]}
    want = metrics_of(boxes, [shapes], **kw)  # type: ignore[arg-type]
    with spill(boxes, 0, parts=9) as kept:
        assert metrics_of(kept, [shapes], **kw) == want  # type: ignore[arg-type]


def _peak(n: int) -> int:
    """The most memory (numpy's and Python's, traced) that suggest takes on ``n`` boxes set
    aside in a temporary file, sampling 2,000 of them."""
    template = template_from(
        "yolo",
        {"anchors": [((10, 13), (16, 30), (33, 23))], "strides": [(32.0, 32.0)],
         "feature_maps": [(20, 20)], "image_size": (640, 640)},
    )  # fmt: skip
    boxes = SpilledBoxes(limit=0)
    for start in range(0, n, 50_000):
        boxes.append(random_boxes(min(50_000, n - start), start))
    tracemalloc.start()
    try:
        suggest(boxes, template, sample=2000, seed=0, budget=Budget(restarts=1, kicks=1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        boxes.close()
    return peak


def test_suggest_holds_a_sample_and_a_block_not_the_boxes() -> None:
    # both past the largest block, so only what grows with the boxes can differ: holding
    # 600,000 boxes (19.2 MB) or even one float64 per box (4.8 MB against 1.2 MB) would show
    small, large = _peak(150_000), _peak(600_000)
    assert large < small + 1_000_000, (small, large)


def test_the_default_limit_moves_a_large_set_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit_boxes, "HELD_BYTES", 32 * 1000)
    kept = spill(random_boxes(1001), None)  # type: ignore[arg-type]
    assert kept.on_disk
    kept.close()
    assert not spill(random_boxes(1000), None).on_disk  # type: ignore[arg-type]
    assert tempfile.gettempdir()  # where it goes without a directory: TMPDIR
