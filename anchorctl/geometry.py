"""Ground-truth boxes mapped to the network input, the way training resizes the images.

Boxes come in each image's pixels (``xmin, ymin, xmax, ymax``, 0-based, continuous; see
:class:`~anchorctl.annotations.Annotations`) and leave in network-input pixels, with the input
size each box's image gets. Three resize modes, for an image of ``w x h`` pixels:

* ``stretch`` to ``W x H`` (SSD, most fixed-size models): x times ``W / w``, y times ``H / h``;
  the aspect ratio of boxes changes with the image's.
* ``letterbox`` to ``W x H`` (YOLO): both axes times ``s = min(W / w, H / h)``, then the image
  is centred: x plus ``(W - w * s) / 2``, y plus ``(H - h * s) / 2``. The offsets are the
  continuous ones; ultralytics rounds the resized image to whole pixels first
  (``round(w * s)``) and pads by ``(W - round(w * s)) / 2``, which moves boxes by at most a
  quarter of a pixel.
* ``shorter-side`` with ``(min, max)`` (torchvision ``GeneralizedRCNNTransform``, Detectron2
  ``ResizeShortestEdge``): ``s = min(min / min(w, h), max / max(w, h))``, so the shorter side
  becomes ``min`` unless the longer would pass ``max``; each image gets its own input of
  ``round(w * s) x round(h * s)`` pixels, where ``round`` is half up (``floor(x + 0.5)``, as
  Detectron2's ``int(x + 0.5)``; ``size_rounding="floor"`` gives torchvision's
  ``interpolate(scale_factor=s, recompute_scale_factor=True)`` size). Boxes are then scaled
  per axis by ``new / old`` (``round(w * s) / w`` for x), as both frameworks' box resizing
  does. The batch padding both add afterwards (right and bottom) moves no box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anchorctl.errors import AnchorError

if TYPE_CHECKING:
    import numpy.typing as npt

    from anchorctl.annotations import Annotations

RESIZE_MODES = ("stretch", "letterbox", "shorter-side")
SIZE_ROUNDINGS = ("round", "floor")


def to_input(
    ann: Annotations,
    mode: str,
    input_size: tuple[int, int] | None = None,
    shorter_side: tuple[int, int] | None = None,
    *,
    size_rounding: str = "round",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``ann``'s boxes in network-input pixels, and each box's input size.

    Args:
        ann: the annotations; only ``boxes``, ``image_index`` and the images' sizes are read.
        mode: one of :data:`RESIZE_MODES` (see the module docstring).
        input_size: ``(W, H)`` in pixels, for ``stretch`` and ``letterbox``.
        shorter_side: ``(min, max)`` in pixels, for ``shorter-side``.
        size_rounding: ``shorter-side`` only: ``"round"`` (half up, Detectron2) or
            ``"floor"`` (torchvision).

    Returns:
        ``boxes`` ``(N, 4)`` float64 ``xmin, ymin, xmax, ymax`` in input pixels, and
        ``input_sizes`` ``(N, 2)`` int64 ``[W, H]`` of the input of each box's image.
    """
    which = np.asarray(ann.image_index, dtype=np.int64).reshape(-1)
    sizes = np.array([[im.width, im.height] for im in ann.images], dtype=np.float64)
    return boxes_to_input(
        ann.boxes,
        sizes.reshape(-1, 2)[which],  # (N, 2) each box's image w, h
        mode,
        input_size,
        shorter_side,
        size_rounding=size_rounding,
    )


def boxes_to_input(
    boxes: npt.ArrayLike,
    image_sizes: npt.ArrayLike,
    mode: str,
    input_size: tuple[int, int] | None = None,
    shorter_side: tuple[int, int] | None = None,
    *,
    size_rounding: str = "round",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """:func:`to_input` on arrays: ``boxes`` ``(N, 4)`` in their images' pixels and
    ``image_sizes`` ``(N, 2)`` the ``[w, h]`` of each box's image (a chunk of an
    :class:`~anchorctl.annotations.AnnotationStream` has both)."""
    if mode not in RESIZE_MODES:
        raise AnchorError(f"--resize {mode!r}: choose one of {', '.join(RESIZE_MODES)}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    w, h = sizes[:, 0], sizes[:, 1]
    n = len(boxes)
    if mode in ("stretch", "letterbox"):
        width, height = _pair(input_size, "--input-size", "WxH, e.g. 300x300", mode)
        if mode == "stretch":
            sx, sy = width / w, height / h
            dx = dy = np.zeros(n)
        else:
            sx = sy = np.minimum(width / w, height / h)
            dx, dy = (width - w * sx) / 2, (height - h * sy) / 2
        out_sizes = np.tile(np.array([width, height], dtype=np.int64), (n, 1))
    else:
        if size_rounding not in SIZE_ROUNDINGS:
            raise AnchorError(
                f"size rounding {size_rounding!r}: choose one of {', '.join(SIZE_ROUNDINGS)}"
            )
        low, high = _pair(shorter_side, "--shorter-side", "MIN/MAX, e.g. 800/1333", mode)
        if low > high:
            raise AnchorError(f"--shorter-side {low}/{high}: expected MIN <= MAX")
        s = np.minimum(low / np.minimum(w, h), high / np.maximum(w, h))
        new = np.floor(sizes * s[:, None] + (0.5 if size_rounding == "round" else 0.0))
        new = np.maximum(new, 1)  # a sliver image still gets a pixel
        sx, sy = new[:, 0] / w, new[:, 1] / h
        dx = dy = np.zeros(n)
        out_sizes = new.astype(np.int64)
    out = np.empty_like(boxes)
    out[:, 0] = boxes[:, 0] * sx + dx
    out[:, 1] = boxes[:, 1] * sy + dy
    out[:, 2] = boxes[:, 2] * sx + dx
    out[:, 3] = boxes[:, 3] * sy + dy
    return out, out_sizes


def _pair(value: tuple[int, int] | None, option: str, form: str, mode: str) -> tuple[int, int]:
    if value is None:
        raise AnchorError(f"--resize {mode} needs {option} ({form})")
    try:
        first, second = value
    except (TypeError, ValueError):
        raise AnchorError(f"{option} {value!r}: expected {form}") from None
    for v in (first, second):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise AnchorError(f"{option} {value!r}: expected {form}, whole pixels > 0")
    return int(first), int(second)
