"""Dense optical flow between two grey frames: OpenCV DIS (default) or Farnebäck, on the CPU.

DIS (Kroeger et al., ECCV 2016) at the `fast` preset takes about 1 ms for a 256x144 pair on one
core, so flow is a small part of the segmenter's time. One DIS object is kept per thread.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

METHODS = ("dis-ultrafast", "dis-fast", "dis-medium", "farneback")
_PRESETS = {
    "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_local = threading.local()


def optical_flow(a: np.ndarray, b: np.ndarray, method: str = "dis-fast") -> np.ndarray:
    """Flow from grey uint8 frame `a` to `b`: (H, W, 2) float32 (dx, dy) in pixels."""
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(
            a, b, None, 0.5, 4, 10, 5, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN
        )
    if method not in _PRESETS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {METHODS}")
    cache = getattr(_local, "dis", None)
    if cache is None:
        cache = _local.dis = {}
    if method not in cache:
        cache[method] = cv2.DISOpticalFlow_create(_PRESETS[method])
    return cache[method].calc(a, b, None)
