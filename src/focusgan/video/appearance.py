"""A per-shot colour model of object and background, fitted to the votes' own confident pixels.

Motion votes are blurred where the object's motion leaks to what moves with it (a cast shadow,
splashes) or to the region the flow smears around it; they also miss parts of the object that
move little. Colour separates both cases when the object and the background differ in colour:
two smoothed histograms over the shot's pixels in Lab, one weighted by the foreground
probability and one by the background's, give P(object | colour) = h_fg / (h_fg + h_bg) (a
histogram-ratio classifier, as in GrabCut's initialisation or colour-based trackers), and the
final probability is the geometric mean of the motion probability and that colour posterior,
so a pixel needs both to be confidently foreground. Weights are soft (probability - 0.5 above or
below 0.5), so the model is fitted without any fixed threshold on the votes.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter


def colour_codes(frames: np.ndarray, bins: int) -> np.ndarray:
    """Quantised Lab colour index (T, H, W) int32 in 0 .. bins^3 - 1 for RGB uint8 frames."""
    t, h, w, _ = frames.shape
    lab = cv2.cvtColor(frames.reshape(t * h, w, 3), cv2.COLOR_RGB2LAB).reshape(t, h, w, 3)
    q = (lab.astype(np.int32) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def colour_posterior(
    frames: np.ndarray, prob: np.ndarray, bins: int = 16, smooth: float = 1.0
) -> np.ndarray:
    """P(object | colour) per pixel (T, H, W) float32 from a shot's frames (T, H, W, 3) uint8 and
    motion probabilities `prob` (T, H, W) in [0, 1]; histograms smoothed by a Gaussian of
    `smooth` bins."""
    codes = colour_codes(frames, bins).ravel()
    p = prob.ravel().astype(np.float64)
    fg = np.bincount(codes, np.clip(p - 0.5, 0, None), bins**3)
    bg = np.bincount(codes, np.clip(0.5 - p, 0, None), bins**3)
    if fg.sum() <= 0 or bg.sum() <= 0:
        return np.full(prob.shape, 0.5, np.float32)
    hists = []
    for hist in (fg / fg.sum(), bg / bg.sum()):
        cube = hist.reshape(bins, bins, bins).astype(np.float32)
        if smooth > 0:
            cube = gaussian_filter(cube, smooth, mode="constant")
        hists.append(cube.ravel())
    post = hists[0] / (hists[0] + hists[1] + 1e-9)
    return post[codes].reshape(prob.shape).astype(np.float32)


def with_colour(frames: np.ndarray, prob: np.ndarray, weight: float = 0.5, **kwargs) -> np.ndarray:
    """Weighted geometric mean prob^(1 - weight) x posterior^weight (0.5: the plain one)."""
    post = colour_posterior(frames, prob, **kwargs)
    return (prob ** (1 - weight) * post**weight).astype(np.float32)
