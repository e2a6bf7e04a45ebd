"""Shot boundaries with PySceneDetect's adaptive content detector, on a stream of frames.

`ShotSplitter` feeds each frame (shrunk to `detect_side` for speed) to
`scenedetect.AdaptiveDetector`, which cuts where a frame's content change is `CUT_RATIO` times
the mean of its neighbours' (2 on each side) and at least `CUT_THRESHOLD`, and groups the frames
into shots. The plain `ContentDetector` (a fixed threshold of 27) cut a fast camera pan every 8
frames (DAVIS drift-straight: 4 false cuts in 50 frames; 9 false cuts in 20 generated videos,
none with the adaptive detector, which also missed fewer true cuts: benchmarks/RESULTS.md).
`iter_shots` yields each shot's frames as soon as the next cut (or the end of the video) is
seen, so only one shot is held in memory (and a shot longer than `max_len` frames is cut
there). A frame whose size differs from the previous frame's starts a new shot (PySceneDetect
asserts that every frame it sees has the first frame's size; a folder of frames of mixed sizes
would otherwise end in its AssertionError). `detect_cuts` does the same on an array and returns the cut positions: the index of the
first frame of each new shot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from focusgan.video.io import Frame, resize_max_side

CUT_RATIO = 3.0  # a cut: the content change is this many times its neighbours' mean ...
CUT_THRESHOLD = 15.0  # ... and at least this (PySceneDetect's content score, 0-255)
MIN_SHOT = 8  # frames before another cut can be found


class ShotSplitter:
    """Online shot-cut detection: `push(index, rgb)` returns the cuts found so far (frame
    indices where a new shot starts)."""

    def __init__(
        self,
        threshold: float = CUT_THRESHOLD,
        ratio: float = CUT_RATIO,
        min_len: int = MIN_SHOT,
        detect_side: int = 256,
    ) -> None:
        from scenedetect import AdaptiveDetector  # 0.5 s to import: not when options are read

        self.detector = AdaptiveDetector(
            adaptive_threshold=ratio, min_scene_len=min_len, min_content_val=threshold
        )
        self.detect_side = detect_side

    def push(self, index: int, rgb: np.ndarray) -> list[int]:
        bgr = cv2.cvtColor(resize_max_side(rgb, self.detect_side), cv2.COLOR_RGB2BGR)
        return [int(c) for c in self.detector.process_frame(index, bgr) if int(c) > 0]


def iter_shots(
    frames: Iterable[Frame],
    threshold: float = CUT_THRESHOLD,
    ratio: float = CUT_RATIO,
    min_len: int = MIN_SHOT,
    max_len: int = 3000,
) -> Iterator[list[Frame]]:
    """Group a stream of frames into shots (lists of consecutive frames)."""
    splitter = ShotSplitter(threshold, ratio, min_len)
    shot: list[Frame] = []
    shape = None
    for frame in frames:
        if shape is not None and frame.rgb.shape != shape:  # a size change is a cut
            if shot:
                yield shot
            shot = []
            splitter = ShotSplitter(threshold, ratio, min_len)
        shape = frame.rgb.shape
        for cut in splitter.push(frame.index, frame.rgb):
            head = [f for f in shot if f.index < cut]
            if head:
                yield head
            shot = [f for f in shot if f.index >= cut]
        shot.append(frame)
        if len(shot) >= max_len:
            yield shot
            shot = []
    if shot:
        yield shot


def detect_cuts(
    frames: np.ndarray,
    threshold: float = CUT_THRESHOLD,
    ratio: float = CUT_RATIO,
    min_len: int = MIN_SHOT,
) -> list[int]:
    """Cut positions (first frame of each new shot) in RGB frames (T, H, W, 3)."""
    splitter = ShotSplitter(threshold, ratio, min_len)
    cuts: list[int] = []
    for i, f in enumerate(frames):
        cuts += splitter.push(i, f)
    return sorted(set(cuts))
