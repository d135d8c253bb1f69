"""Synthetic box sets for the suggest benchmark, with the shape statistics of real data sets.

``voc_like``: Pascal VOC-style photos: image sizes drawn from the common VOC sizes (500x375
landscape most often, then 375x500 portrait, 500x333, 333x500 and 500x500), one to six objects
per image, each of one of the twenty VOC classes in roughly VOC 2007+2012 trainval's class
frequencies (person about a third). Each class has its own typical aspect ratio (people tall,
cars, buses, trains and sofas wide, bottles very tall) and size; per box the aspect ratio
``w/h`` and the size ``sqrt(w*h)`` as a fraction of ``sqrt(W*H)`` are log-normal around the
class's values, and the box is placed uniformly inside the image (sides longer than the image
are cut to it). VOC's boxes are mostly large: a median size near a third of the image.

``coco_like``: COCO-style: 640x480-ish images, up to twenty objects, many of them small (the
size fraction's log-normal is centred near 0.08 with a wide spread), eighty classes' worth of
aspect ratios drawn from one wide log-normal around 1.

Both return ``boxes`` ``(N, 4)`` xyxy in image pixels and ``sizes`` ``(N, 2)`` the ``(W, H)`` of
each box's image, seeded: the same seed gives the same boxes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# class: (frequency, typical w/h, sd of log w/h, typical size fraction, sd of log size)
VOC_CLASSES = {
    "person": (0.31, 0.45, 0.40, 0.30, 0.75),
    "chair": (0.06, 0.75, 0.35, 0.18, 0.60),
    "car": (0.065, 1.45, 0.45, 0.18, 0.95),
    "bottle": (0.04, 0.35, 0.40, 0.10, 0.70),
    "pottedplant": (0.035, 0.80, 0.35, 0.18, 0.70),
    "bird": (0.035, 1.00, 0.45, 0.22, 0.80),
    "dog": (0.037, 1.05, 0.40, 0.45, 0.55),
    "sofa": (0.02, 1.50, 0.35, 0.50, 0.45),
    "bicycle": (0.02, 1.20, 0.40, 0.35, 0.70),
    "horse": (0.02, 1.10, 0.40, 0.45, 0.60),
    "boat": (0.025, 1.30, 0.55, 0.20, 0.90),
    "motorbike": (0.02, 1.15, 0.35, 0.40, 0.65),
    "cat": (0.029, 1.00, 0.35, 0.55, 0.40),
    "tvmonitor": (0.024, 1.20, 0.30, 0.22, 0.65),
    "cow": (0.024, 1.30, 0.40, 0.28, 0.80),
    "sheep": (0.034, 1.20, 0.40, 0.20, 0.85),
    "aeroplane": (0.026, 1.70, 0.45, 0.40, 0.70),
    "train": (0.019, 1.40, 0.45, 0.60, 0.40),
    "diningtable": (0.019, 1.50, 0.40, 0.50, 0.45),
    "bus": (0.016, 1.35, 0.35, 0.45, 0.65),
}
VOC_SIZES = ((500, 375, 0.60), (375, 500, 0.20), (500, 333, 0.10), (333, 500, 0.05),
             (500, 500, 0.05))  # fmt: skip


def _place(rng: np.random.Generator, sizes: F64, aspect: F64, fraction: F64) -> F64:
    """Boxes of the given aspect ratios and size fractions, placed inside their images."""
    side = fraction * np.sqrt(sizes[:, 0] * sizes[:, 1])
    w = np.minimum(side * np.sqrt(aspect), sizes[:, 0])
    h = np.minimum(side / np.sqrt(aspect), sizes[:, 1])
    w, h = np.maximum(w, 2.0), np.maximum(h, 2.0)
    x0 = rng.random(len(w)) * (sizes[:, 0] - w)
    y0 = rng.random(len(h)) * (sizes[:, 1] - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def voc_like(images: int, seed: int = 0) -> tuple[F64, F64]:
    """``(boxes, sizes)`` for ``images`` VOC-like images (see the module notes)."""
    rng = np.random.default_rng(seed)
    table = np.array([s[2] for s in VOC_SIZES])
    image = rng.choice(len(VOC_SIZES), images, p=table / table.sum())
    per_image = rng.integers(1, 7, images)
    owner = np.repeat(np.arange(images), per_image)
    dims = np.array([(w, h) for w, h, _ in VOC_SIZES], dtype=np.float64)[image[owner]]
    stats = np.array(list(VOC_CLASSES.values()))
    cls = rng.choice(len(stats), len(owner), p=stats[:, 0] / stats[:, 0].sum())
    aspect = stats[cls, 1] * np.exp(rng.standard_normal(len(cls)) * stats[cls, 2])
    fraction = np.minimum(
        stats[cls, 3] * np.exp(rng.standard_normal(len(cls)) * stats[cls, 4]), 1.0
    )
    return _place(rng, dims, aspect, fraction), dims


def coco_like(images: int, seed: int = 0) -> tuple[F64, F64]:
    """``(boxes, sizes)`` for ``images`` COCO-like images (see the module notes)."""
    rng = np.random.default_rng(seed)
    per_image = rng.integers(1, 21, images)
    owner = np.repeat(np.arange(images), per_image)
    landscape = rng.random(images) < 0.7
    w = np.where(landscape, 640, 480).astype(np.float64)
    h = np.where(landscape, rng.choice([480, 427, 425], images), 640).astype(np.float64)
    dims = np.stack([w, h], axis=1)[owner]
    aspect = np.exp(rng.standard_normal(len(owner)) * 0.6)
    fraction = np.minimum(0.08 * np.exp(rng.standard_normal(len(owner)) * 1.0), 1.0)
    return _place(rng, dims, aspect, fraction), dims


def letterbox(boxes: F64, sizes: F64, side: int) -> F64:
    """``boxes`` scaled as a letterbox to a ``side x side`` input (long side to ``side``)."""
    scale = side / sizes.max(axis=1)
    pad_x = (side - sizes[:, 0] * scale) / 2
    pad_y = (side - sizes[:, 1] * scale) / 2
    out = boxes * scale[:, None]
    out[:, 0::2] += pad_x[:, None]
    out[:, 1::2] += pad_y[:, None]
    return out
