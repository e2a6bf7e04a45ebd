"""Foreground-only samples: replace the pixels outside the focus mask (the thesis's future work 3).

`replace_background(images, mode)` takes uint8 4-channel samples (N, H, W, 4) and returns copies
whose RGB pixels with mask < 0.5 (value <= 127, the same threshold as everywhere else) are:
- `black`: 0;
- `mean`: the sample's own mean background colour (so the object keeps its usual contrast);
- `noise`: uniform noise in 0..255, seeded by the sample's bytes, so the same sample always gets
  the same noise whatever the worker, chunk or shard that made it.
The mask (channel 3) and every foreground pixel are kept exactly; `keep` returns the input.
"""

from __future__ import annotations

import hashlib

import numpy as np

BACKGROUNDS = ("keep", "black", "mean", "noise")
FG_THRESHOLD = 127  # mask > 127 is foreground


def replace_background(images: np.ndarray, mode: str) -> np.ndarray:
    """Copies of uint8 (N, H, W, 4) samples with the background replaced (see module doc)."""
    if mode not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, not {mode!r}")
    images = np.asarray(images)
    if mode == "keep":
        return images
    if images.ndim != 4 or images.shape[-1] != 4 or images.dtype != np.uint8:
        raise ValueError(f"a background needs uint8 4-channel samples, got {images.shape}")
    out = images.copy()
    for sample in out:  # one sample at a time: no (N, H, W, 3) float temporaries
        bg = sample[..., 3] <= FG_THRESHOLD
        if not bg.any():
            continue
        rgb = sample[..., :3]
        if mode == "black":
            rgb[bg] = 0
        elif mode == "mean":
            rgb[bg] = np.round(rgb[bg].mean(axis=0)).astype(np.uint8)
        else:
            seed = int.from_bytes(
                hashlib.blake2b(sample.tobytes(), digest_size=8).digest(), "little"
            )
            noise = np.random.default_rng(seed).integers(0, 256, rgb.shape, dtype=np.uint8)
            rgb[bg] = noise[bg]
    return out
