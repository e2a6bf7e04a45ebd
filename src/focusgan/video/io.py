"""Reading videos (any file OpenCV decodes) and folders of frames, one RGB frame at a time.

A video is either a file or a directory of image files (sorted by name, e.g. DAVIS's
`00000.jpg ...`). Frames come out as RGB uint8 arrays with a name: the file stem for a folder of
frames, the zero-padded frame index for a video file. Problems with the input raise `BadVideo`,
whose `reason` is a short label that `prepare video` counts in its filter summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from focusgan.errors import UserError

FRAME_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


class BadVideo(UserError):
    """A video that cannot be used; `reason` is the short label counted by `prepare video`."""

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = "") -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}{': ' + detail if detail else ''}")


@dataclass
class Frame:
    index: int  # position in the video (0-based)
    name: str  # file stem for a folder of frames, else the zero-padded index
    rgb: np.ndarray  # (H, W, 3) uint8


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a folder of frames, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_EXTS)


def find_videos(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand inputs into videos: files stay, a folder of frames is one video, other folders are
    searched recursively for video files and folders of frames (skipping `*.masks` folders, where
    `synthetic.write_videos` puts the true masks)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise UserError(f"no such file or folder: {p}")
        if p.is_file():
            out.append(p)
        elif frame_files(p):
            out.append(p)
        else:
            children = sorted(p.iterdir())
            out += find_videos(
                [
                    c
                    for c in children
                    if (c.is_dir() and c.suffix != ".masks") or c.suffix.lower() in VIDEO_EXTS
                ]
            )
    return out


def resize_max_side(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink (area interpolation) so the longer side is at most `max_side`; never enlarges."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def iter_frames(
    path: str | os.PathLike, max_side: int | None = None, step: int = 1, start: int = 0
) -> Iterator[Frame]:
    """Yield every `step`-th frame of a video file or folder of frames, shrunk to `max_side`,
    from frame `start` on (a video file is sought there: OpenCV's FFmpeg backend decodes from
    the keyframe before it; where the position it reports is not `start`, the file is decoded
    from its first frame instead and the frames before `start` are dropped).

    Raises `BadVideo` for an unreadable input, one without frames, an unreadable frame file, or a
    video file that ends much earlier than its header says (truncated).
    """
    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise BadVideo(path, "no frames", "the folder has no image files")
        for i, f in enumerate(files[::step]):
            if i * step < start:
                continue
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise BadVideo(path, "unreadable frame", f.name)
            yield Frame(i * step, f.stem, resize_max_side(bgr[..., ::-1], max_side))
        return
    if not path.is_file():
        raise BadVideo(path, "missing video")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadVideo(path, "unreadable video", "OpenCV cannot open it")
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        n = 0
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
                n = start
            else:  # not where asked: from the first frame
                cap.release()
                cap = cv2.VideoCapture(str(path))
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            if n % step == 0 and n >= start:
                yield Frame(n, f"{n:05d}", resize_max_side(bgr[..., ::-1], max_side))
            n += 1
        if n == 0:
            raise BadVideo(path, "unreadable video", "no frame could be decoded")
        if expected > 0 and n < expected - max(2, int(0.05 * expected)):
            raise BadVideo(path, "truncated video", f"decoded {n} of {expected} frames")
    finally:
        cap.release()


def read_frames(
    path: str | os.PathLike, max_side: int | None = None, step: int = 1
) -> tuple[np.ndarray, list[str]]:
    """All frames at once: (T, H, W, 3) uint8 RGB and their names."""
    frames = list(iter_frames(path, max_side, step))
    shapes = {f.rgb.shape for f in frames}
    if len(shapes) > 1:
        raise BadVideo(path, "frames differ in size", ", ".join(map(str, sorted(shapes)[:3])))
    return np.stack([f.rgb for f in frames]), [f.name for f in frames]


def video_fps(path: str | os.PathLike, default: float = 25.0) -> float:
    """Frames per second from a video file's header; `default` for folders or unknown rates."""
    path = Path(path)
    if path.is_dir():
        return default
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) if cap.isOpened() else 0.0
    cap.release()
    return fps if 1 <= fps <= 1000 else default


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB frames (T, H, W, 3) uint8 as an MP4 (`mp4v`) or AVI (`MJPG`) file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    if not writer.isOpened():
        raise UserError(f"OpenCV cannot write video {path}; use a .mp4 or .avi name")
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
    finally:
        writer.release()
    return path
