"""GluonCV ``SSDAnchorGenerator`` and ``LiteAnchorGenerator``: SSD anchors in input pixels.

The rules, as the generators apply them (dmlc/gluon-cv ``gluoncv/model_zoo/ssd/anchor.py``,
built by ``gluoncv/model_zoo/ssd/ssd.py`` from the presets in
``gluoncv/model_zoo/ssd/presets.py``; GluonCV 0.10.5):

* **Units**: pixels of the network input. Sizes and steps are pixels; the image is only read
  for the optional clip (``im_size``).
* **Sizes** come per layer as the pair ``(s_k, s_{k+1})``. ``SSD`` makes the pairs by zipping
  its list of ``num_layers + 1`` sizes (SSD300 VOC: 30, 60, 111, 162, 213, 264, 315), and this
  module accepts that list too. Inside, the pair becomes ``(s_k, sqrt(s_k * s_{k+1}))``.
* **Ratio** ``r`` means width / height: ``w = s_k * sqrt(r)``, ``h = s_k / sqrt(r)``.
  ``ratios[0]`` is **never read**: the generator assumes it is 1. ``ratios = (2, 1, 0.5)``
  therefore gives the ``s_k`` square twice and no 2:1 box.
* **Per cell**, ``len(ratios) + 1`` shapes: the ``s_k`` square, the ``sqrt(s_k * s_{k+1})``
  square, then ``s_k`` with each of ``ratios[1:]``.
* **Lite** (``LiteAnchorGenerator``, modelled on TF ``ssd_mobilenet_v1_coco``): the first
  square is ``s_k / 2`` on *every* layer, then ``s_k`` with ``ratios[1:]``; layer 0 (the first
  feature map) stops there (``len(ratios)`` shapes), every later layer appends the
  ``sqrt(s_k * s_{k+1})`` square **last** (``len(ratios) + 1`` shapes). The class docstring
  speaks of halving "the first anchor in the first branch"; the code (GluonCV 0.10.5, which
  this module follows) halves it on every layer.
* **Centres**: cell (row, col) sits at ``cx = (col + offset_x) * step``,
  ``cy = (row + offset_y) * step``; offsets default to ``(0.5, 0.5)``, one step for x and y.
* **Order**: index ``(row * cols + col) * k + slot``; rows outer, columns next, shapes innermost.
  GluonCV fills an ``alloc_size`` grid (128 x 128 for the first layer, halved per layer down to
  16 x 16) and crops its top-left ``rows x cols``; the crop holds exactly the anchors computed
  here, so anchorctl computes the map directly (GluonCV itself only covers maps up to that
  grid).
* **Native output** is **centre form** ``(cx, cy, w, h)``, not corners: GluonCV computes every
  value in float64 (Python floats and NumPy) and stores the table as float32, so each value is
  the float64 result rounded once to float32. :func:`native` returns exactly that (it matches
  the recorded GluonCV arrays bit for bit). :func:`generate` returns corners made from those
  float32 values the way GluonCV's own ``BBoxCenterToCorner`` (``gluoncv/nn/bbox.py``) makes
  them: ``x - w * 0.5``, ``x + w * 0.5`` in float32. Turning the corners back into centre form
  in float32 is within one float32 rounding of the native values, not always bit-equal; use
  :func:`native` for the exact centre form.
* **Clip** (off by default; ``SSD`` never turns it on) is **not geometric**: in centre form,
  ``cx`` and ``w`` are clamped to ``[0, W]`` and ``cy`` and ``h`` to ``[0, H]`` of the network
  input, each on its own. A box is not cut to the image: a width is capped at ``W`` wherever
  the box sits, and a centre inside the image stays put, so a border box keeps its centre and
  its corners can still lie outside the image.
* **Rounding**: none (float64, stored as float32).

Where GluonCV accepts nonsense silently (a size, ratio or step that is zero, negative or not
finite; a layer whose sizes are not a pair), this module refuses with a message naming the
option. Where GluonCV's behaviour surprises but is well defined (``ratios[0]`` ignored, the
centre-form clip, Lite's half-size first square) this module reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anchorctl.conventions import checks
from anchorctl.conventions.base import (
    CellShape,
    Grid,
    Level,
    Option,
    Params,
    Rules,
    grid_level,
    per_level,
)
from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

NAME = "gluoncv-ssd"
TITLE = "GluonCV SSDAnchorGenerator"

RULES = Rules(
    name=NAME,
    title=TITLE,
    units="pixels of the network input",
    size_meaning=(
        "per layer the pair (s_k, s_k+1) in pixels: squares of side s_k and sqrt(s_k * s_k+1); "
        "ratio boxes use s_k (Lite: first square s_k / 2)"
    ),
    ratio_meaning="width / height (ratios[0] ignored, taken as 1)",
    order=(
        "s_k square, sqrt(s_k s_k+1) square, then s_k with each of ratios[1:]; Lite: s_k/2 "
        "square, ratios[1:], then (not on layer 0) the sqrt(s_k s_k+1) square last"
    ),
    centre="((col + offset_x) * step, (row + offset_y) * step), offsets 0.5",
    rounding="none (float64 values stored as float32)",
    clip=(
        "optional, off by default: in centre form cx, w clamped to [0, W] and cy, h to [0, H] "
        "(not a geometric clip)"
    ),
    native_format="cxcywh",
    sources=(
        "dmlc/gluon-cv: gluoncv/model_zoo/ssd/anchor.py (SSDAnchorGenerator, "
        "LiteAnchorGenerator), ssd.py, presets.py (GluonCV 0.10.5)",
        "dmlc/gluon-cv: gluoncv/nn/bbox.py (BBoxCenterToCorner, the float32 corner form)",
    ),
)

OPTIONS = (
    Option(
        "sizes",
        "floats",
        "S_K,S_NEXT per layer: the pair (s_k, s_k+1) in input pixels; or, once, SSD's list of "
        "layers + 1 sizes (e.g. 30,60,111,162,213,264,315) [required: GluonCV has no default]",
        per_level=True,
    ),
    Option(
        "ratios",
        "floats",
        "width / height per layer; ratios[0] is ignored (taken as 1), so start with 1, e.g. "
        "1,2,0.5 [required: GluonCV has no default]",
        per_level=True,
    ),
    Option(
        "steps",
        "float",
        "distance between cell centres in input pixels, one per layer (GluonCV `step`, same for "
        "x and y; SSD300: 8,16,32,64,100,300) [required]",
        per_level=True,
    ),
    Option(
        "offsets",
        "yx",
        "centre offset OFFSET_Y,OFFSET_X within a step, each in [0, 1] [default: 0.5,0.5]",
        default=(0.5, 0.5),
    ),
    Option(
        "clip",
        "flag",
        "clamp cx, w to [0, W] and cy, h to [0, H] in centre form (needs the image size) "
        "[default: off]",
        default=False,
    ),
    Option(
        "lite",
        "flag",
        "use LiteAnchorGenerator: first square s_k/2; the first feature map (layer 0) has no "
        "sqrt(s_k s_k+1) square, later layers put it last [default: off]",
        default=False,
    ),
)

_F32 = np.float32
_BYTES_PER_ANCHOR = 32  # float32 centre form plus float32 corners


@dataclass(frozen=True)
class LayerSpec:
    """One validated generator call: layer ``index`` on a ``rows x cols`` map.

    ``sizes`` is the ``(s_k, s_k+1)`` pair and ``step`` the centre spacing, in input pixels;
    ``offsets`` is ``(offset_y, offset_x)``; ``image`` is ``(width, height)`` or ``None``.
    """

    index: int
    feature_map: tuple[int, int]
    sizes: tuple[float, float]
    ratios: tuple[float, ...]
    step: float
    offsets: tuple[float, float]
    clip: bool
    lite: bool
    image: tuple[int, int] | None

    def slots(self) -> list[tuple[float, float, float, float]]:
        """``(size, ratio, width, height)`` of each slot, in float64 as GluonCV computes them."""
        s_k, s_next = self.sizes
        geo = float(np.sqrt(s_k * s_next))
        ratio_boxes = []
        for r in self.ratios[1:]:
            root = float(np.sqrt(r))
            ratio_boxes.append((s_k, r, s_k * root, s_k / root))
        if self.lite:
            half = s_k / 2
            out = [(half, 1.0, half, half), *ratio_boxes]
            if self.index > 0:
                out.append((geo, 1.0, geo, geo))
            return out
        return [(s_k, 1.0, s_k, s_k), (geo, 1.0, geo, geo), *ratio_boxes]

    @property
    def per_cell(self) -> int:
        return len(self.slots())

    def centres(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """``cx`` of shape ``(cols,)`` and ``cy`` of shape ``(rows,)``, float32 pixels."""
        rows, cols = self.feature_map
        return self.centre(np.arange(cols), 1), self.centre(np.arange(rows), 0)

    def centre(self, index: npt.NDArray[np.int64], axis: int) -> npt.NDArray[np.float32]:
        """``(i + offset) * step`` in float64, stored as float32; ``axis`` 0 is y, 1 is x."""
        with np.errstate(all="ignore"):
            out: npt.NDArray[np.float32] = (
                (index.astype(np.float64) + self.offsets[axis]) * self.step
            ).astype(_F32)
        return out

    def native_grid(self, clip: bool | None = None) -> Grid:
        """The anchors in GluonCV's own centre form on demand: ``(cx, cy, w, h)`` float32, the
        clamps of ``clip`` applied in that form (cx, w to [0, W]; cy, h to [0, H])."""
        width, height = self.extents()
        clipped = self.clip if clip is None else clip
        bounds: tuple[np.float32 | None, np.float32 | None] = (None, None)
        if clipped:
            assert self.image is not None  # layer_specs demands it with clip
            bounds = (_F32(self.image[1]), _F32(self.image[0]))

        def part(index: npt.NDArray[np.int64], axis: int) -> npt.NDArray[np.float32]:
            extent = height if axis == 0 else width
            out = np.empty((len(index), len(extent), 2), dtype=_F32)
            out[..., 0] = self.centre(index, axis)[:, None]
            out[..., 1] = extent[None, :]
            bound = bounds[axis]
            if bound is not None:
                np.clip(out, _F32(0), bound, out=out)
            return out

        return Grid(self.feature_map, self.per_cell, lambda c: part(c, 1), lambda r: part(r, 0))

    def grid(self, clip: bool | None = None) -> Grid:
        """The anchors as float32 xyxy corners on demand, made from the native centre form as
        GluonCV's ``BBoxCenterToCorner`` makes them: ``x - w * 0.5``, ``x + w * 0.5``."""
        native = self.native_grid(clip)

        def corners(part: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            half = part[..., 1] * _F32(0.5)
            return np.stack([part[..., 0] - half, part[..., 0] + half], axis=-1)

        return Grid(
            self.feature_map,
            self.per_cell,
            lambda c: corners(native.x_part(c)),
            lambda r: corners(native.y_part(r)),
        )

    def extents(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Unclipped widths and heights of the ``k`` slots, float32 pixels."""
        slots = self.slots()
        with np.errstate(all="ignore"):  # an overflow is refused by generate's checks
            width = np.array([w for _, _, w, _ in slots], dtype=np.float64).astype(_F32)
            height = np.array([h for _, _, _, h in slots], dtype=np.float64).astype(_F32)
        return width, height


def native_layer(spec: LayerSpec) -> npt.NDArray[np.float32]:
    """The anchors of one layer as GluonCV outputs them: ``(rows*cols*k, 4)`` float32
    ``(cx, cy, w, h)`` pixels, index ``(row * cols + col) * k + slot``, clipped if asked."""
    out: npt.NDArray[np.float32] = spec.native_grid().array()
    return out


def native(params: Params) -> list[npt.NDArray[np.float32]]:
    """Every layer's anchors in GluonCV's native centre form (see :func:`native_layer`)."""
    return [native_layer(spec) for spec in layer_specs(params)]


def native_levels(params: Params) -> list[Level]:
    """As :func:`native`, as levels whose centre-form anchors come on demand, in blocks."""
    return [
        grid_level(spec.native_grid(), level.stride, level.center0, level.shapes)
        for spec, level in zip(layer_specs(params), generate(params), strict=True)
    ]


def centre_to_corner(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``(N, 4)`` float32 ``(cx, cy, w, h)`` as ``(xmin, ymin, xmax, ymax)``, in float32 as
    GluonCV's ``BBoxCenterToCorner`` computes them: ``x - w * 0.5`` and ``x + w * 0.5``."""
    half_w = boxes[:, 2] * _F32(0.5)
    half_h = boxes[:, 3] * _F32(0.5)
    out = np.empty_like(boxes)
    np.subtract(boxes[:, 0], half_w, out=out[:, 0])
    np.subtract(boxes[:, 1], half_h, out=out[:, 1])
    np.add(boxes[:, 0], half_w, out=out[:, 2])
    np.add(boxes[:, 1], half_h, out=out[:, 3])
    return out


def corners_layer(spec: LayerSpec) -> npt.NDArray[np.float32]:
    """The anchors of one layer as float32 xyxy pixels: :func:`native_layer` through
    :func:`centre_to_corner` (clipped first, in centre form, when ``clip`` is on)."""
    out: npt.NDArray[np.float32] = spec.grid().array()
    return out


def generate(params: Params) -> list[Level]:
    """Every layer's anchors as float32 xyxy pixels, in GluonCV's order (see the module rules).

    The corners come from the native centre form as :func:`centre_to_corner` makes them;
    with ``clip`` the clamping happens first, in centre form, as GluonCV does it. Each level's
    anchors are computed when first read, in blocks.
    """
    out = []
    for spec in layer_specs(params):
        first = np.zeros(1, dtype=np.int64)
        with np.errstate(all="ignore"):
            width, height = spec.extents()
        level_grid = checks.extents(
            spec.grid(),
            width.astype(np.float64),
            height.astype(np.float64),
            RULES,
            centres="--steps/--offsets",
            shapes="--sizes/--ratios",
            values=spec.grid(clip=False),
        )
        shapes = tuple(
            CellShape(slot, {"size": size, "ratio": ratio}, float(width[slot]), float(height[slot]))
            for slot, (size, ratio, _, _) in enumerate(spec.slots())
        )
        out.append(
            grid_level(
                level_grid,
                stride=(float(spec.step), float(spec.step)),
                center0=(float(spec.centre(first, 1)[0]), float(spec.centre(first, 0)[0])),
                shapes=shapes,
            )
        )
    return out


# --- validation ---------------------------------------------------------------------------


def layer_specs(params: Params) -> list[LayerSpec]:
    """One validated :class:`LayerSpec` per feature map in ``params["feature_maps"]``."""
    maps = checks.feature_maps(params)
    levels = len(maps)
    pairs = _size_pairs(params, levels)
    ratios = _ratios(params, levels)
    steps = _steps(params, levels)
    offsets = _offsets(params.get("offsets"))
    clip = checks.flag_value(params, "clip", False)
    lite = checks.flag_value(params, "lite", False)
    if clip and params.get("image_size") is None:
        raise AnchorError(
            "--clip needs --input-size: GluonCV clamps cx, w to [0, W] and cy, h to [0, H] "
            "of the network input"
        )
    image = checks.image_size(params)
    specs = [
        LayerSpec(i, fm, pair, r, st, offsets, clip, lite, image)
        for i, (fm, pair, r, st) in enumerate(zip(maps, pairs, ratios, steps, strict=True))
    ]
    for spec in specs:
        checks.per_cell(len(spec.ratios) + 1, RULES, f"{len(spec.ratios)} ratios")
    return specs


def _size_pairs(params: Params, levels: int) -> list[tuple[float, float]]:
    given = params.get("sizes")
    if given is None:
        raise AnchorError(
            "--sizes is required: give the pair S_K,S_NEXT of each layer in input pixels, or "
            "SSD's list of layers + 1 sizes (SSD300 VOC: 30,60,111,162,213,264,315)"
        )
    why = "pixels; GluonCV would make empty or NaN boxes of anything else"
    entries = [checks.floats(entry, "sizes", why) for entry in given]
    if len(entries) == 1 and levels > 1 and len(entries[0]) == levels + 1:
        flat = entries[0]  # SSD's own form: consecutive sizes zipped into pairs
        entries = [(flat[i], flat[i + 1]) for i in range(levels)]
    pairs = per_level({"sizes": entries}, "sizes", levels)
    out = []
    for index, pair in enumerate(pairs):
        if len(pair) != 2:
            raise AnchorError(
                f"--sizes: layer {index} has {len(pair)} number(s); each layer takes the pair "
                f"S_K,S_NEXT (s_k and s_k+1), or give SSD's list of {levels + 1} sizes once"
            )
        out.append((pair[0], pair[1]))
    return out


def _ratios(params: Params, levels: int) -> list[tuple[float, ...]]:
    if params.get("ratios") is None:
        raise AnchorError(
            "--ratios is required: width / height per layer, the first one ignored (taken as 1),"
            " e.g. 1,2,0.5"
        )
    out = checks.level_floats(
        params, "ratios", levels, checks.meaning(RULES, "ratios"), allow_empty=True
    )
    for index, values in enumerate(out):
        if not values:
            raise AnchorError(
                f"--ratios: layer {index} is empty; give at least the ignored first ratio, e.g. 1"
            )
    return out


def _steps(params: Params, levels: int) -> list[float]:
    if params.get("steps") is None:
        raise AnchorError(
            "--steps is required: the distance between cell centres of each layer in input "
            "pixels (SSD300: 8,16,32,64,100,300)"
        )
    why = "pixels between cell centres"
    return [
        checks.number(v, "steps", why, positive=True) for v in per_level(params, "steps", levels)
    ]


def _offsets(value: Sequence[float] | None) -> tuple[float, float]:
    if value is None:
        return (0.5, 0.5)
    if len(value) != 2:
        raise AnchorError(
            f"--offsets: give two numbers OFFSET_Y,OFFSET_X (GluonCV's (h, w)), not {len(value)}"
        )
    oy = checks.fraction(value[0], "offsets", "offset_y: a fraction of a step")
    ox = checks.fraction(value[1], "offsets", "offset_x: a fraction of a step")
    return (oy, ox)
