"""MultiBoxPrior semantics, pinned by vectors recorded from MXNet 1.9.1 and d2l, and by
properties that hold for any parameters."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anchorctl
from anchorctl.conventions.mxnet import MultiBoxPriorSpec, anchors_at, iter_anchor_blocks

from support import VECTORS, load_vector

MXNET = sorted(
    p.relative_to(VECTORS).as_posix()
    for p in (VECTORS / "mxnet_multibox_prior").glob("*.json")
    if p.name != "errors_and_degenerate.json"
)
D2L = sorted(
    p.relative_to(VECTORS).as_posix()
    for folder in ("d2l_mxnet_multibox_prior", "d2l_torch_multibox_prior")
    for p in (VECTORS / folder).glob("*.json")
)


def spec_from(vector: dict) -> MultiBoxPriorSpec:
    params = vector["params"]
    steps = params.get("steps", [-1, -1])
    return MultiBoxPriorSpec(
        sizes=tuple(params["sizes"]),
        ratios=tuple(params["ratios"]),
        feature_map=tuple(vector["feature_shape"]),
        steps=None if steps[0] < 0 else (steps[0], steps[1]),
        offsets=tuple(params.get("offsets", [0.5, 0.5])),
        clip=params.get("clip", False),
    )


def check_against(vector: dict, got: np.ndarray, atol: float) -> None:
    assert got.shape == (vector["num_anchors"], 4)
    assert got.dtype == np.float32
    if "anchors" in vector:
        np.testing.assert_allclose(got, np.array(vector["anchors"]), rtol=0, atol=atol)
    if "anchors_head" in vector:
        head = np.array(vector["anchors_head"])
        np.testing.assert_allclose(got[: len(head)], head, rtol=0, atol=atol)
        start = vector["anchors_tail_start_index"]
        np.testing.assert_allclose(got[start:], np.array(vector["anchors_tail"]), atol=atol)
    for spot in vector.get("spot", []):
        np.testing.assert_allclose(got[spot["index"]], spot["anchor"], rtol=0, atol=atol)
    checksum = vector["checksum"]
    assert checksum["count"] == len(got)
    assert math.isclose(float(got.astype(np.float64).sum()), checksum["sum"], abs_tol=1e-3)
    assert math.isclose(float(got.min()), checksum["min"], abs_tol=atol)
    assert math.isclose(float(got.max()), checksum["max"], abs_tol=atol)


@pytest.mark.parametrize("name", MXNET)
def test_matches_mxnet_bit_for_bit(name: str) -> None:
    vector = load_vector(name)
    got = anchorctl.anchors(spec_from(vector))
    check_against(vector, got, atol=0.0)
    digest = hashlib.sha256(got.astype("<f4").tobytes()).hexdigest()
    assert digest == vector["checksum"]["sha256_f32le"]


@pytest.mark.parametrize("name", D2L)
def test_matches_d2l_within_1e6(name: str) -> None:
    vector = load_vector(name)
    check_against(vector, anchorctl.anchors(spec_from(vector)), atol=1e-6)


def test_vectors_are_all_used() -> None:
    assert len(MXNET) == 14 and len(D2L) == 18


def test_seed_example_shapes() -> None:
    spec = MultiBoxPriorSpec(sizes=(0.2, 0.5), ratios=(1, 4, 0.25))
    got = [(s.size, s.ratio, np.float32(s.width), np.float32(s.height)) for s in spec.shapes()]
    f = np.float32
    assert got == [
        (0.2, 1.0, f(0.2), f(0.2)),
        (0.5, 1.0, f(0.5), f(0.5)),
        (0.2, 4.0, f(0.4), f(0.1)),
        (0.2, 0.25, f(0.1), f(0.4)),
    ]


# What MXNet silently accepts and anchorctl refuses, from errors_and_degenerate.json.
DEGENERATE = {
    p["what"]: p for p in load_vector("mxnet_multibox_prior/errors_and_degenerate.json")["probes"]
}


@pytest.mark.parametrize(
    ("what", "kwargs", "message"),
    [
        ("empty sizes", {"sizes": (), "ratios": (1,)}, "sizes: give at least one"),
        ("empty ratios", {"sizes": (0.2,), "ratios": ()}, "ratios: give at least one"),
        ("ratio 0 (not rejected)", {"sizes": (0.2,), "ratios": (0,)}, "ratios: 0 is not"),
        ("negative ratio (not rejected)", {"sizes": (0.2,), "ratios": (-1,)}, "ratios: -1"),
        ("offset > 1", {"sizes": (0.2,), "ratios": (1,), "offsets": (1.5, 0.5)}, "offset_y"),
        ("offset < 0", {"sizes": (0.2,), "ratios": (1,), "offsets": (-0.1, 0.5)}, "offset_y"),
        (
            "steps sign mismatch (-1, 0.2)",
            {"sizes": (0.2,), "ratios": (1,), "steps": (-1, 0.2)},
            "steps",
        ),
        (
            "steps sign mismatch (0.1, -1)",
            {"sizes": (0.2,), "ratios": (1,), "steps": (0.1, -1)},
            "steps",
        ),
    ],
)
def test_refuses_what_mxnet_rejects_or_turns_into_nan(
    what: str, kwargs: dict, message: str
) -> None:
    probe = DEGENERATE[what]
    if probe["ok"]:  # MXNet produced garbage: say so in the test, not only in the refusal
        assert any(isinstance(v, str) for row in probe["anchors"] for v in row)
    with pytest.raises(anchorctl.AnchorError, match=message):
        MultiBoxPriorSpec(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sizes": (0.0,), "ratios": (1,)},
        {"sizes": (-0.2,), "ratios": (1,)},
        {"sizes": (math.inf,), "ratios": (1,)},
        {"sizes": (math.nan,), "ratios": (1,)},
        {"sizes": (0.2,), "ratios": (math.inf,)},
        {"sizes": (0.2,), "ratios": (1,), "steps": (0, 0.2)},
        {"sizes": (0.2,), "ratios": (1,), "steps": (math.nan, 0.2)},
        {"sizes": (0.2,), "ratios": (1,), "offsets": (0.5, math.nan)},
        {"sizes": (0.2,), "ratios": (1,), "feature_map": (0, 3)},
        {"sizes": (0.2,), "ratios": (1,), "feature_map": (2.5, 3)},
    ],
)
def test_refuses_nonsense_with_a_reason(kwargs: dict) -> None:
    with pytest.raises(anchorctl.AnchorError) as info:
        MultiBoxPriorSpec(**kwargs)
    assert "\n" not in str(info.value) and len(str(info.value)) > 20


def test_accepts_size_above_one_like_mxnet() -> None:
    probe = DEGENERATE["size > 1 (not rejected)"]
    got = anchorctl.anchors(MultiBoxPriorSpec(sizes=(1.5,), ratios=(1,)))
    np.testing.assert_array_equal(got, np.array(probe["anchors"], dtype=np.float32))


def test_batch_of_two_gives_the_same_anchors_as_mxnet() -> None:
    probe = DEGENERATE["batch 2 input (batch ignored, output batch 1)"]
    got = anchorctl.anchors(MultiBoxPriorSpec(sizes=(0.2,), ratios=(1,), feature_map=(2, 3)))
    np.testing.assert_array_equal(got, np.array(probe["anchors"], dtype=np.float32))


# Properties ---------------------------------------------------------------------------------

positive = st.floats(0.01, 2.0, allow_nan=False, allow_infinity=False)
specs = st.builds(
    MultiBoxPriorSpec,
    sizes=st.lists(positive, min_size=1, max_size=4).map(tuple),
    ratios=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=5).map(tuple),
    feature_map=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    steps=st.one_of(st.none(), st.tuples(st.floats(0.01, 0.5), st.floats(0.01, 0.5))),
    offsets=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    clip=st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(specs)
def test_count_and_order(spec: MultiBoxPriorSpec) -> None:
    rows, cols = spec.feature_map
    k = len(spec.sizes) + len(spec.ratios) - 1
    got = anchorctl.anchors(spec)
    assert got.shape == (rows * cols * k, 4) and got.dtype == np.float32
    if spec.clip:
        return
    centres = ((got[:, :2] + got[:, 2:]) / 2).reshape(rows, cols, k, 2)
    cy, cx = spec.centers()
    # Index (row * cols + col) * k + slot: x follows the column, y the row.
    np.testing.assert_allclose(
        centres[..., 0], np.broadcast_to(cx[None, :, None], (rows, cols, k)), atol=1e-6
    )
    np.testing.assert_allclose(
        centres[..., 1], np.broadcast_to(cy[:, None, None], (rows, cols, k)), atol=1e-6
    )


@settings(max_examples=80, deadline=None)
@given(specs)
def test_ratio_area_and_slot_order(spec: MultiBoxPriorSpec) -> None:
    if spec.clip:
        spec = MultiBoxPriorSpec(
            spec.sizes, spec.ratios, spec.feature_map, spec.steps, spec.offsets
        )
    rows, cols = spec.feature_map
    cell = anchorctl.cell_anchors(spec, 0, 0).astype(np.float64)
    w, h = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    expected = [(s, spec.ratios[0]) for s in spec.sizes] + [
        (spec.sizes[0], r) for r in spec.ratios[1:]
    ]
    for slot, (s, r) in enumerate(expected):
        # The extents, to the float32 precision of the coordinates (a few ulp of the largest).
        eps = 4 * float(np.spacing(np.float32(np.abs(cell[slot]).max() + 1)))
        assert w[slot] == pytest.approx(s * rows / cols * math.sqrt(r), abs=eps)
        assert h[slot] == pytest.approx(s / math.sqrt(r), abs=eps)
        # Hence in pixels of an image shaped like the map (W_img/H_img = cols/rows) the box
        # has width/height = r, and its area s^2 * rows/cols does not depend on r.
        tol = eps / min(w[slot], h[slot]) + 1e-6
        assert w[slot] * cols / (h[slot] * rows) == pytest.approx(r, rel=tol)
        assert w[slot] * h[slot] == pytest.approx(s * s * rows / cols, rel=tol)


@settings(max_examples=60, deadline=None)
@given(specs)
def test_symmetric_about_centre_and_clip_bounds(spec: MultiBoxPriorSpec) -> None:
    got = anchorctl.anchors(spec).astype(np.float64)
    if spec.clip:
        assert got.min() >= 0.0 and got.max() <= 1.0
        unclipped = anchorctl.anchors(
            MultiBoxPriorSpec(spec.sizes, spec.ratios, spec.feature_map, spec.steps, spec.offsets)
        )
        np.testing.assert_array_equal(got, np.clip(unclipped, 0, 1))
        return
    k = spec.per_cell
    cy, cx = spec.centers()
    rows, cols = spec.feature_map
    centre = np.stack(np.meshgrid(cx, cy), axis=-1).reshape(-1, 1, 2).repeat(k, 1).reshape(-1, 2)
    np.testing.assert_allclose(centre - got[:, :2], got[:, 2:] - centre, atol=1e-6)
    del rows, cols


@settings(max_examples=40, deadline=None)
@given(specs, st.integers(16, 4096))
def test_blocks_and_cells_equal_the_whole(spec: MultiBoxPriorSpec, block_bytes: int) -> None:
    whole = anchorctl.anchors(spec)
    blocks = np.concatenate(list(iter_anchor_blocks(spec, block_bytes=block_bytes)))
    assert blocks.tobytes() == whole.tobytes()
    rows, cols = spec.feature_map
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    assert anchors_at(spec, cells).tobytes() == whole.tobytes()


def test_cell_outside_the_map_is_refused() -> None:
    spec = MultiBoxPriorSpec(sizes=(0.2,), ratios=(1,), feature_map=(4, 4))
    with pytest.raises(anchorctl.AnchorError, match=r"cell \(4,0\) is outside the 4x4"):
        anchorctl.cell_anchors(spec, 4, 0)


def test_too_big_for_memory_is_refused_before_allocating() -> None:
    spec = MultiBoxPriorSpec(sizes=(0.2,), ratios=(1, 2), feature_map=(200_000, 200_000))
    with pytest.raises(anchorctl.AnchorError, match=r"80,000,000,000 anchors .* 1\.2 TiB"):
        anchorctl.anchors(spec)


def test_memory_limit_can_be_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHORCTL_MAX_BYTES", "1000")
    spec = MultiBoxPriorSpec(sizes=(0.2,), ratios=(1,), feature_map=(10, 10))
    with pytest.raises(anchorctl.AnchorError, match=r"1\.6 KiB of memory but only 1000 B"):
        anchorctl.anchors(spec)


def test_module_docstring_states_the_rules() -> None:
    text = Path(anchorctl.conventions.mxnet.__file__).read_text()
    for rule in ("width / height", "(row * W + col) * k + slot", "s * (H/W) * sqrt(r)", "[0, 1]"):
        assert rule in text
