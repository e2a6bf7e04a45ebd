"""Shot boundaries with PySceneDetect's content detector, on a stream of frames.

`ShotSplitter` feeds each frame (shrunk to `detect_side` for speed) to
`scenedetect.ContentDetector` and groups the frames into shots; `iter_shots` yields each shot's
frames as soon as the next cut (or the end of the video) is seen, so only one shot is held in
memory (and a shot longer than `max_len` frames is cut there). `detect_cuts` does the same on an
array and returns the cut positions: the index of the first frame of each new shot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from scenedetect import ContentDetector
from scenedetect.scene_detector import FlashFilter

from focusgan.video.io import Frame, resize_max_side


class ShotSplitter:
    """Online shot-cut detection: `push(index, rgb)` returns the cuts found so far (frame
    indices where a new shot starts)."""

    def __init__(self, threshold: float = 27.0, min_len: int = 8, detect_side: int = 256) -> None:
        self.detector = ContentDetector(
            threshold=threshold, min_scene_len=min_len, filter_mode=FlashFilter.Mode.SUPPRESS
        )
        self.detect_side = detect_side

    def push(self, index: int, rgb: np.ndarray) -> list[int]:
        bgr = cv2.cvtColor(resize_max_side(rgb, self.detect_side), cv2.COLOR_RGB2BGR)
        return [int(c) for c in self.detector.process_frame(index, bgr) if int(c) > 0]


def iter_shots(
    frames: Iterable[Frame],
    threshold: float = 27.0,
    min_len: int = 8,
    max_len: int = 3000,
) -> Iterator[list[Frame]]:
    """Group a stream of frames into shots (lists of consecutive frames)."""
    splitter = ShotSplitter(threshold, min_len)
    shot: list[Frame] = []
    for frame in frames:
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


def detect_cuts(frames: np.ndarray, threshold: float = 27.0, min_len: int = 8) -> list[int]:
    """Cut positions (first frame of each new shot) in RGB frames (T, H, W, 3)."""
    splitter = ShotSplitter(threshold, min_len)
    cuts: list[int] = []
    for i, f in enumerate(frames):
        cuts += splitter.push(i, f)
    return sorted(set(cuts))
