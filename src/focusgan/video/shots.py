"""Shot boundaries with PySceneDetect's adaptive content detector, on a stream of frames, and
the pieces shots are segmented in.

`ShotSplitter` feeds each frame (shrunk to `detect_side` for speed) to
`scenedetect.AdaptiveDetector`, which cuts where a frame's content change is `CUT_RATIO` times
the mean of its neighbours' (2 on each side) and at least `CUT_THRESHOLD`. The plain
`ContentDetector` (a fixed threshold of 27) cut a fast camera pan every 8 frames (DAVIS
drift-straight: 4 false cuts in 50 frames; 9 false cuts in 20 generated videos, none with the
adaptive detector, which also missed fewer true cuts: benchmarks/RESULTS.md). A frame whose size
differs from the previous frame's starts a new shot (PySceneDetect asserts that every frame it
sees has the first frame's size; a folder of frames of mixed sizes would otherwise end in its
AssertionError).

A shot is segmented in consecutive pieces of at most `chunk` frames (`shot_pieces`): while more
than 2 x `chunk` of its frames remain, the next piece is exactly `chunk` frames; the last
2 x `chunk` or fewer are cut into pieces of near-equal length (`split_evenly`). The rule needs
only a lower bound on the shot's length until its end is near, so `iter_pieces` yields each piece
as soon as it is decided and holds at most 2 x `chunk` + `LAG` + 1 frames, however long the shot
(a 100-s shot of 1080p frames would otherwise be 18.6 GB); `shot_spans` gives the shots alone,
holding no frame. `detect_cuts` returns the cut positions in an array of frames: the index of the
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
WINDOW = 2  # AdaptiveDetector's neighbours on each side of a frame (its window_width)
LAG = WINDOW  # frames a cut is reported late: AdaptiveDetector (scenedetect 0.6) decides about
# frame i when frame i + WINDOW arrives (its score against both sides' means) and returns i then
# (its `event_buffer_length`); min_scene_len only drops cuts, it never delays one. So after frame
# k, every cut at or before k - LAG is known (tests/test_video.py checks it on the installed one).


class ShotSplitter:
    """Online shot-cut detection: `push(index, rgb)` returns the cuts found so far (frame
    indices where a new shot starts): at most `LAG` frames late, or at once for a frame whose
    size differs from the previous frame's."""

    def __init__(
        self,
        threshold: float = CUT_THRESHOLD,
        ratio: float = CUT_RATIO,
        min_len: int = MIN_SHOT,
        detect_side: int = 256,
    ) -> None:
        self.settings = dict(
            adaptive_threshold=ratio, min_scene_len=min_len, min_content_val=threshold,
            window_width=WINDOW,
        )  # fmt: skip
        self.detect_side = detect_side
        self.shape: tuple | None = None
        self.detector = None

    def push(self, index: int, rgb: np.ndarray) -> list[int]:
        cuts = []
        if rgb.shape != self.shape:  # the first frame, or a size change: a cut, a new detector
            from scenedetect import AdaptiveDetector  # 0.5 s to import: not when options are read

            cuts = [index] if self.shape is not None else []
            self.detector = AdaptiveDetector(**self.settings)
            self.shape = rgb.shape
        bgr = cv2.cvtColor(resize_max_side(rgb, self.detect_side), cv2.COLOR_RGB2BGR)
        return cuts + [int(c) for c in self.detector.process_frame(index, bgr) if int(c) > 0]


def split_evenly(n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, end) ranges covering 0..n in pieces of at most `chunk`, of near-equal length."""
    pieces = max(1, -(-n // max(1, chunk)))
    bounds = np.linspace(0, n, pieces + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=False) if b > a]


def shot_pieces(n: int, chunk: int) -> list[tuple[int, int]]:
    """The pieces (start, end) a shot of `n` frames is segmented in: `chunk` frames while more
    than 2 x `chunk` remain, then the rest split evenly (for n <= 2 x `chunk`: `split_evenly`)."""
    a, out = 0, []
    while n - a > 2 * chunk:
        out.append((a, a + chunk))
        a += chunk
    return out + [(a + x, a + y) for x, y in split_evenly(n - a, chunk)]


def iter_pieces(
    frames: Iterable[Frame],
    chunk: int,
    threshold: float = CUT_THRESHOLD,
    ratio: float = CUT_RATIO,
    min_len: int = MIN_SHOT,
) -> Iterator[list[Frame]]:
    """The pieces of the shots of a stream of frames (`shot_pieces`), each as soon as it is
    decided: at most 2 x `chunk` + `LAG` + 1 frames are held at once."""
    splitter = ShotSplitter(threshold, ratio, min_len)
    shot: list[Frame] = []  # the current shot's frames not yet in a piece
    for frame in frames:
        for cut in splitter.push(frame.index, frame.rgb):
            head = sum(f.index < cut for f in shot)
            yield from (shot[a:b] for a, b in shot_pieces(head, chunk))
            shot = shot[head:]
        shot.append(frame)
        # no cut can still come before the last LAG frames: the shot holds len(shot) - LAG frames
        # or more, and while that is over 2 x chunk its next piece is its first `chunk` frames
        if len(shot) - LAG > 2 * chunk:
            yield shot[:chunk]
            shot = shot[chunk:]
    yield from (shot[a:b] for a, b in shot_pieces(len(shot), chunk))


def shot_spans(
    frames: Iterable[Frame],
    threshold: float = CUT_THRESHOLD,
    ratio: float = CUT_RATIO,
    min_len: int = MIN_SHOT,
) -> Iterator[tuple[int, int]]:
    """The shots of a stream of consecutively numbered frames as (first index, end index), each
    as soon as its end is known; no frame is held."""
    splitter = ShotSplitter(threshold, ratio, min_len)
    start = end = None
    for frame in frames:
        for cut in splitter.push(frame.index, frame.rgb):
            yield start, cut
            start = cut
        start = frame.index if start is None else start
        end = frame.index + 1
    if start is not None:
        yield start, end


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
