"""SLIC superpixels (Achanta et al., TPAMI 2012) through scikit-image.

Why scikit-image: measured on this project's 2-core machine at 256x144 (~300 segments),
`skimage.segmentation.slic` takes ~29 ms per frame with 4 iterations and releases the GIL, so two
threads halve that. OpenCV-contrib's `ximgproc` SLIC is about as fast (48 vs 70 ms at 320x180,
10 iterations) but its wheel `opencv-contrib-python-headless` replaces the project's
`opencv-python-headless` (same `cv2` module); `fast-slic` (2019) has no wheel for Python 3.11 and
fails to build. See benchmarks/RESULTS.md, "motion".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from skimage.segmentation import slic


def slic_labels(
    rgb: np.ndarray, n_segments: int = 300, compactness: float = 10.0, iterations: int = 4
) -> np.ndarray:
    """SLIC labels (H, W) int32, 0-based and consecutive, for one RGB uint8 frame."""
    labels = slic(
        rgb,
        n_segments=n_segments,
        compactness=compactness,
        max_num_iter=iterations,
        start_label=0,
        convert2lab=True,
        enforce_connectivity=True,
    )
    _, labels = np.unique(labels, return_inverse=True)  # consecutive, whatever slic returned
    return labels.reshape(rgb.shape[:2]).astype(np.int32)


def slic_sequence(frames: np.ndarray, threads: int = 2, **kwargs) -> list[np.ndarray]:
    """`slic_labels` for every frame of (T, H, W, 3), on `threads` threads."""
    if threads <= 1:
        return [slic_labels(f, **kwargs) for f in frames]
    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(lambda f: slic_labels(f, **kwargs), frames))
