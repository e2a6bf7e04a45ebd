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

Colour counts as much as it separates: the exponent of the colour posterior is at most
`weight` (0.5 = as much as motion) and at most 1 - the Bhattacharyya coefficient of the two
fitted colour distributions (0 when they are disjoint, 1 when they are the same). Where the
object shares its colours with the background (a silver car before a pale facade: overlap 0.91)
colour has little to say and motion decides; where they differ (a black swan on green water:
0.65) colour weighs almost as much as motion (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter


def colour_codes(frames: np.ndarray, bins: int) -> np.ndarray:
    """Quantised Lab colour index (T, H, W) int32 in 0 .. bins^3 - 1 for RGB uint8 frames."""
    t, h, w, _ = frames.shape
    lab = cv2.cvtColor(frames.reshape(t * h, w, 3), cv2.COLOR_RGB2LAB).reshape(t, h, w, 3)
    q = (lab.astype(np.int32) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


@dataclass
class ColourModel:
    posterior: np.ndarray  # P(object | colour) per pixel, (T, H, W) float32
    overlap: float  # Bhattacharyya coefficient of the object's and background's colour
    # distributions: 0 = disjoint, 1 = the same (or one side has no confident pixels)


def fit_colour_model(
    frames: np.ndarray, prob: np.ndarray, bins: int = 16, smooth: float = 1.0
) -> ColourModel:
    """The colour model of a shot's frames (T, H, W, 3) uint8 given motion probabilities `prob`
    (T, H, W) in [0, 1]; histograms smoothed by a Gaussian of `smooth` bins."""
    codes = colour_codes(frames, bins).ravel()
    p = prob.ravel().astype(np.float64)
    fg = np.bincount(codes, np.clip(p - 0.5, 0, None), bins**3)
    bg = np.bincount(codes, np.clip(0.5 - p, 0, None), bins**3)
    if fg.sum() <= 0 or bg.sum() <= 0:
        return ColourModel(np.full(prob.shape, 0.5, np.float32), 1.0)
    hists = []
    for hist in (fg / fg.sum(), bg / bg.sum()):
        cube = hist.reshape(bins, bins, bins).astype(np.float32)
        if smooth > 0:
            cube = gaussian_filter(cube, smooth, mode="constant")
        hists.append(cube.ravel())
    post = hists[0] / (hists[0] + hists[1] + 1e-9)
    f, b = hists
    overlap = float(np.sqrt(f * b).sum() / np.sqrt(f.sum() * b.sum()))
    return ColourModel(post[codes].reshape(prob.shape).astype(np.float32), min(1.0, overlap))


def with_colour(
    frames: np.ndarray,
    prob: np.ndarray,
    weight: float = 0.5,
    adaptive: bool = True,
    fit_to: np.ndarray | None = None,
    **kwargs,
) -> tuple[np.ndarray, float]:
    """prob^(1 - w) x posterior^w and the weight w used: `weight`, lowered to 1 - the colour
    distributions' overlap when `adaptive` (0.5 and no adaptation: the plain geometric mean).
    The colour model is fitted to `fit_to` (default `prob`): a previous combined result when
    the model is re-estimated (GrabCut-like iterations)."""
    model = fit_colour_model(frames, prob if fit_to is None else fit_to, **kwargs)
    w = min(weight, 1.0 - model.overlap) if adaptive else weight
    return (prob ** (1 - w) * model.posterior**w).astype(np.float32), float(w)
