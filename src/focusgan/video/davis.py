"""DAVIS-2016 measures and data layout: region similarity J and boundary F-measure.

Definitions follow the DAVIS benchmark (Perazzi et al., CVPR 2016):
- J: intersection over union of the binary masks; 1 when both are empty.
- F: boundary F-measure. Boundaries are the pixels where the mask changes towards the right,
  bottom or bottom-right neighbour (DAVIS's `seg2bmap` at the image's own size); a boundary pixel
  counts as matched when the other boundary lies within ceil(0.008 x image diagonal) pixels:
  the boundary is dilated with scikit-image's `disk(r)` (x^2 + y^2 <= r^2; 197 pixels at r = 8),
  exactly as the official `davis2017-evaluation` `f_measure` does (OpenCV's 17x17 ellipse has 213
  pixels and scored 0.2-0.7 points higher). F = 2PR / (P + R); both empty gives 1, one empty 0.
A sequence's score is the mean over its frames without the first and the last, as the DAVIS
evaluation does; `sequence_scores(..., all_frames=True)` keeps them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from focusgan.errors import UserError
from focusgan.video.io import frame_files


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """J for one frame: |pred & gt| / |pred | gt|, 1 when both are empty (boolean masks)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """DAVIS `seg2bmap` for a mask at its own size: True where a pixel differs from its right,
    bottom or bottom-right neighbour."""
    seg = np.asarray(mask, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def boundary_tolerance(shape: tuple[int, int], bound_th: float = 0.008) -> int:
    """Pixels of tolerance: ceil(bound_th x image diagonal) (DAVIS: 8 at 854x480)."""
    return int(math.ceil(bound_th * math.hypot(*shape[:2]))) if bound_th < 1 else int(bound_th)


def _disk(radius: int) -> np.ndarray:
    """The benchmark's structuring element: scikit-image `disk(radius)` as uint8."""
    from skimage.morphology import disk

    return disk(radius).astype(np.uint8)


def f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """F for one frame (DAVIS definition; see the module docstring)."""
    r = boundary_tolerance(gt.shape, bound_th)
    fg_b, gt_b = boundary_map(pred), boundary_map(gt)
    disk = _disk(r)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), disk).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), disk).astype(bool)
    n_fg, n_gt = np.count_nonzero(fg_b), np.count_nonzero(gt_b)
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    precision = np.count_nonzero(fg_b & gt_dil) / n_fg
    recall = np.count_nonzero(gt_b & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def sequence_scores(
    preds: np.ndarray, gts: np.ndarray, all_frames: bool = False
) -> dict[str, float]:
    """Mean J and F of a sequence (boolean masks (T, H, W)), without the first and last frames
    unless `all_frames` (or the sequence has fewer than 3 frames)."""
    if preds.shape != gts.shape:
        raise ValueError(f"predictions {preds.shape} and ground truth {gts.shape} differ")
    idx = range(len(gts)) if all_frames or len(gts) < 3 else range(1, len(gts) - 1)
    j = [iou(preds[i], gts[i]) for i in idx]
    f = [f_measure(preds[i], gts[i]) for i in idx]
    return {"J": float(np.mean(j)), "F": float(np.mean(f)), "frames": len(j)}


def davis_sequences(root: str | os.PathLike, resolution: str = "480p") -> list[str]:
    """Sequence names under a DAVIS root (`JPEGImages/480p/<seq>` with `Annotations/480p/<seq>`)."""
    root = Path(root)
    images = root / "JPEGImages" / resolution
    if not images.is_dir():
        raise UserError(
            f"{root} is not a DAVIS folder: {images} is missing "
            "(expected JPEGImages/480p/<sequence>/ and Annotations/480p/<sequence>/)"
        )
    return sorted(
        p.name
        for p in images.iterdir()
        if p.is_dir() and (root / "Annotations" / resolution / p.name).is_dir()
    )


def davis_paths(
    root: str | os.PathLike, sequence: str, resolution: str = "480p"
) -> tuple[Path, Path]:
    """The frame folder and annotation folder of one DAVIS sequence."""
    root = Path(root)
    frames = root / "JPEGImages" / resolution / sequence
    annotations = root / "Annotations" / resolution / sequence
    if not frames.is_dir() or not annotations.is_dir():
        raise UserError(f"DAVIS sequence {sequence!r} not found under {root}")
    return frames, annotations


def read_annotations(folder: str | os.PathLike) -> np.ndarray:
    """DAVIS annotation PNGs as boolean masks (T, H, W): non-zero = foreground."""
    files = frame_files(folder)
    masks = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    if not masks or any(m is None for m in masks):
        raise UserError(f"cannot read the annotation PNGs in {folder}")
    return np.stack(masks) > 0
