"""Foreground-only samples: replace the pixels outside the focus mask (the thesis's future work 3).

`replace_background(images, mode)` takes uint8 4-channel samples (N, H, W, 4) and returns copies
whose RGB pixels with mask < 0.5 (value <= 127, the same threshold as everywhere else) are:
- `black`: 0;
- `mean`: the sample's own mean background colour (so the object keeps its usual contrast);
- `noise`: uniform noise in 0..255, seeded by the sample's bytes, so the same sample always gets
  the same noise whatever the worker, chunk or shard that made it.
The mask (channel 3) and every foreground pixel are kept exactly; `keep` returns the input.
`prepare ... --background MODE` applies it as samples are written; `write_foreground_only`
makes the variant of an existing file (what an experiment's foreground-only variant uses).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from focusgan.errors import UserError

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


def write_foreground_only(
    src: str | os.PathLike, out: str | os.PathLike, mode: str, batch: int = 4096
) -> Path:
    """A copy of the 4-channel dataset file `src` with its backgrounds replaced (`mode`):
    the same samples, metadata and filter summary; `extra` records the choice and the source.
    Written under a temporary name and renamed when complete, as every dataset file."""
    from focusgan.data.dataset import METADATA, TEXT, DatasetWriter, open_h5, read_info

    info = read_info(src)
    if info.channels != 4:
        raise UserError(f"{src} has no focus channel: a foreground-only variant needs the mask")
    if mode not in BACKGROUNDS or mode == "keep":
        raise UserError(f"background must be one of {', '.join(BACKGROUNDS[1:])}, not {mode!r}")
    extra = {**info.extra, "background": mode, "background_of": str(src)}
    with (
        DatasetWriter(
            out,
            resolution=info.resolution,
            channels=4,
            mask_semantics=info.mask_semantics,
            summary=info.filter_summary,
            extra=extra,
        ) as w,
        open_h5(src) as f,
    ):
        for start in range(0, info.size, batch):
            end = min(start + batch, info.size)
            meta = {
                name: (f[name].asstr() if name in TEXT else f[name])[start:end]
                for name in METADATA
                if name in f
            }
            w.append(replace_background(f["images"][start:end], mode), **meta)
    return Path(out)
