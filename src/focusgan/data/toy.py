"""A seeded toy dataset of coloured shapes over smooth backgrounds, with exact masks.

For tests and quick checks that need a 4-channel dataset file without any download: each sample
is one disc, square or triangle over a two-colour gradient, its mask 255 inside the shape.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from focusgan.data.dataset import DatasetWriter


def toy_images(n: int, resolution: int = 32, seed: int = 0) -> np.ndarray:
    """`n` uint8 samples (n, R, R, 4): RGB + binary mask."""
    rng = np.random.default_rng(seed)
    r = resolution
    ramp = np.linspace(0.0, 1.0, r, dtype=np.float32)
    out = np.zeros((n, r, r, 4), np.uint8)
    for i in range(n):
        c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        t = ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None]
        image = (c0 * (1 - t) + c1 * t) * np.ones((r, r, 1), np.float32)
        mask = np.zeros((r, r), np.uint8)
        cx, cy = rng.uniform(0.3, 0.7, 2) * r
        size = rng.uniform(0.15, 0.3) * r
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(mask, (int(cx), int(cy)), int(size), 255, -1)
        elif kind == 1:
            cv2.rectangle(
                mask, (int(cx - size), int(cy - size)), (int(cx + size), int(cy + size)), 255, -1
            )
        else:
            pts = np.array([[cx, cy - size], [cx - size, cy + size], [cx + size, cy + size]])
            cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        image[mask > 0] = colour
        out[i, ..., :3] = image.round().clip(0, 255).astype(np.uint8)
        out[i, ..., 3] = mask
    return out


def make_toy_dataset(
    path: str | os.PathLike, n: int = 256, resolution: int = 32, seed: int = 0
) -> Path:
    """Write a toy dataset file (4 channels, binary masks)."""
    images = toy_images(n, resolution, seed)
    with DatasetWriter(
        path,
        resolution=resolution,
        channels=4,
        mask_semantics="binary",
        command=f"focusgan.data.toy.make_toy_dataset(n={n}, seed={seed})",
    ) as w:
        w.summary.keep(n)
        w.append(images, source="toy")
    return Path(path)
