"""d2l's multibox_prior, pinned by the outputs recorded from d2l 1.0.3 (MXNet and PyTorch tabs)
and by properties of the book's rules."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchorctl import conventions
from anchorctl.conventions import d2l, mxnet
from anchorctl.conventions.base import OPTION_KINDS
from anchorctl.errors import AnchorError

from support import VECTORS, load_vector

FLAVOURS = {"d2l_mxnet_multibox_prior": False, "d2l_torch_multibox_prior": True}
VECTOR_FILES = sorted(
    p.relative_to(VECTORS).as_posix()
    for folder in FLAVOURS
    for p in (VECTORS / folder).glob("*.json")
)


def params_of(vector: dict[str, Any], torch: bool) -> dict[str, Any]:
    return {
        "feature_maps": [tuple(vector["feature_shape"])],
        "sizes": [tuple(vector["params"]["sizes"])],
        "ratios": [tuple(vector["params"]["ratios"])],
        "torch": torch,
    }


def check(vector: dict[str, Any], got: np.ndarray, atol: float) -> None:
    assert got.shape == (vector["num_anchors"], 4)
    assert got.dtype == np.float32
    if "anchors" in vector:
        np.testing.assert_allclose(got, np.array(vector["anchors"]), rtol=0, atol=atol)
    if "anchors_head" in vector:
        head = np.array(vector["anchors_head"])
        np.testing.assert_allclose(got[: len(head)], head, rtol=0, atol=atol)
        start = vector["anchors_tail_start_index"]
        tail = np.array(vector["anchors_tail"])
        np.testing.assert_allclose(got[start:], tail, rtol=0, atol=atol)
    for spot in vector.get("spot", []):
        np.testing.assert_allclose(got[spot["index"]], spot["anchor"], rtol=0, atol=atol)


def sha(got: np.ndarray) -> str:
    return hashlib.sha256(got.astype("<f4").tobytes()).hexdigest()


def test_all_recorded_vectors_are_used() -> None:
    assert len(VECTOR_FILES) == 18


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_own_flavour_is_bit_exact(name: str) -> None:
    vector = load_vector(name)
    torch = FLAVOURS[name.split("/")[0]]
    (level,) = d2l.generate(params_of(vector, torch))
    check(vector, level.array, atol=0.0)
    assert sha(level.array) == vector["checksum"]["sha256_f32le"]


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_other_flavour_within_1e6(name: str) -> None:
    vector = load_vector(name)
    torch = not FLAVOURS[name.split("/")[0]]
    (level,) = d2l.generate(params_of(vector, torch))
    check(vector, level.array, atol=1e-6)


def test_flavours_really_differ_where_the_recordings_do() -> None:
    # the recordings disagree on a 5x7 map; each flavour must pick its own side
    mx = load_vector("d2l_mxnet_multibox_prior/d2l_sizes_5x7.json")
    pt = load_vector("d2l_torch_multibox_prior/d2l_sizes_5x7.json")
    assert mx["checksum"]["sha256_f32le"] != pt["checksum"]["sha256_f32le"]
    (a,) = d2l.generate(params_of(mx, False))
    (b,) = d2l.generate(params_of(mx, True))
    assert sha(a.array) == mx["checksum"]["sha256_f32le"]
    assert sha(b.array) == pt["checksum"]["sha256_f32le"]


def test_contract_and_rules() -> None:
    assert conventions.load("d2l") is d2l
    assert d2l.RULES.native_format == "xyxy"
    assert d2l.RULES.ratio_meaning == "width / height"
    assert {o.name for o in d2l.OPTIONS} == {"sizes", "ratios", "torch"}
    for option in d2l.OPTIONS:
        assert option.kind in OPTION_KINDS
    doc = d2l.__doc__ or ""
    for fact in ("H / W", "ratios[0]", "d2l-ai/d2l-en#442", "(col + 0.5) / W", "no clipping"):
        assert fact in doc


def test_book_example_pixel_sizes_at_250_250() -> None:
    # d2l-ai/d2l-zh#1190 (d2l-ai/d2l-en chapter_computer-vision/anchor.md): on the 728x561 image the five anchors at
    # (250, 250) are 420.75^2, 280.5^2, 140.25^2, 595.03x297.52 and 297.52x595.03 pixels
    (level,) = d2l.generate(
        {"feature_maps": [(561, 728)], "sizes": [(0.75, 0.5, 0.25)], "ratios": [(1.0, 2.0, 0.5)]}
    )
    boxes = level.array[(250 * 728 + 250) * 5 : (250 * 728 + 251) * 5].astype(np.float64)
    w = (boxes[:, 2] - boxes[:, 0]) * 728
    h = (boxes[:, 3] - boxes[:, 1]) * 561
    np.testing.assert_allclose(w, [420.75, 280.5, 140.25, 595.03, 297.52], atol=0.01)
    np.testing.assert_allclose(h, [420.75, 280.5, 140.25, 297.52, 595.03], atol=0.01)
    np.testing.assert_allclose(boxes[0], [0.055117, 0.071524, 0.633070, 0.821524], atol=1e-6)


def test_tiny_ssd_total_is_5444() -> None:
    # d2l-ai/d2l-en chapter_computer-vision/ssd.md: 256x256 input, maps 32, 16, 8, 4, 1
    levels = d2l.generate(
        {
            "feature_maps": [(32, 32), (16, 16), (8, 8), (4, 4), (1, 1)],
            "sizes": [(0.2, 0.272), (0.37, 0.447), (0.54, 0.619), (0.71, 0.79), (0.88, 0.961)],
            "ratios": [(1.0, 2.0, 0.5)],
        }
    )
    assert [lv.per_cell for lv in levels] == [4] * 5
    assert sum(lv.count for lv in levels) == 5444


def test_same_grid_as_mxnet_and_near_its_values() -> None:
    spec = mxnet.MultiBoxPriorSpec((0.75, 0.5, 0.25), (1.0, 2.0, 0.5), (5, 7))
    (level,) = d2l.generate(
        {"feature_maps": [(5, 7)], "sizes": [(0.75, 0.5, 0.25)], "ratios": [(1.0, 2.0, 0.5)]}
    )
    np.testing.assert_allclose(level.array, mxnet.anchors(spec), rtol=0, atol=2e-7)
    assert level.stride == spec.step_yx


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"sizes": None}, "--sizes is required"),
        ({"ratios": None}, "--ratios is required"),
        ({"sizes": [()]}, "--sizes"),
        ({"sizes": [(0.0,)]}, "--sizes"),
        ({"ratios": [(-1.0,)]}, "--ratios"),
        ({"ratios": [(float("nan"),)]}, "--ratios"),
        ({"sizes": [(0.1,), (0.2,), (0.3,)]}, "--sizes"),
    ],
)
def test_refuses_nonsense_naming_the_option(params: dict[str, Any], words: str) -> None:
    p: dict[str, Any] = {"feature_maps": [(2, 2), (1, 1)], "sizes": [(0.2,)], "ratios": [(1.0,)]}
    p.update(params)
    with pytest.raises(AnchorError, match=words.replace("-", r"\-")):
        d2l.generate(p)


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    positive = st.floats(0.05, 3.0, allow_nan=False)
    return {
        "feature_maps": [(draw(st.integers(1, 7)), draw(st.integers(1, 7)))],
        "sizes": [tuple(draw(st.lists(positive, min_size=1, max_size=3)))],
        "ratios": [tuple(draw(st.lists(positive, min_size=1, max_size=4)))],
        "torch": draw(st.booleans()),
    }


@settings(max_examples=40, deadline=None)
@given(calls())
def test_count_order_centres_and_ratio(p: dict[str, Any]) -> None:
    (level,) = d2l.generate(p)
    rows, cols = p["feature_maps"][0]
    sizes, ratios = p["sizes"][0], p["ratios"][0]
    k = len(sizes) + len(ratios) - 1
    assert level.per_cell == k and level.array.shape == (rows * cols * k, 4)
    boxes = level.array.astype(np.float64).reshape(rows, cols, k, 4)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    np.testing.assert_allclose(
        cx, ((np.arange(cols) + 0.5) / cols)[None, :, None] + 0 * cx, atol=1e-6
    )
    np.testing.assert_allclose(
        cy, ((np.arange(rows) + 0.5) / rows)[:, None, None] + 0 * cy, atol=1e-6
    )
    expected = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
    for slot, (s, r) in enumerate(expected):
        shape = level.shapes[slot]
        assert shape.params == {"size": s, "ratio": r}
        # width carries the rows/cols factor; in "pixels" of an image shaped like the map the
        # box is s * rows wide times sqrt(r) and s * rows / sqrt(r) high
        assert shape.width == pytest.approx(s * np.sqrt(r) * rows / cols, rel=1e-5)
        assert shape.height == pytest.approx(s / np.sqrt(r), rel=1e-5)
        assert (shape.width * cols) / (shape.height * rows) == pytest.approx(r, rel=1e-5)


# --- the two tabs of the book: at most one float32 step of a coordinate apart ------------------

TORCH_BOUND = 4.8e-7  # one float32 step (2**-21 = 4.77e-7) of a coordinate in [2, 4)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.lists(st.floats(0.05, 3.0), min_size=1, max_size=3),
    st.lists(st.floats(0.05, 5.0), min_size=1, max_size=3),
)
def test_the_torch_tab_is_within_its_stated_bound(
    rows: int, cols: int, sizes: list[float], ratios: list[float]
) -> None:
    params = {"feature_maps": [(rows, cols)], "sizes": [tuple(sizes)], "ratios": [tuple(ratios)]}
    mx = d2l.generate({**params, "torch": False})[0].array.astype(np.float64)
    pt = d2l.generate({**params, "torch": True})[0].array.astype(np.float64)
    assert float(np.abs(mx - pt).max()) <= TORCH_BOUND


def test_the_tabs_can_differ_by_more_than_the_old_stated_bound() -> None:
    # The tabs compute the heights of sizes[0] with ratios[1:] in another order; a corner
    # between 2 and 4 then moves by one float32 step there, 2**-21: four times the 1.2e-7
    # the help used to state.
    params = {"feature_maps": [(7, 3)], "sizes": [(2.958, 1.3127)], "ratios": [(4.2229, 0.4526)]}
    mx = d2l.generate({**params, "torch": False})[0].array.astype(np.float64)
    pt = d2l.generate({**params, "torch": True})[0].array.astype(np.float64)
    assert float(np.abs(mx - pt).max()) == 2.0**-21
    help_text = next(o.help for o in d2l.OPTIONS if o.name == "torch")
    assert "4.8e-7" in help_text and "4.8e-7" in (d2l.__doc__ or "")
