"""Measures of the focus channel of 4-channel samples, generated or real (DESIGN section 6).

All take uint8 masks (N, H, W) with 0..255 = probability 0..1 and return plain floats, so the
same numbers can be put side by side for generated samples and their training data:
- foreground fraction (pixels above 0.5) and the distance between its two distributions;
- binarity: how far mask values sit from 0.5 (1 = all 0 or 1, 0 = all 0.5);
- fragmentation: connected foreground components per sample (the thesis's "disconnected
  focus"), and the share of samples with more than one;
- border foreground: the share of the outer 5% band that is foreground, and the share of
  samples the thesis's frame filter would reject for it (more than 10%).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.stats import ks_2samp, wasserstein_distance

from focusgan.prepare.filters import THESIS_FRAME_FILTER, border_foreground_fraction

FG_THRESHOLD = 127  # mask > 127 is foreground, as the dataset writer's fg_fraction


def foreground_masks(masks: np.ndarray) -> np.ndarray:
    """Boolean foreground (N, H, W) of uint8 masks."""
    return np.asarray(masks) > FG_THRESHOLD


def component_counts(masks: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Number of connected foreground regions of each mask (N,)."""
    fg = foreground_masks(masks).astype(np.uint8)
    return np.array(
        [cv2.connectedComponents(m, connectivity=connectivity)[0] - 1 for m in fg], dtype=np.int64
    )


def mask_measures(masks: np.ndarray) -> dict[str, float]:
    """Summary measures of one set of masks (N, H, W) uint8."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.dtype != np.uint8 or len(masks) == 0:
        raise ValueError("expected uint8 masks (N, H, W), N > 0")
    prob = masks.astype(np.float32) / 255.0
    fg = foreground_masks(masks).mean(axis=(1, 2))
    comps = component_counts(masks)
    border = np.array([border_foreground_fraction(m, THESIS_FRAME_FILTER.border) for m in masks])
    return {
        "fg_fraction_mean": float(fg.mean()),
        "fg_fraction_std": float(fg.std()),
        "binarity": float(np.abs(prob - 0.5).mean() * 2),
        "uncertain_pixels": float(((prob > 0.1) & (prob < 0.9)).mean()),
        "components_mean": float(comps.mean()),
        "fragmented_samples": float((comps > 1).mean()),
        "empty_samples": float((comps == 0).mean()),
        "border_fg_mean": float(border.mean()),
        "border_rejected_samples": float((border > THESIS_FRAME_FILTER.max_border_fg).mean()),
    }


def fg_fraction_distance(gen_masks: np.ndarray, data_masks: np.ndarray) -> dict[str, float]:
    """Distances between the foreground-fraction distributions of two mask sets:
    1-D Wasserstein (earth mover's, in units of image fraction) and Kolmogorov-Smirnov."""
    g = foreground_masks(gen_masks).mean(axis=(1, 2))
    d = foreground_masks(data_masks).mean(axis=(1, 2))
    return {
        "fg_fraction_wasserstein": float(wasserstein_distance(g, d)),
        "fg_fraction_ks": float(ks_2samp(g, d).statistic),
    }


def focus_measures(gen_masks: np.ndarray, data_masks: np.ndarray) -> dict[str, dict[str, float]]:
    """Side by side measures of generated and real masks, plus the distances between them."""
    return {
        "generated": mask_measures(gen_masks),
        "data": mask_measures(data_masks),
        "distance": fg_fraction_distance(gen_masks, data_masks),
    }
