"""`focusgan segment`: one video's soft motion masks as 8-bit PNGs, and an overlay video."""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from focusgan.errors import UserError
from focusgan.utils.atomic import atomic_path
from focusgan.video.segment import CHUNK, SegmentParams


def overlay(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame with the background darkened and the foreground tinted, plus the 0.5 contour."""
    m = mask.astype(np.float32)[..., None]
    tint = np.array([255, 64, 64], np.float32)
    out = rgb * (0.35 + 0.65 * m) * (1 - 0.3 * m) + tint * 0.3 * m
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        (mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def write_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise UserError(f"cannot encode {path}")
        tmp.write_bytes(data.tobytes())


def segment_video(
    video: Path,
    out: Path,
    params: SegmentParams,
    *,
    chunk: int = CHUNK,
    overlay_video: bool = True,
    progress: bool = True,
) -> str:
    """Write one mask PNG per frame of `video` (a file or a folder of frames) into `out`, and
    `overlay.mp4` unless `overlay_video` is False; returns a line saying what was written."""
    from tqdm import tqdm

    from focusgan.video.io import iter_frames, video_fps
    from focusgan.video.segment import segment_stream

    if not video.exists():
        raise UserError(f"no such video or folder: {video}")
    if chunk < 2:
        raise UserError(f"--chunk must be >= 2 (frames segmented together), got {chunk}")
    out.mkdir(parents=True, exist_ok=True)
    fps = video_fps(video)
    overlay_path = out / "overlay.mp4"
    tmp_overlay = overlay_path.with_name("overlay.partial.mp4")
    n = unsegmented = 0
    start = time.perf_counter()
    # Masks arrive a piece at a time; they are written on two threads of their own (the PNGs on
    # one, the overlay video, in order, on the other; OpenCV releases the GIL) while the
    # segmenter goes on with the next piece.
    writer: cv2.VideoWriter | None = None  # made on the overlay thread at the first frame
    pngs, overlays = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    pending: deque = deque()  # write jobs in submission order

    def add_to_overlay(rgb: np.ndarray, mask: np.ndarray) -> None:
        nonlocal writer
        if writer is None:
            h, w = rgb.shape[:2]
            writer = cv2.VideoWriter(str(tmp_overlay), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(cv2.cvtColor(overlay(rgb, mask), cv2.COLOR_RGB2BGR))

    try:
        stream = segment_stream(iter_frames(video), params, chunk=chunk)
        for frame, mask, _ in tqdm(stream, desc="segment", unit="frame", disable=not progress):
            if mask is None:
                mask = np.zeros(frame.rgb.shape[:2], np.float32)
                unsegmented += 1
            png = (mask * 255).round().astype(np.uint8)
            pending.append(pngs.submit(write_png, out / f"{frame.name}.png", png))
            if overlay_video:
                pending.append(overlays.submit(add_to_overlay, frame.rgb, mask))
            n += 1
            # a failed write stops the command now; at most two pieces' frames wait to be written
            # (two jobs a frame), beside the two the segmenter holds (`shots.iter_pieces`)
            while pending and (pending[0].done() or len(pending) > 4 * chunk):
                pending.popleft().result()
        for job in pending:
            job.result()
    except BaseException:
        for pool in (pngs, overlays):
            pool.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.release()
        tmp_overlay.unlink(missing_ok=True)
        raise
    pngs.shutdown()
    overlays.shutdown()
    if writer is not None:
        writer.release()
        tmp_overlay.replace(overlay_path)
    elapsed = time.perf_counter() - start
    note = f" ({unsegmented} single-frame shots left empty)" if unsegmented else ""
    return (
        f"wrote {n} masks to {out}{note}"
        + (f" and {overlay_path.name}" if overlay_video else "")
        + f" in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} frames/s)"
    )
