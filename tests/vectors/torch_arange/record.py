"""Record the reference vectors of this folder (run by hand with torch installed; not a test).

    python tests/vectors/torch_arange/record.py > tests/vectors/torch_arange/detectron2_centres.json

It calls torch itself: ``torch.arange(offset * stride, n * stride, step=stride,
dtype=torch.float32)`` exactly as Detectron2's ``_create_grid_offsets`` does
(facebookresearch/detectron2: detectron2/modeling/anchor_generator.py), and builds whole
DefaultAnchorGenerator levels the way that file does: cell anchors from Python floats
(``generate_cell_anchors``: area = size ** 2.0, w = sqrt(area / a), h = a * w) made a float32
tensor, shifts ``stack((x, y, x, y))`` from an ij meshgrid, ``shifts.view(-1, 1, 4) +
base.view(1, -1, 4)`` in float32.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import sys

import numpy as np
import torch

CENTRES = [  # (n, stride, offset): offsets other than 0, 0.25 and 0.5 can move centres
    (124, 8, 0.714),
    (168, 64, 0.628),
    (85, 128, 0.097),
    (256, 4, 0.909),
    (294, 3, 0.798),
    (396, 24, 0.807),
    (192, 6, 0.432),
    (300, 8, 0.3),
    (333, 8, 0.5),
    (333, 8, 0.25),
    (333, 8, 0.0),
    (15, 8, 0.714),
]
LEVELS = [  # (rows, cols, stride, offset, sizes, ratios)
    (29, 124, 8, 0.714, [32.0, 40.3], [0.5, 1.0, 2.0]),
    (86, 85, 128, 0.36, [512.0], [0.5, 1.0, 2.0]),
    (30, 192, 6, 0.432, [32.0], [0.5, 1.0, 2.0]),
    (25, 38, 8, 0.3, [32.0], [1.0]),
]


def arange(n: int, stride: int, offset: float) -> torch.Tensor:
    return torch.arange(offset * stride, n * stride, step=stride, dtype=torch.float32)


def level(rows: int, cols: int, stride: int, offset: float, sizes, ratios) -> np.ndarray:
    cells = []
    for size in sizes:
        area = size**2.0
        for a in ratios:
            w = math.sqrt(area / a)
            h = a * w
            cells.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    base = torch.tensor(cells)
    shift_y, shift_x = torch.meshgrid(
        arange(rows, stride, offset), arange(cols, stride, offset), indexing="ij"
    )
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
    return (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4).numpy()


def main() -> None:
    out = {
        "source": (
            "Recorded by record.py in this folder with torch "
            f"{torch.__version__} on {platform.machine()}, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, one thread: torch.arange(offset * "
            "stride, n * stride, step=stride, dtype=torch.float32) as Detectron2's "
            "_create_grid_offsets calls it (facebookresearch/detectron2: "
            "detectron2/modeling/anchor_generator.py), and DefaultAnchorGenerator levels built "
            "as that file builds them."
        ),
        "centres": [],
        "levels": [],
    }
    torch.set_num_threads(1)
    for n, stride, offset in CENTRES:
        values = arange(n, stride, offset).numpy()
        naive = (offset * stride + np.arange(n, dtype=np.float64) * stride).astype(np.float32)
        out["centres"].append(
            {
                "n": n,
                "stride": stride,
                "offset": offset,
                "values": [float(v) for v in values],
                "differs_from_one_rounding": int((values != naive).sum()),
            }
        )
    for rows, cols, stride, offset, sizes, ratios in LEVELS:
        anchors = np.ascontiguousarray(level(rows, cols, stride, offset, sizes, ratios))
        out["levels"].append(
            {
                "params": {
                    "feature_maps": [[rows, cols]],
                    "strides": [[stride, stride]],
                    "offset": offset,
                    "sizes": [sizes],
                    "ratios": [ratios],
                },
                "count": len(anchors),
                "sha256_f32le": hashlib.sha256(anchors.astype("<f4").tobytes()).hexdigest(),
                "head": anchors[:6].tolist(),
                "tail": anchors[-6:].tolist(),
            }
        )
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
