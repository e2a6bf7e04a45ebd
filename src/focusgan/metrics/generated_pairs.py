"""Did the focus channel learn objects? Segment real images with a net trained on generated pairs.

The measure used by the literature on generators that output masks (ReDO, PerturbGAN, GANSeg,
DRC, ILSGAN): a small segmenter is trained only on N generated (RGB, mask) pairs and tested on
held-out real images of the training data against their true masks (IoU of the parts above 0.5,
mean over images). Two references make the number readable:
- ceiling: the same segmenter, same settings and seed, trained on N real pairs of the training
  data (never the held-out ones). A generator whose pairs teach as much as real data scores it.
- floor: the same segmenter trained on N pairs of the step-0 generator (the exact weights
  training started from, sampled as the trained one: for `--bn running` both with recomputed
  running statistics). Only for a run: a samples file has no step-0 generator.
- trivial baselines, predictors without any image information: all foreground
  (`all_foreground_iou`), and the best constant mask (`mean_mask_iou`: the mean of the N real
  training masks the ceiling learns from, thresholded where it fits those masks best). Masks
  that carry no object information score about the best of the floor and these two.
The held-out real pairs are the consistency segmenter's (`consistency.split_pairs`, whole photos
and videos, fixed split seed), so no photo or video is used to train and to test. A dataset whose
background was replaced (a foreground-only variant's) gives its masks away (background = black):
such data gets no generated-pairs number (`foreground_only`).
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
    HELDOUT_RULE,
    SmallUNet,
    fit,
    heldout_split,
    mask_iou,
    predict,
)
from focusgan.metrics.options import SegmenterConfig
from focusgan.utils.device import to_device

FG_THRESHOLD = 127  # mask > 127 is foreground, as everywhere else


MEAN_MASK_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)  # tried for the mean mask
# The baselines without object information, as evaluation.json names them
BASELINES = {
    "floor_iou": "step-0 generator",
    "all_foreground_iou": "all foreground",
    "mean_mask_iou": "mean training mask",
}
FOREGROUND_ONLY_NOTE = (
    "no generated-pairs number: the data's background was replaced ({}), so its held-out "
    "masks are given away by the background and a generator without objects would score near "
    "the ceiling"
)


def foreground_only(extra: dict[str, Any]) -> str | None:
    """The background a dataset's `extra` says replaced its own (a foreground-only copy), or None."""
    mode = extra.get("background")
    return str(mode) if mode not in (None, "keep") else None


def trivial_baselines(train_fg: np.ndarray, held_fg: np.ndarray) -> dict[str, float]:
    """Mean held-out IoU of predictors that ignore the image, from boolean masks (N, H, W):
    all foreground (`all_foreground_iou`), and the best constant mask (`mean_mask_iou`): the
    `train_fg` masks' mean above the threshold of `MEAN_MASK_THRESHOLDS` (the lowest of the
    best) that scores the highest mean IoU on `train_fg` itself (`mean_mask_threshold`).
    An empty prediction of an empty target counts 1 (as `mask_iou`)."""
    mean = train_fg.mean(axis=0)
    fits = [
        mask_iou(np.broadcast_to(mean > t, train_fg.shape), train_fg).mean()
        for t in MEAN_MASK_THRESHOLDS
    ]
    t = float(MEAN_MASK_THRESHOLDS[int(np.argmax(fits))])
    ones = np.ones_like(held_fg)
    return {
        "all_foreground_iou": float(mask_iou(ones, held_fg).mean()),
        "mean_mask_iou": float(mask_iou(np.broadcast_to(mean > t, held_fg.shape), held_fg).mean()),
        "mean_mask_threshold": t,
    }


@dataclass
class GeneratedPairs:
    """Mean held-out IoU of segmenters trained on generated, real and step-0 pairs, and of
    trivial predictors on the same held-out pairs."""

    iou: float  # trained on the generator's pairs
    ceiling_iou: float  # trained on as many real pairs
    floor_iou: float | None  # trained on the step-0 generator's pairs (None: not given)
    all_foreground_iou: float  # predicting every pixel foreground
    mean_mask_iou: float  # predicting the best constant mask (`trivial_baselines`)
    mean_mask_threshold: float  # its threshold on the real training pairs' mean mask
    n: int  # pairs each segmenter was trained on
    n_heldout: int  # real pairs tested on
    n_heldout_groups: int  # photos / videos they come from
    segmenter: dict[str, Any]  # its settings (seed included)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scores(self) -> dict[str, float | None]:
        """What evaluation.json keeps under the focus measures (`generated_pairs`)."""
        return {
            "iou": self.iou,
            "ceiling_iou": self.ceiling_iou,
            **{k: getattr(self, k) for k in BASELINES},
        }

    def provenance(self) -> dict[str, Any]:
        """How it was computed: N, the held-out pairs, the segmenter's settings and seed."""
        return {
            "n": self.n,
            "n_heldout": self.n_heldout,
            "n_heldout_groups": self.n_heldout_groups,
            "mean_mask_threshold": self.mean_mask_threshold,
            "seed": self.segmenter["seed"],
            "segmenter": self.segmenter,
            "test": "held-out real pairs of the training data (the consistency segmenter's)",
            "heldout_rule": HELDOUT_RULE,
        }


def best_baseline(scores: dict[str, Any]) -> tuple[str, float] | None:
    """The highest of the floor and the trivial baselines in `scores` (name, IoU), or None."""
    found = [(BASELINES[k], scores[k]) for k in BASELINES if scores.get(k) is not None]
    return max(found, key=lambda kv: kv[1]) if found else None


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
    generator, sampled as `generated` was) gives the floor.
    """
    cfg = cfg or SegmenterConfig()
    generated = _check(generated, "generated samples")
    info = read_info(data_path)
    if info.channels != 4:
        raise UserError(f"{data_path} has no focus channel: the generated-pairs measure needs one")
    mode = foreground_only(info.extra)
    if mode:
        raise UserError(f"{data_path}: " + FOREGROUND_ONLY_NOTE.format(mode))
    train_idx, held_idx, groups = heldout_split(
        data_path, info.size, cfg, "the generated-pairs measure"
    )
    n = min(len(generated), len(train_idx))
    real_idx = np.sort(np.random.default_rng(cfg.seed).choice(train_idx, n, replace=False))
    with open_h5(data_path) as f:
        real = read_rows(f["images"], real_idx)
        held = read_rows(f["images"], held_idx)
    floor = None
    if initial is not None:
        floor = _train_and_test(_check(initial, "step-0 samples")[:n], held, cfg, progress)
    trivial = trivial_baselines(real[..., 3] > FG_THRESHOLD, held[..., 3] > FG_THRESHOLD)
    return GeneratedPairs(
        iou=_train_and_test(generated[:n], held, cfg, progress),
        ceiling_iou=_train_and_test(real, held, cfg, progress),
        floor_iou=floor,
        **trivial,
        n=n,
        n_heldout=len(held_idx),
        n_heldout_groups=len(np.unique(groups[held_idx])),
        segmenter=asdict(cfg),
    )
