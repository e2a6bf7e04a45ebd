"""Did the focus channel learn objects? Segment real images with a net trained on generated pairs.

The measure used by the literature on generators that output masks (ReDO, PerturbGAN, GANSeg,
DRC, ILSGAN): a small segmenter is trained only on N generated (RGB, mask) pairs and tested on
held-out real images of the training data against their true masks (IoU of the parts above 0.5,
mean over images). Two references make the number readable:
- ceiling: the same segmenter, same settings and seed, trained on N real pairs of the training
  data (never the held-out ones). A generator whose pairs teach as much as real data scores it.
- floor: the same segmenter trained on N pairs of the step-0 generator (the exact weights
  training started from). Masks that carry no object information score about here.
The held-out real pairs are the consistency segmenter's (`consistency.split_pairs`), so the same
images are never used to train and to test.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from focusgan.data.dataset import open_h5, read_info
from focusgan.errors import UserError
from focusgan.metrics.cache import read_rows
from focusgan.metrics.consistency import (
    SmallUNet,
    fit,
    mask_iou,
    predict,
    split_pairs,
)
from focusgan.metrics.options import SegmenterConfig
from focusgan.utils.device import to_device

FG_THRESHOLD = 127  # mask > 127 is foreground, as everywhere else


@dataclass
class GeneratedPairs:
    """Mean held-out IoU of segmenters trained on generated, real and step-0 pairs."""

    iou: float  # trained on the generator's pairs
    ceiling_iou: float  # trained on as many real pairs
    floor_iou: float | None  # trained on the step-0 generator's pairs (None: not given)
    n: int  # pairs each segmenter was trained on
    n_heldout: int  # real pairs tested on
    segmenter: dict[str, Any]  # its settings (seed included)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scores(self) -> dict[str, float | None]:
        """What evaluation.json keeps under the focus measures (`generated_pairs`)."""
        return {"iou": self.iou, "ceiling_iou": self.ceiling_iou, "floor_iou": self.floor_iou}

    def provenance(self) -> dict[str, Any]:
        """How it was computed: N, the held-out pairs, the segmenter's settings and seed."""
        return {
            "n": self.n,
            "n_heldout": self.n_heldout,
            "seed": self.segmenter["seed"],
            "segmenter": self.segmenter,
            "test": "held-out real pairs of the training data (the consistency segmenter's)",
        }


def _train_and_test(
    pairs: np.ndarray, held: np.ndarray, cfg: SegmenterConfig, progress: bool
) -> float:
    """Train a fresh segmenter (seeded) on uint8 RGBA pairs, return mean IoU on `held`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = to_device(SmallUNet(cfg.width), "cpu")
    fit(model, pairs, cfg, progress)
    pred = predict(model, held[..., :3])
    return float(mask_iou(pred, held[..., 3] > FG_THRESHOLD).mean())


def _check(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] != 4:
        raise UserError(f"{what}: expected uint8 4-channel images (N, H, W, 4), got {images.shape}")
    return images


def generated_pairs(
    generated: np.ndarray,
    data_path: str | os.PathLike,
    initial: np.ndarray | None = None,
    cfg: SegmenterConfig | None = None,
    progress: bool = False,
) -> GeneratedPairs:
    """The generated-pairs measure of uint8 4-channel samples against a 4-channel dataset.

    N = min(len(generated), real training pairs available); `initial` (samples of the step-0
    generator) gives the floor.
    """
    cfg = cfg or SegmenterConfig()
    generated = _check(generated, "generated samples")
    info = read_info(data_path)
    if info.channels != 4:
        raise UserError(f"{data_path} has no focus channel: the generated-pairs measure needs one")
    train_idx, held_idx = split_pairs(info.size, cfg)
    if len(train_idx) < 2 or len(held_idx) < 1:
        raise UserError(f"{data_path} has {info.size} samples; the measure needs at least 20")
    n = min(len(generated), len(train_idx))
    real_idx = np.sort(np.random.default_rng(cfg.seed).choice(train_idx, n, replace=False))
    with open_h5(data_path) as f:
        real = read_rows(f["images"], real_idx)
        held = read_rows(f["images"], held_idx)
    floor = None
    if initial is not None:
        floor = _train_and_test(_check(initial, "step-0 samples")[:n], held, cfg, progress)
    return GeneratedPairs(
        iou=_train_and_test(generated[:n], held, cfg, progress),
        ceiling_iou=_train_and_test(real, held, cfg, progress),
        floor_iou=floor,
        n=n,
        n_heldout=len(held_idx),
        segmenter=asdict(cfg),
    )
